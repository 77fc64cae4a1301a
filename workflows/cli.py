"""The ``synsweep`` command line: the group, its commands, and the entry point.

    synsweep run SPEC.yaml --out RESULT.zarr [--scheduler ADDRESS] [--workers N] [--resume] [--overwrite]
                 [--extend OLD.zarr] [--chunk-points N] [--no-progress] [--plot PNG]
                 [--cluster slurm|pbs [--jobs N] [--cluster-config FILE] [--lifetime D] [--lifetime-stagger D]]
                 [--security FILE|auto] [--tls-ca-file PEM --tls-cert PEM --tls-key PEM]
    synsweep validate SPEC.yaml [--out PATH] [--compile]   what a run would do and cost, without running it
    synsweep demo [--out DIR] [--workers N]       the packaged coupling scan (seed 000, positive g)
    synsweep inspect RESULT.zarr                  dims, variables, completion and provenance of a result
    synsweep plot | replay | report | export RESULT.zarr ...   analysis of a stored result (analysis_cli.py)
    synsweep workflow NAME [--out DIR] [--set PATH=VALUE ...]  a seed study as sweeps + figures (workflow_cli.py)
    synsweep serve DIR                            the web page over stored results (serve/cli.py)

Exit codes: 0 done; 2 the user's input is wrong (spec, store, file, options): one paragraph on stderr
starting ``synsweep: error:``, nothing computed, nothing overwritten; 3 the sweep ran but some chunks
failed (what was computed is kept; ``--resume`` computes the rest); 4 ``replay`` found values that differ
from the stored ones; 130 Ctrl-C (``synsweep.workflows.exits``).

This module only builds the group from the command modules (run_cli, analysis_cli, workflow_cli, serve.cli),
which never import it; the options several commands share are defined once, in ``options``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from . import launch
from .analysis_cli import ANALYSIS_COMMANDS
from .exits import EXIT_INTERRUPTED, EXIT_TERMINATED, PROG, Interrupted, fail, paragraph
from .run_cli import RUN_COMMANDS
from .serve.cli import serve
from .workflow_cli import workflow

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100, "auto_envvar_prefix": "SYNSWEEP"}


@click.group(context_settings=CONTEXT, commands=[*RUN_COMMANDS, *ANALYSIS_COMMANDS, workflow, serve])
@click.version_option(package_name="synsweep", prog_name=PROG)
@click.option("--quiet", "-q", is_flag=True, help="Only errors and results: no estimate, no progress bar.")
@click.option("--verbose", "-v", is_flag=True, help="Also dask's own log messages (INFO) on stderr.")
def cli(quiet: bool, verbose: bool) -> None:
    """Distributed parameter sweeps of small circuits of coupled neurons.

    Every option can also be given as an environment variable SYNSWEEP_<COMMAND>_<OPTION>, e.g.
    SYNSWEEP_RUN_WORKERS=4 or SYNSWEEP_RUN_NO_PROGRESS=1 (SYNSWEEP_QUIET=1 for --quiet)."""
    if quiet and verbose:
        fail("--quiet and --verbose contradict each other; give one of them.")
    if verbose:
        import logging

        logging.getLogger("distributed").setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: runs the command line and exits with its code (see the module docstring)."""
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name=PROG, standalone_mode=False)
    except Interrupted as exc:
        click.echo(f"{PROG}: {paragraph(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        message = paragraph(exc.format_message())
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            message += f" (see '{exc.ctx.command_path} --help')"
        click.echo(f"{PROG}: error: {message}", err=True)
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt) as stop:
        from synsweep.sweeps.interrupts import Terminated

        terminated = isinstance(stop, Terminated) or isinstance(stop.__cause__, Terminated)  # click: Abort from it
        click.echo(f"{PROG}: {'terminated (SIGTERM)' if terminated else 'interrupted'}", err=True)
        sys.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)


def console_main() -> None:
    """The ``synsweep`` script: ``main`` in a process of its own, which may do what an in-process caller of
    ``main`` must not get: start a run's local workers before the store is checked (``launch.OWN_PROCESS``),
    and, after a run (``launch.RAN``: its files are closed), run the exit handlers, flush the output and end
    without the interpreter's teardown of numba's, LLVM's and dask's objects (0.2 to 0.4 s of a command that
    is done). Other commands end as usual (a file an analysis command left to the interpreter to close, a
    netCDF export's, must still be flushed)."""
    from synsweep.sweeps.compat import run_exit_handlers

    launch.OWN_PROCESS = True
    try:
        main()
        code = 0
    except SystemExit as exc:
        if not launch.RAN:
            raise
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:  # sys.exit("message"), as the interpreter would print it
            print(exc.code, file=sys.stderr)
            code = 1
    if not launch.RAN:
        return
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            code = code or 1
    os._exit(code)


if __name__ == "__main__":
    main()
