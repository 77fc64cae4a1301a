"""The ``synsweep`` command line.

    synsweep run SPEC.yaml --out RESULT.zarr [--scheduler ADDRESS] [--workers N] [--resume] [--overwrite]
                 [--extend OLD.zarr] [--chunk-points N] [--no-progress] [--plot PNG]
                 [--cluster slurm|pbs [--jobs N] [--cluster-config FILE] [--lifetime D] [--lifetime-stagger D]]
                 [--security FILE|auto] [--tls-ca-file PEM --tls-cert PEM --tls-key PEM]
    synsweep validate SPEC.yaml [--out PATH] [--compile]   what a run would do and cost, without running it
    synsweep inspect RESULT.zarr                  dims, variables, completion and provenance of a result
    synsweep demo [--out DIR] [--workers N]       the packaged coupling scan (seed 000, positive g)
    synsweep plot | replay | report | export RESULT.zarr ...   analysis of a stored result (analysis_cli.py)
    synsweep workflow NAME [--out DIR] [--set PATH=VALUE ...]  a seed study as sweeps + figures (workflow_cli.py)

Exit codes: 0 done; 2 the user's input is wrong (spec, store, file, options): one paragraph on stderr
starting ``synsweep: error:``, nothing computed, nothing overwritten; 3 the sweep ran but some chunks
failed (what was computed is kept; ``--resume`` computes the rest); 4 ``replay`` found values that differ
from the stored ones.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import click
import numpy as np
import yaml

from synsweep.workflows.analysis_cli import reports_user_errors
from synsweep.workflows.store_param import STORE

PROG = "synsweep"
EXIT_USER_ERROR = 2
EXIT_INCOMPLETE = 3
EXIT_INTERRUPTED = 130
PACKAGED_SPECS = "specs"
DEMO_SPEC = "coupling_scan.yaml"
DEMO_SPEC_SMALL = "coupling_scan_small.yaml"
TASKS_PER_WORKER_TEXT = "at least 4 tasks per worker"


class UserError(click.ClickException):
    """A mistake in the user's input: reported as one paragraph, exit code 2."""

    exit_code = EXIT_USER_ERROR


class Incomplete(click.ClickException):
    """The sweep ran, but some chunks failed: exit code 3."""

    exit_code = EXIT_INCOMPLETE


class Interrupted(click.ClickException):
    """Ctrl-C (SIGINT) stopped a run: exit code 130, as for a shell's interrupted command."""

    exit_code = EXIT_INTERRUPTED


def _paragraph(message: object) -> str:
    """One paragraph: the message's lines joined, runs of whitespace collapsed."""
    return " ".join(str(message).split())


def _user_errors() -> tuple[type[BaseException], ...]:
    from synsweep.sweeps.errors import SpecError

    errors: list[type[BaseException]] = [SpecError, yaml.YAMLError]
    try:
        from synsweep.sweeps import StoreError
    except ImportError:  # the store module is not there: nothing of it to catch
        pass
    else:
        errors.append(StoreError)
    return tuple(errors)


def _fail(message: object) -> NoReturn:
    raise UserError(_paragraph(message))


