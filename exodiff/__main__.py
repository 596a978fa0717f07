"""``python -m exodiff``: the same as the ``exodiff`` command."""

from exodiff.cli import console

console()
