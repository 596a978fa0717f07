"""Geometry: layer-conforming 1D grids (:mod:`.grid`), the r-z unit-cell grid (:mod:`.grid_rz`), and the
channel geometry of a delivery method (:mod:`.channels`: device and follicle presets, needle tracks, laser
craters).  Plain floats and arrays in SI; nothing here knows a solver.
"""