def _yaml_message(exc: yaml.YAMLError, source: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return (f"{source} is not valid YAML{where}: {problem}. Fix the syntax there (indentation, a missing "
            "colon or an unclosed bracket or quote are the usual causes) and run again.")


# -- loading -----------------------------------------------------------------------------------------------
def packaged_spec(name: str) -> Path:
    """Path of a spec shipped with the package (``synsweep/workflows/specs/<name>``)."""
    ref = resources.files("synsweep.workflows").joinpath(PACKAGED_SPECS, name)
    if not ref.is_file():
        _fail(f"the packaged spec {name!r} is missing from the installation; reinstall synsweep "
              "(pip install -e .) so that its package data (workflows/specs/*.yaml) is installed.")
    return Path(str(ref))


def load(spec_path: str | Path, chunk_points: int | None = None, device: str | None = None) -> Any:
    """Load and validate a spec file, reporting every user mistake as a ``UserError``; ``chunk_points`` and
    ``device`` replace the spec's ``execution`` values (--chunk-points, --device)."""
    from synsweep.sweeps.spec import load_spec

    path = Path(spec_path)
    if not path.exists():
        _fail(f"spec file {str(path)!r} does not exist; check the path (packaged specs are in "
              f"{packaged_spec(DEMO_SPEC).parent}).")
    if not path.is_file():
        _fail(f"spec path {str(path)!r} is not a file; give the path of a YAML sweep spec.")
    try:
        spec = load_spec(path)
    except yaml.YAMLError as exc:
        _fail(_yaml_message(exc, repr(str(path))))
    except _user_errors() as exc:
        _fail(exc)
    if chunk_points is not None:
        document = dict(spec.document)
        document["execution"] = {**dict(document.get("execution") or {}), "chunk_points": chunk_points}
        spec = dataclasses.replace(spec, chunk_points=chunk_points, document=document, chunk_points_given=True)
    if device is not None and device != spec.device:
        from synsweep.sweeps.chunks import DEVICE_CHUNK_POINTS

        document = dict(spec.document)
        document["execution"] = {**dict(document.get("execution") or {}), "device": device}
        spec = dataclasses.replace(spec, device=device, document=document, chunk_points=spec.chunk_points
                                   if spec.chunk_points_given else DEVICE_CHUNK_POINTS[device])
    return spec


DEVICE_OPTION = click.option(
    "--device", type=click.Choice(["cpu", "cuda"]),
    help="Where the kernels run (overrides the spec's execution.device): cpu, or cuda (an NVIDIA GPU per worker; "
    "pip install 'synsweep[cuda]').")


def _check_resources(spec: Any, out: Path) -> None:
    from synsweep.sweeps.spec import check_resources

    try:
        check_resources(spec, str(out))
    except _user_errors() as exc:
        _fail(exc)


def _check_out_path(out: Path) -> None:
    """Refuse an --out that cannot be written, before anything is computed: a path below a regular file, or
    on a read-only file system, or in a folder this user may not write to."""
    if "://" in str(out):
        return
    parent = out.absolute()
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent == out.absolute() and out.exists():
        return  # the store itself: the store rules (--resume, --overwrite) decide
    if not parent.is_dir():
        _fail(f"--out {str(out)!r}: {parent} is a regular file, not a folder, so nothing can be created below "
              "it; give an --out path in a folder (e.g. results/sweep.zarr).")
    if os.statvfs(parent).f_flag & os.ST_RDONLY:
        _fail(f"--out {str(out)!r}: {parent} is on a read-only file system; give an --out path on a writable "
              "disk (your home or scratch folder).")
    if not os.access(parent, os.W_OK | os.X_OK):
        _fail(f"--out {str(out)!r}: this user may not create files in {parent}; give an --out path in a "
              "folder you can write to.")


def _chunks_done(out: Path) -> tuple[int, int] | None:
    """(sweep chunks marked done, sweep chunks in all) of the store at ``out``; None when it is not a store."""
    from synsweep.sweeps.store import META_GROUP, ZARR_FORMAT, done_chunks, is_store

    if not is_store(out):
        return None
    try:
        import zarr

        total = int(zarr.open_group(out / META_GROUP, mode="r", zarr_format=ZARR_FORMAT).attrs["n_chunks"])
    except Exception:  # noqa: BLE001 - only for a message
        return None
    return len([c for c in done_chunks(out) if c != "traces"]), total


def _disk_error(exc: OSError, out: Path) -> NoReturn:
    """A write to the store failed in the operating system: one paragraph, exit 3 (a full disk: the finished
    chunks are kept, and --resume after freeing space finishes the run) or 2 (a path that cannot be written)."""
    import errno

    where = f"{exc.filename}: " if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        progress = _chunks_done(out)
        if progress is None:
            kept = " nothing was stored (the store was not created);"
        else:
            kept = f" {progress[0]:,} of {progress[1]:,} chunks are stored and kept;"
        raise Incomplete(_paragraph(
            f"the disk of {out} is full ({where}{exc.strerror}):{kept} free some space (or raise the quota) "
            "and run the same command with --resume to compute the rest.")) from None
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR):
        _fail(f"cannot write the result to {out} ({where}{exc.strerror}); give an --out path on a writable disk.")
    raise exc


def _check_plottable(spec: Any, plot: Path) -> None:
    """Refuse ``--plot`` before computing anything when the result could not be drawn."""
    if plot.suffix.lower() != ".png":
        _fail(f"--plot {str(plot)!r}: the figure is written as PNG; give a file name ending in .png.")
    if "pearson" not in spec.metrics:
        _fail("--plot draws the Pearson r of the neuron pair, but the spec's metrics do not include "
              "'pearson'; add it to metrics or leave out --plot.")
    if not spec.circuit.pair_list:
        _fail("--plot draws the Pearson r of a neuron pair, but the circuit has no pair; leave out --plot.")
    if len(spec.dims) not in (1, 2):
        _fail(f"--plot draws a heatmap over two sweep dims (or a line over one); the spec has "
              f"{len(spec.dims)} ({', '.join(d.name for d in spec.dims) or 'none'}); leave out --plot and "
              "use synsweep.workflows.plots with a selection instead.")


def write_plot(ds: Any, plot: Path) -> list[Path]:
    """The spec's standard figure: a heatmap over two sweep dims, or a line over one."""
    from synsweep.workflows.plots import sync_heatmap, sync_vs_coupling
    from synsweep.workflows.selection import sweep_dims

    if len(sweep_dims(ds)) >= 2:
        return [sync_heatmap(ds, plot)]
    return [sync_vs_coupling(ds, plot)]


# -- formatting --------------------------------------------------------------------------------------------
def _num(x: float) -> str:
    return f"{x:.6g}"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _duration(seconds: float) -> str:
    """An expected duration in words: 'under a second', 'about 40 s', 'about 12 min', 'about 3.5 h'."""
    if seconds < 1:
        return "under a second"
    if seconds < 120:
        return f"about {seconds:.0f} s"
    if seconds < 7200:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"


