"""Shared test set-up.

Hypothesis: the "exodiff" profile has no deadline, because the first call of
a Numba kernel compiles (seconds) and would trip hypothesis' timing check.
"""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import settings

settings.register_profile("exodiff", deadline=None)
settings.load_profile("exodiff")


# Preset data in the format of exodiff/data/*.toml, with round numbers, so
# scenario tests do not depend on the shipped literature values.
FAKE_SKIN = """
[forearm]
description = "test site"
bottom = "sink"
temperature = { value = "32 degC", range = ["31 degC", "33 degC"], source = "test" }
viscosity = { value = "1 mPa*s", source = "test" }

[forearm.layers.stratum_corneum]
thickness = { value = "15 um", range = ["10 um", "20 um"], source = "test" }
hindrance = "pore"
pore_radius = { value = "10 nm", source = "test" }
porosity = { value = 1e-5, source = "test" }

[forearm.layers.viable_epidermis]
thickness = { value = "60 um", source = "test" }
hindrance = "ogston"
uptake_weight = { value = 1.0, source = "test" }

[forearm.layers.dermis]
thickness = { value = "1 mm", source = "test" }
uptake_weight = { value = 0.1, source = "test" }
lymphatic_clearance_rate = { value = "0.05 1/h", source = "test" }

[back]
bottom = "no_flux"
[back.layers.stratum_corneum]
thickness = { value = "11 um", source = "test" }
[back.layers.dermis]
thickness = { value = "2 mm", source = "test" }

[broken]
[broken.layers.top]
thickness = { value = "15 s", source = "test" }
colour = "red"
"""

FAKE_FORMULATIONS = """
[custom]
description = "nothing preset"

[msc_exosome]
kind = "vesicle"
diameter = { value = "70 nm", range = ["50 nm", "100 nm"], source = "test" }
half_life = { value = "36 h", source = "test" }
deformability = { value = 0.3, source = "test" }
uptake_rate = { value = "0.02 1/h", source = "test" }

[stock]
kind = "vesicle"
diameter = { value = "100 nm", source = "test" }
concentration = { value = "1e11 particles/mL", source = "test" }
"""


@pytest.fixture
def fake_presets(monkeypatch):
    """Replace the package preset data by FAKE_SKIN / FAKE_FORMULATIONS.

    The physics is stubbed too (it would need inputs these presets leave
    out); tests of the physics hook install their own stub.
    """
    import exodiff.data
    import exodiff.physics
    from exodiff.scenario.core import clear_preset_cache

    tables = {"skin": tomllib.loads(FAKE_SKIN), "formulation": tomllib.loads(FAKE_FORMULATIONS)}
    real = exodiff.data.load
    # devices and follicle sites stay the package's (the fakes are about skin and formulations)
    monkeypatch.setattr(exodiff.data, "load", lambda kind: tables[kind] if kind in tables else real(kind))
    monkeypatch.setattr(exodiff.physics, "layer_coefficients", lambda formulation, name, layer, skin: None)
    clear_preset_cache()
    yield tables
    clear_preset_cache()


@pytest.fixture(scope="session", autouse=True)
def _kernels_from_the_cache(tmp_path_factory):
    """Compile every kernel once, in its own process, before any test runs (``exodiff warm``).

    Tests then load the kernels from Numba's on-disk cache, as every run after
    the first does.  Measured on a cold cache (issue 13's integrators): a
    kernel compiled inside a process and the same kernel loaded from the cache
    gave results differing in the last bit (1e-17 of the dose) for some sweep
    points, so a sweep solved while compiling and resumed from the cache was
    not bit-identical to one run whole; the tests of sweep resume, batch and
    dask paths assert bit-identity.

    Numba keeps its cache beside each source file, so every copy of the
    package the tests import is warmed: the one this process imported (an
    installed copy, for ``pip install . && pytest``) and the source tree,
    which ``python -m exodiff`` run from the project root (the command-line
    tests) imports.
    """
    import os
    import subprocess
    import sys
    from pathlib import Path

    import exodiff

    root = Path(__file__).resolve().parents[1]
    here = Path(exodiff.__file__).resolve().parents[1]
    neutral = tmp_path_factory.mktemp("warm")
    for where in dict.fromkeys([here, root]):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(where), os.environ.get("PYTHONPATH", "")]))
        subprocess.run([sys.executable, "-m", "exodiff", "warm"], check=True, cwd=neutral, env=env,
                       stdout=subprocess.DEVNULL)
    yield
