"""``synsweep workflow NAME``: run one of the seed studies as sweeps and draw its figures.

    synsweep workflow NAME [--out DIR] [--scheduler ADDRESS | --workers N] [--set PATH=VALUE ...] [--small]
                           [--overwrite] [--no-progress]
    synsweep workflow NAME --redraw [--out DIR] [--set workflow.OPTION=VALUE ...]

Registered on the ``synsweep`` group by ``synsweep.workflows.cli`` (never imported here); the work is done by
``synsweep.workflows.studies``. Mistakes (unknown workflow, a bad --set, a store of another spec in DIR)
are user errors: one paragraph, exit 2, before anything is computed; failed chunks exit 3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .exits import Incomplete, fail, paragraph
from .launch import Placement, connected
from .options import (
    FOLDER,
    NO_PROGRESS,
    SCHEDULER,
    WORKERS,
    check_output,
    out_option,
    overwrite_option,
    scheduler_or_workers,
    small_option,
)


def _sweep_line(label: str, spec: Any, store: Path, report: Any) -> None:
    computed = [c for c in report.computed if c != "traces"]
    state = (f"computed {len(computed)} of {report.n_chunks} chunks" if computed or report.failed
             else "already complete")
    click.echo(f"sweep {label}: {spec.n_points:,} points in {store} ({state})")


@click.command()
@click.argument("name", metavar="NAME")
@out_option(FOLDER, "DIR", "Folder for the stores, figures and tables (default: out/NAME).")
@SCHEDULER
@WORKERS
@click.option("--set", "assignments", multiple=True, metavar="PATH=VALUE",
              help="Change the packaged spec (e.g. simulation.duration=200, circuit.inputs.n1=0.2, "
                   "sweep.g.linspace.num=11) or a workflow option (workflow.threshold=0.8); repeatable.")
@small_option("The workflow's small configuration (seconds, for a quick check).")
@click.option("--redraw", is_flag=True, help="Only draw the figures again, from the stores in DIR.")
@overwrite_option("Recompute the stores from scratch.")
@NO_PROGRESS
def workflow(name: str, out: Path | None, scheduler: str | None, workers: int | None, assignments: tuple[str, ...],
             small: bool, redraw: bool, overwrite: bool, no_progress: bool) -> None:
    """Run the study NAME of a seed document and draw its figures from the stored results.

    NAME is one of: coupling-scan, coupled-pair, chain (seed 000); synapse-gallery (seed 001); psp,
    fi-curve, if-sync (seed 002). Each runs its packaged spec (workflows/specs/) as sweeps into
    DIR/<sweep>.zarr and writes its figures (PNG and PDF) and tables (CSV) to DIR. Running it again
    into the same DIR finishes what is missing and redraws; --redraw only redraws.
    """
    from synsweep.sweeps import StoreError, SweepIncomplete
    from synsweep.sweeps.errors import SpecError
    from synsweep.sweeps.interrupts import interruptible
    from synsweep.workflows.selection import AnalysisError
    from synsweep.workflows.studies import WorkflowError, get_workflow, plan_workflow
    from synsweep.workflows.studies import redraw as redraw_run
    from synsweep.workflows.studies.base import run_planned

    scheduler_or_workers(scheduler, workers)
    try:
        name = get_workflow(name).name
        out = out if out is not None else Path("out") / name
        if redraw:
            clashing = [flag for flag, given in (("--small", small), ("--overwrite", overwrite),
                                                 ("--scheduler", scheduler), ("--workers", workers)) if given]
            if clashing:
                fail(f"--redraw only draws the figures from the stores in {out}; it computes nothing, so "
                     f"{', '.join(clashing)} has no meaning with it. Leave {' and '.join(clashing)} out, or "
                     "leave out --redraw to run the workflow.")
            run = redraw_run(out, name, assignments)
        else:
            check_output(out, "--out", folder=True)
            plan = plan_workflow(name, out, assignments, small=small)
            with interruptible(), connected(Placement(scheduler=scheduler)) as client:
                run = run_planned(plan, client=client, workers=workers, overwrite=overwrite,
                                  progress=not no_progress, on_sweep=_sweep_line)
    except SweepIncomplete as exc:
        raise Incomplete(paragraph(exc)) from None
    except (WorkflowError, SpecError, StoreError, AnalysisError) as exc:
        fail(exc)
    for path in run.figures:
        click.echo(f"wrote {path}")
