"""Selection, plotting, export and summary logic of the analysis commands, on small synthetic results.

The synthetic result has the layout of a real store (sweep dims with units/long_name, a zip dim with an
unsorted axis, ``neuron`` and ``pair`` dims, ``status`` with points not computed and diverged), so every
expected value below is computed independently with numpy indexing.
"""

from __future__ import annotations

import csv
import io
import warnings

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from dask.callbacks import Callback

from synsweep.workflows import analysis_cli, selection
from synsweep.workflows.export import slabs, table_layout, to_netcdf, write_csv_rows
from synsweep.workflows.plots import _variable_lines, axis_label, plot_variable
from synsweep.workflows.replay import same_bits
from synsweep.workflows.report import summaries
from synsweep.workflows.selection import AnalysisError, index_of, parse_assignments, plot_data

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
A = np.array([0.0, 0.5, 1.0, 1.5])
B = np.array([10.0, 20.0])
I2 = np.array([0.3, 0.1, 0.2])  # the zip axis of dim z, deliberately unsorted


def synthetic(chunked: bool = False) -> xr.Dataset:
    """A result over a(4) x b(2) x z(3): rate(neuron), pearson(pair), status with a 0 and a 2."""
    shape = (4, 2, 3)
    rate = np.arange(np.prod(shape) * 2, dtype=np.float64).reshape(*shape, 2)
    pearson = np.linspace(-1, 1, np.prod(shape)).reshape(*shape, 1)
    status = np.ones(shape, dtype=np.int8)
    status[0, 0, 0] = 0  # not computed
    status[1, 1, 2] = 2  # diverged
    rate[status != 1] = np.nan
    pearson[status != 1] = np.nan
    pearson[2, 0, 1] = np.nan  # undefined at an ok point
    spikes = np.where(status[..., None] == 1, 3, -1).astype(np.int32).repeat(2, axis=-1)
    coords = {
        "a": ("a", A, {"units": "mS", "long_name": "coupling"}),
        "b": ("b", B, {"units": "ms", "long_name": "tau"}),
        "z": ("z", np.arange(3), {"units": "1", "long_name": "index along the zip group z (I2)"}),
        "I2": ("z", I2, {"units": "uA", "long_name": "drive of n2"}),
        "neuron": ("neuron", np.array(["n1", "n2"], dtype=object)),
        "pair": ("pair", np.array(["n1-n2"], dtype=object)),
    }
    dims = ("a", "b", "z")
    ds = xr.Dataset({
        "rate_count": ((*dims, "neuron"), rate, {"units": "Hz", "long_name": "firing rate"}),
        "spike_count": ((*dims, "neuron"), spikes, {"units": "1", "long_name": "spikes"}),
        "pearson": ((*dims, "pair"), pearson, {"units": "1", "long_name": "Pearson r"}),
        "status": (dims, status, {"units": "1", "long_name": "status"}),
    }, coords=coords, attrs={"title": "synthetic", "git_commit": None, "git_dirty": True})
    return ds.chunk({"a": 2, "b": 1, "z": 3}) if chunked else ds


# -- names and values ---------------------------------------------------------------------------------------
def test_parse_assignments_splits_commas_and_repeats() -> None:
    assert parse_assignments(["a=1,b=x", " z = 2 "], "--sel") == {"a": "1", "b": "x", "z": "2"}


@pytest.mark.parametrize("items, word", [(["a"], "axis=value"), (["a="], "axis=value"), (["a=1", "a=2"], "twice")])
def test_parse_assignments_refuses_malformed_items(items: list[str], word: str) -> None:
    with pytest.raises(AnalysisError, match=word):
        parse_assignments(items, "--sel")


def test_nearest_value_labels_and_zip_axes() -> None:
    ds = synthetic()
    assert index_of(ds, "a", "0.9") == ("a", 2)  # nearest of 0, 0.5, 1, 1.5
    assert index_of(ds, "a", "1.74") == ("a", 3)  # within half a step past the end
    assert index_of(ds, "I2", "0.11") == ("z", 1)  # a zip axis selects along its dim
    assert index_of(ds, "neuron", "n2") == ("neuron", 1)


