"""Workflows before anything runs: the packaged specs, ``--set`` overrides, options and their errors, the
sweeps a workflow makes of its spec, and recording synapse states (no kernel is compiled here)."""

from __future__ import annotations

import pytest

from synsweep.engine import SYNAPSE_MODELS
from synsweep.sweeps import load_spec
from synsweep.sweeps.errors import SpecError
from synsweep.sweeps.traces import trace_layout
from synsweep.workflows.studies import WORKFLOW_NAMES, WorkflowError, get_workflow, plan_workflow, stored_run
from synsweep.workflows.studies.overrides import apply_override, parse_assignment


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
@pytest.mark.parametrize("small", [False, True])
def test_every_workflow_plans_valid_sweeps_from_its_packaged_spec(name, small, tmp_path):
    plan = plan_workflow(name, tmp_path / name, small=small)
    assert plan.sweeps and all(store.parent == tmp_path / name for _, _, store in plan.sweeps)
    assert not (tmp_path / name).exists()  # planning computes and writes nothing
    spec = load_spec(get_workflow(name).spec_path())  # runnable with synsweep run as it is
    assert spec.n_points >= 1


def test_overrides_walk_the_document_by_key_index_and_dim_name():
    doc = load_spec(get_workflow("fi-curve").spec_path()).document
    apply_override(doc, *parse_assignment("simulation.dt=0.05"))
    apply_override(doc, *parse_assignment("sweep.I_e.values=[1, 2, 3]"))  # an axis inside the zip group
    apply_override(doc, *parse_assignment("sweep.point.axes.V0.random.n=3"))
    apply_override(doc, *parse_assignment("sweep.0.axes.1.random.seed=7"))
    apply_override(doc, *parse_assignment("circuit.neurons.n.params.thr=-50"))
    spec = load_spec(doc)
    axes = {a.name: a for a in spec.dims[0].axes}
    assert spec.simulation.dt == 0.05 and axes["I_e"].kind == "values"  # the linspace was replaced
    assert axes["I_e"].values.tolist() == [1.0, 2.0, 3.0]
    assert spec.document["sweep"][0]["axes"][1]["random"] == {"n": 3, "seed": 7, "distribution": "uniform",
                                                              "low": -85.0, "high": -75.0}
    assert spec.circuit.neurons[0].params["thr"] == -50.0


@pytest.mark.parametrize(("name", "assignment", "field", "word"), [
    ("psp", "simulation.durtion=5", "simulation.durtion", "duration"),          # load_spec names the typo
    ("coupling-scan", "sweep.h.values=[1]", "--set sweep.h.values", "g, I_ext"),   # no dim h: the dims
    ("coupling-scan", "sweep.5.values=[1]", "--set sweep.5.values", "index"),
    ("coupling-scan", "simulation.dt.x=1", "--set simulation.dt.x", "simulation.dt"),
    ("coupling-scan", "simulation.duration", "--set simulation.duration", "path=value"),
    ("coupling-scan", "simulation.duration=[1,", "--set simulation.duration", "YAML"),
    ("coupling-scan", "workflow.treshold=0.8", "--set workflow.treshold", "threshold"),
    ("coupling-scan", "workflow.threshold=high", "--set workflow.threshold", "number"),
    ("fi-curve", "simulation.duration=200", "--set simulation.duration", "workflow.durations"),
    ("fi-curve", "workflow.durations=[100, -5]", "--set workflow.durations", "> 0"),
    ("synapse-gallery", "workflow.models=[ampa, kainate]", "--set workflow.models", "kainate"),
    ("psp", "circuit.inputs.post=1", "circuit.inputs.post", "excitatory"),
])
def test_bad_overrides_are_one_paragraph_naming_the_field(name, assignment, field, word, tmp_path):
    with pytest.raises(SpecError) as info:
        plan_workflow(name, tmp_path, [assignment])
    text = str(info.value)
    assert f"'{field}'" in text and word in text and "\n" not in text, text
    assert not any(tmp_path.iterdir())


