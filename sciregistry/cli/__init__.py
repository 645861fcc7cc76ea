"""The ``sciregistry`` command. One click group; each audience's commands live in their own module
(see :mod:`sciregistry.cli.common`), sharing the options of :mod:`sciregistry.cli.options`."""

from __future__ import annotations

from sciregistry.cli import server as _server  # noqa: F401  (registers commands)
from sciregistry.cli.common import main

__all__ = ["main"]


def _load_optional() -> None:
    """Register command modules of the areas that are present."""
    import importlib

    for mod in ("admin", "artifacts", "doi", "demo", "reproduce", "vuln"):
        try:
            importlib.import_module(f"sciregistry.cli.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"sciregistry.cli.{mod}":
                raise


_load_optional()
