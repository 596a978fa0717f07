"""exodiff: transport of therapeutic vesicles and small molecules through human skin.

Public API (see ``docs/scenario.md``)::

    import exodiff
    sc = exodiff.load_scenario("scenarios/topical_msc_exosome.toml")
    ds = exodiff.run(sc)            # xarray.Dataset
    sw = exodiff.sweep("scenarios/sweep_vesicle_size.toml")  # xarray.Dataset over the swept keys
    table = exodiff.compare("scenarios/compare_topical_formulations.toml")  # metrics by variant

The package is one stage per sub-package, in the order the data flows
(``docs/dev/architecture.md``): ``scenario`` -> ``problem`` -> ``solvers``
-> ``results`` -> ``report``, with ``run`` the one orchestrator and
``studies`` (compare, sweeps) above it.  Names are imported on first use, so
``import exodiff`` (and the command line) stays quick; numba, xarray and
matplotlib load only when a run needs them.
"""

from __future__ import annotations

from exodiff._version import __version__

#: public name -> (module, attribute or None for the module itself)
_PUBLIC = {
    "load_scenario": ("exodiff.scenario.core", "load_scenario"),
    "Scenario": ("exodiff.scenario.core", "Scenario"),
    # run, compare, sweep, fit and population are modules that are also callable (exodiff._callable):
    # exodiff.run(sc), exodiff.compare.to_csv(table), exodiff.sweep.plan(sc)
    "run": ("exodiff.run", None),
    "compare": ("exodiff.studies.compare", None),
    "sweep": ("exodiff.studies.sweep", None),
    "fit": ("exodiff.studies.fit", None),
    "population": ("exodiff.studies.population", None),
    "UserError": ("exodiff.errors", "UserError"),
    "ScenarioError": ("exodiff.errors", "ScenarioError"),
    "SolverError": ("exodiff.errors", "SolverError"),
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name):
    if name in _PUBLIC:
        import importlib

        module, attr = _PUBLIC[name]
        mod = importlib.import_module(module)
        return mod if attr is None else getattr(mod, attr)
    raise AttributeError(f"module 'exodiff' has no attribute {name!r}")


def __dir__():
    # tab completion shows the public names, which are loaded lazily and so not yet in globals()
    return sorted(__all__)
