"""Driver of the r-z unit cell: ProblemRZ -> compiled kernel -> checked raw solution -> Dataset.

Shares with the 1D driver (:mod:`exodiff.solve`) the raw-solution container,
the stop list (output times + wash-off), the mass-balance limit and
formula, and the compartment layout; with :mod:`exodiff.results` the
compartment names and unit conversions.  Amounts inside are per unit cell;
the Dataset reports them per cm^2 of skin (divided by ``pi R^2``), so it
reads like a 1D result.
"""

from __future__ import annotations

import math
import os

import numpy as np

from .errors import SolverError
from .grid_rz import CHANNEL, COAGULATION
from .problem_rz import ProblemRZ
from .solve import (
    MAX_STEPS,
    RawSolution,
    _stops,
    balance_error,
    check_mass_balance,
    run_in_chunks,
    solver_failure,
)

#: cells from which the parallel (prange) kernels pay off on 2 cores (measured
#: break-even about 9000 cells on an idle machine)
PARALLEL_THRESHOLD = 12_000


def _stops_rz(problem: ProblemRZ):
    """Output times, wash-off and the closure time scale as the kernel's stop list."""
    stops, idx, ev = _stops(problem)
    tau = problem.channel.closure_time if problem.grid.channel_rows > 0 else math.inf
    t_end = float(problem.output_times[-1])
    if 0.0 < tau < t_end and not np.any(np.isclose(stops, tau, rtol=0, atol=1e-9 * max(tau, 1.0))):
        k = int(np.searchsorted(stops, tau))
        stops = np.insert(stops, k, tau)
        idx = np.insert(idx, k, -1)
        ev = np.insert(ev, k, 0)
    return stops, idx, ev


def use_parallel(problem: ProblemRZ, parallel="auto") -> bool:
    """Whether the ``prange`` kernels are used.

    ``auto``: at least :data:`PARALLEL_THRESHOLD` cells, more than one Numba
    thread, and a core to spare (1-minute load average below the cores minus
    one).  The kernels are memory-bound and call a parallel loop about 15
    times per step, so a thread that another process delays holds up every
    barrier: measured on the 2-core machine, a 200 x 400 run took 1.5 s in
    parallel and 3.1 s serial when idle, but 7.6 s in parallel and 3.1 s
    serial beside one busy process.  Below about 9000 cells serial wins
    even on an idle machine.
    """
    if parallel != "auto":
        return bool(parallel)
    import numba

    if problem.grid.nz * problem.grid.nr < PARALLEL_THRESHOLD or numba.get_num_threads() < 2:
        return False
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not available on every platform
        return True
    return load < (os.cpu_count() or 1) - 1.0


#: first-call compile time of each unit-cell time loop on a cold cache, s (2-core development
#: machine, numba imported, kernel of 2026-11-26: serial 20 s, then the parallel one 29 s; the
#: parallel one alone 32-34 s in benchmarks/compare_reference.py --rz)
COMPILE_SECONDS = {False: 20, True: 32}


def kernel_cached(parallel: bool) -> bool:
    """True when that unit-cell time loop is in Numba's on-disk cache (see :func:`exodiff.solve.kernels_cached`)."""
    try:
        from .kernels import rz as K

        kernel = K.integrate_rz_parallel if parallel else K.integrate_rz_serial
        return bool(kernel._cache._cache_file._load_index())
    except Exception:
        return True


