"""Measure adaptive refinement on the packaged coupling scan: a 257 x 257 grid of g x I_ext, refined around the
boundaries of pearson >= 0.9 and of firing (spike_count >= 1), against the full 257 x 257 run.

    python docs/tutorials/scripts/refine_coupling_scan.py OUTDIR [DURATION_MS]

Writes OUTDIR/refined.zarr, OUTDIR/full.zarr, OUTDIR/refine_measure.json and the figures of the tutorial
(docs/tutorials/refinement.md).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from synsweep.sweeps.result import open_result
from synsweep.sweeps.runner import execute
from synsweep.sweeps.spec import load_spec

SPEC = Path(__file__).resolve().parents[3] / "workflows" / "specs" / "coupling_scan.yaml"
N, LEVELS = 257, 5
CRITERIA = {"pearson": ("pair", "n1-n2", 0.9), "spike_count": ("neuron", "n1", 1.0)}


def documents(duration: float) -> tuple[dict, dict]:
    import yaml

    doc = yaml.safe_load(SPEC.read_text())
    doc["simulation"]["duration"] = duration
    doc["sweep"][0]["linspace"]["num"] = N
    doc["sweep"][1]["linspace"]["num"] = N
    doc["execution"] = {"chunk_points": 4096}
    refined = dict(doc, refine={"levels": LEVELS, "budget": N * N // 10, "criteria": [
        {"metric": m, kind: entity, "threshold": thr} for m, (kind, entity, thr) in CRITERIA.items()]})
    return refined, doc


def classes(ds, metric: str) -> np.ndarray:
    kind, entity, thr = CRITERIA[metric]
    return (ds[metric].sel({kind: entity}).values >= thr)


def filled(cls: np.ndarray, computed: np.ndarray) -> np.ndarray:
    """Every point's class from the smallest computed cell around it whose corners agree (-1: none)."""
    out = np.where(computed, cls.astype(int), -1)
    for level in range(LEVELS, 0, -1):
        s = 1 << level
        for i in range(0, N - 1, s):
            for j in range(0, N - 1, s):
                corners = [(i, j), (i + s, j), (i, j + s), (i + s, j + s)]
                if all(computed[c] for c in corners) and len({bool(cls[c]) for c in corners}) == 1:
                    box = out[i:i + s + 1, j:j + s + 1]
                    box[box < 0] = int(cls[i, j])
    return out


def boundary_cells(cls: np.ndarray) -> np.ndarray:
    c = np.stack([cls[:-1, :-1], cls[1:, :-1], cls[:-1, 1:], cls[1:, 1:]])
    return c.any(axis=0) & ~c.all(axis=0)


def main(outdir: Path, duration: float) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    refined_doc, full_doc = documents(duration)
    result: dict = {"grid": [N, N], "levels": LEVELS, "duration_ms": duration}
    for name, doc in (("refined", refined_doc), ("full", full_doc)):
        t = time.perf_counter()
        report = execute(load_spec(doc), outdir / f"{name}.zarr", workers=2, overwrite=True, progress=False)
        result[name] = {"wall_s": time.perf_counter() - t, "points": report.n_points,
                        "kernel_s": report.kernel_seconds, "levels": report.levels,
                        "budget_stop": report.budget_stop}
        print(name, result[name], flush=True)
    ref, full = open_result(outdir / "refined.zarr"), open_result(outdir / "full.zarr")
    computed = ref.status.values != 0
    for metric in CRITERIA:
        a, b = classes(ref, metric), classes(full, metric)
        same_values = bool(np.array_equal(a[computed], b[computed]))
        cells_full = boundary_cells(b)
        corners = np.stack([computed[:-1, :-1], computed[1:, :-1], computed[:-1, 1:], computed[1:, 1:]]).all(0)
        found = cells_full & corners & boundary_cells(a)
        fill = filled(a, computed)
        result[metric] = {"computed_points_equal_full": same_values,
                          "boundary_cells_full": int(cells_full.sum()), "boundary_cells_found": int(found.sum()),
                          "points_classified": int((fill >= 0).sum()),
                          "points_agreeing": int((fill == b).sum()), "points": N * N}
        print(metric, result[metric], flush=True)
    result["fraction_computed"] = float(computed.mean())
    (outdir / "refine_measure.json").write_text(json.dumps(result, indent=1))
    figure(ref, full, outdir / "refine_coupling_scan.png")


def figure(ref, full, path: Path) -> None:
    """Left: the computed points of the refined run, coloured by pearson, with the points of each level drawn
    smaller; right: the full run's pearson; both with the full run's pearson = 0.9 and onset contours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g, current = ref.g.values, ref.I_ext.values
    computed = ref.status.values != 0
    r_ref = ref.pearson.sel(pair="n1-n2").values
    r_full = full.pearson.sel(pair="n1-n2").values
    fires = full.spike_count.sel(neuron="n1").values >= 1
    fig, axes = plt.subplots(1, 2, figsize=(12.0, 5.0), sharey=True)
    gi, ii = np.nonzero(computed)
    stride = np.ones(gi.size)
    for level in range(LEVELS, -1, -1):  # the coarsest lattice a point lies on gives its size
        s = 1 << level
        stride = np.where((gi % s == 0) & (ii % s == 0) & (stride == 1), s, stride)
    axes[0].scatter(g[gi], current[ii], c=r_ref[gi, ii], s=0.5 + 2.0 * np.log2(stride), cmap="RdBu_r", vmin=-1,
                    vmax=1, linewidths=0)
    axes[0].set_title(f"refined: {computed.sum():,} of {computed.size:,} points computed", fontsize="medium")
    mesh = axes[1].pcolormesh(g, current, r_full.T, cmap="RdBu_r", vmin=-1, vmax=1, shading="nearest")
    axes[1].set_title(f"full grid: {computed.size:,} points", fontsize="medium")
    for ax in axes:
        ax.contour(g, current, r_full.T, levels=[0.9], colors="k", linewidths=0.8)
        ax.contour(g, current, fires.T.astype(float), levels=[0.5], colors="#7570b3", linewidths=0.8)
        ax.set_xlabel("g (mS)")
    axes[0].set_ylabel("I_ext into n1 (uA)")
    fig.colorbar(mesh, ax=axes, label="pearson r of V1, V2")
    fig.suptitle("coupling scan 257 x 257: black: pearson = 0.9, purple: firing onset of n1 (full run)",
                 fontsize="medium")
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 100.0)
