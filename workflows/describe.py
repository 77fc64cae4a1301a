"""What the command line prints about a sweep: the plan of a spec, a stored result, a run's start and its end.

    describe_spec(spec, out, speed)      validate's table: grid, chunks, work, output size, numerics, run time
    describe_result(ds, path)            inspect's table: dims, variables, completion, provenance
    start_line(spec, start, ...)         what a run is about to compute, and how long it should take
    summary_line(out, report, extend)    what the store holds and what this run did

Plain text, rows of ``key  value`` with aligned columns; the numbers come from the sweeps (``estimate``,
``plan_chunks``, the kernel speed of ``synsweep.sweeps.cost``), never computed here. numpy and the sweeps are
imported inside the functions, so that ``synsweep --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .exits import paragraph

TASKS_PER_WORKER_TEXT = "4 tasks per worker (fewer for a short sweep: 5e8 neuron-steps or more each)"


def _num(x: float) -> str:
    return f"{x:.6g}"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _duration(seconds: float) -> str:
    """An expected duration in words: 'under a second', 'about 40 s', 'about 12 min', 'about 3.5 h',
    'about 4.2 days', 'about 1,300 years'."""
    if seconds < 1:
        return "under a second"
    if seconds < 120:
        return f"about {seconds:.0f} s"
    if seconds < 7200:
        return f"about {seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"about {seconds / 3600:.1f} h"
    if seconds < 365.25 * 86400:
        return f"about {seconds / 86400:.1f} days"
    return f"about {seconds / (365.25 * 86400):,.0f} years"


def _rows(rows: Sequence[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    out = []
    for key, value in rows:
        lines = str(value).splitlines() or [""]
        out.append(f"{key:<{width}}  {lines[0]}")
        out.extend(f"{'':<{width}}  {line}" for line in lines[1:])
    return "\n".join(out)


def table(rows: Sequence[tuple[str, ...]]) -> str:
    """Rows of cells as aligned columns (two spaces apart)."""
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _describe_axis(axis: Any) -> str:
    import numpy as np

    v = np.asarray(axis.values, dtype=np.float64)
    units = f" {axis.units}" if axis.units not in ("", "1", None) else ""
    rng = _num(v[0]) if v.size == 1 else f"{_num(v.min())} .. {_num(v.max())}"
    targets = ", ".join(p if f == 1.0 else f"{p} (x{_num(f)})" for p, f in axis.targets.items())
    return f"{axis.kind} {rng}{units} -> {targets}"


def describe_spec(spec: Any, out: Path | None = None, speed: Any = None, kernel_state: str | None = None) -> str:
    """What a run of ``spec`` would do: grid, chunks, work, output size, numerics, and the expected time
    when ``speed`` (``synsweep.sweeps.cost.KernelSpeed``, measured here) is given."""
    from synsweep.engine.metrics import time_units
    from synsweep.sweeps.chunks import plan_chunks
    from synsweep.sweeps.errors import format_bytes
    from synsweep.sweeps.spec.sizing import estimate

    target = f"target {spec.chunk_points:,} points each"
    if not spec.chunk_points_given:
        from synsweep.sweeps.chunks import auto_chunk_points

        cores = os.cpu_count() or 1
        spec = dataclasses.replace(spec, chunk_points=auto_chunk_points(
            spec.n_points, cores, spec.device, len(spec.circuit.neurons) * spec.simulation.n_steps,
            shape=spec.shape if spec.continuation is None else None))
        target = (f"at most {spec.chunk_points:,} points each: {TASKS_PER_WORKER_TEXT}, in blocks that share out "
                  f"evenly over the {cores} workers of a local run; execution.chunk_points sets it"
                  ) if spec.device == "cpu" else (
                  f"{spec.chunk_points:,} points each: a GPU's chunk; execution.chunk_points sets it")
    est = estimate(spec)
    plan = plan_chunks(spec)
    sim = spec.simulation
    circuit = spec.circuit
    unit = time_units([n.definition for n in circuit.neurons])
    neurons = ", ".join(f"{n.name} ({n.model})" for n in circuit.neurons)
    synapses = ", ".join(f"{s.name} ({s.model} {s.pre}->{s.post})" for s in circuit.synapses) or "none"
    dim_lines = []
    name_w = max((len(d.name) for d in spec.dims), default=0)
    size_w = max((len(str(d.size)) for d in spec.dims), default=0)
    for d in spec.dims:
        for i, axis in enumerate(d.axes):
            label = f"{d.name:<{name_w}}  {d.size:>{size_w}}" if i == 0 else " " * (name_w + size_w + 2)
            prefix = f"{axis.name}: " if d.zipped else ""
            what = _describe_axis(axis) if axis.targets else "+1 up, -1 down (continuation direction)"
            dim_lines.append(f"{label}  {prefix}{what}")
    shape = " x ".join(str(s) for s in est["shape"]) or "1"
    chunk_shape = " x ".join(str(s) for s in plan.chunk_shape) or "1"
    rows: list[tuple[str, str]] = [
        ("spec", f"{spec.name}  (hash {spec.spec_hash[:12]})"),
    ]
    if spec.description:
        rows.append(("description", textwrap.fill(paragraph(spec.description), 90)))
    rows += [
        ("neurons", neurons),
        ("synapses", synapses),
        ("dims", "\n".join(dim_lines) or "none (a single point)"),
        ("points", f"{est['points']:,}  ({shape})"),
        ("chunks", f"{plan.n_chunks:,} of shape {chunk_shape}  ({target})"),
        ("simulation", _simulation_line(sim, unit)),
        ("numerics", f"integrator {sim.integrator}, precision {sim.precision}, scheme {sim.scheme}"),
        ("device", "cuda: one point per GPU thread, on workers with the dask resource GPU" if spec.device == "cuda"
         else "cpu"),
        ("neuron-steps", f"{est['neuron_steps']:,}"),
        ("output", f"about {format_bytes(est['output_bytes'])}"),
        ("run time", _expected_time(spec.neuron_steps, plan.n_chunks, speed)),
        ("metrics", ", ".join(spec.metrics) or "none (each point's status and diverged step only)"),
    ]
    if spec.record is not None:
        rec = spec.record
        where = "all points" if rec.points is None else _count(len(rec.points), "point")
        rows.append(("traces", f"{', '.join(rec.variables)} every {rec.every} steps at {where}"))
    if spec.refine is not None:
        ref = spec.refine
        coarse = int(math.prod([(d.size - 1) // (1 << ref.levels) + 1 if d.name in ref.dims else d.size
                                for d in spec.dims]))
        budget = f", at most {ref.budget:,} points" if ref.budget is not None else ""
        rows.append(("refine", f"{ref.levels} levels over {', '.join(ref.dims)}: level 0 computes {coarse:,} "
                               f"points, then only where a boundary lies{budget} (points and run time above "
                               f"are the full grid's upper bound)"))
    if spec.continuation is not None:
        c = spec.continuation
        ways = " and ".join("up" if d > 0 else "down" for d in c.directions)
        settling = f"{_num(sim.transient)} {'ms' if unit == 'ms' else 'time units'}"
        rows.append(("continuation", f"along {c.dim} ({ways}): each point starts from the previous one's final "
                                     f"state, after {settling} of settling (the transient)"))
    rows.append(("kernel", kernel_state or kernel_status(spec)))
    if out is not None:
        state = "exists: a run needs --resume or --overwrite" if out.exists() else "new"
        rows.append(("store", f"{out}  ({state})"))
    return _rows(rows)


def _simulation_line(sim: Any, unit: str) -> str:
    """Duration, step and transient in the circuit's time units (ms, or a dimensionless model's own)."""
    if unit == "ms":
        return (f"{_num(sim.duration)} ms at dt {_num(sim.dt)} ms = {sim.n_steps:,} steps, "
                f"transient {_num(sim.transient)} ms")
    return (f"{_num(sim.duration)} at dt {_num(sim.dt)} ({unit}) = {sim.n_steps:,} steps, "
            f"transient {_num(sim.transient)}")


def _expected_time(neuron_steps: int, n_chunks: int, speed: Any, workers: int | None = None) -> str:
    """The expected compute time from a kernel measurement here (see synsweep.sweeps.cost)."""
    if speed is None:
        return ("not measured: the kernel is not compiled here yet ('synsweep validate --compile' compiles it "
                "and measures it)")
    from synsweep.sweeps.cost import expected_seconds

    rate = f"{speed.neuron_steps_per_second / 1e6:.3g} M neuron-steps/s per worker"
    measured = (f"{speed.source}: {rate}" if speed.source else
                f"kernel measured here: {rate} on {_count(speed.points, 'point')} x {_count(speed.steps, 'step')}")
    measured += "; cluster start not included"
    if workers is not None:
        return (f"{_duration(expected_seconds(neuron_steps, n_chunks, speed, workers))} on "
                f"{_count(workers, 'worker')} ({measured})")
    cores = os.cpu_count() or 1
    return (f"{_duration(expected_seconds(neuron_steps, n_chunks, speed, cores))} on {_count(cores, 'worker')} "
            f"(one per core here), {_duration(expected_seconds(neuron_steps, n_chunks, speed, 1))} on one\n"
            f"({measured})")


def kernel_status(spec: Any) -> str:
    """Whether the sweep's kernels are compiled on this machine (``validate --compile`` compiles them)."""
    from synsweep.engine.kernels import cache_dir, is_cached
    from synsweep.sweeps.plan import task_plan

    if all(is_cached(key) for key in task_plan(spec).kernels):
        return f"compiled, in {cache_dir()} (a worker loads it in under a second)"
    return ("not compiled on this machine yet: the first task compiles it once for all workers (a few seconds "
            "for a pair; 'synsweep validate --compile' compiles it now and reports the time)")


