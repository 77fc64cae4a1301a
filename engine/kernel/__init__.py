"""The kernel generator: one step emitter over addressing strategies.

    layout.py      KernelKey (everything a compiled kernel depends on) and KernelLayout (rows of X, P, ACC, W)
    source.py      the line writer and the model functions copied into the kernel (literals cast to F)
    emit.py        ``generate``: the module, the tile driver and the step, every section written once
    addressing.py  the interface a strategy implements: how a value of lane i is named, how loops open
    unrolled.py    state as named locals per unit (small circuits)
    looped.py      state in tables walked by member loops (large circuits; gap groups summed in O(N))

The emitter writes each statement once and asks the strategy, for a *group* (a neuron, synapse or pair, or
a table of them), for the names of its values (``state(g, v, j)``, ``param(g, p)``, ``acc(g, what)``,
...) and for the loops around them (``section()``, ``members(g)``, ``lanes()``, ``rows(part)``); see
``addressing.Addressing`` for the contract. A back end with another memory model (for example one sweep
point per GPU thread with the state in registers) is one more subclass of ``Addressing``.
"""

from .emit import generate, model_modules
from .layout import MAX_UNROLLED_NEURONS, MAX_UNROLLED_SYNAPSES, PRECISIONS, SCHEMES, TILE, KernelKey, KernelLayout

__all__ = ["generate", "model_modules", "KernelKey", "KernelLayout", "TILE", "PRECISIONS", "SCHEMES",
           "MAX_UNROLLED_NEURONS", "MAX_UNROLLED_SYNAPSES"]
