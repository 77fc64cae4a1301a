"""synapse-gallery (seed 001): what does each synapse model's gating variable do after presynaptic spikes,
and what does it do to the postsynaptic potential, current-based and conductance-based?

Spec ``synapse_gallery.yaml``: a spike source (10 ms, then every 25 ms) onto one LIF neuron per synapse
model and output form (V_rest -65, V_reset -70, V_th -50 mV); the CUBA weight of each model is its COBA
current at rest, w = g_max (E - V_rest). The workflow runs it in parts of at most
``MAX_UNROLLED_NEURONS`` - 1 post neurons (``synapse_gallery_1.zarr``, ...: the post neurons never interact,
so splitting the circuit changes no number, and small circuits compile in seconds where one kernel for all
16 neurons takes minutes); ``workflow.models`` chooses the models (default: all of the spec's, in order).
Figure ``synapse_gallery.png``: per model a row: s(t) with the presynaptic spikes, V(t) of the CUBA neuron,
V(t) of the COBA neuron. The gating variable is the model's ``s`` (GABA_B: s = G^4 / (G^4 + Kd) from the
stored G; two_stage: its conductance g).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from synsweep.engine.kernel import MAX_UNROLLED_NEURONS, MAX_UNROLLED_SYNAPSES
from synsweep.sweeps.errors import SpecError, listing

from .base import Workflow, WorkflowRun
from .figures import figure_stems, new_figure, parameter_at, save, stored, title_of, trace

MODELS = ["ampa", "gaba_a", "gaba_b", "nmda", "exponential", "dual_exponential", "alpha", "two_stage", "voltage_jump"]
FORMS = (("cuba", "V, current-based (CUBA)"), ("coba", "V, conductance-based (COBA)"))


def _models_in(document: dict) -> list[str]:
    synapses = (document.get("circuit") or {}).get("synapses") or {}
    return list(dict.fromkeys(str(s.get("model")) for s in synapses.values() if isinstance(s, Mapping)))


def _check(document: dict, options: Mapping[str, Any]) -> None:
    available = _models_in(document)
    unknown = [m for m in options["models"] if m not in available]
    if unknown:
        raise SpecError("--set workflow.models", f"the spec has no synapse of model(s) {', '.join(unknown)}",
                        f"choose among: {listing(available)}", where="option")


def _part(document: dict, synapses: list[str], label: str) -> dict:
    """The spec restricted to ``synapses``, their neurons and the record variables of what is kept."""
    doc = copy.deepcopy(document)
    circuit = doc["circuit"]
    circuit["synapses"] = {name: circuit["synapses"][name] for name in synapses}
    kept = {end for s in circuit["synapses"].values() for end in (s["pre"], s["post"])}
    circuit["neurons"] = {n: d for n, d in circuit["neurons"].items() if n in kept}
    circuit["inputs"] = {n: i for n, i in (circuit.get("inputs") or {}).items() if n in kept}
    record = doc.get("record")
    if isinstance(record, dict) and isinstance(record.get("variables"), list):
        units = kept | set(synapses)
        record["variables"] = [v for v in record["variables"]
                               if "." not in str(v) or str(v).rpartition(".")[0] in units]
    doc["name"] = label
    return doc


def _sweeps(document: dict, options: Mapping[str, Any]) -> list[tuple[str, dict]]:
    """Parts of at most MAX_UNROLLED_NEURONS - 1 post neurons (besides the source), whole models each."""
    synapses = document["circuit"]["synapses"]
    parts: list[list[str]] = [[]]
    for model in options["models"]:
        names = [n for n, s in synapses.items() if s.get("model") == model]
        posts = {synapses[n]["post"] for n in parts[-1] + names}
        if parts[-1] and (len(posts) > MAX_UNROLLED_NEURONS - 1
                          or len(parts[-1]) + len(names) > MAX_UNROLLED_SYNAPSES):
            parts.append([])
        parts[-1] += names
    name = str(document["name"])
    labels = [name] if len(parts) == 1 else [f"{name}_{k + 1}" for k in range(len(parts))]
    return [(label, _part(document, part, label)) for label, part in zip(labels, parts, strict=True)]


def gating(ds: xr.Dataset, synapse: str, index: dict[str, int]) -> tuple[np.ndarray, str] | None:
    """The gating variable of ``synapse`` at the traced point ``index`` and its label: its ``s``, GABA_B's
    G^4 / (G^4 + Kd), or two_stage's conductance g; None for a model without state (voltage_jump)."""
    spec = stored(ds)
    model = spec.circuit.synapse(synapse).model
    if "synapse_trace_s" in ds and np.isfinite(trace(ds, "synapse_trace_s", index).sel(synapse=synapse)).any():
        return np.asarray(trace(ds, "synapse_trace_s", index).sel(synapse=synapse).values), "s"
    if model == "gaba_b" and "synapse_trace_G" in ds:
        g = np.asarray(trace(ds, "synapse_trace_G", index).sel(synapse=synapse).values, dtype=np.float64)
        kd = parameter_at(ds, spec, f"synapses.{synapse}.params.Kd", index)
        return g**4 / (g**4 + kd), "s = G^4 / (G^4 + Kd)"
    if model == "two_stage" and "synapse_trace_g" in ds:
        units = spec.circuit.units(f"synapses.{synapse}.init.g")
        return np.asarray(trace(ds, "synapse_trace_g", index).sel(synapse=synapse).values), f"g ({units})"
    return None


