"""Valid sweep specs: the grid, axes, defaults, the normalised document, the hash; counter-based draws.

Nothing here compiles or runs a kernel.
"""

from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pytest

from synsweep.engine import DEFAULT_METRICS, Simulation
from synsweep.sweeps.draws import draws, random_bits, round_significant, uniform01
from synsweep.sweeps.errors import SpecError
from synsweep.sweeps.spec import load_spec
from synsweep.sweeps.spec.sizing import check_resources, estimate
from synsweep.sweeps.traces import traced_indices

SEED_YAML = """\
name: hh-coupling-scan
description: two HH neurons coupled by a gap junction
circuit:
  neurons:
    n1: {model: hh, init: {v: -75}}
    n2: {model: hh, init: {v: -65, m: 0}, params: {gna: 0.94}}
  synapses:
    gap: {model: electrical, pre: n1, post: n2, params: {g1: 0.002, g2: 0.002}}
  inputs: {n1: 0.1, n2: 0.08}
  pairs: [[n1, n2]]
simulation:
  dt: 0.01
  duration: 100
  transient: 20
  integrator: rk4
  precision: float64
  scheme: coupled
  divergence_bound: 10000
sweep:
  - name: g
    paths: [synapses.gap.params.g1, synapses.gap.params.g2]
    linspace: {start: 0, stop: 0.01, num: 41}
  - name: I_ext
    paths: {inputs.n1: 1.0, inputs.n2: 0.8}
    linspace: {start: 0.05, stop: 0.15, num: 21}
  - zip: trial
    axes:
      - name: v1_0
        paths: [neurons.n1.init.v]
        random: {n: 10, seed: 1, distribution: uniform, low: -80, high: -60}
      - name: v2_0
        paths: [neurons.n2.init.v]
        random: {n: 10, seed: 1, distribution: normal, mean: -65, std: 2}
metrics: [spike_count, rate_count, pearson]
record:
  variables: [v, n1.m]
  every: 10
  points: [{g: 0.005, I_ext: 0.1, trial: 3}, {g: 0.0025, I_ext: 0.15, v2_0: -65.94664819}]
execution:
  chunk_points: 512
"""


def minimal() -> dict:
    return {"name": "one", "circuit": {"neurons": {"n1": {"model": "hh"}}},
            "simulation": {"dt": 0.01, "duration": 10}}


@pytest.fixture
def seed_file(tmp_path):
    path = tmp_path / "scan.yaml"
    path.write_text(SEED_YAML)
    return path


@pytest.fixture
def seed_spec(seed_file):
    return load_spec(seed_file)


# -- the grid ----------------------------------------------------------------------------------------------
def test_yaml_file_grid_and_dims(seed_spec, seed_file):
    spec = seed_spec
    assert spec.name == "hh-coupling-scan"
    assert [d.name for d in spec.dims] == ["g", "I_ext", "trial"]
    assert spec.shape == (41, 21, 10)
    assert spec.n_points == 41 * 21 * 10
    assert spec.neuron_steps == spec.n_points * 2 * 10_000
    assert not spec.dims[0].zipped and spec.dims[2].zipped
    assert [a.name for a in spec.dims[2].axes] == ["v1_0", "v2_0"]
    assert spec.chunk_points == 512
    assert spec.metrics == ("spike_count", "rate_count", "pearson")
    assert spec.simulation == Simulation(dt=0.01, duration=100.0, transient=20.0, integrator="rk4",
                                         precision="float64", scheme="coupled", divergence_bound=1e4)
    assert load_spec(str(seed_file)) == spec  # str and PathLike alike


def test_circuit_values(seed_spec):
    c = seed_spec.circuit
    assert c.neuron_names == ("n1", "n2")
    n1, n2 = c.neurons
    assert n1.init == {"v": -75.0, "m": None, "h": None, "n": None}
    assert n2.init == {"v": -65.0, "m": 0.0, "h": None, "n": None}
    assert n2.params["gna"] == 0.94 and n1.params["gna"] == pytest.approx(120 * 7.854e-3)
    assert c.inputs == {"n1": 0.1, "n2": 0.08}
    assert c.pairs == (("n1", "n2"),)
    assert c.synapses[0].pre == "n1" and c.synapses[0].params == {"g1": 0.002, "g2": 0.002}


