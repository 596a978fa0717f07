"""A washed regimen as a sum of shifted copies of one response (the 1D fast path of a regimen).

The 1D problem is linear in the amounts, and with ``wash_before_reapplication``
its schedule (film thickness, evaporation clock, washes) does not depend on
them.  Let ``z0(t)`` be the response to the first application alone, where
every later application washes the film off (booked to ``removed``, as the
regimen does) and puts on an *empty* film of the same vehicle (same
thickness, evaporation clock restarting, concentration 0).  With
applications at ``t_j = j T`` every coefficient is constant or anchored to
the latest application, so application ``j`` alone answers ``z0(t - t_j)``
and the regimen is ``sum_j z0(t - t_j)`` (``z0 = 0`` before its start):
states, compartments and ledger alike.  One run of ``z0`` with cheap "wash +
empty film" events replaces the fresh-film transients of every application
(docs/model.md, section 1.2, says why it is exact and why summing copies of a
single *unwashed* application is not).

After a few applications ``z0`` settles into its slowest mode: each interval
repeats the one before, scaled by a ratio ``lambda`` (what one "wash + empty
film" interval leaves of the residue).  Once the state just before an
application is that multiple of the one before, to a small share of the
tolerance in every layer (:func:`tail_ratios`), the rest of ``z0`` is the
last interval scaled by ``lambda`` again and again (:func:`extend_tail`), so
the kernel stops there instead of restarting at every later application.

This module decides when that is exact (:func:`plan`), builds the stop list
of ``z0`` (:func:`z0_stops`), ends it geometrically (:func:`tail_ratios`,
:func:`extend_tail`) and adds the copies up (:func:`superpose`).  The driver
(:func:`exodiff.solvers.layered.integrate`) runs the kernel.
"""

from __future__ import annotations

import numpy as np

from exodiff.solvers.common import cached_arrays, film_schedule, schedule_cache, stop_list

#: relative tolerance on times (s) for "the same time": the stop list's own (1e-9 max(t, 1 s))
TIME_RTOL = 1e-9

#: the fast path is taken when exact; False forces the direct path everywhere (tests compare the two)
ENABLED = True
#: ``z0`` ends geometrically once settled (:func:`tail_ratios`); False runs it to the end (tests compare the two)
GEOMETRIC_TAIL = True
#: ``z0``'s tolerance after its first interval follows what the regimen holds (:func:`content_floor`), not its
#: own residue; False: its own residue (tests compare the two)
Z0_CONTENT_FLOOR = True


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= TIME_RTOL * max(abs(a), abs(b), 1.0)


def plan(problem):
    """Why the superposition is exact for ``problem``, as ``(shift, tail_event)``, or None when it is not.

    ``shift``: the interval ``T`` in output steps; ``tail_event``: the last
    output time is the (absent) application after the last one, ``N T``,
    where each later copy needs ``z0`` as it was just before its wash.

    Conditions (each breaks the time-shift invariance otherwise): a finite
    film washed before each reapplication (a joined film mixes copies); at
    least two applications at a constant interval ``T``, the last by the
    last output (a validated scenario's are); uniform output
    times with ``T`` a whole number of output intervals; the run ends by
    ``N T`` (after it a copy would see a wash the regimen does not have); a
    wash-off time strictly inside an interval, or none within the run; no
    receptor samples (anchored to absolute time).
    """
    if not ENABLED:
        return None
    cache = schedule_cache(problem)
    if "plan" not in cache:
        cache["plan"] = _plan(problem)
    return cache["plan"]


