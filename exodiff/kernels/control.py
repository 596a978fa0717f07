"""Time-step control shared by the 1D column and the r-z unit cell.

TR-BDF2 (Bank et al. 1985; Hosea & Shampine 1996, Appl. Numer. Math. 20:21)
is a one-step, second-order, L-stable scheme: a trapezoidal stage to
``t + gamma h`` followed by a BDF2 stage to ``t + h``, with
``gamma = 2 - sqrt(2)`` so both stages use the same iteration matrix
coefficient ``gamma h / 2``.  L-stability is what damps the start: the
stiff, high-wavenumber content of a discontinuous initial state (a full
vehicle over empty skin) is annihilated rather than left to ring, as it
would with Crank-Nicolson.

Local error estimate: the method is an ESDIRK with stage derivatives
``F_n, F_gamma, F_{n+1}`` and weights ``b = (w, w, d)``,
``w = sqrt(2)/4``, ``d = gamma/2``; the embedded third-order weights of
Hosea & Shampine are ``bhat = ((1 - w)/3, (3w + 1)/3, d/3)``.  The estimate
is ``h * sum_i (b_i - bhat_i) F_i``, a linear combination with zero sum,
so it vanishes for a steady state.
"""

from __future__ import annotations

import math

import numpy as np

from exodiff.kernels._jit import jit

GAMMA = 2.0 - math.sqrt(2.0)
#: coefficient of the implicit operator in both stages
ALPHA_TR = GAMMA / 2.0
#: BDF2 stage: y1 - D*h*F(y1) = A*y_gamma - B*y_n
BDF_D = (1.0 - GAMMA) / (2.0 - GAMMA)
BDF_A = 1.0 / (GAMMA * (2.0 - GAMMA))
BDF_B = (1.0 - GAMMA) ** 2 / (GAMMA * (2.0 - GAMMA))
_W = math.sqrt(2.0) / 4.0
_D = GAMMA / 2.0
#: error weights b - bhat; they sum to zero
ERR_1 = _W - (1.0 - _W) / 3.0
ERR_2 = _W - (3.0 * _W + 1.0) / 3.0
ERR_3 = _D - _D / 3.0

# -- the 1D column's 4th-order methods (exodiff.kernels.column1d) ---------------------------------
# Both are singly diagonally implicit (every implicit stage has the coefficient RK_GAMMA = 1/4 on
# the diagonal, so one factorization of C - h/4 A serves every stage of a step), L-stable and
# stiffly accurate (the last stage is the solution, so stiff modes are damped to R(-inf) = 0),
# with an embedded 3rd-order solution for the error estimate.  Tableaux in rational form; the
# order conditions (4 for b, 3 for bhat) are checked in tests/test_validation_1d.py.
# Method codes of the 1D kernels' ``method`` argument.
METHOD_TRBDF2, METHOD_ESDIRK4, METHOD_SDIRK4 = 0, 1, 2
#: diagonal coefficient of both 4th-order methods
RK_GAMMA = 0.25

#: Kennedy & Carpenter's ESDIRK4(3)6L[2]SA (the implicit part of ARK4(3)6L[2]SA, Appl. Numer.
#: Math. 44 (2003) 139, Table 6): 6 stages, the first explicit (the state at t_n), stage order 2
#: (a21 = a22: less order reduction on stiff problems and at boundary sources than stage order
#: 1), and an embedded solution with |R_hat(-inf)| = 0.15, so the estimate does not
#: overstate the error of stiff, well-damped modes.
ESDIRK4_A = np.array([
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [1 / 4, 1 / 4, 0.0, 0.0, 0.0, 0.0],
    [8611 / 62500, -1743 / 31250, 1 / 4, 0.0, 0.0, 0.0],
    [5012029 / 34652500, -654441 / 2922500, 174375 / 388108, 1 / 4, 0.0, 0.0],
    [15267082809 / 155376265600, -71443401 / 120774400, 730878875 / 902184768, 2285395 / 8070912, 1 / 4, 0.0],
    [82889 / 524892, 0.0, 15625 / 83664, 69875 / 102672, -2260 / 8211, 1 / 4],
])
ESDIRK4_BHAT = np.array([4586570599 / 29645900160, 0.0, 178811875 / 945068544, 814220225 / 1159782912,
                         -3700637 / 11593932, 61727 / 225920])
