"""The plasma model solved in its modes (exodiff/results/systemic.py) against an independent matrix exponential.

:func:`exodiff.results.systemic.plasma` diagonalises the one- and
two-compartment models in closed form and runs each mode as a first-order
recurrence (a prefix scan).  The reference here is the plain statement of the
model, :meth:`PKModel.matrix` (the system augmented by the constant input
rate), stepped interval by interval with ``scipy.linalg.expm``: a different
method, so agreement to round-off checks the eigenvalues, the residues, the
``phi`` functions and the scan.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import expm

from exodiff.results.systemic import PHI_SERIES_BELOW, PKModel, _linear_recurrence, _phis, input_shape, plasma

H = 3600.0


def expm_reference(times, absorbed, pk):
    """``(A_c, A_p, E)`` at each output by the matrix exponential of the augmented system, per interval."""
    dt = np.diff(times)
    rate = np.diff(absorbed) / dt
    m = pk.matrix()
    x = np.zeros((times.size, 4))
    x[0, 0] = absorbed[0]
    for i in range(dt.size):
        x[i, 3] = rate[i]
        x[i + 1] = expm(m * dt[i]) @ x[i]
    return x[:, 0], x[:, 1], x[:, 2]


def assert_same_blood(pl, reference, scale):
    """``pl``'s ``(A_c, A_p, E)`` within 1e-12 of ``scale`` of ``reference``'s, and its balance to round-off."""
    ac, ap, e = reference
    assert np.max(np.abs(pl.central - ac)) < 1e-12 * scale
    assert np.max(np.abs(pl.peripheral - ap)) < 1e-12 * scale
    assert np.max(np.abs(pl.eliminated - e)) < 1e-12 * scale
    assert np.max(np.abs(pl.balance_error())) < 1e-13


# rates from comparable to six decades apart, with k10 + k12 - k21 of either sign (both cancellation-free branches)
MODELS = [
    PKModel("one_compartment", 0.04, 5e-3 / H),
    PKModel("two_compartment", 0.01, 5e-3 / H, 0.03, 10e-3 / H),
    PKModel("two_compartment", 0.005, 1e-6 / H, 0.5, 50e-3 / H),  # fast distribution, very slow elimination
    PKModel("two_compartment", 0.05, 20e-3 / H, 0.001, 1e-6 / H),  # k21 >> k10 + k12 (d < 0)
    PKModel("two_compartment", 0.002, 40e-3 / H, 1.0, 1e-7 / H),  # elimination six decades above k21
]


@pytest.mark.parametrize("pk", MODELS, ids=lambda p: f"{p.model}-{p.clearance * H * 1e3:g}Lph")
def test_plasma_matches_matrix_exponential(pk):
    """Irregular outputs (1 s to 6 h apart), an input with pauses and a nonzero start: the modes agree with
    ``expm`` to 1e-12 of the largest amount (both are exact; the difference is round-off)."""
    rng = np.random.default_rng(11)
    t = np.cumsum(np.r_[0.0, rng.uniform(1.0, 6 * H, 400)])
    absorbed = np.cumsum(np.r_[0.3, rng.exponential(1.0, 400) * (rng.uniform(size=400) > 0.4)])
    assert_same_blood(plasma(t, absorbed, pk), expm_reference(t, absorbed, pk), absorbed.max())


@pytest.mark.parametrize("pk", MODELS[1:], ids=lambda p: f"{p.clearance * H * 1e3:g}Lph")
def test_modes_are_the_eigenpairs(pk):
    """The eigenvalues are the roots of ``s^2 + (k10 + k12 + k21) s + k10 k21`` (Vieta: sum and product, each
    to round-off, so the slow root keeps its relative accuracy, which a general eigensolver does not: its error
    is round-off of the fast one), the residues reproduce the identity at t = 0 (an input starts in the
    central compartment) and ``M w = sum lambda_i w_i`` (the derivative at 0)."""
    lam, wc, wp = pk.modes()
    m = pk.matrix()[:2, :2]
    k10, k12, k21 = pk.clearance / pk.central_volume, m[1, 0], m[0, 1]
    assert abs(lam.sum() + k10 + k12 + k21) < 1e-14 * (k10 + k12 + k21)
    assert abs(lam.prod() - k10 * k21) < 1e-14 * k10 * k21
    assert np.all(lam < 0) and lam[0] != lam[1]
    assert abs(wc.sum() - 1.0) < 1e-14 and abs(wp.sum()) < 1e-14 * np.abs(wp).max()
    assert np.allclose(m @ np.array([1.0, 0.0]), [np.sum(lam * wc), np.sum(lam * wp)], rtol=1e-12,
                       atol=1e-12 * np.abs(m).max())


def test_phi_functions_across_the_series_switch():
    """``phi_1 .. phi_4`` against long-double references on both sides of the switch (``|z| = 2``) and at 0.

    The reference: the Taylor series in long double (60 terms, at most 2^60/60! ~ 1e-64 left out) where
    ``|z| <= 4``, the recurrence ``phi_k = (phi_(k-1) - 1/(k-1)!)/z`` from ``expm1`` in long double beyond
    (``|z| > 4``: each step divides by more than 4 a difference that cancels less than 2x)."""
    s = PHI_SERIES_BELOW
    z = np.array([0.0, -1e-12, -1e-6, -0.05, -0.2, -1.0, -s * (1 + 1e-7), -s, -s * (1 - 1e-7), -3.0, -4.5,
                  -30.0, -800.0])
    got = _phis(z, 4)
    zl = z.astype(np.longdouble)
    fact = [np.longdouble(math.factorial(n)) for n in range(70)]
    for k in range(1, 5):
        ser = sum(zl ** n / fact[n + k] for n in range(60))
        with np.errstate(invalid="ignore", divide="ignore"):
            rec = np.expm1(zl) / zl
            for j in range(2, k + 1):
                rec = (rec - 1 / fact[j - 1]) / zl
        ref = np.where(np.abs(z) <= 4.0, ser, rec).astype(float)
        assert np.allclose(got[k - 1], ref, rtol=2e-14, atol=0), k
        assert got[k - 1][0] == 1.0 / math.factorial(k)


def _poly_reference(times, coef, pk):
    """``(A_c, A_p, E)`` for the input ``R(t) = c0 + c1 t + c2 t^2`` from 0, nothing at the start: the matrix
    exponential of the system augmented by ``R``, ``R'`` and ``R''`` (a 6 x 6 generator), from 0 to each time.
    In hours (rates per hour: in seconds the chain's entries, ``t`` ~ 1e5, cost ``expm`` 7 digits)."""
    g = np.zeros((6, 6))
    g[:4, :4] = pk.matrix() * H  # (A_c, A_p, E, R): R (per hour) a constant state there
    g[0, 3] = 1.0
    g[3, 4] = 1.0  # dR/dt = R'
    g[4, 5] = 1.0  # dR'/dt = R''
    x0 = np.array([0.0, 0.0, 0.0, coef[0] * H, coef[1] * H**2, 2.0 * coef[2] * H**3])
    x = np.array([expm(g * (t / H)) @ x0 for t in times])
    return x[:, 0], x[:, 1], x[:, 2]


@pytest.mark.parametrize("pk", MODELS, ids=lambda p: f"{p.model}-{p.clearance * H * 1e3:g}Lph")
def test_quadratic_input_is_taken_exactly(pk):
    """An input rate that is one quadratic in time, given as its integral and its values at irregular outputs
    (1 s to 6 h apart, a rate that falls to 0 at 30 h): the rebuilt input is that quadratic on every interval,
    so the blood equals the matrix exponential of the augmented system from 0 to each output (a different
    method, integrated in one piece) to round-off of the largest amount."""
    rng = np.random.default_rng(7)
    t = np.cumsum(np.r_[0.0, rng.uniform(1.0, 6 * H, 120)])
    t = t[t <= 30 * H]
    T = 30 * H
    coef = (2.0 / H, 0.0, -2.0 / H / T**2)  # R = 2/h (1 - (t/T)^2) >= 0
    absorbed = coef[0] * t + coef[1] * t**2 / 2 + coef[2] * t**3 / 3
    rate_at = coef[0] + coef[1] * t + coef[2] * t**2
    assert_same_blood(plasma(t, absorbed, pk, rate_at), _poly_reference(t, coef, pk), absorbed.max())


def _gamma_input_exact(t, alpha, k):
    """One compartment (elimination ``k``, 1/s), input ``R = t e^(-alpha t)``: ``A_c(t) = integral_0^t
    e^(-k (t - s)) s e^(-alpha s) ds = (t/b - 1/b^2) e^(-alpha t) + e^(-k t)/b^2``, ``b = k - alpha``."""
    b = k - alpha
    return (t / b - 1 / b**2) * np.exp(-alpha * t) + np.exp(-k * t) / b**2


def test_input_between_outputs_converges_at_second_order_where_the_mean_lags():
    """Fast elimination (4-min half-life) against 2-h, 1-h and 30-min outputs of a smooth input rising and
    falling over hours.  With elimination this fast ``C(t_k)`` follows the input over the last ``1/k`` before
    ``t_k``, where the rebuilt quadratic (exact at ``t_k``) is off by about the rate's third derivative times
    ``dt^2 (t_k - t)``: for this input the error falls at least ~4x per halving (second order; third once
    ``dt`` nears ``1/k``; measured 4.4x and 6.8x; steeper inputs start slower), and stays below 5 % of the
    mean rate's (a lagged average: 34 %, 24 %, 12 % of Cmax).  Reference: the closed form."""
    V, k = 40e-3, math.log(2) / 240.0
    pk = PKModel("one_compartment", V, k * V)
    alpha = 1.0 / (3 * H)
    errs, errs_mean = [], []
    for dt in (2 * H, H, 0.5 * H):
        t = np.arange(0.0, 24 * H + 1, dt)
        absorbed = (1 - (1 + alpha * t) * np.exp(-alpha * t)) / alpha**2  # integral of s e^(-alpha s)
        exact = _gamma_input_exact(t, alpha, k) / V
        cmax = exact.max()
        errs.append(np.abs(plasma(t, absorbed, pk, t * np.exp(-alpha * t)).concentration - exact).max() / cmax)
        errs_mean.append(np.abs(plasma(t, absorbed, pk).concentration - exact).max() / cmax)
    orders = np.log2(np.array(errs[:-1]) / errs[1:])
    assert np.all(orders > 1.9), (errs, orders)
    assert errs[0] < 0.1 * errs_mean[0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 10.0), st.floats(0.0, 50.0), st.floats(1.0, 4 * H)), min_size=2,
                max_size=30), st.floats(0.0, 50.0), st.sampled_from(MODELS))
