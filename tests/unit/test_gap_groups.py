"""Gap groups: an all-to-all gap-junction circuit with tied conductances summed in O(N) per stage.

The specialised kernel (``synsweep.engine.kernel.looped._emit_gap_group``) is exact algebra, so it must agree with the
per-synapse evaluation (forced with ``simulate.GAP_GROUPS = False``) to rounding: traces to rtol 1e-12 over a
short run, identical spike counts; for symmetric and asymmetric conductances, one synapse per pair (either
orientation) or both directions. Circuits that are not all-to-all with one conductance keep the general path,
and stay bit-identical to the unrolled step. Results do not depend on the batch's composition.
"""

import importlib
from itertools import combinations

import numpy as np
import pytest

from synsweep.engine import Circuit, Neuron, Simulation, Synapse, kernels, simulate
from synsweep.engine.kernel import KernelKey, KernelLayout, layout
from synsweep.engine.kernel.looped import gap_groups
from synsweep.engine.simulate import kernel_key
from synsweep.engine.synapses import SYNAPSE_MODELS

simulate_module = importlib.import_module("synsweep.engine.simulate")  # the package exports the function


def all_to_all(n: int, model: str = "hh", params: dict | None = None, both_ways: bool = False,
               reverse: bool = False, drop: tuple[int, int] | None = None, inputs: float = 0.1) -> Circuit:
    names = [f"n{i}" for i in range(n)]
    pairs = [(a, b) for a, b in combinations(range(n), 2) if (a, b) != drop]
    if reverse:
        pairs = [(b, a) for a, b in pairs]
    if both_ways:
        pairs += [(b, a) for a, b in pairs]
    return Circuit(neurons=tuple(Neuron(x, model) for x in names),
                   synapses=tuple(Synapse(f"g{a}_{b}", "electrical", names[a], names[b], params=dict(params or {}))
                                  for a, b in pairs),
                   inputs={x: inputs for x in names}, pairs=((names[0], names[-1]),))


def groups_of(circuit: Circuit, sim: Simulation, values: dict | None = None) -> list:
    return gap_groups(KernelLayout(kernel_key(circuit, sim, values)))


def drive(circuit: Circuit, n_points: int, low: float = 0.05, high: float = 0.2) -> dict[str, np.ndarray]:
    """A different constant current per neuron and point, so that the neurons do not stay in step."""
    rng = np.random.default_rng(7)
    return {f"inputs.{x}": rng.uniform(low, high, n_points) for x in circuit.neuron_names}


def run(circuit: Circuit, sim: Simulation, values: dict, grouped: bool, monkeypatch, var: str = "v") -> object:
    monkeypatch.setattr(simulate_module, "GAP_GROUPS", grouped)
    return simulate(circuit, sim, values, record=[var], metrics=("spike_count",))  # what assert_agree reads


def assert_agree(a, b) -> None:
    np.testing.assert_array_equal(a.metrics["spike_count"], b.metrics["spike_count"])
    for trace, arr in a.traces.items():
        # rounding differences (about 1e-15 per step) grow along a trajectory: a short run, rtol 1e-12
        np.testing.assert_allclose(b.traces[trace], arr, rtol=1e-12, atol=5e-12, err_msg=str(trace))


SIM = Simulation(dt=0.02, duration=25.0)


def test_the_electrical_synapse_is_diffusive_as_declared():
    """``Output.diffusive`` promises the currents g_pre (v_post - v_pre), g_post (v_pre - v_post), exactly."""
    rng = np.random.default_rng(0)
    for sm in SYNAPSE_MODELS.values():
        for out in sm.outputs.values():
            if out.diffusive is None:
                continue
            assert not sm.state and not sm.spike_triggered
            for v_pre, v_post, g_pre, g_post in rng.normal(0.0, 50.0, (20, 4)):
                kw = {"v_pre": v_pre, "v_post": v_post, out.diffusive[0]: g_pre, out.diffusive[1]: g_post}
                assert out.currents(**kw) == (g_pre * (v_post - v_pre), g_post * (v_pre - v_post))
    assert SYNAPSE_MODELS["electrical"].output("gap").diffusive == ("g1", "g2")