#: error weights b - bhat (b = the last row of A); they sum to zero
ESDIRK4_E = ESDIRK4_A[5] - ESDIRK4_BHAT
ESDIRK4_C = np.array([0.0, 1 / 2, 83 / 250, 31 / 50, 17 / 20, 1.0])
#: continuous extension of ESDIRK4 (dense output): the state at ``t + theta h`` is
#: ``m + h sum_j b*_j(theta) F_j`` with ``b*_j(theta) = sum_k ESDIRK4_DENSE[k-1, j] theta^k``, k = 1..4.
#: Derived here (not from the paper): of 4th order at every theta (with stage order 2 the eight
#: 4th-order conditions reduce to five: b*.1 = theta, b*.c = theta^2/2, b*.c^2 = theta^3/3,
#: b*.c^3 = theta^4/4, b*.A c^2 = theta^4/12), equal to b at theta = 1, and bounded on stiff
#: modes (b*(theta) . U_inf = 0, U_inf the stage values as h lambda -> -inf; |R*(theta, -inf)| <= 3.2,
#: where R(1, -inf) = 0).  That fixes the coefficients uniquely (solved in rational arithmetic);
#: tests/test_validation_1d.py checks each condition.  Past theta = 1/2 the kernel evaluates it from
#: the end of the step, ``b - b*(theta) = (1 - theta) sum_k B_k (1 + ... + theta^(k-1))``, so that
#: an output at the step's end is the step's result to round-off of the result, not of the rates.
ESDIRK4_DENSE = np.array([
    [2730611 / 1312230, 1700 / 189, -409375 / 53784, 744925 / 462024, -60568 / 8211, 33 / 10],
    [-303504119 / 29218988, -218347 / 3507, 38609375 / 665328, -27907375 / 1905136, 23827180 / 457079,
     -15273 / 668],
    [1661475152 / 109571205, 1026182 / 10521, -242271875 / 2619729, 87388925 / 3214917, -114128192 / 1371237,
     29916 / 835],
    [-1468075291 / 219142410, -1397323 / 31563, 2656240625 / 62873496, -1038976925 / 77158008,
     52384088 / 1371237, -26743 / 1670],
])

#: Hairer & Wanner's SDIRK4 (Solving ODEs II, Table IV.6.5, gamma = 1/4): 5 implicit stages,
#: stage order 1; its embedded solution has R_hat(-inf) = 10/3, so on stiff content (after a
#: fresh application) the estimate is dominated by modes the method itself damps.
SDIRK4_A = np.array([
    [1 / 4, 0.0, 0.0, 0.0, 0.0],
    [1 / 2, 1 / 4, 0.0, 0.0, 0.0],
    [17 / 50, -1 / 25, 1 / 4, 0.0, 0.0],
    [371 / 1360, -137 / 2720, 15 / 544, 1 / 4, 0.0],
    [25 / 24, -49 / 48, 125 / 16, -85 / 12, 1 / 4],
])
SDIRK4_BHAT = np.array([59 / 48, -17 / 96, 225 / 32, -85 / 12, 0.0])
SDIRK4_E = SDIRK4_A[4] - SDIRK4_BHAT
SDIRK4_C = np.array([1 / 4, 3 / 4, 11 / 20, 1 / 2, 1.0])

