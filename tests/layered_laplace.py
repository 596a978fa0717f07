"""Analytic references of the layered 1D problem (tests and benchmarks/grid_accuracy.py).

* :func:`true_amounts`: the layered PDE (well-mixed film over layers with
  partition jumps and first-order loss, a sink or a closed bottom) solved in
  the Laplace domain and inverted numerically (fixed Talbot contour);
* :func:`exact_semidiscrete`: a grid's finite-volume system solved exactly in
  time (eigen-decomposition), so a space error is measured with no time error.
"""

from __future__ import annotations

import numpy as np


#: the held-out three-layer finite dose (a faster SC than the benchmark's: its front crosses in the first
#: hours), shared by tests/test_grid.py, tests/test_rz_grid_accuracy.py and benchmarks/grid_accuracy.py
HELD_OUT_TIMES = np.array([0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 24.0, 48.0]) * 3600.0
HELD_OUT_VEHICLE = 20e-6  # film thickness, m


def held_out_layers():
    """The held-out case's layers (SI): stratum corneum, viable epidermis, dermis."""
    from exodiff.problem.layered import Layer

    return (
        Layer("stratum_corneum", thickness=15e-6, diffusivity=1e-14, partition=2.0),
        Layer("viable_epidermis", thickness=80e-6, diffusivity=2e-12, partition=0.7,
              degradation_rate=2e-5, uptake_rate=3e-5),
        Layer("dermis", thickness=1.0e-3, diffusivity=1e-11, partition=1.0,
              degradation_rate=1e-5, clearance_rate=5e-5),
    )


def exact_semidiscrete(problem, times):
    """Amounts (k, 2 + L) per dose: film, layers, bottom sink; exact in time."""
    from scipy.linalg import eigh_tridiagonal

    a = problem.kernel_arrays()
    cap, g = a["cap"], a["g"]
    loss = a["cdeg"] + a["cup"] + a["ccl"]
    diag = -(g[:-1] + g[1:] + loss)
    s = np.sqrt(cap)
    lam, V = eigh_tridiagonal(diag / cap, g[1:-1] / (s[:-1] * s[1:]))
    m0 = np.zeros(cap.size)
    m0[0] = cap[0] * problem.concentration
    c = V.T @ (m0 / s)
    e = np.exp(np.outer(times, lam))
    m = s[None, :] * ((e * c) @ V.T)
    # bottom sink: g_bottom * integral of u_last
    integ = np.expm1(np.outer(times, lam)) / lam
    sink = g[-1] * ((integ * c) @ V[-1]) / s[-1]
    tissue = m[:, 1:]
    out = [m[:, 0]] + [tissue[:, sl].sum(axis=1) for sl in problem.grid.layer_slices] + [sink]
    return np.stack(out, axis=1) / problem.dose


def talbot(F, t, M=32):
    """Inverse Laplace transform at t > 0 by the fixed Talbot contour (Abate and Valko 2004).

    ``F`` takes a complex array.  About 0.6 M significant digits in exact
    arithmetic; in float64 about 1e-12 relative to the function's scale.
    """
    r = 2.0 * M / (5.0 * t)
    k = np.arange(1, M)
    theta = k * np.pi / M
    cot = 1.0 / np.tan(theta)
    sk = r * theta * (cot + 1j)
    sigma = theta + (theta * cot - 1.0) * cot
    val = 0.5 * np.exp(r * t) * F(np.array([r + 0j]))[0].real
    val += np.sum((np.exp(t * sk) * F(sk) * (1.0 + 1j * sigma)).real)
    return r / M * val


def laplace_amounts(layers, h_v, c0, bottom="sink"):
    """Laplace transforms of the film, layer and sink amounts (per area) of the layered PDE.

    Unknown ``u = c / K`` (continuous); in layer j ``D U'' = (s + k) U``,
    flux ``J = -D K U'``, ``q = sqrt((s + k)/D)``, ``w = D K q``.  Over a
    layer of thickness h, impedances ``Z = U / J`` go up as
    ``Z_top = (Z_bot + th / w) / (w th Z_bot + 1)`` (``th = tanh(q h)``; a sink
    below: ``Z_bot = 0``, a closed bottom ``Z_top = 1 / (w th)``) and fluxes
    down as ``J_bot = U_top / (cosh(q h) (Z_bot + th / w))``: only tanh and
    1 / cosh, which neither overflow nor lose the deep layers' tiny values.
    Film: ``h_v (s U0 - c0) = -J0``.  Returns ``F(s) -> (n_s, 2 + L)``.
    """
    def F(s):
        s = np.asarray(s, dtype=complex)
        qs, ws, ths, sechs = [], [], [], []
        for ly in layers:
            k = ly.degradation_rate + ly.uptake_rate + ly.clearance_rate
            q = np.sqrt((s + k) / ly.diffusivity)
            e = np.exp(-2.0 * q * ly.thickness)
            qs.append(q)
            ws.append(ly.diffusivity * ly.partition * q)
            ths.append((1.0 - e) / (1.0 + e))
            sechs.append(2.0 * np.exp(-q * ly.thickness) / (1.0 + e))
        Zb = [None] * len(layers)  # impedance below each layer
        z = np.zeros_like(s) if bottom == "sink" else None
        for j in range(len(layers) - 1, -1, -1):
            Zb[j] = z
            w, th = ws[j], ths[j]
            z = 1.0 / (w * th) if z is None else (z + th / w) / (w * th * z + 1.0)
        U0 = h_v * c0 / (h_v * s + 1.0 / z)
        U, J = U0, U0 / z
        fluxes = [J]
        for j in range(len(layers)):
            if Zb[j] is None:
                Jb = np.zeros_like(s)
                U = U * sechs[j]
            else:
                Jb = U * sechs[j] / (Zb[j] + ths[j] / ws[j])
                U = Zb[j] * Jb
            fluxes.append(Jb)
        out = [h_v * U0]
        for j, ly in enumerate(layers):
            k = ly.degradation_rate + ly.uptake_rate + ly.clearance_rate
            out.append((fluxes[j] - fluxes[j + 1]) / (s + k))
        out.append(fluxes[-1] / s)
        return np.stack(out, axis=-1)
    return F


def true_amounts(layers, times, h_v, c0=1.0, bottom="sink", M=32):
    """Film, layer and sink amounts per dose at ``times`` (k, 2 + L), analytic (Laplace + Talbot)."""
    F = laplace_amounts(layers, h_v, c0, bottom)
    out = np.array([[talbot(lambda s, i=i: F(s)[..., i], t, M) for i in range(len(layers) + 2)] for t in times])
    return out / (h_v * c0)
