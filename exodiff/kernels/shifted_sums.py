"""Compiled sums of shifted copies (a washed regimen's superposition, :mod:`exodiff.solvers.superposition`).

The sums are plain row arithmetic over a regimen's few hundred output rows;
as numpy they were one call per interval (28 intervals, two calls each, on
records of ~1 MB and on small ledgers alike), ~0.1-0.2 ms of Python per sum
and a few per run.  Each loop here is one call.  Arrays are float64 in the
kernels' units; rows are output times.
"""

from __future__ import annotations

from exodiff.kernels._jit import jit

__all__ = ["add_shifted", "settled_tail", "warm"]


@jit
def add_shifted(z, shift, r0, r1):
    """``z[r] += z[r - shift]`` for ``r0 <= r < r1`` in row order, in place: a running sum over intervals.

    Parameters
    ----------
    z : float64[r, m]
        Records, one row per output (any trailing shape flattened to ``m``).
    shift : int
        The interval in rows (``r0 >= shift``).
    r0, r1 : int
        Rows to add to.
    """
    m = z.shape[1]
    for r in range(r0, r1):
        for c in range(m):
            z[r, c] += z[r - shift, c]


@jit
def settled_tail(u, zb, geo, lo, hi, shift):
    """A settled ``z0``'s tail rows summed over the copies, in place: ``u[r] = u[b] + geo[q] zb[b]``.

    Row ``r`` in ``[lo, hi)`` lies ``q = (r - lo) // shift`` intervals after
    base row ``b = lo - shift + (r - lo) % shift``; ``u[b]`` is the regimen
    there (its copies already summed) and ``zb[b]`` ``z0``'s own row before
    the sum (:func:`exodiff.solvers.superposition.superpose_settled`).

    Parameters
    ----------
    u : float64[r, S, n]
        Records, summed up to row ``lo``.
    zb : float64[shift, S, n]
        ``z0``'s base rows ``lo - shift .. lo - 1`` before the sum.
    geo : float64[Q, S]
        ``lam + ... + lam^(q+1)`` per column.
    lo, hi, shift : int
    """
    S = u.shape[1]
    n = u.shape[2]
    for r in range(lo, hi):
        q = (r - lo) // shift
        b = (r - lo) % shift
        for s in range(S):
            gq = geo[q, s]
            for c in range(n):
                u[r, s, c] = u[lo - shift + b, s, c] + gq * zb[b, s, c]


def warm() -> None:
    """Compile (or load from Numba's cache) both sums on tiny records (``exodiff warm``; 0.4 s cold)."""
    import numpy as np

    add_shifted(np.zeros((3, 2)), 1, 1, 3)
    settled_tail(np.zeros((3, 1, 2)), np.zeros((1, 1, 2)), np.ones((2, 1)), 1, 3, 1)
