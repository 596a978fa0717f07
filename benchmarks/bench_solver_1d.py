"""asv benchmarks of the 1D solver (``exodiff.solvers.layered.integrate``).

The problem is a 3-layer finite dose of a vesicle-like active over 48 h with
49 outputs (see :func:`vesicle_problem`); ``compare_reference.py`` solves the
same problem.  Resolutions are exodiff's ``auto`` grid and that grid with
twice and four times the cells in every layer.

Run (repository root, 2 cores: one benchmark at a time)::

    asv run --python=same --quick            # smoke test on the current env
    asv run --python=same                    # full timing on the current env
    asv run                                  # in a fresh virtualenv, HEAD of main
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from exodiff.problem.layered import Layer, Problem1D
from exodiff.solvers.layered import integrate

HOUR = 3600.0
#: output times: every hour for 48 h, 49 outputs including t = 0
OUTPUT_TIMES = np.linspace(0.0, 48 * HOUR, 49)

#: vesicle-like finite dose: a tight stratum corneum with a small D, a viable
#: epidermis and a thick dermis, partition jumps at every interface (relative
#: to the vehicle), first-order degradation, cellular uptake and clearance
LAYERS = (
    Layer("stratum_corneum", thickness=15e-6, diffusivity=5e-15, partition=0.5),
    Layer("viable_epidermis", thickness=60e-6, diffusivity=5e-12, partition=1.0,
          degradation_rate=2e-5, uptake_rate=5e-5),
    Layer("dermis", thickness=1.2e-3, diffusivity=2e-11, partition=0.8,
          degradation_rate=1e-5, clearance_rate=1e-4),
)

#: grid factor of each benchmark resolution relative to exodiff's "auto" grid
RESOLUTIONS = {"auto": 1, "2x": 2, "4x": 4}


def vesicle_problem(resolution: str = "auto", tolerance: float = 1e-5) -> Problem1D:
    """The benchmark problem at one of :data:`RESOLUTIONS` (or an integer factor)."""
    factor = RESOLUTIONS[resolution] if isinstance(resolution, str) else int(resolution)
    kw = dict(output_times=OUTPUT_TIMES, bottom="sink", vehicle="finite", concentration=1.0,
              vehicle_thickness=20e-6, tolerance=tolerance)
    auto = Problem1D.from_layers(LAYERS, resolution="auto", **kw)  # whatever "auto" means today
    if factor == 1:
        return auto
    cells = [factor * (sl.stop - sl.start) for sl in auto.grid.layer_slices]
    return Problem1D.from_layers(LAYERS, resolution=cells, **kw)


def _best_time(fn, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


class Solver1D:
    """Wall time, peak memory and throughput of one full ``integrate`` call."""

    params = list(RESOLUTIONS)
    param_names = ["resolution"]
    timeout = 300

    def setup(self, resolution):
        self.problem = vesicle_problem(resolution)
        integrate(self.problem)  # JIT warm-up (or cache load)

    def time_run_1d(self, resolution):
        integrate(self.problem)

    def peakmem_run_1d(self, resolution):
        integrate(self.problem)

    def track_cell_updates_per_second(self, resolution):
        """Nodes x attempted steps of the default integrator per second of ``integrate``."""
        raw = integrate(self.problem)
        steps = raw.stats["steps"] + raw.stats["rejected"]
        nodes = self.problem.grid.n + 1
        wall = _best_time(lambda: integrate(self.problem))
        return nodes * steps / wall

    track_cell_updates_per_second.unit = "cell-updates/s"

    def track_steps(self, resolution):
        """Accepted steps (a regression here is a step-control change, not a speed change)."""
        return integrate(self.problem).stats["steps"]

    track_steps.unit = "steps"


class Integrators1D:
    """Per 1D integrator (``simulation.integrator``): steps, time per step and accuracy at the default tolerance.

    Accuracy is the error against the exact solution of the same
    semi-discrete system (eigen-decomposition, ``compare_reference.py``):
    max over the 49 outputs and over the vehicle and each layer of
    ``|amount - exact| / dose``.  A regression shows as more steps, a
    dearer step or a larger error, each on its own.  The Krylov propagator
    takes no steps: its "steps" are its vectors (the most in a window).
    """

    params = (["auto", "4x"], ["esdirk4", "tr-bdf2", "sdirk4", "krylov"])
    param_names = ["resolution", "integrator"]
    timeout = 300

    def setup(self, resolution, integrator):
        from dataclasses import replace

        self.problem = replace(vesicle_problem(resolution), integrator=integrator)
        self.raw = integrate(self.problem)  # JIT warm-up (or cache load)

    def time_integrate(self, resolution, integrator):
        integrate(self.problem)

    @staticmethod
    def _steps(raw):
        return raw.stats.get("krylov_vectors") or raw.stats["steps"] + raw.stats["rejected"]

    def track_steps(self, resolution, integrator):
        """Attempted steps (accepted + rejected); Krylov vectors for the propagator."""
        return self._steps(self.raw)

    track_steps.unit = "steps"

    def track_us_per_step(self, resolution, integrator):
        """Kernel wall time per attempted step (best of 5), microseconds."""
        best = float("inf")
        for _ in range(5):
            raw = integrate(self.problem)
            best = min(best, raw.stats["wall_time_s"])
        return 1e6 * best / self._steps(raw)

    track_us_per_step.unit = "us"

    def track_error(self, resolution, integrator):
        """Max error over outputs and regions against the exact semi-discrete solution, fraction of the dose."""
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from compare_reference import exact_regions, regions, semidiscrete

        sd = semidiscrete(self.problem)
        exact, _ = exact_regions(sd)
        amounts = regions(self.raw.u * self.problem.kernel_arrays()["cap"], self.problem.grid.layer_slices)
        return float(np.abs(amounts - exact).max() / sd["dose"])

    track_error.unit = "fraction of dose"


# -- start-up costs: separate processes with their own Numba cache -------------

#: what a fresh process runs; prints JSON timings (perf_counter, s)
_CHILD = r"""
import json, time
t0 = time.perf_counter()
import numpy as np
from exodiff.problem.layered import Layer, Problem1D
from exodiff.solvers.layered import integrate
import sys
sys.path.insert(0, {bench_dir!r})
from bench_solver_1d import vesicle_problem
t1 = time.perf_counter()
import numba  # counted apart: the first integrate imports it anyway
t2 = time.perf_counter()
p = vesicle_problem("auto")
raw = integrate(p)
t3 = time.perf_counter()
integrate(p)
t4 = time.perf_counter()
print(json.dumps(dict(import_exodiff=t1 - t0, import_numba=t2 - t1, first_integrate=t3 - t2,
                      second_integrate=t4 - t3, start_to_first_result=t3 - t0)))
