"""The 1D driver: Problem1D -> compiled kernel -> checked raw solution.

The kernel runs the whole time loop.  With a progress bar the driver calls it
once per chunk of output times (the state, the step size and the step
controller's memory are passed through, so the steps are those of one call),
so Python runs per chunk, never per step.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from exodiff.errors import SolverError
from exodiff.problem.layered import Problem1D
from exodiff.solvers.common import (MAX_STEPS, METHODS, RawSolution, initial_fstate, share_schedule,
                                    solver_failure, stop_list)
from exodiff.solvers.ledger import balance_limit, check_mass_balance, column_fluxes, mass_balance_error


def method_code(problem) -> int:
    """The kernels' method code of ``problem.integrator``."""
    return METHODS[problem.integrator]


def integrate(problem: Problem1D, progress: bool = False, desc: str = "solving", *,
              amounts_only: bool = False, gaps: bool = True) -> RawSolution:
    """Solve a 1D problem.

    A regimen washed before each reapplication, at a constant interval, is
    solved as a sum of shifted copies of one response when that is exact
    (:mod:`exodiff.solvers.superposition`): one run with cheap "wash + empty
    film" events instead of a fresh-film transient per application; the
    result's ``stats["regimen_solution"]`` says which path ran.

    Parameters
    ----------
    problem : Problem1D
    progress : bool
        Show a tqdm bar advancing per output time.
    amounts_only : bool
        The caller reads amounts only (an error estimate's check run): a
        superposed regimen then sums the copies of each layer's amount, not
        of whole profiles (``RawSolution.layer_cols``).  Other runs keep
        their states whole either way.  No interpolation gaps are computed.
    gaps : bool
        Compute the interpolation gaps of ESDIRK4's outputs inside steps
        (``RawSolution.interpolation_gap``, for the error estimate); a sweep
        point, which states no error, passes False (they cost 25-40 % of a
        solve with an output every few steps).

    Returns
    -------
    RawSolution

    Raises
    ------
    SolverError
        Non-finite values, step-size collapse, or a mass-balance error beyond
        round-off, naming the time and the layer.
    """
    from exodiff.solvers import superposition

    if problem.integrator == "krylov":
        return _integrate_krylov(problem, progress, desc, amounts_only)
    how = superposition.plan(problem)
    failed = None
    if how is not None:
        try:
            return _integrate_superposed(problem, *how, progress=progress, desc=desc, amounts_only=amounts_only,
                                         gaps=gaps)
        except SolverError as exc:  # the direct path decides (and says) what is wrong, or falls back to TR-BDF2
            failed = str(exc)
    raw = _integrate_direct(problem, progress, desc, gaps=gaps and not amounts_only)
    if problem.application_times:
        raw.stats["regimen_solution"] = "direct"
        raw.stats["regimen_applications_integrated"] = problem.n_applications
    if failed is not None:
        raw.stats["superposition_failed"] = failed
    return raw


def _integrate_krylov(problem: Problem1D, progress: bool, desc: str, amounts_only: bool) -> RawSolution:
    """:func:`integrate` with the rational Krylov propagator (:mod:`exodiff.solvers.krylov`), or ESDIRK4 where it
    does not apply or does not converge (the result says which, and why)."""
    from dataclasses import replace

    from exodiff.solvers import krylov, superposition

    why = problem.krylov_obstacle()
    how = superposition.plan(problem) if why is None else None
    failed = None
    if how is not None:
        # a washed regimen at a constant interval: shifted copies of one response, as ESDIRK4's fast path, with
        # the propagator running that response (three intervals, not one restart per application)
        try:
            return _integrate_superposed(problem, *how, progress=progress, desc=desc, amounts_only=amounts_only,
                                         driver=krylov.superposed_driver)
        except SolverError as exc:  # application by application below, which says why if it fails too
            failed = str(exc)
    if why is None:
        raw = krylov.integrate_krylov(problem)
        if isinstance(raw, str):
            why = raw
        else:
            # the propagator closes the balance itself (to round-off, whatever the stiffness): the plain limit,
            # not the Runge-Kutta stages' stiffness-grown one
            try:
                check_mass_balance(mass_balance_error(problem, raw), problem.output_times)
                if problem.application_times:  # every application a restart of the propagator
                    raw.stats["regimen_solution"] = "direct"
                    raw.stats["regimen_applications_integrated"] = problem.n_applications
                if failed is not None:
                    raw.stats["superposition_failed"] = failed
                return raw
            except SolverError as exc:
                why = f"its mass balance: {str(exc).split(' exceeds')[0]}"
    raw = integrate(replace(problem, integrator="esdirk4"), progress=progress, desc=desc,
                    amounts_only=amounts_only)
    raw.stats["integrator_fallback"] = f"krylov does not apply ({why}); solved with esdirk4"
    return raw


