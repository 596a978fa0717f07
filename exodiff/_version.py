"""The package version, in its own module so that any stage can name it without importing the package's facade."""

__version__ = "0.1.0"
