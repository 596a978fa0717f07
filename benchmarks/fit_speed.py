"""Speed of ``exodiff fit`` (issue 11): a two-parameter 1D fit and a one-parameter r-z fit.

Targets on the 2-core machine with warm kernels: the 1D fit under 10 s, the
r-z fit under 2 min.  Each fit runs the shipped example (``scenarios/fit_*.toml``)
with ``jobs=2``; the kernels are warmed first (``exodiff.run.warm_solver``), so
what is timed is the fit itself (design, starts, Jacobian, profiles, the
fitted run), not compilation or file writing.

Run (repository root)::

    python benchmarks/fit_speed.py                 # time both fits
    python benchmarks/fit_speed.py --make-examples # regenerate the examples' synthetic data

The examples' data are synthetic: exodiff's own model at known parameters
(``TRUTH``) plus Gaussian noise of the stated sd, drawn with a fixed seed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FRANZ = ROOT / "scenarios" / "fit_franz_cell.toml"
MICRONEEDLE = ROOT / "scenarios" / "fit_microneedle_closure.toml"

#: the parameters the synthetic data were made with, and the observations: (observable, unit, times h, rel sd)
TRUTH = {
    FRANZ: ({"skin.layers.stratum_corneum.diffusivity": "2e-10 cm^2/s", "skin.layers.stratum_corneum.partition": 3.0},
            [("receptor", "ug/cm^2", [1, 2, 3, 4, 6, 8, 10, 12, 18, 24], 0.05),
             ("stratum_corneum", "%", [2, 8, 24], 0.10)]),
    MICRONEEDLE: ({"delivery.closure_time": "1.5 h"},
                  [("receptor", "%", [1, 2, 4, 6, 8, 12, 16, 20, 24], 0.05)]),
}


def make_examples(seed: int = 20261206) -> None:
    """Write the examples' CSVs: the model at TRUTH plus noise, with a header saying so."""
    import exodiff

    for scen, (truth, observations) in TRUTH.items():
        sc = exodiff.load_scenario(scen).replace({"fit": None})
        times = sorted({t for _, _, ts, _ in observations for t in ts})
        ds = exodiff.run(sc.replace({**truth, "simulation.output_interval": None,
                                     "simulation.output_times": [f"{t} h" for t in times]}))
        rng = np.random.default_rng(seed)
        comps = [str(c) for c in ds["compartment"].values]
        lines = [f"# SYNTHETIC data, not a measurement: made by exodiff {exodiff.__version__} from {scen.name}",
                 f"# at {', '.join(f'{k} = {v}' for k, v in truth.items())}, plus Gaussian noise of the sd "
                 f"shown (seed {seed}); regenerate with: python benchmarks/fit_speed.py --make-examples",
                 "observable,time,value,sd,unit"]
        for obs, unit, ts, rel in observations:
            for t in ts:
                k = comps.index(obs)
                pct = unit == "%"
                row = ds["fraction" if pct else "amount"].sel(time=float(t)).values
                # the observable receptor is cumulative: what the samples took counts too
                y = float(row[k] + (row[comps.index("sampled")] if obs == "receptor" and "sampled" in comps else 0.0))
                y *= 100.0 if pct else 1.0
                sd = rel * abs(y)
                lines.append(f"{obs},{t} h,{y + sd * rng.standard_normal():.5g},{sd:.3g},{unit}")
        out = scen.with_suffix(".csv")
        out.write_text("\n".join(lines) + "\n")
        print(f"wrote {out.relative_to(ROOT)}")


def time_fit(path: Path, jobs: int = 2) -> tuple[float, object]:
    import exodiff
    from exodiff import run

    d = exodiff.fit.plan(path)
    run.warm_solver(any(run.is_unit_cell(x.scenario) for x in d.datasets))
    t = time.perf_counter()
    res = exodiff.fit(d, jobs=jobs)
    return time.perf_counter() - t, res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--make-examples", action="store_true")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    args = ap.parse_args()
    if args.make_examples:
        make_examples()
        return
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for path, target in ((FRANZ, 10.0), (MICRONEEDLE, 120.0)):
        wall, res = time_fit(path, args.jobs)
        print(f"{path.name}: {wall:.1f} s (target < {target:g} s), "
              f"{res.record['convergence']['starts']} starts, cost {res.cost:.3g}")
        print(res.text())


if __name__ == "__main__":
    main()


class FitSpeed:
    """asv: the two example fits (``asv run --python=same --bench FitSpeed``)."""

    timeout = 300

    def setup(self):
        from exodiff import run

        run.warm_solver(True)

    def time_fit_1d_two_parameters(self):
        time_fit(FRANZ)

    def time_fit_rz_one_parameter(self):
        time_fit(MICRONEEDLE)
