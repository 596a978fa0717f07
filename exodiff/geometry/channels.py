"""Scenario -> micro-channel geometry and the r-z unit-cell problem.

The delivery method decides the geometry: ``topical`` without follicles is the
1D column; ``microneedle``, ``laser`` and ``topical`` with ``follicles = true``
are one channel on the axis of a unit cell (MODEL.md section 4).  Geometry
comes from a device preset (``exodiff/data/devices.toml``) or the body site's
follicle data (``follicles.toml``), each value overridable in ``[delivery]``,
or from ``channel_depth``/``channel_diameter``/``density`` given directly
(how validation cases are written).  Physics of each step lives in
:mod:`exodiff.physics.delivery`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from exodiff import data
from exodiff.errors import ParameterProblem
from exodiff.physics import delivery as dl

# device/follicle keys and the SI unit their preset strings convert to
_DEVICE_UNITS = {
    "needle_length": "m", "penetration_efficiency": "", "channel_diameter": "m", "tip_diameter": "m",
    "needles": "", "drum_diameter": "m", "drum_width": "m", "passes": "", "density": "1/m^2",
    "closure_time": "s", "closure_time_occluded": "s", "coverage": "", "coagulation_width": "m",
    "coagulation_diffusivity_factor": "", "coagulation_partition_factor": "",
}


def _si(value: Any, unit: str) -> float:
    if not unit or not isinstance(value, str):
        return float(value)
    from exodiff.units import to_si

    return to_si(value, unit)


#: device whose values fill what a microneedle scenario without a device leaves out
GENERIC_MICRONEEDLE = "generic_microneedle"


def device_values(name: str) -> dict[str, Any]:
    """A device preset's values in SI (tables as lists of floats)."""
    raw = data.values("device", name)
    out: dict[str, Any] = {"kind": raw["kind"]}
    for key, unit in _DEVICE_UNITS.items():
        if key in raw:
            out[key] = _si(raw[key], unit)
    for key, unit in (("pulse_energy_table", "J"), ("depth_table", "m"), ("diameter_table", "m")):
        if key in raw:
            out[key] = [_si(v, unit) for v in raw[key]]
    return out


def _pick(delivery: Mapping[str, Any], device: Mapping[str, Any], key: str) -> float | None:
    if key in delivery:
        return delivery[key]
    return device.get(key)


def _default(value, default: float) -> float:
    """``value``, or ``default`` when it is not given (None; 0 is a value)."""
    return default if value is None else value


def _need(value, key: str, what: str):
    if value is None:
        raise ParameterProblem(f"delivery.{key}", "nothing", what)
    return value


def _particle_diameter(formulation: Mapping[str, Any]) -> float | None:
    if formulation.get("kind") == "small_molecule" or "diameter" not in formulation:
        return None
    return float(formulation["diameter"])


def channel_geometry(resolved: Mapping[str, Any], particle_diameter: float | None = None
                     ) -> dl.ChannelGeometry | None:
    """The scenario's micro-channel, or None for 1D topical delivery.

    ``particle_diameter`` (m) overrides the formulation's diameter where the
    geometry depends on it (follicle entry), for one size class.

    Raises
    ------
    ParameterProblem
        A missing or unusable input, naming its dotted key.
    """
    d = resolved.get("delivery", {})
    method = d.get("method", "topical")
    if method == "topical":
        if not d.get("follicles", False):
            return None
        return _follicles(resolved, particle_diameter)
    device: dict[str, Any] = {}
    name = d.get("device")
    if name is None and method == "microneedle":
        # a needle length alone: literature defaults for efficiency and width
        device = device_values(GENERIC_MICRONEEDLE)
    elif name is not None:
        names = data.names("device")
        if name not in names:
            import difflib

            close = difflib.get_close_matches(name, names, n=1)
            raise ParameterProblem("delivery.device", f'"{name}"', "one of " + ", ".join(f'"{n}"' for n in names)
                                   + (f'; did you mean "{close[0]}"?' if close else ""))
        device = device_values(name)
        if device["kind"] != method:
            allowed = [n for n in data.names("device") if data.values("device", n)["kind"] == method]
            raise ParameterProblem("delivery.device", f'"{name}" (a {device["kind"]} device)',
                                   f"a {method} device: " + ", ".join(f'"{a}"' for a in allowed))
    if d.get("occlusion", False) and "closure_time" not in d and "closure_time_occluded" in device:
        closure = device["closure_time_occluded"]
    else:
        closure = _pick(d, device, "closure_time")
    delay = d.get("application_delay", 0.0)
    if method == "microneedle":
        return _microneedle(d, device, closure, delay)
    return _laser(d, device, closure, delay)


def _microneedle(d, device, closure, delay) -> dl.ChannelGeometry:
    if "channel_depth" in d:
        depth = d["channel_depth"]
    else:
        length = _need(_pick(d, device, "needle_length"), "needle_length",
                       'a needle length (e.g. "1 mm"), a device, or channel_depth')
        eff = _need(_pick(d, device, "penetration_efficiency"), "penetration_efficiency",
                    "the fraction of the needle length that enters the skin (0.2-0.8), or channel_depth")
        depth = length * eff
    diameter = _need(_pick(d, device, "channel_diameter"), "channel_diameter",
                     'the channel diameter at the surface (e.g. "70 um") or a device')
    density = _pick(d, device, "density")
    if density is None and all(k in device or k in d for k in ("needles", "drum_diameter", "drum_width")):
        density = dl.roller_density(_pick(d, device, "needles"), _pick(d, device, "drum_diameter"),
                                    _pick(d, device, "drum_width"), _pick(d, device, "passes") or 1.0)
    density = _need(density, "density", 'channels per area (e.g. "200 1/cm^2") or a device')
    tip = _pick(d, device, "tip_diameter")
    g = dl.microneedle_channel(depth, 1.0, diameter, density, tip_diameter=tip, closure_time=closure, delay=delay)
    return g


