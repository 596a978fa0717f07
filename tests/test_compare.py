"""``exodiff compare``: the table equals the runs' own summaries, the outputs
are complete and self-contained, bad input is one line each with exit 2 and
nothing written, and the shipped comparison scenario runs with the numbers
its physics implies.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import exodiff
from exodiff import cli, units
from exodiff.report import outputs
from exodiff.results import metrics
from exodiff.studies import compare as cmpmod
from exodiff.errors import ScenarioError
from membranes import TWO_LAYER

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "scenarios" / "compare_topical_formulations.toml"
PACKAGE_ROOT = str(Path(exodiff.__file__).resolve().parent.parent)


def same(a, b) -> bool:
    """Equal floats, NaN equal to NaN (and to None, JSON's NaN)."""
    a = math.nan if a is None else a
    b = math.nan if b is None else b
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return (math.isnan(a) and math.isnan(b)) or a == b


# A small, fast scenario: a membrane between a finite film and a sink.
MEMBRANE = TWO_LAYER

COMPARE = MEMBRANE + """
[compare]
times = ["1 h", "2 h"]
[compare.variants.base]
[compare.variants.slow]
"skin.layers.top.diffusivity" = "1e-9 cm^2/s"
[compare.variants.targeted]
"formulation.target_layer" = "top"
"""


# --------------------------------------------------------------------------
# The shipped scenario, run once through the API with every output written


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp") / "out"
    cmp = cmpmod.run_comparison(SHIPPED)  # default jobs: a process pool on a multi-core machine
    cmp.write(out)
    return cmp, out


def shipped_variants():
    with SHIPPED.open("rb") as fh:
        data = tomllib.load(fh)
    return data["compare"]


def test_shipped_scenario_compares_the_formulations(shipped):
    cmp, _ = shipped
    t = cmp.table
    names = list(t["variant"].values)
    assert names == ["msc_exosome", "plant_exosome", "engineered_exosome", "liposome", "deformable_vesicle",
                     "caffeine"]
    assert cmp.times_h == [6.0, 24.0, 48.0]
    d = dict(zip(names, t["delivered_target"].values))
    rigid = ("msc_exosome", "plant_exosome", "engineered_exosome", "liposome")
    # intact stratum corneum nearly or completely blocks rigid and moderately soft vesicles...
    for name in rigid:
        assert 0 <= d[name] < 1e-6
        assert d[name] < d["deformable_vesicle"]
        assert t["fraction_removed"].sel(variant=name) == pytest.approx(1.0, abs=1e-6)
    # ...larger ones at least as much (same deformability)...
    assert d["plant_exosome"] <= d["msc_exosome"]
    # ...a deformable vesicle squeezes through, a little; caffeine permeates
    assert 1e-8 < d["deformable_vesicle"] < 1e-3
    assert 0.3 < d["caffeine"] < 0.9
    assert 0 < t["target_peak_time_h"].sel(variant="caffeine") < 12
    # a peak time exactly when something arrives
    for name in names:
        assert np.isnan(t["target_peak_time_h"].sel(variant=name)) == (t["target_peak_fraction"].sel(variant=name) == 0)
    # the engineered exosome reports on its own target layer (the preset's)
    assert str(t["target_layer"].sel(variant="engineered_exosome").values) == "dermis"
    assert float(t["max_mass_balance_error"].max()) < 1e-12


def test_table_equals_individual_runs_summaries(shipped):
    """Each variant run on its own (exodiff.run + metrics.summary) gives the table's numbers exactly."""
    cmp, out = shipped
    table = cmp.table
    spec = shipped_variants()
    times_h = [float(units.to_si(x, "h")) for x in spec["times"]]
    base = exodiff.load_scenario(SHIPPED)
    for name, overrides in spec["variants"].items():
        sc = base.replace(overrides)
        ds = exodiff.run(sc)
        alone = metrics.summary(ds, sc.resolved["formulation"].get("target_layer"), times_h)
        written = json.loads((out / name / "summary.json").read_text())["metrics"]
        assert set(written) == set(alone)
        for key, value in alone.items():
            col = table[key].sel(variant=name).values
            cell = str(col) if key == "target_layer" else float(col)
            if metrics.is_below(value):  # no number: NaN in the table, the words beside it
                assert np.isnan(cell) and str(table[f"{key}_resolvable"].sel(variant=name).values) == value
            else:
                assert same(cell, value), (name, key, cell, value)
            assert same(written[key], value), (name, key)
    # the table has no metric the summaries lack (besides the words of unresolved ones)
    assert {k for k in table.data_vars if not k.endswith("_resolvable")} == set(alone)


def test_csv_and_markdown_hold_every_variant_and_metric(shipped):
    cmp, out = shipped
    table = cmp.table
    rows = cmpmod.read_csv(out / "metrics.csv")
    assert list(rows) == list(table["variant"].values)
    for name, row in rows.items():
        assert set(row) == {"title", *table.data_vars}
        for key in table.data_vars:
            v = table[key].sel(variant=name).values
            text = key == "target_layer" or key.endswith("_resolvable")  # the words of an unresolved metric
            assert same(row[key], str(v) if text else float(v)), (name, key)
    md = (out / "metrics.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| metric"))
    assert header.split("|")[3:-1] == [f" {n} " for n in table["variant"].values]
    shown = set(re.findall(r"`([^`]+)`", md))
    for key in table.data_vars:
        if key in shown or key.endswith("_resolvable"):  # the words of an unresolved metric: in its own row
            continue
        # only the end-of-run fractions are left out, when the last chosen time is the end of every run
        assert key.startswith("fraction_") and f"{key}_at_48h" in shown
        np.testing.assert_array_equal(table[key].values, table[f"{key}_at_48h"].values)
    for key in ("delivered_target", "delivered_dermis", "target_peak_time_h", "target_auc_h",
                "mean_penetration_depth_um", "fraction_dermis_at_6h", "fraction_viable_epidermis_at_24h"):
        assert key in shown
    # the cells as formatted for reading
    row = next(line for line in md.splitlines() if "`delivered_target`" in line)
    cells = [c.strip() for c in row.split("|")[3:-1]]
    assert cells == [cmpmod.format_value(x) for x in table["delivered_target"].values]


