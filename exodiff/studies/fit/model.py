"""The model side of a fit: parameters in, observables out, through :func:`exodiff.run`.

A parameter vector ``x`` holds the natural logarithms of the free
parameters in SI.  :func:`simulate` writes them into every data set's
scenario (:meth:`Scenario.replace`, values in the bounds' unit), runs it and
reads each series of the data from the result Dataset
(:func:`series_curve`): compartment amounts or fractions, the receptor
(``receptor`` plus ``sampled`` when the result has it), fluxes,
concentration at a depth, the amount in a tape strip's depth interval.  The
model is read at the data's times, which are output times of the run
(:func:`exodiff.studies.fit.definition._output_times`), so no interpolation
error enters the residuals.

The tasks run by the executors (:func:`optimise_task`, :func:`evaluate_task`)
are module-level functions of picklable tuples, so a process pool can run
them.  A run that fails (a solver stop at an extreme parameter) gives
:data:`PENALTY` residuals instead of stopping the fit.
"""

from __future__ import annotations

import math

import numpy as np

from exodiff.errors import UserError

__all__ = ["series_curve", "simulate", "residuals", "optimise_task", "evaluate_task", "PENALTY", "LOG_STEP"]

#: residual of every row when a run fails
PENALTY = 1e3
#: finite-difference step in log-parameters (1 %): far above the solver's relative noise (its tolerance,
#: 1e-5 by default), far below the scale of the fitted curves' curvature
LOG_STEP = 0.01


def _select(ds):
    if "species" in ds.dims:  # a tracked cargo: the vesicles are the observed species
        ds = ds.isel(species=0)
    return ds


def _compartments(ds) -> list[str]:
    return [str(c) for c in ds["compartment"].values]


def series_curve(ds, s, strip_depths_m=None) -> np.ndarray:
    """The model's value of series ``s`` at every time of ``ds``, in the series' unit."""
    ds = _select(ds)
    obs, var = s.observable, ("fraction" if s.mode == "fraction" else "amount")
    comps = _compartments(ds)
    if obs == "receptor":
        if "receptor" not in comps:
            raise UserError('observable receptor needs a result with a receptor compartment (exodiff 0.1 or later)')
        y = sum(ds[var].values[:, comps.index(c)] for c in ("receptor", "sampled") if c in comps)
    elif obs == "receptor_concentration":
        if "receptor_concentration" not in ds:
            raise UserError('observable receptor_concentration needs a receptor: [skin] bottom = "receptor"')
        y = ds["receptor_concentration"].values
    elif obs == "flux":
        # the rate through the bottom of the skin (into a Franz cell's receptor or a sink)
        y = ds["flux_receptor"].values if "flux_receptor" in ds else ds["flux_systemic"].values
    elif obs == "flux_into_skin":
        y = ds["flux_into_skin"].values
    elif obs == "concentration":
        depth = ds["depth"].values
        c = ds["concentration"].values
        d_um = s.depth_m * 1e6
        j = int(np.clip(np.searchsorted(depth, d_um), 1, depth.size - 1))
        w = np.clip((d_um - depth[j - 1]) / (depth[j] - depth[j - 1]), 0.0, 1.0)
        y = (1 - w) * c[:, j - 1] + w * c[:, j]
    elif obs == "tape_strip":
        edges = np.concatenate([[0.0], np.cumsum(ds["cell_width"].values)]) * 1e-4  # cm
        top = 0.0 if s.strip == 1 else strip_depths_m[s.strip - 2] * 100.0
        bottom = strip_depths_m[s.strip - 1] * 100.0
        overlap = np.clip(np.minimum(edges[1:], bottom) - np.maximum(edges[:-1], top), 0.0, None)
        y = ds["concentration"].values @ overlap  # amount per cm^2 in [top, bottom]
        if s.mode == "fraction":
            y = y / float(ds.attrs["applied_dose"])
    else:
        y = ds[var].values[:, comps.index(obs)]
    return np.asarray(y, float) * s.scale


def _overrides(definition, x) -> dict:
    return {p.key: p.text(math.exp(xi)) for p, xi in zip(definition.parameters, x)}


