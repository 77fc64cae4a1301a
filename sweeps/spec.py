"""Load and validate a sweep spec (YAML file or mapping) into a ``SweepSpec``, before any compute.

    spec = load_spec("scan.yaml")          # or load_spec({...}) or load_spec(spec.document)
    check_resources(spec, "out/scan.zarr") # disk and memory, once the output path is known
    estimate(spec)                         # points, shape, neuron steps, output size

Every problem raises ``SpecError(field, problem, fix)`` (``synsweep.sweeps.errors``) naming the field of
the spec, the offending value and a fix; the first problem found is reported. Nothing here compiles or
runs a kernel.

The spec format (every key but name, circuit and simulation is optional)::

    name: hh-coupling-scan
    description: free text
    circuit:
      neurons: {n1: {model: hh, init: {v: -75}, params: {gna: 0.94}}, n2: {model: hh}}
      synapses: {gap: {model: electrical, pre: n1, post: n2, params: {g1: 0.002, g2: 0.002}}}
      inputs: {n1: 0.1, n2: 0.08}           # constant external currents; default 0
      pairs: [[n1, n2]]                     # pairs for pairwise metrics; default every pair, in order
    simulation: {dt: 0.01, duration: 100, transient: 0, integrator: rk4, precision: float64,
                 scheme: coupled, divergence_bound: 10000, coincidence_window: 2, sync_tolerance: 1,
                 kuramoto_interval: 1}
    sweep:                                  # dims in order; the last varies fastest
      - {name: g, paths: [synapses.gap.params.g1, synapses.gap.params.g2],
         linspace: {start: 0, stop: 0.01, num: 41}}
      - {name: I_ext, paths: {inputs.n1: 1.0, inputs.n2: 0.8}, values: [0.05, 0.1]}
      - zip: trial                          # one dim, its axes varied together
        axes:
          - {name: v1_0, paths: [neurons.n1.init.v],
             random: {n: 10, seed: 1, distribution: uniform, low: -80, high: -60}}
          - {name: v2_0, paths: [neurons.n2.init.v],
             random: {n: 10, seed: 1, distribution: normal, mean: -65, std: 2}}
    metrics: [spike_count, pearson]         # default: all of synsweep.engine.METRICS
    record: {variables: [v, n1.m], every: 10, points: all}   # or points: [{g: 0.005, I_ext: 0.1, trial: 3}]
    execution:                              # not part of the spec hash
      chunk_points: 4096
      resources: {cores: 8, memory: 16GB, walltime: '02:00:00', queue: normal}  # batch jobs (run --cluster)
      device: cpu                           # or cuda: an NVIDIA GPU per worker (synsweep.engine.device)

Axis values: exactly one of ``values: [...]``, ``linspace: {start, stop, num}``, ``logspace: {start, stop,
num}`` (geometric, start and stop are the end values, both > 0) and ``random: {n, seed, distribution,
...}`` (``synsweep.sweeps.draws``). linspace values are rounded to 1e-12 of the axis' largest end, logspace
values to 12 significant digits, so coordinates are reproducible to the bit.

``SweepSpec.document`` is the normalised spec: every default filled in (all model parameters, every initial
value, null meaning "the model's rule", every input, the pair list, every simulation setting, the metric
list, the execution section), numbers as plain floats (ints for counts), axis paths as ``{path: factor}``.
It is JSON-serialisable, and ``load_spec(spec.document) == spec``.

Record points: each gives a coordinate for every dim: the axis value for a plain axis (it must be one of
the grid values, to 1e-9 relative), and for a zip group either its index along the zip dim (``trial: 3``)
or the value of one of its axes (``v1_0: -71.5``). ``RecordSpec.points`` holds them normalised to
``{dim: value}`` for plain dims and ``{dim: index}`` (int) for zip dims; ``traced_indices`` turns them
into flat point indices.
"""

from __future__ import annotations

import math
import numbers
import os
import re
import shutil
from collections.abc import Mapping
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from synsweep.engine import (
    DEFAULT_METRICS,
    INTEGRATORS,
    METRICS,
    NEURON_MODELS,
    SYNAPSE_MODELS,
    Circuit,
    Neuron,
    Simulation,
    Synapse,
)
from synsweep.engine.device import DEVICES
from synsweep.engine.kernel import PRECISIONS, SCHEMES
from synsweep.engine.metrics import KURAMOTO_MIN_NEURONS, metric_applies
from synsweep.engine.models import Param
from synsweep.engine.simulate import resolve_record

from .chunks import DEFAULT_CHUNK_POINTS, DEVICE_CHUNK_POINTS
from .clusters import SPEC as SPEC_RESOURCES
from .clusters import parse_resources
from .draws import DISTRIBUTIONS, MAX_SEED, draws, round_significant
from .errors import SpecError, closest, format_bytes, listing, show, suggestion
from .model import Axis, Continuation, Criterion, Dim, RecordSpec, Refinement, SweepSpec

__all__ = ["load_spec", "check_resources", "estimate", "traced_indices", "SpecError",
           "RESERVED_NAMES", "RESERVED_PREFIXES", "DEFAULT_CHUNK_POINTS"]

TOP_KEYS = ("name", "description", "circuit", "simulation", "sweep", "metrics", "record", "execution", "refine")
CIRCUIT_KEYS = ("neurons", "synapses", "inputs", "pairs")
NEURON_KEYS = ("model", "params", "init")
SYNAPSE_KEYS = ("model", "pre", "post", "output", "params", "init")
SIMULATION_KEYS = ("dt", "duration", "transient", "integrator", "precision", "scheme", "divergence_bound",
                   "coincidence_window", "sync_tolerance", "kuramoto_interval", "min_spikes", "sync_spikes",
                   "max_rate")
AXIS_KEYS = ("name", "paths", "values", "linspace", "logspace", "random", "continuation", "long_name", "units")
CONTINUATION_DIRECTIONS = {"up": (1,), "down": (-1,), "both": (1, -1)}
REFINE_KEYS = ("dims", "levels", "criteria", "status", "budget")
CRITERION_KEYS = ("metric", "pair", "neuron", "reduce", "threshold", "jump")
REDUCTIONS = ("mean", "min", "max")
VALUE_KINDS = ("values", "linspace", "logspace", "random")
ZIP_KEYS = ("zip", "axes")
RECORD_KEYS = ("variables", "every", "points")
EXECUTION_KEYS = ("chunk_points", "resources", "device")
SIM_DEFAULTS = Simulation(dt=1.0, duration=1.0)

#: Names a dim or axis may not take: the dataset's own dims, and its data variables.
RESERVED_NAMES = ("neuron", "pair", "pair_a", "pair_b", "synapse", "time", "traced_point", "status", "direction",
                  "diverged_step", *METRICS)
#: Prefixes a dim or axis name may not take: the store names traces trace_<var> (neurons) and
#: synapse_trace_<var> (synapses), and coordinates traced_<dim>.
RESERVED_PREFIXES = ("trace_", "synapse_trace_", "traced_")
MAX_AXIS_VALUES = 10_000_000
STEP_TOLERANCE = 1e-6  # how far (in steps) duration/dt and transient/dt may be from a whole number
MATCH_RTOL = 1e-9  # record point coordinates: relative tolerance when matching grid values
MEMORY_FRACTION = 0.25  # one chunk may use at most this fraction of total RAM

_DIM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OBJECT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_EXAMPLE_AXIS = "- {name: g, paths: [synapses.gap.params.g1], linspace: {start: 0, stop: 0.01, num: 11}}"


# -- small checkers ------------------------------------------------------------------------------------
def _fail(field: str, problem: str, fix: str) -> None:
    raise SpecError(field, problem, fix)


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the text {show(value)}"
    if isinstance(value, Mapping):
        return f"a mapping {show(dict(value))}"
    if isinstance(value, list | tuple):
        return f"a list {show(list(value))}"
    return f"{type(value).__name__} {show(value)}"


def _mapping(value: Any, field: str, fix: str, *, optional: bool = False) -> dict[str, Any]:
    """``value`` as a dict with text keys (None -> {} when ``optional``)."""
    if value is None and optional:
        return {}
    if not isinstance(value, Mapping):
        _fail(field, f"must be a mapping of key: value entries, got {_type_name(value)}", fix)
    for key in value:
        if not isinstance(key, str):
            _fail(f"{field}.{key}", f"names must be text, got {_type_name(key)} as a key",
                  "quote the name in the YAML, e.g. '\"1\": ...' (YAML reads bare digits as numbers "
                  "and yes/no/on/off/true/false as booleans)")
    return dict(value)


