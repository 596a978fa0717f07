"""exodiff fit: recovery of known parameters, interval coverage, MCMC against least squares, clean errors.

Data are made by exodiff itself at known parameters with Gaussian noise of a
known sd, so the truth is known and the sds are exact: the 95 % intervals
must then cover the truth about 95 % of the time.  Expected numbers are
computed here (binomial bands from scipy), never copied from a run.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import exodiff
from exodiff.scenario.core import load_scenario, to_toml

D_KEY = "skin.layers.membrane.diffusivity"
K_KEY = "skin.layers.membrane.partition"
TRUE_D, TRUE_K = 2e-8, 0.5  # cm^2/s, 1
TIMES_H = [0.5, 1, 1.5, 2, 3, 4, 5, 6]


def base_scenario(**extra) -> dict:
    """A Crank membrane between a constant donor and a sink: a lag time (D) and a steady flux (D K): both identified."""
    sc = {
        "meta": {"name": "fit test"},
        "skin": {"preset": "none", "bottom": "sink",
                 "layers": {"membrane": {"thickness": "100 um", "diffusivity": f"{TRUE_D} cm^2/s",
                                         "partition": TRUE_K}}},
        "formulation": {"preset": "custom", "kind": "small_molecule", "vehicle": "infinite",
                        "concentration": "1 mg/cm^3", "vehicle_thickness": "1 mm"},
        "simulation": {"duration": "6 h", "output_interval": "1 h", "resolution": {"cells": 16}},
    }
    for k, v in extra.items():
        sc[k] = v
    return sc


def synthetic(tmp_path, seed: int, rel_sd: float = 0.03, name: str = "data.csv", overrides=None,
              observable: str = "receptor") -> tuple:
    """Noisy cumulative amount through the membrane at TIMES_H, sd given; returns (path, sds)."""
    sc = load_scenario(base_scenario())
    if overrides:
        sc = sc.replace(overrides)
    ds = exodiff.run(sc.replace({"simulation.output_interval": None,
                                 "simulation.output_times": [f"{t} h" for t in TIMES_H]}))
    rng = np.random.default_rng(seed)
    comps = [str(c) for c in ds["compartment"].values]
    rows = ["observable,time,value,sd,unit"]
    for t in TIMES_H:
        y = float(ds["amount"].sel(time=t).values[comps.index(observable)])
        sd = rel_sd * max(y, 0.05 * float(ds["amount"].isel(time=-1).values[comps.index(observable)]))
        rows.append(f"{observable},{t} h,{y + sd * rng.standard_normal()!r},{sd!r},{ds.attrs['dose_unit']}/cm^2")
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n")
    return path


def fit_table(data, **opts) -> dict:
    return {"data": str(data), "parameters": {D_KEY: ["1e-10 cm^2/s", "1e-6 cm^2/s"], K_KEY: [0.01, 100.0]},
            **opts}


def test_recovers_known_parameters(tmp_path):
    data = synthetic(tmp_path, seed=3)
    res = exodiff.fit(base_scenario(fit=fit_table(data, starts=4)), jobs=1)
    d, k = res.parameters[D_KEY], res.parameters[K_KEY]
    assert d["unit"] == "cm^2/s" and k["unit"] == "1"
    # 3 % noise on 8 points: the estimates land within a few standard errors, i.e. well inside 30 %
    assert d["ci95"][0] <= TRUE_D <= d["ci95"][1] or abs(math.log(d["value"] / TRUE_D)) < 0.3
    assert abs(math.log(d["value"] / TRUE_D)) < 0.3 and abs(math.log(k["value"] / TRUE_K)) < 0.3
    # the profile interval is a check of the Jacobian one: for this near-quadratic cost they agree within 30 %
    for p in (d, k):
        w = math.log(p["ci95"][1] / p["ci95"][0])
        wp = math.log(p["profile_ci95"][1] / p["profile_ci95"][0])
        assert 0.7 < wp / w < 1.3
    assert res.record["weighting"]["sd"] == "given" and res.record["weighting"]["s2"] == 1.0
    assert res.n_observations == len(TIMES_H)


def test_intervals_cover_the_truth_at_the_nominal_rate(tmp_path):
    from scipy import stats

    from exodiff.studies.executors import SerialExecutor

    seeds = range(30)
    hits = trials = 0
    widths = []
    with SerialExecutor() as ex:
        for seed in seeds:
            data = synthetic(tmp_path, seed=100 + seed)
            res = exodiff.fit(base_scenario(fit=fit_table(data, starts=2, profile=False)), executor=ex)
            for key, truth in ((D_KEY, TRUE_D), (K_KEY, TRUE_K)):
                lo, hi = res.parameters[key]["ci95"]
                hits += lo <= truth <= hi
                trials += 1
                widths.append(math.log(hi / lo))
    # a 99.8 % binomial band around the nominal 95 % (the two parameters of a seed are correlated, which
    # widens the true spread a little; the band is wide enough for that)
    low = stats.binom.ppf(0.001, trials, 0.95)
    assert low <= hits, f"coverage {hits}/{trials}"
    # and the intervals are informative (3 % noise: about +-12 % here), not covering by being huge
    assert np.median(widths) < 1.0


def test_mcmc_posterior_agrees_with_least_squares(tmp_path):
    pytest.importorskip("emcee")
    data = synthetic(tmp_path, seed=7)
    table = fit_table(data, starts=2, profile=False, mcmc={"walkers": 8, "steps": 700, "seed": 1, "draws": 20})
    res = exodiff.fit(base_scenario(fit=table), jobs=2, mcmc=True)
    rec = res.record["mcmc"]
    assert 0.2 < rec["acceptance_fraction"] < 0.8
    for key in (D_KEY, K_KEY):
        p = res.parameters[key]
        lo, hi = np.log(p["ci95"])
        plo, phi = np.log(p["posterior_ci95"])
        width = hi - lo
        # flat prior in log-parameters and a near-linear model: the posterior's 95 % interval is the
        # least-squares one up to Monte Carlo error of a few hundred effective samples (~15 % of the width)
        assert abs(plo - lo) < 0.25 * width and abs(phi - hi) < 0.25 * width
        assert abs(np.log(p["posterior_median"] / p["value"])) < 0.25 * width


def test_several_datasets_share_the_parameters(tmp_path):
    a = synthetic(tmp_path, seed=1, name="a.csv")
    b = synthetic(tmp_path, seed=2, name="b.csv", overrides={"formulation.concentration": "2 mg/cm^3"})
    table = {"parameters": fit_table(a)["parameters"], "starts": 2, "profile": False,
             "datasets": [{"data": str(a)}, {"data": str(b), "name": "double",
                                             "overrides": {"formulation.concentration": "2 mg/cm^3"}}]}
    res = exodiff.fit(base_scenario(fit=table), jobs=1)
    assert res.n_observations == 2 * len(TIMES_H)
    assert abs(math.log(res.parameters[D_KEY]["value"] / TRUE_D)) < 0.3
    assert [d["name"] for d in res.record["datasets"]] == ["a", "double"]


def test_cli_writes_everything_and_the_fitted_scenario_runs(tmp_path, capsys):
    from exodiff.cli import main

    data = synthetic(tmp_path, seed=5)
    scen = tmp_path / "fit.toml"
    scen.write_text(to_toml(base_scenario(fit=fit_table(data.name, starts=2))))
    out = tmp_path / "out"
    assert main(["fit", str(scen), "-o", str(out), "-j", "1", "--quiet"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"fit.json", "fitted.toml", "result.nc", "fit.png", "fit_residuals.png", "fit_correlation.png",
            "report.html"} <= names
    js = json.loads((out / "fit.json").read_text())
    assert set(js["parameters"]) == {D_KEY, K_KEY}
    assert js["parameters"][D_KEY]["unit"] == "cm^2/s" and len(js["parameters"][D_KEY]["ci95"]) == 2
    assert js["n_observations"] == len(TIMES_H) and "correlation" in js and "convergence" in js
    fitted = load_scenario(out / "fitted.toml")
    assert math.isclose(fitted.get(D_KEY) * 1e4, js["parameters"][D_KEY]["value"], rel_tol=1e-9)
    assert main(["run", str(out / "fitted.toml"), "-o", str(tmp_path / "rerun"), "--quiet", "--no-plots"]) == 0


# -- bad input: one line each, exit 2, nothing written ---------------------------------------------------

GOOD = "observable,time,value,sd,unit\nreceptor,1 h,1.0,0.1,ug/cm^2\n"

BAD_DATA = {
    "missing column": ("observable,time,value,unit\nreceptor,1 h,1.0,ug/cm^2\n", "line 1", "sd"),
    "an sd finer than the model computes": ("observable,time,value,sd,unit\nreceptor,1 h,1.8,1e-300,ug/cm^2\n",
                                            "line 2", "at least 1e-09 x |value|"),
    "an sd beyond the float range": ("observable,time,value,sd,unit\nreceptor,1 h,0,1e-300,ug/cm^2\n", "line 2",
                                     "between 1e-200 and 1e200"),
    "unknown column": ("observable,time,value,sd,unit,colour\nreceptor,1 h,1,0.1,ug/cm^2,red\n", "column 6",
                       "colour"),
    "unknown observable": ("observable,time,value,sd,unit\ncleard,1 h,1,0.1,ug/cm^2\n", "column observable",
                           "cleared"),
    "unit of the observable": ("observable,time,value,sd,unit\nreceptor,1 h,1,0.1,ug/mL\n", "column unit",
                               "amount per area"),
    "time past the duration": ("observable,time,value,sd,unit\nreceptor,7 h,1,0.1,ug/cm^2\n", "column time",
                               "simulation.duration"),
    "negative sd": ("observable,time,value,sd,unit\nreceptor,1 h,1,-0.1,ug/cm^2\n", "column sd", "sd > 0"),
    "time without units": ("observable,time,value,sd,unit\nreceptor,1,1,0.1,ug/cm^2\n", "column time", "a time"),
    "empty file": ("", "", "empty file"),
    "header only": ("observable,time,value,sd,unit\n", "line 1", "no rows"),
    # a row left short was used (sd and unit missing); one value too many shifted every column (3 lines blaming
    # the wrong ones); a ;-separated file gave 2 lines about unknown and missing columns
    "row with values left out": ("observable,time,value,sd,unit\nreceptor,30 min,0.3\n", "line 2", "leave a value"),
    "row with a value too many": ("observable,time,value,sd,unit\nreceptor,1 h,1,0.1,ug/cm^2,extra\n", "line 2",
                                  "one per column"),
    "semicolons": ("observable;time;value;sd;unit\nreceptor;1 h;1;0.1;ug/cm^2\n", "line 1", "comma-separated"),
    "receptor fluid without a receptor": ("observable,time,value,sd,unit\nreceptor_concentration,1 h,1,0.1,ug/mL\n",
                                          "column observable", 'bottom = "receptor"'),
}


def _run_bad(tmp_path, capsys, csv_text, params=None, extra=None):
    from exodiff.cli import main

    (tmp_path / "d.csv").write_text(csv_text)
    table = {"data": "d.csv", "parameters": params or {D_KEY: ["1e-10 cm^2/s", "1e-6 cm^2/s"]}, **(extra or {})}
    scen = tmp_path / "s.toml"
    scen.write_text(to_toml(base_scenario(fit=table)))
    out = tmp_path / "out"
    status = main(["fit", str(scen), "-o", str(out), "-j", "1", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert not out.exists()
    assert all(line.startswith("exodiff: error: ") for line in err) and "Traceback" not in "\n".join(err)
    return err


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_bad_data_gives_one_line_naming_file_line_and_column(tmp_path, capsys, case):
    text, where, what = BAD_DATA[case]
    err = _run_bad(tmp_path, capsys, text)
    assert len(err) == 1, err
    assert "d.csv" in err[0] and where in err[0] and what in err[0], err[0]


BAD_PARAMS = {
    "not numeric": ({"formulation.vehicle": ["finite", "infinite"]}, "numeric key"),
    "does not exist": ({"skin.layers.membrane.difusivity": ["1e-10 cm^2/s", "1e-6 cm^2/s"]}, "diffusivity"),
    "unknown layer": ({"skin.layers.dermis.diffusivity": ["1e-10 cm^2/s", "1e-6 cm^2/s"]}, "unknown layer"),
    "reversed bounds": ({D_KEY: ["1e-6 cm^2/s", "1e-10 cm^2/s"]}, "low < high"),
    "incompatible units": ({D_KEY: ["1e-10 cm^2/s", "1 h"]}, "units of"),
    "bare-number bounds of a quantity": ({D_KEY: [1e-10, 1e-6]}, "with units"),
    "zero bound": ({K_KEY: [0.0, 10.0]}, "bounds > 0"),
}


@pytest.mark.parametrize("case", sorted(BAD_PARAMS))
def test_bad_free_parameters_give_one_line(tmp_path, capsys, case):
    params, what = BAD_PARAMS[case]
    err = _run_bad(tmp_path, capsys, GOOD, params)
    assert len(err) == 1, err
    key = next(iter(params))
    assert f'fit.parameters."{key}"' in err[0] and what in err[0], err[0]


def test_units_of_the_data_are_converted_at_the_edge(tmp_path):
    """The same observations in ug/cm^2, ng/cm^2 and % of the dose give the same residuals."""
    from exodiff.studies.fit.definition import parse_fit
    from exodiff.studies.fit.model import residuals

    sc = load_scenario(base_scenario(formulation={"preset": "custom", "kind": "small_molecule",
                                                  "vehicle": "finite", "dose": "20 ug/cm^2"}))
    texts = {
        "ug": "observable,time,value,sd,unit\nreceptor,2 h,1.5,0.1,ug/cm^2\nmembrane,3 h,4,0.5,ug/cm^2\n",
        "ng": "observable,time,value,sd,unit\nreceptor,120 min,1500,100,ng/cm^2\nmembrane,3 h,4000,500,ng/cm^2\n",
        "pct": "observable,time,value,sd,unit\nreceptor,2 h,7.5,0.5,%\nmembrane,10800 s,0.2,0.025,1\n",
    }
    out = {}
    for name, text in texts.items():
        p = tmp_path / f"{name}.csv"
        p.write_text(text)
        d = parse_fit({"data": str(p), "parameters": {K_KEY: [0.01, 100.0]}}, sc)
        out[name] = residuals(d, np.log([TRUE_K]))
    np.testing.assert_allclose(out["ng"], out["ug"], rtol=1e-12)
    np.testing.assert_allclose(out["pct"], out["ug"], rtol=1e-9)


def test_tape_strip_depths_and_amounts(tmp_path):
    """Depth from the mass per strip is cumulative mass / (area x density); a strip holds the integral of c."""
    from exodiff.studies.fit.data import read_tape_strips
    from exodiff.studies.fit.definition import parse_fit
    from exodiff.studies.fit.model import simulate

    masses_ug = [40.0, 35.0, 30.0, 30.0]
    (tmp_path / "tape.csv").write_text("strip,mass\n" + "".join(f"{i + 1},{m} ug\n" for i, m in
                                                               enumerate(masses_ug)))
    depth = read_tape_strips(tmp_path / "tape.csv", area="4 cm^2", density="1 g/cm^3")
    expect = np.cumsum(masses_ug) * 1e-9 / (4e-4 * 1e3)  # kg / (m^2 * kg/m^3) = m
    np.testing.assert_allclose(depth, expect, rtol=1e-12)
    (tmp_path / "d.csv").write_text("observable,time,value,sd,unit,strip\n"
                                    + "".join(f"tape_strip,2 h,1,0.1,mg/cm^2,{k}\n" for k in (1, 2, 3, 4)))
    sc = load_scenario(base_scenario())
    d = parse_fit({"data": str(tmp_path / "d.csv"), "strips": str(tmp_path / "tape.csv"), "strip_area": "4 cm^2",
                   "parameters": {K_KEY: [0.01, 100.0]}}, sc)
    model, _ = simulate(d, np.log([TRUE_K]))
    ds = exodiff.run(d.datasets[0].scenario.replace({K_KEY: TRUE_K}))
    assert ds.attrs["dose_unit"] == "mg"
    c = ds["concentration"].sel(time=2.0).values  # mg/cm^3
    z = np.concatenate([[0.0], np.cumsum(ds["cell_width"].values)]) * 1e-4  # cm
    # the strips lie in the first cells: integrate the piecewise-constant profile by hand
    edges = np.concatenate([[0.0], expect * 100.0])
    for k in range(4):
        fine = np.linspace(edges[k], edges[k + 1], 2001)
        mid = 0.5 * (fine[1:] + fine[:-1])
        want = np.sum(c[np.searchsorted(z, mid) - 1] * np.diff(fine))
        assert math.isclose(model[k], want, rel_tol=1e-6)


def test_shipped_examples_plan_and_the_rz_example_recovers_its_closure_time():
    """Both examples' data are valid; the r-z one recovers the closure time its synthetic data were made with."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for name in ("fit_franz_cell.toml", "fit_microneedle_closure.toml"):
        d = exodiff.fit.plan(root / "scenarios" / name)
        assert d.datasets[0].observations.n > 0
        header = (root / "scenarios" / name.replace(".toml", ".csv")).read_text().splitlines()[0]
        assert "SYNTHETIC" in header
    res = exodiff.fit(root / "scenarios" / "fit_microneedle_closure.toml", jobs=1)
    p = res.parameters["delivery.closure_time"]
    truth_min = 90.0  # benchmarks/fit_speed.py TRUTH: 1.5 h, written in its data file's header
    assert "1.5 h" in (root / "scenarios" / "fit_microneedle_closure.csv").read_text().splitlines()[1]
    assert p["unit"] == "min" and tomllib  # the unit of the first bound, "5 min"
    assert p["ci95"][0] <= truth_min <= p["ci95"][1]


