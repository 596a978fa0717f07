"""Modules that are also their main function: ``exodiff.run(sc)`` and ``exodiff.run.warm(sc)`` alike.

The public names ``exodiff.run``, ``exodiff.compare`` and ``exodiff.sweep``
are both a function users call and a module whose other functions they use
(``exodiff.compare.to_csv``, ``exodiff.sweep.plan``).  Once a submodule is
imported, Python makes it the package attribute of that name, so the module
itself must be callable: its class becomes a ModuleType subclass whose call
is the module's function of the same name.
"""

from __future__ import annotations

import sys
import types


class CallableModule(types.ModuleType):
    """A module whose call is its function named like the module's last dotted part."""

    def __call__(self, *args, **kwargs):
        return getattr(self, self.__name__.rsplit(".", 1)[-1])(*args, **kwargs)


def make_callable(module_name: str) -> None:
    """Make the module ``module_name`` callable (see :class:`CallableModule`)."""
    sys.modules[module_name].__class__ = CallableModule
