"""One sweep point in a worker: run it, measure it, encode its point file.

:func:`run_point` is what executors call (a module-level function, so it
pickles to a process pool or a dask worker).  It never raises for a failed
point: a :class:`~exodiff.errors.UserError` (a scenario the physics cannot
use, a :class:`~exodiff.errors.SolverError` from a non-physical combination)
or any other exception becomes a failed :class:`PointOutcome` with its
message, and the sweep goes on.

Point files are NetCDF-3 (64-bit offset) written with
:class:`scipy.io.netcdf_file`: about 1 ms per point where the HDF5-based
NetCDF-4 writer takes ~25 ms, which would cap a sweep at ~2400 points per
minute in the writing process alone.  They open with xarray, netCDF4 and
ncdump like any NetCDF file.  Layout:

- global attributes: ``point_index``, ``status`` (``ok``/``failed``),
  ``error``, ``error_kind`` (``user``: the parameters, final; ``internal``:
  a bug, retried on ``--resume``), ``scenario_hash``, ``parameters`` (JSON
  of the point's values as written), ``text_metrics`` (JSON),
  ``exodiff_version``, ``wall_time_s``;
- one scalar variable per numeric metric of :func:`exodiff.results.metrics.summary`
  (``units``, ``long_name``);
- with profiles: ``time(time)`` (h), ``compartment(compartment)``,
  ``fraction(time, compartment)`` and ``amount(time, compartment)`` (with a
  tracked cargo: of the vesicles, the primary species), and with a
  ``[systemic]`` model ``plasma_concentration(time)``.
"""

from __future__ import annotations

import io
import json
import math
import struct
import time as _time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["PointTask", "PointOutcome", "run_point", "run_points", "encode_point", "decode_point", "metric_units"]

TITLE = "exodiff sweep point"


@dataclass
class PointTask:
    """What a worker needs for one point.

    Attributes
    ----------
    index : int
    scenario : Scenario
        The point's scenario, validated in the parent.
    parameters : dict
        The point's swept values as written (stored in the point file).
    scenario_hash : str
    save_profiles : bool
        Keep ``amount`` and ``fraction`` over time.
    encode : bool
        Encode the point file in the worker (when the sweep has a directory).
    """

    index: int
    scenario: Any
    parameters: dict
    scenario_hash: str
    save_profiles: bool = False
    encode: bool = True


@dataclass
class PointOutcome:
    """A finished point, good or failed.

    Attributes
    ----------
    index : int
    status : {"ok", "failed"}
    error : str
        The failure's message, one line (empty when ok).
    error_kind : {"", "user", "internal"}
    metrics : dict
        :func:`exodiff.results.metrics.summary` of the run (empty when failed).
    profiles : dict or None
        ``time`` (h), ``compartment`` (names), ``fraction`` and ``amount``
        (time x compartment), ``amount_units``.
    parameters : dict
    scenario_hash : str
    wall_time_s : float
    data : bytes or None
        The encoded point file.
    """

    index: int
    status: str
    error: str = ""
    error_kind: str = ""
    metrics: dict = field(default_factory=dict)
    profiles: dict | None = None
    parameters: dict = field(default_factory=dict)
    scenario_hash: str = ""
    wall_time_s: float = 0.0
    data: bytes | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def final(self) -> bool:
        """Done for good: ok, or failed for its parameters (not for a bug, which is retried)."""
        return self.ok or self.error_kind == "user"


def metric_units(name: str) -> str:
    """Units of a metric of :func:`exodiff.results.metrics.summary` from its name (``_h`` hours, ``_um`` um)."""
    if name.endswith("_h"):
        return "h"
    if name.endswith("_um"):
        return "um"
    return "1"


def metric_label(name: str) -> str:
    from exodiff.results import metrics

    label = getattr(metrics, "label", None)
    return label(name) if label is not None else name


def run_point(task: PointTask) -> PointOutcome:
    """Run one point and return its outcome (never raises for a failed point)."""
    from exodiff.errors import UserError
    from exodiff.run import run_metrics

    t0 = _time.perf_counter()
    out = PointOutcome(index=task.index, status="ok", parameters=dict(task.parameters),
                       scenario_hash=task.scenario_hash)
    sc = task.scenario
    try:
        # extreme parameters overflow on purpose; the solver reports what it cannot use
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out.metrics, ds = run_metrics(sc, task.save_profiles)
        if task.save_profiles:
            from exodiff.results.metrics import PRIMARY_SPECIES

            # a run with a tracked cargo has a species dimension: keep the
            # primary species (the one the plain metric names describe); the
            # (time, compartment) layout of the point file has no room for more
            view = ds.sel(species=PRIMARY_SPECIES, drop=True) if "species" in ds["fraction"].dims else ds
            out.profiles = {
                "time": np.asarray(view["time"].values, dtype=float),
                "compartment": [str(c) for c in view["compartment"].values],
                "fraction": np.asarray(view["fraction"].transpose("time", "compartment").values, dtype=float),
                "amount": np.asarray(view["amount"].transpose("time", "compartment").values, dtype=float),
                "amount_units": str(view["amount"].attrs.get("units", "")),
            }
            if "plasma_concentration" in ds:  # a [systemic] model: the plasma curve over the same times
                out.profiles["plasma_concentration"] = np.asarray(ds["plasma_concentration"].values, dtype=float)
                out.profiles["plasma_units"] = str(ds["plasma_concentration"].attrs.get("units", ""))
    except UserError as exc:
        out.status, out.error_kind = "failed", "user"
        out.error = "; ".join(exc.lines()).replace("\n", " ")
        out.metrics = {}
    except Exception as exc:  # a bug: keep going, keep the message, retry on --resume
        out.status, out.error_kind = "failed", "internal"
        out.error = f"internal error {type(exc).__name__}: {exc}".replace("\n", " ")
        out.metrics = {}
    out.wall_time_s = _time.perf_counter() - t0
    if task.encode:
        out.data = encode_point(out)
    return out


