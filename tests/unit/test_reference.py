"""The seed's HH pair against the Neun library's own numbers (shared/reference/neun_seed_run.json)."""

import json

import numpy as np
import pytest

from synsweep.engine import Circuit, Neuron, Simulation, Synapse, simulate


@pytest.fixture(scope="module")
def reference(shared_dir):
    return json.loads((shared_dir / "reference" / "neun_seed_run.json").read_text())


def _seed_run(reference, precision):
    proto = reference["protocol"]
    params = proto["neuron_params_absolute"]
    syn = proto["electrical_synapse"]
    neurons = tuple(
        Neuron(name, "hh", params=params, init=proto["initial_state"][name]) for name in ("n1", "n2")
    )
    circuit = Circuit(
        neurons=neurons,
        synapses=(Synapse("gap", "electrical", "n1", "n2", {"g1": syn["g1_into_n1"], "g2": syn["g2_into_n2"]}),),
        inputs=proto["external_current"],
    )
    steps = proto["steps"]
    sim = Simulation(dt=proto["dt_ms"], duration=steps * proto["dt_ms"], integrator="rk4",
                     precision=precision, scheme="split")
    every = steps // len(reference["result"]["t_ms"])
    return simulate(circuit, sim, record=["v"], record_every=every)


def test_matches_neun_reference(reference):
    result = _seed_run(reference, "float64")
    np.testing.assert_allclose(result.trace_times[1:], reference["result"]["t_ms"], rtol=1e-12)
    v1 = result.traces[("n1", "v")][0, 1:]
    v2 = result.traces[("n2", "v")][0, 1:]
    assert np.max(np.abs(v1 - reference["result"]["v1_mV"])) < 1e-6
    assert np.max(np.abs(v2 - reference["result"]["v2_mV"])) < 1e-6
    counts = result.metrics["spike_count"][0]
    assert counts.tolist() == [reference["result"]["spike_count_n1"], reference["result"]["spike_count_n2"]]


@pytest.mark.slow
def test_float32_close_to_float64(reference):
    """float32 RK4 sums a step's increments before adding them to y (one rounding of |v| ~ 65 mV per step):
    within 0.04 mV of float64 at the checkpoints (Neun's own float build: 0.0275 mV), spike counts equal."""
    r64, r32 = _seed_run(reference, "float64"), _seed_run(reference, "float32")
    for name in ("n1", "n2"):
        err = np.max(np.abs(r32.traces[(name, "v")][0, 1:].astype(np.float64) - r64.traces[(name, "v")][0, 1:]))
        assert err < 0.04
    assert r32.metrics["spike_count"][0].tolist() == r64.metrics["spike_count"][0].tolist()


@pytest.mark.slow
def test_matches_neun_dsyn_reference(shared_dir):
    """HH -> HH through Neun's DSyn (kinetic synapse with its own state r): the split scheme in Neun's order
    (r advanced to t_{n+1} first, the current from the new r and V_post(t_n)). Neun's release pulse lasts 999
    steps at dt 0.001 (its accumulated t_rel passes 1 ms one step early), matched by release_ms 0.999."""
    ref = json.loads((shared_dir / "reference" / "neun_dsyn_excit_run.json").read_text())
    proto, res = ref["protocol"], ref["result"]
    ds = proto["dsyn"]
    neurons = tuple(Neuron(name, "hh", params=proto["neuron_params_absolute"], init=proto["initial_state"][name])
                    for name in ("n1", "n2"))
    params = {"gsyn": ds["gsyn"], "esyn": ds["esyn"], "alpha": ds["alpha"], "beta": ds["beta"],
              "threshold": ds["threshold"], "T": ds["T"], "release_ms": 0.999}
    circuit = Circuit(neurons=neurons, synapses=(Synapse("dsyn", "diffusion", ds["pre"], ds["post"], params),),
                      inputs=proto["external_current"])
    steps = proto["steps"]
    sim = Simulation(dt=proto["dt_ms"], duration=steps * proto["dt_ms"], integrator="rk4", precision="float64",
                     scheme="split")
    result = simulate(circuit, sim, record=["v", "dsyn.r"], record_every=steps // len(res["t_ms"]))
    assert np.max(np.abs(result.traces[("n1", "v")][0, 1:] - res["v1_mV"])) < 1e-6
    assert np.max(np.abs(result.traces[("n2", "v")][0, 1:] - res["v2_mV"])) < 1e-6
    assert np.max(np.abs(result.traces[("dsyn", "r")][0, 1:] - res["r"])) < 1e-9
    assert result.metrics["spike_count"][0].tolist() == [res["spike_count_n1"], res["spike_count_n2"]]