def _integrate_direct(problem: Problem1D, progress: bool, desc: str, gaps: bool = True) -> RawSolution:
    """:func:`integrate` with every application a stop event of one kernel run."""
    times = problem.output_times
    stops, out_idx, events = stop_list(problem)
    u_out, comp_out, stats, wall, gap = _run_kernel(problem, stops, out_idx, events, times.size, fresh_films=True,
                                                    progress=progress, desc=desc, gaps=gaps)
    raw = _raw(problem, u_out, comp_out, stats, wall)
    raw.interpolation_gap = _reduced_gap(gap)
    arr = problem.columns_arrays()
    try:
        check_mass_balance(mass_balance_error(problem, raw), times, balance_limit(problem, arr))
    except SolverError as exc:
        if problem.integrator == "tr-bdf2":
            raise
        # Measured (benchmarks/stiff_regimes.py, 60 extreme problems): with a constant donor and a stiff layer
        # the 4th-order methods' stage sums leak round-off past the promised bound (1e-8 to 1.5e-5 of the supply
        # in 4 of 60, S = 2e8 to 3e11), where TR-BDF2's delta form with its stage supply stays at 7e-11.  The
        # same problem with TR-BDF2 keeps the promise; the result says which integrator gave it.
        from dataclasses import replace

        raw = integrate(replace(problem, integrator="tr-bdf2"), progress=progress, desc=desc)
        raw.stats["integrator_fallback"] = (f"{problem.integrator} broke the mass-balance bound "
                                            f"({str(exc).split(' exceeds')[0]}); solved with tr-bdf2")
    return raw


