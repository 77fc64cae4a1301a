"""The chunk size a run chooses when the spec does not set execution.chunk_points: 4 tasks per worker (fewer, in
whole rounds, when a task would hold less than MIN_TASK_NEURON_STEPS), at most the default 4096 points per task."""

from __future__ import annotations

from math import prod

from synsweep.sweeps import load_spec, plan_chunks
from synsweep.sweeps.chunks import (
    DEFAULT_CHUNK_POINTS,
    MIN_TASK_NEURON_STEPS,
    ChunkPlan,
    auto_chunk_points,
    chunk_shape_for,
)
from tests.specs import hh_pair_doc


def test_auto_chunk_points() -> None:
    assert auto_chunk_points(56, 2) == 7  # 8 tasks: both workers busy to the end
    assert auto_chunk_points(3, 8) == 1
    assert auto_chunk_points(10**7, 2) == DEFAULT_CHUNK_POINTS
    assert auto_chunk_points(10_000, 2) == 1250


def test_short_sweeps_get_fewer_larger_tasks() -> None:
    # W2 at the size: 10,000 HR pairs x 100,000 steps, 2e9 neuron-steps: 2 tasks per worker of 5e8 each
    # (4 per worker would hold 2.5e8 each, a task's overhead weighing 10% of it)
    assert auto_chunk_points(10_000, 2, neuron_steps_per_point=2 * 100_000) == 2500
    assert auto_chunk_points(10_000, 2, neuron_steps_per_point=2 * 400_000) == 1250  # 8e9: 4 per worker
    # 20,000 steps: 4e8 neuron-steps in all, 2 tasks per worker (each task's overhead would otherwise weigh 10%;
    # one round would be tasks of 5000 points, over the default 4096)
    assert auto_chunk_points(10_000, 2, neuron_steps_per_point=2 * 20_000) == 2500
    assert auto_chunk_points(4000, 2, neuron_steps_per_point=2 * 20_000) == 2000  # one task per worker
    # whole rounds: 3 rounds' worth of work on 2 workers is 6 tasks, never 5 or 7
    per_point = 3 * 2 * MIN_TASK_NEURON_STEPS // 600
    assert auto_chunk_points(600, 2, neuron_steps_per_point=per_point) == 100
    assert auto_chunk_points(600, 2, neuron_steps_per_point=per_point - 1) == 150  # 2.99 rounds: 2 rounds
    # never more than 4 tasks per worker, never fewer than one per worker, never more than the default size
    assert auto_chunk_points(10_000, 2, neuron_steps_per_point=10**9) == 1250
    assert auto_chunk_points(56, 8, neuron_steps_per_point=1) == 7
    assert auto_chunk_points(10**7, 2, neuron_steps_per_point=10) == DEFAULT_CHUNK_POINTS


def blocks(shape: tuple[int, ...], target: int) -> list[int]:
    """The points of each block of ``shape`` cut for ``target`` points, in the order the tasks are sent."""
    plan = ChunkPlan(shape, chunk_shape_for(shape, target))
    return [prod(s.stop - s.start for s in index) for _, index in plan.blocks()]


def test_the_grid_is_cut_into_blocks_that_share_out_evenly() -> None:
    # 100 x 100 for 8 tasks: 1250 points would cut 9 blocks (8 of 12 rows, one of 4): one worker runs 5 tasks
    assert blocks((100, 100), auto_chunk_points(10_000, 2)) == [1200] * 8 + [400]
    balanced = blocks((100, 100), auto_chunk_points(10_000, 2, shape=(100, 100)))
    assert balanced == [1000] * 10  # 5 equal tasks per worker
    # where the first cut is even already it is kept: 200 x 200 in 10 tasks of 20 rows
    assert blocks((200, 200), auto_chunk_points(40_000, 2, shape=(200, 200))) == [4000] * 10
    assert auto_chunk_points(10_000, 2, neuron_steps_per_point=2 * 20_000, shape=(100, 100)) == 2500  # 4 x 25 rows
    # many tasks: the plain rule (a worker's share of an uneven last block is small)
    assert auto_chunk_points(10**6, 32, shape=(1000, 1000)) == auto_chunk_points(10**6, 32)


def test_the_spec_says_whether_chunk_points_was_given() -> None:
    doc = hh_pair_doc("p", [0.0, 0.001], duration=5, chunk_points=10)
    given = load_spec(doc)
    assert given.chunk_points_given and given.document["execution"] == {"chunk_points": 10}
    del doc["execution"]
    auto = load_spec(doc)
    assert not auto.chunk_points_given and "chunk_points" not in auto.document["execution"]
    assert auto.spec_hash == given.spec_hash  # execution is not part of what the hash covers
    assert load_spec(auto.document).chunk_points_given is False  # the stored document keeps it that way
    plan = plan_chunks(auto.__class__(**{**auto.__dict__, "chunk_points": auto_chunk_points(auto.n_points, 2)}))
    assert plan.n_chunks >= 8
