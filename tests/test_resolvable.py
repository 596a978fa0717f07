"""Tiny amounts: right to 10 % or flagged "below resolvable level" (issue 13).

References are analytic:

* the erfc front of a semi-infinite medium under a constant surface
  concentration, amount beyond depth z: ``C 2 sqrt(D t) ierfc(z / (2 sqrt(D t)))``
  (Crank 1975, eq. 2.5 integrated; ``ierfc(x) = exp(-x^2) (1/sqrt(pi) - x erfcx(x))``);
* the layered medium under a finite, well-mixed film: the Laplace-domain
  solution of :mod:`layered_laplace`, inverted on a Talbot contour whose
  size M puts its real crossing near the saddle point of the front's tail
  (``M ~ 2.5 x^2``, ``x^2`` the tail's exponent), checked here against the
  erfc front down to 1e-75 and against itself at 1.5 M.

The runs go through :func:`exodiff.solvers.layered.integrate_estimated` and
:func:`exodiff.results.dataset.to_dataset`, as ``exodiff run`` does.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erfcx

from exodiff.problem.layered import Layer, Problem1D
from exodiff.results.dataset import to_dataset
from exodiff.results.metrics import is_below, summary
from exodiff.solvers.layered import integrate_estimated
from layered_laplace import laplace_amounts, talbot

H = 3600.0
T_END = 48.0 * H
TIMES = np.array([1.0, 6.0, 12.0, 24.0, 48.0]) * H
FILM = 20e-6


def ierfc(x: float) -> float:
    """``integral_x^inf erfc``: from ``erfcx`` below 30 (the difference loses about ``log10(2 x^2)`` digits,
    3 at 13, 4 at 30), beyond it the asymptotic series (next term ``10395 y^5``: 3e-17 at 30).  The series
    was used from 5, where its truncation is 2.8e-5 relative; the erfc-front test hid that while it
    compared with ``pytest.approx``'s absolute tolerance of 1e-12."""
    if x < 30.0:
        return math.exp(-x * x) * (1.0 / math.sqrt(math.pi) - x * float(erfcx(x)))
    # 1/sqrt(pi) - x erfcx(x) = (1/sqrt(pi)) * (1/(2x^2)) * (1 - 3/(2x^2) + 15/(4x^4) - ...)
    y = 1.0 / (2.0 * x * x)
    series = 1.0 - 3.0 * y + 15.0 * y * y - 105.0 * y ** 3 + 945.0 * y ** 4
    return math.exp(-x * x) / math.sqrt(math.pi) * y * series


def talbot_size(x2: float) -> int:
    return int(max(32, math.ceil(2.5 * x2)))


def sc_stack(d_sc: float):
    """A stratum corneum of diffusivity ``d_sc`` over a viable epidermis and a dermis (the intact-skin vesicle case)."""
    return (Layer("stratum_corneum", 15e-6, d_sc, 1.0),
            Layer("viable_epidermis", 80e-6, 1e-12, 1.0, degradation_rate=1e-5),
            Layer("dermis", 1.2e-3, 1e-11, 1.0, clearance_rate=1e-4))


def dermis_reference(layers) -> float:
    """Dermis fraction of the dose at 48 h, analytic (Laplace + Talbot), and its agreement at 1.5 M."""
    F = laplace_amounts(layers, FILM, 1.0)
    x2 = layers[0].thickness ** 2 / (4.0 * layers[0].diffusivity * T_END)
    M = talbot_size(x2)
    a, b = (talbot(lambda s: F(s)[..., 3], T_END, m) / FILM for m in (M, int(1.5 * M)))
    assert abs(a - b) <= 1e-6 * abs(a), (a, b)
    return a


def run(layers, **kw):
    p = Problem1D.from_layers(layers, output_times=TIMES, vehicle_thickness=FILM, **kw)
    return p, to_dataset(p, integrate_estimated(p))


