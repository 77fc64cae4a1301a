"""deploy/pbs/sweep-in-allocation.pbs run as PBS would run it, on this machine.

There is no PBS here, so the test plays its part: it sets the variables PBS gives a job (PBS_NODEFILE with
two nodes, PBS_JOBID, PBS_O_WORKDIR, qsub -v's SPEC and OUT) and puts a ``pbsdsh`` on PATH that runs the
command on this machine instead of on node I, recording I. Everything else is real: the script starts a dask
scheduler, one worker launcher per node, and the driver; the dataset must equal a local run, and no process
it started may be left behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
import yaml

from synsweep.sweeps import load_spec, open_result, run_sweep

from .test_tls import SPEC

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "pbs" / "sweep-in-allocation.pbs"
PBSDSH = """#!/usr/bin/env bash
# stand-in for PBS's pbsdsh -n INDEX -- COMMAND...: runs COMMAND here, after recording INDEX and its pid
[ "$1" = "-n" ] && [ "$3" = "--" ] || { echo "unexpected pbsdsh call: $*" >&2; exit 2; }
echo "$2 $$ ${*:4}" >> "$PBSDSH_LOG"
shift 3
exec "$@"
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_pbs_batch_script_runs_the_sweep_on_every_node_of_the_allocation(tmp_path: Path):
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "pbsdsh").write_text(PBSDSH)
    (shims / "pbsdsh").chmod(0o755)
    nodefile = tmp_path / "nodefile"
    nodefile.write_text("node-a\nnode-b\n")  # two nodes, one CPU line each: one worker per node
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC))
    out = tmp_path / "pbs.zarr"
    calls = tmp_path / "pbsdsh.log"
    env = {**os.environ, "PATH": f"{shims}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "SPEC": str(spec_path), "OUT": str(out), "PBS_NODEFILE": str(nodefile), "PBS_JOBID": "42.test",
           "PBS_O_WORKDIR": str(tmp_path), "SYNSWEEP_VENV": sys.prefix, "SYNSWEEP_INTERFACE": "lo",
           "PBSDSH_LOG": str(calls)}
    proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=240, env=env,
                          cwd=tmp_path)
    job_dir = tmp_path / "synsweep-job-42.test"
    logs = "\n".join(f"--- {p.name} ---\n{p.read_text()[-2000:]}" for p in sorted(job_dir.glob("*.log")))
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{logs}"
    assert "driver finished with exit code 0" in proc.stdout

    started = [line.split() for line in calls.read_text().splitlines()]
    # one launcher per node (started in parallel, so in any order): node index, worker count
    assert sorted((index, args[-1]) for index, _, *args in started) == [("0", "1"), ("1", "1")]
    deadline = time.monotonic() + 30
    while any(_alive(int(pid)) for _, pid, *_ in started) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(int(pid)) for _, pid, *_ in started), "worker processes outlived the job script"

    reference = tmp_path / "local.zarr"
    run_sweep(load_spec(SPEC), reference, workers=1, progress=False)
    xr.testing.assert_identical(open_result(out).load().drop_attrs(deep=False),
                                open_result(reference).load().drop_attrs(deep=False))
