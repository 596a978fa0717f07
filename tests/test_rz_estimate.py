"""The error estimate of a unit-cell (r-z) result: check runs, resolvable levels, and what they promise.

Every r-z result from :func:`exodiff.run` carries ``fraction_error``,
``loss_by_layer_error``, ``resolvable_level`` and ``below_resolvable_level``
as a 1D result does (docs/numerics_rz.md, "Error estimate"): a check run with
half the cells each way, and that grid again at a ten times looser tolerance.  Checked
here against references the estimate does not see: the 1D column (a channel
closed from the start is intact skin) solved to ``accuracy = 1e-8``, and the
same unit cell on a grid 4x finer each way at tolerance 1e-8.
"""

from __future__ import annotations

import numpy as np
import pytest

import exodiff
from exodiff.errors import SolverError
from exodiff.run import _run

#: a small molecule through microneedle channels (100 um deep, 50 um wide) into a three-layer skin with losses
SKIN = {"preset": "none", "bottom": "sink", "layers": {
    "stratum_corneum": {"thickness": "15 um", "diffusivity": "2e-14 m^2/s", "partition": 2.0},
    "viable_epidermis": {"thickness": "60 um", "diffusivity": "1e-11 m^2/s", "partition": 0.8,
                         "uptake_rate": "0.1 1/h"},
    "dermis": {"thickness": "225 um", "diffusivity": "2e-11 m^2/s", "partition": 0.5, "degradation_rate": "0.05 1/h",
               "clearance_rate": "0.5 1/h"}}}
COARSE = {"nr": 12, "nz": 40}


def scenario(resolution=COARSE, tolerance=1e-5, closure=None, method="microneedle", **simulation):
    s = {"skin": SKIN,
         "formulation": {"kind": "small_molecule", "molecular_weight": "300 g/mol", "log_kow": 1.0,
                         "free_diffusivity": "5e-10 m^2/s", "concentration": "1 mg/mL", "vehicle_thickness": "20 um"},
         "delivery": {"method": method},
         "simulation": {"duration": "4 h", "output_times": ["5 min", "15 min", "30 min", "1 h", "2 h", "4 h"],
                        **simulation}}
    if method == "microneedle":
        s["delivery"].update(channel_depth="100 um", channel_diameter="50 um", density="3183 1/cm^2")
        s["simulation"].update(resolution=resolution, tolerance=tolerance)
        if closure is not None:
            s["delivery"]["closure_time"] = closure
    return exodiff.load_scenario(s)


def test_a_closed_channel_states_errors_that_cover_the_1d_truth():
    """Closed from the start the unit cell is intact skin: its amounts against the 1D column at accuracy 1e-8.

    Every amount's true error is within its stated one (measured 0.02-0.42
    of it on this coarse grid, 0.02-0.64 on the auto grid), and the estimate is
    not vacuous: its median is within 10x of the true error.
    """
    ds = exodiff.run(scenario(closure="0 s"))
    ref = exodiff.run(scenario(method="topical", accuracy=1e-8))
    assert list(ds.compartment.values) == list(ref.compartment.values)
    true = np.abs(ds.fraction.values - ref.fraction.values)
    stated = ds.fraction_error.values
    assert np.max(ref.fraction_error.values) < 0.05 * np.max(true)  # the reference's own error is negligible
    seen = true > 1e-10
    assert np.count_nonzero(seen) > 30
    assert np.all(true[seen] <= stated[seen]), np.max(true[seen] / stated[seen])
    assert np.median(true[seen] / stated[seen]) > 0.1


@pytest.mark.parametrize("closure", [None, "30 min"])
def test_channel_amounts_are_right_to_10_percent_or_flagged(closure):
    """Open or closing channel on a coarse grid against the same cell 4x finer each way at tolerance 1e-8.

    An amount not flagged below its resolvable level is within 10 % of the
    reference (measured at most 3.3 %); the large ones are never flagged.
    """
    ds = exodiff.run(scenario(closure=closure))
    ref = _run(scenario({"nr": 48, "nz": 160}, 1e-8, closure), checks=False)
    a, r = ds.fraction.values, ref.fraction.values
    flagged = ds.below_resolvable_level.values.astype(bool)
    wrong = np.abs(a - r) > 0.1 * np.abs(r)
    assert not np.any(wrong & ~flagged), np.argwhere(wrong & ~flagged)
    assert not np.any(flagged & (np.abs(r) > 1e-3))
    assert "20x6 cells" in ds.attrs["resolvable_level_method"]


def test_sweep_points_and_fits_solve_without_check_runs():
    """A sweep point's (or a fit evaluation's) numbers come from the run alone, as in 1D: no check runs."""
    from exodiff.run import run_metrics

    metrics, ds = run_metrics(scenario())
    assert "fraction_error" not in ds and "resolvable_level_method" not in ds.attrs
    full = exodiff.run(scenario())
    assert "fraction_error" in full
    np.testing.assert_array_equal(ds.fraction.values, full.fraction.values)


def test_a_failing_check_run_leaves_the_result_without_levels(monkeypatch):
    """A check run the solver cannot finish: the result stands, without levels, saying why."""
    import exodiff.solvers.unit_cell as uc

    plain = _run(scenario(), checks=False)
    real = uc.integrate_rz
    calls = []

    def second_fails(p, *a, **kw):
        calls.append(p)
        if len(calls) == 2:
            raise SolverError("solver: time step collapsed at t = 0 h")
        return real(p, *a, **kw)

    monkeypatch.setattr(uc, "integrate_rz", second_fails)
    ds = exodiff.run(scenario())
    assert len(calls) == 2
    assert "fraction_error" not in ds and ds.attrs["check_run"].startswith("failed: solver: time step collapsed")
    np.testing.assert_array_equal(ds.fraction.values, plain.fraction.values)


@pytest.mark.parametrize("setting", ["smallest grid", "tolerance at the cap"])
def test_settings_at_their_limits_still_state_an_error(setting):
    """A grid that cannot be halved (4 x 8 cells) was checked against itself, and tolerance 0.1 against a
    "looser" run capped at 0.1: no error stated, 13 amounts off by up to 8x unflagged (an independent check).
    Now checked against twice the cells and a ten times tighter tolerance: right to 10 % or flagged."""
    if setting == "smallest grid":
        ds = exodiff.run(scenario({"nr": 4, "nz": 8}))
        ref = _run(scenario({"nr": 48, "nz": 160}, 1e-8), checks=False)
        assert "16x8 cells (/ 0.5)" in ds.attrs["resolvable_level_method"]
    else:
        ds = exodiff.run(scenario(tolerance=0.1))
        ref = _run(scenario(tolerance=1e-8), checks=False)  # the same grid: the time error alone
        assert "tolerance 0.01 (tighter)" in ds.attrs["resolvable_level_method"]
    a, r = ds.fraction.values, ref.fraction.values
    assert np.max(np.abs(a - r)) > 1e-4  # these settings do make errors
    flagged = ds.below_resolvable_level.values.astype(bool)
    wrong = np.abs(a - r) > 0.1 * np.abs(r)
    assert not np.any(wrong & ~flagged), np.argwhere(wrong & ~flagged)
