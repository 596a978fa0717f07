"""The 1D driver of ``simulation.integrator = "krylov"``: a rational Krylov propagator where it applies.

The propagator (:mod:`exodiff.kernels.krylov1d`) solves ``C du/dt = A u``
with ``A`` constant, so it applies to a 1D problem whose coefficients never
change between events (:meth:`~exodiff.problem.layered.Problem1D.krylov_obstacle`):
a finite film that does not evaporate or a constant donor (its steady
state exact, the deviation propagated: :func:`_run`; applied once), no
column feeding another (a tracked cargo), no leaking film, no penetration
enhancement.  Its events split the run and the propagator starts again from
the state after each (:func:`_segments`): a wash-off books the film to
``removed`` (a constant donor is taken away, nothing booked) and closes its
face, a receptor sample takes its fraction of the receptor, a later
application puts on a fresh film (or joins the old one).  Anything else is
solved by ESDIRK4 and the result says why (``stats["integrator_fallback"]``).

Error control (docs/numerics.md, "Krylov propagator"): the amounts of the
film, each layer and each compartment, at every output, change by at most
``KRYLOV_ERROR_SHARE x tolerance`` of the column's amount scale between
``k - 2`` and ``k`` vectors; the result is the ``k``-vector one.
"""

from __future__ import annotations

import time
import numpy as np

from exodiff.solvers.common import RawSolution, stop_list
from exodiff.solvers.ledger import film_thickness

#: the accepted difference between ``k`` and ``k - 2`` vectors (and between ``k - 2`` and ``k - 4``), as a share of
#: ``tolerance x`` the amount scale: ESDIRK4's bound at the same tolerance is 0.08 (``TIME_ERROR_AT_1E6``), so a
#: tolerance bounds about the same error with either; the Krylov result is usually far better than its bound
#: (docs/numerics.md, "Krylov propagator")
KRYLOV_ERROR_SHARE = 0.1
#: the most vectors per window before the propagator gives up (ESDIRK4 then solves the problem)
K_MAX = 40
#: compile time of the propagator's kernel in a cold process (s): 10 s on the 2-core machine beside a benchmark
COMPILE_SECONDS = 10
#: the round-off of a propagated state, relative to its amount (summed over the nodes): a constant donor's
#: deviation from its steady state carried 1.7e-12 of it (a receptor 560 times the dose scale: 9e-10 of the
#: dose in the receptor and the supply at every tolerance, an independent check); where this share of the
#: deviation exceeds the target, ESDIRK4 solves the run
ROUNDOFF_SHARE = 1e4 * np.finfo(float).eps
#: :func:`_run`'s status where that round-off would pass the target
ROUNDOFF = -1


def kernel_cached() -> bool:
    """True when the propagator's compiled kernel is in Numba's cache and current (as
    :func:`exodiff.solvers.layered.kernels_cached` reads it: Numba's private index; if it moves, "cached")."""
    try:
        from exodiff.kernels import krylov1d

        return bool(krylov1d.krylov_column._cache._cache_file._load_index())
    except Exception:
        return True


