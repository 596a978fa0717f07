"""The 1D fast path of a washed regimen: ``sum_j z0(t - j T)`` (exodiff.solvers.superposition, docs/model.md 1.2).

References: the direct path (every application a fresh film in one kernel
run), forced by ``superposition.ENABLED = False``, which
tests/test_regimen.py checks against segment restarts and the numpy twin;
the dose ledger; linearity in the dose.

Tolerance of fast against direct.  The two paths take different steps, so
they differ by their time errors.  Each copy (fast) or application
(direct) is a run whose time error is at most the integrator's measured law
``TIME_ERROR_AT_1E6 (tol / 1e-6)^TIME_ERROR_SLOPE`` of its dose
(exodiff.problem.layered; ESDIRK4 ~0.08 tol, TR-BDF2 5.1e-6 at 1e-6), so
every amount differs by at most twice that law of the *total* dose
(:func:`bound`).  The film concentration is bounded the same way by the
concentration of one film (``c``: each copy's film error is of its film).
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import exodiff
from exodiff.problem.layered import (
    TIME_ERROR_AT_1E6,
    TIME_ERROR_SLOPE,
    Layer,
    Problem1D,
    problem_from_scenario,
)
from exodiff.results.dataset import RESOLVED_RELATIVE_ERROR
from exodiff.solvers import layered, superposition
from exodiff.solvers.ledger import applied_dose, mass_balance_error

H = 3600.0
LAYERS = (
    Layer("stratum_corneum", 15e-6, 1e-13, 2.0),
    Layer("viable_epidermis", 80e-6, 5e-11, 1.0, degradation_rate=1e-5),
    Layer("dermis", 500e-6, 2e-10, 1.0, clearance_rate=2e-5),
)


def problem(T=6 * H, n=4, end=None, integrator="esdirk4", evap=0.0, tol=1e-6, out=H, layers=LAYERS, **kw):
    end = n * T if end is None else end
    return Problem1D.from_layers(layers, output_times=np.arange(0.0, end + 0.5 * out, out), resolution=[6, 10, 12],
                                 concentration=1e3, vehicle_thickness=20e-6, tolerance=tol, integrator=integrator,
                                 evaporation_fraction=evap, evaporation_time=1800.0,
                                 application_times=tuple(k * T for k in range(1, n)), **kw)


def direct(p, monkeypatch, **kw):
    with monkeypatch.context() as m:
        m.setattr(superposition, "ENABLED", False)
        raw = layered.integrate(p, **kw)
    assert raw.stats["regimen_solution"] == "direct"
    return raw


def bound(p) -> float:
    """Twice the integrator's measured time-error law at ``p.tolerance``, of the dose (see the module docstring)."""
    law = TIME_ERROR_AT_1E6[p.integrator] * (p.tolerance / 1e-6) ** TIME_ERROR_SLOPE[p.integrator]
    return 2.0 * law


def compare(p, fast, ref, nontrivial=0.1):
    """Fast against direct: every column's film, cell amounts and compartments within :func:`bound`."""
    assert fast.stats["regimen_solution"] == "superposition"
    cap = p.columns_arrays()["cap"]  # (S, n)
    total = p.total_dose
    b = bound(p)
    amounts = lambda r: r.u_cols[:, :, 1:] * cap[None, :, 1:]
    worst = {
        "film": np.abs(fast.u_cols[..., 0] - ref.u_cols[..., 0]).max() / p.concentration,
        "cells": np.abs(amounts(fast) - amounts(ref)).max() / total,
        "compartments": np.abs(fast.comp_cols - ref.comp_cols).max() / total,
    }
    assert max(worst.values()) <= b, (worst, b)
    # the comparison is not empty: every application reached the skin
    supplied = p.n_processes * len(p.layers) + 2
    assert ref.comp_cols[-1, :, supplied].sum() > nontrivial * p.total_dose
    return worst


def balance(p, raw) -> float:
    """Worst dose-balance error of ``raw``, of the total dose."""
    err = np.abs(mass_balance_error(p, raw))
    return float((err * applied_dose(p)[:, None] if err.ndim == 2 else err * applied_dose(p)).max() / p.total_dose)


@pytest.mark.parametrize("integrator", ["esdirk4", "tr-bdf2", "sdirk4"])
@pytest.mark.parametrize("case", ["ends_at_NT", "ends_mid_interval", "evaporation", "wash_off_inside"])
def test_fast_path_equals_direct_path(case, integrator, monkeypatch):
    kw = dict(integrator=integrator)
    if case == "ends_mid_interval":
        kw["end"] = 21 * H  # the last output inside the last interval: no record before a wash is needed
    if case == "evaporation":
        kw["evap"] = 0.6
    if case == "wash_off_inside":
        kw.update(wash_off_time=2.5 * H, evap=0.3)
    p = problem(**kw)
    assert superposition.plan(p) is not None
    fast = layered.integrate(p)
    compare(p, fast, direct(p, monkeypatch))
    assert balance(p, fast) <= 1e-12


