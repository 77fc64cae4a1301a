"""Faults survived, with real processes on 127.0.0.1: a ``dask scheduler`` and two ``dask worker`` processes
(each under its nanny) started here, the installed ``synsweep`` command as the driver, real zarr stores.

Faults are made by the worker preload ``faults_plugin.py`` (loaded with ``dask worker --preload``): through
its control file the tests make chosen points raise (a model error) or hold their task at a gate, so every
kill happens at a known moment: while the tasks of the points with g = 0.008 (chunks 4 and 5) wait, after
the other four chunks are stored. Every result is compared bit for bit (decoded values and the bytes of the
zarr chunk files) with an uninterrupted run of the same spec.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
import zarr
from distributed import Client

from synsweep.sweeps import StoreError, execute, load_spec, open_result
from synsweep.sweeps.chunks import plan_chunks
from synsweep.sweeps.lock import holder, is_locked
from synsweep.sweeps.store import META_GROUP, done_chunks, done_info, failed_chunks, store_attrs
from synsweep.workflows.describe import describe_result

from ..specs import hh_pair_doc

PLUGIN = Path(__file__).with_name("faults_plugin.py")
BIN = Path(sys.executable).parent
EXE = BIN / "synsweep"
TIMEOUT = 180

G = [0.0, 0.004, 0.008]
# 6 chunks of (1, 5): ids 2g + (0 for the low half of I_ext, 1 for the high)
DOC = hh_pair_doc("faults-test", G, duration=10, chunk_points=5,
                  record={"variables": ["v"], "every": 10, "points": "all"})
N_CHUNKS = 6
HELD = {"synapses.gap.params.g1": 0.008}  # the points of chunks 4 and 5
FIRST_FOUR = {0, 1, 2, 3}


def make_doc(**changes) -> dict:
    doc = copy.deepcopy(DOC)
    doc.update(copy.deepcopy(changes))
    return doc


def write_spec(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


def wait_until(condition: Callable[[], object], what: str, timeout: float = 120) -> object:
    """Poll ``condition`` until it is truthy; fail (not hang) if it never gets there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"gave up waiting for {what}")


def synsweep(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT)


