"""Preset data files: every value sourced, ranged, flagged, parseable, of the right dimension.

Also the ``exodiff presets`` listing and that every shipped preset combination
gives usable coefficients.
"""

from __future__ import annotations

import math

import pytest

from exodiff import data, units
from exodiff.errors import UserError
from exodiff.physics import layer_coefficients
from exodiff.scenario.presets import SOURCE_WIDTH, format_presets
from exodiff.scenario.schema import FORMULATION, LAYER, SKIN, STANDARD_LAYERS, AMOUNT

try:  # the shared registry (particle unit, offset temperatures)
    from exodiff import units as _units

    ureg = _units.ureg
except ImportError:  # pragma: no cover - before exodiff/units.py existed
    import pint

    ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    ureg.define("particle = [particle] = _ = particles")

AMOUNT_DIMS = ("[particle]", "[mass]", "[substance]")

SKIN_SITES = data.names("skin")
FORMULATIONS = data.names("formulation")


def _field(kind: str, key: str):
    """Schema field of a dotted preset key (``layers.dermis.thickness`` -> LAYER['thickness'])."""
    parts = key.split(".")
    if kind == "skin":
        if parts[0] == "layers":
            assert len(parts) == 3, key
            return LAYER[parts[2]]
        return SKIN[parts[0]]
    assert len(parts) == 1, key
    return FORMULATION[parts[0]]


def _si(value, field) -> float:
    """A preset value in the SI unit of its schema field (amount keys: per m^2 or m^3)."""
    if field.kind == "number":
        assert isinstance(value, (int, float)) and not isinstance(value, bool), value
        return float(value)
    assert field.kind == "quantity", field
    assert isinstance(value, str), f"{value!r} should be a string with units"
    q = ureg.Quantity(value)
    if field.si_unit.startswith(AMOUNT):
        geometric = field.si_unit[len(AMOUNT):].lstrip("/")  # "[amount]/m^2" -> "m^2"
        per = ureg.parse_units(f"1/({geometric})")
        amount_dims = q.dimensionality / per.dimensionality
        key = str(amount_dims)
        assert key in AMOUNT_DIMS, f"{value!r}: amount part has dimension {key}"
        return float(q.magnitude)
    target = ureg.parse_units(field.si_unit)
    assert q.dimensionality == target.dimensionality, (
        f"{value!r} has dimension {q.dimensionality}, expected that of {field.si_unit}")
    return float(q.to(target).magnitude)


def _all_entries():
    for kind in ("skin", "formulation"):
        for name in data.names(kind):
            for key, entry in data.entries(kind, name):
                yield pytest.param(kind, name, key, entry, id=f"{kind}:{name}.{key}")


ENTRIES = list(_all_entries())


def test_expected_presets_exist():
    assert {"forearm", "face", "back"} <= set(SKIN_SITES)
    assert FORMULATIONS[:5] == ["msc_exosome", "plant_exosome", "liposome", "caffeine", "custom"] or \
        {"msc_exosome", "plant_exosome", "liposome", "caffeine", "custom"} <= set(FORMULATIONS)


@pytest.mark.parametrize("kind,name,key,entry", ENTRIES)
def test_entry_has_metadata(kind, name, key, entry):
    assert set(entry) <= {"value", "range", "source", "estimate", "note"}, set(entry)
    assert "value" in entry
    assert isinstance(entry.get("range"), list) and len(entry["range"]) == 2, "range must be [low, high]"
    assert isinstance(entry.get("source"), str) and entry["source"].strip(), "source must be a non-empty string"
    assert isinstance(entry.get("estimate"), bool), "estimate must be true or false"
    assert isinstance(entry.get("note", ""), str)
    if entry["estimate"]:
        assert entry.get("note", "").strip(), "an estimate must say in its note how it was chosen"


@pytest.mark.parametrize("kind,name,key,entry", ENTRIES)
def test_entry_dimension_and_range(kind, name, key, entry):
    field = _field(kind, key)
    v = _si(entry["value"], field)
    lo, hi = (_si(x, field) for x in entry["range"])
    assert math.isfinite(v)
    assert lo <= hi
    tol = 1e-12 * max(abs(lo), abs(hi), 1e-300)
    assert lo - tol <= v <= hi + tol, f"value {entry['value']} outside range {entry['range']}"
    if not field.si_unit.startswith(AMOUNT):
        assert field.in_range(v), f"{entry['value']} outside the admissible {field.range_text()}"


