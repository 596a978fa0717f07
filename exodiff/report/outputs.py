"""Writing a run's outputs: nothing half-written, never a mixed set.

Every file is written to a temporary name and renamed when complete
(:func:`atomic_path`: flushed to disk, then ``os.replace``), so an
interrupted or failed write leaves the previous complete file or none.

The files of one run (or one comparison) are one unit (:class:`OutputSet`):
they are written into a temporary sibling directory ``.DIR.tmp-<pid>-<id>``,
flushed to disk, and swapped in for ``DIR`` in one step (``renameat2`` exchange on
Linux; elsewhere two renames), after which the old set is deleted.  A
kill -9 at any moment leaves the old set or the new one, never a new
``result.nc`` beside an old ``summary.json``.  A lock file ``.DIR.lock``
(``fcntl.flock``) beside ``DIR`` refuses a second run into the same
directory while the first one holds it; temporaries of killed runs are
removed by the next run that takes the lock.  ``DIR`` is replaced only when
it is empty or holds only outputs of exodiff (:data:`OUTPUT_NAMES`, and
sub-folders of them): a directory of other files is refused, never deleted.
"""

from __future__ import annotations

import contextlib
import contextvars
import fnmatch
import json
import math
import os
import shutil
import uuid
from pathlib import Path

from exodiff._io import DirLock, claim_directory, exchange, fsync_dir, fsync_file, path_problem, remove_made
from exodiff.errors import UserError
from exodiff.results.metrics import summary

#: Names of files exodiff writes into a run or comparison directory (a directory of only these may be replaced).
OUTPUT_NAMES = ("result.nc", "summary.json", "metrics.csv", "metrics.md", "report.html", "fit.json", "fitted.toml",
                "absorption.csv", "absorption_doses.csv",
                "*.png", ".*.tmp-*")