def integrate_krylov(problem) -> RawSolution | str:
    """Solve ``problem`` with the rational Krylov propagator; why not (a short phrase) when it does not converge.

    Returns
    -------
    RawSolution or str
        With ``stats["krylov_vectors"]`` (most in a window), ``"krylov_windows"``
        and ``"solves"``; a str (why not) leaves the problem to ESDIRK4 (the caller says so).
    """
    from exodiff.kernels import krylov1d as K

    arr = problem.columns_arrays()
    S, n = arr["cap"].shape
    L = len(problem.layers)
    P = problem.n_processes
    nc = problem.n_compartments
    times = problem.output_times
    # each column's records contiguous (the kernel's passes over the nodes vectorise only on contiguous rows: a
    # strided column of a (k, S, n) array cost ~25 % of the kernel), seen as (k, S, n) afterwards
    u_cols = np.zeros((S, times.size, n))
    comp_cols = np.zeros((S, times.size, nc))
    check_cols = np.zeros((S, times.size, L + 2 + nc))
    info = np.zeros(3, dtype=np.int64)
    share = KRYLOV_ERROR_SHARE * problem.tolerance
    # the stop list only where there can be events (a wash-off, receptor samples; ~25 us a fresh problem)
    events = problem.wash_off_time is not None or bool(problem.sampling_times) or bool(problem.application_times)
    schedule = stop_list(problem) if events else None
    receptor = problem.has_receptor
    t0 = time.perf_counter()
    for s in range(S):
        u0 = np.zeros(n)
        u0[0] = problem.concentration * arr["weight"][s]
        args = (arr["closs"][s], arr["node_layer"], L)
        target = share * arr["m_ref"][s]
        rec = (u_cols[s], comp_cols[s], check_cols[s])
        donor = None
        if problem.vehicle == "infinite":
            donor = _steady_state(arr["cap"][s], arr["g"][s], args, u0[0], nc, receptor)
            if donor is None:
                return "the constant donor's steady state is not finite"
        if schedule is None or not schedule[2].any():
            status = _run(K, arr["cap"][s], arr["g"][s], args, u0, np.zeros(nc), times, target, rec, info, donor,
                          receptor)
        else:
            status = _segments(K, arr["cap"][s], arr["g"][s], args, u0, nc, schedule, target, rec, info,
                               (P * L + 1, P * L, L), problem.sample_fraction, donor, problem.vehicle_thickness,
                               receptor)
        if status == K.NONFINITE:
            return "a value that is not finite"
        if status == ROUNDOFF:
            return "the deviation from the constant donor's steady state carries round-off above the tolerance"
        if status != K.OK:
            return f"{K_MAX} vectors did not reach the tolerance"
    wall = time.perf_counter() - t0
    u_out, comp_out, check = (a.transpose(1, 0, 2) for a in (u_cols, comp_cols, check_cols))
    if S > 1:
        u_out, comp_out = np.ascontiguousarray(u_out), np.ascontiguousarray(comp_out)
    raw = RawSolution(times=times.copy(), u=u_out[:, 0], comp=comp_out[:, 0],
                      stats={"steps": 0, "rejected": 0, "solves": int(info[K.I_SOLVES]), "wall_time_s": wall,
                             "columns": S, "krylov_vectors": int(info[K.I_VECTORS]),
                             "krylov_windows": int(info[K.I_WINDOWS])},
                      u_cols=u_out, comp_cols=comp_out)
    raw.stats["integrator"] = "krylov"
    raw.lower_order = _LowerOrder(check, problem, arr["cap"][:, -1], L)
    return raw


