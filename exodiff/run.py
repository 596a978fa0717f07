"""The one orchestrator: a scenario in, its result out.

:func:`run` decides the geometry and sends the work down the stages: a 1D
column (one column, size classes or a tracked cargo) or the r-z unit cell
around a channel (one, or one per size class, summed).  Studies (compare,
sweeps, later fit and population) call this module and nothing below it:
:func:`run` for a Dataset, :func:`run_metrics` for a sweep point's headline
metrics straight from the solver's arrays, the batched 1D path
(:func:`prepare_batched`, :func:`pack_batched`, :func:`solve_batched`,
:func:`batched_metrics`),
and the first-run notices and warm-ups (:func:`compile_notice`,
:func:`warm`, :func:`warm_solver`).

Imports happen inside the functions, so importing this module (and the
command line) stays quick.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from exodiff._callable import make_callable

__all__ = ["run", "run_metrics", "is_unit_cell", "uses_krylov", "compile_notice", "compile_notices", "compile_line",
           "warm", "warm_solver", "warm_all", "WARM_SCENARIO", "prepare_batched", "pack_batched", "solve_batched",
           "batched_metrics", "batch_eligible"]


def _sc(scenario):
    from exodiff.scenario.core import Scenario, load_scenario

    return scenario if isinstance(scenario, Scenario) else load_scenario(scenario)


def is_unit_cell(scenario) -> bool:
    """True when ``scenario`` is solved in the r-z unit cell (microneedle, laser, follicles)."""
    from exodiff.geometry.channels import channel_geometry

    return channel_geometry(scenario.resolved) is not None


def _unit_cell(resolved, problem):
    """The unit-cell problem of a channel scenario (nominal size), None for a 1D one."""
    from exodiff.geometry.channels import channel_geometry

    if channel_geometry(resolved) is None:
        return None
    from exodiff.problem.unit_cell import unit_cell_problem  # only for channels (and its r-z grid)

    return unit_cell_problem(resolved, problem.layers, problem)[0]


def run(scenario, progress: bool = False):
    """Run a scenario and return its result Dataset.

    Parameters
    ----------
    scenario : Scenario, path or dict
        Anything :func:`exodiff.load_scenario` accepts.
    progress : bool
        Show a progress bar for long runs.

    Returns
    -------
    xarray.Dataset
        See ``docs/scenario.md`` (result dataset).
    """
    return _run(_sc(scenario), progress)


def _run(sc, progress: bool = False, checks: bool = True):
    """:func:`run` of a validated scenario; ``checks``: a unit cell's result with its check runs and resolvable
    levels (a sweep point's metrics go without, as a 1D point's do)."""
    from exodiff.geometry.channels import channel_geometry
    from exodiff.problem.layered import problem_from_scenario

    problem = problem_from_scenario(sc.resolved)
    if problem.columns and channel_geometry(sc.resolved) is not None:
        # a size distribution (or a cargo) through channels: one unit cell per class, summed
        return run_classes(sc, problem, progress=progress, checks=checks)
    prz = _unit_cell(sc.resolved, problem)
    if prz is not None:
        # microneedle, laser or follicles: the r-z unit cell around one channel
        from exodiff.results.dataset_rz import to_dataset_rz
        from exodiff.solvers.unit_cell import integrate_rz

        def solve(p, desc=sc.name, bar=progress):
            return to_dataset_rz(p, integrate_rz(p, progress=bar, desc=desc), scenario=sc)

        ds = solve(prz)
        if checks:
            _with_checks(ds, lambda res, tol, what: solve(_tolerance(_unit_cell(res, problem), tol),
                                                          f"{sc.name} ({what})", False), sc.resolved, prz)
        return with_systemic(ds, sc)
    from exodiff.results.dataset import to_dataset
    from exodiff.results.systemic import PKModel
    from exodiff.solvers.layered import integrate_estimated

    # a second grid states how far each amount can be trusted (resolvable_level in the Dataset)
    raw = integrate_estimated(problem, progress=progress, desc=sc.name)
    # the blood in the Dataset's one constructor (with_systemic's variables, without a second merge)
    return to_dataset(problem, raw, scenario=sc, pk=PKModel.from_resolved(sc.resolved.get("systemic")))


#: ``|a_half - a| / RZ_SPACE_DIVISOR`` is the space share of a unit cell's error estimate: ``2^p - 1`` for order
#: ``p = 1``, the order near the channel's corners (the 1D estimate's 2 assumes order 2 and halves for safety;
#: here it under-stated up to 1.5x).  Against refined references of nine cases (211 amounts and times): true /
#: stated 0.36 median, at most 1.00 (docs/numerics_rz.md, "Error estimate")
RZ_SPACE_DIVISOR = 1.0


def rz_checks(resolved: dict, prz) -> list:
    """The check runs of a unit cell's error estimate, as ``(resolved, tolerance, divisor, text, what, against)``.

    As the 1D estimate's (:func:`exodiff.solvers.layered.integrate_estimated`),
    two differences that each change one thing: *space*, the scenario's run
    against one with about half the cells each way (the resolution as
    ``nr``, ``nz`` counts: the same grading rules place them), same
    tolerance; *time*, that coarse run against itself at a ten times looser
    tolerance (:func:`~exodiff.problem.layered.time_check`: ten times tighter
    at the cap 0.1), with TR-BDF2's time-error slope.  The time check runs on
    the coarse grid (a quarter of the cells) because its time error is the
    fine grid's to within the estimate's accuracy (measured,
    docs/numerics_rz.md) and the fine grid at a loose tolerance cost half a
    run.  A grid too small to halve (4 x 8 cells, or either count at that
    floor) is checked against twice the cells each way instead
    (``a - a_2x = e / 2`` at order 1) and its time on its own grid.
    ``tolerance`` None: the scenario's; ``against``: the index of the check
    run the difference is taken from (-1: the run itself).
    """
    from exodiff.problem.layered import time_check

    g = prz.grid
    half = {"nr": max(4, -(-g.nr // 2)), "nz": max(8, -(-g.nz // 2))}
    tol, t_divisor = time_check(prz.tolerance, "tr-bdf2")
    tighter = " (tighter)" if tol < prz.tolerance else ""
    if half["nr"] < g.nr and half["nz"] < g.nz:
        coarse = {**resolved, "simulation": {**resolved["simulation"], "resolution": half}}
        shape = f"{half['nz']}x{half['nr']} cells"
        return [(coarse, None, RZ_SPACE_DIVISOR, shape, "space check", -1),
                (coarse, tol, t_divisor, f"{shape} at tolerance {tol:g}{tighter}", "time check", 0)]
    # halving would give this very grid (the space check stated no error: 4 x 8 cells were off by 8x, unflagged)
    double = {"nr": 2 * g.nr, "nz": 2 * g.nz}
    fine = {**resolved, "simulation": {**resolved["simulation"], "resolution": double}}
    return [(fine, None, RZ_SPACE_DIVISOR / 2.0, f"{double['nz']}x{double['nr']} cells", "space check", -1),
            (resolved, tol, t_divisor, f"tolerance {tol:g}{tighter}", "time check", -1)]


def _with_checks(ds, solve, resolved: dict, prz) -> None:
    """A unit-cell result ``ds`` with the error estimate of its check runs (:func:`rz_checks`), in place.

    ``solve(resolved, tolerance, what)``: the Dataset of one check run.  A
    check run the solver cannot finish leaves ``ds`` without levels, saying
    why in the attribute ``check_run`` (as a 1D result).
    """
    from exodiff.errors import SolverError
    from exodiff.results.dataset_rz import add_check_levels

    runs, pairs = [], []
    for res, tol, divisor, text, what, against in rz_checks(resolved, prz):
        try:
            runs.append(solve(res, tol, what))
        except SolverError as exc:  # the result stands; it just has no stated levels
            ds.attrs["check_run"] = f"failed: {exc}"
            return
        pairs.append((ds if against < 0 else runs[against], runs[-1], divisor, text))
    add_check_levels(ds, pairs)


def _tolerance(prz, tolerance):
    """``prz`` at another tolerance (None: as it is)."""
    from dataclasses import replace

    return prz if tolerance is None else replace(prz, tolerance=tolerance)


def with_systemic(ds, scenario):
    """``ds`` with the blood of the scenario's ``[systemic]`` model (:func:`exodiff.results.dataset.add_plasma`)."""
    from exodiff.results.dataset import add_plasma
    from exodiff.results.systemic import PKModel

    pk = PKModel.from_resolved(scenario.resolved.get("systemic"))
    return ds if pk is None else add_plasma(ds, pk)


