"""The r-z driver: ProblemRZ -> compiled kernel -> checked raw solution.

Shares with the 1D driver the raw-solution container, the stop list
(output times + wash-off) and the chunked call (:mod:`exodiff.solvers.common`),
and the ledger: compartment layout, mass-balance formula and limit
(:mod:`exodiff.solvers.ledger`).  Amounts inside are per unit cell; the
results stage reports them per cm^2 of skin (divided by ``pi R^2``), so an
r-z result reads like a 1D one.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

from exodiff.errors import SolverError
from exodiff.geometry.grid_rz import CHANNEL, COAGULATION
from exodiff.problem.unit_cell import ProblemRZ
from exodiff.solvers.common import MAX_STEPS, RawSolution, run_in_chunks, solver_failure, stop_list
from exodiff.solvers.ledger import balance_limit_rz, check_mass_balance, mass_balance_error_rz

#: cells from which the parallel (prange) kernels pay off on 2 cores (measured
#: break-even about 9000 cells on an idle machine)
PARALLEL_THRESHOLD = 12_000

#: a kernel call in ``auto`` mode covers at least this much wall time (s) before the
#: thread count is decided again (calls start at one output and double while shorter)
DECIDE_EVERY_S = 0.1


def stop_list_rz(problem: ProblemRZ):
    """Output times, wash-off, a regimen's applications and procedure sessions, and the closure time scale
    (after each session) as the kernel's stop list."""
    from exodiff.kernels.rz import EVENT_REOPEN

    stops, idx, ev = stop_list(problem)
    t_end = float(problem.output_times[-1])
    for tp in problem.procedure_times:
        if tp > t_end:  # after the last output: no stop (stop_list leaves its application out too)
            continue
        # every session is an application, so it is a stop already
        k = int(np.flatnonzero(np.isclose(stops, tp, rtol=0, atol=1e-9 * max(tp, 1.0)))[0])
        ev[k] |= EVENT_REOPEN
    tau = problem.channel.closure_time if problem.grid.channel_rows > 0 else math.inf
    for t0 in (0.0, *problem.procedure_times):
        tk = t0 + tau
        if 0.0 < tk < t_end and not np.any(np.isclose(stops, tk, rtol=0, atol=1e-9 * max(tk, 1.0))):
            k = int(np.searchsorted(stops, tk))
            stops = np.insert(stops, k, tk)
            idx = np.insert(idx, k, -1)
            ev = np.insert(ev, k, 0)
    return stops, idx, ev


def use_parallel(problem: ProblemRZ, parallel="auto") -> bool:
    """Whether the run may use the ``prange`` kernels at all (each call then decides how many threads).

    ``auto``: at least :data:`PARALLEL_THRESHOLD` cells (below about 9000
    serial wins even on an idle machine), at least two cores and two Numba
    threads, a threading layer with cheap launches
    (:data:`exodiff.kernels.threads.FAST_LAYERS`: on ``workqueue`` the
    parallel loop is slower than the serial one even on an idle machine),
    and the parallel time loop already compiled (in Numba's cache or in this
    process): compiling it inside a run costs 30-70 s to save a second or
    two, so it is left to ``exodiff warm``, and the run goes serial until
    then.  Whether a call then runs in parallel, and on how many threads, is
    decided before each call from the cores free at that moment
    (:func:`exodiff.kernels.threads.parallel_threads`).
    """
    if parallel != "auto":
        return bool(parallel)
    from exodiff.kernels import threads

    if problem.grid.nz * problem.grid.nr < PARALLEL_THRESHOLD or threads.cores() < 2:
        return False
    if _numba_threads() < 2 or _layer() not in threads.FAST_LAYERS:
        return False
    return parallel_kernel_ready()


def _numba_threads() -> int:
    import numba

    return numba.get_num_threads()


def _layer() -> str:
    from exodiff.kernels.threads import layer

    return layer()


