"""Loading a spec: the YAML file read (a key given twice is an error), the sections validated in order and the
normalised document assembled (``load_spec``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from synsweep.engine import Circuit, Simulation
from synsweep.engine.device import DEVICES
from synsweep.engine.metrics import time_units
from synsweep.engine.simulate import MAX_DELAY_STEPS, delay_steps

from ..chunks import DEVICE_CHUNK_POINTS
from ..clusters import SPEC as SPEC_RESOURCES
from ..clusters import parse_resources
from ..errors import SpecError, show
from ..model import Dim, SweepSpec
from .checks import as_integer, as_mapping, check_keys, fail, type_name
from .circuit import circuit_section
from .grid import continuation_section, sweep_section
from .record import record_section
from .refinement import refine_section
from .simulation import metrics_section, simulation_section

TOP_KEYS = ("name", "description", "circuit", "simulation", "sweep", "metrics", "record", "execution", "refine")
EXECUTION_KEYS = ("chunk_points", "resources", "device")


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
    if not isinstance(source, (str, os.PathLike, Mapping)):
        raise TypeError(f"load_spec: a spec file's path or a spec mapping, got {type(source).__name__}")
    raw = source if isinstance(source, Mapping) else _read_yaml(source)
    if raw is None:
        fail("(top level)", "the spec is empty",
              "give at least name, circuit and simulation, e.g. name: scan, circuit: {neurons: {n1: "
              "{model: hh}}}, simulation: {dt: 0.01, duration: 100}")
    top = as_mapping(raw, "(top level)", "write the spec as a mapping with keys " + ", ".join(TOP_KEYS))
    check_keys(top, "", TOP_KEYS, ("name", "circuit", "simulation"),
                {"name": "give the sweep a name, e.g. name: hh-coupling-scan",
                 "circuit": "describe the circuit, e.g. circuit: {neurons: {n1: {model: hh}}}",
                 "simulation": "give the simulation settings, e.g. simulation: {dt: 0.01, duration: 100}"})
    name = top["name"]
    if not isinstance(name, str) or not name.strip():
        fail("name", f"must be a non-empty text, got {type_name(name)}",
              "give the sweep a name, e.g. name: hh-coupling-scan")
    description = top.get("description")
    if description is None:
        description = ""
    if not isinstance(description, str):
        fail("description", f"must be text, got {type_name(description)}", "write the description as text "
                                                                             "(quote it if needed)")
    circuit, circuit_doc = circuit_section(top["circuit"])
    simulation, simulation_doc = simulation_section(top["simulation"])
    metrics = metrics_section(top.get("metrics"), len(circuit.neurons))
    dims, sweep_doc = sweep_section(top.get("sweep"), circuit)
    _check_delays(circuit, simulation, dims)
    continuation, dims = continuation_section(sweep_doc, dims)
    raw_record = top.get("record")
    if continuation is not None and isinstance(raw_record, Mapping) and raw_record.get("points") not in (None, "all"):
        fail("record.points", "a continuation sweep keeps traces for every point or none: a listed point "
                               "depends on the points before it along the continued axis",
              "leave out record.points (traces are then kept for every point)")
    record, record_doc = record_section(raw_record, circuit, dims)
    refine, refine_doc = refine_section(top.get("refine"), dims, circuit, metrics)
    if refine is not None and continuation is not None:
        fail("refine", "refinement and continuation cannot be combined in one sweep",
              "remove 'continuation' from the axis or the 'refine' section")
    ex = as_mapping(top.get("execution"), "execution", "give execution: {chunk_points: 4096}, or leave it out",
                  optional=True)
    check_keys(ex, "execution", EXECUTION_KEYS)
    device = _device(ex.get("device", "cpu"))
    chunk_points = as_integer(ex.get("chunk_points", DEVICE_CHUNK_POINTS[device]), "execution.chunk_points",
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


def _check_delays(circuit: Circuit, simulation: Simulation, dims: tuple[Dim, ...]) -> None:
    """Every synaptic delay, given or swept (``dims`` as ``sweep_section`` returns them, one per item of the
    sweep list), fits the engine's delay buffers at this dt (``MAX_DELAY_STEPS``)."""
    unit = time_units([n.definition for n in circuit.neurons])
    for syn in circuit.synapses:
        if not syn.definition.spike_triggered:
            continue
        path = f"synapses.{syn.name}.params.delay"
        sources = [(f"circuit.synapses.{syn.name}.params.delay", syn.params.get("delay", 0.0))]
        for i, dim in enumerate(dims):
            for j, axis in enumerate(dim.axes):
                if path in axis.targets:
                    field = f"sweep[{i}].axes[{j}].{axis.kind}" if dim.zipped else f"sweep[{i}].{axis.kind}"
                    sources = [(field, axis.values * axis.targets[path])]
        for field, delay in sources:
            steps = delay_steps(delay, simulation.dt)
            if steps > MAX_DELAY_STEPS:
                fail(field, f"sets {path} to {float(np.max(delay)):g} {unit}, {steps:,} steps of dt = "
                            f"{simulation.dt:g}: more than the {MAX_DELAY_STEPS:,} steps the engine's delay buffers "
                            f"hold (a buffer's memory grows with its delay)",
                     f"give delays of at most {MAX_DELAY_STEPS * simulation.dt:g} {unit} at this dt")


def _device(value: Any) -> str:
    """``execution.device``: where the kernels run (``synsweep.engine.device``); whether CUDA kernels can run is
    checked by the run, not here (the workers of a cluster may have the GPU that the driver lacks)."""
    if not isinstance(value, str) or value not in DEVICES:
        fail("execution.device", f"unknown device {show(value)}",
             "give device: cpu (the default, every core of each worker) or device: cuda (an NVIDIA GPU per "
             "worker, with pip install 'synsweep[cuda]')")
    return value