def _list(value: Any, field: str, fix: str, *, optional: bool = False) -> list[Any]:
    if value is None and optional:
        return []
    if not isinstance(value, list | tuple):
        _fail(field, f"must be a list, got {_type_name(value)}", fix)
    return list(value)


def _check_keys(mapping: Mapping[str, Any], field: str, allowed: tuple[str, ...],
                required: tuple[str, ...] = (), fixes: Mapping[str, str] | None = None) -> None:
    """Unknown keys (with the closest valid one) and missing required keys."""
    prefix = f"{field}." if field else ""
    where = f"in '{field}'" if field else "at the top level of the spec"
    for key in mapping:
        if key not in allowed:
            _fail(prefix + key, f"unknown key {show(key)} {where}",
                  f"{suggestion(key, allowed)}; remove the key or correct its spelling")
    for key in required:
        if mapping.get(key) is None:
            fix = (fixes or {}).get(key, f"add '{key}' to '{field or 'the spec'}'")
            _fail(prefix + key, "is required but missing", fix)


def _number(value: Any, field: str, fix: str, what: str = "a number") -> float:
    """A finite real number as a float: rejects booleans, text, null, NaN and infinities."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            looks_numeric = False
        else:
            looks_numeric = True
        if not looks_numeric:
            _fail(field, f"must be {what}, got {_type_name(value)}", fix)
        _fail(field, f"must be {what}, got {_type_name(value)}: a number in quotes, or an exponent "
                     "without a decimal point (YAML reads 1e-3 as text)",
              f"write it as a plain number without quotes, with a decimal point before any exponent "
              f"(1.0e-3, not 1e-3). {fix[:1].upper()}{fix[1:]}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        _fail(field, f"must be {what}, got {_type_name(value)}", fix)
    number = float(value)
    if not math.isfinite(number):
        _fail(field, f"must be a finite number, got {number}", fix)
    return number


def _integer(value: Any, field: str, fix: str, what: str, minimum: int | None = None,
             maximum: int | None = None) -> int:
    """An integer (an integral float is accepted), within [minimum, maximum]."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool | numbers.Integral):
        number = float(value)
        if not (math.isfinite(number) and number.is_integer()):
            _fail(field, f"must be {what}, got {show(value)}", fix)
        value = int(number)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        _fail(field, f"must be {what}, got {_type_name(value)}", fix)
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        _fail(field, f"must be {what}, got {value}", fix)
    return value


def _choice(value: Any, field: str, choices: tuple[str, ...] | list[str], what: str) -> str:
    if not isinstance(value, str) or value not in choices:
        _fail(field, f"unknown {what} {show(value)}", suggestion(value, choices))
    return value


def _object_name(name: str, field: str, what: str) -> None:
    if not _OBJECT_NAME.match(name):
        _fail(field, f"{what} {show(name)} is not a valid name: names are letters, digits, '_' and '-', "
                     "starting with a letter or '_' (no dots or spaces: paths are dotted)",
              f"rename it, e.g. {re.sub(r'[^A-Za-z0-9_-]', '_', name) or 'n1'}")


# -- circuit ---------------------------------------------------------------------------------------------
def _synapse_init(raw: Any, field: str, model: str, definition: Any) -> dict[str, float]:
    """Every state variable's initial value (the model's default where not given); {} for a stateless model."""
    given = _mapping(raw, f"{field}.init", "give initial values as a mapping, e.g. init: {s: 0}", optional=True)
    names = [v.name for v in definition.state]
    for var in given:
        if var not in names:
            _fail(f"{field}.init.{var}", f"synapse model '{model}' has no state variable {show(var)}",
                  suggestion(var, names) if names else "this synapse model has no state: leave init out")
    return {v.name: _number(given[v.name], f"{field}.init.{v.name}", f"give the initial {v.long_name} in "
                            f"{v.units}") if v.name in given else float(v.default) for v in definition.state}


def _model_params(raw: Any, field: str, what: str, definition: tuple[Param, ...]) -> dict[str, float]:
    """The parameters of a neuron or synapse model: the given ones, validated, and defaults for the rest
    (a parameter whose default follows another one, such as cif's v_reset = E_m, only when given)."""
    fix = f"give parameters as a mapping, e.g. params: {{{definition[0].name}: {definition[0].default:g}}}" \
        if definition else "this model has no parameters: leave params out"
    given = _mapping(raw, f"{field}.params", fix, optional=True)
    by_name = {p.name: p for p in definition}
    params: dict[str, float] = {}
    for p, value in given.items():
        if p not in by_name:
            _fail(f"{field}.params.{p}", f"{what} has no parameter {show(p)}", suggestion(p, list(by_name)))
        info = by_name[p]
        params[p] = _number(value, f"{field}.params.{p}",
                            f"give {p} ({info.long_name}) in {info.units}, e.g. {p}: {info.default:g}")
    return {p.name: params.get(p.name, float(p.default)) for p in definition
            if p.name in params or not p.default_from}