def run_classes(scenario, problem, progress: bool = False, checks: bool = True):
    """Solve every size class in the unit cell and combine them into one result Dataset.

    Size classes do not interact, so each class is its own unit cell, with
    its own adaptive steps (a unit-cell step costs far more than a Python
    call, and a common step would be set by the most demanding class), and
    the results add up (:func:`exodiff.results.classes_rz.combine`).  With a
    tracked cargo each class's unit cell carries its free cargo; a
    monodisperse preparation with a cargo is one class, returned as it is.

    Parameters
    ----------
    scenario : Scenario
        A validated channel scenario with a size distribution.
    problem : Problem1D
        Its 1D problem (the classes are ``problem.columns``).
    progress : bool
        A progress bar per class.
    checks : bool
        With the check runs of the error estimate (:func:`rz_checks`).

    Returns
    -------
    xarray.Dataset
        As :func:`exodiff.results.dataset_rz.to_dataset_rz`, totals over the
        classes, attribute ``size_classes``; with ``output.per_class`` also
        the ``class_*`` variables of the 1D result (``size_class`` dimension).
    """
    from exodiff.problem.layered import size_classes
    from exodiff.problem.unit_cell import class_problems
    from exodiff.results.classes_rz import combine
    from exodiff.results.dataset_rz import to_dataset_rz
    from exodiff.solvers.unit_cell import integrate_rz

    one = size_classes(scenario.resolved["formulation"]) is None  # a monodisperse preparation with a cargo
    per_class = bool(scenario.resolved.get("output", {}).get("per_class", False))

    def solve(resolved, tolerance=None, what=None):
        pairs = class_problems(resolved, problem)
        parts = []
        for k, (prz, col) in enumerate(pairs):
            desc = f"{scenario.name} [class {k + 1}/{len(pairs)}]" + (f" ({what})" if what else "")
            prz = _tolerance(prz, tolerance)
            raw = integrate_rz(prz, progress=progress and what is None, desc=desc)
            parts.append(to_dataset_rz(prz, raw, scenario=scenario))
        ds = parts[0] if one else combine(parts, [c for _, c in pairs], problem, per_class)
        return ds, pairs[0][0]

    ds, prz = solve(scenario.resolved)
    if checks:
        # the estimate of the total from the totals of the check runs (every class on the coarser grid, or at
        # the looser tolerance)
        _with_checks(ds, lambda res, tol, what: solve(res, tol, what)[0], scenario.resolved, prz)
    return with_systemic(ds, scenario)


