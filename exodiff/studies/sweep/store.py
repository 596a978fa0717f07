"""The sweep directory: nothing finished is ever lost.

Layout of ``DIR``::

    DIR/sweep.json          manifest: scenario hash, mode, keys, number of points
    DIR/points/p000042.nc   one small NetCDF per finished point (see .point)
    DIR/sweep.nc            the combined result, written when every point is done

Each point file is written the moment its result arrives, under a temporary
name in the same directory and renamed when complete
(:func:`exodiff.report.outputs.atomic_path`), so Ctrl-C, a crash or a killed machine
leaves only whole point files.  ``--resume`` reads them back, refuses points
of a changed scenario or sweep table (their ``scenario_hash`` differs), and
runs only what is missing (and points that failed from a bug, which may be
fixed since; points that failed for their parameters stay failed).

Every check happens in :meth:`PointStore.check`, before anything is written.
It also takes the sweep's lock (``.DIR.lock`` beside ``DIR``, an
``fcntl.flock``): a second sweep into the same directory, ``--resume`` or
not, is refused with one line while the first runs, so two never do the
same points.  The lock is released by :meth:`PointStore.close`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

from exodiff._io import DirLock, claim_directory, path_problem, remove_made
from exodiff.errors import UserError
from exodiff.report.outputs import atomic_path, entries_text, foreign_entries
from exodiff.studies.sweep.point import PointOutcome, decode_point

__all__ = ["PointStore", "MANIFEST", "POINTS", "RESULT"]

MANIFEST = "sweep.json"
#: what a sweep or a population writes into its directory (a directory holding anything else is refused, as
#: ``exodiff run`` refuses one: its files are someone else's)
STUDY_NAMES = (MANIFEST, "sweep.nc", "sensitivity.csv", "population.nc", "population.csv", "report.html", "*.png",
               ".*.tmp-*")
POINTS = "points"
RESULT = "sweep.nc"
#: its one sub-folder and the files in it: point files and their temporaries
STUDY_FOLDERS = {POINTS: ("p*.nc", ".p*.nc.tmp-*")}


def _canonical(values: dict) -> dict:
    return json.loads(json.dumps(values, ensure_ascii=False))


class PointStore:
    """Point files of one sweep in ``directory``.

    Parameters
    ----------
    directory : path
    plan : SweepPlan
        The sweep (its hash, points and definition).
    """

    def __init__(self, directory, plan):
        self.directory = Path(directory)
        self.plan = plan
        self.points_dir = self.directory / POINTS
        self.width = max(6, len(str(max(plan.size - 1, 0))))
        self._lock: DirLock | None = None
        self._made: list[Path] = []

    def _claim(self) -> None:
        """Take the sweep's lock (creating the parent folders it needs)."""
        if self._lock is not None:
            return
        self._lock, self._made = claim_directory(self.directory, writer="exodiff sweep")

    def close(self) -> None:
        """Release the lock; remove folders :meth:`check` made if nothing was written into them."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if not self.directory.exists():
            remove_made(self._made)
        self._made = []

    def path(self, index: int) -> Path:
        return self.points_dir / f"p{index:0{self.width}d}.nc"

    @property
    def result_path(self) -> Path:
        return self.directory / RESULT

    def _refuse(self, why: str) -> UserError:
        return UserError(f"{self.directory}: {why}; --resume continues only an unchanged sweep: give another "
                         f"-o DIR, or delete {self.points_dir} to start again")

    def check(self, resume: bool) -> dict[int, PointOutcome]:
        """Check the directory before anything is written; return the finished points to keep.

        Raises
        ------
        UserError
            ``directory`` is a file; it holds points and ``resume`` is off;
            with ``resume``, its points (or manifest) come from another
            scenario or sweep table.
        """
        d = self.directory
        bad = path_problem(d)
        if bad:
            raise UserError(f"{d!r}: the output directory's path {bad}; expected a directory name the system can "
                            "make (-o DIR)")
        if d.is_symlink() and not d.exists():
            raise UserError(f"{d}: output directory is a symlink to nothing (dangling); expected a directory "
                            "(-o DIR)")
        if d.exists() and not d.is_dir():
            raise UserError(f"{d}: output directory is an existing file; expected a directory (-o DIR)")
        if d.exists() and not os.access(d, os.W_OK | os.X_OK):
            raise UserError(f"{d}: cannot write here (permission denied); expected a writable directory (-o DIR)")
        self._claim()
        try:
            return self._check(resume)
        except BaseException:
            self.close()
            raise

    def _check(self, resume: bool) -> dict[int, PointOutcome]:
        d = self.directory
        foreign = foreign_entries(d, STUDY_NAMES, STUDY_FOLDERS) if d.is_dir() else []
        if foreign:
            raise UserError(f"{d}: output directory holds files exodiff did not write ({entries_text(foreign)}); "
                            "expected an empty directory or one of an earlier sweep (-o DIR)")
        files = sorted(self.points_dir.glob("p*.nc")) if self.points_dir.is_dir() else []
        manifest = None
        mpath = d / MANIFEST
        if mpath.is_file():
            try:
                manifest = json.loads(mpath.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                manifest = None
        if files and not resume:
            raise UserError(f"{self.points_dir}: holds {len(files)} finished point{'s' if len(files) != 1 else ''} "
                            "of an earlier sweep; add --resume to continue it (same scenario and sweep table), "
                            "or give another -o DIR")
        if not resume:
            return {}
        want = self.plan.hash
        if manifest is not None and manifest.get("scenario_hash") not in (None, want):
            raise self._refuse(f"holds a sweep of a changed scenario or [sweep] table (scenario hash "
                               f"{str(manifest.get('scenario_hash'))[:12]}, now {want[:12]})")
        kept: dict[int, PointOutcome] = {}
        expected = {p.index: _canonical(p.overrides) for p in self.plan.points}
        for f in files:
            try:
                out = decode_point(f)
            except Exception:  # not a whole point file: run the point again
                continue
            if out.scenario_hash != want:
                raise self._refuse(f"point file {f.name} comes from a changed scenario or [sweep] table "
                                   f"(scenario hash {out.scenario_hash[:12]}, now {want[:12]})")
            if out.index not in expected or _canonical(out.parameters) != expected[out.index]:
                raise self._refuse(f"point file {f.name} does not match point {out.index} of this sweep")
            if out.final:
                kept[out.index] = out
        return kept

    def begin(self) -> None:
        """Create the directories, drop temporary files of a killed run, write the manifest."""
        self.points_dir.mkdir(parents=True, exist_ok=True)
        # temporaries of a killed sweep (the lock is ours: nobody else writes them)
        for tmp in [*self.points_dir.glob(".p*.nc.tmp-*"), *self.directory.glob(".*.tmp-*")]:
            tmp.unlink(missing_ok=True)
        plan = self.plan
        manifest = {
            "scenario_hash": plan.hash,
            "scenario": plan.file,
            "mode": plan.definition.mode,
            "keys": plan.definition.keys,
            "points": plan.size,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        from exodiff._version import __version__

        manifest["exodiff_version"] = __version__
        with atomic_path(self.directory / MANIFEST) as tmp:
            tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def write(self, outcome: PointOutcome) -> Path:
        """Write one finished point (its encoded bytes) atomically."""
        from exodiff.studies.sweep.point import encode_point

        data = outcome.data if outcome.data is not None else encode_point(outcome)
        path = self.path(outcome.index)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(data)
        return path

