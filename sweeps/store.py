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

Every variable along the sweep dims is sharded (zarr 3 sharding): its inner chunks are the chunk plan's
blocks (one task writes exactly one inner chunk per variable), its shards hold many blocks (``shard_shape_for``:
up to SHARD_POINTS = 2^17 points and about SHARD_BYTES of the largest variable), whole along the other dims. A
10^7-point sweep (3162 x 3162, the default blocks of up to 4096 points) is 78 objects per variable instead of
3,162. Strings are stored as zarr 3
variable-length UTF-8 (object arrays on writing; numpy ``StringDType`` on reading).

A store is a local directory or a prefix on object storage (``synsweep.sweeps.location``: every function here
takes a path or a URL such as ``s3://bucket/prefix/out.zarr``). Several tasks write blocks of one shard, so a
task's write of a shard is a read-modify-write made safe by a conditional write (``_CasStore``: the shard is
written back only if it is still the one read, else read again; ETags on object storage, a content digest under
a POSIX record lock on disk), and every write replaces the whole object atomically, so a killed task never
leaves a torn shard and never loses another task's block.

Bookkeeping lives in the zarr group ``<store>/.synsweep`` (a group, so zarr and xarray open the store without
"unrecognised object" warnings): its existence says the template is complete. A completion record per shard,
``.synsweep/done/shard-<n>`` (``traces`` for the traced-points batch), lists the blocks of that shard whose
region write succeeded (JSON ``{"chunks": {chunk_id: task summary}}``, updated with the same conditional write
after the data); ``status`` reading 0 says the same per point. Stores written before sharding have a marker
``.synsweep/done/<chunk_id>`` per block instead; both are read. ``.synsweep/failed/<chunk_id>`` records why a
block failed (error and points; the driver removes it once the block is done), and ``.synsweep/lock`` is the
run lock (``synsweep.sweeps.lock``: a file lock on disk, a lease on object storage). The template never changes
after it is written, so a reader sees the store whole at any moment: finished blocks, and fill values
(``status`` 0) elsewhere.

Metadata is consolidated into the root ``zarr.json`` when the store is created (the template never changes),
so a plain ``xr.open_zarr(path)`` opens it without a warning and, on object storage, with one read. zarr 3
warns that consolidated metadata is not yet part of the zarr 3 specification; that warning (its message
only) is silenced for the whole process once this module is imported.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from math import prod
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr
import zarr.api.asynchronous
import zarr.codecs
import zarr.storage
from zarr.errors import ZarrUserWarning

from synsweep.engine import (
    METRICS,
    STATUS_DIVERGED,
    STATUS_MEANINGS,
    STATUS_NOT_COMPUTED,
    STATUS_OK,
    STATUS_RUNAWAY,
    SimResult,
)
from synsweep.engine.metrics import metric_applies, metric_units, time_units, voltage_units

from .chunks import ChunkPlan
from .compat import zarr_sync
from .errors import StoreError
from .location import Conflict, Location, location
from .model import SweepSpec
from .provenance import provenance_attrs
from .traces import TraceLayout, trace_layout

if TYPE_CHECKING:  # xarray, pandas and dask.array load in ~1 s: not in the workers, which never need them
    import xarray as xr

# zarr 3 warns at each write and read of consolidated metadata that it is not yet part of the zarr 3 spec;
# synsweep writes it on purpose (module docstring). One process-wide filter for that message only: a
# ``warnings.catch_warnings`` block is not thread-safe, and a workflow creates its stores from several threads
# at once (one block's exit restored the filters while another thread's write warned).
warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part", category=ZarrUserWarning)

META_GROUP = ".synsweep"
TRACES_ID = "traces"
ZARR_FORMAT = 3


