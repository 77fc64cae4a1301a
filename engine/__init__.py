"""synsweep's simulation engine: batches of independent small circuits, vectorised over the batch.

    from synsweep.engine import Circuit, Neuron, Synapse, Simulation, simulate
"""

from .circuit import Circuit, Neuron, Synapse
from .integrators import INTEGRATORS, Tableau
from .metrics import (
    DEFAULT_METRICS,
    METRICS,
    STATUS_DIVERGED,
    STATUS_MEANINGS,
    STATUS_NOT_COMPUTED,
    STATUS_OK,
    STATUS_RUNAWAY,
)
from .models import NEURON_MODELS
from .simulate import SimResult, Simulation, simulate
from .synapses import SYNAPSE_MODELS

__all__ = [
    "Circuit", "Neuron", "Synapse", "Simulation", "SimResult", "simulate", "Tableau", "INTEGRATORS",
    "NEURON_MODELS", "SYNAPSE_MODELS", "METRICS", "DEFAULT_METRICS",
    "STATUS_OK", "STATUS_DIVERGED", "STATUS_NOT_COMPUTED", "STATUS_RUNAWAY", "STATUS_MEANINGS",
]
