"""The command line on bad input: exit 2, one line per issue, no traceback, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import exodiff
from exodiff import cli
from exodiff.errors import ScenarioError, SolverError
from exodiff.scenario.core import load_scenario

PACKAGE_ROOT = str(Path(exodiff.__file__).resolve().parent.parent)

GOOD = """
[meta]
name = "membrane"
[skin]
preset = "none"
[skin.layers.membrane]
thickness = "100 um"
diffusivity = "1e-8 cm^2/s"
partition = 0.5
[formulation]
vehicle = "infinite"
concentration = "1 mg/cm^3"
[simulation]
duration = "5 h"
"""

# name -> (file text, number of issues it has)
BAD = {
    "unknown_key": (GOOD.replace("partition = 0.5", "partiton = 0.5"), 1),
    "wrong_dimension": (GOOD.replace('duration = "5 h"', 'duration = "5 m"'), 1),
    "bare_number": (GOOD.replace('duration = "5 h"', "duration = 5"), 1),
    "out_of_range": (GOOD.replace('"100 um"', '"-100 um"'), 1),
    "bad_choice": (GOOD.replace('"infinite"', '"infinit"'), 1),
    "syntax": (GOOD.replace('preset = "none"', "preset = none"), 1),
    "interval_and_times": (GOOD + 'output_interval = "1 h"\noutput_times = ["1 h"]\n', 1),
    "planned_method": (GOOD + '[delivery]\nmethod = "laser"\npulse_energy = "20 mJ"\n', 1),
    "accuracy_with_tolerance": (GOOD + "accuracy = 1e-6\ntolerance = 1e-6\n", 1),
    "accuracy_out_of_range": (GOOD + "accuracy = 0.5\n", 1),
    # a NUL byte: ValueError "embedded null byte" from deep inside
    "nul_in_directory": (GOOD + '[output]\ndirectory = "a\\u0000b"\n', 1),
    # named neither the key nor the slip (".: output directory holds files exodiff did not write")
    "empty_directory": (GOOD + '[output]\ndirectory = ""\n', 1),
    # printed raw in the run's summary on stdout (ESC drove the terminal)
    "name_with_escape": (GOOD.replace('name = "membrane"', 'name = "a\\u001b[2Jb"'), 1),
    # 2 lines each, the second ("simulation.duration: got nothing") the first's echo
    "section_not_a_table": ('simulation = "5 h"\n' + GOOD.replace('[simulation]\nduration = "5 h"\n', ""), 1),
    # 2 lines, the second ("got nothing") a consequence of the first
    "layers_not_tables": (GOOD.replace('[skin.layers.membrane]\nthickness = "100 um"\ndiffusivity = "1e-8 cm^2/s"\n'
                                       'partition = 0.5\n', 'layers = 5\n'), 1),
    # 2 lines (dose and duration missing) that never said the file was empty
    "empty_file": ("", 1),
    "comments_only": ("# nothing here yet\n\n", 1),
    # empty lists were taken (profile_times = [] then printed two matplotlib warnings)
    "output_times_empty": (GOOD + "output_times = []\n", 1),
    "profile_times_empty": (GOOD + "[output]\nprofile_times = []\n", 1),
    # an integer beyond 64 bits: an OverflowError traceback from float() (in a sweep, fit, compare, population too)
    "integer_of_400_digits": (GOOD.replace("partition = 0.5", "partition = " + "9" * 400), 1),
    # beyond the floating-point range of the solver: 1e-320 divided by zero, 1e308 ug/um^3 became inf
    "subnormal_concentration": (GOOD.replace('"1 mg/cm^3"', '"1e-320 mg/cm^3"'), 1),
    "overflowing_concentration": (GOOD.replace('"1 mg/cm^3"', '"1e308 ug/um^3"'), 1),
    "partition_1e300": (GOOD.replace("partition = 0.5", "partition = 1e300"), 1),
    # inside the old (0, 0.1]: a ZeroDivisionError traceback in the step control
    "tolerance_below_round_off": (GOOD + "tolerance = 1e-300\n", 1),
    # near 1e300 s the first step overflowed ("time step collapsed", naming no key)
    "duration_absurd": (GOOD.replace('duration = "5 h"', 'duration = "1e300 h"'), 1),
    "many": (GOOD.replace("partition = 0.5", "partiton = 0.5")
             .replace('duration = "5 h"', "duration = 5")
             .replace('"infinite"', '"infinit"')
             .replace("[skin]", "[skin]\nbotom = \"sink\"")
             + "[outptu]\nplots = true\n", 5),
}


def exodiff_cmd(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT)
    return subprocess.run([sys.executable, "-m", "exodiff", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def check_user_error(proc: subprocess.CompletedProcess, n_lines: int) -> list[str]:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == n_lines, proc.stderr
    assert all(line.startswith("exodiff: error: ") for line in lines)
    return lines


@pytest.mark.parametrize("case", sorted(BAD))
def test_run_bad_scenario(tmp_path, case):
    text, n = BAD[case]
    f = tmp_path / f"{case}.toml"
    f.write_text(text)
    if case != "syntax":  # the same count in-process, so the CLI adds and drops nothing
        with pytest.raises(ScenarioError) as info:
            load_scenario(f)
        assert len(info.value.issues) == n
    out = tmp_path / "out"
    proc = exodiff_cmd("run", str(f), "-o", str(out), cwd=tmp_path)
    lines = check_user_error(proc, n)
    assert all(f"exodiff: error: {f}: " in line for line in lines)
    assert not out.exists()
    assert not (tmp_path / "results").exists()
    assert proc.stdout == ""


def test_validate_reports_every_issue_of_every_file(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD["many"][0])
    proc = exodiff_cmd("validate", str(good), str(bad), str(tmp_path / "missing.toml"), cwd=tmp_path)
    lines = check_user_error(proc, BAD["many"][1] + 1)
    assert proc.stdout == f"{good}: ok (membrane, 1 layer, method topical)\n"
    text = "\n".join(lines)
    for expected in ('did you mean "partition"', 'skin.botom: unknown key; did you mean "bottom"',
                     "simulation.duration: got 5 (a bare number)", 'did you mean "infinite"',
                     'outptu: unknown key; did you mean "output"'):
        assert expected in text
    assert lines[-1] == f"exodiff: error: {tmp_path / 'missing.toml'}: no such file"


def test_run_missing_file(tmp_path):
    proc = exodiff_cmd("run", "nope.toml", "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert check_user_error(proc, 1) == ["exodiff: error: nope.toml: no such file"]
    assert not (tmp_path / "out").exists()


def test_sweep_missing_file(tmp_path):
    # sweep was the last command registered as "not yet available"; tests/test_sweep.py has the rest
    proc = exodiff_cmd("sweep", "a.toml", cwd=tmp_path)
    assert check_user_error(proc, 1) == ["exodiff: error: a.toml: no such file"]


def test_validate_ok_exit_zero(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    proc = exodiff_cmd("validate", str(good), cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.strip() == f"{good}: ok (membrane, 1 layer, method topical)"


# --------------------------------------------------------------------------
# In-process: the run command's wiring, with the solver and outputs stubbed


@pytest.fixture
def good_file(tmp_path):
    f = tmp_path / "crank.toml"
    f.write_text(GOOD)
    return f


@pytest.fixture
def fake_run(monkeypatch):
    """Stub exodiff.run / exodiff.report.outputs; record what the CLI asks of them."""
    import exodiff.report.outputs
    import exodiff.run

    calls = {}

    def run(sc, progress):
        calls["run"] = (sc.name, progress)
        return "DATASET"

    def write_outputs(ds, sc, directory, plots):
        calls["write"] = (ds, Path(directory), plots)
        return [Path(directory) / "result.nc", Path(directory) / "summary.json"]

    monkeypatch.setattr(exodiff.run, "run", run)
    monkeypatch.setattr(exodiff.run, "warm", lambda sc: calls.setdefault("warm", sc.name))
    monkeypatch.setattr(exodiff.run, "compile_notice",
                        lambda sc: calls.setdefault("notice", "compiling the solver (first run only, about 8 s)"))
    monkeypatch.setattr(exodiff.report.outputs, "write_outputs", write_outputs)
    monkeypatch.setattr(exodiff.report.outputs, "summary_table", lambda ds, target=None: "SUMMARY")
    return calls


def test_run_wiring(good_file, tmp_path, fake_run, capsys):
    assert cli.main(["run", str(good_file), "-o", str(tmp_path / "o")]) == 0
    out, err = capsys.readouterr()
    assert fake_run["run"] == ("membrane", True)
    assert fake_run["write"] == ("DATASET", tmp_path / "o", True)
    assert "compiling the solver (first run only" in err
    assert fake_run["warm"] == "membrane"  # compiled before the progress bar starts
    assert f"results in {tmp_path / 'o'}/" in out and "result.nc" in out and out.rstrip().endswith("SUMMARY")


def test_run_quiet_no_plots_default_directory(good_file, tmp_path, fake_run, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", str(good_file), "--quiet", "--no-plots"]) == 0
    _, err = capsys.readouterr()
    assert err == ""
    assert fake_run["run"] == ("membrane", False)
    assert fake_run["write"] == ("DATASET", Path("results") / "crank", False)


def test_solver_error_exit_2_nothing_written(good_file, tmp_path, fake_run, monkeypatch, capsys):
    import exodiff.run

    def fail(sc, progress):
        raise SolverError("non-finite concentration at t = 1.5 h in dermis")

    monkeypatch.setattr(exodiff.run, "run", fail)
    assert cli.main(["run", str(good_file), "-o", str(tmp_path / "o")]) == 2
    _, err = capsys.readouterr()
    assert err.splitlines()[-1] == "exodiff: error: non-finite concentration at t = 1.5 h in dermis"
    assert "write" not in fake_run


def test_output_path_is_a_file(good_file, tmp_path, fake_run, capsys):
    target = tmp_path / "taken"
    target.write_text("")
    assert cli.main(["run", str(good_file), "-o", str(target)]) == 2
    assert "run" not in fake_run
    assert "is an existing file" in capsys.readouterr().err


def test_keyboard_interrupt_exit_130(good_file, monkeypatch, capsys):
    import exodiff.scenario.core

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(exodiff.scenario.core, "load_scenario", interrupted)
    assert cli.main(["validate", str(good_file)]) == 130
    assert capsys.readouterr().err == "exodiff: interrupted\n"


def test_bugs_keep_their_traceback(good_file, monkeypatch):
    import exodiff.scenario.core

    def bug(*a, **k):
        raise RuntimeError("a bug")

    monkeypatch.setattr(exodiff.scenario.core, "load_scenario", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["validate", str(good_file)])


def test_presets_command_calls_format_presets(monkeypatch, capsys):
    seen = []
    fake = types.ModuleType("exodiff.scenario.presets")
    fake.format_presets = lambda kind: seen.append(kind) or f"TABLE {kind}"
    monkeypatch.setitem(sys.modules, "exodiff.scenario.presets", fake)
    monkeypatch.setattr(exodiff, "presets", fake, raising=False)
    assert cli.main(["presets", "skin"]) == 0
    assert cli.main(["presets"]) == 0
    assert seen == ["skin", None]
    assert capsys.readouterr().out == "TABLE skin\nTABLE None\n"


@pytest.mark.parametrize("argv, words", [(["presets", "planets"], ["presets:", "planets"]),
                                         (["runn"], ["runn", "exodiff --help"]),
                                         ([], ["COMMAND"]),
                                         (["run"], ["run:", "FILE", "exodiff run --help"]),
                                         (["run", "x.toml", "--max-memory", "lots"], ["--max-memory", "lots"]),
                                         # read as 4 bytes, then every run refused as needing more than "0 bytes"
                                         (["run", "x.toml", "--max-memory", "4"], ["--max-memory", "without a unit"]),
                                         (["run", "x.toml", "--max-memory", "4 kB"], ["--max-memory", "1 MiB"]),
                                         # taken before: 0 and negatives
                                         (["run", "x.toml", "--max-points", "0"], ["--max-points", ">= 1"]),
                                         (["sweep", "x.toml", "--top", "-5"], ["--top", ">= 1"])])
def test_usage_error_is_one_line_exit_2(capsys, argv, words):
    """A bad command line is one line like every other user error (argparse printed its usage first: 2-4
    lines), naming the command and where its help is."""
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("exodiff: error: "), err
    assert all(w in err[0] for w in words), err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_standard_output_is_one_line(tmp_path, good_file):
    """``exodiff run ... > /dev/full``: the files are written whole, then the summary cannot be; one line, exit 2
    (was an OSError traceback from print, exit 1)."""
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT)
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "exodiff", "run", str(good_file), "-o", str(out), "--quiet",
                               "--no-plots"], cwd=tmp_path, env=env, stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    lines = check_user_error(proc, 1)
    assert "standard output" in lines[0] and "No space left" in lines[0]
    assert (out / "result.nc").exists()  # written whole before the summary


def test_python_api_misuse_is_a_clear_error():
    """A list of overrides and a key that is not a string gave AttributeError / TypeError from deep inside."""
    d = exodiff.load_scenario(__import__("tomllib").loads(GOOD)).user
    with pytest.raises(TypeError, match="overrides: expected a mapping"):
        load_scenario(d, overrides=[("simulation.duration", "2 h")])
    with pytest.raises(ScenarioError) as info:
        load_scenario({**d, 1: 2})
    assert "keys that are strings" in str(info.value)


def test_an_output_directory_the_system_cannot_make_is_one_line(tmp_path, good_file, capsys):
    """``-o`` with a 300-byte name: OSError errno 36 after the run; now refused first, nothing written."""
    out = tmp_path / ("a" * 300)
    assert cli.main(["run", str(good_file), "-o", str(out), "--quiet", "--no-plots"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "255" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == [good_file.name]


def test_a_variant_name_too_long_for_a_file_is_refused_before_solving(tmp_path, capsys):
    """A 300-character variant name solved, then failed writing its files (OSError errno 36)."""
    f = tmp_path / "c.toml"
    f.write_text(GOOD + "[compare.variants." + "a" * 300 + ']\n"simulation.duration" = "2 h"\n')
    out = tmp_path / "out"
    assert cli.main(["compare", str(f), "-o", str(out), "--quiet", "--no-plots"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "at most 100" in err[0], err
    assert not out.exists()


def test_control_characters_in_a_key_are_shown_escaped(tmp_path):
    """A key holding ESC [2J reached the terminal raw (values were escaped): every control character but the tab
    is shown escaped, so a message cannot clear or recolour the user's terminal."""
    f = tmp_path / "s.toml"
    f.write_text(GOOD + '"\\u001b[2J\\u001b[31mPWNED\\u0007" = 1\n')
    proc = exodiff_cmd("validate", str(f), cwd=tmp_path)
    lines = check_user_error(proc, 1)
    assert not any(ord(c) < 0x20 and c != "\t" or 0x7F <= ord(c) < 0xA0 for c in lines[0]), repr(lines[0])
    assert "\\x1b[2J" in lines[0]


def test_numpy_values_from_python_are_taken_or_named():
    """From Python: np.int64 in a scenario dict was "cannot write the scenario as TOML" naming no key, and an
    array Quantity as an override a ValueError from item()."""
    import numpy as np

    from exodiff import units

    d = __import__("tomllib").loads(GOOD)
    d["skin"]["layers"]["membrane"]["partition"] = np.int64(2)
    assert load_scenario(d).resolved["skin"]["layers"]["membrane"]["partition"] == 2.0
    with pytest.raises(ScenarioError) as info:
        load_scenario(d, overrides={"skin.layers.membrane.thickness": units.ureg.Quantity(np.array([50., 70.]), "um")})
    assert "skin.layers.membrane.thickness" in str(info.value)
