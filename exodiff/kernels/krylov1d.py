"""A rational Krylov propagator for 1D columns whose coefficients do not change in time.

Between events, with a film that does not evaporate, the 1D column is the
linear system ``C du/dt = A u`` (:mod:`exodiff.kernels.column1d`: ``C`` the
node capacities, ``A`` the symmetric tridiagonal operator of the face
conductances and first-order losses).  Its solution ``u(t) = exp(t C^-1 A)
u_0`` is approximated in the *rational Krylov* space

    V_k = span{u_0, R u_0, ..., R^(k-1) u_0},  R = (C - A / xi)^-1 C,

one tridiagonal factorisation per time window and one solve per vector,
plus the vector ``1`` (every node), by a Galerkin projection in the ``C``
inner product: with ``B`` a ``C``-orthonormal basis of ``V_k + span{1}``
(the Krylov vectors, then ``1`` made orthogonal to them),
``u(t) ~ B^T exp(t H) B C u_0`` and ``H = B A B^T`` (``(k+1) x (k+1)``,
symmetric).  Every output time of the window comes from one small
eigen-decomposition of ``H``; the compartments (degraded, taken up, cleared,
the sink, the supply) are the exact time integrals of their rates in the
projected system (``phi(t lambda) = (exp(t lambda) - 1) / lambda``), and
because ``1`` lies in the space, the projected system conserves the dose:
``sum_i C_i u_i + compartments`` is constant.  Its eigen-decomposition
keeps that only to ``eps ||H||`` per unit time, so each output's state is
scaled to the balance (a round-off change, zero where a node holds
nothing).

Why this converges fast whatever the grid: exp on ``(-inf, 0]`` is
approximated by rational functions with the one repeated pole ``xi``
(van den Eshof & Hochbruck, SIAM J. Sci. Comput. 27 (2006) 1438-1457; Güttel,
GAMM-Mitt. 36 (2013) 8-31), and the Galerkin approximation is near-best in
that class; the stiff part of the spectrum only enters through ``R``, which
damps it.  Measured on the 1D benchmark problem (docs/performance.md): with
hourly outputs over 48 h the error falls ~10x per two vectors, 1e-6 of the
dose at 12 vectors on the auto grid and on the 4x grid alike.

Time windows: one space serves outputs spread over a limited ratio of
durations; a window starts at the last output of the one before (its
state), holds the outputs up to :data:`WINDOW_RATIO` times its first
duration, and uses ``xi = 1 / d_first``: the earliest output is the
hardest to approximate (measured, docs/numerics.md: a slow layer between
two fast ones needed 20 vectors for 5e-7 of the dose with this pole, 35-45
with ``1 / sqrt(d_first d_last)`` or ``1 / d_last``; the benchmark problem
the same with either).

Error control: the amounts of the film, each layer and each compartment at
every output of the window are compared between ``k`` and ``k - 2``
vectors; the window is accepted once that difference, and the one before
(``k - 2`` against ``k - 4``), are within ``target`` (at least
:data:`K_MIN` vectors).  The ``k``-vector result is then usually 10-1000x
better than the difference; two in a row guard against a stall, where one
difference alone under-stated the error 3x (docs/numerics.md).

All arrays float64 in SI; no Python runs per window.
"""

from __future__ import annotations

import math

import numpy as np

from exodiff.kernels._jit import jit
from exodiff.kernels.column1d import apply_operator, column_compartment_rates

#: a window holds the outputs up to this many times its first duration (s / s)
WINDOW_RATIO = 50.0
#: the fewest vectors accepted (each estimate compares k with k - 2; two in a row must pass)
K_MIN = 7
#: status codes of :func:`krylov_columns`
OK, NOT_CONVERGED, NONFINITE = 0, 1, 2
#: info slots: vectors used (most in any window), windows, tridiagonal solves
I_VECTORS, I_WINDOWS, I_SOLVES = 0, 1, 2


@jit
def _norm2(a, b):
    """``sqrt(a^2 + b^2)``: the plain formula, ``math.hypot`` only where the squares leave the float range (hypot
    guards every call against overflow and was ~40 % of the eigen-decomposition at ``m = 12``)."""
    r = math.sqrt(a * a + b * b)
    if r == 0.0 or r > 1e300 or r < 1e-290:
        return math.hypot(a, b)
    return r


