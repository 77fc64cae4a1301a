"""Workers as batch jobs: SLURM and PBS through dask-jobqueue.

    config = job_config("slurm", spec, config_file="cluster.yaml", jobs=4)   # validated, nothing submitted
    with batch_client(config) as client:                                   # jobs submitted, kept at 4
        run_sweep(spec, "scan.zarr", client=client)
    # leaving the block cancels the jobs

Resources of one job (``RESOURCE_KEYS``) come from, lowest precedence first: the spec's
``execution.resources``, the ``--cluster-config`` YAML file (the same keys), the command-line options
(``--jobs``, ``--lifetime``, ``--lifetime-stagger``). Each job runs ``cores`` worker processes with one thread
each and ``memory / cores`` of memory each. Every value is checked, and the job as a whole (memory for one
task, worker lifetime against the walltime, the submit command, the network interface) before any job is
submitted; a mistake raises ``ClusterConfigError`` (a ``SpecError``) naming the source and the field.

Walltime: a worker retires after ``lifetime`` give or take ``lifetime_stagger`` (dask's ``--lifetime`` and
``--lifetime-stagger``: uniform in lifetime +- stagger), before its job's walltime: its running task is
handed to another worker and the job ends cleanly. ``JobKeeper`` then submits a replacement job, so the
number of jobs stays at ``jobs`` until the sweep ends (dask-jobqueue's own ``adapt`` does not resubmit
retired jobs: dask/dask-jobqueue#691).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from math import ceil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .compat import drop_job, submit_jobs_now
from .dashboard import announce, dashboard_address
from .errors import SpecError, format_bytes, listing, show, suggestion
from .interrupts import interrupt_deferred
from .monitors import quiet_monitors, worker_environment

if TYPE_CHECKING:
    from distributed import Client, Security

    from .model import SweepSpec

__all__ = ["KINDS", "RESOURCE_KEYS", "ClusterConfigError", "JobConfig", "JobKeeper", "batch_client",
           "job_config", "parse_resources", "read_config_file"]

#: Batch systems ``--cluster`` accepts, with their submit command.
KINDS = {"slurm": "sbatch", "pbs": "qsub"}
_NAMES = {"slurm": "SLURM", "pbs": "PBS"}
RESOURCE_KEYS = ("cores", "memory", "walltime", "queue", "account", "jobs", "lifetime", "lifetime_stagger",
                 "interface", "local_directory", "log_directory", "python", "job_extra_directives",
                 "job_script_prologue")
REQUIRED_KEYS = ("cores", "memory")
DEFAULT_WALLTIME = 3600  # s
MIN_WALLTIME = 120  # s: a job must at least start its workers and run a task
WORKER_BASE_BYTES = 384 * 2**20  # a worker process with synsweep loaded (measured ~275 MiB), plus headroom
MEMORY_TARGET = 0.8  # dask pauses a worker above this fraction of its memory limit
#: A worker retiring at its lifetime cancels its running task, and the scheduler may count that against the
#: task's allowed failures (3 by default, then KilledWorker); routine retirements must not exhaust them.
ALLOWED_FAILURES = 10
EXAMPLE = "execution: {resources: {cores: 8, memory: 16GB, walltime: '02:00:00', queue: normal}}"
_WALLTIME = re.compile(r"^(?:(\d+)-)?(\d+):([0-5]\d):([0-5]\d)$")
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d*)?)\s*([dhms])")
_COMPOUND = re.compile(r"(?:\d+(?:\.\d*)?\s*[dhms]\s*)+")
_OPTIONS = {"jobs": "--jobs", "lifetime": "--lifetime", "lifetime_stagger": "--lifetime-stagger"}


class ClusterConfigError(SpecError):
    """A mistake in a job's resources, named by where it was given (spec, config file or option)."""


