"""The one shared unit registry, and conversion at the edge.

Every physical quantity a user writes is a string with units (``"15 um"``,
``"2 h"``, ``"1e10 particles/cm^2"``, ``"32 degC"``).  This module parses
those strings with pint, checks their dimension and converts them to plain SI
floats; inner code (physics, grid, kernels) never sees a pint object.  As in
MetPy, there is exactly one :data:`ureg`: quantities from different
registries cannot be combined, and building one takes a noticeable fraction
of a second.  It is built on first use, and what :func:`to_si`,
:func:`parse_amount` and :func:`amount_factor` answered is kept on disk
(:data:`CACHE_ENV`): a run whose unit texts were all read before does not
import pint at all (0.2 s of a 1.2 s warm ``exodiff run``).

Amount units (what a dose is counted in)
----------------------------------------
- ``particle`` (alias ``particles``) is a base unit of its own dimension,
  ``[particle]``: particles cannot be converted to mass or moles.
- Mass (``ug``, ``mg``, ...) and amount of substance (``mol``, ``nmol``, ...)
  work as usual.
- ``protein`` is a *tag*: a dimensionless unit of value 1, so
  ``"1 ug protein/cm^2"`` parses and means one microgram (of protein) per
  square centimetre.  It is a label that travels with the dose unit into the
  results (``"ug protein"``), nothing more: ``"ug protein"`` and ``"ug"``
  convert 1:1.  Tags are accepted only in amount-bearing keys (dose,
  concentration); ``"15 um protein"`` as a thickness is refused.

Temperatures: pint treats ``degC`` as an offset unit; ``"32 degC"`` converts
to 305.15 K.  The registry converts offset units to kelvin inside products
(``autoconvert_offset_to_baseunit``), as MetPy does.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.machinery
import json
import math
import os
import re
import shutil
import sys
from functools import lru_cache, wraps
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pint

__all__ = [
    "ureg",  # noqa: F822 (built on first access: the module's __getattr__)
    "Quantity",  # noqa: F822
    "UnitParseError",
    "DimensionError",
    "AMOUNT_DIMENSIONS",
    "TAGS",
    "parse",
    "dimensionality",
    "has_dimension",
    "describe_dimension",
    "to_si",
    "parse_amount",
    "amount_factor",
    "format_unit",
    "format_quantity",
    "quantity_text",
    "is_quantity",
    "udunits",
]

#: Where pint's parsed definitions and the answers of :func:`to_si` and :func:`parse_amount` are kept
#: between processes: ``$EXODIFF_CACHE_DIR`` (empty: none), else ``$XDG_CACHE_HOME/exodiff``, else
#: ``~/.cache/exodiff``.
CACHE_ENV = "EXODIFF_CACHE_DIR"


def _import_pint():
    """pint, imported now (also after :func:`hide_pint` hid it from other packages' probes)."""
    if "pint" in sys.modules and sys.modules["pint"] is None:
        del sys.modules["pint"]
    import pint

    return pint


def is_quantity(value) -> bool:
    """Whether ``value`` is a pint Quantity (of any registry), without importing pint: none exists before it
    is imported."""
    pint = sys.modules.get("pint")
    return pint is not None and isinstance(value, pint.Quantity)


def hide_pint() -> None:
    """Mark pint absent to other packages' probes in this process until exodiff needs it.

    xarray imports every duck-array library it finds installed, pint among
    them, to ask whether an array is one of theirs (0.2 s; exodiff never
    gives it pint arrays).  A ``None`` entry in ``sys.modules`` makes that
    import fail, so xarray takes pint for absent for the rest of the
    process; exodiff's own first use of pint (a unit text not in the memo)
    removes the entry and imports it.  For a process the command line owns
    only (as :func:`exodiff.cli._forgo_dask`).
    """
    sys.modules.setdefault("pint", None)


def _cache_root() -> Path | None:
    """exodiff's cache folder, or None when caching is off."""
    base = os.environ.get(CACHE_ENV)
    if base is None:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = os.path.join(xdg, "exodiff") if xdg else os.path.join(os.path.expanduser("~"), ".cache", "exodiff")
    return Path(base) if base else None


def _cache_folder() -> Path | None:
    """The folder of pint's definition cache for this pint version, or None when caching is off."""
    pint = _import_pint()
    root = _cache_root()
    return None if root is None else root / f"pint-{pint.__version__}"


def _registry(**options) -> pint.UnitRegistry:
    """A UnitRegistry whose definition files are read from pint's disk cache when possible.

    Parsing pint's definition files takes 0.15-0.4 s, a third of a warm
    ``exodiff run``; pint's cache (pickles keyed by the files' content, pint
    and Python versions) brings it to 0.04 s.  pint writes cache files in
    place, so a process reading while another writes could see half a file:
    the folder is therefore written once, privately, and published by one
    rename (atomic; whoever loses the race discards its copy), and is only
    read afterwards.  Any failure (a read-only home, a damaged cache) falls
    back to parsing, which is what pint does without a cache.
    """
    pint = _import_pint()
    folder = _cache_folder()
    if folder is not None:
        try:
            if folder.is_dir():
                return pint.UnitRegistry(cache_folder=folder, **options)
            folder.parent.mkdir(parents=True, exist_ok=True)
            private = folder.parent / f".{folder.name}.{os.getpid()}"
            reg = pint.UnitRegistry(cache_folder=private, **options)
            try:
                os.rename(private, folder)
            except OSError:  # published meanwhile by another process
                shutil.rmtree(private, ignore_errors=True)
            return reg
        except Exception:  # noqa: BLE001 (any cache trouble: parse as without a cache)
            pass
    return pint.UnitRegistry(**options)


@lru_cache(maxsize=1)
def _ureg() -> pint.UnitRegistry:
    """The shared registry (:data:`ureg`), built at its first use.

    ``autoconvert_offset_to_baseunit`` lets ``degC`` appear inside products
    and quotients (it then means kelvin); a plain ``"32 degC"`` is an
    absolute temperature either way.
    """
    reg = _registry(autoconvert_offset_to_baseunit=True)
    # A count of vesicles has its own dimension so that a particle dose can never
    # be silently compared with (or converted to) a mass or a molar dose.
    reg.define("particle = [particle] = _ = particles")
    # Tag units: dimensionless labels of value 1 (see the module docstring).
    reg.define("protein = []")
    return reg


def __getattr__(name: str):
    # ``ureg`` and ``Quantity`` as module attributes, built on first access (PEP 562)
    if name == "ureg":
        return _ureg()
    if name == "Quantity":
        return _ureg().Quantity
    if name == "pint":  # the module, as before it was imported lazily
        return _import_pint()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- answers kept between processes ------------------------------------------------------

#: most answers kept on disk, the latest (a sweep over many values must not grow the file without bound)
MEMO_MAX = 2048
_memo: dict | None = None
_memo_new: dict = {}


def _memo_path() -> Path | None:
    """The memo file: named by what its answers depend on (this module's text, pint's installed code)."""
    root = _cache_root()
    if root is None:
        return None
    # found on the path, not through sys.modules (where hide_pint may have put None)
    spec = importlib.machinery.PathFinder.find_spec("pint")
    if spec is None or not spec.origin:
        return None
    st = os.stat(spec.origin)
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(f"{spec.origin}:{st.st_size}:{st.st_mtime_ns}".encode())
    return root / f"units-{h.hexdigest()[:16]}.json"


def _memo_get(key: str):
    """The memo's answer for ``key`` (what the JSON file holds; the callers check its type: a file edited or
    damaged by hand gives a miss, never a wrong kind of answer), or None."""
    global _memo
    if _memo is None:
        _memo = {}
        try:
            path = _memo_path()
            if path is not None and path.is_file():
                got = json.loads(path.read_text())
                if isinstance(got, dict):
                    _memo = got
        except (OSError, ValueError, AttributeError, TypeError):  # unreadable: answer with pint
            _memo = {}
    return _memo.get(key)


def _memo_put(key: str, value) -> None:
    """Keep a new answer (written at exit by :func:`_memo_save`), at most :data:`MEMO_MAX` per process."""
    if _memo is None or len(_memo_new) >= MEMO_MAX:
        return
    if not _memo_new:
        atexit.register(_memo_save)
    _memo[key] = value
    _memo_new[key] = value


def _memo_save() -> None:
    """Add this process's new answers to the memo file, keeping the latest :data:`MEMO_MAX`: written beside it,
    then renamed over it (a reader never sees half a file; of two writers at once the last wins, and the
    other's answers are found again)."""
    try:
        path = _memo_path()
        if path is None or not _memo_new:
            return
        old = {}
        if path.is_file():
            try:
                old = json.loads(path.read_text())
            except ValueError:
                old = {}
        old = old if isinstance(old, dict) else {}
        for key in _memo_new:
            old.pop(key, None)
        old.update(_memo_new)  # the newest last
        kept = dict(list(old.items())[-MEMO_MAX:])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        try:
            tmp.write_text(json.dumps(kept))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)  # gone after the rename; a half-written one after a failure
        _memo_new.clear()
    except Exception:  # noqa: BLE001, S110 (a cache: any trouble leaves it as it was)
        pass