@jit
def _symmetric_eigh(H, m, lam, Q, e):
    """Eigen-decomposition of the symmetric ``H[:m, :m]``: ``lam[:m]``, ``Q[:m, :m]`` (eigenvectors as columns).

    Householder reduction to tridiagonal form, then the QL algorithm with
    implicit shifts (``tred2`` and ``tqli``, Press et al., Numerical Recipes,
    3rd ed., 11.3-11.4): ~``9 m^3`` flops, against ~``70 m^3`` for cyclic
    Jacobi, which this replaced (50 us at ``m = 16``, called once per
    evaluated space).  The eigenvectors are orthonormal to round-off (the
    dose balance rests on ``Q Q^T = I``).  No LAPACK: a kernel calling it
    would make numba import ``scipy.linalg`` at start-up.  ``e`` is scratch
    (``>= m``).
    """
    n = m
    z = Q
    d = lam
    for i in range(n):
        for j in range(n):
            z[i, j] = H[i, j]
    for i in range(n - 1, 0, -1):
        l = i - 1
        h = 0.0
        if l > 0:
            scale = 0.0
            for k in range(i):
                scale += abs(z[i, k])
            if scale == 0.0:
                e[i] = z[i, l]
            else:
                for k in range(i):
                    z[i, k] /= scale
                    h += z[i, k] * z[i, k]
                f = z[i, l]
                g = -math.sqrt(h) if f >= 0.0 else math.sqrt(h)
                e[i] = scale * g
                h -= f * g
                z[i, l] = f - g
                f = 0.0
                for j in range(i):
                    z[j, i] = z[i, j] / h
                    g = 0.0
                    for k in range(j + 1):
                        g += z[j, k] * z[i, k]
                    for k in range(j + 1, i):
                        g += z[k, j] * z[i, k]
                    e[j] = g / h
                    f += e[j] * z[i, j]
                hh = f / (h + h)
                for j in range(i):
                    f = z[i, j]
                    g = e[j] - hh * f
                    e[j] = g
                    for k in range(j + 1):
                        z[j, k] -= f * e[k] + g * z[i, k]
        else:
            e[i] = z[i, l]
        d[i] = h
    d[0] = 0.0
    e[0] = 0.0
    for i in range(n):
        if d[i] != 0.0:
            for j in range(i):
                g = 0.0
                for k in range(i):
                    g += z[i, k] * z[k, j]
                for k in range(i):
                    z[k, j] -= g * z[k, i]
        d[i] = z[i, i]
        z[i, i] = 1.0
        for j in range(i):
            z[j, i] = 0.0
            z[i, j] = 0.0
    # QL with implicit shifts on the tridiagonal (d, e)
    for i in range(1, n):
        e[i - 1] = e[i]
    e[n - 1] = 0.0
    for l in range(n):
        it = 0
        while True:
            mm = l
            while mm < n - 1:
                dd = abs(d[mm]) + abs(d[mm + 1])
                if abs(e[mm]) <= 2.220446049250313e-16 * dd:
                    break
                mm += 1
            if mm == l:
                break
            it += 1
            if it > 60:
                break
            g = (d[l + 1] - d[l]) / (2.0 * e[l])
            r = _norm2(g, 1.0)
            g = d[mm] - d[l] + e[l] / (g + (r if g >= 0.0 else -r))
            s = 1.0
            c = 1.0
            p = 0.0
            early = False
            i = mm - 1
            while i >= l:
                f = s * e[i]
                b = c * e[i]
                r = _norm2(f, g)
                e[i + 1] = r
                if r == 0.0:
                    d[i + 1] -= p
                    e[mm] = 0.0
                    early = True
                    break
                s = f / r
                c = g / r
                g = d[i + 1] - p
                r = (d[i] - g) * s + 2.0 * c * b
                p = s * r
                d[i + 1] = g + p
                g = c * r - b
                for k in range(n):
                    f = z[k, i + 1]
                    z[k, i + 1] = s * z[k, i] + c * f
                    z[k, i] = c * z[k, i] - s * f
                i -= 1
            if early:
                continue
            d[l] -= p
            e[l] = g
            e[mm] = 0.0


