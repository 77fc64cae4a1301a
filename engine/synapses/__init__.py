"""The synapse model library: ``SYNAPSE_MODELS`` maps a spec's ``model:`` name to its definition."""

from .base import SynapseModel
from .electrical import ELECTRICAL

SYNAPSE_MODELS: dict[str, SynapseModel] = {m.name: m for m in (ELECTRICAL,)}

__all__ = ["SYNAPSE_MODELS", "SynapseModel"]