def test_a_group_needs_tied_uniform_conductances_in_the_key():
    """Detection alone (no compile): ties come from simulate; a key that makes every parameter vary, or ties
    nothing, or a circuit small enough to unroll, has no group."""
    circuit = all_to_all(12)
    key = kernel_key(circuit, SIM)
    assert len(key.tied) == 1 and len(key.tied[0]) == 2 * len(circuit.synapses)
    assert len(gap_groups(KernelLayout(key))) == 1
    every_row_varies = KernelKey.for_circuit(circuit, "rk4", "float64", "coupled", tied=key.tied)
    assert gap_groups(KernelLayout(every_row_varies)) == []
    assert gap_groups(KernelLayout(KernelKey.for_circuit(circuit, "rk4", "float64", "coupled",
                                                                         varying=()))) == []
    assert kernel_key(all_to_all(6), SIM).tied == ()  # unrolled: nothing to tie


@pytest.mark.parametrize(("both_ways", "reverse", "symmetric", "scheme"), [
    (False, False, False, "coupled"),  # asymmetric: prefix and suffix sums
    (False, True, False, "split"),  # every synapse from the higher neuron to the lower
    (True, False, True, "coupled"),  # both directions: a = b = g1 + g2, one total
])
@pytest.mark.slow
def test_grouped_kernel_agrees_with_per_synapse_evaluation(both_ways, reverse, symmetric, scheme, monkeypatch):
    """9 HR neurons (looped layout; HR compiles faster than HH), g1 != g2 in HR's units. (g1 = g2 one way
    takes the same one-total code as both directions; test_a_swept_conductance... covers it on HH.)"""
    params = {"g1": 12.5 * 0.004, "g2": 12.5 * 0.001}
    circuit = all_to_all(9, "hr", params=params, both_ways=both_ways, reverse=reverse, inputs=3.0)
    sim = Simulation(dt=0.02, duration=50.0, scheme=scheme)
    values = drive(circuit, 8, 2.5, 3.5)
    (group,) = groups_of(circuit, sim, values)
    assert group.members == list(range(9)) and len(group.synapses) == len(circuit.synapses)
    assert group.symmetric == symmetric
    monkeypatch.setattr(simulate_module, "GAP_GROUPS", False)
    assert groups_of(circuit, sim, values) == []
    grouped = run(circuit, sim, values, True, monkeypatch, "x")
    general = run(circuit, sim, values, False, monkeypatch, "x")
    assert_agree(general, grouped)
    assert np.all(general.metrics["spike_count"] > 0)  # active, and the neurons not all alike
    assert np.any(np.abs(general.traces[("n0", "x")] - general.traces[("n5", "x")]) > 0.1)


@pytest.mark.slow
def test_grouped_kernel_agrees_with_the_unrolled_step(monkeypatch):
    """A small all-to-all circuit (6 HR neurons, 15 synapses, asymmetric): the unrolled step (an independent
    implementation) against the looped step with its gap group."""
    circuit = all_to_all(6, "hr", params={"g1": 0.05, "g2": 0.02}, inputs=3.0)
    sim = Simulation(dt=0.02, duration=100.0)
    values = drive(circuit, 8, 2.5, 3.5)
    assert not KernelLayout(kernel_key(circuit, sim, values)).looped
    unrolled = simulate(circuit, sim, values, record=["x"])
    monkeypatch.setattr(layout, "MAX_UNROLLED_NEURONS", 0)
    assert len(groups_of(circuit, sim, values)) == 1
    looped = simulate(circuit, sim, values, record=["x"])
    assert_agree(unrolled, looped)
    assert np.all(unrolled.metrics["spike_count"] > 0)


