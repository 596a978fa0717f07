"""Formulations and delivery methods side by side: ``exodiff compare``.

Two ways to say what to compare (``docs/compare.md``):

- several scenario files, each one variant named by its file stem::

      exodiff compare msc.toml plant.toml caffeine.toml

- one scenario file with a ``[compare]`` table whose variants are dotted
  overrides of that scenario (the same keys as :meth:`Scenario.replace`)::

      [compare]
      times = ["6 h", "24 h", "48 h"]
      [compare.variants.msc]                 # empty: the scenario as written
      [compare.variants.plant]
      "formulation.preset" = "plant_exosome"

Everything is validated before anything runs or is written (every problem
one line: file, dotted key, what was given, what is expected).  The variants
run in a process pool (the Numba cache is warmed in this process first, so
workers never compile concurrently), then the metrics of
:mod:`exodiff.results.metrics` are tabulated per variant: the same function that
writes each run's ``summary.json``, so the table equals the summaries.

Only the result variables every geometry has are used (``fraction``,
``amount``, ``loss_by_layer``, ``concentration(time, depth)``): nothing here
assumes the 1D solver.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import os
import re
import sys
import time as _time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import xarray as xr

from exodiff._callable import make_callable
from exodiff._version import __version__
from exodiff import units
from exodiff.report.compare_table import (  # noqa: F401  (public here as exodiff.compare.*)
    format_table,
    split_species,
    format_value,
    read_csv,
    to_csv,
    to_markdown,
    write_text,
)
from exodiff.results import metrics
from exodiff.errors import Issue, ScenarioError, SolverError
from exodiff.scenario.core import PASS_THROUGH_SECTIONS, Scenario, _did_you_mean, _show, load_scenario
from exodiff.scenario.schema import LAYER, SECTIONS

__all__ = ["compare", "run_comparison", "Comparison", "Variant", "prepare", "run_variants", "metrics_table",
           "to_csv", "to_markdown", "format_table", "write_outputs", "COMPARE_KEYS"]

#: Keys of a ``[compare]`` table.
COMPARE_KEYS = {
    "times": 'times at which the fraction of dose in each compartment is tabulated, e.g. ["6 h", "24 h"] '
             "(default: the end of each run)",
    "variants": "tables [compare.variants.<name>] of dotted overrides of this scenario",
}

#: Label used in messages about options given on the command line or to the API.
OPTION_SOURCE = "exodiff compare"

# Variant names become directory names and table headers.
#: a variant names a folder and files: letters, digits, _ and -, at most 100 (300 ran, then failed to write)
_VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")

#: Files of a comparison besides the per-variant directories.
TABLE_CSV, TABLE_MD, REPORT_HTML = "metrics.csv", "metrics.md", "report.html"


@dataclasses.dataclass
class Variant:
    """One column of a comparison.

    Attributes
    ----------
    name : str
        Short name: table header and output sub-directory.
    scenario : Scenario
        The validated scenario of this variant.
    overrides : dict
        The dotted overrides that made it from the base (empty for a file).
    """

    name: str
    scenario: Scenario
    overrides: dict = dataclasses.field(default_factory=dict)

    @property
    def target(self) -> str | None:
        return self.scenario.resolved["formulation"].get("target_layer")


@dataclasses.dataclass
class Comparison:
    """A finished comparison: the variants, their results and the metrics table."""

    variants: list[Variant]
    times_h: list[float]
    results: dict[str, xr.Dataset]
    table: xr.Dataset
    title: str
    base: Scenario | None = None

    def write(self, directory, plots: bool = True) -> list[Path]:
        """Write every output into ``directory`` (see :func:`write_outputs`)."""
        return write_outputs(self, directory, plots=plots)


# --------------------------------------------------------------------------
# What to compare: sources -> validated variants


def _flatten(table: Mapping[str, Any], prefix: str = ""):
    """Nested override tables -> dotted keys, stopping at a scenario key whose value is a table."""
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and not _is_leaf(key):
            yield from _flatten(v, key + ".")
        else:
            yield key, v


def _is_leaf(dotted: str) -> bool:
    parts = dotted.split(".")
    if len(parts) == 2 and parts[0] in SECTIONS:
        return parts[1] in SECTIONS[parts[0]]
    if len(parts) == 4 and parts[:2] == ["skin", "layers"]:
        return parts[3] in LAYER
    return False


def _parse_time(raw: Any) -> float | str:
    """A time in hours, or the reason it is not one."""
    if units.is_quantity(raw):
        raw = units.quantity_text(raw)
    if not isinstance(raw, str) or isinstance(raw, bool):
        return f"{_show(raw)} (a bare number)" if isinstance(raw, (int, float)) else _show(raw)
    try:
        seconds = units.to_si(raw, "s")
    except (units.UnitParseError, units.DimensionError) as exc:
        return f"{_show(raw)} ({exc})"
    if not seconds >= 0:
        return _show(raw)
    return seconds / 3600.0


#: the most times a comparison tabulates
MAX_TIMES = 50


def _times(raw: Any, file: str, key: str, issues: list[Issue]) -> list[tuple[float, int, str]] | None:
    """Check a list of times: ``(hours, index, text as given)`` sorted by time, one per time; None after an issue."""
    expected = 'a list of times with units, e.g. ["6 h", "24 h"]'
    if isinstance(raw, str) or units.is_quantity(raw):
        raw = [raw]
    if not isinstance(raw, (list, tuple)) or not raw:
        issues.append(Issue(file, key, _show(raw) if raw != [] else "an empty list", expected))
        return None
    if len(raw) > MAX_TIMES:  # a column per time in a console table: 1200 times ran for minutes
        issues.append(Issue(file, key, f"{len(raw)} times", f"at most {MAX_TIMES} times (a table's columns; the "
                            "full time course is in each variant's result.nc)"))
        return None
    out: dict[float, tuple[float, int, str]] = {}
    ok = True
    for i, item in enumerate(raw):
        t = _parse_time(item)
        if isinstance(t, str):
            issues.append(Issue(file, f"{key}[{i}]", t, 'a time >= 0 as a string with units, e.g. "24 h"'))
            ok = False
        else:
            out.setdefault(t, (t, i, _show(item) if isinstance(item, str) else f'"{t:g} h"'))
    return sorted(out.values()) if ok else None


def _variant_issue(file: str, name: str, issue: Issue) -> Issue:
    where = f"compare.variants.{name}"
    return Issue(file, f"{where}: {issue.key}" if issue.key else where, issue.given, issue.expected)


def _from_table(base: Scenario, table: Any, file: str,
                issues: list[Issue]) -> tuple[list[Variant], list[tuple[float, int, str]] | None]:
    """Variants and times of a scenario's ``[compare]`` table; problems go to ``issues``."""
    if not isinstance(table, dict):
        issues.append(Issue(file, "compare", _show(table), "a table [compare] with [compare.variants.<name>] tables"))
        return [], None
    for k in table:
        if k not in COMPARE_KEYS:
            hint = _did_you_mean(k, COMPARE_KEYS)
            if not hint and "." in k:
                hint = f"put overrides in a variant table, e.g. [compare.variants.<name>] \"{k}\" = ..."
            issues.append(Issue(file, f"compare.{k}", "", f"unknown key; {hint or 'known keys: times, variants'}"))
    times = _times(table["times"], file, "compare.times", issues) if "times" in table else None
    raw = table.get("variants")
    expected = ('at least one table [compare.variants.<name>] of dotted overrides, e.g. '
                '"formulation.preset" = "plant_exosome"')
    if raw is None or raw == {}:
        issues.append(Issue(file, "compare.variants", "nothing" if raw is None else "no variants", expected))
        return [], times
    if not isinstance(raw, dict):
        issues.append(Issue(file, "compare.variants", _show(raw), expected))
        return [], times
    variants = []
    for name, over in raw.items():
        key = f"compare.variants.{name}"
        if not _VARIANT_NAME.match(name):
            issues.append(Issue(file, key, _show(name), "a variant name of at most 100 letters, digits, _ and - "
                                                          "(it names the output directory)"))
            continue
        if not isinstance(over, dict):
            issues.append(Issue(file, key, _show(over), 'a table of dotted overrides, e.g. '
                                                        '"formulation.preset" = "plant_exosome"'))
            continue
        pairs = list(_flatten(over))
        flat = dict(pairs)
        if len(flat) < len(pairs):
            # "formulation.dose" and formulation = { dose = ... } in one variant: one of them silently won
            seen: set[str] = set()
            twice = list(dict.fromkeys(k for k, _ in pairs if k in seen or seen.add(k)))
            for k in twice:
                issues.append(Issue(file, f"{key}: {k}", "two values (a dotted key and an entry of a table)",
                                    "one value per key in a variant"))
            continue
        bad = [k for k in flat if k.split(".")[0] in PASS_THROUGH_SECTIONS]
        for k in bad:
            issues.append(Issue(file, f"{key}: {k}", "", f"not allowed: a variant overrides scenario keys, "
                                                          f"not [{k.split('.')[0]}]"))
        if bad:
            continue
        changes: dict[str, Any] = {"compare": None}
        if "meta.name" not in flat:
            changes["meta.name"] = f"{base.name}: {name}"
        changes.update(flat)
        try:
            sc = base.replace(changes)
        except ScenarioError as exc:
            issues.extend(_variant_issue(file, name, i) for i in exc.issues)
            continue
        variants.append(Variant(name, sc, flat))
    return variants, times


