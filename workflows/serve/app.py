"""The ``synsweep serve`` web app: JSON endpoints over the stores under one folder, and the page that draws them.

    app = create_app(Path("results"))                   # loopback: no token
    app = create_app(Path("results"), token="s3cret")   # any other host: every request needs the token

Endpoints (GET; ``store`` is a store's path relative to the served folder, as the list gives it):

    /                       the page (static/index.html, plotly.js served from /static/plotly.min.js)
    /api/stores?q=WORDS     the store list (stores.summary per store), filtered by name, title or model
    /api/store?store=S      dims with coordinates, variables, completion, spec and provenance of one store
    /api/plot?store=S&var=V&x=A&y=B&sel=D:K,...&reduce=mean
                            ``selection.plot_data`` of V: values as float32 (base64, NaN where no ok point
                            gives a value), status or ok counts per cell (uint8 / int32, base64), coordinates
    /api/replay?store=S&point=D:K,...
                            ``replay.replay_point`` at the point (index K along sweep dim D): every neuron's
                            and synapse's state variables over time, and the check against the stored values
    /api/progress?store=S   points done, and over time as sampled by the app's requests (stores.progress)
    /download/spec|figure|csv|netcdf?store=S[&var=...]   the spec (JSON), the figure (PNG), the export

Read-only: stores are opened lazily for reading (``open_result``); figures and exports are written to a
temporary folder and removed after they are sent. ``sel`` and ``point`` pick grid points by index, so the
value the page shows is the value used. Refusals: a path outside the folder or not a store is 404, a bad
request (unknown variable, axis, a reduced dim in a replay) is 400 with the message of ``AnalysisError``, a
missing or wrong token is 403.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import math
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from synsweep.sweeps import StoreError, open_result
from synsweep.workflows.selection import AnalysisError, axis_names, sweep_dims

from . import stores

TOKEN_COOKIE = "synsweep_token"
MAX_TRACE_SAMPLES = 20_000  # per trace sent to the page (every k-th sample above that; the note says so)
INDEX_PREFIX = "_index_"  # coordinates that carry the grid index of a sweep dim through plot_data
STATIC = resources.files("synsweep.workflows.serve") / "static"


def plotly_js() -> Path:
    """plotly.min.js of the installed ``plotly`` package (served locally: no CDN, works offline)."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise RuntimeError(f"the plotly package has no bundled plotly.min.js at {path}; reinstall plotly")
    return path


class TokenGate:
    """ASGI middleware: every HTTP request must carry ``token`` (query ``?token=``, header
    ``X-Synsweep-Token`` or the cookie that the first accepted request with ``?token=`` sets); else 403."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        from_query = request.query_params.get("token")
        given = from_query or request.headers.get("x-synsweep-token") or request.cookies.get(TOKEN_COOKIE) or ""
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            await PlainTextResponse("synsweep serve: a valid token is required (open the address printed at "
                                    "start, with its ?token=...)", status_code=403)(scope, receive, send)
            return
        if from_query is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: dict) -> None:
            if message["type"] == "http.response.start":
                cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
            await send(message)

        await self.app(scope, receive, send_with_cookie)


class Stores:
    """The served folder and the stores opened so far (lazily, one dataset per store, reused)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._open: dict[Path, Any] = {}
        self.progress: dict[Path, list[tuple[float, int]]] = {}  # (time, points done) as sampled per store
        self._lock = threading.Lock()

    def path(self, request: Request) -> Path:
        name = request.query_params.get("store")
        if not name:
            raise AnalysisError("give the store with ?store=PATH (a path relative to the served folder)")
        return stores.resolve(self.root, name)

    def dataset(self, path: Path) -> Any:
        with self._lock:
            if path not in self._open:
                self._open[path] = open_result(path)
            return self._open[path]


def _b64(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def _finite_list(values: np.ndarray) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in np.asarray(values, dtype=np.float64).tolist()]


def _coord(ds: Any, name: str, dim: str) -> list[Any]:
    values = np.asarray(ds[name].values) if name in ds.coords else np.arange(ds.sizes[dim])
    return values.tolist() if values.dtype.kind in "iufb" else [str(v) for v in values.tolist()]


