"""Mass-balance error and undershoot against stiffness, over random extreme but valid 1D problems.

    python benchmarks/stiff_regimes.py

Each problem: 1-3 layers (thickness 1 um-10 cm, D 1e-15-1e-5 m^2/s, K 0.01-100,
optional clearance), finite or constant donor, sink or closed bottom, 24 h.
``S`` is the fastest exchange rate of any node, ``(g_left + g_right) / C``,
times the output interval (1 h): how many times faster than a step the
stiffest cell relaxes.  Printed per problem: the worst relative mass-balance
error and the worst undershoot (most negative concentration / largest).
It measures where the 1D solver's promises (balance 1e-9, undershoot
1.5e-9 of the peak, docs/validation.md) stop holding: issue 14 item 9 and the
solver issue.  Measured 2026-12-06 (seed 7): the balance stays below 1e-12
up to S ~ 1e9 and reaches 5e-8 at S ~ 5e12; undershoots of 2e-7 to 0.13 of
the peak appear from S ~ 1e11.
"""
import sys, numpy as np
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "tests"))
from exodiff.problem.layered import Layer, Problem1D
from exodiff.solvers.ledger import mass_balance_error, tissue_amounts
from twins.reference_1d import run_column
from exodiff.kernels.column1d import integrate_column
H = 3600.0
rng = np.random.default_rng(7)
rows = []
for case in range(60):
    L = rng.integers(1, 4)
    layers = [Layer(f"l{i}", 10 ** rng.uniform(-6, -1), 10 ** rng.uniform(-15, -5), 10 ** rng.uniform(-2, 2),
                    clearance_rate=rng.choice([0.0, 10 ** rng.uniform(-6, -3)])) for i in range(L)]
    vehicle = rng.choice(["finite", "infinite"])
    p = Problem1D.from_layers(layers, output_times=np.linspace(0, 24 * H, 25)[1:], vehicle=vehicle,
                              bottom=rng.choice(["sink", "no_flux"]), vehicle_thickness=10 ** rng.uniform(-5.5, -4))
    arr = p.kernel_arrays()
    cap, g = arr["cap"], arr["g"]
    n = cap.size
    rate = np.array([(g[i] + g[i + 1]) / cap[i] if cap[i] > 0 else 0.0 for i in range(n)])
    S = float(rate.max() * 3600.0)  # fastest exchange x the output interval
    try:
        raw = run_column(p, integrate_column)
    except RuntimeError as e:
        rows.append((S, np.nan, np.nan)); continue
    err = float(np.abs(mass_balance_error(p, raw)).max())
    u = raw.u[:, p.cell_nodes] * p.cell_values("partition")
    neg = float(-min(u.min(), 0) / max(u.max(), 1e-300))
    rows.append((S, err, neg))
rows = np.array(rows)
order = np.argsort(rows[:, 0])
for S, e, neg in rows[order]:
    print(f"S={S:9.2e}  err={e:9.2e}  eps*S={2.2e-16*S:9.2e} eps*sqrtS={2.2e-16*np.sqrt(S):9.2e} neg={neg:9.2e}")