def test_fast_path_is_cheaper_in_steps(monkeypatch):
    """The point of it: one fresh-film transient instead of one per application (14 days twice daily)."""
    p = problem(T=12 * H, n=28, out=0.5 * H, tol=1e-5)
    fast, ref = layered.integrate(p), direct(p, monkeypatch)
    compare(p, fast, ref)
    assert fast.stats["steps"] < 0.5 * ref.stats["steps"], (fast.stats["steps"], ref.stats["steps"])


SERUM = {"skin": {"preset": "forearm"},
         "formulation": {"preset": "caffeine", "concentration": "10 mg/cm^3", "vehicle_thickness": "20 um",
                         "evaporation_fraction": 0.5, "evaporation_time": "30 min"},
         "regimen": {"interval": "12 h", "applications": 4, "wash_before_reapplication": True},
         "simulation": {"duration": "48 h", "output_interval": "1 h", "tolerance": 1e-6}}
VESICLES = {"skin": {"preset": "forearm"},
            "formulation": {"preset": "msc_exosome", "gsd": 1.5, "size_classes": 3, "wash_off_time": "5 h"},
            "regimen": {"interval": "8 h", "applications": 3, "wash_before_reapplication": True},
            "simulation": {"duration": "24 h", "output_interval": "2 h", "tolerance": 1e-6}}
CARGO = {"skin": {"preset": "forearm"},
         "formulation": {"preset": "liposome", "dose": "1e10 particles/cm^2", "vehicle_thickness": "20 um",
                         "cargo": {"preset": "curcumin", "encapsulation_efficiency": 0.7}},
         "regimen": {"interval": "6 h", "applications": 4, "wash_before_reapplication": True},
         "simulation": {"duration": "24 h", "output_interval": "1 h", "tolerance": 1e-6}}


def _with(sc, **formulation):
    sc = copy.deepcopy(sc)
    sc["formulation"].update(formulation)
    return sc


@pytest.mark.parametrize("name,user,nontrivial", [
    ("serum", SERUM, 0.1),
    # vesicles hardly enter the skin (2.7e-8 of the dose): the film and the washes (all of the dose) are what
    # this case checks of the classes, the skin only to the bound
    ("size classes", VESICLES, 1e-9),
    ("cargo", CARGO, 1e-3),
    ("cargo leaking in the film", _with(CARGO, cargo={"preset": "curcumin", "encapsulation_efficiency": 0.7,
                                                      "release_rate_vehicle": "0.5 1/h"}), 1e-3),
    # a penetration enhancement relaxing between a wash-off and the next film: anchored to each application,
    # so every shifted copy sees the same coefficients
    ("cargo with a relaxing enhancement", _with(CARGO, wash_off_time="4 h", enhancement_factor=3.0,
                                                enhancement_relaxation_time="1 h"), 1e-3),
])
def test_scenarios_fast_equals_direct(name, user, nontrivial, monkeypatch):
    """Every species column superposes alike: size classes, a released cargo, the film's leakage."""
    p = problem_from_scenario(exodiff.load_scenario(user).resolved)
    assert superposition.plan(p) is not None, name
    fast = layered.integrate(p)
    compare(p, fast, direct(p, monkeypatch), nontrivial)
    assert balance(p, fast) <= 1e-12


