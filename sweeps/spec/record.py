"""The ``record`` section: the state variables traced, the sampling interval and the points traced (all, or a
list of points given by their coordinates).
"""

from __future__ import annotations

from typing import Any

from synsweep.engine import Circuit

from ..errors import listing, show, suggestion
from ..model import Dim, RecordSpec
from ..traces import grid_index
from .checks import as_integer, as_list, as_mapping, as_number, check_keys, fail, type_name

RECORD_KEYS = ("variables", "every", "points")


def _record_point(raw: Any, field: str, dims: tuple[Dim, ...]) -> dict[str, float | int]:
    fix_all = ("give one coordinate per dim: " + ", ".join(
        f"{d.name}: <index 0..{d.size - 1}>" if d.zipped else f"{d.name}: <one of its values>" for d in dims)
        if dims else "the sweep has no dims: use points: all")
    m = as_mapping(raw, field, fix_all)
    by_name = {d.name: d for d in dims}
    zipped_axes = {a.name: (d, a) for d in dims if d.zipped for a in d.axes}
    index: dict[str, int] = {}
    for key, value in m.items():
        kf = f"{field}.{key}"
        if key in by_name and not by_name[key].zipped:
            dim = by_name[key]
            v = as_number(value, kf, fix_all)
            k = grid_index(dim.axes[0].values, v)
            if k is None:
                fail(kf, f"{v!r} is not a value of axis '{key}' (values: "
                          f"{listing([repr(float(x)) for x in dim.axes[0].values], 12)})",
                      "give one of the axis' values")
        elif key in by_name:
            dim = by_name[key]
            k = as_integer(value, kf, f"give an index along zip group '{key}', from 0 to {dim.size - 1}",
                         f"an index from 0 to {dim.size - 1} along zip group '{key}'", 0, dim.size - 1)
        elif key in zipped_axes:
            dim, axis = zipped_axes[key]
            v = as_number(value, kf, fix_all)
            k = grid_index(axis.values, v)
            if k is None:
                fail(kf, f"{v!r} is not a value of axis '{key}' of zip group '{dim.name}'",
                      f"give one of the axis' values, or the index along the zip group, e.g. {dim.name}: 0")
        else:
            fail(kf, f"names no dim of the sweep: {show(key)}",
                  suggestion(key, [*by_name, *zipped_axes]))
        if dim.name in index and index[dim.name] != k:
            fail(kf, f"gives a different position along dim '{dim.name}' than another key of this point",
                  "give each dim once")
        index[dim.name] = k
    missing = [d.name for d in dims if d.name not in index]
    if missing:
        fail(field, f"gives no coordinate for dim(s) {', '.join(missing)}", fix_all)
    return {d.name: (index[d.name] if d.zipped else float(d.axes[0].values[index[d.name]])) for d in dims}


def record_section(raw: Any, circuit: Circuit, dims: tuple[Dim, ...]) -> tuple[RecordSpec | None, Any]:
    if raw is None:
        return None, None
    m = as_mapping(raw, "record", "give record: {variables: [v], every: 10, points: all}, or leave it out")
    check_keys(m, "record", RECORD_KEYS, ("variables",),
                {"variables": "list the state variables to trace, e.g. variables: [v]"})
    states = sorted({s for n in circuit.neurons for s in n.definition.state_names})
    synapse_states = {s.name: s.definition.state_names for s in circuit.synapses}
    vfix = f"list state variables as 'var' (every neuron that has it), 'neuron.var' or 'synapse.var'; " \
           f"neuron state variables: {listing(states)}"
    items = as_list(m["variables"], "record.variables", vfix)
    if not items:
        fail("record.variables", "is empty", "list at least one variable, e.g. variables: [v], or leave "
                                              "record out")
    variables: list[str] = []
    for i, item in enumerate(items):
        field = f"record.variables[{i}]"
        if not isinstance(item, str):
            fail(field, f"must be a variable name, got {type_name(item)}", vfix)
        unit, _, var = item.rpartition(".")
        if unit in circuit.neuron_names:
            names = circuit.neurons[circuit.neuron_index(unit)].definition.state_names
            if var not in names:
                fail(field, f"neuron '{unit}' has no state variable {show(var)}", suggestion(var, names))
        elif unit in synapse_states:
            names = synapse_states[unit]
            if var not in names:
                fail(field, f"synapse '{unit}' has no state variable {show(var)}"
                             + ("" if names else " (its model has no state)"),
                      suggestion(var, names) if names else "record a neuron's variable instead")
        elif unit:
            fail(field, f"names no neuron or synapse of the circuit: {show(unit)}",
                  suggestion(unit, [*circuit.neuron_names, *synapse_states]))
        elif var not in states:
            fail(field, f"no neuron of the circuit has a state variable {show(var)}", suggestion(var, states))
        if item in variables:
            fail(field, f"'{item}' is listed twice", "list each variable once")
        variables.append(item)
    efix = "give the sampling interval in steps, a whole number >= 1, e.g. every: 10"
    every = as_integer(m.get("every", 1), "record.every", efix, "a whole number of steps >= 1", 1)
    points_raw = m.get("points", "all")
    pfix = "give points: all, or a list of points, each a mapping dim -> coordinate"
    if points_raw == "all":
        points = None
    else:
        items = as_list(points_raw, "record.points", pfix)
        if not items:
            fail("record.points", "is empty", "give points: all, or list at least one point, or leave "
                                               "record out")
        plist: list[dict[str, float | int]] = []
        for i, item in enumerate(items):
            point = _record_point(item, f"record.points[{i}]", dims)
            if point in plist:
                fail(f"record.points[{i}]", f"the point {show(point)} is already listed as "
                                             f"record.points[{plist.index(point)}]", "list each point once")
            plist.append(point)
        points = tuple(plist)
    rec = RecordSpec(tuple(variables), every, points)
    doc = {"variables": list(variables), "every": every,
           "points": "all" if points is None else [dict(p) for p in points]}
    return rec, doc