def superposed_driver(problem, stops, out_idx, events, n_records: int):
    """The propagator as the superposition's ``z0`` runner: ``(advance, u_out, comp_out, stats, fstate, None)``
    as :func:`exodiff.solvers.layered._kernel_driver` returns them (no interpolation, so no gap), for a washed regimen of a film that does not
    evaporate (:func:`exodiff.solvers.superposition.plan` and :meth:`Problem1D.krylov_obstacle` both hold).

    ``advance(k0, events)`` propagates from stop ``k0`` to the stop list's end or to a stop flagged
    ``EVENT_PAUSE``, one propagator call per stretch between events (outputs at the same time share one
    state), applying each stop's events in the kernels' order (wash, a later application's empty film,
    record, sample) and recording states and compartments into ``u_out``, ``comp_out`` (``n_records`` rows,
    each column's); it returns the first stop not done.  A propagator that does not converge raises
    SolverError (the caller then runs the regimen application by application).  ``stats``: 0 steps,
    0 rejected, the solves; ``fstate`` only holds what the caller may set (its content floor, which the
    propagator's absolute target does not need).
    """
    from exodiff.errors import SolverError
    from exodiff.kernels import krylov1d as K
    from exodiff.kernels.column1d import EVENT_ADD, EVENT_APPLY, EVENT_PAUSE, EVENT_SAMPLE, EVENT_WASH, N_FSTATE

    arr = problem.columns_arrays()
    S, n = arr["cap"].shape
    L = len(problem.layers)
    P = problem.n_processes
    nc = problem.n_compartments
    removed, bottom = P * L + 1, P * L
    receptor = problem.has_receptor
    u_out = np.zeros((n_records, S, n))
    comp_out = np.zeros((n_records, S, nc))
    state = np.zeros((S, n))
    state[:, 0] = problem.concentration * arr["weight"]
    comp = np.zeros((S, nc))
    u_out[0] = state
    g = arr["g"].copy()
    g_film = arr["g"][:, 1].copy()
    targets = KRYLOV_ERROR_SHARE * problem.tolerance * arr["m_ref"]
    info = np.zeros(3, dtype=np.int64)
    stats = np.zeros(3, dtype=np.int64)
    fstate = np.zeros(N_FSTATE)
    now = {"t": 0.0, "washed": False}
    every = EVENT_WASH | EVENT_SAMPLE | EVENT_APPLY | EVENT_ADD | EVENT_PAUSE

    def propagate(times, rows):
        """From the state at ``times[0]`` over ``times`` (increasing); ``rows[i]``: the records of time ``i``."""
        for s in range(S):
            rec = tuple(np.zeros((times.size, w)) for w in (n, nc, L + 2 + nc))
            status = K.krylov_column(arr["cap"][s], g[s], arr["closs"][s], arr["node_layer"], L, state[s], comp[s],
                                     False, receptor, times, targets[s], K_MAX, *rec, info)
            if status != K.OK:
                raise SolverError(f"the Krylov propagator did not reach the tolerance within {K_MAX} vectors "
                                  f"before t = {times[-1] / 3600:.4g} h")
            for i, rs in enumerate(rows):
                for r in rs:
                    u_out[r, s], comp_out[r, s] = rec[0][i], rec[1][i]
            state[s], comp[s] = rec[0][-1], rec[1][-1]
        stats[2] = info[K.I_SOLVES]

    def advance(k0, ev):
        times, rows = [now["t"]], [[]]
        k = k0
        while k < stops.size:
            t = float(stops[k])
            if t > times[-1]:
                times.append(t)
                rows.append([])
            if not ev[k] & every:
                if out_idx[k] >= 0:
                    rows[-1].append(int(out_idx[k]))
                k += 1
                continue
            if len(times) > 1:
                propagate(np.array(times), rows)
            else:
                for r in rows[0]:
                    u_out[r], comp_out[r] = state, comp
            now["t"] = t
            if ev[k] & EVENT_WASH and not now["washed"]:
                comp[:, removed] += arr["cap"][:, 0] * state[:, 0]
                state[:, 0] = 0.0
                g[:, 1] = 0.0
                now["washed"] = True
            if ev[k] & (EVENT_APPLY | EVENT_ADD):  # z0's later films are empty (what is left washed off first)
                if not now["washed"]:
                    comp[:, removed] += arr["cap"][:, 0] * state[:, 0]
                state[:, 0] = 0.0
                g[:, 1] = g_film
                now["washed"] = False
            if out_idx[k] >= 0:
                u_out[out_idx[k]], comp_out[out_idx[k]] = state, comp
            if ev[k] & EVENT_SAMPLE:
                taken = problem.sample_fraction * state[:, -1]
                state[:, -1] -= taken
                comp[:, bottom] += arr["cap"][:, -1] * taken
            k += 1
            if ev[k - 1] & EVENT_PAUSE:
                return k
            times, rows = [t], [[]]
        if len(times) > 1:
            propagate(np.array(times), rows)
            now["t"] = times[-1]
        else:
            for r in rows[0]:
                u_out[r], comp_out[r] = state, comp
        return k

    return advance, u_out, comp_out, stats, fstate, None


