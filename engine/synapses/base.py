"""What a synapse model is, as data.

A synapse joins a ``pre`` and a ``post`` neuron. Its functions are plain Python functions of scalars,
copied into generated kernels like a neuron model's equations, and receive their arguments by name:

    derivatives(...) -> d/dt of every state variable, in the order of ``state``
        arguments: state variables, parameters, ``v_pre``, ``v_post`` (the voltage-like variables)
    output currents(...) -> (i_pre, i_post)
        the currents the synapse adds to the input of its pre and post neuron (MODELS.md section 1: added
        to the numerator of dV/dt, so a current that should hyperpolarise is negative); arguments: state
        variables, parameters (the model's and the output's), ``v_pre``, ``v_post``. A one-way synapse
        returns 0.0 for ``i_pre``. Conductance x voltage is multiplied by the receiving neuron model's
        ``conductance_factor`` (units).
    after_step(...) -> state           spike-triggered updates, once per step after the integrator's step
        arguments: ``spike`` (the transmitted presynaptic spike of this step, after the delay), state
        variables, parameters, ``dt``, ``lag`` (time from the spike's interpolated threshold crossing to
        the step's end, in [0, dt]; 0 for a pre neuron without a threshold). Increments are applied after
        the step in which the spike arrives; a linear synapse propagates its increment over ``lag`` in
        closed form (precise event timing, ``synapses.abstract``).
    post_jump(...) -> dV               an instantaneous change of the post neuron's voltage on a spike
        arguments: ``spike``, parameters, ``post_refractory`` (True while the post neuron is refractory)
    trigger(...) -> bool               what counts as a presynaptic spike, when not the pre neuron's spike
        arguments: ``v_pre_before``, ``v_pre`` (before and after the step), parameters

``idle_without_spike``: True when ``after_step`` returns its state unchanged and ``post_jump`` returns 0 in a
step without a spike (no countdown, no decay in them). The kernel then skips a circuit's event section in a
step in which no neuron of the tile spiked, when every spike-triggered synapse of the circuit is idle without
a spike, has no delay and no ``trigger`` (``synsweep.engine.kernel.emit``): nothing changes, bit for bit.

A model with ``after_step`` or ``post_jump`` is spike-triggered and gets a ``delay`` parameter (ms,
rounded to whole steps): the spike reaches the synapse that many steps after the pre neuron fired.
``outputs`` maps an output form (``coba``: conductance-based, ``cuba``: current-based, ``gap``: electrical)
to its parameters and currents function; the spec's ``output:`` key chooses one, ``default_output`` when
not given. Gating variables are probabilities: models keep them in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..models.base import Param, StateVar

DELAY = Param("delay", 0.0, "ms", "transmission delay of presynaptic spikes (rounded to whole steps)",
              domain=">= 0")


@dataclass(frozen=True)
class Output:
    """An output form: its own parameters and the function giving the currents into pre and post.

    conductance: the currents are conductance x voltage, so they are multiplied by each receiving neuron
    model's ``conductance_factor``; False for current-based output (already in current units).
    diffusive: (g_pre, g_post), names of two parameters, when the currents are exactly
    ``g_pre (v_post - v_pre), g_post (v_pre - v_post)`` and depend on nothing else (no state): the looped
    layout may then sum a whole group of such synapses in O(N) (``synsweep.engine.kernel.looped``); None otherwise.
    """

    params: tuple[Param, ...]
    currents: Callable
    conductance: bool = True
    diffusive: tuple[str, str] | None = None


@dataclass(frozen=True)
class SynapseModel:
    name: str
    description: str
    source: str
    params: tuple[Param, ...]
    outputs: dict[str, Output] = field(default_factory=dict)
    default_output: str | None = None
    state: tuple[StateVar, ...] = ()
    derivatives: Callable | None = None
    after_step: Callable | None = None
    post_jump: Callable | None = None
    trigger: Callable | None = None
    helpers: tuple[Callable, ...] = ()
    idle_without_spike: bool = False

    @property
    def spike_triggered(self) -> bool:
        return self.after_step is not None or self.post_jump is not None

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.state)

    def output(self, name: str | None) -> Output | None:
        """The output form ``name`` (None: the default); None for a model that carries no current."""
        name = name or self.default_output
        return None if name is None else self.outputs[name]

    def all_params(self, output: str | None = None) -> tuple[Param, ...]:
        """The model's parameters, the output form's, and ``delay`` for a spike-triggered model."""
        out = self.output(output)
        return self.params + (out.params if out else ()) + ((DELAY,) if self.spike_triggered else ())

    def param_names(self, output: str | None = None) -> tuple[str, ...]:
        return tuple(p.name for p in self.all_params(output))

    def param(self, name: str, output: str | None = None) -> Param:
        for p in self.all_params(output):
            if p.name == name:
                return p
        raise KeyError(name)

    def state_var(self, name: str) -> StateVar:
        for s in self.state:
            if s.name == name:
                return s
        raise KeyError(name)