def _rows(rows: Sequence[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    out = []
    for key, value in rows:
        lines = str(value).splitlines() or [""]
        out.append(f"{key:<{width}}  {lines[0]}")
        out.extend(f"{'':<{width}}  {line}" for line in lines[1:])
    return "\n".join(out)


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    """Rows of cells as aligned columns (two spaces apart)."""
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _describe_axis(axis: Any) -> str:
    v = np.asarray(axis.values, dtype=np.float64)
    units = f" {axis.units}" if axis.units not in ("", "1", None) else ""
    rng = _num(v[0]) if v.size == 1 else f"{_num(v.min())} .. {_num(v.max())}"
    targets = ", ".join(p if f == 1.0 else f"{p} (x{_num(f)})" for p, f in axis.targets.items())
    return f"{axis.kind} {rng}{units} -> {targets}"


def describe_spec(spec: Any, out: Path | None = None, speed: Any = None, kernel_state: str | None = None) -> str:
    """What a run of ``spec`` would do: grid, chunks, work, output size, numerics, and the expected time
    when ``speed`` (``synsweep.sweeps.cost.KernelSpeed``, measured here) is given."""
    from synsweep.sweeps.chunks import plan_chunks
    from synsweep.sweeps.errors import format_bytes
    from synsweep.sweeps.spec import estimate

    target = f"target {spec.chunk_points:,} points each"
    if not spec.chunk_points_given:
        from synsweep.sweeps.chunks import auto_chunk_points

        cores = os.cpu_count() or 1
        spec = dataclasses.replace(spec, chunk_points=auto_chunk_points(spec.n_points, cores, spec.device))
        target = (f"{spec.chunk_points:,} points each: {TASKS_PER_WORKER_TEXT} for the {cores} workers of a local "
                  "run; execution.chunk_points sets it") if spec.device == "cpu" else (
                  f"{spec.chunk_points:,} points each: a GPU's chunk; execution.chunk_points sets it")
    est = estimate(spec)
    plan = plan_chunks(spec)
    sim = spec.simulation
    circuit = spec.circuit
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
    shape = " x ".join(str(s) for s in est.get("shape", spec.shape)) or "1"
    chunk_shape = " x ".join(str(s) for s in plan.chunk_shape) or "1"
    rows: list[tuple[str, str]] = [
        ("spec", f"{spec.name}  (hash {spec.spec_hash[:12]})"),
    ]
    if spec.description:
        rows.append(("description", textwrap.fill(_paragraph(spec.description), 90)))
    rows += [
        ("neurons", neurons),
        ("synapses", synapses),
        ("dims", "\n".join(dim_lines) or "none (a single point)"),
        ("points", f"{est['points']:,}  ({shape})"),
        ("chunks", f"{plan.n_chunks:,} of shape {chunk_shape}  ({target})"),
        ("simulation", f"{_num(sim.duration)} ms at dt {_num(sim.dt)} ms = {sim.n_steps:,} steps, "
                       f"transient {_num(sim.transient)} ms"),
        ("numerics", f"integrator {sim.integrator}, precision {sim.precision}, scheme {sim.scheme}"),
        ("device", "cuda: one point per GPU thread, on workers with the dask resource GPU" if spec.device == "cuda"
         else "cpu"),
        ("neuron-steps", f"{est['neuron_steps']:,}"),
        ("output", f"about {format_bytes(est['output_bytes'])}"),
        ("run time", _expected_time(spec.neuron_steps, plan.n_chunks, speed)),
        ("metrics", ", ".join(spec.metrics)),
    ]
    if spec.record is not None:
        rec = spec.record
        where = "all points" if rec.points is None else f"{len(rec.points)} points"
        rows.append(("traces", f"{', '.join(rec.variables)} every {rec.every} steps at {where}"))
    if spec.refine is not None:
        ref = spec.refine
        coarse = int(np.prod([(d.size - 1) // (1 << ref.levels) + 1 if d.name in ref.dims else d.size
                              for d in spec.dims]))
        budget = f", at most {ref.budget:,} points" if ref.budget is not None else ""
        rows.append(("refine", f"{ref.levels} levels over {', '.join(ref.dims)}: level 0 computes {coarse:,} "
                               f"points, then only where a boundary lies{budget} (points and run time above "
                               f"are the full grid's upper bound)"))
    if spec.continuation is not None:
        c = spec.continuation
        ways = " and ".join("up" if d > 0 else "down" for d in c.directions)
        rows.append(("continuation", f"along {c.dim} ({ways}): each point starts from the previous one's final "
                                     f"state, after {_num(sim.transient)} ms of settling (the transient)"))
    rows.append(("kernel", kernel_state or _kernel_state(spec)))
    if out is not None:
        state = "exists: a run needs --resume or --overwrite" if out.exists() else "new"
        rows.append(("store", f"{out}  ({state})"))
    return _rows(rows)


def _expected_time(neuron_steps: int, n_chunks: int, speed: Any, workers: int | None = None) -> str:
    """The expected compute time from a kernel measurement here (see synsweep.sweeps.cost)."""
    if speed is None:
        return ("not measured: the kernel is not compiled here yet ('synsweep validate --compile' compiles it "
                "and measures it)")
    from synsweep.sweeps.cost import expected_seconds

    rate = f"{speed.neuron_steps_per_second / 1e6:.3g} M neuron-steps/s per worker"
    measured = (f"{speed.source}: {rate}" if speed.source else
                f"kernel measured here: {rate} on {speed.points:,} points x {speed.steps:,} steps")
    measured += "; cluster start not included"
    if workers is not None:
        return (f"{_duration(expected_seconds(neuron_steps, n_chunks, speed, workers))} on "
                f"{_count(workers, 'worker')} ({measured})")
    cores = os.cpu_count() or 1
    return (f"{_duration(expected_seconds(neuron_steps, n_chunks, speed, cores))} on {_count(cores, 'worker')} "
            f"(one per core here), {_duration(expected_seconds(neuron_steps, n_chunks, speed, 1))} on one\n"
            f"({measured})")


def _kernel_state(spec: Any) -> str:
    """Whether the sweep's kernel is compiled on this machine (``validate --compile`` compiles it)."""
    from synsweep.engine.kernels import cache_dir, is_cached
    from synsweep.sweeps.spec import kernel_key

    key = kernel_key(spec)
    if is_cached(key):
        return f"compiled, in {cache_dir()} (a worker loads it in under a second)"
    return ("not compiled on this machine yet: the first task compiles it once for all workers (about 3 s for "
            "an HH pair; 'synsweep validate --compile' compiles it now and reports the time)")


def describe_result(ds: Any, path: Path) -> str:
    """Dims, variables with units, completion and provenance of a stored result."""
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
    rows.append(("dims", _table(dim_rows)))
    var_rows = []
    for name, var in ds.data_vars.items():
        units = var.attrs.get("units", "")
        var_rows.append((f"{name}({', '.join(var.dims)})", f"[{units or '-'}]", var.attrs.get("long_name", "")))
    rows.append(("variables", _table(var_rows)))
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
    versions = attrs.get("versions")
    if isinstance(versions, dict):
        prov.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    elif isinstance(versions, str):
        prov.append(("versions", versions))
    else:
        found = [f"{k.removeprefix('version_')} {v}" for k, v in attrs.items() if k.startswith("version_")]
        if found:
            prov.append(("versions", ", ".join(found)))
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


# -- running -----------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _scheduler_client(scheduler: str | None, security: Any = None) -> Iterator[Any]:
    """A client of the scheduler at ``scheduler`` (None: the runner starts a local cluster), connected
    before anything is written, so an unreachable address leaves no store behind."""
    if scheduler is None:
        yield None
        return
    from distributed import Client
    from distributed.comm.addressing import get_address_host_port, parse_address

    try:  # a malformed address: say so before a half-built Client hangs on closing
        if parse_address(scheduler)[0] in ("tcp", "tls"):
            get_address_host_port(scheduler)
    except ValueError as exc:
        _fail(f"--scheduler {scheduler!r} is not a scheduler address: {exc}. Give it as tcp://host:port, "
              "e.g. tcp://10.0.0.5:8786 (what 'dask scheduler' prints).")
    _check_tls_address(scheduler, security)
    _probe_scheduler(scheduler)
    try:
        client = Client(scheduler, security=security, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        _fail(f"could not connect to the dask scheduler at {scheduler!r}: {exc}. Check that the scheduler is "
              "running and reachable (e.g. tcp://host:8786), or leave out --scheduler to start a local "
              "cluster." + (" With TLS, also check that the scheduler's certificate and yours are signed by "
                            "the CA you gave." if security is not None else ""))
    with client:
        yield client


PROBE_SECONDS = 5.0


def _probe_scheduler(scheduler: str) -> None:
    """Refuse at once a scheduler address where nothing listens (dask's client retries for 30 s, the
    ``distributed.comm.timeouts.connect`` default, before it gives up): one TCP connection, of at most
    PROBE_SECONDS; a refused connection fails in milliseconds. Only tcp:// and tls:// addresses are probed."""
    import socket

    from distributed.comm.addressing import get_address_host_port, parse_address

    if parse_address(scheduler)[0] not in ("tcp", "tls"):
        return
    host, port = get_address_host_port(scheduler)
    try:
        socket.create_connection((host, port), timeout=PROBE_SECONDS).close()
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        _fail(f"could not connect to the dask scheduler at {scheduler!r}: {host}:{port} {reason}. Check that the "
              "scheduler is running and reachable from here (the address 'dask scheduler' printed, e.g. "
              "tcp://10.0.0.5:8786; a firewall may block the port), or leave out --scheduler to start a local "
              "cluster.")


def _check_tls_address(scheduler: str, security: Any) -> None:
    from distributed import Security

    from synsweep.sweeps.security import is_tls_address

    if security is not None and not is_tls_address(scheduler):
        _fail(f"--scheduler {scheduler!r} is a plain address, but TLS options are given; a scheduler started "
              "with certificates listens on tls://host:port: give that address.")
    if security is None and is_tls_address(scheduler) and not Security().get_tls_config_for_role("client")["ca_file"]:
        _fail(f"--scheduler {scheduler!r} uses TLS, but no certificates are given: the scheduler refuses clients "
              "without a certificate signed by its CA. Give --tls-ca-file, --tls-cert and --tls-key (or "
              "--security FILE, a dask config file with distributed.comm.tls).")


@contextlib.contextmanager
def _client(scheduler: str | None, cluster: Any, security: Any, out: Path) -> Iterator[Any]:
    """The client a run uses: of ``scheduler``, of batch jobs (``cluster``, a JobConfig), or None (local)."""
    if cluster is None:
        with _scheduler_client(scheduler, security) as client:
            yield client
        return
    from synsweep.sweeps.clusters import ClusterConfigError, batch_client

    click.echo(f"submitting {cluster.describe()}", err=True)
    try:
        shared = out.absolute().parent if isinstance(out, Path) else Path.cwd()  # job logs, temporary files
        with batch_client(cluster, security, shared_temp_directory=shared) as client:
            yield client
    except ClusterConfigError as exc:  # the batch system refused the first job: nothing was written
        _fail(exc)


def _batch_setup(spec: Any, cluster: str | None, options: dict[str, Any], scheduler: str | None,
                 workers: int | None) -> Any:
    """The checked JobConfig for ``--cluster`` (None without it); refuses options that do not go together."""
    given = [name for name, value in options.items() if value is not None]
    if cluster is None:
        if given:
            _fail(f"{given[0]} sets up the batch jobs of --cluster; give --cluster slurm or --cluster pbs, or "
                  f"leave out {given[0]}.")
        return None
    if scheduler is not None or workers is not None:
        other = "--scheduler" if scheduler is not None else "--workers"
        _fail(f"--cluster {cluster} starts its own scheduler and its workers as batch jobs; {other} does not go "
              f"with it. Give one of the two (--jobs N sets the number of batch jobs).")
    from synsweep.sweeps.clusters import job_config

    try:
        return job_config(cluster, spec, config_file=options["--cluster-config"], jobs=options["--jobs"],
                          lifetime=options["--lifetime"], lifetime_stagger=options["--lifetime-stagger"])
    except _user_errors() as exc:
        _fail(exc)


def _security(security: str | None, ca_file: str | None, cert: str | None, key: str | None,
              scheduler: str | None) -> Any:
    """The ``distributed.Security`` of the TLS options (None without them)."""
    if security is None and ca_file is None and cert is None and key is None:
        return None
    from synsweep.sweeps.security import load_security

    auto = security == "auto"
    if auto and scheduler is not None:
        _fail("--security auto makes a certificate for a scheduler synsweep starts itself; a running scheduler "
              "at --scheduler has its own CA: give its certificates (--tls-ca-file, --tls-cert, --tls-key).")
    try:
        return load_security(None if auto else security, ca_file=ca_file, cert=cert, key=key, auto=auto,
                             server=scheduler is None)
    except _user_errors() as exc:
        _fail(exc)


def execute(spec: Any, out: Path, *, scheduler: str | None, workers: int | None, resume: bool,
            overwrite: bool, progress: bool, plots: Sequence[tuple[str, Path]] = (),
            extend: Path | None = None, cluster: Any = None, security: Any = None) -> None:
    """Run ``spec`` into ``out`` and write the requested figures; every failure becomes a click exception.

    Prints to stderr what the run will do and its expected time before starting, and to stdout a summary."""
    from synsweep.sweeps import open_result

    if resume and overwrite:
        _fail("--resume and --overwrite contradict each other: --resume keeps the store and computes what "
              "is missing, --overwrite deletes it and starts again; give one of them.")
    _check_out_path(out)
    _check_resources(spec, out)
    from synsweep.sweeps.interrupts import interruptible

    try:
        with interruptible():
            report = _execute_run(spec, out, scheduler=scheduler, workers=workers, resume=resume,
                                  overwrite=overwrite, progress=progress, extend=extend, cluster=cluster,
                                  security=security)
    except KeyboardInterrupt:
        progress_made = _chunks_done(out)
        if progress_made is None:
            raise Interrupted("interrupted before any chunk was stored (nothing was kept); run the same command "
                              "again to start the sweep.") from None
        raise Interrupted(f"interrupted: {progress_made[0]:,} of {progress_made[1]:,} chunks done; run the same "
                          "command with --resume to finish.") from None
    click.echo(_summary_line(out, report, extend))
    if not plots:
        return
    from synsweep.workflows.plots import sync_heatmap, sync_vs_coupling

    ds = open_result(out)
    for kind, path in plots:
        if kind == "standard":
            written = write_plot(ds, path)
        elif kind == "heatmap":
            written = [sync_heatmap(ds, path)]
        else:
            written = [sync_vs_coupling(ds, path)]
        for p in written:
            click.echo(f"wrote {p}")


def _execute_run(spec: Any, out: Path, *, scheduler: str | None, workers: int | None, resume: bool,
                 overwrite: bool, progress: bool, extend: Path | None, cluster: Any, security: Any) -> Any:
    """The run of ``execute``: the client, the runner, its failures as click exceptions; the runner's report."""
    from synsweep.sweeps import SweepIncomplete, runner
    from synsweep.sweeps.interrupts import restore_handler

    with _client(scheduler, cluster, security, out) as client:
        restore_handler()  # starting batch jobs imports dask-jobqueue, which replaces the SIGINT handler
        n_workers = (sum(client.nthreads().values()) if client is not None else 0) or (
            cluster.jobs * cluster.cores if cluster is not None else (workers or os.cpu_count() or 1))
        try:
            report = runner.execute(spec, out, client=client, workers=workers, resume=resume,
                                    overwrite=overwrite, progress=progress, extend=extend,
                                    on_start=lambda start: _announce(spec, start, n_workers, extend),
                                    security=security)
            runner.raise_if_incomplete(report, spec)
        except SweepIncomplete as exc:
            full = next((e for _, e in exc.failures if "[Errno 28]" in e or "[Errno 122]" in e), None)
            if full is not None:
                _disk_error(OSError(28, f"a task failed with {full}"), out)
            raise Incomplete(_paragraph(exc)) from None
        except _user_errors() as exc:
            _fail(exc)
        except OSError as exc:
            _disk_error(exc, out)
    return report


def _announce(spec: Any, start: Any, workers: int, extend: Path | None) -> None:
    """Say on stderr what the run will do and how long it should take (from the kernel speed the last run of
    this kernel here recorded, else measured here now); nothing with --quiet."""
    if VERBOSITY["level"] < 0:
        return
    if not start.chunks_to_run:
        if not start.traced_batch:
            click.echo(f"{PROG}: nothing to compute: all {start.n_chunks:,} chunks of {start.out} are done",
                       err=True)
        return
    from synsweep.sweeps.cost import measure_kernel, recorded_speed
    from synsweep.sweeps.errors import format_bytes
    from synsweep.sweeps.spec import estimate

    neuron_steps = start.points_to_run * len(spec.circuit.neurons) * spec.simulation.n_steps
    est = estimate(spec)
    output = est["output_bytes"] * (start.points_to_run + start.points_to_copy) / max(est["points"], 1)
    done = f" ({start.chunks_done:,} already done)" if start.chunks_done else ""
    copied = f", {start.points_to_copy:,} points copied from {extend}" if start.points_to_copy else ""
    from synsweep.engine.kernels import is_cached
    from synsweep.sweeps.spec import kernel_key

    if start.points_to_copy:  # an extension: every chunk is written, only the new points are computed
        work = (f"{start.points_to_run:,} new points to compute ({neuron_steps:,} neuron-steps){copied}, in "
                f"{start.chunks_to_run:,} of {start.n_chunks:,} chunks to write{done}")
    else:
        work = (f"{start.chunks_to_run:,} of {start.n_chunks:,} chunks to compute{done}: {start.points_to_run:,} "
                f"points, {neuron_steps:,} neuron-steps")
    if spec.device == "cuda":  # the speed measured here is the CPU's: no estimate for the GPU workers
        click.echo(f"{PROG}: {work}, output about {format_bytes(output)}; on the GPU workers (no time estimate)",
                   err=True)
        return
    cached = is_cached(kernel_key(spec))
    speed = recorded_speed(spec) or measure_kernel(spec)
    if cached:
        compile_note = ""
    elif speed.source is None:  # measured just now: the kernel was compiled for that, once for all workers
        compile_note = f"; the kernel was compiled for this run first ({speed.load_seconds:.0f} s, in the cache now)"
    else:
        compile_note = "; plus compiling the kernel once (it is not in the cache: seconds to a minute)"
    click.echo(f"{PROG}: {work}, output about "
               f"{format_bytes(output)}; expected time "
               f"{_expected_time(neuron_steps, start.chunks_to_run, speed, workers)}{compile_note}", err=True)


def _summary_line(out: Path, report: Any, extend: Path | None) -> str:
    """What the store holds, and what this run did (``report``: the runner's RunReport)."""
    from synsweep.sweeps.store import status_counts

    ok, div, missing, run = status_counts(out)
    line = f"wrote {out}: {ok + div + missing + run:,} points, {ok:,} ok, {div:,} diverged"
    line += f", {run:,} runaway" if run else ""
    computed = [c for c in report.computed if c != "traces"]
    skipped = [c for c in report.skipped if c != "traces"]
    line += f"; this run computed {_count(len(computed), 'chunk')} ({_count(report.n_points, 'point')})"
    if report.n_copied:
        line += f" and copied {_count(report.n_copied, 'point')} from {extend}"
    if skipped:
        line += f", {_count(len(skipped), 'chunk')} {'was' if len(skipped) == 1 else 'were'} already done"
    return line


# -- commands ----------------------------------------------------------------------------------------------
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100, "auto_envvar_prefix": "SYNSWEEP"}
VERBOSITY = {"level": 0}  # -1 --quiet, 0 default, 1 --verbose (set by the group, read by the commands)


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="synsweep", prog_name=PROG)
@click.option("--quiet", "-q", is_flag=True, help="Only errors and results: no estimate, no progress bar.")
@click.option("--verbose", "-v", is_flag=True, help="Also dask's own log messages (INFO) on stderr.")
def cli(quiet: bool, verbose: bool) -> None:
    """Distributed parameter sweeps of small circuits of coupled neurons.

    Every option can also be given as an environment variable SYNSWEEP_<COMMAND>_<OPTION>, e.g.
    SYNSWEEP_RUN_WORKERS=4 or SYNSWEEP_RUN_NO_PROGRESS=1 (SYNSWEEP_QUIET=1 for --quiet)."""
    if quiet and verbose:
        _fail("--quiet and --verbose contradict each other; give one of them.")
    VERBOSITY["level"] = -1 if quiet else 1 if verbose else 0
    if verbose:
        import logging

        logging.getLogger("distributed").setLevel(logging.INFO)


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "-o", required=True, type=STORE, metavar="RESULT.zarr",
              help="Zarr store to write: a directory, or an object-storage URL (s3://bucket/prefix/name.zarr; "
              "credentials from the environment).")
