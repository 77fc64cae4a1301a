"""A sweep run from the command line: its spec loaded and checked, its cluster connected, its messages.

    spec = load("sweep.yaml")                        # every mistake a UserError (exit 2), nothing computed
    execute(spec, Path("out.zarr"), Placement(workers=4), StoreRules(resume=True), progress=True)

``execute`` checks the output path and the resources before anything is written, says on stderr what the
run will do and how long it should take, runs it (``synsweep.sweeps.runner``), prints a summary line and
writes the requested figures. Failures become the command line's exits (``synsweep.workflows.exits``): a
user error (2), failed chunks or a full disk (3, what was computed is kept), Ctrl-C (130).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import click

from .describe import start_line, summary_line
from .exits import PROG, Incomplete, Interrupted, fail, paragraph, user_errors
from .options import StoreRules, check_output, quiet

#: set by the ``synsweep`` script (``cli.console_main``): this process is the command's own, so a run's local
#: cluster may start its workers' fork server before the store is checked (``start_local_workers_early``)
OWN_PROCESS = False
#: set once ``execute`` runs: every file the command writes is then closed when it returns (the store's writes,
#: the figures), so its process may end without the interpreter's teardown (``cli.console_main``)
RAN = False
PACKAGED_SPECS = "specs"
DEMO_SPEC = "coupling_scan.yaml"
DEMO_SPEC_SMALL = "coupling_scan_small.yaml"


@dataclass(frozen=True)
class Placement:
    """Where a run's tasks run: on a running ``scheduler``, as batch jobs (``cluster``: a
    ``synsweep.sweeps.clusters.JobConfig``), or on a local cluster of ``workers`` processes that the runner
    starts when it has tasks to send; ``security``: the ``distributed.Security`` of any of them."""

    scheduler: str | None = None
    workers: int | None = None
    cluster: Any = None
    security: Any = None


def start_local_workers_early(spec: Any, where: Placement, out: Path, rules: StoreRules) -> None:
    """In the command's own process (``OWN_PROCESS``), for a run on a local cluster: start its workers' fork
    server (``synsweep.sweeps.forkserver``) as soon as the spec is valid, so that the server imports the task code
    and loads the kernels while this process checks the store, starts the scheduler and writes the template. Not
    for an output that exists without --resume or --overwrite (the run refuses it); a command that
    stops before its run kills the server as it exits."""
    if not (OWN_PROCESS and where.scheduler is None and where.cluster is None and spec.device == "cpu"):
        return
    if "://" not in str(out) and out.exists() and not (rules.resume or rules.overwrite):
        return
    from synsweep.sweeps.forkserver import start_fork_server
    from synsweep.sweeps.plan import task_plan

    start_fork_server(task_plan(spec).kernels)


def packaged_spec(name: str) -> Path:
    """Path of a spec shipped with the package (``synsweep/workflows/specs/<name>``)."""
    ref = resources.files("synsweep.workflows").joinpath(PACKAGED_SPECS, name)
    if not ref.is_file():
        fail(f"the packaged spec {name!r} is missing from the installation; reinstall synsweep "
             "(pip install -e .) so that its package data (workflows/specs/*.yaml) is installed.")
    return Path(str(ref))


def load(spec_path: str | Path, chunk_points: int | None = None, device: str | None = None) -> Any:
    """Load and validate a spec file, reporting every user mistake as a ``UserError``; ``chunk_points`` and
    ``device`` replace the spec's ``execution`` values (--chunk-points, --device)."""
    from synsweep.sweeps.spec import load_spec

    path = Path(spec_path)
    if not path.exists():
        fail(f"spec file {str(path)!r} does not exist; check the path (packaged specs are in "
             f"{packaged_spec(DEMO_SPEC).parent}).")
    if not path.is_file():
        fail(f"spec path {str(path)!r} is not a file; give the path of a YAML sweep spec.")
    try:
        spec = load_spec(path)
    except user_errors() as exc:
        fail(exc)
    if chunk_points is not None:
        document = dict(spec.document)
        document["execution"] = {**dict(document.get("execution") or {}), "chunk_points": chunk_points}
        spec = dataclasses.replace(spec, chunk_points=chunk_points, document=document, chunk_points_given=True)
    if device is not None and device != spec.device:
        from synsweep.sweeps.chunks import DEVICE_CHUNK_POINTS

        document = dict(spec.document)
        document["execution"] = {**dict(document.get("execution") or {}), "device": device}
        spec = dataclasses.replace(spec, device=device, document=document, chunk_points=spec.chunk_points
                                   if spec.chunk_points_given else DEVICE_CHUNK_POINTS[device])
    return spec