def _circuit(raw: Any) -> tuple[Circuit, dict[str, Any]]:
    m = _mapping(raw, "circuit", "describe the circuit, e.g. circuit: {neurons: {n1: {model: hh}}}")
    _check_keys(m, "circuit", CIRCUIT_KEYS, ("neurons",),
                {"neurons": "declare at least one neuron, e.g. neurons: {n1: {model: hh}}"})
    neurons_raw = _mapping(m["neurons"], "circuit.neurons",
                           "give neurons as a mapping name -> neuron, e.g. neurons: {n1: {model: hh}}")
    if not neurons_raw:
        _fail("circuit.neurons", "is empty", "declare at least one neuron, e.g. neurons: {n1: {model: hh}}")
    neurons: list[Neuron] = []
    neurons_doc: dict[str, Any] = {}
    for name, nraw in neurons_raw.items():
        field = f"circuit.neurons.{name}"
        _object_name(name, field, "neuron")
        nm = _mapping(nraw, field, f"give the neuron as a mapping, e.g. {name}: {{model: hh}}")
        _check_keys(nm, field, NEURON_KEYS, ("model",),
                    {"model": f"name its model, e.g. {name}: {{model: hh}}; known neuron models: "
                              f"{listing(NEURON_MODELS)}"})
        model = _choice(nm["model"], f"{field}.model", list(NEURON_MODELS), "neuron model")
        definition = NEURON_MODELS[model]
        params = _model_params(nm.get("params"), field, f"neuron model '{model}'", definition.params)
        init_raw = _mapping(nm.get("init"), f"{field}.init",
                            "give initial values as a mapping, e.g. init: {v: -65}", optional=True)
        init: dict[str, float | None] = {}
        for var, value in init_raw.items():
            if var not in definition.state_names:
                _fail(f"{field}.init.{var}", f"neuron model '{model}' has no state variable {show(var)}",
                      suggestion(var, definition.state_names))
            info = definition.state_var(var)
            if value is not None:
                init[var] = _number(value, f"{field}.init.{var}",
                                    f"give the initial {info.long_name} in {info.units}, or null for the "
                                    "model's rule")
        init_full = {s: init.get(s) for s in definition.state_names}
        neurons.append(Neuron(name, model, params, init_full))
        neurons_doc[name] = {"model": model, "params": dict(params), "init": dict(init_full)}
    names = [n.name for n in neurons]

    synapses: list[Synapse] = []
    synapses_doc: dict[str, Any] = {}
    syn_raw = _mapping(m.get("synapses"), "circuit.synapses",
                       "give synapses as a mapping name -> synapse, e.g. synapses: {gap: {model: electrical, "
                       "pre: n1, post: n2}}", optional=True)
    for name, sraw in syn_raw.items():
        field = f"circuit.synapses.{name}"
        _object_name(name, field, "synapse")
        sm = _mapping(sraw, field, f"give the synapse as a mapping, e.g. {name}: {{model: electrical, "
                                   "pre: n1, post: n2}")
        _check_keys(sm, field, SYNAPSE_KEYS, ("model", "pre", "post"),
                    {"model": f"name its model; known synapse models: {listing(SYNAPSE_MODELS)}",
                     "pre": f"name the presynaptic neuron, one of: {listing(names)}",
                     "post": f"name the postsynaptic neuron, one of: {listing(names)}"})
        model = _choice(sm["model"], f"{field}.model", list(SYNAPSE_MODELS), "synapse model")
        definition = SYNAPSE_MODELS[model]
        ends = {}
        for end in ("pre", "post"):
            value = sm[end]
            if not isinstance(value, str) or value not in names:
                _fail(f"{field}.{end}", f"names no neuron of the circuit: {show(value)}",
                      suggestion(value, names))
            ends[end] = value
        if ends["pre"] == ends["post"] and model == "electrical":
            _fail(f"{field}.post", f"an electrical synapse joins neuron '{ends['pre']}' to itself",
                  "connect two different neurons")
        output = sm.get("output")
        if output is not None or len(definition.outputs) > 1:
            forms = list(definition.outputs)
            if not forms:
                _fail(f"{field}.output", f"synapse model '{model}' carries no current, so it has no output form",
                      "leave output out")
            output = _choice(output if output is not None else definition.default_output, f"{field}.output",
                             forms, "output form")
        params = _model_params(sm.get("params"), field, f"synapse model '{model}'", definition.all_params(output))
        if params.get("delay", 0.0) < 0:
            _fail(f"{field}.params.delay", f"is negative ({params['delay']:g} ms)", "give a delay >= 0 ms")
        init = _synapse_init(sm.get("init"), field, model, definition)
        synapses.append(Synapse(name, model, ends["pre"], ends["post"], params, output, init))
        synapses_doc[name] = {"model": model, "pre": ends["pre"], "post": ends["post"], "params": dict(params)}
        if output is not None:
            synapses_doc[name]["output"] = output
        if init:
            synapses_doc[name]["init"] = dict(init)

    inputs_raw = _mapping(m.get("inputs"), "circuit.inputs",
                          f"give inputs as a mapping neuron -> current, e.g. inputs: {{{names[0]}: 0.1}}",
                          optional=True)
    inputs: dict[str, float] = {}
    for name, value in inputs_raw.items():
        if name not in names:
            _fail(f"circuit.inputs.{name}", f"names no neuron of the circuit: {show(name)}",
                  suggestion(name, names))
        units = NEURON_MODELS[neurons[names.index(name)].model].current_units
        inputs[name] = _number(value, f"circuit.inputs.{name}",
                               f"give the constant external current into {name} in {units}, e.g. "
                               f"{name}: 0.1")
    inputs = {n: inputs.get(n, 0.0) for n in names}

    if m.get("pairs") is None:
        pairs = list(combinations(names, 2))
    else:
        pairs = []
        fix = f"give pairs as a list of two-neuron lists, e.g. pairs: [[{names[0]}, {names[-1]}]]"
        for i, item in enumerate(_list(m["pairs"], "circuit.pairs", fix)):
            field = f"circuit.pairs[{i}]"
            pair = _list(item, field, fix)
            if len(pair) != 2:
                _fail(field, f"a pair must name exactly two neurons, got {show(pair)}", fix)
            for j, name in enumerate(pair):
                if not isinstance(name, str) or name not in names:
                    _fail(f"{field}[{j}]", f"names no neuron of the circuit: {show(name)}",
                          suggestion(name, names))
            if pair[0] == pair[1]:
                _fail(field, f"pairs neuron '{pair[0]}' with itself", "pair two different neurons")
            for k, other in enumerate(pairs):
                if set(other) == set(pair):
                    _fail(field, f"the pair {show(pair)} is already listed as circuit.pairs[{k}]",
                          "list each pair once (pair metrics are symmetric)")
            pairs.append((pair[0], pair[1]))
    circuit = Circuit(tuple(neurons), tuple(synapses), inputs, tuple(pairs))
    doc = {"neurons": neurons_doc, "synapses": synapses_doc, "inputs": dict(inputs),
           "pairs": [list(p) for p in pairs]}
    return circuit, doc


# -- simulation ------------------------------------------------------------------------------------------
def _whole_steps(span: float, dt: float) -> bool:
    steps = span / dt
    return abs(steps - round(steps)) <= max(STEP_TOLERANCE, 1e-12 * steps)


def _simulation(raw: Any) -> tuple[Simulation, dict[str, Any]]:
    m = _mapping(raw, "simulation", "give the simulation settings, e.g. simulation: {dt: 0.01, duration: 100}")
    _check_keys(m, "simulation", SIMULATION_KEYS, ("dt", "duration"),
                {"dt": "give the integration step in ms, for example dt: 0.01",
                 "duration": "give the simulated time in ms, for example duration: 100"})
    dt_fix = "give the integration step in ms, for example dt: 0.01"
    dt = _number(m["dt"], "simulation.dt", dt_fix, "a positive number of ms")
    if dt <= 0:
        _fail("simulation.dt", f"must be a positive number of ms, got {dt:g}", dt_fix)
    dur_fix = "give the simulated time in ms, for example duration: 100"
    duration = _number(m["duration"], "simulation.duration", dur_fix, "a positive number of ms")
    if duration <= 0:
        _fail("simulation.duration", f"must be a positive number of ms, got {duration:g}", dur_fix)
    if dt > duration:
        _fail("simulation.dt", f"the step {dt:g} ms is longer than the duration {duration:g} ms",
              "use a step shorter than the duration, e.g. dt: 0.01")
    if not _whole_steps(duration, dt):
        _fail("simulation.duration", f"duration {duration:g} ms is not a whole number of steps of dt = {dt:g} "
                                     f"ms ({duration / dt:.6g} steps)",
              f"make duration a multiple of dt, e.g. duration: {max(1, round(duration / dt)) * dt:g}")
    tr_fix = f"give the time in ms to skip before measuring, 0 <= transient < duration ({duration:g})"
    transient = _number(m.get("transient", SIM_DEFAULTS.transient), "simulation.transient", tr_fix,
                        "a number of ms >= 0")
    if transient < 0:
        _fail("simulation.transient", f"must be >= 0 ms, got {transient:g}", tr_fix)
    if transient >= duration:
        _fail("simulation.transient", f"the transient {transient:g} ms is not shorter than the duration "
                                      f"{duration:g} ms, so nothing would be measured", tr_fix)
    if not _whole_steps(transient, dt):
        _fail("simulation.transient", f"transient {transient:g} ms is not a whole number of steps of dt = "
                                      f"{dt:g} ms", f"make transient a multiple of dt, e.g. transient: "
                                                    f"{round(transient / dt) * dt:g}")
    integrator = _choice(m.get("integrator", SIM_DEFAULTS.integrator), "simulation.integrator",
                         list(INTEGRATORS), "integrator")
    precision = _choice(m.get("precision", SIM_DEFAULTS.precision), "simulation.precision", tuple(PRECISIONS),
                        "precision")
    scheme = _choice(m.get("scheme", SIM_DEFAULTS.scheme), "simulation.scheme", SCHEMES, "coupling scheme")
    bound_fix = "give the absolute voltage beyond which a point counts as diverged, e.g. divergence_bound: 10000"
    bound = _number(m.get("divergence_bound", SIM_DEFAULTS.divergence_bound), "simulation.divergence_bound",
                    bound_fix, "a positive number")
    if bound <= 0:
        _fail("simulation.divergence_bound", f"must be a positive number, got {bound:g}", bound_fix)
    windows = {}
    for key, meaning in (("coincidence_window", "the window within which two spikes count as coincident"),
                         ("sync_tolerance", "the spike-time lag below which a pair counts as synchronous"),
                         ("kuramoto_interval", "the time between samples of the Kuramoto order parameter")):
        fix = f"give {meaning} in ms, e.g. {key}: {getattr(SIM_DEFAULTS, key):g}"
        windows[key] = _number(m.get(key, getattr(SIM_DEFAULTS, key)), f"simulation.{key}", fix,
                               "a positive number of ms")
        if windows[key] <= 0:
            _fail(f"simulation.{key}", f"must be a positive number of ms, got {windows[key]:g}", fix)
    evidence = {}
    for key, meaning in (("min_spikes", "the spikes each neuron of a pair needs before its coincidence, plv and "
                                        "time_to_sync are reported"),
                         ("sync_spikes", "the spikes of each neuron over which synchrony must hold before the end "
                                         "for time_to_sync")):
        evidence[key] = _integer(m.get(key, getattr(SIM_DEFAULTS, key)), f"simulation.{key}",
                                 f"give {meaning}, a whole number >= 1, e.g. {key}: {getattr(SIM_DEFAULTS, key)}",
                                 "a whole number >= 1", minimum=1)
    rate_fix = ("give the firing rate in Hz above which a point is flagged runaway (status 3), e.g. max_rate: "
                f"{SIM_DEFAULTS.max_rate:g}")
    max_rate = _number(m.get("max_rate", SIM_DEFAULTS.max_rate), "simulation.max_rate", rate_fix,
                       "a positive number of Hz")
    if max_rate <= 0:
        _fail("simulation.max_rate", f"must be a positive number of Hz, got {max_rate:g}", rate_fix)
    sim = Simulation(dt=dt, duration=duration, transient=transient, integrator=integrator,
                     precision=precision, scheme=scheme, divergence_bound=bound, **windows, **evidence,
                     max_rate=max_rate)
    doc = {"dt": dt, "duration": duration, "transient": transient, "integrator": integrator,
           "precision": precision, "scheme": scheme, "divergence_bound": bound}
    # written only when not the default, which keeps older specs' hashes unchanged
    pair_keys = ("coincidence_window", "sync_tolerance")
    if any(windows[k] != getattr(SIM_DEFAULTS, k) for k in pair_keys):
        doc.update({k: windows[k] for k in pair_keys})
    if windows["kuramoto_interval"] != SIM_DEFAULTS.kuramoto_interval:
        doc["kuramoto_interval"] = windows["kuramoto_interval"]
    doc.update({k: v for k, v in evidence.items() if v != getattr(SIM_DEFAULTS, k)})
    if max_rate != SIM_DEFAULTS.max_rate:
        doc["max_rate"] = max_rate
    return sim, doc


