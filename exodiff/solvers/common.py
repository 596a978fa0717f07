"""What the 1D and r-z drivers share: the raw solution, the stop list, the chunked call, failure messages.

The kernels run whole time loops; a driver prepares their arrays, calls
them once (or once per chunk of outputs for a progress bar) and checks the
result.  Bookkeeping of the compartments lives in :mod:`exodiff.solvers.ledger`.
"""

from __future__ import annotations

import bisect
import math
import time as _time
from dataclasses import dataclass

import numpy as np

from exodiff.errors import SolverError

#: steps one run may take before it is stopped as a runaway
MAX_STEPS = 5_000_000

#: ``simulation.integrator`` -> the 1D kernels' method code (:mod:`exodiff.kernels.control`)
METHODS = {"tr-bdf2": 0, "esdirk4": 1, "sdirk4": 2}


@dataclass
class RawSolution:
    """Arrays at the output times (SI, amounts per m^2).

    Attributes
    ----------
    times : float64[k]
        s.
    u : float64[k, n+1]
        ``c/K`` at the nodes (node 0 the vehicle); with several columns, the
        first column's.
    comp : float64[k, 3L+3]
        Compartments, see :mod:`exodiff.kernels.column1d`; with several
        columns, the first column's.
    stats : dict
        Steps, rejected steps, solves, wall time (s).
    u_cols : float64[k, S, n+1] or None
        Every column (1D runs): size classes, then a cargo.
    comp_cols : float64[k, S, P L + 3] or None
        Every column's compartments (``P`` loss processes per layer).
    layer_cols : float64[k, S, L] or None
        Amount in each layer of each column (dose unit/m^2) when the run
        kept amounts, not states (an error estimate's check run of a
        superposed regimen: ``integrate(..., amounts_only=True)``); ``u``
        and ``u_cols`` then hold two nodes, the film's and the last one's
        (``(k, 2)``, ``(k, S, 2)``).  None: the states are whole.
    fluxes : float64[k, S, 3] or None
        The fluxes of every column (:data:`~exodiff.solvers.ledger.FLUXES`),
        when they cannot be read from ``u``'s node values on the problem's
        grid (a Richardson extrapolation, whose states are restricted from a
        finer grid); None: computed from ``u`` when needed.
    companion : tuple or None
        Tuples ``(problem, raw, divisor, floor)``: the same problem solved on
        another grid or at another tolerance, for the error estimate of every
        amount, ``sum |amount - amount_companion| / divisor + floor``
        (fraction of the dose; :func:`exodiff.solvers.layered.integrate_estimated`);
        None when not run.  A companion's ``raw.stats`` may hold ``"coarser"``
        (a third grid's ``(problem, raw)``: the space term is scaled where the
        grids show a low order) and ``"or"`` (a second raw: the smaller
        difference counts).
    lower_order : object or None
        What a cheaper solve of the same problem gave, produced on the way
        at no cost: the Krylov propagator's result with two fewer vectors;
        ``lower_order.raw(times)`` is it as a RawSolution of amounts (as a
        check run keeps them).  The time part of the error estimate then
        needs no run of its own.
    interpolation_gap : tuple or None
        ``(layer_gap, comp_gap)``, float64[2, k, S, L + 2] and float64[2, k, S,
        P L + 3]: at each output ESDIRK4 interpolated inside a step, the cubic
        Hermite interpolant of the step's ends (``[0]``) and the quadratic
        through them with the end rate (``[1]``) minus the continuous
        extension, in the form of
        :func:`exodiff.solvers.superposition.reduce_records` (film ``u``, each
        layer's amount, last node ``u``) and of ``comp_cols``; zero at outputs
        a step ended on.  The error estimate adds the smaller difference of
        each amount (:func:`exodiff.solvers.layered.with_interpolation_gap`).
        None: no output was interpolated.
    """

    times: np.ndarray
    u: np.ndarray
    comp: np.ndarray
    stats: dict
    u_cols: np.ndarray | None = None
    comp_cols: np.ndarray | None = None
    companion: tuple | None = None
    layer_cols: np.ndarray | None = None
    fluxes: np.ndarray | None = None
    lower_order: object | None = None
    interpolation_gap: tuple | None = None


