"""The package version (one place; the CLI and the handout print it)."""

__version__ = "0.1.0"