# -- metrics ---------------------------------------------------------------------------------------------
def _metrics(raw: Any, n_neurons: int) -> tuple[str, ...]:
    """The metric names; by default every metric, less the circuit metrics of a circuit too small for them
    (so that the default list, and the hash, of a pair's spec is what it was before ``kuramoto``)."""
    if raw is None:
        return tuple(m for m in DEFAULT_METRICS if METRICS[m].dim != "circuit" or metric_applies(m, n_neurons, 0))
    fix = f"list metric names, e.g. metrics: [spike_count, pearson]; known metrics: {listing(METRICS)}"
    items = _list(raw, "metrics", fix)
    out: list[str] = []
    for i, name in enumerate(items):
        _choice(name, f"metrics[{i}]", list(METRICS), "metric")
        if name in out:
            _fail(f"metrics[{i}]", f"metric '{name}' is listed twice", "list each metric once")
        if METRICS[name].dim == "circuit" and not metric_applies(name, n_neurons, 0):
            _fail(f"metrics[{i}]", f"metric '{name}' needs a circuit of at least {KURAMOTO_MIN_NEURONS} neurons, "
                                   f"this one has {n_neurons}",
                  "leave it out (a pair's phase locking is the metric plv)")
        out.append(name)
    return tuple(out)


# -- sweep -----------------------------------------------------------------------------------------------
def _round_linear(values: np.ndarray, start: float, stop: float) -> np.ndarray:
    """Round to 1e-12 of the larger end's magnitude (so 0.01 * 3 / 40 is exactly 0.00075)."""
    scale = max(abs(start), abs(stop))
    if scale == 0:
        return values + 0.0
    decimals = 12 - math.floor(math.log10(scale))
    if decimals > 290:  # 10**decimals would overflow: values this small are left as computed
        return values + 0.0
    return np.round(values, decimals) + 0.0


def _path_hint(path: Any, known: Mapping[str, Any], voltages: Mapping[str, str] | None = None) -> str:
    """What to write instead of the unknown ``path``. When its parent (``neurons.n1.init``) is known, the last
    part is matched among that parent's own names only, and all of them are listed: a close match over the whole
    path would pick a sibling that merely shares the prefix (``neurons.n1.init.v`` of an HR neuron suggesting
    ``z``, the slow variable, where ``x`` is the membrane potential)."""
    if isinstance(path, str) and "." in path:
        parent, last = path.rsplit(".", 1)
        siblings = [k.rsplit(".", 1)[1] for k in known if k.rsplit(".", 1)[0] == parent]
        if siblings:
            best = closest(last, siblings)
            parts = parent.split(".")
            voltage = (voltages or {}).get(parts[1]) if len(parts) == 3 and parts[0] == "neurons" else None
            if last.lower() in ("v", "vm", "voltage") and voltage in siblings:
                best = voltage  # the model's membrane potential has another name (HR: x)
            mean = f"did you mean '{parent}.{best}'? " if best else ""
            return f"{mean}{parent} has: {listing(siblings)}."
    best = closest(path, known)
    return f"did you mean '{best}'?" if best else f"valid paths: {listing(known, 40)}."


def _targets(raw: Any, field: str, known: Mapping[str, Any], voltages: Mapping[str, str] | None = None
             ) -> dict[str, float]:
    fix = ("give the paths the axis writes, as a list (factor 1) or a mapping path -> factor, e.g. "
           "paths: [synapses.gap.params.g1] or paths: {inputs.n1: 1.0, inputs.n2: 0.8}")
    if isinstance(raw, Mapping):
        items = [(f"{field}['{p}']", p, f) for p, f in raw.items()]
    elif isinstance(raw, list | tuple):
        items = [(f"{field}[{i}]", p, 1.0) for i, p in enumerate(raw)]
    else:
        _fail(field, f"must be a list of paths or a mapping path -> factor, got {_type_name(raw)}", fix)
    if not items:
        _fail(field, "is empty: the axis would change nothing", fix)
    targets: dict[str, float] = {}
    for where, path, factor in items:
        if not isinstance(path, str) or path not in known:
            hint = _path_hint(path, known, voltages)
            _fail(where, f"unknown path {show(path)}",
                  f"{hint} Paths are neurons.<neuron>.params.<parameter>, neurons.<neuron>.init.<variable>, "
                  "synapses.<synapse>.params.<parameter> or inputs.<neuron>")
        if path in targets:
            _fail(where, f"path '{path}' is listed twice in the same axis", "list each path once")
        factor = _number(factor, where, "give the factor the axis value is multiplied by for this path, e.g. 1.0")
        if factor == 0:
            _fail(where, f"factor 0 for '{path}' would hold it at 0 for every point",
                  "give a non-zero factor, or set the value in the circuit instead of sweeping it")
        targets[path] = factor
    return targets