def run_metrics(scenario, keep_dataset: bool = False):
    """Solve a scenario and return ``(metrics, Dataset or None)``: a sweep point's work.

    A 1D scenario's metrics come straight from the solver's arrays
    (:func:`exodiff.results.dataset.metric_arrays`): the same numbers as
    ``summary(run(sc))`` without building the Dataset, which cost ~4 ms
    plus ~18 ms of metrics on xarray per point against a ~4 ms solve
    (docs/performance.md, "Sweeps").  Unit-cell (r-z) scenarios go through
    :func:`run`.  A sweep point's metrics are always numbers: no check run
    and no resolvable levels (those are for :func:`run`; docs/numerics.md);
    an accuracy target still solves its two grids and extrapolates.
    """
    from exodiff.geometry.channels import channel_geometry
    from exodiff.problem.layered import problem_from_scenario
    from exodiff.results.dataset import metric_arrays
    from exodiff.results.metrics import summary, summary_of_arrays
    from exodiff.solvers.layered import integrate, integrate_estimated

    sc = _sc(scenario)
    target = sc.resolved["formulation"].get("target_layer")
    if channel_geometry(sc.resolved) is not None:
        ds = _run(sc, checks=False)
        return summary(ds, target), ds
    problem = problem_from_scenario(sc.resolved)
    raw = integrate_estimated(problem) if problem.richardson else integrate(problem, gaps=False)
    metrics = summary_of_arrays(_with_pk(metric_arrays(problem, raw), sc.resolved.get("systemic")), target)
    if not keep_dataset:
        return metrics, None
    from exodiff.results.dataset import to_dataset
    from exodiff.results.systemic import PKModel

    return metrics, to_dataset(problem, raw, scenario=sc, pk=PKModel.from_resolved(sc.resolved.get("systemic")))


