"""Channel delivery from scenario files: microneedle, laser, follicles.

The unit-cell solver itself is validated in tests/test_rz.py; here the
scenario layer's wiring: devices -> geometry -> unit cell, one-line errors for
bad geometry, the shipped channel scenarios, and the physics outcome the
issue asks for (channels deliver vesicles to the dermis where intact skin
does not), as the physics gives it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import exodiff
from exodiff.geometry import channels
from exodiff.results import metrics
from exodiff.errors import ScenarioError
from exodiff.problem.layered import Layer, problem_from_scenario
from exodiff.problem.unit_cell import unit_cell_problem

ROOT = Path(__file__).resolve().parents[1]
#: coarse unit cells keep these tests quick; the solver's accuracy is tested elsewhere
COARSE = {"simulation.resolution": {"nr": 24, "nz": 90}, "simulation.output_interval": "2 h"}


def _load(name, **over):
    sc = exodiff.load_scenario(ROOT / "scenarios" / name)
    return sc.replace({**COARSE, **over})


def test_roller_device_gives_its_documented_geometry():
    sc = exodiff.load_scenario(ROOT / "scenarios/microneedle_msc_exosome.toml")
    g = channels.channel_geometry(sc.resolved)
    assert g.kind == "microneedle"
    assert g.depth == pytest.approx(1.0e-3 * 0.2)  # needle length x penetration efficiency (Kalluri 2011)
    assert g.radius == pytest.approx(35e-6)
    assert g.density * 1e-4 == pytest.approx(192 * 8 / (np.pi * 4.0), rel=1e-9)
    occluded = channels.channel_geometry(sc.replace({"delivery.occlusion": True}).resolved)
    assert occluded.closure_time > g.closure_time


def test_laser_geometry_from_pulse_energy_and_coverage():
    sc = exodiff.load_scenario(ROOT / "scenarios/laser_plant_exosome.toml")
    g = channels.channel_geometry(sc.resolved)
    assert g.kind == "laser" and g.coagulation_width > 0
    assert g.coverage == pytest.approx(0.05, rel=1e-9)
    assert g.depth == pytest.approx(171e-6, rel=1e-9)  # the 20 mJ row of the CO2 table


def test_follicles_from_site_data_and_particle_size():
    sc = exodiff.load_scenario(ROOT / "scenarios/topical_follicles_liposome.toml")
    g = channels.channel_geometry(sc.resolved)
    assert g.kind == "follicle" and g.density * 1e-4 == pytest.approx(292)
    small = channels.channel_geometry(sc.replace({"formulation.diameter": "30 nm"}).resolved)
    assert small.entry_factor < g.entry_factor < 1.0


def test_topical_without_follicles_is_one_dimensional():
    sc = exodiff.load_scenario(ROOT / "scenarios/topical_msc_exosome.toml")
    assert channels.channel_geometry(sc.resolved) is None


@pytest.mark.parametrize("over, key", [
    ({"delivery.channel_depth": "3 mm"}, "delivery.channel_depth"),
    ({"delivery.density": "5e5 1/cm^2"}, "delivery.density"),
    ({"delivery.device": "fractional_co2"}, "delivery.device"),
    ({"delivery.device": "dermaroler_1_0mm"}, "delivery.device"),
])
def test_bad_microneedle_geometry_is_one_line(over, key):
    sc = exodiff.load_scenario(ROOT / "scenarios/microneedle_msc_exosome.toml")
    with pytest.raises(ScenarioError) as exc:
        sc.replace(over)
    lines = exc.value.lines()
    assert len(lines) == 1 and key in lines[0]


@pytest.mark.parametrize("over, key, word", [
    ({"delivery.pulse_energy": "500 mJ"}, "delivery.pulse_energy", "5-380 mJ"),
    ({"delivery.coverage": 1.5}, "delivery.coverage", "1"),
    ({"delivery.coverage": 0.999}, "delivery.coverage", "0.9"),  # took 107 s for 2 h
])
def test_bad_laser_settings_are_one_line(over, key, word):
    sc = exodiff.load_scenario(ROOT / "scenarios/laser_plant_exosome.toml")
    with pytest.raises(ScenarioError) as exc:
        sc.replace(over)
    lines = exc.value.lines()
    assert len(lines) == 1 and key in lines[0] and word in lines[0]


def test_cli_reports_a_channel_deeper_than_the_skin(tmp_path):
    bad = tmp_path / "deep.toml"
    text = (ROOT / "scenarios/microneedle_msc_exosome.toml").read_text()
    bad.write_text(text.replace('device = "dermaroller_1_0mm"', 'device = "dermaroller_1_0mm"\nchannel_depth = "5 mm"'))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "exodiff", "run", str(bad), "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "delivery.channel_depth" in err[0] and "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.fixture(scope="module")
def runs():
    return {
        "topical": exodiff.run(_load("topical_msc_exosome.toml", **{"simulation.output_interval": "2 h"})),
        "microneedle": exodiff.run(_load("microneedle_msc_exosome.toml")),
        "laser": exodiff.run(_load("laser_plant_exosome.toml")),
        "follicles": exodiff.run(_load("topical_follicles_liposome.toml")),
    }


@pytest.mark.parametrize("name", ["microneedle", "laser", "follicles"])
def test_channel_scenarios_run_with_mass_balance(runs, name):
    ds = runs[name]
    assert "concentration_rz" in ds and ds.attrs["geometry"].startswith("2D")
    assert np.max(np.abs(ds["mass_balance_error"].values)) < 1e-10
    np.testing.assert_allclose(ds["fraction"].sum("compartment").values, 1.0, atol=1e-10)


def test_channels_deliver_vesicles_where_intact_skin_does_not(runs):
    topical = metrics.summary(runs["topical"])["delivered_dermis"]
    needled = metrics.summary(runs["microneedle"])["delivered_dermis"]
    lasered = metrics.summary(runs["laser"])["delivered_dermis"]
    assert topical < 1e-6
    assert needled > 1e3 * max(topical, 1e-12) and needled > 1e-3
    assert lasered > 1e-3


def test_lateral_average_is_the_area_weighted_mean(runs):
    ds = runs["microneedle"]
    r_faces = np.concatenate([[0.0], 0.5 * (ds["radius"].values[1:] + ds["radius"].values[:-1])])
    assert ds["concentration"].dims == ("time", "depth")
    # the lateral average lies between the radial extremes at every depth
    c = ds["concentration_rz"].values
    avg = ds["concentration"].values
    assert np.all(avg <= c.max(axis=2) * (1 + 1e-12) + 1e-300)
    assert np.all(avg >= c.min(axis=2) * (1 - 1e-12) - 1e-300)
    assert r_faces.size == ds["radius"].size


def test_needle_length_sweep_scenario(tmp_path, monkeypatch):
    """The shipped needle-length sweep runs; longer needles put no less into the dermis.

    The parent compiles (or loads) the serial unit-cell loop before any
    point runs, so workers never compile it side by side.
    """
    import exodiff.solvers.unit_cell as solve_rz

    warmed = []
    real = solve_rz.warm_serial
    monkeypatch.setattr(solve_rz, "warm_serial", lambda: warmed.append(1) or real())
    ds = exodiff.sweep(ROOT / "scenarios/sweep_microneedle_length.toml", jobs=1, directory=tmp_path / "sw")
    assert warmed
    lengths = ds["delivery__needle_length"].values if "delivery__needle_length" in ds.coords else None
    assert lengths is not None and lengths.size == 6
    d = ds["delivered_dermis"].values
    assert np.all(np.isfinite(d))
    assert np.all(np.diff(d) >= -1e-9 * d.max())
    assert d[-1] > d[0] > 0.0


def test_compare_delivery_methods_scenario():
    """One formulation, three methods, one command: channels beat intact skin by orders of magnitude."""
    table = exodiff.compare(ROOT / "scenarios/compare_delivery_methods.toml", jobs=1, plots=False)
    d = table["delivered_dermis"]
    topical = float(d.sel(variant="topical"))
    for method in ("microneedle", "laser"):
        assert float(d.sel(variant=method)) > 1e3 * max(topical, 1e-12)
    err = table["max_mass_balance_error"].values
    assert np.all(err < 1e-10)


def test_application_delay_starts_the_closure_clock_early():
    """A formulation applied after the channels began closing gets less in.

    ``delivery.application_delay`` reaches the solver as the closure clock's
    offset; delivery falls with the delay, and a delay of many closure times
    leaves the same unit cell as a channel closed from the start (intact skin).
    """
    base = _load("microneedle_msc_exosome.toml", **{"simulation.duration": "12 h", "output.profile_times": ["1 h"]})
    tau = channels.channel_geometry(base.resolved).closure_time
    delays = [0.0, 0.5 * tau, 2.0 * tau, 25.0 * tau]
    delivered = []
    for d in delays:
        sc = base.replace({"delivery.application_delay": f"{d} s"})
        column = problem_from_scenario(sc.resolved)
        problem, geom = unit_cell_problem(sc.resolved, column.layers, column)
        assert problem.channel.closure_delay == pytest.approx(d) and geom.delay == pytest.approx(d)
        assert geom.open_fraction == pytest.approx(np.exp(-d / tau))
        delivered.append(metrics.summary(exodiff.run(sc))["delivered_dermis"])
    assert np.all(np.diff(delivered) < 0.0), delivered
    closed = base.replace({"delivery.closure_time": "0 s"})
    # exp(-25) of an open channel is left: 3e-6 of intact skin's delivery measured
    assert delivered[-1] == pytest.approx(metrics.summary(exodiff.run(closed))["delivered_dermis"], rel=1e-4)


def test_negative_application_delay_is_one_line():
    sc = exodiff.load_scenario(ROOT / "scenarios/microneedle_msc_exosome.toml")
    with pytest.raises(ScenarioError) as exc:
        sc.replace({"delivery.application_delay": "-5 min"})
    lines = exc.value.lines()
    assert len(lines) == 1 and "delivery.application_delay" in lines[0] and "-5 min" in lines[0]


# -- conical channels (a staircase on the grid) ---------------------------------------------

def test_cone_grid_is_a_conforming_staircase():
    """Row by row the channel holds the columns inside the cone; its volume is the cone's.

    Catches a staircase that is not monotone, a channel row that misses the
    cone by more than one taper cell, a wrong region map, and a cone that
    silently became a cylinder (or the reverse).
    """
    from exodiff.geometry.grid_rz import CHANNEL, unit_cell_grid

    thick, rc, rb, dc = [15e-6, 60e-6, 1000e-6], 35e-6, 10e-6, 300e-6
    exact = np.pi * dc * (rc * rc + rc * rb + rb * rb) / 3.0
    cyl = unit_cell_grid(thick, radius=400e-6, channel_radius=rc, channel_depth=dc)
    for res in ("auto", {"nr": 120, "nz": 160}, {"nr": 240, "nz": 320}):
        g = unit_cell_grid(thick, radius=400e-6, channel_radius=rc, channel_depth=dc, channel_bottom_radius=rb,
                           resolution=res)
        cols = g.channel_cols[:g.channel_rows]
        assert np.all(np.diff(cols) <= 0) and cols[0] > cols[-1]
        r_wall = g.r_faces[cols]
        r_cone = rc + (rb - rc) * g.z.centres[:g.channel_rows] / dc
        taper = (rc - rb) / g.r_segments[1][2]
        assert np.max(np.abs(r_wall - r_cone)) <= 0.5 * taper * (1 + 1e-9)
        assert np.array_equal(g.region == CHANNEL, np.arange(g.nr)[None, :] < g.channel_cols[:, None])
        vol = float((g.volumes * (g.region == CHANNEL)).sum())
        assert vol == pytest.approx(exact, rel=3e-3)
    same = unit_cell_grid(thick, radius=400e-6, channel_radius=rc, channel_depth=dc, channel_bottom_radius=rc)
    assert np.array_equal(same.r_faces, cyl.r_faces) and np.array_equal(same.channel_cols, cyl.channel_cols)
    with pytest.raises(ValueError, match="coagulation"):
        unit_cell_grid(thick, radius=400e-6, channel_radius=rc, channel_depth=dc, channel_bottom_radius=rb,
                       coag_width=20e-6)


def test_cone_delivers_between_its_tip_and_base_cylinders():
    """A needle track narrowing from 70 to 20 um delivers between cylinders of 20 and 70 um.

    And not what the cylinder of equal volume delivers (the mouth, where the
    formulation enters, is wider): solving the cone matters.  A tip as wide
    as the surface is exactly the cylinder.
    """
    base = _load("microneedle_msc_exosome.toml")

    def dermis(**over):
        ds = exodiff.run(base.replace(over))
        assert np.max(np.abs(ds["mass_balance_error"].values)) < 1e-12
        return metrics.summary(ds)["delivered_dermis"]

    cone = dermis(**{"delivery.tip_diameter": "20 um"})
    wide, narrow = dermis(), dermis(**{"delivery.channel_diameter": "20 um"})
    assert narrow < cone < wide
    geom = channels.channel_geometry(base.replace({"delivery.tip_diameter": "20 um"}).resolved)
    equal_volume = dermis(**{"delivery.channel_diameter": f"{2e6 * channels.equivalent_radius(geom)} um"})
    assert cone > 1.2 * equal_volume
    assert dermis(**{"delivery.tip_diameter": "70 um"}) == wide


@pytest.mark.parametrize("over, key", [
    ({"delivery.method": "topical"}, "delivery.device"),          # a device would silently mean intact skin
    ({"delivery.pulse_energy": "20 mJ"}, "delivery.pulse_energy"),
    ({"delivery.follicles": True}, "delivery.follicles"),
])
def test_delivery_key_of_another_method_is_an_error(over, key):
    sc = exodiff.load_scenario(ROOT / "scenarios/microneedle_msc_exosome.toml")
    with pytest.raises(ScenarioError) as exc:
        sc.replace(over)
    lines = [ln for ln in exc.value.lines() if key in ln]
    assert len(lines) == 1 and "only with method" in lines[0]


#: the headline example of the design contract (SCENARIO.md), verbatim but for the output table
DESIGN_EXAMPLE = '''
[meta]
name = "MSC exosomes after 1 mm microneedling"

[skin]
preset = "forearm"
[skin.layers.stratum_corneum]
thickness = "15 um"

[formulation]
preset = "msc_exosome"
dose = "1e10 particles/cm^2"
vehicle_thickness = "20 um"

[delivery]
method = "microneedle"
needle_length = "1.0 mm"
density = "250 1/cm^2"
closure_time = "2 h"

[simulation]
duration = "48 h"
output_interval = "1 h"
'''


def test_design_example_runs_with_literature_defaults(tmp_path):
    """A needle length alone is enough: efficiency and width come from generic_microneedle."""
    path = tmp_path / "design.toml"
    path.write_text(DESIGN_EXAMPLE)
    sc = exodiff.load_scenario(path)
    g = channels.channel_geometry(sc.resolved)
    generic = channels.device_values(channels.GENERIC_MICRONEEDLE)
    assert g.depth == pytest.approx(1.0e-3 * generic["penetration_efficiency"])
    assert g.radius == pytest.approx(generic["channel_diameter"] / 2)
    assert g.density == pytest.approx(250e4) and g.closure_time == pytest.approx(7200.0)
    ds = exodiff.run(sc.replace(COARSE))
    assert metrics.summary(ds)["delivered_dermis"] > 1e-3
    # without a closure time the channels stay open (SCENARIO.md: "omit for channels that stay open")
    text = DESIGN_EXAMPLE.replace('closure_time = "2 h"\n', "")
    path.write_text(text)
    assert channels.channel_geometry(exodiff.load_scenario(path).resolved).closure_time is None


# -- size distributions through channels --------------------------------------------------------

def _needled(**over):
    return _load("microneedle_msc_exosome.toml", **{"simulation.duration": "24 h", "output.profile_times": ["1 h"],
                                                    **over})


def test_size_classes_through_channels_are_separate_runs_summed():
    """Each class of a log-normal preparation equals a monodisperse unit cell of its size and share.

    Catches a class given the nominal coefficients or the nominal free
    diffusivity in the open channel, a wrong dose split, and totals that are
    not the sums.  Also: the dose balance of the total at round-off.
    """
    sc = _needled(**{"formulation.gsd": 1.6, "formulation.size_classes": 3, "output.per_class": True})
    ds = exodiff.run(sc)
    assert ds.attrs["size_classes"] == 3
    assert np.max(np.abs(ds["mass_balance_error"].values)) < 1e-12
    np.testing.assert_allclose(ds["class_amount"].sum("size_class"), ds["amount"], rtol=1e-13)
    np.testing.assert_allclose(ds["fraction"].sum("compartment"), 1.0, atol=1e-12)
    dose = float(ds.attrs["applied_dose"])
    for k in range(3):
        d_nm, w = float(ds["class_diameter"][k]), float(ds["class_weight"][k])
        one = exodiff.run(_needled(**{"formulation.diameter": f"{d_nm!r} nm", "formulation.dose": f"{1e10 * w!r} particles/cm^2"}))
        np.testing.assert_allclose(ds["class_amount"].isel(size_class=k), one["amount"], rtol=0,
                                   atol=1e-6 * w * dose)
        assert float(ds["class_open_diffusivity"][k]) == pytest.approx(one.attrs["channel_open_diffusivity_um2_per_s"],
                                                                      rel=1e-12)
    # small vesicles move faster in the open channel (Stokes-Einstein)
    assert np.all(np.diff(ds["class_open_diffusivity"].values) < 0)


def test_narrow_distribution_through_channels_approaches_monodisperse():
    mono = metrics.summary(exodiff.run(_needled()))["delivered_dermis"]
    narrow = metrics.summary(exodiff.run(_needled(**{"formulation.gsd": 1.02})))["delivered_dermis"]
    assert narrow == pytest.approx(mono, rel=2e-3)


def test_map_outline_follows_the_channel_cells(runs):
    """The r-z map's outline is the channel's cells: a rectangle for a cylinder, the rim around a laser crater."""
    from exodiff.report.plotting import region_outline

    ds = runs["microneedle"]
    x, y = region_outline(ds, (1,))
    assert np.max(np.abs(x)) == pytest.approx(ds.attrs["channel_radius_um"], rel=1e-9)
    assert np.max(y) == pytest.approx(ds.attrs["channel_depth_um"], rel=1e-9)
    assert set(np.round(np.abs(x[np.abs(x) > 0]), 9)) == {round(ds.attrs["channel_radius_um"], 9)}
    laser = runs["laser"]
    x, y = region_outline(laser, (1, 2))
    w = laser.attrs["coagulation_width_um"]
    assert np.max(np.abs(x)) == pytest.approx(laser.attrs["channel_radius_um"] + w, rel=1e-9)
    assert np.max(y) == pytest.approx(laser.attrs["channel_depth_um"] + w, rel=1e-9)


def test_compile_notice_names_the_solver_a_scenario_needs(monkeypatch):
    """The first-run notice is about the kernel the run will compile, and silent once it is cached."""
    import exodiff.run as orchestrator
    import exodiff.solvers.layered as solve
    import exodiff.solvers.unit_cell as solve_rz
    from exodiff.problem.unit_cell import ProblemRZ

    needled = _load("microneedle_msc_exosome.toml")
    topical = _load("topical_msc_exosome.toml")
    # the serial unit-cell loop has run in this process (fixtures above): it is in Numba's cache
    p = ProblemRZ.from_layers([Layer("a", 50e-6, 1e-12, 1.0)], channel_radius=10e-6, channel_depth=20e-6,
                              density=1e8, open_diffusivity=1e-11, output_times=[3600.0], resolution=(6, 8))
    solve_rz.integrate_rz(p, parallel=False)
    assert solve_rz.kernel_cached(False)
    monkeypatch.setattr(solve_rz, "use_parallel", lambda problem, parallel="auto": False)
    assert orchestrator.compile_notice(needled) is None
    monkeypatch.setattr(solve_rz, "kernel_cached", lambda parallel: False)
    line = orchestrator.compile_notice(needled)
    assert "unit-cell solver" in line and f"{solve_rz.COMPILE_SECONDS[False]} s" in line
    monkeypatch.setattr(solve, "kernels_cached", lambda: False)
    line = orchestrator.compile_notice(topical)
    assert line.startswith("compiling the solver") and "unit-cell" not in line


def test_validation_asks_for_what_the_open_channel_needs(tmp_path, capsys):
    """A channel scenario whose active has no size (nor a free diffusivity) is refused by validate, one line,
    instead of passing validation and stopping the run with a traceback."""
    from exodiff import cli

    text = """
