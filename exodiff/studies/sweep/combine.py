"""Every point of a sweep in one Dataset (``sweep.nc``).

- grid: one dimension per swept key, named by the key with ``__`` for its
  dots (``ds.sel(formulation__diameter=100.0)``; :func:`dim_name`), its
  coordinate in the key's display unit (``units`` attribute) with the dotted
  key in its ``key`` attribute; an integer ``point`` variable gives the index
  of each point (and so its point file);
- zip and sample: a ``point`` dimension, each swept key a coordinate along it
  (named the same way).

Names without dots, because a dot in a NetCDF name is legal but breaks
attribute access (``ds.formulation__diameter`` works, a dotted name does
not), CF's advice (names of letters, digits and underscores) and tools such
as NCO, whose ``-v`` and hyperslab syntax read the dot as a group separator.

Every numeric metric of :func:`exodiff.results.metrics.summary` is a variable over
those dimensions; failed points are NaN, and the string variable ``error``
holds why (empty for good points).  With profiles, ``fraction`` and
``amount`` gain ``time`` and ``compartment`` dimensions.
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter

import numpy as np

from exodiff.studies.sweep.point import PointOutcome, metric_label, metric_units

__all__ = ["combine", "failure_summary", "parameter_dims", "dim_name", "dotted"]


def dim_name(key: str) -> str:
    """The name of a swept key's coordinate in ``sweep.nc``: ``"formulation.diameter"`` -> ``"formulation__diameter"``.

    Scenario keys are letters, digits and underscores between the dots, and
    no key part starts or ends with an underscore pair, so the mapping is
    one to one (``key`` attribute of the coordinate holds the dotted key).
    """
    return str(key).replace(".", "__")


def parameter_dims(mode: str, keys: list[str]) -> list[str]:
    """Dimensions of the metric variables: the keys' coordinate names (grid) or ``["point"]``."""
    return [dim_name(k) for k in keys] if mode == "grid" else ["point"]


def dotted(ds):
    """The sweep Dataset with its coordinates named by the dotted keys, as ``sweep.nc`` was before 0.2.

    For code written against the old names: ``dotted(ds).sel({"formulation.diameter": 100})``.
    Files of earlier versions (already dotted) come back unchanged.
    """
    names = {n: ds[n].attrs["key"] for n in ds.attrs.get("sweep_dims", []) if n in ds.variables
             and "key" in ds[n].attrs}
    return ds.rename(names) if names else ds


def failure_summary(outcomes, limit: int = 5) -> list[str]:
    """``"3 x solver: non-finite ..."`` lines, the most common reasons first."""
    counts = Counter(o.error for o in outcomes if not o.ok)
    lines = [f"{n} x {msg}" for msg, n in counts.most_common(limit)]
    if len(counts) > limit:
        lines.append(f"... and {len(counts) - limit} other reasons (see the error variable)")
    return lines


def _coord_attrs(p) -> dict:
    from exodiff.scenario.schema import key_words

    attrs = {"long_name": key_words(p.key), "key": p.key}
    if p.unit:
        attrs["units"] = p.unit
    if p.scale == "log":
        attrs["scale"] = "log"
    return attrs


def _coord_values(p, values) -> np.ndarray:
    if p.kind == "bool":
        return np.array(values, dtype=bool)
    if p.numeric:
        return np.array(values, dtype=float)
    return np.array([str(v) for v in values], dtype=str)


