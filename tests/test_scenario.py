"""Scenario loading: units, presets, derived values, replace(), and every error path."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import exodiff.physics
from exodiff import data, units
from exodiff.errors import Issue, ParameterProblem, ScenarioError
from exodiff.scenario.core import (
    IN_MEMORY,
    MAX_OUTPUT_TIMES,
    Scenario,
    clear_preset_cache,
    load_scenario,
    to_toml,
)

MEMBRANE = """
[meta]
name = "membrane"

[skin]
preset = "none"
bottom = "sink"

[skin.layers.membrane]
thickness = "100 um"
diffusivity = "1e-8 cm^2/s"
partition = 0.5

[formulation]
vehicle = "infinite"
concentration = "1 mg/cm^3"
vehicle_thickness = "1 mm"

[simulation]
duration = "5 h"
output_interval = "5 min"
"""


def write(tmp_path: Path, text: str, name: str = "case.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def issues_of(source, overrides=None) -> list[Issue]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(source, overrides)
    return info.value.issues


def keys_of(issues) -> list[str]:
    return [i.key for i in issues]


def minimal(**sections) -> dict:
    """A valid explicit-layer scenario dict; keyword arguments update sections."""
    d = {
        "skin": {"preset": "none", "layers": {"membrane": {"thickness": "100 um", "diffusivity": "1e-8 cm^2/s",
                                                           "partition": 0.5}}},
        "formulation": {"vehicle": "infinite", "concentration": "1 mg/cm^3"},
        "simulation": {"duration": "5 h"},
    }
    for sec, table in sections.items():
        d.setdefault(sec, {}).update(table)
        for k in [k for k, v in table.items() if v is None]:  # None: leave the key out
            del d[sec][k]
    return d


# --------------------------------------------------------------------------
# Units


class TestUnits:
    def test_particles_per_area_to_si(self, fake_presets):
        sc = load_scenario(minimal(formulation={"vehicle": "finite", "dose": "1e10 particles/cm^2",
                                                "concentration": None}))
        f = sc.resolved["formulation"]
        assert f["dose_unit"] == "particle"
        assert f["dose"] == 1e14  # particle/m^2

    def test_temperature_offset_unit(self, fake_presets):
        sc = load_scenario(minimal(skin={"temperature": "32 degC"}))
        assert sc.resolved["skin"]["temperature"] == pytest.approx(305.15, abs=1e-12)
        assert load_scenario(minimal(skin={"temperature": "300 K"})).resolved["skin"]["temperature"] == 300.0

    def test_rate_per_hour_to_per_second(self, fake_presets):
        d = minimal()
        d["skin"]["layers"]["membrane"]["uptake_rate"] = "0.02 1/h"
        assert load_scenario(d).resolved["skin"]["layers"]["membrane"]["uptake_rate"] == 0.02 / 3600

    def test_decimal_prefixes_are_correctly_rounded(self):
        # dividing by 1e6 is exact-rounded; multiplying by 1e-6 is not
        assert units.to_si("100 um", "m") == 1e-4
        assert units.to_si("1 mm", "m") == 1e-3
        assert units.to_si("1e-7 cm^2/s", "m^2/s") == 1e-11
        assert units.parse_amount("1 ug/mL", "1/m^3") == (1e6, "ug", "[mass]")

    def test_protein_tag_is_kept_in_the_dose_unit(self, fake_presets):
        sc = load_scenario(minimal(formulation={"vehicle": "finite", "dose": "1 ug protein/cm^2",
                                                "concentration": None}))
        assert sc.resolved["formulation"]["dose_unit"] == "ug protein"
        assert sc.resolved["formulation"]["dose"] == pytest.approx(1e4)

    def test_protein_tag_refused_outside_amounts(self, fake_presets):
        d = minimal()
        d["skin"]["layers"]["membrane"]["thickness"] = "15 um protein"
        (issue,) = issues_of(d)
        assert issue.key == "skin.layers.membrane.thickness"
        assert "only allowed in a dose or concentration" in issue.given

    def test_molar_concentration_uses_mol(self, fake_presets):
        sc = load_scenario(minimal(formulation={"concentration": "2 mM"}))
        f = sc.resolved["formulation"]
        assert f["dose_unit"] == "mol"
        assert f["concentration"] == pytest.approx(2.0)  # mol/m^3

    def test_format_unit_parses_back(self):
        for text in ("ug protein", "particle", "m^2/s", "1/s", "mol"):
            assert units.ureg.parse_units(units.format_unit(text)) == units.ureg.parse_units(text)
        assert units.format_unit("micrometer") == "um"

    def test_parse_rejects_unit_without_number(self):
        with pytest.raises(units.UnitParseError, match="number must come first"):
            units.parse("um")


@given(st.floats(min_value=1e-3, max_value=1e5, allow_nan=False, allow_infinity=False))
def test_thickness_in_um_round_trips_to_si(x):
    """Any positive thickness in um is the correctly rounded x / 1e6 m, and converts back."""
    si = units.to_si(f"{x!r} um", "m")
    assert si == x / 1e6
    assert units.ureg.Quantity(si, "m").to("um").magnitude == pytest.approx(x, rel=1e-15)


@given(st.floats(min_value=1e-3, max_value=1e5, allow_nan=False, allow_infinity=False))
def test_thickness_through_replace_is_exact(x):
    base = load_scenario(MEMBRANE_DICT)
    sc = base.replace({"skin.layers.membrane.thickness": f"{x!r} um"})
    assert sc.resolved["skin"]["layers"]["membrane"]["thickness"] == x / 1e6


MEMBRANE_DICT = tomllib.loads(MEMBRANE)


@given(duration_h=st.floats(min_value=0.01, max_value=1000), n=st.integers(min_value=1, max_value=500))
def test_output_times_cover_zero_to_duration(duration_h, n):
    interval_h = duration_h / n * 1.37  # deliberately not a divisor
    sc = load_scenario(MEMBRANE_DICT, {"simulation.duration": f"{duration_h!r} h",
                                       "simulation.output_interval": f"{interval_h!r} h"})
    t = sc.resolved["simulation"]["output_times"]
    assert t[0] == 0.0 and t[-1] == duration_h * 3600
    assert all(b > a for a, b in zip(t, t[1:]))
    assert max(b - a for a, b in zip(t, t[1:])) <= interval_h * 3600 * (1 + 1e-9)


# --------------------------------------------------------------------------
# Presets and layers


class TestPresets:
    def test_skin_preset_merged_with_layer_override(self, fake_presets):
        d = minimal()
        d["skin"] = {"layers": {"dermis": {"thickness": "2 mm", "uptake_rate": "0.01 1/h"}}}  # preset forearm
        skin = load_scenario(d).resolved["skin"]
        assert skin["preset"] == "forearm"
        assert list(skin["layers"]) == ["stratum_corneum", "viable_epidermis", "dermis"]
        dermis = skin["layers"]["dermis"]
        assert dermis["thickness"] == 2e-3  # user wins
        assert dermis["uptake_rate"] == 0.01 / 3600  # user adds
        assert dermis["uptake_weight"] == 0.1  # preset kept
        assert dermis["lymphatic_clearance_rate"] == 0.05 / 3600
        assert skin["layers"]["stratum_corneum"] == {"thickness": 15e-6, "hindrance": "pore",
                                                     "pore_radius": 10e-9, "porosity": 1e-5}
        assert skin["viscosity"] == 1e-3  # from the preset
        assert skin["bottom"] == "sink"

    def test_user_section_values_beat_preset_and_defaults_fill_in(self, fake_presets):
        d = minimal()
        d["skin"] = {"preset": "back", "bottom": "sink"}
        skin = load_scenario(d).resolved["skin"]
        assert skin["bottom"] == "sink"  # preset says no_flux
        assert skin["temperature"] == 305.15 and skin["viscosity"] == 0.764e-3  # schema defaults
        assert list(skin["layers"]) == ["stratum_corneum", "dermis"]

    def test_explicit_layers_keep_file_order(self, tmp_path, fake_presets):
        text = """
