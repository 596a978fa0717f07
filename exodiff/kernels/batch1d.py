"""Many independent 1D columns in one compiled call (sweep points), each with its own steps.

A sweep's 1D points are independent problems.  :func:`integrate_batch`
runs the one-column loop of :mod:`exodiff.kernels.column1d` on each of them in a
``prange`` loop: every point keeps its own step-size control, stops and
state, exactly as when it is solved alone, so the results are the same bits
(tests/test_sweep_batch.py).  What the batch saves is the per-point Python
around the kernel call and a process pool's transfers; what it gains is
the machine's cores inside one process (Numba threads, the kernel releases
the GIL).

Points need not share a grid: every per-point array is stored *ragged*,
the points' arrays one after the other in one flat array with an offset
array of length ``B + 1`` (point ``p`` owns ``a[off[p]:off[p + 1]]``).
The recorded states are flat too and reshaped per point to ``(k_p, n_p)``
and ``(k_p, nc_p)``.

A single-column point only (one size class, no tracked cargo: three loss
processes); several columns take the driver's path.  All arrays float64
in SI (int64 for indices and flags), as in :mod:`exodiff.kernels.column1d`.
"""

from __future__ import annotations

import numba
import numpy as np

from exodiff.kernels._jit import jit
from exodiff.kernels.column1d import integrate_column_rk, integrate_column_trbdf2
from exodiff.kernels.control import METHOD_TRBDF2


@jit(parallel=True)
def integrate_batch(
    node_off, g_off, comp_off, stop_off, uout_off, cout_off, n_out,
    cap, g, cdeg, cup, ccl, node_layer, n_layers,
    infinite, c_donor, h0, evap_frac, evap_tau, sample_frac,
    stops, out_index, stop_event,
    u, comp, fstate, istate,
    rtol, m_ref, h_start, max_steps,
    u_out, comp_out, stats, status, method,
):
    """Integrate ``B`` independent columns, each over its own stops (ragged arrays).

    Parameters
    ----------
    node_off, g_off, comp_off, stop_off, uout_off, cout_off : int64[B+1]
        Offsets of each point's slice in the node arrays (``n_p`` values),
        the conductances (``n_p + 1``), the compartments (``nc_p``), the
        stops (``m_p``), the recorded states (``k_p n_p``) and the recorded
        compartments (``k_p nc_p``).
    n_out : int64[B]
        Output times ``k_p`` of each point.
    cap, cdeg, cup, ccl : float64[sum n_p]
        Capacities (m) and loss conductances ``k C`` (m/s) per node.
    g : float64[sum (n_p + 1)]
        Face conductances (m/s).
    node_layer : int64[sum n_p]
    n_layers : int64[B]
    infinite : bool[B]
    c_donor, h0, evap_frac, evap_tau, sample_frac : float64[B]
        Donor concentration (dose unit/m^3), film thickness (m), volatile
        fraction, evaporation time (s), fraction of the receptor taken per
        sample.
    stops : float64[sum m_p]
        Stop times (s).
    out_index, stop_event : int64[sum m_p]
    u : float64[sum n_p]
        States, modified in place.
    comp : float64[sum nc_p]
        Compartments, modified in place.
    fstate : float64[B, N_FSTATE]
        As :func:`~exodiff.kernels.column1d.integrate_column` (the film of a regimen included).
    istate : int64[B, 3]
    rtol, m_ref, h_start : float64[B]
        Tolerance, amount scale (dose unit/m^2) and restart step (s).
    max_steps : int
    u_out : float64[sum k_p n_p]
    comp_out : float64[sum k_p nc_p]
    stats : int64[B, 3]
    status : int64[B]
        Each point's status (:data:`exodiff.kernels.column1d.OK`, ...); written.
    method : int64[B]
        Each point's integrator (:data:`exodiff.kernels.control.METHOD_ESDIRK4`, ...).

    Notes
    -----
    Each iteration calls the one-column kernel on its own slices, so a
    point's numbers do not depend on the others or on the thread it ran on.
    """
    B = n_out.shape[0]
    for p in numba.prange(B):
        a, b = node_off[p], node_off[p + 1]
        n = b - a
        ca, cb = comp_off[p], comp_off[p + 1]
        nc = cb - ca
        sa, sb = stop_off[p], stop_off[p + 1]
        k = n_out[p]
        uo = u_out[uout_off[p]:uout_off[p + 1]].reshape((k, n))
        co = comp_out[cout_off[p]:cout_off[p + 1]].reshape((k, nc))
        args = (cap[a:b], g[g_off[p]:g_off[p + 1]], cdeg[a:b], cup[a:b], ccl[a:b], node_layer[a:b], n_layers[p],
                infinite[p], c_donor[p], h0[p], evap_frac[p], evap_tau[p], sample_frac[p],
                stops[sa:sb], out_index[sa:sb], stop_event[sa:sb],
                u[a:b], comp[ca:cb], fstate[p], istate[p],
                rtol[p], m_ref[p], h_start[p], max_steps,
                uo, co, stats[p])
        # the loops the 1D driver calls (not the integrate_column dispatcher), so a point's bits are a lone run's;
        # with interpolation-gap arrays as the driver passes them, here without rows (a sweep reads no gap):
        # without them the same loop compiles to another variant, whose last bits differed
        if method[p] == METHOD_TRBDF2:
            status[p] = integrate_column_trbdf2(*args)
        else:
            status[p] = integrate_column_rk(*args, method[p], np.zeros((2, 0, n_layers[p] + 2)), np.zeros((2, 0, nc)),
                                            node_layer[a:b])


def offsets(sizes) -> np.ndarray:
    """``[0, s0, s0 + s1, ...]`` (int64): the offsets of ragged slices of the given sizes."""
    out = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(np.asarray(sizes, dtype=np.int64), out=out[1:])
    return out
