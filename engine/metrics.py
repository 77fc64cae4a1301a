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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .kernel import KernelLayout

# --- what the kernel accumulates (rows of ACC per neuron, per pair, per circuit; see ``KernelLayout``)
NEURON_ACC = ("count", "first", "last", "isi_sum", "isi_sq", "last_isi")
PAIR_ACC = ("sx", "sy", "sxx", "syy", "sxy", "sad", "n_coinc", "t_desync", "plv_c", "plv_s", "plv_n",
            "sync_a", "sync_b")
# per circuit of at least KURAMOTO_MIN_NEURONS neurons: the sum of the Kuramoto order parameter R over its samples
# and the number of samples (see ``synsweep.engine.metrics``)
CIRCUIT_ACC = ("kur_sum", "kur_n")
KURAMOTO_MIN_NEURONS = 3
# per neuron and step, for the pairs' spike synchrony: spiked (0/1), spike time, and before this step: last
# spike time, spike count, latest ISI
SPIKE_SCRATCH = ("up", "tc", "last", "count", "last_isi")

# what the kernel keeps for each metric (``synsweep.engine.metrics``); a kernel computes only what its metric
# set needs (KernelKey.keeps): count = spike counts; last = spike times and the last spike time; isi = ISI sums;
# first = first spike time; last_isi = the latest ISI; sums = the Pearson running sums; sad = sum of |V_a - V_b|;
# coinc, desync, plv = the pairs' spike synchrony parts; kuramoto = the circuit's order parameter samples
METRIC_NEEDS = {
    "spike_count": ("count",),
    "rate_count": ("count",),
    "rate_isi": ("count", "last", "isi"),
    "isi_cv": ("count", "last", "isi"),
    "first_spike_time": ("count", "first"),
    "pearson": ("sums",),
    "mean_abs_dv": ("sad",),
    "coincidence": ("count", "last", "coinc"),
    "plv": ("count", "last", "plv"),
    "time_to_sync": ("count", "last", "first", "last_isi", "desync"),
    "kuramoto": ("count", "last", "last_isi", "kuramoto"),
}
# kept whatever the metrics: the evidence of the runaway status (spike counts, mean and latest ISI)
STATUS_NEEDS = ("count", "isi", "last", "last_isi")
EVERYTHING = tuple(sorted({need for needs in (STATUS_NEEDS, *METRIC_NEEDS.values()) for need in needs}))


def keeps_for(metrics: tuple[str, ...] | None) -> tuple[str, ...]:
    """What a kernel keeps for ``metrics`` (sorted, the kernel key's ``keeps``); None: every metric."""
    if metrics is None:
        return EVERYTHING
    return tuple(sorted({need for m in metrics for need in METRIC_NEEDS[m]} | set(STATUS_NEEDS)))


@dataclass(frozen=True)
class MetricInfo:
    name: str
    dim: str  # 'neuron', 'pair' or 'circuit' (one value per point, no extra dim)
    units: str
    long_name: str
    dtype: str = "float64"


NEURON_METRICS = (
    MetricInfo("spike_count", "neuron", "1", "number of spikes in the analysed window", "int32"),
    MetricInfo("rate_count", "neuron", "Hz", "firing rate by spike count over the analysed window"),
    MetricInfo("rate_isi", "neuron", "Hz", "firing rate as 1 / mean inter-spike interval"),
    MetricInfo("isi_cv", "neuron", "1", "coefficient of variation of the inter-spike intervals"),
    MetricInfo("first_spike_time", "neuron", "ms", "time of the first spike in the analysed window"),
)
PAIR_METRICS = (
    MetricInfo("pearson", "pair", "1", "Pearson correlation of the two voltage traces"),
    MetricInfo("mean_abs_dv", "pair", "mV", "mean absolute voltage difference |V_a - V_b|"),
    MetricInfo("coincidence", "pair", "1", "fraction of spikes coincident within the coincidence window"),
    MetricInfo("plv", "pair", "1", "phase-locking value of neuron a's spikes in neuron b's cycle"),
    MetricInfo("time_to_sync", "pair", "ms", "time from which the spike trains stay within the sync tolerance"),
)
CIRCUIT_METRICS = (
    MetricInfo("kuramoto", "circuit", "1", "Kuramoto order parameter (time mean)"),
)
METRICS: dict[str, MetricInfo] = {m.name: m for m in NEURON_METRICS + PAIR_METRICS + CIRCUIT_METRICS}
DEFAULT_METRICS = tuple(METRICS)

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