@dataclass(frozen=True)
class Source:
    """Where resource values come from: names a key as the user wrote it in that place."""

    label: str  # "spec field", "cluster config 'x.yaml' field", "option"
    prefix: str = ""  # "execution.resources." for the spec

    def name(self, key: str) -> str:
        if not key:
            return self.prefix.rstrip(".") or "(top level)"
        if self.label == "option":
            return _OPTIONS.get(key, "--" + key.replace("_", "-"))
        return self.prefix + key

    def error(self, key: str, problem: str, fix: str) -> ClusterConfigError:
        return ClusterConfigError(self.name(key), problem, fix, where=self.label)


SPEC = Source("spec field", "execution.resources.")
OPTION = Source("option")


def file_source(path: str | os.PathLike) -> Source:
    return Source(f"cluster config {os.fspath(path)!r} field")


# -- parsing one source ------------------------------------------------------------------------------------
def _bytes(value: Any) -> int | None:
    from dask.utils import parse_bytes

    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(parse_bytes(str(value)))
    except (ValueError, TypeError):
        return None


def _seconds(value: Any) -> float | None:
    """Seconds of a duration: a number (seconds), HH:MM:SS, '1h30m', '90s', '50 minutes' (dask's forms)."""
    from dask.utils import parse_timedelta

    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().lower()
    walltime = _walltime(text)
    if walltime is not None:
        return float(walltime)
    if _COMPOUND.fullmatch(text):
        return float(sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text)))
    try:
        return float(parse_timedelta(text, default="s"))
    except (ValueError, TypeError, KeyError):
        return None


