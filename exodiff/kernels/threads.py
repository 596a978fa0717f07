"""Threads for the parallel kernels: which Numba threading layer, how many threads, one launch at a time.

The r-z kernels are memory-bound and meet about 15 barriers per time step
(a parallel loop each, some 8000 launches in a 48 h run), so two things
decide whether threads pay: how fast a launch hands work to the threads,
and whether every thread is on a core at every barrier.  Measured on the
2-core machine (200 x 400 unit cell, 48 h, docs/performance.md):

- with the other core free, Numba's ``omp`` layer (libgomp, threads spin
  briefly at a barrier) ran in 0.55-0.67x the serial time; ``workqueue``
  (threads sleep on a condition variable between launches) took 1.24-1.7x
  the serial time, its wake-ups costing more than the second core gives;
- beside busy processes ``omp`` took 2.5-7.3x the serial time (a thread
  descheduled for the other process holds up every barrier), ``workqueue``
  1.6x.

So threads pay only on a fast layer (``omp``, ``tbb``) and only on cores
that are free at that moment:

- :func:`layer`: the layer Numba uses (its own order, tbb, omp, workqueue,
  or the user's ``NUMBA_THREADING_LAYER``); exodiff does not change it;
  :data:`FAST_LAYERS` are the ones on which ``auto`` uses threads;
- :func:`free_cores`: how many of this process's cores no other process is
  running on *now* (the run queue of ``/proc/loadavg``, read a few times),
  not the 1-minute load average, which lags by a minute and counts this
  process's own work;
- :data:`PARALLEL_LAUNCH`: held by every exodiff parallel launch.  Two
  parallel kernels at once (a batched sweep runs its kernel in a thread
  while the main thread solves other points) would share the cores as a
  busy neighbour does, and on the workqueue layer they abort the process;
  a caller that finds the lock taken runs its serial kernel instead.
"""

from __future__ import annotations

import os
import threading

#: held while an exodiff kernel with parallel loops runs (see the module docstring)
PARALLEL_LAUNCH = threading.Lock()

#: layers whose launches are cheap enough for the r-z kernels' many barriers
FAST_LAYERS = ("omp", "tbb")

#: where Linux tells the run queue (its fourth field: runnable threads / all threads)
LOADAVG = "/proc/loadavg"

#: reads of the run queue per decision (the smallest count is used: a
#: process that is merely waking up is not a busy core)
RUN_QUEUE_READS = 3

#: this process's threads (one directory each, whose ``stat`` gives its state)
OWN_TASKS = "/proc/self/task"


def layer() -> str:
    """The threading layer Numba uses in this process (starts Numba's threads if they are not running)."""
    import numba

    numba.get_num_threads()  # starts the threads, which fixes the layer
    return numba.threading_layer()


def cores() -> int:
    """Cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def own_running() -> int:
    """Threads of this process running or runnable now (at least 1: the caller), from ``/proc/self/task``.

    Numba's OpenMP threads spin for a while after a parallel loop (the
    ``GOMP_SPINCOUNT`` the r-z driver sets): runnable, though they are this
    process's and wait for its next launch.
    """
    n = 0
    try:
        tasks = os.listdir(OWN_TASKS)
    except OSError:
        return 1
    for tid in tasks:
        try:
            with open(os.path.join(OWN_TASKS, tid, "stat"), "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]  # after the command name, which may hold spaces
        except (OSError, IndexError):
            continue
        n += state == b"R"
    return max(n, 1)


def others_running() -> float | None:
    """Threads of other processes running or runnable now (None where the system does not say).

    ``/proc/loadavg``'s fourth field counts the runnable threads of the
    machine, this process's among them: the caller (running while it
    reads) and any of its threads still spinning after a parallel loop, which
    a count of the caller alone took for another process's (a 200 x 400 unit
    cell's first call, a third of its steps, then ran serial).  Without it,
    the 1-minute load average stands in (it lags, and includes this process).
    """
    try:
        counts = []
        for _ in range(RUN_QUEUE_READS):
            with open(LOADAVG, "rb") as f:
                counts.append(int(f.read().split()[3].split(b"/")[0]))
        return float(max(0, min(counts) - own_running()))
    except (OSError, ValueError, IndexError):
        pass
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def free_cores() -> int:
    """Cores of this process that no other process is using now (at least 1)."""
    n = cores()
    busy = others_running()
    if busy is None:
        return n
    return max(1, n - int(busy + 0.5))


def parallel_threads(limit: int | None = None) -> int:
    """Threads a parallel kernel should use now: free cores, at most Numba's thread count (1: run serial)."""
    import numba

    n = numba.get_num_threads() if limit is None else min(int(limit), numba.get_num_threads())
    return max(1, min(n, free_cores()))
