"""A battery of invalid specs: each must raise SpecError naming the offending field, with a fix.

Every case starts from a valid spec (``base()``), breaks one thing, and checks that ``load_spec`` raises
``SpecError`` whose one-paragraph message contains the field path, the word "Fix" and a telling fragment.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from synsweep.sweeps.errors import SpecError
from synsweep.sweeps.spec import load_spec

BASE = {
    "name": "hh-coupling-scan",
    "circuit": {
        "neurons": {"n1": {"model": "hh", "init": {"v": -75}}, "n2": {"model": "hh", "params": {"gna": 0.94}}},
        "synapses": {"gap": {"model": "electrical", "pre": "n1", "post": "n2", "params": {"g1": 0.002}}},
        "inputs": {"n1": 0.1, "n2": 0.08},
        "pairs": [["n1", "n2"]],
    },
    "simulation": {"dt": 0.01, "duration": 100, "transient": 10},
    "sweep": [
        {"name": "g", "paths": ["synapses.gap.params.g1", "synapses.gap.params.g2"],
         "linspace": {"start": 0, "stop": 0.01, "num": 11}},
        {"name": "I_ext", "paths": {"inputs.n1": 1.0, "inputs.n2": 0.8}, "values": [0.05, 0.1, 0.15]},
        {"zip": "trial", "axes": [
            {"name": "v1_0", "paths": ["neurons.n1.init.v"],
             "random": {"n": 4, "seed": 1, "distribution": "uniform", "low": -80, "high": -60}},
            {"name": "v2_0", "paths": ["neurons.n2.init.v"],
             "random": {"n": 4, "seed": 1, "distribution": "normal", "mean": -65, "std": 2}},
        ]},
    ],
    "metrics": ["spike_count", "pearson"],
    "record": {"variables": ["v"], "every": 10, "points": [{"g": 0.005, "I_ext": 0.1, "trial": 2}]},
    "execution": {"chunk_points": 64},
}


def base() -> dict:
    return copy.deepcopy(BASE)


def setter(*path, value) -> Callable[[dict], None]:
    """Set ``spec[path...] = value``."""
    def apply(spec: dict) -> None:
        obj = spec
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value
    return apply


def deleter(*path) -> Callable[[dict], None]:
    def apply(spec: dict) -> None:
        obj = spec
        for key in path[:-1]:
            obj = obj[key]
        del obj[path[-1]]
    return apply


def rename(*path, new: str) -> Callable[[dict], None]:
    """Rename the key ``path[-1]`` of the mapping at ``path[:-1]`` to ``new``."""
    def apply(spec: dict) -> None:
        obj = spec
        for key in path[:-1]:
            obj = obj[key]
        obj[new] = obj.pop(path[-1])
    return apply


def both(*fs) -> Callable[[dict], None]:
    def apply(spec: dict) -> None:
        for f in fs:
            f(spec)
    return apply


S0, S1, S2 = ("sweep", 0), ("sweep", 1), ("sweep", 2)
Z0, Z1 = (*S2, "axes", 0), (*S2, "axes", 1)

# (id, mutation, field named in the message, another fragment the message must contain)
CASES = [
    # top level
    ("missing-name", deleter("name"), "'name'", "required"),
    ("top-level-typo", rename("simulation", new="simulaton"), "'simulaton'", "did you mean 'simulation'"),
    ("missing-simulation", deleter("simulation"), "'simulation'", "required"),
    ("name-not-text", setter("name", value=12), "'name'", "12"),
    # circuit
    ("no-neurons", setter("circuit", "neurons", value={}), "'circuit.neurons'", "empty"),
    ("unknown-neuron-model", setter("circuit", "neurons", "n1", "model", value="hhx"),
     "'circuit.neurons.n1.model'", "'hh'"),
    ("unknown-neuron-param", setter("circuit", "neurons", "n2", "params", value={"gnaa": 1.0}),
     "'circuit.neurons.n2.params.gnaa'", "did you mean 'gna'"),
    ("unknown-state-var", setter("circuit", "neurons", "n1", "init", value={"V": -70}),
     "'circuit.neurons.n1.init.V'", "'v'"),
    ("neuron-key-typo", rename("circuit", "neurons", "n2", "params", new="parms"),
     "'circuit.neurons.n2.parms'", "did you mean 'params'"),
    ("param-as-text", setter("circuit", "neurons", "n2", "params", "gna", value="0.94"),
     "'circuit.neurons.n2.params.gna'", "the text '0.94'"),
    ("yaml-exponent-text", setter("circuit", "synapses", "gap", "params", "g1", value="2e-3"),
     "'circuit.synapses.gap.params.g1'", "1.0e-3"),
    ("bool-not-number", setter("circuit", "inputs", "n1", value=True), "'circuit.inputs.n1'", "boolean"),
    ("inf-param", setter("circuit", "synapses", "gap", "params", "g1", value=float("inf")),
     "'circuit.synapses.gap.params.g1'", "finite"),
    ("unknown-synapse-model", setter("circuit", "synapses", "gap", "model", value="gap_junction"),
     "'circuit.synapses.gap.model'", "electrical"),
    ("unknown-synapse-param", setter("circuit", "synapses", "gap", "params", value={"g": 0.1}),
     "'circuit.synapses.gap.params.g'", "g1"),
    ("synapse-missing-neuron", setter("circuit", "synapses", "gap", "post", value="n3"),
     "'circuit.synapses.gap.post'", "'n3'"),
    ("synapse-missing-pre", deleter("circuit", "synapses", "gap", "pre"), "'circuit.synapses.gap.pre'",
     "required"),
    ("electrical-self", setter("circuit", "synapses", "gap", "post", value="n1"), "'circuit.synapses.gap.post'",
     "itself"),
    ("input-unknown-neuron", setter("circuit", "inputs", value={"n3": 0.1}), "'circuit.inputs.n3'", "'n3'"),
    ("pair-missing-neuron", setter("circuit", "pairs", value=[["n1", "nx"]]), "'circuit.pairs[0][1]'", "'nx'"),
    ("pair-with-itself", setter("circuit", "pairs", value=[["n1", "n1"]]), "'circuit.pairs[0]'", "itself"),
    ("pair-twice", setter("circuit", "pairs", value=[["n1", "n2"], ["n2", "n1"]]), "'circuit.pairs[1]'",
     "already listed"),
    ("pair-of-three", setter("circuit", "pairs", value=[["n1", "n2", "n1"]]), "'circuit.pairs[0]'",
     "exactly two"),
    ("neuron-name-with-dot", rename("circuit", "neurons", "n1", new="n.1"), "'circuit.neurons.n.1'",
     "not a valid name"),
    # simulation
    ("dt-negative", setter("simulation", "dt", value=-0.01), "'simulation.dt'", "-0.01"),
    ("dt-zero", setter("simulation", "dt", value=0), "'simulation.dt'", "positive"),
    ("dt-nan", setter("simulation", "dt", value=float("nan")), "'simulation.dt'", "nan"),
    ("dt-missing", deleter("simulation", "dt"), "'simulation.dt'", "required"),
    ("dt-over-duration", setter("simulation", "dt", value=200), "'simulation.dt'", "longer than the duration"),
    ("transient-too-long", setter("simulation", "transient", value=100), "'simulation.transient'",
     "not shorter"),
    ("transient-negative", setter("simulation", "transient", value=-1), "'simulation.transient'", ">= 0"),
    ("steps-not-whole", setter("simulation", "duration", value=100.005), "'simulation.duration'",
     "whole number of steps"),
    ("transient-not-whole", setter("simulation", "transient", value=10.005), "'simulation.transient'",
     "whole number of steps"),
    ("unknown-integrator", setter("simulation", "integrator", value="rk5"), "'simulation.integrator'",
     "euler, rk4, rk6"),
    ("unknown-precision", setter("simulation", "precision", value="float16"), "'simulation.precision'",
     "float32"),
    ("unknown-scheme", setter("simulation", "scheme", value="splitted"), "'simulation.scheme'",
     "did you mean 'split'"),
    ("bound-nonpositive", setter("simulation", "divergence_bound", value=0), "'simulation.divergence_bound'",
     "positive"),
    ("simulation-key-typo", rename("simulation", "dt", new="dtt"), "'simulation.dtt'", "did you mean 'dt'"),
    ("kuramoto-interval-zero", setter("simulation", "kuramoto_interval", value=0), "'simulation.kuramoto_interval'",
     "positive"),
    # sweep
    ("sweep-not-list", setter("sweep", value={"name": "g"}), "'sweep'", "list"),
    ("linspace-num-zero", setter(*S0, "linspace", "num", value=0), "'sweep[0].linspace.num'", "got 0"),
    ("linspace-num-fraction", setter(*S0, "linspace", "num", value=2.5), "'sweep[0].linspace.num'", "2.5"),
    ("linspace-missing-stop", deleter(*S0, "linspace", "stop"), "'sweep[0].linspace.stop'", "required"),
    ("linspace-duplicates", setter(*S0, "linspace", value={"start": 1, "stop": 1, "num": 3}),
     "'sweep[0].linspace'", "more than once"),
    ("values-empty", setter(*S1, "values", value=[]), "'sweep[1].values'", "empty"),
    ("values-duplicated", setter(*S1, "values", value=[0.1, 0.2, 0.1]), "'sweep[1].values'", "0.1"),
    ("values-text", setter(*S1, "values", value=[0.1, "x"]), "'sweep[1].values[1]'", "'x'"),
    ("logspace-nonpositive", setter(*S0, value={"name": "g", "paths": ["synapses.gap.params.g1"],
                                               "logspace": {"start": 0, "stop": 1, "num": 3}}),
     "'sweep[0].logspace.start'", "> 0"),
    ("two-value-kinds", setter(*S1, "linspace", value={"start": 0, "stop": 1, "num": 2}), "'sweep[1]'",
     "exactly one"),
    ("no-value-kind", deleter(*S1, "values"), "'sweep[1]'", "exactly one"),
    ("axis-key-typo", rename(*S0, "linspace", new="lin_space"), "'sweep[0].lin_space'",
     "did you mean 'linspace'"),
    ("unknown-path", setter(*S1, "paths", value={"inputs.n1": 1.0, "input.n2": 0.8}),
     "sweep[1].paths['input.n2']", "did you mean 'inputs.n2'"),
    ("path-in-list-unknown", setter(*S0, "paths", value=["synapses.gap.params.g3"]), "'sweep[0].paths[0]'",
     "synapses.gap.params.g"),
    ("path-no-close-match", setter(*S0, "paths", value=["gating"]), "'sweep[0].paths[0]'",
     "valid paths: neurons.n1.params.cm"),
    ("paths-empty", setter(*S0, "paths", value=[]), "'sweep[0].paths'", "empty"),
    ("factor-zero", setter(*S1, "paths", value={"inputs.n1": 1.0, "inputs.n2": 0}),
     "sweep[1].paths['inputs.n2']", "factor 0"),
    ("path-swept-twice", setter(*S1, "paths", value=["synapses.gap.params.g2"]), "'sweep[1].paths'",
     "already swept by sweep[0]"),
    ("duplicate-axis-name", setter(*S1, "name", value="g"), "'sweep[1].name'", "already used"),
    ("zip-name-clash", setter(*S2, "zip", value="v1_0"), "'sweep[2].axes[0].name'", "already used"),
    ("reserved-dim-name", setter(*S0, "name", value="time"), "'sweep[0].name'", "reserved"),
    ("reserved-zip-name", setter(*S2, "zip", value="neuron"), "'sweep[2].zip'", "reserved"),
    ("reserved-prefix", setter(*Z0, "name", value="trace_v"), "'sweep[2].axes[0].name'", "reserved"),
    ("bad-axis-name", setter(*S0, "name", value="g 1"), "'sweep[0].name'", "'g 1'"),
    ("zip-different-lengths", setter(*Z1, "random", "n", value=5), "'sweep[2].axes[1]'", "same number"),
    ("zip-empty", setter(*S2, "axes", value=[]), "'sweep[2].axes'", "empty"),
    ("random-n-zero", setter(*Z0, "random", "n", value=0), "'sweep[2].axes[0].random.n'", "got 0"),
    ("random-std-negative", setter(*Z1, "random", "std", value=-1), "'sweep[2].axes[1].random.std'", "std > 0"),
    ("random-low-high", setter(*Z0, "random", "high", value=-90), "'sweep[2].axes[0].random.high'",
     "low < high"),
    ("random-bad-distribution", setter(*Z0, "random", "distribution", value="gauss"),
     "'sweep[2].axes[0].random.distribution'", "normal"),
    ("random-wrong-param", rename(*Z1, "random", "std", new="sigma"), "'sweep[2].axes[1].random.sigma'",
     "unknown key"),
    ("random-seed-negative", setter(*Z0, "random", "seed", value=-1), "'sweep[2].axes[0].random.seed'",
     "got -1"),
    # parameter domains (engine.models.base.Param.domain): in the circuit and along an axis, factor included
    ("capacitance-zero", setter("circuit", "neurons", "n2", "params", value={"cm": 0.0}),
     "'circuit.neurons.n2.params.cm'", "must be > 0"),
    ("time-constant-negative", setter("circuit", "neurons", "n2", value={"model": "cif", "params": {"tau_m": -10}}),
     "'circuit.neurons.n2.params.tau_m'", "got -10"),
    ("axis-time-constant-zero", both(setter("circuit", "neurons", "n2", value={"model": "lif"}),
                                     setter(*S0, "paths", value=["neurons.n2.params.tau"])),
     "'sweep[0].linspace'", "sets neurons.n2.params.tau to 0"),
    ("axis-delay-negative-by-factor", both(
        setter("circuit", "synapses", "syn", value={"model": "ampa", "pre": "n1", "post": "n2"}),
        setter(*S0, "paths", value={"synapses.syn.params.delay": -1.0})),
     "'sweep[0].linspace'", "(the axis value times -1)"),
    # a delay longer than the engine's delay buffers hold at this dt (engine.simulate.MAX_DELAY_STEPS)
    ("delay-too-long", setter("circuit", "synapses", "syn",
                              value={"model": "ampa", "pre": "n1", "post": "n2", "params": {"delay": 1e9}}),
     "'circuit.synapses.syn.params.delay'", "100,000,000,000 steps of dt = 0.01"),
    ("axis-delay-too-long", both(
        setter("circuit", "synapses", "syn", value={"model": "ampa", "pre": "n1", "post": "n2"}),
        setter(*S0, "paths", value={"synapses.syn.params.delay": 1e8})),
     "'sweep[0].linspace'", "sets synapses.syn.params.delay to 1e+06 ms"),
    # metrics
    ("unknown-metric", setter("metrics", value=["spike_count", "pearsons"]), "'metrics[1]'",
     "did you mean 'pearson'"),
    ("metric-twice", setter("metrics", value=["pearson", "pearson"]), "'metrics[1]'", "twice"),
    ("metrics-not-list", setter("metrics", value="pearson"), "'metrics'", "list"),
    ("kuramoto-of-a-pair", setter("metrics", value=["spike_count", "kuramoto"]), "'metrics[1]'",
     "at least 3 neurons"),
    # record
    ("record-unknown-variable", setter("record", "variables", value=["w"]), "'record.variables[0]'",
     "no neuron"),
    ("record-unknown-neuron", setter("record", "variables", value=["n3.v"]), "'record.variables[0]'", "'n3'"),
    ("record-every-zero", setter("record", "every", value=0), "'record.every'", "got 0"),
    ("record-point-unknown-dim", setter("record", "points", value=[{"g": 0.005, "I_ex": 0.1, "trial": 2}]),
     "'record.points[0].I_ex'", "did you mean 'I_ext'"),
    ("record-point-off-grid", setter("record", "points", value=[{"g": 0.0055, "I_ext": 0.1, "trial": 2}]),
     "'record.points[0].g'", "0.0055"),
    ("record-point-missing-dim", setter("record", "points", value=[{"g": 0.005, "I_ext": 0.1}]),
     "'record.points[0]'", "trial"),
    ("record-point-zip-index", setter("record", "points", value=[{"g": 0.005, "I_ext": 0.1, "trial": 4}]),
     "'record.points[0].trial'", "from 0 to 3"),
    ("record-point-twice", setter("record", "points", value=[{"g": 0.005, "I_ext": 0.1, "trial": 2}] * 2),
     "'record.points[1]'", "already listed"),
    # execution
    ("chunk-points-zero", setter("execution", "chunk_points", value=0), "'execution.chunk_points'", "got 0"),
    ("execution-key-typo", setter("execution", value={"chunk_size": 10}), "'execution.chunk_size'",
     "chunk_points"),
    ("duration-too-many-steps", setter("simulation", "duration", value=1e15), "'simulation.duration'",
     "1e+17 steps of dt = 0.01 ms, more than the 9.01e+15 steps the engine counts exactly"),
    ("combined", both(setter("simulation", "dt", value=0.02), setter("simulation", "duration", value=0.01)),
     "'simulation.dt'", "longer"),
]


def test_battery_is_large_and_ids_unique():
    assert len(CASES) >= 20
    assert len({c[0] for c in CASES}) == len(CASES)


def test_base_is_valid():
    spec = load_spec(base())
    assert spec.shape == (11, 3, 4)


@pytest.mark.parametrize("mutate,field,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_spec(mutate, field, fragment):
    spec = base()
    mutate(spec)
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    message = str(info.value)
    assert field in message, message
    assert fragment in message, message
    assert "Fix:" in message, message
    assert "\n" not in message
    assert message.startswith("spec field '")


def test_the_longest_delay_the_buffers_hold_is_accepted():
    from synsweep.engine.simulate import MAX_DELAY_STEPS

    spec = base()
    spec["circuit"]["synapses"]["syn"] = {"model": "ampa", "pre": "n1", "post": "n2",
                                          "params": {"delay": MAX_DELAY_STEPS * 0.01}}
    load_spec(spec)
    spec["circuit"]["synapses"]["syn"]["params"]["delay"] = (MAX_DELAY_STEPS + 1) * 0.01
    with pytest.raises(SpecError, match="delay buffers hold"):
        load_spec(spec)
