"""Online metrics: what the kernel accumulates per lane, and how it becomes the reported values.

The kernel keeps, from step ``n_transient`` on (the analysed window ``(transient, duration]``):
per neuron the spike count, first and last spike time and the sum and sum of squares of the
inter-spike intervals; per pair the running sums of the two voltages (shifted by the models' resting
values against cancellation), of their squares and product, and of |V_a - V_b|. Spike times are
interpolated linearly within the step in which the voltage crosses the threshold upward.

Definitions (T_w = duration - transient, the analysed window, in ms):
    spike_count       number of upward threshold crossings in the window
    rate_count        spike_count / T_w                                         (Hz)
    rate_isi          1 / mean inter-spike interval; 0 with fewer than 2 spikes (Hz)
    isi_cv            std / mean of the inter-spike intervals; NaN with fewer than 2 intervals
    first_spike_time  time of the first spike in the window; NaN without spikes (ms)
    pearson           Pearson correlation of V_a and V_b over the window's samples (the seed's
                      np.corrcoef); NaN when either trace is constant
    mean_abs_dv       mean |V_a - V_b| over the window's samples (the seed's "phase difference")
    coincidence       2 C / (n_a + n_b), clipped to 1: C counts the spikes that fall within
                      ``coincidence_window`` ms of the other neuron's latest spike (a pair counted once,
                      at its later spike); 1 for identical trains, NaN when neither neuron fires
    plv               phase-locking value |mean exp(2 pi i phi)| of the phases phi = (t_a - t_b,k) /
                      (t_b,k+1 - t_b,k) of neuron a's latest spike within each ISI of neuron b that holds
                      one; 1 for perfect locking at any phase, ~0 for unrelated trains; NaN without phases
    time_to_sync      time (ms) from which on every spike of either neuron lies within ``sync_tolerance``
                      ms of the other's nearest spike (its latest, or the next one expected one ISI of the
                      other later (its latest ISI; this neuron's before the other has two spikes)):
                      the time of the last spike that did not; the first spike time when all did; NaN when
                      the pair was still out of sync at its last spike, or silent
Evidence rules (``Evidence``; spec keys ``simulation.min_spikes``, ``simulation.sync_spikes``):
    coincidence, plv and time_to_sync are NaN unless both neurons fire at least ``min_spikes`` (default 10)
    spikes in the window; time_to_sync is NaN unless the synchrony then held for at least ``sync_spikes``
    (default 5) spikes of each neuron before the end of the run (spikes after the last step with an
    out-of-sync spike). pearson and mean_abs_dv rest on every sample of the window, not on spikes.
Runaway (status 3, ``simulation.max_rate``): a point at which some neuron fires faster than ``max_rate`` (Hz,
default 1000) by its mean inter-spike interval, or more than once every ``RUNAWAY_STEPS`` steps by its mean or
its latest inter-spike interval: the step does not resolve its dynamics. Its neuron metrics are kept (they
show the runaway), its pair and circuit metrics are NaN.
Circuit metric (circuits of at least 3 neurons; a pair has ``plv``), see ``kuramoto_reference``:
    kuramoto          time mean of the Kuramoto order parameter R(t) = |(1/N) sum_k exp(2 pi i phi_k(t))| of
                      the neurons' spike phases phi_k(t) = (t - t_k,last) / (t_k,last - t_k,prev), sampled
                      every ``kuramoto_interval`` ms of the window at which every neuron has >= 2 spikes;
                      1 for identical periodic trains in phase, ~0 for a splay state; NaN without samples
A diverged point (status 2) reports NaN for every float metric and -1 spikes.

Metrics as data. The kernel's bookkeeping comes in *parts* (``Part``, the entries of ``KernelKey.keeps``):
each declares its accumulators (rows of ACC per neuron, per pair or per circuit), their initial values and
its update, a plain scalar float64 function that the kernel generator copies into the kernel and calls per
lane (the path the models' functions take; its arguments bind by name to the step's inputs and to the old
values of the accumulators, it returns the new values of its own). A metric (``MetricInfo``) names the parts
it needs and its finalisation, a function of the accumulators (``Window``). Adding a metric is a change to
this module (and its tests); the generator (``synsweep.engine.kernel``) imports it, never the reverse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .kernel import KernelLayout

    # The parts' updates are copied into the kernels, which import the compiled ``sincos2pi`` themselves
    # (``synsweep.engine.kernel.emit``); here it only names it, so that reading a spec never loads numba.
    from .phase import sincos2pi


# --- the kernel's bookkeeping: parts, their accumulators and their updates -----------------------------------
@dataclass(frozen=True)
class Part:
    """A part of the kernel's online bookkeeping, kept when a requested metric needs it.

    scope: where the kernel calls ``update``, per lane, from step ``n_transient`` on:
        'spike'       per neuron, in a step in which a lane of the tile spiked; inputs ``up`` (1.0 when the
                      neuron spiked in this step, else 0.0) and ``tc`` (the spike's time, ms, interpolated)
        'sample'      per pair, every step; inputs ``w`` (1.0 in the window), ``va``, ``vb`` (the voltages,
                      float64) and ``sa``, ``sb`` (minus the models' resting voltages, against cancellation);
                      its update must add a term to each accumulator: float32 kernels run it in float32 on
                      block sums that are then added to the accumulators (``kernel.emit.partial_rows``)
        'pair_spike'  per pair, in a step with a spike; inputs ``<x>_a``, ``<x>_b`` for x in ``SPIKE_SCRATCH``
                      of the pair's two neurons (before their own 'spike' updates), ``coinc_window``, ``sync_tol``
        'circuit'     every ``kur_every`` steps (circuits of >= ``KURAMOTO_MIN_NEURONS`` neurons): ``term``
                      runs over the neurons (inputs ``t_s``, the neuron's 'spike' accumulators and the running
                      values ``ok``, ``kc``, ``ks``, returned updated), then ``update`` with them and ``n``
    accumulators: the rows it owns (per neuron, per pair or per circuit); initial: their initial values
    (zeros when empty). update: its arguments are inputs of the scope and accumulators (old values, any
    part's of the same neuron or pair); it returns the new values of ``accumulators``, in order.
    """

    name: str
    scope: str
    accumulators: tuple[str, ...]
    update: Callable
    initial: tuple[float, ...] = ()
    term: Callable | None = None

    def initial_value(self, accumulator: str) -> float:
        return self.initial[self.accumulators.index(accumulator)] if self.initial else 0.0


def count_update(up, count):
    """The spike count."""
    return count + up


def first_update(up, tc, count, first):
    """The first spike time (set at the first spike)."""
    seen = min(count, 1.0)
    return first + up * (1.0 - seen) * (tc - first)


def last_update(up, tc, last):
    """The latest spike time."""
    return last + up * (tc - last)


def isi_update(up, tc, count, last, isi_sum, isi_sq):
    """The sum and the sum of squares of the inter-spike intervals."""
    isi = up * min(count, 1.0) * (tc - last)
    return isi_sum + isi, isi_sq + isi * isi


def last_isi_update(up, tc, count, last, last_isi):
    """The latest inter-spike interval."""
    seen = min(count, 1.0)
    isi = up * seen * (tc - last)
    return last_isi + up * seen * (isi - last_isi)


def pearson_sums_update(w, va, vb, sa, sb, sx, sy, sxx, syy, sxy):
    """Running sums of the shifted voltages x = V_a - V_a,rest, y = V_b - V_b,rest, their squares and product."""
    xa = va + sa
    xb = vb + sb
    return sx + w * xa, sy + w * xb, sxx + w * (xa * xa), syy + w * (xb * xb), sxy + w * (xa * xb)


def abs_dv_update(w, va, vb, sad):
    """Running sum of |V_a - V_b|."""
    return sad + w * abs(va - vb)


def coincidence_update(up_a, tc_a, count_a, last_a, up_b, tc_b, count_b, last_b, coinc_window, n_coinc):
    """Coincidences: the later spike of a pair within coinc_window of the other neuron's spike, counted once."""
    both = up_a * up_b * np.float64(abs(tc_a - tc_b) <= coinc_window)
    near_a = up_a * (1.0 - up_b) * min(count_b, 1.0) * np.float64(tc_a - last_b <= coinc_window)
    near_b = up_b * (1.0 - up_a) * min(count_a, 1.0) * np.float64(tc_b - last_a <= coinc_window)
    return n_coinc + (both + near_a + near_b)


def desync_update(up_a, tc_a, count_a, last_a, last_isi_a, up_b, tc_b, count_b, last_b, last_isi_b, sync_tol,
                  t_desync, sync_a, sync_b):
    """The time of the pair's last out-of-sync spike and each neuron's spikes since then (time_to_sync).

    The lag of a spike to the other neuron's nearest spike (its latest, or the next one expected one ISI
    later: the other's latest ISI; before it has one, this neuron's ISI that ends with this spike); the last
    spike whose lag is >= sync_tol marks the end of the time to synchrony."""
    la = up_a * tc_a + (1.0 - up_a) * last_a  # latest spike, this step's included
    ha = min(count_a + up_a, 1.0)  # has spiked (0/1)
    lb = up_b * tc_b + (1.0 - up_b) * last_b
    hb = min(count_b + up_b, 1.0)
    own_a = (tc_a - last_a) if count_a >= 1.0 else 1e300
    own_b = (tc_b - last_b) if count_b >= 1.0 else 1e300
    period_b = last_isi_b if count_b >= 2.0 else own_a
    period_a = last_isi_a if count_a >= 2.0 else own_b
    da = abs(tc_a - lb)
    db = abs(tc_b - la)
    bad_a = up_a * hb * np.float64(min(da, abs(period_b - da)) >= sync_tol)
    bad_b = up_b * ha * np.float64(min(db, abs(period_a - db)) >= sync_tol)
    t_desync = max(t_desync, max(bad_a * (tc_a + 1.0), bad_b * (tc_b + 1.0)) - 1.0)
    insync = 1.0 - max(bad_a, bad_b)
    return t_desync, insync * (sync_a + up_a), insync * (sync_b + up_b)


def plv_update(up_a, tc_a, count_a, last_a, up_b, tc_b, count_b, last_b, plv_c, plv_s, plv_n):
    """Phase sums: the phase of a's latest spike in b's inter-spike interval that ends with b's spike of
    this step."""
    la = up_a * tc_a + (1.0 - up_a) * last_a
    ha = min(count_a + up_a, 1.0)
    valid = up_b * min(count_b, 1.0) * ha * np.float64(la > last_b) * np.float64(la <= tc_b)
    sn, cs = sincos2pi((la - last_b) / max(tc_b - last_b, 1e-300))
    return plv_c + valid * cs, plv_s + valid * sn, plv_n + valid


def kuramoto_term(t_s, count, last, last_isi, ok, kc, ks):
    """Neuron k's share of R at time t_s: exp(2 pi i phi_k) summed into (kc, ks); ok stays 1 while every
    neuron has >= 2 spikes."""
    ok = ok * np.float64(count >= 2.0)
    sn, cs = sincos2pi((t_s - last) / max(last_isi, 1e-300))
    return ok, kc + cs, ks + sn


def kuramoto_update(ok, kc, ks, n, kur_sum, kur_n):
    """R = |sum_k exp(2 pi i phi_k)| / N added to its running sum (a sample only where ``ok``)."""
    return kur_sum + ok * (np.sqrt(kc * kc + ks * ks) / n), kur_n + ok


PARTS: tuple[Part, ...] = (
    Part("count", "spike", ("count",), count_update),
    Part("first", "spike", ("first",), first_update),
    Part("last", "spike", ("last",), last_update),
    Part("isi", "spike", ("isi_sum", "isi_sq"), isi_update),
    Part("last_isi", "spike", ("last_isi",), last_isi_update),
    Part("sums", "sample", ("sx", "sy", "sxx", "syy", "sxy"), pearson_sums_update),
    Part("sad", "sample", ("sad",), abs_dv_update),
    Part("coinc", "pair_spike", ("n_coinc",), coincidence_update),
    Part("desync", "pair_spike", ("t_desync", "sync_a", "sync_b"), desync_update, initial=(-1.0, 0.0, 0.0)),
    Part("plv", "pair_spike", ("plv_c", "plv_s", "plv_n"), plv_update),
    Part("kuramoto", "circuit", ("kur_sum", "kur_n"), kuramoto_update, term=kuramoto_term),
)
PART = {p.name: p for p in PARTS}
# rows of ACC per neuron, per pair, per circuit (see ``KernelLayout``)
NEURON_ACC = tuple(a for p in PARTS if p.scope == "spike" for a in p.accumulators)
PAIR_ACC = tuple(a for p in PARTS if p.scope in ("sample", "pair_spike") for a in p.accumulators)
CIRCUIT_ACC = tuple(a for p in PARTS if p.scope == "circuit" for a in p.accumulators)
KURAMOTO_MIN_NEURONS = 3
# per neuron and step, what the 'pair_spike' parts read of each neuron: spiked (0/1), spike time, and before
# this step: last spike time, spike count, latest ISI
SPIKE_SCRATCH = ("up", "tc", "last", "count", "last_isi")


def initial_value(accumulator: str) -> float:
    """The initial value of an accumulator row (named as in NEURON_ACC, PAIR_ACC, CIRCUIT_ACC)."""
    return next(p.initial_value(accumulator) for p in PARTS if accumulator in p.accumulators)


# --- the reported metrics --------------------------------------------------------------------------------------
class Window:
    """The accumulators of the first ``n`` lanes after a run, as arrays (lanes x neurons, lanes x pairs),
    and the quantities several metrics share; what a metric's finalisation reads."""

    def __init__(self, acc: np.ndarray, layout: KernelLayout, n: int, n_samples: int, dt: float,
                 evidence: Evidence):
        self.acc, self.layout, self.n, self.n_samples, self.dt, self.evidence = acc, layout, n, n_samples, dt, evidence
        key = layout.key
        self.n_neurons, self.n_pairs = len(key.neuron_models), len(key.pairs)
        self.window_ms = n_samples * dt
        self.a_idx = [a for a, _ in key.pairs]
        self.b_idx = [b for _, b in key.pairs]

    def neuron(self, what: str) -> np.ndarray:
        return np.stack([self.acc[self.layout.neuron_acc(k, what)] for k in range(self.n_neurons)], axis=1)

    def pair(self, what: str) -> np.ndarray:
        return np.stack([self.acc[self.layout.pair_acc(q, what)] for q in range(self.n_pairs)], axis=1)

    def circuit(self, what: str) -> np.ndarray:
        return self.acc[self.layout.circuit_acc(what)]

    @cached_property
    def count(self) -> np.ndarray:
        return self.neuron("count") if self.n_neurons else np.zeros((self.n, 0))

    @cached_property
    def n_isi(self) -> np.ndarray:
        return np.maximum(self.count - 1.0, 0.0)

    @cached_property
    def mean_isi(self) -> np.ndarray:
        return np.where(self.n_isi > 0, self.neuron("isi_sum") / np.maximum(self.n_isi, 1.0), np.nan)

    @cached_property
    def n_a(self) -> np.ndarray:
        return self.count[:, self.a_idx]

    @cached_property
    def n_b(self) -> np.ndarray:
        return self.count[:, self.b_idx]

    @cached_property
    def enough(self) -> np.ndarray:
        """Both neurons of the pair fired at least ``min_spikes`` spikes."""
        least = max(self.evidence.min_spikes, 1)
        return (self.n_a >= least) & (self.n_b >= least)


def _isi_cv(win: Window) -> np.ndarray:
    var_isi = np.where(win.n_isi > 1, win.neuron("isi_sq") / np.maximum(win.n_isi, 1.0) - win.mean_isi**2, np.nan)
    return np.sqrt(np.maximum(var_isi, 0.0)) / win.mean_isi


def _pearson(win: Window) -> np.ndarray:
    N = float(win.n_samples)
    sx, sy, sxx, syy, sxy = (win.pair(w) for w in ("sx", "sy", "sxx", "syy", "sxy"))
    vx, vy = N * sxx - sx * sx, N * syy - sy * sy
    d = vx * vy
    return np.where(d > 0, (N * sxy - sx * sy) / np.sqrt(np.where(d > 0, d, 1.0)), np.nan)


def _coincidence(win: Window) -> np.ndarray:
    total = win.n_a + win.n_b
    return np.where(win.enough, np.minimum(2.0 * win.pair("n_coinc") / np.maximum(total, 1.0), 1.0), np.nan)


def _plv(win: Window) -> np.ndarray:
    n_phase = win.pair("plv_n")
    return np.where(win.enough & (n_phase > 0), np.hypot(win.pair("plv_c"), win.pair("plv_s")) /
                    np.maximum(n_phase, 1.0), np.nan)


def _time_to_sync(win: Window) -> np.ndarray:
    n_a, n_b, a_idx, b_idx = win.n_a, win.n_b, win.a_idx, win.b_idx
    first, last, desync = win.neuron("first"), win.neuron("last"), win.pair("t_desync")
    start = np.minimum(np.where(n_a > 0, first[:, a_idx], np.inf), np.where(n_b > 0, first[:, b_idx], np.inf))
    end = np.maximum(np.where(n_a > 0, last[:, a_idx], -np.inf), np.where(n_b > 0, last[:, b_idx], -np.inf))
    held = (win.pair("sync_a") >= win.evidence.sync_spikes) & (win.pair("sync_b") >= win.evidence.sync_spikes)
    return np.where(win.enough & held & (desync < end), np.where(desync < 0, start, desync), np.nan)


def _kuramoto(win: Window) -> np.ndarray:
    if not win.layout.kuramoto:
        return np.full(win.n, np.nan)
    n_kur = win.circuit("kur_n")
    return np.where(n_kur > 0, win.circuit("kur_sum") / np.maximum(n_kur, 1.0), np.nan)


@dataclass(frozen=True)
class MetricInfo:
    """A reported metric: its dims and units, the parts of the kernel's bookkeeping it needs (``PARTS``) and its
    finalisation ``value`` (a Window -> lanes x neurons, lanes x pairs, or lanes for a circuit metric)."""

    name: str
    dim: str  # 'neuron', 'pair' or 'circuit' (one value per point, no extra dim)
    units: str
    long_name: str
    dtype: str = "float64"
    needs: tuple[str, ...] = ()
    value: Callable[[Window], np.ndarray] = field(default=lambda win: None, repr=False, compare=False)


NEURON_METRICS = (
    MetricInfo("spike_count", "neuron", "1", "number of spikes in the analysed window", "int32", ("count",),
               lambda win: win.count),
    MetricInfo("rate_count", "neuron", "Hz", "firing rate by spike count over the analysed window",
               needs=("count",), value=lambda win: win.count / win.window_ms * 1000.0),
    MetricInfo("rate_isi", "neuron", "Hz", "firing rate as 1 / mean inter-spike interval",
               needs=("count", "last", "isi"), value=lambda win: np.where(win.n_isi > 0, 1000.0 / win.mean_isi, 0.0)),
    MetricInfo("isi_cv", "neuron", "1", "coefficient of variation of the inter-spike intervals",
               needs=("count", "last", "isi"), value=_isi_cv),
    MetricInfo("first_spike_time", "neuron", "ms", "time of the first spike in the analysed window",
               needs=("count", "first"), value=lambda win: np.where(win.count > 0, win.neuron("first"), np.nan)),
)
PAIR_METRICS = (
    MetricInfo("pearson", "pair", "1", "Pearson correlation of the two voltage traces", needs=("sums",),
               value=_pearson),
    MetricInfo("mean_abs_dv", "pair", "mV", "mean absolute voltage difference |V_a - V_b|", needs=("sad",),
               value=lambda win: win.pair("sad") / float(win.n_samples)),
    MetricInfo("coincidence", "pair", "1", "fraction of spikes coincident within the coincidence window",
               needs=("count", "last", "coinc"), value=_coincidence),
    MetricInfo("plv", "pair", "1", "phase-locking value of neuron a's spikes in neuron b's cycle",
               needs=("count", "last", "plv"), value=_plv),
    MetricInfo("time_to_sync", "pair", "ms", "time from which the spike trains stay within the sync tolerance",
               needs=("count", "last", "first", "last_isi", "desync"), value=_time_to_sync),
)
CIRCUIT_METRICS = (
    MetricInfo("kuramoto", "circuit", "1", "Kuramoto order parameter (time mean)",
               needs=("count", "last", "last_isi", "kuramoto"), value=_kuramoto),
)
METRICS: dict[str, MetricInfo] = {m.name: m for m in NEURON_METRICS + PAIR_METRICS + CIRCUIT_METRICS}
DEFAULT_METRICS = tuple(METRICS)

# what the kernel keeps for each metric; a kernel computes only what its metric set needs (KernelKey.keeps)
METRIC_NEEDS = {m.name: m.needs for m in METRICS.values()}
# kept whatever the metrics: the evidence of the runaway status (spike counts, mean and latest ISI)
STATUS_NEEDS = ("count", "isi", "last", "last_isi")
EVERYTHING = tuple(sorted({need for needs in (STATUS_NEEDS, *METRIC_NEEDS.values()) for need in needs}))


def keeps_for(metrics: tuple[str, ...] | None) -> tuple[str, ...]:
    """What a kernel keeps for ``metrics`` (sorted, the kernel key's ``keeps``); None: every metric."""
    if metrics is None:
        return EVERYTHING
    return tuple(sorted({need for m in metrics for need in METRIC_NEEDS[m]} | set(STATUS_NEEDS)))


STATUS_NOT_COMPUTED, STATUS_OK, STATUS_DIVERGED, STATUS_RUNAWAY = 0, 1, 2, 3
STATUS_MEANINGS = ("not_computed", "ok", "diverged", "runaway")
RUNAWAY_STEPS = 3  # a neuron firing more often than once every this many steps is runaway


@dataclass(frozen=True)
class Evidence:
    """What a metric needs before it reports a value (see the module docstring)."""

    min_spikes: int = 10
    sync_spikes: int = 5
    max_rate: float = 1000.0


def time_units(neuron_models) -> str:
    """The time units of a circuit of ``neuron_models`` (NeuronModel): "ms", or a dimensionless model's own."""
    return next((m.time_units for m in neuron_models if m.time_units != "ms"), "ms")


def voltage_units(neuron_models) -> str:
    """The units of the voltage-like variables (each model's ``voltage``) of a circuit of ``neuron_models``:
    a dimensioned model's ("mV"), else "1" (a circuit of dimensionless models such as hr; a spike source's
    placeholder voltage, "1", takes the units of the neurons beside it)."""
    return next((u for m in neuron_models if (u := m.state_var(m.voltage).units) != "1"), "1")


def metric_units(name: str, time: str = "ms", voltage: str = "mV") -> str:
    """Units of metric ``name`` when time is in ``time`` units and voltages in ``voltage`` units: the listed
    units for ms and mV; otherwise times in ``time``, rates (spikes per ms x 1000) per 1000 ``time``, never
    Hz, and voltage differences in ``voltage``."""
    units = METRICS[name].units
    if units == "mV":
        return voltage
    if time == "ms":
        return units
    return {"Hz": f"1/(1000 {time})", "ms": time}.get(units, units)


def metric_applies(name: str, n_neurons: int, n_pairs: int) -> bool:
    """Whether metric ``name`` exists for a circuit of ``n_neurons`` neurons and ``n_pairs`` pairs."""
    dim = METRICS[name].dim
    if dim == "pair":
        return n_pairs > 0
    if dim == "circuit":
        return n_neurons >= KURAMOTO_MIN_NEURONS
    return True


def kuramoto_reference(spike_times: list[np.ndarray], sample_times: np.ndarray) -> float:
    """The Kuramoto order parameter from spike times (post hoc; the kernel computes it online).

    ``spike_times``: per neuron, its spike times (ms, ascending) within the analysed window;
    ``sample_times``: the times at which R is sampled (the kernel: every ``kuramoto_interval`` ms of the
    window, at the end of a step, that step's spikes included).

    The spike phase of neuron k at time t is phi_k(t) = (t - t_k,last) / (t_k,last - t_k,prev) cycles: the
    time since its latest spike at or before t over its latest completed inter-spike interval (exact for a
    regularly firing neuron; the wrap is implicit in exp(2 pi i phi)). At a sample time where every neuron
    has at least 2 spikes, R(t) = |(1/N) sum_k exp(2 pi i phi_k(t))|; the metric is the mean of R over those
    samples, NaN when there are none.
    """
    values = []
    for t in np.asarray(sample_times, dtype=np.float64):
        z = 0j
        for times in spike_times:
            times = np.asarray(times, dtype=np.float64)
            m = int(np.searchsorted(times, t, side="right"))
            if m < 2:
                break
            last, prev = times[m - 1], times[m - 2]
            z += np.exp(2j * np.pi * (t - last) / (last - prev))
        else:
            values.append(abs(z) / len(spike_times))
    return float(np.mean(values)) if values else float("nan")


def finalize(acc: np.ndarray, layout: KernelLayout, n: int, n_samples: int, dt: float,
             names: tuple[str, ...] = DEFAULT_METRICS, evidence: Evidence = Evidence()) -> dict[str, np.ndarray]:
    """Reported metrics of the first ``n`` lanes from the accumulators ``acc`` (float64, rows x lanes).

    Returns arrays of shape (n, n_neurons) or (n, n_pairs) per metric, (n,) per circuit metric (all NaN for a
    circuit it does not apply to), plus ``status`` and ``diverged_step`` of shape (n,).
    """
    acc = acc[:, :n]
    win = Window(acc, layout, n, n_samples, dt, evidence)
    diverged_step = acc[layout.diverged_row].astype(np.int64)
    diverged = diverged_step >= 0
    out: dict[str, np.ndarray] = {}
    # runaway: a neuron's mean ISI shorter than 1 / max_rate or than RUNAWAY_STEPS steps, or its latest ISI
    # shorter than RUNAWAY_STEPS steps
    count = win.count
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_isi = win.mean_isi
    last_isi = win.neuron("last_isi") if win.n_neurons else np.zeros((n, 0))
    with np.errstate(invalid="ignore"):
        shortest_mean = max(RUNAWAY_STEPS * dt, 1000.0 / evidence.max_rate)
        fast = (count >= 2) & (np.nan_to_num(mean_isi, nan=np.inf) < shortest_mean)
        fast |= (count >= 2) & (last_isi < RUNAWAY_STEPS * dt)
    runaway = ~diverged & fast.any(axis=1)
    for name in names:
        info = METRICS[name]
        if info.dim == "pair" and not win.n_pairs:
            v = np.zeros((n, 0))
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                v = info.value(win)
        bad = diverged | runaway if info.dim in ("pair", "circuit") else diverged
        bad = bad if info.dim == "circuit" else bad[:, None]
        if info.dtype == "int32":
            v = np.where(bad, -1, v).astype(np.int32)
        else:
            v = np.where(bad, np.nan, v)
        out[name] = v
    out["status"] = np.select([diverged, runaway], [STATUS_DIVERGED, STATUS_RUNAWAY], STATUS_OK).astype(np.int8)
    out["diverged_step"] = diverged_step
    return out
