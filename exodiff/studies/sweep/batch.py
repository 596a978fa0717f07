"""The batched path: many 1D sweep points solved in one compiled call, in this process.

:func:`run_batched` takes the points of a sweep in chunks.  For each chunk
it prepares every eligible point (:func:`exodiff.run.prepare_batched`),
solves them all in one compiled call (:func:`exodiff.run.solve_batched`:
Numba threads over the points, each with its own step control, the same
bits as a point solved alone), then measures each one from the raw arrays
as :func:`~exodiff.studies.sweep.point.run_point` does
(:func:`exodiff.run.batched_metrics`).

While the compiled call of one chunk runs (it releases the GIL), this
thread does the Python work of the chunk before (mass balance, metrics,
point files), so the two overlap.

Not eligible, and run by :func:`~exodiff.studies.sweep.point.run_point`
instead, in order: unit-cell (r-z) points, points with several columns
(size classes, a tracked cargo), points whose profiles are kept, a point
whose problem cannot be built (its error is recorded by ``run_point``
exactly as on the other paths), and a point the batch could not solve or
whose mass balance fails (``run_point`` solves it again and records the
same error).
"""

from __future__ import annotations

import threading
import time as _time
from dataclasses import dataclass
from typing import Iterable, Iterator

from exodiff import run as _run
from exodiff.studies.sweep.point import PointOutcome, PointTask, encode_point, run_point

__all__ = ["run_batched", "eligible", "CHUNK"]

#: points per compiled call: large enough that the call's overhead and the
#: threads' start are small per point, small enough that the first finished
#: points are written early and the overlap of two chunks pays
CHUNK = 64

#: a cheap prediction that the batch solves a point (1D, one column)
eligible = _run.batch_eligible


@dataclass
class _Point:
    task: PointTask
    prepared: object
    t0: float


def _prepare(task: PointTask) -> _Point | None:
    """The point set up for the batch, or None when it goes to ``run_point``."""
    t0 = _time.perf_counter()
    if task.save_profiles:
        return None
    prepared = _run.prepare_batched(task.scenario)
    return None if prepared is None else _Point(task, prepared, t0)


def _finish(points: list[_Point], packed: dict, kernel_s: float) -> Iterator[PointOutcome]:
    """Measure each solved point as ``run_point`` does; re-run the ones that did not solve."""
    share = kernel_s / max(len(points), 1)
    for p, pt in enumerate(points):
        task = pt.task
        t1 = _time.perf_counter()
        metrics = _run.batched_metrics(pt.prepared, packed, p, share)
        if metrics is None:
            # the driver's message for it: run_point solves it again, the same bits, the same failure
            yield run_point(task)
            continue
        out = PointOutcome(index=task.index, status="ok", parameters=dict(task.parameters),
                           scenario_hash=task.scenario_hash, metrics=metrics)
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
    packed = _run.pack_batched([pt.prepared for pt in points])
    box = [0.0, None]
    if not overlap:
        box[0] = _run.solve_batched(packed, threads)
        return points, packed, None, box

    def work():
        try:
            box[0] = _run.solve_batched(packed, threads)
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


