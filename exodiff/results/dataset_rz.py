"""Raw r-z unit-cell arrays -> the result Dataset, reading like a 1D result (per cm^2 of skin).

Same compartments, variables and attributes as :mod:`exodiff.results.dataset`,
plus ``concentration_rz(time, depth, radius)``, the ``radius`` coordinate and
the channel geometry in the attributes.  A tracked cargo adds the 1D cargo
run's ``species`` dimension and variables (``free_cargo_amount``,
``free_cargo_concentration``, ``cargo_amount``), built the same way.
"""

from __future__ import annotations

import math

import numpy as np

from exodiff.problem.unit_cell import ProblemRZ
from exodiff.solvers.common import RawSolution, film_schedule
from exodiff.solvers.ledger import (
    applied_dose_rz,
    balance_errors_rz,
    cell_states,
    mass_balance_error_rz,
    tissue_amounts_rz,
    vehicle_amount_rz,
)


def lateral_average(problem: ProblemRZ, field: np.ndarray) -> np.ndarray:
    """Area-weighted lateral average over the unit cell of a ``(..., nz, nr)`` field."""
    w = problem.grid.annulus_areas / problem.cell_area
    return field @ w


def field_parts(problem: ProblemRZ, raw: RawSolution, species: str = "vesicle") -> dict:
    """Amounts (per unit cell), profiles (per m^3) and rates (per unit cell per s) of one field.

    The keys of the 1D ``_column_parts`` (``vehicle``, ``layers``,
    ``per_layer`` (k, P, L), ``receptor``, ``removed``, ``conc`` the lateral
    average, ``flux_sys``, ``flux_rec``, ``flux_in``), plus ``conc_rz``.
    """
    L = len(problem.layers)
    P = problem.n_processes
    g = problem.grid
    nz = g.shape[0]
    comp = raw.comp_cols[:, 1] if species == "cargo" else raw.comp
    u = raw.u_cols[:, 1] if species == "cargo" else raw.u
    ust = cell_states(problem, raw, species)
    Kt = np.stack([problem.fields_at(float(t), species)["partition"] for t in raw.times])
    conc_rz = ust * Kt
    washed = np.zeros(raw.times.size, dtype=bool)
    if problem.application_times:
        washed = ~film_schedule(problem).on  # washed off after an application, until the next one
    elif problem.wash_off_time is not None:
        washed = raw.times >= problem.wash_off_time
    # instantaneous rates: leaving the skin (clearance + bottom), through the bottom, out of the vehicle
    flux_sys = np.empty(raw.times.size)
    flux_rec = np.empty(raw.times.size)
    flux_in = np.empty(raw.times.size)
    for k, t in enumerate(raw.times):
        co = problem.coefficients_at(float(t), species)
        flux_rec[k] = (co["gz"][nz] * ust[k, -1]).sum()
        flux_sys[k] = (ust[k] * co["ccl"]).sum() + flux_rec[k]
        flux_in[k] = 0.0 if washed[k] else (co["gz"][0] * (u[k, 0] - ust[k, 0])).sum()
    if species == "cargo" and problem.vehicle == "infinite":
        # the donor's film holds the cargo applied free (as the 1D cargo column's)
        vehicle = np.full(raw.times.size, problem.concentration * problem.cargo.free * problem.vehicle_thickness
                          * problem.cell_area)
    else:
        vehicle = vehicle_amount_rz(problem, raw, species)
    return dict(vehicle=vehicle, layers=tissue_amounts_rz(problem, raw, species),
                per_layer=comp[:, :P * L].reshape(raw.times.size, P, L), receptor=comp[:, P * L],
                removed=comp[:, P * L + 1], sampled=np.zeros(raw.times.size),
                conc=lateral_average(problem, conc_rz), conc_rz=conc_rz,
                flux_sys=flux_sys, flux_rec=flux_rec, flux_in=flux_in)


def cargo_parts(problem: ProblemRZ, vparts: dict, free: dict) -> dict:
    """The cargo by place, free + inside intact vesicles (vesicle equivalents), as the 1D result counts it.

    A vesicle carries ``encapsulation`` loaded vesicle equivalents (1D ``_ledgers``).
    """
    f_deg = problem.cargo.release_on_degradation
    e = problem.cargo.encapsulation
    pl_v = vparts["per_layer"]
    pl_c = free["per_layer"].copy()
    pl_c[:, 0] += (1.0 - f_deg) * e * pl_v[:, 0]
    pl_c[:, 1] += e * pl_v[:, 1]
    pl_c[:, 2] += e * pl_v[:, 2]
    pl_c[:, 3] = 0.0
    out = {k: free[k] + e * vparts[k] for k in free if k != "per_layer"}
    out["per_layer"] = pl_c
    return out


