"""Running a sweep on dask.distributed: one task per chunk, each writing its own zarr region.

    ds = run_sweep(spec, "out.zarr")                       # embedded LocalCluster, one worker per core
    ds = run_sweep(spec, "out.zarr", scheduler="tcp://host:8786", resume=True)

Order of events: the driver writes the store's template (metadata, coordinates, attributes) before any
task runs; each task simulates its block, writes it as whole zarr chunks, then writes its completion
marker. A task that runs twice (its worker was lost after the write) rewrites identical bytes, so every
side effect is idempotent, and ``resume`` recomputes exactly the blocks without a marker. The driver
holds the store's run lock (``synsweep.sweeps.lock``) from before it changes the store to the end, and
records each failed block in the store (``.synsweep/failed``). With ``extend`` (``synsweep.sweeps.extend``)
a task copies the points an older store holds and computes only the others.

Determinism: the engine's lanes are independent and every lane runs through the same vector code, so a
point's values do not depend on the chunking, the worker that ran it, or which points share its block.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import numbers
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import prod
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr
from zarr.errors import ContainsArrayError, ContainsGroupError

from synsweep.engine import STATUS_DIVERGED, SimResult, simulate

from .chunks import ChunkPlan, describe_block, plan_chunks
from .client import GPU_RESOURCE, local_client, local_worker_count, open_client, silence_shutdown
from .continuation import run_branch
from .cost import record_speed, recorded_speed
from .damage import check_metadata
from .errors import SpecError
from .extend import ExtensionSource
from .forkserver import start_fork_server
from .interrupts import START_TIMEOUT_S
from .location import LocalLocation, Location, location, unwritable
from .lock import StoreLock, acquire, lease_seconds
from .model import SweepSpec
from .plan import TaskPlan, task_plan
from .result import open_result
from .store import (
    TRACES_ID,
    ZARR_FORMAT,
    StoreError,
    block_variables,
    clear_failed,
    create_store,
    done_chunks,
    failed_chunks,
    is_store,
    mark_done,
    mark_failed,
    point_arrays,
    record_name,
    remove_store,
    store_attrs,
    store_plan,
    store_shards,
    trace_arrays,
    write_block,
)

if TYPE_CHECKING:
    import xarray as xr
    from distributed import Client, Security

    from synsweep.engine.kernel import KernelKey


class SweepIncomplete(Exception):
    """Some chunks failed; the others are stored. ``failures`` lists ``(chunk_id, error text)``."""

    def __init__(self, message: str, failures: list[tuple[int | str, str]], report: RunReport):
        super().__init__(message)
        self.failures = failures
        self.report = report


@dataclass
class RunReport:
    """What one run did. ``computed`` and ``skipped`` hold chunk ids (``"traces"``: traced-points batch)."""

    out: str
    spec_hash: str
    n_chunks: int
    computed: list[int | str] = field(default_factory=list)
    skipped: list[int | str] = field(default_factory=list)
    failed: list[tuple[int | str, str]] = field(default_factory=list)
    n_points: int = 0  # points computed in this run (sweep chunks only)
    n_copied: int = 0  # points copied from the store a run extends
    n_diverged: int = 0
    task_seconds: float = 0.0  # sum over tasks
    kernel_seconds: float = 0.0
    compile_seconds: float = 0.0
    wall_seconds: float = 0.0
    hosts: set[str] = field(default_factory=set)  # where the sweep chunks ran
    levels: list[tuple[int, int]] = field(default_factory=list)  # refinement: (level, its points) run or done
    budget_stop: int | None = None  # refinement: the first level not run, its points over the budget


# -- the tasks (run on the workers) ------------------------------------------------------------------------
_SPECS: dict[str, SweepSpec] = {}  # per process: document text -> SweepSpec


def _materialise(payload: SweepSpec | dict) -> SweepSpec:
    """The SweepSpec a task was sent: as is, or rebuilt from its document (cached per process)."""
    if isinstance(payload, SweepSpec):
        return payload
    key = json.dumps(payload, sort_keys=True)
    spec = _SPECS.get(key)
    if spec is None:
        from .spec import load_spec

        spec = load_spec(payload)
        if len(_SPECS) > 16:
            _SPECS.clear()
        _SPECS[key] = spec
    return spec


def _simulate(spec: SweepSpec, values: dict[str, np.ndarray], n: int, key: KernelKey, record: tuple[str, ...],
              every: int) -> SimResult:
    """The engine run of ``n`` points with the plan's kernel ``key`` (``result.compile_seconds``: nonzero only
    for the first use of the kernel in this worker process)."""
    return simulate(spec.circuit, spec.simulation, values, n_points=n, metrics=spec.metrics, record=record,
                    record_every=every, key=key, device=spec.device)


class _SynsweepTaskFailures:
    """A logging filter for the worker's "Compute Failed" record of a synsweep task: the driver records that
    failure in the store (``.synsweep/failed``) and reports it in one paragraph, so the worker's own copy,
    with its traceback, is noise on the user's terminal. Other tasks' failures are logged as usual."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (str(record.msg).startswith("Compute Failed") and "synsweep-" in record.getMessage())


