"""Electrical synapse (gap junction; seed 000 "ESyn"; MODELS.md section 1).

    current into pre  (neuron 1) = g1 (v_post - v_pre)
    current into post (neuron 2) = g2 (v_pre - v_post)

g1 is the conductance seen by the pre neuron, g2 the one seen by the post neuron. Positive g is the
physical, diffusive coupling that pulls the voltages together; the seed's examples pass negative values,
which push them apart (anti-diffusive) and blow the pair up from about g = -0.005 on. It joins any two
neuron models through their voltage-like variables (HH's v, HR's x, ...).
"""

from ..models.base import Param
from .base import Output, SynapseModel


def currents(v_pre, v_post, g1, g2):
    return g1 * (v_post - v_pre), g2 * (v_pre - v_post)


ELECTRICAL = SynapseModel(
    name="electrical",
    description="gap junction with asymmetric conductances g1 (into pre) and g2 (into post)",
    source="seed 000 (Neun ESyn); MODELS.md section 1",
    params=(
        Param("g1", 0.002, "conductance of pre", "conductance seen by the pre neuron (neuron 1)"),
        Param("g2", 0.002, "conductance", "conductance seen by the post neuron (neuron 2)"),
    ),
    outputs={"gap": Output((), currents, diffusive=("g1", "g2"))},
    default_output="gap",
)
