"""exodiff: transport of therapeutic vesicles and small molecules through human skin."""

__version__ = "0.1.0"
