"""Per-layer transport coefficients from the active and the layer.

:func:`layer_coefficients` is the one entry point the problem builder calls
(docs/dev/contracts.md).  It reads the resolved scenario dicts (SI floats),
applies the rule "a value given for the layer always wins", and otherwise
computes each coefficient from

- the active (:class:`Active`, built from the ``formulation`` dict), and
- the layer's hindrance model (``"pore"``, ``"ogston"``, ``"amsden"``,
  ``"johnson"``, ``"none"``), looked up in :data:`HINDRANCE_MODELS`.

Extension points, and what uses them:

- polydisperse populations: :func:`coefficients_for` once per size class
  with ``Active.with_radius(r)`` (:mod:`exodiff.problem.layered`);
- targeting: ``Active.targeting_factor`` multiplies the uptake of
  ``Active.target_layer`` (:func:`exodiff.physics.rates.uptake_rate`);
- another hindrance model: one :class:`HindranceModel` in
  :data:`HINDRANCE_MODELS` and its name in the ``hindrance`` choices of
  ``exodiff/scenario/schema.py``;
- cargo released from vesicles: ``Active.cargo_of(formulation["cargo"])``
  gives its own coefficients through :func:`cargo_coefficients`.

A missing or unusable input raises :class:`exodiff.errors.ParameterProblem`
with the full dotted key, so the scenario layer reports it as a one-line
error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from exodiff.errors import ParameterProblem
from exodiff.physics import rates, transport

__all__ = ["LayerCoefficients", "Active", "HindranceModel", "HINDRANCE_MODELS", "layer_coefficients",
           "coefficients_for", "cargo_coefficients", "DIRECT_KEYS", "DEFAULT_TEMPERATURE", "DEFAULT_VISCOSITY"]

#: Skin surface temperature used when the skin dict has none, K (32 degC;
#: OECD TG 428 convention).
DEFAULT_TEMPERATURE = 305.15
#: Water viscosity at 32 degC, Pa s (IAPWS 2008).
DEFAULT_VISCOSITY = 0.764e-3

_SMALL_MOLECULE_KEYS = ("molecular_weight", "log_kow", "kp")


@dataclass(frozen=True)
class LayerCoefficients:
    """Transport coefficients of the active in one layer, SI.

    Attributes
    ----------
    diffusivity : float
        m^2/s.
    partition : float
        Equilibrium ratio c_layer / c_vehicle, -.
    degradation_rate, uptake_rate, clearance_rate : float
        First-order rates, 1/s.
    """

    diffusivity: float
    partition: float
    degradation_rate: float = 0.0
    uptake_rate: float = 0.0
    clearance_rate: float = 0.0

    @property
    def loss_rate(self) -> float:
        """Total first-order loss rate, 1/s."""
        return self.degradation_rate + self.uptake_rate + self.clearance_rate

    @property
    def permeance(self) -> float:
        """Diffusivity x partition, m^2/s (the layer's conductance times thickness)."""
        return self.diffusivity * self.partition


@dataclass(frozen=True)
class Active:
    """What moves, as the physics needs it (SI; ``None`` = not given).

    Build with :meth:`from_formulation`.  Accessors that need an input which is
    missing raise :class:`ParameterProblem` naming the formulation key.

    Attributes
    ----------
    kind : {"vesicle", "small_molecule"} or None
        Given, or inferred: a formulation with molecular_weight, log_kow or kp
        is a small molecule; one with only a diameter a vesicle.
    diameter : float or None
        Hydrodynamic diameter, m.
    deformability : float
        0 (rigid) to < 1; 0 when not given.
    free_diffusivity, molecular_weight, log_kow, kp, half_life, uptake_rate
        As the FORMULATION keys of exodiff/scenario/schema.py (SI).
    temperature, viscosity : float
        Of the skin fluid, K and Pa s (Stokes-Einstein).
    """

    kind: str | None
    diameter: float | None = None
    deformability: float = 0.0
    free_diffusivity: float | None = None
    molecular_weight: float | None = None
    log_kow: float | None = None
    kp: float | None = None
    half_life: float | None = None
    uptake_rate: float | None = None
    temperature: float = DEFAULT_TEMPERATURE
    viscosity: float = DEFAULT_VISCOSITY
    half_life_by_layer: tuple[tuple[str, float], ...] = ()
    target_layer: str | None = None
    targeting_factor: float = 1.0
    prefix: str = "formulation"

    @classmethod
    def from_formulation(cls, formulation: Mapping[str, Any], skin: Mapping[str, Any] | None = None,
                         prefix: str = "formulation") -> "Active":
        """Collect the active's properties from the resolved formulation (and skin) dicts.

        ``prefix`` is the dotted key of the table the values come from, used
        in error messages (``"formulation.cargo"`` for a released cargo).
        """
        f = formulation
        skin = skin or {}
        kind = f.get("kind")
        if kind is None:
            if any(f.get(k) is not None for k in _SMALL_MOLECULE_KEYS):
                kind = "small_molecule"
            elif f.get("diameter") is not None:
                kind = "vesicle"
        by_layer = f.get("half_life_by_layer") or {}
        return cls(
            kind=kind,
            diameter=_opt(f, "diameter"),
            deformability=float(f.get("deformability") or 0.0),
            free_diffusivity=_opt(f, "free_diffusivity"),
            molecular_weight=_opt(f, "molecular_weight"),
            log_kow=_opt(f, "log_kow"),
            kp=_opt(f, "kp"),
            half_life=_opt(f, "half_life"),
            uptake_rate=_opt(f, "uptake_rate"),
            temperature=float(skin.get("temperature", DEFAULT_TEMPERATURE)),
            viscosity=float(skin.get("viscosity", DEFAULT_VISCOSITY)),
            half_life_by_layer=tuple((str(k), float(v)) for k, v in by_layer.items()),
            target_layer=f.get("target_layer"),
            targeting_factor=float(f.get("targeting_factor", 1.0)),
            prefix=prefix,
        )

    @classmethod
    def cargo_of(cls, cargo: Mapping[str, Any], skin: Mapping[str, Any] | None = None) -> "Active":
        """The free cargo released by a vesicle (``formulation.cargo``): a solute of its own.

        The cargo is a small molecule for the physics (Potts-Guy in the
        stratum corneum, molecular-weight radius elsewhere) unless its table
        says ``kind``; targeting does not apply to it.
        """
        spec = {k: v for k, v in cargo.items() if k not in ("target_layer", "targeting_factor")}
        spec.setdefault("kind", "small_molecule")
        return cls.from_formulation(spec, skin, prefix="formulation.cargo")

    def key(self, name: str) -> str:
        """Full dotted key of one of this active's inputs, for messages."""
        return f"{self.prefix}.{name}"

    def layer_half_life(self, layer_name: str) -> float | None:
        """Half-life in one layer: ``half_life_by_layer[layer]`` if given, else ``half_life``."""
        for name, value in self.half_life_by_layer:
            if name == layer_name:
                return value
        return self.half_life

    def uptake_multiplier(self, layer_name: str) -> float:
        """Targeting factor in the target layer, 1 elsewhere."""
        return self.targeting_factor if self.target_layer is not None and layer_name == self.target_layer else 1.0

    def with_radius(self, radius: float) -> "Active":
        """The same active with another hydrodynamic radius (one size class of a population).

        A given ``free_diffusivity`` is scaled with the radius (Stokes-Einstein,
        ``D ~ 1/r``) rather than dropped, so a class at the nominal diameter
        keeps exactly the given value.
        """
        d_free = self.free_diffusivity
        if d_free is not None:
            if self.diameter:
                d_free = d_free * (0.5 * self.diameter) / radius
            else:
                d_free = None
        return replace(self, diameter=2.0 * radius, free_diffusivity=d_free)

    # -- derived properties, raising ParameterProblem when an input is missing --
    def require_kind(self, why: str) -> str:
        if self.kind is None:
            # Nothing tells what the active is (a custom formulation): the
            # diameter is what a vesicle needs, and names the usual omission.
            raise ParameterProblem(
                self.key("diameter"), "nothing",
                f'a hydrodynamic diameter (e.g. "70 nm"; or kind = "small_molecule" with molecular_weight and '
                f"log_kow): {why}")
        return self.kind

    def radius(self, why: str) -> float:
        """Hydrodynamic radius, m: diameter / 2, or for a small molecule from its molecular weight."""
        if self.diameter is not None:
            return 0.5 * self.diameter
        if self.kind == "small_molecule":
            if self.molecular_weight is None:
                raise ParameterProblem(self.key("molecular_weight"), "nothing",
                                       f'a molar mass (e.g. "194.19 g/mol") or {self.key("diameter")}: {why}')
            return transport.solute_radius_from_mw(self.molecular_weight)
        raise ParameterProblem(self.key("diameter"), "nothing", f'a hydrodynamic diameter (e.g. "70 nm"): {why}')

    def effective_radius(self, why: str) -> float:
        """Radius presented to a pore, m (deformability shrinks it; small molecules are rigid)."""
        r = self.radius(why)
        if self.kind == "vesicle":
            return transport.effective_radius(r, self.deformability)
        return r

    def d_free(self, why: str) -> float:
        """Free diffusivity, m^2/s: given, else Stokes-Einstein at the skin temperature and viscosity."""
        if self.free_diffusivity is not None:
            return self.free_diffusivity
        return transport.stokes_einstein(self.radius(why + f"; or give {self.key('free_diffusivity')}"),
                                         self.temperature, self.viscosity)


def _opt(d: Mapping[str, Any], key: str) -> float | None:
    v = d.get(key)
    return None if v is None else float(v)


class _Layer:
    """A layer dict with its name; reads keys and raises ParameterProblem when one is missing."""

    def __init__(self, name: str, spec: Mapping[str, Any]):
        self.name = name
        self.spec = spec

    def key(self, k: str) -> str:
        return f"skin.layers.{self.name}.{k}"

    def has(self, k: str) -> bool:
        return self.spec.get(k) is not None

    def get(self, k: str, default: float | None = None) -> float | None:
        v = self.spec.get(k)
        return default if v is None else float(v)

    def need(self, k: str, what: str) -> float:
        v = self.spec.get(k)
        if v is None:
            raise ParameterProblem(self.key(k), "nothing", what)
        return float(v)

    @property
    def hindrance(self) -> str | None:
        return self.spec.get("hindrance")


# -- hindrance models ----------------------------------------------------------
@dataclass(frozen=True)
class HindranceModel:
    """One hindered-transport model of a layer.

    Attributes
    ----------
    partition : callable (Active, _Layer) -> float
        Partition coefficient relative to the vehicle.
    diffusivity : callable (Active, _Layer, partition) -> float
        Diffusivity, m^2/s; receives the layer's effective partition (given
        or computed), which the Potts-Guy split needs.
    doc : str
        One line for the docs.
    """

    partition: Callable[[Active, _Layer], float]
    diffusivity: Callable[[Active, _Layer, float], float]
    doc: str


def _why(layer: _Layer, what: str) -> str:
    return f'needed for the {what} in layer "{layer.name}" (or give {layer.key(what)} directly)'


# "pore": the stratum corneum.  Vesicles: Renkin pore pathway with a
# deformable effective radius.  Small molecules: Potts-Guy kp split into K, D.
def _pore_partition(a: Active, ly: _Layer) -> float:
    kind = a.require_kind(_why(ly, "partition"))
    if kind == "small_molecule":
        if a.log_kow is None:
            raise ParameterProblem(a.key("log_kow"), "nothing",
                                   f"log10 Kow (Potts-Guy, K_sc = Kow^0.71): {_why(ly, 'partition')}")
        return transport.sc_partition_from_kow(a.log_kow)
    r_eff = a.effective_radius(_why(ly, "partition"))
    rp = ly.need("pore_radius", f'the effective pore radius (e.g. "10 nm") of the pore model: {_why(ly, "partition")}')
    eps = ly.need("porosity", f"the pathway volume fraction (e.g. 1e-5) of the pore model: {_why(ly, 'partition')}")
    gsd = ly.get("pore_radius_gsd", 1.0)
    if gsd <= 1.0:
        return transport.pore_partition(r_eff / rp, eps)
    return eps * transport.lognormal_pore_moments(r_eff, rp, gsd)[0]


def _pore_diffusivity(a: Active, ly: _Layer, partition: float) -> float:
    kind = a.require_kind(_why(ly, "diffusivity"))
    if kind == "small_molecule":
        kp = a.kp
        if kp is None:
            why = f"Potts-Guy kp {_why(ly, 'diffusivity')}; or give {a.key('kp')}"
            if a.molecular_weight is None:
                raise ParameterProblem(a.key("molecular_weight"), "nothing", f'a molar mass (e.g. "194.19 g/mol"): {why}')
            if a.log_kow is None:
                raise ParameterProblem(a.key("log_kow"), "nothing", f"log10 Kow: {why}")
            kp = transport.potts_guy_kp(a.molecular_weight, a.log_kow)
        if not partition > 0.0:
            raise ParameterProblem(ly.key("partition"), f"{partition:g}",
                                   f"> 0 to split kp into D = kp h / K (or give {ly.key('diffusivity')} directly)")
        h = ly.need("thickness", "a layer thickness (needed to split kp into D and K)")
        return transport.potts_guy_split(kp, partition, h)
    why = _why(ly, "diffusivity")
    r_eff = a.effective_radius(why)
    rp = ly.need("pore_radius", f'the effective pore radius (e.g. "10 nm") of the pore model: {why}')
    tau = ly.get("tortuosity", 1.0)
    gsd = ly.get("pore_radius_gsd", 1.0)
    if gsd <= 1.0:
        return transport.pore_diffusivity(a.d_free(why), r_eff / rp, tau)
    # porosity only scales K; D is the ratio of the two pore-volume averages
    return transport.distributed_pore_pathway(a.d_free(why), r_eff, rp, gsd, 1.0, tau)[0]


# "ogston": fibre matrix (viable epidermis, dermis).  Vesicles: Ogston D
# and partition x accessible (extracellular) fraction.  Small molecules: Ogston
# D with the solute radius; partition 1 (they reach the tissue water, in and
# between cells; binding is not modelled: give `partition` for lipophilic ones).
def _ogston_inputs(ly: _Layer, what: str) -> tuple[float, float]:
    why = _why(ly, what)
    rf = ly.need("fibre_radius", f'the fibre radius (e.g. "50 nm") of the Ogston model: {why}')
    phi = ly.need("fibre_volume_fraction", f"the fibre volume fraction (e.g. 0.2) of the Ogston model: {why}")
    return rf, phi


def _ogston_partition(a: Active, ly: _Layer) -> float:
    kind = a.require_kind(_why(ly, "partition"))
    if kind == "small_molecule":
        return 1.0
    rf, phi = _ogston_inputs(ly, "partition")
    r = a.radius(_why(ly, "partition"))
    return ly.get("accessible_fraction", 1.0) * transport.ogston_partition(r, rf, phi)


def _fibre_diffusivity(a: Active, ly: _Layer, law) -> float:
    """``D_free law(r_s, r_f, phi) / tau^2``: a fibre-matrix hindrance law with the layer's tortuosity."""
    why = _why(ly, "diffusivity")
    a.require_kind(why)
    rf, phi = _ogston_inputs(ly, "diffusivity")
    r = a.radius(why)
    tau = ly.get("tortuosity", 1.0)
    return a.d_free(why) * law(r, rf, phi) / (tau * tau)


def _ogston_diffusivity(a: Active, ly: _Layer, partition: float) -> float:
    return _fibre_diffusivity(a, ly, transport.ogston_diffusion)


# "amsden" and "johnson": the same fibre matrix with another law for D (the
# partition is geometry, Ogston's accessible volume, whatever the dynamics).
def _amsden_diffusivity(a: Active, ly: _Layer, partition: float) -> float:
    mesh = ly.get("mesh_size")
    return _fibre_diffusivity(a, ly, lambda r, rf, phi: transport.amsden_diffusion(r, rf, phi, mesh))


def _johnson_diffusivity(a: Active, ly: _Layer, partition: float) -> float:
    a.require_kind(_why(ly, "diffusivity"))
    _, phi = _ogston_inputs(ly, "diffusivity")
    if phi >= transport.JACKSON_JAMES_PHI_MAX:
        raise ParameterProblem(ly.key("fibre_volume_fraction"), f"{phi:g}",
                               f"< {transport.JACKSON_JAMES_PHI_MAX:.3f} for the johnson model (the Jackson-James "
                               "permeability of a fibre network is valid for dilute networks only); use ogston or "
                               "amsden")
    return _fibre_diffusivity(a, ly, transport.johnson_diffusion)


# "none": free diffusion in the fluid of the layer.
def _none_partition(a: Active, ly: _Layer) -> float:
    return ly.get("accessible_fraction", 1.0)


def _none_diffusivity(a: Active, ly: _Layer, partition: float) -> float:
    return a.d_free(_why(ly, "diffusivity"))


#: Hindrance models by the name used in ``skin.layers.<name>.hindrance``.
HINDRANCE_MODELS: dict[str, HindranceModel] = {
    "pore": HindranceModel(_pore_partition, _pore_diffusivity,
                           "size-selective pore pathway (Renkin) for vesicles; Potts-Guy kp split for small molecules"),
    "ogston": HindranceModel(_ogston_partition, _ogston_diffusivity,
                             "random fibre matrix (Ogston) with an optional tortuosity and accessible fraction"),
    "amsden": HindranceModel(_ogston_partition, _amsden_diffusivity,
                             "fibre matrix, Amsden's obstruction-scaling law for D (optional mesh_size); "
                             "partition as ogston"),
    "johnson": HindranceModel(_ogston_partition, _johnson_diffusivity,
                              "fibre matrix, Brinkman hydrodynamic x Johansson obstruction for D (Johnson et al. "
                              "1996); partition as ogston"),
    "none": HindranceModel(_none_partition, _none_diffusivity, "free diffusion, partition 1"),
}


def _model(ly: _Layer, what: str) -> HindranceModel:
    name = ly.hindrance
    if name is None:
        raise ParameterProblem(ly.key("hindrance"), "nothing",
                               f'one of {", ".join(HINDRANCE_MODELS)}: {_why(ly, what)}')
    try:
        return HINDRANCE_MODELS[name]
    except KeyError:
        raise ParameterProblem(ly.key("hindrance"), repr(name), f'one of {", ".join(HINDRANCE_MODELS)}') from None


def _clearance(a: Active, ly: _Layer) -> float:
    kv = ly.get("vascular_clearance_rate", 0.0)
    kl = ly.get("lymphatic_clearance_rate", 0.0)
    if kv <= 0.0 and kl <= 0.0:
        return 0.0
    why = _why(ly, "clearance_rate")
    r = a.radius(why)
    rcap = ly.need("capillary_pore_radius", f'the capillary pore radius (e.g. "4.5 nm"): {why}') if kv > 0 else 1.0
    scale = ly.need("lymphatic_size_scale", f'the lymphatic size scale (e.g. "20 nm"): {why}') if kl > 0 else 1.0
    return rates.clearance_rate(r, kv, rcap, kl, scale)


def _uptake(a: Active, ly: _Layer) -> float:
    if a.uptake_rate is None or a.uptake_rate == 0.0:
        return 0.0
    w = ly.need("uptake_weight", "the layer's relative cell-uptake capacity (0 no living cells, 1 as the viable "
                f"epidermis), needed because {a.key('uptake_rate')} is set (or give "
                f"{ly.key('uptake_rate')} directly)")
    return rates.uptake_rate(a.uptake_rate, w, a.uptake_multiplier(ly.name))


def coefficients_for(active: Active, layer_name: str, layer: Mapping[str, Any]) -> LayerCoefficients:
    """Coefficients of one layer for an already built :class:`Active`.

    Same rules as :func:`layer_coefficients`; use this directly for size
    classes or a released cargo.
    """
    ly = _Layer(layer_name, layer)
    if ly.has("partition"):
        partition = ly.get("partition")
    else:
        partition = _model(ly, "partition").partition(active, ly)
    if ly.has("diffusivity"):
        diffusivity = ly.get("diffusivity")
    else:
        diffusivity = _model(ly, "diffusivity").diffusivity(active, ly, partition)
    if ly.has("degradation_rate"):
        k_deg = ly.get("degradation_rate")
    else:
        k_deg = rates.degradation_rate(active.layer_half_life(layer_name))
    k_up = ly.get("uptake_rate") if ly.has("uptake_rate") else _uptake(active, ly)
    k_cl = ly.get("clearance_rate") if ly.has("clearance_rate") else _clearance(active, ly)
    out = LayerCoefficients(diffusivity=float(diffusivity), partition=float(partition),
                            degradation_rate=float(k_deg), uptake_rate=float(k_up), clearance_rate=float(k_cl))
    for field_name in ("diffusivity", "partition", "degradation_rate", "uptake_rate", "clearance_rate"):
        v = getattr(out, field_name)
        if not (math.isfinite(v) and v >= 0.0):
            raise ParameterProblem(ly.key(field_name), f"{v!r} (computed)",
                                   "a finite value >= 0; check the inputs of this layer or give it directly")
    return out


def layer_coefficients(formulation: Mapping[str, Any], layer_name: str, layer: Mapping[str, Any],
                       skin: Mapping[str, Any]) -> LayerCoefficients:
    """Transport coefficients of the active in one layer (the physics contract).

    Parameters
    ----------
    formulation : mapping
        ``Scenario.resolved["formulation"]`` (SI floats; kind, diameter,
        deformability, half_life, uptake_rate, free_diffusivity,
        molecular_weight, log_kow, kp as given).
    layer_name : str
        Key of the layer in ``skin.layers`` (used in error keys).
    layer : mapping
        ``skin.layers[layer_name]``: thickness and any LAYER key.
    skin : mapping
        ``Scenario.resolved["skin"]`` (temperature K, viscosity Pa s).

    Returns
    -------
    LayerCoefficients

    Rules
    -----
    - ``diffusivity``, ``partition``, ``degradation_rate``, ``uptake_rate``,
      ``clearance_rate`` given for the layer always win.
    - Otherwise D and K follow the layer's ``hindrance`` model
      (:data:`HINDRANCE_MODELS`): ``"pore"`` (stratum corneum: Renkin pore
      pathway for vesicles, Potts-Guy split for small molecules, a given
      formulation.kp wins over Potts-Guy), ``"ogston"``, ``"amsden"``,
      ``"johnson"`` (fibre matrix), ``"none"`` (free).  The free diffusivity is formulation.free_diffusivity
      if given, else Stokes-Einstein from diameter/2 (vesicles) or from the
      molecular-weight radius (small molecules).
    - ``"amsden"`` and ``"johnson"`` are the fibre matrix with other laws for
      D (Amsden's obstruction scaling; Brinkman x Johansson obstruction); K
      as ``"ogston"``.  ``"pore"`` with ``pore_radius_gsd > 1`` averages the
      Renkin factors over a log-normal distribution of pore radii.
    - Degradation ``ln 2 / half_life`` in every layer, with
      ``formulation.half_life_by_layer[layer]`` replacing ``half_life`` in
      that layer (0 without a half-life); uptake ``formulation.uptake_rate x
      uptake_weight``, times ``formulation.targeting_factor`` in
      ``formulation.target_layer`` (0 without uptake_rate); clearance
      size-dependent from the layer's vascular and lymphatic rates (0 where
      the layer has neither).

    Raises
    ------
    ParameterProblem
        An input needed for a computed coefficient is missing, e.g.
        ``formulation.diameter`` for a custom formulation on a layer without
        a direct diffusivity.
    """
    active = Active.from_formulation(formulation, skin)
    return coefficients_for(active, layer_name, layer)


#: Layer keys that are coefficients of *the* active (the vesicle); a released
#: cargo computes its own and ignores them.
DIRECT_KEYS = ("diffusivity", "partition", "degradation_rate", "uptake_rate", "clearance_rate")


def cargo_coefficients(cargo: Mapping[str, Any], layer_name: str, layer: Mapping[str, Any],
                       skin: Mapping[str, Any]) -> LayerCoefficients:
    """Coefficients of a released cargo (``formulation.cargo``) in one layer.

    The cargo is a solute with its own size, partition, half-life, uptake
    and clearance (:meth:`Active.cargo_of`).  The layer's direct coefficient
    values (``diffusivity``, ``partition``, the rates) describe the vesicle
    and are ignored here; everything else of the layer (hindrance model,
    fibres, pores, uptake weight, clearance rates) applies.
    """
    active = Active.cargo_of(cargo, skin)
    bare = {k: v for k, v in layer.items() if k not in DIRECT_KEYS}
    return coefficients_for(active, layer_name, bare)
