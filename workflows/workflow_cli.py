"""``synsweep workflow NAME``: run one of the seed studies as sweeps and draw its figures.

    synsweep workflow NAME [--out DIR] [--scheduler ADDRESS | --workers N] [--set PATH=VALUE ...] [--small]
                           [--overwrite] [--no-progress]
    synsweep workflow NAME --redraw [--out DIR] [--set workflow.OPTION=VALUE ...]

Registered on the ``synsweep`` group by ``synsweep.workflows.cli``; the work is done by
``synsweep.workflows.studies``. Mistakes (unknown workflow, a bad --set, a store of another spec in DIR)
are user errors: one paragraph, exit 2, before anything is computed; failed chunks exit 3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def _sweep_line(label: str, spec: Any, store: Path, report: Any) -> None:
    computed = [c for c in report.computed if c != "traces"]
    state = (f"computed {len(computed)} of {report.n_chunks} chunks" if computed or report.failed
             else "already complete")
    click.echo(f"sweep {label}: {spec.n_points:,} points in {store} ({state})")


@click.command()
@click.argument("name", metavar="NAME")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Folder for the stores, figures and tables (default: out/NAME).")
@click.option("--scheduler", metavar="ADDRESS", help="Address of a running dask scheduler (tcp://host:8786); "
              "default: start a local cluster.")
@click.option("--workers", type=click.IntRange(min=1), metavar="N",
              help="Worker processes of the local cluster (default: one per core).")
@click.option("--set", "assignments", multiple=True, metavar="PATH=VALUE",
              help="Change the packaged spec (e.g. simulation.duration=200, circuit.inputs.n1=0.2, "
                   "sweep.g.linspace.num=11) or a workflow option (workflow.threshold=0.8); repeatable.")
@click.option("--small", is_flag=True, help="The workflow's small configuration (seconds, for a quick check).")
@click.option("--redraw", is_flag=True, help="Only draw the figures again, from the stores in DIR.")
@click.option("--overwrite", is_flag=True, help="Recompute the stores from scratch.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
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
    from synsweep.workflows.selection import AnalysisError
    from synsweep.workflows.studies import WorkflowError, get_workflow, plan_workflow
    from synsweep.workflows.studies import redraw as redraw_run
    from synsweep.workflows.studies.base import run_planned

    from .cli import Incomplete, _fail, _paragraph, _scheduler_client

    if scheduler is not None and workers is not None:
        _fail("--workers sizes the local cluster that synsweep starts; with --scheduler the workers are those of "
              "the running cluster. Give one of the two.")
    try:
        name = get_workflow(name).name
        out = out if out is not None else Path("out") / name
        if redraw:
            clashing = [flag for flag, given in (("--small", small), ("--overwrite", overwrite),
                                                 ("--scheduler", scheduler), ("--workers", workers)) if given]
            if clashing:
                _fail(f"--redraw only draws the figures from the stores in {out}; it computes nothing, so "
                      f"{', '.join(clashing)} has no meaning with it. Leave {' and '.join(clashing)} out, or "
                      "leave out --redraw to run the workflow.")
            run = redraw_run(out, name, assignments)
        else:
            plan = plan_workflow(name, out, assignments, small=small)
            with _scheduler_client(scheduler) as client:
                run = run_planned(plan, client=client, workers=workers, overwrite=overwrite,
                                  progress=not no_progress, on_sweep=_sweep_line)
    except SweepIncomplete as exc:
        raise Incomplete(_paragraph(exc)) from None
    except (WorkflowError, SpecError, StoreError, AnalysisError) as exc:
        _fail(exc)
    for path in run.figures:
        click.echo(f"wrote {path}")
