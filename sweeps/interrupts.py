"""Ctrl-C during a run: the driver stops, the workers it started do not see the signal.

A Ctrl-C in a terminal sends SIGINT to every process of the foreground group: the driver and the worker
processes of its local cluster. Only the driver should act on it (cancel the tasks, close the cluster, say
how far the run got); a worker interrupted inside the asyncio loop or a kernel prints a traceback and leaves
its nanny to kill it ("Worker process still alive ... killing") and the resource tracker to warn about a
semaphore it never released. So:

    cluster = LocalCluster(n_workers=0, ..., preload=[PRELOAD])  # the scheduler; a worker that a nanny restarts
                                           # later ignores SIGINT from its preload (this module's dask_setup) on
    start_workers(cluster, n)              # worker processes start with SIGINT ignored; a Ctrl-C while they
                                           # import and register stops the run (spawn_workers, then
                                           # wait_for_workers: the driver may work in between)
    with interruptible():                  # in the driver: SIGINT raises KeyboardInterrupt here, whatever
        ...                                # handler a library installed (dask-jobqueue's runner module
                                           # installs ``signal.signal(SIGINT, lambda *_: sys.exit())`` on
                                           # import, which would make a Ctrl-C a silent exit 0)
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

PRELOAD = "synsweep.sweeps.interrupts"


class _StoppedRunNoise(logging.Filter):
    """Drops what a worker of a local cluster logs because the driver stopped the run under it: that a
    synsweep task it was running was cancelled, that the scheduler (closed first) no longer answers its
    heartbeat, and that the driver's client went away while a result was sent to it. The driver says itself
    that the run was stopped, and how far it got."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "ended with CancelledError" in text and "synsweep-" in text:
            return False
        if text.startswith("failed during get data with") and text.endswith("-> None"):
            return False  # the driver's client, gone while a result was on its way to it
        return not text.startswith("Failed to communicate with scheduler during heartbeat")


class _InterruptedSyncNoise(logging.Filter):
    """Drops the traceback tornado logs when a Ctrl-C reaches the driver inside distributed's ``sync`` before
    the future it waits on exists: its ``cancel`` callback then fails with a NameError (distributed 2026.x).
    The run is stopped either way, and the driver says how far it got."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "sync.<locals>.cancel" not in record.getMessage()


def dask_setup(worker: Any = None) -> None:
    """dask preload hook, run in each worker process of a local cluster at its start: ignore SIGINT (the driver
    stops the run; a worker that a nanny restarts did not inherit the ignored signal), and ``_StoppedRunNoise``
    on the worker's loggers."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("distributed.worker.state_machine", "distributed.worker"):
        log = logging.getLogger(name)
        if not any(isinstance(f, _StoppedRunNoise) for f in log.filters):
            log.addFilter(_StoppedRunNoise())


