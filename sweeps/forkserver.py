"""The local cluster's worker processes, forked from a server that already holds the task code and the kernels.

A spawned worker process (dask's default) starts an interpreter, imports distributed, numba, zarr and the engine
(1.3 to 1.5 CPU-s) and loads the sweep's kernel on its first task (0.3 to 0.45 CPU-s): on two cores, two
workers and the driver compete for about 6 CPU-s before the first task of a run. With multiprocessing's fork
server that is paid once, in the server (``synsweep.sweeps.forkserver_preload`` imports the task code, then
loads the run's kernels), while the driver checks the store, starts the scheduler and writes the template; each
worker process is then a fork of the server, registered in a tenth of a second, its first task running the
kernel at once. The kernels' compiled code is the same in every worker, so the results are bit-identical to
spawned workers' (and nothing of the driver's state is inherited: the server is a fresh interpreter).

    start_fork_server(task_plan(spec).kernels)   # once the spec is valid: the command line, or the runner
    use_fork_server()                            # local_client: fork the workers from it

What a forked worker inherits is the server's state at its start, not the driver's at the worker's start: its
environment (``fork_environment``: what dask's nanny sets before spawning, and NUMBA_NUM_THREADS=1, read when
numba is imported; the nanny sets the run's worker environment again in each worker), and SIGINT ignored (the
server is started with it ignored and its forks restore that, so a worker never sees the terminal's Ctrl-C,
which is the driver's, ``synsweep.sweeps.interrupts``). One server per driver process, killed when the driver
exits (its workers are closed by then; a server still importing would hold the command's output streams open);
a later run in the same process forks from it too, its workers loading that run's kernels on their first task
as spawned ones do. GPU runs keep spawned workers (a CUDA context does not survive a fork), as do platforms
without a fork server.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import multiprocessing
import os
import pickle
import signal
from collections.abc import Iterable, Iterator
from typing import Any
from unittest import mock

from .interrupts import workers_ignore_sigint

#: the environment variable that hands the kernel keys (pickled, base64) to the server's preload
KERNELS_ENV = "SYNSWEEP_FORKSERVER_KERNELS"
#: what the server imports before it forks anything: the spawning script (as a spawned child would), then the
#: task code and the run's kernels
SERVER_PRELOAD = ["__main__", "synsweep.sweeps.forkserver_preload"]


_started = False  # this process started synsweep's fork server


def fork_server_available() -> bool:
    """Whether this platform has multiprocessing's fork server (POSIX; not Windows)."""
    return "forkserver" in multiprocessing.get_all_start_methods()


def fork_environment() -> dict[str, str]:
    """The environment the server, and every worker forked from it, starts with (added to this process's): what
    dask's nanny sets before spawning a worker (``distributed.nanny.pre-spawn-environ``: the numerical libraries'
    thread counts, read when numpy is imported, malloc's trim threshold, read when the process starts;
    ``PYTHONHASHSEED`` as dask fixes it for its workers) and NUMBA_NUM_THREADS=1 (one thread per worker, read when
    numba is imported)."""
    import dask.config

    pre = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    env = {k: os.environ.get(k, str(v)) for k, v in pre.items() if v is not None}
    if env.get("PYTHONHASHSEED") in (None, "0"):
        env["PYTHONHASHSEED"] = "6640"
    return env | {"NUMBA_NUM_THREADS": "1"}


def start_fork_server(kernels: Iterable[Any]) -> bool:
    """Start this process's fork server (once per process), in the background: it imports the task code, then
    loads ``kernels`` (``KernelKey``s). Returns whether this process's local clusters fork their workers from it
    (``use_fork_server``): False where there is no fork server, or when another part of the program started
    one (its preload is not ours)."""
    global _started
    if _started:
        return True
    if not fork_server_available():
        return False
    from multiprocessing import forkserver

    from .compat import fork_server_pid

    if fork_server_pid() is not None:  # another library's server
        return False
    env = fork_environment() | {KERNELS_ENV: base64.b64encode(pickle.dumps(tuple(kernels))).decode()}
    forkserver.set_forkserver_preload(SERVER_PRELOAD)
    # the server starts with env (os.environ as it is then), this process's environment is restored after
    with mock.patch.dict(os.environ, env), workers_ignore_sigint():  # the server inherits SIGINT ignored
        forkserver.ensure_running()
    _started = True
    atexit.register(_end_server)
    return True


def use_fork_server() -> bool:
    """Whether this process's local clusters fork their workers from synsweep's fork server."""
    return _started


@contextlib.contextmanager
def forked_workers() -> Iterator[None]:
    """While the block runs, dask's nannies start their worker processes from the fork server (dask's
    ``distributed.worker.multiprocessing-method``). Dask's own preload list for a fork server is not set (the
    server is already running with ours; setting it would import dask's optional dependencies here)."""
    import dask.config

    from .compat import skip_dask_forkserver_preload

    skip_dask_forkserver_preload()
    with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
        yield


def preloaded_kernels() -> tuple[Any, ...]:
    """In the server: the kernel keys the driver handed over (``KERNELS_ENV``, removed from the environment
    its workers inherit); () if there are none or they cannot be read (each worker then loads its own)."""
    text = os.environ.pop(KERNELS_ENV, None)
    try:
        return tuple(pickle.loads(base64.b64decode(text))) if text else ()
    except Exception:  # noqa: BLE001
        return ()


def _end_server() -> None:
    """At the driver's exit: kill the fork server (the local clusters, and so their workers, are closed by
    then; a server still importing or loading a kernel would hold the command's output streams open)."""
    from .compat import fork_server_pid

    pid = fork_server_pid()
    if pid is not None:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
