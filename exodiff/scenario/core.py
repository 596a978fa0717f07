"""Scenario files: read, merge presets, validate, convert to SI.

A scenario is a TOML file whose sections and keys are listed in
:mod:`exodiff.scenario.schema`.  :func:`load_scenario` turns it (or a dict of the same
shape) into a :class:`Scenario` whose ``resolved`` dict is the contract of
``docs/dev/contracts.md``: presets merged with the user's values, every
quantity a plain float in SI, amounts in the scenario's dose unit.

Validation collects *every* problem of a file before reporting: each becomes
an :class:`~exodiff.errors.Issue` (file, dotted key, what was given, what is
expected) and all of them are raised together as one
:class:`~exodiff.errors.ScenarioError`.  Preset values go through exactly the
same parsing as user values; a bad preset value is reported against the
package data file that holds it.

Parameters are addressed by dotted keys (``"formulation.diameter"``,
``"skin.layers.dermis.uptake_rate"``), the same keys sweeps and fits use
through :meth:`Scenario.replace`.
"""

from __future__ import annotations

import bisect
import contextlib
import contextvars
import copy
import dataclasses
import difflib
import json
import math
import numbers
import os
import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from exodiff import data, units
from exodiff._io import FileRefused, format_bytes, is_within, path_problem, read_bounded
from exodiff.errors import Issue, ParameterProblem, ScenarioError, distinct_texts, one_line
from exodiff.scenario.schema import (
    AMOUNT,
    DELIVERY_METHODS,
    LAYER,
    RESOLUTION,
    SECTIONS,
    SUBTABLES,
    Field,
    is_stratum_corneum,
)

__all__ = ["Scenario", "load_scenario", "to_toml", "clear_preset_cache", "outside_paths_allowed", "IMPLEMENTED_METHODS", "PLANNED_METHODS"]

#: File label of scenarios given as a dict.
IN_MEMORY = "<scenario>"

#: Delivery methods this version can run; the others of the schema are planned.
IMPLEMENTED_METHODS = ("topical", "microneedle", "laser")
PLANNED_METHODS: tuple[str, ...] = ()

#: Top-level tables that belong to other commands and are carried along
#: unvalidated (``exodiff sweep``, ``exodiff compare``, ``exodiff fit`` and ``exodiff population`` check
#: their own).
PASS_THROUGH_SECTIONS = ("sweep", "compare", "fit", "population")

#: Compartment names of the result dataset; a layer may not take one.
RESERVED_LAYER_NAMES = ("vehicle", "degraded", "taken_up", "cleared", "receptor", "sampled", "removed", "released")

#: Largest scenario file read (a real one is a few KiB; docs/scenario.md).
MAX_SCENARIO_BYTES = 1 << 20

#: Deepest nesting of tables and arrays in a scenario file (a real one nests 4 deep).
MAX_NESTING = 16

#: Guard against an output interval that would store millions of profiles.
MAX_OUTPUT_TIMES = 100_000

#: Default number of output intervals when neither output_interval nor
#: output_times is given.
DEFAULT_OUTPUT_INTERVALS = 48

# Layer names become dotted-key parts, NetCDF coordinate labels and file
# names: keep them to letters, digits and underscores.
_LAYER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

# Relative tolerance for "dose = concentration x vehicle_thickness" when all
# three are given.
_CONSISTENCY_RTOL = 1e-6

_BAD = object()  # marks a value that produced an issue


# --------------------------------------------------------------------------
# Showing values in messages


