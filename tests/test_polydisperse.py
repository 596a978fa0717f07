"""Polydisperse preparations: size classes solved together, totals and per-class results.

Zero width equals the monodisperse run; per-class results sum to the totals;
the batched solve equals separate runs of each class; measured distributions
are read robustly, and unreadable files give one line naming file and line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import exodiff
from exodiff import cli
from exodiff.errors import ScenarioError
from exodiff.scenario.size_distribution import CSVProblem, read_size_distribution

ROOT = Path(__file__).resolve().parents[1]
# a short run on the forearm with a pore radius that lets the classes differ in the stratum corneum
BASE = {
    "skin": {"preset": "forearm", "layers": {"stratum_corneum": {"pore_radius": "30 nm"}}},
    "formulation": {"preset": "msc_exosome", "wash_off_time": "6 h"},
    "simulation": {"duration": "12 h", "output_interval": "1 h"},
}


def run(overrides=None, base=BASE):
    return exodiff.run(exodiff.load_scenario(base, overrides or {}))


@pytest.fixture(scope="module")
def mono():
    return run()


@pytest.fixture(scope="module")
def poly():
    return run({"formulation.gsd": 1.5, "output.per_class": True})


# -- zero width ------------------------------------------------------------------------
@pytest.mark.parametrize("width", [{"formulation.gsd": 1.0}, {"formulation.pdi": 0.0}])
def test_zero_width_equals_monodisperse_exactly(mono, width):
    ds = run(width)
    for name in ("amount", "concentration", "loss_by_layer", "mass_balance_error"):
        np.testing.assert_array_equal(ds[name].values, mono[name].values)
    assert "size_class" not in ds.dims


def test_measured_single_diameter_equals_monodisperse(tmp_path, mono):
    csv = tmp_path / "one.csv"
    csv.write_text("Bin centre (nm),Concentration (particles / ml)\n70,1.5e8\n")
    ds = run({"formulation.size_distribution": str(csv), "formulation.diameter": None})
    np.testing.assert_allclose(ds["amount"].values, mono["amount"].values, rtol=1e-12, atol=1e-300)


def test_vanishing_width_converges_to_monodisperse(mono):
    ds = run({"formulation.gsd": 1.0 + 1e-7})
    assert ds.attrs["size_classes"] == 7
    tissue = ["stratum_corneum", "viable_epidermis", "dermis"]
    a = ds["amount"].sel(compartment=tissue).values
    b = mono["amount"].sel(compartment=tissue).values
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6 * np.abs(b).max())


# -- totals and classes ------------------------------------------------------------------
def test_per_class_results_sum_to_the_totals(poly):
    assert poly.sizes["size_class"] == 7
    assert poly["class_weight"].sum() == pytest.approx(1.0, abs=1e-14)
    for cls, tot in (("class_amount", "amount"), ("class_loss_by_layer", "loss_by_layer"),
                     ("class_concentration", "concentration")):
        np.testing.assert_allclose(poly[cls].sum("size_class").values, poly[tot].values, rtol=1e-12,
                                   atol=1e-12 * float(np.abs(poly[tot]).max()))
    # every class accounts for its own dose, and so do the totals
    np.testing.assert_allclose(poly["class_fraction"].sum("compartment").values, 1.0, atol=1e-12)
    np.testing.assert_allclose(poly["fraction"].sum("compartment").values, 1.0, atol=1e-12)
    assert float(abs(poly["mass_balance_error"]).max()) < 1e-12


def test_small_classes_cross_the_stratum_corneum_more(poly):
    entered = poly["class_fraction"].sel(compartment=["viable_epidermis", "dermis"]).sum("compartment")
    entered = entered + poly["class_loss_by_layer"].sel(layer=["viable_epidermis", "dermis"]).sum(
        ("process", "layer")) / poly["class_applied_dose"]
    end = entered.isel(time=-1).values
    assert np.all(np.diff(end) <= 0), end  # classes are ordered small to large


def test_batched_classes_equal_separate_runs():
    """The classes are independent: the batched solve equals each class run alone (dose x weight)."""
    over = {"formulation.gsd": 1.5, "formulation.size_classes": 3, "output.per_class": True,
            "simulation.tolerance": 1e-8}
    ds = run(over)
    for i in range(3):
        d = float(ds["class_diameter"][i]) * 1e-9
        w = float(ds["class_weight"][i])
        alone = run({"formulation.diameter": f"{d!r} m", "formulation.dose": f"{1e10 * w!r} particles/cm^2",
                     "simulation.tolerance": 1e-8})
        a = ds["class_amount"].isel(size_class=i).values
        b = alone["amount"].values
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7 * float(np.abs(b).max()))


def test_size_independent_coefficients_give_the_monodisperse_result(mono):
    """With every coefficient given directly the classes are identical: the weights must add up to 1."""
    direct = {f"skin.layers.{ly}.{k}": v for ly in ("stratum_corneum", "viable_epidermis", "dermis")
              for k, v in (("diffusivity", "1e-9 cm^2/s"), ("partition", 0.5), ("degradation_rate", "0.01 1/h"),
                           ("uptake_rate", "0.01 1/h"), ("clearance_rate", "0.01 1/h"))}
    a = run(direct)
    b = run({**direct, "formulation.gsd": 1.8})
    np.testing.assert_allclose(b["amount"].values, a["amount"].values, rtol=1e-12,
                               atol=1e-13 * float(np.abs(a["amount"]).max()))


def test_classes_of_a_log_normal_and_a_measured_histogram_agree():
    """A histogram sampled from a log-normal gives nearly the classes of the log-normal."""
    from exodiff.physics import distribution as dist

    d = np.geomspace(5, 2000, 3000) * 1e-9  # bins of equal width in ln d
    s = np.log(1.5)
    c = np.exp(-0.5 * (np.log(d / 70e-9) / s) ** 2)
    dm, wm = dist.measured_classes(d, c, 7)
    dl, wl = dist.lognormal_classes(70e-9, 1.5, 7)
    np.testing.assert_allclose(dm, dl, rtol=1e-3)
    np.testing.assert_allclose(wm, wl, rtol=2e-3)


# -- the shipped scenario ----------------------------------------------------------------
def test_nta_scenario_reads_its_csv_and_reports_classes():
    sc = exodiff.load_scenario(ROOT / "scenarios" / "topical_nta_distribution.toml")
    f = sc.resolved["formulation"]
    assert f["size_distribution_data"]["unit"] == "nm"
    assert 60e-9 < f["diameter"] < 100e-9  # the number median of the histogram
    ds = exodiff.run(sc)
    assert ds.sizes["size_class"] == 7
    diam = ds["class_diameter"].values
    assert np.all(np.diff(diam) > 0) and diam[0] >= 35 and diam[-1] <= 800
    assert float(abs(ds["mass_balance_error"]).max()) < 1e-12


# -- reading CSV files ---------------------------------------------------------------------
@pytest.mark.parametrize("text,unit,first", [
    ("Bin centre (nm),Concentration (particles / ml)\n50,1.5e8\n100,3e8\n", "nm", 50e-9),
    ("# comment\nSample;EV\nSize [um];Conc\n0,05;1,5E8\n0,1;3E8\n", "um", 50e-9),
    ("diameter / nm\tcount\tse\n50\t10\t1\n\n100\t30\t2\n", "nm", 50e-9),
    ("50,10\n100,30\n", "nm", 50e-9),
    ("\ufeffSize (nm),Concentration\r\n50,10\r\n100,30\r\n", "nm", 50e-9),
    ("Size (µm),Concentration\n0.05,10\n0.1,30\n", "µm", 50e-9),
])
def test_csv_variants(tmp_path, text, unit, first):
    p = tmp_path / "d.csv"
    p.write_text(text, encoding="utf-8")
    d = read_size_distribution(p)
    assert d.unit == unit
    assert d.diameters[0] == pytest.approx(first)
    assert d.counts.tolist() == pytest.approx([1.5e8, 3e8] if "E8" in text or "e8" in text else [10, 30])


def test_csv_with_latin1_micro_sign(tmp_path):
    p = tmp_path / "d.csv"
    p.write_bytes("Size (µm);Concentration\n0,05;10\n0,1;30\n".encode("latin-1"))
    d = read_size_distribution(p)
    assert d.diameters.tolist() == pytest.approx([50e-9, 100e-9])


@pytest.mark.parametrize("text,line,what", [
    ("Size (nm),Conc\n50,10\n100,abc\n", 3, "two numbers"),
    ("Size (nm),Conc\n50,10\nTotal,40\n", 3, "two numbers"),
    # a bad first data row was dropped as a second header line
    ("Size (nm),Concentration\n70,abc\n90,2\n", 2, "two numbers"),
    ("70\n90,2\n", 1, "two numbers"),
    ("Size (nm),Conc\n0,10\n100,30\n", 2, "diameter > 0"),
    ("Size (nm),Conc\n50,-1\n100,30\n", 2, "concentration >= 0"),
    ("Size (nm),Conc\n50,nan\n", 2, "concentration >= 0"),
    ("Size (nm),Conc\n50,0\n100,0\n", None, "concentration > 0"),
    ("Size (nm),Conc\n", None, "two numbers"),
    ("", None, "two numbers"),
])
def test_csv_errors_name_the_line(tmp_path, text, line, what):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(CSVProblem) as exc:
        read_size_distribution(p)
    assert exc.value.line == line
    assert what in exc.value.expected


def _scenario_with_csv(tmp_path, csv_text):
    (tmp_path / "sizes.csv").write_text(csv_text)
    sc = tmp_path / "s.toml"
    sc.write_text('[formulation]\npreset = "msc_exosome"\nsize_distribution = "sizes.csv"\n'
                  '[simulation]\nduration = "1 h"\n')
    return sc


@pytest.mark.parametrize("command", ["validate", "run"])
def test_unreadable_csv_gives_one_line_and_exit_2(tmp_path, capsys, command):
    sc = _scenario_with_csv(tmp_path, "Size (nm),Conc\n50,10\n60;x;\n")
    args = [command, str(sc)] + (["-o", str(tmp_path / "out"), "--quiet"] if command == "run" else [])
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "sizes.csv" in err[0] and "line 3" in err[0] and "formulation.size_distribution" in err[0]
    assert not (tmp_path / "out").exists()


def test_missing_csv_names_the_key(tmp_path, capsys):
    sc = tmp_path / "s.toml"
    sc.write_text('[formulation]\npreset = "msc_exosome"\nsize_distribution = "nope.csv"\n'
                  '[simulation]\nduration = "1 h"\n')
    assert cli.main(["validate", str(sc)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "formulation.size_distribution" in err[0] and "nope.csv" in err[0]


def test_csv_is_relative_to_the_scenario_file(tmp_path):
    sc = _scenario_with_csv(tmp_path, "Size (nm),Conc\n50,10\n100,30\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run([sys.executable, "-m", "exodiff", "validate", str(sc)], cwd=elsewhere,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("over,key", [
    ({"formulation.gsd": 1.4, "formulation.pdi": 0.1}, "formulation.gsd"),
    ({"formulation.preset": "caffeine", "formulation.gsd": 1.4}, "formulation.gsd"),
    ({"formulation.preset": "custom", "formulation.kind": "vesicle", "formulation.gsd": 1.4,
      "formulation.dose": "1e10 particles/cm^2"}, "formulation.gsd"),
    ({"formulation.size_distribution": "x.csv", "formulation.gsd": 1.4}, "formulation.gsd"),
    ({"formulation.size_distribution": "x.csv", "formulation.diameter": "70 nm"}, "formulation.diameter"),
])
def test_inconsistent_distribution_keys(over, key):
    with pytest.raises(ScenarioError) as exc:
        exodiff.load_scenario(BASE, over)
    assert [i.key for i in exc.value.issues] == [key]


# -- the batched kernel ----------------------------------------------------------------------
def _small_problem(**over):
    from exodiff.problem.layered import problem_from_scenario

    base = {"skin": {"preset": "forearm", "layers": {"stratum_corneum": {"pore_radius": "30 nm"},
                                                     "dermis": {"thickness": "200 um"}}},
            "formulation": {"preset": "msc_exosome", "wash_off_time": "3 h", "gsd": 1.5, "size_classes": 3,
                            "cargo": {"release_rate": "0.2 1/h", "molecular_weight": "7000 g/mol", "log_kow": -5,
                                      "half_life": "1 h", "release_on_degradation": 0.5}},
            "simulation": {"duration": "6 h", "output_interval": "1 h", "resolution": {"cells": 12}}}
    return problem_from_scenario(exodiff.load_scenario(base, over).resolved)


@pytest.mark.parametrize("over", [{}, {"formulation.vehicle": "infinite", "formulation.wash_off_time": None,
                                       "formulation.concentration": "5e14 particles/cm^3", "formulation.dose": None},
                                  {"formulation.evaporation_fraction": 0.5}])
@pytest.mark.parametrize("integrator", ["esdirk4", "sdirk4", "tr-bdf2"])
def test_batched_kernel_equals_the_numpy_reference(over, integrator):
    """Size classes and a cargo: the compiled batched kernel and its numpy twin, step for step, each integrator."""
    from dataclasses import replace

    from exodiff.kernels import column1d as K
    from twins import reference_1d as R

    pb = replace(_small_problem(**over), integrator=integrator)
    assert len(pb.all_columns) == 4
    uk, ck, sk = R.run_columns(pb, kernel=K.integrate_columns)
    ur, cr, sr = R.run_columns(pb)
    assert list(sk) == list(sr)
    np.testing.assert_allclose(uk, ur, rtol=1e-11, atol=1e-12 * np.abs(ur).max())
    np.testing.assert_allclose(ck, cr, rtol=1e-11, atol=1e-12 * np.abs(cr).max())


def test_one_column_through_the_batched_kernel_equals_the_column_kernel():
    """integrate_columns with S = 1 takes the steps of integrate_column, to round-off."""
    from exodiff.kernels import column1d as K
    from twins import reference_1d as R
    from exodiff.problem.layered import problem_from_scenario

    pb = problem_from_scenario(exodiff.load_scenario(BASE).resolved)
    assert len(pb.all_columns) == 1
    one = R.run_column(pb, kernel=K.integrate_column)
    ub, cb, sb = R.run_columns(pb, kernel=K.integrate_columns)
    assert list(sb) == [one.stats["steps"], one.stats["rejected"], one.stats["solves"]]
    np.testing.assert_allclose(ub[:, 0], one.u, rtol=1e-12, atol=1e-13 * np.abs(one.u).max())
    np.testing.assert_allclose(cb[:, 0], one.comp, rtol=1e-12, atol=1e-13 * np.abs(one.comp).max())
