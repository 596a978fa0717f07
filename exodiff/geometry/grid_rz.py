"""Conforming, non-uniform finite-volume grid of the axisymmetric (r, z) unit cell.

One micro-channel sits on the axis of a cylinder of radius
``R = 1 / sqrt(pi n)`` (``n`` channels per m^2; neighbours are mirror images,
so ``r = R`` is a no-flux wall).  The grid is a tensor product of a depth
grid and a radial grid, and it *conforms*: every layer interface, the channel
depth (and the bottom of the coagulation zone), the channel radius and the
outer radius of the coagulation annulus lie on cell faces, so every cell is
made of one material and the harmonic face conductances are exact for the
piecewise steady state.

Depth (``z``): the layers are split at the channel depth (and at the bottom
of the coagulation zone) into *segments*; each segment gets the smooth map of
:func:`exodiff.geometry.grid.stretched_faces` with its layer's stretching
``s``, the 1D column's rule (:func:`exodiff.geometry.grid.layer_stretches`):
``s = 0`` (uniform cells) unless the layer's first-order loss confines its
profile to boundary layers (thicker than ``GRADE_ABOVE_DECAY_LENGTHS`` decay
lengths), then ``DEFAULT_STRETCH`` (fine at both ends).  The segments that
end or start at the channel bottom (or the coagulation bottom) keep
``DEFAULT_STRETCH`` whatever their layer: the re-entrant corner of the
channel wall is there, and fine rows at it halve the corner's error.
Grading every layer, as before issue 13, doubled the error per cell of a
finite dose in the laterally uniform cell (docs/numerics_rz.md, "Grid
accuracy").  The result is an ordinary
:class:`exodiff.geometry.grid.LayeredGrid` whose ``layer_slices`` refer to the
*layers*, so the same depth grid drives a :class:`exodiff.problem.layered.Problem1D`
for comparisons.

Radius (``r``): up to three segments, each graded toward the channel wall
where the solution has a corner singularity (MODEL.md section 7):

- ``[0, r_c]``, the channel interior: geometric, finest at the wall, coarser
  toward the axis, where the solution is smooth by symmetry;
- ``[r_c, r_c + w]``, the coagulation annulus (when ``w > 0``): smooth
  stretching, fine at both of its walls;
- ``[r_c + w, R]``, the tissue between channels: geometric, finest at the
  wall, ratio ``q`` (1.05 at ``auto`` resolution) away from it.

A geometric segment of length ``L`` with ``n`` cells and ratio ``q`` is the
image of a uniform grid under ``x -> L (exp(lam x) - 1) / (exp(lam) - 1)``,
``lam = n ln q``.  Changing the resolution keeps ``lam`` (so ``q`` becomes
``q^(n_auto / n)``): refinement then gives the image of a finer uniform grid
under the *same* smooth map, neighbouring cells' size ratio tends to one, and
the scheme stays second order where the solution is smooth.  Doubling the
cells of every segment nests the grids exactly.

A conical channel (a microneedle track narrowing from ``r_c`` at the surface
to ``r_b`` at its bottom) is a staircase: the taper ``[r_b, r_c]`` gets
uniform cells as fine as the wall cell, and channel row ``i`` holds the
columns inside the cone's radius at the row's centre (snapped to the nearest
face).  Every cell is still one material; the staircase holds the cone's
volume to about 0.1 % at ``auto`` resolution (tested).

Cell centres in ``r`` are the arithmetic midpoints of the faces (as in
py-pde's ``cylindrical_sym`` operator); the radial half-widths used by the
conductances are ``dr/2`` on both sides of a centre.  With cell volume
``pi (r_{j+1}^2 - r_j^2) dz = 2 pi r_mid dr dz`` this is the standard
second-order conservative axisymmetric stencil.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from exodiff.geometry.grid import DEFAULT_STRETCH, LayeredGrid, auto_cells, layer_stretches, stretched_faces

#: geometric ratio of the radial grid away from the channel wall at ``auto`` resolution
DEFAULT_RADIAL_RATIO = 1.05
#: at ``auto`` resolution the cell at the channel wall is this fraction of the
#: smaller of the channel radius and the tissue gap between channels
AUTO_WALL_FRACTION = 1.0 / 24.0
#: radial cells of a unit cell without a channel at ``auto`` resolution
AUTO_CELLS_NO_CHANNEL = 8

# region codes of the cell map
TISSUE, CHANNEL, COAGULATION = 0, 1, 2


def unit_cell_radius(density: float) -> float:
    """Radius ``R = 1/sqrt(pi n)`` of the unit cell for ``n`` channels per m^2 (m)."""
    if not density > 0.0:
        raise ValueError(f"channel density must be positive, got {density!r} per m^2")
    return 1.0 / math.sqrt(math.pi * density)


@dataclass(frozen=True)
class UnitCellGrid:
    """Tensor grid of the unit cell; rows are depth (``i``), columns radius (``j``).

    Attributes
    ----------
    z : LayeredGrid
        Depth grid; ``z.layer_slices`` are the layers' rows.
    r_faces : float64[nr+1]
        Radial faces, m (``r_faces[0] = 0``, ``r_faces[-1] = radius``).
    radius : float
        Unit-cell radius ``R``, m.
    channel_radius, channel_depth : float
        Channel geometry, m (0 for no channel).
    coag_width : float
        Width of the coagulation zone around the channel (0 for none), m.
    channel_cols : int64[nz]
        Cells ``j < channel_cols[i]`` of row ``i`` are channel cells.
    region : int8[nz, nr]
        ``TISSUE`` (0), ``CHANNEL`` (1) or ``COAGULATION`` (2) per cell.
    r_segments : list of (float, float, int)
        Radial segments (start, end, cells), for reports.
    channel_bottom_radius : float or None
        Radius at the channel bottom of a cone, m (None: a cylinder).
    """

    z: LayeredGrid
    r_faces: np.ndarray
    radius: float
    channel_radius: float
    channel_depth: float
    coag_width: float
    channel_cols: np.ndarray
    region: np.ndarray
    r_segments: list
    channel_bottom_radius: float | None = None

    # -- sizes ----------------------------------------------------------------
    @property
    def nz(self) -> int:
        return self.z.n

    @property
    def nr(self) -> int:
        return self.r_faces.size - 1

    @property
    def shape(self) -> tuple:
        return (self.nz, self.nr)

    # -- geometry factors (precomputed once, as in py-pde's cylindrical_sym) ---
    @property
    def dr(self) -> np.ndarray:
        """Radial cell widths, m."""
        return np.diff(self.r_faces)

    @property
    def r_centres(self) -> np.ndarray:
        """Radial cell centres (arithmetic midpoints), m."""
        return 0.5 * (self.r_faces[1:] + self.r_faces[:-1])

    @property
    def annulus_areas(self) -> np.ndarray:
        """Top/bottom face area of each column, ``pi (r_{j+1}^2 - r_j^2)``, m^2."""
        rf = self.r_faces
        return np.pi * (rf[1:] ** 2 - rf[:-1] ** 2)

    @property
    def area(self) -> float:
        """Skin area of the unit cell, ``pi R^2``, m^2."""
        return math.pi * self.radius ** 2

    @property
    def volumes(self) -> np.ndarray:
        """Cell volumes, m^3, shape ``(nz, nr)``."""
        return self.z.widths[:, None] * self.annulus_areas[None, :]

    @property
    def bottom_radius(self) -> float:
        """Channel radius at the bottom, m (``channel_radius`` for a cylinder)."""
        return self.channel_radius if self.channel_bottom_radius is None else self.channel_bottom_radius

    @property
    def channel_rows(self) -> int:
        """Rows that hold channel cells (the channel occupies rows ``0..channel_rows-1``)."""
        return int(np.count_nonzero(self.channel_cols))

    @property
    def channel_columns(self) -> int:
        """Largest number of channel cells in a row."""
        return int(self.channel_cols.max()) if self.channel_cols.size else 0


# -- one-dimensional building blocks -----------------------------------------------------

def geometric_faces(length: float, cells: int, ratio: float) -> np.ndarray:
    """Faces ``0..length`` of a segment whose cells grow by ``ratio`` from 0 outward.

    Parameters
    ----------
    length : float
        Segment length, m.
    cells : int
        Number of cells (>= 1).
    ratio : float
        Width of cell ``k+1`` over cell ``k`` (>= 1; 1 gives a uniform segment).

    Returns
    -------
    float64[cells+1]
        Increasing faces, finest cell at 0.
    """
    k = np.arange(cells + 1, dtype=float)
    if abs(ratio - 1.0) < 1e-12:
        f = k / cells
    else:
        f = np.expm1(k * math.log(ratio)) / math.expm1(cells * math.log(ratio))
    f[0], f[-1] = 0.0, 1.0
    return length * f


def _geometric_count(length: float, first: float, ratio: float) -> int:
    """Cells of a geometric segment starting with a cell of width ``first``."""
    if length <= first:
        return 1
    if abs(ratio - 1.0) < 1e-12:
        return max(1, int(round(length / first)))
    return max(1, int(round(math.log1p(length * (ratio - 1.0) / first) / math.log(ratio))))


@dataclass(frozen=True)
class _Segment:
    """A radial or depth segment: where it is, how many cells, which map."""

    start: float
    end: float
    cells: int
    kind: str            # "toward_end" / "toward_start" (geometric), "both" (smooth stretch)
    lam: float = 0.0     # geometric: n ln q (kept under refinement)
    stretch: float = DEFAULT_STRETCH

    @property
    def length(self) -> float:
        return self.end - self.start

    def with_cells(self, cells: int) -> "_Segment":
        return _Segment(self.start, self.end, max(1, int(cells)), self.kind, self.lam, self.stretch)

    def faces(self) -> np.ndarray:
        if self.kind == "both":
            return self.start + stretched_faces(self.length, self.cells, self.stretch)
        q = math.exp(self.lam / self.cells)
        f = geometric_faces(self.length, self.cells, q)
        if self.kind == "toward_start":   # finest at the start
            return self.start + f
        return self.end - f[::-1]          # finest at the end

    def max_width(self) -> float:
        return float(np.max(np.diff(self.faces())))


def _distribute(total: int, weights, minimum: int = 1) -> list[int]:
    """Split ``total`` cells over segments in proportion to ``weights`` (largest remainder)."""
    w = np.asarray(weights, dtype=float)
    total = max(int(total), minimum * w.size)
    raw = total * w / w.sum()
    n = np.maximum(np.floor(raw).astype(int), minimum)
    while n.sum() > total:
        k = int(np.argmax(n - raw))
        if n[k] <= minimum:
            break
        n[k] -= 1
    while n.sum() < total:
        k = int(np.argmax(raw - n))
        n[k] += 1
    return [int(x) for x in n]


def _scaled(segments, resolution_count, resolution_width):
    """Segments with cells scaled to a total count or to a largest width."""
    if resolution_count is not None:
        counts = _distribute(resolution_count, [s.cells for s in segments])
        return [s.with_cells(c) for s, c in zip(segments, counts)]
    if resolution_width is not None:
        width = float(resolution_width)
        if not width > 0:
            raise ValueError(f"cell width must be positive, got {width!r}")
        out = []
        for s in segments:
            # the maps are fixed, so cell widths scale like 1/cells
            n = max(1, int(math.ceil(s.cells * s.max_width() / width * (1.0 - 1e-12))))
            out.append(s.with_cells(n))
        return out
    return list(segments)


def _stack(segments) -> np.ndarray:
    faces = [np.array([segments[0].start])]
    for s in segments:
        faces.append(s.faces()[1:])
    f = np.concatenate(faces)
    return f


# -- depth and radius -------------------------------------------------------------------

def _layer_stretches(thicknesses, stretch, decay_lengths):
    """Stretching of each layer: as given (a number for all, or one per layer), else the 1D rule."""
    if stretch is None:
        return layer_stretches(thicknesses, decay_lengths)
    if isinstance(stretch, (int, float)):
        return [float(stretch)] * len(thicknesses)
    out = [float(x) for x in stretch]
    if len(out) != len(thicknesses):
        raise ValueError(f"stretch needs one value per layer ({len(thicknesses)}), got {len(out)}")
    return out


def _depth_segments(thicknesses, cuts, stretch, corner_stretch=None):
    """Layers split at the extra depths ``cuts``; each piece keeps its layer index.

    A piece takes its layer's ``stretch``; with ``corner_stretch`` a piece
    that ends or starts at a cut (the channel bottom, the coagulation
    bottom: the corners of the channel wall) takes ``corner_stretch``
    instead, whatever its layer's.
    """
    edges = np.concatenate([[0.0], np.cumsum(thicknesses)])
    total = edges[-1]
    pieces = []
    for idx in range(len(thicknesses)):
        a, b = edges[idx], edges[idx + 1]
        tol = 1e-9 * max(b - a, 1e-12)
        inner = sorted(c for c in cuts if a + tol < c < b - tol)
        points = [a, *inner, b]
        for p, q in zip(points[:-1], points[1:]):
            pieces.append((p, q, idx))
    segs = []
    for p, q, idx in pieces:
        tol = 1e-9 * max(q - p, 1e-12)
        at_corner = any(abs(p - c) <= tol or abs(q - c) <= tol for c in cuts)
        s = corner_stretch if (corner_stretch is not None and at_corner) else stretch[idx]
        segs.append((_Segment(p, q, auto_cells(q - p), "both", stretch=s), idx))
    return segs, total


def _radial_segments(radius, channel_radius, coag_width, ratio, wall_fraction, bottom_radius=None):
    if channel_radius <= 0.0:
        n = AUTO_CELLS_NO_CHANNEL
        return [_Segment(0.0, radius, n, "toward_start", 0.0)]
    edge = channel_radius + coag_width
    gap = radius - edge
    if not gap > 0.0:
        raise ValueError(f"channel radius + coagulation width ({edge * 1e6:.4g} um) must be smaller than the "
                         f"unit-cell radius R = {radius * 1e6:.4g} um; lower the channel density")
    wall = wall_fraction * min(channel_radius, gap)
    lnq = math.log(ratio)
    segs = []
    if bottom_radius is not None and bottom_radius < channel_radius:
        # cone: the axis to the tip radius graded toward it, then the taper in
        # uniform wall-sized cells, one staircase step per cell
        rb = bottom_radius
        n_in = _geometric_count(rb, min(wall, rb), ratio)
        segs.append(_Segment(0.0, rb, n_in, "toward_end", n_in * lnq))
        n_t = max(2, int(math.ceil((channel_radius - rb) / wall)))
        segs.append(_Segment(rb, channel_radius, n_t, "both", stretch=0.0))
    else:
        n_in = _geometric_count(channel_radius, wall, ratio)
        segs.append(_Segment(0.0, channel_radius, n_in, "toward_end", n_in * lnq))
    if coag_width > 0.0:
        # smooth stretching, enough cells for end cells no wider than the wall cell
        n_c = 4
        while stretched_faces(coag_width, n_c)[1] > wall and n_c < 10_000:
            n_c += 1
        segs.append(_Segment(channel_radius, edge, n_c, "both", stretch=DEFAULT_STRETCH))
    n_out = _geometric_count(gap, wall, ratio)
    segs.append(_Segment(edge, radius, n_out, "toward_start", n_out * lnq))
    return segs


def _parse_resolution(resolution):
    """``(nr, nz, dr, dz)`` from a resolution setting (``None`` where not given)."""
    if resolution is None or resolution == "auto":
        return None, None, None, None
    if isinstance(resolution, (tuple, list)) and len(resolution) == 2:
        return int(resolution[0]), int(resolution[1]), None, None
    if isinstance(resolution, dict):
        unknown = set(resolution) - {"nr", "nz", "dr", "dz"}
        if unknown:
            raise ValueError(f"unknown resolution keys {sorted(unknown)}; expected nr, nz, dr, dz")
        get = resolution.get
        return (None if get("nr") is None else int(get("nr")), None if get("nz") is None else int(get("nz")),
                get("dr"), get("dz"))
    raise ValueError(f"resolution must be 'auto', (nr, nz) or a dict with nr/nz/dr/dz, got {resolution!r}")


def _plan(thicknesses, radius, channel_radius, channel_depth, coag_width, coag_bottom, resolution, stretch,
          radial_ratio, wall_fraction, channel_bottom_radius, decay_lengths=None):
    """The depth and radial segments of a unit cell, with their cell counts (nothing of grid size allocated).

    Returns ``(zsegs, depth segments scaled, radial segments scaled, (rc, dc, w, w_bottom, rb))``.
    """
    total = float(sum(thicknesses))
    rc, dc, w = float(channel_radius), float(channel_depth), float(coag_width)
    if rc > 0.0 and not 0.0 < dc <= total * (1 + 1e-12):
        raise ValueError(f"channel depth {dc * 1e6:.4g} um must be in (0, {total * 1e6:.4g}] um (the skin modelled)")
    if w < 0.0:
        raise ValueError(f"coagulation width must be >= 0, got {w!r}")
    if rc <= 0.0:
        dc, w = 0.0, 0.0
    rb = None
    if rc > 0.0 and channel_bottom_radius is not None and float(channel_bottom_radius) < rc * (1 - 1e-12):
        rb = float(channel_bottom_radius)
        if not rb > 0.0:
            raise ValueError(f"channel bottom radius must be positive, got {rb!r} m")
        if w > 0.0:
            raise ValueError("a conical channel with a coagulation zone is not supported; "
                             "use the cylinder of equal volume")
    w_bottom = w if coag_bottom else 0.0
    cuts = []
    if rc > 0.0:
        cuts.append(min(dc, total))
        if w_bottom > 0.0:
            cuts.append(min(dc + w_bottom, total))
    nr, nz, dr, dz = _parse_resolution(resolution)
    # the default grades the pieces at the channel's bottom corner: its singularity (docs/numerics_rz.md)
    zsegs, _ = _depth_segments(thicknesses, cuts, _layer_stretches(thicknesses, stretch, decay_lengths),
                               DEFAULT_STRETCH if stretch is None else None)
    segs = _scaled([s for s, _ in zsegs], nz, dz)
    rsegs = _scaled(_radial_segments(radius, rc, w, radial_ratio, wall_fraction, rb), nr, dr)
    return zsegs, segs, rsegs, (rc, dc, w, w_bottom, rb)


def unit_cell_shape(thicknesses, *, radius, channel_radius=0.0, channel_depth=0.0, coag_width=0.0,
                    coag_bottom=True, resolution="auto", stretch=None,
                    radial_ratio=DEFAULT_RADIAL_RATIO, wall_fraction=AUTO_WALL_FRACTION,
                    channel_bottom_radius=None, decay_lengths=None) -> tuple[int, int]:
    """``(nz, nr)`` of :func:`unit_cell_grid` with the same arguments, without building the grid.

    Cheap whatever the resolution asks for (no array of the grid's size is
    made), so validation can refuse a grid too large to hold in memory.
    """
    _, segs, rsegs, _ = _plan([float(h) for h in thicknesses], radius, channel_radius, channel_depth, coag_width,
                              coag_bottom, resolution, stretch, radial_ratio, wall_fraction, channel_bottom_radius,
                              decay_lengths)
    return sum(s.cells for s in segs), sum(s.cells for s in rsegs)


def unit_cell_grid(thicknesses, *, radius, channel_radius=0.0, channel_depth=0.0, coag_width=0.0,
                   coag_bottom=True, resolution="auto", stretch=None,
                   radial_ratio=DEFAULT_RADIAL_RATIO, wall_fraction=AUTO_WALL_FRACTION,
                   channel_bottom_radius=None, decay_lengths=None) -> UnitCellGrid:
    """Build the conforming unit-cell grid.

    Parameters
    ----------
    thicknesses : sequence of float
        Layer thicknesses top to bottom, m.
    radius : float
        Unit-cell radius ``R``, m.
    channel_radius, channel_depth : float
        Channel on the axis: radius at the surface and depth, m; 0 for none.
    coag_width : float
        Width ``w`` of the coagulation zone: the annulus ``r_c <= r < r_c + w``
        down to ``depth_c + w`` and, with ``coag_bottom``, the cap
        ``r < r_c, depth_c <= z < depth_c + w`` below the channel (the cup that
        lines an ablated crater); without ``coag_bottom`` only the annulus,
        down to ``depth_c``.
    resolution : "auto", (nr, nz) or dict
        ``{"nr": .., "nz": ..}`` total cells, or ``{"dr": .., "dz": ..}`` largest
        cell widths (m); keys may be mixed or left out (then ``auto``).
    stretch : float or sequence of float, optional
        Depth stretching of every layer (0: uniform), or one per layer;
        default (None): the 1D rule, uniform unless ``decay_lengths`` make a
        layer's profile boundary layers (:func:`exodiff.geometry.grid.layer_stretches`),
        and ``DEFAULT_STRETCH`` for the segments at the channel (and
        coagulation) bottom.  A value given applies to every segment.
    radial_ratio : float
        Geometric ratio ``q`` of the radial grading at ``auto`` resolution
        (1: uniform segments).
    wall_fraction : float
        Wall cell at ``auto`` resolution relative to ``min(r_c, R - r_c - w)``.
    channel_bottom_radius : float, optional
        Radius at the channel bottom, m, for a cone narrowing linearly from
        ``channel_radius`` (a staircase, see the module docstring); None or
        ``channel_radius``: a cylinder.  Not with a coagulation zone.
    decay_lengths : sequence of float, optional
        ``sqrt(D / k)`` of each layer with first-order loss, m (inf without),
        for the default ``stretch``.

    Returns
    -------
    UnitCellGrid
    """
    thicknesses = [float(h) for h in thicknesses]
    total = float(sum(thicknesses))
    zsegs, segs, rsegs, (rc, dc, w, w_bottom, rb) = _plan(
        thicknesses, radius, channel_radius, channel_depth, coag_width, coag_bottom, resolution, stretch,
        radial_ratio, wall_fraction, channel_bottom_radius, decay_lengths)
    faces = [np.zeros(1)]

    layer_of_cell = []
    for s, (_, idx) in zip(segs, zsegs):
        faces.append(s.faces()[1:])
        layer_of_cell.append(np.full(s.cells, idx, dtype=np.int64))
    zf = np.concatenate(faces)
    zf[-1] = total
    layer_of_cell = np.concatenate(layer_of_cell)
    slices = []
    for idx in range(len(thicknesses)):
        rows = np.flatnonzero(layer_of_cell == idx)
        slices.append(slice(int(rows[0]), int(rows[-1]) + 1))
    zw = np.diff(zf)
    zgrid = LayeredGrid(zf, 0.5 * (zf[1:] + zf[:-1]), zw, layer_of_cell, slices)

    # radius
    rf = _stack(rsegs)
    rf[0], rf[-1] = 0.0, radius

    # regions from face indices (exact: the channel edges are faces)
    nzc, nrc = zf.size - 1, rf.size - 1
    region = np.zeros((nzc, nrc), dtype=np.int8)
    channel_cols = np.zeros(nzc, dtype=np.int64)
    if rc > 0.0:
        jc = int(np.argmin(np.abs(rf - rc)))
        ic = int(np.argmin(np.abs(zf - min(dc, total))))
        channel_cols[:ic] = jc
        if rb is not None:
            # staircase: the columns inside the cone at each row's centre
            r_row = rc + (rb - rc) * np.minimum(zgrid.centres[:ic] / dc, 1.0)
            channel_cols[:ic] = np.maximum(np.abs(rf[None, :] - r_row[:, None]).argmin(axis=1), 1)
        for i in range(ic):
            region[i, :channel_cols[i]] = CHANNEL
        if w > 0.0:
            jw = int(np.argmin(np.abs(rf - (rc + w))))
            iw_side = int(np.argmin(np.abs(zf - min(dc + w_bottom, total))))
            region[:iw_side, jc:jw] = COAGULATION
            if w_bottom > 0.0:
                region[ic:iw_side, :jc] = COAGULATION
    return UnitCellGrid(z=zgrid, r_faces=rf, radius=float(radius), channel_radius=rc, channel_depth=dc,
                        coag_width=w, channel_cols=channel_cols, region=region,
                        r_segments=[(s.start, s.end, s.cells) for s in rsegs], channel_bottom_radius=rb)
