"""Virtual populations: the ``[population]`` table, run as a sweep of drawn persons.

::

    [population]
    size = 200                 # persons
    seed = 1                   # same seed, same persons
    body_site = "forearm"      # default: the scenario's skin.preset
    group = "female"           # or a list, e.g. ["female", "older_adult"]; optional

    [population.distributions]
    "formulation.uptake_rate" = { distribution = "lognormal", median = "0.1 1/h", gsd = 2 }

A person is one point of a sweep: the body site's distributions
(``exodiff/data/population.toml``: layer thicknesses, follicle density),
changed by the groups, and the table's own distributions are drawn together
in a Latin hypercube (:func:`~exodiff.studies.sweep.definition.latin_hypercube`,
seeded) and mapped through each distribution's inverse CDF.  The persons
become a ``zip`` sweep (:class:`~exodiff.studies.sweep.definition.SweepDefinition`
with ``study = "population"``), so they run exactly as sweep points do: the
batched 1D path, a process pool or dask, each person's file written as it
finishes, ``--resume``; ``sweep.nc`` holds every person's metrics.
:func:`bands` then reduces it over the persons to percentiles
(``population.nc``).

Precedence, per key: a distribution of ``[population.distributions]`` is
taken as written; else a value the scenario file sets itself (e.g. its own
``[skin.layers.dermis] thickness``) is kept for everyone; else the site's
distribution, changed by each group in turn.  The draws of different keys
are independent (no correlation between, say, the thicknesses of the layers).

Not to be confused with the *size distribution* of a polydisperse
preparation (``formulation.pdi``, ``gsd``, ``size_distribution``; in
``exodiff.scenario.core`` ``_resolve_population``): that is a population of
vesicles within one run; this is a population of people, one run each.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from exodiff._callable import make_callable
from exodiff.errors import Issue, ScenarioError
from exodiff.studies.sweep import SweepPlan
from exodiff.studies.sweep.definition import (
    Parameter,
    SweepDefinition,
    _field_of,
    _Issues,
    _kind,
    _NUMERIC,
    _ValueReader,
    check_points,
    latin_hypercube,
    max_points,
    scenario_hash,
    sweep_key,
)

__all__ = ["population", "plan", "bands", "plans_of_comparison", "Distribution", "PopulationDefinition", "PopulationPlan",
           "PopulationResult", "POPULATION_KEYS", "LAWS", "PERCENTILES", "compare_populations"]

#: keys of a ``[population]`` table (documented in docs/scenario.md through schema.POPULATION)
POPULATION_KEYS = ("size", "seed", "body_site", "group", "distributions")

#: distributions and their parameters: required sets (one of them), then optional ones
LAWS: dict[str, tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]] = {
    "lognormal": ((("median", "gsd"), ("mean", "sd")), ()),
    "normal": ((("mean", "sd"),), ("min", "max")),
    "uniform": ((("min", "max"),), ()),
    "loguniform": ((("min", "max"),), ()),
    "none": (((),), ()),
}
#: entry keys that are not parameters: provenance in the data file, and a group's factor
_META_KEYS = ("distribution", "source", "estimate", "note", "scale")

#: the percentiles of every band (5, 50 and 95 %)
PERCENTILES = (5.0, 50.0, 95.0)

#: file of the bands
RESULT = "population.nc"
BANDS_CSV = "population.csv"
REPORT_HTML = "report.html"


# --------------------------------------------------------------------------
# Distributions


@dataclasses.dataclass(frozen=True)
class Distribution:
    """The distribution of one scenario key over the persons.

    Attributes
    ----------
    key : str
        Dotted scenario key.
    kind : str
        ``"quantity"``, ``"amount"``, ``"number"`` or ``"integer"``.
    unit : str
        Display unit: the unit of the first parameter given (``"um"``), ``"1"`` for numbers.
    law : str
        One of :data:`LAWS`; ``"none"``: the scenario's value, times ``scale``.
    params : dict
        Parameters in ``unit`` (``gsd`` dimensionless).
    scale : float
        Factor on every drawn value (groups).
    origin : str
        Where it comes from: ``"population.distributions"``, ``"site forearm"``,
        ``"site forearm, group female"``.
    source, note : str
        Provenance (data file entries).
    estimate : bool or None
    fixed : float
        ``law = "none"``: the scenario's value in ``unit``.
    """

    key: str
    kind: str
    unit: str
    law: str
    params: dict
    scale: float = 1.0
    origin: str = "population.distributions"
    source: str = ""
    estimate: bool | None = None
    note: str = ""
    fixed: float = math.nan

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Values (in ``unit``) at probabilities ``u`` in (0, 1): the inverse CDF, times ``scale``."""
        from scipy import special, stats

        u = np.clip(np.asarray(u, dtype=float), 1e-12, 1.0 - 1e-12)
        p = self.params
        if self.law == "lognormal":
            mu, sigma = lognormal_mu_sigma(p)
            x = np.exp(mu + sigma * special.ndtri(u))
        elif self.law == "normal":
            lo, hi = p.get("min", -math.inf), p.get("max", math.inf)
            if math.isinf(lo) and math.isinf(hi):
                x = p["mean"] + p["sd"] * special.ndtri(u)
            else:
                a, b = (lo - p["mean"]) / p["sd"], (hi - p["mean"]) / p["sd"]
                x = stats.truncnorm.ppf(u, a, b, loc=p["mean"], scale=p["sd"])
        elif self.law == "uniform":
            x = p["min"] + u * (p["max"] - p["min"])
        elif self.law == "loguniform":
            x = np.exp(math.log(p["min"]) + u * (math.log(p["max"]) - math.log(p["min"])))
        else:
            x = np.full(u.shape, self.fixed)
        return x * self.scale

    @property
    def varies(self) -> bool:
        return self.law != "none"

    def describe(self) -> str:
        """``lognormal mean 18.3 um, sd 4.9 um x 0.95 (site forearm, group female)``."""
        u = "" if self.unit in ("", "1") else f" {self.unit}"
        if self.law == "none":
            what = f"fixed at {self.fixed * self.scale:.6g}{u}"
        else:
            what = self.law + " " + ", ".join(f"{k} {v:.6g}{'' if k == 'gsd' else u}" for k, v in self.params.items())
            if self.scale != 1.0:
                what += f" x {self.scale:g}"
        return f"{self.key}: {what} ({self.origin})"


