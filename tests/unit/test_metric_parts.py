"""Metrics as data (``synsweep.engine.metrics.PARTS``): each part's update is a plain scalar function, so it
can be checked here in Python, step by step, against the quantity it stands for; the kernel calls the same
functions (copied in by the generator). No kernel is compiled in this file."""

import inspect

import numpy as np
import pytest

from synsweep.engine import metrics
from synsweep.engine.kernel import KernelKey, generate
from synsweep.engine.metrics import PART, PARTS, SPIKE_SCRATCH

SCOPE_INPUTS = {
    "spike": {"up", "tc"},
    "sample": {"w", "va", "vb", "sa", "sb"},
    "pair_spike": {f"{w}_{s}" for w in SPIKE_SCRATCH for s in "ab"} | {"coinc_window", "sync_tol"},
    "circuit": {"ok", "kc", "ks", "n"},
}
SCOPE_ACCUMULATORS = {"spike": metrics.NEURON_ACC, "sample": metrics.PAIR_ACC, "pair_spike": metrics.PAIR_ACC,
                      "circuit": metrics.CIRCUIT_ACC}


@pytest.mark.parametrize("part", PARTS, ids=lambda p: p.name)
def test_a_part_reads_only_its_scope(part):
    """Every argument of an update is an input of its scope or an accumulator of the same neuron / pair."""
    allowed = SCOPE_INPUTS[part.scope] | set(SCOPE_ACCUMULATORS[part.scope])
    assert set(inspect.signature(part.update).parameters) <= allowed
    assert set(part.accumulators) <= set(inspect.signature(part.update).parameters)
    assert len(part.initial) in (0, len(part.accumulators))


def test_every_metric_needs_known_parts():
    for info in metrics.METRICS.values():
        assert set(info.needs) <= set(PART), info.name
    assert set(metrics.EVERYTHING) == set(PART)


def run_spike_parts(times: np.ndarray, steps: int, dt: float) -> dict[str, float]:
    """The 'spike' parts over a train with one spike at each of ``times`` (one per step at most)."""
    acc = {a: metrics.initial_value(a) for a in metrics.NEURON_ACC}
    spike_steps = {int(round(t / dt)): t for t in times}
    for s in range(steps):
        up, tc = (1.0, spike_steps[s]) if s in spike_steps else (0.0, 0.0)
        new = {}
        for part in (p for p in PARTS if p.scope == "spike"):
            names = inspect.signature(part.update).parameters
            out = part.update(**{x: {"up": up, "tc": tc}.get(x, acc.get(x)) for x in names})
            new.update(zip(part.accumulators, out if isinstance(out, tuple) else (out,), strict=True))
        acc.update(new)
    return acc


def test_spike_parts_give_counts_times_and_isi_sums():
    rng = np.random.default_rng(3)
    dt = 0.1
    times = np.sort(rng.choice(np.arange(5, 990), 40, replace=False)) * dt + 0.03
    acc = run_spike_parts(times, 1000, dt)
    isi = np.diff(times)
    assert acc["count"] == len(times)
    assert acc["first"] == times[0] and acc["last"] == times[-1]
    assert acc["isi_sum"] == pytest.approx(isi.sum(), rel=1e-13)
    assert acc["isi_sq"] == pytest.approx((isi**2).sum(), rel=1e-13)
    assert acc["last_isi"] == pytest.approx(isi[-1], rel=1e-13)


def test_sample_parts_give_the_pearson_sums():
    rng = np.random.default_rng(4)
    va, vb = rng.normal(-60, 5, 500), rng.normal(-62, 3, 500)
    acc = {a: 0.0 for a in metrics.PAIR_ACC}
    for x, y in zip(va, vb, strict=True):
        acc.update(zip(PART["sums"].accumulators, metrics.pearson_sums_update(
            1.0, x, y, 65.0, 65.0, *(acc[a] for a in PART["sums"].accumulators)), strict=True))
        acc["sad"] = metrics.abs_dv_update(1.0, x, y, acc["sad"])
    assert acc["sxy"] == pytest.approx(((va + 65) * (vb + 65)).sum(), rel=1e-12)
    assert acc["sad"] == pytest.approx(np.abs(va - vb).sum(), rel=1e-12)


def test_the_kernel_calls_only_the_kept_parts():
    """The generator copies the updates of the parts a key keeps, and calls each of them."""
    key = KernelKey(("lif", "lif"), (), ((0, 1),), "rk4", "float64", "coupled", keeps=metrics.keeps_for(("pearson",)))
    source = generate(key, "test")
    kept = set(key.keeps)
    for part in PARTS:
        called = f"metrics__{part.update.__name__}(" in source
        assert called == (part.name in kept), part.name
