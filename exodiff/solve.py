"""Driver: Problem -> compiled kernel -> checked raw solution -> Dataset.

The kernel runs the whole time loop.  With a progress bar the driver calls it
once per chunk of output times (the state is passed through), so Python runs
per output, never per step.
"""

from __future__ import annotations

import math
import os
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
        ``c/K`` at the nodes (node 0 the vehicle).
    comp : float64[k, 3L+3]
        Compartments, see :mod:`exodiff.kernels.column1d`.
    stats : dict
        Steps, rejected steps, solves, wall time (s).
    """

    times: np.ndarray
    u: np.ndarray
    comp: np.ndarray
    stats: dict


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

    arr = problem.kernel_arrays()
    n = arr["cap"].size
    L = len(problem.layers)
    b, _, _, nc = K.compartment_slots(L)
    times = problem.output_times
    u = np.zeros(n)
    u[0] = problem.concentration
    comp = np.zeros(nc)
    u_out = np.zeros((times.size, n))
    comp_out = np.zeros((times.size, nc))
    u_out[0] = u
    t_end = float(times[-1])
    h_start = 1e-8 * max(t_end, 1.0)
    fstate = np.array([0.0, h_start, math.nan])
    istate = np.zeros(3, dtype=np.int64)
    stats = np.zeros(3, dtype=np.int64)
    stops, out_idx, events = _stops(problem)
    infinite = problem.vehicle == "infinite"
    args = (arr["cap"], arr["g"], arr["cdeg"], arr["cup"], arr["ccl"], arr["node_layer"], L,
            infinite, problem.concentration, problem.vehicle_thickness,
            problem.evaporation_fraction, problem.evaporation_time)
    rtol = problem.tolerance
    m_ref = problem.amount_scale()
    t0 = _time.perf_counter()
    if progress and stops.size:
        from tqdm import tqdm

        chunks = np.array_split(np.arange(stops.size), min(stops.size, 100))
        bar = tqdm(total=stops.size, desc=desc, unit="output", delay=0.5, leave=False)
    else:
        chunks = [np.arange(stops.size)]
        bar = None
    try:
        for ch in chunks:
            if ch.size == 0:
                continue
            status = K.integrate_column(*args, stops[ch], out_idx[ch], events[ch], u, comp, fstate, istate,
                                        rtol, m_ref, h_start, MAX_STEPS, u_out, comp_out, stats)
            if status != K.OK:
                raise _failure(problem, status, fstate, istate, u)
            if bar is not None:
                bar.update(ch.size)
    finally:
        if bar is not None:
            bar.close()
    wall = _time.perf_counter() - t0
    raw = RawSolution(times=times.copy(), u=u_out, comp=comp_out,
                      stats={"steps": int(stats[0]), "rejected": int(stats[1]), "solves": int(stats[2]),
                             "wall_time_s": wall})
    err = mass_balance_error(problem, raw)
    worst = float(np.max(np.abs(err)))
    if not worst <= MASS_BALANCE_LIMIT:
        k = int(np.argmax(np.abs(err)))
        raise SolverError(f"mass balance error {worst:.2e} at t = {times[k] / 3600:.4g} h exceeds "
                          f"{MASS_BALANCE_LIMIT:g}: this is a bug in exodiff, please report it with the scenario")
    return raw


def _failure(problem, status, fstate, istate, u) -> SolverError:
    from .kernels import column1d as K

    t_h = fstate[K.F_FAIL_TIME] / 3600.0
    node = int(istate[K.I_FAIL_NODE])
    if node == 0:
        region = "vehicle"
    elif node > 0:
        region = problem.layers[int(problem.grid.layer_of_cell[node - 1])].name
    else:
        region = "unknown region"
    if status == K.NONFINITE:
        return SolverError(f"solver: non-finite concentration at t = {t_h:.4g} h in {region}; "
                           "check for extreme or non-physical coefficients")
    if status == K.STEP_UNDERFLOW:
        return SolverError(f"solver: time step collapsed at t = {t_h:.4g} h; "
                           "the tolerance may be too tight for the coefficients given")
    return SolverError(f"solver: more than {MAX_STEPS} steps before t = {t_h:.4g} h; "
                       "loosen simulation.tolerance or check the coefficients")


def tissue_amounts(problem: Problem1D, raw: RawSolution) -> np.ndarray:
    """Amount in each layer at each output time, dose unit/m^2, shape (k, L)."""
    # the tissue capacities K dz, as kernel_arrays()["cap"][1:] computes them,
    # without building every other kernel array (this runs after each solve)
    cap = problem.cell_values("partition") * problem.grid.widths
    m = raw.u[:, 1:] * cap
    return np.stack([m[:, sl].sum(axis=1) for sl in problem.grid.layer_slices], axis=1)


def vehicle_amount(problem: Problem1D, raw: RawSolution) -> np.ndarray:
    """Amount in the vehicle film at each output time, dose unit/m^2 (finite vehicle)."""
    from .kernels.column1d import vehicle_capacity

    if problem.vehicle == "infinite":
        return np.full(raw.times.size, problem.dose)
    if problem.evaporation_fraction <= 0.0:
        # vehicle_capacity returns h0 unchanged: skip one compiled call per output
        return problem.vehicle_thickness * raw.u[:, 0]
    h = np.array([vehicle_capacity(t, problem.vehicle_thickness, problem.evaporation_fraction,
                                   problem.evaporation_time) for t in raw.times])
    return h * raw.u[:, 0]


def mass_balance_error(problem: Problem1D, raw: RawSolution) -> np.ndarray:
    """Relative mass balance error at each output time.

    Finite vehicle: ``(vehicle + layers + compartments - dose) / dose``.
    Infinite donor: ``(layers + compartments - supplied) / max(supplied, ...)``,
    the reference being what has entered the skin.
    """
    finite = problem.vehicle == "finite"
    tissue = tissue_amounts(problem, raw).sum(axis=1)
    vehicle = vehicle_amount(problem, raw) if finite else None
    return balance_error(vehicle, tissue, raw.comp, problem.dose, len(problem.layers), finite)


def balance_error(vehicle, tissue, comp, dose, n_layers, finite) -> np.ndarray:
    """Relative mass balance error from its parts (shared by the 1D and r-z drivers).

    Parameters
    ----------
    vehicle : float64[k] or None
        Amount in the vehicle (finite vehicle only).
    tissue : float64[k]
        Amount in all tissue cells.
    comp : float64[k, 3 n_layers + 3]
        Compartments (layout of :func:`exodiff.kernels.column1d.compartment_slots`).
    dose : float
        Applied amount, in the same units (per area in 1D, per unit cell in r-z).
    n_layers : int
    finite : bool
        Finite vehicle; otherwise a constant donor, checked against ``supplied``.
    """
    L = n_layers
    b, removed, supplied = 3 * L, 3 * L + 1, 3 * L + 2
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

    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    problem = problem_from_scenario(sc.resolved)
    raw = integrate(problem, progress=progress, desc=sc.name)
    return to_dataset(problem, raw, scenario=sc)
