"""Regimens in the r-z unit cell: applications and procedure sessions as kernel events (docs/model.md, 1.2).

The references are independent of the kernel's events: the same problem run
application by application (each segment a one-application unit-cell run
started from the previous segment's cells, the film washed off and the
channel's age or a fresh procedure set by hand), the 1D regimen (a
laterally uniform unit cell), the numpy twin (tests/twins/reference_rz.py,
which keeps its own film and channel clock), and the ledger.
"""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from exodiff.errors import ScenarioError
from exodiff.problem.base import Layer
from exodiff.problem.unit_cell import CargoSpec, ProblemRZ
from exodiff.results.dataset import to_dataset
from exodiff.results.dataset_rz import to_dataset_rz
from exodiff.scenario.core import load_scenario
from exodiff.solvers.layered import integrate
from exodiff.solvers.ledger import balance_errors_rz, tissue_amounts_rz, vehicle_amount_rz
from exodiff.solvers.unit_cell import integrate_rz
from twins.reference_rz import integrate_reference

H = 3600.0
ROOT = Path(__file__).resolve().parents[1]
LAYERS = (
    Layer("stratum_corneum", 15e-6, 1e-14, 1.0),
    Layer("viable_epidermis", 60e-6, 2e-12, 1.0, degradation_rate=1e-5),
    Layer("dermis", 150e-6, 5e-12, 1.0, clearance_rate=2e-5),
)
TAU, DELAY = 3 * H, 600.0


def rz(apps=(8 * H, 16 * H), procs=(), join=False, evap=0.0, end=24 * H, tol=1e-6, radius=15e-6, **kw):
    """A small unit cell (channel through the SC into the epidermis, closing in 3 h) with a regimen."""
    return ProblemRZ.from_layers(LAYERS, channel_radius=radius, channel_depth=60e-6 if radius else 0.0,
                                 density=1e8, open_diffusivity=1e-11, closure_time=TAU, closure_delay=DELAY,
                                 output_times=np.arange(0.0, end + 1.0, 2 * H), resolution=(8, 10),
                                 concentration=1e3, vehicle_thickness=20e-6, tolerance=tol,
                                 evaporation_fraction=evap, evaporation_time=1800.0, application_times=tuple(apps),
                                 procedure_times=tuple(procs), join_film=join, **kw)


def rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def cargo_spec(free=0.3):
    layers = tuple(replace(ly, diffusivity=3 * ly.diffusivity) for ly in LAYERS)
    return CargoSpec(layers=layers, open_diffusivity=5e-11, release_on_degradation=0.5, encapsulation=1 - free,
                     free=free)


def with_cargo(p):
    layers = tuple(replace(ly, release_rate=2e-5) for ly in p.layers)
    return replace(p, layers=layers, cargo=cargo_spec())


# -- the kernel's events against segment restarts -------------------------------------------------

