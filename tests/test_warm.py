"""``exodiff warm``: every kernel variant compiled (or loaded) up front, each named with its time.

Named to run last: by then the suite has compiled these kernels, so this
checks the command and its report, not Numba's compiler speed.
"""

from __future__ import annotations

from exodiff import cli
from exodiff import run as orchestrator


def test_warm_visits_every_kernel_and_a_second_call_finds_them_cached(capsys):
    assert cli.main(["warm", "--no-parallel"]) == 0
    out = capsys.readouterr().out
    names = ["1D column", "1D Krylov propagator", "1D columns (size classes, cargo)", "1D columns (cargo released in the film)",
             "1D columns (penetration enhancement)", "batched 1D sweep kernel", "unit cell, serial"]
    for name in names:
        assert f"  {name}: " in out
    assert "unit cell, parallel" not in out
    again = orchestrator.warm_all(parallel=False)
    assert [n for n, _, _ in again] == names
    assert all(cached for _, _, cached in again)


def test_first_run_warm_up_of_a_regimen_solves_one_second_of_one_application(monkeypatch):
    """``run``'s warm-up before a first run (``orchestrator.warm``) solves the first second of the first
    application: a regimen's later applications (after that second) are left out, so neither the direct
    path runs the kernel on to them nor the superposition meets a run shorter than its interval (which
    failed: the first run of the shipped regimen scenario raised)."""
    from pathlib import Path

    import exodiff
    from exodiff.solvers import layered

    seen = []
    real = layered.integrate

    def spy(problem, *a, **kw):
        raw = real(problem, *a, **kw)
        seen.append((problem, raw))
        return raw

    monkeypatch.setattr(layered, "integrate", spy)
    sc = exodiff.load_scenario(Path(__file__).parents[1] / "scenarios" / "regimen_serum_twice_daily.toml")
    orchestrator.warm(sc)
    (problem, raw), = seen
    assert problem.output_times[-1] == 1.0 and problem.application_times == ()
    assert raw.stats["steps"] < 50
