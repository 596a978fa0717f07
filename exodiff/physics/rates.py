"""First-order loss rates: degradation, cell uptake, clearance to the circulation.

Pure functions over floats in SI (s, 1/s, m).  The rates enter the transport
equation as ``-(k_deg + k_up + k_cl) c`` in each layer (MODEL.md section 3).
"""

from __future__ import annotations

import math

from exodiff.physics.transport import renkin_transport

__all__ = ["degradation_rate", "uptake_rate", "vascular_clearance", "lymphatic_clearance", "clearance_rate"]


def degradation_rate(half_life: float | None) -> float:
    """First-order degradation rate ``ln 2 / t_half``.

    Parameters
    ----------
    half_life : float or None
        Half-life in tissue, s (> 0); ``None`` or ``inf`` means stable.

    Returns
    -------
    float
        1/s; 0 for a stable active.
    """
    if half_life is None or math.isinf(half_life):
        return 0.0
    return math.log(2.0) / half_life


def uptake_rate(formulation_rate: float | None, uptake_weight: float, multiplier: float = 1.0) -> float:
    """Cell uptake rate of a layer: ``formulation.uptake_rate x uptake_weight``.

    Parameters
    ----------
    formulation_rate : float or None
        Uptake rate in a layer of weight 1 (viable epidermis), 1/s; ``None``:
        no uptake.
    uptake_weight : float
        Relative cell-uptake capacity of the layer, -.
    multiplier : float
        Extra factor for a targeted layer (targeting ligands); 1 by default.
        Kept here so targeting can be added without changing callers.

    Returns
    -------
    float
        1/s, >= 0.
    """
    if formulation_rate is None:
        return 0.0
    return max(formulation_rate * uptake_weight * multiplier, 0.0)


def vascular_clearance(r_s: float, vascular_rate: float, capillary_pore_radius: float) -> float:
    """Clearance by blood capillaries, restricted by the capillary wall pores.

    ``k_v = k_v0 * (1 - lam)^2 (1 - 2.104 lam + 2.09 lam^3 - 0.95 lam^5)``,
    ``lam = r_s / r_pore``: the Renkin (1954) restricted-diffusion factor of
    the small-pore pathway of continuous capillaries (two-pore theory, small
    pores of radius ~4-5 nm; Rippe & Haraldsson 1994, Physiol Rev 74:163).
    ``k_v0`` is the small-solute limit.  Zero for ``r_s >= r_pore``: vesicles
    do not re-enter blood through intact capillary walls.  (The sparse large
    pores, radius 20-30 nm, are neglected; lymph takes particles instead.)

    Parameters
    ----------
    r_s : float
        Solute radius, m.
    vascular_rate : float
        Small-solute clearance rate, 1/s.
    capillary_pore_radius : float
        Effective small-pore radius, m.

    Returns
    -------
    float
        1/s, in [0, vascular_rate].
    """
    if vascular_rate <= 0.0:
        return 0.0
    return vascular_rate * renkin_transport(r_s / capillary_pore_radius)


def lymphatic_clearance(r_s: float, lymphatic_rate: float, lymphatic_size_scale: float) -> float:
    """Clearance by initial lymphatics, falling with particle size.

    ``k_l = k_l0 exp(-r_s / a)``.  Lymphatic drainage of interstitially
    injected particles falls steeply with size: ~20-25 nm particles reach the
    lymph quickly, 100 nm ones little (Reddy et al. 2006, J Control Release
    112:26; Rao et al. 2010; Howard et al. 2019).  An exponential in the
    radius with scale ``a`` (~20 nm) is the simplest monotone law that gives
    the reported ratio (several-fold between 25 and 100 nm diameter) and tends
    to the bulk lymph-flow rate for small solutes; it is a documented
    modelling choice, not a fitted law.

    Parameters
    ----------
    r_s : float
        Solute or particle radius, m.
    lymphatic_rate : float
        Small-solute limit (interstitial fluid turnover by lymph flow), 1/s.
    lymphatic_size_scale : float
        Radius at which uptake falls by a factor e, m.

    Returns
    -------
    float
        1/s, in [0, lymphatic_rate].
    """
    if lymphatic_rate <= 0.0:
        return 0.0
    return lymphatic_rate * math.exp(-max(r_s, 0.0) / lymphatic_size_scale)


def clearance_rate(r_s: float, vascular_rate: float, capillary_pore_radius: float, lymphatic_rate: float,
                   lymphatic_size_scale: float) -> float:
    """Size-dependent dermal clearance: vascular + lymphatic.

    ``k_cl(r) = k_v0 H_Renkin(r / r_cap) + k_l0 exp(-r / a)``; see
    :func:`vascular_clearance` and :func:`lymphatic_clearance`.  Small solutes
    leave mainly through capillaries, vesicles only through lymph.

    Parameters
    ----------
    r_s : float
        Radius of the active, m.
    vascular_rate : float
        Small-solute vascular clearance rate, 1/s.
    capillary_pore_radius : float
        Capillary small-pore radius, m.
    lymphatic_rate : float
        Lymphatic clearance rate of small solutes, 1/s.
    lymphatic_size_scale : float
        Size scale of lymphatic uptake, m.

    Returns
    -------
    float
        1/s, >= 0 and non-increasing in ``r_s``.
    """
    return (vascular_clearance(r_s, vascular_rate, capillary_pore_radius)
            + lymphatic_clearance(r_s, lymphatic_rate, lymphatic_size_scale))
