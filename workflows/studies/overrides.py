"""``--set path=value``: changing a spec document (or a workflow option) before it is validated.

    apply_override(document, "simulation.duration", 200)         # in place
    parse_assignment("circuit.inputs.n1=0.2")                     # -> ("circuit.inputs.n1", 0.2)

A path is a dotted walk through the spec document: mapping keys by name, list entries by index
(``sweep.0``) or, in a list of axes and zip groups, by the dim's name (``sweep.g.linspace.num``); an
axis inside a zip group is found by its own name too (``sweep.v0.random.seed``). Keys that do not exist
yet are created, so a misspelt key reaches ``load_spec``, which names it and suggests the right one.
Setting one of an axis' value kinds (``values``, ``linspace``, ``logspace``, ``random``) replaces the
others (``--set sweep.g.values=[0,0.002]`` on a linspace axis). Values are read as YAML: ``200``,
``0.2``, ``[0, 0.002]``, ``{start: 0, stop: 1, num: 5}``, ``all``.

Every problem is a ``SpecError`` naming the option (``option '--set sweep.h.values': ...``).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import yaml

from synsweep.sweeps.errors import SpecError, listing, suggestion


def _error(path: str, problem: str, fix: str) -> SpecError:
    return SpecError(f"--set {path}", problem, fix, where="option")


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"a.b=value"`` -> ``("a.b", value read as YAML)``."""
    path, sep, value = text.partition("=")
    path = path.strip()
    if not sep or not path:
        raise _error(text, "is not an assignment path=value", "write it as --set path=value, e.g. "
                                                               "--set simulation.duration=200")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise _error(path, f"the value {value!r} is not valid YAML ({problem})",
                     "quote it for the shell and write lists as [a, b] and mappings as {key: value}") from None
    if parsed is None:
        raise _error(path, "has no value", "give a value after '=', e.g. --set simulation.duration=200")
    return path, parsed


def _names(item: Any) -> tuple[str, ...]:
    """The names an entry of a list can be found by: its ``name`` or ``zip``."""
    if not isinstance(item, Mapping):
        return ()
    return tuple(str(item[k]) for k in ("name", "zip") if k in item)


def _entry(items: list, key: str, path: str, where: str) -> Any:
    """The entry of ``items`` at index ``key`` or named ``key`` (in a zip group's axes too)."""
    if key.lstrip("-").isdigit():
        k = int(key)
        if not -len(items) <= k < len(items):
            raise _error(path, f"'{where}' has {len(items)} entries, there is no entry {k}",
                         f"give an index from 0 to {len(items) - 1}, or the entry's name")
        return items[k]
    for item in items:
        if key in _names(item):
            return item
    for item in items:  # an axis of a zip group, by its own name
        axes = item.get("axes") if isinstance(item, Mapping) else None
        for axis in axes if isinstance(axes, list) else ():
            if key in _names(axis):
                return axis
    names = [n for item in items for n in _names(item)]
    names += [n for item in items if isinstance(item, Mapping) and isinstance(item.get("axes"), list)
              for axis in item["axes"] for n in _names(axis)]
    raise _error(path, f"'{where}' has no entry named {key!r}",
                 suggestion(key, names) if names else f"give an index from 0 to {len(items) - 1}")


def apply_override(document: MutableMapping[str, Any], path: str, value: Any) -> None:
    """Set ``path`` (dotted, see the module docstring) of ``document`` to ``value``, in place."""
    from synsweep.sweeps.spec.grid import VALUE_KINDS  # the spec (and the engine) load on first use

    keys = path.split(".")
    if any(not k for k in keys):
        raise _error(path, "has an empty part", "write the path as keys joined by single dots, e.g. "
                                                "simulation.duration")
    node: Any = document
    for i, key in enumerate(keys[:-1]):
        where = ".".join(keys[:i]) or "(top level)"
        if isinstance(node, list):
            node = _entry(node, key, path, where)
            continue
        if not isinstance(node, MutableMapping):
            raise _error(path, f"'{where}' is {type(node).__name__} {node!r}, it has no key {key!r}",
                         f"set '{where}' itself, e.g. --set {where}=...")
        if node.get(key) is None:
            node[key] = {}
        node = node[key]
    last = keys[-1]
    where = ".".join(keys[:-1]) or "(top level)"
    if isinstance(node, list):
        target = _entry(node, last, path, where)
        node[node.index(target)] = value
        return
    if not isinstance(node, MutableMapping):
        raise _error(path, f"'{where}' is {type(node).__name__} {node!r}, it has no key {last!r}",
                     f"set '{where}' itself, e.g. --set {where}=...")
    if last in VALUE_KINDS and "paths" in node:  # an axis: one way to give its values
        for kind in VALUE_KINDS:
            node.pop(kind, None)
    node[last] = value


def coerce_option(workflow: str, name: str, value: Any, default: Any) -> Any:
    """A workflow option's value in the type of its default (number, whole number, text or list of
    numbers); ``SpecError`` otherwise."""
    path = f"workflow.{name}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise _error(path, f"must be true or false, got {value!r}", f"e.g. --set {path}=true")
        return value
    if isinstance(default, int | float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _error(path, f"must be a number, got {value!r}", f"e.g. --set {path}={default}")
        if isinstance(default, int) and not float(value).is_integer():
            raise _error(path, f"must be a whole number, got {value!r}", f"e.g. --set {path}={default}")
        return type(default)(value)
    if isinstance(default, list | tuple):
        items = value if isinstance(value, list) else [value]
        kind = type(default[0]) if default else str
        if kind is str:
            if not all(isinstance(v, str) for v in items):
                raise _error(path, f"must be a list of names, got {value!r}",
                             f"e.g. --set {path}=[{', '.join(map(str, default))}]")
            return [str(v) for v in items]
        if not items or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in items):
            raise _error(path, f"must be a non-empty list of numbers, got {value!r}",
                         f"e.g. --set {path}=[{', '.join(map(str, default))}]")
        return [float(v) for v in items]
    if not isinstance(value, str):
        raise _error(path, f"must be text, got {value!r}", f"e.g. --set {path}={default}")
    return value


def split_overrides(workflow: str, items: list[tuple[str, Any]], options: Mapping[str, Any]
                    ) -> tuple[list[tuple[str, Any]], dict[str, Any]]:
    """Separate ``workflow.<option>`` assignments (checked against ``options``, the defaults) from the
    spec's. Returns (spec assignments in order, the options with the assigned ones replaced)."""
    spec_items: list[tuple[str, Any]] = []
    chosen = dict(options)
    for path, value in items:
        head, _, name = path.partition(".")
        if head != "workflow":
            spec_items.append((path, value))
            continue
        if name not in options:
            fix = suggestion(name, options) if options else "this workflow has no options; set spec values instead"
            raise _error(path, f"workflow {workflow!r} has no option {name!r} (its options: "
                               f"{listing(options) if options else 'none'})", fix)
        chosen[name] = coerce_option(workflow, name, value, options[name])
    return spec_items, chosen
