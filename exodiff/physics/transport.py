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
    "lognormal_pore_moments",
    "distributed_pore_pathway",
    "amsden_diffusion",
    "jackson_james_permeability",
    "brinkman_diffusion",
    "johansson_obstruction",
    "johnson_diffusion",
    "JACKSON_JAMES_PHI_MAX",
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


def amsden_diffusion(r_s: float, r_f: float, phi: float, mesh_size: float | None = None) -> float:
    """Amsden's obstruction-scaling hindrance ``D / D_free`` for a fibre network.

    ``exp(-(pi/4) ((r_s + r_f) / (rbar + r_f))^2)`` with ``rbar`` the mean
    radius of the openings between fibres (Amsden 1998, Macromolecules
    31:8382, the obstruction model he found most consistent with data on
    heterogeneous, rigid-chain gels; written with the mesh size
    ``xi = 2 rbar`` as ``exp(-pi ((r_s + r_f) / (xi + 2 r_f))^2)``, as in
    Axpe et al. 2019, Macromolecules 52:6889).  The solute must find an
    opening larger than itself; the probability falls as a Gaussian in its
    radius, much faster than Ogston's exponential for large particles.

    Amsden scales the opening as ``rbar = k_s phi^(-1/2) r_f`` with ``k_s``
    fitted per gel.  Without a given ``mesh_size`` we take the clear spacing
    of a square array of parallel fibres of volume fraction ``phi``,
    ``xi + 2 r_f = r_f sqrt(pi / phi)`` (``k_s -> sqrt(pi)/2`` at small
    ``phi``); the factor then reduces to ``exp(-phi (1 + r_s / r_f)^2)``,
    Ogston's accessible volume fraction.  That choice is ours (an estimate,
    documented in docs/model.md), so the model needs no parameter beyond
    Ogston's.

    Parameters
    ----------
    r_s : float
        Solute radius, m (>= 0).
    r_f : float
        Fibre radius, m (> 0).
    phi : float
        Fibre volume fraction, - (in [0, 1)).
    mesh_size : float, optional
        Mean clear opening ``xi`` between fibres, m (> 0).

    Returns
    -------
    float
        In (0, 1]; exactly 1 at ``phi = 0``; ``exp(-pi r_f^2 / (xi + 2 r_f)^2)``
        for a point solute.
    """
    if phi <= 0.0:
        return 1.0
    opening = (mesh_size + 2.0 * r_f) if mesh_size is not None else r_f * math.sqrt(math.pi / phi)
    x = (max(r_s, 0.0) + r_f) / opening
    return math.exp(-math.pi * x * x)


def jackson_james_permeability(r_f: float, phi: float) -> float:
    """Darcy permeability of a random fibre network, Jackson & James.

    ``kappa = (3 r_f^2 / (20 phi)) (-ln phi - 0.931)`` (Jackson & James 1986,
    Can J Chem Eng 64:364, for random three-dimensional arrays of fibres;
    used by Johnson et al. 1996 for agarose).  Positive only for
    ``phi < exp(-0.931) = 0.394``; returns 0 above (the formula is an
    asymptote for dilute networks, not valid there).

    Parameters
    ----------
    r_f : float
        Fibre radius, m.
    phi : float
        Fibre volume fraction, -.

    Returns
    -------
    float
        m^2, ``inf`` at ``phi = 0``.
    """
    if phi <= 0.0:
        return math.inf
    return max(3.0 * r_f * r_f / (20.0 * phi) * (-math.log(phi) - 0.931), 0.0)


#: Largest fibre volume fraction at which the Jackson-James permeability is positive.
JACKSON_JAMES_PHI_MAX = math.exp(-0.931)


