"""dask preload of the local cluster's worker processes: they start with the task code and end without teardown.

Start: a task arrives pickled by reference to ``synsweep.sweeps.runner.run_chunk``; unpickling it imports the
runner (numba, zarr, the engine: 0.5 to 1 s of CPU), and its first call loads the spec module to rebuild the
spec from its document. Imported here, at the worker's start, that time overlaps what the driver does meanwhile
(``synsweep.sweeps.runner.execute`` spawns the workers of a new store's local cluster before it writes the
store's template) instead of delaying the first task.

End: once the worker has closed (``dask_teardown``: its tasks are over, its results sent, its comms closed),
the process ends at its first exit handler, skipping the interpreter's teardown of numba's and LLVM's objects,
which took 0.2 to 0.3 s on an idle core and 1 to 1.3 s at a load of 6 on two cores, with the command waiting
for it. Python has by then joined the process's non-daemon threads (a write in zarr's thread pool ends first);
the exit handlers that would have run after this one (multiprocessing's finalizers, logging's flush) run
here first. A worker that did not close (it failed, or was killed) ends as usual. Not on GPU workers (the
CUDA driver's own exit handlers run).

    LocalCluster(..., preload=["synsweep.sweeps.interrupts", "synsweep.sweeps.worker_process"])
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing.util
import os
import sys
from typing import Any

_closed = False


def dask_setup(worker: Any = None) -> None:
    """Import the runner and the spec loader in this worker process (what ``run_chunk`` needs); end the process
    without teardown once the worker has closed (``_exit_when_closed``), except on a GPU worker."""
    import synsweep.sweeps.runner  # noqa: F401
    import synsweep.sweeps.spec  # noqa: F401

    from .client import GPU_RESOURCE

    resources = getattr(getattr(worker, "state", None), "total_resources", None) or {}
    if GPU_RESOURCE not in resources:
        atexit.register(_exit_when_closed)  # registered last: runs first


def dask_teardown(worker: Any = None) -> None:
    """The worker has closed: its process may end without teardown."""
    global _closed
    _closed = True


def _exit_when_closed() -> None:
    """At exit of a worker process whose worker closed: run multiprocessing's finalizers and flush the logs and
    streams, then end the process with status 0 without the interpreter's teardown."""
    if not _closed:
        return
    multiprocessing.util._exit_function()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
