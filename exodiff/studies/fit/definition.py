"""The ``[fit]`` table: free parameters with bounds, data sets, options; all checked before anything runs.

::

    [fit]
    data = "franz.csv"                  # relative to the scenario file
    relative_sd = 0.1                   # sd of rows with an empty sd, as a fraction of |value|
    starts = 8                          # multi-start points (a scrambled Sobol design in the log-bounds box)
    [fit.parameters]
    "skin.layers.stratum_corneum.diffusivity" = ["1e-12 cm^2/s", "1e-7 cm^2/s"]
    "skin.layers.stratum_corneum.partition" = [0.01, 1000]

or several data sets sharing the free parameters, each with dotted
overrides of the scenario::

    [[fit.datasets]]
    data = "dose_low.csv"
    overrides = { "formulation.dose" = "5 ug/cm^2" }

Every problem is one :class:`~exodiff.errors.Issue` naming ``fit.<key>``
(free keys as ``fit.parameters."<key>"``), all raised together.  Free keys
are read with the sweep's key lookup (:func:`exodiff.studies.sweep.definition`)
so a fit accepts exactly the numeric keys a sweep does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from exodiff import units
from exodiff.errors import Issue, ScenarioError
from exodiff.studies.fit.data import DEFAULT_RELATIVE_SD, DEFAULT_SC_DENSITY, Observations, read_data, \
    read_tape_strips

__all__ = ["FreeParameter", "DataSet", "FitDefinition", "parse_fit", "OPTION_KEYS"]

#: keys of [fit] besides data, parameters and datasets
OPTION_KEYS = ("relative_sd", "starts", "seed", "profile", "mcmc", "strips", "strip_area", "sc_density")
DATASET_KEYS = ("data", "name", "overrides", "strips", "strip_area", "sc_density")
MCMC_KEYS = ("walkers", "steps", "seed", "draws")
#: the most local optimisations a fit starts (each holds its own optimiser state)
MAX_STARTS = 10_000
#: the largest ensemble, chain and sample a posterior may ask for (the chain is walkers x steps x parameters)
MAX_MCMC = {"walkers": 1000, "steps": 100_000, "draws": 1_000_000}


@dataclass(frozen=True)
class FreeParameter:
    """A free parameter: a dotted scenario key between two bounds (fitted in log space).

    Attributes
    ----------
    key : str
    unit : str
        The unit of the bounds (``"cm^2/s"``), ``"1"`` for a bare number.
    low, high : float
        Bounds in SI.
    factor : float
        One ``unit`` in SI.
    number : bool
        A bare-number key (written without units).
    """

    key: str
    unit: str
    low: float
    high: float
    factor: float
    number: bool

    def text(self, si: float) -> Any:
        """The value as written in a scenario file (a string with the bounds' unit, or a number)."""
        if self.number:
            return float(si)
        return f"{float(si) / self.factor!r} {self.unit}"

    def show(self, si: float) -> float:
        """The value in the bounds' unit."""
        return float(si) / self.factor


@dataclass
class DataSet:
    """One data file and the scenario it is compared with."""

    name: str
    path: Path
    overrides: dict[str, Any]
    scenario: Any  # with the data's times among the output times
    observations: Observations


@dataclass
class FitDefinition:
    """A checked ``[fit]`` table."""

    file: str
    base: Any
    parameters: list[FreeParameter]
    datasets: list[DataSet]
    relative_sd: float = DEFAULT_RELATIVE_SD
    starts: int = 0
    seed: int = 0
    profile: bool = True
    mcmc: dict[str, int] = field(default_factory=dict)

    @property
    def log_low(self) -> np.ndarray:
        return np.log([p.low for p in self.parameters])

    @property
    def log_high(self) -> np.ndarray:
        return np.log([p.high for p in self.parameters])


def _show(value: Any) -> str:
    from exodiff.scenario.core import _show as show

    return show(value)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def fit_key(key: str) -> str:
    return f'fit.parameters."{key}"'


def _parameter(key: str, spec: Any, base, ck: list[Issue], file: str) -> FreeParameter | None:
    from exodiff.studies.sweep import definition as sweepdef

    local = sweepdef._Issues(file)
    f = sweepdef._field_of(key, base, set(), local)
    ik = fit_key(key)
    for issue in local.issues:
        ck.append(Issue(file, ik, issue.given, issue.expected))
    if f is None:
        return None
    if f.kind not in ("quantity", "number") or (f.kind == "quantity" and "[amount]" in f.si_unit):
        what = "an amount-bearing" if f.kind == "quantity" else f"a {f.kind}"
        ck.append(Issue(file, ik, "", f"a numeric key (a quantity or a bare number) to fit; this is {what} key"))
        return None
    example = f'["{f.example.strip(chr(34))}", ...]' if f.kind == "quantity" else "[0.01, 1000]"
    if not isinstance(spec, list) or len(spec) != 2:
        ck.append(Issue(file, ik, _show(spec), f"bounds [low, high], e.g. {example}"))
        return None
    values, unit, factor = [], "1", 1.0
    for i, raw in enumerate(spec):
        if f.kind == "number":
            if not _is_number(raw):
                ck.append(Issue(file, ik, _show(spec), f"bounds as bare numbers, e.g. {example}"))
                return None
            values.append(float(raw))
            continue
        if not isinstance(raw, str):
            ck.append(Issue(file, ik, _show(spec), f"bounds as {f.dimension.replace('a ', '', 1)}s with units, "
                            f"e.g. {example}"))
            return None
        try:
            v = units.to_si(raw, f.si_unit)
        except (units.UnitParseError, units.DimensionError) as exc:
            ck.append(Issue(file, ik, f"{_show(raw)} ({exc})", f"bounds in units of {f.dimension}, e.g. {example}"))
            return None
        if i == 0:
            q = units.parse(raw)
            unit = units.format_unit(q.units)
            factor = units.to_si(f"1 {unit}", f.si_unit)
        values.append(v)
    lo, hi = values
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        why = "low < high" if lo >= hi else "bounds > 0 (the fit works in log-parameters)"
        ck.append(Issue(file, ik, _show(spec), f"bounds [low, high] with {why}, e.g. {example}"))
        return None
    for raw, v in zip(spec, values):
        if not f.in_range(v):
            ck.append(Issue(file, ik, _show(spec), f"bounds within the key's range, {f.dimension or 'a number'} "
                            f"{f.range_text()}"))
            return None
    return FreeParameter(key, unit, lo, hi, factor, f.kind == "number")


def _output_times(scenario, times_s: np.ndarray):
    """``scenario`` with the data's times added to its output times (the model is read at them exactly)."""
    sim = scenario.resolved["simulation"]
    given = np.asarray(sim["output_times"], float)
    allt = np.unique(np.concatenate([given, times_s]))
    # times closer than a microsecond are one output time
    keep = np.concatenate([[True], np.diff(allt) > 1e-6 * max(1.0, float(sim["duration"]))])
    allt = allt[keep]
    return scenario.replace({"simulation.output_interval": None,
                             "simulation.output_times": [f"{float(t)!r} s" for t in allt]})


def _path(base, name: str, key: str, ck: list[Issue], file: str) -> Path | None:
    """A data file the [fit] table names, by the scenario's Paths rule (:func:`exodiff.scenario.core.scenario_path`:
    relative to its file's folder, and only there unless --allow-outside); None after an issue."""
    from exodiff.scenario.core import scenario_path

    path, issue = scenario_path(file, key, name, None if base.path is None else Path(base.path).parent, "read")
    if issue is not None:
        ck.append(issue)
    return path


def _strips(table: dict, base, key: str, ck: list[Issue], file: str):
    if "strips" not in table:
        return None
    name = table["strips"]
    if not isinstance(name, str) or not name.strip():
        ck.append(Issue(file, f"{key}.strips", _show(name), 'a file name, e.g. "tape.csv"'))
        return None
    for k in ("strip_area", "sc_density"):
        if k in table and not isinstance(table[k], str):
            ck.append(Issue(file, f"{key}.{k}", _show(table[k]), 'a quantity, e.g. "3.8 cm^2" or "1 g/cm^3"'))
            return None
    path = _path(base, name, f"{key}.strips", ck, file)
    if path is None:
        return None
    try:
        return read_tape_strips(path, None, table.get("strip_area"), table.get("sc_density", DEFAULT_SC_DENSITY))
    except ScenarioError as exc:
        ck.extend(exc.issues)
        return None


def parse_fit(table: Any, base, file: str | None = None, data=None) -> FitDefinition:
    """Check a ``[fit]`` table against ``base`` (the scenario without it) and read its data.

    Parameters
    ----------
    table : dict
        The ``[fit]`` table.
    base : Scenario
    file : str, optional
        Label of the scenario file in messages.
    data : path or list of paths, optional
        Data file(s) to use instead of ``[fit] data`` / ``[[fit.datasets]]``
        (one data set each, without overrides).

    Raises
    ------
    ScenarioError
        Every problem, one line each.
    """
    file = file or base.file
    ck: list[Issue] = []
    if not isinstance(table, dict):
        raise ScenarioError([Issue(file, "fit", _show(table) if table is not None else "nothing",
                                   'a [fit] table with data = "FILE.csv" and [fit.parameters]')])
    allowed = ("data", "parameters", "datasets", *OPTION_KEYS)
    for k in table:
        if k not in allowed:
            from exodiff.studies.sweep.definition import _did_you_mean

            hint = _did_you_mean(k, allowed)
            ck.append(Issue(file, f"fit.{k}", "", "unknown key; " + (hint or f"known keys: {', '.join(allowed)}")))
    opts: dict[str, Any] = {}
    rel = table.get("relative_sd", DEFAULT_RELATIVE_SD)
    if not _is_number(rel) or not 0 < rel < 10:
        ck.append(Issue(file, "fit.relative_sd", _show(rel), "a number in (0, 10), e.g. 0.1 (10 % of |value|)"))
    else:
        opts["relative_sd"] = float(rel)
    # upper bounds: each start is a local optimisation holding its own state; 1e9 starts took 17 GB in 20 s
    for k, lo, hi in (("starts", 1, MAX_STARTS), ("seed", 0, None)):
        if k in table:
            v = table[k]
            if not isinstance(v, int) or isinstance(v, bool) or v < lo or (hi is not None and v > hi):
                ck.append(Issue(file, f"fit.{k}", _show(v),
                                f"a whole number >= {lo}" if hi is None else f"a whole number in [{lo}, {hi}]"))
            else:
                opts[k] = v
    if "profile" in table:
        if not isinstance(table["profile"], bool):
            ck.append(Issue(file, "fit.profile", _show(table["profile"]), "true or false"))
        else:
            opts["profile"] = table["profile"]
    mcmc = table.get("mcmc", {})
    if not isinstance(mcmc, dict):
        ck.append(Issue(file, "fit.mcmc", _show(mcmc), "a table [fit.mcmc] with walkers, steps, seed, draws"))
        mcmc = {}
    for k, v in mcmc.items():
        if k not in MCMC_KEYS:
            ck.append(Issue(file, f"fit.mcmc.{k}", "", f"unknown key; known keys: {', '.join(MCMC_KEYS)}"))
        elif k == "seed":
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                ck.append(Issue(file, f"fit.mcmc.{k}", _show(v), "a whole number >= 0"))
        elif not isinstance(v, int) or isinstance(v, bool) or not 2 <= v <= MAX_MCMC[k]:
            ck.append(Issue(file, f"fit.mcmc.{k}", _show(v), f"a whole number in [2, {MAX_MCMC[k]}]"))
    opts["mcmc"] = {k: v for k, v in mcmc.items() if k in MCMC_KEYS}

    params: list[FreeParameter] = []
    raw_params = table.get("parameters")
    if not isinstance(raw_params, dict) or not raw_params:
        ck.append(Issue(file, "fit.parameters", _show(raw_params) if raw_params is not None else "nothing",
                        'a table [fit.parameters] of dotted keys with bounds, e.g. '
                        '"skin.layers.stratum_corneum.partition" = [0.01, 1000]'))
    else:
        for key, spec in raw_params.items():
            p = _parameter(str(key), spec, base, ck, file)
            if p is not None:
                params.append(p)

    # the data sets: (name, file, overrides, table-with-strips, issue prefix)
    sets: list[tuple[str, Any, dict, dict, str]] = []
    if data is not None:
        for i, d in enumerate(data if isinstance(data, (list, tuple)) else [data]):
            sets.append((Path(d).stem, Path(d), {}, table, "fit"))
    elif "datasets" in table:
        if "data" in table:
            ck.append(Issue(file, "fit.data", _show(table["data"]), "data in each [[fit.datasets]], not both"))
        dsets = table["datasets"]
        if not isinstance(dsets, list) or not dsets or not all(isinstance(d, dict) for d in dsets):
            ck.append(Issue(file, "fit.datasets", _show(dsets), 'tables [[fit.datasets]] with data = "FILE.csv"'))
            dsets = []
        for i, d in enumerate(dsets):
            key = f"fit.datasets[{i}]"
            for k in d:
                if k not in DATASET_KEYS:
                    ck.append(Issue(file, f"{key}.{k}", "", f"unknown key; known keys: {', '.join(DATASET_KEYS)}"))
            if not isinstance(d.get("data"), str) or not d["data"].strip():
                ck.append(Issue(file, f"{key}.data", _show(d.get("data")) if "data" in d else "nothing",
                                'a data file, e.g. "franz.csv" (relative to the scenario file)'))
                continue
            over = d.get("overrides", {})
            if not isinstance(over, dict):
                ck.append(Issue(file, f"{key}.overrides", _show(over), 'a table of dotted keys, e.g. '
                                '{ "formulation.dose" = "5 ug/cm^2" }'))
                continue
            for k in over:
                if isinstance(raw_params, dict) and k in raw_params:
                    ck.append(Issue(file, f'{key}.overrides."{k}"', "", "a key that is not a free parameter "
                                    "(the fit sets it)"))
            name = str(d.get("name", Path(d["data"]).stem))
            path = _path(base, d["data"], f"{key}.data", ck, file)
            if path is not None:
                sets.append((name, path, dict(over), {**table, **d}, key))
    elif isinstance(table.get("data"), str) and table["data"].strip():  # "" was the folder: "is a directory"
        path = _path(base, table["data"], "fit.data", ck, file)
        if path is not None:
            sets.append((Path(table["data"]).stem, path, {}, table, "fit"))
    else:
        ck.append(Issue(file, "fit.data", _show(table.get("data")) if "data" in table else "nothing",
                        'a data file, e.g. data = "franz.csv" (relative to the scenario file), or [[fit.datasets]]'))
    if ck:
        raise ScenarioError(ck)

    datasets = []
    for name, path, over, tbl, key in sets:
        try:
            sc = base.replace(over) if over else base
        except ScenarioError as exc:
            ck.extend(Issue(file, f'{key}.overrides."{i.key}"' if i.key else f"{key}.overrides", i.given,
                            i.expected) for i in exc.issues)
            continue
        # every free key must make a valid scenario over its whole range
        for corner in ("low", "high"):
            try:
                sc.replace({p.key: p.text(getattr(p, corner)) for p in params})
            except ScenarioError as exc:
                ck.extend(Issue(file, f"fit.parameters ({corner} bounds{', ' + name if len(sets) > 1 else ''})",
                                str(i), "bounds the scenario accepts") for i in exc.issues)
                break
        strips = _strips(tbl, base, key, ck, file)
        try:
            obs = read_data(path, sc, str(path), strips, opts.get("relative_sd", DEFAULT_RELATIVE_SD))
        except ScenarioError as exc:
            ck.extend(exc.issues)
            continue
        datasets.append(DataSet(name, path, over, _output_times(sc, obs.time_s), obs))
    if ck:
        raise ScenarioError(ck)
    return FitDefinition(file=file, base=base, parameters=params, datasets=datasets,
                         starts=opts.get("starts", max(4, 4 * len(params))), **{k: v for k, v in opts.items()
                                                                               if k != "starts"})
