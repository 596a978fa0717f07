"""Overlay plots of a comparison: one line or bar per variant.

- :func:`target_amount`: fraction of the dose in each variant's target layer
  over time;
- :func:`profiles`: depth profiles at matching times, as fraction of the dose
  per micrometre of depth, so variants dosed in different units (particles,
  ug) share an axis;
- :func:`distribution`: stacked bars of where the dose is at the end of each
  run, by compartment.

Only ``fraction``, ``concentration(time, depth)`` and the ``applied_dose`` of
each result are used (see :mod:`exodiff.results.metrics` for several species and size
classes).  Variants where nothing arrives are drawn or named, never dropped:
a log axis cannot show a zero, so they are listed in the legend as "none".
"""

from __future__ import annotations

import io

import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from exodiff.report.labels import nice_time, words  # noqa: E402
from exodiff.report.plotting import label_layers, log_axis, log_floor  # noqa: E402
from exodiff.results import metrics  # noqa: E402

#: Colours of the removal compartments in the stacked bars (layers get a
#: sequential map, the vehicle grey).
_REMOVAL_COLOURS = {"degraded": "#b07aa1", "taken_up": "#59a14f", "cleared": "#e15759", "removed": "#bab0ac"}

def _colours(n: int):
    cmap = plt.get_cmap("tab10")
    return [cmap(i % 10) for i in range(n)]


def _views(ds):
    """(label suffix, linestyle, one-species view) for every species of a run."""
    ds = metrics.totals(ds)
    styles = ["-", "--", ":", "-."]
    return [("" if i == 0 else f" ({s})", styles[i % len(styles)], metrics.species_view(ds, s))
            for i, s in enumerate(metrics.species_names(ds))]


def target_amount(comparison):
    """Fraction of the dose in the target layer over time, one line per variant (log scale)."""
    fig, ax = plt.subplots(figsize=(9.0, 4.5))
    fig.subplots_adjust(left=0.1, right=0.64, bottom=0.12, top=0.9)
    top = 0.0
    none = []
    lines = []
    for v, colour in zip(comparison.variants, _colours(len(comparison.variants))):
        ds = comparison.results[v.name]
        T = metrics.target_layer(ds, v.target)
        for suffix, ls, view in _views(ds):
            t = view["time"].values
            f = view["fraction"].sel(compartment=T).values
            label = f"{words(v.name)}{suffix} ({words(T)})"
            if np.any(f > 0):
                top = max(top, float(f.max()))
                lines.append((t, f, label, colour, ls))
            else:
                none.append(label)
    for t, f, label, colour, ls in lines:
        ax.plot(t, np.where(f > 0, f, np.nan), ls, color=colour, label=label, lw=1.6)
    for label in none:
        ax.plot([], [], " ", label=f"{label}: none")
    if lines:
        log_axis(ax, "y")
        ax.set_ylim(log_floor(top, [float(f.max()) for _, f, *_ in lines]), top * 2)
    else:
        ax.set_ylim(0, 1)
        ax.text(0.5, 0.5, "no variant reaches its target layer", transform=ax.transAxes, ha="center",
                va="center", color="0.3")
    t_end = max(float(comparison.results[v.name]["time"].values[-1]) for v in comparison.variants)
    ax.set_xlim(0, t_end)
    ax.set_xlabel("time (h)")
    ax.set_ylabel("fraction of applied dose in target layer")
    ax.set_title("Amount in the target layer")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(True, which="major", alpha=0.3)
    return fig


def _per_um(view, k: int) -> np.ndarray:
    """Concentration at output ``k`` as fraction of the applied dose per um of depth."""
    # c [unit cm-3] / dose [unit cm-2] = [cm-1]; x 1e-4 cm/µm
    return view["concentration"].isel(time=k).values / metrics.applied_dose(view) * 1e-4


