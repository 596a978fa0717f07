"""Headline metrics of a run, defined once.

Every metric is a function of the result Dataset only, so a stored
``result.nc`` gives the same numbers as the run that wrote it, and
``summary.json``, ``exodiff compare`` and sweeps all agree.  The metrics are
implemented once, on the plain arrays of :class:`RunArrays`
(:func:`summary_of_arrays`); :func:`summary` reduces a Dataset to them, and a
1D sweep point builds them straight from the solver's arrays
(:func:`exodiff.results.dataset.metric_arrays`, the same values the Dataset holds).  Only the
geometry-free variables are used (``fraction(time, compartment)``,
``loss_by_layer(time, process, layer)``, the laterally averaged
``concentration(time, depth)``), so 1D and unit-cell (r-z) runs are measured
alike.

Definitions.  ``f_X(t)`` is the fraction of the applied dose ``D`` in
compartment ``X`` (``amount_X / D``), ``t_end`` the last output time,
``L_p,X(t)`` the amount removed in layer ``X`` by process ``p`` (degraded,
taken up, cleared) up to ``t``, and ``S(t) = f_receptor + f_sampled`` what has
left through the bottom boundary (a sink, or a Franz cell's receptor).

- ``fraction_<X>``: ``f_X(t_end)`` for every compartment (vehicle, each
  layer, degraded, taken_up, cleared, receptor, [sampled,] removed).
- ``fraction_<X>_at_<t>h``: ``f_X(t)`` at a chosen time ``t`` (hours; e.g.
  ``fraction_dermis_at_24h``).  Exact at output times; between two output
  times, linear interpolation in time.
- ``delivered_<layer>``: fraction of the dose that has *entered* the layer by
  ``t_end``: ``sum_{Y at or below layer} (f_Y + sum_p L_p,Y / D) + S``,
  what is in it or below it plus everything removed in it or below it and the
  sink.  It is the time integral of the flux through the layer's top face.
- target layer ``T`` (``formulation.target_layer`` if given, else ``dermis``
  if present, else the deepest layer):

  - ``delivered_target``: ``delivered_<T>`` under a name that is the same in
    every run, so runs with different target layers share a column;
  - ``target_peak_time_h``: ``argmax_t f_T(t)`` over the output times (the
    first one on a tie); NaN when ``f_T`` is zero throughout (nothing arrives);
  - ``target_peak_fraction``: ``max_t f_T(t)``;
  - ``target_auc_h``: ``integral_0^t_end f_T(t) dt`` by the trapezoid rule over
    the output times (fraction of dose x hours; ``target_auc_h / t_end`` is the
    time-averaged fraction in ``T``);
  - ``target_uptake``: ``L_taken_up,T(t_end) / D``, the fraction taken up by
    the cells of ``T``.

- ``mean_penetration_depth_um``: amount-weighted mean depth of the active in
  the tissue at ``t_end``, ``sum_i z_i c_i w_i / sum_i c_i w_i`` over the cells
  (centre depth ``z_i``, width ``w_i``, laterally averaged concentration
  ``c_i``); NaN when the tissue holds nothing.
- ``systemic_fraction``: ``f_cleared(t_end) + f_receptor(t_end) (+ f_sampled(t_end))``,
  what left the skin: cleared from the layers, or through the bottom (in
  vivo the deep sink stands for the circulation; in vitro it is the receptor).
- ``max_mass_balance_error``: ``max_t |mass_balance_error(t)|``.
- ``end_time_h``: ``t_end``; ``target_layer``: ``T``.

Absolute amounts, over the treated area ``A`` (``delivery.area``, default
1 cm^2, reported as ``treated_area_cm2``), in the dose unit (a cargo's in
its loading's unit, the ``cargo_unit`` attribute: copies, ng, ...):
``applied_amount`` = ``D A`` (every application of a regimen),
``amount_<X>`` = ``f_X(t_end) D A`` for every compartment,
``delivered_target_amount`` and ``systemic_amount`` likewise.

A regimen (applications at ``t_1 = 0 < t_2 < ... < t_N``): ``D`` is the total
applied dose, so fractions over the whole run are comparable;
``target_peak_fraction_last_interval`` and
``target_trough_fraction_last_interval`` are the largest and smallest
``f_T`` over the output times of the last dosing interval
(``[t_N, min(t_N + (t_N - t_{N-1}), t_end)]``), and ``accumulation_ratio``
the peak over the last interval divided by the peak over the first
(``[0, t_2]``): the classic ``R_ac = C_max,ss / C_max,1``.

With a ``[systemic]`` model (docs/model.md, 1.3): ``plasma_cmax`` (dose
unit/L) and ``plasma_tmax_h`` over the output times, ``plasma_auc`` (dose unit
h/L, 0 to ``t_end``) and ``absorbed_amount`` (dose unit), from the primary
species' ``cleared + receptor`` times ``D A``.

Several species (a ``species`` dimension, e.g. ``vesicle`` and its released
``cargo``): every per-species metric above is computed for each species,
relative to that species' applied amount (a ``applied_dose(species)``
variable when present, else the ``applied_dose`` attribute).  The primary
species (``vesicle`` if present, else the first) keeps the plain names; the
others are prefixed with their name: ``cargo_delivered_target`` is the
fraction of the loaded cargo delivered to the target layer,
``cargo_fraction_dermis_at_24h`` and so on.  ``target_layer``,
``max_mass_balance_error`` (over all species) and ``end_time_h`` are
shared.

Cargo metrics (a ``vesicle`` and a ``cargo`` species; fractions of the
loaded cargo, ``e`` the encapsulation efficiency, ``f`` the fraction of a
degraded vesicle's cargo set free, ``V_p,X`` the vesicles removed in layer
``X`` by process ``p`` as fractions of the vesicle dose, SC the
stratum-corneum layers of the ``cargo_barrier_layers`` attribute, comma-separated):

- ``cargo_released_before_barrier``: cargo set free before it passed the
  barrier, ``(1 - e) + e sum_{X in SC} (V_released,X + f V_degraded,X)``:
  applied free in the film, or released in the stratum corneum;
- ``cargo_released``: all cargo set free by the end, the same sum over every
  layer;
- ``cargo_intracellular``: cargo taken up by cells, free or inside vesicles
  (``cargo_fraction_taken_up``); ``cargo_intracellular_<layer>`` per layer;
- the per-species metrics above with the ``cargo_`` prefix: cargo delivered
  to each layer (``cargo_delivered_<layer>``, free or inside vesicles), its
  peak time in the target layer (``cargo_target_peak_time_h``) and so on,
  but not those of the ``released`` compartment (spent vesicles: always 0
  for a free cargo; its release is ``cargo_released``).

Size classes (a ``size_class`` dimension splitting a polydisperse
preparation): the metrics are those of the whole preparation; amounts,
concentrations and removed amounts are summed over the classes and the
fractions recomputed against the total applied dose.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import xarray as xr

from exodiff.results.systemic import PKModel, absorbed_per_area, plasma, plasma_metrics

#: Name of the primary species when a run tracks several.
PRIMARY_SPECIES = "vesicle"


# --------------------------------------------------------------------------
# Views of a result: the whole preparation, one species


def totals(ds: xr.Dataset) -> xr.Dataset:
    """The whole preparation: sum a ``size_class`` dimension away (see module docstring)."""
    if "size_class" not in ds.dims:
        return ds
    out = ds.copy()
    for name in ("amount", "concentration", "loss_by_layer", "flux_systemic", "flux_into_skin"):
        if name in out and "size_class" in out[name].dims:
            out[name] = out[name].sum("size_class", keep_attrs=True)
    if "amount" in out and "fraction" in out:
        dose = out["applied_dose"].sum("size_class") if "applied_dose" in out and \
            "size_class" in out["applied_dose"].dims else out.attrs["applied_dose"]
        out["fraction"] = (out["amount"] / dose).assign_attrs(ds["fraction"].attrs)
    if "applied_dose" in out and "size_class" in out["applied_dose"].dims:
        out["applied_dose"] = out["applied_dose"].sum("size_class", keep_attrs=True)
    if "mass_balance_error" in out and "size_class" in out["mass_balance_error"].dims:
        out["mass_balance_error"] = abs(out["mass_balance_error"]).max("size_class")
    return out.drop_dims([d for d in ("size_class",) if d in out.dims])


def species_names(ds: xr.Dataset) -> list[str | None]:
    """The species of a run, primary first; ``[None]`` for a run without a ``species`` dimension."""
    if "species" not in ds.dims:
        return [None]
    names = [str(s) for s in ds["species"].values]
    if PRIMARY_SPECIES in names:
        names.remove(PRIMARY_SPECIES)
        names.insert(0, PRIMARY_SPECIES)
    return names


def species_view(ds: xr.Dataset, species: str | None) -> xr.Dataset:
    """The variables of one species, without the ``species`` dimension (``None``: ``ds`` itself)."""
    if species is None:
        return ds
    return ds.sel(species=species, drop=True)


def applied_dose(ds: xr.Dataset) -> float:
    """Applied amount per cm^2 of one species' view (variable ``applied_dose``, else the attribute)."""
    if "applied_dose" in ds.data_vars:
        return float(ds["applied_dose"].values)
    return float(ds.attrs["applied_dose"])


