"""The commands that run a sweep or check one: run, validate and demo.

    synsweep run SPEC.yaml --out RESULT.zarr [--scheduler ADDRESS | --workers N | --cluster slurm|pbs ...] ...
    synsweep validate SPEC.yaml [--out PATH] [--compile] [--device cpu|cuda]
    synsweep demo [--out DIR] [--workers N] [--small] [--overwrite] [--no-progress]

Registered on the ``synsweep`` group by ``synsweep.workflows.cli``. The run itself, its checks and messages
are ``synsweep.workflows.launch``'s; what validate prints is ``synsweep.workflows.describe``'s.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from .describe import describe_spec, kernel_status
from .exits import fail
from .launch import (
    DEMO_SPEC,
    DEMO_SPEC_SMALL,
    Placement,
    check_out_path,
    check_plottable,
    check_resources,
    execute,
    load,
    packaged_spec,
)
from .options import (
    BATCH_JOB_OPTIONS,
    DEVICE,
    FILE,
    FOLDER,
    NO_PROGRESS,
    SCHEDULER,
    SPEC_ARG,
    STORE_RULES,
    TLS_OPTIONS,
    WORKERS,
    BatchJobOptions,
    StoreRules,
    TlsOptions,
    check_output,
    out_option,
    overwrite_option,
    quiet,
    scheduler_or_workers,
    small_option,
)
from .store_param import STORE


@click.command()
@SPEC_ARG
@out_option(STORE, "RESULT.zarr", "Zarr store to write: a directory, or an object-storage URL "
            "(s3://bucket/prefix/name.zarr; credentials from the environment).", required=True)
@SCHEDULER
@WORKERS
@STORE_RULES
@click.option("--chunk-points", type=click.IntRange(min=1), metavar="N",
              help="Points per task (overrides the spec's execution.chunk_points).")
@DEVICE
@NO_PROGRESS
@click.option("--plot", type=FILE, metavar="PNG",
              help="Also write a figure of the pair's Pearson r over the sweep dims.")
@BATCH_JOB_OPTIONS
@TLS_OPTIONS
def run(spec: Path, out: Path, scheduler: str | None, workers: int | None, rules: StoreRules,
        chunk_points: int | None, device: str | None, no_progress: bool, plot: Path | None,
        batch: BatchJobOptions, tls: TlsOptions) -> None:
    """Run the sweep SPEC.yaml and write the result to RESULT.zarr."""
    scheduler_or_workers(scheduler, workers)
    sweep = load(spec, chunk_points, device)
    if plot is not None:
        check_plottable(sweep, plot)
    where = Placement(scheduler, workers, cluster=batch.job_config(sweep, scheduler, workers),
                      security=tls.security_for(scheduler))
    execute(sweep, out, where, rules, progress=not no_progress and not quiet(),
            plots=[("standard", plot)] if plot is not None else [])


@click.command()
@SPEC_ARG
@out_option(STORE, "PATH", "Where the result would go: also checks disk space and whether the store exists.")
@click.option("--compile", "compile_kernel", is_flag=True,
              help="Compile the sweep's kernel into this machine's cache now and report how long it took.")
@DEVICE
def validate(spec: Path, out: Path | None, compile_kernel: bool, device: str | None) -> None:
    """Check SPEC.yaml and print what a run would do, without running it."""
    sweep = load(spec, device=device)  # a user error ends here, before numba or zarr is imported

    from synsweep.engine.kernels import get_kernel, is_cached
    from synsweep.sweeps.cost import measure_kernel
    from synsweep.sweeps.plan import task_plan

    if out is not None:
        check_out_path(out)
        check_resources(sweep, out)
    tasks = task_plan(sweep)
    if sweep.device == "cuda":
        _validate_cuda(sweep, out, tasks.kernels if compile_kernel else ())
        return
    ready = None
    if compile_kernel:  # exactly the kernels the tasks load
        start = time.perf_counter()
        for key in tasks.kernels:
            get_kernel(key)
        ready = time.perf_counter() - start
    state = kernel_status(sweep)  # after --compile: what the run will find
    speed = measure_kernel(sweep) if compile_kernel or is_cached(tasks.kernel) else None
    click.echo(describe_spec(sweep, out, speed, kernel_state=state))
    if ready is not None:
        click.echo(f"kernel ready in {ready:.1f} s (compiled, or loaded if it was cached)")
    click.echo("spec is valid")


def _validate_cuda(sweep: Any, out: Path | None, kernels: tuple) -> None:
    """``validate`` of a sweep for the GPU: whether this machine can run CUDA kernels (a line; the workers of a
    cluster may have the GPU that this machine lacks), and with ``--compile`` (``kernels``: the tasks' kernel
    keys) the CUDA kernels compiled here."""
    from synsweep.engine.device import CUDA_FIX, cuda_problem

    problem = cuda_problem()
    ready = None
    if kernels:
        if problem is not None:
            fail(f"--compile compiles the sweep's CUDA kernels on this machine (execution.device is cuda), but "
                 f"{problem}. Fix: {CUDA_FIX}; or leave out --compile (each GPU worker compiles them once).")
        from synsweep.engine.cuda import compile_cuda_kernel

        start = time.perf_counter()
        for key in kernels:
            compile_cuda_kernel(key)
        ready = time.perf_counter() - start
    click.echo(describe_spec(sweep, out, None, kernel_state="compiled by each GPU worker on its first task"))
    click.echo(f"this machine: {'CUDA kernels can run here' if problem is None else problem}")
    if ready is not None:
        click.echo(f"CUDA kernels compiled in {ready:.1f} s")
    click.echo("spec is valid")


@click.command()
@out_option(FOLDER, "DIR", "Folder for the result store and the figures.", default=Path("out"), show_default=True)
@WORKERS
@small_option("The same scan on a small grid (seconds, for a quick check).")
@overwrite_option("Recompute from scratch even if DIR holds a finished result.")
@NO_PROGRESS
def demo(out: Path, workers: int | None, small: bool, overwrite: bool, no_progress: bool) -> None:
    """Run the packaged coupling scan: seed 000's HH pair with a positive (diffusive) gap junction.

    Sweeps the conductance g (0 .. 0.01 mS, 41 values) against the external current of neuron 1
    (0.05 .. 0.15 uA, 21 values; neuron 2 gets 0.8 times it) and writes DIR/coupling_scan.zarr,
    DIR/coupling_scan.png (heatmap of the pair's Pearson r) and DIR/coupling_scan_vs_g.png.
    Running it again finishes an interrupted run and redraws the figures.
    """
    sweep = load(packaged_spec(DEMO_SPEC_SMALL if small else DEMO_SPEC))
    check_output(out, "--out", folder=True)
    out.mkdir(parents=True, exist_ok=True)
    store = out / f"{sweep.name}.zarr"
    plots = [("heatmap", out / f"{sweep.name}.png"), ("lines", out / f"{sweep.name}_vs_g.png")]
    execute(sweep, store, Placement(workers=workers), StoreRules(resume=store.exists() and not overwrite,
                                                                 overwrite=overwrite),
            progress=not no_progress, plots=plots)


RUN_COMMANDS = (run, validate, demo)