def _integrate_superposed(problem: Problem1D, shift: int, tail_event: bool, progress: bool,
                          desc: str, amounts_only: bool = False, driver=None, gaps: bool = True) -> RawSolution:
    """:func:`integrate` of a washed regimen as ``sum_j z0(t - j T)`` (:mod:`exodiff.solvers.superposition`).

    ``z0`` is the first application's response with every later film
    empty: the kernel run with the regimen's own stop list and a fresh-film
    concentration of 0, one call per interval.  After the first interval its
    absolute tolerance follows what the regimen holds
    (:func:`~exodiff.solvers.superposition.content_floor`); once it has
    settled into one mode the remaining intervals are scaled, not
    integrated (:func:`~exodiff.solvers.superposition.tail_ratios`).  The
    result is checked against the dose balance like a direct run's; a
    failure raises (the caller then runs the direct path).  ``driver``: what
    runs ``z0`` (default the compiled time loop,
    :func:`_kernel_driver`; the Krylov propagator's is
    :func:`exodiff.solvers.krylov.superposed_driver`).
    """
    import time as _time

    from exodiff.kernels import column1d as K
    from exodiff.kernels.column1d import EVENT_APPLY, EVENT_PAUSE, vehicle_capacity
    from exodiff.solvers import superposition

    k = problem.output_times.size
    N = problem.n_applications
    stops, out_idx, events, n_rec = superposition.z0_stops(problem)
    if driver is None:
        driver = partial(_kernel_driver, fresh_films=False, gaps=gaps and not amounts_only)
    advance, u_z, comp_z, stats, fstate, gap = driver(problem, stops, out_idx, events, n_rec)
    # one call per interval, pausing at each application's stop (after its wash and its record): once z0 has
    # settled into its slowest mode the rest is the last interval scaled (superposition.tail_ratios)
    apply_at = np.flatnonzero(events & EVENT_APPLY)
    ev = events.copy()
    ev[apply_at] |= EVENT_PAUSE
    # the film just before an application is one interval old (washed off inside it: empty, u = 0)
    h_end = vehicle_capacity(shift * float(problem.output_times[1]), problem.vehicle_thickness,
                             problem.evaporation_fraction, problem.evaporation_time)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=N, desc=desc, unit="application", delay=0.5, leave=False, disable=None)
    t0 = _time.perf_counter()
    k0, done = 0, 0
    peak = lam = None
    tail = superposition.tail_allowed(problem)
    try:
        for a in range(1, N):
            k0 = advance(k0, ev)  # up to and with application a
            rows = u_z[done:min(a * shift, k - 1) + 1]
            now = superposition.layer_amounts(problem, rows, problem.vehicle_thickness).max(axis=0)
            peak = now if peak is None else np.maximum(peak, now)
            done = a * shift + 1
            if a == 1 and superposition.Z0_CONTENT_FLOOR:
                # z0 answers for one of N copies of what the regimen holds, which is at least the newest copy,
                # i.e. z0 in its first interval at the same phase: its tolerance need not follow its own
                # residue below that over N (superposition.content_floor)
                fstate[K.F_CONTENT_FLOOR] = superposition.content_floor(problem, u_z[:shift], u_z[k], h_end, N)
            if bar is not None:
                bar.update(1)
            if a >= 2 and tail:
                lam = superposition.tail_ratios(problem, u_z[k + a - 2], u_z[k + a - 1], peak, h_end)
                if lam is not None:
                    stats_tail = a
                    break
        else:
            advance(k0, ev)
            stats_tail = N
    finally:
        if bar is not None:
            bar.close()
    wall = _time.perf_counter() - t0
    if amounts_only:
        # the layers' amounts superpose as the states do: a check run sums (r, S, L + 2) records, not ~1 MB of
        # profiles in fresh pages
        u_z = superposition.reduce_records(problem, u_z, stats_tail if lam is not None else None, shift, k)
    # the interpolation gaps (amounts) of the copies superpose as their amounts do
    gap = _reduced_gap(gap)
    if lam is not None:
        u_out, comp_out = superposition.superpose_settled(u_z, comp_z, stats_tail, lam, shift, N, k, tail_event)
        if gap is not None:
            pairs = [superposition.superpose_settled(gap[0][i], gap[1][i], stats_tail, lam, shift, N, k, tail_event)
                     for i in (0, 1)]
            gap = tuple(np.stack([pair[j] for pair in pairs]) for j in (0, 1))
    else:
        u_out = superposition.superpose(u_z, shift, N, k, tail_event, inplace=True)
        comp_out = superposition.superpose(comp_z, shift, N, k, tail_event, inplace=True)
        if gap is not None:
            gap = tuple(np.stack([superposition.superpose(z[i], shift, N, k, tail_event, inplace=True)
                                  for i in (0, 1)]) for z in gap)
    raw = _raw(problem, u_out, comp_out, stats, wall, amounts_only)
    raw.interpolation_gap = None if gap is None else (gap[0][:, :k], gap[1][:, :k])
    raw.stats["regimen_solution"] = "superposition"
    raw.stats["regimen_applications_integrated"] = stats_tail
    check_mass_balance(mass_balance_error(problem, raw), problem.output_times, balance_limit(problem))
    return raw


def _raw(problem: Problem1D, u_out, comp_out, stats, wall, reduced: bool = False) -> RawSolution:
    """The RawSolution of the kernel's records; ``reduced``: ``u_out`` holds :func:`superposition.reduce_records`'
    (film, layers' amounts, last node), split into ``layer_cols`` and two-node states."""
    layers = None
    if reduced:
        layers = u_out[:, :, 1:-1]
        u_out = u_out[:, :, [0, -1]]
    raw = RawSolution(times=problem.output_times.copy(), u=u_out[:, 0], comp=comp_out[:, 0],
                      stats={"steps": int(stats[0]), "rejected": int(stats[1]), "solves": int(stats[2]),
                             "wall_time_s": wall, "columns": int(u_out.shape[1])},
                      u_cols=u_out, comp_cols=comp_out, layer_cols=layers)
    raw.stats["integrator"] = problem.integrator
    return raw


def _reduced_gap(gap) -> tuple | None:
    """A kernel run's interpolation gaps (:func:`_kernel_driver`), or None when no output was interpolated
    (every output a step's end, or not ESDIRK4)."""
    if gap is None or not (gap[0].any() or gap[1].any()):
        return None
    return gap