def _show(value: Any) -> str:
    """Render a value the way it would look in TOML (strings in double quotes)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_show(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, numbers.Real):
        return repr(float(value)) if isinstance(value, float) else str(value)
    return repr(value)


def _names(names) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _did_you_mean(word: str, candidates) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f'did you mean "{close[0]}"?' if close else ""


#: the sizes of a value a scenario may give, in SI units (0 aside): beyond them the solver's products and
#: quotients leave the floating-point range (1e-320 mg/cm^3 divided by zero in the step control; 1e300 made
#: the film's concentration infinite), so such a value is refused where it is read, naming its key
MAGNITUDE = (1e-200, 1e200)


def representable(value: float) -> bool:
    """A finite value that is 0 or has a size within :data:`MAGNITUDE`."""
    return math.isfinite(value) and (value == 0.0 or MAGNITUDE[0] <= abs(value) <= MAGNITUDE[1])


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


# --------------------------------------------------------------------------
# Collecting issues


class _Checker:
    """Checks values and collects the issues of one source.

    The source is a scenario file (keys like ``"skin.bottom"``) or a preset
    data file (keys like ``"forearm.layers.dermis.thickness"``); callers
    pass full dotted keys.
    """

    def __init__(self, file: str):
        self.file = file
        self.issues: list[Issue] = []

    def add(self, key: str, given: str, expected: str) -> object:
        self.issues.append(Issue(self.file, key, given, expected))
        return _BAD

    def unknown(self, key: str, word: str, candidates, elsewhere: str = "") -> None:
        hint = _did_you_mean(word, candidates) or elsewhere
        if not hint:
            # each name once (a table's own keys and those it shares with its preset listed "preset" twice)
            hint = f"known keys here: {', '.join(dict.fromkeys(candidates))}" if candidates else "no keys allowed here"
        self.add(key, "", f"unknown key; {hint}")

    # -- single values -----------------------------------------------------

    def value(self, key: str, field: Field, raw: Any) -> Any:
        """Check and convert one value of ``field``; ``_BAD`` after an issue."""
        kind = field.kind
        if kind == "quantity":
            return self.quantity(key, field, raw)
        if kind == "number":
            if not _is_number(raw):
                return self.add(key, _show(raw), f"a bare number (no quotes, no units), e.g. {field.example}")
            try:
                value = float(raw)
            except OverflowError:  # a TOML integer of 400 digits
                value = math.inf
            return self.in_range(key, field, value, _show(raw))
        if kind == "integer":
            if not isinstance(raw, int) or isinstance(raw, bool):
                return self.add(key, _show(raw), f"a whole number, e.g. {field.example}")
            return self.in_range(key, field, raw, _show(raw))
        if kind == "string":
            if not isinstance(raw, str):
                return self.add(key, _show(raw), f"a string in double quotes, e.g. {field.example}")
            return raw
        if kind == "choice":
            if not isinstance(raw, str) or raw not in field.choices:
                hint = _did_you_mean(raw, field.choices) if isinstance(raw, str) else ""
                return self.add(key, _show(raw), f"one of {_names(field.choices)}" + (f" ({hint})" if hint else ""))
            return raw
        if kind == "bool":
            if not isinstance(raw, bool):
                return self.add(key, _show(raw), "true or false (no quotes)")
            return raw
        if kind == "bool_list":
            if not isinstance(raw, list) or not all(isinstance(x, bool) for x in raw):
                return self.add(key, _show(raw), f"a list of true or false (no quotes), e.g. {field.example}")
            return list(raw)
        if kind == "quantity_list":
            if not isinstance(raw, list) or not raw:  # empty: no times is never what such a key asks for
                return self.add(key, _show(raw), f"a list of {_plural(field.dimension)} with units (at least one), "
                                                 f"e.g. {field.example}")
            out = [self.quantity(f"{key}[{i}]", field, item) for i, item in enumerate(raw)]
            return _BAD if any(v is _BAD for v in out) else out
        if kind == "resolution":
            return self.resolution(key, field, raw)
        if kind == "quantity_table":
            if not isinstance(raw, dict):
                return self.add(key, _show(raw), f"a table of layer names to {_plural(field.dimension)}, "
                                                 f"e.g. {field.example}")
            out = {str(k): self.quantity(f"{key}.{k}", field, v) for k, v in raw.items()}
            return _BAD if any(v is _BAD for v in out.values()) else out
        if kind == "table":
            # defaults are filled after merging with the preset's table
            if not isinstance(raw, dict):
                return self.add(key, _show(raw), f"a table {field.example}")
            return self.table(key + ".", SUBTABLES[key.rsplit(".", 1)[-1]], raw)
        if kind == "loading":
            # converted once the dose unit is known (_resolve_cargo)
            if _is_number(raw):
                return self.in_range(key, dataclasses.replace(field, low=0.0, low_open=True), float(raw), _show(raw))
            if not isinstance(raw, str):
                return self.add(key, _show(raw), f"an amount per unit of dose, e.g. {field.example}, or a number")
            return raw
        raise AssertionError(f"schema kind {kind!r} not handled")  # a schema bug, not user input

    def quantity(self, key: str, field: Field, raw: Any) -> Any:
        expected = f"{field.dimension}, e.g. {field.example}"
        if _is_number(raw):
            return self.add(key, f"{_show(raw)} (a bare number)",
                            f"{field.dimension} as a string with units, e.g. {field.example}")
        if not isinstance(raw, str):
            return self.add(key, _show(raw), f"{field.dimension} as a string with units, e.g. {field.example}")
        try:
            value = units.to_si(raw, field.si_unit)
        except units.UnitParseError as exc:
            return self.add(key, f"{_show(raw)} ({exc})", expected)
        except units.DimensionError as exc:
            return self.add(key, f"{_show(raw)} ({exc})", expected)
        return self.in_range(key, field, value, _show(raw), si_unit=field.si_unit)

    def in_range(self, key: str, field: Field, value: float, given: str, si_unit: str = "") -> Any:
        if not representable(value):
            if si_unit and math.isfinite(value):
                given = f"{given} (= {units.format_quantity(value, si_unit)})"
            return self.add(key, given, f"{field.dimension or 'a number'} whose size is 0 or between "
                                        f"{MAGNITUDE[0]:g} and {MAGNITUDE[1]:g}" + (" in SI units" if si_unit else "")
                                        + f" ({field.range_text()})")
        if field.in_range(value):
            return value
        if si_unit:
            # as many digits as tell the value from the bound it passes (range_text writes bounds with 6)
            bound = field.high if value > field.high else field.low
            shown = distinct_texts(value, float(f"{bound:g}"))[0] if math.isfinite(bound) else f"{value:.4g}"
            given = f"{given} (= {shown} {si_unit})"
        what = field.dimension or ("a whole number" if field.kind == "integer" else "a number")
        return self.add(key, given, f"{what} {field.range_text()}")

    def amount(self, key: str, field: Field, raw: Any) -> Any:
        """Amount-bearing quantity: ``(value, amount_unit, amount_dimension)`` or ``_BAD``."""
        per = field.si_unit.replace(AMOUNT, "1")
        expected = (f"{field.dimension} (particles, mass or moles), e.g. {field.example}")
        if _is_number(raw):
            return self.add(key, f"{_show(raw)} (a bare number)", f"{field.dimension} as a string with units, "
                            f"e.g. {field.example}")
        if not isinstance(raw, str):
            return self.add(key, _show(raw), expected)
        try:
            value, unit, dim = units.parse_amount(raw, per)
        except (units.UnitParseError, units.DimensionError) as exc:
            return self.add(key, f"{_show(raw)} ({exc})", expected)
        if not representable(value):
            return self.add(key, _show(raw), f"{field.dimension} whose size is 0 or between {MAGNITUDE[0]:g} and "
                                             f"{MAGNITUDE[1]:g} in SI units")
        if not field.in_range(value):
            # The range in SI would print a "[amount]" placeholder: drop the unit.
            return self.add(key, _show(raw), f"{field.dimension} {dataclasses.replace(field, si_unit='').range_text()}")
        return value, unit, dim

    def resolution(self, key: str, field: Field, raw: Any) -> Any:
        expected = 'a table { dz = "1 um" } or { cells = 80 } (unit cells: nr, nz, dr), or "auto"'
        if raw == "auto":
            return "auto"
        if not isinstance(raw, dict) or not raw:
            return self.add(key, _show(raw), expected)
        allowed = tuple(RESOLUTION)
        bad = False
        for k in raw:
            if k not in allowed:
                self.unknown(f"{key}.{k}", k, allowed)
                bad = True
        # cells and dz both size the depth grid, nr and dr the radial one
        for a, b in (("cells", "dz"), ("nz", "dz"), ("nr", "dr")):
            if a in raw and b in raw:
                self.add(key, _show(raw), f"only one of {a} or {b}, e.g. {{ {a} = 80 }}")
                bad = True
        out = {}
        for k in allowed:
            if k in raw:
                v = self.value(f"{key}.{k}", RESOLUTION[k], raw[k])
                bad = bad or v is _BAD
                out[k] = v
        return _BAD if bad else out

    # -- tables ------------------------------------------------------------

    def table(self, prefix: str, spec: Mapping[str, Field], raw: Mapping[str, Any],
              skip: tuple[str, ...] = (), elsewhere=None) -> dict[str, Any]:
        """Check every key of ``raw`` against ``spec``; return the good values.

        Keys in ``skip`` are left to the caller.  Unknown keys get a
        did-you-mean from ``spec``, or from ``elsewhere(key)`` (a key that
        belongs to another section).
        """
        out: dict[str, Any] = {}
        for k, v in raw.items():
            if k in skip:
                continue
            if k not in spec:
                hint = elsewhere(k) if elsewhere else ""
                self.unknown(prefix + k, k, [*spec, *skip], hint)
                continue
            val = self.value(prefix + k, spec[k], v)
            if val is not _BAD:
                out[k] = val
        return out


def _plural(dimension: str) -> str:
    return dimension.replace("a ", "", 1) + "s" if dimension.startswith("a ") else dimension


# Where else a misplaced key lives, for "did you mean" across sections.
_KEY_HOME: dict[str, str] = {}
for _sec, _spec in SECTIONS.items():
    for _k in _spec:
        _KEY_HOME.setdefault(_k, f"{_sec}.{_k}")
for _k in LAYER:
    _KEY_HOME.setdefault(_k, f"skin.layers.<name>.{_k}")
_KEY_HOME["layers"] = "skin.layers"


def _elsewhere(section: str):
    def hint(key: str) -> str:
        home = _KEY_HOME.get(key)
        if home and not home.startswith(section + "."):
            return f'did you mean "{home}"?'
        return ""

    return hint


# --------------------------------------------------------------------------
# Presets, parsed once per process


def _preset_file(kind: str) -> str:
    return f"exodiff/data/{data.KINDS[kind]}"


@lru_cache(maxsize=8)
def _preset_names(kind: str) -> tuple[str, ...]:
    try:
        return tuple(data.names(kind))
    except FileNotFoundError:  # a broken installation: say so instead of a traceback
        return ()


@lru_cache(maxsize=64)
def _skin_preset(name: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]], tuple[Issue, ...]]:
    """Parsed skin preset: (section values, layers, issues), values in SI."""
    raw = data.values("skin", name)
    ck = _Checker(_preset_file("skin"))
    prefix = f"{name}."
    scalars = ck.table(prefix, SECTIONS["skin"], raw, skip=("layers", "preset"))
    if "preset" in raw:
        ck.unknown(prefix + "preset", "preset", [k for k in SECTIONS["skin"] if k != "preset"])
    layers: dict[str, dict[str, Any]] = {}
    raw_layers = raw.get("layers", {})
    if not isinstance(raw_layers, dict):
        ck.add(prefix + "layers", _show(raw_layers), "a table of layers")
        raw_layers = {}
    for lname, ltable in raw_layers.items():
        if not isinstance(ltable, dict):
            ck.add(f"{prefix}layers.{lname}", _show(ltable), "a table of layer properties")
            continue
        layers[lname] = ck.table(f"{prefix}layers.{lname}.", LAYER, ltable)
        if "thickness" in ltable and "thickness" not in layers[lname]:
            layers[lname]["thickness"] = _BAD  # reported here; not "missing" in the scenario
    return scalars, layers, tuple(ck.issues)


@lru_cache(maxsize=16)
def _receptor_preset(name: str) -> tuple[dict[str, Any], tuple[Issue, ...]]:
    """Parsed diffusion-cell preset: (values, issues), values in SI."""
    raw = data.values("receptor", name)
    ck = _Checker(_preset_file("receptor"))
    spec = {k: f for k, f in SECTIONS["receptor"].items() if k not in ("preset", "sampling_interval", "sampling_times")}
    return ck.table(f"{name}.", spec, raw), tuple(ck.issues)


@lru_cache(maxsize=64)
def _formulation_preset(name: str) -> tuple[dict[str, Any], dict[str, Any], tuple[Issue, ...]]:
    """Parsed formulation preset: (values, amounts, issues), values in SI.

    ``amounts`` holds the preset's ``dose``/``concentration`` as
    ``(value, amount_unit, dimension)``; they are used only when the user
    gives neither.
    """
    if name == "custom" and name not in _preset_names("formulation"):
        return {}, {}, ()
    raw = data.values("formulation", name)
    ck = _Checker(_preset_file("formulation"))
    prefix = f"{name}."
    spec = SECTIONS["formulation"]
    values = ck.table(prefix, spec, raw, skip=("dose", "concentration", "preset"))
    if "preset" in raw:
        ck.unknown(prefix + "preset", "preset", [k for k in spec if k != "preset"])
    amounts = {}
    for k in ("dose", "concentration"):
        if k in raw:
            a = ck.amount(prefix + k, spec[k], raw[k])
            if a is not _BAD:
                amounts[k] = a
    return values, amounts, tuple(ck.issues)


@lru_cache(maxsize=32)
def _cargo_preset(name: str) -> tuple[dict[str, Any], tuple[Issue, ...]]:
    """Parsed cargo preset (``[formulation.cargo] preset``): (values, issues), values in SI, loading as written."""
    raw = data.values("cargo", name)
    raw.pop("typical_of", None)
    ck = _Checker(_preset_file("cargo"))
    spec = {k: f for k, f in SUBTABLES["cargo"].items() if k != "preset"}
    return ck.table(f"{name}.", spec, raw), tuple(ck.issues)


def _merge_cargo_preset(ck: _Checker, cargo: dict[str, Any], formulation_preset: str) -> dict[str, Any]:
    """The user's ``[formulation.cargo]`` on top of the cargo preset it names (``preset``)."""
    name = cargo.get("preset")
    if name is None:
        return cargo
    if name == "typical":
        found = data.typical_cargo(formulation_preset) if _preset_names("cargo") else None
        if found is None:
            with_typical = [f for f in _preset_names("formulation") if data.typical_cargo(f) is not None]
            ck.add("formulation.cargo.preset", f'"typical" (formulation preset "{formulation_preset}" has no '
                   "typical cargo)", f"a cargo preset name ({_names(_preset_names('cargo'))}), or \"typical\" with "
                   f"one of the formulation presets {_names(with_typical)}")
            return cargo
        name = found
    elif not _check_preset_name(ck, "formulation.cargo.preset", "cargo", name, ("typical",)):
        return cargo
    values, issues = _cargo_preset(name)
    ck.issues.extend(issues)
    return {**values, **cargo, "preset": name}