def test_a_size_class_franz_cell_recovers_its_porosity(tmp_path):
    """A polydisperse preparation (7 size classes) through dermatomed skin into a Franz receptor: one parameter
    recovered from exodiff's own noisy receptor curve, the truth inside its interval."""
    truth = 3e-5
    base = {"meta": {"name": "polydisperse fit"}, "skin": {"preset": "split_thickness", "layers": {
        "stratum_corneum": {"pore_radius": "30 nm"}}}, "receptor": {"volume": "2 mL"},
        "formulation": {"preset": "msc_exosome", "gsd": 1.4},
        "simulation": {"duration": "24 h", "output_interval": "2 h"}}
    key = "skin.layers.stratum_corneum.porosity"
    ds = exodiff.run(load_scenario(base).replace({key: truth}))
    assert ds.attrs["size_classes"] > 1
    comps = [str(c) for c in ds["compartment"].values]
    rng = np.random.default_rng(11)
    rows = ["observable,time,value,sd,unit"]
    for t in (4, 8, 12, 16, 20, 24):
        frac = ds["fraction"].sel(time=float(t)).values
        y = 100.0 * float(frac[comps.index("receptor")] + frac[comps.index("sampled")])
        rows.append(f"receptor,{t} h,{y * (1 + 0.03 * rng.standard_normal())!r},{0.03 * y!r},%")
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    scen = tmp_path / "s.toml"
    scen.write_text(to_toml({**base, "fit": {"data": "d.csv", "starts": 2, "parameters": {key: [1e-6, 1e-3]}}}))
    res = exodiff.fit(scen, jobs=1)
    p = res.to_json()["parameters"][key]
    assert p["ci95"][0] <= truth <= p["ci95"][1]
    assert abs(p["value"] / truth - 1) < 0.1