def with_interpolation_gap(problem: Problem1D, raw: RawSolution) -> RawSolution:
    """``raw``'s amounts with every interpolated output taken from the other interpolants of its step
    (``raw.interpolation_gap`` added), as check runs' amounts (``layer_cols``): the cubic Hermite one,
    with the end-rate quadratic one in its ``stats["or"]`` (the estimate takes the smaller difference of
    each amount)."""
    from exodiff.solvers import superposition

    k = raw.times.size
    amounts = superposition.reduce_records(problem, raw.u_cols[:k], None, 0, 0)
    (lg, cg) = raw.interpolation_gap
    cubic, quadratic = (_raw(problem, amounts + lg[i], raw.comp_cols[:k] + cg[i], np.zeros(3), 0.0, reduced=True)
                        for i in (0, 1))
    cubic.stats["check"] = ("the smaller difference from the cubic Hermite interpolant of each step's ends and "
                            "from the quadratic through them with the end rate, at the outputs inside it (/ 1)")
    cubic.stats["or"] = quadratic
    return cubic


def _run_kernel(problem: Problem1D, stops, out_idx, events, n_records: int, fresh_films: bool, progress: bool,
                desc: str, gaps: bool = True):
    """Run the compiled loop over a stop list from the first application; return ``(u_out, comp_out, stats, wall,
    gap)`` (``gap`` as :func:`_kernel_driver`'s).

    ``fresh_films``: later applications put on films of the formulation's
    concentration (the regimen itself); False: empty films of the same
    vehicle (``z0`` of the superposition).  ``n_records`` rows of output
    (the output times first; ``out_idx`` may point past them).
    """
    advance, u_out, comp_out, stats, _, gap = _kernel_driver(problem, stops, out_idx, events, n_records, fresh_films,
                                                             gaps)
    wall = run_paused(advance, stops, events, progress, desc)
    return u_out, comp_out, stats, wall, gap