def _memo_key(kind: str, *args) -> str | None:
    """The memo's key of a call, or None when an argument is not text (the call then raises as it does)."""
    if not all(isinstance(a, str) for a in args):
        return None
    return "\x1f".join((kind, *args))


def _kept(valid):
    """Keep a function's answers in the memo between processes (keyed by its name and text arguments).

    ``valid(stored)`` tells a stored answer of the right kind (from JSON: a
    tuple comes back as a list) from one of a file edited or damaged by
    hand, which is a miss.  Errors are raised, never kept.
    """
    def decorate(f):
        @wraps(f)
        def kept(*args, **kwargs):
            if kwargs:  # keyword calls are answered, not kept (keys are positional texts)
                return f(*args, **kwargs)
            key = _memo_key(f.__name__, *args)
            got = None if key is None else _memo_get(key)
            if valid(got):
                return tuple(got) if isinstance(got, list) else got
            value = f(*args)
            if key is not None:
                _memo_put(key, list(value) if isinstance(value, tuple) else value)
            return value
        return kept
    return decorate


def _is_float(stored) -> bool:
    return isinstance(stored, float)


def _is_amount(stored) -> bool:
    """A stored :func:`parse_amount` answer: ``[value, amount unit, amount dimension]``."""
    return (isinstance(stored, list) and len(stored) == 3 and isinstance(stored[0], float)
            and isinstance(stored[1], str) and stored[2] in AMOUNT_DIMENSIONS)


