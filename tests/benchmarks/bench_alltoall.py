"""Cost per neuron-step of all-to-all gap-junction circuits against the HH pair (issue 4's acceptance item).

    python tests/benchmarks/bench_alltoall.py [--sizes 10 50 100] [--reps 5] [--general]

The HH pair (W1: electrical synapse, RK4, dt 0.01 ms) and all-to-all HH circuits of N neurons (N (N - 1) / 2
electrical synapses of one uniform conductance) are timed interleaved, repetition by repetition, on one
thread; prints min and median neuron-steps/s and the cost per neuron-step relative to the pair (pair speed /
circuit speed, from the best runs). ``--general`` adds, for each N, the same circuit through the per-synapse
evaluation (no gap group: ``simulate.GAP_GROUPS = False``), interleaved with the rest. Not part of the test
suite: nothing is asserted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

from bench_models import all_to_all  # noqa: E402  (this folder: benchmarks run as scripts)

from synsweep.engine import Circuit, Neuron, Simulation, Synapse, simulate  # noqa: E402


def pair() -> Circuit:
    return Circuit(neurons=(Neuron("a", "hh"), Neuron("b", "hh")), synapses=(Synapse("gap", "electrical", "a", "b"),),
                   inputs={"a": 0.1, "b": 0.08})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[10, 50, 100])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--duration", type=float, default=5.0, help="ms of simulated time per run")
    ap.add_argument("--neuron-steps", type=float, default=4e6, help="about this many neuron-steps per run")
    ap.add_argument("--precision", default="float64")
    ap.add_argument("--general", action="store_true", help="also time the per-synapse evaluation of each N")
    args = ap.parse_args()
    sim = Simulation(dt=0.01, duration=args.duration, precision=args.precision)
    mod = importlib.import_module("synsweep.engine.simulate")
    cases = [("hh pair", pair(), True)]
    for n in args.sizes:
        cases.append((f"all-to-all N={n}", all_to_all(n), True))
        if args.general:
            cases.append((f"all-to-all N={n} general", all_to_all(n), False))

    def run(circuit: Circuit, grouped: bool, points: int) -> float:
        mod.GAP_GROUPS = grouped
        try:
            return simulate(circuit, sim, n_points=points).seconds
        finally:
            mod.GAP_GROUPS = True

    lanes = {}
    for label, circuit, grouped in cases:
        n = len(circuit.neurons)
        lanes[label] = max(64, int(args.neuron_steps / (n * sim.n_steps)) // 64 * 64)
        run(circuit, grouped, 64)  # compile (or load) first
    speeds: dict[str, list[float]] = {label: [] for label, _, _ in cases}
    for _ in range(args.reps):
        for label, circuit, grouped in cases:
            B = lanes[label]
            speeds[label].append(len(circuit.neurons) * B * sim.n_steps / run(circuit, grouped, B))
    base = max(speeds["hh pair"])
    print(f"{'configuration':30s} {'lanes':>6s} {'max n-steps/s':>14s} {'median':>10s} {'cost vs pair':>13s}")
    for label, _, _ in cases:
        s = speeds[label]
        print(f"{label:30s} {lanes[label]:6d} {max(s):14.3g} {statistics.median(s):10.3g} {base / max(s):13.2f}")


if __name__ == "__main__":
    main()