[skin]
preset = "none"
[skin.layers.zeta]
thickness = "10 um"
[skin.layers.alpha]
thickness = "20 um"
[skin.layers.mid]
thickness = "30 um"
[formulation]
concentration = "1 ug/cm^3"
[simulation]
duration = "1 h"
"""
        layers = load_scenario(write(tmp_path, text)).resolved["skin"]["layers"]
        assert list(layers) == ["zeta", "alpha", "mid"]
        assert [v["thickness"] for v in layers.values()] == [1e-5, 2e-5, 3e-5]

    def test_formulation_preset_merged(self, fake_presets):
        d = minimal(formulation={"preset": "msc_exosome", "diameter": "90 nm"})
        f = load_scenario(d).resolved["formulation"]
        assert f["kind"] == "vesicle"
        assert f["diameter"] == pytest.approx(90e-9)  # user wins
        assert f["half_life"] == 36 * 3600.0
        assert f["deformability"] == 0.3
        assert f["uptake_rate"] == 0.02 / 3600

    def test_preset_amount_used_only_when_user_gives_none(self, fake_presets):
        d = minimal()
        d["formulation"] = {"preset": "stock"}
        f = load_scenario(d).resolved["formulation"]
        assert f["dose_unit"] == "particle"
        assert f["concentration"] == pytest.approx(1e17)  # 1e11 /mL in /m^3
        d["formulation"] = {"preset": "stock", "dose": "1 ug/cm^2"}  # replaces the preset's particles
        f = load_scenario(d).resolved["formulation"]
        assert f["dose_unit"] == "ug" and f["dose"] == pytest.approx(1e4)

    def test_shipped_presets_are_valid(self):
        """Every preset in the package data passes the same validation as user input."""
        from exodiff.scenario.core import _formulation_preset, _skin_preset

        clear_preset_cache()
        checked = 0
        for kind, parse in (("skin", _skin_preset), ("formulation", _formulation_preset)):
            try:
                names = data.names(kind)
            except FileNotFoundError:
                continue
            for name in names:
                issues = parse(name)[-1]
                assert issues == (), [str(i) for i in issues]
                checked += 1
        if not checked:
            pytest.skip("no preset data in the package yet")


# --------------------------------------------------------------------------
# Formulation: dose, concentration, vehicle


class TestVehicle:
    def test_finite_dose_gives_concentration(self, fake_presets):
        f = load_scenario(minimal(formulation={"vehicle": "finite", "concentration": None,
                                               "dose": "1 ug/cm^2", "vehicle_thickness": "20 um"})
                          ).resolved["formulation"]
        assert f["dose"] == pytest.approx(1e4)
        assert f["concentration"] == pytest.approx(1e4 / 20e-6)

    def test_finite_concentration_gives_dose_with_default_thickness(self, fake_presets):
        f = load_scenario(minimal(formulation={"vehicle": "finite"})).resolved["formulation"]
        assert f["vehicle_thickness"] == 20e-6
        assert f["dose"] == pytest.approx(1e6 * 20e-6)  # 1 mg/cm^3 in mg/m^3 x 20 um
        assert f["evaporation_fraction"] == 0.0 and f["evaporation_time"] == 1800.0
        assert "wash_off_time" not in f

    def test_dose_and_concentration_give_thickness(self, fake_presets):
        f = load_scenario(minimal(formulation={"vehicle": "finite", "dose": "2 ug/cm^2",
                                               "concentration": "1 mg/mL"})).resolved["formulation"]
        assert f["dose_unit"] == "ug"
        assert f["concentration"] == pytest.approx(1e9)  # 1 mg/mL in ug/m^3
        assert f["vehicle_thickness"] == pytest.approx(20e-6)

    def test_three_inconsistent_values(self, fake_presets):
        (issue,) = issues_of(minimal(formulation={"vehicle": "finite", "dose": "2 ug/cm^2",
                                                  "concentration": "1 mg/mL", "vehicle_thickness": "50 um"}))
        assert issue.key == "formulation.vehicle_thickness"
        assert "give two of the three" in issue.expected

    def test_infinite_concentration_gives_reference_dose(self, fake_presets):
        f = load_scenario(minimal(formulation={"vehicle_thickness": "1 mm"})).resolved["formulation"]
        assert f["vehicle"] == "infinite"
        assert f["concentration"] == pytest.approx(1e6)  # mg/m^3
        assert f["dose"] == pytest.approx(1e3)  # mg/m^2

    def test_infinite_dose_needs_thickness(self, fake_presets):
        (issue,) = issues_of(minimal(formulation={"concentration": None, "dose": "1 ug/cm^2"}))
        assert issue.key == "formulation.concentration"
        f = load_scenario(minimal(formulation={"concentration": None, "dose": "1 ug/cm^2",
                                               "vehicle_thickness": "100 um"})).resolved["formulation"]
        assert f["concentration"] == pytest.approx(1e4 / 1e-4)

    def test_missing_amount(self, fake_presets):
        (issue,) = issues_of(minimal(formulation={"concentration": None}))
        assert issue.key == "formulation.dose" and issue.given == "nothing"
        assert "formulation.concentration" in issue.expected

    def test_dose_and_concentration_must_count_the_same_thing(self, fake_presets):
        (issue,) = issues_of(minimal(formulation={"dose": "1e10 particles/cm^2", "concentration": "1 mg/mL"}))
        assert issue.key == "formulation.concentration"
        assert "particle" in issue.expected

    def test_wash_off_after_the_run_is_accepted(self, fake_presets):
        f = load_scenario(minimal(formulation={"wash_off_time": "100 h"})).resolved["formulation"]
        assert f["wash_off_time"] == 100 * 3600.0


# --------------------------------------------------------------------------
# Simulation and output


class TestSimulation:
    def test_default_output_interval_is_duration_over_48(self, fake_presets):
        sim = load_scenario(minimal(simulation={"duration": "48 h"})).resolved["simulation"]
        assert sim["output_times"] == [3600.0 * k for k in range(49)]
        assert sim["tolerance"] == 1e-5 and sim["resolution"] == "auto"
        assert "output_interval" not in sim

    def test_interval_not_dividing_duration_ends_at_duration(self, fake_presets):
        t = load_scenario(minimal(simulation={"duration": "1 h", "output_interval": "25 min"})
                          ).resolved["simulation"]["output_times"]
        assert t == [0.0, 1500.0, 3000.0, 3600.0]

    def test_explicit_output_times_sorted_unique_with_ends(self, fake_presets):
        t = load_scenario(minimal(simulation={"duration": "2 h",
                                              "output_times": ["1 h", "10 min", "60 min", "2 h"]})
                          ).resolved["simulation"]["output_times"]
        assert t == [0.0, 600.0, 3600.0, 7200.0]

    def test_resolution_forms(self, fake_presets):
        r = lambda res: load_scenario(minimal(simulation={"resolution": res})).resolved["simulation"]["resolution"]  # noqa: E731
        assert r("auto") == "auto"
        assert r({"dz": "0.5 um"}) == {"dz": 0.5e-6}
        assert r({"cells": 80}) == {"cells": 80}

    def test_output_defaults(self, fake_presets):
        out = load_scenario(minimal()).resolved["output"]
        assert out == {"directory": None, "plots": True, "profile_times": None}
        out = load_scenario(minimal(output={"directory": "here", "plots": False,
                                            "profile_times": ["1 h"]})).resolved["output"]
        assert out == {"directory": "here", "plots": False, "profile_times": [3600.0]}

    def test_contract_layout(self, tmp_path):
        """The real physics accepts the membrane case; the resolved dict has the documented shape."""
        sc = load_scenario(write(tmp_path, MEMBRANE))
        r = sc.resolved
        assert set(r) == {"meta", "skin", "formulation", "delivery", "simulation", "output"}
        assert r["delivery"] == {"method": "topical"}
        assert r["skin"]["layers"]["membrane"] == {"thickness": 1e-4, "diffusivity": 1e-12, "partition": 0.5}
        assert {"dose_unit", "dose", "concentration", "vehicle_thickness"} <= set(r["formulation"])
        assert r["simulation"]["output_times"][-1] == 5 * 3600.0
        assert len(r["simulation"]["output_times"]) == 61


# --------------------------------------------------------------------------
# Scenario object, text, replace


class TestScenarioObject:
    def test_name_path_text(self, tmp_path, fake_presets):
        p = write(tmp_path, MEMBRANE, "crank.toml")
        sc = load_scenario(p)
        assert sc.name == "membrane" and sc.path == p and sc.file == str(p)
        assert sc.text == MEMBRANE  # the file itself, comments and all
        assert sc.user == tomllib.loads(MEMBRANE)
        noname = load_scenario(write(tmp_path, MEMBRANE.replace('name = "membrane"', ""), "stem.toml"))
        assert noname.name == "stem"
        assert load_scenario(minimal()).name == "scenario" and load_scenario(minimal()).path is None

    def test_text_reproduces_scenario_with_overrides(self, tmp_path, fake_presets):
        sc = load_scenario(write(tmp_path, MEMBRANE), {"skin.layers.membrane.partition": 0.25,
                                                       "simulation.output_interval": "10 min"})
        again = load_scenario(write(tmp_path, sc.text, "again.toml"))
        assert again.resolved == {**sc.resolved}
        assert again.resolved["skin"]["layers"]["membrane"]["partition"] == 0.25

    def test_replace_changes_only_what_is_named(self, fake_presets):
        base = load_scenario(minimal(formulation={"preset": "msc_exosome"}))
        new = base.replace({"formulation.diameter": "90 nm",
                            "skin.layers.membrane.uptake_rate": "0.01 1/h",
                            "formulation.deformability": 0.2})
        assert isinstance(new, Scenario) and new is not base
        assert new.resolved["formulation"]["diameter"] == pytest.approx(90e-9)
        assert new.resolved["formulation"]["deformability"] == 0.2
        assert new.resolved["skin"]["layers"]["membrane"]["uptake_rate"] == 0.01 / 3600
        assert base.resolved["formulation"]["diameter"] == pytest.approx(70e-9)  # untouched
        assert "uptake_rate" not in base.resolved["skin"]["layers"]["membrane"]
        assert new.overrides["formulation.diameter"] == "90 nm"
        assert new.get("formulation.diameter") == new.resolved["formulation"]["diameter"]

    def test_replace_accepts_quantities_and_none(self, fake_presets):
        base = load_scenario(minimal(formulation={"preset": "msc_exosome", "diameter": "90 nm"}))
        q = base.replace({"formulation.diameter": units.Quantity(0.12, "um")})
        assert q.resolved["formulation"]["diameter"] == pytest.approx(120e-9)
        assert tomllib.loads(q.text)["formulation"]["diameter"] == "0.12 um"
        back = base.replace({"formulation.diameter": None})  # back to the preset value
        assert back.resolved["formulation"]["diameter"] == pytest.approx(70e-9)

    def test_replace_does_not_read_files(self, tmp_path, fake_presets, monkeypatch):
        sc = load_scenario(write(tmp_path, MEMBRANE))

        def no_reading(*a, **k):
            raise AssertionError("replace() read a file")

        monkeypatch.setattr(Path, "read_bytes", no_reading)
        monkeypatch.setattr(exodiff.data, "load", no_reading)
        assert sc.replace({"simulation.duration": "6 h"}).resolved["simulation"]["output_times"][-1] == 21600.0

    def test_replace_errors_name_the_dotted_key(self, fake_presets):
        base = load_scenario(minimal())
        issues = issues_of(base, {"skin.layers.membrane.uptake_rate": "0.01 m", "formulation.diamter": "9 nm"})
        assert keys_of(issues) == ["skin.layers.membrane.uptake_rate", "formulation.diamter"]
        assert 'did you mean "diameter"' in issues[1].expected
        (issue,) = issues_of(base, {"simulation.duration.x": "1 h"})
        assert issue.key == "simulation.duration.x" and "is a value, not a table" in issue.expected

    def test_load_from_scenario_with_overrides(self, fake_presets):
        base = load_scenario(minimal())
        assert load_scenario(base) is base
        assert load_scenario(base, {"simulation.duration": "1 h"}).resolved["simulation"]["duration"] == 3600.0

    def test_to_toml_round_trip(self):
        d = {"a": 1, "b": {"c": "x \"q\" \\ é", "d": [1.5, "2 h"], "e": {"f": True}},
             "sweep": {"formulation.diameter": ["50 nm"], "g": {"min": "1 h"}}, "h": {}}
        assert tomllib.loads(to_toml(d)) == d

    def test_sweep_table_is_carried_along(self, fake_presets):
        d = minimal(sweep={"mode": "grid", "formulation.diameter": ["50 nm", "100 nm"]})
        sc = load_scenario(d)
        assert sc.user["sweep"]["mode"] == "grid"
        assert "sweep" not in sc.resolved


# --------------------------------------------------------------------------
# The physics hook


def test_parameter_problems_become_issues(fake_presets, monkeypatch):
    def physics(formulation, name, layer, skin):
        if name == "membrane":
            raise ParameterProblem("formulation.diameter", "nothing", 'a length, e.g. "70 nm"')

    monkeypatch.setattr(exodiff.physics, "layer_coefficients", physics)
    d = minimal()
    d["skin"]["layers"]["second"] = {"thickness": "1 mm"}
    issues = issues_of(d)
    assert [str(i) for i in issues] == [f'{IN_MEMORY}: formulation.diameter: got nothing; expected a length, '
                                        'e.g. "70 nm"']


def test_same_parameter_problem_reported_once(fake_presets, monkeypatch):
    def physics(formulation, name, layer, skin):
        raise ParameterProblem("formulation.diameter", "nothing", f"a length (needed in layer {name})")

    monkeypatch.setattr(exodiff.physics, "layer_coefficients", physics)
    d = minimal()
    d["skin"]["layers"]["second"] = {"thickness": "1 mm"}
    (issue,) = issues_of(d)
    assert issue.expected == "a length (needed in layer membrane)"


def test_physics_not_called_when_input_is_bad(fake_presets, monkeypatch):
    calls = []
    monkeypatch.setattr(exodiff.physics, "layer_coefficients", lambda *a: calls.append(a))
    issues_of(minimal(simulation={"duration": "1 m"}))
    assert calls == []


# --------------------------------------------------------------------------
# Error paths


class TestErrors:
    def test_unknown_section_key_layer_field_and_layer_name(self, fake_presets):
        d = minimal()
        d["formulaton"] = {"x": 1}
        d["simulation"]["durration"] = "1 h"
        d["skin"] = {"preset": "forearm", "layers": {"dermis": {"thicknes": "1 mm"}, "dremis": {}}}
        issues = issues_of(d)
        by_key = {i.key: i for i in issues}
        assert 'did you mean "formulation"' in by_key["formulaton"].expected
        assert 'did you mean "duration"' in by_key["simulation.durration"].expected
        assert 'did you mean "thickness"' in by_key["skin.layers.dermis.thicknes"].expected
        assert 'did you mean "dermis"' in by_key["skin.layers.dremis"].expected
        assert 'unknown layer of skin preset "forearm"' in by_key["skin.layers.dremis"].expected

    def test_misplaced_key_points_to_its_section(self, fake_presets):
        d = minimal()
        d["formulation"]["duration"] = "1 h"
        d["name"] = "x"
        by_key = {i.key: i for i in issues_of(d)}
        assert 'did you mean "simulation.duration"' in by_key["formulation.duration"].expected
        assert 'did you mean "meta.name"' in by_key["name"].expected

    def test_unknown_key_without_close_match_lists_known_keys(self, fake_presets):
        (issue,) = issues_of(minimal(delivery={"zzz": 1}))
        assert issue.key == "delivery.zzz" and "known keys here: method" in issue.expected

    def test_wrong_dimension(self, fake_presets):
        (issue,) = issues_of(minimal(simulation={"duration": "5 um"}))
        assert str(issue) == f'{IN_MEMORY}: simulation.duration: got "5 um" (a length); expected a time, e.g. "48 h"'

    def test_bare_number_where_units_needed(self, fake_presets):
        (issue,) = issues_of(minimal(simulation={"duration": 5}))
        assert issue.key == "simulation.duration"
        assert issue.given == "5 (a bare number)"
        assert issue.expected == 'a time as a string with units, e.g. "48 h"'

    def test_units_where_bare_number_needed(self, fake_presets):
        (issue,) = issues_of(minimal(simulation={"tolerance": "1e-4"}))
        assert issue.key == "simulation.tolerance" and "bare number" in issue.expected

    def test_out_of_range(self, fake_presets):
        d = minimal()
        d["skin"]["layers"]["membrane"]["thickness"] = "-5 um"
        d["skin"]["layers"]["membrane"]["partition"] = -1
        issues = issues_of(d)
        assert [str(i) for i in issues] == [
            f'{IN_MEMORY}: skin.layers.membrane.thickness: got "-5 um" (= -5e-06 m); expected a length in (0, 0.1] m',
            f"{IN_MEMORY}: skin.layers.membrane.partition: got -1; expected a number >= 0",
        ]

    def test_bad_choice_lists_allowed_names(self, fake_presets):
        (issue,) = issues_of(minimal(skin={"bottom": "sinc"}))
        assert issue.expected == 'one of "sink", "no_flux", "receptor" (did you mean "sink"?)'

    def test_unknown_preset_names(self, fake_presets):
        issues = issues_of(minimal(skin={"preset": "forarm"}, formulation={"preset": "msc"}))
        by_key = {i.key: i for i in issues}
        assert 'did you mean "forearm"' in by_key["skin.preset"].expected
        assert '"none"' in by_key["skin.preset"].expected
        assert '"msc_exosome"' in by_key["formulation.preset"].expected

    def test_bad_preset_reported_against_the_data_file(self, fake_presets):
        d = minimal()
        d["skin"] = {"preset": "broken"}
        issues = issues_of(d)
        assert {(i.file, i.key) for i in issues} == {
            ("exodiff/data/skin_sites.toml", "broken.layers.top.thickness"),
            ("exodiff/data/skin_sites.toml", "broken.layers.top.colour"),
        }

    def test_toml_syntax_error_has_line_and_column(self, tmp_path):
        p = write(tmp_path, '[skin]\npreset = "none"\nbottom = sink\n')
        (issue,) = issues_of(p)
        assert issue.file == str(p) and issue.key == ""
        assert "TOML syntax error" in issue.expected and "line 3, column 10" in issue.expected

    def test_missing_and_unreadable_files(self, tmp_path):
        (issue,) = issues_of(tmp_path / "nope.toml")
        assert str(issue) == f"{tmp_path / 'nope.toml'}: no such file"
        (issue,) = issues_of(tmp_path)
        assert "is a directory" in issue.expected
        bad = tmp_path / "bin.toml"
        bad.write_bytes(b"\xff\xfe\x00")
        (issue,) = issues_of(bad)
        assert "not UTF-8" in issue.expected

    def test_a_byte_order_mark_is_read_past(self, tmp_path):
        """A file saved with a UTF-8 byte-order mark (Windows Notepad) reads as without it: tomllib called the
        mark "Invalid statement (at line 1, column 1)"."""
        from exodiff.scenario.core import load_scenario

        src = (Path(__file__).resolve().parents[1] / "scenarios" / "topical_caffeine.toml").read_bytes()
        plain, marked = tmp_path / "plain.toml", tmp_path / "marked.toml"
        plain.write_bytes(src)
        marked.write_bytes(b"\xef\xbb\xbf" + src)
        assert load_scenario(marked).resolved == load_scenario(plain).resolved

    def test_output_interval_and_times_together(self, fake_presets):
        (issue,) = issues_of(minimal(simulation={"output_interval": "1 h", "output_times": ["1 h"]}))
        assert issue.key == "simulation.output_times"
        assert "only one of them" in issue.expected

    def test_output_times_beyond_duration(self, fake_presets):
        (issue,) = issues_of(minimal(simulation={"output_times": ["1 h", "6 h"]}))
        assert issue.key == "simulation.output_times[1]" and issue.given == '"6 h"'

    def test_too_many_output_times(self, fake_presets):
        (issue,) = issues_of(minimal(simulation={"duration": "1000 h", "output_interval": "1 s"}))
        assert issue.key == "simulation.output_interval" and str(MAX_OUTPUT_TIMES) in issue.expected

    def test_bad_resolution(self, fake_presets):
        keys = lambda res: keys_of(issues_of(minimal(simulation={"resolution": res})))  # noqa: E731
        assert keys({"cells": 2}) == ["simulation.resolution.cells"]
        assert keys({"cells": 8.5}) == ["simulation.resolution.cells"]
        assert keys({"dz": "1 um", "cells": 8}) == ["simulation.resolution"]
        assert keys({"dx": "1 um"}) == ["simulation.resolution.dx"]
        assert keys("fine") == ["simulation.resolution"]

    def test_layers(self, fake_presets):
        d = minimal()
        d["skin"]["layers"] = {"top": {"diffusivity": "1e-8 cm^2/s"}, "vehicle": {"thickness": "1 um"},
                               "bad-name": {"thickness": "1 um"}}
        by_key = {i.key: i for i in issues_of(d)}
        assert set(by_key) == {"skin.layers.top.thickness", "skin.layers.vehicle", "skin.layers.bad-name"}
        assert "every layer needs one" in by_key["skin.layers.top.thickness"].expected
        d["skin"]["layers"] = {}
        assert keys_of(issues_of(d)) == ["skin.layers"]

    def test_microneedle_without_geometry_names_what_is_missing(self, fake_presets):
        # efficiency and width have literature defaults (generic_microneedle); the density has none
        (issue,) = issues_of(minimal(delivery={"method": "microneedle", "needle_length": "1 mm"}))
        assert issue.key == "delivery.density"
        assert "per area" in issue.expected or "1/cm^2" in issue.expected

    def test_wrong_types(self, fake_presets):
        d = minimal(meta={"name": 3}, output={"plots": "yes"})
        d["simulation"]["output_times"] = "1 h"
        d["delivery"] = "topical"
        assert set(keys_of(issues_of(d))) == {"meta.name", "output.plots", "simulation.output_times", "delivery"}

    def test_all_issues_of_a_file_reported_together(self, tmp_path, fake_presets):
        text = """
