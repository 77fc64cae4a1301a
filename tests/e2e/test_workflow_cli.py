"""End to end through the installed ``synsweep workflow`` command: a seed study run on a local cluster, its
figures redrawn from the stores, a rerun that computes nothing, and the user errors (exit 2, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synsweep.sweeps import open_result

from .test_cli import PNG_MAGIC, assert_user_error, synsweep


@pytest.mark.slow
def test_workflow_runs_redraws_and_refuses_bad_requests(tmp_path: Path):
    out = tmp_path / "ifs"
    proc = synsweep("workflow", "if-sync", "--small", "--out", out, "--workers", "1", "--no-progress",
                    "--set", "simulation.duration=80")
    assert proc.returncode == 0, proc.stderr
    figure = out / "if_sync.png"
    assert f"wrote {figure}" in proc.stdout and "sweep if_sync: 4 points" in proc.stdout
    assert figure.read_bytes()[:8] == PNG_MAGIC and (out / "if_sync.pdf").is_file()
    manifest = json.loads((out / "workflow.json").read_text())
    assert manifest["workflow"] == "if-sync" and manifest["small"] is True
    assert manifest["overrides"] == ["simulation.duration=80"]
    ds = open_result(out / "if_sync.zarr")
    assert float(ds["time"].values[-1]) == 80.0
    # every point computed; the larger g_star of the small configuration runs away (status 3: no refractory period)
    assert set(np.unique(ds["status"].values)) <= {1, 3} and (ds["status"].isel(g_star=0) == 1).all()

    figure.unlink()
    proc = synsweep("workflow", "if-sync", "--redraw", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert figure.read_bytes()[:8] == PNG_MAGIC

    # the same command again: the store is complete, nothing is computed, the figures are redrawn
    proc = synsweep("workflow", "if-sync", "--small", "--out", out, "--workers", "1", "--no-progress",
                    "--set", "simulation.duration=80")
    assert proc.returncode == 0 and "already complete" in proc.stdout, (proc.stdout, proc.stderr)

    assert_user_error(synsweep("workflow", "if-sync", "--small", "--out", tmp_path / "bad", "--set",
                               "simulation.dtt=0.1"), "simulation.dtt", "dt")
    assert not (tmp_path / "bad").exists()
    assert_user_error(synsweep("workflow", "if-snyc", "--out", tmp_path / "bad"), "if-sync")
    assert_user_error(synsweep("workflow", "if-sync", "--redraw", "--out", out, "--set", "simulation.dt=0.1"),
                      "--set simulation.dt", "redraw")
    # another spec into the same folder: refused, the store is kept
    assert_user_error(synsweep("workflow", "if-sync", "--small", "--out", out, "--workers", "1"),
                      "--overwrite")
    assert float(open_result(out / "if_sync.zarr")["time"].values[-1]) == 80.0
