"""Transport properties of the active: free diffusion and hindrance models.

Small pure functions over floats in SI units (m, s, K, Pa s); no pint, no
scenario dicts.  Each function names its source; ``docs/model.md`` collects
the equations and the assumptions behind the default parameters.

Conventions
-----------
- ``r_s``/``r_h``: solute (vesicle) radius, ``r_f``: fibre radius,
  ``phi``: fibre volume fraction, ``lam``: ratio solute radius / pore radius.
- Hindrance factors are clipped to ``[0, 1]`` so that no combination of
  admissible inputs gives a negative coefficient.
"""

from __future__ import annotations

import math

__all__ = [
    "BOLTZMANN",
    "AVOGADRO",
    "stokes_einstein",
    "ogston_diffusion",
    "ogston_partition",
    "renkin_partition",
    "renkin_drag",
    "renkin_transport",
    "effective_radius",
    "pore_diffusivity",
    "pore_partition",
    "pore_pathway",
    "solute_radius_from_mw",
    "potts_guy_kp",
    "sc_partition_from_kow",
    "potts_guy_split",
    "CM_PER_H",
]

#: Boltzmann constant, J/K (exact, SI 2019).
BOLTZMANN = 1.380649e-23
#: Avogadro constant, 1/mol (exact, SI 2019).
AVOGADRO = 6.02214076e23
#: One cm/h in m/s.
CM_PER_H = 1e-2 / 3600.0


def stokes_einstein(radius: float, temperature: float, viscosity: float) -> float:
    """Free diffusivity of a sphere, Stokes-Einstein.

    ``D = k_B T / (6 pi eta r)`` (Einstein 1905, Ann Phys 17:549; stick
    boundary condition).

    Parameters
    ----------
    radius : float
        Hydrodynamic radius, m (> 0).
    temperature : float
        Absolute temperature, K.
    viscosity : float
        Dynamic viscosity of the fluid, Pa s.

    Returns
    -------
    float
        Diffusivity, m^2/s.  100 nm diameter at 32 degC in water
        (0.764 mPa s): 5.85e-12 m^2/s = 5.85 um^2/s.
    """
    return BOLTZMANN * temperature / (6.0 * math.pi * viscosity * radius)


def ogston_diffusion(r_s: float, r_f: float, phi: float) -> float:
    """Ogston hindered-diffusion factor ``D / D_free`` in a random fibre matrix.

    ``exp(-sqrt(phi) (r_s + r_f) / r_f)`` (Ogston, Preston & Wells 1973,
    Proc R Soc Lond A 333:297; reviewed by Amsden 1998, Macromolecules
    31:8382).  Note the limit ``r_s -> 0`` is ``exp(-sqrt(phi))``, not 1: the
    model includes an obstruction for point solutes.

    Parameters
    ----------
    r_s : float
        Solute radius, m (>= 0).
    r_f : float
        Fibre radius, m (> 0).
    phi : float
        Fibre volume fraction, - (in [0, 1)).

    Returns
    -------
    float
        Factor in (0, 1]; exactly 1 at ``phi = 0``.
    """
    if phi <= 0.0:
        return 1.0
    return math.exp(-math.sqrt(phi) * (r_s + r_f) / r_f)


def ogston_partition(r_s: float, r_f: float, phi: float) -> float:
    """Ogston equilibrium partition (accessible volume fraction) in a fibre matrix.

    ``exp(-phi (1 + r_s / r_f)^2)`` (Ogston 1958, Trans Faraday Soc 54:1754):
    the probability that a sphere of radius ``r_s`` placed at random overlaps
    no fibre of radius ``r_f``.

    Parameters
    ----------
    r_s, r_f : float
        Solute and fibre radius, m.
    phi : float
        Fibre volume fraction, -.

    Returns
    -------
    float
        Partition coefficient in (0, 1]; 1 at ``phi = 0``.
    """
    if phi <= 0.0:
        return 1.0
    return math.exp(-phi * (1.0 + r_s / r_f) ** 2)


def renkin_partition(lam: float) -> float:
    """Steric partition of a sphere into a cylindrical pore, ``(1 - lam)^2``.

    Ferry 1936; Renkin 1954, J Gen Physiol 38:225.  ``lam`` = solute radius /
    pore radius; 0 for ``lam >= 1`` (the solute does not fit).

    Parameters
    ----------
    lam : float
        Radius ratio, - (>= 0).

    Returns
    -------
    float
        In [0, 1].
    """
    if lam >= 1.0:
        return 0.0
    lam = max(lam, 0.0)
    return (1.0 - lam) ** 2


