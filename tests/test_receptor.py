"""In-vitro mode: a Franz cell's finite, well-mixed receptor below the skin (``skin.bottom = "receptor"``).

Checked against what does not come from exodiff's receptor code: the mass
balance (round-off), a sink (the limit of a receptor too large to push
back), the partition equilibrium of a closed cell (algebra), and the
sampling recurrence applied by hand to the cumulative amount of an
independent sink run.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import exodiff
from exodiff.errors import ScenarioError

H = 3600.0

#: a homogeneous membrane under a finite film: everything ends up in the cell
MEMBRANE = {
    "meta": {"name": "membrane in a Franz cell"},
    "skin": {"preset": "none", "bottom": "receptor",
             "layers": {"membrane": {"thickness": "100 um", "diffusivity": "1e-8 cm^2/s", "partition": 0.5}}},
    "formulation": {"preset": "custom", "vehicle": "finite", "concentration": "1 mg/cm^3",
                    "vehicle_thickness": "100 um"},
    "receptor": {"volume": "0.5 mL", "area": "1 cm^2"},
    "simulation": {"duration": "24 h", "output_interval": "1 h", "tolerance": 1e-7},
}


def _run(over=None, base=MEMBRANE):
    user = copy.deepcopy(base)
    for key, value in (over or {}).items():
        node = user
        *path, last = key.split(".")
        for p in path:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return exodiff.run(exodiff.load_scenario(user))


def _amount(ds, comp):
    return ds["amount"].sel(compartment=comp).values


def test_a_closed_cell_conserves_mass_to_round_off():
    ds = _run()
    assert float(np.max(np.abs(ds["mass_balance_error"].values))) < 1e-12
    total = ds["amount"].sum("compartment").values
    dose = float(ds.attrs["applied_dose"])
    assert np.max(np.abs(total - dose)) / dose < 1e-12
    assert "sampled" in ds["compartment"].values and np.all(_amount(ds, "sampled") == 0.0)


def test_a_closed_cell_reaches_partition_equilibrium():
    """Long after application: u equal in film, membrane and receptor, amounts as their capacities."""
    ds = _run({"simulation.duration": "400 h", "simulation.output_interval": "20 h"})
    h_v, h_m, K, depth = 100e-6, 100e-6, 0.5, 0.5e-6 / 1e-4  # m, m, -, receptor volume per area (m)
    K_r = 1.0 * K  # receptor partition 1 relative to the membrane
    caps = np.array([h_v, K * h_m, K_r * depth])
    expected = caps / caps.sum()
    got = np.array([_amount(ds, c)[-1] for c in ("vehicle", "membrane", "receptor")]) / float(ds.attrs["applied_dose"])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)
    # the receptor concentration is the receptor amount over its volume per area, per mL
    c_r = _amount(ds, "receptor")[-1] / (depth * 100.0)  # per cm^2 / cm = per cm^3
    assert ds["receptor_concentration"].values[-1] == pytest.approx(c_r, rel=1e-12)


@pytest.mark.parametrize("vehicle", ["finite", "infinite"])
def test_a_receptor_too_large_to_push_back_is_a_sink(vehicle):
    over = {"formulation.vehicle": vehicle, "receptor.volume": "1e9 L"}
    cell = _run(over)
    sink = _run({**over, "skin.bottom": "sink", "receptor": None})
    q_cell, q_sink = _amount(cell, "receptor"), _amount(sink, "receptor")
    assert q_sink[-1] > 0.1 * float(sink.attrs["applied_dose"]) or vehicle == "infinite"
    np.testing.assert_allclose(q_cell, q_sink, rtol=1e-5, atol=1e-9 * q_sink[-1])
    np.testing.assert_allclose(cell["flux_receptor"].values, sink["flux_receptor"].values, rtol=1e-4,
                               atol=1e-6 * float(np.max(sink["flux_receptor"].values)))


def test_a_finite_receptor_slows_the_flux_by_its_back_pressure():
    small = _run({"receptor.volume": "0.05 mL"})
    large = _run({"receptor.volume": "50 mL"})
    q_small = _amount(small, "receptor")[-1]
    q_large = _amount(large, "receptor")[-1]
    assert q_small < q_large


def test_sampling_with_replacement_matches_the_hand_recurrence():
    """Samples take v/V of the well-mixed receptor and fresh fluid replaces them.

    With a receptor too large to push back, what crosses the skin is a sink
    run's cumulative amount ``Q(t)`` (an independent run).  Before the k-th
    sample the receptor holds ``A_k = (1 - f) A_{k-1} + Q(t_k) - Q(t_{k-1})``,
    and the samples took ``f sum A_k`` in all.
    """
    f = 0.3 / 5.0
    over = {"receptor.volume": "5e9 mL", "receptor.sample_volume": "3e8 mL", "receptor.sampling_interval": "2 h",
            "formulation.vehicle": "infinite"}
    cell = _run(over)
    sink = _run({"formulation.vehicle": "infinite", "skin.bottom": "sink", "receptor": None})
    t = cell["time"].values
    sample_k = np.flatnonzero(np.isclose(np.mod(t, 2.0), 0.0) & (t > 0))
    Q = _amount(sink, "receptor")
    A, prev, taken = 0.0, 0.0, 0.0
    for k in sample_k:
        A = (1.0 - f) * A + (Q[k] - prev)
        prev = Q[k]
        # recorded at the sampling time: the receptor as the sample finds it
        assert _amount(cell, "receptor")[k] == pytest.approx(A, rel=1e-4)
        taken += f * A
    # the last sample (at the end) is taken after the last record
    sampled_end = _amount(cell, "sampled")[-1]
    assert sampled_end == pytest.approx(taken - f * A, rel=1e-4)
    # receptor + sampled is the cumulative amount that crossed: the sink's
    np.testing.assert_allclose(_amount(cell, "receptor") + _amount(cell, "sampled"), Q, rtol=1e-4,
                               atol=1e-9 * Q[-1])
    assert float(np.max(np.abs(cell["mass_balance_error"].values))) < 1e-12


def test_batched_sweep_points_with_a_receptor_equal_single_runs():
    sc = exodiff.load_scenario(MEMBRANE, {"receptor.sampling_interval": "4 h"})
    table = {"mode": "zip", "skin.layers.membrane.partition": [0.3, 0.6, 0.9, 1.2]}
    ds = exodiff.sweep(sc, jobs=2, definition=table, batch=True)
    for i, k in enumerate(table["skin.layers.membrane.partition"]):
        alone = exodiff.run(sc.replace({"skin.layers.membrane.partition": k}))
        want = float(alone["fraction"].sel(compartment="receptor").values[-1])
        assert ds["fraction_receptor"].dims == ("point",)  # zip: one point dimension
        got = float(ds["fraction_receptor"].values[i])
        assert got == want


def test_sink_runs_book_what_crosses_the_bottom_to_the_receptor_not_to_cleared():
    ds = _run({"skin.bottom": "sink", "receptor": None})
    assert np.all(_amount(ds, "cleared") == 0.0)  # the membrane clears nothing itself
    assert _amount(ds, "receptor")[-1] > 0.0
    assert "sampled" not in ds["compartment"].values
    closed = _run({"skin.bottom": "no_flux", "receptor": None})
    assert np.all(_amount(closed, "receptor") == 0.0)


@pytest.mark.parametrize("over, key, expected", [
    ({"skin.bottom": "sink"}, "receptor", 'skin.bottom = "receptor"'),
    ({"receptor.sample_volume": "1 mL"}, "receptor.sample_volume", "less than receptor.volume"),
    ({"receptor.sampling_interval": "1 h", "receptor.sampling_times": ["1 h"]}, "receptor.sampling_times",
     "only one of them"),
    ({"receptor.sampling_times": ["1 h", "30 h"]}, "receptor.sampling_times[1]", "a time <= simulation.duration"),
    ({"receptor.volume": "5 cm"}, "receptor.volume", "a volume"),
    ({"receptor.preset": "frantz"}, "receptor.preset", "static_franz_cell"),
    ({"receptor.partition": -1.0}, "receptor.partition", "> 0"),
    ({"receptor.sampling_interval": "1e-190 h"}, "receptor.sampling_interval", "at most 100000 samples"),
    # below the sizes a scenario may give (scenario.core.MAGNITUDE): refused where it is read
    ({"receptor.sampling_interval": "1e-308 h"}, "receptor.sampling_interval", "between 1e-200 and 1e+200"),
])
def test_bad_receptor_input_is_one_clear_line(over, key, expected):
    user = copy.deepcopy(MEMBRANE)
    for k, v in over.items():
        node = user
        *path, last = k.split(".")
        for p in path:
            node = node.setdefault(p, {})
        node[last] = v
    with pytest.raises(ScenarioError) as err:
        exodiff.load_scenario(user)
    lines = err.value.lines()
    assert len(lines) == 1 and key in lines[0] and expected in lines[0], lines


def test_a_unit_cell_books_the_receptor_under_sink_conditions():
    """Through channels the receptor is a sink (no back-pressure), said in the result."""
    base = copy.deepcopy(MEMBRANE)
    base["delivery"] = {"method": "microneedle", "channel_depth": "60 um", "channel_diameter": "40 um",
                        "density": "100 cm^-2", "closure_time": "2 h"}
    base["formulation"]["free_diffusivity"] = "1e-5 cm^2/s"  # the open channel's fluid
    base["simulation"] = {"duration": "6 h", "output_interval": "1 h", "resolution": {"nr": 8, "nz": 12}}
    cell = _run(base=base)
    sink = _run({"skin.bottom": "sink", "receptor": None}, base=base)
    assert cell.attrs["receptor_model"] == "sink conditions"
    np.testing.assert_array_equal(_amount(cell, "receptor"), _amount(sink, "receptor"))
    assert _amount(cell, "receptor")[-1] > 0.0


def test_size_classes_and_a_cargo_in_a_franz_cell_keep_every_ledger():
    """Every column has its receptor node: size classes and a released cargo balance to round-off."""
    mirna = {"name": "miR-21", "loading": "2e-8 ng/particle", "release_rate": "0.05 1/h",
             "molecular_weight": "7000 g/mol", "log_kow": -5, "half_life": "30 min", "uptake_rate": "0.2 1/h"}
    base = {"skin": {"preset": "split_thickness", "layers": {"stratum_corneum": {"pore_radius": "30 nm"}}},
            "receptor": {"volume": "0.2 mL", "sampling_interval": "6 h", "sample_volume": "0.05 mL"},
            "formulation": {"preset": "msc_exosome", "gsd": 1.4, "cargo": mirna},
            "simulation": {"duration": "24 h", "output_interval": "1 h"}}
    ds = exodiff.run(exodiff.load_scenario(base))
    assert ds.attrs["size_classes"] > 1 and list(ds["species"].values) == ["vesicle", "cargo"]
    assert float(np.max(np.abs(ds["mass_balance_error"].values))) < 1e-12
    for sp in ("vesicle", "cargo"):
        amounts = ds["amount"].sel(species=sp)
        assert float(amounts.sel(compartment="receptor").values[-1]) > 0.0
        assert float(amounts.sel(compartment="sampled").values[-1]) > 0.0
    # the cargo's receptor holds free cargo and the cargo inside vesicles there: never less than the vesicles'
    rec = ds["amount"].sel(compartment="receptor")
    assert np.all(rec.sel(species="cargo").values >= rec.sel(species="vesicle").values * (1 - 1e-12))
