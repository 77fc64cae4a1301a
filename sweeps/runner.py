"""Running a sweep on dask.distributed: one task per chunk, each writing its own zarr region.

    ds = run_sweep(spec, "out.zarr")                       # embedded LocalCluster, one worker per core
    ds = run_sweep(spec, "out.zarr", scheduler="tcp://host:8786", resume=True)

Order of events: the driver writes the store's template (metadata, coordinates, attributes) before any
task runs; each task simulates its block, writes it as whole zarr chunks, then writes its completion
marker. A task that runs twice (its worker was lost after the write) rewrites identical bytes, so every
side effect is idempotent, and ``resume`` recomputes exactly the blocks without a marker.

Determinism: the engine's lanes are independent and every lane runs through the same vector code, so a
point's values do not depend on the chunking, the worker that ran it, or which points share its block.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
import warnings
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from synsweep.engine import simulate

from .chunks import ChunkPlan, plan_chunks
from .model import SweepSpec
from .store import (
    TRACES_ID,
    StoreError,
    block_dataset,
    create_store,
    done_chunks,
    is_store,
    mark_done,
    open_result,
    remove_store,
    store_attrs,
    store_plan,
    trace_arrays,
    trace_layout,
    write_region,
)

if TYPE_CHECKING:
    from distributed import Client, Security


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
    n_diverged: int = 0
    task_seconds: float = 0.0  # sum over tasks
    kernel_seconds: float = 0.0
    compile_seconds: float = 0.0
    wall_seconds: float = 0.0


# -- the tasks (run on the workers) ------------------------------------------------------------------------
_SPECS: dict[str, SweepSpec] = {}  # per process: document text -> SweepSpec
_KERNELS_SEEN: set[tuple] = set()  # per process: kernels already loaded (compile time counted once)


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


def _simulate(spec: SweepSpec, values: dict[str, np.ndarray], n: int, record: tuple[str, ...],
              every: int) -> tuple[Any, float]:
    sim = spec.simulation
    result = simulate(spec.circuit, sim, values, n_points=n, metrics=spec.metrics, record=record,
                      record_every=every)
    kernel = (spec.circuit.structure(), sim.integrator, sim.precision, sim.scheme, record)
    compile_seconds = 0.0 if kernel in _KERNELS_SEEN else result.compile_seconds
    _KERNELS_SEEN.add(kernel)
    return result, compile_seconds


def run_chunk(payload: SweepSpec | dict, out: str, chunk_id: int, index: tuple[slice, ...]) -> dict:
    """Compute block ``index`` (chunk ``chunk_id``) of the sweep, write its region and its marker.

    Returns a small summary: chunk_id, n_points, n_diverged, seconds (task), kernel_seconds,
    compile_seconds (nonzero only for the first use of a kernel in this worker process).
    """
    start = time.perf_counter()
    spec = _materialise(payload)
    index = tuple(index)
    shape = tuple(s.stop - s.start for s in index)
    n = prod(shape)
    layout = trace_layout(spec)
    record = layout.record if layout is not None and layout.points is None else ()
    every = layout.every if layout is not None else 1
    result, compile_seconds = _simulate(spec, spec.point_values(index), n, record, every)
    block = block_dataset(spec, shape, result, layout)
    write_region(out, block, {d.name: s for d, s in zip(spec.dims, index, strict=True)})
    n_diverged = int(np.count_nonzero(result.metrics["status"] == 2))
    info = {"chunk_id": chunk_id, "n_points": n, "n_diverged": n_diverged,
            "seconds": time.perf_counter() - start, "kernel_seconds": result.seconds,
            "compile_seconds": compile_seconds, "pid": os.getpid()}
    mark_done(out, chunk_id, info)
    return info


def run_traced_points(payload: SweepSpec | dict, out: str) -> dict:
    """Simulate the points listed in ``record.points`` as one small batch and write their traces.

    Lanes are independent, so these traces are exactly the ones the points have inside the sweep.
    """
    start = time.perf_counter()
    spec = _materialise(payload)
    layout = trace_layout(spec)
    assert layout is not None and layout.points is not None
    parts = [spec.point_values(tuple(slice(i, i + 1) for i in p)) for p in layout.points]
    values = {path: np.concatenate([p[path] for p in parts]) for path in parts[0]} if parts else {}
    n = len(layout.points)
    result, compile_seconds = _simulate(spec, values, n, layout.record, layout.every)
    arrays = trace_arrays(spec, result, layout, n)
    block = xr.Dataset({f"trace_{v}": (("traced_point", "neuron", "time"), a) for v, a in arrays.items()})
    write_region(out, block, {"traced_point": slice(0, n)})
    info = {"chunk_id": TRACES_ID, "n_points": n, "n_diverged": 0, "seconds": time.perf_counter() - start,
            "kernel_seconds": result.seconds, "compile_seconds": compile_seconds, "pid": os.getpid()}
    mark_done(out, TRACES_ID, info)
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


@contextlib.contextmanager
def _worker_environment() -> Iterator[None]:
    """NUMBA_NUM_THREADS=1 and SYNSWEEP_CACHE_DIR in os.environ while the local cluster starts and runs
    (spawned worker processes, and the nanny's restarts, inherit them); restored afterwards."""
    from synsweep.engine.kernels import cache_dir

    saved = {k: os.environ.get(k) for k in ("NUMBA_NUM_THREADS", "SYNSWEEP_CACHE_DIR")}
    os.environ["NUMBA_NUM_THREADS"] = "1"
    os.environ["SYNSWEEP_CACHE_DIR"] = str(cache_dir().parent)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _client(client: Client | None, scheduler: str | None, workers: int | None,
            security: Security | None = None) -> Iterator[Any]:
    if client is not None:
        yield client
        return
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, security=security, set_as_default=False) as c:
            yield c
        return
    with _worker_environment(), warnings.catch_warnings():
        # the scheduler's HTTP endpoint moves to a free port when 8787 is taken (no dashboard anyway)
        warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
        with LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=None, security=security,
                          protocol="tls://" if security is not None else None) as cluster:
            with Client(cluster, set_as_default=False) as c:
                yield c


