"""The 1D layered column: vehicle node + finite-volume cells, whole time loop compiled.

Unknowns are the continuous variable ``u = c / K`` at nodes ``0..n-1``: node 0
is the well-mixed vehicle (``K = 1``), nodes ``1..n-1`` the tissue cells top
to bottom.  With capacity ``C_i = K_i dz_i`` (per unit area; the vehicle's
``C_0 = h_v(t)``) and face conductances ``g_i`` between nodes ``i-1`` and
``i`` (harmonic mean of ``D K`` over the half-cells, exact for the piecewise
steady state), the semi-discrete system is, in amounts ``m_i = C_i u_i``,

    dm_i/dt = g_i (u_{i-1} - u_i) + g_{i+1} (u_{i+1} - u_i) - k_i C_i u_i,

with ``g_n`` the bottom conductance to a sink (0 for no flux) and
``k = k_deg + k_up + k_cl``.  The removed amounts are integrated as extra
components (degraded, taken_up, cleared, removed, supplied) with the same
Runge-Kutta weights, so the linear invariant "vehicle + tissue + compartments =
dose" is preserved to round-off by construction (every Runge-Kutta method
conserves linear invariants).

Integrators (``method``, :mod:`exodiff.kernels.control`): ESDIRK4 (default;
Kennedy & Carpenter's ESDIRK4(3)6L[2]SA, :func:`rk_column_step`, stepping
over plain output times and interpolating them, :func:`dense_column`),
SDIRK4 (Hairer & Wanner; the same step, landing on every stop) and TR-BDF2
(the stages written out below).  docs/numerics.md says why and what was
measured.

An infinite donor replaces the vehicle row by ``u_0 = c_donor``; then
``supplied`` (the cumulative flux into the skin) is the reference amount.

Every implicit stage is solved in *delta form* (described here for TR-BDF2's two): for the increment of ``u``
over the stage, with right-hand side ``(stage rhs) - (C - alpha A) u_prev``
built from the conservative face fluxes ``A u_prev``.  In exact arithmetic
this is the same scheme.  In floating point the mass balance error of a
step is the sum of the residuals of the tridiagonal solve, of order
``eps * alpha g |x|`` per node, and ``alpha g / C`` reaches 1e7-1e9 in thin,
permeable cells with large steps.  Solving for ``u`` itself (``x = u``) the
relative balance error (of the dose, or of ``supplied`` for a constant
donor) reached 2e-9 in 300 random layer stacks, above the driver's 1e-9
limit; for the increment, which is small wherever the column is near
steady, the residual is small too.  One more leak of the same kind: with a
constant donor the supply rate ``g1 (u_0 - u_1)`` at a stage, taken from
the rounded ``u_1 = u_1,prev + increment``, differs from the one the solve
used by ``g1 eps u_1`` (``g1 >> C_1``); it is evaluated from the unrounded
increment instead (:func:`stage_supply`, compiled without fast-math
reassociation, which would undo exactly this).  With both, the worst of the
same 300 stacks is 3.4e-11 (finite dose, decaying after wash-off, where the
increment is not small) and 271 of 300 stay below 1e-13.

Several columns, one step (:func:`integrate_columns`).  A polydisperse
preparation is one column per size class and a released cargo one more
column; all share the grid and take a common step in one compiled call.
The classes are independent; a vesicle column feeds its released cargo
``csrc u`` into the cargo column (one-way), so the coupled system is block
lower triangular and each stage is solved exactly column by column in
index order, a column's source built from its parents' values at the same
stage.  The error norm is the max over every column (each with its own
amount scale).  With ``P`` loss processes (3, or 4 when vesicles release a
tracked cargo: ``released``) a column has ``P L + 3`` compartment slots.

:func:`integrate_column` stays the one-column path the driver uses when
there is one column.  Routing that case through :func:`integrate_columns`
was measured: the same steps and run time, but results that differ in the
last bits (about 1e-15 relative: fast-math reassociation follows the code
shape) and twice the first-run compile time (12 s against 6 s on the
2-core machine, mostly Numba typing of the larger function).  So the two
share every piece of the step (:func:`apply_operator`, :func:`solve_stage`,
:func:`stage_supply`, :func:`vehicle_capacity`, the controller) and keep
their loops in step; the numpy twin in :mod:`twins.reference_1d` (tests/twins/)
checks each.

Events at the stops (:func:`exodiff.solvers.common.stop_list`): a wash-off,
a receptor sample, and a regimen's later applications (a fresh film after
washing the old one off, or joining it: :func:`new_film`).  The film on the
skin (when it was applied, its thickness and volatile fraction then) lives
in ``fstate``, so its evaporation restarts with each application and a
chunked call carries it over.

All arrays are float64 in SI.  Called once per run (or once per chunk of
output times when a progress bar is shown); no Python runs per step.
"""

from __future__ import annotations

import math

import numpy as np

from exodiff.kernels._jit import jit
from exodiff.kernels.control import (  # noqa: F401  (status and slot constants: public here too)
    F_FAIL_TIME,
    F_STEP,
    F_TIME,
    I_FAIL_NODE,
    I_STATUS,
    I_WASHED,
    NONFINITE,
    OK,
    S_REJECTED,
    S_SOLVES,
    S_STEPS,
    STEP_UNDERFLOW,
    TOO_MANY_STEPS,
    step_after_accept,
    step_status,
    stop_run,
    ALPHA_TR,
    BDF_A,
    BDF_B,
    BDF_D,
    ERR_1,
    ERR_2,
    ERR_3,
    GAMMA,
    landing_step,
    next_step,
    next_step_rk,
    rk_local_tolerance,
    ESDIRK4_A,
    ESDIRK4_C,
    ESDIRK4_DENSE,
    ESDIRK4_E,
    METHOD_ESDIRK4,
    METHOD_SDIRK4,
    METHOD_TRBDF2,
    RK_GAMMA,
    SDIRK4_A,
    SDIRK4_C,
    SDIRK4_E,
)
from exodiff.kernels.tridiag import thomas

# Compartments are booked per layer so that uptake in a target layer and the
# dose delivered past an interface can be read off.  With L layers the slots
# are: degraded[0:L], taken_up[L:2L], cleared[2L:3L] (released[3L:4L] when a
# cargo is tracked), then the bottom sink, the washed-off vehicle and the
# cumulative supply from the vehicle.


def compartment_slots(n_layers):
    """Slot indices ``(bottom, removed, supplied, total)`` for ``n_layers`` layers."""
    b = 3 * n_layers
    return b, b + 1, b + 2, b + 3


# stop events, bit flags (several may fall on one stop): wash-off, a receptor sample, and a new
# application of the formulation, either onto clean skin (what is left of the film is washed off
# first) or joining the film that is still there (docs/model.md, section 1.2)
EVENT_NONE, EVENT_WASH, EVENT_SAMPLE, EVENT_APPLY, EVENT_ADD = 0, 1, 2, 4, 8
#: not an event of the model: the call returns once this stop's output is done (a progress bar's
#: chunk), without ending a step there; the driver calls again from the first stop not yet done
EVENT_PAUSE = 16

# fstate slots of the 1D kernels after those of kernels.control (time, step, failure time): the
# film on the skin, which a new application replaces or joins: the time it was applied (s; its
# evaporation clock starts there), its thickness then (m) and its volatile fraction then
F_APPLIED, F_FILM, F_VOLATILE = 3, 4, 5
#: the step controller's memory (the 4th-order methods' previous scaled error, the step cap an undershoot
#: set), carried between calls
F_ERR_PREV, F_POS_CAP = 6, 7
#: the time of the last wash-off (s): a penetration enhancement relaxes from there (integrate_columns)
F_WASHED_AT = 8
#: a floor under what a column holds for its absolute tolerance, as a share of its dose scale (0: none): a
#: regimen's ``z0`` answers for one of N copies of what the regimen holds (content_atol)
F_CONTENT_FLOOR = 9
#: length of the 1D kernels' fstate
N_FSTATE = 10


@jit
def vehicle_capacity(t, h0, evap_frac, evap_tau):
    """Vehicle film thickness at time ``t`` (m): ``h0 (1 - f (1 - exp(-t/tau)))``."""
    if evap_frac <= 0.0:
        return h0
    return h0 * (1.0 - evap_frac * (1.0 - math.exp(-t / evap_tau)))


@jit
def film_capacity(t, fstate, evap_tau):
    """Thickness (m) at time ``t`` of the film in ``fstate``: :func:`vehicle_capacity` since its application."""
    return vehicle_capacity(t - fstate[F_APPLIED], fstate[F_FILM], fstate[F_VOLATILE], evap_tau)


@jit
def new_film(t, h0, evap_frac, evap_tau, fstate, join):
    """Put a fresh film (``h0`` m thick, volatile fraction ``evap_frac``) on at ``t``; return the old film's thickness (m).

    ``join``: the fresh film joins the old one (docs/model.md, 1.2): the
    thicknesses add, and so do the volatile parts, the old one as far as
    it has evaporated; the joined film evaporates from ``t`` on with one
    time constant, which is exact for first-order evaporation of the
    volatile part.  Otherwise the fresh film replaces the old one (which
    the caller has washed off).  ``fstate`` holds the film afterwards.
    """
    ta = fstate[F_APPLIED]
    h_old = vehicle_capacity(t - ta, fstate[F_FILM], fstate[F_VOLATILE], evap_tau)
    if join:
        vol = 0.0
        if fstate[F_VOLATILE] > 0.0:
            vol = fstate[F_FILM] * fstate[F_VOLATILE] * math.exp(-(t - ta) / evap_tau)
        h_new = h_old + h0
        fstate[F_VOLATILE] = (vol + evap_frac * h0) / h_new
        fstate[F_FILM] = h_new
    else:
        fstate[F_FILM] = h0
        fstate[F_VOLATILE] = evap_frac
    fstate[F_APPLIED] = t
    return h_old


@jit
def apply_operator(u, g, g1, loss, out):
    """Amount rates ``F = A u`` (per area per s) for every node.

    Parameters
    ----------
    u : float64[n]
        Continuous variable ``c/K``.
    g : float64[n+1]
        Conductances; ``g[i]`` couples nodes ``i-1`` and ``i``; ``g[n]`` to the sink.
    g1 : float
        Effective vehicle conductance (``g[1]``, or 0 after wash-off).
    loss : float64[n]
        ``k_i C_i`` (m/s) for tissue nodes; 0 for the vehicle.
    out : float64[n]
        Output.
    """
    n = u.shape[0]
    out[0] = g1 * (u[1] - u[0])
    f = g1 * (u[0] - u[1])
    for i in range(1, n):
        if i + 1 < n:
            right = g[i + 1] * (u[i] - u[i + 1])
        else:
            right = g[n] * u[i]
        out[i] = f - right - loss[i] * u[i]
        f = right


@jit(inline="always")
def enhanced_faces(e, rsc, roth, g, out):
    """Face conductances with the stratum corneum's diffusivity scaled by ``e`` (m/s).

    ``rsc[f]`` is the resistance (s/m) of face ``f``'s stratum-corneum
    half-cells, ``roth[f]`` that of the rest (0 when both sides are SC,
    ``inf`` when the other side is closed); faces without SC (``rsc = 0``)
    keep ``g``.  ``1/(rsc/e + roth)`` is the series (harmonic-mean) face
    with ``D_sc -> e D_sc`` (docs/model.md, section 5.1).
    """
    for f in range(g.shape[0]):
        if rsc[f] > 0.0:
            out[f] = 1.0 / (rsc[f] / e + roth[f])
        else:
            out[f] = g[f]


@jit(inline="always")
def enhancement_at(t, e, tau, t_wash):
    """The enhancement factor at ``t`` after a wash-off at ``t_wash``: ``1 + (e - 1) exp(-(t - t_wash)/tau)``."""
    if tau <= 0.0:
        return 1.0
    return 1.0 + (e - 1.0) * math.exp(-(t - t_wash) / tau)


@jit(inline="always")
def stage_bottom(wts, gst, U, n):
    """``sum_j wts_j g_j[n] U_j[n-1]``: the bottom sink's rate of a stage combination whose conductances change per stage."""
    acc = 0.0
    for j in range(wts.shape[0]):
        acc += wts[j] * gst[j, n] * U[j, n - 1]
    return acc