@contextlib.contextmanager
def atomic_path(path: Path):
    """Yield a temporary sibling of ``path``; flush it and rename it to ``path`` on success."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def entries_text(entries: list[str]) -> str:
    """The first three of ``entries`` and how many more, for a one-line message."""
    return ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")


def foreign_entries(directory: Path, names=OUTPUT_NAMES, folders: dict | None = None, depth: int = 0) -> list[str]:
    """Entries of ``directory`` that exodiff did not write (empty when it may be replaced or written into).

    ``names``: patterns of the files it writes there; ``folders``: the
    sub-folders it writes and the patterns of their files (None: any
    sub-folder of files matching ``names``, as a run's outputs).  A sub-folder
    holding anything else is reported as ``NAME/``.
    """
    foreign = []
    for entry in sorted(directory.iterdir()):
        if entry.is_dir() and not entry.is_symlink() and depth == 0 and (folders is None or entry.name in folders):
            if foreign_entries(entry, names if folders is None else folders[entry.name], None, 1):
                foreign.append(entry.name + "/")
        elif entry.is_symlink() or not entry.is_file() or \
                not any(fnmatch.fnmatchcase(entry.name, pat) for pat in names):
            foreign.append(entry.name)
    return foreign


_ACTIVE: contextvars.ContextVar[dict] = contextvars.ContextVar("exodiff_output_sets", default={})


class OutputSet:
    """The files of one run, written as one unit into ``directory`` (see the module docstring).

    Use :func:`output_set`; :meth:`prepare` checks and claims the directory
    before anything long happens (a user error there is one line, and
    nothing is left behind), :attr:`staging` is where the files go,
    :meth:`commit` swaps them in, :meth:`abort` drops them.
    """

    def __init__(self, directory, origin: str | None = None):
        self.given = Path(directory)
        self.origin = origin
        self.final = self.given
        self.staging: Path | None = None
        self.run_id = uuid.uuid4().hex[:12]
        self._lock: DirLock | None = None
        self._made: list[Path] = []

    def _fail(self, why: str) -> UserError:
        if self.origin:
            # the directory a scenario file chose: named by its file and key, not by a -o nobody gave
            why = why.replace("(-o DIR)", "(output.directory, or -o DIR on the command line)")
            return UserError(f'{self.origin}: got "{self.given}": {why}')
        return UserError(f"{self.given}: {why}")

    def prepare(self) -> "OutputSet":
        d = self.given
        bad = path_problem(d)
        if bad:
            raise self._fail(f"the output directory's path {bad}; expected a directory name the system can "
                             "make (-o DIR)")
        if d.is_symlink() and not d.exists():
            raise self._fail("output directory is a symlink to nothing (dangling); expected a directory (-o DIR)")
        if d.exists() and not d.is_dir():
            raise self._fail("output directory is an existing file; expected a directory (-o DIR)")
        if d.is_symlink():
            d = Path(os.path.realpath(d))  # replace what it points to, keep the link
        self.final = d
        if d.exists():
            foreign = foreign_entries(d)
            if foreign:
                raise self._fail(f"output directory holds files exodiff did not write ({entries_text(foreign)}); "
                                 "expected an empty directory or the outputs of an earlier run (they are "
                                 "replaced): give another -o DIR")
        parent = d.parent
        self._lock, self._made = claim_directory(d, self.given)
        for stale in [*parent.glob(f".{d.name}.tmp-*"), *parent.glob(f".{d.name}.old-*")]:
            shutil.rmtree(stale, ignore_errors=True)  # of killed runs: the lock is ours
        self.staging = parent / f".{d.name}.tmp-{os.getpid()}-{self.run_id}"
        try:
            self.staging.mkdir()
        except OSError as exc:
            self._cleanup()
            raise self._fail(f"cannot write here ({exc.strerror or exc}); expected a writable directory "
                             "(-o DIR)") from None
        return self

    def _flush(self) -> None:
        """Every written file and folder to disk, before the swap makes them the outputs."""
        for p in sorted(self.staging.rglob("*")):
            if p.is_file():
                fsync_file(p)
        for p in [*(q for q in self.staging.rglob("*") if q.is_dir()), self.staging]:
            fsync_dir(p)

    def commit(self) -> None:
        """Swap the written set in for the directory's old content, then delete the old set."""
        try:
            self._flush()
            d, parent = self.final, self.final.parent
            if d.exists():
                if exchange(self.staging, d):
                    old = self.staging  # now holds the old set
                else:
                    old = parent / f".{d.name}.old-{os.getpid()}-{self.run_id}"
                    os.rename(d, old)
                    os.rename(self.staging, d)
            else:
                os.rename(self.staging, d)
                old = None
            fsync_dir(parent)
            self.staging = None
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            self.abort()

    def abort(self) -> None:
        """Drop what was written; release the lock; remove directories :meth:`prepare` made."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        self._cleanup()

    def _cleanup(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if not self.final.exists():
            remove_made(self._made)
        self._made = []


def _key(directory) -> str:
    return os.path.realpath(os.fspath(directory))


@contextlib.contextmanager
def output_set(directory, origin: str | None = None):
    """Claim ``directory`` for one set of outputs; write them with :func:`write_outputs` inside the block.

    On leaving the block normally the set is swapped in; on an exception
    (a solver stop, Ctrl-C) nothing is written.  Nested use for the same
    directory joins the outer set.  ``origin``: where the directory was
    chosen when a scenario file chose it (``"FILE: output.directory"``), so
    an error names that file and key.

    Raises
    ------
    UserError
        The directory cannot be written, holds foreign files, or another
        exodiff process is writing it.
    """
    active = _ACTIVE.get()
    key = _key(directory)
    if key in active:
        yield active[key]
        return
    out = OutputSet(directory, origin).prepare()
    token = _ACTIVE.set({**active, key: out, _key(out.final): out})
    try:
        yield out
    except BaseException:
        out.abort()
        raise
    else:
        out.commit()
    finally:
        _ACTIVE.reset(token)


def staging_dir(directory) -> Path | None:
    """Where files for ``directory`` go inside an active :func:`output_set`, else None."""
    out = _ACTIVE.get().get(_key(directory))
    return None if out is None else out.staging


def _clean(obj):
    """JSON has no NaN: write null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    return obj


#: zlib level of the numeric variables: level 4 gets nearly all of level 9's saving on smooth fields
#: (concentration maps shrink several-fold) at a fraction of its time.
ZLIB_LEVEL = 4


def netcdf_attr(value):
    """An attribute value as NetCDF stores it: numbers as numbers, lists as arrays, never a printout.

    numpy scalars become Python numbers, booleans ``0``/``1`` (NetCDF has no
    boolean type), lists of numbers arrays, a dict JSON text.  Returns None
    for what has no NetCDF value (None, a non-finite float: inf is not
    accepted by every reader) so the caller leaves the attribute out.
    """
    import numpy as np

    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return np.int8(bool(value))
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value)
        if arr.dtype.kind == "b":
            return arr.astype(np.int8)
        if arr.dtype.kind in "iuf":
            return arr
        return [str(v) for v in value]
    return value


