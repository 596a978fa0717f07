"""Plain numpy/scipy reference of the r-z kernel (:mod:`exodiff.kernels.rz`), for tests.

Slow and obvious, as py-pde keeps a numpy ``evolution_rate`` beside each
compiled operator: the coefficients are assembled here independently
(vectorised numpy, not the compiled :func:`~exodiff.kernels.rz.update_coefficients`),
the operator is a ``scipy.sparse`` matrix over ``[vehicle, cells]``, and each
factor of the approximate factorisation is solved with a sparse direct
solver instead of the line sweeps with the vehicle elimination.  The time
loop repeats the kernel's logic step by step with the shared controller
(:mod:`exodiff.kernels.control`, the Python functions behind the jit), so
on a small grid the two agree to round-off.

``split=False`` solves every TR-BDF2 stage exactly (``splu`` of
``C - a A``): the unsplit implicit method, the yardstick for the
factorisation error and for speed.

With a cargo (``problem.cargo``) a second field, the free cargo, takes the
same steps: after each vesicle stage the cargo's stage is solved with the
source ``S (q + D*)`` (``S = diag((k_rel + f_deg k_deg) C)``, the vesicles'
stage at the argument their compartments are booked at), as a separate
sparse system.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from exodiff.kernels.control import ALPHA_TR, BDF_A, BDF_B, ERR_1, ERR_2, ERR_3, GAMMA, RZ_CAP_MEMORY, SHRINK_MIN
from exodiff.kernels.control import cap_after_rejection as _cap_jit
from exodiff.kernels.control import landing_step as _landing_jit
from exodiff.kernels.control import next_step as _next_jit

_landing = getattr(_landing_jit, "py_func", _landing_jit)
_next = getattr(_next_jit, "py_func", _next_jit)
_cap = getattr(_cap_jit, "py_func", _cap_jit)


def _series(area, a, wa, b, wb):
    """Face conductance ``area / (wa/a + wb/b)`` of two half-cells (0 if either is closed)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        g = area * a * b / (wa * b + wb * a)
    return np.where((a > 0) & (b > 0), g, 0.0)


def coefficients(problem, t, species="vesicle", opened=None, capv=None):
    """Coefficients at time ``t`` from the problem's fields, numpy only.

    ``opened``: the procedure session the channel counts from (default the
    one in force at ``t``); ``capv``: the vehicle capacity (default the
    problem's film at ``t``).  A regimen's stepping passes both (the left
    limits at an event).

    Returns
    -------
    dict
        ``cap`` (nz, nr), ``cdeg``, ``cup``, ``ccl``, ``crel`` (k C; release
        zero without a cargo), ``gz`` (nz+1, nr), ``gr`` (nz, nr+1), ``capv``
        (vehicle capacity, m^3).
    """
    g = problem.grid
    f = problem.fields_at(t, species, opened)
    D, K = f["diffusivity"], f["partition"]
    dk = D * K
    vol = g.volumes
    cap = K * vol
    dz = g.z.widths[:, None]
    dr = g.dr[None, :]
    az = g.annulus_areas[None, :]
    nz, nr = g.shape
    gz = np.zeros((nz + 1, nr))
    gz[0] = (2.0 * az * dk[:1] / dz[:1])[0]
    gz[1:nz] = _series(az, dk[:-1], dz[:-1] / 2, dk[1:], dz[1:] / 2)
    if problem.bottom == "sink":
        gz[nz] = (2.0 * az * dk[-1:] / dz[-1:])[0]
    gr = np.zeros((nz, nr + 1))
    rf = g.r_faces[None, 1:-1]
    gr[:, 1:nr] = _series(2.0 * np.pi * rf * dz, dk[:, :-1], dr[:, :-1] / 2, dk[:, 1:], dr[:, 1:] / 2)
    return dict(cap=cap, cdeg=f["degradation_rate"] * cap, cup=f["uptake_rate"] * cap,
                ccl=f["clearance_rate"] * cap, crel=f.get("release_rate", np.zeros_like(cap)) * cap, gz=gz, gr=gr,
                capv=problem.vehicle_capacity_at(t) if capv is None else capv)


