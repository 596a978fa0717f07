"""Delivery geometry: devices and body sites -> micro-channel geometry.

Pure functions over SI floats.  A microneedle track, a laser microscopic
treatment zone (MTZ) and a hair follicle are all one axisymmetric channel on
the axis of a unit cell of radius ``R = 1 / sqrt(pi n)`` for ``n`` channels per
m^2 (MODEL.md section 2); they differ in depth, width, closure and what fills
them.  Device presets live in ``exodiff/data/devices.toml``, follicle data by
body site in ``exodiff/data/follicles.toml``; both with sources.

A problem found here raises :class:`exodiff.errors.ParameterProblem` naming
the dotted scenario key, so the scenario layer reports it as one line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from exodiff.errors import ParameterProblem, distinct_texts


@dataclass(frozen=True)
class ChannelGeometry:
    """One micro-channel and its unit cell, SI.

    Attributes
    ----------
    kind : str
        ``"microneedle"``, ``"laser"`` or ``"follicle"``.
    depth : float
        Channel depth below the skin surface, m.
    radius : float
        Channel radius at the surface, m.
    bottom_radius : float
        Channel radius at its bottom, m (equal to ``radius`` for a cylinder,
        smaller for a cone).
    density : float
        Channels per m^2 of skin.
    closure_time : float or None
        Time constant of closure, s; None for a channel that stays open.
    coagulation_width : float
        Width of the coagulated annulus around a laser channel, m (0 otherwise).
    coagulation_diffusivity_factor, coagulation_partition_factor : float
        Factors on the tissue's D and K inside that annulus.
    entry_factor : float
        Fraction of the active that can enter the channel's fluid (partition
        of the channel relative to the vehicle; 1 for open needle and laser
        channels, size-dependent for follicles).
    delay : float
        Time between the procedure and application, s: the closure clock
        starts this long before the simulation (the solver's
        ``closure_delay``).
    """

    kind: str
    depth: float
    radius: float
    bottom_radius: float
    density: float
    closure_time: float | None = None
    coagulation_width: float = 0.0
    coagulation_diffusivity_factor: float = 1.0
    coagulation_partition_factor: float = 1.0
    entry_factor: float = 1.0
    delay: float = 0.0

    @property
    def open_fraction(self) -> float:
        """How open the channel is when the formulation is applied, ``exp(-delay / closure_time)``."""
        return open_fraction_after(self.delay, self.closure_time)

    @property
    def cell_radius(self) -> float:
        """Unit-cell radius ``R = 1/sqrt(pi n)``, m."""
        return unit_cell_radius(self.density)

    @property
    def coverage(self) -> float:
        """Area fraction of the skin surface opened by channels (incl. coagulation)."""
        return self.density * math.pi * (self.radius + self.coagulation_width) ** 2


def unit_cell_radius(density: float) -> float:
    """Radius of the cylindrical unit cell around one channel.

    Parameters
    ----------
    density : float
        Channels per m^2.

    Returns
    -------
    float
        ``R = 1 / sqrt(pi n)``, m: the circle with the same area as the skin
        each channel serves (hexagonal cells approximated by circles of equal
        area, with zero flux at ``r = R`` by symmetry).
    """
    return 1.0 / math.sqrt(math.pi * density)


def density_from_coverage(coverage: float, radius: float) -> float:
    """Channels per m^2 that open a fraction ``coverage`` of the surface with radius ``radius`` (m)."""
    return coverage / (math.pi * radius**2)


def roller_density(needles: float, drum_diameter: float, drum_width: float, passes: float) -> float:
    """Channel density of a dermaroller, per m^2.

    One revolution of a drum of diameter ``d`` and width ``w`` covers
    ``pi d w`` and pierces it ``needles`` times; ``passes`` passes over the same
    area add up (overlapping holes are counted as separate channels, which is
    right while the coverage stays small).
    """
    return needles * passes / (math.pi * drum_diameter * drum_width)


def open_fraction_after(delay: float, closure_time: float | None) -> float:
    """Openness ``exp(-delay/tau)`` of a channel ``delay`` s after the procedure."""
    if closure_time is None or delay <= 0.0:
        return 1.0
    if closure_time <= 0.0:
        return 0.0
    return math.exp(-delay / closure_time)


def microneedle_channel(needle_length: float, penetration_efficiency: float, channel_diameter: float,
                        density: float, *, tip_diameter: float | None = None,
                        closure_time: float | None = None, delay: float = 0.0) -> ChannelGeometry:
    """Channel left by a microneedle.

    Parameters
    ----------
    needle_length : float
        Needle length, m.
    penetration_efficiency : float
        Depth reached / needle length (skin deflects before it is pierced;
        ~0.2-0.8: Kalluri & Banga 2011, Pharm Res 28:82; Donnelly et al.).
    channel_diameter : float
        Channel diameter at the skin surface, m (measured channels are
        narrower than needle bases: 71 um for a 250 um needle, Kalluri 2011).
    density : float
        Channels per m^2.
    tip_diameter : float, optional
        Channel diameter at the bottom (cone); default a cylinder.
    closure_time : float, optional
        Closure time constant, s (None: stays open).
    delay : float
        Time between needling and application, s.
    """
    depth = needle_length * penetration_efficiency
    bottom = channel_diameter if tip_diameter is None else tip_diameter
    return ChannelGeometry("microneedle", depth, channel_diameter / 2.0, bottom / 2.0, density,
                           closure_time, delay=delay)


def interpolate_device(energy: float, table_energy, table_value, key: str, what: str) -> float:
    """Linear interpolation in a device table, with a clear error outside it.

    Parameters
    ----------
    energy : float
        Pulse energy, J.
    table_energy, table_value : sequence of float
        The device table (J, and the value in SI), energies increasing.
    key : str
        Dotted scenario key for the error message.
    what : str
        Device name for the error message.
    """
    e = np.asarray(table_energy, dtype=float)
    v = np.asarray(table_value, dtype=float)
    if not (e[0] <= energy <= e[-1]):
        raise ParameterProblem(key, f"{energy * 1e3:g} mJ",
                               f"a pulse energy within the {what} table, {e[0] * 1e3:g}-{e[-1] * 1e3:g} mJ "
                               "(outside it the device data say nothing; give channel_depth and "
                               "channel_diameter directly)")
    return float(np.interp(energy, e, v))


def laser_channel(depth: float, diameter: float, *, density: float | None = None, coverage: float | None = None,
                  coagulation_width: float = 0.0, coagulation_diffusivity_factor: float = 1.0,
                  coagulation_partition_factor: float = 1.0, closure_time: float | None = None,
                  delay: float = 0.0, bottom_diameter: float | None = None) -> ChannelGeometry:
    """Microscopic treatment zone of an ablative fractional laser.

    Parameters
    ----------
    depth, diameter : float
        Ablated channel depth and surface diameter, m.
    density, coverage : float
        Channels per m^2, or the treated area fraction (ablated + coagulated
        area); exactly one is used (density wins).
    coagulation_width : float
        Width of the coagulated rim, m.
    coagulation_diffusivity_factor, coagulation_partition_factor : float
        Factors on tissue D and K within the rim.
    closure_time : float, optional
        Re-epithelialisation time constant, s.
    delay : float
        Time between the laser and application, s.
    bottom_diameter : float, optional
        Diameter at the bottom (cone); default a cylinder.
    """
    r = diameter / 2.0
    if density is None:
        if coverage is None:
            raise ParameterProblem("delivery.density", "nothing", "a channel density or a coverage fraction")
        density = density_from_coverage(coverage, r + coagulation_width)
    bottom = diameter if bottom_diameter is None else bottom_diameter
    return ChannelGeometry("laser", depth, r, bottom / 2.0, density, closure_time, coagulation_width,
                           coagulation_diffusivity_factor, coagulation_partition_factor, delay=delay)


def follicle_entry_factor(particle_diameter: float | None, optimum: float, width: float) -> float:
    """Size-dependent fraction of particles that enter a hair follicle.

    A log-normal window around the optimum diameter (~640 nm; Patzelt et al.
    2011, J Control Release 150:45: follicular penetration depth is largest
    for ~640 nm particles, less for smaller and larger ones), normalised to 1
    at the optimum.  Dissolved molecules (``particle_diameter`` None) enter
    freely.  The functional form is a modelling choice (docs/model.md).

    Parameters
    ----------
    particle_diameter : float or None
        Hydrodynamic diameter, m.
    optimum : float
        Diameter of best follicular entry, m.
    width : float
        Geometric standard deviation of the window (> 1).
    """
    if particle_diameter is None:
        return 1.0
    s = math.log(width)
    return math.exp(-0.5 * (math.log(particle_diameter / optimum) / s) ** 2)


def follicle_channel(density: float, orifice_diameter: float, depth: float, entry_factor: float) -> ChannelGeometry:
    """A hair follicle as a channel that stays open (sebum-filled infundibulum)."""
    r = orifice_diameter / 2.0
    return ChannelGeometry("follicle", depth, r, r, density, None, entry_factor=entry_factor)


#: the shallowest channel (m), as the narrowest (1 um, ``delivery.channel_diameter``): a 1 nm channel's cells
#: exchanged at 1e9 1/s and the unit cell stopped at t = 0 blaming the diffusivity
MIN_CHANNEL_DEPTH = 1e-6


def check_geometry(geom: ChannelGeometry, skin_thickness: float) -> list[ParameterProblem]:
    """Problems with a channel geometry in a given skin, as ParameterProblems (not raised).

    Checks: the channel is at least :data:`MIN_CHANNEL_DEPTH` deep and ends
    above the bottom of the skin; channels (with their coagulation rim)
    cover less than the whole surface.
    """
    problems = []
    follicle = geom.kind == "follicle"
    if not geom.depth < skin_thickness:
        # enough digits that the value and the bound differ in the message (1174.9 um printed as 1175)
        shown, bound = distinct_texts(geom.depth * 1e6, skin_thickness * 1e6)
        problems.append(ParameterProblem(
            "delivery.follicle_depth" if follicle else "delivery.channel_depth", f"{shown} um",
            f"a {'follicle' if follicle else 'channel'} shallower than the skin ({bound} um from surface to the "
            "bottom of the deepest layer)"))
    if not geom.depth >= MIN_CHANNEL_DEPTH:
        shown, bound = distinct_texts(geom.depth * 1e6, MIN_CHANNEL_DEPTH * 1e6)
        problems.append(ParameterProblem(
            "delivery.follicle_depth" if follicle else "delivery.channel_depth", f"{shown} um",
            f"a {'follicle' if follicle else 'channel'} at least {bound} um deep"
            + ("" if follicle else " (channel_depth, or needle_length x penetration_efficiency)")))
    cov = geom.coverage
    if not cov < 1.0:
        what = "follicles" if follicle else "channels"
        problems.append(ParameterProblem(
            "delivery.follicle_density" if follicle else "delivery.density",
            f"{geom.density * 1e-4:.4g} {what}/cm^2 of {geom.radius * 2e6:.3g} um",
            f"{what} covering less than 100 % of the surface (this gives {distinct_texts(cov * 100, 100.0)[0]} %)"))
    if not (0.0 < geom.bottom_radius <= geom.radius):
        shown, bound = distinct_texts(geom.bottom_radius * 2e6, geom.radius * 2e6)
        problems.append(ParameterProblem(
            "delivery.tip_diameter", f"{shown} um",
            f"a positive tip diameter no larger than the surface diameter ({bound} um)"))
    return problems
