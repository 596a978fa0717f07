"""Tridiagonal solve (Thomas algorithm), compiled.

The 1D column and every ADI line solve of the unit cell reduce to it.  The
systems exodiff builds are M-matrices (diagonally dominant, positive
diagonal, non-positive off-diagonals: capacity plus a multiple of a diffusion
operator), for which the Thomas algorithm without pivoting is stable.
"""

from __future__ import annotations

import numpy as np

from exodiff.kernels._jit import jit


@jit
def thomas(lower, diag, upper, rhs, x, scratch):
    """Solve a tridiagonal system in place.

    Parameters
    ----------
    lower : float64[n]
        Sub-diagonal; ``lower[0]`` is ignored.
    diag : float64[n]
        Diagonal.
    upper : float64[n]
        Super-diagonal; ``upper[n-1]`` is ignored.
    rhs : float64[n]
        Right-hand side (not modified).
    x : float64[n]
        Output: the solution.
    scratch : float64[n]
        Work array (modified).
    """
    n = diag.shape[0]
    beta = diag[0]
    x[0] = rhs[0] / beta
    for i in range(1, n):
        scratch[i] = upper[i - 1] / beta
        beta = diag[i] - lower[i] * scratch[i]
        x[i] = (rhs[i] - lower[i] * x[i - 1]) / beta
    for i in range(n - 2, -1, -1):
        x[i] -= scratch[i + 1] * x[i + 1]


def thomas_reference(lower, diag, upper, rhs):
    """Plain numpy/scipy reference of :func:`thomas` (banded LU), for tests."""
    from scipy.linalg import solve_banded

    n = diag.shape[0]
    ab = np.zeros((3, n))
    ab[0, 1:] = upper[:-1]
    ab[1] = diag
    ab[2, :-1] = lower[1:]
    return solve_banded((1, 1), ab, rhs)