def operators(problem, co, washed=False):
    """Sparse ``A_z``, ``A_r`` over ``[vehicle, cells]`` and the rate matrix ``Rm`` (compartments x nodes).

    ``A_z``: vertical diffusion, vehicle coupling, sink and losses; ``A_r``:
    radial diffusion.  ``Rm @ [u_v, u]`` are the compartment rates.
    """
    g = problem.grid
    nz, nr = g.shape
    n = 1 + nz * nr
    idx = 1 + np.arange(nz * nr).reshape(nz, nr)
    rows, cols, vals = [], [], []

    def couple(a, b, cond):
        # flux cond (u_a - u_b) from a to b
        rows.extend([a, a, b, b])
        cols.extend([a, b, b, a])
        vals.extend([-cond, cond, -cond, cond])

    veh = 0.0 if washed else 1.0
    gv = veh * co["gz"][0]
    for j in range(nr):
        couple(np.full(1, 0), idx[0, j:j + 1], gv[j:j + 1])
    a_ = idx[:-1].ravel()
    b_ = idx[1:].ravel()
    couple(a_, b_, co["gz"][1:nz].ravel())
    loss = (co["cdeg"] + co["cup"] + co["ccl"] + co["crel"]).ravel() + np.concatenate(
        [np.zeros((nz - 1) * nr), co["gz"][nz]])
    rows.append(idx.ravel())
    cols.append(idx.ravel())
    vals.append(-loss)
    rr = [np.atleast_1d(np.asarray(x)).ravel() for x in rows]
    cc = [np.atleast_1d(np.asarray(x)).ravel() for x in cols]
    vv = [np.atleast_1d(np.asarray(x, dtype=float)).ravel() for x in vals]
    Az = sp.csr_matrix((np.concatenate(vv), (np.concatenate(rr), np.concatenate(cc))), shape=(n, n))
    rows, cols, vals = [], [], []
    couple(idx[:, :-1].ravel(), idx[:, 1:].ravel(), co["gr"][:, 1:nr].ravel())
    rr = [np.atleast_1d(np.asarray(x)).ravel() for x in rows]
    cc = [np.atleast_1d(np.asarray(x)).ravel() for x in cols]
    vv = [np.atleast_1d(np.asarray(x, dtype=float)).ravel() for x in vals]
    Ar = sp.csr_matrix((np.concatenate(vv), (np.concatenate(rr), np.concatenate(cc))), shape=(n, n))
    # compartment rates (P = 4 with a cargo: released[3L:4L])
    L = len(problem.layers)
    P = getattr(problem, "n_processes", 3)
    nc = P * L + 3
    lay = g.z.layer_of_cell
    Rm = np.zeros((nc, n))
    for p, key in enumerate(("cdeg", "cup", "ccl", "crel")[:P]):
        for i in range(nz):
            Rm[p * L + lay[i], idx[i]] += co[key][i]
    Rm[P * L, idx[-1]] = co["gz"][nz]
    Rm[P * L + 2, 0] = gv.sum()
    Rm[P * L + 2, idx[0]] = -gv
    return Az, Ar, Rm


def source_matrix(problem, co):
    """``S`` over ``[vehicle, cells]``: the cargo set free per unit vesicle ``u``, ``enc (k_rel + f_deg k_deg) C`` per cell."""
    s = (co["crel"] + problem.cargo.release_on_degradation * co["cdeg"]).ravel() * problem.cargo.encapsulation
    return sp.diags(np.concatenate([[0.0], s]))


def _capacity_vector(problem, co, infinite):
    return np.concatenate([[0.0 if infinite else co["capv"]], co["cap"].ravel()])


