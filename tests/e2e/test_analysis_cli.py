"""End to end through the installed ``synsweep`` command: plot, replay, report, export and open_result on a
small real sweep.

The sweep (made once per session by ``synsweep run`` on a one-worker local cluster): the seed-000 HH pair,
g over 4 values times a *random* drive axis of 3 seeded draws, 10 ms, with every state variable traced every
10 steps at every point, so that a replay checks the seed's draws, the metrics and the stored traces. The
replay records the same variables, so the sweep and the replays share one compiled kernel.

The main path of every command runs the installed executable in a subprocess; the many small variations
(user errors, options) call the same entry point, ``synsweep.workflows.cli.main``, in this process, since
each subprocess pays about two seconds of imports.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
import zarr

from synsweep.sweeps import load_spec, open_result
from synsweep.sweeps.store import store_attrs

EXE = Path(sys.executable).with_name("synsweep")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIMEOUT = 180
SPEC = {
    "name": "analysis_e2e",
    "description": "HH pair, gap junction g x a random drive; traces of every point",
    "circuit": {
        "neurons": {"n1": {"model": "hh", "init": {"v": -75.0}}, "n2": {"model": "hh", "init": {"v": -65.0}}},
        "synapses": {"gap": {"model": "electrical", "pre": "n1", "post": "n2", "params": {"g1": 0.0, "g2": 0.0}}},
        "inputs": {"n1": 0.1, "n2": 0.08},
    },
    "simulation": {"dt": 0.01, "duration": 10.0, "transient": 2.0, "integrator": "rk4", "precision": "float64"},
    "sweep": [
        {"name": "g", "paths": ["synapses.gap.params.g1", "synapses.gap.params.g2"],
         "linspace": {"start": 0.0, "stop": 0.01, "num": 4}},
        {"name": "I_ext", "paths": {"inputs.n1": 1.0, "inputs.n2": 0.8},
         "random": {"n": 3, "seed": 7, "distribution": "uniform", "low": 0.08, "high": 0.15}},
    ],
    "record": {"variables": ["v", "m", "h", "n"], "every": 10, "points": "all"},
    "execution": {"chunk_points": 6},
}


def synsweep(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed command line; never raises on a nonzero exit."""
    if not EXE.is_file():
        pytest.fail(f"the synsweep console script is missing at {EXE}; install the package (pip install -e .)")
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd)


