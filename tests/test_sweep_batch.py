"""The fast sweep point: metrics from raw arrays, point files packed directly, the batched path.

Each shortcut is checked against the path it replaces: the metrics of a 1D
point from the solver's arrays equal ``metrics.summary`` of the run's
Dataset (exactly; one implementation behind both), the packed point files
equal scipy's bytes, and batched points equal points solved one by one,
with the ineligible and failing points handed back and recorded.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import exodiff
from exodiff.results import metrics
from exodiff.studies.executors import BatchedExecutor, ProcessPool, make_executor
from exodiff.problem.layered import problem_from_scenario
from exodiff.results.dataset import metric_arrays, to_dataset
from exodiff.solvers.layered import integrate
from exodiff.studies.sweep.batch import eligible, run_batched
from exodiff.run import run_metrics
from exodiff.studies.sweep.point import (PointOutcome, PointTask, _encode_point_scipy, decode_point, encode_point,
                                         run_point)

ROOT = Path(__file__).resolve().parents[1]
SC = ROOT / "scenarios"
MIRNA = {"name": "miR-21", "loading": "2e-8 ng/particle", "release_rate": "0.05 1/h",
         "molecular_weight": "7000 g/mol", "log_kow": -5, "half_life": "30 min", "uptake_rate": "0.2 1/h"}
SHORT = {"simulation.duration": "6 h", "simulation.output_interval": "30 min", "output.profile_times": ["1 h"]}


def _same(a: dict, b: dict, rtol: float = 0.0) -> None:
    assert list(a) == list(b)
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, str) or isinstance(y, str):
            assert x == y, k
        elif math.isnan(x) or math.isnan(y):
            assert math.isnan(x) and math.isnan(y), (k, x, y)
        else:
            assert x == pytest.approx(y, rel=rtol, abs=0.0), (k, x, y)


# scenarios of every kind of 1D ledger: constant donor, finite film with
# evaporation, wash-off, size classes, a released cargo (with wash-off)
CASES = {
    "membrane (constant donor)": (SC / "membrane_validation.toml", {}),
    "caffeine (finite, evaporation)": (SC / "topical_caffeine.toml", SHORT),
    "msc exosome (wash-off)": (SC / "topical_msc_exosome.toml", {}),
    "nta distribution (size classes)": (SC / "topical_nta_distribution.toml", SHORT),
    "exosome + cargo, wash-off": (SC / "topical_msc_exosome.toml",
                                  {**SHORT, "formulation.cargo": MIRNA, "formulation.wash_off_time": "3 h"}),
    "lognormal sizes, target epidermis": (SC / "topical_msc_exosome.toml",
                                          {**SHORT, "formulation.gsd": 1.4,
                                           "formulation.target_layer": "viable_epidermis"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_metrics_from_raw_arrays_equal_the_dataset_summary(case, tmp_path):
    path, over = CASES[case]
    sc = exodiff.load_scenario(path, over)
    problem = problem_from_scenario(sc.resolved)
    raw = integrate(problem)
    target = sc.resolved["formulation"].get("target_layer")
    times = [1.0, 2.5]
    ds = to_dataset(problem, raw, scenario=sc)
    expected = metrics.summary(ds, target, times)
    _same(metrics.summary_of_arrays(metric_arrays(problem, raw), target, times), expected, rtol=1e-12)
    # ... and the sweep point's own path (which skips the Dataset) gives them too
    got, none = run_metrics(sc)
    assert none is None
    # a sweep point has no check run, so no resolvable levels (docs/sweeps.md): its numbers are those of the
    # run's Dataset without the levels (with them, an amount under its level would read as words)
    full = exodiff.run(sc)
    _same(got, metrics.summary(full.drop_vars(["fraction_error", "loss_by_layer_error"], errors="ignore"), target),
          rtol=1e-12)
    # a stored result reads back to the same metrics
    from exodiff.report.outputs import write_netcdf

    write_netcdf(ds, tmp_path / "r.nc")
    _same(metrics.summary(xr.load_dataset(tmp_path / "r.nc"), target, times), expected)


def test_the_array_helpers_keep_their_dataset_behaviour():
    sc = exodiff.load_scenario(SC / "topical_msc_exosome.toml", {**SHORT, "formulation.cargo": MIRNA})
    ds = exodiff.run(sc)
    view = metrics.species_view(ds, "cargo")
    d = metrics.delivered(view)
    s = metrics.summary(ds)
    assert d["dermis"][-1] == s["cargo_delivered_dermis"]
    assert metrics.mean_penetration_depth(view) == s["cargo_mean_penetration_depth_um"]
    # delivered to the top layer = everything that left the vehicle (what is not in the vehicle or washed off)
    f = view["fraction"]
    np.testing.assert_allclose(d["stratum_corneum"], 1.0 - f.sel(compartment="vehicle").values
                               - f.sel(compartment="removed").values, atol=1e-12)


def test_packed_point_files_are_scipys_bytes(tmp_path):
    sc = exodiff.load_scenario(SC / "membrane_validation.toml")
    ok = run_point(PointTask(3, sc, {"skin.layers.membrane.partition": 0.5}, "abc", encode=False))
    cases = [ok,
             PointOutcome(index=7, status="failed", error="solver: non-finite é", error_kind="user",
                          parameters={"a": "1 um"}, scenario_hash="h", wall_time_s=0.25),
             PointOutcome(index=8, status="ok", metrics={"x_h": float("nan"), "target_layer": "dermis", "y": None}),
             PointOutcome(index=9, status="failed")]
    for out in cases:
        data = encode_point(out)
        assert data == _encode_point_scipy(out)
        f = tmp_path / f"p{out.index}.nc"
        f.write_bytes(data)
        back = decode_point(f)
        assert back.index == out.index and back.status == out.status and back.error == out.error
        want = {k: (math.nan if v is None else v) for k, v in out.metrics.items()}
        _same(dict(sorted(back.metrics.items())), dict(sorted(want.items())))
        with xr.open_dataset(f) as ds:
            assert ds.attrs["status"] == out.status


# --------------------------------------------------------------------------
# The batched path

MEMBRANE_GRID = {"mode": "grid",
                 "skin.layers.membrane.thickness": ["40 um", "100 um", "250 um"],
                 "skin.layers.membrane.partition": [0.3, 1.0],
                 # different cell counts: the batch is ragged, not one shape
                 "simulation.resolution.cells": [12, 40]}


def _tasks(p):
    return [PointTask(i, p.scenarios[i], p.points[i].overrides, p.hash, encode=True) for i in range(p.size)]


def _by_index(outs):
    return {o.index: o for o in outs}


def _count_handed_back(monkeypatch) -> list:
    """Record the points the batch hands to run_point."""
    import exodiff.studies.sweep.batch as batch

    seen = []

    def counting(task):
        seen.append(task.index)
        return run_point(task)

    monkeypatch.setattr(batch, "run_point", counting)
    return seen


def test_batched_points_equal_points_solved_one_by_one(monkeypatch):
    p = exodiff.sweep.plan(SC / "membrane_validation.toml", MEMBRANE_GRID)
    tasks = _tasks(p)
    one = _by_index(run_point(t) for t in tasks)
    handed_back = _count_handed_back(monkeypatch)
    for threads, chunk, overlap in ((2, 5, True), (1, 64, False), (2, None, True)):
        got = _by_index(run_batched(tasks, threads=threads, chunk=chunk, overlap=overlap))
        assert handed_back == []  # every point solved by the batch kernel
        assert sorted(got) == list(range(p.size))
        for i, o in got.items():
            assert o.ok and o.metrics == one[i].metrics  # the same bits
            assert o.data is not None and decode_point_bytes(o.data).metrics.keys() == one[i].metrics.keys()


def test_a_batch_gives_the_calling_thread_its_thread_count_back():
    """Numba's thread count is per calling thread: a batch asked for one thread set it and left it there, and
    a forced-parallel unit cell run later in the same thread ran on one thread (its reductions split
    otherwise, so its steps differed from the same run elsewhere in the test suite)."""
    import numba

    p = exodiff.sweep.plan(SC / "membrane_validation.toml", MEMBRANE_GRID)
    before = numba.get_num_threads()
    assert before >= 2  # the machines this runs on have two cores; with one, nothing here could change
    got = list(run_batched(_tasks(p)[:3], threads=1, chunk=None, overlap=False))
    assert len(got) == 3
    assert numba.get_num_threads() == before


def decode_point_bytes(data: bytes):
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".nc") as fh:
        fh.write(data)
        fh.flush()
        return decode_point(fh.name)


def test_batch_hands_back_ineligible_and_failing_points_and_records_the_failures(monkeypatch):
    base = exodiff.load_scenario(SC / "topical_msc_exosome.toml", SHORT)
    overrides = [{"formulation.wash_off_time": "6 h"},
                 {"formulation.gsd": 1.4},  # size classes: several columns
                 {"formulation.cargo": MIRNA},  # a tracked cargo: several columns
                 {"skin.layers.dermis.diffusivity": "1e199 m^2/s"},  # the solver fails (non-finite)
                 {"formulation.wash_off_time": "2 h"},
                 {"skin.layers.dermis.thickness": "-1 mm"}]  # the problem cannot be built
    tasks = []
    for i, ov in enumerate(overrides):
        try:
            sc = base.replace(ov)
        except exodiff.errors.ScenarioError:
            continue  # refused before any run: not a point of a sweep
        tasks.append(PointTask(i, sc, ov, "h", encode=True))
    assert [eligible(t.scenario) for t in tasks][:5] == [True, False, False, True, True]
    one = _by_index(run_point(t) for t in tasks)
    handed_back = _count_handed_back(monkeypatch)
    got = _by_index(run_batched(tasks, threads=2, chunk=3))
    # size classes and cargo before the kernel, the failed solve after it
    assert sorted(handed_back) == [1, 2, 3]
    assert sorted(got) == sorted(one)
    for i in one:
        assert got[i].status == one[i].status and got[i].error == one[i].error
        assert got[i].metrics == one[i].metrics
    assert not got[3].ok and got[3].error_kind == "user" and "non-finite" in got[3].error
    assert got[3].data is not None and decode_point_bytes(got[3].data).status == "failed"
    assert all(got[i].ok for i in (0, 1, 2, 4))


def test_sweep_chooses_the_batch_for_1d_points_and_paths_agree(tmp_path):
    sc = exodiff.load_scenario(SC / "membrane_validation.toml")
    p = exodiff.sweep.plan(sc, MEMBRANE_GRID)
    assert exodiff.sweep.use_batch(p, jobs=2)
    assert not exodiff.sweep.use_batch(p, jobs=1) and not exodiff.sweep.use_batch(p, jobs=2, dask_local=2)
    assert not exodiff.sweep.use_batch(p, jobs=2, save_profiles=True)
    rz = exodiff.sweep.plan(SC / "sweep_microneedle_length.toml")
    assert not exodiff.sweep.use_batch(rz, jobs=2)
    assert isinstance(make_executor(2, batch=True), BatchedExecutor)
    assert isinstance(make_executor(2, batch=False), ProcessPool)
    with pytest.raises(exodiff.errors.UserError):
        make_executor(None, dask_local=2, batch=True)
    batched = exodiff.sweep(p, jobs=2, directory=tmp_path / "b")
    pool = exodiff.sweep(p, jobs=2, batch=False, directory=tmp_path / "p")
    serial = exodiff.sweep(p, jobs=1)
    drop = (lambda ds: ds.drop_attrs()) if hasattr(xr.Dataset, "drop_attrs") else (lambda ds: ds.assign_attrs({}))
    xr.testing.assert_equal(drop(batched), drop(pool))
    xr.testing.assert_equal(drop(batched), drop(serial))
    assert len(list((tmp_path / "b" / "points").glob("p*.nc"))) == p.size
    xr.testing.assert_equal(drop(xr.load_dataset(tmp_path / "b" / "sweep.nc")), drop(xr.load_dataset(tmp_path / "p" / "sweep.nc")))


def test_cli_batch_options(tmp_path, capsys):
    from exodiff import cli

    f = tmp_path / "sw.toml"
    f.write_text((SC / "membrane_validation.toml").read_text()
                 + '\n[sweep]\n"skin.layers.membrane.partition" = [0.5, 1.0]\n')
    for opt in ("--batch", "--no-batch"):
        out = tmp_path / opt.strip("-")
        assert cli.main(["sweep", str(f), "-o", str(out), "-j", "2", opt, "--quiet", "--no-plots"]) == 0
        assert len(list((out / "points").glob("p*.nc"))) == 2
    a, b = (xr.load_dataset(tmp_path / d / "sweep.nc") for d in ("batch", "no-batch"))
    xr.testing.assert_equal(a.drop_vars("error"), b.drop_vars("error"))
    capsys.readouterr()
    assert cli.main(["sweep", str(f), "-o", str(tmp_path / "x"), "--dask-local", "2", "--batch", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--batch" in err and len(err.strip().splitlines()) == 1


def test_profiles_of_a_cargo_sweep_are_the_vesicles(tmp_path):
    """--save-profiles with a tracked cargo kept a (time, species, compartment) array the point file cannot hold."""
    sc = exodiff.load_scenario(SC / "topical_msc_exosome.toml", {**SHORT, "formulation.cargo": MIRNA})
    ds = exodiff.sweep(sc, jobs=1, definition={"mode": "zip", "formulation.wash_off_time": ["2 h", "3 h"]},
                       save_profiles=True, directory=tmp_path / "o")
    assert ds.attrs["failed_points"] == 0 and ds["fraction"].dims == ("point", "time", "compartment")
    run = exodiff.run(sc.replace({"formulation.wash_off_time": "3 h"}))
    np.testing.assert_array_equal(ds["fraction"].isel(point=1).values, run["fraction"].sel(species="vesicle").values)
    assert "cargo_delivered_target" in ds
