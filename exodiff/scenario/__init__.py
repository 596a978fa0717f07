"""Stage 1, the scenario: TOML + units -> a validated :class:`~exodiff.scenario.core.Scenario` in SI floats.

- :mod:`.core`: reading, merging presets, validating every key, ``Scenario``
  (``load_scenario``, ``replace``, ``to_toml``);
- :mod:`.schema`: every scenario key with kind, unit, range and default;
- :mod:`.size_distribution`: a measured size distribution (NTA/DLS CSV);
- :mod:`.presets`: the readable listing of ``exodiff presets``.

It may use :mod:`exodiff.physics` and :mod:`exodiff.geometry` to check that a
file will run (coefficients computable, channel geometry consistent).
"""
