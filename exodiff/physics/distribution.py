"""Size classes of a polydisperse preparation: quadrature of the number distribution.

A preparation of vesicles has a distribution of hydrodynamic diameters.  The
transport model is linear and the classes do not interact, so the result of
the whole preparation is the number-weighted sum of monodisperse results:

    R = integral R(d) p(d) dd  ~=  sum_i w_i R(d_i),

``p`` the *number* distribution (the dose is split by number: a particle
dose counts particles).  The classes ``(d_i, w_i)`` are a Gauss quadrature
of ``p`` in ``x = ln d``:

- log-normal (``diameter`` = median, ``gsd`` or ``pdi``): ``x`` is normal,
  and the classes are Gauss-Hermite nodes and weights (probabilists'
  weight ``exp(-x^2/2)``): ``ln d_i = ln d_50 + ln(gsd) xi_i``.
- measured (a histogram from nanoparticle tracking analysis): the Gauss
  quadrature of the discrete measure ``sum_j c_j delta(x - ln d_j)``
  (Gauss-Christoffel), from the Lanczos process on ``diag(x_j)`` started
  with ``sqrt(c_j)`` (Golub & Welsch 1969, Math Comp 23:221; Gautschi 2004,
  Orthogonal Polynomials, section 2.2); with fewer distinct diameters than
  classes, the histogram rows themselves are the classes (exact).

Why Gauss and not equal-probability classes: ``N`` Gauss classes integrate
every polynomial in ``ln d`` up to degree ``2N - 1`` exactly, and they
reach into the tails (7 Gauss-Hermite nodes span +-3.75 standard deviations,
with weights down to 5e-4), where the small vesicles that dominate passage
through the stratum corneum live.  Equal-probability classes put their
outermost class at the 1/(2N) quantile (+-1.47 sd for N = 7) and miss the
tail that carries the permeating fraction.  The price is that a transported
amount which depends on size through a sharp cut-off converges more slowly
with ``N``; ``formulation.size_classes`` sets ``N`` (check convergence by
doubling it).

A zero-width distribution (``gsd = 1``, ``pdi = 0``, or a histogram with a
single diameter) is one class of weight exactly 1 at that diameter: the
monodisperse run, bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["gsd_from_pdi", "lognormal_classes", "measured_classes", "number_median"]


def gsd_from_pdi(pdi: float) -> float:
    """Geometric standard deviation of a log-normal with polydispersity index ``pdi``.

    For a log-normal number distribution ``(sigma / mean)^2 = exp(s^2) - 1``
    with ``s = ln(gsd)``; reading the PDI as that squared coefficient of
    variation gives ``s = sqrt(ln(1 + pdi))``.  (A DLS PDI is intensity
    weighted, so this is an approximation for DLS data; NTA's number
    distribution, or ``gsd`` directly, is better.)

    Parameters
    ----------
    pdi : float
        Polydispersity index, - (>= 0).

    Returns
    -------
    float
        ``gsd >= 1``; exactly 1 for ``pdi = 0``.
    """
    if pdi <= 0.0:
        return 1.0
    return math.exp(math.sqrt(math.log1p(pdi)))


def lognormal_classes(median: float, gsd: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite size classes of a log-normal number distribution.

    Parameters
    ----------
    median : float
        Number-median diameter, m.
    gsd : float
        Geometric standard deviation, - (>= 1).
    n : int
        Number of classes (>= 1).

    Returns
    -------
    diameters : float64[m]
        Class diameters, m, increasing (``m = 1`` when ``gsd = 1`` or ``n = 1``,
        then exactly ``median``).
    weights : float64[m]
        Number fractions, summing to 1.
    """
    if gsd <= 1.0 or n <= 1:
        return np.array([float(median)]), np.array([1.0])
    x, w = np.polynomial.hermite_e.hermegauss(int(n))
    w = w / w.sum()
    d = np.exp(math.log(median) + math.log(gsd) * x)
    return d, w


def measured_classes(diameters, counts, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss size classes of a measured (histogram) number distribution.

    Parameters
    ----------
    diameters : array_like
        Diameters of the histogram rows, m (> 0).
    counts : array_like
        Number concentration (or count) of each row, any unit (>= 0, not all 0).
    n : int
        Number of classes.

    Returns
    -------
    diameters, weights : float64[m]
        As :func:`lognormal_classes`: ``m = min(n, distinct diameters)``.
        The first ``2m - 1`` moments of ``ln d`` are those of the histogram.
    """
    d = np.asarray(diameters, dtype=float)
    c = np.asarray(counts, dtype=float)
    keep = c > 0
    d, c = d[keep], c[keep]
    if d.size == 0:
        raise ValueError("the distribution has no positive count")
    # merge repeated diameters
    uniq, inv = np.unique(d, return_inverse=True)
    c = np.bincount(inv, weights=c)
    d = uniq
    w = c / c.sum()
    if d.size <= n:
        return d, w
    x = np.log(d)
    # centre and scale x for the recurrence; nodes are mapped back
    shift = float(np.dot(w, x))
    scale = float(np.max(np.abs(x - shift))) or 1.0
    y = (x - shift) / scale
    m = int(n)
    Q = np.zeros((m, y.size))
    alpha = np.zeros(m)
    beta = np.zeros(m)
    q = np.sqrt(w)
    Q[0] = q
    for k in range(m):
        v = y * Q[k]
        alpha[k] = float(np.dot(Q[k], v))
        v -= alpha[k] * Q[k]
        if k > 0:
            v -= beta[k - 1] * Q[k - 1]
        # full reorthogonalisation (twice is enough)
        for _ in range(2):
            v -= Q[: k + 1].T @ (Q[: k + 1] @ v)
        if k + 1 < m:
            b = float(np.linalg.norm(v))
            if b <= 1e-13:
                m = k + 1
                break
            beta[k] = b
            Q[k + 1] = v / b
    T = np.diag(alpha[:m]) + np.diag(beta[: m - 1], 1) + np.diag(beta[: m - 1], -1)
    theta, vec = np.linalg.eigh(T)
    weights = vec[0] ** 2
    weights = weights / weights.sum()
    return np.exp(shift + scale * theta), weights


def number_median(diameters, counts) -> float:
    """Number-median diameter of a histogram (interpolated in ln d between rows), m."""
    d = np.asarray(diameters, dtype=float)
    c = np.asarray(counts, dtype=float)
    order = np.argsort(d)
    d, c = d[order], c[order]
    cum = np.cumsum(c) / c.sum()
    k = int(np.searchsorted(cum, 0.5))
    if k == 0:
        return float(d[0])
    lo, hi = cum[k - 1], cum[k]
    f = (0.5 - lo) / (hi - lo) if hi > lo else 0.0
    return float(math.exp(math.log(d[k - 1]) + f * (math.log(d[k]) - math.log(d[k - 1]))))