#: step-size controller of the 4th-order methods: the estimate is that of the embedded 3rd-order
#: solution, O(h^4), and the step advances the 4th-order one (local extrapolation), so a local
#: error held at ``tol`` per step gives a global error ~ h^4 ~ tol: slope 1 in the tolerance.
#: PI control (Gustafsson 1991; Hairer & Wanner II, IV.2, eq. 2.43a) with exponents
#: ``RK_KI / 4`` and ``RK_KP / 4`` on the current and the previous error
RK_KI = 0.7
RK_KP = 0.4
#: What makes ``tolerance`` proportional to the error.  Held at the local tolerance, the
#: embedded estimate of these diffusion problems falls like h^5.3-5.8 rather than h^4, so the
#: steps grow as tol^-0.18 and the error (4th order) like tol^0.73-0.81, measured on the
#: benchmark problem (auto and 4x grids) and a three-layer laminate.  The 4th-order methods
#: therefore control the local error at ``tol (tol / RK_TOL_REF)^(RK_TOL_EXPONENT - 1)``: on the
#: same problems the error then goes as tol^0.98-1.11, 0.005-0.02 tol of the dose from tol 1e-2
#: to 1e-9 (docs/numerics.md), and the default 1e-5 takes the steps it would take unscaled.
RK_TOL_EXPONENT = 4.0 / 3.0
RK_TOL_REF = 1e-5

# status codes
OK, NONFINITE, STEP_UNDERFLOW, TOO_MANY_STEPS = 0, 1, 2, 3

# fstate slots: current time, next step size, time of failure
F_TIME, F_STEP, F_FAIL_TIME = 0, 1, 2
# istate slots: vehicle washed off, node of failure, status
I_WASHED, I_FAIL_NODE, I_STATUS = 0, 1, 2
# stats slots
S_STEPS, S_REJECTED, S_SOLVES = 0, 1, 2

SAFETY = 0.9
GROW_MAX = 5.0
SHRINK_MIN = 0.2


@jit
def next_step(h, err):
    """Step size after a step of size ``h`` with scaled error ``err``.

    Parameters
    ----------
    h : float
        Step just attempted, s.
    err : float
        Scaled local error norm (1 means exactly at tolerance).

    Returns
    -------
    float
        Proposed next step, s.  The local error of TR-BDF2 is O(h^3).
    """
    if err <= 0.0:
        return h * GROW_MAX
    fac = SAFETY * err ** (-1.0 / 3.0)
    if fac > GROW_MAX:
        fac = GROW_MAX
    if fac < SHRINK_MIN:
        fac = SHRINK_MIN
    return h * fac


@jit
def next_step_rk(h, err, err_prev):
    """Step size after a step ``h`` of a 4th-order method with scaled error ``err`` (PI control).

    Parameters
    ----------
    h : float
        Step just attempted, s.
    err : float
        Scaled local error norm of the embedded 3rd-order estimate (1: at tolerance).
    err_prev : float
        Scaled error of the previous accepted step (1 at a start or restart,
        which makes it an I-controller); floored at 1e-4.  After a
        rejection (``err > 1``) the plain ``SAFETY err^(-1/4)``.

    Returns
    -------
    float
        Proposed next step, s; at most :data:`GROW_MAX` and at least
        :data:`SHRINK_MIN` times ``h``.
    """
    if err <= 0.0:
        return h * GROW_MAX
    if err > 1.0:
        # rejected: the plain I-controller, the estimate's own order
        fac = SAFETY * err ** -0.25
    else:
        ep = err_prev if err_prev > 1e-4 else 1e-4
        fac = SAFETY * err ** (-RK_KI / 4.0) * ep ** (RK_KP / 4.0)
    if fac > GROW_MAX:
        fac = GROW_MAX
    if fac < SHRINK_MIN:
        fac = SHRINK_MIN
    return h * fac


@jit
def rk_local_tolerance(tol):
    """The local error tolerance of the 4th-order methods for a user's ``tolerance`` (see ``RK_TOL_EXPONENT``)."""
    return tol * (tol / RK_TOL_REF) ** (RK_TOL_EXPONENT - 1.0)


