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

from . import __version__
from .problem import Problem1D
from .solve import RawSolution, mass_balance_error, tissue_amounts, vehicle_amount

PER_CM2 = 1e-4  # m^-2 -> cm^-2
PER_CM3 = 1e-6  # m^-3 -> cm^-3
LOSS_PROCESSES = ("degraded", "taken_up", "cleared")


def compartment_names(layer_names) -> list[str]:
    """``vehicle``, each layer, then the removal compartments, as in SCENARIO.md."""
    return ["vehicle", *layer_names, "degraded", "taken_up", "cleared", "removed"]


def to_dataset(problem: Problem1D, raw: RawSolution, scenario=None) -> xr.Dataset:
    """Build the result Dataset of a 1D run.

    Parameters
    ----------
    problem : Problem1D
    raw : RawSolution
    scenario : Scenario, optional
        Its TOML text and name go into the attributes.

    Returns
    -------
    xarray.Dataset
        Coordinates ``time`` (h), ``depth`` (um), ``compartment``, ``layer``;
        variables ``concentration``, ``amount``, ``fraction``, ``loss_by_layer``,
        ``flux_systemic``, ``flux_into_skin``, ``mass_balance_error`` and the
        layer coefficients.
    """
    unit = problem.dose_unit
    L = len(problem.layers)
    names = problem.layer_names
    grid = problem.grid
    cap = problem.kernel_arrays()
    K = problem.cell_values("partition")
    bottom, removed, supplied = 3 * L, 3 * L + 1, 3 * L + 2

    conc = raw.u[:, 1:] * K * PER_CM3
    layers_amt = tissue_amounts(problem, raw)
    per_layer = raw.comp[:, : 3 * L].reshape(raw.times.size, 3, L)
    degraded = per_layer[:, 0].sum(axis=1)
    taken_up = per_layer[:, 1].sum(axis=1)
    cleared = per_layer[:, 2].sum(axis=1) + raw.comp[:, bottom]
    vehicle = vehicle_amount(problem, raw)
    if problem.vehicle == "infinite":
        vehicle = np.full_like(vehicle, problem.dose)
    amount = np.column_stack([vehicle, layers_amt, degraded, taken_up, cleared, raw.comp[:, removed]]) * PER_CM2
    dose_cm2 = problem.dose * PER_CM2

    # instantaneous rate into `cleared`: first-order clearance plus the sink
    u = raw.u
    ccl = cap["ccl"]
    flux_sys = (u[:, 1:] * ccl[1:]).sum(axis=1) + cap["g"][-1] * u[:, -1]
    washed = np.zeros(raw.times.size, dtype=bool)
    if problem.wash_off_time is not None:
        washed = raw.times >= problem.wash_off_time
    flux_in = np.where(washed, 0.0, cap["g"][1] * (u[:, 0] - u[:, 1]))
    to_h = 3600.0 * PER_CM2

    t_h = raw.times / 3600.0
    depth_um = grid.centres * 1e6
    layer_of_depth = np.array(names, dtype=object)[grid.layer_of_cell].astype(str)
    ds = xr.Dataset(
        data_vars=dict(
            concentration=(("time", "depth"), conc,
                           {"units": f"{unit} cm-3", "long_name": "free concentration of the active"}),
            amount=(("time", "compartment"), amount,
                    {"units": f"{unit} cm-2", "long_name": "amount per skin area by compartment"}),
            fraction=(("time", "compartment"), amount / dose_cm2,
                      {"units": "1", "long_name": "amount / applied dose"}),
            loss_by_layer=(("time", "process", "layer"), per_layer * PER_CM2,
                           {"units": f"{unit} cm-2",
                            "long_name": "cumulative amount removed in each layer by each process"}),
            flux_systemic=(("time",), flux_sys * to_h,
                           {"units": f"{unit} cm-2 h-1", "long_name": "rate into the cleared compartment"}),
            flux_into_skin=(("time",), flux_in * to_h,
                            {"units": f"{unit} cm-2 h-1", "long_name": "flux from the vehicle into the skin"}),
            mass_balance_error=(("time",), mass_balance_error(problem, raw),
                                {"units": "1", "long_name": "relative mass balance error"}),
            cell_width=(("depth",), grid.widths * 1e6, {"units": "um", "long_name": "finite-volume cell width"}),
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
            depth_layer=("depth", layer_of_depth, {"long_name": "layer of each cell"}),
            compartment=("compartment", compartment_names(names), {"long_name": "compartment"}),
            layer=("layer", list(names), {"long_name": "layer, top to bottom"}),
            process=("process", list(LOSS_PROCESSES), {"long_name": "removal process"}),
        ),
    )
    faces = np.cumsum([0.0] + [ly.thickness for ly in problem.layers]) * 1e6
    sc_text = getattr(scenario, "text", "") if scenario is not None else ""
    ds.attrs = {
        "Conventions": "CF-1.10",
        "title": getattr(scenario, "name", "exodiff run") if scenario is not None else "exodiff run",
        "source": f"exodiff {__version__}",
        "history": f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}: exodiff run",
        "exodiff_version": __version__,
        "geometry": "1D layered",
        "scenario": sc_text,
        "dose_unit": unit,
        "applied_dose": dose_cm2,
        "applied_dose_units": f"{unit} cm-2",
        "vehicle": problem.vehicle,
        "bottom": problem.bottom,
        "layer_interfaces_um": faces.tolist(),
        "solver": "finite volumes, u = c/K, harmonic face conductances; TR-BDF2 with adaptive steps",
        "solver_tolerance": problem.tolerance,
        "solver_steps": raw.stats["steps"],
        "solver_rejected_steps": raw.stats["rejected"],
        "grid_cells": int(grid.n),
        "grid_cells_per_layer": [int(s.stop - s.start) for s in grid.layer_slices],
        "wall_time_s": float(raw.stats["wall_time_s"]),
    }
    if problem.wash_off_time is not None:
        ds.attrs["wash_off_time_h"] = problem.wash_off_time / 3600.0
    return ds
