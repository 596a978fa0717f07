"""Raw solver arrays -> an xarray.Dataset with CF-style units and long names.

Units at the edge: inside everything is SI per m^2 / m^3 in the dose unit;
here amounts become per cm^2, concentrations per cm^3, depth micrometres and
time hours (a float coordinate with ``units = "h"``, which xarray does not
decode into timedelta64).
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import xarray as xr

from exodiff._version import __version__
from exodiff.problem.layered import Problem1D
from exodiff.solvers.common import RawSolution
from exodiff.solvers.ledger import (FLUXES, applied_dose, column_balance_errors, column_fluxes, column_layer_weights,
                                    film_thickness, mass_balance_error)
from exodiff.units import udunits

PER_CM2 = 1e-4  # m^-2 -> cm^-2
_FLUX_SYS = "rate leaving the skin: into the cleared compartment and through the bottom into the receptor"
_FLUX_REC = "rate through the bottom of the skin into the receptor (sink or receptor fluid)"
PER_CM3 = 1e-6  # m^-3 -> cm^-3
LOSS_PROCESSES = ("degraded", "taken_up", "cleared")

#: The time coordinate: hours elapsed since application.  ``axis = "T"`` but no
#: ``standard_name = "time"``: CF's time needs a reference date ("hours since
#: 2000-01-01"), which would make xarray decode the coordinate into dates.
TIME_ATTRS = {"units": "h", "long_name": "time since application", "axis": "T"}
#: The depth coordinate (CF standard name ``depth``, positive down).
DEPTH_ATTRS = {"units": "um", "standard_name": "depth", "long_name": "depth below the skin surface (cell centre)",
               "positive": "down", "axis": "Z"}


def compartment_names(layer_names, released: bool = False, sampled: bool = False) -> list[str]:
    """``vehicle``, each layer, then the removal compartments, as in SCENARIO.md.

    ``receptor`` holds what crossed the bottom of the skin (a sink's
    cumulative uptake, or what a Franz cell's receptor fluid holds now);
    ``sampled`` (in-vitro runs with a receptor) what receptor samples took
    away; ``released`` (vesicles that set their cargo free) follows when a
    cargo is tracked.
    """
    return ["vehicle", *layer_names, "degraded", "taken_up", "cleared", "receptor", *(["sampled"] if sampled else []),
            "removed", *(["released"] if released else [])]


def _column_parts(problem: Problem1D, raw: RawSolution, arr: dict, s: int, profiles: bool = True) -> dict:
    """Amounts, rates and profiles of column ``s`` (SI per m^2 / m^3), from the stored states.

    ``profiles=False``: the amounts only (``vehicle``, ``layers``,
    ``per_layer``, ``receptor``, ``sampled``, ``removed``), what a check
    run's error estimate reads; no concentration profile and no fluxes.
    """
    L = len(problem.layers)
    P = problem.n_processes
    col = problem.all_columns[s]
    u = raw.u_cols[:, s] if raw.u_cols is not None else raw.u
    comp = raw.comp_cols[:, s] if raw.comp_cols is not None else raw.comp
    K = problem.column_values(col, "partition")
    cells = problem.cell_nodes
    if raw.layer_cols is not None:  # a run that kept amounts, not states (a check run): no profiles
        if profiles:
            raise ValueError("profiles of a run that kept only amounts (RawSolution.layer_cols)")
        layers_amt = raw.layer_cols[:, s]
    else:
        layers_amt = u[:, cells] @ column_layer_weights(problem, s)
    if problem.vehicle == "infinite":
        vehicle = np.full(raw.times.size, problem.concentration * col.weight * problem.vehicle_thickness)
    else:
        vehicle = film_thickness(problem, raw.times) * u[:, 0]
    if problem.has_receptor:
        receptor, sampled = problem.receptor_capacity(col.layers) * u[:, -1], comp[:, P * L]
    else:  # a sink's cumulative uptake (nothing for a closed bottom)
        receptor, sampled = comp[:, P * L], np.zeros(raw.times.size)
    parts = dict(vehicle=vehicle, layers=layers_amt, per_layer=comp[:, :P * L].reshape(raw.times.size, P, L),
                 receptor=receptor, sampled=sampled, removed=comp[:, P * L + 1])
    if not profiles:
        return parts
    if raw.fluxes is not None:  # an extrapolated run: each grid's own fluxes, extrapolated
        f = raw.fluxes[:, s]
    else:
        f = column_fluxes(problem, u, s, raw.times)
    parts.update(conc=u[:, cells] * K, **{name: f[:, j] for j, name in enumerate(FLUXES)})
    return parts


def _sum_parts(parts: list[dict]) -> dict:
    """The parts of several columns added up; one column's are returned as they are (not copied: a regimen's
    profiles are ~1 MB, whose copy cost ~0.8 ms in fresh pages)."""
    if len(parts) == 1:
        return parts[0]
    out = dict(parts[0])
    for p in parts[1:]:
        for k in out:
            out[k] = out[k] + p[k]
    return out


def _amounts(parts: dict, released: bool, sampled: bool = False) -> np.ndarray:
    """Amount per compartment (k, C) from summed parts, in :func:`compartment_names` order."""
    pl = parts["per_layer"]
    cols = [parts["vehicle"][:, None], parts["layers"], pl[:, 0].sum(axis=1)[:, None], pl[:, 1].sum(axis=1)[:, None],
            pl[:, 2].sum(axis=1)[:, None], parts["receptor"][:, None],
            *([parts["sampled"][:, None]] if sampled else []), parts["removed"][:, None]]
    if released:
        cols.append(pl[:, 3].sum(axis=1)[:, None])
    return np.concatenate(cols, axis=1)


def _coefficients(layers) -> dict[str, np.ndarray]:
    return {
        "diffusivity": np.array([ly.diffusivity for ly in layers]) * 1e12,
        "partition": np.array([ly.partition for ly in layers]),
        "degradation_rate": np.array([ly.degradation_rate for ly in layers]) * 3600,
        "uptake_rate": np.array([ly.uptake_rate for ly in layers]) * 3600,
        "clearance_rate": np.array([ly.clearance_rate for ly in layers]) * 3600,
    }


_COEF_ATTRS = {
    "diffusivity": ("um2 s-1", "diffusivity of the active in the layer"),
    "partition": ("1", "partition coefficient relative to the vehicle"),
    "degradation_rate": ("h-1", "first-order degradation rate"),
    "uptake_rate": ("h-1", "first-order cell uptake rate"),
    "clearance_rate": ("h-1", "first-order clearance rate"),
}


def cargo_variables(vparts: dict, cparts: dict, amount_v, amount_c, amount_free, free_conc, balance: dict,
                    dose_cm2: float, unit: str, per_cm2: float, loading: float, cargo_unit: str,
                    free_conc_note: str) -> dict:
    """The variables a tracked cargo gives a result, 1D or r-z, beside its concentrations.

    ``amount``, ``fraction``, ``loss_by_layer``, the three fluxes and
    ``mass_balance_error`` with a ``species`` dimension (vesicle, cargo),
    ``applied_dose``, ``free_cargo_amount``, ``free_cargo_concentration``
    and ``cargo_amount`` (in the loading's unit).  ``vparts``/``cparts``:
    the vesicle and cargo ledgers (``per_layer``, ``flux_sys``,
    ``flux_rec``, ``flux_in``, per m^2 per s); ``amount_*`` per cm^2;
    ``per_cm2``: amount per m^2 (1D) or per unit cell (r-z) to per cm^2;
    ``free_conc_note``: how ``free_conc`` is averaged, for its long name.
    """
    amount_units = f"{unit} cm-2"
    to_h = 3600.0 * per_cm2
    sp = ("time", "species")

    def both(key, scale):
        return np.stack([vparts[key], cparts[key]], axis=1) * scale

    flux = {"units": f"{unit} cm-2 h-1"}
    return dict(
        amount=(("time", "species", "compartment"), np.stack([amount_v, amount_c], axis=1),
                {"units": amount_units, "long_name": "amount per skin area by compartment (cargo in vesicle "
                 "equivalents)"}),
        fraction=(("time", "species", "compartment"), np.stack([amount_v, amount_c], axis=1) / dose_cm2,
                  {"units": "1", "long_name": "amount / applied dose of the species"}),
        loss_by_layer=(("time", "species", "process", "layer"), both("per_layer", per_cm2),
                       {"units": amount_units,
                        "long_name": "cumulative amount removed in each layer by each process"}),
        flux_systemic=(sp, both("flux_sys", to_h), {**flux, "long_name": _FLUX_SYS}),
        flux_receptor=(sp, both("flux_rec", to_h), {**flux, "long_name": _FLUX_REC}),
        flux_into_skin=(sp, both("flux_in", to_h), {**flux, "long_name": "flux from the vehicle into the skin"}),
        mass_balance_error=(sp, np.stack([balance["vesicle"], balance["cargo"]], axis=1),
                            {"units": "1", "long_name": "relative mass balance error of each ledger"}),
        applied_dose=(("species",), np.array([dose_cm2, dose_cm2]),
                      {"units": amount_units, "long_name": "applied amount of each species (cargo in "
                       "vesicle equivalents)"}),
        free_cargo_amount=(("time", "compartment"), amount_free,
                           {"units": amount_units, "long_name": "free (released) cargo by compartment, "
                            "vesicle equivalents"}),
        free_cargo_concentration=(("time", "depth"), free_conc * PER_CM3,
                                  {"units": f"{unit} cm-3",
                                   "long_name": f"concentration of free cargo, {free_conc_note}"}),
        cargo_amount=(("time", "compartment"), amount_c * loading,
                      {"units": f"{cargo_unit} cm-2", "long_name": "cargo per skin area by compartment "
                       "(free + inside intact vesicles)"}),
    )


def to_dataset(problem: Problem1D, raw: RawSolution, scenario=None, pk=None) -> xr.Dataset:
    """Build the result Dataset of a 1D run.

    Parameters
    ----------
    problem : Problem1D
    raw : RawSolution
    scenario : Scenario, optional
        Its TOML text and name go into the attributes; ``output.per_class``
        adds the size-class variables.
    pk : exodiff.results.systemic.PKModel, optional
        A blood model: the variables and attributes of :func:`add_plasma`,
        built into the one constructor (the same numbers as
        ``add_plasma(to_dataset(problem, raw, scenario), pk)``, without a
        second merge of the Dataset).

    Returns
    -------
    xarray.Dataset
        Coordinates ``time`` (h), ``depth`` (um), ``compartment``, ``layer``;
        variables ``concentration``, ``amount``, ``fraction``, ``loss_by_layer``,
        ``flux_systemic``, ``flux_into_skin``, ``mass_balance_error`` and the
        layer coefficients.

        A polydisperse preparation (size classes) stores the totals over the
        classes in these variables; with ``output.per_class = true`` also
        ``class_amount``, ``class_fraction``, ``class_concentration``,
        ``class_loss_by_layer`` and ``class_<coefficient>`` with a
        ``size_class`` dimension (coordinates ``class_diameter`` nm,
        ``class_weight`` number fraction).

        A tracked cargo adds a ``species`` dimension (``vesicle``, ``cargo``)
        to ``amount``, ``fraction``, ``concentration``, ``loss_by_layer``, the
        fluxes, ``mass_balance_error``, ``applied_dose`` and the
        coefficients.  The cargo is counted in vesicle equivalents (the cargo
        one loaded vesicle carries) and by where it is, free or inside intact
        vesicles: ``vehicle`` and each layer hold free cargo plus the cargo of
        the intact vesicles there; ``taken_up`` includes cargo taken up inside
        vesicles, ``degraded`` the part degraded with them; its ``released``
        entry is 0 (for the vesicle species it counts vesicles that set their
        cargo free).  ``free_cargo_amount`` and ``free_cargo_concentration``
        hold the free part alone; ``cargo_amount`` the total in the loading's
        unit (attribute ``cargo_unit``).
    """
    unit = udunits(problem.dose_unit)  # the file's units are UDUNITS-2: "particle" is written "count"
    names = problem.layer_names
    grid = problem.grid
    led = _ledgers(problem, raw)
    cols, ves, car, released = led["cols"], led["ves"], led["car"], led["released"]
    processes, col_parts, vparts = led["processes"], led["col_parts"], led["vparts"]
    dose_cm2, comp_names, amount_v = led["dose_cm2"], led["comp_names"], led["amount_v"]
    t_h, depth_um, balance = led["t_h"], led["depth_um"], led["balance"]
    to_h = 3600.0 * PER_CM2
    layer_of_depth = np.array(names, dtype=object)[grid.layer_of_cell].astype(str)
    coords = dict(
        time=("time", t_h, TIME_ATTRS),
        depth=("depth", depth_um, DEPTH_ATTRS),
        depth_layer=("depth", layer_of_depth, {"long_name": "layer of each cell"}),
        compartment=("compartment", comp_names, {"long_name": "compartment"}),
        layer=("layer", list(names), {"long_name": "layer, top to bottom"}),
        process=("process", processes, {"long_name": "removal process"}),
    )
    amount_units = f"{unit} cm-2"
    if not released:
        conc = vparts["conc"]
        if len(ves) == 1:
            # one column: its profiles are this call's own (_column_parts made them, nothing else reads them):
            # scaled in place, not into another ~1 MB array for a regimen
            conc *= PER_CM3
        else:
            conc = conc * PER_CM3
        data_vars = dict(
            concentration=(("time", "depth"), conc,
                           {"units": f"{unit} cm-3", "long_name": "free concentration of the active"}),
            amount=(("time", "compartment"), amount_v,
                    {"units": amount_units, "long_name": "amount per skin area by compartment"}),
            fraction=(("time", "compartment"), amount_v / dose_cm2,
                      {"units": "1", "long_name": "amount / applied dose (every application of a regimen)"}),
            loss_by_layer=(("time", "process", "layer"), vparts["per_layer"] * PER_CM2,
                           {"units": amount_units,
                            "long_name": "cumulative amount removed in each layer by each process"}),
            flux_systemic=(("time",), vparts["flux_sys"] * to_h,
                           {"units": f"{unit} cm-2 h-1", "long_name": _FLUX_SYS}),
            flux_receptor=(("time",), vparts["flux_rec"] * to_h,
                           {"units": f"{unit} cm-2 h-1", "long_name": _FLUX_REC}),
            flux_into_skin=(("time",), vparts["flux_in"] * to_h,
                            {"units": f"{unit} cm-2 h-1", "long_name": "flux from the vehicle into the skin"}),
            mass_balance_error=(("time",), balance["vesicle"],
                                {"units": "1", "long_name": "relative mass balance error"}),
        )
        coefs = {k: (("layer",), v, {"units": _COEF_ATTRS[k][0], "long_name": _COEF_ATTRS[k][1]})
                 for k, v in _coefficients(problem.layers).items()}
    else:
        free, cparts, amount_c = led["free"], led["cparts"], led["amount_c"]
        amount_free = _amounts(free, True, problem.has_receptor) * PER_CM2
        amount_free[:, -1] = 0.0  # "released" is a vesicle compartment
        data_vars = dict(
            concentration=(("time", "species", "depth"), np.stack([vparts["conc"], cparts["conc"]], axis=1) * PER_CM3,
                           {"units": f"{unit} cm-3", "long_name": "concentration of the active (vesicle: free "
                            "vesicles; cargo: free + inside intact vesicles, in vesicle equivalents)"}),
        )
        cargo = (scenario.resolved["formulation"].get("cargo") or {}) if scenario is not None else {}
        data_vars.update(cargo_variables(
            vparts, cparts, amount_v, amount_c, amount_free, free["conc"], balance, dose_cm2, unit, PER_CM2,
            float(cargo.get("loading", problem.cargo_loading)),
            udunits(cargo.get("loading_unit") or problem.dose_unit), "vesicle equivalents"))
        cv, cc = _coefficients(problem.layers), _coefficients(cols[car[0]].layers)
        coefs = {k: (("species", "layer"), np.stack([cv[k], cc[k]]),
                     {"units": _COEF_ATTRS[k][0], "long_name": _COEF_ATTRS[k][1]}) for k in cv}
        coords["species"] = ("species", ["vesicle", "cargo"], {"long_name": "what is tracked"})
    data_vars.update(coefs)
    if problem.has_receptor:
        # amount per skin area / (volume per skin area): the receptor fluid's concentration, per mL
        rc = [p["receptor"] / problem.receptor_depth * PER_CM3 for p in ([vparts, cparts] if released else [vparts])]
        data_vars["receptor_concentration"] = (
            ("time", "species") if released else ("time",), np.stack(rc, axis=1) if released else rc[0],
            {"units": f"{unit} cm-3", "long_name": "concentration in the receptor fluid (as a sample finds it)"})
    data_vars["cell_width"] = (("depth",), grid.widths * 1e6, {"units": "um", "long_name": "finite-volume cell width"})
    data_vars["layer_thickness"] = (("layer",), np.array([ly.thickness for ly in problem.layers]) * 1e6,
                                    {"units": "um", "long_name": "layer thickness"})
    per_class = bool(getattr(scenario, "resolved", {}).get("output", {}).get("per_class", False)) \
        if scenario is not None else False
    if len(ves) > 1 and per_class:
        _add_classes(data_vars, coords, problem, [col_parts[s] for s in ves], [cols[s] for s in ves], released,
                     unit)
    # every variable goes into the one constructor: each later ``ds[name] = ...`` is a merge and alignment
    # of the whole Dataset (~0.3 ms each at 672 outputs, nine of them in a regimen with an error estimate)
    if problem.application_times:
        data_vars["applied"] = (("time",), applied_dose(problem) / problem.total_dose,
                                {"units": "1", "long_name": "amount applied so far / total applied dose"})
    level_method = None
    if raw.companion is not None:
        level_vars, level_method = _resolvable_level_vars(problem, raw, led, data_vars["fraction"][0],
                                                          data_vars["loss_by_layer"][0],
                                                          data_vars["loss_by_layer"][2]["units"])
        data_vars.update(level_vars)
    if pk is not None:
        # add_plasma's input: the primary species' fraction (the vesicles, or the only species), the total
        # applied dose per cm^2 and the treated area, as the Dataset below will hold them
        data_vars.update(plasma_variables(raw.times / 3600.0, led["amount_v"] / dose_cm2, comp_names, dose_cm2,
                                          problem.area / PER_CM2, problem.dose_unit, pk, vparts["flux_sys"] * to_h))
    ds = xr.Dataset(data_vars=data_vars, coords=coords)
    from exodiff.solvers.ledger import balance_limit

    used = raw.stats.get("integrator", problem.integrator)
    ds.attrs = run_attrs(problem, raw, scenario, "1D layered",
                         "finite volumes, u = c/K, harmonic face conductances; "
                         f"{INTEGRATOR_NAMES.get(used, used)} with adaptive "
                         f"{'basis size' if used == 'krylov' else 'steps'}",
                         grid.layer_slices, grid_cells=int(grid.n),
                         mass_balance_bound=balance_limit(problem, led["arr"]))  # the promise at this stiffness
    ds.attrs["integrator"] = used
    if "integrator_fallback" in raw.stats:
        ds.attrs["integrator_fallback"] = raw.stats["integrator_fallback"]
    if "regimen_solution" in raw.stats:  # a regimen: one run of every application, or shifted copies of one response
        ds.attrs["regimen_solution"] = raw.stats["regimen_solution"]
        # the applications whose interval the kernel integrated (the rest: z0's settled tail, scaled)
        ds.attrs["regimen_applications_integrated"] = int(raw.stats["regimen_applications_integrated"])
    if len(ves) > 1:
        ds.attrs["size_classes"] = len(ves)
        ds.attrs["class_diameters_nm"] = [float(cols[s].diameter) * 1e9 for s in ves]
        ds.attrs["class_weights"] = [float(cols[s].weight) for s in ves]
    if released:
        cargo = (scenario.resolved["formulation"].get("cargo") or {}) if scenario is not None else {}
        ds.attrs["cargo_name"] = str(cargo.get("name", "cargo"))
        ds.attrs["cargo_loading"] = float(cargo.get("loading", problem.cargo_loading))
        ds.attrs["cargo_unit"] = str(cargo.get("loading_unit") or problem.dose_unit)
        ds.attrs["cargo_release_on_degradation"] = float(problem.release_on_degradation)
        ds.attrs["cargo_encapsulation_efficiency"] = float(problem.encapsulation)
        # one string (netCDF keeps a list of strings badly, and an empty one not at all)
        ds.attrs["cargo_barrier_layers"] = ",".join(barrier_layers(problem))
    if problem.wash_off_time is not None:
        ds.attrs["wash_off_time_h"] = problem.wash_off_time / 3600.0
    if problem.has_receptor:
        ds.attrs.update(receptor_attrs(problem, scenario))
    if problem.application_times:
        ds.attrs.update(regimen_attrs(problem))
    if level_method is not None:
        ds.attrs["resolvable_level_method"] = level_method
    if pk is not None:
        ds.attrs.update(pk.attrs())
    return ds


#: an amount is resolved when its estimated grid error is at most this fraction of it
RESOLVED_RELATIVE_ERROR = 0.1


def _fractions_and_losses(problem: Problem1D, led: dict) -> tuple[np.ndarray, np.ndarray]:
    """``fraction`` and ``loss_by_layer`` (per cm^2) of a ledger, shaped as in the Dataset."""
    dose_cm2 = led["dose_cm2"]
    if not led["released"]:
        return led["amount_v"] / dose_cm2, led["vparts"]["per_layer"] * PER_CM2
    return (np.stack([led["amount_v"], led["amount_c"]], axis=1) / dose_cm2,
            np.stack([led["vparts"]["per_layer"], led["cparts"]["per_layer"]], axis=1) * PER_CM2)


def _supplied_doses(frac: np.ndarray) -> np.ndarray:
    """How many doses the film has supplied by each output time (at least 1), ``(k,)`` for ``frac`` ``(k, ...)``.

    The time share of an accuracy target's estimate is a share of the dose
    because the time-error law behind it was measured on finite films, whose
    amounts never exceed the dose; the step control is relative, so a
    constant donor that has put ``M`` doses into the skin and beyond makes
    ``M`` times that error (measured: 5.2x the stated error on one membrane
    under a 10 um donor at 4 h, ~36 doses supplied).  ``M`` is the largest
    sum so far of every compartment but the film (vehicle, index 0 of the
    last axis), so a finite film keeps ``M = 1``.
    """
    held = np.abs(frac[..., 1:]).sum(axis=-1)
    held = held.reshape(held.shape[0], -1).sum(axis=1)  # size classes or the cargo with the vesicles
    return np.maximum(np.maximum.accumulate(held), 1.0)


def add_resolvable_levels(ds: xr.Dataset, problem: Problem1D, raw: RawSolution, led: dict) -> None:
    """The error estimate and resolvable level of every amount (from the run on a second grid), added to ``ds``.

    Adds ``fraction_error`` (like ``fraction``), ``loss_by_layer_error``
    (like ``loss_by_layer``), ``resolvable_level`` = ``fraction_error /
    RESOLVED_RELATIVE_ERROR`` and ``below_resolvable_level`` (1 where an
    amount is smaller than its level: its value is then not known even to 10 %,
    typically the numerical diffusion of a front that physically has not
    arrived; report it as "below the resolvable level", never as a number),
    and the attribute ``resolvable_level_method``.  :func:`to_dataset` builds
    the same variables into its one constructor (:func:`_resolvable_level_vars`).
    """
    new, how = _resolvable_level_vars(problem, raw, led, ds["fraction"].dims, ds["loss_by_layer"].dims,
                                      ds["loss_by_layer"].attrs["units"])
    ds.update(new)
    ds.attrs["resolvable_level_method"] = how


#: every stated error carries at least this share of its amount: the round-off of an amount that every check
#: run computes to the last bit alike (a film that lost ~nothing: its amount 1 - 3e-16 of the dose against the
#: PDE where the runs' differences stated 0, an under-statement by 1e284)
ROUNDOFF_SHARE = 8.0 * float(np.finfo(float).eps)


def level_variables(frac, err, lerr, dims, loss_dims, loss_units: str, loss=None) -> dict:
    """``fraction_error``, ``loss_by_layer_error``, ``resolvable_level`` and ``below_resolvable_level`` as
    ``(dims, data, attrs)`` tuples, from the fractions ``frac`` and the estimated errors ``err`` (like
    ``fraction``) and ``lerr`` (like ``loss_by_layer`` = ``loss``, in ``loss_units``): both geometries'.
    Each error gets the round-off of its amount added (:data:`ROUNDOFF_SHARE`)."""
    err = err + ROUNDOFF_SHARE * np.abs(frac)
    if loss is not None:
        lerr = lerr + ROUNDOFF_SHARE * np.abs(loss)
    level = err / RESOLVED_RELATIVE_ERROR
    return {
        "fraction_error": (dims, err, {"units": "1", "long_name": "estimated error of fraction (from a second "
                                       "run on another grid, docs/numerics.md)"}),
        "loss_by_layer_error": (loss_dims, lerr, {"units": loss_units,
                                                  "long_name": "estimated grid error of loss_by_layer"}),
        "resolvable_level": (dims, level, {"units": "1", "long_name": "fraction of the dose below which the "
                             f"amount is not resolved (estimated error > {RESOLVED_RELATIVE_ERROR:g} of it)"}),
        "below_resolvable_level": (dims, (np.abs(frac) < level).astype(np.int8),
                                   {"units": "1", "long_name": "1 where the amount is below its resolvable "
                                    "level (not a precise number)"}),
    }


#: the lowest observed order :func:`pre_asymptotic_factor` reads as one (its factor there: 4^2.5 = 32)
PRE_ASYMPTOTIC_LOWEST = -1.5


def pre_asymptotic_factor(d1: np.ndarray, d2: np.ndarray) -> np.ndarray:
    """How much more than second order's ``|d1| / 2`` a space error may be, from three nested grids.

    ``d1 = a_h - a``, ``d2 = a_q - a_h``: the differences of a run ``a``, its
    grid halved ``a_h`` and halved again ``a_q``.  At second order ``d2 = 4
    d1``; the observed order is ``p = log2(d2 / d1)`` (same signs).  A front
    that has not yet crossed the first cells of the grid (a slow stratum
    corneum in its first hours) takes up ~1/dz of what it should: ``p`` near
    -1, and the true error was up to 12x ``|d1| / 2`` (three-layer film,
    D_sc 2e-18 m^2/s at 15 min, Laplace reference; 4.6x at 1 h, 1.9x at 3 h
    with p = -0.5, 1.2x at p = -0.3, covered from p = 0.1 up).  The factor
    is ``4^(1 - p)`` for :data:`PRE_ASYMPTOTIC_LOWEST` ``<= p < 1``, and 1
    otherwise: where the signs differ or ``d1 = 0`` there is no order to
    read, and below -1.5 the coarsest difference is crossing zero, not
    showing an order (a front inside the first cell of all three grids
    takes up ``c / dz`` on each, ``d2 = d1 / 2``: ``p = -1`` is that limit).
    Capped at 32 instead, such a crossing stated an SC 0.8 % off to 46 % (an
    independent check, 17 cells per layer).
    """
    d1 = np.asarray(d1, dtype=float)
    d2 = np.asarray(d2, dtype=float)
    out = np.ones(np.broadcast(d1, d2).shape)
    same = (d1 * d2) > 0.0
    if np.any(same):
        p = np.log2(np.abs(d2[same]) / np.abs(d1[same]))
        out[same] = np.where((p >= PRE_ASYMPTOTIC_LOWEST) & (p < 1.0), 4.0 ** (1.0 - p), 1.0)
    return out


def _resolvable_level_vars(problem: Problem1D, raw: RawSolution, led: dict, dims, loss_dims,
                           loss_units: str) -> tuple[dict, str]:
    """The variables of :func:`add_resolvable_levels` as ``(dims, data, attrs)`` tuples, and its method text.

    ``dims`` and ``loss_dims`` are the dimensions of ``fraction`` and
    ``loss_by_layer``, ``loss_units`` the units of ``loss_by_layer``.
    """
    frac, loss = _fractions_and_losses(problem, led)
    err = np.zeros_like(frac)
    lerr = np.zeros_like(loss)
    scale = _supplied_doses(frac)  # (k,)

    def amounts(p, r):  # fractions and losses of a companion's run (no balance, no profiles)
        return _fractions_and_losses(p, _ledgers(p, r, balance=False, profiles=False))

    for other, raw_o, divisor, floor in raw.companion:
        floor = floor * scale  # a time share stated per dose, for what the donor has supplied so far
        f_frac = floor.reshape((-1,) + (1,) * (frac.ndim - 1))
        f_loss = floor.reshape((-1,) + (1,) * (loss.ndim - 1))
        frac_o, loss_o = amounts(other, raw_o)
        if "or" in raw_o.stats:  # two interpolants of the same steps: the smaller difference of each amount
            frac_2, loss_2 = amounts(other, raw_o.stats["or"])
            frac_o = np.where(np.abs(frac_2 - frac) < np.abs(frac_o - frac), frac_2, frac_o)
            loss_o = np.where(np.abs(loss_2 - loss) < np.abs(loss_o - loss), loss_2, loss_o)
        m_frac = m_loss = 1.0
        if "coarser" in raw_o.stats:  # the space check's own check: the observed order of three grids
            third, raw_3 = raw_o.stats["coarser"]
            frac_3, loss_3 = amounts(third, raw_3)
            m_frac = pre_asymptotic_factor(frac_o - frac, frac_3 - frac_o)
            m_loss = pre_asymptotic_factor(loss_o - loss, loss_3 - loss_o)
        # an amount that is exactly 0 in both runs (no such process, no wash-off) is exact: no floor there
        err += m_frac * np.abs(frac - frac_o) / divisor + f_frac * ((frac != 0) | (frac_o != 0))
        lerr += m_loss * np.abs(loss - loss_o) / divisor + f_loss * led["dose_cm2"] * ((loss != 0) | (loss_o != 0))
    out = level_variables(frac, err, lerr, dims, loss_dims, loss_units, loss)
    if problem.richardson:
        how = f"Richardson extrapolation of grids with {problem.grid.n} and {2 * problem.grid.n} cells"
    else:
        parts = [raw_o.stats.get("check") or f"{other.grid.n} cells and tolerance {other.tolerance:g} (/ {divisor:.3g}"
                 + (f"; x 4^(1 - p) where {raw_o.stats['coarser'][0].grid.n} cells show an order -1.5 <= p < 1)"
                    if "coarser" in raw_o.stats else ")")
                 for other, raw_o, divisor, _ in raw.companion]
        how = (f"the differences from check runs with {' and with '.join(parts)}, summed "
               f"(this run: {problem.grid.n} cells, tolerance {problem.tolerance:g})")
    return out, how


def regimen_attrs(problem) -> dict:
    """Attributes of a regimen: each application's time and dose, and what happens to the old film."""
    return {"applications": problem.n_applications,
            "application_times_h": [t / 3600.0 for t in problem.all_application_times],
            "dose_per_application": problem.dose * PER_CM2,
            "wash_before_reapplication": int(not problem.join_film)}


#: the 1D integrators as the solver record names them (simulation.integrator -> text)
INTEGRATOR_NAMES = {"esdirk4": "ESDIRK4(3)6L[2]SA (Kennedy & Carpenter)", "sdirk4": "SDIRK4 (Hairer & Wanner)",
                    "tr-bdf2": "TR-BDF2", "krylov": "rational Krylov propagator (one repeated pole, Galerkin)"}


def run_attrs(problem, raw, scenario, geometry: str, solver: str, layer_slices, **extra) -> dict:
    """The global attributes every result carries (CF conventions, provenance, dose, solver record), both geometries.

    ``extra`` (grid sizes, channel geometry) follow the vehicle and bottom,
    before the solver record.
    """
    unit = problem.dose_unit
    faces = np.cumsum([0.0] + [ly.thickness for ly in problem.layers]) * 1e6
    title = getattr(scenario, "name", "exodiff run") if scenario is not None else "exodiff run"
    attrs = {
        "Conventions": "CF-1.10",
        "title": title,
        "source": f"exodiff {__version__}",
        "history": f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}: exodiff run",
        "exodiff_version": __version__,
        "geometry": geometry,
        "scenario": getattr(scenario, "text", "") if scenario is not None else "",
        "dose_unit": unit,
        "applied_dose": problem.total_dose * PER_CM2,
        "applied_dose_units": f"{udunits(unit)} cm-2",
        "treated_area_cm2": problem.area / PER_CM2,
        "treated_area_source": problem.area_source,
        "vehicle": problem.vehicle,
        "vehicle_thickness_um": problem.vehicle_thickness * 1e6,
        "bottom": problem.bottom,
        "layer_interfaces_um": faces.tolist(),
    }
    attrs.update(extra)
    attrs.update({
        "solver": solver,
        "solver_tolerance": problem.tolerance,
        "solver_steps": raw.stats["steps"],
        "solver_rejected_steps": raw.stats["rejected"],
        "grid_cells_per_layer": [int(sl.stop - sl.start) for sl in layer_slices],
        "wall_time_s": float(raw.stats["wall_time_s"]),
    })
    return attrs