def warm_serial() -> None:
    """Compile (or load from the cache) the serial unit-cell loop on a tiny problem.

    Sweep parents call it before their workers start (workers run one
    thread, so the serial loop): forked workers inherit it, and none of them
    compiles it concurrently.
    """
    from .problem import Layer

    p = ProblemRZ.from_layers([Layer("skin", 50e-6, 1e-12, 1.0)], channel_radius=10e-6, channel_depth=20e-6,
                              density=1e8, open_diffusivity=1e-11, output_times=[60.0], resolution=(4, 6))
    integrate_rz(p, parallel=False)


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
        amounts in ``comp`` are per unit cell.

    Raises
    ------
    SolverError
        Non-finite values (naming time, layer and region, r and z), step-size
        collapse, or a mass-balance error beyond round-off.
    """
    from .kernels import rz as K

    check_coefficients(problem)
    arr = problem.kernel_arrays()
    nz, nr = problem.grid.shape
    L = len(problem.layers)
    nc = K.compartment_slots(L)[3]
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
    # time, next step, failure time, last step, remembered rejection (step, error, age)
    fstate = np.array([0.0, h_start, math.nan, 0.0, 0.0, 0.0, 0.0])
    istate = np.zeros(3, dtype=np.int64)
    stats = np.zeros(3, dtype=np.int64)
    stops, out_idx, events = _stops_rz(problem)
    tw = problem.wash_off_time
    if tw is not None and tw <= 0.0:
        # washed before anything happens: the whole film is removed at t = 0
        if problem.vehicle == "finite":
            comp[K.compartment_slots(L)[1]] = problem.vehicle_capacity_at(0.0) * u[0]
        u[0] = 0.0
        istate[K.I_WASHED] = 1
        u_out[0] = u
        comp_out[0] = comp
    par = use_parallel(problem, parallel)
    kernel = K.integrate_rz_parallel if par else K.integrate_rz_serial
    nchunks = 1
    if par:
        import numba

        # OpenMP threads spin at barriers before sleeping; libgomp's default
        # spin is long enough that, with another process on the machine, the
        # spinning thread starves its descheduled sibling (a 200 x 400 run:
        # 20 s vs 7.6 s with this bound, 3.1 s serial), while passive waiting
        # costs the idle case its speed-up (2.9 s vs 1.5 s).  A bounded spin
        # keeps most of both.  Only the default is set, so a user's own
        # choice wins; libgomp reads it when it starts (first parallel launch).
        os.environ.setdefault("GOMP_SPINCOUNT", "10000")
        nchunks = max(1, min(nr, numba.get_num_threads()))
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

    def advance(ch):
        status = kernel(*args, stops[ch], out_idx[ch], events[ch], u, v, comp, fstate, istate, rtol, m_ref,
                        h_start, MAX_STEPS, h_fixed, filter_mode, predict1, nchunks, u_out, comp_out, stats)
        if status != K.OK:
            raise _failure(problem, status, fstate, istate)

    wall = run_in_chunks(advance, stops.size, progress, desc)
    raw = RawSolution(times=times.copy(), u=u_out, comp=comp_out,
                      stats={"steps": int(stats[0]), "rejected": int(stats[1]), "solves": int(stats[2]),
                             "wall_time_s": wall, "parallel": par, "cells": nz * nr})
    if initial_state is not None:
        m0 = problem.capacity_at(0.0) * u_out[0, 1:].reshape(nz, nr)
        raw.stats["initial_tissue"] = float(m0.sum())
        raw.stats["initial_tissue_abs"] = float(np.abs(m0).sum())
    if check:
        check_mass_balance(mass_balance_error_rz(problem, raw), times)
    return raw


def check_coefficients(problem: ProblemRZ) -> None:
    """Raise a SolverError naming the coefficient and the region if any is not finite or negative.

    Checked before the run: a NaN anywhere reaches every line through the
    shared vehicle node within one step, so the kernel's own check could
    only name the first cell it scans, not the cause.
    """
    fields = problem.tissue_fields()
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
    from .kernels import rz as K

    return solver_failure(status, fstate[K.F_FAIL_TIME] / 3600.0, region_name(problem, int(istate[K.I_FAIL_NODE])))


# -- bookkeeping (per unit cell) ------------------------------------------------------------

def cell_states(problem: ProblemRZ, raw: RawSolution) -> np.ndarray:
    """``u = c/K`` per cell at each output time, shape ``(k, nz, nr)``."""
    nz, nr = problem.grid.shape
    return raw.u[:, 1:].reshape(raw.times.size, nz, nr)


def capacities(problem: ProblemRZ, times) -> np.ndarray:
    """``K V`` per cell at each time (the channel closes), shape ``(k, nz, nr)``."""
    caps = [problem.capacity_at(float(t)) for t in times]
    return np.stack(caps)


def tissue_amounts_rz(problem: ProblemRZ, raw: RawSolution) -> np.ndarray:
    """Amount in each layer (channel cells by depth) per unit cell, shape (k, L)."""
    m = (cell_states(problem, raw) * capacities(problem, raw.times)).sum(axis=2)
    return np.stack([m[:, sl].sum(axis=1) for sl in problem.grid.z.layer_slices], axis=1)


def vehicle_amount_rz(problem: ProblemRZ, raw: RawSolution) -> np.ndarray:
    """Amount in the vehicle film per unit cell; for a constant donor the film's content."""
    if problem.vehicle == "infinite":
        return np.full(raw.times.size, problem.unit_dose)
    cv = np.array([problem.vehicle_capacity_at(float(t)) for t in raw.times])
    return cv * raw.u[:, 0]