def _load(source, issues: list[Issue]) -> Scenario | None:
    try:
        return source if isinstance(source, Scenario) else load_scenario(source)
    except ScenarioError as exc:
        issues.extend(exc.issues)
        return None


def _stem_name(sc: Scenario, fallback: str) -> str:
    stem = sc.path.stem if sc.path is not None else fallback
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_") or fallback
    return name if _VARIANT_NAME.match(name) else f"v_{name}"


@dataclasses.dataclass
class Plan:
    """What to compare, validated: the variants, the times (hours, sorted; empty for "the end"),
    a title, and the scenario holding the ``[compare]`` table when there is one."""

    variants: list[Variant]
    times_h: list[float]
    title: str
    base: Scenario | None = None

    @property
    def warnings(self) -> list[str]:
        """What the reader of the table should know: variants that run for different durations."""
        return duration_warnings(self.variants, bool(self.times_h))


def duration_warnings(variants: list[Variant], has_times: bool) -> list[str]:
    """One line when the variants' runs end at different times: their "at end" metrics are then not at one time."""
    ends = {v.name: v.scenario.resolved["simulation"]["duration"] / 3600.0 for v in variants}
    if len(set(ends.values())) <= 1:
        return []
    runs = ", ".join(f"{n} {t:g} h" for n, t in ends.items())
    advice = "" if has_times else "; tabulate at common times with --times (or [compare] times)"
    return [f"the variants run for different durations ({runs}): metrics \"at end\" (delivered, uptake, "
            f"penetration depth, fractions at end) are each at its own run's end, not at one time{advice}"]


