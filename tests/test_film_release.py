"""Cargo leaking from the vesicles in the vehicle film (``release_rate_vehicle``, docs/model.md 5.1).

The film's vesicles set their cargo free first-order, ``dm_v/dt = -k m_v``;
the cargo appears free in the film (node 0 of the cargo column), washed off
with the film and entering the skin by its own physics.  References:

- an independent method-of-lines solution (``scipy.integrate.solve_ivp`` on
  our own uniform finite volumes, tests/test_cargo_release.py's, plus the
  film's vesicles as one more unknown);
- the ledger: loaded cargo = free + in vesicles + compartments, to round-off;
- a rate of zero is the run without the key.
"""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from scipy import sparse

import exodiff
from exodiff import cli
from exodiff.errors import ScenarioError
from exodiff.solvers import layered as solver

from cargo_cases import CURCUMIN_RUN, before_and_after_wash, cargo_cells
from test_cargo_release import _method_of_lines

LAYERS = ["stratum_corneum", "viable_epidermis", "dermis"]


def _scenario(k=None, e=1.0, integrator=None, **sim):
    sc = copy.deepcopy(CURCUMIN_RUN)
    sc["formulation"]["cargo"]["encapsulation_efficiency"] = e
    if k is not None:
        sc["formulation"]["cargo"]["release_rate_vehicle"] = k
    if integrator is not None:
        sc["simulation"]["integrator"] = integrator
    sc["simulation"].update(sim)
    return exodiff.load_scenario(sc)


def _run(*a, **kw):
    return exodiff.run(_scenario(*a, **kw))


def test_a_rate_of_zero_is_the_run_without_the_key_bit_for_bit():
    a = _run(e=0.7)
    b = _run("0 1/h", e=0.7)
    for name in ("amount", "concentration", "free_cargo_amount", "loss_by_layer"):
        assert np.array_equal(a[name].values, b[name].values), name


@pytest.mark.parametrize("method", ["esdirk4", "sdirk4", "tr-bdf2"])
def test_the_kernel_with_zero_leakage_arrays_is_the_kernel_without_them(method, monkeypatch):
    # the leakage branch with kv = 0 everywhere takes exactly the steps of the plain kernel
    from exodiff.problem.layered import Problem1D, problem_from_scenario

    problem = problem_from_scenario(_scenario(e=0.7, integrator=method).resolved)
    raw = solver.integrate(problem)
    arr = problem.columns_arrays()
    S = arr["cap"].shape[0]
    zero = dict(arr, kveh=np.zeros(S), cveh=np.zeros(S))
    monkeypatch.setattr(Problem1D, "columns_arrays", lambda self: zero)
    raw0 = solver.integrate(problem)
    assert np.array_equal(raw.u_cols, raw0.u_cols)
    assert np.array_equal(raw.comp_cols, raw0.comp_cols)


def _mol_with_leak(ds, k, cells=(400, 200, 400), t_wash_h=8.0):
    """Free cargo in the film and the layers fed by the film's vesicles leaking at ``k`` (1/s).

    Our own finite volumes (tests/cargo_cases.py, the matrix of
    tests/test_cargo_release.py's ``_method_of_lines``) plus one unknown: the vesicles' cargo in the film
    (fraction of the loaded cargo), ``dv/dt = -k v``, feeding the film's free
    cargo ``+k v``.  The vesicles do not enter the skin (checked by the
    caller).  At wash-off both film unknowns are dropped.
    """
    fv = cargo_cells(ds, cells)
    lay, cap, kk, g_in, g_top, g_bot, h = (fv[key] for key in ("lay", "cap", "kk", "g_in", "g_top", "g_bot", "h"))
    nc = cap.size
    # unknowns in amounts (fraction of the loaded cargo): v (vesicles' cargo in the film), m0 (free cargo in
    # the film), m_i (cells); fluxes from u = m / cap
    n = nc + 2
    A = sparse.lil_matrix((n, n))
    A[0, 0] = -k
    A[1, 0] = k
    A[1, 1], A[1, 2] = -g_top / h, g_top / cap[0]
    A[2, 1] = g_top / h
    for i in range(nc):
        out = (g_top if i == 0 else g_in[i - 1]) + (g_in[i] if i + 1 < nc else g_bot) + kk[i] * cap[i]
        A[i + 2, i + 2] = -out / cap[i]
        if i + 1 < nc:
            A[i + 2, i + 3] = g_in[i] / cap[i + 1]
            A[i + 3, i + 2] = g_in[i] / cap[i]
    on = A.tocsr()
    off = A.tolil()
    off[0, :] = 0.0
    off[1, :] = 0.0
    off[2, 1] = 0.0
    off[2, 2] += g_top / cap[0]
    off = off.tocsr()
    y0 = np.zeros(n)
    y0[0] = 1.0
    y = before_and_after_wash(on, off, y0, ds["time"].values * 3600.0, t_wash_h * 3600.0, [0, 1])
    layers = np.stack([y[2:][lay == j].sum(axis=0) for j in range(len(cells))], axis=1)
    return layers, y[0], y[1]