def check_resources(spec: Any, out: Path) -> None:
    """Refuse a sweep whose output does not fit on the disk at ``out``, or whose chunk does not fit in memory."""
    from synsweep.sweeps.spec.sizing import check_resources as check

    try:
        check(spec, str(out))
    except user_errors() as exc:
        fail(exc)


def check_out_path(out: Path) -> None:
    """Refuse a store --out that cannot be written, before anything is computed (``location.unwritable``: a
    path below a regular file, a read-only file system, a folder this user may not write to). An existing
    store is left to the store rules (--resume, --overwrite); an object-storage URL is reached once
    (credentials, endpoint and bucket)."""
    if "://" in str(out):
        try:
            out.exists()  # reaches the object store: credentials, endpoint and bucket are checked now
        except user_errors() as exc:
            fail(exc)
        return
    if out.is_dir():
        return
    check_output(out, "--out", folder=True)


def _chunks_done(out: Path) -> tuple[int, int] | None:
    """(sweep chunks marked done, sweep chunks in all) of the store at ``out``; None when it is not a store."""
    from synsweep.sweeps.store import META_GROUP, ZARR_FORMAT, done_chunks, is_store

    if not is_store(out):
        return None
    try:
        import zarr

        total = int(zarr.open_group(out / META_GROUP, mode="r", zarr_format=ZARR_FORMAT).attrs["n_chunks"])
    except Exception:  # noqa: BLE001 - only for a message
        return None
    return len([c for c in done_chunks(out) if c != "traces"]), total


def _disk_error(exc: OSError, out: Path) -> NoReturn:
    """A write to the store failed in the operating system: one paragraph, exit 3 (a full disk: the finished
    chunks are kept, and --resume after freeing space finishes the run) or 2 (a path that cannot be written)."""
    import errno

    where = f"{exc.filename}: " if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        progress = _chunks_done(out)
        if progress is None:
            kept = " nothing was stored (the store was not created);"
        else:
            kept = f" {progress[0]:,} of {progress[1]:,} chunks are stored and kept;"
        raise Incomplete(paragraph(
            f"the disk of {out} is full ({where}{exc.strerror}):{kept} free some space (or raise the quota) "
            "and run the same command with --resume to compute the rest.")) from None
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR):
        fail(f"cannot write the result to {out} ({where}{exc.strerror}); give an --out path on a writable disk.")
    raise exc


def check_plottable(spec: Any, plot: Path) -> None:
    """Refuse ``--plot`` before computing anything when the result could not be drawn."""
    if plot.suffix.lower() != ".png":
        fail(f"--plot {str(plot)!r}: the figure is written as PNG; give a file name ending in .png.")
    if "pearson" not in spec.metrics:
        fail("--plot draws the Pearson r of the neuron pair, but the spec's metrics do not include "
             "'pearson'; add it to metrics or leave out --plot.")
    if not spec.circuit.pair_list:
        fail("--plot draws the Pearson r of a neuron pair, but the circuit has no pair; leave out --plot.")
    if len(spec.dims) not in (1, 2):
        fail(f"--plot draws a heatmap over two sweep dims (or a line over one); the spec has "
             f"{len(spec.dims)} ({', '.join(d.name for d in spec.dims) or 'none'}); leave out --plot and "
             "use synsweep.workflows.plots with a selection instead.")
    check_output(plot, "--plot")


def write_plot(ds: Any, plot: Path) -> list[Path]:
    """The spec's standard figure: a heatmap over two sweep dims, or a line over one."""
    from synsweep.workflows.plots import sync_heatmap, sync_vs_coupling
    from synsweep.workflows.selection import sweep_dims

    if len(sweep_dims(ds)) >= 2:
        return [sync_heatmap(ds, plot)]
    return [sync_vs_coupling(ds, plot)]


@contextlib.contextmanager
def connected(where: Placement, out: Path | None = None) -> Iterator[Any]:
    """The client of a running scheduler or of batch jobs, connected before anything is written (a wrong
    address leaves no store behind, a refused job nothing at all); None for a local cluster, which the runner
    starts when it has tasks to send. Batch jobs write their logs and certificates next to ``out``."""
    if where.scheduler is None and where.cluster is None:
        yield None
        return
    from synsweep.sweeps.client import open_client

    if where.cluster is not None:
        click.echo(f"submitting {where.cluster.describe()}", err=True)
    shared = out.absolute().parent if isinstance(out, Path) else Path.cwd()  # job logs, temporary files
    with contextlib.ExitStack() as stack:
        try:
            client = stack.enter_context(open_client(scheduler=where.scheduler, cluster=where.cluster,
                                                     security=where.security, shared_directory=shared))
        except user_errors() as exc:  # an unreachable scheduler, a job the batch system refused: nothing written
            fail(exc)
        yield client


