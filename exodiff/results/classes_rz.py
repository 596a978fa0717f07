"""Polydisperse preparations through micro-channels: the classes' unit-cell results, summed.

Size classes do not interact: each is the same linear transport problem with
its own coefficients (hindrance, pore pathway, clearance, the open channel's
free diffusivity, a follicle's entry factor) and its share of the applied
concentration.  So the unit cell is solved once per class and the results add
up: amounts, concentrations, fluxes and losses are sums over the classes, the
fractions refer to the whole dose, and the mass-balance error of the total is
the dose-weighted sum of the classes' (the balance is linear).

With a tracked cargo each class's unit cell carries its free cargo as a
second field (the cargo a class's vesicles set free is that class's), so the
cargo variables add over the classes too, and the cargo ledger's error of
the total is the dose-weighted sum of the classes' as well.

The 1D column steps all classes together in one compiled call; here each
class keeps its own adaptive steps.  A unit-cell step costs far more than a
Python call, and a common step would be set by the most demanding class for
all of them.
"""

from __future__ import annotations

import numpy as np

from exodiff.problem.layered import Problem1D

#: result variables that add over the classes
ADDITIVE = ("concentration", "concentration_rz", "amount", "loss_by_layer", "flux_systemic", "flux_receptor",
            "flux_into_skin")
#: with a tracked cargo, these add over the classes too
ADDITIVE_CARGO = ("free_cargo_amount", "free_cargo_concentration", "cargo_amount", "applied_dose")


def combine(parts, columns, problem: Problem1D, per_class: bool = False):
    """Totals over the classes' unit-cell Datasets (see the module docstring).

    Parameters
    ----------
    parts : list of xarray.Dataset
        One :func:`~exodiff.results.dataset_rz.to_dataset_rz` result per class, same grid.
    columns : list of exodiff.problem.layered.Column
        The classes (diameter, number fraction, coefficients).
    problem : Problem1D
        The nominal problem: its layers give the dataset's coefficient
        variables, as in a 1D polydisperse result.
    per_class : bool
        Add the ``class_*`` variables.
    """
    from exodiff.results.dataset import _COEF_ATTRS, _coefficients

    total = parts[0].copy()
    doses = np.array([float(p.attrs["applied_dose"]) for p in parts])
    dose = float(doses.sum())
    cargo = "species" in parts[0].dims
    for name in ADDITIVE + (ADDITIVE_CARGO if cargo else ()):
        total[name] = sum(p[name] for p in parts).assign_attrs(parts[0][name].attrs)
    total["fraction"] = (total["amount"] / dose).assign_attrs(parts[0]["fraction"].attrs)
    total["mass_balance_error"] = (sum(p["mass_balance_error"] * d for p, d in zip(parts, doses)) / dose
                                   ).assign_attrs(parts[0]["mass_balance_error"].attrs)
    if cargo:
        cargo_col = [c for c in problem.columns if c.species == "cargo"][0]
        cv, cc = _coefficients(problem.layers), _coefficients(cargo_col.layers)
        for k in cv:
            total[k] = (("species", "layer"), np.stack([cv[k], cc[k]]),
                        {"units": _COEF_ATTRS[k][0], "long_name": _COEF_ATTRS[k][1]})
    else:
        for k, v in _coefficients(problem.layers).items():
            total[k] = (("layer",), v, {"units": _COEF_ATTRS[k][0], "long_name": _COEF_ATTRS[k][1]})
    attrs = dict(parts[0].attrs)
    attrs.update(applied_dose=dose, size_classes=len(parts),
                 solver_steps=int(sum(p.attrs["solver_steps"] for p in parts)),
                 solver_rejected_steps=int(sum(p.attrs["solver_rejected_steps"] for p in parts)),
                 wall_time_s=float(sum(p.attrs["wall_time_s"] for p in parts)))
    if "dose_per_application" in attrs:
        # a regimen: every class's film adds to the formulation's dose
        attrs["dose_per_application"] = dose / int(attrs["applications"])
    # the open channel's D (and a follicle's entry) differ by class: per class below, not one number
    for key in ("channel_open_diffusivity_um2_per_s", "channel_open_partition"):
        attrs.pop(key, None)
    total.attrs = attrs
    total = total.assign(
        class_open_diffusivity=(("size_class",), [float(p.attrs["channel_open_diffusivity_um2_per_s"]) for p in parts],
                                {"units": "um2 s-1", "long_name": "diffusivity in the open channel (size class)"}),
        class_open_partition=(("size_class",), [float(p.attrs["channel_open_partition"]) for p in parts],
                              {"units": "1", "long_name": "partition of the open channel (size class)"}),
    )
    total = total.assign_coords(
        size_class=("size_class", np.arange(len(parts)), {"long_name": "size class, smallest first"}),
        class_diameter=("size_class", np.array([c.diameter for c in columns]) * 1e9,
                        {"units": "nm", "long_name": "hydrodynamic diameter of the size class"}),
        class_weight=("size_class", np.array([c.weight for c in columns]),
                      {"units": "1", "long_name": "number fraction of the size class"}))
    if not per_class:
        return total
    from exodiff.units import udunits

    unit = udunits(attrs["dose_unit"])  # UDUNITS-2 in the file, as the other amount variables
    # the classes' vesicles (with a cargo, the class variables are the vesicle species', as in 1D)
    ves = [p.sel(species="vesicle") if cargo else p for p in parts]
    stack = {name: np.stack([p[name].values for p in ves], axis=1)
             for name in ("amount", "concentration", "loss_by_layer")}
    total = total.assign(
        class_applied_dose=(("size_class",), doses, {"units": f"{unit} cm-2",
                                                     "long_name": "applied amount of the size class"}),
        class_amount=(("time", "size_class", "compartment"), stack["amount"],
                      {"units": f"{unit} cm-2", "long_name": "amount of the size class by compartment"}),
        class_fraction=(("time", "size_class", "compartment"), stack["amount"] / doses[None, :, None],
                        {"units": "1", "long_name": "amount / applied amount of the size class"}),
        class_concentration=(("time", "size_class", "depth"), stack["concentration"],
                             {"units": f"{unit} cm-3",
                              "long_name": "concentration of the size class, lateral average"}),
        class_loss_by_layer=(("time", "size_class", "process", "layer"), stack["loss_by_layer"],
                             {"units": f"{unit} cm-2",
                              "long_name": "cumulative amount of the size class removed in each layer"}),
    )
    per = [_coefficients(c.layers) for c in columns]
    for k in per[0]:
        total[f"class_{k}"] = (("size_class", "layer"), np.stack([p[k] for p in per]),
                               {"units": _COEF_ATTRS[k][0], "long_name": _COEF_ATTRS[k][1] + " (size class)"})
    return total