def brinkman_diffusion(r_s: float, kappa: float) -> float:
    """Hydrodynamic hindrance of a sphere in a Brinkman medium, ``D / D_free``.

    ``1 / (1 + a + a^2 / 3)``, ``a = r_s / sqrt(kappa)``: the drag on a sphere
    in a porous medium of Darcy permeability ``kappa`` (Brinkman 1947, Appl
    Sci Res A1:27), the effective-medium model of Phillips, Deen & Brady
    1989 (AIChE J 35:1761) and Johnson et al. 1996 (Biophys J 70:1017).

    Parameters
    ----------
    r_s : float
        Solute radius, m.
    kappa : float
        Darcy permeability of the network, m^2 (``inf``: no network).

    Returns
    -------
    float
        In [0, 1]; 1 for ``kappa = inf`` or a point solute, 0 for ``kappa <= 0``.
    """
    if kappa <= 0.0:
        return 0.0
    if math.isinf(kappa) or r_s <= 0.0:
        return 1.0
    a = r_s / math.sqrt(kappa)
    return 1.0 / (1.0 + a + a * a / 3.0)


def johansson_obstruction(r_s: float, r_f: float, phi: float) -> float:
    """Steric obstruction by random fibres from Brownian dynamics, ``D / D_free``.

    ``exp(-0.84 f^1.09)``, ``f = phi (1 + r_s / r_f)^2`` (Johansson &
    Lofroth 1993, J Chem Phys 98:7471, simulations of spheres among random
    straight fibres; the obstruction factor of Johnson et al. 1996).

    Returns
    -------
    float
        In (0, 1]; 1 at ``phi = 0``.
    """
    if phi <= 0.0:
        return 1.0
    f = phi * (1.0 + max(r_s, 0.0) / r_f) ** 2
    return math.exp(-0.84 * f**1.09)


def johnson_diffusion(r_s: float, r_f: float, phi: float) -> float:
    """Combined hydrodynamic x obstruction hindrance, Johnson et al. 1996.

    ``D / D_free = F(r_s, kappa) S(r_s, r_f, phi)``: Brinkman hydrodynamic
    drag (:func:`brinkman_diffusion`) with the Jackson-James permeability
    (:func:`jackson_james_permeability`) times the Johansson-Lofroth steric
    factor (:func:`johansson_obstruction`) (Johnson, Berk, Jain & Deen 1996,
    Biophys J 70:1017, tested on proteins and Ficolls in agarose; reviewed
    with the other hydrodynamic models by Amsden 1998, Macromolecules
    31:8382).  The drag part makes hindrance depend on the fibre spacing
    through ``kappa``, so even a point solute's diffusivity is 1 and a
    dilute network hinders large particles only.

    Parameters
    ----------
    r_s, r_f : float
        Solute and fibre radius, m.
    phi : float
        Fibre volume fraction, - (below :data:`JACKSON_JAMES_PHI_MAX`).

    Returns
    -------
    float
        In [0, 1]; 1 at ``phi = 0``; 0 where the permeability formula fails.
    """
    if phi <= 0.0:
        return 1.0
    return brinkman_diffusion(r_s, jackson_james_permeability(r_f, phi)) * johansson_obstruction(r_s, r_f, phi)


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


def _polymul(a: list[float], b: list[float]) -> list[float]:
    out = [0.0] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            out[i + j] += x * y
    return out


# Renkin's factors as polynomials in lam (coefficients of lam^0, lam^1, ...).
_RENKIN_PARTITION_POLY = [1.0, -2.0, 1.0]
_RENKIN_DRAG_POLY = [1.0, -2.104, 0.0, 2.09, 0.0, -0.95]
_RENKIN_TRANSPORT_POLY = _polymul(_RENKIN_PARTITION_POLY, _RENKIN_DRAG_POLY)