def _walltime(value: Any) -> int | None:
    """Seconds of a walltime: 'HH:MM:SS', 'D-HH:MM:SS', or an int (seconds; YAML reads 2:00:00 as 7200)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    match = _WALLTIME.match(str(value).strip())
    if match is None:
        return None
    days, h, m, s = (int(g or 0) for g in match.groups())
    return ((days * 24 + h) * 60 + m) * 60 + s


def hms(seconds: float) -> str:
    """``seconds`` as H:MM:SS (hours may exceed 24), the walltime form both SLURM and PBS accept."""
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _text(value: Any, source: Source, key: str, fix: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise source.error(key, f"must be a non-empty text, got {show(value)}", fix)
    return value.strip()


def _lines(value: Any, source: Source, key: str, fix: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise source.error(key, f"must be a list of non-empty texts, got {show(value)}", fix)
    return [v.strip() for v in value]


def _count(value: Any, source: Source, key: str, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise source.error(key, f"must be a whole number >= 1, got {show(value)}", fix)
    return value


def parse_resources(raw: Any, source: Source) -> dict[str, Any]:
    """The resource settings of one source, checked one by one and normalised (JSON-serialisable).

    Keys may be written with '-' or '_' (dask-jobqueue's YAML uses '-'). Raises ``ClusterConfigError``.
    """
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise source.error("", "must be a mapping of "
                           f"resource settings, got {show(raw)}", f"write it as a mapping, e.g. {EXAMPLE}")
    out: dict[str, Any] = {}
    for given, value in raw.items():
        key = str(given).replace("-", "_")
        if key not in RESOURCE_KEYS:
            raise source.error(str(given), "is not a resource setting", suggestion(key, RESOURCE_KEYS))
        if value is None:
            continue
        if key in ("cores", "jobs"):
            what = "cores per job (worker processes, one thread each)" if key == "cores" else "jobs to keep"
            out[key] = _count(value, source, key, f"give the number of {what}, e.g. {key}: 4")
        elif key == "memory":
            n = _bytes(value)
            if n is None or n <= 0:
                raise source.error(key, f"is not an amount of memory: {show(value)}",
                                   "give the memory of one job with a unit, e.g. memory: 16GB (or 16GiB)")
            out[key] = value if isinstance(value, str) else f"{n}B"
        elif key == "walltime":
            seconds = _walltime(value)
            if seconds is None:
                raise source.error(key, f"is not a walltime: {show(value)}",
                                   "give it as HH:MM:SS or D-HH:MM:SS in quotes, e.g. walltime: '02:00:00'")
            if seconds < MIN_WALLTIME:
                raise source.error(key, f"{hms(seconds)} is too short for a job to start its workers and run "
                                        "tasks", f"give at least {hms(MIN_WALLTIME)}, e.g. walltime: '01:00:00' "
                                                 "(a bare number is read as seconds)")
            out[key] = hms(seconds)
        elif key in ("lifetime", "lifetime_stagger"):
            seconds = _seconds(value)
            if seconds is None or seconds < 0 or (key == "lifetime" and seconds == 0):
                raise source.error(key, f"is not a duration: {show(value)}",
                                   f"give a duration such as 50m, 1h30m or 90s, e.g. {key}: 50m")
            out[key] = seconds
        elif key in ("job_extra_directives", "job_script_prologue"):
            example = ("job_extra_directives: ['--constraint=haswell']" if key == "job_extra_directives"
                       else "job_script_prologue: ['module load python', 'source ~/venvs/synsweep/bin/activate']")
            out[key] = _lines(value, source, key, f"give a list of lines, e.g. {example}")
        else:
            examples = {"queue": "queue: normal", "account": "account: proj123", "interface": "interface: ib0",
                        "local_directory": "local_directory: $TMPDIR", "log_directory": "log_directory: logs",
                        "python": "python: /opt/venvs/synsweep/bin/python"}
            out[key] = _text(value, source, key, f"give it as text, e.g. {examples[key]}")
    return out


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The resource settings in a ``--cluster-config`` YAML file (a mapping of ``RESOURCE_KEYS``)."""
    path = Path(path)
    source = file_source(path)
    if not path.is_file():
        raise ClusterConfigError(os.fspath(path), "does not exist or is not a file",
                                 "give the path of a YAML file of job resources (examples in deploy/slurm/ and "
                                 "deploy/pbs/)", where="cluster config file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ClusterConfigError(os.fspath(path), f"is not valid YAML{at}: {getattr(exc, 'problem', exc)}",
                                 "fix the syntax there (indentation, a missing colon, an unclosed quote)",
                                 where="cluster config file") from None
    if raw is None:
        raise ClusterConfigError(os.fspath(path), "is empty", "give the job resources, e.g. cores: 8, "
                                 "memory: 16GB, walltime: '02:00:00'", where="cluster config file")
    return parse_resources(raw, source)


# -- one job, all sources merged -------------------------------------------------------------------------
@dataclass(frozen=True)
class JobConfig:
    """Everything needed to submit the worker jobs of one run (validated by ``job_config``)."""

    kind: str  # 'slurm' or 'pbs'
    jobs: int
    cores: int  # worker processes per job, one thread each
    memory: str  # per job, as given
    memory_bytes: int
    walltime_seconds: int
    lifetime_seconds: float
    stagger_seconds: float
    queue: str | None = None
    account: str | None = None
    interface: str | None = None
    local_directory: str | None = None
    log_directory: str | None = None
    python: str = sys.executable
    job_extra_directives: tuple[str, ...] = ()
    job_script_prologue: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)  # exported at the top of each job script
    gpu: bool = False  # execution.device cuda: one worker per job, holding the job's GPU (dask resource GPU)

    def cluster_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of dask-jobqueue's ``SLURMCluster`` / ``PBSCluster`` for these jobs. With ``gpu``,
        each job runs one worker that advertises the dask resource ``GPU``; a SLURM job asks for one GPU
        (``--gres=gpu:1``), a PBS job as the site's ``job_extra_directives`` say (GPU requests differ by site)."""
        exports = [f"export {k}={shlex.quote(v)}" for k, v in self.environment.items()]
        kwargs: dict[str, Any] = {
            "cores": self.cores, "processes": self.cores, "memory": self.memory,
            "walltime": hms(self.walltime_seconds), "queue": self.queue, "account": self.account,
            "interface": self.interface, "local_directory": self.local_directory,
            "log_directory": self.log_directory, "python": self.python, "job_name": "synsweep-worker",
            "job_extra_directives": list(self.job_extra_directives),
            "job_script_prologue": exports + list(self.job_script_prologue),
            "worker_extra_args": ["--lifetime", f"{self.lifetime_seconds:.0f}s",
                                  "--lifetime-stagger", f"{self.stagger_seconds:.0f}s"],
            "scheduler_options": {"dashboard_address": dashboard_address()},  # with bokeh: on 127.0.0.1
        }
        if self.gpu:
            kwargs["processes"] = 1
            kwargs["worker_extra_args"] += ["--resources", "GPU=1"]
            if self.kind == "slurm":
                kwargs["job_extra_directives"].append("--gres=gpu:1")
        return kwargs

    def describe(self) -> str:
        """One line for the user: what is submitted."""
        where = "".join(f", {k} {v}" for k, v in (("queue", self.queue), ("account", self.account)) if v)
        gpu = " and a GPU" if self.gpu else ""
        return (f"{self.jobs} {_NAMES[self.kind]} job(s) of {self.cores} core(s){gpu}, "
                f"{format_bytes(self.memory_bytes)}, "
                f"walltime {hms(self.walltime_seconds)}{where}; workers retire after "
                f"{hms(self.lifetime_seconds)} +- {hms(self.stagger_seconds)} and their jobs are replaced")


