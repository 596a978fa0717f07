"""ProblemRZ: the axisymmetric unit cell around one micro-channel, as per-cell arrays.

The 2D twin of :class:`exodiff.problem.layered.Problem1D`: the same layers
(:class:`exodiff.problem.base.Layer`), vehicle, bottom, output times and
tolerance, plus a channel on the axis of a unit cell of radius
``R = 1/sqrt(pi n)``.  Amounts inside are per unit cell (dose unit); the
results convert them to per skin area by dividing by ``pi R^2``.

Regions (MODEL.md sections 2-4):

- tissue: each layer's ``D``, ``K`` and loss rates, by depth;
- channel ``r < r_c, z < depth_c``: formulation fluid while open (``D =
  D_open``, ``K = K_open = 1``, no first-order loss); closing with time
  constant ``tau``: ``D(t) = D_t + (D_open - D_t) exp(-t/tau)``, the same for
  ``K``, and loss rates ``k_t (1 - exp(-t/tau))``, ``D_t, K_t, k_t`` the
  values of the layer the cell lies in.  ``closure_time = None`` (or inf):
  stays open; ``0``: closed from the start (intact skin);
- coagulation zone (laser): the annulus ``r_c <= r < r_c + w`` down to
  ``depth_c + w`` and the cap of thickness ``w`` below the channel, with
  ``D = f_D D_t``, ``K = f_K K_t`` and the layer's loss rates; it does not
  close.

The vehicle film covers the whole top of the unit cell (and fills the open
channel, whose top cells exchange with it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from exodiff.geometry.grid import DEFAULT_STRETCH, LayeredGrid
from exodiff.geometry.grid_rz import (
    CHANNEL,
    COAGULATION,
    DEFAULT_RADIAL_RATIO,
    UnitCellGrid,
    unit_cell_grid,
    unit_cell_radius,
)
from exodiff.problem.base import Application, Layer  # noqa: F401  (Layer: the layers ProblemRZ takes)
from exodiff.problem.layered import Problem1D


@dataclass(frozen=True)
class ChannelSpec:
    """Geometry and kinetics of the micro-channel, SI.

    Attributes
    ----------
    radius : float
        Channel radius ``r_c``, m (0: no channel, laterally uniform skin).
    depth : float
        Channel depth, m.
    density : float
        Channels per m^2 (sets ``R = 1/sqrt(pi n)``).
    open_diffusivity : float
        ``D`` of the active in the open channel (free diffusivity), m^2/s.
    open_partition : float
        ``K`` of the open channel relative to the vehicle (1: formulation fluid).
    closure_time : float
        ``tau``, s; ``inf``: stays open, ``0``: closed from the start.
    closure_delay : float
        Time from the procedure (channel made) to the application, s: the
        channel is ``exp(-delay / tau)`` open at ``t = 0``.
    coag_width : float
        Coagulation zone width ``w``, m (0: none).
    coag_diffusivity_factor, coag_partition_factor : float
        ``D`` and ``K`` of the coagulation zone relative to the tissue's.
    coag_bottom : bool
        The coagulation zone also lines the channel bottom (a cup).
    bottom_radius : float or None
        Radius at the channel bottom, m, for a cone (a staircase on the grid);
        None: a cylinder.
    """

    radius: float
    depth: float
    density: float
    open_diffusivity: float
    open_partition: float = 1.0
    closure_time: float = math.inf
    closure_delay: float = 0.0
    coag_width: float = 0.0
    coag_diffusivity_factor: float = 1.0
    coag_partition_factor: float = 1.0
    coag_bottom: bool = True
    bottom_radius: float | None = None

    @property
    def unit_cell_radius(self) -> float:
        return unit_cell_radius(self.density)

    @property
    def area_fraction(self) -> float:
        """Share of the skin surface the channel mouths take, ``pi r_c^2 n``."""
        return math.pi * self.radius ** 2 * self.density


def _closure_time(value) -> float:
    if value is None:
        return math.inf
    tau = float(value)
    if math.isnan(tau) or tau < 0.0:
        raise ValueError(f"closure_time must be >= 0 s, None or inf, got {value!r}")
    return tau


def _delay(value) -> float:
    d = float(value)
    if math.isnan(d) or d < 0.0:
        raise ValueError(f"closure_delay must be >= 0 s, got {value!r}")
    return d


@dataclass(frozen=True, kw_only=True)
class ProblemRZ(Application):
    """Everything the r-z solver needs, in SI (amounts per unit cell).

    Attributes
    ----------
    layers : tuple of Layer
    channel : ChannelSpec
    grid : UnitCellGrid
    bottom, vehicle, concentration, vehicle_thickness, output_times, tolerance,
    evaporation_fraction, evaporation_time, wash_off_time, dose_unit :
        As :class:`exodiff.problem.layered.Problem1D`.
    """

    channel: ChannelSpec
    grid: UnitCellGrid

    # -- construction ---------------------------------------------------------
    @classmethod
    def from_layers(cls, layers, *, channel_radius, channel_depth, density, open_diffusivity,
                    open_partition=1.0, closure_time=None, closure_delay=0.0, coag_width=0.0,
                    coag_diffusivity_factor=1.0, coag_partition_factor=1.0, coag_bottom=True, output_times,
                    resolution="auto", bottom="sink", vehicle="finite", concentration=1.0, vehicle_thickness=20e-6,
                    tolerance=1e-5, evaporation_fraction=0.0, evaporation_time=1800.0, wash_off_time=None,
                    dose_unit="1", stretch=None, radial_ratio=None, meta=None, channel_bottom_radius=None,
                    area=1e-4, area_source="default 1 cm^2"):
        """Build a unit-cell problem from layers given directly (tests, benchmarks, fitting).

        Parameters
        ----------
        layers : sequence of exodiff.problem.base.Layer
            Top to bottom.
        channel_radius, channel_depth : float
            Channel on the axis: radius at the surface and depth, m (radius 0: no channel).
        density : float
            Channels per m^2; the unit cell radius is ``1/sqrt(pi density)``.
        open_diffusivity : float
            Diffusivity in the open channel (free diffusivity of the active), m^2/s.
        open_partition : float
            Partition coefficient of the open channel (formulation fluid: 1).
        closure_time : float or None
            ``tau`` of the closure, s; None or inf: open throughout; 0: closed from the start.
        closure_delay : float
            Time between making the channel and applying the formulation, s
            (the channel starts ``exp(-delay/tau)`` open).
        coag_width, coag_diffusivity_factor, coag_partition_factor, coag_bottom :
            Coagulation zone (see :class:`ChannelSpec`).
        output_times : array_like
            Output times, s; 0 is prepended when missing.
        resolution : "auto", (nr, nz) or dict
            See :func:`exodiff.geometry.grid_rz.unit_cell_grid`.
        bottom, vehicle, concentration, vehicle_thickness, tolerance, evaporation_fraction,
        evaporation_time, wash_off_time, dose_unit :
            As :meth:`exodiff.problem.layered.Problem1D.from_layers`.
        stretch, radial_ratio : float, optional
            Depth stretching and radial grading (defaults 0.75 and 1.05).
        channel_bottom_radius : float, optional
            Radius at the channel bottom, m: a cone narrowing linearly from
            ``channel_radius`` (solved as a staircase); default a cylinder.
        area, area_source :
            Treated skin area (m^2) and where it came from, as :class:`~exodiff.problem.base.Application`.
        """
        layers = tuple(layers)
        if bottom not in ("sink", "no_flux"):
            raise ValueError(f"bottom must be 'sink' or 'no_flux', got {bottom!r}")
        if vehicle not in ("finite", "infinite"):
            raise ValueError(f"vehicle must be 'finite' or 'infinite', got {vehicle!r}")
        ch = ChannelSpec(radius=float(channel_radius), depth=float(channel_depth) if channel_radius > 0 else 0.0,
                         density=float(density), open_diffusivity=float(open_diffusivity),
                         open_partition=float(open_partition), closure_time=_closure_time(closure_time),
                         closure_delay=_delay(closure_delay),
                         coag_width=float(coag_width) if channel_radius > 0 else 0.0,
                         coag_diffusivity_factor=float(coag_diffusivity_factor),
                         coag_partition_factor=float(coag_partition_factor), coag_bottom=bool(coag_bottom),
                         bottom_radius=(None if channel_bottom_radius is None or channel_radius <= 0
                                        or channel_bottom_radius >= channel_radius else float(channel_bottom_radius)))
        grid = unit_cell_grid([ly.thickness for ly in layers], radius=ch.unit_cell_radius,
                              channel_radius=ch.radius, channel_depth=ch.depth, coag_width=ch.coag_width,
                              coag_bottom=ch.coag_bottom, resolution=resolution,
                              channel_bottom_radius=ch.bottom_radius,
                              stretch=DEFAULT_STRETCH if stretch is None else float(stretch),
                              radial_ratio=DEFAULT_RADIAL_RATIO if radial_ratio is None else float(radial_ratio))
        times = np.unique(np.concatenate([[0.0], np.asarray(output_times, dtype=float)]))
        return cls(layers=layers, channel=ch, grid=grid, bottom=bottom, vehicle=vehicle,
                   concentration=float(concentration), vehicle_thickness=float(vehicle_thickness),
                   output_times=times, tolerance=float(tolerance),
                   evaporation_fraction=float(evaporation_fraction), evaporation_time=float(evaporation_time),
                   wash_off_time=None if wash_off_time is None else float(wash_off_time),
                   dose_unit=str(dose_unit), meta=dict(meta or {}), area=float(area), area_source=str(area_source))

    def column_problem(self) -> Problem1D:
        """The intact-skin 1D problem on the same depth grid (same layers, vehicle, times).

        What the unit cell reduces to without a channel (or with a channel
        closed from the start); per skin area.
        """
        return Problem1D(grid=self.grid.z, **self.application(meta={}))

    # -- derived quantities ---------------------------------------------------
    @property
    def cell_area(self) -> float:
        """Skin area of the unit cell, ``pi R^2``, m^2."""
        return self.grid.area

    @property
    def unit_dose(self) -> float:
        """Applied amount per unit cell (dose unit)."""
        return self.dose * self.cell_area

    @property
    def z_grid(self) -> LayeredGrid:
        return self.grid.z

    def amount_scale(self) -> float:
        """Amount per unit cell the tolerance's absolute part refers to.

        The 1D :meth:`exodiff.problem.layered.Problem1D.amount_scale` times ``pi R^2``.
        """
        if self.vehicle == "finite":
            return self.unit_dose
        K = self._layer_field("partition")
        cap = (K * self.grid.z.widths).sum()
        return self.concentration * max(float(cap), self.vehicle_thickness) * self.cell_area

    def _layer_field(self, attr: str) -> np.ndarray:
        vals = np.array([getattr(ly, attr) for ly in self.layers], dtype=float)
        return vals[self.grid.z.layer_of_cell]

    def tissue_fields(self) -> dict:
        """Closed-state (tissue) coefficients per cell, shape ``(nz, nr)``.

        Channel cells carry the value of the layer they lie in (what they close
        to); coagulation cells the layer's ``D`` and ``K`` times the factors.

        Returns
        -------
        dict
            ``diffusivity`` (m^2/s), ``partition``, ``degradation_rate``,
            ``uptake_rate``, ``clearance_rate`` (1/s).
        """
        g = self.grid
        shape = g.shape
        out = {}
        for attr in ("diffusivity", "partition", "degradation_rate", "uptake_rate", "clearance_rate"):
            out[attr] = np.repeat(self._layer_field(attr)[:, None], shape[1], axis=1)
        coag = g.region == COAGULATION
        out["diffusivity"][coag] *= self.channel.coag_diffusivity_factor
        out["partition"][coag] *= self.channel.coag_partition_factor
        return out

    def open_fraction(self, t: float) -> float:
        """Open fraction ``exp(-t / tau)`` of the channel at time ``t``."""
        tau = self.channel.closure_time
        if tau <= 0.0:
            return 0.0
        if math.isinf(tau):
            return 1.0
        return math.exp(-(t + self.channel.closure_delay) / tau)

    def fields_at(self, t: float) -> dict:
        """``D``, ``K`` and loss rates per cell at time ``t`` (the closing channel)."""
        f = self.tissue_fields()
        phi = self.open_fraction(t)
        ch = self.grid.region == CHANNEL
        if ch.any():
            f["diffusivity"][ch] += (self.channel.open_diffusivity - f["diffusivity"][ch]) * phi
            f["partition"][ch] += (self.channel.open_partition - f["partition"][ch]) * phi
            for k in ("degradation_rate", "uptake_rate", "clearance_rate"):
                f[k][ch] *= 1.0 - phi
        return f

    def capacity_at(self, t: float) -> np.ndarray:
        """Cell capacities ``K V`` (m^3) at time ``t``, shape ``(nz, nr)``."""
        return self.fields_at(t)["partition"] * self.grid.volumes

    def vehicle_capacity_at(self, t: float) -> float:
        """Vehicle capacity ``h_v(t) pi R^2`` (m^3)."""
        return self.film_thickness(t) * self.cell_area

    def kernel_arrays(self) -> dict:
        """Arrays for :func:`exodiff.kernels.rz.integrate_rz_serial` (and its parallel twin)."""
        g = self.grid
        f = self.tissue_fields()
        dz = np.ascontiguousarray(g.z.widths, dtype=float)
        return dict(
            chan_cols=np.ascontiguousarray(g.channel_cols, dtype=np.int64),
            d_open=float(self.channel.open_diffusivity),
            k_open=float(self.channel.open_partition),
            tau=float(self.channel.closure_time) if g.channel_rows > 0 else math.inf,
            t_open=float(self.channel.closure_delay),
            d_t=np.ascontiguousarray(f["diffusivity"]),
            k_t=np.ascontiguousarray(f["partition"]),
            kdeg=np.ascontiguousarray(f["degradation_rate"]),
            kup=np.ascontiguousarray(f["uptake_rate"]),
            kcl=np.ascontiguousarray(f["clearance_rate"]),
            vol=np.ascontiguousarray(g.volumes),
            dz=dz,
            dr=np.ascontiguousarray(g.dr),
            rf=np.ascontiguousarray(g.r_faces),
            az=np.ascontiguousarray(g.annulus_areas),
            sink=self.bottom == "sink",
            row_layer=np.ascontiguousarray(g.z.layer_of_cell, dtype=np.int64),
            n_layers=len(self.layers),
        )

    def coefficients_at(self, t: float) -> dict:
        """Kernel coefficients at time ``t`` (the compiled :func:`update_coefficients`).

        Returns
        -------
        dict
            ``dk``, ``cap`` (m^3), ``cdeg``, ``cup``, ``ccl``, ``loss`` (m^3/s),
            ``gz`` (``(nz+1, nr)``, m^3/s; row 0 the vehicle coupling, row nz the
            bottom), ``gr`` (``(nz, nr+1)``).
        """
        from exodiff.kernels.rz import update_coefficients

        a = self.kernel_arrays()
        nz, nr = self.grid.shape
        out = {k: np.empty((nz, nr)) for k in ("dk", "cap", "cdeg", "cup", "ccl", "loss")}
        out["gz"] = np.zeros((nz + 1, nr))
        out["gr"] = np.zeros((nz, nr + 1))
        update_coefficients(self.open_fraction(t), nz, nr, a["chan_cols"], a["d_open"], a["k_open"], a["d_t"],
                            a["k_t"], a["kdeg"], a["kup"], a["kcl"], a["vol"], a["dz"], a["dr"], a["rf"], a["az"],
                            a["sink"], out["dk"], out["cap"], out["cdeg"], out["cup"], out["ccl"], out["loss"],
                            out["gz"], out["gr"])
        return out


# -- from a scenario -------------------------------------------------------------------------

def unit_cell_problem(resolved, layers, base, particle_diameter: float | None = None):
    """The r-z unit-cell problem of a channel scenario.

    Parameters
    ----------
    resolved : dict
        ``Scenario.resolved``.
    layers : tuple of exodiff.problem.base.Layer
        The tissue layers' coefficients (as for the 1D column).
    base : exodiff.problem.layered.Problem1D
        The 1D problem of the same scenario (vehicle, times, tolerance).
    particle_diameter : float, optional
        Diameter of one size class, m: the open channel's free diffusivity
        (Stokes-Einstein, or a given one scaled as in 1D) and the follicle
        entry factor are the class's.
    """
    from exodiff.geometry.channels import channel_geometry, unit_cell_layout
    from exodiff.physics.coefficients import Active

    geom = channel_geometry(resolved, particle_diameter)
    active = Active.from_formulation(resolved["formulation"], resolved["skin"])
    if particle_diameter is not None:
        active = active.with_radius(0.5 * particle_diameter)
    d_free = active.d_free("the open channel holds formulation fluid")
    layout = unit_cell_layout(geom, resolved["simulation"].get("resolution", "auto"))
    app = base.application(layers=tuple(layers), meta={"channel_kind": geom.kind})
    if base.has_receptor:
        # the unit cell has no receptor node: a Franz cell is solved under sink conditions (no back-pressure;
        # what crosses the bottom is still booked to the receptor), docs/model.md
        app["bottom"] = "sink"
        app["meta"]["receptor"] = "sink conditions"
    # the 1D column's integrator: the unit cell has its own (TR-BDF2)
    for key in ("receptor_depth", "receptor_partition", "sampling_times", "sample_fraction", "integrator"):
        app.pop(key)
    # one application only: a regimen through channels is refused at validation (docs/model.md, 1.2)
    if app.pop("application_times") or app.pop("join_film"):
        raise ValueError("a regimen (repeated applications) is not available for channel delivery")
    problem = ProblemRZ.from_layers(
        **app, **layout,
        open_diffusivity=d_free, open_partition=geom.entry_factor, closure_time=geom.closure_time,
        closure_delay=geom.delay, coag_diffusivity_factor=geom.coagulation_diffusivity_factor,
        coag_partition_factor=geom.coagulation_partition_factor)
    return problem, geom


def class_problems(resolved, problem: Problem1D):
    """The unit-cell problem of every size class, with its column.

    Parameters
    ----------
    resolved : dict
        ``Scenario.resolved`` of a channel scenario.
    problem : Problem1D
        The scenario's 1D problem; its ``columns`` are the size classes.

    Returns
    -------
    list of (ProblemRZ, Column)
    """
    out = []
    for col in problem.columns:
        if col.species != "vesicle":
            raise ValueError("the unit-cell solver tracks vesicles only (no cargo column)")
        prz, _ = unit_cell_problem(resolved, col.layers, problem, particle_diameter=col.diameter)
        out.append((replace(prz, concentration=problem.concentration * col.weight), col))
    return out