def _quiet_task_failures() -> None:
    """Install ``_SynsweepTaskFailures`` on this process's ``distributed.worker`` logger (once)."""
    log = logging.getLogger("distributed.worker")
    if not any(isinstance(f, _SynsweepTaskFailures) for f in log.filters):
        log.addFilter(_SynsweepTaskFailures())


def run_chunk(payload: SweepSpec | dict, tasks: TaskPlan, out: str, chunk_id: int, index: tuple[slice, ...],
              source: ExtensionSource | None = None, done_record: str | None = None) -> dict:
    """Compute block ``index`` (chunk ``chunk_id``) of the sweep with the plan's kernel (``tasks``, from
    ``plan.task_plan``), write its region and mark it done in the completion record ``done_record`` (its
    shard's, ``store.record_name``).

    ``source``: the store this sweep extends; its points in the block are copied, only the others are
    computed. Returns a small summary: chunk_id, n_points (computed), n_copied, n_diverged, seconds (task),
    kernel_seconds, compile_seconds (nonzero only for the first use of a kernel in this worker process),
    started and ended (Unix times: the task's place in the run, which its shard's shared record's mtime is not).
    """
    start, started = time.perf_counter(), time.time()
    _quiet_task_failures()
    spec = _materialise(payload)
    index = tuple(index)
    shape = tuple(s.stop - s.start for s in index)
    n = prod(shape)
    layout = tasks.traces
    kernel_seconds = compile_seconds = 0.0
    if spec.continuation is not None:  # the lanes of the block run along the continued axis, in order
        timing = [0.0, 0.0]

        def lanes(values: dict[str, np.ndarray], m: int) -> tuple[dict[str, np.ndarray], dict]:
            result = _simulate(spec, values, m, tasks.kernel, tasks.record, tasks.every)
            timing[0] += result.seconds
            timing[1] += result.compile_seconds
            return point_arrays(spec, result, layout, m), result.final_state

        arrays = run_branch(spec, index, lanes)
        have, copied, k = np.zeros(n, dtype=bool), None, n
        kernel_seconds, compile_seconds = timing
    else:
        values = spec.point_values(index)
        have, copied = source.read_block(index) if source is not None else (np.zeros(n, dtype=bool), None)
        k = int(np.count_nonzero(~have))
    need = ~have
    if k and spec.continuation is None:
        part = values if k == n else {path: v[need] for path, v in values.items()}
        result = _simulate(spec, part, k, tasks.kernel, tasks.record, tasks.every)
        kernel_seconds, compile_seconds = result.seconds, result.compile_seconds
        arrays = point_arrays(spec, result, layout, k)
    if copied is not None:  # old points as stored, new ones from the kernel
        if k:
            for name, a in arrays.items():
                copied[name][need] = a
        arrays = {name: copied[name] for name in block_variables(spec, layout)}
    write_block(out, index, arrays)
    n_diverged = int(np.count_nonzero(arrays["status"] == STATUS_DIVERGED))
    info = {"chunk_id": chunk_id, "n_points": k, "n_copied": n - k, "n_diverged": n_diverged,
            "seconds": time.perf_counter() - start, "kernel_seconds": kernel_seconds,
            "compile_seconds": compile_seconds, "pid": os.getpid(), "host": socket.gethostname(),
            "started": started, "ended": time.time()}
    mark_done(out, chunk_id, info, done_record)
    return info


def run_traced_points(payload: SweepSpec | dict, tasks: TaskPlan, out: str) -> dict:
    """Simulate the points listed in ``record.points`` as one small batch, with the plan's traced kernel, and
    write their traces.

    Lanes are independent, so these traces are exactly the ones the points have inside the sweep.
    """
    start, started = time.perf_counter(), time.time()
    _quiet_task_failures()
    spec = _materialise(payload)
    layout = tasks.traces
    assert layout is not None and layout.points is not None and tasks.traced_kernel is not None
    parts = [spec.point_values(tuple(slice(i, i + 1) for i in p)) for p in layout.points]
    values = {path: np.concatenate([p[path] for p in parts]) for path in parts[0]} if parts else {}
    n = len(layout.points)
    result = _simulate(spec, values, n, tasks.traced_kernel, layout.record, layout.every)
    write_block(out, (slice(0, n),), trace_arrays(spec, result, layout, n))
    info = {"chunk_id": TRACES_ID, "n_points": n, "n_diverged": 0, "seconds": time.perf_counter() - start,
            "kernel_seconds": result.seconds, "compile_seconds": result.compile_seconds, "pid": os.getpid(),
            "started": started, "ended": time.time()}
    mark_done(out, TRACES_ID, info, TRACES_ID)
    return info


