"""The ``circuit`` section: neurons, synapses, constant inputs and the pairs of the pair metrics.

``circuit_section(raw)`` gives the engine's ``Circuit`` and the normalised section (every model parameter,
every initial value, null meaning "the model's rule", every input, the pair list).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

from synsweep.engine import NEURON_MODELS, SYNAPSE_MODELS, Circuit, Neuron, Synapse
from synsweep.engine.models import Param

from ..errors import listing, show, suggestion
from .checks import as_choice, as_list, as_mapping, as_number, check_keys, check_object_name, fail

CIRCUIT_KEYS = ("neurons", "synapses", "inputs", "pairs")
NEURON_KEYS = ("model", "params", "init")
SYNAPSE_KEYS = ("model", "pre", "post", "output", "params", "init")


def _synapse_init(raw: Any, field: str, model: str, definition: Any) -> dict[str, float]:
    """Every state variable's initial value (the model's default where not given); {} for a stateless model."""
    given = as_mapping(raw, f"{field}.init", "give initial values as a mapping, e.g. init: {s: 0}", optional=True)
    names = [v.name for v in definition.state]
    for var in given:
        if var not in names:
            fail(f"{field}.init.{var}", f"synapse model '{model}' has no state variable {show(var)}",
                  suggestion(var, names) if names else "this synapse model has no state: leave init out")
    return {v.name: as_number(given[v.name], f"{field}.init.{v.name}", f"give the initial {v.long_name} in "
                            f"{v.units}") if v.name in given else float(v.default) for v in definition.state}


def _model_params(raw: Any, field: str, what: str, definition: tuple[Param, ...]) -> dict[str, float]:
    """The parameters of a neuron or synapse model: the given ones, validated, and defaults for the rest
    (a parameter whose default follows another one, such as cif's v_reset = E_m, only when given)."""
    fix = f"give parameters as a mapping, e.g. params: {{{definition[0].name}: {definition[0].default:g}}}" \
        if definition else "this model has no parameters: leave params out"
    given = as_mapping(raw, f"{field}.params", fix, optional=True)
    by_name = {p.name: p for p in definition}
    params: dict[str, float] = {}
    for p, value in given.items():
        if p not in by_name:
            fail(f"{field}.params.{p}", f"{what} has no parameter {show(p)}", suggestion(p, list(by_name)))
        info = by_name[p]
        params[p] = as_number(value, f"{field}.params.{p}",
                            f"give {p} ({info.long_name}) in {info.units}, e.g. {p}: {info.default:g}")
        if info.refuses(params[p]):
            fail(f"{field}.params.{p}", f"must be {info.domain} ({info.long_name}), got {params[p]:g}",
                  f"give {p} {info.domain} in {info.units}, e.g. {p}: {info.default:g}")
    return {p.name: params.get(p.name, float(p.default)) for p in definition
            if p.name in params or not p.default_from}


def circuit_section(raw: Any) -> tuple[Circuit, dict[str, Any]]:
    m = as_mapping(raw, "circuit", "describe the circuit, e.g. circuit: {neurons: {n1: {model: hh}}}")
    check_keys(m, "circuit", CIRCUIT_KEYS, ("neurons",),
                {"neurons": "declare at least one neuron, e.g. neurons: {n1: {model: hh}}"})
    neurons_raw = as_mapping(m["neurons"], "circuit.neurons",
                           "give neurons as a mapping name -> neuron, e.g. neurons: {n1: {model: hh}}")
    if not neurons_raw:
        fail("circuit.neurons", "is empty", "declare at least one neuron, e.g. neurons: {n1: {model: hh}}")
    neurons: list[Neuron] = []
    neurons_doc: dict[str, Any] = {}
    for name, nraw in neurons_raw.items():
        field = f"circuit.neurons.{name}"
        check_object_name(name, field, "neuron")
        nm = as_mapping(nraw, field, f"give the neuron as a mapping, e.g. {name}: {{model: hh}}")
        check_keys(nm, field, NEURON_KEYS, ("model",),
                    {"model": f"name its model, e.g. {name}: {{model: hh}}; known neuron models: "
                              f"{listing(NEURON_MODELS)}"})
        model = as_choice(nm["model"], f"{field}.model", list(NEURON_MODELS), "neuron model")
        definition = NEURON_MODELS[model]
        params = _model_params(nm.get("params"), field, f"neuron model '{model}'", definition.params)
        init_raw = as_mapping(nm.get("init"), f"{field}.init",
                            "give initial values as a mapping, e.g. init: {v: -65}", optional=True)
        init: dict[str, float | None] = {}
        for var, value in init_raw.items():
            if var not in definition.state_names:
                fail(f"{field}.init.{var}", f"neuron model '{model}' has no state variable {show(var)}",
                      suggestion(var, definition.state_names))
            info = definition.state_var(var)
            if value is not None:
                init[var] = as_number(value, f"{field}.init.{var}",
                                    f"give the initial {info.long_name} in {info.units}, or null for the "
                                    "model's rule")
        init_full = {s: init.get(s) for s in definition.state_names}
        neurons.append(Neuron(name, model, params, init_full))
        neurons_doc[name] = {"model": model, "params": dict(params), "init": dict(init_full)}
    names = [n.name for n in neurons]

    synapses: list[Synapse] = []
    synapses_doc: dict[str, Any] = {}
    syn_raw = as_mapping(m.get("synapses"), "circuit.synapses",
                       "give synapses as a mapping name -> synapse, e.g. synapses: {gap: {model: electrical, "
                       "pre: n1, post: n2}}", optional=True)
    for name, sraw in syn_raw.items():
        field = f"circuit.synapses.{name}"
        check_object_name(name, field, "synapse")
        sm = as_mapping(sraw, field, f"give the synapse as a mapping, e.g. {name}: {{model: electrical, "
                                   "pre: n1, post: n2}")
        check_keys(sm, field, SYNAPSE_KEYS, ("model", "pre", "post"),
                    {"model": f"name its model; known synapse models: {listing(SYNAPSE_MODELS)}",
                     "pre": f"name the presynaptic neuron, one of: {listing(names)}",
                     "post": f"name the postsynaptic neuron, one of: {listing(names)}"})
        model = as_choice(sm["model"], f"{field}.model", list(SYNAPSE_MODELS), "synapse model")
        definition = SYNAPSE_MODELS[model]
        ends = {}
        for end in ("pre", "post"):
            value = sm[end]
            if not isinstance(value, str) or value not in names:
                fail(f"{field}.{end}", f"names no neuron of the circuit: {show(value)}",
                      suggestion(value, names))
            ends[end] = value
        if ends["pre"] == ends["post"] and model == "electrical":
            fail(f"{field}.post", f"an electrical synapse joins neuron '{ends['pre']}' to itself",
                  "connect two different neurons")
        output = sm.get("output")
        if output is not None or len(definition.outputs) > 1:
            forms = list(definition.outputs)
            if not forms:
                fail(f"{field}.output", f"synapse model '{model}' carries no current, so it has no output form",
                      "leave output out")
            output = as_choice(output if output is not None else definition.default_output, f"{field}.output",
                             forms, "output form")
        params = _model_params(sm.get("params"), field, f"synapse model '{model}'", definition.all_params(output))
        init = _synapse_init(sm.get("init"), field, model, definition)
        synapses.append(Synapse(name, model, ends["pre"], ends["post"], params, output, init))
        synapses_doc[name] = {"model": model, "pre": ends["pre"], "post": ends["post"], "params": dict(params)}
        if output is not None:
            synapses_doc[name]["output"] = output
        if init:
            synapses_doc[name]["init"] = dict(init)

    inputs_raw = as_mapping(m.get("inputs"), "circuit.inputs",
                          f"give inputs as a mapping neuron -> current, e.g. inputs: {{{names[0]}: 0.1}}",
                          optional=True)
    inputs: dict[str, float] = {}
    for name, value in inputs_raw.items():
        if name not in names:
            fail(f"circuit.inputs.{name}", f"names no neuron of the circuit: {show(name)}",
                  suggestion(name, names))
        units = NEURON_MODELS[neurons[names.index(name)].model].current_units
        inputs[name] = as_number(value, f"circuit.inputs.{name}",
                               f"give the constant external current into {name} in {units}, e.g. "
                               f"{name}: 0.1")
    inputs = {n: inputs.get(n, 0.0) for n in names}

    if m.get("pairs") is None:
        pairs = list(combinations(names, 2))
    else:
        pairs = []
        fix = f"give pairs as a list of two-neuron lists, e.g. pairs: [[{names[0]}, {names[-1]}]]"
        for i, item in enumerate(as_list(m["pairs"], "circuit.pairs", fix)):
            field = f"circuit.pairs[{i}]"
            pair = as_list(item, field, fix)
            if len(pair) != 2:
                fail(field, f"a pair must name exactly two neurons, got {show(pair)}", fix)
            for j, name in enumerate(pair):
                if not isinstance(name, str) or name not in names:
                    fail(f"{field}[{j}]", f"names no neuron of the circuit: {show(name)}",
                          suggestion(name, names))
            if pair[0] == pair[1]:
                fail(field, f"pairs neuron '{pair[0]}' with itself", "pair two different neurons")
            for k, other in enumerate(pairs):
                if set(other) == set(pair):
                    fail(field, f"the pair {show(pair)} is already listed as circuit.pairs[{k}]",
                          "list each pair once (pair metrics are symmetric)")
            pairs.append((pair[0], pair[1]))
    circuit = Circuit(tuple(neurons), tuple(synapses), inputs, tuple(pairs))
    doc = {"neurons": neurons_doc, "synapses": synapses_doc, "inputs": dict(inputs),
           "pairs": [list(p) for p in pairs]}
    return circuit, doc
