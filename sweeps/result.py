"""Opening a stored result for reading: its metadata checked first (``synsweep.sweeps.damage``), then the
dataset opened lazily with xarray, in a stable variable order.

    ds = open_result("out.zarr")          # also synsweep.sweeps.open_result and synsweep.workflows.open_result
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING

from synsweep.engine import METRICS

from .damage import check_metadata
from .location import location
from .store import ZARR_FORMAT, StoreError, analysis_chunks

if TYPE_CHECKING:  # xarray loads in ~1 s: imported when a result is opened, never by the workers
    import xarray as xr


def open_result(path: str | os.PathLike, chunks: dict[str, int] | None = None) -> xr.Dataset:
    """Open a result store lazily (dask-backed), with dims, coords and attrs intact; no warnings.

    ``chunks``: dask chunks per dim; by default ``analysis_chunks`` along the sweep dims (whole numbers of
    zarr chunks, about a million points each) and the store's chunks elsewhere. Integer variables keep
    their dtype (the zarr fill value is not applied as a mask): ``status`` 0 and ``spike_count`` -1 mark
    points not computed.
    """
    import xarray as xr

    loc = location(path)
    if loc.is_local:
        check_metadata(loc.path)  # StoreDamaged / StoreError: damaged metadata, no status, another program's
    root = loc.read("zarr.json")
    if root is None:
        raise StoreError(f"{loc} is not a zarr store")
    consolidated = b'"consolidated_metadata"' in root and b'"consolidated_metadata": null' not in root
    with warnings.catch_warnings():
        # xarray's own advice about future default changes is noise for a store written by us
        warnings.simplefilter("ignore", FutureWarning)
        ds = xr.open_zarr(loc.zarr_store(read_only=True), consolidated=consolidated, zarr_format=ZARR_FORMAT,
                          decode_timedelta=False, decode_times=False,
                          chunks=analysis_chunks(loc) if chunks is None else chunks)
    order = {name: i for i, name in enumerate((*METRICS, "status", "diverged_step"))}
    names = sorted(ds.data_vars, key=lambda v: (order.get(v, len(order)), v))
    return ds[names]  # a stable variable order (the store lists them in file-system order)
