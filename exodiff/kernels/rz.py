"""The axisymmetric (r, z) unit cell: vehicle node + finite volumes, whole time loop compiled.

Unknowns are ``u = c / K`` in the cells ``(i, j)`` (``i`` depth row, ``j``
radial column) and the well-mixed vehicle node ``u_v``.  With capacities
``C = K V`` (``V = pi (r_{j+1}^2 - r_j^2) dz_i``; the vehicle's
``C_v = h_v(t) pi R^2``) and face conductances ``g`` (face area times the
series combination of the two half-cells' ``D K / half-width``), the
semi-discrete system in amounts is

    d(C u)/dt = A(t) u = A_z(t) u + A_r(t) u,

where ``A_r`` is radial diffusion (conservative, zero flux at ``r = 0`` and
``r = R``) and ``A_z`` everything else: vertical diffusion, the coupling of
every top cell to the vehicle node (conductance ``pi (r_{j+1}^2 - r_j^2)
2 D K / dz_0``), the bottom sink and the first-order losses ``k C u``.  ``C``
and ``A`` depend on time through the closing channel (``D``, ``K`` and the
loss rates of channel cells relax from the open to the tissue values as
``exp(-t / tau)``) and through the evaporating film.

Time stepping: TR-BDF2 exactly as in :mod:`exodiff.kernels.column1d` (same
constants, error weights, controller and landing, from
:mod:`exodiff.kernels.control`), but each implicit stage is solved by an
approximate factorisation in delta form (the Douglas scheme inside the
stage).  A stage ``M x = b`` with ``M = C - a A`` is solved from a
predictor ``q`` as ``x = q + delta``, ``P delta = b - M q``, with
``P = (C - a A_z) C^-1 (C - a A_r)``::

    (C - a A_z) D* = b - M q,        (C - a A_r) delta = C D*

which is the conservative statement ``C x = b + a A_z (q + D*) + a A_r (q +
delta)``.  Stage 1 (``a = gamma h / 2``): ``b = C_n u_n + a A_n u_n``,
coefficients at ``t + gamma h``; stage 2 (``d = a``: ``gamma/2 = (1 -
gamma)/(2 - gamma)``, so one factorisation serves both stages):
``b = BDF_A C_g u_g - BDF_B C_n u_n``, coefficients at ``t + h``.  The
compartments are booked with the arguments the statement uses (``r`` the
rates of :func:`compartment_rates`; radial diffusion books nothing)::

    comp_g = comp_n + a r_n(u_n) + a r_g(q_1 + D*_1)
    comp_1 = BDF_A comp_g - BDF_B comp_n + d r_1(q_2 + D*_2)

Since ``1^T A_r = 0``, ``1^T A_z x + 1^T r(x) = 0`` for any ``x`` and
``BDF_A - BDF_B = 1``, vehicle + tissue + compartments is conserved to
round-off whatever ``q`` and ``D*`` are: the splitting perturbs accuracy,
never the mass balance.

The splitting error of a stage is ``(P - M) delta = a^2 A_z C^-1 A_r (x -
q)``.  For modes stiff in both directions (fine cells in r *and* z: the
corners where the channel wall meets an interface) ``P^-1 M -> 0``: the
factorisation leaves them at the predictor, so what the predictor gets
wrong there stays (the scheme does not damp such modes; ``|R| -> 1``).
Hence, measured on channel problems (docs/numerics_rz.md):

- predictors: stage 2 from ``q_2 = u_g + (1 - gamma)/gamma (u_g - u_n)``
  (linear extrapolation within the step); stage 1 from ``q_1 = u_n + gamma
  min(h, h_prev) v``, ``v = (u_1 - BDF_A u_g + BDF_B u_n)/d`` of the last
  step (its ``du/dt`` at the step's end, capacity changes included), the
  extrapolation no longer than the last step (a longer one overshot modes
  that turned stiff as the step grew).  With ``q = u_n, u_g`` the step counts
  were 2-3x those of unsplit TR-BDF2 at equal accuracy; with the
  predictors about 1.1-1.5x;
- error estimate: ``h (ERR_1 F_n + ERR_2 F_g + ERR_3 F_1)`` with the stage
  derivatives the factorised stages actually used, ``F_g = (C_g u_g - C_n
  u_n)/a - F_n`` and ``F_1 = (C_1 u_1 - BDF_A C_g u_g + BDF_B C_n u_n)/d``
  (``A u`` at the stage values amplifies the splitting residue by ``a
  lambda``), filtered through ``P^-1 C`` (Hairer & Wanner's filter of the
  estimate with the iteration matrix, here its factored form);
- first same as last: the next step's ``F_n`` (and compartment rates
  ``r_n``) is this step's effective ``F_1``, not ``A u_1`` (equal for exact
  stages; with the factorised ones ``A u_1`` carries the splitting residue
  amplified by ``a lambda`` into the next stage-1 right-hand side).  It
  saves the operator pass per step and, measured, 6-17 % of the steps;
- norm: per depth row the area-weighted RMS over radius of the error
  relative to ``atol (cell area share) + rtol |C u|``, then the max over rows,
  the vehicle and the compartments; for a laterally uniform solution this is
  the 1D solver's max norm; ``atol`` follows what the unit cell holds
  (the 1D :func:`~exodiff.kernels.column1d.content_atol`);
- after two consecutive rejections the step is cut by at least 5x: an
  estimate that does not shrink with ``h`` is a residue carried in doubly
  stiff modes, which only a step short enough to resolve them removes;
- after a rejection, the next :data:`~exodiff.kernels.control.RZ_CAP_MEMORY`
  accepted steps cap their proposal where the error's growth between the
  accepted and the rejected step (when faster than ``h^3``) reaches 0.7
  (:func:`~exodiff.kernels.control.cap_after_rejection`): above some step
  the estimate grows like ``h^5``-``h^6`` and the plain controller
  alternated between accepted steps and 2-3x longer rejected ones.

The z-sweep is one tridiagonal line per column ``j``, all sharing the
vehicle node (an arrow matrix).  Eliminating each line from the bottom up
leaves ``x_0j = y_0j + gamma_0j x_v``; the vehicle row then gives ``x_v`` in
closed form and a top-down substitution finishes every line: one Thomas
pass per line, no second right-hand side.  The lines are processed in
chunks of columns (contiguous in memory), the chunks in parallel.  The
r-sweep is one tridiagonal line per row, rows in blocks (the recurrences
of a block interleaved), blocks in parallel.  Factors are computed once per
step coefficient and kept (``factor_*``/``solve_*``): without closure one
factorisation per step serves both stages and the error filter.

A tracked cargo is a second field stepped with the vesicles in the same
call (the ``*_c`` arguments): the vesicles lose ``k_rel C u`` to
``released`` and the free cargo gains ``(k_rel + f k_deg) C u``.  The
system is block lower triangular, so each stage is solved for the vesicles,
then for the cargo with that source taken at the vesicles' stage argument
``q + D*`` (where their compartments are booked: the cargo ledger closes to
round-off too); one step, one error norm over both fields
(docs/numerics_rz.md, "A tracked cargo").  Without a cargo the cargo arrays
are empty and every cargo pass is skipped.

Events at the stops (:func:`exodiff.solvers.unit_cell.stop_list_rz`), as in
the 1D kernels: a wash-off, a regimen's later applications (a fresh film
after washing the old one off, or joining it, by the 1D
:func:`~exodiff.kernels.column1d.new_film`; both fields get the new film)
and procedure sessions (:data:`EVENT_REOPEN`: the channels are made again,
their closure clock restarts, each cell keeps its amount).  The film and the
time the channels were made live in ``fstate``; after an event the state
has jumped, so the step restarts from ``A u`` at the first step size.

Every kernel with a parallel loop exists twice, compiled from the same
source: ``*_serial`` (``prange`` runs as ``range``; for small grids and for
sweep workers, which are single-threaded processes) and ``*_parallel``
(``parallel=True``).  :data:`integrate_rz_serial` and
:data:`integrate_rz_parallel` are the two compiled time loops.

All arrays are float64 in SI; 2D arrays are ``(nz, nr)`` C-ordered.  State
vectors passed in and out are flat: ``[u_v, u[0, 0], u[0, 1], ...]``.
"""

from __future__ import annotations

import math
import types

import numpy as np
from numba import prange

from exodiff.kernels._jit import jit
from exodiff.kernels.column1d import (
    EVENT_ADD,
    EVENT_APPLY,
    EVENT_WASH,
    F_APPLIED,
    F_FILM,
    F_VOLATILE,
    N_FSTATE,
    F_STEP,
    F_TIME,
    I_FAIL_NODE,
    I_STATUS,
    I_WASHED,
    NONFINITE,
    OK,
    S_REJECTED,
    S_SOLVES,
    S_STEPS,
    STEP_UNDERFLOW,
    TOO_MANY_STEPS,
    compartment_slots,
    content_atol,
    film_capacity,
    new_film,
)
from exodiff.kernels.control import (
    ALPHA_TR,
    BDF_A,
    BDF_B,
    ERR_1,
    ERR_2,
    ERR_3,
    GAMMA,
    RZ_CAP_MEMORY,
    SHRINK_MIN,
    cap_after_rejection,
    landing_step,
    next_step,
    step_after_accept,
    stop_run,
)

__all__ = [
    "compartment_slots",
    "closure_factor",
    "update_coefficients",
    "integrate_rz_serial",
    "integrate_rz_parallel",
    "EVENT_REOPEN",
    "N_FSTATE_RZ",
    "OK",
    "NONFINITE",
    "STEP_UNDERFLOW",
    "TOO_MANY_STEPS",
]

