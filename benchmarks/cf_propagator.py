"""A candidate for issue 13: the Caratheodory-Fejer (CF) rational propagator on the 1D benchmark problem.

Between events with constant coefficients (no evaporation, no closing
channel) the 1D semi-discretisation is ``dm/dt = J m`` with ``J = A C^-1``,
so one output interval ``h`` is ``m <- exp(hJ) m``.  The type (n, n) CF
approximation of ``exp`` on ``(-inf, 0]`` (Trefethen, Weideman & Schmelzer,
BIT 46 (2006) 653-670, their ``cf.m``; error ~9.28903^-n, Halphen's
constant) gives ``exp(hJ) m ~ sum_k c_k (hJ - z_k)^-1 m``: one complex
tridiagonal solve ``(hA - z_k C) y = m`` per conjugate pair of poles, whose
factorisations serve every interval of a constant output spacing.

This script measures, on ``bench_solver_1d.vesicle_problem`` (48 hourly
outputs) against its exact solution (``compare_reference.exact_regions``):

1. the error of the propagator per degree (numpy / scipy, not timed), on the
   auto and 4x grids;
2. the compiled cost of an output interval with P complex solves (Numba,
   best of 7 x 1000) and of a complex factorisation.

It is a measurement for choosing, not part of exodiff (docs/performance.md,
"A rational propagator").  Run (repository root)::

    python benchmarks/cf_propagator.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def cf_poles(n: int, K: int = 75, nf: int = 1024, scl: float = 9.0):
    """Poles ``z_k``, residues ``c_k`` and the CF singular value of the type (n, n) CF approximation of ``exp``
    on ``(-inf, 0]``: ``r(x) = sum_k c_k / (x - z_k)`` (a transcription of ``cf.m``, loc. cit.)."""
    from scipy.linalg import hankel, svd

    w = np.exp(2j * np.pi * np.arange(nf) / nf)
    t = w.real
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        F = np.exp(scl * (t - 1) / (t + 1 + 1e-16))  # exp transplanted to [-1, 1]
    c = np.real(np.fft.fft(F)) / nf  # its Chebyshev coefficients
    f = np.polyval(c[K::-1], w)
    U, S, Vh = svd(hankel(c[1:K + 1]))
    s = S[n]
    u = U[::-1, n]
    v = Vh[n, :].conj()
    pad = np.zeros(nf - K)
    b = np.fft.fft(np.concatenate([u, pad])) / np.fft.fft(np.concatenate([v, pad]))  # finite Blaschke product
    rt = f - s * w ** K * b
    zr = np.roots(v)
    qk = zr[np.abs(zr) > 1]
    pt = rt * np.polyval(np.poly(qk), w)
    ptc = np.real(np.fft.fft(pt) / nf)[n::-1]
    ck = np.array([np.polyval(ptc, q) / np.polyval(np.poly(np.delete(qk, k)), q) for k, q in enumerate(qk)])
    zk = scl * (qk - 1) ** 2 / (qk + 1) ** 2
    ck = 4 * ck * zk / (qk ** 2 - 1)
    return zk, ck, s


def accuracy(resolution: str, degrees) -> None:
    from bench_solver_1d import vesicle_problem
    from compare_reference import exact_regions, regions, semidiscrete
    from scipy.linalg import solve_banded

    sd = semidiscrete(vesicle_problem(resolution))
    ref, lam = exact_regions(sd)
    times = sd["times"]
    h = float(times[1] - times[0])
    cap, d, off = sd["cap"], sd["diag"], sd["off"]
    n = cap.size
    print(f"  {resolution} grid: {n} nodes, {times.size - 1} intervals of {h:g} s, h lambda_min = {lam.min() * h:.3g}")
    for deg in degrees:
        zk, ck, s = cf_poles(deg)
        keep = zk.imag >= 0  # one pole of each conjugate pair, weight 2; a real pole weight 1
        zs, cs = zk[keep], ck[keep]
        wts = np.where(np.abs(zs.imag) > 1e-12, 2.0, 1.0)
        cs = cs / np.sum(wts * np.real(cs / -zs))  # r(0) = 1 exactly: a constant state stays constant
        bands = []
        for z in zs:
            ab = np.zeros((3, n), dtype=complex)
            ab[0, 1:] = h * off
            ab[1] = h * d - z * cap
            ab[2, :-1] = h * off
            bands.append(ab)
        m = sd["m0"].astype(float)
        out = [m]
        for _ in range(times.size - 1):
            m = sum(wt * np.real(c * cap * solve_banded((1, 1), ab, m.astype(complex)))
                    for ab, c, wt in zip(bands, cs, wts))
            out.append(m)
        err = np.abs(regions(np.array(out), sd["slices"]) - ref).max() / sd["dose"]
        print(f"    degree {deg:2d}: {len(zs)} complex solves per interval, error {err:.2e} of the dose "
              f"(CF singular value {s:.1e})")


def compiled_cost(n: int, P: int) -> None:
    from numba import njit

    import exodiff.kernels.column1d as K

    @njit
    def factor(lower, diag, upper, rp, w):
        m = diag.shape[0]
        rp[m - 1] = 1.0 / diag[m - 1]
        for i in range(m - 2, -1, -1):
            w[i] = upper[i] * rp[i + 1]
            rp[i] = 1.0 / (diag[i] - w[i] * lower[i + 1])

    @njit
    def intervals(k, rps, ws, lowers, caps, cs, wts, m, y, x, acc):
        # k output intervals: m <- sum_p wt_p Re(c_p cap x_p), (h A - z_p C) x_p = m, factored (UL) as
        # factor_stage_matrix factors
        npole, nn = rps.shape
        for _ in range(k):
            acc[:] = 0.0
            for i in range(nn):
                y[i] = m[i]
            for p in range(npole):
                K.solve_factored(rps[p], ws[p], lowers[p], y, x)  # the 1D kernel's own solve, on complex data
                for i in range(nn):
                    acc[i] += wts[p] * (cs[p] * caps[i] * x[i]).real
            m[:] = acc

    rng = np.random.default_rng(0)
    lowers = -rng.random((P, n)).astype(complex)
    diags = 3.0 + rng.random((P, n)) + 1j * rng.random((P, n))
    rps, ws = np.empty((P, n), complex), np.empty((P, n), complex)
    for p in range(P):
        factor(lowers[p], diags[p], lowers[p], rps[p], ws[p])
    caps, cs, wts = rng.random(n) + 0.5, rng.random(P) + 0j, np.full(P, 2.0)
    m, y, x, acc = rng.random(n), np.empty(n, complex), np.empty(n, complex), np.empty(n)
    intervals(2, rps, ws, lowers, caps, cs, wts, m, y, x, acc)
    best = float("inf")
    for _ in range(7):
        m[:] = rng.random(n)
        t0 = time.perf_counter()
        intervals(1000, rps, ws, lowers, caps, cs, wts, m, y, x, acc)
        best = min(best, (time.perf_counter() - t0) / 1000)
    best_f = float("inf")
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(200):
            factor(lowers[0], diags[0], lowers[0], rps[0], ws[0])
        best_f = min(best_f, (time.perf_counter() - t0) / 200)
    print(f"  {n} nodes: an interval with {P} complex solves {best * 1e6:.2f} us ({best / P * 1e6:.2f} us per solve); "
          f"a complex factorisation {best_f * 1e6:.2f} us")


def main() -> None:
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average), {os.cpu_count()} cores")
    print("accuracy against the exact solution (max over outputs, vehicle and layers):")
    for res in ("auto", "4x"):
        accuracy(res, range(4, 13))
    print("compiled cost:")
    for n in (218, 869):
        for P in (3, 4, 5):
            compiled_cost(n, P)


if __name__ == "__main__":
    main()