def _gauss_tail(x: float) -> float:
    """Upper tail of the standard normal, ``P(Z > x)``."""
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def lognormal_pore_moments(r_eff: float, median: float, gsd: float) -> tuple[float, float]:
    """Renkin factors averaged over a log-normal distribution of pore radii.

    The pore *volume* is distributed log-normally over the pore radius
    ``r_p``: ``ln r_p ~ N(ln median, ln(gsd)^2)``.  A solute of effective
    radius ``r_eff`` enters pores with ``r_p > r_eff`` only.  Returns

        Phi_bar = E[(1 - lam)^2],   T_bar = E[(1 - lam)^2 H(lam)],   lam = r_eff / r_p,

    the expectations taken over the pore volume (zero contribution where
    ``lam >= 1``).  Both factors are polynomials in ``lam``; with
    ``a = ln r_eff``, ``mu = ln median``, ``s = ln gsd`` and
    ``z = (a - mu) / s`` each power integrates in closed form,

        E[lam^k; r_p > r_eff] = exp(k s z + k^2 s^2 / 2) Q(z + k s),

    ``Q`` the upper tail of the standard normal (complete the square in
    ``exp(-k x)`` times the normal density).  Exact, no quadrature; the
    terms cancel in the far tail only to a relative error of about
    ``1e-16 z^2``.

    Parameters
    ----------
    r_eff : float
        Effective solute radius, m (>= 0).
    median : float
        Median pore radius of the volume distribution, m (> 0).
    gsd : float
        Geometric standard deviation, - (> 1; use :func:`pore_pathway` for 1).

    Returns
    -------
    (Phi_bar, T_bar) : tuple of float
        In [0, 1], ``T_bar <= Phi_bar``; both 1 for ``r_eff = 0``, both
        non-increasing in ``r_eff``.
    """
    if r_eff <= 0.0:
        return 1.0, 1.0
    s = math.log(gsd)
    z = (math.log(r_eff) - math.log(median)) / s

    def moment(poly: list[float]) -> float:
        total = 0.0
        for k, c in enumerate(poly):
            if c == 0.0:
                continue
            q = _gauss_tail(z + k * s)
            if q == 0.0:
                continue
            total += c * math.exp(k * s * z + 0.5 * (k * s) ** 2) * q
        return total

    phi_bar = min(max(moment(_RENKIN_PARTITION_POLY), 0.0), 1.0)
    t_bar = min(max(moment(_RENKIN_TRANSPORT_POLY), 0.0), phi_bar)
    return phi_bar, t_bar


def distributed_pore_pathway(d_free: float, r_eff: float, pore_radius: float, gsd: float, porosity: float,
                             tortuosity: float) -> tuple[float, float]:
    """Diffusivity and partition of a pore layer with log-normally distributed pore radii.

    Parallel pores of every size, each with Renkin's hindrance: the layer
    holds ``K = eps Phi_bar`` and conducts ``D K = eps D_free T_bar / tau^2``
    (:func:`lognormal_pore_moments`), so

        K = eps Phi_bar,     D = D_free T_bar / (Phi_bar tau^2).

    The steady permeability is exact for parallel pores; the transient
    treats the pore population as one well-mixed pathway.  ``gsd = 1`` is
    the single radius of :func:`pore_pathway` (that function is called, so
    the limit is exact); for ``gsd > 1`` a particle larger than the median
    still finds the few large defects, so intact skin *nearly* (not
    exactly) blocks it.

    Parameters
    ----------
    d_free : float
        Free diffusivity, m^2/s.
    r_eff : float
        Effective radius of the active, m.
    pore_radius : float
        Median pore radius (pore-volume weighted), m.
    gsd : float
        Geometric standard deviation of the pore radius, - (>= 1).
    porosity : float
        Pathway volume fraction, -.
    tortuosity : float
        Path length / thickness, -.

    Returns
    -------
    (D, K) : tuple of float
        m^2/s and -; ``D K`` non-increasing in ``r_eff``.
    """
    if gsd <= 1.0:
        return pore_pathway(d_free, r_eff, pore_radius, porosity, tortuosity)
    phi_bar, t_bar = lognormal_pore_moments(r_eff, pore_radius, gsd)
    if phi_bar <= 0.0:
        return 0.0, 0.0
    return d_free * (t_bar / phi_bar) / (tortuosity * tortuosity), porosity * phi_bar


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