def in_process(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the command line's entry point in this process; stdout and stderr captured like a subprocess."""
    from synsweep.workflows.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return subprocess.CompletedProcess(list(args), int(done.value.code or 0), out.getvalue(), err.getvalue())


def assert_user_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert err.startswith("synsweep: error:") and len(err.splitlines()) == 1, err
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in err, (word, err)


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small real sweep, run once through the CLI."""
    tmp = tmp_path_factory.mktemp("analysis")
    spec_path, out = tmp / "spec.yaml", tmp / "analysis.zarr"
    spec_path.write_text(yaml.safe_dump(SPEC, sort_keys=False))
    proc = synsweep("run", spec_path, "--out", out, "--workers", "1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="session")
def point(store: Path) -> dict[str, float]:
    """An ok point inside the grid: g's third value, the random axis's second draw."""
    ds = open_result(store)
    assert int(ds.status.isel(g=2, I_ext=1)) == 1
    return {"g": float(ds.g[2]), "I_ext": float(ds.I_ext[1])}


def test_open_result_round_trips_dims_coords_and_attrs(store: Path) -> None:
    from synsweep import workflows

    ds = workflows.open_result(store)
    spec = load_spec(SPEC)
    assert dict(ds.sizes) == {"g": 4, "I_ext": 3, "neuron": 2, "pair": 1, "time": 101}
    assert ds.attrs == store_attrs(store)  # every provenance attribute, None and booleans included
    assert ds.attrs["spec_hash"] == spec.spec_hash
    for dim in spec.dims:
        np.testing.assert_array_equal(ds[dim.name].values, dim.axes[0].values)  # the seeded draws, bit for bit
        assert ds[dim.name].attrs["units"] == dim.axes[0].units
    assert ds.I_ext.attrs["sweep_kind"] == "random"
    assert ds.neuron.values.tolist() == ["n1", "n2"] and ds.pair.values.tolist() == ["n1-n2"]
    assert ds.pearson.attrs == {"units": "1", "long_name": "Pearson correlation of the two voltage traces"}
    assert ds.time.attrs["units"] == "ms"
    assert ds.pearson.chunks is not None  # lazy
    assert (ds.status.values == 1).all()


@pytest.mark.slow
def test_plot_heatmap_and_trace_line(store: Path, point: dict[str, float], tmp_path: Path) -> None:
    default = synsweep("plot", store, "pearson", cwd=tmp_path)
    assert default.returncode == 0, default.stderr
    assert default.stdout.strip() == "wrote analysis_pearson.png"
    assert (tmp_path / "analysis_pearson.png").read_bytes().startswith(PNG_MAGIC)
    out = tmp_path / "trace.pdf"
    proc = synsweep("plot", store, "trace_v", "--x", "time", "--sel", f"g={point['g']},I_ext={point['I_ext']}",
                    "--sel", "neuron=n2", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize("args", [
    ("rate_count", "--x", "g", "--sel", "I_ext=0.1"),         # a line per neuron at the nearest drive
    ("mean_abs_dv", "--x", "I_ext", "--reduce", "median"),    # over the random axis, median over g
    ("rate_isi", "--x", "g", "--y", "neuron", "--reduce", "max"),
])
def test_plot_options(store: Path, tmp_path: Path, args: tuple[str, ...]) -> None:
    proc = in_process("plot", store, *args, "--out", tmp_path / "f.png")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "f.png").read_bytes().startswith(PNG_MAGIC)


def test_plot_user_errors_name_the_axis_and_its_values(store: Path, tmp_path: Path) -> None:
    assert_user_error(synsweep("plot", store, "pearson", "--sel", "g=7", "--out", tmp_path / "x.png"),
                      "g=7", "outside the grid", "0, 0.00333333, 0.00666667, 0.01 mS")
    assert_user_error(in_process("plot", store, "pearsn", "--out", tmp_path / "x.png"), "'pearsn'", "pearson")
    assert_user_error(in_process("plot", store, "rate_count", "--x", "g", "--y", "I_ext", "--out",
                                 tmp_path / "x.png"), "'neuron'", "--sel neuron=VALUE", "--reduce")
    assert_user_error(in_process("plot", store, "pearson", "--x", "tau"), "'tau' is not an axis", "g, I_ext")
    assert_user_error(in_process("plot", store, "pearson", "--out", tmp_path / "x.jpg"), ".png or .pdf")
    assert_user_error(in_process("plot", tmp_path / "none.zarr", "pearson"), "does not exist")
    assert not list(tmp_path.iterdir())


def test_replay_equals_the_store_bit_for_bit(store: Path, point: dict[str, float], tmp_path: Path) -> None:
    fig, traces = tmp_path / "replay.png", tmp_path / "replay.nc"
    arg = f"g={point['g']!r},I_ext={point['I_ext']!r}"
    proc = synsweep("replay", store, "--point", arg, "--fig", fig, "--traces", traces)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    n_values = 2 * 5 + 5 + 2  # 5 neuron metrics x 2 neurons, 5 pair metrics, status and diverged_step
    assert f"all {n_values} stored values equal the replay bit for bit, and the stored traces (h, m, n, v)" \
        in proc.stdout
    assert "DIFFERENT" not in proc.stdout
    assert re.search(r"pearson\s+n1-n2\s+(\S+)\s+(\S+)\s+equal", proc.stdout)
    assert fig.read_bytes().startswith(PNG_MAGIC)
    with xr.open_dataset(traces, engine="h5netcdf") as t:
        assert t.v.dims == ("neuron", "time") and t.sizes["time"] == 1001 and t.v.attrs["units"] == "mV"
        stored = open_result(store).trace_v.sel(g=point["g"], I_ext=point["I_ext"]).values
        np.testing.assert_array_equal(t.v.values[:, ::10], stored)  # every step kept; the store every 10th
        assert float(t.I_ext) == point["I_ext"]


@pytest.mark.slow
def test_replay_detects_a_tampered_value(store: Path, point: dict[str, float], tmp_path: Path) -> None:
    copy = tmp_path / "tampered.zarr"
    shutil.copytree(store, copy)
    pearson = zarr.open_array(copy / "pearson", mode="r+")
    before = float(pearson[2, 1, 0])
    pearson[2, 1, 0] = np.nextafter(before, 2.0)  # one ulp: only a bitwise comparison sees it
    proc = synsweep("replay", copy, "--point", f"g={point['g']},I_ext={point['I_ext']}", "--fig",
                    tmp_path / "f.png")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert re.search(r"pearson\s+n1-n2\s+\S+\s+\S+\s+DIFFERENT", proc.stdout), proc.stdout
    assert "differs from the store in 1 of 17 values" in proc.stderr
    assert f"pearson[n1-n2] stored {float(np.nextafter(before, 2.0))!r}, replayed {before!r}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_replay_user_errors(store: Path, tmp_path: Path) -> None:
    assert_user_error(in_process("replay", store, "--point", "g=0.004", "--fig", tmp_path / "f.png"),
                      "no value for 'I_ext'")
    assert_user_error(in_process("replay", store, "--point", "g=0.004,I_ext=0.1,neuron=n1"), "not a sweep axis")
    assert_user_error(in_process("replay", store, "--point", "g=0.004,I_ext=0.1", "--fig", tmp_path / "f.svg"),
                      "--fig", ".png or .pdf")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_report_is_one_self_contained_page(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    proc = synsweep("report", store, "--out", out)
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    for section in ("Dims", "Provenance", "Spec", "Variables", "Completion", "Figures"):
        assert f"<h2>{section}</h2>" in page
    assert "analysis_e2e" in page and load_spec(SPEC).spec_hash in page
    assert "seed: 7" in page  # the spec, as YAML
    assert "2 of 2 chunks done (100.0%)" in page
    assert re.search(r"<td>pearson</td><td>n1-n2</td><td>1</td>", page)
    # no external assets: every src is an embedded PNG, no links or scripts
    sources = re.findall(r"src='([^']*)'", page)
    # heatmaps of the 5 pair metrics (one pair), rate_count and rate_isi (2 neurons), and the basin estimate of
    # the pair over the random drive axis
    assert len(sources) == 10
    assert "basin estimate" in page
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.removeprefix("data:image/png;base64,")).startswith(PNG_MAGIC)
    assert "http://" not in page and "https://" not in page and "<script" not in page and "<link" not in page


def test_report_lists_missing_chunks(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from synsweep.workflows import report

    copy = tmp_path / "partial.zarr"
    shutil.copytree(store, copy)
    from synsweep.sweeps.damage import forget_blocks

    assert forget_blocks(copy, [1]) == 1  # block 1 no longer marked done (in its shard's completion record)
    monkeypatch.setattr(report, "standard_figures", lambda ds: [])  # the figures are checked above
    page = report.build_report(open_result(copy), copy)
    assert "1 of 2 chunks done (50.0%)" in page and "<td>1</td><td>g 0.00666667 .. 0.01, I_ext" in page
    assert f"synsweep run SPEC --out {copy} --resume" in page


def test_export_csv_is_a_wide_table_of_the_stored_values(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    proc = synsweep("export", store, "--format", "csv", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}: 12 rows, 19 columns" in proc.stdout
    assert "not in the table (use --format netcdf): trace_h, trace_m, trace_n, trace_v" in proc.stdout
    ds = open_result(store).load()
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12
    for k, row in enumerate(rows):
        i, j = np.unravel_index(k, (4, 3))
        assert float(row["g"]) == ds.g.values[i] and float(row["I_ext"]) == ds.I_ext.values[j]
        assert float(row["pearson[n1-n2]"]) == ds.pearson.values[i, j, 0]  # shortest round-trip text
        assert int(row["spike_count[n2]"]) == ds.spike_count.values[i, j, 1]
        assert int(row["status"]) == 1
    piped = in_process("export", store, "--format", "csv", "--out", "-")
    assert piped.returncode == 0 and piped.stdout == out.read_text()


def test_export_netcdf_round_trips_the_dataset(store: Path, tmp_path: Path) -> None:
    proc = synsweep("export", store, "--format", "netcdf", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ds = open_result(store).load()
    with xr.open_dataset(tmp_path / "analysis.nc", engine="h5netcdf", mask_and_scale=False) as nc:
        back = nc.load()  # undecoded: spike_count's -1 as stored (CF decoding masks it: tests/unit/test_cf_attrs.py)
    assert set(back.variables) == set(ds.variables)
    for name, var in ds.variables.items():
        got = back[name].values
        want = var.values
        if want.dtype.kind in "OTU":
            got, want = [str(v) for v in got.tolist()], [str(v) for v in want.tolist()]
        np.testing.assert_array_equal(got, want, err_msg=str(name))
        if name == "spike_count":  # CF: its -1 declared missing instead of described in a note
            assert set(back[name].attrs) == set(var.attrs) - {"missing_value_note"} | {"_FillValue", "missing_value"}
        else:  # undecoded, a float variable shows the NaN _FillValue netCDF gives it
            assert set(back[name].attrs) - {"_FillValue"} == set(var.attrs)
        if name == "status":
            assert back[name].attrs["flag_values"].dtype == np.int8
    for key, value in ds.attrs.items():
        assert back.attrs[key] == ("" if value is None else str(value).lower() if isinstance(value, bool)
                                   else value)
    assert_user_error(in_process("export", store, "--format", "netcdf", "--out", "-"), "standard output")


# -- a circuit of three neurons: the circuit metric kuramoto ----------------------------------------------
TRIO_SPEC = {
    "name": "analysis_trio",
    "description": "three HH neurons in a chain, g x drive; the Kuramoto order parameter",
    "circuit": {
        "neurons": {"n1": {"model": "hh", "init": {"v": -70.0}}, "n2": {"model": "hh", "init": {"v": -60.0}},
                    "n3": {"model": "hh", "init": {"v": -50.0}}},
        "synapses": {"s12": {"model": "electrical", "pre": "n1", "post": "n2"},
                     "s23": {"model": "electrical", "pre": "n2", "post": "n3"}},
        "inputs": {"n1": 0.15, "n2": 0.15, "n3": 0.15},
    },
    "simulation": {"dt": 0.01, "duration": 40.0, "transient": 5.0, "kuramoto_interval": 0.5},
    "sweep": [
        {"name": "g", "paths": ["synapses.s12.params.g1", "synapses.s12.params.g2", "synapses.s23.params.g1",
                                "synapses.s23.params.g2"], "values": [0.0, 0.02, 0.05]},
        {"name": "I_ext", "paths": ["inputs.n1"], "values": [0.15, 0.2]},
    ],
}


@pytest.fixture(scope="session")
def trio_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("trio")
    spec_path, out = tmp / "trio.yaml", tmp / "trio.zarr"
    spec_path.write_text(yaml.safe_dump(TRIO_SPEC, sort_keys=False))
    proc = synsweep("run", spec_path, "--out", out, "--workers", "1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return out


def test_pair_store_has_no_kuramoto(store: Path) -> None:
    assert "kuramoto" not in open_result(store)


@pytest.mark.slow
def test_three_neuron_store_holds_kuramoto_and_the_commands_know_it(trio_store: Path, tmp_path: Path) -> None:
    """kuramoto is a variable over the sweep dims alone; inspect, report, plot, replay and export handle it."""
    ds = open_result(trio_store)
    assert ds.kuramoto.dims == ("g", "I_ext") and ds.kuramoto.dtype == np.float64
    assert ds.kuramoto.attrs == {"units": "1", "long_name": "Kuramoto order parameter (time mean)"}
    kur = ds.kuramoto.values
    assert np.isfinite(kur).all() and ((kur > 0.0) & (kur <= 1.0 + 1e-12)).all(), kur
    assert json_spec(ds)["simulation"]["kuramoto_interval"] == 0.5

    inspect = synsweep("inspect", trio_store)
    assert inspect.returncode == 0, inspect.stderr
    assert "kuramoto(g, I_ext)" in inspect.stdout, inspect.stdout

    page_path = tmp_path / "report.html"
    report = synsweep("report", trio_store, "--out", page_path)
    assert report.returncode == 0, report.stderr
    page = page_path.read_text()
    assert "<tr><td>kuramoto</td><td>-</td><td>1</td>" in page  # no neuron or pair, units 1
    assert "<figcaption>kuramoto over (g, I_ext)</figcaption>" in page

    fig = tmp_path / "kur.png"
    plot = synsweep("plot", trio_store, "kuramoto", "--out", fig)
    assert plot.returncode == 0, plot.stderr
    assert fig.read_bytes().startswith(PNG_MAGIC)

    replay = in_process("replay", trio_store, "--point", f"g={float(ds.g[1])!r},I_ext={float(ds.I_ext[0])!r}",
                        "--fig", tmp_path / "replay.png")
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert re.search(r"kuramoto\s+-\s+(\S+)\s+(\S+)\s+equal", replay.stdout), replay.stdout
    assert "all 33 stored values equal the replay bit for bit" in replay.stdout  # 5 x 3 + 5 x 3 + 1 + 2
    assert "DIFFERENT" not in replay.stdout

    table = in_process("export", trio_store, "--format", "csv", "--out", "-")
    assert table.returncode == 0, table.stderr
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert [float(r["kuramoto"]) for r in rows] == kur.ravel().tolist()


def json_spec(ds: xr.Dataset) -> dict:

    return json.loads(ds.attrs["spec"])
