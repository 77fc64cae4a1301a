"""Chemical synapses with transmitter kinetics (seed 000 "DSyn", seed 001 AMPA/NMDA/GABA; MODELS.md 3).

Transmitter pulse: a presynaptic spike sets [T] = T for the next round(T_dur / dt) steps (``pulse`` counts
the steps left; a new spike restarts it), [T] = 0 otherwise.

    ampa, gaba_a   ds/dt = alpha [T] (1 - s) - beta s                                 (Markov gating)
    gaba_b         dR/dt = k3 [T] (1 - R) - k4 R,  dG/dt = k1 R - k2 G,  s = G^4 / (G^4 + Kd)
    nmda           ds/dt = -s / tau_decay + a x (1 - s),  dx/dt = -x / tau_rise,  x += 1 on a spike;
                   conductance-based with the Mg2+ block 1 / (1 + exp(-alpha_mg V) c_mg / beta_mg)
    diffusion      Neun's DSyn (Destexhe 1994): dr/dt = alpha [T] (1 - r) - beta r, triggered by V_pre
                   crossing ``threshold`` upward (not by the pre neuron's spike rule), [T] on for
                   release_ms; current into post gsyn r (V_post - esyn), *added* (Neun's sign:
                   inhibition needs gsyn < 0)
"""

from math import exp

from ..models.base import Param, StateVar
from ..models.functions import whole_steps
from .base import Output, SynapseModel
from .outputs import coba_output, cuba_output

PULSE = StateVar("pulse", "1", "transmitter pulse steps left", 0.0)


def markov(s, pulse, alpha, beta, T):
    t_conc = T if pulse > 0.0 else 0.0
    return alpha * t_conc * (1.0 - s) - beta * s, 0.0


def release(spike, s, pulse, T_dur, dt):
    return s, (whole_steps(T_dur, dt) if spike else max(pulse - 1.0, 0.0))


def _markov_model(name: str, description: str, alpha: float, beta: float, T: float, T_dur: float,
                  g_max: float, E: float) -> SynapseModel:
    return SynapseModel(
        name=name,
        description=description,
        source="seed 001 (BrainPy/BrainModels); MODELS.md section 3",
        params=(
            Param("alpha", alpha, "1/(mM ms)", "binding rate"),
            Param("beta", beta, "1/ms", "unbinding rate"),
            Param("T", T, "mM", "transmitter concentration during a pulse"),
            Param("T_dur", T_dur, "ms", "transmitter pulse duration", domain=">= 0"),
        ),
        outputs={"coba": coba_output(g_max, E), "cuba": cuba_output(1.0)},
        default_output="coba",
        state=(StateVar("s", "1", "open fraction of the channels", 0.0), PULSE),
        derivatives=markov,
        after_step=release,
        helpers=(whole_steps,),
    )


AMPA = _markov_model("ampa", "AMPA receptor, Markov gating driven by a transmitter pulse",
                     alpha=0.98, beta=0.18, T=0.5, T_dur=0.5, g_max=0.42, E=0.0)
GABA_A = _markov_model("gaba_a", "GABA_A receptor, Markov gating driven by a transmitter pulse",
                       alpha=0.53, beta=0.18, T=1.0, T_dur=1.0, g_max=0.04, E=-80.0)


def gaba_b_derivatives(R, G, pulse, k1, k2, k3, k4, T):
    t_conc = T if pulse > 0.0 else 0.0
    return k3 * t_conc * (1.0 - R) - k4 * R, k1 * R - k2 * G, 0.0


def gaba_b_release(spike, R, G, pulse, T_dur, dt):
    return R, G, (whole_steps(T_dur, dt) if spike else max(pulse - 1.0, 0.0))


def gaba_b_coba(G, v_post, Kd, g_max, E):
    g4 = (G * G) * (G * G)
    return 0.0, -g_max * (g4 / (g4 + Kd)) * (v_post - E)


def gaba_b_cuba(G, Kd, w):
    g4 = (G * G) * (G * G)
    return 0.0, w * (g4 / (g4 + Kd))


