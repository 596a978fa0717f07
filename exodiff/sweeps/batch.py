"""The batched path: many 1D points solved in one compiled call, in this process.

:func:`run_batched` takes the points of a sweep in chunks.  For each chunk
it builds every eligible point's problem, packs their arrays ragged
(:mod:`exodiff.kernels.batch1d`), solves them all in one call of
:func:`~exodiff.kernels.batch1d.integrate_batch` (Numba threads over the
points, each with its own step control: the same bits as a point solved
alone), then checks each one and computes its metrics from the raw arrays
as :func:`~exodiff.sweeps.point.run_point` does.

While the compiled call of one chunk runs (it releases the GIL), this
thread does the Python work of the chunk before (mass balance, metrics,
point files), so the two overlap.

Not eligible, and run by :func:`~exodiff.sweeps.point.run_point` instead,
in order: unit-cell (r-z) points, points with several columns (size
classes, a tracked cargo), points whose profiles are kept, a point whose
problem cannot be built (its error is recorded by ``run_point`` exactly as
on the other paths), and a point the batch could not solve or whose mass
balance fails (``run_point`` solves it again and records the same error).
"""

from __future__ import annotations

import math
import threading
import time as _time
import warnings
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from .point import PointOutcome, PointTask, encode_point, run_point

__all__ = ["run_batched", "warm_batch", "eligible", "CHUNK"]

#: points per compiled call: large enough that the call's overhead and the
#: threads' start are small per point, small enough that the first finished
#: points are written early and the overlap of two chunks pays
CHUNK = 64


@dataclass
class _Prepared:
    task: PointTask
    problem: object
    arrays: dict
    target: str | None
    t0: float


def eligible(scenario) -> bool:
    """A cheap prediction that the batch solves this point (1D, one column): no channel, no size classes, no cargo.

    Used to choose the path before anything runs; the batch still checks
    every point itself (:func:`_prepare`) and hands the others to ``run_point``.
    """
    from .. import channels
    from ..problem import size_classes

    try:
        res = scenario.resolved
        form = res["formulation"]
        return (channels.channel_geometry(res) is None and form.get("cargo") is None
                and size_classes(form) is None)
    except Exception:
        return False


def _prepare(task: PointTask):
    """The point's problem and kernel arrays, or None when it goes to ``run_point``."""
    from .. import channels
    from ..problem import problem_from_scenario
    from ..solve import _stops  # the driver's own stop list

    t0 = _time.perf_counter()
    if task.save_profiles:
        return None
    sc = task.scenario
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if channels.channel_geometry(sc.resolved) is not None:
                return None
            problem = problem_from_scenario(sc.resolved)
            if len(problem.all_columns) != 1 or problem.n_processes != 3:
                return None
            arr = problem.columns_arrays()
    except Exception:
        return None  # run_point records the error, as every path does
    # exactly the driver's set-up of a one-column run (exodiff.solve.integrate)
    times = problem.output_times
    t_end = float(times[-1])
    stops, out_idx, events = _stops(problem)
    n = arr["cap"].shape[1]
    L = len(problem.layers)
    c_donor = problem.concentration * arr["weight"]
    u = np.zeros(n)
    u[0] = c_donor[0]
    a = dict(cap=arr["cap"][0], g=arr["g"][0], cdeg=arr["closs"][0, 0], cup=arr["closs"][0, 1],
             ccl=arr["closs"][0, 2], node_layer=arr["node_layer"], n_layers=L, infinite=problem.vehicle == "infinite",
             c_donor=c_donor[0], h0=problem.vehicle_thickness, evap_frac=problem.evaporation_fraction,
             evap_tau=problem.evaporation_time, stops=stops, out_index=out_idx, stop_event=events, u=u,
             comp=np.zeros(3 * L + 3), rtol=problem.tolerance, m_ref=arr["m_ref"][0],
             h_start=1e-8 * max(t_end, 1.0), k=times.size)
    return _Prepared(task, problem, a, sc.resolved["formulation"].get("target_layer"), t0)


