"""End to end through the installed ``synsweep`` command: validate, run, inspect, demo and the user errors.

Every test runs the real console script (the one pip installed next to this interpreter) in a subprocess,
so argument parsing, exit codes, stderr and the dask worker processes are the ones a user gets. The runs
use the packaged small spec (6 x 4 points, 200 ms); the kernel cache is shared through SYNSWEEP_CACHE_DIR
(tests/conftest.py), so only the first run compiles.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import yaml

from synsweep.sweeps import open_result

EXE = Path(sys.executable).with_name("synsweep")
SMALL_SPEC = Path(str(resources.files("synsweep.workflows").joinpath("specs", "coupling_scan_small.yaml")))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIMEOUT = 180


def synsweep(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed command line; never raises on a nonzero exit."""
    if not EXE.is_file():
        pytest.fail(f"the synsweep console script is missing at {EXE}; install the package (pip install -e .)")
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT,
                          cwd=cwd)


def tree_digest(path: Path, ignore: tuple[str, ...] = ()) -> str:
    """sha256 over every file's relative name and bytes below ``path`` (but the relative paths ``ignore``)."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file() and str(p.relative_to(path)) not in ignore):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def assert_user_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 2, one 'synsweep: error:' paragraph on stderr naming ``words``, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert err.startswith("synsweep: error:"), err
    assert "Traceback" not in proc.stderr
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, (word, err)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    """One real run of the small spec on a 2-worker local cluster, with a figure."""
    tmp = tmp_path_factory.mktemp("run")
    out, png = tmp / "small.zarr", tmp / "small.png"
    proc = synsweep("run", SMALL_SPEC, "--out", out, "--workers", "2", "--no-progress", "--plot", png)
    return out, png, proc


def test_validate_prints_the_plan_without_running(tmp_path: Path) -> None:
    out = tmp_path / "never.zarr"
    proc = synsweep("validate", SMALL_SPEC, "--out", out)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "coupling_scan_small" in text
    assert "points        24  (6 x 4)" in text
    assert "chunks        3 of shape 2 x 4" in text
    assert "960,000" in text  # neuron-steps: 24 points x 2 neurons x 20,000 steps
    assert "integrator rk4, precision float64, scheme coupled" in text
    assert "g      6  linspace 0 .. 0.01 mS" in text
    assert "inputs.n2 (x0.8)" in text
    assert not out.exists()


def test_validate_estimates_the_run_time_from_a_kernel_measurement() -> None:
    proc = synsweep("validate", SMALL_SPEC, "--compile")
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("run time")]
    cores = os.cpu_count() or 1
    assert len(rows) == 1 and f" on {cores} workers (one per core here), " in rows[0] and rows[0].endswith(" on one")
    assert "(kernel measured here: " in proc.stdout
    assert "M neuron-steps/s per worker on 8 points x 400 steps; cluster start not included)" in proc.stdout


def test_run_writes_a_complete_store_and_a_png(small_run) -> None:
    out, png, proc = small_run
    assert proc.returncode == 0, proc.stderr
    assert "24 points, 24 ok, 0 diverged" in proc.stdout
    assert png.read_bytes()[:8] == PNG_MAGIC
    ds = open_result(out)
    assert dict(ds.sizes) == {"g": 6, "I_ext": 4, "neuron": 2, "pair": 1}
    assert (ds["status"].values == 1).all()
    np.testing.assert_allclose(ds["g"].values, np.linspace(0.0, 0.01, 6))
    r = ds["pearson"].values
    assert np.isfinite(r).all() and (np.abs(r) <= 1.0).all()
    # positive g is diffusive: the strongest coupling synchronises the pair at every drive
    assert (r[-1, :, 0] > 0.99).all(), r[-1, :, 0]
    assert (ds["spike_count"].values >= 0).all()


def test_run_forks_its_workers_with_the_kernel_loaded(small_run) -> None:
    """The command's local workers are forks of a server that loaded the kernel before forking them
    (synsweep.sweeps.forkserver): no task of the run loads or compiles it."""
    from synsweep.sweeps.store import done_info

    out, _, proc = small_run
    assert proc.returncode == 0, proc.stderr
    tasks = list(done_info(out).values())
    assert len(tasks) == 3 and len({t["pid"] for t in tasks}) <= 2
    assert all(t["compile_seconds"] == 0.0 for t in tasks), tasks


def test_inspect_prints_completion_and_provenance(small_run) -> None:
    out, _, run = small_run
    assert run.returncode == 0, run.stderr
    proc = synsweep("inspect", out)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    ds = open_result(out)
    assert f"spec_hash   {ds.attrs['spec_hash']}" in text
    assert "points      24: ok 24 (100.0%), diverged 0 (0.0%), not computed 0 (0.0%)" in text
    for word in ("created", "git_commit", "versions", "numba", "zarr", "pearson(g, I_ext, pair)", "[mV]"):
        assert word in text, word


def test_run_refuses_an_existing_store_and_leaves_it_intact(small_run) -> None:
    out, _, run = small_run
    assert run.returncode == 0, run.stderr
    before = tree_digest(out)
    proc = synsweep("run", SMALL_SPEC, "--out", out, "--workers", "2", "--no-progress")
    assert_user_error(proc, str(out), "--resume", "--overwrite")
    assert tree_digest(out) == before


@pytest.mark.slow
def test_resume_of_a_finished_store_computes_nothing(small_run) -> None:
    out, _, run = small_run
    assert run.returncode == 0, run.stderr
    lock = ".synsweep/lock"  # records the last run that held the store (this one)
    before = tree_digest(out, ignore=(lock,))
    proc = synsweep("run", SMALL_SPEC, "--out", out, "--resume", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "24 points, 24 ok" in proc.stdout and "this run computed 0 chunks (0 points), 3 chunks were" in proc.stdout
    assert "nothing to compute: all 3 chunks" in proc.stderr
    quiet = synsweep("--quiet", "run", SMALL_SPEC, "--out", out, "--resume")  # no estimate, no progress bar
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert "this run computed 0 chunks" in quiet.stdout  # the results are still said
    assert tree_digest(out, ignore=(lock,)) == before


def _bad_spec(tmp_path: Path, change) -> Path:
    doc = yaml.safe_load(SMALL_SPEC.read_text())
    change(doc)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d["simulation"].update(dt=-0.01), ["simulation.dt", "-0.01"]),
        (lambda d: d["circuit"]["neurons"]["n2"].update(model="hhx"), ["hhx", "hh"]),
        (lambda d: d["sweep"][0].update(paths=["synapses.gap.params.g3"]), ["g3"]),
    ],
    ids=["negative-dt", "unknown-model", "unknown-path"],
)
def test_bad_spec_is_a_user_error_before_any_compute(tmp_path: Path, change, words: list[str]) -> None:
    spec = _bad_spec(tmp_path, change)
    out = tmp_path / "out.zarr"
    assert_user_error(synsweep("run", spec, "--out", out, "--no-progress"), *words)
    assert not out.exists()


def test_unreadable_input_is_a_user_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\ncircuit: {neurons: [\n")
    out = tmp_path / "out.zarr"
    assert_user_error(synsweep("run", broken, "--out", out), "not valid YAML", "line")
    assert_user_error(synsweep("validate", tmp_path / "missing.yaml"), "missing.yaml", "does not exist")
    assert_user_error(synsweep("validate", broken), "not valid YAML")
    assert_user_error(synsweep("inspect", tmp_path / "nothing.zarr"), "nothing.zarr")
    assert_user_error(synsweep("run", SMALL_SPEC, "--out", out, "--resume", "--overwrite"), "--resume")
    assert_user_error(synsweep("run", SMALL_SPEC, "--out", out, "--plot", tmp_path / "x.pdf"), ".png")
    assert not out.exists()


def test_demo_small_runs_the_packaged_job(tmp_path: Path) -> None:
    """``synsweep demo`` (the README's main command) through the same code path, on the small grid."""
    out = tmp_path / "demo"
    proc = synsweep("demo", "--small", "--out", out, "--workers", "2", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    for png in ("coupling_scan_small.png", "coupling_scan_small_vs_g.png"):
        assert (out / png).read_bytes()[:8] == PNG_MAGIC
    ds = open_result(out / "coupling_scan_small.zarr")
    assert (ds["status"].values == 1).all()
    assert ds.attrs["title"] == "coupling_scan_small"


def test_a_spec_without_axes_runs_its_one_point_and_says_so_in_the_singular(tmp_path: Path) -> None:
    doc = yaml.safe_load(SMALL_SPEC.read_text())
    doc.pop("sweep")
    doc["simulation"] |= {"duration": 20.0, "transient": 0.0}
    spec = tmp_path / "one.yaml"
    spec.write_text(yaml.safe_dump(doc))
    proc = synsweep("run", spec, "--out", tmp_path / "one.zarr", "--workers", "1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "1 of 1 chunk to compute: 1 point, " in proc.stderr, proc.stderr
    assert ": 1 point, 1 ok, 0 diverged; this run computed 1 chunk (1 point)" in proc.stdout, proc.stdout