def test_run_dataset_same_as_direct_and_the_check_run_superposed(monkeypatch):
    """Through ``exodiff.run``: every variable as the direct path's, the same attributes but the path and the
    step counts.

    Amounts and fractions (of the total dose) within :func:`bound`; the
    inputs exactly; the dose balance at round-off in both.  Local values
    (concentration in a cell, fluxes) carry the controller's *relative*
    tolerance per node rather than an error of the dose: within 10 tol of
    their largest value (measured 1.5e-6 at tol 1e-6).
    """
    sc = exodiff.load_scenario(SERUM)
    fast = exodiff.run(sc)
    with monkeypatch.context() as m:
        m.setattr(superposition, "ENABLED", False)
        ref = exodiff.run(sc)
    assert fast.attrs["regimen_solution"] == "superposition" and ref.attrs["regimen_solution"] == "direct"
    assert set(fast.data_vars) == set(ref.data_vars)
    p = problem_from_scenario(sc.resolved)
    b = bound(p)
    total = float(ref.attrs["applied_dose"])  # per cm^2, every application
    # an error estimate is |a - a_space| / 2 + |a - a_time| / d (integrate_estimated): the space check at this
    # tolerance, the time check at 10 tol with d = (10^slope - 1) / 2; each path's estimate moves by at most
    # the sum of its runs' bounds over the divisors
    d = (10.0 ** TIME_ERROR_SLOPE[p.integrator] - 1.0) / 2.0
    b_est = (b + b) / 2.0 + (b + bound(replace(p, tolerance=10 * p.tolerance))) / d
    for name in ref.data_vars:
        a, r = fast[name].values, ref[name].values
        units = ref[name].attrs.get("units")
        if name in ("fraction_error", "loss_by_layer_error", "resolvable_level"):
            scale = {"fraction_error": 1.0, "loss_by_layer_error": total,
                     "resolvable_level": 1.0 / RESOLVED_RELATIVE_ERROR}[name]
            assert np.abs(a - r).max() <= b_est * scale, name
        elif name == "mass_balance_error":
            assert np.abs(a).max() <= 1e-12 and np.abs(r).max() <= 1e-12
        elif name == "below_resolvable_level":  # a flag: it may flip only where the fraction is at its level
            flip = a != r
            near = np.abs(ref["fraction"].values - ref["resolvable_level"].values) <= b + b_est / RESOLVED_RELATIVE_ERROR
            assert not np.any(flip & ~near), name
        elif "time" not in ref[name].dims or name == "applied":
            assert np.array_equal(a, r), name
        elif units == "1":
            assert np.abs(a - r).max() <= b, name
        elif units == "mg cm-2":
            assert np.abs(a - r).max() <= b * total, name
        else:
            assert np.abs(a - r).max() <= 10 * p.tolerance * np.abs(r).max(), name
    differ = {k for k in ref.attrs if not np.array_equal(np.asarray(fast.attrs[k], dtype=object),
                                                          np.asarray(ref.attrs[k], dtype=object))}
    # (history: the time of the run, to the second)
    assert differ <= {"solver_steps", "solver_rejected_steps", "wall_time_s", "regimen_solution", "history",
                      "regimen_applications_integrated"}, differ
    assert set(fast.attrs) == set(ref.attrs)


def test_check_run_takes_the_fast_path():
    p = problem(tol=1e-6)
    raw = layered.integrate_estimated(p)
    # the space and the time check, and the run's own outputs from the other interpolant of their steps
    assert len(raw.companion) == 3
    for _, check, _, _ in raw.companion[:2]:
        assert raw.stats["regimen_solution"] == check.stats["regimen_solution"] == "superposition"
    assert raw.companion[2][0] is p and "quadratic" in raw.companion[2][1].stats["check"]


@pytest.mark.parametrize("case", ["serum", "size classes", "cargo", "receptor", "not settled"])
def test_a_check_run_keeping_amounts_has_the_ledgers_of_the_whole_states(case, monkeypatch):
    """``integrate(..., amounts_only=True)`` sums the copies of the film's u, each layer's amount and the last
    node's u instead of whole profiles: every amount the ledgers and the error estimate read (film, layers,
    receptor, compartments, dose balance) as from the whole states, to round-off (1e-13 of the total dose:
    the same sums in another order), with layer sums taken node by node here."""
    from exodiff.results.dataset import _fractions_and_losses, _ledgers
    from exodiff.solvers.ledger import column_tissue_amounts, receptor_amount, vehicle_amount

    if case == "receptor":
        p = problem(bottom="receptor", receptor_depth=5e-3)
    elif case == "not settled":
        monkeypatch.setattr(superposition, "GEOMETRIC_TAIL", False)
        p = problem()
    else:
        user = {"serum": SERUM, "size classes": VESICLES, "cargo": CARGO}[case]
        p = problem_from_scenario(exodiff.load_scenario(user).resolved)
    whole = layered.integrate(p)
    kept = layered.integrate(p, amounts_only=True)
    assert kept.stats["regimen_solution"] == "superposition" and kept.layer_cols is not None
    assert whole.layer_cols is None
    assert kept.u_cols.shape[2] == 2 and kept.layer_cols.shape[2] == len(p.layers)
    total = p.total_dose
    # layer sums node by node from the whole states
    ref = np.zeros(kept.layer_cols.shape)
    for s, col in enumerate(p.all_columns):
        cap = p.column_values(col, "partition") * p.grid.widths
        for i, node in enumerate(np.arange(p.n_nodes)[p.cell_nodes]):
            ref[:, s, p.grid.layer_of_cell[i]] += cap[i] * whole.u_cols[:, s, node]
    assert np.abs(kept.layer_cols - ref).max() <= 1e-13 * total
    assert np.abs(column_tissue_amounts(p, kept) - column_tissue_amounts(p, whole)).max() <= 1e-13 * total
    assert np.abs(vehicle_amount(p, kept) - vehicle_amount(p, whole)).max() <= 1e-13 * total
    assert np.abs(receptor_amount(p, kept) - receptor_amount(p, whole)).max() <= 1e-13 * total
    if case == "receptor":
        assert receptor_amount(p, whole).max() > 1e-6 * total
    assert np.abs(kept.comp_cols - whole.comp_cols).max() <= 1e-13 * total
    assert np.abs(mass_balance_error(p, kept)).max() <= 1e-12
    fk, lk = _fractions_and_losses(p, _ledgers(p, kept, balance=False, profiles=False))
    fw, lw = _fractions_and_losses(p, _ledgers(p, whole, balance=False, profiles=False))
    assert np.abs(fk - fw).max() <= 1e-13 and np.abs(lk - lw).max() <= 1e-13 * np.abs(lw).max()
    with pytest.raises(ValueError, match="kept only amounts"):
        _ledgers(p, kept)  # profiles need the states


