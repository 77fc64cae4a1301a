"""Exporting a stored result: netCDF (the whole dataset) or CSV (a wide table, one row per sweep point).

    to_netcdf(ds, "scan.nc")         # xarray + h5netcdf (netCDF-4), compressed, written chunk by chunk
    write_csv(ds, "scan.csv")        # columns: the sweep axes, then every metric, status, diverged_step

netCDF: the dataset as it is (dims, coords, variables, attrs), through xarray's ``h5netcdf`` engine. netCDF
attributes cannot hold None or booleans: None is written as "" and True/False as "true"/"false"; every other
attribute and every coordinate round-trips unchanged, but for the CF declarations netCDF tools read:
``flag_values`` of ``status`` in ``status``'s own type (int8), ``spike_count``'s -1 declared as
``_FillValue`` and ``missing_value`` (so xarray reads the file's ``spike_count`` masked, as floats), and text
(the neuron and pair names) as UTF-8 char arrays with a ``string<N>`` dimension (CF 2.2; xarray reads them
back as the same text). Data variables are zlib-compressed in chunks of the store's dask chunks; dask writes
one chunk at a time, so the dataset never has to fit in memory. Checked with the CF checker ``cfchecker``
(tests/unit/test_cf_attrs.py, where it is installed): what it reports is listed in docs/results.md.

CSV: one row per point in C order of the grid (the last sweep dim varies fastest). Columns: each sweep dim
(for a zip group its index, then each of its axes), then every variable along the sweep dims, one column per
neuron or pair label (``rate_count[n1]``, ``pearson[n1-n2]``). Floats are written in the shortest text that
reads back to the same float64; NaN as ``NaN``. ``spike_count`` keeps its -1 at points without a value, and
``status`` says which points have one (1 ok, 2 diverged, 0 not computed). Traces (a ``time`` dim) are not
part of the table: export them with netCDF. The table is read, formatted and written one slab of at most
``ROWS_PER_BLOCK`` points at a time.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from math import prod
from os import PathLike
from pathlib import Path
from typing import IO, Any

import numpy as np
import xarray as xr

from .selection import AnalysisError, sweep_dims

NETCDF_ENGINE = "h5netcdf"
_MISSING = {"spike_count": -1}  # integer variables whose -1 means "no value" (not computed, or diverged)
ROWS_PER_BLOCK = 100_000
ENTITY_DIMS = ("neuron", "pair")


# -- netCDF -------------------------------------------------------------------------------------------------
def netcdf_attr(value: Any) -> Any:
    """An attribute value netCDF can hold: None -> "", bool -> "true"/"false", a dict -> JSON text."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def _check_engine() -> None:
    try:
        import h5netcdf  # noqa: F401
        import h5py  # noqa: F401
    except ImportError as exc:
        raise AnalysisError(f"netCDF export needs the packages h5netcdf and h5py ({exc}); install them with "
                            "pip install h5netcdf h5py (they are dependencies of synsweep: reinstall it)") from None