@pytest.mark.parametrize("name, value, words", [
    ("a", "9", ["outside the grid", "'a'", "0, 0.5, 1, 1.5 mS"]),
    ("a", "x", ["takes a number", "0, 0.5, 1, 1.5 mS"]),
    ("neuron", "n3", ["'n3'", "n1, n2"]),
    ("q", "1", ["'q' is not an axis", "a, b, z, neuron, pair, I2"]),
])
def test_bad_selections_name_the_axis_and_its_values(name: str, value: str, words: list[str]) -> None:
    with pytest.raises(AnalysisError) as info:
        index_of(synthetic(), name, value)
    for word in words:
        assert word in str(info.value)


def test_two_names_of_one_dim_must_agree() -> None:
    with pytest.raises(AnalysisError, match="different points"):
        selection.select_indices(synthetic(), {"z": "0", "I2": "0.1"})


def test_reduction_choices_match() -> None:
    assert analysis_cli.REDUCE_CHOICES == selection.REDUCTIONS


# -- cutting a variable ------------------------------------------------------------------------------------
def test_default_is_a_heatmap_of_the_first_two_sweep_dims_with_status() -> None:
    ds = synthetic()
    data = plot_data(ds, "pearson", sel={"z": "1"})
    assert (data.y, data.x) == ("b", "a") and data.values.dims == ("b", "a")
    np.testing.assert_array_equal(data.values.values, ds.pearson.values[:, :, 1, 0].T)
    np.testing.assert_array_equal(data.status, ds.status.values[:, :, 1].T)
    assert data.selected == "I2 = 0.1 uA, pair = n1-n2"  # a zip dim is named by its axes


def test_line_with_one_line_per_neuron_and_masked_points() -> None:
    ds = synthetic()
    data = plot_data(ds, "spike_count", x="a", sel={"b": "10", "I2": "0.3"})
    assert data.hue == "neuron" and data.values.dims == ("neuron", "a")
    expected = np.where(ds.status.values[:, 0, 0] == 1, 3.0, np.nan)
    np.testing.assert_array_equal(data.values.values, np.stack([expected, expected]))  # -1 is masked, not plotted


def test_zip_axis_on_x_is_sorted_by_its_values() -> None:
    ds = synthetic()
    data = plot_data(ds, "rate_count", x="I2", sel={"a": "1", "b": "20", "neuron": "n2"})
    assert data.x == "z" and data.x_coord == "I2"
    np.testing.assert_array_equal(data.values["I2"].values, np.sort(I2))
    order = np.argsort(I2)
    np.testing.assert_array_equal(data.values.values, ds.rate_count.values[2, 1, order, 1])


@pytest.mark.parametrize("how", ["mean", "max", "min", "median"])
@pytest.mark.parametrize("chunked", [False, True])
def test_reductions_over_ok_points_equal_numpy(how: str, chunked: bool) -> None:
    ds = synthetic(chunked)
    data = plot_data(ds, "rate_count", x="a", y="z", reduce=how)
    assert set(data.reduced) == {"b", "neuron"} and data.status is None
    raw = synthetic().rate_count.values  # (a, b, z, neuron), NaN where status != 1
    moved = np.moveaxis(raw, 2, 1).reshape(4, 3, -1)  # (a, z, b*neuron)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no ok point in a cell: NaN
        expected = getattr(np, f"nan{how}")(moved, axis=-1).T  # (z, a)
    np.testing.assert_allclose(data.values.values, expected, rtol=1e-15)
    ok = (synthetic().status.values == 1).sum(axis=1).T
    np.testing.assert_array_equal(data.n_ok, ok)


def test_leftover_dim_is_an_error_that_says_how_to_choose() -> None:
    with pytest.raises(AnalysisError) as info:
        plot_data(synthetic(), "rate_count", x="a", y="b")
    text = str(info.value)
    assert "'z'" in text and "--sel z=VALUE" in text and "--reduce" in text


def test_selecting_a_dim_the_variable_does_not_have_is_an_error() -> None:
    with pytest.raises(AnalysisError, match="'pearson' does not vary along 'neuron'"):
        plot_data(synthetic(), "pearson", sel={"z": "0", "neuron": "n1"})


