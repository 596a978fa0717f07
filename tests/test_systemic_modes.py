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

import numpy as np
import pytest
from scipy.linalg import expm

from exodiff.results.systemic import PKModel, _linear_recurrence, _phi12, plasma

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
    pl = plasma(t, absorbed, pk)
    ac, ap, e = expm_reference(t, absorbed, pk)
    scale = absorbed.max()
    assert np.max(np.abs(pl.central - ac)) < 1e-12 * scale
    assert np.max(np.abs(pl.peripheral - ap)) < 1e-12 * scale
    assert np.max(np.abs(pl.eliminated - e)) < 1e-12 * scale
    assert np.max(np.abs(pl.balance_error())) < 1e-13


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
    """``phi_1``, ``phi_2`` against long-double references on both sides of ``|z| = 0.2`` and at 0."""
    z = np.array([0.0, -1e-12, -1e-6, -0.05, -0.1999999, -0.2, -0.2000001, -1.0, -30.0, -800.0])
    p1, p2 = _phi12(z)
    zl = z.astype(np.longdouble)
    with np.errstate(invalid="ignore", divide="ignore"):
        ref1 = np.where(z == 0, 1.0, np.expm1(zl) / zl)
        # the series for small |z| in long double (25 terms), the closed form elsewhere
        ser = sum(zl ** n / np.longdouble(np.prod(np.arange(1, n + 3, dtype=np.longdouble))) for n in range(25))
        ref2 = np.where(np.abs(z) < 0.5, ser, (np.expm1(zl) - zl) / (zl * zl))
    assert np.allclose(p1, ref1.astype(float), rtol=2e-15, atol=0)
    assert np.allclose(p2, ref2.astype(float), rtol=2e-14, atol=0)


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