def renkin_drag(lam: float) -> float:
    """Hydrodynamic (drag) factor for diffusion in a cylindrical pore.

    ``1 - 2.104 lam + 2.09 lam^3 - 0.95 lam^5`` (Renkin 1954, J Gen Physiol
    38:225, from Faxen's centre-line wall correction).  The polynomial
    decreases monotonically on [0, 1] from 1 to 0.036; it is set to 0 for
    ``lam >= 1`` and clipped to [0, 1].

    Parameters
    ----------
    lam : float
        Radius ratio, -.

    Returns
    -------
    float
        In [0, 1].
    """
    if lam >= 1.0:
        return 0.0
    lam = max(lam, 0.0)
    f = 1.0 - 2.104 * lam + 2.09 * lam**3 - 0.95 * lam**5
    return min(max(f, 0.0), 1.0)


def renkin_transport(lam: float) -> float:
    """Restricted-diffusion factor of a pore membrane: partition x drag.

    The ratio of the diffusive permeability of a pore to a solute of radius
    ratio ``lam`` over that to a point solute (Renkin 1954).  Used for the
    size dependence of capillary (vascular) clearance.
    """
    return renkin_partition(lam) * renkin_drag(lam)


def effective_radius(r_h: float, deformability: float) -> float:
    """Radius a vesicle presents to a pore it squeezes through.

    ``r_eff = r_h (1 - deformability)``: the schema defines deformability as
    the fractional reduction of the effective radius (0 rigid, towards 1
    ultra-deformable).  A linear law is the simplest one that keeps the two
    required orderings (more deformable never permeates less; a larger rigid
    vesicle never permeates more); it stands in for the observation that
    ultradeformable vesicles pass pores several times narrower than their
    own diameter (Cevc & Blume 1992, Biochim Biophys Acta 1104:226) while
    conventional liposomes stay in the upper stratum corneum.

    Parameters
    ----------
    r_h : float
        Hydrodynamic radius, m.
    deformability : float
        In [0, 1); values outside are clipped.

    Returns
    -------
    float
        Effective radius, m, in [0, r_h].
    """
    d = min(max(deformability, 0.0), 1.0)
    return r_h * (1.0 - d)


def pore_diffusivity(d_free: float, lam: float, tortuosity: float) -> float:
    """Effective diffusivity of the pore pathway, per unit pathway volume.

    ``D = D_free * renkin_drag(lam) / tau^2`` with ``tau`` = path length /
    layer thickness.  With the partition (:func:`pore_partition`) carrying the
    volume fraction ``eps`` of the pathway, the layer's permeability is
    ``D K / h = eps D_free H(lam) / (tau^2 h)``: the porous-medium result
    ``D_eff = eps D / tau^2`` for pores of length ``tau h`` (the tortuosity
    factor is the square of the geometric tortuosity; Epstein 1989, Chem Eng
    Sci 44:777).  The square is chosen, not ``1/tau``, because ``porosity`` is
    defined as a volume fraction.

    Parameters
    ----------
    d_free : float
        Free diffusivity, m^2/s.
    lam : float
        Effective radius / pore radius, -.
    tortuosity : float
        Path length / thickness, - (>= 1).

    Returns
    -------
    float
        m^2/s, >= 0 (0 for ``lam >= 1``).
    """
    return d_free * renkin_drag(lam) / (tortuosity * tortuosity)


def pore_partition(lam: float, porosity: float) -> float:
    """Partition of the pore pathway relative to the vehicle: ``eps (1 - lam)^2``.

    Parameters
    ----------
    lam : float
        Effective radius / pore radius, -.
    porosity : float
        Volume fraction of the pathway, -.

    Returns
    -------
    float
        In [0, porosity].
    """
    return porosity * renkin_partition(lam)