@pytest.mark.parametrize("x", [1.5, 5.0, 13.0])
def test_talbot_reference_matches_the_erfc_front(x):
    """Semi-infinite medium (layer B far thicker than the front, film 1 km: a constant donor to 1e-8):
    amount beyond depth z = 2 x sqrt(D t) against the erfc front, relative 1e-6 with no absolute floor
    (measured 3e-8 .. 1.9e-7; the values go from 9e-3 down to 7e-77 of 2 C sqrt(D t))."""
    D, t = 1e-12, T_END
    ell = 2.0 * math.sqrt(D * t)
    z = x * ell
    layers = (Layer("a", z, D, 1.0), Layer("b", z + 30.0 * ell, D, 1.0))
    F = laplace_amounts(layers, 1e3, 1.0, bottom="no_flux")
    got = talbot(lambda s: F(s)[..., 2], t, talbot_size(x * x))
    exact = ell * ierfc(x)
    assert got == pytest.approx(exact, rel=1e-6, abs=0.0)


def test_semi_infinite_deep_amount_is_right_to_10_percent_or_flagged():
    """exodiff on the semi-infinite erfc front (constant donor, no-flux bottom far away): the amount beyond
    z at 48 h is 1.1e-12 of ``C 2 sqrt(D t)``.  Every setting either reports it within 10 % or flags it; the
    fine one reports it (measured: within 3.7 %, any integrator; 13-19 % at 160 cells, flagged).

    ``pytest.approx``'s default absolute tolerance (1e-12) is switched off: these amounts are far below it,
    and with it this test passed with the amount scaled wrongly (by ``amount_scale`` instead of the dose
    the fractions are of, 141x).  The layered test below likewise."""
    D, t = 1e-13, T_END
    ell = 2.0 * math.sqrt(D * t)
    x = 4.75
    z = x * ell
    layers = (Layer("a", z, D, 1.0), Layer("b", 6.0 * ell, D, 1.0))
    exact = ell * ierfc(x)
    assert 1e-12 < exact / ell < 2e-12
    reported = {}
    for cells, tol in ((40, 1e-5), (160, 1e-6), (320, 1e-8)):
        p, ds = run(layers, vehicle="infinite", bottom="no_flux", resolution=[cells, cells], tolerance=tol)
        frac = float(ds["fraction"].sel(compartment="b").values[-1])
        got = frac * p.dose  # fractions are of the dose (an infinite donor's: its film's content)
        below = bool(ds["below_resolvable_level"].sel(compartment="b").values[-1])
        if not below:
            assert got == pytest.approx(exact, rel=0.1, abs=0.0), (cells, tol, got / exact)
        reported[(cells, tol)] = not below
    assert reported[(320, 1e-8)]


def test_layered_deep_amount_of_1e12_is_right_to_10_percent_or_flagged():
    """Intact-skin-like stack, finite film: 2.0e-12 of the dose in the dermis at 48 h (Laplace reference).

    Grids 80..320 cells per layer, tolerances 1e-5..1e-8: wherever the result is not flagged it is within
    10 % (measured, unflagged: ESDIRK4 within 6.1 %, TR-BDF2 within 5 %), and the finest setting is not
    flagged.  The default grid ("auto", tolerance 1e-5: 4.8e-12 with ESDIRK4, 2.4x too large; 5.4e-12
    with TR-BDF2) is flagged.
    """
    layers = sc_stack(1.6e-17)
    ref = dermis_reference(layers)
    assert 1e-12 < ref < 3e-12
    resolved = []
    for cells in (80, 160, 320):
        for tol in (1e-5, 1e-6, 1e-7, 1e-8):
            _, ds = run(layers, resolution=[cells] * 3, tolerance=tol)
            got = float(ds["fraction"].sel(compartment="dermis").values[-1])
            if not ds["below_resolvable_level"].sel(compartment="dermis").values[-1]:
                assert got == pytest.approx(ref, rel=0.1, abs=0.0), (cells, tol, got, ref)
                resolved.append((cells, tol))
    assert (320, 1e-8) in resolved
    _, ds = run(layers)
    assert ds["below_resolvable_level"].sel(compartment="dermis").values[-1] == 1


