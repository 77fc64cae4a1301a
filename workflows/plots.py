"""Figures of stored sweep results: dataset in, PNG (or PDF) file out.

    from synsweep.workflows.plots import plot_variable, sync_heatmap, sync_vs_coupling
    sync_heatmap(ds, "scan.png")             # Pearson r of the pair over the two sweep dims
    sync_vs_coupling(ds, "scan_vs_g.png")    # r against the first dim, a line per few values of the other
    plot_variable(ds, "rate_count", "rate.pdf", x="g", sel={"I_ext": 0.1})   # any variable, any axes

The functions are pure: they read the dataset, write one file and return its path; they touch no global
matplotlib state (each builds its own ``Figure`` on an Agg canvas, so no display is needed).

Points that were not computed (``status`` 0) or diverged (``status`` 2) carry no metric: the heatmap paints
them in two shades of grey, and a metric that is undefined at a computed point (NaN, e.g. the Pearson r of a
constant trace) is hatched, so none of the three is mistaken for a value.
"""

from __future__ import annotations

import re
import textwrap
from os import PathLike
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from synsweep.engine.metrics import STATUS_DIVERGED, STATUS_NOT_COMPUTED, STATUS_OK, STATUS_RUNAWAY

from .selection import PlotData, plot_data, sweep_dims

NOT_COMPUTED_COLOR = "#d9d9d9"
DIVERGED_COLOR = "#6e6e6e"
RUNAWAY_COLOR = "#b2182b"
LABEL_WIDTH = 45  # characters per line of an axis label: longer ones (long names with model units) wrap


def axis_label(ds: xr.Dataset, name: str) -> str:
    """'name: long name (units)' of a sweep coordinate, 'long name (units)' of a variable, from the attrs;
    wrapped to lines of ``LABEL_WIDTH`` characters so that a long one is not cut at the figure's edge."""
    attrs = ds[name].attrs if name in ds.variables else {}
    label = str(attrs.get("long_name") or name)
    if name in ds.dims and not label.startswith(name):
        label = f"{name}: {label}"
    units = attrs.get("units")
    label = f"{label} ({units})" if units not in (None, "", "1") else str(label)
    return "\n".join(textwrap.wrap(label, LABEL_WIDTH)) or label


def _select_entity(ds: xr.Dataset, var: str, pair: int | str, neuron: int | str) -> tuple[xr.DataArray, str]:
    """``ds[var]`` with its pair or neuron dim selected (by index or coordinate label), and a label for it."""
    da = ds[var]
    for dim, which in (("pair", pair), ("neuron", neuron)):
        if dim not in da.dims:
            continue
        if da.sizes[dim] == 0:
            raise ValueError(f"{var!r} has no {dim}s in this dataset (the circuit has none)")
        if isinstance(which, str):
            da = da.sel({dim: which})
        else:
            da = da.isel({dim: which})
        label = str(da[dim].values) if dim in da.coords else f"{dim} {which}"
        return da, f"{dim} {label}" if not label.startswith(dim) else label
    return da, ""


def _xy(ds: xr.Dataset, x: str | None, y: str | None) -> tuple[str, str]:
    dims = list(sweep_dims(ds))
    x = x or (dims[0] if dims else None)
    y = y or next((d for d in dims if d != x), None)
    if x is None or y is None:
        raise ValueError(f"a heatmap needs two sweep dims; this dataset has {dims or 'none'}")
    for d in (x, y):
        if d not in dims:
            raise ValueError(f"{d!r} is not a sweep dim of this dataset; its sweep dims are {dims}")
    if x == y:
        raise ValueError(f"x and y must be different sweep dims (both are {x!r})")
    return x, y


def _fix_other_dims(da: xr.DataArray, keep: tuple[str, ...], where: dict[str, int] | None) -> xr.DataArray:
    """Select one index along every sweep dim not in ``keep`` (from ``where``, else raise)."""
    where = dict(where or {})
    for d in da.dims:
        if d in keep:
            continue
        if d not in where:
            raise ValueError(f"the dataset has the extra sweep dim {d!r}; pass where={{{d!r}: index}} "
                             "to choose one slice")
        da = da.isel({d: where[d]})
    return da