def test_unknown_variable_lists_the_variables() -> None:
    with pytest.raises(AnalysisError, match="rate_count, spike_count, pearson, status"):
        plot_data(synthetic(), "rate")


def test_selection_loads_only_the_chunks_it_needs_of_a_dataset_larger_than_memory() -> None:
    """A 64 GiB (virtual) variable: the heatmap at one value of the third dim reads one 32 MiB chunk."""
    n = 2048
    values = da.ones((n, n, n), dtype=np.float64, chunks=(n, n, 1))
    status = da.ones((n, n, n), dtype=np.int8, chunks=(n, n, 1))
    ds = xr.Dataset({"x": (("a", "b", "c"), values), "status": (("a", "b", "c"), status)},
                    coords={"a": np.arange(n) * 1.0, "b": np.arange(n) * 1.0, "c": np.arange(n) * 1.0})
    assert ds["x"].nbytes == 64 * 2**30
    seen = _ResultSizes()
    with seen:
        data = plot_data(ds, "x", sel={"c": "7"})
    assert data.values.shape == (n, n) and float(data.values.max()) == 1.0
    assert 0 < seen.largest <= n * n * 8 and seen.tasks < 20  # of 2048 chunks along c


def test_reduction_streams_chunk_by_chunk() -> None:
    """Mean over a dim of a 128 MiB (virtual) variable: no task ever holds more than a few chunks."""
    values = da.random.default_rng(1).random((128, 128, 1024), chunks=(128, 128, 16))
    status = da.ones((128, 128, 1024), dtype=np.int8, chunks=(128, 128, 16))
    ds = xr.Dataset({"x": (("a", "b", "c"), values), "status": (("a", "b", "c"), status)})
    seen = _ResultSizes()
    with seen:
        data = plot_data(ds, "x", x="a", y="b", reduce="mean")
    assert data.values.shape == (128, 128) and abs(float(data.values.mean()) - 0.5) < 0.01
    assert seen.largest <= 4 * 128 * 128 * 16 * 8 < ds["x"].nbytes // 8


class _ResultSizes(Callback):
    """How many tasks dask ran, and the size in bytes of the largest result one of them produced."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0
        self.tasks = 0

    def _posttask(self, key, result, dsk, state, worker_id) -> None:  # noqa: ANN001
        self.largest = max(self.largest, int(getattr(result, "nbytes", 0)))
        self.tasks += 1


# -- figures ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, suffix, magic", [
    ({"var": "pearson", "sel": {"z": "2"}}, ".png", PNG_MAGIC),                            # status layers
    ({"var": "rate_count", "x": "a", "y": "neuron", "reduce": "mean"}, ".pdf", b"%PDF"),   # categorical y
    ({"var": "rate_count", "x": "I2", "sel": {"a": "0", "b": "10"}}, ".png", PNG_MAGIC),   # lines, gaps
])
def test_plot_variable_writes_the_file(tmp_path, kwargs: dict, suffix: str, magic: bytes) -> None:
    path = plot_variable(synthetic(chunked=True), path=tmp_path / f"fig{suffix}", **kwargs)
    assert path.read_bytes().startswith(magic)


def test_line_figure_marks_runaway_points_and_wraps_long_labels() -> None:
    """A runaway point (status 3) has no value and gets a ^ with its note, not an unexplained gap; a long
    label in model units is wrapped rather than cut at the figure's edge."""
    ds = synthetic()
    ds["status"][2, 0, 0] = 3
    ds["rate_count"][2, 0, 0] = np.nan
    ds["rate_count"].attrs.update(long_name="firing rate as spike count / run time",
                                  units="1/(1000 model time units)")
    fig = _variable_lines(ds, plot_data(ds, "rate_count", x="a", sel={"b": "10", "I2": "0.3"}))
    ax = fig.axes[0]
    notes = " ".join(t.get_text() for t in ax.texts)
    assert "^: runaway" in notes and "runaway" in notes.split("gaps:")[1], notes
    marked = [line for line in ax.lines if line.get_marker() == "^"]
    assert len(marked) == 2 and all(list(line.get_xdata()) == [A[2]] for line in marked)  # one per neuron
    label = axis_label(ds, "rate_count")
    assert ax.get_ylabel() == label and "\n" in label
    assert label.replace("\n", " ").endswith("(1/(1000 model time units))")


