"""The real command line on a refined spec: run (one estimate per level), inspect, resume, plot."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from synsweep.sweeps import open_result
from tests.e2e.test_cli import PNG_MAGIC, synsweep
from tests.specs import hh_pair_doc


@pytest.mark.slow
def test_refined_run_inspect_resume_and_plot(tmp_path):
    doc = hh_pair_doc("refined_cli", [float(g) for g in np.linspace(0.0, 0.01, 9)], duration=30.0, chunk_points=32)
    doc["simulation"]["transient"] = 20.0
    doc["sweep"][1]["linspace"] = {"start": 0.0, "stop": 0.16, "num": 9}
    doc["metrics"] = ["spike_count", "pearson"]
    doc["refine"] = {"levels": 2, "criteria": [{"metric": "spike_count", "neuron": "n1", "threshold": 1}]}
    spec = tmp_path / "refined.yaml"
    spec.write_text(yaml.safe_dump(doc))
    out = tmp_path / "r.zarr"
    run = synsweep("run", spec, "--out", out, "--workers", "1")
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("chunks to compute") >= 2  # level 0, then at least one refinement level
    status = open_result(out).status.values
    assert status[::4, ::4].all() and 0 < (status == 0).sum() < status.size - 9
    inspect = synsweep("inspect", out)
    assert inspect.returncode == 0 and "the refinement left out" in " ".join(inspect.stdout.split())
    again = synsweep("run", spec, "--out", out, "--resume", "--workers", "1")
    assert again.returncode == 0 and "nothing to compute" in again.stderr, again.stderr
    assert (open_result(out).status.values == status).all()
    plot = synsweep("plot", out, "pearson", "--out", tmp_path / "p.png")
    assert plot.returncode == 0, plot.stderr
    assert (tmp_path / "p.png").read_bytes()[:8] == PNG_MAGIC