def run_points(tasks: list[PointTask]) -> list[PointOutcome]:
    """:func:`run_point` over several points (one task of a remote worker)."""
    return [run_point(t) for t in tasks]


# --------------------------------------------------------------------------
# Point files


def _text(s: str) -> bytes:
    # NetCDF-3 attributes are bytes; UTF-8 reads back as text in xarray and netCDF4
    return str(s).encode("utf-8")


# NetCDF-3 header tags and types (the classic format specification, as scipy.io.netcdf_file writes them)
_ABSENT = b"\x00" * 8
_NC_VARIABLE, _NC_ATTRIBUTE = 0x0B, 0x0C
_NC_CHAR, _NC_INT, _NC_FLOAT, _NC_DOUBLE = 2, 4, 5, 6


def _pad(n: int) -> bytes:
    return b"\x00" * (-n % 4)


def _nc_name(name: str) -> bytes:
    b = name.encode("latin1")
    return struct.pack(">i", len(b)) + b + _pad(len(b))


def _nc_text(value: str) -> bytes:
    # numpy stores b"" as one NUL character (dtype S1), and so does scipy's writer
    b = _text(value) or b"\x00"
    return struct.pack(">ii", _NC_CHAR, len(b)) + b + _pad(len(b))


def _nc_atts(items: list[tuple[str, bytes]]) -> bytes:
    if not items:
        return _ABSENT
    return struct.pack(">ii", _NC_ATTRIBUTE, len(items)) + b"".join(_nc_name(k) + v for k, v in items)


def _global_atts(out: PointOutcome) -> list[tuple[str, bytes]]:
    from exodiff._version import __version__

    texts = {k: v for k, v in out.metrics.items() if isinstance(v, str)}
    return [("title", _nc_text(TITLE)), ("exodiff_version", _nc_text(__version__)),
            ("point_index", struct.pack(">iii", _NC_INT, 1, int(out.index))),
            ("status", _nc_text(out.status)), ("error", _nc_text(out.error)),
            ("error_kind", _nc_text(out.error_kind)), ("scenario_hash", _nc_text(out.scenario_hash)),
            ("parameters", _nc_text(json.dumps(out.parameters, ensure_ascii=False))),
            ("text_metrics", _nc_text(json.dumps(texts, ensure_ascii=False))),
            # a Python float attribute is NC_FLOAT in scipy's writer (kept, so both writers agree)
            ("wall_time_s", struct.pack(">iif", _NC_FLOAT, 1, float(out.wall_time_s)))]


_META: dict[str, bytes] = {}


def _scalar_meta(name: str) -> bytes:
    """Header entry of a scalar double metric, without its offset (the same for every point: cached)."""
    meta = _META.get(name)
    if meta is None:
        atts = _nc_atts([("units", _nc_text(metric_units(name))), ("long_name", _nc_text(metric_label(name)))])
        # no dimensions, its attributes, double, 8 bytes; the 8-byte offset of its value follows
        meta = _META[name] = _nc_name(name) + struct.pack(">i", 0) + atts + struct.pack(">ii", _NC_DOUBLE, 8)
    return meta


def encode_point(out: PointOutcome) -> bytes:
    """The point file of ``out`` as bytes (NetCDF-3, see the module docstring).

    A point without profiles (the usual case: global attributes and scalar
    metrics) is packed here directly, byte for byte what
    :class:`scipy.io.netcdf_file` writes (tests/test_sweep_batch.py checks
    it) in ~0.1 ms instead of ~2 ms, which was the largest Python cost of a
    1D point once its metrics came from the raw arrays.  With profiles,
    scipy's writer.
    """
    if out.profiles is not None:
        return _encode_point_scipy(out)
    head = b"CDF\x02" + struct.pack(">i", 0) + _ABSENT + _nc_atts(_global_atts(out))
    values = [(k, v) for k, v in out.metrics.items() if not isinstance(v, str)]
    if not values:
        return head + _ABSENT
    metas = [_scalar_meta(name) for name, _ in values]
    size = len(head) + 8 + sum(len(m) + 8 for m in metas)
    parts = [head, struct.pack(">ii", _NC_VARIABLE, len(values))]
    for i, m in enumerate(metas):
        parts.append(m + struct.pack(">q", size + 8 * i))
    parts.append(np.array([math.nan if v is None else float(v) for _, v in values], dtype=">f8").tobytes())
    return b"".join(parts)


