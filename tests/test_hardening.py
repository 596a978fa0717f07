"""Issue 14: hostile or broken input never hangs, never leaves a traceback, never writes half a result.

One test (or one parametrized test) per class of problem, with the issue's
own examples.  The standard: exit status 2, exactly one line on stderr
naming file, key, what was given and what is expected, nothing written.
Most run the command line in this process (``cli.main``); the ones that
need a real process (a hang, a closed pipe, kill -9) run ``python -m exodiff``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import exodiff
from exodiff import cli, units
from exodiff._io import DirLock

ROOT = Path(__file__).resolve().parents[1]
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
vehicle = "finite"
concentration = "1 mg/cm^3"
vehicle_thickness = "20 um"
[simulation]
duration = "1 h"
"""


def scenario(tmp_path: Path, text: str = GOOD, name: str = "s.toml") -> Path:
    f = tmp_path / name
    f.write_text(text)
    return f


def with_key(text: str, section: str, line: str) -> str:
    """``text`` with ``line`` added at the top of ``[section]``."""
    return text.replace(f"[{section}]\n", f"[{section}]\n{line}\n", 1)


def one_error(capsys, argv: list[str], contains: str | None = None) -> str:
    """Run the CLI in-process; assert exit 2 and exactly one error line; return it."""
    status = cli.main(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("exodiff: error: ")
    if contains is not None:
        assert contains in lines[0], lines[0]
    return lines[0]


def exodiff_cmd(*args: str, cwd: Path, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT)
    return subprocess.run([sys.executable, "-m", "exodiff", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, **kw)


def entries(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


# --------------------------------------------------------------------------
# 1. Unit strings: only a number and plain unit arithmetic


@pytest.mark.parametrize("text,why", [
    ("2**2000 um", "no powers of numbers"),
    ("9**9 um", "no powers of numbers"),
    ("2^10 um", "no powers of numbers"),
    ("1e400 um", "not finite"),
    ("1" * 200 + " um", "longer than"),
    ("1 um^99", "a unit power of at most"),
    ("1 ((((um))))", "nested at most"),
    ("2 3 um", "unexpected"),
])
def test_unit_text_is_number_and_unit_arithmetic(tmp_path, capsys, text, why):
    f = scenario(tmp_path, GOOD.replace('vehicle_thickness = "20 um"', f'vehicle_thickness = "{text}"'))
    line = one_error(capsys, ["validate", str(f)], why)
    assert "formulation.vehicle_thickness" in line


def test_power_tower_does_not_hang(tmp_path):
    # pint evaluated 9**9**9 on unbounded integers: validate, run and sweep planning hung
    f = scenario(tmp_path, GOOD.replace('vehicle_thickness = "20 um"', 'vehicle_thickness = "9**9**9 um"'))
    t0 = time.perf_counter()
    for cmd in (["validate", str(f)], ["run", str(f), "-o", str(tmp_path / "out")]):
        proc = exodiff_cmd(*cmd, cwd=tmp_path, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.splitlines()) == 1 and "no powers of numbers" in proc.stderr
    assert time.perf_counter() - t0 < 60
    assert entries(tmp_path) == ["s.toml"]


@pytest.mark.parametrize("text,unit,si", [
    ("2 cm^2", "m^2", 2e-4), ("2 cm**2", "m^2", 2e-4), ("3 m^-2", "1/m^2", 3.0), ("0.02 1/h", "1/s", 0.02 / 3600),
    ("1 ug/cm^3", "kg/m^3", 1e-3), ("5 particles/cm^3", "particles/m^3", 5e6), ("50 %", "", 0.5),
    ("0.764 mPa*s", "Pa*s", 0.764e-3), ("1 mg/(cm^2*h)", "kg/m^2/s", 1e-2 / 3600), ("4 GiB", "B", 4 * 2**30),
    ("3 µm", "m", 3e-6), ("32 degC", "K", 305.15),
])
def test_unit_powers_and_arithmetic_still_parse(text, unit, si):
    assert float(units.parse(text).to(unit).magnitude) == pytest.approx(si, rel=1e-12)


def test_every_shipped_quantity_string_parses():
    """Every "<number> <unit>" string in the package data, the example scenarios and the docs still parses."""
    files = [*ROOT.glob("exodiff/data/*.toml"), *ROOT.glob("scenarios/*.toml"), *ROOT.glob("docs/*.md"),
             ROOT / "README.md"]
    quantity = re.compile(r'"([-+]?\d[\d.eE+-]*\s+(?:1/)?[A-Za-z%µ][A-Za-z0-9_ */^()%µ.-]*)"')
    seen = 0
    for f in files:
        for m in quantity.finditer(f.read_text(encoding="utf-8")):
            text = m.group(1)
            if "," in text or ".." in text or len(text) > 40 or "{" in text or text.endswith(".") \
                    or len(text.split()) > 3:
                continue  # lists and ranges written inside one string, placeholders, prose between quotes
            if text in ("1e400 um", "2 3 um"):
                continue  # docs/scenario.md shows these as errors
            units.parse(text)
            seen += 1
    assert seen > 100


# --------------------------------------------------------------------------
# 2. One line, never a traceback


def test_deep_nesting(tmp_path, capsys):
    for depth in (50, 100_000):
        f = scenario(tmp_path, "a = " + "[" * depth + "]" * depth + "\n", f"deep{depth}.toml")
        line = one_error(capsys, ["validate", str(f)], "nested")
        assert str(f) in line


def test_output_interval_too_small(tmp_path, capsys):
    f = scenario(tmp_path, with_key(GOOD, "simulation", 'output_interval = "1e-190 h"'))
    line = one_error(capsys, ["run", str(f), "-o", str(tmp_path / "out")], "(1e+190 output times)")
    assert not re.search(r"\d{20}", line)  # not a 190-digit number
    # beyond the sizes a scenario may give (scenario.core.MAGNITUDE): refused where it is read, naming the key
    for tiny in ("1e-308 h", "1e-320 h"):
        f = scenario(tmp_path, with_key(GOOD, "simulation", f'output_interval = "{tiny}"'))
        one_error(capsys, ["validate", str(f)], "simulation.output_interval")
    assert entries(tmp_path) == ["s.toml"]


def test_dangling_symlink_output_fails_before_solving(tmp_path, capsys):
    f = scenario(tmp_path)
    (tmp_path / "out").symlink_to(tmp_path / "nowhere")
    for cmd in (["run", str(f), "-o", str(tmp_path / "out")],
                ["sweep", str(scenario(tmp_path, GOOD + '[sweep]\n"simulation.duration" = ["1 h", "2 h"]\n',
                                       "sw.toml")), "-o", str(tmp_path / "out"), "-j", "1", "--quiet"]):
        one_error(capsys, cmd, "dangling")
    assert not (tmp_path / "nowhere").exists()


def test_unwritable_output_fails_before_solving(tmp_path, capsys, monkeypatch):
    import exodiff.run

    monkeypatch.setattr(exodiff.run, "run", lambda *a, **k: pytest.fail("solved before checking the directory"))
    f = scenario(tmp_path)
    if os.geteuid() == 0:
        target = Path("/proc/exodiff-test/out")  # not writable, even for root
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        target = ro / "out"
    one_error(capsys, ["run", str(f), "-o", str(target), "--quiet"], "cannot write here")
    if os.geteuid() != 0:
        assert entries(tmp_path / "ro") == []


def test_presets_into_closed_pipe(tmp_path):
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT)
    cmd = f"{sys.executable} -m exodiff presets | head -n 1"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and len(proc.stdout.splitlines()) == 1


# --------------------------------------------------------------------------
# 3. Bounded reads


def test_device_and_fifo_are_refused(tmp_path, capsys):
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    for f in ("/dev/zero", str(fifo)):
        line = one_error(capsys, ["validate", f], "not a regular file")
        assert line.startswith(f"exodiff: error: {f}:")


def test_oversized_scenario_and_csv_are_refused(tmp_path, capsys):
    big = tmp_path / "big.toml"
    with open(big, "wb") as fh:
        fh.truncate(500 << 20)  # sparse: 500 MB that are never read
    one_error(capsys, ["validate", str(big)], "larger than the limit of 1 MiB")
    csv = tmp_path / "nta.csv"
    with open(csv, "wb") as fh:
        fh.truncate(500 << 20)
    f = scenario(tmp_path, GOOD.replace("[formulation]\n", '[formulation]\nkind = "vesicle"\n'
                                        'size_distribution = "nta.csv"\n'))
    t0 = time.perf_counter()
    one_error(capsys, ["validate", str(f)], "larger than the limit of 10 MiB")
    assert time.perf_counter() - t0 < 10


# --------------------------------------------------------------------------
# 4. Memory estimated at validation


MICRONEEDLE = (ROOT / "scenarios" / "microneedle_msc_exosome.toml").read_text()


@pytest.mark.parametrize("text", [
    with_key(GOOD, "simulation", "resolution = { cells = 1000000000 }"),
    with_key(GOOD, "simulation", 'resolution = { dz = "1e-12 m" }'),
    with_key(MICRONEEDLE, "simulation", "resolution = { nr = 100000, nz = 100000 }"),
])
def test_memory_estimate_refuses_huge_grids(tmp_path, capsys, text):
    f = scenario(tmp_path, text)
    t0 = time.perf_counter()
    line = one_error(capsys, ["run", str(f), "-o", str(tmp_path / "out")], "expected at most 4 GiB of memory")
    assert "simulation.resolution" in line and "GiB" in line.split("expected")[0] or "TiB" in line
    assert time.perf_counter() - t0 < 10
    assert entries(tmp_path) == ["s.toml"]


def test_memory_limit_can_be_raised_or_lowered(tmp_path, capsys, monkeypatch):
    text = with_key(GOOD, "simulation", "resolution = { cells = 2000000 }")  # ~2.9 GiB
    f = scenario(tmp_path, text)
    assert cli.main(["validate", str(f)]) == 0
    one_error(capsys, ["validate", str(f), "--max-memory", "1 GiB"], "at most 1 GiB of memory (--max-memory)")
    monkeypatch.setenv("EXODIFF_MAX_MEMORY", "512 MiB")
    one_error(capsys, ["validate", str(f)], "(EXODIFF_MAX_MEMORY)")
    monkeypatch.delenv("EXODIFF_MAX_MEMORY")
    f = scenario(tmp_path, with_key(with_key(GOOD, "simulation", "resolution = { cells = 30000000 }"),
                                    "simulation", 'max_memory = "64 GiB"'))
    assert cli.main(["validate", str(f)]) == 0
    capsys.readouterr()


def test_huge_sweep_is_refused_before_any_point_is_made(tmp_path, capsys):
    sweep = ('[sweep]\n"formulation.vehicle_thickness" = { start = "1 um", stop = "100 um", num = 1000 }\n'
             '"simulation.duration" = { start = "1 h", stop = "10 h", num = 1000 }\n')
    f = scenario(tmp_path, GOOD + sweep)
    t0 = time.perf_counter()
    one_error(capsys, ["sweep", str(f), "-o", str(tmp_path / "out")], "at most 100000 points")
    one_error(capsys, ["validate", str(f)], "1e+06 points")
    f2 = scenario(tmp_path, GOOD + '[sweep]\n"simulation.duration" = { start = "1 h", stop = "2 h", '
                                   'num = 1000000000000 }\n', "huge.toml")
    one_error(capsys, ["validate", str(f2)], "at most 100000 values")
    assert time.perf_counter() - t0 < 10
    one_error(capsys, ["validate", str(f2), "--max-points", "10"], "at most 10 values")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------
# 5. Size-distribution CSV: the checks of formulation.diameter


VESICLE = GOOD.replace("[formulation]\n", '[formulation]\nkind = "vesicle"\nsize_distribution = "nta.csv"\n')


@pytest.mark.parametrize("csv,expected", [
    ("Size (nm),Concentration\n70,1\n1e9,2\n", "line 3: got diameter \"1e9\" nm"),
    ("Size (m),Concentration\n1,1\n", "<= 1e-05 m (the range of formulation.diameter)"),
    ("Size (parsec),Concentration\n70,1\n80,2\n", 'line 1: got diameter unit "parsec"'),
])
def test_size_distribution_rows_are_checked(tmp_path, capsys, csv, expected):
    (tmp_path / "nta.csv").write_text(csv)
    f = scenario(tmp_path, VESICLE)
    one_error(capsys, ["run", str(f), "-o", str(tmp_path / "out")], expected)
    assert not (tmp_path / "out").exists()


def test_size_distribution_huge_concentrations_are_ratios(tmp_path):
    from exodiff.scenario.core import load_scenario

    (tmp_path / "nta.csv").write_text("Size (nm),Concentration\n70,1e308\n90,1e308\n110,5e307\n")
    sc = load_scenario(scenario(tmp_path, VESICLE))
    counts = sc.resolved["formulation"]["size_distribution_data"]["count"]
    assert counts == pytest.approx([1.0, 1.0, 0.5])
    assert 70e-9 < sc.resolved["formulation"]["diameter"] < 110e-9


# --------------------------------------------------------------------------
# 6. Outputs as one unit; locks


def test_run_outputs_are_one_set(tmp_path, capsys):
    f = scenario(tmp_path)
    out = tmp_path / "out"
    assert cli.main(["run", str(f), "-o", str(out), "--quiet"]) == 0
    assert "result.nc" in entries(out) and any(n.endswith(".png") for n in entries(out))
    first = (out / "result.nc").stat().st_ino
    (out / ".result.nc.tmp-999999").write_text("left by a killed run")
    (tmp_path / ".out.tmp-999999-abc").mkdir()  # a staging directory of a killed run
    assert cli.main(["run", str(f), "-o", str(out), "--quiet", "--no-plots"]) == 0
    capsys.readouterr()
    # the new set replaced the old one whole: no old plots beside the new result, no temporaries
    assert entries(out) == ["result.nc", "summary.json"]
    assert (out / "result.nc").stat().st_ino != first
    assert entries(tmp_path) == ["out", "s.toml"]


def test_interrupted_write_keeps_the_old_set(tmp_path):
    from exodiff.report import outputs

    out = tmp_path / "out"
    with outputs.output_set(out) as st:
        (st.staging / "result.nc").write_text("old")
        (st.staging / "a.png").write_text("old plot")
    with pytest.raises(KeyboardInterrupt):
        with outputs.output_set(out) as st:
            (st.staging / "result.nc").write_text("new")
            raise KeyboardInterrupt  # killed half-way through writing
    assert (out / "result.nc").read_text() == "old" and (out / "a.png").exists()
    assert entries(tmp_path) == ["out"]


def test_foreign_directory_is_not_replaced(tmp_path, capsys):
    f = scenario(tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("years of work")
    one_error(capsys, ["run", str(f), "-o", str(tmp_path / "mine")], "files exodiff did not write (thesis.tex)")
    assert entries(tmp_path / "mine") == ["thesis.tex"]


def test_second_writer_is_refused(tmp_path, capsys):
    f = scenario(tmp_path)
    with DirLock(tmp_path / ".out.lock"):  # another run holds the directory
        one_error(capsys, ["run", str(f), "-o", str(tmp_path / "out")], "another exodiff process is writing")
    assert not (tmp_path / "out").exists()
    sw = scenario(tmp_path, GOOD + '[sweep]\n"simulation.duration" = ["1 h", "2 h"]\n', "sw.toml")
    with DirLock(tmp_path / ".swout.lock"):
        one_error(capsys, ["sweep", str(sw), "-o", str(tmp_path / "swout"), "--resume", "-j", "1"],
                  "another exodiff sweep is writing")
    assert not (tmp_path / "swout").exists()


# --------------------------------------------------------------------------
# 7. Workers die with their parent


def test_pool_workers_exit_when_parent_is_killed(tmp_path):
    code = textwrap.dedent("""
        import sys, time
        from exodiff.studies.executors import ProcessPool
        pool = ProcessPool(2, start_method=sys.argv[1])
        pool.start()
        list(pool.map_unordered(time.sleep, [0.5] * 4))  # spawn starts workers as work arrives
        print(" ".join(str(p) for p in pool._pool._processes), flush=True)
        time.sleep(120)
    """)
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT)
    for method in ("fork", "spawn"):
        proc = subprocess.Popen([sys.executable, "-c", code, method], stdout=subprocess.PIPE, text=True, env=env)
        try:
            pids = [int(p) for p in proc.stdout.readline().split()]
            assert len(pids) == 2
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            deadline = time.time() + 10
            alive = pids
            while alive and time.time() < deadline:
                time.sleep(0.1)
                alive = [p for p in pids if _alive(p)]
            assert not alive, f"workers {alive} outlived their parent ({method})"
        finally:
            if proc.poll() is None:
                proc.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# --------------------------------------------------------------------------
# 8. Where a scenario file may write and read; escaped names


@pytest.mark.parametrize("line,key", [
    ('[output]\ndirectory = "../../x"\n', "output.directory"),
    ('[output]\ndirectory = "/tmp/exodiff-outside"\n', "output.directory"),
])
def test_output_directory_stays_in_the_scenario_folder(tmp_path, capsys, line, key):
    d = tmp_path / "a" / "b"
    d.mkdir(parents=True)
    f = scenario(d, GOOD + line)
    one_error(capsys, ["run", str(f)], f"{key}: got")
    assert entries(tmp_path) == ["a"] and not Path("/tmp/exodiff-outside").exists()
    assert cli.main(["validate", "--allow-outside", str(f)]) == 0
    capsys.readouterr()


def test_relative_output_directory_is_beside_the_scenario(tmp_path, monkeypatch):
    from exodiff.scenario.core import load_scenario

    d = tmp_path / "study"
    d.mkdir()
    f = scenario(d, GOOD + '[output]\ndirectory = "results/x"\n')
    monkeypatch.chdir(tmp_path)
    assert Path(load_scenario(Path("study") / "s.toml").resolved["output"]["directory"]) == Path("study/results/x")
    assert load_scenario(f).resolved["output"]["directory"] == str(d / "results" / "x")


def test_size_distribution_cannot_read_elsewhere(tmp_path, capsys):
    f = scenario(tmp_path, VESICLE.replace('"nta.csv"', '"/etc/passwd"'))
    one_error(capsys, ["validate", str(f)], "formulation.size_distribution: got \"/etc/passwd\"")
    (tmp_path / "sub").mkdir()
    link = tmp_path / "nta.csv"
    link.symlink_to("/etc/hostname")  # a symlink out of the folder is outside too
    line = one_error(capsys, ["validate", str(scenario(tmp_path, VESICLE))], "size_distribution")
    assert "nta.csv" in line


def test_names_are_escaped_in_markdown_and_csv(tmp_path):
    import xarray as xr

    from exodiff.report import compare_table

    table = xr.Dataset({"delivered_dermis": ("variant", [0.5, 0.25]),
                        "target_layer": ("variant", ["=cmd|' /C calc'!A0", "dermis"])},
                       coords={"variant": ["a", "b"], "title": ("variant", ["<script>alert(1)</script>", "+1"])})
    table.attrs = {"times_h": [], "species": []}
    md = compare_table.to_markdown(table)
    assert "<script>" not in compare_table.markdown_text("<script>alert(1)</script>") and "&lt;script&gt;" in \
        compare_table.markdown_text("<script>")
    assert "<" not in md.replace("&lt;", "")
    text = compare_table.to_csv(table, tmp_path / "m.csv")
    assert "'=cmd" in text and "'+1" in text and "\n=" not in text and ",=" not in text
    back = compare_table.read_csv(tmp_path / "m.csv")
    assert back["a"]["target_layer"] == "=cmd|' /C calc'!A0" and back["b"]["title"] == "+1"


# --------------------------------------------------------------------------
# 10. validate checks what sweep and compare check


def test_validate_checks_sweep_and_compare_tables(tmp_path, capsys):
    f = scenario(tmp_path, GOOD + '[sweep]\n"formulation.diameterr" = ["50 nm"]\n')
    one_error(capsys, ["validate", str(f)], 'sweep."formulation.diameterr"')
    f = scenario(tmp_path, GOOD + '[compare.variants.thick]\n"formulation.vehicle_thickness" = "20 m"\n', "c.toml")
    one_error(capsys, ["validate", str(f)], "compare.variants.thick: formulation.vehicle_thickness")
    f = scenario(tmp_path, GOOD + '[sweep]\n"simulation.duration" = ["1 h", "2 h"]\n', "ok.toml")
    assert cli.main(["validate", str(f)]) == 0
    assert "sweep of 2 points" in capsys.readouterr().out


def test_an_absurd_cell_count_is_refused_at_once(tmp_path, capsys):
    """nr = 1e30 made the grid planner count cells past int64 and loop for ever (found by the fuzzer)."""
    f = scenario(tmp_path, with_key(MICRONEEDLE, "simulation",
                                    "resolution = { nr = 1000000000000000000000000000000, nz = 12 }"))
    t0 = time.perf_counter()
    # beyond 64 bits: refused by the shape check of every integer (scenario.core.INT64) before the grid's range
    line = one_error(capsys, ["validate", str(f)], "expected a whole number within 64 bits")
    assert "simulation.resolution.nr" in line
    f = scenario(tmp_path, with_key(MICRONEEDLE, "simulation", "resolution = { nr = 1000000000000000000, nz = 12 }"))
    line = one_error(capsys, ["validate", str(f)], "expected a whole number in [4, 1e+10]")
    assert "simulation.resolution.nr" in line
    assert time.perf_counter() - t0 < 10


SERUM = (ROOT / "scenarios" / "regimen_serum_twice_daily.toml").read_text()


@pytest.mark.parametrize("text, key", [
    # closing within a nanosecond: the unit cell's concentration went 44 % of its peak negative
    (with_key(MICRONEEDLE, "delivery", 'closure_time = "1e-9 s"'), "delivery.closure_time"),
    # a 1 nm channel: 18 % of the peak negative; a 1e-200 m tip: ZeroDivisionError
    (with_key(MICRONEEDLE, "delivery", 'channel_diameter = "1 nm"'), "delivery.channel_diameter"),
    (with_key(MICRONEEDLE, "delivery", 'tip_diameter = "1e-12 m"'), "delivery.tip_diameter"),
    # a 1 nm channel (given, or a needle length x a tiny penetration efficiency): the step collapsed at t = 0
    (with_key(MICRONEEDLE, "delivery", 'channel_depth = "1 nm"'), "delivery.channel_depth"),
    # plasma NaN or infinite
    (SERUM.replace('volume = "42 L"', 'volume = "1e-12 L"'), "systemic.volume"),
    (SERUM.replace('half_life = "5 h"', 'half_life = "1e-9 s"'), "systemic.half_life"),
])
def test_physically_absurd_geometry_and_plasma_are_refused(tmp_path, capsys, text, key):
    """Values inside the old ranges that broke the solvers or the plasma model: one line naming the key."""
    f = scenario(tmp_path, text)
    line = one_error(capsys, ["validate", str(f)], key)
    assert entries(tmp_path) == ["s.toml"]
    assert "expected" in line


EXTREME = """
[meta]
name = "extreme"
[skin]
preset = "none"
bottom = "sink"
[skin.layers.stratum_corneum]
thickness = "{thickness}"
diffusivity = "{diffusivity}"
partition = {k_sc}
[skin.layers.dermis]
thickness = "1000 um"
diffusivity = "1e-10 m^2/s"
partition = {k_de}
[formulation]
kind = "small_molecule"
molecular_weight = "194 g/mol"
log_kow = -0.07
concentration = "1 mg/mL"
[delivery]
method = "topical"
[simulation]
duration = "8 h"
"""


@pytest.mark.parametrize("values, named", [
    # D 1e150 m^2/s overflowed numpy (a warning on stderr) and stopped the kernel on a non-finite vehicle
    (dict(thickness="0.001 um", diffusivity="1e150 m^2/s", k_sc=1e12, k_de=1e-12),
     "skin.layers.stratum_corneum.diffusivity = 1e+150 m^2/s"),
    # physical keys each, extreme together: the step collapsed at t = 0, naming no key
    (dict(thickness="0.001 um", diffusivity="1e-4 m^2/s", k_sc=1, k_de=1),
     "skin.layers.stratum_corneum.diffusivity = 0.0001 m^2/s"),
    (dict(thickness="15 um", diffusivity="1e-4 m^2/s", k_sc=1e12, k_de=1e12),
     "the film and stratum_corneum runs at"),
])
def test_a_solver_stopped_by_extreme_coefficients_names_them(tmp_path, capsys, values, named):
    """Representable but extreme coefficients stop the kernel: one line naming the scenario keys at fault."""
    f = scenario(tmp_path, EXTREME.format(**values))
    line = one_error(capsys, ["run", str(f), "-o", str(tmp_path / "out")], "beyond what the solver resolves")
    assert named in line and "skin.layers.stratum_corneum.partition" in line
    assert entries(tmp_path) == ["s.toml"]


def test_the_failure_hint_takes_layers_that_hold_nothing_and_overflow():
    """A layer of partition 0 (allowed: it takes nothing up) divided by zero in the hint, which would have turned
    a solver's one-line error into a traceback; rates beyond float64 read as inf."""
    from exodiff.problem.base import Layer
    from exodiff.solvers.common import extreme_coefficients

    closed = [Layer("stratum_corneum", 15e-6, 1e-14, 0.0), Layer("dermis", 1e-3, 1e-10, 1.0)]
    assert extreme_coefficients(closed, [1e-6, 1e-5], 20e-6) == ""
    assert extreme_coefficients(closed, [1e-6, 0.0], 0.0) == ""
    huge = [Layer("stratum_corneum", 15e-6, 1e200, 1e200), Layer("dermis", 1e-3, 1e200, 0.0)]
    hint = extreme_coefficients(huge, [1e-6, 1e-5], 20e-6)
    assert "runs at inf 1/s" in hint and "skin.layers.stratum_corneum.diffusivity = 1e+200" in hint


def test_shipped_scenarios_are_far_from_the_extreme_coefficients():
    """Every shipped scenario's fastest exchange is 100x below the failure hint's threshold (else a failure there
    would blame coefficients that are physical), and a partition jump alone is not blamed: vesicles enter the SC
    at K ~ 1e-9 and run."""
    from exodiff.problem.layered import problem_from_scenario
    from exodiff.solvers.common import EXTREME_RATE, extreme_coefficients

    rates = {}
    for path in sorted((ROOT / "scenarios").glob("*.toml")):
        sc = exodiff.load_scenario(path)
        if "sweep" in sc.user or "population" in sc.user or "compare" in sc.user:
            continue
        p = problem_from_scenario(sc.resolved)
        widths = p.grid.thinnest_cells()
        h = 0.0 if p.vehicle == "infinite" else p.vehicle_thickness
        assert extreme_coefficients(p.layers, widths, h) == "", path.name
        assert extreme_coefficients(p.layers, widths, h, limit=EXTREME_RATE / 100) == "", path.name
        # every face named: the hint reads the largest rate
        rates[path.name] = float(extreme_coefficients(p.layers, widths, h, limit=0.0).split(" runs at ")[1].split()[0])
    assert len(rates) >= 5 and 0.0 < max(rates.values()) < EXTREME_RATE / 100


@pytest.mark.parametrize("where", ["source", "override", "list"])
def test_a_python_scenario_nested_beyond_recursion_names_its_key(where):
    """A dict or list nested 5000 deep from Python: one issue naming the key (was a RecursionError)."""
    deep = 1
    for _ in range(5000):
        deep = [deep] if where == "list" else {"a": deep}
    with pytest.raises(exodiff.ScenarioError) as err:
        if where == "override":
            exodiff.load_scenario(ROOT / "scenarios" / "topical_caffeine.toml",
                                  overrides={"skin.layers.dermis.thickness": deep})
        else:
            exodiff.load_scenario({"meta": {"name": "deep"},
                                   "simulation": {"output_times": deep} if where == "list" else {"x": deep}})
    text = str(err.value)
    assert "nested more than 16 deep" in text and len(text.splitlines()) == 1
    assert ("skin.layers.dermis.thickness.a" if where == "override" else "simulation.") in text


def test_scenario_get_of_a_non_string_is_a_key_error():
    sc = exodiff.load_scenario(ROOT / "scenarios" / "topical_caffeine.toml")
    for bad in (None, 3, ("skin",)):
        with pytest.raises(KeyError, match="expected a dotted key"):
            sc.get(bad)
    assert sc.get("skin.layers.dermis.thickness") > 0


def test_a_compare_variant_giving_one_key_twice_is_refused(tmp_path, capsys):
    """A dotted key and the same key inside a table in one variant: one silently won; now one line naming it."""
    text = GOOD + textwrap.dedent("""
        [compare.variants.a]
        "formulation.concentration" = "2 mg/mL"
        formulation = { concentration = "3 mg/mL" }

        [compare.variants.b]
        "formulation.vehicle_thickness" = "10 um"
        """)
    f = scenario(tmp_path, text)
    line = one_error(capsys, ["validate", str(f)], "compare.variants.a: formulation.concentration")
    assert "two values" in line and "one value per key" in line


@pytest.mark.parametrize("diffusivity, named", [
    # a division by zero inside the unit-cell kernel: a ZeroDivisionError traceback from `exodiff run`
    ("1e150 m^2/s", "skin.layers.viable_epidermis.diffusivity"),
    # the step collapsed at t = 0 naming no key
    ("1e-4 m^2/s", "the film and the open channel"),
])
def test_a_unit_cell_stopped_by_extreme_coefficients_names_them(tmp_path, capsys, diffusivity, named):
    """A free diffusivity far beyond any liquid's through microneedle channels: one line naming what is at fault."""
    text = (ROOT / "scenarios" / "microneedle_msc_exosome.toml").read_text()
    text = text.replace('preset = "msc_exosome"', f'preset = "msc_exosome"\nfree_diffusivity = "{diffusivity}"', 1)
    f = scenario(tmp_path, text)
    line = one_error(capsys, ["run", str(f), "-o", str(tmp_path / "out")], "beyond what the solver resolves")
    assert named in line
    assert entries(tmp_path) == ["s.toml"]


def test_shipped_unit_cells_are_far_from_their_extreme_coefficients():
    """The r-z limit (lower: its factorised stages give way from ~1.7e7 1/s) is 100x above every shipped
    microneedle, laser and follicle scenario's fastest exchange, open channel included."""
    import exodiff.solvers.common as common
    from exodiff.problem.layered import problem_from_scenario
    from exodiff.run import _unit_cell
    from exodiff.solvers.unit_cell import _hint_arguments

    rates = {}
    for path in sorted((ROOT / "scenarios").glob("*.toml")):
        sc = exodiff.load_scenario(path)
        if "sweep" in sc.user or "population" in sc.user or "compare" in sc.user:
            continue
        prz = _unit_cell(sc.resolved, problem_from_scenario(sc.resolved))
        if prz is None:
            continue
        *args, limit = _hint_arguments(prz)
        assert limit == common.EXTREME_RATE_RZ and args[3] is not None  # the channel is in the hint
        hint = common.extreme_coefficients(*args, limit=0.0)  # every face named: the hint reads the largest rate
        rates[path.name] = float(hint.split(" runs at ")[1].split()[0])
    assert len(rates) >= 4 and max(rates.values()) < common.EXTREME_RATE_RZ / 100, rates


def test_a_session_at_every_one_of_100000_applications_validates():
    """The documented maximum of applications, each with a procedure session: the sessions were matched to the
    applications by a scan of all of them per session (about 5 minutes to validate); now a bisection."""
    sc = exodiff.load_scenario(
        ROOT / "scenarios" / "regimen_microneedle_monthly.toml",
        overrides={"regimen.interval": "1 min", "regimen.applications": 100000, "regimen.procedure_interval": "1 min",
                   "simulation.duration": "100000 min", "output.profile_times": None})
    sessions = sc.resolved["regimen"]["procedure_times"]
    assert len(sessions) == 100000 and sessions[1] == 60.0 and sessions[-1] == 99999 * 60.0


def test_a_compare_whose_variant_fails_prints_one_line_off_a_terminal(tmp_path, capsys):
    """"running 3 variants" and "[1/3] ..." went to stderr before a failing variant's error line; progress lines
    now go to a terminal only (capsys is not one)."""
    text = GOOD + textwrap.dedent("""
        [compare.variants.plain]

        [compare.variants.extreme]
        "skin.layers.membrane.diffusivity" = "1e150 m^2/s"
        "skin.layers.membrane.partition" = 1e12
        """)
    f = scenario(tmp_path, text)
    one_error(capsys, ["compare", str(f), "-o", str(tmp_path / "out"), "-j", "1"], "variant extreme")
    assert entries(tmp_path) == ["s.toml"]


@pytest.mark.parametrize("key, value, given, bound", [
    # rounded to 4 digits the value equalled the bound it passes: "got 70 um; expected ... no larger than (70 um)"
    ("delivery.tip_diameter", '"70.001 um"', "70.001 um", "(70 um)"),
    ("delivery.channel_diameter", '"10.001 mm"', "(= 0.010001 m)", "0.01] m"),
    # equal to the skin (1174.9 um was printed "1175")
    ("delivery.channel_depth", '"1174.9 um"', "1174.9 um", "(1174.9 um from"),
])
def test_a_value_just_past_its_bound_is_told_apart_from_it(tmp_path, capsys, key, value, given, bound):
    text = (ROOT / "scenarios" / "microneedle_msc_exosome.toml").read_text()  # a 1.0 mm dermaroller: 70 um
    section, name = key.split(".")  # channels in the forearm's 1174.9 um of skin
    f = scenario(tmp_path, with_key(text, section, f"{name} = {value}"))
    line = one_error(capsys, ["validate", str(f)], key)
    assert given in line and bound in line, line


def test_a_follicle_density_covering_the_skin_names_its_own_key(tmp_path, capsys):
    """Follicles covering the whole surface: the error named delivery.density, a key a follicle scenario does not
    take."""
    text = (ROOT / "scenarios" / "topical_follicles_liposome.toml").read_text()
    f = scenario(tmp_path, with_key(text, "delivery", 'follicle_density = "22700 1/cm^2"'))
    line = one_error(capsys, ["validate", str(f)], "delivery.follicle_density")
    assert "follicles covering less than 100 %" in line and "(this gives 100." in line


def test_a_laser_given_both_density_and_coverage_is_refused(tmp_path, capsys):
    """Both set the zones per area; the density won and the coverage was dropped without a word."""
    text = (ROOT / "scenarios" / "laser_plant_exosome.toml").read_text()
    f = scenario(tmp_path, with_key(text, "delivery", 'density = "100 1/cm^2"'))
    line = one_error(capsys, ["validate", str(f)], "delivery.coverage")
    assert "delivery.density" in line


@pytest.mark.parametrize("text, key", [
    (GOOD + '[delivery]\nmethod = "topical"\nfollicle_density = "18 1/cm^2"\n', "delivery.follicle_density"),
    (GOOD + '[delivery]\nmethod = "topical"\nfollicle_depth = "500 um"\n', "delivery.follicle_depth"),
])
def test_keys_that_would_change_nothing_are_refused(tmp_path, capsys, text, key):
    """An independent check found follicle keys accepted and silently ignored without follicles = true: now
    one line naming the key.  (A unit cell's grid keys, nr and nz, in a 1D run stay allowed: a [compare] or
    [sweep] base sets the grid for its channel variants, and its topical ones run in 1D.)"""
    f = scenario(tmp_path, text)
    out = tmp_path / "out"
    err = one_error(capsys, ["run", str(f), "-o", str(out), "--quiet", "--no-plots"], key)
    assert "s.toml" in err and not out.exists()


@pytest.mark.parametrize("flag", [["--top", "3"], ["--minimize"]])
def test_sweep_table_options_without_best_are_refused(tmp_path, capsys, flag):
    """``--top`` and ``--minimize`` only shape the ``--best`` table: without it they did nothing."""
    f = ROOT / "scenarios" / "sweep_membrane.toml"
    if not f.exists():
        f = next((ROOT / "scenarios").glob("sweep_*.toml"))
    out = tmp_path / "out"
    one_error(capsys, ["sweep", str(f), "-o", str(out), *flag], f"{flag[0]} given without --best")
    assert not out.exists()


def test_messages_name_what_was_meant(tmp_path, capsys):
    """Three messages an independent check found unclear: a table's key written above every table pointed at a
    look-alike table name ("simulation") instead of where it goes; an output directory a scenario chose that is
    a file named neither the scenario nor its key and pointed at a -o nobody gave; and a count beyond 64 bits
    suggested an exponent, which a count then refused."""
    f = scenario(tmp_path, 'duration = "1 h"\n' + GOOD)
    one_error(capsys, ["validate", str(f)], 'did you mean "simulation.duration" (under [simulation])?')
    (tmp_path / "afile").write_text("")
    f = scenario(tmp_path, GOOD + '[output]\ndirectory = "afile"\n')
    err = one_error(capsys, ["run", str(f), "--quiet", "--no-plots"], "s.toml: output.directory: got")
    assert "(output.directory, or -o DIR on the command line)" in err
    f = scenario(tmp_path, GOOD + "[population]\nsize = 100000000000000000000000000\n")
    status = cli.main(["validate", str(f)])
    err = capsys.readouterr().err
    assert status == 2 and "population.size" in err and "a count" in err and "cannot be larger" in err


def test_a_study_base_may_set_follicle_keys_for_its_variants():
    """A [compare] base with follicles and a variant that switches them off: the base's follicle_density is
    meant for the other variant, so it is not refused there (a plain scenario file would be)."""
    from exodiff.studies import compare

    base = {"skin": {"preset": "forearm"}, "formulation": {"preset": "msc_exosome"},
            "simulation": {"duration": "2 h"},
            "delivery": {"method": "topical", "follicles": True, "follicle_density": "20 1/cm^2"},
            "compare": {"variants": {"without": {"delivery.follicles": False}, "with": {}}}}
    plan = compare.prepare(base)
    assert [v.name for v in plan.variants] == ["without", "with"]


def test_run_refuses_a_broken_study_table_as_validate_does(tmp_path, capsys):
    """`exodiff run` does not run a [population] table, but it ran and wrote results beside one that
    `exodiff validate` refused (an independent check): now the same one line, nothing written."""
    f = scenario(tmp_path, GOOD + '[population]\nsize = "many"\nbody_site = "forearm"\n')
    out = tmp_path / "out"
    one_error(capsys, ["run", str(f), "-o", str(out), "--quiet", "--no-plots"], "population.size")
    assert not out.exists()
    one_error(capsys, ["validate", str(f)], "population.size")