def describe_result(ds: Any, path: Path) -> str:
    """Dims, variables with units, completion and provenance of a stored result."""
    import numpy as np

    from synsweep.workflows.selection import sweep_dims

    rows: list[tuple[str, str]] = [("result", str(path))]
    if ds.attrs.get("title") or ds.attrs.get("name"):
        rows.append(("name", str(ds.attrs.get("title") or ds.attrs["name"])))
    dim_rows = []
    for d in ds.sizes:
        desc = ""
        if d in ds.coords:
            c = ds[d]
            if np.issubdtype(c.dtype, np.number) and c.size:
                units = c.attrs.get("units", "")
                desc = f"{_num(float(c.min()))} .. {_num(float(c.max()))}"
                desc += f" {units}" if units not in ("", "1") else ""
            else:
                desc = ", ".join(str(v) for v in c.values[:6]) + (" ..." if c.size > 6 else "")
            if c.attrs.get("long_name"):
                desc += f"  ({c.attrs['long_name']})"
        dim_rows.append((d, str(ds.sizes[d]), desc))
    rows.append(("dims", table(dim_rows)))
    var_rows = []
    for name, var in ds.data_vars.items():
        units = var.attrs.get("units", "")
        var_rows.append((f"{name}({', '.join(var.dims)})", f"[{units or '-'}]", var.attrs.get("long_name", "")))
    rows.append(("variables", table(var_rows)))
    if "status" in ds:
        total = int(ds["status"].size)
        from synsweep.sweeps.store import status_counts

        ok, div, nc, run = status_counts(path)

        def pct(k: int) -> str:
            return f"{k:,} ({100.0 * k / total:.1f}%)" if total else str(k)

        runaway = f", runaway {pct(run)}" if run else ""
        rows.append(("points", f"{total:,}: ok {pct(ok)}, diverged {pct(div)}{runaway}, not computed {pct(nc)}"))
        if run:
            rows.append(("", "runaway: a neuron fires faster than simulation.max_rate or more than once every "
                             "3 steps; its synchrony metrics are NaN"))
        refined = "refine" in json.loads(ds.attrs.get("spec", "{}") or "{}")
        if nc and refined:
            rows.append(("", "refined: points not computed are those the refinement left out (spec section "
                             "refine); an interrupted refinement carries on with --resume"))
        elif nc:
            rows.append(("", "incomplete: run again with --resume to compute the rest"))
        rows += _run_state(path)
        if "pearson" in ds and ok and len(sweep_dims(ds)) >= 1:
            r = ds["pearson"].where(np.isfinite(ds["pearson"]))
            lo, hi = float(r.min()), float(r.max())  # chunk by chunk: never the whole array in memory
            if np.isfinite(lo):
                rows.append(("pearson", f"{_num(lo)} .. {_num(hi)} over ok points"))
    attrs = ds.attrs
    prov = []
    for key in ("spec_hash", "created", "git_commit"):
        if key in attrs:
            prov.append((key, str(attrs[key])))
    machine = [str(attrs[k]) for k in ("python", "platform", "cpu_model") if attrs.get(k)]
    if machine:
        prov.append(("machine", f"Python {', '.join(machine)}"))
    numerics = [f"{k} {attrs[f'synsweep_{k}']}" for k in ("integrator", "precision", "scheme")
                if f"synsweep_{k}" in attrs]
    if numerics:
        prov.append(("numerics", ", ".join(numerics)))
    versions = [f"{k.removeprefix('version_')} {v}" for k, v in attrs.items() if k.startswith("version_")]
    if versions:  # synsweep.sweeps.provenance: one attribute version_<package> each
        prov.append(("versions", ", ".join(versions)))
    if "spec" in attrs:
        prov.append(("spec", "stored (ds.attrs['spec'])"))
    rows += prov or [("provenance", "none recorded")]
    return _rows(rows)