def lognormal_mu_sigma(p: Mapping[str, float]) -> tuple[float, float]:
    """``(mu, sigma)`` of a log-normal given ``{median, gsd}`` or ``{mean, sd}`` (arithmetic).

    ``sigma^2 = ln(1 + sd^2 / mean^2)``, ``mu = ln(mean) - sigma^2 / 2``;
    ``mu = ln(median)``, ``sigma = ln(gsd)``.
    """
    if "median" in p:
        return math.log(p["median"]), math.log(p["gsd"])
    s2 = math.log1p((p["sd"] / p["mean"]) ** 2)
    return math.log(p["mean"]) - s2 / 2.0, math.sqrt(s2)


class _Reader(_ValueReader):
    """Reads a distribution's parameters; issues are named ``<where>.<parameter>``."""

    def __init__(self, key: str, f, ck: _Issues, where: str):
        super().__init__(key, f, ck)
        self.where = where

    def bad(self, suffix: str, given: str, expected: str) -> None:
        self.ok = False
        self.ck.add(self.where + suffix, given, expected)


def _show(value: Any) -> str:
    from exodiff.scenario.core import _show as show

    return show(value)


def _read_distribution(key: str, spec: Any, f, ck: _Issues, where: str, origin: str,
                       allow_scale: bool = False) -> Distribution | None:
    """One entry ``{ distribution = ..., <parameters> }`` -> Distribution, or None after an issue."""
    example = '{ distribution = "lognormal", median = ..., gsd = 2 }'
    if not isinstance(spec, Mapping):
        ck.add(where, _show(spec), f"a distribution, e.g. {example}")
        return None
    r = _Reader(key, f, ck, where)
    kind = _kind(f)
    if kind not in _NUMERIC:
        ck.add(where, _show(spec), f"a numeric key: a {kind} key has no distribution (population keys are numbers "
                                   "or quantities)")
        return None
    law = spec.get("distribution")
    if law is None and allow_scale and "scale" in spec:
        law = "none"
    if not isinstance(law, str) or law not in LAWS:  # a table or list is no law name (and no dict key)
        from exodiff.scenario.core import _did_you_mean

        hint = _did_you_mean(law, LAWS) if isinstance(law, str) else ""
        ck.add(where + ".distribution", "nothing" if law is None else _show(law),
               f"one of {', '.join(_show(x) for x in LAWS)}" + (f" ({hint})" if hint else ""))
        return None
    required, optional = LAWS[law]
    given = [k for k in spec if k not in _META_KEYS]
    allowed = {k for group in required for k in group} | set(optional)
    for k in given:
        if k not in allowed:
            ck.add(f"{where}.{k}", _show(spec[k]), f"a parameter of {law}: "
                   + " or ".join(", ".join(g) for g in required if g) + (f" (optional {', '.join(optional)})"
                                                                         if optional else ""))
            return None
    chosen = next((g for g in required if all(k in spec for k in g) and not (set(allowed) - set(g) - set(optional))
                   & set(given)), None)
    if chosen is None:
        forms = " or ".join("{ " + ", ".join(g) + " }" for g in required)
        ck.add(where, _show(spec), f"{law} with {forms}")
        return None
    scale = spec.get("scale", 1.0)
    if "scale" in spec and not allow_scale:
        ck.add(where + ".scale", _show(scale), "no scale here (scale is for groups in exodiff/data/population.toml)")
        return None
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        ck.add(where + ".scale", _show(scale), "a bare number > 0")
        return None
    names = [k for k in chosen if k != "gsd"] + [k for k in optional if k in spec]
    unit = "1"
    if kind in ("quantity", "amount") and names:
        if r.quantity("." + names[0], spec[names[0]]) is None:
            return None
        from exodiff import units

        unit = units.format_unit(units.parse(spec[names[0]]).units)
    params: dict[str, float] = {}
    for k in names:
        v = r.number("." + k, spec[k], unit) if kind in ("quantity", "amount") else _bare(r, k, spec[k])
        if v is None:
            return None
        if not math.isfinite(v):
            r.bad("." + k, _show(spec[k]), "a finite value")
            return None
        params[k] = v
    if "gsd" in chosen:
        g = spec["gsd"]
        if isinstance(g, bool) or not isinstance(g, (int, float)) or not g > 1:
            r.bad(".gsd", _show(g), "a bare number > 1 (the geometric standard deviation; 1 would be no spread)")
            return None
        params["gsd"] = float(g)
    bad = _check_params(law, params)
    if bad is not None:
        k, expected = bad
        r.bad("." + k, _show(spec[k]), expected)
        return None
    return Distribution(key=key, kind=kind, unit=unit, law=law, params=params, scale=float(scale), origin=origin,
                        source=str(spec.get("source", "")), estimate=spec.get("estimate"),
                        note=str(spec.get("note", "")))