def receptor_attrs(problem, scenario=None) -> dict:
    """Attributes describing a Franz cell's receptor (``skin.bottom = "receptor"``)."""
    rec = (scenario.resolved.get("receptor") or {}) if scenario is not None else {}
    out = {"receptor_depth_cm": problem.receptor_depth * 100.0 if problem.receptor_depth else 0.0,
           "receptor_partition": problem.receptor_partition,
           "receptor_sampling_times_h": [t / 3600.0 for t in problem.sampling_times],
           "receptor_sample_fraction": problem.sample_fraction}
    if rec:
        out.update(receptor_volume_mL=rec["volume"] * 1e6, receptor_area_cm2=rec["area"] * 1e4,
                   receptor_sample_volume_mL=rec["sample_volume"] * 1e6)
    return out


def _ledgers(problem: Problem1D, raw: RawSolution, balance: bool = True, profiles: bool = True) -> dict:
    """The arrays of the result's ledgers, before any Dataset (shared by :func:`to_dataset` and
    :func:`metric_arrays`, so the Dataset and a sweep point's metrics are the same numbers).

    Amounts per cm^2 where named ``amount_*``/``dose_cm2``; the column parts
    (``vparts``, ``cparts``, ``free``) in SI per m^2 as :func:`_column_parts`.
    ``balance=False`` leaves the mass balance error out (``None``): a check
    run's amounts need none (its solve has checked it); ``profiles=False``
    the concentration profiles and fluxes (:func:`_column_parts`).
    """
    names = problem.layer_names
    arr = problem.columns_arrays()
    cols = problem.all_columns
    ves = [s for s, c in enumerate(cols) if c.species == "vesicle"]
    car = [s for s, c in enumerate(cols) if c.species == "cargo"]
    released = bool(car)
    col_parts = [_column_parts(problem, raw, arr, s, profiles) for s in range(len(cols))]
    vparts = _sum_parts([col_parts[s] for s in ves])
    # fractions are of the total applied dose: a regimen's every application
    dose_cm2 = problem.total_dose * PER_CM2
    sampled = problem.has_receptor
    amount_v = _amounts(vparts, released, sampled) * PER_CM2
    if problem.vehicle == "infinite":
        amount_v[:, 0] = dose_cm2
    if not balance:
        balance = None
    elif raw.u_cols is not None and raw.u_cols.shape[1] > 1:
        balance = column_balance_errors(problem, raw)
    else:
        balance = {"vesicle": mass_balance_error(problem, raw)}
    out = dict(arr=arr, cols=cols, ves=ves, car=car, released=released,
               processes=list(LOSS_PROCESSES) + (["released"] if released else []),
               col_parts=col_parts, vparts=vparts, dose_cm2=dose_cm2, comp_names=compartment_names(names, released, sampled),
               amount_v=amount_v, t_h=raw.times / 3600.0, depth_um=problem.grid.centres * 1e6, balance=balance)
    if released:
        f_deg = problem.release_on_degradation
        e = problem.encapsulation  # the cargo one vesicle carries, in loaded vesicle equivalents
        free = col_parts[car[0]]
        # the cargo by place: free + inside intact vesicles; degraded with them: (1 - f) x degraded vesicles
        pl_v = vparts["per_layer"]
        pl_c = free["per_layer"].copy()
        pl_c[:, 0] += (1.0 - f_deg) * e * pl_v[:, 0]
        pl_c[:, 1] += e * pl_v[:, 1]
        pl_c[:, 2] += e * pl_v[:, 2]
        pl_c[:, 3] = 0.0
        cparts = {k: free[k] + e * vparts[k] for k in free if k != "per_layer"}
        cparts["per_layer"] = pl_c
        amount_c = _amounts(cparts, True, sampled) * PER_CM2
        if problem.vehicle == "infinite":
            amount_c[:, 0] = dose_cm2
        out.update(free=free, cparts=cparts, amount_c=amount_c)
    return out


