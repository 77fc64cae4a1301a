"""The CUDA kernels against the CPU engine, in numba's CUDA simulator (no GPU needed).

tests/conftest.py sets NUMBA_ENABLE_CUDASIM=1 before numba.cuda is first imported, so ``simulate(...,
device="cuda")`` runs the generated CUDA kernel as Python, one thread per lane: exact Python arithmetic,
thousands of times slower than a GPU, hence tiny batches and a few hundred steps. Differences to the CPU
engine come from the exponential (the CPU's vectorisable polynomial, Python's libm here) and the order in which
each compiler fuses multiply-adds: float64 metrics agree to 1e-9 relative (measured: a few 1e-15), float32 to
1e-5 (measured: a few 1e-7), spike counts exactly (docs/models.md, "On a GPU").
"""

from __future__ import annotations

import numpy as np
import pytest

from synsweep.engine import SYNAPSE_MODELS, Circuit, Neuron, Simulation, Synapse, simulate
from synsweep.engine.device import cuda_problem, simulator_enabled

pytestmark = pytest.mark.skipif(cuda_problem() is not None, reason=f"CUDA kernels cannot run: {cuda_problem()}")

HH_PAIR = Circuit(neurons=(Neuron("n1", "hh", init={"v": -75.0}), Neuron("n2", "hh", init={"v": -65.0})),
                  synapses=(Synapse("gap", "electrical", "n1", "n2"),), inputs={"n1": 0.1, "n2": 0.08})


def zoo() -> Circuit:
    """Every neuron model and every synapse model in one circuit (as tests/unit/test_vectorised.py), driven."""
    neurons = tuple(Neuron(m, m) for m in ("hh", "hr", "cif", "lif", "izh", "spike_source")) + (Neuron("hh2", "hh"),)
    targets = {"electrical": ("hh", "hr"), "diffusion": ("hh", "hh2"), "two_stage": ("spike_source", "cif"),
               "nmda": ("spike_source", "izh")}
    synapses = [Synapse(m, m, *targets.get(m, ("spike_source", "lif"))) for m in SYNAPSE_MODELS]
    synapses.append(Synapse("ampa_cuba", "ampa", "spike_source", "lif", output="cuba"))
    return Circuit(neurons=neurons, synapses=tuple(synapses), pairs=(("hh", "hh2"), ("lif", "izh")),
                   inputs={"hh": 0.1, "hh2": 0.12, "hr": 3.0, "cif": 2.0, "lif": 14.0, "izh": 10.0})


def compare(circuit: Circuit, sim: Simulation, values: dict, rtol: float, record: tuple[str, ...] = ("v",),
            cv_atol: float = 1e-9):
    """The CPU engine and the CUDA kernel on the same points: equal spike counts and statuses, every other
    metric and every trace within ``rtol`` (relative to the largest value of its array), NaN where NaN.

    ``isi_cv`` within ``cv_atol`` absolute too: sqrt(E[ISI^2] - E[ISI]^2) / E[ISI] cancels for a nearly regular
    train, so a relative difference d of the ISIs becomes about d / (2 CV) in the CV (docs/models.md)."""
    cpu = simulate(circuit, sim, values, record=record)
    gpu = simulate(circuit, sim, values, record=record, device="cuda")
    for name, a in cpu.metrics.items():
        b = gpu.metrics[name]
        assert b.dtype == a.dtype and b.shape == a.shape, name
        if name in ("spike_count", "status", "diverged_step"):
            assert np.array_equal(a, b), (name, a, b)
            continue
        assert np.array_equal(np.isnan(a), np.isnan(b)), (name, a, b)
        scale = np.nanmax(np.abs(a), initial=0.0) or 1.0
        tol = max(rtol * scale, cv_atol) if name == "isi_cv" else rtol * scale
        assert np.nanmax(np.abs(a - b), initial=0.0) <= tol, (name, a, b)
    for key, a in cpu.traces.items():
        b = gpu.traces[key]
        assert b.dtype == a.dtype and b.shape == a.shape
        scale = np.max(np.abs(a.astype(np.float64))) or 1.0
        assert np.max(np.abs(a.astype(np.float64) - b)) <= rtol * scale, key
    for key, a in cpu.final_state.items():
        np.testing.assert_allclose(gpu.final_state[key], a, rtol=rtol, atol=rtol, err_msg=str(key))
    np.testing.assert_array_equal(gpu.trace_times, cpu.trace_times)
    return cpu, gpu


