"""Weighted least squares in log-parameters: multi-start, Jacobian intervals, likelihood profiles.

1. :func:`multistart`: ``scipy.optimize.least_squares`` (trust region
   reflective, within the bounds) from the points of a scrambled Sobol
   design (``scipy.stats.qmc``) in the box of the log-bounds, the starts run
   in parallel through an executor; the lowest cost wins.
2. :func:`jacobian`: central differences of the model at the best point
   (2 p runs, in parallel), for the rows (covariance) and for the full curves
   (the 95 % band of the plots, by the delta method).
3. :func:`covariance`: ``cov = s^2 (J^T J)^-1`` in log-parameters, with
   ``s^2 = 1`` when every row has its sd, else ``s^2 = 2 cost / (n - p)``
   (the scale of relative sds is estimated); 95 % intervals
   ``x +- q se`` (``q`` the normal or, with an estimated scale, Student-t
   quantile), back-transformed (so they are asymmetric in the parameter).
4. :func:`profiles`: for each parameter, the cost with the others
   re-optimised at fixed values ``x_i + k se_i`` (k = 1, 2, 3 each side,
   then the bound if the threshold is not yet crossed); the 95 % profile
   interval is where the cost rises by ``q^2 s^2 / 2`` (1.92 with known sds),
   found by interpolating the signed root of the rise, which is linear in the
   parameter for a quadratic cost.
"""

from __future__ import annotations

import math

import numpy as np

from exodiff.studies.fit.model import LOG_STEP, evaluate_task, optimise_task

__all__ = ["multistart", "jacobian", "covariance", "profiles", "quantile"]


def _map(executor, fn, tasks):
    """Results of ``fn`` over ``tasks`` (tuples starting with an index) in task order."""
    out = {}
    for res in executor.map_unordered(fn, tasks):
        idx = res["index"] if isinstance(res, dict) else res[0]
        out[idx] = res
    return [out[i] for i in range(len(tasks))]


def design(definition) -> np.ndarray:
    """Start points in the unit box (n x p): a scrambled Sobol design, kept 2 % off the bounds."""
    from scipy.stats import qmc

    p = len(definition.parameters)
    n = definition.starts
    m = max(1, math.ceil(math.log2(n)))
    u = qmc.Sobol(p, scramble=True, seed=definition.seed).random_base2(m)[:n]
    return 0.02 + 0.96 * u


def multistart(definition, executor) -> tuple[dict, list[dict]]:
    """The best local fit over the design's starts, and every start's record."""
    starts = design(definition)
    tasks = [(i, definition, u, {}) for i, u in enumerate(starts)]
    results = _map(executor, optimise_task, tasks)
    for r, u in zip(results, starts):
        r["start"] = (definition.log_low + u * (definition.log_high - definition.log_low)).tolist()
    best = min(results, key=lambda r: r["cost"])
    return best, results


def jacobian(definition, executor, x) -> tuple[np.ndarray, list, list]:
    """d model / d log-parameter at ``x``: rows (n x p) and curves (per data set, n_series x n_t x p).

    Central differences with step :data:`LOG_STEP`, one-sided at a bound.
    Also returns the model curves at ``x`` itself.
    """
    x = np.asarray(x, float)
    p = x.size
    lo, hi = definition.log_low, definition.log_high
    points, steps = [x], []
    for i in range(p):
        up = min(x[i] + LOG_STEP, hi[i])
        dn = max(x[i] - LOG_STEP, lo[i])
        xu, xd = x.copy(), x.copy()
        xu[i], xd[i] = up, dn
        points += [xu, xd]
        steps.append(up - dn)
    res = _map(executor, evaluate_task, [(k, definition, pt, True) for k, pt in enumerate(points)])
    if any(r[1] is None for r in res):
        raise RuntimeError("a run near the best parameters failed")
    J = np.column_stack([(res[1 + 2 * i][1] - res[2 + 2 * i][1]) / steps[i] for i in range(p)])
    curves0 = res[0][2]
    dcurves = []
    for k, (t, c0) in enumerate(curves0):
        dc = np.stack([(res[1 + 2 * i][2][k][1] - res[2 + 2 * i][2][k][1]) / steps[i] for i in range(p)], axis=-1)
        dcurves.append(dc)
    return J, curves0, dcurves


def quantile(dof: int | None) -> float:
    """Two-sided 95 % quantile: normal (known scale, ``dof`` None) or Student-t."""
    from scipy import stats

    return float(stats.norm.ppf(0.975) if dof is None else stats.t.ppf(0.975, max(dof, 1)))