def pore_pathway(d_free: float, r_eff: float, pore_radius: float, porosity: float,
                 tortuosity: float) -> tuple[float, float]:
    """Diffusivity and partition of a size-selective pore layer (stratum corneum).

    Parameters
    ----------
    d_free : float
        Free diffusivity of the active, m^2/s (from its hydrodynamic radius).
    r_eff : float
        Effective radius (:func:`effective_radius`), m.
    pore_radius : float
        Effective pore radius, m.
    porosity : float
        Pathway volume fraction, -.
    tortuosity : float
        Path length / thickness, -.

    Returns
    -------
    (D, K) : tuple of float
        m^2/s and -; both 0 when ``r_eff >= pore_radius``.  ``D K`` decreases
        monotonically with ``r_eff`` (drag and partition both decrease).
    """
    lam = r_eff / pore_radius
    return pore_diffusivity(d_free, lam, tortuosity), pore_partition(lam, porosity)


def solute_radius_from_mw(mw: float, density: float = 1300.0) -> float:
    """Radius of a small molecule from its molecular weight.

    The radius of a sphere of the molecule's volume,
    ``r = (3 M / (4 pi rho N_A))^(1/3)``.  For small solutes this agrees
    within ~10 % with the Stokes radius from measured aqueous diffusivities
    (e.g. mannitol, 182 g/mol, 1.52 g/cm^3: 0.36 nm from the volume, 0.35 nm
    from D; see
    the table of hydrophilic solutes in Membranes 2021, 11:331, which uses
    the same construction); for proteins at ``rho = 1.37 g/cm^3`` it is
    Erickson's minimal radius ``0.066 M^(1/3)`` nm (Erickson 2009, Biol
    Proced Online 11:32).  ``density`` = 1.3 g/cm^3 is a typical value for
    drug-like organic solids (caffeine crystal 1.23 g/cm^3); caffeine gives
    0.39 nm.

    Parameters
    ----------
    mw : float
        Molecular weight, g/mol (the schema's SI conversion keeps g/mol).
    density : float
        Effective molecular density, kg/m^3.

    Returns
    -------
    float
        Radius, m.
    """
    mass = mw * 1e-3 / AVOGADRO  # kg per molecule
    return (3.0 * mass / (4.0 * math.pi * density)) ** (1.0 / 3.0)


def potts_guy_kp(mw: float, log_kow: float) -> float:
    """Stratum-corneum permeability coefficient from the Potts-Guy QSPR.

    ``log10 kp[cm/h] = -2.7 + 0.71 log10 Kow - 0.0061 MW`` (Potts & Guy
    1992, Pharm Res 9:663, fitted to the Flynn data set of aqueous
    permeabilities through human skin).  Caffeine (194.19 g/mol, log Kow
    -0.07) gives 1.16e-4 cm/h (in vivo forearm, o/w emulsion: 1.59e-4 cm/h).

    Parameters
    ----------
    mw : float
        Molecular weight, g/mol.
    log_kow : float
        log10 octanol-water partition coefficient, -.

    Returns
    -------
    float
        kp, m/s.
    """
    log_kp_cm_h = -2.7 + 0.71 * log_kow - 0.0061 * mw
    return 10.0**log_kp_cm_h * CM_PER_H


def sc_partition_from_kow(log_kow: float) -> float:
    """Stratum-corneum/water partition coefficient, ``K_sc = Kow^0.71``.

    Potts & Guy (1992) read their regression as ``kp = (D0/h) K_lipid/water
    exp(-beta MW)`` with ``K_lipid/water = Kow^f``, ``f = 0.71`` (the slope of
    log kp on log Kow).  Taking the same power for the layer partition keeps
    the split consistent with the regression it comes from.  Relative to an
    aqueous vehicle.
    """
    return 10.0 ** (0.71 * log_kow)


def potts_guy_split(kp: float, partition: float, thickness: float) -> float:
    """Diffusivity that makes a homogeneous layer reproduce ``kp`` exactly.

    ``D_sc = kp h_sc / K_sc`` so that the steady permeability of the layer,
    ``D_sc K_sc / h_sc``, equals ``kp``.  The lag time ``h^2 / (6 D_sc)`` then
    follows from ``K_sc`` (caffeine, forearm: about 2.4 h, cf. the hours-long
    lags reported in vitro).

    Parameters
    ----------
    kp : float
        Permeability coefficient, m/s.
    partition : float
        Layer partition coefficient relative to the vehicle, - (> 0).
    thickness : float
        Layer thickness, m.

    Returns
    -------
    float
        Diffusivity, m^2/s.
    """
    return kp * thickness / partition
