"""The result store: one xarray dataset in a zarr 3 directory, written block by block by the tasks.

Layout (``build_template``):

    dims       one per spec Dim (C order of the grid), ``neuron``, ``pair``; ``time`` with traces;
               ``traced_point`` with traces of listed points; ``synapse`` with traces of synapse states
    coords     plain axis   <dim>(dim)                  the axis values, attrs units / long_name / paths
               zip group    <dim>(dim) int64 index      plus <axis>(dim) per axis (units / long_name)
               neuron(neuron)  names;  pair(pair) "a-b", pair_a(pair), pair_b(pair)
               time(time)  ms (traces only);  synapse(synapse) names (synapse traces only)
               traced_point(traced_point) int index, traced_<dim>(traced_point) per sweep dim (the
               point's coordinate values) and traced_<axis> per axis of a zip group (points list only)
    data       <metric>(*sweep, neuron|pair)   engine METRICS units / long_name / dtype;
                                               float fill NaN, spike_count int32 fill -1
               kuramoto(*sweep) float64        circuit metric, only for circuits of >= 3 neurons
               status(*sweep) int8             0 not computed (fill), 1 ok, 2 diverged (flag_values)
               diverged_step(*sweep) int64     -1 (fill and "did not diverge")
               trace_<var>(*sweep, neuron, time)          record.points 'all'
               trace_<var>(traced_point, neuron, time)    record.points a list
                                               NaN for neurons without that variable
               synapse_trace_<var>(*sweep | traced_point, synapse, time)   a synapse's state ('syn.g'),
                                               NaN for synapses without that variable
    attrs      provenance (``synsweep.sweeps.provenance``): spec, spec_hash, versions, git, created, ...

Every variable along the sweep dims has zarr chunks equal to the chunk plan's block shape along the
sweep dims and whole along the others, so a task writes exactly one zarr chunk per variable. Strings are
stored as zarr 3 variable-length UTF-8 (object arrays on writing; numpy ``StringDType`` on reading).

Bookkeeping lives in the zarr group ``<store>/.synsweep`` (a group, so zarr and xarray open the store
without "unrecognised object" warnings): its existence says the template is complete; a file
``.synsweep/done/<chunk_id>`` (``traces`` for the traced-points batch), written atomically after the
region write succeeded, says that block is computed. ``status`` reading 0 says the same per point.
``.synsweep/failed/<chunk_id>`` records why a block failed (error and points; removed once it is done),
and ``.synsweep/lock`` is the run lock (``synsweep.sweeps.lock``). The template never changes after it is
written and zarr writes every chunk file atomically, so a reader sees the store whole at any moment:
finished blocks, and fill values (``status`` 0) elsewhere.

Metadata is never consolidated (zarr 3 warns that consolidated metadata is outside its spec); every open
and write passes ``consolidated=False``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import zarr
import zarr.api.asynchronous
import zarr.codecs
import zarr.core.sync

from synsweep.engine import (
    METRICS,
    STATUS_DIVERGED,
    STATUS_MEANINGS,
    STATUS_NOT_COMPUTED,
    STATUS_OK,
    STATUS_RUNAWAY,
    SimResult,
)
from synsweep.engine.metrics import metric_applies, metric_units, time_units
from synsweep.engine.simulate import resolve_record

from .chunks import ChunkPlan
from .model import SweepSpec
from .provenance import provenance_attrs

if TYPE_CHECKING:  # xarray, pandas and dask.array load in ~1 s: not in the workers, which never need them
    import xarray as xr

META_GROUP = ".synsweep"
TRACES_ID = "traces"
ZARR_FORMAT = 3


class StoreError(Exception):
    """The output store cannot be used as asked (exists, belongs to another spec, is not a store)."""


def _compressors() -> list:
    return [zarr.codecs.BloscCodec(cname="zstd", clevel=5, shuffle=zarr.codecs.BloscShuffle.shuffle)]


# -- traces --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TraceLayout:
    """What the record section produces: variables, their neuron (and synapse) rows, samples, and the
    traced points."""

    variables: tuple[str, ...]  # neuron state variable names, in order of first appearance
    rows: dict[str, tuple[int, ...]]  # variable -> neuron indices recorded
    record: tuple[str, ...]  # the engine's record argument
    every: int
    n_samples: int
    points: tuple[tuple[int, ...], ...] | None  # grid indices of listed points; None: every point
    synapse_variables: tuple[str, ...] = ()  # synapse state variable names, in order of first appearance
    synapse_rows: dict[str, tuple[int, ...]] = field(default_factory=dict)  # variable -> synapse indices

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.n_samples) * self.every  # in steps; times in ms = this * dt

    @property
    def stored(self) -> dict[str, tuple[str, str]]:
        """Store variable name -> (entity dim, state variable): ``trace_<var>`` along ``neuron`` and
        ``synapse_trace_<var>`` along ``synapse``."""
        out = {f"trace_{v}": ("neuron", v) for v in self.variables}
        out.update({f"synapse_trace_{v}": ("synapse", v) for v in self.synapse_variables})
        return out


def trace_layout(spec: SweepSpec) -> TraceLayout | None:
    """The trace layout of ``spec``, or None when the spec records nothing."""
    rec = spec.record
    if rec is None or not rec.variables:
        return None
    rows_list = resolve_record(spec.circuit, rec.variables)
    if not rows_list:
        raise ValueError(f"record.variables {list(rec.variables)} name no state variable of any neuron")
    n_neurons = len(spec.circuit.neurons)
    rows: dict[str, list[int]] = {}  # neuron variables, in order of first appearance
    synapse_rows: dict[str, list[int]] = {}
    for unit, var in rows_list:
        if unit < n_neurons:
            rows.setdefault(var, []).append(unit)
        else:
            synapse_rows.setdefault(var, []).append(unit - n_neurons)
    every = max(int(rec.every), 1)
    n_samples = spec.simulation.n_steps // every + 1
    points = None if rec.points is None else tuple(point_index(spec, p) for p in rec.points)
    return TraceLayout(tuple(rows), {v: tuple(r) for v, r in rows.items()}, tuple(rec.variables),
                       every, n_samples, points, tuple(synapse_rows),
                       {v: tuple(r) for v, r in synapse_rows.items()})


def point_index(spec: SweepSpec, point: dict[str, float]) -> tuple[int, ...]:
    """Grid index of a listed point: a mapping from dim name (or the name of an axis of a zip group) to a
    coordinate value. A zip group's dim name takes the integer index; a dim of size 1 may be omitted.
    Values match the grid values within 1e-9 relative tolerance."""
    index: list[int] = []
    used: set[str] = set()
    for dim in spec.dims:
        candidates = [(dim.name, None if dim.zipped else dim.axes[0].values)]
        if dim.zipped:
            candidates += [(a.name, a.values) for a in dim.axes if a.name != dim.name]
        found: int | None = None
        for name, values in candidates:
            if name not in point:
                continue
            used.add(name)
            want = float(point[name])
            if values is None:
                k = int(round(want))
                hit = [k] if k == want and 0 <= k < dim.size else []
            else:
                hit = np.flatnonzero(np.isclose(values, want, rtol=1e-9, atol=0.0)).tolist()
            if not hit:
                raise ValueError(f"record point {point}: {name}={want} is not a grid value of "
                                 f"dim {dim.name!r}")
            if found is not None and found != hit[0]:
                raise ValueError(f"record point {point}: values for dim {dim.name!r} disagree")
            found = hit[0]
        if found is None:
            if dim.size != 1:
                raise ValueError(f"record point {point} gives no value for dim {dim.name!r}")
            found = 0
        index.append(found)
    unknown = set(point) - used
    if unknown:
        raise ValueError(f"record point {point}: unknown dims {sorted(unknown)}")
    return tuple(index)


# -- the template --------------------------------------------------------------------------------------------
def _pair_label(a: str, b: str) -> str:
    return f"{a}-{b}"


def _strings(values: list[str]) -> np.ndarray:
    return np.array(values, dtype=object)


def sweep_coords(spec: SweepSpec) -> dict[str, xr.Variable]:
    """The coordinates along the sweep dims (see the module docstring)."""
    import xarray as xr

    coords: dict[str, xr.Variable] = {}
    for dim in spec.dims:
        if not dim.zipped:
            ax = dim.axes[0]
            coords[dim.name] = xr.Variable(dim.name, np.asarray(ax.values, dtype=np.float64),
                                           _axis_attrs(ax))
        else:
            coords[dim.name] = xr.Variable(dim.name, np.arange(dim.size, dtype=np.int64), {
                "units": "1",
                "long_name": f"index along the zip group {dim.name} ({', '.join(a.name for a in dim.axes)})",
            })
            for ax in dim.axes:
                coords[ax.name] = xr.Variable(dim.name, np.asarray(ax.values, dtype=np.float64),
                                              _axis_attrs(ax))
    return coords


def _axis_attrs(ax) -> dict[str, str]:
    return {"units": ax.units or "1", "long_name": ax.long_name or ax.name, "sweep_kind": ax.kind,
            "sweep_targets": json.dumps(dict(ax.targets), sort_keys=True)}


def _metric_names(spec: SweepSpec) -> list[str]:
    """The spec's metrics that exist for its circuit (pair metrics need a pair, ``kuramoto`` 3 neurons)."""
    n_neurons, n_pairs = len(spec.circuit.neurons), len(spec.circuit.pair_list)
    return [m for m in spec.metrics if metric_applies(m, n_neurons, n_pairs)]