def parallel_kernel_ready() -> bool:
    """True when the parallel unit-cell loop is compiled in this process or in Numba's cache."""
    from exodiff.kernels import rz as K

    return bool(K.integrate_rz_parallel.overloads) or kernel_cached(True)


#: first-call compile time of each unit-cell time loop on a cold cache, s (2-core development
#: machine, numba imported, kernel of 2026-11-26: serial 20 s, then the parallel one 29 s; the
#: parallel one alone 32-34 s in benchmarks/compare_reference.py --rz)
COMPILE_SECONDS = {False: 20, True: 32}


def kernel_cached(parallel: bool) -> bool:
    """True when that unit-cell time loop is in Numba's on-disk cache (see :func:`exodiff.solvers.layered.kernels_cached`)."""
    try:
        from exodiff.kernels import rz as K

        kernel = K.integrate_rz_parallel if parallel else K.integrate_rz_serial
        return bool(kernel._cache._cache_file._load_index())
    except Exception:
        return True


def warm_serial(parallel: bool = False) -> None:
    """Compile (or load from the cache) the serial unit-cell loop on a tiny problem.

    Sweep parents call it before their workers start (workers run one
    thread, so the serial loop): forked workers inherit it, and none of them
    compiles it concurrently.  ``parallel``: the prange loop instead
    (``exodiff warm``).
    """
    from exodiff.problem.layered import Layer

    p = ProblemRZ.from_layers([Layer("skin", 50e-6, 1e-12, 1.0)], channel_radius=10e-6, channel_depth=20e-6,
                              density=1e8, open_diffusivity=1e-11, output_times=[60.0], resolution=(4, 6))
    integrate_rz(p, parallel=parallel)


