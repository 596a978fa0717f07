"""Every scenario key in one table: kind, units, range, default, meaning.

This table is the single source for validation (``exodiff.scenario.core``), for the
SI conversion (every quantity is converted to ``si_unit`` before inner code
sees it) and for the key reference in ``docs/scenario.md``.  A key that is not
here is an error with a did-you-mean.

Ranges are physical admissibility (a negative thickness, a partition below
zero), not literature ranges; literature ranges live with the presets in
``exodiff/data``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    """Specification of one scenario key.

    Parameters
    ----------
    kind : str
        ``"quantity"`` (string with units, converted to ``si_unit``),
        ``"number"`` (bare dimensionless float), ``"integer"``, ``"string"``,
        ``"choice"`` (one of ``choices``), ``"bool"``, ``"bool_list"`` (list
        of true/false), ``"quantity_list"``
        (list of strings with units), ``"resolution"`` (``"auto"`` or a table),
        ``"quantity_table"`` (a table of layer name -> string with units, e.g.
        ``{ dermis = "12 h" }``), ``"table"`` (a sub-table whose keys are
        specified in :data:`SUBTABLES`).
    si_unit : str
        For quantities: the SI unit the value is converted to (a pint unit
        string; ``"dose/m^2"`` style placeholders are resolved by the scenario
        layer for amounts in the scenario's dose unit).
    dimension : str
        Human-readable dimension used in error messages ("a length").
    low, high : float
        Admissible range in SI; ``low_open``/``high_open`` make a bound strict.
    choices : tuple of str
        Allowed values of a ``"choice"``.
    default : Any
        Default in SI (``None``: no default; the key is optional or comes from
        a preset).
    doc : str
        One-line meaning, shown in the docs.
    """

    kind: str
    doc: str
    si_unit: str = ""
    dimension: str = ""
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    default: Any = None
    example: str = ""

    def range_text(self) -> str:
        """Describe the admissible range, e.g. ``"> 0 m"`` or ``"in [0, 1)"``."""
        lo, hi = self.low, self.high
        unit = f" {self.si_unit}" if self.si_unit else ""
        if math.isinf(lo) and math.isinf(hi):
            return ""
        if math.isinf(hi):
            return f"{'>' if self.low_open else '>='} {lo:g}{unit}"
        if math.isinf(lo):
            return f"{'<' if self.high_open else '<='} {hi:g}{unit}"
        lb = "(" if self.low_open else "["
        rb = ")" if self.high_open else "]"
        return f"in {lb}{lo:g}, {hi:g}{rb}{unit}"

    def in_range(self, x: float) -> bool:
        if x != x:  # NaN
            return False
        if self.low_open and not x > self.low:
            return False
        if not self.low_open and not x >= self.low:
            return False
        if self.high_open and not x < self.high:
            return False
        if not self.high_open and not x <= self.high:
            return False
        return True


def _q(doc, si_unit, dimension, example="", **kw):
    return Field("quantity", doc, si_unit=si_unit, dimension=dimension, example=example, **kw)


def _n(doc, example="", **kw):
    return Field("number", doc, example=example, **kw)


# Amount-bearing quantities carry the scenario's dose unit (particles, ug,
# ug protein, mol ...).  "[amount]" below stands for it; the scenario layer
# checks the remaining dimension and keeps the amount in the user's unit.
AMOUNT = "[amount]"

META = {
    "name": Field("string", "Human-readable name of the scenario.", example='"MSC exosomes, forearm"'),
    "description": Field("string", "Free text.", example='"..."'),
}

SKIN = {
    "preset": Field("string", 'Body-site preset from exodiff/data/skin_sites.toml, or "none" for explicit layers.',
                    default="forearm", example='"forearm"'),
    "bottom": Field("choice", "Bottom boundary: a perfect sink (in vivo: what leaves the dermis downwards), no flux, "
                    "or a well-mixed receptor chamber of finite volume (in vitro, Franz cell; see [receptor]). What "
                    "crosses it is booked to the `receptor` compartment.",
                    choices=("sink", "no_flux", "receptor"), default="sink", example='"receptor"'),
    "temperature": _q("Skin temperature (Stokes-Einstein).", "K", "a temperature", '"32 degC"',
                      low=250.0, high=330.0, default=305.15),
    "viscosity": _q("Viscosity of vehicle and interstitial fluid (Stokes-Einstein).", "Pa*s", "a dynamic viscosity",
                    '"0.764 mPa*s"', low=0.0, low_open=True, default=0.764e-3),
    # "layers" is a table of tables; its entries follow LAYER.
}

LAYER = {
    "thickness": _q("Layer thickness.", "m", "a length", '"15 um"', low=0.0, low_open=True, high=0.1),
    "diffusivity": _q("Diffusivity of the active in this layer; overrides the value computed from the active.",
                      "m^2/s", "a diffusivity (length^2/time)", '"1e-7 cm^2/s"', low=0.0),
    "partition": _n("Partition coefficient relative to the vehicle (c_layer / c_vehicle at equilibrium); "
                    "overrides the computed value.", '0.5', low=0.0),
    "degradation_rate": _q("First-order degradation rate; overrides ln 2 / formulation.half_life.", "1/s",
                           "a rate (1/time)", '"0.02 1/h"', low=0.0),
    "uptake_rate": _q("First-order cell uptake rate; overrides formulation.uptake_rate x uptake_weight.", "1/s",
                      "a rate (1/time)", '"0.01 1/h"', low=0.0),
    "clearance_rate": _q("First-order clearance to the circulation; overrides the size-dependent value.", "1/s",
                         "a rate (1/time)", '"0.1 1/h"', low=0.0),
    "hindrance": Field("choice", "Hindered-transport model of this layer: fibre matrix with Ogston's, Amsden's "
                       "obstruction-scaling or Johnson's hydrodynamic x obstruction law for D (partition: Ogston's "
                       "accessible volume in all three), size-selective pore pathway (stratum corneum), or none "
                       "(free diffusion).",
                       choices=("ogston", "amsden", "johnson", "pore", "none"), example='"ogston"'),
    "fibre_radius": _q("Fibre radius of the matrix (ogston, amsden, johnson).", "m", "a length", '"5 nm"', low=0.0,
                       low_open=True),
    "fibre_volume_fraction": _n("Fibre volume fraction of the matrix (ogston, amsden, johnson; johnson needs < "
                                "0.39).", "0.02", low=0.0, high=1.0, high_open=True),
    "mesh_size": _q("Mean clear opening between fibres (amsden model); default from the fibre radius and volume "
                    "fraction, xi + 2 r_f = r_f sqrt(pi / phi).", "m", "a length", '"100 nm"', low=0.0,
                    low_open=True),
    "accessible_fraction": _n("Volume fraction of the layer open to vesicles (interstitial space); "
                              "multiplies the partition of particles.", "0.2", low=0.0, low_open=True, high=1.0),
    "pore_radius": _q("Effective radius of the size-selective pathway (pore model).", "m", "a length", '"20 nm"',
                      low=0.0, low_open=True),
    "pore_radius_gsd": _n("Geometric standard deviation of a log-normal distribution of pore radii (pore model; "
                          "pore_radius is then the median of the pore volume); 1 = a single radius.", "1.5",
                          low=1.0, high=10.0),
    "porosity": _n("Volume fraction of the pathway (pore model).", "0.001", low=0.0, low_open=True, high=1.0),
    "tortuosity": _n("Tortuosity of the pathway: path length / thickness; divides the diffusivity by its square "
                     "(pore model; in the Ogston model the detour around cells and fibre bundles, default 1).",
                     "3", low=1.0),
    "uptake_weight": _n("Relative cell-uptake capacity of the layer; multiplies formulation.uptake_rate.", "1",
                        low=0.0),
    "vascular_clearance_rate": _q("Clearance rate of a small solute by blood capillaries (size-dependent "
                                  "scaling applied).", "1/s", "a rate (1/time)", '"1 1/h"', low=0.0),
    "lymphatic_clearance_rate": _q("Clearance rate of particles by lymphatics (size-dependent scaling "
                                   "applied).", "1/s", "a rate (1/time)", '"0.01 1/h"', low=0.0),
    "capillary_pore_radius": _q("Effective radius of capillary wall pores (vascular clearance cut-off).", "m",
                                "a length", '"4.5 nm"', low=0.0, low_open=True),
    "lymphatic_size_scale": _q("Particle radius at which lymphatic uptake falls by e (lymphatic clearance).",
                               "m", "a length", '"25 nm"', low=0.0, low_open=True),
}

FORMULATION = {
    "preset": Field("string", "Formulation preset from exodiff/data/formulations.toml (msc_exosome, "
                    "msc_exosome_bone_marrow, plant_exosome[_grapefruit, _apple, ...], engineered_exosome, liposome, "
                    "deformable_vesicle, caffeine, testosterone, custom; see exodiff docs formulations).", default="custom",
                    example='"msc_exosome"'),
    "kind": Field("choice", "What the active is; selects the transport physics.",
                  choices=("vesicle", "small_molecule"), example='"vesicle"'),
    "vehicle": Field("choice", "Vehicle model: well-mixed film (finite) or constant donor (infinite).",
                     choices=("finite", "infinite"), default="finite", example='"finite"'),
    "dose": _q("Applied dose per skin area, in the dose unit of your choice.", AMOUNT + "/m^2",
               "an amount per area", '"1e10 particles/cm^2"', low=0.0, low_open=True),
    "concentration": _q("Concentration in the vehicle (with vehicle_thickness for a finite dose).",
                        AMOUNT + "/m^3", "an amount per volume", '"1 ug/cm^3"', low=0.0, low_open=True),
    "vehicle_thickness": _q("Thickness of the applied film.", "m", "a length", '"20 um"', low=0.0,
                            low_open=True, high=0.01, default=20e-6),
    "evaporation_fraction": _n("Volatile fraction of the vehicle that evaporates (film shrinks, amount kept).",
                               "0.5", low=0.0, high=1.0, high_open=True, default=0.0),
    "evaporation_time": _q("Time constant of evaporation.", "s", "a time", '"20 min"', low=0.0, low_open=True,
                           default=1800.0),
    "wash_off_time": _q("Time at which the remaining vehicle is washed off (booked to `removed`).", "s",
                        "a time", '"8 h"', low=0.0, low_open=True),
    "diameter": _q("Hydrodynamic diameter of the vesicle (or solute).", "m", "a length", '"70 nm"', low=0.0,
                   low_open=True, high=1e-5),
    "deformability": _n("Deformability: fractional reduction of the effective radius when squeezing through "
                        "a pore (0 rigid, towards 1 ultra-deformable).", "0.3", low=0.0, high=1.0,
                        high_open=True),
    "size_distribution": Field("string", "Measured size distribution: a CSV file of diameter and concentration "
                               "(e.g. exported by nanoparticle tracking analysis), relative to the scenario file; "
                               "header lines skipped, diameter unit from the header (default nm), separator comma, "
                               "semicolon or tab. Replaces diameter.", example='"nta_size_distribution.csv"'),
    "pdi": _n("Polydispersity index of a log-normal number distribution around diameter (its median): "
              "sigma_ln^2 = ln(1 + pdi); give pdi or gsd.", "0.1", low=0.0, high=4.0),
    "gsd": _n("Geometric standard deviation of a log-normal number distribution around diameter (its median); "
              "1 = monodisperse.", "1.4", low=1.0, high=10.0),
    "size_classes": Field("integer", "Number of size classes a distribution is split into (Gauss quadrature of "
                          "the number distribution in ln d; solved together in one compiled call).", example="7",
                          low=1, high=64, default=7),
    "half_life": _q("Half-life of the active in tissue (degradation); sets degradation_rate = ln 2 / half_life.",
                    "s", "a time", '"36 h"', low=0.0, low_open=True),
    "half_life_by_layer": Field("quantity_table", "Half-life in named layers, replacing half_life there (a "
                                "layer's own degradation_rate still wins).", si_unit="s", dimension="a time",
                                example='{ dermis = "12 h" }', low=0.0, low_open=True),
    "uptake_rate": _q("Cell uptake rate in a layer of uptake_weight 1.", "1/s", "a rate (1/time)",
                      '"0.02 1/h"', low=0.0),
    "target_layer": Field("string", "Layer whose amount, peak time and uptake the summary reports (default: "
                          "dermis if present, else the deepest layer); targeting_factor acts here.",
                          example='"viable_epidermis"'),
    "targeting_factor": _n("Factor on the cell uptake rate in target_layer (targeting ligands of engineered "
                           "vesicles); 1 = untargeted. Needs target_layer.", "5", low=0.0, default=1.0),
    "enhancement_factor": _n("Penetration enhancement (docs/model.md, section 5.1): the factor by which the "
                             "vesicles raise the stratum corneum diffusivity of the free solute beside them "
                             "(the cargo set free, the unencapsulated part) while the film is on the skin; it "
                             "relaxes to 1 after wash-off (enhancement_relaxation_time). Phenomenological; needs "
                             "a [formulation.cargo]; 1D runs. 1 = none (presets: docs/validation.md).", "2",
                             low=0.0, low_open=True, high=100.0, default=1.0),
    "enhancement_relaxation_time": _q("Time constant with which enhancement_factor relaxes to 1 after the film is "
                                      "washed off; 0 = at once. No measured value: an estimate (barrier "
                                      "recovery takes hours), to be swept.", "s", "a time", '"6 h"', low=0.0,
                                      high=3.2e7, default=21600.0),
    "cargo": Field("table", "Track the cargo (miRNA, protein, drug) released from the vesicles as a second "
                   "species: a table [formulation.cargo], keys below.", example="[formulation.cargo]"),
    "free_diffusivity": _q("Diffusivity in the vehicle fluid; overrides Stokes-Einstein.", "m^2/s",
                           "a diffusivity (length^2/time)", '"5e-8 cm^2/s"', low=0.0, low_open=True),
    "molecular_weight": _q("Molecular weight of a small molecule (Potts-Guy).", "g/mol", "a molar mass",
                           '"194.2 g/mol"', low=0.0, low_open=True, high=1e7),
    "log_kow": _n("log10 octanol-water partition coefficient (Potts-Guy).", "-0.07", low=-10.0, high=15.0),
    "kp": _q("Stratum corneum permeability coefficient; overrides Potts-Guy.", "m/s", "a velocity",
             '"1.1e-4 cm/h"', low=0.0, low_open=True),
}

#: Keys of ``[formulation.cargo]``: the released cargo, a solute of its own.
CARGO = {
    "preset": Field("string", "A cargo preset (exodiff/data/cargo.toml; `exodiff presets cargo`): its values "
                    "under the keys given here. \"typical\": the typical cargo of the formulation preset.",
                    example='"mir21"'),
    "name": Field("string", "Label of the cargo in results.", example='"miR-21"', default="cargo"),
    "loading": Field("loading", "Cargo loaded per unit of vesicle dose (inside the vesicles and, with "
                     "encapsulation_efficiency < 1, free beside them), e.g. per particle; results in this cargo "
                     "unit too. A bare number counts copies. Default 1 (cargo counted in vesicle equivalents).",
                     example='"2e-8 ng/particle"'),
    "encapsulation_efficiency": _n("Fraction of the loaded cargo inside the vesicles at application; the rest is "
                                   "free cargo in the film from t = 0 (a co-applied free active). 0 = all free.",
                                   "0.8", low=0.0, high=1.0, default=1.0),
    "release_rate": _q("First-order rate at which an intact vesicle in the viable layers releases its cargo (the "
                       "vesicle is then booked to `released`); in the stratum corneum too unless "
                       "release_rate_stratum_corneum is given.", "1/s", "a rate (1/time)", '"0.02 1/h"', low=0.0,
                       default=0.0),
    "release_rate_stratum_corneum": _q("First-order release rate of an intact vesicle in the stratum corneum (the "
                                       "layers with hindrance \"pore\", or named stratum_corneum): fusion with "
                                       "or break-up in the SC lipids. Default: release_rate.", "1/s",
                                       "a rate (1/time)", '"1 1/h"', low=0.0),
    "release_rate_vehicle": _q("First-order rate at which a vesicle in the vehicle film leaks its cargo "
                               "(docs/model.md, section 5.1): the cargo is then free in the film, washed off "
                               "with it and entering the skin by its own physics. 1D, finite film only. "
                               "Default 0.", "1/s", "a rate (1/time)", '"0.1 1/h"', low=0.0, default=0.0),
    "release_on_degradation": _n("Fraction of a degraded vesicle's cargo set free intact (the rest is degraded "
                                 "with it).", "1", low=0.0, high=1.0, default=1.0),
    "kind": Field("choice", "What the free cargo is for the physics (a solute: Potts-Guy in the stratum corneum, "
                  "molecular-weight radius elsewhere).", choices=("small_molecule",), default="small_molecule",
                  example='"small_molecule"'),
    "molecular_weight": _q("Molecular weight of the free cargo.", "g/mol", "a molar mass", '"7000 g/mol"',
                           low=0.0, low_open=True, high=1e7),
    "log_kow": _n("log10 octanol-water partition coefficient of the free cargo (Potts-Guy, K_sc).", "-5",
                  low=-10.0, high=15.0),
    "kp": _q("Stratum corneum permeability of the free cargo; overrides Potts-Guy.", "m/s", "a velocity",
             '"1e-9 cm/h"', low=0.0, low_open=True),
    "diameter": _q("Hydrodynamic diameter of the free cargo (default: from its molecular weight).", "m",
                   "a length", '"3 nm"', low=0.0, low_open=True, high=1e-6),
    "free_diffusivity": _q("Free diffusivity of the cargo; overrides Stokes-Einstein.", "m^2/s",
                           "a diffusivity (length^2/time)", '"1e-6 cm^2/s"', low=0.0, low_open=True),
    "half_life": _q("Half-life of the free cargo in tissue.", "s", "a time", '"30 min"', low=0.0, low_open=True),
    "uptake_rate": _q("Cell uptake rate of the free cargo in a layer of uptake_weight 1.", "1/s",
                      "a rate (1/time)", '"0.1 1/h"', low=0.0),
}

#: Keys of the sub-tables of a section (``Field.kind == "table"``), by the table's key in its section.
SUBTABLES = {"cargo": CARGO}

DELIVERY = {
    "method": Field("choice", "Delivery method.", choices=("topical", "microneedle", "laser"),
                    default="topical", example='"topical"'),
    "device": Field("string", "Device preset from exodiff/data/devices.toml (dermaroller_0_5mm, dermaroller_1_0mm, "
                    "dermaroller_1_5mm, microneedling_pen, fractional_co2, fractional_eryag); its values can be "
                    "overridden by the keys below. A microneedle without a device takes penetration_efficiency and "
                    "channel_diameter from generic_microneedle.", example='"dermaroller_1_0mm"'),
    "needle_length": _q("Microneedle length (channel depth = length x penetration_efficiency).", "m", "a length",
                        '"1.0 mm"', low=0.0, low_open=True, high=0.01),
    "penetration_efficiency": _n("Fraction of the needle length that enters the skin.", "0.3", low=0.0,
                                 low_open=True, high=1.0),
    "channel_depth": _q("Channel depth given directly (bypasses the device model).", "m", "a length", '"500 um"',
                        low=0.0, low_open=True),
    # at least 1 um and 0.1 um: a 1 nm channel drove the unit cell's concentration 18 % of its peak negative, a
    # 1e-200 m tip divided by zero
    "channel_diameter": _q("Channel diameter at the skin surface.", "m", "a length", '"70 um"', low=1e-6,
                           high=0.01),
    "tip_diameter": _q("Channel diameter at its bottom (a cone; default a cylinder). Solved as a staircase "
                       "cone; with a laser's coagulated rim as the cylinder of equal volume.", "m", "a length",
                       '"20 um"', low=1e-7),
    "density": _q("Channels per skin area.", "1/m^2", "a number per area", '"200 1/cm^2"', low=0.0,
                  low_open=True),
    "needles": _n("Needles on a roller drum (density from needles x passes / drum area).", "192", low=1.0),
    "drum_diameter": _q("Roller drum diameter.", "m", "a length", '"2 cm"', low=0.0, low_open=True),
    "drum_width": _q("Roller drum width.", "m", "a length", '"2 cm"', low=0.0, low_open=True),
    "passes": _n("Roller passes over the same area.", "8", low=1.0),
    "occlusion": Field("bool", "Skin occluded after the procedure: the device's slower closure time applies.",
                       default=False, example="true"),
    "closure_time": _q("Time constant of channel closure (omit with direct geometry: channels stay open).", "s",
                       "a time", '"2 h"', low=0.0),
    "application_delay": _q("Time between the procedure and applying the formulation: the channels have been "
                            "closing for this long when the simulation starts.", "s", "a time", '"30 min"',
                            low=0.0),
    "pulse_energy": _q("Laser pulse energy per microbeam (device table gives depth and diameter).", "J",
                       "an energy", '"20 mJ"', low=0.0, low_open=True),
    # at most 0.9: a fractional laser treats a fraction; near 1 the unit cell's rim is a sliver of cells and a
    # 2 h run took 107 s (0.999) to 171 s (0.999999)
    "coverage": _n("Treated area fraction of a laser (ablated + coagulated); sets the density.", "0.05",
                   low=0.0, low_open=True, high=0.9),
    "coagulation_width": _q("Width of the coagulated rim around a laser channel.", "m", "a length", '"30 um"',
                            low=0.0),
    "coagulation_diffusivity_factor": _n("Factor on the tissue diffusivity in the coagulated rim.", "0.5",
                                         low=0.0),
    # at least 1e-6: a rim that holds nothing (0) has no capacity and divided by zero; 0 was silently 1 before
    "coagulation_partition_factor": _n("Factor on the tissue partition in the coagulated rim.", "1", low=1e-6),
    "area": _q("Treated skin area: absolute amounts (per layer, delivered, absorbed) are the fractions x dose x "
               "area. Default 1 cm^2 (the receptor's diffusion area in vitro), said in the output; a [systemic] "
               "model needs it given.", "m^2", "an area", '"50 cm^2"', low=0.0, low_open=True),
    "follicles": Field("bool", "Topical delivery through hair follicles as channels (site data from "
                       "exodiff/data/follicles.toml).", default=False, example="true"),
    "follicle_density": _q("Follicles per skin area (default from the skin preset).", "1/m^2",
                           "a number per area", '"18 1/cm^2"', low=0.0, low_open=True),
    "follicle_diameter": _q("Follicle orifice diameter (default from the skin preset).", "m", "a length",
                            '"80 um"', low=0.0, low_open=True),
    "follicle_depth": _q("Depth of the follicle channel (default from the skin preset).", "m", "a length",
                         '"0.6 mm"', low=0.0, low_open=True),
}

_CHANNEL = ("microneedle", "laser")
#: Delivery keys that mean something only with some methods.  Given with another
#: method they are an error, not ignored: a ``device`` without ``method =
#: "microneedle"`` would otherwise silently model intact skin.
DELIVERY_METHODS = {
    "device": _CHANNEL, "channel_depth": _CHANNEL, "channel_diameter": _CHANNEL, "tip_diameter": _CHANNEL,
    "density": _CHANNEL, "occlusion": _CHANNEL, "closure_time": _CHANNEL, "application_delay": _CHANNEL,
    "needle_length": ("microneedle",), "penetration_efficiency": ("microneedle",), "needles": ("microneedle",),
    "drum_diameter": ("microneedle",), "drum_width": ("microneedle",), "passes": ("microneedle",),
    "pulse_energy": ("laser",), "coverage": ("laser",), "coagulation_width": ("laser",),
    "coagulation_diffusivity_factor": ("laser",), "coagulation_partition_factor": ("laser",),
    "follicles": ("topical",), "follicle_density": ("topical",), "follicle_diameter": ("topical",),
    "follicle_depth": ("topical",),
}

SIMULATION = {
    # at most ten years: longer is no skin question, and near 1e300 s the first step (1e-8 of it) overflowed
    "duration": _q("Simulated time (at most ten years).", "s", "a time", '"48 h"', low=0.0, low_open=True,
                   high=10 * 365.25 * 86400.0),
    "output_interval": _q("Spacing of output times (from 0 to duration).", "s", "a time", '"1 h"', low=0.0,
                          low_open=True),
    "output_times": Field("quantity_list", "Explicit output times (strings with units).", si_unit="s",
                          dimension="a time", example='["10 min", "1 h", "24 h"]', low=0.0),
    # at least 1e-10: the 4th-order methods control their local error at ~tol^(4/3), and below ~1e-14 of the
    # state round-off alone exceeds it (1e-300 divided by zero in the step control)
    "tolerance": _n("Relative local error tolerance of the adaptive time stepping.", "1e-5", low=1e-10,
                    high=0.1, default=1e-5),
    "integrator": Field("choice", "Time integrator of the 1D column: \"esdirk4\" (4th order, L-stable; steps "
                        "over output times and interpolates), \"sdirk4\" (4th order, lands on every output), "
                        "\"tr-bdf2\" (2nd order, the earlier default) or \"krylov\" (a rational Krylov propagator, "
                        "no time steps, 10-100x faster than ESDIRK4 at equal accuracy, for runs whose coefficients "
                        "never change between a wash-off, receptor samples and applications: a film that does not "
                        "evaporate or a constant donor, no tracked cargo, otherwise ESDIRK4 solves the run and "
                        "the result says so; its error is a share of the dose everywhere, so amounts below its "
                        "bound, 0.1 x tolerance of the dose, are flagged below their resolvable level, where "
                        "ESDIRK4 resolves them). The r-z unit cell always uses TR-BDF2.",
                        choices=("esdirk4", "sdirk4", "tr-bdf2", "krylov"), default="esdirk4", example='"esdirk4"'),
    "resolution": Field("resolution", '"auto", or a table { dz = "1 um" } (largest cell) or '
                        "{ cells = 80 } (cells per layer).", default="auto", example='"auto"'),
    "accuracy": _n("Target error of every amount, as a fraction of the dose (1D runs; instead of resolution and "
                   "tolerance): picks two nested grids, whose results are extrapolated (Richardson), and the time "
                   "tolerance. See docs/numerics.md.", "1e-6", low=1e-8, high=1e-2),
    "max_memory": _q("Most memory the run may need (estimated at validation: cells x output times x columns, "
                     "exodiff docs scenario); default 4 GiB. EXODIFF_MAX_MEMORY and --max-memory override it.", "B",
                     "an amount of memory", '"8 GiB"', low=0.0, low_open=True),
}

#: most cells one count may ask for: beyond any grid that fits in memory (the memory estimate refuses
#: much less), and small enough that planning a grid never handles numbers floats cannot count exactly
MAX_CELLS = 10_000_000_000

#: Keys of a ``simulation.resolution`` table (instead of ``"auto"``); exactly one is given.
RESOLUTION = {
    "dz": _q("Largest cell size in depth.", "m", "a length", '"1 um"', low=0.0, low_open=True),
    "cells": Field("integer", "Cells per layer (1D).", example="80", low=4, high=MAX_CELLS),
    "dr": _q("Largest cell size in radius (unit cell of channel delivery).", "m", "a length", '"2 um"', low=0.0,
             low_open=True),
    "nr": Field("integer", "Radial cells of the unit cell.", example="200", low=4, high=MAX_CELLS),
    "nz": Field("integer", "Depth cells of the unit cell.", example="400", low=4, high=MAX_CELLS),
}

OUTPUT = {
    "directory": Field("string", "Output directory (default results/<scenario file stem>).",
                       example='"results/msc_forearm"'),
    "plots": Field("bool", "Write PNG plots.", default=True, example="true"),
    "per_class": Field("bool", "Also store each size class of a polydisperse preparation (variables class_* "
                       "with a size_class dimension); totals are always stored.", default=False, example="true"),
    "absorption": Field("bool", "Write absorption.csv and absorption_doses.csv (input into the blood for the "
                        "whole area, for PK tools; docs/pk_export.md); on by default with a [systemic] table.",
                        example="true"),
    "profile_times": Field("quantity_list", "Times of the depth-profile plot (default: a few spread over the run).",
                           si_unit="s", dimension="a time", example='["1 h", "8 h", "48 h"]', low=0.0),
}

#: The receptor chamber of an in-vitro diffusion cell (``skin.bottom = "receptor"``), MODEL.md: Franz cell.
RECEPTOR = {
    "preset": Field("string", "Diffusion-cell preset from exodiff/data/receptors.toml (its values, each overridable "
                    "here).", default="static_franz_cell", example='"static_franz_cell"'),
    "volume": _q("Receptor fluid volume of the cell.", "m^3", "a volume", '"5 mL"', low=0.0, low_open=True),
    "area": _q("Diffusion area of the cell (the skin area over the receptor).", "m^2", "an area", '"1.77 cm^2"',
               low=0.0, low_open=True),
    "partition": _n("Partition coefficient receptor fluid / deepest skin layer (1: the receptor fluid dissolves the "
                    "active as the dermis' water does).", "1", low=0.0, low_open=True, default=1.0),
    "sampling_interval": _q("Time between receptor samples (from the first at one interval to the end).", "s",
                            "a time", '"2 h"', low=0.0, low_open=True),
    "sampling_times": Field("quantity_list", "Explicit sampling times.", si_unit="s", dimension="a time",
                            example='["1 h", "2 h", "4 h", "8 h", "24 h"]', low=0.0, low_open=True),
    "sample_volume": _q("Volume taken at each sample and replaced by fresh receptor fluid (0: no sampling).",
                        "m^3", "a volume", '"0.3 mL"', low=0.0, default=0.0),
}

#: Repeated applications of the formulation (docs/model.md, 1.2).
REGIMEN = {
    "interval": _q("Time between applications (the first at 0).", "s", "a time", '"12 h"', low=0.0,
                   low_open=True),
    "times": Field("quantity_list", "Explicit application times, the first 0 (instead of interval).", si_unit="s",
                   dimension="a time", example='["0 h", "8 h", "24 h"]', low=0.0),
    # at most 100000 (ten years hourly): 1e9 built a schedule of 7.5 GB before any check
    "applications": Field("integer", "Number of applications (with interval; with times, their number).",
                          example="28", low=1, high=100_000),
    "wash_before_reapplication": Field("bool", "Each application first washes off what is left of the film "
                                       "(booked to `removed`); false: the new film joins the old one (amounts "
                                       "and thicknesses add).", default=True, example="false"),
    "procedure_interval": _q("Microneedle or laser delivery: time between procedure sessions, each re-opening the "
                             "channels before that application (the first at 0; each session at an application "
                             "time). Without it or procedure the channels of the first session close throughout.",
                             "s", "a time", '"4 weeks"', low=0.0, low_open=True),
    "procedure": Field("bool_list", "Microneedle or laser delivery: per application (aligned with the "
                       "applications), whether a procedure session re-opens the channels first; the first is true.",
                       example="[true, false, false, true]"),
}

#: A pharmacokinetic model of the blood, driven by what leaves the skin (docs/model.md, 1.3).
SYSTEMIC = {
    "model": Field("choice", "Compartment model of the blood, driven by the absorption rate x delivery.area.",
                   choices=("one_compartment", "two_compartment"), default="one_compartment",
                   example='"one_compartment"'),
    # physical ranges (a mouse's 1 mL to a whale's 1e6 L, clearances to 3600 m^3/h, half-lives from 1 s): 1e-300 L
    # and 1e300 L/h made plasma NaN or infinite
    "volume": _q("Volume of distribution (one_compartment).", "m^3", "a volume", '"40 L"', low=1e-6, high=1e3),
    "clearance": _q("Clearance from the (central) compartment.", "m^3/s", "a volume per time (clearance)",
                    '"5 L/h"', low=0.0, low_open=True, high=1.0),
    "half_life": _q("Elimination half-life (one_compartment, instead of clearance: CL = ln 2 V / half_life).", "s",
                    "a time", '"3 h"', low=1.0),
    "central_volume": _q("Central volume (two_compartment).", "m^3", "a volume", '"10 L"', low=1e-6, high=1e3),
    "peripheral_volume": _q("Peripheral volume (two_compartment).", "m^3", "a volume", '"30 L"', low=1e-6,
                            high=1e3),
    "intercompartmental_clearance": _q("Inter-compartmental clearance Q (two_compartment).", "m^3/s",
                                       "a volume per time (clearance)", '"10 L/h"', low=0.0, low_open=True,
                                       high=1.0),
}

#: Keys of a ``[population]`` table (``exodiff population``, docs/population.md).  Checked by
#: ``exodiff.studies.population``, not by the scenario; listed here for docs/scenario.md.
POPULATION = {
    "size": Field("integer", "Persons drawn.", example="200", low=1),
    "seed": Field("integer", "Seed of the Latin hypercube: the same seed draws the same persons.", default=0,
                  example="1", low=0),
    "body_site": Field("string", "Body site whose distributions are drawn (sites of exodiff/data/population.toml: "
                       "forearm, back, face); sets skin.preset. Default: the scenario's skin.preset.",
                       example='"forearm"'),
    "group": Field("string", "Age or sex group, or a list of them, applied in order (groups of "
                   "exodiff/data/population.toml: adult, male, female, older_adult).", example='"female"'),
    "distributions": Field("table", 'Your own distributions over dotted numeric keys, e.g. "formulation.uptake_rate" '
                           '= { distribution = "lognormal", median = "0.1 1/h", gsd = 2 }; lognormal (median, gsd '
                           'or mean, sd), normal (mean, sd, optional min, max), uniform and loguniform (min, max), '
                           'none (switch a site distribution off).', example='{ ... }'),
}

SECTIONS: dict[str, dict[str, Field]] = {
    "meta": META,
    "skin": SKIN,
    "formulation": FORMULATION,
    "delivery": DELIVERY,
    "receptor": RECEPTOR,
    "regimen": REGIMEN,
    "systemic": SYSTEMIC,
    "simulation": SIMULATION,
    "output": OUTPUT,
}

#: Layer names with a fixed meaning; explicit layers may use any other name.
STANDARD_LAYERS = ("stratum_corneum", "viable_epidermis", "dermis")


#: Words for keys whose schema text does not shorten to a label.
_KEY_WORDS = {"preset": "preset", "device": "device", "size_distribution": "size distribution file",
              "resolution": "grid resolution", "hindrance": "hindrance model"}


def _short(doc: str) -> str:
    """The first phrase of a schema doc, lower case: "Hydrodynamic diameter of the vesicle (or solute)." -> ..."""
    text = re.split(r"[.;,:]\s|\s\(|\.$", doc.strip(), maxsplit=1)[0]
    text = re.sub(r"\s+", " ", text).strip()
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def key_words(dotted: str) -> str:
    """A scenario key in words, from its meaning in the schema.

    ``"formulation.diameter"`` -> ``"hydrodynamic diameter of the vesicle"``;
    ``"skin.layers.stratum_corneum.thickness"`` -> ``"stratum corneum:
    thickness"``; an unknown key -> the key itself.  Used for plot labels and
    the ``long_name`` of a sweep's coordinates.
    """
    parts = str(dotted).split(".")
    prefix = ""
    if len(parts) == 4 and parts[:2] == ["skin", "layers"]:
        table, leaf, prefix = LAYER, parts[3], parts[2].replace("_", " ") + ": "
    elif len(parts) == 3 and parts[:2] == ["formulation", "cargo"]:
        table, leaf, prefix = CARGO, parts[2], "cargo: "
    elif len(parts) == 2 and parts[0] in SECTIONS:
        table, leaf = SECTIONS[parts[0]], parts[1]
        if leaf in _KEY_WORDS:
            return f"{parts[0]} {_KEY_WORDS[leaf]}"
    else:
        return str(dotted)
    field = table.get(leaf)
    if field is None:
        return str(dotted)
    text = _KEY_WORDS.get(leaf) or _short(field.doc)
    if prefix and text.startswith("layer "):  # "stratum corneum: thickness", not "...: layer thickness"
        text = text[len("layer "):]
    return prefix + text


def is_stratum_corneum(name: str, spec: dict) -> bool:
    """True for a stratum-corneum layer: one with the pore model (``hindrance = "pore"``) or named so.

    Where ``release_rate_stratum_corneum`` and ``enhancement_factor`` act (docs/model.md, section 5).
    """
    return spec.get("hindrance") == "pore" or name == "stratum_corneum"
