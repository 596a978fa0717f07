"""Seeing the answer of a sweep: tables and plots.

- :func:`points_table`: the points of a plan (``exodiff sweep --dry-run``);
- :func:`best_table`: the best points for a metric (``--best METRIC``);
- :func:`result_text`: how many points, how many failed and why;
- plots (matplotlib, Agg): a metric against one swept key with a line per
  value of a second (:func:`metric_figure`), a heatmap over a two-key grid
  (:func:`heatmap_figure`), the sensitivity ranking of a sample
  (:func:`sensitivity_figure`); :func:`write_plots` writes them as PNG.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path

import numpy as np

from exodiff.errors import UserError

__all__ = ["points_table", "best_table", "result_text", "metric_names", "check_metric", "default_plot_metrics",
           "metric_figure", "heatmap_figure", "sensitivity_figure", "write_plots", "sweep_dims"]


def _fmt(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        return "nan" if not math.isfinite(v) else f"{float(v):.6g}"
    return str(v)


def _table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    right = right or set()

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return [line(header).rstrip()] + [line(r).rstrip() for r in rows]


def sweep_dims(ds) -> list[str]:
    """Names of a sweep Dataset's swept coordinates (``sweep_dims``; files before 0.2: the dotted ``sweep_keys``)."""
    names = ds.attrs.get("sweep_dims", ds.attrs.get("sweep_keys", []))
    return [names] if isinstance(names, str) else [str(n) for n in names]


def _heading(p) -> str:
    return p.key + (f" [{p.unit}]" if p.unit not in ("", "1") else "")


def points_table(plan) -> str:
    """Every point of a plan: index and the value of each swept key."""
    defn = plan.definition
    head = f"{plan.file}: {defn.describe()}"
    header = ["point", *(_heading(p) for p in defn.parameters)]
    rows = [[str(pt.index), *(_fmt(c) for c in pt.coords)] for pt in plan.points]
    return "\n".join([head, *("  " + r for r in _table(header, rows, right={0}))])


def metric_names(ds) -> list[str]:
    """The numeric metric variables of a sweep Dataset."""
    keys = set(sweep_dims(ds))
    return [v for v in ds.data_vars if v not in keys and v not in ("error", "point", "fraction", "amount")
            and np.issubdtype(ds[v].dtype, np.floating)]


def check_metric(ds, metric: str, option: str = "--best", names: list[str] | None = None) -> str:
    """``metric`` if the sweep has it, else a one-line UserError with a did-you-mean; ``names``: the metric
    names to check against instead of ``ds``'s (a first point's, before the sweep's Dataset exists)."""
    names = metric_names(ds) if names is None else names
    if metric in names:
        return metric
    close = difflib.get_close_matches(metric, names, n=1, cutoff=0.5)
    hint = f'did you mean "{close[0]}"?' if close else "metrics: " + ", ".join(names)
    raise UserError(f"{option}: got {metric!r}; expected a metric of the sweep; {hint}")


def _rows_of(ds, metric):
    """Flat (point index, coordinate values, metric value) over every point."""
    keys = sweep_dims(ds)
    da = ds[metric]
    idx = ds["point"].broadcast_like(da).transpose(*da.dims).values.ravel() if "point" in ds else None
    vals = da.values.ravel()
    coords = [ds[k].broadcast_like(da).transpose(*da.dims).values.ravel() for k in keys]
    return keys, idx, coords, vals


def best_table(ds, metric: str, top: int = 10, minimize: bool = False) -> str:
    """The ``top`` points with the largest (``minimize``: smallest) ``metric``; failed points skipped."""
    check_metric(ds, metric)
    keys, idx, coords, vals = _rows_of(ds, metric)
    ok = np.flatnonzero(np.isfinite(vals))
    order = ok[np.argsort(vals[ok] if minimize else -vals[ok], kind="stable")][:top]
    units = {k: ds[k].attrs.get("units", "") for k in keys}
    header = ["rank", "point", *(_key(ds, k) + (f" [{units[k]}]" if units[k] not in ("", "1") else "")
                                 for k in keys),
              metric + (f" [{ds[metric].attrs.get('units')}]" if ds[metric].attrs.get("units") not in (None, "1")
                        else "")]
    rows = [[str(r + 1), str(int(idx[i])) if idx is not None else str(i), *(_fmt(c[i]) for c in coords),
             _fmt(vals[i])] for r, i in enumerate(order)]
    which = "smallest" if minimize else "largest"
    head = f"best points by {metric} ({which} first; {len(ok)} of {vals.size} points have a value):"
    return "\n".join([head, *("  " + r for r in _table(header, rows, right={0, 1, len(header) - 1}))])


def result_text(ds, directory=None) -> str:
    """How many points ran, how many failed and why."""
    n = int(ds.attrs.get("points", 0))
    failed = int(ds.attrs.get("failed_points", 0))
    where = f"; results in {directory}/" if directory is not None else ""
    lines = [f"{ds.attrs.get('title', 'sweep')}: {n} points, {failed} failed{where}"]
    if failed:
        lines.append("  failures: " + str(ds.attrs.get("failures", "")).replace("; ", "\n            "))
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Plots


