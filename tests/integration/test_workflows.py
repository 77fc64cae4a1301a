"""Every workflow on its small configuration, through the Python API, on a real LocalCluster (worker processes
on 127.0.0.1) writing real zarr stores: each test checks the scientific claim of the seed the workflow
reproduces, from the stored datasets, and that the figures were written.

The small configurations are chosen so that each workflow compiles one kernel (a few seconds each).
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
from distributed import Client, LocalCluster

from synsweep.workflows.replay import replay_point, traces_dataset
from synsweep.workflows.studies import draw, run_workflow
from synsweep.workflows.studies.coupled_pair import junction_currents
from synsweep.workflows.studies.coupling_scan import sync_onset
from synsweep.workflows.studies.fi_curve import rate_errors
from synsweep.workflows.studies.figures import first_pair, points, trace, traced_points
from synsweep.workflows.studies.if_sync import time_to_sync
from synsweep.workflows.studies.psp import deflections, responses
from synsweep.workflows.studies.synapse_gallery import gating, presynaptic_spikes

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
    with cluster, Client(cluster, set_as_default=False) as c:
        yield c


def assert_figures(run, *stems: str) -> None:
    """Each stem was written as a PNG and a PDF, and is listed in ``run.figures``."""
    for stem in stems:
        png, pdf = run.path(stem, ".png"), run.path(stem, ".pdf")
        assert png in run.figures and pdf in run.figures, (stem, run.figures)
        assert png.read_bytes()[:8] == PNG_MAGIC
        assert pdf.read_bytes()[:5] == b"%PDF-"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_coupling_scan_correlation_rises_with_g_and_the_onset_is_marked(client, tmp_path):
    """Seed 000: for positive coupling the pair's correlation rises with g and |V1 - V2| falls; the onset table
    holds, per drive, the smallest g from which r stays >= the threshold; a redraw with another threshold
    reads the stores again."""
    run = run_workflow("coupling-scan", tmp_path, small=True, client=client)
    ds = run.open()
    r = first_pair(ds["pearson"]).load()
    dv = first_pair(ds["mean_abs_dv"]).load()
    assert (ds["status"] == 1).all()
    assert (r.isel(g=-1) > 0.98).all() and (r.isel(g=0) < 0.5).all(), r.values
    assert (r.isel(g=-1) > r.isel(g=0) + 0.5).all()
    assert (dv.isel(g=-1) < 0.2 * dv.isel(g=0)).all(), dv.values
    assert_figures(run, "coupling_scan_lines", "coupling_scan_heatmap")
    rows = read_csv(run.path("coupling_scan_onset", ".csv"))
    assert [float(row["I_ext"]) for row in rows] == ds["I_ext"].values.tolist()
    g = ds["g"].values
    for k, row in enumerate(rows):
        onset = float(row["onset_g"])
        i = int(np.flatnonzero(g == onset)[0])
        assert (r.isel(I_ext=k, g=slice(i, None)) >= 0.9).all() and r.isel(I_ext=k, g=i - 1) < 0.9
    for path in run.figures:
        path.unlink()
    figures = draw(tmp_path, ["workflow.threshold=0.5"])
    assert all(p.exists() for p in figures)
    lower = [float(row["onset_g"]) for row in read_csv(run.path("coupling_scan_onset", ".csv"))]
    assert all(lo <= float(row["onset_g"]) for lo, row in zip(lower, rows, strict=True))
    assert lower != [float(row["onset_g"]) for row in rows]


def test_sync_onset_is_where_the_correlation_stays_above_the_threshold():
    """A dip below the threshold after a first crossing moves the onset past the dip; never: NaN."""
    import xarray as xr

    r = xr.DataArray([[0.1, 0.95, 0.8, 0.92, 0.99], [0.1, 0.2, 0.3, 0.4, 0.5]], dims=("I_ext", "g"),
                     coords={"g": [0.0, 1.0, 2.0, 3.0, 4.0], "I_ext": [0.1, 0.2]})
    onset = sync_onset(r, "g", 0.9)
    assert onset.values[0] == 3.0 and np.isnan(onset.values[1])


@pytest.mark.slow  # a kernel of its own; its figure code runs in the fast tier (test_workflow_figures)
def test_coupled_pair_traces_pull_together_and_the_junction_current_follows_them(client, tmp_path):
    """Seed 000: a gap junction synchronises the pair: V1 - V2 shrinks as g grows; the current through it is
    g (V_other - V), zero without coupling and opposite into the two neurons for g1 = g2."""
    run = run_workflow("coupled-pair", tmp_path, small=True, client=client)
    ds = run.open()
    picks = traced_points(ds)
    assert [ds["g"].values[p["g"]] for p in picks] == [0.0, 0.01]
    window = ds["time"].values >= 20.0
    gaps = []
    for index in picks:
        v = trace(ds, "trace_v", index)
        gaps.append(float(np.mean(np.abs(v.sel(neuron="n1") - v.sel(neuron="n2")).values[window])))
        currents = junction_currents(ds, index, "gap")
        g = float(ds["g"].values[index["g"]])
        np.testing.assert_allclose(currents["n2"], g * (v.sel(neuron="n1") - v.sel(neuron="n2")).values)
        np.testing.assert_allclose(currents["n1"], -currents["n2"])
    uncoupled, coupled = gaps
    assert coupled < 0.25 * uncoupled, gaps
    assert not junction_currents(ds, picks[0], "gap")["n1"].any()
    assert float(first_pair(ds["pearson"]).isel(g=1)) > 0.95 > float(first_pair(ds["pearson"]).isel(g=0))
    assert_figures(run, "coupled_pair")


@pytest.mark.slow  # a kernel of its own; its figure code runs in the fast tier (test_workflow_figures)
def test_chain_activity_travels_from_the_driven_neuron_and_the_pairs_synchronise(client, tmp_path):
    """Seed 000: input to n1 only: without coupling n2 and n3 stay silent; coupled, all three fire, and the
    neighbouring pairs' correlation rises with g."""
    run = run_workflow("chain", tmp_path, small=True, client=client)
    ds = run.open().isel(I_ext=0)
    spikes = ds["spike_count"]
    assert int(spikes.sel(neuron="n1").isel(g=0)) > 0
    assert int(spikes.sel(neuron="n2").isel(g=0)) == 0 and int(spikes.sel(neuron="n3").isel(g=0)) == 0
    assert (spikes.isel(g=1) > 0).all(), spikes.values
    for pair in ("n1-n2", "n2-n3"):
        r = ds["pearson"].sel(pair=pair)
        assert float(r.isel(g=-1)) > 0.95 > float(r.isel(g=0)), r.values
    # three neurons: the circuit's Kuramoto order parameter is stored too; undefined while n2, n3 are silent
    kur = ds["kuramoto"]
    assert kur.dims == ("g",) and kur.attrs["long_name"] == "Kuramoto order parameter (time mean)"
    assert np.isnan(float(kur.isel(g=0))) and float(kur.isel(g=-1)) > 0.95, kur.values
    assert len(traced_points(run.open())) == 3
    assert_figures(run, "chain")