def prepare(scenarios, times=None) -> Plan:
    """Validate what to compare, before anything runs.

    Parameters
    ----------
    scenarios : path, Scenario or dict; or a list of them; or a mapping of name to them
        One scenario with a ``[compare]`` table, or several scenarios (one
        variant each, named by file stem), or explicit ``{name: scenario}``.
    times : list of str, optional
        Times with units (``["6 h", "24 h"]``); replaces ``[compare] times``.

    Returns
    -------
    Plan

    Raises
    ------
    ScenarioError
        Every problem found, one line each.
    """
    issues: list[Issue] = []
    times_h = _times(times, OPTION_SOURCE, "--times", issues) if times is not None else None
    if isinstance(scenarios, (str, Path, Scenario)) or _looks_like_scenario(scenarios):
        entries = [(None, scenarios)]
    elif isinstance(scenarios, Mapping):
        entries = list(scenarios.items())
    else:
        entries = [(None, s) for s in scenarios]
    named = any(n is not None for n, _ in entries)
    variants: list[Variant] = []
    title, base = "comparison", None
    if not entries:
        issues.append(Issue(OPTION_SOURCE, "", "", "at least one scenario to compare"))
    elif len(entries) == 1 and not named:
        sc = _load(entries[0][1], issues)
        if sc is not None and "compare" not in sc.user:
            issues.append(Issue(sc.file, "compare", "nothing",
                                "a [compare] table with variants in this file, or two or more scenario files"))
        elif sc is not None:
            variants, file_times = _from_table(sc, sc.user["compare"], sc.file, issues)
            if times is None:
                times_h = file_times
            title, base = sc.name, sc
    else:
        seen: set[str] = set()
        for i, (name, src) in enumerate(entries):
            sc = _load(src, issues)
            if sc is None:
                continue
            if "compare" in sc.user:
                issues.append(Issue(sc.file, "compare", "a [compare] table",
                                    "a plain scenario when several are compared "
                                    "(compare a file with a [compare] table on its own)"))
                continue
            if name is None:
                name = base_name = _stem_name(sc, f"variant{i + 1}")
                k = 2
                while name in seen:
                    name, k = f"{base_name}-{k}", k + 1
            elif not isinstance(name, str) or not _VARIANT_NAME.match(name):
                issues.append(Issue(OPTION_SOURCE, "variant name", _show(name),
                                    "a variant name of at most 100 letters, digits, _ and - (it names the output "
                                    "directory)"))
                continue
            seen.add(name)
            variants.append(Variant(name, sc))
        title = f"{len(entries)} scenarios"
    if not issues:
        _check_times_in_runs(variants, times_h, times is not None, issues)
    if issues:
        raise ScenarioError(list(dict.fromkeys(issues)))
    return Plan(variants, [t for t, _, _ in times_h or []], title, base)


