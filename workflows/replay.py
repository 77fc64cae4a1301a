"""Replaying one stored point: simulate it again from the store's own spec, with full traces, and check
that it gives the stored values bit for bit.

    spec = stored_spec(ds)                                      # the spec the store was written from
    replay = replay_point(ds, {"g": "0.004", "I_ext": "0.1"})   # nearest grid point, traced every step
    replay.ok, replay.mismatches                                # every stored value equal?
    trace_figure(replay, "point.png"); write_traces(replay, "point.nc")

The spec is the normalised document in the store's ``spec`` attribute (JSON); the values of random axes come
back from their seeds (``synsweep.sweeps.draws``), and the rebuilt spec must have the store's ``spec_hash``
and give exactly the store's coordinates, or the replay is refused. The point is simulated alone (the
engine's lanes are independent, so a point's values do not depend on the block it was computed in), with
every state variable recorded; the metrics, ``status`` and ``diverged_step`` are compared with the stored
ones bit for bit, and so are stored traces of the point when the store has them. NaN equals NaN whatever
its bit pattern: the store does not keep NaN payloads (a chunk that is all NaN is stored as the fill value).

A store computed on a GPU (``execution.device: cuda``) is replayed on the GPU where CUDA kernels can run here,
bit for bit as above; elsewhere on the CPU, where the values agree with the GPU's only to the tolerance of
docs/models.md ("On a GPU"): then counts and statuses are compared exactly, every other value to ``GPU_RTOL``
relative (of its precision), and a note says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from synsweep.engine import METRICS, SimResult, simulate
from synsweep.engine.metrics import STATUS_MEANINGS, metric_applies, metric_units, time_units, voltage_units
from synsweep.sweeps.model import SweepSpec

from .selection import AnalysisError, axis_names, point_label, select_indices, sweep_dims

COMPARED = ("status", "diverged_step")  # besides the metrics
GPU_RTOL = {"float64": 1e-9, "float32": 1e-5}  # a GPU's store replayed on the CPU (docs/models.md, "On a GPU")
GPU_CV_ATOL = 1e-6  # isi_cv cancels for a regular spike train: compared in absolute terms (docs/models.md)
STATUS_NAMES = {code: meaning.replace("_", " ") for code, meaning in enumerate(STATUS_MEANINGS)}


def stored_spec(ds: xr.Dataset) -> SweepSpec:
    """The spec a result was written from, rebuilt from its ``spec`` attribute and checked against the
    store (same ``spec_hash``, bit-identical sweep coordinates). Raises AnalysisError otherwise."""
    from synsweep.sweeps.errors import SpecError
    from synsweep.sweeps.spec import load_spec

    text = ds.attrs.get("spec")
    if not isinstance(text, str) or ds.attrs.get("spec_format", "json") != "json":
        raise AnalysisError("the result has no stored spec (attribute 'spec', JSON text), so its points cannot "
                            "be replayed; was it written by 'synsweep run'?")
    try:
        spec = load_spec(json.loads(text))
    except (ValueError, SpecError) as exc:
        raise AnalysisError(f"the spec stored in the result no longer loads with this version of synsweep "
                            f"({' '.join(str(exc).split())}); replay it with the version that wrote it "
                            f"(version_synsweep {ds.attrs.get('version_synsweep')}, git_commit "
                            f"{ds.attrs.get('git_commit')})") from None
    stored_hash = ds.attrs.get("spec_hash")
    if stored_hash is not None and spec.spec_hash != stored_hash:
        raise AnalysisError(f"the stored spec rebuilds with spec_hash {spec.spec_hash[:12]}..., but the result "
                            f"was written with {str(stored_hash)[:12]}...: this version of synsweep reads the "
                            "spec differently, so a replay would not be of the same sweep")
    for dim in spec.dims:
        for axis in dim.axes:
            if axis.name not in ds.coords or not np.array_equal(np.asarray(ds[axis.name].values), axis.values):
                raise AnalysisError(f"the stored coordinates of {axis.name!r} differ from the ones its spec gives "
                                    "now; the result cannot be replayed with this version of synsweep")
    return spec


@dataclass(frozen=True)
class Check:
    """One compared value: variable, entity label ('' for per-point variables), stored and replayed."""

    var: str
    entity: str
    stored: Any
    replayed: Any
    rtol: float = 0.0  # 0: bit for bit; else floats within rtol relative (a GPU's store replayed on the CPU)
    atol: float = 0.0  # with rtol: an absolute tolerance as well

    @property
    def equal(self) -> bool:
        return bool(close(np.asarray(self.stored), np.asarray(self.replayed), self.rtol, self.atol).all())


def same_bits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise: identical bit patterns (same dtype required), or both NaN."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return np.zeros(np.broadcast_shapes(a.shape, b.shape), dtype=bool)
    if a.dtype.kind != "f":
        return a == b
    bits = np.dtype(f"u{a.dtype.itemsize}")
    return (a.view(bits) == b.view(bits)) | (np.isnan(a) & np.isnan(b))


def close(a: np.ndarray, b: np.ndarray, rtol: float, atol: float = 0.0) -> np.ndarray:
    """``same_bits``, or for floats with ``rtol`` > 0: within ``rtol`` of the larger magnitude plus ``atol``
    (NaN equals NaN)."""
    same = same_bits(a, b)
    if rtol <= 0.0 or a.dtype.kind != "f" or a.dtype != b.dtype or a.shape != b.shape:
        return same
    with np.errstate(invalid="ignore"):
        return same | (np.abs(a - b) <= rtol * np.maximum(np.abs(a), np.abs(b)) + atol)


@dataclass
class Replay:
    """A replayed point: where it is, the engine's result (traces every ``every`` steps), the checks."""

    spec: SweepSpec
    index: dict[str, int]
    label: str
    result: SimResult
    every: int
    checks: list[Check] = field(default_factory=list)
    trace_checks: list[tuple[str, int, bool]] = field(default_factory=list)  # (variable, samples, equal)
    notes: list[str] = field(default_factory=list)
    rtol: float = 0.0  # 0: bit for bit (see ``Check.rtol``)

    @property
    def mismatches(self) -> list[Check]:
        return [c for c in self.checks if not c.equal]

    @property
    def ok(self) -> bool:
        return not self.mismatches and all(eq for _, _, eq in self.trace_checks)


