"""The batch-job and TLS options of ``synsweep run`` refuse bad input through the real command line: exit 2, one
paragraph naming the option or field and the fix, no traceback, no store written, no job submitted (each case
fails before the submit command or a connection would be tried)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .test_cli import SMALL_SPEC, assert_user_error, synsweep

GOOD_RESOURCES = {"cores": 1, "memory": "2GB", "walltime": "01:00:00"}


def _config(tmp_path: Path, name: str = "cluster", **resources) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(resources))
    return path


@pytest.mark.parametrize("case", ["jobs-without-cluster", "cluster-and-workers", "bad-memory", "lifetime",
                                  "auto-with-scheduler", "cert-without-key", "tls-without-certs"])
def test_bad_cluster_and_tls_options_are_user_errors(case: str, tmp_path: Path):
    out = tmp_path / "never.zarr"
    run = ["run", SMALL_SPEC, "--out", out, "--no-progress"]
    args, words = {
        "jobs-without-cluster": (["--jobs", "2"], ["--jobs", "--cluster slurm"]),
        "cluster-and-workers": (["--cluster", "slurm", "--workers", "2"], ["--workers", "--jobs N"]),
        "bad-memory": (["--cluster", "slurm", "--cluster-config", _config(tmp_path, "lots", cores=2, memory="lots")],
                       ["field 'memory'", "16GB"]),
        "lifetime": (["--cluster", "pbs", "--cluster-config", _config(tmp_path, **GOOD_RESOURCES), "--lifetime",
                      "2h"], ["option '--lifetime'", "walltime 01:00:00"]),
        "auto-with-scheduler": (["--scheduler", "tls://127.0.0.1:1", "--security", "auto"], ["--security auto"]),
        "cert-without-key": (["--tls-ca-file", SMALL_SPEC, "--tls-cert", SMALL_SPEC], ["--tls-key"]),
        "tls-without-certs": (["--scheduler", "tls://127.0.0.1:1"], ["no certificates", "--tls-ca-file"]),
    }[case]
    assert_user_error(synsweep(*run, *args), *words)
    assert not out.exists()


def test_missing_submit_command_is_named_before_anything_runs(tmp_path: Path):
    """On a machine without qsub (PATH holds only this Python's bin folder) --cluster pbs says where to run."""
    out = tmp_path / "never.zarr"
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    proc = subprocess.run([str(Path(sys.executable).with_name("synsweep")), "run", str(SMALL_SPEC), "--out", str(out),
                           "--cluster", "pbs", "--cluster-config", str(_config(tmp_path, **GOOD_RESOURCES))],
                          capture_output=True, text=True, timeout=120, env=env)
    assert_user_error(proc, "qsub", "login node")
    assert not out.exists()


def test_refused_submission_leaves_no_store_and_no_empty_log_folder(tmp_path: Path):
    """An sbatch that refuses every job (a stand-in on PATH, saying what a real one says for a job larger than any
    node): one paragraph quoting it, exit 2, and neither the store nor the log folder dask-jobqueue creates."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "sbatch"
    fake.write_text("#!/bin/sh\necho 'sbatch: error: Batch job submission failed: Requested node configuration is "
                    "not available' >&2\nexit 1\n")
    fake.chmod(0o755)
    logs = tmp_path / "synsweep-logs"
    config = _config(tmp_path, **GOOD_RESOURCES, log_directory=str(logs))
    out = tmp_path / "never.zarr"
    env = {**os.environ, "PATH": f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin"}
    proc = subprocess.run([str(Path(sys.executable).with_name("synsweep")), "run", str(SMALL_SPEC), "--out", str(out),
                           "--cluster", "slurm", "--cluster-config", str(config), "--no-progress"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    submitting, error = proc.stderr.strip().splitlines()  # what is submitted, then why it was refused
    assert submitting.startswith("submitting 1 SLURM job(s)")
    assert error.startswith("synsweep: error: option '--cluster': sbatch refused the worker job, saying: sbatch: "
                            "error: Batch job submission failed: Requested node configuration is not available")
    assert not out.exists() and not logs.exists()
