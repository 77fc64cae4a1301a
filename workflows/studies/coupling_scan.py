"""coupling-scan (seed 000, "Synaptic Conductance Scanning"): how synchronous is an HH pair as its gap
junction grows, and from which conductance on is it synchronised, for each drive?

Spec ``coupling_scan.yaml``: two HH neurons, a diffusive electrical synapse g1 = g2 = g swept over
0 .. 0.01 mS against the drive I_ext (neuron 2 gets 0.8 x). Figures: the pair's synchrony measures over g
(Pearson r and mean |V1 - V2| as in the seed, and the spike-based phase-locking value and coincidence
when the dataset has them) as lines for a few drives, and the Pearson r over (g, I_ext) as a heatmap
with the synchronisation onset marked; the onsets also go to ``coupling_scan_onset.csv``.

Synchronisation onset (per drive): the smallest g of the grid from which on the Pearson r stays at or
above ``workflow.threshold`` (default 0.9) for every larger g of the grid; NaN if it never does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from .base import Workflow, WorkflowRun
from .figures import first_pair, fixed_others, hue_values, new_figure, save, short_label, write_csv

#: synchrony measures drawn over g when the dataset has them, with their axis labels
SYNC_VARIABLES = {"pearson": "Pearson r of V1, V2", "mean_abs_dv": "mean |V1 - V2| (mV)",
                  "plv": "phase-locking value", "coincidence": "spike coincidence"}


def sync_onset(pearson: xr.DataArray, dim: str, threshold: float) -> xr.DataArray:
    """The smallest ``dim`` coordinate from which on ``pearson`` stays >= ``threshold`` (see the module
    docstring), over the other dims of ``pearson``; NaN where it never does."""
    r = pearson.transpose(dim, ...)
    above = np.asarray(r.fillna(-np.inf).values >= threshold)
    stays = np.flip(np.logical_and.accumulate(np.flip(above, axis=0), axis=0), axis=0)
    first = np.argmax(stays, axis=0)
    coords = np.asarray(r[dim].values, dtype=np.float64)
    onset = np.where(stays.any(axis=0), coords[first], np.nan)
    other = [d for d in r.dims if d != dim]
    return xr.DataArray(onset, dims=other, coords={d: r[d] for d in other if d in r.coords},
                        attrs={"units": r[dim].attrs.get("units", ""),
                               "long_name": f"synchronisation onset (Pearson r >= {threshold:g} from here on)"})


def _lines(run: WorkflowRun, ds: xr.Dataset, x: str, y: str | None, note: str, threshold: float) -> list[Path]:
    names = [v for v in SYNC_VARIABLES if v in ds]
    cols = min(len(names), 2)
    rows = -(-len(names) // cols)
    fig, axes = new_figure(rows, cols, (4.6 * cols, 3.4 * rows + 0.6), sharex=True)
    hues = hue_values(ds, y)
    colours = _colours(len(hues))
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax, var in zip(axes.flat, names, strict=False):
        da = first_pair(ds[var])
        for (k, text), colour in zip(hues, colours, strict=True):
            line = da.isel({y: k}) if y is not None else da
            ax.plot(ds[x].values, line.values, "o-", markersize=3, color=colour, label=text)
        if var == "pearson":
            ax.axhline(threshold, color="0.4", linestyle=":", linewidth=1, label=f"threshold {threshold:g}")
        ax.set_xlabel(short_label(ds, x))
        ax.set_ylabel(SYNC_VARIABLES[var])
        ax.set_title(str(ds[var].attrs.get("long_name", var)), fontsize="small")
        ax.grid(True, alpha=0.3)
    axes[0, 0].legend(frameon=False, fontsize="small")
    fig.suptitle(f"Synchrony of the pair {str(ds['pair'].values[0])} vs coupling{note}")
    return save(fig, run, "coupling_scan_lines")


def _colours(n: int) -> list:
    from matplotlib import colormaps

    return [colormaps["viridis"](v) for v in np.linspace(0.0, 0.9, max(n, 1))][:n]


def _heatmap(run: WorkflowRun, ds: xr.Dataset, x: str, y: str, onset: xr.DataArray, note: str,
             threshold: float) -> list[Path]:
    from synsweep.workflows.plots import cell_edges

    r = first_pair(ds["pearson"]).transpose(y, x)
    ok = (ds["status"] == 1).transpose(y, x).values
    values = np.ma.masked_where(~ok | ~np.isfinite(r.values), r.values)
    fig, axes = new_figure(1, 1, (6.4, 4.6))
    ax = axes[0, 0]
    ax.set_facecolor("#d9d9d9")  # not computed, diverged or undefined
    mesh = ax.pcolormesh(cell_edges(ds[x].values), cell_edges(ds[y].values), values, cmap="viridis", vmin=-1.0,
                         vmax=1.0, shading="flat")
    fig.colorbar(mesh, ax=ax, label=SYNC_VARIABLES["pearson"])
    found = np.isfinite(onset.values)
    ax.plot(onset.values[found], ds[y].values[found], "o-", color="white", markeredgecolor="black",
            markersize=5, linewidth=1, label=f"onset: r >= {threshold:g} from here on")
    ax.set_xlabel(short_label(ds, x))
    ax.set_ylabel(short_label(ds, y))
    ax.legend(loc="lower right", fontsize="small", framealpha=0.8)
    ax.set_title(f"Pearson r of {str(ds['pair'].values[0])}{note}")
    return save(fig, run, "coupling_scan_heatmap")


def draw(run: WorkflowRun) -> list[Path]:
    """Lines over g, the heatmap over (g, I_ext) with the onset, and the onset table."""
    threshold = float(run.options["threshold"])
    ds, x, y, note = fixed_others(run.open(), 2)
    written = _lines(run, ds, x, y, note, threshold)
    onset = sync_onset(first_pair(ds["pearson"]).where(ds["status"] == 1), x, threshold)
    if y is None:
        rows = [[float(onset.values)]]
        header = [f"onset_{x}"]
    else:
        rows = [[float(v), float(o)] for v, o in zip(ds[y].values, onset.values, strict=True)]
        header = [y, f"onset_{x}"]
        written += _heatmap(run, ds, x, y, onset, note, threshold)
    written.append(write_csv(run, "coupling_scan_onset", header, rows))
    return written


WORKFLOW = Workflow(
    name="coupling-scan",
    spec_file="coupling_scan.yaml",
    question="How synchronous is an HH pair as its gap junction grows, and from which g on is it synchronised?",
    source="seed 000 (Neun: synaptic conductance scanning)",
    draw=draw,
    options={"threshold": 0.9},
    small={"sweep.g.linspace.num": 6, "sweep.I_ext.linspace": {"start": 0.1, "stop": 0.15, "num": 2},
           "simulation.duration": 200.0, "simulation.transient": 50.0},
)