@click.option("--scheduler", metavar="ADDRESS", help="Address of a running dask scheduler (tcp://host:8786); "
              "default: start a local cluster.")
@click.option("--workers", type=click.IntRange(min=1), metavar="N",
              help="Worker processes of the local cluster (default: one per core).")
@click.option("--resume", is_flag=True,
              help="Keep an existing store of the same spec; compute what is missing.")
@click.option("--overwrite", is_flag=True, help="Delete an existing store and start again.")
@click.option("--extend", type=STORE, metavar="OLD.zarr",
              help="A result of this sweep with fewer axis values: copy its points, compute only the new ones.")
@click.option("--chunk-points", type=click.IntRange(min=1), metavar="N",
              help="Points per task (overrides the spec's execution.chunk_points).")
@DEVICE_OPTION
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), metavar="PNG",
              help="Also write a figure of the pair's Pearson r over the sweep dims.")
@click.option("--cluster", type=click.Choice(["slurm", "pbs"]), help="Start the workers as batch jobs of this "
              "batch system (dask-jobqueue), with the resources of the spec's execution.resources or "
              "--cluster-config.")
@click.option("--jobs", type=click.IntRange(min=1), metavar="N", help="Batch jobs to keep running (--cluster).")
@click.option("--cluster-config", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="YAML file of job resources: cores, memory, walltime, queue, account, ... (--cluster).")
@click.option("--lifetime", metavar="DURATION", help="Workers retire after this long, before the walltime, "
              "and their jobs are replaced (e.g. 50m; default: 10% of the walltime before it).")
