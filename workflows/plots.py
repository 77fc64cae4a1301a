"""Figures of stored sweep results: dataset in, PNG file out.

    from synsweep.workflows.plots import sync_heatmap, sync_vs_coupling
    sync_heatmap(ds, "scan.png")             # Pearson r of the pair over the two sweep dims
    sync_vs_coupling(ds, "scan_vs_g.png")    # r against the first dim, a line per few values of the other

The functions are pure: they read the dataset, write one file and return its path; they touch no global
matplotlib state (each builds its own ``Figure`` on an Agg canvas, so no display is needed).

Points that were not computed (``status`` 0) or diverged (``status`` 2) carry no metric: the heatmap paints
them in two shades of grey, and a metric that is undefined at a computed point (NaN, e.g. the Pearson r of a
constant trace) is hatched, so none of the three is mistaken for a value.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

STATUS_NOT_COMPUTED, STATUS_OK, STATUS_DIVERGED = 0, 1, 2
ENTITY_DIMS = ("neuron", "pair")
NOT_COMPUTED_COLOR = "#d9d9d9"
DIVERGED_COLOR = "#6e6e6e"


def sweep_dims(ds: xr.Dataset) -> list[str]:
    """The dataset's sweep dims, in order: every dim but ``neuron``, ``pair`` and trace dims."""
    dims = ds["status"].dims if "status" in ds else tuple(ds.sizes)
    return [d for d in dims if d not in ENTITY_DIMS]


def axis_label(ds: xr.Dataset, name: str) -> str:
    """'name: long name (units)' of a sweep coordinate, 'long name (units)' of a variable, from the attrs."""
    attrs = ds[name].attrs if name in ds.variables else {}
    label = str(attrs.get("long_name") or name)
    if name in ds.dims and not label.startswith(name):
        label = f"{name}: {label}"
    units = attrs.get("units")
    return f"{label} ({units})" if units not in (None, "", "1") else str(label)


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
    dims = sweep_dims(ds)
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


def _edges(c: np.ndarray) -> np.ndarray:
    """Cell edges around coordinate centres (works for uneven grids and single values)."""
    c = np.asarray(c, dtype=np.float64)
    if c.size == 1:
        half = 0.5 * abs(c[0]) if c[0] != 0 else 0.5
        return np.array([c[0] - half, c[0] + half])
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])


def _new_figure(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | PathLike[str], dpi: int) -> Path:
    path = Path(path)
    if path.parent != Path(""):
        path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png")
    return path


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

    fig = _new_figure((7.0, 5.0))
    ax = fig.add_subplot()
    xe, ye = _edges(ds[x].values), _edges(ds[y].values)
    is_r = var == "pearson"
    cmap = "RdBu_r" if is_r else "viridis"
    vlim = {"vmin": -1.0, "vmax": 1.0} if is_r else {}
    mesh = ax.pcolormesh(xe, ye, shown, cmap=cmap, shading="flat", **vlim)
    # Status layer: 0 -> not computed, 1 -> diverged, masked where the point is ok.
    layer = np.ma.masked_where(ok, np.where(status == STATUS_DIVERGED, 1, 0))
    ax.pcolormesh(xe, ye, layer, cmap=ListedColormap([NOT_COMPUTED_COLOR, DIVERGED_COLOR]), vmin=0, vmax=1,
                  shading="flat")
    undefined = np.ma.masked_where(~(ok & ~np.isfinite(values)), np.ones_like(values))
    handles = []
    if undefined.count():
        ax.pcolor(xe, ye, undefined, hatch="///", facecolor="none", edgecolor="#9a9a9a", linewidth=0.0)
        handles.append(Patch(facecolor="white", edgecolor="#9a9a9a", hatch="///", label="undefined (NaN)"))
    if (status == STATUS_DIVERGED).any():
        handles.append(Patch(color=DIVERGED_COLOR, label="diverged"))
    if (status == STATUS_NOT_COMPUTED).any():
        handles.append(Patch(color=NOT_COMPUTED_COLOR, label="not computed"))
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.12), ncols=len(handles),
                  frameon=False, fontsize="small")

    ax.set_xlabel(axis_label(ds, x))
    ax.set_ylabel(axis_label(ds, y))
    cbar = fig.colorbar(mesh, ax=ax)
    cbar.set_label(axis_label(ds, var) if not is_r else "Pearson r of V_a, V_b")
    if title is None:
        what = "Synchronisation (Pearson r)" if is_r else str(ds[var].attrs.get("long_name", var))
        name = ds.attrs.get("title") or ds.attrs.get("name")
        title = f"{what}{', ' + entity if entity else ''}" + (f"\n{name}" if name else "")
    ax.set_title(title)
    return _save(fig, path, dpi)


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
    dims = sweep_dims(ds)
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

    fig = _new_figure((7.0, 4.5))
    ax = fig.add_subplot()
    xs = ds[x].values
    cmap = ListedColormap(["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d"])
    diverged_any = False
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
    ax.set_xlabel(axis_label(ds, x))
    ax.set_ylabel("Pearson r of V_a, V_b" if var == "pearson" else axis_label(ds, var))
    if var == "pearson":
        ax.set_ylim(-1.05, 1.05)
    ax.grid(True, alpha=0.3)
    if hue is not None:
        ax.legend(fontsize="small", title=axis_label(ds, hue), title_fontsize="small")
    if diverged_any:
        ax.annotate("x: diverged", xy=(0.99, 0.06), xycoords="axes fraction", ha="right", va="bottom",
                    fontsize="small")
    if title is None:
        what = "Synchronisation vs coupling" if var == "pearson" else str(ds[var].attrs.get("long_name", var))
        name = ds.attrs.get("title") or ds.attrs.get("name")
        title = f"{what}{', ' + entity if entity else ''}" + (f"\n{name}" if name else "")
    ax.set_title(title)
    return _save(fig, path, dpi)
