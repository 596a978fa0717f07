"""Words for plots: units in matplotlib mathtext, times people read, keys and names in words.

Every plot of :mod:`exodiff.report` labels through these, so that a depth
reads ``µm`` and a concentration ``particles cm⁻³`` everywhere, and a time
of 0.0833 h reads ``5 min``.
"""

from __future__ import annotations

import math
import re

from exodiff.scenario.schema import key_words

__all__ = ["unit_text", "nice_time", "words", "key_words", "key_label", "set_key_label", "set_label"]

#: Unit tokens of the result files (UDUNITS spelling) shown differently on a plot.
_TOKENS = {"um": "µm", "ug": "µg", "uL": "µL", "umol": "µmol", "count": "particles", "particle": "particles", "1": ""}
_TOKEN = re.compile(r"^([A-Za-z%]+|1)(-?\d+)?$")


def unit_text(units: str) -> str:
    """A UDUNITS unit string as plot text: ``"count cm-3"`` -> ``"particles cm$^{-3}$"``.

    Micro prefixes become ``µ``, exponents superscripts (mathtext), ``count``
    ``particles``, ``1`` nothing.  Tokens that are not ``name[power]`` are
    kept as they are.
    """
    out = []
    for tok in str(units).split():
        m = _TOKEN.match(tok)
        if not m:
            out.append(tok)
            continue
        name, power = m.group(1), m.group(2)
        name = _TOKENS.get(name, name)
        if power is not None and name:
            name += f"$^{{{power}}}$"
        if name:
            out.append(name)
    return " ".join(out)


def nice_time(hours: float) -> str:
    """A time for a label: ``"30 s"``, ``"5 min"``, ``"1.5 h"``, ``"3 d"`` (three significant digits at most).

    Minutes below an hour, hours up to 72 h, days beyond.
    """
    h = float(hours)
    if not math.isfinite(h):
        return str(h)
    if h == 0:
        return "0 h"
    if h < 1.0 / 60.0:
        return f"{h * 3600:.3g} s"
    if h < 1.0:
        return f"{h * 60.0:.3g} min"
    if h <= 72.0:
        return f"{h:.3g} h"
    return f"{h / 24.0:.3g} d"


def words(name: str) -> str:
    """A layer, compartment or variant name in words: ``"stratum_corneum"`` -> ``"stratum corneum"``."""
    return str(name).replace("_", " ")


def key_label(dotted: str, units: str = "") -> str:
    """A swept key in words with its unit: ``"hydrodynamic diameter of the vesicle (nm)"``."""
    u = unit_text(units)
    return key_words(dotted) + (f" ({u})" if u else "")


def set_key_label(ax, which: str, dotted: str, units: str = "", fontsize: float = 9) -> None:
    """Label axis ``which`` ("x" or "y") of ``ax`` with a scenario key in words and unit, the key in small print."""
    words_ = key_label(dotted, units)
    set_label(ax, which, words_, "" if key_words(dotted) == str(dotted) else dotted, fontsize)


def set_label(ax, which: str, text: str, raw: str = "", fontsize: float = 9) -> None:
    """Label axis ``which`` with ``text``, and ``raw`` (a key or metric name) in small grey print under it.

    The raw name is anchored to the axis label (an annotation in the label's
    own box), so it follows the label wherever the tick labels push it.
    """
    label = (ax.set_xlabel if which == "x" else ax.set_ylabel)(text, fontsize=fontsize)
    if not raw or raw == text:
        return
    if which == "x":
        ax.annotate(raw, xy=(0.5, 0.0), xycoords=label, xytext=(0, -1), textcoords="offset points",
                    ha="center", va="top", fontsize=6.5, color="0.4", family="monospace")
    else:
        ax.annotate(raw, xy=(0.0, 0.5), xycoords=label, xytext=(-1, 0), textcoords="offset points",
                    ha="right", va="center", rotation=90, fontsize=6.5, color="0.4", family="monospace")
