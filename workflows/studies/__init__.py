"""The studies of the seed documents as named workflows: a packaged spec run as sweeps, figures drawn
from the stored datasets.

    from synsweep.workflows.studies import run_workflow, draw
    run = run_workflow("coupling-scan", "out/coupling-scan", ["simulation.duration=200"])
    run.figures                      # PNG and PDF files (and CSV tables) in out/coupling-scan
    draw("out/coupling-scan")        # the figures again, from the stores, months later

Workflows (``WORKFLOW_NAMES``): coupling-scan, coupled-pair, chain (seed 000), synapse-gallery (seed 001),
psp, fi-curve, if-sync (seed 002). See ``synsweep.workflows.studies.base`` for the output folder, the
manifest and the overrides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import (
    WORKFLOW_NAMES,
    Workflow,
    WorkflowError,
    WorkflowPlan,
    WorkflowRun,
    get_workflow,
    plan_workflow,
    redraw,
    run_planned,
    stored_run,
)

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["WORKFLOW_NAMES", "Workflow", "WorkflowError", "WorkflowPlan", "WorkflowRun", "draw", "get_workflow",
           "plan_workflow", "run_workflow", "stored_run"]


def run_workflow(name: str, out: str | Path, overrides: Iterable[str] | Mapping[str, Any] = (), *,
                 small: bool = False, client: Client | None = None, scheduler: str | None = None,
                 workers: int | None = None, overwrite: bool = False, progress: bool = False) -> WorkflowRun:
    """Run workflow ``name`` into the folder ``out`` and draw its figures there.

    ``overrides``: "path=value" texts (or a mapping path -> value) changing the packaged spec, or
    ``workflow.<option>`` settings; ``small``: the workflow's quick configuration first. A rerun into the
    same folder resumes its stores (computing only what is missing) and redraws; ``overwrite`` recomputes.
    Raises SpecError (before computing anything) for a mistake in the overrides, StoreError for a store
    of another spec in ``out`` (pass ``overwrite``), SweepIncomplete when chunks failed.
    """
    plan = plan_workflow(name, out, overrides, small=small)
    return run_planned(plan, client=client, scheduler=scheduler, workers=workers, overwrite=overwrite,
                       progress=progress)


def draw(out: str | Path, options: Iterable[str] | Mapping[str, Any] = ()) -> list[Path]:
    """Draw the figures of the workflow run stored in ``out`` again; ``options``: workflow.<option>=value."""
    return redraw(out, options=options).figures
