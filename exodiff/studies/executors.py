"""Executors: run one function over many items, in workers, results as they finish.

One small interface (:class:`Executor`) with three implementations:

- :class:`SerialExecutor`: in this process, one item after the other (``-j 1``);
- :class:`ProcessPool`: a local pool of processes, one thread each
  (``concurrent.futures``; ``fork`` where available so workers inherit the
  compiled, warmed solver, else ``spawn``);
- :class:`DaskExecutor`: a dask.distributed cluster, an existing one
  (``--scheduler ADDRESS``) or a :class:`~distributed.LocalCluster` it starts
  (``--dask-local N``: processes, one thread per worker).  dask is an
  optional extra (``pip install "exodiff[distributed]"``).

The function must be importable at module level (it is pickled to workers)
and should not raise for an item that fails: it returns a failed result, so
one bad item never stops the others.  An exception that escapes (a worker
killed, a broken pool) ends the iteration.  Leaving the ``with`` block early
(Ctrl-C, an error) cancels what has not started and stops the workers.

Numba's on-disk cache: call ``warm()`` (the parent warms first, serially),
so workers only ever read the cache, never write it concurrently.
"""

from __future__ import annotations

import abc
import multiprocessing as mp
import os
import signal
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from exodiff.errors import UserError

__all__ = ["PointRunner", "Executor", "SerialExecutor", "BatchedExecutor", "ProcessPool", "DaskExecutor", "default_jobs", "make_executor", "exit_with_parent",
           "DASK_MISSING"]

DASK_MISSING = ('dask.distributed is not installed; it is an optional extra: pip install "exodiff[distributed]" '
                '(from a source tree: pip install ".[distributed]")')


@dataclass(frozen=True)
class PointRunner:
    """How a study runs its points, for :meth:`Executor.map_points`.

    Attributes
    ----------
    one : callable
        ``one(task) -> outcome``; importable at module level (it is pickled
        to worker processes) and never raising for a failed point.
    many : callable, optional
        ``many(tasks) -> list of outcomes``: several points per remote task.
    batched : callable, optional
        ``batched(tasks, threads=, chunk=) -> iterator of outcomes``: the
        in-process compiled batch (:class:`BatchedExecutor`).
    """

    one: Callable[[Any], Any]
    many: Callable[[list], list] | None = None
    batched: Callable[..., Iterator[Any]] | None = None


