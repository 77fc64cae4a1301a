"""The neuron model library: ``NEURON_MODELS`` maps a spec's ``model:`` name to its definition."""

from .base import NeuronModel, Param, StateVar
from .hh import HH

NEURON_MODELS: dict[str, NeuronModel] = {m.name: m for m in (HH,)}

__all__ = ["NEURON_MODELS", "NeuronModel", "Param", "StateVar"]