def _kernel_driver(problem: Problem1D, stops, out_idx, events, n_records: int, fresh_films: bool,
                   gaps: bool = True):
    """The compiled loop of ``problem`` ready to run over a stop list: ``(advance, u_out, comp_out, stats, fstate,
    gap)``.

    ``advance(k0, events)`` runs from stop ``k0`` until the stop list's end
    or a stop flagged :data:`~exodiff.kernels.column1d.EVENT_PAUSE` and
    returns the first stop not yet done; the state, the step and the step
    controller's memory carry over between calls, so pausing changes no
    step.  ``fstate`` is the kernel's state between calls (the driver may
    set :data:`~exodiff.kernels.column1d.F_CONTENT_FLOOR` in it).  ``gap``
    (None unless ``gaps``): ``(u_gap, comp_gap)``, (2, r, S, L + 2) and (2,
    r, S, nc): the cubic Hermite interpolant and the end-rate quadratic
    minus ESDIRK4's continuous extension at each interpolated output, in the
    amounts :func:`superposition.reduce_records` lays out and the
    compartments (:func:`~exodiff.kernels.column1d.interpolation_gap`), zero
    elsewhere.  Arguments as :func:`_run_kernel`.
    """
    from exodiff.kernels import column1d as K

    arr = problem.columns_arrays()
    S, n = arr["cap"].shape
    L = len(problem.layers)
    P = problem.n_processes
    nc = problem.n_compartments
    times = problem.output_times
    u = np.zeros((S, n))
    u[:, 0] = problem.concentration * arr["weight"]
    comp = np.zeros((S, nc))
    u_out = np.zeros((n_records, S, n))
    comp_out = np.zeros((n_records, S, nc))
    u_out[0] = u
    # always passed (one compiled variant of each loop), without rows when not asked for; only ESDIRK4
    # interpolates, the others leave zeros
    rows = n_records if gaps else 0
    u_gap = np.zeros((2, rows, S, L + 2))
    comp_gap = np.zeros((2, rows, S, nc))
    gap_layer = arr["node_layer"].copy()
    if problem.has_receptor:  # node_layer books a receptor's losses in the last layer; it is no layer's amount
        gap_layer[-1] = -1
    t_end = float(times[-1])
    h_start = 1e-8 * max(t_end, 1.0)
    fstate = initial_fstate(problem, h_start)
    istate = np.zeros(3, dtype=np.int64)
    stats = np.zeros(3, dtype=np.int64)
    infinite = problem.vehicle == "infinite"
    # the first film is in u; c_donor is what each later application (or an infinite donor) puts on
    c_donor = problem.concentration * arr["weight"] if fresh_films else np.zeros(S)
    args = (arr["cap"], arr["g"], arr["closs"], arr["csrc"], arr["source_to"], arr["node_layer"], L,
            infinite, c_donor, problem.vehicle_thickness,
            problem.evaporation_fraction, problem.evaporation_time, problem.sample_fraction)
    rtol = problem.tolerance
    m_ref = arr["m_ref"]
    method = method_code(problem)

    def advance(k0, ev):
        ch = slice(k0, None)
        try:
            if S == 1 and P == 3:
                # one column: the one-column loop of this integrator only (each compiles on its own)
                cl = arr["closs"][0]
                one = (arr["cap"][0], arr["g"][0], cl[0], cl[1], cl[2], arr["node_layer"], L, infinite, c_donor[0],
                       problem.vehicle_thickness, problem.evaporation_fraction, problem.evaporation_time,
                       problem.sample_fraction, stops[ch], out_idx[ch], ev[ch], u[0], comp[0], fstate, istate, rtol,
                       m_ref[0], h_start, MAX_STEPS, u_out[:, 0], comp_out[:, 0], stats)
                if method == METHODS["tr-bdf2"]:
                    status = K.integrate_column_trbdf2(*one)
                else:
                    status = K.integrate_column_rk(*one, method, u_gap[:, :, 0], comp_gap[:, :, 0], gap_layer)
            else:
                # optional physics, each its own compiled variant: the film leaks cargo (release_rate_vehicle),
                # the vesicles enhance the free cargo's way through the SC (enhancement_factor)
                extra = ()
                if arr["kveh"] is not None:
                    extra = (arr["kveh"], arr["cveh"])
                if arr["enh"] is not None:
                    # with zero leakage arrays (the leakage branch at kv = 0 is the plain one, bit for bit): one
                    # variant for an enhancement, with or without a leaking film
                    zero = np.zeros(S)
                    extra = (zero if arr["kveh"] is None else arr["kveh"], zero if arr["cveh"] is None else arr["cveh"],
                             arr["enh"], arr["rsc"], arr["roth"], arr["tau_enh"])
                status = K.integrate_columns(*args, stops[ch], out_idx[ch], ev[ch], u, comp, fstate, istate,
                                             rtol, m_ref, h_start, MAX_STEPS, u_out, comp_out, stats, method, *extra,
                                             u_gap=u_gap, comp_gap=comp_gap, gap_layer=gap_layer)
        except ZeroDivisionError:
            # Numba's division checks: coefficients beyond float64 can reach a division by zero before any value
            # turns non-finite; one line naming them, not a traceback
            raise solver_failure(K.NONFINITE, float(fstate[K.F_TIME]) / 3600.0, "the column",
                                 *_hint_arguments(problem)) from None
        if status != K.OK:
            raise _failure(problem, status, fstate, istate, u)
        # the stops done: every one up to the time reached (ESDIRK4 may have stepped past a pause)
        return int(np.searchsorted(stops, fstate[K.F_TIME], side="right"))

    return advance, u_out, comp_out, stats, fstate, ((u_gap, comp_gap) if gaps else None)