def initial_fstate(problem, h_start: float) -> np.ndarray:
    """The 1D kernels' ``fstate`` at the start: time 0, first step ``h_start`` (s), the first film applied at 0,
    no controller memory."""
    from exodiff.kernels.column1d import F_APPLIED, F_ERR_PREV, F_FILM, F_POS_CAP, F_STEP, F_VOLATILE, N_FSTATE

    f = np.zeros(N_FSTATE)
    f[F_STEP] = h_start
    f[F_ERR_PREV] = 1.0  # no previous step: the controller starts as an I-controller
    f[F_POS_CAP] = 0.0  # no step cap
    f[2] = math.nan  # failure time: none yet
    f[F_APPLIED] = 0.0
    f[F_FILM] = problem.vehicle_thickness
    f[F_VOLATILE] = problem.evaporation_fraction
    return f


def schedule_cache(problem) -> dict:
    """The problem's cache of what depends only on its schedule (output times and the application's
    :data:`SCHEDULE_FIELDS`): the stop list, the film schedule, a regimen's superposition plan and ``z0``'s
    stops.  A problem is frozen, so these are too; :func:`share_schedule` gives a check run the same cache."""
    cache = problem.__dict__.get("_schedule")
    if cache is None:
        cache = {}
        object.__setattr__(problem, "_schedule", cache)
    return cache


def cached_arrays(problem, key: str, build):
    """``build(problem)``'s tuple of arrays (and numbers), built once per schedule and handed out as copies (the
    callers add events to them)."""
    cache = schedule_cache(problem)
    got = cache.get(key)
    if got is None:
        got = cache[key] = build(problem)
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in got)


def stop_list(problem):
    """Merge output times and events into the kernel's stop list: ``(stops, output index or -1, events)``.

    Events are bit flags (:data:`exodiff.kernels.column1d.EVENT_WASH`,
    ``EVENT_SAMPLE``, ``EVENT_APPLY``, ``EVENT_ADD``): the wash-off (after
    each application), the receptor samples and the applications after the
    first (a regimen).  An event
    within ``1e-9 max(t, 1 s)`` of an output time falls on that stop; the
    kernel washes before it records and samples after, so an output at a
    sampling time shows the receptor as the sample found it.  Built once
    per schedule (:func:`schedule_cache`); each call gets its own arrays.
    """
    return cached_arrays(problem, "stops", _stop_list)


def _stop_list(problem):
    from exodiff.kernels.column1d import EVENT_ADD, EVENT_APPLY, EVENT_SAMPLE, EVENT_WASH

    times = problem.output_times
    stops = list(times[1:])
    idx = list(range(1, times.size))
    ev = [0] * len(stops)
    events = []
    tw = problem.wash_off_time
    starts = problem.all_application_times
    if tw is not None:
        # the wash-off counts from each application; one that would fall after the next application
        # does not happen (that application washes anyway, or its film joins the old one)
        for k, ta in enumerate(starts):
            t_next = starts[k + 1] if k + 1 < len(starts) else math.inf
            tk = ta + tw
            if 0.0 < tk <= times[-1] and tk <= t_next * (1 + 1e-12):
                events.append((tk, EVENT_WASH))
    apply_flag = EVENT_ADD if problem.join_film else EVENT_APPLY
    # an application after the last output changes no output (the kernel would only run on to it)
    events += [(float(t), apply_flag) for t in starts[1:] if t <= times[-1]]
    if problem.sample_fraction > 0.0:
        events += [(float(t), EVENT_SAMPLE) for t in problem.sampling_times if 0.0 < t <= times[-1]]
    for t, flag in events:
        # the first stop within atol of t, found by bisection (stops stay sorted): a regimen has hundreds of
        # events over hundreds of outputs, and a scan of every stop per event cost about a millisecond a run
        atol = 1e-9 * max(t, 1.0)
        j = bisect.bisect_left(stops, t - atol)
        near = next((i for i in range(max(j - 1, 0), min(j + 2, len(stops))) if abs(stops[i] - t) <= atol), -1)
        if near >= 0:
            ev[near] |= flag
        else:
            k = bisect.bisect_left(stops, t)
            stops.insert(k, t)
            idx.insert(k, -1)
            ev.insert(k, flag)
    return np.array(stops, dtype=float), np.array(idx, dtype=np.int64), np.array(ev, dtype=np.int64)