def metric_arrays(problem: Problem1D, raw: RawSolution):
    """The inputs of :func:`exodiff.results.metrics.summary_of_arrays` straight from a 1D run's raw arrays.

    The same arrays (same operations, same values) :func:`to_dataset` stores
    and :func:`exodiff.results.metrics.run_arrays` reads back, without building the
    Dataset: ``summary_of_arrays(metric_arrays(p, raw))`` equals
    ``summary(to_dataset(p, raw))`` (tests/test_sweep.py checks it).

    Returns
    -------
    exodiff.results.metrics.RunArrays
    """
    from exodiff.results.metrics import RunArrays, SpeciesArrays

    led = _ledgers(problem, raw)
    dose = led["dose_cm2"]
    vparts = led["vparts"]
    # the same products and quotients as to_dataset's variables (per cm^2, per cm^3)
    species = [("vesicle" if led["released"] else None,
                SpeciesArrays(fraction=led["amount_v"] / dose, loss_by_layer=vparts["per_layer"] * PER_CM2,
                              dose=float(dose), concentration_end=vparts["conc"][-1] * PER_CM3,
                              flux_systemic=vparts["flux_sys"] * (3600.0 * PER_CM2)))]
    balance = led["balance"]["vesicle"]
    if led["released"]:
        cparts = led["cparts"]
        species.append(("cargo", SpeciesArrays(fraction=led["amount_c"] / dose,
                                               loss_by_layer=cparts["per_layer"] * PER_CM2, dose=float(dose),
                                               concentration_end=cparts["conc"][-1] * PER_CM3,
                                               amount_factor=float(problem.cargo_loading))))
        balance = np.stack([balance, led["balance"]["cargo"]], axis=1)
    cargo = None
    if led["released"]:
        cargo = {"encapsulation": float(problem.encapsulation),
                 "release_on_degradation": float(problem.release_on_degradation),
                 "barrier_layers": barrier_layers(problem)}
    return RunArrays(time_h=led["t_h"], compartments=led["comp_names"], layers=list(problem.layer_names),
                     processes=led["processes"], depth_um=led["depth_um"], cell_width_um=problem.grid.widths * 1e6,
                     species=species, mass_balance_error=balance, area_cm2=problem.area / PER_CM2,
                     application_times_h=tuple(t / 3600.0 for t in problem.all_application_times)
                     if problem.application_times else (), cargo=cargo)