# -- export -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 2, 3), (5,), (1, 7), (3, 1, 4, 2)])
@pytest.mark.parametrize("rows", [1, 2, 5, 7, 1000])
def test_slabs_cover_the_grid_in_c_order(shape: tuple[int, ...], rows: int) -> None:
    order = []
    for slab in slabs(shape, rows):
        size = int(np.prod([s.stop - s.start for s in slab]))
        assert size <= max(rows, 1)
        idx = np.meshgrid(*[np.arange(s.start, s.stop) for s in slab], indexing="ij")
        order += np.ravel_multi_index(tuple(i.ravel() for i in idx), shape).tolist()
    assert order == list(range(int(np.prod(shape))))


def test_csv_table_is_the_same_whatever_the_slab_size() -> None:
    ds = synthetic(chunked=True)
    texts = []
    for rows in (1, 5, 1000):
        stream = io.StringIO()
        n, table = write_csv_rows(ds, stream, rows_per_block=rows)
        assert n == 24
        texts.append(stream.getvalue())
    assert texts[0] == texts[1] == texts[2]
    rows = list(csv.DictReader(io.StringIO(texts[0])))
    assert table.header == ["a", "b", "z", "I2", "rate_count[n1]", "rate_count[n2]", "spike_count[n1]",
                            "spike_count[n2]", "pearson[n1-n2]", "status"]
    flat = synthetic()
    for k, row in enumerate(rows):
        i, j, m = np.unravel_index(k, (4, 2, 3))
        assert float(row["a"]) == A[i] and float(row["I2"]) == I2[m] and int(row["z"]) == m
        assert int(row["status"]) == flat.status.values[i, j, m]
        want = flat.pearson.values[i, j, m, 0]
        assert (row["pearson[n1-n2]"] == "NaN") if np.isnan(want) else float(row["pearson[n1-n2]"]) == want
        assert int(row["spike_count[n2]"]) == flat.spike_count.values[i, j, m, 1]


def test_csv_leaves_out_variables_that_are_not_per_point() -> None:
    ds = synthetic().assign(trace_v=(("a", "b", "z", "neuron", "time"), np.zeros((4, 2, 3, 2, 5))))
    assert table_layout(ds).skipped == ("trace_v",)


def test_netcdf_round_trip_keeps_coords_and_attrs(tmp_path) -> None:
    ds = synthetic(chunked=True)
    path = to_netcdf(ds, tmp_path / "x.nc")
    with xr.open_dataset(path, engine="h5netcdf") as back:
        back = back.load()
    assert back.attrs == {"title": "synthetic", "git_commit": "", "git_dirty": "true"}
    for name in ds.variables:
        assert back[name].attrs == ds[name].attrs, name
        assert back[name].dims == ds[name].dims
        want, got = np.asarray(ds[name].values), np.asarray(back[name].values)
        if want.dtype == object:
            want, got = want.astype(str), got.astype(str)
        if name == "spike_count":  # -1 (not computed) is its CF _FillValue: read back as missing
            want = np.where(want == -1, np.nan, want)
        np.testing.assert_array_equal(got, want)
    assert back["spike_count"].encoding["dtype"] == np.int32 and back["status"].dtype == np.int8


# -- replay comparison and summaries -----------------------------------------------------------------------
def test_same_bits_is_bitwise_except_that_nan_equals_nan() -> None:
    nan2 = np.array([0x7FF8000000000001], dtype=np.uint64).view(np.float64)  # another NaN payload
    a = np.array([1.0, 0.0, np.nan, 1.0])
    b = np.array([1.0, -0.0, nan2[0], np.nextafter(1.0, 2.0)])
    assert same_bits(a, b).tolist() == [True, False, True, False]
    assert not same_bits(np.array([1], np.int32), np.array([1], np.int64)).any()  # dtype matters