TWO_PI = 2.0 * math.pi
#: fstate slot after the 1D ones: the last accepted step (the stage-1 predictor
#: extrapolates no further), carried between calls like the state
F_H_PREV = 3
#: optional fstate slots (used when the driver's fstate is that long): the
#: remembered rejection of :func:`~exodiff.kernels.control.cap_after_rejection`
#: (step, scaled error, accepted steps since), carried between calls so a run
#: in chunks (progress bar) takes the same steps as one call
F_H_REJ = 4
F_ERR_REJ = 5
F_AGE_REJ = 6
#: optional fstate slots of a regimen (used when the driver's fstate is
#: :data:`N_FSTATE_RZ` long; otherwise one film applied at 0 and channels made
#: ``t_open`` before 0): the film on the skin (the time it was applied, its
#: thickness and volatile fraction then, as the 1D kernels'
#: :func:`~exodiff.kernels.column1d.new_film` keeps them) and the time the
#: channels were last made (their closure clock counts from there)
F_APPLIED_RZ = 7
F_FILM_RZ = 8
F_VOLATILE_RZ = 9
F_OPENED = 10
#: length of a regimen's r-z fstate
N_FSTATE_RZ = 11
#: stop event bit (beside the 1D kernels' wash / apply / add bits): a procedure
#: session re-opens the channels (docs/model.md, 1.2): the channel cells take
#: the open coefficients of a channel ``t_open`` old, keeping their amounts
EVENT_REOPEN = 16


def _variant(py_func, name, parallel, **bindings):
    """Compile ``py_func`` under its own name (its own cache entry), with globals rebound."""
    glb = py_func.__globals__
    if bindings:
        glb = dict(glb)
        glb.update(bindings)
    f = types.FunctionType(py_func.__code__, glb, name, py_func.__defaults__, py_func.__closure__)
    f.__qualname__ = name
    f.__module__ = py_func.__module__
    f.__doc__ = py_func.__doc__
    return jit(parallel=parallel)(f) if parallel else jit(f)


# -- coefficients ----------------------------------------------------------------------

@jit
def closure_factor(t, tau):
    """Open fraction ``exp(-t / tau)`` of a closing channel (1: open, 0: tissue).

    ``tau <= 0`` means closed from the start, ``tau = inf`` open throughout.
    """
    if tau <= 0.0:
        return 0.0
    if math.isinf(tau):
        return 1.0
    return math.exp(-t / tau)


def _update_coefficients(phi, i_end, j_end, chan_cols, d_open, k_open,
                        d_t, k_t, kdeg, kup, kcl, krel, vol, dz, dr, rf, az, sink,
                        dk, cap, cdeg, cup, ccl, crel, loss, gz, gr):
    """Cell and face coefficients in the box ``i < i_end, j < j_end`` at open fraction ``phi``.

    Channel cells (``j < chan_cols[i]``) take ``D = D_t + (D_open - D_t) phi``,
    ``K = K_t + (K_open - K_t) phi`` and loss rates ``k_t (1 - phi)``; other
    cells their tissue (or coagulation-zone) values.  Faces touching the box
    are recomputed: vertical faces ``0..i_end`` (0 couples the vehicle, ``nz``
    the bottom sink) and radial faces ``1..j_end``.

    Parameters
    ----------
    phi : float
        Open fraction of the channel, :func:`closure_factor`.
    i_end, j_end : int
        Box to update (``nz, nr`` for everything).
    chan_cols : int64[nz]
        Channel cells per row.
    d_open, k_open : float
        Diffusivity (m^2/s) and partition coefficient of the open channel.
    d_t, k_t, kdeg, kup, kcl : float64[nz, nr]
        Closed (tissue) values: D (m^2/s), K, loss rates (1/s).
    krel : float64[nz, nr] or float64[0, 0]
        Release rate of a tracked cargo (1/s, vesicles that carry one), a
        fourth loss process; empty: none (``crel`` is then not written).
    vol : float64[nz, nr]
        Cell volumes, m^3.
    dz, dr, rf, az : float64[nz], float64[nr], float64[nr+1], float64[nr]
        Row heights, column widths, radial faces, annulus areas (SI).
    sink : bool
        Bottom sink (``u = 0`` on the bottom face) rather than no flux.
    dk, cap, cdeg, cup, ccl, crel, loss : float64[nz, nr]
        Outputs: ``D K``, ``K V``, ``k C`` per process and their sum
        (``crel``: release, only with ``krel``).
    gz : float64[nz+1, nr]
        Output: vertical conductances (m^3/s); ``gz[i]`` couples rows ``i-1``, ``i``.
    gr : float64[nz, nr+1]
        Output: radial conductances; ``gr[:, j]`` couples columns ``j-1``, ``j``.
    """
    nz, nr = d_t.shape
    rel = krel.shape[0] > 0
    for i in prange(i_end):
        nch = chan_cols[i]
        for j in range(j_end):
            if j < nch:
                d = d_t[i, j] + (d_open - d_t[i, j]) * phi
                k = k_t[i, j] + (k_open - k_t[i, j]) * phi
                s = 1.0 - phi
            else:
                d = d_t[i, j]
                k = k_t[i, j]
                s = 1.0
            dk[i, j] = d * k
            c = k * vol[i, j]
            cap[i, j] = c
            a1 = s * kdeg[i, j] * c
            a2 = s * kup[i, j] * c
            a3 = s * kcl[i, j] * c
            cdeg[i, j] = a1
            cup[i, j] = a2
            ccl[i, j] = a3
            if rel:
                a4 = s * krel[i, j] * c
                crel[i, j] = a4
                loss[i, j] = a1 + a2 + a3 + a4
            else:
                loss[i, j] = a1 + a2 + a3
    # the faces of a row read the cells above and below it: one pass over rows for both directions, after
    # the cells (two parallel regions per call, not three)
    jf = min(j_end, nr - 1)
    for i in prange(i_end + 1):
        # vertical faces: g = A 2 DKa DKb / (dz_a DKb + dz_b DKa)
        for j in range(j_end):
            if i == 0:
                gz[0, j] = 2.0 * az[j] * dk[0, j] / dz[0]
            elif i == nz:
                gz[nz, j] = 2.0 * az[j] * dk[nz - 1, j] / dz[nz - 1] if sink else 0.0
            else:
                p = dk[i - 1, j]
                q = dk[i, j]
                den = dz[i - 1] * q + dz[i] * p
                gz[i, j] = 2.0 * az[j] * p * q / den if (p > 0.0 and q > 0.0) else 0.0
        if i < i_end:
            # radial faces: g = 2 pi r_f dz 2 DKa DKb / (dr_a DKb + dr_b DKa)
            gr[i, 0] = 0.0
            gr[i, nr] = 0.0
            for j in range(1, jf + 1):
                p = dk[i, j - 1]
                q = dk[i, j]
                den = dr[j - 1] * q + dr[j] * p
                gr[i, j] = 2.0 * TWO_PI * rf[j] * dz[i] * p * q / den if (p > 0.0 and q > 0.0) else 0.0


# -- operator, rates, line solves (each compiled serial and parallel) --------------------

@jit(inline="always")
def z_flux(u, uv, veh, gz, i, j):
    """Net flux into cell ``(i, j)`` across its top and bottom faces (the vehicle above row 0, the bottom
    boundary below the last row), per unit cell per s; ``veh`` multiplies the vehicle coupling."""
    nz = u.shape[0]
    c = u[i, j]
    if i == 0:
        f = veh * gz[0, j] * (uv - c)
    else:
        f = gz[i, j] * (u[i - 1, j] - c)
    if i + 1 < nz:
        f += gz[i + 1, j] * (u[i + 1, j] - c)
    else:
        f -= gz[nz, j] * c
    return f


@jit(inline="always")
def vehicle_rate(u, uv, veh, gz):
    """Rate of change of the vehicle's amount from its exchange with the top row, per unit cell per s."""
    fv = 0.0
    for j in range(u.shape[1]):
        fv += gz[0, j] * (u[0, j] - uv)
    return veh * fv


@jit(inline="always")
def book_rows(rowbuf, row_layer, n_layers, out):
    """Add each row's loss sums (degraded, taken up, cleared) to its layer's compartment slots."""
    for i in range(rowbuf.shape[0]):
        lay = row_layer[i]
        out[lay] += rowbuf[i, 0]
        out[n_layers + lay] += rowbuf[i, 1]
        out[2 * n_layers + lay] += rowbuf[i, 2]


def _apply_operator(u, uv, veh, gz, gr, loss, out):
    """``out = A u`` (amount rates, per unit cell per s); returns the vehicle's rate.

    ``veh`` multiplies the vehicle coupling (0 after wash-off).
    """
    nz, nr = u.shape
    for i in prange(nz):
        for j in range(nr):
            out[i, j] = z_flux(u, uv, veh, gz, i, j) - loss[i, j] * u[i, j]
        for j in range(1, nr):
            fl = gr[i, j] * (u[i, j - 1] - u[i, j])
            out[i, j - 1] -= fl
            out[i, j] += fl
    return vehicle_rate(u, uv, veh, gz)


@jit(inline="always")
def _rhs_cell(i, j, c, f, cap, loss, x1, c1, x2, c2, a, out):
    """``out[i, j]`` of :func:`_stage_rhs` from the cell's ``c = q[i, j]`` and its net flux ``f``."""
    out[i, j] = c1 * x1[i, j] + c2 * x2[i, j] - cap[i, j] * c + a * (f - loss[i, j] * c)