@pytest.mark.parametrize("path, why", [("/dev/zero", "not a regular file"), ("big.csv", "larger than the limit")])
def test_a_device_or_huge_data_file_is_refused_unread(tmp_path, capsys, path, why):
    """``fit.data`` read like a size distribution's CSV: a device or a file over the limit gets one line (it was
    read whole: /dev/zero exhausted the memory)."""
    from exodiff.cli import main
    from exodiff.studies.fit.data import MAX_BYTES

    if path == "big.csv":
        with open(tmp_path / path, "wb") as f:
            f.truncate(MAX_BYTES + 1)  # sparse: no disk used
    scen = tmp_path / "s.toml"
    scen.write_text(to_toml(base_scenario(fit={"data": path, "parameters": {D_KEY: ["1e-10 cm^2/s", "1e-6 cm^2/s"]}})))
    out = tmp_path / "out"
    # /dev/zero is outside the scenario's folder: allowed here, so that the device itself is what is refused
    status = main(["fit", str(scen), "-o", str(out), "-j", "1", "--quiet", "--allow-outside"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and not out.exists()
    assert len(err) == 1 and why in err[0] and "fit" in err[0], err


@pytest.mark.parametrize("table, key", [
    ({"data": "../d.csv"}, "fit.data"),
    ({"data": "/etc/hostname"}, "fit.data"),
    ({"data": "d.csv", "strips": "../d.csv"}, "fit.strips"),
    ({"data": None, "datasets": [{"data": "../d.csv"}]}, "fit.datasets[0].data"),
])
def test_a_scenario_file_reads_data_only_beside_it(tmp_path, capsys, table, key):
    """A [fit] table's data files follow the scenario's "Paths" rule (an independent check read /etc/passwd
    through ``fit.data`` and echoed its lines in the error); ``--allow-outside`` lifts it, as for
    ``size_distribution``: then the file is read (its bad row is what is reported)."""
    from exodiff.cli import main

    folder = tmp_path / "sub"
    folder.mkdir()
    (tmp_path / "d.csv").write_text("observable,time,value,sd,unit\nreceptor,1 h,x,0.01,ug/cm^2\n")  # outside: bad
    (folder / "d.csv").write_text("observable,time,value,sd,unit\nreceptor,1 h,0.1,0.01,ug/cm^2\n")
    fit = {"data": "d.csv", "parameters": {D_KEY: ["1e-10 cm^2/s", "1e-6 cm^2/s"]}} | table
    fit = {k: v for k, v in fit.items() if v is not None}
    scen = folder / "s.toml"
    scen.write_text(to_toml(base_scenario(fit=fit)))
    out = tmp_path / "out"
    assert main(["fit", str(scen), "-o", str(out), "-j", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and key in err[0] and "--allow-outside" in err[0] and not out.exists(), err
    if "../d.csv" in table.values() and key != "fit.strips":
        assert main(["fit", str(scen), "-o", str(out), "-j", "1", "--quiet", "--allow-outside"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "d.csv" in err[0] and "line 2" in err[0] and not out.exists(), err


def test_a_data_file_that_is_not_utf8_says_so(tmp_path, capsys):
    """A Latin-1 "µg" in a data file: "not UTF-8 text", not "a path holding a NUL byte" (UnicodeDecodeError is a
    ValueError, and that handler came first)."""
    from exodiff.cli import main

    (tmp_path / "d.csv").write_bytes(b"observable,time,value,sd,unit\nreceptor,1 h,1.8,0.1,\xb5g/cm^2\n")
    scen = tmp_path / "s.toml"
    scen.write_text(to_toml(base_scenario(fit={"data": "d.csv", "parameters": {D_KEY: ["1e-10 cm^2/s",
                                                                                       "1e-6 cm^2/s"]}})))
    assert main(["fit", str(scen), "-o", str(tmp_path / "out"), "-j", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not UTF-8 text" in err[0] and "d.csv" in err[0], err


@pytest.mark.parametrize("table, key", [({"starts": 10 ** 9}, "fit.starts"),
                                        ({"mcmc": {"walkers": 10 ** 6}}, "fit.mcmc.walkers"),
                                        ({"mcmc": {"steps": 10 ** 9}}, "fit.mcmc.steps")])
def test_a_fit_too_large_is_refused_before_it_starts(tmp_path, capsys, table, key):
    """``fit.starts = 1e9`` was accepted and took 17 GB in 20 s: the sizes have upper bounds, one line each."""
    err = _run_bad(tmp_path, capsys, "observable,time,value,sd,unit\nreceptor,1 h,0.1,0.01,ug/cm^2\n",
                   extra=table)
    assert len(err) == 1 and key in err[0], err


@pytest.mark.parametrize("table, key", [({"data": ""}, "fit.data"), ({"strips": ""}, "fit.strips")])
def test_an_empty_path_names_its_key(tmp_path, capsys, table, key):
    """``data = ""`` read the scenario's folder ('.: is a directory'), naming neither the key nor the slip."""
    from exodiff.cli import main

    (tmp_path / "d.csv").write_text("observable,time,value,sd,unit\nreceptor,1 h,0.1,0.01,ug/cm^2\n")
    fit = {"data": "d.csv", "parameters": {D_KEY: ["1e-10 cm^2/s", "1e-6 cm^2/s"]}} | table
    scen = tmp_path / "s.toml"
    scen.write_text(to_toml(base_scenario(fit=fit)))
    out = tmp_path / "out"
    assert main(["fit", str(scen), "-o", str(out), "-j", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and key in err[0] and not out.exists(), err
