"""sciregistry's JSON Schemas (draft 2020-12), loaded from the copy shipped in the package.

The schemas are authored in ``schemas/`` at the repository root and copied byte for byte to
``sciregistry/data/schemas/`` (``tests/test_schemas.py`` checks the two trees are identical),
so they are available to an installed package through :mod:`importlib.resources`::

    run.schema.json                  sciregistry-run.json (the run description layer)
    dataset-annotations.schema.json  annotations of dataset manifests ($defs/layer: of their layers)
    result-annotations.schema.json   annotations of result manifests ($defs/layer: of their layers)
    api/run.json, api/run-list.json, api/lineage.json, api/impact.json, api/error.json
                                     /api/v1 response bodies

A schema is named by its relative path (``"api/run.json"``), by that path without its
``.schema.json`` / ``.json`` suffix (``"run"``, ``"api/run"``) or by its ``$id``
(``https://sciregistry.org/schemas/run.schema.json``). Cross-schema ``$ref`` (``run-list.json``
-> ``run.json``) resolve against the shipped copies, never over the network.

``date-time`` formats are checked (RFC 3339, with a time-zone offset) without optional
jsonschema extras.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from importlib.resources.abc import Traversable
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from sciregistry.provenance._resources import data_dir

__all__ = ["SCHEMA_BASE_URI", "load_schema", "schema_names", "validate"]

SCHEMA_BASE_URI = "https://sciregistry.org/schemas/"
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_FORMAT_CHECKER = FormatChecker(formats=())


def _is_date_time(value: object) -> bool:
    """RFC 3339 ``date-time`` (JSON Schema 2020-12 section 7.3.1): offset required."""
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))  # range check; raises ValueError
    return True


_FORMAT_CHECKER.checks("date-time", raises=ValueError)(_is_date_time)


def _schema_root() -> Traversable:
    return data_dir("schemas")


def _walk(node: Traversable, prefix: str = "") -> Iterator[tuple[str, Traversable]]:
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        rel = f"{prefix}{child.name}"
        if child.is_dir():
            yield from _walk(child, rel + "/")
        elif child.name.endswith(".json"):
            yield rel, child


@cache
def _all_schemas() -> dict[str, dict[str, Any]]:
    """Relative path -> parsed schema, for every shipped schema."""
    return {rel: json.loads(entry.read_text(encoding="utf-8")) for rel, entry in _walk(_schema_root())}


def schema_names() -> list[str]:
    """Relative paths of every shipped schema, sorted (``["api/error.json", ...]``)."""
    return sorted(_all_schemas())


def _resolve_name(name: str) -> str:
    schemas = _all_schemas()
    rel = name.removeprefix(SCHEMA_BASE_URI)
    for candidate in (rel, f"{rel}.schema.json", f"{rel}.json"):
        if candidate in schemas:
            return candidate
    raise KeyError(f"unknown schema {name!r}; known: {', '.join(sorted(schemas))}")


def load_schema(name: str) -> dict[str, Any]:
    """Return (a copy of) the schema called ``name``; ``KeyError`` when there is none."""
    return copy.deepcopy(_all_schemas()[_resolve_name(name)])


@cache
def _registry() -> Registry:
    resources = [
        (
            schema.get("$id", SCHEMA_BASE_URI + rel),
            Resource.from_contents(schema, default_specification=DRAFT202012),
        )
        for rel, schema in _all_schemas().items()
    ]
    return Registry().with_resources(resources).crawl()


@cache
def _validator(rel: str) -> Draft202012Validator:
    schema = _all_schemas()[rel]
    return Draft202012Validator(schema, registry=_registry(), format_checker=_FORMAT_CHECKER)


def json_path(path: Iterator[str | int] | Any) -> str:
    """Render a jsonschema error path as a JSON path: ``$.inputs[0]['org.x.y']``."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}"
        else:
            out += "[" + json.dumps(part) + "]"
    return out


def _describe(error: ValidationError) -> str:
    return f"{json_path(error.absolute_path)}: {error.message}"


def validate(name: str, instance: Any) -> list[str]:
    """Validate ``instance`` against schema ``name``; return the problems, empty when valid.

    Each problem starts with the JSON path of the offending value, e.g.
    ``$.parameters[0].value: 'x' is not of type 'integer'``. Problems are sorted by path.
    """
    validator = _validator(_resolve_name(name))
    errors = sorted(
        validator.iter_errors(instance), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    )
    return [_describe(e) for e in errors]
