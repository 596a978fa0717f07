"""Speed of a virtual population (issue 12): 200 persons of a 1D scenario on 2 cores.

Target: under 20 s, warm kernels.  The scenario is
``scenarios/population_caffeine_forearm.toml`` (caffeine on 50 cm^2 of forearm,
a one-compartment plasma model, 24 h, outputs every 30 min; 200 women, four
drawn keys).  Timed: planning (draw and validate every person), the run
(the batched 1D path on ``--jobs`` threads, the sweep's default for such
points) and the bands, in memory, best of ``--repeat``; then the same with a
directory (person files, sweep.nc, population.nc, without plots).  The
machine's load (``uptime``) is printed with the timings: on a shared machine
it changes them.

Run (repository root)::

    python benchmarks/population_speed.py            # prints timings and the load
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "population_caffeine_forearm.toml"


def main() -> None:
    from exodiff import run
    from exodiff.studies import population as pop

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    run.warm_solver(False)
    p = pop.plan(SCENARIO)
    pop.population(p, jobs=args.jobs)  # warm: the batch kernel, the threads
    best = {"plan": float("inf"), "run": float("inf"), "written": float("inf")}
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        p = pop.plan(SCENARIO)
        t1 = time.perf_counter()
        res = pop.population(p, jobs=args.jobs)
        t2 = time.perf_counter()
        with tempfile.TemporaryDirectory() as d:
            t3 = time.perf_counter()
            pop.population(pop.plan(SCENARIO), jobs=args.jobs, directory=Path(d) / "out").write(
                Path(d) / "out", plots=False)
            t4 = time.perf_counter()
        best = {"plan": min(best["plan"], t1 - t0), "run": min(best["run"], t2 - t1),
                "written": min(best["written"], t4 - t3)}
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"uptime: {load}")
    print(f"cores: {os.cpu_count()}, jobs: {args.jobs}, persons: {p.size}, failed: {res.bands.attrs['failed_persons']}")
    print(f"plan (draw + validate):        {best['plan']:6.2f} s")
    print(f"run + bands (in memory):       {best['run']:6.2f} s")
    print(f"plan + run + files (no plots): {best['written']:6.2f} s   (target < 20 s)")


if __name__ == "__main__":
    main()