@dataclass
class FilmSchedule:
    """The film at each output time, as the 1D kernels' stop events leave it.

    Attributes
    ----------
    thickness : float64[k]
        Film thickness, m (after any application at that stop).
    on : bool[k]
        A film is on the skin (not washed off).
    applications : int64[k]
        Applications so far (the first, at 0, counts).
    """

    thickness: np.ndarray
    on: np.ndarray
    applications: np.ndarray


def film_schedule(problem) -> FilmSchedule:
    """Replay the stop events of :func:`stop_list` as the 1D kernels do: the film at each output time.

    The same film law: each event changes the film with the compiled
    :func:`exodiff.kernels.column1d.new_film` itself, and between events the
    thickness at the outputs is :func:`~exodiff.kernels.column1d.vehicle_capacity`'s
    formula on arrays (the same operations, numpy's ``exp``: equal to the
    kernel's to an ulp), so the vehicle's amount the ledger computes from a
    stored concentration is the one the kernel had.  Python runs per event,
    not per output (a regimen of 672 outputs: 0.7 -> 0.1 ms).
    """
    from exodiff.kernels import column1d as K

    cache = schedule_cache(problem)
    if "film" in cache:
        return cache["film"]
    times = problem.output_times
    f = initial_fstate(problem, 0.0)
    tau = problem.evaporation_time
    stops, idx, ev = stop_list(problem)
    at = np.flatnonzero(ev)  # the stops with events, in order
    # the film after the events of each event stop (row 0: the first film, before any event)
    applied = np.empty(at.size + 1)
    film = np.empty(at.size + 1)
    volatile = np.empty(at.size + 1)
    washed_after = np.zeros(at.size + 1, dtype=bool)
    count_after = np.ones(at.size + 1, dtype=np.int64)
    applied[0], film[0], volatile[0] = f[K.F_APPLIED], f[K.F_FILM], f[K.F_VOLATILE]
    washed, count = False, 1
    for r, i in enumerate(at, start=1):
        e = int(ev[i])
        if e & K.EVENT_WASH:
            washed = True
        if e & (K.EVENT_APPLY | K.EVENT_ADD):
            K.new_film(float(stops[i]), problem.vehicle_thickness, problem.evaporation_fraction, tau, f,
                       bool(e & K.EVENT_ADD) and not washed)
            washed, count = False, count + 1
        applied[r], film[r], volatile[r] = f[K.F_APPLIED], f[K.F_FILM], f[K.F_VOLATILE]
        washed_after[r], count_after[r] = washed, count
    thick = np.empty(times.size)
    on = np.ones(times.size, dtype=bool)
    napp = np.ones(times.size, dtype=np.int64)
    rec = np.flatnonzero(idx >= 0)  # stops that record an output, after that stop's events
    row = np.searchsorted(at, rec, side="right")  # the film rows in force there
    j = idx[rec]
    # stop_list keeps the output times as the stops' times, so t - t_applied is the kernel's argument
    t = np.concatenate(([0.0], stops[rec]))
    row = np.concatenate(([0], row))
    j = np.concatenate(([0], j))
    vf = volatile[row]
    h = film[row]
    with np.errstate(over="ignore"):
        evap = h * (1.0 - vf * (1.0 - np.exp(-(t - applied[row]) / tau))) if np.any(vf > 0.0) else h
    thick[j] = np.where(vf <= 0.0, h, evap)
    on[j] = ~washed_after[row]
    napp[j] = count_after[row]
    out = FilmSchedule(thick, on, napp)
    # the ledger and the results ask several times per run; a problem is frozen, so its schedule is too
    cache["film"] = out
    return out


