"""A circuit as the engine sees it: named neurons and synapses, and every number addressable by a path.

Paths mirror the spec document, so a sweep axis names exactly the value it replaces:

    neurons.<neuron>.params.<parameter>     a neuron model parameter        e.g. neurons.n1.params.gna
    neurons.<neuron>.init.<variable>        an initial value                e.g. neurons.n2.init.v
    synapses.<synapse>.params.<parameter>   a synapse model parameter       e.g. synapses.gap.params.g1
    synapses.<synapse>.init.<variable>      a synapse's initial state       e.g. synapses.ex.init.s
    inputs.<neuron>                         constant external current       e.g. inputs.n1

An ``init`` value of None means "the model's rule" (HH: gates at steady state of v0). A synapse
parameter whose units are "conductance" or "current" is in the post neuron model's units ("conductance
of pre": the pre neuron's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

from .models import NEURON_MODELS, NeuronModel, Param
from .synapses import SYNAPSE_MODELS, SynapseModel


def _in_domain(what: str, given: dict, params: tuple[Param, ...]) -> None:
    """Refuse values of ``given`` outside their parameter's domain (``Param.domain``)."""
    for p in params:
        if p.name in given and p.refuses(given[p.name]):
            raise ValueError(f"{what} {p.name} must be {p.domain} ({p.long_name}), got {given[p.name]!r}")


def _known(what: str, given: dict, names) -> None:
    """Refuse keys of ``given`` that are not among ``names``."""
    unknown = [k for k in given if k not in names]
    if unknown:
        raise ValueError(f"{what}: unknown {', '.join(map(repr, unknown))}; valid names: "
                         f"{', '.join(names) or 'none'}")