# -- Dataset ----------------------------------------------------------------------------

def to_dataset_rz(problem: ProblemRZ, raw: RawSolution, scenario=None):
    """Build the result Dataset of a unit-cell run.

    Same compartments, variables and attributes as
    :func:`exodiff.results.dataset.to_dataset` (amounts per cm^2 of skin, the
    concentration a lateral average comparable with 1D), plus
    ``concentration_rz(time, depth, radius)``, the ``radius`` coordinate and
    the channel geometry in the attributes.
    """
    import xarray as xr

    from exodiff.results.dataset import (
        _COEF_ATTRS,
        _FLUX_REC,
        _FLUX_SYS,
        DEPTH_ATTRS,
        LOSS_PROCESSES,
        PER_CM2,
        PER_CM3,
        TIME_ATTRS,
        _amounts,
        _coefficients,
        cargo_variables,
        compartment_names,
        regimen_attrs,
        run_attrs,
    )
    from exodiff.units import udunits

    unit = udunits(problem.dose_unit)  # UDUNITS-2 in the file: "particle" is written "count"
    names = problem.layer_names
    g = problem.grid
    nz, nr = g.shape
    area = problem.cell_area
    per_cm2 = PER_CM2 / area           # unit cell amounts -> per cm^2 of skin
    released = problem.cargo is not None
    # the 1D ledger's compartments; what crosses the bottom (a sink here, also for a Franz cell) is `receptor`
    vparts = field_parts(problem, raw)
    amount_v = _amounts(vparts, released) * per_cm2
    # fractions are of the total applied dose: a regimen's every application
    dose_cm2 = problem.total_dose * PER_CM2
    to_h = 3600.0 * per_cm2
    amount_units = f"{unit} cm-2"

    t_h = raw.times / 3600.0
    depth_um = g.z.centres * 1e6
    layer_of_depth = np.array(names, dtype=object)[g.z.layer_of_cell].astype(str)
    processes = list(LOSS_PROCESSES) + (["released"] if released else [])
    if not released:
        data_vars = dict(
            concentration=(("time", "depth"), vparts["conc"] * PER_CM3,
                           {"units": f"{unit} cm-3",
                            "long_name": "free concentration of the active, area-weighted lateral average"}),
            concentration_rz=(("time", "depth", "radius"), vparts["conc_rz"] * PER_CM3,
                              {"units": f"{unit} cm-3", "long_name": "free concentration of the active"}),
            amount=(("time", "compartment"), amount_v,
                    {"units": amount_units, "long_name": "amount per skin area by compartment"}),
            fraction=(("time", "compartment"), amount_v / dose_cm2,
                      {"units": "1", "long_name": "amount / applied dose"}),
            loss_by_layer=(("time", "process", "layer"), vparts["per_layer"] * per_cm2,
                           {"units": amount_units,
                            "long_name": "cumulative amount removed in each layer by each process"}),
            flux_systemic=(("time",), vparts["flux_sys"] * to_h, {"units": f"{unit} cm-2 h-1", "long_name": _FLUX_SYS}),
            flux_receptor=(("time",), vparts["flux_rec"] * to_h, {"units": f"{unit} cm-2 h-1", "long_name": _FLUX_REC}),
            flux_into_skin=(("time",), vparts["flux_in"] * to_h,
                            {"units": f"{unit} cm-2 h-1", "long_name": "flux from the vehicle into the skin"}),
            mass_balance_error=(("time",), mass_balance_error_rz(problem, raw),
                                {"units": "1", "long_name": "relative mass balance error"}),
        )
        coefs = {k: (("layer",), v, {"units": _COEF_ATTRS[k][0], "long_name": _COEF_ATTRS[k][1]})
                 for k, v in _coefficients(problem.layers).items()}
    else:
        # as the 1D cargo run (exodiff.results.dataset.to_dataset): the cargo in vesicle equivalents, by place
        free = field_parts(problem, raw, "cargo")
        cparts = cargo_parts(problem, vparts, free)
        amount_c = _amounts(cparts, True) * per_cm2
        amount_free = _amounts(free, True) * per_cm2
        amount_free[:, -1] = 0.0  # "released" is a vesicle compartment
        if problem.vehicle == "infinite":
            amount_c[:, 0] = dose_cm2
        balance = balance_errors_rz(problem, raw)

        def both(key, scale):
            return np.stack([vparts[key], cparts[key]], axis=1) * scale

        data_vars = dict(
            concentration=(("time", "species", "depth"), both("conc", PER_CM3),
                           {"units": f"{unit} cm-3", "long_name": "concentration of the active, area-weighted "
                            "lateral average (vesicle: free vesicles; cargo: free + inside intact vesicles, in "
                            "vesicle equivalents)"}),
            concentration_rz=(("time", "species", "depth", "radius"), both("conc_rz", PER_CM3),
                              {"units": f"{unit} cm-3", "long_name": "concentration of the active (cargo: free + "
                               "inside intact vesicles, in vesicle equivalents)"}),
        )
        cargo = (scenario.resolved["formulation"].get("cargo") or {}) if scenario is not None else {}
        data_vars.update(cargo_variables(
            vparts, cparts, amount_v, amount_c, amount_free, free["conc"], balance, dose_cm2, unit, per_cm2,
            float(cargo.get("loading", problem.cargo.loading)),
            udunits(cargo.get("loading_unit") or problem.dose_unit), "area-weighted lateral average, vesicle "
            "equivalents"))
        cv, cc = _coefficients(problem.layers), _coefficients(problem.cargo.layers)
        coefs = {k: (("species", "layer"), np.stack([cv[k], cc[k]]),
                     {"units": _COEF_ATTRS[k][0], "long_name": _COEF_ATTRS[k][1]}) for k in cv}
    data_vars.update(
        cell_width=(("depth",), g.z.widths * 1e6, {"units": "um", "long_name": "finite-volume cell height"}),
        cell_width_radial=(("radius",), g.dr * 1e6,
                           {"units": "um", "long_name": "finite-volume cell width in r"}),
        region=(("depth", "radius"), g.region.astype(np.int8),
                {"long_name": "region of each cell", "flag_values": np.array([0, 1, 2], dtype=np.int8),
                 "flag_meanings": "tissue channel coagulation_zone"}),
        layer_thickness=(("layer",), np.array([ly.thickness for ly in problem.layers]) * 1e6,
                         {"units": "um", "long_name": "layer thickness"}),
    )
    data_vars.update(coefs)
    coords = dict(
        time=("time", t_h, TIME_ATTRS),
        depth=("depth", depth_um, DEPTH_ATTRS),
        # the unit cell's one horizontal coordinate (CF has no standard name for a distance from an axis)
        radius=("radius", g.r_centres * 1e6,
                {"units": "um", "long_name": "distance from the channel axis (cell centre)", "axis": "X"}),
        depth_layer=("depth", layer_of_depth, {"long_name": "layer of each cell"}),
        compartment=("compartment", compartment_names(names, released), {"long_name": "compartment"}),
        layer=("layer", list(names), {"long_name": "layer, top to bottom"}),
        process=("process", processes, {"long_name": "removal process"}),
    )
    if released:
        coords["species"] = ("species", ["vesicle", "cargo"], {"long_name": "what is tracked"})
    ds = xr.Dataset(data_vars=data_vars, coords=coords)
    ch = problem.channel
    tau = ch.closure_time
    ds.attrs = run_attrs(
        problem, raw, scenario, "2D axisymmetric unit cell",
        "finite volumes on a conforming r-z grid, u = c/K, harmonic face conductances; TR-BDF2 with adaptive steps, "
        "each stage solved by approximate factorisation (ADI) in delta form", g.z.layer_slices,
        unit_cell_radius_um=g.radius * 1e6, channel_radius_um=ch.radius * 1e6, channel_depth_um=ch.depth * 1e6,
        # attribute names of letters, digits and underscores (CF 2.3); numbers as numbers: a channel that
        # never closes has channel_closes = 0 and no closure time (inf is not a value every reader takes)
        **{"channel_density_per_cm2": ch.density * 1e-4, "channel_area_fraction": ch.area_fraction,
           "channel_open_diffusivity_um2_per_s": ch.open_diffusivity * 1e12,
           "channel_open_partition": ch.open_partition,
           "channel_closes": int(math.isfinite(tau)),
           **({"channel_closure_time_h": tau / 3600.0} if math.isfinite(tau) else {}),
           "coagulation_width_um": ch.coag_width * 1e6,
           "coagulation_diffusivity_factor": ch.coag_diffusivity_factor,
           "coagulation_partition_factor": ch.coag_partition_factor,
           "grid_cells": int(nz * nr), "grid_shape": [int(nz), int(nr)]})
    if problem.wash_off_time is not None:
        ds.attrs["wash_off_time_h"] = problem.wash_off_time / 3600.0
    if problem.application_times:
        # as the 1D result, and the procedure sessions (each re-opens the channels; the first is at 0)
        ds.attrs.update(regimen_attrs(problem))
        if g.channel_rows > 0 and problem.meta.get("channel_kind") != "follicle":
            ds.attrs["procedure_times_h"] = [t / 3600.0 for t in (0.0, *problem.procedure_times)]
        ds["applied"] = (("time",), applied_dose_rz(problem) / (problem.unit_dose * problem.n_applications),
                         {"units": "1", "long_name": "amount applied so far / total applied dose"})
    if problem.meta.get("receptor"):
        # a Franz cell through channels: the unit cell has no receptor node, the receptor is a sink
        ds.attrs["receptor_model"] = problem.meta["receptor"]
    if released:
        cargo = (scenario.resolved["formulation"].get("cargo") or {}) if scenario is not None else {}
        ds.attrs["cargo_name"] = str(cargo.get("name", "cargo"))
        ds.attrs["cargo_loading"] = float(cargo.get("loading", problem.cargo.loading))
        ds.attrs["cargo_unit"] = str(cargo.get("loading_unit") or problem.dose_unit)
        ds.attrs["cargo_release_on_degradation"] = float(problem.cargo.release_on_degradation)
        ds.attrs["cargo_encapsulation_efficiency"] = float(problem.cargo.encapsulation)
        # one string, as the 1D result (netCDF keeps a list of strings badly, and an empty one not at all)
        barrier = problem.cargo.barrier_layers or tuple(n for n in problem.layer_names if n == "stratum_corneum")
        ds.attrs["cargo_barrier_layers"] = ",".join(barrier)
        ds.attrs["cargo_open_diffusivity_um2_per_s"] = problem.cargo.open_diffusivity * 1e12
    return ds