def test_axis_values_units_and_names(seed_spec):
    g, i_ext, trial = seed_spec.dims
    axis = g.axes[0]
    assert axis.kind == "linspace" and axis.units == "mS"
    assert axis.values[0] == 0.0 and axis.values[-1] == 0.01
    assert axis.values[3] == 0.00075 and axis.values[20] == 0.005  # rounded: exact decimal literals
    assert axis.long_name == "synapses.gap.params.g1, synapses.gap.params.g2"
    assert i_ext.axes[0].targets == {"inputs.n1": 1.0, "inputs.n2": 0.8}
    assert i_ext.axes[0].units == "uA"
    v1 = trial.axes[0]
    assert v1.kind == "random" and v1.units == "mV" and v1.long_name == "initial membrane potential of n1"
    assert np.all((v1.values >= -80) & (v1.values < -60))
    np.testing.assert_array_equal(v1.values, draws(1, "v1_0", np.arange(10), "uniform", low=-80.0, high=-60.0))
    # same seed, different axis name: a different stream
    assert not np.array_equal(trial.axes[1].values, draws(1, "v1_0", np.arange(10), "normal", mean=-65.0,
                                                          std=2.0))


def test_point_values_apply_factors(seed_spec):
    spec = seed_spec
    g, i_ext, trial = (d.axes[0].values for d in spec.dims)
    v2 = spec.dims[2].axes[1].values
    block = (slice(2, 4), slice(0, 21, 10), slice(5, 7))
    pv = spec.point_values(block)
    assert set(pv) == {"synapses.gap.params.g1", "synapses.gap.params.g2", "inputs.n1", "inputs.n2",
                       "neurons.n1.init.v", "neurons.n2.init.v"}
    assert all(v.shape == (2 * 3 * 2,) for v in pv.values())
    # C order: last dim fastest
    exp_g = np.repeat(g[2:4], 3 * 2)
    exp_i = np.tile(np.repeat(i_ext[0:21:10], 2), 2)
    exp_t = np.tile(trial[5:7], 2 * 3)
    np.testing.assert_array_equal(pv["synapses.gap.params.g1"], exp_g)
    np.testing.assert_array_equal(pv["synapses.gap.params.g2"], exp_g)
    np.testing.assert_array_equal(pv["inputs.n1"], exp_i)
    np.testing.assert_allclose(pv["inputs.n2"], 0.8 * exp_i, rtol=0, atol=0)
    np.testing.assert_array_equal(pv["neurons.n1.init.v"], exp_t)
    np.testing.assert_array_equal(pv["neurons.n2.init.v"], np.tile(v2[5:7], 6))


def test_values_and_logspace_axes():
    doc = minimal()
    doc["sweep"] = [
        {"name": "gna", "paths": ["neurons.n1.params.gna"], "values": [0.5, 1, 2.5]},
        {"name": "gk", "paths": {"neurons.n1.params.gk": 2.0}, "logspace": {"start": 0.001, "stop": 1, "num": 4}},
    ]
    spec = load_spec(doc)
    assert spec.shape == (3, 4)
    assert spec.dims[0].axes[0].kind == "values"
    np.testing.assert_array_equal(spec.dims[0].axes[0].values, [0.5, 1.0, 2.5])
    np.testing.assert_array_equal(spec.dims[1].axes[0].values, [0.001, 0.01, 0.1, 1.0])
    assert spec.dims[1].axes[0].long_name == "2 x neurons.n1.params.gk"
    assert spec.dims[0].axes[0].long_name == "maximal Na+ conductance of n1"
    assert spec.document["sweep"][0]["values"] == [0.5, 1.0, 2.5]
    pv = spec.point_values((slice(None), slice(None)))
    np.testing.assert_array_equal(pv["neurons.n1.params.gk"], 2.0 * np.tile([0.001, 0.01, 0.1, 1.0], 3))


def test_linspace_reproducible_and_single_value():
    doc = minimal()
    doc["sweep"] = [{"name": "I", "paths": ["inputs.n1"], "linspace": {"start": -0.1, "stop": 0.2, "num": 4}},
                    {"name": "J", "paths": ["neurons.n1.params.vl"], "linspace": {"start": -60, "stop": -50,
                                                                                   "num": 1}}]
    spec = load_spec(doc)
    np.testing.assert_array_equal(spec.dims[0].axes[0].values, [-0.1, 0.0, 0.1, 0.2])  # no 1.4e-17 residue
    assert spec.dims[1].axes[0].values.tolist() == [-60.0]