def test_unknown_workflows_and_missing_runs_are_reported():
    with pytest.raises(WorkflowError, match="coupling-scan"):
        get_workflow("coupling-scn")
    with pytest.raises(WorkflowError, match="no workflow run"):
        stored_run("/nonexistent/place")


def test_fi_curve_runs_one_sweep_per_duration():
    plan = plan_workflow("fi-curve", "out", ["workflow.durations=[50, 200, 1000]"])
    assert [(label, spec.simulation.duration) for label, spec, _ in plan.sweeps] == [
        ("fi_curve_50ms", 50.0), ("fi_curve_200ms", 200.0), ("fi_curve_1000ms", 1000.0)]
    assert len({spec.spec_hash for _, spec, _ in plan.sweeps}) == 3


def test_synapse_gallery_covers_every_spike_driven_model_in_small_parts():
    """Every synapse model a spike source can drive (not gap junctions, not voltage-released diffusion) is in
    the gallery, in both output forms where it has them; the parts keep every kernel unrolled."""
    from synsweep.engine.kernel import MAX_UNROLLED_NEURONS

    plan = plan_workflow("synapse-gallery", "out")
    eligible = {(name, form) for name, m in SYNAPSE_MODELS.items()
                if m.spike_triggered and m.trigger is None and "gap" not in m.outputs
                for form in (m.outputs or {None: None})}
    covered = {(s.model, s.output_form) for _, spec, _ in plan.sweeps for s in spec.circuit.synapses}
    assert covered == eligible
    for _, spec, _ in plan.sweeps:
        assert len(spec.circuit.neurons) <= MAX_UNROLLED_NEURONS
        assert sum(n.model == "spike_source" for n in spec.circuit.neurons) == 1
        recorded = {v.rpartition(".")[0] for v in spec.record.variables if "." in v}
        assert recorded <= {s.name for s in spec.circuit.synapses}
    small = plan_workflow("synapse-gallery", "out", small=True)
    assert [{s.model for s in spec.circuit.synapses} for _, spec, _ in small.sweeps] == [{"ampa", "nmda", "gaba_a"}]


def test_record_takes_synapse_states_along_a_synapse_dim():
    spec = plan_workflow("psp", "out").sweeps[0][1]
    layout = trace_layout(spec)
    assert layout.variables == ("v",) and layout.synapse_variables == ("x", "g")
    assert layout.stored == {"trace_v": ("neuron", "v"), "synapse_trace_x": ("synapse", "x"),
                             "synapse_trace_g": ("synapse", "g")}
    assert layout.synapse_rows["g"] == (0, 1, 2)
    doc = dict(spec.document, record={"variables": ["syn_excitatory.s"]})
    with pytest.raises(SpecError, match="synapse 'syn_excitatory' has no state variable 's'"):
        load_spec(doc)
    doc["record"] = {"variables": ["nosuch.v"]}
    with pytest.raises(SpecError, match="names no neuron or synapse"):
        load_spec(doc)


def test_the_command_help_names_every_workflow():
    from synsweep.workflows.workflow_cli import workflow

    assert all(name in " ".join(workflow.help.split()) for name in WORKFLOW_NAMES)


def test_the_command_refuses_bad_requests_before_anything_runs(tmp_path):
    """The ``synsweep workflow`` command in this process (the end-to-end test that runs a workflow is slow): an
    unknown workflow and a misspelt ``--set`` field are one user error each (exit 2; the ``synsweep: error:`` prefix
of the installed command is the end-to-end test's), and nothing is written."""
    from click.testing import CliRunner

    from synsweep.workflows.cli import cli

    for args, words in ((["if-snyc"], ["if-sync"]), (["if-sync", "--small", "--set", "simulation.dtt=0.1"],
                                                     ["simulation.dtt", "dt"])):
        result = CliRunner().invoke(cli, ["workflow", *args, "--out", str(tmp_path / "bad")])
        assert result.exit_code == 2, result.output
        assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output, result.output
        assert all(word in result.output for word in words), result.output
        assert not (tmp_path / "bad").exists()