def _looks_like_scenario(obj) -> bool:
    """A dict holding a scenario (has a scenario section) rather than a mapping of names."""
    return isinstance(obj, Mapping) and any(k in SECTIONS or k in PASS_THROUGH_SECTIONS for k in obj)


def _check_times_in_runs(variants: list[Variant], times_h, from_option: bool, issues: list[Issue]) -> None:
    """Each chosen time within every variant's run; one line per time, naming the shortest run."""
    if not variants:
        return
    ends = {v.name: v.scenario.resolved["simulation"]["duration"] / 3600.0 for v in variants}
    shortest = min(variants, key=lambda v: ends[v.name])
    end_h = ends[shortest.name]
    for t, i, text in times_h or []:
        if t > end_h * (1 + 1e-12):
            file = OPTION_SOURCE if from_option else shortest.scenario.file
            key = "--times" if from_option else "compare.times"
            issues.append(Issue(file, f"{key}[{i}]", text, f"a time <= simulation.duration of every variant "
                                                           f"(variant {shortest.name}: {end_h:g} h)"))


# --------------------------------------------------------------------------
# Running


def _run_one(sc: Scenario):
    from exodiff.run import run

    t0 = _time.perf_counter()
    ds = run(sc, progress=False)
    return ds, _time.perf_counter() - t0


