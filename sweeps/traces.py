"""What the ``record`` section produces: the traced points and the trace layout.

``trace_layout(spec)`` is computed once, by whoever plans the work (``synsweep.sweeps.plan.task_plan`` for a
run), and handed to the store's template, the tasks and the estimate: the variables traced and their neuron
and synapse rows, the sampling interval and number of samples, and the grid indices of the listed points.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from synsweep.engine.simulate import resolve_record

from .model import SweepSpec

MATCH_RTOL = 1e-9  # record point coordinates: relative tolerance when matching grid values


def grid_index(values: np.ndarray, value: float) -> int | None:
    """Index of ``value`` among ``values`` (to MATCH_RTOL of the axis' magnitude), or None."""
    tol = MATCH_RTOL * max(float(np.abs(values).max()), abs(value))
    hits = np.flatnonzero(np.abs(values - value) <= tol)
    return int(hits[np.argmin(np.abs(values[hits] - value))]) if hits.size else None


def traced_indices(spec: SweepSpec) -> np.ndarray:
    """Flat C-order indices (int64, in the order listed) of the points whose traces are recorded.

    Every point when ``record.points`` is None (``points: all``); empty when nothing is recorded.
    """
    if spec.record is None:
        return np.zeros(0, dtype=np.int64)
    if spec.record.points is None:
        return np.arange(spec.n_points, dtype=np.int64)
    rows = []
    for point in spec.record.points:
        idx = []
        for d in spec.dims:
            value = point[d.name]
            idx.append(int(value) if d.zipped else grid_index(d.axes[0].values, float(value)))
        rows.append(int(np.ravel_multi_index(tuple(idx), spec.shape)) if spec.dims else 0)
    return np.array(rows, dtype=np.int64)


@dataclass(frozen=True)
class TraceLayout:
    """What the record section produces: variables, their neuron (and synapse) rows, samples, and the
    traced points."""

    variables: tuple[str, ...]  # neuron state variable names, in order of first appearance
    rows: dict[str, tuple[int, ...]]  # variable -> neuron indices recorded
    record: tuple[str, ...]  # the engine's record argument
    every: int
    n_samples: int
    points: tuple[tuple[int, ...], ...] | None  # grid indices of listed points; None: every point
    synapse_variables: tuple[str, ...] = ()  # synapse state variable names, in order of first appearance
    synapse_rows: dict[str, tuple[int, ...]] = field(default_factory=dict)  # variable -> synapse indices

    @property
    def n_rows(self) -> int:
        """Trace rows per point: (neuron, variable) and (synapse, variable) pairs recorded."""
        return sum(map(len, self.rows.values())) + sum(map(len, self.synapse_rows.values()))

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.n_samples) * self.every  # in steps; times in ms = this * dt

    @property
    def stored(self) -> dict[str, tuple[str, str]]:
        """Store variable name -> (entity dim, state variable): ``trace_<var>`` along ``neuron`` and
        ``synapse_trace_<var>`` along ``synapse``."""
        out = {f"trace_{v}": ("neuron", v) for v in self.variables}
        out.update({f"synapse_trace_{v}": ("synapse", v) for v in self.synapse_variables})
        return out


def trace_layout(spec: SweepSpec) -> TraceLayout | None:
    """The trace layout of ``spec``, or None when the spec records nothing."""
    rec = spec.record
    if rec is None or not rec.variables:
        return None
    rows_list = resolve_record(spec.circuit, rec.variables)
    if not rows_list:
        raise ValueError(f"record.variables {list(rec.variables)} name no state variable of any neuron")
    n_neurons = len(spec.circuit.neurons)
    rows: dict[str, list[int]] = {}  # neuron variables, in order of first appearance
    synapse_rows: dict[str, list[int]] = {}
    for unit, var in rows_list:
        if unit < n_neurons:
            rows.setdefault(var, []).append(unit)
        else:
            synapse_rows.setdefault(var, []).append(unit - n_neurons)
    every = max(int(rec.every), 1)
    n_samples = spec.simulation.n_steps // every + 1
    points = None if rec.points is None else tuple(
        tuple(int(i) for i in np.unravel_index(k, spec.shape)) for k in traced_indices(spec))
    return TraceLayout(tuple(rows), {v: tuple(r) for v, r in rows.items()}, tuple(rec.variables),
                       every, n_samples, points, tuple(synapse_rows),
                       {v: tuple(r) for v, r in synapse_rows.items()})