@pytest.mark.slow
def test_fi_curve_isi_rate_matches_the_analytic_curve_better_than_the_count_in_short_runs(client, tmp_path):
    """Seed 002 part 2: the rate by mean ISI follows the closed form even in 100 ms; the rate by spike count
    is off by up to one spike per run, and gets better in the longer run. Each point starts from its own
    random V0 in [-85, -75) mV."""
    run = run_workflow("fi-curve", tmp_path, small=True, client=client)
    assert list(run.stores) == ["fi_curve_100ms", "fi_curve_500ms"]
    short, long = (rate_errors(run.open(label)) for label in run.stores)
    assert short["rate_isi"] < 0.2 * short["rate_count"], short
    assert short["rate_isi"] < 1.0 and long["rate_count"] < short["rate_count"], (short, long)
    v0 = run.open("fi_curve_100ms")["V0"].values
    assert np.unique(v0).size == v0.size and (v0 >= -85.0).all() and (v0 < -75.0).all()
    np.testing.assert_array_equal(v0, run.open("fi_curve_500ms")["V0"].values)  # the same seeded draws
    rows = read_csv(run.path("fi_curve_error", ".csv"))
    assert {(r["duration_ms"], r["method"]) for r in rows} == {(d, m) for d in ("100.0", "500.0")
                                                               for m in ("rate_isi", "rate_count")}
    assert_figures(run, "fi_curve")


