"""Plain numpy reference of the compiled 1D column kernel, for tests.

:func:`integrate_column_reference` implements exactly the scheme of
:func:`exodiff.kernels.column1d.integrate_column` -- the same TR-BDF2 stages
(solved for the stage increment, the constant donor's supply taken from the
unrounded increment), the same embedded error estimate and norm, the same
step-size controller, the same landing on stops and the same wash-off
event -- written the slow, obvious way: the rates are differences of face
fluxes over whole arrays, the stage matrices are banded arrays solved with
:func:`scipy.linalg.solve_banded` (LAPACK banded LU, not the Thomas sweep),
the compartment rates are ``numpy.bincount`` sums, and the controller is
restated in Python rather than imported from the compiled module.  Only the
method's constants are shared (plain Python floats from
:mod:`exodiff.kernels.control`).  Nothing here is compiled: about 150 us per
step, so keep it to small problems.

:func:`run_column` drives either kernel with the set-up of
:func:`exodiff.solvers.layered.integrate`, so the two can be compared step for step.
They are independent implementations of one algorithm and agree to
round-off, with the same accepted and rejected steps, on small problems
(``tests/test_validation_1d.py``).  On stiff problems (thin permeable cells
next to large steps) the error estimate, a zero-sum combination of stage
rates, carries round-off amplified by ``alpha g / C``: the two scaled errors
then differ by up to ~1e-7 relative, and after hundreds of steps an
accept/reject or landing decision may fall differently (1 run in 300 random
stacks took one step more), after which the results differ at the level of
the tolerance, not of round-off.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import solve_banded

from exodiff.kernels.control import (
    ESDIRK4_A,
    ESDIRK4_BHAT,
    ESDIRK4_C,
    ESDIRK4_DENSE,
    SDIRK4_A,
    SDIRK4_BHAT,
    SDIRK4_C,
    ALPHA_TR,
    BDF_A,
    BDF_B,
    BDF_D,
    ERR_1,
    ERR_2,
    ERR_3,
    GAMMA,
    GROW_MAX,
    RK_KI,
    RK_KP,
    RK_TOL_EXPONENT,
    RK_TOL_REF,
    SAFETY,
    SHRINK_MIN,
)

#: the kernels' method codes, restated (the contract): TR-BDF2, ESDIRK4, SDIRK4
METHOD_TRBDF2, METHOD_ESDIRK4, METHOD_SDIRK4 = 0, 1, 2
METHOD_NAMES = {"tr-bdf2": METHOD_TRBDF2, "esdirk4": METHOD_ESDIRK4, "sdirk4": METHOD_SDIRK4}

# the kernel's status codes and state slots, restated (they are the contract)
OK, NONFINITE, STEP_UNDERFLOW, TOO_MANY_STEPS = 0, 1, 2, 3
F_TIME, F_STEP, F_FAIL_TIME, F_APPLIED, F_FILM, F_VOLATILE, F_ERR_PREV, F_POS_CAP = 0, 1, 2, 3, 4, 5, 6, 7
#: the undershoot rule of the 4th-order steps, restated: a step taking a tissue amount from >= 0 to below
#: -NEG_TOL x the largest fails with the marker error POS_ERR, and the steps are capped, the cap x POS_GROW
#: per accepted step
NEG_TOL, POS_ERR, POS_GROW = 1e-13, 16.0, 1.5
#: the tissue's own error is not asked below ROUNDOFF_TISSUE round-offs of what crosses its bounds in a step
ROUNDOFF_TISSUE, EPS = 100.0, 2.220446049250313e-16
I_WASHED, I_FAIL_NODE, I_STATUS = 0, 1, 2
S_STEPS, S_REJECTED, S_SOLVES = 0, 1, 2
EVENT_NONE, EVENT_WASH, EVENT_SAMPLE, EVENT_APPLY, EVENT_ADD, EVENT_PAUSE = 0, 1, 2, 4, 8, 16


# -- the pieces of the scheme ---------------------------------------------------
def film_thickness(t, h0, evap_frac, evap_tau):
    """Vehicle film thickness (m) at time ``t``: ``h0 (1 - f (1 - exp(-t/tau)))``."""
    if evap_frac <= 0.0:
        return h0
    return h0 * (1.0 - evap_frac * (1.0 - math.exp(-t / evap_tau)))


def film_at(t, fstate, evap_tau):
    """Thickness (m) at ``t`` of the film in ``fstate``, applied at ``fstate[F_APPLIED]``."""
    return film_thickness(t - fstate[F_APPLIED], fstate[F_FILM], fstate[F_VOLATILE], evap_tau)


#: the content-relative absolute tolerance, restated: 1e-3 rtol of what a column holds (film, cells, receptor),
#: at most of its dose scale m_ref and at least CONTENT_FLOOR of it; m_ref for an infinite donor
CONTENT_FLOOR = 1e-30


def held(u, cap, t, infinite, fstate, evap_tau):
    """What a column holds now: the film (finite) plus the cells and a receptor (``cap`` the tissue capacities)."""
    film = 0.0 if infinite else abs(film_at(t, fstate, evap_tau) * u[0])
    return film + float(np.abs(cap[1:] * u[1:]).sum())


F_CONTENT_FLOOR = 9


def step_atol(rtol, m_ref, content, infinite, fstate):
    """The absolute tolerance of a step: 1e-3 rtol of ``content``, within [floor m_ref, m_ref], the floor
    ``fstate[F_CONTENT_FLOOR]`` (a regimen's z0) or at least CONTENT_FLOOR."""
    if infinite:
        return rtol * 1e-3 * m_ref
    floor = max(fstate[F_CONTENT_FLOOR] if fstate.size > F_CONTENT_FLOOR else 0.0, CONTENT_FLOOR)
    return rtol * 1e-3 * min(max(content, floor * m_ref), m_ref)


def apply_film(t, u0, comp_removed, c_fresh, h0, evap_frac, evap_tau, fstate, washed, join):
    """A new application at ``t``, restated: returns ``(u0, removed)`` and updates the film in ``fstate``.

    Joining: the thicknesses and the volatile parts add (the old one as far
    as it has evaporated), and so do the amounts.  Otherwise what is left
    of the old film (nothing once washed) goes to ``removed`` and the fresh
    film replaces it.  ``u0`` and ``c_fresh`` may be arrays (one per column).
    """
    dt = t - fstate[F_APPLIED]
    h_old = film_at(t, fstate, evap_tau)
    if join:
        vol = fstate[F_FILM] * fstate[F_VOLATILE] * math.exp(-dt / evap_tau) if fstate[F_VOLATILE] > 0 else 0.0
        h_new = h_old + h0
        fstate[F_VOLATILE] = (vol + evap_frac * h0) / h_new
        fstate[F_FILM] = h_new
        fstate[F_APPLIED] = t
        return (h_old * u0 + h0 * c_fresh) / h_new, comp_removed
    if not washed:
        comp_removed = comp_removed + h_old * u0
    fstate[F_FILM] = h0
    fstate[F_VOLATILE] = evap_frac
    fstate[F_APPLIED] = t
    return c_fresh + 0.0 * u0, comp_removed


def face_conductances(g, g1):
    """Conductances of the faces between nodes: ``[g1, g[2], ..., g[n-1]]`` (m/s).

    Face ``j`` couples nodes ``j`` and ``j+1``; face 0 is the vehicle/skin
    surface (``g1 = g[1]``, or 0 after wash-off).
    """
    face = np.array(g[1:-1], dtype=float)
    face[0] = g1
    return face


def rates(u, g, g1, loss):
    """Finite-volume rates ``F`` (amount per area per s) for every node.

    ``F_i`` = flux in through the face above - flux out through the face below
    - first-order loss, with face fluxes ``g (u_above - u_below)`` and the
    bottom flux ``g[n] u[n-1]`` into the sink.
    """
    flux = np.empty(u.size + 1)
    flux[0] = 0.0  # nothing enters the vehicle from above
    flux[1:-1] = face_conductances(g, g1) * (u[:-1] - u[1:])
    flux[-1] = g[u.size] * u[-1]
    return flux[:-1] - flux[1:] - loss * u


def operator_bands(g, g1, loss):
    """The matrix ``A`` of :func:`rates` (``F = A u``) as three bands.

    Returns
    -------
    sub, main, sup : float64[n-1], float64[n], float64[n-1]
        ``A[i+1, i]``, ``A[i, i]``, ``A[i, i+1]``.
    """
    face = face_conductances(g, g1)
    main = -np.asarray(loss, dtype=float).copy()
    main[:-1] -= face
    main[1:] -= face
    main[-1] -= g[loss.size]
    return face, main, face


def compartment_rates(u, g, g1, cdeg, cup, ccl, node_layer, n_layers):
    """Rates into the compartments: per-layer losses, bottom sink, wash-off (0), supply."""
    nl = n_layers
    tissue = node_layer >= 0
    lay = node_layer[tissue]
    out = np.zeros(3 * nl + 3)
    out[0:nl] = np.bincount(lay, (cdeg * u)[tissue], nl)
    out[nl:2 * nl] = np.bincount(lay, (cup * u)[tissue], nl)
    out[2 * nl:3 * nl] = np.bincount(lay, (ccl * u)[tissue], nl)
    out[3 * nl] = g[u.size] * u[-1]
    out[3 * nl + 2] = g1 * (u[0] - u[1])
    return out


def solve_stage(alpha, cap, bands, infinite, x0, rhs):
    """Solve ``(diag(cap) - alpha A) x = rhs``; an infinite donor pins ``x[0] = x0``."""
    sub, main, sup = bands
    n = cap.size
    ab = np.zeros((3, n))
    ab[0, 1:] = -alpha * sup
    ab[1] = cap - alpha * main
    ab[2, :-1] = -alpha * sub
    ab[1][ab[1] == 0.0] = 1.0  # a cell closed to the active: x = rhs = 0
    rhs = rhs.copy()
    if infinite:
        ab[1, 0] = 1.0
        ab[0, 1] = 0.0
        rhs[0] = x0
    return solve_banded((1, 1), ab, rhs)


def proposed_step(h, err):
    """Controller: ``h * clip(SAFETY err^(-1/3), SHRINK_MIN, GROW_MAX)`` (local error O(h^3))."""
    if err <= 0.0:
        return h * GROW_MAX
    return h * min(max(SAFETY * err ** (-1.0 / 3.0), SHRINK_MIN), GROW_MAX)


def proposed_step_rk(h, err, err_prev):
    """Controller of the 4th-order methods, restated: PI on an accepted step, I (exponent 1/4) after a rejection."""
    if err <= 0.0:
        return h * GROW_MAX
    if err > 1.0:
        fac = SAFETY * err ** -0.25
    else:
        fac = SAFETY * err ** (-RK_KI / 4.0) * max(err_prev, 1e-4) ** (RK_KP / 4.0)
    return h * min(max(fac, SHRINK_MIN), GROW_MAX)


def tableau(method):
    """``(A, b - bhat, c)`` of a 4th-order method code."""
    if method == METHOD_SDIRK4:
        return SDIRK4_A, SDIRK4_A[-1] - SDIRK4_BHAT, SDIRK4_C
    return ESDIRK4_A, ESDIRK4_A[-1] - ESDIRK4_BHAT, ESDIRK4_C


def rk_stages(method, t, h, u, comp, g, g1, cap_tissue, closs, node_layer, n_layers, infinite, fstate, evap_tau,
              src, kv=0.0):
    """The stages of a 4th-order method for one column, the slow obvious way.

    Stage ``i`` solves ``C(t_i) U_i - h a_ii (A U_i + S_i) = C(t) u + h sum_{j<i} a_ij (A U_j + S_j)``
    with a banded LU of its own matrix (no factorization shared between
    stages), for the increment over the previous stage (delta form, as the
    kernel), the supply rate taken from the unrounded increment.  The
    compartments step with the same weights, ``comp + h sum_j b_j R_j``,
    one full rate evaluation per stage.

    Parameters
    ----------
    src : ndarray (ns, n) or None
        The column's source at each stage.
    g : ndarray (n+1) or callable
        Conductances, or a function of time giving them (each stage its own).
    kv : float
        The film's leakage rate (1/s): the vehicle node's loss ``kv C_0(t_i)``,
        part of the stage's own operator (its matrix, its rates), booked to
        the top layer's released slot.

    Returns
    -------
    U, F, R : ndarray
        Stage states (ns, n), stage rates with the source (ns, n) and the
        stage compartment rates (ns, nc).
    comp1 : ndarray
        The compartments at ``t + h``.
    cap1 : ndarray
        Capacities at ``t + h``.
    vrel : ndarray
        The film's leakage at each stage (ns,).
    """
    A, _, c = tableau(method)
    ns = c.size
    loss = closs.sum(axis=0)
    g_at = g if callable(g) else (lambda tt, g=g: g)  # conductances at a stage time (an enhancement relaxing)
    g = g_at(t)
    supplied = closs.shape[0] * n_layers + 2
    zero = np.zeros((ns, u.size))
    S = zero if src is None else src

    def cap_at(tt):
        cap = cap_tissue.astype(float).copy()
        if not infinite:
            cap[0] = film_at(tt, fstate, evap_tau)
        return cap

    def loss_at(cap):
        if kv == 0.0:
            return loss
        out = loss.copy()
        out[0] = kv * cap[0]
        return out

    cap_n = cap_at(t)
    U = np.zeros((ns, u.size))
    F = np.zeros((ns, u.size))
    R = np.zeros((ns, comp.size))
    vrel = np.zeros(ns)
    rel0 = 3 * n_layers
    for i in range(ns):
        if A[i, i] == 0.0:  # explicit first stage
            U[i] = u
            ln = loss_at(cap_n)
            F[i] = rates(u, g, g1, ln) + S[i]
            R[i] = compartment_rates_stacked(u, g, g1, closs, node_layer, n_layers)
            vrel[i] = ln[0] * u[0] if kv else 0.0
            R[i, rel0] += vrel[i]
            continue
        cap_i = cap_at(t + c[i] * h)
        li = loss_at(cap_i)
        g = g_at(t + c[i] * h)
        bi = operator_bands(g, g1, li)
        base = u if i == 0 else U[i - 1]
        stage_rhs = cap_n * u + h * (A[i, :i] @ F[:i]) + h * A[i, i] * S[i]
        d = solve_stage(h * A[i, i], cap_i, bi, infinite, 0.0,
                        stage_rhs - cap_i * base + h * A[i, i] * rates(base, g, g1, li))
        U[i] = base + d
        F[i] = rates(U[i], g, g1, li) + S[i]
        R[i] = compartment_rates_stacked(U[i], g, g1, closs, node_layer, n_layers)
        R[i, supplied] = g1 * ((base[0] - base[1]) - (d[1] - d[0]))
        vrel[i] = li[0] * U[i, 0] if kv else 0.0
        R[i, rel0] += vrel[i]
    comp1 = comp + h * (A[-1] @ R)
    return U, F, R, comp1, cap_at(t + h), vrel


def rk_error(method, h, F, R, u, u1, comp1, cap1, atol, rtol, i0, nothing=0.0, h_tissue=0.0, through=0.0):
    """Scaled error of the embedded estimate, max norm over nodes (from ``i0``), compartments and the tissue's
    total (every node but the film, against ``rtol`` times that total plus ``1e-3 rtol nothing``).

    While every tissue amount is below ``atol`` and the largest is at least
    ``nothing`` (CONTENT_FLOOR of the dose scale), a step that takes a
    tissue amount from >= 0 to below ``-NEG_TOL`` times the largest gets at
    least ``POS_ERR``.
    """
    _, E, _ = tableau(method)
    e_u = h * (E @ F)
    e_c = h * (E @ R)
    q_u = np.abs(e_u[i0:]) / (atol + rtol * np.abs(cap1[i0:] * u1[i0:]))
    q_c = np.abs(e_c) / (atol + rtol * np.abs(comp1))
    err = max(float(q_u.max(initial=0.0)), float(q_c.max(initial=0.0)))
    # the tissue's amount against rtol times itself (the kernel writes the same sum by what crosses the tissue's
    # bounds, free of the inner faces' round-off; here the sum over the nodes, which agrees wherever it decides)
    # no accuracy asked below ROUNDOFF_TISSUE eps of ``through`` (:func:`tissue_through`) in the step
    scale = (rtol * 1e-3 * nothing + rtol * float(np.cumsum(np.abs(cap1[1:] * u1[1:]))[-1])
             + ROUNDOFF_TISSUE * EPS * h * through)
    if scale > 0.0 and h > h_tissue:  # not on steps up to the first one (a film's first instants)
        err = max(err, abs(float(np.cumsum(e_u[1:])[-1])) / scale)
    m1 = cap1[1:] * u1[1:]
    big = max(float(m1.max()), 0.0)
    if nothing <= big < atol and np.any((u[1:] >= 0) & (m1 < -NEG_TOL * big)):  # only where the norm is blind
        err = max(err, POS_ERR)
    return err


def tissue_through(u1, g, g1, loss, src_last=None):
    """What crosses the tissue's bounds per s at ``u1``, each way at the top face (the kernel's ``through``):
    ``g1 (|u_0| + |u_1|) + g[n] |u_(n-1)| + sum loss |u|`` over the tissue, plus the last stage's sources."""
    out = g1 * (abs(u1[0]) + abs(u1[1])) + g[-1] * abs(u1[-1]) + float(np.sum(loss[1:] * np.abs(u1[1:])))
    if src_last is not None:
        out += float(np.abs(src_last[1:]).sum())
    return out


def rk_dense(theta, h, u, comp, u1, comp1, U, F, R, cap_tissue, c0n, c01, c0o, infinite):
    """ESDIRK4's continuous extension at ``t + theta h``: ``(u, comp)`` from amounts and stage rates.

    From the start of the step up to ``theta = 1/2``, from its end beyond
    (``b - b*(theta) = (1 - theta) q(theta)``), as the kernel.
    """
    B = ESDIRK4_DENSE
    cap_n = cap_tissue.astype(float).copy()
    cap_o = cap_n.copy()
    cap_o[0] = c0o
    if theta > 0.5:
        q = sum(B[k] * sum(theta ** i for i in range(k + 1)) for k in range(B.shape[0]))
        bs = -(1.0 - theta) * q
        cap_n[0] = c01
        mb, cb = cap_n * u1, comp1
    else:
        bs = sum(B[k] * theta ** (k + 1) for k in range(B.shape[0]))
        cap_n[0] = c0n
        mb, cb = cap_n * u, comp
    m = mb + h * (bs @ F)
    base = u1 if theta > 0.5 else u
    uo = np.where(cap_o > 0, m / np.where(cap_o > 0, cap_o, 1.0), base)
    if infinite:
        uo[0] = u[0]
    return uo, cb + h * (bs @ R)


def hermite_dense(theta, h, u, comp, u1, comp1, F, R, cap_tissue, c0n, c01, c0o, infinite):
    """The cubic Hermite interpolant of a step's ends at ``t + theta h``: ``(u, comp)``.

    Written as the textbook ``h00 m0 + h10 h m0' + h01 m1 + h11 h m1'`` in amounts, with the rates at the
    ends from the first stage (ESDIRK4's is explicit, ``u`` itself) and the last (the step's result),
    independently of the kernel's weights on the stage rates; ``m1 - m0`` as in :func:`quadratic_dense`.
    """
    h10, h01, h11 = theta * (1.0 - theta) ** 2, theta ** 2 * (3.0 - 2.0 * theta), theta ** 2 * (theta - 1.0)
    return _from_ends(theta, h, u, comp, u1, comp1, F, R, cap_tissue, c0n, c01, c0o, infinite, h01, h10, h11)


def quadratic_dense(theta, h, u, comp, u1, comp1, F, R, cap_tissue, c0n, c01, c0o, infinite):
    """The quadratic through a step's two ends with the rate at its end, at ``t + theta h``: ``(u, comp)``.

    Written as ``m0 + (2 theta - theta^2) (m1 - m0) + (theta^2 - theta) h m1'`` in amounts, with the end
    rate from the last stage (the step's result), independently of the kernel's weights on the stage rates.
    ``m1 - m0`` is the step's ``h sum_j b_j F_j``, as in the kernel and the continuous extension: the
    difference of the states equals it only to the stage solves' round-off, which grows with the stiffness
    (1e-11 of a state of scale 1 on 20 cells per layer).
    Past ``theta = 1/2`` from the end, ``m1 - (step - q(theta))``, as the kernel (so an output near the end
    is the step's result).
    """
    return _from_ends(theta, h, u, comp, u1, comp1, F, R, cap_tissue, c0n, c01, c0o, infinite,
                      theta * (2.0 - theta), 0.0, theta * (theta - 1.0))


def _from_ends(theta, h, u, comp, u1, comp1, F, R, cap_tissue, c0n, c01, c0o, infinite, a, b0, b1):
    """``m0 + a (m1 - m0) + b0 h m0' + b1 h m1'`` in amounts (from the end past ``theta = 1/2``), and the
    compartments likewise."""
    cap0 = cap_tissue.astype(float).copy()
    cap1 = cap0.copy()
    cap_o = cap0.copy()
    cap0[0], cap1[0], cap_o[0] = c0n, c01, c0o
    step = h * (ESDIRK4_A[-1] @ F)  # m1 - m0
    ends = b0 * h * F[0] + b1 * h * F[-1]
    if theta > 0.5:
        m = cap1 * u1 - ((1.0 - a) * step - ends)
    else:
        m = cap0 * u + a * step + ends
    base = u1 if theta > 0.5 else u
    uo = np.where(cap_o > 0, m / np.where(cap_o > 0, cap_o, 1.0), base)
    if infinite:
        uo[0] = u[0]
    rc = h * (ESDIRK4_A[-1] @ R)
    rends = b0 * h * R[0] + b1 * h * R[-1]
    if theta > 0.5:
        return uo, comp1 - ((1.0 - a) * rc - rends)
    return uo, comp + a * rc + rends


def fail(fstate, istate, t, status, node):
    """A call's failed end at ``t``: the status, the failing node (or None) and the failure time."""
    istate[I_STATUS] = status
    if node is not None:
        istate[I_FAIL_NODE] = node
    fstate[F_FAIL_TIME] = t
    fstate[F_TIME] = t
    return status


def done(fstate, istate, t_now, h_now, e_now, p_now):
    """A call's normal end (its last stop, or a pause): time, next step, the controller's memory."""
    fstate[F_TIME] = t_now
    fstate[F_STEP] = h_now
    if fstate.size > F_POS_CAP:
        fstate[F_ERR_PREV] = e_now
        fstate[F_POS_CAP] = p_now
    istate[I_STATUS] = OK
    return OK


def step_to_stop(h_try, remaining):
    """Step towards the next stop: land on it, or halve what is left instead of leaving a sliver."""
    if h_try >= remaining * (1.0 - 1e-12):
        return remaining, True
    if 2.0 * h_try > remaining:
        return 0.5 * remaining, False
    return h_try, False


def tr_bdf2_step(t, h, u, comp, g, g1, cap_tissue, loss, cdeg, cup, ccl, node_layer, n_layers,
                 infinite, c_donor, fstate, evap_tau, rtol, atol):
    """One TR-BDF2 step from ``t`` to ``t + h`` with its scaled error.

    Returns
    -------
    u1, comp1 : ndarray
        The state at ``t + h``.
    err : float
        Max-norm of the embedded error estimate scaled by ``atol + rtol |amount|``,
        over tissue (and finite-vehicle) amounts and compartments.
    bad : int
        First node with a non-finite value, or -1.
    """
    cap_n = cap_tissue.astype(float).copy()
    cap_g = cap_n.copy()
    cap_1 = cap_n.copy()
    if not infinite:
        cap_n[0] = film_at(t, fstate, evap_tau)
        cap_g[0] = film_at(t + GAMMA * h, fstate, evap_tau)
        cap_1[0] = film_at(t + h, fstate, evap_tau)
    bands = operator_bands(g, g1, loss)

    def F(v):
        return rates(v, g, g1, loss)

    def R(v):
        return compartment_rates(v, g, g1, cdeg, cup, ccl, node_layer, n_layers)

    # stage 1, trapezoidal rule to t + gamma h:  C_g u_g = C_n u + a (F(u) + F(u_g)),
    # solved for the increment u_g - u (delta form, as the kernel)
    supplied = 3 * n_layers + 2
    a = ALPHA_TR * h
    fn, rn = F(u), R(u)
    dg = solve_stage(a, cap_g, bands, infinite, 0.0, (cap_n - cap_g) * u + 2.0 * a * fn)
    ug = u + dg
    fg, rg = F(ug), R(ug)
    # the supply rate from the unrounded increment, as the kernel
    rg[supplied] = g1 * ((u[0] - u[1]) - (dg[1] - dg[0]))
    comp_g = comp + a * (rn + rg)
    # stage 2, BDF2 through t, t + gamma h, t + h:  C_1 u_1 = A C_g u_g - B C_n u + d F(u_1),
    # solved for u_1 - u_g
    d = BDF_D * h
    d1 = solve_stage(d, cap_1, bands, infinite, 0.0, BDF_A * cap_g * ug - BDF_B * cap_n * u - cap_1 * ug + d * fg)
    u1 = ug + d1
    f1, r1 = F(u1), R(u1)
    r1[supplied] = g1 * ((ug[0] - ug[1]) - (d1[1] - d1[0]))
    comp1 = BDF_A * comp_g - BDF_B * comp + d * r1

    nonfinite = np.flatnonzero(~np.isfinite(u1))
    if nonfinite.size:
        return u1, comp1, math.nan, int(nonfinite[0])
    i0 = 1 if infinite else 0
    e_u = h * (ERR_1 * fn + ERR_2 * fg + ERR_3 * f1)
    q_u = np.abs(e_u[i0:]) / (atol + rtol * np.abs(cap_1[i0:] * u1[i0:]))
    e_c = h * (ERR_1 * rn + ERR_2 * rg + ERR_3 * r1)
    q_c = np.abs(e_c) / (atol + rtol * np.abs(comp1))
    err = max(float(q_u.max(initial=0.0)), float(q_c.max(initial=0.0)))
    return u1, comp1, err, -1


# -- the driver, argument for argument the compiled kernel's ---------------------
def integrate_column_reference(
    cap_tissue, g, cdeg, cup, ccl, node_layer, n_layers,
    infinite, c_donor, h0, evap_frac, evap_tau, sample_frac,
    stops, out_index, stop_event,
    u, comp, fstate, istate,
    rtol, m_ref, h_start, max_steps,
    u_out, comp_out, stats, method=METHOD_ESDIRK4, u_gap=None, comp_gap=None,
):
    """Numpy twin of :func:`exodiff.kernels.column1d.integrate_column`.

    Same arguments, same in-place updates of ``u``, ``comp``, ``fstate``,
    ``istate``, ``u_out``, ``comp_out``, ``stats`` (and ``u_gap``,
    ``comp_gap`` node by node, from the interpolants' own forms,
    :func:`hermite_dense` and :func:`quadratic_dense`), same return status.
    """
    loss = cdeg + cup + ccl
    if method != METHOD_TRBDF2:  # the local tolerance of the 4th-order methods
        rtol = rtol * (rtol / RK_TOL_REF) ** (RK_TOL_EXPONENT - 1.0)
    t = fstate[F_TIME]
    h_next = fstate[F_STEP]
    t_end = stops[-1]
    # the floor only catches a hopeless collapse: a start against a sharp
    # front may need steps far below 1e-14 t_end, later steps must still move t
    h_min = 1e-20 * max(t_end, 1.0)
    removed = 3 * n_layers + 1
    steps_here = 0

    closs = np.array([cdeg, cup, ccl])
    i0 = 1 if infinite else 0
    dense = method == METHOD_ESDIRK4
    err_prev = fstate[F_ERR_PREV] if fstate.size > F_ERR_PREV else 1.0
    h_pos = fstate[F_POS_CAP] if fstate.size > F_POS_CAP else 0.0
    n_solves = 2 if method == METHOD_TRBDF2 else 5
    pending = []  # plain output stops ESDIRK4 steps over (interpolated)
    k_landed = -1
    for k, t_stop in enumerate(stops):
        if dense and stop_event[k] & ~EVENT_PAUSE == 0 and k < len(stops) - 1:
            pending.append(k)
            continue
        pause = False
        while t < t_stop:
            g1 = 0.0 if istate[I_WASHED] else g[1]
            h, last = step_to_stop(h_next, t_stop - t)
            if last:
                h = t_stop - t
            atol = step_atol(rtol, m_ref, held(u, cap_tissue, t, infinite, fstate, evap_tau), infinite, fstate)
            if method == METHOD_TRBDF2:
                u1, comp1, err, bad = tr_bdf2_step(t, h, u, comp, g, g1, cap_tissue, loss, cdeg, cup, ccl,
                                                   node_layer, n_layers, infinite, c_donor, fstate,
                                                   evap_tau, rtol, atol)
            else:
                U, F, R, comp1, cap1, _ = rk_stages(method, t, h, u, comp, g, g1, cap_tissue, closs, node_layer,
                                                 n_layers, infinite, fstate, evap_tau, None)
                u1 = U[-1].copy()
                nonfinite = np.flatnonzero(~np.isfinite(u1))
                bad = int(nonfinite[0]) if nonfinite.size else -1
                err = rk_error(method, h, F, R, u, u1, comp1, cap1, atol, rtol, i0, CONTENT_FLOOR * m_ref, h_start,
                               tissue_through(u1, g, g1, loss)) if bad < 0 else math.nan
            stats[S_SOLVES] += n_solves
            if bad >= 0 or not math.isfinite(err):
                return fail(fstate, istate, t, NONFINITE, bad)
            steps_here += 1
            t_new = t_stop if last else t + h
            redo = None
            if err <= 1.0:
                # interpolated outputs; one that dips below zero where neither end does: land on it instead
                for kp in [q for q in pending if stops[q] <= t_new]:
                    if out_index[kp] >= 0:
                        c0n, c01 = film_at(t, fstate, evap_tau), film_at(t + h, fstate, evap_tau)
                        c0o = film_at(stops[kp], fstate, evap_tau)
                        uo, co = rk_dense((stops[kp] - t) / h, h, u, comp, u1, comp1, U, F, R, cap_tissue, c0n, c01,
                                          c0o, infinite)
                        u_out[out_index[kp]], comp_out[out_index[kp]] = uo, co
                        if u_gap is not None:
                            for i, other in enumerate((hermite_dense, quadratic_dense)):
                                uh, ch = other((stops[kp] - t) / h, h, u, comp, u1, comp1, F, R, cap_tissue, c0n,
                                               c01, c0o, infinite)
                                u_gap[i, out_index[kp]], comp_gap[i, out_index[kp]] = uh - uo, ch - co
                        if kp != k_landed and np.any((uo < 0) & (u >= 0) & (u1 >= 0)
                                                     & (cap_tissue * uo < -CONTENT_FLOOR * m_ref)):
                            redo = kp
                            break
            if redo is not None:
                if u_gap is not None and out_index[redo] >= 0:  # landed on: no interpolation there
                    u_gap[:, out_index[redo]], comp_gap[:, out_index[redo]] = 0.0, 0.0
                stats[S_REJECTED] += 1
                k_landed = redo
                h_next = stops[redo] - t
            elif err <= 1.0:
                stats[S_STEPS] += 1
                pause = any(stop_event[q] & EVENT_PAUSE for q in pending if stops[q] <= t_new)
                pending = [q for q in pending if stops[q] > t_new]
                t = t_new
                u[:] = u1
                comp[:] = comp1
                if method == METHOD_TRBDF2:
                    h_new = proposed_step(h, err)
                else:
                    h_new = proposed_step_rk(h, err, err_prev)
                    err_prev = err
                # a step shortened to land on a stop must not shrink the next one
                if h_new < h_next and h < h_next:
                    h_new = h_next
                h_next = h_new
                if method != METHOD_TRBDF2 and h_pos > 0.0:  # the cap an undershoot set
                    h_next = min(h_next, h_pos)
                    h_pos *= POS_GROW
                if pause and t < t_stop:
                    return done(fstate, istate, t, h_next, err_prev, h_pos)
            else:
                stats[S_REJECTED] += 1
                h_next = proposed_step(h, err) if method == METHOD_TRBDF2 else proposed_step_rk(h, err, err_prev)
                if err == POS_ERR:
                    h_pos = h_next
                if h_next < max(h_min, 8.0 * 2.220446049250313e-16 * abs(t)):
                    return fail(fstate, istate, t, STEP_UNDERFLOW, None)
            if steps_here > max_steps:
                return fail(fstate, istate, t, TOO_MANY_STEPS, None)
        for kp in pending:  # not passed by a step (none in exact arithmetic): the state now
            if out_index[kp] >= 0:
                u_out[out_index[kp]] = u
                comp_out[out_index[kp]] = comp
        pending = []
        if stop_event[k] & EVENT_WASH and istate[I_WASHED] == 0:
            if not infinite:
                comp[removed] += film_at(t, fstate, evap_tau) * u[0]
            u[0] = 0.0
            istate[I_WASHED] = 1
            h_next = h_start
            err_prev = 1.0
            h_pos = 0.0
        if stop_event[k] & (EVENT_APPLY | EVENT_ADD):
            washed = bool(istate[I_WASHED])
            u[0], comp[removed] = apply_film(t, u[0], comp[removed], c_donor, h0, evap_frac, evap_tau, fstate,
                                             washed, bool(stop_event[k] & EVENT_ADD) and not washed)
            istate[I_WASHED] = 0
            h_next = h_start
            err_prev = 1.0
            h_pos = 0.0
        if out_index[k] >= 0:
            u_out[out_index[k]] = u
            comp_out[out_index[k]] = comp
        if stop_event[k] & EVENT_SAMPLE:  # after recording: the receptor (last node) as the sample finds it
            taken = sample_frac * u[-1]
            u[-1] -= taken
            comp[removed - 1] += cap_tissue[-1] * taken
        if pause or stop_event[k] & EVENT_PAUSE:
            return done(fstate, istate, t, h_next, err_prev, h_pos)
    return done(fstate, istate, t, h_next, err_prev, h_pos)


def run_column(problem, kernel=None, max_steps: int = 1_000_000, gaps: bool = False):
    """Solve a :class:`~exodiff.problem.layered.Problem1D` with a column kernel.

    The set-up is :func:`exodiff.solvers.layered.integrate`'s (initial state, first
    step, stops and events) for one column, so two kernels run through here
    get identical arguments and can be compared output for output, step for
    step.  No mass-balance check is made; the caller compares.

    Parameters
    ----------
    problem : Problem1D
    kernel : callable, optional
        :func:`integrate_column_reference` (default) or the compiled
        :func:`exodiff.kernels.column1d.integrate_column`.
    max_steps : int
    gaps : bool
        Also pass ``u_gap``, ``comp_gap`` (the interpolation gaps) and return
        them in ``stats["gaps"]``: the twin's node by node (2, k, n), the
        compiled kernel's in amounts (2, k, L + 2: film ``u``, each layer's
        amount, last node ``u``).

    Returns
    -------
    exodiff.solvers.common.RawSolution
    """
    from exodiff.solvers.common import RawSolution
    from exodiff.solvers.common import stop_list as _stops

    if kernel is None:
        kernel = integrate_column_reference
    arr = problem.kernel_arrays()
    n = arr["cap"].size
    L = len(problem.layers)
    nc = 3 * L + 3
    times = problem.output_times
    u = np.zeros(n)
    u[0] = problem.concentration
    comp = np.zeros(nc)
    u_out = np.zeros((times.size, n))
    comp_out = np.zeros((times.size, nc))
    u_out[0] = u
    h_start = 1e-8 * max(float(times[-1]), 1.0)
    # time, step, failure time, then the film: applied at 0, its thickness and volatile fraction then;
    # the step controller's memory
    fstate = np.array([0.0, h_start, math.nan, 0.0, problem.vehicle_thickness, problem.evaporation_fraction, 1.0, 0.0])
    istate = np.zeros(3, dtype=np.int64)
    stats = np.zeros(3, dtype=np.int64)
    stops, out_idx, events = _stops(problem)
    gap = ()
    if gaps and kernel is integrate_column_reference:  # the twin's gaps node by node
        gap = (np.zeros((2,) + u_out.shape), np.zeros((2,) + comp_out.shape))
    elif gaps:  # the kernel's in the amounts an estimate reads, with each node's layer (-1: film, receptor)
        gap_layer = arr["node_layer"].copy()
        if problem.has_receptor:
            gap_layer[-1] = -1
        gap = (np.zeros((2, times.size, L + 2)), np.zeros((2, times.size, nc)), gap_layer)
    status = kernel(
        arr["cap"], arr["g"], arr["cdeg"], arr["cup"], arr["ccl"], arr["node_layer"], L,
        problem.vehicle == "infinite", problem.concentration, problem.vehicle_thickness,
        problem.evaporation_fraction, problem.evaporation_time, problem.sample_fraction,
        stops, out_idx, events, u, comp, fstate, istate,
        problem.tolerance, problem.amount_scale(), h_start, max_steps, u_out, comp_out, stats,
        METHOD_NAMES[problem.integrator], *gap)
    if status != OK:
        raise RuntimeError(f"column kernel stopped with status {status} at t = {fstate[F_FAIL_TIME]} s")
    return RawSolution(times=times.copy(), u=u_out, comp=comp_out,
                       stats={"steps": int(stats[0]), "rejected": int(stats[1]), "solves": int(stats[2]),
                              "gaps": gap[:2] or None})


def integrate_reference(problem, max_steps: int = 1_000_000):
    """Solve a :class:`~exodiff.problem.layered.Problem1D` with the numpy reference kernel (see :func:`run_column`)."""
    return run_column(problem, integrate_column_reference, max_steps)


# -- several columns with one-way sources (size classes, a released cargo) -------
def compartment_rates_stacked(u, g, g1, closs, node_layer, n_layers):
    """As :func:`compartment_rates` with the loss processes stacked, ``closs[p] = k_p C``."""
    P = closs.shape[0]
    nl = n_layers
    tissue = node_layer >= 0
    lay = node_layer[tissue]
    out = np.zeros(P * nl + 3)
    for p in range(P):
        out[p * nl:(p + 1) * nl] = np.bincount(lay, (closs[p] * u)[tissue], nl)
    out[P * nl] = g[u.size] * u[-1]
    out[P * nl + 2] = g1 * (u[0] - u[1])
    return out


def column_stages(t, h, u, comp, g, g1, cap_tissue, closs, node_layer, n_layers, infinite, fstate,
                  evap_tau, src, kv=0.0):
    """Both TR-BDF2 stages of one column, with a source known at the three stage times.

    ``src`` is ``(S_n, S_g, S_1)`` (amount per area per s at ``t``, ``t + gamma h``,
    ``t + h``) or None.  With a source the stages are

        C_g u_g - C_n u = a (A u + S_n + A u_g + S_g),
        C_1 u_1 - d (A u_1 + S_1) = BDF_A C_g u_g - BDF_B C_n u,

    solved for the increments as the kernel does.

    Returns
    -------
    ug, u1, comp1, (fn, fg, f1), (rn, rg, r1)
        Stage states, the new compartments, the stage derivatives (source
        included) and the compartment rates.
    """
    loss = closs.sum(axis=0)
    g_at = g if callable(g) else (lambda tt, g=g: g)  # conductances at a stage time (an enhancement relaxing)
    g_n, g_g, g_1 = g_at(t), g_at(t + GAMMA * h), g_at(t + h)
    cap_n = cap_tissue.astype(float).copy()
    cap_g = cap_n.copy()
    cap_1 = cap_n.copy()
    if not infinite:
        cap_n[0] = film_at(t, fstate, evap_tau)
        cap_g[0] = film_at(t + GAMMA * h, fstate, evap_tau)
        cap_1[0] = film_at(t + h, fstate, evap_tau)
    zero = np.zeros_like(u)
    s_n, s_g, s_1 = src if src is not None else (zero, zero, zero)

    # the film's leakage kv C_0(t) is part of each stage time's operator (vehicle node's loss)
    def loss_at(cap):
        out = loss.copy()
        out[0] = kv * cap[0]
        return out

    def F(v, cap, gg):
        return rates(v, gg, g1, loss_at(cap))

    def R(v, cap, gg):
        out = compartment_rates_stacked(v, gg, g1, closs, node_layer, n_layers)
        out[3 * n_layers] += kv * cap[0] * v[0]
        return out

    supplied = closs.shape[0] * n_layers + 2
    a = ALPHA_TR * h
    fn, rn = F(u, cap_n, g_n), R(u, cap_n, g_n)
    dg = solve_stage(a, cap_g, operator_bands(g_g, g1, loss_at(cap_g)), infinite, 0.0,
                     (cap_n - cap_g) * u + a * fn + a * F(u, cap_g, g_g) + a * (s_n + s_g))
    ug = u + dg
    fg, rg = F(ug, cap_g, g_g), R(ug, cap_g, g_g)
    rg[supplied] = g1 * ((u[0] - u[1]) - (dg[1] - dg[0]))
    comp_g = comp + a * (rn + rg)
    d = BDF_D * h
    d1 = solve_stage(d, cap_1, operator_bands(g_1, g1, loss_at(cap_1)), infinite, 0.0,
                     BDF_A * cap_g * ug - BDF_B * cap_n * u - cap_1 * ug + d * F(ug, cap_1, g_1) + d * s_1)
    u1 = ug + d1
    f1, r1 = F(u1, cap_1, g_1), R(u1, cap_1, g_1)
    r1[supplied] = g1 * ((ug[0] - ug[1]) - (d1[1] - d1[0]))
    comp1 = BDF_A * comp_g - BDF_B * comp + d * r1
    vrel = (kv * cap_n[0] * u[0], kv * cap_g[0] * ug[0], kv * cap_1[0] * u1[0])
    return ug, u1, comp1, (fn + s_n, fg + s_g, f1 + s_1), (rn, rg, r1), cap_1, vrel


def integrate_columns_reference(
    cap_tissue, g, closs, csrc, source_to, node_layer, n_layers,
    infinite, c_donor, h0, evap_frac, evap_tau, sample_frac,
    stops, out_index, stop_event,
    u, comp, fstate, istate,
    rtol, m_ref, h_start, max_steps,
    u_out, comp_out, stats, method=METHOD_ESDIRK4, kveh=None, cveh=None,
    enh=None, rsc=None, roth=None, tau_enh=0.0,
):
    """Numpy twin of :func:`exodiff.kernels.column1d.integrate_columns`.

    Columns in index order; a column's source at each stage is the sum of
    ``csrc[s] * u_s`` at that stage over the columns ``s`` that feed it, plus
    at node 0 ``cveh[s]`` times the film's leakage ``kveh[s] C_0(t_i) u_s[0]``.
    A penetration enhancement ``enh[s]`` gives column ``s`` the faces
    ``1/(rsc/E(t) + roth)`` where ``rsc > 0``, with ``E(t) = enh[s]`` while
    a film is on and ``1 + (enh[s] - 1) exp(-(t - t_wash)/tau_enh)`` after a
    wash-off, evaluated at every stage time.
    Same arguments and in-place updates as the kernel.
    """
    S = u.shape[0]
    t_wash = [0.0]

    def g_of(s):
        """Column ``s``'s conductances: an array, or a function of time once an enhancement relaxes."""
        if enh is None or enh[s] == 1.0:
            return g[s]

        def faces(e):
            out = np.array(g[s], dtype=float)
            m = rsc[s] > 0
            out[m] = 1.0 / (rsc[s][m] / e + roth[s][m])
            return out

        if not istate[I_WASHED]:
            return faces(enh[s])
        return lambda tt: faces(1.0 + (enh[s] - 1.0) * math.exp(-(tt - t_wash[0]) / tau_enh)
                                if tau_enh > 0 else 1.0)

    kv = np.zeros(S) if kveh is None else np.asarray(kveh, dtype=float)
    cv = np.zeros(S) if cveh is None else np.asarray(cveh, dtype=float)
    if method != METHOD_TRBDF2:
        rtol = rtol * (rtol / RK_TOL_REF) ** (RK_TOL_EXPONENT - 1.0)
    m_ref = np.asarray(m_ref, dtype=float)
    t = fstate[F_TIME]
    h_next = fstate[F_STEP]
    h_min = 1e-20 * max(stops[-1], 1.0)
    removed = closs.shape[1] * n_layers + 1
    i0 = 1 if infinite else 0
    steps_here = 0

    dense = method == METHOD_ESDIRK4
    err_prev = fstate[F_ERR_PREV] if fstate.size > F_ERR_PREV else 1.0
    h_pos = fstate[F_POS_CAP] if fstate.size > F_POS_CAP else 0.0
    n_solves = 2 if method == METHOD_TRBDF2 else 5
    ns = 2 if method == METHOD_TRBDF2 else tableau(method)[2].size
    pending = []
    k_landed = -1
    for k, t_stop in enumerate(stops):
        if dense and stop_event[k] & ~EVENT_PAUSE == 0 and k < len(stops) - 1:
            pending.append(k)
            continue
        pause = False
        while t < t_stop:
            gs = [g_of(s) for s in range(S)]
            g1s = [0.0 if istate[I_WASHED] else gs[s][1] for s in range(S)]
            h, last = step_to_stop(h_next, t_stop - t)
            if last:
                h = t_stop - t
            fed = [any(source_to[p] == s for p in range(S)) for s in range(S)]
            # a fed column (a cargo) counts what its sources hold as its own
            have = [held(u[s], cap_tissue[s], t, infinite, fstate, evap_tau) for s in range(S)]
            atol = [step_atol(rtol, m_ref[s], have[s] + sum(have[p] for p in range(S) if source_to[p] == s), infinite,
                              fstate)
                    for s in range(S)]
            u1 = np.empty_like(u)
            comp1 = np.empty_like(comp)
            err, bad = 0.0, -1
            if method == METHOD_TRBDF2:
                src = [[np.zeros(u.shape[1]) for _ in range(3)] for _ in range(S)]
            else:
                src = np.zeros((S, ns, u.shape[1]))
                stages = [None] * S
            for s in range(S):
                if method == METHOD_TRBDF2:
                    ug, u1[s], comp1[s], (fn, fg, f1), (rn, rg, r1), cap_1, vrel = column_stages(
                        t, h, u[s], comp[s], gs[s], g1s[s], cap_tissue[s], closs[s], node_layer, n_layers, infinite,
                        fstate, evap_tau, src[s] if fed[s] else None, kv[s])
                    stats[S_SOLVES] += 2
                    tgt = source_to[s]
                    if tgt >= 0:
                        for j, v in enumerate((u[s], ug, u1[s])):
                            src[tgt][j] += csrc[s] * v
                            src[tgt][j][0] += cv[s] * vrel[j]
                else:
                    U, F, R, comp1[s], cap_1, vrel = rk_stages(method, t, h, u[s], comp[s], gs[s], g1s[s],
                                                               cap_tissue[s], closs[s], node_layer, n_layers,
                                                               infinite, fstate, evap_tau,
                                                               src[s] if fed[s] else None, kv[s])
                    stages[s] = (U, F, R)
                    u1[s] = U[-1]
                    stats[S_SOLVES] += n_solves
                    tgt = source_to[s]
                    if tgt >= 0:
                        src[tgt] += csrc[s][None, :] * U
                        src[tgt][:, 0] += cv[s] * vrel
                nonfinite = np.flatnonzero(~np.isfinite(u1[s]))
                if nonfinite.size:
                    bad = s * u.shape[1] + int(nonfinite[0])
                    break
                if method == METHOD_TRBDF2:
                    e_u = h * (ERR_1 * fn + ERR_2 * fg + ERR_3 * f1)
                    q_u = np.abs(e_u[i0:]) / (atol[s] + rtol * np.abs(cap_1[i0:] * u1[s, i0:]))
                    e_c = h * (ERR_1 * rn + ERR_2 * rg + ERR_3 * r1)
                    q_c = np.abs(e_c) / (atol[s] + rtol * np.abs(comp1[s]))
                    err = max(err, float(q_u.max(initial=0.0)), float(q_c.max(initial=0.0)))
                else:
                    g_end = gs[s](t + h) if callable(gs[s]) else gs[s]  # the kernel's last stage's conductances
                    through = tissue_through(u1[s], g_end, g1s[s], closs[s].sum(axis=0),
                                             src[s][-1] if fed[s] else None)
                    err = max(err, rk_error(method, h, F, R, u[s], u1[s], comp1[s], cap_1, atol[s], rtol, i0,
                                            CONTENT_FLOOR * m_ref[s], h_start, through))
            if bad >= 0 or not math.isfinite(err):
                return fail(fstate, istate, t, NONFINITE, bad)
            steps_here += 1
            t_new = t_stop if last else t + h
            redo = None
            if err <= 1.0:
                for kp in [q for q in pending if stops[q] <= t_new]:
                    if out_index[kp] >= 0:
                        c0n, c01 = film_at(t, fstate, evap_tau), film_at(t + h, fstate, evap_tau)
                        c0o = film_at(stops[kp], fstate, evap_tau)
                        for s in range(S):
                            U, F, R = stages[s]
                            uo, co = rk_dense((stops[kp] - t) / h, h, u[s], comp[s], u1[s], comp1[s], U, F, R,
                                              cap_tissue[s], c0n, c01, c0o, infinite)
                            u_out[out_index[kp], s], comp_out[out_index[kp], s] = uo, co
                            if kp != k_landed and np.any((uo < 0) & (u[s] >= 0) & (u1[s] >= 0)
                                                         & (cap_tissue[s] * uo < -CONTENT_FLOOR * m_ref[s])):
                                redo = kp
                        if redo is not None:
                            break
            if redo is not None:
                stats[S_REJECTED] += 1
                k_landed = redo
                h_next = stops[redo] - t
            elif err <= 1.0:
                stats[S_STEPS] += 1
                pause = any(stop_event[q] & EVENT_PAUSE for q in pending if stops[q] <= t_new)
                pending = [q for q in pending if stops[q] > t_new]
                t = t_new
                u[:] = u1
                comp[:] = comp1
                if method == METHOD_TRBDF2:
                    h_new = proposed_step(h, err)
                else:
                    h_new = proposed_step_rk(h, err, err_prev)
                    err_prev = err
                if h_new < h_next and h < h_next:
                    h_new = h_next
                h_next = h_new
                if method != METHOD_TRBDF2 and h_pos > 0.0:  # the cap an undershoot set
                    h_next = min(h_next, h_pos)
                    h_pos *= POS_GROW
                if pause and t < t_stop:
                    return done(fstate, istate, t, h_next, err_prev, h_pos)
            else:
                stats[S_REJECTED] += 1
                h_next = proposed_step(h, err) if method == METHOD_TRBDF2 else proposed_step_rk(h, err, err_prev)
                if err == POS_ERR:
                    h_pos = h_next
                if h_next < max(h_min, 8.0 * 2.220446049250313e-16 * abs(t)):
                    return fail(fstate, istate, t, STEP_UNDERFLOW, None)
            if steps_here > max_steps:
                return fail(fstate, istate, t, TOO_MANY_STEPS, None)
        for kp in pending:
            if out_index[kp] >= 0:
                u_out[out_index[kp]] = u
                comp_out[out_index[kp]] = comp
        pending = []
        if stop_event[k] & EVENT_WASH and istate[I_WASHED] == 0:
            for s in range(S):
                if not infinite:
                    comp[s, removed] += film_at(t, fstate, evap_tau) * u[s, 0]
                u[s, 0] = 0.0
            istate[I_WASHED] = 1
            t_wash[0] = t
            h_next = h_start
            err_prev = 1.0
            h_pos = 0.0
        if stop_event[k] & (EVENT_APPLY | EVENT_ADD):
            washed = bool(istate[I_WASHED])
            u[:, 0], comp[:, removed] = apply_film(t, u[:, 0].copy(), comp[:, removed].copy(), np.asarray(c_donor),
                                                   h0, evap_frac, evap_tau, fstate, washed,
                                                   bool(stop_event[k] & EVENT_ADD) and not washed)
            istate[I_WASHED] = 0
            h_next = h_start
            err_prev = 1.0
            h_pos = 0.0
        if out_index[k] >= 0:
            u_out[out_index[k]] = u
            comp_out[out_index[k]] = comp
        if stop_event[k] & EVENT_SAMPLE:
            taken = sample_frac * u[:, -1]
            u[:, -1] -= taken
            comp[:, removed - 1] += cap_tissue[:, -1] * taken
        if pause or stop_event[k] & EVENT_PAUSE:
            return done(fstate, istate, t, h_next, err_prev, h_pos)
    return done(fstate, istate, t, h_next, err_prev, h_pos)


def run_columns(problem, kernel=None, max_steps: int = 1_000_000):
    """Solve every column of a :class:`~exodiff.problem.layered.Problem1D` with a batched kernel.

    The set-up of :func:`exodiff.solvers.layered.integrate`; ``kernel`` is
    :func:`integrate_columns_reference` (default) or the compiled
    :func:`exodiff.kernels.column1d.integrate_columns`.

    Returns
    -------
    u_out, comp_out, stats : ndarray
        (k, S, n), (k, S, nc) and the step counts.
    """
    from exodiff.solvers.common import stop_list as _stops

    if kernel is None:
        kernel = integrate_columns_reference
    arr = problem.columns_arrays()
    S, n = arr["cap"].shape
    L = len(problem.layers)
    nc = problem.n_processes * L + 3
    times = problem.output_times
    u = np.zeros((S, n))
    u[:, 0] = problem.concentration * arr["weight"]
    comp = np.zeros((S, nc))
    u_out = np.zeros((times.size, S, n))
    comp_out = np.zeros((times.size, S, nc))
    u_out[0] = u
    h_start = 1e-8 * max(float(times[-1]), 1.0)
    # time, step, failure time, then the film: applied at 0, its thickness and volatile fraction then;
    # the step controller's memory
    fstate = np.array([0.0, h_start, math.nan, 0.0, problem.vehicle_thickness, problem.evaporation_fraction, 1.0, 0.0,
                       0.0])
    istate = np.zeros(3, dtype=np.int64)
    stats = np.zeros(3, dtype=np.int64)
    stops, out_idx, events = _stops(problem)
    status = kernel(arr["cap"], arr["g"], arr["closs"], arr["csrc"], arr["source_to"], arr["node_layer"], L,
                    problem.vehicle == "infinite", problem.concentration * arr["weight"], problem.vehicle_thickness,
                    problem.evaporation_fraction, problem.evaporation_time, problem.sample_fraction, stops, out_idx,
                    events, u, comp,
                    fstate, istate, problem.tolerance, arr["m_ref"], h_start, max_steps, u_out, comp_out, stats,
                    METHOD_NAMES[problem.integrator], arr.get("kveh"), arr.get("cveh"),
                    *((arr["enh"], arr["rsc"], arr["roth"], arr["tau_enh"]) if arr.get("enh") is not None else ()))
    if status != OK:
        raise RuntimeError(f"kernel status {status}")
    return u_out, comp_out, stats
