"""A self-contained HTML report of a stored result: provenance, spec, summaries, completion, figures.

    html = build_report(ds, path)           # one page, figures embedded as base64 PNG, no external assets
    write_report(ds, path, "report.html")

Sections: the dims; the provenance attributes; the spec (YAML, from the store's ``spec`` attribute); one row
per variable and neuron or pair with units, min / median / max over the ok points, and the number of points
that are undefined (NaN at an ok point), diverged and not computed; the completion state of the chunks (from
the store's completion markers) with the blocks still missing; and the standard figures: every synchrony
variable (float variables along ``pair``, and float variables along the sweep dims alone) and the firing
rates, as a heatmap over the first two sweep dims (other sweep dims at their middle value) or a line over the
only one.

Everything is computed lazily, one dask graph per pass: min, max and counts stream over the chunks; the
median is exact for up to ``EXACT_MEDIAN_VALUES`` values per row and otherwise read from a streamed histogram
of ``HISTOGRAM_BINS`` bins between min and max (marked "≈"; a median to within one bin width: at most half the
values lie below it minus a bin width, and at most half above it plus a bin width).
"""

from __future__ import annotations

import base64
import json
import tempfile
import warnings
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import xarray as xr
import yaml

from synsweep.engine.metrics import STATUS_DIVERGED, STATUS_NOT_COMPUTED, STATUS_OK

from .selection import sweep_dims

EXACT_MEDIAN_VALUES = 1 << 22
HISTOGRAM_BINS = 4096
MAX_ENTITY_FIGURES = 4
MAX_MISSING_LISTED = 20
RATE_VARIABLES = ("rate_count", "rate_isi")
STATUS_VARIABLES = ("status", "diverged_step")


# -- summaries ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Summary:
    """Statistics of one variable (and one neuron or pair) over the ok points."""

    var: str
    entity: str
    units: str
    long_name: str
    points: int
    minimum: float
    median: float
    maximum: float
    median_exact: bool
    undefined: int  # NaN at an ok point
    diverged: int
    not_computed: int


def _entities(ds: xr.Dataset, var: str) -> tuple[str | None, list[str]]:
    extra = [d for d in ds[var].dims if d not in sweep_dims(ds)]
    if len(extra) != 1:
        return None, [""]
    return extra[0], [str(v) for v in ds[extra[0]].values.tolist()]