def cell_edges(c: np.ndarray) -> np.ndarray:
    """Cell edges around coordinate centres (works for uneven grids and single values)."""
    c = np.asarray(c, dtype=np.float64)
    if c.size == 1:
        half = 0.5 * abs(c[0]) if c[0] != 0 else 0.5
        return np.array([c[0] - half, c[0] + half])
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])


MAX_MARKED_POINTS = 200  # lines with more values (trace samples) are drawn without markers


def new_figure(figsize: tuple[float, float]) -> Figure:
    """An empty figure of ``figsize`` inches (constrained layout, drawn with Agg: no display needed)."""
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | PathLike[str], dpi: int) -> Path:
    """Write ``fig`` as PNG, or as PDF when ``path`` ends in .pdf."""
    path = Path(path)
    if path.parent != Path(""):
        path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="pdf" if path.suffix.lower() == ".pdf" else "png")
    return path


def _status_layers(ax, xe: np.ndarray, ye: np.ndarray, values: np.ndarray, status: np.ndarray) -> list[Patch]:
    """Paint the cells that are not ok over a heatmap: not computed light grey, diverged dark grey, runaway
    red, NaN at an ok point hatched. Returns the legend handles of the layers present."""
    ok = status == STATUS_OK
    # Status layer: 0 -> not computed, 1 -> diverged, 2 -> runaway, masked where the point is ok.
    layer = np.ma.masked_where(ok, np.select([status == STATUS_DIVERGED, status == STATUS_RUNAWAY], [1, 2], 0))
    ax.pcolormesh(xe, ye, layer, cmap=ListedColormap([NOT_COMPUTED_COLOR, DIVERGED_COLOR, RUNAWAY_COLOR]),
                  vmin=0, vmax=2, shading="flat")
    undefined = np.ma.masked_where(~(ok & ~np.isfinite(values)), np.ones_like(values))
    handles = []
    if undefined.count():
        ax.pcolor(xe, ye, undefined, hatch="///", facecolor="none", edgecolor="#9a9a9a", linewidth=0.0)
        handles.append(Patch(facecolor="white", edgecolor="#9a9a9a", hatch="///", label="undefined (NaN)"))
    if (status == STATUS_DIVERGED).any():
        handles.append(Patch(color=DIVERGED_COLOR, label="diverged"))
    if (status == STATUS_RUNAWAY).any():
        handles.append(Patch(color=RUNAWAY_COLOR, label="runaway (fires faster than the step resolves)"))
    if (status == STATUS_NOT_COMPUTED).any():
        handles.append(Patch(color=NOT_COMPUTED_COLOR, label="not computed"))
    return handles


def _legend_below(ax, handles: list[Patch]) -> None:
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.12), ncols=len(handles),
                  frameon=False, fontsize="small")