def default_plot_metrics(ds) -> list[str]:
    """What is plotted unless chosen: delivery to the target layer and its exposure (AUC)."""
    names = metric_names(ds)
    target = ds.attrs.get("target_layer")
    first = "delivered_target" if "delivered_target" in names else f"delivered_{target}"
    return [m for m in (first, "target_auc_h") if m in names]


def _figure(w=7.0, h=4.5):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # fixed layout (as exodiff.report.plotting): constrained layout costs ~0.5 s per log axis
    fig, ax = plt.subplots(figsize=(w, h))
    fig.subplots_adjust(left=0.13, right=0.76, bottom=0.16, top=0.90)
    return fig, ax


def _is_numeric(ds, key) -> bool:
    return np.issubdtype(ds[key].dtype, np.number) and not np.issubdtype(ds[key].dtype, np.bool_)


def _log_axis(ds, key) -> bool:
    if not _is_numeric(ds, key):
        return False
    if ds[key].attrs.get("scale") == "log":
        return True
    v = np.asarray(ds[key].values, dtype=float)
    v = v[np.isfinite(v)]
    return bool(v.size and v.min() > 0 and v.max() / v.min() >= 100)


def _log_values(values) -> bool:
    """Positive values over more than three decades: a log axis (zeros are then not drawn)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    return bool(v.size and v.max() / v.min() > 1e3)


def _plain_log(axis) -> None:
    """Log axis ticks as plain numbers (20, 50, 100), not 2 x 10^1, labelled at 1, 2 and 5."""
    from matplotlib.ticker import FuncFormatter

    def fmt(v, _pos):
        if v <= 0:
            return ""
        mant = v / 10 ** math.floor(math.log10(v) + 1e-9)
        return f"{v:g}" if round(mant, 6) in (1.0, 2.0, 5.0) else ""

    axis.set_major_formatter(FuncFormatter(fmt))
    axis.set_minor_formatter(FuncFormatter(fmt))


def _key(ds, name) -> str:
    """The dotted scenario key of a sweep coordinate (its ``key`` attribute; older files: the name itself)."""
    return str(ds[name].attrs.get("key", name))


def _set_label(ax, which: str, ds, name, fontsize: float = 9) -> None:
    """Axis label of a swept key: in words with its unit, the dotted key in small print under it."""
    from exodiff.report.labels import set_key_label

    set_key_label(ax, which, _key(ds, name), ds[name].attrs.get("units", ""), fontsize=fontsize)


def _set_metric_label(ax, ds, metric) -> None:
    """The metric's meaning as the y label, its variable name in small print beside it."""
    from exodiff.report.labels import set_label

    set_label(ax, "y", str(ds[metric].attrs.get("long_name", metric)), metric, fontsize=8)


def _x_positions(ds, key):
    if _is_numeric(ds, key):
        return np.asarray(ds[key].values, dtype=float), None
    labels = [str(v) for v in ds[key].values]
    return np.arange(len(labels), dtype=float), labels


