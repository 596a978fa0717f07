"""The unit cell's threads beside a busy process: serial, ``auto`` and forced-parallel runs, alternated.

Solves the 200 x 400 unit cell over 48 h (``bench_solver_rz.microneedle_problem``)
``--rounds`` times in each mode, alternating the modes so that every mode
sees the same machine, and prints best and median wall times, the ratio to
serial, how many kernel calls ``auto`` ran in parallel, the threading layer
and the load average.  ``--burners N`` starts N ``python -c "while True:
pass"`` processes for the duration (and ends them); ``--layer workqueue`` forces
a Numba threading layer for comparison (the default is Numba's own
choice: tbb, omp, workqueue, whichever loads first).  docs/performance.md, "Threads of
the unit cell", shows its output.

Usage (repository root; warm the cache first with ``exodiff warm``)::

    python benchmarks/threads_rz.py --rounds 5
    python benchmarks/threads_rz.py --rounds 5 --burners 1
    python benchmarks/threads_rz.py --rounds 5 --layer workqueue --modes serial parallel
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

MODES = {"serial": False, "auto": "auto", "parallel": True}


def load() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:4])
    except OSError:
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--burners", type=int, default=0)
    ap.add_argument("--layer", default=None, help="force a Numba threading layer (omp, workqueue, tbb)")
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    ap.add_argument("--resolution", default="200x400")
    args = ap.parse_args()
    import numba

    if args.layer:
        numba.config.THREADING_LAYER = args.layer
    from bench_solver_rz import microneedle_problem

    from exodiff.solvers.unit_cell import integrate_rz

    p = microneedle_problem(args.resolution)
    for m in args.modes:  # cache load (or compile) outside the timing
        integrate_rz(p, parallel=MODES[m])
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.burners)]
    try:
        time.sleep(1.0 if burners else 0.0)
        print(f"load at the start: {load()}, burners: {args.burners}", flush=True)
        walls = {m: [] for m in args.modes}
        calls = {m: [] for m in args.modes}
        for _ in range(args.rounds):
            for m in args.modes:
                t0 = time.perf_counter()
                raw = integrate_rz(p, parallel=MODES[m])
                walls[m].append(time.perf_counter() - t0)
                calls[m].append(raw.stats["kernel_calls"])
        print(f"load at the end: {load()}")
    finally:
        for b in burners:
            b.terminate()
            b.wait()
    layer = numba.threading_layer() if any(c["parallel"] for cs in calls.values() for c in cs) else "-"
    ref = min(walls["serial"]) if "serial" in walls else None
    print(f"threading layer: {layer}; steps {raw.stats['steps']}")
    for m in args.modes:
        w = walls[m]
        par = sum(c["parallel"] for c in calls[m])
        tot = sum(c["parallel"] + c["serial"] for c in calls[m])
        ratio = f", best / serial best {min(w) / ref:.2f}" if ref else ""
        print(f"{m:8s} best {min(w):6.2f} s  median {statistics.median(w):6.2f} s{ratio}  "
              f"(parallel calls {par} of {tot})")


if __name__ == "__main__":
    main()
