"""Plots of one run: depth-time map, depth profiles, amounts by compartment.

Each function takes the result Dataset and returns a matplotlib Figure; the
caller decides where it goes.  The non-interactive Agg backend is used so
plotting works on machines without a display.
"""

from __future__ import annotations

import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from exodiff.report.labels import nice_time, unit_text, words  # noqa: E402

#: Decades shown below the largest value on a log axis at least, and at most
#: (the axis reaches down to a tenth of the smallest curve's peak between).
LOG_DECADES_MIN, LOG_DECADES_MAX = 6, 16


def log_floor(top: float, peaks, decades_min: float = LOG_DECADES_MIN, decades_max: float = LOG_DECADES_MAX,
              least: float = 0.0) -> float:
    """Lower limit of a log axis: every curve's peak visible, within the decade limits.

    Parameters
    ----------
    top : float
        Largest value drawn.
    peaks : iterable of float
        Each curve's largest value; the floor is a tenth of the smallest
        positive one, at least ``decades_min`` decades below ``top``.
    decades_min, decades_max : float
        Decades shown below ``top`` at least and at most.
    least : float
        No floor below this (the smallest amount that means something, e.g.
        the run's mass-balance error as a fraction of the dose).
    """
    low = min([top * 10.0 ** -decades_min, *(0.1 * p for p in peaks if p > 0)])
    return max(low, top * 10.0 ** -decades_max, least)


def log_axis(ax, which: str = "y") -> None:
    """Log scale with a few major ticks and no minor ones (minor log ticks cost ~0.5 s per axis to draw)."""
    from matplotlib.ticker import LogLocator, NullLocator

    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    axis = ax.yaxis if which == "y" else ax.xaxis
    axis.set_major_locator(LogLocator(base=10, numticks=6))
    axis.set_minor_locator(NullLocator())


def _figure(right: float = 0.95):
    # a fixed layout: constrained/tight layout costs ~0.5 s per log-scaled
    # axis (tick bounding boxes), which would dominate a cached CLI run
    fig, ax = plt.subplots(figsize=(7, 4.5))
    fig.subplots_adjust(left=0.12, right=right, bottom=0.12, top=0.9)
    return fig, ax


def _spread(positions, gap: float) -> list[float]:
    """Positions (axes fraction, increasing) pushed apart to at least ``gap``, so names of thin layers do not overlap."""
    out: list[float] = []
    for p in positions:
        out.append(max(p, out[-1] + gap) if out else p)
    return out


def label_layers(ax, faces_um, names, axis: str = "y", colour: str = "0.25", line: str = "0.3") -> None:
    """Dashed lines at the layer boundaries and each layer's name just inside its top face.

    ``axis`` is the depth axis ("y": depth down the axis, "x": depth to the
    right, linear or log).  Call it after the axis' scale and limits are
    set: names are placed in axes fractions through the axis' transform.
    Names of thin layers are pushed apart so they stay readable; a layer
    starting beyond the axis is not named.
    """
    faces = [float(x) for x in faces_um]
    for z in faces[1:-1]:
        (ax.axhline if axis == "y" else ax.axvline)(z, color=line, lw=0.6, ls="--")
    lim = sorted(ax.get_ylim() if axis == "y" else ax.get_xlim())
    to_axes = ax.transData + ax.transAxes.inverted()
    frac = []
    for f in faces[:len(names)]:
        if f >= lim[1]:
            break
        z = max(f, lim[0])
        if axis == "y":
            frac.append(1.0 - float(to_axes.transform((0.0 if ax.get_xscale() == "linear" else 1.0, z))[1]))
        else:
            frac.append(float(to_axes.transform((z, 1.0 if ax.get_yscale() == "log" else 0.0))[0]))
    frac = _spread([min(max(q, 0.0), 1.0) for q in frac], 0.045 if axis == "y" else 0.035)
    for name, q in zip(names, frac):
        if q > 0.96:
            break
        if axis == "y":  # the name at the right edge, below the face
            ax.text(0.99, 1.0 - q - 0.008, words(name), transform=ax.transAxes, ha="right", va="top", fontsize=7,
                    color=colour)
        else:  # the name turned up along the face, at the top, on a light box over the curves
            ax.text(q + 0.004, 0.98, words(name), transform=ax.transAxes, ha="left", va="top", rotation=90,
                    fontsize=7, color=colour, bbox=dict(fc="w", ec="none", alpha=0.75, pad=0.6))


def _conc_label(ds, var: str = "concentration") -> str:
    return f"concentration ({unit_text(ds[var].attrs.get('units', ''))})"


def _faces(ds):
    return [float(x) for x in ds.attrs.get("layer_interfaces_um", [])]


