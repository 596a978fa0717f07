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


def _figure():
    # a fixed layout: constrained/tight layout costs ~0.5 s per log-scaled
    # axis (tick bounding boxes), which would dominate a cached CLI run
    fig, ax = plt.subplots(figsize=(7, 4.5))
    fig.subplots_adjust(left=0.12, right=0.95, bottom=0.12, top=0.92)
    return fig, ax


def _interfaces(ds):
    return [float(x) for x in ds.attrs.get("layer_interfaces_um", [])][1:-1]


def _label_layers(ax, ds, axis="y"):
    faces = [float(x) for x in ds.attrs.get("layer_interfaces_um", [])]
    names = [str(x) for x in ds["layer"].values]
    for z in faces[1:-1]:
        (ax.axhline if axis == "y" else ax.axvline)(z, color="0.3", lw=0.6, ls="--")
    return faces, names


def depth_time_map(ds, max_depth_um: float | None = None):
    """Concentration over depth and time on a log colour scale."""
    c = ds["concentration"].values
    t = ds["time"].values
    z = ds["depth"].values
    fig, ax = _figure()
    fig.subplots_adjust(right=0.98)
    pos = c[c > 0]
    if pos.size:
        vmax = float(pos.max())
        vmin = max(float(pos.min()), vmax * 1e-8)
        norm = LogNorm(vmin=vmin, vmax=vmax)
        data = np.where(c > vmin, c, vmin)
    else:
        norm, data = None, c
    mesh = ax.pcolormesh(t, z, data.T, norm=norm, shading="nearest", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label=f"concentration ({ds['concentration'].attrs['units']})")
    faces, names = _label_layers(ax, ds)
    for i, name in enumerate(names):
        if i + 1 < len(faces):
            ax.text(t[-1], 0.5 * (faces[i] + faces[i + 1]), f" {name}", va="center", fontsize=7, color="w",
                    ha="right")
    ax.set_ylim(max_depth_um if max_depth_um else z[-1], 0)
    ax.set_xlabel("time (h)")
    ax.set_ylabel("depth (um)")
    ax.set_title(ds.attrs.get("title", ""))
    return fig


def profiles(ds, times_h=None):
    """Depth profiles of concentration at chosen times (log scale)."""
    t = ds["time"].values
    if times_h is None:
        idx = np.unique(np.linspace(1, t.size - 1, min(5, t.size - 1)).round().astype(int))
    else:
        idx = np.unique([int(np.argmin(np.abs(t - x))) for x in times_h])
    fig, ax = _figure()
    z = ds["depth"].values
    any_pos = False
    for k in idx:
        c = ds["concentration"].values[k]
        any_pos |= bool(np.any(c > 0))
        ax.plot(z, c, label=f"{t[k]:.3g} h")
    if any_pos:
        ax.set_yscale("log")
        top = ds["concentration"].values[idx].max()
        ax.set_ylim(top * 1e-8, top * 2)
    _label_layers(ax, ds, axis="x")
    ax.set_xlabel("depth (um)")
    ax.set_ylabel(f"concentration ({ds['concentration'].attrs['units']})")
    ax.legend(title="time", fontsize=8)
    ax.set_title(ds.attrs.get("title", ""))
    return fig


def compartments(ds):
    """Fraction of the dose in each compartment over time."""
    fig, ax = _figure()
    t = ds["time"].values
    for comp in ds["compartment"].values:
        f = ds["fraction"].sel(compartment=comp).values
        if np.any(f != 0):
            ax.plot(t, f, label=str(comp))
    ax.set_yscale("symlog", linthresh=1e-6)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("time (h)")
    ax.set_ylabel("fraction of applied dose")
    ax.legend(fontsize=8, ncol=2)
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
    """Outline (um) of the cells whose region code is in ``codes``, mirrored about the axis.

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
        for zf in _interfaces(ds):
            ax.axhline(zf, color="0.8", lw=0.5, ls="--")
        ax.set_ylim(zmax, 0)
        ax.set_xlabel("distance from channel axis (um)")
        ax.set_title(f"{t[k]:.3g} h", fontsize=10)
    axes[0][0].set_ylabel("depth (um)")
    cax = fig.add_axes([0.9, 0.12, 0.015, 0.76])
    fig.colorbar(mesh, cax=cax, label=f"concentration ({ds['concentration_rz'].attrs.get('units', '')})")
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