@pytest.mark.parametrize("procs,evap", [((), 0.0), ((), 0.6), ((16 * H,), 0.6), ((8 * H, 16 * H), 0.0)])
def test_regimen_with_wash_equals_the_applications_run_one_by_one(procs, evap):
    """Each application washes what is left off (to ``removed``) and puts a fresh film on, its evaporation clock
    restarted; a procedure session makes the channels again (``closure_delay`` before the film, amounts kept).

    Reference: one-application unit-cell runs, one per interval, each from
    the cells the last one left (amounts carried: ``u C_old / C_new``), the
    channel's age at its start set by hand (the time since the last session
    plus the delay).  Fixed steps of the same size in both, so the same
    arithmetic: equal to round-off.
    """
    p = rz(procs=procs, evap=evap)
    step = 60.0
    raw = integrate_rz(p, fixed_step=step)
    assert np.max(np.abs(balance_errors_rz(p, raw)["vesicle"])) < 1e-12
    starts = [*p.all_application_times, float(p.output_times[-1])]
    nz, nr = p.grid.shape
    L = len(p.layers)
    removed = 3 * L + 1
    m_seg = np.zeros((p.output_times.size, nz, nr))
    comp_seg = np.zeros_like(raw.comp)
    cells = np.zeros((nz, nr))     # amounts per cell
    comp = np.zeros(3 * L + 3)
    film_left = 0.0
    session = 0.0
    for a, b in zip(starts[:-1], starts[1:]):
        if a in procs:
            session = a
        comp[removed] += film_left  # washed off before the new application (recorded after it, as the kernel)
        comp_seg[np.flatnonzero(p.output_times == a)] = comp
        seg = replace(rz(apps=(), evap=evap), output_times=p.output_times[(p.output_times >= a)
                                                                          & (p.output_times <= b)] - a)
        seg = replace(seg, channel=replace(seg.channel, closure_delay=DELAY + a - session))
        cap0 = seg.capacity_at(0.0)
        r = integrate_rz(seg, fixed_step=step, initial_state=cells / cap0)
        idx = np.flatnonzero((p.output_times >= a) & (p.output_times <= b))
        caps = np.stack([seg.capacity_at(float(t)) for t in seg.output_times])
        m = r.u[:, 1:].reshape(-1, nz, nr) * caps
        m_seg[idx[1:]] = m[1:]
        comp_seg[idx[1:]] = comp + r.comp[1:]
        if a == 0.0:
            m_seg[0], comp_seg[0] = m[0], r.comp[0]
        cells = m[-1]
        comp = comp + r.comp[-1]
        film_left = vehicle_amount_rz(seg, r)[-1]
    caps = np.stack([p.capacity_at(float(t)) for t in p.output_times])
    m_reg = raw.u[:, 1:].reshape(-1, nz, nr) * caps
    dose = p.unit_dose
    assert np.max(np.abs(m_reg - m_seg)) <= 1e-11 * dose
    assert np.max(np.abs(raw.comp - comp_seg)) <= 1e-11 * dose
    # not trivial: every washed film left something, and the channels matter
    assert 1e-3 * dose < raw.comp[-1, removed] < 2 * dose
    assert m_reg[:, :, 0].sum(axis=1).max() > 1e-3 * dose


@pytest.mark.parametrize("join", [False, True])
def test_superposition_of_the_first_film_and_the_later_ones(join, monkeypatch):
    """The model is linear in the amounts and the schedule (films, washes, sessions) does not depend on them:
    the regimen's response is the first film's alone (later films empty) plus the later films' alone (the
    first empty).  Fixed steps, so the three runs do the same linear arithmetic: equal to round-off."""
    from exodiff.kernels import rz as K

    p = rz(procs=(16 * H,), join=join, evap=0.5)
    compiled = K.integrate_rz_serial
    C_DONOR, U_FLAT = 19, 28  # positions in the kernel's arguments (exodiff/kernels/rz.py)

    def run(first, later):
        calls = []

        def kernel(*args):
            args = list(args)
            if not calls:  # the driver's first film, before the first step
                args[U_FLAT][0] = first
            calls.append(1)
            args[C_DONOR] = later
            return compiled(*args)

        monkeypatch.setattr(K, "integrate_rz_serial", kernel)
        raw = integrate_rz(p, fixed_step=60.0, parallel=False, check=False)
        caps = np.stack([p.capacity_at(float(t)) for t in p.output_times])
        return raw.u[:, 1:].reshape(caps.shape) * caps, raw.comp

    c = p.concentration
    m_all, comp_all = run(c, c)
    m_first, comp_first = run(c, 0.0)
    m_later, comp_later = run(0.0, c)
    dose = p.unit_dose
    assert np.max(np.abs(m_all - m_first - m_later)) <= 1e-12 * dose
    assert np.max(np.abs(comp_all - comp_first - comp_later)) <= 1e-12 * dose
    # not trivial: both parts pass through the skin (and the first has left it by the end)
    assert m_first.sum(axis=(1, 2)).max() > 1e-2 * dose and m_later.sum(axis=(1, 2)).max() > 1e-2 * dose
    assert comp_first[-1, 3 * len(p.layers)] > 0.1 * dose


