"""dask preload of the local cluster's workers: the code a sweep task runs, imported while the worker starts.

A task arrives pickled by reference to ``synsweep.sweeps.runner.run_chunk``; unpickling it imports the runner
(numba, zarr, the engine: 0.5 to 1 s of CPU), and its first call loads the spec module to rebuild the spec
from its document. Imported here, at the worker's start, that time overlaps what the driver does meanwhile
(``synsweep.sweeps.runner.execute`` spawns the workers of a fresh run's local cluster before it writes the
store's template) instead of delaying the first task.

    LocalCluster(..., preload=["synsweep.sweeps.interrupts", "synsweep.sweeps.warm"])
"""

from __future__ import annotations

from typing import Any


def dask_setup(worker: Any = None) -> None:
    """Import the runner and the spec loader in this worker process (what ``run_chunk`` needs)."""
    import synsweep.sweeps.runner  # noqa: F401
    import synsweep.sweeps.spec  # noqa: F401
