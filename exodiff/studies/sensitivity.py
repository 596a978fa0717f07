"""Which uncertain input matters most: partial rank correlation coefficients (PRCC).

For a sampled sweep (Latin hypercube, ``mode = "sample"``) the PRCC of input
``x_j`` and output ``y`` is the correlation of ``x_j`` and ``y`` after the
linear effect of every other input has been removed, all on ranks
(Marino, Hogue, Ray & Kirschner 2008, J Theor Biol 254:178, sec. 2.4):

1. rank-transform every input column and the output (ties: average ranks);
2. regress ``rank(x_j)`` and ``rank(y)`` each on the other ranked inputs
   (with an intercept) by least squares and keep the residuals;
3. PRCC = Pearson correlation of the two residual vectors.

It lies in [-1, 1]: the sign says whether ``y`` rises or falls with
``x_j``, ``|PRCC|`` how strongly, for any monotone (not only linear)
relation, with the other inputs held fixed.  The p-value tests PRCC = 0 with
``t = r sqrt((n - 2 - p) / (1 - r^2))`` on ``n - 2 - p`` degrees of freedom
(``p`` the number of inputs held fixed).  Rank by ``|PRCC|``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["prcc", "sensitivity", "ranking_text", "write_csv", "DEFAULT_METRICS"]

#: metrics ranked by default (those present): delivery, exposure, uptake, depth, systemic
DEFAULT_METRICS = ("delivered_target", "target_auc_h", "target_uptake", "mean_penetration_depth_um",
                   "systemic_fraction")


def _ranks(a: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(a, axis=0, method="average").astype(float)


def _residuals(y: np.ndarray, Z: np.ndarray) -> np.ndarray:
    coef, *_ = np.linalg.lstsq(Z, y, rcond=None)
    return y - Z @ coef


def prcc(X, y) -> tuple[np.ndarray, np.ndarray]:
    """Partial rank correlation of each column of ``X`` with ``y``.

    Parameters
    ----------
    X : array_like, shape (n, k)
        Inputs, one column per parameter.
    y : array_like, shape (n,)
        Output.  Rows where ``y`` or any input is NaN are dropped.

    Returns
    -------
    r : float64[k]
        PRCC of each input (NaN when the input or the output does not vary,
        or there are too few rows).
    p : float64[k]
        Two-sided p-value of ``r = 0``.
    """
    from scipy.stats import t as student_t

    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    keep = np.isfinite(y) & np.all(np.isfinite(X), axis=1)
    X, y = X[keep], y[keep]
    n, k = X.shape
    r = np.full(k, np.nan)
    p = np.full(k, np.nan)
    df = n - 2 - (k - 1)
    if df < 1:
        return r, p
    RX = _ranks(X)
    ry = _ranks(y)
    ones = np.ones((n, 1))
    for j in range(k):
        Z = np.hstack([ones, np.delete(RX, j, axis=1)])
        ex = _residuals(RX[:, j], Z)
        ey = _residuals(ry, Z)
        sx, sy = math.sqrt(float(ex @ ex)), math.sqrt(float(ey @ ey))
        scale = math.sqrt(float(RX[:, j] @ RX[:, j]) * float(ry @ ry))
        if sx <= 1e-12 * scale or sy <= 1e-12 * scale:  # the input or output does not vary beyond the others
            continue
        rj = float(np.clip(ex @ ey / (sx * sy), -1.0, 1.0))
        r[j] = rj
        if abs(rj) >= 1.0:
            p[j] = 0.0
        else:
            tt = rj * math.sqrt(df / (1.0 - rj * rj))
            p[j] = float(2.0 * student_t.sf(abs(tt), df))
    return r, p


def _swept(ds) -> list[str]:
    from exodiff.report.sweep_plots import sweep_dims

    return sweep_dims(ds)


def _coordinate(ds, key: str) -> str:
    """The coordinate of a swept key given dotted or as its coordinate name."""
    for n in _swept(ds):
        if key == n or key == ds[n].attrs.get("key"):
            return n
    return key


def _numeric_parameters(ds) -> list[str]:
    return [k for k in _swept(ds) if k in ds.coords and np.issubdtype(ds[k].dtype, np.number)]


def _metric_names(ds) -> list[str]:
    keys = set(_swept(ds))
    return [v for v in ds.data_vars
            if v not in keys and v not in ("error", "point") and np.issubdtype(ds[v].dtype, np.floating)
            and "time" not in ds[v].dims]


def sensitivity(ds, metrics=None, parameters=None):
    """PRCC of every numeric swept key for every metric of a sweep Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        Result of :func:`exodiff.studies.sweep` (any mode; a Latin hypercube sample
        is what PRCC is meant for).
    metrics : list of str, optional
        Default: every metric.
    parameters : list of str, optional
        Swept keys, dotted or as coordinate names; default: every numeric
        swept key.  The result names them by their dotted keys.

    Returns
    -------
    xarray.Dataset
        ``prcc(metric, parameter)``, ``p_value(metric, parameter)`` and
        ``rank(metric, parameter)`` (1 = largest ``|PRCC|`` for that metric);
        attribute ``points`` (rows used, failed points dropped).
    """
    import xarray as xr

    params = [_coordinate(ds, k) for k in parameters] if parameters is not None else _numeric_parameters(ds)
    names = list(metrics) if metrics is not None else _metric_names(ds)
    R = np.full((len(names), len(params)), np.nan)
    P = np.full_like(R, np.nan)
    used = 0
    for i, m in enumerate(names):
        y = ds[m]
        # grid: every point of the grid is a row; zip and sample: every point
        X = np.column_stack([np.asarray(ds[k].broadcast_like(y).transpose(*y.dims).values, dtype=float).ravel()
                             for k in params]) if params else np.zeros((y.size, 0))
        yv = np.asarray(y.values, dtype=float).ravel()
        used = max(used, int(np.sum(np.isfinite(yv))))
        if params:
            R[i], P[i] = prcc(X, yv)
    order = np.argsort(-np.nan_to_num(np.abs(R), nan=-1.0), axis=1, kind="stable")
    rank = np.empty_like(order)
    for i in range(len(names)):
        rank[i, order[i]] = np.arange(1, len(params) + 1)
    return xr.Dataset(
        {"prcc": (("metric", "parameter"), R, {"long_name": "partial rank correlation coefficient",
                                                "units": "1"}),
         "p_value": (("metric", "parameter"), P, {"long_name": "two-sided p-value of PRCC = 0", "units": "1"}),
         "rank": (("metric", "parameter"), rank, {"long_name": "rank by |PRCC| within the metric (1 = largest)"})},
        # the parameters by their dotted scenario keys, as a reader knows them
        coords={"metric": names, "parameter": [str(ds[k].attrs.get("key", k)) for k in params]},
        attrs={"method": "PRCC on ranks with least-squares residuals (Marino et al. 2008)",
               "points": used},
    )


def ranking_text(sens, metrics=None, significance: float = 0.05) -> str:
    """One line per metric: the parameters by ``|PRCC|``, strongest first.

    ``(n.s.)`` marks a PRCC whose p-value is above ``significance``.
    """
    names = [str(m) for m in sens["metric"].values]
    chosen = [m for m in (metrics or names) if m in names]
    lines = []
    width = max((len(m) for m in chosen), default=0)
    for m in chosen:
        r = sens["prcc"].sel(metric=m).values
        p = sens["p_value"].sel(metric=m).values
        order = np.argsort(-np.nan_to_num(np.abs(r), nan=-1.0), kind="stable")
        parts = []
        for j in order:
            name = str(sens["parameter"].values[j])
            if not np.isfinite(r[j]):
                parts.append(f"{name} n/a")
                continue
            ns = "" if p[j] <= significance else " (n.s.)"
            parts.append(f"{name} {r[j]:+.2f}{ns}")
        lines.append(f"  {m:<{width}}  " + ", ".join(parts))
    return "\n".join(lines)


def write_csv(sens, path) -> None:
    """``metric,parameter,prcc,p_value,rank`` rows, written atomically."""
    from exodiff.report.outputs import atomic_path

    rows = ["metric,parameter,prcc,p_value,rank"]
    for i, m in enumerate(sens["metric"].values):
        for j, k in enumerate(sens["parameter"].values):
            r = float(sens["prcc"].values[i, j])
            p = float(sens["p_value"].values[i, j])
            rows.append(f"{m},{k},{'' if not np.isfinite(r) else repr(r)},{'' if not np.isfinite(p) else repr(p)},"
                        f"{int(sens['rank'].values[i, j])}")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(rows) + "\n", encoding="utf-8")
