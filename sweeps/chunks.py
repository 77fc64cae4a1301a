"""Cutting the sweep grid into tasks: hyper-rectangular blocks aligned with the zarr chunks.

One task computes one block and writes it as whole zarr chunks (a block *is* a zarr chunk of every
variable along the sweep dims), so no two tasks ever touch the same chunk: writes need no locks and a
task that runs twice (a worker lost mid-run) rewrites identical bytes.

Shape rule (``plan_chunks``): walk the dims from the last (fastest-varying) to the first, keeping each
dim whole while the product stays within the target number of points; the first dim that does not fit
is split into the fewest near-equal pieces that fit, and every dim before it gets chunk length 1. So the
trailing dims stay whole and the leading dims are split, and ``prod(chunk_shape) <= target`` unless a
single point already exceeds it (the target is at least 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from math import ceil, prod

from .model import SweepSpec

DEFAULT_CHUNK_POINTS = 4096
TASKS_PER_WORKER = 4  # the default chunk size gives every worker this many tasks (load balance)...
# ...unless a task would then hold less work than this: a task costs 0.1 to 0.15 CPU-s besides its kernel (its
# zarr shards read and written back, its record, the kernel call's set-up, the scheduler; W2 on 2 workers, 10
# tasks against 4: 0.7 CPU-s more), about 5% of a task of this many neuron-steps on a cheap model's kernel
# (Hindmarsh-Rose, integrate-and-fire: 1 to 2.6e8 neuron-steps/s per core; Hodgkin-Huxley takes 3 to 4x longer)
MIN_TASK_NEURON_STEPS = 500_000_000
# a GPU runs one point per thread and needs 10^5+ threads in flight to hide its memory latency; a chunk of
# 2^18 lanes takes 10 to 30 MB of device memory for a small circuit (state, parameters, accumulators)
GPU_CHUNK_POINTS = 1 << 18
DEVICE_CHUNK_POINTS = {"cpu": DEFAULT_CHUNK_POINTS, "cuda": GPU_CHUNK_POINTS}


def auto_chunk_points(n_points: int, workers: int, device: str = "cpu", neuron_steps_per_point: int = 0,
                      shape: tuple[int, ...] | None = None) -> int:
    """The target points per task when the spec does not set ``execution.chunk_points``.

    cpu: ``TASKS_PER_WORKER`` tasks per worker, so that no worker idles while another finishes a large last
    task, and at most ``DEFAULT_CHUNK_POINTS`` (a 56-point sweep on 2 workers: 8 tasks of 7 points, not one of
    56); fewer tasks when ``neuron_steps_per_point`` (neurons x steps) would make them hold less than
    ``MIN_TASK_NEURON_STEPS`` each: as many as that allows, in whole rounds (a multiple of the workers), at
    least one per worker, and as many rounds as tasks of at most ``DEFAULT_CHUNK_POINTS`` need. cuda:
    ``GPU_CHUNK_POINTS`` lanes per task, or all the points if fewer (a GPU worker is one device, and a small
    task leaves most of it idle whatever the number of workers).

    ``shape`` (the grid's, cpu): the blocks of the grid rarely come out equal (100 rows cut for 8 tasks of at
    most 1250 points give 9 blocks, 8 of 12 rows and one of 4), so the target is then the one of those for
    ``tasks`` to ``2 x tasks`` tasks whose blocks share out best over the workers (``balanced_target``)."""
    if device == "cuda":
        return max(1, min(GPU_CHUNK_POINTS, n_points))
    workers = max(workers, 1)
    rounds = TASKS_PER_WORKER
    if neuron_steps_per_point > 0:
        rounds = max(1, min(rounds, n_points * neuron_steps_per_point // (MIN_TASK_NEURON_STEPS * workers)))
    rounds = max(rounds, -(-n_points // (DEFAULT_CHUNK_POINTS * workers)))  # tasks of at most the default size
    if shape is not None and rounds * workers <= BALANCED_TASKS:
        return balanced_target(shape, rounds * workers, workers)
    return max(1, min(DEFAULT_CHUNK_POINTS, -(-n_points // (rounds * workers))))


BALANCED_TASKS = 64  # above this many tasks a worker's share of an uneven last block is small anyway
TASK_OVERHEAD = 0.03  # a task's cost besides its kernel, as a fraction of the kernel time of the base size


def balanced_target(shape: tuple[int, ...], tasks: int, workers: int) -> int:
    """The target points per task, among those for ``tasks`` to ``2 x tasks`` tasks of ``shape`` (at most
    ``DEFAULT_CHUNK_POINTS``), whose blocks end soonest on ``workers`` workers that each take the next block when
    they are free (dask's order), a block costing its points plus ``TASK_OVERHEAD`` of a ``tasks``-way block's;
    ties go to fewer tasks. Deterministic: a function of the shape and the counts only."""
    n = prod(shape)
    overhead = TASK_OVERHEAD * n / tasks
    best: tuple[float, int, int] | None = None
    for k in range(tasks, 2 * tasks + 1):
        target = min(DEFAULT_CHUNK_POINTS, -(-n // k))
        plan = ChunkPlan(shape, chunk_shape_for(shape, target))
        free = [0.0] * workers
        for _, index in plan.blocks():
            i = free.index(min(free))
            free[i] += prod(s.stop - s.start for s in index) + overhead
        key = (max(free), plan.n_chunks, target)
        if best is None or key[:2] < best[:2]:
            best = key
    assert best is not None
    return max(1, best[2])


@dataclass(frozen=True)
class ChunkPlan:
    """The grid ``shape`` cut into blocks of ``chunk_shape`` (the last block along a dim may be shorter).

    Chunk ids number the blocks in C order of the chunk grid (the last dim's block index fastest).
    """

    shape: tuple[int, ...]
    chunk_shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.shape) != len(self.chunk_shape):
            raise ValueError(f"chunk_shape {self.chunk_shape} does not match shape {self.shape}")
        if any(c < 1 or (c > s and s > 0) for c, s in zip(self.chunk_shape, self.shape, strict=True)):
            raise ValueError(f"chunk_shape {self.chunk_shape} invalid for shape {self.shape}")

    @property
    def grid(self) -> tuple[int, ...]:
        """Number of blocks along each dim."""
        return tuple(ceil(s / c) for s, c in zip(self.shape, self.chunk_shape, strict=True))

    @property
    def n_chunks(self) -> int:
        return prod(self.grid)

    @property
    def n_points(self) -> int:
        return prod(self.shape)

    def block(self, chunk_id: int) -> tuple[slice, ...]:
        """The index (one slice per dim, step 1) of block ``chunk_id``."""
        if not 0 <= chunk_id < self.n_chunks:
            raise IndexError(f"chunk {chunk_id} out of range 0..{self.n_chunks - 1}")
        index: list[slice] = []
        rest = chunk_id
        for g, s, c in reversed(list(zip(self.grid, self.shape, self.chunk_shape, strict=True))):
            rest, b = divmod(rest, g)
            index.append(slice(b * c, min((b + 1) * c, s)))
        return tuple(reversed(index))

    def blocks(self) -> Iterator[tuple[int, tuple[slice, ...]]]:
        """``(chunk_id, index)`` for every block, in C order of the chunk grid."""
        for chunk_id, pos in enumerate(product(*(range(g) for g in self.grid))):
            yield chunk_id, tuple(slice(b * c, min((b + 1) * c, s))
                                  for b, c, s in zip(pos, self.chunk_shape, self.shape, strict=True))

    def block_shape(self, index: tuple[slice, ...]) -> tuple[int, ...]:
        return tuple(s.stop - s.start for s in index)


def chunk_shape_for(shape: tuple[int, ...], target: int) -> tuple[int, ...]:
    """Chunk lengths for ``shape`` with at most ``max(target, 1)`` points, trailing dims kept whole first."""
    room = max(int(target), 1)
    out = [1] * len(shape)
    for i in range(len(shape) - 1, -1, -1):
        size = max(shape[i], 1)
        if size <= room:
            out[i] = size
            room //= size
        else:
            pieces = ceil(size / room)
            out[i] = ceil(size / pieces)  # <= room, pieces of near-equal length
            break
    return tuple(out)


def plan_chunks(spec: SweepSpec, chunk_points: int | None = None) -> ChunkPlan:
    """The chunk plan of ``spec`` for at most ``chunk_points`` points per chunk.

    ``chunk_points`` defaults to ``spec.chunk_points`` (the spec's ``execution.chunk_points``), then to
    the device's default (``DEVICE_CHUNK_POINTS``). Deterministic: the same shape and target always give the
    same plan. A continuation sweep's blocks hold one direction and the whole continued dim
    (``synsweep.sweeps.continuation``).
    """
    target = chunk_points or spec.chunk_points or DEVICE_CHUNK_POINTS[spec.device]
    if spec.continuation is not None:  # one direction and the whole continued dim per block
        return continuation_plan(spec, target)
    return ChunkPlan(spec.shape, chunk_shape_for(spec.shape, target))


def continuation_plan(spec: SweepSpec, target: int) -> ChunkPlan:
    """Blocks of one direction each, holding the whole continued dim and at most about ``target`` points."""
    assert spec.continuation is not None
    axis = [d.name for d in spec.dims].index(spec.continuation.dim)
    shape = spec.shape
    n = shape[axis]
    lanes = tuple(s for i, s in enumerate(shape) if i not in (0, axis))
    lane_chunks = list(chunk_shape_for(lanes, max(ceil(target / max(n, 1)), 1)))
    chunks = [1] + [n if i == axis else lane_chunks.pop(0) for i in range(1, len(shape))]
    return ChunkPlan(shape, tuple(chunks))


def describe_block(spec: SweepSpec, index: tuple[slice, ...]) -> str:
    """The points of block ``index`` in coordinates, e.g. ``g = 0.004, I_ext = 0.05 .. 0.15 (5 points)``
    (a zip group by its index range)."""
    parts = []
    for dim, s in zip(spec.dims, index, strict=True):
        if dim.zipped:
            lo, hi = s.start, s.stop - 1
        else:
            lo, hi = (f"{v:.6g}" for v in dim.axes[0].values[[s.start, s.stop - 1]])
        parts.append(f"{dim.name} = {lo}" if s.stop - s.start == 1 else f"{dim.name} = {lo} .. {hi}")
    n = prod(s.stop - s.start for s in index)
    return f"{', '.join(parts) or 'the single point'} ({n} point{'' if n == 1 else 's'})"
