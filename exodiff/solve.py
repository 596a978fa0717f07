"""Driver: Problem -> compiled kernel -> checked raw solution -> Dataset.

The kernel runs the whole time loop.  With a progress bar the driver calls it
once per chunk of output times (the state is passed through), so Python runs
per output, never per step.
"""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass

import numpy as np

from .errors import SolverError
from .problem import Problem1D

#: mass balance errors above this (relative) mean a bug, not round-off
MASS_BALANCE_LIMIT = 1e-9
MAX_STEPS = 5_000_000


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
    """

    times: np.ndarray
    u: np.ndarray
    comp: np.ndarray
    stats: dict
    u_cols: np.ndarray | None = None
    comp_cols: np.ndarray | None = None


def _stops(problem: Problem1D):
    """Merge output times and events into the kernel's stop list."""
    from .kernels.column1d import EVENT_NONE, EVENT_WASH

    times = problem.output_times
    stops = list(times[1:])
    idx = list(range(1, times.size))
    ev = [EVENT_NONE] * len(stops)
    tw = problem.wash_off_time
    if tw is not None and 0.0 < tw <= times[-1]:
        if np.any(np.isclose(times, tw, rtol=0, atol=1e-9 * max(tw, 1.0))):
            k = int(np.argmin(np.abs(np.asarray(stops) - tw)))
            ev[k] = EVENT_WASH
        else:
            k = int(np.searchsorted(stops, tw))
            stops.insert(k, tw)
            idx.insert(k, -1)
            ev.insert(k, EVENT_WASH)
    return np.array(stops, dtype=float), np.array(idx, dtype=np.int64), np.array(ev, dtype=np.int64)


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
    from .kernels import column1d as K

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
    fstate = np.array([0.0, h_start, math.nan])
    istate = np.zeros(3, dtype=np.int64)
    stats = np.zeros(3, dtype=np.int64)
    stops, out_idx, events = _stops(problem)
    infinite = problem.vehicle == "infinite"
    c_donor = problem.concentration * arr["weight"]
    args = (arr["cap"], arr["g"], arr["closs"], arr["csrc"], arr["source_to"], arr["node_layer"], L,
            infinite, c_donor, problem.vehicle_thickness,
            problem.evaporation_fraction, problem.evaporation_time)
    rtol = problem.tolerance
    m_ref = arr["m_ref"]

    def advance(ch):
        if S == 1 and P == 3:
            # one column: the one-column kernel (see exodiff.kernels.column1d)
            cl = arr["closs"][0]
            status = K.integrate_column(arr["cap"][0], arr["g"][0], cl[0], cl[1], cl[2], arr["node_layer"], L,
                                        infinite, c_donor[0], problem.vehicle_thickness,
                                        problem.evaporation_fraction, problem.evaporation_time,
                                        stops[ch], out_idx[ch], events[ch], u[0], comp[0], fstate, istate,
                                        rtol, m_ref[0], h_start, MAX_STEPS, u_out[:, 0], comp_out[:, 0], stats)
        else:
            status = K.integrate_columns(*args, stops[ch], out_idx[ch], events[ch], u, comp, fstate, istate,
                                         rtol, m_ref, h_start, MAX_STEPS, u_out, comp_out, stats)
        if status != K.OK:
            raise _failure(problem, status, fstate, istate, u)

    wall = run_in_chunks(advance, stops.size, progress, desc)
    raw = RawSolution(times=times.copy(), u=u_out[:, 0], comp=comp_out[:, 0],
                      stats={"steps": int(stats[0]), "rejected": int(stats[1]), "solves": int(stats[2]),
                             "wall_time_s": wall, "columns": int(S)},
                      u_cols=u_out, comp_cols=comp_out)
    check_mass_balance(mass_balance_error(problem, raw), times)
    return raw


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
        bar = tqdm(total=n_stops, desc=desc, unit="output", delay=0.5, leave=False)
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