def _pack(points: list[_Prepared]) -> dict:
    """Ragged arrays of :func:`~exodiff.kernels.batch1d.integrate_batch` for ``points``."""
    from ..kernels.batch1d import offsets

    A = [p.arrays for p in points]
    B = len(A)
    ns = [a["cap"].size for a in A]
    ncs = [a["comp"].size for a in A]
    ks = [a["k"] for a in A]
    cat = np.concatenate

    def col(name, dtype=float):
        return np.array([a[name] for a in A], dtype=dtype)

    u_out = np.zeros(sum(k * n for k, n in zip(ks, ns)))
    comp_out = np.zeros(sum(k * c for k, c in zip(ks, ncs)))
    uo, co = offsets([k * n for k, n in zip(ks, ns)]), offsets([k * c for k, c in zip(ks, ncs)])
    u = cat([a["u"] for a in A])
    no = offsets(ns)
    # the initial state is recorded as output 0, as the driver does
    for p, a in enumerate(A):
        u_out[uo[p]:uo[p] + ns[p]] = a["u"]
    fstate = np.empty((B, 3))
    fstate[:, 0] = 0.0
    fstate[:, 1] = col("h_start")
    fstate[:, 2] = math.nan
    return dict(
        node_off=no, g_off=offsets([n + 1 for n in ns]), comp_off=offsets(ncs),
        stop_off=offsets([a["stops"].size for a in A]), uout_off=uo, cout_off=co, n_out=col("k", np.int64),
        cap=cat([a["cap"] for a in A]), g=cat([a["g"] for a in A]), cdeg=cat([a["cdeg"] for a in A]),
        cup=cat([a["cup"] for a in A]), ccl=cat([a["ccl"] for a in A]),
        node_layer=cat([a["node_layer"] for a in A]), n_layers=col("n_layers", np.int64),
        infinite=col("infinite", np.bool_), c_donor=col("c_donor"), h0=col("h0"), evap_frac=col("evap_frac"),
        evap_tau=col("evap_tau"), stops=cat([a["stops"] for a in A]), out_index=cat([a["out_index"] for a in A]),
        stop_event=cat([a["stop_event"] for a in A]), u=u, comp=cat([a["comp"] for a in A]), fstate=fstate,
        istate=np.zeros((B, 3), dtype=np.int64), rtol=col("rtol"), m_ref=col("m_ref"), h_start=col("h_start"),
        u_out=u_out, comp_out=comp_out, stats=np.zeros((B, 3), dtype=np.int64), status=np.full(B, -1, dtype=np.int64),
    )


_ORDER = ("node_off", "g_off", "comp_off", "stop_off", "uout_off", "cout_off", "n_out",
          "cap", "g", "cdeg", "cup", "ccl", "node_layer", "n_layers",
          "infinite", "c_donor", "h0", "evap_frac", "evap_tau",
          "stops", "out_index", "stop_event",
          "u", "comp", "fstate", "istate",
          "rtol", "m_ref", "h_start", "max_steps",
          "u_out", "comp_out", "stats", "status")


def _solve(packed: dict, threads: int | None) -> float:
    """One compiled call over the packed points; returns its wall time (s)."""
    import numba

    from ..kernels.batch1d import integrate_batch
    from ..solve import MAX_STEPS

    if threads is not None:
        # Numba's thread count is per calling thread: set it in the one that calls
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    t0 = _time.perf_counter()
    with np.errstate(all="ignore"):
        integrate_batch(*[MAX_STEPS if k == "max_steps" else packed[k] for k in _ORDER])
    return _time.perf_counter() - t0


