"""Per-model throughput and circuit-size scaling of the engine (issue 4's speed report).

    python tests/benchmarks/bench_models.py [--B 4096] [--reps 3] [--sizes 2 4 8] [--precision float64]

For every neuron model: a pair joined by an electrical synapse (HH's W1 configuration for hh). For every
synapse model: a spiking LIF driving a LIF through it (HH -> HH for the diffusion synapse). Then an
all-to-all gap-junction circuit of N HH neurons for each N of --sizes. Prints neuron-steps/s (best of
--reps, one thread), the ratio to the HH pair, and the cold compile time of each kernel. RK4, dt 0.01 ms.
Not part of the test suite: nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from itertools import combinations

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

from synsweep.engine import NEURON_MODELS, SYNAPSE_MODELS, Circuit, Neuron, Simulation, Synapse, simulate  # noqa: E402

DRIVE = {"hh": 0.1, "hr": 3.0, "cif": 3.0, "lif": 25.0, "izh": 10.0, "spike_source": 0.0}
LIF = {"V_rest": -65.0, "V_reset": -70.0, "V_th": -50.0}


def neuron_pair(model: str) -> Circuit:
    cell = LIF if model == "lif" else {}
    return Circuit(neurons=(Neuron("a", model, params=cell), Neuron("b", model, params=cell)),
                   synapses=(Synapse("gap", "electrical", "a", "b"),) if model != "spike_source" else (),
                   inputs={"a": DRIVE[model], "b": 0.8 * DRIVE[model]})


def synapse_pair(model: str) -> Circuit:
    neuron, cell = ("hh", {}) if model == "diffusion" else ("lif", LIF)
    return Circuit(neurons=(Neuron("a", neuron, params=cell), Neuron("b", neuron, params=cell)),
                   synapses=(Synapse("s", model, "a", "b"),), inputs={"a": DRIVE[neuron], "b": 0.5 * DRIVE[neuron]})


def all_to_all(n: int) -> Circuit:
    names = [f"n{i}" for i in range(n)]
    return Circuit(neurons=tuple(Neuron(x, "hh") for x in names),
                   synapses=tuple(Synapse(f"g{a}_{b}", "electrical", names[a], names[b])
                                  for a, b in combinations(range(n), 2)),
                   inputs={x: 0.1 for x in names}, pairs=())


def measure(circuit: Circuit, sim: Simulation, B: int, reps: int) -> tuple[float, float]:
    """(best neuron-steps/s, cold compile seconds)."""
    first = simulate(circuit, sim, n_points=64)
    best = min(simulate(circuit, sim, n_points=B).seconds for _ in range(reps))
    return len(circuit.neurons) * B * sim.n_steps / best, first.compile_seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--B", type=int, default=4096)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="*", default=[2, 4, 8])
    ap.add_argument("--precision", default="float64")
    ap.add_argument("--duration", type=float, default=20.0)
    args = ap.parse_args()
    os.environ.setdefault("SYNSWEEP_CACHE_DIR", tempfile.mkdtemp(prefix="synsweep-bench-"))  # cold compiles
    sim = Simulation(dt=0.01, duration=args.duration, precision=args.precision)
    rows = [("neuron " + m, neuron_pair(m)) for m in NEURON_MODELS]
    rows += [("synapse " + m, synapse_pair(m)) for m in SYNAPSE_MODELS]
    rows += [(f"hh all-to-all N={n}", all_to_all(n)) for n in args.sizes]
    base = None
    print(f"{'configuration':28s} {'neuron-steps/s':>15s} {'vs hh pair':>10s} {'compile s':>10s}")
    for label, circuit in rows:
        speed, compile_s = measure(circuit, sim, args.B, args.reps)
        base = base or speed
        print(f"{label:28s} {speed:15.3g} {speed / base:10.2f} {compile_s:10.1f}", flush=True)


if __name__ == "__main__":
    main()