def presynaptic_spikes(ds: xr.Dataset, source: str, index: dict[str, int]) -> np.ndarray:
    """The spike times (ms) of the spike source ``source`` within the run, from its stored parameters."""
    spec = stored(ds)
    first = parameter_at(ds, spec, f"neurons.{source}.params.t_first", index)
    period = parameter_at(ds, spec, f"neurons.{source}.params.period", index)
    end = spec.simulation.duration
    if period <= 0:
        return np.array([first]) if first <= end else np.array([])
    return np.arange(first, end + 1e-9, period)


def rows(run: WorkflowRun) -> dict[str, dict[str, tuple[xr.Dataset, str, str]]]:
    """model -> output form ('cuba', 'coba', or '' for a model without one) -> (dataset, synapse, post
    neuron), over all the run's stores, models in the order of ``workflow.models``."""
    found: dict[str, dict[str, tuple[xr.Dataset, str, str]]] = {}
    for label in run.stores:
        ds = run.open(label)
        for syn in stored(ds).circuit.synapses:
            found.setdefault(syn.model, {})[syn.output_form or ""] = (ds, syn.name, syn.post)
    order = [m for m in run.options["models"] if m in found]
    return {m: found[m] for m in order}


def draw(run: WorkflowRun) -> list[Path]:
    """Per model: s(t) with the presynaptic spikes, V(t) CUBA, V(t) COBA."""
    table = rows(run)
    first = run.open()
    source = next(n.name for n in stored(first).circuit.neurons if n.model == "spike_source")
    written = []
    for index, stem in figure_stems(first, "synapse_gallery"):
        fig, axes = new_figure(len(table), 3, (13.0, 1.9 * len(table) + 0.9), sharex=True)
        spikes = presynaptic_spikes(first, source, index)
        for row, (model, forms) in zip(axes, table.items(), strict=True):
            ds, synapse, _ = next(iter(forms.values()))
            s = gating(ds, synapse, index)
            for t in spikes:
                row[0].axvline(t, color="0.75", linewidth=0.8, zorder=0)
            if s is None:
                row[0].text(0.5, 0.5, "no gating variable:\nV jumps by w on each spike", ha="center",
                            va="center", transform=row[0].transAxes, fontsize="small")
                row[0].set_yticks([])
            else:
                row[0].plot(first["time"].values, s[0], color="black", linewidth=1.1)
                row[0].set_ylabel(s[1], fontsize="small")
            row[0].set_title(model, fontsize="small", loc="left", fontweight="bold")
            for ax, (form, title) in zip(row[1:], FORMS, strict=True):
                entry = forms.get(form) or (forms.get("") if form == "cuba" else None)
                if entry is None:
                    ax.text(0.5, 0.5, f"{model} has no {form.upper()} form", ha="center", va="center",
                            transform=ax.transAxes, fontsize="small", color="0.4")
                    ax.set_yticks([])
                    continue
                ds, synapse, post = entry
                v = trace(ds, "trace_v", index).sel(neuron=post)
                ax.plot(ds["time"].values, v.values, linewidth=1.0, color="C0" if form == "cuba" else "C3")
                ax.set_ylabel("V (mV)", fontsize="small")
                ax.set_title(title if entry is not forms.get("") else "V (voltage jump, no current)",
                             fontsize="small")
            for ax in row:
                ax.grid(True, alpha=0.3)
                ax.ticklabel_format(axis="y", useOffset=False)
        for ax in axes[-1]:
            ax.set_xlabel("time (ms)")
        where = title_of(first, index)
        fig.suptitle("Synapse models driven by one presynaptic spike train (grey lines), onto LIF neurons at "
                     "V_rest = -65 mV" + (f"\n{where}" if where else ""), fontsize="medium")
        written += save(fig, run, stem)
    return written


WORKFLOW = Workflow(
    name="synapse-gallery",
    spec_file="synapse_gallery.yaml",
    question="What does each synapse model's gating variable do after presynaptic spikes, and what does it do "
             "to the postsynaptic potential, current-based and conductance-based?",
    source="seed 001 (BrainPy: synaptic models)",
    draw=draw,
    options={"models": MODELS},
    small={"workflow.models": ["ampa", "nmda", "gaba_a"], "simulation.duration": 100.0},
    sweeps=_sweeps,
    check=_check,
)
