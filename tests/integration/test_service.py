"""The sweep service end to end: real LocalCluster worker processes on 127.0.0.1, real zarr stores on disk.

Tiny HH-pair grids (3 x 10 points, 10 ms at dt 0.02) so the whole file runs in seconds once the kernels are
in the cache (each distinct kernel costs a few seconds to compile the first time).
"""

from __future__ import annotations

import copy
import json
import socket
import time
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from distributed import Client, LocalCluster

from synsweep.engine import METRICS
from synsweep.sweeps import StoreError, SweepIncomplete, execute, load_spec, open_result, run_sweep, store
from synsweep.sweeps.cost import _record_path, recorded_speed
from synsweep.sweeps.store import done_chunks, done_info, status_counts

from ..specs import hh_pair_doc

PAIR_METRICS = [m for m in METRICS if METRICS[m].dim != "circuit"]  # a pair has no circuit metric (kuramoto)
G = [0.0, 0.004, 0.008]
DOC = hh_pair_doc("hh-pair-test", G, duration=10, chunk_points=64,
                  record={"variables": ["v"], "every": 10, "points": "all"})
CHUNKS_OF_7 = 6  # (3, 10) with chunk_points 7: blocks of (1, 5)


def make_spec(chunk_points: int = 64, **changes):
    doc = copy.deepcopy(DOC)
    doc["execution"]["chunk_points"] = chunk_points
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return load_spec(doc)


def data_only(ds: xr.Dataset) -> xr.Dataset:
    """The dataset without its global attributes (``created`` and the execution section differ)."""
    return ds.drop_attrs(deep=False)


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        # the scheduler's HTTP endpoint moves elsewhere when another cluster holds port 8787
        warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
    with cluster, Client(cluster, set_as_default=False) as c:
        yield c


@pytest.fixture(scope="module")
def reference_path(client, tmp_path_factory) -> Path:
    """The sweep in one chunk on two workers, traces of every point."""
    out = tmp_path_factory.mktemp("ref") / "ref.zarr"
    run_sweep(make_spec(64), out, client=client, progress=False)
    return out


@pytest.fixture(scope="module")
def reference(reference_path) -> xr.Dataset:
    return open_result(reference_path).load()


def test_chunk_size_does_not_change_results(client, reference, tmp_path):
    report = execute(make_spec(7), tmp_path / "c7.zarr", client=client, progress=True)
    assert sorted(report.computed) == list(range(CHUNKS_OF_7)) and not report.failed
    assert report.n_points == 30
    ds = open_result(tmp_path / "c7.zarr")
    assert ds.status.encoding["chunks"] == (1, 5)
    xr.testing.assert_identical(data_only(ds.load()), data_only(reference))
    assert ds.attrs["spec_hash"] == reference.attrs["spec_hash"]  # chunk_points is not part of the hash


@pytest.mark.slow
def test_worker_count_does_not_change_results(reference, tmp_path, monkeypatch):
    from synsweep.sweeps import cost

    # an embedded LocalCluster with one worker process (the run_sweep default path)
    monkeypatch.setattr(cost, "MIN_RECORD_SECONDS", 0.0)  # recorded although tiny (runs under 1 s are not)
    started = time.time()
    ds = run_sweep(make_spec(7), tmp_path / "w1.zarr", workers=1, progress=False)
    xr.testing.assert_identical(data_only(ds.load()), data_only(reference))
    # every task ran here: the run recorded its workers' kernel speed for later estimates (a test on the other
    # test process may run the same kernel at the same time, so the record is this run's or a later one's)
    spec = make_spec(7)
    assert recorded_speed(spec) is not None
    path = _record_path(spec)
    assert path.stat().st_mtime >= started - 1
    # this run's record: its points and steps, and a positive finite speed (not a threshold: how fast depends on
    # the machine and its load; speed is measured by the benchmarks)
    runs = [r for r in json.loads(path.read_text())["runs"] if r["host"] == socket.gethostname()
            and r["points"] == spec.n_points and r["steps"] == spec.simulation.n_steps]
    assert runs, json.loads(path.read_text())
    assert all(np.isfinite(r["neuron_steps_per_second"]) and r["neuron_steps_per_second"] > 0 for r in runs)
    assert all(r["kernel_seconds"] > 0 for r in runs)