def default_lifetime(walltime: float, stagger: float | None = None) -> tuple[float, float]:
    """(lifetime, stagger) for a walltime: the stagger is 5% of it (at most 5 min) unless given; a margin of
    10% (at least 1 min, at most 15 min) is left for the job to start and the retiring worker to hand over."""
    if stagger is None:
        stagger = min(0.05 * walltime, 300.0)
    margin = min(max(0.1 * walltime, 60.0), 900.0)
    return walltime - margin - stagger, stagger


def _interfaces() -> list[str]:
    import psutil

    return sorted(psutil.net_if_addrs())


def job_config(kind: str, spec: SweepSpec | None = None, *, config_file: str | os.PathLike | None = None,
               jobs: int | None = None, lifetime: str | float | None = None,
               lifetime_stagger: str | float | None = None, check_submit: bool = True) -> JobConfig:
    """Merge and check the job resources for ``kind`` ('slurm' or 'pbs'); submits nothing.

    Raises ``ClusterConfigError`` for a bad or missing value, a lifetime that does not end before the
    walltime, memory too small for one task of ``spec``, an unknown network interface, or (when
    ``check_submit``) a submit command (sbatch, qsub) that is not on PATH or dask-jobqueue not installed.
    """
    if kind not in KINDS:
        raise OPTION.error("cluster", f"{show(kind)} is not a batch system synsweep submits to",
                           f"use one of: {listing(KINDS)}")
    layers: list[tuple[Source, dict[str, Any]]] = []
    if spec is not None:
        layers.append((SPEC, parse_resources(spec.document.get("execution", {}).get("resources"), SPEC)))
    if config_file is not None:
        layers.append((file_source(config_file), read_config_file(config_file)))
    options = {"jobs": jobs, "lifetime": lifetime, "lifetime_stagger": lifetime_stagger}
    layers.append((OPTION, parse_resources({k: v for k, v in options.items() if v is not None}, OPTION)))
    values: dict[str, Any] = {}
    origin: dict[str, Source] = {}
    for source, settings in layers:
        for key, value in settings.items():
            values[key] = value
            origin[key] = source
    for key in REQUIRED_KEYS:
        if key not in values:
            raise ClusterConfigError(key, f"is not given: each {_NAMES[kind]} job needs its {key}",
                                     f"give it in the spec ({EXAMPLE}) or in a --cluster-config file "
                                     "(cores: 8, memory: 16GB, walltime: '02:00:00')", where="job resource")
    walltime = _walltime(values.get("walltime", DEFAULT_WALLTIME)) or DEFAULT_WALLTIME
    auto_lifetime, stagger = default_lifetime(walltime, values.get("lifetime_stagger"))
    life = values.get("lifetime", auto_lifetime)
    if life + stagger > walltime - 30 or life <= stagger:
        key = "lifetime" if "lifetime" in values else "lifetime_stagger"
        if life <= stagger:
            key = "lifetime_stagger" if "lifetime_stagger" in values else "lifetime"
            raise origin[key].error(key, f"a worker lives lifetime +- stagger, {hms(life)} +- {hms(stagger)}: the "
                                         "stagger must be shorter than the lifetime",
                                    "give a shorter lifetime_stagger or a longer lifetime (leave both out for "
                                    "defaults derived from the walltime)")
        raise origin[key].error(key, f"a worker may live up to {hms(life + stagger)} (lifetime {hms(life)} + "
                                     f"stagger {hms(stagger)}), but its job is killed at the walltime "
                                     f"{hms(walltime)}",
                                "make lifetime + lifetime_stagger at least 30 s shorter than the walltime (leave "
                                "both out: the defaults end 10% of it, 1 to 15 min, before), or ask for a longer "
                                "walltime")
    cores = values["cores"]
    memory_bytes = _bytes(values["memory"]) or 0
    if spec is not None:
        from .spec.sizing import estimate

        need = (WORKER_BASE_BYTES + estimate(spec)["chunk_bytes"]) / MEMORY_TARGET
        if memory_bytes / cores < need:
                raise origin["memory"].error(
                "memory", f"{values['memory']} per job leaves {format_bytes(memory_bytes // cores)} to each of "
                          f"its {cores} worker processes, but one needs about {format_bytes(int(need))} (the "
                          f"worker itself and one task of {spec.chunk_points} points)",
                f"give at least {format_bytes(int(ceil(need * cores)))} per job, fewer cores per job, or a "
                "smaller execution.chunk_points")
    interface = values.get("interface")
    if interface is not None and interface not in _interfaces():
        raise origin["interface"].error("interface", f"{interface!r} is not a network interface of this machine "
                                        "(the scheduler listens on it)",
                                        f"use one of: {listing(_interfaces())}, or leave it out")
    if check_submit:
        check_submit_command(kind)
    from synsweep.engine.kernels import cache_dir

    return JobConfig(
        kind=kind, jobs=values.get("jobs", 1), cores=cores, memory=str(values["memory"]),
        memory_bytes=memory_bytes, walltime_seconds=walltime, lifetime_seconds=life, stagger_seconds=stagger,
        queue=values.get("queue"), account=values.get("account"), interface=interface,
        local_directory=values.get("local_directory"), log_directory=values.get("log_directory"),
        python=values.get("python", sys.executable),
        job_extra_directives=tuple(values.get("job_extra_directives", ())),
        job_script_prologue=tuple(values.get("job_script_prologue", ())),
        environment={"NUMBA_NUM_THREADS": "1", "SYNSWEEP_CACHE_DIR": str(cache_dir().parent),
                     **worker_environment()},
        gpu=spec is not None and spec.device == "cuda",
    )


