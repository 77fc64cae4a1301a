"""The one place that builds a run's dask client (``synsweep.sweeps.client``): what it refuses before any
client exists, and that a client the caller holds is used as it is. (The local cluster it starts is covered by
tests/integration/test_service.py, the batch jobs by test_slurm.py and test_cluster_cli.py, TLS by test_tls.py;
its workers' preload is tested here in plain processes.)"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from synsweep.sweeps.client import ClientError, check_scheduler, open_client


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_client_given_is_used_as_it_is() -> None:
    held = object()
    with open_client(held, scheduler="tcp://127.0.0.1:1", workers=3) as client:  # nothing else is built
        assert client is held


def test_nobody_listening_is_refused_naming_the_address() -> None:
    port = closed_port()
    with pytest.raises(ClientError, match=rf"127\.0\.0\.1:{port} Connection refused.*leave out --scheduler"):
        with open_client(scheduler=f"tcp://127.0.0.1:{port}"):
            pass


def test_a_malformed_address_is_refused() -> None:
    with pytest.raises(ClientError, match="is not a scheduler address.*tcp://host:port"):
        check_scheduler("tcp://no-port-here")


def test_tls_options_need_a_tls_address_and_back() -> None:
    from distributed import Security

    with pytest.raises(ClientError, match="is a plain address, but TLS options are given"):
        check_scheduler("tcp://127.0.0.1:1", Security(require_encryption=True))
    with pytest.raises(ClientError, match="uses TLS, but no certificates are given"):
        check_scheduler("tls://127.0.0.1:1")


WORKER_EXIT = """
import atexit, sys
atexit.register(lambda: open(sys.argv[1], "w").close())  # registered before the preload's: runs after it
from synsweep.sweeps import worker_process
worker_process.dask_setup(None)
if sys.argv[2] == "closed":
    worker_process.dask_teardown(None)
"""


@pytest.mark.parametrize("closed", [True, False])
def test_a_local_workers_process_ends_without_teardown_once_closed(tmp_path, closed):
    """The local cluster's worker preload: once the worker closed, the process ends (status 0) at the preload's
    exit handler, before the handlers registered earlier; a worker that did not close ends as usual."""
    marker = tmp_path / "teardown-ran"
    proc = subprocess.run([sys.executable, "-c", WORKER_EXIT, str(marker), "closed" if closed else "failed"],
                          timeout=300)
    assert proc.returncode == 0
    assert marker.exists() is not closed


def test_a_ctrl_c_while_the_client_connects_closes_it(monkeypatch) -> None:
    """SIGINT arriving inside dask's Client constructor is held until the client exists, then raised: the
    client is closed on the way out, never left half-connected (whose __del__ at exit would wait 60 s and
    print a traceback under the run's last line)."""
    import signal

    from distributed import Client, LocalCluster

    made = []
    start = Client._start

    async def interrupted_start(self, *args, **kwargs):  # on the client's event loop, mid-connect
        made.append(self)
        signal.raise_signal(signal.SIGINT)
        return await start(self, *args, **kwargs)

    with LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1",
                      dashboard_address=":0") as cluster:
        monkeypatch.setattr(Client, "_start", interrupted_start)
        with pytest.raises(KeyboardInterrupt), open_client(scheduler=cluster.scheduler_address):
            pytest.fail("the block must not run: the Ctrl-C came first")
    assert len(made) == 1 and made[0].status == "closed"
