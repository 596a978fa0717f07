"""Spatial error per cell of the 1D grid against the true PDE (issue 13).

Run from the repository root::

    python benchmarks/grid_accuracy.py            # the tables of docs/numerics.md ("Grid", "Accuracy target")
    python benchmarks/grid_accuracy.py --cost     # also: wall time to reach 1e-6 of the dose, before and now
    python benchmarks/grid_accuracy.py --time-law # only: time error against tolerance per integrator
                                                  # (problem.layered.TIME_ERROR_*)
    python benchmarks/grid_accuracy.py --check-run  # only: true error / the check run's estimate
                                                    # (solvers.layered.integrate_estimated)

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

from exodiff.problem.layered import Problem1D  # noqa: E402
from layered_laplace import (  # noqa: E402,F401
    HELD_OUT_TIMES,
    HELD_OUT_VEHICLE,
    exact_semidiscrete,
    held_out_layers,
    talbot,
    true_amounts,
)

#: held out from the benchmark: a faster SC (its front crosses in the first hours); tests/layered_laplace.py
LAYERS = held_out_layers()
TIMES = HELD_OUT_TIMES
VEHICLE = HELD_OUT_VEHICLE


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
    before (TR-BDF2 on the graded grid, cells per layer and tolerance searched), the same search with
    ESDIRK4, and ``accuracy = target`` with each integrator (ESDIRK4 is the default)."""
    from dataclasses import replace

    from bench_solver_1d import LAYERS as BENCH
    from exodiff.solvers.layered import integrate, integrate_estimated

    print(f"load: {open('/proc/loadavg').read().split()[:3]}")
    for name, layers in (("held-out", LAYERS), ("benchmark", BENCH)):
        ref = true_amounts(layers, TIMES, VEHICLE)
        searched = {}
        for integ in ("tr-bdf2", "esdirk4"):
            best = None
            for n in (400, 500, 600, 700, 800):
                for tol in (1e-5, 1e-6, 3e-7, 1e-7, 3e-8, 1e-8):
                    p = replace(problem([n] * 3, 0.75, layers), tolerance=tol, integrator=integ)
                    raw = integrate(p)
                    if np.max(np.abs(amounts(p, raw) - ref)) > target:
                        continue  # time only the settings that reach the target
                    wall, raw = timed(lambda: integrate(p))
                    err = np.max(np.abs(amounts(p, raw) - ref))
                    if best is None or wall < best[0]:
                        best = (wall, n, tol, err, raw.stats["steps"])
            searched[integ] = best
            print(f"{name}: graded grid, {integ}: {best[1]} cells/layer, tol {best[2]:.0e}: error {best[3]:.2e}, "
                  f"{best[4]} steps, {best[0] * 1e3:.1f} ms")
        before = searched["tr-bdf2"][0]
        for integ in ("esdirk4", "tr-bdf2"):
            p = Problem1D.from_layers(layers, output_times=TIMES, vehicle="finite", vehicle_thickness=VEHICLE,
                                      accuracy=target, integrator=integ)
            integrate_estimated(p)
            wall, raw = timed(lambda: integrate_estimated(p), repeat=5)
            err = np.max(np.abs(amounts(p, raw) - ref))
            print(f"{name}: accuracy = {target:g}, {integ}: cells {p.grid.cells_per_layer()} + twice, "
                  f"tol {p.tolerance:.1e}: error {err:.2e}, {raw.stats['steps']} steps (both grids), "
                  f"{wall * 1e3:.1f} ms; {before / wall:.1f}x cheaper than TR-BDF2 graded, "
                  f"{searched['esdirk4'][0] / wall:.1f}x than ESDIRK4 graded")
    print(f"load: {open('/proc/loadavg').read().split()[:3]}")


def time_law(integrators=("esdirk4", "sdirk4", "tr-bdf2"), tols=(1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9)):
    """Time error against tolerance, per integrator: max over the outputs and amounts of
    ``|integrated - exact in time| / dose`` on the grids of ``accuracy = 1e-5`` and ``1e-6``
    (coarse and fine, both problems); prints the worst per tolerance and the fitted law
    ``error = at_1e6 (tol / 1e-6)^slope`` (least squares in logs over tol <= 1e-5) and the worst
    error / tol (the bound with slope 1)."""
    from dataclasses import replace

    from bench_solver_1d import LAYERS as BENCH
    from exodiff.solvers.layered import integrate

    grids = []
    for layers in (LAYERS, BENCH):
        for acc in (1e-5, 1e-6):
            p = Problem1D.from_layers(layers, output_times=TIMES, vehicle="finite", vehicle_thickness=VEHICLE,
                                      accuracy=acc)
            for q in (p, p.with_grid(p.grid.refined(2))):
                grids.append((q, exact_semidiscrete(q, TIMES)))
    for integ in integrators:
        worst = []
        for tol in tols:
            e = 0.0
            for q, ref in grids:
                r = replace(q, tolerance=tol, integrator=integ)
                e = max(e, float(np.max(np.abs(amounts(r, integrate(r)) - ref))))
            worst.append(e)
            print(f"{integ:8s} tol {tol:.0e}: worst time error {e:.2e} of the dose ({e / tol:.3f} x tol)")
        t, w = np.log10(np.array(tols)), np.log10(np.array(worst))
        fit = np.array(tols) <= 1e-5
        slope, icpt = np.polyfit(t[fit], w[fit], 1)
        print(f"{integ:8s} law: error = {10 ** (icpt - 6 * slope):.2e} (tol/1e-6)^{slope:.2f} "
              f"(max residual x{10 ** np.max(np.abs(w[fit] - (icpt + slope * t[fit]))):.2f}); "
              f"worst error / tol {np.max(np.array(worst) / np.array(tols)):.4f}")


def check_run(integrators=("esdirk4", "tr-bdf2")):
    """True error / estimate of the check run (``integrate_estimated`` without a target) on the dermis
    amount of tests/test_resolvable.py's intact-skin stack at 48 h (2e-12 of the dose, Laplace reference),
    over 80-320 cells per layer and tolerances 1e-4..1e-8, per integrator."""
    from dataclasses import replace

    from exodiff.results.dataset import to_dataset
    from exodiff.solvers.layered import integrate_estimated
    from test_resolvable import dermis_reference, run, sc_stack

    layers = sc_stack(1.6e-17)
    ref = dermis_reference(layers)
    print(f"dermis at 48 h: {ref:.3e} of the dose")
    for integ in integrators:
        ratios = []
        for cells in (80, 160, 320):
            for tol in (1e-4, 1e-5, 1e-6, 1e-7, 1e-8):
                p, _ = run(layers, resolution=[cells] * 3, tolerance=tol)
                p = replace(p, integrator=integ)
                ds = to_dataset(p, integrate_estimated(p))
                got = float(ds["fraction"].sel(compartment="dermis").values[-1])
                est = float(ds["fraction_error"].sel(compartment="dermis").values[-1])
                flagged = bool(ds["below_resolvable_level"].sel(compartment="dermis").values[-1])
                r = abs(got - ref) / est
                ratios.append(r)
                print(f"{integ:8s} {cells:4d} cells/layer tol {tol:.0e}: error {abs(got / ref - 1):8.2%}, "
                      f"true / estimate {r:.2f}{'' if flagged else '  (not flagged)'}")
        print(f"{integ}: true / estimate {min(ratios):.2f} .. {max(ratios):.2f}")


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
    if "--check-run" in sys.argv:
        check_run()
        sys.exit(0)
    if "--time-law" in sys.argv:
        time_law()
        sys.exit(0)
    main()
    if "--cost" in sys.argv:
        cost()
