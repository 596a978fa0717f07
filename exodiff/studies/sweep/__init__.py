"""Parameter sweeps: :func:`sweep` runs every point of a ``[sweep]`` table.

::

    import exodiff
    ds = exodiff.sweep("scenarios/sweep_vesicle_size.toml", jobs=2, directory="results/size")
    ds["delivered_dermis"].sel(formulation__deformability=0.9)   # the key's dots as "__"
    exodiff.sweep.dotted(ds).sel({"formulation.deformability": 0.9})   # names before 0.2

The flow (each step its own module in :mod:`exodiff.studies.sweep`):

1. :func:`plan`: load the scenario, check the ``[sweep]`` table, expand the
   points and validate every point through :meth:`Scenario.replace`, all
   before anything runs or is written (all problems reported together);
2. :func:`execute`: warm the compiled solver once in this process, then run
   the points through an executor (:mod:`exodiff.studies.executors`: in-process,
   process pool, dask), writing each finished point at once when there is a
   directory;
3. :func:`~exodiff.studies.sweep.combine.combine`: one Dataset with the metrics of
   every point (``sweep.nc``).

Per-point cost (``docs/performance.md``, "Sweeps").  A 1D point's metrics
come straight from the solver's arrays (:func:`exodiff.results.dataset.metric_arrays`
and :func:`exodiff.results.metrics.summary_of_arrays`, the one implementation the
Dataset path uses too), not from a result Dataset, and its point file is
packed directly: 21-30 ms per point became ~6 ms, of which ~3 ms is the
compiled solve.  Validation happens once in the parent (workers get
validated scenarios); pool workers are forked from the warmed parent.

Batching.  With the Python work of a point down to the size of its solve,
the batched path (:mod:`exodiff.studies.sweep.batch`, ``batch=True``) pays: many
1D points per compiled call on Numba threads, each with its own step
control (the same bits as alone), overlapped with the Python work of the
chunk before.  On the 2-core machine it runs the 1000-point 1D benchmark
at 1.7-2.0x serial against 1.4-1.7x for a 2-process pool (which pays for
transfers and a third process on the 2 cores), so it is the default for sweeps of one-column 1D
points (:func:`use_batch`); r-z and several-column points use the pool.
dask gets points in small chunks (its per-task cost is milliseconds).
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from typing import Any, Mapping

from exodiff._callable import make_callable
from exodiff.studies.sweep.combine import dim_name, dotted
from exodiff.studies.sweep.definition import Point, SweepDefinition, check_points, parse_sweep, scenario_hash

__all__ = ["sweep", "plan", "execute", "SweepPlan", "use_batch", "dim_name", "dotted"]


@dataclass
class SweepPlan:
    """A checked sweep, ready to run.

    Attributes
    ----------
    base : Scenario
        The scenario without its ``[sweep]`` table.
    definition : SweepDefinition
    points : list of Point
    scenarios : list of Scenario
        The validated scenario of every point.
    hash : str
        :func:`~exodiff.studies.sweep.definition.scenario_hash` of base and table.
    file : str
        The scenario's file label.
    """

    base: Any
    definition: SweepDefinition
    points: list[Point]
    scenarios: list
    hash: str
    file: str

    @property
    def size(self) -> int:
        return len(self.points)


def plan(scenario, definition: Mapping[str, Any] | None = None, max_points: int | None = None) -> SweepPlan:
    """Load, check and expand a sweep; validate every point.

    Parameters
    ----------
    scenario : Scenario, path or dict
        A scenario with a ``[sweep]`` table (or any scenario, with ``definition``).
    definition : dict, optional
        A sweep table to use instead of the scenario's own, e.g.
        ``{"mode": "grid", "formulation.diameter": ["50 nm", "100 nm"]}``.
    max_points : int, optional
        The most points allowed (default ``EXODIFF_MAX_POINTS``, else
        :data:`~exodiff.studies.sweep.definition.MAX_POINTS`); counted before
        any point is made, so a sweep too large is refused at once.

    Returns
    -------
    SweepPlan

    Raises
    ------
    ScenarioError
        Every problem of the scenario, the table or a point, one line each.
    """
    from exodiff.scenario.core import Scenario, load_scenario

    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if definition is None and "population" in sc.user:
        from exodiff.errors import Issue, ScenarioError

        given = "a [population] table" + (" together with a [sweep] table" if "sweep" in sc.user else "")
        raise ScenarioError([Issue(sc.file, "population", given,
                                   "a [sweep] table only: a population is run by exodiff population "
                                   "(docs/population.md), a sweep by exodiff sweep")])
    table = dict(definition) if definition is not None else sc.user.get("sweep")
    base = sc.replace({"sweep": None}) if "sweep" in sc.user else sc
    defn = parse_sweep(table, base, sc.file, max_points)
    points = defn.points()
    scenarios = check_points(base, defn, points, sc.file)
    return SweepPlan(base=base, definition=defn, points=points, scenarios=scenarios,
                     hash=scenario_hash(base.user, defn.table), file=sc.file)


def execute(plan: SweepPlan, executor, store=None, done: dict | None = None, save_profiles: bool = False,
            progress: bool = False, check_metrics=None) -> dict:
    """Run the points of ``plan`` not in ``done``; return every outcome by index.

    Parameters
    ----------
    plan : SweepPlan
    executor : Executor
        Started here if needed; closed by the caller.
    store : PointStore, optional
        Write each point the moment it finishes.
    done : dict, optional
        Outcomes of points finished earlier (``--resume``).
    save_profiles : bool
    progress : bool
        A progress bar (points done, failures, time left) on stderr.
    check_metrics : callable, optional
        Called with the metric names of the first point not done, solved
        here before the executor starts and anything is written (a
        :class:`~exodiff.errors.UserError` it raises stops the sweep then,
        not after every point: ``--best`` / ``--plot`` of a metric the sweep
        does not have).  Not called when that point fails.
    """
    from exodiff import run as _run
    from exodiff.studies.sweep.point import PointTask, run_point

    outcomes = dict(done or {})
    todo = [i for i in range(plan.size) if i not in outcomes]
    if not todo:
        return outcomes
    unit_cell = any(_run.is_unit_cell(plan.scenarios[i]) for i in todo)
    krylov = any(_run.uses_krylov(plan.scenarios[i]) for i in todo)
    if progress:
        for line in _run.compile_notices(unit_cell, batched=executor.name == "batched", krylov=krylov):
            print(line, file=sys.stderr, flush=True)
    _run.warm_solver(unit_cell, krylov)
    tasks = [PointTask(i, plan.scenarios[i], plan.points[i].overrides, plan.hash, save_profiles,
                       encode=store is not None) for i in todo]
    first = None
    if check_metrics is not None:
        # the first point here, so a metric the sweep will not have is refused before the rest run (its result
        # is kept: the executor does not run it again)
        first = run_point(tasks[0])
        if first.ok:
            check_metrics([k for k, v in first.metrics.items()
                           if isinstance(v, (int, float)) and not isinstance(v, bool)])
        tasks = tasks[1:]
    # the executor first: a scheduler that cannot be reached is refused before anything is written (points/ and
    # sweep.json were made, then exit 2)
    executor.start()
    if store is not None:
        store.begin()
    if first is not None:
        if store is not None:
            store.write(first)
        first.data = None
        outcomes[first.index] = first
    executor.warm(functools.partial(_run.warm_solver, unit_cell))
    failed = sum(1 for o in outcomes.values() if not o.ok)
    if not tasks:
        return outcomes
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=plan.size, initial=len(outcomes), desc="sweep", unit="point",
                   file=sys.stderr, dynamic_ncols=True)
        bar.set_postfix_str(f"failed {failed}", refresh=False)
    try:
        for out in executor.map_points(tasks, _runner()):
            if store is not None:
                store.write(out)
            out.data = None
            outcomes[out.index] = out
            if not out.ok:
                failed += 1
            if bar is not None:
                if not out.ok:
                    bar.set_postfix_str(f"failed {failed}", refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return outcomes


def _runner():
    """The sweep's points: one at a time, several per remote task, or the compiled batch."""
    from exodiff.studies.executors import PointRunner
    from exodiff.studies.sweep.batch import run_batched
    from exodiff.studies.sweep.point import run_point, run_points

    return PointRunner(one=run_point, many=run_points, batched=run_batched)