def default_jobs(n_variants: int) -> int:
    """Worker processes for ``n_variants``: one per core, at most one per variant."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, n_variants))


def _mp_context():
    import multiprocessing as mp

    # fork: workers inherit the compiled kernels of this process; elsewhere
    # they load them from the on-disk cache the parent has just written
    if sys.platform.startswith("linux"):
        return mp.get_context("fork")
    return mp.get_context("spawn")


def run_variants(variants: list[Variant], jobs: int | None = None, progress: bool = False) -> dict[str, xr.Dataset]:
    """Run every variant; return their results by name, in variant order.

    Serial with ``jobs=1``.  Otherwise the first variant of each delivery
    method (each solver path) runs in this process first, which loads its
    compiled kernels (compiling and caching them on a first use); the others
    then run in a pool of ``jobs`` worker processes (default: one per core,
    at most one per variant) that inherit the loaded kernels, so no two
    processes ever compile or write the Numba cache at once.  With a single
    variant left over it runs here too.
    """
    from exodiff import run as solve

    jobs = default_jobs(len(variants)) if jobs is None else max(1, int(jobs))
    note = (lambda msg: print(msg, file=sys.stderr, flush=True)) if progress else (lambda msg: None)
    # progress lines on a terminal only: in a log or a pipe a variant that fails is the one line of stderr
    say = note if progress and sys.stderr.isatty() else (lambda msg: None)
    results: dict[str, xr.Dataset] = {}
    n = len(variants)

    def finished(v: Variant, ds, seconds: float) -> None:
        results[v.name] = ds
        say(f"  [{len(results)}/{n}] {v.name}: {seconds:.1f} s")

    def one(v: Variant):
        try:
            return _run_one(v.scenario)
        except SolverError as exc:
            raise SolverError(f"variant {v.name}: {exc}") from None

    if jobs == 1:
        serial = list(variants)
    else:
        methods: dict[str, Variant] = {}
        for v in variants:
            methods.setdefault(v.scenario.resolved["delivery"]["method"], v)
        serial = list(methods.values())
        if n - len(serial) < 2:
            serial = list(variants)
    pending = [v for v in variants if v not in serial]
    say(f"running {n} variant{'s' if n != 1 else ''}"
        + (f", up to {min(jobs, len(pending))} at a time" if pending else ""))
    # the first variant of each method compiles what the others then load
    for line in dict.fromkeys(filter(None, (solve.compile_notice(v.scenario) for v in serial))):
        note(line)  # a wait of up to minutes is announced wherever stderr goes
    for v in serial:
        finished(v, *one(v))
    if pending:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        from exodiff.studies.executors import exit_with_parent

        # workers end with this process, even when it is killed (no orphans holding memory)
        ex = ProcessPoolExecutor(max_workers=min(jobs, len(pending)), mp_context=_mp_context(),
                                 initializer=exit_with_parent, initargs=(os.getpid(),))
        try:
            futures = {ex.submit(_run_one, v.scenario): v for v in pending}
            for fut in as_completed(futures):
                v = futures[fut]
                try:
                    ds, seconds = fut.result()
                except SolverError as exc:
                    raise SolverError(f"variant {v.name}: {exc}") from None
                finished(v, ds, seconds)
        except BaseException:
            ex.shutdown(wait=False, cancel_futures=True)
            raise
        ex.shutdown()
    return {v.name: results[v.name] for v in variants}


# --------------------------------------------------------------------------
# The metrics table


_UNITS = {"target_peak_time_h": "h", "target_auc_h": "h", "mean_penetration_depth_um": "um", "end_time_h": "h"}


def metrics_table(results: Mapping[str, xr.Dataset], variants: list[Variant], times_h=(),
                  title: str = "comparison") -> xr.Dataset:
    """The metrics of every variant: a Dataset with a ``variant`` dimension.

    Each data variable is one metric of :func:`exodiff.results.metrics.summary`
    (``long_name`` its label, ``units``), NaN where a variant has no such
    metric (a layer it does not have); ``target_layer`` is a string
    variable.  Coordinates ``variant`` and ``title`` (the scenario name).
    """
    rows = {v.name: metrics.summary(results[v.name], v.target, times_h) for v in variants}
    keys: list[str] = []
    for r in rows.values():
        keys.extend(k for k in r if k not in keys)
    species = sorted({str(s) for ds in results.values() for s in metrics.species_names(ds) if s is not None})
    names = [v.name for v in variants]
    data = {}
    for k in keys:
        vals = [rows[n].get(k) for n in names]
        if k == "target_layer":
            data[k] = ("variant", np.array([str(x) for x in vals], dtype=object), {"long_name": metrics.label(k)})
            continue
        # an amount below its resolvable level is no number: NaN here, the words in "<metric>_resolvable"
        below = [metrics.is_below(x) for x in vals]
        arr = np.array([math.nan if x is None or b else float(x) for x, b in zip(vals, below)], dtype=float)
        unit = _UNITS.get(split_species(k, species)[1], "1")
        data[k] = ("variant", arr, {"long_name": metrics.label(k, species), "units": unit})
        if any(below):
            data[f"{k}_resolvable"] = ("variant", np.array([x if b else "" for x, b in zip(vals, below)], dtype=object),
                                       {"long_name": f"{metrics.label(k, species)}: resolved?"})
    table = xr.Dataset(
        data,
        coords={"variant": ("variant", names, {"long_name": "variant"}),
                "title": ("variant", [v.scenario.name for v in variants], {"long_name": "scenario name"})},
    )
    table.attrs = {
        "title": title,
        "exodiff_version": __version__,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "times_h": [float(t) for t in times_h],
        "species": species,
    }
    return table


def write_outputs(comparison: Comparison, directory, plots: bool = True) -> list[Path]:
    """Write a comparison: table (CSV, Markdown), plots, HTML report, per-variant results.

    The files are one unit (:func:`exodiff.report.outputs.output_set`): written
    into a staging directory and swapped in for ``directory`` when all are done.

    Returns
    -------
    list of Path
        The files written, the comparison's own first.
    """
    from exodiff.report import outputs

    with outputs.output_set(directory) as out_set:
        written = _write_files(comparison, out_set.staging, plots)
        return [Path(directory) / p.relative_to(out_set.staging) for p in written]


def _write_files(comparison: Comparison, out: Path, plots: bool) -> list[Path]:
    """Every file of a comparison into ``out`` (the staging directory of its output set)."""
    from exodiff.report import outputs

    table = comparison.table
    to_csv(table, out / TABLE_CSV)
    written = [out / TABLE_CSV]
    from exodiff.report.compare_table import markdown_text

    md = f"# {markdown_text(comparison.title)}\n\n" + to_markdown(table)
    written.append(write_text(out / TABLE_MD, md))
    pngs: dict[str, bytes] = {}
    if plots:
        from exodiff.report import compare_plots

        pngs = compare_plots.render(comparison)
        for stem, data in pngs.items():
            p = out / f"{stem}.png"
            with outputs.atomic_path(p) as tmp:
                tmp.write_bytes(data)
            written.append(p)
    from exodiff.report.compare_html import comparison_html

    written.append(write_text(out / REPORT_HTML, comparison_html(comparison, pngs)))
    for v in comparison.variants:
        written += outputs.write_run_files(comparison.results[v.name], v.scenario.resolved, out / v.name,
                                           plots=False, times=comparison.times_h)
    return [Path(p) for p in written]


def default_directory(plan: Plan) -> Path:
    """``output.directory`` of a file with a ``[compare]`` table, else ``results/<its stem>``;
    ``results/compare`` for several files."""
    if plan.base is not None:
        d = plan.base.resolved["output"].get("directory")
        if d:
            return Path(d)
        return Path("results") / (plan.base.path.stem if plan.base.path else "compare")
    return Path("results") / "compare"


# --------------------------------------------------------------------------
# Public entry points


def run_comparison(scenarios, *, times=None, jobs: int | None = None, progress: bool = False) -> Comparison:
    """Validate, run every variant and tabulate; write nothing.

    Parameters are those of :func:`compare`.  Returns a :class:`Comparison`
    (variants, results by name, metrics table) whose ``write(directory)``
    writes the outputs.
    """
    return execute(prepare(scenarios, times), jobs=jobs, progress=progress)


def execute(plan: Plan, jobs: int | None = None, progress: bool = False) -> Comparison:
    """Run a prepared :class:`Plan` and tabulate it (warnings of :attr:`Plan.warnings` as ``UserWarning``)."""
    import warnings

    for line in plan.warnings:
        warnings.warn(line, UserWarning, stacklevel=2)
    results = run_variants(plan.variants, jobs=jobs, progress=progress)
    table = metrics_table(results, plan.variants, plan.times_h, plan.title)
    return Comparison(plan.variants, plan.times_h, results, table, plan.title, plan.base)


def compare(scenarios, *, times=None, directory=None, jobs: int | None = None, progress: bool = False,
            plots: bool = True) -> xr.Dataset:
    """Run formulations or delivery methods side by side and tabulate their metrics.

    Parameters
    ----------
    scenarios : path, Scenario or dict; list of them; or mapping of name to them
        One scenario with a ``[compare]`` table (its variants are compared),
        or several scenarios (each one variant, named by file stem), or
        ``{name: scenario}``.
    times : list of str, optional
        Times with units at which the fraction of dose in each compartment
        is tabulated, e.g. ``["6 h", "24 h"]``; replaces ``[compare] times``.
        Default: the end of each run only.
    directory : path, optional
        Also write the outputs there (CSV, Markdown, plots, HTML report,
        ``<variant>/result.nc`` and ``summary.json``).
    jobs : int, optional
        Worker processes (default one per core, at most one per variant;
        ``1`` runs serially).
    progress : bool
        Say on stderr how far the runs are.
    plots : bool
        With ``directory``: also write the plots (the report then has none).

    Returns
    -------
    xarray.Dataset
        One variable per metric (:mod:`exodiff.results.metrics`) over a ``variant``
        dimension; :func:`to_csv`, :func:`to_markdown` and
        :func:`format_table` write it out.

    Raises
    ------
    ScenarioError
        Bad input, every problem one line, before anything runs.
    SolverError
        A variant's run stopped (the message names the variant).
    """
    cmp = run_comparison(scenarios, times=times, jobs=jobs, progress=progress)
    if directory is not None:
        cmp.write(directory, plots=plots)
    return cmp.table


# exodiff.compare / exodiff.sweep: this module, and called, its function of the same name
make_callable(__name__)