#: Units that are labels, allowed only in amount-bearing keys.
TAGS = frozenset({"protein"})

#: Dimensions a dose may be counted in, with a canonical unit used when a
#: user's unit cannot be split into an amount part and a geometric part
#: (``"1 mM"`` has no separate amount factor: it becomes ``mol``).
AMOUNT_DIMENSIONS: dict[str, str] = {
    "[particle]": "particle",
    "[mass]": "ug",
    "[substance]": "mol",
}

# Names for dimensions users meet, so an error can say "got '15 s' (a time)".
_DIMENSION_NAMES = {
    "[length]": "a length",
    "[time]": "a time",
    "1 / [time]": "a rate (1/time)",
    "[temperature]": "a temperature",
    "[mass]": "a mass",
    "[substance]": "an amount of substance",
    "[particle]": "a number of particles",
    "[length] ** 2": "an area",
    "[length] ** 3": "a volume",
    "1 / [length] ** 2": "a number per area",
    "1 / [length] ** 3": "a number per volume",
    "[length] ** 2 / [time]": "a diffusivity (length^2/time)",
    "[length] / [time]": "a velocity",
    "[mass] / [length] / [time]": "a dynamic viscosity",
    "[mass] / [substance]": "a molar mass",
    "[mass] * [length] ** 2 / [time] ** 2": "an energy",
    "[particle] / [length] ** 2": "particles per area",
    "[mass] / [length] ** 2": "a mass per area",
    "[substance] / [length] ** 2": "an amount of substance per area",
    "[particle] / [length] ** 3": "particles per volume",
    "[mass] / [length] ** 3": "a mass per volume",
    "[substance] / [length] ** 3": "a molar concentration",
    "[information]": "an amount of memory",
    "dimensionless": "a pure number (no units)",
}

