"""Carrier and cargo: a released cargo tracked as a second species.

Both ledgers close to round-off; one-way coupling leaves the vesicles
untouched; a well-mixed case matches the analytic release-and-decay curve;
outputs carry a species dimension and the CLI writes them.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import exodiff
from exodiff import cli
from exodiff.results import metrics
from exodiff.errors import ScenarioError

from cargo_cases import MIRNA, run
from cargo_cases import MIRNA_RUN as BASE

@pytest.fixture(scope="module")
def ds():
    return run()


def test_outputs_carry_a_species_dimension(ds):
    assert list(ds["species"].values) == ["vesicle", "cargo"]
    assert ds["fraction"].dims == ("time", "species", "compartment")
    assert ds["concentration"].dims == ("time", "species", "depth")
    assert "released" in ds["compartment"].values and "released" in ds["process"].values
    assert ds.attrs["cargo_unit"] == "ng" and ds.attrs["cargo_loading"] == pytest.approx(2e-8)
    np.testing.assert_allclose(ds["cargo_amount"].values, ds["amount"].sel(species="cargo").values * 2e-8)
    # no species dimension without a cargo
    plain = run({"formulation.cargo": None})
    assert "species" not in plain.dims and "released" not in plain["compartment"].values


def test_both_ledgers_close_to_round_off(ds):
    assert float(abs(ds["mass_balance_error"]).max()) < 1e-12
    np.testing.assert_allclose(ds["fraction"].sum("compartment").values, 1.0, rtol=0, atol=1e-12)
    # the cargo's released entry is zero; the vesicles' counts carriers that set theirs free
    assert np.all(ds["fraction"].sel(species="cargo", compartment="released").values == 0)
    assert float(ds["fraction"].sel(species="vesicle", compartment="released")[-1]) > 0
    # free cargo = what the vesicles set free, less what has gone (checked through the ledger above);
    # it is never negative beyond round-off
    free = ds["free_cargo_amount"].values
    assert free.min() >= -1e-12 * free.max()


def test_cargo_splits_into_free_and_encapsulated(ds):
    ves = ds["amount"].sel(species="vesicle")
    car = ds["amount"].sel(species="cargo")
    free = ds["free_cargo_amount"]
    for place in ("vehicle", "stratum_corneum", "viable_epidermis", "dermis", "taken_up", "removed"):
        np.testing.assert_allclose(car.sel(compartment=place).values,
                                   ves.sel(compartment=place).values + free.sel(compartment=place).values,
                                   rtol=1e-12, atol=1e-300)


def test_one_way_coupling_leaves_the_vesicles_unchanged():
    """Without release the cargo column stays empty and the vesicles solve as alone (same steps, to round-off)."""
    quiet = dict(MIRNA, release_rate="0 1/h", release_on_degradation=0.0)
    with_cargo = run({"formulation.cargo": quiet})
    alone = run({"formulation.cargo": None})
    assert with_cargo.attrs["solver_steps"] == alone.attrs["solver_steps"]
    a = alone["amount"].values
    np.testing.assert_allclose(with_cargo["amount"].sel(species="vesicle").values[:, :-1], a, rtol=1e-12,
                               atol=1e-13 * np.abs(a).max())
    # and the cargo then simply rides inside the vesicles
    np.testing.assert_allclose(with_cargo["fraction"].sel(species="cargo").values,
                               with_cargo["fraction"].sel(species="vesicle").values, rtol=0, atol=1e-15)


def test_release_and_decay_in_a_well_mixed_layer_match_the_analytic_curve():
    """Vehicle + one thin, fast layer, no flux below: vesicles V and free cargo C are well mixed.

    With phi = K h / (h_v + K h) the share of an amount that sits in the layer,
    dV/dt = -(k_rel + k_deg) phi_v V and dC/dt = (k_rel + f k_deg) phi_v V - k_c phi_c C, so
    C(t) = (k_rel + f k_deg) phi_v V0 (exp(-a t) - exp(-b t)) / (b - a).
    """
    k_rel, k_deg, k_c = 0.3 / 3600, 0.1 / 3600, 0.5 / 3600
    f = 0.5
    h_v, h = 20e-6, 10e-6
    Kv, Kc = 0.4, 1.0
    scenario = {
        "skin": {"preset": "none", "bottom": "no_flux",
                 "layers": {"gel": {"thickness": "10 um", "diffusivity": "1e-5 cm^2/s", "partition": Kv,
                                    "degradation_rate": "0.1 1/h", "hindrance": "none"}}},
        "formulation": {"kind": "vesicle", "diameter": "100 nm", "dose": "1e10 particles/cm^2",
                        "vehicle_thickness": "20 um",
                        "cargo": {"release_rate": "0.3 1/h", "release_on_degradation": f, "free_diffusivity":
                                  "1e-5 cm^2/s", "half_life": f"{math.log(2) / 0.5!r} h", "log_kow": 0.0,
                                  "molecular_weight": "300 g/mol"}},
        "simulation": {"duration": "8 h", "output_interval": "1 h", "tolerance": 1e-8},
    }
    # the cargo in the gel has K = 1 ("none" hindrance, accessible fraction 1)
    ds = exodiff.run(exodiff.load_scenario(scenario))
    t = ds["time"].values * 3600
    phi_v = Kv * h / (h_v + Kv * h)
    phi_c = Kc * h / (h_v + Kc * h)
    a = (k_rel + k_deg) * phi_v
    b = k_c * phi_c
    V = np.exp(-a * t)
    C = (k_rel + f * k_deg) * phi_v * (np.exp(-a * t) - np.exp(-b * t)) / (b - a)
    frac = ds["fraction"]
    ves = frac.sel(species="vesicle", compartment=["vehicle", "gel"]).sum("compartment").values
    free = ds["free_cargo_amount"].sel(compartment=["vehicle", "gel"]).sum("compartment").values / \
        float(ds.attrs["applied_dose"])
    np.testing.assert_allclose(ves, V, rtol=2e-4)
    np.testing.assert_allclose(free[1:], C[1:], rtol=2e-3)
    assert float(abs(ds["mass_balance_error"]).max()) < 1e-12


def test_polydisperse_with_cargo_closes_both_ledgers():
    ds = run({"formulation.gsd": 1.5, "formulation.size_classes": 5, "output.per_class": True})
    assert ds.sizes["size_class"] == 5 and ds.sizes["species"] == 2
    assert float(abs(ds["mass_balance_error"]).max()) < 1e-12
    np.testing.assert_allclose(ds["class_amount"].sum("size_class").values, ds["amount"].sel(species="vesicle").values,
                               rtol=1e-12, atol=1e-12 * float(ds["amount"].max()))


def test_infinite_donor_with_cargo():
    ds = run({"formulation.vehicle": "infinite", "formulation.concentration": "5e14 particles/cm^3",
              "formulation.dose": None, "formulation.wash_off_time": None})
    assert float(abs(ds["mass_balance_error"]).max()) < 1e-12


def test_metrics_per_species(ds):
    s = metrics.summary(ds)
    assert "cargo_delivered_target" in s and "delivered_target" in s
    assert s["cargo_fraction_taken_up"] >= s["fraction_taken_up"]


def test_cli_run_with_cargo(tmp_path):
    scen = tmp_path / "c.toml"
    scen.write_text(exodiff.load_scenario(BASE).text)
    out = tmp_path / "out"
    assert cli.main(["run", str(scen), "-o", str(out), "--quiet", "--no-plots"]) == 0
    summ = json.loads((out / "summary.json").read_text())
    assert "cargo_delivered_target" in summ["metrics"]


@pytest.mark.parametrize("cargo,key", [
    ({"loading": "2 um/particle"}, "formulation.cargo.loading"),
    ({"release_rate": "0.1 h"}, "formulation.cargo.release_rate"),
    ({"colour": "red"}, "formulation.cargo.colour"),
    ({"release_on_degradation": 2.0}, "formulation.cargo.release_on_degradation"),
])
def test_bad_cargo_tables(cargo, key):
    with pytest.raises(ScenarioError) as exc:
        exodiff.load_scenario(BASE, {"formulation.cargo": dict(MIRNA, **cargo)})
    assert key in [i.key for i in exc.value.issues]


def test_cargo_needs_its_own_properties():
    with pytest.raises(ScenarioError) as exc:
        exodiff.load_scenario(BASE, {"formulation.cargo": {"release_rate": "0.1 1/h"}})
    keys = [i.key for i in exc.value.issues]
    assert any(k.startswith("formulation.cargo.") for k in keys), keys


def test_cargo_for_a_small_molecule_is_refused():
    with pytest.raises(ScenarioError) as exc:
        exodiff.load_scenario(BASE, {"formulation.preset": "caffeine"})
    assert "formulation.cargo" in [i.key for i in exc.value.issues]
