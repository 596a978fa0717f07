"""The NetCDF files follow CF: UDUNITS-valid units, standard names and axes, plain names, numbers as numbers.

Units are checked with cf-units (UDUNITS-2, bundled in its wheel), axes and
standard names with cf-xarray; the files are read back with netCDF4 itself,
so what is checked is what another program finds in them.
"""

from __future__ import annotations

import math
import re
import tomllib

import netCDF4
import numpy as np
import pytest
import xarray as xr

cf_units = pytest.importorskip("cf_units")
pytest.importorskip("cf_xarray")

import exodiff  # noqa: E402
from exodiff.report.outputs import netcdf_attr, write_netcdf  # noqa: E402

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")  # CF 2.3: letters, digits and underscores
RESERVED = {"_FillValue", "_Encoding", "_Unsigned"}  # NetCDF's own attributes

VESICLES = """
[meta]
name = "vesicles"
[skin]
preset = "forearm"
[formulation]
preset = "msc_exosome"
dose = "1e10 particles/cm^2"
vehicle_thickness = "20 um"
wash_off_time = "1 h"
[simulation]
duration = "2 h"
output_interval = "30 min"
"""

PROTEIN = """
[meta]
name = "protein"
[skin]
preset = "none"
[skin.layers.membrane]
thickness = "50 um"
diffusivity = "1e-8 cm^2/s"
partition = 1.0
[formulation]
dose = "5 ug protein/cm^2"
vehicle_thickness = "20 um"
[simulation]
duration = "2 h"
output_interval = "30 min"
"""


def check_cf(path) -> netCDF4.Dataset:
    """Every check a CF reader would make of names, units and attributes; returns the open file."""
    f = netCDF4.Dataset(path)
    for name in [*f.dimensions, *f.variables, *f.ncattrs()]:
        assert NAME.match(name), f"{name!r} is not a CF name"
    for name, var in f.variables.items():
        for att in var.ncattrs():
            assert NAME.match(att) or att in RESERVED, f"{name}: attribute {att!r}"
        if "units" in var.ncattrs():
            cf_units.Unit(var.units)  # raises for a unit UDUNITS-2 does not know
        if var.dtype != str and np.dtype(var.dtype).kind in "iuf":
            assert var.filters()["zlib"], f"{name} is not compressed"
    for att in f.ncattrs():
        value = f.getncattr(att)
        if isinstance(value, str):
            # no number, array or numpy scalar printed into a string
            assert not re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*|inf|nan|never", value), (att, value)
            assert not re.fullmatch(r"\[[-+\d.eE,\s]*\]", value), (att, value)  # "[0. 18.3 74.9]"
            assert not value.startswith(("array(", "np.", "(")), (att, value)
        if att.endswith("_units"):
            cf_units.Unit(value)
    return f


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    sc = exodiff.load_scenario(tomllib.loads(VESICLES))
    path = tmp_path_factory.mktemp("nc") / "result.nc"
    write_netcdf(exodiff.run(sc), path)
    return path


def test_run_file_is_cf(run_file):
    f = check_cf(run_file)
    # a number of particles per area: UDUNITS' "count", the dose's own unit kept in dose_unit
    assert f["amount"].units == "count cm-2" and f["concentration"].units == "count cm-3"
    assert f["flux_systemic"].units == "count cm-2 h-1" and f.applied_dose_units == "count cm-2"
    assert f.dose_unit == "particle"
    assert cf_units.Unit(f["amount"].units).convert(1.0, "cm-2") == 1.0  # count is dimensionless
    # numbers as numbers, arrays as arrays
    assert isinstance(f.applied_dose, (float, np.floating)) and f.applied_dose == pytest.approx(1e10)
    assert isinstance(f.layer_interfaces_um, np.ndarray) and f.layer_interfaces_um[0] == 0.0
    assert isinstance(f.wash_off_time_h, (float, np.floating)) and f.wash_off_time_h == 1.0
    assert np.issubdtype(np.asarray(f.grid_cells_per_layer).dtype, np.integer)
    f.close()


