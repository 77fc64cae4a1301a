"""Only the requested metrics are computed in the kernel, and a metric's value does not depend on which others
are asked for: each accumulator's arithmetic is the same whatever the kernel keeps (metrics.METRIC_NEEDS)."""

import dataclasses

import numpy as np
import pytest

from synsweep.engine import Circuit, Neuron, Simulation, Synapse, kernels, metrics, simulate
from synsweep.engine.kernel import layout
from synsweep.engine.metrics import DEFAULT_METRICS
from synsweep.engine.simulate import kernel_key

SYN = {"g_star": 30.0, "tau_syn": 10.0, "E_syn": 0.0}
IF_PAIR = Circuit(neurons=(Neuron("n1", "cif", params={"E_m": -70.0}, init={"v": -60.0}),
                           Neuron("n2", "cif", params={"E_m": -70.0}, init={"v": -70.0})),
                  synapses=(Synapse("s12", "two_stage", "n1", "n2", params=SYN),
                            Synapse("s21", "two_stage", "n2", "n1", params=SYN)),
                  inputs={"n1": 3.5, "n2": 3.5})
SIM = Simulation(dt=0.02, duration=60.0, transient=5.0, sync_tolerance=0.5)
N = 24
VALUES = {"inputs.n1": np.linspace(2.5, 4.0, N), "synapses.s12.params.g_star": np.linspace(0.0, 60.0, N),
          "synapses.s21.params.g_star": np.linspace(0.0, 60.0, N)}
SELECTIONS = [("spike_count",), ("pearson",), ("time_to_sync",), ("plv", "coincidence", "isi_cv", "mean_abs_dv")]


def test_kernel_key_holds_what_the_metrics_need():
    """Metric sets with the same needs share a kernel, others do not; the default keeps everything a pair has
    a place for (no Kuramoto sums below three neurons: the default metrics and those without ``kuramoto`` are
    one kernel), no metric at all keeps the evidence of the runaway status (spike counts and ISIs)."""
    key = kernel_key(IF_PAIR, SIM, VALUES)
    assert key.keeps == tuple(p for p in metrics.EVERYTHING if p != "kuramoto")
    assert key == kernel_key(IF_PAIR, SIM, VALUES, metrics=tuple(m for m in DEFAULT_METRICS if m != "kuramoto"))
    three = dataclasses.replace(IF_PAIR, neurons=(*IF_PAIR.neurons, dataclasses.replace(IF_PAIR.neurons[0],
                                                                                          name="n3")))
    assert kernel_key(three, SIM, VALUES).keeps == metrics.EVERYTHING
    lone = dataclasses.replace(IF_PAIR, neurons=IF_PAIR.neurons[:1], synapses=(), pairs=(), inputs={})
    assert kernel_key(lone, SIM, metrics=("spike_count",)) == kernel_key(lone, SIM, metrics=("spike_count", "pearson"))
    assert kernel_key(IF_PAIR, SIM, VALUES, metrics=("spike_count",)) == \
        kernel_key(IF_PAIR, SIM, VALUES, metrics=("rate_count", "spike_count"))
    keys = {kernel_key(IF_PAIR, SIM, VALUES, metrics=m) for m in [*SELECTIONS, (), DEFAULT_METRICS]}
    assert len(keys) == len(SELECTIONS) + 1  # () keeps what spike_count keeps
    assert kernel_key(IF_PAIR, SIM, VALUES, metrics=()).keeps == metrics.STATUS_NEEDS
    source = kernels.kernel_source(kernel_key(IF_PAIR, SIM, VALUES, metrics=("spike_count",)))[1]
    assert "sincos2pi(" not in source.split("def run(")[1] and "xa * xb" not in source  # no phases, no sums


@pytest.mark.slow
@pytest.mark.parametrize("looped", [False, True])
def test_selected_metrics_equal_the_full_set(looped, monkeypatch):
    """The if-sync pair over drive and g_star (active, synchronising and not): every selected metric and the
    final state bit-identical to the run that computes every metric, in both kernel layouts."""
    if looped:
        monkeypatch.setattr(layout, "MAX_UNROLLED_NEURONS", 0)
        monkeypatch.setattr(kernels, "_loaded", {})
    full = simulate(IF_PAIR, SIM, VALUES)
    assert (full.metrics["spike_count"] > 2).all() and np.isfinite(full.metrics["time_to_sync"]).any()
    for selection in SELECTIONS if not looped else SELECTIONS[-1:]:
        part = simulate(IF_PAIR, SIM, VALUES, metrics=selection)
        assert set(part.metrics) == {*selection, "status", "diverged_step"}
        for name in (*selection, "status", "diverged_step"):
            np.testing.assert_array_equal(part.metrics[name], full.metrics[name], err_msg=f"{selection}: {name}")
        for var, arr in full.final_state.items():
            np.testing.assert_array_equal(part.final_state[var], arr, err_msg=str(var))
