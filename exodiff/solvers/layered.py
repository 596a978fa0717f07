"""The 1D driver: Problem1D -> compiled kernel -> checked raw solution.

The kernel runs the whole time loop.  With a progress bar the driver calls it
once per chunk of output times (the state, the step size and the step
controller's memory are passed through, so the steps are those of one call),
so Python runs per chunk, never per step.
"""

from __future__ import annotations


import numpy as np

from exodiff.errors import SolverError
from exodiff.problem.layered import Problem1D
from exodiff.solvers.common import MAX_STEPS, METHODS, RawSolution, initial_fstate, solver_failure, stop_list
from exodiff.solvers.ledger import balance_limit, check_mass_balance, mass_balance_error


def method_code(problem) -> int:
    """The kernels' method code of ``problem.integrator``."""
    return METHODS[problem.integrator]


def integrate(problem: Problem1D, progress: bool = False, desc: str = "solving") -> RawSolution:
    """Solve a 1D problem.

    Parameters
    ----------
    problem : Problem1D
    progress : bool
        Show a tqdm bar advancing per output time.

    Returns
    -------
    RawSolution

    Raises
    ------
    SolverError
        Non-finite values, step-size collapse, or a mass-balance error beyond
        round-off, naming the time and the layer.
    """
    from exodiff.kernels import column1d as K

    arr = problem.columns_arrays()
    S, n = arr["cap"].shape
    L = len(problem.layers)
    P = problem.n_processes
    nc = P * L + 3
    times = problem.output_times
    u = np.zeros((S, n))
    u[:, 0] = problem.concentration * arr["weight"]
    comp = np.zeros((S, nc))
    u_out = np.zeros((times.size, S, n))
    comp_out = np.zeros((times.size, S, nc))
    u_out[0] = u
    t_end = float(times[-1])
    h_start = 1e-8 * max(t_end, 1.0)
    fstate = initial_fstate(problem, h_start)
    istate = np.zeros(3, dtype=np.int64)
    stats = np.zeros(3, dtype=np.int64)
    stops, out_idx, events = stop_list(problem)
    infinite = problem.vehicle == "infinite"
    c_donor = problem.concentration * arr["weight"]
    args = (arr["cap"], arr["g"], arr["closs"], arr["csrc"], arr["source_to"], arr["node_layer"], L,
            infinite, c_donor, problem.vehicle_thickness,
            problem.evaporation_fraction, problem.evaporation_time, problem.sample_fraction)
    rtol = problem.tolerance
    m_ref = arr["m_ref"]
    method = method_code(problem)

    def advance(k0, ev):
        ch = slice(k0, None)
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
                status = K.integrate_column_rk(*one, method)
        else:
            status = K.integrate_columns(*args, stops[ch], out_idx[ch], ev[ch], u, comp, fstate, istate,
                                         rtol, m_ref, h_start, MAX_STEPS, u_out, comp_out, stats, method)
        if status != K.OK:
            raise _failure(problem, status, fstate, istate, u)
        # the stops done: every one up to the time reached (ESDIRK4 may have stepped past a pause)
        return int(np.searchsorted(stops, fstate[K.F_TIME], side="right"))

    wall = run_paused(advance, stops, events, progress, desc)
    raw = RawSolution(times=times.copy(), u=u_out[:, 0], comp=comp_out[:, 0],
                      stats={"steps": int(stats[0]), "rejected": int(stats[1]), "solves": int(stats[2]),
                             "wall_time_s": wall, "columns": int(S)},
                      u_cols=u_out, comp_cols=comp_out)
    check_mass_balance(mass_balance_error(problem, raw), times, balance_limit(problem, arr))
    return raw


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
    ev[ends] |= EVENT_PAUSE
    bar = tqdm(total=stops.size, desc=desc, unit="output", delay=0.5, leave=False)
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
    return solver_failure(status, fstate[K.F_FAIL_TIME] / 3600.0, region)


def kernels_cached(kernel: str = "integrate_column_rk") -> bool:
    """True when a compiled 1D kernel (by name, in :mod:`exodiff.kernels.column1d`) is in Numba's cache and current.

    The default is the one-column loop of the default integrator (ESDIRK4).

    Reads Numba's cache index (private API; if it moves, report "cached" rather
    than announce a compile that will not happen).  An index whose source stamp
    no longer matches the kernel's file loads as empty, like a missing one.
    """
    try:
        from exodiff.kernels import column1d

        return bool(getattr(column1d, kernel)._cache._cache_file._load_index())
    except Exception:
        return True


#: compile time of the 1D kernels in a cold process, measured on the 2-core
#: development machine (benchmarks/bench_solver_1d.py, track_compile_seconds); the ESDIRK4
#: loop (the default) compiles in 1.2-1.7x TR-BDF2's time (19.6-22.9 s against 13.6-16.0 s
#: at load 5.3; 8 s was TR-BDF2's on a quiet machine)
COMPILE_SECONDS = 11
