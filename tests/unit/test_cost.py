"""The cost estimate: a measurement of the sweep's own kernel here, and the arithmetic of the expected time."""

from __future__ import annotations

import json

import pytest

from synsweep.sweeps import load_spec
from synsweep.sweeps.cost import MEASURE_STEPS, TASK_OVERHEAD_S, KernelSpeed, expected_seconds, measure_kernel

DOC = {
    "name": "cost",
    "circuit": {"neurons": {"n1": {"model": "hh"}, "n2": {"model": "hh"}},
                "synapses": {"gap": {"model": "electrical", "pre": "n1", "post": "n2"}},
                "inputs": {"n1": 0.1, "n2": 0.08}},
    "simulation": {"dt": 0.01, "duration": 20, "transient": 5},
    "sweep": [{"name": "g", "paths": ["synapses.gap.params.g1", "synapses.gap.params.g2"],
               "linspace": {"start": 0.0, "stop": 0.01, "num": 6}},
              {"name": "I_ext", "paths": {"inputs.n1": 1.0, "inputs.n2": 0.8},
               "linspace": {"start": 0.05, "stop": 0.15, "num": 4}}],
    "execution": {"chunk_points": 8},
}


def test_measure_kernel_times_the_sweeps_kernel_on_a_chunk_sized_batch():
    speed = measure_kernel(load_spec(DOC))
    assert speed.points == 8  # one chunk's worth (2 x 4), the batch size the tasks run
    assert speed.steps == MEASURE_STEPS  # 2,000 steps in the spec: a few hundred are enough
    assert speed.neuron_steps_per_second > 0 and speed.load_seconds > 0
    short = load_spec({**DOC, "simulation": {**DOC["simulation"], "duration": 1, "transient": 0}})
    assert measure_kernel(short).steps == 100  # never more steps than the sweep has


def test_expected_seconds_is_kernel_time_plus_task_overhead_over_the_workers():
    speed = KernelSpeed(neuron_steps_per_second=1e6, points=8, steps=400, load_seconds=0.1)
    assert expected_seconds(2_000_000, 0, speed, 1) == pytest.approx(2.0)
    assert expected_seconds(2_000_000, 10, speed, 1) == pytest.approx(2.0 + 10 * TASK_OVERHEAD_S)
    assert expected_seconds(2_000_000, 10, speed, 4) == pytest.approx((2.0 + 10 * TASK_OVERHEAD_S) / 4)


def test_a_recorded_speed_is_read_back_on_this_host_only(tmp_path, monkeypatch):
    import socket

    from synsweep.sweeps.cost import record_speed, recorded_speed

    monkeypatch.setenv("SYNSWEEP_CACHE_DIR", str(tmp_path))
    spec = load_spec(DOC)
    assert recorded_speed(spec) is None
    record_speed(spec, neuron_steps=3_000_000, kernel_seconds=1.5, points=60)
    speed = recorded_speed(spec)
    assert speed.neuron_steps_per_second == pytest.approx(2e6) and speed.points == 60
    assert speed.steps == spec.simulation.n_steps and speed.source.startswith("kernel speed of the workers of the run")
    other = load_spec({**DOC, "simulation": {**DOC["simulation"], "precision": "float32"}})
    assert recorded_speed(other) is None  # another kernel
    monkeypatch.setattr(socket, "gethostname", lambda: "another-node")
    assert recorded_speed(spec) is None  # a cache directory shared with other machines


def test_a_damaged_record_is_ignored(tmp_path, monkeypatch):
    from synsweep.sweeps.cost import _record_path, recorded_speed

    monkeypatch.setenv("SYNSWEEP_CACHE_DIR", str(tmp_path))
    spec = load_spec(DOC)
    _record_path(spec).write_text("{not json")
    assert recorded_speed(spec) is None


def test_an_unwritable_cache_costs_only_the_record(tmp_path, monkeypatch):
    from synsweep.sweeps import cost

    monkeypatch.setattr(cost, "_record_path", lambda spec: tmp_path / "no-such-dir" / "k.speed.json")
    cost.record_speed(load_spec(DOC), neuron_steps=1000, kernel_seconds=1.0, points=10)  # no exception
    assert not (tmp_path / "no-such-dir").exists()


def test_a_run_too_short_to_measure_is_not_recorded(tmp_path, monkeypatch):
    from synsweep.sweeps.cost import MIN_RECORD_SECONDS, record_speed, recorded_speed

    monkeypatch.setenv("SYNSWEEP_CACHE_DIR", str(tmp_path))
    spec = load_spec(DOC)
    assert record_speed(spec, neuron_steps=40_000_000, kernel_seconds=2.0, points=4096)
    # a 10-point run: 5,000 neuron-steps in 55 ms of first call (0.09 M/s) says nothing of the kernel's speed
    assert not record_speed(spec, neuron_steps=5_000, kernel_seconds=0.055, points=10)
    assert not record_speed(spec, neuron_steps=10_000_000, kernel_seconds=MIN_RECORD_SECONDS * 0.99, points=10)
    assert recorded_speed(spec).neuron_steps_per_second == pytest.approx(20e6)


def test_the_estimate_uses_the_median_of_the_last_runs(tmp_path, monkeypatch):
    from synsweep.sweeps.cost import RECORDS_KEPT, _record_path, record_speed, recorded_speed

    monkeypatch.setenv("SYNSWEEP_CACHE_DIR", str(tmp_path))
    spec = load_spec(DOC)
    for rate in (20e6, 21e6, 1.34e6):  # the third on a loaded machine
        record_speed(spec, neuron_steps=int(rate * 2), kernel_seconds=2.0, points=4096)
    speed = recorded_speed(spec)
    assert speed.neuron_steps_per_second == pytest.approx(20e6)  # not 1.34 M, the last run's
    assert speed.source.startswith("median kernel speed of the workers of the last 3 runs here")
    for rate in (1e6, 1e6, 1e6):  # the machine got slower for good: three runs of the last five say so
        record_speed(spec, neuron_steps=int(rate * 2), kernel_seconds=2.0, points=4096)
    assert recorded_speed(spec).neuron_steps_per_second == pytest.approx(1e6)
    runs = json.loads(_record_path(spec).read_text())["runs"]
    assert len(runs) == RECORDS_KEPT and [r["neuron_steps_per_second"] for r in runs[:2]] == [21e6, 1.34e6]


def test_records_of_other_hosts_and_the_old_format_are_not_used(tmp_path, monkeypatch):
    import socket

    from synsweep.sweeps.cost import _record_path, record_speed, recorded_speed

    monkeypatch.setenv("SYNSWEEP_CACHE_DIR", str(tmp_path))
    spec = load_spec(DOC)
    _record_path(spec).write_text(json.dumps({  # one run, no kernel time: it cannot tell a short run
        "neuron_steps_per_second": 90_000.0, "points": 10, "steps": 250, "host": socket.gethostname(),
        "recorded": "2026-12-06T18:13:13+00:00"}))
    assert recorded_speed(spec) is None
    record_speed(spec, neuron_steps=30_000_000, kernel_seconds=2.0, points=4096)
    this_host = socket.gethostname
    monkeypatch.setattr(socket, "gethostname", lambda: "another-node")
    record_speed(spec, neuron_steps=2_000_000, kernel_seconds=2.0, points=4096)
    assert recorded_speed(spec).neuron_steps_per_second == pytest.approx(1e6)  # that node's own run
    monkeypatch.setattr(socket, "gethostname", this_host)
    assert recorded_speed(spec).neuron_steps_per_second == pytest.approx(15e6)  # kept through the other's write
