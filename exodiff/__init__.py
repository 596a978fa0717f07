"""exodiff: transport of therapeutic vesicles and small molecules through human skin.

Public API (see ``docs/scenario.md``)::

    import exodiff
    sc = exodiff.load_scenario("scenarios/topical_msc_exosome.toml")
    ds = exodiff.run(sc)            # xarray.Dataset
    sw = exodiff.sweep("scenarios/sweep_vesicle_size.toml")  # xarray.Dataset over the swept keys
    table = exodiff.compare("scenarios/compare_topical_formulations.toml")  # metrics by variant

Submodules are imported on first use so that ``import exodiff`` (and the
command line) stays quick; numba, xarray and matplotlib load only when a run
needs them.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load_scenario", "run", "sweep", "compare", "Scenario", "UserError", "ScenarioError",
           "SolverError"]


def __getattr__(name):
    if name in ("load_scenario", "Scenario"):
        from . import scenario

        return getattr(scenario, name)
    if name == "run":
        from .solve import run

        return run
    if name == "sweep":
        # the submodule, callable as exodiff.sweep(...) (see exodiff/sweep.py)
        import importlib

        return importlib.import_module(".sweep", __name__)
    if name == "compare":
        # the submodule, callable as exodiff.compare(...) (see exodiff/compare.py);
        # import_module, as "from . import compare" would come back here
        import importlib

        return importlib.import_module(".compare", __name__)
    if name in ("UserError", "ScenarioError", "SolverError"):
        from . import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'exodiff' has no attribute {name!r}")
