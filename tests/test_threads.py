"""Threads of the parallel r-z kernel: the layer, the free cores, the automatic fallback to serial.

The policy (exodiff/kernels/threads.py, docs/performance.md): ``auto``
uses threads only on a layer with cheap launches (omp, tbb); each kernel
call then runs in parallel only on cores no other process is running on at
that moment, and never while another thread of the process holds a
parallel launch; the answers of mixed serial and parallel calls are those of one
serial run (to the reduction order, 1e-11).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from exodiff.kernels import threads
from exodiff.problem.layered import Layer
from exodiff.problem.unit_cell import ProblemRZ
from exodiff.solvers import unit_cell as solve_rz

HOUR = 3600.0


def loadavg(tmp_path, running: int, total: int = 200) -> str:
    path = tmp_path / "loadavg"
    path.write_text(f"1.50 1.20 0.90 {running}/{total} 12345\n")
    return str(path)


def tasks(tmp_path, states: str) -> str:
    """A fake ``/proc/self/task``: one thread per letter of ``states`` (R running, S sleeping, ...)."""
    root = tmp_path / "task"
    for k, st in enumerate(states):
        (root / str(100 + k)).mkdir(parents=True)
        # a command name with spaces and a parenthesis, as /proc may show
        (root / str(100 + k) / "stat").write_text(f"{100 + k} (numba (omp) w) {st} 1 2 3 4 5\n")
    return str(root)


def test_others_running_reads_the_run_queue_without_this_process(tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "OWN_TASKS", tasks(tmp_path, "RS"))  # the caller running, a thread asleep
    monkeypatch.setattr(threads, "LOADAVG", loadavg(tmp_path, running=3))
    assert threads.others_running() == 2.0
    monkeypatch.setattr(threads, "cores", lambda: 2)
    assert threads.free_cores() == 1           # two others on two cores: none free, but never below one
    monkeypatch.setattr(threads, "LOADAVG", loadavg(tmp_path, running=1))
    assert threads.others_running() == 0.0 and threads.free_cores() == 2
    monkeypatch.setattr(threads, "LOADAVG", loadavg(tmp_path, running=9))
    assert threads.free_cores() == 1           # never below one


def test_others_running_leaves_out_this_process_s_own_spinning_threads(tmp_path, monkeypatch):
    """OpenMP threads spinning after a parallel loop are this process's: three runnable on the machine, two of
    them ours (the caller and a spinning worker), is one other; ours sleeping, two others."""
    monkeypatch.setattr(threads, "LOADAVG", loadavg(tmp_path, running=3))
    monkeypatch.setattr(threads, "OWN_TASKS", tasks(tmp_path / "a", "RSR"))
    assert threads.own_running() == 2 and threads.others_running() == 1.0
    monkeypatch.setattr(threads, "OWN_TASKS", tasks(tmp_path / "b", "RSS"))
    assert threads.others_running() == 2.0
    monkeypatch.setattr(threads, "OWN_TASKS", str(tmp_path / "none"))  # no /proc/self/task: the caller alone
    assert threads.own_running() == 1 and threads.others_running() == 2.0
    monkeypatch.setattr(threads, "OWN_TASKS", tasks(tmp_path / "c", "SSS"))  # the caller always counts
    assert threads.own_running() == 1


def test_own_running_sees_this_process_s_threads():
    """On Linux the real ``/proc/self/task``: the caller is running while it reads."""
    if not os.path.isdir("/proc/self/task"):
        pytest.skip("no /proc")
    assert threads.own_running() >= 1


def test_free_cores_falls_back_to_the_load_average(tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "LOADAVG", str(tmp_path / "missing"))
    monkeypatch.setattr(os, "getloadavg", lambda: (0.9, 0.5, 0.2))
    monkeypatch.setattr(threads, "cores", lambda: 4)
    assert threads.others_running() == 0.9
    assert threads.free_cores() == 3


def test_parallel_threads_is_capped_by_numba_and_by_free_cores(tmp_path, monkeypatch):
    import numba

    monkeypatch.setattr(threads, "cores", lambda: 8)
    monkeypatch.setattr(threads, "OWN_TASKS", tasks(tmp_path, "R"))
    monkeypatch.setattr(threads, "LOADAVG", loadavg(tmp_path, running=1))
    assert threads.parallel_threads() == min(8, numba.get_num_threads())
    assert threads.parallel_threads(limit=1) == 1
    monkeypatch.setattr(threads, "LOADAVG", loadavg(tmp_path, running=8))
    assert threads.parallel_threads() == 1


LAYER_PROBE = """
import numba
from exodiff.kernels.threads import layer
print(layer(), numba.threading_layer())
"""


@pytest.mark.parametrize("env", [None, "workqueue"])
def test_layer_is_numbas_own_choice_or_the_users(env):
    environ = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    if env is not None:
        environ["NUMBA_THREADING_LAYER"] = env
    proc = subprocess.run([sys.executable, "-c", LAYER_PROBE], capture_output=True, text=True, env=environ,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    reported, used = proc.stdout.split()
    assert reported == used
    if env is not None:
        assert used == env


def test_auto_stays_serial_on_a_slow_layer(monkeypatch):
    """workqueue's launches cost more than the second core gives the r-z loop: auto does not use it."""
    monkeypatch.setattr(solve_rz, "PARALLEL_THRESHOLD", 0)
    monkeypatch.setattr(solve_rz, "_numba_threads", lambda: 2)
    monkeypatch.setattr(solve_rz, "parallel_kernel_ready", lambda: True)
    monkeypatch.setattr(threads, "cores", lambda: 2)
    monkeypatch.setattr(solve_rz, "_layer", lambda: "workqueue")
    assert solve_rz.use_parallel(small_cell()) is False
    monkeypatch.setattr(solve_rz, "_layer", lambda: "omp")
    assert solve_rz.use_parallel(small_cell()) is True