@pytest.mark.parametrize("integrator", ["esdirk4", "tr-bdf2"])
def test_space_and_time_errors_do_not_cancel_in_the_estimate(integrator):
    """The setting where one check run changing both grid and tolerance under-stated the error 91-fold
    (320 cells per layer, tol 1e-5: 6.1 % error, estimate 0.07 %): with a space and a time check the estimate
    covers the true error there and on every grid at that tolerance (true / estimate measured 0.06-0.69)."""
    from dataclasses import replace

    layers = sc_stack(1.6e-17)
    ref = dermis_reference(layers)
    for cells in (80, 160, 320):
        p, _ = run(layers, resolution=[cells] * 3, tolerance=1e-5)
        p = replace(p, integrator=integrator)
        ds = to_dataset(p, integrate_estimated(p))
        got = float(ds["fraction"].sel(compartment="dermis").values[-1])
        est = float(ds["fraction_error"].sel(compartment="dermis").values[-1])
        assert abs(got - ref) < est, (cells, got, ref, est)


def test_physically_nothing_is_not_reported_as_a_number():
    """An SC that passes nothing: the dermis holds 4.8e-76 of the dose at 48 h (Laplace; Talbot M = 407 and
    610 agree).  The default grid computes ~5e-40 with ESDIRK4, ~6e-42 with TR-BDF2 (numerical diffusion
    through 52 cells); the result flags it, and the summary says "below resolvable level" instead of a number for it and the metrics built
    on it."""
    layers = sc_stack(2e-18)
    ref = dermis_reference(layers)
    assert ref < 1e-70
    _, ds = run(layers)
    got = float(ds["fraction"].sel(compartment="dermis").values[-1])
    assert got > 1e30 * ref  # the artefact the flag is for
    assert ds["below_resolvable_level"].sel(compartment="dermis").values[-1] == 1
    assert ds["resolvable_level"].sel(compartment="dermis").values[-1] > 1e3 * got
    s = summary(ds)
    for key in ("fraction_dermis", "amount_dermis", "delivered_dermis", "delivered_target", "target_peak_fraction"):
        assert is_below(s[key]), (key, s[key])
    assert isinstance(s["fraction_stratum_corneum"], float)  # what is resolved stays a number


def test_large_amounts_are_never_flagged():
    """A leaky SC (most of the dose moves), default settings: no amount above 1 % of the dose is flagged; the
    levels are at most 1e-3 of the dose (10 x the estimated error, which is 1e-4 at most: default grid and
    tolerance 1e-5)."""
    _, ds = run(sc_stack(2e-15))
    frac = ds["fraction"].values
    assert np.count_nonzero(np.abs(frac) > 1e-2) > 10
    assert not np.any(ds["below_resolvable_level"].values[np.abs(frac) > 1e-2])
    assert np.max(ds["resolvable_level"].values) < 2e-3


def test_a_failing_check_run_leaves_the_result_without_levels(monkeypatch):
    """The check run only states levels: if it fails, the run's own result is returned unchanged."""
    import exodiff.solvers.layered as L
    from exodiff.errors import SolverError

    layers = sc_stack(2e-15)
    p = Problem1D.from_layers(layers, output_times=TIMES, vehicle_thickness=FILM)
    plain = L.integrate(p)
    real = L.integrate

    def failing(problem, **kw):
        if problem.grid.n < p.grid.n:
            raise SolverError("step size collapsed")
        return real(problem, **kw)

    monkeypatch.setattr(L, "integrate", failing)
    raw = L.integrate_estimated(p)
    assert raw.companion is None and raw.stats["check_run"].startswith("failed")
    np.testing.assert_array_equal(raw.u, plain.u)
    assert "resolvable_level" not in to_dataset(p, raw)


