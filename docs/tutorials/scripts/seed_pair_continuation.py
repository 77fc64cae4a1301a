"""The seed pair (coupling_scan.yaml's circuit at I_ext = 0.1 uA) continued over g up and down, from 24 random
initial voltages of n1: do synchronous and asynchronous states coexist at some g?

    python docs/tutorials/scripts/seed_pair_continuation.py OUTDIR

Writes OUTDIR/seed_pair_continuation.zarr, OUTDIR/continuation.json and the tutorial's figure
(docs/tutorials/continuation.md).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from synsweep.sweeps.runner import run_sweep
from synsweep.sweeps.spec import load_spec
from synsweep.workflows.selection import plot_data

SPEC = Path(__file__).resolve().parents[3] / "workflows" / "specs" / "coupling_scan.yaml"
SYNC = 0.9  # pearson >= SYNC: synchronous


def document() -> dict:
    import yaml

    doc = yaml.safe_load(SPEC.read_text())
    doc["name"] = "seed_pair_continuation"
    doc["circuit"]["inputs"] = {"n1": 0.1, "n2": 0.08}
    doc["sweep"] = [
        {"name": "v1_0", "paths": ["neurons.n1.init.v"],
         "random": {"n": 24, "seed": 7, "distribution": "uniform", "low": -80.0, "high": -50.0}},
        {"name": "g", "paths": ["synapses.gap.params.g1", "synapses.gap.params.g2"],
         "linspace": {"start": 0.0, "stop": 0.006, "num": 31}, "continuation": "both"},
    ]
    doc["metrics"] = ["spike_count", "pearson"]
    doc["execution"] = {"chunk_points": 512}
    return doc


def main(outdir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outdir.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    ds = run_sweep(load_spec(document()), outdir / "seed_pair_continuation.zarr", workers=2, overwrite=True,
                   progress=False)
    wall = time.perf_counter() - t
    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    result: dict = {"wall_s": wall, "points": int(ds.status.size), "sync": SYNC}
    for direction, colour, label in ((1.0, "#d95f02", "up (g increasing)"), (-1.0, "#1b9e77", "down")):
        data = plot_data(ds, "pearson", x="g", sel={"direction": direction, "pair": "n1-n2"}, reduce="basin",
                         above=SYNC)
        g = data.values["g"].values
        ax.plot(g, data.values.values, "o-", color=colour, markersize=3, label=label)
        ax.fill_between(g, data.ci[0], data.ci[1], color=colour, alpha=0.2, linewidth=0)
        result[f"fraction_sync_{'up' if direction > 0 else 'down'}"] = [round(float(v), 4)
                                                                       for v in data.values.values]
    result["g"] = [float(v) for v in ds.g.values]
    ax.set_xlabel("g (mS)")
    ax.set_ylabel(f"fraction of 24 initial states with pearson >= {SYNC}")
    ax.set_title("seed pair, I_ext = 0.1 uA: continuation over g, 95% Wilson bands", fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(outdir / "seed_pair_continuation.png", dpi=110)
    up = np.asarray(result["fraction_sync_up"])
    down = np.asarray(result["fraction_sync_down"])
    result["max_abs_difference"] = float(np.nanmax(np.abs(up - down)))
    (outdir / "continuation.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