# -- the driver ---------------------------------------------------------------------------------------------
def _payload(spec: SweepSpec) -> SweepSpec | dict:
    """The compact form sent to each task: the spec document when ``load_spec`` rebuilds an equal spec from
    it, else the SweepSpec itself (its size grows with the dim lengths, never with the number of points)."""
    try:
        from .spec import load_spec

        again = load_spec(spec.document)
    except Exception:  # no spec module yet, or a document it does not take: send the object
        return spec
    same = (again.spec_hash == spec.spec_hash and again.shape == spec.shape
            and all(np.array_equal(a.values, b.values) and a.targets == b.targets
                    for d1, d2 in zip(again.dims, spec.dims, strict=True)
                    for a, b in zip(d1.axes, d2.axes, strict=True)))
    return spec.document if same else spec


#: how long a run on a cluster whose workers have no GPU waits for one that has, before it gives up
GPU_WAIT_SECONDS = 30.0


def check_device(spec: SweepSpec, client: Client | None = None, wait: float = GPU_WAIT_SECONDS) -> None:
    """Raise ``SpecError`` (execution.device) before anything is computed when the sweep's device cannot run.

    For a local run (no ``client``), CUDA kernels must run in this process' environment. With a ``client``,
    a worker must advertise the ``GPU`` resource (tasks asking for a resource that no worker has would wait
    forever): if the cluster has workers but none with a GPU, the run waits up to ``wait`` seconds for one to
    join, then refuses; a cluster with no worker yet (batch jobs still queued) is left to fill, as for the CPU."""
    if spec.device != "cuda":
        return
    from synsweep.engine.device import CUDA_FIX, cuda_problem

    if client is None:
        problem = cuda_problem()
        if problem is not None:
            raise SpecError("execution.device", f"cuda was asked for, but {problem}", CUDA_FIX)
        return
    deadline = time.monotonic() + wait
    while True:
        try:
            workers = client.scheduler_info(n_workers=-1).get("workers", {})  # every worker, not the first five
        except TypeError:  # an older distributed without the argument (it lists every worker)
            workers = client.scheduler_info().get("workers", {})
        if not workers or any(w.get("resources", {}).get(GPU_RESOURCE, 0) >= 1 for w in workers.values()):
            return
        if time.monotonic() >= deadline:
            raise SpecError("execution.device", f"cuda was asked for, but none of the {len(workers)} workers of "
                            f"the cluster advertises the dask resource {GPU_RESOURCE} (waited {wait:.0f} s for one)",
                            f"start a worker per GPU with dask worker SCHEDULER --resources {GPU_RESOURCE}=1 "
                            "(docs/cluster.md), or compute on the CPU with execution.device: cpu (--device cpu)")
        time.sleep(0.5)


@dataclass(frozen=True)
class RunStart:
    """What a run is about to do, told to ``execute``'s ``on_start`` before any task is sent."""

    out: str
    n_chunks: int  # of the whole sweep
    chunks_done: int  # sweep chunks already done (resume): not run again
    chunks_to_run: int  # sweep chunks to compute
    points_to_run: int  # points the tasks will simulate (an extension: new grid values; more if the
    #                    old store lacks some of its own points)
    points_to_copy: int  # points an extension takes from the old store
    traced_batch: bool  # the traces of the listed record points are computed too