def sync_heatmap(
    ds: xr.Dataset,
    path: str | PathLike[str],
    *,
    var: str = "pearson",
    x: str | None = None,
    y: str | None = None,
    pair: int | str = 0,
    neuron: int | str = 0,
    where: dict[str, int] | None = None,
    title: str | None = None,
    dpi: int = 120,
) -> Path:
    """Write a PNG heatmap of ``var`` over two sweep dims (default: the first two) and return its path.

    ``var`` defaults to the Pearson r of the pair (colour scale fixed to [-1, 1]); a per-neuron metric
    takes ``neuron``, a pair metric ``pair`` (index or coordinate label). Extra sweep dims need ``where``
    (dim -> index). Axes are labelled with the coordinates' long names and units; points not computed are
    light grey, diverged points dark grey, undefined values (NaN at a computed point) hatched.
    """
    if var not in ds:
        raise ValueError(f"the dataset has no variable {var!r}; it has {sorted(ds.data_vars)}")
    x, y = _xy(ds, x, y)
    da, entity = _select_entity(ds, var, pair, neuron)
    da = _fix_other_dims(da, (x, y), where).transpose(y, x)
    if "status" in ds:
        status = _fix_other_dims(ds["status"], (x, y), where).transpose(y, x).values
    else:
        status = np.full(da.shape, STATUS_OK, dtype=np.int8)
    values = np.asarray(da.values, dtype=np.float64)
    ok = status == STATUS_OK
    shown = np.ma.masked_where(~ok | ~np.isfinite(values), values)

    fig = new_figure((7.0, 5.0))
    ax = fig.add_subplot()
    xe, ye = cell_edges(ds[x].values), cell_edges(ds[y].values)
    is_r = var == "pearson"
    cmap = "RdBu_r" if is_r else "viridis"
    vlim = {"vmin": -1.0, "vmax": 1.0} if is_r else {}
    mesh = ax.pcolormesh(xe, ye, shown, cmap=cmap, shading="flat", **vlim)
    _legend_below(ax, _status_layers(ax, xe, ye, values, status))

    ax.set_xlabel(axis_label(ds, x))
    ax.set_ylabel(axis_label(ds, y))
    cbar = fig.colorbar(mesh, ax=ax)
    cbar.set_label(axis_label(ds, var) if not is_r else "Pearson r of V_a, V_b")
    if title is None:
        what = "Synchronisation (Pearson r)" if is_r else str(ds[var].attrs.get("long_name", var))
        name = ds.attrs.get("title") or ds.attrs.get("name")
        title = f"{what}{', ' + entity if entity else ''}" + (f"\n{name}" if name else "")
    ax.set_title(title)
    return save_figure(fig, path, dpi)


def sync_vs_coupling(
    ds: xr.Dataset,
    path: str | PathLike[str],
    *,
    var: str = "pearson",
    x: str | None = None,
    hue: str | None = None,
    n_lines: int = 5,
    pair: int | str = 0,
    neuron: int | str = 0,
    where: dict[str, int] | None = None,
    title: str | None = None,
    dpi: int = 120,
) -> Path:
    """Write a PNG line plot of ``var`` against the sweep dim ``x`` (default: the first, the coupling g),
    one line for each of up to ``n_lines`` evenly spaced values of ``hue`` (default: the other sweep dim),
    and return its path. Points that are not ok (not computed, diverged) leave gaps; diverged points are
    marked with a cross along the bottom of the axes.
    """
    if var not in ds:
        raise ValueError(f"the dataset has no variable {var!r}; it has {sorted(ds.data_vars)}")
    dims = list(sweep_dims(ds))
    x = x or (dims[0] if dims else None)
    if x is None or x not in dims:
        raise ValueError(f"x must be a sweep dim of the dataset; its sweep dims are {dims}")
    if hue is None:
        hue = next((d for d in dims if d != x), None)
    elif hue not in dims or hue == x:
        raise ValueError(f"hue must be a sweep dim other than x={x!r}; the sweep dims are {dims}")
    keep = (x,) if hue is None else (x, hue)
    da, entity = _select_entity(ds, var, pair, neuron)
    da = _fix_other_dims(da, keep, where)
    status = _fix_other_dims(ds["status"], keep, where) if "status" in ds else xr.ones_like(da, dtype=np.int8)
    if hue is None:
        da, status = da.expand_dims("_line"), status.expand_dims("_line")
        line_dim, picks = "_line", [0]
    else:
        line_dim = hue
        size = da.sizes[hue]
        picks = sorted(set(np.linspace(0, size - 1, min(max(n_lines, 1), size)).round().astype(int).tolist()))
    da, status = da.transpose(line_dim, x), status.transpose(line_dim, x)

    fig = new_figure((7.0, 4.5))
    ax = fig.add_subplot()
    xs = ds[x].values
    cmap = ListedColormap(["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d"])
    diverged_any = runaway_any = False
    for k, i in enumerate(picks):
        st = status.values[i]
        yv = np.where(st == STATUS_OK, np.asarray(da.values[i], dtype=np.float64), np.nan)
        if hue is None:
            label = None
        else:
            units = ds[hue].attrs.get("units", "")
            label = f"{hue} = {ds[hue].values[i]:.4g}{' ' + units if units not in ('', '1') else ''}"
        color = cmap(k % cmap.N)
        ax.plot(xs, yv, "o-", color=color, markersize=3, linewidth=1.5, label=label)
        div = st == STATUS_DIVERGED
        if div.any():
            diverged_any = True
            ax.plot(xs[div], np.full(int(div.sum()), 0.03), "x", color=color, markersize=6,
                    transform=ax.get_xaxis_transform(), clip_on=False)
        run = st == STATUS_RUNAWAY
        if run.any():
            runaway_any = True
            ax.plot(xs[run], np.full(int(run.sum()), 0.97), "^", color=color, markersize=6,
                    transform=ax.get_xaxis_transform(), clip_on=False)
    ax.set_xlabel(axis_label(ds, x))
    ax.set_ylabel("Pearson r of V_a, V_b" if var == "pearson" else axis_label(ds, var))
    if var == "pearson":
        ax.set_ylim(-1.05, 1.05)
    ax.grid(True, alpha=0.3)
    if hue is not None:
        ax.legend(fontsize="small", title=axis_label(ds, hue), title_fontsize="small")
    marks = ["x: diverged"] * diverged_any + ["^: runaway (no synchrony value)"] * runaway_any
    if marks:
        ax.annotate("; ".join(marks), xy=(0.99, 0.06), xycoords="axes fraction", ha="right", va="bottom",
                    fontsize="small")
    if title is None:
        what = "Synchronisation vs coupling" if var == "pearson" else str(ds[var].attrs.get("long_name", var))
        name = ds.attrs.get("title") or ds.attrs.get("name")
        title = f"{what}{', ' + entity if entity else ''}" + (f"\n{name}" if name else "")
    ax.set_title(title)
    return save_figure(fig, path, dpi)


