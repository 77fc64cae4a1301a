"""The task plan: what the driver computes once from a spec and ships to every task of a run.

    tasks = task_plan(spec)
    tasks.kernel          # the kernel every sweep chunk loads (continuation steps and refinement levels too)
    tasks.traced_kernel   # the kernel of the traced-points batch (record.points listed), else None
    tasks.kernels         # the distinct kernels the tasks load: what 'synsweep validate --compile' compiles
    tasks.traces          # the trace layout (``synsweep.sweeps.traces``), None when nothing is recorded

One kernel for the whole sweep: every parameter an axis writes varies between lanes in every task (also in a
block where that axis holds one value), and the delay ring of each spike-triggered synapse is sized for the
largest delay anywhere in the sweep. A task runs its block with this key whatever its points
(``simulate(..., key=)``), so a sweep of a delay compiles one kernel, not one per ring length. Results do not
depend on it: a ring longer than a block's delays needs only holds slots that are never read (the kernel reads
the slot written ``delay`` steps before), and a row given per point reads each lane's own value either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from synsweep.engine.simulate import kernel_key

from .model import SweepSpec
from .traces import TraceLayout, trace_layout

if TYPE_CHECKING:
    from synsweep.engine.kernel import KernelKey


@dataclass(frozen=True)
class TaskPlan:
    """The kernel keys and the trace layout of one sweep (small, picklable: sent with every task)."""

    kernel: KernelKey
    traced_kernel: KernelKey | None
    traces: TraceLayout | None

    @property
    def record(self) -> tuple[str, ...]:
        """The engine's ``record`` argument of a sweep chunk: the variables when every point is traced."""
        return self.traces.record if self.traces is not None and self.traces.points is None else ()

    @property
    def every(self) -> int:
        """Steps between trace samples (1 when nothing is recorded)."""
        return self.traces.every if self.traces is not None else 1

    @property
    def kernels(self) -> tuple[KernelKey, ...]:
        """The distinct kernels the tasks of the sweep load, the chunks' first."""
        return tuple(dict.fromkeys(k for k in (self.kernel, self.traced_kernel) if k is not None))


def swept_extremes(spec: SweepSpec) -> dict[str, np.ndarray]:
    """Every path an axis writes -> its largest value over the sweep (one value): the values that size the
    kernel (which rows vary, how long each delay ring is)."""
    return {path: np.asarray([np.max(axis.values * factor)])
            for dim in spec.dims for axis in dim.axes for path, factor in axis.targets.items()}


def task_plan(spec: SweepSpec) -> TaskPlan:
    """The task plan of ``spec`` (see the module docstring)."""
    traces = trace_layout(spec)
    swept = swept_extremes(spec)
    chunk_record = traces.record if traces is not None and traces.points is None else ()
    kernel = kernel_key(spec.circuit, spec.simulation, swept, chunk_record, spec.metrics)
    traced = None
    if traces is not None and traces.points is not None:
        traced = kernel_key(spec.circuit, spec.simulation, swept, traces.record, spec.metrics)
    return TaskPlan(kernel, traced, traces)
