"""Cost of the online Kuramoto order parameter (metric ``kuramoto``): sampled every step against every 1 ms.

    python tests/benchmarks/bench_kuramoto.py [--sizes 3 10 100] [--lanes 64] [--duration 40] [--reps 5]

A chain of N HH neurons joined by electrical synapses (default g), RK4, dt 0.01 ms, float64; N = 3 uses the
unrolled kernel layout, N = 10 and 100 the looped one. For each N: neuron-steps/s (best and median of --reps,
the three settings interleaved) without the metric, with it sampled every step, and every 1 ms (the default
``simulation.kuramoto_interval``). Not part of the test suite: nothing is asserted.
"""

from __future__ import annotations

import argparse

import numpy as np

from synsweep.engine import Circuit, Neuron, Simulation, Synapse, simulate


def chain(n: int) -> Circuit:
    names = [f"n{i}" for i in range(n)]
    return Circuit(neurons=tuple(Neuron(x, "hh") for x in names),
                   synapses=tuple(Synapse(f"g{i}", "electrical", names[i], names[i + 1]) for i in range(n - 1)),
                   inputs={x: 0.1 for x in names}, pairs=())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 10, 100])
    parser.add_argument("--lanes", type=int, default=64)
    parser.add_argument("--duration", type=float, default=40.0)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    settings = (("off", ("spike_count",), 1.0), ("every step", ("spike_count", "kuramoto"), 0.01),
                ("every 1 ms", ("spike_count", "kuramoto"), 1.0))
    for n in args.sizes:
        circuit = chain(n)
        values = {"inputs.n0": np.linspace(0.05, 0.2, args.lanes)}
        rates: dict[str, list[float]] = {label: [] for label, _, _ in settings}
        for _, metrics, interval in settings:  # compile (or load) every kernel before timing
            simulate(circuit, Simulation(dt=0.01, duration=0.1, kuramoto_interval=interval), values, metrics=metrics)
        for _ in range(args.reps):
            for label, metrics, interval in settings:
                sim = Simulation(dt=0.01, duration=args.duration, kuramoto_interval=interval)
                result = simulate(circuit, sim, values, metrics=metrics)
                rates[label].append(args.lanes * n * sim.n_steps / result.seconds)
        base = max(rates["off"])
        for label, _, _ in settings:
            best, median = max(rates[label]), float(np.median(rates[label]))
            print(f"N={n:3d} {label:11s} {best / 1e6:7.2f} M neuron-steps/s (median {median / 1e6:6.2f})"
                  f"  {best / base:6.3f} x off", flush=True)


if __name__ == "__main__":
    main()