[skin]
preset = "none"
botom = "sink"
[skin.layers.membrane]
thickness = "100 s"
partition = "0.5"
[formulation]
vehicle = "infinit"
concentration = 1
[simulation]
duration = "5 h"
output_interval = "1 h"
output_times = ["1 h"]
[outptu]
plots = true
"""
        issues = issues_of(write(tmp_path, text))
        assert set(keys_of(issues)) == {
            "outptu", "skin.botom", "skin.layers.membrane.thickness", "skin.layers.membrane.partition",
            "formulation.vehicle", "formulation.concentration", "simulation.output_times",
        }
        assert len(issues) == 7
        assert all(i.file == str(tmp_path / "case.toml") for i in issues)


# --------------------------------------------------------------------------
# Documentation


def test_key_reference_in_docs_is_current():
    """docs/scenario.md's key tables equal what docs/gen_scenario_keys.py makes from the schema."""
    import importlib.util

    script = Path(__file__).resolve().parent.parent / "docs" / "gen_scenario_keys.py"
    if not script.exists():
        pytest.skip("docs/ not present (installed package only)")
    spec = importlib.util.spec_from_file_location("gen_scenario_keys", script)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    page = gen.PAGE.read_text()
    assert gen.splice(page, gen.render()) == page, "run: python docs/gen_scenario_keys.py"
    for section in ("meta", "skin", "formulation", "delivery", "simulation", "output"):
        assert f"### `[{section}]`" in page
    assert "| `thickness` |" in page and "| `dose` |" in page