def test_only_a_superposed_check_run_keeps_amounts_only(monkeypatch):
    """The direct path ignores ``amounts_only`` (its states are whole), and so does an accuracy target's fine
    run (Richardson extrapolation needs its profiles)."""
    p = problem()
    monkeypatch.setattr(superposition, "ENABLED", False)
    raw = layered.integrate(p, amounts_only=True)
    assert raw.layer_cols is None and raw.u_cols.shape[2] == p.n_nodes
    monkeypatch.setattr(superposition, "ENABLED", True)
    est = layered.integrate_estimated(replace(p, accuracy=1e-4))
    assert est.layer_cols is None
    for _, check, _, _ in est.companion:
        assert check.layer_cols is None


@pytest.mark.parametrize("integrator", ["esdirk4", "tr-bdf2"])
def test_progress_bar_gives_the_same_numbers(integrator):
    """With a bar the kernel is called per chunk; a chunk never ends between the record before a wash and the
    wash itself (same time, two stops)."""
    p = problem(integrator=integrator, out=0.25 * H)
    a, b = layered.integrate(p), layered.integrate(p, progress=True)
    assert np.array_equal(a.u_cols, b.u_cols) and np.array_equal(a.comp_cols, b.comp_cols)


@pytest.mark.parametrize("why,kw", [
    ("a film joining the old one", dict(join_film=True)),
    ("unequal intervals", dict(application_times=(6 * H, 13 * H, 18 * H))),
    ("receptor samples", dict(bottom="receptor", receptor_depth=5e-3, sampling_times=(5 * H, 11 * H),
                              sample_fraction=0.2)),
    ("runs past the interval after the last application", dict(end=30 * H)),
    ("interval not a whole number of output steps", dict(out=0.4 * 3600 * 2.5 + 100.0)),
    ("wash-off at the next application", dict(wash_off_time=6 * H)),
])
def test_not_exact_takes_the_direct_path_bit_for_bit(why, kw, monkeypatch):
    apps = kw.pop("application_times", None)
    p = problem(**kw)
    if apps is not None:
        p = replace(p, application_times=apps)
    assert superposition.plan(p) is None, why
    got = layered.integrate(p)
    assert got.stats["regimen_solution"] == "direct"
    ref = direct(p, monkeypatch)
    assert np.array_equal(got.u_cols, ref.u_cols) and np.array_equal(got.comp_cols, ref.comp_cols)


def test_the_naive_sum_of_one_unwashed_application_is_wrong(monkeypatch):
    """Why z0 has empty films: shifted copies of ONE single-application run ignore that each wash takes the
    residue that diffused back into the film; that sum misses the direct result by far more than the bound
    (docs/model.md 1.2), where z0's sum meets it."""
    slow = (replace(LAYERS[0], diffusivity=1e-14), *LAYERS[1:])  # a slow barrier: the film keeps much of its dose
    p = problem(tol=1e-8, layers=slow)
    ref = direct(p, monkeypatch)
    assert ref.comp_cols[-1, 0, 3 * len(slow) + 1] > 0.5 * p.dose  # washed off: residues that matter
    single = layered.integrate(replace(p, application_times=()))
    shift = 6
    naive = superposition.superpose(single.comp_cols, shift, p.n_applications, p.output_times.size, False)
    err = np.abs(naive - ref.comp_cols).max() / p.total_dose
    assert err > 100 * bound(p), err
    compare(p, layered.integrate(p), ref)