def test_new_stores_workers_start_before_its_template_and_stop_when_it_fails(tmp_path, monkeypatch):
    """A fresh run on an embedded cluster starts its workers' fork server (importing the task code, loading the
    kernel) and asks for its workers, then writes the template; a failure there (here a Ctrl-C) closes the
    cluster, leaves no worker process and no store behind."""
    import psutil

    from synsweep.sweeps import runner
    from synsweep.sweeps.compat import fork_server_pid

    def forked() -> set[int]:  # the worker processes forked from this process's fork server
        pid = fork_server_pid()
        return {c.pid for c in psutil.Process(pid).children()} if pid is not None else set()

    before = forked()  # an earlier run's, if any (closed by now)
    seen: list[tuple[int | None, bool]] = []

    def interrupted(*args, **kwargs):
        seen.append((fork_server_pid(), psutil.pid_exists(fork_server_pid() or 0)))
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "create_store", interrupted)
    with pytest.raises(KeyboardInterrupt):
        execute(make_spec(7), tmp_path / "x.zarr", workers=1, progress=False)
    assert len(seen) == 1 and seen[0][0] is not None and seen[0][1], seen  # the server ran when the template was due
    assert not forked() - before  # no worker process outlives the run
    assert not (tmp_path / "x.zarr").exists()


def test_layout_units_and_clean_open(reference, reference_path):
    ds = reference
    assert ds.sizes == {"g": 3, "I_ext": 10, "neuron": 2, "pair": 1, "time": 51}
    np.testing.assert_array_equal(ds.g.values, G)
    assert ds.g.attrs["units"] == "mS" and ds.I_ext.attrs["units"] == "uA"
    assert list(ds.neuron.values) == ["n1", "n2"]
    assert list(ds.pair.values) == ["n1-n2"]
    assert (ds.pair_a.values[0], ds.pair_b.values[0]) == ("n1", "n2")
    assert ds.spike_count.dtype == np.int32 and ds.spike_count.encoding["fill_value"] == -1
    assert ds.status.dtype == np.int8 and ds.status.encoding["fill_value"] == 0
    assert ds.status.attrs["flag_meanings"] == "not_computed ok diverged runaway"
    assert list(ds.status.attrs["flag_values"]) == [0, 1, 2, 3]
    assert ds.diverged_step.dtype == np.int64
    assert set(PAIR_METRICS) <= set(ds.data_vars) and "kuramoto" not in ds
    for name, var in ds.data_vars.items():
        assert var.attrs.get("units") and var.attrs.get("long_name"), name
        if name in METRICS:
            assert var.attrs["units"] == METRICS[name].units
            assert var.dims == ("g", "I_ext", METRICS[name].dim)
    assert (ds.status == 1).all()
    assert (ds.diverged_step == -1).all()
    assert (ds.spike_count >= 0).all()
    # reopening and reading everything raises no warning at all
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = open_result(reference_path)
        assert again.spike_count.chunks is not None  # lazy
        again.load()
    xr.testing.assert_identical(again, reference)


def test_provenance_attrs(reference):
    attrs = reference.attrs
    spec = make_spec(64)
    assert attrs["spec_hash"] == spec.spec_hash
    assert json.loads(attrs["spec"]) == json.loads(json.dumps(spec.document))
    assert load_spec(json.loads(attrs["spec"])).spec_hash == spec.spec_hash  # the spec can be rerun
    for package in ("synsweep", "numba", "numpy", "dask", "distributed", "xarray", "zarr"):
        assert attrs[f"version_{package}"] not in ("", None), package
    assert "git_commit" in attrs
    assert datetime.fromisoformat(attrs["created"]).tzinfo is not None
    engine = json.loads(attrs["synsweep_engine"])
    assert (engine["integrator"], engine["precision"], engine["scheme"]) == ("rk4", "float64", "coupled")
    assert attrs["Conventions"]


def test_traces_of_every_point(reference):
    tr = reference.trace_v
    assert tr.dims == ("g", "I_ext", "neuron", "time")
    assert tr.attrs["units"] == "mV"
    np.testing.assert_allclose(reference.time.values, np.arange(51) * 0.2)
    assert reference.time.attrs["units"] == "ms"
    # sample 0 is the initial state
    assert (tr.isel(time=0).sel(neuron="n1") == -75).all() and (tr.isel(time=0).sel(neuron="n2") == -65).all()
    assert np.isfinite(tr.values).all()