def _run(K, cap, g, args, state, comp, times, target, rec, info, donor, receptor):
    """The propagator from ``state`` and ``comp`` at ``times[0]`` over ``times``, into ``rec`` (``(u, comp,
    check)`` rows, filled in place): directly, or under a constant donor (``donor``, :func:`_steady_state`) the
    deviation from its steady state with the film's node pinned, the steady part added exactly."""
    if donor is None:
        return K.krylov_column(cap, g, *args, state, comp, False, receptor, times, target, K_MAX, *rec, info)
    u_ss, steady, amounts = donor
    # the deviation has no capacity at the pinned film: the donor's supply enters the balance through its face
    cap_w = cap.copy()
    cap_w[0] = 0.0
    w0 = state - u_ss
    w0[0] = 0.0
    if ROUNDOFF_SHARE * np.sum(cap_w * np.abs(w0)) > target:
        return ROUNDOFF
    status = K.krylov_column(cap_w, g, *args, w0, comp, True, receptor, times, target, K_MAX, *rec, info)
    if status != K.OK:
        return status
    u_rec, comp_rec, check_rec = rec
    L = args[2]
    dt = (times - times[0])[:, None]
    u_rec += u_ss[None, :]
    u_rec[:, 0] = u_ss[0]
    comp_rec += steady[None, :] * dt
    check_rec[:, 0] = cap[0] * u_ss[0]
    check_rec[:, 1:L + 1] += amounts[None, :]
    check_rec[:, L + 1] += cap[-1] * u_ss[-1]
    check_rec[:, L + 2:] += steady[None, :] * dt
    return status


def _segments(K, cap, g, args, u0, nc, schedule, target, rec, info, slots, sample_fraction, donor, h0, receptor):
    """One column through its events: the propagator between them, each event applied to the state between.

    ``schedule``: the problem's stop list (:func:`~exodiff.solvers.common.stop_list`: its stops, output index
    and event flags), so events fall on outputs by its rule.  A wash-off books the film to ``removed`` and
    closes its face (``g[1] = 0``, the kernels' ``g1`` after a wash); a constant donor (``donor``, its
    steady state) is taken away instead, nothing booked, and the column runs on from its state without a
    supply.  A later application (a regimen) washes what is left of the film to ``removed`` and puts on a
    fresh one, ``h0`` (m) of the first film's concentration, its face open again; joined
    (``EVENT_ADD``, docs/model.md 1.2) the fresh film adds to an unwashed one, thicknesses and amounts
    (the kernels' ``new_film`` without evaporation, which the propagator does not take).  A sample takes
    ``sample_fraction`` of the receptor (the last node) to the bottom slot.  An output at an event shows the
    state washed and re-applied but not yet sampled, as the kernels record it (wash, apply, record,
    sample).  ``rec``: the column's ``(u, comp, check)`` records, filled in place.
    """
    from exodiff.kernels.column1d import EVENT_ADD, EVENT_APPLY, EVENT_SAMPLE, EVENT_WASH

    stops, out_idx, ev = schedule
    removed, bottom, n_layers = slots
    u_rec, comp_rec, check_rec = rec
    state, comp = u0, np.zeros(nc)
    c_film, g_film, washed = u0[0], g[1], False
    seg, rows, first, status = [0.0], [], True, K.OK
    for k in range(stops.size + 1):
        last = k == stops.size
        if not last and not ev[k] & (EVENT_WASH | EVENT_SAMPLE | EVENT_APPLY | EVENT_ADD):
            seg.append(stops[k])  # an output (a stop with no event is one)
            rows.append(out_idx[k])
            continue
        if not last:
            seg.append(stops[k])
        if len(seg) > 1:
            out = tuple(np.zeros((len(seg), a.shape[1])) for a in rec)
            status = _run(K, cap, g, args, state, comp, np.array(seg), target, out, info, donor, receptor)
            if status != K.OK:
                return status
            if first:  # its start is the output at t = 0
                for r, o in zip(rec, out):
                    r[0] = o[0]
                first = False
            for r, o in zip(rec, out):
                r[rows] = o[1:1 + len(rows)]
        if last:
            break
        state, comp, check = (o[-1].copy() for o in out)
        if ev[k] & EVENT_WASH and not washed:
            if donor is None:
                comp[removed] += cap[0] * state[0]
                check[2 + n_layers + removed] += check[0]  # what k - 2 vectors left in the film, washed alike
            donor = None
            state[0] = 0.0
            check[0] = 0.0
            g = g.copy()
            g[1] = 0.0
            washed = True
        if ev[k] & (EVENT_APPLY | EVENT_ADD):
            h_old = cap[0]
            cap = cap.copy()
            if ev[k] & EVENT_ADD and not washed:  # amounts add in the joined film
                cap[0] = h_old + h0
                state[0] = (h_old * state[0] + h0 * c_film) / cap[0]
                check[0] += h0 * c_film
            else:  # what is left of the old film is washed off first
                if not washed:
                    comp[removed] += h_old * state[0]
                    check[2 + n_layers + removed] += check[0]
                cap[0] = h0
                state[0] = c_film
                check[0] = h0 * c_film
            g = g.copy()
            g[1] = g_film
            washed = False
        if out_idx[k] >= 0:
            u_rec[out_idx[k]], comp_rec[out_idx[k]], check_rec[out_idx[k]] = state, comp, check
        if ev[k] & EVENT_SAMPLE:
            taken = sample_fraction * state[-1]
            state[-1] -= taken
            comp[bottom] += cap[-1] * taken
            taken = sample_fraction * check[1 + n_layers]  # k - 2 vectors' receptor, sampled alike
            check[1 + n_layers] -= taken
            check[2 + n_layers + bottom] += taken
        seg, rows = [float(stops[k])], []
    return status