def clear_preset_cache() -> None:
    """Forget parsed presets (after editing preset data in a running session, or in tests)."""
    _preset_names.cache_clear()
    _skin_preset.cache_clear()
    _formulation_preset.cache_clear()
    _cargo_preset.cache_clear()


def _check_preset_name(ck: _Checker, key: str, kind: str, name: Any, extra: tuple[str, ...]) -> bool:
    """Check a preset name; True when the preset can be used."""
    if not isinstance(name, str):
        ck.add(key, _show(name), 'a preset name in double quotes, e.g. "forearm"')
        return False
    avail = [*_preset_names(kind), *extra]
    if name in avail:
        return True
    if not _preset_names(kind):
        ck.add(key, _show(name), f"a preset name, but the preset file {data.KINDS[kind]} is missing from "
                                 "the installed package (reinstall exodiff)")
        return False
    hint = _did_you_mean(name, avail)
    ck.add(key, _show(name), f"one of {_names(avail)}" + (f" ({hint})" if hint else ""))
    return False


# --------------------------------------------------------------------------
# Sections


def _resolve_meta(ck: _Checker, raw: dict, default_name: str) -> dict[str, Any]:
    meta = ck.table("meta.", SECTIONS["meta"], raw, elsewhere=_elsewhere("meta"))
    name = meta.get("name")
    if isinstance(name, str) and one_line(name) != name:
        # printed in every summary, plot title and report: a name holding ESC or a line break drove the terminal
        ck.add("meta.name", _show(name), "a name without control characters or line breaks")
        meta["name"] = _BAD
    meta.setdefault("name", default_name)
    return meta


def _resolve_skin(ck: _Checker, raw: dict) -> dict[str, Any]:
    spec = SECTIONS["skin"]
    preset = raw.get("preset", spec["preset"].default)
    ok = _check_preset_name(ck, "skin.preset", "skin", preset, ("none",))
    scalars_p: dict[str, Any] = {}
    layers_p: dict[str, dict[str, Any]] = {}
    if ok and preset != "none":
        scalars_p, layers_p, issues = _skin_preset(preset)
        ck.issues.extend(issues)
    user = ck.table("skin.", spec, raw, skip=("layers", "preset"), elsewhere=_elsewhere("skin"))

    skin: dict[str, Any] = {"preset": preset if isinstance(preset, str) else str(preset)}
    for k, f in spec.items():
        if k == "preset":
            continue
        if k in user:
            skin[k] = user[k]
        elif k in scalars_p:
            skin[k] = scalars_p[k]
        elif f.default is not None and k not in raw:  # a bad user value is not replaced by the default
            skin[k] = f.default

    raw_layers = raw.get("layers", {})
    layers_bad = not isinstance(raw_layers, dict)
    if layers_bad:
        ck.add("skin.layers", _show(raw_layers), "tables [skin.layers.<name>] of layer properties")
        raw_layers = {}
    explicit = preset == "none"
    # Preset layers keep their order and take the user's fields; with
    # preset "none" the user's tables are the layers, in file order.
    layers: dict[str, dict[str, Any]] = {name: dict(t) for name, t in layers_p.items()}
    for name, table in raw_layers.items():
        key = f"skin.layers.{name}"
        if not explicit and name not in layers_p:
            if ok:  # with an unknown preset the layer list is unknown too
                hint = _did_you_mean(name, layers_p) or f"layers of {_show(preset)}: {', '.join(layers_p)}"
                ck.add(key, "", f'unknown layer of skin preset {_show(preset)}; {hint} '
                                '(use skin.preset = "none" to give your own layers)')
            continue
        if explicit and not _LAYER_NAME.match(name):
            ck.add(key, _show(name), "a layer name of letters, digits and underscores, starting with a letter")
            continue
        if name in RESERVED_LAYER_NAMES:
            ck.add(key, _show(name), f"a layer name other than {_names(RESERVED_LAYER_NAMES)} "
                                     "(those name result compartments)")
            continue
        if not isinstance(table, dict):
            ck.add(key, _show(table), f"a table [{key}] of layer properties")
            continue
        fields = ck.table(key + ".", LAYER, table, elsewhere=_elsewhere("skin.layers"))
        layers.setdefault(name, {}).update(fields)
        if "thickness" in table and "thickness" not in fields:
            layers[name]["thickness"] = _BAD  # reported already; not "missing"

    if explicit and not raw_layers and not layers_bad:  # a bad value is reported already, not as "nothing"
        ck.add("skin.layers", "nothing", 'at least one table [skin.layers.<name>] with a thickness when '
                                         'skin.preset = "none"')
    for name, layer in layers.items():
        if "thickness" not in layer:
            ck.add(f"skin.layers.{name}.thickness", "nothing",
                   f'{LAYER["thickness"].dimension}, e.g. {LAYER["thickness"].example} (every layer needs one)')
        elif layer["thickness"] is _BAD:
            del layer["thickness"]
    skin["layers"] = layers
    return skin


def _resolve_formulation(ck: _Checker, raw: dict) -> dict[str, Any]:
    spec = SECTIONS["formulation"]
    preset = raw.get("preset", spec["preset"].default)
    values_p: dict[str, Any] = {}
    amounts_p: dict[str, Any] = {}
    if _check_preset_name(ck, "formulation.preset", "formulation", preset, ("custom",)):
        values_p, amounts_p, issues = _formulation_preset(preset)
        ck.issues.extend(issues)
    user = ck.table("formulation.", spec, raw, skip=("preset", "dose", "concentration"),
                    elsewhere=_elsewhere("formulation"))

    form: dict[str, Any] = {"preset": preset if isinstance(preset, str) else str(preset)}
    for k, f in spec.items():
        if k in ("preset", "dose", "concentration"):
            continue
        if f.kind in ("table", "quantity_table") and k in user and k in values_p:
            form[k] = {**values_p[k], **user[k]}  # the user's keys on top of the preset's table
        elif k in user:
            form[k] = user[k]
        elif k in values_p:
            form[k] = values_p[k]
        elif f.default is not None and k not in raw:
            form[k] = f.default
        if k == "cargo" and isinstance(form.get(k), dict):
            form[k] = _merge_cargo_preset(ck, form[k], form["preset"])
        if f.kind == "table" and isinstance(form.get(k), dict):
            for sk, sf in SUBTABLES[k].items():
                if sk not in form[k] and sf.default is not None:
                    form[k][sk] = sf.default
    thickness_given = "vehicle_thickness" in raw or "vehicle_thickness" in values_p

    # The user's amount replaces the preset's as a whole: a preset
    # concentration in particles must not clash with a user dose in ug.
    if "dose" in raw or "concentration" in raw:
        amounts = {k: ck.amount(f"formulation.{k}", spec[k], raw[k]) for k in ("dose", "concentration") if k in raw}
    else:
        amounts = dict(amounts_p)
    if any(a is _BAD for a in amounts.values()) or "vehicle_thickness" not in form:
        return form
    dose, conc = amounts.get("dose"), amounts.get("concentration")
    if dose and conc and dose[2] != conc[2]:
        ck.add("formulation.concentration", f"{_show(raw.get('concentration', ''))} (amount in {conc[1]})",
               f"the same kind of amount as formulation.dose ({dose[1]}): particles, mass or moles throughout")
        return form
    unit = (dose or conc or (None, None))[1]
    if unit is None:
        ck.add("formulation.dose", "nothing", f"{spec['dose'].dimension}, e.g. {spec['dose'].example}, "
               f"or formulation.concentration, e.g. {spec['concentration'].example}")
        return form
    d = dose[0] if dose else None
    c = conc[0] * units.amount_factor(conc[1], unit) if conc else None
    h = form["vehicle_thickness"]
    if d is not None and c is not None:
        if "vehicle_thickness" in raw:
            if not math.isclose(d, c * h, rel_tol=_CONSISTENCY_RTOL):
                ck.add("formulation.vehicle_thickness",
                       f"{_show(raw['vehicle_thickness'])} with dose {_show(raw.get('dose'))} and concentration "
                       f"{_show(raw.get('concentration'))}",
                       "dose = concentration x vehicle_thickness; give two of the three")
                return form
        else:
            h = d / c
            if not spec["vehicle_thickness"].in_range(h):
                ck.add("formulation.vehicle_thickness", f"{units.format_quantity(h, 'm')} (dose / concentration)",
                       f"a length {spec['vehicle_thickness'].range_text()}")
                return form
            form["vehicle_thickness"] = h
    elif d is not None:
        if form.get("vehicle") == "infinite" and not thickness_given:
            ck.add("formulation.concentration", "nothing", f"{spec['concentration'].dimension} for an infinite "
                   f"vehicle, e.g. {spec['concentration'].example} (or dose together with vehicle_thickness)")
            return form
        c = d / h
    else:
        d = c * h
    form["dose_unit"] = unit
    form["dose"] = d
    form["concentration"] = c
    return form


