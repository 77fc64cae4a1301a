"""The ``synsweep serve`` command (registered on the ``synsweep`` group by ``synsweep.workflows.cli``, which
this module never imports)."""

from __future__ import annotations

import errno
from pathlib import Path

import click

from synsweep.workflows.exits import fail


@click.command()
@click.argument("folder", type=click.Path(path_type=Path), metavar="DIR")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback requires the token printed at start.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port to listen on.")
@click.option("--token", envvar="SYNSWEEP_SERVE_TOKEN", metavar="TEXT",
              help="The token to require (default: a random one when --host is not loopback).")
def serve(folder: Path, host: str, port: int, token: str | None) -> None:
    """Browse the result stores under DIR (or one store) in a web page: the list, any variable as a heatmap
    or lines, a point's replay with its traces, a run's progress, the spec, downloads. Read-only."""
    if not folder.is_dir():
        fail(f"DIR {str(folder)!r} is not a folder; give the folder that holds the result stores (the --out of "
             "'synsweep run'), or one store")
    try:
        import plotly  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        message = (f"'synsweep serve' needs the optional packages of the 'serve' extra ({exc.name} is missing); "
                   "install them with: pip install 'synsweep[serve]'")
        fail(message)
    from . import serve as run_server

    try:
        run_server(folder, host=host, port=port, token=token, announce=click.echo)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            fail(f"--port {port}: the address {host}:{port} is already in use ({reason}), by another server or "
                 f"an earlier 'synsweep serve'; give another --port (e.g. --port {port + 1 if port < 65535 else 8765}) "
                 "or --port 0 for any free port")
        fail(f"--host {host!r}: cannot listen there ({reason}); give an address of this machine, e.g. "
             "--host 127.0.0.1 (this machine only) or --host 0.0.0.0 (every interface)")