[skin]
preset = "none"
[skin.layers.membrane]
thickness = "100 um"
diffusivity = "1e-8 cm^2/s"
partition = 0.5
[formulation]
preset = "custom"
concentration = "1 mg/cm^3"
vehicle_thickness = "100 um"
[delivery]
method = "microneedle"
channel_depth = "60 um"
channel_diameter = "40 um"
density = "100 cm^-2"
[simulation]
duration = "2 h"
"""
    f = tmp_path / "ch.toml"
    f.write_text(text)
    assert cli.main(["validate", str(f)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "formulation.diameter" in err[0] and "free_diffusivity" in err[0]
    f.write_text(text.replace('vehicle_thickness = "100 um"', 'vehicle_thickness = "100 um"\nfree_diffusivity = "5e-6 cm^2/s"'))
    assert cli.main(["validate", str(f)]) == 0


def test_an_impermeable_coagulated_rim_is_taken_as_given():
    """coagulation_diffusivity_factor = 0 (allowed: an impermeable rim) was solved with factor 1 ("x or 1.0")."""
    from exodiff.geometry.channels import channel_geometry

    sc = exodiff.load_scenario(ROOT / "scenarios/laser_plant_exosome.toml",
                               {"delivery.coagulation_diffusivity_factor": 0.0})
    assert channel_geometry(sc.resolved).coagulation_diffusivity_factor == 0.0
    default = exodiff.load_scenario(ROOT / "scenarios/laser_plant_exosome.toml")
    assert channel_geometry(default.resolved).coagulation_diffusivity_factor > 0.0
    with pytest.raises(ScenarioError):  # a rim holding nothing has no capacity (divided by zero)
        sc.replace({"delivery.coagulation_partition_factor": 0.0})