def start_synsweep(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen([str(EXE), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def store_files(path: Path) -> dict[str, bytes]:
    """Every file of a store but its bookkeeping and its root metadata (which holds the creation time)."""
    return {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*"))
            if f.is_file() and f.relative_to(path).parts[0] != META_GROUP and f.relative_to(path) != Path("zarr.json")}


def assert_same_result(path: Path, reference: Path) -> None:
    """Equal datasets (values, coords, attrs but the global ones) and byte-identical chunk files."""
    a, b = open_result(path).load(), open_result(reference).load()
    xr.testing.assert_identical(a.drop_attrs(deep=False), b.drop_attrs(deep=False))
    assert store_files(path) == store_files(reference)


class Cluster:
    """A scheduler and two single-threaded workers, each its own ``dask worker`` process with the plugin."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.control = tmp / "faults.json"
        env = {**os.environ, "NUMBA_NUM_THREADS": "1", "SYNSWEEP_TEST_FAULTS": str(self.control)}
        scheduler_file = tmp / "scheduler.json"
        self.procs: list[subprocess.Popen] = []
        # the idle timeout and the workers' death timeout end the cluster if this test process dies
        self._start([BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", scheduler_file, "--idle-timeout", "600"], env, "scheduler")
        wait_until(scheduler_file.exists, "the scheduler file")
        for k in range(2):
            self._start([BIN / "dask", "worker", "--scheduler-file", scheduler_file, "--host", "127.0.0.1",
                         "--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--preload", PLUGIN,
                         "--death-timeout", "60"], env, f"worker{k}")
        self.client = Client(scheduler_file=str(scheduler_file), set_as_default=False)
        self.address = self.client.scheduler.address
        self.wait_for_workers()

    def _start(self, cmd: list, env: dict, name: str) -> None:
        log = open(self.tmp / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        self.procs.append(subprocess.Popen([str(c) for c in cmd], env=env, stdout=log, stderr=subprocess.STDOUT))

    def wait_for_workers(self) -> None:
        self.client.wait_for_workers(2, timeout=120)

    def owns(self, pid: int) -> bool:
        """Whether ``pid`` is a descendant of a process this cluster started (so the test may kill it)."""
        ours = {p.pid for p in self.procs}
        while pid > 1:
            if pid in ours:
                return True
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        return False

    def set_faults(self, control: dict | None) -> None:
        if control is None:
            self.control.unlink(missing_ok=True)
        else:
            tmp = self.control.with_suffix(".tmp")
            tmp.write_text(json.dumps(control))
            os.replace(tmp, self.control)

    def close(self) -> None:
        self.set_faults(None)
        self.client.close()
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def faults(cluster):
    """The cluster's fault control, cleared after the test (and the workers back to two)."""
    yield cluster
    cluster.set_faults(None)
    cluster.wait_for_workers()


@pytest.fixture(scope="module")
def reference(cluster, tmp_path_factory) -> Path:
    """The sweep run once, uninterrupted."""
    out = tmp_path_factory.mktemp("ref") / "ref.zarr"
    report = execute(load_spec(DOC), out, scheduler=cluster.address, progress=False)
    assert sorted(report.computed) == list(range(N_CHUNKS)) and not report.failed
    return out


def held_pids(gate: Path) -> list[int]:
    return [int(p.name.rsplit(".", 1)[1]) for p in gate.parent.glob(f"{gate.name}.held.*")]


def hold_until_first_four_done(out: Path, gate: Path) -> None:
    """Wait until chunks 0-3 are stored and both workers hold a task of chunks 4 and 5 at the gate."""
    wait_until(lambda: done_chunks(out) == FIRST_FOUR and len(held_pids(gate)) == 2,
               "chunks 0-3 stored and chunks 4, 5 held")


def in_thread(target: Callable[[], object]) -> tuple[threading.Thread, dict]:
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = target()
        except BaseException as exc:  # handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


# -- a worker dies --------------------------------------------------------------------------------------------
def test_worker_killed_mid_task_the_sweep_completes_bit_for_bit(faults, reference, tmp_path):
    out, gate = tmp_path / "worker_killed.zarr", tmp_path / "gate"
    faults.set_faults({"hold": HELD, "gate": str(gate)})
    thread, box = in_thread(lambda: execute(load_spec(DOC), out, scheduler=faults.address, progress=False))
    hold_until_first_four_done(out, gate)
    victim = held_pids(gate)[0]  # a worker process in the middle of a task of chunk 4 or 5
    assert faults.owns(victim)
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: not alive(victim), "the killed worker to be gone")
    gate.touch()
    thread.join(TIMEOUT)
    assert not thread.is_alive() and "error" not in box, box
    report = box["value"]
    assert sorted(report.computed) == list(range(N_CHUNKS)) and not report.failed
    assert done_chunks(out) == set(range(N_CHUNKS))
    for chunk in (4, 5):  # the lost task ran again elsewhere (the other worker, or the nanny's new one)
        assert done_info(out)[chunk]["pid"] != victim
    assert_same_result(out, reference)


# -- a reader while the sweep runs ----------------------------------------------------------------------------
def test_reader_during_the_sweep_sees_done_chunks_and_fill_values(faults, reference, tmp_path):
    out, gate = tmp_path / "reading.zarr", tmp_path / "gate"
    spec = load_spec(DOC)
    faults.set_faults({"hold": HELD, "gate": str(gate)})
    thread, box = in_thread(lambda: execute(spec, out, scheduler=faults.address, progress=False))
    try:
        hold_until_first_four_done(out, gate)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # opening a store being written raises no warning either
            raw = xr.open_zarr(out, consolidated=False, zarr_format=3, decode_times=False).load()
            ds = open_result(out).load()
        ref = open_result(reference).load()
        xr.testing.assert_identical(raw.status, ds.status)
        done = done_chunks(out)
        assert done == FIRST_FOUR  # the completion record ...
        for chunk, index in plan_chunks(spec).blocks():  # ... says which block holds what
            block = ds.isel(g=index[0], I_ext=index[1])
            if chunk in done:
                xr.testing.assert_identical(block.drop_attrs(deep=False),
                                            ref.isel(g=index[0], I_ext=index[1]).drop_attrs(deep=False))
            else:
                assert (block.status == 0).all() and (block.spike_count == -1).all()
                assert block.pearson.isnull().all() and block.trace_v.isnull().all()
        assert is_locked(out) and holder(out)["pid"] == os.getpid()
        text = describe_result(ds, out)
        assert "not computed 10 (33.3%)" in text and "a run is writing to this store now" in text
    finally:
        gate.touch()
        thread.join(TIMEOUT)
    assert "error" not in box, box
    assert not is_locked(out)
    assert_same_result(out, reference)


# -- the driver dies ------------------------------------------------------------------------------------------
def test_driver_killed_mid_sweep_resume_computes_only_the_missing_chunks(faults, reference, tmp_path):
    out, gate = tmp_path / "driver_killed.zarr", tmp_path / "gate"
    spec_file = write_spec(tmp_path / "spec.yaml", DOC)
    faults.set_faults({"hold": HELD, "gate": str(gate)})
    driver = start_synsweep("run", spec_file, "--out", out, "--scheduler", faults.address, "--no-progress")
    try:
        hold_until_first_four_done(out, gate)
        assert driver.poll() is None
        before = {k: done_info(out)[k] for k in FIRST_FOUR}  # each task's summary: pid, seconds, ...
        driver.send_signal(signal.SIGKILL)
        _, stderr = driver.communicate(timeout=TIMEOUT)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == -signal.SIGKILL
    # the cost estimate came first: work from the spec, time from a kernel speed on this machine (recorded by
    # earlier runs of this kernel here: "of the run of ..." for one, "median ... of the last N runs" for more; or
    # measured now)
    assert "6 of 6 chunks to compute: 30 points, 30,000 neuron-steps" in stderr
    assert "expected time" in stderr
    assert "kernel measured here" in stderr or "kernel speed of the workers of the " in stderr
    # the dead driver's tasks are orphans on the workers: cancel their hold, they stop without writing
    assert holder(out)["pid"] == driver.pid and not is_locked(out)  # its lock died with it
    faults.set_faults(None)
    wait_until(lambda: not held_pids(gate), "the orphaned tasks to stop")
    assert done_chunks(out) == FIRST_FOUR

    proc = synsweep("run", spec_file, "--out", out, "--resume", "--scheduler", faults.address, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "2 of 6 chunks to compute (4 already done): 10 points" in proc.stderr
    assert "this run computed 2 chunks (10 points), 4 chunks were already done" in proc.stdout
    assert {k: done_info(out)[k] for k in FIRST_FOUR} == before  # not rerun
    assert_same_result(out, reference)

    # resuming with a spec that differs (a longer simulation) is refused, and the store is left as it is
    # (the command line prints this StoreError as its one-paragraph exit-2 error, tests/e2e/test_cli.py)
    other = load_spec(make_doc(simulation={**DOC["simulation"], "duration": 12}))
    files = store_files(out)
    with pytest.raises(StoreError, match="Refusing to resume into") as refused:
        execute(other, out, resume=True, progress=False)
    assert "simulation.duration" in str(refused.value)  # names the key that differs, not two hashes
    assert store_files(out) == files


# -- a chunk's task raises ------------------------------------------------------------------------------------
def test_failing_chunk_is_reported_with_its_points_then_a_resume_completes_it(faults, reference, tmp_path):
    out = tmp_path / "failing.zarr"
    spec = load_spec(DOC)
    current = spec.dims[1].axes[0].values
    spec_file = write_spec(tmp_path / "spec.yaml", DOC)
    # a model error for the point (g 0.004, I_ext[7]): chunk 3 = g 0.004, I_ext[5:10]
    faults.set_faults({"raise": {"synapses.gap.params.g1": 0.004, "inputs.n1": float(current[7])}})
    proc = synsweep("run", spec_file, "--out", out, "--scheduler", faults.address, "--no-progress")
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    err = proc.stderr.strip().splitlines()[-1]
    assert err.startswith("synsweep: error: 1 of 6 chunks failed")
    points = f"g = 0.004, I_ext = {current[5]:.6g} .. 0.15 (5 points)"
    assert f"chunk 3, {points}: FloatingPointError: injected model error" in err
    assert "--resume" in err and "Traceback" not in proc.stderr
    assert done_chunks(out) == set(range(N_CHUNKS)) - {3}
    record = failed_chunks(out)
    assert list(record) == [3] and record[3]["points"] == points and record[3]["index"] == [[1, 2], [5, 10]]
    assert "injected model error" in record[3]["error"]
    ds, ref = open_result(out).load(), open_result(reference).load()
    assert (ds.status.isel(g=1, I_ext=slice(5, 10)) == 0).all()
    others = ds.status.copy(data=np.ones(ds.status.shape, dtype=bool))
    others[1, 5:10] = False
    xr.testing.assert_identical(ds.where(others).drop_attrs(deep=False), ref.where(others).drop_attrs(deep=False))
    assert f"chunk 3, {points}: FloatingPointError" in describe_result(ds, out)

    faults.set_faults(None)  # the fix
    again = execute(spec, out, scheduler=faults.address, resume=True, progress=False)
    assert again.computed == [3] and len(again.skipped) == 5 and not again.failed
    assert failed_chunks(out) == {}
    assert_same_result(out, reference)


# -- two runs on one store ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_second_run_on_a_store_being_written_is_refused(faults, reference, tmp_path):
    out, gate = tmp_path / "shared.zarr", tmp_path / "gate"
    spec_file = write_spec(tmp_path / "spec.yaml", DOC)
    execute(load_spec(DOC), out, progress=False, only_chunks=())  # the template: both runs are resumes
    faults.set_faults({"hold": HELD, "gate": str(gate)})
    first = start_synsweep("run", spec_file, "--out", out, "--resume", "--scheduler", faults.address,
                           "--no-progress")
    try:
        hold_until_first_four_done(out, gate)
        files = store_files(out)
        second = synsweep("run", spec_file, "--out", out, "--resume", "--scheduler", faults.address, "--no-progress")
        assert second.returncode == 2, second.stderr
        err = second.stderr.strip()
        assert err.startswith(f"synsweep: error: Another synsweep run is writing to {out}: pid {first.pid} "
                              f"on host {socket.gethostname()}"), err
        assert "--resume" in err and len(err.splitlines()) == 1 and "Traceback" not in err
        # nor may anyone delete the store under it
        with pytest.raises(StoreError, match=f"pid {first.pid}"):
            execute(load_spec(DOC), out, overwrite=True, progress=False)
        assert store_files(out) == files and done_chunks(out) == FIRST_FOUR
        gate.touch()
        stdout, stderr = first.communicate(timeout=TIMEOUT)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, stderr
    assert "this run computed 6 chunks (30 points)" in stdout
    assert_same_result(out, reference)


# -- extending a sweep ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_extend_adds_axis_values_and_computes_only_the_new_points(faults, reference, tmp_path):
    g = [0.0, 0.002, 0.004, 0.008, 0.012]  # one value between the old ones, one after them
    doc = make_doc(sweep=[{**DOC["sweep"][0], "values": g}, DOC["sweep"][1]])
    spec_file = write_spec(tmp_path / "more.yaml", doc)
    out = tmp_path / "more.zarr"
    proc = synsweep("run", spec_file, "--out", out, "--extend", reference, "--scheduler", faults.address,
                    "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "20 new points to compute (" in proc.stderr and "30 points copied from" in proc.stderr
    assert "in 10 of 10 chunks to write" in proc.stderr
    assert f"this run computed 10 chunks (20 points) and copied 30 points from {reference}" in proc.stdout
    ds = open_result(out)
    np.testing.assert_array_equal(ds.g.values, g)
    assert ds.g.attrs == open_result(reference).g.attrs  # the same coordinate convention
    meta = dict(zarr.open_group(out / META_GROUP, mode="r", zarr_format=3).attrs)
    assert meta["extended_from"]["spec_hash"] == store_attrs(reference)["spec_hash"]

    scratch = tmp_path / "scratch.zarr"
    report = execute(load_spec(doc), scratch, scheduler=faults.address, progress=False)
    assert report.n_points == 50
    assert_same_result(out, scratch)


@pytest.mark.slow
def test_extend_a_random_axis_with_a_new_seed_range(faults, tmp_path):
    def doc(n: int) -> dict:
        trial = {"zip": "trial", "axes": [
            {"name": "v1_0", "paths": ["neurons.n1.init.v"],
             "random": {"n": n, "seed": 7, "distribution": "uniform", "low": -80, "high": -60}},
            {"name": "v2_0", "paths": ["neurons.n2.init.v"],
             "random": {"n": n, "seed": 7, "distribution": "normal", "mean": -65, "std": 3}}]}
        return make_doc(sweep=[{**DOC["sweep"][0], "values": [0.0, 0.004]}, trial], record=None,
                        execution={"chunk_points": 3})

    old, new, scratch = tmp_path / "n3.zarr", tmp_path / "n5.zarr", tmp_path / "scratch.zarr"
    execute(load_spec(doc(3)), old, scheduler=faults.address, progress=False)
    report = execute(load_spec(doc(5)), new, scheduler=faults.address, progress=False, extend=old)
    assert (report.n_points, report.n_copied) == (4, 6) and not report.failed  # draws 3 and 4 are new
    before, after = open_result(old), open_result(new)
    np.testing.assert_array_equal(after.v1_0.values[:3], before.v1_0.values)  # draws keep their index
    np.testing.assert_array_equal(after.trial.values, np.arange(5))
    execute(load_spec(doc(5)), scratch, scheduler=faults.address, progress=False)
    assert_same_result(new, scratch)


@pytest.mark.slow
def test_extend_refuses_another_sweep(reference, tmp_path):
    longer = load_spec(make_doc(simulation={**DOC["simulation"], "duration": 12}))
    with pytest.raises(StoreError, match="its 'simulation' section differs"):
        execute(longer, tmp_path / "x.zarr", extend=reference, progress=False)
    fewer_dims = load_spec(make_doc(sweep=DOC["sweep"][:1]))
    with pytest.raises(StoreError, match=r"sweep dims differ \(old: g, I_ext; new: g\)"):
        execute(fewer_dims, tmp_path / "x.zarr", extend=reference, progress=False)
    with pytest.raises(StoreError, match="is the output store itself"):
        execute(load_spec(DOC), reference, extend=reference, resume=True, progress=False)
    assert not (tmp_path / "x.zarr").exists()