def _indices(ds: Any, text: str, role: str) -> dict[str, int]:
    """``"g:3,I_ext:0"`` -> ``{"g": 3, "I_ext": 0}``, checked against the dims of ``ds``."""
    out: dict[str, int] = {}
    for item in filter(None, text.split(",")):
        dim, _, k = item.partition(":")
        if dim not in ds.sizes:
            raise AnalysisError(f"{role} {dim!r} is not a dim of this result; its dims are {', '.join(ds.sizes)}")
        try:
            out[dim] = int(k)
        except ValueError:
            raise AnalysisError(f"{role} {item!r}: give DIM:INDEX with a whole number") from None
        if not 0 <= out[dim] < ds.sizes[dim]:
            raise AnalysisError(f"{role} {item!r}: {dim!r} has indices 0 .. {ds.sizes[dim] - 1}")
    return out


def _values(ds: Any, index: dict[str, int]) -> dict[str, str]:
    """Grid indices -> the selection of ``selection.select_indices`` (the value at the index, exactly)."""
    out = {}
    for dim, k in index.items():
        if dim in ds.coords:
            value = np.asarray(ds[dim].values)[k]
            out[dim] = repr(float(value)) if np.asarray(value).dtype.kind == "f" else str(value)
        else:
            out[dim] = str(k)
    return out


def store_info(ds: Any, root: Path, path: Path) -> dict[str, Any]:
    """Dims (size, coordinate values, units, whether a sweep dim), variables, summary, spec and provenance."""
    sweep = sweep_dims(ds)
    dims = []
    for d, n in ds.sizes.items():
        attrs = ds[d].attrs if d in ds.coords else {}
        axes = [a for a, dd in axis_names(ds).items() if dd == d and a != d]
        dims.append({"name": d, "size": int(n), "values": _coord(ds, d, d), "sweep": d in sweep,
                     "units": str(attrs.get("units", "")), "long_name": str(attrs.get("long_name", "")),
                     "axes": axes})
    variables = [{"name": str(v), "dims": list(ds[v].dims), "units": str(ds[v].attrs.get("units", "")),
                  "long_name": str(ds[v].attrs.get("long_name", ""))}
                 for v in ds.data_vars if set(ds[v].dims) & set(sweep)]
    provenance = {k: (v if isinstance(v, str | int | float | bool | list | dict) else str(v))
                  for k, v in ds.attrs.items() if k != "spec"}
    spec = ds.attrs.get("spec")
    try:
        spec_doc = json.loads(spec) if isinstance(spec, str) else None
    except ValueError:
        spec_doc = None
    return {"summary": stores.summary(root, path), "dims": dims, "variables": variables,
            "sweep_dims": list(sweep), "provenance": provenance, "spec": spec_doc}


def plot_json(ds: Any, var: str, x: str | None, y: str | None, sel: dict[str, int], reduce: str | None) -> dict:
    """``selection.plot_data`` as JSON for plotly: float32 values (base64), per-cell status or ok counts."""
    from synsweep.workflows.selection import plot_data

    # each sweep dim's grid index rides along as a coordinate, so the page can name a clicked cell exactly
    # (plot_data sorts the axes by their coordinate); not on selected or size-1 dims, which the label names
    positions = {f"{INDEX_PREFIX}{d}": (d, np.arange(ds.sizes[d])) for d in sweep_dims(ds)
                 if d not in sel and ds.sizes[d] > 1}
    data = plot_data(ds.assign_coords(positions), var, x=x, y=y, sel=_values(ds, sel), reduce=reduce)
    values = data.values
    out: dict[str, Any] = {
        "var": var, "x": data.x, "x_coord": data.x_coord, "y": data.y, "y_coord": data.y_coord, "hue": data.hue,
        "x_values": _coord(values, data.x_coord, data.x), "shape": list(values.shape),
        "values": _b64(values.values, "<f4"), "selected": data.selected, "reduced": list(data.reduced),
        "reduce": data.reduce, "units": str(ds[var].attrs.get("units", "")),
        "long_name": str(ds[var].attrs.get("long_name", var)),
        "x_label": _label(ds, data.x_coord), "y_label": _label(ds, data.y_coord) if data.y_coord else None,
    }
    for axis, dim in (("x", data.x), ("y", data.y)):
        if dim is not None and f"{INDEX_PREFIX}{dim}" in values.coords:
            out[f"{axis}_index"] = np.asarray(values[f"{INDEX_PREFIX}{dim}"].values).tolist()
    if data.y is not None:
        out["y_values"] = _coord(values, data.y_coord, data.y)
    if data.hue is not None:
        out["hue_values"] = _coord(values, data.hue, data.hue)
    if data.status is not None:
        out["status"] = _b64(data.status, "u1")
    if data.n_ok is not None:
        out["n_ok"] = _b64(data.n_ok, "<i4")
    return out


