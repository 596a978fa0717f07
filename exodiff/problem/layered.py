"""Problem: a validated scenario turned into a grid and per-cell coefficient arrays.

This is the last stage that knows about layers by name; the kernel below it
sees only float64 arrays in SI.  A :class:`Problem1D` can also be built
directly from arrays (:meth:`Problem1D.from_layers`), which is how the
validation tests and benchmarks set up analytic cases without a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from exodiff.geometry.grid import LayeredGrid, cells_for_resolution, layered_grid
from exodiff.problem.base import Application, Layer  # noqa: F401  (Layer: public here too)
from exodiff.scenario.schema import is_stratum_corneum


#: Loss processes of a column, in compartment-slot order; ``released`` (a
#: vesicle that set its cargo free) exists only when a cargo is tracked.
PROCESSES = ("degraded", "taken_up", "cleared", "released")


@dataclass(frozen=True)
class Column:
    """One independent (or one-way coupled) transport column on the shared grid.

    A monodisperse run is one column.  A polydisperse preparation is one
    column per size class (the same equations with the class's
    coefficients); a released cargo is one more column fed by the vesicle
    columns.  All columns take a common time step in one compiled call.

    Attributes
    ----------
    species : {"vesicle", "cargo"}
    layers : tuple of Layer
        The column's coefficients, top to bottom (``release_rate`` > 0 only
        for vesicles that release a tracked cargo).
    weight : float
        Share of the vehicle concentration at application (a size class's
        number fraction; for a cargo the part of the loaded cargo that is
        free in the film from the start, ``1 - encapsulation_efficiency``:
        0 when it all starts inside the vesicles).
    diameter : float or None
        Class diameter, m (vesicle classes).
    source_to : int
        Index of the column this one's released cargo feeds, -1 for none.
    """

    species: str
    layers: tuple
    weight: float = 1.0
    diameter: float | None = None
    source_to: int = -1


def _decay_length(layer: Layer) -> float:
    """``sqrt(D / k)`` of a layer with first-order loss ``k``, m (inf without loss)."""
    k = layer.degradation_rate + layer.uptake_rate + layer.clearance_rate
    if k > 0.0 and layer.diffusivity > 0.0:
        return float(np.sqrt(layer.diffusivity / k))
    return float("inf")


@dataclass(frozen=True, kw_only=True)
class Problem1D(Application):
    """Everything the 1D solver needs, in SI: the :class:`~exodiff.problem.base.Application` on a depth grid.

    Attributes
    ----------
    layers, bottom, vehicle, concentration, vehicle_thickness, output_times, tolerance,
    evaporation_fraction, evaporation_time, wash_off_time, dose_unit, meta :
        As :class:`~exodiff.problem.base.Application`.
    grid : LayeredGrid
    columns : tuple of Column
        Size classes and a cargo solved together (see :class:`Column`);
        empty for one column with ``layers`` (the usual case).  ``layers``
        then holds the coefficients of the nominal (median) vesicle.
    release_on_degradation : float
        Fraction of a degraded vesicle's cargo set free (cargo runs).
    accuracy : float or None
        An accuracy target (``simulation.accuracy``, fraction of the dose):
        the result is the Richardson extrapolation of this grid and one with
        twice the cells (:func:`exodiff.solvers.layered.integrate_estimated`).
    encapsulation : float
        Fraction of the loaded cargo inside the vesicles at application
        (cargo runs): a vesicle carries ``encapsulation`` of one loaded
        vesicle equivalent, and the cargo column's ``weight`` (``1 -
        encapsulation``) starts free in the film.
    cargo_loading : float
        Cargo per unit of vesicle dose in the cargo's unit (``formulation.cargo.loading``),
        for absolute cargo amounts.
    barrier_layers : tuple of str
        Names of the stratum-corneum layers (:func:`is_stratum_corneum`),
        where ``release_rate_stratum_corneum`` acts; empty: by name.
    release_vehicle : float
        ``release_rate_vehicle`` (1/s): first-order leakage of cargo from
        the vesicles in the film (cargo runs, finite film); 0: none.
    enhancement : float
        ``formulation.enhancement_factor``: the factor on the stratum
        corneum's diffusivity of the free cargo while the film is on
        (docs/model.md, section 5.1); 1: none (the run without it, bit for bit).
    enhancement_relaxation : float
        ``formulation.enhancement_relaxation_time`` (s): after a wash-off
        the factor relaxes as ``1 + (E - 1) exp(-(t - t_wash)/tau)``; 0: at once.
    """

    grid: LayeredGrid
    columns: tuple = ()
    release_on_degradation: float = 1.0
    accuracy: float | None = None
    encapsulation: float = 1.0
    cargo_loading: float = 1.0
    barrier_layers: tuple = ()
    release_vehicle: float = 0.0
    enhancement: float = 1.0
    enhancement_relaxation: float = 0.0

    @property
    def richardson(self) -> bool:
        return self.accuracy is not None

    def with_grid(self, grid: LayeredGrid, **kw) -> "Problem1D":
        """This problem on another grid of the same layers."""
        from dataclasses import replace

        return replace(self, grid=grid, **kw)

    # -- construction ---------------------------------------------------------
    @classmethod
    def from_layers(cls, layers, *, output_times, resolution="auto", bottom="sink", vehicle="finite",
                    concentration=1.0, vehicle_thickness=20e-6, tolerance=1e-5, stretch=None, accuracy=None, **kw):
        """Build a problem from layers given directly (tests, benchmarks, fitting).

        Parameters
        ----------
        layers : sequence of Layer
        output_times : array_like
            Output times, s; 0 is prepended when missing.
        resolution : "auto", dict or sequence of int
            As the scenario's ``simulation.resolution``, or cells per layer.
        stretch : float or sequence of float, optional
            Grid stretching of every layer or of each; default: graded only
            layers with loss boundary layers
            (:func:`exodiff.geometry.grid.layer_stretches`).
        accuracy : float, optional
            Target error of every amount, fraction of the dose
            (``simulation.accuracy``): picks the grid
            (:func:`exodiff.geometry.grid.accuracy_cells`, Richardson pair) and
            the tolerance (:func:`accuracy_tolerance`); ``resolution`` and
            ``tolerance`` are then ignored.
        """
        from exodiff.geometry.grid import accuracy_cells, layer_stretches

        layers = tuple(layers)
        thick = [ly.thickness for ly in layers]
        decay = [_decay_length(ly) for ly in layers]
        s = layer_stretches(thick, decay) if stretch is None else stretch
        times = np.unique(np.concatenate([[0.0], np.asarray(output_times, dtype=float)]))
        # well-mixed layers need few cells: diffusion time against the shortest output interval
        mixing = dict(diffusion_times=[ly.thickness ** 2 / ly.diffusivity if ly.diffusivity > 0 else np.inf
                                       for ly in layers],
                      time_scale=float(np.diff(times).min()) if times.size > 1 else None)
        if isinstance(resolution, (list, tuple, np.ndarray)):
            cells = [int(c) for c in resolution]
        else:
            cells = cells_for_resolution(thick, resolution, s, decay, **mixing)
        if accuracy is not None:
            cells = accuracy_cells(cells_for_resolution(thick, "auto", s, decay, **mixing), float(accuracy))
            tolerance = accuracy_tolerance(float(accuracy), kw.get("integrator", "esdirk4"))
            kw["accuracy"] = float(accuracy)
        grid = layered_grid(thick, cells, s)
        return cls(layers=layers, grid=grid, bottom=bottom, vehicle=vehicle, concentration=float(concentration),
                   vehicle_thickness=float(vehicle_thickness), output_times=times, tolerance=float(tolerance),
                   **kw)

    # -- derived quantities ---------------------------------------------------
    def cell_values(self, attr: str) -> np.ndarray:
        """Per-cell array of one Layer attribute."""
        vals = np.array([getattr(ly, attr) for ly in self.layers], dtype=float)
        return vals[self.grid.layer_of_cell]

    @cached_property
    def all_columns(self) -> tuple:
        """The columns solved: ``columns``, or one column of ``layers`` with weight 1.

        Built once per problem (the ledger asks several times per run; a
        problem is frozen, and :func:`dataclasses.replace` makes a new one).
        """
        if self.columns:
            return self.columns
        return (Column(species="vesicle", layers=self.layers, weight=1.0),)

    @property
    def n_processes(self) -> int:
        """Loss processes per layer in the compartment layout: 4 with a tracked cargo, else 3."""
        return 4 if any(c.species == "cargo" for c in self.columns) else 3

    @property
    def has_cargo(self) -> bool:
        return any(c.species == "cargo" for c in self.columns)

    def column_values(self, column, attr: str) -> np.ndarray:
        """Per-cell array of one Layer attribute of one column."""
        vals = np.array([getattr(ly, attr) for ly in column.layers], dtype=float)
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

    @property
    def n_nodes(self) -> int:
        """Kernel nodes: the vehicle, the cells, and with a receptor one more (the last)."""
        return self.grid.n + (2 if self.has_receptor else 1)

    @property
    def cell_nodes(self) -> slice:
        """Nodes of the tissue cells in the kernel's state (node 0 is the vehicle, a receptor the last)."""
        return slice(1, 1 + self.grid.n)

    def _node_arrays(self, layers, processes=("degradation_rate", "uptake_rate", "clearance_rate")):
        """Capacities (m), face conductances (m/s) and ``k C`` per loss process (m/s) of one column.

        Node 0 is the vehicle film (``K = 1``), then the cells; with a
        receptor (``bottom = "receptor"``) a last node holds the well-mixed
        receptor fluid, capacity ``K_r V / A`` with ``K_r`` the receptor
        partition times the deepest layer's, behind the last cell's half
        conductance; the face below it is closed.
        """
        w = self.grid.widths
        lay = self.grid.layer_of_cell
        # every per-layer coefficient in one table, spread over the cells at once (the same values as one
        # array per attribute: this runs for every column of every solve)
        per_cell = np.array([[ly.partition, ly.diffusivity, *(getattr(ly, a) for a in processes)]
                             for ly in layers], dtype=float)[lay]
        K = per_cell[:, 0]
        D = per_cell[:, 1]
        n = self.n_nodes
        cells = self.cell_nodes
        cap = np.zeros(n)
        cap[cells] = K * w
        cap[0] = self.vehicle_thickness
        # half-cell conductances D K / (dz/2); face conductance is their
        # series combination (harmonic mean), 0 when either side is closed
        half = 2.0 * D * K / w
        g = np.zeros(n + 1)
        g[1] = half[0]  # the well-mixed vehicle adds no resistance
        a, b = half[:-1], half[1:]
        with np.errstate(over="ignore", invalid="ignore"):
            # coefficients beyond float64 (D 1e150 m^2/s) make inf here: the solver then stops naming them
            # (solvers.common.extreme_coefficients) rather than numpy warning on stderr first
            s = a + b
            g[2:1 + w.size] = np.divide(a * b, s, out=np.zeros_like(s), where=s > 0)
        if self.bottom == "sink" or self.has_receptor:
            g[1 + w.size] = half[-1]  # the well-mixed receptor adds no resistance either
        if self.has_receptor:
            cap[-1] = self.receptor_capacity(layers)
        closs = np.zeros((len(processes), n))
        closs[:, cells] = per_cell[:, 2:].T * cap[cells]
        return cap, g, closs

    def stratum_corneum_layers(self) -> list[str]:
        """Names of the stratum-corneum layers, top to bottom: ``barrier_layers``, or the layers named so."""
        if self.barrier_layers:
            return list(self.barrier_layers)
        return [ly.name for ly in self.layers if ly.name == "stratum_corneum"]

    def enhancement_resistances(self, layers) -> tuple[np.ndarray, np.ndarray]:
        """Each face's resistance (s/m) on its stratum-corneum side and on the other, for one column.

        The face conductances of :meth:`_node_arrays` are ``1/(r_sc + r_other)``
        (series half-cells, ``dz / (2 D K)`` each; the vehicle and a
        receptor add none); a penetration enhancement ``E`` scales the SC
        diffusivity, so a face becomes ``1/(r_sc/E + r_other)``
        (:func:`exodiff.kernels.column1d.enhanced_faces`).  Faces without an
        SC half-cell have ``r_sc = 0``; a closed other side is ``inf``.

        Returns
        -------
        (r_sc, r_other) : float64[n+1], float64[n+1]
        """
        w = self.grid.widths
        lay = self.grid.layer_of_cell
        K = np.array([ly.partition for ly in layers], dtype=float)[lay]
        D = np.array([ly.diffusivity for ly in layers], dtype=float)[lay]
        sc_names = set(self.stratum_corneum_layers())
        sc = np.array([ly.name in sc_names for ly in layers])[lay]
        half = 2.0 * D * K / w
        r_half = np.divide(1.0, half, out=np.full_like(half, np.inf), where=half > 0)
        n = self.n_nodes
        r_sc = np.zeros(n + 1)
        r_oth = np.zeros(n + 1)
        m = w.size
        # faces 1..m+1: face f has cell f-2 above it (none for f = 1, the vehicle) and cell f-1 below it (none
        # for f = m+1, the sink or receptor); each side's half resistance goes to r_sc or to r_other
        up_r, up_sc = np.concatenate([[0.0], r_half]), np.concatenate([[False], sc])
        down_r, down_sc = np.concatenate([r_half, [0.0]]), np.concatenate([sc, [False]])
        r_sc[1:m + 2] = np.where(up_sc, up_r, 0.0) + np.where(down_sc, down_r, 0.0)
        r_oth[1:m + 2] = np.where(up_sc, 0.0, up_r) + np.where(down_sc, 0.0, down_r)
        if not (self.bottom == "sink" or self.has_receptor):
            r_sc[m + 1] = r_oth[m + 1] = 0.0  # a closed bottom: g keeps it closed
        # a closed SC half-cell (K or D zero) keeps its face closed: leave it to g (r_sc = 0 there)
        r_sc[~np.isfinite(r_sc)] = 0.0
        return r_sc, r_oth

    def receptor_capacity(self, layers=None) -> float:
        """``K_r V / A`` of the receptor node (m): the receptor partition times the deepest layer's, per skin area.

        ``layers``: a column's layers (default the problem's own).
        """
        layers = self.layers if layers is None else layers
        return self.receptor_partition * layers[-1].partition * self.receptor_depth

    def _node_layer(self) -> np.ndarray:
        node_layer = np.empty(self.n_nodes, dtype=np.int64)
        node_layer[0] = -1
        node_layer[self.cell_nodes] = self.grid.layer_of_cell
        if self.has_receptor:
            node_layer[-1] = len(self.layers) - 1  # no loss there: books nothing
        return node_layer

    def kernel_arrays(self):
        """Node arrays for :func:`exodiff.kernels.column1d.integrate_column`.

        Returns
        -------
        dict
            ``cap`` (m), ``g`` (m/s), ``cdeg``, ``cup``, ``ccl`` (m/s) over nodes
            (node 0 the vehicle), ``node_layer``.
        """
        cap, g, closs = self._node_arrays(self.layers)
        return dict(cap=cap, g=g, node_layer=self._node_layer(), cdeg=closs[0], cup=closs[1], ccl=closs[2])

    def krylov_obstacle(self) -> str | None:
        """Why the Krylov propagator cannot solve this problem (a short phrase), or None when it can.

        It needs coefficients that never change between events, and events it
        can restart from, a wash-off, receptor samples and later
        applications (:mod:`exodiff.solvers.krylov`): a finite film that does
        not evaporate or a constant donor (applied once), no column feeding
        another (a tracked cargo), no leaking film, no penetration
        enhancement.
        """
        if self.evaporation_fraction > 0.0:
            return "an evaporating film"
        if self.vehicle != "finite" and len(self.all_application_times) > 1:
            return "a regimen under a constant donor"
        arr = self.columns_arrays()
        if arr["csrc"].any():
            return "a column feeding another (a tracked cargo)"
        if arr["kveh"] is not None:
            return "a leaking film"
        if arr["enh"] is not None:
            return "a penetration enhancement"
        times = self.output_times
        if times[0] != 0.0 or not (times[1:] > times[:-1]).all():
            return "output times not increasing from 0"
        return None

    def columns_arrays(self) -> dict:
        """Stacked node arrays of every column for :func:`exodiff.kernels.column1d.integrate_columns`.

        Returns
        -------
        dict
            ``cap`` (S, n) m, ``g`` (S, n+1) m/s, ``closs`` (S, P, n) m/s
            (``k C`` per loss process, :data:`PROCESSES` order),
            ``csrc`` (S, n) m/s (rate of released cargo per unit ``u``: the
            vesicle's release and ``f`` x degradation rates times its
            capacity, times ``encapsulation``, the cargo a vesicle carries),
            ``source_to`` (S,), ``weight`` (S,), ``m_ref`` (S,), ``node_layer``,
            and ``kveh``, ``cveh`` (S,): the film's leakage rate (1/s) of each
            vesicle column feeding a cargo, and the cargo it carries
            (``encapsulation``), or None without leakage.

            Built once per problem and returned again on every call (the
            driver, the balance check and the results all ask; a problem
            is frozen, and :func:`dataclasses.replace` makes a new one with
            none cached): read it, do not modify it.
        """
        cached = self.__dict__.get("_columns_arrays")
        if cached is None:
            cached = self._build_columns_arrays()
            object.__setattr__(self, "_columns_arrays", cached)
        return cached

    def _build_columns_arrays(self) -> dict:
        """:meth:`columns_arrays`, built."""
        cols = self.all_columns
        P = self.n_processes
        S = len(cols)
        n = self.n_nodes
        cap = np.zeros((S, n))
        g = np.zeros((S, n + 1))
        closs = np.zeros((S, P, n))
        csrc = np.zeros((S, n))
        f_deg = self.release_on_degradation
        procs = ("degradation_rate", "uptake_rate", "clearance_rate", "release_rate")[:P]
        for s, col in enumerate(cols):
            cap[s], g[s], closs[s] = self._node_arrays(col.layers, procs)
            if col.source_to >= 0:
                # (x 1.0, the default, leaves every bit as it was)
                csrc[s] = (closs[s, 3] + f_deg * closs[s, 0]) * self.encapsulation
        weight = np.array([c.weight for c in cols], dtype=float)
        scale = self.amount_scale()
        # a cargo column's scale is the loaded cargo (the vesicle dose in vesicle equivalents),
        # whatever part of it starts free
        is_cargo = np.array([c.species == "cargo" for c in cols])
        m_ref = np.where(is_cargo | (weight <= 0), scale, weight * scale)
        source_to = np.array([c.source_to for c in cols], dtype=np.int64)
        kveh = cveh = None
        if self.release_vehicle > 0.0:
            feeds = source_to >= 0
            kveh = np.where(feeds, self.release_vehicle, 0.0)
            cveh = np.where(feeds, self.encapsulation, 0.0)
        enh = rsc = roth = None
        if self.enhancement != 1.0 and is_cargo.any():
            # the enhancement acts on the free cargo (the cargo column) only
            enh = np.where(is_cargo, self.enhancement, 1.0)
            rsc = np.zeros((S, n + 1))
            roth = np.zeros((S, n + 1))
            for s in np.flatnonzero(is_cargo):
                rsc[s], roth[s] = self.enhancement_resistances(cols[s].layers)
        return dict(cap=cap, g=g, closs=closs, csrc=csrc, node_layer=self._node_layer(),
                    source_to=source_to, weight=weight, m_ref=m_ref, kveh=kveh, cveh=cveh,
                    enh=enh, rsc=rsc, roth=roth, tau_enh=float(self.enhancement_relaxation))


