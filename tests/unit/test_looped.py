"""The looped step (large circuits) against the unrolled step (small circuits): the same numbers.

Both layouts call the same model functions in the same order of operations for each neuron and synapse;
a circuit in which every neuron receives its currents from one group of synapses gives bit-identical
results either way. Large circuits (here 12 neurons, 66 synapses) compile in seconds, not minutes.
"""

from itertools import combinations

import numpy as np
import pytest

from synsweep.engine import Circuit, Neuron, Simulation, Synapse, kernels, simulate
from synsweep.engine.kernel import KernelLayout, layout

LIF = {"V_rest": -65.0, "V_reset": -70.0, "V_th": -50.0}
# models interleaved by index (the looped layout walks neurons by index for the circuit-level Kuramoto order
# parameter, not by model group); a gap junction, a delayed ampa, a voltage jump and a two_stage synapse
MIXED = Circuit(
    neurons=(Neuron("h1", "hh", init={"v": -70.0}), Neuron("l1", "lif", params=LIF),
             Neuron("h2", "hh", init={"v": -50.0}), Neuron("src", "spike_source", params={"period": 7.0}),
             Neuron("l2", "lif", params=LIF), Neuron("c", "cif")),
    synapses=(Synapse("gap", "electrical", "h1", "h2"), Synapse("a", "ampa", "src", "l1", params={"delay": 1.5}),
              Synapse("j", "voltage_jump", "l1", "l2"), Synapse("t", "two_stage", "src", "c")),
    inputs={"h1": 0.1, "h2": 0.12, "l1": 18.0, "c": 3.0},
    pairs=(("h1", "h2"), ("l1", "l2")),
)
MIXED_SIM = Simulation(dt=0.02, duration=80.0, transient=5.0, kuramoto_interval=0.1)


@pytest.fixture(scope="module")
def both_layouts():
    """The mixed circuit over 40 points, once in each layout (two kernels shared by the tests below)."""
    n = 40
    values = {"synapses.gap.params.g1": np.linspace(0.0, 0.01, n), "synapses.a.params.g_max": np.linspace(0, 1, n),
              "inputs.l2": np.linspace(12.0, 25.0, n)}  # l2 below and above threshold
    assert not KernelLayout(kernels_key(MIXED, MIXED_SIM, values)).looped
    unrolled = simulate(MIXED, MIXED_SIM, values, record=["v"])
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(layout, "MAX_UNROLLED_NEURONS", 0)
        monkeypatch.setattr(kernels, "_loaded", {})
        assert KernelLayout(kernels_key(MIXED, MIXED_SIM, values)).looped
        looped = simulate(MIXED, MIXED_SIM, values, record=["v"])
    return unrolled, looped


@pytest.mark.slow
def test_looped_step_equals_unrolled_step(both_layouts):
    """Every spike, trace, final state and metric but Kuramoto's gives the same bits both ways."""
    unrolled, looped = both_layouts
    for name, arr in unrolled.metrics.items():
        if name != "kuramoto":
            np.testing.assert_array_equal(looped.metrics[name], arr, err_msg=name)
    for trace, arr in unrolled.traces.items():
        np.testing.assert_array_equal(looped.traces[trace], arr, err_msg=str(trace))
    for unit, arr in unrolled.final_state.items():
        np.testing.assert_array_equal(looped.final_state[unit], arr, err_msg=str(unit))
    counts = unrolled.metrics["spike_count"]
    assert np.all(counts[:, [0, 3]] > 0) and counts[-1, 1] > 0  # the circuit is active (h1, src; l1 at most drive)


@pytest.mark.slow
def test_looped_kuramoto_equals_unrolled_kuramoto(both_layouts):
    """The circuit-level Kuramoto order parameter: the same spikes give the same phases, but the two layouts'
    compiled float code may round a sample differently in the last bit (seen: 2 of 16 points, 1.1e-16): equal to
    1 ulp, not bit for bit, and a value per point where every neuron fires."""
    unrolled, looped = both_layouts
    kur = unrolled.metrics["kuramoto"]
    np.testing.assert_allclose(looped.metrics["kuramoto"], kur, rtol=4e-16, atol=0)  # NaN where the other is
    finite = kur[np.isfinite(kur)]  # NaN: a neuron (l2 at the weakest drives) never had a phase
    assert finite.size >= 30 and np.unique(finite).size == finite.size, kur


def kernels_key(circuit, sim, values):
    from synsweep.engine.simulate import kernel_key

    return kernel_key(circuit, sim, values)


def all_to_all() -> tuple[Circuit, Simulation, dict]:
    """Twelve identical HH neurons, all-to-all gap junctions, identical start (split scheme), 8 drives."""
    names = [f"n{i}" for i in range(12)]
    circuit = Circuit(neurons=tuple(Neuron(x, "hh") for x in names),
                      synapses=tuple(Synapse(f"g{a}_{b}", "electrical", names[a], names[b])
                                     for a, b in combinations(range(12), 2)),
                      inputs={x: 0.1 for x in names}, pairs=(("n0", "n11"),))
    sim = Simulation(dt=0.02, duration=30.0, scheme="split")
    return circuit, sim, {f"inputs.{x}": np.linspace(0.05, 0.2, 8) for x in names}


def test_all_to_all_circuit_is_written_as_loops():
    """The looped layout is chosen; the model's call is written once, inside the run-time loop over the RK4
    stages, and the 66 gap junctions (tied conductances) are one group, summed without a call per synapse."""
    circuit, sim, values = all_to_all()
    key = kernels_key(circuit, sim, values)
    assert KernelLayout(key).looped
    run = kernels.kernel_source(key)[1].split("def run(")[1]
    assert run.count("hh__derivatives(") == 1 and "for stage in range(4):" in run
    assert "electrical__currents(" not in run


@pytest.mark.slow  # a kernel of its own (13 s); the structure above stays in the fast tier
def test_all_to_all_circuit_compiles_as_loops_and_stays_synchronous():
    """The neurons of ``all_to_all`` stay exactly synchronous (each receives the same currents)."""
    circuit, sim, values = all_to_all()
    names = [n.name for n in circuit.neurons]
    res = simulate(circuit, sim, values, record=["v"])
    for x in names[1:]:
        np.testing.assert_array_equal(res.traces[(x, "v")], res.traces[("n0", "v")])
    np.testing.assert_array_equal(res.metrics["mean_abs_dv"], 0.0)
    assert np.all(res.metrics["spike_count"][-4:] > 1)
    np.testing.assert_allclose(res.metrics["kuramoto"][-4:], 1.0, atol=1e-12, rtol=0)  # all in phase
