"""Readable listing of the presets with their sources (``exodiff presets``).

One text table per preset: dotted key, value, literature range, estimate
flag and source (shortened to fit a terminal line).  Plain strings of a
preset (``bottom``, ``kind``, ``hindrance``) are listed with their value only.
"""

from __future__ import annotations

from typing import Any

from exodiff import data
from exodiff.errors import UserError

__all__ = ["format_presets", "format_preset", "formulation_overview", "format_formulation_overview", "format_gallery"]

#: Widest source text shown; longer sources are cut at a word boundary.
SOURCE_WIDTH = 70
_HEADERS = ("key", "value", "range", "est.", "source")


def _text(v: Any) -> str:
    if isinstance(v, list):
        return ", ".join(_text(x) for x in v) or "-"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _shorten(text: str, width: int = SOURCE_WIDTH) -> str:
    """Cut ``text`` to at most ``width`` characters at a word boundary, marking the cut with '...'."""
    text = " ".join(str(text).split())
    if len(text) <= width:
        return text
    cut = text[: width - 3]
    if " " in cut[width // 2:]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:(") + "..."


def _range_text(rng: list) -> str:
    """``["13 um", "23 um"]`` -> ``"13 .. 23 um"``; mixed units keep both."""
    lo, hi = _text(rng[0]), _text(rng[1])
    a, _, ua = lo.partition(" ")
    b, _, ub = hi.partition(" ")
    if ua and ua == ub:
        return f"{a} .. {b} {ua}"
    return f"{lo} .. {hi}"


def _rows(kind: str, name: str) -> list[tuple[str, str, str, str, str]]:
    rows: list[tuple[str, str, str, str, str]] = []

    def walk(prefix: str, table: dict[str, Any]) -> None:
        for k, v in table.items():
            if k == "description":
                continue
            key = f"{prefix}{k}"
            if isinstance(v, dict) and "value" in v:
                rng = v.get("range")
                rng_text = _range_text(rng) if isinstance(rng, list) and len(rng) == 2 else ""
                est = "yes" if v.get("estimate") else "no"
                rows.append((key, _text(v["value"]), rng_text, est, _shorten(v.get("source", ""))))
            elif isinstance(v, dict):
                walk(key + ".", v)
            else:
                rows.append((key, _text(v), "", "", ""))

    walk("", data.load(kind)[name])
    return rows


def format_preset(kind: str, name: str) -> str:
    """Text table of one preset.

    Parameters
    ----------
    kind : {"skin", "formulation"}
    name : str
        Preset name, e.g. ``"forearm"``.
    """
    table = data.load(kind)[name]
    title = f"{kind} preset '{name}'"
    desc = table.get("description")
    lines = [title + (f": {desc}" if desc else "")]
    rows = _rows(kind, name)
    if not rows:
        lines.append("  (no values)")
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(_HEADERS)]
    fmt = "  " + "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
    lines.append(fmt.format(*_HEADERS).rstrip())
    lines.append(fmt.format(*("-" * w for w in widths)).rstrip())
    for r in rows:
        lines.append(fmt.format(*r).rstrip())
    return "\n".join(lines)


#: Columns of the one-line-per-formulation overview: header, preset key(s).
_OVERVIEW = (("size", ("diameter", "molecular_weight")), ("deform.", ("deformability",)),
             ("log Kow", ("log_kow",)), ("half-life", ("half_life",)), ("uptake", ("uptake_rate",)),
             ("targeting", ("targeting_factor",)), ("typical cargo", ()))


def formulation_overview() -> list[dict[str, str]]:
    """One row per formulation preset: the values that tell formulations apart, and the size's source.

    Returns
    -------
    list of dict
        Keys ``preset``, ``kind``, the headers of the overview and ``source``
        (of the size or molecular weight), all as text.
    """
    rows = []
    for name in data.names("formulation"):
        table = data.load("formulation")[name]
        if name == "custom":
            continue
        row = {"preset": name, "kind": str(table.get("kind", ""))}
        source = ""
        for header, keys in _OVERVIEW:
            text = ""
            for k in keys:
                e = table.get(k)
                if isinstance(e, dict) and "value" in e:
                    text = _text(e["value"]) + ("*" if e.get("estimate") else "")
                    if header == "size":
                        source = str(e.get("source", ""))
                    break
            if header == "targeting" and text and table.get("target_layer"):
                text += f" in {table['target_layer']}"
            if header == "typical cargo":  # cargo.toml's pairing, an estimate (preset = "typical")
                cargo = data.typical_cargo(name)
                text = f"{cargo}*" if cargo else ""
            row[header] = text
        row["source"] = source
        rows.append(row)
    return rows


def format_formulation_overview(width: int = SOURCE_WIDTH) -> str:
    """The overview of :func:`formulation_overview` as a text table (``*`` marks an estimate)."""
    rows = formulation_overview()
    headers = ["preset", "kind", *(h for h, _ in _OVERVIEW), "source (size)"]
    body = [[r["preset"], r["kind"], *(r[h] for h, _ in _OVERVIEW), _shorten(r["source"], width)] for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
    lines = ["formulation presets (* = estimate; details below)", fmt.format(*headers).rstrip(),
             fmt.format(*("-" * w for w in widths)).rstrip()]
    lines += [fmt.format(*b).rstrip() for b in body]
    return "\n".join(lines)


def format_presets(kind: str | None = None) -> str:
    """Text listing of every preset of one kind (or of all kinds).

    Parameters
    ----------
    kind : {"skin", "formulation"} or None
        ``None`` lists every kind.

    Returns
    -------
    str
        Tables separated by blank lines; ``est.`` = ``yes`` marks a value
        chosen by the model authors where the literature has no number (its
        note in the data file says how).

    Raises
    ------
    UserError
        Unknown kind.
    """
    if kind is None:
        kinds = list(data.KINDS)
    elif kind in data.KINDS:
        kinds = [kind]
    else:
        raise UserError(f"unknown preset kind {kind!r}; expected one of: {', '.join(data.KINDS)}")
    blocks = []
    if "formulation" in kinds:
        blocks.append(format_formulation_overview())
    for k in kinds:
        for name in data.names(k):
            blocks.append(format_preset(k, name))
    if kind is None:
        blocks.append(format_gallery())
    footer = ("est. = yes: an estimate where the literature has no value; see the note in "
              "exodiff/data/*.toml and `exodiff docs parameters`")
    return "\n\n".join(blocks) + "\n\n" + footer + "\n"


def format_gallery() -> str:
    """The scenario gallery (``scenarios/*.toml``): file and name, with how to start from one."""
    rows = data.gallery()
    folder = data.shared_dir("scenarios")
    if not rows:
        return "scenario gallery: not installed with this exodiff"
    width = max(len(n) for n, _ in rows)
    lines = [f"scenario gallery ({folder}/; start from one with: exodiff init my.toml --example NAME)"]
    lines += [f"  {n[:-5]:<{width - 5}}  {title}".rstrip() for n, title in rows]
    return "\n".join(lines)