@dataclass(frozen=True)
class Neuron:
    name: str
    model: str
    params: dict[str, float] = field(default_factory=dict)
    init: dict[str, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.model not in NEURON_MODELS:
            raise ValueError(f"Neuron {self.name!r}: unknown model {self.model!r}; neuron models: "
                             f"{', '.join(NEURON_MODELS)}")
        _known(f"Neuron {self.name!r} params", self.params, [p.name for p in self.definition.params])
        _in_domain(f"Neuron {self.name!r}:", self.params, self.definition.params)
        _known(f"Neuron {self.name!r} init", self.init, self.definition.state_names)

    @property
    def definition(self) -> NeuronModel:
        return NEURON_MODELS[self.model]


@dataclass(frozen=True)
class Synapse:
    """A synapse from ``pre`` to ``post``; ``output`` chooses the model's output form (None: its default)."""

    name: str
    model: str
    pre: str
    post: str
    params: dict[str, float] = field(default_factory=dict)
    output: str | None = None
    init: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.model not in SYNAPSE_MODELS:
            raise ValueError(f"Synapse {self.name!r}: unknown model {self.model!r}; synapse models: "
                             f"{', '.join(SYNAPSE_MODELS)}")
        if self.output is not None and self.output not in self.definition.outputs:
            raise ValueError(f"Synapse {self.name!r}: model {self.model!r} has no output {self.output!r}; its "
                             f"outputs: {', '.join(self.definition.outputs) or 'none'}")
        _known(f"Synapse {self.name!r} params", self.params, [p.name for p in self.all_params])
        _in_domain(f"Synapse {self.name!r}:", self.params, self.all_params)
        _known(f"Synapse {self.name!r} init", self.init, self.definition.state_names)

    @property
    def definition(self) -> SynapseModel:
        return SYNAPSE_MODELS[self.model]

    @property
    def output_form(self) -> str | None:
        return self.output or self.definition.default_output

    @property
    def all_params(self) -> tuple[Param, ...]:
        return self.definition.all_params(self.output)


@dataclass(frozen=True)
class Circuit:
    """Neurons, synapses, constant external currents, and which neuron pairs get pairwise metrics."""

    neurons: tuple[Neuron, ...]
    synapses: tuple[Synapse, ...] = ()
    inputs: dict[str, float] = field(default_factory=dict)
    pairs: tuple[tuple[str, str], ...] | None = None  # None: every pair (i < j) in neuron order

    def __post_init__(self) -> None:
        names = [n.name for n in self.neurons]
        if not names:
            raise ValueError("Circuit: no neurons; give at least one Neuron")
        for what, given in (("neuron", names), ("synapse", [s.name for s in self.synapses])):
            twice = sorted({x for x in given if given.count(x) > 1})
            if twice:
                raise ValueError(f"Circuit: {what} names used twice: {', '.join(twice)}; give each its own name")
        for s in self.synapses:
            for end in ("pre", "post"):
                if getattr(s, end) not in names:
                    raise ValueError(f"Synapse {s.name!r}: {end} {getattr(s, end)!r} is not a neuron of the "
                                     f"circuit ({', '.join(names)})")
        _known("Circuit inputs", self.inputs, names)
        for pair in self.pairs or ():
            if len(pair) != 2 or any(x not in names for x in pair):
                raise ValueError(f"Circuit pairs: {pair!r} is not a pair of the circuit's neurons ({', '.join(names)})")

    @property
    def neuron_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.neurons)

    def neuron_index(self, name: str) -> int:
        return self.neuron_names.index(name)

    @property
    def pair_list(self) -> tuple[tuple[str, str], ...]:
        if self.pairs is not None:
            return tuple(self.pairs)
        return tuple(combinations(self.neuron_names, 2))

    # -- the parameter table -------------------------------------------------------------------------
    def param_paths(self) -> dict[str, float]:
        """Every sweepable parameter and input, in kernel row order, with its value in this circuit."""
        rows: dict[str, float] = {}
        for n in self.neurons:
            model = n.definition
            for p in model.params:
                default = n.params.get(p.default_from, model.param(p.default_from).default) \
                    if p.default_from else p.default
                rows[f"neurons.{n.name}.params.{p.name}"] = float(n.params.get(p.name, default))
            rows[f"inputs.{n.name}"] = float(self.inputs.get(n.name, 0.0))
        for s in self.synapses:
            for p in s.all_params:
                rows[f"synapses.{s.name}.params.{p.name}"] = float(s.params.get(p.name, p.default))
        return rows

    def init_paths(self) -> dict[str, float | None]:
        """Every initial value, with its value in this circuit (None: the model's rule decides)."""
        rows: dict[str, float | None] = {}
        for n in self.neurons:
            for v in n.definition.state:
                given = n.init.get(v.name)
                rows[f"neurons.{n.name}.init.{v.name}"] = None if given is None else float(given)
        for s in self.synapses:
            for v in s.definition.state:
                rows[f"synapses.{s.name}.init.{v.name}"] = float(s.init.get(v.name, v.default))
        return rows

    def paths(self) -> dict[str, float | None]:
        """Every numeric value a sweep axis may address."""
        return {**self.param_paths(), **self.init_paths()}

    def param_info(self, path: str) -> Param | None:
        """The model parameter at ``path`` (``neurons.<n>.params.<p>`` or ``synapses.<s>.params.<p>``), None
        for an input or an initial value."""
        parts = path.split(".")
        if len(parts) != 4 or parts[2] != "params":
            return None
        if parts[0] == "neurons":
            return self._neuron(parts[1]).definition.param(parts[3])
        syn = self.synapse(parts[1])
        return syn.definition.param(parts[3], syn.output)

    def units(self, path: str) -> str:
        """The units of the value at ``path``."""
        parts = path.split(".")
        if parts[0] == "inputs":
            return self._neuron(parts[1]).definition.current_units
        if parts[0] == "neurons":
            model = self._neuron(parts[1]).definition
            return model.param(parts[3]).units if parts[2] == "params" else model.state_var(parts[3]).units
        syn = self.synapse(parts[1])
        post = self._neuron(syn.post).definition
        units = syn.definition.param(parts[3], syn.output).units if parts[2] == "params" \
            else syn.definition.state_var(parts[3]).units
        pre = self._neuron(syn.pre).definition
        return {"conductance": post.conductance_units, "current": post.current_units,
                "conductance of pre": pre.conductance_units}.get(units, units)

    def _neuron(self, name: str) -> Neuron:
        return self.neurons[self.neuron_index(name)]

    def synapse(self, name: str) -> Synapse:
        return next(s for s in self.synapses if s.name == name)

    def structure(self) -> tuple:
        """What a compiled kernel depends on: models, synapse endpoints, output forms and pairs, not
        parameter values."""
        idx = {name: i for i, name in enumerate(self.neuron_names)}
        return (
            tuple(n.model for n in self.neurons),
            tuple((s.model, idx[s.pre], idx[s.post], s.output_form) for s in self.synapses),
            tuple((idx[a], idx[b]) for a, b in self.pair_list),
        )
