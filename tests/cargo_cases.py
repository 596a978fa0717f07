"""Cargo scenarios and the pieces of an independent method-of-lines reference shared by the cargo tests."""
from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

import exodiff

#: a miRNA carried by MSC exosomes, released in the tissue
MIRNA = {"name": "miR-21", "loading": "2e-8 ng/particle", "release_rate": "0.05 1/h",
         "molecular_weight": "7000 g/mol", "log_kow": -5, "half_life": "30 min", "uptake_rate": "0.2 1/h"}
MIRNA_RUN = {
    "skin": {"preset": "forearm", "layers": {"stratum_corneum": {"pore_radius": "30 nm"}}},
    "formulation": {"preset": "msc_exosome", "wash_off_time": "6 h", "cargo": MIRNA},
    "simulation": {"duration": "24 h", "output_interval": "1 h"},
}

#: free curcumin beside liposomes (all of it unencapsulated), the film washed off at 8 h
CURCUMIN_RUN = {
    "skin": {"preset": "forearm"},
    "formulation": {"preset": "liposome", "dose": "1e10 particles/cm^2", "vehicle_thickness": "20 um",
                    "wash_off_time": "8 h", "cargo": {"preset": "curcumin", "encapsulation_efficiency": 0.0}},
    "simulation": {"duration": "24 h", "output_interval": "1 h", "tolerance": 1e-7,
                   "resolution": {"cells": 120}},
}


def run(overrides=None, base=MIRNA_RUN):
    """``exodiff.run`` of a cargo scenario (default the miRNA one) with dotted-key overrides."""
    return exodiff.run(exodiff.load_scenario(base, overrides or {}))


def cargo_cells(ds, cells):
    """Our own uniform finite volumes for the free cargo of a result ``ds`` (its per-layer coefficients).

    Unknown ``u = c / K`` (continuous across layers), amounts ``K dz u``; face conductance the series
    resistance of the two half cells; a sink below; first-order loss ``k = degradation + uptake +
    clearance`` per layer.

    Returns
    -------
    dict
        ``lay`` (layer of each cell), ``cap`` (K dz, m), ``kk`` (loss rate, 1/s), ``g_in`` (between
        cells i and i+1, m/s), ``g_top`` (film | first cell), ``g_bot`` (last cell | sink), ``h`` (film, m).
    """
    sel = dict(species="cargo")
    D = ds["diffusivity"].sel(**sel).values * 1e-12  # m^2/s
    K = ds["partition"].sel(**sel).values
    k = (ds["degradation_rate"].sel(**sel).values + ds["uptake_rate"].sel(**sel).values
         + ds["clearance_rate"].sel(**sel).values) / 3600.0
    thick = ds["layer_thickness"].values * 1e-6
    lay = np.concatenate([np.full(n, j) for j, n in enumerate(cells)])
    dz = np.concatenate([np.full(n, thick[j] / n) for j, n in enumerate(cells)])
    half = 2 * D[lay] * K[lay] / dz
    return dict(lay=lay, cap=K[lay] * dz, kk=k[lay], g_in=1.0 / (1.0 / half[:-1] + 1.0 / half[1:]),
                g_top=half[0], g_bot=half[-1], h=float(ds.attrs["vehicle_thickness_um"]) * 1e-6)


def before_and_after_wash(on, off, y0, t_out, t_wash, film):
    """Solve ``dy/dt = on y`` up to ``t_wash``, drop the film unknowns ``film`` (washed off), then ``off``.

    scipy's BDF with the sparse matrices as Jacobians, rtol 1e-9; returns ``y`` at every output time
    (unknowns x times).
    """
    opts = dict(method="BDF", rtol=1e-9, atol=1e-16)
    first = solve_ivp(lambda _t, y: on @ y, (0.0, t_wash), y0, t_eval=t_out[t_out <= t_wash], jac=on, **opts)
    y1 = first.y[:, -1].copy()
    y1[film] = 0.0
    second = solve_ivp(lambda _t, y: off @ y, (t_wash, t_out[-1]), y1, t_eval=t_out[t_out > t_wash], jac=off,
                       **opts)
    return np.concatenate([first.y, second.y], axis=1)
