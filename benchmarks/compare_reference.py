"""exodiff against scipy's method of lines at equal accuracy, and start-up costs.

Run from the repository root (2-core machine: nothing else running)::

    python benchmarks/compare_reference.py                 # full (a few minutes)
    python benchmarks/compare_reference.py --quick         # fewer settings, 1 repeat
    python benchmarks/compare_reference.py --no-startup    # only the solver comparisons (1D and r-z)
    python benchmarks/compare_reference.py --rz            # only the r-z unit cell vs splu stepping (about 25 min)

What is compared
----------------
The 3-layer finite-dose problem of ``bench_solver_1d.vesicle_problem`` on one
grid.  Both solvers integrate the *same* finite-volume semi-discretisation,
rebuilt here from ``Problem1D.kernel_arrays()`` (``cap``, ``g``, ``cdeg``,
``cup``, ``ccl``): in amounts ``m = cap * u``,

    dm/dt = A diag(1/cap) m,   A tridiagonal: A[i,i-1] = g[i], A[i,i+1] = g[i+1],
                               A[i,i] = -(g[i] + g[i+1] + kdeg C + kup C + kcl C),

so the comparison is about time integration only.  The reference solution is
exact for that linear system: with ``S = C^-1/2 A C^-1/2`` symmetric,
``m(t) = C^1/2 V exp(Lambda t) V^T C^-1/2 m(0)`` (``eigh_tridiagonal``); it
agrees with Radau at ``rtol=1e-12`` to 1e-12 of the dose or better (checked and
printed on every run).

``--sdirk4`` adds a step-count study for the proposal in docs/performance.md:
a plain numpy prototype of the L-stable, stiffly accurate 5-stage SDIRK of
order 4 (embedded order 3; Hairer & Wanner, Solving ODEs II, Table IV.6.5)
with exodiff's step controller, landing and error norm, on the same system.

exodiff runs each of ``--integrators`` (default ESDIRK4, the default, and
TR-BDF2, the earlier one); targets 1e-3 to 1e-8 of the dose give the whole
work-precision curve, ``--json`` keeps it and every sweep point, and
``benchmarks/plot_work_precision.py`` draws it (docs/img/work_precision_1d.png).

Error of a run: max over the 49 outputs and over the vehicle and each layer of
``|amount - exact| / dose``.  For each solver the tolerance is swept from
loose to tight in steps of 10^0.25 (a sweep ends once two settings in a row
beat the smallest target tenfold); a setting *reaches* a target when it and
every tighter setting of the sweep meet it (so a lucky loose setting does not
count).  The loosest setting reaching the target in each sweep is re-timed
(best of ``--repeat``; for scipy one per ``atol`` factor) and the fastest is
reported.  scipy gets the benefit of the doubt: its ``atol`` is
swept too (``atol = rtol * f * dose``, several ``f``), and only ``solve_ivp``
is timed (operator built beforehand); exodiff's time is the whole
``integrate`` call (arrays, stop list, kernel, mass-balance check).

The scipy reference is ``solve_ivp(method="BDF")`` with the constant sparse
Jacobian passed as ``jac`` (sparse LU); Radau (sparse ``jac``) and LSODA
(banded Jacobian) are printed for context.

The r-z unit cell (``--rz``; part of the full run)
--------------------------------------------------
The microneedle problem of ``bench_solver_rz`` (closing channel, finite
dose, 48 h) on the ``half`` and ``auto`` grids, the same semi-discretisation
on both sides (:class:`RZSystem` assembles it from the kernel's own
``update_coefficients``).  exodiff (``integrate_rz``, serial kernel unless
``--rz-parallel``) against two scipy implicit integrators whose linear
algebra is ``scipy.sparse.linalg.splu``:

- ``splu TR-BDF2``: the method exodiff approximates, with exact stages (one
  ``splu`` of ``C - a A`` per stage, the stage-2 factors reused for the
  error filter), exodiff's controller, landing and norm (:func:`splu_trbdf2`);
- ``solve_ivp(method="BDF")`` on ``dm/dt = A(t) C(t)^-1 m`` with the sparse
  Jacobian (variable order 1-5, LU reused over many steps), rtol and the
  atol factor swept.

Error: max over the 49 outputs of the vehicle and per-layer amounts against
a reference solution, relative to the dose.  The reference is ``solve_ivp``
BDF at rtol 1e-11 (checked against rtol 1e-10 and against exodiff at tol
1e-8; both printed).  Sweeps, "reaching" and timing as for 1D, except that
a sweep stops after two settings in a row at half the smallest target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_solver_1d import RESOLUTIONS, run_child, vesicle_problem  # noqa: E402

from exodiff.solvers.layered import integrate  # noqa: E402

TARGETS = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)
#: exodiff's 1D integrators compared (simulation.integrator); the first is the headline
INTEGRATORS = ("esdirk4", "krylov", "tr-bdf2")


# -- the semi-discrete system ---------------------------------------------------
def semidiscrete(problem):
    """Sparse operator and initial amounts of ``problem`` (finite vehicle, no evaporation)."""
    import scipy.sparse as sp

    if problem.vehicle != "finite" or problem.evaporation_fraction > 0 or problem.wash_off_time is not None:
        raise ValueError("the reference covers a finite vehicle without evaporation or wash-off")
    a = problem.kernel_arrays()
    cap, g = a["cap"], a["g"]
    loss = a["cdeg"] + a["cup"] + a["ccl"]
    diag = -(g[:-1] + g[1:] + loss)  # g[0] = 0: nothing above the vehicle
    off = g[1:-1]
    A = sp.diags([off, diag, off], [-1, 0, 1], format="csc")
    J = (A @ sp.diags(1.0 / cap)).tocsc()  # d m / dt = J m
    m0 = np.zeros(cap.size)
    m0[0] = cap[0] * problem.concentration
    # banded storage of J for LSODA (rows: upper, diagonal, lower)
    Jd = J.toarray()
    band = np.zeros((3, cap.size))
    band[0, 1:] = np.diag(Jd, 1)
    band[1] = np.diag(Jd)
    band[2, :-1] = np.diag(Jd, -1)
    return dict(J=J, band=band, m0=m0, cap=cap, diag=diag, off=off, slices=problem.grid.layer_slices,
                dose=problem.dose, times=problem.output_times)


def regions(m, slices):
    """Amounts (k, 1 + L): vehicle, then each layer, from node amounts (k, n)."""
    tissue = m[:, 1:]
    return np.stack([m[:, 0]] + [tissue[:, s].sum(axis=1) for s in slices], axis=1)


def exact_regions(sd):
    """Exact amounts of the semi-discrete system at the output times (eigen-decomposition)."""
    from scipy.linalg import eigh_tridiagonal

    cap = sd["cap"]
    d = sd["diag"] / cap
    e = sd["off"] / np.sqrt(cap[:-1] * cap[1:])
    lam, V = eigh_tridiagonal(d, e)
    s = np.sqrt(cap)
    c = V.T @ (sd["m0"] / s)
    m = s[None, :] * ((np.exp(np.outer(sd["times"], lam)) * c) @ V.T)
    return regions(m, sd["slices"]), lam


# -- the runs -------------------------------------------------------------------
def run_exodiff(problem, tol, integrator=None):
    """(amounts, wall s of integrate, kernel wall s, stats)."""
    p = replace(problem, tolerance=tol)
    if integrator is not None:
        p = replace(p, integrator=integrator)
    t0 = time.perf_counter()
    raw = integrate(p)
    wall = time.perf_counter() - t0
    return regions(raw.u * p.kernel_arrays()["cap"], p.grid.layer_slices), wall, raw.stats["wall_time_s"], raw.stats


def run_scipy(sd, method, rtol, atol_factor):
    """(amounts, wall s of solve_ivp, stats)."""
    from scipy.integrate import solve_ivp

    J, t = sd["J"], sd["times"]
    atol = rtol * atol_factor * sd["dose"]

    def fun(_t, y):
        return J @ y

    kw = {}
    if method == "LSODA":
        band = sd["band"]
        kw = dict(jac=lambda _t, _y: band, lband=1, uband=1)
    else:
        kw = dict(jac=J)
    t0 = time.perf_counter()
    sol = solve_ivp(fun, (t[0], t[-1]), sd["m0"], method=method, t_eval=t, rtol=rtol, atol=atol, **kw)
    wall = time.perf_counter() - t0
    if not sol.success:
        raise RuntimeError(f"{method} rtol={rtol:g}: {sol.message}")
    return regions(sol.y.T, sd["slices"]), wall, dict(nfev=sol.nfev, njev=sol.njev, nlu=sol.nlu)


def best_of(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        best = min(best, fn())
    return best


def reaching(rows, target):
    """Per tolerance sweep, the loosest setting that reaches ``target``.

    A setting reaches the target when it and every tighter setting of its
    sweep meet it.  ``rows``: dicts with ``sweep`` (the key of one tolerance
    sweep, e.g. scipy's atol factor), ``tol`` and ``err``.  Chosen from the
    errors alone (a tighter tolerance never costs less work), so noise in the
    sweep's single timings cannot pick the setting.
    """
    out = []
    for key in sorted({r["sweep"] for r in rows}, key=str):
        sweep = sorted((r for r in rows if r["sweep"] == key), key=lambda r: -r["tol"])  # loose first
        for i, r in enumerate(sweep):
            if all(s["err"] <= target for s in sweep[i:]):
                out.append(r)
                break
    return out


def compare(resolution, args, log):
    problem = vesicle_problem(resolution)
    sd = semidiscrete(problem)
    exact, lam = exact_regions(sd)
    dose = sd["dose"]
    n = sd["cap"].size
    log(f"\n## grid '{resolution}': {n} nodes (vehicle + {problem.grid.n} cells), "
        f"stiffness |lambda| {-lam.max():.2e} .. {-lam.min():.2e} 1/s")
    log(f"fate at 48 h (fraction of dose): vehicle {exact[-1, 0] / dose:.3f}, "
        + ", ".join(f"{nm} {exact[-1, i + 1] / dose:.2e}" for i, nm in enumerate(problem.layer_names))
        + f", removed/sink {1 - exact[-1].sum() / dose:.3f}")
    rad, _, _ = run_scipy(sd, "Radau", 1e-12, 1e-8)
    chk = float(np.abs(rad - exact).max() / dose)
    log(f"check: Radau rtol=1e-12 vs exact eigen-solution: {chk:.1e} of the dose")
    integrate(problem)  # warm-up (JIT cache load)

    def err(amounts):
        return float(np.abs(amounts - exact).max() / dose)

    step = 0.5 if args.quick else 0.25
    # from the loosest tolerance a scenario takes (0.1): the Krylov propagator's error is far below its tolerance
    exo_tols = 10.0 ** -np.arange(1.0, 10.0 + 1e-9, step)
    sci_tols = 10.0 ** -np.arange(2.0, 10.0 + 1e-9, step)
    # a sweep stops once two settings in a row beat the smallest target tenfold:
    # tighter ones are assumed to meet every target too
    floor = 0.1 * min(args.targets)

    def sweep(tols, run):
        out, good = [], 0
        for tol in tols:
            row = run(tol)
            out.append(row)
            good = good + 1 if row["err"] <= floor else 0
            if good == 2:
                break
        return out

    def exo_row(integrator):
        def run(tol):
            amounts, wall, kwall, stats = run_exodiff(problem, tol, integrator)
            info = (f"{stats['krylov_vectors']} vectors" if stats["integrator"] == "krylov"
                    else f"{stats['steps']} steps")
            return dict(sweep="exodiff", tol=tol, err=err(amounts), time=wall, kernel=kwall,
                        info=info, steps=stats["steps"] + stats["rejected"])
        return run

    def sci_row(method, f):
        def run(tol):
            amounts, wall, st = run_scipy(sd, method, tol, f)
            return dict(sweep=f, tol=tol, atolf=f, err=err(amounts), time=wall,
                        info=f"nfev {st['nfev']}, nlu {st['nlu']}")
        return run

    for integrator in args.integrators:
        integrate(replace(problem, integrator=integrator))  # warm-up (JIT cache load)
    rows = {f"exodiff {m}": sweep(exo_tols, exo_row(m)) for m in args.integrators}
    for method in args.methods:
        rows[method] = []
        for f in args.atol_factors:
            rows[method] += sweep(sci_tols, sci_row(method, f))
    if args.verbose:
        for name, rs in rows.items():
            for r in rs:
                log(f"  {name:8s} tol {r['tol']:.1e} atolf {r.get('atolf', 1e-3):.0e} err {r['err']:.2e} "
                    f"time {r['time'] * 1e3:8.2f} ms  {r['info']}")

    def timed(name, r):
        """Re-time a chosen setting, best of --repeat."""
        if name.startswith("exodiff"):
            kern = []

            def once():
                _, w, kw, _ = run_exodiff(problem, r["tol"], name.split()[1])
                kern.append(kw)
                return w
            t = best_of(once, args.repeat_exodiff)
            return t, min(kern)
        return best_of(lambda: run_scipy(sd, name, r["tol"], r["atolf"])[1], args.repeat), None

    table = []
    for target in args.targets:
        line = dict(resolution=resolution, nodes=n, target=target)
        for name in rows:
            cands = reaching(rows[name], target)
            if not cands:
                line[name] = None
                continue
            best = None
            for r in cands:
                t, kern = timed(name, r)
                if best is None or t < best[0]:
                    best = (t, kern, r)
            t, kern, r = best
            line[name] = dict(time=t, kernel=kern, tol=r["tol"], atolf=r.get("atolf"), err=r["err"], info=r["info"])
        table.append(line)
    sweeps = {name: [{k: v for k, v in r.items() if k in ("tol", "atolf", "err", "time", "steps")} for r in rs]
              for name, rs in rows.items()}
    return table, dict(resolution=resolution, nodes=n, sweeps=sweeps)


# -- proposal: step counts of a 4th-order SDIRK at equal accuracy ---------------
#: Hairer & Wanner's SDIRK4 (gamma = 1/4, L-stable, stiffly accurate); BHAT is
#: the embedded 3rd-order solution (order conditions checked in rational arithmetic)
SDIRK4_A = np.array([[1 / 4, 0, 0, 0, 0], [1 / 2, 1 / 4, 0, 0, 0], [17 / 50, -1 / 25, 1 / 4, 0, 0],
                     [371 / 1360, -137 / 2720, 15 / 544, 1 / 4, 0],
                     [25 / 24, -49 / 48, 125 / 16, -85 / 12, 1 / 4]])
SDIRK4_BHAT = np.array([59 / 48, -17 / 96, 225 / 32, -85 / 12, 0.0])


def sdirk4_prototype(sd, tol):
    """Integrate the semi-discrete system with SDIRK4; (amounts, accepted steps, rejected steps).

    exodiff's conventions: error in amounts, max norm with ``atol = tol 1e-3
    dose``, controller ``0.9 err^(-1/p)`` clamped to [0.2, 5], landing on every
    output without slivers, first step ``1e-8 t_end``.  Every stage solves
    ``(C - h/4 A) U = ...`` with the same matrix: one factorization per step.
    """
    from scipy.linalg import solve_banded

    cap, diag, off = sd["cap"], sd["diag"], sd["off"]
    n = cap.size
    E = SDIRK4_A[4] - SDIRK4_BHAT

    def Au(u):
        r = diag * u
        r[:-1] += off * u[1:]
        r[1:] += off * u[:-1]
        return r

    times = sd["times"]
    u = sd["m0"] / cap
    out = [u * cap]
    t, h = 0.0, 1e-8 * times[-1]
    atol = tol * 1e-3 * sd["dose"]
    steps = rejected = 0
    for ts in times[1:]:
        while t < ts:
            rem = ts - t
            last = h >= rem * (1 - 1e-12)
            hh = rem if last else (0.5 * rem if 2 * h > rem else h)
            ab = np.zeros((3, n))
            ab[0, 1:] = -0.25 * hh * off
            ab[1] = cap - 0.25 * hh * diag
            ab[2, :-1] = -0.25 * hh * off
            F = []
            for i in range(5):
                rhs = cap * u + hh * sum(SDIRK4_A[i, j] * F[j] for j in range(i)) if i else cap * u
                U = solve_banded((1, 1), ab, rhs)
                F.append(Au(U))
            e = hh * sum(E[i] * F[i] for i in range(5))
            err = float(np.max(np.abs(e) / (atol + tol * np.abs(cap * U))))
            fac = 5.0 if err <= 0 else min(5.0, max(0.2, 0.9 * err ** -0.25))
            if err <= 1.0:
                steps += 1
                t = ts if last else t + hh
                u = U
                h_new = hh * fac
                h = h if (h_new < h and hh < h) else h_new
            else:
                rejected += 1
                h = hh * fac
        out.append(u * cap)
    return regions(np.array(out), sd["slices"]), steps, rejected


def sdirk4_study(resolution, args, log):
    problem = vesicle_problem(resolution)
    sd = semidiscrete(problem)
    exact, _ = exact_regions(sd)
    dose = sd["dose"]
    log(f"\n## proposal: accepted steps to reach each target, grid '{resolution}' "
        "(TR-BDF2 = exodiff's kernel; SDIRK4 = numpy prototype, same controller and norm)")
    tols = 10.0 ** -np.arange(1.0, 9.0 + 1e-9, 0.25)
    rows = {"TR-BDF2": [], "SDIRK4": []}
    for tol in tols:
        amounts, _, _, st = run_exodiff(problem, tol, "tr-bdf2")
        rows["TR-BDF2"].append(dict(sweep=0, tol=tol, err=float(np.abs(amounts - exact).max() / dose),
                                    steps=st["steps"] + st["rejected"]))
        amounts, s, r = sdirk4_prototype(sd, tol)
        rows["SDIRK4"].append(dict(sweep=0, tol=tol, err=float(np.abs(amounts - exact).max() / dose),
                                   steps=s + r))
    log("| target err/dose | TR-BDF2 tol | TR-BDF2 steps | SDIRK4 tol | SDIRK4 steps | step ratio |")
    log("|---|---|---|---|---|---|")
    for target in args.targets:
        a = reaching(rows["TR-BDF2"], target)
        b = reaching(rows["SDIRK4"], target)
        if a and b:
            a, b = a[0], b[0]
            log(f"| {target:.0e} | {a['tol']:.1e} | {a['steps']} | {b['tol']:.1e} | {b['steps']} | "
                f"{a['steps'] / b['steps']:.1f} |")


def print_table(table, methods, log, exo="exodiff esdirk4"):
    """The table of one exodiff integrator (``exo``) against the scipy ``methods`` (the first is the headline)."""
    ref = methods[0]
    log(f"\n{exo}:")
    log("\n| grid | nodes | target err/dose | exodiff tol | exodiff ms (kernel ms) | "
        + " | ".join(f"{m} rtol (atol f) | {m} ms" for m in methods)
        + "".join(f" | {m}/exodiff" for m in methods) + " |")
    log("|" + "---|" * (5 + 2 * len(methods) + len(methods)))
    for ln in table:
        e = ln.get(exo)
        cells = [ln["resolution"], str(ln["nodes"]), f"{ln['target']:.0e}",
                 f"{e['tol']:.1e}" if e else "-",
                 f"{e['time'] * 1e3:.2f} ({e['kernel'] * 1e3:.2f})" if e else "-"]
        for m in methods:
            s = ln.get(m)
            cells += [f"{s['tol']:.1e} ({s['atolf']:.0e})" if s else "-", f"{s['time'] * 1e3:.1f}" if s else "-"]
        for m in methods:
            s = ln.get(m)
            cells.append(f"**{s['time'] / e['time']:.1f}x**" if (s and e and m == ref) else
                         (f"{s['time'] / e['time']:.1f}x" if (s and e) else "-"))
        log("| " + " | ".join(cells) + " |")


# -- 2D: the r-z unit cell against splu stepping ------------------------------------------
#: grids of the 2D comparison: ``half`` is ``auto`` with half the cells in r and z
RZ_RESOLUTIONS = {"half": 0.5, "auto": 1}
RZ_TARGETS = (1e-4, 1e-5)


def rz_problem(resolution, tolerance=1e-5):
    """The microneedle unit cell of ``bench_solver_rz`` on one of :data:`RZ_RESOLUTIONS`."""
    from bench_solver_rz import microneedle_problem

    f = RZ_RESOLUTIONS[resolution]
    if f == 1:
        return microneedle_problem("auto", tolerance)
    g = microneedle_problem("auto").grid
    return microneedle_problem({"nr": max(2, round(f * g.nr)), "nz": max(2, round(f * g.nz))}, tolerance)


class RZSystem:
    """The unit cell's semi-discretisation as sparse matrices, assembled fast for any ``t``.

    The same coefficients as the kernel (the compiled
    ``exodiff.kernels.rz.update_coefficients``), so the same system of ODEs:
    ``d(C u)/dt = A(t) u`` over ``[vehicle, cells row by row]``.  The CSC
    pattern and the slot of every conductance are computed once; a new ``t``
    costs one coefficient update and a ``bincount`` (about 1 ms for 22k
    cells), so scipy pays for factorising, not for assembly in Python.
    Finite vehicle without evaporation or wash-off (the benchmark problem).
    """

    def __init__(self, problem):
        if problem.vehicle != "finite" or problem.evaporation_fraction > 0 or problem.wash_off_time is not None:
            raise ValueError("the 2D reference covers a finite vehicle without evaporation or wash-off")
        self.p = problem
        g = problem.grid
        nz, nr = self.nz, self.nr = g.shape
        self.n = n = 1 + nz * nr
        idx = 1 + np.arange(nz * nr).reshape(nz, nr)
        # edges: vehicle-top row, vertical, radial
        ea = np.concatenate([np.zeros(nr, dtype=np.int64), idx[:-1].ravel(), idx[:, :-1].ravel()])
        eb = np.concatenate([idx[0], idx[1:].ravel(), idx[:, 1:].ravel()])
        cells = idx.ravel()
        rows = np.concatenate([ea, eb, ea, eb, cells])
        cols = np.concatenate([eb, ea, ea, eb, cells])
        self.sign = np.concatenate([np.ones(2 * ea.size), -np.ones(2 * ea.size)])
        key = cols.astype(np.int64) * n + rows
        uk, self.slot = np.unique(key, return_inverse=True)
        self.indices = (uk % n).astype(np.int32)
        self.indptr = np.searchsorted(uk // n, np.arange(n + 1)).astype(np.int32)
        self.diag_slot = np.searchsorted(uk, np.arange(n, dtype=np.int64) * (n + 1))
        self.ne = ea.size
        self.wabs = g.annulus_areas / problem.cell_area
        self.capv = problem.vehicle_capacity_at(0.0)
        self.layer_slices = g.z.layer_slices
        self._t = None

    def at(self, t):
        """``(A data in CSC order, C)`` at time ``t`` (cached for the last ``t``)."""
        if t == self._t:
            return self._A, self._C
        co = self.p.coefficients_at(t)
        gz, gr = co["gz"], co["gr"]
        g = np.concatenate([gz[0], gz[1:self.nz].ravel(), gr[:, 1:self.nr].ravel()])
        loss = co["loss"].copy()
        loss[-1] += gz[self.nz]
        vals = np.concatenate([g, g, -g, -g, -loss.ravel()])
        self._A = np.bincount(self.slot, weights=vals, minlength=self.indices.size)
        self._C = np.concatenate([[self.capv], co["cap"].ravel()])
        self._t = t
        return self._A, self._C

    def matrix(self, data):
        import scipy.sparse as sp

        return sp.csc_matrix((data, self.indices, self.indptr), shape=(self.n, self.n))

    def stage_matrix(self, t, a):
        """``C(t) - a A(t)`` (CSC) for a stage solve."""
        A, C = self.at(t)
        data = -a * A
        data[self.diag_slot] += C
        return self.matrix(data)

    def amounts(self, us, times):
        """Vehicle and per-layer amounts, shape (k, 1 + L), from states ``u`` (k, n)."""
        out = []
        for u, t in zip(us, times):
            _, C = self.at(float(t))
            m = (C[1:] * u[1:]).reshape(self.nz, self.nr).sum(axis=1)
            out.append([C[0] * u[0]] + [m[s].sum() for s in self.layer_slices])
        return np.array(out)


def splu_trbdf2(sysm, tol, permc_spec="MMD_AT_PLUS_A"):
    """TR-BDF2 with exact stages (``splu`` of ``C - a A`` per stage), exodiff's controller and norm.

    The unsplit method exodiff's factorised kernel approximates, written
    lean for speed: fast assembly (:class:`RZSystem`), one ``splu`` per
    stage, the stage-2 factors reused for the error filter ``(C - d A)^-1 C``
    (no extra factorisation), derivatives ``A u`` of the exact stages.  The
    step controller, landing, error weights, per-row area-weighted RMS norm,
    and stop list (outputs + the closure time) are exodiff's.  Without
    compartments in the norm (less work than exodiff does).

    Returns
    -------
    (us, stats) : states at the output times (k, n) and a dict of counts.
    """
    from scipy.sparse.linalg import splu

    from exodiff.kernels.control import ALPHA_TR, BDF_A, BDF_B, ERR_1, ERR_2, ERR_3, GAMMA, SHRINK_MIN
    from exodiff.kernels.control import landing_step, next_step
    from exodiff.solvers.unit_cell import stop_list_rz

    landing = getattr(landing_step, "py_func", landing_step)
    nxt = getattr(next_step, "py_func", next_step)
    # the stage matrices are structurally symmetric M-matrices: symmetric-mode
    # ordering, no pivoting needed (fastest of the orderings tried, 1.3-1.8x)
    lu_kw = dict(permc_spec=permc_spec, options=dict(SymmetricMode=True))
    p = sysm.p
    nz, nr = sysm.nz, sysm.nr
    stops, out_idx, _ = stop_list_rz(p)
    times = p.output_times
    u = np.zeros(sysm.n)
    u[0] = p.concentration
    us = np.zeros((times.size, sysm.n))
    us[0] = u
    t, h_next = 0.0, 1e-8 * float(times[-1])
    atol = tol * 1e-3 * p.amount_scale()
    w = sysm.wabs
    steps = rejected = nlu = failed = 0
    for k in range(stops.size):
        t_stop = stops[k]
        while t < t_stop:
            h, last = landing(h_next, t_stop - t)
            if last:
                h = t_stop - t
            a = ALPHA_TR * h
            An, Cn = sysm.at(t)
            Fn = sysm.matrix(An) @ u
            mn = Cn * u
            tg, t1 = t + GAMMA * h, t + h
            ug = splu(sysm.stage_matrix(tg, a), **lu_kw).solve(mn + a * Fn)
            Ag, Cg = sysm.at(tg)
            Fg = sysm.matrix(Ag) @ ug
            mg = Cg * ug
            lu = splu(sysm.stage_matrix(t1, a), **lu_kw)
            nlu += 2
            u1 = lu.solve(BDF_A * mg - BDF_B * mn)
            A1, C1 = sysm.at(t1)
            F1 = sysm.matrix(A1) @ u1
            e = C1 * lu.solve(h * (ERR_1 * Fn + ERR_2 * Fg + ERR_3 * F1))
            m1 = C1 * u1
            q = np.abs(e[1:]).reshape(nz, nr) / (atol * w + tol * np.abs(m1[1:]).reshape(nz, nr))
            err = max(float(np.sqrt((q * q) @ w).max()), abs(e[0]) / (atol + tol * abs(m1[0])))
            if err <= 1.0:
                steps += 1
                t = t_stop if last else t1
                u = u1
                h_new = nxt(h, err)
                if h_new < h_next and h < h_next:
                    h_new = h_next
                h_next = h_new
                failed = 0
            else:
                rejected += 1
                failed += 1
                h_next = nxt(h, err)
                if failed >= 2:
                    h_next = min(h_next, SHRINK_MIN * h)
        if out_idx[k] >= 0:
            us[out_idx[k]] = u
    return us, dict(steps=steps, rejected=rejected, lu=nlu)


def run_splu(sysm, tol, permc_spec="MMD_AT_PLUS_A"):
    t0 = time.perf_counter()
    us, st = splu_trbdf2(sysm, tol, permc_spec)
    wall = time.perf_counter() - t0
    return sysm.amounts(us, sysm.p.output_times), wall, st


def run_bdf_rz(sysm, rtol, atol_factor, method="BDF"):
    """solve_ivp (BDF or Radau) on ``dm/dt = A(t) C(t)^-1 m`` with the sparse Jacobian (splu inside)."""
    import scipy.sparse as sp
    from scipy.integrate import solve_ivp

    p = sysm.p
    times = p.output_times
    m0 = np.zeros(sysm.n)
    m0[0] = sysm.capv * p.concentration

    def fun(t, m):
        A, C = sysm.at(t)
        return sysm.matrix(A) @ (m / C)

    def jac(t, m):
        A, C = sysm.at(t)
        return (sysm.matrix(A) @ sp.diags(1.0 / C)).tocsc()

    t0 = time.perf_counter()
    sol = solve_ivp(fun, (times[0], times[-1]), m0, method=method, t_eval=times, rtol=rtol,
                    atol=rtol * atol_factor * p.unit_dose, jac=jac)
    wall = time.perf_counter() - t0
    if not sol.success:
        raise RuntimeError(f"{method} rtol={rtol:g}: {sol.message}")
    us = sol.y.T.copy()
    for i, t in enumerate(times):
        us[i] = us[i] / sysm.at(float(t))[1]
    return sysm.amounts(us, times), wall, dict(nfev=sol.nfev, njev=sol.njev, nlu=sol.nlu)


def run_exodiff_rz(problem, tol, parallel):
    from exodiff.solvers.ledger import tissue_amounts_rz, vehicle_amount_rz
    from exodiff.solvers.unit_cell import integrate_rz

    p = replace(problem, tolerance=tol)
    t0 = time.perf_counter()
    raw = integrate_rz(p, parallel=parallel)
    wall = time.perf_counter() - t0
    am = np.column_stack([vehicle_amount_rz(p, raw), tissue_amounts_rz(p, raw)])
    return am, wall, raw.stats


def compare_rz(resolution, args, log):
    problem = rz_problem(resolution)
    sysm = RZSystem(problem)
    nz, nr = problem.grid.shape
    dose = problem.unit_dose
    par = args.rz_parallel
    log(f"\n## r-z unit cell, grid '{resolution}': nr {nr} x nz {nz} = {nr * nz} cells "
        f"(+ vehicle); exodiff kernel {'parallel' if par else 'serial'}")
    # reference: solve_ivp BDF (order up to 5) at a very tight tolerance, checked against a
    # 10x looser BDF run and against exodiff itself at a tight tolerance
    t0 = time.perf_counter()
    ref, _, st_ref = run_bdf_rz(sysm, args.rz_ref_tol, 1e-3)
    looser, _, _ = run_bdf_rz(sysm, args.rz_ref_tol * 10, 1e-3)
    log(f"reference: solve_ivp BDF rtol {args.rz_ref_tol:g}, atol 1e-3 rtol dose ({st_ref['nlu']} LU, "
        f"{st_ref['nfev']} f-evaluations); vs rtol {args.rz_ref_tol * 10:g}: "
        f"{float(np.abs(looser - ref).max() / dose):.1e} of the dose ({time.perf_counter() - t0:.0f} s)")
    if args.rz_check_exodiff:
        am, wall, st = run_exodiff_rz(problem, args.rz_check_exodiff, par)
        log(f"check: exodiff at tol {args.rz_check_exodiff:g} ({st['steps']} steps, {wall:.0f} s) vs the "
            f"reference: {float(np.abs(am - ref).max() / dose):.1e} of the dose")
    log(f"fate at 48 h (fraction of dose): vehicle {ref[-1, 0] / dose:.3f}, "
        + ", ".join(f"{nm} {ref[-1, i + 1] / dose:.2e}" for i, nm in enumerate(problem.layer_names))
        + f", removed {1 - ref[-1].sum() / dose:.3f}")

    def err(am):
        return float(np.abs(am - ref).max() / dose)

    # a sweep stops after two settings in a row at half the smallest target
    # (splu runs at tight tolerances take minutes on the auto grid)
    floor = 0.5 * min(args.rz_targets)
    step = 0.5

    def sweep(tols, run, key):
        out, good = [], 0
        for tol in tols:
            row = run(tol)
            row["sweep"] = key
            out.append(row)
            if args.verbose:
                log(f"  {key} tol {tol:.1e}: err {row['err']:.1e}, {row['time']:.3f} s, {row['info']}")
            good = good + 1 if row["err"] <= floor else 0
            if good == 2:
                break
        return out

    def exo_row(tol):
        am, wall, st = run_exodiff_rz(problem, tol, par)
        return dict(tol=tol, err=err(am), time=wall, kernel=st["wall_time_s"],
                    info=f"{st['steps']} steps + {st['rejected']} rejected", steps=st["steps"] + st["rejected"])

    def splu_row(tol):
        am, wall, st = run_splu(sysm, tol, args.rz_permc)
        return dict(tol=tol, err=err(am), time=wall, info=f"{st['steps']} steps + {st['rejected']} rejected",
                    steps=st["steps"] + st["rejected"])

    def bdf_row(f):
        def run(tol):
            am, wall, st = run_bdf_rz(sysm, tol, f)
            return dict(tol=tol, atolf=f, err=err(am), time=wall, info=f"nfev {st['nfev']} nlu {st['nlu']}",
                        steps=st["nlu"])
        return run

    rows_e = sweep(10.0 ** -np.arange(2.0, 9.0 + 1e-9, step), exo_row, "exodiff")
    rows_s = sweep(10.0 ** -np.arange(3.0, 9.0 + 1e-9, step), splu_row, "splu")
    rows_b = []
    if not args.rz_no_bdf:
        for f in args.rz_atol_factors:
            rows_b += sweep(10.0 ** -np.arange(3.0, 9.0 + 1e-9, step), bdf_row(f), f"BDF f={f:g}")
    table = []
    for target in args.rz_targets:
        line = dict(resolution=resolution, cells=nr * nz, target=target)
        for name, rows, reps in (("exodiff", rows_e, args.repeat_exodiff), ("splu", rows_s, args.rz_repeat),
                                 ("BDF", rows_b, args.rz_repeat)):
            best = None
            for r in reaching(rows, target):
                if name == "exodiff":
                    t = best_of(lambda: run_exodiff_rz(problem, r["tol"], par)[1], reps)
                elif name == "splu":
                    t = best_of(lambda: run_splu(sysm, r["tol"], args.rz_permc)[1], reps) if reps > 1 else r["time"]
                else:
                    t = (best_of(lambda: run_bdf_rz(sysm, r["tol"], r["atolf"])[1], reps) if reps > 1
                         else r["time"])
                if best is None or t < best["time"]:
                    best = dict(r, time=t)
            line[name] = best
        table.append(line)
        e, s, b = line["exodiff"], line["splu"], line["BDF"]
        log(f"target {target:.0e}: exodiff tol {e['tol']:.1e} {e['time']:.3f} s ({e['info']}); "
            + (f"splu TR-BDF2 tol {s['tol']:.1e} {s['time']:.2f} s ({s['info']}) -> {s['time'] / e['time']:.0f}x"
               if (s and e) else "splu: -")
            + (f"; BDF rtol {b['tol']:.1e} (f {b['atolf']:g}) {b['time']:.2f} s ({b['info']}) -> "
               f"{b['time'] / e['time']:.0f}x" if (b and e) else ""))
    return table


def print_table_rz(table, log):
    log("\n| grid | cells | target err/dose | exodiff tol | exodiff s | exodiff steps (+rej) | splu TR-BDF2 tol "
        "| splu s | splu steps (+rej) | **splu / exodiff** | BDF rtol (atol f) | BDF s | BDF / exodiff |")
    log("|" + "---|" * 13)
    for ln in table:
        e, s, b = ln["exodiff"], ln["splu"], ln.get("BDF")
        cells = [ln["resolution"], str(ln["cells"]), f"{ln['target']:.0e}"]
        cells += [f"{e['tol']:.1e}", f"{e['time']:.3f}", e["info"]] if e else ["-"] * 3
        cells += [f"{s['tol']:.1e}", f"{s['time']:.2f}", s["info"]] if s else ["-"] * 3
        cells += [f"**{s['time'] / e['time']:.0f}x**" if (s and e) else "-"]
        cells += ([f"{b['tol']:.1e} ({b['atolf']:.0e})", f"{b['time']:.2f}", f"{b['time'] / e['time']:.0f}x"]
                  if (b and e) else ["-"] * 3)
        log("| " + " | ".join(cells) + " |")


#: compile and cached start of the r-z kernels in a fresh process (prints JSON)
_CHILD_RZ = r"""
import json, sys, time
sys.path.insert(0, {bench_dir!r})
import numba
from bench_solver_rz import microneedle_problem
from exodiff.solvers.unit_cell import integrate_rz
p = microneedle_problem({{"nr": 12, "nz": 30}})
t0 = time.perf_counter(); integrate_rz(p, parallel=False); t1 = time.perf_counter()
integrate_rz(p, parallel=True); t2 = time.perf_counter()
integrate_rz(p, parallel=False); t3 = time.perf_counter()
print(json.dumps(dict(serial=t1 - t0, parallel=t2 - t1, again=t3 - t2)))
"""


def rz_compile(log):
    """First ``integrate_rz`` (serial, then parallel) in a fresh process, cold and warm Numba cache."""
    cache = tempfile.mkdtemp(prefix="exodiff-numba-")
    code = _CHILD_RZ.format(bench_dir=os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    try:
        res = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-2000:])
            res.append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    cold, warm = res
    log(f"\n## r-z kernels, fresh process (numba imported), load {os.getloadavg()[0]:.2f}: cold cache "
        f"first integrate_rz serial {cold['serial']:.1f} s, then parallel {cold['parallel']:.1f} s; "
        f"warm cache {warm['serial']:.2f} s / {warm['parallel']:.2f} s (cache load + a 12 x 30 solve)")
    return dict(cold=cold, warm=warm)


# -- start-up: compile, cached start, imports -----------------------------------
HEAVY = ("numba", "llvmlite", "scipy", "numpy", "xarray", "pandas", "matplotlib", "pint", "netCDF4", "tqdm")


def importtime_by_package(stderr):
    """Self time of every ``-X importtime`` entry summed by root package, s (largest first).

    Self times, not cumulative ones: an import that numba triggers inside
    scipy is booked to scipy, and nothing is counted twice.
    """
    out = {}
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if not m:
            continue
        root = m.group(4).split(".")[0]
        out[root] = out.get(root, 0) + int(m.group(1))
    return {k: v / 1e6 for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def marginal_import(module, repeat):
    """Seconds to import ``module`` in a fresh process after numpy (best of ``repeat``)."""
    code = ("import time, numpy; t = time.perf_counter(); import {m}; "
            "print(time.perf_counter() - t)").format(m=module)
    best = float("inf")
    for _ in range(repeat):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if r.returncode != 0:
            return None
        best = min(best, float(r.stdout.strip().splitlines()[-1]))
    return best


def startup(args, log):
    res = {}
    reps = 1 if args.quick else 3
    compile_runs, cached_runs = [], []
    for _ in range(reps):
        cache = tempfile.mkdtemp(prefix="exodiff-numba-")
        try:
            compile_runs.append(run_child(cache))
            cached_runs.append(run_child(cache))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    cold = min(compile_runs, key=lambda r: r["first_integrate"])
    warm = min(cached_runs, key=lambda r: r["start_to_first_result"])
    res["compile"] = cold
    res["cached"] = warm
    log("\n## start-up (fresh processes, auto grid, tolerance 1e-5; best of %d)" % reps)
    log(f"cold cache: first integrate (compile + save + solve, numba already imported) "
        f"{cold['first_integrate']:.2f} s; process wall {cold['process_wall']:.2f} s")
    log(f"warm cache: import exodiff {warm['import_exodiff']:.3f} s, import numba {warm['import_numba']:.3f} s, "
        f"first integrate (cache load + solve) {warm['first_integrate']:.3f} s, "
        f"second integrate (solve only) {warm['second_integrate'] * 1e3:.1f} ms")
    log(f"warm cache: start of script to first result {warm['start_to_first_result']:.3f} s; "
        f"process wall (interpreter start to exit) {warm['process_wall']:.3f} s")
    solve = warm["second_integrate"]
    overhead = warm["start_to_first_result"] - solve
    log(f"=> a cached run is {overhead / warm['start_to_first_result']:.0%} start-up "
        f"(imports + cache load) and {solve / warm['start_to_first_result']:.0%} solving "
        f"(start-up / solve = {overhead / solve:.0f}x)")

    # where the warm start goes, by package (-X importtime inflates it a little)
    cache = tempfile.mkdtemp(prefix="exodiff-numba-")
    try:
        run_child(cache)
        it = run_child(cache, extra_args=("-X", "importtime"))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    by_pkg = importtime_by_package(it["stderr"])
    res["importtime"] = by_pkg
    log(f"imports in a warm-cache run (-X importtime, self time summed by package, {sum(by_pkg.values()):.3f} s "
        "in all; scipy.linalg is imported by numba itself when it loads the first cached kernel):")
    log("  " + ", ".join(f"{k} {v:.3f}" for k, v in list(by_pkg.items())[:10]))

    # the real command line on a shipped scenario, warm cache (when the CLI runs here)
    res["cli"] = {}
    scen = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scenarios",
                        "topical_caffeine.toml")
    for label, extra in (("exodiff run --no-plots", ["--no-plots"]), ("exodiff run (with plots)", [])):
        cache, outdir = tempfile.mkdtemp(prefix="exodiff-numba-"), tempfile.mkdtemp(prefix="exodiff-out-")
        try:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            cmd = [sys.executable, "-m", "exodiff", "run", scen, "-o", outdir, "--quiet", *extra]
            first = subprocess.run(cmd, env=env, capture_output=True, text=True)  # compiles
            if first.returncode != 0:
                log(f"{label}: CLI failed here ({first.stderr.strip().splitlines()[-1:]}), skipped")
                continue
            walls = []
            for _ in range(reps):
                t0 = time.perf_counter()
                subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                walls.append(time.perf_counter() - t0)
            it = subprocess.run([sys.executable, "-X", "importtime", *cmd[1:]], env=env, capture_output=True,
                                text=True, check=True)
            pk = importtime_by_package(it.stderr)
            res["cli"][label] = dict(wall=min(walls), imports=pk)
            log(f"{label} {os.path.basename(scen)}, warm cache: process wall {min(walls):.2f} s; "
                f"imports (-X importtime self time by package, {sum(pk.values()):.2f} s in all): "
                + ", ".join(f"{k} {v:.2f}" for k, v in list(pk.items())[:8]))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
            shutil.rmtree(outdir, ignore_errors=True)

    # what a CLI would add if it imported the rest of the stack eagerly
    log("marginal import cost after numpy, fresh process (best of %d):" % reps)
    mods = ["numba", "scipy.linalg", "scipy.integrate", "xarray", "matplotlib.pyplot", "pint", "netCDF4",
            "tqdm.auto", "exodiff.solvers.layered", "exodiff.results.dataset", "exodiff.results.metrics", "exodiff.units",
            "exodiff.report.plotting", "exodiff.report.outputs"]
    res["marginal"] = {}
    for m in mods:
        t = marginal_import(m, reps)
        res["marginal"][m] = t
        log(f"  {m:20s} {'(import fails)' if t is None else f'{t:.3f} s'}")
    return res


def _git_state():
    """Commit of the exodiff tree and whether its solver files differ from it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "exodiff/solvers", "exodiff/problem",
                                "exodiff/geometry", "exodiff/kernels"], cwd=root, capture_output=True,
                               text=True).stdout.split("\n")
        dirty = [ln[3:] for ln in dirty if ln.strip()]
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return f"commit {head}" + (f" (uncommitted changes in {', '.join(dirty)})" if dirty else "")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--resolutions", nargs="+", default=["auto", "4x"], choices=list(RESOLUTIONS))
    ap.add_argument("--targets", nargs="+", type=float, default=list(TARGETS))
    ap.add_argument("--methods", nargs="+", default=["BDF", "Radau", "LSODA"],
                    help="scipy methods; the first is the reference of the headline ratio")
    ap.add_argument("--atol-factors", nargs="+", type=float, default=[1e-4, 1e-3, 1e-2, 1e-1])
    ap.add_argument("--repeat", type=int, default=7, help="best of N for scipy")
    ap.add_argument("--repeat-exodiff", type=int, default=21, help="best of N for exodiff")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-startup", action="store_true", help="skip the start-up measurements")
    ap.add_argument("--startup-only", action="store_true", help="only the start-up measurements")
    ap.add_argument("--verbose", action="store_true", help="print every sweep point")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--sdirk4", action="store_true", help="add the SDIRK4 step-count study (proposal)")
    ap.add_argument("--integrators", nargs="+", default=list(INTEGRATORS), choices=["esdirk4", "sdirk4", "tr-bdf2", "krylov"],
                    help="exodiff's 1D integrators to compare (the first is the headline)")
    rz = ap.add_argument_group("r-z unit cell (part of the full run; --rz runs only this)")
    rz.add_argument("--rz", action="store_true", help="only the r-z comparison and the r-z compile time")
    rz.add_argument("--no-rz", action="store_true", help="skip the r-z comparison")
    rz.add_argument("--rz-resolutions", nargs="+", default=list(RZ_RESOLUTIONS), choices=list(RZ_RESOLUTIONS))
    rz.add_argument("--rz-targets", nargs="+", type=float, default=list(RZ_TARGETS))
    rz.add_argument("--rz-parallel", action="store_true", help="exodiff with the prange kernels (default serial)")
    rz.add_argument("--rz-ref-tol", type=float, default=1e-11,
                    help="rtol of the solve_ivp BDF reference solution (checked against a 10x looser one)")
    rz.add_argument("--rz-check-exodiff", type=float, default=1e-8,
                    help="also check the reference against exodiff at this tolerance (0: skip)")
    rz.add_argument("--rz-no-bdf", action="store_true", help="skip solve_ivp BDF (sparse Jacobian)")
    rz.add_argument("--rz-atol-factors", nargs="+", type=float, default=[1e-3, 1e-1])
    rz.add_argument("--rz-permc", default="MMD_AT_PLUS_A",
                    help="splu column ordering of the splu reference (fastest measured here: MMD_AT_PLUS_A, "
                         "with SymmetricMode; COLAMD 1.3-1.8x slower)")
    rz.add_argument("--rz-repeat", type=int, default=1,
                    help="best of N for the scipy runs (default: the sweep's own run, 1-100 s long)")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeat, args.repeat_exodiff, args.atol_factors = 1, 3, [1e-3]
        args.rz_repeat, args.rz_resolutions, args.rz_check_exodiff = 1, ["half"], 0.0
    log = print
    import numba
    import scipy

    log(f"# exodiff vs scipy method of lines: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"numba {numba.__version__}")
    log(f"exodiff at {_git_state()}; load average at start {os.getloadavg()[0]:.2f}")
    table, curves = [], []
    for res in [] if (args.startup_only or args.rz) else args.resolutions:
        t, c = compare(res, args, log)
        table += t
        curves.append(c)
    if table:
        for m in args.integrators:
            print_table(table, args.methods, log, f"exodiff {m}")
    if args.sdirk4:
        for res in args.resolutions:
            sdirk4_study(res, args, log)
    out = dict(table=table, sweeps=curves, load=os.getloadavg()[0], integrators=list(args.integrators),
               methods=list(args.methods))
    if not (args.startup_only or args.no_rz):
        table_rz = []
        for res in args.rz_resolutions:
            table_rz += compare_rz(res, args, log)
        print_table_rz(table_rz, log)
        out["table_rz"] = table_rz
        out["rz_compile"] = rz_compile(log)
    if not (args.no_startup or args.rz):
        out["startup"] = startup(args, log)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