# --------------------------------------------------------------------------
# The arrays every metric is computed from
#
# The definitions live once, on plain arrays (:func:`summary_of_arrays`).  A
# Dataset is reduced to those arrays by :func:`run_arrays`; a sweep point
# builds them straight from the solver's arrays
# (:func:`exodiff.results.dataset.metric_arrays`) and skips the Dataset, which costs
# several times the solve of a small 1D point (docs/performance.md, "Sweeps").


@dataclass
class SpeciesArrays:
    """What the metrics read of one species (one ledger), plain float64 arrays.

    Attributes
    ----------
    fraction : float64[time, compartment]
        Amount / applied amount of the species (1).
    loss_by_layer : float64[time, process, layer]
        Cumulative amount removed per layer and process, in the unit of ``dose``.
    dose : float
        Applied amount of the species (same unit as ``loss_by_layer``).
    concentration_end : float64[depth]
        Laterally averaged concentration at the last output time (any unit:
        only its depth profile is used).
    fraction_error, loss_by_layer_error : optional
        Estimated grid errors of ``fraction`` and ``loss_by_layer`` (a 1D run's
        ``fraction_error`` and ``loss_by_layer_error``); a metric smaller than
        its resolvable level (error / ``RESOLVED_RELATIVE_ERROR``) is reported
        as :func:`below_text` instead of a number.
    flux_systemic : float64[time] or None
        Rate into the blood per skin area at each output, dose unit cm^-2
        h^-1 (the run's ``flux_systemic``): it shapes the plasma model's input
        between the outputs (:func:`exodiff.results.systemic.plasma`).
    amount_factor : float
        Factor from ``dose``'s unit to the unit of the absolute amounts
        (``applied_amount``, ``amount_<X>``, ...): 1, or for a cargo counted
        in vesicle equivalents its ``loading`` (cargo unit per vesicle).
    """

    fraction: np.ndarray
    loss_by_layer: np.ndarray
    dose: float
    concentration_end: np.ndarray
    fraction_error: np.ndarray | None = None
    loss_by_layer_error: np.ndarray | None = None
    amount_factor: float = 1.0
    flux_systemic: np.ndarray | None = None


