"""Draw the 1D work-precision curves of ``compare_reference.py --json`` (docs/img/work_precision_1d.png).

Usage (repository root)::

    python benchmarks/compare_reference.py --no-rz --no-startup --json /tmp/wp.json
    python benchmarks/plot_work_precision.py /tmp/wp.json            # writes docs/img/work_precision_1d.png

One panel per grid: for each solver the time (best of N, re-timed) of the
loosest setting that reaches each target error (max over outputs and
regions of |amount - exact| / dose; see compare_reference.py), against the
target; the load average at the end of the run is in the title.  Only the
small JSON of a run is read: no measured data are kept in the repository.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json")
    ap.add_argument("-o", "--output", default=str(ROOT / "docs" / "img" / "work_precision_1d.png"))
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(Path(args.json).read_text())
    table = data["table"]
    grids = sorted({ln["resolution"] for ln in table}, key=lambda g: [ln["resolution"] for ln in table].index(g))
    solvers = [f"exodiff {m}" for m in data["integrators"]] + list(data["methods"])
    fig, axes = plt.subplots(1, len(grids), figsize=(5.5 * len(grids), 4.2), squeeze=False)
    for ax, grid in zip(axes[0], grids):
        lines = [ln for ln in table if ln["resolution"] == grid]
        for name in solvers:
            pts = [(ln["target"], ln[name]["time"] * 1e3) for ln in lines if ln.get(name)]
            if pts:
                x, y = zip(*pts)
                ax.loglog(x, y, "o-" if name.startswith("exodiff") else "s--", label=name)
        ax.invert_xaxis()
        ax.set_xlabel("error reached (fraction of the dose)")
        ax.set_ylabel("time (ms)")
        ax.set_title(f"grid '{grid}', {lines[0]['nodes']} nodes")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"1D benchmark problem, exodiff vs scipy (load {data.get('load', float('nan')):.1f}, 2 cores)")
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
