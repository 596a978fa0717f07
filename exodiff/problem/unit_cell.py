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

from exodiff.geometry.grid import LayeredGrid
from exodiff.geometry.grid_rz import (
    CHANNEL,
    COAGULATION,
    DEFAULT_RADIAL_RATIO,
    UnitCellGrid,
    unit_cell_grid,
    unit_cell_radius,
)
from exodiff.problem.base import Application, Layer  # noqa: F401  (Layer: the layers ProblemRZ takes)
from exodiff.problem.layered import Problem1D, _decay_length


#: the least partition a unit-cell cell holds: a layer (or a channel) that takes nothing up (K = 0, e.g. a
#: 10 um particle's hindered partition, or a follicle's entry factor for it) has no capacity, and the
#: unit cell's stage solves divided by it (non-finite at t = 0, naming no key).  At 1e-200 what enters is
#: 1e-200 of what stands beside it: nothing, in double precision, and every capacity stays positive.
PARTITION_FLOOR = 1e-200


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


@dataclass(frozen=True)
class CargoSpec:
    """A cargo the vesicles carry and set free, as a second field of the unit cell (SI).

    The vesicles release it at their layers' ``release_rate`` (and a
    fraction ``release_on_degradation`` of the cargo of degraded vesicles);
    the free cargo diffuses by its own coefficients, as the 1D cargo column
    (:func:`exodiff.problem.layered.build_columns`).

    Attributes
    ----------
    layers : tuple of Layer
        The free cargo's coefficients, top to bottom (the vesicles' layers'
        thicknesses).
    open_diffusivity : float
        Free diffusivity of the cargo in the open channel, m^2/s.
    open_partition : float
        ``K`` of the open channel for the free cargo (1: formulation fluid).
    release_on_degradation : float
        Fraction of a degraded vesicle's cargo set free.
    encapsulation : float
        Cargo one vesicle carries, in loaded vesicle equivalents
        (``encapsulation_efficiency``; as :attr:`Problem1D.encapsulation`).
    free : float
        Free cargo in the film at application, per unit of the vesicles'
        concentration (the 1D cargo column's ``weight``, ``1 - encapsulation``).
    loading : float
        Cargo per unit of vesicle dose in the cargo's unit (absolute amounts).
    barrier_layers : tuple of str
        Names of the stratum-corneum layers (result attribute, cargo metrics).
    """

    layers: tuple
    open_diffusivity: float
    open_partition: float = 1.0
    release_on_degradation: float = 1.0
    encapsulation: float = 1.0
    free: float = 0.0
    loading: float = 1.0
    barrier_layers: tuple = ()


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
    cargo : CargoSpec or None
        A tracked cargo (the vesicles' ``layers`` then carry their
        ``release_rate``), solved as a second field with the vesicles' steps.
    procedure_times : tuple of float
        A regimen's later procedure sessions, s (each one of the
        ``application_times``): the channels are made again
        ``closure_delay`` before that application, so their closure clock
        restarts (docs/model.md, 1.2).  Empty: the channels of ``t = 0`` only.
    """

    channel: ChannelSpec
    grid: UnitCellGrid
    cargo: CargoSpec | None = None
    procedure_times: tuple = ()

    # -- construction ---------------------------------------------------------
    @classmethod
    def from_layers(cls, layers, *, channel_radius, channel_depth, density, open_diffusivity,
                    open_partition=1.0, closure_time=None, closure_delay=0.0, coag_width=0.0,
                    coag_diffusivity_factor=1.0, coag_partition_factor=1.0, coag_bottom=True, output_times,
                    resolution="auto", bottom="sink", vehicle="finite", concentration=1.0, vehicle_thickness=20e-6,
                    tolerance=1e-5, evaporation_fraction=0.0, evaporation_time=1800.0, wash_off_time=None,
                    dose_unit="1", stretch=None, radial_ratio=None, meta=None, channel_bottom_radius=None,
                    area=1e-4, area_source="default 1 cm^2", cargo=None, application_times=(),
                    join_film=False, procedure_times=()):
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
        stretch : float or sequence of float, optional
            Depth stretching of every layer or of each; default: the 1D
            column's rule, uniform unless a layer's loss makes boundary
            layers (:func:`exodiff.geometry.grid.layer_stretches`).
        radial_ratio : float, optional
            Radial grading away from the channel wall (default 1.05).
        channel_bottom_radius : float, optional
            Radius at the channel bottom, m: a cone narrowing linearly from
            ``channel_radius`` (solved as a staircase); default a cylinder.
        area, area_source :
            Treated skin area (m^2) and where it came from, as :class:`~exodiff.problem.base.Application`.
        cargo : CargoSpec, optional
            A cargo released by the vesicles (their ``release_rate`` in ``layers``).
        application_times, join_film :
            A regimen (the applications after the first, s; a new film joins
            the old one), as :class:`~exodiff.problem.base.Application`.
        procedure_times : sequence of float
            The later applications that come with a procedure session (re-opened channels), s.
        """
        layers = tuple(layers)
        application_times = tuple(float(t) for t in application_times)
        procedure_times = tuple(float(t) for t in procedure_times)
        if not set(procedure_times) <= set(application_times):
            raise ValueError(f"procedure_times {procedure_times!r} must be among application_times "
                             f"{application_times!r}")
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
                              stretch=stretch, decay_lengths=[_decay_length(ly) for ly in layers],
                              radial_ratio=DEFAULT_RADIAL_RATIO if radial_ratio is None else float(radial_ratio))
        times = np.unique(np.concatenate([[0.0], np.asarray(output_times, dtype=float)]))
        return cls(layers=layers, channel=ch, grid=grid, bottom=bottom, vehicle=vehicle,
                   concentration=float(concentration), vehicle_thickness=float(vehicle_thickness),
                   output_times=times, tolerance=float(tolerance),
                   evaporation_fraction=float(evaporation_fraction), evaporation_time=float(evaporation_time),
                   wash_off_time=None if wash_off_time is None else float(wash_off_time),
                   dose_unit=str(dose_unit), meta=dict(meta or {}), area=float(area), area_source=str(area_source),
                   cargo=cargo, application_times=application_times, join_film=bool(join_film),
                   procedure_times=procedure_times)

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

    @property
    def n_processes(self) -> int:
        """Loss processes per layer in the compartment layout: 4 with a tracked cargo (``released``), else 3."""
        return 3 if self.cargo is None else 4

    def _layer_field(self, attr: str, layers=None) -> np.ndarray:
        vals = np.array([getattr(ly, attr) for ly in (self.layers if layers is None else layers)], dtype=float)
        return vals[self.grid.z.layer_of_cell]

    def tissue_fields(self, species: str = "vesicle") -> dict:
        """Closed-state (tissue) coefficients per cell, shape ``(nz, nr)``.

        Channel cells carry the value of the layer they lie in (what they close
        to); coagulation cells the layer's ``D`` and ``K`` times the factors.

        Parameters
        ----------
        species : {"vesicle", "cargo"}
            The active (vesicles) or the free cargo they release.

        Returns
        -------
        dict
            ``diffusivity`` (m^2/s), ``partition``, ``degradation_rate``,
            ``uptake_rate``, ``clearance_rate`` (1/s); with a cargo, the
            vesicles' ``release_rate`` (1/s) too.
        """
        g = self.grid
        shape = g.shape
        layers = self.cargo.layers if species == "cargo" else self.layers
        attrs = ["diffusivity", "partition", "degradation_rate", "uptake_rate", "clearance_rate"]
        if species != "cargo" and self.cargo is not None:
            attrs.append("release_rate")
        out = {}
        for attr in attrs:
            out[attr] = np.repeat(self._layer_field(attr, layers)[:, None], shape[1], axis=1)
        coag = g.region == COAGULATION
        out["diffusivity"][coag] *= self.channel.coag_diffusivity_factor
        out["partition"][coag] *= self.channel.coag_partition_factor
        np.maximum(out["partition"], PARTITION_FLOOR, out=out["partition"])
        return out

    def last_procedure(self, t: float) -> float:
        """Time of the procedure session in force at ``t`` (s): 0 or the latest of ``procedure_times`` <= t.

        A session at an output time counts there (the kernel re-opens before it records).
        """
        last = 0.0
        for tp in self.procedure_times:
            if tp <= t + 1e-9 * max(t, 1.0):
                last = max(last, float(tp))
        return last

    def open_fraction(self, t: float, opened: float | None = None) -> float:
        """Open fraction ``exp(-(t - t_p + delay) / tau)`` of the channel at time ``t``.

        ``t_p`` is ``opened`` if given (the left limit at a session: the
        session before), else the session in force (:meth:`last_procedure`).
        """
        tau = self.channel.closure_time
        if tau <= 0.0:
            return 0.0
        if math.isinf(tau):
            return 1.0
        tp = self.last_procedure(t) if opened is None else opened
        return math.exp(-(t - tp + self.channel.closure_delay) / tau)

    def _open(self, species: str) -> tuple[float, float]:
        """``D`` (m^2/s) and ``K`` of the open channel for the vesicles or the free cargo."""
        if species == "cargo":
            return self.cargo.open_diffusivity, max(self.cargo.open_partition, PARTITION_FLOOR)
        return self.channel.open_diffusivity, max(self.channel.open_partition, PARTITION_FLOOR)

    def fields_at(self, t: float, species: str = "vesicle", opened: float | None = None) -> dict:
        """``D``, ``K`` and loss rates per cell at time ``t`` (the closing channel; ``opened``: :meth:`open_fraction`)."""
        f = self.tissue_fields(species)
        phi = self.open_fraction(t, opened)
        ch = self.grid.region == CHANNEL
        if ch.any():
            d_open, k_open = self._open(species)
            f["diffusivity"][ch] += (d_open - f["diffusivity"][ch]) * phi
            f["partition"][ch] += (k_open - f["partition"][ch]) * phi
            for k in ("degradation_rate", "uptake_rate", "clearance_rate", "release_rate"):
                if k in f:
                    f[k][ch] *= 1.0 - phi
        return f

    def capacity_at(self, t: float, species: str = "vesicle") -> np.ndarray:
        """Cell capacities ``K V`` (m^3) at time ``t``, shape ``(nz, nr)``."""
        return self.fields_at(t, species)["partition"] * self.grid.volumes

    def vehicle_capacity_at(self, t: float) -> float:
        """Vehicle capacity ``h_v(t) pi R^2`` (m^3): the film on the skin at ``t`` (a regimen's latest film).

        A regimen's film is replayed through the kernels' own film law
        (:func:`exodiff.kernels.column1d.new_film`), each application at or
        before ``t`` (one at an output time counts there).
        """
        if not self.application_times:
            return self.film_thickness(t) * self.cell_area
        from exodiff.kernels import column1d as K

        f = np.zeros(K.N_FSTATE)  # the first film, applied at 0
        f[K.F_FILM] = self.vehicle_thickness
        f[K.F_VOLATILE] = self.evaporation_fraction
        starts = self.all_application_times
        tw = self.wash_off_time
        for k in range(1, len(starts)):
            ta = starts[k]
            if ta > t + 1e-9 * max(t, 1.0):
                break
            # the old film is still on (it joins) unless a wash-off came first (as stop_list schedules it)
            washed = tw is not None and starts[k - 1] + tw <= ta * (1 + 1e-12)
            K.new_film(ta, self.vehicle_thickness, self.evaporation_fraction, self.evaporation_time, f,
                       self.join_film and not washed)
        return float(K.film_capacity(t, f, self.evaporation_time)) * self.cell_area

    def kernel_arrays(self) -> dict:
        """Arrays for :func:`exodiff.kernels.rz.integrate_rz_serial` (and its parallel twin).

        With a cargo also ``krel`` (the vesicles' release rate per cell, 1/s),
        ``f_deg`` and the free cargo's ``d_open_c``, ``k_open_c``, ``d_t_c``,
        ``k_t_c``, ``kdeg_c``, ``kup_c``, ``kcl_c``; without one ``krel`` and
        the cargo's fields are empty (``(0, 0)``) and its scalars 0.
        """
        g = self.grid
        f = self.tissue_fields()
        dz = np.ascontiguousarray(g.z.widths, dtype=float)
        empty = np.empty((0, 0))
        if self.cargo is None:
            cargo = dict(krel=empty, f_deg=0.0, enc=1.0, d_open_c=0.0, k_open_c=0.0, d_t_c=empty, k_t_c=empty,
                         kdeg_c=empty, kup_c=empty, kcl_c=empty)
        else:
            fc = self.tissue_fields("cargo")
            cargo = dict(krel=np.ascontiguousarray(f["release_rate"]),
                         f_deg=float(self.cargo.release_on_degradation), enc=float(self.cargo.encapsulation),
                         d_open_c=float(self.cargo.open_diffusivity), k_open_c=float(self._open("cargo")[1]),
                         d_t_c=np.ascontiguousarray(fc["diffusivity"]), k_t_c=np.ascontiguousarray(fc["partition"]),
                         kdeg_c=np.ascontiguousarray(fc["degradation_rate"]),
                         kup_c=np.ascontiguousarray(fc["uptake_rate"]),
                         kcl_c=np.ascontiguousarray(fc["clearance_rate"]))
        return dict(
            **cargo,
            chan_cols=np.ascontiguousarray(g.channel_cols, dtype=np.int64),
            d_open=float(self.channel.open_diffusivity),
            k_open=float(self._open("vesicle")[1]),
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

    def coefficients_at(self, t: float, species: str = "vesicle") -> dict:
        """Kernel coefficients at time ``t`` (the compiled :func:`update_coefficients`).

        Parameters
        ----------
        species : {"vesicle", "cargo"}
            The vesicles (with a cargo their loss includes the release) or the free cargo.

        Returns
        -------
        dict
            ``dk``, ``cap`` (m^3), ``cdeg``, ``cup``, ``ccl``, ``crel`` (release,
            zero without a cargo), ``loss`` (m^3/s), ``gz`` (``(nz+1, nr)``,
            m^3/s; row 0 the vehicle coupling, row nz the bottom), ``gr``
            (``(nz, nr+1)``).
        """
        from exodiff.kernels.rz import update_coefficients

        a = self.kernel_arrays()
        nz, nr = self.grid.shape
        out = {k: np.zeros((nz, nr)) for k in ("dk", "cap", "cdeg", "cup", "ccl", "crel", "loss")}
        out["gz"] = np.zeros((nz + 1, nr))
        out["gr"] = np.zeros((nz, nr + 1))
        if species == "cargo":
            fields = (a["d_open_c"], a["k_open_c"], a["d_t_c"], a["k_t_c"], a["kdeg_c"], a["kup_c"], a["kcl_c"],
                      np.empty((0, 0)))
        else:
            fields = (a["d_open"], a["k_open"], a["d_t"], a["k_t"], a["kdeg"], a["kup"], a["kcl"], a["krel"])
        update_coefficients(self.open_fraction(t), nz, nr, a["chan_cols"], *fields, a["vol"], a["dz"], a["dr"],
                            a["rf"], a["az"], a["sink"], out["dk"], out["cap"], out["cdeg"], out["cup"], out["ccl"],
                            out["crel"], out["loss"], out["gz"], out["gr"])
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
    # a regimen: its procedure sessions re-open the channels (microneedle, laser; docs/model.md, 1.2)
    reg = resolved.get("regimen") or {}
    procedures = tuple(float(t) for t in reg.get("procedure_times", ()) if t > 0.0)
    problem = ProblemRZ.from_layers(
        **app, **layout, procedure_times=procedures,
        open_diffusivity=d_free, open_partition=geom.entry_factor, closure_time=geom.closure_time,
        closure_delay=geom.delay, coag_diffusivity_factor=geom.coagulation_diffusivity_factor,
        coag_partition_factor=geom.coagulation_partition_factor)
    return problem, geom


def class_problems(resolved, problem: Problem1D):
    """The unit-cell problem of every size class, with its column.

    With a tracked cargo each class's unit cell carries the cargo as a
    second field (:class:`CargoSpec`, the 1D cargo column's coefficients,
    the cargo's own free diffusivity in the open channel); a monodisperse
    preparation with a cargo is one class of the nominal size.

    Parameters
    ----------
    resolved : dict
        ``Scenario.resolved`` of a channel scenario.
    problem : Problem1D
        The scenario's 1D problem; its ``columns`` are the size classes (and a cargo, the last).

    Returns
    -------
    list of (ProblemRZ, Column)
        One per vesicle column.
    """
    from exodiff.physics.coefficients import Active
    from exodiff.problem.layered import size_classes

    cargo = None
    cargo_cols = [c for c in problem.columns if c.species == "cargo"]
    if cargo_cols:
        skin = resolved["skin"]
        # the free cargo is a solute in the formulation fluid that fills the open channel (K = 1)
        d_free = Active.cargo_of(resolved["formulation"]["cargo"], skin).d_free(
            "the open channel holds formulation fluid")
        cargo = CargoSpec(layers=tuple(cargo_cols[0].layers), open_diffusivity=float(d_free), open_partition=1.0,
                          release_on_degradation=float(problem.release_on_degradation),
                          encapsulation=float(problem.encapsulation), free=float(cargo_cols[0].weight),
                          loading=float(problem.cargo_loading), barrier_layers=tuple(problem.barrier_layers))
    polydisperse = size_classes(resolved["formulation"]) is not None
    out = []
    for col in problem.columns:
        if col.species != "vesicle":
            continue
        prz, _ = unit_cell_problem(resolved, col.layers, problem,
                                   particle_diameter=col.diameter if polydisperse else None)
        out.append((replace(prz, concentration=problem.concentration * col.weight, cargo=cargo), col))
    return out
