"""Kernels are generated from dask worker threads at the same time: generation must give every thread the same
source, without errors (the generator parses model source with ``ast``, which is not thread-safe on Python 3.11)."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from synsweep.engine import Circuit, Neuron, Simulation, Synapse, kernels
from synsweep.engine.metrics import DEFAULT_METRICS
from synsweep.engine.simulate import kernel_key

PAIR = Circuit(neurons=(Neuron("n1", "hh"), Neuron("n2", "hh")),
               synapses=(Synapse("gap", "electrical", "n1", "n2", params={"g": 0.01}),),
               inputs={"n1": 10.0, "n2": 10.0})
SIM = Simulation(dt=0.01, duration=1.0)


def test_generation_from_many_threads_gives_one_source():
    keys = [kernel_key(PAIR, SIM, {"inputs.n1": np.linspace(5.0, 15.0, 3)}, metrics=m)
            for m in [("spike_count",), ("pearson",), ("plv",), DEFAULT_METRICS]] * 4
    with ThreadPoolExecutor(8) as pool:
        sources = list(pool.map(kernels.kernel_source, keys))
    for key, got in zip(keys, sources, strict=True):
        assert got == kernels.kernel_source(key)
