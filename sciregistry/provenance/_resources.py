"""Locate the runtime data shipped in the package (``sciregistry/data/``).

Read through :mod:`importlib.resources`, so an installed wheel works; when ``sciregistry``
is imported as a namespace package (an editable install made before ``__init__.py``
existed), fall back to the directory next to this module.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path


def data_dir(*parts: str) -> Traversable:
    """``sciregistry/data/<parts...>`` as a Traversable."""
    try:
        node: Traversable = files("sciregistry").joinpath("data")
        if not node.is_dir():
            raise NotADirectoryError(str(node))
    except (NotADirectoryError, TypeError, ModuleNotFoundError):
        node = Path(__file__).resolve().parent.parent / "data"
    for part in parts:
        node = node.joinpath(part)
    return node
