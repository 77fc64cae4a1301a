"""Processes writing different task blocks of one shard at once (for the store tests, local disk and S3).

    python -m tests.concurrent_writers STORE K ROUNDS   # run as writer K: ROUNDS writes of row K

``prepare(store, writers)`` makes the arrays: ``a`` and ``b`` of shape (writers, 8), inner chunks of one row, one
shard of all rows. Writer K writes row K of ``a`` as ``100 K + round`` in every round. In ``b`` the even writers
write rows of the fill value (-1) in every round and the odd ones their row once, halfway: zarr treats a shard of
fill values only as one to delete, and an even writer that read ``b`` while it was still absent must not delete
the row an odd writer wrote since. ``lost_rows(store, writers, rounds)`` names the rows that were lost.
"""

from __future__ import annotations

import sys

import numpy as np
import zarr

from synsweep.sweeps.location import location
from synsweep.sweeps.store import write_block

WIDTH = 8


def prepare(store: str, writers: int) -> None:
    loc = location(store)
    group = zarr.open_group(loc.zarr_store(), mode="w", zarr_format=3)
    for name in "ab":
        group.create_array(name, shape=(writers, WIDTH), chunks=(1, WIDTH), shards=(writers, WIDTH), dtype="int64",
                           fill_value=-1)


def write(store: str, k: int, rounds: int) -> None:
    for r in range(rounds):
        arrays = {"a": np.full(WIDTH, 100 * k + r)}  # flat: (points,)
        if k % 2 == 0:
            arrays["b"] = np.full(WIDTH, -1)
        elif r == rounds // 2:
            arrays["b"] = np.full(WIDTH, 100 * k + r)
        write_block(store, (slice(k, k + 1), slice(0, WIDTH)), arrays)


def lost_rows(store: str, writers: int, rounds: int) -> list[str]:
    loc = location(store)
    a = zarr.open_array(loc.zarr_store(read_only=True), path="a", mode="r")[:]
    b = zarr.open_array(loc.zarr_store(read_only=True), path="b", mode="r")[:]
    lost = [f"a[{k}]" for k in range(writers) if not (a[k] == 100 * k + rounds - 1).all()]
    lost += [f"b[{k}]" for k in range(writers) if not (b[k] == (-1 if k % 2 == 0 else 100 * k + rounds // 2)).all()]
    return lost


if __name__ == "__main__":
    write(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
