"""if-sync (seed 002, part 3): how fast do two recurrently coupled integrate-and-fire neurons synchronise,
and how does that depend on their drive, the synaptic increment g_star and the synaptic time constant?

Spec ``if_sync.yaml``: two cif neurons (E_m = V_reset = -70 mV, starting at -60 and -70 mV) coupled both
ways by two_stage synapses, swept over I_ext (3, 3.5, 4 nA), g_star (15, 30, 60 nS) and tau_syn (5, 10,
20 ms); V recorded at the seed's four examples. Figure ``if_sync.png``: the example traces (the seed's pair,
I_ext = 3 nA, g_star x 2, tau_syn x 2) with their time to synchrony marked, and the time to synchrony over
(g_star, tau_syn), one panel per drive; ``if_sync_time_to_sync.csv``: every point's value.

Time to synchrony: the engine's pair metric ``time_to_sync`` (``synsweep.engine.metrics``: from then on every
spike of either neuron has a partner spike of the other within ``simulation.sync_tolerance``, 0.5 ms here),
computed online from the exact (interpolated) spike times; NaN when the pair is still out of sync at its
last spike, or has not stayed in sync for ``simulation.sync_spikes`` spikes ("never" on the maps). Without a
refractory period a large g_star makes the pair run away (the conductance grows with every spike until the
neurons fire at kHz rates): such points are ``status`` 3 ("runaway" on the maps and in the example titles);
``circuit.neurons.*.params.t_ref`` (e.g. --set) bounds the rate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from synsweep.engine.metrics import STATUS_RUNAWAY
from synsweep.workflows.selection import AnalysisError

from .base import Workflow, WorkflowRun
from .figures import (
    first_pair,
    fixed_others,
    hue_values,
    new_figure,
    points,
    save,
    short_label,
    title_of,
    trace,
    traced_points,
    write_csv,
)

MAX_EXAMPLES = 4


def time_to_sync(ds: xr.Dataset) -> xr.DataArray:
    """The first pair's time to synchrony (ms) at every computed point (the engine's metric), NaN where
    the pair did not settle within the run."""
    if "time_to_sync" not in ds:
        raise AnalysisError("the dataset has no time_to_sync (its spec's metrics leave it out); add "
                            "time_to_sync to metrics and run the workflow again")
    return first_pair(ds["time_to_sync"]).where(ds["status"] == 1).load()


def _examples(run: WorkflowRun, ds: xr.Dataset, sync: xr.DataArray, axes: np.ndarray) -> None:
    time = ds["time"].values
    for ax, index in zip(axes, traced_points(ds)[:MAX_EXAMPLES], strict=False):
        v = trace(ds, "trace_v", index)
        for neuron in v["neuron"].values:
            ax.plot(time, v.sel(neuron=neuron).values, linewidth=1.0, label=f"{neuron}")
        t = float(sync.isel(index).values)
        text = f"synchronous from {t:.1f} ms" if np.isfinite(t) else "not synchronous within the run"
        if int(ds["status"].isel(index).values) == STATUS_RUNAWAY:
            text = "runaway: fires faster than simulation.max_rate or the step resolves (no synchrony value)"
        if np.isfinite(t):
            ax.axvline(t, color="black", linestyle=":", linewidth=1)
        ax.set_title(f"{title_of(ds, index)}: {text}", fontsize="small")
        ax.set_ylabel("V (mV)")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize="small", loc="lower left", ncols=2, framealpha=0.9)
    axes[-1].set_xlabel("time (ms)")


def first_pair_status(ds: xr.Dataset, sync: xr.DataArray) -> xr.DataArray:
    """``status`` on the dims of ``sync`` (0 not computed, 1 ok, 2 diverged, 3 runaway)."""
    status = ds["status"]
    status = status.isel({d: 0 for d in status.dims if d not in sync.dims})
    return status.broadcast_like(sync).transpose(*sync.dims)


def _heatmaps(ds: xr.Dataset, sync: xr.DataArray, axes: np.ndarray, fig) -> None:
    from synsweep.workflows.plots import cell_edges

    dims = list(sync.dims)
    x, y = dims[-2:] if len(dims) >= 2 else (dims[0], None)
    panel = dims[0] if len(dims) >= 3 else None
    top = float(np.nanmax(sync.values)) if np.isfinite(sync.values).any() else 1.0
    status = first_pair_status(ds, sync)
    for ax, (k, text) in zip(axes, hue_values(ds, panel, most=len(axes)), strict=False):
        cut = sync.isel({panel: k}) if panel is not None else sync
        runaway = status.isel({panel: k}) if panel is not None else status
        if y is None:
            ax.plot(ds[x].values, cut.values, "o-")
            ax.set_ylabel("time to synchrony (ms)")
        else:
            cut, runaway = cut.transpose(y, x), runaway.transpose(y, x).values == STATUS_RUNAWAY
            ax.set_facecolor("#d9d9d9")
            mesh = ax.pcolormesh(cell_edges(ds[x].values), cell_edges(ds[y].values), np.ma.masked_invalid(cut.values),
                                 cmap="magma_r", vmin=0.0, vmax=top, shading="flat")
            for j, yv in enumerate(ds[y].values):
                for i, xv in enumerate(ds[x].values):
                    value = float(cut.values[j, i])
                    label = f"{value:.0f}" if np.isfinite(value) else "runaway" if runaway[j, i] else "never"
                    ax.text(xv, yv, label, ha="center", va="center",
                            fontsize="x-small", color="white" if np.isfinite(value) and value > top / 2 else "black")
            ax.set_ylabel(short_label(ds, y))
        ax.set_xlabel(short_label(ds, x))
        ax.set_title(text or "time to synchrony", fontsize="small")
    if y is not None:
        fig.colorbar(mesh, ax=list(axes), label="time to synchrony (ms)", shrink=0.9)


def draw(run: WorkflowRun) -> list[Path]:
    """The example traces and the time-to-synchrony maps; the table of every point's value."""
    full = run.open()
    sync = time_to_sync(full)
    ds, *_ = fixed_others(full, 3)
    n_examples = min(len(traced_points(full)), MAX_EXAMPLES)
    n_panels = min(ds.sizes[sync.dims[0]], 4) if len(sync.dims) >= 3 else 1
    fig = new_figure(1, 1, (11.0, 2.2 * n_examples + 3.4))[0]
    fig.clear()
    grid = fig.add_gridspec(n_examples + 1, n_panels, height_ratios=[1.0] * n_examples + [1.5])
    if n_examples:
        examples = np.array([fig.add_subplot(grid[k, :]) for k in range(n_examples)])
        for ax in examples[1:]:
            ax.sharex(examples[0])
        _examples(run, full, sync, examples)
    _heatmaps(ds, sync.isel({d: 0 for d in sync.dims[3:]}), np.array(
        [fig.add_subplot(grid[n_examples, k]) for k in range(n_panels)]), fig)
    fig.suptitle("Two recurrently coupled integrate-and-fire neurons: time to synchrony", fontsize="medium")
    written = save(fig, run, "if_sync")
    dims = list(sync.dims)
    rows = [[*(float(full[d].values[i]) for d, i in index.items()), float(sync.isel(index).values)]
            for index in points(full)]
    written.append(write_csv(run, "if_sync_time_to_sync", [*dims, "time_to_sync_ms"], rows))
    return written


WORKFLOW = Workflow(
    name="if-sync",
    spec_file="if_sync.yaml",
    question="How fast do two recurrently coupled IF neurons synchronise, and how does that depend on the drive, "
             "g_star and tau_syn?",
    source="seed 002, part 3 (synaptically coupled IF neurons)",
    draw=draw,
    small={"sweep.I_ext.values": [3.5], "sweep.g_star.values": [30.0, 60.0], "sweep.tau_syn.values": [10.0, 20.0],
           "simulation.dt": 0.05, "record.every": 2, "record.points": "all"},
)
