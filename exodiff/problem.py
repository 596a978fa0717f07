"""Problem: a validated scenario turned into a grid and per-cell coefficient arrays.

This is the last stage that knows about layers by name; the kernel below it
sees only float64 arrays in SI.  A :class:`Problem1D` can also be built
directly from arrays (:meth:`Problem1D.from_layers`), which is how the
validation tests and benchmarks set up analytic cases without a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .grid import LayeredGrid, cells_for_resolution, layered_grid


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


@dataclass(frozen=True)
class Problem1D:
    """Everything the 1D solver needs, in SI.

    Attributes
    ----------
    layers : tuple of Layer
        Top to bottom.
    grid : LayeredGrid
    bottom : {"sink", "no_flux"}
    vehicle : {"finite", "infinite"}
    concentration : float
        Initial (finite) or constant (infinite) vehicle concentration, dose unit/m^3.
    vehicle_thickness : float
        Film thickness at application, m.
    evaporation_fraction : float
        Volatile fraction of the film (0 for none).
    evaporation_time : float
        Evaporation time constant, s.
    wash_off_time : float or None
        Wash-off time, s.
    output_times : float64[k]
        Output times, s, starting at 0.
    tolerance : float
        Relative local error tolerance.
    dose_unit : str
        Amount unit of the dose (``"particle"``, ``"ug"``, ...).
    """

    layers: tuple
    grid: LayeredGrid
    bottom: str
    vehicle: str
    concentration: float
    vehicle_thickness: float
    output_times: np.ndarray
    tolerance: float = 1e-5
    evaporation_fraction: float = 0.0
    evaporation_time: float = 1800.0
    wash_off_time: float | None = None
    dose_unit: str = "1"
    meta: dict = field(default_factory=dict)

    # -- construction ---------------------------------------------------------
    @classmethod
    def from_layers(cls, layers, *, output_times, resolution="auto", bottom="sink", vehicle="finite",
                    concentration=1.0, vehicle_thickness=20e-6, tolerance=1e-5, stretch=None, **kw):
        """Build a problem from layers given directly (tests, benchmarks, fitting).

        Parameters
        ----------
        layers : sequence of Layer
        output_times : array_like
            Output times, s; 0 is prepended when missing.
        resolution : "auto", dict or sequence of int
            As the scenario's ``simulation.resolution``, or cells per layer.
        stretch : float, optional
            Grid stretching (see :mod:`exodiff.grid`).
        """
        from .grid import DEFAULT_STRETCH

        layers = tuple(layers)
        thick = [ly.thickness for ly in layers]
        if isinstance(resolution, (list, tuple, np.ndarray)):
            cells = [int(c) for c in resolution]
        else:
            cells = cells_for_resolution(thick, resolution)
        s = DEFAULT_STRETCH if stretch is None else stretch
        grid = layered_grid(thick, cells, s)
        times = np.unique(np.concatenate([[0.0], np.asarray(output_times, dtype=float)]))
        return cls(layers=layers, grid=grid, bottom=bottom, vehicle=vehicle, concentration=float(concentration),
                   vehicle_thickness=float(vehicle_thickness), output_times=times, tolerance=float(tolerance),
                   **kw)

    # -- derived quantities ---------------------------------------------------
    @property
    def dose(self) -> float:
        """Applied amount per area (dose unit/m^2); for an infinite donor the film's content."""
        return self.concentration * self.vehicle_thickness

    @property
    def layer_names(self) -> list[str]:
        return [ly.name for ly in self.layers]

    def cell_values(self, attr: str) -> np.ndarray:
        """Per-cell array of one Layer attribute."""
        vals = np.array([getattr(ly, attr) for ly in self.layers], dtype=float)
        return vals[self.grid.layer_of_cell]

    def amount_scale(self) -> float:
        """Amount per area the tolerance's absolute part refers to (dose unit/m^2).

        The applied dose for a finite vehicle; for a constant donor the amount
        the tissue holds at partition equilibrium with it.
        """
        if self.vehicle == "finite":
            return self.dose
        cap = self.cell_values("partition") * self.grid.widths
        return self.concentration * max(float(cap.sum()), self.vehicle_thickness)

    def kernel_arrays(self):
        """Node arrays for :func:`exodiff.kernels.column1d.integrate_column`.

        Returns
        -------
        dict
            ``cap`` (m), ``g`` (m/s), ``cdeg``, ``cup``, ``ccl`` (m/s) over nodes
            (node 0 the vehicle), ``node_layer``.
        """
        w = self.grid.widths
        K = self.cell_values("partition")
        D = self.cell_values("diffusivity")
        n = w.size + 1
        cap = np.zeros(n)
        cap[1:] = K * w
        cap[0] = self.vehicle_thickness
        # half-cell conductances D K / (dz/2); face conductance is their
        # series combination (harmonic mean), 0 when either side is closed
        half = 2.0 * D * K / w
        g = np.zeros(n + 1)
        g[1] = half[0]  # the well-mixed vehicle adds no resistance
        a, b = half[:-1], half[1:]
        s = a + b
        g[2:n] = np.divide(a * b, s, out=np.zeros_like(s), where=s > 0)
        g[n] = half[-1] if self.bottom == "sink" else 0.0
        loss = {}
        for name, attr in (("cdeg", "degradation_rate"), ("cup", "uptake_rate"), ("ccl", "clearance_rate")):
            arr = np.zeros(n)
            arr[1:] = self.cell_values(attr) * cap[1:]
            loss[name] = arr
        node_layer = np.empty(n, dtype=np.int64)
        node_layer[0] = -1
        node_layer[1:] = self.grid.layer_of_cell
        return dict(cap=cap, g=g, node_layer=node_layer, **loss)


def problem_from_scenario(resolved: dict) -> Problem1D:
    """Turn a validated scenario (``Scenario.resolved``) into a :class:`Problem1D`.

    The physics of :mod:`exodiff.physics` gives each layer's coefficients from
    the active and the layer (direct values in the scenario win).
    """
    from .physics import layer_coefficients

    skin = resolved["skin"]
    form = resolved["formulation"]
    sim = resolved["simulation"]
    layers = []
    for name, spec in skin["layers"].items():
        co = layer_coefficients(form, name, spec, skin)
        layers.append(Layer(name=name, thickness=float(spec["thickness"]), diffusivity=float(co.diffusivity),
                            partition=float(co.partition), degradation_rate=float(co.degradation_rate),
                            uptake_rate=float(co.uptake_rate), clearance_rate=float(co.clearance_rate)))
    return Problem1D.from_layers(
        layers,
        output_times=sim["output_times"],
        resolution=sim.get("resolution", "auto"),
        bottom=skin.get("bottom", "sink"),
        vehicle=form.get("vehicle", "finite"),
        concentration=form["concentration"],
        vehicle_thickness=form["vehicle_thickness"],
        tolerance=sim.get("tolerance", 1e-5),
        evaporation_fraction=form.get("evaporation_fraction", 0.0),
        evaporation_time=form.get("evaporation_time", 1800.0),
        wash_off_time=form.get("wash_off_time"),
        dose_unit=form.get("dose_unit", "1"),
    )
