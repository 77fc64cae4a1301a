"""Refined sweeps on a real dask cluster and zarr store: the same points and values whatever the chunking and
the number of workers, and an interrupted refinement resumes at the level it reached."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr
from distributed import Client

from synsweep.sweeps.refine import level_todo
from synsweep.sweeps.result import open_result
from synsweep.sweeps.runner import execute
from synsweep.sweeps.spec import load_spec
from synsweep.sweeps.store import META_GROUP, ZARR_FORMAT
from tests.specs import hh_pair_doc

VARIABLES = ("status", "spike_count", "pearson")


def refined_doc(chunk_points: int) -> dict:
    """The HH pair on a 17 x 17 grid of g x I_ext, refined in 3 levels around the firing onset of n1."""
    doc = hh_pair_doc("refined", [0.0], duration=50.0, chunk_points=chunk_points)
    doc["simulation"]["transient"] = 20.0
    doc["sweep"][0]["values"] = [float(v) for v in np.linspace(0.0, 0.01, 17)]
    doc["sweep"][1]["linspace"] = {"start": 0.0, "stop": 0.16, "num": 17}
    # the default metrics (spike_count and pearson among them): the kernel of the CLI and serve tests' pair
    doc["refine"] = {"levels": 3, "criteria": [{"metric": "spike_count", "neuron": "n1", "threshold": 1}]}
    return doc


@pytest.fixture(scope="module")
def client():
    with Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=":0") as c:
        yield c


@pytest.fixture(scope="module")
def reference(client, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("refine") / "a.zarr"
    report = execute(load_spec(refined_doc(64)), out, client=client, progress=False)
    assert [lv for lv, _ in report.levels] == [0, 1, 2, 3] and not report.failed
    from synsweep.sweeps.chunks import plan_chunks
    from synsweep.sweeps.store import done_chunks

    assert set(range(plan_chunks(load_spec(refined_doc(64))).n_chunks)) <= done_chunks(out)  # finished
    return out


def values(path: Path) -> dict[str, np.ndarray]:
    ds = open_result(path)
    return {name: ds[name].values for name in VARIABLES}


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    for name in VARIABLES:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.slow
def test_refinement_locates_the_onset_with_a_fraction_of_the_points(reference):
    ds = open_result(reference)
    computed = ds.status.values != 0
    assert computed[::8, ::8].all() and 0.1 < computed.mean() < 0.5
    fires = ds.spike_count.sel(neuron="n1").values >= 1
    # along I_ext at every g: the onset is bracketed by computed neighbours one grid step apart
    for row, seen in zip(fires, computed, strict=True):
        idx = np.flatnonzero(seen)
        switch = np.flatnonzero(row[idx][1:] != row[idx][:-1])
        assert switch.size >= 1 and all(idx[k + 1] - idx[k] == 1 for k in switch)


@pytest.mark.slow
def test_same_points_and_values_whatever_the_chunking_and_workers(reference, tmp_path):
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0") as one:
        execute(load_spec(refined_doc(7)), tmp_path / "b.zarr", client=one, progress=False)
    assert_same(values(reference), values(tmp_path / "b.zarr"))


def test_interrupted_refinement_resumes_at_the_level_reached(reference, client, tmp_path):
    spec = load_spec(refined_doc(64))
    out = tmp_path / "c.zarr"
    shutil.copytree(reference, out)
    # the state a run stopped during level 3 leaves: level 3's points not written, and one block of level 2
    # written but not marked done
    last = level_todo(spec, out, 3)
    group = zarr.open_group(out, mode="r+", zarr_format=ZARR_FORMAT)
    for name in VARIABLES:
        arr = group[name]
        data = arr[...]
        data[last] = arr.fill_value
        arr[...] = data
    done = out / META_GROUP / "done"
    for marker in [*done.glob("r3-*"), *(m for m in done.iterdir() if m.name.isdigit())]:
        marker.unlink()  # level 3 and the end of the refinement never marked
    level2 = sorted(done.glob("r2-*"))
    level2[0].unlink()
    report = execute(spec, out, client=client, progress=False, resume=True)
    assert report.n_points == int(last.sum()) + int(level_todo(spec, out, 2)[
        spec_block(spec, level2[0].name)].sum())
    assert sorted(report.computed) == sorted([level2[0].name, *(f"r3-{c}" for c in level3_blocks(spec, last))])
    assert_same(values(reference), values(out))
    again = execute(spec, out, client=client, progress=False, resume=True)
    assert again.n_points == 0 and not again.computed


def spec_block(spec, marker: str) -> tuple[slice, ...]:
    from synsweep.sweeps.chunks import plan_chunks

    return plan_chunks(spec).block(int(marker.rpartition("-")[2]))


def level3_blocks(spec, todo: np.ndarray) -> list[int]:
    from synsweep.sweeps.chunks import plan_chunks

    return [c for c, index in plan_chunks(spec).blocks() if todo[index].any()]