def integrate_rz(problem: ProblemRZ, progress: bool = False, desc: str = "solving", *, parallel="auto",
                 initial_state=None, fixed_step: float | None = None, check: bool = True,
                 filter_mode: int = 2, predict1: bool = True) -> RawSolution:
    """Solve a unit-cell problem.

    Parameters
    ----------
    problem : ProblemRZ
    progress : bool
        Show a tqdm bar advancing per output time.
    parallel : "auto" or bool
        Use the ``prange`` line sweeps (``auto``: see :func:`use_parallel`;
        sweep workers, which run one thread each, get the serial kernels).
    initial_state : array_like, optional
        ``u = c/K`` per cell, shape ``(nz, nr)``, at ``t = 0`` (default: empty
        skin); the vehicle starts at the problem's concentration.  The dose
        the mass balance refers to then includes what the tissue holds.
    fixed_step : float, optional
        Take fixed steps of this size (s), every one accepted (for convergence
        studies); default adaptive.
    filter_mode : int
        Filter of the error estimate (2: the factored iteration matrix; 1 its
        z factor; 0 none).  For experiments; see docs/numerics_rz.md.
    predict1 : bool
        Start stage 1 from the last step's ``du/dt`` extrapolation (default);
        False starts from ``u_n``.  For experiments.
    check : bool
        Check the mass balance at every output (raise beyond 1e-9).

    Returns
    -------
    RawSolution
        ``u`` has shape ``(k, 1 + nz nr)`` (vehicle, then cells row by row),
        amounts in ``comp`` are per unit cell.  With a cargo
        (``problem.cargo``) ``u``/``comp`` are the vesicles' and ``u_cols``,
        ``comp_cols`` hold both fields (``(k, 2, ...)``: vesicles, free
        cargo; ``4 L + 3`` compartments each, as the 1D cargo run).

    Raises
    ------
    SolverError
        Non-finite values (naming time, layer and region, r and z), step-size
        collapse, or a mass-balance error beyond round-off.
    """
    from exodiff.kernels import rz as K

    check_coefficients(problem)
    arr = problem.kernel_arrays()
    nz, nr = problem.grid.shape
    L = len(problem.layers)
    nc = problem.n_compartments
    times = problem.output_times
    u = np.zeros(1 + nz * nr)
    u[0] = problem.concentration
    if initial_state is not None:
        u[1:] = np.asarray(initial_state, dtype=float).reshape(nz * nr)
    # carried between calls (a progress bar calls per chunk of outputs): the last step's effective du/dt
    # (stage-1 predictor), then its effective F_1 and rates r_1 (the next step's F_n, r_n: first same as last)
    v = np.zeros(2 * u.size + nc)
    comp = np.zeros(nc)
    u_out = np.zeros((times.size, u.size))
    comp_out = np.zeros((times.size, nc))
    u_out[0] = u
    t_end = float(times[-1])
    h_start = 1e-8 * max(t_end, 1.0)
    # time, next step, failure time, last step, remembered rejection (step, error, age), the film
    # (applied at, thickness, volatile fraction) and when the channels were made (kernels.rz F_* slots)
    fstate = np.zeros(K.N_FSTATE_RZ)
    fstate[:7] = [0.0, h_start, math.nan, 0.0, 0.0, 0.0, 0.0]
    fstate[K.F_APPLIED_RZ] = 0.0
    fstate[K.F_FILM_RZ] = problem.vehicle_thickness
    fstate[K.F_VOLATILE_RZ] = problem.evaporation_fraction
    fstate[K.F_OPENED] = -arr["t_open"]
    istate = np.zeros(3, dtype=np.int64)
    stats = np.zeros(3, dtype=np.int64)
    stops, out_idx, events = stop_list_rz(problem)
    # the free cargo (a second field with the vesicles' steps): empty arrays without one
    has_cargo = problem.cargo is not None
    u_c = np.zeros(1 + nz * nr if has_cargo else 0)   # free cargo: only what starts free in the film
    if has_cargo:
        u_c[0] = problem.concentration * problem.cargo.free
    v_c = np.zeros(2 * u_c.size + nc if has_cargo else 0)
    comp_c = np.zeros(nc if has_cargo else 0)
    u_out_c = np.zeros((times.size, u_c.size))
    comp_out_c = np.zeros((times.size, comp_c.size))
    tw = problem.wash_off_time
    if tw is not None and tw <= 0.0:
        # washed before anything happens: the whole film is removed at t = 0 (with any free cargo in it)
        if problem.vehicle == "finite":
            comp[nc - 2] = problem.vehicle_capacity_at(0.0) * u[0]  # removed
            if has_cargo:
                comp_c[nc - 2] = problem.vehicle_capacity_at(0.0) * u_c[0]
        u[0] = 0.0
        if has_cargo:
            u_c[0] = 0.0
        istate[K.I_WASHED] = 1
        u_out[0] = u
        comp_out[0] = comp
    if has_cargo:
        u_out_c[0] = u_c
        comp_out_c[0] = comp_c
    may = use_parallel(problem, parallel)
    forced = parallel != "auto" and may
    if may:
        # OpenMP threads spin at barriers before sleeping; libgomp's default spin
        # is long enough that, should another process start during a call, the
        # spinning thread starves its descheduled sibling (a 200 x 400 run: 20 s
        # vs 7.6 s with this bound), while passive waiting costs the idle case its
        # speed-up (2.9 s vs 1.5 s).  Only the default is set, so a user's own
        # choice wins; libgomp reads it when it starts (first parallel launch).
        os.environ.setdefault("GOMP_SPINCOUNT", "10000")
    rtol = problem.tolerance
    m_ref = problem.amount_scale()
    if initial_state is not None:
        m_ref += float(np.abs(problem.capacity_at(0.0).ravel() * u[1:]).sum())
    m_ref = max(m_ref, 1e-300)          # an empty problem stays empty, without 0/0
    wabs = problem.grid.annulus_areas / problem.cell_area
    args = (arr["chan_cols"], arr["d_open"], arr["k_open"], arr["tau"], arr["t_open"], arr["d_t"], arr["k_t"],
            arr["kdeg"], arr["kup"], arr["kcl"], arr["vol"], arr["dz"], arr["dr"], arr["rf"], arr["az"], arr["sink"],
            arr["row_layer"], L, problem.vehicle == "infinite", problem.concentration,
            problem.vehicle_thickness, problem.evaporation_fraction, problem.evaporation_time,
            problem.cell_area, wabs)
    h_fixed = 0.0 if fixed_step is None else float(fixed_step)
    c_free = problem.concentration * problem.cargo.free if has_cargo else 0.0   # a fresh film's free cargo
    cargo_args = (arr["krel"], arr["f_deg"], arr["enc"], c_free, arr["d_open_c"], arr["k_open_c"], arr["d_t_c"], arr["k_t_c"],
                  arr["kdeg_c"], arr["kup_c"], arr["kcl_c"], u_c, v_c, comp_c, u_out_c, comp_out_c)

    calls = {"serial": 0, "parallel": 0, "threads": 0}

    def call(ch):
        """One kernel call over the stops ``ch``; a failure as a one-line SolverError."""
        try:
            status = kernel_call(ch)
        except ZeroDivisionError:
            # Numba's division checks: coefficients beyond float64 (a free diffusivity of 1e150 m^2/s) made a
            # factor infinite and its inverse 0 before any value turned non-finite; a traceback otherwise
            raise solver_failure(K.NONFINITE, float(fstate[K.F_TIME]) / 3600.0, "the unit cell",
                                 *_hint_arguments(problem)) from None
        if status != K.OK:
            raise _failure(problem, status, fstate, istate)

    def kernel_call(ch):
        """One kernel call over the stops ``ch``: parallel on the cores free now, else serial; its status."""
        status = None
        if may:
            import numba

            from exodiff.kernels.threads import PARALLEL_LAUNCH, parallel_threads

            threads = numba.get_num_threads() if forced else parallel_threads()
            # forced: wait for another thread's parallel launch to end; auto: run serial meanwhile
            if (forced or threads >= 2) and PARALLEL_LAUNCH.acquire(blocking=forced):
                before = numba.get_num_threads()
                try:
                    numba.set_num_threads(threads)
                    status = K.integrate_rz_parallel(
                        *args, stops[ch], out_idx[ch], events[ch], u, v, comp, fstate, istate, rtol, m_ref,
                        h_start, MAX_STEPS, h_fixed, filter_mode, predict1, max(1, min(nr, threads)),
                        u_out, comp_out, stats, *cargo_args)
                finally:
                    numba.set_num_threads(before)
                    PARALLEL_LAUNCH.release()
                calls["parallel"] += 1
                calls["threads"] = max(calls["threads"], threads)
        if status is None:
            status = K.integrate_rz_serial(*args, stops[ch], out_idx[ch], events[ch], u, v, comp, fstate, istate,
                                           rtol, m_ref, h_start, MAX_STEPS, h_fixed, filter_mode, predict1, 1,
                                           u_out, comp_out, stats, *cargo_args)
            calls["serial"] += 1
        return status

    def advance(ch):
        if not may or forced:
            call(ch)
            return
        # auto: decide the threads again every DECIDE_EVERY_S or so (another process may start or stop
        # meanwhile), starting with one stop per call, doubling while a call is shorter than that and
        # halving when one took four times longer (a neighbour slowed it); the state carried between
        # calls makes the chunks one run (tests/test_rz.py, tests/test_threads.py)
        k, n = 0, 1
        while k < ch.size:
            t0 = time.perf_counter()
            call(ch[k:k + n])
            k += n
            took = time.perf_counter() - t0
            if took < DECIDE_EVERY_S:
                n *= 2
            elif took > 4.0 * DECIDE_EVERY_S and n > 1:
                n //= 2

    wall = run_in_chunks(advance, stops.size, progress, desc)
    raw = RawSolution(times=times.copy(), u=u_out, comp=comp_out,
                      stats={"steps": int(stats[0]), "rejected": int(stats[1]), "solves": int(stats[2]),
                             "wall_time_s": wall, "parallel": calls["parallel"] > 0, "cells": nz * nr,
                             "kernel_calls": dict(calls)})
    if has_cargo:
        raw.u_cols = np.stack([u_out, u_out_c], axis=1)
        raw.comp_cols = np.stack([comp_out, comp_out_c], axis=1)
    if initial_state is not None:
        m0 = problem.capacity_at(0.0) * u_out[0, 1:].reshape(nz, nr)
        raw.stats["initial_tissue"] = float(m0.sum())
        raw.stats["initial_tissue_abs"] = float(np.abs(m0).sum())
    if check:
        check_mass_balance(mass_balance_error_rz(problem, raw), times, balance_limit_rz(problem))
    return raw