def _metric_dims(name: str) -> tuple[str, ...]:
    """A metric's dims after the sweep dims: its entity dim, none for a circuit metric."""
    dim = METRICS[name].dim
    return () if dim == "circuit" else (dim,)


def build_template(spec: SweepSpec, plan: ChunkPlan) -> tuple[xr.Dataset, dict[str, dict]]:
    """The lazy result dataset of ``spec`` (dask-backed data, never computed) and its zarr encodings.

    Contract: every data variable along the sweep dims is chunked ``plan.chunk_shape`` there and whole
    along its other dims; coordinates are single chunks.
    """
    import dask.array as da
    import xarray as xr

    sdims = tuple(d.name for d in spec.dims)
    shape, cshape = spec.shape, plan.chunk_shape
    if plan.shape != shape:
        raise ValueError(f"chunk plan for shape {plan.shape}, spec has shape {shape}")
    circuit = spec.circuit
    names = list(circuit.neuron_names)
    pairs = list(circuit.pair_list)
    coords: dict[str, xr.Variable] = sweep_coords(spec)
    coords["neuron"] = xr.Variable("neuron", _strings(names), {"long_name": "neuron name"})
    if pairs:
        coords["pair"] = xr.Variable("pair", _strings([_pair_label(a, b) for a, b in pairs]),
                                     {"long_name": "neuron pair (pair_a-pair_b)"})
        coords["pair_a"] = xr.Variable("pair", _strings([a for a, _ in pairs]),
                                       {"long_name": "first neuron of the pair"})
        coords["pair_b"] = xr.Variable("pair", _strings([b for _, b in pairs]),
                                       {"long_name": "second neuron of the pair"})
    reserved = {"neuron", "pair", "pair_a", "pair_b", "time", "traced_point", "status", "diverged_step"}
    clash = reserved & (set(sdims) | {a.name for d in spec.dims for a in d.axes})
    if clash:
        raise ValueError(f"sweep dim or axis names {sorted(clash)} clash with the result layout's names")

    data: dict[str, xr.Variable] = {}
    encoding: dict[str, dict] = {}

    def add(name: str, dims: tuple[str, ...], sizes: tuple[int, ...], chunks: tuple[int, ...], dtype,
            fill, attrs: dict) -> None:
        # one dask chunk per variable: the template is never computed, and a graph of one task per zarr
        # chunk would cost seconds per 10,000 chunks to build (to_zarr builds it even with compute=False)
        data[name] = xr.Variable(dims, da.empty(sizes, dtype=dtype, chunks=-1), attrs)
        encoding[name] = {"chunks": chunks, "fill_value": fill, "compressors": _compressors()}

    circuit_time = time_units([n.definition for n in circuit.neurons])
    for m in _metric_names(spec):
        info = METRICS[m]
        other = {"neuron": (len(names),), "pair": (len(pairs),)}.get(info.dim, ())
        fill = -1 if np.dtype(info.dtype).kind == "i" else np.nan
        attrs = {"units": metric_units(m, circuit_time), "long_name": info.long_name}
        if np.dtype(info.dtype).kind == "i":
            attrs["missing_value_note"] = "-1: not computed or diverged"
        add(m, (*sdims, *_metric_dims(m)), (*shape, *other), (*cshape, *other), info.dtype, fill, attrs)
    add("status", sdims, shape, cshape, np.int8, STATUS_NOT_COMPUTED, {
        "units": "1", "long_name": "state of the point's computation",
        "flag_values": [STATUS_NOT_COMPUTED, STATUS_OK, STATUS_DIVERGED, STATUS_RUNAWAY],
        "flag_meanings": " ".join(STATUS_MEANINGS),
    })
    add("diverged_step", sdims, shape, cshape, np.int64, -1, {
        "units": "1", "long_name": "integration step at which the point diverged (-1: it did not)",
    })

    layout = trace_layout(spec)
    if layout is not None:
        dt = spec.simulation.dt
        coords["time"] = xr.Variable("time", layout.times * dt,
                                     {"units": circuit_time, "long_name": "simulated time"})
        dtype = spec.simulation.dtype
        n_t = layout.n_samples
        if layout.synapse_variables:
            coords["synapse"] = xr.Variable("synapse", _strings([s.name for s in circuit.synapses]),
                                            {"long_name": "synapse name"})
        for name, (entity, var) in layout.stored.items():
            attrs = {**_trace_attrs(circuit, layout, entity, var), "sample_every_steps": layout.every}
            n_e = len(names) if entity == "neuron" else len(circuit.synapses)
            if layout.points is None:
                add(name, (*sdims, entity, "time"), (*shape, n_e, n_t), (*cshape, n_e, n_t), dtype, np.nan, attrs)
            else:
                p = len(layout.points)
                add(name, ("traced_point", entity, "time"), (p, n_e, n_t), (p, n_e, n_t), dtype, np.nan, attrs)
        if layout.points is not None:
            coords["traced_point"] = xr.Variable(
                "traced_point", np.arange(len(layout.points), dtype=np.int64),
                {"units": "1", "long_name": "index of the traced point (record.points order)"})
            for j, dim in enumerate(spec.dims):
                idx = np.array([p[j] for p in layout.points], dtype=np.int64)
                src = coords[dim.name]
                coords[f"traced_{dim.name}"] = xr.Variable("traced_point", np.asarray(src.values)[idx],
                                                           dict(src.attrs))
                if dim.zipped:
                    for ax in dim.axes:
                        coords[f"traced_{ax.name}"] = xr.Variable("traced_point", ax.values[idx],
                                                                  _axis_attrs(ax))
    for name, var in coords.items():
        encoding[name] = {"chunks": tuple(max(s, 1) for s in var.shape), "compressors": _compressors()}
    ds = xr.Dataset(data, coords=coords, attrs=provenance_attrs(spec))
    return ds, encoding