@dataclass
class RunArrays:
    """One run's metric inputs: shared coordinates and one :class:`SpeciesArrays` per species.

    Attributes
    ----------
    time_h : float64[time]
    compartments, layers, processes : list of str
    depth_um, cell_width_um : float64[depth]
        Cell centres and widths.
    species : list of (str or None, SpeciesArrays)
        Primary species first; ``[(None, ...)]`` for a run with one species.
    mass_balance_error : ndarray
        Relative mass balance error, any shape (the max of its magnitude is reported).
    area_cm2 : float
        Treated area, cm^2 (absolute amounts = fraction x dose x area).
    application_times_h : tuple of float
        A regimen's application times, h (empty for one application).
    systemic : exodiff.results.systemic.PKModel or None
        The blood model of a ``[systemic]`` table.
    cargo : dict or None
        A tracked cargo: ``encapsulation`` and ``release_on_degradation``
        (floats) and ``barrier_layers`` (names of the stratum-corneum layers).
    """

    time_h: np.ndarray
    compartments: list
    layers: list
    processes: list
    depth_um: np.ndarray
    cell_width_um: np.ndarray
    species: list
    mass_balance_error: np.ndarray
    area_cm2: float = 1.0
    application_times_h: tuple = ()
    systemic: object = None
    cargo: dict | None = None


def _values(da: xr.DataArray, species: str | None, dims: tuple) -> np.ndarray:
    if species is not None and "species" in da.dims:
        da = da.sel(species=species, drop=True)
    return np.asarray(da.transpose(*dims).values, dtype=float)