def simulate(definition, x, curves: bool = False):
    """Model values at every row of every data set (concatenated), and optionally the full curves.

    Returns ``(model, curves)``; ``curves`` is a list per data set of
    ``(time_h, array[n_series, n_time])`` or None.  Raises
    :class:`~exodiff.errors.UserError` when a run fails.
    """
    from exodiff import run as _run

    over = _overrides(definition, x)
    out, curv = [], []
    for d in definition.datasets:
        ds = _run._run(d.scenario.replace(over), checks=False)  # values only: no check runs
        obs = d.observations
        t_h = ds["time"].values
        rows = np.empty(obs.n)
        allc = []
        for k, s in enumerate(obs.series):
            y = series_curve(ds, s, obs.strip_depths_m)
            sel = obs.series_index == k
            rows[sel] = np.interp(obs.time_s[sel] / 3600.0, t_h, y)
            allc.append(y)
        out.append(rows)
        if curves:
            curv.append((t_h, np.array(allc)))
    return np.concatenate(out), (curv if curves else None)


def data_vectors(definition) -> tuple[np.ndarray, np.ndarray]:
    """Measured values and their sd (given, else relative) over all data sets."""
    v = np.concatenate([d.observations.value for d in definition.datasets])
    sd = np.concatenate([d.observations.weights_sd(definition.relative_sd) for d in definition.datasets])
    return v, sd


def residuals(definition, x) -> np.ndarray:
    """``(model - data) / sd`` at log-parameters ``x``; :data:`PENALTY` everywhere when the run fails."""
    v, sd = data_vectors(definition)
    try:
        with np.errstate(all="ignore"):
            m, _ = simulate(definition, x)
    except UserError:
        return np.full(v.size, PENALTY)
    r = (m - v) / sd
    if not np.all(np.isfinite(r)):
        return np.full(v.size, PENALTY)
    return r


def optimise_task(task):
    """One local least-squares fit: ``(index, definition, u0, fixed)`` -> result dict.

    ``u0``: start in the unit box of the log-bounds (all parameters);
    ``fixed``: ``{parameter index: log value}`` held constant (a profile
    point).  The optimiser works in the unit box, so one finite-difference
    step, :data:`LOG_STEP` in log-parameters, suits every parameter.
    """
    from scipy.optimize import least_squares

    index, definition, u0, fixed = task
    lo, hi = definition.log_low, definition.log_high
    span = hi - lo
    free = [i for i in range(len(lo)) if i not in fixed]

    def full(u_free):
        x = lo + np.asarray(u0) * span
        for i, v in fixed.items():
            x[i] = v
        x[free] = lo[free] + np.asarray(u_free) * span[free]
        return x

    if not free:
        r = residuals(definition, full([]))
        return {"index": index, "x": full([]).tolist(), "cost": 0.5 * float(r @ r), "nfev": 1, "status": 1,
                "message": "no free parameter", "ok": True}
    start = np.clip(np.asarray(u0, float)[free], 1e-6, 1 - 1e-6)
    try:
        sol = least_squares(lambda u: residuals(definition, full(u)), start, bounds=(0.0, 1.0), method="trf",
                            diff_step=LOG_STEP / span[free], x_scale=1.0, ftol=1e-6, xtol=1e-6, gtol=1e-8,
                            max_nfev=100 * len(free))
    except Exception as exc:  # a broken start must not stop the others
        return {"index": index, "x": full(start).tolist(), "cost": math.inf, "nfev": 0, "status": -1,
                "message": f"{type(exc).__name__}: {exc}", "ok": False}
    return {"index": index, "x": full(sol.x).tolist(), "cost": float(sol.cost), "nfev": int(sol.nfev),
            "status": int(sol.status), "message": str(sol.message), "ok": bool(sol.status > 0)}


def evaluate_task(task):
    """``(index, definition, x, curves)`` -> ``(index, model rows or None, curves or None)``."""
    index, definition, x, curves = task
    try:
        with np.errstate(all="ignore"):
            m, c = simulate(definition, np.asarray(x, float), curves)
    except UserError:
        return index, None, None
    return index, m, c


class LogPosterior:
    """log-posterior of log-parameters: uniform within the log-bounds, Gaussian residuals of scale ``s2``."""

    def __init__(self, definition, s2: float):
        self.definition, self.s2 = definition, float(s2)

    def __call__(self, x):
        x = np.asarray(x, float)
        if np.any(x < self.definition.log_low) or np.any(x > self.definition.log_high):
            return -np.inf
        r = residuals(self.definition, x)
        return -0.5 * float(r @ r) / self.s2