def _with_pk(arrays, systemic: dict | None):
    """Metric arrays with the blood model of a ``[systemic]`` table (None: unchanged)."""
    from exodiff.results.systemic import PKModel

    arrays.systemic = PKModel.from_resolved(systemic)
    return arrays


# -- the batched 1D path (many sweep points in one compiled call) -----------------------------

def batch_eligible(scenario) -> bool:
    """A cheap prediction that the batched path solves this scenario (1D, one column).

    No channel, no size classes, no cargo.  The batch still checks every
    point itself (:func:`prepare_batched`).
    """
    from exodiff.geometry.channels import channel_geometry
    from exodiff.problem.layered import size_classes

    try:
        res = scenario.resolved
        form = res["formulation"]
        return channel_geometry(res) is None and form.get("cargo") is None and size_classes(form) is None \
            and res["simulation"].get("accuracy") is None  # an accuracy target solves two grids
    except Exception:
        return False


def prepare_batched(scenario):
    """The scenario's batched-path problem (:class:`exodiff.solvers.batch.Prepared`), or None.

    None when the batch does not solve it (a channel, several columns) or
    its problem cannot be built: the caller runs it alone, which records
    the error exactly as on the other paths.
    """
    import warnings

    from exodiff.geometry.channels import channel_geometry
    from exodiff.problem.layered import problem_from_scenario
    from exodiff.solvers.batch import prepare

    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if channel_geometry(scenario.resolved) is not None or \
                    scenario.resolved["simulation"].get("accuracy") is not None:
                return None
            prepared = prepare(problem_from_scenario(scenario.resolved))
    except Exception:
        return None
    if prepared is not None:
        prepared.target = scenario.resolved["formulation"].get("target_layer")
        prepared.systemic = scenario.resolved.get("systemic")
    return prepared


def pack_batched(prepared: list) -> dict:
    """Lay prepared scenarios out as the batch kernel's ragged arrays (:func:`exodiff.solvers.batch.pack`)."""
    from exodiff.solvers.batch import pack

    return pack(prepared)


def solve_batched(packed: dict, threads: int | None = None) -> float:
    """Solve packed scenarios in one compiled call (it releases the GIL); return its wall time, s."""
    from exodiff.solvers.batch import solve

    return solve(packed, threads)


def batched_metrics(prepared, packed, p: int, wall_time_s: float):
    """The metrics of point ``p`` of a solved batch, or None when it must be run alone.

    None when the kernel failed or the mass balance is not round-off:
    running it alone gives the same bits and the driver's error message.
    """
    import warnings

    from exodiff.results.dataset import metric_arrays
    from exodiff.results.metrics import summary_of_arrays
    from exodiff.solvers.batch import raw_solution
    from exodiff.solvers.ledger import MASS_BALANCE_LIMIT, balance_limit

    raw = raw_solution(prepared, packed, p, wall_time_s)
    if raw is None:
        return None
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            arrays = metric_arrays(prepared.problem, raw)
            # the driver's check (integrate): for one column this is the same mass_balance_error
            worst = float(np.max(np.abs(arrays.mass_balance_error)))
            # the stiffness bound only when needed: building it costs more than the check
            if not (worst <= MASS_BALANCE_LIMIT or worst <= balance_limit(prepared.problem)):
                return None
            return summary_of_arrays(_with_pk(arrays, prepared.systemic), prepared.target)
    except Exception:
        return None


# -- compiling: first-run notices and warm-ups -----------------------------------------------

def compile_line(what: str, seconds: float) -> str:
    """The first-run notice for compiling ``what`` (about ``seconds`` s)."""
    return f"compiling the {what} (first run only, about {seconds:.0f} s; later runs use the cache)"