def sweep(scenario, jobs: int | None = None, directory=None, *, definition: Mapping[str, Any] | None = None,
          resume: bool = False, scheduler: str | None = None, dask_local: int | None = None, executor=None,
          save_profiles: bool = False, progress: bool = False, batch: bool | None = None, check_metrics=None):
    """Run a parameter sweep and return its combined Dataset.

    Parameters
    ----------
    scenario : Scenario, path, dict or SweepPlan
        A scenario with a ``[sweep]`` table (docs/sweeps.md).
    jobs : int, optional
        Worker processes (default: every core); 1 runs in this process.
    directory : path, optional
        Write each finished point to ``directory/points/`` at once and the
        result to ``directory/sweep.nc``.  Default: nothing is written.
    definition : dict, optional
        A sweep table to use instead of the scenario's.
    resume : bool
        Keep the finished points in ``directory`` and run the rest; refused
        when they come from a changed scenario or sweep table.
    scheduler : str, optional
        Address of a dask.distributed scheduler to run the points on.
    dask_local : int, optional
        Start a dask LocalCluster with this many worker processes.
    executor : Executor, optional
        Use this executor (started here, not closed).
    save_profiles : bool
        Keep ``fraction`` and ``amount`` over time for every point.
    progress : bool
        Show a progress bar.
    batch : bool, optional
        The batched path (:class:`~exodiff.studies.executors.BatchedExecutor`): 1D
        points many per compiled call, on ``jobs`` threads of this process.
        Default (None): batched when it is the faster choice, i.e. more than
        one job, no dask, no profiles, and every point a one-column 1D
        point (:func:`use_batch`); False: never.
    check_metrics : callable, optional
        Checks the metric names of the first point before the others run
        (:func:`execute`).

    Returns
    -------
    xarray.Dataset
        Every metric of :func:`exodiff.results.metrics.summary` over the swept keys
        (grid: one dimension per key) or over ``point`` (zip, sample); failed
        points NaN, with their ``error``.

    Raises
    ------
    ScenarioError
        A bad scenario, sweep table or point (before anything runs).
    UserError
        A directory that cannot be used, a refused resume, dask missing.
    """
    from exodiff.studies.executors import make_executor
    from exodiff.report.outputs import write_netcdf
    from exodiff.studies.sweep.combine import combine
    from exodiff.studies.sweep.store import PointStore

    p = scenario if isinstance(scenario, SweepPlan) else plan(scenario, definition)
    store = PointStore(directory, p) if directory is not None else None
    if resume and store is None:
        from exodiff.errors import UserError

        raise UserError("resume: needs the directory of the sweep to continue (directory=...)")
    done = store.check(resume) if store is not None else {}  # takes the directory's lock
    try:
        owned = executor is None
        if owned:
            if batch is None:
                batch = use_batch(p, jobs, scheduler, dask_local, save_profiles)
            executor = make_executor(jobs, scheduler, dask_local, batch)
        try:
            outcomes = execute(p, executor, store, done, save_profiles, progress, check_metrics)
        except BaseException:
            if owned:
                executor.close(cancel=True)
            raise
        if owned:
            executor.close()
        ds = combine(p, outcomes, save_profiles)
        if store is not None:
            write_netcdf(ds, store.result_path)
        return ds
    finally:
        if store is not None:
            store.close()


def use_batch(p: SweepPlan, jobs: int | None = None, scheduler: str | None = None, dask_local: int | None = None,
              save_profiles: bool = False) -> bool:
    """Whether :func:`sweep` takes the batched path by default (measured faster; see the module docstring).

    Only in place of a local process pool (``jobs`` other than 1, no dask),
    without profiles, and when every point is predicted one-column 1D
    (:func:`exodiff.studies.sweep.batch.eligible`): the batch runs other points
    one at a time, where a pool would run them side by side.
    """
    from exodiff.studies.executors import default_jobs
    from exodiff.studies.sweep.batch import eligible

    if scheduler is not None or dask_local is not None or save_profiles:
        return False
    if (default_jobs() if jobs is None else int(jobs)) < 2:
        return False
    return all(eligible(sc) for sc in p.scenarios)


# exodiff.compare / exodiff.sweep: this module, and called, its function of the same name
make_callable(__name__)
