"""Every shipped scenario runs, and the key numbers of each are right.

Sweep and comparison scenarios are run by their own tests; here every plain
scenario in ``scenarios/`` runs through the public API, and one runs through
the command line in a subprocess as a user would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import exodiff
from exodiff.results import metrics
from exodiff.errors import SolverError

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))


def _is_plain(path: Path) -> bool:
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return not ({"sweep", "compare"} & set(data)) and data.get("delivery", {}).get("method", "topical") == "topical"


PLAIN = [p for p in SCENARIOS if _is_plain(p)]


def test_the_four_foundation_scenarios_are_shipped():
    names = {p.name for p in PLAIN}
    assert {"topical_msc_exosome.toml", "topical_plant_exosome.toml", "topical_caffeine.toml",
            "membrane_validation.toml"} <= names


@pytest.fixture(scope="module")
def results():
    return {p.name: exodiff.run(exodiff.load_scenario(p)) for p in PLAIN}


@pytest.mark.parametrize("path", PLAIN, ids=lambda p: p.stem)
def test_scenario_runs_with_mass_balance_at_round_off(results, path):
    ds = results[path.name]
    assert np.max(np.abs(ds["mass_balance_error"].values)) < 1e-12
    conc = ds["concentration"].values
    assert conc.min() >= -1e-12 * max(conc.max(), 1e-300)
    assert np.all(np.isfinite(ds["amount"].values))
    if ds.attrs["vehicle"] == "finite":
        # every compartment together holds exactly the dose applied so far (a regimen's part of its total)
        applied = ds["applied"].values if "applied" in ds else 1.0
        np.testing.assert_allclose(ds["fraction"].sum("compartment").values, applied, rtol=0, atol=1e-12)


def test_membrane_scenario_matches_crank(results):
    """Crank (1975) eq. 4.24a: cumulative amount through a membrane, constant donor, sink."""
    ds = results["membrane_validation.toml"]
    h, D, K, C = 100e-6, 1e-12, 0.5, 1.0  # m, m^2/s, -, mg/cm^3 as in the file
    t = ds["time"].values * 3600.0
    n = np.arange(1, 300)[:, None]
    series = ((-1.0) ** n / n**2 * np.exp(-D * n**2 * np.pi**2 * t[None, :] / h**2)).sum(axis=0)
    q = h * 100 * K * C * (D * t / h**2 - 1 / 6 - 2 / np.pi**2 * series)  # mg/cm^2 (h in cm)
    q_model = ds["amount"].sel(compartment="receptor").values
    lag = h**2 / (6 * D) / 3600
    late = ds["time"].values >= lag
    assert np.max(np.abs(q_model[late] - q[late])) / q[-1] < 1e-3
    # steady flux from the last hour's slope against D K C / h
    flux = np.gradient(q_model, ds["time"].values)[-1]
    assert flux == pytest.approx(D * K * C / h * 3600 * 100, rel=1e-3)


def test_caffeine_stratum_corneum_reproduces_potts_guy(results):
    """The Potts-Guy split must give the layer the permeability it was built from."""
    ds = results["topical_caffeine.toml"]
    sc = ds.sel(layer="stratum_corneum")
    kp = float(sc["diffusivity"]) * 1e-8 * float(sc["partition"]) / (float(sc["layer_thickness"]) * 1e-4)
    log_kp_cm_h = -2.7 + 0.71 * (-0.07) - 0.0061 * 194.19
    assert kp * 3600 == pytest.approx(10**log_kp_cm_h, rel=0.01)
    # a finite dose of a permeant small molecule is absorbed substantially in a day
    assert metrics.summary(ds)["delivered_dermis"] > 0.1


@pytest.mark.parametrize("name", ["topical_msc_exosome.toml", "topical_plant_exosome.toml"])
def test_intact_stratum_corneum_holds_back_rigid_exosomes(results, name):
    ds = results[name]
    s = metrics.summary(ds)
    assert s["delivered_stratum_corneum"] < 1e-6
    # washed off what stayed in the vehicle
    assert s["fraction_removed"] > 0.99


def test_cli_run_writes_complete_outputs(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "exodiff", "run", str(ROOT / "scenarios/membrane_validation.toml"),
                           "-o", str(out), "--quiet"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["compartments.png", "concentration_map.png", "profiles.png", "result.nc", "summary.json"]
    assert str(out) in proc.stdout
    with xr.open_dataset(out / "result.nc") as ds:
        ds.load()
    summ = json.loads((out / "summary.json").read_text())
    # summary.json holds exactly the metrics of the stored dataset
    expected = metrics.summary(ds)
    for key, value in expected.items():
        got = summ["metrics"][key]
        if isinstance(value, float) and not np.isfinite(value):
            assert got is None
        elif isinstance(value, float):
            assert got == pytest.approx(value, rel=1e-12, abs=1e-300)
        else:
            assert got == value
    assert "crank" in ds.attrs["scenario"].lower()
    assert ds["time"].attrs["units"] == "h" and ds["depth"].attrs["units"] == "um"


def test_failed_run_writes_nothing(tmp_path, monkeypatch, capsys):
    from exodiff import cli
    from exodiff.solvers import layered as solve

    def boom(*args, **kwargs):
        raise SolverError("solver: non-finite concentration at t = 1 h in dermis")

    monkeypatch.setattr(solve, "integrate", boom)
    out = tmp_path / "out"
    rc = cli.main(["run", str(ROOT / "scenarios/membrane_validation.toml"), "-o", str(out), "--quiet"])
    assert rc == 2
    assert not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "non-finite" in err[0]


def test_interrupted_output_leaves_no_partial_file(tmp_path, monkeypatch):
    """Ctrl-C while plots are written: the earlier complete set stays as it was, no temporary file remains.

    (Issue 14: a run's files are one unit; before, the files finished before
    the interruption replaced their old versions beside the old plots.)"""
    import matplotlib.figure

    from exodiff.report import outputs

    ds = exodiff.run(exodiff.load_scenario(ROOT / "scenarios/membrane_validation.toml"))

    def interrupted(self, fname, *a, **k):
        Path(fname).write_bytes(b"partial")
        raise KeyboardInterrupt

    out = tmp_path / "out"
    outputs.write_outputs(ds, None, out, plots=False)  # an earlier, complete set
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", interrupted)
    with pytest.raises(KeyboardInterrupt):
        outputs.write_outputs(ds, None, out, plots=True)
    assert sorted(p.name for p in out.iterdir()) == ["result.nc", "summary.json"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    with xr.open_dataset(out / "result.nc") as back:
        np.testing.assert_array_equal(back["amount"].values, ds["amount"].values)
