"""Engine benchmarks: synsweep's engine against its peers, interleaved, in one run on one machine.

    python tests/benchmarks/bench_engine.py [--workload w1|w2|if] [--B 997 10007] [--reps 3]
        [--precisions float64 float32] [--metrics off peer default] [--steps S] [--service]
        [--peers c c-same-rules numpy pyloop] [--brian2-venv VENV]
    python tests/benchmarks/bench_engine.py --device cuda --workload w1|w2 [--B 100000 1000000] [--reps 3]

Workloads (throughput in neuron-steps per second, 2 B steps / s, one thread):
- w1 (../shared/bench/w1/README.md): B gap-junction-coupled Hodgkin-Huxley pairs, g over [0, 0.01], I_ext of
  neuron 1 over [0.05, 0.15] uA (neuron 2 at 0.8 I_ext), RK4 over the coupled system, dt 0.01 ms, 100 ms.
  Peers: the hand-written vectorised C (`hh_vec`, 6 exponentials per rate evaluation), the same with shared
  exponentials (`hh_vec_sharedexp`, 2 like the engine: the like-for-like peer), NumPy and the seed-style
  Python loop (B <= 1000, extrapolated from a few pairs), Brian2 when a venv with it is given
  (--brian2-venv, made by ../shared/bench/w1/setup_peers.sh; its build goes to a temporary directory).
- w2 (../shared/bench/w2/README.md): B electrically coupled Hindmarsh-Rose pairs, RK4, dt 0.01, 1000 time
  units (100,000 steps); peer `w2_hr`, hand-written C.
- if: B if-sync pairs (seed 002: two `cif` neurons joined both ways by `two_stage` conductance synapses),
  I_ext over [3, 4] nA, g_star over [15, 60] nS, tau_syn over [5, 20] ms, RK4, dt 0.01 ms, 100 ms; peer
  tests/benchmarks/peers/if_pair.c, hand-written C doing the engine's work for this circuit (its equations, RK4
  step, refractory counter, within-step spike timing of the synaptic jumps and divergence check: the same spike
  totals), and its lean variant `c_if_vec_lean` without the last three (one loop per step).
--steps shortens (or lengthens) any workload. --baseline DIR adds another version of the engine to every
repetition, "synsweep (baseline)": DIR holds its `synsweep` package (for example made from a commit with
`git archive` and links synsweep/{engine,sweeps,workflows} to its folders), run in a subprocess with DIR
first on PYTHONPATH; before and after measured in one interleaved run, as a busy machine needs.
--peers c-same-rules (with c; W2 and IF) adds the C peer compiled a second time with the engine's floating-point
rules (gcc flags SAME_RULES: what LLVM's nsz, arcp and contract allow, no reassociation, NaN kept) instead of
-ffast-math: the like-for-like arithmetic, beside the documented build.
--clock cpu times every implementation by its CPU time (the engine's thread around `simulate`, a C peer's
process) instead of the wall clock: on a machine shared with other work, the time a process waited for a core
does not count, so ratios within a run stay stable (wall-clock spreads of 2x shrink to a few percent); the
service is always timed by the wall clock.

Every repetition runs each implementation once, in an order that alternates between repetitions (forward,
then reversed), each in a fresh process (the engine too: a compiled kernel's speed varies by up to ~10%
between processes, with where its code and buffers land), so that the machine's drift and the other
processes on it weigh on all alike; the table
gives the median and the spread (min, max) of the repetitions and the engine's median over each peer's.
--metrics measures the engine with the metric sets: off (none), peer (spike_count and pearson, what the C
peers keep) and default (every metric that applies, a spec's default), and reports the cost of each over
off. Each implementation's spike totals (and W1's sum of Pearson r) are printed beside its speed, so a fast
wrong answer shows. --service also runs the workload through the whole service (the `synsweep run` command
on a LocalCluster of 2 single-threaded workers, timed from the command's start to its exit) and reports it
against 2x the single-core engine measured just before it, and against 2 engine processes run at once; and the
CPU time of the whole command (driver, scheduler and workers) against the engine's CPU time for the same work,
which a machine shared with other work changes far less than the wall-clock ratios.

--device cuda (needs a GPU and pip install 'synsweep[cuda]'): the engine's CUDA kernels (one pair per GPU
thread) at the sizes of --B (default 10^5 and 10^6 pairs), against the CPU engine on all of this machine's
cores (one single-threaded engine process per core, running at once, B = 10,007 each) and the C peers run the
same way (one process per core); the GPU's time includes copying the parameters in and the metrics back. The
table gives each one's median neuron-steps/s and the GPU's over it.

Not part of the test suite: speed is reported as ratios measured in the same run, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SYNSWEEP_SHARED", ROOT.parent / "shared"))
W1 = SHARED / "bench" / "w1"
W2 = SHARED / "bench" / "w2"
PEERS = Path(__file__).resolve().parent / "peers"
FAST = ["-O3", "-march=native", "-ffast-math"]
# The engine's floating-point rules in gcc's terms (docs/models.md, "fastmath policy"): LLVM's nsz, arcp and
# contract, no errno, no traps; no reassociation, NaN and inf kept. `--peers c-same-rules` builds the W2 and IF
# peers a second time with these flags, so that a table shows what the peer's -ffast-math buys it.
SAME_RULES = ["-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fno-signed-zeros",
              "-freciprocal-math", "-ffp-contract=fast"]
METRIC_SETS = ("off", "peer", "default")
DEFAULT_B = [997, 10_007]


@dataclass(frozen=True)
class Workload:
    name: str
    dt: float
    steps: int  # default number of steps
    problem: Callable  # B -> (circuit, values)
    service_doc: Callable  # (B, steps) -> (spec document, number of points)
    service_B: int


# -- the problems, as the engine sees them ------------------------------------------------------------------
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


def w2_problem(B: int):
    """w2/README.md: pair p has g = 0.5 p / (B - 1), I1 = 0.2 (p mod 101) / 100, I2 = 0.8 I1."""
    from synsweep.engine import Circuit, Neuron, Synapse

    p = np.arange(B)
    g = 0.5 * p / max(B - 1, 1)
    i1 = 0.2 * (p % 101) / 100.0
    circuit = Circuit(neurons=(Neuron("n1", "hr", init={"x": -1.5, "y": -10.0, "z": 0.0}),
                               Neuron("n2", "hr", init={"x": -1.0, "y": -8.0, "z": 0.1})),
                      synapses=(Synapse("gap", "electrical", "n1", "n2"),))
    values = {"synapses.gap.params.g1": g, "synapses.gap.params.g2": g, "inputs.n1": i1, "inputs.n2": 0.8 * i1}
    return circuit, values


def if_circuit():
    """The if-sync pair (workflows/specs/if_sync.yaml)."""
    from synsweep.engine import Circuit, Neuron, Synapse

    syn = {"g_star": 30.0, "tau_syn": 10.0, "E_syn": 0.0}
    return Circuit(neurons=(Neuron("n1", "cif", params={"E_m": -70.0}, init={"v": -60.0}),
                            Neuron("n2", "cif", params={"E_m": -70.0}, init={"v": -70.0})),
                   synapses=(Synapse("s12", "two_stage", "n1", "n2", params=syn),
                             Synapse("s21", "two_stage", "n2", "n1", params=syn)),
                   inputs={"n1": 3.5, "n2": 3.5})


def if_problem(B: int):
    """peers/if_pair.c: pair p has I = 3 + (p mod 101) / 100 nA, g_star = 15 + 45 p / (B - 1) nS,
    tau_syn = 5 + 15 (p mod 7) / 6 ms."""
    p = np.arange(B)
    i_ext = 3.0 + (p % 101) / 100.0
    g_star = 15.0 + 45.0 * p / max(B - 1, 1)
    tau = 5.0 + 15.0 * (p % 7) / 6.0
    values = {"inputs.n1": i_ext, "inputs.n2": i_ext}
    for s in ("s12", "s21"):
        values[f"synapses.{s}.params.g_star"] = g_star
        values[f"synapses.{s}.params.tau_syn"] = tau
    return if_circuit(), values


def _grid_doc(name: str, circuit: dict, sim: dict, axes: list[dict]) -> dict:
    return {"name": name, "circuit": circuit, "simulation": sim, "sweep": axes}


def w1_service(B: int, steps: int):
    ng = int(np.sqrt(B))
    circuit = {"neurons": {"n1": {"model": "hh", "init": {"v": -75.0}}, "n2": {"model": "hh", "init": {"v": -65.0}}},
               "synapses": {"gap": {"model": "electrical", "pre": "n1", "post": "n2"}}}
    axes = [{"name": "g", "paths": ["synapses.gap.params.g1", "synapses.gap.params.g2"],
             "linspace": {"start": 0.0, "stop": 0.01, "num": ng}},
            {"name": "I_ext", "paths": {"inputs.n1": 1.0, "inputs.n2": 0.8},
             "linspace": {"start": 0.05, "stop": 0.15, "num": B // ng}}]
    return _grid_doc("w1-service", circuit, {"dt": 0.01, "duration": steps * 0.01}, axes), ng * (B // ng)


def w2_service(B: int, steps: int):
    ng = int(np.sqrt(B))
    circuit = {"neurons": {"n1": {"model": "hr", "init": {"x": -1.5, "y": -10.0, "z": 0.0}},
                           "n2": {"model": "hr", "init": {"x": -1.0, "y": -8.0, "z": 0.1}}},
               "synapses": {"gap": {"model": "electrical", "pre": "n1", "post": "n2"}}}
    axes = [{"name": "g", "paths": ["synapses.gap.params.g1", "synapses.gap.params.g2"],
             "linspace": {"start": 0.0, "stop": 0.5, "num": ng}},
            {"name": "I_ext", "paths": {"inputs.n1": 1.0, "inputs.n2": 0.8},
             "linspace": {"start": 0.0, "stop": 0.2, "num": B // ng}}]
    return _grid_doc("w2-service", circuit, {"dt": 0.01, "duration": steps * 0.01}, axes), ng * (B // ng)


def if_service(B: int, steps: int):
    n = max(2, round(B ** (1 / 3)))
    neuron = {"model": "cif", "params": {"E_m": -70.0}}
    circuit = {"neurons": {"n1": neuron | {"init": {"v": -60.0}}, "n2": neuron | {"init": {"v": -70.0}}},
               "synapses": {s: {"model": "two_stage", "pre": a, "post": b, "params": {"E_syn": 0.0}}
                            for s, a, b in (("s12", "n1", "n2"), ("s21", "n2", "n1"))}}
    axes = [{"name": "I_ext", "paths": ["inputs.n1", "inputs.n2"], "linspace": {"start": 3.0, "stop": 4.0, "num": n}},
            {"name": "g_star", "paths": ["synapses.s12.params.g_star", "synapses.s21.params.g_star"],
             "linspace": {"start": 15.0, "stop": 60.0, "num": n}},
            {"name": "tau_syn", "paths": ["synapses.s12.params.tau_syn", "synapses.s21.params.tau_syn"],
             "linspace": {"start": 5.0, "stop": 20.0, "num": n}}]
    return _grid_doc("if-service", circuit, {"dt": 0.01, "duration": steps * 0.01}, axes), n ** 3


WORKLOADS = {
    "w1": Workload("w1", 0.01, 10_000, w1_problem, w1_service, 100_000),
    "w2": Workload("w2", 0.01, 100_000, w2_problem, w2_service, 10_000),
    "if": Workload("if", 0.01, 10_000, if_problem, if_service, 100_000),
}


# -- the peers ----------------------------------------------------------------------------------------------
def build_c_peers(workload: str, build: Path, same_rules: bool = False) -> dict[str, Path]:
    """Compile the workload's C peers with their documented flags into ``build`` (shared/ stays untouched);
    with ``same_rules``, the W2 and IF peers also with the engine's floating-point rules (``SAME_RULES``)."""
    if workload == "w1":
        src = build / "c"
        shutil.copytree(W1 / "c", src, dirs_exist_ok=True)
        out = {"c_vec": build / "hh_vec", "c_vec_sharedexp": build / "hh_vec_sharedexp"}
        hh = [str(src / "hh.c"), "-lmvec", "-lm"]
        subprocess.run(["gcc", *FAST, "-fopenmp", "-o", str(out["c_vec"]), *hh], check=True)
        subprocess.run(["gcc", *FAST, "-fopenmp", "-DSHARED_EXP=1", "-o", str(out["c_vec_sharedexp"]), *hh], check=True)
        return out
    # name -> (source, extra flags): the IF peer also in its lean variant (without the engine's refractory
    # counter, within-step spike timing and divergence check: peers/if_kernel.h)
    variants = ({"c_hr_vec": (W2 / "w2_hr.c", [])} if workload == "w2" else
                {"c_if_vec": (PEERS / "if_pair.c", []), "c_if_vec_lean": (PEERS / "if_pair.c", ["-DLEAN"])})
    out = {}
    for name, (source, extra) in variants.items():
        for rules, suffix in [(FAST, ""), *([(SAME_RULES, "_same_rules")] if same_rules else [])]:
            out[name + suffix] = build / (name + suffix)
            subprocess.run(["gcc", *rules, *extra, "-o", str(out[name + suffix]), str(source), "-lm"], check=True)
    return out


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_c(binary: Path, workload: str, B: int, prec: str, steps: int) -> dict:
    cmd = [str(binary), "--B", str(B), "--prec", "d" if prec == "float64" else "f", "--steps", str(steps)]
    if workload == "w1":
        cmd += ["--threads", "1"]
    cpu = children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    cpu = children_cpu() - cpu  # the whole process: its set-up too (small against the steps)
    out = json.loads(proc.stdout) | {"impl": binary.name.replace("_same_rules", " (engine's fp rules)"), "prec": prec}
    return out | {"cpu_s": cpu, "cpu_neuron_steps_per_s": 2.0 * B * steps / cpu}


