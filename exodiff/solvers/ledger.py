"""The ledger: where the dose is, and the dose balance, for the 1D column and the r-z unit cell alike.

One implementation of the compartment bookkeeping: amounts in the vehicle
and the layers from the stored states, the kernels' cumulative compartments
(:func:`exodiff.kernels.column1d.compartment_slots`), and the relative
balance error every driver checks (:func:`balance_error`,
:func:`check_mass_balance`).  Amounts are per m^2 in 1D and per unit cell in
r-z; the results stage turns them into per-cm^2 variables.
"""

from __future__ import annotations

import numpy as np

from exodiff.errors import SolverError
from exodiff.problem.layered import Problem1D
from exodiff.problem.unit_cell import ProblemRZ
from exodiff.solvers.common import RawSolution, film_schedule

#: mass balance errors above this (relative) are not round-off, for problems of moderate stiffness
MASS_BALANCE_LIMIT = 1e-9
#: beyond ``MASS_BALANCE_LIMIT``, the round-off floor grows with the stiffness ``S`` (:func:`stiffness`) as
#: ``ROUNDOFF_GROWTH x eps x S``: measured by benchmarks/stiff_regimes.py over random extreme problems, the
#: worst balance error stays 10-1000x below it (docs/validation.md, "Round-off: mass balance and undershoot")
ROUNDOFF_GROWTH = 1e-3
_EPS = float(np.finfo(float).eps)


def stiffness(problem, arrays: dict | None = None) -> float:
    """``S``: the fastest exchange rate of any node, ``(g_left + g_right + k C) / C`` (1/s), times the longest output interval.

    How many times faster than the longest step the stiffest cell relaxes.
    A layer far more conductive than its neighbours (or than the run's time
    scale) makes ``S`` large; the conductances' differences are then taken
    at round-off and the mass balance can only be kept to about
    ``eps S`` (a property of the discretised system in double precision,
    whichever linear solver: numpy's banded LAPACK solve leaks as much).
    ``arrays``: the problem's :meth:`~exodiff.problem.layered.Problem1D.columns_arrays`
    when the caller has them (they are not built again).
    """
    arr = problem.columns_arrays() if arrays is None else arrays
    cap, g, closs = arr["cap"], arr["g"], arr["closs"]
    # 0 at closed nodes (cap = 0), without an errstate context (a few microseconds of every solve)
    rate = np.divide(g[:, :-1] + g[:, 1:] + closs.sum(axis=1), cap, out=np.zeros_like(cap), where=cap > 0)
    t = problem.output_times
    interval = float((t[1:] - t[:-1]).max()) if t.size > 1 else 0.0
    return float(rate.max()) * interval


def balance_limit_rz(problem) -> float:
    """:func:`balance_limit` of a unit cell: 1e-9, or ``ROUNDOFF_GROWTH x eps x S`` if higher, with ``S`` the
    largest rate of a cell (its face conductances and losses over its capacity, 1/s) times the longest output
    interval, the channel open (at 0) or as it is at the end.  A viable epidermis of ``D = 1e-2 m^2/s`` (S ~ 1e13)
    balanced to 1.9e-9, round-off, and was reported against the flat 1e-9 as a bug (an independent check)."""
    t = problem.output_times
    interval = float((t[1:] - t[:-1]).max()) if t.size > 1 else 0.0
    worst = 0.0
    for when in (0.0, float(t[-1])):
        c = problem.coefficients_at(when)
        out = c["gz"][:-1] + c["gz"][1:] + c["gr"][:, :-1] + c["gr"][:, 1:] + c["loss"]
        rate = np.divide(out, c["cap"], out=np.zeros_like(out), where=c["cap"] > 0)
        worst = max(worst, float(rate.max()))
    return max(MASS_BALANCE_LIMIT, ROUNDOFF_GROWTH * _EPS * worst * interval)


def balance_limit(problem, arrays: dict | None = None) -> float:
    """The relative mass-balance error the 1D solver promises for ``problem``: 1e-9, or its round-off floor if higher.

    ``arrays`` as for :func:`stiffness`.  Computed once per problem from its
    own arrays (a problem is frozen; every solve of it checks its balance
    against this), afresh for ``arrays`` given otherwise.
    """
    own = arrays is None or arrays is problem.__dict__.get("_columns_arrays")
    if own and "_balance_limit" in problem.__dict__:
        return problem.__dict__["_balance_limit"]
    limit = max(MASS_BALANCE_LIMIT, ROUNDOFF_GROWTH * _EPS * stiffness(problem, arrays))
    if own:
        object.__setattr__(problem, "_balance_limit", limit)
    return limit


