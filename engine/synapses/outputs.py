"""Output forms shared by the chemical and abstract synapses (MODELS.md section 3).

    current-based     (cuba)   I_post = w s
    conductance-based (coba)   I_post = -g_max s (V_post - E)      added to dV/dt, so E above V excites
"""

from ..models.base import Param
from .base import Output


def cuba(s, w):
    return 0.0, w * s


def coba(s, v_post, g_max, E):
    return 0.0, -g_max * s * (v_post - E)


def cuba_output(w: float) -> Output:
    return Output((Param("w", w, "current", "weight: current per unit of s (post neuron's current units)"),), cuba,
                  conductance=False)


def coba_output(g_max: float, E: float, currents=coba) -> Output:
    return Output((Param("g_max", g_max, "conductance", "maximal conductance (post neuron's conductance units)"),
                   Param("E", E, "mV", "reversal potential")), currents)