def prepare_store(spec: SweepSpec, out: str | os.PathLike, *, resume: bool, overwrite: bool) -> ChunkPlan:
    """Apply the store rules and return the chunk plan to run (on resume, the store's own plan).

    Raises StoreError when ``out`` exists and neither flag is given, when resuming into a store of
    another spec (different ``spec_hash``) or into something that is not a complete synsweep store.
    """
    if resume and overwrite:
        raise ValueError("pass either resume or overwrite, not both")
    out = Path(out)
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()  # an empty directory holds nothing to protect
    if out.exists():
        if overwrite:
            remove_store(out)
        elif resume:
            if not is_store(out):
                raise StoreError(
                    f"Cannot resume into {out}: it is not a complete synsweep store (no template, or "
                    f"another program's data). Pass --overwrite to replace it, or choose another path.")
            stored = store_attrs(out).get("spec_hash")
            if stored != spec.spec_hash:
                raise StoreError(
                    f"Refusing to resume into {out}: the store was written for spec_hash {stored}, but "
                    f"this spec has spec_hash {spec.spec_hash}. Resuming would mix results of two "
                    f"different sweeps. Pass --overwrite to replace the store, or choose another path.")
            return store_plan(out, spec)
        else:
            raise StoreError(
                f"The output {out} already exists. To continue an interrupted run of the same spec "
                f"(only chunks not yet computed are run) pass --resume; to delete it and start again "
                f"pass --overwrite; or choose another output path.")
    plan = plan_chunks(spec)
    create_store(spec, plan, out)
    return plan