"""


def run_child(cache_dir: str, extra_args=()) -> dict:
    """Run :data:`_CHILD` in a fresh interpreter with ``NUMBA_CACHE_DIR=cache_dir``.

    Returns its timings plus ``process_wall`` (interpreter start to exit, s).
    """
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    code = _CHILD.format(bench_dir=os.path.dirname(os.path.abspath(__file__)))
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, *extra_args, "-c", code], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError("start-up child failed:\n" + "\n".join(out.stderr.strip().splitlines()[-10:]))
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_wall"] = wall
    res["stderr"] = out.stderr
    return res


class StartUp:
    """Compile time (empty Numba cache) and cached start (warm cache), fresh processes."""

    timeout = 600
    repeat = 1
    number = 1

    def setup(self):
        self.cache = tempfile.mkdtemp(prefix="exodiff-numba-")

    def teardown(self):
        shutil.rmtree(self.cache, ignore_errors=True)

    def track_compile_seconds(self):
        """First ``integrate`` in a process with an empty cache: compile + save + solve (numba imported before)."""
        return run_child(self.cache)["first_integrate"]

    track_compile_seconds.unit = "s"

    def track_cached_start_seconds(self):
        """Second process, warm cache: import of exodiff and numba + first ``integrate`` (cache load + solve)."""
        run_child(self.cache)  # fills the cache
        return run_child(self.cache)["start_to_first_result"]

    track_cached_start_seconds.unit = "s"