def _plan(problem):
    if not problem.application_times or problem.join_film or problem.vehicle != "finite":
        return None
    starts = np.asarray(problem.all_application_times, dtype=float)
    N = starts.size
    T = float(starts[1])
    if T <= 0.0 or not all(_same(float(t), k * T) for k, t in enumerate(starts)):
        return None
    times = np.asarray(problem.output_times, dtype=float)
    if times.size < 2 or times[0] != 0.0 or starts[-1] > times[-1]:
        return None
    dt = float(times[1] - times[0])
    if dt <= 0.0 or not np.allclose(np.diff(times), dt, rtol=TIME_RTOL, atol=0.0):
        return None
    shift = round(T / dt)
    if shift < 1 or not _same(shift * dt, T):
        return None
    t_end = float(times[-1])
    if t_end > N * T and not _same(t_end, N * T):
        return None
    tail_event = _same(t_end, N * T)
    tw = problem.wash_off_time
    if tw is not None:
        inside = tw < T and not _same(tw, T)  # a wash in every interval, at the same place in each
        never = starts[-1] + tw > t_end and not _same(starts[-1] + tw, t_end)  # none within the run
        if not (inside or never):
            return None
    if problem.sample_fraction > 0.0 and any(0.0 < t <= t_end * (1 + TIME_RTOL) for t in problem.sampling_times):
        return None
    if round(t_end / dt) + 1 != times.size:
        return None
    return shift, tail_event


def z0_stops(problem):
    """The stop list of ``z0``: the regimen's own (every event is the same for ``z0``), and a record of the state
    just before each later application (extra output slots after the output grid's, in order of the
    applications: application ``m`` in slot ``k + m - 1``).  A run ending at ``N T`` sums them
    (:func:`superpose`); the geometric tail compares them (:func:`tail_ratios`).

    Returns
    -------
    stops, out_idx, events, n_records
        As :func:`exodiff.solvers.common.stop_list`; ``n_records`` the rows the kernel's output arrays need.
    """
    return cached_arrays(problem, "z0_stops", _z0_stops)


def _z0_stops(problem):
    from exodiff.kernels.column1d import EVENT_APPLY

    stops, idx, ev = stop_list(problem)
    k = problem.output_times.size
    apply_at = np.flatnonzero(ev & EVENT_APPLY)
    # a plain output stop at the same time, before the event's stop: the kernel lands there (or, with
    # ESDIRK4, interpolates at the end of the step that lands on the event) and records before the wash
    extra = np.arange(k, k + apply_at.size, dtype=np.int64)
    stops = np.insert(stops, apply_at, stops[apply_at])
    idx = np.insert(idx, apply_at, extra)
    ev = np.insert(ev, apply_at, 0)
    return stops, idx, ev, k + apply_at.size


def superpose(z: np.ndarray, shift: int, n_apps: int, k: int, tail_event: bool, inplace: bool = False) -> np.ndarray:
    """The regimen's records from those of ``z0``: ``x[i] = sum_j z[i - j shift]`` over the copies started by ``i``.

    Parameters
    ----------
    z : float64[r, ...]
        ``z0``'s records: the ``k`` output times, then (``tail_event``) the
        states just before each later application.
    shift : int
        The interval in output steps.
    n_apps : int
        Applications ``N``.
    inplace : bool
        Sum into ``z``'s own rows (the result is a view of them; a fresh array
        of a regimen's 673 outputs cost ~0.3 ms in first touches alone), when
        no copy that never starts has to be taken off (``k <= N shift``, or
        ``N shift + 1`` ending at ``N T``); otherwise a new array as without.

    Returns
    -------
    float64[k, ...]
    """
    end = n_apps * shift
    if inplace and (k <= end or (tail_event and k == end + 1)):
        last_z = z[k - 1].copy() if tail_event else None
        _running_sum(z, shift, shift, k)
        out = z[:k]
        if tail_event:
            out[k - 1] = last_z
            for j in range(1, n_apps):
                out[k - 1] += z[k + n_apps - j - 1]
        return out
    out = np.empty((k,) + z.shape[1:])
    # x[i] = z[i] + x[i - shift] (- z[i - N shift] once the first copy has N successors that never start):
    # one pass over the rows instead of one per copy (N passes cost ~1.5 ms for 28 applications of 672
    # outputs), written in place (a running sum over the intervals, np.cumsum on the interval axis, is 4x slower)
    out[:min(shift, k)] = z[:min(shift, k)]
    for a in range(shift, k, shift):
        b = min(a + shift, k)
        np.add(z[a:b], out[a - shift:b - shift], out=out[a:b])
        if b > end:
            lo = max(a, end)
            out[lo:b] -= z[lo - end:b - end]
    if tail_event:
        # the run ends at N T: copy j >= 1 is z0 at (N - j) T just before that application's wash (the regimen
        # has none at N T), recorded in slot k + N - j - 1
        last = k - 1
        out[last] = z[last]
        for j in range(1, n_apps):
            out[last] += z[k + n_apps - j - 1]
    return out