@click.option("--lifetime-stagger", metavar="DURATION", help="Workers retire at the lifetime plus or minus a "
              "random part of this, so that they do not all retire at once (e.g. 4m).")
@click.option("--security", metavar="FILE|auto", help="TLS: a dask config file with distributed.comm.tls, or "
              "'auto' for a throwaway certificate (local cluster or --cluster).")
@click.option("--tls-ca-file", metavar="PEM", help="TLS: certificate of the CA that signed every certificate.")
@click.option("--tls-cert", metavar="PEM", help="TLS: this node's certificate.")
@click.option("--tls-key", metavar="PEM", help="TLS: the private key of --tls-cert.")
def run(spec: Path, out: Path, scheduler: str | None, workers: int | None, resume: bool, overwrite: bool,
        extend: Path | None, chunk_points: int | None, device: str | None, no_progress: bool, plot: Path | None,
        cluster: str | None, jobs: int | None, cluster_config: Path | None, lifetime: str | None,
        lifetime_stagger: str | None, security: str | None, tls_ca_file: str | None, tls_cert: str | None,
        tls_key: str | None) -> None:
    """Run the sweep SPEC.yaml and write the result to RESULT.zarr."""
    if scheduler is not None and workers is not None:
        _fail("--workers sizes the local cluster that synsweep starts; with --scheduler the workers are "
              "those of the running cluster. Give one of the two.")
    sweep = load(spec, chunk_points, device)
    if plot is not None:
        _check_plottable(sweep, plot)
    batch = _batch_setup(sweep, cluster, {"--jobs": jobs, "--cluster-config": cluster_config,
                                          "--lifetime": lifetime, "--lifetime-stagger": lifetime_stagger},
                         scheduler, workers)
    tls = _security(security, tls_ca_file, tls_cert, tls_key, scheduler)
    execute(sweep, out, scheduler=scheduler, workers=workers, resume=resume, overwrite=overwrite,
            progress=not no_progress and VERBOSITY["level"] >= 0,
            plots=[("standard", plot)] if plot is not None else [], extend=extend, cluster=batch, security=tls)


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "-o", type=STORE, metavar="PATH",
              help="Where the result would go: also checks disk space and whether the store exists.")
