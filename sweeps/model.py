"""A validated sweep, as data: the circuit, the simulation, the grid of points, metrics and traces.

``synsweep.sweeps.spec.load_spec`` turns a YAML file or a dict into a ``SweepSpec``; everything
downstream (chunking, the store, the dask runner, the CLI) reads only these objects.

The grid: each ``Dim`` is one dimension of the result dataset. A plain axis is a dim of its own; a zip
group is one dim along which several axes vary together. The points are the cartesian product of the
dims, in C order (the last dim varies fastest); a point's flat index is its C-order index in ``shape``.
An axis writes ``factor * value`` to each of its target paths, so ``{inputs.n1: 1.0, inputs.n2: 0.8}``
drives neuron 2 at 0.8 times neuron 1's current.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from math import prod

import numpy as np

from synsweep.engine import Circuit, Simulation


@dataclass(frozen=True)
class Axis:
    """One swept quantity: its coordinate values and the paths it writes (path -> factor)."""

    name: str
    values: np.ndarray  # float64, one per index along its dim
    targets: dict[str, float]
    units: str
    long_name: str
    kind: str  # 'values', 'linspace', 'logspace' or 'random'

    def __eq__(self, other: object) -> bool:
        """Equal fields, with ``values`` compared element-wise (the generated __eq__ cannot compare arrays)."""
        if not isinstance(other, Axis):
            return NotImplemented
        return ((self.name, self.targets, self.units, self.long_name, self.kind)
                == (other.name, other.targets, other.units, other.long_name, other.kind)
                and np.array_equal(self.values, other.values))


@dataclass(frozen=True)
class Dim:
    """A dimension of the result: one axis, or a zip group of axes of equal length."""

    name: str
    axes: tuple[Axis, ...]

    @property
    def size(self) -> int:
        return int(self.axes[0].values.size)

    @property
    def zipped(self) -> bool:
        return len(self.axes) > 1 or self.axes[0].name != self.name


@dataclass(frozen=True)
class RecordSpec:
    """Traces to keep: state variables ('v' for every neuron, or 'n1.v'), every ``every`` steps, for all
    points (``points`` None) or for the listed points (each a mapping dim name -> coordinate value)."""

    variables: tuple[str, ...]
    every: int = 1
    points: tuple[dict[str, float], ...] | None = None


@dataclass(frozen=True)
class Continuation:
    """A continuation sweep along dim ``dim`` (see ``synsweep.sweeps.continuation``): ``directions`` holds
    +1 (up: increasing values) and/or -1 (down), the coordinates of the result's ``direction`` dim."""

    dim: str
    directions: tuple[int, ...]


@dataclass(frozen=True)
class Criterion:
    """One refinement criterion (``synsweep.sweeps.refine``): ``metric`` at ``entity`` (a pair label or a
    neuron name, None for a circuit metric), reduced over the dims not refined by ``reduce``; a cell is
    marked when its corners lie on both sides of ``threshold`` (value >= threshold or not) or differ by
    more than ``jump``."""

    metric: str
    entity: str | None = None
    reduce: str = "mean"
    threshold: float | None = None
    jump: float | None = None


@dataclass(frozen=True)
class Refinement:
    """Adaptive refinement of the grid along ``dims`` (each of size m * 2**levels + 1): level 0 computes
    every 2**levels-th point, each further level halves the spacing in the cells marked by a criterion
    or (``status``) by a change of status between corners; at most ``budget`` points in all."""

    dims: tuple[str, ...]
    levels: int
    criteria: tuple[Criterion, ...]
    status: bool = True
    budget: int | None = None


@dataclass(frozen=True)
class SweepSpec:
    name: str
    description: str
    circuit: Circuit
    simulation: Simulation
    dims: tuple[Dim, ...]
    metrics: tuple[str, ...]
    record: RecordSpec | None
    chunk_points: int  # target number of points per task (execution only: not part of the hash)
    document: dict = field(repr=False, default_factory=dict)  # the normalised spec, JSON-serialisable
    continuation: Continuation | None = None  # the first dim is then ``direction``
    refine: Refinement | None = None
    chunk_points_given: bool = True  # False: chunk_points is the default, and a run sizes chunks to its workers
    device: str = "cpu"  # where the kernels run: 'cpu' or 'cuda' (execution only: not part of the hash)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(d.size for d in self.dims)

    @property
    def n_points(self) -> int:
        return prod(self.shape)

    @property
    def neuron_steps(self) -> int:
        return self.n_points * len(self.circuit.neurons) * self.simulation.n_steps

    @property
    def spec_hash(self) -> str:
        """sha256 of the scientific content (everything but the ``execution`` section)."""
        doc = {k: v for k, v in self.document.items() if k != "execution"}
        doc["neuron_order"] = list(self.document.get("circuit", {}).get("neurons", {}))  # sort_keys hides it
        return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def point_values(self, index: tuple[slice, ...]) -> dict[str, np.ndarray]:
        """Per-point values of every swept path for the block ``index`` (one slice per dim), C order."""
        grids = np.meshgrid(*[np.arange(d.size)[s] for d, s in zip(self.dims, index, strict=True)],
                            indexing="ij")
        out: dict[str, np.ndarray] = {}
        for dim, idx in zip(self.dims, grids, strict=True):
            for axis in dim.axes:
                for path, factor in axis.targets.items():
                    out[path] = (factor * axis.values[idx]).ravel()
        return out