def _running_sum(z: np.ndarray, shift: int, r0: int, r1: int) -> None:
    """``z[r] += z[r - shift]`` for ``r0 <= r < r1`` in row order, in place (compiled for contiguous records:
    one call instead of two numpy calls per interval)."""
    if r1 <= r0:
        return
    if z.flags.c_contiguous:
        from exodiff.kernels.shifted_sums import add_shifted

        add_shifted(z.reshape(z.shape[0], -1), shift, r0, r1)
        return
    for a in range(r0, r1, shift):
        b = min(a + shift, r1)
        z[a:b] += z[a - shift:b - shift]


#: share of the local tolerance the geometric tail may add to any layer: ``z0`` is ended by scaling once
#: the state before an application is ``lambda`` times the one before to ``TAIL_SHARE x tolerance x
#: (1 - lambda)`` of the most that layer held (the ``1 - lambda``: the deviation's effect adds up over the
#: later intervals as a geometric series)
TAIL_SHARE = 0.01


def tail_allowed(problem) -> bool:
    """The geometric tail may end ``z0``: not with a tracked cargo.

    A cargo's ledger ties its column to the vesicles' (what they set free),
    and one ratio per column cannot keep both ledgers closed to round-off:
    the vesicle columns' ratio and the cargo's differ by the deviation the
    test allows, so the cargo ledger would be off by about that much.
    Size classes are independent columns, each with its own ratio.
    """
    return GEOMETRIC_TAIL and not any(c.species == "cargo" for c in problem.all_columns)


def content_floor(problem, first: np.ndarray, end: np.ndarray, h_end: float, n_apps: int) -> float:
    """The floor of ``z0``'s absolute tolerance after its first interval, as a share of the dose scale.

    The kernels' absolute tolerance is a share of what a column holds
    (:func:`exodiff.kernels.column1d.content_atol`).  ``z0``'s own residue
    falls by orders of magnitude over the intervals, but the regimen at a
    time ``j T + phi`` holds at least its newest copy, ``z0`` at ``phi`` in its
    first interval; and at most ``N`` copies add their errors.  So ``z0`` need
    not be held to less than ``1/N`` of the least its first interval held
    (share of the dose scale, every column together): a tighter control
    resolved each empty film's pull-back relative to a residue 1e-16 of the
    dose and made ``z0`` cost up to 2x the direct run.

    ``first`` (shift, S, n): ``z0``'s states at the outputs of its first
    interval; ``end`` (S, n): its state just before the second application,
    when the film is ``h_end`` thick (m).
    """
    # the film at those outputs is the regimen's (the same film in the first interval)
    h = np.append(film_schedule(problem).thickness[:first.shape[0]], h_end)
    rows = np.concatenate([first, end[None]])
    held = _grouped(problem, np.abs(rows), h[:, None]).sum(axis=(1, 2))
    return float(held.min() / problem.columns_arrays()["m_ref"].sum() / n_apps)


def _group_weights(problem) -> np.ndarray:
    """``(S, n, 1 + L)``: each node's capacity in the column of its group (film, layers; a receptor with the
    deepest layer), the film's node with weight 1 (its thickness is the caller's).  Built once per problem."""
    cached = problem.__dict__.get("_group_weights")
    if cached is None:
        arr = problem.columns_arrays()
        cap = arr["cap"]
        groups = arr["node_layer"] + 1  # the film is layer -1
        cached = np.zeros(cap.shape + (len(problem.layers) + 1,))
        nodes = np.arange(cap.shape[1])
        cached[:, nodes, groups] = cap
        cached[:, 0, 0] = 1.0
        object.__setattr__(problem, "_group_weights", cached)
    return cached


