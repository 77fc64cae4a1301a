"""W1 benchmark: synsweep's engine against its peers, interleaved, in one run on one machine.

    python tests/benchmarks/bench_engine.py [--B 1000 10000] [--reps 3] [--service] [--peers c numpy pyloop]

W1 (../shared/bench/w1/README.md): B independent gap-junction-coupled HH pairs, g over [0, 0.01], I_ext over
[0.05, 0.15] uA (neuron 2 at 0.8 I_ext), RK4 over the coupled system, dt 0.01 ms, 100 ms. Throughput is
neuron-steps per second (2 B steps / s), single thread. Peers: the hand-written vectorised C (`hh_vec`), the
same with shared exponentials (`hh_vec_sharedexp`), NumPy, and the seed-style Python loop (extrapolated from a
few pairs); Brian2 when a venv with it is given (--brian2-venv, made by ../shared/bench/w1/setup_peers.sh).
Each implementation's spike totals and sum of Pearson r are printed beside its speed, so a fast wrong
answer shows. --service also runs W1 through the whole service (the `synsweep run` command on a LocalCluster of
2 single-threaded workers, timed from the command's start to its exit) and reports it against 2x the
single-core engine measured just before it.

Not part of the test suite: speed is reported as ratios measured in the same run, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SYNSWEEP_SHARED", ROOT.parent / "shared"))
W1 = SHARED / "bench" / "w1"


def build_c_peers(build: Path) -> dict[str, Path]:
    """Compile the C peers with the flags of w1/build_c.sh into ``build`` (shared/ stays untouched)."""
    src = build / "c"
    shutil.copytree(W1 / "c", src, dirs_exist_ok=True)
    fast = ["-O3", "-march=native", "-ffast-math", "-fopenmp"]
    out = {"c_vec": build / "hh_vec", "c_vec_sharedexp": build / "hh_vec_sharedexp"}
    subprocess.run(["gcc", *fast, "-o", str(out["c_vec"]), str(src / "hh.c"), "-lmvec", "-lm"], check=True)
    subprocess.run(["gcc", *fast, "-DSHARED_EXP=1", "-o", str(out["c_vec_sharedexp"]), str(src / "hh.c"),
                    "-lmvec", "-lm"], check=True)
    return out


def run_c(binary: Path, B: int, prec: str) -> dict:
    flag = "d" if prec == "float64" else "f"
    proc = subprocess.run([str(binary), "--B", str(B), "--prec", flag, "--threads", "1"],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def run_python_peer(impl: str, B: int, python: str = sys.executable) -> dict:
    proc = subprocess.run([python, str(W1 / "py" / "bench_one.py"), "--impl", impl, "--B", str(B)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_brian2(venv: Path, B: int) -> dict:
    proc = subprocess.run([str(venv / "bin" / "python"), str(W1 / "py" / "w1_brian2.py"), "--target",
                           "cpp_standalone", "--variant", "pairunit", "--B", str(B)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def w1_problem(B: int):
    sys.path.insert(0, str(W1 / "py"))
    import w1common

    from synsweep.engine import Circuit, Neuron, Synapse

    g, i1, i2 = w1common.grid(B)
    circuit = Circuit(neurons=(Neuron("n1", "hh", init={"v": w1common.V10}),
                               Neuron("n2", "hh", init={"v": w1common.V20})),
                      synapses=(Synapse("gap", "electrical", "n1", "n2"),))
    values = {"synapses.gap.params.g1": g, "synapses.gap.params.g2": g, "inputs.n1": i1, "inputs.n2": i2}
    return circuit, values


def run_engine(B: int, prec: str) -> dict:
    from synsweep.engine import Simulation, simulate

    circuit, values = w1_problem(B)
    sim = Simulation(dt=0.01, duration=100.0, integrator="rk4", precision=prec, scheme="coupled")
    res = simulate(circuit, sim, values)
    counts = res.metrics["spike_count"]
    return {"impl": "synsweep", "prec": prec, "B": B, "time_s": res.seconds,
            "neuron_steps_per_s": 2.0 * B * sim.n_steps / res.seconds, "spikes1_total": int(counts[:, 0].sum()),
            "spikes2_total": int(counts[:, 1].sum()), "r_sum": float(np.nansum(res.metrics["pearson"])),
            "compile_s": res.compile_seconds}


def service_run(B: int, workers: int = 2) -> dict:
    """W1 through ``synsweep run SPEC --out STORE --workers 2`` (warm kernel cache, default chunking), timed
    as a whole command: interpreter start, spec checks, the kernel measurement for the estimate, the
    LocalCluster's start and close, scheduling, kernels and zarr writes."""
    import yaml

    ng = int(np.sqrt(B))
    doc = {
        "name": "w1-service",
        "circuit": {"neurons": {"n1": {"model": "hh", "init": {"v": -75.0}},
                                "n2": {"model": "hh", "init": {"v": -65.0}}},
                    "synapses": {"gap": {"model": "electrical", "pre": "n1", "post": "n2"}}},
        "simulation": {"dt": 0.01, "duration": 100.0, "integrator": "rk4", "precision": "float64", "scheme": "coupled"},
        "sweep": [{"name": "g", "paths": ["synapses.gap.params.g1", "synapses.gap.params.g2"],
                   "linspace": {"start": 0.0, "stop": 0.01, "num": ng}},
                  {"name": "I_ext", "paths": {"inputs.n1": 1.0, "inputs.n2": 0.8},
                   "linspace": {"start": 0.05, "stop": 0.15, "num": B // ng}}],
    }
    cli = Path(sys.executable).parent / "synsweep"
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "w1.yaml"
        spec.write_text(yaml.safe_dump(doc))
        start = time.perf_counter()
        wall = time.time()
        subprocess.run([str(cli), "run", str(spec), "--out", str(Path(tmp) / "w1.zarr"), "--workers", str(workers),
                        "--no-progress"], check=True, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        markers = (Path(tmp) / "w1.zarr" / ".synsweep" / "done").iterdir()  # written as each task ends
        tasks = [(m.stat().st_mtime, json.loads(m.read_text())) for m in markers]
    first = min(end - info["seconds"] for end, info in tasks) - wall
    last = max(end for end, _ in tasks) - wall
    neuron_steps = 2 * ng * (B // ng) * round(100.0 / 0.01)
    return {"impl": f"synsweep run ({workers} workers, whole command)", "prec": "float64", "B": ng * (B // ng),
            "time_s": elapsed, "neuron_steps_per_s": neuron_steps / elapsed,
            "sweep_s": last - first, "before_first_task_s": first, "after_last_task_s": elapsed - last}


def engines_at_once(n: int = 2, B: int = 10_000) -> float:
    """Summed neuron-steps/s of ``n`` engine processes running W1 at the same time, one thread each: what this
    machine's cores deliver together (shared caches, memory and the hypervisor make it less than n x one)."""
    cmd = [sys.executable, __file__, "--one-engine", str(B)]
    subprocess.run(cmd, check=True, capture_output=True)  # load the kernel outside the timing
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(n)]
    return sum(json.loads(p.communicate()[0].strip().splitlines()[-1])["neuron_steps_per_s"] for p in procs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--one-engine", type=int, metavar="B", help=argparse.SUPPRESS)  # used by engines_at_once
    ap.add_argument("--B", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--precisions", nargs="+", default=["float64", "float32"])
    ap.add_argument("--peers", nargs="*", default=["c", "numpy", "pyloop"])
    ap.add_argument("--brian2-venv", type=Path, default=None)
    ap.add_argument("--service", action="store_true")
    ap.add_argument("--service-B", type=int, default=100_000)
    a = ap.parse_args()
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    if a.one_engine:
        print(json.dumps(run_engine(a.one_engine, "float64")))
        return

    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as build:
        c_bins = build_c_peers(Path(build)) if "c" in a.peers else {}
        for B in a.B:
            for prec in a.precisions:
                run_engine(min(B, 256), prec)  # compile / load the kernel outside the timings
                for _ in range(a.reps):  # interleaved repetitions
                    rows.append(run_engine(B, prec))
                    for name, binary in c_bins.items():
                        rows.append(run_c(binary, B, prec) | {"impl": name})
            if "numpy" in a.peers and B <= 1000:
                rows.append(run_python_peer("numpy", B))
            if "pyloop" in a.peers and B <= 1000:
                rows.append(run_python_peer("pyloop", B))
            if a.brian2_venv and B <= 10000:
                rows.append(run_brian2(a.brian2_venv, B))
    pairs: list[float] = []  # service / (2 x engine), each against the engine measured just before it
    phases: list[float] = []  # the same for the tasks' phase alone (first task start to last write)
    ceilings: list[float] = []  # service / (2 engine processes running at once)
    if a.service:
        for _ in range(a.reps):
            engine = run_engine(10_000, "float64")
            rows.append(engine)
            both = engines_at_once(2)
            service = service_run(a.service_B)
            rows.append(service)
            steps = service["neuron_steps_per_s"] * service["time_s"]
            ideal = steps / (2 * engine["neuron_steps_per_s"])
            pairs.append(service["neuron_steps_per_s"] / (2 * engine["neuron_steps_per_s"]))
            phases.append(ideal / service["sweep_s"])
            ceilings.append(service["neuron_steps_per_s"] / both)
            print(f"synsweep run: {service['time_s']:.1f} s = {service['before_first_task_s']:.1f} s to the first "
                  f"task + {service['sweep_s']:.1f} s of tasks + {service['after_last_task_s']:.1f} s after the last; "
                  f"2 x engine would take {ideal:.1f} s, 2 engines at once {steps / both:.1f} s", flush=True)

    print(f"\nW1 on {os.cpu_count()} cores, 1 thread per implementation; neuron-steps/s (min, median of reps)\n")
    header = (f"{'impl':<42} {'prec':<8} {'B':>7} {'median':>10} {'min':>10} {'engine/this':>11}"
              "  spikes (n1, n2)   r_sum")
    print(header)
    print("-" * len(header))
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["impl"], r.get("prec", "float64"), r["B"]), []).append(r)
    engine_speed = {(p, B): statistics.median(x["neuron_steps_per_s"] for x in rs)
                    for (impl, p, B), rs in groups.items() if impl == "synsweep"}
    for (impl, prec, B), rs in groups.items():
        speeds = [x["neuron_steps_per_s"] for x in rs]
        med = statistics.median(speeds)
        ref = engine_speed.get((prec, B)) or engine_speed.get((prec, min(a.B)))
        ratio = f"{ref / med:10.2f}x" if ref and impl != "synsweep" else ""
        spikes = f"({rs[0].get('spikes1_total', '-')}, {rs[0].get('spikes2_total', '-')})"
        r_sum = rs[0].get("r_sum")
        print(f"{impl:<42} {prec:<8} {B:>7} {med:10.3e} {min(speeds):10.3e} {ratio:>11}  {spikes:<17} "
              f"{'' if r_sum is None else f'{r_sum:.9f}'}")
    if a.service:
        print(f"\nsynsweep run / (2 x single-core engine measured just before it), per repetition: "
              f"{', '.join(f'{x:.2f}' for x in pairs)}; median {statistics.median(pairs):.2f}")
        print(f"its tasks' phase (first task start to last write) / (2 x engine): "
              f"{', '.join(f'{x:.2f}' for x in phases)}; median {statistics.median(phases):.2f}")
        print(f"synsweep run / (2 engine processes at once, this machine's two cores together): "
              f"{', '.join(f'{x:.2f}' for x in ceilings)}; median {statistics.median(ceilings):.2f}")


if __name__ == "__main__":
    main()