def barrier_layers(problem: Problem1D) -> list[str]:
    """Names of the stratum-corneum layers (where ``release_rate_stratum_corneum`` acts), top to bottom.

    The problem's ``barrier_layers`` (from the scenario's layer tables,
    :func:`exodiff.scenario.schema.is_stratum_corneum`); for a problem built
    from arrays, the layers named ``stratum_corneum``.
    """
    if problem.barrier_layers:
        return list(problem.barrier_layers)
    return [n for n in problem.layer_names if n == "stratum_corneum"]


def _add_classes(data_vars, coords, problem, parts, cols, released, unit) -> None:
    """Per-class variables with a ``size_class`` dimension (``output.per_class``)."""
    amounts = np.stack([_amounts(p, released, problem.has_receptor) for p in parts], axis=1) * PER_CM2  # (k, N, C)
    unit = udunits(unit)
    doses = np.array([c.weight for c in cols]) * problem.total_dose * PER_CM2
    if problem.vehicle == "infinite":
        amounts[:, :, 0] = doses
    coords["size_class"] = ("size_class", np.arange(len(cols)), {"long_name": "size class, smallest first"})
    coords["class_diameter"] = ("size_class", np.array([c.diameter for c in cols]) * 1e9,
                                {"units": "nm", "long_name": "hydrodynamic diameter of the size class"})
    coords["class_weight"] = ("size_class", np.array([c.weight for c in cols]),
                              {"units": "1", "long_name": "number fraction of the size class"})
    data_vars["class_applied_dose"] = (("size_class",), doses, {"units": f"{unit} cm-2",
                                                                 "long_name": "applied amount of the size class"})
    data_vars["class_amount"] = (("time", "size_class", "compartment"), amounts,
                                 {"units": f"{unit} cm-2", "long_name": "amount of the size class by compartment"})
    data_vars["class_fraction"] = (("time", "size_class", "compartment"), amounts / doses[None, :, None],
                                   {"units": "1", "long_name": "amount / applied amount of the size class"})
    data_vars["class_concentration"] = (("time", "size_class", "depth"),
                                        np.stack([p["conc"] for p in parts], axis=1) * PER_CM3,
                                        {"units": f"{unit} cm-3", "long_name": "concentration of the size class"})
    data_vars["class_loss_by_layer"] = (("time", "size_class", "process", "layer"),
                                        np.stack([p["per_layer"] for p in parts], axis=1) * PER_CM2,
                                        {"units": f"{unit} cm-2",
                                         "long_name": "cumulative amount of the size class removed in each layer"})
    per = [_coefficients(c.layers) for c in cols]
    for k in per[0]:
        data_vars[f"class_{k}"] = (("size_class", "layer"), np.stack([p[k] for p in per]),
                                   {"units": _COEF_ATTRS[k][0], "long_name": _COEF_ATTRS[k][1] + " (size class)"})


