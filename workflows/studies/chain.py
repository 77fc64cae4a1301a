"""chain (seed 000, "Small Network Example"): three HH neurons in a chain n1 - n2 - n3, input to the first
only: does the activity travel along the chain, and how synchronous are the pairs as the coupling grows?

Spec ``chain.yaml``: two electrical synapses (n1-n2, n2-n3) with g1 = g2 = g swept over 0 .. 0.05 mS
against the drive of n1 (0.1, 0.15, 0.2 uA); V recorded at one point (g = 0.01 mS, I_ext = 0.15 uA).
Figure ``chain.png``: the three voltage traces at each traced point, and over g the Pearson r of every
pair and every neuron's firing rate (one line style per drive).
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.lines import Line2D

from .base import Workflow, WorkflowRun
from .figures import fixed_others, hue_values, limited, new_figure, save, short_label, title_of, trace, traced_points

STYLES = ("-", "--", ":", "-.")


def draw(run: WorkflowRun) -> list[Path]:
    """Traces at the traced points (top), pair correlations and firing rates over g (bottom)."""
    full = run.open()
    picks = limited(traced_points(full), 3)
    ds, x, y, note = fixed_others(full, 2)
    drives = hue_values(ds, y, most=len(STYLES))
    fig = new_figure(1, 1, (11.0, 3.0 * len(picks) + 3.6))[0]
    fig.clear()
    grid = fig.add_gridspec(len(picks) + 1, 2)
    time = full["time"].values
    for row, index in enumerate(picks):
        ax = fig.add_subplot(grid[row, :])
        v = trace(full, "trace_v", index)
        for neuron in v["neuron"].values:
            ax.plot(time, v.sel(neuron=neuron).values, linewidth=1.0, label=str(neuron))
        ax.set_title(f"membrane potentials at {title_of(full, index)}", fontsize="small")
        ax.set_xlabel("time (ms)")
        ax.set_ylabel("V (mV)")
        ax.grid(True, alpha=0.3)
        ax.legend(frameon=False, fontsize="small", loc="upper right", ncols=3)
    for col, (var, dim, ylabel) in enumerate((("pearson", "pair", "Pearson r"),
                                              ("rate_count", "neuron", "firing rate (Hz)"))):
        ax = fig.add_subplot(grid[len(picks), col])
        entities = [str(e) for e in ds[var][dim].values]
        colours = {e: f"C{i}" for i, e in enumerate(entities)}
        for (k, _), style in zip(drives, STYLES, strict=False):
            da = ds[var].isel({y: k}) if y is not None else ds[var]
            for entity in entities:
                ax.plot(ds[x].values, da.sel({dim: entity}).values, style, marker="o", markersize=3,
                        color=colours[entity])
        handles = [Line2D([], [], color=c, label=e) for e, c in colours.items()]
        if len(drives) > 1:
            handles += [Line2D([], [], color="0.3", linestyle=style, label=text)
                        for (_, text), style in zip(drives, STYLES, strict=False)]
        ax.set_xlabel(short_label(ds, x))
        ax.set_ylabel(ylabel)
        ax.set_title(f"{ds[var].attrs.get('long_name', var)}{note}", fontsize="small")
        ax.grid(True, alpha=0.3)
        ax.legend(handles=handles, frameon=False, fontsize="x-small", ncols=2)
    fig.suptitle("Three HH neurons in a chain, input to n1 only", fontsize="medium")
    return save(fig, run, "chain")


WORKFLOW = Workflow(
    name="chain",
    spec_file="chain.yaml",
    question="Does activity travel along a chain of three coupled HH neurons driven at one end, and how "
             "synchronous are the pairs as the coupling grows?",
    source="seed 000 (Neun: small network example)",
    draw=draw,
    small={"sweep.g.values": [0.0, 0.01, 0.05], "sweep.I_ext.values": [0.15], "simulation.duration": 200.0,
           "record.points": "all"},
)