def check_mass_balance(err: np.ndarray, times: np.ndarray) -> None:
    """Raise a SolverError when the relative balance error ``err`` (per output, maybe per column) is not round-off."""
    worst = float(np.max(np.abs(err)))
    if not worst <= MASS_BALANCE_LIMIT:
        k = int(np.argmax(np.abs(err)) // max(err.shape[1], 1)) if err.ndim == 2 else int(np.argmax(np.abs(err)))
        raise SolverError(f"mass balance error {worst:.2e} at t = {times[k] / 3600:.4g} h exceeds "
                          f"{MASS_BALANCE_LIMIT:g}: this is a bug in exodiff, please report it with the scenario")


def solver_failure(status: int, t_h: float, region: str) -> SolverError:
    """The one-line error of a kernel status (shared status codes of the 1D and r-z kernels)."""
    from .kernels import column1d as K

    if status == K.NONFINITE:
        return SolverError(f"solver: non-finite concentration at t = {t_h:.4g} h in {region}; "
                           "check for extreme or non-physical coefficients")
    if status == K.STEP_UNDERFLOW:
        return SolverError(f"solver: time step collapsed at t = {t_h:.4g} h; "
                           "the tolerance may be too tight for the coefficients given")
    return SolverError(f"solver: more than {MAX_STEPS} steps before t = {t_h:.4g} h; "
                       "loosen simulation.tolerance or check the coefficients")


def _failure(problem, status, fstate, istate, u) -> SolverError:
    from .kernels import column1d as K

    code = int(istate[K.I_FAIL_NODE])
    n = u.shape[-1]
    node = code % n if code >= 0 else code
    if node == 0:
        region = "vehicle"
    elif node > 0:
        region = problem.layers[int(problem.grid.layer_of_cell[node - 1])].name
    else:
        region = "unknown region"
    return solver_failure(status, fstate[K.F_FAIL_TIME] / 3600.0, region)


def _columns_u(problem: Problem1D, raw: RawSolution) -> np.ndarray:
    """``u`` of every column, (k, S, n)."""
    return raw.u_cols if raw.u_cols is not None else raw.u[:, None, :]


def _columns_comp(raw: RawSolution) -> np.ndarray:
    return raw.comp_cols if raw.comp_cols is not None else raw.comp[:, None, :]


def column_tissue_amounts(problem: Problem1D, raw: RawSolution) -> np.ndarray:
    """Amount in each layer of each column, dose unit/m^2, shape (k, S, L)."""
    uc = _columns_u(problem, raw)
    out = np.empty((uc.shape[0], uc.shape[1], len(problem.layers)))
    for s, col in enumerate(problem.all_columns):
        cap = problem.column_values(col, "partition") * problem.grid.widths
        m = uc[:, s, 1:] * cap
        for j, sl in enumerate(problem.grid.layer_slices):
            out[:, s, j] = m[:, sl].sum(axis=1)
    return out


def tissue_amounts(problem: Problem1D, raw: RawSolution) -> np.ndarray:
    """Amount of the active in each layer at each output time, dose unit/m^2, shape (k, L).

    With size classes the sum over the classes; a tracked cargo is not
    included (see :func:`column_tissue_amounts`).
    """
    if raw.u_cols is None or raw.u_cols.shape[1] == 1:
        # the tissue capacities K dz, as kernel_arrays()["cap"][1:] computes them,
        # without building every other kernel array (this runs after each solve)
        cap = problem.cell_values("partition") * problem.grid.widths
        m = raw.u[:, 1:] * cap
        return np.stack([m[:, sl].sum(axis=1) for sl in problem.grid.layer_slices], axis=1)
    per = column_tissue_amounts(problem, raw)
    ves = [s for s, c in enumerate(problem.all_columns) if c.species == "vesicle"]
    return per[:, ves].sum(axis=1)


def film_thickness(problem: Problem1D, times: np.ndarray) -> np.ndarray:
    """Vehicle film thickness at each time, m."""
    from .kernels.column1d import vehicle_capacity

    if problem.evaporation_fraction <= 0.0:
        return np.full(times.size, problem.vehicle_thickness)
    return np.array([vehicle_capacity(t, problem.vehicle_thickness, problem.evaporation_fraction,
                                      problem.evaporation_time) for t in times])


def vehicle_amount(problem: Problem1D, raw: RawSolution) -> np.ndarray:
    """Amount of the active in the vehicle film at each output time, dose unit/m^2 (finite vehicle).

    With size classes the sum over the classes (a tracked cargo excluded).
    """
    if problem.vehicle == "infinite":
        return np.full(raw.times.size, problem.dose)
    uc = _columns_u(problem, raw)
    ves = [s for s, c in enumerate(problem.all_columns) if c.species == "vesicle"]
    u0 = uc[:, ves[0], 0] if len(ves) == 1 else uc[:, ves, 0].sum(axis=1)
    if problem.evaporation_fraction <= 0.0:
        # vehicle_capacity returns h0 unchanged: skip one compiled call per output
        return problem.vehicle_thickness * u0
    return film_thickness(problem, raw.times) * u0


def mass_balance_error(problem: Problem1D, raw: RawSolution) -> np.ndarray:
    """Relative mass balance error at each output time.

    Finite vehicle: ``(vehicle + layers + compartments - dose) / dose``.
    Infinite donor: ``(layers + compartments - supplied) / max(supplied, ...)``,
    the reference being what has entered the skin.  Several columns: the
    worst of the vesicle ledger (all classes together, and each class) and,
    with a cargo, of the cargo ledger (:func:`cargo_balance_error`).

    Returns
    -------
    float64[k]
    """
    finite = problem.vehicle == "finite"
    if raw.u_cols is None or raw.u_cols.shape[1] == 1:
        tissue = tissue_amounts(problem, raw).sum(axis=1)
        vehicle = vehicle_amount(problem, raw) if finite else None
        return balance_error(vehicle, tissue, raw.comp, problem.dose, len(problem.layers), finite,
                             n_proc=problem.n_processes)
    errs = [np.abs(e) for e in column_balance_errors(problem, raw).values()]
    worst = np.max(np.stack(errs), axis=0)
    return worst


def column_balance_errors(problem: Problem1D, raw: RawSolution) -> dict[str, np.ndarray]:
    """Relative balance error of each ledger: ``"vesicle"`` (all classes) and ``"cargo"``, over time."""
    finite = problem.vehicle == "finite"
    L = len(problem.layers)
    P = problem.n_processes
    cols = problem.all_columns
    tissue = column_tissue_amounts(problem, raw).sum(axis=2)  # (k, S)
    comp = _columns_comp(raw)
    h = film_thickness(problem, raw.times)
    ves = [s for s, c in enumerate(cols) if c.species == "vesicle"]
    veh = raw.u_cols[:, :, 0] * h[:, None]
    out = {}
    out["vesicle"] = balance_error(veh[:, ves].sum(axis=1) if finite else None, tissue[:, ves].sum(axis=1),
                                   comp[:, ves].sum(axis=1), problem.dose, L, finite, n_proc=P)
    car = [s for s, c in enumerate(cols) if c.species == "cargo"]
    if car:
        out["cargo"] = cargo_balance_error(problem, raw)
    return out


def cargo_balance_error(problem: Problem1D, raw: RawSolution) -> np.ndarray:
    """Relative error of the free-cargo ledger, over time.

    In vesicle equivalents: free cargo in the vehicle and the layers, plus
    its compartments (degraded, taken up, cleared, bottom sink, washed off),
    equals what the vesicles set free: ``sum over vesicle columns of
    released + release_on_degradation x degraded``.  Relative to the vesicle
    dose (finite vehicle) or to the vesicles supplied to the skin (infinite).
    """
    L = len(problem.layers)
    P = problem.n_processes
    cols = problem.all_columns
    comp = _columns_comp(raw)
    c = [s for s, col in enumerate(cols) if col.species == "cargo"][0]
    ves = [s for s, col in enumerate(cols) if col.species == "vesicle"]
    tissue = column_tissue_amounts(problem, raw)[:, c].sum(axis=1)
    vehicle = raw.u_cols[:, c, 0] * film_thickness(problem, raw.times)
    if problem.vehicle == "infinite":
        vehicle = -comp[:, c, P * L + 2]  # the donor node is held at zero: net flux out of it
    lost = comp[:, c, :P * L + 1].sum(axis=1) + comp[:, c, P * L + 1]
    freed = (comp[:, ves, 3 * L:4 * L].sum(axis=(1, 2))
             + problem.release_on_degradation * comp[:, ves, 0:L].sum(axis=(1, 2)))
    if problem.vehicle == "finite":
        ref = problem.dose
    else:
        ref = np.maximum(np.abs(comp[:, ves, P * L + 2].sum(axis=1)), 1e-300)
    return (vehicle + tissue + lost - freed) / ref


def balance_error(vehicle, tissue, comp, dose, n_layers, finite, n_proc: int = 3) -> np.ndarray:
    """Relative mass balance error from its parts (shared by the 1D and r-z drivers).

    Parameters
    ----------
    vehicle : float64[k] or None
        Amount in the vehicle (finite vehicle only).
    tissue : float64[k]
        Amount in all tissue cells.
    comp : float64[k, n_proc n_layers + 3]
        Compartments (layout of :func:`exodiff.kernels.column1d.compartment_slots`).
    dose : float
        Applied amount, in the same units (per area in 1D, per unit cell in r-z).
    n_layers : int
    finite : bool
        Finite vehicle; otherwise a constant donor, checked against ``supplied``.
    n_proc : int
        Loss processes per layer (3; 4 when vesicles release a tracked cargo).
    """
    L = n_layers
    b, removed, supplied = n_proc * L, n_proc * L + 1, n_proc * L + 2
    lost = comp[:, :b + 1].sum(axis=1)
    if finite:
        total = vehicle + tissue + lost + comp[:, removed]
        return (total - dose) / dose
    sup = comp[:, supplied]
    ref = np.maximum(np.abs(sup), 1e-300)
    return np.where(sup > 0, (tissue + lost - sup) / ref, 0.0)


def kernels_cached() -> bool:
    """True when the compiled 1D kernel is in Numba's on-disk cache and current.

    Reads Numba's cache index (private API; if it moves, report "cached" rather
    than announce a compile that will not happen).  An index whose source stamp
    no longer matches the kernel's file loads as empty, like a missing one.
    """
    try:
        from .kernels.column1d import integrate_column

        return bool(integrate_column._cache._cache_file._load_index())
    except Exception:
        return True


def _unit_cell(resolved, problem: Problem1D):
    """The unit-cell problem of a channel scenario (nominal size), None for a 1D one."""
    from . import channels

    if channels.channel_geometry(resolved) is None:
        return None
    return channels.problem_from_scenario(resolved, problem.layers, problem)[0]


def compile_notice(scenario) -> str | None:
    """The line to show before running ``scenario`` when its solver must be compiled first; None when cached.

    A channel scenario uses the unit-cell time loop (serial or parallel, as
    :func:`exodiff.solve_rz.use_parallel` will choose for its grid), others
    the 1D kernel.
    """
    from .problem import problem_from_scenario
    from .solve_rz import COMPILE_SECONDS as RZ_SECONDS
    from .solve_rz import kernel_cached, use_parallel

    prz = _unit_cell(scenario.resolved, problem_from_scenario(scenario.resolved))
    if prz is None:
        return None if kernels_cached() else compile_line("solver", COMPILE_SECONDS)
    par = use_parallel(prz)
    if kernel_cached(par):
        return None
    return compile_line(f"{'parallel ' if par else ''}unit-cell solver", RZ_SECONDS[par])


def compile_line(what: str, seconds: float) -> str:
    """The first-run notice for compiling ``what`` (about ``seconds`` s)."""
    return f"compiling the {what} (first run only, about {seconds:.0f} s; later runs use the cache)"


def warm(scenario) -> None:
    """Compile (or load from the cache) the kernel ``run(scenario)`` will use, on its first second.

    Called after :func:`compile_notice`, so the compile happens before a
    progress bar starts (whose time-left estimate it would otherwise spoil).
    """
    from dataclasses import replace

    from .problem import problem_from_scenario
    from .solve_rz import integrate_rz

    problem = problem_from_scenario(scenario.resolved)
    first = np.array([0.0, 1.0])
    prz = _unit_cell(scenario.resolved, problem)
    if prz is None:
        integrate(replace(problem, output_times=first))
    else:
        integrate_rz(replace(prz, output_times=first), check=False)


#: compile time of the 1D kernels in a cold process, measured on the 2-core
#: development machine (benchmarks/bench_solver_1d.py, track_compile_seconds)
COMPILE_SECONDS = 8


def run(scenario, progress: bool = False):
    """Run a scenario and return its result Dataset.

    Parameters
    ----------
    scenario : Scenario, path or dict
        Anything :func:`exodiff.load_scenario` accepts.
    progress : bool
        Show a progress bar for long runs.

    Returns
    -------
    xarray.Dataset
        See ``docs/scenario.md`` (result dataset).
    """
    from .problem import problem_from_scenario
    from .results import to_dataset
    from .scenario import Scenario, load_scenario

    from . import channels

    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    problem = problem_from_scenario(sc.resolved)
    if problem.columns and channels.channel_geometry(sc.resolved) is not None:
        # a size distribution through channels: one unit cell per class, summed
        from .classes_rz import run_classes

        return run_classes(sc, problem, progress=progress)
    prz = _unit_cell(sc.resolved, problem)
    if prz is not None:
        # microneedle, laser or follicles: the r-z unit cell around one channel
        from .solve_rz import integrate_rz, to_dataset_rz

        raw = integrate_rz(prz, progress=progress, desc=sc.name)
        return to_dataset_rz(prz, raw, scenario=sc)
    raw = integrate(problem, progress=progress, desc=sc.name)
    return to_dataset(problem, raw, scenario=sc)
