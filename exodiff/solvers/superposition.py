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

This module decides when that is exact (:func:`superposable`), builds the
stop list of ``z0`` (:func:`z0_stops`) and adds the copies up
(:func:`superpose`).  The driver (:func:`exodiff.solvers.layered.integrate`)
runs the kernel.
"""

from __future__ import annotations

import numpy as np

from exodiff.solvers.common import stop_list

#: relative tolerance on times (s) for "the same time": the stop list's own (1e-9 max(t, 1 s))
TIME_RTOL = 1e-9

#: the fast path is taken when exact; False forces the direct path everywhere (tests compare the two)
ENABLED = True


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= TIME_RTOL * max(abs(a), abs(b), 1.0)


def plan(problem):
    """Why the superposition is exact for ``problem``, as ``(shift, tail_event)``, or None when it is not.

    ``shift``: the interval ``T`` in output steps; ``tail_event``: the last
    output time is the (absent) application after the last one, ``N T``,
    where each later copy needs ``z0`` as it was just before its wash.

    Conditions (each breaks the time-shift invariance otherwise): a finite
    film washed before each reapplication (a joined film mixes copies); at
    least two applications at a constant interval ``T``; uniform output
    times with ``T`` a whole number of output intervals; the run ends by
    ``N T`` (after it a copy would see a wash the regimen does not have); a
    wash-off time strictly inside an interval, or none within the run; no
    receptor samples (anchored to absolute time).
    """
    if not ENABLED or not problem.application_times or problem.join_film or problem.vehicle != "finite":
        return None
    starts = np.asarray(problem.all_application_times, dtype=float)
    N = starts.size
    T = float(starts[1])
    if T <= 0.0 or not all(_same(float(t), k * T) for k, t in enumerate(starts)):
        return None
    times = np.asarray(problem.output_times, dtype=float)
    if times.size < 2 or times[0] != 0.0:
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


def z0_stops(problem, tail_event: bool):
    """The stop list of ``z0``: the regimen's own (every event is the same for ``z0``), and, when the run ends at
    ``N T``, a record of the state just before each later application (extra output slots after the output
    grid's, in order of the applications).

    Returns
    -------
    stops, out_idx, events, n_records
        As :func:`exodiff.solvers.common.stop_list`; ``n_records`` the rows the kernel's output arrays need.
    """
    from exodiff.kernels.column1d import EVENT_APPLY

    stops, idx, ev = stop_list(problem)
    k = problem.output_times.size
    if not tail_event:
        return stops, idx, ev, k
    apply_at = np.flatnonzero(ev & EVENT_APPLY)
    # a plain output stop at the same time, before the event's stop: the kernel lands there (or, with
    # ESDIRK4, interpolates at the end of the step that lands on the event) and records before the wash
    extra = np.arange(k, k + apply_at.size, dtype=np.int64)
    stops = np.insert(stops, apply_at, stops[apply_at])
    idx = np.insert(idx, apply_at, extra)
    ev = np.insert(ev, apply_at, 0)
    return stops, idx, ev, k + apply_at.size


def superpose(z: np.ndarray, shift: int, n_apps: int, k: int, tail_event: bool) -> np.ndarray:
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

    Returns
    -------
    float64[k, ...]
    """
    out = np.empty((k,) + z.shape[1:])
    # x[i] = z[i] + x[i - shift] (- z[i - N shift] once the first copy has N successors that never start):
    # one pass over the rows instead of one per copy (N passes cost ~1.5 ms for 28 applications of 672 outputs)
    end = n_apps * shift
    out[:min(shift, k)] = z[:min(shift, k)]
    for a in range(shift, k, shift):
        b = min(a + shift, k)
        out[a:b] = z[a:b] + out[a - shift:b - shift]
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
