"""Simulate a batch of independent copies of a circuit: the engine's entry point.

    result = simulate(circuit, Simulation(dt=0.01, duration=100), values={"inputs.n1": I})

``values`` maps paths (see ``synsweep.engine.circuit``) to one value per point; every other number
comes from the circuit. Points are lanes of one vectorised kernel; they never interact.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .circuit import Circuit
from .integrators import INTEGRATORS
from .kernel import PRECISIONS, SCHEMES, TILE, KernelKey, KernelLayout
from .kernel import layout as kernel_layout
from .kernels import COMPILE_SECONDS, get_kernel
from .metrics import DEFAULT_METRICS, METRICS, Evidence, finalize, time_units

# The most steps one simulation may have: spike times are computed from the step count in float64, exact up to 2^53.
MAX_STEPS = 2 ** 53


@dataclass(frozen=True)
class Simulation:
    """How to integrate: step, duration and analysed window (ms), method, precision, coupling scheme.

    divergence_bound: a point whose voltage-like variable leaves [-bound, bound] or becomes NaN is
    marked diverged at that step; the other points go on.
    coincidence_window, sync_tolerance: ms, of the spike-synchrony metrics (``synsweep.engine.metrics``).
    kuramoto_interval: ms between the samples of the Kuramoto order parameter (metric ``kuramoto``),
        rounded to a whole number of steps (at least one step).
    min_spikes, sync_spikes: the evidence rules of the synchrony metrics (``synsweep.engine.metrics``).
    max_rate: Hz; a point whose neuron fires faster (or more than once every 3 steps) is flagged runaway.
    """

    dt: float
    duration: float
    transient: float = 0.0
    integrator: str = "rk4"
    precision: str = "float64"
    scheme: str = "coupled"
    divergence_bound: float = 1.0e4
    coincidence_window: float = 2.0
    sync_tolerance: float = 1.0
    kuramoto_interval: float = 1.0
    min_spikes: int = 10
    sync_spikes: int = 5
    max_rate: float = 1000.0

    def __post_init__(self) -> None:
        """Refuse values that cannot be simulated, naming the field (the spec layer, ``synsweep.sweeps.spec``,
        checks the same ranges with its own messages before a sweep is planned)."""
        for name in ("dt", "duration", "divergence_bound", "coincidence_window", "sync_tolerance",
                     "kuramoto_interval", "max_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
                    or value <= 0:
                raise ValueError(f"Simulation.{name} must be a finite number > 0, got {value!r}")
        if self.dt > self.duration:
            raise ValueError(f"Simulation.dt {self.dt:g} is longer than the duration {self.duration:g}; give a "
                             "step shorter than the duration")
        if self.duration / self.dt > MAX_STEPS:
            raise ValueError(f"Simulation.duration {self.duration:g} is {self.duration / self.dt:.3g} steps of dt = "
                             f"{self.dt:g}, more than the {MAX_STEPS:.3g} steps the engine counts exactly; give a "
                             "shorter duration or a larger dt")
        if isinstance(self.transient, bool) or not isinstance(self.transient, numbers.Real) \
                or not 0.0 <= self.transient < self.duration:
            raise ValueError(f"Simulation.transient must be >= 0 and shorter than the duration "
                             f"({self.duration:g}), got {self.transient!r}")
        for name, valid in (("integrator", tuple(INTEGRATORS)), ("precision", tuple(PRECISIONS)),
                            ("scheme", SCHEMES)):
            if getattr(self, name) not in valid:
                raise ValueError(f"Simulation.{name} {getattr(self, name)!r} is not one of {', '.join(valid)}")
        for name in ("min_spikes", "sync_spikes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"Simulation.{name} must be a whole number >= 1, got {value!r}")

    @property
    def n_steps(self) -> int:
        return int(round(self.duration / self.dt))

    @property
    def n_transient(self) -> int:
        return int(round(self.transient / self.dt))

    @property
    def kuramoto_every(self) -> int:
        """Steps between the samples of the Kuramoto order parameter."""
        return max(1, int(round(self.kuramoto_interval / self.dt)))

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.precision)


@dataclass
class SimResult:
    metrics: dict[str, np.ndarray]  # (n, n_neurons), (n, n_pairs), or (n,) for status/diverged_step
    traces: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (neuron, var) -> (n, samples)
    trace_times: np.ndarray | None = None  # ms, one per sample
    final_state: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0  # kernel time
    compile_seconds: float = 0.0  # generating and compiling (or loading) the kernel; 0 if this process had it


def resolve_record(circuit: Circuit, record: Sequence[str]) -> tuple[tuple[int, str], ...]:
    """Trace rows (unit, var) for ``record`` entries 'var' (every neuron that has it) or 'name.var' (a
    neuron's or a synapse's state variable). Units: neurons 0..N-1 in order, then synapses."""
    units = [(n.name, n.definition.state_names) for n in circuit.neurons]
    units += [(s.name, s.definition.state_names) for s in circuit.synapses]
    rows: list[tuple[int, str]] = []
    for item in record:
        name, _, var = item.rpartition(".")
        for u, (unit, states) in enumerate(units):
            wanted = unit == name if name else u < len(circuit.neurons)
            if wanted and var in states and (u, var) not in rows:
                rows.append((u, var))
    return tuple(rows)


# The longest delay a synapse may have, in steps of dt: its ring buffer (a power of two above the delay in
# steps) then holds at most 2^20 slots of one tile of lanes, 512 MiB (10 s of delay at dt = 0.01 ms).
MAX_DELAY_STEPS = (1 << 20) - 2


def delay_steps(delay: float | np.ndarray, dt: float) -> int:
    """The largest of ``delay`` in whole steps of ``dt`` (as the kernel rounds it)."""
    return int(np.max(np.floor(np.asarray(delay, dtype=np.float64) / dt + 0.5)))


def delay_rings(circuit: Circuit, simulation: Simulation, values: Mapping[str, np.ndarray]) -> tuple[int, ...]:
    """Ring buffer length per synapse: a power of two above its largest delay in steps + 1 (1: no delay).
    Raises ValueError for a delay of more than ``MAX_DELAY_STEPS`` steps (its buffer would not fit in memory)."""
    rings = []
    for syn in circuit.synapses:
        if not syn.definition.spike_triggered:
            rings.append(1)
            continue
        path = f"synapses.{syn.name}.params.delay"
        delay = values.get(path, syn.params.get("delay", 0.0))
        steps = delay_steps(delay, simulation.dt)
        if steps > MAX_DELAY_STEPS:
            unit = time_units([n.definition for n in circuit.neurons])
            raise ValueError(f"{path}: a delay of {np.max(delay):g} {unit} is {steps:,} steps of dt = "
                             f"{simulation.dt:g}, more than the {MAX_DELAY_STEPS:,} steps a delay buffer holds; "
                             f"give a delay of at most {MAX_DELAY_STEPS * simulation.dt:g} {unit}")
        # one slot of headroom: the kernel rounds delay / dt itself and may land one step higher on a tie
        rings.append(1 if steps <= 0 else 1 << (steps + 1).bit_length())
    return tuple(rings)


def varying_rows(circuit: Circuit, paths: Collection[str]) -> tuple[int, ...]:
    """Rows of the parameter table given per point in ``paths`` (a default that follows a varying
    parameter varies too); every other parameter is uniform over the batch."""
    given = set(paths)
    for neuron in circuit.neurons:
        for p in neuron.definition.params:
            source = f"neurons.{neuron.name}.params.{p.default_from}"
            if p.default_from and p.name not in neuron.params and source in given:
                given.add(f"neurons.{neuron.name}.params.{p.name}")
    return tuple(r for r, path in enumerate(circuit.param_paths()) if path in given)


# tie equal uniform conductances of diffusive synapses in the kernel key, so that the looped layout sums an
# all-to-all gap-junction group in O(N) (False: every synapse is evaluated on its own; for tests and benchmarks)
GAP_GROUPS = True


def tied_rows(circuit: Circuit, varying: Collection[int]) -> tuple[tuple[int, ...], ...]:
    """Classes (two rows or more) of the uniform conductance rows of diffusive synapses (``Output.diffusive``)
    that hold the same value in the circuit. Only for circuits large enough for the looped layout, the only
    one that uses them; a conductance given per point is never tied, so ties do not depend on the chunking."""
    if not GAP_GROUPS or (len(circuit.neurons) <= kernel_layout.MAX_UNROLLED_NEURONS
                          and len(circuit.synapses) <= kernel_layout.MAX_UNROLLED_SYNAPSES):
        return ()
    table = circuit.param_paths()
    index = {path: r for r, path in enumerate(table)}
    varying = set(varying)
    classes: dict[float, list[int]] = {}
    for syn in circuit.synapses:
        out = syn.definition.output(syn.output)
        for name in (out.diffusive or ()) if out is not None else ():
            r = index[f"synapses.{syn.name}.params.{name}"]
            if r not in varying:
                classes.setdefault(table[f"synapses.{syn.name}.params.{name}"], []).append(r)
    return tuple(tuple(sorted(set(rows))) for rows in classes.values() if len(set(rows)) > 1)


def kernel_key(circuit: Circuit, simulation: Simulation, values: Mapping[str, np.ndarray] | None = None,
               record: Sequence[str] = (), metrics: Sequence[str] = DEFAULT_METRICS) -> KernelKey:
    """The compiled kernel that ``simulate`` uses for these arguments: parameters that ``values`` gives
    per point vary between lanes, the others are scalars of the kernel; the kernel computes only what
    ``metrics`` need."""
    values = values or {}
    varying = varying_rows(circuit, values)
    return KernelKey.for_circuit(circuit, simulation.integrator, simulation.precision, simulation.scheme,
                                 resolve_record(circuit, record), delay_rings(circuit, simulation, values),
                                 varying, tied_rows(circuit, varying), tuple(metrics))


def check_key(key: KernelKey, circuit: Circuit, simulation: Simulation, values: Mapping[str, np.ndarray],
              record: Sequence[str] = (), metrics: Sequence[str] = DEFAULT_METRICS) -> None:
    """Raise ValueError unless the kernel ``key`` computes these arguments bit for bit as the kernel of their own
    ``kernel_key`` would: the same circuit structure, integrator, precision, scheme, record and metrics; every
    parameter that ``values`` gives per point varying in ``key`` (a row that varies in ``key`` but is uniform here
    reads the same value in every lane); ring buffers at least as long as these delays need (a longer ring only
    holds slots never read); tied rows that hold equal values and are not given per point."""
    own = kernel_key(circuit, simulation, values, record, metrics)
    if key == own:
        return
    problems = []
    same_structure = (len(key.synapses) == len(own.synapses)
                      and all(k[:4] == o[:4] for k, o in zip(key.synapses, own.synapses, strict=False))
                      and dataclasses.replace(own, synapses=key.synapses, varying=key.varying, tied=key.tied) == key)
    if not same_structure:
        problems.append("it is the kernel of another circuit, integrator, precision, scheme, record or metrics")
    else:
        short = [s.name for s, k, o in zip(circuit.synapses, key.synapses, own.synapses, strict=True) if k[4] < o[4]]
        if short:
            problems.append(f"its delay rings are too short for the delays of synapse(s) {', '.join(short)}")
        uniform = sorted(set(own.varying or ()) - set(key.varying)) if key.varying is not None else []
        table = circuit.param_paths()
        paths, numbers = list(table), list(table.values())
        if uniform:
            problems.append(f"it holds {', '.join(paths[r] for r in uniform)} uniform, given here per point")
        for rows in key.tied:
            if set(rows) & set(own.varying or ()) or len({numbers[r] for r in rows}) > 1:
                problems.append(f"it ties {', '.join(paths[r] for r in rows)}, which differ here")
    if problems:
        raise ValueError(f"the kernel key given does not fit this batch: {'; '.join(problems)}")


def _lane_values(path: str, given) -> np.ndarray:
    """The values of ``path`` as a 1-D float64 array (a scalar: one value for every point)."""
    try:
        v = np.atleast_1d(np.asarray(given, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"{path}: values must be numbers, got {given!r}") from None
    if v.ndim != 1:
        raise ValueError(f"{path}: values must be one number per point (a 1-D array), got shape {v.shape}")
    return v


def simulate(
    circuit: Circuit,
    simulation: Simulation,
    values: Mapping[str, np.ndarray | float] | None = None,
    *,
    n_points: int | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    record: Sequence[str] = (),
    record_every: int = 1,
    key: KernelKey | None = None,
    device: str = "cpu",
) -> SimResult:
    """Integrate ``n_points`` copies of ``circuit``; point ``p`` takes ``values[path][p]`` for each path.

    Returns the metrics (``synsweep.engine.metrics``), the final state and, when ``record`` names
    variables, their traces sampled every ``record_every`` steps (sample 0 is the initial state). The
    kernel computes only what ``metrics`` need (a metric's value does not depend on the others asked for).

    ``key``: the kernel to run, computed once for many batches (a sweep's plan: ``synsweep.sweeps.plan``);
    by default this batch's own ``kernel_key``. A key that does not compute this batch exactly as its own
    would is refused (``check_key``); one that does gives bit-identical results.
    ``device``: 'cpu', or 'cuda' (one point per GPU thread, ``synsweep.engine.cuda``; the same arrays in and
    out, the same results to the tolerance of docs/models.md; ``seconds`` then includes the copies to and
    from the GPU).
    """
    values = {k: _lane_values(k, v) for k, v in (values or {}).items()}
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {', '.join(map(repr, unknown))}; metrics: {', '.join(METRICS)}")
    n = n_points or max((v.size for v in values.values()), default=1)
    known = circuit.paths()
    for path, v in values.items():
        if path not in known:
            raise KeyError(f"unknown path {path!r}; known paths: {', '.join(known)}")
        if v.size not in (1, n):
            raise ValueError(f"{path}: {v.size} values for {n} points")

    for path, v in values.items():
        info = circuit.param_info(path)
        if info is None or not info.domain:
            continue
        bad = [float(x) for x in np.unique(v) if info.refuses(x)]
        if bad:
            raise ValueError(f"{path}: must be {info.domain} ({info.long_name}), got {bad[0]!r}")
    rec_rows = resolve_record(circuit, record)
    if key is None:
        key = kernel_key(circuit, simulation, values, record, metrics)
    else:
        check_key(key, circuit, simulation, values, record, metrics)
    layout = KernelLayout(key)
    if device == "cuda":  # one lane per GPU thread: no tiles, no padding
        from .cuda import CUDA_COMPILE_SECONDS as compiled
        from .cuda import get_cuda_kernel

        first_use = key not in compiled  # loaded (or compiled) by this call, not earlier in this process
        module, tile = get_cuda_kernel(key), 1
    elif device == "cpu":
        compiled = COMPILE_SECONDS
        first_use = key not in compiled
        module, tile = get_kernel(key), TILE[simulation.precision]
    else:
        raise ValueError(f"unknown device {device!r}; devices: cpu, cuda")
    dtype = simulation.dtype
    lanes = max(tile, math.ceil(n / tile) * tile)

    params_init = circuit.init_paths()

    def per_lane(path: str, default: float | None) -> np.ndarray | None:
        v = values.get(path)
        if v is None:
            return None if default is None else np.full(n, default, dtype=np.float64)
        return np.broadcast_to(v, (n,)).astype(np.float64)

    def padded(a: np.ndarray) -> np.ndarray:
        """Pad to whole tiles with copies of the last point, so padding lanes stay well-behaved."""
        return np.concatenate([a, np.full(lanes - n, a[-1])]) if lanes > n else a

    params = circuit.param_paths()
    lane_params = {path: per_lane(path, base) for path, base in params.items()}
    for neuron in circuit.neurons:  # a default taken from another parameter follows that parameter per point
        for p in neuron.definition.params:
            path = f"neurons.{neuron.name}.params.{p.name}"
            if p.default_from and p.name not in neuron.params and path not in values:
                lane_params[path] = lane_params[f"neurons.{neuron.name}.params.{p.default_from}"]
    P = np.empty((len(params), lanes), dtype=dtype)
    for r, path in enumerate(params):
        P[r] = padded(lane_params[path])
    X = np.empty((len(layout.state_rows), lanes), dtype=dtype)
    for k, neuron in enumerate(circuit.neurons):
        model = neuron.definition
        given = {v: per_lane(f"neurons.{neuron.name}.init.{v}", neuron.init.get(v)) for v in model.state_names}
        par = {p: lane_params[f"neurons.{neuron.name}.params.{p}"] for p in model.param_names}
        init = model.fill_initial_state(given, par)
        for v in model.state_names:
            X[layout.state_row(k, v)] = padded(np.broadcast_to(np.asarray(init[v], np.float64), (n,)))
    for j, syn in enumerate(circuit.synapses):
        for v in syn.definition.state:
            path = f"synapses.{syn.name}.init.{v.name}"
            X[layout.state_row(len(circuit.neurons) + j, v.name)] = padded(per_lane(path, params_init[path]))

    ACC = np.repeat(np.asarray(layout.acc_initial, dtype=np.float64)[:, None], lanes, axis=1)

    n_steps, n_transient = simulation.n_steps, simulation.n_transient
    args: list = [X, P, ACC]
    n_samples = n_steps // record_every + 1 if rec_rows else 0
    if rec_rows:
        REC = np.empty((len(rec_rows), n_samples, lanes), dtype=dtype)
        args.append(REC)
    args += [n_steps, n_transient, dtype.type(simulation.dt), record_every if rec_rows else 0,
             dtype.type(simulation.divergence_bound), float(simulation.coincidence_window),
             float(simulation.sync_tolerance)]
    if layout.kuramoto:  # 0: the metric is not asked for, no samples
        args.append(simulation.kuramoto_every if "kuramoto" in metrics else 0)
    start = time.perf_counter()
    module.run(*args)
    seconds = time.perf_counter() - start

    result = SimResult(
        metrics=finalize(ACC, layout, n, n_steps - n_transient, simulation.dt, tuple(metrics),
                         Evidence(simulation.min_spikes, simulation.sync_spikes, simulation.max_rate)),
        seconds=seconds,
        compile_seconds=compiled[key] if first_use else 0.0,
    )
    unit_names = circuit.neuron_names + tuple(s.name for s in circuit.synapses)
    for (u, var) in layout.state_rows:
        result.final_state[(unit_names[u], var)] = X[layout.state_row(u, var), :n].copy()
    if rec_rows:
        for r, (u, var) in enumerate(rec_rows):
            result.traces[(unit_names[u], var)] = REC[r, :, :n].T.copy()
        result.trace_times = np.arange(n_samples) * record_every * simulation.dt
    return result
