"""dask's dashboard for a run, when bokeh is installed (the optional extra ``pip install 'synsweep[dashboard]'``).

    LocalCluster(..., dashboard_address=dashboard_address())   # a free port on 127.0.0.1, or None: no dashboard
    announce(client)                                           # logs "dask dashboard: http://127.0.0.1:PORT/status"

A scheduler that synsweep starts (the local cluster, or the one of ``--cluster`` batch jobs) serves dask's
dashboard only where dask can draw it: bokeh importable in the version ``distributed`` requires
(``distributed.dashboard.core`` refuses others). It listens on 127.0.0.1 only (the page has no
authentication; from another machine, tunnel to it: ``ssh -L PORT:127.0.0.1:PORT host``). Without bokeh no
HTTP port is opened and nothing is said. The link is logged at INFO on the logger ``synsweep.dashboard``;
the CLI prints it on stderr as ``synsweep: dask dashboard: URL`` (not with ``--quiet``).
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["DASHBOARD_HOST", "LOGGER", "dashboard_address", "dashboard_link", "announce"]

DASHBOARD_HOST = "127.0.0.1"
LOGGER = logging.getLogger("synsweep.dashboard")


def dashboard_address() -> str | None:
    """Where a scheduler started here serves the dashboard: a free port on ``DASHBOARD_HOST`` when dask can
    serve it (bokeh in a version ``distributed`` accepts), else None (no HTTP server at all)."""
    try:
        import distributed.dashboard.core  # noqa: F401  (imports bokeh; refuses a version dask cannot use)
    except ImportError:
        return None
    return f"{DASHBOARD_HOST}:0"


def dashboard_link(client: Any) -> str | None:
    """The dashboard URL of a scheduler started here with ``dashboard_address()`` (``client`` connected to it),
    or None without bokeh (the scheduler's HTTP port then serves no dashboard). Built from ``DASHBOARD_HOST``,
    not the scheduler's address: the scheduler of batch jobs listens on the network, its dashboard on
    127.0.0.1 only."""
    from distributed.utils import format_dashboard_link

    if dashboard_address() is None:
        return None
    port = client.scheduler_info().get("services", {}).get("dashboard")
    return format_dashboard_link(DASHBOARD_HOST, port) if port else None


def announce(client: Any) -> str | None:
    """Log the dashboard link of ``client``'s scheduler (when it has one) on ``LOGGER``; returns it."""
    link = dashboard_link(client)
    if link is not None:
        LOGGER.info("dask dashboard: %s", link)
    return link
