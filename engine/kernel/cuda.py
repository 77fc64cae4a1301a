"""The CUDA back end of the generator: one sweep point per GPU thread, the whole time loop inside the thread.

``generate_cuda`` writes a module for numba-cuda whose function ``run`` (compiled by ``synsweep.engine.cuda``
with the signature ``SIGNATURE``) takes the same arrays as the CPU kernel (X, P, ACC, REC, lane index last)
and the same scalars. Thread ``lane = cuda.grid(1)`` computes lane ``lane``:

    load   every state variable, every parameter (uniform ones from lane 0, varying ones from its own lane) and
           every accumulator into locals (registers); delay rings are thread-local arrays
    loop   n_steps times the step that ``emit.emit_step`` writes over the ``Cuda`` strategy: the same statements
           in the same order as the CPU kernels, every value a local
    store  the final state and the accumulators (and, every rec_every steps, the traces)

Only the arrays go to the GPU and only X, ACC and REC come back. The model functions are the models' own, copied
as device functions (``@cuda.jit(device=True)``, inlined by LLVM); ``exp`` is CUDA's (libdevice), not the
CPU's vectorisable polynomial (docs/models.md says what differs). numpy ufuncs do not exist on the device:
``np.floor`` becomes libdevice's floor, ``np.sqrt`` ``math.sqrt`` (in the simulator: numpy's floor).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from contextlib import contextmanager

from ..phase import sincos2pi
from .emit import emit_coefficients, emit_header, emit_kuramoto_sample, emit_step, metric_functions, tableau_of
from .layout import PRECISIONS, KernelKey, KernelLayout
from .source import Source, copy_functions, model_functions
from .unrolled import Unit, Unrolled

DEVICE_DECORATOR = "@cuda.jit(device=True, **INLINE)"


class Cuda(Unrolled):
    """Addressing for one lane per thread: the ``Unrolled`` names (``y``, ``z``, ``k``, ``n`` locals per unit and
    stage) with no lane loop, the state kept in the ``y`` locals from one step to the next, the parameters, the
    per-step values of the neurons (``v_before<k>``, ``v_after<k>``, ``spiked<k>``) and the accumulators
    (``acc<row>``) locals too."""

    late_in_events = False  # the lateness in the ODE section, as before the event section learnt it

    def __init__(self, src, lay, tile):
        super().__init__(src, lay, tile)
        self.fuses_tail = False

    def _neuron_of(self, g: Unit) -> int:
        return self._ends(g)[0] if g.kind == "synapse" else g.index

    # --- per thread, before the time loop
    def tile_setup(self) -> None:
        """Every parameter into a local: uniform ones from lane 0, varying ones from the thread's lane."""
        for r, (kind, index, name) in enumerate(self.lay.param_rows):
            local = f"iext{index}" if kind == "input" else f"{'p' if kind == 'neuron' else 'q'}{index}_{name}"
            self.src(f"{local} = P[{r}, {'lane' if self.lay.w_param_row(r) is not None else 0}]")

    def allocations(self) -> None:
        """The delay rings, thread-local arrays of the working precision, zero at the start."""
        for j, syn in enumerate(self.lay.key.synapses):
            if syn[4] > 1:
                self.src(f"ring{j} = cuda.local.array({syn[4]}, F)")
                with self.src.block(f"for e in range({syn[4]}):"):
                    self.src(f"ring{j}[e] = F(0.0)")

    # --- loops: the thread is the lane
    @contextmanager
    def section(self):
        yield

    @contextmanager
    def ode_section(self, tail=None):
        """The ODE section; the state after it (spikes and resets included) becomes the next step's y. Nothing is
        fused (``fuses_tail`` is False: a thread has no lane loop to share), so ``tail`` is always None here."""
        yield
        for g in [g for _, g in self.neuron_groups()] + [g for _, _, g in self.synapse_groups()]:
            for v in self._states(g):
                self.src(f"{self.state(g, v, 0)} = {self.new(g, v)}")
        if tail is not None:
            tail()

    @contextmanager
    def spike_section(self):
        """The spike bookkeeping of this lane: no lane blocks, the thread is the lane."""
        yield

    def bind(self, g):
        """Every parameter is loaded before the time loop."""

    # --- values
    def stored(self, g, v):
        return self.state(g, v, 0)

    def lane_param(self, g, p):
        return self._local(g, p)

    def buf(self, g, what):
        return f"{what.removeprefix('pre_')}{self._neuron_of(g)}"

    def delay(self, g, delay):
        ring = self.lay.key.synapses[g.index][4]
        if ring > 1:  # write this step's event into the ring, read the one sent delay steps ago
            self.src(f"ring{g.index}[(s & {ring - 1})] = ev")
            self.src(f"steps = np.int64(floor_f({delay} / dt + F(0.5)))")
            self.src(f"ev = ring{g.index}[((s - steps) & {ring - 1})]")

    def count_spikes(self, condition):
        """``n_up``: this lane's spikes of the step (0 unless ``condition``): a lane without a spike skips the
        updates that would each add an exact 0, as the CPU's gate over a tile does."""
        flags = " + ".join(f"np.int64(spiked{k} > F(0.0))" for k in range(self.n))
        self.src(f"n_up = ({flags}) if {condition} else np.int64(0)" if condition else f"n_up = {flags}")

    def acc_row(self, row):
        return f"acc{row}"