def depth_time_map(ds, max_depth_um: float | None = None):
    """Concentration over depth (um) and time (h) on a log colour scale, layers named at their boundaries."""
    c = ds["concentration"].values
    t = ds["time"].values
    z = ds["depth"].values
    fig, ax = _figure(right=0.98)
    pos = c[c > 0]
    if pos.size:
        vmax = float(pos.max())
        vmin = max(float(pos.min()), vmax * 1e-8)
        norm = LogNorm(vmin=vmin, vmax=vmax)
        data = np.where(c > vmin, c, vmin)
    else:
        norm, data = None, c
    mesh = ax.pcolormesh(t, z, data.T, norm=norm, shading="nearest", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label=_conc_label(ds))
    deep = max_depth_um if max_depth_um else float(z[-1])
    ax.set_ylim(deep, 0)
    label_layers(ax, _faces(ds), [str(x) for x in ds["layer"].values], "y", colour="w", line="0.8")
    ax.set_xlabel("time (h)")
    ax.set_ylabel("depth (µm)")
    ax.set_title(ds.attrs.get("title", ""))
    return fig


def profiles(ds, times_h=None):
    """Depth profiles of concentration at chosen times (log scale), layers named at their boundaries."""
    t = ds["time"].values
    if times_h is None:
        idx = np.unique(np.linspace(1, t.size - 1, min(5, t.size - 1)).round().astype(int))
    else:
        idx = np.unique([int(np.argmin(np.abs(t - x))) for x in times_h])
    fig, ax = _figure(right=0.8)
    z = ds["depth"].values
    any_pos = False
    for k in idx:
        c = ds["concentration"].values[k]
        any_pos |= bool(np.any(c > 0))
        ax.plot(z, np.where(c > 0, c, np.nan) if np.any(c > 0) else c, label=nice_time(t[k]))
    if any_pos:
        log_axis(ax, "y")
        top = ds["concentration"].values[idx].max()
        ax.set_ylim(top * 1e-8, top * 2)
    ax.set_xlim(0, float(_faces(ds)[-1]) if _faces(ds) else float(z[-1]))
    label_layers(ax, _faces(ds), [str(x) for x in ds["layer"].values], "x")
    ax.set_xlabel("depth (µm)")
    ax.set_ylabel(_conc_label(ds))
    ax.legend(title="time", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(ds.attrs.get("title", ""))
    return fig


def _wash_note(ds) -> str:
    w = ds.attrs.get("wash_off_time_h")
    return f"removed: the vehicle\nwashed off at {nice_time(w)}" if w is not None else ""


def compartments(ds):
    """Fraction of the dose in each compartment over time, on a log axis scaled to the data.

    The axis reaches down to a tenth of the smallest compartment's peak (so
    amounts of 1e-12 of the dose in intact skin show as curves, not as a
    line on zero), but not below the run's largest mass-balance error:
    smaller amounts cannot be told from round-off.  Compartments that stay
    below it are named in the legend as such.
    """
    fig, ax = _figure(right=0.74)
    t = ds["time"].values
    err = float(np.nanmax(np.abs(ds["mass_balance_error"].values))) if "mass_balance_error" in ds else 0.0
    curves, small = [], []
    for comp in ds["compartment"].values:
        f = ds["fraction"].sel(compartment=comp).values
        peak = float(np.nanmax(f)) if f.size else 0.0
        if peak > err and peak > 0:
            curves.append((str(comp), f, peak))
        elif np.any(f != 0):
            small.append(str(comp))
    top = max([p for *_, p in curves], default=0.0)
    for name, f, _ in curves:
        ax.plot(t, np.where(f > 0, f, np.nan), label=words(name))
    for name in small:
        ax.plot([], [], " ", label=f"{words(name)}: < {err:.0e}")
    if curves:
        log_axis(ax, "y")
        ax.set_ylim(log_floor(top, [p for *_, p in curves], least=err), max(1.05, top * 1.5))
    else:
        ax.set_ylim(0, 1.05)
    ax.set_xlim(0, float(t[-1]))
    ax.set_xlabel("time (h)")
    ax.set_ylabel("fraction of applied dose")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    note = _wash_note(ds)
    if ds.attrs.get("vehicle") == "infinite":
        note = "infinite donor: fractions\nare of the donor's amount,\nso they can exceed 1"
    if note:
        ax.text(1.02, 0.0, note, transform=ax.transAxes, fontsize=7, color="0.35", va="bottom", ha="left")
    ax.set_title(ds.attrs.get("title", ""))
    return fig


def plasma(ds):
    """Plasma concentration over time (a ``[systemic]`` model), the applications marked."""
    fig, ax = _figure()
    t = ds["time"].values
    ax.plot(t, ds["plasma_concentration"].values, color="C3")
    for ta in np.atleast_1d(ds.attrs.get("application_times_h", []))[1:]:
        ax.axvline(float(ta), color="0.6", lw=0.6, ls=":")
    ax.set_xlabel("time (h)")
    ax.set_ylabel(f"plasma concentration ({ds['plasma_concentration'].attrs.get('units', '')})")
    ax.set_title(f"{ds.attrs.get('title', '')}: {ds.attrs.get('systemic_model', '')}, "
                 f"{ds.attrs.get('treated_area_cm2', 1.0):g} cm^2")
    return fig


def _species(ds, name: str):
    """One species of a run with a ``species`` dimension, titled, as a plain single-species dataset."""
    one = ds.sel(species=name, drop=True)
    one.attrs = dict(ds.attrs)
    if name != "vesicle":
        label = ds.attrs.get("cargo_name", name)
        one.attrs["title"] = f"{ds.attrs.get('title', '')}: {label} (free + in vesicles)"
    return one


def region_outline(ds, codes) -> tuple[np.ndarray, np.ndarray]:
    """Outline (µm) of the cells whose region code is in ``codes``, mirrored about the axis.

    Drawn on the cell faces, so a stepped cone shows its staircase and a
    coagulation cup its bottom; empty arrays when there is no such cell.
    Assumes each row's region cells start at the axis (the unit cell's
    channel and rim do).
    """
    mask = np.isin(ds["region"].values, codes)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return np.empty(0), np.empty(0)
    rf = np.concatenate([[0.0], np.cumsum(ds["cell_width_radial"].values)])
    zf = np.concatenate([[0.0], np.cumsum(ds["cell_width"].values)])
    xs, ys = [], []
    for i in rows:
        r = rf[np.flatnonzero(mask[i]).max() + 1]
        xs += [r, r]
        ys += [zf[i], zf[i + 1]]
    x = np.array(xs + [0.0])
    y = np.array(ys + [ys[-1]])
    return np.concatenate([-x[::-1], x]), np.concatenate([y[::-1], y])


def rz_maps(ds, times_h=None, max_depth_um: float | None = None):
    """r-z concentration maps of a unit-cell run at up to three times (log colour scale).

    The channel (and coagulation rim) outline is drawn; the map is mirrored
    about the axis so the channel reads as a channel.
    """
    c = ds["concentration_rz"].values
    t = ds["time"].values
    if times_h is None:
        idx = np.unique(np.linspace(1, t.size - 1, min(3, t.size - 1)).round().astype(int))
    else:
        idx = np.unique([int(np.argmin(np.abs(t - x))) for x in times_h])[:3]
    z = ds["depth"].values
    r = ds["radius"].values
    rr = np.concatenate([-r[::-1], r])
    pos = c[idx][c[idx] > 0]
    vmax = float(pos.max()) if pos.size else 1.0
    vmin = max(float(pos.min()), vmax * 1e-8) if pos.size else 1e-8
    fig, axes = plt.subplots(1, len(idx), figsize=(4.2 * len(idx) + 1.2, 4.8), squeeze=False)
    fig.subplots_adjust(left=0.07, right=0.88, bottom=0.12, top=0.88, wspace=0.25)
    zmax = max_depth_um or min(float(z[-1]), 2.5 * float(ds.attrs.get("channel_depth_um", z[-1])) or z[-1])
    mesh = None
    for ax, k in zip(axes[0], idx):
        data = np.where(c[k] > vmin, c[k], vmin)
        data = np.concatenate([data[:, ::-1], data], axis=1)
        mesh = ax.pcolormesh(rr, z, data, norm=LogNorm(vmin=vmin, vmax=vmax), shading="nearest", cmap="viridis")
        if "region" in ds:
            for codes, style in (((1,), dict(lw=0.9)), ((1, 2), dict(lw=0.6, ls=":"))):
                if codes == (1, 2) and not np.any(ds["region"].values == 2):
                    continue
                x, y = region_outline(ds, codes)
                if x.size:
                    ax.plot(x, y, color="w", **style)
        ax.set_ylim(zmax, 0)
        label_layers(ax, _faces(ds), [str(x) for x in ds["layer"].values], "y", colour="w", line="0.8")
        ax.set_xlabel("distance from channel axis (µm)")
        ax.set_title(nice_time(t[k]), fontsize=10)
    axes[0][0].set_ylabel("depth (µm)")
    cax = fig.add_axes([0.9, 0.12, 0.015, 0.76])
    fig.colorbar(mesh, cax=cax, label=_conc_label(ds, "concentration_rz"))
    fig.suptitle(ds.attrs.get("title", ""), fontsize=11)
    return fig


def all_figures(ds, profile_times_h=None) -> dict:
    """Every standard figure of a run, by file stem.

    With a tracked cargo (a ``species`` dimension) the standard figures show
    the vesicles and a second set, suffixed ``_cargo``, the cargo.
    """
    if "species" in ds.dims:
        out = {}
        for name in [str(x) for x in ds["species"].values]:
            one = _species(ds, name)
            suffix = "" if name == "vesicle" else f"_{name}"
            out.update({f"{k}{suffix}": v for k, v in all_figures(one, profile_times_h).items()})
        return out
    figs = {
        "concentration_map": depth_time_map(ds),
        "profiles": profiles(ds, profile_times_h),
        "compartments": compartments(ds),
    }
    if "concentration_rz" in ds:
        figs["concentration_rz"] = rz_maps(ds, profile_times_h)
    if "plasma_concentration" in ds:
        figs["plasma"] = plasma(ds)
    return figs