def _stage_rhs(q, qv, veh, gz, gr, loss, cap, x1, c1, x2, c2, a, out):
    """Right-hand side of a factorised stage from its predictor ``q``, in one pass.

    ``out = c1 x1 + c2 x2 - C q + a A q`` (stage 1: ``m_n + a F_n - C_g q + a A_g q``;
    stage 2: ``BDF_A m_g - BDF_B m_n - C_1 q + d A_1 q``).  Returns the
    vehicle's ``A q``.

    The vehicle above the first row and the bottom below the last are rows
    of their own here (``veh gz[0]`` against the vehicle's ``qv``; the
    bottom's conductance against 0), and the first and last columns are
    peeled, so every row's inner loop is the same arithmetic without a test:
    the serial loop with the boundary tests in it ran at half the speed of
    the rest (4x the parallel loop's time on 2 threads).  The sums are those
    of :func:`z_flux` in the same order (to round-off: the kernels' fastmath
    lets the compiler reassociate and fuse them; a 48 h 200 x 400 run moved by
    1e-12 to 1e-11 of its largest concentration, as much as the serial and
    parallel loops differ from each other).
    """
    nz, nr = q.shape
    g_veh = np.empty(nr)
    q_veh = np.empty(nr)
    q_none = np.zeros(nr)
    for j in range(nr):
        g_veh[j] = veh * gz[0, j]
        q_veh[j] = qv
    for i in prange(nz):
        gt = g_veh if i == 0 else gz[i]
        qt = q_veh if i == 0 else q[i - 1]
        gb = gz[i + 1]
        qb = q[i + 1] if i + 1 < nz else q_none
        c = q[i, 0]
        f = gt[0] * (qt[0] - c)
        f += gb[0] * (qb[0] - c)
        if nr > 1:
            f += gr[i, 1] * (q[i, 1] - c)
        _rhs_cell(i, 0, c, f, cap, loss, x1, c1, x2, c2, a, out)
        for j in range(1, nr - 1):
            c = q[i, j]
            f = gt[j] * (qt[j] - c)
            f += gb[j] * (qb[j] - c)
            f += gr[i, j] * (q[i, j - 1] - c)
            f += gr[i, j + 1] * (q[i, j + 1] - c)
            _rhs_cell(i, j, c, f, cap, loss, x1, c1, x2, c2, a, out)
        if nr > 1:
            j = nr - 1
            c = q[i, j]
            f = gt[j] * (qt[j] - c)
            f += gb[j] * (qb[j] - c)
            f += gr[i, j] * (q[i, j - 1] - c)
            _rhs_cell(i, j, c, f, cap, loss, x1, c1, x2, c2, a, out)
    return vehicle_rate(q, qv, veh, gz)


@jit
def finish_rates(q, ds, wv, veh, gz, row_layer, n_layers, rowbuf, out):
    """Compartment rates at ``(q + ds, wv)`` from the per-row loss sums in ``rowbuf``.

    ``rowbuf`` as left by :func:`_add_and_amounts_rates`; slots as
    :func:`_compartment_rates`.
    """
    nz, nr = q.shape
    nl = n_layers
    out[:] = 0.0
    book_rows(rowbuf, row_layer, nl, out)
    sb = 0.0
    sv = 0.0
    for j in range(nr):
        sb += gz[nz, j] * (q[nz - 1, j] + ds[nz - 1, j])
        sv += gz[0, j] * (wv - (q[0, j] + ds[0, j]))
    nc = out.shape[0]
    out[nc - 3] = sb
    out[nc - 1] = veh * sv


def _compartment_rates(u, uv, veh, gz, cdeg, cup, ccl, row_layer, n_layers, rowbuf, out):
    """Rates into the compartments (per unit cell per s) at state ``(u, u_v)``.

    Slots as :func:`exodiff.kernels.column1d.compartment_slots`: degraded,
    taken_up, cleared per layer (a cell books to the layer of its row, channel
    cells included), the bottom sink, removed (event only, rate 0), and the
    supply from the vehicle into the skin.  With a tracked cargo ``out`` has
    ``4 n_layers + 3`` slots: ``released[3L:4L]`` (booked by the caller,
    :func:`_release_rates`) before the last three, as in 1D.
    """
    nz, nr = u.shape
    for i in prange(nz):
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        for j in range(nr):
            c = u[i, j]
            s1 += cdeg[i, j] * c
            s2 += cup[i, j] * c
            s3 += ccl[i, j] * c
        rowbuf[i, 0] = s1
        rowbuf[i, 1] = s2
        rowbuf[i, 2] = s3
    nl = n_layers
    out[:] = 0.0
    book_rows(rowbuf, row_layer, nl, out)
    sb = 0.0
    sv = 0.0
    for j in range(nr):
        sb += gz[nz, j] * u[nz - 1, j]
        sv += gz[0, j] * (uv - u[0, j])
    nc = out.shape[0]
    out[nc - 3] = sb
    out[nc - 1] = veh * sv


def _factor_z(a, cap, gz, loss, veh, binv, ginv, gam, nchunks, part, j_lim):
    """Factor ``C - a A_z`` (vehicle row included) for :func:`_solve_z`.

    One tridiagonal line per column, coupled through the vehicle node.  Each
    line is eliminated from the bottom up to ``x_i = y_i + gam_i x_{i-1}``
    (``x_{-1}`` the vehicle), with ``y_i = rhs_i binv_i + ginv_i y_{i+1}``;
    the vehicle row then reads ``(C_v + S) x_v = rhs_v + sum_j g_j y_0j``,
    ``S = sum_j g_j (1 - gam_0j)`` (``g_j = a veh gz[0, j]``), stored per chunk
    of columns in ``part[:, 1]``.  Columns are processed in ``nchunks``
    contiguous chunks (in parallel in the ``prange`` variant).  Only columns
    ``j < j_lim`` are factored (``nr``: all); the others keep their factors,
    valid when only those columns' coefficients changed since the last call
    with the same ``a`` (a closing channel within a step).  The vehicle sums
    cover every column.
    """
    nz, nr = cap.shape
    width = (nr + nchunks - 1) // nchunks
    for c in prange(nchunks):
        j0 = c * width
        j1 = min(nr, j0 + width)
        jf = min(j1, j_lim)
        i = nz - 1
        sc = veh if i == 0 else 1.0
        for j in range(j0, jf):
            gup = a * sc * gz[i, j]
            bi = 1.0 / (cap[i, j] + gup + a * (gz[nz, j] + loss[i, j]))
            binv[i, j] = bi
            ginv[i, j] = 0.0
            gam[i, j] = gup * bi
        for i in range(nz - 2, -1, -1):
            sc = veh if i == 0 else 1.0
            for j in range(j0, jf):
                gup = a * sc * gz[i, j]
                gdn = a * gz[i + 1, j]
                bi = 1.0 / (cap[i, j] + gup + gdn * (1.0 - gam[i + 1, j]) + a * loss[i, j])
                binv[i, j] = bi
                ginv[i, j] = gdn * bi
                gam[i, j] = gup * bi
        s2 = 0.0
        for j in range(j0, j1):
            s2 += a * veh * gz[0, j] * (1.0 - gam[0, j])
        part[c, 1] = s2


def _solve_z(a, gz, veh, finite, cap_v, rhs, rhs_v, binv, ginv, gam, nchunks, part, x):
    """Solve ``(C - a A_z) x = rhs`` (vehicle row ``rhs_v``) with the factors of :func:`_factor_z`.

    Returns ``x_v``; a constant donor (``finite = False``) holds ``x_v = 0``.
    ``x`` may be the same array as ``rhs``.
    """
    nz, nr = binv.shape
    width = (nr + nchunks - 1) // nchunks
    for c in prange(nchunks):
        j0 = c * width
        j1 = min(nr, j0 + width)
        i = nz - 1
        for j in range(j0, j1):
            x[i, j] = rhs[i, j] * binv[i, j]
        for i in range(nz - 2, -1, -1):
            for j in range(j0, j1):
                x[i, j] = rhs[i, j] * binv[i, j] + ginv[i, j] * x[i + 1, j]
        s1 = 0.0
        for j in range(j0, j1):
            s1 += a * veh * gz[0, j] * x[0, j]
        part[c, 0] = s1
    xv = 0.0
    if finite:
        s1 = 0.0
        s2 = 0.0
        for c in range(nchunks):
            s1 += part[c, 0]
            s2 += part[c, 1]
        xv = (rhs_v + s1) / (cap_v + s2)
    for c in prange(nchunks):
        j0 = c * width
        j1 = min(nr, j0 + width)
        for j in range(j0, j1):
            x[0, j] = x[0, j] + gam[0, j] * xv
        for i in range(1, nz):
            for j in range(j0, j1):
                x[i, j] = x[i, j] + gam[i, j] * x[i - 1, j]
    return xv


#: rows solved together by the r-sweep: independent recurrences interleaved,
#: so the divisions of one line overlap those of the others
R_BLOCK = 16


def _factor_r(a, cap, gr, rbinv, rlo, rcp, i_lim):
    """Factor ``C - a A_r``: one tridiagonal line per row (Thomas, no pivoting).

    The right-hand side is always ``C dstar``, so ``rbinv`` stores
    ``C_j / beta_j``.  Forward: ``x'_j = dstar_j rbinv_j + rlo_j x'_{j-1}``;
    backward: ``x_j = x'_j + rcp_{j+1} x_{j+1}``.  ``gr[:, 0]`` and ``gr[:, nr]`` are zero
    (axis, mirror wall).  Rows go in blocks of :data:`R_BLOCK`.  Only rows
    ``i < i_lim`` are factored (``nz``: all; see :func:`_factor_z`).
    """
    nz, nr = cap.shape
    nblocks = (min(nz, i_lim) + R_BLOCK - 1) // R_BLOCK
    for b in prange(nblocks):
        i0 = b * R_BLOCK
        i1 = min(nz, i_lim, i0 + R_BLOCK)
        prev = np.empty(R_BLOCK)
        for i in range(i0, i1):
            bi = 1.0 / (cap[i, 0] + a * gr[i, 1])
            prev[i - i0] = bi
            rbinv[i, 0] = cap[i, 0] * bi
            rlo[i, 0] = 0.0
            rcp[i, 0] = 0.0
        for j in range(1, nr):
            for i in range(i0, i1):
                lo = a * gr[i, j]
                cpj = lo * prev[i - i0]
                bi = 1.0 / (cap[i, j] + lo + a * gr[i, j + 1] - lo * cpj)
                prev[i - i0] = bi
                rcp[i, j] = cpj
                rbinv[i, j] = cap[i, j] * bi
                rlo[i, j] = lo * bi


def _solve_r(dstar, rbinv, rlo, rcp, x):
    """Solve ``(C - a A_r) x = C dstar`` with the factors of :func:`_factor_r`."""
    nz, nr = dstar.shape
    nblocks = (nz + R_BLOCK - 1) // R_BLOCK
    for b in prange(nblocks):
        i0 = b * R_BLOCK
        i1 = min(nz, i0 + R_BLOCK)
        for i in range(i0, i1):
            x[i, 0] = dstar[i, 0] * rbinv[i, 0]
        for j in range(1, nr):
            for i in range(i0, i1):
                x[i, j] = dstar[i, j] * rbinv[i, j] + rlo[i, j] * x[i, j - 1]
        for j in range(nr - 2, -1, -1):
            for i in range(i0, i1):
                x[i, j] += rcp[i, j + 1] * x[i, j + 1]


