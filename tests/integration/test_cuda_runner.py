"""A CUDA sweep through the whole service: execution.device cuda, a dask cluster whose worker advertises the GPU
resource, tasks that ask for it, the zarr store; the kernels run in numba's CUDA simulator (the worker processes
inherit NUMBA_ENABLE_CUDASIM=1 from tests/conftest.py). Results are bit-identical across chunkings, clusters and
workers on the CUDA path (their agreement with the CPU engine is tests/unit/test_cuda_sim.py's)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr
import yaml

from synsweep.engine.device import cuda_problem
from synsweep.sweeps import load_spec
from synsweep.sweeps.client import GPU_RESOURCE, local_worker_environment
from synsweep.sweeps.runner import execute
from tests.specs import hh_pair_doc

pytestmark = pytest.mark.skipif(cuda_problem() is not None, reason=f"CUDA kernels cannot run: {cuda_problem()}")


def _spec(device: str, chunk_points: int):
    return load_spec(_doc(device, chunk_points))


def _doc(device: str, chunk_points: int) -> dict:
    doc = hh_pair_doc("cuda-runner", [0.0, 0.004], duration=3.0, chunk_points=chunk_points)
    doc["simulation"]["transient"] = 0.2
    doc["execution"]["device"] = device
    return doc


@pytest.mark.filterwarnings("ignore:Port .* is already in use")
@pytest.mark.slow
def test_cuda_sweep_through_the_runner(tmp_path, monkeypatch, capsys):
    from distributed import Client, LocalCluster

    from synsweep.workflows.cli import main

    path = tmp_path / "spec.yaml"  # a CPU spec, run on the GPU by the command line's --device
    path.write_text(yaml.safe_dump({**_doc("cpu", 20), "execution": {}}))
    with pytest.raises(SystemExit) as done:  # a local run: one worker holding the GPU, one GPU-sized chunk
        main(["run", str(path), "--out", str(tmp_path / "one.zarr"), "--device", "cuda", "--workers", "1",
              "--no-progress"])
    assert done.value.code == 0
    out, err = capsys.readouterr()
    assert "1 of 1 chunk to compute" in err and "on the GPU workers (no time estimate)" in err, err
    assert "this run computed 1 chunk (20 points)" in out, out
    gpu = _spec("cuda", 20)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, resources={GPU_RESOURCE: 1}, env=local_worker_environment())
    with cluster, Client(cluster) as client:
        three = execute(dataclasses.replace(gpu, chunk_points=7), tmp_path / "three.zarr", client=client,
                        progress=False)
    assert len(three.computed) == 4 and not three.failed  # 4 chunks of 5 points, on 2 GPU workers
    one, three = (xr.open_zarr(tmp_path / f"{name}.zarr", consolidated=False).load() for name in ("one", "three"))
    assert one.attrs["spec_hash"] == three.attrs["spec_hash"] == load_spec(_doc("cpu", 20)).spec_hash
    for name, a in one.data_vars.items():
        np.testing.assert_array_equal(three[name].values, a.values, err_msg=name)  # chunkings: the same bits
    assert one["spike_count"].sum() > 0 and (one["status"] == 1).all() and np.isfinite(one["pearson"]).all()
    # replay: on the store's device where CUDA runs (bit for bit), else on the CPU to the documented tolerance
    from synsweep.engine import device
    from synsweep.workflows.replay import replay_point

    point = {"g": "0.004", "I_ext": "0.15"}
    same = replay_point(one, point)
    assert same.ok and same.rtol == 0.0 and not same.notes
    monkeypatch.setattr(device, "cuda_problem", lambda: "no CUDA GPU is visible to this process")
    cpu = replay_point(one, point)
    assert cpu.ok and cpu.rtol == 1e-9 and "replayed on the CPU" in cpu.notes[0]