def test_traces_of_listed_points_equal_in_sweep_traces(client, reference, tmp_path):
    current = make_spec().dims[1].axes[0].values
    points = [{"g": 0.004, "I_ext": 0.15}, {"g": 0.0, "I_ext": 0.05},
              {"g": 0.008, "I_ext": float(current[4])}]
    record = {"variables": ["v", "n2.m"], "every": 10, "points": points}
    report = execute(make_spec(7, record=record), tmp_path / "sub.zarr", client=client, progress=False)
    assert "traces" in report.computed and not report.failed
    ds = open_result(tmp_path / "sub.zarr").load()
    assert ds.trace_v.dims == ("traced_point", "neuron", "time")
    assert ds.sizes["traced_point"] == 3
    np.testing.assert_array_equal(ds.traced_g.values, [0.004, 0.0, 0.008])
    np.testing.assert_array_equal(ds.traced_I_ext.values, current[[9, 0, 4]])
    for k in range(3):
        at = {"g": ds.traced_g.values[k], "I_ext": ds.traced_I_ext.values[k]}
        # the small traced batch gives bit for bit the traces the points have inside the sweep
        np.testing.assert_array_equal(ds.trace_v.isel(traced_point=k).values,
                                      reference.trace_v.sel(at).values)
    assert np.isnan(ds.trace_m.sel(neuron="n1")).all()  # n1.m was not recorded
    assert np.isfinite(ds.trace_m.sel(neuron="n2")).all()
    # metrics from the kernel without recording equal those with recording
    for name in PAIR_METRICS:
        xr.testing.assert_identical(ds[name], reference[name])


def test_resume_computes_only_missing_chunks(client, reference, tmp_path):
    out = tmp_path / "resume.zarr"
    spec = make_spec(7)
    first = execute(spec, out, client=client, progress=False, only_chunks={0, 3})  # an interrupted run
    assert sorted(first.computed) == [0, 3]
    partial = open_result(out).load()
    assert int((partial.status == 1).sum()) == 10 and int((partial.status == 0).sum()) == 20
    assert int((partial.spike_count == -1).sum()) == 40  # not computed: the fill value, not "0 spikes"
    assert status_counts(out) == status_counts(out, points=5) == (10, 0, 20, 0)  # one slab, then 6 slabs
    assert done_chunks(out) == {0, 3}
    records = {k: done_info(out)[k] for k in (0, 3)}  # each task's summary (its pid, seconds, ...)

    second = execute(spec, out, client=client, progress=False, resume=True)
    assert sorted(second.computed) == [1, 2, 4, 5] and sorted(second.skipped) == [0, 3]
    assert second.n_points == 20
    assert {k: done_info(out)[k] for k in (0, 3)} == records  # not run again
    assert done_chunks(out) == set(range(CHUNKS_OF_7))
    xr.testing.assert_identical(data_only(open_result(out).load()), data_only(reference))

    nothing = execute(spec, out, client=client, progress=False, resume=True)  # all done: no task at all
    assert nothing.computed == [] and len(nothing.skipped) == CHUNKS_OF_7


@pytest.mark.slow
def test_failed_chunk_then_resume_recomputes_it(client, reference, tmp_path, monkeypatch):
    out = tmp_path / "fail.zarr"
    spec = make_spec(7)
    monkeypatch.setattr(store, "SHARD_POINTS", 1)  # a shard per block, so one block's shard can be blocked
    execute(spec, out, progress=False, only_chunks=())  # the template only
    # block the zarr shard file of status for chunk 2 (block (1, 0)): that task's region write fails
    blocker = out / "status" / "c" / "1" / "0"
    blocker.mkdir(parents=True)
    with pytest.raises(SweepIncomplete) as info:
        run_sweep(spec, out, client=client, progress=False, resume=True)
    message = str(info.value)
    assert "1 of 6 chunks failed" in message and "--resume" in message and "chunk 2" in message
    assert [c for c, _ in info.value.failures] == [2]
    assert done_chunks(out) == set(range(CHUNKS_OF_7)) - {2}

    blocker.rmdir()  # fixed; resume through a scheduler address this time
    report = execute(spec, out, scheduler=client.scheduler.address, progress=False, resume=True)
    assert report.computed == [2] and not report.failed
    xr.testing.assert_identical(data_only(open_result(out).load()), data_only(reference))