def _axis_values(kind: str, raw: Any, field: str, axis_name: str) -> tuple[np.ndarray, Any]:
    """The axis' values (float64) and its normalised document entry."""
    num_fix = f"give a whole number of values between 1 and {MAX_AXIS_VALUES}"
    if kind == "values":
        fix = "list the coordinate values, e.g. values: [0.0, 0.001, 0.002]"
        items = _list(raw, field, fix)
        if not items:
            _fail(field, "is empty: an axis needs at least one value", fix)
        if len(items) > MAX_AXIS_VALUES:
            _fail(field, f"has {len(items)} values, more than {MAX_AXIS_VALUES}", "use fewer values")
        vals = [_number(v, f"{field}[{i}]", fix) for i, v in enumerate(items)]
        return np.array(vals, dtype=np.float64), vals
    if kind in ("linspace", "logspace"):
        fix = f"give {kind}: {{start: ..., stop: ..., num: ...}}, e.g. {kind}: " + (
            "{start: 0.0, stop: 0.01, num: 11}" if kind == "linspace" else "{start: 0.001, stop: 1.0, num: 13}")
        m = _mapping(raw, field, fix)
        _check_keys(m, field, ("start", "stop", "num"), ("start", "stop", "num"),
                    {k: fix for k in ("start", "stop", "num")})
        start = _number(m["start"], f"{field}.start", fix)
        stop = _number(m["stop"], f"{field}.stop", fix)
        num = _integer(m["num"], f"{field}.num", num_fix, f"a whole number of values from 1 to {MAX_AXIS_VALUES}",
                       1, MAX_AXIS_VALUES)
        if kind == "linspace":
            values = _round_linear(np.linspace(start, stop, num), start, stop)
        else:
            for end, value in (("start", start), ("stop", stop)):
                if value <= 0:
                    _fail(f"{field}.{end}", f"logspace ends must be > 0 (geometric spacing), got {value:g}",
                          "give positive end values, or use linspace for a range through 0 or below")
            values = round_significant(np.geomspace(start, stop, num))
        return values, {"start": start, "stop": stop, "num": num}
    # random
    fix = ("give random: {n, seed, distribution: uniform, low, high} or {n, seed, distribution: normal, "
           "mean, std}, e.g. random: {n: 10, seed: 1, distribution: uniform, low: -80.0, high: -60.0}")
    m = _mapping(raw, field, fix)
    dist = m.get("distribution")
    if dist is None:
        _fail(f"{field}.distribution", "is required but missing", fix)
    dist = _choice(dist, f"{field}.distribution", list(DISTRIBUTIONS), "distribution")
    params = DISTRIBUTIONS[dist]
    _check_keys(m, field, ("n", "seed", "distribution", *params), ("n", "seed", *params),
                {"n": "give the number of draws, e.g. n: 10",
                 "seed": "give an integer seed, e.g. seed: 1 (draws depend only on seed, axis name and index)",
                 **{p: fix for p in params}})
    n = _integer(m["n"], f"{field}.n", num_fix, f"a whole number of draws from 1 to {MAX_AXIS_VALUES}",
                 1, MAX_AXIS_VALUES)
    seed = _integer(m["seed"], f"{field}.seed", "give an integer seed from 0 to 2**64 - 1, e.g. seed: 1",
                    "an integer from 0 to 2**64 - 1", 0, MAX_SEED)
    a, b = (_number(m[p], f"{field}.{p}", fix) for p in params)
    if dist == "uniform" and not a < b:
        _fail(f"{field}.high", f"uniform needs low < high, got low = {a:g} and high = {b:g}",
              "give a high end above the low end")
    if dist == "normal" and not b > 0:
        _fail(f"{field}.std", f"normal needs std > 0, got {b:g}",
              "give a positive standard deviation, or a values axis for a fixed value")
    values = draws(seed, axis_name, np.arange(n), dist, **{params[0]: a, params[1]: b})
    return values, {"n": n, "seed": seed, "distribution": dist, params[0]: a, params[1]: b}


def _axis_long_name(circuit: Circuit, targets: Mapping[str, float]) -> str:
    if len(targets) == 1:
        (path, factor), = targets.items()
        if factor == 1.0:
            parts = path.split(".")
            if parts[0] == "inputs":
                return f"external current into {parts[1]}"
            if parts[0] == "neurons":
                model = NEURON_MODELS[circuit.neurons[circuit.neuron_index(parts[1])].model]
                if parts[2] == "params":
                    return f"{model.param(parts[3]).long_name} of {parts[1]}"
                return f"initial {model.state_var(parts[3]).long_name} of {parts[1]}"
            syn = circuit.synapse(parts[1])
            if parts[2] == "params":
                return f"{syn.definition.param(parts[3], syn.output).long_name} of synapse {parts[1]}"
            return f"initial {syn.definition.state_var(parts[3]).long_name} of synapse {parts[1]}"
    return ", ".join(path if factor == 1.0 else f"{factor:g} x {path}" for path, factor in targets.items())


def _axis(raw: Any, field: str, circuit: Circuit, known: Mapping[str, Any]) -> tuple[Axis, dict[str, Any]]:
    m = _mapping(raw, field, f"give the axis as a mapping, e.g. {_EXAMPLE_AXIS}")
    _check_keys(m, field, AXIS_KEYS, ("name", "paths"),
                {"name": "name the axis (it becomes a coordinate of the results), e.g. name: g",
                 "paths": "list the paths it writes, e.g. paths: [synapses.gap.params.g1]"})
    name = m["name"]
    kinds = [k for k in VALUE_KINDS if k in m]
    if len(kinds) != 1:
        got = "none" if not kinds else " and ".join(kinds)
        _fail(field, f"an axis takes exactly one of values, linspace, logspace and random; got {got}",
              "keep one way to give the values, e.g. linspace: {start: 0.0, stop: 0.01, num: 11}")
    kind = kinds[0]
    voltages = {n.name: NEURON_MODELS[n.model].voltage for n in circuit.neurons}
    targets = _targets(m["paths"], f"{field}.paths", known, voltages)
    values, kind_doc = _axis_values(kind, m[kind], f"{field}.{kind}", name if isinstance(name, str) else "")
    uniq, counts = np.unique(values, return_counts=True)
    if uniq.size != values.size:
        dup = float(uniq[counts > 1][0])
        _fail(f"{field}.{kind}", f"axis '{name}' has the value {dup!r} more than once "
                                 f"({values.size} values, {uniq.size} distinct)",
              "give distinct values (a repeated value would compute the same points twice)")
    units = sorted({circuit.units(p) for p in targets})
    labels = {}  # optional labels for other tools (CF long_name, units); the default is derived from the paths
    for key in ("long_name", "units"):
        if key in m:
            if not isinstance(m[key], str) or not m[key].strip():
                _fail(f"{field}.{key}", f"must be a non-empty text, got {_type_name(m[key])}",
                      f"give the axis' {key.replace('_', ' ')} as text, e.g. {key}: "
                      + ("'gap junction conductance'" if key == "long_name" else "mS"))
            labels[key] = m[key].strip()
    axis = Axis(name=name, values=values, targets=dict(targets),
                units=labels.get("units") or (units[0] if len(units) == 1 else ", ".join(units)),
                long_name=labels.get("long_name") or _axis_long_name(circuit, targets), kind=kind)
    doc = {"name": name, "paths": dict(targets), kind: kind_doc, **labels}
    if m.get("continuation") is not None:
        doc["continuation"] = _choice(m["continuation"], f"{field}.continuation", list(CONTINUATION_DIRECTIONS),
                                      "continuation direction (up, down or both)")
    return axis, doc


def _dim_name(value: Any, field: str, taken: dict[str, str]) -> str:
    """Check a dim or axis name: an identifier, not reserved, not already used (``taken``: name -> field)."""
    fix = "name it with letters, digits and '_', starting with a letter, e.g. g or I_ext"
    if not isinstance(value, str) or not _DIM_NAME.match(value):
        _fail(field, f"must be a name made of letters, digits and '_', got {_type_name(value)}", fix)
    if value in RESERVED_NAMES or value.startswith(RESERVED_PREFIXES):
        _fail(field, f"the name '{value}' is reserved for the result dataset (reserved: "
                     f"{listing(RESERVED_NAMES)}, and names starting with {' or '.join(RESERVED_PREFIXES)})",
              f"choose another name, e.g. {value.replace('trace', 'x')}_value")
    if value in taken:
        _fail(field, f"the name '{value}' is already used by {taken[value]}",
              "give every axis and zip group its own name")
    taken[value] = field
    return value