# -- any variable over any one or two axes ------------------------------------------------------------------
def plot_variable(
    ds: xr.Dataset,
    var: str,
    path: str | PathLike[str],
    *,
    x: str | None = None,
    y: str | None = None,
    sel: dict[str, str | float] | None = None,
    reduce: str | None = None,
    above: float | None = None,
    title: str | None = None,
    dpi: int = 120,
) -> Path:
    """Write a line (one axis) or heatmap (two axes) of ``ds[var]`` as PNG, or PDF for a .pdf ``path``.

    The cut is ``synsweep.workflows.selection.plot_data`` (defaults, ``sel``, ``reduce``, and how points that
    are not ok become NaN; the dataset stays lazy and only the cut is loaded). Axes and colour bar carry the
    coordinates' and the variable's long names and units. A heatmap paints cells without a value in grey
    (not computed, diverged, or no ok point behind a reduced cell) and hatches NaN at ok points; a line
    leaves gaps there and marks diverged points with a cross along the bottom. ``reduce="basin"`` with
    ``above``: the fraction of the reduced points with ``var >= above``, a line with its 95% Wilson band.
    """
    data = plot_data(ds, var, x=x, y=y, sel=sel, reduce=reduce, above=above)
    fig = _variable_lines(ds, data) if data.y is None else _variable_heatmap(ds, data)
    fig.axes[0].set_title(title if title is not None else _variable_title(ds, data), fontsize="medium")
    return save_figure(fig, path, dpi)


def _traced_point_text(data: PlotData) -> str | None:
    """A selected traced point as its sweep coordinates ("g = 0.004, I_ext = 0.1"), not its index."""
    found = [(name.removeprefix("traced_"), c) for name, c in data.values.coords.items()
             if name.startswith("traced_") and name != "traced_point" and c.ndim == 0]
    if "traced_point" not in data.values.coords or data.values["traced_point"].ndim or not found:
        return None
    return ", ".join(f"{name} = {float(c):.6g}" for name, c in found)


