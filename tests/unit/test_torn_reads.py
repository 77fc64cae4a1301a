"""Torn reads: a reader of a store that a run is writing reads a shard's index, then a chunk at the index's
offsets; a task that replaces the shard in between (an atomic rename of the whole file) makes that chunk a
piece of the new shard, which fails its checksum. Readers try a block read again (``store.read_block``) before
calling the store damaged. Simulated for real: between the two reads, the shard file is replaced by the same
shard after another task's write (made in a copy of the store with ``write_block``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr
import zarr.storage
from zarr.abc.store import RangeByteRequest

from synsweep.sweeps import load_spec
from synsweep.sweeps import store as store_module
from synsweep.sweeps.chunks import plan_chunks
from synsweep.sweeps.damage import diagnose
from synsweep.sweeps.store import create_store, read_block, write_block
from tests.specs import hh_pair_doc


@pytest.fixture
def torn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """(store, block index, the block's values, replacements made so far, rearm): the traces of a store of 6
    blocks in one shard, 5 written, whose shard is replaced by the one with the 6th block too (which moves the
    others along the file) the first time a chunk of it is read."""
    doc = hh_pair_doc("torn", [0.0, 0.004, 0.008], duration=5, chunk_points=5,
                      record={"variables": ["v"], "every": 5, "points": "all"})
    spec = load_spec(doc)
    plan = plan_chunks(spec)
    old, new = tmp_path / "old.zarr", tmp_path / "new.zarr"
    create_store(spec, plan, old)
    traces = zarr.open_array(old / "trace_v", mode="r")
    assert traces.shards == traces.shape and len(list(plan.blocks())) == 6  # one shard of 6 blocks
    blocks = [index for _, index in plan.blocks()]
    rng = np.random.default_rng(0)
    values = [rng.normal(size=(5, *traces.shape[2:])) for _ in blocks]
    for index, v in zip(blocks[1:], values[1:], strict=True):
        write_block(old, index, {"trace_v": v})
    shutil.copytree(old, new)
    write_block(new, blocks[0], {"trace_v": np.zeros_like(values[0])})  # the task still running
    [shard] = [p for p in (old / "trace_v").rglob("*") if p.is_file() and p.name != "zarr.json"]
    replacement, before = (new / shard.relative_to(old)).read_bytes(), shard.read_bytes()
    assert len(replacement) != len(before)  # the blocks after the new one moved
    replaced: list[int] = []
    get = zarr.storage.LocalStore.get

    async def get_while_a_task_writes(self, k, prototype, byte_range=None):
        chunk = isinstance(byte_range, RangeByteRequest)  # a chunk's bytes, at the offsets the index gave
        if chunk and not replaced and Path(self.root) / k == shard:
            tmp = shard.with_name(".replacing")
            tmp.write_bytes(replacement)
            os.replace(tmp, shard)  # the task's atomic write of the whole shard
            replaced.append(1)
        return await get(self, k, prototype, byte_range)

    def rearm() -> None:
        """The shard as before the task's write, replaced again at the next chunk read."""
        shard.write_bytes(before)
        replaced.clear()

    monkeypatch.setattr(zarr.storage.LocalStore, "get", get_while_a_task_writes)
    return old, blocks[-1], values[-1], replaced, rearm


def test_a_torn_read_fails_once_then_reads_the_new_shard(torn, monkeypatch) -> None:
    path, index, values, replaced, _ = torn
    traces = zarr.open_array(path / "trace_v", mode="r")
    monkeypatch.setattr(store_module, "READ_ATTEMPTS", 1)  # no second try: the torn read is a decode error
    with pytest.raises(Exception):  # noqa: B017 - whatever the codec raises (a checksum mismatch)
        read_block(traces, index)
    assert replaced == [1]
    np.testing.assert_array_equal(read_block(traces, index)[0], values)  # and the next read is whole


def test_readers_try_again_before_calling_the_store_damaged(torn) -> None:
    path, index, values, replaced, _ = torn
    traces = zarr.open_array(path / "trace_v", mode="r")
    got = read_block(traces, index)
    assert replaced == [1]  # the shard was replaced between its index and its chunk: the first try failed
    np.testing.assert_array_equal(got[0], values)
    assert not diagnose(path)  # intact, once read whole


def test_diagnose_retries_a_torn_block(torn) -> None:
    path, _, _, replaced, _ = torn
    damage = diagnose(path)  # reads block by block: the first chunk read of the traces is torn
    assert replaced == [1] and not damage, damage.message() if damage else ""


def test_a_command_on_a_store_being_written_runs_once_more_after_a_torn_read(torn) -> None:
    """The analysis commands read through xarray and dask, not ``read_block``: a failure on a store that reads
    back intact while a run holds its lock is taken for a torn read, and the command runs once more."""
    from synsweep.sweeps.lock import acquire
    from synsweep.workflows.exits import reports_user_errors

    path, index, values, replaced, rearm = torn
    calls: list[int] = []

    @reports_user_errors
    def command(result: Path) -> np.ndarray:
        calls.append(1)
        return np.asarray(zarr.open_array(result / "trace_v", mode="r")[index])  # no retry of its own

    with pytest.raises(Exception):  # noqa: B017 - no run holds the lock: the failure is the command's own
        command(result=path)
    assert calls == [1] and replaced == [1]
    rearm()
    calls.clear()
    lock = acquire(path)  # a run is writing the store
    try:
        np.testing.assert_array_equal(command(result=path)[0], values)
    finally:
        lock.release()
    assert calls == [1, 1] and replaced == [1]