def metric_units(name: str, time: str = "ms") -> str:
    """Units of metric ``name`` when time is in ``time`` units: the listed units for ms; otherwise times in
    ``time`` and rates (spikes per ms x 1000) per 1000 ``time``, never Hz."""
    units = METRICS[name].units
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
    key = layout.key
    n_neurons, n_pairs = len(key.neuron_models), len(key.pairs)
    window_ms = n_samples * dt
    diverged_step = acc[layout.diverged_row].astype(np.int64)
    diverged = diverged_step >= 0
    out: dict[str, np.ndarray] = {}

    def neuron_rows(what: str) -> np.ndarray:
        return np.stack([acc[layout.neuron_acc(k, what)] for k in range(n_neurons)], axis=1)

    def pair_rows(what: str) -> np.ndarray:
        return np.stack([acc[layout.pair_acc(q, what)] for q in range(n_pairs)], axis=1)

    count = neuron_rows("count") if n_neurons else np.zeros((n, 0))
    n_isi = np.maximum(count - 1.0, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_isi = np.where(n_isi > 0, neuron_rows("isi_sum") / np.maximum(n_isi, 1.0), np.nan)
        var_isi = np.where(n_isi > 1, neuron_rows("isi_sq") / np.maximum(n_isi, 1.0) - mean_isi**2, np.nan)
        values = {
            "spike_count": count,
            "rate_count": count / window_ms * 1000.0,
            "rate_isi": np.where(n_isi > 0, 1000.0 / mean_isi, 0.0),
            "isi_cv": np.sqrt(np.maximum(var_isi, 0.0)) / mean_isi,
            "first_spike_time": np.where(count > 0, neuron_rows("first"), np.nan),
        }
        if n_pairs:
            N = float(n_samples)
            sx, sy, sxx, syy, sxy = (pair_rows(w) for w in ("sx", "sy", "sxx", "syy", "sxy"))
            vx, vy = N * sxx - sx * sx, N * syy - sy * sy
            d = vx * vy
            values["pearson"] = np.where(d > 0, (N * sxy - sx * sy) / np.sqrt(np.where(d > 0, d, 1.0)), np.nan)
            values["mean_abs_dv"] = pair_rows("sad") / N
            a_idx = [a for a, _ in key.pairs]
            b_idx = [b for _, b in key.pairs]
            n_a, n_b = count[:, a_idx], count[:, b_idx]
            total = n_a + n_b
            enough = (n_a >= max(evidence.min_spikes, 1)) & (n_b >= max(evidence.min_spikes, 1))
            values["coincidence"] = np.where(enough, np.minimum(2.0 * pair_rows("n_coinc") /
                                                                   np.maximum(total, 1.0), 1.0), np.nan)
            n_phase = pair_rows("plv_n")
            values["plv"] = np.where(enough & (n_phase > 0), np.hypot(pair_rows("plv_c"), pair_rows("plv_s")) /
                                     np.maximum(n_phase, 1.0), np.nan)
            first = neuron_rows("first")
            last = neuron_rows("last")
            desync = pair_rows("t_desync")
            start = np.minimum(np.where(n_a > 0, first[:, a_idx], np.inf), np.where(n_b > 0, first[:, b_idx], np.inf))
            end = np.maximum(np.where(n_a > 0, last[:, a_idx], -np.inf), np.where(n_b > 0, last[:, b_idx], -np.inf))
            held = (pair_rows("sync_a") >= evidence.sync_spikes) & (pair_rows("sync_b") >= evidence.sync_spikes)
            values["time_to_sync"] = np.where(enough & held & (desync < end),
                                              np.where(desync < 0, start, desync), np.nan)
        if layout.kuramoto:
            n_kur = acc[layout.circuit_acc("kur_n")]
            values["kuramoto"] = np.where(n_kur > 0, acc[layout.circuit_acc("kur_sum")] / np.maximum(n_kur, 1.0),
                                          np.nan)
        else:
            values["kuramoto"] = np.full(n, np.nan)
    # runaway: a neuron's mean ISI shorter than 1 / max_rate or than RUNAWAY_STEPS steps, or its latest ISI
    # shorter than RUNAWAY_STEPS steps
    last_isi = neuron_rows("last_isi") if n_neurons else np.zeros((n, 0))
    with np.errstate(invalid="ignore"):
        shortest_mean = max(RUNAWAY_STEPS * dt, 1000.0 / evidence.max_rate)
        fast = (count >= 2) & (np.nan_to_num(mean_isi, nan=np.inf) < shortest_mean)
        fast |= (count >= 2) & (last_isi < RUNAWAY_STEPS * dt)
    runaway = ~diverged & fast.any(axis=1)
    for name in names:
        info = METRICS[name]
        if info.dim == "pair" and not n_pairs:
            v = np.zeros((n, 0))
        else:
            v = values[name]
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
