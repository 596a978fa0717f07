"""Delivery geometry: device presets and follicle data -> channels, against their source tables."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exodiff import data
from exodiff.errors import ParameterProblem
from exodiff.physics import delivery as dl
from exodiff.units import to_si

DEVICES = data.names("device")


def _si(entry_value, unit):
    return to_si(entry_value, unit) if isinstance(entry_value, str) else float(entry_value)


@settings(deadline=None, max_examples=50)
@given(st.floats(1e2, 1e9))
def test_unit_cell_area_is_one_channel(density):
    R = dl.unit_cell_radius(density)
    assert math.pi * R**2 * density == pytest.approx(1.0, rel=1e-12)


def test_roller_density_by_hand():
    # 192 needles x 8 passes over pi x 2 cm x 2 cm = 122.2 channels per cm^2
    n = dl.roller_density(192, 0.02, 0.02, 8)
    assert n * 1e-4 == pytest.approx(192 * 8 / (math.pi * 4.0), rel=1e-12)


def test_microneedle_depth_is_length_times_efficiency():
    g = dl.microneedle_channel(1.0e-3, 0.2, 70e-6, 1.2e6, closure_time=1800.0, delay=1800.0)
    assert g.depth == pytest.approx(0.2e-3)
    assert g.radius == pytest.approx(35e-6) and g.bottom_radius == g.radius
    assert g.open_fraction == pytest.approx(math.exp(-1.0))


@pytest.mark.parametrize("name", [n for n in DEVICES if data.values("device", n)["kind"] == "laser"])
def test_laser_tables_reproduce_their_points_and_refuse_outside(name):
    v = data.values("device", name)
    e = [to_si(x, "J") for x in v["pulse_energy_table"]]
    d = [to_si(x, "m") for x in v["depth_table"]]
    w = [to_si(x, "m") for x in v["diameter_table"]]
    assert all(b > a for a, b in zip(e, e[1:])), "energies must increase"
    assert all(b >= a for a, b in zip(d, d[1:])), "depth must not fall with energy"
    for ei, di, wi in zip(e, d, w):
        assert dl.interpolate_device(ei, e, d, "delivery.pulse_energy", name) == pytest.approx(di, rel=1e-12)
        assert dl.interpolate_device(ei, e, w, "delivery.pulse_energy", name) == pytest.approx(wi, rel=1e-12)
    mid = 0.5 * (e[0] + e[1])
    assert dl.interpolate_device(mid, e, d, "k", name) == pytest.approx(0.5 * (d[0] + d[1]))
    for bad in (0.5 * e[0], 2.0 * e[-1]):
        with pytest.raises(ParameterProblem) as exc:
            dl.interpolate_device(bad, e, d, "delivery.pulse_energy", name)
        assert exc.value.key == "delivery.pulse_energy" and "mJ" in exc.value.expected


def test_measured_co2_points_are_haedersdal_2010():
    v = data.values("device", "fractional_co2")
    e = [to_si(x, "J") for x in v["pulse_energy_table"]]
    d = [to_si(x, "m") for x in v["depth_table"]]
    for energy_mj, depth_um in ((37, 300), (190, 1400), (380, 2100)):
        got = dl.interpolate_device(energy_mj * 1e-3, e, d, "k", "co2")
        assert got == pytest.approx(depth_um * 1e-6, rel=1e-9)


def test_coverage_and_density_agree():
    g = dl.laser_channel(300e-6, 150e-6, coverage=0.05, coagulation_width=40e-6)
    assert g.coverage == pytest.approx(0.05, rel=1e-12)


def test_bad_geometry_is_reported():
    deep = dl.microneedle_channel(3e-3, 1.0, 70e-6, 1e6)
    keys = {p.key for p in dl.check_geometry(deep, skin_thickness=1.2e-3)}
    assert "delivery.channel_depth" in keys
    crowded = dl.laser_channel(300e-6, 150e-6, density=2e8)
    keys = {p.key for p in dl.check_geometry(crowded, skin_thickness=1.2e-3)}
    assert keys == {"delivery.density"}
    assert dl.check_geometry(dl.microneedle_channel(1e-3, 0.3, 70e-6, 1e6), 1.2e-3) == []


def test_follicle_entry_window():
    assert dl.follicle_entry_factor(640e-9, 640e-9, 5.0) == pytest.approx(1.0)
    assert dl.follicle_entry_factor(None, 640e-9, 5.0) == 1.0
    sizes = [20e-9, 50e-9, 100e-9, 300e-9, 640e-9]
    f = [dl.follicle_entry_factor(s, 640e-9, 5.0) for s in sizes]
    assert all(b > a for a, b in zip(f, f[1:]))


@pytest.mark.parametrize("kind", ["device", "follicle"])
def test_every_entry_has_value_range_and_source(kind):
    for name in data.names(kind):
        for key, entry in data.entries(kind, name):
            assert entry.get("source"), f"{kind} {name}.{key} has no source"
            assert "range" in entry and "estimate" in entry, f"{kind} {name}.{key}"


def test_follicle_orifice_diameters_follow_otberg_area_fractions():
    # Otberg et al. 2004: orifice area 0.09 % (forearm, 18/cm^2) and 1.28 % (forehead, 292/cm^2)
    for site, frac in (("forearm", 0.0009), ("face", 0.0128)):
        v = data.values("follicle", site)
        n = to_si(v["density"], "1/m^2")
        d = to_si(v["orifice_diameter"], "m")
        assert n * math.pi * d**2 / 4 == pytest.approx(frac, rel=0.05)
