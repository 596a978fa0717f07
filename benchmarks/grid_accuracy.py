"""Spatial error per cell of the 1D grid against the true PDE (issue 13).

Run from the repository root::

    python benchmarks/grid_accuracy.py            # the tables of docs/numerics.md ("Grid", "Accuracy target")
    python benchmarks/grid_accuracy.py --cost     # also: wall time to reach 1e-6 of the dose, before and now

What is measured
----------------
A three-layer finite dose (well-mixed film over a stratum corneum, a viable
epidermis and a dermis, partition jumps at both interfaces, first-order
losses, sink at the bottom), 48 h, outputs at 0.25, 0.5, 1, 2, 4, 8, 16, 24
and 48 h.  Error of a grid: max over the outputs and over the film, each
layer and the bottom sink of ``|amount - true| / dose``.

* Space only: every grid's semi-discrete system is solved *exactly* in time
  (eigen-decomposition of the symmetric tridiagonal ``C^-1/2 A C^-1/2``), so
  no time error hides the space error.
* "True": the layered PDE solved analytically in the Laplace domain (transfer
  matrices of ``D U'' = (s + k) U`` per layer, the film's balance on top)
  and inverted numerically (fixed Talbot contour, :func:`talbot`), checked
  against Richardson extrapolation of two uniform cell-centred grids.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from exodiff.problem.layered import Layer, Problem1D  # noqa: E402
from layered_laplace import exact_semidiscrete, talbot, true_amounts  # noqa: E402,F401

H = 3600.0
TIMES = np.array([0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 24.0, 48.0]) * H

#: held out from the benchmark: a faster SC (its front crosses in the first hours)
LAYERS = (
    Layer("stratum_corneum", thickness=15e-6, diffusivity=1e-14, partition=2.0),
    Layer("viable_epidermis", thickness=80e-6, diffusivity=2e-12, partition=0.7,
          degradation_rate=2e-5, uptake_rate=3e-5),
    Layer("dermis", thickness=1.0e-3, diffusivity=1e-11, partition=1.0,
          degradation_rate=1e-5, clearance_rate=5e-5),
)
VEHICLE = 20e-6


def problem(cells, stretch=None, layers=LAYERS):
    return Problem1D.from_layers(layers, output_times=TIMES, resolution=cells, vehicle="finite",
                                 vehicle_thickness=VEHICLE, stretch=stretch)


def error(p, ref):
    got = exact_semidiscrete(p, TIMES)
    return np.max(np.abs(got - ref))


def amounts(p, raw):
    """Film, layers and sink per dose at the outputs after 0 (like :func:`exact_semidiscrete`)."""
    from exodiff.solvers.ledger import tissue_amounts

    L = len(p.layers)
    return (np.column_stack([raw.u[:, 0] * p.vehicle_thickness, tissue_amounts(p, raw), raw.comp[:, 3 * L]])
            / p.dose)[1:]


def timed(fn, repeat=3):
    import time

    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def cost(target=1e-6):
    """Wall time of the cheapest setting that reaches ``target`` of the dose against the true PDE:
    before (graded grid, cells per layer and tolerance searched) and now (``accuracy = target``)."""
    import os
    from dataclasses import replace

    from bench_solver_1d import LAYERS as BENCH
    from exodiff.solvers.layered import integrate, integrate_estimated

    print(f"load: {open('/proc/loadavg').read().split()[:3]}")
    for name, layers in (("held-out", LAYERS), ("benchmark", BENCH)):
        ref = true_amounts(layers, TIMES, VEHICLE)
        best = None
        for n in (400, 500, 600, 700, 800):
            for tol in (1e-6, 3e-7, 1e-7, 3e-8, 1e-8):
                p = replace(problem([n] * 3, 0.75, layers), tolerance=tol)
                integrate(p)
                wall, raw = timed(lambda: integrate(p))
                err = np.max(np.abs(amounts(p, raw) - ref))
                if err <= target and (best is None or wall < best[0]):
                    best = (wall, n, tol, err, raw.stats["steps"])
        p = Problem1D.from_layers(layers, output_times=TIMES, vehicle="finite", vehicle_thickness=VEHICLE,
                                  accuracy=target)
        integrate_estimated(p)
        wall, raw = timed(lambda: integrate_estimated(p))
        err = np.max(np.abs(amounts(p, raw) - ref))
        print(f"{name}: before: {best[1]} graded cells/layer, tol {best[2]:.0e}: error {best[3]:.2e}, "
              f"{best[4]} steps, {best[0] * 1e3:.0f} ms")
        print(f"{name}: accuracy = {target:g}: cells {p.grid.cells_per_layer()} + twice, tol {p.tolerance:.1e}: "
              f"error {err:.2e}, {raw.stats['steps']} steps (both grids), {wall * 1e3:.0f} ms; "
              f"{best[0] / wall:.1f}x cheaper")
    print(f"load: {open('/proc/loadavg').read().split()[:3]}")
    del os


def main():
    ref = true_amounts(LAYERS, TIMES, VEHICLE)
    ref2 = true_amounts(LAYERS, TIMES, VEHICLE, M=24)
    print(f"Talbot M=32 vs M=24: {np.max(np.abs(ref - ref2)):.1e} of the dose")
    n = 400
    a, b = exact_semidiscrete(problem([n] * 3, 0.0), TIMES), exact_semidiscrete(problem([2 * n] * 3, 0.0), TIMES)
    rich = (4.0 * b - a) / 3.0
    print(f"Richardson (uniform {n}/{2 * n} per layer) vs Talbot: {np.max(np.abs(rich - ref)):.1e} of the dose")
    auto = problem("auto")
    cells = [sl.stop - sl.start for sl in auto.grid.layer_slices]
    print(f"auto cells per layer: {cells} (total {sum(cells)})")
    print("grid                          cells/layer   error/dose   error x N^2")
    for label, st in (("default (per-layer rule)", None), ("uniform", 0.0), ("graded s=0.75 (before)", 0.75),
                      ("graded s=0.5", 0.5), ("graded s=0.25", 0.25)):
        for n in (24, 48, 96, 192):
            e = error(problem([n] * 3, st), ref)
            print(f"{label:28s}  {n:6d}       {e:9.2e}    {e * (3 * n) ** 2:8.2f}")


if __name__ == "__main__":
    main()
    if "--cost" in sys.argv:
        cost()
