"""Sweeps: expansion, validation, execution, nothing lost, resume, dask, sensitivity.

Most runs use ``scenarios/membrane_validation.toml`` (one layer, a few ms a
point); the shipped sweep scenarios run at the end, the sample one with a
smaller ``n``.
"""

from __future__ import annotations

import itertools
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import exodiff
from exodiff import cli
from exodiff.results import metrics
from exodiff.errors import ScenarioError
from exodiff.studies.sensitivity import prcc, sensitivity
from exodiff.studies.sweep.definition import parse_sweep, scenario_hash

ROOT = Path(__file__).resolve().parents[1]
MEMBRANE = ROOT / "scenarios" / "membrane_validation.toml"
THICK = "skin.layers.membrane.thickness"
PART = "skin.layers.membrane.partition"
DIFF = "skin.layers.membrane.diffusivity"


@pytest.fixture(scope="module")
def membrane():
    return exodiff.load_scenario(MEMBRANE)


def _data(ds):
    """Everything but the attributes (which hold timestamps)."""
    return ds.drop_attrs() if hasattr(ds, "drop_attrs") else ds.assign_attrs({})


def _sweep_file(tmp_path, table_toml: str, name="sw.toml", extra="") -> Path:
    p = tmp_path / name
    p.write_text(MEMBRANE.read_text() + extra + "\n[sweep]\n" + table_toml)
    return p


# --------------------------------------------------------------------------
# Expansion (no solves)

finite = st.floats(min_value=0.01, max_value=100.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=40)
@given(a=st.lists(finite, min_size=1, max_size=5, unique=True),
       b=st.lists(st.integers(1, 500), min_size=1, max_size=4, unique=True))
def test_grid_is_the_cartesian_product_first_key_slowest(membrane, a, b):
    table = {"mode": "grid", PART: a, THICK: [f"{x} um" for x in b]}
    defn = parse_sweep(table, membrane)
    pts = defn.points()
    assert len(pts) == len(a) * len(b) == defn.size
    assert defn.shape == (len(a), len(b))
    for pt, (x, y) in zip(pts, itertools.product(a, b)):
        assert pt.coords == (x, float(y))
        assert pt.overrides == {PART: x, THICK: f"{y} um"}
    assert [p.index for p in pts] == list(range(len(pts)))


@settings(max_examples=40)
@given(vals=st.lists(st.tuples(finite, st.integers(1, 500)), min_size=1, max_size=8, unique_by=(lambda t: t[0],
                                                                                                lambda t: t[1])))
def test_zip_keeps_the_order_of_the_lists(membrane, vals):
    a = [v[0] for v in vals]
    b = [f"{v[1]} um" for v in vals]
    pts = parse_sweep({"mode": "zip", PART: a, THICK: b}, membrane).points()
    assert [p.overrides for p in pts] == [{PART: x, THICK: y} for x, y in zip(a, b)]


@settings(max_examples=40)
@given(n=st.integers(1, 60), seed=st.integers(0, 2**31), lo=st.floats(1e-3, 10.0), span=st.floats(1.01, 1e3),
       log=st.booleans())
def test_samples_lie_in_their_ranges_one_per_stratum_and_repeat_with_the_seed(membrane, n, seed, lo, span, log):
    hi = lo * span
    scale = "log" if log else "linear"
    table = {"mode": "sample", "n": n, "seed": seed, PART: {"min": lo, "max": hi, "scale": scale},
             THICK: {"min": f"{lo} um", "max": f"{hi} um", "scale": scale}}
    pts = parse_sweep(table, membrane).points()
    assert len(pts) == n
    x = np.array([p.coords[0] for p in pts])
    assert np.all((x >= lo) & (x <= hi))
    # thickness goes to the scenario as text in the display unit, inside the range too
    t = np.array([float(p.overrides[THICK].split()[0]) for p in pts])
    assert np.all((t >= lo) & (t <= hi)) and all(p.overrides[THICK].endswith(" um") for p in pts)
    # Latin hypercube: exactly one point in each of n equal strata (in the log for log scale)
    u = (np.log(x / lo) / np.log(hi / lo)) if log else (x - lo) / (hi - lo)
    strata = np.minimum((u * n + 1e-9).astype(int), n - 1)
    assert sorted(strata) == list(range(n))
    again = parse_sweep(table, membrane).points()
    assert [p.overrides for p in again] == [p.overrides for p in pts]
    if n > 3:
        other = parse_sweep({**table, "seed": seed + 1}, membrane).points()
        assert [p.overrides for p in other] != [p.overrides for p in pts]