def _cf_ready(ds):
    """A shallow copy of ``ds`` whose attributes (global and per variable) pass :func:`netcdf_attr`."""
    out = ds.copy(deep=False)
    out.attrs = {k: v for k, v in ((k, netcdf_attr(v)) for k, v in ds.attrs.items()) if v is not None}
    for name in out.variables:
        var = out.variables[name]
        var.attrs = {k: v for k, v in ((k, netcdf_attr(v)) for k, v in var.attrs.items()) if v is not None}
    return out


def write_netcdf(ds, path: Path) -> Path:
    """Write ``ds`` to NetCDF-4 (netCDF4 engine) atomically, numeric variables zlib-compressed.

    Attributes go through :func:`netcdf_attr` (numbers stay numbers, arrays
    arrays).  Text variables are not compressed: NetCDF-4 cannot filter
    variable-length strings.
    """
    ds = _cf_ready(ds)
    encoding = {name: {"zlib": True, "complevel": ZLIB_LEVEL, "shuffle": True}
                for name, var in ds.variables.items() if var.dtype.kind in "biuf"}
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
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
    with output_set(directory) as out_set:
        written = write_run_files(ds, res, out_set.staging, plots, times)
        return [Path(directory) / p.relative_to(out_set.staging) for p in written]


def write_run_files(ds, res: dict, out: Path, plots: bool = True, times=None) -> list[Path]:
    """Write ``result.nc``, ``summary.json`` and the plots into ``out`` (a staging directory); return the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [write_netcdf(ds, out / "result.nc")]
    target = res.get("formulation", {}).get("target_layer")
    summ = summary(ds, target, times)
    area = float(ds.attrs.get("treated_area_cm2", 1.0))
    summ = {"scenario": ds.attrs.get("title", ""), "exodiff_version": ds.attrs.get("exodiff_version"),
            "dose_unit": ds.attrs.get("dose_unit"), "applied_dose_per_cm2": ds.attrs.get("applied_dose"),
            "treated_area_cm2": area, "treated_area_source": ds.attrs.get("treated_area_source", "default 1 cm^2"),
            "applied_amount": float(ds.attrs.get("applied_dose", math.nan)) * area,
            "metrics": summ}
    if "resolvable_level" in ds:
        # every compartment's resolvable level at the end (fraction of the dose; docs/numerics.md)
        lev = ds["resolvable_level"].isel(time=-1)
        below = ds["below_resolvable_level"].isel(time=-1)
        if "species" in lev.dims:
            lev, below = lev.isel(species=0), below.isel(species=0)
        summ["resolvable_level_at_end"] = {str(c): float(v) for c, v in zip(ds["compartment"].values, lev.values)}
        summ["below_resolvable_level_at_end"] = [str(c) for c, b in zip(ds["compartment"].values, below.values) if b]
        summ["resolvable_level_method"] = str(ds.attrs.get("resolvable_level_method", ""))
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(_clean(summ), indent=2) + "\n")
    written.append(out / "summary.json")
    if res.get("output", {}).get("absorption"):
        written += write_absorption(ds, out)
    if plots:
        from exodiff.report import plotting

        pt = res.get("output", {}).get("profile_times")
        figs = plotting.all_figures(ds, None if pt is None else [x / 3600.0 for x in pt])
        written += save_figures(figs, out, dpi=120)
    return written


def write_absorption(ds, out: Path) -> list[Path]:
    """``absorption.csv`` (a table of the input into the blood) and ``absorption_doses.csv`` (the same input as
    zero-order dosing records), formats in docs/pk_export.md."""
    from exodiff.results.dataset import absorption_table

    tab = absorption_table(ds)
    u = tab["unit"]

    def num(x) -> str:
        # the shortest text that reads back as the same float64: a tool that differences the cumulative column
        # gets the run's increments (10 digits left late increments of 1e-6 of the total 1e-4 off)
        return repr(float(x))

    lines = [f"time_h,rate_{u}_per_h,absorbed_{u},fraction_absorbed"]
    lines += [f"{num(t)},{num(r)},{num(a)},{num(f)}"
              for t, r, a, f in zip(tab["time_h"], tab["rate"], tab["absorbed"], tab["fraction"])]
    with atomic_path(out / "absorption.csv") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    # NONMEM / mrgsolve: one zero-order input record per output interval that absorbed anything
    rec = ["ID,TIME,AMT,RATE,EVID,CMT,MDV"]
    t, a = tab["time_h"], tab["absorbed"]
    for k in range(t.size - 1):
        amt = a[k + 1] - a[k]
        if amt > 0.0 and t[k + 1] > t[k]:
            rec.append(f"1,{num(t[k])},{num(amt)},{num(amt / (t[k + 1] - t[k]))},1,1,1")
    with atomic_path(out / "absorption_doses.csv") as tmp:
        tmp.write_text("\n".join(rec) + "\n")
    return [out / "absorption.csv", out / "absorption_doses.csv"]


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


#: What each compartment of the console summary holds (layers: "in the skin layer").
_MEANING = {
    "vehicle": "still in the vehicle on the skin",
    "degraded": "broken down in the skin",
    "taken_up": "taken up by cells",
    "cleared": "carried off by capillaries and lymphatics",
    "receptor": "crossed the bottom of the skin",
    "sampled": "taken out with receptor samples",
    "removed": "washed off with the vehicle",
    "released": "vesicles that set their cargo free",
}


def _cell(value, spec: str) -> str:
    """A number formatted by ``spec``; an amount below its resolvable level as its words."""
    return str(value) if isinstance(value, str) else format(value, spec)


def summary_table(ds, target: str | None = None) -> str:
    """A short plain-text table: where the dose is at the end, what each line means, and headline metrics.

    Explains what a reader could misread: ``removed`` is the vehicle washed
    off (at ``formulation.wash_off_time``), so 1 there means nearly nothing
    entered; with an infinite vehicle the donor is held constant and
    fractions are of the donor's amount, so they can add up to more than 1.
    A run that is Crank's membrane problem prints its check against the
    analytic lag time and flux (:func:`exodiff.results.metrics.membrane_check`).
    """
    from exodiff.report.labels import nice_time
    from exodiff.results.metrics import is_below, membrane_check

    s = summary(ds, target)
    t_end = s["end_time_h"]
    unit = ds.attrs.get("dose_unit", "")
    dose = ds.attrs.get("applied_dose")
    dose_text = f" ({dose:.4g} {unit}/cm^2)" if isinstance(dose, (int, float)) else ""
    lines = [f"{ds.attrs.get('title', 'run')}: fraction of the applied dose{dose_text} at t = {t_end:g} h"]
    comps = [str(c) for c in ds["compartment"].values]
    layers = {str(x) for x in ds["layer"].values} if "layer" in ds else set()
    width = max(len(c) for c in comps)
    wash = ds.attrs.get("wash_off_time_h")
    for comp in comps:
        meaning = "in this skin layer" if comp in layers else _MEANING.get(comp, "")
        if comp == "removed":
            meaning = f"washed off with the vehicle at {nice_time(wash)}" if wash is not None else \
                "washed off with the vehicle (no wash-off in this run)"
            if int(ds.attrs.get("applications", 1)) > 1 and int(ds.attrs.get("wash_before_reapplication", 0)):
                # a regimen washes what is left of the film off before each new application
                meaning = "washed off with the vehicle before each new application" + (
                    f" and {nice_time(wash)} after each" if wash is not None else "")
        if comp == "receptor" and ds.attrs.get("bottom") == "sink":
            meaning = "crossed the bottom of the skin into the sink"
        lines.append(f"  {comp:<{width}}  {_cell(s[f'fraction_{comp}'], '<10.4g')}  {meaning}".rstrip())
    T = s["target_layer"]
    depth = s["mean_penetration_depth_um"]
    peak = s["target_peak_time_h"]
    if is_below(peak):
        peak_text = f"the amount in {T} is {peak}"
    elif peak != peak:
        peak_text = f"none reaches {T}"
    else:
        peak_text = f"peak in {T} at {peak:.3g} h ({s['target_peak_fraction']:.3g} of dose)"
    delivered = s[f"delivered_{T}"]
    lines += [
        f"  delivered to {T}: {_cell(delivered, '.4g')}{'' if is_below(delivered) else ' of dose'}; " + peak_text,
        f"  mean penetration depth: {'n/a' if depth != depth else f'{depth:.4g} um'}; "
        f"mass balance error: {s['max_mass_balance_error']:.1e}",
    ]
    if wash is not None and not is_below(s.get("fraction_removed")) and s.get("fraction_removed", 0.0) > 0.99:
        lines.append(f"  note: removed = {s['fraction_removed']:.4g} is the wash-off at {nice_time(wash)}: the "
                     "vehicle went with the active that had not entered the skin; what entered before is in "
                     "the lines above")
    if ds.attrs.get("vehicle") == "infinite":
        lines.append("  note: an infinite vehicle is a donor held at constant concentration: it never runs "
                     "out, so 'vehicle' stays 1 and everything that entered the skin comes on top of it; the "
                     "fractions are of the donor film's amount and can add up to more than 1")
    check = membrane_check(ds)
    if check is not None:
        lines.append(_membrane_lines(check))
    return "\n".join(lines)


def _membrane_lines(c: dict) -> str:
    """The membrane check as text: simulated against analytic, with the relative difference."""
    from exodiff.report.labels import nice_time

    def rel(a, b):
        return f"{(a / b - 1.0) * 100:+.2f} %"

    head = "  check against Crank's membrane (one layer, constant donor, sink): "
    if c["lag_time_h"] != c["lag_time_h"]:
        return (head + f"analytic lag time h^2/(6D) = {nice_time(c['lag_time_analytic_h'])}, steady flux "
                f"DKC/h = {c['flux_analytic']:.4g} {c['flux_units']}; the run is too short to reach the steady "
                "state (needs 6 lag times)")
    return (head + f"lag time {nice_time(c['lag_time_h'])} (analytic h^2/(6D) "
            f"{nice_time(c['lag_time_analytic_h'])}, {rel(c['lag_time_h'], c['lag_time_analytic_h'])}), "
            f"steady flux {c['flux']:.4g} {c['flux_units']} (analytic DKC/h {c['flux_analytic']:.4g}, "
            f"{rel(c['flux'], c['flux_analytic'])})")
