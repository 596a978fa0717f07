"""Grid construction: layer conformity, stretching, and the auto-resolution rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exodiff.geometry.grid import cells_for_resolution, layered_grid
from exodiff.problem.layered import Layer, Problem1D
from exodiff.solvers.layered import integrate


@settings(deadline=None, max_examples=40)
@given(st.lists(st.floats(1e-6, 2e-3), min_size=1, max_size=5), st.integers(4, 60))
def test_interfaces_lie_on_faces_and_widths_are_positive(thick, n):
    g = layered_grid(thick, [n] * len(thick))
    interfaces = np.cumsum(thick)
    for z in interfaces:
        assert np.min(np.abs(g.faces - z)) <= 1e-12 * z
    assert np.all(g.widths > 0)
    assert g.faces[-1] == pytest.approx(sum(thick), rel=1e-12)


@pytest.mark.parametrize("ratio", [10.0, 100.0, 300.0])
def test_auto_resolution_resolves_the_loss_decay_length(ratio):
    """Steady slab with first-order loss, constant donor, no-flux bottom:
    surface flux K C sqrt(D k) tanh(L / l), l = sqrt(D / k)."""
    D, K, L = 1e-11, 1.0, 1e-3
    k = D / (L / ratio) ** 2
    p = Problem1D.from_layers([Layer("slab", L, D, K, degradation_rate=k)], output_times=[0.0, 50.0 / k],
                              vehicle="infinite", concentration=1.0, vehicle_thickness=1e-3, bottom="no_flux")
    raw = integrate(p)
    g1 = p.kernel_arrays()["g"][1]
    flux = g1 * (raw.u[-1, 0] - raw.u[-1, 1])
    assert flux == pytest.approx(K * np.sqrt(D * k) * np.tanh(ratio), rel=1e-3)


def test_decay_lengths_only_add_cells():
    base = cells_for_resolution([1e-3, 20e-6], "auto")
    more = cells_for_resolution([1e-3, 20e-6], "auto", decay_lengths=[1e-5, float("inf")])
    assert more[0] > base[0] and more[1] == base[1]