#: time error against tolerance of each 1D integrator (``simulation.integrator``),
#: measured on two three-layer finite doses on the grids of ``accuracy`` 1e-5
#: and 1e-6 (coarse and fine), every grid solved exactly in time as reference
#: (worst of the eight, ``python benchmarks/grid_accuracy.py --time-law``):
#: error <= TIME_ERROR_AT_1E6 (tol / 1e-6)^TIME_ERROR_SLOPE of the dose.
#: TR-BDF2: the fit (5.1e-6 at 1e-6, slope 0.66, within 1 % at 1e-5..1e-9).
#: ESDIRK4 and SDIRK4: worst error / tol over tol 1e-3..1e-9 with slope 1, a
#: bound (ESDIRK4 0.061-0.075 x tol at 1e-4..1e-6, falling to 0.009 at 1e-9:
#: the fitted slope, 1.2, would under-state the error at 1e-6 by 1.3x; SDIRK4
#: at most 0.0022 x tol).  Re-measure when an integrator changes
#: (tests/test_grid.py::test_accuracy_target_is_met_against_the_true_pde guards it).
#: Krylov: what its control accepts (``KRYLOV_ERROR_SHARE`` = 0.1 x tol, every
#: amount against ``k - 2`` vectors, twice in a row), a bound by design, not a fit
#: (docs/numerics.md, "Krylov propagator").
TIME_ERROR_AT_1E6 = {"esdirk4": 8e-8, "sdirk4": 2.5e-9, "tr-bdf2": 5.1e-6, "krylov": 1e-7}
TIME_ERROR_SLOPE = {"esdirk4": 1.0, "sdirk4": 1.0, "tr-bdf2": 0.66, "krylov": 1.0}