def _sweep(raw: Any, circuit: Circuit) -> tuple[tuple[Dim, ...], list[dict[str, Any]]]:
    fix = f"give the sweep as a list of axes and zip groups, e.g. sweep: [{_EXAMPLE_AXIS[2:]}]"
    items = _list(raw, "sweep", fix, optional=True)
    known = circuit.paths()
    taken: dict[str, str] = {}
    path_owner: dict[str, str] = {}
    dims: list[Dim] = []
    doc: list[dict[str, Any]] = []

    def claim(axis: Axis, field: str) -> None:
        for path in axis.targets:
            if path in path_owner:
                _fail(f"{field}.paths", f"path '{path}' is already swept by {path_owner[path]}",
                      "sweep each path from one axis only; to vary two paths together, give both to one "
                      "axis or put their axes in a zip group")
            path_owner[path] = f"{field} ('{axis.name}')"

    for i, item in enumerate(items):
        field = f"sweep[{i}]"
        m = _mapping(item, field, fix)
        if "zip" in m or "axes" in m:
            _check_keys(m, field, ZIP_KEYS, ("zip", "axes"),
                        {"zip": "name the zip group's dim, e.g. zip: trial",
                         "axes": "list the axes varied together, e.g. axes: [" + _EXAMPLE_AXIS[2:] + "]"})
            zname = _dim_name(m["zip"], f"{field}.zip", taken)
            zfix = "list the axes varied together under axes:, each like " + _EXAMPLE_AXIS[2:]
            zitems = _list(m["axes"], f"{field}.axes", zfix)
            if not zitems:
                _fail(f"{field}.axes", "is empty: a zip group needs at least one axis", zfix)
            axes: list[Axis] = []
            axes_doc = []
            for j, zitem in enumerate(zitems):
                afield = f"{field}.axes[{j}]"
                if isinstance(zitem, Mapping) and "name" in zitem:
                    _dim_name(zitem.get("name"), f"{afield}.name", taken)
                axis, adoc = _axis(zitem, afield, circuit, known)
                if axes and axis.values.size != axes[0].values.size:
                    _fail(afield, f"zip group '{zname}': axis '{axis.name}' has {axis.values.size} values but "
                                  f"axis '{axes[0].name}' has {axes[0].values.size}",
                          "give every axis of a zip group the same number of values")
                claim(axis, afield)
                axes.append(axis)
                axes_doc.append(adoc)
            dims.append(Dim(zname, tuple(axes)))
            doc.append({"zip": zname, "axes": axes_doc})
        else:
            if "name" in m:
                _dim_name(m["name"], f"{field}.name", taken)
            axis, adoc = _axis(m, field, circuit, known)
            claim(axis, field)
            dims.append(Dim(axis.name, (axis,)))
            doc.append(adoc)
    return tuple(dims), doc


def _continuation(doc: list[dict[str, Any]], dims: tuple[Dim, ...]) -> tuple[Continuation | None, tuple[Dim, ...]]:
    """The axis marked ``continuation`` (at most one, a plain axis), and the dims with the ``direction``
    dim (+1 up, -1 down) put first."""
    marked = [(i, d["continuation"]) for i, d in enumerate(doc) if "continuation" in d]
    zipped = [i for i, d in enumerate(doc) if "zip" in d and any("continuation" in a for a in d["axes"])]
    if zipped:
        _fail(f"sweep[{zipped[0]}]", "an axis of a zip group cannot be continued",
              "mark a plain axis (not in a zip group) with continuation: up, down or both")
    if not marked:
        return None, dims
    if len(marked) > 1:
        _fail(f"sweep[{marked[1][0]}].continuation", "only one axis can be continued",
              "keep continuation on one axis; the other axes run as parallel lanes")
    i, mode = marked[0]
    directions = CONTINUATION_DIRECTIONS[mode]
    axis = Axis(name="direction", values=np.asarray(directions, dtype=np.float64), targets={}, units="1",
                long_name="continuation direction (+1: up the axis, -1: down)", kind="values")
    return Continuation(dims[i].name, directions), (Dim("direction", (axis,)), *dims)


