"""Points per minute of a 1000-point 1D sweep: serial, process pool, batched, dask LocalCluster.

The sweep is the shipped caffeine scenario (forearm, finite dose, 24 h,
output every 15 min) over a 50 x 20 grid of film thickness (10-100 um) and
stratum corneum thickness (8-30 um): 1000 1D points, every one written to
its point file and combined into ``sweep.nc``, as ``exodiff sweep -o DIR``
does (without the process start-up and plots of the command line).

Timed per path, each in this process after the solver is warm:

- ``plan``: reading the table and validating all 1000 points (once; every
  path needs it);
- ``serial``: ``exodiff.sweep(plan, jobs=1, directory=...)``;
- ``pool``: ``jobs=N`` (a local process pool, forked from this warm process);
- ``batched``: ``batch=True, jobs=N`` (this process: many points per
  compiled call on N Numba threads, overlapped with the Python work of the
  chunk before; :mod:`exodiff.studies.sweep.batch`);
- ``dask``: ``dask_local=N`` (LocalCluster, processes, one thread each), with
  the cluster's start-up.

``breakdown()`` splits one serial point into its steps, both the point
path as it is (metrics from the raw arrays, ``metrics``) and the Dataset
path it replaced (``dataset`` + ``summary``), so both figures stay
measurable.

Usage (repository root; on a shared machine under the lock, see docs/performance.md)::

    flock /tmp/exodiff-bench.lock python benchmarks/sweep_throughput.py      # 1000 points, -j 2
    python benchmarks/sweep_throughput.py --points 200 --jobs 2 --repeat 3 --json out.json

The machine's load average is printed with the figures: on a shared machine
other work takes cores from the parallel paths.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "topical_caffeine.toml"


def definition(points: int) -> dict:
    """A grid of about ``points`` points (20 values of SC thickness)."""
    n = max(1, points // 20)
    return {"mode": "grid",
            "formulation.vehicle_thickness": {"start": "10 um", "stop": "100 um", "num": n},
            "skin.layers.stratum_corneum.thickness": {"start": "8 um", "stop": "30 um", "num": 20}}


def make_plan(points: int):
    from exodiff.studies.sweep import plan

    return plan(SCENARIO, definition(points))


def _timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _cpu() -> float:
    """CPU seconds of this process and its reaped children (pool and dask workers)."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def _idle_fraction(seconds: float = 2.0) -> float:
    """Fraction of all cores idle over ``seconds`` (Linux /proc/stat; 1.0 elsewhere)."""
    def read():
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:9]]
        return sum(v), v[3] + v[4]

    try:
        t1, i1 = read()
        time.sleep(seconds)
        t2, i2 = read()
    except OSError:
        return 1.0
    return (i2 - i1) / max(t2 - t1, 1)


#: wait for an idle machine before each timed run, at most this long (s); 0: do not wait
WAIT_IDLE = 0.0


def _wait_idle() -> float:
    """Wait (up to WAIT_IDLE s) until the machine is >= 90 % idle; return the idle fraction seen."""
    deadline = time.monotonic() + WAIT_IDLE
    f = _idle_fraction(1.0)
    while f < 0.9 and time.monotonic() < deadline:
        f = _idle_fraction(2.0)
    return f


def run_path(plan, repeat: int = 1, **kw) -> tuple[float, float]:
    """Best wall time (s) of a whole sweep written to a fresh directory, and its CPU seconds.

    The CPU seconds (all processes) do not depend on other work on the
    machine: with free cores the wall time of a parallel path approaches
    CPU seconds / workers.
    """
    import exodiff

    best = (float("inf"), float("nan"))
    for _ in range(repeat):
        d = tempfile.mkdtemp(prefix="exodiff-sweep-bench-")
        if WAIT_IDLE:
            _wait_idle()
        try:
            c0 = _cpu()
            t0 = time.perf_counter()
            exodiff.sweep(plan, directory=Path(d) / "out", **kw)
            wall = time.perf_counter() - t0
            cpu = _cpu() - c0
        finally:
            shutil.rmtree(d, ignore_errors=True)
        if wall < best[0]:
            best = (wall, cpu)
    return best


