"""Start-up: a plain ``exodiff run`` or ``validate`` does not import what it does not use.

Each test runs the command line in a fresh interpreter, exactly as the
console script does (``main()`` with the arguments in ``sys.argv``), and
reads ``sys.modules`` when it has finished.  dask and distributed are only
for ``--scheduler`` and ``--dask-local`` (xarray and pint import them
merely to check whether they exist, 0.5 s); matplotlib only when plots are
drawn; ``scipy.linalg`` only for the BLAS probe numba makes, which the
kernels do not need (docs/performance.md, "Start-up").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = str(ROOT / "scenarios" / "topical_caffeine.toml")
WATCHED = ("dask", "distributed", "matplotlib", "scipy.linalg", "numba", "xarray", "pint")

# the console script's own call: main() reads sys.argv; then report which watched modules are loaded
PROBE = """
import json, sys
from exodiff.cli import main
sys.argv = ["exodiff", *json.loads(sys.argv[1])]
status = main()
print("LOADED " + json.dumps({{"status": status,
                               "loaded": sorted(n for n in {watched!r} if sys.modules.get(n) is not None)}}))
"""


def loaded_after(*args: str, cache: Path | None = None) -> tuple[int, set[str]]:
    """Exit status of ``exodiff ARGS`` in a fresh interpreter and the watched modules it left loaded
    (``cache``: exodiff's cache folder, ``$EXODIFF_CACHE_DIR``)."""
    env = dict(os.environ)
    if cache is not None:
        env["EXODIFF_CACHE_DIR"] = str(cache)
    proc = subprocess.run([sys.executable, "-c", PROBE.format(watched=WATCHED), json.dumps(list(args))],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("LOADED ")), None)
    assert line is not None, proc.stdout + proc.stderr
    report = json.loads(line[len("LOADED "):])
    return report["status"], set(report["loaded"])


def test_plain_run_without_plots_loads_no_dask_distributed_matplotlib_or_scipy_linalg(tmp_path):
    status, loaded = loaded_after("run", SCENARIO, "--no-plots", "--quiet", "-o", str(tmp_path / "out"))
    assert status == 0
    assert (tmp_path / "out").is_dir()
    # the run did solve and write its Dataset: the probe sees what it imported
    assert {"numba", "xarray"} <= loaded
    assert not loaded & {"dask", "distributed", "matplotlib", "scipy.linalg"}


def test_a_second_run_answers_its_units_from_the_memo_without_pint(tmp_path):
    """The first run reads its unit texts with pint and keeps the answers; the next one (same texts) does not
    import pint at all, although xarray looks for it on every Dataset (``units.hide_pint``); the results are
    the same numbers."""
    cache = tmp_path / "cache"
    runs = []
    for k in range(2):
        status, loaded = loaded_after("run", SCENARIO, "--no-plots", "--quiet", "-o", str(tmp_path / f"out{k}"),
                                      cache=cache)
        assert status == 0
        runs.append(loaded)
    assert "pint" in runs[0] and "pint" not in runs[1]
    assert list(cache.glob("units-*.json"))
    a, b = (json.loads((tmp_path / f"out{k}" / "summary.json").read_text()) for k in range(2))
    assert a["applied_dose_per_cm2"] == b["applied_dose_per_cm2"] and a["metrics"] == b["metrics"]


def test_run_with_plots_loads_matplotlib_but_not_dask(tmp_path):
    # the probe can see a module that is used: a plotting run loads matplotlib
    status, loaded = loaded_after("run", SCENARIO, "--quiet", "-o", str(tmp_path / "out"))
    assert status == 0
    assert "matplotlib" in loaded
    assert not loaded & {"dask", "distributed"}


def test_validate_loads_no_solver_and_no_dask(tmp_path):
    status, loaded = loaded_after("validate", SCENARIO)
    assert status == 0
    assert not loaded & {"dask", "distributed", "matplotlib", "scipy.linalg", "numba", "xarray"}


def test_without_the_command_lines_rule_xarray_would_import_dask(tmp_path):
    """The rule matters: in a process of its own, writing a Dataset imports dask when it is installed."""
    pytest.importorskip("dask")
    code = ("import sys, numpy as np, xarray as xr\n"
            "xr.Dataset({'a': ('t', np.arange(3.0))}).to_netcdf(sys.argv[1], engine='netcdf4')\n"
            "print('dask' in sys.modules and sys.modules['dask'] is not None)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.nc")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"


def test_main_called_by_a_program_leaves_its_imports_alone(tmp_path):
    """``main([...])`` from a caller's process does not mark dask absent there (a caller may use it later)."""
    pytest.importorskip("dask")
    code = ("import sys\nfrom exodiff.cli import main\n"
            f"assert main(['validate', {SCENARIO!r}]) == 0\n"
            "import dask\nprint(dask.__name__)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("dask")


def test_scheduler_run_is_not_denied_dask():
    """``--scheduler`` keeps dask importable: the rule is skipped for it (the address is refused, not dask)."""
    pytest.importorskip("distributed")
    from exodiff import cli

    args = cli.build_parser().parse_args(["sweep", SCENARIO, "--scheduler", "tcp://127.0.0.1:9"])
    before = {n: sys.modules.get(n, "absent") for n in cli.PROBED_ONLY}
    cli._forgo_dask(args)
    assert {n: sys.modules.get(n, "absent") for n in cli.PROBED_ONLY} == before


def test_the_console_script_ends_at_once_with_mains_status_and_its_exit_handlers_run(tmp_path):
    """``python -m exodiff`` (the console script's ``console()``) leaves by ``os._exit`` once ``main`` returns:
    the outputs are whole, stdout is all there, the exit handlers ran (the units memo is written at exit) and
    the status is main's, 0 or 2."""
    env = dict(os.environ, EXODIFF_CACHE_DIR=str(tmp_path / "cache"))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "exodiff", "run", SCENARIO, "--no-plots", "-o", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "mass balance error" in proc.stdout.splitlines()[-1]  # the summary table's last line, flushed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]
    import xarray as xr

    with xr.open_dataset(out / "result.nc") as ds:
        assert abs(float(ds["fraction"].isel(time=-1).sum()) - 1.0) < 1e-12
    assert list((tmp_path / "cache").glob("units-*.json"))  # written by an exit handler
    bad = tmp_path / "bad.toml"
    bad.write_text(Path(SCENARIO).read_text().replace('[formulation]', '[formulation]\nthickness = "3 zork"', 1))
    proc = subprocess.run([sys.executable, "-m", "exodiff", "run", str(bad), "-o", str(tmp_path / "no")],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "formulation.thickness" in proc.stderr
    assert not (tmp_path / "no").exists()