@jit
def compartment_rates(u, g, g1, cdeg, cup, ccl, node_layer, n_layers, out):
    """Rates into the compartments (per area per s).

    ``cdeg``, ``cup``, ``ccl`` are ``k C`` per node for each loss, booked to
    the node's layer (``node_layer``); then the bottom sink flux, the
    (event-only) wash-off slot, and the flux out of the vehicle into the skin.
    """
    n = u.shape[0]
    nl = n_layers
    out[:] = 0.0
    for i in range(1, n):
        l = node_layer[i]
        out[l] += cdeg[i] * u[i]
        out[nl + l] += cup[i] * u[i]
        out[2 * nl + l] += ccl[i] * u[i]
    out[3 * nl] = g[n] * u[n - 1]
    out[3 * nl + 2] = g1 * (u[0] - u[1])


@jit(fastmath=False)
def stage_supply(g1, u0, u1, d0, d1):
    """Flux into the skin ``g1 ((u0 + d0) - (u1 + d1))`` from a state and its unrounded increment.

    Evaluated as ``g1 ((u0 - u1) - (d1 - d0))``, without fast-math
    reassociation (which would fold it back into the rounded sums), so that
    it is the rate the stage's linear solve used, to round-off of the rate
    itself rather than of ``g1 u``.
    """
    return g1 * ((u0 - u1) - (d1 - d0))


@jit
def solve_stage(alpha, cap, g, g1, loss, infinite, c_donor, rhs, lower, diag, upper, x, scratch):
    """Solve ``(diag(cap) - alpha A) x = rhs`` for one implicit stage.

    An infinite donor pins ``x[0] = c_donor`` (0 when ``x`` is an increment).
    """
    n = cap.shape[0]
    for i in range(n):
        gl = g1 if i == 1 else (g[i] if i > 0 else 0.0)
        gr = g1 if i == 0 else g[i + 1]
        lower[i] = -alpha * gl
        upper[i] = -alpha * gr
        diag[i] = cap[i] + alpha * (gl + gr + loss[i])
        if diag[i] == 0.0:
            # a cell closed to the active (zero partition, zero conductance)
            diag[i] = 1.0
    if infinite:
        diag[0] = 1.0
        upper[0] = 0.0
        rhs[0] = c_donor
    thomas(lower, diag, upper, rhs, x, scratch)


@jit
def column_compartment_rates(u, g, g1, closs, node_layer, n_layers, out):
    """Rates into the compartments of one column, loss processes stacked.

    As :func:`compartment_rates` with ``closs[p, i] = k_p C_i`` for the
    ``P`` processes (degraded, taken up, cleared[, released]): slot
    ``p * n_layers + layer`` per process, then the bottom sink, the
    (event-only) wash-off slot and the flux from the vehicle into the skin.
    """
    n = u.shape[0]
    nl = n_layers
    P = closs.shape[0]
    out[:] = 0.0
    for i in range(1, n):
        l = node_layer[i]
        out[l] += closs[0, i] * u[i]
        out[nl + l] += closs[1, i] * u[i]
        out[2 * nl + l] += closs[2, i] * u[i]
        if P > 3:
            out[3 * nl + l] += closs[3, i] * u[i]
    out[P * nl] = g[n] * u[n - 1]
    out[P * nl + 2] = g1 * (u[0] - u[1])


@jit(inline="always")
def implicit_stage(coef, cap, g, g1, loss, infinite, rhs, lower, diag, upper, scratch, base, x, closs,
                   node_layer, n_layers, f_out, r_out, supplied):
    """One implicit TR-BDF2 stage in delta form: ``x = base + increment``, then its rates at ``x``.

    Solves ``(diag(cap) - coef A) increment = rhs``, adds ``base``, and
    evaluates ``f_out = A x`` and the compartment rates ``r_out``; the
    supply slot comes from the unrounded increment (module docstring).
    Shared by both time loops (one column, several columns).
    """
    solve_stage(coef, cap, g, g1, loss, infinite, 0.0, rhs, lower, diag, upper, x, scratch)
    sup = stage_supply(g1, base[0], base[1], x[0], x[1])
    for i in range(x.shape[0]):
        x[i] += base[i]
    apply_operator(x, g, g1, loss, f_out)
    column_compartment_rates(x, g, g1, closs, node_layer, n_layers, r_out)
    r_out[supplied] = sup


@jit(inline="always")
def node_error(h, fn, fg, f1, cap, u1, atol, rtol, i0, err):
    """Scaled local error of TR-BDF2's embedded estimate over the nodes, max norm, from ``err`` up.

    ``h (ERR_1 F_n + ERR_2 F_g + ERR_3 F_1)`` per node, scaled by
    ``atol + rtol |C u_1|``; nodes below ``i0`` (a constant donor's) are
    not measured.  Returns ``(err, first non-finite node or -1)``.
    """
    for i in range(u1.shape[0]):
        if not math.isfinite(u1[i]):
            return err, i
        if i < i0:
            continue
        e = h * (ERR_1 * fn[i] + ERR_2 * fg[i] + ERR_3 * f1[i])
        q = abs(e) / (atol + rtol * abs(cap[i] * u1[i]))
        if q > err:
            err = q
    return err, -1


@jit(inline="always")
def compartment_error(h, rn, rg, r1, comp1, atol, rtol, err):
    """:func:`node_error` for the compartments (their rates at the three stage points)."""
    for j in range(comp1.shape[0]):
        e = h * (ERR_1 * rn[j] + ERR_2 * rg[j] + ERR_3 * r1[j])
        q = abs(e) / (atol + rtol * abs(comp1[j]))
        if q > err:
            err = q
    return err


# -- the 4th-order singly diagonally implicit methods (ESDIRK4, SDIRK4) ---------------------------------
#: most stages of the 1D kernels' methods (work arrays are sized for it)
MAX_STAGES = 6
#: a step whose tissue amounts fall below -NEG_TOL x the largest is rejected (undershoot_error)
NEG_TOL = 1e-13
#: the scaled error such a step gets (the controller then shrinks it 0.45x); a marker, not a measure
POS_ERR = 16.0
#: after an undershoot the steps are capped at the step that passed, and the cap grows this much per accepted step
POS_GROW = 1.5


@jit
def factor_stage_matrix(coef, cap, g, g1, loss, infinite, lower, diag, upper, rp, w):
    """Factor ``diag(cap) - coef A`` bottom-up (UL); return the part of row 0's pivot that is not ``cap[0]``.

    Eliminating from the last row up leaves every pivot but row 0's
    independent of the vehicle's capacity: with ``w[i] = upper[i] / beta[i+1]``
    and ``beta[i] = diag[i] - w[i] lower[i+1]``, row 0's pivot is
    ``cap[0] + coef (g1 + loss[0]) - w[0] lower[1]``.  So a film whose
    capacity changes from stage to stage (evaporation) costs one division
    per stage (:func:`row0_pivot`), not a new factorization.  ``rp`` holds
    the reciprocal pivots (rows 1..n-1 here; row 0 by :func:`row0_pivot`).
    An infinite donor's row is ``x[0] = rhs[0]`` (``w[0] = 0``, pivot 1).

    Returns
    -------
    float
        ``coef (g1 + loss[0]) - w[0] lower[1]`` (m), or -1 for an infinite donor.
    """
    n = cap.shape[0]
    for i in range(n):
        gl = g1 if i == 1 else (g[i] if i > 0 else 0.0)
        gr = g1 if i == 0 else g[i + 1]
        lower[i] = -coef * gl
        upper[i] = -coef * gr
        diag[i] = cap[i] + coef * (gl + gr + loss[i])
        if diag[i] == 0.0:
            # a cell closed to the active (zero partition, zero conductance): x = rhs = 0
            diag[i] = 1.0
    rp[n - 1] = 1.0 / diag[n - 1]
    for i in range(n - 2, 0, -1):
        w[i] = upper[i] * rp[i + 1]
        rp[i] = 1.0 / (diag[i] - w[i] * lower[i + 1])
    if infinite:
        w[0] = 0.0
        rp[0] = 1.0
        return -1.0
    w[0] = upper[0] * rp[1]
    return diag[0] - cap[0] - w[0] * lower[1]


@jit(inline="always")
def row0_pivot(cap0, rest0, rp):
    """Set row 0's reciprocal pivot for a vehicle capacity ``cap0`` (``rest0`` from :func:`factor_stage_matrix`)."""
    if rest0 >= 0.0:  # a finite film; an infinite donor keeps pivot 1
        rp[0] = 1.0 / (cap0 + rest0)


@jit
def solve_factored(rp, w, lower, rhs, x):
    """Solve with the factors of :func:`factor_stage_matrix`: up the rows, then down."""
    n = rhs.shape[0]
    x[n - 1] = rhs[n - 1]
    for i in range(n - 2, -1, -1):
        x[i] = rhs[i] - w[i] * x[i + 1]
    x[0] *= rp[0]
    for i in range(1, n):
        x[i] = (x[i] - lower[i] * x[i - 1]) * rp[i]


@jit(inline="always")
def stage_vehicle_capacity(t, infinite, cap0, fstate, evap_tau):
    """The vehicle's capacity (m) at a stage time ``t``: the film's thickness, or ``cap0`` for an infinite donor.

    The one place a stage's time-dependent matrix coefficients are evaluated
    (the film evaporates); a coefficient that changes row 0 only goes here
    too (:func:`row0_pivot` takes it), one that changes tissue rows needs
    :func:`factor_stage_matrix` again at that stage.
    """
    if infinite:
        return cap0
    return film_capacity(t, fstate, evap_tau)


@jit(inline="always")
def stage_combination(wts, U, sup, out):
    """``out = sum_j wts[j] U_j`` over the stages (``len(wts)`` of them)."""
    n = out.shape[0]
    for k in range(n):
        out[k] = wts[0] * U[0, k]
    for j in range(1, wts.shape[0]):
        wj = wts[j]
        for k in range(n):
            out[k] += wj * U[j, k]


@jit(inline="always")
def stage_sum(wts, sup):
    """``sum_j wts[j] sup[j]``."""
    acc = 0.0
    for j in range(wts.shape[0]):
        acc += wts[j] * sup[j]
    return acc


#: the tissue's own error (:func:`rk_column_step`) is not asked below this many round-offs of what crosses the
#: tissue's bounds in a step: a membrane of 20 um with D = 1e-8 m^2/s and K = 1e-12 at steady state passes its
#: content 1e6 times per step, and the estimate then held only round-off (1e-24 .. 8e-20 of the dose where the
#: true one-step error was 2.6e-26: ~1.5 eps per turnover), which pinned the step or exhausted the step limit
ROUNDOFF_TISSUE = 100.0
EPS = 2.220446049250313e-16


@jit(inline="always")
def undershoot_error(u, u1, cap_t, atol, err, nothing):
    """A step that drives a tissue amount from non-negative to below zero fails (scaled error ``POS_ERR``).

    Ahead of a diffusion front the 4th-order steps can undershoot (measured
    up to -1e-7 of the tissue's largest concentration, in a scenario whose
    tissue holds 1e-9 of the dose, far below the absolute tolerance); the
    exact solution is non-negative there.  Only while every tissue amount is
    below the absolute tolerance ``atol`` (the error norm does not see the
    tissue) and the largest is above ``nothing`` (:data:`CONTENT_FLOOR` of
    the dose scale: below it the tissue holds nothing worth a sign, and
    amounts sinking towards underflow failed every step on their round-off,
    so a caffeine film washed off at 1 h could not be followed for a year:
    5 million steps by day 296); threshold: below ``-NEG_TOL`` times the
    largest tissue amount, so round-off passes.  The time loops then cap the
    step (:func:`positivity_cap`).
    """
    n = u.shape[0]
    big = 0.0
    for k in range(1, n):
        m = cap_t[k] * u1[k]
        if m > big:
            big = m
    if big >= atol or big < nothing:
        # the tissue is above the absolute tolerance: the error control sees it, and bounds an
        # undershoot as any other error; only where it is blind does the sign need its own rule
        return err
    lim = -NEG_TOL * big
    for k in range(1, n):
        if u[k] >= 0.0 and cap_t[k] * u1[k] < lim:
            return POS_ERR if err < POS_ERR else err
    return err


