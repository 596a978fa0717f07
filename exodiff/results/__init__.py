"""Results: raw solver arrays -> an xarray Dataset with CF units (:mod:`.dataset`, :mod:`.dataset_rz`,
size classes through channels summed in :mod:`.classes_rz`), and the headline metrics, defined once
(:mod:`.metrics`).
"""
