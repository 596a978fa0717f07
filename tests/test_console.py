"""What the command line prints explains itself: the summary's lines, wash-off, infinite donors, the membrane check,
and a comparison of runs that end at different times."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import exodiff
from exodiff.report import compare_table, outputs
from exodiff.results import metrics
from exodiff.studies import compare as cmpmod

ROOT = Path(__file__).resolve().parents[1]

MEMBRANE = """
[meta]
name = "membrane"
[skin]
preset = "none"
[skin.layers.top]
thickness = "20 um"
diffusivity = "1e-8 cm^2/s"
partition = 0.5
[formulation]
vehicle = "finite"
dose = "10 ug/cm^2"
vehicle_thickness = "20 um"
wash_off_time = "1 h"
[simulation]
duration = "2 h"
output_interval = "15 min"
"""


def test_membrane_validation_prints_its_check_against_crank(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "exodiff", "run", str(ROOT / "scenarios/membrane_validation.toml"),
                           "--no-plots", "--quiet", "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if "check against Crank" in x)
    # the scenario: h = 100 um, D = 1e-8 cm^2/s, K = 0.5, C = 1 mg/cm^3 (its comment: 27.8 min, 1.8 ug/cm^2/h)
    h, D, K, C = 100e-4, 1e-8 * 3600, 0.5, 1.0
    lag_min, flux = h * h / (6 * D) * 60, D * K * C / h
    assert f"analytic h^2/(6D) {lag_min:.3g} min" in line
    assert f"analytic DKC/h {flux:.4g}" in line and "mg cm-2 h-1" in line
    sim_lag = float(re.search(r"lag time ([0-9.]+) min", line).group(1))
    sim_flux = float(re.search(r"steady flux ([0-9.e-]+) mg", line).group(1))
    assert sim_lag == pytest.approx(lag_min, rel=2e-3) and sim_flux == pytest.approx(flux, rel=1e-3)
    # the relative differences printed are small, as the validation tests require
    for pct in re.findall(r"([+-][0-9.]+) %", line):
        assert abs(float(pct)) < 0.1
    # and the infinite donor is explained: the fractions exceed 1
    assert "can add up to more than 1" in proc.stdout


def test_membrane_check_only_for_the_membrane_problem_and_says_when_too_short():
    sc = exodiff.load_scenario(ROOT / "scenarios/membrane_validation.toml")
    short = exodiff.run(sc.replace({"simulation.duration": "1 h"}))
    c = metrics.membrane_check(short)
    assert c["lag_time_analytic_h"] == pytest.approx(1e-4 / (6 * 3.6e-5))
    assert c["lag_time_h"] != c["lag_time_h"]  # NaN: 1 h is ~2 lag times, no steady state yet
    assert "too short to reach the steady state" in outputs.summary_table(short)
    # with uptake in the membrane it is no longer Crank's problem
    taken = exodiff.run(sc.replace({"skin.layers.membrane.uptake_rate": "0.1 1/h", "simulation.duration": "1 h"}))
    assert metrics.membrane_check(taken) is None
    assert "check against Crank" not in outputs.summary_table(taken)


def test_summary_explains_wash_off_and_each_line():
    ds = exodiff.run(exodiff.load_scenario(tomllib.loads(MEMBRANE)))
    text = outputs.summary_table(ds)
    rows = {ln.split()[0]: ln for ln in text.splitlines()[1:] if ln.startswith("  ") and not ln.startswith("  note")}
    assert rows["removed"].endswith("washed off with the vehicle at 1 h")
    assert rows["top"].endswith("in this skin layer")
    assert rows["receptor"].endswith("crossed the bottom of the skin into the sink")
    assert "(10 ug/cm^2)" in text.splitlines()[0]
    assert "infinite vehicle" not in text and "check against Crank" not in text


def test_compare_of_different_durations_warns_and_says_which_end(tmp_path):
    f = tmp_path / "cmp.toml"
    f.write_text(MEMBRANE + '[compare.variants.short]\n[compare.variants.long]\n"simulation.duration" = "3 h"\n')
    plan = cmpmod.prepare(f)
    assert len(plan.warnings) == 1 and "short 2 h, long 3 h" in plan.warnings[0]
    with pytest.warns(UserWarning, match="different durations"):
        cmp = cmpmod.execute(plan, jobs=1)
    labels = [label for label, _, _ in compare_table.rows(cmp.table)]
    assert "mean penetration depth at end of each run (see end time) (um)" in labels
    proc = subprocess.run([sys.executable, "-m", "exodiff", "compare", str(f), "-o", str(tmp_path / "out"),
                           "--quiet", "--no-plots", "-j", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("exodiff: warning: the variants run for different durations") == 1
    # the same durations: no warning, and "at end" names the time
    same = tmp_path / "same.toml"
    same.write_text(MEMBRANE + '[compare.variants.a]\n[compare.variants.b]\n"skin.layers.top.partition" = 1.0\n')
    plan = cmpmod.prepare(same)
    assert plan.warnings == []
    labels = [label for label, _, _ in compare_table.rows(cmpmod.execute(plan, jobs=1).table)]
    assert "mean penetration depth at end (2 h) (um)" in labels