# A quantity string must start with a number: pint happily reads "um" as
# 1 um, which is far more likely a slip than an intention.
_LEADING_NUMBER = re.compile(r"^\s*[-+]?(\d|\.\d|inf|nan)", re.IGNORECASE)

#: Longest quantity text read (a real one is a few tens of characters).
MAX_TEXT_LENGTH = 100
#: Largest power of a unit (``cm^3``, ``m^-2``): enough for any physical quantity.
MAX_UNIT_POWER = 9
#: Deepest nesting of parentheses in a unit expression.
MAX_PAREN_DEPTH = 3

# What a quantity text may hold, checked before pint sees it: pint's parser
# evaluates arithmetic on unbounded Python integers ("9**9**9 um" runs
# forever, "2**2000 um" overflows), so the text must be one number and then
# plain unit arithmetic: unit names, "*", "/", spaces, parentheses, small
# integer powers of units (^ or **) and the factor 1 ("1/h").
_NUMBER = re.compile(r"\s*[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|inf|nan)", re.IGNORECASE)
_UNIT_TOKEN = re.compile(
    r"(?P<space>\s+)|(?P<power>(?:\^|\*\*)\s*(?P<exp>[-+]?\d+))|(?P<op>[*/])|(?P<open>\()|(?P<close>\))"
    r"|(?P<one>1(?![\d.eE]))|(?P<name>[A-Za-z_%\u00b0\u00b5\u03bc\u03a9\u212b\u00c5][A-Za-z0-9_\u00b5\u03bc]*)")


def _check_syntax(text: str) -> None:
    """Refuse anything but ``<number> <plain unit arithmetic>`` (see :data:`_UNIT_TOKEN`)."""
    if len(text) > MAX_TEXT_LENGTH:
        raise UnitParseError(f"longer than {MAX_TEXT_LENGTH} characters")
    m = _NUMBER.match(text)
    if m is None:
        raise UnitParseError("a number must come first")
    pos, depth, prev = m.end(), 0, "number"
    while pos < len(text):
        t = _UNIT_TOKEN.match(text, pos)
        if t is None:
            raise UnitParseError(f"unexpected {text[pos]!r} after the number: give one number, then units "
                                 "(names, *, /, ^ with a whole power), e.g. \"2 mg/cm^2\"")
        kind = t.lastgroup if t.lastgroup != "exp" else "power"
        if kind == "power":
            if prev not in ("name", "close"):
                raise UnitParseError("a power (^ or **) only of a unit, e.g. \"cm^2\"; no powers of numbers")
            if abs(int(t.group("exp"))) > MAX_UNIT_POWER:
                raise UnitParseError(f"a unit power of at most {MAX_UNIT_POWER}")
        elif kind == "open":
            depth += 1
            if depth > MAX_PAREN_DEPTH:
                raise UnitParseError(f"parentheses nested at most {MAX_PAREN_DEPTH} deep")
        elif kind == "close":
            depth -= 1
            if depth < 0:
                raise UnitParseError("unbalanced parentheses")
        if kind != "space":
            prev = kind
        pos = t.end()
    if depth:
        raise UnitParseError("unbalanced parentheses")


class UnitParseError(ValueError):
    """A string could not be read as a number with units.

    The message is short and meant to be appended to "expected ..." text,
    e.g. ``"unknown unit 'umm'"``.
    """


class DimensionError(ValueError):
    """A quantity has the wrong dimension; the message names the one it has."""