def _variable_title(ds: xr.Dataset, data: PlotData) -> str:
    lines = [str(ds[data.var].attrs.get("long_name", data.var))]
    selected = data.selected
    point = _traced_point_text(data)
    if selected and point is not None:
        selected = re.sub(r"traced_point = \d+", point, selected)
    where = [selected] if selected else []
    if data.reduced and data.above is not None:
        where.append(f"fraction with {data.var} >= {data.above:g} over {', '.join(data.reduced)} (95% Wilson CI)")
    elif data.reduced:
        where.append(f"{data.reduce} over {', '.join(data.reduced)}"
                     + (" (ok points)" if data.n_ok is not None else ""))
    if where:
        lines.append("; ".join(where))
    name = ds.attrs.get("title") or ds.attrs.get("name")
    if name:
        lines.append(str(name))
    return "\n".join(lines)


def _positions(values: xr.DataArray, dim: str, coord: str) -> tuple[np.ndarray, list[str] | None]:
    """Numeric positions along an axis, and tick labels when its coordinate is not numeric."""
    c = values[coord].values if coord in values.coords else np.arange(values.sizes[dim])
    if np.asarray(c).dtype.kind in "iuf":
        return np.asarray(c, dtype=np.float64), None
    return np.arange(len(c), dtype=np.float64), [str(v) for v in np.asarray(c).tolist()]


MAX_TICK_LABELS = 12  # value labels of an unevenly spaced heatmap axis: at most this many, evenly thinned


def _cell_positions(values: xr.DataArray, dim: str, coord: str) -> tuple[np.ndarray, list[str] | None]:
    """Heatmap positions along an axis: its values when they are evenly spaced; otherwise one cell per value
    (cell indices) labelled with the values, so that closely spaced low values (0, 0.0001, 0.001, 0.01) are not
    squeezed into slivers beside one wide cell."""
    xs, labels = _positions(values, dim, coord)
    if labels is not None or xs.size < 3:
        return xs, labels
    steps = np.diff(xs)
    if np.allclose(steps, steps[0], rtol=1e-6, atol=0.0):
        return xs, None
    return np.arange(xs.size, dtype=np.float64), [f"{v:.3g}" for v in xs]