def _grouped(problem, u: np.ndarray, h_film) -> np.ndarray:
    """``u`` (..., S, n) as amounts summed over the film (``h_film`` thick, m: a number, or an array
    broadcasting against ``u[..., 0]``), each layer and the receptor: ``(..., S, 1 + L)``.  One matrix product
    per column (the amounts per node, then a masked sum per group, cost ~10 numpy calls per row block)."""
    out = np.matmul(u[..., None, :], _group_weights(problem))[..., 0, :]
    out[..., 0] *= h_film
    return out


def _reduce_weights(problem) -> np.ndarray:
    """``(S, n, L + 2)``: the film's node (weight 1), each cell's ``K dz`` in its layer's column (the ledgers'
    own weights, :func:`~exodiff.solvers.ledger.column_layer_weights`), the last node (weight 1).  Built once
    per problem."""
    from exodiff.solvers.ledger import column_layer_weights

    cached = problem.__dict__.get("_reduce_weights")
    if cached is None:
        S, n = problem.columns_arrays()["cap"].shape
        L = len(problem.layers)
        cached = np.zeros((S, n, L + 2))
        cached[:, 0, 0] = 1.0
        for s in range(S):
            cached[s, problem.cell_nodes, 1:L + 1] = column_layer_weights(problem, s)
        cached[:, n - 1, L + 1] = 1.0
        object.__setattr__(problem, "_reduce_weights", cached)
    return cached


def reduce_records(problem, u: np.ndarray, a: int | None, shift: int, k: int) -> np.ndarray:
    """``z0``'s records ``u`` (r, S, n) as the amounts an error estimate reads, ``(r, S, L + 2)``: the film's
    ``u``, each layer's amount (dose unit/m^2) and the last node's ``u`` (a receptor's).

    All three are linear in the states, so their copies superpose as the states do: a check run sums these
    instead of whole profiles.  ``a``: the application after which the tail takes over (only the rows
    :func:`superpose_settled` reads are reduced, the integrated ones and the states before applications up
    to ``a``); None: every row.
    """
    w = _reduce_weights(problem)
    if a is None:
        return np.matmul(u[:, :, None, :], w)[:, :, 0, :]
    out = np.empty(u.shape[:2] + (w.shape[2],))
    lo = _tail_rows(a, shift, k, False)[0]
    out[:lo] = np.matmul(u[:lo, :, None, :], w)[:, :, 0, :]
    out[k:k + a] = np.matmul(u[k:k + a, :, None, :], w)[:, :, 0, :]
    return out


def layer_amounts(problem, u: np.ndarray, h_film: float) -> np.ndarray:
    """Amount in the film, each layer and the receptor (with the deepest layer) per column: ``(..., S, 1 + L)``.

    ``u`` (..., S, n) the kernel's states, ``h_film`` the film's thickness (m) they are taken at.
    """
    return _grouped(problem, u, h_film)


def tail_ratios(problem, before: np.ndarray, now: np.ndarray, peak: np.ndarray, h_end: float):
    """The ratio ``lambda`` of each column when ``z0`` has settled into one mode, else None.

    ``before``, ``now``: ``z0``'s states (S, n) just before applications
    ``a - 1`` and ``a``; ``peak``: the most each layer (film, layers) of
    each column held so far, (S, 1 + L); ``h_end`` the film's thickness
    just before an application (m).  ``lambda_s`` is the ratio of column
    ``s``'s amounts (so its ledger stays closed to round-off when the
    tail is scaled by it); settled means ``sum |now - lambda before|`` over
    each layer's nodes is within ``TAIL_SHARE x tolerance x (1 - lambda)``
    of that layer's ``peak`` (each node's deviation counted, so none cancel
    inside a layer), so a layer holding a tiny part of the dose is held to
    its own scale, not to the dose's.

    Returns
    -------
    float64[S] or None
    """
    tb, tn = _grouped(problem, np.stack([before, now]), h_end).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(tb > 0.0, tn / tb, 0.0)
    if not (np.all(np.isfinite(lam)) and np.all(lam >= 0.0) and np.all(lam < 1.0)):
        return None
    # capacities are positive: |m_now - lam m_before| per node is |u_now - lam u_before| times them
    dev = _grouped(problem, np.abs(now - lam[:, None] * before), h_end)
    if np.any(dev > TAIL_SHARE * problem.tolerance * (1.0 - lam)[:, None] * peak):
        return None
    return lam


