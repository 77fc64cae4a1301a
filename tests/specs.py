"""Spec documents the tests share: seed 000's HH pair, coupled by a gap junction, swept over g x I_ext."""

from __future__ import annotations

import copy

HH_PAIR_CIRCUIT = {
    "neurons": {"n1": {"model": "hh", "init": {"v": -75}}, "n2": {"model": "hh", "init": {"v": -65}}},
    "synapses": {"gap": {"model": "electrical", "pre": "n1", "post": "n2"}},
    "inputs": {"n1": 0.1, "n2": 0.1},
}


def hh_pair_doc(name: str, g: list[float], *, duration: float, chunk_points: int,
                record: dict | None = None) -> dict:
    """The pair over ``g`` (both directions of the gap junction, mS) x 10 values of I_ext in 0.05 .. 0.15 uA
    (neuron 2 gets 0.8 I_ext): RK4 on the coupled system in float64, dt 0.02 ms, the first 2 ms transient."""
    doc = {
        "name": name,
        "circuit": copy.deepcopy(HH_PAIR_CIRCUIT),
        "simulation": {"dt": 0.02, "duration": duration, "transient": 2, "integrator": "rk4",
                       "precision": "float64", "scheme": "coupled"},
        "sweep": [
            {"name": "g", "paths": ["synapses.gap.params.g1", "synapses.gap.params.g2"], "values": list(g)},
            {"name": "I_ext", "paths": {"inputs.n1": 1.0, "inputs.n2": 0.8},
             "linspace": {"start": 0.05, "stop": 0.15, "num": 10}},
        ],
        "execution": {"chunk_points": chunk_points},
    }
    if record is not None:
        doc["record"] = record
    return doc
