"""Extending a sweep: a store for a spec whose axes hold more values, computing only the points that are new.

    source = extension_source(new_spec, "old.zarr")        # StoreError if old.zarr is not the same sweep
    execute(new_spec, "new.zarr", extend=source)           # synsweep run NEW.yaml --out new.zarr --extend old.zarr

The same sweep: the old store's spec (its ``spec`` attribute) equals the new one in everything but the values
of its axes: the same circuit, simulation, metrics and record, the same dims in the same order, each with the
same axes (names, paths and factors). The name and description may differ, and so may ``execution``.

A point of the new grid is old when each of its coordinates is in the old store: a plain dim matches by its
value, a zip group by the tuple of its axes' values, exactly (float equality: they are the values the stored
results were computed from). Values may be added anywhere along any axis; the new store's coordinates are
the new spec's, in its order, with the usual convention. Random axes: draw ``i`` depends only on (seed, axis
name, ``i``), so raising ``n`` keeps the old draws and appends new ones (a new seed range); a new ``seed``
makes every draw new.

Each task of the new store reads the old points of its block from the old store and computes only the
others, including old points that the old store never computed (``status`` 0). The engine's lanes are
independent, so the new store equals a run of the new spec from scratch, bit for bit, when the same engine
computed both. The match is a small index map per dim (one entry per axis value, never per point).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np
import zarr

from .location import Location, location
from .model import SweepSpec
from .store import ZARR_FORMAT, StoreError, is_store, store_attrs

SECTIONS = ("circuit", "simulation", "metrics", "record")


@dataclass(frozen=True)
class ExtensionSource:
    """An old store and, per dim of the new spec, the old index of each new coordinate (-1: a new value)."""

    path: str
    spec_hash: str
    old_index: tuple[np.ndarray, ...]

    @property
    def n_old_points(self) -> int:
        """Points of the new grid that the old grid has."""
        return prod(int(np.count_nonzero(ix >= 0)) for ix in self.old_index)

    def old_points_in(self, index: tuple[slice, ...]) -> int:
        """Points of block ``index`` (of the new grid) that the old grid has."""
        return prod(int(np.count_nonzero(ix[s] >= 0)) for ix, s in zip(self.old_index, index, strict=True))

    def read_block(self, index: tuple[slice, ...]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The old store's values for block ``index`` of the new grid, flat in C order of the block:
        ``(have, arrays)``, ``have`` (n,) True where the old store holds a computed point, and ``name ->
        (n, ...)`` for every variable along the sweep dims (the store's fill value elsewhere)."""
        shape = tuple(s.stop - s.start for s in index)
        n = prod(shape)
        picks = [ix[s] for ix, s in zip(self.old_index, index, strict=True)]
        where = [np.flatnonzero(p >= 0) for p in picks]  # positions in the block with an old value
        old = tuple(p[w] for p, w in zip(picks, where, strict=True))  # their old indices
        group = zarr.open_group(location(self.path).zarr_store(read_only=True), mode="r", zarr_format=ZARR_FORMAT)
        dims = tuple(group["status"].metadata.dimension_names or ())
        have = np.zeros(shape, dtype=bool)
        arrays: dict[str, np.ndarray] = {}
        found = all(w.size for w in where)
        target = np.ix_(*where) if found else None
        for name, arr in group.arrays():
            names = tuple(arr.metadata.dimension_names or ())
            if names[: len(dims)] != dims or not dims:
                continue
            rest = tuple(arr.shape[len(dims):])
            out = np.full((*shape, *rest), arr.fill_value, dtype=arr.dtype)
            if found:
                out[target] = arr.get_orthogonal_selection((*_compact(old), *(slice(None),) * len(rest)))
            arrays[name] = out.reshape(n, *rest)
        if found:
            have[target] = arrays["status"].reshape(shape)[target] != 0
        return have.reshape(n), arrays


def _compact(indices: tuple[np.ndarray, ...]) -> tuple[Any, ...]:
    """Each index array as a slice when it is a contiguous run (zarr reads those fastest)."""
    out: list[Any] = []
    for ix in indices:
        if ix.size and np.array_equal(ix, np.arange(ix[0], ix[0] + ix.size)):
            out.append(slice(int(ix[0]), int(ix[0]) + ix.size))
        else:
            out.append(ix)
    return tuple(out)


