"""Measure the 1D validation cases and print the tables of docs/validation.md.

    python docs/gen_validation.py > /tmp/validation_tables.md

Every number in docs/validation.md comes from this script.  The cases,
their analytic solutions and the independent references (method of lines,
exact semi-discrete solution) are the ones tests/test_validation_1d.py
asserts on, imported from it so the two cannot drift apart.  About a
minute on two cores.
"""

from __future__ import annotations

import importlib.util
import pathlib
import platform
import time

import numpy as np

import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))  # the numpy twins (tests/twins/)

import exodiff  # noqa: E402
from exodiff.kernels import column1d  # noqa: E402
from twins.reference_1d import integrate_reference, run_column  # noqa: E402
from exodiff.problem.layered import Layer, Problem1D
from exodiff.solvers.layered import integrate
from exodiff.solvers.ledger import mass_balance_error, tissue_amounts, vehicle_amount

HERE = pathlib.Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("test_validation_1d", HERE.parent / "tests" / "test_validation_1d.py")
T = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(T)

H = 3600.0


def table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()


def e(x, digits=1):
    return f"{x:.{digits}e}"


def crank():
    print("### Membrane, constant donor, sink (Crank)\n")
    rows = []
    for D, K, h in T.MEMBRANES:
        lag = h * h / (6 * D)
        t = np.linspace(0, 20 * lag, 201)
        p, raw = T.run([Layer("m", h, D, K)], output_times=t[1:], vehicle="infinite")
        Q = raw.comp[:, T.slots(p)[0]]
        Qa = T.crank_amount(raw.times, D, K, h, 1.0)
        m = raw.times >= lag
        late = raw.times >= 10 * lag
        J, tl = T.late_line(raw.times[late], Q[late])
        rows.append([f"{D:g}", f"{K:g}", f"{h * 1e6:g}", str(p.grid.n), str(raw.stats["steps"]),
                     e(np.max(np.abs(Q - Qa)[m]) / Qa[-1]), e(abs(Q[-1] - Qa[-1]) / Qa[-1]),
                     e(abs(J / (D * K / h) - 1)), e(abs(tl / lag - 1)),
                     e(np.max(np.abs(mass_balance_error(p, raw))))])
    table(["D (m2/s)", "K", "h (um)", "cells", "steps", "max err t>=lag", "err t_end", "flux err",
           "lag err", "mass bal."], rows)


def laminate():
    print("### Laminate steady flux, 100x partition jumps\n")
    rows = []
    h, D = (15e-6, 60e-6, 200e-6), (1e-13, 5e-12, 2e-11)
    for Ks in [(1.0, 100.0, 1.0), (1.0, 0.01, 1.0), (100.0, 1.0, 0.01)]:
        layers = [Layer(f"l{i}", h[i], D[i], Ks[i]) for i in range(3)]
        Tsl = T.slowest_time(Problem1D.from_layers(layers, output_times=[1.0], vehicle="infinite"))
        t = np.linspace(0, 30 * Tsl, 301)
        p, raw = T.run(layers, output_times=t[1:], vehicle="infinite", concentration=2.0)
        J = 2.0 / sum(h[i] / (D[i] * Ks[i]) for i in range(3))
        late = raw.times >= 25 * Tsl
        s, _ = T.late_line(raw.times[late], raw.comp[late, T.slots(p)[0]])
        gi = p.kernel_arrays()["g"][-1] * raw.u[-1, -1]
        rows.append([str(Ks), str(p.grid.n), f"{Tsl / H:.3g}", e(abs(s / J - 1)), e(abs(gi / J - 1)),
                     e(np.max(np.abs(mass_balance_error(p, raw))))])
    table(["K", "cells", "slowest time const. (h)", "flux err (slope)", "flux err (last face)", "mass bal."], rows)


LOSS_CASES = [(50e-6, 1e-12, 2.0, 1e-3), (50e-6, 1e-12, 2.0, 1e-2), (1000e-6, 1e-11, 0.5, 1e-3)]