def test_procedure_sessions_restart_the_channel_clock():
    """Hand-built sequence: the channel cells' partition at each output follows ``exp(-(t - t_p + delay)/tau)``
    with ``t_p`` the last session; a session keeps the amount in each cell (only ``u = c/K`` jumps)."""
    sessions = (0.0, 8 * H, 16 * H)
    p = rz(procs=sessions[1:])
    k_open, k_t = p.channel.open_partition, 2.0
    p = replace(p, layers=(replace(p.layers[0], partition=k_t), *p.layers[1:]))
    ch = (p.grid.region == 1) & (p.grid.z.layer_of_cell[:, None] == 0)
    for t in p.output_times:
        tp = max(s for s in sessions if s <= t)
        phi = math.exp(-(t - tp + DELAY) / TAU)
        K = p.fields_at(float(t))["partition"][ch]
        assert np.allclose(K, k_t + (k_open - k_t) * phi, rtol=1e-14)
    # the left limit at a session: the old channel
    K = p.fields_at(8 * H, opened=0.0)["partition"][ch]
    assert np.allclose(K, k_t + (k_open - k_t) * math.exp(-(8 * H + DELAY) / TAU), rtol=1e-14)
    # amounts are kept through a session: run to just before and to the session
    q = replace(p, output_times=np.array([0.0, 8 * H - 1e-3, 8 * H]))
    raw = integrate_rz(q)
    tissue = tissue_amounts_rz(q, raw)
    assert tissue[2].sum() == pytest.approx(tissue[1].sum(), rel=1e-6)
    # and the check can tell: keeping u = c/K through the session instead would change the amount by ~1 %
    nz, nr = q.grid.shape
    kept_u = (raw.u[1, 1:].reshape(nz, nr) * q.capacity_at(8 * H)).sum()
    assert abs(kept_u / tissue[1].sum() - 1.0) > 1e-3
    assert np.max(np.abs(balance_errors_rz(q, raw)["vesicle"])) < 1e-12


# -- the 1D regimen, the ledger, the twin -------------------------------------------------------

@pytest.mark.parametrize("join", [False, True])
def test_laterally_uniform_regimen_equals_the_1d_regimen(join):
    """Without a channel the unit cell is the 1D column: its regimen (wash or join, evaporation restarted,
    a wash-off after each application) gives the 1D regimen's amounts and concentrations."""
    p = rz(radius=0.0, join=join, evap=0.5, tol=1e-8, wash_off_time=6 * H if not join else None)
    raw = integrate_rz(p)
    ds = to_dataset_rz(p, raw)
    col = p.column_problem()
    ds1 = to_dataset(col, integrate(col))
    assert rel(ds.amount, ds1.amount) < 1e-6
    assert rel(ds.concentration, ds1.concentration) < 1e-6
    np.testing.assert_allclose(ds["applied"].values, ds1["applied"].values, rtol=1e-15, atol=0)
    for key in ("applications", "application_times_h", "wash_before_reapplication", "applied_dose"):
        np.testing.assert_array_equal(ds.attrs[key], ds1.attrs[key])
    removed = float(ds.fraction.sel(compartment="removed")[-1])
    if join:
        assert removed == 0.0  # joined films, no wash-off: nothing leaves the skin's surface that way
    else:
        assert removed > 0.01  # what the 6 h wash-offs took


@pytest.mark.parametrize("join,evap,procs,cargo", [
    (False, 0.0, (), False), (True, 0.6, (), False), (False, 0.6, (16 * H,), False), (True, 0.0, (8 * H,), False),
    (False, 0.4, (16 * H,), True), (True, 0.4, (8 * H, 16 * H), True)])