def default_jobs() -> int:
    """Cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Executor(abc.ABC):
    """Runs ``fn`` over items in workers and yields the results as they finish.

    Use as a context manager; ``workers`` is the number of items run at once.
    """

    #: short name for messages ("serial", "process pool", "dask")
    name = "executor"
    workers = 1

    def __enter__(self) -> "Executor":
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(cancel=exc_type is not None)

    def start(self) -> None:
        """Start the workers (idempotent)."""

    def warm(self, fn: Callable[[], Any]) -> None:
        """Call ``fn()`` once in every worker (e.g. to load compiled code)."""

    @abc.abstractmethod
    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        """Yield ``fn(item)`` for every item, in the order they finish."""

    def map_points(self, tasks: list, runner: "PointRunner") -> Iterator[Any]:
        """Run a study's points with ``runner``, yield their outcomes as they finish.

        Here one point per call of ``runner.one``; executors with a cheaper
        way (several points per task, a compiled batch) override this.
        """
        return self.map_unordered(runner.one, tasks)

    def close(self, cancel: bool = False) -> None:
        """Stop the workers; ``cancel``: drop what has not finished."""

    def describe(self) -> str:
        return f"{self.name}, {self.workers} worker{'s' if self.workers != 1 else ''}"


class SerialExecutor(Executor):
    """Everything in this process, in order: the reference the others are measured against."""

    name = "serial"
    workers = 1

    def warm(self, fn):
        fn()

    def map_unordered(self, fn, items):
        for item in items:
            yield fn(item)


class BatchedExecutor(Executor):
    """Sweep points in this process, 1D points many per compiled call (:mod:`exodiff.studies.sweep.batch`).

    Eligible points (1D, one column) are solved in chunks by one compiled
    call that spreads the points over Numba threads; the Python work of one
    chunk (problem set-up, metrics, point files) overlaps the solve of the
    next.  Other points, and other functions than sweep points, run one
    after the other here, as :class:`SerialExecutor` does.

    Parameters
    ----------
    threads : int, optional
        Numba threads of the compiled call (default: every core).
    chunk : int, optional
        Points per compiled call (default: :func:`~exodiff.studies.sweep.batch.run_batched`'s).
    """

    name = "batched"

    def __init__(self, threads: int | None = None, chunk: int | None = None):
        self.workers = int(threads or default_jobs())
        self.chunk = chunk

    def warm(self, fn):
        from exodiff.run import warm_batch

        fn()
        warm_batch()

    def map_unordered(self, fn, items):
        for item in items:
            yield fn(item)

    def map_points(self, tasks, runner):
        if runner.batched is None:
            return self.map_unordered(runner.one, tasks)
        return runner.batched(tasks, threads=self.workers, chunk=self.chunk)

    def describe(self):
        return f"batched, {self.workers} thread{'s' if self.workers != 1 else ''}"


#: How often a worker checks that its parent is alive where PR_SET_PDEATHSIG is missing, s.
PARENT_POLL_SECONDS = 1.0
_PR_SET_PDEATHSIG = 1


def exit_with_parent(parent: int) -> None:
    """Make this process end when ``parent`` (the process that started it) dies, even by kill -9.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, so the kernel kills the worker
    the moment its parent goes.  Everywhere (and as a second guard) a daemon
    thread polls ``os.getppid()`` and exits when the worker has been
    re-parented.  Without this a killed sweep left its pool workers running
    (250 MB each) until they finished every queued point.
    """
    if os.getppid() != parent:  # the parent died before we got here
        os._exit(1)
    if hasattr(os, "sched_getaffinity"):  # Linux
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent:  # died between the check and prctl
            os._exit(1)

    def watch() -> None:
        import time

        while True:
            time.sleep(PARENT_POLL_SECONDS)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="exodiff-parent-watch", daemon=True).start()


def _init_worker(parent: int | None = None) -> None:
    # Ctrl-C (and a job scheduler's SIGTERM) goes to the whole process group: the parent decides what stops;
    # a worker finishes nothing half-way on its own (a worker dying of SIGTERM under the parent's own
    # interrupt left the pool's shutdown waiting for ever); the parent ends them with SIGKILL (close)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # one thread per worker process (kernels are serial; no oversubscription)
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    if parent is not None:
        exit_with_parent(parent)


def _noop() -> None:
    return None


def _start_method() -> str:
    """``fork`` when safe (workers inherit the warmed solver: no import, no cache load), else ``spawn``."""
    if "fork" in mp.get_all_start_methods() and threading.active_count() == 1:
        return "fork"
    return "spawn"


class ProcessPool(Executor):
    """A local pool of worker processes with one thread each.

    Parameters
    ----------
    jobs : int, optional
        Number of processes (default: every core, :func:`default_jobs`).
    start_method : str, optional
        ``"fork"``, ``"spawn"`` or ``"forkserver"``; default ``fork`` when the
        parent has no other thread, else ``spawn``.
    """

    name = "process pool"

    def __init__(self, jobs: int | None = None, start_method: str | None = None):
        self.workers = int(jobs or default_jobs())
        self._method = start_method
        self._pool = None

    def start(self):
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            ctx = mp.get_context(self._method or _start_method())
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                             initargs=(os.getpid(),))
            # start the processes now, before this process starts threads of
            # its own (a progress bar's monitor): forking then would be unsafe
            self._pool.submit(_noop).result()

    def warm(self, fn):
        # with fork the workers inherit what the parent warmed; with spawn
        # each loads the (already written) cache on its first item
        pass

    def map_unordered(self, fn, items):
        from concurrent.futures import FIRST_COMPLETED, wait

        self.start()
        pending = {self._pool.submit(fn, item) for item in items}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield f.result()
        finally:
            for f in pending:
                f.cancel()

    def close(self, cancel=False):
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if not cancel:
            pool.shutdown(wait=True)
            return
        # stop now: drop the queue, end the running items (they are lost,
        # and were never written), reap the processes we started
        procs = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            if p.is_alive():
                p.kill()  # they ignore SIGTERM (_init_worker)
        for p in procs:
            p.join(timeout=5)


class DaskExecutor(Executor):
    """A dask.distributed cluster: an existing scheduler, or a LocalCluster started here.

    Parameters
    ----------
    address : str, optional
        Scheduler address (``tcp://host:8786``) of a running cluster.
    local_workers : int, optional
        Start a :class:`distributed.LocalCluster` with this many worker
        processes, one thread each (closed again by :meth:`close`).

    Raises
    ------
    UserError
        dask.distributed is not installed, or the scheduler cannot be reached.
    """

    name = "dask"

    def __init__(self, address: str | None = None, local_workers: int | None = None):
        if (address is None) == (local_workers is None):
            raise ValueError("give a scheduler address or a number of local workers")
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise UserError(DASK_MISSING) from None
        self.address = address
        self.local_workers = local_workers
        self.workers = int(local_workers or 0)
        self.client = None
        self._cluster = None

    def start(self):
        if self.client is not None:
            return
        import distributed

        if self.address is None:
            # dashboard on a free port (":0"): no clash with a cluster already running here
            self._cluster = distributed.LocalCluster(n_workers=self.local_workers, threads_per_worker=1,
                                                     processes=True, dashboard_address=":0")
            self.client = distributed.Client(self._cluster)
        else:
            import dask

            before = dask.config.get("scheduler", None)
            try:
                self.client = distributed.Client(self.address, timeout="20s")
            except (OSError, TimeoutError, ValueError) as exc:
                # a Client that failed to connect has already made itself dask's scheduler: every later dask
                # (and xarray) computation in this process then failed with "no Client active"
                dask.config.set(scheduler=before)
                raise UserError(f"--scheduler {self.address}: cannot reach a dask scheduler there "
                                f"({type(exc).__name__}: {exc})") from None
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})))

    def warm(self, fn):
        # A LocalCluster shares this machine's cache, which the parent has
        # just written: all workers read it at once.  On another cluster the
        # cache may need compiling: one worker first (it writes the cache,
        # if the workers share one), then the others.
        self.start()
        names = list(self.client.scheduler_info().get("workers", {}))
        if not names:
            return
        if self._cluster is not None:
            self.client.run(fn)
            return
        self.client.run(fn, workers=names[:1])
        if len(names) > 1:
            self.client.run(fn, workers=names[1:])

    #: most points per dask task (see :meth:`map_points`)
    max_chunk = 16

    def map_points(self, tasks, runner):
        """Sweep points a few per dask task: a task costs the scheduler milliseconds, a 1D point ~5 ms.

        Measured on the 1000-point 1D sweep of benchmarks/sweep_throughput.py
        (2 local workers): one point per task ran at 0.4x serial, the
        scheduler's work exceeding the points'.  Chunks are small (at most
        :attr:`max_chunk`, and at least four per worker) so work stays
        balanced and a finished chunk is written at once.
        """
        if runner.many is None:
            yield from self.map_unordered(runner.one, tasks)
            return
        self.start()
        tasks = list(tasks)
        per = max(1, min(self.max_chunk, len(tasks) // (4 * max(self.workers, 1))))
        chunks = [tasks[i:i + per] for i in range(0, len(tasks), per)]
        for outs in self.map_unordered(runner.many, chunks):
            yield from outs

    def map_unordered(self, fn, items):
        import distributed

        self.start()
        futures = [self.client.submit(fn, item, pure=False) for item in items]
        try:
            for fut in distributed.as_completed(futures):
                yield fut.result()
        finally:
            left = [f for f in futures if not f.done()]
            if left:
                self.client.cancel(left)

    def close(self, cancel=False):
        client, self.client = self.client, None
        if client is not None:
            client.close()
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.close()

    def describe(self):
        where = f"scheduler {self.address}" if self.address else "LocalCluster"
        return f"dask ({where}), {self.workers} worker{'s' if self.workers != 1 else ''}"


def make_executor(jobs: int | None = None, scheduler: str | None = None, dask_local: int | None = None,
                  batch: bool = False) -> Executor:
    """The executor for the command line's ``-j``, ``--scheduler``, ``--dask-local``, ``--batch``.

    ``jobs == 1`` runs in this process; otherwise a :class:`ProcessPool`.
    ``batch``: a :class:`BatchedExecutor` with ``jobs`` threads (default every core).
    """
    if scheduler is not None and dask_local is not None:
        raise UserError("--scheduler and --dask-local: give one of them")
    if batch:
        if scheduler is not None or dask_local is not None:
            raise UserError("--batch runs in this process: not with --scheduler or --dask-local")
        if jobs is not None and int(jobs) < 1:
            raise UserError(f"-j: got {jobs}; expected a number of threads >= 1")
        return BatchedExecutor(jobs)
    if scheduler is not None:
        return DaskExecutor(address=scheduler)
    if dask_local is not None:
        if int(dask_local) < 1:
            raise UserError(f"--dask-local: got {dask_local}; expected a number of workers >= 1")
        return DaskExecutor(local_workers=int(dask_local))
    jobs = default_jobs() if jobs is None else int(jobs)
    if jobs < 1:
        raise UserError(f"-j: got {jobs}; expected a number of processes >= 1")
    return SerialExecutor() if jobs == 1 else ProcessPool(jobs)
