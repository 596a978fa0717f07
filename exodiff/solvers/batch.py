"""The batched 1D driver: many one-column problems solved in one compiled call.

:func:`prepare` sets up a problem exactly as the 1D driver
(:func:`exodiff.solvers.layered.integrate`) does for one column; :func:`pack`
lays many of them out as ragged arrays (:mod:`exodiff.kernels.batch1d`);
:func:`solve` runs them all in one call of
:func:`~exodiff.kernels.batch1d.integrate_batch` (Numba threads over the
problems, each with its own step control: the same bits as a problem solved
alone); :func:`raw_solution` gives each one's :class:`RawSolution`.  The
call releases the GIL, so a caller can overlap it with Python work.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass

import numpy as np

from exodiff.kernels.batch1d import offsets
from exodiff.solvers.common import MAX_STEPS, METHODS, RawSolution, initial_fstate, stop_list

__all__ = ["Prepared", "prepare", "pack", "solve", "raw_solution", "batch_cached"]


@dataclass
class Prepared:
    """One problem set up for the batch: its kernel arguments (``arrays``) and, for the caller, a ``target``
    layer and a ``systemic`` table (the scenario's, plain data)."""

    problem: object
    arrays: dict
    target: str | None = None
    systemic: dict | None = None


def prepare(problem) -> Prepared | None:
    """The kernel arguments of a one-column 1D problem; None for one the batch does not solve (several columns,
    or a washed regimen the 1D driver solves by superposition: a batched point must be the point alone, bit for
    bit, and superposition takes ~3x fewer steps than the batch's direct run; nor one for the Krylov propagator,
    which has no steps to batch)."""
    from exodiff.solvers.superposition import plan

    if problem.integrator == "krylov":
        return None
    if len(problem.all_columns) != 1 or problem.n_processes != 3 or plan(problem) is not None:
        return None
    arr = problem.columns_arrays()
    # exactly the driver's set-up of a one-column run (exodiff.solvers.layered.integrate)
    times = problem.output_times
    t_end = float(times[-1])
    stops, out_idx, events = stop_list(problem)
    n = arr["cap"].shape[1]
    L = len(problem.layers)
    c_donor = problem.concentration * arr["weight"]
    u = np.zeros(n)
    u[0] = c_donor[0]
    a = dict(cap=arr["cap"][0], g=arr["g"][0], cdeg=arr["closs"][0, 0], cup=arr["closs"][0, 1],
             ccl=arr["closs"][0, 2], node_layer=arr["node_layer"], n_layers=L, infinite=problem.vehicle == "infinite",
             c_donor=c_donor[0], h0=problem.vehicle_thickness, evap_frac=problem.evaporation_fraction,
             evap_tau=problem.evaporation_time, sample_frac=problem.sample_fraction, stops=stops, out_index=out_idx,
             stop_event=events, u=u,
             comp=np.zeros(3 * L + 3), rtol=problem.tolerance, m_ref=arr["m_ref"][0],
             h_start=1e-8 * max(t_end, 1.0), k=times.size, method=METHODS[problem.integrator])
    a["fstate"] = initial_fstate(problem, a["h_start"])
    return Prepared(problem, a)


def pack(points: list[Prepared]) -> dict:
    """Ragged arrays of :func:`~exodiff.kernels.batch1d.integrate_batch` for ``points``."""
    A = [p.arrays for p in points]
    B = len(A)
    ns = [a["cap"].size for a in A]
    ncs = [a["comp"].size for a in A]
    ks = [a["k"] for a in A]
    cat = np.concatenate

    def col(name, dtype=float):
        return np.array([a[name] for a in A], dtype=dtype)

    u_out = np.zeros(sum(k * n for k, n in zip(ks, ns)))
    comp_out = np.zeros(sum(k * c for k, c in zip(ks, ncs)))
    uo, co = offsets([k * n for k, n in zip(ks, ns)]), offsets([k * c for k, c in zip(ks, ncs)])
    u = cat([a["u"] for a in A])
    no = offsets(ns)
    # the initial state is recorded as output 0, as the driver does
    for p, a in enumerate(A):
        u_out[uo[p]:uo[p] + ns[p]] = a["u"]
    fstate = np.stack([a["fstate"] for a in A])
    return dict(
        node_off=no, g_off=offsets([n + 1 for n in ns]), comp_off=offsets(ncs),
        stop_off=offsets([a["stops"].size for a in A]), uout_off=uo, cout_off=co, n_out=col("k", np.int64),
        cap=cat([a["cap"] for a in A]), g=cat([a["g"] for a in A]), cdeg=cat([a["cdeg"] for a in A]),
        cup=cat([a["cup"] for a in A]), ccl=cat([a["ccl"] for a in A]),
        node_layer=cat([a["node_layer"] for a in A]), n_layers=col("n_layers", np.int64),
        infinite=col("infinite", np.bool_), c_donor=col("c_donor"), h0=col("h0"), evap_frac=col("evap_frac"),
        evap_tau=col("evap_tau"), sample_frac=col("sample_frac"), stops=cat([a["stops"] for a in A]),
        out_index=cat([a["out_index"] for a in A]),
        stop_event=cat([a["stop_event"] for a in A]), u=u, comp=cat([a["comp"] for a in A]), fstate=fstate,
        istate=np.zeros((B, 3), dtype=np.int64), rtol=col("rtol"), m_ref=col("m_ref"), h_start=col("h_start"),
        u_out=u_out, comp_out=comp_out, stats=np.zeros((B, 3), dtype=np.int64), status=np.full(B, -1, dtype=np.int64),
        method=col("method", np.int64),
    )


_ORDER = ("node_off", "g_off", "comp_off", "stop_off", "uout_off", "cout_off", "n_out",
          "cap", "g", "cdeg", "cup", "ccl", "node_layer", "n_layers",
          "infinite", "c_donor", "h0", "evap_frac", "evap_tau", "sample_frac",
          "stops", "out_index", "stop_event",
          "u", "comp", "fstate", "istate",
          "rtol", "m_ref", "h_start", "max_steps",
          "u_out", "comp_out", "stats", "status", "method")


def solve(packed: dict, threads: int | None = None) -> float:
    """One compiled call over the packed points; returns its wall time (s)."""
    import numba

    from exodiff.kernels.batch1d import integrate_batch
    from exodiff.kernels.threads import PARALLEL_LAUNCH

    before = numba.get_num_threads()
    if threads is not None:
        # Numba's thread count is per calling thread: set it in the one that calls, and give it back after
        # (left at 1 it made a later forced-parallel unit cell in the same thread run on one thread)
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        # one parallel launch at a time in the process (kernels.threads: the r-z driver goes serial meanwhile)
        with PARALLEL_LAUNCH:
            t0 = _time.perf_counter()
            with np.errstate(all="ignore"):
                integrate_batch(*[MAX_STEPS if k == "max_steps" else packed[k] for k in _ORDER])
            return _time.perf_counter() - t0
    finally:
        numba.set_num_threads(before)


def raw_solution(prepared: Prepared, packed: dict, p: int, wall_time_s: float = 0.0) -> RawSolution | None:
    """The raw solution of problem ``p`` of a solved batch; None when the kernel did not finish it."""
    from exodiff.kernels.column1d import OK

    if packed["status"][p] != OK:
        return None
    a = prepared.arrays
    n, nc, k = a["cap"].size, a["comp"].size, a["k"]
    uo = packed["u_out"][packed["uout_off"][p]:packed["uout_off"][p + 1]].reshape(k, 1, n)
    co = packed["comp_out"][packed["cout_off"][p]:packed["cout_off"][p + 1]].reshape(k, 1, nc)
    st = packed["stats"][p]
    return RawSolution(times=prepared.problem.output_times.copy(), u=uo[:, 0], comp=co[:, 0],
                       stats={"steps": int(st[0]), "rejected": int(st[1]), "solves": int(st[2]),
                              "wall_time_s": wall_time_s, "columns": 1},
                       u_cols=uo, comp_cols=co)


def batch_cached() -> bool:
    """True when the batch kernel is in Numba's on-disk cache (as :func:`exodiff.solvers.layered.kernels_cached`)."""
    try:
        from exodiff.kernels.batch1d import integrate_batch

        return bool(integrate_batch._cache._cache_file._load_index())
    except Exception:
        return True
