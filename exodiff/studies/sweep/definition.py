"""The ``[sweep]`` table: checked key by key, expanded into points.

A sweep table holds control keys (``mode``, and ``n``, ``seed`` for samples)
and dotted scenario keys, each with the values it takes::

    [sweep]
    mode = "grid"                                   # grid | zip | sample
    "formulation.diameter" = { start = "20 nm", stop = "300 nm", num = 15 }
    "formulation.deformability" = [0.5, 0.7, 0.9]

- ``grid``: the cartesian product, the first key varying slowest;
- ``zip``: lists of equal length, the i-th point takes the i-th value of each;
- ``sample``: ``n`` points of a Latin hypercube (``scipy.stats.qmc``,
  reproducible with ``seed``) over ranges ``{ min, max, scale }``.

Values are written as in the scenario file (strings with units, bare
numbers, names).  ``{ start, stop, num }`` spaces ``num`` values evenly
(``scale = "log"``: evenly in the logarithm).  Every problem is one
:class:`~exodiff.errors.Issue` naming the file and ``sweep."<key>"``; all of
them are raised together as a :class:`~exodiff.errors.ScenarioError`.  The
values of each point are then checked by :meth:`Scenario.replace`, exactly as
if they were written in the file (:func:`check_points`).

Numbers are kept in the unit of the first value given for a key (the
*display unit*): coordinates of the result are in it, and generated values
are passed to the scenario as ``"<repr of the float> <display unit>"``.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from exodiff import units
from exodiff.errors import Issue, ScenarioError
from exodiff.scenario.schema import AMOUNT, LAYER, RESOLUTION, SECTIONS, Field

__all__ = ["MODES", "SCALES", "MAX_POINTS", "max_points", "Parameter", "Point", "SweepDefinition", "parse_sweep", "check_points",
           "scenario_hash", "latin_hypercube", "sweep_key"]

MODES = ("grid", "zip", "sample")
SCALES = ("linear", "log")
#: keys of the table that are not scenario keys
CONTROL_KEYS = ("mode", "n", "seed")
#: sections whose keys can be swept (meta and output do not change results; systemic: the plasma model,
#: whose inter-individual spread matters to a population)
SWEPT_SECTIONS = ("skin", "formulation", "delivery", "systemic", "simulation")
#: most points a sweep may have unless raised (``--max-points``, ``EXODIFF_MAX_POINTS``): the points are
#: counted before any is made, and planning costs about 0.3 ms and a few KiB per point
MAX_POINTS = 100_000
#: environment variable that changes :data:`MAX_POINTS`
ENV_MAX_POINTS = "EXODIFF_MAX_POINTS"


def max_points(given: int | None = None) -> tuple[int, str]:
    """The limit on a sweep's points and where it comes from: ``given`` (``--max-points``),
    else ``EXODIFF_MAX_POINTS``, else :data:`MAX_POINTS`.

    Raises
    ------
    UserError
        A limit that is not a whole number >= 1.
    """
    from exodiff.errors import UserError

    if given is not None:
        if isinstance(given, bool) or not isinstance(given, int) or given < 1:
            raise UserError(f"--max-points: got {given!r}; expected a whole number of points >= 1")
        return given, "--max-points"
    env = os.environ.get(ENV_MAX_POINTS)
    if env:
        try:
            value = int(env.strip().replace("_", ""))
        except ValueError:
            value = 0
        if value < 1:
            raise UserError(f"{ENV_MAX_POINTS}: got {env!r}; expected a whole number of points >= 1")
        return value, ENV_MAX_POINTS
    return MAX_POINTS, "the default"
#: field kinds that can be swept, by how their values are written
_SWEEPABLE = ("quantity", "number", "integer", "string", "choice", "bool")
_NUMERIC = ("quantity", "amount", "number", "integer")


def sweep_key(key: str) -> str:
    """The issue key of a swept scenario key: ``sweep."formulation.diameter"``."""
    return f'sweep."{key}"'


def _show(value: Any) -> str:
    from exodiff.scenario.core import _show as show  # one rendering of values in messages

    return show(value)


def _did_you_mean(word: str, candidates) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f'did you mean "{close[0]}"?' if close else ""


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# --------------------------------------------------------------------------
# The definition


@dataclass(frozen=True)
class Parameter:
    """One swept scenario key.

    Attributes
    ----------
    key : str
        Dotted scenario key, e.g. ``"skin.layers.dermis.uptake_rate"``.
    kind : str
        ``"quantity"``, ``"amount"`` (dose, concentration), ``"number"``,
        ``"integer"``, ``"string"``, ``"choice"`` or ``"bool"``.
    unit : str
        Display unit of quantities (``"nm"``), ``"1"`` for numbers, ``""``
        for names and booleans.
    values : tuple
        Grid and zip: the values passed to :meth:`Scenario.replace`, in order.
    coords : tuple
        Grid and zip: the same values as coordinates (floats in ``unit``,
        or names).
    low, high : float
        Sample: the range in ``unit``.
    scale : {"linear", "log"}
        Spacing of ``{ start, stop, num }`` values, or of samples.
    spec : Any
        The table entry as written (for messages).
    """

    key: str
    kind: str
    unit: str
    values: tuple = ()
    coords: tuple = ()
    low: float = math.nan
    high: float = math.nan
    scale: str = "linear"
    spec: Any = None
    field: Field | None = None

    @property
    def numeric(self) -> bool:
        return self.kind in _NUMERIC

    def value_for(self, x: float) -> Any:
        """The scenario value of a number ``x`` in the display unit."""
        if self.kind == "integer":
            return int(round(x))
        if self.kind == "number":
            return float(x)
        return f"{float(x)!r} {self.unit}"


@dataclass(frozen=True)
class Point:
    """One point of a sweep.

    Attributes
    ----------
    index : int
        Position in the sweep (grid: C order over the keys, the first key
        slowest).
    overrides : dict
        Dotted key -> value for :meth:`Scenario.replace`.
    coords : tuple
        Coordinate value of each parameter (same order as the definition).
    """

    index: int
    overrides: dict
    coords: tuple

    def describe(self) -> str:
        """``formulation.diameter = "50 nm", formulation.deformability = 0.5``."""
        return ", ".join(f"{k} = {_show(v)}" for k, v in self.overrides.items())


@dataclass(frozen=True)
class SweepDefinition:
    """A checked ``[sweep]`` table.

    Attributes
    ----------
    mode : {"grid", "zip", "sample"}
    parameters : tuple of Parameter
    n : int or None
        Sample size (sample mode).
    seed : int or None
        Seed of the Latin hypercube (sample mode).
    table : dict
        The table as written (hashed, and stored with the results).
    study : str
        The table it comes from and the study that runs it: ``"sweep"``, or
        ``"population"`` (:mod:`exodiff.studies.population` draws its points
        and hands them over as a zip); names the result's title and
        definition attribute.
    """

    mode: str
    parameters: tuple
    n: int | None = None
    seed: int | None = None
    table: dict = field(default_factory=dict)
    study: str = "sweep"

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.parameters]

    @property
    def shape(self) -> tuple[int, ...]:
        """Grid: number of values of each key; zip and sample: ``(points,)``."""
        if self.mode == "grid":
            return tuple(len(p.values) for p in self.parameters)
        if self.mode == "zip":
            return (len(self.parameters[0].values),)
        return (int(self.n),)

    @property
    def size(self) -> int:
        return int(math.prod(self.shape))

    def points(self) -> list[Point]:
        """Every point, in index order."""
        params = self.parameters
        if self.mode == "grid":
            out = []
            for i, idx in enumerate(itertools.product(*(range(len(p.values)) for p in params))):
                out.append(Point(i, {p.key: p.values[j] for p, j in zip(params, idx)},
                                 tuple(p.coords[j] for p, j in zip(params, idx))))
            return out
        if self.mode == "zip":
            return [Point(i, {p.key: p.values[i] for p in params}, tuple(p.coords[i] for p in params))
                    for i in range(self.size)]
        u = latin_hypercube(int(self.n), len(params), int(self.seed))
        cols = [_scale_unit(u[:, j], p.low, p.high, p.scale) for j, p in enumerate(params)]
        out = []
        for i in range(int(self.n)):
            vals = [p.value_for(c[i]) for p, c in zip(params, cols)]
            coords = tuple(float(v) if p.kind in ("integer", "number") else float(c[i])
                           for p, v, c in zip(params, vals, cols))
            out.append(Point(i, {p.key: v for p, v in zip(params, vals)}, coords))
        return out

    def describe(self) -> str:
        """One line: mode, size and keys."""
        if self.mode == "grid":
            what = " x ".join(f"{p.key} ({len(p.values)})" for p in self.parameters)
        elif self.mode == "zip":
            what = ", ".join(p.key for p in self.parameters) + " side by side"
        else:
            what = (f"Latin hypercube, seed {self.seed}, over "
                    + ", ".join(f"{p.key} [{p.low:g}, {p.high:g}]{'' if p.unit in ('', '1') else ' ' + p.unit}"
                                f"{' log' if p.scale == 'log' else ''}" for p in self.parameters))
        return f"{self.mode}, {self.size} points: {what}"


def latin_hypercube(n: int, d: int, seed: int) -> np.ndarray:
    """``n`` Latin-hypercube points in ``[0, 1)^d``, the same for the same seed.

    One stratum of width ``1/n`` per point in every dimension
    (:class:`scipy.stats.qmc.LatinHypercube`, scrambled).
    """
    from scipy.stats import qmc

    rng = np.random.default_rng(seed)
    try:
        sampler = qmc.LatinHypercube(d=d, rng=rng)
    except TypeError:  # scipy < 1.15 names it seed
        sampler = qmc.LatinHypercube(d=d, seed=rng)
    return sampler.random(n)


def _scale_unit(u: np.ndarray, low: float, high: float, scale: str) -> np.ndarray:
    """Map ``u`` in ``[0, 1)`` onto ``[low, high]``, linearly or in the logarithm."""
    if scale == "log":
        x = np.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    else:
        x = low + u * (high - low)
    return np.clip(x, low, high)  # exp(log(x)) may miss an end by an ulp


def scenario_hash(base_user: Mapping[str, Any], table: Mapping[str, Any]) -> str:
    """Hash of a sweep: the scenario without its ``[sweep]`` table, and the sweep definition.

    Computed from the parsed values (canonical JSON), so comments and layout
    of the file do not count; any changed value does.
    """
    doc = {"scenario": {k: v for k, v in base_user.items() if k != "sweep"}, "sweep": dict(table)}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


# --------------------------------------------------------------------------
# Checking the table


class _Issues:
    def __init__(self, file: str):
        self.file = file
        self.issues: list[Issue] = []

    def add(self, key: str, given: str, expected: str) -> None:
        self.issues.append(Issue(self.file, key, given, expected))


def _valid_keys(base) -> list[str]:
    """Every dotted key a sweep of ``base`` can take (for did-you-mean)."""
    keys = []
    for sec in SWEPT_SECTIONS:
        for k, f in SECTIONS[sec].items():
            if f.kind in _SWEEPABLE:
                keys.append(f"{sec}.{k}")
    for layer in base.resolved["skin"]["layers"]:
        keys += [f"skin.layers.{layer}.{k}" for k in LAYER]
    keys += [f"simulation.resolution.{k}" for k in RESOLUTION]
    return keys


def _field_of(key: str, base, swept: set[str], ck: _Issues) -> Field | None:
    """The schema field of a swept key, or ``None`` after an issue."""
    parts = key.split(".")
    ik = sweep_key(key)
    if any(not p for p in parts):
        ck.add(ik, "", 'a dotted scenario key such as "formulation.diameter"')
        return None
    sec = parts[0]

    def unknown(hint_pool) -> None:
        hint = _did_you_mean(key, hint_pool)
        ck.add(ik, "", "unknown scenario key" + (f"; {hint}" if hint else "; see exodiff docs scenario for the keys"))

    if sec in ("meta", "output"):
        ck.add(ik, f"a key of [{sec}]", f"a key of {', '.join(SWEPT_SECTIONS)} ([{sec}] does not change results)")
        return None
    if sec not in SWEPT_SECTIONS:
        unknown(_valid_keys(base))
        return None
    if sec == "skin" and len(parts) >= 2 and parts[1] == "layers":
        if len(parts) != 4:
            ck.add(ik, "", 'a layer field "skin.layers.<layer>.<field>", e.g. "skin.layers.dermis.uptake_rate"')
            return None
        layer, name = parts[2], parts[3]
        layers = list(base.resolved["skin"]["layers"])
        if layer not in layers and "skin.preset" not in swept:
            hint = _did_you_mean(layer, layers)
            ck.add(ik, "", f'unknown layer "{layer}"; layers of this scenario: {", ".join(layers)}'
                   + (f" ({hint})" if hint else ""))
            return None
        if name not in LAYER:
            unknown([f"skin.layers.{layer}.{k}" for k in LAYER])
            return None
        return LAYER[name]
    if sec == "simulation" and len(parts) == 3 and parts[1] == "resolution":
        if parts[2] not in RESOLUTION:
            unknown([f"simulation.resolution.{k}" for k in RESOLUTION])
            return None
        return RESOLUTION[parts[2]]
    if len(parts) != 2 or parts[1] not in SECTIONS[sec]:
        unknown(_valid_keys(base))
        return None
    f = SECTIONS[sec][parts[1]]
    if f.kind not in _SWEEPABLE:
        if f.kind == "resolution":
            ck.add(ik, "", 'a single value to sweep: "simulation.resolution.cells" or "simulation.resolution.dz"')
        else:
            ck.add(ik, f"a {f.kind.replace('_', ' ')} key", "a key of one number or quantity per point (a list "
                   "or a table cannot be swept or drawn)")
        return None
    return f


def _kind(f: Field) -> str:
    if f.kind == "quantity":
        return "amount" if AMOUNT in f.si_unit else "quantity"
    return f.kind


class _ValueReader:
    """Reads the values of one key; every problem becomes an issue."""

    def __init__(self, key: str, f: Field, ck: _Issues):
        self.key, self.field, self.ck = key, f, ck
        self.kind = _kind(f)
        self.ok = True

    def bad(self, suffix: str, given: str, expected: str) -> None:
        self.ok = False
        self.ck.add(sweep_key(self.key) + suffix, given, expected)

    def example(self) -> str:
        return self.field.example

    def quantity(self, suffix: str, raw: Any):
        """A quantity text -> pint Quantity (dimension checked), or None."""
        f = self.field
        if _is_number(raw) or not isinstance(raw, str):
            given = f"{_show(raw)} (a bare number)" if _is_number(raw) else _show(raw)
            self.bad(suffix, given, f"{f.dimension} as a string with units, e.g. {f.example}")
            return None
        try:
            if self.kind == "amount":
                units.parse_amount(raw, f.si_unit.replace(AMOUNT, "1"))
            else:
                units.to_si(raw, f.si_unit)
        except (units.UnitParseError, units.DimensionError) as exc:
            self.bad(suffix, f"{_show(raw)} ({exc})", f"{f.dimension}, e.g. {f.example}")
            return None
        return units.parse(raw)

    def item(self, suffix: str, raw: Any):
        """One list value, checked for its kind; ``None`` after an issue."""
        kind, f = self.kind, self.field
        if kind in ("quantity", "amount"):
            return raw if self.quantity(suffix, raw) is not None else None
        if kind == "number":
            if not _is_number(raw):
                self.bad(suffix, _show(raw), f"a bare number (no quotes, no units), e.g. {f.example}")
                return None
            return raw
        if kind == "integer":
            if not isinstance(raw, int) or isinstance(raw, bool):
                self.bad(suffix, _show(raw), f"a whole number, e.g. {f.example}")
                return None
            return raw
        if kind == "bool":
            if not isinstance(raw, bool):
                self.bad(suffix, _show(raw), "true or false (no quotes)")
                return None
            return raw
        if not isinstance(raw, str):  # string, choice
            expected = f"one of {', '.join(_show(c) for c in f.choices)}" if kind == "choice" else \
                f"a string in double quotes, e.g. {f.example}"
            self.bad(suffix, _show(raw), expected)
            return None
        if kind == "choice" and raw not in f.choices:
            hint = _did_you_mean(raw, f.choices)
            self.bad(suffix, _show(raw), f"one of {', '.join(_show(c) for c in f.choices)}"
                     + (f" ({hint})" if hint else ""))
            return None
        return raw

    def number(self, suffix: str, raw: Any, unit: str | None):
        """An end of a range: magnitude in ``unit`` (quantities) or the bare number; None after an issue."""
        if self.kind in ("quantity", "amount"):
            q = self.quantity(suffix, raw)
            if q is None:
                return None
            try:
                return float(q.to(unit).magnitude) if unit else float(q.magnitude)
            except Exception:  # the amount dimension differs (particles vs ug)
                self.bad(suffix, _show(raw), f"the same kind of units as the first value ({unit})")
                return None
        if self.kind == "number" or self.kind == "integer":
            if not _is_number(raw) or (self.kind == "integer" and not isinstance(raw, int)):
                what = "a whole number" if self.kind == "integer" else "a bare number (no quotes, no units)"
                self.bad(suffix, _show(raw), f"{what}, e.g. {self.field.example}")
                return None
            return float(raw)
        self.bad(suffix, _show(raw), f"a list of values (a {self.kind} key has no numeric range)")
        return None


def _display_unit(raw: Any) -> str:
    return units.format_unit(units.parse(raw).units)


def _list_values(r: _ValueReader, spec: list, distinct: bool) -> tuple[tuple, tuple, str] | None:
    """Grid/zip list -> (values, coords, unit); ``distinct``: no value twice (grid)."""
    if not spec:
        r.bad("", "[]", f"at least one value, e.g. [{r.example()}]")
        return None
    vals = [r.item(f"[{i}]", v) for i, v in enumerate(spec)]
    if not r.ok:
        return None
    if r.kind in ("quantity", "amount"):
        unit = _display_unit(vals[0])
        coords = []
        for i, v in enumerate(vals):
            try:
                coords.append(float(units.parse(v).to(unit).magnitude))
            except Exception:
                r.bad(f"[{i}]", _show(v), f"the same kind of units as the first value ({unit})")
        if not r.ok:
            return None
    elif r.kind in ("number", "integer"):
        unit, coords = "1", [float(v) for v in vals]
    else:
        unit, coords = "", list(vals)
    seen: dict = {}
    for i, c in enumerate(coords):
        if distinct and c in seen:
            r.bad(f"[{i}]", _show(vals[i]), f"values that differ: the same as value [{seen[c]}]")
            return None
        seen[c] = i
    return tuple(vals), tuple(coords), unit


def _check_subkeys(r: _ValueReader, spec: dict, allowed: tuple, required: tuple, form: str) -> bool:
    ok = True
    for k in spec:
        if k not in allowed:
            hint = _did_you_mean(str(k), allowed)
            r.bad(f".{k}", "", f"unknown key of {form}" + (f"; {hint}" if hint else f"; keys: {', '.join(allowed)}"))
            ok = False
    for k in required:
        if k not in spec:
            r.bad("", _show(spec), f"{form} with {k} given")
            ok = False
    return ok


def _scale(r: _ValueReader, spec: dict) -> str | None:
    s = spec.get("scale", "linear")
    if s not in SCALES:
        hint = _did_you_mean(s, SCALES) if isinstance(s, str) else ""
        r.bad(".scale", _show(s), '"linear" or "log"' + (f" ({hint})" if hint else ""))
        return None
    return s


def _range_values(r: _ValueReader, spec: dict, limit: int = MAX_POINTS) -> tuple[tuple, tuple, str, str] | None:
    """Grid/zip ``{ start, stop, num, scale }`` -> (values, coords, unit, scale)."""
    form = "{ start, stop, num }"
    if not _check_subkeys(r, spec, ("start", "stop", "num", "scale"), ("start", "stop", "num"), form):
        return None
    if r.kind not in _NUMERIC:
        r.bad("", _show(spec), f"a list of values (a {r.kind} key has no numeric range)")
        return None
    if r.kind in ("quantity", "amount"):
        if r.quantity(".start", spec["start"]) is None:
            return None
        unit = _display_unit(spec["start"])
    else:
        unit = "1"
    a = r.number(".start", spec["start"], unit)
    b = r.number(".stop", spec["stop"], unit)
    num = spec["num"]
    if not isinstance(num, int) or isinstance(num, bool) or num < 1:
        r.bad(".num", _show(num), "a whole number of values >= 1, e.g. num = 5")
        return None
    if num > limit:  # before any value is made
        r.bad(".num", _show(num), f"at most {limit} values (the most points a sweep may have; raise it with "
                                  f"--max-points or {ENV_MAX_POINTS})")
        return None
    scale = _scale(r, spec)
    if a is None or b is None or scale is None:
        return None
    if scale == "log" and not (a > 0 and b > 0):
        which, v = (".start", spec["start"]) if not a > 0 else (".stop", spec["stop"])
        r.bad(which, _show(v), "a value > 0 with scale = \"log\"")
        return None
    xs = np.geomspace(a, b, num) if scale == "log" else np.linspace(a, b, num)
    param = Parameter(r.key, r.kind, unit)
    vals = [param.value_for(x) for x in xs]
    coords = [float(v) if r.kind in ("integer", "number") else float(x) for v, x in zip(vals, xs)]
    if len(set(coords)) != len(coords):
        r.bad(".num", _show(num), f"at most as many values as there are distinct {r.kind} values "
                                  "between start and stop")
        return None
    return tuple(vals), tuple(coords), unit, scale


def _sample_range(r: _ValueReader, spec: Any) -> tuple[float, float, str, str] | None:
    """Sample ``{ min, max, scale }`` -> (low, high, unit, scale) in the display unit."""
    form = "a range { min, max }"
    if not isinstance(spec, dict):
        r.bad("", _show(spec), f'{form} in mode "sample", e.g. {{ min = {r.example() or 0}, max = ... }} '
                               '(lists of values are for mode "grid" or "zip")')
        return None
    if not _check_subkeys(r, spec, ("min", "max", "scale"), ("min", "max"), form):
        return None
    if r.kind not in _NUMERIC:
        r.bad("", _show(spec), f'a numeric key: a {r.kind} key cannot be sampled (use mode "grid" or "zip")')
        return None
    unit = "1"
    if r.kind in ("quantity", "amount"):
        if r.quantity(".min", spec["min"]) is None:
            return None
        unit = _display_unit(spec["min"])
    lo = r.number(".min", spec["min"], unit)
    hi = r.number(".max", spec["max"], unit)
    scale = _scale(r, spec)
    if lo is None or hi is None or scale is None:
        return None
    if not lo < hi:
        r.bad(".max", f"{_show(spec['max'])} with min = {_show(spec['min'])}", "max > min")
        return None
    if scale == "log" and not lo > 0:
        r.bad(".min", _show(spec["min"]), 'a value > 0 with scale = "log"')
        return None
    return lo, hi, unit, scale


def parse_sweep(table: Any, base, file: str | None = None, limit: int | None = None) -> SweepDefinition:
    """Check a ``[sweep]`` table against the scenario it sweeps.

    Parameters
    ----------
    table : dict
        The ``[sweep]`` table as read from TOML.
    base : Scenario
        The scenario (its layers name the valid ``skin.layers.*`` keys).
    file : str, optional
        Label for messages (default ``base.file``).

    Returns
    -------
    SweepDefinition

    Raises
    ------
    ScenarioError
        Every problem of the table, one line each.
    """
    file = file or base.file
    limit, source = max_points(limit)
    more = f"at most {limit} points ({source}; raise it with --max-points or {ENV_MAX_POINTS})"
    ck = _Issues(file)
    if table is None:
        ck.add("sweep", "nothing", 'a [sweep] table with mode = "grid", "zip" or "sample" and dotted scenario keys, '
                                   'e.g. "formulation.diameter" = ["50 nm", "100 nm"] (exodiff docs sweeps)')
        raise ScenarioError(ck.issues)
    if not isinstance(table, Mapping):
        ck.add("sweep", _show(table), "a table [sweep]")
        raise ScenarioError(ck.issues)
    mode = table.get("mode", "grid")
    if mode not in MODES:
        hint = _did_you_mean(mode, MODES) if isinstance(mode, str) else ""
        ck.add("sweep.mode", _show(mode), f"one of {', '.join(_show(m) for m in MODES)}" + (f" ({hint})" if hint else ""))
        mode = None
    n = seed = None
    for k in ("n", "seed"):
        if k in table and mode in ("grid", "zip"):
            ck.add(f"sweep.{k}", _show(table[k]), f'no {k} in mode "{mode}" ({k} is for mode = "sample")')
    if mode == "sample":
        n = table.get("n")
        if n is None:
            ck.add("sweep.n", "nothing", 'the number of points, a whole number >= 1, e.g. n = 200 (mode = "sample")')
        elif not isinstance(n, int) or isinstance(n, bool) or n < 1:
            ck.add("sweep.n", _show(n), "a whole number >= 1, e.g. n = 200")
            n = None
        elif n > limit:
            ck.add("sweep.n", _show(n), more)
            n = None
        seed = table.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            ck.add("sweep.seed", _show(seed), "a whole number >= 0, e.g. seed = 1")
            seed = None

    swept = {k for k in table if k not in CONTROL_KEYS}
    params: list[Parameter] = []
    valid = _valid_keys(base)
    for key, spec in table.items():
        if key in CONTROL_KEYS:
            continue
        if "." not in key:
            homes = [v for v in valid if v.endswith("." + key)]
            hint = f'did you mean "{homes[0]}"?' if homes else _did_you_mean(key, CONTROL_KEYS)
            ck.add(sweep_key(key) if homes else f"sweep.{key}", "",
                   "unknown key" + (f"; {hint}" if hint else "; the sweep table takes mode, n, seed and dotted "
                                                              'scenario keys such as "formulation.diameter"'))
            continue
        f = _field_of(key, base, swept, ck)
        if f is None:
            continue
        r = _ValueReader(key, f, ck)
        if mode == "sample":
            got = _sample_range(r, spec)
            if got is not None:
                lo, hi, unit, scale = got
                params.append(Parameter(key, r.kind, unit, low=lo, high=hi, scale=scale, spec=spec, field=f))
        elif mode in ("grid", "zip"):
            if isinstance(spec, list):
                got = _list_values(r, spec, distinct=mode == "grid")
                if got is not None:
                    params.append(Parameter(key, r.kind, got[2], values=got[0], coords=got[1], spec=spec, field=f))
            elif isinstance(spec, dict):
                if "min" in spec or "max" in spec:
                    r.bad("", _show(spec), f'a list of values or {{ start, stop, num }} in mode "{mode}" '
                                           '(ranges { min, max } are for mode = "sample")')
                    continue
                got = _range_values(r, spec, limit)
                if got is not None:
                    params.append(Parameter(key, r.kind, got[2], values=got[0], coords=got[1], scale=got[3],
                                            spec=spec, field=f))
            else:
                r.bad("", _show(spec), f"a list of values, e.g. [{r.example()}], or {{ start, stop, num }}")
    _check_values(params, mode, ck)
    if not swept and mode is not None:
        ck.add("sweep", "no scenario keys", 'at least one dotted scenario key with its values, e.g. '
                                            '"formulation.diameter" = ["50 nm", "100 nm"]')
    if ck.issues:
        raise ScenarioError(ck.issues)

    if mode == "zip":
        lengths = [len(p.values) for p in params]
        if len(set(lengths)) > 1:
            first = params[0]
            for p in params[1:]:
                if len(p.values) != len(first.values):
                    ck.add(sweep_key(p.key), f"{len(p.values)} value{'s' if len(p.values) != 1 else ''}",
                           f'{len(first.values)} values, as many as {sweep_key(first.key)} '
                           '(mode = "zip" takes the i-th value of every key)')
    defn = SweepDefinition(mode=mode, parameters=tuple(params), n=n, seed=seed, table=dict(table))
    if not ck.issues and defn.size > limit:  # counted from the values; no point made yet
        ck.add("sweep", f"{defn.size:.3g} points" if defn.size >= 1e6 else f"{defn.size} points", more)
    if ck.issues:
        raise ScenarioError(ck.issues)
    return defn


# --------------------------------------------------------------------------
# Checking the points through the scenario


def _remap(issue: Issue, swept: list[str], file: str, where: str) -> Issue:
    """An issue of ``Scenario.replace`` at a point, named after the sweep key it comes from.

    An issue of a swept key is reported against ``sweep."<key>"``; ``where``
    (the point) is added to what was given.
    """
    key = issue.key
    for k in swept:
        if key == k or key.startswith(k + "[") or key.startswith(k + "."):
            key = sweep_key(k) + key[len(k):]
            break
    given = f"{issue.given} ({where})" if issue.given else f"({where})"
    return Issue(file, key, given, issue.expected)


def _check_values(params: list[Parameter], mode: str | None, ck: _Issues) -> None:
    """Each value alone (each list entry, each end of a sample range) against its key's schema entry.

    Exactly as a value in the file is checked (units, range, choices), so a
    bad value is reported once, against its key.
    """
    from exodiff.scenario.core import _Checker  # the one checker of file values

    checker = _Checker(ck.file)
    for p in params:
        if p.field is None:
            continue
        if mode == "sample":
            checks = [(".min", p.value_for(p.low)), (".max", p.value_for(p.high))]
        else:
            checks = [(f"[{i}]" if len(p.values) > 1 else "", v) for i, v in enumerate(p.values)]
        for suffix, v in checks:
            if p.kind == "amount":
                checker.amount(sweep_key(p.key) + suffix, p.field, v)
            else:
                checker.value(sweep_key(p.key) + suffix, p.field, v)
    ck.issues.extend(dict.fromkeys(checker.issues))


def check_points(base, defn: SweepDefinition, points: list[Point], file: str | None = None) -> list:
    """Validate every point through :meth:`Scenario.replace`; return the point scenarios.

    Each value alone was checked by :func:`parse_sweep`; here every point
    with all its values together, on the scenario, which catches
    combinations the scenario refuses (each problem once, with the first
    point that has it and how many more do).

    Raises
    ------
    ScenarioError
        Every problem, each naming ``sweep."<key>"`` (or the scenario key a
        combination of values makes invalid), with the point.
    """
    file = file or base.file
    issues: list[Issue] = []
    scenarios = []
    groups: dict[tuple, list] = {}
    for pt in points:
        try:
            scenarios.append(base.replace(pt.overrides))
        except ScenarioError as exc:
            for i in exc.issues:
                groups.setdefault((i.key, i.expected), []).append((pt, i))
    for found in groups.values():
        pt, i = found[0]
        more = f" and {len(found) - 1} more point{'s' if len(found) > 2 else ''}" if len(found) > 1 else ""
        where = f"at sweep point {pt.index}: {pt.describe()}{more}"
        issues.append(_remap(i, defn.keys, file, where))
    if issues:
        raise ScenarioError(issues)
    return scenarios
