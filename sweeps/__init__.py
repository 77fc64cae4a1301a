"""The sweep service: specs, chunks, the zarr store and the dask runner.

    from synsweep.sweeps import load_spec, run_sweep, open_result
    ds = run_sweep(load_spec("sweep.yaml"), "out.zarr")
"""

from importlib import import_module
from typing import Any

# names -> the module that defines them, imported on first use: a dask worker that runs a task needs the
# spec and the store's writer, not xarray's open_result (xarray, pandas and dask.array take ~1 s to import)
_EXPORTS = {
    "ChunkPlan": "chunks", "plan_chunks": "chunks", "SpecError": "errors", "Axis": "model", "Dim": "model",
    "RecordSpec": "model", "SweepSpec": "model", "RunReport": "runner", "SweepIncomplete": "runner",
    "execute": "runner", "run_sweep": "runner", "load_spec": "spec", "StoreError": "errors",
    "open_result": "result",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
