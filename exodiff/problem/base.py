"""What every problem shares, whatever its geometry: the layers, the applied film, the times.

The one place the application is described for the solvers: the layers'
coefficients (:class:`Layer`), the vehicle (finite film or constant donor,
its thickness and evaporation), wash-off, the output times and tolerance.
:class:`~exodiff.problem.layered.Problem1D` adds a depth grid and columns,
:class:`~exodiff.problem.unit_cell.ProblemRZ` a channel and an r-z grid;
both are built from the same :class:`Application` fields
(:meth:`Application.application`), so a unit cell and its 1D column can
never disagree on the film, the times or the tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np


@dataclass(frozen=True)
class Layer:
    """Transport coefficients of one layer, SI.

    Attributes
    ----------
    name : str
    thickness : float
        m.
    diffusivity : float
        m^2/s.
    partition : float
        Relative to the vehicle (``K_vehicle = 1``).
    degradation_rate, uptake_rate, clearance_rate : float
        1/s.
    """

    name: str
    thickness: float
    diffusivity: float
    partition: float
    degradation_rate: float = 0.0
    uptake_rate: float = 0.0
    clearance_rate: float = 0.0
    release_rate: float = 0.0



@dataclass(frozen=True, kw_only=True)
class Application:
    """The layers and the applied film, in SI: the part of a problem both geometries share.

    Attributes
    ----------
    layers : tuple of Layer
        Top to bottom.
    bottom : {"sink", "no_flux"}
    vehicle : {"finite", "infinite"}
    concentration : float
        Initial (finite) or constant (infinite) vehicle concentration, dose unit/m^3.
    vehicle_thickness : float
        Film thickness at application, m.
    output_times : float64[k]
        Output times, s, starting at 0.
    tolerance : float
        Relative local error tolerance.
    integrator : {"esdirk4", "sdirk4", "tr-bdf2", "krylov"}
        Time integrator of the 1D column (``simulation.integrator``; the
        r-z unit cell always uses TR-BDF2).  "krylov" solves only problems
        whose coefficients never change (:mod:`exodiff.solvers.krylov`), and
        leaves any other to ESDIRK4.
    evaporation_fraction : float
        Volatile fraction of the film (0 for none).
    evaporation_time : float
        Evaporation time constant, s.
    wash_off_time : float or None
        Time the film is washed off, s (None: never).
    dose_unit : str
        Amount unit of the dose (``"particle"``, ``"ug"``, ...).
    meta : dict
        Free-form labels (e.g. the channel kind).
    receptor_depth : float or None
        ``bottom = "receptor"``: the receptor's volume per skin area, m
        (volume / diffusion area of the cell).
    receptor_partition : float
        Partition receptor fluid / deepest layer.
    sampling_times : tuple of float
        Receptor samples, s.
    sample_fraction : float
        Fraction of the receptor taken (and replaced by fresh fluid) per sample.
    application_times : tuple of float
        A regimen: the times of the applications after the first (which is
        at 0), s.  Each puts on a fresh film of the same dose.
    join_film : bool
        A new application joins the film still there (amounts and
        thicknesses add, docs/model.md 1.2) instead of washing it off first.
    area : float
        Treated skin area, m^2 (absolute amounts; default 1 cm^2).
    area_source : str
        Where the area came from (``"delivery.area"``, ``"receptor.area"``, ``"default 1 cm^2"``).
    """

    layers: tuple
    bottom: str
    vehicle: str
    concentration: float
    vehicle_thickness: float
    output_times: np.ndarray
    tolerance: float = 1e-5
    integrator: str = "esdirk4"
    evaporation_fraction: float = 0.0
    evaporation_time: float = 1800.0
    wash_off_time: float | None = None
    dose_unit: str = "1"
    meta: dict = field(default_factory=dict)
    receptor_depth: float | None = None
    receptor_partition: float = 1.0
    sampling_times: tuple = ()
    sample_fraction: float = 0.0
    application_times: tuple = ()
    join_film: bool = False
    area: float = 1e-4
    area_source: str = "default 1 cm^2"

    @property
    def has_receptor(self) -> bool:
        """A finite, well-mixed receptor below the skin (in vitro), not a sink or a closed bottom."""
        return self.bottom == "receptor"

    def application(self, **changes) -> dict:
        """The :class:`Application` fields as keyword arguments (a copy of the times), with ``changes``."""
        out = {f.name: getattr(self, f.name) for f in fields(Application)}
        out["output_times"] = np.array(self.output_times, dtype=float)
        out.update(changes)
        return out

    @property
    def dose(self) -> float:
        """Amount per skin area of one application, dose unit/m^2; for an infinite donor the film's content."""
        return self.concentration * self.vehicle_thickness

    @property
    def all_application_times(self) -> tuple:
        """Times of every application, s: 0, then the regimen's later ones."""
        return (0.0, *self.application_times)

    @property
    def n_applications(self) -> int:
        return 1 + len(self.application_times)

    @property
    def total_dose(self) -> float:
        """Amount applied over the whole regimen per skin area, dose unit/m^2 (``dose`` per application)."""
        return self.dose * self.n_applications

    @property
    def n_compartments(self) -> int:
        """Compartment slots of a result: each loss process (``n_processes``) per layer, then the bottom sink,
        the washed-off film and the supply (:func:`exodiff.kernels.column1d.compartment_slots`)."""
        return self.n_processes * len(self.layers) + 3

    @property
    def layer_names(self) -> list[str]:
        return [ly.name for ly in self.layers]

    def film_thickness(self, t: float) -> float:
        """Vehicle film thickness at time ``t`` (s), m: ``h0 (1 - f (1 - exp(-t/tau)))`` (MODEL.md, evaporation).

        The same law as the kernels' :func:`exodiff.kernels.column1d.vehicle_capacity`.
        """
        f = self.evaporation_fraction
        if f > 0.0:
            return self.vehicle_thickness * (1.0 - f * (1.0 - math.exp(-t / self.evaporation_time)))
        return self.vehicle_thickness
