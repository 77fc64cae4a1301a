"""The reference runs on a real GPU: the CUDA kernels against the CPU engine on the seed's HH pair and on Neun's
DSyn run (shared/reference/, 100,000 RK4 steps each, split scheme), and bit-identity across chunkings on the GPU.

Skipped where no GPU is visible (CI, most machines): the rest of the suite runs the CUDA kernels in numba's CUDA
simulator (tests/unit/test_cuda_sim.py), which cannot run 100,000 steps in a test's time. The comparisons run in a
subprocess with NUMBA_ENABLE_CUDASIM=0, since tests/conftest.py put this process in the simulator.
Tolerance (docs/models.md, "On a GPU"): float64 spike counts equal, metrics within 1e-9 relative (``isi_cv``,
which cancels for a regular train, within 1e-6 absolute), the voltages at the ten checkpoints within 1e-6 mV of the
CPU engine's (and of Neun's: the reference data).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synsweep.engine import Circuit, Neuron, Simulation, Synapse, simulate

ROOT = Path(__file__).resolve().parents[2]
GPU_ENV = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}


def reference_runs(shared: Path, device: str, points: int = 1) -> dict[str, dict]:
    """Both reference protocols on ``device``, ``points`` copies each (the drive of neuron 1 spread by up to
    +1% over the copies, copy 0 the protocol's own): metrics, and traces at the protocol's checkpoints."""
    out = {}
    for name in ("neun_seed_run", "neun_dsyn_excit_run"):
        ref = json.loads((shared / "reference" / f"{name}.json").read_text())
        proto = ref["protocol"]
        neurons = tuple(Neuron(n, "hh", params=proto["neuron_params_absolute"], init=proto["initial_state"][n])
                        for n in ("n1", "n2"))
        if name == "neun_seed_run":
            syn = proto["electrical_synapse"]
            synapse = Synapse("gap", "electrical", "n1", "n2", {"g1": syn["g1_into_n1"], "g2": syn["g2_into_n2"]})
        else:
            ds = proto["dsyn"]
            synapse = Synapse("dsyn", "diffusion", ds["pre"], ds["post"], {
                "gsyn": ds["gsyn"], "esyn": ds["esyn"], "alpha": ds["alpha"], "beta": ds["beta"],
                "threshold": ds["threshold"], "T": ds["T"], "release_ms": 0.999})
        circuit = Circuit(neurons=neurons, synapses=(synapse,), inputs=proto["external_current"])
        steps = proto["steps"]
        sim = Simulation(dt=proto["dt_ms"], duration=steps * proto["dt_ms"], integrator="rk4", precision="float64",
                         scheme="split")
        drive = proto["external_current"]["n1"] * (1.0 + 0.01 * np.arange(points) / max(points - 1, 1))
        every = steps // len(ref["result"]["t_ms"])
        res = simulate(circuit, sim, {"inputs.n1": drive}, record=["v"], record_every=every, device=device)
        out[name] = {"metrics": {k: v.tolist() for k, v in res.metrics.items()},
                     "v1": res.traces[("n1", "v")][:, 1:].tolist(), "v2": res.traces[("n2", "v")][:, 1:].tolist(),
                     "ref_v1": ref["result"]["v1_mV"], "ref_v2": ref["result"]["v2_mV"]}
    return out


SCRIPT = """
import json, sys
from pathlib import Path
from tests.integration.test_cuda_gpu import reference_runs
shared, points = Path(sys.argv[1]), int(sys.argv[2])
print(json.dumps({"cuda": reference_runs(shared, "cuda", points), "cuda_first": reference_runs(shared, "cuda", 1)}))
"""


@pytest.fixture(scope="module")
def gpu() -> None:
    probe = subprocess.run([sys.executable, "-c", "from synsweep.engine.device import cuda_problem; "
                            "print(cuda_problem() or '')"], capture_output=True, text=True, env=GPU_ENV, cwd=ROOT)
    reason = probe.stdout.strip() or probe.stderr.strip()[-300:]
    if probe.returncode != 0 or reason:
        pytest.skip(f"no GPU for the reference runs: {reason}")


def test_reference_runs_cpu_vs_gpu(gpu, shared_dir):
    points = 256
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(shared_dir), str(points)], capture_output=True,
                          text=True, env=GPU_ENV, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = json.loads(proc.stdout.strip().splitlines()[-1])
    cpu = reference_runs(shared_dir, "cpu", points)
    for name, c in cpu.items():
        g, first = runs["cuda"][name], runs["cuda_first"][name]
        for metric, a in c["metrics"].items():
            a, b = np.asarray(a, dtype=np.float64), np.asarray(g["metrics"][metric], dtype=np.float64)
            if metric in ("spike_count", "status", "diverged_step"):
                np.testing.assert_array_equal(b, a, err_msg=f"{name} {metric}")
            else:  # a regular train's CV cancels: a relative difference d of its ISIs moves it by ~d / (2 CV)
                atol = 1e-6 if metric == "isi_cv" else 1e-12
                np.testing.assert_allclose(b, a, rtol=1e-9, atol=atol, err_msg=f"{name} {metric}")
            # the first point alone in its launch: the bits it has among 255 others (chunkings on the GPU)
            np.testing.assert_array_equal(np.asarray(first["metrics"][metric], dtype=np.float64), b[:1])
        for side in ("v1", "v2"):
            gv, cv = np.asarray(g[side]), np.asarray(c[side])
            assert np.max(np.abs(gv - cv)) < 1e-6, (name, side)
            assert np.max(np.abs(gv[0] - np.asarray(c[f"ref_{side}"]))) < 1e-6, (name, side)  # Neun's numbers