def integrate_estimated(problem: Problem1D, progress: bool = False, desc: str = "solving") -> RawSolution:
    """Solve a 1D problem and estimate the error of every amount from two more runs.

    Without an accuracy target the result is the problem's own run, and two
    check runs each change one thing: the *space* check has half the cells
    of each layer (at least 4) at the same tolerance, the *time* check the
    same grid at a ten times looser tolerance.  The estimate is the sum of
    ``|a - a_space| / 2`` (second order in space: ``a_half - a = 3 e_x``,
    halved for safety) and ``|a - a_time| / d`` with ``d = (10^s - 1)/2``
    from the integrator's measured time-error slope ``s``
    (:data:`~exodiff.problem.layered.TIME_ERROR_SLOPE`: ESDIRK4 and SDIRK4
    ``s = 1``, ``a_loose - a ~ 9 e_t``, ``d = 4.5``; TR-BDF2 ``s = 0.66``,
    ``d = 1.8``: again halved for safety).  A grid already at 4 cells in a
    layer is checked against twice its cells instead, and a tolerance at
    the cap (0.1) against a ten times tighter one
    (:func:`~exodiff.problem.layered.time_check`).  The Krylov propagator
    (``integrator = "krylov"``) needs no time check run: its result with two
    fewer vectors (``raw.lower_order``, divisor 1, plus its bound ``0.1 x tolerance`` as a floor) is the time
    part.  The space check's grid halved again (:func:`_third_grid`) shows
    where the grids are not yet at their order, and an output ESDIRK4
    interpolated adds what another interpolant of its step gives
    (:func:`with_interpolation_gap`); docs/numerics.md.  One check run changing both
    at once (before) let the space and time errors cancel in one difference:
    the msc_exosome preset washed off at 6 h reported its SC at 4.7e-13 of
    the dose with an estimate of 3e-14 where a tight run gives 4.2e-14;
    separate differences cannot cancel each other.  Measured ratios of true
    error to estimate: ``python benchmarks/grid_accuracy.py --check-run``
    (docs/numerics.md).  The estimate is still not a bound.

    With an accuracy target (``problem.accuracy``) the companion has twice
    the cells (nested faces, same tolerance) and the result is the Richardson
    extrapolation ``(4 a_fine - a)/3`` on the problem's grid (profiles: the
    fine cells' amounts summed onto the coarse cells).  The estimate is then
    ``|a_fine - a|`` (a bound on the extrapolation's grid error) plus the
    time share of the target (``ACCURACY_TIME_SHARE x accuracy``).

    Returns
    -------
    RawSolution
        With ``companion``, a tuple of ``(problem, raw, divisor, floor)``:
        error estimate ``sum |amount - amount_companion| / divisor + floor``
        (fraction of the dose).
    """
    from dataclasses import replace

    from exodiff.problem.layered import ACCURACY_TIME_SHARE, time_check

    raw = integrate(problem, progress=progress, desc=desc, gaps=not problem.richardson)
    if problem.richardson:
        fine = problem.with_grid(problem.grid.refined(2))
        share_schedule(problem, fine)
        raw_f = integrate(fine, desc=desc + " (fine grid)", gaps=False)
        out = extrapolate(problem, raw, fine, raw_f)
        # |E - a| = 4/3 |a_fine - a|
        out.companion = ((problem, raw, 4.0 / 3.0, ACCURACY_TIME_SHARE * problem.accuracy),)
        return out
    coarse = problem.grid.coarsened(2)
    if all(c < n for c, n in zip(coarse.cells_per_layer(), problem.grid.cells_per_layer())):
        space = (problem.with_grid(coarse), 2.0, " (space check)")
    else:
        # a layer already at the fewest cells: the check was this very grid and stated no space error (4 cells per
        # layer); twice the cells instead, a - a_fine = 3/4 e at order 2, with the coarse check's 1.5 for safety
        space = (problem.with_grid(problem.grid.refined(2)), 0.5, " (space check, finer grid)")
    tol, divisor = time_check(problem.tolerance, problem.integrator)
    checks = (space, (replace(problem, tolerance=tol), divisor, " (time check)"))
    if raw.lower_order is not None:
        # the Krylov propagator's own k - 2 result: the time part at no run (the ten times looser run it
        # replaces often took the same vectors and stated no time error at all)
        checks = checks[:1]
    companion = []
    for check, divisor, what in checks:
        share_schedule(problem, check)
        try:
            companion.append((check, integrate(check, desc=desc + what, amounts_only=True), divisor, 0.0))
        except SolverError as exc:  # the result stands; it just has no stated levels
            raw.stats["check_run"] = f"failed: {exc}"
            return raw
    if space[1] == 2.0:
        _third_grid(problem, companion[0], desc)
    if raw.lower_order is not None:
        from exodiff.solvers.krylov import KRYLOV_ERROR_SHARE

        # plus the propagator's bound as a floor: an amount far below the dose has its error from the tail of
        # a global approximation, which the k and k - 2 vectors share (an independent check: a viable epidermis
        # of 5e-11 of the dose off by 1.6e-12 where their difference was 1.4e-13, a dermis of 4e-9 off by 6e-10
        # where it was 1e-10); the bound holds for every amount, so a smaller one is flagged, not resolved
        lower = raw.lower_order.raw(raw.times)
        lower.stats["check"] = "two fewer Krylov vectors (/ 1)"
        companion.append((problem, lower, 1.0, KRYLOV_ERROR_SHARE * problem.tolerance))
    if raw.interpolation_gap is not None:
        # an output inside a step, at no run: the check runs' steps may span it too (their tolerance moves
        # the steps little where the step control does not see an amount), so they cannot tell what the
        # interpolant missed; another interpolant of the same step can
        companion.append((problem, with_interpolation_gap(problem, raw), 1.0, 0.0))
    raw.companion = tuple(companion) or None
    return raw


