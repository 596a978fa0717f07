"""Outputs inside a step: the interpolation gap and the error estimate it enters (issue 13).

ESDIRK4 steps over plain output times and evaluates its continuous
extension there.  Where an amount changes by orders of magnitude inside a
step, no polynomial follows it, and the check runs, whose steps span the
same output, share the miss.  The kernel also evaluates the cubic Hermite
interpolant of the step's ends; their difference enters the error estimate.

References: the textbook Hermite form in the numpy twin
(:func:`reference_1d.hermite_dense`), and the layered PDE's Laplace solution
(:mod:`layered_laplace`).
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


def test_the_gap_is_the_textbook_hermite_interpolant_minus_the_extension():
    """The compiled loop's gap against the twin's Hermite interpolant written as ``h00 m0 + h10 h m0' + h01 m1
    + h11 h m1'`` (rates at the ends from the first and last stages), on the same steps: equal to round-off of
    the states (measured 8e-13 of a state of scale 1, 7e-18 of compartments of scale 1e-5), zero on exactly
    the outputs a step ended on, and not zero on the others."""
    p = Problem1D.from_layers(leaky_stack(), output_times=HOURLY, vehicle_thickness=FILM, resolution=[20, 20, 20])
    compiled = R.run_column(p, K.integrate_column, gaps=True)
    twin = R.run_column(p, gaps=True)
    assert compiled.stats["steps"] == twin.stats["steps"]
    (gu, gc), (tu, tc) = compiled.stats["gaps"], twin.stats["gaps"]
    inside = np.any(tc != 0.0, axis=1)
    assert np.array_equal(np.any(gc != 0.0, axis=1), inside)
    assert 20 <= np.count_nonzero(inside) < HOURLY.size - 2  # most outputs inside a step, not all
    assert not inside[0] and not inside[-1]  # the start, and the last output ends a step
    np.testing.assert_allclose(gu, tu, rtol=0.0, atol=1e-11 * np.abs(twin.u).max())
    np.testing.assert_allclose(gc, tc, rtol=0.0, atol=1e-11 * np.abs(twin.comp).max())
    assert np.abs(tu).max() > 1e4 * 1e-11 * np.abs(twin.u).max()  # the comparison is not of round-off


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
    the dose, stated 1.5e-7); with it the largest ratio is 0.67.  The stated errors grow by a few per cent
    elsewhere (median +0-3 % over the shipped 1D scenarios at hourly and 10-min outputs)."""
    layers = leaky_stack()
    p = Problem1D.from_layers(layers, output_times=HOURLY, vehicle_thickness=FILM)
    raw = LY.integrate_estimated(p)
    assert raw.interpolation_gap is not None
    ds = to_dataset(p, raw)
    assert "Hermite" in ds.attrs["resolvable_level_method"]
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
