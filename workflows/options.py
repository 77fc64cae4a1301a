"""The options that several ``synsweep`` commands take, each defined once.

    @click.command()
    @SPEC_ARG
    @out_option(STORE, "RESULT.zarr", "Zarr store to write ...", required=True)
    @SCHEDULER
    @WORKERS
    @NO_PROGRESS
    @BATCH_JOB_OPTIONS            # --cluster --jobs --cluster-config --lifetime --lifetime-stagger -> batch
    @TLS_OPTIONS                  # --security --tls-ca-file --tls-cert --tls-key                   -> tls
    def run(spec, out, scheduler, workers, no_progress, batch: BatchJobOptions, tls: TlsOptions): ...

A group of options (``option_group``) reaches the command as one object whose fields are the options'
parameter names, so the names of the options, and of their environment variables (SYNSWEEP_RUN_JOBS), stay
those of the single options. The group's object turns its values into what the sweeps take (a
``JobConfig``, a ``distributed.Security``), refusing combinations that do not go together as user errors.
``quiet()`` tells a command whether the group was given --quiet.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .exits import fail, user_errors
from .store_param import STORE

FILE = click.Path(dir_okay=False, path_type=Path)
FOLDER = click.Path(file_okay=False, path_type=Path)

SPEC_ARG = click.argument("spec", type=FILE)
RESULT_ARG = click.argument("result", type=STORE, metavar="RESULT.zarr")
SCHEDULER = click.option("--scheduler", metavar="ADDRESS", help="Address of a running dask scheduler "
                         "(tcp://host:8786); default: start a local cluster.")
WORKERS = click.option("--workers", type=click.IntRange(min=1), metavar="N",
                       help="Worker processes of the local cluster (default: one per core).")
NO_PROGRESS = click.option("--no-progress", is_flag=True, help="No progress bar.")
DEVICE = click.option("--device", type=click.Choice(["cpu", "cuda"]),
                      help="Where the kernels run (overrides the spec's execution.device): cpu, or cuda (an NVIDIA "
                      "GPU per worker; pip install 'synsweep[cuda]').")


def quiet() -> bool:
    """Whether the ``synsweep`` group, of the command running now, was given --quiet (or SYNSWEEP_QUIET)."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and bool(ctx.find_root().params.get("quiet"))


def check_output(path: Path, option: str, folder: bool = False) -> None:
    """Refuse an output that cannot be written (``synsweep.sweeps.location.unwritable``) as a user error
    naming ``option``."""
    from synsweep.sweeps.location import unwritable

    problem = unwritable(path, folder)
    if problem:
        fail(f"{option} {str(path)!r}: {problem}; give a path in a folder you can write to (your home or "
             "scratch folder).")


def out_option(kind: click.ParamType, metavar: str, help: str, **attrs: Any) -> Callable:
    """``--out`` / ``-o``: what a command writes (``kind``: STORE, FILE or FOLDER)."""
    return click.option("--out", "-o", type=kind, metavar=metavar, help=help, **attrs)


def overwrite_option(help: str) -> Callable:
    """``--overwrite``: compute again what is already stored (``help`` says what for this command)."""
    return click.option("--overwrite", is_flag=True, help=help)


def small_option(help: str) -> Callable:
    """``--small``: the small configuration of a packaged sweep or workflow."""
    return click.option("--small", is_flag=True, help=help)


def scheduler_or_workers(scheduler: str | None, workers: int | None) -> None:
    """Refuse --scheduler with --workers: the second sizes a local cluster that the first rules out."""
    if scheduler is not None and workers is not None:
        fail("--workers sizes the local cluster that synsweep starts; with --scheduler the workers are those of "
             "the running cluster. Give one of the two.")


def option_group(name: str, cls: type, *options: Callable) -> Callable[[Callable], Callable]:
    """Apply the click ``options`` (in the order --help lists them) and hand the command their values as one
    ``cls`` in its keyword ``name``; the fields of the dataclass ``cls`` are the options' parameter names."""
    fields = [f.name for f in dataclasses.fields(cls)]

    def decorate(command: Callable) -> Callable:
        @functools.wraps(command)
        def grouped(*args: Any, **kwargs: Any) -> Any:
            kwargs[name] = cls(**{f: kwargs.pop(f) for f in fields})
            return command(*args, **kwargs)

        for option in reversed(options):
            grouped = option(grouped)
        return grouped

    return decorate


@dataclass(frozen=True)
class StoreRules:
    """What to do with a store that exists: keep it and compute what is missing (``resume``), delete it
    (``overwrite``); ``extend``: an older store of the sweep with fewer axis values to copy points from."""

    resume: bool = False
    overwrite: bool = False
    extend: Path | None = None

    def check(self) -> None:
        if self.resume and self.overwrite:
            fail("--resume and --overwrite contradict each other: --resume keeps the store and computes what "
                 "is missing, --overwrite deletes it and starts again; give one of them.")