def add_check_levels(ds, checks) -> None:
    """The error estimate and resolvable level of every amount of a unit-cell result, from its check runs.

    ``checks``: ``(ds_a, ds_b, divisor, text)``, two Datasets of
    :func:`to_dataset_rz` whose difference is one share of the estimate
    (:func:`exodiff.run.rz_checks`: the run against a coarser grid, that
    grid against a looser tolerance); the estimate is
    ``sum |a - b| / divisor`` of every fraction and loss, as the 1D one
    (:func:`exodiff.results.dataset.level_variables`; docs/numerics_rz.md,
    "Error estimate").  Adds ``fraction_error``, ``loss_by_layer_error``,
    ``resolvable_level``, ``below_resolvable_level`` and the attribute
    ``resolvable_level_method`` to ``ds`` in place.
    """
    from exodiff.results.dataset import level_variables

    frac = ds["fraction"].values
    loss = ds["loss_by_layer"].values
    err = np.zeros_like(frac)
    lerr = np.zeros_like(loss)
    for a, b, divisor, _ in checks:
        err += np.abs(a["fraction"].values - b["fraction"].values) / divisor
        lerr += np.abs(a["loss_by_layer"].values - b["loss_by_layer"].values) / divisor
    new = level_variables(frac, err, lerr, ds["fraction"].dims, ds["loss_by_layer"].dims,
                          ds["loss_by_layer"].attrs["units"], loss)
    for name, (dims, data, attrs) in new.items():
        ds[name] = (dims, data, attrs)
    shape = "x".join(str(n) for n in ds.attrs["grid_shape"])
    ds.attrs["resolvable_level_method"] = (
        f"the differences from check runs with {' and with '.join(f'{t} (/ {d:.3g})' for _, _, d, t in checks)}, "
        f"summed (this run: {shape} cells, tolerance {ds.attrs['solver_tolerance']:g})")