def profile_times(comparison) -> list[float]:
    """Times (h) of the profile panels: the comparison's times, else the end of the shortest run."""
    if comparison.times_h:
        return list(comparison.times_h)[:6]
    return [min(float(comparison.results[v.name]["time"].values[-1]) for v in comparison.variants)]


def profiles(comparison):
    """Depth profiles at matching times (one panel per time), fraction of dose per um, log-log."""
    times = profile_times(comparison)
    n = len(times)
    ncol = min(n, 3)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol + 1.6, 3.2 * nrow + 0.6), squeeze=False,
                             sharey=True)
    fig.subplots_adjust(left=0.08 if ncol > 1 else 0.16, right=0.8 if ncol > 1 else 0.68, bottom=0.14,
                        top=0.86, wspace=0.08, hspace=0.45)
    colours = _colours(len(comparison.variants))
    top = 0.0
    peaks = []
    zmin, zmax = np.inf, 0.0
    drawn = set()
    panels = []
    for j, th in enumerate(times):
        ax = axes[j // ncol][j % ncol]
        any_line = False
        for v, colour in zip(comparison.variants, colours):
            ds = comparison.results[v.name]
            for suffix, ls, view in _views(ds):
                t = view["time"].values
                k = int(np.argmin(np.abs(t - th)))
                z = view["depth"].values
                y = _per_um(view, k)
                zmin, zmax = min(zmin, float(z[z > 0].min())), max(zmax, float(z.max()))
                label = f"{words(v.name)}{suffix}"
                if np.any(y > 0):
                    any_line = True
                    top = max(top, float(y.max()))
                    peaks.append(float(y.max()))
                    ax.plot(z, np.where(y > 0, y, np.nan), ls, color=colour, lw=1.4,
                            label=label if label not in drawn else None)
                    drawn.add(label)
        first = comparison.results[comparison.variants[0].name]
        layer_faces = [float(x) for x in first.attrs.get("layer_interfaces_um", [])]
        layer_names = [str(x) for x in first["layer"].values]
        if not any_line:
            ax.text(0.5, 0.5, "nothing in the skin", transform=ax.transAxes, ha="center", va="center",
                    color="0.3", fontsize=9)
        log_axis(ax, "x")
        ax.set_title(f"t = {nice_time(th)}", fontsize=10)
        ax.set_xlabel("depth (µm)")
        if j % ncol == 0:
            ax.set_ylabel("fraction of dose per µm")
        panels.append((ax, layer_faces, layer_names))
        ax.grid(True, which="major", alpha=0.3)
    for j in range(n, nrow * ncol):
        axes[j // ncol][j % ncol].set_visible(False)
    for row in axes:
        for ax in row:
            if np.isfinite(zmin):
                ax.set_xlim(zmin, zmax)
            if top > 0:
                log_axis(ax, "y")
                ax.set_ylim(log_floor(top, peaks), top * 3)
    for ax, layer_faces, layer_names in panels:
        label_layers(ax, layer_faces, layer_names, "x", line="0.5")
    blank = [f"{words(v.name)}: none" for v in comparison.variants if words(v.name) not in drawn]
    handles, labels = axes[0][0].get_legend_handles_labels()
    for row in axes:
        for ax in row[1:] if len(row) > 1 else []:
            h, lab = ax.get_legend_handles_labels()
            for hh, ll in zip(h, lab):
                if ll not in labels:
                    handles.append(hh)
                    labels.append(ll)
    for b in blank:
        handles.append(plt.Line2D([], [], ls=" "))
        labels.append(b)
    fig.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(0.81 if ncol > 1 else 0.69, 0.86),
               frameon=False)
    fig.suptitle("Depth profiles (layer boundaries dashed)", fontsize=11)
    return fig


def distribution(comparison):
    """Where the dose is at the end: stacked bars by compartment, one per variant.

    Left, the whole applied dose; right, what entered the skin, so that a
    variant delivering a millionth of its dose still shows where that went.
    """
    names = [v.name for v in comparison.variants]
    views = {v.name: _views(comparison.results[v.name])[0][2] for v in comparison.variants}
    comps: list[str] = []
    for view in views.values():
        comps += [str(c) for c in view["compartment"].values if str(c) not in comps]
    layers = [c for c in comps if c not in ("vehicle", *_REMOVAL_COLOURS)]
    lay_cmap = plt.get_cmap("YlOrBr")
    colour = {"vehicle": "#4e79a7"}
    for i, c in enumerate(layers):
        colour[c] = lay_cmap(0.35 + 0.55 * i / max(1, len(layers) - 1))
    colour.update(_REMOVAL_COLOURS)

    def end_fraction(n: str, c: str) -> float:
        view = views[n]
        return float(view["fraction"].sel(compartment=c).values[-1]) if c in view["compartment"].values else 0.0

    entered = {}
    for n in names:
        deliv = metrics.delivered(views[n])
        entered[n] = float(next(iter(deliv.values()))[-1]) if deliv else 0.0
    # the legend goes under the bars, in rows of five, and the "entered ..." notes in the right margin:
    # neither may cover a bar or a label
    legend_rows = -(-len(comps) // 5)
    h = 0.42 * len(names) + 1.6 + 0.22 * legend_rows
    bottom = (0.75 + 0.22 * legend_rows + 0.1) / h
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, h), sharey=True)
    fig.subplots_adjust(left=0.17, right=0.8, wspace=0.3, bottom=bottom, top=1 - 0.5 / h)
    y = np.arange(len(names))[::-1]
    left = np.zeros(len(names))
    left2 = np.zeros(len(names))
    skin_comps = [c for c in comps if c not in ("vehicle", "removed")]
    for c in comps:
        vals = np.clip([end_fraction(n, c) for n in names], 0.0, None)
        ax.barh(y, vals, left=left, color=colour.get(c), label=words(c), height=0.65, edgecolor="white", lw=0.4)
        left += vals
        if c in skin_comps:
            share = np.array([end_fraction(n, c) / entered[n] if entered[n] > 0 else 0.0 for n in names])
            share = np.clip(share, 0.0, None)
            ax2.barh(y, share, left=left2, color=colour.get(c), height=0.65, edgecolor="white", lw=0.4)
            left2 += share
    for yi, n in zip(y, names):
        text = f"entered {metrics_format(entered[n])} of dose" if entered[n] > 0 else "nothing entered"
        ax2.text(0.02 if entered[n] <= 0 else 1.02, yi, text, va="center", fontsize=7.5,
                 ha="left", color="0.3")
    ax.set_yticks(y, [words(n) for n in names])
    for a in (ax, ax2):
        a.set_xlim(0, 1)
    ax.set_xlabel("fraction of applied dose")
    ax2.set_xlabel("fraction of what entered the skin")
    ends = sorted({float(comparison.results[n]["time"].values[-1]) for n in names})
    at = nice_time(ends[0]) if len(ends) == 1 else "the end of each run (" + ", ".join(nice_time(e) for e in ends) + ")"
    ax.set_title(f"Whole dose at {at}", fontsize=10)
    ax2.set_title("What entered the skin, at the end", fontsize=10)
    fig.legend(*ax.get_legend_handles_labels(), fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 0.02),
               ncol=min(5, len(comps)), frameon=False)
    return fig


def metrics_format(x: float) -> str:
    """A small fraction for an annotation: ``0``, ``3.2e-06``, ``0.41``."""
    return "0" if x == 0 else f"{x:.2g}"


def all_figures(comparison) -> dict:
    """Every comparison figure, by file stem."""
    return {"target_amount": target_amount(comparison), "profiles": profiles(comparison),
            "distribution": distribution(comparison)}


def render(comparison, dpi: int = 110) -> dict[str, bytes]:
    """Every comparison figure as PNG bytes, by file stem."""
    out = {}
    for stem, fig in all_figures(comparison).items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        plt.close(fig)
        out[stem] = buf.getvalue()
    return out
