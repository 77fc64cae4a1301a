"""The model library's circuits from specs, end to end through the sweep service (packaged example specs).

Each spec runs through run_sweep into a zarr store on an in-process dask cluster (the multi-process path
is tested in test_service.py); the assertions are expectations derived from the models, not stored output.
"""

from pathlib import Path

import numpy as np
import pytest
import yaml
from distributed import Client

from synsweep.sweeps.runner import run_sweep
from synsweep.sweeps.spec import load_spec

SPECS = Path(__file__).resolve().parents[2] / "workflows" / "specs"


@pytest.fixture(scope="module")
def client():
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0") as c:
        yield c


def run_packaged(name: str, client, tmp_path: Path, **simulation) -> object:
    doc = yaml.safe_load((SPECS / f"{name}.yaml").read_text())
    doc["simulation"].update(simulation)
    return run_sweep(load_spec(doc), tmp_path / f"{name}.zarr", client=client, progress=False).load()


@pytest.mark.slow
def test_seed_chain_of_three_gives_rates_and_synchrony_of_all_pairs(client, tmp_path):
    """The seed's three-neuron chain: input to n1 only; without coupling n2 and n3 stay silent, with
    coupling the activity spreads along the chain and every pair's correlation rises with g."""
    ds = run_packaged("chain", client, tmp_path, duration=60.0)
    assert ds.sizes["neuron"] == 3 and ds.sizes["pair"] == 3
    assert [(str(a), str(b)) for a, b in zip(ds.pair_a.values, ds.pair_b.values, strict=True)] == \
        [("n1", "n2"), ("n1", "n3"), ("n2", "n3")]
    rates = ds.rate_count.sel(I_ext=0.2)
    assert float(rates.sel(g=0.0, neuron="n1")) > 0
    assert float(rates.sel(g=0.0, neuron="n2")) == 0 and float(rates.sel(g=0.0, neuron="n3")) == 0
    assert np.all(rates.sel(g=0.05).values > 0)  # strongly coupled: all three fire
    pearson = ds.pearson.sel(I_ext=0.2)
    assert np.all(pearson.sel(g=0.05).values > 0.95)
    assert np.all(pearson.sel(g=0.05).values > pearson.sel(g=0.0).values)
    assert np.all(ds.status.values == 1)


@pytest.mark.slow
def test_hindmarsh_rose_pair_locks_with_electrical_coupling(client, tmp_path):
    """Two HR bursters from different states: uncoupled they stay apart; strongly coupled (g = 1) the
    diffusive coupling drives x1 - x2 to 0, so mean |x1 - x2| falls by orders of magnitude and r -> 1."""
    ds = run_packaged("hr_pair", client, tmp_path, duration=1500.0)
    dv = ds.mean_abs_dv.isel(pair=0)
    r = ds.pearson.isel(pair=0)
    assert float(dv.sel(g=0.0)) > 0.3 and abs(float(r.sel(g=0.0))) < 0.5
    assert float(dv.sel(g=1.0)) < 1e-3 * float(dv.sel(g=0.0))
    assert float(r.sel(g=1.0)) > 0.999
    assert np.all(ds.spike_count.values > 10)  # both keep bursting


@pytest.mark.slow
def test_hh_pair_with_inhibitory_diffusion_synapse(client, tmp_path):
    """A one-way diffusion synapse n1 -> n2 leaves n1 exactly as uncoupled (gsyn = 0), and with Neun's sign
    (gsyn < 0, esyn = -80 mV) it inhibits n2: the more negative gsyn, the lower n2's rate."""
    ds = run_packaged("hh_diffusion", client, tmp_path, duration=150.0)
    pre = ds.sel(neuron="n1")
    for var in ("spike_count", "first_spike_time", "rate_isi", "isi_cv"):
        np.testing.assert_array_equal(pre[var].values, pre[var].sel(gsyn=0.0).values, err_msg=var)
    post_rate = ds.rate_count.sel(neuron="n2").values
    assert post_rate[0] > 0
    assert np.all(np.diff(post_rate) < 0), post_rate