def run_arrays(ds: xr.Dataset) -> RunArrays:
    """The metric inputs of a result Dataset (size classes summed away, :func:`totals`)."""
    ds = totals(ds)
    species = []
    for s in species_names(ds):
        view = species_view(ds, s)
        species.append((s, SpeciesArrays(
            fraction=_values(view["fraction"], None, ("time", "compartment")),
            loss_by_layer=_values(view["loss_by_layer"], None, ("time", "process", "layer")),
            dose=applied_dose(view),
            concentration_end=_values(view["concentration"].isel(time=-1), None, ("depth",)),
            fraction_error=_values(view["fraction_error"], None, ("time", "compartment"))
            if "fraction_error" in view else None,
            loss_by_layer_error=_values(view["loss_by_layer_error"], None, ("time", "process", "layer"))
            if "loss_by_layer_error" in view else None,
            amount_factor=float(ds.attrs.get("cargo_loading", 1.0)) if s == "cargo" else 1.0,
            flux_systemic=_values(view["flux_systemic"], None, ("time",)) if "flux_systemic" in view else None)))
    return RunArrays(time_h=np.asarray(ds["time"].values, dtype=float),
                     compartments=[str(c) for c in ds["compartment"].values],
                     layers=[str(x) for x in ds["layer"].values],
                     processes=[str(p) for p in ds["process"].values],
                     depth_um=np.asarray(ds["depth"].values, dtype=float),
                     cell_width_um=_cell_widths(ds),
                     species=species,
                     mass_balance_error=np.asarray(ds["mass_balance_error"].values, dtype=float),
                     area_cm2=float(ds.attrs.get("treated_area_cm2", 1.0)),
                     application_times_h=tuple(float(x) for x in np.atleast_1d(ds.attrs.get("application_times_h", ())))
                     if int(ds.attrs.get("applications", 1)) > 1 else (),
                     systemic=PKModel.from_attrs(ds.attrs), cargo=cargo_attrs(ds.attrs))


def cargo_attrs(attrs) -> dict | None:
    """The cargo parameters the cargo metrics need, from a result's attributes (None without a cargo)."""
    if "cargo_name" not in attrs:
        return None
    barrier = attrs.get("cargo_barrier_layers", "stratum_corneum")  # comma-separated names
    barrier = [b for b in str(barrier).split(",") if b]
    return {"encapsulation": float(attrs.get("cargo_encapsulation_efficiency", 1.0)),
            "release_on_degradation": float(attrs.get("cargo_release_on_degradation", 1.0)),
            "barrier_layers": barrier}


# --------------------------------------------------------------------------
# Single metrics


def target_layer(ds: xr.Dataset, requested: str | None = None) -> str:
    """The layer the target metrics refer to (see module docstring)."""
    return _target_layer([str(x) for x in ds["layer"].values], requested)


def _target_layer(layers: list, requested: str | None) -> str:
    if requested and requested in layers:
        return requested
    return "dermis" if "dermis" in layers else layers[-1]


def delivered(ds: xr.Dataset) -> dict[str, np.ndarray]:
    """Fraction of the dose that has entered each layer, over time (one species).

    Returns
    -------
    dict
        layer name -> float64[time].
    """
    return _delivered(_values(ds["fraction"], None, ("time", "compartment")),
                      _values(ds["loss_by_layer"], None, ("time", "process", "layer")), applied_dose(ds),
                      [str(c) for c in ds["compartment"].values], [str(x) for x in ds["layer"].values],
                      [str(p) for p in ds["process"].values])


def _delivered(frac, loss, dose, comps, layers, processes) -> dict[str, np.ndarray]:
    """:func:`delivered` on arrays: ``frac`` (time, compartment), ``loss`` (time, process, layer)."""
    lossf = loss.sum(axis=1) / dose
    # what crossed the bottom: in the receptor, and what its samples took away
    sink = sum(frac[:, comps.index(c)] for c in ("receptor", "sampled") if c in comps)
    if "receptor" not in comps:  # a result written before the receptor had its own compartment
        sink = frac[:, comps.index("cleared")] - loss[:, processes.index("cleared"), :].sum(axis=1) / dose
    idx = [comps.index(name) for name in layers]
    out = {}
    for i, name in enumerate(layers):
        out[name] = frac[:, idx[i:]].sum(axis=1) + lossf[:, i:].sum(axis=1) + sink
    return out