def _run_state(path: Path) -> list[tuple[str, str]]:
    """Rows for a run writing to the store now, and for chunks whose last attempt failed."""
    from synsweep.sweeps.lock import describe_holder, holder, is_locked
    from synsweep.sweeps.store import failed_chunks

    rows = []
    if is_locked(path):
        rows.append(("running", f"a run is writing to this store now: {describe_holder(holder(path))}"))
    failed = failed_chunks(path)
    if failed:
        lines = [f"chunk {c}, {info.get('points')}: {info.get('error')}" for c, info in list(failed.items())[:5]]
        if len(failed) > 5:
            lines.append(f"... and {len(failed) - 5} more (see {path}/.synsweep/failed)")
        rows.append(("failed", "\n".join(lines)))
    return rows


def start_line(spec: Any, start: Any, workers: int, extend: Path | None) -> str | None:
    """What the run is about to do and how long it should take (from the kernel speed the last run of this
    kernel here recorded, else measured here now); ``start``: the runner's RunStart. None when there is
    nothing to say (only the traced points are left to compute)."""
    if not start.chunks_to_run:
        if start.traced_batch:
            return None
        return f"nothing to compute: {'the' if start.n_chunks == 1 else 'all'} {_count(start.n_chunks, 'chunk')} of " \
               f"{start.out} {'is' if start.n_chunks == 1 else 'are'} done"
    from synsweep.engine.kernels import is_cached
    from synsweep.sweeps.cost import measure_kernel, recorded_speed
    from synsweep.sweeps.errors import format_bytes
    from synsweep.sweeps.plan import task_plan
    from synsweep.sweeps.spec.sizing import estimate

    neuron_steps = start.points_to_run * len(spec.circuit.neurons) * spec.simulation.n_steps
    est = estimate(spec)
    output = est["output_bytes"] * (start.points_to_run + start.points_to_copy) / max(est["points"], 1)
    done = f" ({start.chunks_done:,} already done)" if start.chunks_done else ""
    copied = f", {_count(start.points_to_copy, 'point')} copied from {extend}" if start.points_to_copy else ""
    if start.points_to_copy:  # an extension: every chunk is written, only the new points are computed
        work = (f"{_count(start.points_to_run, 'new point')} to compute ({neuron_steps:,} neuron-steps){copied}, "
                f"in {start.chunks_to_run:,} of {_count(start.n_chunks, 'chunk')} to write{done}")
    else:
        work = (f"{start.chunks_to_run:,} of {_count(start.n_chunks, 'chunk')} to compute{done}: "
                f"{_count(start.points_to_run, 'point')}, {neuron_steps:,} neuron-steps")
    if spec.device == "cuda":  # the speed measured here is the CPU kernel's: no estimate for the GPU workers
        return f"{work}, output about {format_bytes(output)}; on the GPU workers (no time estimate)"
    cached = all(is_cached(key) for key in task_plan(spec).kernels)
    speed = recorded_speed(spec) or measure_kernel(spec)
    if cached:
        compile_note = ""
    elif speed.source is None:  # measured just now: the kernel was compiled for that, once for all workers
        compile_note = f"; the kernel was compiled for this run first ({speed.load_seconds:.0f} s, in the cache now)"
    else:
        compile_note = "; plus compiling the kernel once (it is not in the cache: seconds to a minute)"
    return (f"{work}, output about {format_bytes(output)}; expected time "
            f"{_expected_time(neuron_steps, start.chunks_to_run, speed, workers)}{compile_note}")


def summary_line(out: Path, report: Any, extend: Path | None) -> str:
    """What the store holds, and what this run did (``report``: the runner's RunReport)."""
    from synsweep.sweeps.store import status_counts

    ok, div, missing, run = status_counts(out)
    line = f"wrote {out}: {_count(ok + div + missing + run, 'point')}, {ok:,} ok, {div:,} diverged"
    line += f", {run:,} runaway" if run else ""
    computed = [c for c in report.computed if c != "traces"]
    skipped = [c for c in report.skipped if c != "traces"]
    line += f"; this run computed {_count(len(computed), 'chunk')} ({_count(report.n_points, 'point')})"
    if report.n_copied:
        line += f" and copied {_count(report.n_copied, 'point')} from {extend}"
    if skipped:
        line += f", {_count(len(skipped), 'chunk')} {'was' if len(skipped) == 1 else 'were'} already done"
    return line