#: the :class:`~exodiff.problem.base.Application` fields the schedule (:func:`schedule_cache`) depends on (not the
#: grid or tolerance)
SCHEDULE_FIELDS = ("vehicle", "vehicle_thickness", "evaporation_fraction", "evaporation_time", "wash_off_time",
                   "application_times", "join_film", "sampling_times", "sample_fraction")


def share_schedule(problem, other) -> None:
    """Give ``other`` (the same application on another grid or tolerance: a check run, a finer grid) the
    schedule cache of ``problem`` (:func:`schedule_cache`: stop lists, film schedule, superposition plan)
    instead of building it again (~1 ms of Python per problem for a regimen of 672 outputs).  Nothing is
    shared when the schedule could differ."""
    if problem is other or not np.array_equal(problem.output_times, other.output_times) or \
            any(getattr(problem, f) != getattr(other, f) for f in SCHEDULE_FIELDS):
        return
    object.__setattr__(other, "_schedule", schedule_cache(problem))


def run_in_chunks(advance, n_stops: int, progress: bool, desc: str) -> float:
    """Drive a compiled time loop over its stop list; return the wall time (s).

    ``advance(indices)`` runs the kernel over those stops (the state lives in
    the caller's arrays) and raises on failure.  Without a progress bar it is
    one call; with one, up to 100 calls, so Python runs per output, never per
    step.  Shared by the 1D and r-z drivers.
    """
    t0 = _time.perf_counter()
    if progress and n_stops:
        from tqdm import tqdm

        chunks = np.array_split(np.arange(n_stops), min(n_stops, 100))
        # disable=None: drawn on a terminal only (in a log, a run that fails leaves its one error line alone)
        bar = tqdm(total=n_stops, desc=desc, unit="output", delay=0.5, leave=False, disable=None)
    else:
        chunks = [np.arange(n_stops)]
        bar = None
    try:
        for ch in chunks:
            if ch.size == 0:
                continue
            advance(ch)
            if bar is not None:
                bar.update(ch.size)
    finally:
        if bar is not None:
            bar.close()
    return _time.perf_counter() - t0


def solver_failure(status: int, t_h: float, region: str, layers=(), widths=(),
                   vehicle_thickness: float = 0.0, channel=None, limit: float | None = None) -> SolverError:
    """The one-line error of a kernel status (shared status codes of the 1D and r-z kernels).

    ``layers`` (:class:`~exodiff.problem.base.Layer`), ``widths`` (the
    thinnest cell of each, m) and ``vehicle_thickness`` (m; 0: a constant
    donor), when given, name the coefficients most likely at fault
    (:func:`extreme_coefficients`; ``channel`` and ``limit`` as there).
    """
    from exodiff.kernels import column1d as K

    hint = extreme_coefficients(layers, widths, vehicle_thickness, channel, limit)
    if status == K.NONFINITE:
        return SolverError(f"solver: non-finite concentration at t = {t_h:.4g} h in {region}; "
                           + (hint or "check for extreme or non-physical coefficients"))
    if status == K.STEP_UNDERFLOW:
        return SolverError(f"solver: time step collapsed at t = {t_h:.4g} h; "
                           + (hint or "the tolerance may be too tight for the coefficients given"))
    return SolverError(f"solver: more than {MAX_STEPS} steps before t = {t_h:.4g} h; "
                       + (hint or "loosen simulation.tolerance or check the coefficients"))


