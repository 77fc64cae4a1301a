"""Hodgkin-Huxley neuron (seed 000, Neun's HH; MODELS.md section 2).

    cm dv/dt = i_in - gna m^3 h (v - vna) - gk n^4 (v - vk) - gl (v - vl)
    dx/dt    = a_x(v) (1 - x) - b_x(v) x,            x in m, h, n

    a_m = 0.1 (-v-40) / (exp((-v-40)/10) - 1)        b_m = 4 exp((-v-65)/18)
    a_h = 0.07 exp((-v-65)/20)                       b_h = 1 / (exp((-v-35)/10) + 1)
    a_n = 0.01 (-v-55) / (exp((-v-55)/10) - 1)       b_n = 0.125 exp((-v-65)/80)

a_m and a_n are written with x / (exp(x) - 1), whose removable singularity (v = -40, v = -55) takes its
limit (a_m = 1, a_n = 0.1). Parameters are absolute: the seed's densities times the membrane area
A = 7.854e-3 cm^2, so currents are in uA and conductances in mS.
"""

from math import exp

import numpy as np

from .base import NeuronModel, Param, StateVar
from .functions import exprel_inv

AREA_CM2 = 7.854e-3


def rates(v):
    """Opening and closing rates (1/ms) of the m, h, n gates at membrane potential v (mV).

    The six exponentials of the textbook forms are powers of two: with y = -v - 65 and e = exp(y/80),
    exp((-v-65)/20) = e^4, and exp((-v-40)/10), exp((-v-55)/10), exp((-v-35)/10) are e^8 times
    exp(2.5), exp(1), exp(3); only exp(y/18) needs an exponential of its own (relative error of e^8:
    < 2e-15).
    """
    y = -v - 65.0
    e80 = exp(y / 80.0)
    e20 = (e80 * e80) * (e80 * e80)
    e10 = e20 * e20
    am = exprel_inv((y + 25.0) / 10.0, e10 * 12.182493960703473)  # exp(2.5)
    bm = 4.0 * exp(y / 18.0)
    ah = 0.07 * e20
    bh = 1.0 / (e10 * 20.085536923187668 + 1.0)  # exp(3)
    an = 0.1 * exprel_inv((y + 10.0) / 10.0, e10 * 2.718281828459045)  # exp(1)
    bn = 0.125 * e80
    return am, bm, ah, bh, an, bn


def derivatives(v, m, h, n, i_in, cm, gna, gk, gl, vna, vk, vl):
    am, bm, ah, bh, an, bn = rates(v)
    i_na = gna * m * m * m * h * (v - vna)
    i_k = gk * n * n * n * n * (v - vk)
    i_l = gl * (v - vl)
    dv = (i_in - i_na - i_k - i_l) * (1.0 / cm)
    dm = am * (1.0 - m) - bm * m
    dh = ah * (1.0 - h) - bh * h
    dn = an * (1.0 - n) - bn * n
    return dv, dm, dh, dn


def steady_state_gates(v):
    """x_inf(v) = a_x / (a_x + b_x) for m, h, n (numpy, float64)."""
    v = np.asarray(v, dtype=np.float64)
    xm, xn = (-v - 40.0) / 10.0, (-v - 55.0) / 10.0
    with np.errstate(invalid="ignore", divide="ignore"):
        am = np.where(np.abs(xm) < 1e-9, 1.0, xm / np.expm1(xm))
        an = 0.1 * np.where(np.abs(xn) < 1e-9, 1.0, xn / np.expm1(xn))
    bm = 4.0 * np.exp((-v - 65.0) / 18.0)
    ah = 0.07 * np.exp((-v - 65.0) / 20.0)
    bh = 1.0 / (np.exp((-v - 35.0) / 10.0) + 1.0)
    bn = 0.125 * np.exp((-v - 65.0) / 80.0)
    return am / (am + bm), ah / (ah + bh), an / (an + bn)


def initial_state(given, params):
    """v = -65 mV unless given; each gate not given starts at its steady state x_inf(v0)."""
    values = dict(given)
    v0 = values.setdefault("v", -65.0)
    m_inf, h_inf, n_inf = steady_state_gates(v0)
    values.setdefault("m", m_inf)
    values.setdefault("h", h_inf)
    values.setdefault("n", n_inf)
    return values


HH = NeuronModel(
    name="hh",
    description="Hodgkin-Huxley squid axon neuron with absolute (area-scaled) parameters",
    source="seed 000 (Neun HH); MODELS.md section 2",
    state=(
        StateVar("v", "mV", "membrane potential", -65.0),
        StateVar("m", "1", "Na+ activation gate", None),
        StateVar("h", "1", "Na+ inactivation gate", None),
        StateVar("n", "1", "K+ activation gate", None),
    ),
    params=(
        Param("cm", 1.0 * AREA_CM2, "uF", "membrane capacitance", domain="> 0"),
        Param("gna", 120.0 * AREA_CM2, "mS", "maximal Na+ conductance"),
        Param("gk", 36.0 * AREA_CM2, "mS", "maximal K+ conductance"),
        Param("gl", 0.3 * AREA_CM2, "mS", "leak conductance"),
        Param("vna", 50.0, "mV", "Na+ reversal potential"),
        Param("vk", -77.0, "mV", "K+ reversal potential"),
        Param("vl", -54.387, "mV", "leak reversal potential"),
        Param("v_spike", 0.0, "mV", "spike detection threshold (upward crossing)"),
    ),
    derivatives=derivatives,
    helpers=(rates, exprel_inv),
    voltage="v",
    spike_threshold="v_spike",
    initial_state=initial_state,
)