def loss_slab(h, D, K, k, bottom, resolution="auto", tolerance=1e-5):
    lam = np.sqrt(D / k)
    Tr = 1.0 / (k + D * np.pi**2 / (4 * h * h))
    p, raw = T.run([Layer("s", h, D, K, degradation_rate=k)], output_times=[40 * Tr], vehicle="infinite",
                   bottom=bottom, resolution=resolution, tolerance=tolerance)
    z = p.grid.centres
    if bottom == "sink":
        ca = K * np.sinh((h - z) / lam) / np.sinh(h / lam)
        Ja = D * K / lam / np.tanh(h / lam)
    else:
        ca = K * np.cosh((h - z) / lam) / np.cosh(h / lam)
        Ja = D * K / lam * np.tanh(h / lam)
    c = T.concentrations(p, raw)[-1, 1:]
    J = p.kernel_arrays()["g"][1] * (raw.u[-1, 0] - raw.u[-1, 1])
    return p, np.max(np.abs(c - ca)) / K, abs(J / Ja - 1)


def loss():
    print("### Steady diffusion with first-order loss (cosh/sinh)\n")
    rows = []
    for h, D, K, k in LOSS_CASES:
        for bottom in ("sink", "no_flux"):
            p, ep, ej = loss_slab(h, D, K, k, bottom)
            rows.append([f"{h * 1e6:g}", f"{h / np.sqrt(D / k):.3g}", bottom, str(p.grid.n), e(ep), e(ej)])
    table(["h (um)", "h / l", "bottom", "cells", "profile err / (K C)", "surface flux err"], rows)
    # the flux error as the decay length shrinks at the "auto" resolution of a 1 mm slab
    rows = []
    for ratio in (10, 20, 50, 100):
        h, D = 1000e-6, 1e-11
        k = D * (ratio / h) ** 2
        p, ep, ej = loss_slab(h, D, 1.0, k, "sink")
        rows.append([f"{ratio}", str(p.grid.n), e(ep), e(ej)])
    print("Shorter decay lengths at the 'auto' resolution of a 1 mm slab (sink):\n")
    table(["h / l", "cells", "profile err / (K C)", "surface flux err"], rows)