@settings(max_examples=8)
@given(scale=st.floats(1e-6, 1e6), T_h=st.sampled_from([3, 4, 6, 8]), n=st.integers(2, 6))
def test_linear_in_the_dose(scale, T_h, n):
    """The fast path is linear in the dose: ``c -> a c`` scales every state and compartment by ``a`` (the same
    steps, since the absolute tolerance scales with the dose), to round-off."""
    p = problem(T=T_h * H, n=n)
    q = replace(p, concentration=p.concentration * scale)
    a, b = layered.integrate(p), layered.integrate(q)
    assert a.stats["regimen_solution"] == b.stats["regimen_solution"] == "superposition"
    assert np.allclose(b.u_cols, scale * a.u_cols, rtol=1e-10, atol=1e-13 * scale * p.concentration)
    assert np.allclose(b.comp_cols, scale * a.comp_cols, rtol=1e-10, atol=1e-13 * scale * p.total_dose)


def test_superpose_is_the_sum_of_the_shifted_copies():
    """The one-pass recurrence against the sum written out, copy by copy (random records, any length)."""
    rng = np.random.default_rng(7)
    for _ in range(300):
        s, N = int(rng.integers(1, 6)), int(rng.integers(2, 8))
        k = int(rng.integers(1, (N + 3) * s + 2))
        tail = bool(rng.integers(0, 2)) and k - 1 == N * s
        z = rng.normal(size=(k + (N - 1 if tail else 0), 3))
        ref = np.zeros((k, 3))
        for j in range(N):
            if j * s < k:
                ref[j * s:] += z[:k - j * s]
        if tail:  # copy j >= 1 at N T: its record before the wash of application N - j
            ref[-1] = z[k - 1] + sum(z[k + N - j - 1] for j in range(1, N))
        assert np.allclose(superposition.superpose(z, s, N, k, tail), ref, rtol=0, atol=1e-13)
        # summed into z's own rows (the driver's way), where no copy has to be taken off
        if k <= N * s or (tail and k == N * s + 1):
            # compiled for contiguous records, numpy otherwise (a Fortran-ordered copy): the same sums
            for zz in (z.copy(), np.asfortranarray(z)):
                got = superposition.superpose(zz, s, N, k, tail, inplace=True)
                assert np.allclose(got, ref, rtol=0, atol=1e-13) and np.shares_memory(got, zz)
                assert np.array_equal(zz[k:], z[k:])  # the records before each application are left as they were


def test_sweep_batch_leaves_a_superposed_regimen_to_the_driver():
    """A batched sweep point must be the point alone, bit for bit: the batch (direct runs) declines a regimen
    the driver superposes, and keeps one it does not (a joined film)."""
    from exodiff import run as R

    assert R.prepare_batched(exodiff.load_scenario(SERUM)) is None
    joined = copy.deepcopy(SERUM)
    joined["regimen"]["wash_before_reapplication"] = False
    assert R.prepare_batched(exodiff.load_scenario(joined)) is not None
    metrics, _ = R.run_metrics(exodiff.load_scenario(SERUM))
    assert metrics["accumulation_ratio"] > 1.0


def test_accuracy_target_superposes_both_grids(monkeypatch):
    """With an accuracy target both grids are superposed and extrapolated, ``(4 a_fine - a) / 3``: each path's
    time error is then at most 5/3 of the law, so the two differ by at most 5/3 of :func:`bound`."""
    p = replace(problem(), accuracy=1e-4)
    fast = layered.integrate_estimated(p)
    assert fast.stats["regimen_solution"] == fast.companion[0][1].stats["regimen_solution"] == "superposition"
    with monkeypatch.context() as m:
        m.setattr(superposition, "ENABLED", False)
        ref = layered.integrate_estimated(p)
    total = p.total_dose
    assert np.abs(fast.comp_cols - ref.comp_cols).max() / total <= 5 / 3 * bound(p)
    cap = p.columns_arrays()["cap"]
    assert np.abs((fast.u_cols - ref.u_cols)[:, :, 1:] * cap[None, :, 1:]).max() / total <= 5 / 3 * bound(p)
    assert balance(p, fast) <= 1e-12


# --- the geometric tail: z0 ended once it has settled into its slowest mode (superposition.tail_ratios) ---

def _extend_written_out(u, comp, a, lam, shift, n_apps, k, tail_event):
    """:func:`superposition.extend_tail` as its definition, interval by interval: interval ``m`` is interval
    ``m - 1`` times ``lam``, the ledgers' growth counted from the state before each interval's application."""
    def pre(m):
        return k - 1 if m == n_apps else k + m - 1

    lu = lam[None, :, None]
    for m in range(a, n_apps):
        lo, hi = max(m * shift, a * shift + 1), min((m + 1) * shift, k)
        if lo < hi:
            u[lo:hi] = lu * u[lo - shift:hi - shift]
            comp[lo:hi] = comp[pre(m)] + lu * (comp[lo - shift:hi - shift] - comp[pre(m - 1)])
        if m + 1 < n_apps or tail_event:
            u[pre(m + 1)] = lam[:, None] * u[pre(m)]
            comp[pre(m + 1)] = comp[pre(m)] + lam[:, None] * (comp[pre(m)] - comp[pre(m - 1)])


