"""The dask client of a run, built in one place: a running scheduler's, batch jobs', or a local cluster's.

    with open_client(scheduler="tcp://10.0.0.5:8786") as client: ...   # checked, probed, then connected
    with open_client(cluster=job_config("slurm", spec)) as client: ...  # batch jobs (synsweep.sweeps.clusters)
    with open_client(workers=4) as client: ...                         # a LocalCluster of 4 processes, here
    with open_client(client) as same: ...                              # a client the caller holds, as it is

A scheduler address is checked before anything connects: its form (``tcp://host:port``), that it matches the
TLS settings (a ``tls://`` address needs certificates, certificates need a ``tls://`` address), and that
something listens there (one TCP connection of at most ``PROBE_SECONDS``; dask's own client would retry for
30 s). Each refusal is a ``ClientError``: one paragraph naming the option and the fix.

The local cluster: one single-threaded worker process per core (or ``workers``), on 127.0.0.1, dask's
dashboard only with bokeh installed (``synsweep.sweeps.dashboard``, its link logged at start), dask's monitors
turned down (``synsweep.sweeps.monitors``), TLS with ``security``; its worker processes are forks of the run's
fork server when one was started (``synsweep.sweeps.forkserver``: the task code and the kernels loaded once),
else spawned (GPU workers); either way they ignore SIGINT (Ctrl-C is the driver's, also while they start:
the fork server's, or ``synsweep.sweeps.interrupts.spawn_workers``), have the task code imported as they start,
a spawned one ending without the interpreter's teardown once closed (``synsweep.sweeps.worker_process``),
and get the environment of ``local_worker_environment``
(``LocalCluster(env=...)``, kept across a nanny's restarts).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import dask.config

from .dashboard import announce, dashboard_address
from .interrupts import PRELOAD, interrupt_deferred, spawn_workers, wait_for_workers
from .monitors import quiet_monitors
from .security import dask_tls_configured, is_tls_address

if TYPE_CHECKING:
    from distributed import Client, Security

    from .clusters import JobConfig

__all__ = ["GPU_RESOURCE", "PROBE_SECONDS", "ClientError", "check_scheduler", "local_client", "local_worker_count",
           "open_client", "probe", "scheduler_client", "silence_shutdown"]

PROBE_SECONDS = 5.0
#: the dask worker resource of a worker that holds one GPU (``dask worker --resources GPU=1``); the tasks of a
#: sweep with execution.device cuda each ask for one, so only such workers run them, one at a time per GPU
GPU_RESOURCE = "GPU"

#: what the local cluster's scheduler and nannies (in this process) log when it closes, or when a run is stopped
#: under it: the nannies kill workers slow to exit or busy in a kernel ("Worker process still alive ...
#: killing"), the scheduler cannot hand over the result of a task cancelled as it finished ("Couldn't gather
#: keys")
_SHUTDOWN_LOGGERS = ("distributed.nanny", "distributed.scheduler")
#: the local cluster's worker preloads: SIGINT ignored (``synsweep.sweeps.interrupts``), then the task code
#: imported while the worker starts and the process ended without teardown once it closed
#: (``synsweep.sweeps.worker_process``)
PRELOADS = [PRELOAD, "synsweep.sweeps.worker_process"]


class ClientError(ValueError):
    """A scheduler that cannot be used (a malformed address, TLS that does not match, nobody listening):
    ``str(error)`` is one paragraph naming the option and the fix."""


@contextlib.contextmanager
def open_client(client: Client | None = None, *, scheduler: str | None = None, cluster: JobConfig | None = None,
                workers: int | None = None, security: Security | None = None,
                shared_directory: str | os.PathLike | None = None, gpu: bool = False) -> Iterator[Client]:
    """The client a run uses: ``client`` itself when given; else a client of the running ``scheduler``
    (``scheduler_client``); else of batch jobs (``cluster``: ``synsweep.sweeps.clusters.batch_client``, which
    writes in-memory certificates for the jobs into ``shared_directory``); else of a local cluster of
    ``workers`` processes (``local_client``; with ``gpu``, workers holding this machine's GPU). What this block
    started is closed when it ends."""
    if client is not None:
        yield client
    elif scheduler is not None:
        with scheduler_client(scheduler, security) as c:
            yield c
    elif cluster is not None:
        from .clusters import batch_client

        with batch_client(cluster, security, shared_temp_directory=shared_directory) as c:
            yield c
    else:
        with local_client(workers, security, gpu) as c:
            yield c


@contextlib.contextmanager
def scheduler_client(scheduler: str, security: Security | None = None) -> Iterator[Client]:
    """A client of the running scheduler at ``scheduler``, connected after ``check_scheduler`` passed;
    ClientError when it cannot connect."""
    from distributed import Client

    check_scheduler(scheduler, security)
    with contextlib.ExitStack() as stack:
        try:
            with interrupt_deferred():  # a Ctrl-C while it connects: the client is closed, not left half-open
                client = stack.enter_context(Client(scheduler, security=security, set_as_default=False))
        except (OSError, TimeoutError) as exc:
            raise ClientError(
                f"could not connect to the dask scheduler at {scheduler!r}: {exc}. Check that the scheduler is "
                "running and reachable (e.g. tcp://host:8786), or leave out --scheduler to start a local cluster."
                + (" With TLS, also check that the scheduler's certificate and yours are signed by the CA you "
                   "gave." if security is not None else "")) from None
        yield client


def check_scheduler(scheduler: str, security: Security | None = None) -> None:
    """Refuse, before any client exists, a scheduler address that is malformed, that does not match the TLS
    settings, or where nothing listens (``probe``)."""
    from distributed.comm.addressing import get_address_host_port, parse_address

    try:  # a malformed address: say so before a half-built Client hangs on closing
        if parse_address(scheduler)[0] in ("tcp", "tls"):
            get_address_host_port(scheduler)
    except ValueError as exc:
        raise ClientError(f"--scheduler {scheduler!r} is not a scheduler address: {exc}. Give it as "
                          "tcp://host:port, e.g. tcp://10.0.0.5:8786 (what 'dask scheduler' prints).") from None
    _check_tls(scheduler, security)
    probe(scheduler)


def _check_tls(scheduler: str, security: Security | None) -> None:
    if security is not None and not is_tls_address(scheduler):
        raise ClientError(f"--scheduler {scheduler!r} is a plain address, but TLS options are given; a scheduler "
                          "started with certificates listens on tls://host:port: give that address.")
    if security is None and is_tls_address(scheduler) and not dask_tls_configured():
        raise ClientError(f"--scheduler {scheduler!r} uses TLS, but no certificates are given: the scheduler "
                          "refuses clients without a certificate signed by its CA. Give --tls-ca-file, --tls-cert "
                          "and --tls-key (or --security FILE, a dask config file with distributed.comm.tls, or set "
                          "them in dask's own config: DASK_DISTRIBUTED__COMM__TLS__CA_FILE, ..._TLS__CLIENT__CERT "
                          "and ..._TLS__CLIENT__KEY).")


def probe(scheduler: str) -> None:
    """Refuse at once a scheduler address where nothing listens (dask's client retries for 30 s, the
    ``distributed.comm.timeouts.connect`` default, before it gives up): one TCP connection, of at most
    PROBE_SECONDS; a refused connection fails in milliseconds. Only tcp:// and tls:// addresses are probed."""
    from distributed.comm.addressing import get_address_host_port, parse_address

    if parse_address(scheduler)[0] not in ("tcp", "tls"):
        return
    host, port = get_address_host_port(scheduler)
    try:
        socket.create_connection((host, port), timeout=PROBE_SECONDS).close()
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise ClientError(
            f"could not connect to the dask scheduler at {scheduler!r}: {host}:{port} {reason}. Check that the "
            "scheduler is running and reachable from here (the address 'dask scheduler' printed, e.g. "
            "tcp://10.0.0.5:8786; a firewall may block the port), or leave out --scheduler to start a local "
            "cluster.") from None


def local_worker_environment() -> dict[str, str]:
    """The environment of the local cluster's worker processes (``LocalCluster(env=...)``, which the nanny's
    restarts keep): NUMBA_NUM_THREADS=1 (one thread per worker), the driver's kernel cache, and the driver's
    choice of numba's CUDA simulator (NUMBA_ENABLE_CUDASIM, ``synsweep.engine.device``) if it made one."""
    from synsweep.engine.kernels import cache_dir

    env = {"NUMBA_NUM_THREADS": "1", "SYNSWEEP_CACHE_DIR": str(cache_dir().parent)}
    if "NUMBA_ENABLE_CUDASIM" in os.environ:
        env["NUMBA_ENABLE_CUDASIM"] = os.environ["NUMBA_ENABLE_CUDASIM"]
    return env


def local_worker_count(workers: int | None = None, gpu: bool = False) -> int:
    """The number of worker processes of a local cluster: ``workers``, else one per core (one with ``gpu``)."""
    return workers or (1 if gpu else os.cpu_count() or 1)


@contextlib.contextmanager
def local_client(workers: int | None = None, security: Security | None = None, gpu: bool = False, *,
                 wait: bool = True) -> Iterator[Client]:
    """A client of a LocalCluster started here (see the module docstring), closed when the block ends. With
    ``gpu``: ``workers`` (default one) workers, each advertising the resource ``GPU_RESOURCE`` (they share
    this machine's GPU; one worker per GPU is docs/cluster.md's recipe for several). ``wait=False``: the
    client comes as soon as the worker processes are spawned, while they import and register; the caller
    waits for them (``client.wait_for_workers(local_worker_count(workers, gpu))``) before it counts them."""
    from distributed import Client, LocalCluster

    from .forkserver import forked_workers, use_fork_server

    forked = not gpu and use_fork_server()
    with (warnings.catch_warnings(), dask.config.set(quiet_monitors()),
          forked_workers() if forked else contextlib.nullcontext()):
        # the scheduler's HTTP endpoint moves to a free port when 8787 is taken
        warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
        with _shutdown_logs():
            gpus = {"resources": {GPU_RESOURCE: 1}} if gpu else {}
            cluster = LocalCluster(n_workers=0, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=dashboard_address(), security=security,
                                   protocol="tls://" if security is not None else None, preload=PRELOADS,
                                   env=local_worker_environment(), **gpus)
            with cluster:
                n = local_worker_count(workers, gpu)
                try:  # Ctrl-C is the driver's to handle, never a worker's, also while the workers start
                    if forked:  # forks of a server that ignores SIGINT (synsweep.sweeps.forkserver)
                        cluster.scale(n)
                    else:
                        spawn_workers(cluster, n)
                    if wait:
                        wait_for_workers(cluster, n)
                except BaseException:
                    silence_shutdown()
                    raise
                with contextlib.ExitStack() as stack:
                    try:
                        with interrupt_deferred():  # a Ctrl-C while it connects: closed, not left half-open
                            # not waiting: by address (Client(cluster) awaits the cluster, its workers' start)
                            c = stack.enter_context(Client(cluster if wait else cluster.scheduler_address,
                                                           security=security, set_as_default=False))
                        announce(c)
                        yield c
                    except BaseException:  # a run stopped under it (Ctrl-C, an error in the driver)
                        silence_shutdown()
                        raise
                    finally:  # closing: a worker slow to exit (a loaded machine) is killed, which is no news
                        logging.getLogger("distributed.nanny").setLevel(logging.CRITICAL)


@contextlib.contextmanager
def _shutdown_logs() -> Iterator[None]:
    """Restores the levels of ``_SHUTDOWN_LOGGERS`` that ``silence_shutdown`` raised."""
    levels = {name: logging.getLogger(name).level for name in _SHUTDOWN_LOGGERS}
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def silence_shutdown() -> None:
    """A run on a local cluster was stopped (Ctrl-C, an error in the driver): the shutdown's expected
    complaints are not logged (until ``local_client``'s block ends)."""
    for name in _SHUTDOWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)

