"""What other tools read from a result: CF global attributes, provenance of the machine, flag_values of status's
own type, spike_count's -1 declared missing in netCDF, and the optional long_name / units of a sweep axis. The
store's template is exported as it is (no simulation: the attributes are the subject)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from synsweep.sweeps import SpecError, load_spec, open_result, plan_chunks
from synsweep.sweeps.store import build_template, create_store
from synsweep.workflows.export import to_netcdf
from tests.specs import hh_pair_doc


def spec_with_labels(**labels):
    doc = hh_pair_doc("cf", [0.0, 0.001], duration=5, chunk_points=10)
    doc["sweep"][0].update(labels)
    return load_spec(doc)


def test_cf_global_attributes_and_machine_provenance() -> None:
    spec = spec_with_labels()
    ds, _ = build_template(spec, plan_chunks(spec))
    attrs = ds.attrs
    assert attrs["Conventions"] == "CF-1.10"
    assert "synsweep result layout" in attrs["synsweep_layout"]
    assert attrs["date_created"] == attrs["created"] and attrs["history"].startswith(attrs["created"])
    assert attrs["source"].startswith("synsweep ")
    for key in ("python", "platform", "cpu_model", "version_llvmlite"):
        assert attrs[key] and attrs[key] != "unknown", key


def test_netcdf_flag_values_and_fill_value(tmp_path: Path) -> None:
    spec = spec_with_labels()
    create_store(spec, plan_chunks(spec), tmp_path / "cf.zarr")
    ds = open_result(tmp_path / "cf.zarr").load()  # as an export reads it
    ds["spike_count"] = ds["spike_count"].copy(data=np.full(ds["spike_count"].shape, -1, dtype=np.int32))
    ds["spike_count"][0, 0, 0] = 7
    path = to_netcdf(ds, tmp_path / "cf.nc")
    with h5py.File(path) as f:
        flags = f["status"].attrs["flag_values"]
        assert flags.dtype == np.int8 == f["status"].dtype and list(flags) == [0, 1, 2, 3]
        # a one-element array or a scalar, as the h5netcdf version writes it (1.3: scalar); both are one value
        fill = np.ravel(f["spike_count"].attrs["_FillValue"])
        assert list(fill) == [-1] and fill.dtype == f["spike_count"].dtype
        assert f["spike_count"].attrs["missing_value"] == -1
    back = xr.open_dataset(path, engine="h5netcdf")
    sc = back["spike_count"].values
    assert np.isnan(sc[0, 1, 0]) and sc[0, 0, 0] == 7  # CF decoding: -1 is missing


def test_axis_long_name_and_units_keys() -> None:
    spec = spec_with_labels(long_name="gap junction conductance", units="mS/cm2")
    ds, _ = build_template(spec, plan_chunks(spec))
    assert ds["g"].attrs["long_name"] == "gap junction conductance" and ds["g"].attrs["units"] == "mS/cm2"
    with pytest.raises(SpecError, match=r"sweep\[0\]\.long_name"):
        spec_with_labels(long_name=3)
