"""Imported once in the local cluster's fork server (``synsweep.sweeps.forkserver``), before it forks a worker:
the worker's task code, then the run's kernels, loaded (or compiled) into the server so that every worker forked
from it has them. Never raises: a kernel that fails to load here fails, with its message, in the first task
that needs it, as it would in a spawned worker. The server itself ends without the interpreter's teardown (its
forks end with ``os._exit`` anyway)."""

from __future__ import annotations

import atexit
import contextlib
import os

import distributed.nanny  # noqa: F401 - what a forked worker runs
import distributed.worker  # noqa: F401

import synsweep.sweeps.runner  # noqa: F401
import synsweep.sweeps.spec  # noqa: F401
import synsweep.sweeps.worker_process  # noqa: F401
from synsweep.engine.kernels import get_kernel

from .forkserver import preloaded_kernels

for _key in preloaded_kernels():
    with contextlib.suppress(Exception):
        get_kernel(_key)

atexit.register(os._exit, 0)  # registered last: runs first, once the driver has gone