@lru_cache(maxsize=4096)
def parse(text: str) -> pint.Quantity:
    """Parse ``"<number> <units>"`` into a pint Quantity.

    Parameters
    ----------
    text : str
        E.g. ``"15 um"``, ``"0.02 1/h"``, ``"32 degC"``.

    Returns
    -------
    pint.Quantity
        Cached: treat it as read-only.

    Raises
    ------
    UnitParseError
        Empty text, no leading number, unknown unit or malformed expression.
    """
    if not isinstance(text, str):
        raise UnitParseError(f"not a string ({type(text).__name__})")
    if not text.strip():
        raise UnitParseError("empty text")
    if not _LEADING_NUMBER.match(text):
        raise UnitParseError("a number must come first")
    _check_syntax(text)
    pint = _import_pint()
    ureg = _ureg()
    try:
        q = ureg.Quantity(text)
    except pint.UndefinedUnitError as exc:
        names = ", ".join(repr(n) for n in exc.unit_names) if exc.unit_names else "?"
        raise UnitParseError(f"unknown unit {names}") from None
    except Exception as exc:  # pint's parser raises many kinds (tokenize, assertion, ...)
        raise UnitParseError(f"cannot read it as a number with units ({type(exc).__name__})") from None
    if not isinstance(q, pint.Quantity):  # defensive: a bare number
        q = ureg.Quantity(q)
    m = q.magnitude
    if isinstance(m, bool) or not isinstance(m, (int, float)):
        raise UnitParseError("not a single number with units")
    if not math.isfinite(m) and not math.isnan(m):  # "1e400 um": NaN is left to the range checks
        raise UnitParseError("the number is too large to represent (not finite)")
    return q


@lru_cache(maxsize=256)
def dimensionality(unit: str) -> pint.util.UnitsContainer:
    """Dimensionality of a unit string, e.g. ``"m^2/s"`` -> ``[length]**2/[time]``."""
    return _ureg().parse_units(unit).dimensionality


def has_dimension(q: pint.Quantity, unit: str) -> bool:
    """Whether quantity ``q`` can be converted to ``unit``."""
    return q.dimensionality == dimensionality(unit)


def describe_dimension(dims: pint.util.UnitsContainer | pint.Quantity) -> str:
    """Human name of a dimensionality (``"a length"``), or pint's text for it."""
    if hasattr(dims, "dimensionality"):  # a Quantity
        dims = dims.dimensionality
    text = str(dims) if dims else "dimensionless"
    return _DIMENSION_NAMES.get(text, text)


def _check_tags(q: pint.Quantity, allow_tags: bool) -> None:
    if not allow_tags:
        tags = sorted(TAGS.intersection(name for name, _ in q.unit_items()))
        if tags:
            raise DimensionError(f"the tag '{tags[0]}' is only allowed in a dose or concentration")


@lru_cache(maxsize=4096)
@_kept(_is_float)
def to_si(text: str, unit: str) -> float:
    """Parse ``text`` and convert it to ``unit``; return the magnitude.

    Parameters
    ----------
    text : str
        Number with units, e.g. ``"32 degC"``.
    unit : str
        Target unit (a pint unit string), usually the SI unit of a schema
        field, e.g. ``"K"``.

    Returns
    -------
    float
        ``text`` expressed in ``unit`` (``"32 degC"``, ``"K"`` -> 305.15).

    Raises
    ------
    UnitParseError
        The text is not a number with units.
    DimensionError
        The dimension differs from ``unit``'s (message: what it is instead).
    """
    q = parse(text)
    _check_tags(q, allow_tags=False)
    if not has_dimension(q, unit):
        raise DimensionError(_dimension_phrase(q))
    return _convert(q, unit)


@lru_cache(maxsize=256)
@_kept(_is_float)
def amount_factor(src: str, dst: str) -> float:
    """Factor from amount unit ``src`` to ``dst`` of the same dimension (tags count 1): ``("mg", "ug")`` -> 1000."""
    return float(_ureg().Quantity(1.0, src).to(dst).magnitude)


