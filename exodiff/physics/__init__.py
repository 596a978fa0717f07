"""Physics: how the active and the tissue become transport coefficients.

Pure functions over floats in SI (:mod:`.transport`, :mod:`.rates`) and the
per-layer assembly the problem builder calls (:mod:`.coefficients`).  See
``docs/model.md`` for the equations, sources and assumptions.
"""

from __future__ import annotations

from exodiff.physics.coefficients import (
    HINDRANCE_MODELS,
    Active,
    LayerCoefficients,
    cargo_coefficients,
    coefficients_for,
    layer_coefficients,
)

__all__ = ["layer_coefficients", "coefficients_for", "cargo_coefficients", "LayerCoefficients", "Active",
           "HINDRANCE_MODELS"]