@contextlib.contextmanager
def workers_ignore_sigint() -> Iterator[None]:
    """SIGINT ignored by this process for the block, in which a local cluster starts its worker processes:
    they inherit the ignored signal from their first instruction on (an ignored disposition survives exec,
    where a handler, or a blocked signal mask, does not), so a Ctrl-C meant for the driver never interrupts
    a worker, even while it imports. The cost: a Ctrl-C inside the block is lost, so keep it to the spawning
    of the processes (``start_workers``). Does nothing outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


#: seconds to wait for the worker processes of a local cluster to be spawned, then to register
SPAWN_TIMEOUT_S = 60.0
START_TIMEOUT_S = 300.0


def start_workers(cluster: Any, n: int) -> None:
    """Start ``n`` worker processes in ``cluster`` (a LocalCluster made with ``n_workers=0``: its scheduler
    only) and wait for them: ``spawn_workers``, then ``wait_for_workers``."""
    spawn_workers(cluster, n)
    wait_for_workers(cluster, n)


def spawn_workers(cluster: Any, n: int) -> None:
    """Spawn ``n`` worker processes in ``cluster`` (a LocalCluster made with ``n_workers=0``: its scheduler
    only) without waiting for them to register, with SIGINT ignored only while they are spawned: from the
    request until ``n`` new child processes have started (a spawned process has exec'd with the ignored
    disposition, which its Python keeps). Then the driver's handler is back for the rest of the start-up (the
    workers' imports and registration, most of its 1 to 3 s), so a Ctrl-C there stops the run as a later one
    does; only one in the tens of milliseconds of spawning is lost. A nanny not spawned within
    ``SPAWN_TIMEOUT_S`` (a stalled machine) gets the handler back anyway: its worker may then see a Ctrl-C
    during its start-up."""
    before = set(_child_processes())
    with workers_ignore_sigint():
        cluster.scale(n)
        deadline = time.monotonic() + SPAWN_TIMEOUT_S
        while len(set(_child_processes()) - before) < n and time.monotonic() < deadline:
            time.sleep(0.01)


def wait_for_workers(cluster: Any, n: int) -> None:
    """Wait until ``n`` workers of ``cluster`` have registered with its scheduler (at most ``START_TIMEOUT_S``)."""
    cluster.wait_for_workers(n, timeout=START_TIMEOUT_S)


def _child_processes() -> list[int]:
    """The pids of this process's children that are spawned multiprocessing processes past their exec (their
    command line is the spawned Python's): what the nannies start, from the event loop's thread. Read with
    psutil (a dependency of distributed), which only looks: the nannies reap their own processes."""
    import psutil

    pids = []
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):  # gone meanwhile
            if "--multiprocessing-fork" in child.cmdline():
                pids.append(child.pid)
    return pids


class Terminated(KeyboardInterrupt):
    """SIGTERM during a run (a batch system ending the job, ``kill``, ``docker stop``): the run stops as for a
    Ctrl-C, keeping what is stored, and says so."""


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


def _handled(signals: tuple[int, ...], handler: Any) -> dict[int, Any]:
    """Install ``handler`` for each of ``signals`` that is not ignored (a run started with ``nohup`` or in the
    background keeps ignoring what it was told to); the previous handlers, to restore."""
    return {s: signal.signal(s, handler) for s in signals if signal.getsignal(s) != signal.SIG_IGN}


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in the block and SIGTERM ``Terminated`` (a KeyboardInterrupt), and a bare
    ``sys.exit()`` (``SystemExit`` with no code or code 0) raised in it, which a library's SIGINT handler
    produces, becomes KeyboardInterrupt too: the block is a run that was not finished, so it never ends in a
    silent success. The previous handlers are restored afterwards. Does nothing outside the main thread
    (signal handlers live there); a signal the process ignores stays ignored (a run started in the background
    with ``nohup`` or ``&`` keeps running through a Ctrl-C)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = _handled((signal.SIGINT, signal.SIGTERM), _raise_interrupt)
    tornado_log = logging.getLogger("tornado.application")
    if not any(isinstance(f, _InterruptedSyncNoise) for f in tornado_log.filters):
        tornado_log.addFilter(_InterruptedSyncNoise())  # kept: the callback may run after the block
    try:
        yield
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise
        raise KeyboardInterrupt from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def interrupt_deferred() -> Iterator[None]:
    """A Ctrl-C (or SIGTERM) during the block takes effect when the block ends: KeyboardInterrupt (``Terminated``)
    is raised then. For a step that must not be cut in half, such as connecting dask's Client: interrupted
    inside its constructor, a client is left half-connected and out of reach, and at the interpreter's exit
    its ``__del__`` waits 60 s on a closed event loop, then prints a traceback under the run's last line.
    Does nothing outside the main thread; an ignored signal stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = _handled((signal.SIGINT, signal.SIGTERM), lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if held:
        _raise_interrupt(held[0], None)


def restore_handler() -> None:
    """Make SIGINT raise KeyboardInterrupt again after code that may have replaced the handler (an import of
    dask-jobqueue): for inside ``interruptible``."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) != signal.SIG_IGN:
        signal.signal(signal.SIGINT, _raise_interrupt)
