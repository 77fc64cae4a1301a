"""Izhikevich neuron (in Neun beside HH and HR; MODELS.md section 2).

    dv/dt = 0.04 v^2 + 5 v + 140 - u + I
    du/dt = a (b v - u)
    v >= v_peak: spike, v <- c, u <- u + d

Defaults: regular spiking (a, b, c, d) = (0.02, 0.2, -65, 8), v_peak = 30 mV. Currents are in the model's
own units (the 140 and 0.04 v^2 are per ms), conductances such that conductance x mV is such a current.
"""

from .base import NeuronModel, Param, StateVar


def derivatives(v, u, i_in, a, b):
    dv = 0.04 * v * v + 5.0 * v + 140.0 - u + i_in
    du = a * (b * v - u)
    return dv, du


def spike(v, v_peak):
    return v >= v_peak


def after_step(spiked, v, u, c, d):
    v_next = c if spiked else v
    u_next = u + d if spiked else u
    return v_next, u_next


def initial_state(given, params):
    """v = -65 mV unless given; u = b v0 (the v-nullcline's recovery value) unless given."""
    values = dict(given)
    v0 = values.setdefault("v", -65.0)
    values.setdefault("u", params["b"] * v0)
    return values


IZH = NeuronModel(
    name="izh",
    description="Izhikevich quadratic integrate-and-fire neuron with recovery variable",
    source="Izhikevich 2003, in Neun; MODELS.md section 2",
    state=(
        StateVar("v", "mV", "membrane potential", None),
        StateVar("u", "1", "recovery variable", None),
    ),
    params=(
        Param("a", 0.02, "1/ms", "time scale of the recovery variable"),
        Param("b", 0.2, "1", "sensitivity of the recovery variable to v"),
        Param("c", -65.0, "mV", "reset potential"),
        Param("d", 8.0, "1", "recovery increment after a spike"),
        Param("v_peak", 30.0, "mV", "spike cutoff"),
    ),
    derivatives=derivatives,
    voltage="v",
    spike_threshold="v_peak",
    current_units="1",
    conductance_units="1",
    initial_state=initial_state,
    spike=spike,
    after_step=after_step,
)
