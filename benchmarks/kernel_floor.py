"""How far the 1D kernel's step is from the cost of its own pieces (issue 13, the 50x BDF goal).

Two measurements on the benchmark problem (``bench_solver_1d.vesicle_problem``):

1. the whole ``integrate`` call and the compiled loop inside it, on the auto
   grid and 2x, 4x, 8x its cells, at two tolerances: time per step and per
   node and step, and the Python around the loop;
2. the pieces of an ESDIRK4 step, each compiled alone on the auto grid's
   node count: factoring ``C - h/4 A`` (once per step), a stage solve (five
   per step) and the operator ``A u`` (six per step).

Best of several repeats, warm kernels; the load is printed.  Run
(repository root)::

    python benchmarks/kernel_floor.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def whole_runs() -> None:
    from bench_solver_1d import vesicle_problem

    import exodiff.kernels.column1d as K
    from exodiff.solvers.layered import integrate

    spent = [0.0]
    loop = K.integrate_column_rk

    def timed_loop(*args):
        t0 = time.perf_counter()
        try:
            return loop(*args)
        finally:
            spent[0] += time.perf_counter() - t0

    K.integrate_column_rk = timed_loop
    try:
        for factor in (1, 2, 4, 8):
            for tol in (1e-2, 1e-5):
                p = vesicle_problem(factor, tolerance=tol)
                integrate(p)
                best, best_k = float("inf"), float("inf")
                for _ in range(15):
                    spent[0] = 0.0
                    t0 = time.perf_counter()
                    raw = integrate(p)
                    best = min(best, time.perf_counter() - t0)
                    best_k = min(best_k, spent[0])
                steps = raw.stats["steps"] + raw.stats["rejected"]
                print(f"  {factor}x grid, {p.n_nodes:5d} nodes, tol {tol:g}: {steps:3d} steps, whole {best * 1e3:6.3f} ms, "
                      f"loop {best_k * 1e3:6.3f} ms = {best_k / steps * 1e6:6.2f} us/step = "
                      f"{best_k / steps / p.n_nodes * 1e9:5.1f} ns/node/step; Python around it "
                      f"{(best - best_k) * 1e3:.3f} ms")
    finally:
        K.integrate_column_rk = loop


def pieces(n: int) -> None:
    from numba import njit

    import exodiff.kernels.column1d as K

    @njit
    def factor(k, cap, g, loss, lower, diag, upper, rp, w):
        s = 0.0
        for _ in range(k):
            s += K.factor_stage_matrix(0.25, cap, g, g[1], loss, False, lower, diag, upper, rp, w)
        return s

    @njit
    def solve(k, rp, w, lower, rhs, x):
        for _ in range(k):
            K.solve_factored(rp, w, lower, rhs, x)
            rhs[0] += 1e-300  # a new right-hand side each time

    @njit
    def operator(k, u, g, loss, out):
        for _ in range(k):
            K.apply_operator(u, g, g[1], loss, out)
            u[0] += 1e-300

    rng = np.random.default_rng(0)
    cap, g, loss = rng.random(n) + 0.5, rng.random(n + 1), 0.01 * rng.random(n)
    lower, diag, upper, rp, w, x, out = (np.empty(n) for _ in range(7))
    rhs = rng.random(n)
    cases = (("factor C - h/4 A (1 per step)", factor, (cap, g, loss, lower, diag, upper, rp, w)),
             ("stage solve (5 per step)", solve, (rp, w, lower, rhs, x)),
             ("A u (6 per step)", operator, (rhs, g, loss, out)))
    for name, f, args in cases:
        f(10, *args)
        reps = 20000
        best = float("inf")
        for _ in range(7):
            t0 = time.perf_counter()
            f(reps, *args)
            best = min(best, (time.perf_counter() - t0) / reps)
        print(f"  {name:32s} {best * 1e6:6.3f} us ({best / n * 1e9:5.2f} ns/node)")


def main() -> None:
    from bench_solver_1d import vesicle_problem

    print(f"load: {os.getloadavg()[0]:.2f} (1-min average), {os.cpu_count()} cores")
    print("whole runs (integrate, ESDIRK4):")
    whole_runs()
    n = vesicle_problem("auto").n_nodes
    print(f"pieces of a step, {n} nodes:")
    pieces(n)


if __name__ == "__main__":
    main()