def point_index(ds: xr.Dataset, point: Mapping[str, str | float]) -> dict[str, int]:
    """``dim -> index`` of the point ``point`` (a value for every sweep dim of size > 1; nearest grid value)."""
    sweep = sweep_dims(ds)
    names = axis_names(ds)
    for name in point:
        if name not in names or names[name] not in sweep:
            raise AnalysisError(f"--point {name!r} is not a sweep axis (a point is one set of sweep values); the "
                                f"sweep axes are: {', '.join(n for n, d in names.items() if d in sweep)}")
    index = select_indices(ds, point, "--point")
    missing = [d for d in sweep if d not in index and ds.sizes[d] > 1]
    if missing:
        options = ", ".join(f"{n}" for n, d in names.items() if d in missing)
        raise AnalysisError(f"--point gives no value for {', '.join(repr(d) for d in missing)}; a point needs a "
                            f"value of every sweep axis ({options}), e.g. --point "
                            + ",".join(f"{d}={_first(ds, d)}" for d in sweep))
    return {d: index.get(d, 0) for d in sweep}


def _first(ds: xr.Dataset, dim: str) -> str:
    return f"{ds[dim].values[0]:.6g}" if dim in ds.coords else "0"


def _state_variables(spec: SweepSpec) -> tuple[str, ...]:
    names: list[str] = []
    for neuron in spec.circuit.neurons:
        names += [v for v in neuron.definition.state_names if v not in names]
    return tuple(names)


def _synapse_variables(spec: SweepSpec) -> tuple[str, ...]:
    """Every synapse state variable (names of the synapses' state, in circuit order, each once)."""
    names: list[str] = []
    for syn in spec.circuit.synapses:
        names += [v for v in syn.definition.state_names if v not in names]
    return tuple(names)