def _cell_widths(ds: xr.Dataset) -> np.ndarray:
    if "cell_width" in ds:
        return np.asarray(ds["cell_width"].values, dtype=float)
    # centres only: faces halfway between them, the outer faces mirrored
    z = ds["depth"].values
    if z.size == 1:
        return np.ones(1)
    mid = 0.5 * (z[1:] + z[:-1])
    faces = np.concatenate([[max(0.0, 2 * z[0] - mid[0])], mid, [2 * z[-1] - mid[-1]]])
    return np.diff(faces)


def mean_penetration_depth(ds: xr.Dataset, time_index: int = -1) -> float:
    """Amount-weighted mean depth (um) of the active in the tissue (one species)."""
    c = _values(ds["concentration"].isel(time=time_index), None, ("depth",))
    return _mean_depth(c, _cell_widths(ds), np.asarray(ds["depth"].values, dtype=float))


def _mean_depth(c, widths, depth) -> float:
    m = c * widths
    tot = m.sum()
    if not tot > 0:
        return math.nan
    return float((m * depth).sum() / tot)


def time_key(t_h: float) -> str:
    """Suffix of a metric at a chosen time: ``24.0 -> "24h"``, ``0.5 -> "0.5h"``."""
    return f"{float(t_h):g}h"


def at_time(series: np.ndarray, t: np.ndarray, t_h: float) -> float:
    """``series`` at ``t_h`` hours: exact at an output time, else linear in time."""
    if not (t[0] - 1e-9 <= t_h <= t[-1] * (1 + 1e-12) + 1e-9):
        raise ValueError(f"time {t_h:g} h is outside the run (0 to {t[-1]:g} h)")
    k = np.flatnonzero(np.isclose(t, t_h, rtol=1e-12, atol=1e-9))
    if k.size:
        return float(series[k[0]])
    return float(np.interp(t_h, t, series))


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.trapezoid(y, x)) if hasattr(np, "trapezoid") else float(np.trapz(y, x))


def _vesicle_only(name: str) -> bool:
    """A per-species metric of the ``released`` compartment: spent vesicles, always 0 for a free cargo.

    A cargo's release is reported as ``cargo_released`` and ``cargo_released_before_barrier`` instead.
    """
    return name in ("fraction_released", "amount_released") or name.startswith("fraction_released_at_")


def _species_metrics(run: RunArrays, sp: SpeciesArrays, T: str, times_h) -> dict:
    """Every per-species metric of one species (unprefixed names)."""
    t = run.time_h
    frac = sp.fraction
    comps = run.compartments
    out: dict = {}
    for j, comp in enumerate(comps):
        out[f"fraction_{comp}"] = float(frac[-1, j])
    for th in times_h or ():
        for j, comp in enumerate(comps):
            out[f"fraction_{comp}_at_{time_key(th)}"] = at_time(frac[:, j], t, th)
    deliv = _delivered(frac, sp.loss_by_layer, sp.dose, comps, run.layers, run.processes)
    for name, series in deliv.items():
        out[f"delivered_{name}"] = float(series[-1])
    out["delivered_target"] = out[f"delivered_{T}"]
    fT = frac[:, comps.index(T)]
    k = int(np.argmax(fT))
    reached = bool(fT[k] > 0)
    out["target_peak_time_h"] = float(t[k]) if reached else math.nan
    out["target_peak_fraction"] = float(fT[k]) if reached else 0.0
    out["target_auc_h"] = _trapezoid(fT, t)
    out["target_uptake"] = float(sp.loss_by_layer[-1, run.processes.index("taken_up"), run.layers.index(T)]
                                 / sp.dose)
    out["mean_penetration_depth_um"] = _mean_depth(sp.concentration_end, run.cell_width_um, run.depth_um)
    # left the skin: cleared from the layers, or through the bottom (a receptor keeps what its samples took)
    out["systemic_fraction"] = sum(out.get(f"fraction_{c}", 0.0) for c in ("receptor", "sampled")) + \
        out.get("fraction_cleared", math.nan)
    if len(run.application_times_h) > 1:
        out.update(_regimen_metrics(t, fT, run.application_times_h))
    # absolute amounts over the treated area, in the dose unit (a cargo: its own unit): fraction x dose
    # per cm^2 x area
    per = sp.dose * sp.amount_factor * run.area_cm2
    out["applied_amount"] = per
    for comp in comps:
        out[f"amount_{comp}"] = out[f"fraction_{comp}"] * per
    out["delivered_target_amount"] = out["delivered_target"] * per
    out["systemic_amount"] = out["systemic_fraction"] * per
    if sp.fraction_error is not None and sp.loss_by_layer_error is not None:
        _flag_unresolved(out, run, sp, T, times_h, k)
    return out