#: the shortest channel closure time other than 0, s
MIN_CLOSURE_TIME = 1.0


def _resolve_delivery(ck: _Checker, raw: dict, study: bool = False) -> dict[str, Any]:
    spec = SECTIONS["delivery"]
    method = raw.get("method", spec["method"].default)
    if method in PLANNED_METHODS:
        # One line is enough: the method's own keys are not defined yet, so
        # reporting them as unknown would only be noise.
        ck.add("delivery.method", _show(method), f"{_names(IMPLEMENTED_METHODS)}: the {method} method is planned "
               "but not yet available in this version")
        return {"method": method}
    out = ck.table("delivery.", spec, raw, elsewhere=_elsewhere("delivery"))
    if "method" not in raw:
        out["method"] = spec["method"].default
    tau = out.get("closure_time")
    if isinstance(tau, float) and 0.0 < tau < MIN_CLOSURE_TIME:
        # a channel closing within a nanosecond is not a process the unit cell resolves (its concentration went
        # 44 % of its peak negative): closed at once is 0
        ck.add("delivery.closure_time", _show(raw["closure_time"]),
               f"0 (closed at once) or a time of at least {MIN_CLOSURE_TIME:g} s (channels close over minutes to "
               "hours)")
        out["closure_time"] = _BAD
    if isinstance(out.get("method"), str):
        for key, methods in DELIVERY_METHODS.items():
            if key in raw and out["method"] not in methods:
                ck.add(f"delivery.{key}", f"{_show(raw[key])} with method = {_show(out['method'])}",
                       f"this key only with method = {' or '.join(_show(m) for m in methods)}: set "
                       "delivery.method (in a [compare] or [sweep], give the key where that method is set)")
    if out.get("follicles") is not True and not study:
        # without follicles these keys change nothing: accepted silently, a run looked like it modelled them (a
        # study's base, [compare] or [sweep], may set them for the variants that switch follicles on)
        for key in ("follicle_density", "follicle_diameter", "follicle_depth"):
            if key in raw and not (isinstance(out.get("method"), str) and out["method"] != "topical"):
                ck.add(f"delivery.{key}", f"{_show(raw[key])} without follicles = true",
                       "this key only with delivery.follicles = true (follicular transport on)")
    return out


def _steps_in(ck: _Checker, key: str, given, duration: float, step: float, extra: int, what: str) -> int | None:
    """Whole ``step``s in ``duration`` (``floor``, tolerant of round-off), or None after one issue when
    they (plus ``extra``) would exceed :data:`MAX_OUTPUT_TIMES`.

    The count is a float until checked: a step of "1e-308 h" gives inf, which has no ``int()``.
    """
    count = duration / step * (1 + 1e-12)
    if not count + extra <= MAX_OUTPUT_TIMES:
        total = count + extra
        shown = (f"{total:.0f}" if total < 1e6 else f"{total:.0e}") if math.isfinite(total) else "more than 1e+308"
        ck.add(key, f"{_show(given)} ({shown} {what})", f"at most {MAX_OUTPUT_TIMES} {what} over the duration")
        return None
    return math.floor(count)


def _resolve_simulation(ck: _Checker, raw: dict) -> dict[str, Any]:
    spec = SECTIONS["simulation"]
    sim = ck.table("simulation.", spec, raw, elsewhere=_elsewhere("simulation"))
    for k, f in spec.items():
        if k not in raw and f.default is not None:
            sim[k] = f.default
    if "duration" not in raw:
        ck.add("simulation.duration", "nothing", f"{spec['duration'].dimension}, e.g. {spec['duration'].example}")
    if "accuracy" in raw:
        both = [k for k in ("resolution", "tolerance") if k in raw]
        if both:
            ck.add("simulation.accuracy", f"{_show(raw['accuracy'])} together with simulation.{' and '.join(both)}",
                   "either accuracy (it picks the grid and the tolerance) or resolution and tolerance")
    if "output_interval" in raw and "output_times" in raw:
        ck.add("simulation.output_times", "both output_interval and output_times",
               "only one of them (output_interval for evenly spaced times)")
        return sim
    duration = sim.get("duration")
    interval = sim.pop("output_interval", None)
    given_times = sim.pop("output_times", None)
    if duration is None or ("output_interval" in raw and interval is None) or \
            ("output_times" in raw and given_times is None):
        sim.pop("output_times", None)
        return sim
    if given_times is not None:
        late = [i for i, t in enumerate(given_times) if t > duration * (1 + 1e-12)]
        for i in late:
            ck.add(f"simulation.output_times[{i}]", _show(raw["output_times"][i]),
                   f"a time <= simulation.duration ({_show(raw['duration'])})")
        if late:
            return sim
        times = sorted(set([0.0, *given_times, duration]))
    else:
        if interval is None:
            interval = duration / DEFAULT_OUTPUT_INTERVALS
        n = _steps_in(ck, "simulation.output_interval", raw.get("output_interval"), duration, interval, 1,
                      "output times")
        if n is None:
            return sim
        # k * interval, not a running sum: no drift over many steps.
        times = [k * interval for k in range(n + 1)]
        if duration - times[-1] <= 1e-9 * duration:
            times[-1] = duration
        else:
            times.append(duration)
    sim["output_times"] = [float(t) for t in times]
    return sim


def _resolve_receptor(ck: _Checker, raw: dict, bottom: Any, duration: float | None) -> dict[str, Any] | None:
    """The ``[receptor]`` table of a Franz-cell scenario, SI, with the sampling schedule expanded.

    Returns None unless ``skin.bottom = "receptor"``.  The resolved dict
    holds the cell's ``volume`` (m^3) and ``area`` (m^2), ``partition``,
    ``sample_volume`` (m^3), ``depth`` = volume / area (m, the receptor's
    volume per skin area), ``sample_fraction`` = sample_volume / volume and
    ``sampling_times`` (s, sorted, unique, in (0, duration]).
    """
    if bottom != "receptor":
        if raw:
            ck.add("receptor", "a [receptor] table", 'skin.bottom = "receptor" too (the receptor of an in-vitro '
                                                   'diffusion cell), or no [receptor] table')
        return None
    spec = SECTIONS["receptor"]
    preset = raw.get("preset", spec["preset"].default)
    values: dict[str, Any] = {}
    if _check_preset_name(ck, "receptor.preset", "receptor", preset, ()):
        values, issues = _receptor_preset(preset)
        ck.issues.extend(issues)
    user = ck.table("receptor.", spec, raw, skip=("preset",), elsewhere=_elsewhere("receptor"))
    rec = {"preset": preset, **values, **user}
    for k, f in spec.items():
        if k not in rec and f.default is not None and k not in raw:
            rec[k] = f.default
    for k in ("volume", "area"):
        if k not in rec and k not in raw:
            ck.add(f"receptor.{k}", "nothing", f"{spec[k].dimension}, e.g. {spec[k].example}")
    if "sampling_interval" in raw and "sampling_times" in raw:
        ck.add("receptor.sampling_times", "both sampling_interval and sampling_times", "only one of them")
        return rec
    if any(rec.get(k) is _BAD for k in rec) or "volume" not in rec or "area" not in rec:
        return rec
    scheduled = raw.get("sampling_interval") is not None or raw.get("sampling_times") is not None
    if (scheduled or "sample_volume" in raw) and rec["sample_volume"] >= rec["volume"]:
        given = _show(raw["sample_volume"]) if "sample_volume" in raw else \
            f"{rec['sample_volume'] * 1e6:g} mL (preset {_show(preset)})"
        volume = _show(raw["volume"]) if "volume" in raw else f"{rec['volume'] * 1e6:g} mL"
        ck.add("receptor.sample_volume", given, f"less than receptor.volume ({volume})")
        return rec
    times: list[float] = []
    if duration is not None and rec.get("sampling_interval") is not None:
        dt = rec.pop("sampling_interval")
        n = _steps_in(ck, "receptor.sampling_interval", raw.get("sampling_interval"), duration, dt, 0, "samples")
        if n is None:
            return rec
        times = [k * dt for k in range(1, n + 1)]
    elif duration is not None and rec.get("sampling_times") is not None:
        given = rec.pop("sampling_times")
        for i, t in enumerate(given):
            if t > duration * (1 + 1e-12):
                ck.add(f"receptor.sampling_times[{i}]", _show(raw["sampling_times"][i]),
                       "a time <= simulation.duration")
        times = sorted(set(min(t, duration) for t in given))
    rec.pop("sampling_interval", None)
    rec.pop("sampling_times", None)
    rec["sampling_times"] = [float(t) for t in times]
    rec["depth"] = rec["volume"] / rec["area"]
    rec["sample_fraction"] = rec["sample_volume"] / rec["volume"] if times else 0.0
    return rec