def test_defaults_filled_in():
    spec = load_spec(minimal())
    assert spec.dims == () and spec.shape == () and spec.n_points == 1
    assert spec.metrics == tuple(m for m in DEFAULT_METRICS if m != "kuramoto")  # one neuron: no kuramoto
    assert spec.record is None
    assert spec.chunk_points == 4096 and not spec.chunk_points_given  # a run sizes chunks to its workers
    assert spec.description == ""
    assert spec.simulation == Simulation(dt=0.01, duration=10.0)
    assert spec.circuit.inputs == {"n1": 0.0}
    assert spec.circuit.pairs == ()
    doc = spec.document
    assert doc["simulation"] == {"dt": 0.01, "duration": 10.0, "transient": 0.0, "integrator": "rk4",
                                 "precision": "float64", "scheme": "coupled", "divergence_bound": 10000.0}
    assert doc["circuit"]["neurons"]["n1"]["init"] == {"v": None, "m": None, "h": None, "n": None}
    assert set(doc["circuit"]["neurons"]["n1"]["params"]) == {"cm", "gna", "gk", "gl", "vna", "vk", "vl",
                                                              "v_spike"}
    assert doc["sweep"] == [] and doc["record"] is None and doc["execution"] == {}
    assert spec.point_values(()) == {}


def test_default_pairs_are_all_pairs_in_order():
    doc = minimal()
    doc["circuit"]["neurons"] = {"a": {"model": "hh"}, "b": {"model": "hh"}, "c": {"model": "hh"}}
    spec = load_spec(doc)
    assert spec.circuit.pair_list == (("a", "b"), ("a", "c"), ("b", "c"))


def test_input_mapping_not_modified():
    doc = minimal()
    doc["sweep"] = [{"name": "I", "paths": ["inputs.n1"], "values": [0.1, 0.2]}]
    before = copy.deepcopy(doc)
    load_spec(doc)
    assert doc == before


# -- the document and the hash -------------------------------------------------------------------------------
def test_document_round_trip_and_json(seed_spec):
    doc = seed_spec.document
    text = json.dumps(doc, allow_nan=False)
    again = load_spec(json.loads(text))
    assert again == seed_spec
    assert again.document == doc
    assert again.spec_hash == seed_spec.spec_hash
    assert load_spec(again.document) == seed_spec


def test_hash_ignores_chunking_and_key_order(seed_spec):
    doc = copy.deepcopy(seed_spec.document)
    doc["execution"]["chunk_points"] = 7
    other = load_spec(doc)
    assert other.chunk_points == 7 and other.spec_hash == seed_spec.spec_hash

    def reverse(obj):
        if isinstance(obj, dict):
            return {k: reverse(obj[k]) for k in reversed(list(obj))}
        if isinstance(obj, list):
            return [reverse(x) for x in obj]
        return obj

    shuffled = reverse(copy.deepcopy(seed_spec.document))
    shuffled["circuit"]["neurons"] = seed_spec.document["circuit"]["neurons"]  # neuron order is meaningful
    assert load_spec(shuffled).spec_hash == seed_spec.spec_hash


def test_hash_equal_for_equivalent_specs_and_changes_with_content():
    a = minimal()
    b = minimal()
    b["simulation"] = {"duration": 10.0, "dt": 0.01, "integrator": "rk4", "transient": 0}
    b["circuit"]["inputs"] = {"n1": 0}
    b["circuit"]["neurons"]["n1"]["params"] = {"vna": 50}
    assert load_spec(a).spec_hash == load_spec(b).spec_hash
    b["simulation"]["dt"] = 0.005
    assert load_spec(a).spec_hash != load_spec(b).spec_hash
    assert len(load_spec(a).spec_hash) == 64


def test_hash_is_stable_across_runs():
    """The hash is a pure function of the spec's content (a frozen value guards the normalisation)."""
    doc = minimal()
    doc["sweep"] = [{"name": "I", "paths": ["inputs.n1"], "linspace": {"start": 0, "stop": 0.2, "num": 5}}]
    expected = load_spec(doc).spec_hash
    assert all(load_spec(copy.deepcopy(doc)).spec_hash == expected for _ in range(3))


# -- record ---------------------------------------------------------------------------------------------------
def test_record_points_normalised(seed_spec):
    rec = seed_spec.record
    assert rec.variables == ("v", "n1.m") and rec.every == 10
    assert rec.points == ({"g": 0.005, "I_ext": 0.1, "trial": 3}, {"g": 0.0025, "I_ext": 0.15, "trial": 1})
    idx = traced_indices(seed_spec)
    assert idx.tolist() == [int(np.ravel_multi_index((20, 10, 3), seed_spec.shape)),
                            int(np.ravel_multi_index((10, 20, 1), seed_spec.shape))]