def test_psp_inhibitory_and_shunted_responses_are_smaller_than_the_excitatory_one(client, tmp_path):
    """Seed 002 part 1: one spike gives a depolarisation through E_syn = 0, a smaller hyperpolarisation through
    E_syn = -100 mV (20 mV of driving force instead of 80), and a smaller depolarisation under shunting; the
    synapse's g (recorded along the synapse dim) peaks at g_star / e."""
    run = run_workflow("psp", tmp_path, small=True, client=client)
    ds = run.open()
    assert ds["synapse_trace_g"].dims == ("synapse", "time")
    psp = deflections(ds, {})
    exc, inh, shunt = psp["excitatory"], psp["inhibitory"], psp["shunting"]
    assert exc > 0 > inh and abs(inh) < exc, psp
    assert 0 < shunt < exc, psp
    for r in responses(ds, {}).values():
        assert r["g"].max() == pytest.approx(30.0 / np.e, rel=1e-3)
        assert r["I_syn"][0] == pytest.approx(0.0, abs=1e-12)  # at rest, before the spike
        np.testing.assert_allclose(r["I_m"], (r["V"] + 80.0) / 10.0)
    replay = replay_point(ds, {})
    assert replay.ok  # the stored spec rebuilds (neurons in spec order) and gives the same values
    traces = traces_dataset(replay)  # replay --traces: the synapses' state variables too
    assert traces["synapse_g"].dims == ("synapse", "time") and traces["synapse_g"].attrs["units"] == "nS"
    assert float(traces["synapse_g"].max()) == pytest.approx(30.0 / np.e, rel=1e-3)
    assert_figures(run, "psp")


def test_if_sync_slower_synapses_synchronise_sooner_and_doubled_g_star_runs_away(client, tmp_path):
    """Seed 002 part 3: two recurrently coupled IF neurons synchronise, faster with a slower synapse; with
    g_star doubled (no refractory period) the conductance grows with every spike until they fire at several
    kHz: flagged runaway (status 3), with no time to synchrony."""
    run = run_workflow("if-sync", tmp_path, small=True, client=client)
    ds = run.open()
    t = time_to_sync(ds).isel(I_ext=0)
    base = float(t.sel(g_star=30.0, tau_syn=10.0))
    slow = float(t.sel(g_star=30.0, tau_syn=20.0))
    assert np.isfinite(base) and slow < base, (base, slow)
    strong = ds["status"].isel(I_ext=0).sel(g_star=60.0)
    assert (strong == 3).all() and np.isnan(t.sel(g_star=60.0)).all()
    rows = read_csv(run.path("if_sync_time_to_sync", ".csv"))
    assert len(rows) == len(list(points(ds)))
    assert_figures(run, "if_sync")


@pytest.mark.slow
def test_synapse_gallery_gating_kinetics_and_the_sign_of_the_psps(client, tmp_path):
    """Seed 001: after each presynaptic spike s rises and decays; AMPA decays within the 25 ms between spikes,
    NMDA barely; excitatory synapses depolarise and GABA_A hyperpolarises, current- and conductance-based."""
    run = run_workflow("synapse-gallery", tmp_path, small=True, client=client)
    ds = run.open()
    time = ds["time"].values
    spikes = presynaptic_spikes(ds, "pre", {})
    assert spikes.tolist() == [10.0, 35.0, 60.0, 85.0]
    before = time < spikes[0]
    between = (time > spikes[0] + 1.0) & (time < spikes[1] - 0.05)

    def s(name: str) -> np.ndarray:
        return gating(ds, name, {})[0]

    for name in ("s_ampa_coba", "s_ampa_cuba", "s_nmda_coba", "s_gaba_a_coba"):
        assert not s(name)[before].any() and s(name).max() > 0.1, name
    ampa, nmda = s("s_ampa_coba"), s("s_nmda_coba")
    assert ampa[between][-1] < 0.05 * ampa[between].max()  # AMPA: gone before the next spike
    assert nmda[between][-1] > 0.5 * nmda[between].max()  # NMDA: slow decay
    np.testing.assert_array_equal(s("s_ampa_coba"), s("s_ampa_cuba"))  # s does not depend on the output form
    v = trace(ds, "trace_v", {})
    rest = -65.0
    assert v.attrs["units"] == "mV"  # the LIF neurons' V, not the spike source's placeholder
    for post in ("ampa_coba", "ampa_cuba", "nmda_coba"):  # NMDA: small at rest, under the Mg2+ block
        assert float(v.sel(neuron=post).max()) > rest + 0.2 and float(v.sel(neuron=post).min()) >= rest, post
    for post in ("gaba_a_coba", "gaba_a_cuba"):
        assert float(v.sel(neuron=post).min()) < rest - 0.01 and float(v.sel(neuron=post).max()) <= rest, post
    assert_figures(run, "synapse_gallery")