def time_check(tolerance: float, integrator: str) -> tuple[float, float]:
    """The tolerance of an error estimate's *time* check run and the divisor of its difference.

    Ten times looser: ``a_loose - a ~ (10^s - 1) e``, divided by
    ``(10^s - 1) / 2`` (halved for safety) with the integrator's time-error
    slope ``s`` (:data:`TIME_ERROR_SLOPE`).  Above 0.01 that would pass the
    largest tolerance a scenario takes (0.1), so ten times tighter:
    ``a - a_tight ~ (1 - 10^-s) e``, divided by ``(1 - 10^-s) / 2``.  (The
    loose run was capped at 0.1 before: at tolerance 0.1 the check was
    skipped and stated no time error; at 0.05 a run only twice as loose
    under-stated it 4x.)

    Returns
    -------
    (tolerance, divisor)
    """
    s = TIME_ERROR_SLOPE.get(integrator, 1.0)
    if 10.0 * tolerance <= 0.1:
        return 10.0 * tolerance, (10.0 ** s - 1.0) / 2.0
    return tolerance / 10.0, (1.0 - 10.0 ** -s) / 2.0


#: share of an accuracy target given to time (the rest: space, and a margin for
#: the extrapolation adding the two runs' time errors, up to 5/3 of one)
ACCURACY_TIME_SHARE = 0.6


