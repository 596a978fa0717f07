"""Scenario text never reaches the HTML reports as markup: a hostile name is shown, not run.

The reports are built from f-strings with one escaping helper per module
(docs/dev/architecture.md says why not Jinja2 templates); these tests feed a
name with markup through every report that shows scenario text and check
that no raw tag survives, only its escaped form.
"""

from __future__ import annotations

import tomllib

import exodiff
from exodiff.report.compare_html import comparison_html
from exodiff.report.fit_html import fit_html
from exodiff.studies import compare

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'

MEMBRANE = """
[meta]
name = 'NAME'
[skin]
preset = "none"
bottom = "sink"
[skin.layers.membrane]
thickness = "100 um"
diffusivity = "1e-8 cm^2/s"
partition = 0.5
[formulation]
preset = "custom"
vehicle = "infinite"
concentration = "1 mg/cm^3"
vehicle_thickness = "1 mm"
[simulation]
duration = "2 h"
output_interval = "30 min"
"""


def _scenario(name: str):
    return exodiff.load_scenario(tomllib.loads(MEMBRANE.replace("NAME", name)))


def test_comparison_report_escapes_scenario_names():
    cmp = compare.run_comparison({"a": _scenario(HOSTILE), "b": _scenario("plain")}, jobs=1)
    page = comparison_html(cmp, {})
    assert "<script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page


def test_fit_report_escapes_keys_warnings_and_the_scenario_text():
    summary = {
        "parameters": {HOSTILE: {"value": 1.0, "unit": HOSTILE, "ci95": [0.5, 2.0], "bounds": [0.1, 10.0]}},
        "weighting": {"scale": HOSTILE}, "convergence": {"starts": 2, "starts_at_best": 1},
        "n_observations": 3, "cost": 0.5, "interval_method": HOSTILE, "warnings": [HOSTILE],
    }
    page = fit_html(summary, {}, f"[meta]\nname = '{HOSTILE}'\n")
    assert "<script>" not in page and "<img src=x" not in page
    assert page.count("&lt;script&gt;") >= 4
