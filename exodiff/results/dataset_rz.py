"""Raw r-z unit-cell arrays -> the result Dataset, reading like a 1D result (per cm^2 of skin).

Same compartments, variables and attributes as :mod:`exodiff.results.dataset`,
plus ``concentration_rz(time, depth, radius)``, the ``radius`` coordinate and
the channel geometry in the attributes.
"""

from __future__ import annotations

import math

import numpy as np

from exodiff.problem.unit_cell import ProblemRZ
from exodiff.solvers.common import RawSolution
from exodiff.solvers.ledger import cell_states, mass_balance_error_rz, tissue_amounts_rz, vehicle_amount_rz


def lateral_average(problem: ProblemRZ, field: np.ndarray) -> np.ndarray:
    """Area-weighted lateral average over the unit cell of a ``(..., nz, nr)`` field."""
    w = problem.grid.annulus_areas / problem.cell_area
    return field @ w


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
        _FLUX_REC,
        _FLUX_SYS,
        DEPTH_ATTRS,
        LOSS_PROCESSES,
        PER_CM2,
        PER_CM3,
        TIME_ATTRS,
        _amounts,
        compartment_names,
        run_attrs,
    )
    from exodiff.units import udunits

    unit = udunits(problem.dose_unit)  # UDUNITS-2 in the file: "particle" is written "count"
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
    # the 1D ledger's compartments; what crosses the bottom (a sink here, also for a Franz cell) is `receptor`
    parts = dict(vehicle=vehicle_amount_rz(problem, raw), layers=layers_amt, per_layer=per_layer,
                 receptor=raw.comp[:, bottom], removed=raw.comp[:, removed])
    amount = _amounts(parts, False) * per_cm2
    dose_cm2 = problem.dose * PER_CM2

    # instantaneous rates: leaving the skin (clearance + bottom), through the bottom, out of the vehicle
    washed = np.zeros(raw.times.size, dtype=bool)
    if problem.wash_off_time is not None:
        washed = raw.times >= problem.wash_off_time
    flux_sys = np.empty(raw.times.size)
    flux_rec = np.empty(raw.times.size)
    flux_in = np.empty(raw.times.size)
    for k, t in enumerate(raw.times):
        co = problem.coefficients_at(float(t))
        flux_rec[k] = (co["gz"][nz] * ust[k, -1]).sum()
        flux_sys[k] = (ust[k] * co["ccl"]).sum() + flux_rec[k]
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
            flux_systemic=(("time",), flux_sys * to_h, {"units": f"{unit} cm-2 h-1", "long_name": _FLUX_SYS}),
            flux_receptor=(("time",), flux_rec * to_h, {"units": f"{unit} cm-2 h-1", "long_name": _FLUX_REC}),
            flux_into_skin=(("time",), flux_in * to_h,
                            {"units": f"{unit} cm-2 h-1", "long_name": "flux from the vehicle into the skin"}),
            mass_balance_error=(("time",), mass_balance_error_rz(problem, raw),
                                {"units": "1", "long_name": "relative mass balance error"}),
            cell_width=(("depth",), g.z.widths * 1e6, {"units": "um", "long_name": "finite-volume cell height"}),
            cell_width_radial=(("radius",), g.dr * 1e6,
                               {"units": "um", "long_name": "finite-volume cell width in r"}),
            region=(("depth", "radius"), g.region.astype(np.int8),
                    {"long_name": "region of each cell", "flag_values": np.array([0, 1, 2], dtype=np.int8),
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
            time=("time", t_h, TIME_ATTRS),
            depth=("depth", depth_um, DEPTH_ATTRS),
            # the unit cell's one horizontal coordinate (CF has no standard name for a distance from an axis)
            radius=("radius", g.r_centres * 1e6,
                    {"units": "um", "long_name": "distance from the channel axis (cell centre)", "axis": "X"}),
            depth_layer=("depth", layer_of_depth, {"long_name": "layer of each cell"}),
            compartment=("compartment", compartment_names(names), {"long_name": "compartment"}),
            layer=("layer", list(names), {"long_name": "layer, top to bottom"}),
            process=("process", list(LOSS_PROCESSES), {"long_name": "removal process"}),
        ),
    )
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
    if problem.meta.get("receptor"):
        # a Franz cell through channels: the unit cell has no receptor node, the receptor is a sink
        ds.attrs["receptor_model"] = problem.meta["receptor"]
    return ds