def test_extend_tail_is_the_scaled_interval_written_out():
    """The vectorised tail against its definition (random records, columns, ratios, lengths, both ends)."""
    rng = np.random.default_rng(11)
    done = 0
    for _ in range(400):
        shift, N, S = int(rng.integers(1, 6)), int(rng.integers(3, 9)), int(rng.integers(1, 4))
        tail = bool(rng.integers(0, 2))
        k = N * shift + 1 if tail else int(rng.integers((N - 1) * shift + 1, N * shift + 1))
        a = int(rng.integers(2, N))
        if a * shift > k - 1:
            continue
        u, comp = rng.random((k + N - 1, S, 4)), rng.random((k + N - 1, S, 5))
        lam = rng.random(S)
        u1, c1, u2, c2 = u.copy(), comp.copy(), u.copy(), comp.copy()
        _extend_written_out(u1, c1, a, lam, shift, N, k, tail)
        superposition.extend_tail(u2, c2, a, lam, shift, N, k, tail)
        assert np.allclose(u2, u1, rtol=0, atol=1e-14) and np.allclose(c2, c1, rtol=0, atol=1e-14)
        done += 1
    assert done > 200


def test_superpose_settled_is_the_tail_written_out_then_summed():
    """The one-pass sum of a settled ``z0`` against :func:`extend_tail` then :func:`superpose` (random records,
    columns, ratios, lengths, both ends), in place; a record past ``N T`` (which :func:`plan` refuses) is
    refused."""
    rng = np.random.default_rng(12)
    done = 0
    for _ in range(400):
        shift, N, S = int(rng.integers(1, 6)), int(rng.integers(3, 9)), int(rng.integers(1, 4))
        tail = bool(rng.integers(0, 2))
        k = N * shift + 1 if tail else int(rng.integers((N - 1) * shift + 1, N * shift + 1))
        a = int(rng.integers(2, N))
        if a * shift > k - 1:
            continue
        u, comp = rng.random((k + N - 1, S, 4)), rng.random((k + N - 1, S, 5))
        lam = rng.random(S)
        u1, c1 = u.copy(), comp.copy()
        with pytest.raises(ValueError, match="past N T"):
            superposition.superpose_settled(u.copy(), comp.copy(), a, lam, shift, N, N * shift + 2, tail)
        superposition.extend_tail(u1, c1, a, lam, shift, N, k, tail)
        ref_u = superposition.superpose(u1, shift, N, k, tail)
        ref_c = superposition.superpose(c1, shift, N, k, tail)
        # compiled for contiguous records, numpy otherwise (Fortran-ordered copies): the same sums
        for uu, cc in ((u.copy(), comp.copy()), (np.asfortranarray(u), np.asfortranarray(comp))):
            got_u, got_c = superposition.superpose_settled(uu, cc, a, lam, shift, N, k, tail)
            assert got_u.shape == ref_u.shape and got_c.shape == ref_c.shape and np.shares_memory(got_u, uu)
            assert np.allclose(got_u, ref_u, rtol=1e-14, atol=1e-13)
            assert np.allclose(got_c, ref_c, rtol=1e-14, atol=1e-13)
        done += 1
    assert done > 200


def test_layer_amounts_are_the_node_amounts_summed_by_group():
    """The one-product layer sums against the amounts node by node (random states, size classes with their own
    capacities, a film thickness per row): film ``h u_0``, each layer ``sum K dz u`` over its cells, a receptor
    with the deepest layer."""
    sc = copy.deepcopy(VESICLES)
    p = problem_from_scenario(exodiff.load_scenario(sc).resolved)
    arr = p.columns_arrays()
    S, n = arr["cap"].shape
    assert S > 1
    rng = np.random.default_rng(5)
    u = rng.random((4, S, n))
    h = rng.random(4)[:, None] * 1e-5
    ref = np.zeros((4, S, len(p.layers) + 1))
    for r in range(4):
        for s in range(S):
            ref[r, s, 0] = h[r, 0] * u[r, s, 0]
            for node in range(1, n):
                ref[r, s, arr["node_layer"][node] + 1] += arr["cap"][s, node] * u[r, s, node]
    assert np.allclose(superposition.layer_amounts(p, u, h), ref, rtol=1e-13, atol=0)


