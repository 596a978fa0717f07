"""Fuzzing the command line with mutated copies of the shipped scenarios.

Each example takes a scenario of ``scenarios/``, changes its TOML (a value
replaced by another of a hostile kind, a key renamed or dropped, a table
turned into a value), writes it and runs the command line *in this
process* (``cli.main``).  Whatever the mutation, the answer must be exit 0
or exit 2 with at most one stderr line per problem and no traceback; any
other exception is a bug and fails the example.

In CI the number of examples is small (``validate``: 150, ``run``: 15 with a
short duration and a coarse grid).  To fuzz for longer::

    EXODIFF_FUZZ_EXAMPLES=1000 python -m pytest -q tests/test_fuzz.py

(``run`` takes a tenth of that number.)  Hypothesis keeps failing examples
in ``.hypothesis/`` and replays them first.
"""

from __future__ import annotations

import copy
import os
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exodiff import cli
from exodiff.scenario.core import to_toml

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
BASES = {p.name: tomllib.loads(p.read_text()) for p in SCENARIOS}
EXAMPLES = int(os.environ.get("EXODIFF_FUZZ_EXAMPLES", "150"))

# Values meant to break things: wrong types, hostile unit text, extremes.
HOSTILE = st.one_of(
    st.sampled_from(["9**9**9 um", "2**2000 um", "1e-308 h", "1e400 um", "-1 um", "nan um", "inf h", "0 h",
                     "1 parsec", "um", "", " ", "1 um^99", "1 ((((m))))", "1e10 particles/cm^2", "5 GiB",
                     "32 degC", "0.02 1/h", "../../x", "/etc/passwd", "/dev/zero", "<script>x</script>", "=cmd",
                     "auto", "grid", "sample", "log", "none", "1" * 300, "\x00", "é", "1 %"]),
    st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=20),
    st.lists(st.sampled_from(["1 h", "2 h", 3, "x", "50 nm"]), max_size=4),
    # a fresh empty table each draw: st.just({}) hands out one shared dict, which a run test filling its
    # [simulation] would change for every later draw (FlakyStrategyDefinition)
    st.builds(dict),
    st.dictionaries(st.sampled_from(["start", "stop", "num", "min", "max", "scale", "cells", "nr", "dz"]),
                    st.one_of(st.sampled_from(["1 nm", "1e-12 m", "log", "20 um"]),
                              st.integers(min_value=-5, max_value=10 ** 12)), max_size=3),
)


def _paths(node, prefix=()):
    """Every (path, value) in a nested dict, tables included."""
    for k, v in node.items():
        yield (*prefix, k), v
        if isinstance(v, dict):
            yield from _paths(v, (*prefix, k))


@st.composite
def mutated(draw, names=tuple(BASES)):
    name = draw(st.sampled_from(names))
    doc = copy.deepcopy(BASES[name])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [p for p, _ in _paths(doc)]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        what = draw(st.sampled_from(["value", "value", "value", "rename", "drop", "add"]))
        if what == "value":
            parent[path[-1]] = draw(HOSTILE)
        elif what == "rename":
            parent[path[-1] + draw(st.sampled_from(["s", "_", "x"]))] = parent.pop(path[-1])
        elif what == "drop":
            del parent[path[-1]]
        else:
            key = draw(st.sampled_from(["resolution", "max_memory", "directory", "size_distribution", "n", "mode",
                                        "formulation.diameter", "preset", "method", "sweep", "compare"]))
            parent[key] = draw(HOSTILE)
    return name, doc


def _write(tmp_path: Path, name: str, doc: dict) -> Path | None:
    try:
        text = to_toml(doc)
    except (TypeError, ValueError):
        return None
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    # the measured distribution of the NTA example sits beside it
    csv = ROOT / "scenarios" / "msc_exosome_nta.csv"
    if not (tmp_path / csv.name).exists():
        (tmp_path / csv.name).write_bytes(csv.read_bytes())
    return f


def _check(argv: list[str], capsys) -> None:
    try:
        status = cli.main(argv)
    except SystemExit as exc:  # argparse usage errors
        status = exc.code
    except BaseException as exc:  # noqa: BLE001 - anything else is a bug in exodiff
        pytest.fail(f"exodiff {' '.join(argv)} raised {type(exc).__name__}: {exc}")
    err = capsys.readouterr().err
    assert status in (0, 2), (status, err)
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if status == 2:
        assert lines and all(ln.startswith("exodiff: error: ") for ln in lines), err
        assert len(lines) == len(set(lines)), err  # one line per issue, none repeated


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(case=mutated())
def test_validate_mutated_scenarios(tmp_path_factory, capsys, case):
    name, doc = case
    tmp = tmp_path_factory.mktemp("fuzz")
    f = _write(tmp, name, doc)
    if f is not None:
        _check(["validate", str(f)], capsys)


# No example database: the cases are drawn from the shipped scenarios, which change with the project, so a
# stored example replays as a different draw (FlakyStrategyDefinition); a failure prints its whole case.

# Runs: 1D scenarios only (a unit cell takes seconds even when coarse), short and coarse.
RUNNABLE = tuple(n for n in BASES if n.startswith("topical_") or n == "membrane_validation.toml")


@settings(max_examples=max(1, EXAMPLES // 10), deadline=None, suppress_health_check=list(HealthCheck),
          database=None)
@given(case=mutated(RUNNABLE))
def test_run_mutated_scenarios(tmp_path_factory, capsys, case):
    name, doc = case
    doc = copy.deepcopy(doc)  # the drawn case stays as drawn, for replay and for the failure report
    sim = doc.get("simulation")
    if isinstance(sim, dict):
        sim["duration"] = "30 min"
        sim.pop("output_interval", None)
        sim.pop("output_times", None)
        sim["resolution"] = {"cells": 8}
    out = doc.get("output")
    if isinstance(out, dict):
        out.pop("profile_times", None)
    tmp = tmp_path_factory.mktemp("fuzzrun")
    f = _write(tmp, name, doc)
    if f is not None:
        _check(["run", str(f), "-o", str(tmp / "out"), "--quiet", "--no-plots"], capsys)