def _third_grid(problem: Problem1D, space: tuple, desc: str) -> None:
    """The space check's own check: its grid halved again, run and kept in the space check's
    ``stats["coarser"]`` as ``(problem, raw)``, so the estimate can see the observed order of the three grids
    (:func:`exodiff.results.dataset.pre_asymptotic_factor`).  Nothing when a layer of the space check has
    fewer than 8 cells or the run fails (the estimate is then the two-grid one): halving stops at 4 cells, and
    a ratio other than ~2 reads as another order (5 cells to 4 read a second-order solution as ``p = -0.4``
    and stated 7x its errors; an independent check, ``resolution = {cells = 10}``).  Layers of 8 and more
    halve by 1.8-2 (``ceil(c / 2)``), which moves a second order's ``p`` no lower than 1.6."""
    check, raw_check = space[0], space[1]
    if min(check.grid.cells_per_layer()) < 8:
        return
    coarser = check.grid.coarsened(2)
    third = problem.with_grid(coarser)
    share_schedule(problem, third)
    try:
        raw_check.stats["coarser"] = (third, integrate(third, desc=desc + " (space check, coarser)",
                                                        amounts_only=True))
    except SolverError:
        pass


def restrict(problem: Problem1D, fine: Problem1D, u_fine: np.ndarray, cap_c: np.ndarray,
             cap_f: np.ndarray) -> np.ndarray:
    """``u`` of a nested fine grid on the coarse grid's nodes, amount-conserving (..., n_fine) -> (..., n)."""
    out = np.empty(u_fine.shape[:-1] + (problem.n_nodes,))
    out[..., 0] = u_fine[..., 0]  # the film
    if problem.has_receptor:
        out[..., -1] = u_fine[..., -1]
    cf, cc = fine.cell_nodes, problem.cell_nodes
    m = u_fine[..., cf] * cap_f[..., cf]
    pairs = m[..., 0::2] + m[..., 1::2]
    with np.errstate(divide="ignore", invalid="ignore"):
        out[..., cc] = np.where(cap_c[..., cc] > 0, pairs / cap_c[..., cc], 0.0)
    return out


def extrapolate(problem: Problem1D, raw: RawSolution, fine: Problem1D, raw_f: RawSolution) -> RawSolution:
    """Richardson extrapolation ``(4 fine - coarse) / 3`` of two runs on nested grids, on the coarse grid.

    Linear in the states with weights adding up to 1, so the dose balance of
    the two runs carries over (to round-off).
    """
    cap_c, cap_f = problem.columns_arrays()["cap"], fine.columns_arrays()["cap"]  # (S, n)
    uc = raw.u_cols if raw.u_cols is not None else raw.u[:, None, :]
    uf = raw_f.u_cols if raw_f.u_cols is not None else raw_f.u[:, None, :]
    cc = raw.comp_cols if raw.comp_cols is not None else raw.comp[:, None, :]
    cf = raw_f.comp_cols if raw_f.comp_cols is not None else raw_f.comp[:, None, :]
    u = (4.0 * restrict(problem, fine, uf, cap_c[None], cap_f[None]) - uc) / 3.0
    comp = (4.0 * cf - cc) / 3.0
    stats = dict(raw.stats)
    stats.update(steps=raw.stats["steps"] + raw_f.stats["steps"],
                 wall_time_s=raw.stats["wall_time_s"] + raw_f.stats["wall_time_s"],
                 fine_grid_cells=int(fine.grid.n))
    # the fluxes read node values next to a face: each run's own on its own grid, then extrapolated (restricted
    # states hold cell averages, whose difference across a face made flux_into_skin first-order: 71 % off at
    # accuracy = 1e-6 on a film over one membrane)
    fc = np.stack([column_fluxes(problem, uc[:, s], s, raw.times) for s in range(uc.shape[1])], axis=1)
    ff = np.stack([column_fluxes(fine, uf[:, s], s, raw.times) for s in range(uf.shape[1])], axis=1)
    out = RawSolution(times=raw.times.copy(), u=u[:, 0], comp=comp[:, 0], stats=stats, u_cols=u, comp_cols=comp,
                      fluxes=(4.0 * ff - fc) / 3.0)
    check_mass_balance(mass_balance_error(problem, out), out.times, balance_limit(problem))
    return out

