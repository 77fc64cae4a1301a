"""Kernels are generated from dask worker threads at the same time: generation must give every thread the same
source, without errors (the generator parses model source with ``ast``, which is not thread-safe on Python 3.11)."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from synsweep.engine import Circuit, Neuron, Simulation, Synapse, kernels
from synsweep.engine.metrics import DEFAULT_METRICS
from synsweep.engine.simulate import kernel_key

PAIR = Circuit(neurons=(Neuron("n1", "hh"), Neuron("n2", "hh")),
               synapses=(Synapse("gap", "electrical", "n1", "n2", params={"g1": 0.01, "g2": 0.01}),),
               inputs={"n1": 10.0, "n2": 10.0})
SIM = Simulation(dt=0.01, duration=1.0)


def test_generation_from_many_threads_gives_one_source():
    keys = [kernel_key(PAIR, SIM, {"inputs.n1": np.linspace(5.0, 15.0, 3)}, metrics=m)
            for m in [("spike_count",), ("pearson",), ("plv",), DEFAULT_METRICS]] * 4
    with ThreadPoolExecutor(8) as pool:
        sources = list(pool.map(kernels.kernel_source, keys))
    for key, got in zip(keys, sources, strict=True):
        assert got == kernels.kernel_source(key)


POOL = ("import sys; from synsweep.engine.kernel.source import pool_constants; "
        "sys.stdout.write(pool_constants(sys.argv[1]))")


def test_constant_pool_is_the_same_in_every_process():
    """Literals of equal value ('1' and '1.0', both in looped kernels) are pooled in the order of their text, not
    in the order of a set of strings, which Python's hash seed changes from process to process: every worker
    process writes the same kernel source, so it finds the kernel another process compiled (same module name)."""
    text = "U = np.uint64\nx = F(1.0) * y + F(1) + F(0.5)\n"
    pooled = {subprocess.run([sys.executable, "-c", POOL, text], capture_output=True, text=True, check=True,
                             env=os.environ | {"PYTHONHASHSEED": seed}).stdout for seed in ("1", "3")}
    assert len(pooled) == 1
    assert "F_0_5 = F(0.5)\nF_1 = F(1)\nF_1_0 = F(1.0)\n" in pooled.pop()