def summaries(ds: xr.Dataset) -> list[Summary]:
    """One ``Summary`` per numeric variable along the sweep dims (per label of its neuron or pair dim)."""
    sweep = sweep_dims(ds)
    status = ds["status"] if "status" in ds else None
    rows: list[tuple[str, str, xr.DataArray]] = []
    for name, var in ds.data_vars.items():
        if var.dtype.kind not in "iuf" or tuple(var.dims[: len(sweep)]) != tuple(sweep) or len(var.dims) > \
                len(sweep) + 1:
            continue
        dim, labels = _entities(ds, str(name))
        if dim is None and len(var.dims) > len(sweep):
            continue
        for k, label in enumerate(labels):
            cut = var.isel({dim: k}) if dim is not None else var
            if status is not None and name not in STATUS_VARIABLES:
                cut = cut.astype(np.float64).where(status == STATUS_OK)
            rows.append((str(name), label, cut.astype(np.float64)))
    lazy: dict[str, object] = {}
    if status is not None:
        for key, code in (("ok", STATUS_OK), ("diverged", STATUS_DIVERGED), ("nc", STATUS_NOT_COMPUTED)):
            lazy[key] = (status == code).sum().data
    for i, (name, _, cut) in enumerate(rows):
        data = cut.data if isinstance(cut.data, da.Array) else da.from_array(np.asarray(cut.data))
        finite = da.isfinite(data)
        lazy[f"min{i}"] = da.nanmin(da.where(finite, data, np.nan))
        lazy[f"max{i}"] = da.nanmax(da.where(finite, data, np.nan))
        lazy[f"nan{i}"] = (~finite).sum()
        if status is not None and name not in STATUS_VARIABLES:
            lazy[f"nan{i}"] = ((~finite) & (status == STATUS_OK).data).sum()
        if data.size <= EXACT_MEDIAN_VALUES:
            lazy[f"med{i}"] = da.nanmedian(da.where(finite, data, np.nan).ravel().rechunk(-1), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: NaN is the right answer
        (got,) = dask.compute(lazy)
    n_ok = int(got.get("ok", 0))
    approx = {i for i in range(len(rows)) if f"med{i}" not in got}
    medians = _histogram_medians({i: rows[i][2] for i in approx}, got) if approx else {}
    out = []
    for i, (name, label, _) in enumerate(rows):
        attrs = ds[name].attrs
        out.append(Summary(
            var=name, entity=label, units=str(attrs.get("units", "")), long_name=str(attrs.get("long_name", "")),
            points=n_ok if status is not None else int(np.prod([ds.sizes[d] for d in sweep])),
            minimum=float(got[f"min{i}"]), median=float(got.get(f"med{i}", medians.get(i, np.nan))),
            maximum=float(got[f"max{i}"]), median_exact=i not in approx, undefined=int(got[f"nan{i}"]),
            diverged=int(got.get("diverged", 0)), not_computed=int(got.get("nc", 0))))
    return out


def _histogram_medians(cuts: dict[int, xr.DataArray], got: dict) -> dict[int, float]:
    """Medians from streamed histograms between each variable's min and max (one dask pass for all)."""
    lazy = {}
    for i, cut in cuts.items():
        lo, hi = float(got[f"min{i}"]), float(got[f"max{i}"])
        if not np.isfinite(lo) or lo == hi:
            continue
        lazy[i] = da.histogram(cut.data.ravel(), bins=HISTOGRAM_BINS, range=(lo, hi))[0]
    (hists,) = dask.compute(lazy)
    out: dict[int, float] = {}
    for i in cuts:
        lo, hi = float(got[f"min{i}"]), float(got[f"max{i}"])
        if i not in hists:
            out[i] = lo
            continue
        counts = np.asarray(hists[i], dtype=np.float64)
        cum = np.cumsum(counts)
        half = 0.5 * cum[-1]
        k = int(np.searchsorted(cum, half))
        below = cum[k - 1] if k else 0.0
        width = (hi - lo) / HISTOGRAM_BINS
        out[i] = lo + width * (k + (half - below) / max(counts[k], 1.0))
    return out


# -- completion ---------------------------------------------------------------------------------------------
def completion(path: str | PathLike[str], ds: xr.Dataset) -> dict:
    """Chunks done and missing, from the store's bookkeeping: n_chunks, done, missing (ids), chunk_shape,
    traces ('done', 'missing' or None when the store has no traced points), and a coordinate range per
    listed missing chunk."""
    from synsweep.sweeps.chunks import ChunkPlan
    from synsweep.sweeps.store import META_GROUP, TRACES_ID, done_chunks, store_attrs

    meta = store_attrs(path, META_GROUP)
    sweep = sweep_dims(ds)
    shape = tuple(ds.sizes[d] for d in sweep)
    chunk_shape = tuple(int(c) for c in meta.get("chunk_shape", shape))
    plan = ChunkPlan(shape, chunk_shape)
    done = done_chunks(path)
    missing = [i for i in range(plan.n_chunks) if i not in done]
    where = {}
    for i in missing[:MAX_MISSING_LISTED]:
        block = plan.block(i)
        parts = []
        for dim, s in zip(sweep, block, strict=True):
            values = ds[dim].values
            parts.append(f"{dim} {values[s.start]:.6g} .. {values[s.stop - 1]:.6g}")
        where[i] = ", ".join(parts)
    traces = None
    if "traced_point" in ds.sizes:
        traces = "done" if TRACES_ID in done else "missing"
    return {"n_chunks": plan.n_chunks, "done": plan.n_chunks - len(missing), "missing": missing,
            "chunk_shape": chunk_shape, "traces": traces, "where": where}


# -- figures ------------------------------------------------------------------------------------------------
def standard_figures(ds: xr.Dataset) -> list[tuple[str, dict]]:
    """``(caption, plot_variable keyword arguments)`` of the standard figures of ``ds``."""
    sweep = sweep_dims(ds)
    if not sweep:
        return []
    sync = [str(n) for n, v in ds.data_vars.items() if v.dtype.kind == "f" and str(n) not in STATUS_VARIABLES
            and (set(v.dims) == set(sweep) | {"pair"} or set(v.dims) == set(sweep))
            and str(n) not in RATE_VARIABLES]
    rates = [v for v in RATE_VARIABLES if v in ds]
    random = [d for d in sweep if _is_random(ds, d)]
    drawn = [d for d in sweep if d not in random]
    drawn = (drawn + random)[:2] if len(drawn) < 2 else drawn[:2]  # axes: the deterministic ones first
    averaged = [d for d in random if d not in drawn]  # random draws and trials: a mean over them, not one draw
    rest = [d for d in sweep if d not in drawn and d not in averaged]
    fixed = {d: str(float(ds[d].values[ds.sizes[d] // 2])) for d in rest if d in ds.coords}
    fixed |= {d: str(ds.sizes[d] // 2) for d in rest if d not in ds.coords}
    reduce = {"reduce": "mean"} if averaged else {}
    figures: list[tuple[str, dict]] = []
    for var in sync + rates:
        dim, labels = _entities(ds, var)
        mean_note = f"; mean over {', '.join(averaged)}" if averaged else ""
        if len(drawn) == 1:
            figures.append((f"{var} over {drawn[0]}{mean_note}", {"var": var, "x": drawn[0], **reduce}))
            continue
        for label in labels[:MAX_ENTITY_FIGURES]:
            sel = dict(fixed)
            if dim is not None:
                sel[dim] = label
            what = f"{var}" + (f" of {label}" if label else "")
            note = "; " + ", ".join(f"{k} = {v}" for k, v in fixed.items()) if fixed else ""
            figures.append((f"{what} over ({drawn[0]}, {drawn[1]}){note}{mean_note}",
                            {"var": var, "x": drawn[0], "y": drawn[1], "sel": sel, **reduce}))
    return figures + basin_figures(ds, sweep)


BASIN_SYNC = 0.9  # the report's basin estimate counts the points with pearson >= 0.9


def basin_figures(ds: xr.Dataset, sweep: list[str]) -> list[tuple[str, dict]]:
    """A basin estimate per pair when the sweep has random axes (e.g. initial conditions): over the first
    other dim, the fraction of the random points with pearson >= BASIN_SYNC and its 95% Wilson interval; the
    remaining dims are fixed at their middle value (``direction`` at its first)."""
    random_dims = [d for d in sweep if _is_random(ds, d)]
    others = [d for d in sweep if d not in random_dims]
    if "pearson" not in ds or not random_dims or not others:
        return []
    x = next((d for d in others if d != "direction"), others[0])
    sel = {d: str(float(ds[d].values[0 if d == "direction" else ds.sizes[d] // 2])) if d in ds.coords
           else str(ds.sizes[d] // 2) for d in others if d != x}
    n = int(np.prod([ds.sizes[d] for d in random_dims]))
    out = []
    for label in _entities(ds, "pearson")[1][:MAX_ENTITY_FIGURES]:
        note = "; " + ", ".join(f"{k} = {v}" for k, v in sel.items()) if sel else ""
        out.append((f"basin estimate: fraction of the {n} points of {', '.join(random_dims)} with pearson of "
                    f"{label} >= {BASIN_SYNC} over {x}, 95% Wilson interval{note}",
                    {"var": "pearson", "x": x, "sel": {**sel, "pair": label}, "reduce": "basin",
                     "above": BASIN_SYNC}))
    return out


def _is_random(ds: xr.Dataset, dim: str) -> bool:
    """Whether the sweep dim ``dim`` holds random draws (an axis of kind random, or a zip group with one)."""
    return any(c.attrs.get("sweep_kind") == "random" for c in ds.coords.values() if c.dims == (dim,))


def _figure_png(ds: xr.Dataset, kwargs: dict, tmp: Path, k: int) -> str:
    from .plots import plot_variable

    path = plot_variable(ds, path=tmp / f"fig{k}.png", dpi=90, **kwargs)
    return base64.b64encode(path.read_bytes()).decode("ascii")


# -- the page -----------------------------------------------------------------------------------------------



def _num(x: float) -> str:
    return "NaN" if not np.isfinite(x) else f"{x:.6g}"


def _spec_yaml(ds: xr.Dataset) -> str:
    text = ds.attrs.get("spec")
    if not isinstance(text, str):
        return "(no spec stored)"
    try:
        return yaml.safe_dump(json.loads(text), sort_keys=False, default_flow_style=None, width=100)
    except ValueError:
        return text


def build_report(ds: xr.Dataset, path: str | PathLike[str]) -> str:
    """The HTML page of the result ``ds`` stored at ``path`` (see the module docstring): the Jinja2 template
    ``templates/report.html.j2`` (autoescaped) filled with the tables and the figures as inline PNG."""
    import jinja2

    from synsweep.sweeps.location import location
    from synsweep.sweeps.store import is_store

    dims = []
    for d, size in ds.sizes.items():
        c = ds[d] if d in ds.coords else None
        rng = ""
        if c is not None and c.dtype.kind in "iuf" and size:
            rng = f"{_num(float(c.min()))} .. {_num(float(c.max()))}"
        elif c is not None:
            rng = ", ".join(str(v) for v in c.values[:8].tolist()) + (" ..." if size > 8 else "")
        attrs = c.attrs if c is not None else {}
        dims.append([str(d), str(size), rng, str(attrs.get("units", "")), str(attrs.get("long_name", ""))])
    variables = []
    for s in summaries(ds):
        median = _num(s.median) if s.median_exact else f"≈ {_num(s.median)}"
        variables.append([s.var, s.entity or "-", s.units or "-", _num(s.minimum), median, _num(s.maximum),
                          f"{s.points:,}", f"{s.undefined:,}", f"{s.diverged:,}", f"{s.not_computed:,}", s.long_name])
    completed = None
    if is_store(path):
        c = completion(path, ds)
        pct = 100.0 * c["done"] / c["n_chunks"] if c["n_chunks"] else 100.0
        text = (f"{c['done']:,} of {c['n_chunks']:,} chunks done ({pct:.1f}%), chunks of "
                f"{' x '.join(map(str, c['chunk_shape']))} points")
        if c["traces"]:
            text += f"; traced points: {c['traces']}"
        listed = [[str(i), c["where"][i]] for i in c["missing"][:MAX_MISSING_LISTED]]
        completed = {"text": text, "missing": listed, "more": len(c["missing"]) - len(listed)}
    with tempfile.TemporaryDirectory() as tmp:
        figures = [(caption, _figure_png(ds, kwargs, Path(tmp), k))
                   for k, (caption, kwargs) in enumerate(standard_figures(ds))]
    env = jinja2.Environment(loader=jinja2.PackageLoader("synsweep.workflows", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template("report.html.j2").render(
        title=str(ds.attrs.get("title") or location(path).name), description=ds.attrs.get("description") or "",
        path=str(path), dims=dims, provenance=[[k, str(v)] for k, v in ds.attrs.items()
                                              if k not in ("spec", "description")],
        spec=_spec_yaml(ds), variables=variables, completion=completed, figures=figures)


def write_report(ds: xr.Dataset, path: str | PathLike[str], out: str | PathLike[str]) -> Path:
    """Write the report of the result at ``path`` to ``out`` (complete or not at all); returns ``out``."""
    from .export import atomic_target

    page = build_report(ds, path)
    out = Path(out)
    with atomic_target(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
