"""What a sweep will cost before it runs: work and output from the spec, time from a measurement here.

    speed = measure_kernel(spec)                     # loads (or compiles) the kernel, times a small batch
    seconds = expected_seconds(spec.neuron_steps, n_chunks, speed, workers=8)

A run whose tasks all ran on this machine, for at least ``MIN_RECORD_SECONDS`` of kernel time, records its
workers' kernel speed next to the compiled kernel (``record_speed``, the last ``RECORDS_KEPT`` runs of each
kernel and host); ``synsweep run`` estimates from their median when there is one (``recorded_speed``: the
speed of real chunks on loaded cores, and half a second saved on loading the kernel in the driver), and
measures otherwise. Shorter runs are not recorded: a run of a few small chunks measures the first call and
small batches (a 10-point run once recorded 0.09 M neuron-steps/s for a kernel that does 15 to 20 M on
chunk-sized batches), and the median keeps one run on a loaded machine from swinging the next estimate.

The measurement runs the sweep's own kernel (same circuit, integrator, precision, scheme and traces) on the
first points of the grid: up to ``MEASURE_POINTS`` points for up to ``MEASURE_STEPS`` steps, once to warm up
and once timed, so it takes well under a second once the kernel is compiled. The expected time is

    (neuron-steps / speed + chunks x TASK_OVERHEAD_S) / workers

for workers like this machine's cores, one thread each; it leaves out starting the cluster (seconds) and a
first compile of the kernel. ``TASK_OVERHEAD_S`` is the cost of a task besides its kernel (scheduling,
building the block, writing its zarr chunks and its marker): 25 to 35 ms per task through dask with two
workers on two shared cores, most of it the block's zarr writes (``tests/benchmarks/bench_engine.py --service``),
plus the scheduler's round trip (4 to 16 ms, ``tests/benchmarks/bench_scale.py``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from math import prod
from pathlib import Path
from statistics import median

from synsweep.engine import simulate

from .chunks import plan_chunks
from .model import SweepSpec
from .plan import task_plan

MEASURE_POINTS = 1024
MEASURE_STEPS = 400
TASK_OVERHEAD_S = 0.05
MIN_RECORD_SECONDS = 1.0  # kernel seconds a run needs (over all its tasks) for its speed to be recorded
RECORDS_KEPT = 5  # runs per kernel and host whose median speed estimates the next run


@dataclass(frozen=True)
class KernelSpeed:
    """Measured speed of a sweep's kernel on this machine, one thread."""

    neuron_steps_per_second: float
    points: int  # measured batch
    steps: int
    load_seconds: float  # loading (or compiling) the kernel in this process, and the warm-up run
    source: str | None = None  # where a recorded speed comes from; None: measured just now on points x steps


def measure_kernel(spec: SweepSpec) -> KernelSpeed:
    """Time the sweep's kernel on its first grid points (compiling it first if it is not cached)."""
    plan = plan_chunks(spec)
    index = plan.block(0) if plan.n_chunks else ()
    n = min(prod(plan.block_shape(index)), MEASURE_POINTS)
    values = {path: v[:n] for path, v in spec.point_values(index).items()}
    steps = max(min(spec.simulation.n_steps, MEASURE_STEPS), 1)
    sim = dataclasses.replace(spec.simulation, duration=steps * spec.simulation.dt, transient=0.0)
    tasks = task_plan(spec)  # the kernel the sweep's tasks load
    every = min(tasks.every, steps)
    start = time.perf_counter()
    simulate(spec.circuit, sim, values, n_points=n, metrics=spec.metrics, record=tasks.record, record_every=every,
             key=tasks.kernel)
    load = time.perf_counter() - start
    result = simulate(spec.circuit, sim, values, n_points=n, metrics=spec.metrics, record=tasks.record,
                      record_every=every, key=tasks.kernel)
    rate = n * len(spec.circuit.neurons) * steps / max(result.seconds, 1e-9)
    return KernelSpeed(rate, n, steps, load)


def expected_seconds(neuron_steps: int, n_chunks: int, speed: KernelSpeed, workers: int) -> float:
    """Seconds to compute ``neuron_steps`` in ``n_chunks`` tasks on ``workers`` single-threaded workers."""
    return (neuron_steps / speed.neuron_steps_per_second + n_chunks * TASK_OVERHEAD_S) / max(workers, 1)


def _record_path(spec: SweepSpec) -> Path:
    from synsweep.engine.kernels import cache_dir, kernel_source

    return cache_dir() / f"{kernel_source(task_plan(spec).kernel)[0]}.speed.json"


def record_speed(spec: SweepSpec, neuron_steps: int, kernel_seconds: float, points: int) -> bool:
    """Keep the workers' kernel speed of a finished run (``neuron_steps`` in ``kernel_seconds`` summed over
    its tasks, ``points`` points) for this machine's later estimates, among the last ``RECORDS_KEPT`` runs of
    the kernel on this host. A run whose kernels ran less than ``MIN_RECORD_SECONDS`` in all is not kept: its
    time is mostly the first call and small batches, not the kernel's speed. Written atomically; returns
    whether the run was kept. A cache directory that cannot be written only costs the record."""
    if kernel_seconds < MIN_RECORD_SECONDS or neuron_steps <= 0:
        return False
    host = socket.gethostname()
    run = {"neuron_steps_per_second": neuron_steps / kernel_seconds, "points": points,
           "steps": spec.simulation.n_steps, "kernel_seconds": round(kernel_seconds, 3), "host": host,
           "recorded": datetime.now(UTC).isoformat(timespec="seconds")}
    try:
        path = _record_path(spec)
        runs = _read_runs(path)  # two runs ending together: one of them may lose its record, no more
        here = [r for r in runs if r.get("host") == host][-(RECORDS_KEPT - 1):]
        others = [r for r in runs if r.get("host") != host]
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"runs": [*others, *here, run]}))
        os.replace(tmp, path)
    except OSError:
        return False
    return True


def _read_runs(path: Path) -> list[dict]:
    """The runs kept in a speed record (an older one-run record, or anything unreadable: none)."""
    try:
        runs = json.loads(path.read_text()).get("runs", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []


def recorded_speed(spec: SweepSpec) -> KernelSpeed | None:
    """The median speed of the runs ``record_speed`` kept for this sweep's kernel on this host, or None. The
    median of the last ``RECORDS_KEPT`` runs: one run on a loaded machine does not swing the estimate."""
    here = [r for r in _read_runs(_record_path(spec)) if r.get("host") == socket.gethostname()]
    try:  # a cache directory shared with other machines: their speed is not this one's
        rates = [float(r["neuron_steps_per_second"]) for r in here]
        last = here[-1] if here else None
        if last is None:
            return None
        when = str(last["recorded"]).replace("T", " ").removesuffix("+00:00")
        source = (f"kernel speed of the workers of the run of {when} UTC here" if len(here) == 1 else
                  f"median kernel speed of the workers of the last {len(here)} runs here (the last {when} UTC)")
        return KernelSpeed(float(median(rates)), int(last["points"]), int(last["steps"]), 0.0, source=source)
    except (ValueError, KeyError, TypeError):
        return None