@jit
def rk_column_step(t, h, rka, rke, rkc, u, comp, cap_t, g, g1, loss, closs, node_layer, n_layers, infinite,
                   fstate, evap_tau, src, has_src, U, F, sup, rhs, lower, diag, upper, rp, w, x, u1, comp1, rc,
                   atol, rtol, i0, err, supplied, kv, vrel, gst, vary, fa, nothing, h_tissue):
    """One step ``t -> t + h`` of a singly diagonally implicit method, one column; the scaled error.

    Stage ``i`` (``a_ii = 1/4``; an explicit first stage when ``a_00 = 0``)
    solves, in amounts,

        C(t_i) U_i - h/4 (A U_i + S_i) = C(t) u + h sum_{j<i} a_ij (A U_j + S_j),

    ``t_i = t + c_i h``, in delta form for ``U_i - U_{i-1}`` (``u`` for the
    first), as the TR-BDF2 stages.  The matrix ``C - h/4 A`` is factored once
    (:func:`factor_stage_matrix`); an evaporating film changes only row 0's
    pivot per stage.  The compartments take the same weights,
    ``comp + h sum_j b_j R_j`` with ``b`` the last row (stiffly accurate: the
    last stage is the new state), so "vehicle + tissue + compartments = dose"
    holds to round-off.  The error is ``h sum_j (b_j - bhat_j) (A U_j + S_j)``
    per node and ``h sum_j (b_j - bhat_j) R_j`` per compartment, scaled by
    ``atol + rtol |amount|`` (max norm, from ``err`` up; nodes below ``i0``
    not measured), and the nodes' estimates summed over the tissue (every
    node but the film) against ``rtol`` times what the tissue holds (plus
    ``1e-3 rtol nothing`` and :data:`ROUNDOFF_TISSUE` round-offs of what
    crosses its bounds): the tissue's amount is held to the tolerance
    relative to itself, which the per-node scale, ``atol`` of what the
    column holds, does not do while a film holds nearly all of it.  The
    compartment rates are linear in the state, so
    ``sum_j b_j R_j`` is the rate of ``sum_j b_j U_j``: one evaluation (of
    a per-layer scatter) per step instead of one per stage; only the supply
    slot is summed stage by stage, each from its unrounded increment.

    Parameters
    ----------
    rka, rke, rkc : float64[ns, ns], float64[ns], float64[ns]
        Tableau, error weights ``b - bhat`` and stage times (control.py).
    src : float64[>=ns, n]
        The column's source at each stage (amount per area per s); used when ``has_src``.
    U, F : float64[>=ns, n]
        Output: stage states and their rates ``A U_j`` (without the source).
    sup : float64[>=ns]
        Output: the supply rate (vehicle into skin) of each stage.
    rc : float64[nc]
        Work array.
    u1, comp1 : float64[n], float64[nc]
        Output: the state and compartments at ``t + h``.
    kv : float
        Leakage rate (1/s) of the vehicle node (``release_rate_vehicle``
        of a vesicle column; 0 otherwise): a loss ``kv C_0(t_i) U_i[0]``
        at each stage time, booked to the released slot of the top layer
        (``3 n_layers``).  ``C_0`` changes from stage to stage, so it is
        part of row 0's pivot, ``C_0(t_i) (1 + h/4 kv)``, and its stage
        rates are summed stage by stage, as the supply.
    vrel : float64[>=ns]
        Output: that loss rate at each stage (amount per area per s).
    gst : float64[>=ns, n+1]
        With ``vary``: the conductances at each stage time (a penetration
        enhancement relaxing after wash-off, docs/model.md section 5.1),
        used instead of ``g``.  Each stage then factors its own matrix, the
        delta form's base term is ``A_i U_{i-1}`` with stage ``i``'s
        conductances, and the bottom sink's rate is summed stage by stage.
        Only after wash-off (``g1 = 0``) and never with ``kv > 0`` (the
        enhancement acts on a cargo column, the leakage on a vesicle column).
    fa : float64[n]
        Work array.
    nothing : float
        Tissue amount (dose unit) below which a sign is not enforced
        (:func:`undershoot_error`; :data:`CONTENT_FLOOR` of the dose scale);
        also the floor of the tissue's own error scale.
    h_tissue : float
        Steps of at most this length (s; the loops pass their first step,
        ``1e-8`` of the run) are not held to the tissue's own scale: a film's
        first instants, where a stiff exchange at the interface fills the
        first cells faster than any step can follow relative to the tissue's
        tiny content (1.9e14 1/s into cells of 3e-8 um collapsed the step).

    Returns
    -------
    (err, bad) : (float, int)
        Scaled error, and the first non-finite node or -1.
    """
    n = u.shape[0]
    nc = comp.shape[0]
    ns = rke.shape[0]
    hg = RK_GAMMA * h
    c0n = stage_vehicle_capacity(t, infinite, cap_t[0], fstate, evap_tau)
    gi = gst[0] if vary else g
    rest0 = 0.0
    if not vary:
        rest0 = factor_stage_matrix(hg, cap_t, g, g1, loss, infinite, lower, diag, upper, rp, w)
    first = 0
    if rka[0, 0] == 0.0:
        # explicit first stage: the state at t
        for k in range(n):
            U[0, k] = u[k]
        apply_operator(u, gi, g1, loss, F[0])
        sup[0] = g1 * (u[0] - u[1])
        if kv > 0.0:
            vrel[0] = kv * c0n * u[0]
            F[0, 0] -= vrel[0]
        first = 1
    c0p = c0n  # the capacity at the previous stage (the delta form's base)
    for i in range(first, ns):
        c0i = stage_vehicle_capacity(t + rkc[i] * h, infinite, cap_t[0], fstate, evap_tau)
        if vary:  # this stage's conductances: its own matrix
            gi = gst[i]
            rest0 = factor_stage_matrix(hg, cap_t, gi, g1, loss, infinite, lower, diag, upper, rp, w)
        if kv > 0.0:
            row0_pivot(c0i * (1.0 + hg * kv), rest0, rp)
        else:
            row0_pivot(c0i, rest0, rp)
        # delta form about the previous stage (u for the first): rhs - (C_i - hg A) base
        if i == 0:
            apply_operator(u, gi, g1, loss, F[0])  # A u, overwritten below by A U_0
            for k in range(n):
                rhs[k] = hg * F[0, k]
            rhs[0] += (c0n - c0i) * u[0]
            if kv > 0.0:  # A_i u: the leakage at this stage's capacity
                rhs[0] -= hg * kv * c0i * u[0]
            b0 = u[0]
            b1 = u[1]
        elif vary:
            # the base term with this stage's conductances, A_i U_{i-1} (F[i-1] has stage i-1's)
            apply_operator(U[i - 1], gi, g1, loss, fa)
            for k in range(n):
                rhs[k] = hg * fa[k] - cap_t[k] * (U[i - 1, k] - u[k])
            rhs[0] = hg * fa[0] + c0n * u[0] - c0i * U[i - 1, 0]
            for j in range(i):
                a = h * rka[i, j]
                for k in range(n):
                    rhs[k] += a * F[j, k]
            b0 = U[i - 1, 0]
            b1 = U[i - 1, 1]
        else:
            # row by row over the stages (contiguous, vectorised loops)
            for k in range(n):
                rhs[k] = hg * F[i - 1, k] - cap_t[k] * (U[i - 1, k] - u[k])
            rhs[0] = hg * F[i - 1, 0] + c0n * u[0] - c0i * U[i - 1, 0]
            for j in range(i):
                a = h * rka[i, j]
                for k in range(n):
                    rhs[k] += a * F[j, k]
            if kv > 0.0:  # A_i U_{i-1}: F[i-1] has the leakage at the previous stage's capacity
                rhs[0] -= hg * kv * (c0i - c0p) * U[i - 1, 0]
            b0 = U[i - 1, 0]
            b1 = U[i - 1, 1]
        if has_src:
            for k in range(n):
                rhs[k] += hg * src[i, k]
            for j in range(i):
                a = h * rka[i, j]
                for k in range(n):
                    rhs[k] += a * src[j, k]
        if infinite:
            rhs[0] = 0.0
        solve_factored(rp, w, lower, rhs, x)
        sup[i] = stage_supply(g1, b0, b1, x[0], x[1])
        if i == 0:
            for k in range(n):
                U[0, k] = u[k] + x[k]
        else:
            for k in range(n):
                U[i, k] = U[i - 1, k] + x[k]
        apply_operator(U[i], gi, g1, loss, F[i])
        if kv > 0.0:
            vrel[i] = kv * c0i * U[i, 0]
            F[i, 0] -= vrel[i]
        c0p = c0i
    last = ns - 1
    for k in range(n):
        u1[k] = U[last, k]
        if not math.isfinite(u1[k]):
            return err, k
    err = undershoot_error(u, u1, cap_t, atol, err, nothing)
    # compartments: the rates of sum_j b_j U_j (x as work array)
    stage_combination(rka[last], U, sup, x)
    column_compartment_rates(x, g, g1, closs, node_layer, n_layers, rc)
    rc[supplied] = stage_sum(rka[last], sup)
    if vary:
        rc[closs.shape[0] * n_layers] = stage_bottom(rka[last], gst, U, n)
    if kv > 0.0:
        rc[3 * n_layers] += stage_sum(rka[last], vrel)
    for jj in range(nc):
        comp1[jj] = comp[jj] + h * rc[jj]
    c01 = stage_vehicle_capacity(t + h, infinite, cap_t[0], fstate, evap_tau)
    # the nodes' estimate, sum_j (b_j - bhat_j) (A U_j + S_j), row by row into rhs (free now)
    for k in range(n):
        rhs[k] = rke[0] * F[0, k]
    for j in range(1, ns):
        e = rke[j]
        for k in range(n):
            rhs[k] += e * F[j, k]
    if has_src:
        for j in range(ns):
            e = rke[j]
            for k in range(n):
                rhs[k] += e * src[j, k]
    m_tissue = 0.0  # what the tissue (cells and a receptor) holds, and what leaves it per s through losses
    lost = 0.0
    for k in range(i0, n):
        ck = c01 if k == 0 else cap_t[k]
        mk = abs(ck * u1[k])
        q = abs(h * rhs[k]) / (atol + rtol * mk)
        if q > err:
            err = q
        if k > 0:
            m_tissue += mk
            lost += loss[k] * abs(u1[k])
    stage_combination(rke, U, sup, x)
    # the tissue's amount relative to itself: while the film holds the dose, every tissue node sits far below
    # atol and the norm above is blind to the tissue; its time error then did not follow the tolerance (an
    # exosome film: the SC at 12 h off by 1.3e-4 of itself at tolerance 1e-4, 1e-5 and 1e-6 alike, 20x worse
    # with outputs every 5 min than every 10 min), so no check run could see it.  Its estimate is the nodes'
    # summed, written by what crosses the tissue's bounds (supply in, bottom sink and losses out, sources in):
    # the sum over the nodes cancels the inner faces' fluxes, whose round-off (a fast membrane passing its
    # content 1e6 times per step) was all it held and pinned the step or exhausted the step limit
    if h > h_tissue:
        e_tissue = stage_sum(rke, sup)
        if vary:
            e_tissue -= stage_bottom(rke, gst, U, n)
        else:
            e_tissue -= g[n] * x[n - 1]
        for k in range(1, n):
            e_tissue -= loss[k] * x[k]
        if has_src:
            for j in range(ns):
                acc = 0.0
                for k in range(1, n):
                    acc += src[j, k]
                e_tissue += rke[j] * acc
        # what crosses the tissue's bounds in the step, each way at the top face (its net is a difference of
        # nearly equal potentials there): in and out nearly cancel where the tissue passes its content many times
        # per step (a fast membrane at steady state, 1e6 times), and each carries the round-off of the stage
        # solves; no accuracy is asked below ROUNDOFF_TISSUE eps of it
        through = g1 * (abs(u1[0]) + abs(u1[1])) + (gst[ns - 1, n] if vary else g[n]) * abs(u1[n - 1]) + lost
        if has_src:
            for k in range(1, n):
                through += abs(src[ns - 1, k])
        scale = rtol * 1e-3 * nothing + rtol * m_tissue + ROUNDOFF_TISSUE * EPS * h * through
        if scale > 0.0:
            q = abs(h * e_tissue) / scale
            if q > err:
                err = q
    column_compartment_rates(x, g, g1, closs, node_layer, n_layers, rc)
    rc[supplied] = stage_sum(rke, sup)
    if vary:
        rc[closs.shape[0] * n_layers] = stage_bottom(rke, gst, U, n)
    if kv > 0.0:
        rc[3 * n_layers] += stage_sum(rke, vrel)
    for jj in range(nc):
        q = abs(h * rc[jj]) / (atol + rtol * abs(comp1[jj]))
        if q > err:
            err = q
    return err, -1