def execute(spec: SweepSpec, out: str | os.PathLike, *, client: Client | None = None,
            scheduler: str | None = None, workers: int | None = None, resume: bool = False,
            overwrite: bool = False, progress: bool = True,
            only_chunks: Collection[int | str] | None = None, security: Security | None = None) -> RunReport:
    """Run the sweep into the store ``out`` and report what was done (``run_sweep`` without the dataset).

    ``only_chunks``: compute at most these chunk ids (and, with listed traced points, the traced batch
    only if "traces" is among them); for partial runs and tests. Failed chunks are reported in
    ``RunReport.failed``, never raised here.
    """
    wall = time.perf_counter()
    out = Path(out)
    plan = prepare_store(spec, out, resume=resume, overwrite=overwrite)
    report = RunReport(str(out), spec.spec_hash, plan.n_chunks)
    done = done_chunks(out) if resume else set()
    layout = trace_layout(spec)
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
    if not jobs:
        report.wall_seconds = time.perf_counter() - wall
        return report

    per_point = len(spec.circuit.neurons) * spec.simulation.n_steps
    total_points = sum(prod(s.stop - s.start for s in idx) for _, idx in jobs if idx is not None)
    payload = _payload(spec)
    # a fresh suffix per run: a key the scheduler still remembers from an earlier run (an erred task
    # not yet forgotten) would otherwise hand back that old result instead of running the task
    tag = spec.spec_hash[:8]
    nonce = uuid.uuid4().hex[:8]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total_points, unit="pt", desc=f"sweep {spec.name}", smoothing=0.1)
    with _client(client, scheduler, workers, security) as c:
        from distributed import as_completed

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
                fut = c.submit(run_traced_points, payload, str(out), key=key, pure=False)
            else:
                fut = c.submit(run_chunk, payload, str(out), chunk_id, index, key=key, pure=False)
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
                    report.failed.append((chunk_id, f"{type(exc).__name__}: {exc}"))
                else:
                    info = fut.result()
                    report.computed.append(chunk_id)
                    if chunk_id != TRACES_ID:
                        report.n_points += info["n_points"]
                        report.n_diverged += info["n_diverged"]
                        if bar is not None:
                            bar.update(info["n_points"])
                    report.task_seconds += info["seconds"]
                    report.kernel_seconds += info["kernel_seconds"]
                    report.compile_seconds += info["compile_seconds"]
                    if bar is not None:
                        rate = report.n_points * per_point / max(time.perf_counter() - t0, 1e-9)
                        bar.set_postfix_str(f"chunks {len(report.computed)}/{len(jobs)}, "
                                            f"{rate:.3g} neuron-steps/s", refresh=False)
                fut.release()
                nxt = submit_next()
                if nxt is not None:
                    pending.add(nxt)
        except BaseException:
            with contextlib.suppress(Exception):
                c.cancel([f for f in pending.futures])  # type: ignore[attr-defined]
            raise
        finally:
            if bar is not None:
                bar.close()
    report.wall_seconds = time.perf_counter() - wall
    return report


def run_sweep(spec: SweepSpec, out: str | os.PathLike, *, client: Client | None = None,
              scheduler: str | None = None, workers: int | None = None, resume: bool = False,
              overwrite: bool = False, progress: bool = True, security: Security | None = None) -> xr.Dataset:
    """Run the sweep ``spec`` into the zarr store ``out`` and return the result, opened lazily.

    Store rules: ``out`` must not exist unless ``resume`` (same spec_hash; only chunks without a
    completion marker are computed) or ``overwrite`` (deleted and recreated) is given; otherwise
    StoreError. Distribution: ``client`` if given; else ``Client(scheduler)``; else an embedded
    LocalCluster (``workers`` processes, default one per core, 1 thread each) closed at the end.
    ``security`` (a ``distributed.Security``): TLS for ``Client(scheduler)`` and for the embedded cluster.
    Raises SweepIncomplete after all chunks ran when any chunk failed; rerunning with ``resume=True``
    computes only the failed (and never-run) chunks. Results are bit-identical whatever the chunk size
    and the number of workers.
    """
    report = execute(spec, out, client=client, scheduler=scheduler, workers=workers, resume=resume,
                     overwrite=overwrite, progress=progress, security=security)
    if report.failed:
        chunk_id, error = report.failed[0]
        raise SweepIncomplete(
            f"{len(report.failed)} of {len(report.failed) + len(report.computed)} chunks failed; the first "
            f"error (chunk {chunk_id}): {error}. The chunks that succeeded are stored in {out}; after fixing "
            f"the cause, run again with --resume (resume=True) to recompute only the missing chunks.",
            report.failed, report)
    return open_result(out)
