"""Layer-conforming, non-uniform finite-volume grids.

Every layer interface lies on a cell face.  Inside a layer of thickness ``L``
with ``n`` cells the faces are ``z = L F(xi)`` at uniform ``xi = j/n`` with the
smooth stretching

    F(xi) = xi - s sin(2 pi xi) / (2 pi),     F'(xi) = 1 - s cos(2 pi xi),

so cells are finest at both ends of the layer (the skin surface, every
interface, the bottom) and coarsest in the middle, with largest/smallest
width ``(1 + s)/(1 - s)``.  Because the grid is the image of a uniform grid
under a smooth map, refining ``n`` keeps neighbouring cells' size ratio
``1 + O(1/n)``, which is what the finite-volume scheme needs to stay second
order (a piecewise-geometric grid with a fixed ratio would not).

Which layers are graded (issue 13): only those whose first-order loss
confines the profile to boundary layers at the faces (thickness above
:data:`GRADE_ABOVE_DECAY_LENGTHS` decay lengths ``sqrt(D / k)``).  Every other
layer is uniform (``s = 0``).  Interfaces need no grading: the harmonic-mean
face conductance is exact for the piecewise-linear profile of a laminate, and
the moving fronts of a finite dose cross the middle of each layer, where a
graded layer's cells are ``1 + s`` times the uniform width.  Measured against
the analytic (Laplace) solution of a three-layer finite dose with every grid
solved exactly in time (``benchmarks/grid_accuracy.py``): error x (cells)^2 =
3.64 graded (s = 0.75), 1.61 uniform, the same constant from 24 to 192 cells
per layer; the largest error is the film's uptake into the stratum corneum in
the first hour, which a finer first cell makes worse, not better.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: stretching of a graded layer: finest cells 1/7 of the coarsest
DEFAULT_STRETCH = 0.75
#: a layer is graded (``DEFAULT_STRETCH``) when it is thicker than this many
#: decay lengths ``sqrt(D / k)`` (its profile then lives in boundary layers at
#: its faces); otherwise it is uniform, which halves the error per cell of a
#: finite dose (module docstring).  Measured: a dermis at h / l = 2.5 was more
#: accurate uniform (sink error x N^2 0.69 against 0.98 at s = 0.5); a steady
#: loss slab at h / l = 10 needs 96 graded cells for profile 1e-4 and flux
#: 4.7e-4, but 201 uniform cells for 3e-4 and 3.1e-4 (docs/validation.md, 3)
GRADE_ABOVE_DECAY_LENGTHS = 4.0
#: cells of a layer at the reference thickness in "auto" resolution
AUTO_BASE_CELLS = 48
AUTO_REFERENCE_THICKNESS = 10e-6


@dataclass(frozen=True)
class LayeredGrid:
    """A 1D grid through the layers.

    Attributes
    ----------
    faces : float64[n+1]
        Face positions, m (``faces[0] = 0`` at the skin surface).
    centres : float64[n]
        Cell centres, m.
    widths : float64[n]
        Cell widths, m.
    layer_of_cell : int64[n]
        Index of the layer each cell belongs to.
    layer_slices : list of slice
        Cells of each layer.
    stretches : tuple of float
        Stretching of each layer (empty when the grid was built from faces),
        so the grid can be refined with nested faces (:meth:`refined`).
    """

    faces: np.ndarray
    centres: np.ndarray
    widths: np.ndarray
    layer_of_cell: np.ndarray
    layer_slices: list
    stretches: tuple = ()

    def cells_per_layer(self) -> list[int]:
        return [sl.stop - sl.start for sl in self.layer_slices]

    def thicknesses(self) -> list[float]:
        return [float(self.faces[sl.stop] - self.faces[sl.start]) for sl in self.layer_slices]

    def thinnest_cells(self) -> list[float]:
        """Each layer's thinnest cell, m (0 for a layer without cells)."""
        return [float(self.widths[sl].min()) if sl.stop > sl.start else 0.0 for sl in self.layer_slices]

    def refined(self, factor: int = 2) -> "LayeredGrid":
        """The same layers with ``factor`` times the cells; every face of this grid is a face of the new one.

        (The faces are the images of ``xi = j / n`` under each layer's map, and
        ``j / n = factor j / (factor n)``.)
        """
        stretches = self.stretches or tuple(0.0 for _ in self.layer_slices)
        return layered_grid(self.thicknesses(), [factor * c for c in self.cells_per_layer()], stretches)

    def coarsened(self, factor: int = 2, least: int = 4) -> "LayeredGrid":
        """The same layers with about ``1 / factor`` of the cells (at least ``least``; faces not nested when a
        count does not divide)."""
        stretches = self.stretches or tuple(0.0 for _ in self.layer_slices)
        cells = [max(least, -(-c // factor)) for c in self.cells_per_layer()]
        return layered_grid(self.thicknesses(), cells, stretches)

    @property
    def n(self) -> int:
        return self.widths.size


def stretched_faces(thickness: float, cells: int, stretch: float = DEFAULT_STRETCH) -> np.ndarray:
    """Faces of one layer, refined toward both ends.

    Parameters
    ----------
    thickness : float
        Layer thickness, m.
    cells : int
        Number of cells (>= 1).
    stretch : float
        ``s`` in [0, 1); 0 gives a uniform grid.

    Returns
    -------
    float64[cells+1]
        Face positions from 0 to ``thickness``, m.
    """
    xi = np.linspace(0.0, 1.0, cells + 1)
    f = xi - stretch * np.sin(2.0 * np.pi * xi) / (2.0 * np.pi)
    f[0], f[-1] = 0.0, 1.0
    return thickness * f


def layer_stretches(thicknesses, decay_lengths=None) -> list[float]:
    """Stretching ``s`` of each layer: graded only where loss makes boundary layers.

    Parameters
    ----------
    thicknesses : sequence of float
        Layer thicknesses, m.
    decay_lengths : sequence of float, optional
        ``sqrt(D / k)`` of each layer, m (inf or None without loss).

    Returns
    -------
    list of float
        ``DEFAULT_STRETCH`` for a layer thicker than
        ``GRADE_ABOVE_DECAY_LENGTHS`` decay lengths, else 0 (uniform).
    """
    if decay_lengths is None:
        return [0.0 for _ in thicknesses]
    out = []
    for h, ell in zip(thicknesses, decay_lengths):
        graded = ell is not None and 0.0 < ell < math.inf and h > GRADE_ABOVE_DECAY_LENGTHS * ell
        out.append(DEFAULT_STRETCH if graded else 0.0)
    return out


def _per_layer(stretch, count) -> list[float]:
    """A scalar stretch for every layer, or the sequence as given."""
    if stretch is None:
        return [0.0] * count
    if isinstance(stretch, (int, float)):
        return [float(stretch)] * count
    return [float(x) for x in stretch]


def auto_cells(thickness: float) -> int:
    """Cells for one layer in ``auto`` resolution.

    Thin layers get ``AUTO_BASE_CELLS``; thicker ones more, growing with the
    logarithm of the thickness, since the solution varies on scales set by
    the layer's neighbours and its own decay length rather than by its full
    thickness.
    """
    ratio = max(thickness / AUTO_REFERENCE_THICKNESS, 1.0)
    return int(round(AUTO_BASE_CELLS * (1.0 + 0.5 * math.log10(ratio))))


#: in "auto" resolution a layer that mixes within WELL_MIXED_FRACTION of the
#: output spacing (diffusion time h^2 / D) is flat at every output: its
#: profile relaxes as exp(-pi^2 D t / h^2).  More cells there add no accuracy,
#: only stiffness (S ~ n^2), and the dose balance's round-off grows with S
#: (a 10 um gel with D = 1e-9 m^2/s under hourly outputs: balance 2.6e-12 with
#: 48 uniform cells, 3e-13 with 8), so it gets AUTO_WELL_MIXED_CELLS.
WELL_MIXED_FRACTION = 1e-4
AUTO_WELL_MIXED_CELLS = 8

#: in "auto" resolution a layer's finest cell is at most 1/20 of its decay
#: length sqrt(D/k) under first-order loss (surface flux then within 5e-4)
AUTO_CELLS_PER_DECAY_LENGTH = 20.0
MAX_AUTO_CELLS = 4000


def cells_for_resolution(thicknesses, resolution, stretch=None, decay_lengths=None, diffusion_times=None,
                         time_scale=None) -> list[int]:
    """Cells per layer for a resolution setting.

    Parameters
    ----------
    thicknesses : sequence of float
        Layer thicknesses, m.
    resolution : "auto" or dict
        ``"auto"``, ``{"cells": N}`` (every layer) or ``{"dz": width}`` (largest
        cell width in m).
    stretch : float or sequence of float, optional
        Stretching of every layer or of each; default
        :func:`layer_stretches` of the decay lengths.
    diffusion_times : sequence of float, optional
        ``h^2 / D`` of each layer, s; with ``time_scale`` (the shortest
        interval between outputs, s) a layer with ``h^2 / D <
        WELL_MIXED_FRACTION x time_scale`` gets ``AUTO_WELL_MIXED_CELLS`` in
        ``"auto"`` (unless its decay length asks for more).
    decay_lengths : sequence of float, optional
        Decay length ``sqrt(D / k)`` of each layer with first-order loss, m
        (inf or None without loss).  In ``"auto"`` resolution a layer whose
        profile decays within a fraction of its thickness gets enough cells
        that its finest cells (at the faces, width ``(1 - s) L / n``) resolve
        the decay: without this the surface flux of a 1 mm slab with
        ``L / l = 100`` was 1 % off; with it 3e-4.
    """
    if isinstance(resolution, dict) and "cells" not in resolution and "dz" not in resolution:
        resolution = "auto"  # only unit-cell keys (nr, nz, dr): the column is automatic
    thicknesses = list(thicknesses)
    stretches = (layer_stretches(thicknesses, decay_lengths) if stretch is None
                 else _per_layer(stretch, len(thicknesses)))
    if resolution == "auto" or resolution is None:
        cells = [auto_cells(h) for h in thicknesses]
        if diffusion_times is not None and time_scale is not None and time_scale > 0.0:
            for i, td in enumerate(diffusion_times):
                if td < WELL_MIXED_FRACTION * time_scale:
                    cells[i] = AUTO_WELL_MIXED_CELLS
        if decay_lengths is not None:
            for i, (h, ell) in enumerate(zip(thicknesses, decay_lengths)):
                if ell is not None and 0.0 < ell < math.inf:
                    need = math.ceil(AUTO_CELLS_PER_DECAY_LENGTH * (1.0 - stretches[i]) * h / ell)
                    cells[i] = max(cells[i], min(need, MAX_AUTO_CELLS))
        return cells
    if "cells" in resolution:
        return [int(resolution["cells"]) for _ in thicknesses]
    dz = float(resolution["dz"])
    return [max(4, int(math.ceil((1.0 + s) * h / dz))) for h, s in zip(thicknesses, stretches)]


def layered_grid(thicknesses, cells, stretch=DEFAULT_STRETCH) -> LayeredGrid:
    """Stack the layers' grids into one column.

    Parameters
    ----------
    thicknesses : sequence of float
        Layer thicknesses top to bottom, m.
    cells : sequence of int
        Cells per layer.
    stretch : float or sequence of float
        Stretching ``s`` of every layer, or of each (:func:`layer_stretches`).
    """
    thicknesses = list(thicknesses)
    stretches = _per_layer(stretch, len(thicknesses))
    faces = [np.zeros(1)]
    top = 0.0
    layer_of_cell = []
    slices = []
    start = 0
    for idx, (h, n) in enumerate(zip(thicknesses, cells)):
        f = top + stretched_faces(h, n, stretches[idx])
        faces.append(f[1:])
        top = float(f[-1])
        layer_of_cell.append(np.full(n, idx, dtype=np.int64))
        slices.append(slice(start, start + n))
        start += n
    faces = np.concatenate(faces)
    widths = np.diff(faces)
    centres = 0.5 * (faces[1:] + faces[:-1])
    return LayeredGrid(faces, centres, widths, np.concatenate(layer_of_cell), slices, tuple(stretches))


# -- an accuracy target (simulation.accuracy) ------------------------------------------------
#: ``simulation.accuracy`` solves on two nested grids (n and 2n cells per layer)
#: and extrapolates (Richardson): error ~ n^-4.  Measured with every grid exact
#: in time against the analytic solution (benchmarks/grid_accuracy.py, two
#: three-layer finite doses): coarse grid = half the "auto" cells gives
#: 5.7e-7 and 6.7e-7 of the dose; a quarter of the accuracy goes to space.
ACCURACY_HALF_AUTO = 7e-7
ACCURACY_SPACE_SHARE = 0.25


def accuracy_cells(auto: list[int], accuracy: float) -> list[int]:
    """Cells per layer of the coarse grid of an accuracy target (the fine grid has twice as many).

    Parameters
    ----------
    auto : list of int
        The ``"auto"`` cells of each layer.
    accuracy : float
        Target error of every amount, fraction of the dose.
    """
    f = 0.5 * (ACCURACY_HALF_AUTO / (ACCURACY_SPACE_SHARE * accuracy)) ** 0.25
    return [max(8, int(math.ceil(f * n))) for n in auto]