def test_rebuilt_input_is_non_negative_and_takes_in_the_amount(rows, f_start, pk):
    """Any outputs with non-negative increments and end rates, consistent or not with them (a wash or a step
    between two outputs): the rebuilt rate integrates to each interval's increment, is nowhere negative (checked
    on 201 points per interval), and the blood stays non-negative and balanced to round-off."""
    inc = np.array([r[0] for r in rows])
    dt = np.array([r[2] for r in rows])
    rate_at = np.r_[f_start, [r[1] for r in rows]] / H
    t = np.r_[0.0, np.cumsum(dt)]
    absorbed = np.r_[0.0, np.cumsum(inc)]
    mean = inc / dt
    a = input_shape(dt, mean, rate_at)
    assert np.allclose(a[0] + a[1] / 2 + a[2] / 3, mean, rtol=1e-12, atol=1e-15 * (mean.max() + 1e-300))
    s = np.linspace(0.0, 1.0, 201)[:, None]
    assert np.all(a[0] + a[1] * s + a[2] * s * s >= -1e-12 * (mean.max() + rate_at.max()))
    pl = plasma(t, absorbed, pk, rate_at)
    assert np.all(pl.central >= -1e-13 * max(absorbed.max(), 1e-300))
    assert np.max(np.abs(pl.balance_error())) < 1e-12