def add_plasma(ds, pk):
    """``ds`` (1D or r-z) with the blood of ``pk`` (:class:`exodiff.results.systemic.PKModel`).

    Adds ``plasma_concentration``, ``plasma_auc``, ``absorbed_amount`` and
    ``absorption_rate`` over time (CF units), and the model as attributes.

    The absorbed amount is the primary species' ``cleared + receptor``
    fraction times the applied dose and the treated area
    (``treated_area_cm2``), so a stored result gives the same plasma.
    """
    from exodiff.results.metrics import applied_dose, species_names, species_view, totals

    view = species_view(totals(ds), species_names(ds)[0])
    comps = [str(c) for c in view["compartment"].values]
    frac = np.asarray(view["fraction"].transpose("time", "compartment").values, dtype=float)
    area = float(ds.attrs.get("treated_area_cm2", 1.0))
    t_h = np.asarray(ds["time"].values, dtype=float)
    flux = np.asarray(view["flux_systemic"].values, dtype=float) if "flux_systemic" in view else None
    # one assign (a copy and one merge), not four item assignments (a merge each)
    out = ds.assign(plasma_variables(t_h, frac, comps, applied_dose(view), area, ds.attrs.get("dose_unit", "1"), pk,
                                     flux))
    out.attrs.update(pk.attrs())
    return out