@jit
def landing_step(h_try, remaining):
    """Step that lands exactly on the next stop without leaving a sliver.

    Parameters
    ----------
    h_try : float
        Step the controller proposes, s.
    remaining : float
        Time left to the next stop (output time or event), s.

    Returns
    -------
    h : float
        Step to take, s.
    last : bool
        True when the step ends exactly on the stop.
    """
    if h_try >= remaining * (1.0 - 1e-12):
        return remaining, True
    if 2.0 * h_try > remaining:
        # two equal steps instead of a full one and a tiny remainder
        return 0.5 * remaining, False
    return h_try, False


#: r-z unit cell only (the 1D column does not use these): after a rejected
#: step, the next accepted steps fit the error's growth between the accepted
#: and the rejected step size and cap the proposal by it (:func:`cap_after_rejection`)
RZ_CAP_TARGET = 0.7
#: accepted steps for which a rejection is remembered
RZ_CAP_MEMORY = 20


@jit
def cap_after_rejection(h, err, h_rej, err_rej, h_prop):
    """Cap a proposed step by the error growth seen between an accepted and a rejected step.

    The I-controller :func:`next_step` assumes ``err ~ h^3``.  In the r-z
    unit cell the estimate can grow much faster than that above some step
    (modes that turn doubly stiff as the step grows, docs/numerics_rz.md),
    and the controller then alternates: accepted at a small error, a
    proposal 2-3x longer, rejected at 5-10x the tolerance.  With the last
    rejection ``(h_rej, err_rej)`` and the accepted ``(h, err)``,
    ``h < h_rej``, the local exponent is ``p = ln(err_rej/err) / ln(h_rej/h)``;
    if ``p > 3`` the proposal is capped at the step where that power law
    reaches :data:`RZ_CAP_TARGET` (never below ``h``).  Otherwise ``h_prop``
    is returned unchanged.

    Parameters
    ----------
    h, err : float
        Step just accepted and its scaled error.
    h_rej, err_rej : float
        Last rejected step and its scaled error (``h_rej <= 0``: none).
    h_prop : float
        The controller's proposal.

    Returns
    -------
    float
        The proposal, possibly capped.
    """
    if h_rej <= 0.0 or h >= h_rej or err <= 1e-10 or err_rej <= err:
        return h_prop
    p = math.log(err_rej / err) / math.log(h_rej / h)
    if p <= 3.0:
        return h_prop
    hc = h * (RZ_CAP_TARGET / err) ** (1.0 / p)
    if hc < h:
        hc = h
    return hc if hc < h_prop else h_prop


@jit(inline="always")
def stop_run(status, t, fstate, istate):
    """Record why and when a time loop stops early (``status``: NONFINITE, STEP_UNDERFLOW, TOO_MANY_STEPS)."""
    istate[I_STATUS] = status
    fstate[F_FAIL_TIME] = t
    fstate[F_TIME] = t
    return status


@jit(inline="always")
def step_after_accept(h, err, h_next):
    """The step after an accepted step ``h`` with scaled error ``err``, ``h_next`` the one proposed before it.

    A step cut short to land on a stop says nothing about the step the
    solution allows: landing does not shrink the proposal.
    """
    h_new = next_step(h, err)
    if h_new < h_next and h < h_next:
        h_new = h_next
    return h_new


@jit(inline="always")
def step_status(accepted, h_next, h_min, t, steps_here, max_steps):
    """OK, or why the loop must stop: after a rejection the next step collapsed below
    ``max(h_min, 8 eps |t|)`` (it could no longer move ``t``), or more than ``max_steps`` steps were taken."""
    if not accepted and h_next < max(h_min, 8.0 * 2.220446049250313e-16 * abs(t)):
        return STEP_UNDERFLOW
    if steps_here > max_steps:
        return TOO_MANY_STEPS
    return OK
