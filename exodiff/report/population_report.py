"""Seeing a virtual population: tables, plots with bands, one self-contained ``report.html``.

Everything reads the bands Dataset of :func:`exodiff.studies.population.bands`
(``population.nc``: each metric over ``percentile``) and, for the
histograms, the persons' ``sweep.nc``; nothing here computes a metric.

- :func:`bands_text`, :func:`bands_csv`: metric, units and one column per percentile;
- :func:`interval_figure`: the 5-95 % band and the median of a group of
  metrics (compartment fractions at the end, delivered fractions, absolute
  amounts, plasma), one row each;
- :func:`time_band_figure`: ``fraction(time, compartment)``, median and band
  over time (only when the persons' profiles were kept);
- :func:`plasma_band_figure`: ``plasma_concentration(time)``, median and band
  (profiles kept and a ``[systemic]`` model);
- :func:`histogram_figure`: the persons' values of one metric with the percentiles marked;
- :func:`write_report`: the PNGs and ``report.html``;
- :func:`compare_text`, :func:`compare_csv`: populations side by side.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import numpy as np

from exodiff._version import __version__

__all__ = ["band_metrics", "metric_groups", "bands_text", "bands_csv", "interval_figure", "time_band_figure",
           "plasma_band_figure", "histogram_figure", "write_report", "population_html", "compare_text", "compare_csv"]

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; line-height: 1.4; padding: 0 1em; }
table { border-collapse: collapse; font-size: 0.9em; } th, td { border: 1px solid #ddd; padding: 3px 8px; }
th { background: #f3f3f3; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
figure img { max-width: 100%; border: 1px solid #eee; } .est { color: #a60; }
"""


def _pct(p: float) -> str:
    return f"{p:g} %"


def band_metrics(bands) -> list[str]:
    """Metrics of the bands (variables over ``percentile`` only), without the drawn keys."""
    keys = set(bands.attrs.get("sweep_dims", []))  # the drawn keys' names (formulation__diameter ...)
    return [v for v in bands.data_vars if bands[v].dims == ("percentile",) and v not in keys]


def metric_groups(bands) -> dict[str, list[str]]:
    """The metrics of the plots and the report, by what they measure."""
    names = band_metrics(bands)
    fr = [n for n in names if n.startswith("fraction_") and "_at_" not in n]
    return {
        "fraction of the dose at the end, by compartment": fr,
        "fraction of the dose delivered": [n for n in names if n.startswith("delivered_")
                                           and not n.endswith("_amount")]
        + [n for n in ("systemic_fraction",) if n in names],
        f"amount ({bands.attrs.get('dose_unit', 'dose unit')}) over the treated area": [
            n for n in names if n.startswith("amount_") or n.endswith("_amount")],
        "plasma": [n for n in names if n.startswith("plasma_")],
    }


def _unit(bands, name) -> str:
    u = str(bands[name].attrs.get("units", ""))
    return "" if u in ("", "1") else u


def _fmt(v) -> str:
    return "nan" if not math.isfinite(float(v)) else f"{float(v):.4g}"


def bands_text(bands, metrics=None) -> str:
    """A console table: metric, unit, one column per percentile."""
    pcts = [float(p) for p in bands["percentile"].values]
    names = metrics if metrics is not None else band_metrics(bands)
    header = ["metric", "unit", *(_pct(p) for p in pcts)]
    rows = [[n, _unit(bands, n), *(_fmt(v) for v in bands[n].values)] for n in names if n in bands]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) if i < 2 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    head = (f"{bands.attrs.get('title', 'population')}: {bands.attrs.get('persons', '?')} persons, "
            f"{bands.attrs.get('failed_persons', 0)} failed; percentiles over the persons")
    return "\n".join([head, *("  " + line(r) for r in [header, *rows])])


def bands_csv(bands) -> str:
    """``population.csv``: ``metric,units,p5,p50,p95`` (one column per percentile), every metric and drawn key."""
    pcts = [float(p) for p in bands["percentile"].values]
    lines = ["metric,units," + ",".join(f"p{p:g}" for p in pcts)]
    for v in bands.data_vars:
        if bands[v].dims == ("percentile",):
            lines.append(f"{v},{bands[v].attrs.get('units', '')}," + ",".join(repr(float(x)) for x in bands[v].values))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Plots


def _figure(w=7.5, h=4.5):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(w, h))
    return fig, ax


def _ends(bands):
    p = [float(x) for x in bands["percentile"].values]
    return int(np.argmin(p)), int(np.argmin(np.abs(np.array(p) - 50.0))), int(np.argmax(p)), p


