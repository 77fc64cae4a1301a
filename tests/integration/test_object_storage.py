"""Stores on object storage: a real S3-compatible server (moto's server mode) on 127.0.0.1, started here, with the
fault-test cluster of ``test_faults`` (a ``dask scheduler`` and two ``dask worker`` processes with the fault
plugin) and the installed ``synsweep`` command as the driver.

Credentials, region and endpoint reach the driver and the workers only through the environment (``AWS_*``),
as on a real cluster. The lease of the run lock lasts SYNSWEEP_LEASE_SECONDS = 3 s here, so a killed driver's
lease expires within the test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from unittest import mock

import pytest
import xarray as xr

from synsweep.sweeps import StoreError, execute, load_spec, open_result
from synsweep.sweeps.location import location
from synsweep.sweeps.lock import acquire, holder, is_locked
from synsweep.sweeps.store import META_GROUP, done_chunks, failed_chunks

from ..concurrent_writers import lost_rows, prepare
from .test_faults import (
    BIN,
    DOC,
    FIRST_FOUR,
    HELD,
    N_CHUNKS,
    Cluster,
    alive,
    held_pids,
    start_synsweep,
    synsweep,
    wait_until,
    write_spec,
)

SECRET = "synsweep-test-secret-8f3a"  # must never appear in the store
BUCKET = "synsweep-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 server on 127.0.0.1 and the AWS_* environment pointing at it (for this process and every
    process started from it); the URL of an empty bucket."""
    import boto3

    port = _free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                              stderr=subprocess.STDOUT)
    env = {"AWS_ACCESS_KEY_ID": "synsweep-test", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ALLOW_HTTP": "true", "SYNSWEEP_LEASE_SECONDS": "3"}
    try:
        with mock.patch.dict(os.environ, env):
            def up() -> bool:
                with socket.socket() as s:
                    return s.connect_ex(("127.0.0.1", port)) == 0

            wait_until(up, "the S3 server", timeout=60)
            boto3.client("s3").create_bucket(Bucket=BUCKET)
            yield f"s3://{BUCKET}"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def cluster(s3, tmp_path_factory):
    """The fault-test cluster, started after the AWS_* environment is set (its workers inherit it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def reference(cluster, tmp_path_factory) -> Path:
    """The sweep on local disk, uninterrupted."""
    out = tmp_path_factory.mktemp("ref") / "ref.zarr"
    report = execute(load_spec(DOC), out, scheduler=cluster.address, progress=False)
    assert sorted(report.computed) == list(range(N_CHUNKS)) and not report.failed
    return out


def data_files(path: Path) -> dict[str, bytes]:
    """The chunk data of a local store: every file but the metadata and the bookkeeping."""
    return {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*"))
            if f.is_file() and f.name != "zarr.json" and f.relative_to(path).parts[0] != META_GROUP}


def assert_same_as(url: str, reference: Path) -> None:
    """Equal datasets and byte-identical shard objects."""
    a, b = open_result(url).load(), open_result(reference).load()
    xr.testing.assert_identical(a.drop_attrs(deep=False), b.drop_attrs(deep=False))
    loc = location(url)
    assert {key: loc.read(key) for key in data_files(reference)} == data_files(reference)


@pytest.mark.slow
def test_sweep_on_object_storage_equals_local_disk(cluster, reference, s3):
    url = f"{s3}/sweeps/plain.zarr"
    report = execute(load_spec(DOC), url, scheduler=cluster.address, progress=False)
    assert sorted(report.computed) == list(range(N_CHUNKS)) and not report.failed
    assert_same_as(url, reference)
    loc = location(url)
    assert done_chunks(url) == set(range(N_CHUNKS)) and not failed_chunks(url) and not is_locked(url)
    assert loc.read(f"{META_GROUP}/lock") is None  # the lease is deleted when the run ends
    # one object per variable (a shard of 6 task blocks), the metadata, and one completion record
    n_vars = len(open_result(url).data_vars)
    assert loc.count() == n_vars + len(list(reference.rglob("zarr.json"))) + len(open_result(url).coords) + 1
    everything = b"".join(loc.read(p) or b"" for p in loc._paths())
    assert SECRET.encode() not in everything and b"AWS_SECRET" not in everything
    proc = synsweep("inspect", url)  # the command line takes the URL like a path
    assert proc.returncode == 0, proc.stderr
    assert "30: ok 30 (100.0%), diverged 0 (0.0%), not computed 0 (0.0%)" in proc.stdout


@pytest.mark.slow
def test_killed_worker_second_run_killed_driver_then_resume_on_object_storage(cluster, reference, s3, tmp_path):
    url, gate = f"{s3}/sweeps/faults.zarr", tmp_path / "gate"
    spec_file = write_spec(tmp_path / "spec.yaml", DOC)
    cluster.set_faults({"hold": HELD, "gate": str(gate)})
    driver = start_synsweep("run", spec_file, "--out", url, "--scheduler", cluster.address, "--no-progress")
    try:
        wait_until(lambda: done_chunks(url) == FIRST_FOUR and len(held_pids(gate)) == 2,
                   "chunks 0-3 stored and chunks 4, 5 held")
        # a second run on the same store is refused while the first one's lease is renewed
        second = synsweep("run", spec_file, "--out", url, "--scheduler", cluster.address, "--resume",
                          "--no-progress")
        assert second.returncode == 2 and "Another synsweep run is writing to" in second.stderr
        assert f"pid {driver.pid}" in second.stderr
        # a worker dies in the middle of a task: the task runs again on the other worker (held again)
        victim = held_pids(gate)[0]
        assert cluster.owns(victim)
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: not alive(victim), "the killed worker to be gone")
        gate.with_name(f"{gate.name}.held.{victim}").unlink(missing_ok=True)  # its marker outlives it
        wait_until(lambda: len(held_pids(gate)) == 2, "the lost task held again by the new worker")
        assert driver.poll() is None
        driver.send_signal(signal.SIGKILL)  # the driver dies holding the lease
        driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert holder(url)["pid"] == driver.pid
    cluster.set_faults(None)  # the orphaned tasks stop without writing
    wait_until(lambda: not held_pids(gate), "the orphaned tasks to stop")
    cluster.wait_for_workers()
    assert done_chunks(url) == FIRST_FOUR
    wait_until(lambda: not is_locked(url), "the dead driver's lease to expire", timeout=30)
    time.sleep(0.2)
    resumed = synsweep("run", spec_file, "--out", url, "--scheduler", cluster.address, "--resume", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert "2 of 6 chunks to compute" in resumed.stderr
    assert done_chunks(url) == set(range(N_CHUNKS))
    assert_same_as(url, reference)


def test_concurrent_writers_of_one_shard_lose_nothing_on_object_storage(s3):
    store, writers, rounds = f"{s3}/concurrent.zarr", 3, 5
    prepare(store, writers)
    root = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-m", "tests.concurrent_writers", store, str(k), str(rounds)],
                              cwd=root) for k in range(writers)]
    assert [p.wait(timeout=120) for p in procs] == [0] * writers
    assert lost_rows(store, writers, rounds) == []


@pytest.mark.slow
def test_a_dead_runs_lease_blocks_until_it_expires_then_one_successor_takes_it(s3):
    url = f"{s3}/lease.zarr"
    code = ("import os, sys; from synsweep.sweeps.lock import acquire; acquire(sys.argv[1]); "
            "print(os.getpid(), flush=True); os._exit(0)")  # dies holding the lease, never releasing it
    proc = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert is_locked(url) and holder(url)["pid"] == int(proc.stdout)
    with pytest.raises(StoreError, match=rf"pid {int(proc.stdout)} on host .* expires 3 s after"):
        acquire(url)
    wait_until(lambda: not is_locked(url), "the lease to expire", timeout=30)
    results: list[object] = []

    def take() -> None:
        try:
            results.append(acquire(url))
        except StoreError as exc:
            results.append(exc)

    threads = [threading.Thread(target=take) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [r for r in results if not isinstance(r, Exception)]
    assert len(won) == 1 and len(results) == 2  # a conditional write: one successor, never two
    time.sleep(3.5)  # longer than the lease: the holder's renewals keep it
    assert is_locked(url) and holder(url)["token"] == won[0].info["token"]
    won[0].release()
    assert not is_locked(url) and holder(url) is None


def test_a_lease_taken_over_is_reported_lost_to_its_holder(s3):
    url = f"{s3}/lost.zarr"
    lease = acquire(url)
    other = b'{"pid": 1, "host": "elsewhere", "expires": "2999-01-01T00:00:00+00:00"}'  # another run's lease
    location(url).write(f"{META_GROUP}/lock", other)
    wait_until(lease.lost.is_set, "the holder to notice at its next renewal", timeout=10)
    lease.release()  # not its lease any more: left alone
    assert holder(url)["host"] == "elsewhere"


def test_an_object_store_that_refuses_access_is_a_user_error(s3, tmp_path):
    """A bucket that does not exist: every command that names the store answers with one paragraph (exit 2)
    before anything runs, no traceback."""
    spec = write_spec(tmp_path / "spec.yaml", DOC)
    missing = "s3://synsweep-no-such-bucket/r.zarr"
    for args in (["run", spec, "--out", missing, "--no-progress"], ["inspect", missing]):
        proc = synsweep(*args)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(f"synsweep: error: {missing}: the object store cannot be reached"), proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
