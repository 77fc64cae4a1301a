"""Adaptive refinement: compute a grid coarse first, then halve the spacing only where a boundary lies.

The spec's grid is the finest grid; each refined dim has m * 2**L + 1 values (L = ``refine.levels``). On the
lattice of stride s (a point every s values along each refined dim) a *cell* is the box between 2**d lattice
points (its corners), d the number of refined dims.

    level 0: every point of the lattice of stride 2**L
    level l: for each cell of the stride-2**(L-l+1) lattice whose corners are all computed, mark it when
             - the values of a criterion's metric (reduced over the dims not refined) lie on both sides of
               its threshold (value >= threshold at some corners, not at others; NaN counts as below), or
             - they differ by more than its jump tolerance (max - min over the corners), or
             - (``status: true``) the corners' statuses differ;
             then compute every point of the stride-2**(L-l) lattice inside the marked cells.

A cell's corners are all computed only when it is a level-0 cell or its parent was marked, so the marks
depend only on the values the store holds; the points of level l are never corners of the cells that level
l looks at, so an interrupted level decides the same again on resume (the run resumes at the level reached).
The decisions read only stored values: they are the same whatever the chunking and the number of workers.
A level whose points would take the total over ``budget`` is not run, nor any level after it.

The store is the finest grid from the start; points never computed keep ``status`` 0 and fill values, so
resume, inspect, plot, report and replay read a refined store like any other. Each level's tasks write whole
blocks: the driver reads each block as stored between levels (while no task writes) and sends it with the task,
which computes the level's points and keeps the others; a task marks ``.synsweep/done/r<l>-<id>``.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr

from synsweep.engine import STATUS_DIVERGED

from .extend import ExtensionSource
from .location import Location, location
from .model import Criterion, Refinement, SweepSpec
from .store import ZARR_FORMAT


def lattice(shape: tuple[int, ...], stride: int) -> tuple[slice, ...]:
    """The points of the stride-``stride`` lattice of a refined grid of ``shape``."""
    return tuple(slice(0, n, stride) for n in shape)


def marked_cells(corner_values: list[tuple[np.ndarray, Criterion]], status: np.ndarray | None,
                 computed: np.ndarray) -> np.ndarray:
    """Cells (shape: lattice shape - 1 per dim) whose corners are all computed and that a criterion marks.

    ``corner_values``: per criterion, its reduced values on the lattice; ``status``: on the lattice, or None
    when status changes do not count; ``computed``: on the lattice."""
    d = computed.ndim
    cells = tuple(n - 1 for n in computed.shape)
    corners = [tuple(slice(o, o + c) for o, c in zip(offset, cells, strict=True))
               for offset in itertools.product((0, 1), repeat=d)]
    ready = np.logical_and.reduce([computed[c] for c in corners])
    marked = np.zeros(cells, dtype=bool)
    for values, crit in corner_values:
        stack = np.stack([values[c] for c in corners])
        if crit.threshold is not None:
            above = stack >= crit.threshold  # NaN: below
            marked |= above.any(axis=0) & ~above.all(axis=0)
        if crit.jump is not None:
            spread = np.fmax.reduce(stack, axis=0) - np.fmin.reduce(stack, axis=0)  # NaN corners left out
            marked |= np.nan_to_num(spread, nan=0.0) > crit.jump
    if status is not None:
        stack = np.stack([status[c] for c in corners])
        marked |= (stack != stack[0]).any(axis=0)
    return marked & ready


def level_points(refine: Refinement, shape: tuple[int, ...], level: int, fields: list[np.ndarray],
                 status: np.ndarray, computed: np.ndarray) -> np.ndarray:
    """The points of the refined grid (``shape``) that level ``level`` computes, as a boolean mask.

    ``fields``: each criterion's reduced values on the whole refined grid; ``status``, ``computed``: likewise."""
    out = np.zeros(shape, dtype=bool)
    if level == 0:
        out[lattice(shape, 1 << refine.levels)] = True
        return out
    stride = 1 << (refine.levels - level + 1)
    coarse = lattice(shape, stride)
    marked = marked_cells([(f[coarse], c) for f, c in zip(fields, refine.criteria, strict=True)],
                          status[coarse] if refine.status else None, computed[coarse])
    fine = np.zeros(tuple(2 * c + 1 for c in marked.shape), dtype=bool)
    for offset in itertools.product((0, 1, 2), repeat=marked.ndim):
        fine[tuple(slice(o, o + 2 * c, 2) for o, c in zip(offset, marked.shape, strict=True))] |= marked
    fine[lattice(fine.shape, 2)] = False  # the corners: computed at an earlier level
    out[lattice(shape, stride // 2)] = fine
    return out


def _axes(spec: SweepSpec) -> tuple[list[int], list[int]]:
    """Positions of the refined dims and of the others among the spec's dims."""
    names = [d.name for d in spec.dims]
    assert spec.refine is not None
    refined = [names.index(n) for n in names if n in spec.refine.dims]
    return refined, [i for i in range(len(names)) if i not in refined]


def stored_fields(spec: SweepSpec, out: str | Path | Location) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """From the store: each criterion's values reduced over the dims not refined (NaN where not computed or
    diverged), the status (the largest over those dims) and whether a point is computed, all on the refined
    grid (refined dims in spec order)."""
    assert spec.refine is not None
    refined, others = _axes(spec)
    order = refined + others
    group = zarr.open_group(location(out).zarr_store(read_only=True), mode="r", zarr_format=ZARR_FORMAT)
    status = np.transpose(group["status"][...], order)
    flat = status.reshape(*status.shape[: len(refined)], -1)
    computed = (flat != 0).all(axis=-1)
    fields = []
    for crit in spec.refine.criteria:
        arr = group[crit.metric]
        data = arr[...]
        if crit.entity is not None:
            labels = [str(x) for x in group["pair" if "pair" in arr.metadata.dimension_names else "neuron"][...]]
            data = data[..., labels.index(crit.entity)]
        data = np.transpose(data.astype(np.float64), order)
        data = data.reshape(*data.shape[: len(refined)], -1)
        data = np.where((flat != 0) & (flat != STATUS_DIVERGED), data, np.nan)  # a diverged point has no value
        with warnings.catch_warnings():  # an all-NaN slice (a point not computed) gives NaN, quietly
            warnings.simplefilter("ignore", RuntimeWarning)
            fields.append(getattr(np, f"nan{crit.reduce}")(data, axis=-1))
    return fields, flat.max(axis=-1), computed


def level_todo(spec: SweepSpec, out: str | Path | Location, level: int) -> np.ndarray:
    """The points of the whole grid (``spec.shape``) that ``level`` computes, decided from the store."""
    fields, status, computed = stored_fields(spec, out)
    assert spec.refine is not None
    mask = level_points(spec.refine, computed.shape, level, fields, status, computed)
    refined, others = _axes(spec)
    full = np.broadcast_to(mask.reshape(mask.shape + (1,) * len(others)),
                           mask.shape + tuple(spec.shape[i] for i in others))
    return np.ascontiguousarray(np.transpose(full, np.argsort(refined + others)))


@dataclass(frozen=True)
class BlockSource:
    """What a task of one refinement level is given for its block: the block as stored (read by the driver
    between levels, while no task writes: tasks of one shard never read each other's half-written shards)
    and which points are the level's (``todo``). ``read_block`` has ``ExtensionSource.read_block``'s contract
    with every point outside ``todo`` counted as old, so ``run_chunk`` computes exactly the level's points and
    keeps the rest."""

    todo: np.ndarray  # (n,) the block's points, flat in C order
    arrays: dict[str, np.ndarray]

    def read_block(self, index: tuple[slice, ...]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return ~self.todo, {name: a.copy() for name, a in self.arrays.items()}


def block_sources(spec: SweepSpec, out: str | Path | Location, todo: np.ndarray,
                  jobs: list[tuple[int | str, tuple[slice, ...]]]) -> dict[int | str, BlockSource]:
    """The ``BlockSource`` of each job (id, block index) of a level whose points are ``todo`` (whole grid)."""
    store = ExtensionSource(str(out), spec.spec_hash, tuple(np.arange(n) for n in spec.shape))
    return {job: BlockSource(todo[index].ravel(), store.read_block(index)[1]) for job, index in jobs}