def interval_figure(bands, names: list[str], title: str):
    """One row per metric: a bar from the lowest to the highest percentile and a dot at the median."""
    lo, mid, hi, p = _ends(bands)
    h = 1.2 + 0.35 * max(len(names), 1)
    fig, ax = _figure(7.5, h)
    fig.subplots_adjust(left=0.38, right=0.96, bottom=0.5 / h, top=1.0 - 0.4 / h)
    y = np.arange(len(names))[::-1]
    vals = np.array([bands[n].values for n in names]) if names else np.zeros((0, len(p)))
    ax.hlines(y, vals[:, lo], vals[:, hi], color="C0", lw=4, alpha=0.5, label=f"{_pct(p[lo])} - {_pct(p[hi])}")
    ax.plot(vals[:, mid], y, "o", color="C0", label="median")
    ax.set_yticks(y, [n + (f" [{_unit(bands, n)}]" if _unit(bands, n) else "") for n in names], fontsize=8)
    pos = vals[np.isfinite(vals)]
    if pos.size and np.all(pos > 0) and pos.max() / max(pos.min(), 1e-300) > 100:
        ax.set_xscale("log")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="best")
    ax.grid(axis="x", alpha=0.3)
    return fig


def time_band_figure(bands, variable: str = "fraction"):
    """Median and band of ``fraction(time, compartment)`` over the persons, one colour per compartment."""
    lo, mid, hi, p = _ends(bands)
    fig, ax = _figure()
    fig.subplots_adjust(left=0.11, right=0.75, bottom=0.12, top=0.9)
    t = bands["time"].values
    da = bands[variable].transpose("percentile", "time", "compartment")
    for j, c in enumerate(bands["compartment"].values):
        v = da.values[:, :, j]
        if not np.any(np.nan_to_num(v[hi]) > 0):
            continue
        ax.fill_between(t, v[lo], v[hi], color=f"C{j % 10}", alpha=0.25, lw=0)
        ax.plot(t, v[mid], color=f"C{j % 10}", label=str(c))
    ax.set_xlabel("time [h]")
    ax.set_ylabel("fraction of applied dose" if variable == "fraction" else f"amount [{_unit(bands, variable)}]")
    ax.set_title(f"median and {_pct(p[lo])} - {_pct(p[hi])} band over {bands.attrs.get('persons', '?')} persons",
                 fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    return fig


def plasma_band_figure(bands):
    """Median and band of ``plasma_concentration(time)`` over the persons."""
    lo, mid, hi, p = _ends(bands)
    fig, ax = _figure(7.0, 4.2)
    fig.subplots_adjust(left=0.13, right=0.96, bottom=0.13, top=0.9)
    t = bands["time"].values
    v = bands["plasma_concentration"].transpose("percentile", "time").values
    ax.fill_between(t, v[lo], v[hi], color="C3", alpha=0.25, lw=0, label=f"{_pct(p[lo])} - {_pct(p[hi])}")
    ax.plot(t, v[mid], color="C3", label="median")
    ax.set_xlabel("time [h]")
    ax.set_ylabel(f"plasma concentration [{_unit(bands, 'plasma_concentration')}]")
    ax.set_title(f"plasma over {bands.attrs.get('persons', '?')} persons", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    return fig


def histogram_figure(persons, bands, metric: str):
    """The persons' values of ``metric`` with the percentiles of the band marked."""
    fig, ax = _figure(6.5, 4.0)
    fig.subplots_adjust(left=0.12, right=0.96, bottom=0.14, top=0.9)
    v = persons[metric].values
    v = v[np.isfinite(v)]
    ax.hist(v, bins=max(5, min(40, v.size // 5)), color="C0", alpha=0.6)
    for p, q in zip(bands["percentile"].values, bands[metric].values):
        ax.axvline(q, color="k", ls="--" if float(p) != 50.0 else "-", lw=1)
        ax.annotate(_pct(float(p)), (q, 1.0), xycoords=("data", "axes fraction"), fontsize=8, ha="center",
                    va="bottom")
    ax.set_xlabel(metric + (f" [{_unit(bands, metric)}]" if _unit(bands, metric) else ""))
    ax.set_ylabel("persons")
    return fig


def _figures(bands, persons) -> dict:
    figs = {}
    for i, (title, names) in enumerate(metric_groups(bands).items()):
        if names:
            figs[f"population_bands_{i + 1}"] = interval_figure(bands, names, title)
    if "fraction" in bands and "time" in bands.dims:
        figs["population_fraction_time"] = time_band_figure(bands)
    if "plasma_concentration" in bands and "time" in bands.dims:
        figs["population_plasma_time"] = plasma_band_figure(bands)
    for m in ("delivered_target", "plasma_cmax"):
        if m in bands and persons is not None and m in persons:
            figs[f"population_hist_{m}"] = histogram_figure(persons, bands, m)
    return figs


def write_report(bands, persons, directory, definition=None) -> list[Path]:
    """Write the plots (``population_*.png``) and ``report.html`` into ``directory``; return their paths."""
    import io

    import matplotlib.pyplot as plt

    from exodiff.report.outputs import atomic_path

    directory = Path(directory)
    figs = _figures(bands, persons)
    pngs, written = {}, []
    for stem, fig in figs.items():
        buf = io.BytesIO()
        fig.savefig(buf, dpi=110, format="png")
        plt.close(fig)
        pngs[stem] = buf.getvalue()
        path = directory / f"{stem}.png"
        with atomic_path(path) as tmp:
            tmp.write_bytes(pngs[stem])
        written.append(path)
    page = population_html(bands, pngs, definition)
    with atomic_path(directory / "report.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    written.append(directory / "report.html")
    return written


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def population_html(bands, pngs: dict[str, bytes], definition=None) -> str:
    """The report page: who the persons are, the bands of every metric, the plots, the scenario."""
    pcts = [float(p) for p in bands["percentile"].values]
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8"><title>exodiff population</title>',
             f"<style>{_CSS}</style></head><body>", f"<h1>{_e(bands.attrs.get('title', 'population'))}</h1>",
             f"<p>{_e(bands.attrs.get('persons'))} persons ({_e(bands.attrs.get('failed_persons', 0))} failed), "
             f"body site {_e(bands.attrs.get('body_site', '?'))}"
             + (f", groups {_e(', '.join(definition.groups))}" if definition is not None and definition.groups else "")
             + (f", seed {_e(bands.attrs.get('population_seed'))}" if "population_seed" in bands.attrs else "")
             + f". Bands: {_e(bands.attrs.get('band_method', ''))}.</p>"]
    if definition is not None:
        parts.append("<h2>What varies</h2><table><tr><th>key</th><th>distribution</th><th>from</th>"
                     "<th>source</th></tr>")
        for d in definition.distributions:
            est = ' <span class="est">(estimate)</span>' if d.estimate else ""
            what = d.describe().split(": ", 1)[1].rsplit(" (", 1)[0]
            parts.append(f"<tr><td><code>{_e(d.key)}</code></td><td>{_e(what)}</td><td>{_e(d.origin)}</td>"
                         f"<td>{_e(d.source) or '-'}{est}{'<br>' + _e(d.note) if d.note else ''}</td></tr>")
        parts.append("</table>")
        if definition.kept:
            parts.append(f"<p>Kept at the scenario's own value for everyone: "
                         f"{_e(', '.join(definition.kept))}.</p>")
    parts.append("<h2>Bands</h2>")
    for title, names in metric_groups(bands).items():
        if not names:
            continue
        parts.append(f"<h3>{_e(title)}</h3><table><tr><th>metric</th><th>unit</th>"
                     + "".join(f"<th>{_e(_pct(p))}</th>" for p in pcts) + "</tr>")
        for n in names:
            parts.append(f"<tr><td><code>{_e(n)}</code></td><td>{_e(_unit(bands, n))}</td>"
                         + "".join(f"<td class=num>{_fmt(v)}</td>" for v in bands[n].values) + "</tr>")
        parts.append("</table>")
    for stem, data in pngs.items():
        b64 = base64.b64encode(data).decode("ascii")
        parts.append(f'<figure><img alt="{_e(stem)}" src="data:image/png;base64,{b64}"></figure>')
    parts.append(f"<h2>Scenario</h2><pre>{_e(bands.attrs.get('scenario', ''))}</pre>")
    if "population_definition" in bands.attrs:
        parts.append(f"<pre>{_e(bands.attrs['population_definition'])}</pre>")
    parts.append(f"<p>exodiff {_e(__version__)}</p></body></html>")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------
# Populations side by side


def compare_text(table) -> str:
    """One row per metric, one column per variant: ``median [low, high]``."""
    lo, mid, hi, p = _ends(table)
    variants = [str(v) for v in table["variant"].values]
    header = ["metric", "unit", *variants]
    rows = []
    for n in table.data_vars:
        v = table[n].transpose("variant", "percentile").values
        rows.append([n, _unit(table, n), *(f"{_fmt(v[i, mid])} [{_fmt(v[i, lo])}, {_fmt(v[i, hi])}]"
                                           for i in range(len(variants)))])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    head = f"median [{_pct(p[lo])}, {_pct(p[hi])}] over the persons of each population"
    return "\n".join([head, *("  " + line(r) for r in [header, *rows])])


def compare_csv(table) -> str:
    """``population_compare.csv``: ``metric,units,variant,p5,p50,p95``, one row per metric and variant."""
    pcts = [float(p) for p in table["percentile"].values]
    lines = ["metric,units,variant," + ",".join(f"p{p:g}" for p in pcts)]
    for n in table.data_vars:
        v = table[n].transpose("variant", "percentile").values
        for i, name in enumerate(table["variant"].values):
            lines.append(f"{n},{table[n].attrs.get('units', '')},{name}," + ",".join(repr(float(x)) for x in v[i]))
    return "\n".join(lines) + "\n"
