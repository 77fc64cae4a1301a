"""A workflow's figures are drawn from whatever its stores hold: from template stores (no point computed, as
after a run whose every chunk failed) each workflow draws all its files, empty, without an error or a warning."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from synsweep.sweeps import plan_chunks
from synsweep.sweeps.store import create_store
from synsweep.workflows.studies import WORKFLOW_NAMES, WorkflowRun
from synsweep.workflows.studies.base import plan_workflow

# the workflows whose integration tests (tests/integration/test_workflows.py) are in the slow tier: their figure
# code runs here in the fast tier; the others' figures are drawn from computed stores by those fast tests
FAST = ("chain", "coupled-pair")


@pytest.mark.parametrize("name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow)
                                  for n in WORKFLOW_NAMES])
def test_figures_of_stores_with_no_computed_point(name: str, tmp_path: Path) -> None:
    plan = plan_workflow(name, tmp_path / name, small=True)
    stores = {}
    for label, spec, store in plan.sweeps:
        create_store(spec, plan_chunks(spec), store)
        stores[label] = store
    run = WorkflowRun(plan.workflow, plan.out, dict(plan.options), stores)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figures = plan.workflow.draw(run)
    assert figures and all(f.parent == plan.out and f.stat().st_size > 0 for f in figures)
    assert {f.suffix for f in figures} >= {".png", ".pdf"}
    assert all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures if f.suffix == ".png")
