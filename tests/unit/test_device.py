"""execution.device: the spec field, GPU chunk sizes, and the checks that refuse a device that cannot run before
anything is computed (no kernel is compiled here)."""

from __future__ import annotations

import pytest
import yaml

from synsweep.engine import device as engine_device
from synsweep.sweeps import load_spec, plan_chunks
from synsweep.sweeps.chunks import DEFAULT_CHUNK_POINTS, GPU_CHUNK_POINTS, auto_chunk_points
from synsweep.sweeps.client import GPU_RESOURCE
from synsweep.sweeps.errors import SpecError
from synsweep.sweeps.runner import check_device
from synsweep.workflows.cli import main
from tests.specs import hh_pair_doc


def _doc(**execution) -> dict:
    doc = hh_pair_doc("dev", [0.0, 0.001], duration=5, chunk_points=10)
    doc["execution"] = execution
    return doc


def test_device_is_execution_only() -> None:
    cpu, cuda = load_spec(_doc()), load_spec(_doc(device="cuda"))
    assert cpu.device == "cpu" and cuda.device == "cuda"
    assert cuda.spec_hash == cpu.spec_hash  # where it runs is not what it computes
    assert cuda.document["execution"] == {"device": "cuda"} and "device" not in cpu.document["execution"]
    assert load_spec(cuda.document).device == "cuda"  # the stored document keeps it
    assert load_spec(_doc(device="cpu")).document["execution"] == {}


def test_unknown_device_names_the_field() -> None:
    with pytest.raises(SpecError) as err:
        load_spec(_doc(device="gpu"))
    assert err.value.field == "execution.device"
    assert "'gpu'" in str(err.value) and "device: cuda" in str(err.value)


def test_gpu_chunks_are_large() -> None:
    assert auto_chunk_points(10**7, 2, "cuda") == GPU_CHUNK_POINTS >= 100_000
    assert auto_chunk_points(20, 8, "cuda") == 20  # all the points when there are fewer
    assert auto_chunk_points(10**7, 2) == DEFAULT_CHUNK_POINTS  # the CPU's rule is unchanged
    spec = load_spec(_doc(device="cuda"))  # 20 points, chunk_points not given: one chunk on a GPU
    assert spec.chunk_points == GPU_CHUNK_POINTS and not spec.chunk_points_given
    assert plan_chunks(spec).n_chunks == 1
    given = load_spec(_doc(device="cuda", chunk_points=5))
    assert plan_chunks(given).n_chunks == 4  # a given size is kept whatever the device


def test_local_run_refused_without_cuda(monkeypatch) -> None:
    monkeypatch.setattr(engine_device, "cuda_problem", lambda: "no CUDA GPU is visible to this process")
    check_device(load_spec(_doc()))  # cpu: nothing to check
    with pytest.raises(SpecError) as err:
        check_device(load_spec(_doc(device="cuda")))
    text = str(err.value)
    assert err.value.field == "execution.device" and "no CUDA GPU" in text
    assert "synsweep[cuda]" in text and "device: cpu" in text


class _Client:
    """The part of a dask client that ``check_device`` reads: the workers and their resources."""

    def __init__(self, *resources: dict) -> None:
        self.workers = {f"tcp://w{i}": {"resources": r} for i, r in enumerate(resources)}

    def scheduler_info(self, n_workers: int = 5) -> dict:
        assert n_workers == -1  # every worker, not the first five
        return {"workers": self.workers}


def test_cluster_needs_a_gpu_worker() -> None:
    spec = load_spec(_doc(device="cuda"))
    with pytest.raises(SpecError) as err:
        check_device(spec, _Client({}, {"MEM": 4}), wait=0.6)
    assert err.value.field == "execution.device" and f"--resources {GPU_RESOURCE}=1" in str(err.value)
    check_device(spec, _Client({}, {GPU_RESOURCE: 1}))  # one GPU worker is enough: the tasks wait for it
    check_device(spec, _Client())  # no worker yet (batch jobs queued): the tasks wait for them
    check_device(load_spec(_doc()), _Client({}))  # a CPU sweep runs anywhere


def test_gpu_batch_jobs() -> None:
    """--cluster with execution.device cuda: one worker per job advertising the GPU; SLURM jobs ask for one."""
    from synsweep.sweeps.clusters import JobConfig

    job = JobConfig(kind="slurm", jobs=2, cores=4, memory="16GB", memory_bytes=16 * 2**30, walltime_seconds=3600,
                    lifetime_seconds=3000, stagger_seconds=60, gpu=True)
    kwargs = job.cluster_kwargs()
    assert kwargs["processes"] == 1 and "--gres=gpu:1" in kwargs["job_extra_directives"]
    assert kwargs["worker_extra_args"][-2:] == ["--resources", f"{GPU_RESOURCE}=1"] and "GPU" in job.describe()
    cpu = JobConfig(**{**job.__dict__, "gpu": False}).cluster_kwargs()
    assert cpu["processes"] == 4 and "--resources" not in cpu["worker_extra_args"]


def test_cli_refuses_cuda_before_anything_is_written(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(engine_device, "cuda_problem", lambda: "the package numba-cuda is not installed")
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(_doc()))
    out = tmp_path / "result.zarr"
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(path), "--out", str(out), "--no-progress", "--device", "cuda"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert err.startswith("synsweep: error:") and err.count("\n") == 1, err
    assert "execution.device" in err and "numba-cuda is not installed" in err and "Traceback" not in err
    assert not out.exists()


def test_validate_shows_the_device(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(engine_device, "cuda_problem", lambda: "no CUDA GPU is visible to this process")
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(_doc()))
    main_exit = None
    try:
        main(["validate", str(path), "--device", "cuda"])
    except SystemExit as exc:
        main_exit = exc.code
    out = capsys.readouterr().out
    assert main_exit in (None, 0), out
    assert "device" in out and "cuda: one point per GPU thread" in out
    assert "this machine: no CUDA GPU" in out and "spec is valid" in out
    assert "1 of shape" in out  # the 20 points in one GPU chunk
    with pytest.raises(SystemExit) as exit_info:  # --compile needs CUDA here
        main(["validate", str(path), "--device", "cuda", "--compile"])
    assert exit_info.value.code == 2
    assert "--compile" in capsys.readouterr().err