def finite_dose():
    print("### Finite dose: losses, evaporation, wash-off, against the method of lines\n")
    t = np.linspace(0, 24 * H, 49)
    kw = dict(output_times=t[1:], vehicle="finite", concentration=1.0, vehicle_thickness=20e-6,
              evaporation_fraction=0.6, evaporation_time=1800.0, wash_off_time=2.75 * H)
    p, raw = T.run(T.FINITE_LAYERS, **kw)
    dose = p.dose
    L = len(p.layers)
    b, rem, _ = T.slots(p)
    rows = []
    for label, factor in (("same grid", 1), ("grid refined 4x", 4)):
        t0 = time.perf_counter()
        cells = [(s.stop - s.start) * factor for s in p.grid.layer_slices]
        fine = Problem1D.from_layers(T.FINITE_LAYERS, resolution=cells, **kw)
        ref = T.method_of_lines(fine)
        wall = time.perf_counter() - t0
        errs = [np.max(np.abs(vehicle_amount(p, raw) - ref["vehicle"])),
                np.max(np.abs(tissue_amounts(p, raw) - ref["layers"])),
                np.max(np.abs(raw.comp[:, :3 * L] - ref["losses"])),
                np.max(np.abs(raw.comp[:, b] - ref["sink"])),
                np.max(np.abs(raw.comp[:, rem] - ref["removed"]))]
        rows.append([label, str(fine.grid.n)] + [e(x / dose) for x in errs] + [f"{wall:.1f}"])
    table(["MOL reference (BDF, rtol 1e-11)", "cells", "vehicle", "layers", "losses per layer", "sink",
           "washed off", "ref. time (s)"], rows)
    print(f"exodiff: {p.grid.n} cells, {raw.stats['steps']} steps ({raw.stats['rejected']} rejected); "
          f"washed off {raw.comp[-1, rem] / dose:.3g} of the dose; "
          f"mass balance max {e(np.max(np.abs(mass_balance_error(p, raw))))}.\n")
    # depletion and equilibrium
    t = np.concatenate([np.linspace(0, 48 * H, 25), np.linspace(3, 30, 28) * 24 * H])
    p, raw = T.run(T.FINITE_LAYERS, output_times=t[1:], vehicle="finite", vehicle_thickness=20e-6)
    v = vehicle_amount(p, raw) / p.dose
    print(f"Depletion (same layers, no wash-off, 30 days): vehicle {e(v[-1])} of the dose, largest increase "
          f"between outputs {e(max(np.diff(v).max(), 0.0))}, tissue {e(tissue_amounts(p, raw).sum(1)[-1] / p.dose)}, "
          f"losses + sink {1 - raw.comp[-1, :T.slots(p)[0] + 1].sum() / p.dose:+.1e} from the dose, "
          f"mass balance max {e(np.max(np.abs(mass_balance_error(p, raw))))}.\n")
    layers = [Layer("a", 15e-6, 2e-13, 5.0), Layer("b", 60e-6, 5e-12, 0.5), Layer("c", 200e-6, 2e-11, 2.0)]
    probe = Problem1D.from_layers(layers, output_times=[1.0], vehicle="finite", bottom="no_flux")
    C, A, _, _ = T.semi_discretisation(probe)
    from scipy.linalg import eigh
    Tsl = 1.0 / np.sort(np.abs(eigh(A, np.diag(C), eigvals_only=True)))[1]
    p, raw = T.run(layers, output_times=[Tsl, 40 * Tsl], vehicle="finite", bottom="no_flux", vehicle_thickness=20e-6)
    cap = np.array([20e-6] + [ly.partition * ly.thickness for ly in layers])
    got = np.concatenate([vehicle_amount(p, raw)[-1:], tissue_amounts(p, raw)[-1]]) / p.dose
    print(f"Partition equilibrium (no loss, no-flux bottom, 40 slowest time constants): max error "
          f"{e(np.max(np.abs(got - cap / cap.sum())))} of the dose.\n")


def space_order():
    print("### Order in space\n")
    D, K, h = 1e-13, 2.0, 10e-6
    lag = h * h / (6 * D)
    t = np.linspace(0, 3 * lag, 13)
    rows, prev = [], None
    for cells in (6, 12, 24, 48, 96, 192):
        p, raw = T.run([Layer("m", h, D, K)], output_times=t[1:], vehicle="infinite", resolution=[cells],
                       tolerance=1e-10)
        Qa = T.crank_amount(raw.times, D, K, h, 1.0)
        err = np.max(np.abs(raw.comp[:, T.slots(p)[0]] - Qa)) / Qa[-1]
        _, Qs = T.exact_semi_discrete(p, raw.times)
        terr = np.max(np.abs(raw.comp[:, T.slots(p)[0]] - Qs)) / Qa[-1]
        rows.append([str(cells), str(raw.stats["steps"]), e(err, 3), f"{np.log2(prev / err):.3f}" if prev else "",
                     e(terr)])
        prev = err
    print("Membrane against Crank's series, tolerance 1e-10, error max over t <= 3 lag of |Q - Qa| / Qa(3 lag); "
          "the last column is the time-integration part (against the exact semi-discrete solution):\n")
    table(["cells", "steps", "error", "order", "time part"], rows)
    layers = [Layer("a", 15e-6, 1e-13, 1.0, degradation_rate=1e-5), Layer("b", 60e-6, 1e-12, 100.0, uptake_rate=2e-5),
              Layer("c", 200e-6, 1e-11, 1.0, clearance_rate=1e-4)]
    t = np.array([2.0, 6.0, 12.0, 24.0]) * H
    res = []
    for s in (1, 2, 4, 8, 16):
        p, raw = T.run(layers, output_times=t, vehicle="finite", resolution=[8 * s] * 3, tolerance=1e-10)
        res.append(np.column_stack([tissue_amounts(p, raw), raw.comp]) / p.dose)
    d = [np.max(np.abs(a - b)) for a, b in zip(res, res[1:])]
    rows = [[f"{8 * s}/{16 * s}", e(d[i], 3), f"{np.log2(d[i - 1] / d[i]):.3f}" if i else ""]
            for i, s in enumerate((1, 2, 4, 8))]
    print("Laminate (K 1/100/1, finite dose, losses), Richardson: max difference of every layer amount and "
          "compartment / dose at 2, 6, 12, 24 h between successive grids:\n")
    table(["cells per layer", "difference", "order"], rows)
    rows, prev = [], None
    for cells in (12, 24, 48, 96):
        p, ep, ej = loss_slab(50e-6, 1e-12, 2.0, 1e-2, "sink", resolution=[cells], tolerance=1e-9)
        rows.append([str(cells), e(ep, 3), f"{np.log2(prev[0] / ep):.3f}" if prev else "", e(ej, 3),
                     f"{np.log2(prev[1] / ej):.3f}" if prev else ""])
        prev = (ep, ej)
    print("Steady loss profile (h/l = 5, sink), tolerance 1e-9:\n")
    table(["cells", "profile err", "order", "flux err", "order"], rows)


