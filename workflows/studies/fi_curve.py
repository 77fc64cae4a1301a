"""fi-curve (seed 002, part 2): how does the integrate-and-fire neuron's firing rate grow with its input
current, and which estimate of the rate, by mean inter-spike interval or by spike count, is closer to the
closed form in a short run?

Spec ``fi_curve.yaml``: one cif neuron over I_e = 0 .. 5 nA (250 values) zipped with a random initial V
per point (uniform -85 .. -75 mV, seeded). The workflow runs it once per duration in ``workflow.durations``
(default 100 and 500 ms; the duration is not a sweep axis, so each is its own sweep and store,
``fi_curve_100ms.zarr``, ...). Figure ``fi_curve.png``: rate_isi (left) and rate_count (right) against
I_e for every duration (rate_isi left out where the neuron fired once: no interval), with the analytic
curve ``synsweep.engine.models.cif.analytic_rate`` of the stored parameters; ``fi_curve_error.csv``: the
mean |rate - analytic| over the currents above rheobase.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from synsweep.engine.models.cif import analytic_rate
from synsweep.sweeps.errors import SpecError

from .base import Workflow, WorkflowRun
from .figures import new_figure, parameter, save, stored, write_csv

METHODS = {"rate_isi": "1 / mean ISI", "rate_count": "spike count / run time"}


def _sweeps(document: dict, options: Mapping[str, Any]) -> list[tuple[str, dict]]:
    out = []
    for duration in options["durations"]:
        doc = copy.deepcopy(document)
        doc["simulation"]["duration"] = duration
        doc["name"] = f"{document['name']}_{duration:g}ms"
        out.append((doc["name"], doc))
    return out


def _check(document: dict, options: Mapping[str, Any]) -> None:
    packaged = WORKFLOW.document()["simulation"]["duration"]
    if document.get("simulation", {}).get("duration") != packaged:
        durations = ", ".join(f"{d:g}" for d in options["durations"])
        raise SpecError("--set simulation.duration", "the fi-curve workflow runs one sweep per duration of "
                        "workflow.durations, so a single simulation.duration has no meaning here",
                        f"give the durations as --set workflow.durations=[{durations}]", where="option")
    for d in options["durations"]:
        if d <= 0:
            raise SpecError("--set workflow.durations", f"a duration must be > 0 ms, got {d:g}",
                            "give positive durations in ms, e.g. [100, 500]", where="option")


def analytic(ds: xr.Dataset, neuron: str = "n") -> xr.DataArray:
    """The closed-form rate (Hz) at every point of ``ds``, from its stored spec's parameters and currents."""
    spec = stored(ds)

    def p(name: str) -> xr.DataArray:
        return parameter(ds, spec, f"neurons.{neuron}.params.{name}")

    current = parameter(ds, spec, f"inputs.{neuron}")
    args = xr.broadcast(current, p("tau_m"), p("R_m"), p("E_m"), p("thr"), p("v_reset"))
    return xr.DataArray(analytic_rate(*(np.asarray(a.values) for a in args)), dims=args[0].dims,
                        attrs={"units": "Hz", "long_name": "analytic firing rate"})


def measured(ds: xr.Dataset, method: str, neuron: str = "n") -> xr.DataArray:
    """``rate_isi`` or ``rate_count`` of ``neuron``; ``rate_isi`` NaN where the neuron fired exactly once (the
    engine stores 0 there, but one spike has no inter-spike interval: the rate by ISI is undefined, not 0)."""
    rate = ds[method].sel(neuron=neuron)
    if method == "rate_isi":
        rate = rate.where(ds["spike_count"].sel(neuron=neuron) != 1)
    return rate


def rate_errors(ds: xr.Dataset, neuron: str = "n") -> dict[str, float]:
    """Mean |rate - analytic| (Hz) of ``rate_isi`` and ``rate_count`` over the points above rheobase where the
    rate is defined (``measured``: ``rate_isi`` needs two spikes)."""
    want = analytic(ds, neuron)
    firing = want > 0
    return {m: float(np.abs(measured(ds, m, neuron) - want).where(firing).mean()) for m in METHODS}


def draw(run: WorkflowRun) -> list[Path]:
    """rate_isi and rate_count against I_e for every duration, with the analytic curve; the error table."""
    fig, axes = new_figure(1, 2, (11.0, 4.2), sharey=True)
    rows = []
    curve = None
    for label in run.stores:
        ds = run.open(label)
        spec = stored(ds)
        current = parameter(ds, spec, "inputs.n")
        order = np.argsort(current.values)
        duration = spec.simulation.duration
        for ax, method in zip(axes[0], METHODS, strict=True):
            ax.plot(current.values[order], measured(ds, method).values[order], linewidth=1.2,
                    label=f"run of {duration:g} ms")
        for method, err in rate_errors(ds).items():
            rows.append([duration, method, err])
        curve = (current.values[order], analytic(ds).values[order])
    for ax, (method, text) in zip(axes[0], METHODS.items(), strict=True):
        if curve is not None:
            ax.plot(*curve, ":", color="black", linewidth=1.5, label="analytic")
        ax.set_title(f"{method}: {text}")
        ax.set_xlabel("I_e (nA)")
        ax.grid(True, alpha=0.3)
        ax.legend(frameon=False)
    axes[0, 0].set_ylabel("firing rate (Hz)")
    fig.suptitle("f-I curve of the integrate-and-fire neuron (cif), random initial V per point", fontsize="medium")
    written = save(fig, run, "fi_curve")
    written.append(write_csv(run, "fi_curve_error", ["duration_ms", "method", "mean_abs_error_Hz"], rows))
    return written


WORKFLOW = Workflow(
    name="fi-curve",
    spec_file="fi_curve.yaml",
    question="How does the IF neuron's rate grow with its current, and is the rate by mean ISI or by spike "
             "count closer to the closed form in a short run?",
    source="seed 002, part 2 (f-I curve of the integrate-and-fire neuron)",
    draw=draw,
    options={"durations": [100.0, 500.0]},
    small={"sweep.I_e.linspace.num": 41, "sweep.V0.random.n": 41},
    sweeps=_sweeps,
    check=_check,
)
