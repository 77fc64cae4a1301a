"""Finding what is damaged in a result store, and saying what can still be recovered.

    check_metadata(path)      # cheap, before a store is opened: StoreDamaged / StoreError, else None
    damage = diagnose(path)   # after a read failed: every metadata file and every chunk read back
    if damage: raise StoreDamaged(damage)

A store is damaged when a metadata document (``zarr.json`` of the group or of an array) is not valid
JSON, when an array the layout needs (``status``) is missing, or when a chunk cannot be decoded. Every
chunk written since synsweep 0.1 carries a crc32c checksum (zarr 3's ``crc32c`` codec, after the
compressor), so a truncated or overwritten chunk fails to decode instead of being read as wrong values.

What can be recovered, in the message of ``StoreDamaged``: a damaged chunk of a variable along the sweep
dims belongs to task blocks; ``forget_damaged`` (``synsweep inspect RESULT --forget-damaged``) deletes the
stored objects that hold them (a chunk, or a shard of chunks) and the completion entries of every block
those objects held, and ``synsweep run ... --resume`` then recomputes exactly those blocks, nothing else.
A damaged metadata document (the template) is not recomputed by ``--resume``: the intact variables are
named, and ``--overwrite`` recomputes the whole sweep.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .location import Location, location
from .store import META_GROUP, TRACES_ID, ZARR_FORMAT, StoreError, read_block

REQUIRED = ("status",)  # arrays every synsweep result has


@dataclass
class Damage:
    """What ``diagnose`` found in the store at ``path``."""

    path: str
    metadata: dict[str, str] = field(default_factory=dict)  # node ("" = the root group) -> problem
    missing: list[str] = field(default_factory=list)  # required arrays that are not there
    chunks: dict[str, list[int | str]] = field(default_factory=dict)  # array -> task blocks it cannot read
    coordinates: list[str] = field(default_factory=list)  # arrays of the template with unreadable chunks
    intact: list[str] = field(default_factory=list)  # arrays whose metadata and chunks all read back
    blocks: list[int | str] = field(default_factory=list)  # task blocks (chunk ids) holding unreadable chunks

    def __bool__(self) -> bool:
        return bool(self.metadata or self.missing or self.chunks)

    def message(self) -> str:
        """One paragraph: what is damaged, what is intact, and how to recover."""
        parts: list[str] = []
        for node, problem in self.metadata.items():
            what = "its root metadata (zarr.json)" if node == "" else f"the metadata of {node!r} ({node}/zarr.json)"
            parts.append(f"{what} {problem}")
        if self.missing:
            parts.append(f"the array{'s' if len(self.missing) > 1 else ''} {', '.join(map(repr, self.missing))} "
                         "every synsweep result has is missing")
        for name, idx in self.chunks.items():
            shown = ", ".join(map(str, idx[:5])) + (" ..." if len(idx) > 5 else "")
            parts.append(f"{name!r} cannot be read back in {len(idx)} block{'s' if len(idx) > 1 else ''} "
                         f"(truncated or overwritten chunks: block {shown})")
        text = f"the result store {self.path} is damaged: " + "; ".join(parts) + "."
        if self.intact:
            text += f" Intact: {', '.join(self.intact[:12])}{' ...' if len(self.intact) > 12 else ''}."
        if self.metadata or self.missing or self.coordinates:
            text += (" The store's template is damaged, which --resume cannot repair: restore the store from a "
                     "copy, or run the spec again with --overwrite to recompute it (the intact arrays can still be "
                     "read one by one with zarr.open_array).")
        elif self.blocks:
            ids = ", ".join(str(b) for b in self.blocks)
            text += (f" Every other block is intact. To recompute only the damaged block"
                     f"{'s' if len(self.blocks) > 1 else ''} ({ids}): synsweep inspect {self.path} "
                     f"--forget-damaged (marks {'it' if len(self.blocks) == 1 else 'them'} not computed), then run "
                     f"the same spec again with --resume.")
        return text


class StoreDamaged(StoreError):
    """The store exists but parts of it cannot be read; ``damage`` says which (``Damage.message``)."""

    def __init__(self, damage: Damage):
        super().__init__(damage.message())
        self.damage = damage


def _local(path: str | os.PathLike | Location) -> Path | None:
    """The folder of a local store (None for object storage, or when there is no folder)."""
    loc = location(path)
    return loc.path if loc.is_local and loc.path.is_dir() else None


def _read_metadata(doc: Path) -> tuple[dict | None, str | None]:
    """The JSON document at ``doc`` and None, or None and what is wrong with it."""
    try:
        text = doc.read_bytes()
    except FileNotFoundError:
        return None, "is missing"
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror})"
    if not text.strip():
        return None, "is empty"
    try:
        meta = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"is not valid JSON (truncated or overwritten: {exc})"
    if not isinstance(meta, dict) or meta.get("zarr_format") != ZARR_FORMAT or "node_type" not in meta:
        return None, "is not zarr 3 metadata"
    return meta, None


def _nodes(root: Path) -> list[Path]:
    """The array and group folders directly in the store (where the layout keeps its arrays)."""
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name != META_GROUP and not p.name.startswith("."))


def check_metadata(path: str | os.PathLike | Location) -> None:
    """Raise ``StoreDamaged`` when a metadata document of the store at ``path`` is damaged or ``status`` is
    missing, and ``StoreError`` when ``path`` is a zarr store that another program wrote (no synsweep
    result). Reads only the small ``zarr.json`` files; stores that are not local folders are not checked."""
    root = _local(path)
    if root is None:
        return
    meta, problem = _read_metadata(root / "zarr.json")
    if problem == "is missing" and not any(root.iterdir()):
        raise StoreError(f"{root} is an empty folder, not a result store; give the path passed to "
                         "'synsweep run --out'.")
    if problem == "is missing" and not (root / META_GROUP).is_dir():
        raise StoreError(f"{root} is not a zarr store (no zarr.json); give the path passed to "
                         "'synsweep run --out'.")
    damage = Damage(str(path))
    if problem is not None:
        damage.metadata[""] = problem
    elif meta.get("node_type") != "group":
        raise StoreError(f"{root} is a single zarr array, not a synsweep result (a zarr group); give the path "
                         "passed to 'synsweep run --out'.")
    elif "spec_hash" not in (meta.get("attributes") or {}) and not (root / META_GROUP).is_dir():
        raise StoreError(f"{root} is a zarr store written by another program, not a synsweep result (no spec in "
                         "its attributes, no .synsweep bookkeeping); open it with xarray.open_zarr or zarr.open_group "
                         "instead.")
    for node in _nodes(root):
        _, problem = _read_metadata(node / "zarr.json")
        if problem is not None:
            damage.metadata[node.name] = problem
    damage.missing = [name for name in REQUIRED if not (root / name).is_dir()]
    if damage:
        damage.intact = [n.name for n in _nodes(root) if n.name not in damage.metadata]
        raise StoreDamaged(damage)


def _readable(array, index: tuple[slice, ...] | None = None) -> bool:
    """Whether ``array[index]`` (all of it for None) reads back: every chunk decodes, checksums included, in
    one of ``READ_ATTEMPTS`` tries (``store.read_block``: a torn read of a shard a task replaced meanwhile
    decodes on the next try)."""
    try:
        read_block(array, index if index is not None else ...)
    except Exception:  # noqa: BLE001 - any decoding failure is the damage being looked for
        return False
    return True


def diagnose(path: str | os.PathLike | Location) -> Damage:
    """Everything damaged in the store at ``path``: its metadata documents (as ``check_metadata``), and every
    array read back, along the sweep dims one task block at a time (so a damaged block is named even inside a
    shard of many). Reads the whole store: for after a read has failed, or ``synsweep inspect --verify``."""
    import zarr

    from .chunks import ChunkPlan

    try:
        check_metadata(path)
    except StoreDamaged as exc:
        return exc.damage
    except StoreError:
        return Damage(str(path))
    root = _local(path)
    damage = Damage(str(path))
    if root is None:
        return damage
    group = zarr.open_group(root, mode="r", zarr_format=ZARR_FORMAT)
    status = group["status"]
    sweep_dims = tuple(status.metadata.dimension_names or ())
    meta = _bookkeeping(root)
    plan = ChunkPlan(tuple(status.shape), tuple(meta.get("chunk_shape") or status.chunks))
    blocks: set[int | str] = set()
    for name, array in sorted(group.arrays()):
        dims = tuple(array.metadata.dimension_names or ())
        if sweep_dims and dims[: len(sweep_dims)] == sweep_dims:
            bad = [chunk_id for chunk_id, index in plan.blocks() if not _readable(array, index)]
        elif dims[:1] == ("traced_point",):
            bad = [] if _readable(array) else [TRACES_ID]
        else:
            if not _readable(array):  # a coordinate: part of the template, which no task writes
                damage.coordinates.append(name)
            else:
                damage.intact.append(name)
            continue
        if bad:
            damage.chunks[name] = bad
            blocks.update(bad)
        else:
            damage.intact.append(name)
    damage.blocks = sorted(blocks, key=lambda b: (isinstance(b, str), b))
    return damage


def forget_damaged(path: str | os.PathLike | Location, damage: Damage) -> list[int | str]:
    """Make a store whose only damage is unreadable blocks resumable: delete each stored object (chunk, or
    shard of chunks) that holds an unreadable block, and remove the completion entries of every block those
    objects held (``forget_blocks``), so that ``--resume`` computes exactly them again. Returns those blocks."""
    import zarr

    from .chunks import ChunkPlan

    if damage.metadata or damage.missing or damage.coordinates:
        raise StoreDamaged(damage)
    loc = location(path)
    group = zarr.open_group(loc.zarr_store(), mode="r+", zarr_format=ZARR_FORMAT)
    status = group["status"]
    meta = _bookkeeping(loc)
    plan = ChunkPlan(tuple(status.shape), tuple(meta.get("chunk_shape") or status.chunks))
    forget: set[int | str] = set()
    for name, bad in damage.chunks.items():
        array = group[name]
        outer = tuple(array.metadata.chunk_grid.chunk_shape)
        objects: set[tuple[int, ...]] = set()
        for block in bad:
            if block == TRACES_ID:
                objects.update(_all_chunks(array.shape, outer))
                forget.add(TRACES_ID)
                continue
            start = [s.start for s in plan.block(int(block))]
            lead = tuple(int(a // o) for a, o in zip(start, outer, strict=False))
            objects.add(lead + (0,) * (len(outer) - len(lead)))  # whole along neuron, pair, time
        for coords in objects:
            loc.delete(f"{name}/{array.metadata.encode_chunk_key(coords)}")
            region = [(c * o, (c + 1) * o) for c, o in zip(coords, outer, strict=False)][: len(plan.shape)]
            forget.update(chunk_id for chunk_id, index in plan.blocks()
                          if block_within(index, region))
    blocks = sorted(forget, key=lambda b: (isinstance(b, str), b))
    forget_blocks(loc, blocks)
    return blocks


def _bookkeeping(path: str | os.PathLike | Location) -> dict:
    """The attributes of the store's bookkeeping group (empty when it cannot be read)."""
    from .store import store_attrs

    try:
        return store_attrs(path, META_GROUP)
    except Exception:  # noqa: BLE001 - the block shape then comes from the status array
        return {}


