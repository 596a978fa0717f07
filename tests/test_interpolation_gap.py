"""Outputs inside a step: the interpolation gap and the error estimate it enters (issue 13).

ESDIRK4 steps over plain output times and evaluates its continuous
extension there.  Where an amount changes by orders of magnitude inside a
step, no polynomial follows it, and the check runs, whose steps span the
same output, share the miss.  The kernel also evaluates the cubic Hermite
interpolant of the step's ends and the quadratic through them with the end
rate; the smaller difference of each amount from the extension enters the
error estimate.

References: the interpolants written out in the numpy twin
(:func:`reference_1d.hermite_dense`, :func:`reference_1d.quadratic_dense`),
and the layered PDE's Laplace solution (:mod:`layered_laplace`).
"""

from __future__ import annotations

import numpy as np
import pytest
from layered_laplace import laplace_amounts, talbot
from test_resolvable import FILM, H, sc_stack, talbot_size
from twins import reference_1d as R

from exodiff.kernels import column1d as K
from exodiff.problem.layered import Problem1D
from exodiff.results.dataset import to_dataset
from exodiff.solvers import layered as LY

HOURLY = np.arange(0.0, 48.0 * H + 1.0, H)


def leaky_stack():
    """An SC that lets about 2 % of a film's dose into the dermis in 48 h (D_sc 1e-15 m^2/s)."""
    return sc_stack(1e-15)


def test_the_gaps_are_the_two_interpolants_minus_the_extension():
    """The compiled loop's gaps against the twin's interpolants written out: the cubic Hermite ``h00 m0 + h10 h
    m0' + h01 m1 + h11 h m1'`` and the quadratic ``m0 + (2 theta - theta^2) (m1 - m0) + (theta^2 - theta) h
    m1'`` (the rates at the ends from the first and last stages), on the same steps: zero on exactly the
    outputs a step ended on, not zero on the others, and equal in what the estimate reads (the film's ``u``,
    each layer's amount, the last node, the compartments; the kernel sums the stage rates over each layer
    once per step, the twin node by node) to 1e-9 of each one's largest value (the two sum stiff stage rates
    in another order: node by node up to 2e-11 of a state of scale 1, on a gap of 3e-5)."""
    from exodiff.solvers import superposition

    p = Problem1D.from_layers(leaky_stack(), output_times=HOURLY, vehicle_thickness=FILM, resolution=[20, 20, 20])
    compiled = R.run_column(p, K.integrate_column, gaps=True)
    twin = R.run_column(p, gaps=True)
    assert compiled.stats["steps"] == twin.stats["steps"]
    (gu, gc), (tu, tc) = compiled.stats["gaps"], twin.stats["gaps"]
    inside = np.any(tc[0] != 0.0, axis=1)
    for i in (0, 1):
        assert np.array_equal(np.any(gc[i] != 0.0, axis=1), inside)
        assert np.array_equal(np.any(tc[i] != 0.0, axis=1), inside)
    assert 20 <= np.count_nonzero(inside) < HOURLY.size - 2  # most outputs inside a step, not all
    assert not inside[0] and not inside[-1]  # the start, and the last output ends a step
    w = superposition._reduce_weights(p)[0]  # (n, L + 2): film u, each layer's amount, last node u
    scale = np.abs(twin.u @ w).max(axis=0)
    for i in (0, 1):
        got, ref = gu[i], tu[i] @ w  # the kernel's are in amounts already
        assert np.all(np.abs(got - ref).max(axis=0) <= 1e-9 * scale), i
        assert np.all(np.abs(ref).max(axis=0) >= 100 * 1e-9 * scale), i  # the comparison is not of round-off
        np.testing.assert_allclose(gc[i], tc[i], rtol=0.0, atol=1e-9 * np.abs(twin.comp).max())
        assert np.abs(tc[i]).max() >= 100 * 1e-9 * np.abs(twin.comp).max()
    assert np.abs(tu[0] - tu[1]).max() > 1e-3 * np.abs(tu[1]).max()  # two different interpolants


@pytest.mark.parametrize("integrator", ["sdirk4", "tr-bdf2"])
def test_methods_that_end_a_step_at_every_output_have_no_gap(integrator):
    from dataclasses import replace

    p = Problem1D.from_layers(leaky_stack(), output_times=HOURLY, vehicle_thickness=FILM, resolution=[20, 20, 20])
    raw = LY.integrate(replace(p, integrator=integrator))
    assert raw.interpolation_gap is None


def test_hourly_outputs_inside_steps_are_within_their_stated_errors():
    """Every amount the result resolves (SC, viable epidermis, dermis, at each of 48 hourly outputs, default
    grid and tolerance) is within its stated error of the layered PDE (Laplace + Talbot).

    Without the gap the dermis at 41 h, an output inside a step, was 1.23 x its stated error off (1.8e-2 of
    the dose, stated 1.5e-7); with it the largest ratio is 0.67."""
    layers = leaky_stack()
    p = Problem1D.from_layers(layers, output_times=HOURLY, vehicle_thickness=FILM)
    raw = LY.integrate_estimated(p)
    assert raw.interpolation_gap is not None
    ds = to_dataset(p, raw)
    assert "the cubic Hermite interpolant of each step's ends" in ds.attrs["resolvable_level_method"]
    F = laplace_amounts(layers, FILM, 1.0)
    checked = 0
    for j, name in enumerate(("stratum_corneum", "viable_epidermis", "dermis"), start=1):
        got = ds["fraction"].sel(compartment=name).values
        est = ds["fraction_error"].sel(compartment=name).values
        below = ds["below_resolvable_level"].sel(compartment=name).values
        for i, t in enumerate(HOURLY[1:], start=1):
            if below[i]:
                continue
            x2 = layers[0].thickness ** 2 / (4.0 * layers[0].diffusivity * t)
            ref = talbot(lambda s: F(s)[..., j], t, 48 if j == 1 else talbot_size(x2)) / FILM
            assert abs(got[i] - ref) < est[i], (name, t / H, got[i], ref, est[i])
            checked += 1
    assert checked > 120
