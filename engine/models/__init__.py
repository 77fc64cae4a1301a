"""The neuron model library: ``NEURON_MODELS`` maps a spec's ``model:`` name to its definition."""

from .base import NeuronModel, Param, StateVar
from .cif import CIF
from .hh import HH
from .hr import HR
from .izh import IZH
from .lif import LIF
from .source import SOURCE

NEURON_MODELS: dict[str, NeuronModel] = {m.name: m for m in (HH, HR, CIF, LIF, IZH, SOURCE)}

__all__ = ["NEURON_MODELS", "NeuronModel", "Param", "StateVar"]
