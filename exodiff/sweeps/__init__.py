"""Parameter sweeps: definition, execution, storage, combination, plots.

The public entry point is :func:`exodiff.sweep` (module :mod:`exodiff.sweep`);
the command line is ``exodiff sweep``.  The pieces, each one idea:

- :mod:`.definition`: the ``[sweep]`` table checked key by key and expanded
  into points (grid, zip, Latin hypercube sample);
- :mod:`.point`: one point in a worker: run, metrics, encoded point file;
- :mod:`.store`: the sweep directory (one small NetCDF per finished point,
  the manifest, ``--resume``);
- :mod:`.combine`: the points into one Dataset (``sweep.nc``);
- :mod:`.report`: tables (points, best points, failures) and plots.

Executors (process pool, dask) live in :mod:`exodiff.executors`, the
sensitivity ranking in :mod:`exodiff.sensitivity`.
"""