@contextlib.contextmanager
def claim_store(spec: SweepSpec, out: str | os.PathLike, *, resume: bool, overwrite: bool,
                extend: ExtensionSource | None = None, claimed: list[StoreLock] | None = None,
                before_template: Callable[[], contextlib.AbstractContextManager[Any]] | None = None
                ) -> Iterator[ChunkPlan]:
    """Apply the store rules, hold the store's run lock (``synsweep.sweeps.lock``) until the block ends, and
    give the chunk plan to run (on resume, the store's own plan).

    ``before_template``: for a new store, a context entered once the store rules passed, just before the
    template is written (``execute`` starts its local cluster's workers there, so that they start while the
    template is written); it is closed before the lock is released and before a failed run's half-created
    store is removed.

    Raises StoreError when ``out`` exists and neither flag is given, when resuming into a store of
    another spec (different ``spec_hash``) or into something that is not a complete synsweep store, and
    when another run holds the store's lock (``overwrite`` included: a store being written is not deleted).
    """
    if resume and overwrite:
        raise ValueError("pass either resume or overwrite, not both")
    out = location(out)
    if out.is_local and out.path.is_dir() and not any(out.path.iterdir()):
        out.path.rmdir()  # an empty directory holds nothing to protect
    lock = None
    if out.exists():
        if overwrite:
            held = acquire(out) if is_store(out) else None  # refuses while another run writes to it
            try:
                remove_store(out)
            finally:
                if held is not None:
                    held.release()
        elif resume:
            check_metadata(out)  # StoreDamaged: what is damaged, what --resume cannot repair
            if not is_store(out):
                raise StoreError(
                    f"Cannot resume into {out}: it is not a complete synsweep store (no template, or "
                    f"another program's data). Pass --overwrite to replace it, or choose another path.")
            attrs = store_attrs(out)
            if attrs.get("spec_hash") != spec.spec_hash:
                raise StoreError(
                    f"Refusing to resume into {out}: the store holds the sweep {attrs.get('title')!r}, written "
                    f"for another spec than this one ({spec.name!r}): {spec_differences(attrs.get('spec'), spec)}. "
                    f"Resuming would mix results of two different sweeps. Pass --overwrite to replace the store, "
                    f"or choose another path.")
            lock = acquire(out)
        elif out.is_local and out.path.is_dir() and not is_store(out):
            raise StoreError(
                f"The output {out} is an existing folder that is not a synsweep store (it holds other files, which "
                f"synsweep never deletes). Give a new path for the store, e.g. --out {out.path / 'result.zarr'}.")
        else:
            raise StoreError(
                f"The output {out} already exists. To continue an interrupted run of the same spec "
                f"(only chunks not yet computed are run) pass --resume; to delete it and start again "
                f"pass --overwrite; or choose another output path.")
    created = False
    started = contextlib.ExitStack()  # what before_template started
    try:
        if lock is None:
            plan = plan_chunks(spec)
            if before_template is not None:
                started.enter_context(before_template())
            try:
                created = True
                create_store(spec, plan, out, extended_from=None if extend is None else {
                    "path": _absolute(extend.path), "spec_hash": extend.spec_hash})
            except (FileExistsError, ContainsGroupError, ContainsArrayError):
                created = False
                raise StoreError(
                    f"The output {out} was created by another run while this one was creating it. Let that "
                    f"run finish, then run again with --resume to compute whatever is still missing.") from None
            lock = acquire(out)
        else:
            plan = store_plan(out, spec)
        if claimed is not None:
            claimed.append(lock)
        yield plan
    except BaseException:
        started.__exit__(*sys.exc_info())  # told why: a local cluster stopped under a failed run closes quietly
        # a run that fails before its first block is stored leaves no half-created store behind
        if created and not done_chunks(out):
            with contextlib.suppress(Exception):
                out.remove_all()
        raise
    finally:
        try:
            started.close()
        finally:
            if lock is not None:
                lock.release()


def spec_differences(stored_text: str | None, spec: SweepSpec, limit: int = 4) -> str:
    """The keys in which the spec a store was written for (its ``spec`` attribute, JSON) differs from ``spec``,
    as text: "simulation.duration 20 in the store, 50 here; ..." (at most ``limit``)."""
    from .provenance import spec_text

    try:
        stored = json.loads(stored_text) if stored_text else None
    except ValueError:
        stored = None
    if not isinstance(stored, dict):
        return "the store does not record its spec"
    here = json.loads(spec_text(spec))

    def flat(value: Any, prefix: str = "") -> dict[str, Any]:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for k, v in value.items():
                out.update(flat(v, f"{prefix}.{k}" if prefix else str(k)))
            return out
        if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
            out = {}
            for i, v in enumerate(value):
                out.update(flat(v, f"{prefix}[{i}]"))
            return out
        return {prefix: value}

    a, b = flat(stored), flat(here)
    keys = [k for k in dict.fromkeys([*a, *b]) if a.get(k, "(absent)") != b.get(k, "(absent)")]
    if not keys:
        return "the same keys, in another order or from another version of synsweep"

    def show(v: Any) -> str:
        text = json.dumps(v) if v != "(absent)" else v
        return text if len(text) <= 40 else text[:37] + "..."

    parts = [f"{k} {show(a.get(k, '(absent)'))} in the store, {show(b.get(k, '(absent)'))} here" for k in keys[:limit]]
    more = f"; and {len(keys) - limit} more" if len(keys) > limit else ""
    return "differing keys: " + "; ".join(parts) + more


def _absolute(path: str | os.PathLike) -> str:
    """A store's location as recorded in another store: a URL as given, a path made absolute."""
    loc = location(path)
    return str(loc.path.resolve()) if loc.is_local else loc.url


def _failure_message(report: RunReport, points: Callable[[int | str], str]) -> str:
    """The paragraph for a run with failed chunks: counts, the first few failures with their points."""
    shown = "; ".join(f"chunk {c}, {points(c)}: {e}" for c, e in report.failed[:3])
    more = f"; and {len(report.failed) - 3} more" if len(report.failed) > 3 else ""
    return (f"{len(report.failed)} of {len(report.failed) + len(report.computed)} chunks failed; the first "
            f"error ({shown}{more}). The chunks that succeeded are stored in {report.out}, and each failure "
            f"is recorded in {report.out}/.synsweep/failed; after fixing the cause, run again "
            f"with --resume (resume=True) to recompute only the missing chunks.")