def _resolve_regimen(ck: _Checker, raw: dict, resolved: dict) -> dict[str, Any] | None:
    """The ``[regimen]`` table: ``times`` (s, every application, the first 0), ``wash_before_reapplication``
    and, with microneedle or laser delivery, ``procedure_times`` (the sessions that re-open the channels).

    None without a table (one application at 0).
    """
    if not raw:
        return None
    spec = SECTIONS["regimen"]
    reg = ck.table("regimen.", spec, raw, elsewhere=_elsewhere("regimen"))
    wash = reg.get("wash_before_reapplication", spec["wash_before_reapplication"].default)
    form, delivery = resolved["formulation"], resolved["delivery"]
    if form.get("vehicle") == "infinite":
        ck.add("regimen", "a [regimen] with formulation.vehicle = \"infinite\"",
               "a finite vehicle (a constant donor is never used up, so it is not applied again)")
    method = delivery.get("method", "topical")
    sessions = [k for k in ("procedure_interval", "procedure") if k in raw]
    if sessions and method not in ("microneedle", "laser"):
        ck.add(f"regimen.{sessions[0]}", _show(raw[sessions[0]]) + f" with delivery.method = {_show(method)}",
               'delivery.method = "microneedle" or "laser" (a procedure session re-opens their channels), or no '
               f"regimen.{sessions[0]}")
        sessions = []
    if len(sessions) == 2:
        ck.add("regimen.procedure", "both procedure_interval and procedure", "only one of them")
        return None
    if "interval" in raw and "times" in raw:
        ck.add("regimen.times", "both interval and times", "only one of them (interval with applications for "
               "evenly spaced applications)")
        return None
    if "interval" not in raw and "times" not in raw:
        ck.add("regimen.interval", "nothing", f"{spec['interval'].dimension}, e.g. {spec['interval'].example}, "
               "or regimen.times")
        return None
    n = reg.get("applications")
    if "interval" in raw:
        if "applications" not in raw:
            ck.add("regimen.applications", "nothing", f"a whole number >= 1 with regimen.interval, e.g. "
                   f"{spec['applications'].example}")
            return None
        if reg.get("interval") is None or n is None:
            return None
        times = [k * reg["interval"] for k in range(n)]
        given = f"{n} (every {_show(raw['interval'])}, the last at {times[-1] / 3600:g} h)"
    else:
        times = reg.get("times")
        if times is None:
            return None
        if not times or times[0] != 0.0:
            ck.add("regimen.times[0]", _show(raw["times"][0]) if times else "an empty list",
                   '"0 h": the first application starts the run')
            return None
        if sorted(set(times)) != list(times):
            ck.add("regimen.times", _show(raw["times"]), "increasing times, each once")
            return None
        if n is not None and n != len(times):
            ck.add("regimen.applications", _show(raw["applications"]),
                   f"the number of regimen.times ({len(times)}), or no applications")
            return None
        given = f"{len(times)} (the last at {times[-1] / 3600:g} h)"
    duration = resolved["simulation"].get("duration")
    if duration is not None and times[-1] >= duration * (1 - 1e-12) and len(times) > 1:
        key = "regimen.applications" if "interval" in raw else f"regimen.times[{len(times) - 1}]"
        ck.add(key, given if "interval" in raw else _show(raw["times"][-1]),
               f"applications before simulation.duration ({duration / 3600:g} h)")  # was bare seconds
        return None
    out = {"times": [float(t) for t in times], "wash_before_reapplication": bool(wash)}
    if sessions:
        procedure_times = _resolve_sessions(ck, raw, reg, times)
        if procedure_times is None:
            return None
        out["procedure_times"] = procedure_times
    return out


def _resolve_sessions(ck: _Checker, raw: dict, reg: dict, times: list) -> list[float] | None:
    """The procedure sessions of a regimen (``procedure_interval`` or ``procedure``) as application times, s.

    Every session comes with an application (it re-opens the channels before
    the film goes on), the first at 0.  None after an issue.
    """
    if "procedure" in raw:
        flags = reg.get("procedure")
        if flags is None:
            return None
        if len(flags) != len(times):
            ck.add("regimen.procedure", f"{len(flags)} flags",
                   f"one true/false per application ({len(times)}), aligned with the applications")
            return None
        if not flags[0]:
            ck.add("regimen.procedure[0]", "false", "true: the first application follows the procedure that makes "
                   "the channels")
            return None
        return [float(t) for t, f in zip(times, flags) if f]
    every = reg.get("procedure_interval")
    if every is None:
        return None
    out = []
    tol = 1e-9 * max(times[-1], 1.0)
    ordered = sorted(times)
    k = 0
    while k * every <= times[-1] + tol:
        tp = k * every
        # the application times are sorted: a bisection, not a scan of all of them per session (100000
        # applications with a session each took minutes to validate)
        i = bisect.bisect_left(ordered, tp - tol)
        hit = ordered[i:i + 1] if i < len(ordered) and abs(ordered[i] - tp) <= tol else []
        if not hit:
            ck.add("regimen.procedure_interval", _show(raw["procedure_interval"]),
                   f"a session at an application time: the session at {tp / 3600:g} h has no application "
                   "(make it a multiple of regimen.interval, or give regimen.procedure flags)")
            return None
        out.append(float(hit[0]))
        k += 1
    return out


def _resolve_area(ck: _Checker, raw_delivery: dict, resolved: dict) -> None:
    """Check ``delivery.area`` against a Franz cell's diffusion area (the problem takes the area from either,
    default 1 cm^2: :func:`exodiff.problem.layered.regimen_fields`)."""
    delivery = resolved["delivery"]
    receptor = resolved.get("receptor")
    if "area" in delivery and receptor is not None and receptor.get("area") is not None and \
            not math.isclose(delivery["area"], receptor["area"], rel_tol=1e-9):
        ck.add("delivery.area", _show(raw_delivery["area"]),
               f"the receptor's diffusion area ({receptor['area'] * 1e4:g} cm^2), or no delivery.area: in vitro "
               "the treated area is the cell's")


def _resolve_systemic(ck: _Checker, raw: dict, raw_delivery: dict, resolved: dict) -> dict[str, Any] | None:
    """The ``[systemic]`` table in SI: ``model``, and ``volume``/``clearance`` or the two-compartment set.

    None without a table.  A one-compartment ``half_life`` becomes ``clearance = ln 2 volume / half_life``.
    """
    if not raw:
        return None
    spec = SECTIONS["systemic"]
    sysm = ck.table("systemic.", spec, raw, elsewhere=_elsewhere("systemic"))
    model = sysm.get("model", spec["model"].default)
    sysm["model"] = model
    if resolved["skin"].get("bottom") == "receptor":
        ck.add("systemic", 'a [systemic] table with skin.bottom = "receptor"',
               "in vivo skin (bottom sink or no_flux): an in-vitro receptor is not blood")
        return None
    if "area" not in raw_delivery:
        ck.add("delivery.area", "nothing", 'the treated area, e.g. "50 cm^2": a [systemic] model takes the absolute '
               "amount absorbed, and the default 1 cm^2 would be a guess")
    two = ("central_volume", "peripheral_volume", "intercompartmental_clearance")
    if model == "one_compartment":
        for k in two:
            if k in raw:
                ck.add(f"systemic.{k}", _show(raw[k]), 'this key only with model = "two_compartment"')
        if "volume" not in raw:
            ck.add("systemic.volume", "nothing", f"{spec['volume'].dimension}, e.g. {spec['volume'].example}")
        if ("clearance" in raw) == ("half_life" in raw):
            ck.add("systemic.clearance", "both clearance and half_life" if "clearance" in raw else "nothing",
                   f"one of clearance (e.g. {spec['clearance'].example}) or half_life (e.g. "
                   f"{spec['half_life'].example})")
        elif "half_life" in sysm and "volume" in sysm:
            sysm["clearance"] = math.log(2.0) * sysm["volume"] / sysm.pop("half_life")
    elif model == "two_compartment":
        for k in ("volume", "half_life"):
            if k in raw:
                ck.add(f"systemic.{k}", _show(raw[k]), 'this key only with model = "one_compartment" (two '
                       "compartments: central_volume, peripheral_volume, intercompartmental_clearance, clearance)")
        for k in (*two, "clearance"):
            if k not in raw:
                ck.add(f"systemic.{k}", "nothing", f"{spec[k].dimension}, e.g. {spec[k].example}")
    return sysm


def _resolve_output(ck: _Checker, raw: dict, duration: float | None, base_dir: Path | None) -> dict[str, Any]:
    spec = SECTIONS["output"]
    out = ck.table("output.", spec, raw, elsewhere=_elsewhere("output"))
    if out.get("directory") is not None:
        d = _scenario_path(ck, "output.directory", out["directory"], base_dir, "written")
        out["directory"] = None if d is None else str(d)
    out.setdefault("directory", None)
    if "plots" not in raw:
        out["plots"] = spec["plots"].default
    out.setdefault("profile_times", None)
    pt = out["profile_times"]
    if pt is not None and duration is not None:
        for i, t in enumerate(pt):
            if t > duration * (1 + 1e-12):
                ck.add(f"output.profile_times[{i}]", _show(raw["profile_times"][i]),
                       "a time <= simulation.duration")
    return out


