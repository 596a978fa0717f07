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
    names = ["1D column", "1D columns (size classes, cargo)", "1D columns (cargo released in the film)",
             "1D columns (penetration enhancement)", "batched 1D sweep kernel", "unit cell, serial"]
    for name in names:
        assert f"  {name}: " in out
    assert "unit cell, parallel" not in out
    again = orchestrator.warm_all(parallel=False)
    assert [n for n, _, _ in again] == names
    assert all(cached for _, _, cached in again)
