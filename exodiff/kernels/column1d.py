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
TR-BDF2 weights, so the linear invariant "vehicle + tissue + compartments =
dose" is preserved to round-off by construction (every Runge-Kutta method
conserves linear invariants).

An infinite donor replaces the vehicle row by ``u_0 = c_donor``; then
``supplied`` (the cumulative flux into the skin) is the reference amount.

Both implicit stages are solved in *delta form*: for the increment of ``u``
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

All arrays are float64 in SI.  Called once per run (or once per chunk of
output times when a progress bar is shown); no Python runs per step.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import jit
from .control import (
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
)
from .tridiag import thomas

# Compartments are booked per layer so that uptake in a target layer and the
# dose delivered past an interface can be read off.  With L layers the slots
# are: degraded[0:L], taken_up[L:2L], cleared[2L:3L], then the bottom sink,
# the washed-off vehicle and the cumulative supply from the vehicle.


def compartment_slots(n_layers):
    """Slot indices ``(bottom, removed, supplied, total)`` for ``n_layers`` layers."""
    b = 3 * n_layers
    return b, b + 1, b + 2, b + 3

# status codes
OK, NONFINITE, STEP_UNDERFLOW, TOO_MANY_STEPS = 0, 1, 2, 3

# fstate slots: current time, next step size, time of failure
F_TIME, F_STEP, F_FAIL_TIME = 0, 1, 2
# istate slots: vehicle washed off, node of failure, status
I_WASHED, I_FAIL_NODE, I_STATUS = 0, 1, 2
# stats slots
S_STEPS, S_REJECTED, S_SOLVES = 0, 1, 2

EVENT_NONE, EVENT_WASH = 0, 1