def test_runs_in_the_simulator():
    """The suite's CUDA tests run in the simulator unless a session asked for the GPU (NUMBA_ENABLE_CUDASIM=0)."""
    import os

    assert simulator_enabled() == (os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"))


def test_hh_pair_float64():
    """Seed 000's pair, RK4 on the coupled system: 3 points over g and the drive, 300 steps, every metric."""
    sim = Simulation(dt=0.01, duration=3.0, transient=0.5)
    values = {"synapses.gap.params.g1": [0.0, 0.005, 0.01], "synapses.gap.params.g2": [0.0, 0.005, 0.01],
              "inputs.n1": [0.1, 0.12, 0.15], "inputs.n2": [0.08] * 3}  # n2's drive per point: the CPU kernel
    # is then the one the service tests compile (the same four per-point paths and traces)
    cpu, _ = compare(HH_PAIR, sim, values, 1e-9)
    assert cpu.metrics["spike_count"].sum() > 0  # the comparison covers spikes


@pytest.mark.slow  # the CPU kernel of this circuit compiles in about 50 s from a cold cache
def test_every_model_and_synapse_float64():
    """Every neuron model (hh, hr, cif, lif, izh, spike_source) and every synapse model in one circuit, with a
    swept transmission delay and a swept source period: spikes, events, delay rings, the pair and Kuramoto
    metrics all go through the CUDA kernel."""
    sim = Simulation(dt=0.02, duration=6.0, transient=1.0, kuramoto_interval=0.2, integrator="euler")
    values = {"inputs.hh": [0.1, 0.15, 0.2], "synapses.ampa.params.delay": [0.0, 0.5, 1.0],
              "neurons.spike_source.params.period": [1.0, 2.0, 3.0]}
    cpu, _ = compare(zoo(), sim, values, 1e-9)
    counts = cpu.metrics["spike_count"]
    assert counts.sum() > 10 and np.count_nonzero(counts.sum(axis=0)) >= 3


@pytest.mark.slow
def test_synchrony_metrics_lif_ring():
    """Three LIF neurons in a ring of a voltage jump, a delayed exponential and an alpha synapse, driven to fire
    every few ms: coincidence, PLV, time to synchrony and the Kuramoto order parameter all finite, and equal to
    the CPU's within 1e-9."""
    lif = {"V_rest": -65.0, "V_reset": -70.0, "V_th": -50.0}
    neurons = tuple(Neuron(n, "lif", params=lif, init={"v": v}) for n, v in (("a", -65.0), ("b", -60.0), ("c", -55.0)))
    synapses = (Synapse("ab", "voltage_jump", "a", "b"), Synapse("ca", "alpha", "c", "a"),
                Synapse("bc", "exponential", "b", "c", params={"delay": 1.0}))
    circuit = Circuit(neurons=neurons, synapses=synapses, inputs={"a": 40.0, "b": 42.0, "c": 44.0})
    sim = Simulation(dt=0.05, duration=40.0, transient=5.0, kuramoto_interval=0.5, min_spikes=2, sync_spikes=2)
    cpu, _ = compare(circuit, sim, {"inputs.a": [40.0, 45.0, 50.0]}, 1e-9)
    for name in ("coincidence", "plv", "time_to_sync", "kuramoto", "isi_cv"):
        assert np.isfinite(cpu.metrics[name]).any(), name


@pytest.mark.slow
def test_float32_rk6_split_with_delay():
    """float32 (every literal of the models in float32 on the device too), the 6-stage tableau, Neun's split
    scheme and a delayed spike-triggered synapse."""
    circuit = Circuit(neurons=HH_PAIR.neurons, synapses=(Synapse("s", "ampa", "n1", "n2", params={"delay": 0.3}),),
                      inputs={"n1": 0.1, "n2": 0.08})
    sim = Simulation(dt=0.01, duration=3.0, integrator="rk6", precision="float32", scheme="split")
    cpu, gpu = compare(circuit, sim, {"inputs.n1": [0.1, 0.12, 0.15]}, 1e-5, cv_atol=1e-4)
    assert gpu.traces[("n1", "v")].dtype == np.float32 and cpu.metrics["spike_count"].sum() > 0


def test_euler_and_chunkings_bit_identical():
    """A lane's result on the CUDA path does not depend on the other lanes of its launch: a batch cut in two
    gives the bits of the whole batch (threads never interact; the code a thread runs does not depend on
    its block or the batch size)."""
    sim = Simulation(dt=0.02, duration=2.0, integrator="euler")
    g = np.array([0.0, 0.002, 0.004, 0.006, 0.008])
    values = {"synapses.gap.params.g1": g, "inputs.n1": 0.1 + g}
    whole = simulate(HH_PAIR, sim, values, device="cuda", record=("v",))
    parts = [simulate(HH_PAIR, sim, {k: v[s] for k, v in values.items()}, device="cuda", record=("v",))
             for s in (slice(0, 2), slice(2, 5))]
    for name, a in whole.metrics.items():
        np.testing.assert_array_equal(np.concatenate([p.metrics[name] for p in parts]), a, err_msg=name)
    np.testing.assert_array_equal(np.concatenate([p.traces[("n2", "v")] for p in parts]), whole.traces[("n2", "v")])
    one = simulate(HH_PAIR, sim, {k: v[3:4] for k, v in values.items()}, device="cuda")
    np.testing.assert_array_equal(one.metrics["pearson"], whole.metrics["pearson"][3:4])