@pytest.mark.parametrize("tolerance", [1e-4, 1e-5])
def test_amounts_left_after_a_wash_off_are_right_or_flagged(tolerance):
    """The ``msc_exosome`` preset on the forearm, washed off at 6 h: what stays in the SC (5e-10 of the dose at
    6 h, 4e-14 at 48 h) is right to 10 % or flagged at every hour, against a reference at tol 1e-10 on the same
    grid and on twice the cells (Richardson).  With an absolute tolerance that was a fixed share of the dose,
    every amount after the wash sat five orders below it, the steps ran free and 6 (tol 1e-5) and 30 (tol 1e-4)
    of the 49 hourly amounts were more than 10 % off (up to 11x) and not flagged, because a looser check run
    made the same error; the tolerance now follows what the column holds (docs/numerics.md)."""
    import exodiff
    from dataclasses import replace

    from exodiff.problem.layered import problem_from_scenario
    from exodiff.solvers.common import share_schedule
    from exodiff.solvers.layered import integrate
    from exodiff.solvers.ledger import tissue_amounts

    sc = exodiff.load_scenario({
        "skin": {"preset": "forearm"},
        "formulation": {"preset": "msc_exosome", "dose": "1e10 particles/cm^2", "vehicle_thickness": "20 um",
                        "wash_off_time": "6 h"},
        "simulation": {"duration": "48 h", "output_interval": "1 h", "tolerance": tolerance}})
    p = problem_from_scenario(sc.resolved)
    ds = to_dataset(p, integrate_estimated(p), sc)
    sc_frac = ds["fraction"].sel(compartment="stratum_corneum").values
    flagged = ds["below_resolvable_level"].sel(compartment="stratum_corneum").values.astype(bool)
    exact_t = integrate(replace(p, tolerance=1e-10))
    fine = p.with_grid(p.grid.refined(2))
    share_schedule(p, fine)
    exact_f = integrate(replace(fine, tolerance=1e-10))
    a_c = tissue_amounts(p, exact_t)[:, 0] / p.dose
    a_f = tissue_amounts(fine, exact_f)[:, 0] / p.dose
    ref = (4.0 * a_f - a_c) / 3.0
    after = p.output_times > 6 * 3600.0
    assert np.all(ref[after] > 0) and ref[after].min() < 1e-13 * 1.0 and ref[after].max() > 1e-10  # tiny, decaying
    off = np.abs(sc_frac - ref) > 0.1 * np.abs(ref)
    assert not np.any(off & ~flagged), np.flatnonzero(off & ~flagged)
    assert np.count_nonzero(~flagged[after]) > 0.9 * np.count_nonzero(after)  # and stated as numbers, not flagged


@pytest.mark.parametrize("setting", ["4 cells per layer", "tolerance 0.1"])
def test_settings_at_their_limits_still_state_an_error(setting):
    """4 cells per layer was checked against itself (coarsening stops at 4) and tolerance 0.1 against a loose run
    capped at 0.1: the estimate left out the space or the time error.  Now twice the cells and a ten times
    tighter tolerance: the dermis at 48 h right to 10 % of the analytic value or flagged, and the estimate
    covers the error (true / estimate measured 0.67 and 0.37)."""
    layers = sc_stack(3e-15)
    ref = dermis_reference(layers)
    kw = {"resolution": [4, 4, 4]} if setting == "4 cells per layer" else {"tolerance": 0.1}
    p, ds = run(layers, **kw)
    method = ds.attrs["resolvable_level_method"]
    assert (f"{2 * p.grid.n} cells" in method) if kw.get("resolution") else ("tolerance 0.01" in method)
    got = float(ds["fraction"].sel(compartment="dermis").values[-1])
    est = float(ds["fraction_error"].sel(compartment="dermis").values[-1])
    flagged = bool(ds["below_resolvable_level"].sel(compartment="dermis").values[-1])
    assert abs(got - ref) > 1e-6 * abs(ref)  # these settings do make an error
    assert abs(got - ref) < est, (got, ref, est)
    assert flagged or abs(got - ref) <= 0.1 * abs(ref)