def accuracy_tolerance(accuracy: float, integrator: str = "esdirk4") -> float:
    """Time tolerance of an accuracy target (fraction of the dose), from the integrator's measured error law.

    Parameters
    ----------
    accuracy : float
        Target error of every amount, fraction of the dose.
    integrator : {"esdirk4", "sdirk4", "tr-bdf2"}
        The 1D integrator (``simulation.integrator``): each has its own law
        (:data:`TIME_ERROR_AT_1E6`, :data:`TIME_ERROR_SLOPE`).

    Returns
    -------
    float
        Relative tolerance, within [1e-12, 1e-3].
    """
    at, slope = TIME_ERROR_AT_1E6[integrator], TIME_ERROR_SLOPE[integrator]
    tol = 1e-6 * (ACCURACY_TIME_SHARE * accuracy / at) ** (1.0 / slope)
    return float(min(max(tol, 1e-12), 1e-3))


def problem_from_scenario(resolved: dict) -> Problem1D:
    """Turn a validated scenario (``Scenario.resolved``) into a :class:`Problem1D`.

    The physics of :mod:`exodiff.physics` gives each layer's coefficients from
    the active and the layer (direct values in the scenario win).
    """
    from exodiff.physics import layer_coefficients

    skin = resolved["skin"]
    form = resolved["formulation"]
    sim = resolved["simulation"]
    layers = []
    for name, spec in skin["layers"].items():
        co = layer_coefficients(form, name, spec, skin)
        layers.append(Layer(name=name, thickness=float(spec["thickness"]), diffusivity=float(co.diffusivity),
                            partition=float(co.partition), degradation_rate=float(co.degradation_rate),
                            uptake_rate=float(co.uptake_rate), clearance_rate=float(co.clearance_rate)))
    columns, f_deg = build_columns(resolved, layers)
    cargo = form.get("cargo")
    return Problem1D.from_layers(
        layers,
        columns=columns,
        release_on_degradation=f_deg,
        encapsulation=float(cargo.get("encapsulation_efficiency", 1.0)) if cargo is not None else 1.0,
        release_vehicle=float(cargo.get("release_rate_vehicle", 0.0)) if cargo is not None else 0.0,
        enhancement=float(form.get("enhancement_factor", 1.0)) if cargo is not None else 1.0,
        enhancement_relaxation=float(form.get("enhancement_relaxation_time", 21600.0)),
        cargo_loading=float(cargo.get("loading", 1.0)) if cargo is not None else 1.0,
        barrier_layers=tuple(n for n, spec in skin["layers"].items() if is_stratum_corneum(n, spec)),
        output_times=sim["output_times"],
        resolution=sim.get("resolution", "auto"),
        bottom=skin.get("bottom", "sink"),
        vehicle=form.get("vehicle", "finite"),
        concentration=form["concentration"],
        vehicle_thickness=form["vehicle_thickness"],
        tolerance=sim.get("tolerance", 1e-5),
        accuracy=sim.get("accuracy"),

        integrator=sim.get("integrator", "esdirk4"),
        evaporation_fraction=form.get("evaporation_fraction", 0.0),
        evaporation_time=form.get("evaporation_time", 1800.0),
        wash_off_time=form.get("wash_off_time"),
        dose_unit=form.get("dose_unit", "1"),
        **receptor_fields(resolved.get("receptor")),
        **regimen_fields(resolved),
    )