#: an amount is reported as a number only when its estimated grid error is at most this fraction of it
#: (the same as exodiff.results.dataset.RESOLVED_RELATIVE_ERROR)
RESOLVED_RELATIVE_ERROR = 0.1


def below_text(level: float) -> str:
    """What a summary says instead of an amount smaller than its resolvable ``level`` (fraction of the dose)."""
    return f"below resolvable level (< {level:.1e} of the dose)"


def is_below(value) -> bool:
    """True for a metric reported as :func:`below_text`."""
    return isinstance(value, str) and value.startswith("below resolvable level")


def _flag_unresolved(out: dict, run: RunArrays, sp: SpeciesArrays, T: str, times_h, k_peak: int) -> None:
    """Replace every metric smaller than its resolvable level by :func:`below_text` (see SpeciesArrays)."""
    t = run.time_h
    comps = run.compartments
    err = sp.fraction_error
    derr = _delivered(err, sp.loss_by_layer_error, sp.dose, comps, run.layers, run.processes)  # sums of errors
    level = err / RESOLVED_RELATIVE_ERROR

    def flag(key, value, lev, also=()):
        if lev > 0.0 and abs(value) < lev:
            for name in (key, *also):
                out[name] = below_text(lev)

    for j, comp in enumerate(comps):
        flag(f"fraction_{comp}", float(sp.fraction[-1, j]), float(level[-1, j]), (f"amount_{comp}",))
        for th in times_h or ():
            key = f"fraction_{comp}_at_{time_key(th)}"
            if isinstance(out.get(key), float) and math.isfinite(out[key]):
                flag(key, out[key], at_time(level[:, j], t, th))
    for name, series in derr.items():
        flag(f"delivered_{name}", float(out[f"delivered_{name}"]), float(series[-1]) / RESOLVED_RELATIVE_ERROR)
    if is_below(out[f"delivered_{T}"]):
        out["delivered_target"] = out["delivered_target_amount"] = out[f"delivered_{T}"]
    jT = comps.index(T)
    peak_level = float(level[k_peak, jT])
    if peak_level > 0.0 and abs(float(sp.fraction[k_peak, jT])) < peak_level:
        for name in ("target_peak_fraction", "target_auc_h", "target_peak_time_h"):
            out[name] = below_text(peak_level)
    sys_err = sum(float(err[-1, comps.index(c)]) for c in ("receptor", "sampled", "cleared") if c in comps)
    if isinstance(out["systemic_fraction"], float):
        flag("systemic_fraction", out["systemic_fraction"], sys_err / RESOLVED_RELATIVE_ERROR, ("systemic_amount",))
def _cargo_metrics(run: RunArrays) -> dict:
    """The cargo metrics of the module docstring (prefixed ``cargo_``), from the vesicle and cargo ledgers."""
    sp = dict(run.species)
    ves, car = sp.get(PRIMARY_SPECIES), sp.get("cargo")
    if ves is None or car is None or "released" not in run.processes:
        return {}
    e = run.cargo["encapsulation"]
    f = run.cargo["release_on_degradation"]
    rel, deg, up = (run.processes.index(p) for p in ("released", "degraded", "taken_up"))
    # vesicles that set their cargo free, per layer, as fractions of the vesicle dose
    freed = (ves.loss_by_layer[-1, rel] + f * ves.loss_by_layer[-1, deg]) / ves.dose
    sc = [run.layers.index(x) for x in run.cargo["barrier_layers"] if x in run.layers]
    out = {"cargo_released_before_barrier": (1.0 - e) + e * float(freed[sc].sum()),
           "cargo_released": (1.0 - e) + e * float(freed.sum())}
    taken = car.loss_by_layer[-1, up] / car.dose
    out["cargo_intracellular"] = float(taken.sum())
    for j, name in enumerate(run.layers):
        out[f"cargo_intracellular_{name}"] = float(taken[j])
    return out


