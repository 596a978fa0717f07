"""Generate the key reference of docs/scenario.md from ``exodiff.scenario.schema``.

Usage::

    python docs/gen_scenario_keys.py           # rewrite the generated part of docs/scenario.md
    python docs/gen_scenario_keys.py --check   # exit 1 if it is out of date

Only the text between the two marker lines (``BEGIN``/``END GENERATED KEYS``)
is generated; the prose around it is written by hand.  A test compares the
committed page with :func:`render`, so the reference cannot drift from the
schema: edit ``exodiff/scenario/schema.py``, then run this script.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

PAGE = Path(__file__).with_name("scenario.md")
BEGIN = "<!-- BEGIN GENERATED KEYS: python docs/gen_scenario_keys.py -->"
END = "<!-- END GENERATED KEYS -->"

INTRO = {
    "meta": "Names and notes; no effect on the results.",
    "skin": "Body site, boundary and conditions. Layers: see `[skin.layers.<name>]` below.",
    "layers": "One table per layer, `[skin.layers.<name>]`, top to bottom. With a skin preset the tables "
              "override fields of the preset's layers (same name); with `preset = \"none\"` they are the layers. "
              "Every layer needs a `thickness`; the other keys, when given, win over values the physics would "
              "compute from the active.",
    "formulation": "The active and the vehicle. `dose` and `concentration` are counted in a dose unit of "
                   "your choice (particles, a mass such as `ug` or `ug protein`, or moles).",
    "delivery": "How the formulation is applied.",
    "simulation": "Time span, outputs and numerics.",
    "regimen": "Repeated applications of a finite vehicle, topical (1D), through follicles or through "
               "microneedle and laser channels (the r-z unit cell); with microneedles or a laser, "
               "`procedure_interval` or `procedure` re-opens the channels at a session. See "
               "[model.md](model.md), section 1.2.",
    "resolution": 'Keys of a `simulation.resolution` table (instead of `"auto"`); give exactly one.',
    "cargo": "Released cargo, tracked as a second species (results get a `species` dimension, `vesicle` and "
             "`cargo`). The free cargo is a solute with its own properties; vesicles release it at "
             "`release_rate` in the viable layers, `release_rate_stratum_corneum` in the stratum corneum and on "
             "degradation; `encapsulation_efficiency` < 1 puts the rest of the loaded cargo free in the film. "
             "Amounts of the cargo species are counted in loaded vesicle equivalents (the cargo loaded per "
             "vesicle), `cargo_amount` in the loading's unit. A `preset` (`exodiff presets cargo`) fills the "
             "keys not given.",
    "output": "What is written (the command line's `-o DIR` wins over `directory`).",
    "population": "A virtual population, run by `exodiff population` (and compared by `exodiff compare`); "
                  "not run by `exodiff run` (which checks it). Not allowed together with `[sweep]`. See "
                  "[population.md](population.md).",
}


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _unit_text(field) -> str:
    from exodiff.scenario.schema import AMOUNT

    if field.kind == "quantity":
        return f"{field.dimension} [{field.si_unit.replace(AMOUNT, 'dose unit')}]"
    if field.kind == "quantity_list":
        return f"list of {field.dimension.replace('a ', '', 1)}s [{field.si_unit}]"
    if field.kind == "quantity_table":
        return f"table of layer name to {field.dimension} [{field.si_unit}]"
    return {"number": "number", "integer": "whole number", "string": "text", "bool": "true / false",
            "bool_list": "list of true / false", "choice": "name", "resolution": '"auto" or table', "table": "table",
            "loading": "amount per dose unit, or number"}.get(field.kind, field.kind)


def _example_unit(field) -> str | None:
    """The unit of the field's example (``'"20 um"'`` -> ``"um"``), for showing defaults."""
    from exodiff import units

    ex = field.example.strip().strip('"')
    if field.kind != "quantity" or not ex:
        return None
    try:
        q = units.parse(ex)
    except units.UnitParseError:
        return None
    return str(q.units)


def _default_text(field) -> str:
    from exodiff import units

    d = field.default
    if d is None:
        return ""
    if isinstance(d, bool):
        return "`true`" if d else "`false`"
    if isinstance(d, str):
        return f'`"{d}"`'
    if field.kind == "quantity":
        unit = _example_unit(field)
        if unit:
            shown = units.ureg.Quantity(d, field.si_unit).to(unit)
            text = f"{shown.magnitude:.6g} {units.format_unit(shown.units)}"
            if unit != field.si_unit:
                text += f" ({d:g} {field.si_unit})"
            return f"`{text}`"
        return f"`{d:g} {field.si_unit}`"
    return f"`{d:g}`" if isinstance(d, float) else f"`{d}`"


def _allowed_text(field) -> str:
    from exodiff.scenario.schema import AMOUNT

    if field.kind == "choice":
        return ", ".join(f'`"{c}"`' for c in field.choices)
    if math.isinf(field.low) and math.isinf(field.high):
        return ""
    return field.range_text().replace(AMOUNT, "dose unit")


def _table(spec, methods=None) -> list[str]:
    rows = ["| key | example | kind [SI unit] | default | allowed | meaning |",
            "|---|---|---|---|---|---|"]
    for key, f in spec.items():
        example = f"`{f.example}`" if f.example else ""
        doc = f.doc
        if methods and key in methods:
            doc += " Only with method " + " or ".join(f'`"{m}"`' for m in methods[key]) + "."
        rows.append(f"| `{key}` | {_cell(example)} | {_cell(_unit_text(f))} | {_cell(_default_text(f))} | "
                    f"{_cell(_allowed_text(f))} | {_cell(doc).replace('<', '&lt;')} |")
    return rows


def render() -> str:
    """The generated block, markers included."""
    from exodiff.scenario.schema import CARGO, DELIVERY_METHODS, LAYER, POPULATION, RESOLUTION, SECTIONS

    out = [BEGIN, "", "Generated from `exodiff/scenario/schema.py`; do not edit by hand. Ranges are physical admissibility "
           "in SI; literature ranges are in [parameters.md](parameters.md).", ""]
    for section, spec in SECTIONS.items():
        out += [f"### `[{section}]`", "", INTRO.get(section, ""), "",
                *_table(spec, DELIVERY_METHODS if section == "delivery" else None), ""]
        if section == "skin":
            out += ["### `[skin.layers.<name>]`", "", INTRO["layers"], "", *_table(LAYER), ""]
        if section == "formulation":
            out += ["### `[formulation.cargo]`", "", INTRO["cargo"], "", *_table(CARGO), ""]
        if section == "simulation":
            out += ["### `simulation.resolution = { ... }`", "", INTRO["resolution"], "", *_table(RESOLUTION), ""]
    out += ["### `[population]`", "", INTRO["population"], "", *_table(POPULATION), ""]
    out.append(END)
    return "\n".join(out)


def splice(page: str, block: str) -> str:
    """Replace the generated block of ``page`` by ``block``."""
    start, stop = page.find(BEGIN), page.find(END)
    if start < 0 or stop < start:
        raise SystemExit(f"{PAGE}: marker lines not found; expected {BEGIN!r} ... {END!r}")
    return page[:start] + block + page[stop + len(END):]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/scenario.md is out of date")
    args = ap.parse_args(argv)
    page = PAGE.read_text()
    new = splice(page, render())
    if args.check:
        if new != page:
            print(f"{PAGE} is out of date: run python docs/gen_scenario_keys.py", file=sys.stderr)
            return 1
        return 0
    if new != page:
        PAGE.write_text(new)
        print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
