"""The JSON endpoints and downloads of ``synsweep serve`` (``synsweep.workflows.serve.app``) on real stores on
disk, through starlette's TestClient: values against the store, refusals (outside the folder, no token), and
that serving never modifies a store. The page itself is driven in a browser by tests/e2e/test_serve_browser.py.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from synsweep.sweeps import open_result
from synsweep.workflows.serve import is_loopback
from synsweep.workflows.serve.app import create_app
from synsweep.workflows.serve.stores import find_stores

from ..serve_stores import chemical_spec, pair_spec, write_store

starlette_testclient = pytest.importorskip("starlette.testclient", reason="the 'serve' extra is not installed")
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx`:DeprecationWarning")

SCAN = "scans/pair_scan.zarr"
CHEM = "chem.zarr"


@pytest.fixture(scope="session")  # once per test process, even when pytest-xdist interleaves modules
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("served")
    write_store(root / SCAN, pair_spec(), skip_last=1)
    write_store(root / CHEM, chemical_spec())
    (root / ".hidden").mkdir()
    (root / "notes.txt").write_text("not a store")
    return root


@pytest.fixture(scope="session")  # once per test process, even when pytest-xdist interleaves modules
def client(root: Path):
    with starlette_testclient.TestClient(create_app(root)) as c:
        yield c


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*") if p.is_file()}


def _floats(b64: str, shape: list[int]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype="<f4").reshape(shape)


def test_store_list_and_search(client, root: Path) -> None:
    rows = client.get("/api/stores").json()["stores"]
    assert [r["path"] for r in rows] == [CHEM, SCAN]
    scan = rows[1]
    assert scan["dims"] == {"g": 5, "I_ext": 4}
    assert (scan["ok"], scan["diverged"], scan["not_computed"], scan["flagged"], scan["failed_chunks"]) == \
        (12, 4, 4, 0, 0)
    assert scan["spec_hash"] == pair_spec().spec_hash and scan["created"].startswith("20")
    assert set(scan["models"]) == {"hh", "electrical"}
    assert [r["path"] for r in client.get("/api/stores", params={"q": "exponential"}).json()["stores"]] == [CHEM]
    assert [r["path"] for r in client.get("/api/stores", params={"q": "pair_scan hh"}).json()["stores"]] == [SCAN]
    assert client.get("/api/stores", params={"q": "izhikevich"}).json()["stores"] == []
    assert find_stores(root / SCAN) == [(root / SCAN).resolve()]  # a store served on its own


def test_heatmap_values_and_status_are_the_stored_ones(client, root: Path) -> None:
    got = client.get("/api/plot", params={"store": SCAN, "var": "pearson"}).json()
    ds = open_result(root / SCAN)
    assert (got["x"], got["y"], got["shape"]) == ("g", "I_ext", [4, 5])
    assert got["x_values"] == ds["g"].values.tolist() and got["y_values"] == ds["I_ext"].values.tolist()
    status = np.frombuffer(base64.b64decode(got["status"]), dtype="u1").reshape(4, 5)
    np.testing.assert_array_equal(status, ds["status"].transpose("I_ext", "g").values)
    want = ds["pearson"].isel(pair=0).transpose("I_ext", "g").where(ds["status"].T == 1).values
    np.testing.assert_array_equal(_floats(got["values"], got["shape"]), want.astype(np.float32))
    assert np.isnan(_floats(got["values"], got["shape"])[status != 1]).all()
    assert (status == 2).sum() == 4 and (status == 0).sum() == 4


def test_lines_slider_selection_and_reduction(client, root: Path) -> None:
    ds = open_result(root / SCAN)
    line = client.get("/api/plot", params={"store": SCAN, "var": "rate_count", "x": "g", "y": "",
                                           "sel": "I_ext:2,neuron:1"}).json()
    assert line["selected"] == "I_ext = 0.15 uA, neuron = n2" and line["hue"] is None
    want = ds["rate_count"].isel(I_ext=2, neuron=1).where(ds["status"].isel(I_ext=2) == 1).values
    np.testing.assert_array_equal(_floats(line["values"], line["shape"]), want.astype(np.float32))
    mean = client.get("/api/plot", params={"store": SCAN, "var": "rate_count", "x": "g", "sel": "neuron:0",
                                           "reduce": "mean"}).json()
    assert mean["reduced"] == ["I_ext"] and mean["reduce"] == "mean"
    ok = ds["status"] == 1
    want = ds["rate_count"].isel(neuron=0).where(ok).mean("I_ext").values
    np.testing.assert_allclose(_floats(mean["values"], mean["shape"]), want.astype(np.float32), rtol=1e-6)
    n_ok = np.frombuffer(base64.b64decode(mean["n_ok"]), dtype="<i4")
    np.testing.assert_array_equal(n_ok, ok.sum("I_ext").values)


def test_bad_requests_are_refused_with_the_reason(client, root: Path) -> None:
    r = client.get("/api/plot", params={"store": SCAN, "var": "nope"})
    assert r.status_code == 400 and "no variable 'nope'" in r.json()["error"]
    r = client.get("/api/plot", params={"store": SCAN, "var": "pearson", "sel": "g:9"})
    assert r.status_code == 400 and "indices 0 .. 4" in r.json()["error"]
    r = client.get("/api/replay", params={"store": SCAN, "point": "g:1"})
    assert r.status_code == 400 and "I_ext" in r.json()["error"]
    r = client.get("/api/replay", params={"store": SCAN, "point": "g:4,I_ext:3"})  # in the last chunk: not run
    assert r.status_code == 400 and "not computed" in r.json()["error"]


@pytest.mark.parametrize("name", ["..", "../..", "/etc", "scans/../../x", "notes.txt", ".hidden", "outside"])
def test_paths_outside_the_folder_or_not_stores_are_refused(client, root: Path, name: str) -> None:
    outside = root.parent / f"{root.name}_outside"
    write_dir = outside / "zarr.json"
    write_dir.parent.mkdir(exist_ok=True)
    write_dir.write_text("{}")
    link = root / "outside"
    if not link.exists():
        link.symlink_to(outside, target_is_directory=True)  # a link out of the folder
    for url in ("/api/store", "/api/progress", "/download/spec"):
        r = client.get(url, params={"store": name})
        assert r.status_code == 404, (url, name, r.text)


def test_token_is_required_when_set(root: Path) -> None:
    with starlette_testclient.TestClient(create_app(root, token="s3cret")) as c:
        assert c.get("/api/stores").status_code == 403
        assert c.get("/", params={"token": "wrong"}).status_code == 403
        assert c.get("/static/app.js").status_code == 403
        assert c.get("/api/stores", headers={"X-Synsweep-Token": "s3cret"}).status_code == 200
        first = c.get("/", params={"token": "s3cret"})  # the address printed at start sets a cookie
        assert first.status_code == 200 and "synsweep serve" in first.text
        assert c.get("/api/stores").status_code == 200  # the page's own requests carry the cookie
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")


def test_page_and_local_plotly(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/static/plotly.min.js">' in page.text
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000 and b"plotly" in js.content[:2000].lower()
    assert "plotly_click" in client.get("/static/app.js").text


@pytest.mark.slow
def test_replay_traces_synapses_and_check(client, root: Path) -> None:
    r = client.get("/api/replay", params={"store": CHEM, "point": "g_syn:1,I_ext:2"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["ok"] is True and got["label"] == "g_syn = 2 uA, I_ext = 0.15 uA"
    assert all(row[-1] == "equal" for row in got["checks"]) and any(row[0] == "pearson" for row in got["checks"])
    assert ["trace_v", "all", "501 samples", "stored traces", "equal"] in got["checks"]  # the store keeps traces
    traces = {(t["unit"], t["var"]): t for t in got["traces"]}
    assert {("n1", "v"), ("n2", "v"), ("ampa", "s")} <= set(traces)
    assert len(got["time"]) == len(traces["n1", "v"]["values"]) == 501 and traces["n1", "v"]["units"] == "mV"
    s = np.array(traces["ampa", "s"]["values"])
    assert traces["ampa", "s"]["kind"] == "synapse" and s[0] == 0.0 and s.max() > 0.5  # n1 fired: s jumped


def test_progress_and_downloads(client, root: Path) -> None:
    before = _files(root)
    progress = client.get("/api/progress", params={"store": SCAN}).json()
    assert progress["total"] == 20 and progress["chunks"] == 4 and progress["points"] == [16]
    assert progress["times"] == [0.0] and progress["running"] is False
    spec = client.get("/download/spec", params={"store": SCAN})
    assert spec.status_code == 200 and "attachment" in spec.headers["content-disposition"]
    assert spec.json() == json.loads(open_result(root / SCAN).attrs["spec"])
    fig = client.get("/download/figure", params={"store": SCAN, "var": "pearson"})
    assert fig.status_code == 200 and fig.content.startswith(b"\x89PNG\r\n\x1a\n")
    rows = list(csv.DictReader(io.StringIO(client.get("/download/csv", params={"store": CHEM}).text)))
    assert len(rows) == 6 and {"g_syn", "I_ext", "status"} <= set(rows[0])
    nc = client.get("/download/netcdf", params={"store": CHEM})
    assert nc.status_code == 200
    path = root.parent / "chem_download.nc"
    path.write_bytes(nc.content)
    with xr.open_dataset(path, engine="h5netcdf") as back:
        np.testing.assert_array_equal(back["pearson"].values, open_result(root / CHEM)["pearson"].values)
    assert _files(root) == before  # read-only: nothing in the served folder changed


def test_a_running_sweep_shows_its_progress(tmp_path: Path) -> None:
    from synsweep.sweeps.plan import task_plan
    from synsweep.sweeps.runner import claim_store, run_chunk

    spec = pair_spec("running_scan")
    out = tmp_path / "running_scan.zarr"
    tasks = task_plan(spec)
    with claim_store(spec, out, resume=False, overwrite=False) as plan, \
            starlette_testclient.TestClient(create_app(tmp_path)) as c:
        blocks = list(plan.blocks())
        for n, (chunk_id, index) in enumerate(blocks[:2], start=1):
            run_chunk(spec, tasks, str(out), chunk_id, index)
            got = c.get("/api/progress", params={"store": out.name}).json()
            assert got["running"] is True and got["chunks"] == n and got["points"] == [4 * k for k in range(1, n + 1)]
            assert got["total"] == 20 and got["times"][0] == 0.0 and got["times"] == sorted(got["times"])
        row = c.get("/api/stores").json()["stores"][0]
        assert row["running"] is True and row["ok"] + row["diverged"] == 8 and row["not_computed"] == 12
    with starlette_testclient.TestClient(create_app(tmp_path)) as c:
        assert c.get("/api/progress", params={"store": out.name}).json()["running"] is False  # the run ended


def test_serve_command_refuses_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from synsweep.workflows.cli import main

    with pytest.raises(SystemExit) as done:
        main(["serve", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.startswith("synsweep: error: DIR ") and "is not a folder" in err
    assert "Traceback" not in err
