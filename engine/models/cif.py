"""Integrate-and-fire neuron with conductance synapses (seed 002; MODELS.md section 2).

    tau_m dV/dt = -V + E_m - R_m I_bg + R_m (I_e + i_syn)
    I_bg        = g_exc (V - E_exc) + g_inh (V - E_inh)        constant background conductances (shunting)
    V >= thr:   spike, V <- V_reset                             (V_reset = E_m unless given)
    refractory: V held at V_reset for t_ref after a spike (default 0: none, the seed's model)

The refractory period is counted in whole steps (``ref``: steps left, round(t_ref / dt) after a spike), as
in ``lif``. Without it a neuron driven hard enough (e.g. by a growing synaptic conductance) can fire every
few steps: such points are flagged runaway (status 3, ``synsweep.engine.metrics``).

Units: ms, mV, MOhm, nA, nS (R_m x nA = mV; nS x mV = pA = 1e-3 nA, hence ``conductance_factor`` 1e-3).
``i_syn`` is the sum of the currents of the neuron's synapses, inward positive (MODELS.md section 1): a
two_stage synapse contributes -g (V - E_syn), which is the seed's -R_m I_syn. ``I_e`` is the spec's input.

Firing rate under constant I_e (no synapses): f = 1 / (tau_m ln((R_m I_e + E_m - V_reset) /
(R_m I_e + E_m - thr))) when R_m I_e + E_m > thr, else 0 (``analytic_rate``).
"""

import numpy as np

from .base import NeuronModel, Param, StateVar
from .functions import whole_steps


def derivatives(v, ref, i_in, tau_m, R_m, E_m, g_exc, g_inh, E_exc, E_inh):
    i_bg = 0.001 * (g_exc * (v - E_exc) + g_inh * (v - E_inh))
    dv = (-v + E_m - R_m * i_bg + R_m * i_in) / tau_m
    return (0.0 if ref > 0.0 else dv), 0.0


def spike(v, ref, thr):
    return (v >= thr) & (ref <= 0.0)


def after_step(spiked, v, ref, v_reset, t_ref, dt):
    v_next = v_reset if spiked else v
    ref_next = whole_steps(t_ref, dt) if spiked else max(ref - 1.0, 0.0)
    return v_next, ref_next


def refractory(ref):
    return ref > 0.0


def initial_state(given, params):
    """V starts at the resting potential E_m unless given."""
    values = dict(given)
    values.setdefault("v", params["E_m"])
    return values


def analytic_rate(i_e, tau_m=10.0, R_m=10.0, E_m=-80.0, thr=-54.0, v_reset=None):
    """The seed's closed-form firing rate (Hz) for constant current ``i_e`` (nA); 0 below rheobase (numpy)."""
    v_reset = E_m if v_reset is None else v_reset
    drive = R_m * np.asarray(i_e, dtype=np.float64) + E_m
    above = drive > thr
    with np.errstate(divide="ignore", invalid="ignore"):
        period = tau_m * np.log((drive - v_reset) / np.where(above, drive - thr, 1.0))
    return np.where(above, 1000.0 / np.where(above, period, 1.0), 0.0)


CIF = NeuronModel(
    name="cif",
    description="integrate-and-fire neuron with threshold, reset and conductance-based synapses",
    source="seed 002; MODELS.md section 2",
    state=(StateVar("v", "mV", "membrane potential", None), StateVar("ref", "1", "refractory steps left", 0.0)),
    params=(
        Param("tau_m", 10.0, "ms", "membrane time constant", domain="> 0"),
        Param("R_m", 10.0, "MOhm", "membrane resistance"),
        Param("E_m", -80.0, "mV", "resting potential"),
        Param("v_reset", -80.0, "mV", "reset potential (default: E_m)", default_from="E_m"),
        Param("thr", -54.0, "mV", "firing threshold"),
        Param("g_exc", 0.0, "nS", "constant excitatory background conductance"),
        Param("g_inh", 0.0, "nS", "constant inhibitory background conductance"),
        Param("E_exc", 0.0, "mV", "reversal potential of the excitatory background"),
        Param("E_inh", -100.0, "mV", "reversal potential of the inhibitory background"),
        Param("t_ref", 0.0, "ms", "refractory period (rounded to whole steps; 0: none)", domain=">= 0"),
    ),
    derivatives=derivatives,
    helpers=(whole_steps,),
    voltage="v",
    spike_threshold="thr",
    current_units="nA",
    conductance_units="nS",
    conductance_factor=1e-3,
    initial_state=initial_state,
    spike=spike,
    after_step=after_step,
    refractory=refractory,
)
