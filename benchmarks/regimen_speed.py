"""Speed of a regimen (issue 12): 14 days twice daily (28 applications) against one 48 h application.

Target: the regimen in under 2x the time of the single 48 h run, same 1D
scenario (the caffeine serum of ``scenarios/regimen_serum_twice_daily.toml``
with outputs every 30 min), warm kernels, the solve and the Dataset timed
(``exodiff.run``), best of ``--repeat`` runs, one process.  The applications
are stop events of the compiled loop, so a regimen costs the steps its
restarts need (small steps after each new film), not Python per step; a
washed regimen at a constant interval is one run of the first film's
response summed over shifted copies (``exodiff/solvers/superposition.py``),
whose later "wash + empty film" restarts get cheaper as the residue decays.
The path taken is printed (``regimen_solution``).

Run (repository root)::

    python benchmarks/regimen_speed.py            # prints both timings and the ratio
    python benchmarks/regimen_speed.py --integrator tr-bdf2   # the same with another 1D integrator
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "regimen_serum_twice_daily.toml"


def timed(sc, repeat: int) -> tuple[float, int, str]:
    import exodiff

    best, steps, path = float("inf"), 0, "-"
    for _ in range(repeat):
        t0 = time.perf_counter()
        ds = exodiff.run(sc)
        best = min(best, time.perf_counter() - t0)
        steps = int(ds.attrs["solver_steps"])
        path = str(ds.attrs.get("regimen_solution", "-"))
    return best, steps, path


def main() -> None:
    import exodiff

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--integrator", help="simulation.integrator (default: the scenario's, i.e. exodiff's default)")
    args = ap.parse_args()
    base = exodiff.load_scenario(SCENARIO)
    if args.integrator:
        base = exodiff.load_scenario(base.user | {"simulation": {**base.user["simulation"],
                                                                 "integrator": args.integrator}})
    single = exodiff.load_scenario({k: v for k, v in base.user.items() if k not in ("regimen", "systemic")}
                                   | {"simulation": {**base.user["simulation"], "duration": "48 h"}})
    regimen = exodiff.load_scenario(base.user | {"simulation": {**base.user["simulation"], "duration": "14 d"},
                                                 "regimen": {**base.user["regimen"], "applications": 28}})
    exodiff.run(single)  # warm: compile or load the kernels
    t1, s1, _ = timed(single, args.repeat)
    tr, sr, path = timed(regimen, args.repeat)
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average), {os.cpu_count()} cores")
    print(f"one application, 48 h:          {t1 * 1e3:8.1f} ms  ({s1} steps)")
    print(f"28 applications, 14 d (12 h):   {tr * 1e3:8.1f} ms  ({sr} steps, {path})")
    print(f"ratio: {tr / t1:.2f} (target < 2)")


if __name__ == "__main__":
    main()
