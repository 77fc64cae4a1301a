"""The sweep service: specs, chunks, the zarr store and the dask runner."""