def _trace_attrs(circuit, layout: TraceLayout, entity: str, var: str) -> dict[str, str]:
    """Units and long name of the traces of ``var`` (a synapse's conductance-like state takes its post
    neuron's units)."""
    if entity == "neuron":  # the neurons' own meaning of var: a dimensioned one, else the most common
        found = [circuit.neurons[k].definition.state_var(var) for k in layout.rows[var]]
        kinds = [(sv.units, sv.long_name) for sv in found]
        units, long_name = min(kinds, key=lambda kind: (kind[0] == "1", -kinds.count(kind)))
        return {"units": units, "long_name": f"trace of {long_name}"}
    syns = [circuit.synapses[j] for j in layout.synapse_rows[var]]
    units = sorted({circuit.units(f"synapses.{s.name}.init.{var}") for s in syns})
    return {"units": ", ".join(units), "long_name": f"trace of {syns[0].definition.state_var(var).long_name}"}


# -- creating, opening, bookkeeping ------------------------------------------------------------------------
def is_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a complete synsweep store (template written)."""
    p = Path(path)
    return (p / "zarr.json").is_file() and (p / META_GROUP / "zarr.json").is_file()


def create_store(spec: SweepSpec, plan: ChunkPlan, path: str | os.PathLike,
                 extended_from: dict | None = None) -> None:
    """Write the template of ``spec`` to a new zarr store at ``path`` (metadata and coordinates only).

    ``path`` must not exist (the runner handles --resume / --overwrite). The bookkeeping group is created
    last, so a store without it was interrupted while being created. ``extended_from`` (path and
    spec_hash of the store a run extends) is kept in the bookkeeping group's attributes.
    """
    path = Path(path)
    ds, encoding = build_template(spec, plan)
    ds.to_zarr(path, mode="w-", compute=False, encoding=encoding, consolidated=False, zarr_format=ZARR_FORMAT)
    zarr.open_group(path / META_GROUP, mode="w", zarr_format=ZARR_FORMAT, attributes={
        "synsweep": "bookkeeping: done/<chunk_id> marks a computed block",
        "spec_hash": spec.spec_hash,
        "chunk_shape": list(plan.chunk_shape),
        "n_chunks": plan.n_chunks,
        **({"extended_from": extended_from} if extended_from else {}),
    })
    (path / META_GROUP / "done").mkdir(exist_ok=True)


def remove_store(path: str | os.PathLike) -> None:
    """Delete the store at ``path``; refuses anything that does not look like a zarr store."""
    p = Path(path)
    if not p.exists():
        return
    if p.is_dir() and ((p / "zarr.json").is_file() or not any(p.iterdir())):
        shutil.rmtree(p)
        return
    raise StoreError(f"{p} exists and is not a zarr store; refusing to delete it. "
                     f"Choose another output path.")


def store_attrs(path: str | os.PathLike) -> dict:
    """The dataset attributes of the store at ``path`` (read from its zarr metadata only)."""
    return dict(zarr.open_group(Path(path), mode="r", zarr_format=ZARR_FORMAT).attrs)


def store_plan(path: str | os.PathLike, spec: SweepSpec) -> ChunkPlan:
    """The chunk plan the store at ``path`` was created with (its zarr chunks of ``status``)."""
    arr = zarr.open_array(Path(path) / "status", mode="r", zarr_format=ZARR_FORMAT)
    if tuple(arr.shape) != spec.shape:
        raise StoreError(f"store {path} has grid shape {tuple(arr.shape)}, the spec has {spec.shape}")
    return ChunkPlan(spec.shape, tuple(arr.chunks))


def _write_json(directory: Path, name: str, info: dict) -> None:
    """Write ``directory/name`` as JSON atomically (a temporary file renamed over it)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(info, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def mark_done(path: str | os.PathLike, chunk_id: int | str, info: dict) -> None:
    """Record that block ``chunk_id`` is written: ``.synsweep/done/<chunk_id>`` (JSON), atomically; a
    failure record of the block (``mark_failed``) is removed after that."""
    meta = Path(path) / META_GROUP
    _write_json(meta / "done", str(chunk_id), info)
    (meta / "failed" / str(chunk_id)).unlink(missing_ok=True)


def mark_failed(path: str | os.PathLike, chunk_id: int | str, info: dict) -> None:
    """Record why block ``chunk_id`` failed: ``.synsweep/failed/<chunk_id>`` (JSON: error, points)."""
    _write_json(Path(path) / META_GROUP / "failed", str(chunk_id), info)


def failed_chunks(path: str | os.PathLike) -> dict[int | str, dict]:
    """The failure records of blocks not computed since they failed: chunk id -> the recorded JSON."""
    failed = Path(path) / META_GROUP / "failed"
    done = done_chunks(path)
    out: dict[int | str, dict] = {}
    for f in sorted(failed.iterdir()) if failed.is_dir() else ():
        chunk_id = int(f.name) if f.name.isdigit() else f.name
        if f.name.startswith(".") or chunk_id in done:
            continue
        try:
            out[chunk_id] = json.loads(f.read_text())
        except (OSError, ValueError):  # being replaced right now
            continue
    return out


def done_chunks(path: str | os.PathLike) -> set[int | str]:
    """Ids of the blocks marked done (ints, plus ``"traces"`` for the traced-points batch)."""
    done = Path(path) / META_GROUP / "done"
    if not done.is_dir():
        return set()
    out: set[int | str] = set()
    for f in done.iterdir():
        if f.name.startswith("."):
            continue
        out.add(int(f.name) if f.name.isdigit() else f.name)
    return out


ANALYSIS_POINTS = 1 << 20  # at most this many sweep points per dask chunk in open_result's default
ANALYSIS_BYTES = 128 << 20  # and at most about this many bytes per chunk of the largest variable


def analysis_chunks(path: str | os.PathLike, points: int | None = None) -> dict[str, int]:
    """Dask chunks along the sweep dims, each a whole number of the store's zarr chunks, holding up to
    ``points`` points (default: ANALYSIS_POINTS, fewer when the largest variable, e.g. traces of every
    point, would exceed ANALYSIS_BYTES). The task blocks are small, and a dask task per block costs ~1 ms
    in any reduction."""
    group = zarr.open_group(Path(path), mode="r", zarr_format=ZARR_FORMAT)
    status = group["status"]
    dims = status.metadata.dimension_names or ()
    if points is None:
        per_point = 1
        for _, arr in group.arrays():
            names = arr.metadata.dimension_names or ()
            if tuple(names[: len(dims)]) == tuple(dims) and len(dims):
                rest = int(np.prod(arr.shape[len(dims):], dtype=np.int64))
                per_point = max(per_point, rest * arr.dtype.itemsize)
        points = min(ANALYSIS_POINTS, max(ANALYSIS_BYTES // per_point, 1))
    room = max(points // max(int(np.prod(status.chunks, dtype=np.int64)), 1), 1)
    out: dict[str, int] = {}
    for i in range(len(dims) - 1, -1, -1):
        size, c = status.shape[i], status.chunks[i]
        k = max(min(room, -(-size // c)), 1)
        out[dims[i]] = min(c * k, size)
        room //= k
    return out


def status_counts(path: str | os.PathLike, points: int = ANALYSIS_POINTS) -> tuple[int, int, int, int]:
    """Points of the store at ``path`` that are ok, diverged, not computed and runaway: its ``status`` read
    with zarr directly, in slabs of up to ``points`` points (``analysis_chunks``), so memory does not grow with
    the grid and xarray is not needed (it saves half a second at the end of every ``synsweep run``)."""
    status = zarr.open_array(Path(path) / "status", mode="r", zarr_format=ZARR_FORMAT)
    slabs = analysis_chunks(path, points=points)
    dims = status.metadata.dimension_names or ()
    counts = np.zeros(4, dtype=np.int64)
    starts = [range(0, n, slabs[d]) for d, n in zip(dims, status.shape, strict=True)]
    for corner in itertools.product(*starts):
        index = tuple(slice(c, c + slabs[d]) for c, d in zip(corner, dims, strict=True))
        counts += np.bincount(np.asarray(status[index]).ravel(), minlength=4)[:4]
    ok, diverged, runaway = int(counts[STATUS_OK]), int(counts[STATUS_DIVERGED]), int(counts[STATUS_RUNAWAY])
    return ok, diverged, int(status.size) - ok - diverged - runaway, runaway


def open_result(path: str | os.PathLike, chunks: dict[str, int] | None = None) -> xr.Dataset:
    """Open a result store lazily (dask-backed), with dims, coords and attrs intact; no warnings.

    ``chunks``: dask chunks per dim; by default ``analysis_chunks`` along the sweep dims (whole numbers of
    zarr chunks, about a million points each) and the store's chunks elsewhere. Integer variables keep
    their dtype (the zarr fill value is not applied as a mask): ``status`` 0 and ``spike_count`` -1 mark
    points not computed.
    """
    import xarray as xr

    p = Path(path)
    if not (p / "zarr.json").is_file():
        raise StoreError(f"{p} is not a zarr store")
    with warnings.catch_warnings():
        # xarray's own advice about future default changes is noise for a store written by us
        warnings.simplefilter("ignore", FutureWarning)
        ds = xr.open_zarr(p, consolidated=False, zarr_format=ZARR_FORMAT, decode_timedelta=False,
                          decode_times=False, chunks=analysis_chunks(p) if chunks is None else chunks)
    order = {name: i for i, name in enumerate((*METRICS, "status", "diverged_step"))}
    names = sorted(ds.data_vars, key=lambda v: (order.get(v, len(order)), v))
    return ds[names]  # a stable variable order (the store lists them in file-system order)


# -- writing blocks ----------------------------------------------------------------------------------------
def block_variables(spec: SweepSpec, layout: TraceLayout | None) -> tuple[str, ...]:
    """The names of the variables along the sweep dims, in the store's order."""
    names = [*_metric_names(spec), "status", "diverged_step"]
    if layout is not None and layout.points is None:
        names += list(layout.stored)
    return tuple(names)


def point_arrays(spec: SweepSpec, result: SimResult, layout: TraceLayout | None, n: int) -> dict[str, np.ndarray]:
    """The ``block_variables`` for ``n`` points from the engine's result, flat: ``name -> array of shape
    (n, ...)``, in the store's dtypes."""
    traces = trace_arrays(spec, result, layout, n) if layout is not None and layout.points is None else {}
    data: dict[str, np.ndarray] = {}
    for name in block_variables(spec, layout):
        if name in traces:
            data[name] = traces[name]
        elif name in METRICS:
            data[name] = result.metrics[name].astype(METRICS[name].dtype)
        else:
            data[name] = result.metrics[name].astype(np.int8 if name == "status" else np.int64)
    return data


def trace_arrays(spec: SweepSpec, result: SimResult, layout: TraceLayout, n: int) -> dict[str, np.ndarray]:
    """The engine's traces by store name (``layout.stored``): ``trace_<var>`` arrays of shape (n, neuron,
    time), NaN for neurons without ``var``; ``synapse_trace_<var>`` arrays (n, synapse, time) likewise."""
    neurons = spec.circuit.neuron_names
    synapses = tuple(s.name for s in spec.circuit.synapses)
    out: dict[str, np.ndarray] = {}
    for name, (entity, var) in layout.stored.items():
        units, rows = (neurons, layout.rows[var]) if entity == "neuron" else (synapses, layout.synapse_rows[var])
        arr = np.full((n, len(units), layout.n_samples), np.nan, dtype=spec.simulation.dtype)
        for k in rows:
            arr[:, k, :] = result.traces[(units[k], var)]
        out[name] = arr
    return out


def write_block(path: str | os.PathLike, index: tuple[slice, ...], arrays: dict[str, np.ndarray]) -> None:
    """Write flat arrays (``name -> (n, ...)``, C order of the block) into the store's arrays at ``index``
    along their leading dims (the sweep dims, or ``traced_point``); whole zarr chunks only; idempotent.

    The arrays are written with zarr directly and all at once (zarr's asynchronous API): 25 to 30 ms for
    the 12 variables of an HH pair, where one ``Dataset.to_zarr(region=...)`` took 60 to 90 ms. The bytes
    are the same: xarray's encoding of these variables is the identity (no scale, offset or mask).
    """
    shape = tuple(s.stop - s.start for s in index)
    root = str(Path(path))

    async def write_one(name: str, a: np.ndarray) -> None:
        arr = await zarr.api.asynchronous.open_array(store=root, path=name, mode="r+", zarr_format=ZARR_FORMAT)
        await arr.setitem(index, a.reshape((*shape, *a.shape[1:])))

    async def write_all() -> None:
        await asyncio.gather(*(write_one(name, a) for name, a in arrays.items()))

    zarr.core.sync.sync(write_all())
