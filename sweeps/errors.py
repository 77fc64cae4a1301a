"""Errors in a sweep spec, written for the person who wrote it.

``SpecError(field, problem, fix)`` names the field of the spec (``simulation.dt``, ``sweep[1].linspace.num``,
``circuit.neurons.n1.params.gna``), says what is wrong with it, offending value included, and how to fix it.
``str(error)`` is one self-contained paragraph, e.g.

    spec field 'simulation.dt': must be a positive number of ms, got -0.01. Fix: give the integration
    step in ms, for example dt: 0.01.

so a command-line tool can print it as it is.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class StoreError(Exception):
    """The output store cannot be used as asked (exists, belongs to another spec, is not a store). Defined here,
    not in ``synsweep.sweeps.store`` (which re-exports it), so that catching it does not import zarr."""


class SpecError(ValueError):
    """An invalid sweep spec: ``field`` (where), ``problem`` (what, with the value) and ``fix`` (how).

    ``where`` names what ``field`` is: "spec field" (default) or, for a YAML file that cannot be read or
    parsed, "spec file". The error pickles (dask ships errors between processes).
    """

    def __init__(self, field: str, problem: str, fix: str, *, where: str = "spec field") -> None:
        super().__init__(field, problem, fix)
        self.field = field
        self.problem = problem
        self.fix = fix
        self.where = where

    def __str__(self) -> str:
        problem = self.problem.strip().rstrip(".")
        fix = self.fix.strip()
        if not fix.endswith((".", "?", "!")):
            fix += "."
        return " ".join(f"{self.where} '{self.field}': {problem}. Fix: {fix}".split())

    def __reduce__(self) -> tuple:
        return (_rebuild, (type(self), self.field, self.problem, self.fix, self.where))


def _rebuild(cls: type[SpecError], field: str, problem: str, fix: str, where: str) -> SpecError:
    return cls(field, problem, fix, where=where)


def format_bytes(n: float) -> str:
    """A byte count for a message, in binary units: ``512 B``, ``1.5 KiB``, ``64.0 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def show(value: Any, limit: int = 80) -> str:
    """A short, unambiguous rendering of an offending value (strings quoted, long ones cut)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def closest(word: Any, choices: Iterable[str]) -> str | None:
    """The valid choice closest to ``word`` (difflib), or None when nothing is close."""
    choices = [str(c) for c in choices]
    if not isinstance(word, str) or not choices:
        return None
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not match:
        lowered = {c.lower(): c for c in choices}
        match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
        match = [lowered[match[0]]] if match else []
    return match[0] if match else None


def listing(choices: Iterable[str], limit: int = 30) -> str:
    """``choices`` as a readable comma-separated list (cut after ``limit`` entries)."""
    choices = [str(c) for c in choices]
    if not choices:
        return "(none)"
    head = ", ".join(choices[:limit])
    return head if len(choices) <= limit else f"{head}, ... ({len(choices)} in all)"


def suggestion(word: Any, choices: Iterable[str]) -> str:
    """'use 'x' (the closest valid name)' when one is close, else the list of valid names."""
    choices = list(choices)
    best = closest(word, choices)
    if best is not None:
        return f"did you mean '{best}'? Valid names: {listing(choices)}"
    return f"use one of: {listing(choices)}"
