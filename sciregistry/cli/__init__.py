"""The ``sciregistry`` command. One click group; each area adds its commands from its own module."""

from __future__ import annotations

import click

from sciregistry.cli import serve as _serve  # noqa: F401  (registers commands)
from sciregistry.cli.common import main

__all__ = ["main"]


def _load_optional() -> None:
    """Register command modules of the areas that are present."""
    import importlib

    for mod in ("admin", "client", "doi", "demo", "reproduce", "vuln"):
        try:
            importlib.import_module(f"sciregistry.cli.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"sciregistry.cli.{mod}":
                raise


_load_optional()
click  # re-exported for command modules
