"""What the web app knows about the stores under its folder: where they are, a one-row summary of each, and
the progress of a run that is writing one now. Everything here only reads.

    root = Path("results")
    for path in find_stores(root): summary(root, path)     # title, dims, completion, spec hash, created
    path = resolve(root, "scans/coupling_scan.zarr")       # a path under root, or OutsideRoot
    progress(path, seen)                                   # points done now, and over time as sampled

Paths: the app names a store by its path relative to the served folder; ``resolve`` refuses anything that
does not end up inside that folder once symbolic links and ``..`` are resolved (``OutsideRoot``).
Completion reads ``status`` with zarr directly (``synsweep.sweeps.store.status_counts``): ok, diverged, not
computed and flagged points (status runaway: a neuron fires faster than the step resolves, its synchrony
metrics NaN), and the chunks whose last attempt failed (their failure records).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from synsweep.sweeps.store import failed_chunks, is_store, status_counts, store_attrs

MAX_DEPTH = 4  # folders below the served one searched for stores


class OutsideRoot(ValueError):
    """A requested path that is not inside the served folder, or is not a result store."""


def find_stores(root: Path, max_depth: int = MAX_DEPTH) -> list[Path]:
    """The result stores (folders with a zarr ``zarr.json`` and a ``status`` array) under ``root``, sorted;
    ``root`` itself when it is one. Hidden folders and the insides of stores are not searched."""
    root = root.resolve()
    if _is_result(root):
        return [root]
    found: list[Path] = []
    for folder, subdirs, _ in os.walk(root):
        depth = len(Path(folder).relative_to(root).parts)
        keep = []
        for name in sorted(subdirs):
            path = Path(folder) / name
            if name.startswith("."):
                continue
            if _is_result(path):
                found.append(path)
            elif depth + 1 < max_depth:
                keep.append(name)
        subdirs[:] = keep
    return sorted(found)


def _is_result(path: Path) -> bool:
    return is_store(path) and (path / "status" / "zarr.json").is_file()


def resolve(root: Path, name: str) -> Path:
    """The store ``name`` (relative to ``root``, as ``find_stores`` lists it); OutsideRoot when it leaves
    ``root`` or is not a result store."""
    root = root.resolve()
    path = (root / name).resolve()
    if path != root and root not in path.parents:
        raise OutsideRoot(f"{name!r} is outside the served folder")
    if not _is_result(path):
        raise OutsideRoot(f"{name!r} is not a result store under the served folder")
    return path


def relative(root: Path, path: Path) -> str:
    """The name of ``path`` in the app: relative to ``root`` ('.' for the root itself)."""
    rel = path.resolve().relative_to(root.resolve()).as_posix()
    return rel or "."


def _dims(path: Path) -> dict[str, int]:
    meta = json.loads((path / "status" / "zarr.json").read_text())
    return dict(zip(meta.get("dimension_names") or [], meta.get("shape") or [], strict=False))


def summary(root: Path, path: Path) -> dict[str, Any]:
    """One row of the store list: name, title, model names, dims and sizes, completion, spec hash, created,
    and whether a run is writing it now. Cheap: the metadata and the ``status`` array only."""
    from synsweep.sweeps.lock import is_locked

    attrs = store_attrs(path)
    ok, diverged, not_computed, runaway = status_counts(path)
    return {
        "path": relative(root, path),
        "name": str(attrs.get("name", path.stem)),
        "title": str(attrs.get("title", attrs.get("name", path.stem))),
        "models": models(attrs),
        "dims": _dims(path),
        "points": ok + diverged + not_computed + runaway,
        "ok": ok, "diverged": diverged, "not_computed": not_computed, "flagged": runaway,
        "failed_chunks": len(failed_chunks(path)),
        "spec_hash": str(attrs.get("spec_hash", "")),
        "created": str(attrs.get("created", "")),
        "running": bool(is_locked(path)),
    }


def models(attrs: dict[str, Any]) -> list[str]:
    """The neuron and synapse model names of the stored spec (empty without one)."""
    try:
        spec = json.loads(attrs.get("spec", ""))
    except (TypeError, ValueError):
        return []
    circuit = spec.get("circuit", {}) if isinstance(spec, dict) else {}
    names: list[str] = []
    for group in ("neurons", "synapses"):
        entries = circuit.get(group, {})
        for entry in entries.values() if isinstance(entries, dict) else entries:
            model = entry.get("model") if isinstance(entry, dict) else None
            if isinstance(model, str) and model not in names:
                names.append(model)
    return names


def matches(row: dict[str, Any], query: str) -> bool:
    """Whether a list row matches the search ``query`` (every word in the name, title, path or models)."""
    text = " ".join([row["name"], row["title"], row["path"], *row["models"]]).lower()
    return all(word in text for word in query.lower().split())


def progress(path: Path, seen: list[tuple[float, int]] | None = None) -> dict[str, Any]:
    """Points done over time: ``times`` (s since the first sample) and cumulative ``points``, the ``total``,
    the number of written ``chunks``, and whether a run is writing the store now.

    The completion records (``synsweep.sweeps.store.done_info``) give the points done now; they carry no
    time, so the samples are the app's own: ``seen`` (kept by the caller per store) gets ``(now, points)``
    whenever the count changed since its last sample, and the series is those samples."""
    from synsweep.sweeps.lock import is_locked
    from synsweep.sweeps.store import done_info

    infos = [info for chunk, info in done_info(path).items() if isinstance(chunk, int)]
    done = sum(int(info.get("n_points", 0)) + int(info.get("n_copied", 0)) for info in infos)
    seen = [] if seen is None else seen
    if not seen or seen[-1][1] != done:
        seen.append((time.time(), done))
    t0 = seen[0][0]
    total = int(np.prod(list(_dims(path).values()) or [0], dtype=np.int64))
    return {"times": [t - t0 for t, _ in seen], "points": [n for _, n in seen], "total": total,
            "running": bool(is_locked(path)), "chunks": len(infos)}