GABA_B = SynapseModel(
    name="gaba_b",
    description="GABA_B receptor: activated receptors R and G protein, s = G^4 / (G^4 + Kd)",
    source="seed 001 (BrainPy/BrainModels); MODELS.md section 3",
    params=(
        Param("k1", 0.18, "1/ms", "G-protein production rate"),
        Param("k2", 0.034, "1/ms", "G-protein decay rate"),
        Param("k3", 0.09, "1/(mM ms)", "receptor activation rate"),
        Param("k4", 0.0012, "1/ms", "receptor deactivation rate"),
        Param("Kd", 100.0, "1", "dissociation constant of G^4"),
        Param("T", 0.5, "mM", "transmitter concentration during a pulse"),
        Param("T_dur", 0.3, "ms", "transmitter pulse duration", domain=">= 0"),
    ),
    outputs={"coba": coba_output(0.02, -95.0, gaba_b_coba),
             "cuba": Output(cuba_output(1.0).params, gaba_b_cuba, conductance=False)},
    default_output="coba",
    state=(StateVar("R", "1", "fraction of activated receptors", 0.0),
           StateVar("G", "1", "concentration of activated G protein", 0.0), PULSE),
    derivatives=gaba_b_derivatives,
    after_step=gaba_b_release,
    helpers=(whole_steps,),
)


def nmda_derivatives(s, x, tau_decay, tau_rise, a):
    return -s / tau_decay + a * x * (1.0 - s), -x / tau_rise


def nmda_spike(spike, s, x):
    return s, (x + 1.0 if spike else x)


def nmda_coba(s, v_post, c_mg, alpha_mg, beta_mg, g_max, E):
    block = 1.0 / (1.0 + exp(-alpha_mg * v_post) * (c_mg / beta_mg))
    return 0.0, -g_max * s * block * (v_post - E)


NMDA = SynapseModel(
    name="nmda",
    description="NMDA receptor with rise and decay and the voltage-dependent Mg2+ block",
    source="seed 001 (BrainPy/BrainModels); MODELS.md section 3",
    params=(
        Param("tau_decay", 100.0, "ms", "decay time constant of s", domain="> 0"),
        Param("tau_rise", 2.0, "ms", "decay time constant of x (rise of s)", domain="> 0"),
        Param("a", 0.5, "1/ms", "rate of opening by x"),
        Param("c_mg", 1.2, "mM", "Mg2+ concentration"),
        Param("alpha_mg", 0.062, "1/mV", "voltage sensitivity of the Mg2+ block"),
        Param("beta_mg", 3.57, "mM", "Mg2+ block constant"),
    ),
    outputs={"coba": coba_output(0.15, 0.0, nmda_coba)},
    default_output="coba",
    state=(StateVar("s", "1", "open fraction of the channels", 0.0),
           StateVar("x", "1", "bound transmitter (rise variable)", 0.0)),
    derivatives=nmda_derivatives,
    after_step=nmda_spike,
    idle_without_spike=True,
)


def diffusion_trigger(v_pre_before, v_pre, threshold):
    return (v_pre_before < threshold) & (v_pre >= threshold)


def diffusion_derivatives(r, pulse, alpha, beta, T):
    t_conc = T if pulse > 0.0 else 0.0
    return alpha * t_conc * (1.0 - r) - beta * r, 0.0


def diffusion_release(spike, r, pulse, release_ms, dt):
    return r, (whole_steps(release_ms, dt) if spike else max(pulse - 1.0, 0.0))


def diffusion_currents(r, v_post, gsyn, esyn):
    return 0.0, gsyn * r * (v_post - esyn)


DIFFUSION = SynapseModel(
    name="diffusion",
    description="one-way chemical synapse with Destexhe kinetics and a square transmitter pulse (Neun DSyn)",
    source="seed 000 (Neun DSyn, Destexhe et al. 1994); MODELS.md section 3",
    params=(
        Param("alpha", 5.0, "1/(mM ms)", "binding rate"),
        Param("beta", 0.18, "1/ms", "unbinding rate"),
        Param("threshold", 0.0, "mV", "presynaptic voltage whose upward crossing releases transmitter"),
        Param("T", 1.0, "mM", "transmitter concentration during release"),
        Param("release_ms", 1.0, "ms", "duration of the transmitter pulse", domain=">= 0"),
    ),
    outputs={"neun": Output((Param("gsyn", -0.002, "conductance", "conductance (Neun's sign: < 0 inhibits)"),
                             Param("esyn", -80.0, "mV", "reversal potential")), diffusion_currents)},
    default_output="neun",
    state=(StateVar("r", "1", "fraction of bound receptors", 0.0), PULSE),
    derivatives=diffusion_derivatives,
    after_step=diffusion_release,
    trigger=diffusion_trigger,
    helpers=(whole_steps,),
)
