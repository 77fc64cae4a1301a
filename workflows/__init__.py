"""Ready-made studies, analysis and plotting of stored results, and the ``synsweep`` command line.

    from synsweep.workflows import open_result      # the same function as synsweep.sweeps.open_result
    ds = open_result("out/coupling_scan.zarr")       # the lazy xarray.Dataset, dims, coords and attrs intact
"""

from typing import Any

__all__ = ["open_result"]


def __getattr__(name: str) -> Any:
    """``open_result`` on first use: importing this package (as the command line does) stays light."""
    if name == "open_result":
        from synsweep.sweeps import open_result

        return open_result
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