def run_paused(advance, stops, events, progress: bool, desc: str) -> float:
    """Drive the 1D kernels over the stop list; return the wall time (s).

    Without a progress bar one call.  With one, up to 100 calls: the stops
    ending each chunk carry :data:`~exodiff.kernels.column1d.EVENT_PAUSE`,
    at which the kernel returns without ending a step there (ESDIRK4 steps
    over plain output times); ``advance(k0, events)`` runs from stop ``k0``
    and returns the first stop not yet done.  The controller's state is
    carried in ``fstate``, so a run with a bar takes the steps of one without.
    """
    import time as _time

    from exodiff.kernels.column1d import EVENT_PAUSE

    t0 = _time.perf_counter()
    if not (progress and stops.size):
        advance(0, events)
        return _time.perf_counter() - t0
    from tqdm import tqdm

    ev = events.copy()
    chunks = np.array_split(np.arange(stops.size), min(stops.size, 100))
    ends = [int(c[-1]) for c in chunks if c.size][:-1]
    # a chunk never ends between two stops at one time (a record before an event's stop): the driver resumes
    # after the time reached, which would skip the second
    ends = [e + int(np.searchsorted(stops[e:], stops[e], side="right")) - 1 for e in ends]
    ev[ends] |= EVENT_PAUSE
    bar = tqdm(total=stops.size, desc=desc, unit="output", delay=0.5, leave=False, disable=None)
    try:
        k0 = 0
        while k0 < stops.size:
            k1 = advance(k0, ev)
            bar.update(k1 - k0)
            k0 = k1
    finally:
        bar.close()
    return _time.perf_counter() - t0


def _failure(problem, status, fstate, istate, u) -> SolverError:
    from exodiff.kernels import column1d as K

    code = int(istate[K.I_FAIL_NODE])
    n = u.shape[-1]
    node = code % n if code >= 0 else code
    if node == 0:
        region = "vehicle"
    elif problem.has_receptor and node == n - 1:
        region = "receptor"
    elif node > 0:
        region = problem.layers[int(problem.grid.layer_of_cell[node - 1])].name
    else:
        region = "unknown region"
    return solver_failure(status, fstate[K.F_FAIL_TIME] / 3600.0, region, *_hint_arguments(problem))


def _hint_arguments(problem: Problem1D) -> tuple:
    """``(layers, widths, vehicle_thickness)`` of :func:`~exodiff.solvers.common.solver_failure` for a column: each
    layer's thinnest cell, the film's thickness (0 for a constant donor)."""
    return (problem.layers, problem.grid.thinnest_cells(),
            0.0 if problem.vehicle == "infinite" else problem.vehicle_thickness)


def kernels_cached(kernel: str = "integrate_column_rk", optional_arrays: int | None = None) -> bool:
    """True when a compiled 1D kernel (by name, in :mod:`exodiff.kernels.column1d`) is in Numba's cache and current.

    The default is the one-column loop of the default integrator (ESDIRK4).
    ``optional_arrays``: the variant of :func:`~exodiff.kernels.column1d.integrate_columns`
    with that many of its optional arrays given (0 plain, 2 a leaking film,
    5 an enhancement); None: any variant.

    Reads Numba's cache index (private API; if it moves, report "cached" rather
    than announce a compile that will not happen).  An index whose source stamp
    no longer matches the kernel's file loads as empty, like a missing one.
    """
    try:
        from exodiff.kernels import column1d

        index = getattr(column1d, kernel)._cache._cache_file._load_index()
        if optional_arrays is None:
            return bool(index)
        # the optional physics arrays follow the 27 required arguments and the method; then the interpolation
        # gaps, always given
        return any(sum(str(t).startswith("array") for t in key[0][28:34]) == optional_arrays for key in index)
    except Exception:
        return True


#: compile time of the 1D kernels in a cold process, measured on the 2-core
#: development machine (benchmarks/bench_solver_1d.py, track_compile_seconds); the ESDIRK4
#: loop (the default) compiles in 1.2-1.7x TR-BDF2's time (19.6-22.9 s against 13.6-16.0 s
#: at load 5.3; 8 s was TR-BDF2's on a quiet machine)
COMPILE_SECONDS = 11