@jit
def rk_tableau(method):
    """``(A, b - bhat, c)`` of a 4th-order method code (:data:`METHOD_ESDIRK4`, :data:`METHOD_SDIRK4`).

    Any other code (TR-BDF2, whose stages are written out) gets ESDIRK4's,
    unused.
    """
    if method == METHOD_SDIRK4:
        return SDIRK4_A.copy(), SDIRK4_E.copy(), SDIRK4_C.copy()
    return ESDIRK4_A.copy(), ESDIRK4_E.copy(), ESDIRK4_C.copy()


@jit
def rk_implicit_stages(method):
    """Linear solves per step and column of a method code."""
    if method == METHOD_TRBDF2:
        return 2
    return 5


@jit(inline="always")
def dense_weights(theta, bs):
    """ESDIRK4's continuous-extension weights at ``theta`` into ``bs``; True when they are taken from the
    step's end (past ``theta = 1/2``: ``b*(theta) - b = -(1 - theta) q(theta)``), False for ``b*(theta)``."""
    ns = ESDIRK4_DENSE.shape[1]
    nk = ESDIRK4_DENSE.shape[0]
    bs[:] = 0.0
    from_end = theta > 0.5
    if from_end:
        # -(1 - theta) q(theta), q = sum_k B_k (1 + theta + ... + theta^(k-1))
        geo = 0.0
        p = 1.0
        for k in range(nk):
            geo += p
            p *= theta
            for j in range(ns):
                bs[j] -= ESDIRK4_DENSE[k, j] * geo
        for j in range(ns):
            bs[j] *= 1.0 - theta
    else:
        p = theta
        for k in range(nk):
            for j in range(ns):
                bs[j] += ESDIRK4_DENSE[k, j] * p
            p *= theta
    return from_end


@jit
def dense_column(theta, h, u, comp, u1, comp1, U, F, sup, src, has_src, cap_t, c0n, c01, c0o, infinite, g, g1,
                 closs, node_layer, n_layers, supplied, v, uo, co, kv, vrel, gst, vary):
    """The state at ``t + theta h`` inside an accepted ESDIRK4 step (its continuous extension).

    An output time that is not an event need not end a step: ESDIRK4 steps
    over it and evaluates ``m + h sum_j b*_j(theta) (A U_j + S_j)`` in
    amounts (``m = C u``), the compartments likewise with the rates of
    ``sum_j b*_j(theta) U_j`` (``ESDIRK4_DENSE``, 4th order at every
    ``theta``).  Past ``theta = 1/2`` the same polynomial is evaluated from
    the end of the step, ``m_1 - h (1 - theta) sum_j q_j(theta) (A U_j +
    S_j)``, so an output at the end is the step's result.  A linear
    combination of amounts and stage rates that each keep "vehicle +
    tissue + compartments = dose", so an interpolated output keeps it to
    round-off as the steps do.  An infinite donor's vehicle is the
    constant donor.  ``c0n``, ``c01``, ``c0o``: the vehicle's capacity at
    ``t``, ``t + h`` and the output time; ``v``: work array (n).  Writes
    ``uo`` (``u``) and ``co``.  ``kv``, ``vrel``: the film's leakage rate and
    its stage rates (:func:`rk_column_step`), summed stage by stage;
    ``gst``, ``vary``: conductances per stage (the bottom sink summed stage
    by stage, as :func:`rk_column_step`).
    """
    ns = ESDIRK4_DENSE.shape[1]
    bs = np.empty(ns)
    if dense_weights(theta, bs):
        base_u = u1
        base_c = comp1
        c0b = c01
    else:
        base_u = u
        base_c = comp
        c0b = c0n
    n = u.shape[0]
    for k in range(n):
        acc = 0.0
        for j in range(ns):
            acc += bs[j] * F[j, k]
        if has_src:
            for j in range(ns):
                acc += bs[j] * src[j, k]
        if k == 0:
            if infinite:
                uo[0] = u[0]
            else:
                uo[0] = (c0b * base_u[0] + h * acc) / c0o
        elif cap_t[k] == 0.0:
            uo[k] = base_u[k]
        else:
            uo[k] = base_u[k] + h * acc / cap_t[k]
    stage_combination(bs, U, sup, v)
    column_compartment_rates(v, g, g1, closs, node_layer, n_layers, co)
    co[supplied] = stage_sum(bs, sup)
    if kv > 0.0:
        co[3 * n_layers] += stage_sum(bs, vrel)
    if vary:
        co[closs.shape[0] * n_layers] = stage_bottom(bs, gst, U, n)
    for jj in range(comp.shape[0]):
        co[jj] = base_c[jj] + h * co[jj]


@jit
def gap_stage_sums(U, F, sup, src, has_src, g, g1, closs, node_layer, n_layers, supplied, gap_layer, kv, vrel, gst,
                   vary, P, C):
    """What every ESDIRK4 stage ``j`` puts into the amounts an error estimate reads, for :func:`interpolation_gap`.

    ``P[j]``: the stage's amount rate (with a parent column's source) at
    the film, summed over each layer's cells (``gap_layer``: each node's
    layer, -1 for the film and a receptor), and at the last node; ``C[j]``:
    the compartments' rates of ``U_j`` as :func:`dense_column` weighs them.
    Once per step with outputs inside it, so each output then costs a few
    dozen products, not a pass over the nodes (two more interpolants node
    by node cost 2.5x the whole solve of a run with outputs every 2 min).
    """
    ns = ESDIRK4_DENSE.shape[1]
    n = F.shape[1]
    nl = P.shape[1] - 2
    e = np.zeros(ns if vary else 0)
    for j in range(ns):
        for c in range(P.shape[1]):
            P[j, c] = 0.0
        for i in range(n):
            f = F[j, i]
            if has_src:
                f += src[j, i]
            if i == 0:
                P[j, 0] = f
            elif gap_layer[i] >= 0:
                P[j, 1 + gap_layer[i]] += f
            if i == n - 1:
                P[j, nl + 1] = f
        column_compartment_rates(U[j], g, g1, closs, node_layer, n_layers, C[j])
        C[j, supplied] = sup[j]
        if kv > 0.0:
            C[j, 3 * n_layers] += vrel[j]
        if vary:
            e[:] = 0.0
            e[j] = 1.0
            C[j, closs.shape[0] * n_layers] = stage_bottom(e, gst, U, n)


@jit
def interpolation_gap(theta, h, P, C, infinite, c0o, cap_last, gu, gc, wk):
    """Two other interpolants of a step minus its continuous extension, in amounts: ``gu`` (2, L + 2), ``gc`` (2, nc).

    Row 0 the cubic Hermite interpolant of the step's ends, row 1 the
    quadratic through them with the end rate (:func:`dense_column`, modes 1
    and 2), each as ``h sum_j (w_j - b*_j(theta)) P_j`` with the stage sums
    of :func:`gap_stage_sums` (``P``, ``C``): the film's ``u`` (its
    capacity at the output ``c0o``), each layer's amount, the last node's
    ``u`` (capacity ``cap_last``), as :func:`exodiff.solvers.superposition.reduce_records`
    lays them out, then the compartments.  Where the step resolves the
    solution each differs from the extension by its own error (the cubic by
    fourth, the quadratic by third order in the step).  Where an amount
    changes by orders of magnitude inside the step (a front's tail reaching
    a layer or the receptor) no polynomial follows it and both differ by
    about the amount itself.  The check runs cannot see that miss, as their
    steps span the same outputs: a receptor at 2 h of 3.3e-19 of the dose
    was interpolated as 5.1e-19 with a stated error of 9 %.  The error
    estimate takes the smaller of the two differences of each amount
    (:func:`exodiff.solvers.layered.integrate_estimated`): the cubic's start
    rate is the state's rate just after an event (a receptor sample, a
    wash-off), a stiff transient the L-stable step damps and the cubic does
    not (alone it stated a dermis 0.04 % off to 23-61 %: an independent
    check, a Franz cell sampled every 2 h with outputs every 2 min), and the
    quadratic alone, being of lower order, stated the shipped caffeine
    scenario's errors 1.8x larger (median).  ``wk``: work array (3, stages).
    """
    ns = ESDIRK4_DENSE.shape[1]
    nl = P.shape[1] - 2
    # the extension's weights as dense_column takes them (from the end past theta = 1/2), and the others'
    # likewise (less b there), so an output at a step's end has no gap, to the bit
    dense = wk[0]
    from_end = dense_weights(theta, dense)
    th2 = theta * theta
    dw = wk[1:]
    for j in range(ns):
        b = ESDIRK4_A[ns - 1, j]
        dw[0, j] = (3.0 - 2.0 * theta) * th2 * b - dense[j]
        dw[1, j] = (2.0 - theta) * theta * b - dense[j]
        if from_end:
            dw[0, j] -= b
            dw[1, j] -= b
    dw[0, 0] += theta * (1.0 - theta) * (1.0 - theta)
    dw[0, ns - 1] += th2 * (theta - 1.0)
    dw[1, ns - 1] += theta * (theta - 1.0)
    for m in range(2):
        for c in range(nl + 2):
            acc = 0.0
            for j in range(ns):
                acc += dw[m, j] * P[j, c]
            gu[m, c] = h * acc
        gu[m, 0] = 0.0 if infinite else gu[m, 0] / c0o
        gu[m, nl + 1] = 0.0 if cap_last == 0.0 else gu[m, nl + 1] / cap_last
        for c in range(gc.shape[1]):
            acc = 0.0
            for j in range(ns):
                acc += dw[m, j] * C[j, c]
            gc[m, c] = h * acc


@jit(inline="always")
def undershoots(u, u1, uo, cap, nothing):
    """True where an interpolated state ``uo`` is negative at a node where neither end of the step is.

    ESDIRK4's continuous extension is of 4th order but, like any polynomial
    in the stage rates, not positive: ahead of a diffusion front it can dip
    below zero (measured -1.3e-12 of the donor concentration) where the
    L-stable steps stay non-negative.  The time loops then take the step
    again, landing on the output.  A dip of less than ``nothing`` (an amount
    per area with the node's capacity ``cap``: :data:`CONTENT_FLOOR` of the
    dose scale) is round-off of a tissue that holds nothing, not a dip
    (amounts sinking towards underflow cost a step per output).
    """
    for k in range(u.shape[0]):
        if uo[k] < 0.0 and u[k] >= 0.0 and u1[k] >= 0.0 and cap[k] * uo[k] < -nothing:
            return True
    return False


@jit(inline="always")
def pause_run(t, h_next, err_prev, h_pos, fstate, istate):
    """End a call normally (its last stop, or a pause): save the time, the next step and the controller's memory."""
    fstate[F_TIME] = t
    fstate[F_STEP] = h_next
    if fstate.shape[0] > F_POS_CAP:
        fstate[F_ERR_PREV] = err_prev
        fstate[F_POS_CAP] = h_pos
    istate[I_STATUS] = OK
    return OK


#: the absolute tolerance follows the amount left in a column down to this share of its dose scale (``m_ref``):
#: amounts 30 orders of magnitude below a dose are not worth steps
CONTENT_FLOOR = 1e-30


@jit(inline="always")
def column_content(u, cap, t, infinite, fstate, evap_tau):
    """Amount per area (dose unit) in one column now: the film (finite) plus every cell and a receptor.

    ``cap`` the tissue capacities (m; entry 0 unused: the film's is its thickness at ``t``).
    """
    s = 0.0
    if not infinite:
        s = abs(film_capacity(t, fstate, evap_tau) * u[0])
    for i in range(1, u.shape[0]):
        s += abs(cap[i] * u[i])
    return s


@jit(inline="always")
def content_floor(fstate):
    """The share of the dose scale under which a column's content does not lower its tolerance (``fstate``)."""
    f = fstate[F_CONTENT_FLOOR] if fstate.shape[0] > F_CONTENT_FLOOR else 0.0
    return f if f > CONTENT_FLOOR else CONTENT_FLOOR