def test_record_all_and_estimate(seed_spec):
    doc = copy.deepcopy(seed_spec.document)
    doc["record"]["points"] = "all"
    spec = load_spec(doc)
    assert spec.record.points is None
    assert traced_indices(spec).size == spec.n_points
    est = estimate(spec)
    assert est["points"] == spec.n_points and est["shape"] == (41, 21, 10)
    assert est["dims"] == ("g", "I_ext", "trial")
    assert est["trace_rows"] == 3  # n1.v, n2.v, n1.m
    assert est["trace_samples"] == 10_000 // 10 + 1
    assert est["trace_bytes"] == spec.n_points * 3 * 1001 * 8
    # spike_count int32 x 2 neurons, rate_count float64 x 2, pearson float64 x 1 pair, status, diverged_step
    assert est["metric_bytes"] == spec.n_points * (4 * 2 + 8 * 2 + 8 + 1 + 8)
    assert est["output_bytes"] == est["metric_bytes"] + est["trace_bytes"]
    assert est["neuron_steps"] == spec.neuron_steps


def test_check_resources(seed_spec, tmp_path):
    check_resources(seed_spec, tmp_path / "out" / "scan.zarr")  # small: fits
    check_resources(seed_spec, None)
    with pytest.raises(SpecError) as err:
        check_resources(seed_spec, tmp_path / "scan.zarr", free_bytes=1000)
    assert "'sweep'" in str(err.value) and "Fix:" in str(err.value)
    doc = copy.deepcopy(seed_spec.document)
    doc["record"] = {"variables": ["v"], "every": 1, "points": "all"}
    big = load_spec(doc)
    with pytest.raises(SpecError) as err:
        check_resources(big, tmp_path / "scan.zarr", free_bytes=10**9)
    assert "'record'" in str(err.value) and "record.every" in str(err.value)
    with pytest.raises(SpecError) as err:
        check_resources(big, None, memory_bytes=10**8)
    assert "'record'" in str(err.value) and "chunk_points" in str(err.value)


def test_delay_buffers_count_in_a_tasks_memory_and_too_many_are_refused():
    neurons = {"a": {"model": "lif"}, "b": {"model": "lif"}}

    def spec(delay: float, n: int):
        synapses = {f"s{i}": {"model": "exponential", "pre": "a", "post": "b", "params": {"delay": delay}}
                    for i in range(n)}
        return load_spec({"name": "delays", "circuit": {"neurons": neurons, "synapses": synapses},
                          "simulation": {"dt": 0.01, "duration": 10.0}})

    # 100 steps of delay: a ring of 128 slots of one float64 tile (64 lanes) per synapse
    assert estimate(spec(1.0, 3))["ring_bytes"] == 3 * 128 * 64 * 8
    assert estimate(spec(0.0, 3))["ring_bytes"] == 0
    long = spec(10_000.0, 8)  # 10^6 steps each: 2^20 slots, 512 MiB per synapse
    assert estimate(long)["chunk_bytes"] > estimate(long)["ring_bytes"] == 8 * 2**20 * 64 * 8
    with pytest.raises(SpecError) as err:
        check_resources(long, None, memory_bytes=8 * 2**30)
    assert "'circuit.synapses'" in str(err.value) and "shorter delays" in str(err.value)
    check_resources(spec(10_000.0, 1), None, memory_bytes=8 * 2**30)


# -- errors ---------------------------------------------------------------------------------------------------
def test_spec_error_is_one_paragraph_and_pickles():
    err = SpecError("simulation.dt", "must be a positive number of ms, got -0.01",
                    "give the integration step in ms, for example dt: 0.01")
    assert isinstance(err, ValueError)
    assert str(err) == ("spec field 'simulation.dt': must be a positive number of ms, got -0.01. Fix: give the "
                        "integration step in ms, for example dt: 0.01.")
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and back.field == "simulation.dt"


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "missing.yaml")


@pytest.mark.parametrize("text, message", [
    ("name: x\ncircuit: {neurons: [\n", r"line \d+.*not valid YAML.*Fix"),
    (SEED_YAML.replace("  dt: 0.01\n", "  dt: 0.01\n  dt: 0.02\n"), r"line 13.*'dt' is given twice.*first on line 12"),
    (SEED_YAML.replace("dt: 0.01", "dt: 1e-2"), r"'simulation.dt'.*text '1e-2'.*Fix: .*1.0e-3"),
    (SEED_YAML.replace("    n1: {model: hh, init: {v: -75}}", "    on: {model: hh}"),
     r"'circuit.neurons.True'.*boolean true.*Fix: quote"),
    ("", "empty"),
], ids=["syntax", "duplicate-key", "exponent-as-text", "yaml-boolean-key", "empty"])
def test_yaml_errors(tmp_path, text, message):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=message):
        load_spec(path)


# -- draws ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dist,params", [("uniform", {"low": -80.0, "high": -60.0}),
                                         ("normal", {"mean": -65.0, "std": 2.0})])
