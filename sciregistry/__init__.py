"""sciregistry: a research artifact registry for reproducible scientific containers."""

__version__ = "0.1.0"