def test_html_report_is_self_contained(shipped):
    cmp, out = shipped
    html = (out / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert "<script" not in html.lower() and "<link" not in html.lower()
    srcs = re.findall(r'<img[^>]*src="([^"]+)"', html)
    assert len(srcs) == 3
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"exodiff {exodiff.__version__}" in html
    assert cmp.table.attrs["date"] in html
    for name in cmp.table["variant"].values:
        assert f"<th>{name}</th>" in html
    # the table, with the numbers as the console shows them
    assert "delivered to the target layer (fraction of dose)" in html
    caffeine = float(cmp.table["delivered_target"].sel(variant="caffeine"))
    assert f">{cmpmod.format_value(caffeine)}<" in html
    # key parameters of the variants, and a reading that names the best one
    for text in ("230 nm", "70 nm", "0.9", "40 ug/cm^2", "topical", "stratum_corneum 18.3 um"):
        assert text in html
    assert "Most delivered to its target layer: <b>caffeine</b>" in html


def test_plots_are_small_pngs(shipped):
    _, out = shipped
    for stem in ("target_amount", "profiles", "distribution"):
        data = (out / f"{stem}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 200_000
    assert not list(out.rglob(".*.tmp-*"))


def test_per_variant_results_are_complete(shipped):
    cmp, out = shipped
    for v in cmp.variants:
        with xr.open_dataset(out / v.name / "result.nc") as ds:
            assert ds.attrs["title"] == v.scenario.name
            np.testing.assert_array_equal(ds["fraction"].values, cmp.results[v.name]["fraction"].values)
            # the stored scenario is the variant alone, runnable as it is
            text = ds.attrs["scenario"]
        assert "[compare]" not in text
        assert exodiff.load_scenario(tomllib.loads(text)).resolved == v.scenario.resolved


# --------------------------------------------------------------------------
# API forms; serial equals parallel


def test_api_forms_and_serial_equals_parallel(tmp_path):
    f = tmp_path / "cmp.toml"
    f.write_text(COMPARE)
    serial = exodiff.compare(f, jobs=1)
    parallel = exodiff.compare(str(f), jobs=2)
    assert list(serial["variant"].values) == ["base", "slow", "targeted"]
    xr.testing.assert_identical(serial.drop_attrs() if hasattr(serial, "drop_attrs") else serial.assign_attrs({}),
                                parallel.drop_attrs() if hasattr(parallel, "drop_attrs") else parallel.assign_attrs({}))
    assert serial["delivered_bottom"].sel(variant="slow") < serial["delivered_bottom"].sel(variant="base")
    assert str(serial["target_layer"].sel(variant="targeted").values) == "top"
    # several scenarios, by file stem or by explicit name
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text(MEMBRANE)
    b.write_text(MEMBRANE.replace('"1e-8 cm^2/s"', '"3e-8 cm^2/s"'))
    two = exodiff.compare([a, b], times=["1 h"])
    assert list(two["variant"].values) == ["a", "b"]
    assert "fraction_bottom_at_1h" in two
    named = exodiff.compare({"fast": exodiff.load_scenario(b), "ref": a})
    assert list(named["variant"].values) == ["fast", "ref"]
    assert named["delivered_bottom"].sel(variant="fast") == two["delivered_bottom"].sel(variant="b")
    # the writers
    assert exodiff.compare.to_csv(two).splitlines()[0].startswith("variant,title,fraction_vehicle")
    assert "| metric | key | a | b |" in exodiff.compare.to_markdown(two)
    assert exodiff.compare.format_table(two).splitlines()[0].split()[-2:] == ["a", "b"]


def test_same_file_stems_get_distinct_names(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    for d in ("x", "y"):
        (tmp_path / d / "run.toml").write_text(MEMBRANE)
    plan = cmpmod.prepare([tmp_path / "x" / "run.toml", tmp_path / "y" / "run.toml"])
    assert [v.name for v in plan.variants] == ["run", "run-2"]


def test_nested_override_tables_are_dotted_keys(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text(MEMBRANE + """
[compare.variants.nested.skin.layers.top]
diffusivity = "1e-9 cm^2/s"
[compare.variants.resolution]
"simulation.resolution" = { cells = 8 }
""")
    plan = cmpmod.prepare(f)
    assert plan.variants[0].overrides == {"skin.layers.top.diffusivity": "1e-9 cm^2/s"}
    assert plan.variants[0].scenario.get("skin.layers.top.diffusivity") == pytest.approx(1e-13)
    assert plan.variants[1].scenario.get("simulation.resolution") == {"cells": 8}
    assert plan.times_h == []


def test_a_variant_where_nothing_arrives(tmp_path):
    """All-zero variants: 0 and "-" in the tables, "none" in the plots, the blocking layer in the report."""
    f = tmp_path / "c.toml"
    f.write_text(MEMBRANE + '[compare.variants.open]\n[compare.variants.shut]\n'
                            '"skin.layers.top.diffusivity" = "0 cm^2/s"\n')
    cmp = cmpmod.run_comparison(f)
    out = tmp_path / "out"
    cmp.write(out)
    t = cmp.table
    assert t["delivered_target"].sel(variant="shut") == 0 and t["target_auc_h"].sel(variant="shut") == 0
    assert np.isnan(t["target_peak_time_h"].sel(variant="shut"))
    assert np.isnan(t["mean_penetration_depth_um"].sel(variant="shut"))
    assert t["delivered_target"].sel(variant="open") > 0
    md = (out / "metrics.md").read_text()
    row = next(line for line in md.splitlines() if "`target_peak_time_h`" in line)
    assert [c.strip() for c in row.split("|")[3:5]] != ["-", "-"] and row.split("|")[4].strip() == "-"
    assert rows_of(out)["shut"]["target_peak_time_h"] != rows_of(out)["shut"]["target_peak_time_h"]  # NaN
    assert json.loads((out / "shut" / "summary.json").read_text())["metrics"]["target_peak_time_h"] is None
    html = (out / "report.html").read_text()
    assert "Nothing reaches the target layer within the run for: shut (blocked at the top" in html
    # plots: the blocked variant is named "none" in the legend (a log axis cannot show a zero)
    from exodiff.report import compare_plots

    fig = compare_plots.target_amount(cmp)
    labels = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert "shut (bottom): none" in labels and "open (bottom)" in labels
    assert fig.axes[0].get_yscale() == "log"
    # every variant blocked: linear axes and a note instead of an empty log plot
    shut = cmpmod.run_comparison({"a": cmp.variants[1].scenario, "b": cmp.variants[1].scenario})
    fig = compare_plots.target_amount(shut)
    assert fig.axes[0].get_yscale() == "linear"
    assert any("no variant reaches" in text.get_text() for text in fig.axes[0].texts)
    assert set(compare_plots.render(shut)) == {"target_amount", "profiles", "distribution"}


def rows_of(out: Path):
    return cmpmod.read_csv(out / "metrics.csv")


# --------------------------------------------------------------------------
# Metrics beyond the plain 1D run: species, size classes, all-zero runs


@pytest.fixture(scope="module")
def membrane_ds():
    return exodiff.run(exodiff.load_scenario(tomllib.loads(MEMBRANE)))


def test_species_dimension_gives_metrics_per_species(membrane_ds):
    """A run with vesicle and cargo species: plain names for the vesicle, cargo_ for the cargo."""
    ds = membrane_ds
    cargo = ds.copy()
    for name in ("amount", "concentration", "loss_by_layer"):
        cargo[name] = ds[name] * 0.25  # cargo: a quarter of the vesicle's amounts...
    cargo["fraction"] = cargo["amount"] / (ds.attrs["applied_dose"] * 0.5)  # ...of a loaded amount half the dose
    per = ("amount", "fraction", "concentration", "loss_by_layer", "mass_balance_error")
    both = xr.concat([ds[list(per)], cargo[list(per)]], dim=xr.DataArray(["vesicle", "cargo"], dims="species"))
    both = ds.drop_vars(list(per)).merge(both)
    both["applied_dose"] = ("species", [ds.attrs["applied_dose"], ds.attrs["applied_dose"] * 0.5])
    s = metrics.summary(both, None, [1.0])
    plain = metrics.summary(ds, None, [1.0])
    for key in ("delivered_target", "target_auc_h", "fraction_bottom_at_1h", "mean_penetration_depth_um"):
        assert s[key] == pytest.approx(plain[key], rel=1e-12)
    # the cargo's fractions are of the loaded cargo: 0.25 / 0.5 of the vesicle's
    assert s["cargo_delivered_target"] == pytest.approx(0.5 * plain["delivered_target"], rel=1e-12)
    assert s["cargo_fraction_bottom_at_1h"] == pytest.approx(0.5 * plain["fraction_bottom_at_1h"], rel=1e-12)
    assert s["cargo_target_uptake"] == pytest.approx(0.5 * plain["target_uptake"], rel=1e-12)
    assert s["cargo_mean_penetration_depth_um"] == pytest.approx(plain["mean_penetration_depth_um"], rel=1e-12)
    assert "cargo_target_layer" not in s and s["target_layer"] == "bottom"
    # a comparison of a run with cargo and one without: cargo columns NaN for the latter
    v1 = cmpmod.Variant("with_cargo", exodiff.load_scenario(tomllib.loads(MEMBRANE)))
    v2 = cmpmod.Variant("plain", v1.scenario)
    t = cmpmod.metrics_table({"with_cargo": both, "plain": ds}, [v1, v2], [1.0])
    assert t["cargo_delivered_target"].sel(variant="with_cargo") == s["cargo_delivered_target"]
    assert np.isnan(t["cargo_delivered_target"].sel(variant="plain"))
    assert "cargo: delivered to the target layer" in cmpmod.format_table(t)


def test_size_classes_sum_to_the_whole_preparation(membrane_ds):
    ds = membrane_ds
    split = xr.DataArray([0.3, 0.7], dims="size_class")
    classes = ds.copy()
    for name in ("amount", "concentration", "loss_by_layer"):
        classes[name] = ds[name] * split
    classes["fraction"] = ds["fraction"] * split
    s, plain = metrics.summary(classes, None, [2.0]), metrics.summary(ds, None, [2.0])
    for key, value in plain.items():
        assert same(s[key], value) or s[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key


def test_nothing_arrives_gives_nan_peak_time_and_null_in_json(tmp_path):
    text = MEMBRANE.replace('diffusivity = "1e-8 cm^2/s"', 'diffusivity = "0 cm^2/s"')
    sc = exodiff.load_scenario(tomllib.loads(text))
    ds = exodiff.run(sc)
    s = metrics.summary(ds)
    assert s["delivered_target"] == 0 and s["target_auc_h"] == 0 and s["target_peak_fraction"] == 0
    assert math.isnan(s["target_peak_time_h"]) and math.isnan(s["mean_penetration_depth_um"])
    outputs.write_outputs(ds, sc, tmp_path, plots=False)
    written = json.loads((tmp_path / "summary.json").read_text())["metrics"]
    assert written["target_peak_time_h"] is None
    assert "none reaches bottom" in outputs.summary_table(ds)


def test_fraction_at_a_time_between_outputs_is_interpolated(membrane_ds):
    ds = membrane_ds
    f = ds["fraction"].sel(compartment="bottom").values
    s = metrics.summary(ds, None, [0.75, 1.0])
    assert s["fraction_bottom_at_1h"] == f[2]  # exact at an output time
    assert s["fraction_bottom_at_0.75h"] == pytest.approx(0.5 * (f[1] + f[2]), rel=1e-12)
    with pytest.raises(ValueError, match="outside the run"):
        metrics.summary(ds, None, [5.0])


# --------------------------------------------------------------------------
# Bad input: one line each, exit 2, nothing written


BAD_TABLES = {
    "unknown_key": ('[compare]\ntims = ["1 h"]\n[compare.variants.a]\n',
                    ['compare.tims: unknown key; did you mean "times"?']),
    "unknown_override_key": ('[compare.variants.a]\n"formulation.diamter" = "80 nm"\n',
                             ['compare.variants.a: formulation.diamter: unknown key; did you mean "diameter"?']),
    "bad_override_value": ('[compare.variants.a]\n[compare.variants.b]\n"skin.layers.top.thickness" = "5 s"\n',
                           ["compare.variants.b: skin.layers.top.thickness: got \"5 s\""]),
    "override_in_compare": ('[compare]\n"formulation.dose" = "1 ug/cm^2"\n[compare.variants.a]\n',
                            ["compare.formulation.dose: unknown key; put overrides in a variant table"]),
    "empty_variants": ('[compare]\ntimes = ["1 h"]\n',
                       ["compare.variants: got nothing; expected at least one table [compare.variants.<name>]"]),
    "empty_variants_table": ("[compare]\nvariants = {}\n", ["compare.variants: got no variants"]),
    "bad_time_units": ('[compare]\ntimes = ["6 m", "2 h"]\n[compare.variants.a]\n',
                       ['compare.times[0]: got "6 m" (', 'expected a time >= 0 as a string with units']),
    "bare_number_time": ("[compare]\ntimes = [6]\n[compare.variants.a]\n",
                         ["compare.times[0]: got 6 (a bare number)"]),
    "time_after_the_end": ('[compare]\ntimes = ["1 h", "480 min"]\n[compare.variants.a]\n',
                           ["compare.times[1]: got \"480 min\"; expected a time <= simulation.duration of every "
                            "variant (variant a: 4 h)"]),
    "bad_variant_name": ('[compare.variants."my variant"]\n', ['compare.variants.my variant: got "my variant"']),
    "variant_not_a_table": ("[compare.variants]\na = 3\n", ["compare.variants.a: got 3; expected a table"]),
    "variant_changes_compare": ('[compare.variants.a]\n"compare.times" = ["1 h"]\n',
                                ["compare.variants.a: compare.times: not allowed: a variant overrides scenario "
                                 "keys, not [compare]"]),
}


def run_cli(args, capsys):
    status = cli.main(["compare", *args])
    out, err = capsys.readouterr()
    return status, out, err.splitlines()


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_bad_compare_table(tmp_path, capsys, case):
    table, expected = BAD_TABLES[case]
    f = tmp_path / "bad.toml"
    f.write_text(MEMBRANE + table)
    out_dir = tmp_path / "out"
    status, out, lines = run_cli([str(f), "-o", str(out_dir)], capsys)
    assert status == 2 and out == ""
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"exodiff: error: {f}: ")
    for part in expected:
        assert part in lines[0], lines[0]
    assert not out_dir.exists()
    with pytest.raises(ScenarioError) as info:  # the same through the API
        exodiff.compare(f, directory=out_dir)
    assert len(info.value.issues) == 1
    assert not out_dir.exists()


def test_several_problems_one_line_each(tmp_path, capsys):
    f = tmp_path / "bad.toml"
    f.write_text(MEMBRANE + '[compare]\ntims = 1\ntimes = ["1 parsec"]\n[compare.variants.a]\n'
                            '"formulation.dose" = "1 ug"\n"skin.botom" = "sink"\n')
    status, _, lines = run_cli([str(f), "-o", str(tmp_path / "out")], capsys)
    assert status == 2
    assert len(lines) == 4, lines
    text = "\n".join(lines)
    for part in ("compare.tims: unknown key", "compare.times[0]: got \"1 parsec\"",
                 "compare.variants.a: formulation.dose: got \"1 ug\"",
                 'compare.variants.a: skin.botom: unknown key; did you mean "bottom"?'):
        assert part in text
    assert not (tmp_path / "out").exists()


def test_missing_and_unreadable_files(tmp_path, capsys):
    good = tmp_path / "good.toml"
    good.write_text(MEMBRANE)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00junk")
    broken = tmp_path / "broken.toml"
    broken.write_text("[meta\nname = 1\n")
    out_dir = tmp_path / "out"
    status, _, lines = run_cli([str(good), str(tmp_path / "missing.toml"), str(binary), str(broken), str(tmp_path),
                                "-o", str(out_dir)], capsys)
    assert status == 2
    assert lines == [f"exodiff: error: {tmp_path / 'missing.toml'}: no such file",
                     f"exodiff: error: {binary}: not UTF-8 text (byte 0); expected a TOML scenario file",
                     lines[2],
                     f"exodiff: error: {tmp_path}: is a directory; expected a TOML scenario file"]
    assert lines[2].startswith(f"exodiff: error: {broken}: TOML syntax error")
    assert not out_dir.exists()
    status, _, lines = run_cli([str(tmp_path / "missing.toml"), "-o", str(out_dir)], capsys)
    assert status == 2 and lines == [f"exodiff: error: {tmp_path / 'missing.toml'}: no such file"]
    assert not out_dir.exists()


def test_other_command_line_mistakes(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plain = tmp_path / "plain.toml"
    plain.write_text(MEMBRANE)
    with_table = tmp_path / "table.toml"
    with_table.write_text(COMPARE)
    cases = [
        ([str(plain)], f"{plain}: compare: got nothing; expected a [compare] table with variants"),
        ([str(plain), str(with_table)], f"{with_table}: compare: got a [compare] table; expected a plain scenario"),
        ([str(with_table), "--times", "2 h, 2 apples"], "exodiff compare: --times[1]: got \"2 apples\""),
        ([str(plain), str(plain), "--times", "5 h"],
         'exodiff compare: --times[0]: got "5 h"; expected a time <= simulation.duration of every variant'),
        ([str(with_table), "-j", "0"], "--jobs: got 0; expected a whole number >= 1"),
    ]
    for args, expected in cases:
        status, out, lines = run_cli(args, capsys)
        assert status == 2 and out == "", (args, lines)
        assert len(lines) == 1, lines
        assert lines[0].startswith("exodiff: error: ") and expected in lines[0], lines
    assert not (tmp_path / "results").exists()
    taken = tmp_path / "taken"
    taken.write_text("")
    status, _, lines = run_cli([str(with_table), "-o", str(taken)], capsys)
    assert status == 2 and "is an existing file" in lines[0]


# --------------------------------------------------------------------------
# The command line as a user runs it


def test_compare_two_files_on_the_command_line(tmp_path):
    a, b = tmp_path / "thin.toml", tmp_path / "thick.toml"
    a.write_text(MEMBRANE)
    b.write_text(MEMBRANE.replace('thickness = "20 um"\ndiffusivity', 'thickness = "60 um"\ndiffusivity'))
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT)
    proc = subprocess.run([sys.executable, "-m", "exodiff", "compare", str(a), str(b), "--times", "1 h", "2 h",
                           "--quiet", "-o", "out"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    header = proc.stdout.splitlines()[1].split()
    assert header == ["metric", "thin", "thick"]
    assert "dermis" not in proc.stdout and "delivered to bottom (fraction of dose)" in proc.stdout
    out = tmp_path / "out"
    for name in ("metrics.csv", "metrics.md", "report.html", "target_amount.png", "profiles.png",
                 "distribution.png", "thin/result.nc", "thin/summary.json", "thick/result.nc", "thick/summary.json"):
        assert (out / name).is_file(), name
    rows = cmpmod.read_csv(out / "metrics.csv")
    for name in ("thin", "thick"):
        summ = json.loads((out / name / "summary.json").read_text())["metrics"]
        assert "fraction_bottom_at_2h" in summ
        for key, value in summ.items():
            assert same(rows[name][key], value), (name, key)
    # a thicker top layer delivers less, later
    assert rows["thick"]["delivered_target"] < rows["thin"]["delivered_target"]
    assert rows["thick"]["target_peak_time_h"] >= rows["thin"]["target_peak_time_h"]


def test_compare_scenario_runs_alone_and_validates(tmp_path):
    """The [compare] table is carried along by run and validate (which run the scenario as written)."""
    sc = exodiff.load_scenario(SHIPPED)
    assert sc.resolved["formulation"]["preset"] == "msc_exosome"
    assert "compare" in sc.user


def test_too_many_times_are_refused_before_any_run(tmp_path, capsys):
    """1200 tabulated times ran for minutes building a console table: at most 50, one line."""
    from exodiff import cli

    times = ", ".join(f'"{3 * i} s"' for i in range(1200))
    f = tmp_path / "c.toml"
    f.write_text(MEMBRANE + f"[compare]\ntimes = [{times}]\n[compare.variants.a]\n"
                 '"simulation.duration" = "2 h"\n')
    out = tmp_path / "out"
    assert cli.main(["compare", str(f), "-o", str(out), "--quiet", "--no-plots"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "compare.times" in err[0] and "at most 50" in err[0], err
    assert not out.exists()
