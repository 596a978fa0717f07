"""One jit wrapper, one policy (after py-pde's ``backends/numba/utils.py``).

Every kernel is a module-level function compiled with ``cache=True`` so a
second process loads machine code from disk instead of compiling.  fastmath
is limited to the safe subset: ``nnan``/``ninf`` are never assumed, because
the solver must *detect* non-finite values and stop with a clear error.
"""

from __future__ import annotations

import numba

SAFE_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


def jit(func=None, **kwargs):
    """``numba.njit`` with exodiff's policy: cached, no object mode, safe fastmath."""
    options = {"cache": True, "nogil": True, "fastmath": SAFE_FASTMATH}
    options.update(kwargs)
    if func is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(func)