@click.option("--compile", "compile_kernel", is_flag=True,
              help="Compile the sweep's kernel into this machine's cache now and report how long it took.")
@DEVICE_OPTION
def validate(spec: Path, out: Path | None, compile_kernel: bool, device: str | None) -> None:
    """Check SPEC.yaml and print what a run would do, without running it."""
    from synsweep.engine.kernels import get_kernel, is_cached
    from synsweep.sweeps.cost import measure_kernel
    from synsweep.sweeps.spec import kernel_key

    sweep = load(spec, device=device)
    if out is not None:
        _check_out_path(out)
        _check_resources(sweep, out)
    if sweep.device == "cuda":
        _validate_cuda(sweep, out, compile_kernel)
        return
    key = kernel_key(sweep)
    ready = None
    if compile_kernel:
        start = time.perf_counter()
        get_kernel(key)
        ready = time.perf_counter() - start
    state = _kernel_state(sweep)  # after --compile: what the run will find
    speed = measure_kernel(sweep) if compile_kernel or is_cached(key) else None
    click.echo(describe_spec(sweep, out, speed, kernel_state=state))
    if ready is not None:
        click.echo(f"kernel ready in {ready:.1f} s (compiled, or loaded if it was cached)")
    click.echo("spec is valid")


def _validate_cuda(sweep: Any, out: Path | None, compile_kernel: bool) -> None:
    """``validate`` of a sweep for the GPU: whether this machine can run CUDA kernels (a line; the workers of a
    cluster may have the GPU that this machine lacks), and with ``--compile`` the CUDA kernel compiled here."""
    from synsweep.engine.device import cuda_problem

    problem = cuda_problem()
    ready = None
    if compile_kernel:
        if problem is not None:
            from synsweep.engine.device import CUDA_FIX

            _fail(f"--compile compiles the sweep's CUDA kernel on this machine (execution.device is cuda), but "
                  f"{problem}. Fix: {CUDA_FIX}; or leave out --compile (each GPU worker compiles it once).")
        from synsweep.engine.cuda import compile_cuda_kernel
        from synsweep.sweeps.spec import kernel_key

        start = time.perf_counter()
        compile_cuda_kernel(kernel_key(sweep))
        ready = time.perf_counter() - start
    click.echo(describe_spec(sweep, out, None, kernel_state="compiled by each GPU worker on its first task"))
    click.echo(f"this machine: {'CUDA kernels can run here' if problem is None else problem}")
    if ready is not None:
        click.echo(f"CUDA kernel compiled in {ready:.1f} s")
    click.echo("spec is valid")