def _compressors() -> list:
    """Blosc zstd, then a crc32c checksum of the compressed bytes: a truncated or overwritten chunk fails to
    decode (``synsweep.sweeps.damage`` names it) instead of being read back as wrong values."""
    return [zarr.codecs.BloscCodec(cname="zstd", clevel=5, shuffle=zarr.codecs.BloscShuffle.shuffle),
            zarr.codecs.Crc32cCodec()]


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
    circuit_voltage = voltage_units([n.definition for n in circuit.neurons])
    for m in _metric_names(spec):
        info = METRICS[m]
        other = {"neuron": (len(names),), "pair": (len(pairs),)}.get(info.dim, ())
        fill = -1 if np.dtype(info.dtype).kind == "i" else np.nan
        attrs = {"units": metric_units(m, circuit_time, circuit_voltage), "long_name": info.long_name}
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
SHARD_POINTS = 1 << 17  # at most this many sweep points per shard (a zarr object / file per variable)
SHARD_BYTES = 64 << 20  # and at most about this many bytes of the largest variable per shard (uncompressed)
RECORD_PREFIX = "shard-"  # completion records: .synsweep/done/shard-<n>


def shard_shape_for(plan: ChunkPlan, bytes_per_point: int = 8) -> tuple[int, ...]:
    """Shard lengths along the sweep dims: whole numbers of task blocks (``plan.chunk_shape``), trailing dims
    first, holding at most SHARD_POINTS points and about SHARD_BYTES of the largest variable (one block at
    least). A task writes whole inner chunks of one shard per variable."""
    block = prod(plan.chunk_shape)
    room = max(min(SHARD_POINTS, SHARD_BYTES // max(bytes_per_point, 1)) // max(block, 1), 1)
    out = list(plan.chunk_shape)
    for i in range(len(plan.shape) - 1, -1, -1):
        k = max(min(room, plan.grid[i]), 1)
        out[i] = plan.chunk_shape[i] * k
        room //= k
    return tuple(out)


def record_name(plan: ChunkPlan, shard_shape: tuple[int, ...], index: tuple[slice, ...] | None) -> str:
    """The completion record of the block at ``index`` (None: the traced-points batch): one per shard,
    ``shard-<n>`` with ``n`` the shard's number in C order of the shard grid."""
    if index is None:
        return TRACES_ID
    n = 0
    for s, size, length in zip(index, plan.shape, shard_shape, strict=True):
        n = n * -(-size // length) + s.start // length
    return f"{RECORD_PREFIX}{n}"


def is_store(path: str | os.PathLike | Location) -> bool:
    """Whether ``path`` holds a complete synsweep store (template written)."""
    loc = location(path)
    return loc.read("zarr.json") is not None and loc.read(f"{META_GROUP}/zarr.json") is not None


def _bytes_per_point(ds: xr.Dataset, sdims: tuple[str, ...]) -> int:
    """Bytes of the largest variable along the sweep dims per point."""
    per = [int(np.prod([v.sizes[d] for d in v.dims if d not in sdims], dtype=np.int64)) * v.dtype.itemsize
           for v in ds.data_vars.values() if v.dims[: len(sdims)] == sdims]
    return max(per, default=8)


def create_store(spec: SweepSpec, plan: ChunkPlan, path: str | os.PathLike | Location,
                 extended_from: dict | None = None) -> None:
    """Write the template of ``spec`` to a new zarr store at ``path`` (metadata and coordinates only).

    ``path`` must not exist (the runner handles --resume / --overwrite). Variables along the sweep dims are
    sharded (``shard_shape_for``): inner chunks are the task blocks, shards hold many of them. Metadata is
    consolidated into the root ``zarr.json`` (the template never changes), so ``xr.open_zarr`` opens the store
    without a warning and with one read. The bookkeeping group is created last, so a store without it was
    interrupted while being created. ``extended_from`` (location and spec_hash of the store a run extends) is
    kept in the bookkeeping group's attributes.
    """
    loc = location(path)
    store = loc.zarr_store()
    ds, encoding = build_template(spec, plan)
    sdims = tuple(d.name for d in spec.dims)
    shards = shard_shape_for(plan, _bytes_per_point(ds, sdims))
    for name, var in ds.data_vars.items():
        if var.dims[: len(sdims)] == sdims and sdims:
            encoding[name]["shards"] = (*shards, *var.shape[len(sdims):])
    ds.to_zarr(store, mode="w-", compute=False, encoding=encoding, consolidated=True, zarr_format=ZARR_FORMAT)
    zarr.open_group(store, path=META_GROUP, mode="w", zarr_format=ZARR_FORMAT, attributes={
        "synsweep": f"bookkeeping: done/{RECORD_PREFIX}<n> lists the computed blocks of shard n",
        "spec_hash": spec.spec_hash,
        "chunk_shape": list(plan.chunk_shape),
        "shard_shape": list(shards),
        "n_chunks": plan.n_chunks,
        **({"extended_from": extended_from} if extended_from else {}),
    })


def remove_store(path: str | os.PathLike | Location) -> None:
    """Delete the store at ``path``; refuses anything that does not look like a zarr store."""
    loc = location(path)
    if not loc.exists():
        return
    if loc.read("zarr.json") is not None:
        loc.remove_all()
        return
    if loc.is_local and loc.path.is_dir() and not any(loc.path.iterdir()):
        loc.path.rmdir()
        return
    raise StoreError(f"{loc} exists and is not a zarr store; refusing to delete it. "
                     f"Choose another output path.")


def store_attrs(path: str | os.PathLike | Location, group: str = "") -> dict:
    """The attributes of the store's root group (the dataset's) or of ``group`` (e.g. META_GROUP)."""
    loc = location(path)
    return dict(zarr.open_group(loc.zarr_store(read_only=True), path=group, mode="r", zarr_format=ZARR_FORMAT).attrs)


def store_shards(path: str | os.PathLike | Location, plan: ChunkPlan) -> tuple[int, ...]:
    """The shard shape along the sweep dims (the block shape for stores written before sharding)."""
    return tuple(store_attrs(path, META_GROUP).get("shard_shape") or plan.chunk_shape)


def store_plan(path: str | os.PathLike | Location, spec: SweepSpec) -> ChunkPlan:
    """The chunk plan the store at ``path`` was created with (its bookkeeping's ``chunk_shape``)."""
    loc = location(path)
    arr = zarr.open_array(loc.zarr_store(read_only=True), path="status", mode="r", zarr_format=ZARR_FORMAT)
    if tuple(arr.shape) != spec.shape:
        raise StoreError(f"store {loc} has grid shape {tuple(arr.shape)}, the spec has {spec.shape}")
    chunks = store_attrs(loc, META_GROUP).get("chunk_shape") or arr.chunks
    return ChunkPlan(spec.shape, tuple(chunks))


def _json(data: bytes | None) -> dict | None:
    try:
        out = json.loads(data) if data else None
    except ValueError:  # a record damaged by hand: its blocks count as not done
        return None
    return out if isinstance(out, dict) else None


def mark_done(path: str | os.PathLike | Location, chunk_id: int | str, info: dict, record: str | None = None) -> None:
    """Record that block ``chunk_id`` is written, in its shard's completion record ``.synsweep/done/<record>``
    (JSON ``{"chunks": {chunk_id: info}}``): read, add, write back only if unchanged since the read
    (``Location.write_if``), else again, so tasks of one shard never lose each other's entries.
    ``record`` defaults to a record of its own (``str(chunk_id)``)."""
    loc = location(path)
    key = f"{META_GROUP}/done/{record if record is not None else chunk_id}"
    while True:
        data, version = loc.read_versioned(key)
        current = _json(data)
        chunks = current.get("chunks") if current is not None else None
        chunks = dict(chunks) if isinstance(chunks, dict) else {}
        chunks[str(chunk_id)] = info
        try:
            loc.write_if(key, json.dumps({"chunks": chunks}).encode(), version)
            return
        except Conflict:
            time.sleep(random.uniform(0.0, 0.02))


def mark_failed(path: str | os.PathLike | Location, chunk_id: int | str, info: dict) -> None:
    """Record why block ``chunk_id`` failed: ``.synsweep/failed/<chunk_id>`` (JSON: error, points)."""
    location(path).write(f"{META_GROUP}/failed/{chunk_id}", json.dumps(info).encode())


def clear_failed(path: str | os.PathLike | Location, chunk_id: int | str) -> None:
    """Remove the failure record of a block computed since (the driver calls it; tasks never list)."""
    location(path).delete(f"{META_GROUP}/failed/{chunk_id}")


def _chunk_key(name: str) -> int | str:
    return int(name) if name.isdigit() else name


def failed_chunks(path: str | os.PathLike | Location) -> dict[int | str, dict]:
    """The failure records of blocks not computed since they failed: chunk id -> the recorded JSON."""
    loc = location(path)
    done = done_chunks(loc)
    out: dict[int | str, dict] = {}
    for name in loc.names(f"{META_GROUP}/failed/"):
        chunk_id = _chunk_key(name)
        info = _json(loc.read(f"{META_GROUP}/failed/{name}"))
        if chunk_id not in done and info is not None:
            out[chunk_id] = info
    return out


def done_info(path: str | os.PathLike | Location) -> dict[int | str, dict]:
    """What the completion records say: chunk id -> the task's summary (ints, plus ``"traces"`` for the
    traced-points batch). Also reads the one-file-per-block markers of stores written before sharding."""
    loc = location(path)
    names = loc.names(f"{META_GROUP}/done/")
    with ThreadPoolExecutor(max_workers=min(16, max(len(names), 1))) as pool:  # object storage: ~20 ms a read
        records = list(pool.map(lambda n: _json(loc.read(f"{META_GROUP}/done/{n}")), names))
    out: dict[int | str, dict] = {}
    for name, rec in zip(names, records, strict=True):
        if rec is None:
            continue
        if isinstance(rec.get("chunks"), dict):
            out.update({_chunk_key(k): v for k, v in rec["chunks"].items()})
        elif name.isdigit() or name == TRACES_ID:  # an older store's marker: one block, named by its id
            out[_chunk_key(name)] = rec
    return out


def done_chunks(path: str | os.PathLike | Location) -> set[int | str]:
    """Ids of the blocks marked done (ints, plus ``"traces"`` for the traced-points batch)."""
    return set(done_info(path))


ANALYSIS_POINTS = 1 << 20  # at most this many sweep points per dask chunk in open_result's default
ANALYSIS_BYTES = 128 << 20  # and at most about this many bytes per chunk of the largest variable


def analysis_chunks(path: str | os.PathLike, points: int | None = None) -> dict[str, int]:
    """Dask chunks along the sweep dims, each a whole number of the store's zarr chunks, holding up to
    ``points`` points (default: ANALYSIS_POINTS, fewer when the largest variable, e.g. traces of every
    point, would exceed ANALYSIS_BYTES). The task blocks are small, and a dask task per block costs ~1 ms
    in any reduction."""
    group = zarr.open_group(location(path).zarr_store(read_only=True), mode="r", zarr_format=ZARR_FORMAT)
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


READ_ATTEMPTS = 3  # tries of a block read that fails to decode before it counts as damaged (``read_block``)
READ_RETRY_S = 0.05  # wait before the second try; twice as long before the third


def read_block(array: zarr.Array, index: Any = ...) -> np.ndarray:
    """``array[index]``, read again (up to ``READ_ATTEMPTS`` tries in all) when it fails to decode. A reader of a
    store that a run is writing (``synsweep inspect``, ``serve``'s progress) reads a shard's index and then its
    chunks, each from the file as it is then: a task replacing the shard in between (an atomic rename) gives a
    chunk of the new shard at the old index's offsets, which fails its checksum once. The last failure is
    raised: a chunk that never decodes is damaged (``synsweep.sweeps.damage``)."""
    for attempt in range(1, READ_ATTEMPTS):
        try:
            return np.asarray(array[index])
        except Exception:  # any decoding failure: a torn read, or damage if it persists
            time.sleep(READ_RETRY_S * attempt)
    return np.asarray(array[index])  # the last try: its failure is raised


def status_counts(path: str | os.PathLike, points: int = ANALYSIS_POINTS) -> tuple[int, int, int, int]:
    """Points of the store at ``path`` that are ok, diverged, not computed and runaway: its ``status`` read
    with zarr directly, in slabs of up to ``points`` points (``analysis_chunks``), so memory does not grow with
    the grid and xarray is not needed (it saves half a second at the end of every ``synsweep run``)."""
    loc = location(path)
    status = zarr.open_array(loc.zarr_store(read_only=True), path="status", mode="r", zarr_format=ZARR_FORMAT)
    slabs = analysis_chunks(loc, points=points)
    dims = status.metadata.dimension_names or ()
    counts = np.zeros(4, dtype=np.int64)
    starts = [range(0, n, slabs[d]) for d, n in zip(dims, status.shape, strict=True)]
    for corner in itertools.product(*starts):
        index = tuple(slice(c, c + slabs[d]) for c, d in zip(corner, dims, strict=True))
        counts += np.bincount(read_block(status, index).ravel(), minlength=4)[:4]
    ok, diverged, runaway = int(counts[STATUS_OK]), int(counts[STATUS_DIVERGED]), int(counts[STATUS_RUNAWAY])
    return ok, diverged, int(status.size) - ok - diverged - runaway, runaway


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


class _CasStore(zarr.storage.WrapperStore):
    """A zarr store whose writes of objects it read are conditional (``Location.write_if``): a shard that
    another task changed between this task's read and its write raises ``Conflict`` instead of losing that
    task's blocks. Objects are read and written whole through the Location (atomic, versioned); metadata and
    ranged reads go to the wrapped store."""

    def __init__(self, store: Any, loc: Location | None = None) -> None:
        super().__init__(store)
        self._loc = loc
        self._versions: dict[str, Any] = {}

    def _with_store(self, store: Any) -> _CasStore:
        return type(self)(store, self._loc)

    async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
        if byte_range is not None or key.endswith("zarr.json"):
            return await self._store.get(key, prototype, byte_range)
        data, version = await asyncio.to_thread(self._loc.read_versioned, key)
        self._versions[key] = version
        return None if data is None else prototype.buffer.from_bytes(data)

    async def set(self, key: str, value: Any) -> None:
        data = value.to_bytes()
        if key in self._versions:
            await asyncio.to_thread(self._loc.write_if, key, data, self._versions.pop(key))
        else:  # a whole shard (or an unsharded chunk) written without reading it: nothing to lose
            await asyncio.to_thread(self._loc.write, key, data)

    async def delete(self, key: str) -> None:
        """zarr deletes a shard whose chunks all hold the fill value: conditionally, as an empty object
        (which zarr reads as absent), or not at all when it was absent when read."""
        if key not in self._versions:
            await self._store.delete(key)
            return
        version = self._versions.pop(key)
        if version is not None:
            await asyncio.to_thread(self._loc.write_if, key, b"", version)


def write_block(path: str | os.PathLike | Location, index: tuple[slice, ...], arrays: dict[str, np.ndarray]) -> None:
    """Write flat arrays (``name -> (n, ...)``, C order of the block) into the store's arrays at ``index``
    along their leading dims (the sweep dims, or ``traced_point``); whole zarr (inner) chunks only; idempotent.

    The arrays are written with zarr directly and all at once (zarr's asynchronous API): 25 to 30 ms for
    the 12 variables of an HH pair, where one ``Dataset.to_zarr(region=...)`` took 60 to 90 ms. The bytes
    are the same: xarray's encoding of these variables is the identity (no scale, offset or mask).
    A block is an inner chunk of a shard shared with other tasks: each variable's shard is read, changed and
    written back only if no other task wrote it in between (``_CasStore``), else read again and retried, so
    concurrent tasks never lose each other's blocks, and a killed task leaves the old shard whole.
    """
    shape = tuple(s.stop - s.start for s in index)
    loc = location(path)
    base = loc.zarr_store()

    async def write_one(name: str, a: np.ndarray) -> None:
        while True:
            arr = await zarr.api.asynchronous.open_array(store=_CasStore(base, loc), path=name, mode="r+",
                                                         zarr_format=ZARR_FORMAT)
            arr = arr.with_config({"write_empty_chunks": True})  # a shard is never deleted
            try:
                await arr.setitem(index, a.reshape((*shape, *a.shape[1:])))
                return
            except Conflict:
                await asyncio.sleep(random.uniform(0.0, 0.02))

    async def write_all() -> None:
        await asyncio.gather(*(write_one(name, a) for name, a in arrays.items()))

    zarr_sync(write_all())