def compile_notice(scenario) -> str | None:
    """The line to show before running ``scenario`` when its solver must be compiled first; None when cached.

    A channel scenario uses the unit-cell time loop (serial or parallel, as
    :func:`exodiff.solvers.unit_cell.use_parallel` will choose for its grid;
    the parallel one only once it is compiled, by ``exodiff warm``), others
    the 1D kernel.
    """
    from exodiff.problem.layered import problem_from_scenario
    from exodiff.solvers import layered

    problem = problem_from_scenario(scenario.resolved)
    prz = _unit_cell(scenario.resolved, problem)
    if prz is None:
        if problem.integrator == "krylov" and problem.krylov_obstacle() is None:
            from exodiff.solvers import krylov

            return None if krylov.kernel_cached() else compile_line("solver", krylov.COMPILE_SECONDS)
        return None if layered.kernels_cached() else compile_line("solver", layered.COMPILE_SECONDS)
    from exodiff.solvers.unit_cell import COMPILE_SECONDS as RZ_SECONDS
    from exodiff.solvers.unit_cell import PARALLEL_THRESHOLD, kernel_cached, parallel_kernel_ready, use_parallel

    # auto never compiles the parallel loop inside a run (use_parallel): a large grid runs
    # serial until `exodiff warm` has compiled it, and the notice says so
    par = use_parallel(prz)
    if kernel_cached(par):
        return None
    line = compile_line(f"{'parallel ' if par else ''}unit-cell solver", RZ_SECONDS[par])
    if not par and prz.grid.nz * prz.grid.nr >= PARALLEL_THRESHOLD and not parallel_kernel_ready():
        line += (f"; this grid runs serial until `exodiff warm` compiles the parallel one "
                 f"(about {RZ_SECONDS[True]:.0f} s, once)")
    return line


def uses_krylov(scenario) -> bool:
    """Whether ``scenario`` asks for the Krylov propagator (``simulation.integrator = "krylov"``)."""
    return scenario.resolved.get("simulation", {}).get("integrator") == "krylov"


def compile_notices(unit_cell: bool, batched: bool, krylov: bool = False) -> list[str]:
    """First-run lines for a study's points: the 1D kernels (and the batch kernel), the Krylov propagator (when
    ``krylov``: a point asks for it), the serial unit cell."""
    from exodiff.solvers import batch, layered, unit_cell as rz
    from exodiff.solvers.krylov import COMPILE_SECONDS as KRYLOV_SECONDS, kernel_cached as krylov_cached

    lines = []
    if not layered.kernels_cached() or (batched and not batch.batch_cached()):
        lines.append(compile_line("solver", layered.COMPILE_SECONDS))
    if krylov and not krylov_cached():  # warm_solver(krylov=True) compiles it
        lines.append(compile_line("Krylov propagator", KRYLOV_SECONDS))
    if unit_cell and not rz.kernel_cached(False):
        lines.append(compile_line("unit-cell solver", rz.COMPILE_SECONDS[False]))
    return lines


def warm(scenario) -> None:
    """Compile (or load from the cache) the kernel ``run(scenario)`` will use, on its first second.

    Called after :func:`compile_notice`, so the compile happens before a
    progress bar starts (whose time-left estimate it would otherwise spoil).
    """
    from exodiff.problem.layered import problem_from_scenario
    from exodiff.solvers.layered import integrate
    from exodiff.solvers.unit_cell import integrate_rz

    problem = problem_from_scenario(scenario.resolved)
    first = np.array([0.0, 1.0])
    prz = _unit_cell(scenario.resolved, problem)
    if prz is None:
        # the first second of the first application: a regimen's later ones run the same compiled loop
        integrate(replace(problem, output_times=first, application_times=()))
        if problem.application_times:  # and the sums of a superposed regimen's copies
            from exodiff.kernels import shifted_sums

            shifted_sums.warm()
    else:
        integrate_rz(replace(prz, output_times=first), check=False)


#: the smallest scenario that goes through every compiled function of a 1D run
WARM_SCENARIO = {
    "meta": {"name": "warm-up"},
    "skin": {"preset": "none", "layers": {"m": {"thickness": "10 um", "diffusivity": "1e-7 cm^2/s",
                                                "partition": 1.0}}},
    "formulation": {"preset": "custom", "vehicle": "finite", "concentration": "1 ug/cm^3",
                    "vehicle_thickness": "10 um", "evaporation_fraction": 0.5},
    "simulation": {"duration": "1 min", "output_interval": "30 s", "resolution": {"cells": 4}},
}
#: the same for the Krylov propagator (a film that does not evaporate)
WARM_KRYLOV = dict(WARM_SCENARIO, formulation={**WARM_SCENARIO["formulation"], "evaporation_fraction": 0.0},
                   simulation={**WARM_SCENARIO["simulation"], "integrator": "krylov"})