def test_summaries_over_ok_points(monkeypatch: pytest.MonkeyPatch) -> None:
    ds = synthetic(chunked=True)
    rows = {(s.var, s.entity): s for s in summaries(ds)}
    flat = synthetic()
    ok = flat.status.values == 1
    r = flat.rate_count.values[..., 0][ok]
    s = rows[("rate_count", "n1")]
    assert (s.minimum, s.median, s.maximum) == (r.min(), np.median(r), r.max()) and s.median_exact
    assert (s.points, s.diverged, s.not_computed, s.undefined) == (22, 1, 1, 0)
    assert rows[("pearson", "n1-n2")].undefined == 1
    assert rows[("spike_count", "n2")].minimum == 3  # -1 only at points that are not ok
    # the streamed histogram median, when the values are too many for an exact one
    from synsweep.workflows import report

    monkeypatch.setattr(report, "EXACT_MEDIAN_VALUES", 0)
    approx = {(s.var, s.entity): s for s in summaries(ds)}[("rate_count", "n1")]
    assert not approx.median_exact
    width = (r.max() - r.min()) / report.HISTOGRAM_BINS
    m = approx.median  # a median to within a bin: at most half the values below m - width, half above m + width
    assert (r < m - width).sum() <= r.size / 2 and (r > m + width).sum() <= r.size / 2
    assert r.min() <= m <= r.max()


# -- basin estimates ------------------------------------------------------------------------------------------
def test_wilson_interval_matches_the_closed_form_values() -> None:
    """Wilson 95% intervals: 0 of 10 -> (0, 0.2775), 5 of 10 -> (0.2366, 0.7634), none for n = 0."""
    lo, hi = selection.wilson_interval(np.array([0, 5, 10, 0]), np.array([10, 10, 10, 0]))
    np.testing.assert_allclose(lo[:3], [0.0, 0.23659, 0.72246], atol=5e-5)
    np.testing.assert_allclose(hi[:3], [0.27754, 0.76341, 1.0], atol=5e-5)
    assert np.isnan(lo[3]) and np.isnan(hi[3])


@pytest.mark.parametrize("chunked", [False, True])
def test_basin_is_the_fraction_of_ok_points_in_the_state_with_its_interval(chunked: bool) -> None:
    ds = synthetic(chunked)
    data = plot_data(ds, "pearson", x="a", sel={"pair": "n1-n2"}, reduce="basin", above=0.0)
    raw = synthetic().pearson.values[..., 0].reshape(4, -1)  # (a, b*z), NaN: no value
    k, n = np.nansum(raw >= 0.0, axis=1), np.isfinite(raw).sum(axis=1)
    np.testing.assert_allclose(data.values.values, k / n)
    lo, hi = selection.wilson_interval(k, n)
    np.testing.assert_allclose(data.ci[0], lo)
    np.testing.assert_allclose(data.ci[1], hi)
    assert data.above == 0.0 and set(data.reduced) == {"b", "z"}


def test_basin_needs_its_threshold() -> None:
    with pytest.raises(AnalysisError, match="--above"):
        plot_data(synthetic(), "pearson", x="a", reduce="basin")


def test_basin_figure_is_written(tmp_path) -> None:
    out = plot_variable(synthetic(), "pearson", tmp_path / "basin.png", x="a", sel={"pair": "n1-n2"},
                        reduce="basin", above=0.0)
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_report_adds_a_basin_estimate_over_a_random_axis(tmp_path) -> None:
    from synsweep.workflows.report import standard_figures

    ds = synthetic()
    assert not [f for f in standard_figures(ds) if f[1].get("reduce") == "basin"]
    ds["b"].attrs["sweep_kind"] = "random"
    basin = [f for f in standard_figures(ds) if f[1].get("reduce") == "basin"]
    assert len(basin) == 1
    caption, kwargs = basin[0]
    assert kwargs["x"] == "a" and kwargs["above"] == 0.9 and kwargs["sel"]["pair"] == "n1-n2"
    assert "Wilson" in caption and "z" in kwargs["sel"]  # the other dim is fixed, only b is reduced
    out = plot_variable(ds, path=tmp_path / "basin.png", **kwargs)
    assert out.read_bytes()[:4] == b"\x89PNG"