def time_order():
    print("### Order in time (adaptive steps)\n")
    layers = [Layer("a", 15e-6, 1e-13, 1.0, degradation_rate=1e-5), Layer("b", 60e-6, 1e-12, 100.0, uptake_rate=2e-5),
              Layer("c", 200e-6, 1e-11, 1.0, clearance_rate=1e-4)]
    t = np.array([2.0, 6.0, 12.0, 24.0]) * H
    tols = np.array([1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9])
    rows, steps, errs = [], [], []
    for tol in tols:
        p, raw = T.run(layers, output_times=t, vehicle="finite", resolution=[12] * 3, tolerance=tol)
        u_ex, sink_ex = T.exact_semi_discrete(p, raw.times)
        C = T.semi_discretisation(p)[0]
        err = max(np.max(np.abs((raw.u - u_ex) * C)[:, 1:]),
                  np.max(np.abs(raw.comp[:, T.slots(p)[0]] - sink_ex))) / p.dose
        steps.append(raw.stats["steps"])
        errs.append(err)
        rows.append([e(tol, 0), str(raw.stats["steps"]), str(raw.stats["rejected"]), e(err, 2)])
    print("Laminate (K 1/100/1, finite dose, losses), 12 cells per layer; error = max over outputs of "
          "|amount - exact| / dose over every cell and the sink, exact = eigen-solution of the "
          "semi-discrete system:\n")
    table(["tolerance", "steps", "rejected", "error"], rows)
    sel = (tols <= 1e-4) & (tols >= 1e-8)
    s1 = np.polyfit(np.log(np.array(steps)[sel]), np.log(np.array(errs)[sel]), 1)[0]
    s2 = np.polyfit(np.log(tols[sel]), np.log(np.array(errs)[sel]), 1)[0]
    print(f"Fit over tolerances 1e-4..1e-8: slope of log(error) against log(steps) {s1:.3f}, "
          f"against log(tolerance) {s2:.3f}.\n")


def kernel_vs_reference():
    print("### Compiled kernel against the numpy reference\n")
    rows = []
    for i, p in enumerate(T.small_problems()):
        a = run_column(p, column1d.integrate_column)
        t0 = time.perf_counter()
        b = integrate_reference(p)
        wall = time.perf_counter() - t0
        cap = p.kernel_arrays()["cap"]
        du = np.max(np.abs((a.u - b.u) * cap)) / p.amount_scale()
        dc = np.max(np.abs(a.comp - b.comp) / np.maximum(np.abs(a.comp).max(axis=0), p.amount_scale()))
        rows.append([str(i), str(len(p.layers)), str(p.grid.n), p.vehicle, p.bottom,
                     f"{a.stats['steps']}/{b.stats['steps']}", f"{a.stats['rejected']}/{b.stats['rejected']}",
                     e(du), e(dc), f"{wall:.2f}"])
    table(["case", "layers", "cells", "vehicle", "bottom", "steps", "rejected", "cells diff", "comp. diff",
           "reference (s)"], rows)


