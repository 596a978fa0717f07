"""Problems: a validated scenario's resolved dict -> a grid with per-cell coefficient arrays and events.

- :mod:`.layered`: ``Problem1D`` (layers, size classes and a cargo as columns);
- :mod:`.unit_cell`: ``ProblemRZ``, the axisymmetric unit cell around one channel, built from the same
  layers (:func:`~exodiff.problem.unit_cell.unit_cell_problem`, one per size class with
  :func:`~exodiff.problem.unit_cell.class_problems`).
"""