@cli.command()
@click.argument("result", type=STORE, metavar="RESULT.zarr")
@click.option("--verify", is_flag=True, help="Also read back every chunk of every variable (checksums included) "
              "and name any that is damaged.")
@click.option("--forget-damaged", is_flag=True, help="Delete the damaged chunks that --verify finds and mark their "
              "blocks not computed, so that 'synsweep run ... --resume' computes them again.")
@reports_user_errors
def inspect(result: Path, verify: bool, forget_damaged: bool) -> None:
    """Print the summary and provenance of a stored result."""
    from synsweep.sweeps import open_result

    if not result.exists():
        _fail(f"result store {str(result)!r} does not exist; give the path passed to 'synsweep run --out'.")
    if forget_damaged:
        from synsweep.sweeps import damage

        found = damage.diagnose(result)
        if not found:
            click.echo(f"{result}: every chunk reads back; nothing to forget")
            return
        blocks = damage.forget_damaged(result, found)
        click.echo(f"{result}: deleted the damaged chunks and marked block{'s' if len(blocks) > 1 else ''} "
                   f"{', '.join(map(str, blocks))} not computed; run the same spec with --resume to compute "
                   f"{'them' if len(blocks) > 1 else 'it'} again")
        return
    try:
        ds = open_result(result)
    except _user_errors() as exc:
        _fail(exc)
    click.echo(describe_result(ds, result))
    if verify:
        from synsweep.sweeps.damage import StoreDamaged, diagnose

        found = diagnose(result)
        if found:
            raise StoreDamaged(found)
        click.echo(f"verified: every chunk of {len(found.intact)} arrays reads back and passes its checksum")


