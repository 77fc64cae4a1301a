"""The Python API refuses bad arguments at once, naming the argument or field: the engine used alone
(``Simulation``, ``Neuron``, ``Synapse``, ``Circuit``, ``simulate``) and the sweeps (``load_spec``,
``run_sweep``), before anything is compiled, started or written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synsweep.engine import Circuit, Neuron, Simulation, Synapse, simulate
from synsweep.sweeps import SpecError, StoreError, load_spec, run_sweep
from tests.specs import hh_pair_doc


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"dt": -0.01}, "dt"), ({"dt": float("nan")}, "dt"), ({"dt": "0.01"}, "dt"), ({"dt": True}, "dt"),
    ({"duration": float("inf")}, "duration"), ({"dt": 1.0, "duration": 0.5}, "dt"),
    ({"transient": 10.0}, "transient"), ({"transient": -1.0}, "transient"),
    ({"precision": "float16"}, "precision"), ({"integrator": "rk5"}, "integrator"), ({"scheme": "weird"}, "scheme"),
    ({"divergence_bound": 0.0}, "divergence_bound"), ({"coincidence_window": -2.0}, "coincidence_window"),
    ({"min_spikes": 0}, "min_spikes"), ({"sync_spikes": 2.5}, "sync_spikes"), ({"max_rate": 0}, "max_rate"),
    ({"duration": 1e15}, "duration"),  # 1e17 steps: beyond what the float64 step count holds exactly
])
def test_a_simulation_that_cannot_run_is_refused(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^Simulation\.{field} "):
        Simulation(**({"dt": 0.01, "duration": 10.0} | kwargs))


def test_numpy_scalars_are_numbers() -> None:
    sim = Simulation(dt=np.float64(0.01), duration=np.float32(10.0), min_spikes=np.int64(3))
    assert sim.n_steps == 1000


HH = (Neuron("n1", "hh"), Neuron("n2", "hh"))


@pytest.mark.parametrize(("build", "words"), [
    (lambda: Neuron("n1", "hhh"), "unknown model 'hhh'"),
    (lambda: Neuron("n1", "hh", params={"g_na": 1.0}), "unknown 'g_na'"),
    (lambda: Neuron("n1", "hh", init={"x": 0.0}), "unknown 'x'"),
    (lambda: Synapse("s", "electrcal", "n1", "n2"), "unknown model 'electrcal'"),
    (lambda: Synapse("s", "electrical", "n1", "n2", params={"g": 1.0}), "unknown 'g'"),
    (lambda: Synapse("s", "ampa", "n1", "n2", output="nope"), "has no output 'nope'"),
    (lambda: Neuron("n1", "cif", params={"tau_m": 0.0}), "tau_m must be > 0"),
    (lambda: Synapse("s", "ampa", "n1", "n2", params={"delay": -0.5}), "delay must be >= 0"),
    (lambda: Circuit(neurons=()), "no neurons"),
    (lambda: Circuit(neurons=(*HH, Neuron("n1", "hr"))), "neuron names used twice: n1"),
    (lambda: Circuit(neurons=HH, synapses=(Synapse("s", "electrical", "n1", "n7"),)), "post 'n7'"),
    (lambda: Circuit(neurons=HH, inputs={"n3": 0.1}), "Circuit inputs: unknown 'n3'"),
    (lambda: Circuit(neurons=HH, pairs=(("n1", "n9"),)), "is not a pair of the circuit's neurons"),
])
def test_a_circuit_that_does_not_exist_is_refused(build, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        build()


@pytest.mark.parametrize(("values", "metrics", "words"), [
    ({"inputs.n1": ["a", "b"]}, ("spike_count",), "inputs.n1: values must be numbers"),
    ({"inputs.n1": np.ones((2, 2))}, ("spike_count",), r"one number per point \(a 1-D array\), got shape \(2, 2\)"),
    ({"inputs.n1": [0.1]}, ("spike_cnt",), "unknown metric 'spike_cnt'"),
    ({"neurons.n1.params.cm": [0.01, 0.0]}, ("spike_count",), r"neurons.n1.params.cm: must be > 0 .*got 0.0"),
])
def test_simulate_refuses_values_and_metrics_it_cannot_use(values: dict, metrics: tuple, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        simulate(Circuit(neurons=HH), Simulation(dt=0.01, duration=1.0), values, metrics=metrics)


def test_simulate_refuses_a_delay_longer_than_its_buffers_hold_before_allocating_them() -> None:
    pair = (Neuron("a", "lif"), Neuron("b", "lif"))
    circuit = Circuit(neurons=pair, synapses=(Synapse("s", "exponential", "a", "b", params={"delay": 1e6}),))
    with pytest.raises(ValueError, match=r"^synapses.s.params.delay: a delay of 1e\+06 ms is 100,000,000 steps"):
        simulate(circuit, Simulation(dt=0.01, duration=1.0), {})
    swept = Circuit(neurons=pair, synapses=(Synapse("s", "exponential", "a", "b"),))
    with pytest.raises(ValueError, match="give a delay of at most 10485.7 ms"):
        simulate(swept, Simulation(dt=0.01, duration=1.0), {"synapses.s.params.delay": [1.0, 2e4]})


def test_run_sweep_refuses_bad_arguments_before_anything_starts(tmp_path: Path) -> None:
    spec = load_spec(hh_pair_doc("api", [0.0, 0.001], duration=4.0, chunk_points=10))
    with pytest.raises(TypeError, match="^load_spec: a spec file's path or a spec mapping, got int"):
        load_spec(123)
    with pytest.raises(TypeError, match="^spec: a SweepSpec"):
        run_sweep(3.5, tmp_path / "r.zarr")
    with pytest.raises(SpecError, match="no such file"):
        run_sweep(tmp_path / "missing.yaml", tmp_path / "r.zarr")
    with pytest.raises(TypeError, match="^out: the store's path or URL"):
        run_sweep(spec, 123)
    for workers in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="^workers: the number of local worker processes"):
            run_sweep(spec, tmp_path / "r.zarr", workers=workers)
    below_file = tmp_path / "a_file"
    below_file.write_text("x")
    with pytest.raises(StoreError, match="is a regular file, not a folder"):
        run_sweep(spec, below_file / "r.zarr", workers=1)
    if Path("/proc/self").exists():
        with pytest.raises(StoreError, match="no file can be created in /proc"):
            run_sweep(spec, "/proc/synsweep-test/r.zarr", workers=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_open_result_names_what_it_needs() -> None:
    from synsweep.sweeps import open_result

    with pytest.raises(TypeError, match="a store's path or URL"):
        open_result(123)