@settings(max_examples=30)
@given(a=st.floats(0.1, 10.0), ratio=st.floats(2.0, 1e4), num=st.integers(2, 12))
def test_start_stop_num_with_log_scale_is_geometric(membrane, a, ratio, num):
    b = a * ratio
    defn = parse_sweep({"mode": "grid", THICK: {"start": f"{a} um", "stop": f"{b} um", "num": num, "scale": "log"}},
                       membrane)
    (p,) = defn.parameters
    x = np.array(p.coords)
    assert p.unit == "um" and x.size == num
    assert x[0] == a and math.isclose(x[-1], b, rel_tol=1e-12)
    np.testing.assert_allclose(x[1:] / x[:-1], ratio ** (1 / (num - 1)), rtol=1e-9)
    lin = parse_sweep({"mode": "grid", THICK: {"start": f"{a} um", "stop": f"{b} um", "num": num}}, membrane)
    np.testing.assert_allclose(np.diff(lin.parameters[0].coords), (b - a) / (num - 1), rtol=1e-9)


def test_values_keep_the_unit_of_the_first_and_layer_and_choice_keys_work():
    sc = exodiff.load_scenario(ROOT / "scenarios" / "topical_msc_exosome.toml")
    defn = parse_sweep({"mode": "zip", "formulation.diameter": ["50 nm", "0.1 um"],
                        "formulation.preset": ["msc_exosome", "plant_exosome"],
                        "skin.layers.dermis.uptake_rate": ["0.01 1/h", "0.02 1/h"]}, sc)
    d, pre, up = defn.parameters
    assert d.unit == "nm" and d.coords[0] == 50.0 and d.coords[1] == pytest.approx(100.0)
    assert d.values == ("50 nm", "0.1 um")  # passed on as written
    assert pre.coords == ("msc_exosome", "plant_exosome") and pre.unit == ""
    assert up.unit == "1/h"


def test_hash_ignores_layout_but_not_values(membrane):
    t = {"mode": "grid", PART: [0.5, 1.0]}
    h = scenario_hash(membrane.user, t)
    assert h == scenario_hash({**membrane.user, "sweep": {"other": 1}}, dict(t))  # the scenario's own table is out
    assert h != scenario_hash(membrane.user, {"mode": "grid", PART: [0.5, 1.1]})
    changed = membrane.replace({THICK: "101 um"})
    assert h != scenario_hash(changed.user, t)


# --------------------------------------------------------------------------
# Bad sweep tables: one line each, exit 2, nothing written

