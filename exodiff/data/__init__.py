"""Presets as data: skin sites, formulations (later: devices).

Each preset file is TOML. A preset is a table; every physical value in it is a
table ``{ value = "18.3 um", range = ["13 um", "23 um"], source = "...",
estimate = false, note = "..." }`` so that value, literature range and source
travel together. Plain strings (``kind``, ``bottom``, ``hindrance``,
``description``) are not quantities.  Sub-table ``layers`` (skin sites) holds
one table per layer, top to bottom in file order.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

KINDS = {"skin": "skin_sites.toml", "formulation": "formulations.toml", "device": "devices.toml",
         "receptor": "receptors.toml",
         "follicle": "follicles.toml", "cargo": "cargo.toml"}


@cache
def load(kind: str) -> dict[str, Any]:
    """Return the raw preset table of one kind, with metadata.

    Parameters
    ----------
    kind : {"skin", "formulation", "device", "receptor", "follicle", "cargo"}
    """
    name = KINDS[kind]
    with resources.files(__name__).joinpath(name).open("rb") as fh:
        return tomllib.load(fh)


def names(kind: str) -> list[str]:
    """Names of the presets of one kind, in file order."""
    return list(load(kind))


def _is_entry(v: Any) -> bool:
    return isinstance(v, dict) and "value" in v


def _strip(table: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in table.items():
        if _is_entry(v):
            out[k] = v["value"]
        elif isinstance(v, dict):
            out[k] = _strip(v)
        else:
            out[k] = v
    return out


def values(kind: str, name: str) -> dict[str, Any]:
    """Values of one preset without metadata, as written (strings with units).

    The scenario layer parses them exactly like user input, so every preset
    value is dimension-checked too.  ``description`` is dropped.
    """
    out = _strip(load(kind)[name])
    out.pop("description", None)
    return out


def entries(kind: str, name: str) -> list[tuple[str, dict[str, Any]]]:
    """Flattened ``(dotted key, entry)`` pairs of one preset, for listings."""
    flat: list[tuple[str, dict[str, Any]]] = []

    def walk(prefix: str, table: dict[str, Any]) -> None:
        for k, v in table.items():
            key = f"{prefix}{k}"
            if _is_entry(v):
                flat.append((key, v))
            elif isinstance(v, dict):
                walk(key + ".", v)

    walk("", load(kind)[name])
    return flat


#: Folders of the project that an installed exodiff carries beside the package: the user documentation and
#: the scenario gallery.  A wheel installs them as data files under ``<prefix>/share/exodiff/`` (pyproject.toml,
#: ``tool.setuptools.data-files``); a source checkout (or an editable install) has them next to the package.
SHARED = ("docs", "scenarios")


def shared_dir(name: str):
    """The folder ``docs`` or ``scenarios`` of this exodiff, or None when it was installed without it.

    The source tree's copy first (a checkout or an editable install: the
    files being edited), then ``<sys.prefix>/share/exodiff/<name>`` (a wheel),
    then the user scheme's ``share`` (``pip install --user``).
    """
    import site
    import sys
    from pathlib import Path

    if name not in SHARED:
        raise ValueError(f"unknown shared folder {name!r}; expected one of {SHARED}")
    here = Path(__file__).resolve().parent.parent.parent  # exodiff/data/__init__.py -> the tree holding exodiff/
    candidates = [here / name, Path(sys.prefix) / "share" / "exodiff" / name]
    if site.USER_BASE:
        candidates.append(Path(site.USER_BASE) / "share" / "exodiff" / name)
    for c in candidates:
        if c.is_dir() and any(c.iterdir()):
            return c
    return None


def gallery() -> list[tuple[str, str]]:
    """The scenario gallery: ``(file name, meta.name)`` for every ``scenarios/*.toml``, sorted; empty without it."""
    folder = shared_dir("scenarios")
    if folder is None:
        return []
    out = []
    for path in sorted(folder.glob("*.toml")):
        try:
            with path.open("rb") as fh:
                title = str(tomllib.load(fh).get("meta", {}).get("name", ""))
        except (OSError, tomllib.TOMLDecodeError):
            title = ""
        out.append((path.name, title))
    return out


#: Inter-individual variability of virtual populations (sites and groups), not a preset kind.
POPULATION_FILE = "population.toml"


@cache
def population() -> dict[str, Any]:
    """The raw ``population.toml``: ``sites.<body site>`` and ``groups.<name>`` tables (docs/population.md)."""
    with resources.files(__name__).joinpath(POPULATION_FILE).open("rb") as fh:
        return tomllib.load(fh)


def typical_cargo(formulation: str) -> str | None:
    """The cargo preset typical of a formulation preset: the first in cargo.toml whose ``typical_of`` names it."""
    for name, table in load("cargo").items():
        if formulation in table.get("typical_of", []):
            return name
    return None