def regimen_fields(resolved: dict) -> dict:
    """The :class:`~exodiff.problem.base.Application` fields of a regimen and of the treated area."""
    reg = resolved.get("regimen")
    delivery = resolved.get("delivery", {})
    receptor = resolved.get("receptor") or {}
    if delivery.get("area") is not None:
        out = dict(area=float(delivery["area"]), area_source="delivery.area")
    elif receptor.get("area") is not None:  # in vitro: the cell's diffusion area
        out = dict(area=float(receptor["area"]), area_source="receptor.area")
    else:
        out = dict(area=1e-4, area_source="default 1 cm^2")
    if reg is not None:
        out.update(application_times=tuple(float(t) for t in reg["times"][1:]),
                   join_film=not reg["wash_before_reapplication"])
    return out


def receptor_fields(receptor: dict | None) -> dict:
    """The :class:`~exodiff.problem.base.Application` fields of a resolved ``[receptor]`` table (none without)."""
    if receptor is None:
        return {}
    return dict(receptor_depth=float(receptor["depth"]), receptor_partition=float(receptor["partition"]),
                sampling_times=tuple(float(t) for t in receptor["sampling_times"]),
                sample_fraction=float(receptor["sample_fraction"]))


def size_classes(form: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """Size classes ``(diameters m, number fractions)`` of a resolved formulation, None if monodisperse.

    Log-normal (``diameter`` with ``gsd`` or ``pdi``): Gauss-Hermite classes;
    measured (``size_distribution``): Gauss classes of the histogram (see
    :mod:`exodiff.physics.distribution`).  A zero width gives one class at
    exactly ``diameter``, which is returned as None: the monodisperse run.
    """
    from exodiff.physics import distribution as dist

    n = int(form.get("size_classes", 7))
    data = form.get("size_distribution_data")
    if data is not None:
        d, w = dist.measured_classes(np.asarray(data["diameter"]), np.asarray(data["count"]), n)
    elif form.get("gsd") is not None or form.get("pdi") is not None:
        gsd = form["gsd"] if form.get("gsd") is not None else dist.gsd_from_pdi(form["pdi"])
        d, w = dist.lognormal_classes(float(form["diameter"]), gsd, n)
    else:
        return None
    if d.size == 1 and data is None:
        return None
    return d, w


def build_columns(resolved: dict, layers: list) -> tuple[tuple, float]:
    """The columns of a scenario: size classes and a cargo, or ``()`` for the plain one-column run.

    Each size class gets its coefficients from the physics with the class
    radius (``Active.with_radius``); with a cargo every vesicle column
    releases into one cargo column (the last), whose coefficients are the
    cargo's own (:func:`exodiff.physics.cargo_coefficients`).  Vesicles
    release at ``release_rate`` in the viable layers and at
    ``release_rate_stratum_corneum`` (default ``release_rate``) in the
    stratum corneum (:func:`is_stratum_corneum`); the cargo column's weight
    is the free part at application, ``1 - encapsulation_efficiency``.

    Returns
    -------
    (columns, release_on_degradation)
    """
    from dataclasses import replace as _replace

    from exodiff.physics import cargo_coefficients, coefficients_for
    from exodiff.physics.coefficients import Active

    skin = resolved["skin"]
    form = resolved["formulation"]
    cargo = form.get("cargo")
    classes = size_classes(form)
    if classes is None and cargo is None:
        return (), 1.0
    release = float(cargo.get("release_rate", 0.0)) if cargo is not None else 0.0
    release_sc = release
    if cargo is not None and cargo.get("release_rate_stratum_corneum") is not None:
        release_sc = float(cargo["release_rate_stratum_corneum"])
    in_sc = [is_stratum_corneum(name, spec) for name, spec in skin["layers"].items()]

    def with_release(lys):
        if cargo is None:
            return tuple(lys)
        return tuple(_replace(ly, release_rate=release_sc if sc else release) for ly, sc in zip(lys, in_sc))

    vesicles = []
    if classes is None:
        vesicles.append(Column("vesicle", with_release(layers), 1.0, form.get("diameter")))
    else:
        active = Active.from_formulation(form, skin)
        for d, w in zip(*classes):
            lys = []
            for ly, (name, spec) in zip(layers, skin["layers"].items()):
                co = coefficients_for(active.with_radius(0.5 * float(d)), name, spec)
                lys.append(_replace(ly, diffusivity=float(co.diffusivity), partition=float(co.partition),
                                    degradation_rate=float(co.degradation_rate), uptake_rate=float(co.uptake_rate),
                                    clearance_rate=float(co.clearance_rate)))
            vesicles.append(Column("vesicle", with_release(lys), float(w), float(d)))
    if cargo is None:
        return tuple(vesicles), 1.0
    target = len(vesicles)
    vesicles = [_replace(c, source_to=target) for c in vesicles]
    cargo_layers = []
    for ly, (name, spec) in zip(layers, skin["layers"].items()):
        co = cargo_coefficients(cargo, name, spec, skin)
        cargo_layers.append(Layer(name=name, thickness=ly.thickness, diffusivity=float(co.diffusivity),
                                  partition=float(co.partition), degradation_rate=float(co.degradation_rate),
                                  uptake_rate=float(co.uptake_rate), clearance_rate=float(co.clearance_rate)))
    free = 1.0 - float(cargo.get("encapsulation_efficiency", 1.0))
    columns = (*vesicles, Column("cargo", tuple(cargo_layers), free, None))
    return columns, float(cargo.get("release_on_degradation", 1.0))
