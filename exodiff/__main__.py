"""``python -m exodiff``: the same as the ``exodiff`` command."""

from .cli import main

raise SystemExit(main())