def _regimen_metrics(t, fT, starts) -> dict:
    """Accumulation in the target layer over a regimen (see the module docstring).

    The last interval runs from the last application for as long as the
    one before it lasted (or to the end of the run, if sooner); the first
    from 0 to the second application.  Over the output times in each.
    """
    last, prev = starts[-1], starts[-2]
    in_last = (t >= last - 1e-9) & (t <= min(last + (last - prev), t[-1]) + 1e-9)
    in_first = t <= starts[1] + 1e-9
    peak_last = float(fT[in_last].max()) if in_last.any() else math.nan
    peak_first = float(fT[in_first].max())
    return {"target_peak_fraction_last_interval": peak_last,
            "target_trough_fraction_last_interval": float(fT[in_last].min()) if in_last.any() else math.nan,
            "accumulation_ratio": peak_last / peak_first if peak_first > 0 else math.nan}


def summary(ds: xr.Dataset, target: str | None = None, times=None) -> dict:
    """Headline metrics of one run as a flat JSON-ready dict (see module docstring).

    Parameters
    ----------
    ds : xarray.Dataset
        A run's result.
    target : str, optional
        Target layer (``formulation.target_layer``); default dermis, else the
        deepest layer.
    times : sequence of float, optional
        Times (hours) at which to report the fraction in every compartment
        (``fraction_<X>_at_<t>h``); each within the run.

    Returns
    -------
    dict
        Metric name -> float (``target_layer`` a str), in a fixed order.
    """
    return summary_of_arrays(run_arrays(ds), target, times)


def summary_of_arrays(run: RunArrays, target: str | None = None, times=None) -> dict:
    """:func:`summary` of a run given as :class:`RunArrays` (the one implementation of the metrics).

    Parameters
    ----------
    run : RunArrays
        From :func:`run_arrays` (a Dataset) or
        :func:`exodiff.results.dataset.metric_arrays` (a 1D solver's raw arrays).
    target, times
        As in :func:`summary`.

    Returns
    -------
    dict
    """
    T = _target_layer(run.layers, target)
    times_h = [float(x) for x in times] if times is not None else []
    out: dict = {}
    for i, (s, sp) in enumerate(run.species):
        prefix = "" if i == 0 else f"{s}_"
        for k, v in _species_metrics(run, sp, T, times_h).items():
            if i > 0 and _vesicle_only(k):
                continue
            out[prefix + k] = v
    if run.cargo is not None:
        out.update(_cargo_metrics(run))
    if run.systemic is not None:
        sp = run.species[0][1]
        absorbed = absorbed_per_area(sp.fraction, run.compartments, sp.dose) * run.area_cm2
        rate_at = None if sp.flux_systemic is None else sp.flux_systemic * (run.area_cm2 / 3600.0)
        out.update(plasma_metrics(run.time_h, plasma(run.time_h * 3600.0, absorbed, run.systemic, rate_at)))
    out["target_layer"] = T
    out["treated_area_cm2"] = float(run.area_cm2)
    out["max_mass_balance_error"] = float(np.max(np.abs(run.mass_balance_error)))
    out["end_time_h"] = float(run.time_h[-1])
    return out


# --------------------------------------------------------------------------
# Words for tables and reports

_LABELS = {
    "delivered_target": "delivered to the target layer (fraction of dose)",
    "target_layer": "target layer",
    "target_peak_time_h": "time of peak amount in target layer (h)",
    "target_peak_fraction": "peak fraction of dose in target layer",
    "target_auc_h": "AUC of fraction in target layer (h)",
    "target_uptake": "taken up by cells of target layer (fraction of dose)",
    "mean_penetration_depth_um": "mean penetration depth at end (um)",
    "systemic_fraction": "left the skin at end: cleared or through the bottom (fraction of dose)",
    "max_mass_balance_error": "max relative mass balance error",
    "accumulation_ratio": "accumulation ratio in target layer (peak last / first interval)",
    "target_peak_fraction_last_interval": "peak fraction in target layer over the last dosing interval",
    "target_trough_fraction_last_interval": "trough fraction in target layer over the last dosing interval",
    "applied_amount": "applied amount over the treated area (dose unit)",
    "delivered_target_amount": "delivered to the target layer (dose unit, treated area)",
    "systemic_amount": "reached the circulation at end (dose unit, treated area)",
    "treated_area_cm2": "treated area (cm^2)",
    "plasma_cmax": "peak plasma concentration (dose unit/L)",
    "plasma_tmax_h": "time of peak plasma concentration (h)",
    "plasma_auc": "plasma AUC to end (dose unit h/L)",
    "absorbed_amount": "absorbed into the blood at end (dose unit)",
    "end_time_h": "end time (h)",
    "released_before_barrier": "set free before the barrier: applied free or released in the stratum corneum "
                               "(fraction of loaded cargo)",
    "released": "set free by the end: applied free or released anywhere (fraction of loaded cargo)",
    "intracellular": "taken up by cells, free or inside vesicles (fraction of loaded cargo)",
}
_AT = re.compile(r"^fraction_(?P<comp>.+)_at_(?P<t>[0-9.e+-]+)h$")