def _refine(raw: Any, dims: tuple[Dim, ...], circuit: Circuit,
            metrics: tuple[str, ...]) -> tuple[Refinement | None, dict[str, Any] | None]:
    """The ``refine`` section: dims to refine (default all), levels, criteria, status, budget."""
    if raw is None:
        return None, None
    example = ("refine: {levels: 5, criteria: [{metric: pearson, pair: n1-n2, threshold: 0.9}], "
               "budget: 10000}")
    m = _mapping(raw, "refine", f"give the refinement as a mapping, e.g. {example}")
    _check_keys(m, "refine", REFINE_KEYS, ("levels",), {"levels": f"give the number of levels, e.g. {example}"})
    names = [d.name for d in dims]
    refined = _list(m.get("dims", names), "refine.dims", f"list dims to refine, some of {listing(names)}")
    for j, name in enumerate(refined):
        _choice(name, f"refine.dims[{j}]", names, "dim")
    if not refined or len(set(refined)) != len(refined):
        _fail("refine.dims", "must list distinct dims, at least one", f"list some of {listing(names)}")
    levels = _integer(m["levels"], "refine.levels", "give a whole number of levels >= 1, e.g. levels: 5",
                      "a whole number >= 1", 1, 30)
    step = 1 << levels
    for name in refined:
        size = dims[names.index(name)].size
        if size < step + 1 or (size - 1) % step:
            coarse = max((size - 1) // step, 1)
            _fail("refine.levels", f"dim '{name}' has {size} values; with {levels} levels a refined dim needs "
                                   f"m * 2**{levels} + 1 values (e.g. {coarse * step + 1})",
                  f"give '{name}' {coarse * step + 1} values, or fewer levels")
    status = m.get("status", True)
    if not isinstance(status, bool):
        _fail("refine.status", f"must be true or false, got {_type_name(status)}",
              "write status: true to refine where the status changes between neighbours")
    budget = m.get("budget")
    if budget is not None:
        budget = _integer(budget, "refine.budget", "give the most points to compute, e.g. budget: 10000",
                          "a whole number of points >= 1", 1)
    cfix = "give criteria as a list, e.g. criteria: [{metric: pearson, pair: n1-n2, threshold: 0.9}]"
    criteria: list[Criterion] = []
    docs: list[dict[str, Any]] = []
    pairs = {f"{a}-{b}" for a, b in circuit.pair_list}
    for j, item in enumerate(_list(m.get("criteria"), "refine.criteria", cfix, optional=True)):
        field = f"refine.criteria[{j}]"
        c = _mapping(item, field, cfix)
        _check_keys(c, field, CRITERION_KEYS, ("metric",), {"metric": cfix})
        metric = _choice(c["metric"], f"{field}.metric", list(metrics), "metric of this sweep")
        kind = METRICS[metric].dim
        entity = None
        if kind in ("pair", "neuron"):
            choices = sorted(pairs) if kind == "pair" else list(circuit.neuron_names)
            entity = _choice(c.get(kind, choices[0] if len(choices) == 1 else None), f"{field}.{kind}", choices,
                             kind)
        reduce = _choice(c.get("reduce", "mean"), f"{field}.reduce", REDUCTIONS, "reduction")
        threshold = None if c.get("threshold") is None else _number(c["threshold"], f"{field}.threshold",
                                                                     "give the boundary value, e.g. 0.9")
        jump = None if c.get("jump") is None else _number(c["jump"], f"{field}.jump",
                                                           "give the largest jump between neighbours, e.g. 0.2")
        if threshold is None and jump is None:
            _fail(field, "needs a threshold or a jump", "add threshold: <value> and/or jump: <tolerance>")
        criteria.append(Criterion(metric, entity, reduce, threshold, jump))
        docs.append({"metric": metric, **({kind: entity} if entity is not None else {}), "reduce": reduce,
                     **({"threshold": threshold} if threshold is not None else {}),
                     **({"jump": jump} if jump is not None else {})})
    if not criteria and not status:
        _fail("refine", "has no criterion and status: false, so nothing would be refined", cfix)
    doc = {"dims": list(refined), "levels": levels, "criteria": docs, "status": status, "budget": budget}
    return Refinement(tuple(refined), levels, tuple(criteria), status, budget), doc


# -- record ----------------------------------------------------------------------------------------------
def _match(values: np.ndarray, value: float) -> int | None:
    """Index of ``value`` among ``values`` (to MATCH_RTOL of the axis' magnitude), or None."""
    tol = MATCH_RTOL * max(float(np.abs(values).max()), abs(value))
    hits = np.flatnonzero(np.abs(values - value) <= tol)
    return int(hits[np.argmin(np.abs(values[hits] - value))]) if hits.size else None


def _record_point(raw: Any, field: str, dims: tuple[Dim, ...]) -> dict[str, float | int]:
    fix_all = ("give one coordinate per dim: " + ", ".join(
        f"{d.name}: <index 0..{d.size - 1}>" if d.zipped else f"{d.name}: <one of its values>" for d in dims)
        if dims else "the sweep has no dims: use points: all")
    m = _mapping(raw, field, fix_all)
    by_name = {d.name: d for d in dims}
    zipped_axes = {a.name: (d, a) for d in dims if d.zipped for a in d.axes}
    index: dict[str, int] = {}
    for key, value in m.items():
        kf = f"{field}.{key}"
        if key in by_name and not by_name[key].zipped:
            dim = by_name[key]
            v = _number(value, kf, fix_all)
            k = _match(dim.axes[0].values, v)
            if k is None:
                _fail(kf, f"{v!r} is not a value of axis '{key}' (values: "
                          f"{listing([repr(float(x)) for x in dim.axes[0].values], 12)})",
                      "give one of the axis' values")
        elif key in by_name:
            dim = by_name[key]
            k = _integer(value, kf, f"give an index along zip group '{key}', from 0 to {dim.size - 1}",
                         f"an index from 0 to {dim.size - 1} along zip group '{key}'", 0, dim.size - 1)
        elif key in zipped_axes:
            dim, axis = zipped_axes[key]
            v = _number(value, kf, fix_all)
            k = _match(axis.values, v)
            if k is None:
                _fail(kf, f"{v!r} is not a value of axis '{key}' of zip group '{dim.name}'",
                      f"give one of the axis' values, or the index along the zip group, e.g. {dim.name}: 0")
        else:
            _fail(kf, f"names no dim of the sweep: {show(key)}",
                  suggestion(key, [*by_name, *zipped_axes]))
        if dim.name in index and index[dim.name] != k:
            _fail(kf, f"gives a different position along dim '{dim.name}' than another key of this point",
                  "give each dim once")
        index[dim.name] = k
    missing = [d.name for d in dims if d.name not in index]
    if missing:
        _fail(field, f"gives no coordinate for dim(s) {', '.join(missing)}", fix_all)
    return {d.name: (index[d.name] if d.zipped else float(d.axes[0].values[index[d.name]])) for d in dims}


def _record(raw: Any, circuit: Circuit, dims: tuple[Dim, ...]) -> tuple[RecordSpec | None, Any]:
    if raw is None:
        return None, None
    m = _mapping(raw, "record", "give record: {variables: [v], every: 10, points: all}, or leave it out")
    _check_keys(m, "record", RECORD_KEYS, ("variables",),
                {"variables": "list the state variables to trace, e.g. variables: [v]"})
    states = sorted({s for n in circuit.neurons for s in n.definition.state_names})
    synapse_states = {s.name: s.definition.state_names for s in circuit.synapses}
    vfix = f"list state variables as 'var' (every neuron that has it), 'neuron.var' or 'synapse.var'; " \
           f"neuron state variables: {listing(states)}"
    items = _list(m["variables"], "record.variables", vfix)
    if not items:
        _fail("record.variables", "is empty", "list at least one variable, e.g. variables: [v], or leave "
                                              "record out")
    variables: list[str] = []
    for i, item in enumerate(items):
        field = f"record.variables[{i}]"
        if not isinstance(item, str):
            _fail(field, f"must be a variable name, got {_type_name(item)}", vfix)
        unit, _, var = item.rpartition(".")
        if unit in circuit.neuron_names:
            names = circuit.neurons[circuit.neuron_index(unit)].definition.state_names
            if var not in names:
                _fail(field, f"neuron '{unit}' has no state variable {show(var)}", suggestion(var, names))
        elif unit in synapse_states:
            names = synapse_states[unit]
            if var not in names:
                _fail(field, f"synapse '{unit}' has no state variable {show(var)}"
                             + ("" if names else " (its model has no state)"),
                      suggestion(var, names) if names else "record a neuron's variable instead")
        elif unit:
            _fail(field, f"names no neuron or synapse of the circuit: {show(unit)}",
                  suggestion(unit, [*circuit.neuron_names, *synapse_states]))
        elif var not in states:
            _fail(field, f"no neuron of the circuit has a state variable {show(var)}", suggestion(var, states))
        if item in variables:
            _fail(field, f"'{item}' is listed twice", "list each variable once")
        variables.append(item)
    efix = "give the sampling interval in steps, a whole number >= 1, e.g. every: 10"
    every = _integer(m.get("every", 1), "record.every", efix, "a whole number of steps >= 1", 1)
    points_raw = m.get("points", "all")
    pfix = "give points: all, or a list of points, each a mapping dim -> coordinate"
    if points_raw == "all":
        points = None
    else:
        items = _list(points_raw, "record.points", pfix)
        if not items:
            _fail("record.points", "is empty", "give points: all, or list at least one point, or leave "
                                               "record out")
        plist: list[dict[str, float | int]] = []
        for i, item in enumerate(items):
            point = _record_point(item, f"record.points[{i}]", dims)
            if point in plist:
                _fail(f"record.points[{i}]", f"the point {show(point)} is already listed as "
                                             f"record.points[{plist.index(point)}]", "list each point once")
            plist.append(point)
        points = tuple(plist)
    rec = RecordSpec(tuple(variables), every, points)
    doc = {"variables": list(variables), "every": every,
           "points": "all" if points is None else [dict(p) for p in points]}
    return rec, doc


# -- the spec --------------------------------------------------------------------------------------------
class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""

    spec_path = ""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            first = seen.get(key)
        except TypeError:
            continue  # unhashable key: the constructor reports it
        if first is not None:
            raise SpecError(f"{loader.spec_path}, line {line}",
                            f"key {show(key)} is given twice in the same mapping (first on line {first}); "
                            "YAML would silently keep only the last one", "remove or merge one of them",
                            where="spec file")
        seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: str | os.PathLike) -> Any:
    name = os.fspath(path)
    try:
        text = Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(name, "no such file", "check the path of the spec file", where="spec file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise SpecError(name, f"cannot be read: {exc}", "give a readable UTF-8 YAML file",
                        where="spec file") from None
    loader = _UniqueKeyLoader(text)
    loader.spec_path = name
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}, line {mark.line + 1}, column {mark.column + 1}" if mark else name
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(where, f"is not valid YAML: {problem}",
                        "correct the YAML syntax there (indentation, ':' after keys, matching brackets and "
                        "quotes)", where="spec file") from None
    finally:
        loader.dispose()


def load_spec(source: str | os.PathLike | Mapping) -> SweepSpec:
    """A validated ``SweepSpec`` from a YAML file path or a mapping (e.g. another spec's ``document``).

    Raises ``SpecError`` (one paragraph: field, problem with the offending value, fix) for the first
    problem found. Checks only the spec itself: call ``check_resources`` for disk space and memory.
    The mapping is not modified. ``load_spec(spec.document)`` gives a spec equal to ``spec``.
    """
    raw = source if isinstance(source, Mapping) else _read_yaml(source)
    if raw is None:
        _fail("(top level)", "the spec is empty",
              "give at least name, circuit and simulation, e.g. name: scan, circuit: {neurons: {n1: "
              "{model: hh}}}, simulation: {dt: 0.01, duration: 100}")
    top = _mapping(raw, "(top level)", "write the spec as a mapping with keys " + ", ".join(TOP_KEYS))
    _check_keys(top, "", TOP_KEYS, ("name", "circuit", "simulation"),
                {"name": "give the sweep a name, e.g. name: hh-coupling-scan",
                 "circuit": "describe the circuit, e.g. circuit: {neurons: {n1: {model: hh}}}",
                 "simulation": "give the simulation settings, e.g. simulation: {dt: 0.01, duration: 100}"})
    name = top["name"]
    if not isinstance(name, str) or not name.strip():
        _fail("name", f"must be a non-empty text, got {_type_name(name)}",
              "give the sweep a name, e.g. name: hh-coupling-scan")
    description = top.get("description")
    if description is None:
        description = ""
    if not isinstance(description, str):
        _fail("description", f"must be text, got {_type_name(description)}", "write the description as text "
                                                                             "(quote it if needed)")
    circuit, circuit_doc = _circuit(top["circuit"])
    simulation, simulation_doc = _simulation(top["simulation"])
    metrics = _metrics(top.get("metrics"), len(circuit.neurons))
    dims, sweep_doc = _sweep(top.get("sweep"), circuit)
    continuation, dims = _continuation(sweep_doc, dims)
    raw_record = top.get("record")
    if continuation is not None and isinstance(raw_record, Mapping) and raw_record.get("points") not in (None, "all"):
        _fail("record.points", "a continuation sweep keeps traces for every point or none: a listed point "
                               "depends on the points before it along the continued axis",
              "leave out record.points (traces are then kept for every point)")
    record, record_doc = _record(raw_record, circuit, dims)
    refine, refine_doc = _refine(top.get("refine"), dims, circuit, metrics)
    if refine is not None and continuation is not None:
        _fail("refine", "refinement and continuation cannot be combined in one sweep",
              "remove 'continuation' from the axis or the 'refine' section")
    ex = _mapping(top.get("execution"), "execution", "give execution: {chunk_points: 4096}, or leave it out",
                  optional=True)
    _check_keys(ex, "execution", EXECUTION_KEYS)
    device = _device(ex.get("device", "cpu"))
    chunk_points = _integer(ex.get("chunk_points", DEVICE_CHUNK_POINTS[device]), "execution.chunk_points",
                            "give the target number of points per task, a whole number >= 1, e.g. "
                            "chunk_points: 4096", "a whole number of points >= 1", 1)
    given = ex.get("chunk_points") is not None
    execution: dict[str, Any] = {"chunk_points": chunk_points} if given else {}
    if device != "cpu":
        execution["device"] = device
    if ex.get("resources") is not None:
        execution["resources"] = parse_resources(ex["resources"], SPEC_RESOURCES)
    document = {
        "name": name,
        "description": description,
        "circuit": circuit_doc,
        "simulation": simulation_doc,
        "sweep": sweep_doc,
        "metrics": list(metrics),
        "record": record_doc,
        "execution": execution,
    }
    if refine_doc is not None:
        document["refine"] = refine_doc
    return SweepSpec(name=name, description=description, circuit=circuit, simulation=simulation, dims=dims,
                     metrics=metrics, record=record, chunk_points=chunk_points, document=document,
                     continuation=continuation, refine=refine, chunk_points_given=given, device=device)


