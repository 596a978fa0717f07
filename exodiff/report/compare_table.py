"""A comparison's metrics table as text, Markdown and CSV (and read back).

The table itself is built by :func:`exodiff.studies.compare.metrics_table`
(an ``xarray.Dataset`` over a ``variant`` dimension); here it is only
presented, in the one reading order :func:`rows` gives, which the HTML
report (:mod:`exodiff.report.compare_html`) shares.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from exodiff.results import metrics

_HEAD = ("target_layer", "delivered_target", "delivered_dermis", "target_peak_time_h", "target_peak_fraction",
         "target_auc_h", "target_uptake", "mean_penetration_depth_um", "systemic_fraction",
         # a cargo's own (its block only)
         "released_before_barrier", "released", "intracellular")
_TAIL = ("max_mass_balance_error", "end_time_h")


def split_species(key: str, others: list[str]) -> tuple[str, str]:
    for s in others:
        if key.startswith(f"{s}_"):
            return f"{s}_", key[len(s) + 1:]
    return "", key


def _display_keys(table) -> list[str]:
    """Metric names in reading order: headline metrics, delivered per layer, fractions by compartment and time.

    The end-of-run fractions are left out when the chosen times include the
    end of every run (they would repeat the last time's rows).
    """
    keys = [k for k in table.data_vars if not k.endswith("_resolvable")]  # shown in their metric's cells
    times_h = table.attrs.get("times_h", [])
    times = [metrics.time_key(t) for t in times_h]
    ends = table["end_time_h"].values if "end_time_h" in table else []
    end_in_times = bool(times) and all(any(math.isclose(e, t, abs_tol=1e-9) for t in times_h) for e in ends)
    others = [s for s in table.attrs.get("species", []) if s != metrics.PRIMARY_SPECIES]
    split = [split_species(k, others) for k in keys]
    order: list[str] = []
    for p in ["", *(f"{s}_" for s in others)]:
        bare = [b for q, b in split if q == p]
        head = [b for b in _HEAD if b in bare]
        deliv = [b for b in bare if b.startswith("delivered_") and b not in head]
        fracs = []
        for b in bare:
            if b.startswith("fraction_") and "_at_" not in b:
                comp = b[len("fraction_"):]
                fracs += [f"fraction_{comp}_at_{t}" for t in times if f"fraction_{comp}_at_{t}" in bare]
                fracs += [] if end_in_times else [b]
        skipped = set(head) | set(deliv) | set(fracs) | set(_TAIL)
        rest = [b for b in bare if b not in skipped and not (b.startswith("fraction_") and (end_in_times or "_at_" in b))]
        order += [p + b for b in head + deliv + fracs + rest]
    return order + [k for k in _TAIL if k in keys]


def format_value(v: Any, digits: int = 3) -> str:
    """A table cell: ``-`` for NaN, ``0`` for zero, else ``digits`` significant digits."""
    if isinstance(v, str):
        return v
    v = float(v)
    if math.isnan(v):
        return "-"
    if v == 0:
        return "0"
    return f"{v:.{digits}g}"


def end_words(table) -> str:
    """What "at end" means in this table: ``"at end (48 h)"``, or ``"at end of each run"`` when the runs differ."""
    ends = sorted({round(float(e), 9) for e in table["end_time_h"].values}) if "end_time_h" in table else []
    if len(ends) == 1:
        return f"at end ({ends[0]:g} h)"
    return "at end of each run (see end time)" if ends else "at end"


def rows(table, digits: int = 3) -> list[tuple[str, str, list[str]]]:
    """``(label, metric name, cells)`` per metric in reading order (shared by the text, Markdown and HTML tables).

    Labels that say "at end" say which time: the common end of the runs, or
    that each run's own end is meant.
    """
    species = table.attrs.get("species", [])
    at_end = end_words(table)
    out = []
    for k in _display_keys(table):
        vals = list(table[k].values)
        if f"{k}_resolvable" in table:  # an amount below its resolvable level: the words, not a number
            vals = [w if w else v for v, w in zip(vals, table[f"{k}_resolvable"].values)]
        out.append((metrics.label(k, species).replace("at end", at_end), k, [format_value(x, digits) for x in vals]))
    return out


def format_table(table, digits: int = 3) -> str:
    """The table as aligned plain text: one row per metric, one column per variant."""
    names = [str(n) for n in table["variant"].values]
    body = rows(table, digits)
    w0 = max(len("metric"), *(len(r[0]) for r in body))
    widths = [max(len(n), *(len(r[2][j]) for r in body)) for j, n in enumerate(names)]
    line = lambda first, cells: "  ".join([first.ljust(w0), *(c.rjust(w) for c, w in zip(cells, widths))])  # noqa: E731
    out = [line("metric", names), line("-" * w0, ["-" * w for w in widths])]
    out += [line(label, cells) for label, _, cells in body]
    return "\n".join(out)


_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*[]|~"})


def markdown_text(text) -> str:
    """Text shown literally in Markdown: HTML escaped (``<script>`` stays text), the marks of emphasis,
    links, code and table cells backslashed, line breaks as spaces (a table cell is one line)."""
    import html

    t = " ".join(str(text).split())
    return html.escape(t, quote=False).translate(_MARKDOWN_SPECIAL)


def to_markdown(table, digits: int = 3) -> str:
    """The table as GitHub Markdown: one row per metric (label and name), one column per variant.

    Every name and label is escaped (:func:`markdown_text`): names come from
    scenario files, which may come from someone else.
    """
    names = [str(n) for n in table["variant"].values]
    esc = markdown_text
    lines = ["| metric | key | " + " | ".join(esc(n) for n in names) + " |",
             "|---|---|" + "---:|" * len(names)]
    for label, key, cells in rows(table, digits):
        lines.append(f"| {esc(label)} | `{key.replace('`', '')}` | " + " | ".join(esc(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


#: First characters that make a spreadsheet read a cell as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(text) -> str:
    """A text cell safe to open in a spreadsheet: a leading ``'`` when it would start a formula (``=cmd``)."""
    t = str(text)
    return "'" + t if t.startswith(_FORMULA_START) else t


def _csv_read_text(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(_FORMULA_START) else text


def to_csv(table, path=None) -> str:
    """The table as CSV, one row per variant, one column per metric, full precision.

    Columns ``variant``, ``title``, then every metric name of the table; an
    empty cell is NaN (no value).  Text cells that a spreadsheet would read as
    a formula get a leading ``'`` (:func:`csv_text`; :func:`read_csv` drops
    it).  Written atomically to ``path`` when given.
    """
    keys = list(table.data_vars)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["variant", "title", *keys])
    for i, name in enumerate(table["variant"].values):
        row = [csv_text(name), csv_text(table["title"].values[i])]
        for k in keys:
            x = table[k].values[i]
            if isinstance(x, str):
                row.append(csv_text(x))
            else:
                x = float(x)
                row.append("" if math.isnan(x) else repr(x))
        w.writerow(row)
    text = buf.getvalue()
    if path is not None:
        write_text(Path(path), text)
    return text


def read_csv(path) -> dict[str, dict[str, Any]]:
    """Read a table written by :func:`to_csv`: variant -> {metric: float or str}."""
    out = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            name = _csv_read_text(row.pop("variant"))
            out[name] = {k: (_csv_read_text(v) if k in ("title", "target_layer") or k.endswith("_resolvable") else
                             (math.nan if v == "" else float(v))) for k, v in row.items()}
    return out


def write_text(path: Path, text: str) -> Path:
    from exodiff.report.outputs import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