def replay_point(ds: xr.Dataset, point: Mapping[str, str | float], every: int = 1) -> Replay:
    """Simulate the stored point ``point`` again and compare it with the store (see the module docstring).

    ``every``: keep every ``every``-th step of the traces (1: all). Raises AnalysisError when the point is
    not computed in the store, or the store cannot be replayed.
    """
    if every < 1:
        raise AnalysisError(f"--every {every}: give a whole number of steps >= 1")
    spec = stored_spec(ds)
    index = point_index(ds, point)
    label = point_label(ds, index)
    status = int(ds["status"].isel(index).values) if "status" in ds else 1
    if status == 0:
        raise AnalysisError(f"the point {label} is not computed in this result (status 0), so there is "
                            "nothing to compare with; run the sweep again with --resume to compute it")
    block = tuple(slice(index[d.name], index[d.name] + 1) for d in spec.dims)
    device, rtol, note = _replay_device(spec)
    result = simulate(spec.circuit, spec.simulation, spec.point_values(block), n_points=1, metrics=spec.metrics,
                      record=(*_state_variables(spec), *(f"{syn.name}.{v}" for syn in spec.circuit.synapses
                                                         for v in syn.definition.state_names)),
                      record_every=every, device=device)
    replay = Replay(spec, index, label, result, every, rtol=rtol)
    if note:
        replay.notes.append(note)
    stored = ds[[v for v in (*spec.metrics, *COMPARED) if v in ds]].isel(index).compute()
    for var in stored.data_vars:
        got = np.asarray(result.metrics[var][0])
        want = np.asarray(stored[var].values)
        got = got.astype(want.dtype) if var not in METRICS else got.astype(METRICS[var].dtype)
        entity_dim = next((d for d in stored[var].dims), None)
        rtol = replay.rtol if var not in COMPARED and var != "spike_count" else 0.0
        atol = GPU_CV_ATOL if rtol and var == "isi_cv" else 0.0
        if entity_dim is None:
            replay.checks.append(Check(str(var), "", want[()], got[()], rtol, atol))
            continue
        labels = [str(v) for v in stored[entity_dim].values.tolist()]
        for k, lab in enumerate(labels):
            replay.checks.append(Check(str(var), lab, want[k], got[k], rtol, atol))
    _check_traces(ds, replay)
    return replay


def _replay_device(spec: SweepSpec) -> tuple[str, float, str | None]:
    """(device, tolerance, note) of a replay: the store's device where it can run here (bit for bit), else the
    CPU, to ``GPU_RTOL`` with a note saying why."""
    if spec.device == "cpu":
        return "cpu", 0.0, None
    from synsweep.engine.device import cuda_problem

    problem = cuda_problem()
    if problem is None:
        return spec.device, 0.0, None
    rtol = GPU_RTOL[spec.simulation.precision]
    return "cpu", rtol, (f"the store was computed on a GPU (execution.device cuda) and CUDA cannot run here "
                         f"({problem}): replayed on the CPU, whose values agree with a GPU's to {rtol:g} relative, "
                         "so counts and statuses are compared exactly and the other values to that tolerance "
                         f"(isi_cv to {GPU_CV_ATOL:g} absolute; docs/models.md, 'On a GPU')")


def _check_traces(ds: xr.Dataset, replay: Replay) -> None:
    """Compare the store's traces of the point, if it has any, with the replayed ones (bit for bit)."""
    sweep = sweep_dims(ds)
    names = replay.spec.circuit.neuron_names
    for name in ds.data_vars:
        if not str(name).startswith("trace_"):
            continue
        var = str(name).removeprefix("trace_")
        da = ds[name]
        if set(sweep) <= set(da.dims) and sweep:
            stored = da.isel(replay.index)
        elif "traced_point" in da.dims:
            match = np.ones(ds.sizes["traced_point"], dtype=bool)
            for d, k in replay.index.items():
                match &= np.asarray(ds[f"traced_{d}"].values) == np.asarray(ds[d].values)[k]
            if not match.any():
                continue
            stored = da.isel(traced_point=int(np.flatnonzero(match)[0]))
        else:
            continue
        stored_every = int(da.attrs.get("sample_every_steps", 1))
        if stored_every % replay.every:
            replay.notes.append(f"stored traces of {var!r} (every {stored_every} steps) not compared: the "
                                f"replay keeps every {replay.every} steps; use --every 1")
            continue
        want = np.asarray(stored.transpose("neuron", "time").values)
        step = stored_every // replay.every
        equal = True
        for k, neuron in enumerate(names):
            got = replay.result.traces.get((neuron, var))
            if got is None:
                equal &= bool(np.isnan(want[k]).all())
                continue
            got = got[0, ::step].astype(want.dtype)
            equal &= got.shape == want[k].shape and bool(close(want[k], got, replay.rtol).all())
        replay.trace_checks.append((var, want.shape[-1], equal))