@cli.command()
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=Path("out"),
              show_default=True, metavar="DIR", help="Folder for the result store and the figures.")
@click.option("--workers", type=click.IntRange(min=1), metavar="N",
              help="Worker processes of the local cluster (default: one per core).")
@click.option("--small", is_flag=True, help="The same scan on a small grid (seconds, for a quick check).")
@click.option("--overwrite", is_flag=True, help="Recompute from scratch even if DIR holds a finished result.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def demo(out: Path, workers: int | None, small: bool, overwrite: bool, no_progress: bool) -> None:
    """Run the packaged coupling scan: seed 000's HH pair with a positive (diffusive) gap junction.

    Sweeps the conductance g (0 .. 0.01 mS, 41 values) against the external current of neuron 1
    (0.05 .. 0.15 uA, 21 values; neuron 2 gets 0.8 times it) and writes DIR/coupling_scan.zarr,
    DIR/coupling_scan.png (heatmap of the pair's Pearson r) and DIR/coupling_scan_vs_g.png.
    Running it again finishes an interrupted run and redraws the figures.
    """
    sweep = load(packaged_spec(DEMO_SPEC_SMALL if small else DEMO_SPEC))
    out.mkdir(parents=True, exist_ok=True)
    store = out / f"{sweep.name}.zarr"
    plots = [("heatmap", out / f"{sweep.name}.png"), ("lines", out / f"{sweep.name}_vs_g.png")]
    execute(sweep, store, scheduler=None, workers=workers, resume=store.exists() and not overwrite,
            overwrite=overwrite, progress=not no_progress, plots=plots)


# plot, replay, report, export: the analysis of stored results (synsweep.workflows.analysis_cli)
from synsweep.workflows.analysis_cli import ANALYSIS_COMMANDS  # noqa: E402

for _command in ANALYSIS_COMMANDS:
    cli.add_command(_command)

# workflow: the seed studies as sweeps with figures (synsweep.workflows.workflow_cli)
from synsweep.workflows.workflow_cli import workflow as _workflow_command  # noqa: E402

cli.add_command(_workflow_command)

# serve: the web page over stored results (synsweep.workflows.serve, optional extra 'serve')
from synsweep.workflows.serve.cli import serve as _serve_command  # noqa: E402

cli.add_command(_serve_command)


# -- entry point -------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: runs the command line and exits with its code (see the module docstring)."""
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name=PROG, standalone_mode=False)
    except Interrupted as exc:
        click.echo(f"{PROG}: {_paragraph(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        message = _paragraph(exc.format_message())
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            message += f" (see '{exc.ctx.command_path} --help')"
        click.echo(f"{PROG}: error: {message}", err=True)
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo(f"{PROG}: interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo(f"{PROG}: interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