def integrate_reference(problem, *, split=True, fixed_step=None, initial_state=None, filter_mode=2,
                        predictor=True, log=None, predictor1=True):
    """Integrate a :class:`~exodiff.problem.unit_cell.ProblemRZ` with numpy/scipy.

    Parameters
    ----------
    problem : ProblemRZ
    split : bool
        True: the kernel's scheme (approximate factorisation in delta form,
        sparse direct solves of each factor).  False: exact TR-BDF2 stages
        (``splu`` of ``C - a A``), the unsplit implicit method.
    fixed_step : float, optional
        Fixed steps, all accepted.
    initial_state : array_like, optional
        ``(nz, nr)`` initial ``u``.
    filter_mode : int
        Error-estimate filter as the kernel's (0 none, 1 z factor, 2 both);
        for ``split=False`` any value > 0 filters with the exact ``(C - dA)^-1 C``.
    predictor : bool
        Stage 2 from the extrapolated ``q = u_g + (1 - gamma)/gamma (u_g - u_n)``
        (the kernel's choice) rather than from ``u_g``.
    predictor1 : bool
        Stage 1 from ``u_n + gamma min(h, h_prev) v``, ``v`` the last step's
        BDF2 ``du/dt`` (the kernel's default), rather than from ``u_n``.
    log : list, optional
        Receives ``(t, h, err)`` per attempted step.

    Returns
    -------
    RawSolution
    """
    from exodiff.solvers.common import RawSolution
    from exodiff.solvers.unit_cell import stop_list_rz as _stops_rz

    g = problem.grid
    nz, nr = g.shape
    n = 1 + nz * nr
    L = len(problem.layers)
    P = problem.n_processes
    nc = P * L + 3
    removed = P * L + 1
    infinite = problem.vehicle == "infinite"
    cargo = problem.cargo is not None
    uc = np.zeros(n)         # the free cargo: what starts free in the film
    compc = np.zeros(nc)
    if cargo:
        uc[0] = problem.concentration * problem.cargo.free
    u = np.zeros(n)
    u[0] = problem.concentration
    if initial_state is not None:
        u[1:] = np.asarray(initial_state, float).ravel()
    comp = np.zeros(nc)
    washed = False
    tw = problem.wash_off_time
    if tw is not None and tw <= 0.0:
        if not infinite:
            comp[removed] = problem.vehicle_capacity_at(0.0) * u[0]
            compc[removed] = problem.vehicle_capacity_at(0.0) * uc[0]
        u[0] = 0.0
        uc[0] = 0.0
        washed = True
    times = problem.output_times
    u_out = np.zeros((times.size, n))
    comp_out = np.zeros((times.size, nc))
    u_out[0] = u
    comp_out[0] = comp
    uc_out = np.zeros((times.size, n))
    compc_out = np.zeros((times.size, nc))
    uc_out[0] = uc
    compc_out[0] = compc
    stops, out_idx, events = _stops_rz(problem)
    t_end = float(times[-1])
    h_start = 1e-8 * max(t_end, 1.0)
    rtol = problem.tolerance
    m_ref = problem.amount_scale()
    if initial_state is not None:
        m_ref += float(np.abs(problem.capacity_at(0.0).ravel() * u[1:]).sum())

    def step_atol(content):
        # 1e-3 rtol of what the unit cell holds now (at most the dose scale, at least 1e-13 of it, the kernel's
        # RZ_CONTENT_FLOOR: below, its stages' round-off); a constant donor's of the dose scale
        if infinite:
            return rtol * 1e-3 * m_ref
        return rtol * 1e-3 * min(max(content, 1e-13 * m_ref), m_ref)

    atol = step_atol(m_ref)
    w = g.annulus_areas / problem.cell_area
    wabs = np.concatenate([[1.0], np.tile(w, nz)])
    closing = g.channel_rows > 0 and 0.0 < problem.channel.closure_time < math.inf
    extrap = (1.0 - GAMMA) / GAMMA

    cache = {}
    static = not closing and problem.evaporation_fraction <= 0.0
    # a regimen, tracked here on its own (not through the kernels' film law): the film on the skin
    # (applied at, thickness then, volatile fraction then) and the procedure session in force
    h0, ef, et = problem.vehicle_thickness, problem.evaporation_fraction, problem.evaporation_time
    film = [0.0, h0, ef]
    opened = [0.0]
    c_free = problem.concentration * problem.cargo.free if cargo else 0.0

    def film_h(t):
        ta, hf, vf = film
        return hf * (1.0 - vf * (1.0 - math.exp(-(t - ta) / et))) if vf > 0.0 else hf

    def at(t, washed_):
        key = (0.0 if static else t, washed_, opened[0], tuple(film))
        if key not in cache:
            capv = film_h(t) * problem.cell_area
            co = coefficients(problem, t, opened=opened[0], capv=capv)
            Az, Ar, Rm = operators(problem, co, washed_)
            if len(cache) > 8:
                cache.clear()
            cache[key] = (Az, Ar, Rm, _capacity_vector(problem, co, infinite))
            if cargo:
                cc = coefficients(problem, t, "cargo", opened=opened[0], capv=capv)
                Azc, Arc, Rmc = operators(problem, cc, washed_)
                cache[key] = cache[key] + (source_matrix(problem, co), Azc, Arc, Rmc,
                                           _capacity_vector(problem, cc, infinite))
        return cache[key]

    def solve(M, rhs):
        # the row of a constant donor holds its increment at zero
        if infinite:
            M = sp.lil_matrix(M)
            M[0, :] = 0.0
            M[0, 0] = 1.0
            rhs = rhs.copy()
            rhs[0] = 0.0
        return splu(sp.csc_matrix(M)).solve(rhs)

    def stage(Cs, Az, Ar, coef, rhs):
        """Increment and the argument of the z-part (for the compartments)."""
        M = sp.diags(Cs)
        if split:
            ds = solve(M - coef * Az, rhs)
            dl = solve(M - coef * Ar, Cs * ds)
            dl[0] = ds[0]
            return dl, ds
        dl = solve(M - coef * (Az + Ar), rhs)
        return dl, dl

    def estimate(h, a, d, Fn, mn, mg, m1, C_1, Az_1, Ar_1, rn, comp, compg, comp1):
        """Scaled error of one field (filtered as the kernel), its effective F_1 and compartment rates r_1."""
        Fg = (mg - mn) / a - Fn
        F1 = (m1 - BDF_A * mg + BDF_B * mn) / d
        e = h * (ERR_1 * Fn + ERR_2 * Fg + ERR_3 * F1)
        M1 = sp.diags(C_1)
        if filter_mode and split:
            y = solve(M1 - d * Az_1, e)
            ev = y[0] * C_1[0]
            if filter_mode >= 2:
                y = solve(M1 - d * Ar_1, C_1 * y)
            e = C_1 * y
            e[0] = ev
        elif filter_mode:
            e = C_1 * solve(M1 - d * (Az_1 + Ar_1), e)
        sc = atol * wabs + rtol * np.abs(m1)
        qs = np.abs(e) / sc
        qrow = np.sqrt((qs[1:].reshape(nz, nr) ** 2) @ w)
        err = float(np.max(qrow))
        if not infinite:
            err = max(err, float(qs[0]))
        rg = (compg - comp) / a - rn
        r1 = (comp1 - BDF_A * compg + BDF_B * comp) / d
        ec = h * (ERR_1 * rn + ERR_2 * rg + ERR_3 * r1)
        err = max(err, float(np.max(np.abs(ec) / (atol + rtol * np.abs(comp1)))))
        return err, F1, r1, qs, qrow

    t = 0.0
    h_next = h_start
    steps = rejected = 0
    failed = 0               # consecutive rejections
    v = np.zeros(n)          # du/dt at the end of the last step (stage-1 predictor)
    h_prev = 0.0             # the last accepted step
    fsal = None              # (F_1, r_1) of the last accepted step
    vc = np.zeros(n)         # the cargo's du/dt and first-same-as-last rates
    fsal_c = None
    h_rej = err_rej = 0.0    # first rejected step of the last rejection run (the kernel's cap)
    age_rej = 0
    for k in range(stops.size):
        t_stop = stops[k]
        while t < t_stop:
            h, last = _landing(fixed_step if fixed_step else h_next, t_stop - t)
            if last:
                h = t_stop - t
            tg, t1 = t + GAMMA * h, t + h
            a = ALPHA_TR * h
            d = a
            Az_n, Ar_n, Rm_n, C_n = at(t, washed)[:4]
            if fsal is None:
                Fn = (Az_n + Ar_n) @ u
                rn = Rm_n @ u
            else:
                # the last accepted step's effective F_1 and r_1 (first same as last)
                Fn, rn = fsal
            mn = C_n * u
            if cargo:
                S_n, Azc_n, Arc_n, Rmc_n, Cc_n = at(t, washed)[4:]
                if fsal_c is None:
                    Fnc = (Azc_n + Arc_n) @ uc + S_n @ u
                    rnc = Rmc_n @ uc
                else:
                    Fnc, rnc = fsal_c
                mnc = Cc_n * uc
            atol = step_atol(np.abs(mn).sum() + (np.abs(mnc).sum() if cargo else 0.0))
            # stage 1, delta form from the predictor u_n + gamma h v
            Az_g, Ar_g, Rm_g, C_g = at(tg, washed)[:4]
            # stage-1 predictor: the last du/dt, extrapolated no further than the last step reached
            c1 = GAMMA * min(h, h_prev) if predictor1 else 0.0
            q = u + c1 * v
            R1 = mn + a * Fn - C_g * q + a * ((Az_g + Ar_g) @ q)
            dl, ds = stage(C_g, Az_g, Ar_g, a, R1)
            compg = comp + a * (rn + Rm_g @ (q + ds))
            ug = q + dl
            mg = C_g * ug
            if cargo:
                # the cargo's stage 1 after the vesicles', its source from their stage (block lower triangular)
                S_g, Azc_g, Arc_g, Rmc_g, Cc_g = at(tg, washed)[4:]
                qc = uc + c1 * vc
                R1c = mnc + a * Fnc - Cc_g * qc + a * ((Azc_g + Arc_g) @ qc) + a * (S_g @ (q + ds))
                dlc, dsc = stage(Cc_g, Azc_g, Arc_g, a, R1c)
                compgc = compc + a * (rnc + Rmc_g @ (qc + dsc))
                ugc = qc + dlc
                mgc = Cc_g * ugc
            # stage 2, delta form from the predictor
            Az_1, Ar_1, Rm_1, C_1 = at(t1, washed)[:4]
            q = ug + extrap * (ug - u) if predictor else ug.copy()
            if infinite:
                q[0] = u[0]
            R2 = BDF_A * mg - BDF_B * mn - C_1 * q + d * ((Az_1 + Ar_1) @ q)
            dl, ds = stage(C_1, Az_1, Ar_1, d, R2)
            comp1 = BDF_A * compg - BDF_B * comp + d * (Rm_1 @ (q + ds))
            u1 = q + dl
            m1 = C_1 * u1
            if cargo:
                S_1, Azc_1, Arc_1, Rmc_1, Cc_1 = at(t1, washed)[4:]
                qc = ugc + extrap * (ugc - uc) if predictor else ugc.copy()
                if infinite:
                    qc[0] = uc[0]
                R2c = BDF_A * mgc - BDF_B * mnc - Cc_1 * qc + d * ((Azc_1 + Arc_1) @ qc) + d * (S_1 @ (q + ds))
                dlc, dsc = stage(Cc_1, Azc_1, Arc_1, d, R2c)
                comp1c = BDF_A * compgc - BDF_B * compc + d * (Rmc_1 @ (qc + dsc))
                u1c = qc + dlc
                m1c = Cc_1 * u1c
            # error estimate from the effective stage derivatives (each field's, the max of both)

            err, F1, r1, qs, qrow = estimate(h, a, d, Fn, mn, mg, m1, C_1, Az_1, Ar_1, rn, comp, compg, comp1)
            if cargo:
                err_c, F1c, r1c, _, _ = estimate(h, a, d, Fnc, mnc, mgc, m1c, Cc_1, Azc_1, Arc_1, rnc, compc, compgc, comp1c)
                err = max(err, err_c)
            if log is not None:
                irow = int(np.argmax(qrow))
                log.append((t, h, err, irow, int(np.argmax(qs[1:].reshape(nz, nr)[irow])), float(qs[0])))
            if not np.all(np.isfinite(u1)) or (cargo and not np.all(np.isfinite(u1c))):
                raise FloatingPointError(f"non-finite state at t = {t}")
            if err <= 1.0 or fixed_step:
                u_prev = u
                steps += 1
                t = t_stop if last else t1
                u, comp = u1, comp1
                v = (u1 - BDF_A * ug + BDF_B * u_prev) / d
                fsal = (F1, r1)
                h_prev = h
                if infinite:
                    v[0] = 0.0
                if cargo:
                    vc = (u1c - BDF_A * ugc + BDF_B * uc) / d
                    uc, compc = u1c, comp1c
                    fsal_c = (F1c, r1c)
                    if infinite:
                        vc[0] = 0.0
                h_new = _next(h, err)
                if h_new < h_next and h < h_next:
                    h_new = h_next
                if h_rej > 0.0:
                    h_new = _cap(h, err, h_rej, err_rej, h_new)
                    age_rej += 1
                    if age_rej >= RZ_CAP_MEMORY:
                        h_rej = 0.0
                h_next = h_new
                failed = 0
            else:
                rejected += 1
                failed += 1
                h_next = _next(h, err)
                if failed == 1:
                    h_rej, err_rej, age_rej = h, err, 0
                if failed >= 2:
                    h_next = min(h_next, SHRINK_MIN * h)
        ev = int(events[k])
        restart = False
        if ev:
            u = u.copy()
            uc = uc.copy()
        if ev & 1 and not washed:
            if not infinite:
                capv = film_h(t) * problem.cell_area
                comp[removed] += capv * u[0]
                compc[removed] += capv * uc[0]
            u[0] = 0.0
            uc[0] = 0.0
            washed = True
            restart = True
        if ev & (4 | 8) and not infinite:
            # a new application: wash what is left off and put a fresh film on, or join the old one
            h_old = film_h(t)
            if ev & 8 and not washed:
                ta, hf, vf = film
                vol = hf * vf * math.exp(-(t - ta) / et) if vf > 0.0 else 0.0
                h_new = h_old + h0
                film[:] = [t, h_new, (vol + ef * h0) / h_new]
                u[0] = (h_old * u[0] + h0 * problem.concentration) / h_new
                uc[0] = (h_old * uc[0] + h0 * c_free) / h_new
            else:
                if not washed:
                    comp[removed] += problem.cell_area * h_old * u[0]
                    compc[removed] += problem.cell_area * h_old * uc[0]
                film[:] = [t, h0, ef]
                u[0] = problem.concentration
                uc[0] = c_free
            washed = False
            restart = True
        if ev & 16 and g.channel_rows > 0:
            # a procedure session re-opens the channels; every cell keeps its amount
            old = at(t, washed)
            opened[0] = t
            new = at(t, washed)
            u[1:] = old[3][1:] * u[1:] / new[3][1:]
            if cargo:
                uc[1:] = old[8][1:] * uc[1:] / new[8][1:]
            restart = True
        if restart:
            v = np.zeros(n)
            vc = np.zeros(n)
            h_prev = 0.0
            fsal = None
            fsal_c = None
            h_rej = 0.0
            h_next = h_start
        j = out_idx[k]
        if j >= 0:
            u_out[j] = u
            comp_out[j] = comp
            uc_out[j] = uc
            compc_out[j] = compc
    raw = RawSolution(times=times.copy(), u=u_out, comp=comp_out,
                      stats={"steps": steps, "rejected": rejected, "solves": 2 * steps})
    if cargo:
        raw.u_cols = np.stack([u_out, uc_out], axis=1)
        raw.comp_cols = np.stack([comp_out, compc_out], axis=1)
    return raw
