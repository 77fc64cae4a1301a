"""Sizing a sweep before it runs: points, output and task memory (``estimate``), and whether the output fits on
disk and one task in memory (``check_resources``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from synsweep.engine import METRICS
from synsweep.engine.kernel import TILE
from synsweep.engine.metrics import metric_applies
from synsweep.engine.simulate import delay_rings

from ..errors import format_bytes
from ..model import SweepSpec
from ..plan import swept_extremes
from ..traces import trace_layout
from .checks import fail

MEMORY_FRACTION = 0.25  # one chunk may use at most this fraction of total RAM


def estimate(spec: SweepSpec) -> dict[str, Any]:
    """Sizes of a sweep, without running it.

    Returns: points, dims (names), shape, neuron_steps (points x neurons x steps), n_chunks, metric_bytes
    (the metric arrays, status and diverged_step), traced_points, trace_rows (neuron, variable) pairs,
    trace_samples (per point and row), trace_bytes, output_bytes (metric_bytes + trace_bytes, uncompressed),
    ring_bytes (the kernel's delay buffers: a power of two above each synapse's longest delay in steps, for
    one tile of lanes) and chunk_bytes (working memory of one task: its traces, twice, its state and
    accumulators, and ring_bytes).
    """
    n_points = spec.n_points
    n_neurons = len(spec.circuit.neurons)
    n_pairs = len(spec.circuit.pair_list)
    per_point = 1 + 8  # status (int8), diverged_step (int64)
    for name in spec.metrics:
        info = METRICS[name]
        if metric_applies(name, n_neurons, n_pairs):
            per_point += np.dtype(info.dtype).itemsize * {"neuron": n_neurons, "pair": n_pairs}.get(info.dim, 1)
    metric_bytes = n_points * per_point
    itemsize = np.dtype(spec.simulation.precision).itemsize
    traces = trace_layout(spec)
    if traces is not None:
        rows, samples = traces.n_rows, traces.n_samples
        traced = n_points if traces.points is None else len(traces.points)
    else:
        rows = samples = traced = 0
    trace_bytes = traced * rows * samples * itemsize
    lanes = min(spec.chunk_points, n_points)
    traced_lanes = min(spec.chunk_points, traced)
    n_state = sum(len(n.definition.state_names) for n in spec.circuit.neurons)
    n_params = len(spec.circuit.param_paths())
    rings = delay_rings(spec.circuit, spec.simulation, swept_extremes(spec))
    ring_bytes = sum(r for r in rings if r > 1) * TILE[spec.simulation.precision] * itemsize
    chunk_bytes = (2 * traced_lanes * rows * samples * itemsize
                   + lanes * (8 * (n_state + n_params) + 64 * (n_neurons + n_pairs) + per_point) + ring_bytes)
    return {
        "points": n_points,
        "dims": tuple(d.name for d in spec.dims),
        "shape": spec.shape,
        "neuron_steps": spec.neuron_steps,
        "n_chunks": -(-n_points // spec.chunk_points),
        "metric_bytes": metric_bytes,
        "traced_points": traced,
        "trace_rows": rows,
        "trace_samples": samples,
        "trace_bytes": trace_bytes,
        "output_bytes": metric_bytes + trace_bytes,
        "ring_bytes": ring_bytes,
        "chunk_bytes": chunk_bytes,
    }


def _total_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _existing_parent(path: str | os.PathLike) -> Path:
    p = Path(os.fspath(path)).expanduser().absolute().parent
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_resources(spec: SweepSpec, out_path: str | os.PathLike | None,
                    *, free_bytes: int | None = None, memory_bytes: int | None = None) -> None:
    """Raise ``SpecError`` if the output would not fit on disk or one chunk in memory.

    Disk: ``estimate(spec)['output_bytes']`` (uncompressed, so conservative) against the free space of the
    nearest existing directory above ``out_path`` (skipped when ``out_path`` is None or a URL). Memory:
    one chunk's ``chunk_bytes`` against ``MEMORY_FRACTION`` of total RAM. ``free_bytes`` and
    ``memory_bytes`` override the measured free disk space and total RAM (for tests).
    """
    est = estimate(spec)
    if free_bytes is None and out_path is not None and "://" not in os.fspath(out_path):
        free_bytes = shutil.disk_usage(_existing_parent(out_path)).free
    if free_bytes is not None and est["output_bytes"] > free_bytes:
        traces = est["trace_bytes"] > est["metric_bytes"]
        where = f"'{os.fspath(out_path)}'" if out_path is not None else "the output"
        size = (f"{est['points']} points, output about {format_bytes(est['output_bytes'])} (metrics "
                f"{format_bytes(est['metric_bytes'])}, traces {format_bytes(est['trace_bytes'])})")
        if traces:
            fail("record", f"the sweep would write {size}, more than the {format_bytes(free_bytes)} free at {where}",
                  "record fewer variables, sample less often (a larger record.every), record a list of points "
                  "instead of all, or write the output where there is more space")
        fail("sweep", f"the sweep would write {size}, more than the {format_bytes(free_bytes)} free at {where}",
              "sweep fewer points (fewer values per axis or fewer axes), request fewer metrics, or write the "
              "output where there is more space")
    if memory_bytes is None:
        memory_bytes = _total_memory()
    if memory_bytes is not None and est["chunk_bytes"] > MEMORY_FRACTION * memory_bytes:
        if 2 * est["ring_bytes"] > est["chunk_bytes"]:
            fail("circuit.synapses", f"the synapses' delay buffers would need about {format_bytes(est['ring_bytes'])} "
                                     f"of memory in every task, more than {MEMORY_FRACTION:.0%} of the "
                                     f"{format_bytes(memory_bytes)} of RAM (a buffer grows with its synapse's "
                                     f"longest delay in steps of dt)",
                 "give shorter delays, or fewer synapses with long ones, or a larger simulation.dt")
        field = "record" if est["trace_bytes"] else "execution.chunk_points"
        fail(field, f"one task of {min(spec.chunk_points, est['points'])} points would need about "
                     f"{format_bytes(est['chunk_bytes'])} of memory, more than {MEMORY_FRACTION:.0%} of the "
                     f"{format_bytes(memory_bytes)} of RAM",
              "lower execution.chunk_points, sample traces less often (a larger record.every), record fewer "
              "variables, or record a list of points instead of all")