def _starts_early(spec: SweepSpec, client: Client | None, scheduler: str | None,
                  on_start: Callable[[RunStart], None] | None, only_chunks: Collection[int | str] | None) -> bool:
    """Whether ``execute`` starts the run's local cluster before it writes a new store's template, so that the
    workers start (1 to 3 s: processes, imports) while the driver writes it (0.5 to 1 s). Only for a local
    cluster, only when the run may compute something (not ``only_chunks=()``: a template alone), and only when
    ``on_start`` (the CLI's start line) will not time the kernel in the driver: with no ``on_start``, or with a
    speed recorded by an earlier run of the kernel here (``recorded_speed``); a first run's measurement, and its
    compilation of the kernel, keep the cores to themselves."""
    return (client is None and scheduler is None and (only_chunks is None or len(only_chunks) > 0)
            and (on_start is None or recorded_speed(spec) is not None))


def _checked_arguments(spec: Any, out: Any, workers: Any) -> SweepSpec:
    """The sweep of ``spec`` (a SweepSpec, or what ``load_spec`` reads: a path or a mapping), once ``out`` and
    ``workers`` are known to be usable: a TypeError or ValueError naming the argument, a StoreError for a
    local ``out`` where nothing can be created (``location.unwritable``), before anything starts."""
    from .spec import load_spec

    if not isinstance(spec, SweepSpec):
        if not isinstance(spec, (str, os.PathLike, Mapping)):
            raise TypeError(f"spec: a SweepSpec (load_spec(...)), a spec file's path or a spec mapping, got "
                            f"{type(spec).__name__}")
        spec = load_spec(spec)
    if not isinstance(out, (str, os.PathLike, Location)):
        raise TypeError(f"out: the store's path or URL (str or path), got {type(out).__name__}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1):
        raise ValueError(f"workers: the number of local worker processes, a whole number >= 1, got {workers!r}")
    loc = location(out)
    if isinstance(loc, LocalLocation) and not loc.path.is_dir():
        problem = unwritable(loc.path, folder=True)
        if problem:
            raise StoreError(f"{loc}: {problem}; give a path in a folder you can write to")
    return spec


def execute(spec: SweepSpec | str | os.PathLike | Mapping, out: str | os.PathLike, *,
            client: Client | None = None, scheduler: str | None = None, workers: int | None = None,
            resume: bool = False, overwrite: bool = False, progress: bool = True,
            only_chunks: Collection[int | str] | None = None, extend: str | os.PathLike | None = None,
            on_start: Callable[[RunStart], None] | None = None, security: Security | None = None) -> RunReport:
    """Run the sweep into the store ``out`` and report what was done (``run_sweep`` without the dataset).

    ``only_chunks``: compute at most these chunk ids (and, with listed traced points, the traced batch
    only if "traces" is among them); for partial runs and tests. ``extend``: an earlier store of this
    sweep with fewer axis values (``synsweep.sweeps.extend``): its points are copied, only new ones are
    computed. ``on_start`` is called once the work is known, before any task is sent (a new store's local
    cluster may be starting then: see ``_starts_early``).
    ``security`` (a ``distributed.Security``): TLS for ``Client(scheduler)`` and for the embedded cluster.
    Failed chunks are reported in ``RunReport.failed`` (and recorded in the store), never raised here.
    The store's run lock is held from before anything is written until the end.
    """
    from .extend import extension_source
    from .mainguard import check_main_guard

    spec = _checked_arguments(spec, out, workers)
    if client is None and scheduler is None:
        check_main_guard()  # before anything is written: spawned workers re-import an unguarded script
    if client is None and scheduler is None:
        check_device(spec)  # the cluster is started later; a remote one is checked once connected (_dispatch)
    elif client is not None:
        check_device(spec, client)
    if not spec.chunk_points_given:  # sized to the workers (on resume the store's own plan is used anyway)
        from .chunks import auto_chunk_points

        n_workers = (sum(client.nthreads().values()) if client is not None else 0) or workers or os.cpu_count() or 1
        spec = dataclasses.replace(spec, chunk_points=auto_chunk_points(
            spec.n_points, n_workers, spec.device, len(spec.circuit.neurons) * spec.simulation.n_steps,
            shape=spec.shape if spec.continuation is None else None))
    wall = time.perf_counter()
    out = location(out)
    source = extension_source(spec, extend, out) if extend is not None else None
    claimed: list[StoreLock] = []
    tasks = task_plan(spec)  # once per run: every task gets this kernel key and trace layout
    if client is None and scheduler is None and spec.device == "cpu" and (only_chunks is None or only_chunks):
        start_fork_server(tasks.kernels)  # the local workers: forks of a server with the kernels loaded
    early: list[Client] = []  # the local cluster started before the template (_starts_early)

    @contextlib.contextmanager
    def start_cluster() -> Iterator[None]:
        with local_client(workers, security, spec.device == "cuda", wait=False) as c:
            early.append(c)
            yield

    before = start_cluster if _starts_early(spec, client, scheduler, on_start, only_chunks) else None
    with claim_store(spec, out, resume=resume, overwrite=overwrite, extend=source, claimed=claimed,
                     before_template=before) as plan:
        report = RunReport(str(out), spec.spec_hash, plan.n_chunks)
        starting = local_worker_count(workers, spec.device == "cuda") if early else None
        _run_jobs(spec, tasks, out, plan, report, client=early[0] if early else client, scheduler=scheduler,
                  workers=workers, resume=resume, progress=progress, only_chunks=only_chunks, source=source,
                  on_start=on_start, security=security, lost=getattr(claimed[0], "lost", None), starting=starting)
    report.wall_seconds = time.perf_counter() - wall
    if report.hosts == {socket.gethostname()} and spec.device == "cpu":  # the estimates are of the CPU kernel
        record_speed(spec, report.n_points * len(spec.circuit.neurons) * spec.simulation.n_steps,
                     report.kernel_seconds, report.n_points)
    return report


def _run_jobs(spec: SweepSpec, tasks: TaskPlan, out: Location, plan: ChunkPlan, report: RunReport, *,
              client: Client | None,
              scheduler: str | None, workers: int | None, resume: bool, progress: bool,
              only_chunks: Collection[int | str] | None, source: ExtensionSource | None,
              on_start: Callable[[RunStart], None] | None, security: Security | None,
              lost: threading.Event | None = None, starting: int | None = None) -> None:
    """Send the chunks of ``plan`` not yet done to the cluster and fill ``report`` as they finish. ``lost``: set
    when the run's lease on object storage was taken over by another run; then no more tasks are sent.
    ``starting``: ``client`` is this run's local cluster, whose ``starting`` workers may still be starting."""
    if spec.refine is not None:
        _run_levels(spec, tasks, out, plan, report, client=client, scheduler=scheduler, workers=workers,
                    progress=progress, on_start=on_start, security=security, lost=lost, starting=starting)
        return
    done = done_chunks(out) if resume else set()
    failed_before = set(failed_chunks(out)) if resume else set()
    shards = store_shards(out, plan)
    layout = tasks.traces
    jobs: list[tuple[int | str, tuple[slice, ...] | None]] = []
    for chunk_id, index in plan.blocks():
        if only_chunks is not None and chunk_id not in only_chunks:
            continue
        if chunk_id in done:
            report.skipped.append(chunk_id)
        else:
            jobs.append((chunk_id, index))
    wants_traces = layout is not None and layout.points is not None and (
        only_chunks is None or TRACES_ID in only_chunks)
    if wants_traces:
        if TRACES_ID in done:
            report.skipped.append(TRACES_ID)
        else:
            jobs.insert(0, (TRACES_ID, None))  # a small batch: first, so it never straggles at the end
    total_points = sum(prod(s.stop - s.start for s in idx) for _, idx in jobs if idx is not None)
    to_copy = sum(source.old_points_in(idx) for _, idx in jobs if idx is not None) if source is not None else 0
    if on_start is not None:
        on_start(RunStart(str(out), plan.n_chunks, sum(1 for c in report.skipped if c != TRACES_ID),
                          sum(1 for _, idx in jobs if idx is not None), total_points - to_copy, to_copy,
                          any(idx is None for _, idx in jobs)))
    _dispatch(spec, tasks, out, jobs, report, total_points - to_copy, client=client, scheduler=scheduler,
              workers=workers, progress=progress, source=source, security=security,
              records={job: record_name(plan, shards, idx) for job, idx in jobs if idx is not None},
              failed_before=failed_before, lost=lost, starting=starting)


def _run_levels(spec: SweepSpec, tasks: TaskPlan, out: Location, plan: ChunkPlan, report: RunReport, *,
                client: Client | None,
                scheduler: str | None, workers: int | None, progress: bool,
                on_start: Callable[[RunStart], None] | None, security: Security | None,
                lost: threading.Event | None, starting: int | None) -> None:
    """Run a refined sweep level by level (``synsweep.sweeps.refine``): each level's points are decided from
    the store once the level before is complete; blocks already marked for a level are not run again. When
    the last level (or the budget) ends it, every block gets its plain completion marker, so inspect and
    report count a finished refined store as complete."""
    from .refine import block_sources, level_todo

    assert spec.refine is not None
    done = done_chunks(out)
    failed_before = set(failed_chunks(out))
    announced = False
    with contextlib.ExitStack() as stack:
        for level in range(spec.refine.levels + 1):
            todo = level_todo(spec, out, level)
            group = zarr.open_group(location(out).zarr_store(read_only=True), mode="r", zarr_format=ZARR_FORMAT)
            computed = group["status"][...] != 0
            if spec.refine.budget is not None and np.count_nonzero(computed | todo) > spec.refine.budget:
                report.budget_stop = level
                break
            report.levels.append((level, int(np.count_nonzero(todo))))
            jobs: list[tuple[int | str, tuple[slice, ...] | None]] = []
            for chunk_id, index in plan.blocks():
                job = f"r{level}-{chunk_id}"
                if job in done:
                    report.skipped.append(job)
                elif todo[index].any():
                    jobs.append((job, index))
            points = sum(int(np.count_nonzero(todo[idx])) for _, idx in jobs)
            if on_start is not None and jobs:
                on_start(RunStart(str(out), plan.n_chunks, 0, len(jobs), points, 0, False))
                announced = True
            if jobs and client is None:  # one cluster for every level
                client = stack.enter_context(open_client(scheduler=scheduler, workers=workers, security=security,
                                                         gpu=spec.device == "cuda"))
                if scheduler is not None:
                    check_device(spec, client)
            copied = report.n_copied  # a level's tasks keep the block's other points: not an extension's copy
            _dispatch(spec, tasks, out, jobs, report, points, client=client, scheduler=scheduler, workers=workers,
                      progress=progress, source=block_sources(spec, out, todo, jobs), security=security,
                      records={}, failed_before=failed_before, lost=lost, starting=starting)  # one record per job
            report.n_copied = copied
            if report.failed:  # the next level needs this one complete
                return
    if on_start is not None and not announced:  # nothing was left to compute
        on_start(RunStart(str(out), plan.n_chunks, plan.n_chunks, 0, 0, 0, False))
    for chunk_id, _ in plan.blocks():  # the refinement is finished: every block is as done as it will be
        mark_done(out, chunk_id, {"chunk_id": chunk_id, "refined": True, "budget_stop": report.budget_stop})


def _dispatch(spec: SweepSpec, tasks: TaskPlan, out: Location, jobs: list[tuple[int | str, tuple[slice, ...] | None]],
              report: RunReport, total: int, *, client: Client | None, scheduler: str | None,
              workers: int | None, progress: bool, source: Any, security: Security | None,
              records: dict[int | str, str], failed_before: set[int | str],
              lost: threading.Event | None, starting: int | None = None) -> None:
    """Send ``jobs`` (chunk id, block index; None: the traced points) to the cluster, fill ``report``.
    ``records``: the completion record of each job (absent: a record of its own). ``source``: one for every
    job, or a dict job -> its own. ``starting``: ``client`` is this run's local cluster, started early: wait
    for its ``starting`` workers to register before counting them."""
    if not jobs:
        return
    blocks = dict(jobs)
    computed_before = len(report.computed)  # a refinement dispatches once per level into one report

    per_point = len(spec.circuit.neurons) * spec.simulation.n_steps
    payload = _payload(spec)
    # a fresh suffix per run: a key the scheduler still remembers from an earlier run (an erred task
    # not yet forgotten) would otherwise hand back that old result instead of running the task
    tag = spec.spec_hash[:8]
    nonce = uuid.uuid4().hex[:8]
    bar = None
    if progress:
        from tqdm import tqdm

        # disable=None: silent when stderr is not a terminal (a batch job's log, a pipe)
        bar = tqdm(total=total, unit="pt", desc=f"sweep {spec.name}", smoothing=0.1, disable=None)
    resources = {GPU_RESOURCE: 1} if spec.device == "cuda" else None  # GPU chunks go to the workers with a GPU
    with open_client(client, scheduler=scheduler, workers=workers, security=security,
                     gpu=spec.device == "cuda") as c:
        from distributed import as_completed

        if client is None and scheduler is not None:
            check_device(spec, c)
        if starting is not None:
            c.wait_for_workers(starting, timeout=START_TIMEOUT_S)

        threads = sum(c.nthreads().values()) or 1
        window = max(4 * threads, 32)  # tasks in flight: bounds client and scheduler memory
        queue = iter(jobs)
        ids: dict[str, int | str] = {}

        def submit_next() -> Any | None:
            item = next(queue, None)
            if item is None:
                return None
            chunk_id, index = item
            key = f"synsweep-{tag}-{chunk_id}-{nonce}"
            if index is None:
                fut = c.submit(run_traced_points, payload, tasks, str(out), key=key, pure=False,
                               resources=resources)
            else:
                own = source.get(chunk_id) if isinstance(source, dict) else source  # refinement: per block
                fut = c.submit(run_chunk, payload, tasks, str(out), chunk_id, index, own, records.get(chunk_id),
                               key=key, pure=False, resources=resources)
            ids[fut.key] = chunk_id
            return fut

        pending = as_completed([f for f in (submit_next() for _ in range(window)) if f is not None],
                               loop=c.loop)
        t0 = time.perf_counter()
        try:
            for fut in pending:
                chunk_id = ids.pop(fut.key)
                if fut.status == "error":
                    exc = fut.exception()
                    error = f"{type(exc).__name__}: {exc}"
                    report.failed.append((chunk_id, error))
                    index = blocks[chunk_id]
                    with contextlib.suppress(OSError):  # a full disk: the failure is in the report anyway
                        mark_failed(out, chunk_id, {
                            "chunk_id": chunk_id, "error": error,
                            "points": "the traced points" if index is None else describe_block(spec, index),
                            "index": None if index is None else [[s.start, s.stop] for s in index],
                            "failed": datetime.now(UTC).isoformat(timespec="seconds")})
                else:
                    info = fut.result()
                    report.computed.append(chunk_id)
                    if chunk_id in failed_before:
                        clear_failed(out, chunk_id)
                    if chunk_id != TRACES_ID:
                        report.n_points += info["n_points"]
                        report.n_copied += info.get("n_copied", 0)
                        report.n_diverged += info["n_diverged"]
                        report.hosts.add(info.get("host", "?"))
                        if bar is not None:
                            bar.update(info["n_points"])
                    report.task_seconds += info["seconds"]
                    report.kernel_seconds += info["kernel_seconds"]
                    report.compile_seconds += info["compile_seconds"]
                    if bar is not None:
                        rate = report.n_points * per_point / max(time.perf_counter() - t0, 1e-9)
                        bar.set_postfix_str(f"chunks {len(report.computed) - computed_before}/{len(jobs)}, "
                                            f"{rate:.3g} neuron-steps/s", refresh=False)
                fut.release()
                if lost is not None and lost.is_set():
                    raise StoreError(
                        f"This run lost its lease on {out}: it could not renew it for "
                        f"{lease_seconds():.0f} s and another run took the store over. The chunks stored so far "
                        f"are kept; let the other run finish, then run again with --resume to compute whatever "
                        f"is still missing.")
                nxt = submit_next()
                if nxt is not None:
                    pending.add(nxt)
        except BaseException:
            if (client is None and scheduler is None) or starting is not None:  # the local cluster of this run
                silence_shutdown()
            with contextlib.suppress(Exception):
                c.cancel([f for f in pending.futures])  # type: ignore[attr-defined]
            raise
        finally:
            if bar is not None:
                bar.close()


def run_sweep(spec: SweepSpec | str | os.PathLike | Mapping, out: str | os.PathLike, *,
              client: Client | None = None, scheduler: str | None = None, workers: int | None = None,
              resume: bool = False, overwrite: bool = False, progress: bool = True,
              extend: str | os.PathLike | None = None,
              on_start: Callable[[RunStart], None] | None = None, security: Security | None = None) -> xr.Dataset:
    """Run the sweep ``spec`` (a SweepSpec, or a spec file's path or a spec mapping for ``load_spec``) into the
    zarr store ``out`` and return the result, opened lazily. Bad arguments raise at once (``TypeError`` or
    ``ValueError`` naming ``spec``, ``out`` or ``workers``; ``SpecError`` for a bad spec).

    Store rules: ``out`` must not exist unless ``resume`` (same spec_hash; only chunks without a
    completion marker are computed) or ``overwrite`` (deleted and recreated) is given; otherwise
    StoreError. Distribution: ``client`` if given; else ``Client(scheduler)``; else an embedded
    LocalCluster (``workers`` processes, default one per core, 1 thread each) closed at the end.
    ``security`` (a ``distributed.Security``): TLS for ``Client(scheduler)`` and for the embedded cluster.
    Raises SweepIncomplete after all chunks ran when any chunk failed; rerunning with ``resume=True``
    computes only the failed (and never-run) chunks. Results are bit-identical whatever the chunk size
    and the number of workers. ``extend`` and ``on_start``: as for ``execute``.
    """
    report = execute(spec, out, client=client, scheduler=scheduler, workers=workers, resume=resume,
                     overwrite=overwrite, progress=progress, extend=extend, on_start=on_start,
                     security=security)
    raise_if_incomplete(report, spec)
    return open_result(out)


def raise_if_incomplete(report: RunReport, spec: SweepSpec) -> None:
    """Raise SweepIncomplete for a report with failed chunks: how many, the first few with their errors
    and points, where the failures are recorded, and that a resume computes only what is missing."""
    if not report.failed:
        return
    plan = store_plan(report.out, spec)

    def points(chunk_id: int | str) -> str:
        if chunk_id == TRACES_ID:
            return "the traced points"
        block = int(str(chunk_id).rpartition("-")[2])  # a refinement level's job: r<level>-<chunk id>
        return describe_block(spec, plan.block(block))

    raise SweepIncomplete(_failure_message(report, points), report.failed, report)
