"""The store layout for large sweeps: shards of many task blocks, completion records per shard, conditional
writes that keep concurrent tasks of one shard from losing each other's blocks (local disk; the same against S3
in tests/integration/test_object_storage.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import zarr

from synsweep.sweeps.chunks import ChunkPlan
from synsweep.sweeps.location import Conflict, location
from synsweep.sweeps.store import SHARD_POINTS, done_info, mark_done, record_name, shard_shape_for, write_block

from ..concurrent_writers import WIDTH, lost_rows, prepare

ROOT = Path(__file__).resolve().parents[2]


def test_shards_are_whole_blocks_of_at_most_shard_points():
    plan = ChunkPlan((1000, 10_000), (1, 4096))  # 10^7 points, blocks of 4096
    shards = shard_shape_for(plan)
    assert shards[1] % 4096 == 0 and shards[0] * shards[1] <= SHARD_POINTS
    assert shards == (10, 12288)  # 3 blocks along the last dim (its whole length), 10 rows
    big = ChunkPlan((100,), (100,))
    assert shard_shape_for(big, bytes_per_point=1 << 30) == (100,)  # never less than one block
    assert shard_shape_for(ChunkPlan((10**4, 10**4), (1, 10_000))) == (13, 10_000)  # 10^8 points: 770 shards


def test_record_name_numbers_shards_in_c_order():
    plan = ChunkPlan((6, 10), (1, 5))
    names = {record_name(plan, (2, 10), index) for _, index in plan.blocks()}
    assert names == {"shard-0", "shard-1", "shard-2"}
    assert record_name(plan, (2, 10), (slice(5, 6), slice(5, 10))) == "shard-2"
    assert record_name(plan, (2, 10), None) == "traces"


def test_conditional_write_refuses_a_changed_or_created_object(tmp_path):
    loc = location(tmp_path / "s.zarr")
    data, version = loc.read_versioned("k")
    assert data is None and version is None
    v1 = loc.write_if("k", b"one", None)
    with pytest.raises(Conflict):
        loc.write_if("k", b"two", None)  # created since it was read as absent
    loc.write_if("k", b"three", v1)
    with pytest.raises(Conflict):
        loc.write_if("k", b"four", v1)  # changed since
    assert loc.read("k") == b"three"


def test_completion_records_of_concurrent_tasks_keep_every_entry(tmp_path):
    out = tmp_path / "s.zarr"
    threads = [threading.Thread(target=mark_done, args=(out, k, {"k": k}, "shard-0")) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert done_info(out) == {k: {"k": k} for k in range(16)}


def test_concurrent_writers_of_one_shard_lose_nothing(tmp_path):
    store, writers, rounds = str(tmp_path / "c.zarr"), 4, 10
    prepare(store, writers)
    procs = [subprocess.Popen([sys.executable, "-m", "tests.concurrent_writers", store, str(k), str(rounds)],
                              cwd=ROOT) for k in range(writers)]
    assert [p.wait(timeout=120) for p in procs] == [0] * writers
    assert lost_rows(store, writers, rounds) == []


def test_a_task_that_read_a_shard_before_another_wrote_it_does_not_lose_that_write(tmp_path, monkeypatch):
    """The interleaving that lost data in a first version, made deterministic: task E reads the shard of ``b``
    while it is absent and waits; task O writes its row; then E writes a row of fill values only, which zarr,
    left to itself, turns into deleting the shard it read as empty."""
    from synsweep.sweeps import location as location_module

    store = str(tmp_path / "i.zarr")
    prepare(store, 2)
    read = location_module.LocalLocation.read_versioned
    paused, resume = threading.Event(), threading.Event()

    def read_versioned(self, key):
        got = read(self, key)
        if key == "b/c/0/0" and not paused.is_set():  # the first read of b's shard: task E's
            paused.set()
            resume.wait(30)
        return got

    monkeypatch.setattr(location_module.LocalLocation, "read_versioned", read_versioned)
    task_e = threading.Thread(target=write_block, args=(store, (slice(0, 1), slice(0, WIDTH)),
                                                        {"b": np.full(WIDTH, -1)}))
    task_e.start()
    assert paused.wait(30)
    write_block(store, (slice(1, 2), slice(0, WIDTH)), {"b": np.full(WIDTH, 7)})  # task O
    resume.set()
    task_e.join(30)
    b = zarr.open_array(location(store).zarr_store(read_only=True), path="b", mode="r")[:]
    assert (b[1] == 7).all() and (b[0] == -1).all()


def test_store_parameter_keeps_paths_and_checks_urls_before_anything_runs():
    import click

    from synsweep.sweeps.location import ObjectLocation
    from synsweep.workflows.store_param import STORE

    assert STORE.convert("out/scan.zarr", None, None) == Path("out/scan.zarr")
    assert STORE.convert("file:///tmp/scan.zarr", None, None) == Path("/tmp/scan.zarr")
    loc = STORE.convert("s3://bucket/sweeps/scan.zarr", None, None)  # built, not contacted
    assert isinstance(loc, ObjectLocation) and loc.name == "scan.zarr" and str(loc) == "s3://bucket/sweeps/scan.zarr"
    with pytest.raises(click.BadParameter, match="not a store location obstore understands"):
        STORE.convert("nosuchscheme://bucket/x.zarr", None, None)


def test_a_plain_open_zarr_does_not_warn_and_variables_are_sharded(tmp_path):
    import warnings

    import xarray as xr

    from synsweep.sweeps import load_spec
    from synsweep.sweeps.chunks import plan_chunks
    from synsweep.sweeps.store import create_store

    from ..specs import hh_pair_doc

    spec = load_spec(hh_pair_doc("layout", [0.0, 0.004, 0.008], duration=10, chunk_points=5))
    plan = plan_chunks(spec)
    create_store(spec, plan, tmp_path / "t.zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = xr.open_zarr(tmp_path / "t.zarr")  # consolidated metadata: no "falling back" warning, one read
    assert "status" in ds and ds.status.encoding["preferred_chunks"] == dict(zip(ds.status.dims, plan.chunk_shape,
                                                                                 strict=True))
    status = zarr.open_array(tmp_path / "t.zarr" / "status", mode="r")
    assert status.shards == spec.shape and status.chunks == plan.chunk_shape  # one shard of 6 task blocks
