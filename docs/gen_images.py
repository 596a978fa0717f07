"""Regenerate the figures of the README (docs/img/) from the shipped scenarios.

Usage (repository root)::

    python docs/gen_images.py            # every figure
    python docs/gen_images.py rz         # only the r-z map

Each figure is exactly what ``exodiff`` writes for that scenario; re-run this
after a change to the physics or the plots, so the README shows what the
committed code computes.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"


def compare_plot() -> Path:
    """Target-layer amount over time of scenarios/compare_topical_formulations.toml."""
    import exodiff

    with tempfile.TemporaryDirectory() as tmp:
        exodiff.compare(ROOT / "scenarios" / "compare_topical_formulations.toml", directory=tmp, jobs=1)
        out = IMG / "compare_topical_formulations.png"
        shutil.copyfile(Path(tmp) / "target_amount.png", out)
    return out


def rz_map() -> Path:
    """r-z maps of scenarios/microneedle_msc_exosome.toml at its profile times."""
    import matplotlib

    matplotlib.use("Agg")
    import exodiff
    from exodiff.report import plotting

    sc = exodiff.load_scenario(ROOT / "scenarios" / "microneedle_msc_exosome.toml")
    ds = exodiff.run(sc)
    fig = plotting.rz_maps(ds, [1.0, 6.0, 24.0], max_depth_um=500.0)
    out = IMG / "microneedle_rz.png"
    fig.savefig(out, dpi=90)
    return out


FIGURES = {"compare": compare_plot, "rz": rz_map}


def main(argv=None) -> int:
    names = list(argv if argv is not None else sys.argv[1:]) or list(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        print(f"unknown figure(s) {unknown}; expected some of {list(FIGURES)}", file=sys.stderr)
        return 2
    IMG.mkdir(parents=True, exist_ok=True)
    for n in names:
        print(f"wrote {FIGURES[n]()}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
