"""User-facing errors.

A user error (bad key, wrong unit, out-of-range value, missing file) is never a
traceback: it is one line per problem naming the file, the dotted key, what was
given and what is expected.  The command line prints those lines and exits
with status 2.  Solver failures (NaN, a step that cannot be completed) are
``SolverError`` and are reported the same way, naming time and region.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One problem found in a user's input.

    Parameters
    ----------
    file : str
        The file the problem is in (or ``"<scenario>"`` for in-memory input).
    key : str
        Dotted key, e.g. ``"skin.layers.dermis.thickness"``; empty for
        file-level problems (missing file, TOML syntax).
    given : str
        What was given, as the user wrote it (already ``repr``-ready text).
    expected : str
        What is expected: units, range, allowed names, a "did you mean".
    """

    file: str
    key: str
    given: str
    expected: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else f"{self.file}"
        if self.given:
            return one_line(f"{where}: got {self.given}; expected {self.expected}")
        return one_line(f"{where}: {self.expected}")


# Every character str.splitlines() breaks at, shown escaped: one issue is one line,
# whatever a file's keys and values hold.
# Every other control character too (C0, DEL, C1): a key holding ESC [2J cleared the user's terminal.
_LINE_BREAKS = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"
                for c in (*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029) if c != 0x09}


def one_line(text: str) -> str:
    """``text`` with line breaks (``\\n``, ``\\x85``, ``\\u2028`` ...) and every other control character but the
    tab escaped: a message is one line and cannot drive the terminal."""
    return text.translate(_LINE_BREAKS)


class UserError(Exception):
    """Base class of every error caused by user input; exit status 2."""

    def lines(self) -> list[str]:
        return [str(self)]


class ScenarioError(UserError):
    """All problems found in one scenario file, collected.

    Parameters
    ----------
    issues : list of Issue
        Every problem found, in file order where possible.
    """

    def __init__(self, issues: list[Issue]):
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))

    def lines(self) -> list[str]:
        return [str(i) for i in self.issues]


class SolverError(UserError):
    """The solver could not continue (non-finite values, step size collapse).

    The message names the simulated time and the region (layer) where it
    happened; it is reported like a user error because the usual cause is a
    non-physical parameter combination.
    """


class ParameterProblem(Exception):
    """Raised by physics functions when an input they need is missing or unusable.

    The scenario layer turns it into an :class:`Issue` naming the file.

    Parameters
    ----------
    key : str
        Full dotted scenario key, e.g. ``"formulation.diameter"`` or
        ``"skin.layers.dermis.fibre_radius"``.
    given : str
        What was given (``"nothing"`` when missing).
    expected : str
        What is expected.
    """

    def __init__(self, key: str, given: str, expected: str):
        self.key, self.given, self.expected = key, given, expected
        super().__init__(f"{key}: got {given}; expected {expected}")


def distinct_texts(value: float, bound: float, least: int = 4) -> tuple[str, str]:
    """``value`` and ``bound`` as text with the fewest significant digits (at least ``least``) that tell them
    apart, for a message saying one is beyond the other (10.001 mm was "(= 0.01 m)" beside a bound of 0.01 m).

    Equal to round-off (a sum of layer thicknesses), both with 12 digits: the same text, as the user wrote them.
    """
    if not (math.isfinite(value) and math.isfinite(bound)):
        return f"{value:.{least}g}", f"{bound:.{least}g}"
    if abs(value - bound) <= 1e-12 * max(abs(value), abs(bound)):
        return f"{value:.12g}", f"{bound:.12g}"
    for digits in range(least, 18):
        a, b = f"{value:.{digits}g}", f"{bound:.{digits}g}"
        if a != b:
            return a, b
    return repr(value), repr(bound)