BAD = {
    "unknown key": ('"skin.layers.membrane.partiton" = [0.5, 1.0]\n',
                    'sweep."skin.layers.membrane.partiton": unknown scenario key; did you mean '
                    '"skin.layers.membrane.partition"?'),
    "wrong unit": (f'"{THICK}" = ["100 um", "5 s"]\n',
                   f'sweep."{THICK}"[1]: got "5 s" (a time); expected a length'),
    "bare number for a quantity": (f'"{THICK}" = [100, "200 um"]\n', f'sweep."{THICK}"[0]: got 100 (a bare number)'),
    "zip lengths differ": (f'mode = "zip"\n"{THICK}" = ["100 um", "200 um"]\n"{PART}" = [0.5]\n',
                           f'sweep."{PART}": got 1 value; expected 2 values, as many as sweep."{THICK}"'),
    "min > max": (f'mode = "sample"\nn = 10\n"{PART}" = {{ min = 2.0, max = 1.0 }}\n',
                  f'sweep."{PART}".max: got 1.0 with min = 2.0; expected max > min'),
    "log with min <= 0": (f'mode = "sample"\nn = 10\n"{PART}" = {{ min = 0.0, max = 1.0, scale = "log" }}\n',
                          f'sweep."{PART}".min: got 0.0; expected a value > 0 with scale = "log"'),
    "out of range": (f'"{PART}" = [0.5, -1.0]\n', f'sweep."{PART}"[1]: got -1.0; expected a number >= 0'),
    "bad mode": ('mode = "grd"\n', 'sweep.mode: got "grd"; expected one of "grid", "zip", "sample" '
                                   '(did you mean "grid"?)'),
    "list in sample mode": (f'mode = "sample"\nn = 4\n"{PART}" = [0.5, 1.0]\n',
                            f'sweep."{PART}": got [0.5, 1.0]; expected a range {{ min, max }} in mode "sample"'),
    "missing n": (f'mode = "sample"\n"{PART}" = {{ min = 0.5, max = 1.0 }}\n', 'sweep.n: got nothing'),
    "unknown layer": ('"skin.layers.dermis.partition" = [0.5]\n',
                      'sweep."skin.layers.dermis.partition": unknown layer "dermis"; layers of this scenario: '
                      'membrane'),
    "duplicate values": (f'"{PART}" = [0.5, 0.5]\n', f'sweep."{PART}"[1]: got 0.5; expected values that differ'),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_sweep_table_is_one_line_exit_2_nothing_written(tmp_path, capsys, case):
    table, expected = BAD[case]
    f = _sweep_file(tmp_path, table)
    out = tmp_path / "out"
    assert cli.main(["sweep", str(f), "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"exodiff: error: {f}: ")
    assert expected in err[0], err[0]
    assert not out.exists()


@pytest.mark.parametrize("resume", [False, True])
def test_a_directory_of_someone_elses_files_is_refused(tmp_path, capsys, resume):
    """A sweep wrote its points beside ``thesis.tex`` (run, compare and fit refuse such a folder): one line, exit
    2, the folder as it was."""
    f = _sweep_file(tmp_path, '"skin.layers.membrane.partition" = [0.5, 1.0]\n')
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("mine")
    argv = ["sweep", str(f), "-o", str(out), "--quiet", "--no-plots"] + (["--resume"] if resume else [])
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "thesis.tex" in err[0] and "did not write" in err[0], err
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]


def test_every_problem_is_reported_together(tmp_path, capsys):
    f = _sweep_file(tmp_path, '"formulation.diamter" = ["50 nm"]\n'
                              f'"{THICK}" = ["5 s"]\n"{PART}" = [-1.0]\n')
    assert cli.main(["sweep", str(f), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(e.startswith(f"exodiff: error: {f}: sweep.") for e in err)


def test_a_combination_the_scenario_refuses_names_the_point(tmp_path):
    # dose, concentration and vehicle_thickness all given must agree: 0.2 mg/cm^2 = 10 mg/cm^3 x 200 um does,
    # 0.3 does not; each value alone is a good value
    f = tmp_path / "combo.toml"
    f.write_text((ROOT / "scenarios" / "topical_caffeine.toml").read_text()
                 + '\n[sweep]\nmode = "zip"\n"formulation.dose" = ["0.2 mg/cm^2", "0.3 mg/cm^2"]\n'
                 '"formulation.vehicle_thickness" = ["200 um", "200 um"]\n')
    with pytest.raises(ScenarioError) as exc:
        exodiff.sweep(f, jobs=1)
    lines = exc.value.lines()
    assert len(lines) == 1
    assert lines[0].startswith(f'{f}: sweep."formulation.vehicle_thickness": got "200 um" with dose')
    assert "at sweep point 1: formulation.dose = \"0.3 mg/cm^2\"" in lines[0]


def test_missing_sweep_table_and_dry_run(tmp_path, capsys):
    assert cli.main(["sweep", str(MEMBRANE), "--dry-run"]) == 2
    assert "sweep: got nothing; expected a [sweep] table" in capsys.readouterr().err
    f = _sweep_file(tmp_path, f'"{PART}" = [0.5, 1.0]\n"{THICK}" = {{ start = "50 um", stop = "150 um", num = 3 }}\n')
    assert cli.main(["sweep", str(f), "--dry-run", "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "grid, 6 points" in out[0]
    assert out[1].split() == ["point", PART, THICK, "[um]"]
    assert out[2].split() == ["0", "0.5", "50"] and out[-1].split() == ["5", "1", "150"]
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------
# Results equal individual runs

GRID = {"mode": "grid", THICK: ["80 um", "120 um"], PART: [0.5, 1.0]}


def _assert_point_equals_run(ds, sel, scenario, overrides):
    one = exodiff.run(scenario.replace(overrides))
    s = metrics.summary(one)
    # a sweep point's metrics are numbers (no check run, exodiff.run.run_metrics): where the run says "below
    # resolvable level" the point must hold the run's own number, and that number must be below the level
    numbers = metrics.summary(one.drop_vars(["fraction_error", "loss_by_layer_error"], errors="ignore"))
    for k, v in s.items():
        if metrics.is_below(v):
            got = ds[k].sel(sel).item()
            assert got == numbers[k], (k, got, numbers[k])
            if not k.startswith("amount_"):  # a fraction of the dose, as the level (amounts: in the dose unit)
                assert abs(numbers[k]) < float(v.split("< ")[1].split(" ")[0]), (k, numbers[k], v)
            continue
        if isinstance(v, str):
            assert ds.attrs.get(k, None) == v or ds[k].sel(sel).item() == v
            continue
        got = ds[k].sel(sel).item()
        assert got == v or (math.isnan(got) and math.isnan(v)), (k, got, v)


def test_grid_sweep_equals_individual_runs_point_by_point(membrane):
    ds = exodiff.sweep(membrane, jobs=2, definition=GRID)
    thick, part = "skin__layers__membrane__thickness", "skin__layers__membrane__partition"
    assert exodiff.sweep.dim_name(THICK) == thick and exodiff.sweep.dim_name(PART) == part
    assert ds[thick].attrs["units"] == "um" and list(ds[thick].values) == [80.0, 120.0]
    assert ds[thick].attrs["key"] == THICK and ds[part].attrs["key"] == PART  # the dotted key is kept
    assert list(ds["fraction_cleared"].dims) == [thick, part]
    assert list(ds.attrs["sweep_keys"]) == [THICK, PART] and list(ds.attrs["sweep_dims"]) == [thick, part]
    assert ds.attrs["failed_points"] == 0 and set(ds["error"].values.ravel()) == {""}
    for t, kp in itertools.product(["80 um", "120 um"], [0.5, 1.0]):
        _assert_point_equals_run(ds, {thick: float(t.split()[0]), part: kp}, membrane, {THICK: t, PART: kp})
    np.testing.assert_array_equal(ds["point"].values, [[0, 1], [2, 3]])
    # the names before 0.2, for old code: the same numbers under the dotted keys
    old = exodiff.sweep.dotted(ds)
    assert list(old["fraction_cleared"].dims) == [THICK, PART]
    assert old["fraction_cleared"].sel({THICK: 120.0, PART: 0.5}).item() == \
        ds["fraction_cleared"].sel({thick: 120.0, part: 0.5}).item()


def test_zip_of_formulation_presets_equals_individual_runs():
    sc = exodiff.load_scenario(ROOT / "scenarios" / "topical_msc_exosome.toml")
    table = {"mode": "zip", "formulation.preset": ["msc_exosome", "plant_exosome"],
             "formulation.wash_off_time": ["6 h", "12 h"]}
    ds = exodiff.sweep(sc, jobs=1, definition=table)
    assert list(ds["formulation__preset"].values) == ["msc_exosome", "plant_exosome"]
    assert ds["formulation__wash_off_time"].attrs["units"] == "h" and ds["point"].values.tolist() == [0, 1]
    assert ds["formulation__wash_off_time"].attrs["key"] == "formulation.wash_off_time"
    for i, (pre, w) in enumerate(zip(table["formulation.preset"], table["formulation.wash_off_time"])):
        _assert_point_equals_run(ds, {"point": i}, sc, {"formulation.preset": pre, "formulation.wash_off_time": w})


def test_profiles_are_kept_on_request(membrane, tmp_path):
    ds = exodiff.sweep(membrane, jobs=1, definition={"mode": "zip", PART: [0.5, 1.0]}, save_profiles=True,
                       directory=tmp_path / "prof")
    run = exodiff.run(membrane.replace({PART: 1.0}))
    assert ds["fraction"].dims == ("point", "time", "compartment")
    np.testing.assert_array_equal(ds["fraction"].isel(point=1).values, run["fraction"].values)
    np.testing.assert_array_equal(ds["amount"].isel(point=1).values, run["amount"].values)
    assert ds["amount"].attrs["units"] == run["amount"].attrs["units"]
    back = xr.load_dataset(tmp_path / "prof" / "sweep.nc")
    xr.testing.assert_equal(_data(back), _data(ds))


# --------------------------------------------------------------------------
# Failures do not stop a sweep

def test_a_failing_point_is_recorded_and_the_sweep_goes_on(membrane, tmp_path, capsys):
    # 1e150 m^2/s is a number the scenario takes (1e300 no longer is) that the solver cannot
    f = _sweep_file(tmp_path, f'"{DIFF}" = ["1e-8 cm^2/s", "1e150 m^2/s", "2e-8 cm^2/s"]\n')
    out = tmp_path / "out"
    assert cli.main(["sweep", str(f), "-o", str(out), "-j", "2", "--quiet", "--no-plots"]) == 0
    text = capsys.readouterr().out
    assert "3 points, 1 failed" in text and "1 x solver: non-finite" in text
    ds = xr.load_dataset(out / "sweep.nc")
    err = ds["error"].values
    assert err[0] == "" and err[2] == "" and err[1].startswith("solver: non-finite")
    assert np.isnan(ds["fraction_cleared"].values[1]) and np.all(np.isfinite(ds["fraction_cleared"].values[[0, 2]]))
    assert ds.attrs["failed_points"] == 1 and "non-finite" in ds.attrs["failures"]
    p = xr.open_dataset(out / "points" / "p000001.nc")
    assert p.attrs["status"] == "failed" and p.attrs["error_kind"] == "user" and "non-finite" in p.attrs["error"]
    p.close()


# --------------------------------------------------------------------------
# Nothing lost: interrupt, kill, resume; changed scenario refused

KILL_TABLE = (f'"{THICK}" = {{ start = "60 um", stop = "200 um", num = 6 }}\n'
              f'"{PART}" = [0.4, 0.6, 0.8, 1.0]\n')
KILL_POINTS = 24


def _slow_file(tmp_path) -> Path:
    # a finer grid and a tighter tolerance: ~0.1 s a point, so the sweep is still running when stopped
    text = MEMBRANE.read_text().replace('output_interval = "5 min"',
                                        'output_interval = "5 min"\ntolerance = 1e-8\nresolution = { cells = 300 }')
    p = tmp_path / "slow.toml"
    p.write_text(text + "\n[sweep]\n" + KILL_TABLE)
    return p


def _interruptible():
    # a shell that starts a job in the background without job control hands its children SIGINT ignored,
    # and Python then never installs its Ctrl-C handler: give the sweep Ctrl-C as a terminal would
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    f = _slow_file(tmp_path_factory.mktemp("ref"))
    return exodiff.sweep(f, jobs=2)


@pytest.mark.parametrize("path", ["--batch", "--no-batch"])  # batched in this process; a process pool
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_stopped_sweep_resumes_to_the_uninterrupted_result(tmp_path, uninterrupted, sig, path, capsys):
    f = _slow_file(tmp_path)
    out = tmp_path / "out"
    points = out / "points"
    proc = subprocess.Popen([sys.executable, "-m", "exodiff", "sweep", str(f), "-o", str(out), "-j", "2", path,
                             "--quiet", "--no-plots"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, text=True, preexec_fn=_interruptible)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if points.is_dir() and len(list(points.glob("p*.nc"))) >= 3:
                break
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()
        os.killpg(proc.pid, sig)  # the whole group, as Ctrl-C in a terminal (or a crash of everything)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    done = len(list(points.glob("p*.nc")))
    assert 3 <= done < KILL_POINTS
    assert not (out / "sweep.nc").exists()
    if sig in (signal.SIGINT, signal.SIGTERM):  # SIGTERM (a job scheduler, kill) stops as Ctrl-C does
        assert proc.returncode == 130
        assert "interrupted" in err and "--resume" in err and "points finished" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    for p in points.glob("p*.nc"):  # every file on disk is a whole point
        xr.open_dataset(p).close()
    assert cli.main(["sweep", str(f), "-o", str(out), "--resume", "--quiet", "--no-plots", "-j", "2"]) == 0
    capsys.readouterr()
    assert len(list(points.glob("p*.nc"))) == KILL_POINTS and not list(points.glob(".*tmp*"))
    xr.testing.assert_equal(_data(xr.load_dataset(out / "sweep.nc")), _data(uninterrupted))


def test_resume_skips_finished_points_and_refuses_a_changed_scenario(tmp_path, capsys, monkeypatch):
    f = _sweep_file(tmp_path, f'"{PART}" = [0.5, 1.0]\n')
    out = tmp_path / "out"
    ds = exodiff.sweep(f, jobs=1, directory=out)
    # without --resume an existing sweep is not overwritten
    assert cli.main(["sweep", str(f), "-o", str(out), "--quiet"]) == 2
    assert "add --resume to continue it" in capsys.readouterr().err
    # with --resume nothing runs again
    import exodiff.studies.sweep.point as point

    def refuse(task):
        raise AssertionError("a finished point ran again")

    monkeypatch.setattr(point, "run_point", refuse)
    again = exodiff.sweep(f, jobs=1, directory=out, resume=True)
    xr.testing.assert_equal(_data(again), _data(ds))
    monkeypatch.undo()
    # a changed scenario: refused, one line, nothing touched
    before = {p.name: p.stat().st_mtime_ns for p in (out / "points").iterdir()}
    f.write_text(f.read_text().replace('thickness = "100 um"', 'thickness = "110 um"'))
    assert cli.main(["sweep", str(f), "-o", str(out), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "changed scenario or [sweep] table" in err[0] and "--resume" in err[0]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "points").iterdir()} == before
    # a changed sweep table too
    f.write_text(f.read_text().replace('thickness = "110 um"', 'thickness = "100 um"').replace("[0.5, 1.0]",
                                                                                                "[0.5, 0.9]"))
    assert cli.main(["sweep", str(f), "-o", str(out), "--resume", "--quiet"]) == 2
    assert "changed scenario or [sweep] table" in capsys.readouterr().err


def test_points_failed_from_a_bug_are_run_again_on_resume(membrane, tmp_path, monkeypatch):
    import exodiff.solvers.layered as solve

    # a 1D point solves with solve.integrate (its metrics come from the raw arrays)
    real = solve.integrate
    calls = {"n": 0}

    def flaky(problem, *args, **kwargs):
        if problem.layer_names == ["membrane"]:  # not the warm-up run
            calls["n"] += 1
            if problem.layers[0].partition == 1.0:
                raise RuntimeError("boom")
        return real(problem, *args, **kwargs)

    monkeypatch.setattr(solve, "integrate", flaky)
    table = {"mode": "grid", PART: [0.5, 1.0]}
    ds = exodiff.sweep(membrane, jobs=1, definition=table, directory=tmp_path / "o")
    assert ds["error"].values[1] == "internal error RuntimeError: boom"
    monkeypatch.setattr(solve, "integrate", real)
    ds2 = exodiff.sweep(membrane, jobs=1, definition=table, directory=tmp_path / "o", resume=True)
    assert ds2.attrs["failed_points"] == 0 and calls["n"] == 2


# --------------------------------------------------------------------------
# dask

def test_dask_local_cluster_gives_the_process_pool_numbers(membrane):
    pytest.importorskip("distributed", reason="dask.distributed (the [distributed] extra) is not installed")
    pool = exodiff.sweep(membrane, jobs=2, definition=GRID)
    dask = exodiff.sweep(membrane, dask_local=2, definition=GRID)
    xr.testing.assert_equal(_data(dask), _data(pool))


def test_missing_dask_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    f = _sweep_file(tmp_path, f'"{PART}" = [0.5, 1.0]\n')
    for opt in (["--dask-local", "2"], ["--scheduler", "tcp://127.0.0.1:1"]):
        assert cli.main(["sweep", str(f), "-o", str(tmp_path / "out"), "--quiet", *opt]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and 'pip install "exodiff[distributed]"' in err[0]
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------
# Sensitivity

def test_prcc_equals_the_partial_correlation_of_ranks():
    from scipy.stats import rankdata

    rng = np.random.default_rng(3)
    X = rng.random((150, 4))
    y = np.exp(4 * X[:, 0]) - 3 * X[:, 1] ** 3 + 0.3 * X[:, 2] + 0.05 * rng.standard_normal(150)
    r, p = prcc(X, y)
    R = np.column_stack([rankdata(c) for c in X.T] + [rankdata(y)])
    P = np.linalg.inv(np.corrcoef(R.T))
    ref = [-P[j, 4] / math.sqrt(P[j, j] * P[4, 4]) for j in range(4)]
    np.testing.assert_allclose(r, ref, rtol=1e-10, atol=1e-12)
    assert r[0] > 0.95 and r[1] < -0.5 and p[0] < 1e-10 and p[3] > 0.01
    # ranks: any monotone transform of an input or the output gives the same PRCC
    r2, _ = prcc(np.column_stack([np.log(X[:, 0]), X[:, 1:]]), np.arctan(y))
    np.testing.assert_allclose(r2, r, rtol=1e-12)
    # NaN outputs (failed points) are dropped; a constant output has no PRCC
    y_nan = y.copy()
    y_nan[:5] = np.nan
    assert np.allclose(prcc(X, y_nan)[0], prcc(X[5:], y[5:])[0])
    assert np.all(np.isnan(prcc(X, np.ones(150))[0]))


def test_sensitivity_of_a_sample_sweep_ranks_the_parameter_that_matters(membrane):
    table = {"mode": "sample", "n": 24, "seed": 2, PART: {"min": 0.2, "max": 2.0},
             "skin.layers.membrane.degradation_rate": {"min": "1e-4 1/h", "max": "1e-2 1/h", "scale": "log"}}
    ds = exodiff.sweep(membrane, jobs=2, definition=table)
    sens = sensitivity(ds)
    assert set(sens["parameter"].values) == {PART, "skin.layers.membrane.degradation_rate"}
    # steady flux D K C / h: the partition drives what crosses into the receptor, the slow degradation barely
    r = sens["prcc"].sel(metric="fraction_receptor")
    assert r.sel(parameter=PART) > 0.9
    assert sens["rank"].sel(metric="fraction_receptor", parameter=PART) == 1


# --------------------------------------------------------------------------
# API details

def test_exodiff_sweep_is_callable_as_module_or_attribute(membrane):
    import exodiff.studies.sweep as mod

    assert callable(exodiff.sweep) and callable(mod)
    ds = exodiff.sweep(membrane, 1, definition={"mode": "zip", PART: [0.7]})
    assert ds.sizes["point"] == 1 and list(np.atleast_1d(ds.attrs["sweep_keys"])) == [PART]


# --------------------------------------------------------------------------
# Shipped scenarios

SHIPPED = sorted([*(ROOT / "scenarios").glob("sweep_*.toml"), *(ROOT / "scenarios").glob("sample_*.toml")])


def test_the_three_sweep_scenarios_are_shipped():
    assert {p.name for p in SHIPPED} >= {"sweep_vesicle_size.toml", "sample_uncertain_rates.toml",
                                          "sweep_stratum_corneum_thickness.toml"}


def test_vesicle_size_sweep_shows_the_size_cut_off(tmp_path, capsys):
    f = ROOT / "scenarios" / "sweep_vesicle_size.toml"
    out = tmp_path / "size"
    assert cli.main(["sweep", str(f), "-o", str(out), "--quiet", "--best", "delivered_dermis", "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert "45 points, 0 failed" in text and "best points by delivered_dermis" in text
    for name in ("sweep.nc", "sweep.json", "heatmap_delivered_target.png", "sweep_target_auc_h.png"):
        assert (out / name).is_file(), name
    ds = xr.load_dataset(out / "sweep.nc")
    d = ds["delivered_dermis"].transpose("formulation__diameter", "formulation__deformability").values
    assert np.all(d[0] > 0)  # the smallest pass at every deformability
    assert np.all(np.diff(d, axis=0) <= 0) and np.all(np.diff(d, axis=1) >= 0)  # bigger: less; softer: more
    assert d[-1, 0] < 1e-6 * d[0, 0]  # the largest, stiffest are held back
    # the size cut-off (1000x less than the smallest deliver) moves up with deformability
    cut = [int(np.argmax(col < 1e-3 * col[0])) if np.any(col < 1e-3 * col[0]) else len(col) for col in d.T]
    assert cut[0] < cut[1] < cut[2]


def test_stratum_corneum_thickness_sweep():
    ds = exodiff.sweep(ROOT / "scenarios" / "sweep_stratum_corneum_thickness.toml", jobs=2)
    d = ds["delivered_dermis"].transpose("skin__layers__stratum_corneum__thickness", ...).values
    assert ds.attrs["failed_points"] == 0 and d.shape == (12, 3)
    assert np.all(np.diff(d, axis=0) < 0)


def test_uncertain_rates_sample_small_n():
    f = ROOT / "scenarios" / "sample_uncertain_rates.toml"
    sc = exodiff.load_scenario(f)
    table = dict(sc.user["sweep"], n=30)
    ds = exodiff.sweep(sc, jobs=2, definition=table)
    assert ds.sizes["point"] == 30 and ds.attrs["failed_points"] == 0
    sens = sensitivity(ds)
    assert sens["prcc"].sel(metric="target_uptake", parameter="formulation.uptake_rate") > 0.8
    assert sens["prcc"].sel(metric="systemic_fraction",
                            parameter="skin.layers.dermis.lymphatic_clearance_rate") > 0.5


def test_an_unreachable_scheduler_writes_nothing(tmp_path):
    """A bad --scheduler was refused only after points/ and sweep.json were made: now before anything is."""
    pytest.importorskip("distributed")
    f = _sweep_file(tmp_path, '"skin.layers.membrane.partition" = [0.5, 1.0]\n')
    out = tmp_path / "out"
    # in a process of its own: distributed's client leaves an event-loop thread behind in this one
    proc = subprocess.run([sys.executable, "-m", "exodiff", "sweep", str(f), "-o", str(out), "--quiet", "--no-plots",
                           "--scheduler", "not an address"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "--scheduler" in err[0] and "Traceback" not in proc.stderr, err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == [f.name]


def test_an_unreachable_scheduler_leaves_dask_as_it_was(tmp_path):
    """From Python: a Client that failed to connect had made itself dask's scheduler, and every later dask or
    xarray computation in the process failed ("no Client active"): the setting is put back."""
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    from exodiff.errors import UserError

    f = _sweep_file(tmp_path, '"skin.layers.membrane.partition" = [0.5, 1.0]\n')
    before = dask.config.get("scheduler", None)
    with pytest.raises(UserError, match="--scheduler"):
        exodiff.sweep(f, scheduler="not an address")
    assert dask.config.get("scheduler", None) == before
    ds = exodiff.sweep(f, jobs=1)  # the process still computes
    assert 2 in ds.sizes.values() and np.isfinite(ds["fraction_receptor"].values).all()


def test_a_seed_beyond_64_bits_is_refused_before_any_point(tmp_path, capsys):
    """A seed of 2^64 ran every point, then failed writing sweep.nc (a netCDF attribute holds 64 bits), leaving
    points/ behind."""
    f = _sweep_file(tmp_path, 'mode = "sample"\nn = 3\nseed = 18446744073709551616\n'
                              f'"{PART}" = {{ min = 0.1, max = 0.5 }}\n')
    out = tmp_path / "out"
    assert cli.main(["sweep", str(f), "-o", str(out), "--quiet", "--no-plots"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sweep.seed" in err[0] and "64 bits" in err[0], err
    assert not out.exists()


@pytest.mark.parametrize("option", ["--best", "--plot"])
def test_an_unknown_metric_is_refused_after_the_first_point(tmp_path, capsys, monkeypatch, option):
    """``--best`` / ``--plot`` of a metric the sweep does not have: refused once the first point has run, before
    the others and before anything is written (it was checked after the whole sweep)."""
    from exodiff.studies.sweep import point

    ran = []
    real = point.run_point
    monkeypatch.setattr(point, "run_point", lambda task: ran.append(task.index) or real(task))
    f = _sweep_file(tmp_path, f'"{PART}" = [0.1, 0.2, 0.3, 0.4]\n')
    out = tmp_path / "out"
    assert cli.main(["sweep", str(f), "-o", str(out), "--quiet", "--jobs", "1", option, "delivered_dermiss"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option in err[0] and "delivered_dermiss" in err[0], err
    assert ran == [0] and not out.exists()


def test_a_known_metric_checked_on_the_first_point_keeps_the_sweep_whole(tmp_path, capsys):
    """The first point, run early for the check, is written and combined like every other."""
    f = _sweep_file(tmp_path, f'"{PART}" = [0.1, 0.2, 0.3]\n')
    plain, checked = tmp_path / "plain", tmp_path / "checked"
    assert cli.main(["sweep", str(f), "-o", str(plain), "--quiet", "--no-plots", "--jobs", "1"]) == 0
    assert cli.main(["sweep", str(f), "-o", str(checked), "--quiet", "--no-plots", "--jobs", "1",
                     "--best", "fraction_receptor"]) == 0
    names = [sorted(p.name for p in (d / "points").iterdir()) for d in (plain, checked)]
    assert names[0] == names[1] and len(names[0]) == 3
    a, b = xr.open_dataset(plain / "sweep.nc"), xr.open_dataset(checked / "sweep.nc")
    try:
        for v in ("fraction_receptor", "fraction_membrane"):
            np.testing.assert_array_equal(a[v].values, b[v].values)
    finally:
        a.close(), b.close()