def breakdown(plan, sample: int = 50) -> dict:
    """Mean time per point (s) of each step, serially, over ``sample`` points."""
    import numpy as np

    from exodiff.results import metrics
    from exodiff.kernels import column1d
    from exodiff.problem.layered import problem_from_scenario
    from exodiff.results.dataset import to_dataset
    from exodiff.solvers.layered import integrate
    from exodiff.studies.sweep.point import PointTask, encode_point, run_point

    idx = np.linspace(0, plan.size - 1, min(sample, plan.size)).round().astype(int)
    kernel_time = [0.0]
    names = [n for n in dir(column1d) if n.startswith("integrate_")]
    originals = {n: getattr(column1d, n) for n in names}

    def wrap(f):
        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                kernel_time[0] += time.perf_counter() - t0
        return timed

    from exodiff.results.dataset import metric_arrays

    acc = dict(validate=0.0, problem=0.0, integrate=0.0, kernel=0.0, metrics=0.0, dataset=0.0, summary=0.0,
               encode=0.0, point=0.0)
    for i in idx:
        pt = plan.points[i]
        t0 = time.perf_counter()
        sc = plan.base.replace(pt.overrides)
        t1 = time.perf_counter()
        prob = problem_from_scenario(sc.resolved)
        t2 = time.perf_counter()
        for n in names:
            setattr(column1d, n, wrap(originals[n]))
        kernel_time[0] = 0.0
        try:
            raw = integrate(prob)
        finally:
            for n, f in originals.items():
                setattr(column1d, n, f)
        t3 = time.perf_counter()
        tm = time.perf_counter()
        metrics.summary_of_arrays(metric_arrays(prob, raw), sc.resolved["formulation"].get("target_layer"))
        acc["metrics"] += time.perf_counter() - tm
        t3 = time.perf_counter()
        ds = to_dataset(prob, raw, scenario=sc)
        t4 = time.perf_counter()
        metrics.summary(ds, sc.resolved["formulation"].get("target_layer"))
        t5 = time.perf_counter()
        out = run_point(PointTask(int(i), sc, pt.overrides, plan.hash, encode=False))
        t6 = time.perf_counter()
        encode_point(out)
        t7 = time.perf_counter()
        acc["validate"] += t1 - t0
        acc["problem"] += t2 - t1
        acc["integrate"] += tm - t2
        acc["kernel"] += kernel_time[0]
        acc["dataset"] += t4 - t3
        acc["summary"] += t5 - t4
        acc["point"] += (t6 - t5) + (t7 - t6)
        acc["encode"] += t7 - t6
    return {k: v / len(idx) for k, v in acc.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="best of this many runs per path")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="S",
                    help="before each timed run wait up to S seconds for a >= 90 %% idle machine (shared machines)")
    args = ap.parse_args(argv)
    global WAIT_IDLE
    WAIT_IDLE = args.wait_idle

    from exodiff.run import warm_solver

    load0 = os.getloadavg()
    warm_solver()
    t0 = time.perf_counter()
    plan = make_plan(args.points)
    t_plan = time.perf_counter() - t0
    n = plan.size
    res = {"points": n, "jobs": args.jobs, "plan_s": t_plan, "cores": os.cpu_count()}
    bd = breakdown(plan)
    res["per_point_ms"] = {k: 1e3 * v for k, v in bd.items()}
    res["serial_s"], res["serial_cpu_s"] = run_path(plan, args.repeat, jobs=1)
    res["pool_s"], res["pool_cpu_s"] = run_path(plan, args.repeat, jobs=args.jobs)
    res["batched_s"], res["batched_cpu_s"] = run_path(plan, args.repeat, jobs=args.jobs, batch=True)
    if not args.no_dask:
        try:
            import distributed  # noqa: F401  (is it installed?)

            res["dask_s"], res["dask_cpu_s"] = run_path(plan, args.repeat, dask_local=args.jobs)
        except ImportError:
            print("dask.distributed not installed: dask path skipped", file=sys.stderr)
    res["load_average"] = [load0, os.getloadavg()]

    def ppm(s):
        return 60.0 * n / s

    rows = [("serial (-j 1)", res["serial_s"], res["serial_cpu_s"]),
            (f"process pool (-j {args.jobs})", res["pool_s"], res["pool_cpu_s"]),
            (f"batched (--batch -j {args.jobs})", res["batched_s"], res["batched_cpu_s"])]
    if "dask_s" in res:
        rows.append((f"dask LocalCluster ({args.jobs} workers)", res["dask_s"], res["dask_cpu_s"]))
    print(f"{n}-point 1D sweep (caffeine, forearm), points written; plan + validation of all points "
          f"{t_plan:.2f} s (add it to each figure for a whole command)")
    print("| path | wall (s) | points/min | vs serial | CPU s (all processes) |")
    print("|---|---:|---:|---:|---:|")
    for name, s, c in rows:
        print(f"| {name} | {s:.1f} | {ppm(s):.0f} | {res['serial_s'] / s:.2f}x | {c:.1f} |")
    pp = res["per_point_ms"]
    print(f"per point, serial (ms): validate {pp['validate']:.2f}, problem {pp['problem']:.2f}, integrate "
          f"{pp['integrate']:.2f} (kernel call {pp['kernel']:.2f}), metrics from raw arrays {pp['metrics']:.2f}; "
          f"Dataset path instead: dataset {pp['dataset']:.2f} + summary {pp['summary']:.2f}; "
          f"point (run_point: run + metrics + encode) {pp['point']:.2f} (encode {pp['encode']:.2f})")
    print(f"load average (1, 5, 15 min) before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, after "
          f"{res['load_average'][1][0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