def test_tail_ratios_accepts_only_a_settled_state():
    """An exact multiple is settled (its ratio returned); a deviation past the share in any layer of any
    column, a growing or a negative amount is not."""
    p = problem(tol=1e-5)
    arr = p.columns_arrays()
    S, n = arr["cap"].shape
    rng = np.random.default_rng(3)
    before = rng.random((S, n)) + 0.1
    peak = superposition.layer_amounts(p, before[None], p.vehicle_thickness)[0] * 2.0
    lam = superposition.tail_ratios(p, before, 0.4 * before, peak, p.vehicle_thickness)
    assert lam is not None and np.allclose(lam, 0.4, rtol=1e-14)
    groups = arr["node_layer"] + 1
    for g in range(peak.shape[1]):  # one layer off by twice its share (the rest still a multiple)
        now = 0.4 * before
        nodes = np.flatnonzero(groups == g)
        cap = arr["cap"][0, nodes[0]] if g else p.vehicle_thickness
        now[0, nodes[0]] += 2.0 * superposition.TAIL_SHARE * p.tolerance * 0.6 * peak[0, g] / cap
        assert superposition.tail_ratios(p, before, now, peak, p.vehicle_thickness) is None, g
    assert superposition.tail_ratios(p, before, 1.1 * before, peak, p.vehicle_thickness) is None
    assert superposition.tail_ratios(p, before, -0.4 * before, peak, p.vehicle_thickness) is None


def _serum_regimen(integrator="esdirk4", tol=1e-5, n=14):
    sc = copy.deepcopy(SERUM)
    sc["regimen"]["applications"] = n
    sc["simulation"].update(duration=f"{12 * n} h", output_interval="30 min", tolerance=tol, integrator=integrator)
    return problem_from_scenario(exodiff.load_scenario(sc).resolved)


@pytest.mark.parametrize("integrator", ["esdirk4", "tr-bdf2", "sdirk4"])
def test_geometric_tail_adds_no_error_to_the_integrators(integrator, monkeypatch):
    """The caffeine serum twice daily for a week: ``z0`` settles after three intervals and the other eleven are
    scaled, not integrated; against a run at tol 1e-10, every layer, the film and every ledger are as close
    with the tail as with all fourteen intervals integrated (within 1 % and ``TAIL_SHARE x tol`` of the dose:
    measured identical to 3 digits), over the whole run and over the scaled intervals alone; the ledger is
    closed to round-off."""
    p = _serum_regimen(integrator)
    tail = layered.integrate(p)
    with monkeypatch.context() as m:
        m.setattr(superposition, "GEOMETRIC_TAIL", False)
        full = layered.integrate(p)
    ref = layered.integrate(replace(p, integrator="esdirk4", tolerance=1e-10))
    a = tail.stats["regimen_applications_integrated"]
    assert a < p.n_applications and full.stats["regimen_applications_integrated"] == p.n_applications
    assert tail.stats["steps"] < 0.75 * full.stats["steps"]  # measured 0.34-0.53 of them
    cap = p.columns_arrays()["cap"][0]
    dose = p.total_dose
    late = p.output_times >= a * 12 * H
    for window in (slice(None), late):
        for what, f in (("film", lambda r: r.u[window, 0] * p.vehicle_thickness),
                        ("cells", lambda r: r.u[window, 1:] * cap[1:]), ("ledgers", lambda r: r.comp[window])):
            e_tail = np.abs(f(tail) - f(ref)).max() / dose
            e_full = np.abs(f(full) - f(ref)).max() / dose
            assert e_tail <= 1.01 * e_full + superposition.TAIL_SHARE * p.tolerance, (what, e_tail, e_full)
    assert balance(p, tail) <= 1e-12


def test_geometric_tail_with_size_classes_one_ratio_per_class(monkeypatch):
    """Size classes are independent columns: each is scaled by its own ratio, so every class's ledger stays
    closed (the balance checks each class and their sum); the tail agrees with the full ``z0`` within the
    integrator's bound (the classes' vesicles settle after ~13 of 20 intervals)."""
    sc = {"skin": {"preset": "forearm"},
          "formulation": {"preset": "msc_exosome", "gsd": 1.1, "size_classes": 3, "wash_off_time": "6 h"},
          "regimen": {"interval": "12 h", "applications": 20},
          "simulation": {"duration": "240 h", "output_interval": "1 h", "tolerance": 1e-5}}
    p = problem_from_scenario(exodiff.load_scenario(sc).resolved)
    tail = layered.integrate(p)
    with monkeypatch.context() as m:
        m.setattr(superposition, "GEOMETRIC_TAIL", False)
        full = layered.integrate(p)
    assert tail.stats["regimen_applications_integrated"] < p.n_applications
    compare(p, tail, full, nontrivial=0.0)
    assert balance(p, tail) <= 1e-12