def small_cell() -> ProblemRZ:
    return ProblemRZ.from_layers([Layer("sc", 15e-6, 1e-13, 1.0), Layer("dermis", 200e-6, 1e-11, 1.0)],
                                 channel_radius=10e-6, channel_depth=100e-6, density=1e8, open_diffusivity=1e-11,
                                 closure_time=2 * HOUR, output_times=np.linspace(0.0, 6 * HOUR, 13),
                                 resolution=(8, 16))


@pytest.fixture
def auto_for_small_grids(monkeypatch):
    """``auto`` considers the parallel loop for the small test grid (and the loop is compiled)."""
    monkeypatch.setattr(solve_rz, "PARALLEL_THRESHOLD", 0)
    monkeypatch.setattr(solve_rz, "_numba_threads", lambda: 2)
    monkeypatch.setattr(solve_rz, "_layer", lambda: "omp")
    monkeypatch.setattr(threads, "cores", lambda: 2)
    monkeypatch.setattr(solve_rz, "DECIDE_EVERY_S", 0.0)   # no call is shorter: a new decision at every stop
    solve_rz.warm_serial(parallel=True)
    assert solve_rz.parallel_kernel_ready()


def rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def test_auto_runs_serial_when_no_core_is_free(monkeypatch, auto_for_small_grids):
    monkeypatch.setattr(threads, "parallel_threads", lambda limit=None: 1)
    raw = solve_rz.integrate_rz(small_cell())
    calls = raw.stats["kernel_calls"]
    assert calls["parallel"] == 0 and calls["serial"] >= 12
    assert raw.stats["parallel"] is False


def test_auto_runs_parallel_on_free_cores_and_matches_the_serial_run(monkeypatch, auto_for_small_grids):
    ref = solve_rz.integrate_rz(small_cell(), parallel=False)
    monkeypatch.setattr(threads, "parallel_threads", lambda limit=None: 2)
    raw = solve_rz.integrate_rz(small_cell())
    assert raw.stats["kernel_calls"]["parallel"] >= 12 and raw.stats["kernel_calls"]["serial"] == 0
    assert raw.stats["kernel_calls"]["threads"] == 2
    assert raw.stats["steps"] == ref.stats["steps"]
    assert rel(raw.u, ref.u) < 1e-11 and rel(raw.comp, ref.comp) < 1e-11