@jit(inline="always")
def content_atol(rtol, m_ref, content, infinite, floor=CONTENT_FLOOR):
    """The absolute tolerance (dose unit) of a step: ``1e-3 rtol`` of what the column holds, at most of ``m_ref``.

    Relative to the dose (``m_ref``) while the film holds it; once it is
    washed off, absorbed or cleared, relative to what is left (never below
    :data:`CONTENT_FLOOR` of ``m_ref``).  A fixed share of the dose let
    the step size run free after a wash-off that left the skin 1e-10 of
    the dose: every amount then sat five orders below the tolerance, and
    the SC of the ``msc_exosome`` preset came out up to 11x its value at
    the default tolerance, the same at a looser one, so a check run could
    not see it (docs/numerics.md, "Step control").  An infinite donor keeps
    ``m_ref`` (what it supplies does not run out).  ``floor``: the share of
    ``m_ref`` below which the content stops lowering it (:func:`content_floor`).
    """
    if infinite:
        return rtol * 1e-3 * m_ref
    scale = content
    if scale > m_ref:
        scale = m_ref
    low = floor * m_ref
    if scale < low:
        scale = low
    return rtol * 1e-3 * scale


@jit(inline="always")
def columns_atol(rtol, m_ref, u, cap_tissue, t, infinite, fstate, evap_tau, source_to, out):
    """:func:`content_atol` of every column into ``out`` (S,): a column fed by others (a cargo) counts their
    content as its own (the cargo the vesicles still carry, at most their amount), so a cargo not yet
    set free keeps the tolerance of the dose.  A feeding column is fed by none (vesicles feed the cargo,
    which feeds nothing), so its entry is still its own content when it is added."""
    S = u.shape[0]
    for s in range(S):
        out[s] = column_content(u[s], cap_tissue[s], t, infinite, fstate, evap_tau)
    for s in range(S):
        if source_to[s] >= 0:
            out[source_to[s]] += out[s]
    floor = content_floor(fstate)
    for s in range(S):
        out[s] = content_atol(rtol, m_ref[s], out[s], infinite, floor)


@jit(inline="always")
def positivity_cap(h_next, h_pos):
    """The step after an accepted one under the cap an undershoot set (``h_pos``, 0: none); and the new cap.

    The step at which the 4th-order methods stop undershooting grows slowly
    as a front spreads, and the error control alone would grow the step back
    into it at every step: capped, and the cap grown by :data:`POS_GROW` per
    accepted step, an undershoot costs a rejection every few steps instead.
    """
    if h_pos <= 0.0:
        return h_next, h_pos
    if h_next > h_pos:
        h_next = h_pos
    return h_next, h_pos * POS_GROW


@jit(inline="always")
def step_after_accept_rk(h, err, err_prev, h_next):
    """:func:`~exodiff.kernels.control.step_after_accept` for the 4th-order methods (PI control)."""
    h_new = next_step_rk(h, err, err_prev)
    if h_new < h_next and h < h_next:
        h_new = h_next
    return h_new


@jit(inline="always")
def take_sample(cap, u, fraction):
    """Take ``fraction`` of the receptor (the last node) away, as a sample replaced by fresh fluid.

    The receptor is well mixed: a sample of volume ``v`` out of ``V`` takes
    ``v / V`` of its amount, and the fresh fluid dilutes what stays.
    Returns the amount taken (booked to the bottom slot, ``sampled``).
    """
    last = u.shape[0] - 1
    taken = fraction * u[last]
    u[last] -= taken
    return cap[last] * taken


@jit
def trbdf2_columns(t, h, u, comp, cap_tissue, g, closs, csrc, source_to, node_layer, n_layers, infinite, fstate,
                   evap_tau, istate, any_src, loss, cap_n, cap_g, cap_1, fn, fg, f1, ug, u1, rhs, lower, diag, upper,
                   scratch, srcn, srcg, src1, rn, rg, r1, compg, comp1, rtol, atols, i0, supplied, stats, kv, cv,
                   gst, vary, fa):
    """Both TR-BDF2 stages of every column (index order, sources at each stage), one step; ``(err, bad)``.

    Writes ``u1`` and ``comp1``; ``bad`` is the first non-finite node (``s n + i``) or -1.
    ``kv``, ``cv``: the film's leakage and its source into the target
    (:func:`integrate_columns`), at each stage's film capacity.  A column
    with ``vary[s]`` takes its conductances at ``t``, ``t + gamma h`` and
    ``t + h`` from ``gst[s, 0:3]`` (a relaxing enhancement; never with a
    leakage): each stage's matrix, rates and base term ``A_i u_{i-1}``
    are its own (``fa``: work array).
    """
    S = u.shape[0]
    n = u.shape[1]
    nc = comp.shape[1]
    tg = t + GAMMA * h
    t1 = t + h
    if not infinite:
        c0n = film_capacity(t, fstate, evap_tau)
        c0g = film_capacity(tg, fstate, evap_tau)
        c01 = film_capacity(t1, fstate, evap_tau)
        for s in range(S):
            cap_n[s, 0] = c0n
            cap_g[s, 0] = c0g
            cap_1[s, 0] = c01
    if any_src:
        srcn[:, :] = 0.0
        srcg[:, :] = 0.0
        src1[:, :] = 0.0
    a = ALPHA_TR * h
    d = BDF_D * h
    err = 0.0
    bad = -1
    rel0 = 3 * n_layers  # the released slot of the top layer: cargo leaked in the film
    for s in range(S):
        us = u[s]
        u1s = u1[s]
        gs = g[s]
        g1 = 0.0 if istate[I_WASHED] else gs[1]
        vs = vary[s]
        gsg = gs
        gs1 = gs
        if vs:
            gs = gst[s, 0]
            gsg = gst[s, 1]
            gs1 = gst[s, 2]
        ls = loss[s]
        cn = cap_n[s]
        cg = cap_g[s]
        c1 = cap_1[s]
        # stage 1: trapezoidal rule to t + gamma h, delta form for u_g - u,
        #   (C_g - a A) du = (C_n - C_g) u + 2 a A u [+ a (S_n + S_g)]
        kvs = kv[s]
        apply_operator(us, gs, g1, ls, fn)
        column_compartment_rates(us, gs, g1, closs[s], node_layer, n_layers, rn)
        if kvs > 0.0:  # the film's leakage at t (a loss of node 0, booked to the top layer's released slot)
            fn[0] -= kvs * cn[0] * us[0]
            rn[rel0] += kvs * cn[0] * us[0]
        for i in range(n):
            rhs[i] = (cn[i] - cg[i]) * us[i] + 2.0 * a * fn[i] + a * (srcn[s, i] + srcg[s, i])
        if vs:  # a A_g u with the conductances at t + gamma h: replace one of the two a A_n u
            apply_operator(us, gsg, g1, ls, fa)
            for i in range(n):
                rhs[i] += a * (fa[i] - fn[i])
        if kvs > 0.0:  # a A_g u: the leakage at t + gamma h (2 a fn has it at t)
            rhs[0] -= a * kvs * (cg[0] - cn[0]) * us[0]
            ls[0] = kvs * cg[0]
        implicit_stage(a, cg, gsg, g1, ls, infinite, rhs, lower, diag, upper, scratch, us, ug, closs[s],
                       node_layer, n_layers, fg, rg, supplied)
        if kvs > 0.0:
            ls[0] = 0.0
            fg[0] -= kvs * cg[0] * ug[0]
            rg[rel0] += kvs * cg[0] * ug[0]
        for j in range(nc):
            compg[j] = comp[s, j] + a * (rn[j] + rg[j])
        # stage 2: BDF2 through t, t + gamma h to t + h, delta form for u_1 - u_g,
        #   (C_1 - d A) du = BDF_A C_g u_g - BDF_B C_n u - C_1 u_g + d A u_g [+ d S_1]
        for i in range(n):
            rhs[i] = (BDF_A * cg[i] * ug[i] - BDF_B * cn[i] * us[i] - c1[i] * ug[i] + d * fg[i]
                      + d * src1[s, i])
        if vs:  # d A_1 u_g with the conductances at t + h (fg has those at t + gamma h)
            apply_operator(ug, gs1, g1, ls, fa)
            for i in range(n):
                rhs[i] += d * (fa[i] - fg[i])
        if kvs > 0.0:  # d A_1 u_g: fg has the leakage at t + gamma h
            rhs[0] -= d * kvs * (c1[0] - cg[0]) * ug[0]
            ls[0] = kvs * c1[0]
        implicit_stage(d, c1, gs1, g1, ls, infinite, rhs, lower, diag, upper, scratch, ug, u1s, closs[s],
                       node_layer, n_layers, f1, r1, supplied)
        if kvs > 0.0:
            ls[0] = 0.0
            f1[0] -= kvs * c1[0] * u1s[0]
            r1[rel0] += kvs * c1[0] * u1s[0]
        for j in range(nc):
            comp1[s, j] = BDF_A * compg[j] - BDF_B * comp[s, j] + d * r1[j]
        stats[S_SOLVES] += 2
        # this column's released cargo, at each stage, into its target
        tgt = source_to[s]
        if tgt >= 0:
            for i in range(n):
                srcn[tgt, i] += csrc[s, i] * us[i]
                srcg[tgt, i] += csrc[s, i] * ug[i]
                src1[tgt, i] += csrc[s, i] * u1s[i]
            if kvs > 0.0:  # cargo leaked in the film
                srcn[tgt, 0] += cv[s] * (kvs * cn[0] * us[0])
                srcg[tgt, 0] += cv[s] * (kvs * cg[0] * ug[0])
                src1[tgt, 0] += cv[s] * (kvs * c1[0] * u1s[0])
        for i in range(n):  # the stage derivatives include the source
            fn[i] += srcn[s, i]
            fg[i] += srcg[s, i]
            f1[i] += src1[s, i]
        # scaled local error, max norm over nodes and compartments
        atol = atols[s]
        err, node = node_error(h, fn, fg, f1, c1, u1s, atol, rtol, i0, err)
        if node >= 0:
            bad = s * n + node
        if bad >= 0 or not math.isfinite(err):
            break
        err = compartment_error(h, rn, rg, r1, comp1[s], atol, rtol, err)
    return err, bad


