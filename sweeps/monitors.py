"""dask's periodic monitors, turned down on the clusters synsweep starts.

A synsweep task holds its core for seconds in compiled code, and nobody watches a dashboard, but dask's
monitors wake every 10 to 500 ms in the scheduler, the nannies and every worker. On an idle LocalCluster
of 2 workers (2 vCPUs) they cost 14% of a core with dask's defaults (driver process 6%, each worker 4%)
and 1.4% with ``QUIET``; on a busy machine that time, and the cache each wake-up evicts, comes out of
the kernels. The settings:

    distributed.worker.profile.enabled          False   the statistical profiler (every 10 ms)
    distributed.admin.tick.interval             1s      event-loop responsiveness check (every 20 ms)
    distributed.admin.system-monitor.interval   5s      CPU, memory and network sampling (every 500 ms)
    distributed.worker.memory.monitor-interval  1s      the nanny's memory-limit check (every 100 ms)
    distributed.client.scheduler-info-interval  10s     the client's copy of the scheduler state (2 s)

A setting the user's dask configuration gives a value other than dask's default is left as the user set
it; ``synsweep.dask-monitors: default`` in the dask configuration (``~/.config/dask/*.yaml``, or the
environment variable ``DASK_SYNSWEEP__DASK_MONITORS=default``) leaves all of them at dask's defaults, for
example to see the profiler in the dashboard.
"""

from __future__ import annotations

import warnings
from typing import Any

import dask.config

QUIET: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.client.scheduler-info-interval": "10s",
}
#: the settings read by worker processes (the others are read by the scheduler, nanny or client)
WORKER_KEYS = ("distributed.worker.profile.enabled", "distributed.admin.tick.interval",
               "distributed.admin.system-monitor.interval", "distributed.worker.memory.monitor-interval")


def quiet_monitors() -> dict[str, Any]:
    """``QUIET`` without the keys that the current dask configuration sets away from dask's defaults;
    for ``dask.config.set`` around a cluster's start (a nanny hands its configuration to its worker)."""
    import distributed  # noqa: F401  (registers distributed's defaults)

    choice = dask.config.get("synsweep.dask-monitors", default="quiet")
    if choice == "default":
        return {}
    if choice != "quiet":
        warnings.warn(f"dask config synsweep.dask-monitors is {choice!r}; it takes 'quiet' (synsweep's settings, "
                      f"the default) or 'default' (dask's own). Using 'quiet'.", UserWarning, stacklevel=2)
    defaults = dask.config.merge(*dask.config.defaults)
    return {key: value for key, value in QUIET.items()
            if dask.config.get(key, default=None) == dask.config.get(key, default=None, config=defaults)}


def worker_environment() -> dict[str, str]:
    """The worker-side settings of ``quiet_monitors`` as ``DASK_*`` environment variables, for workers
    started by a batch job script (``DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL=1s``, ...)."""
    quiet = quiet_monitors()
    return {"DASK_" + key.upper().replace(".", "__").replace("-", "_"): str(quiet[key])
            for key in WORKER_KEYS if key in quiet}
