"""Refinement decisions on constructed fields with a known boundary (``synsweep.sweeps.refine``)."""

from __future__ import annotations

import numpy as np
import pytest

from synsweep.sweeps.model import Criterion, Refinement
from synsweep.sweeps.refine import level_points


def refine_field(truth: np.ndarray, refine: Refinement, status: np.ndarray | None = None) -> np.ndarray:
    """Run every level on a field known everywhere, revealing only computed points; the computed mask."""
    computed = np.zeros(truth.shape, dtype=bool)
    status = np.ones(truth.shape, dtype=np.int8) if status is None else status
    for level in range(refine.levels + 1):
        seen = [np.where(computed, truth, np.nan)] * len(refine.criteria)
        todo = level_points(refine, truth.shape, level, seen, np.where(computed, status, 0), computed)
        assert not (todo & computed).any()  # a point is computed once
        computed |= todo
    return computed


def straddling_cells(inside: np.ndarray) -> np.ndarray:
    """Finest cells (2-D) whose four corners are not all on one side."""
    c = np.stack([inside[:-1, :-1], inside[1:, :-1], inside[:-1, 1:], inside[1:, 1:]])
    return c.any(axis=0) & ~c.all(axis=0)


def test_circle_boundary_is_resolved_at_the_finest_spacing_with_few_points():
    n, levels = 129, 5
    x = np.linspace(-1.0, 1.0, n)
    r = np.hypot(*np.meshgrid(x, x, indexing="ij"))
    truth = (r <= 0.6).astype(float)
    refine = Refinement(("a", "b"), levels, (Criterion("m", threshold=0.5),), status=False)
    computed = refine_field(truth, refine)
    cells = straddling_cells(truth >= 0.5)
    corners = np.stack([computed[:-1, :-1], computed[1:, :-1], computed[:-1, 1:], computed[1:, 1:]]).all(axis=0)
    assert cells.sum() > 100 and corners[cells].all()  # every cell the circle crosses: all corners computed
    assert computed.mean() < 0.2  # a fraction of the 129 x 129 grid
    assert computed[::32, ::32].all()  # the coarse grid
    assert not computed[np.abs(r - 0.6) > 0.2].all()  # far from the circle: only coarser points


def test_line_boundary_in_one_dim_computes_only_the_bracketing_points():
    truth = (np.arange(65) >= 37).astype(float)  # the boundary lies between points 36 and 37
    refine = Refinement(("a",), 4, (Criterion("m", threshold=0.5),), status=False)
    computed = refine_field(truth, refine)
    assert set(np.flatnonzero(computed)) == {0, 16, 32, 48, 64, 40, 36, 38, 37}


def test_jump_and_status_criteria_mark_their_own_boundaries():
    ramp = np.where(np.arange(33) < 20, 0.0, 1.0)  # a step of 1.0
    jump = Refinement(("a",), 3, (Criterion("m", jump=0.5),), status=False)
    assert refine_field(ramp, jump)[19:21].all()
    no_jump = Refinement(("a",), 3, (Criterion("m", jump=1.5),), status=False)
    assert refine_field(ramp, no_jump).sum() == 5  # the coarse grid only
    status = np.where(np.arange(33) < 11, 1, 2).astype(np.int8)
    by_status = Refinement(("a",), 3, (), status=True)
    assert refine_field(np.zeros(33), by_status, status)[10:12].all()


@pytest.mark.parametrize("shape", [(17, 33), (33, 17)])
def test_decisions_depend_only_on_values_not_on_orientation(shape):
    """Transposing the field transposes the decisions (no dim is privileged)."""
    rng = np.random.default_rng(1)
    truth = (rng.random(shape) > 0.7).astype(float)
    refine = Refinement(("a", "b"), 4, (Criterion("m", threshold=0.5),), status=False)
    np.testing.assert_array_equal(refine_field(truth, refine).T, refine_field(truth.T, refine))


# -- the spec sections ---------------------------------------------------------------------------------------
def pair_doc(**extra) -> dict:
    from tests.specs import hh_pair_doc

    doc = hh_pair_doc("s", [0.0, 0.001, 0.002, 0.003, 0.004], duration=10.0, chunk_points=8)
    doc["sweep"][1]["linspace"]["num"] = 9
    doc.update(extra)
    return doc


def test_refine_section_is_parsed_and_hashed():
    from synsweep.sweeps.spec import load_spec

    crit = [{"metric": "pearson", "threshold": 0.9}, {"metric": "spike_count", "neuron": "n2", "jump": 2}]
    spec = load_spec(pair_doc(refine={"levels": 2, "criteria": crit}))
    assert spec.refine.dims == ("g", "I_ext") and spec.refine.levels == 2 and spec.refine.status
    assert spec.refine.criteria[0].entity == "n1-n2" and spec.refine.criteria[1].jump == 2.0
    assert load_spec(spec.document).refine == spec.refine
    assert spec.spec_hash != load_spec(pair_doc()).spec_hash


@pytest.mark.parametrize("refine, field, words", [
    ({"levels": 3}, "refine.levels", "with 3 levels"),
    ({"levels": 2, "dims": ["x"]}, "refine.dims[0]", "unknown dim"),
    ({"levels": 2, "criteria": [{"metric": "pearson"}]}, "refine.criteria[0]", "threshold or a jump"),
    ({"levels": 2, "criteria": [{"metric": "spike_count", "threshold": 1}]}, "refine.criteria[0].neuron", "neuron"),
    ({"levels": 2, "status": False}, "refine", "nothing would be refined"),
])
def test_bad_refine_sections_name_the_field(refine, field, words):
    from synsweep.sweeps.errors import SpecError
    from synsweep.sweeps.spec import load_spec

    with pytest.raises(SpecError, match=words) as info:
        load_spec(pair_doc(refine=refine))
    assert info.value.field == field


def test_continuation_adds_the_direction_dim_and_refuses_listed_traces():
    from synsweep.sweeps.chunks import plan_chunks
    from synsweep.sweeps.errors import SpecError
    from synsweep.sweeps.spec import load_spec

    doc = pair_doc()
    doc["sweep"][0]["continuation"] = "down"
    spec = load_spec(doc)
    assert [d.name for d in spec.dims] == ["direction", "g", "I_ext"] and spec.shape == (1, 5, 9)
    assert spec.continuation.dim == "g" and spec.continuation.directions == (-1,)
    plan = plan_chunks(spec)
    assert plan.chunk_shape[:2] == (1, 5)  # one direction and the whole continued axis per block
    doc["record"] = {"variables": ["v"], "points": [{"g": 0.0, "I_ext": 0.05}]}
    with pytest.raises(SpecError, match="every point or none"):
        load_spec(doc)
    doc.pop("record")
    doc["sweep"][1]["continuation"] = "up"
    with pytest.raises(SpecError, match="only one axis"):
        load_spec(doc)