def _frame(document: dict) -> dict:
    """What must not change for an extension: the sections, and the sweep without its axes' values."""
    frame: dict[str, Any] = {k: document.get(k) for k in SECTIONS}
    dims = []
    for item in document.get("sweep") or []:
        if "zip" in item:
            dims.append({"zip": item["zip"], "axes": [{"name": a["name"], "paths": a["paths"]}
                                                       for a in item["axes"]]})
        else:
            dims.append({"name": item["name"], "paths": item["paths"]})
    frame["sweep"] = dims
    frame["neuron_order"] = list((document.get("circuit") or {}).get("neurons") or {})
    return json.loads(json.dumps(frame, sort_keys=True))


def _difference(old: dict, new: dict) -> str:
    """The first part of the frames that differs, in words."""
    for key in (*SECTIONS, "neuron_order"):
        if old[key] != new[key]:
            if key == "neuron_order":
                return f"the neurons' order differs (old {old[key]}, new {new[key]})"
            return f"its '{key}' section differs"
    def shape(dims: list[dict]) -> str:
        return ", ".join(d.get("name") or d.get("zip") for d in dims) or "none"
    if [d.get("name") or d.get("zip") for d in old["sweep"]] != [d.get("name") or d.get("zip") for d in new["sweep"]]:
        return f"its sweep dims differ (old: {shape(old['sweep'])}; new: {shape(new['sweep'])})"
    for a, b in zip(old["sweep"], new["sweep"], strict=True):
        if a != b:
            return f"the axes of dim '{a.get('name') or a.get('zip')}' differ (names, paths or factors)"
    return "it differs"


def _old_index(new_spec: SweepSpec, old_spec: SweepSpec) -> tuple[np.ndarray, ...]:
    out = []
    for new_dim, old_dim in zip(new_spec.dims, old_spec.dims, strict=True):
        old_keys = {tuple(float(a.values[i]) for a in old_dim.axes): i for i in range(old_dim.size)}
        out.append(np.array([old_keys.get(tuple(float(a.values[j]) for a in new_dim.axes), -1)
                             for j in range(new_dim.size)], dtype=np.int64))
    return tuple(out)


def _same_place(a: Location, b: Location) -> bool:
    if a.is_local and b.is_local:
        return a.path.resolve() == b.path.resolve()
    return a.url.rstrip("/") == b.url.rstrip("/")


def extension_source(spec: SweepSpec, old: str | os.PathLike, out: str | os.PathLike | None = None
                     ) -> ExtensionSource:
    """Check that the store ``old`` holds a sweep that ``spec`` extends, and match their coordinates.

    Raises StoreError (one paragraph: what differs, what to do) when ``old`` is not a synsweep store, is the
    output store ``out`` itself, or was made from a spec that differs in more than its axes' values.
    """
    from .spec import load_spec

    old_path = location(old)
    if not is_store(old_path):
        raise StoreError(f"--extend {old_path}: not a synsweep result store (no template there). Give the store "
                         f"of the earlier run (the --out it was run with).")
    if out is not None and _same_place(old_path, location(out)):
        raise StoreError(f"--extend {old_path} is the output store itself: an extension writes a new store. "
                         f"Give another --out (the old store is only read).")
    old_spec = load_spec(json.loads(store_attrs(old_path)["spec"]))
    old_frame, new_frame = _frame(old_spec.document), _frame(spec.document)
    if old_frame != new_frame:
        raise StoreError(
            f"Cannot extend the sweep in {old_path}: {_difference(old_frame, new_frame)}. An extension may "
            f"only change the values of the axes (add values, raise a random axis' n); everything else "
            f"(circuit, simulation, metrics, record, the dims and their paths) must be as in the old spec, "
            f"which is stored in the old store's 'spec' attribute. Run the changed spec into a new store "
            f"without --extend instead.")
    return ExtensionSource(old_path.url, old_spec.spec_hash, _old_index(spec, old_spec))