def _device(value: Any) -> str:
    """``execution.device``: where the kernels run (``synsweep.engine.device``); whether this machine can run
    CUDA kernels is checked by the run, not here (the workers of a cluster may have the GPU the driver lacks)."""
    if not isinstance(value, str) or value not in DEVICES:
        _fail("execution.device", f"unknown device {show(value)}",
              "give device: cpu (the default, every core of each worker) or device: cuda (an NVIDIA GPU per "
              "worker, with pip install 'synsweep[cuda]')")
    return value


# -- points, sizes, resources ----------------------------------------------------------------------------
def traced_indices(spec: SweepSpec) -> np.ndarray:
    """Flat C-order indices (int64, in the order listed) of the points whose traces are recorded.

    Every point when ``record.points`` is None (``points: all``); empty when nothing is recorded.
    """
    if spec.record is None:
        return np.zeros(0, dtype=np.int64)
    if spec.record.points is None:
        return np.arange(spec.n_points, dtype=np.int64)
    rows = []
    for point in spec.record.points:
        idx = []
        for d in spec.dims:
            value = point[d.name]
            idx.append(int(value) if d.zipped else _match(d.axes[0].values, float(value)))
        rows.append(int(np.ravel_multi_index(tuple(idx), spec.shape)) if spec.dims else 0)
    return np.array(rows, dtype=np.int64)


def estimate(spec: SweepSpec) -> dict[str, Any]:
    """Sizes of a sweep, without running it.

    Returns: points, dims (names), shape, neuron_steps (points x neurons x steps), n_chunks, metric_bytes
    (the metric arrays, status and diverged_step), traced_points, trace_rows (neuron, variable) pairs,
    trace_samples (per point and row), trace_bytes, output_bytes (metric_bytes + trace_bytes, uncompressed)
    and chunk_bytes (working memory of one task: its traces, twice, plus its state and accumulators).
    """
    n_points = spec.n_points
    n_neurons = len(spec.circuit.neurons)
    n_pairs = len(spec.circuit.pair_list)
    per_point = 1 + 8  # status (int8), diverged_step (int64)
    for name in spec.metrics:
        info = METRICS[name]
        if metric_applies(name, n_neurons, n_pairs):
            per_point += np.dtype(info.dtype).itemsize * {"neuron": n_neurons, "pair": n_pairs}.get(info.dim, 1)
    metric_bytes = n_points * per_point
    itemsize = np.dtype(spec.simulation.precision).itemsize
    if spec.record is not None:
        rows = len(resolve_record(spec.circuit, spec.record.variables))
        samples = spec.simulation.n_steps // spec.record.every + 1
        traced = n_points if spec.record.points is None else len(spec.record.points)
    else:
        rows = samples = traced = 0
    trace_bytes = traced * rows * samples * itemsize
    lanes = min(spec.chunk_points, n_points)
    traced_lanes = min(spec.chunk_points, traced)
    n_state = sum(len(n.definition.state_names) for n in spec.circuit.neurons)
    n_params = len(spec.circuit.param_paths())
    chunk_bytes = (2 * traced_lanes * rows * samples * itemsize
                   + lanes * (8 * (n_state + n_params) + 64 * (n_neurons + n_pairs) + per_point))
    return {
        "points": n_points,
        "dims": tuple(d.name for d in spec.dims),
        "shape": spec.shape,
        "neuron_steps": spec.neuron_steps,
        "n_chunks": -(-n_points // spec.chunk_points),
        "metric_bytes": metric_bytes,
        "traced_points": traced,
        "trace_rows": rows,
        "trace_samples": samples,
        "trace_bytes": trace_bytes,
        "output_bytes": metric_bytes + trace_bytes,
        "chunk_bytes": chunk_bytes,
    }


def _total_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _existing_parent(path: str | os.PathLike) -> Path:
    p = Path(os.fspath(path)).expanduser().absolute().parent
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_resources(spec: SweepSpec, out_path: str | os.PathLike | None,
                    *, free_bytes: int | None = None, memory_bytes: int | None = None) -> None:
    """Raise ``SpecError`` if the output would not fit on disk or one chunk in memory.

    Disk: ``estimate(spec)['output_bytes']`` (uncompressed, so conservative) against the free space of the
    nearest existing directory above ``out_path`` (skipped when ``out_path`` is None or a URL). Memory:
    one chunk's ``chunk_bytes`` against ``MEMORY_FRACTION`` of total RAM. ``free_bytes`` and
    ``memory_bytes`` override the measured free disk space and total RAM (for tests).
    """
    est = estimate(spec)
    if free_bytes is None and out_path is not None and "://" not in os.fspath(out_path):
        free_bytes = shutil.disk_usage(_existing_parent(out_path)).free
    if free_bytes is not None and est["output_bytes"] > free_bytes:
        traces = est["trace_bytes"] > est["metric_bytes"]
        where = f"'{os.fspath(out_path)}'" if out_path is not None else "the output"
        size = (f"{est['points']} points, output about {format_bytes(est['output_bytes'])} (metrics "
                f"{format_bytes(est['metric_bytes'])}, traces {format_bytes(est['trace_bytes'])})")
        if traces:
            _fail("record", f"the sweep would write {size}, more than the {format_bytes(free_bytes)} free at {where}",
                  "record fewer variables, sample less often (a larger record.every), record a list of points "
                  "instead of all, or write the output where there is more space")
        _fail("sweep", f"the sweep would write {size}, more than the {format_bytes(free_bytes)} free at {where}",
              "sweep fewer points (fewer values per axis or fewer axes), request fewer metrics, or write the "
              "output where there is more space")
    if memory_bytes is None:
        memory_bytes = _total_memory()
    if memory_bytes is not None and est["chunk_bytes"] > MEMORY_FRACTION * memory_bytes:
        field = "record" if est["trace_bytes"] else "execution.chunk_points"
        _fail(field, f"one task of {min(spec.chunk_points, est['points'])} points would need about "
                     f"{format_bytes(est['chunk_bytes'])} of memory, more than {MEMORY_FRACTION:.0%} of the "
                     f"{format_bytes(memory_bytes)} of RAM",
              "lower execution.chunk_points, sample traces less often (a larger record.every), record fewer "
              "variables, or record a list of points instead of all")


def kernel_key(spec: SweepSpec) -> Any:
    """The compiled kernel the sweep's chunks use: the swept parameters vary per point, delay ring buffers
    are sized for the largest delay swept, traces when every point is recorded."""
    from synsweep.engine.simulate import kernel_key as engine_kernel_key

    swept: dict[str, np.ndarray] = {}
    for dim in spec.dims:
        for axis in dim.axes:
            for path, factor in axis.targets.items():
                swept[path] = np.asarray([np.max(axis.values * factor)])
    record = spec.record.variables if spec.record is not None and spec.record.points is None else ()
    return engine_kernel_key(spec.circuit, spec.simulation, swept, record, spec.metrics)