@jit
def integrate_columns(
    cap_tissue, g, closs, csrc, source_to, node_layer, n_layers,
    infinite, c_donor, h0, evap_frac, evap_tau, sample_frac,
    stops, out_index, stop_event,
    u, comp, fstate, istate,
    rtol, m_ref, h_start, max_steps,
    u_out, comp_out, stats, method=METHOD_ESDIRK4, kveh=None, cveh=None,
    enh=None, rsc=None, roth=None, tau_enh=0.0, u_gap=None, comp_gap=None, gap_layer=None,
):
    """Integrate ``S`` columns on one grid with a common step (size classes, a released cargo).

    The columns are independent except for a one-way source: column ``s``
    feeds ``csrc[s, i] u_s[i]`` (amount per area per s) into node ``i`` of
    column ``source_to[s] > s`` (a vesicle class releasing its cargo into
    the cargo column).  The coupled system is block lower triangular, so
    each TR-BDF2 stage is solved exactly column by column in index order:
    a column's source at the stage is built from its parents' values at the
    same stage, already solved.  One step size and one error norm (max over
    every column's nodes and compartments, each column's absolute tolerance
    relative to what it holds, :func:`columns_atol`) serve all columns.  With ``S = 1`` it takes
    the steps of :func:`integrate_column` and agrees with it to round-off.

    Parameters
    ----------
    cap_tissue : float64[S, n]
        Capacities ``K dz`` (m); column entry 0 (vehicle) computed from the film.
    g : float64[S, n+1]
        Face conductances (m/s).
    closs : float64[S, P, n]
        ``k C`` (m/s) per loss process and node: degraded, taken up, cleared
        (and released, when a cargo is tracked).
    csrc : float64[S, n]
        Source coefficient (m/s) into column ``source_to[s]``.
    source_to : int64[S]
        Column fed by each column, -1 for none.
    c_donor : float64[S]
        Donor concentration of each column (infinite donor).
    kveh, cveh : float64[S] or None
        Leakage of each column's vehicle node (1/s; ``release_rate_vehicle``
        of a vesicle column, 0 for the others): a loss ``kveh C_0(t) u_0``
        evaluated at each stage time (the film's capacity), booked to the
        column's released slot of the top layer (``3 n_layers``), and a
        source ``cveh kveh C_0(t) u_0`` into node 0 of column ``source_to``
        (``cveh``: the encapsulation, the cargo a vesicle carries).  None:
        no leakage.
    enh, rsc, roth, tau_enh : float64[S], float64[S, n+1], float64[S, n+1], float or None
        Penetration enhancement (docs/model.md, section 5.1): column ``s``'s
        stratum-corneum diffusivity is scaled by ``enh[s]`` while a film is
        on the skin and by ``1 + (enh[s] - 1) exp(-(t - t_wash)/tau_enh)``
        (s) after a wash-off; its faces are ``1/(rsc/E + roth)``
        (:func:`enhanced_faces`, ``rsc``/``roth`` the face's SC and other
        half-cell resistances, s/m).  ``enh[s] = 1`` leaves the column's
        ``g`` as given, bit for bit.  A column with ``enh != 1`` must not
        leak (``kveh = 0``).  None: no enhancement.
    u : float64[S, n]
        States, modified in place.
    comp : float64[S, P n_layers + 3]
        Compartments of each column (slots of :func:`column_compartment_rates`).
    m_ref : float64[S]
        Dose scale of each column: the absolute tolerance is ``1e-3 rtol`` of
        what the column holds, at most of ``m_ref`` (:func:`columns_atol`).
    u_out, comp_out : float64[k, S, n], float64[k, S, P n_layers + 3]
        Recorded states.
    u_gap, comp_gap : float64[2, k, S, n_layers + 2], float64[2, k, S, P n_layers + 3], or None
        Zeros in, and out the cubic Hermite interpolant (``[0]``) and the
        end-rate quadratic (``[1]``) minus the continuous extension at every
        output that ESDIRK4 interpolated (:func:`interpolation_gap`): the
        film's ``u``, each layer's amount, the last node's ``u``, and the
        compartments; zero where a step ended.  None, or no rows: not
        computed.
    gap_layer : int64[n] or None
        Each node's layer for the gaps' layer amounts, -1 for the film and a
        receptor (``node_layer`` books a receptor's losses in the last layer).

    Other parameters are those of :func:`integrate_column`; the failure node
    in ``istate`` is ``s * n + i`` (column ``s``, node ``i``).

    Returns
    -------
    int
        Status: 0 ok, 1 non-finite value, 2 step size underflow, 3 too many steps.
    """
    S = u.shape[0]
    n = u.shape[1]
    P = closs.shape[1]
    if kveh is None:
        kv = np.zeros(S)
        cv = np.zeros(S)
    else:
        kv = kveh
        cv = cveh
    # the conductances while a film is on (enhanced where enh != 1), and per stage after a wash-off
    gon = g.copy()
    gst = np.empty((S, MAX_STAGES, n + 1))
    vary = np.zeros(S, dtype=np.bool_)
    fa = np.empty(n)
    any_enh = False
    if enh is not None:
        for s in range(S):
            if enh[s] != 1.0:
                any_enh = True
                enhanced_faces(enh[s], rsc[s], roth[s], g[s], gon[s])
    loss = np.zeros((S, n))
    for s in range(S):
        for p in range(P):
            for i in range(n):
                loss[s, i] += closs[s, p, i]
    any_src = False
    for s in range(S):
        if source_to[s] >= 0:
            any_src = True
    cap_n = cap_tissue.copy()
    cap_g = cap_tissue.copy()
    cap_1 = cap_tissue.copy()
    fn = np.empty(n)
    fg = np.empty(n)
    f1 = np.empty(n)
    ug = np.empty(n)
    u1 = np.empty((S, n))
    rhs = np.empty(n)
    lower = np.empty(n)
    diag = np.empty(n)
    upper = np.empty(n)
    scratch = np.empty(n)
    srcn = np.zeros((S, n))
    srcg = np.zeros((S, n))
    src1 = np.zeros((S, n))
    nc = comp.shape[1]
    removed = P * n_layers + 1
    supplied = P * n_layers + 2
    rn = np.empty(nc)
    rg = np.empty(nc)
    r1 = np.empty(nc)
    compg = np.empty(nc)
    comp1 = np.empty((S, nc))
    # the 4th-order methods: tableau, stage states and rates, the sources at each stage
    rka, rke, rkc = rk_tableau(method)
    # each column's stage states, rates and supply (kept for the dense output), source at each stage
    Us = np.empty((S, MAX_STAGES, n))
    Fs = np.empty((S, MAX_STAGES, n))
    sups = np.empty((S, MAX_STAGES))
    vrels = np.zeros((S, MAX_STAGES))
    srcs = np.zeros((S, MAX_STAGES, n))
    rc = np.empty(nc)
    rp = np.empty(n)
    w = np.empty(n)
    dense = method == METHOD_ESDIRK4
    fed = np.zeros(S, dtype=np.bool_)
    # the interpolation gaps' stage sums per column (no rows in u_gap: a check run or a sweep, not computed)
    n_gap = 0
    if u_gap is not None:
        n_gap = S if u_gap.shape[1] > 0 else 0
    gap_p = np.zeros((n_gap, ESDIRK4_DENSE.shape[1], n_layers + 2))
    gap_c = np.zeros((n_gap, ESDIRK4_DENSE.shape[1], comp.shape[1]))
    gap_wk = np.empty((3, ESDIRK4_DENSE.shape[1]))
    for s in range(S):
        if source_to[s] >= 0:
            fed[source_to[s]] = True
    n_implicit = rk_implicit_stages(method)
    atols = np.empty(S)
    err_prev = fstate[F_ERR_PREV] if fstate.shape[0] > F_ERR_PREV else 1.0
    h_pos = fstate[F_POS_CAP] if fstate.shape[0] > F_POS_CAP else 0.0  # positivity_cap's; 0: none
    if method != METHOD_TRBDF2:
        rtol = rk_local_tolerance(rtol)
    t = fstate[F_TIME]
    h_next = fstate[F_STEP]
    t_end = stops[stops.shape[0] - 1]
    # the floor only catches a hopeless collapse: a start against a sharp
    # front may need steps far below 1e-14 t_end, later steps must still move t
    h_min = 1e-20 * max(t_end, 1.0)
    steps_here = 0
    i0 = 1 if infinite else 0
    m = stops.shape[0]
    k_soft = 0  # the next stop whose output a 4th-order method may owe by interpolation
    k_landed = -1  # the last stop a step was taken again to land on
    for k in range(m):
        # a "hard" stop ends a step: every stop for TR-BDF2 and SDIRK4; events and the call's last
        # stop for ESDIRK4, which steps over plain output times and interpolates (dense_column)
        if dense and (stop_event[k] | EVENT_PAUSE) == EVENT_PAUSE and k < m - 1:
            continue
        pause = False
        t_stop = stops[k]
        while t < t_stop:
            h, last = landing_step(h_next, t_stop - t)
            if last:
                h = t_stop - t
            t1 = t + h
            columns_atol(rtol, m_ref, u, cap_tissue, t, infinite, fstate, evap_tau, source_to, atols)
            if enh is not None:
                if any_enh:
                    # after a wash-off an enhancement relaxes: each stage time gets its own conductances
                    washed = istate[I_WASHED] != 0
                    ns_t = 3 if method == METHOD_TRBDF2 else rkc.shape[0]
                    for s in range(S):
                        vary[s] = washed and enh[s] != 1.0
                        if vary[s]:
                            for i in range(ns_t):
                                if method == METHOD_TRBDF2:  # t, t + gamma h, t + h
                                    ci = 0.0 if i == 0 else (GAMMA if i == 1 else 1.0)
                                else:
                                    ci = rkc[i]
                                e_i = enhancement_at(t + ci * h, enh[s], tau_enh, fstate[F_WASHED_AT])
                                enhanced_faces(e_i, rsc[s], roth[s], g[s], gst[s, i])
            if method != METHOD_TRBDF2:
                err = 0.0
                bad = -1
                if any_src:
                    srcs[:, :, :] = 0.0
                for s in range(S):
                    g1 = 0.0 if istate[I_WASHED] else gon[s, 1]
                    atol = atols[s]
                    err, node = rk_column_step(t, h, rka, rke, rkc, u[s], comp[s], cap_tissue[s], gon[s], g1,
                                               loss[s], closs[s], node_layer, n_layers, infinite, fstate, evap_tau,
                                               srcs[s], fed[s], Us[s], Fs[s], sups[s], rhs, lower, diag, upper, rp,
                                               w, scratch, u1[s], comp1[s], rc, atol, rtol, i0, err, supplied, kv[s],
                                               vrels[s], gst[s], vary[s], fa, CONTENT_FLOOR * m_ref[s], h_start)
                    stats[S_SOLVES] += n_implicit
                    if node >= 0:
                        bad = s * n + node
                        break
                    if not math.isfinite(err):
                        break
                    # this column's released cargo, at each stage, into its target
                    tgt = source_to[s]
                    if tgt >= 0:
                        for j in range(rke.shape[0]):
                            for i in range(n):
                                srcs[tgt, j, i] += csrc[s, i] * Us[s, j, i]
                        if kv[s] > 0.0:  # cargo leaked in the film: e kv C_0 u_0 at each stage
                            for j in range(rke.shape[0]):
                                srcs[tgt, j, 0] += cv[s] * vrels[s, j]
            else:
                err, bad = trbdf2_columns(t, h, u, comp, cap_tissue, gon, closs, csrc, source_to, node_layer,
                                          n_layers, infinite, fstate, evap_tau, istate, any_src, loss, cap_n, cap_g,
                                          cap_1, fn, fg, f1, ug, u1, rhs, lower, diag, upper, scratch, srcn, srcg,
                                          src1, rn, rg, r1, compg, comp1, rtol, atols, i0, supplied, stats, kv, cv,
                                          gst, vary, fa)
            if bad >= 0 or not math.isfinite(err):
                istate[I_FAIL_NODE] = bad
                return stop_run(NONFINITE, t, fstate, istate)
            steps_here += 1
            if err <= 1.0:
                t_new = t_stop if last else t1
                # outputs passed by this step, interpolated; where the interpolant dips below zero and the
                # step does not, the step is taken again to land on that output (once per output)
                redo = False
                summed = False  # the stage sums of the gaps, once per step with outputs inside it
                ks = k_soft
                while ks < k and stops[ks] <= t_new:
                    jo = out_index[ks]
                    if (stop_event[ks] & EVENT_PAUSE) != 0:
                        pause = True
                    if jo >= 0:
                        theta = (stops[ks] - t) / h
                        c0o = stage_vehicle_capacity(stops[ks], infinite, cap_tissue[0, 0], fstate, evap_tau)
                        c0n = stage_vehicle_capacity(t, infinite, cap_tissue[0, 0], fstate, evap_tau)
                        c01 = stage_vehicle_capacity(t + h, infinite, cap_tissue[0, 0], fstate, evap_tau)
                        for s in range(S):
                            g1 = 0.0 if istate[I_WASHED] else gon[s, 1]
                            dense_column(theta, h, u[s], comp[s], u1[s], comp1[s], Us[s], Fs[s], sups[s], srcs[s],
                                         fed[s], cap_tissue[s], c0n, c01, c0o, infinite, gon[s], g1, closs[s],
                                         node_layer, n_layers, supplied, scratch, u_out[jo, s], comp_out[jo, s],
                                         kv[s], vrels[s], gst[s], vary[s])
                            if u_gap is not None:
                                if n_gap > 0:
                                    if not summed:
                                        gap_stage_sums(Us[s], Fs[s], sups[s], srcs[s], fed[s], gon[s], g1, closs[s],
                                                       node_layer, n_layers, supplied, gap_layer, kv[s], vrels[s],
                                                       gst[s], vary[s], gap_p[s], gap_c[s])
                                    interpolation_gap(theta, h, gap_p[s], gap_c[s], infinite, c0o,
                                                      cap_tissue[s, n - 1], u_gap[:, jo, s], comp_gap[:, jo, s],
                                                      gap_wk)
                            if ks != k_landed and undershoots(u[s], u1[s], u_out[jo, s], cap_tissue[s],
                                                              CONTENT_FLOOR * m_ref[s]):
                                redo = True
                        summed = True
                        if redo:
                            break
                    ks += 1
                if redo:
                    if u_gap is not None:  # landed on: a step's end, no interpolation
                        if n_gap > 0:
                            u_gap[:, out_index[ks]] = 0.0
                            comp_gap[:, out_index[ks]] = 0.0
                    stats[S_REJECTED] += 1
                    k_landed = ks
                    h_next = stops[ks] - t
                else:
                    stats[S_STEPS] += 1
                    k_soft = ks
                    t = t_new
                    for s in range(S):
                        for i in range(n):
                            u[s, i] = u1[s, i]
                        for j in range(nc):
                            comp[s, j] = comp1[s, j]
                    if method == METHOD_TRBDF2:
                        h_next = step_after_accept(h, err, h_next)
                    else:
                        h_next = step_after_accept_rk(h, err, err_prev, h_next)
                        err_prev = err
                        h_next, h_pos = positivity_cap(h_next, h_pos)
                    if pause and t < t_stop:
                        return pause_run(t, h_next, err_prev, h_pos, fstate, istate)
            else:
                stats[S_REJECTED] += 1
                h_next = next_step(h, err) if method == METHOD_TRBDF2 else next_step_rk(h, err, err_prev)
                if err == POS_ERR:
                    h_pos = h_next
            status = step_status(err <= 1.0, h_next, h_min, t, steps_here, max_steps)
            if status != OK:
                return stop_run(status, t, fstate, istate)
        # outputs not passed by a step (none in exact arithmetic): the state now
        while k_soft < k:
            jo = out_index[k_soft]
            if jo >= 0:
                for s in range(S):
                    for i in range(n):
                        u_out[jo, s, i] = u[s, i]
                    for c in range(nc):
                        comp_out[jo, s, c] = comp[s, c]
            k_soft += 1
        k_soft = k + 1
        # at the stop: wash-off, a new application, recording, then a sample
        if (stop_event[k] & EVENT_WASH) != 0 and istate[I_WASHED] == 0:
            for s in range(S):
                if not infinite:
                    comp[s, removed] += film_capacity(t, fstate, evap_tau) * u[s, 0]
                u[s, 0] = 0.0
            istate[I_WASHED] = 1
            if fstate.shape[0] > F_WASHED_AT:
                fstate[F_WASHED_AT] = t
            h_next = h_start
            err_prev = 1.0
            h_pos = 0.0
        if (stop_event[k] & (EVENT_APPLY | EVENT_ADD)) != 0:
            join = (stop_event[k] & EVENT_ADD) != 0 and istate[I_WASHED] == 0
            h_old = new_film(t, h0, evap_frac, evap_tau, fstate, join)
            h_new = fstate[F_FILM]
            for s in range(S):
                if join:  # amounts add in the joined film
                    u[s, 0] = (h_old * u[s, 0] + h0 * c_donor[s]) / h_new
                else:  # what is left of the old film is washed off first
                    if istate[I_WASHED] == 0:
                        comp[s, removed] += h_old * u[s, 0]
                    u[s, 0] = c_donor[s]
            istate[I_WASHED] = 0
            h_next = h_start
            err_prev = 1.0
            h_pos = 0.0
        j = out_index[k]
        if j >= 0:
            for s in range(S):
                for i in range(n):
                    u_out[j, s, i] = u[s, i]
                for c in range(nc):
                    comp_out[j, s, c] = comp[s, c]
        # a sample after the recording: an output at a sampling time shows what the sample finds
        if (stop_event[k] & EVENT_SAMPLE) != 0:
            for s in range(S):
                comp[s, P * n_layers] += take_sample(cap_tissue[s], u[s], sample_frac)
        if pause or (stop_event[k] & EVENT_PAUSE) != 0:
            return pause_run(t, h_next, err_prev, h_pos, fstate, istate)
    return pause_run(t, h_next, err_prev, h_pos, fstate, istate)


