"""The copies of a model's functions live in one generated module per model and precision, which every kernel of
that model imports (``synsweep.engine.kernel.model_modules``): compiled once per machine, not once per kernel."""

import numpy as np

from synsweep.engine import Circuit, Neuron, Simulation, Synapse, kernels
from synsweep.engine.kernel import model_modules
from synsweep.engine.simulate import kernel_key

HASH = kernels.engine_source_hash()


def pair(synapse: str) -> Circuit:
    return Circuit(neurons=(Neuron("n1", "hh"), Neuron("n2", "hh")),
                   synapses=(Synapse("s", synapse, "n1", "n2"),), inputs={"n1": 0.1, "n2": 0.1})


def names(key) -> dict[str, str]:
    """Model name (from the module's docstring) -> module name."""
    return {source.split("model:")[1].split(";")[0].strip(): name for name, source, _ in model_modules(key, HASH)}


def test_kernels_of_one_model_share_its_module_and_import_every_function_once():
    sim = Simulation(dt=0.01, duration=1.0)
    swept = kernel_key(pair("electrical"), sim, {"inputs.n1": np.array([0.1, 0.2])}, record=["v"])
    other = kernel_key(pair("exponential"), sim, metrics=("spike_count",))
    assert swept != other
    a, b = names(swept), names(other)
    assert set(a) == {"hh", "electrical"} and set(b) == {"hh", "exponential"}
    assert a["hh"] == b["hh"]  # one module of HH functions for both kernels
    single = kernel_key(Circuit(neurons=(Neuron("n1", "hh"),)), Simulation(dt=0.01, duration=1.0,
                                                                           precision="float32"))
    assert names(single)["hh"] != a["hh"]  # float32 copies: another module
    source = kernels.kernel_source(swept)[1]
    for name, _, funcs in model_modules(swept, HASH):
        line = next(x for x in source.splitlines() if x.startswith(f"from {name} import "))
        imported = line.split(" import ")[1].split(", ")
        assert set(imported) <= set(funcs) and "def " + imported[0] not in source
    assert "def hh__derivatives" not in source and "hh__derivatives(" in source


def test_a_module_holds_its_models_functions_in_the_working_precision():
    key = kernel_key(Circuit(neurons=(Neuron("n1", "hh"),)), Simulation(dt=0.01, duration=1.0,
                                                                        precision="float32"))
    (name, source, funcs), = model_modules(key, HASH)
    assert name.startswith("synsweep_models_") and "F = np.float32" in source and "exp32 as exp" in source
    assert {"hh__rates", "hh__derivatives"} <= set(funcs)
    assert all(f"def {f}(" in source for f in funcs) and source.count("cache=True") == len(funcs)
    assert HASH in source  # a change of the engine is a new module