def run_python_peer(impl: str, B: int) -> dict:
    proc = subprocess.run([sys.executable, str(W1 / "py" / "bench_one.py"), "--impl", impl, "--B", str(B)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_brian2(venv: Path, B: int, steps: int, outdir: Path) -> dict:
    """Brian2's cpp_standalone W1 (pair-unit variant), built in ``outdir`` (a temporary directory)."""
    proc = subprocess.run([str(venv / "bin" / "python"), str(W1 / "py" / "w1_brian2.py"), "--target",
                           "cpp_standalone", "--variant", "pairunit", "--B", str(B), "--steps", str(steps),
                           "--outdir", str(outdir)], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1]) | {"prec": "float64"}


# -- the engine ---------------------------------------------------------------------------------------------
def metric_names(circuit, which: str) -> tuple[str, ...]:
    from synsweep.engine.metrics import DEFAULT_METRICS, metric_applies

    if which == "off":
        return ()
    if which == "peer":
        return ("spike_count", "pearson")
    return tuple(m for m in DEFAULT_METRICS if metric_applies(m, len(circuit.neurons), len(circuit.pair_list)))


def engine_impl(metrics: str) -> str:
    """The engine's name in the table with the metric set ``metrics``."""
    return "synsweep" if metrics == "default" else f"synsweep metrics={metrics}"


def run_engine_process(workload: str, B: int, prec: str, steps: int, metrics: str = "default",
                       baseline: Path | None = None) -> dict:
    """``run_engine`` in a process of its own (every repetition a fresh one, as for every peer: the speed of
    a compiled kernel varies by up to ~10% between processes, with where its code and buffers land), with the
    engine found in ``baseline`` (a folder holding a ``synsweep`` package) when given."""
    env = os.environ | ({"PYTHONPATH": str(baseline)} if baseline else {})
    cmd = [sys.executable, __file__, "--workload", workload, "--steps", str(steps), "--precisions", prec,
           "--metrics", metrics, "--one-engine", str(B)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    return row | {"impl": row["impl"].replace("synsweep", "synsweep (baseline)", 1)} if baseline else row


def run_engine(workload: str, B: int, prec: str, steps: int, metrics: str = "default") -> dict:
    from synsweep.engine import Simulation, simulate

    w = WORKLOADS[workload]
    circuit, values = w.problem(B)
    sim = Simulation(dt=w.dt, duration=steps * w.dt, integrator="rk4", precision=prec, scheme="coupled")
    names = metric_names(circuit, metrics)
    warm = Simulation(dt=w.dt, duration=w.dt, integrator="rk4", precision=prec, scheme="coupled")
    simulate(circuit, warm, {k: v[:64] for k, v in values.items()}, metrics=names)  # load the kernel first
    cpu = time.thread_time()
    res = simulate(circuit, sim, values, metrics=names)
    cpu = time.thread_time() - cpu  # the whole call: its set-up and finalisation too (small against the steps)
    out = {"impl": engine_impl(metrics), "prec": prec, "B": B,
           "time_s": res.seconds, "neuron_steps_per_s": 2.0 * B * sim.n_steps / res.seconds,
           "cpu_s": cpu, "cpu_neuron_steps_per_s": 2.0 * B * sim.n_steps / cpu, "compile_s": res.compile_seconds}
    if "spike_count" in res.metrics:
        counts = res.metrics["spike_count"]
        out |= {"spikes1_total": int(counts[:, 0].sum()), "spikes2_total": int(counts[:, 1].sum())}
    if "pearson" in res.metrics and workload == "w1":
        out["r_sum"] = float(np.nansum(res.metrics["pearson"]))
    return out


def service_run(workload: str, B: int, steps: int, workers: int = 2) -> dict:
    """The workload through ``synsweep run SPEC --out STORE --workers 2`` (warm kernel cache, default
    chunking), timed as a whole command: interpreter start, spec checks, the kernel measurement for the
    estimate, the LocalCluster's start and close, scheduling, kernels and zarr writes."""
    import yaml

    doc, points = WORKLOADS[workload].service_doc(B, steps)
    doc["simulation"] |= {"integrator": "rk4", "precision": "float64", "scheme": "coupled"}
    cli = Path(sys.executable).parent / "synsweep"
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.yaml"
        spec.write_text(yaml.safe_dump(doc))
        start = time.perf_counter()
        wall = time.time()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([str(cli), "run", str(spec), "--out", str(Path(tmp) / "out.zarr"), "--workers", str(workers),
                        "--no-progress"], check=True, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the command and its worker processes, all reaped
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        # completion records ({"chunks": {id: info}}): each task's wall-clock start and end (a record shared by
        # the tasks of a shard has the mtime of its last write, not of each task's)
        markers = (Path(tmp) / "out.zarr" / ".synsweep" / "done").iterdir()
        tasks = [info for m in markers for info in json.loads(m.read_text()).get("chunks", {}).values()
                 if "started" in info]
    first = min(info["started"] for info in tasks) - wall
    last = max(info["ended"] for info in tasks) - wall
    neuron_steps = 2 * points * steps
    return {"impl": f"synsweep run ({workers} workers, whole command)", "prec": "float64", "B": points,
            "time_s": elapsed, "neuron_steps_per_s": neuron_steps / elapsed,
            "sweep_s": last - first, "before_first_task_s": first, "after_last_task_s": elapsed - last, "cpu_s": cpu,
            "kernel_load_s": sum(info["compile_seconds"] for info in tasks)}


def run_engine_cuda(workload: str, B: int, prec: str, steps: int) -> dict:
    """``run_engine`` on the GPU (``simulate(..., device='cuda')``, every metric that applies)."""
    from synsweep.engine import Simulation, simulate

    w = WORKLOADS[workload]
    circuit, values = w.problem(B)
    sim = Simulation(dt=w.dt, duration=steps * w.dt, integrator="rk4", precision=prec, scheme="coupled")
    res = simulate(circuit, sim, values, metrics=metric_names(circuit, "default"), device="cuda")
    counts = res.metrics["spike_count"]
    out = {"impl": "synsweep cuda (1 GPU)", "prec": prec, "B": B, "time_s": res.seconds,
           "neuron_steps_per_s": 2.0 * B * sim.n_steps / res.seconds, "compile_s": res.compile_seconds,
           "spikes1_total": int(counts[:, 0].sum()), "spikes2_total": int(counts[:, 1].sum())}
    if workload == "w1":
        out["r_sum"] = float(np.nansum(res.metrics["pearson"]))
    return out


def c_at_once(binary: Path, workload: str, prec: str, steps: int, n: int, B: int = 10_007) -> dict:
    """Summed neuron-steps/s of ``n`` processes of a C peer at once, one thread each (``engines_at_once``)."""
    cmd = [str(binary), "--B", str(B), "--prec", "d" if prec == "float64" else "f", "--steps", str(steps)]
    cmd += ["--threads", "1"] if workload == "w1" else []
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(n)]
    speed = sum(json.loads(p.communicate()[0])["neuron_steps_per_s"] for p in procs)
    return {"impl": f"{binary.name} ({n} cores)", "prec": prec, "B": B * n, "neuron_steps_per_s": speed}


def gpu_main(a: argparse.Namespace, steps: int) -> None:
    """--device cuda: the GPU engine against the CPU engine and the C peers on all cores (see the docstring)."""
    cores = os.cpu_count() or 1
    Bs = a.B if a.B != DEFAULT_B else [100_000, 1_000_000]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as build:
        c_bins = build_c_peers(a.workload, Path(build)) if "c" in a.peers else {}
        for prec in a.precisions:
            run_engine_cuda(a.workload, 256, prec, min(steps, 100))  # compile outside the timings
            jobs = [lambda B=B, prec=prec: run_engine_cuda(a.workload, B, prec, steps) for B in Bs]
            jobs.append(lambda prec=prec: {"impl": f"synsweep cpu ({cores} cores)", "prec": prec, "B": 10_007 * cores,
                                           "neuron_steps_per_s": engines_at_once(a.workload, steps, cores,
                                                                                 prec=prec)})
            jobs += [lambda b=b, prec=prec: c_at_once(b, a.workload, prec, steps, cores) for b in c_bins.values()]
            rows += interleaved(jobs, a.reps)
    print(f"\n{a.workload.upper()}, {steps} steps: the GPU engine against {cores} CPU cores (median of {a.reps})\n")
    header = f"{'impl':<36} {'prec':<8} {'B':>9} {'neuron-steps/s':>15} {'best GPU/this':>14}  spikes (n1, n2)"
    print(header)
    print("-" * len(header))
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["impl"], r["prec"], r["B"]), []).append(r)
    medians = {k: statistics.median(x["neuron_steps_per_s"] for x in rs) for k, rs in groups.items()}
    for (impl, prec, B), med in medians.items():
        gpu = max((m for (i, p, _), m in medians.items() if p == prec and "cuda" in i), default=None)
        ratio = f"{gpu / med:13.2f}x" if gpu and "cuda" not in impl else ""
        first = groups[(impl, prec, B)][0]
        spikes = f"({first.get('spikes1_total', '-')}, {first.get('spikes2_total', '-')})"
        print(f"{impl:<36} {prec:<8} {B:>9} {med:15.3e} {ratio:>14}  {spikes}")


