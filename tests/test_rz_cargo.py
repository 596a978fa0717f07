"""Cargo through channels: the free cargo as a second field of the r-z unit cell.

The vesicles release their cargo (``release_rate``, and a fraction of the
cargo of degraded vesicles) into a free-cargo field that takes the
vesicles' steps in the same compiled call (docs/numerics_rz.md, "A tracked
cargo").  Checked against the 1D cargo column (laterally uniform), the
two ledgers (round-off), the numpy twin (round-off, same steps), and from
a scenario file through the command line.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import exodiff
from exodiff import cli
from exodiff.problem.layered import Column, Layer
from exodiff.problem.unit_cell import CargoSpec, ProblemRZ
from exodiff.results import metrics
from exodiff.results.dataset import to_dataset
from exodiff.results.dataset_rz import to_dataset_rz
from exodiff.solvers.layered import integrate
from exodiff.solvers.ledger import balance_errors_rz, tissue_amounts_rz
from exodiff.solvers.unit_cell import integrate_rz
from twins.reference_rz import integrate_reference

HOUR = 3600.0
ROOT = Path(__file__).resolve().parents[1]

#: vesicles that release in every layer (and degrade, so release_on_degradation matters)
VESICLES = (
    Layer("stratum_corneum", 15e-6, 1e-15, 0.5, degradation_rate=1e-5, release_rate=5e-5),
    Layer("viable_epidermis", 70e-6, 1e-12, 1.0, uptake_rate=2e-5, release_rate=1e-4),
    Layer("dermis", 200e-6, 2e-12, 0.8, degradation_rate=3e-5, clearance_rate=5e-5, release_rate=2e-4),
)
#: the free cargo: a small, faster solute with its own partition and losses
CARGO = (
    Layer("stratum_corneum", 15e-6, 3e-14, 2.0, degradation_rate=2e-5),
    Layer("viable_epidermis", 70e-6, 2e-11, 1.0, uptake_rate=1e-4),
    Layer("dermis", 200e-6, 4e-11, 0.6, degradation_rate=5e-5, clearance_rate=2e-4),
)
SPEC = CargoSpec(layers=CARGO, open_diffusivity=4e-10, open_partition=1.0, release_on_degradation=0.4)
#: 70 % of the loaded cargo inside the vesicles, the rest free in the film from the start
PART = replace(SPEC, encapsulation=0.7, free=0.3)
CHANNEL_KW = dict(channel_radius=20e-6, channel_depth=120e-6, density=2e6, open_diffusivity=6e-12)
MIRNA = {"name": "miR-21", "loading": "2e-8 ng/particle", "release_rate": "0.05 1/h",
         "molecular_weight": "7000 g/mol", "log_kow": -5, "half_life": "30 min", "uptake_rate": "0.2 1/h"}
#: coarse unit cells keep the scenario tests quick (as tests/test_channels.py)
COARSE = {"simulation.resolution": {"nr": 24, "nz": 90}, "simulation.output_interval": "2 h"}


def rel(a, b):
    """Largest difference relative to the largest magnitude of the reference."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _column(p: ProblemRZ):
    """The 1D cargo run on the unit cell's depth grid: a vesicle column releasing into a cargo column."""
    spec = p.cargo
    cols = (Column("vesicle", VESICLES, 1.0, None, source_to=1), Column("cargo", CARGO, spec.free, None))
    return replace(p.column_problem(), columns=cols, release_on_degradation=spec.release_on_degradation,
                   encapsulation=spec.encapsulation)


@pytest.mark.parametrize("channel,spec", [("none", SPEC), ("closed from the start", SPEC), ("none", PART)],
                         ids=["no channel", "closed channel", "part encapsulated"])
def test_laterally_uniform_cargo_equals_1d(channel, spec):
    """No channel (or one closed from the start: tissue everywhere), cargo and vesicles equal the 1D cargo run.

    Same depth grid, a tight tolerance so that only the discretisations are
    compared (as the vesicle-only test in tests/test_rz.py).  Catches a
    source booked at the wrong place or stage, a released cargo missing from
    or counted twice in the compartments, the cargo's vehicle coupling, and
    the per-area amounts of the cargo variables.  The vesicles release at
    another rate in the stratum corneum than below it (1D's
    ``release_rate_stratum_corneum``); ``PART`` starts 30 % of the cargo free in the film.
    """
    kw = dict(output_times=np.linspace(0, 12 * HOUR, 7), tolerance=1e-8, evaporation_fraction=0.4,
              wash_off_time=6 * HOUR, cargo=spec)
    if channel == "none":
        p = ProblemRZ.from_layers(VESICLES, channel_radius=0.0, channel_depth=0.0, density=2e6, open_diffusivity=1.0,
                                  **kw)
    else:
        p = ProblemRZ.from_layers(VESICLES, **CHANNEL_KW, closure_time=0.0, **kw)
        assert p.grid.channel_rows > 0
    ds = to_dataset_rz(p, integrate_rz(p))
    col = _column(p)
    ds1 = to_dataset(col, integrate(col))
    assert list(ds.compartment.values) == list(ds1.compartment.values)
    assert list(ds.process.values) == list(ds1.process.values) == ["degraded", "taken_up", "cleared", "released"]
    # the cargo is really there: released, in the tissue, and lost from it
    car = ds1["amount"].sel(species="cargo")
    assert float(ds1["free_cargo_amount"].sel(compartment="dermis").max()) > 1e-4 * float(car.max())
    for name in ("amount", "free_cargo_amount", "concentration", "free_cargo_concentration", "loss_by_layer"):
        assert rel(ds[name], ds1[name]) < 1e-6, name