def extend_tail(u: np.ndarray, comp: np.ndarray, a: int, lam: np.ndarray, shift: int, n_apps: int, k: int,
                tail_event: bool) -> None:
    """Fill ``z0``'s records after application ``a`` (in place) from interval ``a - 1``, scaled by ``lam``.

    ``u`` (r, S, n), ``comp`` (r, S, nc): the records of :func:`z0_stops`,
    done up to the output at ``a T`` (after its wash) and the state before
    application ``a``.  Interval ``m >= a`` is interval ``m - 1`` times
    ``lam`` (per column): the states, and the ledgers' growth since the
    state before the interval's application (its wash included).  A column's
    amounts plus ledgers then stay what they were (``lam`` is the ratio of its
    amounts), so the dose balance holds to round-off.  Written out: the row
    ``q`` intervals after base row ``o`` of interval ``a - 1`` (its rows after
    the wash at ``(a - 1) T``, up to and with the one after the wash at
    ``a T``) is ``lam^(q + 1)`` times it.  :func:`superpose_settled` sums the
    copies of such a ``z0`` without writing its states out.
    """
    lo, hi = _tail_rows(a, shift, k, tail_event)
    n_pw = max(n_apps - a + 1, -(-(hi - lo) // shift))
    pw = lam[None, :] ** np.arange(1, n_pw + 1)[:, None]  # (n_pw, S): lam^1, lam^2, ...
    for m in range(a + 1, (n_apps if tail_event else n_apps - 1) + 1):
        u[_pre(m, n_apps, k)] = pw[m - a - 1][:, None] * u[_pre(a, n_apps, k)]
    R = hi - lo
    if R > 0:
        Q, full = -(-R // shift), R // shift
        base = slice(lo - shift, lo)
        # written in place (the whole intervals as a (Q, shift, S, n) view; a temporary that size cost more than
        # the product)
        np.multiply(pw[:full, None, :, None], u[base][None],
                    out=u[lo:lo + full * shift].reshape((full, shift) + u.shape[1:]))
        if full < Q:
            u[lo + full * shift:hi] = pw[full][None, :, None] * u[base][:R - full * shift]
    _extend_ledgers(comp, a, lam, shift, n_apps, k, tail_event)


def _pre(m: int, n_apps: int, k: int) -> int:
    """Row of ``z0``'s state just before application ``m`` (the run's end ``N T``: its last output)."""
    return k - 1 if m == n_apps else k + m - 1


def _tail_rows(a: int, shift: int, k: int, tail_event: bool) -> tuple[int, int]:
    """The output rows ``[lo, hi)`` the tail fills after application ``a`` (the end ``N T`` has no wash: with
    ``tail_event`` its row is a state before an application, not a tail row)."""
    return a * shift + 1, (k - 1 if tail_event else k)


def _extend_ledgers(comp: np.ndarray, a: int, lam: np.ndarray, shift: int, n_apps: int, k: int,
                    tail_event: bool) -> None:
    """The ledger half of :func:`extend_tail`: ``comp``'s rows after application ``a``, in place."""
    lo, hi = _tail_rows(a, shift, k, tail_event)
    m_last = n_apps if tail_event else n_apps - 1
    pre_a, pre_b = _pre(a, n_apps, k), _pre(a - 1, n_apps, k)
    # ledgers before each application m = a .. m_last: comp_pre[a] + (lam + ... + lam^(m - a)) x the growth
    # over interval a - 1
    growth = comp[pre_a] - comp[pre_b]
    n_pre = m_last - a + 1
    powers = lam[None, :] ** np.arange(n_pre)[:, None]  # (n_pre, S): lam^(m - a)
    geo = np.cumsum(powers, axis=0) - 1.0  # lam + ... + lam^(m - a)
    cpre = comp[pre_a][None] + geo[:, :, None] * growth[None]
    for m in range(a + 1, m_last + 1):
        comp[_pre(m, n_apps, k)] = cpre[m - a]
    R = hi - lo
    if R <= 0:
        return
    Q = -(-R // shift)
    base = slice(lo - shift, lo)
    pw = lam[None, :] ** np.arange(1, Q + 1)[:, None]  # (Q, S)
    # the ledgers' growth since the state before each row's application: base rows after the wash at (a - 1) T
    # grow from pre(a - 1), the base's last row (after the wash at a T) from pre(a)
    d = comp[base] - comp[pre_b][None]
    d[-1] = comp[lo - 1] - comp[pre_a]
    filled = (pw[:, None, :, None] * d[None]).reshape((Q * shift, lam.size, comp.shape[2]))[:R]
    rows = np.arange(lo, hi)
    comp[lo:hi] = cpre[rows // shift - a] + filled


def superpose_settled(u: np.ndarray, comp: np.ndarray, a: int, lam: np.ndarray, shift: int, n_apps: int, k: int,
                      tail_event: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`superpose` of a ``z0`` ended by the tail after application ``a``, without writing its tail out.

    The same as ``extend_tail`` then ``superpose(..., inplace=True)`` of
    both records (to round-off: geometric sums in another order), in place.
    A row ``r`` of the tail, ``q`` intervals after base row ``b`` of
    interval ``a - 1`` (:func:`extend_tail`), sums the copies that are still
    integrated rows, which is the regimen at ``b``, and ``q + 1`` scaled
    copies of ``z0``'s row ``b``: ``x_r = x_b + (lam + ... + lam^(q+1)) z_b``.
    One pass over the tail's rows instead of two (writing ``z0``'s tail, then
    summing it: ~2 ms of a regimen's ~15 ms with its two check runs).  The
    ledgers (small) go the written-out way.  Runs end by ``N T``
    (:func:`plan`), as :func:`extend_tail`'s do.

    Returns
    -------
    (u_out, comp_out)
        Views of ``u``'s and ``comp``'s first ``k`` rows.
    """
    end = n_apps * shift
    if not (k <= end or (tail_event and k == end + 1)):
        raise ValueError(f"a settled z0 of {k} outputs runs past N T = {end} output steps")
    _extend_ledgers(comp, a, lam, shift, n_apps, k, tail_event)
    comp_out = superpose(comp, shift, n_apps, k, tail_event, inplace=True)
    lo, hi = _tail_rows(a, shift, k, tail_event)
    base = slice(lo - shift, lo)
    zb = u[base].copy()
    last = None
    if tail_event:
        # at N T copy j >= 1 is z0 just before application N - j (slot k + N - j - 1), and z0 itself is at its
        # own state before application N: before a, integrated rows; from a on, lam^(m - a) times the one at a
        pre_a = u[_pre(a, n_apps, k)]
        g_pre = (lam[None, :] ** np.arange(n_apps - a + 1)[:, None]).sum(axis=0)
        last = g_pre[:, None] * pre_a + u[k:k + a - 1].sum(axis=0)
    # the integrated rows, summed as superpose does (in place)
    _running_sum(u, shift, shift, lo)
    R = hi - lo
    if R > 0:
        Q = -(-R // shift)
        geo = np.cumsum(lam[None, :] ** np.arange(1, Q + 1)[:, None], axis=0)  # (Q, S): lam + ... + lam^(q+1)
        from exodiff.kernels.shifted_sums import settled_tail

        settled_tail(u, zb, geo, lo, hi, shift)  # any memory layout (Numba compiles one per layout)
    if tail_event:
        u[k - 1] = last
    return u[:k], comp_out


