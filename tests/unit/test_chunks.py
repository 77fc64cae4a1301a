"""The chunk plan: block shapes within the target, trailing dims whole first, blocks tiling the grid."""

from __future__ import annotations

from math import prod

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synsweep.engine import Circuit, Neuron, Simulation
from synsweep.sweeps.chunks import ChunkPlan, chunk_shape_for, plan_chunks
from synsweep.sweeps.model import Axis, Dim, SweepSpec


def spec_of_shape(shape: tuple[int, ...], chunk_points: int = 4096) -> SweepSpec:
    dims = tuple(Dim(f"d{i}", (Axis(f"d{i}", np.arange(n, dtype=float), {"inputs.n1": 1.0}, "uA", f"d{i}",
                                    "values"),)) for i, n in enumerate(shape))
    return SweepSpec("s", "", Circuit((Neuron("n1", "hh"),)), Simulation(dt=0.01, duration=1.0), dims,
                     ("spike_count",), None, chunk_points, {"name": "s"})


@pytest.mark.parametrize(("shape", "target", "expected"), [
    ((41, 30), 4096, (41, 30)),  # everything fits: one chunk
    ((41, 30), 100, (3, 30)),  # trailing dim whole, leading split into near-equal pieces of <= 3
    ((41, 30), 7, (1, 6)),  # trailing dim does not fit: split it into 5 pieces of 6, leading dims 1
    ((5, 4, 3), 12, (1, 4, 3)),
    ((5, 4, 3), 24, (2, 4, 3)),
    ((41,), 40, (21,)),  # 2 pieces of 21 and 20, not 40 and 1
    ((10, 10), 0, (1, 1)),  # the target is at least one point
    ((), 10, ()),
])
def test_chunk_shape_examples(shape, target, expected):
    assert chunk_shape_for(shape, target) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 13), min_size=1, max_size=4), st.integers(1, 500))
def test_plan_properties(shape, target):
    shape = tuple(shape)
    plan = plan_chunks(spec_of_shape(shape), chunk_points=target)
    cs = plan.chunk_shape
    assert len(cs) == len(shape)
    assert prod(cs) <= target
    # trailing dims are whole up to the split dim; every dim before it has chunk length 1
    split = next((i for i in range(len(shape) - 1, -1, -1) if cs[i] != shape[i]), None)
    if split is not None:
        assert all(c == 1 for c in cs[:split])
    # the blocks tile the grid exactly once, in C order, aligned with the chunk grid
    seen = np.zeros(shape, dtype=int)
    ids = []
    for chunk_id, index in plan.blocks():
        ids.append(chunk_id)
        assert plan.block(chunk_id) == index
        for s, c, n in zip(index, cs, shape, strict=True):
            assert s.start % c == 0 and s.step is None
            assert s.stop == min(s.start + c, n)
        seen[index] += 1
    assert ids == list(range(plan.n_chunks))
    assert (seen == 1).all()
    starts = [tuple(s.start for s in index) for _, index in plan.blocks()]
    assert starts == sorted(starts)


def test_plan_uses_spec_target_by_default():
    spec = spec_of_shape((8, 8), chunk_points=16)
    assert plan_chunks(spec).chunk_shape == (2, 8)
    assert plan_chunks(spec, chunk_points=64).chunk_shape == (8, 8)
    assert plan_chunks(spec).n_chunks == 4


def test_block_out_of_range_and_bad_plan():
    plan = ChunkPlan((4, 4), (2, 4))
    with pytest.raises(IndexError):
        plan.block(2)
    with pytest.raises(ValueError):
        ChunkPlan((4, 4), (2,))
    with pytest.raises(ValueError):
        ChunkPlan((4, 4), (0, 4))
