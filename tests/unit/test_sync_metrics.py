"""Spike-synchrony metrics on constructed spike trains with known answers (two spike sources).

A ``spike_source`` fires at t_first + k period exactly (at the end of the step nearest to it), so every
expected value below follows from the definitions in ``synsweep.engine.metrics``.
"""

import numpy as np
import pytest

from synsweep.engine import Circuit, Neuron, Simulation, simulate

PAIR = Circuit(neurons=(Neuron("a", "spike_source"), Neuron("b", "spike_source")))


def sync(t_first_a, period_a, t_first_b, period_b, duration=300.0, **sim):
    values = {"neurons.a.params.t_first": t_first_a, "neurons.a.params.period": period_a,
              "neurons.b.params.t_first": t_first_b, "neurons.b.params.period": period_b}
    res = simulate(PAIR, Simulation(dt=0.1, duration=duration, **sim), values,
                   metrics=("spike_count", "coincidence", "plv", "time_to_sync"))
    return {k: v[:, 0] for k, v in res.metrics.items() if v.ndim == 2}


def test_identical_and_slightly_shifted_trains_are_synchronous():
    m = sync(np.array([10.0, 10.5]), 20.0, 10.0, 20.0)
    np.testing.assert_array_equal(m["coincidence"], 1.0)
    np.testing.assert_allclose(m["plv"], 1.0, atol=1e-12)
    np.testing.assert_allclose(m["time_to_sync"], 10.0, atol=1e-9)  # in sync from the first spike on


def test_locked_trains_out_of_the_window_lock_in_phase_but_never_coincide():
    """a fires 5 ms after b at every cycle of 20 ms: phase 1/4 every time, so plv = 1, no coincidences
    within 2 ms, and the 5 ms lag never falls below the 1 ms tolerance."""
    m = sync(15.0, 20.0, 10.0, 20.0)
    assert m["coincidence"][0] == 0.0
    assert m["plv"][0] == pytest.approx(1.0, abs=1e-12)
    assert np.isnan(m["time_to_sync"][0])


def test_unrelated_rates_give_a_low_plv():
    """Periods 20 and 23 ms: a's phase in b's cycle walks through [0, 1) (the phases of a spike every
    23 ms in a 20 ms cycle), so the phase vectors cancel; few spikes coincide."""
    m = sync(10.0, 23.0, 10.0, 20.0, duration=2000.0)
    assert m["plv"][0] < 0.2
    assert m["coincidence"][0] < 0.25


def test_time_to_synchrony_of_converging_trains():
    """a starts 3 ms behind b and gains 0.1 ms per 10 ms cycle (period 9.9 ms): its lag to b's nearest spike
    is 3 - 0.1 k. The last spike with a lag >= 1 ms is a's spike k = 20 at 201 ms (1.0 ms after b's spike at
    200 ms); from then on every lag is below 1 ms, so time_to_sync = 201 ms."""
    m = sync(3.0, 9.9, 10.0, 10.0, duration=290.0)
    assert m["time_to_sync"][0] == pytest.approx(201.0, abs=1e-9)
    wider = sync(3.0, 9.9, 10.0, 10.0, duration=290.0, sync_tolerance=2.0)["time_to_sync"][0]
    assert wider == pytest.approx(102.0, abs=1e-9)  # a's spike k = 10 lags by 2.0 ms, k = 11 by 1.9 ms


def test_silent_pair_has_undefined_synchrony():
    m = sync(1e6, 0.0, 1e6, 0.0, duration=50.0)
    assert m["spike_count"].tolist() == [0]
    for name in ("coincidence", "plv", "time_to_sync"):
        assert np.isnan(m[name][0]), name
