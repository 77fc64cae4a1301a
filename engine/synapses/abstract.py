"""Abstract (reduced) synapses (seed 001 and seed 002; MODELS.md section 3).

Precise event timing: these synapses are linear between spikes, so a spike at the interpolated time t_s
within a step is delivered exactly: after the step in which the (delayed) spike arrives, the state gets the
closed-form response of the increment propagated over ``lag`` = t_{n+1} - t_s (exponential: s +=
exp(-lag / tau)). The timing error of the response is then that of the interpolated spike time (second order
in dt), not up to a whole step (tests/unit/test_event_timing.py).

    exponential        ds/dt = -s / tau;                         s += 1 on a spike
    dual_exponential   ds/dt = x,  dx/dt = -(tau1 + tau2)/(tau1 tau2) x - s/(tau1 tau2);   x += 1
                       one spike at t0: s = tau1 tau2/(tau1 - tau2) (exp(-(t-t0)/tau1) - exp(-(t-t0)/tau2))
    alpha              the same with tau1 = tau2 = tau:  one spike: s = (t - t0) exp(-(t - t0)/tau)
    two_stage          tau_syn dx/dt = -x,  tau_syn dg/dt = x - g;  x += g_star on a spike (seed 002);
                       current into post -g (V_post - E_syn) (the seed's -R_m I_syn, I_syn = g (V - E_syn))
    voltage_jump       on a spike V_post += w, skipped while the post neuron is refractory
    gap_lif            gap junction into post w (V_pre - V_post) plus a spikelet: on a spike
                       V_post += w k_spikelet (one-way, as BrainPy's; use two for a symmetric junction)
"""

from math import exp

from ..models.base import Param, StateVar
from .base import Output, SynapseModel
from .outputs import coba_output, cuba_output


def exponential_derivatives(s, tau):
    return -s / tau


def increment_s(spike, s, lag, tau):
    """s += 1 at the spike, decayed to the step's end: exp(-lag / tau)."""
    return s + exp(-lag / tau) if spike else s


EXPONENTIAL = SynapseModel(
    name="exponential",
    description="single exponential decay, s += 1 on a spike",
    source="seed 001 (BrainPy/BrainModels); MODELS.md section 3",
    params=(Param("tau", 8.0, "ms", "decay time constant", domain="> 0"),),
    outputs={"cuba": cuba_output(0.1), "coba": coba_output(0.1, 0.0)},
    default_output="cuba",
    state=(StateVar("s", "1", "synaptic gating variable", 0.0),),
    derivatives=exponential_derivatives,
    after_step=increment_s,
    idle_without_spike=True,
)


def dual_exponential_derivatives(s, x, tau1, tau2):
    return x, -(tau1 + tau2) / (tau1 * tau2) * x - s / (tau1 * tau2)


def increment_dual(spike, s, x, lag, tau1, tau2):
    """x += 1 at the spike, propagated to the step's end: s += tau1 tau2 / (tau1 - tau2) (e1 - e2),
    x += (tau1 e2 - tau2 e1) / (tau1 - tau2), e_k = exp(-lag / tau_k); the alpha limit when tau1 ~ tau2."""
    e1 = exp(-lag / tau1)
    e2 = exp(-lag / tau2)
    d = tau1 - tau2
    close = abs(d) < 1e-6 * (tau1 + tau2)
    tau = 0.5 * (tau1 + tau2)
    ea = exp(-lag / tau)
    ds = lag * ea if close else tau1 * tau2 / d * (e1 - e2)
    dx = (1.0 - lag / tau) * ea if close else (tau1 * e2 - tau2 * e1) / d
    return (s + ds, x + dx) if spike else (s, x)


DUAL_EXPONENTIAL = SynapseModel(
    name="dual_exponential",
    description="difference of two exponentials, x += 1 on a spike",
    source="seed 001 (BrainPy/BrainModels); MODELS.md section 3",
    params=(Param("tau1", 1.0, "ms", "first time constant", domain="> 0"),
            Param("tau2", 3.0, "ms", "second time constant", domain="> 0")),
    outputs={"cuba": cuba_output(0.2), "coba": coba_output(0.2, 0.0)},
    default_output="cuba",
    state=(StateVar("s", "1", "synaptic gating variable", 0.0), StateVar("x", "1/ms", "rate of s", 0.0)),
    derivatives=dual_exponential_derivatives,
    after_step=increment_dual,
    idle_without_spike=True,
)