#: the fastest exchange between neighbouring cells (a face's conductance over the smaller capacity beside
#: it, 1/s) named when a run fails: physical skin stays below ~1e5 1/s (a small molecule in 1 um dermis cells
#: 1e2-1e3, a film on a thin, well-partitioning layer 1e4; the shipped 1D scenarios 0.2-180); 1D runs failed
#: from ~1e13
EXTREME_RATE = 1e10
#: the same for the r-z unit cell, whose factorised stages give way sooner: runs failed from 1.7e7 (a free
#: diffusivity of 1e-6 m^2/s in the open channel; 1.7e6 took 4300 steps); the shipped r-z scenarios 0.5-200,
#: a small molecule in an open channel ~1e4
EXTREME_RATE_RZ = 1e6


def extreme_coefficients(layers, widths, vehicle_thickness: float, channel=None, limit: float | None = None) -> str:
    """The coefficients beyond what a double-precision run resolves, as scenario keys, or ``""``.

    ``layers``: top to bottom; ``widths``: each layer's thinnest cell (m);
    ``vehicle_thickness`` (m, 0 for a constant donor); ``channel``: a unit
    cell's open channel as ``(D, K, thinnest cell)`` (m^2/s, -, m), or None.
    The rate of each kind of face (film / first layer or channel, inside a
    layer or the channel, between layers) is its conductance ``D K / dz``
    (the film adds no resistance) over the smaller capacity beside it
    (``K dz``, the film's ``h``); the largest, if above ``limit`` (default
    :data:`EXTREME_RATE`), is named with the keys that set it.
    """
    limit = EXTREME_RATE if limit is None else limit
    def half(ly, w):
        return 2.0 * np.float64(ly.diffusivity) * ly.partition / w

    def keys(ly, w):
        return (f"skin.layers.{ly.name}.diffusivity = {ly.diffusivity:.3g} m^2/s, "
                f"skin.layers.{ly.name}.partition = {ly.partition:.3g}, cells of {w * 1e6:.3g} um")

    def rate(g, cap):
        # a face into a layer that holds nothing (K = 0) exchanges nothing; float64 so that an overflow is inf
        return g / cap if cap > 0.0 else np.float64(0.0)

    cells = [(ly, np.float64(w)) for ly, w in zip(layers, widths) if w > 0.0]
    faces = []  # (rate 1/s, where, keys)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if cells and cells[0][0] is layers[0]:
            ly, w = cells[0]
            cap = min(vehicle_thickness, ly.partition * w) if vehicle_thickness > 0.0 else ly.partition * w
            faces.append((rate(half(ly, w), cap), f"the film and {ly.name}", keys(ly, w)))
        for ly, w in cells:
            faces.append((np.float64(ly.diffusivity) / w ** 2, f"the cells of {ly.name}", keys(ly, w)))
        for (a, wa), (b, wb) in zip(cells, cells[1:]):
            ga, gb = half(a, wa), half(b, wb)
            g = ga * gb / (ga + gb) if ga + gb > 0.0 else np.float64(0.0)
            faces.append((rate(g, min(a.partition * wa, b.partition * wb)), f"{a.name} and {b.name}",
                          keys(a, wa) + "; " + keys(b, wb)))
        if channel is not None and channel[2] > 0.0:
            d, k, w = np.float64(channel[0]), channel[1], np.float64(channel[2])
            named = (f"the open channel's diffusivity {d:.3g} m^2/s (formulation.free_diffusivity, or the "
                     f"Stokes-Einstein value of formulation.diameter and skin.viscosity), cells of {w * 1e6:.3g} um")
            cap = min(vehicle_thickness, k * w) if vehicle_thickness > 0.0 else k * w
            faces.append((rate(2.0 * d * k / w, cap), "the film and the open channel", named))
            faces.append((d / w ** 2, "the cells of the open channel", named))
    faces = [f for f in faces if not (f[0] <= limit)]  # NaN counts as extreme
    if not faces:
        return ""
    rate, where, named = max(faces, key=lambda f: (not np.isfinite(f[0]), f[0] if np.isfinite(f[0]) else 0.0))
    return (f"the exchange between {where} runs at {rate:.1e} 1/s, beyond what the solver resolves ({named}); "
            "check those keys, given or derived from the formulation")

