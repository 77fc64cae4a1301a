"""SLURM for real: a single-node SLURM on this machine (slurm_node.py) runs the sweep's workers as batch jobs.

- ``synsweep run --cluster slurm``: the driver submits worker jobs through dask-jobqueue; the workers retire at
  a short lifetime and their jobs are replaced until the sweep ends; the dataset equals a local run, bit for
  bit, and no job is left when the command returns.
- ``deploy/slurm/sweep-in-allocation.sbatch``: scheduler, workers and driver inside one allocation.

SLURM and munge are installed with apt-get when missing (about 25 s); without them these tests fail, with
the reason. The sweep is sized from a measurement of the kernel on this machine, so that each worker has
more work than its lifetime whatever the machine's speed.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
import yaml

from synsweep.engine import simulate
from synsweep.sweeps import load_spec, open_result, run_sweep
from synsweep.sweeps.store import done_info

from ..specs import hh_pair_doc
from .slurm_node import SlurmError, SlurmNode

pytestmark = pytest.mark.slow  # a single-node SLURM installed and started once for the module

ROOT = Path(__file__).resolve().parents[2]
EXE = Path(sys.executable).with_name("synsweep")
BATCH_SCRIPT = ROOT / "deploy" / "slurm" / "sweep-in-allocation.sbatch"
JOBS = 2
# a worker's lifetime counts from its start, so it must leave room for the start itself (imports, kernel load:
# 2-3 s on a quiet machine, 10 s and more on busy shared cores) and at least one task after it
LIFETIME, STAGGER = 15.0, 1.0  # s
WORK_PER_JOB = 1.3 * (LIFETIME + STAGGER)  # core-seconds of sweep per job: every job outlives its worker
RUN_TIMEOUT = 400  # s

DOC = hh_pair_doc("slurm-test", [0.0, 0.002, 0.004, 0.008], duration=100, chunk_points=64)


def sized_doc(core_seconds: float, chunks: int) -> dict:
    """DOC with as many I_ext values as make about ``core_seconds`` of kernel time on this machine, in
    about ``chunks`` tasks (measured here; the first call also puts the kernel in the shared cache)."""
    doc = copy.deepcopy(DOC)
    probe = copy.deepcopy(DOC)
    probe["sweep"][1]["linspace"]["num"] = 100  # 400 points: a batch as wide as the tasks' (vector efficiency)
    spec = load_spec(probe)
    values = spec.point_values(tuple(slice(0, d.size) for d in spec.dims))
    simulate(spec.circuit, spec.simulation, values, n_points=spec.n_points, metrics=spec.metrics)  # compile
    timings = []
    for _ in range(3):  # the fastest of three: the machine's speed without other load, so the work is enough
        start = time.perf_counter()
        simulate(spec.circuit, spec.simulation, values, n_points=spec.n_points, metrics=spec.metrics)
        timings.append(time.perf_counter() - start)
    per_point = max(min(timings), 1e-6) / spec.n_points
    points = int(core_seconds / per_point)
    doc["sweep"][1]["linspace"]["num"] = max(points // len(doc["sweep"][0]["values"]), 10)
    doc["execution"]["chunk_points"] = max(points // chunks, 1)
    return doc


def data_only(ds: xr.Dataset) -> xr.Dataset:
    return ds.drop_attrs(deep=False)


def _tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:] if path.is_file() else f"({path} missing)"


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory):
    """A running single-node SLURM; its daemons are stopped when the module ends, whatever happened."""
    node = SlurmNode(tmp_path_factory.mktemp("slurm"))
    try:
        node.start()
    except (SlurmError, subprocess.TimeoutExpired, OSError) as exc:
        node.stop()
        pytest.fail(f"a single-node SLURM could not be started here, so the SLURM path cannot be tested: {exc}")
    try:
        yield node
    finally:
        node.stop()


def _job_logs(folder: Path) -> str:
    return "\n".join(f"--- {p.name} ---\n{_tail(p, 1500)}" for p in sorted(folder.glob("*.err"))[-4:])


def test_run_cluster_slurm_replaces_retired_jobs_and_matches_a_local_run(slurm: SlurmNode, tmp_path: Path):
    doc = sized_doc(JOBS * WORK_PER_JOB, chunks=24)
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(doc))
    logs = tmp_path / "job-logs"
    config = tmp_path / "cluster.yaml"
    config.write_text(yaml.safe_dump({"cores": 1, "memory": "1GB", "walltime": "00:05:00", "interface": "lo",
                                      "log_directory": str(logs)}))
    out = tmp_path / "slurm.zarr"
    cmd = [str(EXE), "run", str(spec_path), "--out", str(out), "--cluster", "slurm", "--cluster-config",
           str(config), "--jobs", str(JOBS), "--lifetime", f"{LIFETIME:g}s", "--lifetime-stagger",
           f"{STAGGER:g}s", "--no-progress"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=slurm.env())
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"synsweep run --cluster slurm did not finish within {RUN_TIMEOUT} s; jobs: {slurm.squeue()!r}\n"
                    f"stderr: {exc.stderr}\n{_job_logs(logs)}\n{slurm.log_text()}")
    assert proc.returncode == 0, (f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr[-4000:]}\n"
                                  f"{_job_logs(logs)}\n{slurm.log_text()}")
    assert f"submitting {JOBS} SLURM job(s) of 1 core(s)" in proc.stderr
    assert slurm.wait_empty(30), f"jobs left after the run: {slurm.squeue()}"

    reference = tmp_path / "local.zarr"
    run_sweep(load_spec(doc), reference, workers=2, progress=False)
    ds = open_result(out).load()
    assert (ds.status == 1).all()
    xr.testing.assert_identical(data_only(ds), data_only(open_result(reference).load()))

    # workers retired and their jobs were replaced: more jobs ran than were kept at once
    jobs = {p.stem.rsplit("-", 1)[-1] for p in logs.glob("synsweep-worker-*.err")}
    pids = {info["pid"] for info in done_info(out).values()}
    assert len(jobs) > JOBS, f"only {sorted(jobs)} ran: no retired job was replaced\n{_job_logs(logs)}"
    assert len(pids) > JOBS
    retired = [p for p in logs.glob("*.err") if "worker-lifetime-reached" in p.read_text(errors="replace")]
    assert retired, "no worker retired at its lifetime"


def test_batch_script_runs_scheduler_workers_and_driver_in_one_allocation(slurm: SlurmNode, tmp_path: Path):
    doc = copy.deepcopy(DOC)
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(doc))
    out = tmp_path / "alloc.zarr"
    job_out = tmp_path / "job.out"
    env = {**slurm.env(), "SYNSWEEP_VENV": sys.prefix, "SYNSWEEP_INTERFACE": "lo",
           "SYNSWEEP_JOB_DIR": str(tmp_path / "job")}
    submit = subprocess.run(["sbatch", "--parsable", "--nodes=1", "--ntasks-per-node=2", "--mem-per-cpu=1G",
                             "--time=00:05:00", f"--output={job_out}", str(BATCH_SCRIPT), str(spec_path),
                             str(out)], capture_output=True, text=True, timeout=30, env=env, cwd=tmp_path)
    assert submit.returncode == 0, f"sbatch refused the script: {submit.stderr}"
    job_id = submit.stdout.strip().split(";")[0]
    deadline = time.monotonic() + RUN_TIMEOUT
    while job_id in slurm.squeue() and time.monotonic() < deadline:
        time.sleep(0.5)
    if job_id in slurm.squeue():
        subprocess.run(["scancel", job_id], env=env, timeout=30)
        pytest.fail(f"the batch job did not finish within {RUN_TIMEOUT} s\n{_tail(job_out)}\n{slurm.log_text()}")
    state = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, env=env,
                           timeout=30).stdout
    job_dir = tmp_path / "job"
    details = (f"{state}\n--- job output ---\n{_tail(job_out)}\n--- scheduler ---\n"
               f"{_tail(job_dir / 'scheduler.log')}\n--- workers ---\n{_tail(job_dir / 'workers.log')}")
    assert "JobState=COMPLETED" in state and "ExitCode=0:0" in state, details
    assert "driver finished with exit code 0" in job_out.read_text(), details
    assert "Register worker" in _tail(job_dir / "scheduler.log", 100_000), details

    reference = tmp_path / "local.zarr"
    run_sweep(load_spec(doc), reference, workers=1, progress=False)
    ds = open_result(out).load()
    assert (ds.status == 1).all()
    xr.testing.assert_identical(data_only(ds), data_only(open_result(reference).load()))


def test_a_job_slurm_refuses_is_reported_before_anything_is_written(slurm: SlurmNode, tmp_path: Path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(DOC))
    config = tmp_path / "cluster.yaml"
    config.write_text(yaml.safe_dump({"cores": 1, "memory": "1GB", "walltime": "00:05:00", "interface": "lo",
                                      "queue": "no-such-partition"}))
    out = tmp_path / "never.zarr"
    proc = subprocess.run([str(EXE), "run", str(spec_path), "--out", str(out), "--cluster", "slurm",
                           "--cluster-config", str(config), "--no-progress"], capture_output=True, text=True,
                          timeout=120, env=slurm.env())
    assert proc.returncode == 2, proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("synsweep: error: option '--cluster': sbatch refused the worker job"), proc.stderr
    assert "invalid partition" in error.lower() and "queue" in error and "Traceback" not in proc.stderr
    assert not out.exists()
    assert slurm.squeue() == ""