def check_coefficients(problem: ProblemRZ) -> None:
    """Raise a SolverError naming the coefficient and the region if any is not finite or negative.

    Checked before the run: a NaN anywhere reaches every line through the
    shared vehicle node within one step, so the kernel's own check could
    only name the first cell it scans, not the cause.
    """
    fields = problem.tissue_fields()
    if problem.cargo is not None:
        fields.update({f"cargo {k}": v for k, v in problem.tissue_fields("cargo").items()})
    ch = problem.channel
    scalars = {"channel open diffusivity": ch.open_diffusivity, "channel open partition": ch.open_partition,
               "concentration": problem.concentration, "vehicle thickness": problem.vehicle_thickness}
    for name, value in scalars.items():
        if not (math.isfinite(value) and value >= 0.0):
            raise SolverError(f"solver: {name} is {value!r}; expected a finite value >= 0")
    for name, arr in fields.items():
        bad = ~(np.isfinite(arr) & (arr >= 0.0))
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise SolverError(f"solver: {name.replace('_', ' ')} is {float(arr[i, j])!r} in "
                              f"{region_name(problem, 1 + int(i) * problem.grid.nr + int(j))}; "
                              "expected a finite value >= 0")


def region_name(problem: ProblemRZ, node: int) -> str:
    """Where a flat state index lies: vehicle, or layer + region + (r, z) in um."""
    if node == 0:
        return "vehicle"
    if node < 0:
        return "unknown region"
    g = problem.grid
    i, j = divmod(node - 1, g.nr)
    layer = problem.layers[int(g.z.layer_of_cell[i])].name
    reg = {CHANNEL: "channel", COAGULATION: "coagulation zone"}.get(int(g.region[i, j]), "tissue")
    return f"{layer} ({reg}, r = {g.r_centres[j] * 1e6:.4g} um, z = {g.z.centres[i] * 1e6:.4g} um)"