def test_no_geometric_tail_with_a_cargo():
    """A cargo's ledger is tied to the vesicles' release: one ratio per column could not keep both closed, so
    ``z0`` is integrated to the end (and the result is the same as ever)."""
    p = problem_from_scenario(exodiff.load_scenario(_with(CARGO)).resolved)
    assert not superposition.tail_allowed(p)
    raw = layered.integrate(p)
    assert raw.stats["regimen_applications_integrated"] == p.n_applications
    assert balance(p, raw) <= 1e-12


def test_z0_tolerance_follows_what_the_regimen_holds(monkeypatch):
    """Plant exosome-like vesicles twice daily for two weeks (they hardly enter the skin, so z0 never settles
    into one mode within the run): the regimen holds at least its newest film, so z0 after its first interval
    is held to 1/N of the least that interval held (superposition.content_floor), not to its own residue
    (1e-16 of the dose): measured 425 steps, where held to its own residue it took 481, and it still agrees
    with the direct path within the bound.  (The direct path took 371: since every tissue is held to the
    tolerance relative to itself, z0 holds each copy's residue so, which the direct path does for their sum
    only; before, both took 368.)"""
    sc = {"skin": {"preset": "forearm"},
          "formulation": {"preset": "plant_exosome", "dose": "1e10 particles/cm^2", "vehicle_thickness": "20 um"},
          "regimen": {"interval": "12 h", "applications": 28},
          "simulation": {"duration": "14 d", "output_interval": "30 min"}}
    p = problem_from_scenario(exodiff.load_scenario(sc).resolved)
    fast = layered.integrate(p)
    ref = direct(p, monkeypatch)
    with monkeypatch.context() as m:
        m.setattr(superposition, "Z0_CONTENT_FLOOR", False)
        own = layered.integrate(p)
    assert fast.stats["regimen_applications_integrated"] == p.n_applications  # no tail here
    assert fast.stats["steps"] < own.stats["steps"] / 1.1 and fast.stats["steps"] <= 1.2 * ref.stats["steps"], (
        fast.stats["steps"], ref.stats["steps"], own.stats["steps"])
    compare(p, fast, ref, nontrivial=0.0)
    assert balance(p, fast) <= 1e-12


def test_applications_after_the_last_output_are_no_events():
    """A problem whose outputs end before its last application (validated scenarios refuse it; internal
    callers may build one): the stop list ends at the last output and the direct path runs no further; the
    superposition (whose ``z0`` records need every application) is not taken."""
    from exodiff.solvers.common import stop_list

    p = problem(T=6 * H, n=4, end=8 * H)  # applications at 6, 12 and 18 h, outputs to 8 h
    assert superposition.plan(p) is None
    stops, _, events = stop_list(p)
    assert stops[-1] == 8 * H and np.count_nonzero(events) == 1
    raw = layered.integrate(p)
    assert raw.stats["regimen_solution"] == "direct"
    assert balance(p, raw) <= 1e-12


def test_check_runs_share_the_schedule_and_get_their_own_stop_arrays(monkeypatch):
    """The error estimate's check runs reuse the main run's stop lists, film schedule and plan (the same
    schedule on another grid or tolerance), a problem with another schedule builds its own, and every caller
    gets arrays of its own: an event added by one caller (the r-z list adds its sessions) is not in the next."""
    from exodiff.solvers import common
    from exodiff.solvers.common import stop_list

    p = problem(evap=0.3)
    built = []
    real = common._stop_list
    monkeypatch.setattr(common, "_stop_list", lambda q: built.append(q) or real(q))
    raw = layered.integrate_estimated(p)
    checks = [c[0] for c in raw.companion if c[0] is not p]  # (the third is the run's own interpolation gap)
    assert len(checks) == 2 and built == [p]  # the main run built it, the space and time checks reused it
    assert all(common.schedule_cache(c) is common.schedule_cache(p) for c in checks)
    for key in ("stops", "z0_stops", "plan", "film"):
        assert key in common.schedule_cache(p)
    s1, i1, e1 = stop_list(p)
    e1 |= 1 << 20
    s1[:] = -1.0
    s2, i2, e2 = stop_list(p)
    assert not np.any(e2 & (1 << 20)) and np.all(s2 >= 0.0)
    other = replace(p, application_times=p.application_times[:-1])  # another schedule: nothing shared
    common.share_schedule(p, other)
    assert common.schedule_cache(other) is not common.schedule_cache(p)
    assert stop_list(other)[0].size == s2.size and np.count_nonzero(stop_list(other)[2]) < np.count_nonzero(e2)