@jit
def column_stop(k, t, stop_event, out_index, infinite, c_donor, h0, evap_frac, evap_tau, sample_frac, cap_tissue,
                n_layers, u, comp, fstate, istate, u_out, comp_out):
    """At stop ``k`` of the one-column loops: wash-off, a new application, recording, then a sample.

    Returns True when the film changed (the step restarts small).
    """
    restart = False
    removed = 3 * n_layers + 1
    if (stop_event[k] & EVENT_WASH) != 0 and istate[I_WASHED] == 0:
        if not infinite:
            comp[removed] += film_capacity(t, fstate, evap_tau) * u[0]
        u[0] = 0.0
        istate[I_WASHED] = 1
        restart = True
    if (stop_event[k] & (EVENT_APPLY | EVENT_ADD)) != 0:
        join = (stop_event[k] & EVENT_ADD) != 0 and istate[I_WASHED] == 0
        h_old = new_film(t, h0, evap_frac, evap_tau, fstate, join)
        if join:  # amounts add in the joined film
            u[0] = (h_old * u[0] + h0 * c_donor) / fstate[F_FILM]
        else:  # what is left of the old film is washed off first
            if istate[I_WASHED] == 0:
                comp[removed] += h_old * u[0]
            u[0] = c_donor
        istate[I_WASHED] = 0
        restart = True
    j = out_index[k]
    if j >= 0:
        for i in range(u.shape[0]):
            u_out[j, i] = u[i]
        for c in range(comp.shape[0]):
            comp_out[j, c] = comp[c]
    if (stop_event[k] & EVENT_SAMPLE) != 0:
        comp[3 * n_layers] += take_sample(cap_tissue, u, sample_frac)
    return restart


@jit
def integrate_column_rk(
    cap_tissue, g, cdeg, cup, ccl, node_layer, n_layers,
    infinite, c_donor, h0, evap_frac, evap_tau, sample_frac,
    stops, out_index, stop_event,
    u, comp, fstate, istate,
    rtol, m_ref, h_start, max_steps,
    u_out, comp_out, stats, method=METHOD_ESDIRK4, u_gap=None, comp_gap=None, gap_layer=None,
):
    """:func:`integrate_column` with a 4th-order method (``method``: ESDIRK4 or SDIRK4), compiled on its own.

    The driver calls the loop of the integrator it runs, so a run compiles
    only that loop (TR-BDF2's and the 4th-order methods' together took twice
    the first-run compile time).  Arguments and results as :func:`integrate_column`;
    ``u_gap``, ``comp_gap`` (float64[2, k, n_layers + 2], float64[2, k, 3
    n_layers + 3]) and ``gap_layer`` as :func:`integrate_columns`'.
    """
    n = u.shape[0]
    loss = cdeg + cup + ccl
    # the losses stacked as integrate_columns has them, so both loops share implicit_stage
    closs = np.empty((3, n))
    closs[0] = cdeg
    closs[1] = cup
    closs[2] = ccl
    u1 = np.empty(n)
    rhs = np.empty(n)
    lower = np.empty(n)
    diag = np.empty(n)
    upper = np.empty(n)
    scratch = np.empty(n)
    nc = comp.shape[0]
    removed = 3 * n_layers + 1
    supplied = 3 * n_layers + 2
    comp1 = np.empty(nc)
    rka, rke, rkc = rk_tableau(method)
    U = np.empty((MAX_STAGES, n))
    Fs = np.empty((MAX_STAGES, n))
    sups = np.empty(MAX_STAGES)
    vrel = np.zeros(MAX_STAGES)  # no film leakage in a one-column run (no cargo)
    gst = np.empty((1, n + 1))  # nor a penetration enhancement (it acts on a cargo): unused
    fa = np.empty(n)
    rc = np.empty(nc)
    src = np.zeros((MAX_STAGES, n))
    rp = np.empty(n)
    # the interpolation gaps' stage sums (no rows in u_gap: a check run or a sweep, not computed)
    n_gap = 0
    if u_gap is not None:
        n_gap = 1 if u_gap.shape[1] > 0 else 0
    gap_p = np.zeros((n_gap, ESDIRK4_DENSE.shape[1], n_layers + 2))
    gap_c = np.zeros((n_gap, ESDIRK4_DENSE.shape[1], nc))
    gap_wk = np.empty((3, ESDIRK4_DENSE.shape[1]))
    dense = method == METHOD_ESDIRK4
    w = np.empty(n)
    n_implicit = rk_implicit_stages(method)
    err_prev = fstate[F_ERR_PREV] if fstate.shape[0] > F_ERR_PREV else 1.0
    h_pos = fstate[F_POS_CAP] if fstate.shape[0] > F_POS_CAP else 0.0  # positivity_cap's; 0: none
    rtol = rk_local_tolerance(rtol)
    t = fstate[F_TIME]
    h_next = fstate[F_STEP]
    t_end = stops[stops.shape[0] - 1]
    # the floor only catches a hopeless collapse: a start against a sharp
    # front may need steps far below 1e-14 t_end, later steps must still move t
    h_min = 1e-20 * max(t_end, 1.0)
    steps_here = 0
    m = stops.shape[0]
    k_soft = 0  # the next stop whose output a 4th-order method may owe by interpolation
    k_landed = -1  # the last stop a step was taken again to land on
    for k in range(m):
        # a "hard" stop ends a step: every stop for TR-BDF2 and SDIRK4; events and the call's last
        # stop for ESDIRK4, which steps over plain output times and interpolates (dense_column)
        if dense and (stop_event[k] | EVENT_PAUSE) == EVENT_PAUSE and k < m - 1:
            continue
        pause = False
        t_stop = stops[k]
        while t < t_stop:
            g1 = 0.0 if istate[I_WASHED] else g[1]
            h, last = landing_step(h_next, t_stop - t)
            if last:
                h = t_stop - t
            t1 = t + h
            i0 = 1 if infinite else 0
            atol = content_atol(rtol, m_ref, column_content(u, cap_tissue, t, infinite, fstate, evap_tau), infinite,
                                content_floor(fstate))
            err, bad = rk_column_step(t, h, rka, rke, rkc, u, comp, cap_tissue, g, g1, loss, closs, node_layer,
                                      n_layers, infinite, fstate, evap_tau, src, False, U, Fs, sups, rhs, lower,
                                      diag, upper, rp, w, scratch, u1, comp1, rc, atol, rtol, i0, 0.0, supplied, 0.0, vrel,
                                      gst, False, fa, CONTENT_FLOOR * m_ref, h_start)
            stats[S_SOLVES] += n_implicit
            if bad >= 0 or not math.isfinite(err):
                istate[I_FAIL_NODE] = bad
                return stop_run(NONFINITE, t, fstate, istate)
            steps_here += 1
            if err <= 1.0:
                t_new = t_stop if last else t1
                # outputs passed by this step, interpolated (an undershoot: land on it, as integrate_columns)
                redo = False
                summed = False
                ks = k_soft
                while ks < k and stops[ks] <= t_new:
                    jo = out_index[ks]
                    if (stop_event[ks] & EVENT_PAUSE) != 0:
                        pause = True
                    if jo >= 0:
                        c0o = stage_vehicle_capacity(stops[ks], infinite, cap_tissue[0], fstate, evap_tau)
                        c0n = stage_vehicle_capacity(t, infinite, cap_tissue[0], fstate, evap_tau)
                        c01 = stage_vehicle_capacity(t + h, infinite, cap_tissue[0], fstate, evap_tau)
                        dense_column((stops[ks] - t) / h, h, u, comp, u1, comp1, U, Fs, sups, src, False,
                                     cap_tissue, c0n, c01, c0o, infinite, g, g1, closs, node_layer, n_layers,
                                     supplied, scratch, u_out[jo], comp_out[jo], 0.0, vrel, gst, False)
                        if u_gap is not None:
                            if n_gap > 0:
                                if not summed:
                                    gap_stage_sums(U, Fs, sups, src, False, g, g1, closs, node_layer, n_layers,
                                                   supplied, gap_layer, 0.0, vrel, gst, False, gap_p[0], gap_c[0])
                                    summed = True
                                interpolation_gap((stops[ks] - t) / h, h, gap_p[0], gap_c[0], infinite, c0o,
                                                  cap_tissue[n - 1], u_gap[:, jo], comp_gap[:, jo], gap_wk)
                        if ks != k_landed and undershoots(u, u1, u_out[jo], cap_tissue, CONTENT_FLOOR * m_ref):
                            redo = True
                            break
                    ks += 1
                if redo:
                    if u_gap is not None:  # landed on: a step's end, no interpolation
                        if n_gap > 0:
                            u_gap[:, out_index[ks]] = 0.0
                            comp_gap[:, out_index[ks]] = 0.0
                    stats[S_REJECTED] += 1
                    k_landed = ks
                    h_next = stops[ks] - t
                else:
                    stats[S_STEPS] += 1
                    k_soft = ks
                    t = t_new
                    for i in range(n):
                        u[i] = u1[i]
                    for j in range(nc):
                        comp[j] = comp1[j]
                    h_next = step_after_accept_rk(h, err, err_prev, h_next)
                    err_prev = err
                    h_next, h_pos = positivity_cap(h_next, h_pos)
                    if pause and t < t_stop:
                        return pause_run(t, h_next, err_prev, h_pos, fstate, istate)
            else:
                stats[S_REJECTED] += 1
                h_next = next_step_rk(h, err, err_prev)
                if err == POS_ERR:
                    h_pos = h_next
            status = step_status(err <= 1.0, h_next, h_min, t, steps_here, max_steps)
            if status != OK:
                return stop_run(status, t, fstate, istate)
        # outputs not passed by a step (none in exact arithmetic): the state now
        while k_soft < k:
            jo = out_index[k_soft]
            if jo >= 0:
                for i in range(n):
                    u_out[jo, i] = u[i]
                for c in range(nc):
                    comp_out[jo, c] = comp[c]
            k_soft += 1
        k_soft = k + 1
        # at the stop: wash-off, a new application, recording, then a sample
        if column_stop(k, t, stop_event, out_index, infinite, c_donor, h0, evap_frac, evap_tau, sample_frac,
                       cap_tissue, n_layers, u, comp, fstate, istate, u_out, comp_out):
            h_next = h_start
            err_prev = 1.0
            h_pos = 0.0
        if pause or (stop_event[k] & EVENT_PAUSE) != 0:
            return pause_run(t, h_next, err_prev, h_pos, fstate, istate)
    return pause_run(t, h_next, err_prev, h_pos, fstate, istate)


