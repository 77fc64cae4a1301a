"""Every output a command names (a store, a figure, a page, a table, a folder) that cannot be written is a
user error before anything is computed or read: exit 2, one paragraph naming the option, no traceback.

/proc refuses new files even to root, so the check cannot pass by permission bits alone; a path below a
regular file is the other case."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from synsweep.workflows.cli import main
from tests.specs import hh_pair_doc

UNWRITABLE = Path("/proc/synsweep-test")


def _commands(spec: Path, store: Path, below_file: Path) -> list[tuple[str, list[str]]]:
    out = UNWRITABLE
    return [
        ("--out", ["run", str(spec), "--out", str(out / "r.zarr")]),
        ("--out", ["run", str(spec), "--out", str(below_file / "r.zarr")]),
        ("--plot", ["run", str(spec), "--out", str(store), "--plot", str(out / "r.png")]),
        ("--out", ["validate", str(spec), "--out", str(out / "r.zarr")]),
        ("--out", ["plot", str(store), "pearson", "--out", str(out / "p.png")]),
        ("--out", ["plot", str(store), "pearson", "--out", str(below_file / "p.png")]),
        ("--fig", ["replay", str(store), "-p", "g=0", "--fig", str(out / "f.png")]),
        ("--traces", ["replay", str(store), "-p", "g=0", "--traces", str(out / "t.nc")]),
        ("--out", ["report", str(store), "--out", str(out / "r.html")]),
        ("--out", ["export", str(store), "--format", "csv", "--out", str(out / "t.csv")]),
        ("--out", ["export", str(store), "--format", "netcdf", "--out", str(out / "t.nc")]),
        ("--out", ["demo", "--small", "--out", str(out / "demo")]),
        ("--out", ["workflow", "psp", "--small", "--out", str(out / "psp")]),
    ]


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux's /proc")
def test_an_unwritable_output_is_refused_before_any_work(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "spec.yaml"
    doc = hh_pair_doc("outputs", [0.0, 0.001], duration=4.0, chunk_points=10)
    doc["metrics"] = ["pearson", "spike_count"]
    spec.write_text(yaml.safe_dump(doc))
    store = tmp_path / "absent.zarr"  # the outputs are checked before the store is opened
    below_file = tmp_path / "a_file"
    below_file.write_text("x")
    for option, argv in _commands(spec, store, below_file):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2, (argv, err)
        assert err.startswith(f"synsweep: error: {option} ") and err.count("\n") == 1, (argv, err)
        assert "give a path in a folder you can write to" in err and "Traceback" not in err, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "spec.yaml"]  # nothing was written