def _bare(r: _Reader, k: str, raw: Any) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        r.bad("." + k, _show(raw), f"a bare number (no quotes, no units), e.g. {r.field.example}")
        return None
    return float(raw)


def _check_params(law: str, p: dict) -> tuple[str, str] | None:
    """The first parameter that makes no distribution, with what it should be."""
    if law == "lognormal":
        first = "median" if "median" in p else "mean"
        if not p[first] > 0:
            return first, f"a {first} > 0 (a log-normal is positive)"
        if "sd" in p and not p["sd"] > 0:
            return "sd", "an sd > 0"
    if law == "normal":
        if not p["sd"] > 0:
            return "sd", "an sd > 0"
        if "min" in p and "max" in p and not p["min"] < p["max"]:
            return "max", f"max > min ({p['min']:g})"
        lo, hi = p.get("min", -math.inf), p.get("max", math.inf)
        if not (lo - 6 * p["sd"] < p["mean"] < hi + 6 * p["sd"]):
            return "mean", "a mean within 6 sd of [min, max] (else the truncated normal has no mass)"
    if law in ("uniform", "loguniform"):
        if not p["min"] < p["max"]:
            return "max", f"max > min ({p['min']:g})"
        if law == "loguniform" and not p["min"] > 0:
            return "min", "a min > 0 (loguniform)"
    return None


# --------------------------------------------------------------------------
# The table