def covariance(J: np.ndarray, cost: float, n: int, scale_known: bool) -> dict:
    """Covariance, standard errors and correlations in log-parameters from the Jacobian of the residuals."""
    p = J.shape[1]
    dof = n - p
    s2 = 1.0 if scale_known else (2.0 * cost / dof if dof > 0 else math.nan)
    JtJ = J.T @ J
    cond = float(np.linalg.cond(JtJ)) if p else 1.0
    singular = not np.isfinite(cond) or cond > 1e14
    cov = s2 * (np.linalg.pinv(JtJ) if singular else np.linalg.inv(JtJ))
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(all="ignore"):
        corr = cov / np.outer(se, se)
    q = quantile(None if scale_known else dof)
    return {"cov": cov, "se": se, "corr": corr, "s2": s2, "dof": dof, "q": q, "singular": singular,
            "condition": cond}


def _profile_points(x_i: float, se: float, lo: float, hi: float) -> tuple[list[float], list[float]]:
    """Fixed values below and above ``x_i`` (outwards): k = 1, 2, 3 standard errors, stopping at the bound."""
    def side(sign, bound):
        pts = []
        for k in (1.0, 2.0, 3.0):
            step = k * se if np.isfinite(se) and se > 0 else k / 3.0 * abs(bound - x_i)
            v = x_i + sign * step
            if (v - bound) * sign >= 0:
                pts.append(bound)
                break
            pts.append(v)
        return [v for v in pts if abs(v - x_i) > 1e-12]

    return side(-1.0, lo), side(1.0, hi)


def _crossing(x0: float, pts: list[float], deltas: list[float], threshold: float) -> tuple[float, bool]:
    """Where the cost rise along one side first reaches ``threshold`` (interpolated in its square root)."""
    prev_x, prev_r = x0, 0.0
    t = math.sqrt(threshold)
    for v, d in zip(pts, deltas):
        r = math.sqrt(max(d, 0.0))
        if r >= t:
            w = (t - prev_r) / (r - prev_r) if r > prev_r else 1.0
            return prev_x + w * (v - prev_x), True
        prev_x, prev_r = v, r
    return pts[-1] if pts else x0, False


def profiles(definition, executor, best: dict, est: dict) -> list[dict]:
    """The likelihood profile of every parameter and its 95 % interval (log-parameters)."""
    x = np.asarray(best["x"], float)
    lo, hi = definition.log_low, definition.log_high
    span = hi - lo
    u_best = (x - lo) / span
    threshold = 0.5 * est["q"] ** 2 * (est["s2"] if np.isfinite(est["s2"]) else 1.0)
    out = []
    for rnd in range(2):
        tasks, where = [], []
        for i in range(x.size):
            if rnd == 0:
                below, above = _profile_points(x[i], est["se"][i], lo[i], hi[i])
                out.append({"below": below, "above": above, "cost_below": [], "cost_above": []})
            else:  # not crossed on a side and the bound not reached: add the bound
                for side, bound in (("below", lo[i]), ("above", hi[i])):
                    pts, costs = out[i][side], out[i][f"cost_{side}"]
                    if pts and pts[-1] != bound and max(costs) - best["cost"] < threshold:
                        pts.append(bound)
            for side in ("below", "above"):
                done = len(out[i][f"cost_{side}"])
                for v in out[i][side][done:]:
                    tasks.append((len(tasks), definition, u_best, {i: v}))
                    where.append((i, side))
        if not tasks:
            break
        for (i, side), r in zip(where, _map(executor, optimise_task, tasks)):
            out[i][f"cost_{side}"].append(r["cost"])
    lowest = best["cost"]
    for i, prof in enumerate(out):
        lowest = min([lowest, *prof["cost_below"], *prof["cost_above"]])
    for i, prof in enumerate(out):
        db = [c - best["cost"] for c in prof["cost_below"]]
        da = [c - best["cost"] for c in prof["cost_above"]]
        low, low_ok = _crossing(x[i], prof["below"], db, threshold)
        high, high_ok = _crossing(x[i], prof["above"], da, threshold)
        prof.update({"ci95": [low, high], "closed": [low_ok, high_ok], "threshold": threshold,
                     "lower_cost_found": lowest < best["cost"] - 1e-6 * max(1.0, best["cost"])})
    return out
