"""The units memo: answers of ``to_si``, ``parse_amount`` and ``amount_factor`` kept between processes.

A process whose unit texts were all read before answers them from the memo
file without importing pint (exodiff/units.py).  Reference: the same calls
in a process with the memo off (``EXODIFF_CACHE_DIR=""``), i.e. pint itself.
Each case runs in fresh interpreters, since the memo is read once per
process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from exodiff import units

CALLS = [
    ("to_si", "32 degC", "K"),
    ("to_si", "100 um", "m"),
    ("to_si", "1.8 1/h", "1/s"),
    ("to_si", "1 mL", "m^3"),
    ("to_si", "0.764 mPa*s", "Pa*s"),
    ("to_si", "1e-7 cm^2/s", "m^2/s"),
    ("to_si", "nan um", "m"),
    ("parse_amount", "1 ug protein/mL", "1/m^3"),
    ("parse_amount", "1e10 particles/cm^2", "1/m^2"),
    ("parse_amount", "1 mM", "1/m^3"),
    ("amount_factor", "mg", "ug"),
    ("amount_factor", "ug protein", "mg protein"),
]
BAD = [("to_si", "10 zork", "m"), ("to_si", "10 s", "m"), ("parse_amount", "3 um", "1/m^2")]

PROBE = """
import json, sys
from exodiff import units
if sys.argv[2] == "hide":
    units.hide_pint()
out = []
for kind, *args in json.loads(sys.argv[1]):
    try:
        got = getattr(units, kind)(*args)
        out.append(["ok", repr(got)])
    except (units.UnitParseError, units.DimensionError) as exc:
        out.append([type(exc).__name__, str(exc)])
print("ANSWERS " + json.dumps({"answers": out, "pint": sys.modules.get("pint") is not None}))
"""


def answers(calls, cache, hide=False) -> tuple[list, bool]:
    """What a fresh process answers for ``calls`` with exodiff's cache in ``cache`` ("" : none), and whether it
    imported pint."""
    env = dict(os.environ, EXODIFF_CACHE_DIR=str(cache))
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(calls), "hide" if hide else "-"],
                          capture_output=True, text=True, timeout=300, env=env)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("ANSWERS ")), None)
    assert line is not None, proc.stdout + proc.stderr
    got = json.loads(line[len("ANSWERS "):])
    return got["answers"], got["pint"]


def test_memo_answers_are_pints_and_need_no_pint(tmp_path):
    """Every answer from the memo is pint's, exactly (float repr), offset units and NaN included; the second
    process imports no pint."""
    ref, used = answers(CALLS, "")
    assert used and all(a[0] == "ok" for a in ref)
    first, used_first = answers(CALLS, tmp_path)
    assert used_first and first == ref
    second, used_second = answers(CALLS, tmp_path, hide=True)
    assert not used_second
    assert second == ref


def test_errors_are_not_kept_and_read_as_before(tmp_path):
    """A text that fails is read by pint every time, after the memo was warmed and pint hidden: the same
    messages as without a memo."""
    ref, _ = answers(BAD, "")
    assert all(a[0] != "ok" for a in ref)
    answers(CALLS + BAD, tmp_path)
    again, used = answers(BAD, tmp_path, hide=True)
    assert again == ref and used
    memo = json.loads(next(tmp_path.glob("units-*.json")).read_text())
    assert len(memo) == len(CALLS)


def test_a_damaged_memo_is_read_as_none(tmp_path):
    answers(CALLS, tmp_path)
    path = next(tmp_path.glob("units-*.json"))
    path.write_text('{"to_si\\u001f100 um\\u001fm": ')  # cut short
    ref, _ = answers(CALLS, "")
    got, used = answers(CALLS, tmp_path, hide=True)
    assert got == ref and used
    assert json.loads(path.read_text())  # written whole again


def test_a_memo_of_the_wrong_kinds_of_answers_is_not_believed(tmp_path):
    """Valid JSON with answers of the wrong kind (a hand-edited file): each is a miss, answered by pint."""
    answers(CALLS, tmp_path)
    path = next(tmp_path.glob("units-*.json"))
    memo = json.loads(path.read_text())
    wrong = ["abc", None, 3, [1.0, "ug"], [1.0, "ug", "[length]"], {"a": 1}, True]
    memo = {key: wrong[i % len(wrong)] for i, key in enumerate(memo)}
    path.write_text(json.dumps(memo))
    ref, _ = answers(CALLS, "")
    got, used = answers(CALLS, tmp_path, hide=True)
    assert got == ref and used


def test_memo_is_bounded_and_keeps_the_latest(tmp_path, monkeypatch):
    """At most MEMO_MAX new answers per process and on disk, the latest kept (a sweep over many values reads
    many texts; the texts of the next run are those of the last)."""
    monkeypatch.setenv(units.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(units, "MEMO_MAX", 5)
    key = lambda k: units._memo_key("to_si", f"{k} um", "m")
    for batch in (range(0, 20), range(20, 23)):  # two processes' worth
        monkeypatch.setattr(units, "_memo", {})
        monkeypatch.setattr(units, "_memo_new", {})
        for k in batch:
            units._memo_put(key(k), k * 1e-6)
        assert len(units._memo_new) == min(5, len(batch))
        units._memo_save()
    kept = json.loads(next(tmp_path.glob("units-*.json")).read_text())
    # the first process kept 0..4 (its first five); the second's three come last, the two latest before them stay
    assert list(kept) == [key(k) for k in (3, 4, 20, 21, 22)]
    assert kept[key(21)] == 21e-6


def test_a_memo_file_names_what_its_answers_depend_on(tmp_path, monkeypatch):
    """The file's name changes with this module's text (and pint's installed code): a changed definition is
    never answered from an old memo."""
    monkeypatch.setenv(units.CACHE_ENV, str(tmp_path))
    a = units._memo_path()
    real = units.Path(units.__file__).read_bytes()
    monkeypatch.setattr(units.Path, "read_bytes", lambda self: real + b"# changed\n")
    assert units._memo_path() != a and units._memo_path().parent == a.parent
    monkeypatch.setenv(units.CACHE_ENV, "")
    assert units._memo_path() is None