def _compare(got, ref, rtol):
    big = ref > 1e-4 * ref.max()
    err = np.abs(got[big] - ref[big]) / ref[big]
    assert err.max() < rtol, err.max()


def test_very_fast_leakage_is_the_free_cargo_in_the_same_film_by_an_independent_method():
    # 1e4 1/h: the film's vesicles are empty within a second; liposomes (about 100 nm) do not pass the SC
    ds = _run("1e4 1/h")
    assert float(abs(ds["mass_balance_error"]).max()) < 1e-12
    ves_skin = ds["fraction"].sel(species="vesicle", compartment=LAYERS).values
    assert ves_skin.max() < 1e-9
    got = ds["fraction"].sel(species="cargo", compartment=LAYERS).values
    _compare(got, _method_of_lines(ds), 1e-2)  # the same agreement as the free cargo's test (worst 0.5 %)
    # and against exodiff's own free cargo in the same film (e = 0): the leak takes ~0.4 s of 24 h
    free = _run(e=0.0)["fraction"].sel(species="cargo", compartment=LAYERS).values
    _compare(got, free, 1e-3)
    assert got[:, 2].max() > 1e-4


@pytest.mark.parametrize("method", ["esdirk4", "tr-bdf2"])
def test_leakage_at_a_finite_rate_against_an_independent_method(method):
    k = 0.5 / 3600.0
    ds = _run("0.5 1/h", integrator=method)
    assert float(abs(ds["mass_balance_error"]).max()) < 1e-12
    ref, v, m0 = _mol_with_leak(ds, k)
    got = ds["fraction"].sel(species="cargo", compartment=LAYERS).values
    _compare(got, ref, 1e-2)
    # the vesicles' cargo in the film decays as exp(-k t) until wash-off (8 h): to 10x the time tolerance
    # (1e-7) of the dose (TR-BDF2's global error is 5.4e-7 at 7 h, ESDIRK4's under 1e-10)
    t = ds["time"].values
    on = t < 8.0  # the output at 8 h is after the wash
    ves_film = ds["fraction"].sel(species="vesicle", compartment="vehicle").values
    np.testing.assert_allclose(ves_film[on], np.exp(-0.5 * t[on]), rtol=0, atol=1e-6)
    free_film = ds["fraction"].sel(species="cargo", compartment="vehicle").values - ves_film
    np.testing.assert_allclose(free_film[on][1:], m0[on][1:], rtol=1e-3)
    # leaked cargo is booked to the vesicles' released slot, and is what did not leave the film otherwise
    rel = ds["fraction"].sel(species="vesicle", compartment="released").values
    np.testing.assert_allclose(rel[on], 1.0 - np.exp(-0.5 * t[on]), rtol=0, atol=1e-6)


