"""One kernel per sweep (``synsweep.sweeps.plan``): the key computed once from the spec is the one every task
loads and the one ``synsweep validate --compile`` compiles; a delay sweep compiles one kernel; a delay ring
longer than a point needs changes none of its results; a key that does not fit a batch is refused."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from synsweep.engine import kernels, simulate
from synsweep.engine.simulate import check_key, kernel_key
from synsweep.sweeps import runner
from synsweep.sweeps.plan import task_plan
from synsweep.sweeps.result import open_result
from synsweep.sweeps.spec import load_spec
from synsweep.workflows.cli import cli

simulate_module = importlib.import_module("synsweep.engine.simulate")  # the package's simulate is the function

DELAYS = [0.0, 0.1, 0.5, 2.0, 5.0]  # ms; with dt = 0.1: 0, 1, 5, 20, 50 steps, rings of 1, 4, 8, 32, 64 slots
DOC = {
    "name": "delay-scan",
    "circuit": {
        "neurons": {"n1": {"model": "lif"}, "n2": {"model": "lif"}},
        "synapses": {"syn": {"model": "exponential", "pre": "n1", "post": "n2", "output": "cuba",
                             "params": {"w": 8.0}}},
        "inputs": {"n1": 30.0, "n2": 15.0},
    },
    "simulation": {"dt": 0.1, "duration": 60.0},
    "sweep": [{"name": "delay", "paths": ["synapses.syn.params.delay"], "values": DELAYS}],
    "metrics": ["spike_count", "rate_isi", "coincidence"],
    "record": {"variables": ["v"], "every": 5},
    "execution": {"chunk_points": 1},
}


@pytest.fixture(scope="module")
def spec():
    return load_spec(DOC)


def test_the_plan_holds_one_kernel_with_the_ring_of_the_largest_delay(spec):
    tasks = task_plan(spec)
    assert tasks.kernels == (tasks.kernel,) and tasks.traced_kernel is None
    assert tasks.kernel.synapses[0][4] == 64  # 50 steps of the 5 ms delay, and one slot of headroom
    # what each block derived from its own delay before the plan: five different rings, five kernels
    blocks = [spec.point_values((slice(k, k + 1),)) for k in range(len(DELAYS))]
    own = {kernel_key(spec.circuit, spec.simulation, v, tasks.record, spec.metrics) for v in blocks}
    assert len(own) == len(DELAYS) and tasks.kernel in own


def test_listed_record_points_add_one_kernel_for_their_batch():
    tasks = task_plan(load_spec({**DOC, "record": {"variables": ["v"], "points": [{"delay": 2.0}]}}))
    assert tasks.record == () and tasks.kernel.record == () and tasks.traces.points == ((3,),)
    assert tasks.kernels == (tasks.kernel, tasks.traced_kernel)
    # the batch's kernel differs only by its traces: the same rings (the sweep's largest delay) and varying rows
    assert tasks.traced_kernel.record and tasks.traced_kernel == dataclasses.replace(
        tasks.kernel, record=tasks.traced_kernel.record)


def test_tasks_load_exactly_the_kernels_validate_compiles(spec, tmp_path: Path, monkeypatch):
    tasks = task_plan(spec)
    loaded: list = []
    real_get = kernels.get_kernel

    def recording_get(key):
        loaded.append(key)
        return real_get(key)

    monkeypatch.setattr(kernels, "get_kernel", recording_get)  # the CLI's validate imports it from here
    monkeypatch.setattr(simulate_module, "get_kernel", recording_get)  # the engine's own runs
    path = tmp_path / "delay.yaml"
    path.write_text(yaml.safe_dump(DOC))
    result = CliRunner().invoke(cli, ["validate", str(path), "--compile"])
    assert result.exit_code == 0, result.output
    assert "kernel ready in" in result.output
    validated = set(loaded)
    assert validated == set(tasks.kernels)

    loaded.clear()
    out = tmp_path / "delay.zarr"
    with runner.claim_store(spec, out, resume=False, overwrite=False) as plan:
        assert plan.n_chunks == len(DELAYS)
        for chunk_id, index in plan.blocks():
            runner.run_chunk(spec, tasks, str(out), chunk_id, index)
    assert len(loaded) == len(DELAYS) and set(loaded) == validated  # one kernel, the validated one
    assert not np.array_equal(*open_result(out)["trace_v"].values[[0, -1], 1])  # the delay matters


@pytest.mark.slow  # two more kernels (a point's own ring): the rest of this module stays in the fast tier
def test_a_ring_longer_than_a_points_delay_changes_none_of_its_results(spec, tmp_path: Path):
    """Each block's values equal the run of the point alone with its own (shorter, or no) ring, bit for bit."""
    tasks = task_plan(spec)
    out = tmp_path / "delay.zarr"
    with runner.claim_store(spec, out, resume=False, overwrite=False) as plan:
        for chunk_id, index in plan.blocks():
            runner.run_chunk(spec, tasks, str(out), chunk_id, index)
    ds = open_result(out).load()
    for k in (0, 3):  # delay 0 (no ring at all in its own kernel) and 2 ms (a ring of 32 slots)
        alone = simulate(spec.circuit, spec.simulation, spec.point_values((slice(k, k + 1),)),
                         metrics=spec.metrics, record=tasks.record, record_every=tasks.every)
        for name in spec.metrics:
            if name in ds:
                np.testing.assert_array_equal(ds[name].values[k], alone.metrics[name][0], err_msg=name)
        np.testing.assert_array_equal(ds["status"].values[k], alone.metrics["status"][0])
        np.testing.assert_array_equal(ds["trace_v"].values[k], np.stack([alone.traces[(n, "v")][0]
                                                                         for n in ("n1", "n2")]))


def test_a_key_that_does_not_fit_the_batch_is_refused(spec):
    tasks = task_plan(spec)
    values = spec.point_values((slice(0, len(DELAYS)),))
    check_key(tasks.kernel, spec.circuit, spec.simulation, values, tasks.record, spec.metrics)  # fits
    (model, pre, post, output, _), = tasks.kernel.synapses
    short = dataclasses.replace(tasks.kernel, synapses=((model, pre, post, output, 8),))
    with pytest.raises(ValueError, match="delay rings are too short for the delays of synapse"):
        simulate(spec.circuit, spec.simulation, values, metrics=spec.metrics, record=tasks.record, key=short)
    uniform = dataclasses.replace(tasks.kernel, varying=())
    with pytest.raises(ValueError, match=r"holds synapses\.syn\.params\.delay uniform"):
        check_key(uniform, spec.circuit, spec.simulation, values, tasks.record, spec.metrics)
    with pytest.raises(ValueError, match="kernel of another circuit"):
        check_key(tasks.kernel, spec.circuit, spec.simulation, values, (), spec.metrics)  # another record