def format_value(value: Any) -> str:
    """A stored or replayed value in full precision (the shortest text that reads back to the same float)."""
    v = np.asarray(value)
    return repr(float(v)) if v.dtype.kind == "f" else str(v.item())


def comparison_table(replay: Replay) -> list[tuple[str, str, str, str, str]]:
    """Rows (variable, entity, stored, replayed, 'equal' | 'DIFFERENT') with values in full precision."""
    rows = []
    for c in replay.checks:
        stored, replayed = format_value(c.stored), format_value(c.replayed)
        if c.var == "status":
            stored += f" ({STATUS_NAMES.get(int(c.stored), '?')})"
            replayed += f" ({STATUS_NAMES.get(int(c.replayed), '?')})"
        rows.append((c.var, c.entity or "-", stored, replayed, "equal" if c.equal else "DIFFERENT"))
    for var, samples, equal in replay.trace_checks:
        rows.append((f"trace_{var}", "all", f"{samples} samples", "stored traces",
                     "equal" if equal else "DIFFERENT"))
    return rows


def traces_dataset(replay: Replay, ds: xr.Dataset | None = None) -> xr.Dataset:
    """The replayed traces as a dataset: ``<var>(neuron, time)`` per neuron state variable (NaN for neurons
    without it), ``synapse_<var>(synapse, time)`` per synapse state variable, with units and long names, the
    point's coordinates as scalar coordinates, and the replayed metrics."""
    spec, result = replay.spec, replay.result
    names = list(spec.circuit.neuron_names)
    time = np.asarray(result.trace_times)
    data: dict[str, xr.Variable] = {}
    for var in _state_variables(spec):
        arr = np.full((len(names), time.size), np.nan, dtype=spec.simulation.dtype)
        attrs: dict[str, str] = {}
        for k, neuron in enumerate(spec.circuit.neurons):
            trace = result.traces.get((neuron.name, var))
            if trace is not None:
                arr[k] = trace[0]
                sv = neuron.definition.state_var(var)
                attrs = {"units": sv.units, "long_name": sv.long_name}
        data[var] = xr.Variable(("neuron", "time"), arr, attrs)
    circuit_time = time_units([n.definition for n in spec.circuit.neurons])
    syn_names = [syn.name for syn in spec.circuit.synapses]
    for var in _synapse_variables(spec):  # synapse_<var>(synapse, time), NaN for synapses without var
        arr = np.full((len(syn_names), time.size), np.nan, dtype=spec.simulation.dtype)
        units: set[str] = set()
        long_name = var
        for j, syn in enumerate(spec.circuit.synapses):
            trace = result.traces.get((syn.name, var))
            if trace is not None:
                arr[j] = trace[0]
                units.add(spec.circuit.units(f"synapses.{syn.name}.init.{var}"))
                long_name = next(sv.long_name for sv in syn.definition.state if sv.name == var)
        data[f"synapse_{var}"] = xr.Variable(("synapse", "time"), arr,
                                             {"units": ", ".join(sorted(units)), "long_name": long_name})
    coords: dict[str, Any] = {
        "neuron": ("neuron", np.array(names, dtype=object), {"long_name": "neuron name"}),
        "time": ("time", time, {"units": circuit_time, "long_name": "simulated time"}),
    }
    if ds is not None:
        for dim, k in replay.index.items():
            for name, d in axis_names(ds).items():
                if d == dim:
                    coords[name] = ((), ds[name].values[k], dict(ds[name].attrs))
    if syn_names:
        coords["synapse"] = ("synapse", np.array(syn_names, dtype=object), {"long_name": "synapse name"})
    pairs = spec.circuit.pair_list
    if pairs:
        coords["pair"] = ("pair", np.array([f"{a}-{b}" for a, b in pairs], dtype=object),
                          {"long_name": "neuron pair (pair_a-pair_b)"})
    for m in spec.metrics:
        info = METRICS[m]
        if not metric_applies(m, len(names), len(pairs)):
            continue
        value = result.metrics[m][0].astype(info.dtype)
        dims = () if info.dim == "circuit" else (info.dim,)
        units = metric_units(m, circuit_time, voltage_units([n.definition for n in spec.circuit.neurons]))
        data[m] = xr.Variable(dims, value, {"units": units, "long_name": info.long_name})
    out = xr.Dataset(data, coords=coords)
    out.attrs = {"title": f"replay of {spec.name} at {replay.label}", "spec_hash": spec.spec_hash,
                 "sample_every_steps": replay.every, "point": replay.label}
    return out