@pytest.mark.parametrize("site", SKIN_SITES)
def test_skin_site_structure(site):
    raw = data.load("skin")[site]
    assert isinstance(raw.get("description"), str) and raw["description"]
    assert raw["bottom"] in SKIN["bottom"].choices
    assert set(raw) <= {"description", "layers", *SKIN}, set(raw) - {"description", "layers", *SKIN}
    layers = raw["layers"]
    in_vitro = raw["bottom"] == "receptor"  # excised skin in a diffusion cell: may stop above the dermis
    assert list(layers) == list(STANDARD_LAYERS)[:len(layers)], "layers top to bottom"
    assert len(layers) == 3 or (in_vitro and len(layers) >= 2)
    expected = {"stratum_corneum": "pore", "viable_epidermis": "ogston", "dermis": "ogston"}
    for name, table in layers.items():
        assert set(table) <= set(LAYER), set(table) - set(LAYER)
        assert "thickness" in table and "uptake_weight" in table
        assert table["hindrance"] in LAYER["hindrance"].choices
        if name in expected:
            assert table["hindrance"] == expected[name]
    sc, ve = layers["stratum_corneum"], layers["viable_epidermis"]
    de = layers.get("dermis")
    assert {"pore_radius", "porosity", "tortuosity"} <= set(sc)
    for ly in (ve, de) if de is not None else (ve,):
        assert {"fibre_radius", "fibre_volume_fraction", "accessible_fraction"} <= set(ly)
    if de is not None:
        assert {"vascular_clearance_rate", "lymphatic_clearance_rate", "capillary_pore_radius",
                "lymphatic_size_scale"} <= set(de)
    assert sc["uptake_weight"]["value"] == 0
    if in_vitro:
        # no living cells, no blood or lymph flow in excised skin
        assert all(t["uptake_weight"]["value"] == 0 for t in layers.values())
        if de is not None:
            assert units.to_si(de["vascular_clearance_rate"]["value"], "1/s") == 0
            assert units.to_si(de["lymphatic_clearance_rate"]["value"], "1/s") == 0
    else:
        assert ve["uptake_weight"]["value"] == 1


@pytest.mark.parametrize("name", FORMULATIONS)
def test_formulation_structure(name):
    raw = data.load("formulation")[name]
    assert isinstance(raw.get("description"), str) and raw["description"]
    assert set(raw) <= {"description", *FORMULATION}, set(raw) - {"description", *FORMULATION}
    if name == "custom":
        assert set(raw) == {"description"}
        return
    kind = raw["kind"]
    assert kind in FORMULATION["kind"].choices
    if kind == "vesicle":
        assert {"diameter", "deformability", "half_life", "uptake_rate", "dose", "vehicle_thickness"} <= set(raw)
    else:
        assert {"molecular_weight", "log_kow"} <= set(raw)
        assert "dose" in raw or "concentration" in raw


def _resolved(kind: str, name: str) -> dict:
    """A preset as SI floats (enough of the scenario layer's job for the physics)."""
    raw = data.values(kind, name)

    def conv(table, spec):
        out = {}
        for k, v in table.items():
            f = spec[k]
            out[k] = v if f.kind in ("choice", "string") else _si(v, f)
        return out

    if kind == "formulation":
        return conv(raw, FORMULATION)
    skin = conv({k: v for k, v in raw.items() if k != "layers"}, SKIN)
    skin["layers"] = {n: conv(t, LAYER) for n, t in raw["layers"].items()}
    return skin


@pytest.mark.parametrize("site", SKIN_SITES)
@pytest.mark.parametrize("name", [f for f in FORMULATIONS if f != "custom"])
def test_every_preset_pair_gives_coefficients(site, name):
    skin = _resolved("skin", site)
    form = _resolved("formulation", name)
    for layer_name, layer in skin["layers"].items():
        co = layer_coefficients(form, layer_name, layer, skin)
        for v in (co.diffusivity, co.partition, co.degradation_rate, co.uptake_rate, co.clearance_rate):
            assert math.isfinite(v) and v >= 0.0
        if layer_name != "stratum_corneum":
            assert co.diffusivity > 0 and co.partition > 0


def test_skin_presets_load_values_without_metadata():
    vals = data.values("skin", "forearm")
    assert vals["layers"]["stratum_corneum"]["thickness"] == "18.3 um"
    assert "description" not in vals


# -- the listing ---------------------------------------------------------------
def test_format_presets_lists_everything():
    text = format_presets(None)
    for name in (*SKIN_SITES, *FORMULATIONS):
        assert f"'{name}'" in text
    assert "layers.stratum_corneum.pore_radius" in text
    assert "Sandby-Moller" in text


@pytest.mark.parametrize("kind", ["skin", "formulation"])
def test_format_presets_one_kind(kind):
    text = format_presets(kind)
    other = "formulation" if kind == "skin" else "skin"
    assert f"{kind} preset" in text and f"{other} preset" not in text
    for line in text.splitlines():
        if line.startswith("  ") and (" yes " in line or " no " in line):
            # the source column is the last one and is shortened
            assert len(line.split("  ")[-1].strip()) <= SOURCE_WIDTH


def test_format_presets_marks_estimates_and_shortens_sources():
    text = format_presets("skin")
    rows = [ln for ln in text.splitlines() if "layers.dermis.lymphatic_size_scale" in ln]
    assert rows and all(" yes " in r for r in rows)
    assert "..." in text  # long sources are cut


def test_format_presets_unknown_kind():
    with pytest.raises(UserError, match="skin"):
        format_presets("devices")


def test_parameter_tables_are_current():
    """docs/parameters.md is generated from the data files; regenerate it after editing them."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "docs" / "gen_parameters.py"
    if not path.exists():  # pragma: no cover - installed package without docs
        pytest.skip("docs/ not present")
    spec = importlib.util.spec_from_file_location("gen_parameters", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.OUT.read_text(encoding="utf-8") == mod.render(), "run: python docs/gen_parameters.py"
