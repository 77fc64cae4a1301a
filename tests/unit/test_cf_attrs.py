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


# -- the CF checker (cfchecker, in the test extra; it needs the udunits2 C library) --------------------------
UDUNITS_PACKAGE = "libudunits2-0"  # Debian/Ubuntu
#: what cfchecker 4.1 (the newest, which knows CF up to 1.8) reports on every export, and why it is kept:
EXPECTED = {
    # the file declares CF-1.10, which the checker does not know (it checks against CF-1.8 when told to)
    ("global", "ERROR", "(2.6.1): This netCDF file does not appear to contain CF Convention data."),
    # the neuron and pair names are their dimension's own (char array) variable, so that xarray reads them
    # back as the index (ds.sel(neuron="n1")); CF would have them as a label variable of another name
    ("neuron", "WARN", "(5): Possible incorrect declaration of a coordinate variable."),
    ("pair", "WARN", "(5): Possible incorrect declaration of a coordinate variable."),
}
CHECK = """
import json, sys
from cfchecker.cfchecks import CFChecker, CFVersion
tables = dict(cfStandardNamesXML=sys.argv[2], cfAreaTypesXML=sys.argv[3], cfRegionNamesXML=sys.argv[4])
results = CFChecker(version=CFVersion((1, 8)), silent=True, **tables).checker(sys.argv[1])
found = [("global", kind, m) for kind in ("FATAL", "ERROR", "WARN") for m in results["global"][kind]]
found += [(var, kind, m) for var, r in results["variables"].items() for kind in ("FATAL", "ERROR", "WARN")
          for m in r[kind]]
print(json.dumps(found))
"""


def _udunits() -> None:
    """The udunits2 C library cfchecker's units need: installed with apt-get as root when missing."""
    import ctypes.util
    import os
    import shutil
    import subprocess

    if ctypes.util.find_library("udunits2"):
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"the CF checker needs the udunits2 C library: apt-get install {UDUNITS_PACKAGE} (as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", UDUNITS_PACKAGE]
    if subprocess.run(cmd, capture_output=True, env=env, timeout=600).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=600)
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]


def _tables(folder: Path) -> list[str]:
    """Empty standard-name, area-type and region tables (the checker downloads the real ones otherwise):
    synsweep declares none of these, so any standard_name, area_type or region it wrote would be an error."""
    folder.mkdir(exist_ok=True)
    head = "<version_number>0</version_number><last_modified>2026-01-01</last_modified><date>2026-01-01</date>"
    names = {"names.xml": "standard_name_table", "areas.xml": "area_type_table",
             "regions.xml": "standardized_region_list"}
    for file, root in names.items():
        (folder / file).write_text(f'<?xml version="1.0"?><{root}>{head}</{root}>')
    return [str(folder / file) for file in names]


def cf_check(path: Path, tables: list[str]) -> set[tuple[str, str, str]]:
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", CHECK, str(path), *tables], capture_output=True, text=True,
                          timeout=300)  # its own process: netCDF4's HDF5 apart from h5py's
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {tuple(item) for item in json.loads(proc.stdout)}


@pytest.mark.parametrize("record", [{"variables": ["v"], "every": 10, "points": "all"},
                                    {"variables": ["v"], "every": 10, "points": [{"g": 0.001, "I_ext": 0.05}]}],
                         ids=["traces", "traced-points"])
@pytest.mark.slow  # installs libudunits2-0 by apt where missing; the fast tier checks the export's CF attributes above
def test_the_cf_checker_finds_nothing_but_the_known(tmp_path: Path, record) -> None:
    pytest.importorskip("cfchecker", reason="the CF checker is in the test extra (pip install -e '.[test]')")
    _udunits()
    doc = hh_pair_doc("cf", [0.0, 0.001], duration=5, chunk_points=10, record=record)
    doc["sweep"][0].update(long_name="gap junction conductance")
    spec = load_spec(doc)
    create_store(spec, plan_chunks(spec), tmp_path / "cf.zarr")
    ds = open_result(tmp_path / "cf.zarr").load()
    tables = _tables(tmp_path / "tables")
    assert cf_check(to_netcdf(ds, tmp_path / "cf.nc"), tables) == EXPECTED
    # the checker is not blind: a unit udunits does not know, and a standard_name CF does not define
    ds["g"].attrs["units"] = "zorkmids"
    ds["pearson"].attrs["standard_name"] = "synchrony"
    found = cf_check(to_netcdf(ds, tmp_path / "bad.nc"), tables) - EXPECTED
    assert {(var, kind) for var, kind, _ in found} >= {("g", "ERROR"), ("pearson", "ERROR")}, found