def check_submit_command(kind: str) -> None:
    """Raise ``ClusterConfigError`` unless dask-jobqueue is installed and ``kind``'s submit command runs here."""
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        raise OPTION.error("cluster", "needs the dask-jobqueue package, which is not installed",
                           "install it with: pip install 'synsweep[cluster]'") from None
    command = KINDS[kind]
    if shutil.which(command) is None:
        raise OPTION.error("cluster", f"{command} (the {_NAMES[kind]} submit command) is not on PATH here",
                           f"run synsweep on a login node of the {_NAMES[kind]} cluster, or load its module "
                           f"(e.g. module load {kind}) so that {command} works")


# -- running -------------------------------------------------------------------------------------------
class JobKeeper:
    """Keeps ``jobs`` batch jobs: a job whose workers all connected and have all left (lifetime reached,
    walltime, node failure) is dropped from the cluster's plan and a new job is submitted in its place."""

    def __init__(self, cluster: Any, jobs: int, interval_ms: int = 2000):
        from tornado.ioloop import PeriodicCallback

        self.cluster = cluster
        self.jobs = jobs
        self.seen: set[str] = set()  # jobs whose workers have connected
        self._callback = PeriodicCallback(self.check, interval_ms)

    def _job_of(self, worker_name: str) -> str:
        spec = self.cluster.worker_spec
        name = str(worker_name)
        return name if name in spec else name.rsplit("-", 1)[0]

    def check(self) -> None:
        """One pass (runs on the cluster's event loop)."""
        connected = {self._job_of(w["name"]) for w in self.cluster.scheduler_info.get("workers", {}).values()}
        self.seen |= connected & set(self.cluster.worker_spec)
        finished = [name for name in self.seen if name not in connected and name in self.cluster.worker_spec]
        for name in finished:
            self.seen.discard(name)
            drop_job(self.cluster, name)  # cancels the job if it is still there (its workers are gone)
        if finished:
            self.cluster.scale(jobs=self.jobs)

    def start(self) -> None:
        self.cluster.loop.add_callback(self._callback.start)

    def stop(self) -> None:
        self.cluster.loop.add_callback(self._callback.stop)