@pytest.mark.parametrize("vehicle,spec", [("finite", SPEC), ("infinite", SPEC), ("finite", PART), ("infinite", PART)],
                         ids=["finite", "infinite", "finite part encapsulated", "infinite part encapsulated"])
def test_both_ledgers_close_to_roundoff(vehicle, spec):
    """Vesicles: vehicle + tissue + compartments (released among them) = dose; cargo: free = what was set free.

    Closing channel (release and losses of channel cells change with time),
    coagulation zone, evaporating film and wash-off (the cargo in the film
    is washed off too).  Both to 1e-12; measured 7.5e-14 and 1.4e-15.  Free
    cargo stays non-negative.  With part of the cargo free from the start
    the ledger counts it as set free at application (1D's cargo ledger).
    """
    kw = dict(vehicle=vehicle, closure_time=1.5 * HOUR, coag_width=10e-6, coag_diffusivity_factor=0.3,
              coag_partition_factor=2.0, output_times=np.linspace(0, 24 * HOUR, 13), cargo=spec)
    if vehicle == "finite":
        kw.update(evaporation_fraction=0.6, evaporation_time=1200.0, wash_off_time=5 * HOUR)
    p = ProblemRZ.from_layers(VESICLES, **CHANNEL_KW, resolution=(24, 60), **kw)
    raw = integrate_rz(p)
    errs = balance_errors_rz(p, raw)
    assert set(errs) == {"vesicle", "cargo"}
    for name, e in errs.items():
        assert np.max(np.abs(e)) < 1e-12, name
    L = len(VESICLES)
    freed = raw.comp[-1, 3 * L:4 * L].sum()
    assert freed > 1e-3 * (p.unit_dose if vehicle == "finite" else raw.comp[-1, 4 * L + 2])
    assert tissue_amounts_rz(p, raw, "cargo")[-1].sum() > 0.0
    if vehicle == "finite":
        assert raw.comp_cols[-1, 1, 4 * L + 1] > 0.0  # free cargo back in the film, washed off with it
    uc = raw.u_cols[:, 1, 1:]
    assert uc.min() >= -1e-9 * uc.max()


@pytest.mark.parametrize("vehicle", ["finite", "infinite"])
def test_kernel_matches_numpy_twin(vehicle):
    """The compiled loop and the numpy/scipy twin (tests/twins/reference_rz.py): same steps, states to round-off.

    The twin assembles its own coefficients and the release source as a
    sparse matrix and solves each factor with a sparse direct solve; a
    closing channel and a wash-off exercise the time-dependent source and
    the event; part of the cargo starts free in the film.  Measured 2e-13
    (the cargo's state, infinite donor).
    """
    p = ProblemRZ.from_layers(VESICLES, **CHANNEL_KW, closure_time=HOUR, resolution=(6, 10), vehicle=vehicle,
                              output_times=[600.0, HOUR, 2 * HOUR, 6 * HOUR], cargo=PART,
                              wash_off_time=2 * HOUR if vehicle == "finite" else None)
    raw = integrate_rz(p, parallel=False)
    ref = integrate_reference(p)
    assert raw.stats["steps"] == ref.stats["steps"] and raw.stats["rejected"] == ref.stats["rejected"]
    for s in (0, 1):
        assert rel(raw.u_cols[:, s], ref.u_cols[:, s]) < 1e-10
        assert rel(raw.comp_cols[:, s], ref.comp_cols[:, s]) < 1e-10
    # the prange variant is the same algorithm
    par = integrate_rz(p, parallel=True)
    assert rel(par.u_cols, raw.u_cols) < 1e-10 and rel(par.comp_cols, raw.comp_cols) < 1e-10