STORE_RULES = option_group(
    "rules", StoreRules,
    click.option("--resume", is_flag=True, help="Keep an existing store of the same spec; compute what is missing."),
    overwrite_option("Delete an existing store and start again."),
    click.option("--extend", type=STORE, metavar="OLD.zarr", help="A result of this sweep with fewer axis values: "
                 "copy its points, compute only the new ones."),
)


@dataclass(frozen=True)
class BatchJobOptions:
    """--cluster and the options of its batch jobs, as given."""

    cluster: str | None
    jobs: int | None
    cluster_config: Path | None
    lifetime: str | None
    lifetime_stagger: str | None

    def job_config(self, spec: Any, scheduler: str | None, workers: int | None) -> Any:
        """The checked ``synsweep.sweeps.clusters.JobConfig`` (None without --cluster); refuses options that
        do not go together."""
        options = {"--jobs": self.jobs, "--cluster-config": self.cluster_config, "--lifetime": self.lifetime,
                   "--lifetime-stagger": self.lifetime_stagger}
        given = [name for name, value in options.items() if value is not None]
        if self.cluster is None:
            if given:
                fail(f"{given[0]} sets up the batch jobs of --cluster; give --cluster slurm or --cluster pbs, or "
                     f"leave out {given[0]}.")
            return None
        if scheduler is not None or workers is not None:
            other = "--scheduler" if scheduler is not None else "--workers"
            fail(f"--cluster {self.cluster} starts its own scheduler and its workers as batch jobs; {other} does "
                 f"not go with it. Give one of the two (--jobs N sets the number of batch jobs).")
        from synsweep.sweeps.clusters import job_config

        try:
            return job_config(self.cluster, spec, config_file=self.cluster_config, jobs=self.jobs,
                              lifetime=self.lifetime, lifetime_stagger=self.lifetime_stagger)
        except user_errors() as exc:
            fail(exc)


BATCH_JOB_OPTIONS = option_group(
    "batch", BatchJobOptions,
    click.option("--cluster", type=click.Choice(["slurm", "pbs"]), help="Start the workers as batch jobs of this "
                 "batch system (dask-jobqueue), with the resources of the spec's execution.resources or "
                 "--cluster-config."),
    click.option("--jobs", type=click.IntRange(min=1), metavar="N", help="Batch jobs to keep running (--cluster)."),
    click.option("--cluster-config", type=FILE, metavar="FILE", help="YAML file of job resources: cores, memory, "
                 "walltime, queue, account, ... (--cluster)."),
    click.option("--lifetime", metavar="DURATION", help="Workers retire after this long, before the walltime, "
                 "and their jobs are replaced (e.g. 50m; default: 10% of the walltime before it)."),
    click.option("--lifetime-stagger", metavar="DURATION", help="Workers retire at the lifetime plus or minus a "
                 "random part of this, so that they do not all retire at once (e.g. 4m)."),
)


@dataclass(frozen=True)
class TlsOptions:
    """The TLS options, as given."""

    security: str | None
    tls_ca_file: str | None
    tls_cert: str | None
    tls_key: str | None

    def security_for(self, scheduler: str | None) -> Any:
        """The ``distributed.Security`` of these options, for a run on ``scheduler`` (None: a cluster synsweep
        starts, whose scheduler and workers get the certificate too); without them, of dask's own TLS settings
        for a ``tls://`` scheduler (``distributed.comm.tls`` in dask's config or DASK_* variables), else None."""
        from synsweep.sweeps.security import dask_tls_configured, is_tls_address, load_security

        if self == TlsOptions(None, None, None, None):
            if scheduler is None or not is_tls_address(scheduler) or not dask_tls_configured():
                return None

        auto = self.security == "auto"
        if auto and scheduler is not None:
            fail("--security auto makes a certificate for a scheduler synsweep starts itself; a running scheduler "
                 "at --scheduler has its own CA: give its certificates (--tls-ca-file, --tls-cert, --tls-key).")
        try:
            return load_security(None if auto else self.security, ca_file=self.tls_ca_file, cert=self.tls_cert,
                                 key=self.tls_key, auto=auto, server=scheduler is None)
        except user_errors() as exc:
            fail(exc)


TLS_OPTIONS = option_group(
    "tls", TlsOptions,
    click.option("--security", metavar="FILE|auto", help="TLS: a dask config file with distributed.comm.tls, or "
                 "'auto' for a throwaway certificate (local cluster or --cluster)."),
    click.option("--tls-ca-file", metavar="PEM", help="TLS: certificate of the CA that signed every certificate."),
    click.option("--tls-cert", metavar="PEM", help="TLS: this node's certificate."),
    click.option("--tls-key", metavar="PEM", help="TLS: the private key of --tls-cert."),
)
