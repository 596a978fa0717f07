"""asv benchmarks of a regimen (issue 12): 28 applications over 14 days against one application over 48 h.

The two runs of ``regimen_speed.py`` (the caffeine serum twice daily,
outputs every 30 min, ``exodiff.run`` with its Dataset): each one's time,
their ratio measured alternating in one process (this machine's speed
drifts within seconds, so two separately timed benchmarks do not make a
ratio), the steps of the 14 d run and the intervals its superposition
integrated, so a change that costs steps or Python shows.

Run (repository root)::

    asv run --python=same --bench bench_regimen
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from regimen_speed import scenarios, timed


class Regimen:
    timeout = 600

    def setup(self):
        import exodiff

        self.single, self.regimen = scenarios()
        exodiff.run(self.single)  # compile or load the kernels
        self.ds = exodiff.run(self.regimen)

    def time_single_48h(self):
        import exodiff

        exodiff.run(self.single)

    def time_regimen_14d(self):
        import exodiff

        exodiff.run(self.regimen)

    def track_ratio(self):
        """14 d / 48 h, best of 10 each, alternating (goal < 2)."""
        (t1, *_), (tr, *_) = timed([self.single, self.regimen], 10)
        return tr / t1

    track_ratio.unit = "ratio"

    def track_steps_14d(self):
        return int(self.ds.attrs["solver_steps"])

    track_steps_14d.unit = "steps"

    def track_intervals_integrated(self):
        return int(self.ds.attrs.get("regimen_applications_integrated", 28))

    track_intervals_integrated.unit = "intervals"