def test_linear_recurrence_matches_the_loop():
    """The prefix scan equals the sequential recurrence (odd length, factors 0 to 1)."""
    rng = np.random.default_rng(5)
    a, u = rng.uniform(0, 1, 1001), rng.normal(size=1001)
    y = [2.5]
    for ai, ui in zip(a, u):
        y.append(ai * y[-1] + ui)
    assert np.allclose(_linear_recurrence(a, u, 2.5), y, rtol=1e-13, atol=1e-13)


def _with_systemic(user: dict, model: str) -> dict:
    spec = {"model": "one_compartment", "volume": "40 L", "clearance": "5 L/h"} if model == "one" else \
        {"model": "two_compartment", "central_volume": "10 L", "peripheral_volume": "30 L",
         "intercompartmental_clearance": "10 L/h", "clearance": "5 L/h"}
    return {k: v for k, v in user.items() if k not in ("compare", "sweep")} | {"systemic": spec,
                                                                               "delivery": {**user.get("delivery", {}),
                                                                                            "area": "20 cm^2"}}


@pytest.mark.parametrize("name,model", [("regimen_serum_twice_daily", "one"), ("topical_caffeine", "two"),
                                        ("compare_loaded_vs_free_curcumin", "two"),
                                        ("topical_nta_distribution", "one")])
