"""Continuation sweeps on a real dask cluster and zarr store: the state hand-over between consecutive points
is exact, and the Hodgkin-Huxley neuron shows its classic hysteresis under constant current."""

from __future__ import annotations

import numpy as np
import pytest
from distributed import Client

from synsweep.sweeps.runner import run_sweep
from synsweep.sweeps.spec import load_spec
from tests.specs import HH_PAIR_CIRCUIT

AREA = 7.854e-3  # cm^2: the hh model's parameters are absolute (docs/models.md)
I_HOPF = 9.78  # uA/cm^2, subcritical Hopf bifurcation of the rest state (Rinzel & Miller 1980)
I_SNLC = 6.26  # uA/cm^2, saddle-node of limit cycles: the lowest current with repetitive firing


@pytest.fixture(scope="module")
def client():
    with Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=":0") as c:
        yield c


def test_state_hand_over_is_exact(client, tmp_path):
    """The final state of point k is the initial state of point k+1, bit for bit, in both directions, for
    every lane (g) and every state variable: the first trace sample is the initial state, the last the final."""
    doc = {
        "name": "handover",
        "circuit": HH_PAIR_CIRCUIT,
        "simulation": {"dt": 0.02, "duration": 10.0, "transient": 2.0},
        "sweep": [
            {"name": "g", "paths": ["synapses.gap.params.g1", "synapses.gap.params.g2"], "values": [0.0, 0.004]},
            {"name": "I_ext", "paths": {"inputs.n1": 1.0, "inputs.n2": 0.8},
             "linspace": {"start": 0.05, "stop": 0.15, "num": 4}, "continuation": "both"},
        ],  # the default metrics and these traces: the kernel of the analysis tests (tests/e2e/test_analysis_cli.py)
        "record": {"variables": ["v", "m", "h", "n"], "every": 5},
        "execution": {"chunk_points": 3},
    }
    ds = run_sweep(load_spec(doc), tmp_path / "c.zarr", client=client, progress=False)
    assert ds.sizes["direction"] == 2 and set(ds.direction.values) == {1.0, -1.0}
    assert (ds.status.values != 0).all()
    for var in ("v", "m", "h", "n"):
        tr = ds[f"trace_{var}"].transpose("direction", "g", "I_ext", "neuron", "time").values
        up, down = tr[list(ds.direction.values).index(1.0)], tr[list(ds.direction.values).index(-1.0)]
        np.testing.assert_array_equal(up[:, 1:, :, 0], up[:, :-1, :, -1])  # up: point k+1 starts at k's end
        np.testing.assert_array_equal(down[:, :-1, :, 0], down[:, 1:, :, -1])  # down: k-1 starts at k's end
        # the first point of each branch starts from the spec's initial state, not from a handed-on one
        assert not np.array_equal(up[:, 0, :, 0], up[:, -1, :, -1])
        np.testing.assert_array_equal(up[:, 0, :, 0], down[:, -1, :, 0])


@pytest.mark.slow
def test_hh_hysteresis(client, tmp_path):
    """Going up, repetitive firing starts at the first current above the Hopf point; going down it stops at
    the first current below the saddle-node of limit cycles; in between both states coexist."""
    spacing = 0.25
    currents = np.arange(5.5, 10.5 + spacing / 2, spacing)  # uA/cm^2
    doc = {
        "name": "hh_hysteresis",
        "circuit": {"neurons": {"n1": {"model": "hh"}}},
        "simulation": {"dt": 0.02, "duration": 300.0, "transient": 200.0},
        "sweep": [{"name": "I_ext", "paths": ["inputs.n1"], "values": [float(i * AREA) for i in currents],
                   "continuation": "both"}],
        "metrics": ["spike_count"],
    }
    ds = run_sweep(load_spec(doc), tmp_path / "hh.zarr", client=client, progress=False)
    fires = (ds.spike_count.sel(neuron="n1") > 1).load()
    up, down = fires.sel(direction=1.0).values, fires.sel(direction=-1.0).values
    onset = currents[np.argmax(up)]  # first firing current going up
    offset = currents[np.flatnonzero(down).min()]  # lowest current still firing going down
    assert up[np.argmax(up):].all() and down[np.flatnonzero(down).min():].all()  # one switch per branch
    assert I_HOPF < onset <= I_HOPF + spacing, onset
    assert I_SNLC <= offset < I_SNLC + spacing, offset
    bistable = currents[~up & down]
    assert bistable.min() == offset and bistable.max() == onset - spacing