def combine(plan, outcomes: dict[int, PointOutcome], save_profiles: bool = False):
    """The sweep Dataset from every point's outcome.

    Parameters
    ----------
    plan : SweepPlan
    outcomes : dict
        Point index -> :class:`PointOutcome` (a missing point counts as not run).
    save_profiles : bool
        Add ``fraction`` and ``amount`` over time.

    Returns
    -------
    xarray.Dataset
    """
    import xarray as xr

    from exodiff._version import __version__
    from exodiff.scenario.core import to_toml

    defn = plan.definition
    params = defn.parameters
    shape = defn.shape
    dims = parameter_dims(defn.mode, defn.keys)
    n = plan.size
    coords: dict = {}
    if defn.mode == "grid":
        for p in params:
            coords[dim_name(p.key)] = (dim_name(p.key), _coord_values(p, p.coords), _coord_attrs(p))
    else:
        coords["point"] = ("point", np.arange(n), {"long_name": "sweep point"})
        for j, p in enumerate(params):
            coords[dim_name(p.key)] = ("point", _coord_values(p, [pt.coords[j] for pt in plan.points]),
                                       _coord_attrs(p))

    ordered = [outcomes.get(i) for i in range(n)]
    names: list[str] = []
    texts: dict[str, list] = {}
    for o in ordered:
        if o is not None and o.ok:
            for k, v in o.metrics.items():
                if isinstance(v, str):
                    texts.setdefault(k, [])
                elif k not in names:
                    names.append(k)
    values = {k: np.full(n, np.nan) for k in names}
    errors = np.full(n, "", dtype=object)
    text_values = {k: np.full(n, "", dtype=object) for k in texts}
    for i, o in enumerate(ordered):
        if o is None:
            errors[i] = "not run"
            continue
        if not o.ok:
            errors[i] = o.error or "failed"
            continue
        for k, v in o.metrics.items():
            if isinstance(v, str):
                text_values[k][i] = v
            else:
                values[k][i] = np.nan if v is None else float(v)

    data_vars: dict = {}
    for k in names:
        data_vars[k] = (dims, values[k].reshape(shape), {"units": metric_units(k), "long_name": metric_label(k)})
    attrs_text = {}
    for k, arr in text_values.items():
        good = {v for v, o in zip(arr, ordered) if o is not None and o.ok}
        if len(good) == 1:
            attrs_text[k] = good.pop()
        else:
            data_vars[k] = (dims, np.array(arr, dtype=str).reshape(shape), {"long_name": metric_label(k)})
    data_vars["error"] = (dims, np.array(errors, dtype=str).reshape(shape),
                          {"long_name": "why the point failed (empty: it did not)"})
    if defn.mode == "grid":
        data_vars["point"] = (dims, np.arange(n).reshape(shape), {"long_name": "sweep point index (point file)"})

    if save_profiles:
        prof_vars, prof_coords = _profiles(ordered, dims, shape)
        data_vars.update(prof_vars)
        coords.update(prof_coords)

    n_failed = sum(1 for o in ordered if o is None or not o.ok)
    ds = xr.Dataset(data_vars=data_vars, coords=coords)
    study = defn.study  # "sweep", or "population" (a zip of drawn points)
    ds.attrs = {
        "Conventions": "CF-1.10",
        "title": f"{study} of {plan.base.name}",
        "source": f"exodiff {__version__}",
        "history": f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}: exodiff {study}",
        "exodiff_version": __version__,
        "sweep_mode": defn.mode,
        "sweep_keys": list(defn.keys),
        "sweep_dims": [dim_name(k) for k in defn.keys],
        f"{study}_definition": to_toml({study: defn.table}),
        "scenario": plan.base.text,
        "scenario_file": plan.file,
        "scenario_hash": plan.hash,
        "dose_unit": plan.base.dose_unit,
        "points": n,
        "failed_points": n_failed,
        **attrs_text,
    }
    if defn.mode == "sample":
        ds.attrs["sample_seed"] = int(defn.seed)
    if n_failed:
        ds.attrs["failures"] = "; ".join(failure_summary(o for o in ordered if o is not None)) or "not run"
    return ds


def _profiles(ordered, dims, shape) -> tuple[dict, dict]:
    """``fraction`` and ``amount`` over (point dims, time, compartment), NaN where missing.

    With a ``[systemic]`` model also ``plasma_concentration`` over (point dims, time).
    """
    good = [o for o in ordered if o is not None and o.ok and o.profiles is not None]
    if not good:
        return {}, {}
    times = sorted({float(t) for o in good for t in o.profiles["time"]})
    comps: list[str] = []
    for o in good:
        for c in o.profiles["compartment"]:
            if c not in comps:
                comps.append(c)
    ti = {t: i for i, t in enumerate(times)}
    ci = {c: i for i, c in enumerate(comps)}
    n = len(ordered)
    arrays = {k: np.full((n, len(times), len(comps)), np.nan) for k in ("fraction", "amount")}
    units = good[0].profiles["amount_units"]
    for i, o in enumerate(ordered):
        if o is None or not o.ok or o.profiles is None:
            continue
        rows = np.array([ti[float(t)] for t in o.profiles["time"]])
        cols = np.array([ci[c] for c in o.profiles["compartment"]])
        for k in arrays:
            arrays[k][i][np.ix_(rows, cols)] = o.profiles[k]
    full = (*dims, "time", "compartment")
    out = {}
    for k, u, ln in (("fraction", "1", "amount / applied dose"),
                     ("amount", units, "amount per skin area by compartment")):
        out[k] = (full, arrays[k].reshape(*shape, len(times), len(comps)), {"units": u, "long_name": ln})
    with_plasma = [o for o in good if "plasma_concentration" in o.profiles]
    if with_plasma:
        plasma = np.full((n, len(times)), np.nan)
        for i, o in enumerate(ordered):
            if o is not None and o.ok and o.profiles is not None and "plasma_concentration" in o.profiles:
                plasma[i, [ti[float(t)] for t in o.profiles["time"]]] = o.profiles["plasma_concentration"]
        out["plasma_concentration"] = ((*dims, "time"), plasma.reshape(*shape, len(times)),
                                       {"units": with_plasma[0].profiles["plasma_units"],
                                        "long_name": "concentration in the central (plasma) compartment"})
    coords = {"time": ("time", np.array(times), {"units": "h", "long_name": "time since application"}),
              "compartment": ("compartment", np.array(comps, dtype=str), {"long_name": "compartment"})}
    return out, coords