def test_every_resolved_amount_of_a_shipped_vesicle_run_is_within_its_stated_error():
    """``scenarios/topical_plant_exosome.toml`` (48 h, half-hourly outputs) against the same scenario on 400
    cells per layer at tolerance 1e-9: every amount not flagged, at every output, is within its stated error.

    The film washed off at 12 h keeps all but ~1e-16 of the dose: the runs of the estimate computed its
    amount (and the ``removed`` one) to the same last bit and stated 0, where it is a round-off of 3e-16 off
    (true / stated 1e284).  Every error now carries 8 eps of its amount (measured worst ratio 0.73, in the
    viable epidermis)."""
    from pathlib import Path

    import exodiff

    path = Path(__file__).resolve().parents[1] / "scenarios" / "topical_plant_exosome.toml"
    user = exodiff.load_scenario(path).user
    ds = exodiff.run(exodiff.load_scenario(user))
    fine = dict(user, simulation={**user.get("simulation", {}), "tolerance": 1e-9, "resolution": {"cells": 400}})
    ref = exodiff.run(exodiff.load_scenario(fine))["fraction"].values
    got, est = ds["fraction"].values, ds["fraction_error"].values
    resolved = ds["below_resolvable_level"].values == 0
    assert np.count_nonzero(resolved & (got != 0.0)) > 300
    ratio = np.where(resolved, np.abs(got - ref) / np.maximum(est, 1e-300), 0.0)
    assert ratio.max() < 1.0, (np.unravel_index(np.argmax(ratio), got.shape), ratio.max())


def test_a_front_inside_the_first_cells_is_covered_by_the_third_grid():
    """A slow SC (D 2e-18 m^2/s, K = 1) under a film: its front stays inside the first cells for hours, the
    uptake goes as 1/dz and the half grid's difference under-stated the vehicle's error (4.6x at 1 h, 1.9x at
    3 h: the vehicle loses 0.5 % of the dose to the SC, off by 2.5e-3).  The third grid shows the order
    (p = -0.8 at 1 h) and the estimate covers every amount at every output against the Laplace solution."""
    layers = sc_stack(2e-18)
    p, ds = run(layers)
    assert "show an order -1.5 <= p < 1" in ds.attrs["resolvable_level_method"]
    F = laplace_amounts(layers, FILM, 1.0)
    for j, name in enumerate(("vehicle", "stratum_corneum"), start=0):
        ref = np.array([talbot(lambda s: F(s)[..., j], t, 48) / FILM for t in TIMES])
        got = ds["fraction"].sel(compartment=name).values[1:]
        est = ds["fraction_error"].sel(compartment=name).values[1:]
        assert np.all(np.abs(got - ref) < est), (name, np.abs(got - ref) / est)
    got = ds["fraction"].sel(compartment="vehicle").values[1]
    assert abs(got - (1.0 - 4.77e-3)) > 2e-3  # the error is there: 2.5e-3 of the dose at 1 h


def test_the_pre_asymptotic_factor_follows_the_observed_order():
    from exodiff.results.dataset import pre_asymptotic_factor

    d1 = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -1.0, 1.0, 0.0, 1e-3])
    d2 = np.array([4.0, 2.0, 1.0, 0.5, 2.0 ** -1.5, 1e-3, -2.0, -4.0, 1.0, 1.0])
    m = pre_asymptotic_factor(d1, d2)
    # p = 2, 1, 0, -1, -1.5 (the lowest read), -10 (a crossing, not an order), then no order to read
    np.testing.assert_allclose(m, [1.0, 1.0, 4.0, 16.0, 32.0, 1.0, 1.0, 1.0, 1.0, 1.0], rtol=1e-12)
    # scale-free, and the same for both signs
    np.testing.assert_array_equal(pre_asymptotic_factor(3e-17 * d1, 3e-17 * d2), m)
    np.testing.assert_array_equal(pre_asymptotic_factor(-d1, -d2), m)
