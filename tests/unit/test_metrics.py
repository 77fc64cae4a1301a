"""Online metrics against an independent post-hoc computation on the full recorded traces."""

import numpy as np

from synsweep.engine import Circuit, Neuron, Simulation, Synapse, simulate

PAIR = Circuit(
    neurons=(Neuron("n1", "hh", init={"v": -75.0}), Neuron("n2", "hh", init={"v": -65.0})),
    synapses=(Synapse("gap", "electrical", "n1", "n2", {"g1": 0.003, "g2": 0.003}),),
)


def spike_times(v: np.ndarray, dt: float, thr: float = 0.0) -> np.ndarray:
    """Upward crossings of thr between samples k-1 and k, linearly interpolated (samples at k dt)."""
    k = np.nonzero((v[:-1] < thr) & (v[1:] >= thr))[0]
    return (k + (thr - v[k]) / (v[k + 1] - v[k])) * dt


def test_online_metrics_equal_post_hoc_metrics():
    dt, duration, transient = 0.01, 120.0, 20.0
    sim = Simulation(dt=dt, duration=duration, transient=transient)
    currents = np.array([0.0, 0.06, 0.1, 0.15])
    g = np.full(currents.size, 0.003)  # the junction's value, per point: the kernel of the service tests
    res = simulate(PAIR, sim, {"inputs.n1": currents, "inputs.n2": 0.8 * currents, "synapses.gap.params.g1": g,
                               "synapses.gap.params.g2": g}, record=["v"])
    m = res.metrics
    n_tr = int(round(transient / dt))
    window = duration - transient
    for p in range(currents.size):
        v = {name: res.traces[(name, "v")][p] for name in ("n1", "n2")}
        for k, name in enumerate(("n1", "n2")):
            t = spike_times(v[name], dt)
            t = t[t >= n_tr * dt]  # crossings within steps after the transient
            assert m["spike_count"][p, k] == t.size
            assert np.isclose(m["rate_count"][p, k], t.size / window * 1000.0)
            if t.size >= 2:
                isi = np.diff(t)
                assert np.isclose(m["rate_isi"][p, k], 1000.0 / isi.mean(), rtol=1e-9)
                assert np.isclose(m["first_spike_time"][p, k], t[0], rtol=1e-12)
            else:
                assert m["rate_isi"][p, k] == 0.0
            if t.size >= 3:
                isi = np.diff(t)
                assert np.isclose(m["isi_cv"][p, k], isi.std() / isi.mean(), rtol=1e-6, atol=1e-9)
            else:
                assert np.isnan(m["isi_cv"][p, k])
        a, b = v["n1"][n_tr + 1:], v["n2"][n_tr + 1:]
        assert np.isclose(m["pearson"][p, 0], np.corrcoef(a, b)[0, 1], rtol=1e-9, atol=1e-12)
        assert np.isclose(m["mean_abs_dv"][p, 0], np.mean(np.abs(a - b)), rtol=1e-12)
    assert m["spike_count"][0].tolist() == [0, 0]  # no input: no spikes after the transient
    assert (m["spike_count"][3] > 5).all()