def test_refuses_existing_store_without_resume_or_overwrite(tmp_path):
    out = tmp_path / "exists.zarr"
    spec = make_spec(7)
    execute(spec, out, progress=False, only_chunks=())
    store.mark_done(out, 0, {}, "shard-0")
    with pytest.raises(StoreError, match="--resume") as info:
        run_sweep(spec, out, progress=False)
    assert "--overwrite" in str(info.value)
    execute(spec, out, progress=False, overwrite=True, only_chunks=())  # deleted and recreated
    assert done_chunks(out) == set()
    # overwrite never deletes a directory that is not a zarr store
    other = tmp_path / "precious"
    other.mkdir()
    (other / "thesis.tex").write_text("...")
    with pytest.raises(StoreError, match="not a zarr store"):
        execute(spec, other, progress=False, overwrite=True, only_chunks=())
    assert (other / "thesis.tex").exists()


def test_refuses_resume_into_store_of_another_spec(tmp_path):
    out = tmp_path / "other.zarr"
    a = make_spec(7)
    b = make_spec(7, simulation={**DOC["simulation"], "duration": 12})
    execute(a, out, progress=False, only_chunks=())
    with pytest.raises(StoreError) as info:
        run_sweep(b, out, progress=False, resume=True)
    assert "differing keys: simulation.duration" in str(info.value) and "12" in str(info.value)


def test_diverged_points_are_flagged(client, tmp_path):
    sweep = copy.deepcopy(DOC["sweep"])
    sweep[0]["values"] = [-0.01, 0.0, 0.002]  # anti-diffusive coupling blows the pair up
    sweep[1]["linspace"]["num"] = 3
    ds = run_sweep(make_spec(4, sweep=sweep, record=None), tmp_path / "div.zarr", client=client,
                   progress=False).load()
    assert "trace_v" not in ds
    assert status_counts(tmp_path / "div.zarr") == (6, 3, 0, 0)
    assert (ds.status.sel(g=-0.01) == 2).all()
    assert (ds.status.sel(g=[0.0, 0.002]) == 1).all()
    assert (ds.diverged_step.sel(g=-0.01) > 0).all() and (ds.diverged_step.sel(g=[0.0, 0.002]) == -1).all()
    assert (ds.spike_count.sel(g=-0.01) == -1).all() and ds.pearson.sel(g=-0.01).isnull().all()
    assert ds.pearson.sel(g=[0.0, 0.002]).notnull().all()


def test_embedded_cluster_runs_with_quiet_monitors():
    import dask.config

    from synsweep.sweeps.client import local_client
    from synsweep.sweeps.monitors import QUIET, WORKER_KEYS

    def settings() -> dict:
        return {k: dask.config.get(k) for k in WORKER_KEYS}

    with local_client(1) as c:
        (got,) = c.run(settings).values()
        tick = c.run_on_scheduler(dask.config.get, "distributed.admin.tick.interval")
    assert got == {k: QUIET[k] for k in WORKER_KEYS}
    assert tick == QUIET["distributed.admin.tick.interval"]
    assert dask.config.get("distributed.admin.tick.interval") != QUIET["distributed.admin.tick.interval"]


def test_forked_workers_have_one_numba_thread_the_run_environment_and_ignore_sigint():
    """The local cluster's workers, forks of the fork server (synsweep.sweeps.forkserver), start with what a
    spawned worker gets: one numba thread (read when numba is imported, in the server), the run's kernel cache,
    dask's pre-spawn environment, and SIGINT ignored (Ctrl-C is the driver's)."""
    from synsweep.engine.kernels import cache_dir
    from synsweep.sweeps.client import local_client
    from synsweep.sweeps.compat import fork_server_pid
    from synsweep.sweeps.forkserver import start_fork_server

    def state() -> dict:  # in the worker
        import os
        import signal

        import numba

        return {"parent": os.getppid(), "numba_threads": numba.config.NUMBA_NUM_THREADS,
                "cache": os.environ.get("SYNSWEEP_CACHE_DIR"), "omp": os.environ.get("OMP_NUM_THREADS"),
                "sigint_ignored": signal.getsignal(signal.SIGINT) == signal.SIG_IGN}

    assert start_fork_server(())  # or the one an earlier run of this process started
    with local_client(1) as c:
        (got,) = c.run(state).values()
    assert got == {"parent": fork_server_pid(), "numba_threads": 1, "cache": str(cache_dir().parent), "omp": "1",
                   "sigint_ignored": True}
