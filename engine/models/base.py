"""What a neuron model is, as data: its state, parameters and equations.

A model's equations are plain Python functions of scalars (``derivatives`` and the helpers it calls),
written once, the way they read on paper. The kernel generator (``synsweep.engine.kernel``) copies their
source into a generated module, with every numeric literal cast to the working precision and ``exp``
bound to the engine's vectorisable exponential, and calls them once per lane, per integrator stage.

``derivatives`` receives its arguments by name: each argument is a state variable of the model, a
parameter of the model, or ``i_in`` (the total input current: external plus synaptic, added to the
numerator of the voltage equation, see MODELS.md section 1). It returns d/dt of every state variable,
in the order of ``state``.

Spikes and resets. By default a spike is an upward crossing of the parameter ``spike_threshold`` by the
voltage-like variable between two consecutive steps (HH, HR). A model with a threshold-and-reset rule
(integrate-and-fire, Izhikevich) gives two more functions, also called per lane, once per step, after
the integrator's step:

    spike(...) -> bool            whether the neuron fires in this step; arguments by name: state
                                  variables (after the step), parameters, ``v_before`` (the voltage-like
                                  variable before the step) and ``t`` (time at the end of the step, ms)
    after_step(...) -> state      the state after the step's discrete updates (reset, refractory count),
                                  in the order of ``state``; arguments by name: ``spiked``, state
                                  variables, parameters, ``dt`` and ``t``

Both are written with conditional expressions (``a if c else b``), which compile to vector selects.
A state variable that only ``after_step`` changes (a refractory counter) has derivative 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Param:
    """A model parameter: its default value, units and a readable description.

    default_from: the name of another parameter of the same model whose value is the default of this one
    (cif: the reset potential defaults to the resting potential E_m, whatever E_m is in each point).
    domain: "> 0" (a time constant or capacitance the equations divide by), ">= 0" (a duration) or "" (any
    number); a value outside it is refused before anything is computed (``refuses``).
    """

    name: str
    default: float
    units: str
    long_name: str
    default_from: str | None = None
    domain: str = ""

    def refuses(self, value: float) -> bool:
        """Whether ``value`` lies outside the parameter's ``domain`` (NaN lies outside every domain)."""
        return (self.domain == "> 0" and not value > 0.0) or (self.domain == ">= 0" and not value >= 0.0)


@dataclass(frozen=True)
class StateVar:
    """A state variable. ``default`` None means the model derives it (e.g. gates at steady state)."""

    name: str
    units: str
    long_name: str
    default: float | None


@dataclass(frozen=True)
class NeuronModel:
    """A neuron model: ``state``, ``params``, ``derivatives`` and the helpers it calls.

    voltage: the state variable that electrical synapses couple and spike detection watches.
    current_units: units of an input current into this model (external currents and synaptic currents).
    spike_threshold: the parameter holding the threshold of an upward crossing of ``voltage`` (a spike).
    conductance_units: units of a conductance into this model (synapse and electrical conductances).
    time_units: the units of the model's time ("ms"; "model time units" for a dimensionless model such as hr,
        whose rates are then per 1000 model time units, not Hz: ``synsweep.engine.metrics.metric_units``).
    conductance_factor: current = conductance_factor x conductance x voltage, in this model's units
        (HH: mS x mV = uA, factor 1; cif: nS x mV = pA = 1e-3 nA, factor 1e-3). Synaptic and electrical
        currents into the neuron are multiplied by it.
    initial_state: numpy function ``(given, params) -> dict`` that fills every state variable whose value
        the spec did not give (``given`` maps state names to arrays or None; ``params`` maps parameter
        names to arrays). Runs once per point before the kernel, in float64.
    spike, after_step: the threshold-and-reset rule (see the module docstring); None: upward crossing.
    refractory: function of state variables and parameters by name, True while the neuron ignores input
        jumps (lif); None: never refractory.
    """

    name: str
    description: str
    source: str
    state: tuple[StateVar, ...]
    params: tuple[Param, ...]
    derivatives: Callable
    helpers: tuple[Callable, ...] = ()
    voltage: str = "v"
    spike_threshold: str = "v_spike"
    current_units: str = "uA"
    conductance_units: str = "mS"
    conductance_factor: float = 1.0
    time_units: str = "ms"
    initial_state: Callable[[Mapping, Mapping], dict] | None = None
    spike: Callable | None = None
    after_step: Callable | None = None
    refractory: Callable | None = None

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.state)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def state_var(self, name: str) -> StateVar:
        for s in self.state:
            if s.name == name:
                return s
        raise KeyError(name)

    def fill_initial_state(self, given: Mapping[str, np.ndarray | None], params: Mapping[str, np.ndarray]
                           ) -> dict[str, np.ndarray]:
        """Every state variable's initial value: given, else the model's rule, else its default."""
        values = {k: v for k, v in given.items() if v is not None}
        if self.initial_state is not None:
            values = self.initial_state(values, params)
        for s in self.state:
            if s.name not in values:
                if s.default is None:
                    raise ValueError(f"model {self.name!r} has no rule for the initial value of {s.name!r}")
                values[s.name] = s.default
        return values
