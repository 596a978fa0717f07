"""Preset predictions against published measurements stay inside their stated bands.

The rows are docs/validation_experiments.md's (``docs/gen_validation_experiments.py``
computes both). The bands hold today's disagreement, stated in that page, so a
change of presets or physics that moves a prediction out of one is seen and
made deliberately, with the page regenerated.
"""

from __future__ import annotations

import importlib.util
import math
import pathlib
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATASETS = ROOT / "exodiff" / "data" / "datasets"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_validation_experiments",
                                                  ROOT / "docs" / "gen_validation_experiments.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def table():
    return {r["dataset"]: r for r in _generator().rows()}


#: dataset -> (lowest, highest) fold error (predicted / measured) accepted today, and why
BANDS = {
    # over-predicted: a drying aqueous film leaves a solid deposit the model does not have
    "kluxen2022_caffeine_all6labs": (2.0, 4.5),
    "kluxen2022_caffeine_subset5labs": (3.5, 8.0),
    # Potts-Guy kp against the in-vivo emulsion value: the SC's own permeability is close
    "chambin1993_caffeine_emulsion_invivo": (0.5, 2.0),
}


@pytest.mark.parametrize("name", list(BANDS))
def test_preset_prediction_stays_in_its_band(table, name):
    lo, hi = BANDS[name]
    fold = table[name]["fold"]
    assert lo <= fold <= hi, (name, fold)


def test_calibrated_dextran_diffusivities_sit_in_the_measured_ranges():
    dex = _generator().dextran_diffusivities()
    for label, d in dex.items():
        assert 1.0 <= d["viable_epidermis"] <= 8.0, (label, d)
        assert 1.0 <= d["dermis"] <= 20.0, (label, d)


def test_the_page_is_current(table):
    gen = _generator()
    text = (ROOT / "docs" / "validation_experiments.md").read_text()
    assert text == gen.render(list(table.values())), "run: python docs/gen_validation_experiments.py"


def test_every_shipped_dataset_has_a_citation_and_verified_values():
    for meta_path in sorted(DATASETS.glob("*.toml")):
        with open(meta_path, "rb") as fh:
            meta = tomllib.load(fh)
        cite = meta.get("citation", {})
        assert cite.get("title") and cite.get("journal"), meta_path.name
        values = meta.get("values", []) + meta.get("parameters", [])
        assert values, meta_path.name
        for v in values:
            assert isinstance(v.get("verified"), bool) and v.get("checked_in"), (meta_path.name, v)
        csv = meta_path.with_suffix(".csv")
        if csv.exists():
            head = csv.read_text().splitlines()[0]
            assert head.split(",")[:5] == ["observable", "time", "value", "sd", "unit"], csv.name
            for line in csv.read_text().splitlines()[1:]:
                assert math.isfinite(float(line.split(",")[2])), (csv.name, line)
