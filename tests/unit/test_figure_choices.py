"""Figure choices (template stores: the values do not matter): a listed traced point's trace is titled with its
sweep coordinates and drawn without a marker per sample; a heatmap axis with uneven values gets one cell per
value; the report's figures average over random axes instead of fixing one draw."""

from __future__ import annotations

from pathlib import Path

from synsweep.sweeps import load_spec, open_result, plan_chunks
from synsweep.sweeps.store import create_store
from synsweep.workflows.plots import MAX_MARKED_POINTS, _variable_title, plot_data, plot_variable
from tests.specs import hh_pair_doc


def test_trace_plot_title_and_markers(tmp_path: Path) -> None:
    doc = hh_pair_doc("tr", [0.0, 0.004], duration=20, chunk_points=10,
                      record={"variables": ["v"], "points": [{"g": 0.004, "I_ext": 0.05}]})
    spec = load_spec(doc)
    create_store(spec, plan_chunks(spec), tmp_path / "tr.zarr")
    ds = open_result(tmp_path / "tr.zarr")
    data = plot_data(ds, "trace_v", x="time", sel={"neuron": "n1"})
    title = _variable_title(ds, data)
    assert "g = 0.004, I_ext = 0.05" in title and "traced_point" not in title and "point = 0" not in title
    assert data.values.sizes["time"] > MAX_MARKED_POINTS
    path = plot_variable(ds, "trace_v", tmp_path / "t.png", x="time", sel={"neuron": "n1"})
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_uneven_heatmap_axis_uses_cells_with_value_labels() -> None:
    import numpy as np
    import xarray as xr

    from synsweep.workflows.plots import _cell_positions

    uneven = xr.DataArray(np.zeros(5), dims="g", coords={"g": [0.0, 0.0001, 0.001, 0.01, 0.1]})
    xs, labels = _cell_positions(uneven, "g", "g")
    assert list(xs) == [0, 1, 2, 3, 4] and labels == ["0", "0.0001", "0.001", "0.01", "0.1"]
    even = xr.DataArray(np.zeros(4), dims="g", coords={"g": [0.0, 0.5, 1.0, 1.5]})
    xs, labels = _cell_positions(even, "g", "g")
    assert labels is None and list(xs) == [0.0, 0.5, 1.0, 1.5]  # evenly spaced: the values themselves


def test_report_figures_average_over_random_axes(tmp_path: Path) -> None:
    from synsweep.workflows.report import standard_figures

    doc = hh_pair_doc("rnd", [0.0, 0.002], duration=10, chunk_points=10)
    doc["sweep"].insert(0, {"name": "v0", "paths": ["neurons.n1.init.v"],
                            "random": {"n": 3, "seed": 1, "distribution": "uniform", "low": -70, "high": -60}})
    spec = load_spec(doc)
    create_store(spec, plan_chunks(spec), tmp_path / "rnd.zarr")
    caption, kwargs = standard_figures(open_result(tmp_path / "rnd.zarr"))[0]
    assert (kwargs["x"], kwargs["y"], kwargs["reduce"]) == ("g", "I_ext", "mean") and "v0" not in kwargs["sel"]
    assert caption.endswith("mean over v0")