def _label(ds: Any, name: str) -> str:
    if name not in ds.variables:
        return name
    attrs = ds[name].attrs
    units = str(attrs.get("units", ""))
    return f"{attrs.get('long_name', name)} ({name}" + (f", {units})" if units not in ("", "1") else ")")


def replay_json(ds: Any, index: dict[str, int]) -> dict[str, Any]:
    """Replay the point: neuron traces and the check (``replay.replay_point``), then the synapses' state
    variables (a second simulation of the same point recording them; none for stateless synapses)."""
    from synsweep.engine import simulate
    from synsweep.workflows.replay import comparison_table, replay_point

    sweep = sweep_dims(ds)
    missing = [d for d in sweep if d not in index and ds.sizes[d] > 1]
    if missing:
        raise AnalysisError(f"a replay needs one value of every sweep dim; choose {', '.join(missing)} with its "
                            "slider instead of reducing over it")
    replay = replay_point(ds, _values(ds, {d: index.get(d, 0) for d in sweep}))
    spec, result = replay.spec, replay.result
    time = np.asarray(result.trace_times)
    step = max(1, -(-time.size // MAX_TRACE_SAMPLES))
    traces = []
    for (unit, var), trace in result.traces.items():
        traces.append(_trace(spec, unit, var, trace[0][::step], "neuron"))
    states = [f"{s.name}.{v}" for s in spec.circuit.synapses for v in s.definition.state_names]
    if states:
        block = tuple(slice(replay.index[d.name], replay.index[d.name] + 1) for d in spec.dims)
        syn = simulate(spec.circuit, spec.simulation, spec.point_values(block), n_points=1, metrics=(),
                       record=states, record_every=1)
        for (unit, var), trace in syn.traces.items():
            traces.append(_trace(spec, unit, var, trace[0][::step], "synapse"))
    diverged = int(result.metrics["diverged_step"][0])
    return {
        "label": replay.label, "ok": replay.ok, "time": _finite_list(time[::step]), "every": step,
        "traces": traces, "checks": [list(row) for row in comparison_table(replay)], "notes": replay.notes,
        "transient": float(spec.simulation.transient),
        "diverged_at": diverged * float(spec.simulation.dt) if diverged >= 0 else None,
        "voltages": {n.name: n.definition.voltage for n in spec.circuit.neurons},
    }


def _trace(spec: Any, unit: str, var: str, values: np.ndarray, kind: str) -> dict[str, Any]:
    units = ""
    for entity in (*spec.circuit.neurons, *spec.circuit.synapses):
        if entity.name == unit and var in entity.definition.state_names:
            units = str(entity.definition.state_var(var).units)
    return {"unit": unit, "var": var, "kind": kind, "units": units, "values": _finite_list(values)}


def create_app(root: Path, token: str | None = None) -> Starlette:
    """The app over the stores under ``root`` (a folder, or one store); ``token``: required on every request."""
    state = Stores(root)

    def endpoint(make: Callable[[Request], Any]) -> Callable[[Request], Response]:
        """A read endpoint: its value as JSON (or the Response it makes); refusals as 400 / 404 JSON."""

        def handle(request: Request) -> Response:
            try:
                value = make(request)
            except stores.OutsideRoot as exc:
                return JSONResponse({"error": str(exc)}, status_code=404)
            except (AnalysisError, StoreError) as exc:
                return JSONResponse({"error": " ".join(str(exc).split())}, status_code=400)
            return value if isinstance(value, Response) else JSONResponse(value)

        return handle

    def index(request: Request) -> Response:
        return FileResponse(str(STATIC / "index.html"), headers={"Cache-Control": "no-store"})

    def plotly(request: Request) -> Response:
        return FileResponse(plotly_js(), headers={"Cache-Control": "max-age=86400"})

    def list_stores(request: Request) -> Any:
        rows = []
        for p in stores.find_stores(state.root):
            try:
                rows.append(stores.summary(state.root, p))
            except (OSError, ValueError, KeyError, StoreError):  # damaged or half-created: listed as such
                rows.append({"path": stores.relative(state.root, p), "name": p.stem, "title": p.stem,
                             "models": [], "dims": {}, "error": "cannot be read"})
        query = request.query_params.get("q", "")
        return {"root": str(state.root), "stores": [r for r in rows if stores.matches(r, query)]}

    def store(request: Request) -> Any:
        path = state.path(request)
        return store_info(state.dataset(path), state.root, path)

    def plot(request: Request) -> Any:
        ds = state.dataset(state.path(request))
        q = request.query_params
        return plot_json(ds, q.get("var", ""), q.get("x") or None, q.get("y") or None,
                         _indices(ds, q.get("sel", ""), "sel"), q.get("reduce") or None)

    def replay(request: Request) -> Any:
        ds = state.dataset(state.path(request))
        return replay_json(ds, _indices(ds, request.query_params.get("point", ""), "point"))

    def progress(request: Request) -> Any:
        path = state.path(request)
        return stores.progress(path, state.progress.setdefault(path, []))

    def download(request: Request) -> Response:
        path = state.path(request)
        what = request.path_params["what"]
        ds = state.dataset(path)
        stem = path.stem
        if what == "spec":
            text = ds.attrs.get("spec")
            if not isinstance(text, str):
                raise AnalysisError("the result has no stored spec")
            return Response(json.dumps(json.loads(text), indent=2), media_type="application/json",
                            headers={"Content-Disposition": f'attachment; filename="{stem}.spec.json"'})
        if what not in ("figure", "csv", "netcdf"):
            raise AnalysisError(f"no download {what!r}: spec, figure, csv or netcdf")
        tmp = Path(tempfile.mkdtemp(prefix="synsweep-serve-"))
        cleanup = BackgroundTask(shutil.rmtree, tmp, ignore_errors=True)
        try:
            if what == "figure":
                from synsweep.workflows.plots import plot_variable

                q = request.query_params
                var = q.get("var", "")
                target = plot_variable(ds, var, tmp / f"{stem}_{var}.png", x=q.get("x") or None,
                                       y=q.get("y") or None, sel=_values(ds, _indices(ds, q.get("sel", ""), "sel")),
                                       reduce=q.get("reduce") or None)
            elif what == "csv":
                from synsweep.workflows.export import write_csv

                target = tmp / f"{stem}.csv"
                write_csv(ds, target)
            else:
                from synsweep.workflows.export import to_netcdf

                target = to_netcdf(ds, tmp / f"{stem}.nc")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return FileResponse(target, filename=target.name, background=cleanup)

    routes = [
        Route("/", index),
        Route("/static/plotly.min.js", plotly),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
        Route("/api/stores", endpoint(list_stores)),
        Route("/api/store", endpoint(store)),
        Route("/api/plot", endpoint(plot)),
        Route("/api/replay", endpoint(replay)),
        Route("/api/progress", endpoint(progress)),
        Route("/download/{what}", endpoint(download)),
    ]
    middleware = [Middleware(TokenGate, token=token)] if token else []
    return Starlette(routes=routes, middleware=middleware, lifespan=_warm_up)


def _import_readers() -> None:
    """Import what the first figure and the first replay need (xarray's zarr backend, dask.array, the
    engine): about two seconds that the first page would otherwise wait for."""
    import dask.array  # noqa: F401
    import xarray.backends.zarr  # noqa: F401

    import synsweep.workflows.plots  # noqa: F401
    import synsweep.workflows.replay  # noqa: F401


@contextlib.asynccontextmanager
async def _warm_up(app: Starlette) -> AsyncIterator[None]:
    """At start: the imports of ``_import_readers`` in a background thread (the server answers meanwhile)."""
    threading.Thread(target=_import_readers, name="synsweep-serve-warm-up", daemon=True).start()
    yield