def _resolve_population(ck: _Checker, form: dict[str, Any], raw: dict, base_dir: Path | None) -> None:
    """Check the size-distribution keys; read a measured distribution into ``size_distribution_data``."""
    given = [k for k in ("pdi", "gsd", "size_distribution") if k in form]
    if not given:
        return
    if form.get("kind") == "small_molecule":
        ck.add(f"formulation.{given[0]}", _show(raw.get(given[0], form[given[0]])),
               "no size distribution for a small molecule (it applies to vesicles)")
        return
    if "pdi" in form and "gsd" in form:
        ck.add("formulation.gsd", f"{_show(raw.get('gsd'))} together with pdi {_show(raw.get('pdi'))}",
               "only one of pdi and gsd (both give the width of the log-normal)")
        return
    if "size_distribution" in form:
        for k in ("pdi", "gsd"):
            if k in form:
                ck.add(f"formulation.{k}", _show(raw.get(k, form[k])),
                       "no pdi or gsd with a measured size_distribution (the file gives the width)")
                return
        if "diameter" in raw:
            ck.add("formulation.diameter", _show(raw["diameter"]),
                   "no diameter with a measured size_distribution (the file gives the sizes)")
            return
        from exodiff.physics.distribution import number_median
        from exodiff.scenario.size_distribution import CSVProblem, read_size_distribution

        name = form["size_distribution"]
        path = _scenario_path(ck, "formulation.size_distribution", name, base_dir, "read")
        if path is None:
            return
        try:
            dist = read_size_distribution(path, label=str(path))
        except CSVProblem as p:
            if p.line is None:
                ck.add("formulation.size_distribution", f"{_show(name)} ({p.path}: {p.given})",
                       f"{p.expected}, relative to the scenario file")
            else:
                ck.issues.append(Issue(p.path, f"line {p.line}", p.given,
                                       f"{p.expected} (formulation.size_distribution)"))
            return
        form["size_distribution_path"] = str(path)
        form["size_distribution_data"] = {"diameter": dist.diameters.tolist(), "count": dist.counts.tolist(),
                                          "unit": dist.unit}
        form["diameter"] = number_median(dist.diameters, dist.counts)
        return
    if "diameter" not in form:
        k = given[0]
        ck.add(f"formulation.{k}", _show(raw.get(k, form[k])),
               'a formulation.diameter too (the median of the log-normal), e.g. "70 nm"')


#: Whether a scenario file may name paths outside its own folder (``--allow-outside``).
_ALLOW_OUTSIDE: contextvars.ContextVar[bool] = contextvars.ContextVar("exodiff_allow_outside", default=False)


@contextlib.contextmanager
def outside_paths_allowed(allowed: bool = True):
    """Within this block, scenario files may name files and directories outside their folder.

    By default ``output.directory`` and ``formulation.size_distribution`` of a
    scenario *file* must stay inside the file's folder (symlinks resolved):
    a scenario from someone else cannot choose where to write or what to
    read.  ``exodiff --allow-outside`` runs the command inside this block.
    """
    token = _ALLOW_OUTSIDE.set(bool(allowed))
    try:
        yield
    finally:
        _ALLOW_OUTSIDE.reset(token)


def _scenario_path(ck: _Checker, key: str, name: str, base_dir: Path | None, verb: str) -> Path | None:
    """A path a scenario names, relative to its file's folder; None (after an issue) when it leaves it
    (:func:`scenario_path`)."""
    path, issue = scenario_path(ck.file, key, name, base_dir, verb)
    if issue is not None:
        ck.issues.append(issue)
    return path


def scenario_path(file: str, key: str, name: str, base_dir: Path | None, verb: str) -> tuple[Path | None, Issue | None]:
    """A path a scenario file names at ``key``, relative to its folder ``base_dir``: ``(path, None)``, or
    ``(None, issue)`` when it is empty, unusable or leaves that folder (``verb``: "read" or "written"; the
    Paths rule, lifted by --allow-outside).  Shared by the scenario's own paths and a [fit] table's data files.

    Scenarios given as dicts (no file) keep paths as given, relative to the
    current directory: the program that builds them chooses.
    """
    if not name.strip():  # Path("") is "." (the folder itself): named neither the key nor what was wrong
        return None, Issue(file, key, _show(name), "a path (a file or folder name), not an empty string")
    bad = path_problem(name)
    if bad:  # a NUL byte raised ValueError, a 300-byte name OSError after the run
        return None, Issue(file, key, _show(name) if len(name) <= 80 else f"a path of {len(name)} characters",
                           f"a path the system can use (this one {bad})")
    path = Path(name).expanduser() if name.startswith("~") else Path(name)
    if base_dir is None:
        return path, None
    if not path.is_absolute():
        path = Path(os.path.normpath(base_dir / path))
    if not _ALLOW_OUTSIDE.get() and not is_within(path, base_dir):
        return None, Issue(file, key, _show(name),
                           f"a path inside the scenario file's folder {_show(str(base_dir) or '.')} "
                           f"(a scenario file chooses what is {verb} only there; to allow this path run "
                           f"with --allow-outside, or give -o DIR on the command line)"
                           if verb == "written" else
                           f"a path inside the scenario file's folder {_show(str(base_dir) or '.')} (a scenario "
                           f"file may read only files beside it; to allow this path run with --allow-outside)")
    return path, None


def _amount_per(text: str, dose_unit: str) -> tuple[float, str]:
    """Read an amount per unit of dose (``"2e-8 ng/particle"``): value and unit of one dose unit's worth.

    The unit is the amount factor of ``text`` with a positive power (``ng``
    above); ``"copies"`` when the product is a pure number.
    """
    q = units.parse(text)
    total = q * units.ureg.Quantity(1.0, dose_unit)
    dims = str(total.dimensionality) if total.dimensionality else "dimensionless"
    if dims == "dimensionless":
        return float(total.to("dimensionless").magnitude), "copies"
    if dims not in units.AMOUNT_DIMENSIONS:
        raise units.DimensionError(f"{units.describe_dimension(total)} per {dose_unit}")
    unit = units.AMOUNT_DIMENSIONS[dims]
    for name, power in q.unit_items():
        if power > 0 and str(units.ureg.get_dimensionality(name)) == dims:
            unit = units.format_unit(name)
            break
    return float(total.to(unit).magnitude), unit


def _resolve_cargo(ck: _Checker, form: dict[str, Any], raw: dict) -> None:
    """Check ``[formulation.cargo]`` and convert its loading once the dose unit is known."""
    cargo = form.get("cargo")
    if cargo is None:
        return
    if form.get("kind") == "small_molecule":
        ck.add("formulation.cargo", "a cargo table for a small molecule",
               "a cargo only for vesicles (it is released from them)")
        return
    loading = cargo.get("loading")
    unit = form.get("dose_unit")
    if loading is None or unit is None:
        cargo["loading"] = 1.0 if loading is None else loading
        cargo["loading_unit"] = "" if loading is None else "copies"
        if isinstance(cargo["loading"], str):  # no dose unit (reported already)
            cargo["loading"] = 1.0
        return
    if not isinstance(loading, str):
        cargo["loading"] = float(loading)
        cargo["loading_unit"] = "copies"
        return
    raw_text = raw.get("cargo", {}).get("loading", loading) if isinstance(raw.get("cargo"), dict) else loading
    try:
        value, cargo_unit = _amount_per(loading, unit)
    except (units.UnitParseError, units.DimensionError) as exc:
        ck.add("formulation.cargo.loading", f"{_show(raw_text)} ({exc})",
               f"an amount of cargo per {unit} of dose (mass, moles or particles per {unit}), e.g. "
               f'"2e-8 ng/{unit}", or a bare number of copies')
        return
    if not (math.isfinite(value) and value > 0):
        ck.add("formulation.cargo.loading", _show(raw_text), "an amount > 0")
        return
    cargo["loading"] = value
    cargo["loading_unit"] = cargo_unit


