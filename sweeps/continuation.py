"""Continuation sweeps: one axis run in order, each point starting from the previous point's final state.

An axis marked ``continuation: up | down | both`` is continued: along it the points of a lane run one
after the other, in increasing (up, direction +1) or decreasing (down, direction -1) order of its values,
and point k+1 starts from the final state of point k (every state variable of every neuron and synapse,
bit for bit); the first point starts from the spec's initial state. The simulation's ``transient`` is the
settling time after each hand-over (excluded from the metrics). Every other axis is a lane: the lanes of a
block run side by side in one kernel call per step of the continued axis. The result has a leading
``direction`` dim holding the coordinate +1 and/or -1.

What is not handed on: the spike detectors and metric accumulators (each point measures itself) and the
contents of synaptic delay lines (a point starts with empty delay lines). A lane that diverged hands its
non-finite state on, so the rest of its branch is marked diverged too.
"""

from __future__ import annotations

from math import prod

import numpy as np

from .model import SweepSpec


def initial_values(final_state: dict[tuple[str, str], np.ndarray], spec: SweepSpec) -> dict[str, np.ndarray]:
    """The init paths that start the next point from ``final_state`` ((unit, var) -> one value per lane)."""
    neurons = set(spec.circuit.neuron_names)
    return {f"{'neurons' if unit in neurons else 'synapses'}.{unit}.init.{var}": np.asarray(x, dtype=np.float64)
            for (unit, var), x in final_state.items()}


def run_branch(spec: SweepSpec, index: tuple[slice, ...], simulate_lanes) -> dict[str, np.ndarray]:
    """The block ``index`` (one direction, the whole continued dim) as flat arrays in C order of the block.

    ``simulate_lanes(values, n)`` integrates ``n`` lanes and returns ``(block variables name -> (n, ...),
    final_state)``; it is called once per value of the continued axis, in the direction's order.
    """
    assert spec.continuation is not None
    shape = tuple(s.stop - s.start for s in index)
    axis = [d.name for d in spec.dims].index(spec.continuation.dim)
    direction = int(spec.dims[0].axes[0].values[index[0].start])
    values = {path: v.reshape(shape) for path, v in spec.point_values(index).items()}
    coords = spec.dims[axis].axes[0].values
    order = np.argsort(coords, kind="stable")
    if direction < 0:
        order = order[::-1]
    n_lanes = prod(shape) // shape[axis]
    blocks: dict[str, np.ndarray] = {}
    state: dict[str, np.ndarray] = {}
    for k in order:
        lane_values = {path: np.take(v, k, axis=axis).ravel() for path, v in values.items()}
        lane_values.update(state)  # after the first point: the previous point's final state
        arrays, final_state = simulate_lanes(lane_values, n_lanes)
        for name, a in arrays.items():
            if name not in blocks:
                blocks[name] = np.empty((*shape, *a.shape[1:]), dtype=a.dtype)
            target = [slice(None)] * len(shape)
            target[axis] = k
            blocks[name][tuple(target)] = a.reshape((*np.delete(shape, axis), *a.shape[1:]))
        state = initial_values(final_state, spec)
    return {name: a.reshape(prod(shape), *a.shape[len(shape):]) for name, a in blocks.items()}