@contextlib.contextmanager
def batch_client(config: JobConfig, security: Security | None = None,
                 shared_temp_directory: str | os.PathLike | None = None) -> Iterator[Client]:
    """A client of a scheduler run here whose workers are ``config.jobs`` batch jobs, kept at that number;
    the jobs are cancelled when the block ends. With ``security`` the scheduler and workers talk TLS;
    certificates held in memory (``Security.temporary()``) are written for the jobs into
    ``shared_temp_directory`` (a directory the compute nodes see, readable by the user only)."""
    import warnings

    import dask
    import dask_jobqueue
    from distributed import Client

    cls = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}[config.kind]
    kwargs = config.cluster_kwargs()
    if security is not None:
        kwargs.update(security=security, protocol="tls://")
        if shared_temp_directory is not None:
            kwargs["shared_temp_directory"] = os.fspath(shared_temp_directory)
    allowed = max(int(dask.config.get("distributed.scheduler.allowed-failures")), ALLOWED_FAILURES)
    quiet = quiet_monitors()
    log_dir = Path(config.log_directory) if config.log_directory else None
    new_log_dir = log_dir is not None and not log_dir.exists()  # dask-jobqueue creates it with the cluster
    with warnings.catch_warnings(), dask.config.set({"distributed.scheduler.allowed-failures": allowed, **quiet}):
        warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
        cluster = cls(**kwargs)
    keeper = JobKeeper(cluster, config.jobs)
    refused = False
    try:
        try:
            submit_jobs_now(cluster, config.jobs)
        except RuntimeError as exc:
            refused = True
            raise submission_error(config.kind, str(exc)) from None
        keeper.start()
        with contextlib.ExitStack() as stack:
            with interrupt_deferred():  # a Ctrl-C while it connects: the client is closed, not left half-open
                client = stack.enter_context(Client(cluster, set_as_default=False))
            announce(client)
            yield client
    finally:
        keeper.stop()
        cluster.close()
        if refused and new_log_dir and log_dir.is_dir() and not any(log_dir.iterdir()):
            log_dir.rmdir()  # a refused submission leaves no empty log folder behind


def submission_error(kind: str, message: str) -> ClusterConfigError:
    """The batch system's refusal of a worker job (``message``: dask-jobqueue's report) as one paragraph."""
    stderr = message.split("stderr:", 1)[-1].strip() or message.strip()
    said = " / ".join(line.strip() for line in stderr.splitlines() if line.strip())
    return OPTION.error("cluster", f"{KINDS[kind]} refused the worker job, saying: "
                        f"{said if len(said) <= 400 else said[:397] + '...'}",
                        "correct what it names in the job resources (queue, account, cores, memory, walltime, "
                        "job_extra_directives: the spec's execution.resources or the --cluster-config file), or "
                        f"check that {KINDS[kind]} works on this machine")
