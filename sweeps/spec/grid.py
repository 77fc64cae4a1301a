"""The ``sweep`` section: the grid's dims, each a plain axis or a zip group of axes of equal length, and the axis
marked for continuation.

An axis writes ``factor * value`` to each of its paths; its values come from exactly one of ``values``,
``linspace``, ``logspace`` (rounded so that coordinates are reproducible to the bit) and ``random``
(``synsweep.sweeps.draws``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from synsweep.engine import METRICS, NEURON_MODELS, Circuit

from ..draws import DISTRIBUTIONS, MAX_SEED, draws, round_significant
from ..errors import closest, listing, show
from ..model import Axis, Continuation, Dim
from .checks import as_choice, as_integer, as_list, as_mapping, as_number, check_keys, fail, type_name

AXIS_KEYS = ("name", "paths", "values", "linspace", "logspace", "random", "continuation", "long_name", "units")
CONTINUATION_DIRECTIONS = {"up": (1,), "down": (-1,), "both": (1, -1)}
VALUE_KINDS = ("values", "linspace", "logspace", "random")
ZIP_KEYS = ("zip", "axes")
#: Names a dim or axis may not take: the dataset's own dims, and its data variables.
RESERVED_NAMES = ("neuron", "pair", "pair_a", "pair_b", "synapse", "time", "traced_point", "status", "direction",
                  "diverged_step", *METRICS)
#: Prefixes a dim or axis name may not take: the store names traces trace_<var> (neurons) and
#: synapse_trace_<var> (synapses), and coordinates traced_<dim>.
RESERVED_PREFIXES = ("trace_", "synapse_trace_", "traced_")
MAX_AXIS_VALUES = 10_000_000

_DIM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXAMPLE_AXIS = "- {name: g, paths: [synapses.gap.params.g1], linspace: {start: 0, stop: 0.01, num: 11}}"


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
        fail(field, f"must be a list of paths or a mapping path -> factor, got {type_name(raw)}", fix)
    if not items:
        fail(field, "is empty: the axis would change nothing", fix)
    targets: dict[str, float] = {}
    for where, path, factor in items:
        if not isinstance(path, str) or path not in known:
            hint = _path_hint(path, known, voltages)
            fail(where, f"unknown path {show(path)}",
                  f"{hint} Paths are neurons.<neuron>.params.<parameter>, neurons.<neuron>.init.<variable>, "
                  "synapses.<synapse>.params.<parameter> or inputs.<neuron>")
        if path in targets:
            fail(where, f"path '{path}' is listed twice in the same axis", "list each path once")
        factor = as_number(factor, where, "give the factor the axis value is multiplied by for this path, e.g. 1.0")
        if factor == 0:
            fail(where, f"factor 0 for '{path}' would hold it at 0 for every point",
                  "give a non-zero factor, or set the value in the circuit instead of sweeping it")
        targets[path] = factor
    return targets


def _axis_values(kind: str, raw: Any, field: str, axis_name: str) -> tuple[np.ndarray, Any]:
    """The axis' values (float64) and its normalised document entry."""
    num_fix = f"give a whole number of values between 1 and {MAX_AXIS_VALUES}"
    if kind == "values":
        fix = "list the coordinate values, e.g. values: [0.0, 0.001, 0.002]"
        items = as_list(raw, field, fix)
        if not items:
            fail(field, "is empty: an axis needs at least one value", fix)
        if len(items) > MAX_AXIS_VALUES:
            fail(field, f"has {len(items)} values, more than {MAX_AXIS_VALUES}", "use fewer values")
        vals = [as_number(v, f"{field}[{i}]", fix) for i, v in enumerate(items)]
        return np.array(vals, dtype=np.float64), vals
    if kind in ("linspace", "logspace"):
        fix = f"give {kind}: {{start: ..., stop: ..., num: ...}}, e.g. {kind}: " + (
            "{start: 0.0, stop: 0.01, num: 11}" if kind == "linspace" else "{start: 0.001, stop: 1.0, num: 13}")
        m = as_mapping(raw, field, fix)
        check_keys(m, field, ("start", "stop", "num"), ("start", "stop", "num"),
                    {k: fix for k in ("start", "stop", "num")})
        start = as_number(m["start"], f"{field}.start", fix)
        stop = as_number(m["stop"], f"{field}.stop", fix)
        num = as_integer(m["num"], f"{field}.num", num_fix, f"a whole number of values from 1 to {MAX_AXIS_VALUES}",
                       1, MAX_AXIS_VALUES)
        if kind == "linspace":
            values = _round_linear(np.linspace(start, stop, num), start, stop)
        else:
            for end, value in (("start", start), ("stop", stop)):
                if value <= 0:
                    fail(f"{field}.{end}", f"logspace ends must be > 0 (geometric spacing), got {value:g}",
                          "give positive end values, or use linspace for a range through 0 or below")
            values = round_significant(np.geomspace(start, stop, num))
        return values, {"start": start, "stop": stop, "num": num}
    # random
    fix = ("give random: {n, seed, distribution: uniform, low, high} or {n, seed, distribution: normal, "
           "mean, std}, e.g. random: {n: 10, seed: 1, distribution: uniform, low: -80.0, high: -60.0}")
    m = as_mapping(raw, field, fix)
    dist = m.get("distribution")
    if dist is None:
        fail(f"{field}.distribution", "is required but missing", fix)
    dist = as_choice(dist, f"{field}.distribution", list(DISTRIBUTIONS), "distribution")
    params = DISTRIBUTIONS[dist]
    check_keys(m, field, ("n", "seed", "distribution", *params), ("n", "seed", *params),
                {"n": "give the number of draws, e.g. n: 10",
                 "seed": "give an integer seed, e.g. seed: 1 (draws depend only on seed, axis name and index)",
                 **{p: fix for p in params}})
    n = as_integer(m["n"], f"{field}.n", num_fix, f"a whole number of draws from 1 to {MAX_AXIS_VALUES}",
                 1, MAX_AXIS_VALUES)
    seed = as_integer(m["seed"], f"{field}.seed", "give an integer seed from 0 to 2**64 - 1, e.g. seed: 1",
                    "an integer from 0 to 2**64 - 1", 0, MAX_SEED)
    a, b = (as_number(m[p], f"{field}.{p}", fix) for p in params)
    if dist == "uniform" and not a < b:
        fail(f"{field}.high", f"uniform needs low < high, got low = {a:g} and high = {b:g}",
              "give a high end above the low end")
    if dist == "normal" and not b > 0:
        fail(f"{field}.std", f"normal needs std > 0, got {b:g}",
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
    m = as_mapping(raw, field, f"give the axis as a mapping, e.g. {_EXAMPLE_AXIS}")
    check_keys(m, field, AXIS_KEYS, ("name", "paths"),
                {"name": "name the axis (it becomes a coordinate of the results), e.g. name: g",
                 "paths": "list the paths it writes, e.g. paths: [synapses.gap.params.g1]"})
    name = m["name"]
    kinds = [k for k in VALUE_KINDS if k in m]
    if len(kinds) != 1:
        got = "none" if not kinds else " and ".join(kinds)
        fail(field, f"an axis takes exactly one of values, linspace, logspace and random; got {got}",
              "keep one way to give the values, e.g. linspace: {start: 0.0, stop: 0.01, num: 11}")
    kind = kinds[0]
    voltages = {n.name: NEURON_MODELS[n.model].voltage for n in circuit.neurons}
    targets = _targets(m["paths"], f"{field}.paths", known, voltages)
    values, kind_doc = _axis_values(kind, m[kind], f"{field}.{kind}", name if isinstance(name, str) else "")
    for path, factor in targets.items():
        info = circuit.param_info(path)
        if info is None or not info.domain:
            continue
        bad = [float(v) for v in np.asarray(values) * factor if info.refuses(v)]
        if bad:
            times = f" (the axis value times {factor:g})" if factor != 1.0 else ""
            fail(f"{field}.{kind}", f"axis '{name}' sets {path} to {bad[0]:g}{times}, but {info.name} must be "
                                     f"{info.domain} ({info.long_name})",
                  f"give values for which {path} stays {info.domain}")
    uniq, counts = np.unique(values, return_counts=True)
    if uniq.size != values.size:
        dup = float(uniq[counts > 1][0])
        fail(f"{field}.{kind}", f"axis '{name}' has the value {dup!r} more than once "
                                 f"({values.size} values, {uniq.size} distinct)",
              "give distinct values (a repeated value would compute the same points twice)")
    units = sorted({circuit.units(p) for p in targets})
    labels = {}  # optional labels for other tools (CF long_name, units); the default is derived from the paths
    for key in ("long_name", "units"):
        if key in m:
            if not isinstance(m[key], str) or not m[key].strip():
                fail(f"{field}.{key}", f"must be a non-empty text, got {type_name(m[key])}",
                      f"give the axis' {key.replace('_', ' ')} as text, e.g. {key}: "
                      + ("'gap junction conductance'" if key == "long_name" else "mS"))
            labels[key] = m[key].strip()
    axis = Axis(name=name, values=values, targets=dict(targets),
                units=labels.get("units") or (units[0] if len(units) == 1 else ", ".join(units)),
                long_name=labels.get("long_name") or _axis_long_name(circuit, targets), kind=kind)
    doc = {"name": name, "paths": dict(targets), kind: kind_doc, **labels}
    if m.get("continuation") is not None:
        doc["continuation"] = as_choice(m["continuation"], f"{field}.continuation", list(CONTINUATION_DIRECTIONS),
                                      "continuation direction (up, down or both)")
    return axis, doc


def _dim_name(value: Any, field: str, taken: dict[str, str]) -> str:
    """Check a dim or axis name: an identifier, not reserved, not already used (``taken``: name -> field)."""
    fix = "name it with letters, digits and '_', starting with a letter, e.g. g or I_ext"
    if not isinstance(value, str) or not _DIM_NAME.match(value):
        fail(field, f"must be a name made of letters, digits and '_', got {type_name(value)}", fix)
    if value in RESERVED_NAMES or value.startswith(RESERVED_PREFIXES):
        fail(field, f"the name '{value}' is reserved for the result dataset (reserved: "
                     f"{listing(RESERVED_NAMES)}, and names starting with {' or '.join(RESERVED_PREFIXES)})",
              f"choose another name, e.g. {value.replace('trace', 'x')}_value")
    if value in taken:
        fail(field, f"the name '{value}' is already used by {taken[value]}",
              "give every axis and zip group its own name")
    taken[value] = field
    return value


def sweep_section(raw: Any, circuit: Circuit) -> tuple[tuple[Dim, ...], list[dict[str, Any]]]:
    fix = f"give the sweep as a list of axes and zip groups, e.g. sweep: [{_EXAMPLE_AXIS[2:]}]"
    items = as_list(raw, "sweep", fix, optional=True)
    known = circuit.paths()
    taken: dict[str, str] = {}
    path_owner: dict[str, str] = {}
    dims: list[Dim] = []
    doc: list[dict[str, Any]] = []

    def claim(axis: Axis, field: str) -> None:
        for path in axis.targets:
            if path in path_owner:
                fail(f"{field}.paths", f"path '{path}' is already swept by {path_owner[path]}",
                      "sweep each path from one axis only; to vary two paths together, give both to one "
                      "axis or put their axes in a zip group")
            path_owner[path] = f"{field} ('{axis.name}')"

    for i, item in enumerate(items):
        field = f"sweep[{i}]"
        m = as_mapping(item, field, fix)
        if "zip" in m or "axes" in m:
            check_keys(m, field, ZIP_KEYS, ("zip", "axes"),
                        {"zip": "name the zip group's dim, e.g. zip: trial",
                         "axes": "list the axes varied together, e.g. axes: [" + _EXAMPLE_AXIS[2:] + "]"})
            zname = _dim_name(m["zip"], f"{field}.zip", taken)
            zfix = "list the axes varied together under axes:, each like " + _EXAMPLE_AXIS[2:]
            zitems = as_list(m["axes"], f"{field}.axes", zfix)
            if not zitems:
                fail(f"{field}.axes", "is empty: a zip group needs at least one axis", zfix)
            axes: list[Axis] = []
            axes_doc = []
            for j, zitem in enumerate(zitems):
                afield = f"{field}.axes[{j}]"
                if isinstance(zitem, Mapping) and "name" in zitem:
                    _dim_name(zitem.get("name"), f"{afield}.name", taken)
                axis, adoc = _axis(zitem, afield, circuit, known)
                if axes and axis.values.size != axes[0].values.size:
                    fail(afield, f"zip group '{zname}': axis '{axis.name}' has {axis.values.size} values but "
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


def continuation_section(doc: list[dict[str, Any]], dims: tuple[Dim, ...]
                         ) -> tuple[Continuation | None, tuple[Dim, ...]]:
    """The axis marked ``continuation`` (at most one, a plain axis), and the dims with the ``direction``
    dim (+1 up, -1 down) put first."""
    marked = [(i, d["continuation"]) for i, d in enumerate(doc) if "continuation" in d]
    zipped = [i for i, d in enumerate(doc) if "zip" in d and any("continuation" in a for a in d["axes"])]
    if zipped:
        fail(f"sweep[{zipped[0]}]", "an axis of a zip group cannot be continued",
              "mark a plain axis (not in a zip group) with continuation: up, down or both")
    if not marked:
        return None, dims
    if len(marked) > 1:
        fail(f"sweep[{marked[1][0]}].continuation", "only one axis can be continued",
              "keep continuation on one axis; the other axes run as parallel lanes")
    i, mode = marked[0]
    directions = CONTINUATION_DIRECTIONS[mode]
    axis = Axis(name="direction", values=np.asarray(directions, dtype=np.float64), targets={}, units="1",
                long_name="continuation direction (+1: up the axis, -1: down)", kind="values")
    return Continuation(dims[i].name, directions), (Dim("direction", (axis,)), *dims)