def _predict_stage1(u, v, c, q):
    """Stage-1 predictor ``q = u_n + c v`` (``c = gamma h``, ``v`` the last effective ``du/dt``)."""
    nz, nr = u.shape
    for i in prange(nz):
        for j in range(nr):
            q[i, j] = u[i, j] + c * v[i, j]


def _bdf_derivative(u1, ug, u, d, out):
    """``out = (u_1 - BDF_A u_g + BDF_B u_n) / d``: ``du/dt`` at the end of the step."""
    nz, nr = u.shape
    for i in prange(nz):
        for j in range(nr):
            out[i, j] = (u1[i, j] - BDF_A * ug[i, j] + BDF_B * u[i, j]) / d


def _predict_stage2(u, ug, c, q):
    """Stage-2 predictor ``q = u_g + c (u_g - u_n)`` (linear extrapolation to ``t + h``)."""
    nz, nr = u.shape
    for i in prange(nz):
        for j in range(nr):
            q[i, j] = ug[i, j] + c * (ug[i, j] - u[i, j])


def _add_and_amounts_rates(q, ds, delta, cap, cdeg, cup, ccl, out_u, out_m, rowbuf):
    """``out_u = q + delta``, ``out_m = C out_u``, and the per-row loss sums at ``q + ds``.

    The stage's conservative statement books the compartments at the z-part's
    argument ``q + D*`` (finish with :func:`finish_rates`); one pass instead of
    three (the sums used to be taken of ``q`` in the right-hand side and of
    ``D*`` after the solve).
    """
    nz, nr = q.shape
    for i in prange(nz):
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        for j in range(nr):
            c = q[i, j]
            v = c + delta[i, j]
            out_u[i, j] = v
            out_m[i, j] = cap[i, j] * v
            w = c + ds[i, j]
            s1 += cdeg[i, j] * w
            s2 += cup[i, j] * w
            s3 += ccl[i, j] * w
        rowbuf[i, 0] = s1
        rowbuf[i, 1] = s2
        rowbuf[i, 2] = s3


def _error_vector(h, a, d, fn, mn, mg, m1, cap, out, f1out):
    """Local error estimate in amounts from the effective stage derivatives.

    ``F_g = (m_g - m_n)/a - F_n`` and ``F_1 = (m_1 - BDF_A m_g + BDF_B m_n)/d``
    are the derivatives the factorised stages actually used (the conservative
    statements), so ``out = h (ERR_1 F_n + ERR_2 F_g + ERR_3 F_1)``.  Also
    ``f1out = F_1``: the next step's ``F_n`` if the step is accepted (first
    same as last, as for exact stages, where ``F_1 = A u_1``).
    """
    nz, nr = fn.shape
    for i in prange(nz):
        for j in range(nr):
            fg = (mg[i, j] - mn[i, j]) / a - fn[i, j]
            f1 = (m1[i, j] - BDF_A * mg[i, j] + BDF_B * mn[i, j]) / d
            out[i, j] = h * (ERR_1 * fn[i, j] + ERR_2 * fg + ERR_3 * f1)
            f1out[i, j] = f1


def _error_norm(e, cap, u1, atol, wabs, rtol, rowbuf):
    """Scaled error: per row the area-weighted RMS over radius, then the max over rows.

    ``e`` is the (filtered) error in ``u`` units; cell ``(i, j)`` is scaled by
    ``atol wabs_j + rtol |C u1|`` in amounts, i.e. the error relative to the
    local concentration with a per-area absolute floor.  For a laterally
    uniform solution this is exactly the 1D solver's max norm over depth.
    Returns ``(err, bad)``, ``bad`` the flat index of the first non-finite
    value of ``u1`` (or -1).
    """
    nz, nr = u1.shape
    for i in prange(nz):
        acc = 0.0
        bad = -1.0
        for j in range(nr):
            v = u1[i, j]
            if not math.isfinite(v):
                bad = float(j)
                break
            c = cap[i, j]
            q = abs(c * e[i, j]) / (atol * wabs[j] + rtol * abs(c * v))
            acc += wabs[j] * q * q
        rowbuf[i, 0] = math.sqrt(acc)
        rowbuf[i, 1] = bad
    err = 0.0
    for i in range(nz):
        if rowbuf[i, 1] >= 0.0:
            return math.inf, i * nr + int(rowbuf[i, 1])
        if not math.isfinite(rowbuf[i, 0]):
            return math.inf, i * nr
        if rowbuf[i, 0] > err:
            err = rowbuf[i, 0]
    return err, -1


def _release_rates(q, ds, crel, cdeg, f_deg, enc, src, rowbuf):
    """The cargo the vesicles set free at ``q + ds``: ``src`` per cell, and per row what ``released`` books.

    ``src = enc (k_rel + f_deg k_deg) C (q + ds)`` (amount per s per cell:
    release, and the cargo of degraded vesicles, each vesicle carrying
    ``enc`` loaded vesicle equivalents); ``rowbuf[i, 0]`` the row's sum of
    ``k_rel C (q + ds)`` (vesicles).  Taken at the argument the vesicle stage books its
    compartments at (``q + D*``, the z-part's), so the cargo gains exactly
    what the vesicle ledger's ``released`` and ``degraded`` slots record.
    """
    nz, nr = q.shape
    for i in prange(nz):
        s1 = 0.0
        for j in range(nr):
            w = q[i, j] + ds[i, j]
            r = crel[i, j] * w
            src[i, j] = (r + f_deg * cdeg[i, j] * w) * enc
            s1 += r
        rowbuf[i, 0] = s1


def _add_source(out, c, src):
    """``out += c src``: the released cargo in a cargo stage's right-hand side or derivative."""
    nz, nr = out.shape
    for i in prange(nz):
        for j in range(nr):
            out[i, j] += c * src[i, j]


# every kernel with a parallel loop, compiled twice under its own name (own cache entry)
update_coefficients_serial = _variant(_update_coefficients, "update_coefficients_serial", False)
update_coefficients_parallel = _variant(_update_coefficients, "update_coefficients_parallel", True)
#: the coefficients outside the time loop (:meth:`~exodiff.problem.unit_cell.ProblemRZ.coefficients_at`)
update_coefficients = update_coefficients_serial
bdf_derivative_serial = _variant(_bdf_derivative, "bdf_derivative_serial", False)
bdf_derivative_parallel = _variant(_bdf_derivative, "bdf_derivative_parallel", True)
stage_rhs_serial = _variant(_stage_rhs, "stage_rhs_serial", False)
stage_rhs_parallel = _variant(_stage_rhs, "stage_rhs_parallel", True)
apply_operator_serial = _variant(_apply_operator, "apply_operator_serial", False)
apply_operator_parallel = _variant(_apply_operator, "apply_operator_parallel", True)
compartment_rates_serial = _variant(_compartment_rates, "compartment_rates_serial", False)
compartment_rates_parallel = _variant(_compartment_rates, "compartment_rates_parallel", True)
factor_z_serial = _variant(_factor_z, "factor_z_serial", False)
factor_z_parallel = _variant(_factor_z, "factor_z_parallel", True)
solve_z_serial = _variant(_solve_z, "solve_z_serial", False)
solve_z_parallel = _variant(_solve_z, "solve_z_parallel", True)
factor_r_serial = _variant(_factor_r, "factor_r_serial", False)
factor_r_parallel = _variant(_factor_r, "factor_r_parallel", True)
solve_r_serial = _variant(_solve_r, "solve_r_serial", False)
solve_r_parallel = _variant(_solve_r, "solve_r_parallel", True)
predict_stage1_serial = _variant(_predict_stage1, "predict_stage1_serial", False)
predict_stage1_parallel = _variant(_predict_stage1, "predict_stage1_parallel", True)
predict_stage2_serial = _variant(_predict_stage2, "predict_stage2_serial", False)
predict_stage2_parallel = _variant(_predict_stage2, "predict_stage2_parallel", True)
add_and_amounts_rates_serial = _variant(_add_and_amounts_rates, "add_and_amounts_rates_serial", False)
add_and_amounts_rates_parallel = _variant(_add_and_amounts_rates, "add_and_amounts_rates_parallel", True)
error_vector_serial = _variant(_error_vector, "error_vector_serial", False)
error_vector_parallel = _variant(_error_vector, "error_vector_parallel", True)
error_norm_serial = _variant(_error_norm, "error_norm_serial", False)
error_norm_parallel = _variant(_error_norm, "error_norm_parallel", True)
release_rates_serial = _variant(_release_rates, "release_rates_serial", False)
release_rates_parallel = _variant(_release_rates, "release_rates_parallel", True)
add_source_serial = _variant(_add_source, "add_source_serial", False)
add_source_parallel = _variant(_add_source, "add_source_parallel", True)


# -- the time loop -------------------------------------------------------------------------

#: the unit cell's absolute tolerance follows what it holds down to this share of the dose scale, not the 1D
#: column's 1e-30: its stages (ADI sweeps over the whole cell) leave round-off of ~1e-16 of the largest amounts
#: they met, so a cell that has cleared (a fast size class after its wash-off) holds only that noise, and a
#: tolerance following it rejected every step until the step collapsed (a 0.1 nm class of a pdi 4 preparation
#: at follicles, 2 h after the wash)
RZ_CONTENT_FLOOR = 1e-13


@jit(inline="always")
def unit_cell_content(mn, mv, mn_c, mv_c):
    """Amount in the unit cell now (dose unit): the film's ``|mv|`` and every cell's ``|mn|``, the free cargo's
    too (``mn_c`` empty without one): what :func:`~exodiff.kernels.column1d.content_atol` scales the
    absolute tolerance by, as the 1D kernels' column content."""
    s = abs(mv) + abs(mv_c)
    nz, nr = mn.shape
    for i in range(nz):
        for j in range(nr):
            s += abs(mn[i, j])
    nz, nr = mn_c.shape
    for i in range(nz):
        for j in range(nr):
            s += abs(mn_c[i, j])
    return s


