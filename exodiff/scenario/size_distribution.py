"""Reading a measured size distribution (two-column CSV, e.g. from NTA).

Nanoparticle tracking analysis (NanoSight, ZetaView) and DLS software export
a histogram: one row per size bin, diameter and number concentration.  The
files differ in header lines, separators and decimal marks, so the reader
accepts

- any number of header lines before the first data row (a row whose first
  two fields are numbers); lines starting with ``#`` and blank lines anywhere;
- comma, semicolon or tab separators, detected per line; with a semicolon
  or tab separator a decimal comma (``"72,5"``) is read as a decimal point;
- the diameter unit from the header (``"Bin centre (nm)"``,
  ``"Size [um]"``, ``"diameter / nm"``; nm when the header names none);
- extra columns (standard errors, ...) after the first two, ignored.

The second column is the number of particles in the row's bin (a number
concentration in any unit: only ratios matter; columns with values above
1e100 are divided by their largest value).  Everything else is an error
naming the file and the line: a non-numeric row after the data began, a
diameter outside the range of ``formulation.diameter`` (> 0, <= 10 um), a
negative or non-finite concentration, no positive concentration at all, a
header naming a diameter unit this reader does not know (``"Size
(parsec)"``), a file that is not a regular file or is larger than
:data:`MAX_BYTES`.  This module only reads; the split into size classes is
:mod:`exodiff.physics.distribution`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exodiff._io import FileRefused, format_bytes, read_bounded
from exodiff.scenario.schema import FORMULATION

__all__ = ["CSVProblem", "SizeDistribution", "read_size_distribution"]

#: Diameter units recognised in a header, to metres.
UNITS = {"nm": 1e-9, "um": 1e-6, "µm": 1e-6, "μm": 1e-6, "micron": 1e-6, "microns": 1e-6, "mm": 1e-3, "m": 1.0}
_UNIT_IN_HEADER = re.compile(r"[\(\[]\s*(nm|um|µm|μm|microns?|mm|m)\s*[\)\]]|/\s*(nm|um|µm|μm|microns?|mm|m)\b",
                             re.IGNORECASE)
# Any unit-like text of the first header field: "(parsec)", "[au]", "/ furlong".
_ANY_UNIT_IN_HEADER = re.compile(r"[\(\[]\s*([^\)\]]{1,20}?)\s*[\)\]]|/\s*([A-Za-z\u00b5\u03bc]+)\s*$")
_DECIMAL_COMMA = re.compile(r"^[-+]?\d*,\d+([eE][-+]?\d+)?$")

#: Largest file read (an instrument export is a few KiB; docs/scenario.md).
MAX_BYTES = 10 << 20
#: The range of a diameter: that of ``formulation.diameter``.
DIAMETER = FORMULATION["diameter"]
#: Concentrations above this are divided by the column's largest (only ratios matter).
_RESCALE_ABOVE = 1e100

EXPECTED_ROW = ("two numbers, diameter and concentration, separated by a comma, semicolon or tab "
                "(header lines only before the data)")


class CSVProblem(ValueError):
    """A size-distribution file could not be read.

    Attributes
    ----------
    path : str
        The file.
    line : int or None
        1-based line number (``None`` for a problem of the whole file).
    given, expected : str
        What was found and what was expected.
    """

    def __init__(self, path: str, line: int | None, given: str, expected: str):
        self.path, self.line, self.given, self.expected = path, line, given, expected
        where = f"line {line}" if line is not None else ""
        super().__init__(f"{path}: {where}: got {given}; expected {expected}")


@dataclass(frozen=True)
class SizeDistribution:
    """A measured number distribution.

    Attributes
    ----------
    diameters : float64[k]
        m, increasing, unique.
    counts : float64[k]
        Number in each row (relative), >= 0.
    unit : str
        Diameter unit read from the header (``"nm"`` by default).
    rows : int
        Data rows read.
    """

    diameters: np.ndarray
    counts: np.ndarray
    unit: str
    rows: int


def _split(line: str) -> list[str]:
    for sep in ("\t", ";", ","):
        if sep in line:
            fields = [f.strip().strip('"').strip("'").strip() for f in line.split(sep)]
            if sep != ",":
                fields = [f.replace(",", ".") if _DECIMAL_COMMA.match(f) else f for f in fields]
            return fields
    return line.split()


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _unit_of(header: list[tuple[int, str]], name: str) -> str | None:
    """Diameter unit named in the header lines (the last line naming one wins).

    Raises
    ------
    CSVProblem
        No line names a known unit, and the column header (the line just
        before the data) names another one in its first field.
    """
    unit = None
    for _, line in header:
        first = _split(line)[0] if _split(line) else line
        m = _UNIT_IN_HEADER.search(first) or _UNIT_IN_HEADER.search(line)
        if m:
            unit = (m.group(1) or m.group(2)).lower()
    if unit is None and header:
        lineno, line = header[-1]
        first = _split(line)[0] if _split(line) else line
        other = _ANY_UNIT_IN_HEADER.search(first)
        if other:
            given = other.group(1) or other.group(2)
            raise CSVProblem(name, lineno, f"diameter unit {_show(given)}",
                             "a diameter unit nm, um, micron, mm or m in the header, e.g. \"Bin centre (nm)\"")
    return unit


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # instrument software often writes Windows-1252 ("µm")


def read_size_distribution(path: str | Path, label: str | None = None) -> SizeDistribution:
    """Read a two-column size-distribution CSV (see the module docstring).

    Parameters
    ----------
    path : path
        The file.
    label : str, optional
        How to name the file in messages (default: ``str(path)``).

    Returns
    -------
    SizeDistribution

    Raises
    ------
    CSVProblem
        Naming the file and, for a bad row, its line.
    """
    name = label or str(path)
    try:
        raw = read_bounded(Path(path), MAX_BYTES)
    except FileNotFoundError:
        raise CSVProblem(name, None, "no such file", "a CSV file of diameter and concentration") from None
    except IsADirectoryError:
        raise CSVProblem(name, None, "a directory", "a CSV file of diameter and concentration") from None
    except FileRefused as exc:
        raise CSVProblem(name, None, f"a file not read: {exc}",
                         f"a CSV file of diameter and concentration of at most {format_bytes(MAX_BYTES)}") from None
    except OSError as exc:
        raise CSVProblem(name, None, f"an unreadable file ({exc.strerror or exc})",
                         "a readable CSV file of diameter and concentration") from None
    text = _decode(raw)
    header: list[tuple[int, str]] = []
    d_vals: list[float] = []
    c_vals: list[float] = []
    lines: list[int] = []
    started = False
    unit, factor = "nm", UNITS["nm"]
    for lineno, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        fields = _split(s)
        d = _number(fields[0]) if fields else None
        c = _number(fields[1]) if len(fields) > 1 else None
        if d is None or c is None:
            # a header line does not start with a number ("Dilution factor,1000" of an NTA export is one);
            # "70,abc" before the data is a bad row, not a header (it was dropped as one)
            if not started and d is None:
                header.append((lineno, s))
                continue
            raise CSVProblem(name, lineno, f"{_show(s)}", EXPECTED_ROW)
        if not started:
            unit = _unit_of(header, name) or "nm"
            factor = UNITS[unit if unit in UNITS else unit.lower()]
        started = True
        if not DIAMETER.in_range(d * factor):
            raise CSVProblem(name, lineno, f"diameter {_show(fields[0])} {unit}",
                             f"a diameter > 0 and <= {DIAMETER.high:g} m (the range of formulation.diameter)")
        if not (math.isfinite(c) and c >= 0.0):
            raise CSVProblem(name, lineno, f"concentration {fields[1]}", "a finite concentration >= 0")
        d_vals.append(d)
        c_vals.append(c)
        lines.append(lineno)
    if not d_vals:
        given = "no data rows" + (f" ({len(header)} header line{'s' if len(header) != 1 else ''})" if header else
                                  " (empty file)")
        raise CSVProblem(name, None, given, EXPECTED_ROW)
    if not any(c > 0 for c in c_vals):
        raise CSVProblem(name, None, "no positive concentration", "at least one row with a concentration > 0")
    d = np.asarray(d_vals) * factor
    c = np.asarray(c_vals)
    if c.max() > _RESCALE_ABOVE:  # sums of such values overflow: only ratios matter
        c = c / c.max()
    uniq, inv = np.unique(d, return_inverse=True)
    counts = np.bincount(inv, weights=c)
    return SizeDistribution(diameters=uniq, counts=counts, unit=unit, rows=len(d_vals))


def _show(text: str, width: int = 60) -> str:
    t = text if len(text) <= width else text[: width - 3] + "..."
    return '"' + t.replace('"', "'") + '"'