def mass_balance_error_rz(problem: ProblemRZ, raw: RawSolution) -> np.ndarray:
    """Relative mass balance error at each output time (see :func:`exodiff.solve.balance_error`)."""
    L = len(problem.layers)
    finite = problem.vehicle == "finite"
    tissue = tissue_amounts_rz(problem, raw).sum(axis=1)
    if "initial_tissue" not in raw.stats:
        vehicle = vehicle_amount_rz(problem, raw) if finite else None
        return balance_error(vehicle, tissue, raw.comp, problem.unit_dose, L, finite)
    # with an initial state (which may hold either sign, e.g. a test mode) the
    # balance is checked against what was there, relative to its absolute size
    initial = raw.stats["initial_tissue"]
    scale = max(raw.stats["initial_tissue_abs"] + (problem.unit_dose if finite else 0.0), 1e-300)
    lost = raw.comp[:, :3 * L + 1].sum(axis=1)
    if finite:
        total = vehicle_amount_rz(problem, raw) + tissue + lost + raw.comp[:, 3 * L + 1]
        return (total - problem.unit_dose - initial) / scale
    return (tissue - initial + lost - raw.comp[:, 3 * L + 2]) / max(scale, float(np.abs(raw.comp[:, 3 * L + 2]).max()))


def lateral_average(problem: ProblemRZ, field: np.ndarray) -> np.ndarray:
    """Area-weighted lateral average over the unit cell of a ``(..., nz, nr)`` field."""
    w = problem.grid.annulus_areas / problem.cell_area
    return field @ w


# -- Dataset ----------------------------------------------------------------------------

