"""Choosing what to look at in a stored result: names and values to indices, and a variable cut to 1-D or 2-D.

    sel = parse_assignments(["I_ext=0.1", "neuron=n1"], "--sel")
    data = plot_data(ds, "rate_count", x="g", sel=sel)              # a line over g
    data = plot_data(ds, "pearson", x="g", y="I_ext")               # a heatmap over (g, I_ext)
    data = plot_data(ds, "pearson", x="g", reduce="mean")           # mean over every other dim

Names: a dim of the dataset (a sweep dim, ``neuron``, ``pair``, ``time``), or the name of a numeric coordinate
along one dim (an axis of a zip group, e.g. ``I2`` along the zip dim ``drive``). Values: numeric coordinates
take the nearest grid value (a value outside the grid by more than half a grid step is refused); string
coordinates (``neuron``, ``pair``) take a label exactly. Every refusal is an ``AnalysisError`` that names the
axis and lists its valid values.

Laziness: ``plot_data`` only indexes, masks and reduces the dask-backed variable; the one ``compute`` loads
the 1-D or 2-D result (and the status counts behind it), so a dataset larger than memory is fine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import xarray as xr

from synsweep.engine.metrics import STATUS_OK

REDUCTIONS = ("mean", "max", "min", "median", "basin")
WILSON_Z = 1.959963984540054  # the 97.5% quantile of the standard normal: 95% intervals
UNMASKED = ("status", "diverged_step")  # variables that describe the status themselves
MAX_LISTED = 12


class AnalysisError(ValueError):
    """A request about a stored result that cannot be met (unknown variable, axis or value). The command
    line reports it as a user error (exit 2)."""


# -- names and values ---------------------------------------------------------------------------------------
def parse_assignments(items: Iterable[str], option: str) -> dict[str, str]:
    """``["a=1", "b=x,c=2"]`` -> ``{"a": "1", "b": "x", "c": "2"}`` (commas separate assignments too).

    Raises AnalysisError naming ``option`` for an item without ``=``, an empty name or value, or a name
    given twice.
    """
    out: dict[str, str] = {}
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            name, eq, value = part.partition("=")
            name, value = name.strip(), value.strip()
            if not eq or not name or not value:
                raise AnalysisError(f"{option} {part!r} is not of the form axis=value; write e.g. "
                                    f"{option} I_ext=0.1")
            if name in out:
                raise AnalysisError(f"{option} gives {name!r} twice ({out[name]!r} and {value!r}); give it once")
            out[name] = value
    return out


def sweep_dims(ds: xr.Dataset) -> tuple[str, ...]:
    """The sweep dims of a result (the dims of ``status``), in order."""
    if "status" in ds:
        return tuple(ds["status"].dims)
    return tuple(d for d in ds.sizes if d not in ("neuron", "pair", "time", "traced_point"))


def axis_names(ds: xr.Dataset) -> dict[str, str]:
    """Every name that can be plotted or selected -> the dim it indexes: the dims, then numeric 1-D
    coordinates along a sweep dim that are not dims themselves (the axes of zip groups)."""
    names = {d: d for d in ds.sizes}
    sweep = set(sweep_dims(ds))
    for name, coord in ds.coords.items():
        if name not in names and coord.ndim == 1 and coord.dims[0] in sweep and coord.dtype.kind in "iuf":
            names[str(name)] = coord.dims[0]
    return names


def _coord_values(ds: xr.Dataset, name: str, dim: str) -> np.ndarray:
    if name in ds.coords:
        return np.asarray(ds[name].values)
    return np.arange(ds.sizes[dim])


def _num(x: object) -> str:
    return f"{x:.6g}" if isinstance(x, float | np.floating) else str(x)


def describe_values(values: np.ndarray, units: str = "") -> str:
    """A short list of valid values: all of them when few, else the first and last few and the count."""
    shown = [_num(v) for v in values.tolist()]
    if len(shown) > MAX_LISTED:
        shown = shown[:5] + ["..."] + shown[-5:] + [f"({len(values)} values)"]
    text = ", ".join(shown) if shown else "none"
    return f"{text} {units}".rstrip() if units not in ("", "1") else text


def _unknown_axis(ds: xr.Dataset, name: str, role: str) -> AnalysisError:
    known = ", ".join(axis_names(ds))
    return AnalysisError(f"{role} {name!r} is not an axis of this result; its axes are: {known}")


def resolve_dim(ds: xr.Dataset, name: str, role: str) -> str:
    """The dim that the axis ``name`` indexes (``role`` names the option in errors, e.g. '--x')."""
    names = axis_names(ds)
    if name not in names:
        raise _unknown_axis(ds, name, role)
    return names[name]


def index_of(ds: xr.Dataset, name: str, value: str | float, role: str = "--sel") -> tuple[str, int]:
    """``(dim, index)`` of ``name=value``: the nearest grid value of a numeric axis, or an exact label."""
    dim = resolve_dim(ds, name, role)
    values = _coord_values(ds, name, dim)
    units = str(ds[name].attrs.get("units", "")) if name in ds.variables else ""
    valid = f"valid values of {name!r}: {describe_values(values, units)}"
    if values.dtype.kind not in "iuf":
        labels = [str(v) for v in values.tolist()]
        if str(value) in labels:
            return dim, labels.index(str(value))
        raise AnalysisError(f"{role} {name}={value}: no {name} is labelled {str(value)!r}; {valid}")
    try:
        want = float(value)
    except (TypeError, ValueError):
        raise AnalysisError(f"{role} {name}={value}: {name} takes a number; {valid}") from None
    if not np.isfinite(want) or values.size == 0:
        raise AnalysisError(f"{role} {name}={value}: give a finite number; {valid}")
    v = values.astype(np.float64)
    distance = np.abs(v - want)
    k = int(np.argmin(distance))
    steps = np.diff(np.sort(v))
    steps = steps[steps > 0]
    half = 0.5 * float(steps.max()) if steps.size else 0.0
    slack = max(half, 1e-9 * max(abs(want), float(np.abs(v).max())), 1e-12)
    if want < v.min() - slack or want > v.max() + slack:
        raise AnalysisError(f"{role} {name}={value} is outside the grid of {name!r}; {valid}")
    return dim, k


def select_indices(ds: xr.Dataset, sel: Mapping[str, str | float], role: str = "--sel") -> dict[str, int]:
    """``dim -> index`` for the assignments ``sel``; two names of one dim must pick the same index."""
    out: dict[str, int] = {}
    by: dict[str, str] = {}
    for name, value in sel.items():
        dim, k = index_of(ds, name, value, role)
        if dim in out and out[dim] != k:
            raise AnalysisError(f"{role} {by[dim]} and {name} both choose along {dim!r} but pick different "
                                f"points ({by[dim]} at index {out[dim]}, {name} at index {k}); give one of them")
        out[dim], by[dim] = k, name
    return out


def point_label(ds: xr.Dataset, index: Mapping[str, int]) -> str:
    """'g = 0.004 mS, I_ext = 0.1167 uA' for a ``dim -> index`` mapping (zip dims list their axes)."""
    parts: list[str] = []
    for dim, k in index.items():
        names = [n for n, d in axis_names(ds).items() if d == dim and n != dim] or [dim]
        for name in names:
            value = _coord_values(ds, name, dim)[k]
            units = str(ds[name].attrs.get("units", "")) if name in ds.variables else ""
            parts.append(f"{name} = {_num(value.item() if hasattr(value, 'item') else value)}"
                         + (f" {units}" if units not in ("", "1") else ""))
    return ", ".join(parts)


# -- cutting a variable to what a figure shows ------------------------------------------------------------
@dataclass
class PlotData:
    """A variable cut to a line or heatmap, loaded (numpy-backed).

    values: dims ``(y, x)`` for a heatmap, ``(hue, x)`` for lines (one per label of ``hue``), ``(x,)`` for one
        line; float64, NaN where no ok point gives a value. Sorted by the x (and y) coordinate.
    status: per cell when nothing was reduced (same dims as ``values``), else None.
    n_ok: when dims were reduced, the number of ok points behind each cell, else None.
    x_coord / y_coord: the coordinate names on the axes (a zip axis or the dim itself).
    """

    var: str
    values: xr.DataArray
    x: str
    x_coord: str
    y: str | None = None
    y_coord: str | None = None
    hue: str | None = None
    status: np.ndarray | None = None
    n_ok: np.ndarray | None = None
    selected: str = ""  # 'I_ext = 0.1 uA, neuron = n1'
    reduced: tuple[str, ...] = ()
    reduce: str | None = None
    above: float | None = None  # basin: the state is var >= above
    ci: tuple[np.ndarray, np.ndarray] | None = None  # basin: the 95% Wilson interval of each fraction


def wilson_interval(k: np.ndarray, n: np.ndarray, z: float = WILSON_Z) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion k/n (Wilson 1927; Brown, Cai & DasGupta 2001):

        (p + z^2/2n -/+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n),   p = k/n;   NaN where n = 0.
    """
    k, n = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _reduce(da: xr.DataArray, dims: list[str], how: str) -> xr.DataArray:
    if not dims:
        return da
    if how == "median" and da.chunks is not None:
        # dask's median needs each reduced dim in one chunk: whole along those, bounded blocks elsewhere
        da = da.chunk({**{d: -1 for d in dims}, **{d: "auto" for d in da.dims if d not in dims}})
    return getattr(da, how)(dim=dims, skipna=True)