@jit
def _factor(cap, g, loss, coef, lower, diag, upper, piv, pinned):
    """Factor ``C - coef A`` (tridiagonal, an M-matrix): reciprocal Thomas pivots in ``piv``, multipliers in
    ``upper`` (a solve then multiplies: a division on the sweep's dependency chain cost 3.5x, 2.35 against
    ~0.7 us on 218 nodes).  ``pinned``: node 0 is held at 0 (a constant donor's deviation), its row the
    identity; its face stays on node 1's diagonal."""
    n = cap.shape[0]
    for i in range(n):
        gl = g[i] if i > 0 else 0.0
        gr = g[i + 1]
        lower[i] = -coef * gl
        upper[i] = -coef * gr if i + 1 < n else 0.0
        diag[i] = cap[i] + coef * (gl + gr + loss[i])
        if diag[i] == 0.0:
            # a node closed to the active (zero capacity and conductances): decoupled, any pivot serves
            diag[i] = 1.0
    if pinned:
        diag[0] = 1.0
        upper[0] = 0.0
    piv[0] = 1.0 / diag[0]
    for i in range(1, n):
        upper[i - 1] = upper[i - 1] * piv[i - 1]
        piv[i] = 1.0 / (diag[i] - lower[i] * upper[i - 1])


@jit
def _solve(lower, upper, piv, rhs, x):
    n = rhs.shape[0]
    x[0] = rhs[0] * piv[0]
    for i in range(1, n):
        x[i] = (rhs[i] - lower[i] * x[i - 1]) * piv[i]
    for i in range(n - 2, -1, -1):
        x[i] -= upper[i] * x[i + 1]


@jit
def _orthonormalise(B, k, cap, v):
    """``v`` made ``C``-orthogonal to ``B[:k]`` (classical Gram-Schmidt, twice) and ``C``-normalised in place.

    Returns its ``C``-norm before normalising, relative to its norm on entry (0 for a zero vector).
    """
    n = v.shape[0]
    first = 0.0
    for i in range(n):
        first += cap[i] * v[i] * v[i]
    first = math.sqrt(first)
    if first == 0.0:
        return 0.0
    for _ in range(2):
        for j in range(k):
            d = 0.0
            for i in range(n):
                d += cap[i] * B[j, i] * v[i]
            for i in range(n):
                v[i] -= d * B[j, i]
    nv = 0.0
    for i in range(n):
        nv += cap[i] * v[i] * v[i]
    nv = math.sqrt(nv)
    if nv == 0.0:
        return 0.0
    for i in range(n):
        v[i] /= nv
    return nv / first


@jit
def _functionals(u, cap, g, closs, node_layer, n_layers, receptor, out, rates):
    """The functionals of one state ``u``: amounts (film, each layer) ``out[:1 + L]``, the last node's amount
    ``out[1 + L]`` (a receptor's, not counted in its layer; else the deepest cell's, in its layer too), the
    compartment rates ``out[2 + L:]``."""
    n = u.shape[0]
    for j in range(1 + n_layers):
        out[j] = 0.0
    out[0] = cap[0] * u[0]
    for i in range(1, n - 1 if receptor else n):
        out[1 + node_layer[i]] += cap[i] * u[i]
    out[1 + n_layers] = cap[n - 1] * u[n - 1]
    column_compartment_rates(u, g, g[1], closs, node_layer, n_layers, rates)
    for j in range(rates.shape[0]):
        out[2 + n_layers + j] = rates[j]


@jit
def _project(B, AB, j, H, G, cap, g, closs, node_layer, n_layers, receptor, fv, rates):
    """Basis vector ``j``'s row and column of ``H = B A B^T`` (against rows ``0 .. j``; ``AB[j]`` holds
    ``A B[j]``) and its column of functionals ``G`` (:func:`_functionals`); ``fv``, ``rates`` scratch."""
    n = B.shape[1]
    for a in range(j + 1):
        s = 0.0
        for i in range(n):
            s += B[a, i] * AB[j, i]
        H[a, j] = s
        H[j, a] = s
    _functionals(B[j], cap, g, closs, node_layer, n_layers, receptor, fv, rates)
    for f in range(G.shape[0]):
        G[f, j] = fv[f]


@jit
def _modal(m, Q, c, w):
    """The start state's coordinates on the eigenvectors: ``w = Q^T c`` (``w[:m]``)."""
    for j in range(m):
        s = 0.0
        for i in range(m):
            s += Q[i, j] * c[i]
        w[j] = s


