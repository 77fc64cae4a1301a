"""The synapse model library: ``SYNAPSE_MODELS`` maps a spec's ``model:`` name to its definition."""

from .abstract import ALPHA, DUAL_EXPONENTIAL, EXPONENTIAL, GAP_LIF, TWO_STAGE, VOLTAGE_JUMP
from .base import SynapseModel
from .electrical import ELECTRICAL
from .kinetic import AMPA, DIFFUSION, GABA_A, GABA_B, NMDA

SYNAPSE_MODELS: dict[str, SynapseModel] = {m.name: m for m in (
    ELECTRICAL, DIFFUSION, AMPA, NMDA, GABA_A, GABA_B, EXPONENTIAL, DUAL_EXPONENTIAL, ALPHA, TWO_STAGE,
    VOLTAGE_JUMP, GAP_LIF)}

__all__ = ["SYNAPSE_MODELS", "SynapseModel"]