def test_draws_depend_only_on_seed_name_index(dist, params):
    n = 500
    batch = draws(7, "v1_0", np.arange(n), dist, **params)
    one_by_one = np.array([draws(7, "v1_0", i, dist, **params)[0] for i in range(n)])
    np.testing.assert_array_equal(batch, one_by_one)
    reverse = draws(7, "v1_0", np.arange(n)[::-1], dist, **params)
    np.testing.assert_array_equal(reverse[::-1], batch)
    chunks = np.concatenate([draws(7, "v1_0", np.arange(a, min(a + 64, n)), dist, **params)
                             for a in range(0, n, 64)])
    np.testing.assert_array_equal(chunks, batch)
    np.random.seed(0)  # noqa: NPY002  (the global state must not matter)
    np.testing.assert_array_equal(draws(7, "v1_0", np.arange(n), dist, **params), batch)
    assert not np.array_equal(draws(8, "v1_0", np.arange(n), dist, **params), batch)
    assert not np.array_equal(draws(7, "v2_0", np.arange(n), dist, **params), batch)


NORMAL_V2_0 = [-1.01546394454, -0.473324096564]


def test_draws_known_values():
    """Frozen values: a change to the generator would silently change every random sweep's coordinates."""
    assert random_bits(0, "x", [0, 1]).tolist() == [5910234501167357787, 722554001587042699]
    u = uniform01(1, "v1_0", np.arange(3))
    assert np.all((u >= 0) & (u < 1))
    np.testing.assert_array_equal(draws(1, "v1_0", np.arange(3), "uniform", low=-80.0, high=-60.0),
                                  -80.0 + 20.0 * u)
    assert draws(1, "v1_0", [0], "uniform", low=0.0, high=1.0)[0] == 0.37266155021456093
    assert draws(1, "v2_0", [0, 1], "normal", mean=0.0, std=1.0).tolist() == NORMAL_V2_0


def test_draws_statistics():
    n = 100_000
    u = uniform01(12345, "axis", np.arange(n))
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    z = draws(12345, "axis", np.arange(n), "normal", mean=3.0, std=2.0)
    assert abs(z.mean() - 3.0) < 0.03 and abs(z.std() - 2.0) < 0.03
    assert abs(np.mean(((z - 3.0) / 2.0) ** 4) - 3.0) < 0.1  # kurtosis of a normal
    w = uniform01(12345, "axis", np.arange(n), word=1)
    assert abs(np.corrcoef(u, w)[0, 1]) < 0.02  # the two words of an index are independent


def test_round_significant():
    x = np.array([0.1 + 0.2, -1.4e-17, 0.0, 123456.78901234567, np.inf])
    np.testing.assert_array_equal(round_significant(x), [0.3, -1.4e-17, 0.0, 123456.789012, np.inf])
    assert not np.signbit(round_significant(np.array([-0.0]))[0])


def test_kuramoto_is_a_default_metric_of_three_neurons_only_and_leaves_pair_hashes_alone():
    """The circuit metric kuramoto is in the default metrics of a circuit of >= 3 neurons; a pair's default
    list (and so its spec hash) is the list of the ten metrics there were before it."""
    pair = minimal()
    pair["circuit"]["neurons"]["n2"] = {"model": "hh"}
    spec = load_spec(pair)
    assert "kuramoto" not in spec.metrics
    explicit = copy.deepcopy(pair)
    explicit["metrics"] = ["spike_count", "rate_count", "rate_isi", "isi_cv", "first_spike_time", "pearson",
                           "mean_abs_dv", "coincidence", "plv", "time_to_sync"]
    assert load_spec(explicit).spec_hash == spec.spec_hash
    trio = copy.deepcopy(pair)
    trio["circuit"]["neurons"]["n3"] = {"model": "hh"}
    assert load_spec(trio).metrics[-1] == "kuramoto"


def test_kuramoto_interval_is_stored_only_when_not_the_default():
    doc = minimal()
    spec = load_spec(doc)
    assert spec.simulation.kuramoto_interval == 1.0 and spec.simulation.kuramoto_every == 100
    assert "kuramoto_interval" not in spec.document["simulation"]
    doc["simulation"]["kuramoto_interval"] = 1.0
    assert load_spec(doc).spec_hash == spec.spec_hash
    doc["simulation"]["kuramoto_interval"] = 0.25
    other = load_spec(doc)
    assert other.simulation.kuramoto_every == 25
    assert other.document["simulation"]["kuramoto_interval"] == 0.25
    assert "coincidence_window" not in other.document["simulation"]
    assert other.spec_hash != spec.spec_hash
    assert load_spec(other.document) == other