def engines_at_once(workload: str, steps: int, n: int = 2, B: int = 10_007, prec: str = "float64") -> float:
    """Summed neuron-steps/s of ``n`` engine processes running the workload at the same time, one thread each:
    what this machine's cores deliver together (shared caches, memory and the hypervisor make it less than
    n x one)."""
    cmd = [sys.executable, __file__, "--workload", workload, "--steps", str(steps), "--precisions", prec,
           "--one-engine", str(B)]
    subprocess.run(cmd, check=True, capture_output=True)  # load the kernel outside the timing
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(n)]
    return sum(json.loads(p.communicate()[0].strip().splitlines()[-1])["neuron_steps_per_s"] for p in procs)


# -- the run ------------------------------------------------------------------------------------------------
def interleaved(jobs: list[Callable[[], dict]], reps: int) -> list[dict]:
    """Run every job once per repetition, forward in even repetitions and reversed in odd ones."""
    rows = []
    for rep in range(reps):
        for job in jobs if rep % 2 == 0 else jobs[::-1]:
            rows.append(job())
    return rows


def use_clock(rows: list[dict], clock: str) -> list[dict]:
    """With clock 'cpu', the rows' speeds and times from CPU time (engine: the thread's, C peer: its process's)
    where measured: on a machine shared with other work, a process's CPU time counts only the time it ran. The
    service's row keeps the wall clock (its cpu_s is the whole command's, driver and workers together)."""
    if clock == "wall":
        return rows
    return [r | {"neuron_steps_per_s": r["cpu_neuron_steps_per_s"], "time_s": r["cpu_s"]}
            if "cpu_neuron_steps_per_s" in r else r for r in rows]


