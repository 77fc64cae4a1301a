"""What a synapse model is, as data.

``currents`` is a plain Python function of scalars, copied into generated kernels like a neuron model's
equations. It receives by name: ``v_pre`` and ``v_post`` (the voltage-like variables of its two neurons),
its own state variables and its parameters, and returns ``(i_pre, i_post)``: the currents it adds to the
input of the pre and the post neuron (MODELS.md section 1: a current is added to the numerator of dV/dt).
A one-way synapse returns 0.0 for ``i_pre``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..models.base import Param, StateVar


@dataclass(frozen=True)
class SynapseModel:
    name: str
    description: str
    source: str
    params: tuple[Param, ...]
    currents: Callable
    state: tuple[StateVar, ...] = ()
    helpers: tuple[Callable, ...] = ()

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.state)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)