def _failure(problem, status, fstate, istate) -> SolverError:
    from exodiff.kernels.control import F_FAIL_TIME, I_FAIL_NODE

    return solver_failure(status, fstate[F_FAIL_TIME] / 3600.0, region_name(problem, int(istate[I_FAIL_NODE])),
                          *_hint_arguments(problem))


def _hint_arguments(problem: ProblemRZ) -> tuple:
    """``(layers, widths, vehicle_thickness, channel, limit)`` of :func:`~exodiff.solvers.common.solver_failure`
    for a unit cell: each layer's thinnest cell either way, the open channel's ``(D, K, thinnest cell)`` (None
    without one), the unit cell's own limit."""
    from exodiff.solvers.common import EXTREME_RATE_RZ

    g = problem.grid
    dr = float(np.diff(g.r_faces).min())
    widths = [min(w, dr) for w in g.z.thinnest_cells()]
    ch = problem.channel
    channel = None
    if g.channel_rows > 0:
        dz = float(g.z.widths[:g.channel_rows].min())
        channel = (ch.open_diffusivity, ch.open_partition, min(dz, dr))
    return (problem.layers, widths, 0.0 if problem.vehicle == "infinite" else problem.vehicle_thickness, channel,
            EXTREME_RATE_RZ)


# -- bookkeeping (per unit cell) ------------------------------------------------------------