def _integrate_rz(
    chan_cols, d_open, k_open, tau, t_open, d_t, k_t, kdeg, kup, kcl, vol,
    dz, dr, rf, az, sink, row_layer, n_layers,
    infinite, c_donor, h0, evap_frac, evap_tau, cell_area, wabs,
    stops, out_index, stop_event,
    u_flat, v_flat, comp, fstate, istate,
    rtol, m_ref, h_start, max_steps, h_fixed, filter_mode, predict1, nchunks,
    u_out, comp_out, stats,
    krel, f_deg, enc, c_free, d_open_c, k_open_c, d_t_c, k_t_c, kdeg_c, kup_c, kcl_c,
    u_flat_c, v_flat_c, comp_c, u_out_c, comp_out_c,
):
    """Integrate the unit cell over a list of stops (output times and events).

    Parameters
    ----------
    chan_cols : int64[nz]
        Channel cells per row (``j < chan_cols[i]``).
    d_open, k_open, tau : float
        Open-channel diffusivity (m^2/s), partition coefficient, closure time
        (s; ``inf`` never closes, ``<= 0`` closed from the start).
    t_open : float
        Age of the channel when the formulation is applied (s): the open
        fraction is ``exp(-(t + t_open) / tau)``, and after a procedure
        session at ``t_p`` (:data:`EVENT_REOPEN`) ``exp(-(t - t_p + t_open) / tau)``.
    d_t, k_t, kdeg, kup, kcl : float64[nz, nr]
        Tissue (closed) coefficients per cell: D, K, loss rates (1/s).
    vol : float64[nz, nr]
        Cell volumes, m^3.
    dz, dr, rf, az : float64
        Row heights, column widths, radial faces, annulus areas.
    sink : bool
        Bottom sink rather than no flux.
    row_layer : int64[nz]
        Layer of each row (compartments are booked per layer).
    n_layers : int
    infinite : bool
        Constant donor ``u_v = c_donor`` instead of a finite film.
    c_donor : float
        Donor concentration (dose unit/m^3).
    h0, evap_frac, evap_tau : float
        Film thickness (m), volatile fraction, evaporation time (s).
    cell_area : float
        ``pi R^2`` (m^2): the vehicle's capacity is ``h_v(t) pi R^2``.
    wabs : float64[nr]
        Share of the unit cell's area of each column: weights of the RMS over
        radius and of the absolute tolerance (per area, as in 1D).
    stops, out_index, stop_event :
        As :func:`exodiff.kernels.column1d.integrate_column` (bits: 1 wash-off,
        4 a new application washing off what is left of the film, 8 one
        joining it), plus :data:`EVENT_REOPEN` (16): a procedure session
        re-opens the channels.  At a stop: wash, apply (both fields get the
        fresh film: ``c_donor`` and ``c_free``), re-open, record.  A regimen
        needs the long ``fstate`` (the film changes).
    u_flat : float64[1 + nz nr]
        State ``[u_v, u cells row by row]``, modified in place.
    v_flat : float64[1 + nz nr] or float64[2 (1 + nz nr) + 3 n_layers + 3]
        Effective ``du/dt`` at the end of the last step (same layout; zeros at
        the start): the stage-1 predictor.  If long enough, followed by the
        last step's effective ``F_1`` (vehicle and cells, amounts per s) and
        compartment rates, the next step's ``F_n``, ``r_n`` (first same as
        last); otherwise each call starts from ``A u``.  Carried state,
        modified in place.
    comp : float64[3 n_layers + 3]
        Compartments per unit cell (dose unit), modified in place
        (``4 n_layers + 3`` with a cargo: ``released`` per layer before the
        last three slots, whose positions follow from the length).
    fstate, istate : float64[4], float64[7] or float64[N_FSTATE_RZ], int64[3]
        As the 1D kernel, plus ``fstate[F_H_PREV]``, the last accepted step,
        and, if present, ``fstate[F_H_REJ:F_AGE_REJ + 1]`` (zeros at the
        start), the remembered rejection of the step cap, and
        ``fstate[F_APPLIED_RZ:F_OPENED + 1]``, the film (applied at, thickness
        then, volatile fraction then; at the start ``0, h0, evap_frac``) and
        the time the channels were made (``-t_open`` at the start); the
        failure node is the flat state index.
    rtol, m_ref, h_start, max_steps :
        As the 1D kernel; ``m_ref`` is the unit cell's amount scale.
    h_fixed : float
        If > 0, take steps of this size and accept every one (convergence
        studies); 0 for adaptive steps.
    filter_mode : int
        Filter of the error estimate: 0 none, 1 ``(C - dA_z)^-1 C``, 2 the
        factored ``(C - dA_r)^-1 C (C - dA_z)^-1 C`` (default).
    predict1 : bool
        Start stage 1 from ``u_n + gamma h v`` (default) rather than ``u_n``.
    nchunks : int
        Column chunks of the z-sweep (the parallel grain; 1 when serial).
    u_out, comp_out : float64[k, 1 + nz nr], float64[k, 3 n_layers + 3]
        Recorded states.
    stats : int64[3]
        Steps, rejected steps, stage solves (accumulated).
    krel : float64[nz, nr] or float64[0, 0]
        A tracked cargo (empty: none): the vesicles' release rate (1/s), a
        fourth loss process booked to ``released`` (``comp`` then has ``4
        n_layers + 3`` slots, as in 1D).
    f_deg : float
        Fraction of a degraded vesicle's cargo set free.
    enc : float
        Cargo one vesicle carries, in loaded vesicle equivalents (the
        encapsulation efficiency; the rest starts free in the film, the
        cargo's ``u_flat_c[0]``).
    c_free : float
        Free cargo concentration of a fresh film (dose unit/m^3; ``c_donor``
        times the free part): what a regimen's later application puts in the
        cargo's film.
    d_open_c, k_open_c, d_t_c, k_t_c, kdeg_c, kup_c, kcl_c :
        The free cargo's open-channel and tissue coefficients, as the
        vesicles' (any shape when there is no cargo).
    u_flat_c, v_flat_c, comp_c, u_out_c, comp_out_c :
        The free cargo's state, carried derivative, compartments (``4
        n_layers + 3``) and records, as the vesicles'; ``u_flat_c`` empty:
        no cargo.  The cargo field takes the vesicles' steps: each stage is
        solved for the vesicles first, then for the cargo with the source
        :func:`_release_rates` of the vesicles' stage (the system is block
        lower triangular, as the 1D :func:`~exodiff.kernels.column1d.integrate_columns`);
        one error norm, the max over both fields.

    Returns
    -------
    int
        Status: 0 ok, 1 non-finite value, 2 step size underflow, 3 too many steps.
    """
    nz, nr = d_t.shape
    cargo = u_flat_c.shape[0] > 0
    nzc = nz if cargo else 0
    nrc = nr if cargo else 0
    finite = not infinite
    nl = n_layers
    nc = comp.shape[0]
    removed = nc - 2
    extrap = (1.0 - GAMMA) / GAMMA
    # coefficients (current time level)
    dk = np.empty((nz, nr))
    cap = np.empty((nz, nr))
    cdeg = np.empty((nz, nr))
    cup = np.empty((nz, nr))
    ccl = np.empty((nz, nr))
    loss = np.empty((nz, nr))
    gz = np.zeros((nz + 1, nr))
    gr = np.zeros((nz, nr + 1))
    # factors of C - a A_z and C - a A_r
    zbinv = np.empty((nz, nr))
    zginv = np.empty((nz, nr))
    zgam = np.empty((nz, nr))
    rbinv = np.empty((nz, nr))
    rlo = np.empty((nz, nr))
    rcp = np.empty((nz, nr))
    part = np.zeros((nchunks, 2))
    # states and work
    u = np.empty((nz, nr))
    ug = np.empty((nz, nr))
    u1 = np.empty((nz, nr))
    q = np.empty((nz, nr))
    mn = np.empty((nz, nr))
    mg = np.empty((nz, nr))
    m1 = np.empty((nz, nr))
    fn = np.empty((nz, nr))
    f1 = np.empty((nz, nr))
    rhs = np.empty((nz, nr))
    dstar = np.empty((nz, nr))
    delta = np.empty((nz, nr))
    vv = np.empty((nz, nr))
    rowbuf = np.empty((nz, 3))
    crel = np.empty((nzc, nrc))
    # the free cargo: coefficients, factors, states and work (empty without one)
    none = np.empty((0, 0))
    ncc = comp_c.shape[0]
    dk_c = np.empty((nzc, nrc))
    cap_c = np.empty((nzc, nrc))
    cdeg_c = np.empty((nzc, nrc))
    cup_c = np.empty((nzc, nrc))
    ccl_c = np.empty((nzc, nrc))
    loss_c = np.empty((nzc, nrc))
    gz_c = np.zeros((nzc + 1, nrc))
    gr_c = np.zeros((nzc, nrc + 1))
    zbinv_c = np.empty((nzc, nrc))
    zginv_c = np.empty((nzc, nrc))
    zgam_c = np.empty((nzc, nrc))
    rbinv_c = np.empty((nzc, nrc))
    rlo_c = np.empty((nzc, nrc))
    rcp_c = np.empty((nzc, nrc))
    part_c = np.zeros((nchunks, 2))
    u_c = np.empty((nzc, nrc))
    ug_c = np.empty((nzc, nrc))
    u1_c = np.empty((nzc, nrc))
    q_c = np.empty((nzc, nrc))
    mn_c = np.empty((nzc, nrc))
    mg_c = np.empty((nzc, nrc))
    m1_c = np.empty((nzc, nrc))
    fn_c = np.empty((nzc, nrc))
    f1_c = np.empty((nzc, nrc))
    rhs_c = np.empty((nzc, nrc))
    dstar_c = np.empty((nzc, nrc))
    delta_c = np.empty((nzc, nrc))
    vv_c = np.empty((nzc, nrc))
    src = np.empty((nzc, nrc))
    zero = np.zeros((nzc, nrc))
    relbuf = np.empty((nz, 3))
    rn_c = np.empty(ncc)
    r1_c = np.empty(ncc)
    rw_c = np.empty(ncc)
    compg_c = np.empty(ncc)
    comp1_c = np.empty(ncc)
    rn = np.empty(nc)
    r1 = np.empty(nc)
    rw = np.empty(nc)
    compg = np.empty(nc)
    comp1 = np.empty(nc)

    i_box = 0
    j_box = 0
    for i in range(nz):
        if chan_cols[i] > 0:
            i_box = i + 1
            if chan_cols[i] > j_box:
                j_box = chan_cols[i]
    closing = i_box > 0 and tau > 0.0 and not math.isinf(tau)

    uv = u_flat[0]
    v_veh = v_flat[0]
    for i in range(nz):
        for j in range(nr):
            u[i, j] = u_flat[1 + i * nr + j]
            vv[i, j] = v_flat[1 + i * nr + j]
    uv_c = 0.0
    v_veh_c = 0.0
    if cargo:
        uv_c = u_flat_c[0]
        v_veh_c = v_flat_c[0]
        for i in range(nz):
            for j in range(nr):
                u_c[i, j] = u_flat_c[1 + i * nr + j]
                vv_c[i, j] = v_flat_c[1 + i * nr + j]
    t = fstate[F_TIME]
    h_next = fstate[F_STEP]
    t_end = stops[stops.shape[0] - 1]
    h_min = 1e-14 * max(t_end, 1.0)
    steps_here = 0
    istate[I_STATUS] = OK
    a_fact = -1.0           # step coefficient of the current factors (-1: none)
    failed = 0              # consecutive rejected steps
    h_prev = fstate[F_H_PREV]  # last accepted step (0: no derivative to extrapolate yet)
    h_rej = 0.0             # first rejected step of the last rejection run (0: none remembered)
    err_rej = 0.0
    age_rej = 0             # accepted steps since
    carry_rej = fstate.shape[0] > F_AGE_REJ
    if carry_rej:
        h_rej = fstate[F_H_REJ]
        err_rej = fstate[F_ERR_REJ]
        age_rej = int(fstate[F_AGE_REJ])
    # the film on the skin and the channels' age (a regimen carries both in fstate; the film law is
    # the 1D kernels', kept in a 1D-layout scratch fstate so their new_film / film_capacity serve)
    film = np.zeros(N_FSTATE)
    film[F_APPLIED] = 0.0
    film[F_FILM] = h0
    film[F_VOLATILE] = evap_frac
    t_opened = -t_open
    carry_film = fstate.shape[0] >= N_FSTATE_RZ
    if carry_film:
        film[F_APPLIED] = fstate[F_APPLIED_RZ]
        film[F_FILM] = fstate[F_FILM_RZ]
        film[F_VOLATILE] = fstate[F_VOLATILE_RZ]
        t_opened = fstate[F_OPENED]

    # state at t: coefficients, amounts, F_n, r_n
    update_coefficients(closure_factor(t - t_opened, tau), nz, nr, chan_cols, d_open, k_open, d_t, k_t, kdeg, kup, kcl,
                        krel, vol, dz, dr, rf, az, sink, dk, cap, cdeg, cup, ccl, crel, loss, gz, gr)
    if cargo:
        update_coefficients(closure_factor(t - t_opened, tau), nz, nr, chan_cols, d_open_c, k_open_c, d_t_c, k_t_c,
                            kdeg_c, kup_c, kcl_c, none, vol, dz, dr, rf, az, sink, dk_c, cap_c, cdeg_c, cup_c, ccl_c,
                            none, loss_c, gz_c, gr_c)
    veh = 0.0 if istate[I_WASHED] else 1.0
    capv_n = cell_area * film_capacity(t, film, evap_tau) if finite else 0.0
    for i in range(nz):
        for j in range(nr):
            mn[i, j] = cap[i, j] * u[i, j]
    mv_n = capv_n * uv
    fv_n = apply_operator(u, uv, veh, gz, gr, loss, fn)
    compartment_rates(u, uv, veh, gz, cdeg, cup, ccl, row_layer, nl, rowbuf, rn)
    mv_n_c = 0.0
    fv_n_c = 0.0
    if cargo:
        release_rates(u, zero, crel, cdeg, f_deg, enc, src, relbuf)
        for i in range(nz):
            rn[3 * nl + row_layer[i]] += relbuf[i, 0]
        for i in range(nz):
            for j in range(nr):
                mn_c[i, j] = cap_c[i, j] * u_c[i, j]
        mv_n_c = capv_n * uv_c
        fv_n_c = apply_operator(u_c, uv_c, veh, gz_c, gr_c, loss_c, fn_c)
        add_source(fn_c, 1.0, src)
        compartment_rates(u_c, uv_c, veh, gz_c, cdeg_c, cup_c, ccl_c, row_layer, nl, rowbuf, rn_c)
    # the absolute tolerance follows what the unit cell holds, as the 1D kernels' (content_atol): a fixed share
    # of the dose let the late steps of a spent film run free, and the channel cells undershot to -29 % of
    # what the cell held at 8 h (docs/numerics_rz.md, "Step control")
    atol = content_atol(rtol, m_ref, unit_cell_content(mn, mv_n, mn_c, mv_n_c), infinite, RZ_CONTENT_FLOOR)
    # F_n and r_n are the last accepted step's effective F_1 (first same as
    # last); carried between calls in the tail of v_flat if the driver gives one
    ns = 1 + nz * nr
    carry_f = v_flat.shape[0] >= 2 * ns + nc
    if carry_f and h_prev > 0.0:
        fv_n = v_flat[ns]
        for i in range(nz):
            for j in range(nr):
                fn[i, j] = v_flat[ns + 1 + i * nr + j]
        for c in range(nc):
            rn[c] = v_flat[2 * ns + c]
        if cargo:
            fv_n_c = v_flat_c[ns]
            for i in range(nz):
                for j in range(nr):
                    fn_c[i, j] = v_flat_c[ns + 1 + i * nr + j]
            for c in range(ncc):
                rn_c[c] = v_flat_c[2 * ns + c]

    for k in range(stops.shape[0]):
        t_stop = stops[k]
        while t < t_stop:
            veh = 0.0 if istate[I_WASHED] else 1.0
            h_try = h_fixed if h_fixed > 0.0 else h_next
            h, last = landing_step(h_try, t_stop - t)
            if last:
                h = t_stop - t
            tg = t + GAMMA * h
            t1 = t + h
            a = ALPHA_TR * h
            # gamma/2 = (1 - gamma)/(2 - gamma): both stages have the same
            # coefficient, so one factorisation serves both (and the filter)
            d = a
            # ---- stage 1: trapezoidal rule to t + gamma h, delta form from u_n
            if closing:
                update_coefficients(closure_factor(tg - t_opened, tau), i_box, j_box, chan_cols, d_open, k_open, d_t, k_t,
                                    kdeg, kup, kcl, krel, vol, dz, dr, rf, az, sink, dk, cap, cdeg, cup, ccl, crel,
                                    loss, gz, gr)
                if cargo:
                    update_coefficients(closure_factor(tg - t_opened, tau), i_box, j_box, chan_cols, d_open_c, k_open_c,
                                        d_t_c, k_t_c, kdeg_c, kup_c, kcl_c, none, vol, dz, dr, rf, az, sink, dk_c,
                                        cap_c, cdeg_c, cup_c, ccl_c, none, loss_c, gz_c, gr_c)
                a_fact = -1.0
            if a != a_fact:
                factor_z(a, cap, gz, loss, veh, zbinv, zginv, zgam, nchunks, part, nr)
                factor_r(a, cap, gr, rbinv, rlo, rcp, nz)
                if cargo:
                    factor_z(a, cap_c, gz_c, loss_c, veh, zbinv_c, zginv_c, zgam_c, nchunks, part_c, nr)
                    factor_r(a, cap_c, gr_c, rbinv_c, rlo_c, rcp_c, nz)
                a_fact = a
            # extrapolate the last derivative no further than the last step reached
            c1 = GAMMA * min(h, h_prev) if predict1 else 0.0
            predict_stage1(u, vv, c1, q)
            qv = uv + c1 * v_veh if finite else uv
            gv = stage_rhs(q, qv, veh, gz, gr, loss, cap, mn, 1.0, fn, a, a, rhs)
            capv_g = cell_area * film_capacity(tg, film, evap_tau) if finite else 0.0
            rhs_v = mv_n + a * fv_n - capv_g * qv + a * gv
            xv = solve_z(a, gz, veh, finite, capv_g, rhs, rhs_v, zbinv, zginv, zgam, nchunks, part, dstar)
            solve_r(dstar, rbinv, rlo, rcp, delta)
            # u_g = q + delta; compartments booked at r_g(q + D*)
            add_and_amounts_rates(q, dstar, delta, cap, cdeg, cup, ccl, ug, mg, rowbuf)
            finish_rates(q, dstar, qv + xv, veh, gz, row_layer, nl, rowbuf, rw)
            if cargo:
                # the cargo set free at this stage, at the vesicles' booking argument q + D*
                release_rates(q, dstar, crel, cdeg, f_deg, enc, src, relbuf)
                for i in range(nz):
                    rw[3 * nl + row_layer[i]] += relbuf[i, 0]
            for c in range(nc):
                compg[c] = comp[c] + a * (rn[c] + rw[c])
            uvg = qv + xv
            mv_g = capv_g * uvg
            uvg_c = 0.0
            mv_g_c = 0.0
            if cargo:
                # the cargo's stage 1, its source from the vesicles' stage 1 (block lower triangular)
                predict_stage1(u_c, vv_c, c1, q_c)
                qv_c = uv_c + c1 * v_veh_c if finite else uv_c
                gv_c = stage_rhs(q_c, qv_c, veh, gz_c, gr_c, loss_c, cap_c, mn_c, 1.0, fn_c, a, a, rhs_c)
                add_source(rhs_c, a, src)
                rhs_v_c = mv_n_c + a * fv_n_c - capv_g * qv_c + a * gv_c
                xv_c = solve_z(a, gz_c, veh, finite, capv_g, rhs_c, rhs_v_c, zbinv_c, zginv_c, zgam_c, nchunks,
                               part_c, dstar_c)
                solve_r(dstar_c, rbinv_c, rlo_c, rcp_c, delta_c)
                add_and_amounts_rates(q_c, dstar_c, delta_c, cap_c, cdeg_c, cup_c, ccl_c, ug_c, mg_c, rowbuf)
                finish_rates(q_c, dstar_c, qv_c + xv_c, veh, gz_c, row_layer, nl, rowbuf, rw_c)
                for c in range(ncc):
                    compg_c[c] = comp_c[c] + a * (rn_c[c] + rw_c[c])
                uvg_c = qv_c + xv_c
                mv_g_c = capv_g * uvg_c
            # ---- stage 2: BDF2 to t + h, delta form from the extrapolated q -
            if closing:
                update_coefficients(closure_factor(t1 - t_opened, tau), i_box, j_box, chan_cols, d_open, k_open, d_t, k_t,
                                    kdeg, kup, kcl, krel, vol, dz, dr, rf, az, sink, dk, cap, cdeg, cup, ccl, crel,
                                    loss, gz, gr)
                # stage 1 factored everything with the same coefficient; only the
                # channel's columns (z) and rows (r) changed since (the same factors
                # bit for bit; about 1 ms of a 9 ms step on 200 x 400 cells)
                factor_z(d, cap, gz, loss, veh, zbinv, zginv, zgam, nchunks, part, j_box)
                factor_r(d, cap, gr, rbinv, rlo, rcp, i_box)
                if cargo:
                    update_coefficients(closure_factor(t1 - t_opened, tau), i_box, j_box, chan_cols, d_open_c, k_open_c,
                                        d_t_c, k_t_c, kdeg_c, kup_c, kcl_c, none, vol, dz, dr, rf, az, sink, dk_c,
                                        cap_c, cdeg_c, cup_c, ccl_c, none, loss_c, gz_c, gr_c)
                    factor_z(d, cap_c, gz_c, loss_c, veh, zbinv_c, zginv_c, zgam_c, nchunks, part_c, j_box)
                    factor_r(d, cap_c, gr_c, rbinv_c, rlo_c, rcp_c, i_box)
                a_fact = -1.0
            elif d != a_fact:
                factor_z(d, cap, gz, loss, veh, zbinv, zginv, zgam, nchunks, part, nr)
                factor_r(d, cap, gr, rbinv, rlo, rcp, nz)
                if cargo:
                    factor_z(d, cap_c, gz_c, loss_c, veh, zbinv_c, zginv_c, zgam_c, nchunks, part_c, nr)
                    factor_r(d, cap_c, gr_c, rbinv_c, rlo_c, rcp_c, nz)
                a_fact = d
            predict_stage2(u, ug, extrap, q)
            qv = uvg + extrap * (uvg - uv) if finite else uv
            gv = stage_rhs(q, qv, veh, gz, gr, loss, cap, mg, BDF_A, mn, -BDF_B, d, rhs)
            capv_1 = cell_area * film_capacity(t1, film, evap_tau) if finite else 0.0
            rhs_v = BDF_A * mv_g - BDF_B * mv_n - capv_1 * qv + d * gv
            xv = solve_z(d, gz, veh, finite, capv_1, rhs, rhs_v, zbinv, zginv, zgam, nchunks, part, dstar)
            solve_r(dstar, rbinv, rlo, rcp, delta)
            add_and_amounts_rates(q, dstar, delta, cap, cdeg, cup, ccl, u1, m1, rowbuf)
            finish_rates(q, dstar, qv + xv, veh, gz, row_layer, nl, rowbuf, rw)
            if cargo:
                release_rates(q, dstar, crel, cdeg, f_deg, enc, src, relbuf)
                for i in range(nz):
                    rw[3 * nl + row_layer[i]] += relbuf[i, 0]
            for c in range(nc):
                comp1[c] = BDF_A * compg[c] - BDF_B * comp[c] + d * rw[c]
            uv1 = qv + xv
            mv_1 = capv_1 * uv1
            fv_1 = 0.0
            stats[S_SOLVES] += 2
            uv1_c = 0.0
            mv_1_c = 0.0
            if cargo:
                predict_stage2(u_c, ug_c, extrap, q_c)
                qv_c = uvg_c + extrap * (uvg_c - uv_c) if finite else uv_c
                gv_c = stage_rhs(q_c, qv_c, veh, gz_c, gr_c, loss_c, cap_c, mg_c, BDF_A, mn_c, -BDF_B, d, rhs_c)
                add_source(rhs_c, d, src)
                rhs_v_c = BDF_A * mv_g_c - BDF_B * mv_n_c - capv_1 * qv_c + d * gv_c
                xv_c = solve_z(d, gz_c, veh, finite, capv_1, rhs_c, rhs_v_c, zbinv_c, zginv_c, zgam_c, nchunks,
                               part_c, dstar_c)
                solve_r(dstar_c, rbinv_c, rlo_c, rcp_c, delta_c)
                add_and_amounts_rates(q_c, dstar_c, delta_c, cap_c, cdeg_c, cup_c, ccl_c, u1_c, m1_c, rowbuf)
                finish_rates(q_c, dstar_c, qv_c + xv_c, veh, gz_c, row_layer, nl, rowbuf, rw_c)
                for c in range(ncc):
                    comp1_c[c] = BDF_A * compg_c[c] - BDF_B * comp_c[c] + d * rw_c[c]
                uv1_c = qv_c + xv_c
                mv_1_c = capv_1 * uv1_c
                stats[S_SOLVES] += 2
            # ---- local error from the effective stage derivatives, filtered
            error_vector(h, a, d, fn, mn, mg, m1, cap, rhs, f1)
            ev = 0.0
            vv_new = 0.0
            if finite:
                fgv = (mv_g - mv_n) / a - fv_n
                f1v = (mv_1 - BDF_A * mv_g + BDF_B * mv_n) / d
                ev = h * (ERR_1 * fv_n + ERR_2 * fgv + ERR_3 * f1v)
                vv_new = f1v / capv_1 if capv_1 > 0.0 else 0.0
                fv_1 = f1v
            if filter_mode >= 1:
                ev = solve_z(d, gz, veh, finite, capv_1, rhs, ev, zbinv, zginv, zgam, nchunks, part, dstar)
                if filter_mode >= 2:
                    solve_r(dstar, rbinv, rlo, rcp, delta)
                    err, bad = error_norm(delta, cap, u1, atol, wabs, rtol, rowbuf)
                else:
                    err, bad = error_norm(dstar, cap, u1, atol, wabs, rtol, rowbuf)
                ev = ev * capv_1
            else:
                # unfiltered: amounts -> u units for the norm
                for i in range(nz):
                    for j in range(nr):
                        rhs[i, j] = rhs[i, j] / cap[i, j] if cap[i, j] > 0.0 else 0.0
                err, bad = error_norm(rhs, cap, u1, atol, wabs, rtol, rowbuf)
            if bad >= 0 or not math.isfinite(uv1):
                istate[I_FAIL_NODE] = 1 + bad if bad >= 0 else 0
                return stop_run(NONFINITE, t, fstate, istate)
            if finite:
                qe = abs(ev) / (atol + rtol * abs(mv_1))
                if qe > err:
                    err = qe
            for c in range(nc):
                fgc = (compg[c] - comp[c]) / a - rn[c]
                f1c = (comp1[c] - BDF_A * compg[c] + BDF_B * comp[c]) / d
                r1[c] = f1c
                e = h * (ERR_1 * rn[c] + ERR_2 * fgc + ERR_3 * f1c)
                qe = abs(e) / (atol + rtol * abs(comp1[c]))
                if qe > err:
                    err = qe
            fv_1_c = 0.0
            if cargo:
                # the cargo's error, the same estimate and filter with its own factors; one norm for both
                error_vector(h, a, d, fn_c, mn_c, mg_c, m1_c, cap_c, rhs_c, f1_c)
                ev_c = 0.0
                if finite:
                    fgv_c = (mv_g_c - mv_n_c) / a - fv_n_c
                    f1v_c = (mv_1_c - BDF_A * mv_g_c + BDF_B * mv_n_c) / d
                    ev_c = h * (ERR_1 * fv_n_c + ERR_2 * fgv_c + ERR_3 * f1v_c)
                    fv_1_c = f1v_c
                if filter_mode >= 1:
                    ev_c = solve_z(d, gz_c, veh, finite, capv_1, rhs_c, ev_c, zbinv_c, zginv_c, zgam_c, nchunks,
                                   part_c, dstar_c)
                    if filter_mode >= 2:
                        solve_r(dstar_c, rbinv_c, rlo_c, rcp_c, delta_c)
                        err_c, bad_c = error_norm(delta_c, cap_c, u1_c, atol, wabs, rtol, rowbuf)
                    else:
                        err_c, bad_c = error_norm(dstar_c, cap_c, u1_c, atol, wabs, rtol, rowbuf)
                    ev_c = ev_c * capv_1
                else:
                    for i in range(nz):
                        for j in range(nr):
                            rhs_c[i, j] = rhs_c[i, j] / cap_c[i, j] if cap_c[i, j] > 0.0 else 0.0
                    err_c, bad_c = error_norm(rhs_c, cap_c, u1_c, atol, wabs, rtol, rowbuf)
                if bad_c >= 0 or not math.isfinite(uv1_c):
                    istate[I_FAIL_NODE] = 1 + bad_c if bad_c >= 0 else 0
                    return stop_run(NONFINITE, t, fstate, istate)
                if err_c > err:
                    err = err_c
                if finite:
                    qe = abs(ev_c) / (atol + rtol * abs(mv_1_c))
                    if qe > err:
                        err = qe
                for c in range(ncc):
                    fgc = (compg_c[c] - comp_c[c]) / a - rn_c[c]
                    f1c = (comp1_c[c] - BDF_A * compg_c[c] + BDF_B * comp_c[c]) / d
                    r1_c[c] = f1c
                    e = h * (ERR_1 * rn_c[c] + ERR_2 * fgc + ERR_3 * f1c)
                    qe = abs(e) / (atol + rtol * abs(comp1_c[c]))
                    if qe > err:
                        err = qe
            if not math.isfinite(err):
                istate[I_FAIL_NODE] = -1
                return stop_run(NONFINITE, t, fstate, istate)
            steps_here += 1
            if err <= 1.0 or h_fixed > 0.0:
                stats[S_STEPS] += 1
                t = t_stop if last else t1
                if predict1:
                    # du/dt at t + h by the BDF2 formula in u (includes C'(t))
                    bdf_derivative(u1, ug, u, d, vv)
                    v_veh = (uv1 - BDF_A * uvg + BDF_B * uv) / d if finite else 0.0
                u, u1 = u1, u
                mn, m1 = m1, mn
                fn, f1 = f1, fn
                h_prev = h
                uv = uv1
                mv_n = mv_1
                fv_n = fv_1
                for c in range(nc):
                    comp[c] = comp1[c]
                    rn[c] = r1[c]
                if cargo:
                    if predict1:
                        bdf_derivative(u1_c, ug_c, u_c, d, vv_c)
                        v_veh_c = (uv1_c - BDF_A * uvg_c + BDF_B * uv_c) / d if finite else 0.0
                    u_c, u1_c = u1_c, u_c
                    mn_c, m1_c = m1_c, mn_c
                    fn_c, f1_c = f1_c, fn_c
                    uv_c = uv1_c
                    mv_n_c = mv_1_c
                    fv_n_c = fv_1_c
                    for c in range(ncc):
                        comp_c[c] = comp1_c[c]
                        rn_c[c] = r1_c[c]
                atol = content_atol(rtol, m_ref, unit_cell_content(mn, mv_n, mn_c, mv_n_c), infinite, RZ_CONTENT_FLOOR)
                h_new = step_after_accept(h, err, h_next)
                if h_rej > 0.0:
                    # the error grew faster than h^3 up to the last rejected step:
                    # do not propose what that growth says is rejected again
                    h_new = cap_after_rejection(h, err, h_rej, err_rej, h_new)
                    age_rej += 1
                    if age_rej >= RZ_CAP_MEMORY:
                        h_rej = 0.0
                h_next = h_new
                failed = 0
            else:
                stats[S_REJECTED] += 1
                failed += 1
                h_next = next_step(h, err)
                if failed == 1:
                    h_rej = h
                    err_rej = err
                    age_rej = 0
                if failed >= 2:
                    # an estimate that does not shrink with h is a carried residue
                    # (see the module docstring): cut hard, as CVODE does
                    h_next = min(h_next, SHRINK_MIN * h)
                if h_next < h_min:
                    stop_run(STEP_UNDERFLOW, t, fstate, istate)
                    break
            if steps_here > max_steps:
                stop_run(TOO_MANY_STEPS, t, fstate, istate)
                break
        if istate[I_STATUS] == STEP_UNDERFLOW or istate[I_STATUS] == TOO_MANY_STEPS:
            break
        # at the stop: events (wash, a new application, a procedure session), then recording
        ev = stop_event[k]
        restart = False
        if (ev & EVENT_WASH) != 0 and istate[I_WASHED] == 0:
            if finite:
                capv = cell_area * film_capacity(t, film, evap_tau)
                comp[removed] += capv * uv
                if cargo:
                    comp_c[removed] += capv * uv_c
            uv = 0.0
            uv_c = 0.0
            istate[I_WASHED] = 1
            restart = True
        if (ev & (EVENT_APPLY | EVENT_ADD)) != 0 and finite:
            # the 1D kernels' film law (docs/model.md, 1.2); both fields get the fresh film
            join = (ev & EVENT_ADD) != 0 and istate[I_WASHED] == 0
            h_old = new_film(t, h0, evap_frac, evap_tau, film, join)
            if join:  # amounts add in the joined film
                uv = (h_old * uv + h0 * c_donor) / film[F_FILM]
                uv_c = (h_old * uv_c + h0 * c_free) / film[F_FILM]
            else:  # what is left of the old film is washed off first
                if istate[I_WASHED] == 0:
                    comp[removed] += cell_area * h_old * uv
                    if cargo:
                        comp_c[removed] += cell_area * h_old * uv_c
                uv = c_donor
                uv_c = c_free
            istate[I_WASHED] = 0
            restart = True
        if (ev & EVENT_REOPEN) != 0 and i_box > 0:
            # a procedure session: the channels are made again, t_open before the film goes on; their
            # cells keep their amounts (mn, the last step's C_1 u_1) in the open coefficients
            t_opened = t - t_open
            update_coefficients(closure_factor(t - t_opened, tau), nz, nr, chan_cols, d_open, k_open, d_t, k_t, kdeg,
                                kup, kcl, krel, vol, dz, dr, rf, az, sink, dk, cap, cdeg, cup, ccl, crel, loss, gz, gr)
            for i in range(i_box):
                for j in range(j_box):
                    if cap[i, j] > 0.0:
                        u[i, j] = mn[i, j] / cap[i, j]
            if cargo:
                update_coefficients(closure_factor(t - t_opened, tau), nz, nr, chan_cols, d_open_c, k_open_c, d_t_c,
                                    k_t_c, kdeg_c, kup_c, kcl_c, none, vol, dz, dr, rf, az, sink, dk_c, cap_c, cdeg_c,
                                    cup_c, ccl_c, none, loss_c, gz_c, gr_c)
                for i in range(i_box):
                    for j in range(j_box):
                        if cap_c[i, j] > 0.0:
                            u_c[i, j] = mn_c[i, j] / cap_c[i, j]
            restart = True
        if restart:
            # the state jumped: start again from A u with the first step, as at t = 0
            veh = 0.0 if istate[I_WASHED] else 1.0
            capv = cell_area * film_capacity(t, film, evap_tau) if finite else 0.0
            mv_n = capv * uv
            h_next = h_start
            h_rej = 0.0
            a_fact = -1.0
            v_veh = 0.0
            vv[:, :] = 0.0
            h_prev = 0.0
            fv_n = apply_operator(u, uv, veh, gz, gr, loss, fn)
            compartment_rates(u, uv, veh, gz, cdeg, cup, ccl, row_layer, nl, rowbuf, rn)
            if cargo:
                mv_n_c = capv * uv_c
                v_veh_c = 0.0
                vv_c[:, :] = 0.0
                release_rates(u, zero, crel, cdeg, f_deg, enc, src, relbuf)
                for i in range(nz):
                    rn[3 * nl + row_layer[i]] += relbuf[i, 0]
                fv_n_c = apply_operator(u_c, uv_c, veh, gz_c, gr_c, loss_c, fn_c)
                add_source(fn_c, 1.0, src)
                compartment_rates(u_c, uv_c, veh, gz_c, cdeg_c, cup_c, ccl_c, row_layer, nl, rowbuf, rn_c)
            atol = content_atol(rtol, m_ref, unit_cell_content(mn, mv_n, mn_c, mv_n_c), infinite, RZ_CONTENT_FLOOR)
        j = out_index[k]
        if j >= 0:
            u_out[j, 0] = uv
            for i in range(nz):
                for jj in range(nr):
                    u_out[j, 1 + i * nr + jj] = u[i, jj]
            for c in range(nc):
                comp_out[j, c] = comp[c]
            if cargo:
                u_out_c[j, 0] = uv_c
                for i in range(nz):
                    for jj in range(nr):
                        u_out_c[j, 1 + i * nr + jj] = u_c[i, jj]
                for c in range(ncc):
                    comp_out_c[j, c] = comp_c[c]
    # hand the state back
    u_flat[0] = uv
    v_flat[0] = v_veh
    for i in range(nz):
        for j in range(nr):
            u_flat[1 + i * nr + j] = u[i, j]
            v_flat[1 + i * nr + j] = vv[i, j]
    if carry_f:
        v_flat[ns] = fv_n
        for i in range(nz):
            for j in range(nr):
                v_flat[ns + 1 + i * nr + j] = fn[i, j]
        for c in range(nc):
            v_flat[2 * ns + c] = rn[c]
    if cargo:
        u_flat_c[0] = uv_c
        v_flat_c[0] = v_veh_c
        for i in range(nz):
            for j in range(nr):
                u_flat_c[1 + i * nr + j] = u_c[i, j]
                v_flat_c[1 + i * nr + j] = vv_c[i, j]
        if carry_f:
            v_flat_c[ns] = fv_n_c
            for i in range(nz):
                for j in range(nr):
                    v_flat_c[ns + 1 + i * nr + j] = fn_c[i, j]
            for c in range(ncc):
                v_flat_c[2 * ns + c] = rn_c[c]
    status = istate[I_STATUS]
    if status == STEP_UNDERFLOW or status == TOO_MANY_STEPS:
        return status
    fstate[F_TIME] = t
    fstate[F_STEP] = h_next
    fstate[F_H_PREV] = h_prev
    if carry_film:
        fstate[F_APPLIED_RZ] = film[F_APPLIED]
        fstate[F_FILM_RZ] = film[F_FILM]
        fstate[F_VOLATILE_RZ] = film[F_VOLATILE]
        fstate[F_OPENED] = t_opened
    if carry_rej:
        fstate[F_H_REJ] = h_rej
        fstate[F_ERR_REJ] = err_rej
        fstate[F_AGE_REJ] = age_rej
    istate[I_STATUS] = OK
    return OK


_KERNEL_NAMES = ('update_coefficients',
                 'apply_operator',
                 'bdf_derivative',
                 'stage_rhs',
                 'compartment_rates',
                 'factor_z',
                 'solve_z',
                 'factor_r',
                 'solve_r',
                 'predict_stage1',
                 'predict_stage2',
                 'add_and_amounts_rates',
                 'error_vector',
                 'error_norm',
                 'release_rates',
                 'add_source')
_SERIAL = {n: globals()[n + "_serial"] for n in _KERNEL_NAMES}
_PARALLEL = {n: globals()[n + "_parallel"] for n in _KERNEL_NAMES}

#: the compiled time loop with serial line sweeps (small grids, sweep workers)
integrate_rz_serial = _variant(_integrate_rz, "integrate_rz_serial", False, **_SERIAL)
#: the compiled time loop with line sweeps in parallel over lines (``prange``)
integrate_rz_parallel = _variant(_integrate_rz, "integrate_rz_parallel", False, **_PARALLEL)