def report(rows: list[dict], workload: str) -> None:
    header = (f"{'impl':<42} {'prec':<8} {'B':>7} {'median':>10} {'min':>10} {'max':>10} {'engine/this':>11}"
              "  spikes (n1, n2)   r_sum")
    print(f"\n{workload.upper()} on {os.cpu_count()} cores, 1 thread per implementation; neuron-steps/s "
          f"(median, min, max of the repetitions)\n")
    print(header)
    print("-" * len(header))
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["impl"], r.get("prec", "float64"), r["B"]), []).append(r)
    engine = {(p, B): statistics.median(x["neuron_steps_per_s"] for x in rs)
              for (impl, p, B), rs in groups.items() if impl == "synsweep"}
    for (impl, prec, B), rs in groups.items():
        speeds = [x["neuron_steps_per_s"] for x in rs]
        med = statistics.median(speeds)
        ref = engine.get((prec, B))
        ratio = f"{ref / med:10.2f}x" if ref and impl != "synsweep" else ""
        spikes = f"({rs[0].get('spikes1_total', '-')}, {rs[0].get('spikes2_total', '-')})"
        r_sum = rs[0].get("r_sum")
        print(f"{impl:<42} {prec:<8} {B:>7} {med:10.3e} {min(speeds):10.3e} {max(speeds):10.3e} {ratio:>11}  "
              f"{spikes:<17} {'' if r_sum is None else f'{r_sum:.9f}'}")
    sets = [m for m in METRIC_SETS if any(impl == engine_impl(m) for impl, _, _ in groups)]
    if len(sets) > 1:
        print(f"\nengine / peer with metrics {' · '.join(sets)} (medians):")
        for (impl, prec, B), rs in groups.items():
            if impl.startswith("synsweep"):
                continue
            med = statistics.median(x["neuron_steps_per_s"] for x in rs)
            ratios = [statistics.median(x["neuron_steps_per_s"] for x in groups[(engine_impl(m), prec, B)]) / med
                      if (engine_impl(m), prec, B) in groups else float("nan") for m in sets]
            print(f"  {impl:<40} {prec:<8} B={B:<7} {' · '.join(f'{x:.2f}' for x in ratios)}")
    costs = []
    for (impl, prec, B), rs in groups.items():
        engine_name = impl.split(" metrics=")[0]
        off = groups.get((f"{engine_name} metrics=off", prec, B))
        if off and impl.startswith("synsweep") and not impl.endswith("metrics=off"):
            t_off = statistics.median(x["time_s"] for x in off)
            t = statistics.median(x["time_s"] for x in rs)
            name = impl.split("=")[1] if "metrics=" in impl else "default"
            costs.append(f"  {engine_name:<20} {prec:<8} B={B:<7} metrics={name:<8} {100 * (t / t_off - 1):+6.1f}% "
                         f"of the time with metrics off")
    if costs:
        print("\nmetric cost (median kernel time over the median with metrics off):")
        print("\n".join(costs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", choices=sorted(WORKLOADS), default="w1")
    ap.add_argument("--one-engine", type=int, metavar="B", help=argparse.SUPPRESS)  # used by engines_at_once
    ap.add_argument("--B", type=int, nargs="+", default=DEFAULT_B)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                    help="cuda: the GPU engine against the CPU engine and the C peers on all cores")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=None, help="steps per run (default: the workload's)")
    ap.add_argument("--precisions", nargs="+", default=["float64", "float32"])
    ap.add_argument("--metrics", nargs="+", choices=METRIC_SETS, default=["default"],
                    help="engine metric sets to measure (off and more: their cost is reported)")
    ap.add_argument("--peers", nargs="*", default=["c", "numpy", "pyloop"])
    ap.add_argument("--brian2-venv", type=Path, default=None)
    ap.add_argument("--service", action="store_true")
    ap.add_argument("--service-B", type=int, default=None)
    ap.add_argument("--baseline", type=Path, default=None, help="folder with another synsweep package to compare")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="time the implementations by wall clock or by CPU time (engine and C peers; a loaded machine)")
    a = ap.parse_args()
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    w = WORKLOADS[a.workload]
    steps = a.steps or w.steps
    if a.one_engine:
        print(json.dumps(run_engine(a.workload, a.one_engine, a.precisions[0], steps, a.metrics[0])))
        return
    if a.device == "cuda":
        gpu_main(a, steps)
        return

    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as build:
        c_bins = (build_c_peers(a.workload, Path(build), same_rules="c-same-rules" in a.peers)
                  if "c" in a.peers else {})
        for B in a.B:
            for prec in a.precisions:
                engines = [None, a.baseline] if a.baseline else [None]
                for base in engines:  # compile the kernels outside the timings
                    for m in a.metrics:
                        run_engine_process(a.workload, min(B, 256), prec, min(steps, 100), m, base)
                jobs = [lambda B=B, prec=prec, m=m, base=base: run_engine_process(a.workload, B, prec, steps, m, base)
                        for base in engines for m in a.metrics]
                jobs += [lambda B=B, prec=prec, b=b: run_c(b, a.workload, B, prec, steps) for b in c_bins.values()]
                if a.workload == "w1" and prec == "float64" and a.brian2_venv and B <= 10_000:
                    out = Path(build) / f"brian2_B{B}"
                    jobs.append(lambda B=B, out=out: run_brian2(a.brian2_venv, B, steps, out))
                rows += interleaved(jobs, a.reps)
            if a.workload == "w1" and B <= 1000:
                py = [lambda B=B, i=impl: run_python_peer(i, B) for impl in ("numpy", "pyloop") if impl in a.peers]
                rows += interleaved(py, 1)
    pairs: list[float] = []  # service / (2 x engine), each against the engine measured just before it
    phases: list[float] = []  # the same for the tasks' phase alone (first task start to last task end)
    ceilings: list[float] = []  # service / (2 engine processes running at once)
    cpus: list[float] = []  # the engine's CPU time for the work / the whole command's (load-independent)
    if a.service:
        service_B = a.service_B or w.service_B
        for _ in range(a.reps):
            engine = run_engine(a.workload, 10_007, "float64", steps)
            rows.append(engine)
            both = engines_at_once(a.workload, steps)
            service = service_run(a.workload, service_B, steps)
            rows.append(service)
            done = service["neuron_steps_per_s"] * service["time_s"]
            ideal = done / (2 * engine["neuron_steps_per_s"])
            pairs.append(service["neuron_steps_per_s"] / (2 * engine["neuron_steps_per_s"]))
            phases.append(ideal / service["sweep_s"])
            ceilings.append(service["neuron_steps_per_s"] / both)
            engine_cpu = done / engine["cpu_neuron_steps_per_s"]
            cpus.append(engine_cpu / service["cpu_s"])
            print(f"synsweep run: {service['time_s']:.1f} s = {service['before_first_task_s']:.1f} s to the first "
                  f"task + {service['sweep_s']:.1f} s of tasks + {service['after_last_task_s']:.1f} s after the last; "
                  f"2 x engine would take {ideal:.1f} s, 2 engines at once {done / both:.1f} s; CPU: the command and "
                  f"its workers {service['cpu_s']:.1f} s (kernel loads {service['kernel_load_s']:.1f} s of wall), "
                  f"the engine {engine_cpu:.1f} s for the same work; load average {os.getloadavg()[0]:.2f}", flush=True)

    if a.clock == "cpu":
        print(f"\nclock: CPU time (engine: its thread, C peers: their process); load average {os.getloadavg()}")
    report(use_clock(rows, a.clock), a.workload)
    if a.service:
        print(f"\nsynsweep run / (2 x single-core engine measured just before it), per repetition: "
              f"{', '.join(f'{x:.2f}' for x in pairs)}; median {statistics.median(pairs):.2f}")
        print(f"its tasks' phase (first task start to last task end) / (2 x engine): "
              f"{', '.join(f'{x:.2f}' for x in phases)}; median {statistics.median(phases):.2f}")
        print(f"synsweep run / (2 engine processes at once, this machine's two cores together): "
              f"{', '.join(f'{x:.2f}' for x in ceilings)}; median {statistics.median(ceilings):.2f}")
        print(f"CPU time of the engine for the work / CPU time of the whole command (driver, scheduler, workers; "
              f"far less sensitive to the machine's load than wall time): {', '.join(f'{x:.2f}' for x in cpus)}; "
              f"median {statistics.median(cpus):.2f}")


if __name__ == "__main__":
    main()
