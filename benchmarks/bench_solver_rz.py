"""asv benchmarks of the r-z unit-cell solver (``exodiff.solvers.unit_cell.integrate_rz``).

The problem is a microneedle-like finite dose (see :func:`microneedle_problem`):
the three layers of ``bench_solver_1d`` (a tight stratum corneum, viable
epidermis, a thick dermis), one open channel of a 1 mm dermaroller (70 um
wide, 500 um deep, 122 channels per cm^2) through them, filled with the
formulation and closing with a 6 h time constant (occluded), a 20 um film
of a vesicle-like active, 48 h with hourly outputs.  ``compare_reference.py
--rz`` solves the same problem.  Resolutions: exodiff's ``auto`` grid, the
same grid with every segment doubled in r and z (``2x``, 4x the cells) and
the 200 x 400 cell grid of the issue's speed goal (``200x400``).

Run (repository root, 2 cores: one benchmark at a time)::

    asv run --python=same --quick --bench bench_solver_rz
    asv run --python=same --bench bench_solver_rz
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_solver_1d import LAYERS, OUTPUT_TIMES, _best_time  # noqa: E402

from exodiff.problem.unit_cell import ProblemRZ  # noqa: E402
from exodiff.solvers.unit_cell import integrate_rz  # noqa: E402

HOUR = 3600.0

#: a 1.0 mm dermaroller track (exodiff/data/devices.toml): 70 um channel,
#: 50 % penetration, 192 needles x 8 passes over a 2 cm drum, occluded closure
CHANNEL = dict(channel_radius=35e-6, channel_depth=500e-6, density=1.22e6,
               open_diffusivity=4e-12,         # ~100 nm vesicle in water (Stokes-Einstein, 32 C)
               closure_time=6 * HOUR)

#: resolution settings: ``auto``; ``2x`` is auto with every segment doubled
#: (the grids nest); ``200x400`` is (nr, nz) of the speed goal
RESOLUTIONS = ("auto", "2x", "200x400")


def microneedle_problem(resolution="auto", tolerance: float = 1e-5, **overrides) -> ProblemRZ:
    """The benchmark unit cell at one of :data:`RESOLUTIONS`, ``(nr, nz)`` or an integer factor of ``auto``."""
    kw = dict(CHANNEL, output_times=OUTPUT_TIMES, bottom="sink", vehicle="finite", concentration=1.0,
              vehicle_thickness=20e-6, tolerance=tolerance)
    kw.update(overrides)
    if resolution == "200x400":
        resolution = (200, 400)
    if resolution == "2x":
        resolution = 2
    if isinstance(resolution, int):
        g = ProblemRZ.from_layers(LAYERS, **kw).grid
        resolution = {"nr": resolution * g.nr, "nz": resolution * g.nz}
    return ProblemRZ.from_layers(LAYERS, resolution=resolution, **kw)


class SolverRZ:
    """Wall time and step counts of one full ``integrate_rz`` call (after compilation)."""

    params = (list(RESOLUTIONS), ["serial", "parallel"])
    param_names = ["resolution", "kernel"]
    timeout = 600
    repeat = (1, 5, 30.0)
    number = 1

    def setup(self, resolution, kernel):
        self.problem = microneedle_problem(resolution)
        self.parallel = kernel == "parallel"
        self.raw = integrate_rz(self.problem, parallel=self.parallel)  # JIT compile or cache load

    def time_run_rz(self, resolution, kernel):
        integrate_rz(self.problem, parallel=self.parallel)

    def track_steps(self, resolution, kernel):
        """Accepted steps (a change here is a step-control change, not a speed change)."""
        return self.raw.stats["steps"]

    track_steps.unit = "steps"

    def track_rejected(self, resolution, kernel):
        """Rejected steps."""
        return self.raw.stats["rejected"]

    track_rejected.unit = "steps"

    def track_cell_updates_per_second(self, resolution, kernel):
        """Cells x attempted steps per second of ``integrate_rz`` (best of 3)."""
        st = self.raw.stats
        cells = st["cells"]
        wall = _best_time(lambda: integrate_rz(self.problem, parallel=self.parallel), repeat=3)
        return cells * (st["steps"] + st["rejected"]) / wall

    track_cell_updates_per_second.unit = "cell-updates/s"


def grid_report(resolution="auto") -> str:
    """One line: the grid's shape and cells (for scripts)."""
    p = microneedle_problem(resolution)
    nz, nr = p.grid.shape
    return f"{resolution}: nr {nr} x nz {nz} = {nr * nz} cells"


if __name__ == "__main__":  # quick look: grids, steps and one timing each
    import time

    for res in RESOLUTIONS:
        p = microneedle_problem(res)
        for par in (False, True):
            raw = integrate_rz(p, parallel=par)
            t0 = time.perf_counter()
            raw = integrate_rz(p, parallel=par)
            wall = time.perf_counter() - t0
            print(f"{grid_report(res)}: {'parallel' if par else 'serial'} {wall:.3f} s, "
                  f"{raw.stats['steps']} steps, {raw.stats['rejected']} rejected, "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
