"""Small real result stores for the tests of ``synsweep serve``, written in this process by the runner's own
chunk function (``synsweep.sweeps.runner.run_chunk``) under the store's run lock, without a dask cluster.

    scan = write_store(tmp / "scans" / "pair_scan.zarr", pair_spec(), skip_last=1)   # one chunk not computed
    chem = write_store(tmp / "chem.zarr", chemical_spec())

``pair_spec``: seed 000's HH pair with a gap junction, g (5 values) x I_ext (4 values), 10 ms; the strongest
drive (1e5 uA) blows up, so the store holds diverged points too.
``chemical_spec``: an HH pair coupled by an exponential synapse (a synapse with a state variable), swept
over its weight and the drive, 2 x 3 points, every neuron's state variables stored at every step.
"""

from __future__ import annotations

import copy
from pathlib import Path

from synsweep.sweeps import load_spec
from synsweep.sweeps.model import SweepSpec
from synsweep.sweeps.plan import task_plan
from synsweep.sweeps.runner import claim_store, run_chunk

from .specs import HH_PAIR_CIRCUIT


def pair_spec(name: str = "pair_scan") -> SweepSpec:
    return load_spec({
        "name": name,
        "circuit": copy.deepcopy(HH_PAIR_CIRCUIT),
        "simulation": {"dt": 0.02, "duration": 10.0, "transient": 2.0, "integrator": "rk4",
                       "precision": "float64"},
        "sweep": [
            {"name": "g", "paths": ["synapses.gap.params.g1", "synapses.gap.params.g2"],
             "linspace": {"start": 0.0, "stop": 0.01, "num": 5}},
            {"name": "I_ext", "paths": {"inputs.n1": 1.0, "inputs.n2": 0.8}, "values": [0.05, 0.1, 0.15, 1.0e5]},
        ],
        "execution": {"chunk_points": 4},
    })


def chemical_spec(name: str = "chemical_pair") -> SweepSpec:
    circuit = copy.deepcopy(HH_PAIR_CIRCUIT)
    circuit["synapses"] = {"ampa": {"model": "exponential", "pre": "n1", "post": "n2"}}
    return load_spec({
        "name": name,
        "circuit": circuit,
        "simulation": {"dt": 0.02, "duration": 10.0, "transient": 2.0, "integrator": "rk4",
                       "precision": "float64"},
        "sweep": [
            {"name": "g_syn", "paths": ["synapses.ampa.params.w"], "values": [0.0, 2.0]},
            {"name": "I_ext", "paths": {"inputs.n1": 1.0}, "values": [0.05, 0.1, 0.15]},
        ],
        # every neuron's state at every step, as a replay records it: the store and the replays share one kernel
        "record": {"variables": ["v", "m", "h", "n"], "every": 1, "points": "all"},
        "execution": {"chunk_points": 6},
    })


def write_store(out: Path, spec: SweepSpec, skip_last: int = 0) -> Path:
    """Write ``spec``'s store at ``out``, all chunks but the last ``skip_last`` (left not computed)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tasks = task_plan(spec)
    with claim_store(spec, out, resume=False, overwrite=False) as plan:
        blocks = list(plan.blocks())
        for chunk_id, index in blocks[: len(blocks) - skip_last]:
            run_chunk(spec, tasks, str(out), chunk_id, index)
    return out
