"""Software inventories (SBOMs) of images and matching them against advisories.

Pure code over streams: no database, no Flask, no blob store. ``registry/vulns.py`` feeds it layer
streams and stores what it returns.

    layers.collect(layers, catalogue.wanted) -> Filesystem    the package-database files, whiteouts applied
    catalogue.catalogue(fs) -> Inventory                       packages with purls
    document.cyclonedx(inventory, ...) -> bytes                the CycloneDX 1.6 SBOM
    osv.parse_record(json) -> Advisory; osv.Matcher(advisories).match(packages) -> [Finding]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import BinaryIO

from sciregistry.sbom.catalogue import CatalogueError, Inventory, Package, catalogue, wanted
from sciregistry.sbom.layers import LayerError, collect


class ScanError(Exception):
    """Why an image could not be catalogued (a bad layer or package database): per image, never fatal."""


def inventory(layers: Iterable[tuple[str, Callable[[], BinaryIO]]]) -> Inventory:
    """Catalogue an image from its layers (bottom first); ScanError explains any failure."""
    try:
        with collect(layers, wanted) as fs:
            return catalogue(fs)
    except (LayerError, CatalogueError) as exc:
        raise ScanError(str(exc)) from exc


__all__ = ["CatalogueError", "Inventory", "LayerError", "Package", "ScanError", "inventory"]