def _steady_state(cap, g, args, c_donor, nc, receptor):
    """A constant donor's steady state: ``(u_ss, compartment rates, layer amounts)``, or None where it is not
    finite.

    ``u_ss`` by one tridiagonal solve over the nodes the donor reaches (from node 1 down to the first closed
    face: a layer the active cannot enter, a closed bottom); the nodes beyond hold nothing now and never will,
    so their steady state is 0.  The supply is what the losses take, their sum, exact, instead of
    ``g1 (c - u_ss[1])``, which carries the solve's residual (eps g c: 6.7e-9 of the supply over 60 h on a
    layer with g / C ~ 1e9).
    """
    from exodiff.kernels.column1d import column_compartment_rates
    from exodiff.kernels.tridiag import thomas

    closs, node_layer, n_layers = args
    n = cap.size
    loss = closs.sum(axis=0)
    u_ss = np.zeros(n)
    u_ss[0] = c_donor
    # the donor reaches nodes 1 .. end - 1: up to the first closed face below node 1
    closed = np.flatnonzero(g[1:n] == 0.0)
    end = 1 + int(closed[0]) if closed.size else n
    if end > 1:
        m = end - 1
        # A_t u_ss = -b on those nodes: the donor's face on node 1's diagonal, its supply g1 c_donor the source
        lower = np.concatenate([[0.0], g[2:end]])
        upper = np.concatenate([g[2:end], [0.0]])
        diag = -(g[1:end] + g[2:end + 1] + loss[1:end])
        rhs = np.zeros(m)
        rhs[0] = -g[1] * c_donor
        thomas(lower, diag, upper, rhs, u_ss[1:end], np.zeros(m))
    if not np.all(np.isfinite(u_ss)):
        return None
    steady = np.zeros(nc)
    column_compartment_rates(u_ss, g, g[1], closs, node_layer, n_layers, steady)
    P = closs.shape[0]
    steady[P * n_layers + 2] = steady[:P * n_layers + 1].sum()
    amounts = np.zeros(n_layers)
    cells = slice(1, n - 1 if receptor else n)
    np.add.at(amounts, node_layer[cells], cap[cells] * u_ss[cells])
    return u_ss, steady, amounts


class _LowerOrder:
    """What ``k - 2`` vectors gave, as a check run that kept amounts (film ``u``, each layer's amount, last
    node's ``u``): :meth:`raw` builds that RawSolution when an error estimate asks (most solves never do).
    The film's ``u`` is its amount over its thickness at each output (a joined regimen's grows); the last
    node's, over ``last_cap``, each column's last node's capacity (m)."""

    def __init__(self, check, problem, last_cap, n_layers):
        self.check, self.problem, self.last_cap, self.n_layers = check, problem, last_cap, n_layers

    def raw(self, times) -> RawSolution:
        check, L = self.check, self.n_layers
        film = film_thickness(self.problem, times)
        u2 = np.stack([check[:, :, 0] / film[:, None], check[:, :, L + 1] / self.last_cap[None, :]], axis=2)
        return RawSolution(times=times.copy(), u=u2[:, 0], comp=check[:, 0, L + 2:],
                           stats={"integrator": "krylov", "columns": check.shape[1]}, u_cols=u2,
                           comp_cols=check[:, :, L + 2:], layer_cols=check[:, :, 1:L + 1])
