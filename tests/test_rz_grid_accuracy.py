"""Spatial accuracy of the r-z unit cell's depth grid against the true PDE (issue 13).

The laterally uniform unit cell (no channel) is the 1D column on the same
depth grid (tests/test_rz.py::test_laterally_uniform_reproduces_1d), so the
layered PDE's analytic Laplace-domain solution (tests/layered_laplace.py)
is the true answer for its depth grid.  Numbers: docs/numerics_rz.md,
"Grid accuracy"; benchmarks/grid_accuracy_rz.py.
"""

from __future__ import annotations

import numpy as np

from layered_laplace import (
    HELD_OUT_TIMES,
    HELD_OUT_VEHICLE,
    exact_semidiscrete,
    held_out_layers,
    true_amounts,
)
from exodiff.problem.unit_cell import ProblemRZ
from exodiff.solvers.ledger import tissue_amounts_rz, vehicle_amount_rz
from exodiff.solvers.unit_cell import integrate_rz

#: the held-out finite dose of benchmarks/grid_accuracy.py: its SC front crosses in the first hours
LAYERS = held_out_layers()
VEHICLE = HELD_OUT_VEHICLE
TIMES = HELD_OUT_TIMES


def _cell(nz, stretch=None, tolerance=1e-5):
    return ProblemRZ.from_layers(LAYERS, channel_radius=0.0, channel_depth=0.0, density=2e6, open_diffusivity=1.0,
                                 output_times=TIMES, vehicle_thickness=VEHICLE, resolution={"nz": nz, "nr": 4},
                                 stretch=stretch, tolerance=tolerance)


def _space_error(p, ref):
    """Max over outputs and film / layers / sink of |amount - true| / dose, exact in time."""
    return float(np.max(np.abs(exact_semidiscrete(p.column_problem(), TIMES) - ref)))


def test_depth_grid_error_per_cell_not_worse_than_uniform():
    """The default r-z depth grid is at least as accurate per cell as a uniform one.

    Same total cells, same split over the layers; errors of the film, each
    layer and the sink at 9 outputs against the analytic layered PDE, each
    grid's semi-discrete system solved exactly in time.  Before issue 13 the
    depth grid graded every layer (``s = 0.75``): measured error x nz^2 7.2
    against 3.2 for uniform cells, 2.2x, at nz = 72 and 144; the new default
    (uniform here: no layer is thicker than 4 decay lengths) equals the
    uniform grid.  Fails if the default goes back to grading layers whose
    front crosses their middle.
    """
    ref = true_amounts(LAYERS, TIMES, VEHICLE)
    for nz in (72, 144):
        e_default = _space_error(_cell(nz), ref)
        e_uniform = _space_error(_cell(nz, stretch=0.0), ref)
        e_graded = _space_error(_cell(nz, stretch=0.75), ref)
        assert e_default <= e_uniform * (1.0 + 1e-9), (nz, e_default, e_uniform)
        # the reference can tell the grids apart: the old grading is measurably worse
        assert e_graded > 2.0 * e_uniform, (nz, e_graded, e_uniform)
        # and the error is the grid's, second order: error x nz^2 within 10 % of the measured 3.2
        assert 2.9 < e_default * nz ** 2 < 3.6, (nz, e_default * nz ** 2)


def test_rz_solver_on_default_depth_grid_meets_the_true_pde():
    """The compiled r-z loop at a tight tolerance has the depth grid's error, not more.

    At tolerance 1e-9 the r-z amounts equal the exact-in-time semi-discrete
    column to 2.4e-8 of the dose (measured; the time error), far below the
    grid's 6.3e-4 at nz = 72; so against the analytic PDE the r-z run has
    the grid's own error to 0.1 %.
    """
    ref = true_amounts(LAYERS, TIMES, VEHICLE)
    p = _cell(72, tolerance=1e-9)
    raw = integrate_rz(p, parallel=False)
    L = len(LAYERS)
    got = np.column_stack([vehicle_amount_rz(p, raw), tissue_amounts_rz(p, raw), raw.comp[:, 3 * L]])[1:] / p.unit_dose
    semi = exact_semidiscrete(p.column_problem(), TIMES)
    assert np.max(np.abs(got - semi)) < 1e-7
    e_grid = np.max(np.abs(semi - ref))
    assert np.max(np.abs(got - ref)) < 1.001 * e_grid


def test_depth_rule_per_segment():
    """Uniform layers, loss-graded layers and the channel bottom's segments graded, as documented.

    Catches the rule applied per layer instead of per segment (the corner
    rows), a loss boundary layer left uniform, an explicit ``stretch`` that
    does not override the rule, and a size estimate (scenario budget) that
    disagrees with the grid built.
    """
    from dataclasses import replace

    from exodiff.geometry.grid_rz import unit_cell_grid, unit_cell_shape
    from exodiff.problem.layered import _decay_length

    lossy = LAYERS[:2] + (replace(LAYERS[2], degradation_rate=1e-3),)   # dermis: 1 mm, decay length 98 um
    kw = dict(channel_radius=25e-6, channel_depth=60e-6, density=2e7, open_diffusivity=1e-10,
              output_times=TIMES, vehicle_thickness=VEHICLE)
    p = ProblemRZ.from_layers(lossy, **kw)
    z = p.grid.z
    w = z.widths

    def spread(lo, hi):   # largest / smallest cell between two depths
        m = (z.centres > lo) & (z.centres < hi)
        return w[m].max() / w[m].min()

    assert spread(0.0, 15e-6) < 1 + 1e-9                       # SC: uniform
    assert spread(15e-6, 60e-6) > 5.0 and spread(60e-6, 95e-6) > 5.0   # segments at the channel bottom
    assert spread(95e-6, 1095e-6) > 5.0                        # dermis: loss boundary layers
    assert spread(0.0, 1095e-6) > 5.0
    # without the channel the epidermis is uniform (no corner), the dermis still graded
    q = ProblemRZ.from_layers(lossy, **{**kw, "channel_radius": 0.0})
    zq = q.grid.z
    ve = (zq.centres > 15e-6) & (zq.centres < 95e-6)
    assert np.ptp(zq.widths[ve]) < 1e-9 * zq.widths[ve].max()
    # an explicit stretch applies everywhere, the corner segments included
    zr = ProblemRZ.from_layers(lossy, **kw, stretch=0.0).grid.z
    for lo, hi in ((15e-6, 60e-6), (60e-6, 95e-6)):
        m = (zr.centres > lo) & (zr.centres < hi)
        assert np.ptp(zr.widths[m]) < 1e-9 * zr.widths[m].max()
    # the size estimate sees the same rule (a dz resolution depends on it)
    thick = [ly.thickness for ly in lossy]
    res = {"dz": 2e-6, "nr": 20}
    g = unit_cell_grid(thick, radius=p.grid.radius, channel_radius=25e-6, channel_depth=60e-6, resolution=res,
                       decay_lengths=[_decay_length(ly) for ly in lossy])
    assert unit_cell_shape(thick, radius=p.grid.radius, channel_radius=25e-6, channel_depth=60e-6, resolution=res,
                           decay_lengths=[_decay_length(ly) for ly in lossy]) == g.shape
    assert g.z.widths.max() <= 2e-6 * (1 + 1e-9)
    assert ProblemRZ.from_layers(lossy, **kw, resolution=res).grid.shape == g.shape