@dataclasses.dataclass(frozen=True)
class PopulationDefinition:
    """A checked ``[population]`` table with the distributions in effect.

    Attributes
    ----------
    size, seed : int
    body_site : str
    groups : tuple of str
    distributions : tuple of Distribution
        Every key that varies (or is fixed by a group), in drawing order: the
        site's keys in file order, then the table's.
    kept : tuple of str
        Site keys not drawn because the scenario sets them itself.
    table : dict
        The ``[population]`` table as written.
    """

    size: int
    seed: int
    body_site: str
    groups: tuple
    distributions: tuple
    kept: tuple = ()
    table: dict = dataclasses.field(default_factory=dict)

    def draw(self) -> dict[str, np.ndarray]:
        """Every person's value of every key (in the key's display unit), the same for the same seed.

        One Latin-hypercube column per varying key, in order; fixed keys take no column.
        """
        varying = [d for d in self.distributions if d.varies]
        u = latin_hypercube(self.size, max(len(varying), 1), self.seed)
        out, j = {}, 0
        for d in self.distributions:
            if d.varies:
                out[d.key] = d.ppf(u[:, j])
                j += 1
            else:
                out[d.key] = d.ppf(np.full(self.size, 0.5))
        return out

    def describe(self) -> str:
        groups = f", group {' + '.join(self.groups)}" if self.groups else ""
        return f"population of {self.size}, seed {self.seed}, body site {self.body_site}{groups}"


def _where(key: str) -> str:
    return f'population.distributions."{key}"'


def _rekey(issues: list[Issue], old: str, new: str) -> list[Issue]:
    return [Issue(i.file, new + i.key[len(old):] if i.key.startswith(old) else i.key, i.given, i.expected)
            for i in issues]


def _user_sets(user: Mapping[str, Any], key: str) -> bool:
    node: Any = user
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _whole(table: Mapping, k: str, ck: _Issues, low: int, example: str, default=None):
    v = table.get(k, default)
    if v is None:
        ck.add(f"population.{k}", "nothing", f"a whole number >= {low}, e.g. {example}")
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        ck.add(f"population.{k}", _show(v), f"a whole number >= {low}, e.g. {example}")
        return None
    return v


