"""Leaky integrate-and-fire neuron with a refractory period (seed 001's neuron; MODELS.md section 2).

    tau dV/dt = -(V - V_rest) + R I          while not refractory; V is held during the refractory period
    V >= V_th (not refractory): spike, V <- V_reset, refractory for t_ref

The refractory period is counted in whole steps (``ref``: steps left, round(t_ref / dt) after a spike),
never by comparing float times. Units: ms, mV, MOhm, nA (R x nA = mV); conductances in uS (uS x mV = nA).
With V_rest = 0 and E = 0 a conductance-based excitatory synapse injects nothing: physiological sweeps
set V_rest = -65, V_reset = -70, V_th = -50.
"""

from .base import NeuronModel, Param, StateVar
from .functions import whole_steps


def derivatives(v, ref, i_in, V_rest, tau, R):
    dv = (-(v - V_rest) + R * i_in) / tau
    return (0.0 if ref > 0.0 else dv), 0.0


def spike(v, ref, V_th):
    return (v >= V_th) & (ref <= 0.0)


def after_step(spiked, v, ref, V_reset, t_ref, dt):
    v_next = V_reset if spiked else v
    ref_next = whole_steps(t_ref, dt) if spiked else max(ref - 1.0, 0.0)
    return v_next, ref_next


def refractory(ref):
    return ref > 0.0


def initial_state(given, params):
    """V starts at V_rest unless given; not refractory."""
    values = dict(given)
    values.setdefault("v", params["V_rest"])
    return values


LIF = NeuronModel(
    name="lif",
    description="leaky integrate-and-fire neuron with a refractory period counted in steps",
    source="seed 001 (BrainPy/BrainModels LIF); MODELS.md section 2",
    state=(
        StateVar("v", "mV", "membrane potential", None),
        StateVar("ref", "1", "refractory steps left", 0.0),
    ),
    params=(
        Param("V_rest", 0.0, "mV", "resting potential"),
        Param("V_reset", -5.0, "mV", "reset potential"),
        Param("V_th", 20.0, "mV", "firing threshold"),
        Param("tau", 10.0, "ms", "membrane time constant", domain="> 0"),
        Param("R", 1.0, "MOhm", "membrane resistance"),
        Param("t_ref", 1.0, "ms", "refractory period (rounded to whole steps)", domain=">= 0"),
    ),
    derivatives=derivatives,
    helpers=(whole_steps,),
    voltage="v",
    spike_threshold="V_th",
    current_units="nA",
    conductance_units="uS",
    initial_state=initial_state,
    spike=spike,
    after_step=after_step,
    refractory=refractory,
)