def plasma_variables(t_h: np.ndarray, fraction: np.ndarray, compartments: list, dose_cm2: float, area_cm2: float,
                     unit: str, pk, flux_systemic: np.ndarray | None = None) -> dict:
    """The variables :func:`add_plasma` adds, as ``(dims, data, attrs)`` tuples.

    Parameters
    ----------
    t_h : float64[k]
        Output times, h.
    fraction : float64[k, C]
        The primary species' fraction of the total applied dose by compartment.
    compartments : list of str
        The C compartment names.
    dose_cm2 : float
        Total applied dose per cm^2 (dose unit cm^-2).
    area_cm2 : float
        Treated area, cm^2.
    unit : str
        The dose unit (as the ``dose_unit`` attribute).
    pk : exodiff.results.systemic.PKModel
    flux_systemic : float64[k], optional
        The primary species' ``flux_systemic`` at each output (dose unit
        cm^-2 h^-1): the input's rate at the outputs, which shapes it between
        them (:func:`exodiff.results.systemic.plasma`); without it the
        input is constant over each interval.
    """
    from exodiff.results.systemic import absorbed_per_area, plasma

    absorbed = absorbed_per_area(fraction, compartments, dose_cm2) * area_cm2
    pl = plasma(t_h * 3600.0, absorbed, pk, None if flux_systemic is None else flux_systemic * (area_cm2 / 3600.0))
    return {
        "plasma_concentration": (("time",), pl.concentration * 1e-3,
                                 {"units": f"{unit} L-1", "long_name": "concentration in the central (plasma) "
                                  "compartment"}),
        "plasma_auc": (("time",), pl.auc * 1e-3 / 3600.0,
                       {"units": f"{unit} h L-1", "long_name": "area under the plasma concentration curve from 0"}),
        "absorbed_amount": (("time",), pl.absorbed,
                            {"units": unit, "long_name": "cumulative amount into the blood over the treated area "
                             "(cleared + receptor)"}),
        "absorption_rate": (("time",), pl.rate * 3600.0,
                            {"units": f"{unit} h-1", "long_name": "mean input rate into the blood over the interval "
                             "to the next output (whole treated area)"}),
    }


