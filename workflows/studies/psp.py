"""psp (seed 002, part 1): how does an integrate-and-fire neuron at rest respond to one presynaptic spike
through an excitatory, an inhibitory and a shunted excitatory conductance synapse?

Spec ``psp.yaml``: a spike source firing once at 40 ms onto three cif neurons (E_m -80 mV, no reset)
through two_stage synapses: E_syn 0 mV, E_syn -100 mV, and E_syn 0 mV onto a neuron with background
conductances g_exc 50 nS and g_inh 200 nS; V, and x and g of each synapse, recorded every 0.1 ms.
Figure ``psp.png``, the seed's five panels from the stored traces and the stored parameters:

    V (mV)
    I_m   = (V - E_m) / R_m                                                    (nA; mV / MOhm)
    I_syn = g (V - E_syn) + g_exc (V - E_exc) + g_inh (V - E_inh)              (nA; nS x mV x 1e-3)
    g_syn = g, and x, the two stages of the synapse                            (nS)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from synsweep.engine import NEURON_MODELS

from .base import Workflow, WorkflowRun
from .figures import figure_stems, new_figure, parameter_at, save, stored, title_of, trace

PANELS = (("V", "V (mV)", "membrane potential"),
          ("I_m", "I_m (nA)", "I_m = (V - E_m) / R_m"),
          ("I_syn", "I_syn (nA)", "I_syn = g_syn (V - E_syn) + g_exc (V - E_exc) + g_inh (V - E_inh)"),
          ("g", "g_syn (nS)", "tau_syn dg_syn/dt = x - g_syn"),
          ("x", "x (nS)", "tau_syn dx/dt = -x, x += g_star on a presynaptic spike"))


def responses(ds: xr.Dataset, index: dict[str, int]) -> dict[str, dict[str, np.ndarray]]:
    """Per two_stage synapse (by its post neuron's name): the five panels' quantities at the traced point
    ``index`` (see the module docstring), from the stored traces and the stored spec's parameters."""
    spec = stored(ds)
    v_all = trace(ds, "trace_v", index)
    g_all = trace(ds, "synapse_trace_g", index)
    x_all = trace(ds, "synapse_trace_x", index)
    out = {}
    for syn in spec.circuit.synapses:
        if syn.model != "two_stage":
            continue
        post = spec.circuit.neurons[spec.circuit.neuron_index(syn.post)]
        factor = NEURON_MODELS[post.model].conductance_factor

        def p(path: str) -> float:
            return parameter_at(ds, spec, path, index)

        v = np.asarray(v_all.sel(neuron=post.name).values, dtype=np.float64)
        g = np.asarray(g_all.sel(synapse=syn.name).values, dtype=np.float64)
        par = {n: p(f"neurons.{post.name}.params.{n}") for n in ("E_m", "R_m", "g_exc", "g_inh", "E_exc", "E_inh")}
        i_syn = factor * (g * (v - p(f"synapses.{syn.name}.params.E_syn")) + par["g_exc"] * (v - par["E_exc"])
                          + par["g_inh"] * (v - par["E_inh"]))
        out[post.name] = {"V": v, "I_m": (v - par["E_m"]) / par["R_m"], "I_syn": i_syn, "g": g,
                          "x": np.asarray(x_all.sel(synapse=syn.name).values, dtype=np.float64)}
    return out


def deflections(ds: xr.Dataset, index: dict[str, int]) -> dict[str, float]:
    """Per post neuron: the PSP, the largest |V(t) - V(0)| with the sign of that deviation (mV)."""
    out = {}
    for name, r in responses(ds, index).items():
        dv = r["V"] - r["V"][0]
        k = int(np.argmax(np.abs(dv)))
        out[name] = float(dv[k])
    return out


def draw(run: WorkflowRun) -> list[Path]:
    """The seed's five panels, one line per synapse type, per traced point."""
    ds = run.open()
    time = ds["time"].values
    written = []
    styles = ("-", "--", ":", "-.")
    for index, stem in figure_stems(ds, "psp"):
        fig, axes = new_figure(len(PANELS), 1, (9.0, 12.0), sharex=True)
        for k, (name, r) in enumerate(responses(ds, index).items()):
            for ax, (key, _, _) in zip(axes[:, 0], PANELS, strict=True):
                ax.plot(time, r[key], styles[k % len(styles)], linewidth=1.3, label=name)
        for ax, (_, ylabel, title) in zip(axes[:, 0], PANELS, strict=True):
            ax.set_title(title, fontsize="small")
            ax.set_ylabel(ylabel)
            ax.grid(True, alpha=0.3)
            ax.legend(frameon=False, fontsize="small", loc="best")
        axes[-1, 0].set_xlabel("time (ms)")
        where = title_of(ds, index)
        fig.suptitle("Postsynaptic responses of a cif neuron to one presynaptic spike (two_stage synapse)"
                     + (f"\n{where}" if where else ""), fontsize="medium")
        written += save(fig, run, stem)
    return written


WORKFLOW = Workflow(
    name="psp",
    spec_file="psp.yaml",
    question="How does an IF neuron at rest respond to one spike through an excitatory, an inhibitory and a "
             "shunted excitatory conductance synapse?",
    source="seed 002, part 1 (synaptic input to an integrate-and-fire neuron)",
    draw=draw,
    small={"simulation.duration": 120.0, "simulation.dt": 0.05, "record.every": 2},
)