@jit
def _to_nodes(m, Q, ew, B, y, out):
    """The state of modal amplitudes ``ew``: ``y = Q ew``, then ``out = B^T y`` (the basis rows added in turn:
    contiguous passes over the nodes; a sum over the basis per node was strided)."""
    for a in range(m):
        s = 0.0
        for j in range(m):
            s += Q[a, j] * ew[j]
        y[a] = s
    for i in range(out.shape[0]):
        out[i] = y[0] * B[0, i]
    for a in range(1, m):
        ya = y[a]
        for i in range(out.shape[0]):
            out[i] += ya * B[a, i]


@jit
def _window_values(m, lam, Q, G, c, na, dts, uniform, comp0, vals):
    """Amounts and compartments at the window's durations ``dts`` from the projected solution.

    ``G`` (nf, m): each functional of each basis vector; ``c``: the start
    state's coordinates; ``vals`` (len(dts), nf): the first ``na``
    functionals are amounts (``G Q exp(dt lam) Q^T c``), the rest rates
    integrated from ``comp0`` (``G Q phi(dt lam) / lam Q^T c``, ``phi(x) =
    exp(x) - 1``).  ``uniform``: ``dts[r] = (r + 1) dts[0]``, so each
    exponential is the one before times the first (the exponentials were
    most of an evaluation's time); ``phi`` is ``exp - 1`` where that loses
    no digits (``|x| >= 0.5``), ``expm1`` below.
    """
    nf = G.shape[0]
    GQ = np.zeros((nf, m))
    for f in range(nf):
        for j in range(m):
            s = 0.0
            for i in range(m):
                s += G[f, i] * Q[i, j]
            GQ[f, j] = s
    w = np.zeros(m)
    _modal(m, Q, c, w)
    e = np.zeros(m)
    p = np.zeros(m)
    ex = np.ones(m)
    step = np.zeros(m)
    wl = np.zeros(m)
    for j in range(m):
        wl[j] = w[j] / lam[j] if lam[j] != 0.0 else 0.0
    if uniform:
        for j in range(m):
            step[j] = math.exp(lam[j] * dts[0])
    for r in range(dts.shape[0]):
        dt = dts[r]
        for j in range(m):
            x = lam[j] * dt
            if uniform:
                ex[j] *= step[j]
            else:
                ex[j] = math.exp(x)
            e[j] = ex[j] * w[j]
            if abs(x) >= 0.5:
                p[j] = (ex[j] - 1.0) * wl[j]
            elif abs(x) > 1e-8:
                p[j] = math.expm1(x) / lam[j] * w[j]
            else:
                p[j] = dt * (1.0 + 0.5 * x) * w[j]
        for f in range(nf):
            s = 0.0
            if f < na:
                for j in range(m):
                    s += GQ[f, j] * e[j]
                vals[r, f] = s
            else:
                for j in range(m):
                    s += GQ[f, j] * p[j]
                vals[r, f] = comp0[f - na] + s


@jit
def _state_at(m, lam, Q, c, B, dt, ew, y, out):
    """The projected state ``B^T Q exp(dt lam) Q^T c`` (``out``, n); ``ew``, ``y`` scratch (>= m)."""
    _modal(m, Q, c, ew)
    for j in range(m):
        ew[j] *= math.exp(lam[j] * dt)
    _to_nodes(m, Q, ew, B, y, out)


@jit
def _window_end(times, r0):
    """The last output of the window that starts at output ``r0``: those up to :data:`WINDOW_RATIO` times its
    first duration."""
    d_first = times[r0 + 1] - times[r0]
    r1 = r0 + 1
    while r1 + 1 < times.shape[0] and times[r1 + 1] - times[r0] <= WINDOW_RATIO * d_first:
        r1 += 1
    return r1