def test_run_file_axes_and_standard_names(run_file):
    ds = xr.open_dataset(run_file)
    assert ds.cf.axes == {"T": ["time"], "Z": ["depth"]}
    assert ds.cf.standard_names == {"depth": ["depth"]}
    assert ds["depth"].attrs["positive"] == "down"
    # time stays hours as floats: no reference date, so xarray does not turn it into dates
    assert ds["time"].dtype == np.float64 and ds["time"].attrs["units"] == "h"
    assert cf_units.Unit(ds["depth"].attrs["units"]).convert(1.0, "m") == pytest.approx(1e-6)


def test_tagged_amount_unit_drops_the_tag(tmp_path):
    ds = exodiff.run(exodiff.load_scenario(tomllib.loads(PROTEIN)))
    write_netcdf(ds, tmp_path / "p.nc")
    f = check_cf(tmp_path / "p.nc")
    assert f["amount"].units == "ug cm-2" and f.dose_unit == "ug protein"
    assert f["amount"][0, 0] == pytest.approx(5.0)  # ug per cm^2 in the vehicle at the start
    f.close()


def test_unit_cell_file_is_cf_and_flags_open_channels(tmp_path):
    from exodiff.problem.layered import Layer
    from exodiff.problem.unit_cell import ProblemRZ
    from exodiff.results.dataset_rz import to_dataset_rz
    from exodiff.solvers.unit_cell import integrate_rz

    skin = (Layer("stratum_corneum", 15e-6, 1e-14, 0.5), Layer("dermis", 200e-6, 1e-11, 1.0))
    kw = dict(channel_radius=20e-6, channel_depth=120e-6, density=2e6, open_diffusivity=6e-12,
              output_times=np.linspace(0, 3600.0, 3), resolution=(8, 20))
    for closure, closes in ((math.inf, 0), (7200.0, 1)):
        p = ProblemRZ.from_layers(skin, **kw, closure_time=closure, dose_unit="particle")
        path = tmp_path / f"rz{closes}.nc"
        write_netcdf(to_dataset_rz(p, integrate_rz(p)), path)
        f = check_cf(path)
        assert f.channel_closes == closes
        assert ("channel_closure_time_h" in f.ncattrs()) == bool(closes)
        if closes:
            assert f.channel_closure_time_h == pytest.approx(2.0)
        assert f["concentration_rz"].units == "count cm-3"
        assert f["region"].flag_values.dtype == f["region"].dtype  # CF: flags of the variable's type
        f.close()
        ds = xr.open_dataset(path)
        assert ds.cf.axes == {"T": ["time"], "X": ["radius"], "Z": ["depth"]}
        ds.close()


def test_sweep_file_is_cf(tmp_path):
    membrane = exodiff.load_scenario(tomllib.loads(PROTEIN))
    ds = exodiff.sweep(membrane, jobs=1, definition={"mode": "grid", "skin.layers.membrane.thickness":
                                                     ["40 um", "60 um"], "formulation.dose": ["1 ug/cm^2",
                                                                                             "2 ug/cm^2"]})
    write_netcdf(ds, tmp_path / "sweep.nc")
    f = check_cf(tmp_path / "sweep.nc")
    assert f["skin__layers__membrane__thickness"].key == "skin.layers.membrane.thickness"
    assert f["skin__layers__membrane__thickness"].long_name == "membrane: thickness"
    assert f["formulation__dose"].units == "ug/cm^2"
    f.close()


@pytest.mark.parametrize("value, stored", [(np.float64(2.5), 2.5), (np.int64(3), 3), (True, 1), (math.inf, None),
                                           (None, None), ([1, 2], [1, 2]), ({"a": 1}, '{"a": 1}'), ("x", "x")])
def test_attribute_values(value, stored):
    got = netcdf_attr(value)
    if isinstance(stored, list):
        assert isinstance(got, np.ndarray) and got.tolist() == stored
    else:
        assert got == stored
        if isinstance(value, np.generic) and not isinstance(value, np.bool_):
            assert type(got) in (int, float)  # a plain number, not a numpy scalar
