"""``python -m exodiff``: the same as the ``exodiff`` command."""

from exodiff.cli import main

raise SystemExit(main())