def parse_population(table: Any, sc, limit: int | None = None):
    """Check a ``[population]`` table against its scenario.

    Parameters
    ----------
    table : dict
        The ``[population]`` table as read from TOML.
    sc : Scenario
        The scenario (with or without the table).
    limit : int, optional
        Most persons (as ``--max-points`` for sweeps).

    Returns
    -------
    (PopulationDefinition, Scenario)
        The definition and the base scenario every person is a change of
        (no ``[population]`` table; ``skin.preset`` the body site).

    Raises
    ------
    ScenarioError
        Every problem, one line each.
    """
    from exodiff import data

    file = sc.file
    ck = _Issues(file)
    if not isinstance(table, Mapping):
        ck.add("population", _show(table), "a table [population] with size and body_site (docs/population.md)")
        raise ScenarioError(ck.issues)
    if "sweep" in sc.user:
        ck.add("population", "a [population] table together with a [sweep] table",
               "one of them: a population is run by exodiff population, a sweep by exodiff sweep")
        raise ScenarioError(ck.issues)
    from exodiff.scenario.core import _did_you_mean

    for k in table:
        if k not in POPULATION_KEYS:
            hint = _did_you_mean(k, POPULATION_KEYS)
            if not hint and "." in k:
                hint = f'put distributions in [population.distributions], e.g. "{k}" = {{ distribution = ... }}'
            ck.add(f"population.{k}", "", "unknown key; " + (hint or f"keys: {', '.join(POPULATION_KEYS)}"))
    limit_n, source = max_points(limit)
    size = _whole(table, "size", ck, 1, "size = 200")
    if size is not None and size > limit_n:
        ck.add("population.size", _show(size), f"at most {limit_n} persons ({source}; raise it with --max-points)")
        size = None
    seed = _whole(table, "seed", ck, 0, "seed = 1", default=0)
    pop = data.population()
    sites, groups_data = pop.get("sites", {}), pop.get("groups", {})
    preset = sc.resolved["skin"]["preset"]
    site = table.get("body_site", preset)
    if not isinstance(site, str) or site not in sites:  # a table or list is no name (and no dict key)
        given = _show(site) if "body_site" in table else f'nothing (skin.preset "{preset}" has no population data)'
        hint = _did_you_mean(site, sites) if isinstance(site, str) else ""
        ck.add("population.body_site", given, f"one of {', '.join(_show(s) for s in sites)}"
               + (f" ({hint})" if hint else ""))
        site = None
    raw_groups = table.get("group", [])
    groups = [raw_groups] if isinstance(raw_groups, str) else raw_groups
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        ck.add("population.group", _show(raw_groups), 'a group name or a list of them, e.g. "female"')
        groups = []
    for i, g in enumerate(groups):
        if g not in groups_data:
            hint = _did_you_mean(g, groups_data)
            ck.add("population.group" + (f"[{i}]" if isinstance(raw_groups, list) else ""), _show(g),
                   f"one of {', '.join(_show(x) for x in groups_data)}" + (f" ({hint})" if hint else ""))
    user_dists = table.get("distributions", {})
    if not isinstance(user_dists, Mapping):
        ck.add("population.distributions", _show(user_dists),
               'a table of dotted keys, e.g. "formulation.uptake_rate" = { distribution = "lognormal", '
               'median = "0.1 1/h", gsd = 2 }')
        user_dists = {}
    if ck.issues:
        raise ScenarioError(ck.issues)

    changes: dict[str, Any] = {"population": None}
    if site != preset:
        changes["skin.preset"] = site
    try:
        base = sc.replace(changes) if "population" in sc.user or site != preset else sc
    except ScenarioError as exc:
        raise ScenarioError(_rekey(exc.issues, "skin.preset", "population.body_site")) from None

    dists: dict[str, Distribution] = {}
    kept: list[str] = []
    layers = base.resolved["skin"]["layers"]
    follicles = bool(base.resolved["delivery"].get("follicles"))

    def field_of(key: str, where: str):
        sub = _Issues(file)
        f = _field_of(key, base, set(), sub)
        ck.issues.extend(_rekey(sub.issues, sweep_key(key), where))
        return f

    # the site's distributions, then each group's changes to them
    for key, spec in sites[site].items():
        if key == "description" or key in user_dists:
            continue
        parts = key.split(".")
        if parts[:2] == ["skin", "layers"] and parts[2] not in layers:
            continue
        if parts[0] == "delivery" and parts[1].startswith("follicle") and not follicles:
            continue
        if _user_sets(base.user, key):
            kept.append(key)
            continue
        where = f'exodiff/data/population.toml: sites.{site}."{key}"'
        f = field_of(key, where)
        if f is not None:
            d = _read_distribution(key, spec, f, ck, where, f"site {site}")
            if d is not None:
                dists[key] = d
    for g in groups:
        for key, spec in groups_data[g].items():
            if key == "description" or key in user_dists or key in kept:
                continue
            where = f'exodiff/data/population.toml: groups.{g}."{key}"'
            if key in dists and set(spec) <= set(_META_KEYS) and "distribution" not in spec:
                d = dists[key]
                scale = spec.get("scale", 1.0)
                dists[key] = dataclasses.replace(d, scale=d.scale * float(scale), origin=f"{d.origin}, group {g}",
                                                 source=f"{d.source}; group {g}: {spec.get('source', '')}",
                                                 estimate=bool(d.estimate) or bool(spec.get("estimate")))
                continue
            f = field_of(key, where)
            if f is None:
                continue
            d = _read_distribution(key, spec, f, ck, where, f"group {g}", allow_scale=True)
            if d is not None and d.law == "none":
                try:
                    d = dataclasses.replace(d, unit=f.si_unit or "1", fixed=float(base.get(key)))
                except (KeyError, TypeError):
                    ck.add(where, _show(spec), "a distribution: the scenario has no value of this key to scale")
                    d = None
            if d is not None:
                dists[key] = d
    for key, spec in user_dists.items():
        where = _where(key)
        if not isinstance(key, str) or "." not in key:
            ck.add(where, "", 'a dotted scenario key such as "formulation.uptake_rate"')
            continue
        f = field_of(key, where)
        if f is None:
            continue
        d = _read_distribution(key, spec, f, ck, where, "population.distributions")
        if d is not None and d.law != "none":
            dists[key] = d
    if ck.issues:
        raise ScenarioError(list(dict.fromkeys(ck.issues)))
    defn = PopulationDefinition(size=size, seed=seed, body_site=site, groups=tuple(groups),
                                distributions=tuple(dists.values()), kept=tuple(kept), table=dict(table))
    return defn, base


# --------------------------------------------------------------------------
# Planning: the persons as a zip sweep


