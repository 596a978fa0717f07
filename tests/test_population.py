"""Virtual populations: drawing, bands against a direct sample, seeds, resume, errors, compare.

The persons run on ``scenarios/population_caffeine_forearm.toml`` with a
small ``size`` (a few ms per person on the batched path).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import exodiff
from exodiff import cli, data
from exodiff.errors import ScenarioError
from exodiff.results import metrics
from exodiff.studies import population as pop

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "population_caffeine_forearm.toml"
SC = "skin.layers.stratum_corneum.thickness"
VE = "skin.layers.viable_epidermis.thickness"


def _file(tmp_path, size=24, extra="", name="pop.toml", replace=None) -> Path:
    text = SCENARIO.read_text().replace("size = 200", f"size = {size}")
    for a, b in (replace or {}).items():
        assert a in text
        text = text.replace(a, b)
    p = tmp_path / name
    p.write_text(text + extra)
    return p


def _data(ds):
    return ds.drop_attrs() if hasattr(ds, "drop_attrs") else ds.assign_attrs({})


# --------------------------------------------------------------------------
# Drawing (no solves)


def test_lognormal_from_mean_and_sd_has_that_mean_and_sd(tmp_path):
    p = pop.plan(_file(tmp_path, size=4000))
    drawn = {d.key: d for d in p.definition.distributions}
    x = np.array([pt.coords[p.sweep.definition.keys.index(SC)] for pt in p.sweep.points])
    # the forearm entry of exodiff/data/population.toml: mean (SD) 18.3 (4.9) um
    spec = data.population()["sites"]["forearm"][SC]
    mean = float(spec["mean"].split()[0])
    sd = float(spec["sd"].split()[0])
    assert drawn[SC].unit == "um"
    assert x.mean() == pytest.approx(mean, rel=0.01)
    assert x.std() == pytest.approx(sd, rel=0.05)
    mu, sigma = pop.lognormal_mu_sigma({"mean": mean, "sd": sd})
    assert np.median(x) == pytest.approx(math.exp(mu), rel=0.01)


def test_same_seed_same_persons_other_seed_other_persons(tmp_path):
    a = pop.plan(_file(tmp_path))
    b = pop.plan(_file(tmp_path, name="b.toml"))
    c = pop.plan(_file(tmp_path, name="c.toml", replace={"seed = 1": "seed = 2"}))
    assert [pt.overrides for pt in a.sweep.points] == [pt.overrides for pt in b.sweep.points]
    assert [pt.overrides for pt in a.sweep.points] != [pt.overrides for pt in c.sweep.points]


def test_a_group_scales_its_key_and_nothing_else(tmp_path):
    ref = pop.plan(_file(tmp_path, replace={'group = "female"': 'group = "adult"'}))
    fem = pop.plan(_file(tmp_path, name="f.toml"))
    scale = data.population()["groups"]["female"][VE]["scale"]
    k = ref.sweep.definition.keys
    for r, f in zip(ref.sweep.points, fem.sweep.points):
        assert f.coords[k.index(VE)] == pytest.approx(scale * r.coords[k.index(VE)], rel=1e-12)
        assert f.coords[k.index(SC)] == r.coords[k.index(SC)]


def test_a_value_the_scenario_sets_is_kept_for_everyone(tmp_path):
    f = _file(tmp_path, replace={'preset = "forearm"': 'preset = "forearm"\n[skin.layers.dermis]\n'
                                                       'thickness = "0.9 mm"'})
    p = pop.plan(f)
    assert "skin.layers.dermis.thickness" in p.definition.kept
    assert "skin.layers.dermis.thickness" not in p.sweep.definition.keys
    assert all(s.get("skin.layers.dermis.thickness") == pytest.approx(0.9e-3) for s in p.sweep.scenarios)


def test_each_person_is_the_scenario_with_its_draws(tmp_path):
    p = pop.plan(_file(tmp_path, size=5))
    for pt, s in zip(p.sweep.points, p.sweep.scenarios):
        assert s.get(SC) == pytest.approx(pt.coords[p.sweep.definition.keys.index(SC)] * 1e-6, rel=1e-12)


# --------------------------------------------------------------------------
# Running: bands against a direct sample, resume, paths


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    d = tmp_path_factory.mktemp("pop")
    f = _file(d, size=24)
    res = pop.population(f, jobs=2, directory=d / "out")
    return f, d / "out", res


def test_bands_are_the_percentiles_of_a_direct_sample_of_the_same_persons(finished):
    f, out, res = finished
    p = pop.plan(f)
    direct = {}
    for s in p.sweep.scenarios:  # each person run alone through the Dataset path
        for k, v in metrics.summary(exodiff.run(s)).items():
            if not isinstance(v, str):
                direct.setdefault(k, []).append(v)
    b = xr.open_dataset(out / "population.nc")
    q = b["percentile"].values
    assert list(q) == [5.0, 50.0, 95.0]
    checked = 0
    for name in ("fraction_dermis", "fraction_stratum_corneum", "fraction_vehicle", "delivered_target",
                 "systemic_amount", "amount_dermis", "plasma_cmax", "plasma_auc"):
        want = np.percentile(np.array(direct[name], dtype=float), q)
        np.testing.assert_allclose(b[name].values, want, rtol=1e-9, atol=1e-15, err_msg=name)
        checked += 1
    assert checked == 8 and b.attrs["persons"] == 24 and b.attrs["failed_persons"] == 0
    assert b["plasma_cmax"].attrs["units"] == "mg/L"


def test_resume_gives_the_same_bands(finished, tmp_path):
    f, out, res = finished
    d = tmp_path / "again"
    first = pop.population(f, jobs=1, directory=d)
    points = sorted((d / "points").glob("p*.nc"))
    for q in points[::3]:
        q.unlink()
    again = pop.population(f, jobs=2, directory=d, resume=True)
    xr.testing.assert_identical(_data(first.bands), _data(again.bands))
    xr.testing.assert_identical(_data(res.bands), _data(again.bands))  # batched = in-process


def test_profiles_give_bands_over_time(tmp_path):
    f = _file(tmp_path, size=6)
    res = pop.population(f, jobs=1, save_profiles=True)
    fr = res.bands["fraction"]
    assert fr.dims == ("percentile", "time", "compartment")
    per = res.persons["fraction"].transpose("point", "time", "compartment").values
    np.testing.assert_allclose(fr.values, np.percentile(per, [5, 50, 95], axis=0), rtol=1e-12)


def test_plasma_band_over_time_is_the_percentile_of_each_person_run_alone(tmp_path):
    f = _file(tmp_path, size=6)
    res = pop.population(f, jobs=1, save_profiles=True, directory=tmp_path / "out")
    band = res.bands["plasma_concentration"]
    assert band.dims == ("percentile", "time") and band.attrs["units"] == "mg L-1"
    # each person alone through exodiff.run: its plasma curve, then the percentiles over the persons
    curves = np.array([exodiff.run(s)["plasma_concentration"].values for s in pop.plan(f).sweep.scenarios])
    assert curves.shape == (6, band.sizes["time"]) and np.ptp(curves[:, -1]) > 0  # the persons differ
    np.testing.assert_allclose(band.values, np.percentile(curves, [5, 50, 95], axis=0), rtol=1e-9, atol=0)
    # the point files carry the curve (resume reads it back), and the report plots it
    again = pop.population(f, jobs=1, save_profiles=True, directory=tmp_path / "out", resume=True)
    np.testing.assert_array_equal(again.bands["plasma_concentration"].values, band.values)
    res.write(tmp_path / "out")
    assert (tmp_path / "out" / "population_plasma_time.png").is_file()


def test_cli_writes_bands_plots_report_and_dry_run(finished, tmp_path, capsys):
    f, _, _ = finished
    assert cli.main(["population", str(f), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "population of 24, seed 1, body site forearm, group female" in out and SC in out
    d = tmp_path / "cli"
    assert cli.main(["population", str(f), "-o", str(d), "--quiet"]) == 0
    names = {q.name for q in d.iterdir()}
    assert {"population.nc", "population.csv", "sweep.nc", "report.html", "points"} <= names
    assert any(n.startswith("population_bands_") for n in names)
    csv = (d / "population.csv").read_text().splitlines()
    assert csv[0] == "metric,units,p5,p50,p95"
    assert "plasma_cmax" in (d / "report.html").read_text()


def test_compare_of_populations_tabulates_median_and_band(finished, tmp_path, capsys):
    f, out, res = finished
    g = _file(tmp_path, name="thin.toml", replace={'vehicle_thickness = "20 um"': 'vehicle_thickness = "10 um"'})
    d = tmp_path / "cmp"
    assert cli.main(["compare", str(f), str(g), "-o", str(d), "--quiet", "--no-plots"]) == 0
    text = capsys.readouterr().out
    assert "median [5 %, 95 %]" in text
    t = xr.open_dataset(d / "population_compare.nc")
    assert t["delivered_target"].dims == ("variant", "percentile")
    np.testing.assert_allclose(t["delivered_target"].sel(variant="pop").values, res.bands["delivered_target"].values)
    assert (d / "thin" / "population.nc").is_file()


# --------------------------------------------------------------------------
# Bad input: one line, exit 2, nothing written


@pytest.mark.parametrize("replace,extra,expected", [
    ({"size = 10": "size = 0"}, "", "population.size: got 0"),
    ({'body_site = "forearm"': 'body_site = "forarm"'}, "", 'population.body_site: got "forarm"'),
    ({'group = "female"': 'group = "teen"'}, "", 'population.group: got "teen"'),
    # tables where names belong (found by the fuzzer: they raised TypeError as dict keys)
    ({'body_site = "forearm"': 'body_site = {}'}, "", "population.body_site: got"),
    ({}, '"systemic.half_life" = { distribution = {}, median = "5 h", gsd = 2 }\n', ".distribution: got"),
    ({}, '"formulation.preset" = { distribution = "uniform", min = 0, max = 1 }\n', "a numeric key"),
    ({}, '"systemic.half_life" = { distribution = "lognormal", median = "5 h", gsd = 0.5 }\n',
     ".gsd: got 0.5"),
    ({}, '"systemic.half_life" = { distribution = "gamma", median = "5 h" }\n', ".distribution: got"),
    ({}, '"systemic.half_life" = { distribution = "uniform", min = "6 h", max = "4 h" }\n',
     ".max: got"),
    ({}, '"systemic.half_life" = { distribution = "lognormal", median = "0.1 mm", gsd = 2 }\n',
     ".median: got"),
    ({}, '"skin.layers.dermis.thickness" = { distribution = "normal", mean = "1 mm", sd = "1 mm" }\n',
     "at person"),
    ({}, '"formulation.nope" = { distribution = "uniform", min = 0, max = 1 }\n', "unknown scenario key"),
    ({}, "\n[sweep]\n\"formulation.concentration\" = [\"1 mg/cm^3\"]\n", "together with a [sweep] table"),
])
def test_bad_population_one_line_exit_2_nothing_written(tmp_path, capsys, replace, extra, expected):
    text = SCENARIO.read_text().replace("size = 200", "size = 10")
    for a, b in replace.items():
        assert a in text
        text = text.replace(a, b)
    f = tmp_path / "bad.toml"
    f.write_text(text + extra)
    d = tmp_path / "out"
    assert cli.main(["population", str(f), "-o", str(d)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    assert not d.exists()


def test_a_sweep_of_a_population_file_is_refused(tmp_path):
    with pytest.raises(ScenarioError, match="exodiff population"):
        exodiff.sweep.plan(SCENARIO)


def test_run_ignores_the_population_table():
    sc = exodiff.load_scenario(SCENARIO)
    assert "population" in sc.user


def test_population_cli_help_runs():
    r = subprocess.run([sys.executable, "-m", "exodiff", "population", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--resume" in r.stdout
