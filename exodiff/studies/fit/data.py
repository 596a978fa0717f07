"""Measured data for a fit: a tidy CSV, one observation per row, and tape-stripping series.

The data file (``[fit] data``, docs/fit.md) has the header

    observable,time,value,sd,unit

and optionally the columns ``depth`` (a quantity: concentration at a depth),
``replicate`` (a label: replicates are kept, each row is one residual) and
``strip`` (a tape-strip number, with a tape-stripping series).  Lines starting
with ``#`` and blank lines are skipped.  ``time``, ``depth`` are quantity
strings (``"1 h"``, ``"20 um"``); ``unit`` applies to ``value`` and ``sd``;
an empty ``sd`` means relative weighting (``sd = relative_sd x |value|``,
default :data:`DEFAULT_RELATIVE_SD`).

The file is read by pandas; everything the model needs is checked here,
before anything runs: the columns, the observable (against the scenario's
compartments), the unit (against the observable and the scenario's dose
unit), times within ``simulation.duration``, depths within the skin, ``sd``
>= 0.  Every problem is one :class:`~exodiff.errors.Issue` naming the file,
the line and the column, all raised together as a
:class:`~exodiff.errors.ScenarioError`.

Values are kept in the unit of the first row of their *series* (one
observable at one depth or strip, in one kind of unit): the model's value in
its own unit (amount per cm^2 in the dose unit, fraction of the dose,
flux per cm^2 per hour, amount per cm^3) times :attr:`Series.scale`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exodiff import units
from exodiff._io import FileRefused, format_bytes, read_bounded
from exodiff.errors import Issue, ScenarioError

__all__ = ["REQUIRED", "OPTIONAL", "DEFAULT_RELATIVE_SD", "Series", "Observations", "read_data",
           "read_tape_strips", "observable_names"]

REQUIRED = ("observable", "time", "value", "sd", "unit")
#: the smallest sd a row may give, relative to its value: the model's amounts are computed to ~1e-10 of the dose
#: at the tightest tolerance, so a finer sd weights round-off
MIN_RELATIVE_SD = 1e-9
OPTIONAL = ("depth", "replicate", "strip")
#: sd of a row with an empty sd: this fraction of |value| (and the scale of the errors is estimated)
DEFAULT_RELATIVE_SD = 0.10
#: most problems listed from one file (the rest are counted)
MAX_ISSUES = 20
#: the largest data file read (bytes): a measurement table is kilobytes; a device (/dev/zero) or a file of
#: gigabytes is refused before it is read, as a size distribution's CSV is
MAX_BYTES = 10 << 20

#: compartments of every result (the layers come from the scenario)
FIXED_COMPARTMENTS = ("vehicle", "degraded", "taken_up", "cleared", "sampled", "removed", "released")
#: observables other than compartment names, with what their unit must be
SPECIAL = {
    "receptor": "an amount per area (e.g. ug/cm^2) or a fraction of the dose (% or 1)",
    "receptor_concentration": "an amount per volume (e.g. ug/mL)",
    "flux": "an amount per area and time (e.g. ug/cm^2/h)",
    "flux_into_skin": "an amount per area and time (e.g. ug/cm^2/h)",
    "concentration": "an amount per volume (e.g. ug/mL)",
    "tape_strip": "an amount per area (e.g. ug/cm^2) or a fraction of the dose (% or 1)",
}
AMOUNT_TEXT = "an amount per area (e.g. ug/cm^2) or a fraction of the dose (% or 1)"
#: SC density for depths from the mass per strip (g/cm^3): the value tape-stripping studies assume
#: (Anderson & Cassidy 1973; Kalia et al., J Invest Dermatol 2000, 114:1058)
DEFAULT_SC_DENSITY = "1 g/cm^3"


@dataclass(frozen=True)
class Series:
    """One model curve the data of a series are compared with.

    Attributes
    ----------
    observable : str
        As in the file (``"receptor"``, ``"dermis"``, ``"concentration"``, ...).
    mode : str
        What the model gives: ``"amount"`` (per cm^2, dose unit),
        ``"fraction"`` (of the dose), ``"flux"`` (per cm^2 per h),
        ``"volume"`` (per cm^3).
    unit : str
        The display unit (of the series' first row).
    scale : float
        Model value in its own unit x scale = value in ``unit``.
    depth_m : float
        Depth of a concentration, m (NaN otherwise).
    strip : int
        Tape-strip number (0 otherwise).
    """

    observable: str
    mode: str
    unit: str
    scale: float
    depth_m: float = math.nan
    strip: int = 0

    @property
    def label(self) -> str:
        if self.strip:
            return f"{self.observable} strip {self.strip}"
        if self.depth_m == self.depth_m:
            return f"{self.observable} at {self.depth_m * 1e6:.4g} um"
        return self.observable


@dataclass
class Observations:
    """The rows of one data file, checked and converted.

    Arrays have one entry per row: ``line`` (1-based line in the file),
    ``series`` (index into :attr:`series`), ``time_s``, ``value`` and ``sd``
    (in the series' unit; ``sd`` NaN when empty), ``replicate`` labels.
    ``strip_depths_m``: cumulative depth after each tape strip (strip k ends
    at ``strip_depths_m[k - 1]``), empty without a tape series.
    """

    file: str
    line: np.ndarray
    series_index: np.ndarray
    time_s: np.ndarray
    value: np.ndarray
    sd: np.ndarray
    replicate: list[str]
    series: list[Series]
    strip_depths_m: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n(self) -> int:
        return int(self.value.size)

    @property
    def sd_given(self) -> np.ndarray:
        return np.isfinite(self.sd)

    def weights_sd(self, relative_sd: float) -> np.ndarray:
        """The sd of every row: as given, else ``relative_sd x |value|``."""
        return np.where(self.sd_given, self.sd, relative_sd * np.abs(self.value))


def observable_names(resolved) -> list[str]:
    """Every observable a scenario offers (for messages)."""
    return [*SPECIAL, "vehicle", *resolved["skin"]["layers"], *FIXED_COMPARTMENTS[1:]]


def has_receptor(resolved) -> bool:
    """Whether the scenario has a Franz cell's receptor fluid (``[skin] bottom = "receptor"``)."""
    return resolved["skin"].get("bottom") == "receptor" or "receptor" in resolved


def passes_bottom(resolved) -> bool:
    """Whether anything crosses the bottom of the skin into the ``receptor`` compartment (a sink or a receptor)."""
    return resolved["skin"].get("bottom", "sink") in ("sink", "receptor")


def _did_you_mean(word: str, candidates) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _quote(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def _data_lines(text: str) -> list[int]:
    """1-based numbers of the lines pandas reads (not blank, not a # comment)."""
    return [i + 1 for i, line in enumerate(text.splitlines()) if line.strip() and not line.lstrip().startswith("#")]


def _check_fields(text: str, lines: list[int], label: str, header_text: str) -> None:
    """One issue per row whose number of values is not the header's, and one for a file separated by ``;`` or
    tabs (its header is one column); ScenarioError.  Rows with a quoted line break are left to pandas."""
    import csv

    all_lines = text.splitlines()
    counts = []
    for i in lines:
        try:
            fields = next(csv.reader([all_lines[i - 1]]))
        except (csv.Error, StopIteration):
            return
        while len(fields) > 1 and not fields[-1].strip():  # a trailing comma is no value
            fields.pop()
        counts.append((i, fields))
    if not counts:
        return
    head_line, head = counts[0]
    if len(head) == 1 and (";" in head[0] or "\t" in head[0]):
        sep = "a semicolon" if ";" in head[0] else "a tab"
        raise ScenarioError([Issue(label, f"line {head_line}", f"values separated by {sep}",
                                   f"a comma-separated file with the header {header_text}")])
    issues = [Issue(label, f"line {i}", f"{len(f)} value{'s' if len(f) != 1 else ''}",
                    f"{len(head)}, one per column of the header (leave a value empty, do not leave it out)")
              for i, f in counts[1:] if len(f) != len(head)]
    if issues:
        raise ScenarioError(issues[:MAX_ISSUES])


def _read_table(path: Path, label: str, required, optional, what: str):
    """The CSV as a DataFrame of strings, with the file line of every row; ScenarioError on a bad file."""
    import pandas as pd

    def fail(given: str, expected: str, where: str = ""):
        return ScenarioError([Issue(label, where, given, expected)])

    header_text = ",".join(required)
    try:
        text = read_bounded(path, MAX_BYTES).decode("utf-8-sig")
    except FileNotFoundError:
        raise fail("", f"no such file; expected {what} (a path relative to the scenario file)") from None
    except IsADirectoryError:
        raise fail("", f"is a directory; expected {what}") from None
    except FileRefused as exc:
        raise fail("", f"a file not read: {exc}; expected {what} of at most {format_bytes(MAX_BYTES)}") from None
    except OSError as exc:
        raise fail("", f"cannot read the file ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:  # before ValueError, of which it is one
        raise fail("", f"not UTF-8 text (byte {exc.start}); expected {what}") from None
    except ValueError:  # a NUL byte in the path
        raise fail("", f"a path holding a NUL byte; expected {what}") from None
    lines = _data_lines(text)
    if not lines:
        raise fail("", f"empty file; expected the header {header_text} and one row per observation")
    _check_fields(text, lines, label, header_text)
    try:
        import io

        # index_col=False: a row with one value too many is not taken as an index column (which shifted every
        # column of the file and blamed the wrong ones)
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False, comment="#",
                         skip_blank_lines=True, skipinitialspace=True, index_col=False)
    except pd.errors.EmptyDataError:
        raise fail("", f"empty file; expected the header {header_text} and one row per observation") from None
    except pd.errors.ParserError as exc:
        # pandas: "Error tokenizing data. C error: Expected 5 fields in line 4, saw 6"
        msg = str(exc).strip().splitlines()[-1]
        raise fail(f"a row that is not CSV ({msg})", f"one value per column of the header {header_text}",
                   ) from None
    header_line = lines[0]
    cols = [str(c).strip() for c in df.columns]
    df.columns = cols
    issues = []
    for j, c in enumerate(cols):
        if c not in (*required, *optional):
            close = _did_you_mean(c, (*required, *optional))
            issues.append(Issue(label, f"line {header_line}, column {j + 1}", _quote(c),
                                f"a column of {', '.join(required)} (optional: {', '.join(optional)}){close}"))
    seen = set()
    for j, c in enumerate(cols):
        if c in seen:
            issues.append(Issue(label, f"line {header_line}, column {j + 1}", _quote(c), "each column once"))
        seen.add(c)
    missing = [c for c in required if c not in cols]
    if missing:
        issues.append(Issue(label, f"line {header_line}", "header " + _quote(",".join(cols)),
                            f"the column{'s' if len(missing) > 1 else ''} {', '.join(missing)} too; "
                            f"the header is {header_text}"))
    if issues:
        raise ScenarioError(issues)
    if len(df) == 0:
        raise fail("", f"no rows under the header; expected one row per {what.split(' ')[-1]}",
                   f"line {header_line}")
    rows = lines[1:]
    if len(rows) != len(df):  # quoted line breaks: count rows instead
        rows = [header_line + 1 + i for i in range(len(df))]
    return df, rows


class _Rows:
    """Collects the issues of the rows of one file."""

    def __init__(self, label: str):
        self.label = label
        self.issues: list[Issue] = []

    def add(self, line: int, column: str, given: str, expected: str) -> None:
        self.issues.append(Issue(self.label, f"line {line}, column {column}", given, expected))

    def quantity(self, line: int, column: str, text: str, si_unit: str, what: str, example: str):
        if not text:
            self.add(line, column, "nothing", f"{what} with units, e.g. {example}")
            return None
        try:
            return units.to_si(text, si_unit)
        except units.UnitParseError as exc:
            self.add(line, column, f"{_quote(text)} ({exc})", f"{what} with units, e.g. {example}")
        except units.DimensionError as exc:
            self.add(line, column, f"{_quote(text)} ({exc})", f"{what}, e.g. {example}")
        return None

    def number(self, line: int, column: str, text: str, expected: str):
        try:
            x = float(text)
        except ValueError:
            self.add(line, column, _quote(text) if text else "nothing", expected)
            return None
        if not math.isfinite(x):
            self.add(line, column, _quote(text), expected)
            return None
        return x

    def fail(self) -> None:
        if self.issues:
            extra = len(self.issues) - MAX_ISSUES
            shown = self.issues[:MAX_ISSUES]
            if extra > 0:
                shown.append(Issue(self.label, "", "", f"and {extra} more problems"))
            raise ScenarioError(shown)


def _per(dose_unit: str, geometric: str):
    return units.ureg.Quantity(1.0, dose_unit) / units.ureg.Quantity(1.0, geometric)


def _model_unit(mode: str, dose_unit: str):
    """The model's unit of a mode as a pint Quantity of 1 (dose unit per cm^2, ...)."""
    if mode == "amount":
        return _per(dose_unit, "cm^2")
    if mode == "flux":
        return _per(dose_unit, "cm^2*h")
    if mode == "volume":
        return _per(dose_unit, "cm^3")
    return units.ureg.Quantity(1.0, "dimensionless")


def _unit_mode(observable: str, unit_text: str, dose_unit: str) -> tuple[str, float] | str:
    """``(mode, factor from unit_text to the model's unit)``, or the expected text when the unit does not fit."""
    if observable in ("flux", "flux_into_skin"):
        modes = ("flux",)
    elif observable in ("concentration", "receptor_concentration"):
        modes = ("volume",)
    else:
        modes = ("amount", "fraction")
    expected = SPECIAL.get(observable, AMOUNT_TEXT)
    try:
        q = units.ureg.Quantity(1.0, unit_text)
    except Exception:
        return expected
    for mode in modes:
        target = _model_unit(mode, dose_unit)
        if q.dimensionality == target.dimensionality:
            return mode, float((q / target).to("dimensionless").magnitude)
    return expected


def read_data(path, scenario, label: str | None = None, strip_depths_m=None,
              relative_sd: float = DEFAULT_RELATIVE_SD) -> Observations:
    """Read and check a data file against ``scenario``.

    Parameters
    ----------
    path : path
        The CSV (header ``observable,time,value,sd,unit``).
    scenario : Scenario
        The scenario the data are compared with (its compartments, dose
        unit, duration and depth).
    label : str, optional
        How messages name the file (default: the path).
    strip_depths_m : array, optional
        Cumulative depth after each tape strip (:func:`read_tape_strips`),
        for rows of observable ``tape_strip``.
    relative_sd : float
        Relative sd of rows with an empty sd (checked: a value of 0 then
        needs an sd).

    Returns
    -------
    Observations

    Raises
    ------
    ScenarioError
        Every problem, one line each naming file, line and column.
    """
    path = Path(path)
    label = label or str(path)
    df, rows = _read_table(path, label, REQUIRED, OPTIONAL, "a data file of observations (fit.data)")
    res = scenario.resolved
    dose_unit = scenario.dose_unit
    duration = float(res["simulation"]["duration"])
    depth_total = sum(float(ly["thickness"]) for ly in res["skin"]["layers"].values())
    names = observable_names(res)
    strips = np.zeros(0) if strip_depths_m is None else np.asarray(strip_depths_m, float)
    ck = _Rows(label)
    cols = list(df.columns)
    out_series: list[Series] = []
    index_of: dict[tuple, int] = {}
    line_l, series_l, time_l, value_l, sd_l, rep_l = [], [], [], [], [], []
    receptor_ok = has_receptor(res)
    bottom_ok = passes_bottom(res)
    for k in range(len(df)):
        line = rows[k]
        row = {c: str(df.iat[k, j]).strip() for j, c in enumerate(cols)}
        ok = True
        obs = row["observable"]
        if obs not in names:
            ck.add(line, "observable", _quote(obs) if obs else "nothing",
                   "receptor, receptor_concentration, flux, concentration (with a depth), tape_strip (with a strip), "
                   f"or a compartment of the scenario ({', '.join(names[len(SPECIAL):])})"
                   + _did_you_mean(obs, names))
            ok = False
        elif obs == "receptor_concentration" and not receptor_ok:
            ck.add(line, "observable", _quote(obs),
                   'a scenario with receptor fluid: receptor_concentration needs [skin] bottom = "receptor" '
                   '(a Franz cell)')
            ok = False
        elif obs == "receptor" and not bottom_ok:
            ck.add(line, "observable", _quote(obs),
                   'a bottom that passes the active: [skin] bottom = "sink" or "receptor" (not "no_flux")')
            ok = False
        t = ck.quantity(line, "time", row["time"], "s", "a time", '"1 h"')
        if t is not None and not 0.0 <= t <= duration * (1 + 1e-12):
            ck.add(line, "time", _quote(row["time"]), f"a time in [0, simulation.duration = "
                   f"{units.format_quantity(duration / 3600.0, 'h')}]")
            t = None
        value = ck.number(line, "value", row["value"], "a number (the unit goes in the unit column)")
        sd = math.nan
        if row["sd"]:
            sd = ck.number(line, "sd", row["sd"], "a number >= 0 in the row's unit, or empty for relative weighting")
            if sd is not None and sd <= 0:
                ck.add(line, "sd", _quote(row["sd"]), "an sd > 0 in the row's unit, or empty for relative "
                       f"weighting ({relative_sd:g} x |value|)")
                sd = None
            elif sd is not None and value is not None and sd < MIN_RELATIVE_SD * abs(value):
                # weights of 1/sd beyond what the model can compute: sd = 1e-300 overflowed the least squares
                # (eight lines of numpy warnings, no start converged)
                ck.add(line, "sd", _quote(row["sd"]), f"an sd of at least {MIN_RELATIVE_SD:g} x |value| (the "
                       "model is not computed more precisely than that), or empty for relative weighting")
                sd = None
            elif sd is not None and not 1e-200 <= sd <= 1e200:
                ck.add(line, "sd", _quote(row["sd"]), "an sd between 1e-200 and 1e200 in the row's unit")
                sd = None
        elif value == 0.0:
            ck.add(line, "sd", "nothing with a value of 0", "an sd (relative weighting needs a value other than 0)")
        depth = math.nan
        dtext = row.get("depth", "")
        if obs == "concentration":
            d = ck.quantity(line, "depth", dtext, "m", "a depth", '"20 um"')
            if d is not None and not 0.0 <= d <= depth_total:
                ck.add(line, "depth", _quote(dtext), f"a depth in [0, {depth_total * 1e6:.4g} um] (the skin)")
                d = None
            depth = math.nan if d is None else d
            ok = ok and d is not None
        elif dtext:
            ck.add(line, "depth", _quote(dtext), "no depth for this observable (depth goes with concentration)")
            ok = False
        strip = 0
        stext = row.get("strip", "")
        if obs == "tape_strip":
            try:
                strip = int(stext)
            except ValueError:
                strip = -1
            if strips.size == 0:
                ck.add(line, "strip", _quote(stext) if stext else "nothing",
                       "a tape-stripping series for observable tape_strip ([fit] strips = \"tape.csv\")")
                ok = False
            elif not 1 <= strip <= strips.size:
                ck.add(line, "strip", _quote(stext) if stext else "nothing",
                       f"a strip number of the tape-stripping series, 1 to {strips.size}")
                ok = False
        elif stext:
            ck.add(line, "strip", _quote(stext), "no strip for this observable (strip goes with tape_strip)")
            ok = False
        mode = None
        if obs in names:
            got = _unit_mode(obs, row["unit"], dose_unit)
            if isinstance(got, str):
                ck.add(line, "unit", _quote(row["unit"]) if row["unit"] else "nothing",
                       f"for {obs}: {got}, with the scenario's dose in {dose_unit}")
            else:
                mode, factor = got
        if not ok or mode is None or t is None or value is None or sd is None:
            continue
        key = (obs, mode, round(depth * 1e9) if depth == depth else None, strip)
        if key not in index_of:
            index_of[key] = len(out_series)
            out_series.append(Series(obs, mode, row["unit"], 1.0 / factor, depth, strip))
            row_scale = 1.0
        else:
            s = out_series[index_of[key]]
            row_scale = factor * s.scale  # row unit -> series unit
        line_l.append(line)
        series_l.append(index_of[key])
        time_l.append(t)
        value_l.append(value * row_scale)
        sd_l.append(sd * row_scale)
        rep_l.append(row.get("replicate", ""))
    ck.fail()
    return Observations(file=label, line=np.array(line_l, int), series_index=np.array(series_l, int),
                        time_s=np.array(time_l, float), value=np.array(value_l, float), sd=np.array(sd_l, float),
                        replicate=rep_l, series=out_series, strip_depths_m=strips)


def read_tape_strips(path, label: str | None = None, area: str | None = None,
                     density: str = DEFAULT_SC_DENSITY) -> np.ndarray:
    """Cumulative stratum-corneum depth after each tape strip, m.

    The file has a column ``strip`` (1, 2, ... in order) and either
    ``depth`` (the cumulative depth after the strip, a quantity such as
    ``"1.2 um"``) or ``mass`` (the stratum corneum removed by the strip,
    e.g. ``"45 ug"``), from which depth = cumulative mass / (area x density).

    Parameters
    ----------
    path : path
    label : str, optional
    area : str, optional
        Tape area (``"3.8 cm^2"``); needed with ``mass``.
    density : str
        Stratum corneum density (default :data:`DEFAULT_SC_DENSITY`).

    Raises
    ------
    ScenarioError
        One line per problem, naming file, line and column.
    """
    path = Path(path)
    label = label or str(path)
    df, rows = _read_table(path, label, ("strip",), ("depth", "mass"),
                           "a tape-stripping series, one row per strip (fit.strips)")
    ck = _Rows(label)
    cols = list(df.columns)
    if ("depth" in cols) == ("mass" in cols):
        raise ScenarioError([Issue(label, f"line {rows[0] - 1}", "header " + _quote(",".join(cols)),
                                   "strip with exactly one of depth (cumulative depth) or mass (per strip)")])
    by_depth = "depth" in cols
    area_m2 = dens = None
    if not by_depth:
        try:
            area_m2 = units.to_si(area, "m^2") if area is not None else None
            dens = units.to_si(density, "kg/m^3")
        except (units.UnitParseError, units.DimensionError) as exc:
            raise ScenarioError([Issue(label, "", f"area {area!r}, density {density!r} ({exc})",
                                       'an area such as "3.8 cm^2" and a density such as "1 g/cm^3"')]) from None
        if area_m2 is None or not area_m2 > 0 or not dens > 0:
            raise ScenarioError([Issue(label, "", "masses per strip without a tape area",
                                       'strip_area = "3.8 cm^2" in [fit] (depth = mass / (area x density))')])
    values = []
    for k in range(len(df)):
        line = rows[k]
        s = str(df.iat[k, cols.index("strip")]).strip()
        if s != str(k + 1):
            ck.add(line, "strip", _quote(s), f"strip {k + 1} (strips numbered 1, 2, ... in order)")
        if by_depth:
            text = str(df.iat[k, cols.index("depth")]).strip()
            v = ck.quantity(line, "depth", text, "m", "a cumulative depth", '"1.5 um"')
        else:
            text = str(df.iat[k, cols.index("mass")]).strip()
            v = ck.quantity(line, "mass", text, "kg", "a mass", '"45 ug"')
        if v is not None and not v >= 0:
            ck.add(line, "depth" if by_depth else "mass", _quote(text), "a value >= 0")
            v = None
        values.append(v)
    ck.fail()
    arr = np.array(values, float)
    depth = arr if by_depth else np.cumsum(arr) / (area_m2 * dens)
    bad = np.nonzero(np.diff(depth) < 0)[0]
    if bad.size:
        k = int(bad[0]) + 1
        ck.add(rows[k], "depth", units.format_quantity(depth[k] * 1e6, "um"),
               "cumulative depths that do not decrease from strip to strip")
        ck.fail()
    return depth
