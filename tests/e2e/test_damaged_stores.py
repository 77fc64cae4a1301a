"""Damaged stores, paths that cannot be written and a full disk: one ``synsweep: error:`` paragraph each, the
right exit code, nothing damaged further, and a way back.

The damage is done to real files of a real store (garbage or truncated ``zarr.json``, a truncated chunk, a
missing array, a store another program wrote); the read-only and the full disk are real tmpfs mounts (root
only: mounting needs it). The command matrix runs ``synsweep.workflows.cli.main`` in this process (the same
code as the console script, without 1 s of imports per call); the runs go through the console script.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from synsweep.sweeps import open_result
from synsweep.sweeps.store import done_chunks
from synsweep.workflows.cli import main
from tests.e2e.test_cli import assert_user_error, synsweep
from tests.specs import hh_pair_doc

pytestmark = pytest.mark.xdist_group("damaged_stores")

CASES = {
    "root zarr.json garbage": lambda s: (s / "zarr.json").write_text("garbage{"),
    "root zarr.json truncated": lambda s: (s / "zarr.json").write_bytes((s / "zarr.json").read_bytes()[:100]),
    "status metadata truncated": lambda s: (s / "status" / "zarr.json").write_bytes(
        (s / "status" / "zarr.json").read_bytes()[:50]),
    "pearson metadata garbage": lambda s: (s / "pearson" / "zarr.json").write_text("xx"),
    "status missing": lambda s: shutil.rmtree(s / "status"),
}
EXPECT = {
    "root zarr.json garbage": "root metadata (zarr.json) is not valid JSON",
    "root zarr.json truncated": "root metadata (zarr.json) is not valid JSON",
    "status metadata truncated": "metadata of 'status' (status/zarr.json) is not valid JSON",
    "pearson metadata garbage": "metadata of 'pearson' (pearson/zarr.json) is not valid JSON",
    "status missing": "the array 'status' every synsweep result has is missing",
}


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A spec (4 x 10 points, 2 chunks) and its finished store, written by the console script."""
    root = tmp_path_factory.mktemp("damage")
    spec = root / "pair.yaml"
    spec.write_text(yaml.safe_dump(hh_pair_doc("pair", [0.0, 0.002, 0.004, 0.008], duration=10, chunk_points=20)))
    proc = synsweep("run", spec, "--out", root / "good.zarr", "--workers", "1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return spec, root / "good.zarr"


def call(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    """``synsweep ARGS`` in this process: (exit code, stderr)."""
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    return int(info.value.code or 0), capsys.readouterr().err


def commands(store: Path, spec: Path, tmp: Path) -> dict[str, list[str | Path]]:
    return {
        "inspect": ["inspect", store],
        "export": ["export", store, "--format", "csv", "--out", tmp / "x.csv"],
        "plot": ["plot", store, "pearson", "--out", tmp / "x.png"],
        "replay": ["replay", store, "--point", "g=0.002,I_ext=0.05", "--fig", tmp / "r.png"],
        "report": ["report", store, "--out", tmp / "r.html"],
        "run --resume": ["run", spec, "--out", store, "--resume", "--no-progress", "--workers", "1"],
    }


def assert_paragraph(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    assert err.startswith("synsweep: error:") and len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, (w, err)


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", list(CASES))
def test_damaged_metadata_is_named_by_every_command(case: str, good: tuple[Path, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    spec, store = good
    damaged = tmp_path / "d.zarr"
    shutil.copytree(store, damaged)
    CASES[case](damaged)
    before = tree(damaged)
    for name, args in commands(damaged, spec, tmp_path).items():
        code, err = call(capsys, *args)
        assert_paragraph(code, err, EXPECT[case], "is damaged")
        if name == "run --resume":
            assert "--resume cannot repair" in err and "--overwrite" in err
    assert tree(damaged) == before  # nothing written into the damaged store


@pytest.mark.slow
def test_truncated_chunk_is_detected_never_read_as_values_and_resume_recomputes_it(
        good: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec, store = good
    damaged = tmp_path / "d.zarr"
    shutil.copytree(store, damaged)
    chunk = next(p for p in sorted((damaged / "pearson" / "c").rglob("*")) if p.is_file())
    chunk.write_bytes(chunk.read_bytes()[:-7])  # a truncated chunk (or shard) of pearson
    for name, args in commands(damaged, spec, tmp_path).items():
        if name in ("run --resume", "replay"):
            continue
        code, err = call(capsys, *args)
        assert_paragraph(code, err, "'pearson' cannot be read back in", "truncated or overwritten",
                         f"synsweep inspect {damaged} --forget-damaged", "--resume")
    assert not (tmp_path / "x.csv").exists()
    code, err = call(capsys, "inspect", damaged, "--verify")
    assert_paragraph(code, err, "'pearson' cannot be read back in")
    # the message's recipe: forget the damaged blocks, resume; exactly those blocks are computed again
    with pytest.raises(SystemExit) as info:
        main(["inspect", str(damaged), "--forget-damaged"])
    assert info.value.code in (0, None)
    assert "not computed; run the same spec with --resume" in capsys.readouterr().out
    proc = synsweep("run", spec, "--out", damaged, "--resume", "--no-progress", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert "of 2 chunks to compute" in proc.stderr
    code, err = call(capsys, "inspect", damaged, "--verify")
    assert code == 0, err
    a, b = open_result(store), open_result(damaged)
    for var in a.data_vars:
        np.testing.assert_array_equal(a[var].values, b[var].values)


def test_a_store_another_program_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import xarray as xr

    other = tmp_path / "other.zarr"
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_zarr(other, zarr_format=3, consolidated=False)
    code, err = call(capsys, "inspect", other)
    assert_paragraph(code, err, "written by another program", "xarray.open_zarr")


def test_out_below_a_regular_file(good: tuple[Path, Path], tmp_path: Path) -> None:
    spec, _ = good
    (tmp_path / "file").write_text("x")
    proc = synsweep("run", spec, "--out", tmp_path / "file" / "r.zarr", "--no-progress")
    assert_user_error(proc, "is a regular file, not a folder")


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A real tmpfs mounted at ``path`` (skips where this user may not mount)."""
    path.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if proc.returncode:
        pytest.skip(f"mounting a tmpfs needs root: {proc.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_read_only_file_system(good: tuple[Path, Path], tmp_path: Path) -> None:
    spec, _ = good
    with tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        proc = synsweep("run", spec, "--out", ro / "r.zarr", "--no-progress")
        assert_user_error(proc, "read-only file system")


@pytest.mark.slow
def test_full_disk_keeps_finished_chunks_and_resume_finishes_identically(good: tuple[Path, Path],
                                                                        tmp_path: Path) -> None:
    """A tmpfs too small for the run's files: exit 3 naming the full disk, the finished chunks kept; after
    the disk grows, --resume finishes, and every value equals the run that had room (another chunking)."""
    _, store = good
    spec = tmp_path / "traced.yaml"  # traces of every point: about 8 kB a point, so the disk fills mid-run
    spec.write_text(yaml.safe_dump(hh_pair_doc("pair", [0.0, 0.002, 0.004, 0.008], duration=10, chunk_points=20,
                                               record={"variables": ["v"], "every": 1})))
    with tmpfs(tmp_path / "disk", "size=480k") as disk:
        out = disk / "r.zarr"
        args = ("run", spec, "--out", out, "--no-progress", "--workers", "1", "--chunk-points", "1")
        proc = synsweep(*args)
        assert proc.returncode == 3, proc.stderr
        err = proc.stderr.strip().splitlines()[-1]
        assert err.startswith("synsweep: error: the disk of") and "is full" in err, proc.stderr
        assert "Traceback" not in proc.stderr
        kept = len(done_chunks(out))
        assert 0 < kept < 40 and f"{kept} of 40 chunks are stored and kept" in err
        subprocess.run(["mount", "-o", "remount,size=8m", str(disk)], check=True)
        proc = synsweep(*args, "--resume")
        assert proc.returncode == 0, proc.stderr
        assert f"{40 - kept} of 40 chunks to compute ({kept} already done)" in proc.stderr
        a, b = open_result(store), open_result(out)
        for var in a.data_vars:
            np.testing.assert_array_equal(a[var].values, b[var].values)
        assert np.isfinite(b["trace_v"].values).all()
