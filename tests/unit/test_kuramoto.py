"""The Kuramoto order parameter (metric ``kuramoto``) on constructed spike trains with known answers.

Spike sources fire at t_first + k period exactly (at the end of the step nearest to it); each neuron's spike
phase phi_k(t) = (t - t_last) / (t_last - t_prev) is then exact, and the time mean of
R = |mean_k exp(2 pi i phi_k)| follows from the phase offsets between the trains (``synsweep.engine.metrics``).
"""

import numpy as np
import pytest

from synsweep.engine import Circuit, Neuron, Simulation, Synapse, simulate
from synsweep.engine.kernel import KernelLayout
from synsweep.engine.metrics import kuramoto_reference
from synsweep.engine.simulate import kernel_key

DT = 0.1


def sources(n: int) -> Circuit:
    return Circuit(neurons=tuple(Neuron(f"s{k}", "spike_source") for k in range(n)))


def kuramoto(t_first, period, duration=300.0, metrics=("spike_count", "kuramoto"), **sim) -> dict:
    """Metrics of spike sources k = 0..N-1 firing at t_first[k] + j period[k] (rows: one point each)."""
    t_first = np.atleast_2d(np.asarray(t_first, dtype=np.float64))
    period = np.broadcast_to(np.asarray(period, dtype=np.float64), t_first.shape)
    n = t_first.shape[1]
    values = {}
    for k in range(n):
        values[f"neurons.s{k}.params.t_first"] = t_first[:, k]
        values[f"neurons.s{k}.params.period"] = period[:, k]
    return simulate(sources(n), Simulation(dt=DT, duration=duration, **sim), values, metrics=metrics).metrics


@pytest.mark.slow
def test_identical_trains_in_phase_give_one():
    m = kuramoto([[10.0] * 4, [3.0] * 4], [[20.0] * 4, [7.3] * 4])
    assert m["kuramoto"].shape == (2,)
    np.testing.assert_allclose(m["kuramoto"], 1.0, atol=1e-12, rtol=0)


def test_splay_state_gives_zero():
    """Four trains of period 20 ms at phases k / 4 (5 ms apart): the four unit vectors cancel at every sample."""
    m = kuramoto([[10.0, 15.0, 20.0, 25.0]], 20.0)
    assert m["kuramoto"][0] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.slow
def test_two_anti_phase_clusters_give_zero():
    m = kuramoto([[10.0, 10.0, 20.0, 20.0]], 20.0)
    assert m["kuramoto"][0] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.slow
def test_two_in_phase_and_one_in_anti_phase_give_one_third(precision):
    """(1 + 1 - 1) / 3 at every sample; the metric is float64 arithmetic in either working precision."""
    m = kuramoto([[10.0, 10.0, 20.0]], 20.0, precision=precision)
    assert m["kuramoto"][0] == pytest.approx(1.0 / 3.0, abs=1e-12)


@pytest.mark.slow
def test_too_few_spikes_give_nan():
    """Undefined until every neuron has two spikes: a neuron with a single spike (period 0), a neuron
    whose second spike is after the end, and a silent circuit give no samples."""
    m = kuramoto([[10.0, 10.0, 10.0], [10.0, 10.0, 250.0], [1e6, 1e6, 1e6]],
                 [[20.0, 20.0, 0.0], [20.0, 20.0, 100.0], [0.0, 0.0, 0.0]])
    assert m["spike_count"][:, 2].tolist() == [1, 1, 0]
    assert np.isnan(m["kuramoto"]).all(), m["kuramoto"]
    # spikes before the transient do not count: two spikes in all, one of them in the transient
    late = kuramoto([[10.0] * 3], 20.0, duration=40.0, transient=15.0)
    assert np.isnan(late["kuramoto"][0])


def test_samples_start_once_every_neuron_has_two_spikes():
    """The third neuron starts 90 ms late (4.5 periods: anti-phase): R = 1/3 from its second spike on, and the
    samples before it (R would be 1 for the first two alone) do not count."""
    m = kuramoto([[10.0, 10.0, 100.0]], 20.0)
    assert m["kuramoto"][0] == pytest.approx(1.0 / 3.0, abs=1e-12)


def spike_times(t_first: float, period: float, n_steps: int, n_transient: int, dt: float) -> np.ndarray:
    """The spike times the kernel books for a spike source (its rule in ``engine/models/source.py``)."""
    out, t_next = [], t_first
    for s in range(n_steps):
        if (s + 1) * dt >= t_next - 0.5 * dt:
            if s >= n_transient:
                out.append((s + 1.0) * dt)
            t_next = t_next + period if period > 0.0 else 1e30
    return np.array(out)


