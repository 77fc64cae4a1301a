"""Finding what is damaged in a result store, and saying what can still be recovered.

    check_metadata(path)      # cheap, before a store is opened: StoreDamaged / StoreError, else None
    damage = diagnose(path)   # after a read failed: every metadata file and every chunk read back
    if damage: raise StoreDamaged(damage)

A store is damaged when a metadata document (``zarr.json`` of the group or of an array) is not valid
JSON, when an array the layout needs (``status``) is missing, or when a chunk cannot be decoded. Every
chunk written since synsweep 0.1 carries a crc32c checksum (zarr 3's ``crc32c`` codec, after the
compressor), so a truncated or overwritten chunk fails to decode instead of being read as wrong values.

What can be recovered, in the message of ``StoreDamaged``: a damaged chunk of a variable along the sweep
dims belongs to one task block; removing that block's completion marker (``.synsweep/done/<chunk_id>``,
the message names the command) and running ``synsweep run ... --resume`` recomputes exactly those blocks
and nothing else. A damaged metadata document (the template) is not recomputed by ``--resume``: the
intact variables are named, and ``--overwrite`` recomputes the whole sweep.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .store import META_GROUP, TRACES_ID, ZARR_FORMAT, StoreError

REQUIRED = ("status",)  # arrays every synsweep result has


@dataclass
class Damage:
    """What ``diagnose`` found in the store at ``path``."""

    path: str
    metadata: dict[str, str] = field(default_factory=dict)  # node ("" = the root group) -> problem
    missing: list[str] = field(default_factory=list)  # required arrays that are not there
    chunks: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)  # array -> unreadable chunk indices
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
            shown = ", ".join(".".join(map(str, i)) for i in idx[:5]) + (" ..." if len(idx) > 5 else "")
            parts.append(f"{len(idx)} chunk{'s' if len(idx) > 1 else ''} of {name!r} cannot be read back "
                         f"(truncated or overwritten: {shown})")
        text = f"the result store {self.path} is damaged: " + "; ".join(parts) + "."
        if self.intact:
            text += f" Intact: {', '.join(self.intact[:12])}{' ...' if len(self.intact) > 12 else ''}."
        if self.metadata or self.missing or self.coordinates:
            text += (" The store's template is damaged, which --resume cannot repair: restore the store from a "
                     "copy, or run the spec again with --overwrite to recompute it (the intact arrays can still be "
                     "read one by one with zarr.open_array).")
        elif self.blocks:
            ids = [str(b) for b in self.blocks]
            done = Path(self.path) / META_GROUP / "done"
            target = f"{done}/{ids[0]}" if len(ids) == 1 else f"{done}/{{{','.join(ids)}}}"
            text += (f" Every other chunk is intact. To recompute only the damaged block"
                     f"{'s' if len(ids) > 1 else ''} ({', '.join(ids)}), remove {'its' if len(ids) == 1 else 'their'}"
                     f" completion marker{'s' if len(ids) > 1 else ''} (rm {target}) and run the same spec again "
                     f"with --resume.")
        return text


class StoreDamaged(StoreError):
    """The store exists but parts of it cannot be read; ``damage`` says which (``Damage.message``)."""

    def __init__(self, damage: Damage):
        super().__init__(damage.message())
        self.damage = damage


def _local(path: str | os.PathLike) -> Path | None:
    p = Path(path)
    return p if p.is_dir() else None


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


def check_metadata(path: str | os.PathLike) -> None:
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


def unreadable_chunks(array) -> list[tuple[int, ...]]:
    """Chunk grid indices of ``array`` (a zarr Array) whose stored bytes fail to decode (checksum, codec)."""
    grid = tuple(-(-s // c) for s, c in zip(array.shape, array.chunks, strict=True))
    bad: list[tuple[int, ...]] = []
    for index in np.ndindex(*grid):
        try:
            array.get_block_selection(index)
        except Exception:  # noqa: BLE001 - any decoding failure is the damage being looked for
            bad.append(tuple(int(i) for i in index))
    return bad


def diagnose(path: str | os.PathLike) -> Damage:
    """Everything damaged in the store at ``path``: its metadata documents (as ``check_metadata``) and every
    chunk of every array, read back and decoded. Reads the whole store: for after a read has failed."""
    import zarr

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
    grid = tuple(-(-s // c) for s, c in zip(status.shape, status.chunks, strict=True))
    blocks: set[int | str] = set()
    for name, array in sorted(group.arrays()):
        bad = unreadable_chunks(array)
        if not bad:
            damage.intact.append(name)
            continue
        damage.chunks[name] = bad
        dims = tuple(array.metadata.dimension_names or ())
        if dims[: len(sweep_dims)] == sweep_dims and sweep_dims:
            blocks.update(int(np.ravel_multi_index(i[: len(sweep_dims)], grid)) for i in bad)
        elif dims[:1] == ("traced_point",):
            blocks.add(TRACES_ID)
        else:  # a coordinate: part of the template, which no task writes
            damage.coordinates.append(name)
    damage.blocks = sorted(blocks, key=lambda b: (isinstance(b, str), b))
    return damage