def _laser(d, device, closure, delay) -> dl.ChannelGeometry:
    if "channel_depth" in d and "channel_diameter" in d:
        depth, diameter = d["channel_depth"], d["channel_diameter"]
    else:
        energy = d.get("pulse_energy")
        if energy is None or "pulse_energy_table" not in device:
            raise ParameterProblem("delivery.pulse_energy" if device else "delivery.device", "nothing",
                                   "a laser device with a pulse_energy, or channel_depth and channel_diameter")
        name = d.get("device")
        depth = d.get("channel_depth") or dl.interpolate_device(
            energy, device["pulse_energy_table"], device["depth_table"], "delivery.pulse_energy", name)
        diameter = d.get("channel_diameter") or dl.interpolate_device(
            energy, device["pulse_energy_table"], device["diameter_table"], "delivery.pulse_energy", name)
    coverage = d.get("coverage")
    density = d.get("density")
    if coverage is not None and density is not None:
        # both set how many zones there are per area; the density won and the coverage was dropped unsaid
        raise ParameterProblem("delivery.coverage", f"{coverage:g} beside delivery.density",
                               "one of delivery.density and delivery.coverage (both set the zones per area)")
    if density is None and coverage is None:
        coverage = device.get("coverage")
    if density is None and coverage is None:
        raise ParameterProblem("delivery.density", "nothing", "a channel density or a coverage fraction")
    return dl.laser_channel(
        depth, diameter, density=density, coverage=None if density is not None else coverage,
        coagulation_width=_pick(d, device, "coagulation_width") or 0.0,
        # "or 1.0" made an explicit 0 (an impermeable rim, allowed) a factor 1
        coagulation_diffusivity_factor=_default(_pick(d, device, "coagulation_diffusivity_factor"), 1.0),
        coagulation_partition_factor=_default(_pick(d, device, "coagulation_partition_factor"), 1.0),
        closure_time=closure, delay=delay, bottom_diameter=_pick(d, device, "tip_diameter"))


def _follicles(resolved, particle_diameter=None) -> dl.ChannelGeometry:
    d = resolved["delivery"]
    site = resolved.get("skin", {}).get("preset")
    fol: dict[str, Any] = {}
    if site in data.names("follicle"):
        raw = data.values("follicle", site)
        fol = {"follicle_density": _si(raw["density"], "1/m^2"),
               "follicle_diameter": _si(raw["orifice_diameter"], "m"),
               "follicle_depth": _si(raw["depth"], "m")}
    why = f"follicle data (skin preset {site!r} has none; presets with data: " + \
          ", ".join(n for n in data.names("follicle") if n != "particle_entry") + ")"
    density = _need(_pick(d, fol, "follicle_density"), "follicle_density", why)
    diameter = _need(_pick(d, fol, "follicle_diameter"), "follicle_diameter", why)
    depth = _need(_pick(d, fol, "follicle_depth"), "follicle_depth", why)
    entry = data.values("follicle", "particle_entry")
    if particle_diameter is None:
        particle_diameter = _particle_diameter(resolved.get("formulation", {}))
    factor = dl.follicle_entry_factor(particle_diameter,
                                      _si(entry["optimum_diameter"], "m"), float(entry["window_gsd"]))
    return dl.follicle_channel(density, diameter, depth, factor)


def check(resolved: Mapping[str, Any]) -> list[ParameterProblem]:
    """Every problem with the scenario's channel (for one-line validation errors)."""
    try:
        geom = channel_geometry(resolved)
    except ParameterProblem as p:
        return [p]
    if geom is None:
        return []
    total = sum(float(ly["thickness"]) for ly in resolved["skin"]["layers"].values())
    return dl.check_geometry(geom, total)  # naming the follicle keys for follicles


def equivalent_radius(geom: dl.ChannelGeometry) -> float:
    """Radius of the cylinder with the volume of a (truncated) cone channel, m.

    Used for a cone with a coagulated rim (laser craters given a
    tip_diameter), which the grid builds only around a cylinder; a cone
    without a rim is solved as the cone (a staircase on the grid).
    """
    a, b = geom.radius, geom.bottom_radius
    return math.sqrt((a * a + a * b + b * b) / 3.0)


def unit_cell_layout(geom: dl.ChannelGeometry, resolution: Any) -> dict[str, Any]:
    """How a channel is laid out on the unit-cell grid: the grid's channel arguments and resolution.

    A cone without a coagulated rim is solved as the cone (a staircase); a
    cone with a rim as the cylinder of equal volume (:func:`equivalent_radius`).
    ``cells`` of a resolution table sizes the 1D column only; the unit
    cell then takes ``nr``, ``nz``, ``dr``, ``dz`` (or ``"auto"``).

    Returns
    -------
    dict
        ``channel_radius``, ``channel_bottom_radius``, ``channel_depth``,
        ``density``, ``coag_width``, ``resolution``.
    """
    cone = geom.bottom_radius < geom.radius and geom.coagulation_width == 0.0
    if isinstance(resolution, dict) and "cells" in resolution:
        resolution = {k: v for k, v in resolution.items() if k != "cells"} or "auto"
    return {"channel_radius": geom.radius if cone else equivalent_radius(geom),
            "channel_bottom_radius": geom.bottom_radius if cone else None, "channel_depth": geom.depth,
            "density": geom.density, "coag_width": geom.coagulation_width, "resolution": resolution}