def _finish(points: list[_Prepared], packed: dict, kernel_s: float) -> Iterator[PointOutcome]:
    """Check and measure each solved point as ``run_point`` does; re-run the ones that did not solve."""
    from ..kernels.column1d import OK
    from ..metrics import summary_of_arrays
    from ..results import metric_arrays
    from ..solve import MASS_BALANCE_LIMIT, RawSolution

    share = kernel_s / max(len(points), 1)
    for p, pt in enumerate(points):
        task = pt.task
        if packed["status"][p] != OK:
            # the driver's message for it: run_point solves it again, the same bits, the same failure
            yield run_point(task)
            continue
        t1 = _time.perf_counter()
        a = pt.arrays
        n, nc, k = a["cap"].size, a["comp"].size, a["k"]
        uo = packed["u_out"][packed["uout_off"][p]:packed["uout_off"][p + 1]].reshape(k, 1, n)
        co = packed["comp_out"][packed["cout_off"][p]:packed["cout_off"][p + 1]].reshape(k, 1, nc)
        st = packed["stats"][p]
        raw = RawSolution(times=pt.problem.output_times.copy(), u=uo[:, 0], comp=co[:, 0],
                          stats={"steps": int(st[0]), "rejected": int(st[1]), "solves": int(st[2]),
                                 "wall_time_s": share, "columns": 1},
                          u_cols=uo, comp_cols=co)
        out = PointOutcome(index=task.index, status="ok", parameters=dict(task.parameters),
                           scenario_hash=task.scenario_hash)
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                run = metric_arrays(pt.problem, raw)
                # the driver's check (integrate): for one column this is the same mass_balance_error
                if not float(np.max(np.abs(run.mass_balance_error))) <= MASS_BALANCE_LIMIT:
                    raise ValueError("mass balance")
                out.metrics = summary_of_arrays(run, pt.target)
        except Exception:
            yield run_point(task)
            continue
        out.wall_time_s = share + (_time.perf_counter() - t1)
        if task.encode:
            out.data = encode_point(out)
        yield out


def run_batched(tasks: Iterable[PointTask], threads: int | None = None, chunk: int | None = None,
                overlap: bool = True) -> Iterator[PointOutcome]:
    """Run sweep points in batches; yield every point's outcome (any order).

    Parameters
    ----------
    tasks : iterable of PointTask
    threads : int, optional
        Numba threads of the compiled call (default: Numba's, every core).
    chunk : int, optional
        Points per compiled call.  Default: :data:`CHUNK`, less for a small
        sweep (at least four chunks per thread, so the overlap works and
        points are written as they go), never fewer than the threads.
    overlap : bool
        Solve the next chunk in a helper thread while this one measures the
        last (the kernel releases the GIL).
    """
    tasks = list(tasks)
    if chunk is None:
        import numba

        workers = int(threads or numba.config.NUMBA_NUM_THREADS)
        chunk = max(workers, min(CHUNK, -(-len(tasks) // (4 * workers))))
    running = None  # the chunk being solved: (points, packed, thread, result box)
    for start in range(0, len(tasks), chunk):
        # build the next chunk while the last one solves
        points = []
        for task in tasks[start:start + chunk]:
            pt = _prepare(task)
            if pt is None:
                yield run_point(task)
            else:
                points.append(pt)
        done = _join(running)
        # one compiled call at a time (Numba's thread pool is not shared between callers)
        running = _start(points, overlap, threads) if points else None
        if done is not None:
            yield from _finish(*done)
    done = _join(running)
    if done is not None:
        yield from _finish(*done)


def _start(points, overlap: bool, threads: int | None):
    packed = _pack(points)
    box = [0.0, None]
    if not overlap:
        box[0] = _solve(packed, threads)
        return points, packed, None, box

    def work():
        try:
            box[0] = _solve(packed, threads)
        except BaseException as exc:  # raised again in the caller's thread
            box[1] = exc

    th = threading.Thread(target=work, name="exodiff-batch", daemon=True)
    th.start()
    return points, packed, th, box


def _join(running):
    if running is None:
        return None
    points, packed, th, box = running
    if th is not None:
        th.join()
    if box[1] is not None:
        raise box[1]
    return points, packed, box[0]


def warm_batch() -> None:
    """Compile (or load from Numba's cache) the batch kernel: a two-point batch of the warm-up scenario."""
    from ..scenario import load_scenario
    from ..sweep import _WARM_SCENARIO

    sc = load_scenario(_WARM_SCENARIO)
    tasks = [PointTask(i, sc, {}, "", encode=False) for i in range(2)]
    for _ in run_batched(tasks, overlap=False):
        pass


def batch_cached() -> bool:
    """True when the batch kernel is in Numba's on-disk cache (as :func:`exodiff.solve.kernels_cached`)."""
    try:
        from ..kernels.batch1d import integrate_batch

        return bool(integrate_batch._cache._cache_file._load_index())
    except Exception:
        return True