@jit
def krylov_column(cap, g, closs, node_layer, n_layers, u0, comp_start, pinned, receptor, times, target, k_max, u_out,
                  comp_out, check_out, info):
    """Solve one column at the output ``times`` (s, increasing, from the state ``u0`` at ``times[0]``) with the
    rational Krylov propagator.

    Parameters
    ----------
    cap : float64[n]
        Node capacities (m): the film's thickness, then ``K dz`` per cell.
    g : float64[n+1]
        Face conductances (m/s), ``g[n]`` to the sink.
    closs : float64[P, n]
        ``k_p C_i`` per loss process (m/s).
    node_layer : int64[n]
        Layer of each tissue node.
    n_layers : int
    u0 : float64[n]
        State at ``t = 0`` (``c / K``).
    comp_start : float64[P L + 3]
        The compartments at ``t = 0`` (what earlier segments of the run
        booked: a wash-off's removed film).
    pinned : bool
        Node 0 is held at 0 and ``cap[0]`` is 0: the deviation of a column
        under a constant donor from its steady state (the driver adds the
        steady state back); the supply then enters the balance.
    receptor : bool
        The last node is a receptor's well-mixed fluid: its amount is
        controlled on its own, not as part of the deepest layer's (where a
        layer's and the receptor's errors cancelled, each 7x the target).
    times : float64[r]
        Output times (s); ``times[0]`` is the start (a run's 0, or an event's time).
    target : float
        Accepted estimated error of every amount and compartment (dose
        unit / m^2, absolute).
    k_max : int
        Most Krylov vectors per window.
    u_out : float64[r, n]
        Output: the state at each time.
    comp_out : float64[r, P L + 3]
        Output: the compartments at each time (``comp_start`` at ``t = 0``).
    check_out : float64[r, L + 5 + P L]
        Output: what ``k - 2`` vectors gave at each time (the error estimate's
        other run, for free): the film's amount, each layer's, the last
        node's amount (as :func:`_functionals`), the compartments.
    info : int64[3]
        Most vectors in a window, windows, solves (added to).

    Returns
    -------
    int
        :data:`OK`, :data:`NOT_CONVERGED` (``k_max`` vectors did not reach
        ``target``) or :data:`NONFINITE`.
    """
    n = cap.shape[0]
    r_all = times.shape[0]
    nc = comp_out.shape[1]
    na = 1 + n_layers  # film and layers; then the last node's amount; then the compartments
    nf = na + 1 + nc
    P = closs.shape[0]
    # the compartments that take from the column (every loss process per layer, the sink): the washed-off slot
    # is an event's and the supply slot moves amounts within the column
    n_loss = P * n_layers + 1
    loss = np.zeros(n)
    for p in range(P):
        for i in range(n):
            loss[i] += closs[p, i]
    mx = k_max + 1
    B = np.zeros((mx, n))  # the basis: the Krylov vectors (C-orthonormal), then 1 made C-orthogonal to them
    AB = np.zeros((mx, n))
    H = np.zeros((mx, mx))
    Q = np.zeros((mx, mx))
    work = np.zeros(mx)
    lam = np.zeros(mx)
    G = np.zeros((nf, mx))
    c = np.zeros(mx)
    rates = np.zeros(nc)
    fv = np.zeros(nf)
    lower = np.zeros(n)
    diag = np.zeros(n)
    upper = np.zeros(n)
    piv = np.zeros(n)
    rhs = np.zeros(n)
    state = np.zeros(n)
    comp0 = np.zeros(nc)
    end = np.zeros(n)  # the state at the window's last output, this basis and two vectors fewer
    prev_end = np.zeros(n)
    scratch_m = np.zeros(mx)
    scratch_y = np.zeros(mx)
    # 1 on the nodes the content can reach: the chain splits at faces of zero conductance (a washed film's,
    # a layer the active cannot enter), and a part that holds nothing stays empty; 1 on it too let the Galerkin
    # solution put round-off there (1e-10 of the dose in a washed film)
    ones = np.zeros(n)
    part = np.zeros(n, dtype=np.int64)
    for i in range(1, n):
        part[i] = part[i - 1] + (1 if g[i] == 0.0 else 0)
    reached = np.zeros(part[n - 1] + 1, dtype=np.bool_)
    for i in range(n):
        if u0[i] != 0.0 and cap[i] > 0.0:
            reached[part[i]] = True
    for i in range(n):
        ones[i] = 1.0 if cap[i] > 0.0 and reached[part[i]] else 0.0
    for i in range(n):
        state[i] = u0[i]
        u_out[0, i] = u0[i]
    for j in range(nc):
        comp_out[0, j] = comp_start[j]
    _functionals(u0, cap, g, closs, node_layer, n_layers, receptor, fv, rates)
    for f in range(nf):
        check_out[0, f] = fv[f] if f <= na else comp_start[f - na - 1]
    # each window adds its error to what the earlier ones passed on: the target per window is the run's over
    # the square root of their number (hourly outputs over a year: 175 windows; 24 h of 10 s outputs, 173,
    # came within 0.3 of the bound with the whole target per window)
    n_windows = 0
    r0 = 0
    while r0 < r_all - 1:
        r0 = _window_end(times, r0)
        n_windows += 1
    target_w = target / math.sqrt(max(n_windows, 1))
    r0 = 0  # the window starts at output r0 (its state is known)
    while r0 < r_all - 1:
        t0 = times[r0]
        d_first = times[r0 + 1] - t0
        r1 = _window_end(times, r0)
        nw = r1 - r0
        dts = np.empty(nw)
        for r in range(nw):
            dts[r] = times[r0 + 1 + r] - t0
        uniform = True
        for r in range(nw):
            if abs(dts[r] - (r + 1) * d_first) > 1e-12 * dts[r]:
                uniform = False
        xi = 1.0 / d_first
        _factor(cap, g, loss, 1.0 / xi, lower, diag, upper, piv, pinned)
        info[I_WINDOWS] += 1
        for j in range(nc):
            comp0[j] = comp_out[r0, j]
        vals = np.zeros((nw, nf))
        prev = np.zeros((nw, nf))
        norm0 = 0.0
        for i in range(n):
            norm0 += cap[i] * state[i] * state[i]
        norm0 = math.sqrt(norm0)
        if not math.isfinite(norm0):
            return NONFINITE
        if norm0 == 0.0:
            for r in range(nw):
                for i in range(n):
                    u_out[r0 + 1 + r, i] = 0.0
                for j in range(nc):
                    comp_out[r0 + 1 + r, j] = comp0[j]
                for f in range(nf):
                    check_out[r0 + 1 + r, f] = comp0[f - na - 1] if f > na else 0.0
            r0 = r1
            continue
        for i in range(n):
            B[0, i] = state[i] / norm0
        apply_operator(B[0], g, g[1], loss, AB[0])
        k = 1  # Krylov vectors so far (rows 0..k-1 of B); row k holds 1 made orthogonal to them
        last_worst = math.inf
        valid = 0  # the Krylov rows of H and columns of G computed so far
        m = 0
        exact = False
        done = False
        while not done:
            if k > 1:
                # the next Krylov vector: R applied to the newest one
                for i in range(n):
                    rhs[i] = cap[i] * B[k - 2, i]
                _solve(lower, upper, piv, rhs, B[k - 1])
                info[I_SOLVES] += 1
                if not (_orthonormalise(B, k - 1, cap, B[k - 1]) > 1e-13):
                    exact = True  # the space is invariant: the solution lies in it
                    k -= 1
                else:
                    apply_operator(B[k - 1], g, g[1], loss, AB[k - 1])
            # evaluated at odd k (each estimate compares k with k - 2), and where the space became exact
            if (k % 2 == 1 and k >= K_MIN - 4) or exact:
                for j in range(valid, k):
                    _project(B, AB, j, H, G, cap, g, closs, node_layer, n_layers, receptor, fv, rates)
                valid = k
                # 1 last, so that the projected system conserves the dose; where the active cannot go the
                # Krylov vectors are exactly zero and so is the coupling to 1 (1 first spread the round-off of
                # its cancellation over every node: -2e-13 of the dose in a compartment nothing reached).
                # Left out where 1 is (nearly) in their span already: the balance below then closes the rest
                m = k
                for i in range(n):
                    B[k, i] = ones[i]
                if _orthonormalise(B, k, cap, B[k]) > 1e-10:
                    apply_operator(B[k], g, g[1], loss, AB[k])
                    _project(B, AB, k, H, G, cap, g, closs, node_layer, n_layers, receptor, fv, rates)
                    m = k + 1
                    # row k is the next Krylov vector's: its H and G entries are computed again then
                _symmetric_eigh(H, m, lam, Q, work)
                for a in range(m):
                    c[a] = norm0 if a == 0 else 0.0  # the state is norm0 times the first vector
                _window_values(m, lam, Q, G[:, :m], c[:m], na + 1, dts, uniform, comp0, vals)
                for r in range(nw):
                    for f in range(nf):
                        if not math.isfinite(vals[r, f]):
                            return NONFINITE
                # the state handed to the next window, node by node: the totals can agree while the profile
                # does not (a front's shape), and the next window starts from that profile (a slow layer with
                # 2000 outputs a minute apart, 40 windows: 26x the bound with the totals checked alone)
                _state_at(m, lam, Q, c, B, dts[nw - 1], scratch_m, scratch_y, end)
                if k >= K_MIN - 2 or exact:
                    worst = 0.0  # the misplaced amount, summed over the nodes
                    for i in range(n):
                        worst += cap[i] * abs(end[i] - prev_end[i])
                    for r in range(nw):
                        for f in range(nf):
                            d = abs(vals[r, f] - prev[r, f])
                            if d > worst:
                                worst = d
                    # two differences in a row within the target: one alone was fooled where the error
                    # stalled (3, 5 and 7 vectors 1e-7, 1e-7, 3e-8 of the dose, the 5 - 3 difference 3e-8)
                    if (worst <= target_w and last_worst <= target_w and k >= K_MIN) or exact:
                        done = True
                    last_worst = worst
                    if exact:  # the result is the exact one (to round-off): so is its estimate
                        for r in range(nw):
                            for f in range(nf):
                                prev[r, f] = vals[r, f]
                if not done:
                    for r in range(nw):
                        for f in range(nf):
                            prev[r, f] = vals[r, f]
                    for i in range(n):
                        prev_end[i] = end[i]
            if not done:
                if k >= k_max:
                    return NOT_CONVERGED
                k += 1
        if k > info[I_VECTORS]:
            info[I_VECTORS] = k
        # the states at the window's outputs: B^T Q exp(dt lam) Q^T c
        w = np.zeros(m)
        _modal(m, Q, c, w)
        y = np.zeros(m)
        ew = np.zeros(m)
        ex = np.ones(m)
        step = np.zeros(m)
        for j in range(m):
            step[j] = math.exp(lam[j] * dts[0])
        # The projected system conserves the dose exactly (H's row of 1), but its eigen-decomposition does so
        # only to eps ||H|| per unit time: 1e-11 of the dose over 10^4 s where ||H|| ~ 10 1/s.  So the state's
        # amount is set from the balance itself, what the window started with minus what the compartments took
        # since (as a Runge-Kutta method conserves linear invariants by construction): a change of that
        # round-off, in proportion to what each node holds
        supply = na + 1 + P * n_layers + 2  # the supply slot among the functionals
        held = 0.0  # amounts and losses at the window's start (less what a pinned donor supplied)
        for i in range(n):
            held += cap[i] * state[i]
        for f in range(n_loss):
            held += comp0[f]
        if pinned:
            held -= comp0[P * n_layers + 2]
        mass = np.zeros(m)  # each basis vector's amount
        for a in range(m):
            s = 0.0
            for f in range(na):
                s += G[f, a]
            if receptor:
                s += G[na, a]
            mass[a] = s
        for r in range(nw):
            for j in range(m):
                if uniform:
                    ex[j] *= step[j]
                else:
                    ex[j] = math.exp(lam[j] * dts[r])
                ew[j] = ex[j] * w[j]
            row = r0 + 1 + r
            _to_nodes(m, Q, ew, B, y, u_out[row])
            gap = held
            amount = 0.0
            for a in range(m):
                amount += mass[a] * y[a]
            gap -= amount
            for f in range(n_loss):
                gap -= vals[r, na + 1 + f]
            if pinned:
                gap += vals[r, supply]
            if amount != 0.0 and abs(gap) <= 1e-8 * abs(held):
                # the state scaled by (1 + gap / amount): each node's share of the round-off, so a node that
                # holds nothing (a layer the active cannot reach) keeps nothing; a gap beyond round-off is left
                # for the driver's balance check to report, not spread (nor divided by a vanishing amount)
                scale = 1.0 + gap / amount
                for i in range(n):
                    u_out[row, i] *= scale
            for j in range(nc):
                comp_out[row, j] = vals[r, na + 1 + j]
            for f in range(nf):
                check_out[row, f] = prev[r, f]
        for i in range(n):
            state[i] = u_out[r1, i]
        r0 = r1
    return OK