def plot_data(ds: xr.Dataset, var: str, *, x: str | None = None, y: str | None = None,
              sel: Mapping[str, str | float] | None = None, reduce: str | None = None,
              above: float | None = None) -> PlotData:
    """Cut ``ds[var]`` to a line over ``x`` or a heatmap over ``(x, y)``, lazily, and load only the result.

    Defaults: ``x`` the first sweep dim of ``var``; ``y`` the next sweep dim of ``var`` when neither axis is
    given (so a result of two or more sweep dims gives a heatmap), none otherwise. Every other dim of ``var``
    is selected (``sel``: name -> value, see the module docstring), dropped when of size 1, or reduced with
    ``reduce`` (mean, max, min or median over the ok points, NaN ignored). Without ``reduce``, one unplotted
    ``neuron`` or ``pair`` dim of a line becomes one line per label; any other dim left over is an
    AnalysisError that says how to choose it. Values at points whose ``status`` is not ok (not computed or
    diverged) are NaN (``status`` and ``diverged_step`` themselves are shown as stored).
    """
    if var not in ds.data_vars:
        raise AnalysisError(f"the result has no variable {var!r}; its variables are: {', '.join(ds.data_vars)}")
    if reduce is not None and reduce not in REDUCTIONS:
        raise AnalysisError(f"--reduce {reduce!r} is not a reduction; give one of {', '.join(REDUCTIONS)}")
    if (reduce == "basin") != (above is not None):
        raise AnalysisError("--reduce basin needs --above VALUE (the state counted is VAR >= VALUE), and --above "
                            "goes only with --reduce basin; e.g. --reduce basin --above 0.9")
    da = ds[var]
    sweep = [d for d in sweep_dims(ds) if d in da.dims]

    def axis(name: str, role: str) -> tuple[str, str]:
        dim = resolve_dim(ds, name, role)
        if dim not in da.dims:
            raise AnalysisError(f"{role} {name!r}: {var!r} does not vary along {dim!r}; its dims are "
                                f"{', '.join(da.dims)}")
        return dim, name

    defaults = x is None and y is None
    if x is None:
        taken = resolve_dim(ds, y, "--y") if y is not None else None
        candidates = [d for d in (sweep or list(da.dims)) if d != taken]
        if not candidates:
            raise AnalysisError(f"{var!r} has no dim to plot along (dims: {', '.join(da.dims) or 'none'})")
        x = candidates[0]
    x_dim, x_coord = axis(x, "--x")
    y_dim = y_coord = None
    if defaults:
        y = next((d for d in sweep if d != x_dim), None)
    if y is not None:
        y_dim, y_coord = axis(y, "--y")
        if y_dim == x_dim:
            raise AnalysisError(f"--x {x!r} and --y {y!r} are along the same dim {x_dim!r}; choose two dims")

    chosen = select_indices(ds, sel or {})
    for dim in (x_dim, y_dim):
        if dim is not None and dim in chosen:
            raise AnalysisError(f"{dim!r} is plotted on an axis and also selected with --sel; drop one of them")
    for name in sel or {}:
        dim = resolve_dim(ds, name, "--sel")
        if dim not in da.dims:
            raise AnalysisError(f"--sel {name}: {var!r} does not vary along {dim!r} (its dims are "
                                f"{', '.join(da.dims)}); leave it out")
    plotted = [d for d in (x_dim, y_dim) if d is not None]
    rest = [d for d in da.dims if d not in plotted and d not in chosen]
    hue = None
    if reduce is None:
        for d in [d for d in rest if da.sizes[d] == 1]:
            chosen[d] = 0
        rest = [d for d in rest if d not in chosen]
        if y_dim is None and len(rest) == 1 and rest[0] in ("neuron", "pair"):
            hue = rest.pop()
        if rest:
            d = rest[0]
            raise AnalysisError(
                f"{var!r} also varies along {d!r} ({da.sizes[d]} values: "
                f"{describe_values(_coord_values(ds, d, d), str(ds[d].attrs.get('units', '')) if d in ds else '')}"
                f"); choose one with --sel {d}=VALUE, or reduce over it with --reduce mean|max|min|median")

    mask = var not in UNMASKED and "status" in ds and set(ds["status"].dims) <= set(da.dims)
    status = ds["status"].isel({d: k for d, k in chosen.items() if d in ds["status"].dims}) if mask else None
    da = da.isel(chosen)
    values = da.astype(np.float64)
    if above is not None:  # the state indicator, NaN where the point gives no value
        values = (values >= above).astype(np.float64).where(values.notnull())
    if status is not None:
        values = values.where(status == STATUS_OK)
    n_valid = values.notnull().sum(dim=rest) if above is not None else None
    values = _reduce(values, rest, "mean" if reduce in (None, "basin") else reduce)
    n_ok = None
    cell_status = None
    if status is not None:
        sweep_rest = [d for d in rest if d in status.dims]
        if rest:
            n_ok = (status == STATUS_OK).sum(dim=sweep_rest) if sweep_rest else (status == STATUS_OK).astype(int)
        else:
            cell_status = status
    keep = [d for d in (y_dim, hue, x_dim) if d is not None]
    values = values.transpose(*keep)
    loaded = xr.Dataset({"values": values, **({"n_ok": n_ok} if n_ok is not None else {}),
                         **({"n_valid": n_valid} if n_valid is not None else {}),
                         **({"status": cell_status} if cell_status is not None else {})})
    loaded = loaded.compute()
    for dim, coord in ((x_dim, x_coord), (y_dim, y_coord)):
        if dim is not None and coord in loaded.coords and loaded[coord].dtype.kind in "iuf":
            loaded = loaded.sortby(coord)
    out_values = loaded["values"]
    data = PlotData(var=var, values=out_values, x=x_dim, x_coord=x_coord, y=y_dim, y_coord=y_coord, hue=hue,
                    selected=point_label(ds, chosen), reduced=tuple(rest), reduce=reduce if rest else None)
    if "status" in loaded:
        data.status = np.asarray(loaded["status"].broadcast_like(out_values).transpose(*keep).values)
    if "n_ok" in loaded:
        data.n_ok = np.asarray(loaded["n_ok"].broadcast_like(out_values).transpose(*keep).values)
    if "n_valid" in loaded:
        n = np.asarray(loaded["n_valid"].broadcast_like(out_values).transpose(*keep).values)
        data.above = above
        data.ci = wilson_interval(np.round(np.asarray(out_values.values) * n), n)
    return data