def test_auto_switches_between_calls_as_cores_come_and_go(monkeypatch, auto_for_small_grids):
    ref = solve_rz.integrate_rz(small_cell(), parallel=False)
    answers = iter([2, 1] * 100)
    monkeypatch.setattr(threads, "parallel_threads", lambda limit=None: next(answers))
    raw = solve_rz.integrate_rz(small_cell())
    calls = raw.stats["kernel_calls"]
    assert calls["parallel"] >= 6 and calls["serial"] >= 6
    assert raw.stats["steps"] == ref.stats["steps"]
    assert rel(raw.u, ref.u) < 1e-11 and rel(raw.comp, ref.comp) < 1e-11


def test_auto_runs_serial_while_another_thread_holds_a_parallel_launch(monkeypatch, auto_for_small_grids):
    monkeypatch.setattr(threads, "parallel_threads", lambda limit=None: 2)
    out = {}
    with threads.PARALLEL_LAUNCH:      # as a batched sweep's kernel thread does
        worker = threading.Thread(target=lambda: out.setdefault("raw", solve_rz.integrate_rz(small_cell())))
        worker.start()
        worker.join(timeout=300)
    assert out["raw"].stats["kernel_calls"]["parallel"] == 0
    # released: the same run goes parallel again
    assert solve_rz.integrate_rz(small_cell()).stats["kernel_calls"]["parallel"] > 0


def test_auto_leaves_an_uncompiled_parallel_loop_to_exodiff_warm(monkeypatch):
    monkeypatch.setattr(solve_rz, "PARALLEL_THRESHOLD", 0)
    monkeypatch.setattr(solve_rz, "_numba_threads", lambda: 2)
    monkeypatch.setattr(solve_rz, "_layer", lambda: "omp")
    monkeypatch.setattr(threads, "cores", lambda: 2)
    monkeypatch.setattr(solve_rz, "parallel_kernel_ready", lambda: False)
    assert solve_rz.use_parallel(small_cell()) is False
    assert solve_rz.use_parallel(small_cell(), parallel=True) is True
    monkeypatch.setattr(solve_rz, "parallel_kernel_ready", lambda: True)
    assert solve_rz.use_parallel(small_cell()) is True


def test_short_calls_grow_so_python_runs_a_few_times_per_run(monkeypatch, auto_for_small_grids):
    # every call shorter than DECIDE_EVERY_S: the calls double (1, 2, 4, 8 stops), not one per output
    monkeypatch.setattr(solve_rz, "DECIDE_EVERY_S", 1e9)
    monkeypatch.setattr(threads, "parallel_threads", lambda limit=None: 1)
    p = small_cell()
    n_stops = solve_rz.stop_list_rz(p)[0].size
    calls = solve_rz.integrate_rz(p).stats["kernel_calls"]
    assert calls["serial"] == int(np.ceil(np.log2(n_stops + 1)))


def test_compile_notice_of_a_large_grid_points_to_exodiff_warm(monkeypatch):
    """A grid big enough for the parallel loop, which is not compiled: the run goes serial and the notice says why."""
    from pathlib import Path

    import exodiff
    from exodiff import run as orchestrator

    sc = exodiff.load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "microneedle_msc_exosome.toml")
    monkeypatch.setattr(solve_rz, "PARALLEL_THRESHOLD", 0)
    monkeypatch.setattr(solve_rz, "_numba_threads", lambda: 2)
    monkeypatch.setattr(solve_rz, "_layer", lambda: "omp")
    monkeypatch.setattr(threads, "cores", lambda: 2)
    monkeypatch.setattr(solve_rz, "parallel_kernel_ready", lambda: False)
    monkeypatch.setattr(solve_rz, "kernel_cached", lambda parallel: False)
    line = orchestrator.compile_notice(sc)
    assert line.startswith("compiling the unit-cell solver") and "`exodiff warm` compiles the parallel one" in line
    # a small grid says nothing of the parallel loop
    monkeypatch.setattr(solve_rz, "PARALLEL_THRESHOLD", 10**9)
    assert "exodiff warm" not in orchestrator.compile_notice(sc)