def metric_figure(ds, metric: str):
    """``metric`` against the first swept key, a line per value of the second (grid).

    Zip: against the first key, in order of it.  Sample: a panel per
    numeric key (up to four), one dot per point.
    """
    keys = sweep_dims(ds)
    mode = ds.attrs.get("sweep_mode", "grid")
    y_all = ds[metric].values
    if mode == "sample":
        nk = [k for k in keys if _is_numeric(ds, k)][:6] or keys[:1]
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(nk), figsize=(2.6 * len(nk) + 1.2, 3.6), squeeze=False, sharey=True)
        fig.subplots_adjust(left=0.8 / (2.6 * len(nk) + 1.2), right=0.98, bottom=0.2, top=0.86, wspace=0.08)
        for ax, k in zip(axes[0], nk):
            ax.plot(ds[k].values, y_all, ".", ms=3)
            if _log_axis(ds, k):
                ax.set_xscale("log")
                _plain_log(ax.xaxis)
            _set_label(ax, "x", ds, k, fontsize=7)
            ax.tick_params(labelsize=7)
        if _log_values(y_all):
            axes[0][0].set_yscale("log")
        else:
            axes[0][0].ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        _set_metric_label(axes[0][0], ds, metric)
        fig.suptitle(f"{ds.attrs.get('title', '')}: {metric}", fontsize=9)
        return fig
    fig, ax = _figure()
    x_key = keys[0]
    if mode == "grid":
        da = ds[metric]
        rest = {k: 0 for k in keys[2:]}
        if rest:
            da = da.isel(rest)
        x, labels = _x_positions(ds, x_key)
        if len(keys) >= 2:
            hue = keys[1]
            from exodiff.report.labels import key_words, unit_text

            u = unit_text(ds[hue].attrs.get("units", ""))
            for j, hv in enumerate(ds[hue].values):
                ax.plot(x, da.isel({hue: j}).transpose(x_key).values, "o-", ms=3,
                        label=f"{_fmt(hv)}{' ' + u if u else ''}")
            title = key_words(_key(ds, hue))
            title = title if title == _key(ds, hue) else f"{title}\n({_key(ds, hue)})"
            ax.legend(title=title, fontsize=7, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        else:
            ax.plot(x, da.values, "o-", ms=3)
        if rest:
            fixed = ", ".join(f"{_key(ds, k)} = {_fmt(ds[k].values[0])}" for k in rest)
            ax.text(0.0, 1.01, f"at {fixed}", transform=ax.transAxes, fontsize=7, va="bottom")
    else:  # zip: in order of the first key
        x, labels = _x_positions(ds, x_key)
        order = np.argsort(x, kind="stable")
        ax.plot(x[order], y_all[order], "o-", ms=3)
    if labels is not None:
        ax.set_xticks(np.arange(len(labels)), labels, rotation=20, fontsize=8)
    elif _log_axis(ds, x_key):
        ax.set_xscale("log")
        _plain_log(ax.xaxis)
    if _log_values(y_all):
        ax.set_yscale("log")
    _set_label(ax, "x", ds, x_key)
    _set_metric_label(ax, ds, metric)
    ax.set_title(ds.attrs.get("title", ""), fontsize=9)
    return fig


def heatmap_figure(ds, metric: str):
    """``metric`` over the first two keys of a grid (others at their first value)."""
    from matplotlib.colors import LogNorm

    keys = sweep_dims(ds)
    xk, yk = keys[0], keys[1]
    da = ds[metric]
    if len(keys) > 2:
        da = da.isel({k: 0 for k in keys[2:]})
    z = da.transpose(yk, xk).values
    fig, ax = _figure()
    fig.subplots_adjust(right=0.95)
    x, xl = _x_positions(ds, xk)
    y, yl = _x_positions(ds, yk)
    pos = z[np.isfinite(z) & (z > 0)]
    norm = None
    data = np.ma.masked_invalid(z)
    import matplotlib

    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.85")
    label = metric
    if _log_values(pos):
        norm = LogNorm(vmin=float(pos.min()), vmax=float(pos.max()))
        data = np.ma.masked_where(~np.isfinite(z) | (z <= 0), z)
        if np.any(np.isfinite(z) & (z <= 0)):
            label += " (grey: 0 or failed)"
    mesh = ax.pcolormesh(x, y, data, shading="nearest", cmap=cmap, norm=norm)
    fig.colorbar(mesh, ax=ax, label=label)
    for key, lab, setter, scale, axis in ((xk, xl, ax.set_xticks, ax.set_xscale, ax.xaxis),
                                          (yk, yl, ax.set_yticks, ax.set_yscale, ax.yaxis)):
        if lab is not None:
            setter(np.arange(len(lab)), lab, fontsize=8)
        elif _log_axis(ds, key):
            scale("log")
            _plain_log(axis)
    _set_label(ax, "x", ds, xk)
    _set_label(ax, "y", ds, yk)
    ax.set_title(f"{ds.attrs.get('title', '')}: {metric}", fontsize=9)
    return fig


def sensitivity_figure(sens, metrics=None):
    """PRCC of every parameter (columns) for each metric (rows), -1 blue to +1 red."""
    names = [str(m) for m in sens["metric"].values]
    chosen = [m for m in (metrics or names) if m in names] or names
    sub = sens.sel(metric=chosen)
    r = sub["prcc"].values
    params = [str(p) for p in sub["parameter"].values]
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.3 * len(params) + 3.6, 0.42 * len(chosen) + 2.4))
    fig.subplots_adjust(left=0.24, right=0.98, bottom=0.34, top=0.9)
    mesh = ax.imshow(r, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for i in range(r.shape[0]):
        for j in range(r.shape[1]):
            if np.isfinite(r[i, j]):
                ax.text(j, i, f"{r[i, j]:+.2f}", ha="center", va="center", fontsize=7,
                        color="w" if abs(r[i, j]) > 0.6 else "k")
    ax.set_xticks(range(len(params)), params, rotation=25, ha="right", fontsize=7)
    ax.set_yticks(range(len(chosen)), chosen, fontsize=7)
    fig.colorbar(mesh, ax=ax, label="PRCC")
    ax.set_title(f"sensitivity (PRCC, {sens.attrs.get('points', '?')} points)", fontsize=9)
    return fig


def write_plots(ds, directory, metrics=None, sens=None, sens_metrics=None) -> list[Path]:
    """Write the plots of a sweep into ``directory``; return their paths.

    ``sweep_<metric>.png`` for every metric; ``heatmap_<metric>.png`` for
    grids of two or more keys; ``sensitivity.png`` when ``sens`` is given.
    """

    from exodiff.report.outputs import save_figures

    out = Path(directory)
    figs = {}
    keys = sweep_dims(ds)
    for m in metrics if metrics is not None else default_plot_metrics(ds):
        figs[f"sweep_{m}"] = metric_figure(ds, m)
        if ds.attrs.get("sweep_mode") == "grid" and len(keys) >= 2:
            figs[f"heatmap_{m}"] = heatmap_figure(ds, m)
    if sens is not None and sens.sizes.get("parameter", 0):
        figs["sensitivity"] = sensitivity_figure(sens, sens_metrics)
    return save_figures(figs, out, dpi=110)