@lru_cache(maxsize=1024)
def _conversion(src: str, dst: str) -> tuple[str, float]:
    """How to convert magnitudes from unit ``src`` to ``dst``.

    ``("div", n)`` when the factor is ``1/n`` for an integer ``n`` (decimal
    prefixes, 1/h -> 1/s): dividing by the exactly representable ``n`` gives
    the correctly rounded result (``100 um`` -> ``1e-4 m`` exactly, where
    multiplying by the inexact ``1e-6`` would give ``9.999999999999999e-05``).
    ``("mul", f)`` for other multiplicative conversions (an integer ``f``
    snapped to it exactly), ``("pint", 0)`` for
    offset units (degC), which pint converts itself.
    """
    ureg = _ureg()
    if ureg.Quantity(0.0, src).to(dst).magnitude != 0.0:
        return "pint", 0.0
    f = float(ureg.Quantity(1.0, src).to(dst).magnitude)
    if 0.0 < f < 1.0:
        n = round(1.0 / f)
        if n > 0 and abs(1.0 / f - n) <= 1e-9 * n:
            return "div", float(n)
    elif f > 1.0 and abs(f - round(f)) <= 1e-9 * f:
        # pint composes factors in binary (mL -> m^3 gives 999999.9999999999):
        # snap to the integer it means.
        return "mul", float(round(f))
    return "mul", f


def _convert(q: pint.Quantity, unit: str) -> float:
    how, f = _conversion(str(q.units), unit)
    m = q.magnitude
    if how == "div":
        return float(m) / f
    if how == "mul":
        return float(m) * f
    return float(q.to(unit).magnitude)


def _dimension_phrase(q: pint.Quantity) -> str:
    if q.dimensionless and not q.unit_items():
        return "no units"
    return describe_dimension(q)


@lru_cache(maxsize=1024)
@_kept(_is_amount)
def parse_amount(text: str, per: str) -> tuple[float, str, str]:
    """Parse an amount-bearing quantity, keeping the user's amount unit.

    A dose ``"1e10 particles/cm^2"`` is an amount per area; the area part is
    converted to SI while the amount stays in the unit the user counts in.

    Parameters
    ----------
    text : str
        E.g. ``"1e10 particles/cm^2"``, ``"1 ug protein/cm^2"``, ``"1 mM"``.
    per : str
        The SI unit of the geometric part: ``"1/m^2"`` (per area) or
        ``"1/m^3"`` (per volume).

    Returns
    -------
    value : float
        Magnitude in ``amount_unit * per`` (``1e14`` for the first example).
    amount_unit : str
        The amount unit as text (``"particle"``, ``"ug protein"``, ``"mol"``).
    amount_dimension : str
        One of :data:`AMOUNT_DIMENSIONS` (``"[particle]"``, ``"[mass]"``,
        ``"[substance]"``).

    Raises
    ------
    UnitParseError, DimensionError
        As :func:`to_si`; a :class:`DimensionError` also when what remains
        after removing ``per`` is not a number of particles, a mass or an
        amount of substance.
    """
    ureg = _ureg()
    q = parse(text)
    per_dims = dimensionality(per)
    amount_dims = q.dimensionality / per_dims
    key = str(amount_dims) if amount_dims else "dimensionless"
    if key not in AMOUNT_DIMENSIONS:
        raise DimensionError(_dimension_phrase(q))
    # Split the user's units into amount factors (particles, mass, moles and
    # tags) and geometric factors (lengths, volumes), so that "ug protein/mL"
    # keeps "ug protein" as the dose unit.
    amount = ureg.dimensionless
    for name, power in q.unit_items():
        udims = ureg.get_dimensionality(name)
        if not udims or any(d in udims for d in AMOUNT_DIMENSIONS):
            amount = amount * ureg.Unit(name) ** power
    if amount.dimensionality != amount_dims or not amount.dimensionality:
        # e.g. "mM": the amount is folded into one unit; count in the
        # canonical unit of that dimension instead.
        amount = ureg.Unit(AMOUNT_DIMENSIONS[key])
    value = _convert(q, str(amount * ureg.parse_units(per)))
    return value, format_unit(amount), key