def write_traces(replay: Replay, path: str | PathLike[str], ds: xr.Dataset | None = None) -> Path:
    """Write the replayed traces to ``path``: netCDF for .nc, numpy .npz for .npz."""
    from .export import to_netcdf

    path = Path(path)
    out = traces_dataset(replay, ds)
    if path.parent != Path(""):
        path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".npz":
        arrays = {str(k): np.asarray(v.values) for k, v in out.variables.items()}
        np.savez(path, **{k: a.astype(str) if a.dtype == object else a for k, a in arrays.items()})
    elif path.suffix.lower() == ".nc":
        to_netcdf(out, path)
    else:
        raise AnalysisError(f"--traces {str(path)!r}: give a file name ending in .nc (netCDF) or .npz (numpy)")
    return path


def trace_figure(replay: Replay, path: str | PathLike[str], dpi: int = 120) -> Path:
    """Write the voltage of each neuron against time (analysed window unshaded, divergence marked)."""
    from .plots import new_figure, save_figure

    spec, result = replay.spec, replay.result
    sim = spec.simulation
    t_units = time_units([n.definition for n in spec.circuit.neurons])
    fig = new_figure((8.0, 4.5))
    ax = fig.add_subplot()
    units = ""
    step = int(result.metrics["diverged_step"][0])
    before: list[np.ndarray] = []  # samples before the divergence, to scale the axis on
    for neuron in spec.circuit.neurons:
        model = neuron.definition
        trace = result.traces.get((neuron.name, model.voltage))
        if trace is None:
            continue
        units = model.state_var(model.voltage).units
        ax.plot(result.trace_times, trace[0], linewidth=1.0, label=f"{neuron.name} ({model.name})")
        before.append(trace[0][result.trace_times < step * sim.dt] if step >= 0 else trace[0])
    if sim.transient > 0:
        ax.axvspan(0.0, sim.transient, color="#eeeeee", zorder=0, label="transient (not analysed)")
    if step >= 0:
        ax.axvline(step * sim.dt, color="#6e6e6e", linestyle="--",
                   label=f"diverged at {step * sim.dt:.6g} {t_units} (later values off the scale)")
        shown = np.concatenate(before) if before else np.zeros(0)
        shown = shown[np.isfinite(shown)]
        if shown.size:
            lo, hi = float(shown.min()), float(shown.max())
            pad = 0.1 * (hi - lo) or 1.0
            ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel(f"simulated time ({t_units})")
    ax.set_ylabel(f"membrane voltage ({units})" if units else "membrane voltage")
    ax.set_xlim(0.0, sim.duration)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="upper right")
    verdict = "replay equals the store" if replay.ok else "replay DIFFERS from the store"
    ax.set_title(f"{spec.name}: {replay.label}\n{verdict}", fontsize="medium")
    return save_figure(fig, path, dpi)