@pytest.mark.slow
def test_mixed_models_scale_each_current_by_its_neurons_conductance_factor(monkeypatch):
    """HR and cif neurons (conductance factor 1 and 1e-3) in one group, asymmetric."""
    names = [f"n{i}" for i in range(10)]
    models = ["hr", "cif"] * 5
    circuit = Circuit(neurons=tuple(Neuron(x, m) for x, m in zip(names, models, strict=True)),
                      synapses=tuple(Synapse(f"g{a}_{b}", "electrical", names[a], names[b],
                                             params={"g1": 0.001, "g2": 0.003})
                                     for a, b in combinations(range(10), 2)),
                      inputs=dict.fromkeys(names, 3.0), pairs=())
    values = {f"inputs.{x}": np.linspace(3.0, 3.5, 8) for x in names}
    sim = Simulation(dt=0.02, duration=60.0)
    (group,) = groups_of(circuit, sim, values)
    assert not group.symmetric
    grouped = run(circuit, sim, values, True, monkeypatch, "x")
    general = run(circuit, sim, values, False, monkeypatch, "x")
    counts = general.metrics["spike_count"]
    np.testing.assert_array_equal(grouped.metrics["spike_count"], counts)
    assert np.all(counts[:, 0::2].sum(axis=1) > 0) and np.all(counts[:, 1::2].sum(axis=1) > 0)  # both models
    for a, b in zip(general.final_state.values(), grouped.final_state.values(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


def almost_all_to_all(missing: bool, other_value: bool) -> Circuit:
    """6 HR neurons, all-to-all but for one synapse left out (1-4) and/or one of another conductance (the fourth)."""
    circuit = all_to_all(6, "hr", params={"g1": 0.05, "g2": 0.02}, inputs=3.0, drop=(1, 4) if missing else None)
    if other_value:
        syns = list(circuit.synapses)
        syns[3] = Synapse(syns[3].name, "electrical", syns[3].pre, syns[3].post, params={"g1": 0.05, "g2": 0.021})
        circuit = Circuit(circuit.neurons, tuple(syns), circuit.inputs, circuit.pairs)
    return circuit


@pytest.mark.parametrize(("missing", "other_value"), [(True, False), (False, True), (True, True)])
def test_a_missing_synapse_or_another_conductance_forms_no_group(missing, other_value, monkeypatch):
    """Detection alone (no compile), in the looped layout: the other conductances are tied, yet no group forms.
    A swept conductance: test_a_swept_conductance_with_the_groups_value..."""
    circuit = almost_all_to_all(missing, other_value)
    sim = Simulation(dt=0.02, duration=60.0)
    values = drive(circuit, 8, 2.5, 3.5)
    monkeypatch.setattr(layout, "MAX_UNROLLED_NEURONS", 0)
    assert kernel_key(circuit, sim, values).tied
    assert groups_of(circuit, sim, values) == []


@pytest.mark.slow
def test_circuits_that_are_not_all_to_all_with_one_conductance_keep_the_general_path(monkeypatch):
    """One synapse missing and one of another value (each alone forms no group: the test above): the looped
    step stays bit-identical to the unrolled one (6 HR neurons; the Kuramoto order parameter to 1 ulp, as in
    test_looped)."""
    sim = Simulation(dt=0.02, duration=60.0)
    circuit = almost_all_to_all(missing=True, other_value=True)
    values = drive(circuit, 8, 2.5, 3.5)
    unrolled = simulate(circuit, sim, values, record=["x"])
    monkeypatch.setattr(layout, "MAX_UNROLLED_NEURONS", 0)
    monkeypatch.setattr(kernels, "_loaded", {})
    assert groups_of(circuit, sim, values) == []
    looped = simulate(circuit, sim, values, record=["x"])
    for name, arr in unrolled.metrics.items():
        if name == "kuramoto":  # the same phases; the layouts' sample code may round in the last bit (test_looped)
            np.testing.assert_allclose(looped.metrics[name], arr, rtol=4e-16, atol=0, err_msg=name)
        else:
            np.testing.assert_array_equal(looped.metrics[name], arr, err_msg=name)
    for trace, arr in unrolled.traces.items():
        np.testing.assert_array_equal(looped.traces[trace], arr, err_msg=str(trace))
    assert np.all(unrolled.metrics["spike_count"] > 0)


@pytest.mark.slow
def test_a_swept_conductance_with_the_groups_value_gives_the_groups_results(monkeypatch):
    """The all-to-all circuit with one synapse's g swept (general path) at the common value agrees with the
    grouped kernel to rounding: the general path is correct for the circuit that just misses the group."""
    circuit = all_to_all(12)
    values = drive(circuit, 8)
    grouped = run(circuit, SIM, values, True, monkeypatch)
    swept = {**values, "synapses.g3_7.params.g2": np.full(8, 0.002)}
    assert groups_of(circuit, SIM, swept) == []
    assert_agree(grouped, run(circuit, SIM, swept, True, monkeypatch))


@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.slow
def test_grouped_results_do_not_depend_on_batch_composition(precision):
    circuit = all_to_all(12, params={"g1": 0.004, "g2": 0.001})
    sim = Simulation(dt=0.02, duration=15.0, transient=2.0, precision=precision)
    values = drive(circuit, 150)
    assert len(groups_of(circuit, sim, values)) == 1
    whole = simulate(circuit, sim, values).metrics
    for idx in (np.random.default_rng(0).permutation(150), slice(0, 1), slice(1, 66), slice(66, 150)):
        part = simulate(circuit, sim, {k: v[idx] for k, v in values.items()}).metrics
        for name, arr in whole.items():
            np.testing.assert_array_equal(arr[idx], part[name], err_msg=name)