def test_run_builds_the_blood_as_add_plasma_does(name, model):
    """``exodiff.run`` of a 1D scenario puts the blood into the Dataset's one constructor (to_dataset's ``pk``);
    :func:`add_plasma` on the same Dataset without it (a stored result) gives the same variables and attributes,
    bit for bit: a regimen, a two-compartment model, a tracked cargo (the vesicles are the primary species) and
    size classes with per-class output."""
    from pathlib import Path

    import xarray as xr

    import exodiff
    from exodiff.problem.layered import problem_from_scenario
    from exodiff.results.dataset import add_plasma, to_dataset
    from exodiff.solvers.layered import integrate_estimated

    root = Path(__file__).resolve().parents[1]
    user = exodiff.load_scenario(root / "scenarios" / f"{name}.toml").user
    if name == "regimen_serum_twice_daily":  # short: three applications
        user = user | {"regimen": {**user["regimen"], "applications": 3},
                       "simulation": {**user["simulation"], "duration": "36 h"}}
    if isinstance(user["formulation"].get("size_distribution"), str):  # a CSV beside the scenario file
        user = user | {"formulation": {**user["formulation"], "size_distribution":
                                       str(root / "scenarios" / user["formulation"]["size_distribution"])}}
    sc = exodiff.load_scenario(_with_systemic(user, model))
    problem = problem_from_scenario(sc.resolved)
    raw = integrate_estimated(problem)
    pk = PKModel.from_resolved(sc.resolved["systemic"])
    built = to_dataset(problem, raw, scenario=sc, pk=pk)
    added = add_plasma(to_dataset(problem, raw, scenario=sc), pk)
    assert "plasma_concentration" in built and float(built["plasma_concentration"].max()) > 0
    for v in ("plasma_concentration", "plasma_auc", "absorbed_amount", "absorption_rate"):
        xr.testing.assert_identical(built[v], added[v])
    drop = ("history",)
    assert {k: v for k, v in built.attrs.items() if k not in drop} == \
        {k: v for k, v in added.attrs.items() if k not in drop}
    assert list(built.attrs) == list(added.attrs) and list(built.data_vars) == list(added.data_vars)


def test_an_end_rate_not_finite_leaves_its_intervals_at_the_mean():
    """A rate at one output that is NaN or inf: the two intervals it ends keep their mean rate, every other
    interval its quadratic (as without the bad value)."""
    t = np.array([0.0, 1.0, 2.5, 4.0, 6.0]) * H
    absorbed = np.array([0.0, 0.8, 2.0, 3.1, 4.0])
    rate_at = np.array([0.5, 0.9, 0.8, 0.7, 0.3]) / H
    mean = np.diff(absorbed) / np.diff(t)
    good = input_shape(np.diff(t), mean, rate_at)
    for bad in (np.nan, np.inf, -np.inf):
        r = rate_at.copy()
        r[2] = bad
        a = input_shape(np.diff(t), mean, r)
        assert np.array_equal(a[:, 1:3], np.stack([mean[1:3], np.zeros(2), np.zeros(2)]))
        assert np.array_equal(a[:, [0, 3]], good[:, [0, 3]])
        pl = plasma(t, absorbed, PKModel("one_compartment", 0.04, 5e-3 / H), r)
        assert np.all(np.isfinite(pl.concentration)) and np.max(np.abs(pl.balance_error())) < 1e-13