def _encode_point_scipy(out: PointOutcome) -> bytes:
    """The point file written by :class:`scipy.io.netcdf_file` (any content, profiles too)."""
    from scipy.io import netcdf_file

    from exodiff._version import __version__

    buf = io.BytesIO()
    f = netcdf_file(buf, "w", version=2)
    f.title = _text(TITLE)
    f.exodiff_version = _text(__version__)
    f.point_index = np.int32(out.index)
    f.status = _text(out.status)
    f.error = _text(out.error)
    f.error_kind = _text(out.error_kind)
    f.scenario_hash = _text(out.scenario_hash)
    f.parameters = _text(json.dumps(out.parameters, ensure_ascii=False))
    texts = {k: v for k, v in out.metrics.items() if isinstance(v, str)}
    f.text_metrics = _text(json.dumps(texts, ensure_ascii=False))
    f.wall_time_s = float(out.wall_time_s)
    for name, value in out.metrics.items():
        if isinstance(value, str):
            continue
        v = f.createVariable(name, "d", ())
        v.data[...] = math.nan if value is None else float(value)
        v.units = _text(metric_units(name))
        v.long_name = _text(metric_label(name))
    p = out.profiles
    if p is not None:
        names = [c.encode("utf-8") for c in p["compartment"]]
        width = max(1, max(len(c) for c in names))
        f.createDimension("time", len(p["time"]))
        f.createDimension("compartment", len(names))
        f.createDimension("compartment_strlen", width)
        t = f.createVariable("time", "d", ("time",))
        t[:] = p["time"]
        t.units = _text("h")
        t.long_name = _text("time since application")
        c = f.createVariable("compartment", "c", ("compartment", "compartment_strlen"))
        c[:] = np.array(names, dtype=f"S{width}").view("S1").reshape(len(names), width)
        c._Encoding = _text("utf-8")
        for name, units, long_name in (("fraction", "1", "amount / applied dose"),
                                       ("amount", p["amount_units"], "amount per skin area by compartment")):
            v = f.createVariable(name, "d", ("time", "compartment"))
            v[:] = p[name]
            v.units = _text(units)
            v.long_name = _text(long_name)
        if "plasma_concentration" in p:
            v = f.createVariable("plasma_concentration", "d", ("time",))
            v[:] = p["plasma_concentration"]
            v.units = _text(p["plasma_units"])
            v.long_name = _text("concentration in the central (plasma) compartment")
    f.flush()
    data = buf.getvalue()
    # close() would write everything a second time; it is written (not via
    # setattr, which netcdf_file turns into a file attribute)
    f.__dict__["mode"] = "r"
    f.close()
    return data


def _attr(f, name: str, default: str = "") -> str:
    v = f._attributes.get(name, default)
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def decode_point(path) -> PointOutcome:
    """Read a point file back into a :class:`PointOutcome` (``data`` left empty)."""
    from scipy.io import netcdf_file

    with netcdf_file(path, "r", mmap=False) as f:
        if _attr(f, "title") != TITLE:
            raise ValueError("not an exodiff sweep point file")
        out = PointOutcome(index=int(f._attributes["point_index"]), status=_attr(f, "status"),
                           error=_attr(f, "error"), error_kind=_attr(f, "error_kind"),
                           parameters=json.loads(_attr(f, "parameters", "{}")),
                           scenario_hash=_attr(f, "scenario_hash"),
                           wall_time_s=float(f._attributes.get("wall_time_s", 0.0)))
        metrics: dict[str, Any] = {}
        for name, var in f.variables.items():
            if var.dimensions == ():
                metrics[name] = float(var.data[()])
        metrics.update(json.loads(_attr(f, "text_metrics", "{}")))
        out.metrics = metrics
        if "fraction" in f.variables:
            comp = f.variables["compartment"].data
            names = [b"".join(row).rstrip(b"\x00").decode("utf-8") for row in comp]
            out.profiles = {
                "time": np.array(f.variables["time"].data, dtype=float),
                "compartment": names,
                "fraction": np.array(f.variables["fraction"].data, dtype=float),
                "amount": np.array(f.variables["amount"].data, dtype=float),
                "amount_units": f.variables["amount"].units.decode("utf-8"),
            }
            if "plasma_concentration" in f.variables:
                v = f.variables["plasma_concentration"]
                out.profiles["plasma_concentration"] = np.array(v.data, dtype=float)
                out.profiles["plasma_units"] = v.units.decode("utf-8")
    return out