def test_mass_balance_to_roundoff(join, evap, procs, cargo):
    """Vehicle + cells + compartments = the doses applied so far, to round-off, for both ledgers."""
    p = rz(procs=procs, join=join, evap=evap, wash_off_time=5 * H)
    if cargo:
        p = with_cargo(p)
    raw = integrate_rz(p)
    errs = balance_errors_rz(p, raw)
    assert set(errs) == ({"vesicle", "cargo"} if cargo else {"vesicle"})
    for name, e in errs.items():
        assert np.max(np.abs(e)) < 1e-12, name
    # each application added a dose: the vehicle jumps by one at 8 h (after the 5 h wash-off, from empty)
    j = int(np.flatnonzero(p.output_times == 8 * H)[0])
    assert vehicle_amount_rz(p, raw)[j] == pytest.approx(p.unit_dose, rel=1e-12)
    if cargo:
        # the free part of the cargo comes with each fresh film
        assert vehicle_amount_rz(p, raw, "cargo")[j] == pytest.approx(p.cargo.free * p.unit_dose, rel=1e-12)


@pytest.mark.parametrize("join,procs,cargo", [(False, (), False), (False, (8 * H,), False), (True, (4 * H,), True),
                                              (False, (4 * H, 8 * H), True)])
def test_kernel_matches_numpy_twin_with_applications_and_sessions(join, procs, cargo):
    """The compiled kernel and the numpy twin take the same steps through applications and sessions.

    At tolerance 1e-4 (400-580 steps): at 1e-6 this stiff little cell takes
    2000+ steps, several hundred rejected, and an error estimate within
    1e-14 of 1 now and then lets round-off pick a different step (measured).
    """
    p = rz(apps=(4 * H, 8 * H), procs=procs, join=join, evap=0.5, wash_off_time=3 * H, end=12 * H, tol=1e-4)
    if cargo:
        p = with_cargo(p)
    raw = integrate_rz(p)
    ref = integrate_reference(p)
    assert (raw.stats["steps"], raw.stats["rejected"]) == (ref.stats["steps"], ref.stats["rejected"])
    assert rel(raw.u, ref.u) < 1e-10 and rel(raw.comp, ref.comp) < 1e-10
    if cargo:
        assert rel(raw.u_cols[:, 1], ref.u_cols[:, 1]) < 1e-10 and rel(raw.comp_cols[:, 1], ref.comp_cols[:, 1]) < 1e-10


def test_parallel_kernel_takes_the_serial_steps_through_the_events():
    """The prange loop is compiled from the same source: same events, same steps (fast-math: last bits)."""
    p = with_cargo(rz(procs=(16 * H,), join=True, evap=0.6, wash_off_time=5 * H))
    ser = integrate_rz(p, parallel=False)
    par = integrate_rz(p, parallel=True)
    assert (ser.stats["steps"], ser.stats["rejected"]) == (par.stats["steps"], par.stats["rejected"])
    assert rel(par.u_cols, ser.u_cols) < 1e-10 and rel(par.comp_cols, ser.comp_cols) < 1e-10


def test_chunked_calls_carry_the_film_and_the_channel_clock():
    """A progress bar calls the kernel per chunk of outputs: the film and the session in fstate carry over."""
    p = rz(procs=(16 * H,), join=True, evap=0.6)
    one = integrate_rz(p)
    chunked = integrate_rz(p, progress=True)
    np.testing.assert_array_equal(one.u, chunked.u)
    np.testing.assert_array_equal(one.comp, chunked.comp)


# -- scenarios: keys, follicles, results ----------------------------------------------------------

MN = """
[skin]
preset = "forearm"
[formulation]
preset = "msc_exosome"
dose = "1e10 particles/cm^2"
vehicle_thickness = "20 um"
[delivery]
method = "microneedle"
device = "dermaroller_0_5mm"
[simulation]
duration = "60 h"
output_interval = "2 h"
resolution = { nr = 10, nz = 14 }
"""


