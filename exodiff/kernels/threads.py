"""Threads for the parallel kernels: which Numba threading layer, how many threads, one launch at a time.

The r-z kernels are memory-bound and meet about 15 barriers per time step
(a parallel loop each), so every thread must be on a core at every barrier:
one thread that the operating system has descheduled for another process
holds up all of them.  Measured on the 2-core machine (200 x 400 unit cell,
48 h, docs/performance.md): Numba's ``omp`` layer (libgomp) was 2.6-3x
slower than the serial kernel when the other core was busy, its threads
spinning at the barriers while the one they waited for could not run;
``workqueue`` (threads that sleep on a condition variable) stayed near the
serial time.  Hence:

- :func:`choose_layer`: ``workqueue`` for this process, unless the user
  chose a layer (``NUMBA_THREADING_LAYER``, ``numba.config``) or Numba's
  threads were already started (the layer cannot change afterwards);
- :func:`free_cores`: how many of this process's cores no other process is
  running on *now* (the run queue of ``/proc/loadavg``, read a few times),
  not the 1-minute load average, which lags by a minute and counts this
  process's own work;
- :data:`PARALLEL_LAUNCH`: the workqueue layer aborts the whole process when
  two threads launch parallel work at the same time (a batched sweep runs
  its kernel in a thread while the main thread solves other points), so
  every exodiff parallel launch holds this lock; a caller that finds it
  taken runs its serial kernel instead.
"""

from __future__ import annotations

import os
import threading

#: held while an exodiff kernel with parallel loops runs (see the module docstring)
PARALLEL_LAUNCH = threading.Lock()

#: the layer exodiff picks when nobody else has
PREFERRED_LAYER = "workqueue"

#: where Linux tells the run queue (its fourth field: runnable threads / all threads)
LOADAVG = "/proc/loadavg"

#: reads of the run queue per decision (the smallest count is used: a
#: process that is merely waking up is not a busy core)
RUN_QUEUE_READS = 3


def choose_layer() -> str:
    """Make Numba use :data:`PREFERRED_LAYER` in this process, if still open; return the layer in force.

    Returns the layer Numba uses (threads started) or will use (not yet
    started; ``"default"`` means Numba's own order: tbb, omp, workqueue).
    """
    import numba
    from numba.np.ufunc import parallel as npar

    if npar._is_initialized:
        return npar._threading_layer
    if os.environ.get("NUMBA_THREADING_LAYER") is None and str(numba.config.THREADING_LAYER).lower() == "default":
        numba.config.THREADING_LAYER = PREFERRED_LAYER
    return str(numba.config.THREADING_LAYER).lower()


def cores() -> int:
    """Cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def others_running() -> float | None:
    """Threads of other processes running or runnable now (None where the system does not say).

    ``/proc/loadavg``'s fourth field counts the runnable threads, this one
    included (the caller is running while it reads).  Without it, the
    1-minute load average stands in (it lags, and includes this process).
    """
    try:
        counts = []
        for _ in range(RUN_QUEUE_READS):
            with open(LOADAVG, "rb") as f:
                counts.append(int(f.read().split()[3].split(b"/")[0]))
        return float(max(0, min(counts) - 1))
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

    choose_layer()  # before get_num_threads, which starts Numba's threads
    n = numba.get_num_threads() if limit is None else min(int(limit), numba.get_num_threads())
    return max(1, min(n, free_cores()))
