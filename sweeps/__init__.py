"""The sweep service: specs, chunks, the zarr store and the dask runner.

    from synsweep.sweeps import load_spec, run_sweep, open_result
    ds = run_sweep(load_spec("sweep.yaml"), "out.zarr")
"""

from .chunks import ChunkPlan, plan_chunks
from .errors import SpecError
from .model import Axis, Dim, RecordSpec, SweepSpec
from .runner import RunReport, SweepIncomplete, execute, run_sweep
from .spec import load_spec
from .store import StoreError, open_result

__all__ = [
    "load_spec", "SpecError", "run_sweep", "execute", "open_result", "plan_chunks", "ChunkPlan",
    "StoreError", "SweepIncomplete", "RunReport", "SweepSpec", "Dim", "Axis", "RecordSpec",
]