@jit
def integrate_column_trbdf2(
    cap_tissue, g, cdeg, cup, ccl, node_layer, n_layers,
    infinite, c_donor, h0, evap_frac, evap_tau, sample_frac,
    stops, out_index, stop_event,
    u, comp, fstate, istate,
    rtol, m_ref, h_start, max_steps,
    u_out, comp_out, stats,
):
    """:func:`integrate_column` with TR-BDF2, compiled on its own (see :func:`integrate_column_rk`).

    Every stop ends a step.  Arguments and results as :func:`integrate_column`.
    """
    n = u.shape[0]
    loss = cdeg + cup + ccl
    # the losses stacked as integrate_columns has them, so both loops share implicit_stage
    closs = np.empty((3, n))
    closs[0] = cdeg
    closs[1] = cup
    closs[2] = ccl
    cap_n = cap_tissue.copy()
    cap_g = cap_tissue.copy()
    cap_1 = cap_tissue.copy()
    fn = np.empty(n)
    fg = np.empty(n)
    f1 = np.empty(n)
    ug = np.empty(n)
    u1 = np.empty(n)
    rhs = np.empty(n)
    lower = np.empty(n)
    diag = np.empty(n)
    upper = np.empty(n)
    scratch = np.empty(n)
    nc = comp.shape[0]
    removed = 3 * n_layers + 1
    supplied = 3 * n_layers + 2
    rn = np.empty(nc)
    rg = np.empty(nc)
    r1 = np.empty(nc)
    compg = np.empty(nc)
    comp1 = np.empty(nc)
    err_prev = 1.0  # not used by TR-BDF2; kept in fstate for the 4th-order methods
    h_pos = 0.0
    t = fstate[F_TIME]
    h_next = fstate[F_STEP]
    t_end = stops[stops.shape[0] - 1]
    # the floor only catches a hopeless collapse: a start against a sharp
    # front may need steps far below 1e-14 t_end, later steps must still move t
    h_min = 1e-20 * max(t_end, 1.0)
    steps_here = 0
    m = stops.shape[0]
    for k in range(m):
        pause = False  # every stop ends a step
        t_stop = stops[k]
        while t < t_stop:
            g1 = 0.0 if istate[I_WASHED] else g[1]
            h, last = landing_step(h_next, t_stop - t)
            if last:
                h = t_stop - t
            t1 = t + h
            i0 = 1 if infinite else 0
            atol = content_atol(rtol, m_ref, column_content(u, cap_tissue, t, infinite, fstate, evap_tau), infinite,
                                content_floor(fstate))
            tg = t + GAMMA * h
            if not infinite:
                cap_n[0] = film_capacity(t, fstate, evap_tau)
                cap_g[0] = film_capacity(tg, fstate, evap_tau)
                cap_1[0] = film_capacity(t1, fstate, evap_tau)
            # stage 1: trapezoidal rule to t + gamma h,
            #   (C_g - a A) u_g = C_n u + a A u,
            # solved in delta form for u_g - u (see the module docstring)
            apply_operator(u, g, g1, loss, fn)
            compartment_rates(u, g, g1, cdeg, cup, ccl, node_layer, n_layers, rn)
            a = ALPHA_TR * h
            for i in range(n):
                rhs[i] = (cap_n[i] - cap_g[i]) * u[i] + 2.0 * a * fn[i]
            implicit_stage(a, cap_g, g, g1, loss, infinite, rhs, lower, diag, upper, scratch, u, ug, closs,
                           node_layer, n_layers, fg, rg, supplied)
            for j in range(nc):
                compg[j] = comp[j] + a * (rn[j] + rg[j])
            # stage 2: BDF2 through t, t + gamma h to t + h,
            #   (C_1 - d A) u_1 = BDF_A C_g u_g - BDF_B C_n u,
            # in delta form for u_1 - u_g
            d = BDF_D * h
            for i in range(n):
                rhs[i] = BDF_A * cap_g[i] * ug[i] - BDF_B * cap_n[i] * u[i] - cap_1[i] * ug[i] + d * fg[i]
            implicit_stage(d, cap_1, g, g1, loss, infinite, rhs, lower, diag, upper, scratch, ug, u1, closs,
                           node_layer, n_layers, f1, r1, supplied)
            for j in range(nc):
                comp1[j] = BDF_A * compg[j] - BDF_B * comp[j] + d * r1[j]
            stats[S_SOLVES] += 2
            # scaled local error, max norm over nodes and compartments
            err = 0.0
            bad = -1
            err, bad = node_error(h, fn, fg, f1, cap_1, u1, atol, rtol, i0, err)
            if bad >= 0 or not math.isfinite(err):
                istate[I_FAIL_NODE] = bad
                return stop_run(NONFINITE, t, fstate, istate)
            err = compartment_error(h, rn, rg, r1, comp1, atol, rtol, err)
            steps_here += 1
            if err <= 1.0:
                stats[S_STEPS] += 1
                t = t_stop if last else t1
                for i in range(n):
                    u[i] = u1[i]
                for j in range(nc):
                    comp[j] = comp1[j]
                h_next = step_after_accept(h, err, h_next)
            else:
                stats[S_REJECTED] += 1
                h_next = next_step(h, err)
            status = step_status(err <= 1.0, h_next, h_min, t, steps_here, max_steps)
            if status != OK:
                return stop_run(status, t, fstate, istate)
        # at the stop: wash-off, a new application, recording, then a sample
        if column_stop(k, t, stop_event, out_index, infinite, c_donor, h0, evap_frac, evap_tau, sample_frac,
                       cap_tissue, n_layers, u, comp, fstate, istate, u_out, comp_out):
            h_next = h_start
        if pause or (stop_event[k] & EVENT_PAUSE) != 0:
            return pause_run(t, h_next, err_prev, h_pos, fstate, istate)
    return pause_run(t, h_next, err_prev, h_pos, fstate, istate)


@jit
def integrate_column(
    cap_tissue, g, cdeg, cup, ccl, node_layer, n_layers,
    infinite, c_donor, h0, evap_frac, evap_tau, sample_frac,
    stops, out_index, stop_event,
    u, comp, fstate, istate,
    rtol, m_ref, h_start, max_steps,
    u_out, comp_out, stats, method=METHOD_ESDIRK4, u_gap=None, comp_gap=None, gap_layer=None,
):
    """Integrate the column over a list of stops (output times and events).

    Parameters
    ----------
    cap_tissue : float64[n]
        Capacities ``K dz`` (m); entry 0 (vehicle) is ignored and computed
        from the film thickness.
    g : float64[n+1]
        Face conductances (m/s); ``g[n]`` is the bottom (0 for no flux).
    cdeg, cup, ccl : float64[n]
        ``k C`` (m/s) per node for degradation, uptake, clearance.
    infinite : bool
        Constant donor ``u_0 = c_donor`` instead of a finite film.
    c_donor : float
        Donor concentration (dose unit/m^3) for the infinite donor; for a
        finite film the concentration of each new application.
    h0, evap_frac, evap_tau : float
        Thickness (m) and volatile fraction of a freshly applied film,
        evaporation time (s).  The film on the skin now is in ``fstate``.
    sample_frac : float
        Fraction of the receptor (the last node, ``skin.bottom = "receptor"``)
        taken at each sampling event and replaced by fresh fluid.
    stops : float64[m]
        Increasing stop times (s), all greater than the current time.
    out_index : int64[m]
        Row of ``u_out``/``comp_out`` to record at each stop, -1 for none.
    stop_event : int64[m]
        Events at each stop, bit flags: 0 none, 1 wash-off of the vehicle,
        2 a receptor sample (the amount taken is booked to the bottom slot),
        4 a new application (what is left of the film is washed off, booked
        to ``removed``, and a fresh film of concentration ``c_donor`` and
        thickness ``h0`` put on), 8 a new application joining the film still
        there (:func:`new_film`).  At a stop: wash, apply, record, sample.
    u : float64[n]
        State, modified in place (``c/K``; node 0 the vehicle concentration).
    node_layer : int64[n]
        Layer index of each node (node 0, the vehicle: -1).
    n_layers : int
        Number of layers.
    comp : float64[3 n_layers + 3]
        Compartments per area: degraded, taken_up, cleared per layer, then
        bottom sink, removed (wash-off), supplied (cumulative flux into skin).
    fstate : float64[N_FSTATE]
        Current time, next step size, failure time, then the film: time of
        its application (s), thickness then (m), volatile fraction then
        (``F_APPLIED``, ``F_FILM``, ``F_VOLATILE``); modified.
    istate : int64[3]
        Washed flag, failure node, status; modified.
    rtol : float
        Relative tolerance of the local error.
    m_ref : float
        Dose scale (dose per area): the absolute tolerance is ``1e-3 rtol`` of what the column holds, at most
        of ``m_ref`` (:func:`content_atol`).
    h_start : float
        Step size after a discontinuity (start, wash-off), s.
    max_steps : int
        Stop with status 3 beyond this many steps in one call.
    u_out, comp_out : float64[k, n], float64[k, 3 n_layers + 3]
        Recorded states.
    stats : int64[3]
        Steps, rejected steps, tridiagonal solves (accumulated).
    u_gap, comp_gap, gap_layer : float64[2, k, n_layers + 2], float64[2, k, 3 n_layers + 3], int64[n], or None
        ESDIRK4's interpolation gaps (:func:`integrate_columns`); TR-BDF2
        leaves them as they are.

    Returns
    -------
    int
        Status: 0 ok, 1 non-finite value, 2 step size underflow, 3 too many steps.
    """
    if method == METHOD_TRBDF2:
        return integrate_column_trbdf2(
            cap_tissue, g, cdeg, cup, ccl, node_layer, n_layers, infinite, c_donor, h0, evap_frac, evap_tau,
            sample_frac, stops, out_index, stop_event, u, comp, fstate, istate, rtol, m_ref, h_start, max_steps,
            u_out, comp_out, stats)
    return integrate_column_rk(
        cap_tissue, g, cdeg, cup, ccl, node_layer, n_layers, infinite, c_donor, h0, evap_frac, evap_tau,
        sample_frac, stops, out_index, stop_event, u, comp, fstate, istate, rtol, m_ref, h_start, max_steps,
        u_out, comp_out, stats, method, u_gap, comp_gap, gap_layer)
