"""Writing a run's outputs: nothing half-written.

Every file is written to a temporary name in the target directory and
renamed when complete (``os.replace`` is atomic on POSIX), so an interrupted
or failed run leaves either the previous complete file or none.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path

from exodiff.results.metrics import summary


@contextlib.contextmanager
def atomic_path(path: Path):
    """Yield a temporary sibling of ``path``; rename it to ``path`` on success."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _clean(obj):
    """JSON has no NaN: write null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    return obj


def write_netcdf(ds, path: Path) -> Path:
    """Write ``ds`` to NetCDF-4 (netCDF4 engine) atomically."""
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4")
    return Path(path)


def write_outputs(ds, sc=None, directory=None, plots: bool = True, times=None) -> list[Path]:
    """Write ``result.nc``, ``summary.json`` and PNG plots.

    Parameters
    ----------
    ds : xarray.Dataset
        Result of :func:`exodiff.run`.
    sc : Scenario, optional
        For the default directory, profile times and the target layer.
    directory : path, optional
        Defaults to ``output.directory`` of the scenario, else
        ``results/<scenario file stem>``.
    plots : bool
        Also write the PNG plots.
    times : sequence of float, optional
        Hours at which ``summary.json`` also reports the fraction in every
        compartment (``exodiff compare`` passes its ``times``).

    Returns
    -------
    list of Path
        The files written.
    """
    res = getattr(sc, "resolved", {}) if sc is not None else {}
    if directory is None:
        directory = res.get("output", {}).get("directory")
    if directory is None:
        stem = Path(sc.path).stem if sc is not None and getattr(sc, "path", None) else "run"
        directory = Path("results") / stem
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = [write_netcdf(ds, out / "result.nc")]
    target = res.get("formulation", {}).get("target_layer")
    summ = summary(ds, target, times)
    summ = {"scenario": ds.attrs.get("title", ""), "exodiff_version": ds.attrs.get("exodiff_version"),
            "dose_unit": ds.attrs.get("dose_unit"), "applied_dose_per_cm2": ds.attrs.get("applied_dose"),
            "metrics": summ}
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(_clean(summ), indent=2) + "\n")
    written.append(out / "summary.json")
    if plots:
        from exodiff.report import plotting

        pt = res.get("output", {}).get("profile_times")
        figs = plotting.all_figures(ds, None if pt is None else [x / 3600.0 for x in pt])
        written += save_figures(figs, out, dpi=120)
    return written


def save_figures(figs: dict, out: Path, dpi: int = 120) -> list[Path]:
    """Write each figure as ``out/<stem>.png`` (atomically) and close it; return the paths."""
    import matplotlib.pyplot as plt

    written = []
    for stem, fig in figs.items():
        p = Path(out) / f"{stem}.png"
        with atomic_path(p) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
        plt.close(fig)
        written.append(p)
    return written


def summary_table(ds, target: str | None = None) -> str:
    """A short plain-text table: where the dose is at the end, and headline metrics."""
    s = summary(ds, target)
    t_end = s["end_time_h"]
    lines = [f"{ds.attrs.get('title', 'run')}: fraction of the applied dose at t = {t_end:g} h"]
    width = max(len(str(c)) for c in ds["compartment"].values)
    for comp in ds["compartment"].values:
        lines.append(f"  {str(comp):<{width}}  {s[f'fraction_{comp}']:.4g}")
    T = s["target_layer"]
    depth = s["mean_penetration_depth_um"]
    peak = s["target_peak_time_h"]
    lines += [
        f"  delivered to {T}: {s[f'delivered_{T}']:.4g} of dose; "
        + (f"none reaches {T}" if peak != peak else
           f"peak in {T} at {peak:.3g} h ({s['target_peak_fraction']:.3g} of dose)"),
        f"  mean penetration depth: {'n/a' if depth != depth else f'{depth:.4g} um'}; "
        f"mass balance error: {s['max_mass_balance_error']:.1e}",
    ]
    return "\n".join(lines)