def random_stacks(n=300, seed=1):
    """The wide random stacks used to find the mass-balance leak (as in the investigation)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        L = rng.integers(1, 5)
        layers = [Layer(f"l{i}", 10 ** rng.uniform(-5.3, -2.7), 10 ** rng.uniform(-14, -9.5), 10 ** rng.uniform(-2, 2),
                        degradation_rate=rng.choice([0, 10 ** rng.uniform(-7, -3)]),
                        uptake_rate=rng.choice([0, 10 ** rng.uniform(-7, -3)]),
                        clearance_rate=rng.choice([0, 10 ** rng.uniform(-7, -3)])) for i in range(L)]
        vehicle = rng.choice(["finite", "infinite"])
        bottom = rng.choice(["sink", "no_flux"])
        kw = {}
        if vehicle == "finite":
            if rng.random() < 0.5:
                kw.update(evaporation_fraction=rng.uniform(0, 0.9), evaporation_time=10 ** rng.uniform(2, 4))
            if rng.random() < 0.5:
                kw.update(wash_off_time=rng.uniform(0.5, 20) * H)
        t = np.linspace(0, 10 ** rng.uniform(0, 2.5) * H, 25)
        out.append(Problem1D.from_layers(layers, output_times=t[1:], vehicle=str(vehicle), bottom=str(bottom),
                                         vehicle_thickness=10 ** rng.uniform(-5.7, -4), **kw))
    return out


def deviations():
    print("### Round-off: mass balance and undershoot on random stacks\n")
    mb = {"finite": [], "infinite": []}
    neg_c, neg_m = [], []
    for p in random_stacks():
        raw = run_column(p, column1d.integrate_column)
        mb[p.vehicle].append(np.max(np.abs(mass_balance_error(p, raw))))
        c = T.concentrations(p, raw)
        neg_c.append(max(0.0, -c.min()) / c.max())
        m = raw.u * p.kernel_arrays()["cap"]
        neg_m.append(max(0.0, -m[:, 1:].min()) / (p.tolerance * 1e-3 * p.amount_scale()))
    allmb = np.array(mb["finite"] + mb["infinite"])
    rows = [[v, str(len(x)), e(np.max(x)), e(np.median(x)), str(int(np.sum(np.array(x) > 1e-12))),
             str(int(np.sum(np.array(x) > 1e-13)))] for v, x in mb.items()]
    print("300 random stacks (1-4 layers, 5 um - 2 mm, D 1e-14 - 3e-10 m2/s, K 0.01 - 100, rates up to 1e-3/s, "
          "either vehicle and bottom, evaporation, wash-off); relative mass balance error, max over outputs:\n")
    table(["vehicle", "runs", "worst", "median", "> 1e-12", "> 1e-13"], rows)
    neg_c = np.array(neg_c)
    print(f"Undershoot: {int(np.sum(neg_c > 1e-12))} of 300 runs have min c < -1e-12 max c (worst "
          f"{e(neg_c.max())} of the peak concentration); the most negative cell amount is "
          f"{e(np.max(neg_m))} of the absolute tolerance.  Mass balance over all runs: worst {e(allmb.max())}.\n")


def main():
    print(f"<!-- generated by docs/gen_validation.py: exodiff {exodiff.__version__}, numpy {np.__version__}, "
          f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
          f"integrator {Problem1D.integrator} (the default) -->\n")
    t0 = time.perf_counter()
    integrate(Problem1D.from_layers([Layer("warm", 10e-6, 1e-13, 1.0)], output_times=[60.0]))  # compile first
    for part in (crank, laminate, loss, finite_dose, space_order, time_order, kernel_vs_reference, deviations):
        part()
    print(f"<!-- {time.perf_counter() - t0:.0f} s -->")


if __name__ == "__main__":
    main()
