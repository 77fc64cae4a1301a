"""The private APIs of other libraries that synsweep relies on, each behind one small function, with the
versions they were checked against (pyproject.toml bounds these packages from above for that reason).

    zarr_sync(coro)                       zarr.core.sync.sync: run a zarr coroutine on zarr's own event loop
                                          (zarr >= 3.0.8, < 3.2)
    submit_jobs_now(cluster, jobs)        dask-jobqueue / distributed SpecCluster internals: submit ``jobs``
                                          batch jobs in the foreground, so that a refusal is raised here
                                          instead of only logged (dask-jobqueue >= 0.9, < 0.10)
    drop_job(cluster, name)               the same internals: forget a job whose workers are gone, cancelling
                                          it if it is still queued or running
    fork_server_pid()                     multiprocessing.forkserver's server process, if this process started
                                          one (CPython 3.11 to 3.13)
    skip_dask_forkserver_preload()        distributed.utils: dask's nannies leave the fork server's preload
                                          list alone (distributed >= 2024.8; synsweep starts the server itself)
    run_exit_handlers()                   atexit._run_exitfuncs: the exit handlers now, before os._exit
                                          (CPython 3.11 to 3.13)

The integration test of a real single-node SLURM (tests/integration/test_slurm.py) exercises the two
dask-jobqueue adapters; every run exercises ``zarr_sync``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


def zarr_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` to completion on zarr's event loop thread (zarr's synchronous API does the same)."""
    import zarr.core.sync

    return zarr.core.sync.sync(coro)


def submit_jobs_now(cluster: Any, jobs: int) -> None:
    """Add ``jobs`` jobs to a dask-jobqueue cluster and submit them now; raises RuntimeError (dask-jobqueue's,
    naming the batch system's refusal) when a submission fails, after forgetting the jobs never submitted
    (``cluster.scale`` would submit in the background, where a refusal is only logged)."""
    from distributed.core import Status

    for _ in range(jobs):
        cluster.worker_spec.update(cluster.new_worker_spec())
    try:
        cluster.sync(cluster._correct_state)
    except RuntimeError:
        for name, job in list(cluster.workers.items()):  # never submitted: nothing to cancel at close
            if getattr(job, "job_id", None) is None:
                job.status = Status.failed
                del cluster.workers[name]
                cluster.worker_spec.pop(name, None)
        raise


def drop_job(cluster: Any, name: str) -> None:
    """Forget the job ``name`` of the cluster's plan; cancel it in the batch system if it is still there
    (runs on the cluster's event loop)."""
    del cluster.worker_spec[name]
    job = cluster.workers.pop(name, None)
    if job is not None:
        cluster._futures.add(asyncio.ensure_future(_quietly(job.close())))


async def _quietly(awaitable: Any) -> None:
    with contextlib.suppress(Exception):
        await awaitable


def fork_server_pid() -> int | None:
    """The pid of this process's multiprocessing fork server, None if none was started."""
    from multiprocessing import forkserver

    return getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)


def skip_dask_forkserver_preload() -> None:
    """Stop dask's ``get_mp_context`` from importing its optional dependencies (pandas, lz4, ...) into this
    process to set the fork server's preload list, which a running server ignores anyway."""
    import distributed.utils

    distributed.utils._forkserver_preload_set = True


def run_exit_handlers() -> None:
    """Run (and clear) the interpreter's exit handlers now, as it would at exit."""
    import atexit

    atexit._run_exitfuncs()
