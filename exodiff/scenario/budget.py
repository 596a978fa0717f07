"""Memory a run will need, estimated at validation, and the limit it must stay under.

``exodiff validate`` promises that a file will run, so a grid or an output
schedule too large to hold in memory is refused here, with one line naming
the key, instead of dying minutes later allocating gigabytes.  Nothing of
the grid's size is built: cell counts come from
:func:`exodiff.geometry.grid.cells_for_resolution` and
:func:`exodiff.geometry.grid_rz.unit_cell_shape`.

The estimate (bytes, float64 = 8 bytes)::

    1D column:   8 * columns * cells * (3 * outputs + WORK_1D)
    r-z cell:    8 * fields * nz * nr * (3 * outputs * classes + WORK_RZ)

``3 * outputs``: the states stored at every output time, as the solver's
raw array, in the result Dataset and once more while one becomes the
other; ``WORK_*``: the arrays of one cell's size that the problem and the
compiled kernel keep (the r-z kernel alone holds about 30 of them).  A 1D
column of 400 000 cells and 49 outputs peaked 620 MiB above the solver's
baseline; the estimate says 595 MiB.  ``columns`` counts size classes and
a tracked cargo (solved side by side in 1D); in r-z the classes run one
after the other but each keeps its result until they are summed, and
``fields`` is 2 with a tracked cargo (a second field of the unit cell, with
its own work arrays and stored states), else 1.

The limit is :data:`DEFAULT_MAX_MEMORY` unless raised or lowered, in this
order of precedence: ``--max-memory`` on the command line
(:func:`memory_limit`), the environment variable ``EXODIFF_MAX_MEMORY``,
the scenario key ``simulation.max_memory``.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
from dataclasses import dataclass
from typing import Any, Mapping

from exodiff import units
from exodiff._io import format_bytes

__all__ = ["DEFAULT_MAX_MEMORY", "ENV_MAX_MEMORY", "Estimate", "estimate", "memory_limit", "limit", "problems"]

#: Memory a run may need unless the limit is changed (4 GiB).
DEFAULT_MAX_MEMORY = 4 << 30
#: Environment variable that sets the limit, e.g. ``EXODIFF_MAX_MEMORY="16 GiB"``.
ENV_MAX_MEMORY = "EXODIFF_MAX_MEMORY"
#: Work arrays per cell and column (1D) and per cell (r-z), see the module docstring.
WORK_1D = 48
WORK_RZ = 64

_LIMIT: contextvars.ContextVar[float | None] = contextvars.ContextVar("exodiff_max_memory", default=None)


@contextlib.contextmanager
def memory_limit(nbytes: float | None):
    """Within this block the limit is ``nbytes`` (``--max-memory``), whatever the scenario or environment say."""
    token = _LIMIT.set(None if nbytes is None else float(nbytes))
    try:
        yield
    finally:
        _LIMIT.reset(token)


@dataclass(frozen=True)
class Estimate:
    """What a run will hold: ``geometry`` ("1D column" or "r-z unit cell"), ``cells`` (text, e.g.
    ``"400 x 200"``), ``columns``, ``outputs`` and ``nbytes``."""

    geometry: str
    cells: str
    columns: int
    outputs: int
    nbytes: float

    def describe(self) -> str:
        cols = f" x {self.columns} columns" if self.columns != 1 else ""
        return (f"{self.geometry} of {self.cells} cells{cols} x {self.outputs} output times: about "
                f"{format_bytes(self.nbytes)}")


def _outputs(resolved: Mapping[str, Any]) -> int:
    times = resolved["simulation"].get("output_times") or []
    return len(times) + (0 if times and times[0] == 0.0 else 1)


def _classes(form: Mapping[str, Any]) -> int:
    if any(form.get(k) is not None for k in ("pdi", "gsd", "size_distribution_data")):
        return int(form.get("size_classes", 7))
    return 1


def estimate(resolved: Mapping[str, Any], decay_lengths=None) -> Estimate:
    """The memory a validated scenario's run will need (see the module docstring).

    Parameters
    ----------
    resolved : dict
        ``Scenario.resolved``.
    decay_lengths : sequence of float, optional
        ``sqrt(D/k)`` of each layer (``"auto"`` refines layers with strong loss).
    """
    from exodiff.geometry.channels import channel_geometry, unit_cell_layout
    from exodiff.geometry.grid import cells_for_resolution
    from exodiff.geometry.grid_rz import unit_cell_radius, unit_cell_shape

    thick = [float(ly["thickness"]) for ly in resolved["skin"]["layers"].values()]
    res = resolved["simulation"].get("resolution", "auto")
    form = resolved["formulation"]
    outputs = _outputs(resolved)
    classes = _classes(form)
    geom = channel_geometry(resolved)
    if geom is not None:
        layout = unit_cell_layout(geom, res)
        density = layout.pop("density")
        nz, nr = unit_cell_shape(thick, radius=unit_cell_radius(density), decay_lengths=decay_lengths, **layout)
        fields = 2 if form.get("cargo") is not None else 1
        nbytes = 8.0 * fields * nz * nr * (3.0 * outputs * classes + WORK_RZ)
        return Estimate("r-z unit cell", f"{nz} x {nr}", classes, outputs, nbytes)
    per_layer = cells_for_resolution(thick, res, None, decay_lengths)  # the grid's own per-layer grading
    accuracy = resolved["simulation"].get("accuracy")
    if accuracy is not None:  # the fine grid of the Richardson pair (the coarse one is half of it)
        from exodiff.geometry.grid import accuracy_cells

        per_layer = [2 * c for c in accuracy_cells(cells_for_resolution(thick, "auto", None, decay_lengths),
                                                   float(accuracy))]
    cells = sum(per_layer)
    columns = classes + (1 if form.get("cargo") is not None else 0)
    nbytes = 8.0 * columns * cells * (3.0 * outputs + WORK_1D)
    return Estimate("1D column", f"{cells}", columns, outputs, nbytes)


def limit(resolved: Mapping[str, Any]) -> tuple[float, str]:
    """The limit in bytes and where it comes from (for the message).

    Raises
    ------
    ValueError
        ``EXODIFF_MAX_MEMORY`` is not an amount of memory (message: what it is instead).
    """
    given = _LIMIT.get()
    if given is not None:
        return given, "--max-memory"
    env = os.environ.get(ENV_MAX_MEMORY)
    if env:
        try:
            value = units.to_si(env, "B")
        except (units.UnitParseError, units.DimensionError) as exc:
            raise ValueError(f"{ENV_MAX_MEMORY}={env!r} ({exc}); expected an amount of memory, e.g. \"8 GiB\"") \
                from None
        if not value > 0:
            raise ValueError(f"{ENV_MAX_MEMORY}={env!r}; expected an amount of memory > 0, e.g. \"8 GiB\"")
        return value, ENV_MAX_MEMORY
    key = resolved["simulation"].get("max_memory")
    if key is not None:
        return float(key), "simulation.max_memory"
    return float(DEFAULT_MAX_MEMORY), "the default"


def problems(resolved: Mapping[str, Any], decay_lengths=None) -> list[tuple[str, str, str]]:
    """``(key, given, expected)`` when the run would need more memory than the limit; else ``[]``."""
    try:
        cap, source = limit(resolved)
    except ValueError as exc:
        return [(ENV_MAX_MEMORY, "", str(exc))]
    try:
        est = estimate(resolved, decay_lengths)
    except ValueError as exc:  # the geometry cannot be laid out; geometry.channels.check says why
        return [("simulation.resolution", "", f"a unit-cell grid that can be built ({exc})")]
    if est.nbytes <= cap and math.isfinite(est.nbytes):
        return []
    res = resolved["simulation"].get("resolution", "auto")
    key = "simulation.resolution" if res != "auto" else "simulation"
    return [(key, est.describe(),
             f"at most {format_bytes(cap)} of memory ({source}); use a coarser simulation.resolution or fewer "
             f"output times, or raise the limit: simulation.max_memory = \"8 GiB\", {ENV_MAX_MEMORY} or "
             "--max-memory")]