def label(key: str, species: list[str] | None = None) -> str:
    """Human-readable label of a metric name, e.g. ``"dermis at 24 h (fraction of dose)"``."""
    for s in species or ():
        if key.startswith(f"{s}_"):
            text = label(key[len(s) + 1:])
            if s == "cargo":  # fractions of the loaded cargo, amounts in the cargo's unit
                text = text.replace("fraction of dose", "fraction of loaded cargo").replace("dose unit",
                                                                                            "cargo unit")
            return f"{s}: {text}"
    if key in _LABELS:
        return _LABELS[key]
    m = _AT.match(key)
    if m:
        return f"{m['comp']} at {m['t']} h (fraction of dose)"
    if key.startswith("amount_"):
        return f"{key[len('amount_'):]} at end (dose unit, treated area)"
    if key.startswith("fraction_"):
        return f"{key[len('fraction_'):]} at end (fraction of dose)"
    if key.startswith("delivered_"):
        return f"delivered to {key[len('delivered_'):]} (fraction of dose)"
    if key.startswith("intracellular_"):
        return f"taken up by cells of {key[len('intracellular_'):]} (fraction of loaded cargo)"
    return key


# --------------------------------------------------------------------------
# A run that has an analytic answer


def membrane_check(ds: xr.Dataset) -> dict | None:
    """Lag time and steady flux of a run that is Crank's membrane problem, simulated and analytic.

    Crank (The Mathematics of Diffusion, 2nd ed., section 4.3.2): one
    homogeneous layer of thickness ``h``, diffusivity ``D`` and partition
    ``K`` between a constant donor of concentration ``C`` (an infinite
    vehicle) and a perfect sink, nothing removed on the way.  After a few lag
    times the amount that has crossed, ``Q(t)``, is the line
    ``J (t - t_lag)`` with ``J = D K C / h`` and ``t_lag = h^2 / (6 D)``.
    The simulated line is fitted through the outputs after ``max(0.6
    t_end, 4 t_lag)`` (there the series terms are below 1e-4 of ``Q``).

    Returns
    -------
    dict or None
        None unless the run is that problem (1D, one layer, infinite
        vehicle, sink, no degradation, uptake or clearance).  Else
        ``lag_time_h``, ``lag_time_analytic_h``, ``flux``,
        ``flux_analytic`` (dose unit cm-2 h-1) and ``flux_units``; the
        simulated values are NaN when the run ends before ``6 t_lag``
        (too short to reach the steady state).
    """
    if ds.attrs.get("vehicle") != "infinite" or ds.attrs.get("bottom") != "sink" or "species" in ds.dims \
            or "radius" in ds.dims or ds.sizes.get("layer") != 1 or "vehicle_thickness_um" not in ds.attrs:
        return None
    if any(float(np.max(ds[k].values)) != 0.0 for k in ("degradation_rate", "uptake_rate", "clearance_rate")):
        return None
    D = float(ds["diffusivity"].values[0]) * 1e-8 * 3600.0  # um^2/s -> cm^2/h
    K = float(ds["partition"].values[0])
    h = float(ds["layer_thickness"].values[0]) * 1e-4  # um -> cm
    C = applied_dose(ds) / (float(ds.attrs["vehicle_thickness_um"]) * 1e-4)  # per cm^2 / cm
    if not (D > 0 and K > 0 and h > 0):
        return None
    lag, J = h * h / (6.0 * D), D * K * C / h
    t = ds["time"].values
    Q = ds["amount"].sel(compartment="receptor").values
    lag_sim = flux_sim = float("nan")
    late = t >= max(0.6 * t[-1], 4.0 * lag)
    if t[-1] >= 6.0 * lag and np.count_nonzero(late) >= 2:
        slope, intercept = np.polyfit(t[late], Q[late], 1)
        flux_sim, lag_sim = float(slope), float(-intercept / slope)
    units = ds["amount"].attrs.get("units", "")
    return {"lag_time_h": lag_sim, "lag_time_analytic_h": lag, "flux": flux_sim, "flux_analytic": J,
            "flux_units": f"{units} h-1".strip()}