def check_mass_balance(err: np.ndarray, times: np.ndarray, limit: float = MASS_BALANCE_LIMIT) -> None:
    """Raise a SolverError when the relative balance error ``err`` (per output, maybe per column) exceeds ``limit``.

    ``limit`` is what the solver promises for the problem (:func:`balance_limit`):
    beyond it the error is not round-off.
    """
    worst = float(np.max(np.abs(err)))
    if not worst <= limit:
        k = int(np.argmax(np.abs(err)) // max(err.shape[1], 1)) if err.ndim == 2 else int(np.argmax(np.abs(err)))
        raise SolverError(f"mass balance error {worst:.2e} at t = {times[k] / 3600:.4g} h exceeds the "
                          f"round-off bound {limit:.2g} of this problem: this is a bug in exodiff, please report "
                          "it with the scenario")


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
    dose : float or float64[k]
        Applied amount (so far, at each output), in the same units (per area in 1D, per unit cell in r-z).
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


# -- the 1D column ---------------------------------------------------------------------------

def _columns_u(problem: Problem1D, raw: RawSolution) -> np.ndarray:
    """``u`` of every column, (k, S, n)."""
    return raw.u_cols if raw.u_cols is not None else raw.u[:, None, :]


def _columns_comp(raw: RawSolution) -> np.ndarray:
    return raw.comp_cols if raw.comp_cols is not None else raw.comp[:, None, :]


def layer_weights(problem: Problem1D, cap: np.ndarray) -> np.ndarray:
    """``(n_cells, L)``: each cell's capacity ``cap`` (m) in its layer's column, so ``u[:, cells] @ W`` is the
    amount in each layer (one product instead of a pass over the states per layer: ~1 ms per run for a
    regimen's 673 outputs)."""
    w = np.zeros((cap.size, len(problem.layers)))
    w[np.arange(cap.size), problem.grid.layer_of_cell] = cap
    return w


def column_layer_weights(problem: Problem1D, s: int | None = None) -> np.ndarray:
    """:func:`layer_weights` of column ``s``'s capacities ``K dz`` (None: the problem's cells, as
    ``cell_values``), built once per problem: every solve's balance check and every result's ledgers
    read them (~15 us to build, a twentieth of a loose 1D solve)."""
    cache = problem.__dict__.get("_layer_weights")
    if cache is None:
        cache = {}
        object.__setattr__(problem, "_layer_weights", cache)
    w = cache.get(s)
    if w is None:
        K = problem.cell_values("partition") if s is None else \
            problem.column_values(problem.all_columns[s], "partition")
        w = cache[s] = layer_weights(problem, K * problem.grid.widths)
    return w


def column_tissue_amounts(problem: Problem1D, raw: RawSolution) -> np.ndarray:
    """Amount in each layer of each column, dose unit/m^2, shape (k, S, L)."""
    if raw.layer_cols is not None:  # a run that kept amounts, not states
        return raw.layer_cols
    uc = _columns_u(problem, raw)
    out = np.empty((uc.shape[0], uc.shape[1], len(problem.layers)))
    cells = problem.cell_nodes
    for s in range(len(problem.all_columns)):
        out[:, s] = uc[:, s, cells] @ column_layer_weights(problem, s)
    return out


def tissue_amounts(problem: Problem1D, raw: RawSolution) -> np.ndarray:
    """Amount of the active in each layer at each output time, dose unit/m^2, shape (k, L).

    With size classes the sum over the classes; a tracked cargo is not
    included (see :func:`column_tissue_amounts`).
    """
    if raw.layer_cols is not None and raw.layer_cols.shape[1] == 1:
        return raw.layer_cols[:, 0]
    if raw.layer_cols is None and (raw.u_cols is None or raw.u_cols.shape[1] == 1):
        # the tissue capacities K dz, as kernel_arrays()["cap"][1:] computes them,
        # without building every other kernel array (this runs after each solve)
        return raw.u[:, problem.cell_nodes] @ column_layer_weights(problem)
    per = column_tissue_amounts(problem, raw)
    ves = [s for s, c in enumerate(problem.all_columns) if c.species == "vesicle"]
    return per[:, ves].sum(axis=1)


def column_receptor_amounts(problem: Problem1D, raw: RawSolution) -> np.ndarray:
    """Amount in the receptor fluid of each column, dose unit/m^2 of skin, shape (k, S); zero without one."""
    uc = _columns_u(problem, raw)
    if not problem.has_receptor:
        return np.zeros(uc.shape[:2])
    caps = np.array([problem.receptor_capacity(col.layers) for col in problem.all_columns])
    return uc[:, :, -1] * caps


def receptor_amount(problem: Problem1D, raw: RawSolution) -> np.ndarray:
    """Amount of the active in the receptor fluid, dose unit/m^2 of skin, shape (k,); vesicle columns summed."""
    if not problem.has_receptor:
        return np.zeros(raw.times.size)  # what summing the zero columns gives, without building them
    per = column_receptor_amounts(problem, raw)
    ves = [s for s, c in enumerate(problem.all_columns) if c.species == "vesicle"]
    return per[:, ves].sum(axis=1)


def applied_dose(problem: Problem1D) -> np.ndarray:
    """Amount applied so far per skin area at each output time, dose unit/m^2 (a regimen's doses add up)."""
    if not problem.application_times:
        return np.full(problem.output_times.size, problem.dose)
    return problem.dose * film_schedule(problem).applications


def film_thickness(problem: Problem1D, times: np.ndarray) -> np.ndarray:
    """Vehicle film thickness at each time, m (a regimen: ``times`` are the output times)."""
    from exodiff.kernels.column1d import vehicle_capacity

    if problem.application_times:
        return film_schedule(problem).thickness
    if problem.evaporation_fraction <= 0.0:
        return np.full(times.size, problem.vehicle_thickness)
    return np.array([vehicle_capacity(t, problem.vehicle_thickness, problem.evaporation_fraction,
                                      problem.evaporation_time) for t in times])


#: order of the fluxes in :func:`column_fluxes` and ``RawSolution.fluxes``
FLUXES = ("flux_in", "flux_rec", "flux_sys")


def column_fluxes(problem: Problem1D, u: np.ndarray, s: int, times: np.ndarray) -> np.ndarray:
    """The three fluxes of column ``s`` from its node states on ``problem``'s own grid, ``(k, 3)`` in the order of
    :data:`FLUXES`: into the skin from the film, out of the deepest cell into the receptor or sink, and into the
    blood (that, plus the dermal clearance), dose unit m^-2 s^-1.

    ``u`` (k, n): ``c/K`` at the nodes.  The face fluxes read node values
    next to a face, so they belong to the grid the states were solved on: a
    profile restricted from a finer grid holds cell averages, whose
    difference across a face is not that face's gradient (an extrapolated
    run's fluxes are the extrapolation of each run's own,
    :func:`exodiff.solvers.layered.extrapolate`).
    """
    arr = problem.columns_arrays()
    cells = problem.cell_nodes
    g = arr["g"][s]
    ccl = arr["closs"][s, 2]
    last = cells.stop - 1  # the deepest cell's node; the face below it is g[last + 1]
    u_r = u[:, -1] if problem.has_receptor else 0.0
    out = np.empty((times.size, len(FLUXES)))
    out[:, 1] = g[last + 1] * (u[:, last] - u_r)
    out[:, 2] = u[:, cells] @ ccl[cells] + out[:, 1]
    washed = np.zeros(times.size, dtype=bool)
    if problem.application_times:
        washed = ~film_schedule(problem).on  # washed off after an application, until the next one
    elif problem.wash_off_time is not None:
        washed = times >= problem.wash_off_time
    out[:, 0] = np.where(washed, 0.0, g[1] * (u[:, 0] - u[:, 1]))
    return out


def vehicle_amount(problem: Problem1D, raw: RawSolution) -> np.ndarray:
    """Amount of the active in the vehicle film at each output time, dose unit/m^2 (finite vehicle).

    With size classes the sum over the classes (a tracked cargo excluded).
    """
    if problem.vehicle == "infinite":
        return np.full(raw.times.size, problem.dose)
    uc = _columns_u(problem, raw)
    ves = [s for s, c in enumerate(problem.all_columns) if c.species == "vesicle"]
    u0 = uc[:, ves[0], 0] if len(ves) == 1 else uc[:, ves, 0].sum(axis=1)
    if problem.evaporation_fraction <= 0.0 and not problem.application_times:
        # vehicle_capacity returns h0 unchanged: skip one compiled call per output
        return problem.vehicle_thickness * u0
    return film_thickness(problem, raw.times) * u0


def mass_balance_error(problem: Problem1D, raw: RawSolution) -> np.ndarray:
    """Relative mass balance error at each output time.

    Finite vehicle: ``(vehicle + layers + receptor + compartments - dose) / dose``,
    ``dose`` what has been applied by then (a regimen's doses add up).
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
        # what the column holds below the film: the cells and a receptor
        tissue = tissue_amounts(problem, raw).sum(axis=1) + receptor_amount(problem, raw)
        vehicle = vehicle_amount(problem, raw) if finite else None
        return balance_error(vehicle, tissue, raw.comp, applied_dose(problem), len(problem.layers), finite,
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
    tissue = column_tissue_amounts(problem, raw).sum(axis=2) + column_receptor_amounts(problem, raw)  # (k, S)
    comp = _columns_comp(raw)
    h = film_thickness(problem, raw.times)
    ves = [s for s, c in enumerate(cols) if c.species == "vesicle"]
    veh = raw.u_cols[:, :, 0] * h[:, None]
    out = {}
    out["vesicle"] = balance_error(veh[:, ves].sum(axis=1) if finite else None, tissue[:, ves].sum(axis=1),
                                   comp[:, ves].sum(axis=1), applied_dose(problem), L, finite, n_proc=P)
    car = [s for s, c in enumerate(cols) if c.species == "cargo"]
    if car:
        out["cargo"] = cargo_balance_error(problem, raw)
    return out


def cargo_balance_error(problem: Problem1D, raw: RawSolution) -> np.ndarray:
    """Relative error of the free-cargo ledger, over time.

    In vesicle equivalents: free cargo in the vehicle and the layers, plus
    its compartments (degraded, taken up, cleared, bottom sink, washed off),
    equals what the vesicles set free, ``encapsulation x sum over vesicle
    columns of (released + release_on_degradation x degraded)``, plus the
    cargo applied free (``1 - encapsulation`` of the applied dose; a
    constant donor's free cargo is in its ``supplied``).  Relative to the
    vesicle dose (finite vehicle) or to what the donor supplied to the skin,
    vesicles or free cargo, the larger (infinite).
    """
    L = len(problem.layers)
    P = problem.n_processes
    cols = problem.all_columns
    comp = _columns_comp(raw)
    c = [s for s, col in enumerate(cols) if col.species == "cargo"][0]
    ves = [s for s, col in enumerate(cols) if col.species == "vesicle"]
    tissue = column_tissue_amounts(problem, raw)[:, c].sum(axis=1) + column_receptor_amounts(problem, raw)[:, c]
    vehicle = raw.u_cols[:, c, 0] * film_thickness(problem, raw.times)
    if problem.vehicle == "infinite":
        vehicle = -comp[:, c, P * L + 2]  # the donor node is held at zero: net flux out of it
    lost = comp[:, c, :P * L + 1].sum(axis=1) + comp[:, c, P * L + 1]
    freed = (comp[:, ves, 3 * L:4 * L].sum(axis=(1, 2))
             + problem.release_on_degradation * comp[:, ves, 0:L].sum(axis=(1, 2))) * problem.encapsulation
    if problem.vehicle == "finite":
        ref = applied_dose(problem)
        freed = freed + cols[c].weight * ref  # applied free (0 for cargo that starts in the vesicles)
    else:
        # what the donor has supplied to the skin, in vesicles or as free cargo (a constant donor's free part
        # may be all there is: vesicles the skin keeps out supply nothing)
        ref = np.maximum(np.maximum(np.abs(comp[:, ves, P * L + 2].sum(axis=1)), np.abs(vehicle)), 1e-300)
    return (vehicle + tissue + lost - freed) / ref


# -- the r-z unit cell (amounts per unit cell) ----------------------------------------------

def _rz_u(raw: RawSolution, species: str) -> np.ndarray:
    """The stored states of one field: the vesicles (``raw.u``) or the free cargo (``raw.u_cols[:, 1]``)."""
    return raw.u_cols[:, 1] if species == "cargo" else raw.u


def _rz_comp(raw: RawSolution, species: str) -> np.ndarray:
    return raw.comp_cols[:, 1] if species == "cargo" else raw.comp


def applied_dose_rz(problem: ProblemRZ) -> np.ndarray:
    """Amount applied so far per unit cell at each output time (a regimen's doses add up)."""
    if not problem.application_times:
        return np.full(problem.output_times.size, problem.unit_dose)
    return problem.unit_dose * film_schedule(problem).applications


def cell_states(problem: ProblemRZ, raw: RawSolution, species: str = "vesicle") -> np.ndarray:
    """``u = c/K`` per cell at each output time, shape ``(k, nz, nr)``, of the vesicles or the free cargo."""
    nz, nr = problem.grid.shape
    return _rz_u(raw, species)[:, 1:].reshape(raw.times.size, nz, nr)


def capacities(problem: ProblemRZ, times, species: str = "vesicle") -> np.ndarray:
    """``K V`` per cell at each time (the channel closes), shape ``(k, nz, nr)``."""
    caps = [problem.capacity_at(float(t), species) for t in times]
    return np.stack(caps)


def tissue_amounts_rz(problem: ProblemRZ, raw: RawSolution, species: str = "vesicle") -> np.ndarray:
    """Amount in each layer (channel cells by depth) per unit cell, shape (k, L)."""
    m = (cell_states(problem, raw, species) * capacities(problem, raw.times, species)).sum(axis=2)
    return np.stack([m[:, sl].sum(axis=1) for sl in problem.grid.z.layer_slices], axis=1)


def vehicle_amount_rz(problem: ProblemRZ, raw: RawSolution, species: str = "vesicle") -> np.ndarray:
    """Amount in the vehicle film per unit cell; for a constant donor the film's content.

    The free cargo's: what the film holds (released cargo that diffused back
    into it); with a constant donor, whose cargo is held at zero, the net
    amount that left the skin into it.
    """
    if problem.vehicle == "infinite":
        if species == "cargo":
            return -raw.comp_cols[:, 1, problem.n_processes * len(problem.layers) + 2]
        return np.full(raw.times.size, problem.unit_dose)
    cv = np.array([problem.vehicle_capacity_at(float(t)) for t in raw.times])
    return cv * _rz_u(raw, species)[:, 0]


def cargo_freed_rz(problem: ProblemRZ, raw: RawSolution) -> np.ndarray:
    """Cargo the vesicles have set free per unit cell: ``encapsulation x (released + release_on_degradation x degraded)``."""
    L = len(problem.layers)
    return (raw.comp[:, 3 * L:4 * L].sum(axis=1)
            + problem.cargo.release_on_degradation * raw.comp[:, 0:L].sum(axis=1)) * problem.cargo.encapsulation


def balance_errors_rz(problem: ProblemRZ, raw: RawSolution) -> dict[str, np.ndarray]:
    """Relative balance error of each ledger of a unit cell: ``"vesicle"``, and with a cargo ``"cargo"``.

    The cargo ledger as the 1D :func:`cargo_balance_error`: free cargo in the
    vehicle and the cells plus its compartments equals what the vesicles set
    free plus the cargo applied free (a constant donor's is in its
    ``supplied``), relative to the vesicle dose (finite vehicle) or to the
    vesicles supplied to the skin (constant donor).
    """
    L = len(problem.layers)
    P = problem.n_processes
    finite = problem.vehicle == "finite"
    out = {}
    if "initial_tissue" not in raw.stats:
        vehicle = vehicle_amount_rz(problem, raw) if finite else None
        out["vesicle"] = balance_error(vehicle, tissue_amounts_rz(problem, raw).sum(axis=1), raw.comp,
                                       applied_dose_rz(problem), L, finite, n_proc=P)
    else:
        # with an initial state (which may hold either sign, e.g. a test mode) the
        # balance is checked against what was there, relative to its absolute size
        tissue = tissue_amounts_rz(problem, raw).sum(axis=1)
        initial = raw.stats["initial_tissue"]
        applied = applied_dose_rz(problem)
        scale = np.maximum(raw.stats["initial_tissue_abs"] + (applied if finite else 0.0), 1e-300)
        lost = raw.comp[:, :P * L + 1].sum(axis=1)
        if finite:
            total = vehicle_amount_rz(problem, raw) + tissue + lost + raw.comp[:, P * L + 1]
            out["vesicle"] = (total - applied - initial) / scale
        else:
            out["vesicle"] = (tissue - initial + lost - raw.comp[:, P * L + 2]) / np.maximum(
                scale, float(np.abs(raw.comp[:, P * L + 2]).max()))
    if problem.cargo is not None:
        comp_c = raw.comp_cols[:, 1]
        held = (vehicle_amount_rz(problem, raw, "cargo") + tissue_amounts_rz(problem, raw, "cargo").sum(axis=1)
                + comp_c[:, :P * L + 2].sum(axis=1))
        freed = cargo_freed_rz(problem, raw)
        if finite:
            ref = applied_dose_rz(problem)
            freed = freed + problem.cargo.free * ref  # applied free (0 for cargo that starts in the vesicles)
        else:
            ref = np.maximum(np.abs(raw.comp[:, P * L + 2]), 1e-300)
        out["cargo"] = (held - freed) / ref
    return out


def mass_balance_error_rz(problem: ProblemRZ, raw: RawSolution) -> np.ndarray:
    """Relative mass balance error at each output time (see :func:`exodiff.solvers.ledger.balance_error`).

    With a cargo the worst of the vesicle and the cargo ledgers (:func:`balance_errors_rz`).
    """
    errs = balance_errors_rz(problem, raw)
    if len(errs) == 1:
        return errs["vesicle"]
    return np.max(np.stack([np.abs(e) for e in errs.values()]), axis=0)
