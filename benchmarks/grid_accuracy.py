"""Spatial error per cell of the 1D grid against the true PDE (issue 13).

Run from the repository root::

    python benchmarks/grid_accuracy.py            # the table of docs/numerics.md ("Grid")

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
