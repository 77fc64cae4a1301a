"""Messages a first-time user meets, each one paragraph that names what to do (``synsweep`` run in this process;
the stores are templates written by ``create_store``, no simulation needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from synsweep.sweeps import load_spec, plan_chunks
from synsweep.sweeps.store import create_store
from synsweep.workflows.cli import main
from tests.specs import hh_pair_doc


def call(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    err = capsys.readouterr().err
    return int(info.value.code or 0), err


def paragraph(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    assert err.startswith("synsweep: error:") and len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, (w, err)


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, Path]:
    doc = hh_pair_doc("pair", [0.0, 0.002], duration=10, chunk_points=10)
    spec = tmp_path / "pair.yaml"
    spec.write_text(yaml.safe_dump(doc))
    out = tmp_path / "r.zarr"
    s = load_spec(doc)
    create_store(s, plan_chunks(s), out)
    return spec, out


def test_resume_refused_names_the_specs_and_the_differing_keys(store, tmp_path, capsys) -> None:
    _, out = store
    other = hh_pair_doc("pair_longer", [0.0, 0.002], duration=50, chunk_points=10)
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    code, err = call(capsys, "run", tmp_path / "other.yaml", "--out", out, "--resume")
    paragraph(code, err, "'pair'", "'pair_longer'", "simulation.duration 10.0 in the store, 50.0 here",
              "name \"pair\" in the store", "--overwrite")
    assert "spec_hash" not in err


def test_out_an_ordinary_folder(store, tmp_path, capsys) -> None:
    spec, _ = store
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "notes.txt").write_text("mine")
    code, err = call(capsys, "run", spec, "--out", tmp_path / "results")
    paragraph(code, err, "is an existing folder that is not a synsweep store", f"--out {tmp_path}/results/result.zarr")
    assert "--overwrite" not in err
    assert (tmp_path / "results" / "notes.txt").read_text() == "mine"


def test_replay_point_lists_only_the_sweep_axes(store, capsys) -> None:
    _, out = store
    code, err = call(capsys, "replay", out, "--point", "neuron=n1")
    paragraph(code, err, "'neuron' is not a sweep axis", "the sweep axes are: g, I_ext")


def test_hr_init_path_suggests_its_membrane_potential(tmp_path, capsys) -> None:
    spec = tmp_path / "hr.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "hr", "circuit": {"neurons": {"n1": {"model": "hr"}}},
        "simulation": {"dt": 0.01, "duration": 10}, "sweep": [{"name": "x0", "paths": ["neurons.n1.init.v"],
                                                              "values": [0.1, 0.2]}]}))
    code, err = call(capsys, "validate", spec)
    paragraph(code, err, "did you mean 'neurons.n1.init.x'?", "neurons.n1.init has: x, y, z")


def test_unreachable_scheduler_is_refused_at_once(store, tmp_path, capsys, monkeypatch) -> None:
    import distributed

    def no_client(*args, **kwargs):  # dask's own client retries for 30 s: the probe must refuse before it
        raise AssertionError("a dask Client was made for an address where nothing listens")

    monkeypatch.setattr(distributed, "Client", no_client)
    spec, _ = store
    code, err = call(capsys, "run", spec, "--out", tmp_path / "new.zarr", "--scheduler", "tcp://127.0.0.1:1")
    paragraph(code, err, "could not connect to the dask scheduler", "Connection refused")
    assert not (tmp_path / "new.zarr").exists()


@pytest.mark.parametrize("text, where", [
    ("name: broken\ncircuit: [\n", "line 3, column 1"),  # an unclosed bracket
    ("name: broken\n  simulation: {dt: 0.01}\n", "line 2, column 13"),  # a key indented under a scalar
    ("name: 'broken\n", "line 2, column 1"),  # an unclosed quote
])
@pytest.mark.parametrize("command", ["run", "validate"])
def test_broken_yaml_is_the_spec_loaders_paragraph(tmp_path, capsys, text, where, command) -> None:
    spec = tmp_path / "broken.yaml"
    spec.write_text(text)
    args = ["--out", tmp_path / "new.zarr"] if command == "run" else []
    code, err = call(capsys, command, spec, *args)
    paragraph(code, err, f"spec file '{spec}, {where}': is not valid YAML", "Fix: correct the YAML syntax there")
    assert "Traceback" not in err and err.count("synsweep: error:") == 1
    assert not (tmp_path / "new.zarr").exists()


def test_grouped_options_keep_their_environment_variables(store, tmp_path, capsys, monkeypatch) -> None:
    spec, _ = store
    monkeypatch.setenv("SYNSWEEP_RUN_JOBS", "3")  # --jobs, one of run's batch-job options (an option group)
    code, err = call(capsys, "run", spec, "--out", tmp_path / "new.zarr")
    paragraph(code, err, "--jobs sets up the batch jobs of --cluster")
    monkeypatch.delenv("SYNSWEEP_RUN_JOBS")
    monkeypatch.setenv("SYNSWEEP_RUN_RESUME", "1")  # --resume and --overwrite: the store rules
    code, err = call(capsys, "run", spec, "--out", tmp_path / "new.zarr", "--overwrite")
    paragraph(code, err, "--resume and --overwrite contradict each other")
    assert not (tmp_path / "new.zarr").exists()