@dataclasses.dataclass
class PopulationPlan:
    """A checked population, ready to run: its definition and the sweep of its persons."""

    definition: PopulationDefinition
    sweep: SweepPlan

    @property
    def size(self) -> int:
        return self.sweep.size

    @property
    def base(self):
        return self.sweep.base

    def persons_table(self) -> str:
        """Every person's drawn values (``exodiff population --dry-run``)."""
        from exodiff.report.sweep_plots import points_table

        head = [f"{self.sweep.file}: {self.definition.describe()}", *("  " + d.describe()
                                                                       for d in self.definition.distributions)]
        if self.definition.kept:
            head.append("  kept at the scenario's own value: " + ", ".join(self.definition.kept))
        return "\n".join([*head, *points_table(self.sweep).splitlines()[1:]])


def plan(scenario, max_points: int | None = None) -> PopulationPlan:
    """Load and check a scenario's ``[population]`` table; draw and validate every person.

    Raises
    ------
    ScenarioError
        Every problem of the table, of the data it draws on, or of a drawn
        person (e.g. a draw outside a key's admissible range), one line each,
        before anything runs or is written.
    """
    from exodiff.scenario.core import Scenario, load_scenario

    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if "population" not in sc.user:
        raise ScenarioError([Issue(sc.file, "population", "nothing",
                                   "a [population] table with size and body_site, e.g. size = 200 (docs/population.md)")])
    defn, base = parse_population(sc.user["population"], sc, max_points)
    values = defn.draw()
    params = []
    for d in defn.distributions:
        p = Parameter(d.key, d.kind, d.unit)
        vals = tuple(p.value_for(x) for x in values[d.key])
        coords = tuple(float(v) if d.kind in ("number", "integer") else float(x) for v, x in zip(vals, values[d.key]))
        params.append(Parameter(d.key, d.kind, d.unit, values=vals, coords=coords))
    if not params:
        raise ScenarioError([Issue(sc.file, "population", f"nothing that varies at body site {defn.body_site}",
                                   'at least one distribution, e.g. [population.distributions] '
                                   '"formulation.uptake_rate" = { distribution = "lognormal", median = "0.1 1/h", '
                                   'gsd = 2 }')])
    sweep_def = SweepDefinition(mode="zip", parameters=tuple(params), table=dict(defn.table), study="population")
    points = sweep_def.points()
    try:
        scenarios = check_points(base, sweep_def, points, sc.file)
    except ScenarioError as exc:
        issues = []
        for i in exc.issues:
            key = i.key.replace('sweep."', 'population."', 1) if i.key.startswith('sweep."') else i.key
            given = i.given.replace("at sweep point", "at person").replace(" more points)", " more persons)")\
                .replace(" more point)", " more person)")
            issues.append(Issue(i.file, key, given, i.expected + " (a draw of the population's distribution: "
                                "narrow it, or truncate a normal with min and max)"))
        raise ScenarioError(issues) from None
    # the data in effect is hashed too: a changed data file is a changed population
    drawn = {"table": dict(defn.table), "distributions": [d.describe() for d in defn.distributions]}
    sp = SweepPlan(base=base, definition=sweep_def, points=points, scenarios=scenarios,
                   hash=scenario_hash(base.user, drawn), file=sc.file)
    return PopulationPlan(definition=defn, sweep=sp)


# --------------------------------------------------------------------------
# Running


@dataclasses.dataclass
class PopulationResult:
    """A finished population.

    Attributes
    ----------
    plan : PopulationPlan
    persons : xarray.Dataset
        Every person's metrics over ``point`` (``sweep.nc``).
    bands : xarray.Dataset
        Percentiles over the persons (``population.nc``, :func:`bands`).
    """

    plan: PopulationPlan
    persons: Any
    bands: Any

    def write(self, directory, plots: bool = True) -> list[Path]:
        """Write ``population.nc``, ``population.csv`` and, with ``plots``, PNGs and ``report.html``."""
        from exodiff.report import population_report as rep
        from exodiff.report.outputs import atomic_path, write_netcdf

        directory = Path(directory)
        paths = [write_netcdf(self.bands, directory / RESULT)]
        with atomic_path(directory / BANDS_CSV) as tmp:
            tmp.write_text(rep.bands_csv(self.bands), encoding="utf-8")
        paths.append(directory / BANDS_CSV)
        if plots:
            paths += rep.write_report(self.bands, self.persons, directory, self.plan.definition)
        return paths