def test_without_release_the_vesicles_are_untouched():
    """No release and no release on degradation: the vesicles solve as alone (same steps, bit for bit), no cargo."""
    kw = dict(**CHANNEL_KW, closure_time=HOUR, resolution=(12, 30), output_times=np.linspace(0, 6 * HOUR, 4),
              wash_off_time=2 * HOUR)
    quiet = tuple(replace(ly, release_rate=0.0) for ly in VESICLES)
    alone = integrate_rz(ProblemRZ.from_layers(quiet, **kw))
    both = integrate_rz(ProblemRZ.from_layers(quiet, cargo=replace(SPEC, release_on_degradation=0.0), **kw))
    assert both.stats["steps"] == alone.stats["steps"]
    np.testing.assert_array_equal(both.u, alone.u)
    L = len(VESICLES)
    np.testing.assert_array_equal(both.comp[:, :3 * L], alone.comp[:, :3 * L])
    np.testing.assert_array_equal(both.comp[:, 4 * L:], alone.comp[:, 3 * L:])
    assert not both.comp[:, 3 * L:4 * L].any() and not both.u_cols[:, 1].any()


def _needled(**over):
    sc = exodiff.load_scenario(ROOT / "scenarios/microneedle_msc_exosome.toml")
    return sc.replace({**COARSE, "formulation.cargo": MIRNA, **over})


def test_microneedle_cargo_from_the_cli_has_the_1d_cargo_variables(tmp_path):
    """A microneedle scenario with a cargo runs from the CLI; its Dataset has the 1D cargo run's variables."""
    import xarray as xr

    sc = _needled()
    scen = tmp_path / "mn_cargo.toml"
    scen.write_text(sc.text)
    out = tmp_path / "out"
    assert cli.main(["run", str(scen), "-o", str(out), "--quiet", "--no-plots"]) == 0
    summ = json.loads((out / "summary.json").read_text())
    assert summ["metrics"]["cargo_delivered_dermis"] > 0.0
    with xr.open_dataset(out / "result.nc") as ds:
        ds = ds.load()
    # the same scenario on intact skin: the 1D cargo run
    ds1 = exodiff.run(exodiff.load_scenario(
        {"skin": {"preset": "forearm"}, "formulation": {"preset": "msc_exosome", "cargo": MIRNA},
         "simulation": {"duration": "4 h", "output_interval": "2 h"}}))
    for name in ("amount", "fraction", "concentration", "loss_by_layer", "flux_systemic", "flux_receptor",
                 "flux_into_skin", "mass_balance_error", "applied_dose", "free_cargo_amount",
                 "free_cargo_concentration", "cargo_amount", "diffusivity", "partition"):
        assert ds[name].dims == ds1[name].dims, name
    for key in ("cargo_name", "cargo_loading", "cargo_unit", "cargo_release_on_degradation"):
        assert ds.attrs[key] == ds1.attrs[key], key
    assert list(ds.species.values) == ["vesicle", "cargo"]
    assert ds["concentration_rz"].dims == ("time", "species", "depth", "radius")
    assert float(np.abs(ds["mass_balance_error"]).max()) < 1e-12
    # channels deliver released cargo to the dermis, free
    assert float(ds["free_cargo_amount"].sel(compartment="dermis").max()) > 0.0
    np.testing.assert_allclose(ds["cargo_amount"].values, ds["amount"].sel(species="cargo").values * 2e-8)


def test_polydisperse_cargo_through_channels_adds_up():
    """Size classes with a cargo: each class carries its cargo; a narrow distribution approaches the monodisperse run.

    Also the ledgers of the sum (dose-weighted errors of the classes) stay at round-off.
    """
    mono = exodiff.run(_needled())
    narrow = exodiff.run(_needled(**{"formulation.gsd": 1.02, "formulation.size_classes": 3,
                                     "output.per_class": True}))
    assert narrow.attrs["size_classes"] == 3 and "size_class" in narrow.dims
    # the class variables are the vesicles' (as in 1D), and add up to the total
    assert narrow["class_amount"].dims == ("time", "size_class", "compartment")
    np.testing.assert_allclose(narrow["class_amount"].sum("size_class").values,
                               narrow["amount"].sel(species="vesicle").values, rtol=1e-12)
    assert float(np.abs(narrow["mass_balance_error"]).max()) < 1e-12
    sm, sn = metrics.summary(mono), metrics.summary(narrow)
    assert sn["cargo_delivered_dermis"] == pytest.approx(sm["cargo_delivered_dermis"], rel=2e-3)
    assert sn["delivered_dermis"] == pytest.approx(sm["delivered_dermis"], rel=2e-3)
    # every additive variable is summed over the classes (flux_receptor was the first class's, 1/6 of the
    # total here); the early arrival through the dermis is size-sensitive (measured 4 % at 10 h), so 10 %
    for name in ("flux_receptor", "flux_systemic", "flux_into_skin"):
        np.testing.assert_allclose(narrow[name].values, mono[name].values, rtol=0.1,
                                   atol=1e-3 * float(np.abs(mono[name]).max()), err_msg=name)
    np.testing.assert_allclose(narrow["free_cargo_amount"].values, mono["free_cargo_amount"].values, rtol=5e-3,
                               atol=1e-6 * float(mono["applied_dose"][0]))