@pytest.mark.parametrize("method", ["esdirk4", "sdirk4", "tr-bdf2"])
def test_ledgers_stay_exact_with_leakage_part_free_and_a_regimen(method):
    sc = copy.deepcopy(CURCUMIN_RUN)
    form = sc["formulation"]
    form["cargo"].update(encapsulation_efficiency=0.7, release_rate_vehicle="1 1/h")
    form["evaporation_fraction"] = 0.5
    form["evaporation_time"] = "20 min"
    sc["simulation"]["integrator"] = method
    ds = exodiff.run(exodiff.load_scenario(sc))
    assert float(abs(ds["mass_balance_error"]).max()) < 1e-12
    frac = ds["fraction"].sel(species="cargo")
    np.testing.assert_allclose(frac.sum("compartment").values, 1.0, rtol=0, atol=1e-12)
    assert float(ds["fraction"].sel(species="vesicle", compartment="released")[-1]) > 0.5


BAD = [
    ({"release_rate_vehicle": "-1 1/h"}, "formulation.cargo.release_rate_vehicle"),
    ({"release_rate_vehicle": "1 h"}, "formulation.cargo.release_rate_vehicle"),
    ({"release_rate_vehicle": 2.0}, "formulation.cargo.release_rate_vehicle"),
]


@pytest.mark.parametrize("cargo,key", BAD, ids=[f"{k}-{i}" for i, (_, k) in enumerate(BAD)])
def test_bad_release_rate_vehicle_is_one_line_exit_2(tmp_path, capsys, cargo, key):
    base = copy.deepcopy(CURCUMIN_RUN)
    with pytest.raises(ScenarioError) as exc:
        exodiff.load_scenario(base, {"formulation.cargo": dict(base["formulation"]["cargo"], **cargo)})
    assert [i.key for i in exc.value.issues] == [key]
    path = tmp_path / "bad.toml"
    text = exodiff.load_scenario(base).text
    value = json.dumps(next(iter(cargo.values())))
    path.write_text(text.replace("[formulation.cargo]\n", f"[formulation.cargo]\n{next(iter(cargo))} = {value}\n"))
    assert cli.main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and key in err[0] and str(path) in err[0], err


@pytest.mark.parametrize("extra", [{"formulation.vehicle": "infinite"},
                                   {"delivery.method": "microneedle", "delivery.device": "dermaroller_1_0mm"}],
                         ids=["infinite", "channels"])
def test_leakage_where_it_is_not_modelled_is_one_line(extra):
    with pytest.raises(ScenarioError) as exc:
        exodiff.load_scenario(copy.deepcopy(CURCUMIN_RUN),
                              dict({"formulation.cargo.release_rate_vehicle": "1 1/h"}, **extra))
    keys = [i.key for i in exc.value.issues]
    assert keys == ["formulation.cargo.release_rate_vehicle"], keys


@pytest.mark.parametrize("method", ["esdirk4", "sdirk4", "tr-bdf2"])
def test_the_kernel_with_leakage_equals_its_numpy_twin(method):
    """Leakage in an evaporating film, part of the cargo free, a wash-off: step for step, each integrator."""
    from exodiff.kernels import column1d as K
    from exodiff.problem.layered import problem_from_scenario
    from twins import reference_1d as R

    sc = copy.deepcopy(CURCUMIN_RUN)
    sc["formulation"].update(evaporation_fraction=0.5, evaporation_time="20 min")
    sc["formulation"]["cargo"].update(encapsulation_efficiency=0.7, release_rate_vehicle="1 1/h")
    sc["simulation"].update(integrator=method, duration="12 h", resolution={"cells": 16})
    pb = problem_from_scenario(exodiff.load_scenario(sc).resolved)
    assert pb.release_vehicle > 0 and len(pb.all_columns) == 2
    uk, ck, sk = R.run_columns(pb, kernel=K.integrate_columns)
    ur, cr, sr = R.run_columns(pb)
    assert list(sk) == list(sr)
    np.testing.assert_allclose(uk, ur, rtol=1e-11, atol=1e-12 * np.abs(ur).max())
    np.testing.assert_allclose(ck, cr, rtol=1e-11, atol=1e-12 * np.abs(cr).max())
    # the leak did happen: the vesicles' released slot of the top layer holds most of their cargo by 8 h
    L = len(pb.layers)
    assert ck[-1, 0, 3 * L] > 0.5 * pb.concentration * pb.vehicle_thickness
