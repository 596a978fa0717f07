"""The commented starting scenario that ``exodiff init`` writes.

Every key in it is a real key with a value that validates (tests/test_cli_docs.py
runs it), and every comment says what the key does and where the choices are
listed, so a new user edits a working file instead of starting from a blank one.
"""

from __future__ import annotations

__all__ = ["STARTER"]

STARTER = """\
# A starting scenario written by `exodiff init`. Edit, then:
#
#     exodiff validate THIS_FILE      # checks every key, nothing runs
#     exodiff run THIS_FILE           # writes result.nc, summary.json and plots
#
# Every quantity is a string with units ("15 um", "2 h", "1e10 particles/cm^2").
# All keys, units and ranges: `exodiff docs scenario`. Presets with values and
# sources: `exodiff presets`. Worked examples: the gallery `exodiff presets` lists.

[meta]
name = "My first scenario"

[skin]
# A body site with literature layer thicknesses and properties: forearm, face,
# back, ... (`exodiff presets skin`). Or preset = "none" and [skin.layers.<name>].
preset = "forearm"
# What leaves the bottom of the dermis: "sink" (in vivo), "no_flux", or a Franz
# cell's "receptor" (then add a [receptor] table).
bottom = "sink"

[formulation]
# What is applied: a vesicle or small-molecule preset (`exodiff presets formulation`),
# its values overridable here (diameter = "90 nm", half_life = "24 h", ...).
preset = "msc_exosome"
# Amount per skin area, in the unit you count in: particles, ug, ug protein, nmol.
dose = "1e10 particles/cm^2"
# The applied film; "finite" (it empties) or "infinite" (a constant donor).
vehicle = "finite"
vehicle_thickness = "20 um"
# The vehicle left on the skin is washed off then (booked as `removed`).
wash_off_time = "12 h"

[delivery]
# "topical" (intact skin), "microneedle" or "laser" (micro-channels: add a
# device = "..." from `exodiff presets device`).
method = "topical"

[simulation]
duration = "24 h"
output_interval = "30 min"

[output]
# Times of the depth-profile plot.
profile_times = ["1 h", "6 h", "24 h"]
"""
