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
