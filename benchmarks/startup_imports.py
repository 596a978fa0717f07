"""Where a warm ``exodiff run`` spends its start-up: ``python -X importtime`` per package, A/B against a checkout.

Runs ``python -X importtime -m exodiff run SCENARIO --no-plots --quiet -o DIR``
in fresh processes (warm Numba cache: one run first to fill it), alternating
between this checkout and ``--against`` (another checkout, e.g. a worktree
of main), ``--rounds`` times each; keeps each checkout's run with the least
total import time, and prints the process wall times (best and median)
and CPU times, then a Markdown table of the packages with the largest import time (the
self time of all their modules, ms), with the load average at the start and
the end.  docs/performance.md, "Start-up", shows its output.

Usage (repository root)::

    python benchmarks/startup_imports.py --against /path/to/main/checkout --rounds 5
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def one_run(tree: Path, scenario: str, out: str) -> tuple[float, float, str]:
    """Wall time, CPU time (user + system, s) and the importtime report of one warm ``exodiff run`` of ``tree``.

    CPU time moves less with the load than wall time on a shared machine.
    """
    # each checkout its own Numba cache (a cache entry is keyed by the kernel file's path)
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(tempfile.gettempdir(), "numba-startup")
    env = dict(os.environ, PYTHONPATH=str(tree), NUMBA_CACHE_DIR=f"{base}-{tree.name}")
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "exodiff", "run", scenario, "--no-plots",
                           "--quiet", "-o", out], cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: exodiff run failed:\n{proc.stderr[-2000:]}")
    return wall, cpu, proc.stderr


def by_package(report: str) -> tuple[collections.Counter, int]:
    """Self import time per top-level package (us), and the total."""
    per = collections.Counter()
    for line in report.splitlines():
        m = LINE.match(line)
        if m:
            per[m.group(4).split(".")[0]] += int(m.group(1))
    return per, sum(per.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", type=Path, help="another checkout to compare with (the 'before' column)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scenario", default="scenarios/topical_caffeine.toml")
    ap.add_argument("--top", type=int, default=16)
    args = ap.parse_args()
    trees = ([args.against.resolve()] if args.against else []) + [ROOT]
    print(f"load average at the start: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        for tree in trees:  # fill each checkout's Numba cache
            one_run(tree, args.scenario, os.path.join(tmp, tree.name))
        walls = {t: [] for t in trees}
        cpus = {t: [] for t in trees}
        best = {}
        for _ in range(args.rounds):
            for tree in trees:
                wall, cpu, report = one_run(tree, args.scenario, os.path.join(tmp, tree.name))
                walls[tree].append(wall)
                cpus[tree].append(cpu)
                per, total = by_package(report)
                if tree not in best or total < best[tree][1]:
                    best[tree] = (per, total)
    print(f"load average at the end: {load()}")
    for tree in trees:
        w, c = walls[tree], cpus[tree]
        print(f"{tree}: process wall best {min(w):.2f} s, median {statistics.median(w):.2f} s; "
              f"CPU (user + system) best {min(c):.2f} s, median {statistics.median(c):.2f} s ({len(w)} runs)")
    cols = [best[t] for t in trees]
    names = sorted({k for per, _ in cols for k in per}, key=lambda k: -sum(per[k] for per, _ in cols))[:args.top]
    head = " | ".join(t.name for t in trees)
    print(f"\n| package (self time of its modules, ms) | {head} |\n|---|{'---|' * len(trees)}")
    for k in names:
        print(f"| {k} | " + " | ".join(f"{per[k] / 1e3:.0f}" for per, _ in cols) + " |")
    print("| **all imports** | " + " | ".join(f"**{total / 1e3:.0f}**" for _, total in cols) + " |")


if __name__ == "__main__":
    main()