def scenario(text, tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(text)
    return load_scenario(f)


def test_procedure_interval_and_flags_resolve_to_the_same_sessions(tmp_path):
    a = scenario(MN + '[regimen]\ninterval = "12 h"\napplications = 5\nprocedure_interval = "24 h"\n', tmp_path)
    b = scenario(MN + '[regimen]\ninterval = "12 h"\napplications = 5\n'
                 'procedure = [true, false, true, false, true]\n', tmp_path)
    assert a.resolved["regimen"]["procedure_times"] == b.resolved["regimen"]["procedure_times"] == \
        [0.0, 24 * H, 48 * H]
    c = scenario(MN + '[regimen]\ninterval = "12 h"\napplications = 5\n', tmp_path)
    assert "procedure_times" not in c.resolved["regimen"]


BAD = {
    "procedure with follicles": (
        MN.replace('method = "microneedle"\ndevice = "dermaroller_0_5mm"', 'method = "topical"\nfollicles = true')
        + '[regimen]\ninterval = "12 h"\napplications = 2\nprocedure_interval = "12 h"\n', "regimen.procedure_interval"),
    "both": ('[regimen]\ninterval = "12 h"\napplications = 2\nprocedure_interval = "12 h"\nprocedure = [true, true]\n',
             "regimen.procedure"),
    "flags not aligned": ('[regimen]\ninterval = "12 h"\napplications = 3\nprocedure = [true, false]\n',
                          "regimen.procedure"),
    "first flag false": ('[regimen]\ninterval = "12 h"\napplications = 2\nprocedure = [false, true]\n',
                         "regimen.procedure[0]"),
    "flags not bools": ('[regimen]\ninterval = "12 h"\napplications = 2\nprocedure = ["yes", "no"]\n',
                        "regimen.procedure"),
    "session off the applications": ('[regimen]\ninterval = "12 h"\napplications = 4\nprocedure_interval = "18 h"\n',
                                     "regimen.procedure_interval"),
    "interval not a time": ('[regimen]\ninterval = "12 h"\napplications = 2\nprocedure_interval = "12 um"\n',
                            "regimen.procedure_interval"),
    "interval zero": ('[regimen]\ninterval = "12 h"\napplications = 2\nprocedure_interval = "0 h"\n',
                      "regimen.procedure_interval"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_procedure_keys_are_one_line(case, tmp_path):
    text, key = BAD[case]
    with pytest.raises(ScenarioError) as info:
        scenario(text if text.startswith("\n") else MN + text, tmp_path)
    issues = info.value.issues
    assert len(issues) == 1, [str(i) for i in issues]
    assert issues[0].key == key
    assert "\n" not in str(issues[0])


def test_cli_exit_2_on_a_bad_procedure_key(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text(MN + '[regimen]\ninterval = "12 h"\napplications = 3\nprocedure = [true, false]\n')
    proc = subprocess.run([sys.executable, "-m", "exodiff", "run", str(f), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "regimen.procedure" in lines[0] and "bad.toml" in lines[0]
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def test_follicle_regimen_runs_with_fractions_of_the_total_dose(tmp_path):
    """Topical with follicles (the r-z unit cell, no procedure): a regimen works, fractions of every dose."""
    import exodiff
    from exodiff.results.metrics import summary

    text = MN.replace('preset = "msc_exosome"', 'preset = "liposome"').replace(
        'method = "microneedle"\ndevice = "dermaroller_0_5mm"', 'method = "topical"\nfollicles = true')
    sc = scenario(text + '[regimen]\ninterval = "12 h"\napplications = 4\nwash_before_reapplication = false\n',
                  tmp_path)
    ds = exodiff.run(sc)
    assert "radius" in ds.dims and ds.attrs["applications"] == 4
    assert "procedure_times_h" not in ds.attrs
    assert float(np.abs(ds.mass_balance_error).max()) < 1e-12
    # nothing washed off (joined films), the fractions of the four doses add up to 1
    assert float(ds.fraction.sel(compartment="removed")[-1]) == 0.0
    assert float(ds.fraction.isel(time=-1).sum()) == pytest.approx(1.0, rel=1e-10)
    s = summary(ds)
    assert s["accumulation_ratio"] > 1.0  # joined films pile up in the follicles and below


def test_microneedle_regimen_results_and_metrics(tmp_path):
    """The 1D regimen outputs come out of an r-z run: attributes, applied, accumulation ratio, last trough/peak;
    re-opened channels deliver more than a serum applied onto closed ones."""
    import exodiff
    from exodiff.results.metrics import summary

    base = '[regimen]\ninterval = "12 h"\napplications = 5\n'
    plain = exodiff.run(scenario(MN + base, tmp_path))
    redone = exodiff.run(scenario(MN + base + 'procedure_interval = "24 h"\n', tmp_path))
    for ds in (plain, redone):
        assert ds.attrs["applications"] == 5
        np.testing.assert_allclose(ds.attrs["application_times_h"], [0, 12, 24, 36, 48])
        assert float(np.abs(ds.mass_balance_error).max()) < 1e-12
        assert float(ds["applied"][-1]) == 1.0
    np.testing.assert_allclose(redone.attrs["procedure_times_h"], [0, 24, 48])
    np.testing.assert_allclose(plain.attrs["procedure_times_h"], [0])
    s0, s1 = summary(plain), summary(redone)
    for s in (s0, s1):
        for key in ("accumulation_ratio", "target_peak_fraction_last_interval",
                    "target_trough_fraction_last_interval"):
            assert math.isfinite(s[key])
        assert s["target_trough_fraction_last_interval"] <= s["target_peak_fraction_last_interval"]
    assert s1["delivered_target"] > 1.5 * s0["delivered_target"]


def test_shipped_monthly_microneedle_scenario_from_the_cli(tmp_path):
    """scenarios/regimen_microneedle_monthly.toml: dermaroller sessions with a serum between, in seconds."""
    import json

    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "exodiff", "run", str(ROOT / "scenarios/regimen_microneedle_monthly.toml"),
                           "-o", str(out), "--quiet", "--no-plots"], capture_output=True, text=True, cwd=tmp_path,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "summary.json").read_text())["metrics"]
    assert m["max_mass_balance_error"] < 1e-12
    assert m["accumulation_ratio"] > 0.0
    import xarray as xr

    with xr.open_dataset(out / "result.nc") as ds:
        assert len(ds.attrs["procedure_times_h"]) == 3
        assert ds.attrs["applications"] > 3


def test_size_classes_with_a_regimen_add_up(tmp_path):
    """Size classes through channels, each its own unit cell with the regimen: the classes' fractions add up to
    the part applied so far and the dose per application is the formulation's, not the first class's."""
    import exodiff

    text = MN.replace('vehicle_thickness = "20 um"', 'vehicle_thickness = "20 um"\ngsd = 1.3\nsize_classes = 3')
    ds = exodiff.run(scenario(text + '[regimen]\ninterval = "12 h"\napplications = 3\nprocedure = [true, false, '
                              'true]\n', tmp_path))
    assert ds.attrs["size_classes"] == 3
    assert float(np.abs(ds.mass_balance_error).max()) < 1e-12
    np.testing.assert_allclose(ds.fraction.sum("compartment").values, ds["applied"].values, rtol=0, atol=1e-12)
    assert ds.attrs["dose_per_application"] == pytest.approx(1e10, rel=1e-12)
    assert ds.attrs["applied_dose"] == pytest.approx(3e10, rel=1e-12)
    np.testing.assert_allclose(ds.attrs["procedure_times_h"], [0, 24])