def _device_functions(funcs: list[Callable], metrics: bool = False) -> list[str]:
    """The CPU copies of ``funcs`` (``source.copy_functions``: the models' with literals in the working precision;
    with ``metrics``, the metrics' float64 updates as written) as device functions, numpy's ``floor`` and ``sqrt``
    as the device's."""
    text = copy_functions(funcs, metrics=metrics).replace("np.floor(", "floor_d(" if metrics else "floor_f(")
    text = text.replace("np.sqrt(", "math.sqrt(")
    return [DEVICE_DECORATOR if line.startswith("@njit(") else line for line in text.splitlines()]


def _device_copy(func: Callable, floor: str) -> list[str]:
    """A float64 helper (no literal cast) as a device function: ``sincos2pi`` of the metrics."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    tree.body[0].decorator_list = []
    return [DEVICE_DECORATOR, *ast.unparse(tree).replace("np.floor(", f"{floor}(").splitlines()]


def signature(key: KernelKey, lay: KernelLayout) -> str:
    """The kernel's numba signature: the CPU kernel's arguments."""
    f = "f8" if key.precision == "float64" else "f4"
    sig = f"void({f}[:, ::1], {f}[:, ::1], f8[:, ::1], " + (f"{f}[:, :, ::1], " if key.record else "")
    return sig + f"i8, i8, {f}, i8, {f}, f8, f8{', i8' if lay.kuramoto else ''})"


def generate_cuda(key: KernelKey, engine_hash: str) -> str:
    """The source of the CUDA kernel module for ``key`` (the module docstring says what it does)."""
    tab = tableau_of(key)
    lay = KernelLayout(key)
    src = Source()
    a = Cuda(src, lay, 1)
    f32 = key.precision == "float32"
    emit_header(src, "synsweep CUDA kernel: generated by synsweep.engine.kernel.cuda", key, tab, engine_hash)
    src("import math")
    src("from math import exp")
    src()
    src("import numpy as np")
    src("from numba import cuda")
    src()
    src("from synsweep.engine.device import simulator_enabled")
    src()
    src(f"F = {PRECISIONS[key.precision]}")
    src(f'SIGNATURE = "{signature(key, lay)}"')
    src("if simulator_enabled():  # plain Python: numpy's floor")
    src("    floor_f = floor_d = np.floor")
    src("    INLINE = {}")
    src("else:")
    src("    INLINE = {'forceinline': True}  # LLVM's alwaysinline: a call per model function costs registers")
    src("    from numba.cuda import libdevice")
    src()
    src(f"    floor_f = libdevice.{'floorf' if f32 else 'floor'}")
    src("    floor_d = libdevice.floor")
    src()
    src()
    src.lines += _device_functions(model_functions([*lay.neurons, *lay.synapse_models]))
    src()
    src()
    src.lines += _device_copy(sincos2pi, "floor_d")
    src()
    src()
    src.lines += _device_functions(metric_functions(key.keeps), metrics=True)
    src()
    src()
    args = "X, P, ACC, " + ("REC, " if key.record else "") + \
        "n_steps, n_transient, dt, rec_every, v_bound, coinc_window, sync_tol" + \
        (", kur_every" if lay.kuramoto else "")
    with src.block(f"def run({args}):"):
        src('"""Advance lane cuda.grid(1) of X by n_steps steps of dt; accumulate its metrics from step '
            'n_transient on."""')
        src("lane = cuda.grid(1)")
        with src.block("if lane >= X.shape[1]:"):
            src("return")
        emit_coefficients(src, tab)
        src("dt64 = np.float64(dt)")
        for r, (unit, var) in enumerate(lay.state_rows):
            src(f"y{unit}_{var} = X[{r}, lane]")
        for r in range(lay.n_acc):
            src(f"acc{r} = ACC[{r}, lane]")
        for r, (unit, var) in enumerate(key.record):
            src(f"REC[{r}, 0, lane] = y{unit}_{var}")
        a.tile_setup()
        a.allocations()
        with src.block("for s in range(n_steps):"):
            src("w = np.float64(1.0) if s >= n_transient else np.float64(0.0)")
            src("counting = s >= n_transient")
            src("s64 = np.float64(s)")
            src("t_end = F(s + 1) * dt")
            emit_step(a, tab)
            if lay.kuramoto and "kuramoto" in key.keeps:
                emit_kuramoto_sample(a)
            if key.record:
                with src.block("if rec_every > 0 and (s + 1) % rec_every == 0:"):
                    for r, (unit, var) in enumerate(key.record):
                        src(f"REC[{r}, (s + 1) // rec_every, lane] = y{unit}_{var}")
        for r, (unit, var) in enumerate(lay.state_rows):
            src(f"X[{r}, lane] = y{unit}_{var}")
        for r in range(lay.n_acc):
            src(f"ACC[{r}, lane] = acc{r}")
    return src.text()
