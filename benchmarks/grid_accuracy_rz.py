"""Spatial error per cell of the r-z unit cell's grid (issue 13; docs/numerics_rz.md, "Grid accuracy").

Run from the repository root::

    python benchmarks/grid_accuracy_rz.py             # depth grid, laterally uniform cell (seconds)
    python benchmarks/grid_accuracy_rz.py --channel   # also a channel case against Richardson (minutes)
    python benchmarks/grid_accuracy_rz.py --corner    # also the re-entrant corner's steady flux (a minute)

What is measured
----------------
* Depth: the laterally uniform unit cell (no channel) is the 1D column on the
  same depth grid (tests/test_rz.py), so the analytic layered PDE of
  benchmarks/grid_accuracy.py (Laplace domain, Talbot inversion) is its true
  answer.  The held-out three-layer finite dose, 48 h; each grid's
  semi-discrete system solved exactly in time; error = max over 9 outputs and
  film / layers / sink of ``|amount - true| / dose``, reported as error x nz^2.
  One line checks that the compiled r-z loop at tolerance 1e-9 has that
  error (its time error is ~1e-8).
* Channel: the same skin with an open channel (radius 25 um, 60 um deep,
  2e7 per m^2, ``D_open = 1e-10``), r-z loop at tolerance 1e-8 (time error
  ~1e-8 of the dose, measured below).  Reference: Richardson extrapolation
  with the observed order of the two finest grids of two grid families (the
  old default and the new); their difference is the reference's
  uncertainty.  Error x nz nr at equal cells, grids (nr, nz) = (13, 68) ...
* Corner: steady sink flux past the re-entrant corner of tests/test_rz.py
  (channel wall leaving the SC), error of 30 x 40-cell grids against the
  extrapolated uniform-grid sequence, as "uniform error / this grid's error".
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from grid_accuracy import LAYERS, TIMES, VEHICLE  # noqa: E402
from layered_laplace import exact_semidiscrete, true_amounts  # noqa: E402
from exodiff.problem.unit_cell import ProblemRZ  # noqa: E402

CHANNEL = dict(channel_radius=25e-6, channel_depth=60e-6, density=2e7, open_diffusivity=1e-10)
#: depth stretching and radial ratio of each grid family; "layer rule only" is the 1D rule without the
#: graded segments at the channel bottom (an explicit per-layer list turns that default off)
FAMILIES = {
    "graded s=0.75 (before)": dict(stretch=0.75),
    "default (now)": dict(),
    "layer rule only": dict(stretch=[0.0, 0.0, 0.0]),
    "uniform depth and radius": dict(stretch=0.0, radial_ratio=1.0),
    "graded depth, uniform radius": dict(stretch=0.75, radial_ratio=1.0),
}


def load():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def cell(layers=LAYERS, resolution="auto", tolerance=1e-5, channel=False, **kw):
    geo = CHANNEL if channel else dict(channel_radius=0.0, channel_depth=0.0, density=2e6, open_diffusivity=1.0)
    return ProblemRZ.from_layers(layers, **geo, output_times=TIMES, vehicle_thickness=VEHICLE,
                                 resolution=resolution, tolerance=tolerance, **kw)


def rz_amounts(p):
    """Film, layers and sink per dose at the outputs after 0, from the compiled r-z loop (serial)."""
    from exodiff.solvers.ledger import tissue_amounts_rz, vehicle_amount_rz
    from exodiff.solvers.unit_cell import integrate_rz

    t0 = time.perf_counter()
    raw = integrate_rz(p, parallel=False)
    wall = time.perf_counter() - t0
    L = len(p.layers)
    a = np.column_stack([vehicle_amount_rz(p, raw), tissue_amounts_rz(p, raw), raw.comp[:, 3 * L]]) / p.unit_dose
    return a[1:], wall, raw.stats["steps"]


def depth():
    ref = true_amounts(LAYERS, TIMES, VEHICLE)
    print(f"laterally uniform unit cell vs the analytic layered PDE (load {load()})")
    print("depth grid                      nz   cells/layer      error/dose  error x nz^2")
    for label, st in (("default (now)", None), ("uniform", 0.0), ("graded s=0.75 (before)", 0.75),
                      ("graded s=0.5", 0.5)):
        for nz in (72, 144, 288, 576):
            p = cell(resolution={"nz": nz, "nr": 4}, stretch=st)
            e = np.max(np.abs(exact_semidiscrete(p.column_problem(), TIMES) - ref))
            print(f"{label:28s} {nz:5d}   {str(p.grid.z.cells_per_layer()):16s} {e:9.2e}   {e * nz ** 2:6.2f}")
    p = cell(resolution={"nz": 72, "nr": 4}, tolerance=1e-9)
    got, wall, steps = rz_amounts(p)
    semi = exact_semidiscrete(p.column_problem(), TIMES)
    print(f"r-z loop, nz = 72, tol 1e-9: vs exact-in-time {np.max(np.abs(got - semi)):.1e}, vs true "
          f"{np.max(np.abs(got - ref)):.2e} (grid alone {np.max(np.abs(semi - ref)):.2e}); {steps} steps")


def channel():
    grids = [(13, 68), (26, 136), (52, 272)]
    fine = (104, 544)
    print(f"\nchannel case (load {load()})")
    a7, _, _ = rz_amounts(cell(resolution=grids[0], tolerance=1e-7, channel=True))
    a8, _, _ = rz_amounts(cell(resolution=grids[0], tolerance=1e-8, channel=True))
    a9, _, _ = rz_amounts(cell(resolution=grids[0], tolerance=1e-9, channel=True))
    print(f"time error on {grids[0]}: tol 1e-7 {np.max(np.abs(a7 - a9)):.1e}, tol 1e-8 {np.max(np.abs(a8 - a9)):.1e}")
    runs = {}
    for name, kw in FAMILIES.items():
        for g in grids + ([fine] if name in ("graded s=0.75 (before)", "default (now)") else []):
            a, wall, steps = rz_amounts(cell(resolution=g, tolerance=1e-8, channel=True, **kw))
            runs[name, g] = a
            print(f"  {name:30s} {g}: {steps} steps, {wall:.1f} s", flush=True)
    refs = []
    for name in ("graded s=0.75 (before)", "default (now)"):
        a1, a2, a3 = runs[name, grids[1]], runs[name, grids[2]], runs[name, fine]
        order = math.log2(np.max(np.abs(a2 - a1)) / np.max(np.abs(a3 - a2)))
        refs.append(a3 + (a3 - a2) / (2.0 ** order - 1.0))
        print(f"  {name}: observed order {order:.2f}")
    ref = 0.5 * (refs[0] + refs[1])
    print(f"reference uncertainty (the two extrapolations differ by) {np.max(np.abs(refs[0] - refs[1])):.1e}")
    print("grid family                       error/dose (error x nz nr) at " + ", ".join(map(str, grids)))
    for name in FAMILIES:
        row = []
        for g in grids:
            e = np.max(np.abs(runs[name, g] - ref))
            row.append(f"{e:.2e} ({e * g[0] * g[1]:.2f})")
        print(f"{name:32s}  " + "  ".join(row))
    print(f"load {load()}")


def corner():
    # the flux of tests/test_rz.py's re-entrant-corner case (test_corner_orders_and_grading)
    from test_rz import _corner_flux as flux

    D = 1e-11
    print(f"\nre-entrant corner, 30 x 40 cells: uniform grid's error / this grid's (load {load()})")
    for contrast in (1.0, 100.0):
        J = np.array([flux(D, contrast, {"dr": h, "dz": h}, stretch=0.0, radial_ratio=1.0)
                      for h in (2e-6, 1e-6, 0.5e-6, 0.25e-6)])
        d = np.diff(J)
        p = np.log2(d[:-1] / d[1:])
        J_inf = J[-1] + d[-1] / (2.0 ** p[-1] - 1.0)
        e_uniform = abs(J[1] - J_inf)
        gains = {name: e_uniform / abs(flux(D, contrast, (40, 30), **{k: (v[:2] if k == "stretch" and
                                                                          isinstance(v, list) else v)
                                                                      for k, v in kw.items()}) - J_inf)
                 for name, kw in FAMILIES.items()}
        print(f"  channel {contrast:g}x the epidermis' D (orders {np.round(p, 2)}): "
              + ", ".join(f"{k} {v:.2f}" for k, v in gains.items()))


if __name__ == "__main__":
    depth()
    if "--channel" in sys.argv:
        channel()
    if "--corner" in sys.argv:
        corner()