def population(scenario, jobs: int | None = None, directory=None, *, resume: bool = False,
               scheduler: str | None = None, dask_local: int | None = None, executor=None,
               save_profiles: bool = False, progress: bool = False, batch: bool | None = None,
               max_points: int | None = None) -> PopulationResult:
    """Run a virtual population and return every person's metrics and the bands.

    Parameters
    ----------
    scenario : Scenario, path, dict or PopulationPlan
        A scenario with a ``[population]`` table (docs/population.md).
    jobs, directory, resume, scheduler, dask_local, executor, save_profiles, progress, batch
        As :func:`exodiff.sweep`: each person is a sweep point
        (``directory/points/``, ``directory/sweep.nc``).  ``save_profiles``
        keeps ``fraction(time, compartment)`` of everyone, so the bands get a
        time course (and the batched path is not used).  With ``directory``,
        ``population.nc`` is written too (plots and the report by :meth:`PopulationResult.write`).

    Returns
    -------
    PopulationResult
    """
    from exodiff.studies import sweep as sweeping

    p = scenario if isinstance(scenario, PopulationPlan) else plan(scenario, max_points)
    persons = sweeping.sweep(p.sweep, jobs=jobs, directory=directory, resume=resume, scheduler=scheduler,
                             dask_local=dask_local, executor=executor, save_profiles=save_profiles,
                             progress=progress, batch=batch)
    b = bands(persons, definition=p.definition)
    if directory is not None:
        from exodiff.report.outputs import write_netcdf

        write_netcdf(b, Path(directory) / RESULT)
    return PopulationResult(plan=p, persons=persons, bands=b)


# --------------------------------------------------------------------------
# Bands


def bands(persons, percentiles=PERCENTILES, definition: PopulationDefinition | None = None):
    """Percentiles over the persons of every metric, drawn key and (with profiles) time course.

    Parameters
    ----------
    persons : xarray.Dataset
        A population's ``sweep.nc`` (a ``point`` dimension).
    percentiles : sequence of float
        In percent (default 5, 50, 95).
    definition : PopulationDefinition, optional
        Stored as attributes (distributions, body site, groups).

    Returns
    -------
    xarray.Dataset
        Each metric ``m`` as ``m(percentile)`` (its units), each drawn key as
        ``<key>(percentile)`` in its display unit, and with profiles
        ``fraction(percentile, time, compartment)`` and ``amount(...)``, and
        with a ``[systemic]`` model ``plasma_concentration(percentile, time)``.
        The percentiles are :func:`numpy.nanpercentile` (linear
        interpolation) over the persons whose run succeeded; ``persons`` and
        ``failed_persons`` attributes count them.
    """
    import xarray as xr

    q = np.asarray(percentiles, dtype=float)
    keys = list(persons.attrs.get("sweep_keys", []))
    good = persons["error"].values == "" if "error" in persons else np.ones(persons.sizes["point"], bool)
    data_vars: dict = {}

    def band(values: np.ndarray) -> np.ndarray:
        v = values[good]
        if v.shape[0] == 0 or np.all(np.isnan(v), axis=0).all():
            return np.full((len(q), *v.shape[1:]), np.nan)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices (a metric some persons lack)
            return np.nanpercentile(v, q, axis=0)

    for name, da in persons.data_vars.items():
        if da.dims == ("point",) and np.issubdtype(da.dtype, np.floating):
            attrs = dict(da.attrs)
            attrs["units"] = _amount_units(name, persons.attrs.get("dose_unit", ""), attrs.get("units", "1"))
            data_vars[name] = (("percentile",), band(da.values), attrs)
        elif name in ("fraction", "amount", "plasma_concentration") and da.dims[0] == "point":
            data_vars[name] = (("percentile", *da.dims[1:]), band(da.values), dict(da.attrs))
    from exodiff.studies.sweep import dim_name

    for k in keys:
        # named as the persons' coordinate (CF: no dots), the dotted key in an attribute
        c = persons[dim_name(k)]
        attrs = dict(c.attrs)
        attrs["long_name"] = f"{k} (drawn)"
        attrs["key"] = k
        data_vars[dim_name(k)] = (("percentile",), band(np.asarray(c.values, dtype=float)), attrs)
    coords: dict = {"percentile": ("percentile", q, {"units": "percent",
                                                     "long_name": "percentile over the persons"})}
    for c in ("time", "compartment"):
        if c in persons.coords and any(c in persons[v].dims for v in ("fraction", "amount", "plasma_concentration")
                                       if v in persons):
            coords[c] = (c, persons[c].values, dict(persons[c].attrs))
    ds = xr.Dataset(data_vars=data_vars, coords=coords)
    attrs = {k: v for k, v in persons.attrs.items() if k not in ("points", "failed_points", "failures")}
    attrs["title"] = persons.attrs.get("title", "population")
    attrs["persons"] = int(persons.sizes["point"])
    attrs["failed_persons"] = int((~good).sum())
    if "failures" in persons.attrs:
        attrs["failures"] = persons.attrs["failures"]
    attrs["band_method"] = ("numpy.nanpercentile (linear interpolation) over the persons whose run succeeded, "
                            "per variable")
    if definition is not None:
        attrs.update({"body_site": definition.body_site, "groups": list(definition.groups) or "",
                      "population_size": definition.size, "population_seed": definition.seed,
                      "distributions": [d.describe() for d in definition.distributions] or "",
                      "kept_keys": list(definition.kept) or ""})
    ds.attrs = attrs
    return ds


