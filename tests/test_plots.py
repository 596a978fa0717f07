"""Plots read well: axes scaled to the data, layers named, units and times in words, legends clear of the data.

Each test draws the figure and reads back what a person would see (axis
limits, texts, legend boxes), not the pixels.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

import exodiff
from exodiff.report import compare_plots, labels, plotting
from exodiff.studies import compare as cmpmod
from membranes import TWO_LAYER

ROOT = Path(__file__).resolve().parents[1]

# Intact skin, a vesicle: what enters is ~1e-9 of the dose and the vehicle is washed off at 2 h.
INTACT = """
[meta]
name = "intact"
[skin]
preset = "forearm"
[formulation]
preset = "msc_exosome"
dose = "1e10 particles/cm^2"
vehicle_thickness = "20 um"
wash_off_time = "2 h"
[simulation]
duration = "6 h"
output_interval = "30 min"
output_times = ["5 min", "30 min", "1 h", "2 h", "4 h", "6 h"]
[output]
profile_times = ["5 min", "1 h", "6 h"]
"""


@pytest.fixture(scope="module")
def intact():
    sc = exodiff.load_scenario(tomllib.loads(INTACT.replace('output_interval = "30 min"\n', "")))
    return sc, exodiff.run(sc)


def _texts(fig) -> list[str]:
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        out += [t.get_text() for t in ax.texts]
        out += [ax.get_xlabel(), ax.get_ylabel(), ax.get_title()]
        if ax.get_legend() is not None:
            out += [t.get_text() for t in ax.get_legend().get_texts()]
            out.append(ax.get_legend().get_title().get_text())
    for leg in fig.legends:
        out += [t.get_text() for t in leg.get_texts()]
    return out


def test_compartments_axis_reaches_the_skin_amounts_of_intact_skin(intact):
    _, ds = intact
    fig = plotting.compartments(ds)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    low, high = ax.get_ylim()
    skin = [str(c) for c in ds["layer"].values]
    peaks = {c: float(ds["fraction"].sel(compartment=c).max()) for c in skin}
    err = float(np.abs(ds["mass_balance_error"].values).max())
    # every skin layer above round-off is drawn inside the axis, not flat on a zero
    visible = [c for c, p in peaks.items() if p > err]
    assert visible and max(peaks.values()) < 1e-6
    for c in visible:
        assert low < peaks[c] < high, (c, peaks[c], low)
    assert low >= err  # nothing below round-off is shown as if it meant something
    assert high >= 1.0  # the vehicle's whole dose fits
    # the washed-off vehicle is explained next to the plot
    assert any("washed off at 2 h" in t for t in _texts(fig))
    labels_ = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "stratum corneum" in labels_ and "stratum_corneum" not in labels_


def test_run_plots_name_layers_units_and_times(intact):
    sc, ds = intact
    figs = plotting.all_figures(ds, [x / 3600 for x in sc.resolved["output"]["profile_times"]])
    every = [t for fig in figs.values() for t in _texts(fig)]
    # the layers are named at their boundaries, in words
    for fig in (figs["profiles"], figs["concentration_map"]):
        names = [t.get_text() for t in fig.axes[0].texts]
        assert {"stratum corneum", "viable epidermis", "dermis"} <= set(names)
    # units as symbols, not ASCII stand-ins
    assert "depth (µm)" in every
    assert not any(" um" in t or "(um)" in t or "cm-3" in t for t in every), [t for t in every if "um" in t]
    conc = figs["profiles"].axes[0].get_ylabel()
    assert conc == "concentration (particles cm$^{-3}$)"
    # the colour bar says its unit
    cbar = figs["concentration_map"].axes[1]
    assert cbar.get_ylabel() == conc
    # profile times as people say them
    legend = [t.get_text() for t in figs["profiles"].axes[0].get_legend().get_texts()]
    assert legend == ["5 min", "1 h", "6 h"]


@pytest.mark.parametrize("hours, text", [(5 / 60, "5 min"), (0.5, "30 min"), (1.0, "1 h"), (1.5, "1.5 h"),
                                         (48.0, "48 h"), (96.0, "4 d"), (10 / 3600, "10 s"), (0.123, "7.38 min"), (0.463, "27.8 min")])
def test_nice_time(hours, text):
    assert labels.nice_time(hours) == text


def test_units_and_keys_in_words():
    assert labels.unit_text("count cm-3") == "particles cm$^{-3}$"
    assert labels.unit_text("um2 s-1") == "µm$^{2}$ s$^{-1}$"
    assert labels.unit_text("ug cm-2 h-1") == "µg cm$^{-2}$ h$^{-1}$"
    assert labels.key_words("formulation.diameter") == "hydrodynamic diameter of the vesicle"
    assert labels.key_words("skin.layers.stratum_corneum.thickness") == "stratum corneum: thickness"
    assert labels.key_words("not.a.key") == "not.a.key"


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


MEMBRANE = TWO_LAYER.replace('output_interval = "30 min"', 'output_interval = "15 min"') + """[compare]
times = ["15 min", "2 h"]
[compare.variants.base_case]
[compare.variants.slow_top]
"skin.layers.top.diffusivity" = "1e-9 cm^2/s"
[compare.variants.with_wash_off]
"formulation.wash_off_time" = "1 h"
"""


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    f = tmp_path_factory.mktemp("cmp") / "cmp.toml"
    f.write_text(MEMBRANE)
    return cmpmod.run_comparison(f, jobs=1)


def test_compare_distribution_legend_covers_nothing(comparison):
    fig = compare_plots.distribution(comparison)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    legend = fig.legends[0].get_window_extent(r)
    for ax in fig.axes:
        assert not _overlap(legend, ax.get_window_extent(r))
        for text in [*ax.texts, *ax.get_yticklabels(), ax.xaxis.label, ax.title]:
            if text.get_text():
                assert not _overlap(legend, text.get_window_extent(r)), text.get_text()
    # the variants and compartments in words, the end time said
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["base case", "slow top", "with wash off"]
    assert "removed" in [t.get_text() for t in fig.legends[0].get_texts()]
    assert ax.get_title() == "Whole dose at 4 h"


def test_compare_profiles_name_layers_and_times(comparison):
    fig = compare_plots.profiles(comparison)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == ["t = 15 min", "t = 2 h"]
    for ax in shown:
        assert {"top", "bottom"} <= {t.get_text() for t in ax.texts}
        assert ax.get_xlabel() == "depth (µm)"
