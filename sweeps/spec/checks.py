"""The generic checkers of the spec's validators: each takes a value, the dotted field it came from and a fix,
and returns the value normalised or raises ``SpecError(field, problem, fix)`` (``synsweep.sweeps.errors``), one
paragraph naming the field, the offending value and what to write instead.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from typing import Any, NoReturn

from ..errors import SpecError, show, suggestion

_OBJECT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def fail(field: str, problem: str, fix: str) -> NoReturn:
    """Raise the ``SpecError`` of ``field``: what is wrong with it and how to fix it."""
    raise SpecError(field, problem, fix)


def type_name(value: Any) -> str:
    """An offending value with its kind, for a message: ``the text '1e-3'``, ``a list [1, 2]``."""
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


def as_mapping(value: Any, field: str, fix: str, *, optional: bool = False) -> dict[str, Any]:
    """``value`` as a dict with text keys (None -> {} when ``optional``)."""
    if value is None and optional:
        return {}
    if not isinstance(value, Mapping):
        fail(field, f"must be a mapping of key: value entries, got {type_name(value)}", fix)
    for key in value:
        if not isinstance(key, str):
            fail(f"{field}.{key}", f"names must be text, got {type_name(key)} as a key",
                  "quote the name in the YAML, e.g. '\"1\": ...' (YAML reads bare digits as numbers "
                  "and yes/no/on/off/true/false as booleans)")
    return dict(value)


def as_list(value: Any, field: str, fix: str, *, optional: bool = False) -> list[Any]:
    """``value`` as a list (None -> [] when ``optional``)."""
    if value is None and optional:
        return []
    if not isinstance(value, list | tuple):
        fail(field, f"must be a list, got {type_name(value)}", fix)
    return list(value)


def check_keys(mapping: Mapping[str, Any], field: str, allowed: tuple[str, ...],
                required: tuple[str, ...] = (), fixes: Mapping[str, str] | None = None) -> None:
    """Unknown keys (with the closest valid one) and missing required keys."""
    prefix = f"{field}." if field else ""
    where = f"in '{field}'" if field else "at the top level of the spec"
    for key in mapping:
        if key not in allowed:
            fail(prefix + key, f"unknown key {show(key)} {where}",
                  f"{suggestion(key, allowed)}; remove the key or correct its spelling")
    for key in required:
        if mapping.get(key) is None:
            fix = (fixes or {}).get(key, f"add '{key}' to '{field or 'the spec'}'")
            fail(prefix + key, "is required but missing", fix)


def as_number(value: Any, field: str, fix: str, what: str = "a number") -> float:
    """A finite real number as a float: rejects booleans, text, null, NaN and infinities."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            looks_numeric = False
        else:
            looks_numeric = True
        if not looks_numeric:
            fail(field, f"must be {what}, got {type_name(value)}", fix)
        fail(field, f"must be {what}, got {type_name(value)}: a number in quotes, or an exponent "
                     "without a decimal point (YAML reads 1e-3 as text)",
              f"write it as a plain number without quotes, with a decimal point before any exponent "
              f"(1.0e-3, not 1e-3). {fix[:1].upper()}{fix[1:]}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(field, f"must be {what}, got {type_name(value)}", fix)
    number = float(value)
    if not math.isfinite(number):
        fail(field, f"must be a finite number, got {number}", fix)
    return number


def as_integer(value: Any, field: str, fix: str, what: str, minimum: int | None = None,
             maximum: int | None = None) -> int:
    """An integer (an integral float is accepted), within [minimum, maximum]."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool | numbers.Integral):
        number = float(value)
        if not (math.isfinite(number) and number.is_integer()):
            fail(field, f"must be {what}, got {show(value)}", fix)
        value = int(number)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(field, f"must be {what}, got {type_name(value)}", fix)
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        fail(field, f"must be {what}, got {value}", fix)
    return value


def as_choice(value: Any, field: str, choices: tuple[str, ...] | list[str], what: str) -> str:
    """``value`` if it is one of ``choices``, else the closest one is suggested."""
    if not isinstance(value, str) or value not in choices:
        fail(field, f"unknown {what} {show(value)}", suggestion(value, choices))
    return value


def check_object_name(name: str, field: str, what: str) -> None:
    """A neuron's or synapse's name: letters, digits, '_' and '-' (paths are dotted)."""
    if not _OBJECT_NAME.match(name):
        fail(field, f"{what} {show(name)} is not a valid name: names are letters, digits, '_' and '-', "
                     "starting with a letter or '_' (no dots or spaces: paths are dotted)",
              f"rename it, e.g. {re.sub(r'[^A-Za-z0-9_-]', '_', name) or 'n1'}")