def to_dataset_rz(problem: ProblemRZ, raw: RawSolution, scenario=None):
    """Build the result Dataset of a unit-cell run.

    Same compartments, variables and attributes as
    :func:`exodiff.results.to_dataset` (amounts per cm^2 of skin, the
    concentration a lateral average comparable with 1D), plus
    ``concentration_rz(time, depth, radius)``, the ``radius`` coordinate and
    the channel geometry in the attributes.
    """
    import datetime as _dt

    import xarray as xr

    from . import __version__
    from .results import LOSS_PROCESSES, PER_CM2, PER_CM3, compartment_names

    unit = problem.dose_unit
    L = len(problem.layers)
    names = problem.layer_names
    g = problem.grid
    nz, nr = g.shape
    area = problem.cell_area
    per_cm2 = PER_CM2 / area           # unit cell amounts -> per cm^2 of skin
    bottom, removed = 3 * L, 3 * L + 1

    ust = cell_states(problem, raw)
    Kt = np.stack([problem.fields_at(float(t))["partition"] for t in raw.times])
    conc_rz = ust * Kt * PER_CM3
    conc = lateral_average(problem, conc_rz)
    layers_amt = tissue_amounts_rz(problem, raw)
    per_layer = raw.comp[:, :3 * L].reshape(raw.times.size, 3, L)
    degraded = per_layer[:, 0].sum(axis=1)
    taken_up = per_layer[:, 1].sum(axis=1)
    cleared = per_layer[:, 2].sum(axis=1) + raw.comp[:, bottom]
    vehicle = vehicle_amount_rz(problem, raw)
    amount = np.column_stack([vehicle, layers_amt, degraded, taken_up, cleared, raw.comp[:, removed]]) * per_cm2
    dose_cm2 = problem.dose * PER_CM2

    # instantaneous rates: into `cleared` (clearance + sink), out of the vehicle
    washed = np.zeros(raw.times.size, dtype=bool)
    if problem.wash_off_time is not None:
        washed = raw.times >= problem.wash_off_time
    flux_sys = np.empty(raw.times.size)
    flux_in = np.empty(raw.times.size)
    for k, t in enumerate(raw.times):
        co = problem.coefficients_at(float(t))
        flux_sys[k] = (ust[k] * co["ccl"]).sum() + (co["gz"][nz] * ust[k, -1]).sum()
        flux_in[k] = 0.0 if washed[k] else (co["gz"][0] * (raw.u[k, 0] - ust[k, 0])).sum()
    to_h = 3600.0 * per_cm2

    t_h = raw.times / 3600.0
    depth_um = g.z.centres * 1e6
    layer_of_depth = np.array(names, dtype=object)[g.z.layer_of_cell].astype(str)
    ds = xr.Dataset(
        data_vars=dict(
            concentration=(("time", "depth"), conc,
                           {"units": f"{unit} cm-3",
                            "long_name": "free concentration of the active, area-weighted lateral average"}),
            concentration_rz=(("time", "depth", "radius"), conc_rz,
                              {"units": f"{unit} cm-3", "long_name": "free concentration of the active"}),
            amount=(("time", "compartment"), amount,
                    {"units": f"{unit} cm-2", "long_name": "amount per skin area by compartment"}),
            fraction=(("time", "compartment"), amount / dose_cm2,
                      {"units": "1", "long_name": "amount / applied dose"}),
            loss_by_layer=(("time", "process", "layer"), per_layer * per_cm2,
                           {"units": f"{unit} cm-2",
                            "long_name": "cumulative amount removed in each layer by each process"}),
            flux_systemic=(("time",), flux_sys * to_h,
                           {"units": f"{unit} cm-2 h-1", "long_name": "rate into the cleared compartment"}),
            flux_into_skin=(("time",), flux_in * to_h,
                            {"units": f"{unit} cm-2 h-1", "long_name": "flux from the vehicle into the skin"}),
            mass_balance_error=(("time",), mass_balance_error_rz(problem, raw),
                                {"units": "1", "long_name": "relative mass balance error"}),
            cell_width=(("depth",), g.z.widths * 1e6, {"units": "um", "long_name": "finite-volume cell height"}),
            cell_width_radial=(("radius",), g.dr * 1e6,
                               {"units": "um", "long_name": "finite-volume cell width in r"}),
            region=(("depth", "radius"), g.region.astype(np.int8),
                    {"long_name": "region of each cell", "flag_values": [0, 1, 2],
                     "flag_meanings": "tissue channel coagulation_zone"}),
            layer_thickness=(("layer",), np.array([ly.thickness for ly in problem.layers]) * 1e6,
                             {"units": "um", "long_name": "layer thickness"}),
            diffusivity=(("layer",), np.array([ly.diffusivity for ly in problem.layers]) * 1e12,
                         {"units": "um2 s-1", "long_name": "diffusivity of the active in the layer"}),
            partition=(("layer",), np.array([ly.partition for ly in problem.layers]),
                       {"units": "1", "long_name": "partition coefficient relative to the vehicle"}),
            degradation_rate=(("layer",), np.array([ly.degradation_rate for ly in problem.layers]) * 3600,
                              {"units": "h-1", "long_name": "first-order degradation rate"}),
            uptake_rate=(("layer",), np.array([ly.uptake_rate for ly in problem.layers]) * 3600,
                         {"units": "h-1", "long_name": "first-order cell uptake rate"}),
            clearance_rate=(("layer",), np.array([ly.clearance_rate for ly in problem.layers]) * 3600,
                            {"units": "h-1", "long_name": "first-order clearance rate"}),
        ),
        coords=dict(
            time=("time", t_h, {"units": "h", "long_name": "time since application"}),
            depth=("depth", depth_um, {"units": "um", "long_name": "depth below the skin surface (cell centre)",
                                       "positive": "down"}),
            radius=("radius", g.r_centres * 1e6,
                    {"units": "um", "long_name": "distance from the channel axis (cell centre)"}),
            depth_layer=("depth", layer_of_depth, {"long_name": "layer of each cell"}),
            compartment=("compartment", compartment_names(names), {"long_name": "compartment"}),
            layer=("layer", list(names), {"long_name": "layer, top to bottom"}),
            process=("process", list(LOSS_PROCESSES), {"long_name": "removal process"}),
        ),
    )
    faces = np.cumsum([0.0] + [ly.thickness for ly in problem.layers]) * 1e6
    ch = problem.channel
    sc_text = getattr(scenario, "text", "") if scenario is not None else ""
    tau = ch.closure_time
    ds.attrs = {
        "Conventions": "CF-1.10",
        "title": getattr(scenario, "name", "exodiff run") if scenario is not None else "exodiff run",
        "source": f"exodiff {__version__}",
        "history": f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}: exodiff run",
        "exodiff_version": __version__,
        "geometry": "2D axisymmetric unit cell",
        "scenario": sc_text,
        "dose_unit": unit,
        "applied_dose": dose_cm2,
        "applied_dose_units": f"{unit} cm-2",
        "vehicle": problem.vehicle,
        "bottom": problem.bottom,
        "layer_interfaces_um": faces.tolist(),
        "unit_cell_radius_um": g.radius * 1e6,
        "channel_radius_um": ch.radius * 1e6,
        "channel_depth_um": ch.depth * 1e6,
        "channel_density_cm-2": ch.density * 1e-4,
        "channel_area_fraction": ch.area_fraction,
        "channel_open_diffusivity_um2_s-1": ch.open_diffusivity * 1e12,
        "channel_open_partition": ch.open_partition,
        "channel_closure_time_h": (tau / 3600.0) if math.isfinite(tau) else "never",
        "coagulation_width_um": ch.coag_width * 1e6,
        "coagulation_diffusivity_factor": ch.coag_diffusivity_factor,
        "coagulation_partition_factor": ch.coag_partition_factor,
        "solver": ("finite volumes on a conforming r-z grid, u = c/K, harmonic face conductances; TR-BDF2 with "
                   "adaptive steps, each stage solved by approximate factorisation (ADI) in delta form"),
        "solver_tolerance": problem.tolerance,
        "solver_steps": raw.stats["steps"],
        "solver_rejected_steps": raw.stats["rejected"],
        "grid_cells": int(nz * nr),
        "grid_shape": [int(nz), int(nr)],
        "grid_cells_per_layer": [int(s.stop - s.start) for s in g.z.layer_slices],
        "wall_time_s": float(raw.stats["wall_time_s"]),
    }
    if problem.wash_off_time is not None:
        ds.attrs["wash_off_time_h"] = problem.wash_off_time / 3600.0
    return ds