def absorption_table(ds) -> dict:
    """The input into the blood over the treated area, for PK tools (docs/pk_export.md).

    Returns
    -------
    dict
        ``time_h`` (h), ``absorbed`` (cumulative amount, dose unit, whole
        treated area: ``cleared + receptor``), ``rate`` (mean rate over the
        interval from each output to the next, dose unit/h; the last row 0),
        ``fraction`` (absorbed / total applied amount), ``unit``, ``area_cm2``.
    """
    from exodiff.results.metrics import applied_dose, species_names, species_view, totals
    from exodiff.results.systemic import absorbed_per_area

    view = species_view(totals(ds), species_names(ds)[0])
    comps = [str(c) for c in view["compartment"].values]
    frac = np.asarray(view["fraction"].transpose("time", "compartment").values, dtype=float)
    area = float(ds.attrs.get("treated_area_cm2", 1.0))
    dose = applied_dose(view)
    absorbed = absorbed_per_area(frac, comps, dose) * area
    t_h = np.asarray(ds["time"].values, dtype=float)
    rate = np.zeros(t_h.size)
    dt = np.diff(t_h)
    np.divide(np.diff(absorbed), dt, out=rate[:-1], where=dt > 0)
    return {"time_h": t_h, "absorbed": absorbed, "rate": rate, "fraction": absorbed / (dose * area),
            "unit": str(ds.attrs.get("dose_unit", "1")), "area_cm2": area}