@contextlib.contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path`` to write to; renamed to ``path`` only when the writing succeeded."""
    if path.parent != Path(""):
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def to_netcdf(ds: xr.Dataset, path: str | PathLike[str]) -> Path:
    """Write ``ds`` to a netCDF-4 file at ``path`` (see the module docstring); returns the path."""
    _check_engine()
    path = Path(path)
    out = ds.copy()
    # names held as Python objects or numpy 2 StringDType (zarr 3 strings): fixed-width numpy text, which every
    # supported xarray writes as a char array
    texts = {str(n): v.copy(data=np.asarray(v.values.tolist(), dtype=str)) for n, v in out.variables.items()
             if v.dtype.kind in "OT"}
    out = out.assign_coords({n: t for n, t in texts.items() if n in out.coords})
    out = out.assign({n: t for n, t in texts.items() if n in out.data_vars})
    out.attrs = {k: netcdf_attr(v) for k, v in ds.attrs.items()}
    encoding: dict[str, dict] = {}
    for name, var in out.variables.items():
        var.attrs = {k: netcdf_attr(v) for k, v in var.attrs.items()}
        var.encoding = {}
        if "flag_values" in var.attrs:  # CF: flag_values of the variable's own type (int8 for status)
            var.attrs["flag_values"] = np.asarray(var.attrs["flag_values"], dtype=var.dtype)
        missing = _MISSING.get(str(name))
        if missing is not None:  # CF: the integer metrics' "no value" as _FillValue and missing_value
            var.attrs.pop("missing_value_note", None)
            var.attrs["missing_value"] = np.asarray(missing, dtype=var.dtype)
        if var.dtype.kind == "U":  # CF 2.2: text as a char array (a string dimension), which every netCDF
            encoding[str(name)] = {"dtype": "S1"}  # and CF tool reads; xarray reads it back as the same text
        elif name in out.data_vars and var.ndim:
            enc: dict[str, Any] = {"zlib": True, "complevel": 4, "shuffle": True}
            if missing is not None:
                enc["_FillValue"] = np.asarray(missing, dtype=var.dtype)
            if var.chunks is not None:
                enc["chunksizes"] = tuple(max(c[0], 1) for c in var.chunks)
            encoding[str(name)] = enc
    with atomic_target(path) as tmp:
        out.to_netcdf(tmp, engine=NETCDF_ENGINE, encoding=encoding)
    return path


# -- CSV ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Table:
    """The columns of the CSV table: coordinates ``(column, coord name, dim)`` and data
    ``(column, variable, entity dim or None, entity index)``; ``skipped``: variables not in the table."""

    coords: tuple[tuple[str, str, str], ...]
    data: tuple[tuple[str, str, str | None, int], ...]
    skipped: tuple[str, ...]

    @property
    def header(self) -> list[str]:
        return [c[0] for c in self.coords] + [d[0] for d in self.data]


def table_layout(ds: xr.Dataset) -> Table:
    """Which columns the CSV table of ``ds`` has (see the module docstring)."""
    sweep = sweep_dims(ds)
    coords: list[tuple[str, str, str]] = []
    for dim in sweep:
        coords.append((dim, dim, dim))
        for name, c in ds.coords.items():
            if name != dim and c.dims == (dim,):
                coords.append((str(name), str(name), dim))
    data: list[tuple[str, str, str | None, int]] = []
    skipped: list[str] = []
    for name, var in ds.data_vars.items():
        extra = [d for d in var.dims if d not in sweep]
        if tuple(var.dims[: len(sweep)]) != tuple(sweep) or len(extra) > 1 or (extra and extra[0] not in
                                                                                 ENTITY_DIMS):
            skipped.append(str(name))
        elif not extra:
            data.append((str(name), str(name), None, 0))
        else:
            labels = [str(v) for v in ds[extra[0]].values.tolist()]
            data += [(f"{name}[{label}]", str(name), extra[0], k) for k, label in enumerate(labels)]
    return Table(tuple(coords), tuple(data), tuple(skipped))


def slabs(shape: tuple[int, ...], rows: int) -> Iterator[tuple[slice, ...]]:
    """Hyper-rectangles covering ``shape`` in C order, each of at most ``max(rows, 1)`` points (or one point
    when that is the smallest unit), whose concatenation is the C-order sequence of the grid."""
    rows = max(int(rows), 1)
    n = len(shape)
    k = next((i for i in range(n + 1) if prod(shape[i:]) <= rows), n)
    if k == 0:
        yield tuple(slice(0, s) for s in shape)
        return
    inner = prod(shape[k:])
    step = max(rows // max(inner, 1), 1)
    tail = tuple(slice(0, s) for s in shape[k:])
    for outer in product(*(range(s) for s in shape[: k - 1])):
        for start in range(0, shape[k - 1], step):
            yield (*(slice(i, i + 1) for i in outer), slice(start, min(start + step, shape[k - 1])), *tail)


def _text(column: np.ndarray) -> list[str]:
    if column.dtype.kind == "f":
        out = [repr(float(x)) for x in column.tolist()]
        return ["NaN" if s == "nan" else "Inf" if s == "inf" else "-Inf" if s == "-inf" else s for s in out]
    return [str(x) for x in column.tolist()]


def write_csv_rows(ds: xr.Dataset, stream: IO[str], rows_per_block: int = ROWS_PER_BLOCK) -> tuple[int, Table]:
    """Write the header and every row of the table of ``ds`` to ``stream``, slab by slab.
    Returns the number of rows and the table layout."""
    table = table_layout(ds)
    sweep = sweep_dims(ds)
    shape = tuple(ds.sizes[d] for d in sweep)
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(table.header)
    variables = sorted({v for _, v, _, _ in table.data})
    n_rows = 0
    for slab in slabs(shape, rows_per_block):
        region = dict(zip(sweep, slab, strict=True))
        block = ds[variables].isel(region).compute() if variables else xr.Dataset()
        grids = np.meshgrid(*[np.arange(s.start, s.stop) for s in slab], indexing="ij")
        flat = {dim: g.ravel() for dim, g in zip(sweep, grids, strict=True)}
        n = int(prod(s.stop - s.start for s in slab))
        columns: list[list[str]] = []
        for _, name, dim in table.coords:
            values = np.asarray(ds[name].values) if name in ds.coords else np.arange(ds.sizes[dim])
            columns.append(_text(values[flat[dim]]))
        for _, var, entity, k in table.data:
            da = block[var].transpose(*sweep, *([entity] if entity else []))
            values = np.asarray(da.values).reshape(n, -1)[:, k]
            columns.append(_text(values))
        writer.writerows(zip(*columns, strict=True))
        n_rows += n
    return n_rows, table


def write_csv(ds: xr.Dataset, path: str | PathLike[str] | None,
              rows_per_block: int = ROWS_PER_BLOCK) -> tuple[int, Table]:
    """Write the CSV table of ``ds`` to ``path`` (None or "-": standard output); returns (rows, layout).
    A file appears only complete (written beside it, then renamed)."""
    if path is None or str(path) == "-":
        return write_csv_rows(ds, sys.stdout, rows_per_block)
    with atomic_target(Path(path)) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        return write_csv_rows(ds, f, rows_per_block)
