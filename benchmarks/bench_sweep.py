"""asv benchmarks of sweeps (``exodiff.sweep``): throughput by executor, validation.

A 100-point 1D grid of the caffeine scenario (see ``sweep_throughput.py``,
which runs the 1000-point version with a per-point breakdown and the
figures of docs/performance.md, "Sweeps").  Nothing is written to disk here
except the point files of the ``written`` variant.

Run (repository root)::

    asv run --python=same --bench bench_sweep
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sweep_throughput import make_plan  # noqa: E402

POINTS = 100


def _sweep(plan, executor: str, directory=None):
    import exodiff

    if executor == "serial":
        return exodiff.sweep(plan, jobs=1, directory=directory)
    if executor == "pool2":
        return exodiff.sweep(plan, jobs=2, batch=False, directory=directory)
    if executor == "batched2":
        return exodiff.sweep(plan, jobs=2, batch=True, directory=directory)
    return exodiff.sweep(plan, dask_local=2, directory=directory)


class SweepThroughput:
    """One 100-point sweep, in memory, by executor (dask includes starting its LocalCluster)."""

    params = ["serial", "pool2", "batched2", "dask2"]
    param_names = ["executor"]
    timeout = 600
    repeat = 3
    number = 1

    def setup(self, executor):
        if executor == "dask2":
            try:
                import distributed  # noqa: F401
            except ImportError:
                raise NotImplementedError("dask.distributed not installed")
        from exodiff.run import warm_solver
        from exodiff.run import warm_batch

        warm_solver()
        warm_batch()
        self.plan = make_plan(POINTS)

    def time_sweep_100(self, executor):
        _sweep(self.plan, executor)

    def track_points_per_minute(self, executor):
        t0 = time.perf_counter()
        _sweep(self.plan, executor)
        return 60.0 * self.plan.size / (time.perf_counter() - t0)

    track_points_per_minute.unit = "points/min"


class SweepWritten:
    """The same sweep with every point written (point files + sweep.nc), serial, -j 2 pool and batched."""

    params = ["serial", "pool2", "batched2"]
    param_names = ["executor"]
    timeout = 600
    repeat = 3
    number = 1

    def setup(self, executor):
        from exodiff.run import warm_solver
        from exodiff.run import warm_batch

        warm_solver()
        warm_batch()
        self.plan = make_plan(POINTS)
        self.dirs = []

    def teardown(self, executor):
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)

    def time_sweep_100_written(self, executor):
        d = tempfile.mkdtemp(prefix="exodiff-bench-sweep-")
        self.dirs.append(d)
        _sweep(self.plan, executor, os.path.join(d, "out"))


class SweepPlan:
    """Reading the table and validating every point (``Scenario.replace`` each), 1000 points."""

    timeout = 300

    def setup(self):
        from exodiff.run import warm_solver

        warm_solver()
        make_plan(20)  # presets parsed, caches warm

    def time_plan_1000(self):
        make_plan(1000)
