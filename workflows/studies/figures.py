"""What the workflows' figures share: figures on an Agg canvas, PNG + PDF output, CSV tables, and reading
stored results (parameter values per point, the traces of a point).

Everything reads the stored dataset and its stored spec (``synsweep.workflows.replay.stored_spec``), never
the spec a run was started with, so a redraw shows exactly what the store holds.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from synsweep.workflows import plots
from synsweep.workflows.selection import point_label, sweep_dims

if TYPE_CHECKING:
    from synsweep.sweeps.model import SweepSpec

    from .base import WorkflowRun

DPI = 150
MAX_TRACE_FIGURES = 12  # trace figures drawn per workflow run (one per traced point)


def new_figure(nrows: int, ncols: int, size: tuple[float, float], **subplots: Any) -> tuple[Figure, np.ndarray]:
    """A figure with constrained layout on its own Agg canvas, and its axes as a 2-D array."""
    fig = plots.new_figure(size)
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplots)
    return fig, axes


def save(fig: Figure, run: WorkflowRun, stem: str) -> list[Path]:
    """Write ``fig`` as ``<out>/<stem>.png`` and ``.pdf``; returns both paths."""
    paths = [run.path(stem, ".png"), run.path(stem, ".pdf")]
    fig.savefig(paths[0], dpi=DPI, format="png")
    fig.savefig(paths[1], format="pdf")
    return paths


def write_csv(run: WorkflowRun, stem: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    """Write a table as ``<out>/<stem>.csv`` (floats in full precision, NaN as ``NaN``)."""
    path = run.path(stem, ".csv")
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in rows:
            writer.writerow([repr(float(v)) if isinstance(v, float | np.floating) else v for v in row])
    return path


def short_label(ds: xr.Dataset, name: str) -> str:
    """'name (units)' of a coordinate or variable of ``ds`` (units from its attrs)."""
    units = ds[name].attrs.get("units") if name in ds.variables else None
    return f"{name} ({units})" if units not in (None, "", "1") else name


def stored(ds: xr.Dataset) -> SweepSpec:
    """The spec the dataset was written from."""
    from synsweep.workflows.replay import stored_spec

    return stored_spec(ds)


def parameter(ds: xr.Dataset, spec: SweepSpec, path: str) -> xr.DataArray:
    """The value of ``path`` (e.g. ``synapses.gap.params.g1``) at every sweep point: the swept value
    (axis value x factor) where an axis writes it, else the circuit's value."""
    for dim in spec.dims:
        for axis in dim.axes:
            if path in axis.targets:
                return xr.DataArray(axis.values * axis.targets[path], dims=(dim.name,))
    return xr.DataArray(float(spec.circuit.paths()[path]))


def parameter_at(ds: xr.Dataset, spec: SweepSpec, path: str, index: dict[str, int]) -> float:
    """The value of ``path`` at the point ``index`` (``dim -> index``)."""
    da = parameter(ds, spec, path)
    return float(da.isel({d: k for d, k in index.items() if d in da.dims}).values)


def points(ds: xr.Dataset) -> Iterator[dict[str, int]]:
    """Every sweep point as ``dim -> index``, in C order."""
    dims = sweep_dims(ds)
    for index in product(*(range(ds.sizes[d]) for d in dims)):
        yield dict(zip(dims, index, strict=True))


def traced_points(ds: xr.Dataset) -> list[dict[str, int]]:
    """The points whose traces the dataset holds (all points, or the listed ones in record order)."""
    if "traced_point" not in ds.sizes:
        return list(points(ds)) if any(str(v).startswith(("trace_", "synapse_trace_")) for v in ds.data_vars) else []
    dims = sweep_dims(ds)
    out = []
    for k in range(ds.sizes["traced_point"]):
        out.append({d: int(np.flatnonzero(np.asarray(ds[d].values) == ds[f"traced_{d}"].values[k])[0])
                    for d in dims})
    return out


def trace(ds: xr.Dataset, var: str, index: dict[str, int]) -> xr.DataArray:
    """The stored traces ``var`` (``trace_v``, ``synapse_trace_g``, ...) of the point ``index``, loaded:
    dims (neuron or synapse, time). KeyError when the point has no traces."""
    da = ds[var]
    if "traced_point" in da.dims:
        match = [k for k, p in enumerate(traced_points(ds)) if p == index]
        if not match:
            raise KeyError(f"no traces of {var} at {point_label(ds, index)}")
        return da.isel(traced_point=match[0]).load()
    return da.isel(index).load()


def title_of(ds: xr.Dataset, index: dict[str, int]) -> str:
    """The point's coordinates as text, '' for a sweep of one point."""
    return point_label(ds, {d: k for d, k in index.items() if ds.sizes[d] > 1})


def limited(items: list, limit: int = MAX_TRACE_FIGURES) -> list:
    """The first ``limit`` items (trace figures are per point: a sweep of many traced points draws the first)."""
    return items[:limit]


def figure_stems(ds: xr.Dataset, stem: str) -> list[tuple[dict[str, int], str]]:
    """(traced point, file stem) of one figure per traced point: ``stem`` for a single point, else
    ``stem_0``, ``stem_1``, ... (the first ``MAX_TRACE_FIGURES`` points)."""
    picks = limited(traced_points(ds))
    if len(picks) == 1:
        return [(picks[0], stem)]
    return [(index, f"{stem}_{k}") for k, index in enumerate(picks)]


def first_pair(da: xr.DataArray) -> xr.DataArray:
    """``da`` at its first pair (the pair metrics of a two-neuron circuit have one)."""
    return da.isel(pair=0) if "pair" in da.dims else da


def fixed_others(ds: xr.Dataset, keep: int) -> tuple[xr.Dataset, str, str | None, str]:
    """``ds`` with every sweep dim after the first ``keep`` fixed at its first value: (dataset, first dim,
    second dim or None, a note ' (dim = value)' naming what was fixed)."""
    dims = list(sweep_dims(ds))
    if not dims:
        raise ValueError("the dataset has no sweep dims to draw over")
    fixed = {d: 0 for d in dims[keep:]}
    note = f" ({point_label(ds, fixed)})" if fixed else ""
    ds = ds.isel(fixed)
    return ds, dims[0], (dims[1] if keep > 1 and len(dims) > 1 else None), note


def hue_values(ds: xr.Dataset, dim: str | None, most: int = 5) -> list[tuple[int, str]]:
    """Up to ``most`` evenly spread indices along ``dim`` with their labels ('I_ext = 0.1 uA'), for one
    line each; ``[(0, "")]`` without a dim."""
    if dim is None:
        return [(0, "")]
    n = ds.sizes[dim]
    picks = sorted({int(round(v)) for v in np.linspace(0, n - 1, min(n, most))})
    return [(k, point_label(ds, {dim: k})) for k in picks]