def _set_value_ticks(set_ticks, positions: np.ndarray, labels: list[str]) -> None:
    """Tick labels at ``positions``, thinned to at most MAX_TICK_LABELS (the first and every k-th)."""
    step = max(1, -(-len(labels) // MAX_TICK_LABELS))
    set_ticks(positions[::step], labels[::step])


def _colour_scale(var: str) -> dict:
    return {"cmap": "RdBu_r", "vmin": -1.0, "vmax": 1.0} if var == "pearson" else {"cmap": "viridis"}


def _variable_heatmap(ds: xr.Dataset, data: PlotData) -> Figure:
    assert data.y is not None and data.y_coord is not None
    values = np.asarray(data.values.values, dtype=np.float64)
    xs, xlabels = _cell_positions(data.values, data.x, data.x_coord)
    ys, ylabels = _cell_positions(data.values, data.y, data.y_coord)
    fig = new_figure((7.0, 5.0))
    ax = fig.add_subplot()
    xe, ye = cell_edges(xs), cell_edges(ys)
    shown = np.ma.masked_where(~np.isfinite(values), values)
    mesh = ax.pcolormesh(xe, ye, shown, shading="flat", **_colour_scale(data.var))
    if data.status is not None:
        handles = _status_layers(ax, xe, ye, values, data.status)
    else:
        empty = data.n_ok == 0 if data.n_ok is not None else ~np.isfinite(values)
        handles = []
        if empty.any():
            ax.pcolormesh(xe, ye, np.ma.masked_where(~empty, np.ones_like(values)),
                          cmap=ListedColormap([NOT_COMPUTED_COLOR]), shading="flat")
            handles.append(Patch(color=NOT_COMPUTED_COLOR, label="no ok point" if data.n_ok is not None
                                 else "no value (NaN)"))
        undefined = ~np.isfinite(values) & ~empty
        if undefined.any():
            ax.pcolor(xe, ye, np.ma.masked_where(~undefined, np.ones_like(values)), hatch="///",
                      facecolor="none", edgecolor="#9a9a9a", linewidth=0.0)
            handles.append(Patch(facecolor="white", edgecolor="#9a9a9a", hatch="///", label="undefined (NaN)"))
    _legend_below(ax, handles)
    for labels, positions, set_ticks in ((xlabels, xs, ax.set_xticks), (ylabels, ys, ax.set_yticks)):
        if labels is not None:
            _set_value_ticks(set_ticks, positions, labels)
    if xlabels is not None and len(xlabels) > 6:
        ax.tick_params(axis="x", labelrotation=45)
    ax.set_xlabel(axis_label(ds, data.x_coord))
    ax.set_ylabel(axis_label(ds, data.y_coord))
    fig.colorbar(mesh, ax=ax).set_label(axis_label(ds, data.var))
    return fig


def _variable_lines(ds: xr.Dataset, data: PlotData) -> Figure:
    values = data.values if data.hue is not None else data.values.expand_dims("_line")
    status = data.status if data.status is None or data.hue is not None else data.status[None, :]
    xs, xlabels = _positions(data.values, data.x, data.x_coord)
    fig = new_figure((7.0, 4.5))
    ax = fig.add_subplot()
    cmap = ListedColormap(["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d"])
    line_dim = values.dims[0]
    labels = [str(v) for v in values[line_dim].values.tolist()] if data.hue is not None else [None]
    diverged_any = runaway_any = False
    for k, label in enumerate(labels):
        color = cmap(k % cmap.N)
        ys = np.asarray(values.values[k], dtype=np.float64)
        # a marker per value where the values are few (sweep points), none along a trace's thousands of samples
        ax.plot(xs, ys, "o-" if len(xs) <= MAX_MARKED_POINTS else "-", color=color, markersize=3, linewidth=1.5,
                label=f"{data.hue} {label}" if label is not None else None)
        if data.ci is not None:
            lo, hi = (np.atleast_2d(b)[k] for b in data.ci)
            ax.fill_between(xs, lo, hi, color=color, alpha=0.2, linewidth=0)
        if status is not None and (status[k] == STATUS_DIVERGED).any():
            diverged_any = True
            div = status[k] == STATUS_DIVERGED
            ax.plot(xs[div], np.full(int(div.sum()), 0.03), "x", color=color, markersize=6,
                    transform=ax.get_xaxis_transform(), clip_on=False)
        if status is not None and (status[k] == STATUS_RUNAWAY).any():
            runaway_any = True
            run = status[k] == STATUS_RUNAWAY
            ax.plot(xs[run], np.full(int(run.sum()), 0.97), "^", color=color, markersize=6,
                    transform=ax.get_xaxis_transform(), clip_on=False)
    if xlabels is not None:
        ax.set_xticks(xs, xlabels)
    ax.set_xlabel(axis_label(ds, data.x_coord))
    ax.set_ylabel(f"fraction with {data.var} >= {data.above:g}" if data.above is not None
                  else axis_label(ds, data.var))
    if data.above is not None:
        ax.set_ylim(-0.02, 1.02)
    elif data.var == "pearson":
        ax.set_ylim(-1.05, 1.05)
    ax.grid(True, alpha=0.3)
    if data.hue is not None:
        ax.legend(fontsize="small")
    notes = []
    if diverged_any:
        notes.append("x: diverged")
    if runaway_any:
        notes.append("^: runaway")
    if not np.isfinite(np.asarray(values.values, dtype=np.float64)).all():
        notes.append("gaps: no value (not computed, diverged, runaway or NaN)")
    if notes:
        ax.annotate("; ".join(notes), xy=(0.99, 0.06), xycoords="axes fraction", ha="right", va="bottom",
                    fontsize="small")
    return fig