def alpha_derivatives(s, x, tau):
    return x, -2.0 * x / tau - s / (tau * tau)


def increment_alpha(spike, s, x, lag, tau):
    """x += 1 at the spike, propagated to the step's end: s += lag e, x += (1 - lag / tau) e, e = exp(-lag / tau)."""
    e = exp(-lag / tau)
    return (s + lag * e, x + (1.0 - lag / tau) * e) if spike else (s, x)


ALPHA = SynapseModel(
    name="alpha",
    description="alpha function s = t exp(-t / tau) after a spike, x += 1 on a spike",
    source="seed 001 (BrainPy/BrainModels); MODELS.md section 3",
    params=(Param("tau", 2.0, "ms", "time constant", domain="> 0"),),
    outputs={"cuba": cuba_output(0.2), "coba": coba_output(0.2, 0.0)},
    default_output="cuba",
    state=(StateVar("s", "1", "synaptic gating variable", 0.0), StateVar("x", "1/ms", "rate of s", 0.0)),
    derivatives=alpha_derivatives,
    after_step=increment_alpha,
    idle_without_spike=True,
)


def two_stage_derivatives(x, g, tau_syn):
    return -x / tau_syn, (x - g) / tau_syn


def two_stage_spike(spike, x, g, lag, g_star, tau_syn):
    """x += g_star at the spike, propagated to the step's end: x += g_star e, g += g_star (lag / tau_syn) e,
    e = exp(-lag / tau_syn)."""
    e = exp(-lag / tau_syn)
    return (x + g_star * e, g + g_star * (lag / tau_syn) * e) if spike else (x, g)


def two_stage_currents(g, v_post, E_syn):
    return 0.0, -g * (v_post - E_syn)


TWO_STAGE = SynapseModel(
    name="two_stage",
    description="two-stage conductance synapse of seed 002: x jumps by g_star, g follows x",
    source="seed 002; MODELS.md section 3",
    params=(Param("tau_syn", 10.0, "ms", "synaptic time constant", domain="> 0"),
            Param("g_star", 30.0, "conductance", "increment of x per presynaptic spike (nS for cif)")),
    outputs={"coba": Output((Param("E_syn", 0.0, "mV", "reversal potential (0 excitatory, -100 inhibitory)"),),
                            two_stage_currents)},
    default_output="coba",
    state=(StateVar("x", "conductance", "first stage (jumps on a spike)", 0.0),
           StateVar("g", "conductance", "synaptic conductance", 0.0)),
    derivatives=two_stage_derivatives,
    after_step=two_stage_spike,
    idle_without_spike=True,
)


def voltage_jump(spike, w, post_refractory):
    return w if (spike & (not post_refractory)) else 0.0


VOLTAGE_JUMP = SynapseModel(
    name="voltage_jump",
    description="instantaneous jump of the post voltage by w on a spike (not while post is refractory)",
    source="seed 001 (BrainPy/BrainModels); MODELS.md section 3",
    params=(Param("w", 1.0, "mV", "voltage jump"),),
    post_jump=voltage_jump,
    idle_without_spike=True,
)


def gap_currents(v_pre, v_post, w):
    return 0.0, w * (v_pre - v_post)


def spikelet(spike, w, k_spikelet):
    return w * k_spikelet if spike else 0.0


GAP_LIF = SynapseModel(
    name="gap_lif",
    description="one-way gap junction with a spikelet: V_post += w k_spikelet on a presynaptic spike",
    source="seed 001 (BrainPy/BrainModels Gap_junction_lif); MODELS.md section 3",
    params=(Param("w", 1.0, "conductance", "gap junction conductance"),
            Param("k_spikelet", 0.1, "mV per unit of w", "spikelet size per unit of w")),
    outputs={"gap": Output((), gap_currents)},
    default_output="gap",
    post_jump=spikelet,
    idle_without_spike=True,
)