def warm_solver(unit_cell: bool = False, krylov: bool = False) -> None:
    """Compile (or load from Numba's cache) the solver and import the run's modules.

    Called once in the parent before any worker starts, so workers never
    write the cache concurrently, and forked workers inherit the compiled
    code; dask workers call it once each.  ``unit_cell``: also the serial
    r-z time loop, for studies with channel points; ``krylov``: also the
    Krylov propagator, for studies whose points ask for it.
    """
    from exodiff.results.metrics import summary

    summary(run(WARM_SCENARIO))
    if krylov:
        summary(run(WARM_KRYLOV))
    if unit_cell:
        from exodiff.solvers.unit_cell import warm_serial

        warm_serial()


def warm_all(parallel: bool = True, say=None) -> list[tuple[str, float, bool]]:
    """Compile every kernel variant a run, sweep or fit may use, or load it from Numba's cache (``exodiff warm``).

    In order: the one-column 1D loop, the Krylov propagator, the several-column loop (size classes,
    a cargo; and its variants for a cargo released in the film and for a
    penetration enhancement), the batched
    sweep kernel, the serial unit cell and (with ``parallel``) the parallel
    one.  ``say(line)`` is called before each.

    Returns
    -------
    list of (kernel, seconds, was_cached)
    """
    import time

    from exodiff.kernels import shifted_sums
    from exodiff.solvers import batch, layered
    from exodiff.solvers import unit_cell as rz

    classes = dict(WARM_SCENARIO, formulation={**WARM_SCENARIO["formulation"], "kind": "vesicle",
                                                "diameter": "100 nm", "gsd": 1.3, "size_classes": 3})
    layer = {**WARM_SCENARIO["skin"]["layers"]["m"], "hindrance": "none"}  # the free cargo's partition needs it
    leaking = dict(WARM_SCENARIO, skin={"preset": "none", "layers": {"m": layer}},
                   formulation={**WARM_SCENARIO["formulation"], "kind": "vesicle", "diameter": "100 nm",
                                "cargo": {"loading": 1, "molecular_weight": "368 g/mol", "log_kow": 3.0,
                                          "release_rate_vehicle": "0.1 1/h"}})
    # vesicles that enhance their free cargo's way through the SC, washed off: the same loop with five more arrays
    enhanced = dict(leaking, skin={"preset": "none", "layers": {"stratum_corneum": layer}},
                    formulation={**leaking["formulation"], "enhancement_factor": 2.0, "wash_off_time": "20 s"})
    from exodiff.solvers import krylov

    steps = [
        ("1D column", layered.kernels_cached, lambda: (run(WARM_SCENARIO), shifted_sums.warm())),
        ("1D Krylov propagator", krylov.kernel_cached, lambda: run(WARM_KRYLOV)),
        ("1D columns (size classes, cargo)", lambda: layered.kernels_cached("integrate_columns", 0),
         lambda: run(classes)),
        # a cargo leaking from the film passes two more arrays: another compiled variant of the same loop
        ("1D columns (cargo released in the film)", lambda: layered.kernels_cached("integrate_columns", 2),
         lambda: run(leaking)),
        ("1D columns (penetration enhancement)", lambda: layered.kernels_cached("integrate_columns", 5),
         lambda: run(enhanced)),
        ("batched 1D sweep kernel", batch.batch_cached, warm_batch),
        ("unit cell, serial", lambda: rz.kernel_cached(False), rz.warm_serial),
    ]
    if parallel:
        steps.append(("unit cell, parallel", lambda: rz.kernel_cached(True), lambda: rz.warm_serial(parallel=True)))
    out = []
    for name, cached, go in steps:
        was = bool(cached())
        if say is not None:
            say(f"{name}: {'loading from the cache' if was else 'compiling (first time only)'} ...")
        t0 = time.perf_counter()
        go()
        out.append((name, time.perf_counter() - t0, was))
    return out


def warm_batch() -> None:
    """Compile (or load from Numba's cache) the batch kernel: a two-point batch of the warm-up scenario."""
    sc = _sc(WARM_SCENARIO)
    solve_batched(pack_batched([prepare_batched(sc) for _ in range(2)]))


# exodiff.run(sc) calls run() whether exodiff.run is this module or the function
make_callable(__name__)
