"""The 1D driver of ``simulation.integrator = "krylov"``: a rational Krylov propagator where it applies.

The propagator (:mod:`exodiff.kernels.krylov1d`) solves ``C du/dt = A u``
with ``A`` constant, so it applies to a 1D problem whose coefficients never
change between events (:meth:`~exodiff.problem.layered.Problem1D.krylov_obstacle`):
a finite film that does not evaporate, no later application, no receptor
sampling, no column feeding another (a tracked cargo), no leaking film, no
penetration enhancement.  A wash-off splits the run in two: the film is
booked to ``removed`` and its face closed, and the propagator starts again
from the washed state.  Anything else is solved by ESDIRK4 and the result says why
(``stats["integrator_fallback"]``).

Error control (docs/numerics.md, "Krylov propagator"): the amounts of the
film, each layer and each compartment, at every output, change by at most
``KRYLOV_ERROR_SHARE x tolerance`` of the column's amount scale between
``k - 2`` and ``k`` vectors; the result is the ``k``-vector one.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from exodiff.solvers.common import RawSolution

#: the accepted difference between ``k`` and ``k - 2`` vectors (and between ``k - 2`` and ``k - 4``), as a share of
#: ``tolerance x`` the amount scale: ESDIRK4's bound at the same tolerance is 0.08 (``TIME_ERROR_AT_1E6``), so a
#: tolerance bounds about the same error with either; the Krylov result is usually far better than its bound
#: (docs/numerics.md, "Krylov propagator")
KRYLOV_ERROR_SHARE = 0.1
#: the most vectors per window before the propagator gives up (ESDIRK4 then solves the problem)
K_MAX = 40
#: compile time of the propagator's kernel in a cold process (s): 10 s on the 2-core machine beside a benchmark
COMPILE_SECONDS = 10


def kernel_cached() -> bool:
    """True when the propagator's compiled kernel is in Numba's cache and current (as
    :func:`exodiff.solvers.layered.kernels_cached` reads it: Numba's private index; if it moves, "cached")."""
    try:
        from exodiff.kernels import krylov1d

        return bool(krylov1d.krylov_column._cache._cache_file._load_index())
    except Exception:
        return True


def not_applicable(problem) -> str | None:
    """Why the propagator cannot solve ``problem`` (a short phrase), or None when it can
    (:meth:`~exodiff.problem.layered.Problem1D.krylov_obstacle`)."""
    return problem.krylov_obstacle()


def integrate_krylov(problem) -> RawSolution | None:
    """Solve ``problem`` with the rational Krylov propagator; None when it does not apply or does not converge.

    Returns
    -------
    RawSolution or None
        With ``stats["krylov_vectors"]`` (most in a window), ``"krylov_windows"``
        and ``"solves"``; None leaves the problem to ESDIRK4 (the caller says so).
    """
    from exodiff.kernels import krylov1d as K

    arr = problem.columns_arrays()
    S, n = arr["cap"].shape
    L = len(problem.layers)
    P = problem.n_processes
    nc = P * L + 3
    times = problem.output_times
    # each column's records contiguous (the kernel's passes over the nodes vectorise only on contiguous rows: a
    # strided column of a (k, S, n) array cost ~25 % of the kernel), seen as (k, S, n) afterwards
    u_cols = np.zeros((S, times.size, n))
    comp_cols = np.zeros((S, times.size, nc))
    check_cols = np.zeros((S, times.size, L + 2 + nc))
    info = np.zeros(3, dtype=np.int64)
    share = KRYLOV_ERROR_SHARE * problem.tolerance
    wash = _wash_rows(problem)
    t0 = time.perf_counter()
    for s in range(S):
        u0 = np.zeros(n)
        u0[0] = problem.concentration * arr["weight"][s]
        args = (arr["closs"][s], arr["node_layer"], L)
        target = share * arr["m_ref"][s]
        if wash is None:
            status = K.krylov_column(arr["cap"][s], arr["g"][s], *args, u0, np.zeros(nc), times, target, K_MAX,
                                     u_cols[s], comp_cols[s], check_cols[s], info)
        else:
            status = _washed_column(K, arr["cap"][s], arr["g"][s], args, u0, nc, times, wash, target, u_cols[s],
                                    comp_cols[s], check_cols[s], info, P * L + 1)
        if status != K.OK:
            return None
    wall = time.perf_counter() - t0
    u_out, comp_out, check = (np.moveaxis(a, 0, 1) for a in (u_cols, comp_cols, check_cols))
    if S > 1:
        u_out, comp_out = np.ascontiguousarray(u_out), np.ascontiguousarray(comp_out)
    raw = RawSolution(times=times.copy(), u=u_out[:, 0], comp=comp_out[:, 0],
                      stats={"steps": 0, "rejected": 0, "solves": int(info[K.I_SOLVES]), "wall_time_s": wall,
                             "columns": S, "krylov_vectors": int(info[K.I_VECTORS]),
                             "krylov_windows": int(info[K.I_WINDOWS])},
                      u_cols=u_out, comp_cols=comp_out)
    raw.stats["integrator"] = "krylov"
    raw.lower_order = _LowerOrder(check, arr["cap"][:, 0], L)
    return raw


def _wash_rows(problem):
    """Where the wash-off falls among the outputs: ``(j, at_output, t_wash)``, outputs ``:j`` before it and,
    with ``at_output``, output ``j`` at it (recorded washed, as the kernels do); None without a wash-off in
    the run.  An output within ``1e-9 max(t, 1 s)`` of the wash is at it (the stop list's rule)."""
    tw = problem.wash_off_time
    times = problem.output_times
    if tw is None or not 0.0 < tw <= times[-1]:
        return None
    j = int(np.searchsorted(times, tw - 1e-9 * max(tw, 1.0)))
    at = j < times.size and abs(times[j] - tw) <= 1e-9 * max(tw, 1.0)
    return j, at, float(times[j]) if at else float(tw)


def _washed_column(K, cap, g, args, u0, nc, times, wash, target, u_rec, comp_rec, check_rec, info, removed):
    """One column with a wash-off: the propagator up to the wash, the film booked to ``removed`` and its face
    closed (``g[1] = 0``, as the kernels' ``g1`` after a wash), then the propagator from there."""
    j, at, tw = wash
    seg1 = np.append(times[:j], tw)
    u1, c1, k1 = (np.zeros((seg1.size, w)) for w in (cap.size, nc, check_rec.shape[1]))
    status = K.krylov_column(cap, g, *args, u0, np.zeros(nc), seg1, target, K_MAX, u1, c1, k1, info)
    if status != K.OK:
        return status
    state, comp = u1[-1].copy(), c1[-1].copy()
    comp[removed] += cap[0] * state[0]
    state[0] = 0.0
    closed = g.copy()
    closed[1] = 0.0
    seg2 = np.concatenate([[tw], times[j + 1 if at else j:]])
    u2, c2, k2 = (np.zeros((seg2.size, w)) for w in (cap.size, nc, check_rec.shape[1]))
    status = K.krylov_column(cap, closed, *args, state, comp, seg2, target, K_MAX, u2, c2, k2, info)
    if status != K.OK:
        return status
    skip = 0 if at else 1  # the washed state is an output only when one falls at the wash
    for rec, a, b in ((u_rec, u1, u2), (comp_rec, c1, c2), (check_rec, k1, k2)):
        rec[:j] = a[:j]
        rec[j:] = b[skip:]
    return status


class _LowerOrder:
    """What ``k - 2`` vectors gave, as a check run that kept amounts (film ``u``, each layer's amount, last
    node's ``u``): :meth:`raw` builds that RawSolution when an error estimate asks (most solves never do)."""

    def __init__(self, check, film_cap, n_layers):
        self.check, self.film_cap, self.n_layers = check, film_cap, n_layers

    def raw(self, times) -> RawSolution:
        check, L = self.check, self.n_layers
        u2 = np.stack([check[:, :, 0] / self.film_cap[None, :], check[:, :, L + 1]], axis=2)
        return RawSolution(times=times.copy(), u=u2[:, 0], comp=check[:, 0, L + 2:],
                           stats={"integrator": "krylov", "columns": check.shape[1]}, u_cols=u2,
                           comp_cols=check[:, :, L + 2:], layer_cols=check[:, :, 1:L + 1])


def fallback(problem):
    """The same problem for ESDIRK4 (where the propagator does not apply)."""
    return replace(problem, integrator="esdirk4")