def _amount_units(name: str, dose_unit: str, units: str) -> str:
    """Units of the absolute metrics (a sweep point file knows only ``_h`` and ``_um`` from the name)."""
    if not dose_unit:
        return units
    if name.startswith("amount_") or name.endswith("_amount"):
        return dose_unit
    if name == "plasma_cmax":
        return f"{dose_unit}/L"
    if name == "plasma_auc":
        return f"{dose_unit} h/L"
    if name == "treated_area_cm2":
        return "cm^2"
    return units


# --------------------------------------------------------------------------
# Comparing populations


def plans_of_comparison(cplan) -> dict[str, PopulationPlan]:
    """The population of every variant of a :func:`exodiff.studies.compare.prepare` plan.

    Raises
    ------
    ScenarioError
        A variant without a ``[population]`` table among variants with one
        (a single run is not a population), or any population's problems.
    """
    issues: list[Issue] = []
    plans = {}
    for v in cplan.variants:
        if "population" not in v.scenario.user:
            issues.append(Issue(v.scenario.file, "population", f"nothing (variant {v.name})",
                                "a [population] table in every variant when one has it (populations are compared "
                                "with populations)"))
            continue
        try:
            plans[v.name] = plan(v.scenario)
        except ScenarioError as exc:
            issues.extend(exc.issues)
    if issues:
        raise ScenarioError(issues)
    return plans


def compare_populations(variants: Mapping[str, PopulationPlan], jobs: int | None = None, directory=None,
                        progress: bool = False, batch: bool | None = None, plots: bool = True):
    """Run each population and tabulate the bands side by side.

    Parameters
    ----------
    variants : mapping of name to PopulationPlan
    directory : path, optional
        Each variant's population goes to ``directory/<name>/``.

    Returns
    -------
    (xarray.Dataset, dict)
        The table: every metric the variants share as ``m(variant, percentile)``
        (docs/population.md, "Comparing populations"), and the
        :class:`PopulationResult` of each variant.
    """
    import xarray as xr

    results = {}
    for name, p in variants.items():
        where = None if directory is None else Path(directory) / name
        results[name] = population(p, jobs=jobs, directory=where, progress=progress, batch=batch)
        if where is not None:
            results[name].write(where, plots=plots)
    names = list(results)
    first = results[names[0]].bands
    drawn = set(first.attrs.get("sweep_dims", []))
    shared = [v for v in first.data_vars if first[v].dims == ("percentile",)
              and v not in drawn
              and all(v in results[n].bands for n in names[1:])]
    table = xr.Dataset(
        {v: (("variant", "percentile"), np.stack([results[n].bands[v].values for n in names]),
             dict(first[v].attrs)) for v in shared},
        coords={"variant": ("variant", np.array(names, dtype=str)), "percentile": first["percentile"]})
    table.attrs = {"title": f"{len(names)} populations compared", "persons": [results[n].bands.attrs["persons"]
                                                                               for n in names]}
    return table, results


# exodiff.population: this module, and called, its function of the same name
make_callable(__name__)