def _resolve(user: dict[str, Any], file: str, default_name: str, base_dir: Path | None = None,
             study: bool = False) -> dict[str, Any]:
    """Validate a raw scenario dict; return the resolved dict or raise ScenarioError."""
    ck = _Checker(file)
    sections: dict[str, dict] = {}
    bad_sections: set[str] = set()
    for name, table in user.items():
        if name in PASS_THROUGH_SECTIONS:
            if not isinstance(table, dict):
                ck.add(name, _show(table), f"a table [{name}]")
            continue
        if name not in SECTIONS:
            home = _KEY_HOME.get(name, "")
            if home:  # a table's key written above every table: where it goes, before any look-alike table name
                ck.add(name, "", f'unknown key at the top level; did you mean "{home}" (under '
                                 f'[{home.rsplit(".", 1)[0]}])?')
            else:
                ck.unknown(name, name, [*SECTIONS, *PASS_THROUGH_SECTIONS])
            continue
        if not isinstance(table, dict):
            ck.add(name, _show(table), f"a table [{name}]")
            bad_sections.add(name)
            continue
        sections[name] = table
    get = lambda s: sections.get(s, {})  # noqa: E731
    resolved = {
        "meta": _resolve_meta(ck, get("meta"), default_name),
        "skin": _resolve_skin(ck, get("skin")),
        "formulation": _resolve_formulation(ck, get("formulation")),
        "delivery": _resolve_delivery(ck, get("delivery"), study or any(k in user for k in PASS_THROUGH_SECTIONS)),
        "simulation": _resolve_simulation(ck, get("simulation")),
    }
    receptor = _resolve_receptor(ck, get("receptor"), resolved["skin"].get("bottom"),
                                 resolved["simulation"].get("duration"))
    if receptor is not None:
        resolved["receptor"] = receptor
    regimen = _resolve_regimen(ck, get("regimen"), resolved)
    if regimen is not None:
        resolved["regimen"] = regimen
    _resolve_area(ck, get("delivery"), resolved)
    systemic = _resolve_systemic(ck, get("systemic"), get("delivery"), resolved)
    if systemic is not None:
        resolved["systemic"] = systemic
    resolved["output"] = _resolve_output(ck, get("output"), resolved["simulation"].get("duration"), base_dir)
    if systemic is not None:
        resolved["output"].setdefault("absorption", True)  # the input of the PK tools comes with the model
    form = resolved["formulation"]
    raw_form = get("formulation")
    _resolve_population(ck, form, raw_form, base_dir)
    _resolve_cargo(ck, form, raw_form)
    target = form.get("target_layer")
    layers = list(resolved["skin"].get("layers", {}))
    if target is not None and layers and target not in layers:
        ck.add("formulation.target_layer", _show(target),
               f"one of the scenario's layers: {_names(layers)}"
               + (f"; {hint}" if (hint := _did_you_mean(target, layers)) else ""))
    if form.get("targeting_factor", 1.0) != 1.0 and target is None:
        ck.add("formulation.targeting_factor", _show(raw_form.get("targeting_factor", form["targeting_factor"])),
               "a formulation.target_layer too (the layer whose uptake it multiplies)")
    for lname in form.get("half_life_by_layer") or {}:
        if layers and lname not in layers:
            ck.add(f"formulation.half_life_by_layer.{lname}", "",
                   f"a layer of the scenario: {_names(layers)}"
                   + (f"; {hint}" if (hint := _did_you_mean(lname, layers)) else ""))
    if ck.issues:
        # a section that is not a table is one issue: "simulation.duration: got nothing" after it is its echo
        issues = [i for i in ck.issues if not any(i.key.startswith(b + ".") for b in bad_sections)]
        raise ScenarioError(_unique(issues))
    _check_physics(ck, resolved)
    if ck.issues:
        raise ScenarioError(_unique(ck.issues))
    return resolved


def _check_physics(ck: _Checker, resolved: dict[str, Any]) -> None:
    """Ask the physics for every layer's coefficients; collect what it cannot use."""
    from exodiff.physics import layer_coefficients  # imported late: physics is not needed to read a file

    from exodiff.physics import cargo_coefficients

    from exodiff.geometry import channels

    skin, form = resolved["skin"], resolved["formulation"]
    seen: set[str] = set()
    for p in channels.check(resolved):
        seen.add(p.key)
        ck.add(p.key, p.given, p.expected)
    if resolved["simulation"].get("accuracy") is not None and channels.channel_geometry(resolved) is not None:
        ck.add("simulation.accuracy", f"{_show(resolved['simulation']['accuracy'])} with channel delivery",
               "a 1D run (the r-z unit cell takes simulation.resolution and tolerance)")
    cargo_t = form.get("cargo")
    e_pen = form.get("enhancement_factor", 1.0)
    if isinstance(e_pen, float) and e_pen != 1.0:
        # it acts on free cargo in the 1D column (docs/model.md, section 5.1)
        shown = _show(e_pen)
        if not isinstance(cargo_t, dict):
            ck.add("formulation.enhancement_factor", shown,
                   "a [formulation.cargo] too (the factor acts on the free cargo beside the vesicles), or 1")
        elif channels.channel_geometry(resolved) is not None:
            ck.add("formulation.enhancement_factor", f"{shown} with channel delivery",
                   "1 with channels (penetration enhancement is 1D only for now)")
        elif not any(is_stratum_corneum(n, spec) for n, spec in (skin.get("layers") or {}).items()):
            ck.add("formulation.enhancement_factor", f"{shown} with no stratum-corneum layer",
                   "1, or a layer for it to act on: named stratum_corneum or with hindrance = \"pore\"")
    k_veh = cargo_t.get("release_rate_vehicle") if isinstance(cargo_t, dict) else None
    if isinstance(k_veh, float) and k_veh > 0:
        # the film's leakage is in the 1D kernel only (docs/model.md, section 5.1)
        if channels.channel_geometry(resolved) is not None:
            ck.add("formulation.cargo.release_rate_vehicle", f"{_show(k_veh)} 1/s with channel delivery",
                   "0 with channels (film leakage is 1D only for now)")
        elif form.get("vehicle", "finite") == "infinite":
            ck.add("formulation.cargo.release_rate_vehicle", f"{_show(k_veh)} 1/s with vehicle = \"infinite\"",
                   "0 with an infinite donor (a constant donor's vesicles cannot leak), or a finite film")
    if not seen and channels.channel_geometry(resolved) is not None:
        # the open channel holds formulation fluid: the run needs the active's free diffusivity there
        from exodiff.physics.coefficients import Active

        try:
            Active.from_formulation(form, skin).d_free("the open channel holds formulation fluid")
        except ParameterProblem as p:
            seen.add(p.key)
            ck.add(p.key, p.given, p.expected)
        if form.get("cargo") is not None:
            # and so does the free cargo, a second field of the unit cell (problem.unit_cell.class_problems)
            try:
                Active.cargo_of(form["cargo"], skin).d_free("the open channel holds formulation fluid")
            except ParameterProblem as p:
                seen.add(p.key)
                ck.add(p.key, p.given, p.expected)
    decay: list[float] = []
    for name, layer in skin["layers"].items():
        checks = [layer_coefficients]
        if form.get("cargo") is not None:
            checks.append(lambda f, n, ly, sk: cargo_coefficients(f["cargo"], n, ly, sk))
        for check in checks:
            try:
                co = check(form, name, layer, skin)
            except ParameterProblem as p:
                # A missing formulation key shows up once per layer; one line
                # (the first layer's) says what to add.
                if p.key not in seen:
                    seen.add(p.key)
                    ck.add(p.key, p.given, p.expected)
                continue
            if check is layer_coefficients:
                decay.append(_decay_length(co))
    if ck.issues:
        return
    from exodiff.scenario import budget

    for key, given, expected in budget.problems(resolved, decay if len(decay) == len(skin["layers"]) else None):
        ck.add(key, given, expected)


def _decay_length(co) -> float:
    """``sqrt(D / k)`` of a layer's coefficients (inf without first-order loss), as the 1D grid reads it."""
    try:
        k = float(co.degradation_rate + co.uptake_rate + co.clearance_rate)
        d = float(co.diffusivity)
    except (AttributeError, TypeError):  # a stubbed physics (tests) returns no coefficients
        return math.inf
    return math.sqrt(d / k) if k > 0.0 and d > 0.0 else math.inf


def _unique(issues: list[Issue]) -> list[Issue]:
    # Physics may report the same formulation key once per layer.
    return list(dict.fromkeys(issues))


# --------------------------------------------------------------------------
# Overrides and TOML text


def _set_dotted(user: dict[str, Any], dotted: str, value: Any, file: str) -> Issue | None:
    """Set ``user[a][b][c] = value`` for ``"a.b.c"`` (``None`` deletes)."""
    parts = dotted.split(".")
    if not dotted or any(not p for p in parts):
        return Issue(file, dotted, "", 'a dotted key such as "formulation.diameter"')
    node = user
    for i, p in enumerate(parts[:-1]):
        nxt = node.get(p)
        if nxt is None:
            if value is None:
                return None
            nxt = node[p] = {}
        elif not isinstance(nxt, dict):
            return Issue(file, dotted, "", f'"{".".join(parts[:i + 1])}" is a value, not a table')
        node = nxt
    if value is None:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = _plain(value)
    return None


def _plain(value: Any, key=str, depth: int = 0) -> Any:
    """Make an override TOML-serialisable: Quantities to text, numpy scalars to Python; dict keys through ``key``
    (a scenario dict keeps its keys as given, for :func:`_shape_issues` to name one that is not a string).

    Below :data:`MAX_NESTING` levels the value is left as it is (a dict 2000 deep overflowed Python's
    recursion): :func:`_shape_issues` then names the key nested too deep.
    """
    if depth > MAX_NESTING:
        return value
    if units.is_quantity(value):
        if getattr(value.magnitude, "ndim", 0) > 0:  # an array of quantities: a list of texts (the key says if
            return [units.quantity_text(q) for q in value]  # it takes one); item() of it raised ValueError
        return units.quantity_text(value)
    if isinstance(value, dict):
        return {key(k): _plain(v, key, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, key, depth + 1) for v in value]
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:  # an array: a list (item() raised ValueError)
        return _plain(value.tolist(), key, depth)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalar
        return value.item()
    return value


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(k: str) -> str:
    return k if _BARE_KEY.match(k) else json.dumps(k, ensure_ascii=False)


def to_toml(table: Mapping[str, Any]) -> str:
    """Write a nested dict of TOML values as TOML text (tables in dict order), with tomli-w.

    Strings, numbers (``nan`` and ``inf`` too), booleans, lists of those,
    inline tables in lists and nested tables; ``tomllib.loads(to_toml(d)) ==
    d`` for such dicts (tests/test_scenario.py and tests/test_fuzz.py check
    every shipped scenario and the sweep, compare and fit tables).  tomli-w
    writes a non-empty list one element per line.

    Raises
    ------
    TypeError
        A value TOML cannot hold (None, an object).
    """
    import tomli_w

    return tomli_w.dumps(table)


# --------------------------------------------------------------------------
# Public API