def execute(spec: Any, out: Path, where: Placement, rules: StoreRules, *, progress: bool,
            plots: Sequence[tuple[str, Path]] = ()) -> None:
    """Run ``spec`` into ``out`` and write the requested figures (``plots``: (kind, path), kind 'standard',
    'heatmap' or 'lines'); every failure becomes a click exception.

    Prints to stderr what the run will do and its expected time before starting, and to stdout a summary."""
    global RAN
    RAN = True
    rules.check()
    check_out_path(out)
    check_resources(spec, out)
    from synsweep.sweeps.dashboard import LOGGER as DASHBOARD
    from synsweep.sweeps.interrupts import Terminated, interruptible

    try:
        with interruptible(), _echoed(DASHBOARD):
            start_local_workers_early(spec, where, out, rules)
            report = _run(spec, out, where, rules, progress)
    except KeyboardInterrupt as stop:
        terminated = isinstance(stop, Terminated)
        word = "terminated (SIGTERM)" if terminated else "interrupted"
        progress_made = _chunks_done(out)
        if progress_made is None:
            raise Interrupted(f"{word} before any chunk was stored (nothing was kept); run the same command "
                              "again to start the sweep.", terminated) from None
        raise Interrupted(f"{word}: {progress_made[0]:,} of {progress_made[1]:,} chunks done; run the same "
                          "command with --resume to finish.", terminated) from None
    click.echo(summary_line(out, report, rules.extend))
    if not plots:
        return
    from synsweep.sweeps import open_result
    from synsweep.workflows.plots import sync_heatmap, sync_vs_coupling

    ds = open_result(out)
    for kind, path in plots:
        if kind == "standard":
            written = write_plot(ds, path)
        elif kind == "heatmap":
            written = [sync_heatmap(ds, path)]
        else:
            written = [sync_vs_coupling(ds, path)]
        for p in written:
            click.echo(f"wrote {p}")


def _run(spec: Any, out: Path, where: Placement, rules: StoreRules, progress: bool) -> Any:
    """The run of ``execute``: the client, the runner, its failures as click exceptions; the runner's report."""
    from synsweep.sweeps import SweepIncomplete, runner
    from synsweep.sweeps.interrupts import restore_handler

    with connected(where, out) as client:
        restore_handler()  # starting batch jobs imports dask-jobqueue, which replaces the SIGINT handler
        cluster = where.cluster
        n_workers = (sum(client.nthreads().values()) if client is not None else 0) or (
            cluster.jobs * cluster.cores if cluster is not None else (where.workers or os.cpu_count() or 1))
        try:
            report = runner.execute(spec, out, client=client, workers=where.workers, resume=rules.resume,
                                    overwrite=rules.overwrite, progress=progress, extend=rules.extend,
                                    on_start=lambda start: _announce(spec, start, n_workers, rules.extend),
                                    security=where.security)
            runner.raise_if_incomplete(report, spec)
        except SweepIncomplete as exc:
            full = next((e for _, e in exc.failures if "[Errno 28]" in e or "[Errno 122]" in e), None)
            if full is not None:
                _disk_error(OSError(28, f"a task failed with {full}"), out)
            raise Incomplete(paragraph(exc)) from None
        except user_errors() as exc:
            fail(exc)
        except OSError as exc:
            _disk_error(exc, out)
    return report


class _EchoHandler(logging.Handler):
    """A log record as one ``synsweep: MESSAGE`` line on stderr (click's, so CliRunner captures it too)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"{PROG}: {record.getMessage()}", err=True)


@contextlib.contextmanager
def _echoed(logger: logging.Logger) -> Iterator[None]:
    """``logger``'s INFO messages on stderr while the block runs (nothing with --quiet)."""
    if quiet():
        yield
        return
    handler, level = _EchoHandler(logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _announce(spec: Any, start: Any, workers: int, extend: Path | None) -> None:
    """Say on stderr what the run will do and how long it should take; nothing with --quiet."""
    if quiet():
        return
    line = start_line(spec, start, workers, extend)
    if line is not None:
        click.echo(f"{PROG}: {line}", err=True)