_ASCII_SYMBOLS = {"degree_Celsius": "degC", "degree_Fahrenheit": "degF"}

#: Amount units that UDUNITS-2 does not know, and the UDUNITS unit written for them.
#: ``count`` is UDUNITS' dimensionless unit for a number of things.
_UDUNITS_NAMES = {"particle": "count", "particles": "count"}


def udunits(text: str) -> str:
    """A unit text of exodiff (pint's spelling, with its own units) as a UDUNITS-2 unit for a NetCDF file.

    ``particle`` becomes ``count``; tags (``protein``) are dropped, so
    ``"ug protein cm-2"`` becomes ``"ug cm-2"`` (the tag stays in the file's
    ``dose_unit`` attribute); everything else is passed through, which is
    right for the units exodiff writes (``ug``, ``mol``, ``um``, ``h-1``,
    ``um^2/s``, ``1/cm^2``: UDUNITS reads ``^``, ``/`` and exponents).  A
    unit that is only a tag becomes ``"1"``.

    Parameters
    ----------
    text : str
        Factors separated by spaces; a factor may carry ``/`` or ``^``.
    """
    out = []
    for word in str(text).split():
        parts = re.split(r"([/*^()]|-?\d+(?:\.\d+)?$)", word)
        kept = []
        for part in parts:
            name = _UDUNITS_NAMES.get(part, part)
            if name in TAGS:
                continue
            kept.append(name)
        word = "".join(kept)
        if word.startswith("/") and out:  # "ug protein/cm^2": the tag went, its denominator joins "ug"
            out[-1] += word
        elif word and word not in ("/", "*"):
            out.append(word)
    return " ".join(out) or "1"


def format_unit(unit: pint.Unit | str) -> str:
    """Compact ASCII text of a unit: ``"ug protein"``, ``"particle"``, ``"um^2/s"``.

    Symbols where pint has them, ``u`` for micro, factors separated by a
    space, a single ``/`` before the denominator.  The result parses back.
    """
    ureg = _ureg()
    if isinstance(unit, str):
        unit = ureg.parse_units(unit)
    num, den = [], []
    for name, power in unit._units.items():
        sym = ureg.get_symbol(name).replace("µ", "u").replace("μ", "u")
        if not sym.isascii():  # "°C": use an ASCII spelling that parses back
            sym = _ASCII_SYMBOLS.get(name, name)
        p = abs(power)
        text = sym if p == 1 else f"{sym}^{p:g}"
        (num if power > 0 else den).append(text)
    top = " ".join(num) if num else "1"
    if not den:
        return top
    bottom = den[0] if len(den) == 1 else "(" + " ".join(den) + ")"
    return f"{top}/{bottom}"


def format_quantity(value: float, unit: str, digits: int = 4) -> str:
    """Format a float in ``unit`` for a message: ``format_quantity(1.83e-05, "m")`` -> ``"1.83e-05 m"``.

    Parameters
    ----------
    value : float
        Magnitude in ``unit``.
    unit : str
        Unit text, written as given.
    digits : int
        Significant digits.
    """
    if math.isfinite(value):
        return f"{value:.{digits}g} {unit}".rstrip()
    return f"{value} {unit}".rstrip()


def quantity_text(q: pint.Quantity) -> str:
    """Exact, re-parseable text of a Quantity (``repr`` of the magnitude + :func:`format_unit`).

    Used when a caller hands a pint Quantity as a scenario value (e.g. a
    parameter fit); the scenario stores it as text so it serialises to TOML.
    Quantities from other registries are accepted through their text.
    """
    m = q.magnitude
    if hasattr(m, "item"):  # numpy scalar
        m = m.item()
    ureg = _ureg()
    if not isinstance(q, ureg.Quantity):
        q = ureg.Quantity(m, str(q.units))
    return f"{m!r} {format_unit(q.units)}"