def block_within(index: tuple[slice, ...], region: list[tuple[int, int]]) -> bool:
    return all(lo <= s.start and s.stop <= hi for s, (lo, hi) in zip(index, region, strict=True))


def _all_chunks(shape: tuple[int, ...], outer: tuple[int, ...]) -> list[tuple[int, ...]]:
    import itertools

    return list(itertools.product(*(range(-(-n // c)) for n, c in zip(shape, outer, strict=True))))


def forget_blocks(path: str | os.PathLike | Location, blocks: list[int | str]) -> int:
    """Remove the completion entries of ``blocks`` from the store's records, so that ``--resume`` computes them
    again; returns how many entries were removed. Works on per-shard records (``{"chunks": {id: info}}``,
    changed with a conditional write) and on the one-file-per-block markers of older stores."""
    from .location import Conflict

    loc = location(path)
    wanted = {str(b) for b in blocks}
    removed = 0
    for name in loc.names(f"{META_GROUP}/done/"):
        key = f"{META_GROUP}/done/{name}"
        if name in wanted:  # an older store's marker
            loc.delete(key)
            removed += 1
            continue
        while True:
            data, version = loc.read_versioned(key)
            try:
                record = json.loads(data) if data else None
            except ValueError:
                break
            chunks = record.get("chunks") if isinstance(record, dict) else None
            if not isinstance(chunks, dict) or not wanted & set(chunks):
                break
            kept = {k: v for k, v in chunks.items() if k not in wanted}
            try:
                loc.write_if(key, json.dumps({**record, "chunks": kept}).encode(), version)
            except Conflict:
                continue
            removed += len(chunks) - len(kept)
            break
    return removed
