"""coupled-pair (seed 000, "Basic Two-Neuron Network" and "Getting Synaptic Current"): what do two HH
neurons joined by a gap junction do over time, and what current flows through the junction?

Spec ``coupled_pair.yaml``: the seed's pair (n1 at 0.1 uA, n2 at 0.08 uA, starting at -75 and -65 mV),
swept over g = g1 = g2 (0, 0.002, 0.005, 0.01 mS), V of both neurons recorded at every point. Figure
``coupled_pair.png``: per g, the two voltage traces and the junction's currents, computed from the stored
traces and the stored spec's conductances: into n1 ``g1 (V2 - V1)``, into n2 ``g2 (V1 - V2)`` (mS x mV =
uA, the HH model's current units).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from .base import Workflow, WorkflowRun
from .figures import limited, new_figure, parameter_at, save, stored, title_of, trace, traced_points


def junction_currents(ds: xr.Dataset, index: dict[str, int], synapse: str) -> dict[str, np.ndarray]:
    """The currents the electrical synapse ``synapse`` passes into its two neurons at the traced point
    ``index``, from the stored V traces: ``{pre: g1 (V_post - V_pre), post: g2 (V_pre - V_post)}``."""
    spec = stored(ds)
    syn = spec.circuit.synapse(synapse)
    v = trace(ds, "trace_v", index)
    v_pre, v_post = (np.asarray(v.sel(neuron=n).values, dtype=np.float64) for n in (syn.pre, syn.post))
    g1, g2 = (parameter_at(ds, spec, f"synapses.{synapse}.params.{p}", index) for p in ("g1", "g2"))
    return {syn.pre: g1 * (v_post - v_pre), syn.post: g2 * (v_pre - v_post)}


def draw(run: WorkflowRun) -> list[Path]:
    """Per traced point (g value): V1, V2 and the junction currents over time."""
    ds = run.open()
    spec = stored(ds)
    gap = next(s for s in spec.circuit.synapses if s.model == "electrical")
    units = spec.circuit.units(f"inputs.{gap.post}")
    picks = limited(traced_points(ds))
    fig, axes = new_figure(len(picks), 2, (11.0, 2.3 * len(picks) + 0.8), sharex=True)
    time = ds["time"].values
    for row, index in zip(axes, picks, strict=True):
        v = trace(ds, "trace_v", index)
        for neuron in (gap.pre, gap.post):
            row[0].plot(time, v.sel(neuron=neuron).values, linewidth=1.0, label=neuron)
        for neuron, current in junction_currents(ds, index, gap.name).items():
            row[1].plot(time, current, linewidth=1.0, label=f"into {neuron}")
        row[0].set_ylabel("V (mV)")
        row[1].set_ylabel(f"I_syn ({units})")
        for ax in row:
            ax.set_title(title_of(ds, index), fontsize="small")
            ax.grid(True, alpha=0.3)
    axes[0, 0].legend(frameon=False, fontsize="small", loc="upper right")
    axes[0, 1].legend(frameon=False, fontsize="small", loc="upper right")
    for ax in axes[-1]:
        ax.set_xlabel("time (ms)")
    fig.suptitle(f"Two HH neurons coupled by the gap junction '{gap.name}': membrane potentials (left) and "
                 f"junction currents g (V_other - V) (right)", fontsize="medium")
    return save(fig, run, "coupled_pair")


WORKFLOW = Workflow(
    name="coupled-pair",
    spec_file="coupled_pair.yaml",
    question="What do two gap-junction-coupled HH neurons do over time, and what current flows between them?",
    source="seed 000 (Neun: basic two-neuron network, synaptic current)",
    draw=draw,
    small={"sweep.g.values": [0.0, 0.01], "simulation.duration": 60.0},
)