@jit
def vehicle_capacity(t, h0, evap_frac, evap_tau):
    """Vehicle film thickness at time ``t`` (m): ``h0 (1 - f (1 - exp(-t/tau)))``."""
    if evap_frac <= 0.0:
        return h0
    return h0 * (1.0 - evap_frac * (1.0 - math.exp(-t / evap_tau)))


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
def integrate_column(
    cap_tissue, g, cdeg, cup, ccl, node_layer, n_layers,
    infinite, c_donor, h0, evap_frac, evap_tau,
    stops, out_index, stop_event,
    u, comp, fstate, istate,
    rtol, m_ref, h_start, max_steps,
    u_out, comp_out, stats,
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
        Donor concentration (dose unit/m^3) for the infinite donor.
    h0, evap_frac, evap_tau : float
        Initial film thickness (m), volatile fraction, evaporation time (s).
    stops : float64[m]
        Increasing stop times (s), all greater than the current time.
    out_index : int64[m]
        Row of ``u_out``/``comp_out`` to record at each stop, -1 for none.
    stop_event : int64[m]
        Event at each stop: 0 none, 1 wash-off of the vehicle.
    u : float64[n]
        State, modified in place (``c/K``; node 0 the vehicle concentration).
    node_layer : int64[n]
        Layer index of each node (node 0, the vehicle: -1).
    n_layers : int
        Number of layers.
    comp : float64[3 n_layers + 3]
        Compartments per area: degraded, taken_up, cleared per layer, then
        bottom sink, removed (wash-off), supplied (cumulative flux into skin).
    fstate : float64[3]
        Current time, next step size, failure time; modified.
    istate : int64[3]
        Washed flag, failure node, status; modified.
    rtol : float
        Relative tolerance of the local error.
    m_ref : float
        Amount scale (dose per area) for the absolute part of the tolerance.
    h_start : float
        Step size after a discontinuity (start, wash-off), s.
    max_steps : int
        Stop with status 3 beyond this many steps in one call.
    u_out, comp_out : float64[k, n], float64[k, 3 n_layers + 3]
        Recorded states.
    stats : int64[3]
        Steps, rejected steps, tridiagonal solves (accumulated).

    Returns
    -------
    int
        Status: 0 ok, 1 non-finite value, 2 step size underflow, 3 too many steps.
    """
    n = u.shape[0]
    loss = cdeg + cup + ccl
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
    atol = rtol * 1e-3 * m_ref
    t = fstate[F_TIME]
    h_next = fstate[F_STEP]
    t_end = stops[stops.shape[0] - 1]
    h_min = 1e-14 * max(t_end, 1.0)
    steps_here = 0
    for k in range(stops.shape[0]):
        t_stop = stops[k]
        while t < t_stop:
            g1 = 0.0 if istate[I_WASHED] else g[1]
            h, last = landing_step(h_next, t_stop - t)
            if last:
                h = t_stop - t
            tg = t + GAMMA * h
            t1 = t + h
            if not infinite:
                cap_n[0] = vehicle_capacity(t, h0, evap_frac, evap_tau)
                cap_g[0] = vehicle_capacity(tg, h0, evap_frac, evap_tau)
                cap_1[0] = vehicle_capacity(t1, h0, evap_frac, evap_tau)
            # stage 1: trapezoidal rule to t + gamma h,
            #   (C_g - a A) u_g = C_n u + a A u,
            # solved in delta form for u_g - u (see the module docstring)
            apply_operator(u, g, g1, loss, fn)
            compartment_rates(u, g, g1, cdeg, cup, ccl, node_layer, n_layers, rn)
            a = ALPHA_TR * h
            for i in range(n):
                rhs[i] = (cap_n[i] - cap_g[i]) * u[i] + 2.0 * a * fn[i]
            solve_stage(a, cap_g, g, g1, loss, infinite, 0.0, rhs, lower, diag, upper, ug, scratch)
            sup_g = stage_supply(g1, u[0], u[1], ug[0], ug[1])
            for i in range(n):
                ug[i] += u[i]
            apply_operator(ug, g, g1, loss, fg)
            compartment_rates(ug, g, g1, cdeg, cup, ccl, node_layer, n_layers, rg)
            # supply from the unrounded increment (module docstring)
            rg[supplied] = sup_g
            for j in range(nc):
                compg[j] = comp[j] + a * (rn[j] + rg[j])
            # stage 2: BDF2 through t, t + gamma h to t + h,
            #   (C_1 - d A) u_1 = BDF_A C_g u_g - BDF_B C_n u,
            # in delta form for u_1 - u_g
            d = BDF_D * h
            for i in range(n):
                rhs[i] = BDF_A * cap_g[i] * ug[i] - BDF_B * cap_n[i] * u[i] - cap_1[i] * ug[i] + d * fg[i]
            solve_stage(d, cap_1, g, g1, loss, infinite, 0.0, rhs, lower, diag, upper, u1, scratch)
            sup_1 = stage_supply(g1, ug[0], ug[1], u1[0], u1[1])
            for i in range(n):
                u1[i] += ug[i]
            apply_operator(u1, g, g1, loss, f1)
            compartment_rates(u1, g, g1, cdeg, cup, ccl, node_layer, n_layers, r1)
            r1[supplied] = sup_1
            for j in range(nc):
                comp1[j] = BDF_A * compg[j] - BDF_B * comp[j] + d * r1[j]
            stats[S_SOLVES] += 2
            # scaled local error, max norm over nodes and compartments
            err = 0.0
            bad = -1
            i0 = 1 if infinite else 0
            for i in range(n):
                if not math.isfinite(u1[i]):
                    bad = i
                    break
                if i < i0:
                    continue
                e = h * (ERR_1 * fn[i] + ERR_2 * fg[i] + ERR_3 * f1[i])
                sc = atol + rtol * abs(cap_1[i] * u1[i])
                q = abs(e) / sc
                if q > err:
                    err = q
            if bad >= 0 or not math.isfinite(err):
                istate[I_STATUS] = NONFINITE
                istate[I_FAIL_NODE] = bad
                fstate[F_FAIL_TIME] = t
                fstate[F_TIME] = t
                return NONFINITE
            for j in range(nc):
                e = h * (ERR_1 * rn[j] + ERR_2 * rg[j] + ERR_3 * r1[j])
                q = abs(e) / (atol + rtol * abs(comp1[j]))
                if q > err:
                    err = q
            steps_here += 1
            if err <= 1.0:
                stats[S_STEPS] += 1
                t = t_stop if last else t1
                for i in range(n):
                    u[i] = u1[i]
                for j in range(nc):
                    comp[j] = comp1[j]
                h_new = next_step(h, err)
                # a step cut short to land on a stop says nothing about the
                # step the solution allows: do not let landing shrink it
                if h_new < h_next and h < h_next:
                    h_new = h_next
                h_next = h_new
            else:
                stats[S_REJECTED] += 1
                h_next = next_step(h, err)
                if h_next < h_min:
                    istate[I_STATUS] = STEP_UNDERFLOW
                    fstate[F_FAIL_TIME] = t
                    fstate[F_TIME] = t
                    return STEP_UNDERFLOW
            if steps_here > max_steps:
                istate[I_STATUS] = TOO_MANY_STEPS
                fstate[F_FAIL_TIME] = t
                fstate[F_TIME] = t
                return TOO_MANY_STEPS
        # at the stop: events, then recording
        if stop_event[k] == EVENT_WASH and istate[I_WASHED] == 0:
            if not infinite:
                comp[removed] += vehicle_capacity(t, h0, evap_frac, evap_tau) * u[0]
            u[0] = 0.0
            istate[I_WASHED] = 1
            h_next = h_start
        j = out_index[k]
        if j >= 0:
            for i in range(n):
                u_out[j, i] = u[i]
            for c in range(nc):
                comp_out[j, c] = comp[c]
    fstate[F_TIME] = t
    fstate[F_STEP] = h_next
    istate[I_STATUS] = OK
    return OK
