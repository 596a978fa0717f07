"""Plots of a fit: data against the model and its 95 % band, residuals, correlations, profiles, posterior.

The functions take plain arrays (the fit study prepares them,
:func:`panels_of`) and return matplotlib Figures; the caller writes them.
"""

from __future__ import annotations

import math

import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["panels_of", "fit_figure", "residual_figure", "correlation_figure", "profile_figure", "corner_figure"]


def panels_of(dataset: str, obs, curve, band, sd, resid) -> list[dict]:
    """One panel per observable of a data set: each series' data, sd, residuals, model curve and band.

    ``curve`` is ``(time_h, array[n_series, n_t])``, ``band`` ``(time_h, low, high)``
    (same shapes), ``sd`` and ``resid`` per row of ``obs``.
    """
    t, c = curve
    tb, lo, hi = band
    panels: dict[str, dict] = {}
    for k, s in enumerate(obs.series):
        sel = obs.series_index == k
        title = f"{dataset}: {s.observable}" if dataset else s.observable
        p = panels.setdefault((s.observable, s.unit), {"title": title, "unit": s.unit, "items": []})
        p["items"].append({"label": s.label, "t_data": obs.time_s[sel] / 3600.0, "y": obs.value[sel],
                           "sd": sd[sel], "resid": resid[sel], "t_model": t, "y_model": c[k],
                           "t_band": tb, "low": lo[k], "high": hi[k]})
    return list(panels.values())


def _grid(n: int, w: float = 4.6, h: float = 3.4):
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    fig.subplots_adjust(left=0.09, right=0.97, bottom=0.5 / (rows * h) + 0.08, top=1 - 0.45 / (rows * h),
                        wspace=0.35, hspace=0.5)
    return fig, list(axes.flat[:n])


def fit_figure(panels: list[dict], band_label: str = "95 % band"):
    """Data with error bars (1 sd) against the fitted model and its 95 % band, one panel per observable."""
    fig, axes = _grid(len(panels))
    for ax, p in zip(axes, panels):
        for j, it in enumerate(p["items"]):
            col = f"C{j % 10}"
            ax.fill_between(it["t_band"], it["low"], it["high"], color=col, alpha=0.2, lw=0,
                            label=band_label if j == 0 else None)
            ax.plot(it["t_model"], it["y_model"], color=col, lw=1.4, label=f"model {it['label']}")
            ax.errorbar(it["t_data"], it["y"], yerr=it["sd"], fmt="o", ms=3.5, color=col, capsize=2,
                        label=f"data {it['label']}")
        ax.set_title(p["title"], fontsize=10)
        ax.set_xlabel("time (h)")
        ax.set_ylabel(p["unit"])
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle("exodiff fit: data (mean +- sd) and model", fontsize=11)
    return fig


def residual_figure(panels: list[dict]):
    """Weighted residuals (model - data) / sd over time; about 95 % should lie within +-2."""
    fig, axes = _grid(len(panels), h=3.0)
    for ax, p in zip(axes, panels):
        for j, it in enumerate(p["items"]):
            ax.plot(it["t_data"], it["resid"], "o", ms=3.5, color=f"C{j % 10}", label=it["label"])
        ax.axhline(0.0, color="0.3", lw=0.8)
        for y in (-2.0, 2.0):
            ax.axhline(y, color="0.6", lw=0.6, ls="--")
        ax.set_title(p["title"], fontsize=10)
        ax.set_xlabel("time (h)")
        ax.set_ylabel("(model - data) / sd")
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle("weighted residuals", fontsize=11)
    return fig


def _short(key: str) -> str:
    parts = key.split(".")
    return ".".join(parts[-2:]) if len(parts) > 2 else key


def correlation_figure(keys: list[str], corr: np.ndarray):
    """The correlation matrix of the log-parameters (from the Jacobian)."""
    n = len(keys)
    fig, ax = plt.subplots(figsize=(2.2 + 1.1 * n, 1.8 + 1.0 * n))
    fig.subplots_adjust(left=0.45 if n > 1 else 0.5, bottom=0.3, right=0.95, top=0.9)
    im = ax.imshow(np.nan_to_num(corr), vmin=-1, vmax=1, cmap="RdBu_r")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{corr[i, j]:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(n), [_short(k) for k in keys], rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(n), [_short(k) for k in keys], fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title("correlation of the log-parameters", fontsize=9)
    return fig


def profile_figure(keys: list[str], profiles: dict, best_x) -> plt.Figure:
    """Cost rise along each parameter's likelihood profile, with the 95 % threshold."""
    fig, axes = _grid(len(keys), w=4.0, h=3.0)
    for ax, k, xb in zip(axes, keys, best_x):
        pr = profiles[k]
        xv = np.exp(np.asarray(pr["log_values"], float))
        dc = np.asarray(pr["cost"], float) - min(pr["cost"])
        ax.plot(xv, dc, "o-", ms=3.5)
        ax.axhline(pr["threshold"], color="C3", lw=0.8, ls="--", label="95 % threshold")
        ax.axvline(math.exp(xb), color="0.4", lw=0.6)
        ax.set_xscale("log")
        ax.set_title(_short(k), fontsize=9)
        ax.set_xlabel("value (SI)")
        ax.set_ylabel("cost - best")
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle("likelihood profiles", fontsize=11)
    return fig


def corner_figure(keys: list[str], samples: np.ndarray, best_x) -> plt.Figure:
    """Posterior of the log10-parameters: histograms on the diagonal, pairwise scatter below."""
    s = np.asarray(samples) / math.log(10.0)
    b = np.asarray(best_x) / math.log(10.0)
    n = len(keys)
    fig, axes = plt.subplots(n, n, figsize=(2.4 * n + 1, 2.4 * n + 0.6), squeeze=False)
    fig.subplots_adjust(left=0.15, right=0.97, bottom=0.15, top=0.92, wspace=0.08, hspace=0.08)
    for i in range(n):
        for j in range(n):
            ax = axes[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            if i == j:
                ax.hist(s[:, i], bins=30, color="C0", alpha=0.7)
                ax.axvline(b[i], color="C3", lw=1)
                ax.set_yticks([])
            else:
                ax.plot(s[:, j], s[:, i], ".", ms=1.5, alpha=0.4, color="C0")
                ax.plot(b[j], b[i], "+", color="C3", ms=10)
            if i == n - 1:
                ax.set_xlabel(f"log10 {_short(keys[j])}", fontsize=7)
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(f"log10 {_short(keys[i])}", fontsize=7)
            elif j > 0:
                ax.set_yticklabels([])
            ax.tick_params(labelsize=6)
    fig.suptitle("MCMC posterior (red: least-squares optimum)", fontsize=10)
    return fig
