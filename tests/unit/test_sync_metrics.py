"""Spike-synchrony metrics on constructed spike trains with known answers (two spike sources).

A ``spike_source`` fires at t_first + k period exactly (at the end of the step nearest to it), so every
expected value below follows from the definitions in ``synsweep.engine.metrics``.
"""

import numpy as np
import pytest

from synsweep.engine import STATUS_OK, STATUS_RUNAWAY, Circuit, Neuron, Simulation, simulate

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


def test_too_few_spikes_give_no_synchrony():
    """Identical trains of 3 spikes each (period 20 ms, 50 ms run): below the default min_spikes of 10 the
    coincidence, plv and time_to_sync are NaN; with min_spikes 3 the same trains are perfectly synchronous."""
    m = sync(10.0, 20.0, 10.0, 20.0, duration=55.0)
    assert m["spike_count"].tolist() == [3]
    for name in ("coincidence", "plv", "time_to_sync"):
        assert np.isnan(m[name][0]), name
    m = sync(10.0, 20.0, 10.0, 20.0, duration=55.0, min_spikes=3, sync_spikes=2)
    assert m["coincidence"][0] == 1.0
    assert m["plv"][0] == pytest.approx(1.0, abs=1e-12)
    assert m["time_to_sync"][0] == pytest.approx(10.0, abs=1e-9)


def test_synchrony_reached_just_before_the_end_is_not_claimed():
    """The converging trains of the test above, stopped at 215 ms: the last out-of-sync spike is a's at
    201 ms, after which each neuron fires once more (b at 210, a at 210.9) before the end: time_to_sync
    is NaN with the default sync_spikes 5, 201 ms when one spike each is accepted as evidence."""
    m = sync(3.0, 9.9, 10.0, 10.0, duration=215.0)
    assert min(m["spike_count"].tolist()) >= 10
    assert np.isnan(m["time_to_sync"][0])
    one = sync(3.0, 9.9, 10.0, 10.0, duration=215.0, sync_spikes=1)["time_to_sync"][0]
    assert one == pytest.approx(201.0, abs=1e-9)
    two = sync(3.0, 9.9, 10.0, 10.0, duration=215.0, sync_spikes=2)["time_to_sync"][0]
    assert np.isnan(two)


def test_runaway_firing_is_flagged():
    """a fires every 2 steps (period 0.2 ms at dt 0.1: more than once every 3 steps), or every 5 steps
    (2 kHz, above max_rate 1000 Hz): status 3 (runaway), spike counts kept, synchrony metrics NaN.
    A max_rate above 2 kHz accepts the second; every 20 steps (500 Hz) is ok."""
    periods = np.array([0.2, 0.5, 2.0])
    res = simulate(PAIR, Simulation(dt=0.1, duration=100.0),
                   {"neurons.a.params.t_first": 1.0, "neurons.a.params.period": periods,
                    "neurons.b.params.t_first": 1.0, "neurons.b.params.period": 2.0},
                   metrics=("spike_count", "coincidence", "plv", "time_to_sync"))  # sync()'s metrics: its kernel
    assert res.metrics["status"].tolist() == [STATUS_RUNAWAY, STATUS_RUNAWAY, STATUS_OK]
    assert (res.metrics["spike_count"][:, 0] > 40).all()
    assert np.isnan(res.metrics["plv"][:2, 0]).all() and np.isnan(res.metrics["coincidence"][:2, 0]).all()
    assert res.metrics["plv"][2, 0] == pytest.approx(1.0, abs=1e-12)
    res = simulate(PAIR, Simulation(dt=0.1, duration=100.0, max_rate=3000.0),
                   {"neurons.a.params.t_first": 1.0, "neurons.a.params.period": periods,
                    "neurons.b.params.t_first": 1.0, "neurons.b.params.period": 2.0},
                   metrics=("spike_count", "coincidence", "plv", "time_to_sync"))
    assert res.metrics["status"].tolist() == [STATUS_RUNAWAY, STATUS_OK, STATUS_OK]


def test_hindmarsh_rose_rates_are_per_model_time_not_hz():
    """hr's time is in model units: its rates are per 1000 model time units and its times in model time units
    in data and figures (attrs), never Hz or ms, and its voltage differences dimensionless, never mV; a
    circuit of ms models keeps Hz, ms and mV."""
    from synsweep.engine import NEURON_MODELS
    from synsweep.engine.metrics import metric_units, time_units, voltage_units

    hr_time = time_units([NEURON_MODELS["hr"], NEURON_MODELS["hr"]])
    assert hr_time == "model time units"
    assert metric_units("rate_count", hr_time) == "1/(1000 model time units)"
    assert metric_units("rate_isi", hr_time) == "1/(1000 model time units)"
    assert metric_units("time_to_sync", hr_time) == "model time units"
    assert metric_units("pearson", hr_time) == "1"
    hr_voltage = voltage_units([NEURON_MODELS["hr"], NEURON_MODELS["hr"]])
    assert (hr_voltage, metric_units("mean_abs_dv", hr_time, hr_voltage)) == ("1", "1")  # |x_a - x_b|, not mV
    assert voltage_units([NEURON_MODELS["hh"], NEURON_MODELS["cif"]]) == "mV"
    assert voltage_units([NEURON_MODELS["spike_source"], NEURON_MODELS["cif"]]) == "mV"
    hh_time = time_units([NEURON_MODELS["hh"], NEURON_MODELS["cif"]])
    assert (hh_time, metric_units("rate_count", hh_time), metric_units("first_spike_time", hh_time)) == \
        ("ms", "Hz", "ms")
