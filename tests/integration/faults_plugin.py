"""A dask worker preload for the fault tests: makes chosen sweep points fail, or wait, when the test says so.

Loaded into worker processes with ``dask worker --preload THIS_FILE`` (or the ``distributed.worker.preload``
config, e.g. ``DASK_DISTRIBUTED__WORKER__PRELOAD='["THIS_FILE"]'``). ``dask_setup`` wraps the engine entry
point that the runner's tasks call (``synsweep.sweeps.runner.simulate``) in the worker process; synsweep
itself has no hook for it. The test steers it through a JSON file named by ``$SYNSWEEP_TEST_FAULTS``,
read at every call (no file: no fault):

    {"raise": {PATH: VALUE, ...}}   a task whose points include one with all these values raises
                                    FloatingPointError("injected model error ..."), as a model bug would
    {"hold": {PATH: VALUE, ...}, "gate": FILE}
                                    such a task waits, before computing anything, until FILE exists;
                                    while it waits, FILE.held.<pid> exists. If the control file stops
                                    holding (rewritten or removed) the task aborts without writing.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

CONTROL = "SYNSWEEP_TEST_FAULTS"
HOLD_LIMIT_S = 300  # a gate the test never opens must not hang a worker forever


def _control() -> dict:
    path = os.environ.get(CONTROL)
    try:
        return json.loads(Path(path).read_text()) if path else {}
    except (OSError, ValueError):
        return {}


def _matches(values: dict, n: int, wanted: dict) -> bool:
    hit = np.ones(n, dtype=bool)
    for path, value in wanted.items():
        if path not in values:
            return False
        hit &= np.broadcast_to(np.asarray(values[path]), (n,)) == value
    return bool(hit.any())


def _hold(control: dict) -> None:
    gate = Path(control["gate"])
    held = gate.with_name(f"{gate.name}.held.{os.getpid()}")
    held.touch()
    try:
        deadline = time.monotonic() + HOLD_LIMIT_S
        while not gate.exists():
            if _control().get("hold") != control["hold"]:
                raise RuntimeError("the test cancelled the hold: this task stops without writing")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the test never opened the gate {gate}")
            time.sleep(0.02)
    finally:
        held.unlink(missing_ok=True)


def dask_setup(worker) -> None:
    from synsweep.sweeps import runner

    engine_simulate = runner.simulate

    def simulate(circuit, simulation, values=None, *, n_points=None, **kwargs):
        control = _control()
        n = n_points or max((np.size(v) for v in (values or {}).values()), default=1)
        if "raise" in control and _matches(values or {}, n, control["raise"]):
            raise FloatingPointError(f"injected model error: the test made the points at {control['raise']} fail")
        if "hold" in control and _matches(values or {}, n, control["hold"]):
            _hold(control)
        return engine_simulate(circuit, simulation, values, n_points=n_points, **kwargs)

    runner.simulate = simulate
