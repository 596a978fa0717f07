"""Headline metrics of a run, defined once.

Every metric is a function of the result Dataset only, so a stored
``result.nc`` gives the same numbers as the run that wrote it, and
``summary.json``, ``exodiff compare`` and sweeps all agree.

Definitions (``f`` = fraction of the applied dose, ``t_end`` the last output):

- ``fraction_<compartment>``: ``f`` in each compartment at ``t_end``.
- ``delivered_<layer>``: fraction of the dose that has *entered* the layer by
  ``t_end``: what is in it or below it, plus everything removed in it or below
  it (degraded, taken up, cleared) and the bottom sink.  It is the time
  integral of the flux through the layer's top face.
- target layer ``T`` (``formulation.target_layer`` if given, else ``dermis``
  if present, else the deepest layer): ``target_peak_time_h``, the time of the
  largest amount in ``T``; ``target_peak_fraction``; ``target_auc_h``, the
  area under ``f_T(t)`` (trapezoid, fraction x hours); ``target_uptake``, the
  fraction taken up by cells of ``T`` by ``t_end``.
- ``mean_penetration_depth_um``: amount-weighted mean depth of the active in
  the tissue at ``t_end`` (cell centres), NaN when the tissue holds nothing.
- ``max_mass_balance_error``: largest relative error over the outputs.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr


def target_layer(ds: xr.Dataset, requested: str | None = None) -> str:
    """The layer the target metrics refer to (see module docstring)."""
    layers = [str(x) for x in ds["layer"].values]
    if requested and requested in layers:
        return requested
    return "dermis" if "dermis" in layers else layers[-1]


def delivered(ds: xr.Dataset) -> dict[str, np.ndarray]:
    """Fraction of the dose that has entered each layer, over time.

    Returns
    -------
    dict
        layer name -> float64[time].
    """
    layers = [str(x) for x in ds["layer"].values]
    dose = float(ds.attrs["applied_dose"])
    frac = ds["fraction"]
    loss = ds["loss_by_layer"].sum("process") / dose
    # cleared = first-order clearance in layers + the bottom sink
    sink = frac.sel(compartment="cleared") - ds["loss_by_layer"].sel(process="cleared").sum("layer") / dose
    out = {}
    for i, name in enumerate(layers):
        below = layers[i:]
        out[name] = (frac.sel(compartment=below).sum("compartment") + loss.sel(layer=below).sum("layer")
                     + sink).values
    return out


def mean_penetration_depth(ds: xr.Dataset, time_index: int = -1) -> float:
    """Amount-weighted mean depth (um) of the active in the tissue."""
    c = ds["concentration"].isel(time=time_index).values
    w = ds["cell_width"].values
    m = c * w
    tot = m.sum()
    if not tot > 0:
        return math.nan
    return float((m * ds["depth"].values).sum() / tot)


def summary(ds: xr.Dataset, target: str | None = None) -> dict:
    """Headline metrics of one run as a flat JSON-ready dict (see module docstring)."""
    t = ds["time"].values
    frac = ds["fraction"]
    out: dict = {}
    for comp in ds["compartment"].values:
        out[f"fraction_{comp}"] = float(frac.sel(compartment=comp).values[-1])
    deliv = delivered(ds)
    for name, series in deliv.items():
        out[f"delivered_{name}"] = float(series[-1])
    T = target_layer(ds, target)
    fT = frac.sel(compartment=T).values
    k = int(np.argmax(fT))
    out["target_layer"] = T
    out["target_peak_time_h"] = float(t[k])
    out["target_peak_fraction"] = float(fT[k])
    out["target_auc_h"] = float(np.trapezoid(fT, t)) if hasattr(np, "trapezoid") else float(np.trapz(fT, t))
    dose = float(ds.attrs["applied_dose"])
    out["target_uptake"] = float(ds["loss_by_layer"].sel(process="taken_up", layer=T).values[-1] / dose)
    out["mean_penetration_depth_um"] = mean_penetration_depth(ds)
    out["systemic_fraction"] = out.get("fraction_cleared", math.nan)
    out["max_mass_balance_error"] = float(np.max(np.abs(ds["mass_balance_error"].values)))
    out["end_time_h"] = float(t[-1])
    return out