@pytest.mark.parametrize("interval", [1.0, 0.1, 2.5])
def test_online_value_equals_the_post_hoc_reference(interval):
    """Unrelated periods (R wanders between ~0 and 1) and a transient: the kernel's running mean equals
    ``kuramoto_reference`` from the same spike times at the same sample times."""
    t_first = np.array([[3.0, 10.0, 7.7, 21.3], [5.0, 5.0, 5.0, 5.1]])
    period = np.array([[17.0, 20.0, 23.3, 9.1], [11.0, 12.0, 13.0, 14.0]])
    sim = Simulation(dt=DT, duration=400.0, transient=30.0, kuramoto_interval=interval)
    m = kuramoto(t_first, period, duration=sim.duration, transient=sim.transient, kuramoto_interval=interval)
    every = sim.kuramoto_every
    samples = np.array([(s + 1.0) * DT for s in range(sim.n_transient, sim.n_steps) if (s + 1) % every == 0])
    for row in range(t_first.shape[0]):
        trains = [spike_times(t_first[row, k], period[row, k], sim.n_steps, sim.n_transient, DT)
                  for k in range(t_first.shape[1])]
        assert [len(t) for t in trains] == m["spike_count"][row].tolist()
        want = kuramoto_reference(trains, samples)
        assert 0.05 < want < 0.95, want  # a non-trivial value
        assert m["kuramoto"][row] == pytest.approx(want, abs=1e-12, rel=0)


def test_reference_definition_by_hand():
    """Three neurons, period 10 ms, the third 5 ms behind: at t = 32 the phases are 0.2, 0.2 and 0.7."""
    trains = [np.array([10.0, 20.0, 30.0]), np.array([10.0, 20.0, 30.0]), np.array([5.0, 15.0, 25.0])]
    assert kuramoto_reference(trains, np.array([32.0])) == pytest.approx(1.0 / 3.0, abs=1e-15)
    assert np.isnan(kuramoto_reference(trains, np.array([12.0])))  # the first two have one spike by then
    assert np.isnan(kuramoto_reference(trains, np.array([])))


def test_only_circuits_of_three_or_more_neurons_hold_kuramoto_sums():
    """A pair's kernel has no Kuramoto accumulators (it is unchanged: it has plv); three neurons have them."""
    sim = Simulation(dt=DT, duration=100.0)
    assert not KernelLayout(kernel_key(sources(2), sim)).kuramoto
    assert KernelLayout(kernel_key(sources(3), sim)).kuramoto


@pytest.mark.slow  # two kernels of their own; the key-level test above stays in the fast tier
def test_not_asked_for_or_fewer_than_three_neurons():
    """A pair's Kuramoto metric reads NaN; three neurons without the metric asked for have no such result."""
    pair = sources(2)
    sim = Simulation(dt=DT, duration=100.0)
    m = simulate(pair, sim, {"neurons.s0.params.period": 10.0, "neurons.s1.params.period": 10.0}).metrics
    assert np.isnan(m["kuramoto"]).all() and m["kuramoto"].shape == (1,)
    # three neurons, metric not asked for: no samples are taken (the kernel is passed kur_every = 0)
    res = kuramoto([[10.0] * 3], 20.0, metrics=("spike_count",))
    assert "kuramoto" not in res


HH3 = Circuit(neurons=tuple(Neuron(x, "hh") for x in ("n1", "n2", "n3")),
              synapses=(Synapse("s12", "electrical", "n1", "n2"), Synapse("s23", "electrical", "n2", "n3")),
              inputs={"n1": 0.15, "n2": 0.15, "n3": 0.15})


@pytest.mark.slow
def test_identical_hh_neurons_in_identical_states_give_one():
    """Coupled, identical and started alike, the three neurons stay identical: R = 1 to rounding."""
    g = np.array([0.0, 0.01, 0.05])
    values = {f"synapses.{s}.params.{p}": g for s in ("s12", "s23") for p in ("g1", "g2")}
    m = simulate(HH3, Simulation(dt=0.01, duration=100.0, transient=20.0), values).metrics
    assert (m["spike_count"] >= 4).all()
    np.testing.assert_allclose(m["kuramoto"], 1.0, atol=1e-12, rtol=0)


@pytest.mark.slow
def test_uncoupled_hh_neurons_in_different_states_are_not_in_phase():
    """Uncoupled (g = 0) and started in different states, the same neurons fire at the same rate but keep
    their phase offsets (first spikes at about 25, 20 and 21 ms, period about 11 ms): R is clearly below 1."""
    values = {"neurons.n2.init.n": 0.7, "neurons.n3.init.v": -40.0,
              **{f"synapses.{s}.params.{p}": 0.0 for s in ("s12", "s23") for p in ("g1", "g2")}}
    m = simulate(HH3, Simulation(dt=0.01, duration=100.0, transient=20.0), values).metrics
    assert (m["spike_count"] >= 4).all()
    assert m["kuramoto"][0] < 0.7, m["kuramoto"]
