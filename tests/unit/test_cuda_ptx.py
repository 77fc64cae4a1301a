"""The generated CUDA kernels compile for a real GPU: numba-cuda's CUDA target types and lowers them to PTX for
sm_80 (no GPU needed, only NVIDIA's NVVM compiler, a wheel of the test extra). The simulator runs any Python, so
this is what catches code that exists on the CPU but not on the device (numpy ufuncs such as ``np.floor``).

An HH pair's kernel must keep its state in registers: no call left (every model function inlined), no
local-memory array but a delay ring. Runs in a subprocess with NUMBA_ENABLE_CUDASIM=0 (tests/conftest.py put
this process in the simulator); numba-cuda compiles a device function for the current device's compute
capability, which a machine without a GPU has not, so the subprocess names one (sm_80).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json
from types import SimpleNamespace

try:
    from numba.cuda.cudadrv import nvvm
    nvvm.NVVM()
except Exception as exc:
    print(json.dumps({"skip": f"NVVM is not installed ({type(exc).__name__}: {str(exc)[:200]})"}))
    raise SystemExit(0)
from numba import cuda
import numba.cuda.dispatcher as dispatcher

dispatcher.get_current_device = lambda: SimpleNamespace(compute_capability=(8, 0))  # no GPU: name one

from synsweep.engine import Circuit, Neuron, Simulation, Synapse
from synsweep.engine.cuda import kernel_module
from synsweep.engine.simulate import kernel_key

pair = Circuit(neurons=(Neuron("n1", "hh"), Neuron("n2", "hh")),
               synapses=(Synapse("gap", "electrical", "n1", "n2"), Synapse("s", "ampa", "n1", "n2")))
out = {}
for precision, delay in (("float64", 0.0), ("float32", 1.0)):
    key = kernel_key(pair, Simulation(dt=0.01, duration=1.0, precision=precision),
                     {"inputs.n1": [0.1, 0.2], "synapses.s.params.delay": [0.0, delay]}, record=["v"])
    module = kernel_module(key)
    ptx, _ = cuda.compile_ptx(module.run, module.SIGNATURE, cc=(8, 0))
    lines = ptx.splitlines()
    out[precision] = {
        "entry": sum(".entry" in line for line in lines), "calls": sum("call" in line for line in lines),
        "local": sum(".local" in line for line in lines), "f64": sum(".f64" in line for line in lines),
        "f32": sum(".f32" in line for line in lines)}
print(json.dumps(out))
"""


@pytest.mark.slow  # two NVVM compiles, about 20 s
def test_kernels_compile_to_ptx():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, "NUMBA_ENABLE_CUDASIM": "0"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if "skip" in result:
        pytest.skip(result["skip"])
    for name, counts in result.items():
        assert counts["entry"] == 1 and counts["calls"] == 0, (name, counts)  # one kernel, every function inlined
    f64, f32 = result["float64"], result["float32"]
    assert f64["local"] == 0  # no delay ring: the whole state in registers
    assert f32["local"] > 0  # a delay ring is a thread-local array
    # the ODE in the working precision (the metrics are float64 on every device)
    assert f64["f64"] > 10 * f64["f32"] and f32["f32"] > 2 * f32["f64"], result


def test_generated_source_uses_no_numpy_function():
    """numpy's functions do not exist on the device (only its scalar types and constants do): the CUDA module of a
    circuit holding every neuron and synapse model, with delays and the Kuramoto sample, names none of them. A
    fast check on the text (compiling that circuit to PTX takes half a minute), in both precisions."""
    import re

    from synsweep.engine import Simulation
    from synsweep.engine.kernel.cuda import generate_cuda
    from synsweep.engine.simulate import kernel_key

    from .test_cuda_sim import zoo

    for precision in ("float64", "float32"):
        key = kernel_key(zoo(), Simulation(dt=0.02, duration=1.0, precision=precision),
                         {"inputs.hh": [0.1, 0.2], "synapses.ampa.params.delay": [0.0, 1.0]}, record=["v"])
        source = generate_cuda(key, "test").replace("floor_f = floor_d = np.floor", "")  # the simulator's binding
        used = set(re.findall(r"\bnp\.(\w+)", source))
        assert used <= {"float64", "float32", "int64", "pi"}, used - {"float64", "float32", "int64", "pi"}
        assert "kur_every" in source and "ring" in source and "floor_f(" in source
