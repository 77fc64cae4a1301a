"""``synsweep serve``: a local web page to browse stored sweeps and replay any point.

    synsweep serve results/                     # http://127.0.0.1:8765/ (loopback: no token)
    synsweep serve results/ --host 0.0.0.0      # other hosts: a token, printed at start, on every request

The app (``app.create_app``) is a small Starlette ASGI application run by uvicorn: JSON endpoints that read
the stores lazily with xarray and dask (``synsweep.workflows.selection.plot_data`` cuts and reduces a variable
chunk by chunk and loads only the figure's values), and one static page that draws them with plotly.js,
served from the ``plotly`` package (no CDN). Install with ``pip install "synsweep[serve]"``.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from pathlib import Path

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (127.0.0.0/8, ::1, localhost)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listener(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` (port 0: any free one), so that an address in use or not of this
    machine is found before anything is announced; OSError otherwise."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def serve(root: Path, host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
          announce=print) -> None:
    """Serve the stores under ``root`` until interrupted. A host other than loopback gets a token (``token``
    or a random one), announced with the address to open. Raises OSError when ``host``:``port`` cannot be
    listened on (``listener``), before announcing anything."""
    import uvicorn

    from .app import create_app

    sock = listener(host, port)
    port = sock.getsockname()[1]
    if not is_loopback(host) and not token:
        token = secrets.token_urlsafe(24)
    app = create_app(root, token=token)
    shown = f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    announce(f"synsweep serve: the stores under {root.resolve()} at {address}")
    if token:
        announce(f"synsweep serve: every request needs the token {token} (open the address above)")
    announce("synsweep serve: read-only; Ctrl-C stops it")
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