class Scenario:
    """A validated scenario.

    Attributes
    ----------
    path : Path or None
        The file it was read from (kept by :meth:`replace`).
    name : str
        ``meta.name``, else the file stem, else ``"scenario"``.
    resolved : dict
        Presets merged with the user's values, every quantity a float in SI,
        amounts in ``resolved["formulation"]["dose_unit"]``; layout in
        ``docs/dev/contracts.md``.  Treat as read-only: use :meth:`replace`.
    text : str
        TOML text that reproduces this scenario (the file's own text when it
        was read unchanged, else the user's values with overrides applied).
    user : dict
        The user's raw values (as in the TOML, overrides applied).
    overrides : dict
        Every override applied since the file was read, by dotted key.
    file : str
        Label used in error messages (the path as given, or ``"<scenario>"``).
    """

    __slots__ = ("path", "name", "resolved", "text", "user", "overrides", "file")

    def __init__(self, *, path, name, resolved, text, user, overrides, file):
        self.path: Path | None = path
        self.name: str = name
        self.resolved: dict[str, Any] = resolved
        self.text: str = text
        self.user: dict[str, Any] = user
        self.overrides: dict[str, Any] = overrides
        self.file: str = file

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path else ""
        return f"Scenario({self.name!r}{where}, {len(self.resolved['skin']['layers'])} layers)"

    @property
    def dose_unit(self) -> str:
        """The amount unit of dose and concentration (``"particle"``, ``"ug"``, ...)."""
        return self.resolved["formulation"]["dose_unit"]

    def get(self, dotted: str) -> Any:
        """Resolved value at a dotted key, e.g. ``"skin.layers.dermis.thickness"`` (SI).

        Raises
        ------
        KeyError
            No such key (``dotted`` not a string: none either).
        """
        if not isinstance(dotted, str):
            raise KeyError(f"{dotted!r}: expected a dotted key (a string such as 'skin.layers.dermis.thickness')")
        node: Any = self.resolved
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(dotted)
            node = node[part]
        return node

    def replace(self, overrides: Mapping[str, Any]) -> "Scenario":
        """A new scenario with some values changed, validated like file content.

        Parameters
        ----------
        overrides : mapping of str to value
            Dotted keys to values as they would be written in the file:
            ``{"formulation.diameter": "90 nm", "skin.layers.dermis.uptake_rate":
            "0.01 1/h", "formulation.deformability": 0.2}``.  A pint Quantity
            is accepted for a quantity; ``None`` removes the key (back to the
            preset or default value).

        Returns
        -------
        Scenario

        Raises
        ------
        ScenarioError
            Every problem, each naming its dotted key.
        """
        if not overrides:
            return self
        return _build(copy.deepcopy(self.user), self.path, self.file, dict(self.overrides), overrides, None)


#: TOML integers are 64-bit (the TOML spec; tomllib reads any size): a larger one overflowed float() and numpy
INT64 = (-(2 ** 63), 2 ** 63 - 1)


def _shape_issues(user: Mapping, file: str) -> list[Issue]:
    """What no scenario could hold, anywhere in ``user``: tables or arrays nested more than
    :data:`MAX_NESTING` deep, a key that is not a string (a dict built in Python), an integer beyond 64 bits;
    one issue each (at most :data:`MAX_SHAPE_ISSUES`), naming the dotted key.  Iterative: the value may be
    nested far beyond Python's recursion limit."""
    issues: list[Issue] = []
    stack: list[tuple[str, Any, int]] = [("", user, 0)]
    while stack and len(issues) < MAX_SHAPE_ISSUES:
        where, v, depth = stack.pop()
        if isinstance(v, (Mapping, list, tuple)) and depth > MAX_NESTING:
            issues.append(Issue(file, where, f"tables or arrays nested more than {MAX_NESTING} deep",
                                "a scenario of tables and values (arrays or tables inside one another at most "
                                f"{MAX_NESTING} deep)"))
            continue
        if isinstance(v, Mapping):
            for k, x in v.items():
                if not isinstance(k, str):
                    issues.append(Issue(file, where or "(top level)", f"the key {k!r}", "keys that are strings"))
                    continue
                stack.append((f"{where}.{k}" if where else k, x, depth + 1))
        elif isinstance(v, (list, tuple)):
            stack.extend((f"{where}[{i}]", x, depth + 1) for i, x in enumerate(v))
        elif isinstance(v, int) and not isinstance(v, bool) and not INT64[0] <= v <= INT64[1]:
            shown = str(v) if len(str(v)) <= 30 else f"an integer of {len(str(abs(v)))} digits"
            issues.append(Issue(file, where, shown, "a whole number within 64 bits (|n| < 9.2e18); a count "
                                "(seed, size, applications, cells) cannot be larger, other values can be written "
                                "with a decimal point or exponent (e.g. 1e30)"))
    return issues


#: the most shape issues listed (a file of a million bad integers is not a million lines)
MAX_SHAPE_ISSUES = 20


def _build(user: dict[str, Any], path: Path | None, file: str, previous: dict[str, Any],
           overrides: Mapping[str, Any] | None, text: str | None) -> Scenario:
    applied = dict(previous)
    if overrides is not None and not isinstance(overrides, Mapping):
        raise TypeError(f"overrides: expected a mapping of dotted keys to values, not {type(overrides).__name__}")
    if overrides:
        problems = []
        for k, v in overrides.items():
            issue = _set_dotted(user, str(k), v, file)
            if issue:
                problems.append(issue)
            applied[str(k)] = _plain(v)
        if problems:
            raise ScenarioError(problems)
        text = None
    shape = _shape_issues(user, file)
    if shape:
        raise ScenarioError(shape)
    default_name = path.stem if path is not None else "scenario"
    base_dir = path.parent if path is not None else None
    # a study's base or one of its variants (compare, sweep, population, fit): its base may set keys for the
    # variants that use them
    study = any(str(k).split(".")[0] in PASS_THROUGH_SECTIONS for k in applied)
    resolved = _resolve(user, file, default_name, base_dir, study)
    if text is None:
        try:
            text = to_toml(user)
        except TypeError as exc:  # a value no TOML file could hold, e.g. a set in an override
            raise ScenarioError([Issue(file, "", "", f"cannot write the scenario as TOML: {exc}")]) from None
    return Scenario(path=path, name=resolved["meta"]["name"], resolved=resolved, text=text, user=user,
                    overrides=applied, file=file)


def _read(path: Path, label: str) -> tuple[dict[str, Any], str]:
    def fail(msg: str):
        return ScenarioError([Issue(label, "", "", msg)])

    try:
        raw = read_bounded(path, MAX_SCENARIO_BYTES)
    except FileNotFoundError:
        raise fail("no such file") from None
    except IsADirectoryError:
        raise fail("is a directory; expected a TOML scenario file") from None
    except PermissionError:
        raise fail("cannot read the file (permission denied)") from None
    except FileRefused as exc:
        raise fail(f"not read: {exc}; expected a TOML scenario file of at most "
                   f"{format_bytes(MAX_SCENARIO_BYTES)}") from None
    except OSError as exc:
        raise fail(f"cannot read the file ({exc.strerror or exc})") from None
    try:
        # utf-8-sig: a byte-order mark (Windows Notepad writes one) is dropped; tomllib called it "Invalid
        # statement (at line 1, column 1)", which did not say what was there
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(f"not UTF-8 text (byte {exc.start}); expected a TOML scenario file") from None
    try:
        user = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends in "(at line L, column C)".
        raise fail(f"TOML syntax error: {exc}") from None
    except RecursionError:
        raise fail("TOML nested too deeply (arrays or tables inside one another); expected a scenario file "
                   "of tables and values") from None
    if not user:
        # two lines about a missing dose and duration never said what was wrong
        raise fail("empty file (no tables or keys); expected a TOML scenario file (exodiff init FILE writes a "
                   "commented one)")
    # too deep a nesting is one of _build's shape issues (naming its key), before anything walks it recursively
    return user, text


def load_scenario(source: str | Path | Mapping[str, Any] | Scenario,
                  overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Read, merge and validate a scenario.

    Parameters
    ----------
    source : path, dict or Scenario
        A TOML file, a dict of the same shape (``{"skin": {"preset":
        "forearm"}, ...}``) or an existing :class:`Scenario`.
    overrides : mapping of str to value, optional
        Dotted keys to values, applied on top (see :meth:`Scenario.replace`).

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        Every problem found (unknown keys with a did-you-mean, wrong units,
        out-of-range values, bad choices, TOML syntax, unreadable file), one
        :class:`~exodiff.errors.Issue` each.
    """
    if isinstance(source, Scenario):
        return source.replace(overrides or {})
    if isinstance(source, Mapping):
        # numpy scalars and arrays as Python values, as overrides are (np.int64 was "cannot write the scenario as
        # TOML", naming no key)
        user = _plain(dict(source), key=lambda k: k)  # new dicts and lists throughout: the caller's stay as given
        return _build(user, None, IN_MEMORY, {}, overrides, None)
    if not isinstance(source, (str, Path)):
        raise TypeError(f"load_scenario takes a path, a dict or a Scenario, not {type(source).__name__}")
    path = Path(source)
    user, text = _read(path, str(source))
    return _build(user, path, str(source), {}, overrides, text)
