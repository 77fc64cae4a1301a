"""Bit-for-bit check of the engine: run a fixed set of circuits, save every metric, final state and trace.

    python tests/benchmarks/bitcheck_engine.py OUT.npz            # with the engine on sys.path
    python tests/benchmarks/bitcheck_engine.py --compare A.npz B.npz

Circuits: HH gap pair, HR pair, cif pair with two_stage synapses both ways, DSyn (delayed ampa, voltage_jump,
nmda), a 10-neuron ring (looped layout), 9 HR all-to-all gap junctions (looped, gap group); euler/rk4/rk6,
float32/float64, coupled/split, traces, and a metric selection. The comparison is np.array_equal with NaNs
equal, and NaN positions. Run it before and after a change to the kernel generator (a separate
SYNSWEEP_CACHE_DIR each, PYTHONPATH to the older package for the "before" run); not part of the test suite.
"""
import sys
from itertools import combinations

import numpy as np

if sys.argv[1] == "--compare":
    a, b = np.load(sys.argv[2]), np.load(sys.argv[3])
    assert sorted(a.files) == sorted(b.files), set(a.files) ^ set(b.files)
    bad = [k for k in a.files if not (a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and
                                      np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f"))]
    nan_ok = all(np.array_equal(np.isnan(a[k]), np.isnan(b[k])) for k in a.files if a[k].dtype.kind == "f")
    print(f"{len(a.files)} arrays compared; differing: {bad}; NaN positions equal: {nan_ok}")
    sys.exit(1 if bad or not nan_ok else 0)

from synsweep.engine import Circuit, Neuron, Simulation, Synapse, simulate  # noqa: E402

N = 24
lin = lambda a, b: np.linspace(a, b, N)  # noqa: E731
HH2 = Circuit(neurons=(Neuron("a", "hh"), Neuron("b", "hh", init={"v": -60.0})),
              synapses=(Synapse("g", "electrical", "a", "b"),), inputs={"a": 0.1, "b": 0.08}, pairs=(("a", "b"),))
HR2 = Circuit(neurons=(Neuron("a", "hr"), Neuron("b", "hr", init={"x": -1.0})),
              synapses=(Synapse("g", "electrical", "a", "b"),), inputs={"a": 3.0, "b": 3.1}, pairs=(("a", "b"),))
CIF2 = Circuit(neurons=(Neuron("a", "cif"), Neuron("b", "cif")),
               synapses=(Synapse("ab", "two_stage", "a", "b"), Synapse("ba", "two_stage", "b", "a")),
               inputs={"a": 3.5, "b": 3.6}, pairs=(("a", "b"),))
LIF = {"V_rest": -65.0, "V_reset": -70.0, "V_th": -50.0}
DSYN = Circuit(neurons=(Neuron("src", "spike_source", params={"period": 7.0}), Neuron("l", "lif", params=LIF),
                        Neuron("h", "hh")),
               synapses=(Synapse("a", "ampa", "src", "l", params={"delay": 1.5}),
                         Synapse("j", "voltage_jump", "l", "h"), Synapse("n", "nmda", "src", "h")),
               inputs={"l": 14.0, "h": 0.05}, pairs=(("l", "h"), ("src", "l")))
names = [f"n{i}" for i in range(10)]
RING = Circuit(neurons=tuple(Neuron(x, "hh" if i % 3 else "lif", params={} if i % 3 else LIF)
                             for i, x in enumerate(names)),
               synapses=tuple(Synapse(f"r{i}", "ampa", names[i], names[(i + 1) % 10], params={"delay": 0.5 * (i % 3)})
                              for i in range(10)) + (Synapse("gap", "electrical", "n1", "n2"),),
               inputs={x: (0.12 if i % 3 else 16.0) for i, x in enumerate(names)}, pairs=(("n1", "n2"), ("n0", "n3")))
hn = [f"h{i}" for i in range(9)]
GAP9 = Circuit(neurons=tuple(Neuron(x, "hr", init={"x": -1.0 + 0.1 * i}) for i, x in enumerate(hn)),
               synapses=tuple(Synapse(f"g{a}_{b}", "electrical", hn[a], hn[b]) for a, b in combinations(range(9), 2)),
               inputs={x: 3.0 for x in hn}, pairs=(("h0", "h8"),))

CASES = {
    "hh": (HH2, {"synapses.g.params.g1": lin(0, 0.01), "inputs.a": lin(0.05, 0.15)}, ["v"]),
    "hr": (HR2, {"synapses.g.params.g1": lin(0, 0.5), "inputs.a": lin(2.5, 3.5)}, ["x"]),
    "cif": (CIF2, {"inputs.a": lin(3, 4), "synapses.ab.params.tau_syn": lin(5, 20)}, ["v"]),
    "dsyn": (DSYN, {"synapses.a.params.delay": lin(0, 3), "synapses.a.params.g_max": lin(0, 1),
                    "inputs.h": lin(0.0, 0.2)}, ["v"]),
    "ring": (RING, {"inputs.n1": lin(0.05, 0.2), "synapses.r2.params.delay": lin(0, 2)}, ["v"]),
    "gap9": (GAP9, {"inputs.h0": lin(2.5, 3.5)}, ["x"]),
}
out = {}
for name, (circuit, values, rec) in CASES.items():
    dt, dur = (0.01, 40.0) if name not in ("hr", "gap9") else (0.01, 60.0)
    for integ, prec, scheme in [("rk4", "float64", "coupled"), ("euler", "float32", "coupled"),
                                ("rk6", "float64", "split"), ("rk4", "float32", "split")]:
        if name in ("ring", "gap9") and integ == "rk6":
            continue
        sim = Simulation(dt=dt, duration=dur, transient=5.0, integrator=integ, precision=prec, scheme=scheme,
                         kuramoto_interval=0.2)
        res = simulate(circuit, sim, values, record=rec, record_every=7)
        tag = f"{name}-{integ}-{prec}-{scheme}"
        for m, arr in res.metrics.items():
            out[f"{tag}/m/{m}"] = np.asarray(arr)
        for k, arr in res.final_state.items() if isinstance(res.final_state, dict) else []:
            out[f"{tag}/x/{k}"] = np.asarray(arr)
        for k, arr in res.traces.items():
            out[f"{tag}/t/{k}"] = np.asarray(arr)
        print(tag, flush=True)
    # a selected metric set (keeps) too
    res = simulate(circuit, Simulation(dt=dt, duration=dur, transient=5.0), values, metrics=("spike_count", "pearson"))
    for m, arr in res.metrics.items():
        out[f"{name}-sel/m/{m}"] = np.asarray(arr)
np.savez(sys.argv[1], **out)
print(len(out), "arrays")
