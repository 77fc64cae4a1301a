"""The chunk size a run chooses when the spec does not set execution.chunk_points: at least 4 tasks per worker,
at most the default 4096 points per task."""

from __future__ import annotations

from synsweep.sweeps import load_spec, plan_chunks
from synsweep.sweeps.chunks import DEFAULT_CHUNK_POINTS, auto_chunk_points
from tests.specs import hh_pair_doc


def test_auto_chunk_points() -> None:
    assert auto_chunk_points(56, 2) == 7  # 8 tasks: both workers busy to the end
    assert auto_chunk_points(3, 8) == 1
    assert auto_chunk_points(10**7, 2) == DEFAULT_CHUNK_POINTS
    assert auto_chunk_points(10_000, 2) == 1250


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
