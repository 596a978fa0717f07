"""One jit wrapper, one policy (after py-pde's ``backends/numba/utils.py``).

Every kernel is a module-level function compiled with ``cache=True`` so a
second process loads machine code from disk instead of compiling.  fastmath
is limited to the safe subset: ``nnan``/``ninf`` are never assumed, because
the solver must *detect* non-finite values and stop with a clear error.
"""

from __future__ import annotations

import sys

import numba

SAFE_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

#: the module whose import makes numba look for BLAS
_BLAS_PROBE = "scipy.linalg.cython_blas"


def _array_math_without_blas() -> None:
    """Load numba's array-math registry without letting it import ``scipy.linalg`` (0.2 s at start-up).

    ``numba.np.arraymath`` probes for BLAS once, when first imported (on the
    first compile or cache load), by importing ``scipy.linalg.cython_blas``,
    which brings in all of ``scipy.linalg``.  Only the one-dimensional
    ``np.dot`` depends on the answer (a plain loop instead of a BLAS call);
    exodiff's kernels call no BLAS at all.  So the probe is answered "absent"
    by a ``None`` entry in ``sys.modules`` for the length of that one import,
    then the entry is removed: ``scipy.linalg`` and numba's matrix functions
    (which import BLAS themselves when compiled) work as usual afterwards.
    Nothing is done when numba or the caller already loaded either module.
    """
    if "numba.np.arraymath" in sys.modules or _BLAS_PROBE in sys.modules:
        return
    sys.modules[_BLAS_PROBE] = None
    try:
        import numba.np.arraymath  # noqa: F401
    finally:
        if sys.modules.get(_BLAS_PROBE, 0) is None:
            del sys.modules[_BLAS_PROBE]


_array_math_without_blas()


def jit(func=None, **kwargs):
    """``numba.njit`` with exodiff's policy: cached, no object mode, safe fastmath."""
    options = {"cache": True, "nogil": True, "fastmath": SAFE_FASTMATH}
    options.update(kwargs)
    if func is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(func)
