"""Benchmarks of exodiff (see docs/performance.md).

asv discovers the ``bench_*.py`` modules (``asv.conf.json`` at the
repository root); the other modules are scripts run by hand, e.g.
``compare_reference.py`` (exodiff against scipy's method of lines at equal
accuracy, and start-up costs).
"""
