"""Physics against hand calculations, published numbers and monotonicity properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exodiff import data
from exodiff.errors import ParameterProblem
from exodiff.physics import Active, LayerCoefficients, coefficients_for, layer_coefficients
from exodiff.physics import rates, transport as tr
from exodiff.scenario.schema import FORMULATION, LAYER

PROP = settings(deadline=None, max_examples=200)

T32 = 305.15  # K
ETA32 = 0.764e-3  # Pa s, water at 32 degC
UM2_S = 1e-12


def d_free(r):
    return tr.stokes_einstein(r, T32, ETA32)


# -- Stokes-Einstein -------------------------------------------------------------
def test_stokes_einstein_100nm_32C():
    # k T / (6 pi eta r) = 1.380649e-23 * 305.15 / (6 pi 0.764e-3 * 50e-9) = 5.851 um^2/s
    assert d_free(50e-9) / UM2_S == pytest.approx(5.851, rel=1e-3)


@pytest.mark.parametrize("diameter_nm,expected", [(100, 5.9), (30, 19.5), (150, 3.9), (230, 2.5)])
def test_stokes_einstein_matches_parameters_table(diameter_nm, expected):
    assert d_free(diameter_nm * 0.5e-9) / UM2_S == pytest.approx(expected, rel=0.02)


def test_stokes_einstein_scalings():
    assert d_free(20e-9) == pytest.approx(2 * d_free(40e-9))
    assert tr.stokes_einstein(50e-9, 2 * T32, ETA32) == pytest.approx(2 * d_free(50e-9))


# -- Renkin ---------------------------------------------------------------------
def test_renkin_limits():
    assert tr.renkin_partition(0.0) == 1.0 and tr.renkin_drag(0.0) == 1.0
    for lam in (1.0, 1.0 + 1e-12, 1.5, 10.0):
        assert tr.renkin_partition(lam) == 0.0 and tr.renkin_drag(lam) == 0.0
    # polynomial end value just below 1: 1 - 2.104 + 2.09 - 0.95 = 0.036
    assert tr.renkin_drag(1.0 - 1e-12) == pytest.approx(0.036, abs=1e-9)


def test_renkin_hand_values():
    assert tr.renkin_partition(0.5) == pytest.approx(0.25)
    assert tr.renkin_drag(0.5) == pytest.approx(1 - 1.052 + 2.09 / 8 - 0.95 / 32)
    assert tr.renkin_transport(0.5) == pytest.approx(0.25 * (1 - 1.052 + 2.09 / 8 - 0.95 / 32))


@PROP
@given(st.floats(0.0, 1.2), st.floats(0.0, 1.2))
def test_renkin_monotone_and_bounded(a, b):
    lo, hi = min(a, b), max(a, b)
    for f in (tr.renkin_partition, tr.renkin_drag, tr.renkin_transport):
        assert 0.0 <= f(hi) <= f(lo) <= 1.0


# -- Ogston ---------------------------------------------------------------------
def test_ogston_limits_and_hand_values():
    assert tr.ogston_diffusion(50e-9, 10e-9, 0.0) == 1.0
    assert tr.ogston_partition(50e-9, 10e-9, 0.0) == 1.0
    assert tr.ogston_diffusion(50e-9, 10e-9, 1e-14) == pytest.approx(1.0, abs=1e-6)
    assert tr.ogston_partition(50e-9, 10e-9, 1e-14) == pytest.approx(1.0, abs=1e-12)
    # r_s = r_f, phi = 0.04: exp(-0.2 * 2), exp(-0.04 * 4)
    assert tr.ogston_diffusion(5e-9, 5e-9, 0.04) == pytest.approx(math.exp(-0.4))
    assert tr.ogston_partition(5e-9, 5e-9, 0.04) == pytest.approx(math.exp(-0.16))
    # point solute: exp(-sqrt(phi))
    assert tr.ogston_diffusion(0.0, 5e-9, 0.25) == pytest.approx(math.exp(-0.5))


# -- deformability and the pore pathway ----------------------------------------
def test_effective_radius():
    assert tr.effective_radius(50e-9, 0.0) == 50e-9
    assert tr.effective_radius(50e-9, 0.8) == pytest.approx(10e-9)


def test_pore_pathway_hand_values():
    d, k = tr.pore_pathway(1e-11, 5e-9, 10e-9, 1e-3, 2.0)
    assert d == pytest.approx(1e-11 * tr.renkin_drag(0.5) / 4)
    assert k == pytest.approx(1e-3 * 0.25)
    assert tr.pore_pathway(1e-11, 10e-9, 10e-9, 1e-3, 2.0) == (0.0, 0.0)


def _sc_permeance(r_h, deformability, pore_radius=10e-9, porosity=1e-5, tortuosity=10.0):
    d, k = tr.pore_pathway(d_free(r_h), tr.effective_radius(r_h, deformability), pore_radius, porosity, tortuosity)
    return d * k


@PROP
@given(st.floats(1e-10, 5e-6), st.floats(1e-10, 5e-6), st.floats(1e-9, 1e-7))
def test_larger_rigid_vesicle_never_permeates_more(r1, r2, rp):
    small, large = min(r1, r2), max(r1, r2)
    assert _sc_permeance(large, 0.0, rp) <= _sc_permeance(small, 0.0, rp)


@PROP
@given(st.floats(1e-10, 5e-6), st.floats(0.0, 0.999), st.floats(0.0, 0.999), st.floats(1e-9, 1e-7))
def test_more_deformable_never_permeates_less(r, d1, d2, rp):
    lo, hi = min(d1, d2), max(d1, d2)
    assert _sc_permeance(r, hi, rp) >= _sc_permeance(r, lo, rp)


# -- small molecules ------------------------------------------------------------
def test_potts_guy_caffeine():
    kp = tr.potts_guy_kp(194.19, -0.07)
    # log kp = -2.7 + 0.71 (-0.07) - 0.0061 * 194.19 = -3.9343 -> 1.163e-4 cm/h
    assert kp / tr.CM_PER_H == pytest.approx(1.163e-4, rel=2e-3)
    assert 1.0e-4 < kp / tr.CM_PER_H < 1.3e-4


def test_potts_guy_split_reproduces_kp():
    kp = tr.potts_guy_kp(194.19, -0.07)
    k_sc = tr.sc_partition_from_kow(-0.07)
    h = 18.3e-6
    d_sc = tr.potts_guy_split(kp, k_sc, h)
    assert d_sc * k_sc / h == pytest.approx(kp, rel=1e-13)
    assert k_sc == pytest.approx(10 ** (-0.07 * 0.71))
    # lag time h^2 / 6D of a couple of hours, as seen for caffeine in vitro
    assert 1.0 < h * h / (6 * d_sc) / 3600 < 5.0


def test_solute_radius_from_mw():
    assert tr.solute_radius_from_mw(194.19) == pytest.approx(0.39e-9, rel=0.02)
    # mannitol with its own density (1.52 g/cm^3): 0.36 nm (Stokes radius from D: 0.35 nm)
    assert tr.solute_radius_from_mw(182.17, density=1520.0) == pytest.approx(0.36e-9, rel=0.03)
    assert tr.solute_radius_from_mw(8 * 194.19) == pytest.approx(2 * tr.solute_radius_from_mw(194.19))


# -- rates ----------------------------------------------------------------------
def test_degradation_rate():
    assert rates.degradation_rate(3600.0) == pytest.approx(math.log(2) / 3600.0)
    assert rates.degradation_rate(None) == 0.0
    assert rates.degradation_rate(math.inf) == 0.0


def test_uptake_rate():
    assert rates.uptake_rate(None, 1.0) == 0.0
    assert rates.uptake_rate(2e-5, 0.1) == pytest.approx(2e-6)
    assert rates.uptake_rate(2e-5, 0.1, multiplier=3.0) == pytest.approx(6e-6)


def test_clearance_size_dependence():
    kv, rcap, kl, a = 5e-4, 4.5e-9, 1.4e-5, 20e-9
    small = rates.clearance_rate(0.0, kv, rcap, kl, a)
    assert small == pytest.approx(kv + kl)
    # vesicles never re-enter blood through the capillary small pores
    assert rates.vascular_clearance(35e-9, kv, rcap) == 0.0
    assert rates.clearance_rate(35e-9, kv, rcap, kl, a) == pytest.approx(kl * math.exp(-35 / 20))
    # ~20-25 nm particles drain several times faster than 100 nm ones
    ratio = rates.lymphatic_clearance(12.5e-9, kl, a) / rates.lymphatic_clearance(50e-9, kl, a)
    assert 3.0 < ratio < 20.0


@PROP
@given(st.floats(0.0, 1e-6), st.floats(0.0, 1e-6))
def test_clearance_never_increases_with_size(r1, r2):
    lo, hi = min(r1, r2), max(r1, r2)
    args = (5e-4, 4.5e-9, 1.4e-5, 20e-9)
    assert rates.clearance_rate(hi, *args) <= rates.clearance_rate(lo, *args)


# -- layer_coefficients: the contract -------------------------------------------
SKIN = {"temperature": T32, "viscosity": ETA32}
SC = {"thickness": 18.3e-6, "hindrance": "pore", "pore_radius": 10e-9, "porosity": 1e-5, "tortuosity": 10.0,
      "uptake_weight": 0.0}
VE = {"thickness": 56.6e-6, "hindrance": "ogston", "fibre_radius": 20e-9, "fibre_volume_fraction": 0.12,
      "tortuosity": 2.0, "accessible_fraction": 0.1, "uptake_weight": 1.0}
DERMIS = {"thickness": 1.1e-3, "hindrance": "ogston", "fibre_radius": 50e-9, "fibre_volume_fraction": 0.2,
          "tortuosity": 1.5, "accessible_fraction": 0.6, "uptake_weight": 0.1,
          "vascular_clearance_rate": 5e-4, "lymphatic_clearance_rate": 1.4e-5, "capillary_pore_radius": 4.5e-9,
          "lymphatic_size_scale": 20e-9}
VESICLE = {"kind": "vesicle", "diameter": 100e-9, "deformability": 0.0, "half_life": 86400.0,
           "uptake_rate": 0.05 / 3600}
CAFFEINE = {"kind": "small_molecule", "molecular_weight": 194.19, "log_kow": -0.07}


def test_direct_values_win():
    layer = dict(DERMIS, diffusivity=1e-12, partition=0.5, degradation_rate=1e-5, uptake_rate=2e-5,
                 clearance_rate=3e-5)
    co = layer_coefficients(VESICLE, "dermis", layer, SKIN)
    assert co == LayerCoefficients(1e-12, 0.5, 1e-5, 2e-5, 3e-5)


def test_validation_layer_needs_nothing_from_the_active():
    co = layer_coefficients({"preset": "custom"}, "membrane",
                            {"thickness": 1e-4, "diffusivity": 1e-12, "partition": 0.5}, SKIN)
    assert co == LayerCoefficients(1e-12, 0.5, 0.0, 0.0, 0.0)


def test_custom_without_diameter_names_the_key():
    with pytest.raises(ParameterProblem) as exc:
        layer_coefficients({"preset": "custom"}, "dermis", DERMIS, SKIN)
    assert exc.value.key == "formulation.diameter" and exc.value.given == "nothing"
    assert "dermis" in exc.value.expected
    # a given partition is not enough: the diffusivity still needs the size
    with pytest.raises(ParameterProblem, match="formulation.diameter"):
        layer_coefficients({"kind": "vesicle"}, "dermis", dict(DERMIS, partition=0.3), SKIN)


def test_custom_with_diameter_is_a_vesicle():
    a = layer_coefficients({"diameter": 100e-9}, "dermis", DERMIS, SKIN)
    b = layer_coefficients({"kind": "vesicle", "diameter": 100e-9}, "dermis", DERMIS, SKIN)
    assert a == b


@pytest.mark.parametrize("missing", ["fibre_radius", "fibre_volume_fraction", "hindrance"])
def test_missing_layer_input_names_the_layer_key(missing):
    layer = {k: v for k, v in DERMIS.items() if k != missing}
    with pytest.raises(ParameterProblem) as exc:
        layer_coefficients(VESICLE, "dermis", layer, SKIN)
    assert exc.value.key == f"skin.layers.dermis.{missing}"


def test_missing_pore_inputs():
    for missing in ("pore_radius", "porosity"):
        layer = {k: v for k, v in SC.items() if k != missing}
        with pytest.raises(ParameterProblem, match=f"skin.layers.stratum_corneum.{missing}"):
            layer_coefficients(VESICLE, "stratum_corneum", layer, SKIN)


def test_uptake_needs_weight_only_when_uptake_rate_is_set():
    layer = {k: v for k, v in VE.items() if k != "uptake_weight"}
    with pytest.raises(ParameterProblem, match="uptake_weight"):
        layer_coefficients(VESICLE, "viable_epidermis", layer, SKIN)
    no_uptake = {k: v for k, v in VESICLE.items() if k != "uptake_rate"}
    assert layer_coefficients(no_uptake, "viable_epidermis", layer, SKIN).uptake_rate == 0.0


def test_rates_in_every_layer():
    for name, layer in (("stratum_corneum", SC), ("viable_epidermis", VE), ("dermis", DERMIS)):
        co = layer_coefficients(VESICLE, name, layer, SKIN)
        assert co.degradation_rate == pytest.approx(math.log(2) / 86400.0)
        assert co.uptake_rate == pytest.approx(VESICLE["uptake_rate"] * layer["uptake_weight"])
    assert layer_coefficients(CAFFEINE, "dermis", DERMIS, SKIN).degradation_rate == 0.0
    assert layer_coefficients(VESICLE, "viable_epidermis", VE, SKIN).clearance_rate == 0.0
    # vesicles leave the dermis by lymph only; caffeine mostly by blood
    co_v = layer_coefficients(VESICLE, "dermis", DERMIS, SKIN)
    assert co_v.clearance_rate == pytest.approx(1.4e-5 * math.exp(-50 / 20))
    co_c = layer_coefficients(CAFFEINE, "dermis", DERMIS, SKIN)
    assert co_c.clearance_rate > 0.5 * 5e-4


def test_caffeine_sc_reproduces_potts_guy():
    co = layer_coefficients(CAFFEINE, "stratum_corneum", SC, SKIN)
    kp = tr.potts_guy_kp(194.19, -0.07)
    assert co.diffusivity * co.partition / SC["thickness"] == pytest.approx(kp, rel=1e-13)
    assert co.partition == pytest.approx(10 ** (0.71 * -0.07))
    # a given kp wins over Potts-Guy; a given partition keeps kp
    kp_given = 1.59e-4 * tr.CM_PER_H
    co2 = layer_coefficients(dict(CAFFEINE, kp=kp_given), "stratum_corneum", SC, SKIN)
    assert co2.diffusivity * co2.partition / SC["thickness"] == pytest.approx(kp_given, rel=1e-13)
    co3 = layer_coefficients(dict(CAFFEINE, kp=kp_given), "stratum_corneum", dict(SC, partition=3.0), SKIN)
    assert co3.partition == 3.0
    assert co3.diffusivity * 3.0 / SC["thickness"] == pytest.approx(kp_given, rel=1e-13)


def test_small_molecule_in_ogston_layer():
    co = layer_coefficients(CAFFEINE, "dermis", DERMIS, SKIN)
    r = tr.solute_radius_from_mw(194.19)
    assert co.partition == 1.0
    assert co.diffusivity == pytest.approx(d_free(r) * tr.ogston_diffusion(r, 50e-9, 0.2) / 1.5**2)


def test_free_diffusivity_given_wins_over_stokes_einstein():
    co = layer_coefficients(dict(VESICLE, free_diffusivity=1e-11), "dermis", DERMIS, SKIN)
    assert co.diffusivity == pytest.approx(1e-11 * tr.ogston_diffusion(50e-9, 50e-9, 0.2) / 2.25)


def test_hindrance_none_is_free_diffusion():
    co = layer_coefficients(VESICLE, "gel", {"thickness": 1e-4, "hindrance": "none", "uptake_weight": 0.0}, SKIN)
    assert co.diffusivity == pytest.approx(d_free(50e-9)) and co.partition == 1.0


def test_size_classes_through_active():
    a = Active.from_formulation(VESICLE, SKIN)
    small = coefficients_for(a.with_radius(20e-9), "dermis", DERMIS)
    large = coefficients_for(a.with_radius(100e-9), "dermis", DERMIS)
    assert small.diffusivity > large.diffusivity and small.partition > large.partition


# -- sanity targets (not tuned per formulation) ----------------------------------
def test_intact_sc_blocks_rigid_100nm_but_not_small_or_deformable():
    rigid = layer_coefficients(VESICLE, "stratum_corneum", SC, SKIN).permeance
    small = layer_coefficients(dict(VESICLE, diameter=10e-9), "stratum_corneum", SC, SKIN).permeance
    deformable = layer_coefficients(dict(VESICLE, deformability=0.9), "stratum_corneum", SC, SKIN).permeance
    assert small > 0 and deformable > 0
    assert rigid <= 1e-6 * small
    # caffeine crosses the SC many orders of magnitude better than a 10 nm particle
    assert layer_coefficients(CAFFEINE, "stratum_corneum", SC, SKIN).permeance > 1e3 * small


def test_dermal_diffusivity_of_50nm_radius_vesicle_a_few_times_below_free():
    co = layer_coefficients(VESICLE, "dermis", DERMIS, SKIN)
    ratio = co.diffusivity / d_free(50e-9)
    assert 0.1 < ratio < 0.5  # Pluen et al. 2001: several-fold slower in collagen-rich matrix


DEXTRAN_RADII = {"70 kDa": 6e-9, "500 kDa": 16e-9, "2000 kDa": 27e-9}
WEI_2018 = {"viable_epidermis": (1.0, 8.0), "dermis": (1.0, 20.0)}  # um^2/s


@pytest.mark.parametrize("site, layer_name", [(s, ly) for s in data.names("skin")
                                               for ly in ("viable_epidermis", "dermis")
                                               if ly in data.values("skin", s)["layers"]])
@pytest.mark.parametrize("dextran", list(DEXTRAN_RADII))
def test_preset_calibration_reproduces_dextran_diffusivities(site, layer_name, dextran):
    from exodiff import units

    raw = data.values("skin", site)["layers"][layer_name]
    rf = units.to_si(raw["fibre_radius"], "m")
    phi, tau = float(raw["fibre_volume_fraction"]), float(raw.get("tortuosity", 1.0))
    r = DEXTRAN_RADII[dextran]
    d = d_free(r) * tr.ogston_diffusion(r, rf, phi) / tau**2 / UM2_S
    lo, hi = WEI_2018[layer_name]
    assert lo <= d <= hi


# -- properties over the admissible ranges ------------------------------------------
def _bounded(field, lo_default, hi_default):
    lo = field.low if math.isfinite(field.low) else lo_default
    hi = field.high if math.isfinite(field.high) else hi_default
    return max(lo, lo_default), min(hi, hi_default)


def _pos(lo, hi):
    """Strictly positive floats spread over decades."""
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda e: 10.0**e)


@st.composite
def formulations(draw):
    kind = draw(st.sampled_from(["vesicle", "small_molecule"]))
    f = {"kind": kind, "half_life": draw(st.none() | _pos(1.0, 1e8)), "uptake_rate": draw(st.none() | _pos(1e-9, 1.0))}
    if kind == "vesicle":
        f["diameter"] = draw(_pos(1e-10, FORMULATION["diameter"].high))
        f["deformability"] = draw(st.floats(0.0, 0.999999))
    else:
        f["molecular_weight"] = draw(_pos(1.0, FORMULATION["molecular_weight"].high))
        f["log_kow"] = draw(st.floats(FORMULATION["log_kow"].low, FORMULATION["log_kow"].high))
        if draw(st.booleans()):
            f["kp"] = draw(_pos(1e-20, 1e-3))
    if draw(st.booleans()):
        f["free_diffusivity"] = draw(_pos(1e-16, 1e-8))
    return f


@st.composite
def layers(draw):
    hindrance = draw(st.sampled_from(["pore", "ogston", "none"]))
    ly = {"thickness": draw(_pos(1e-7, LAYER["thickness"].high)), "hindrance": hindrance,
          "uptake_weight": draw(st.floats(0.0, 10.0)),
          "tortuosity": draw(st.floats(1.0, 100.0))}
    if hindrance == "pore":
        ly["pore_radius"] = draw(_pos(1e-10, 1e-6))
        ly["porosity"] = draw(_pos(1e-9, 1.0))
    elif hindrance == "ogston":
        ly["fibre_radius"] = draw(_pos(1e-10, 1e-6))
        ly["fibre_volume_fraction"] = draw(st.floats(0.0, 0.999999))
        ly["accessible_fraction"] = draw(_pos(1e-6, 1.0))
    if draw(st.booleans()):
        ly.update(vascular_clearance_rate=draw(st.floats(0.0, 1.0)), lymphatic_clearance_rate=draw(st.floats(0.0, 1.0)),
                  capillary_pore_radius=draw(_pos(1e-10, 1e-7)), lymphatic_size_scale=draw(_pos(1e-10, 1e-6)))
    return ly


@PROP
@given(formulations(), layers(), st.floats(250.0, 330.0), _pos(1e-5, 1.0))
def test_coefficients_finite_and_nonnegative(form, layer, temperature, viscosity):
    co = layer_coefficients(form, "layer", layer, {"temperature": temperature, "viscosity": viscosity})
    for v in (co.diffusivity, co.partition, co.degradation_rate, co.uptake_rate, co.clearance_rate):
        assert math.isfinite(v) and v >= 0.0
