"""The /api/v1 contract, with one source of truth: the OpenAPI 3.1 document.

``docs/openapi.yaml`` is what people read and generate clients from. The package carries a
byte-identical copy (``sciregistry/data/openapi/openapi.yaml``; ``tests/test_openapi.py`` keeps the
two equal) and this module uses it twice:

* **Requests are checked against it before a view runs**: path and query parameters (parsed the way
  OpenAPI's default ``form`` style sends them: one value each, integers in decimal, booleans as
  ``true``/``false``, date-times in RFC 3339 with a zone) and JSON bodies. A request the document
  forbids gets ``400 BAD_REQUEST`` naming the parameter; one it allows is never refused for its shape.
  The views read the parsed values from ``query()``.
* **It is served bundled** (the JSON Schemas of ``schemas/api/`` inlined as components, every
  ``$ref`` local) at ``/api/v1/openapi.json``, which viewers such as Swagger UI and client
  generators read.

Pure apart from reading the packaged file once; the Flask glue is ``check_request``.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from sciregistry.errors import BadRequest

__all__ = ["Contract", "bundled_document", "contract", "openapi_path", "source_document"]

_DOC_URI = "urn:sciregistry:api-v1"
_FILE_REF = re.compile(r"^(?:\.\./schemas/api/)?([a-z0-9-]+)\.json(#.*)?$")
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def openapi_path() -> Any:
    return files("sciregistry") / "data" / "openapi" / "openapi.yaml"


@functools.cache
def source_document() -> dict[str, Any]:
    """The document as written (external ``$ref``s to ``../schemas/api/*.json``)."""
    return yaml.safe_load(openapi_path().read_text(encoding="utf-8"))


def _schema_file(name: str) -> dict[str, Any]:
    path = files("sciregistry") / "data" / "schemas" / "api" / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8"))


@functools.cache
def bundled_document() -> dict[str, Any]:
    """The document with every external schema inlined under ``components/schemas``.

    ``../schemas/api/run.json`` (and ``run.json`` inside another schema file) becomes
    ``#/components/schemas/Run``; a schema file's own ``#/$defs/x`` becomes
    ``#/components/schemas/Run/$defs/x``, so the result is one self-contained document."""
    doc = copy.deepcopy(source_document())
    comps = doc.setdefault("components", {}).setdefault("schemas", {})
    names: dict[str, str] = {}  # file stem -> component name
    for comp, schema in list(comps.items()):
        m = _FILE_REF.match(schema.get("$ref", "")) if isinstance(schema, dict) and len(schema) == 1 else None
        if m:
            names[m.group(1)] = comp
    # schema files referenced only from other files get a component named after their title
    pending = list(names)
    while pending:
        stem = pending.pop()
        text = json.dumps(_schema_file(stem))
        for other in re.findall(r'"\$ref": "([a-z0-9-]+)\.json', text):
            if other not in names:
                names[other] = "".join(p.capitalize() for p in other.split("-"))
                pending.append(other)

    def rewrite(node: Any, stem: str | None) -> Any:
        if isinstance(node, dict):
            out = {k: rewrite(v, stem) for k, v in node.items() if not (stem and k in ("$id", "$schema"))}
            ref = node.get("$ref")
            if isinstance(ref, str):
                m = _FILE_REF.match(ref)
                if m and m.group(1) in names:
                    out["$ref"] = f"#/components/schemas/{names[m.group(1)]}{(m.group(2) or '#')[1:]}"
                elif ref.startswith("#/$defs/") and stem:
                    out["$ref"] = f"#/components/schemas/{names[stem]}{ref[1:]}"
            return out
        if isinstance(node, list):
            return [rewrite(v, stem) for v in node]
        return node

    for path, ops in doc.get("paths", {}).items():
        doc["paths"][path] = rewrite(ops, None)
    for key in ("parameters", "responses", "requestBodies"):
        if key in doc["components"]:
            doc["components"][key] = rewrite(doc["components"][key], None)
    for comp in list(comps):
        if comp not in names.values():
            comps[comp] = rewrite(comps[comp], None)
    for stem, comp in names.items():
        comps[comp] = rewrite(_schema_file(stem), stem)
    return doc


# --- request checking ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # path | query
    required: bool
    validator: Draft202012Validator
    kind: str  # integer | number | boolean | string | date-time


@dataclass(frozen=True)
class Operation:
    path: str
    method: str
    parameters: tuple[Parameter, ...]
    body: Draft202012Validator | None
    body_required: bool


def _resolve(doc: Mapping[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        target: Any = doc
        for part in node["$ref"][2:].split("/"):
            target = target[int(part)] if isinstance(target, list) else target[_unescape(part)]
        node = target
    return node


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _kind(doc: Mapping[str, Any], schema: Any) -> str:
    schema = _resolve(doc, schema)
    types = schema.get("type") if isinstance(schema, dict) else None
    types = [types] if isinstance(types, str) else list(types or [])
    for t in ("integer", "number", "boolean"):
        if t in types:
            return t
    if isinstance(schema, dict) and schema.get("format") == "date-time":
        return "date-time"
    return "string"


class Contract:
    """The operations of one OpenAPI document, each with validators for its parameters and body."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        registry: Registry[Any] = Registry().with_resource(_DOC_URI, DRAFT202012.create_resource(doc))
        self._registry = registry
        self.operations: dict[tuple[str, str], Operation] = {}
        for path, item in doc.get("paths", {}).items():
            shared = item.get("parameters", [])
            for method in _METHODS:
                if method not in item:
                    continue
                op = item[method]
                params: dict[tuple[str, str], Parameter] = {}
                for index, raw in [(f"{i}", p) for i, p in enumerate(shared)]:
                    self._add_param(params, raw, ("paths", path, "parameters", index))
                for index, raw in [(f"{i}", p) for i, p in enumerate(op.get("parameters", []))]:
                    self._add_param(params, raw, ("paths", path, method, "parameters", index))
                body, body_required = None, False
                rb = _resolve(doc, op.get("requestBody"))
                if isinstance(rb, dict):
                    body_required = bool(rb.get("required"))
                    if "application/json" in rb.get("content", {}):
                        body = self._validator(
                            "paths", path, method, "requestBody", "content", "application/json", "schema"
                        )
                self.operations[(path, method)] = Operation(
                    path, method, tuple(params.values()), body, body_required
                )

    def _validator(self, *parts: str) -> Draft202012Validator:
        """A validator for the schema at ``parts`` (unescaped JSON-pointer tokens) of the document;
        ``$ref``s on the way are followed so ``#/components/...`` inside resolve against the document."""
        node: Any = self.doc
        pointer: list[str] = []
        for part in parts:
            node = node[int(part)] if isinstance(node, list) else node[part]
            pointer.append(part)
            if part != "schema" and isinstance(node, dict) and isinstance(node.get("$ref"), str):
                pointer = [_unescape(t) for t in node["$ref"][2:].split("/")]
                node = _resolve(self.doc, node)
        return Draft202012Validator({"$ref": f"{_DOC_URI}#/{_pointer(*pointer)}"}, registry=self._registry)

    def _add_param(self, params: dict[tuple[str, str], Parameter], raw: Any, where: tuple[str, ...]) -> None:
        spec = _resolve(self.doc, raw)
        if spec.get("in") not in ("path", "query"):
            return
        if isinstance(raw, dict) and "$ref" in raw:
            where = tuple(_unescape(t) for t in raw["$ref"][2:].split("/"))
        validator = self._validator(*where, "schema")
        params[(spec["in"], spec["name"])] = Parameter(
            spec["name"],
            spec["in"],
            bool(spec.get("required")),
            validator,
            _kind(self.doc, spec.get("schema", {})),
        )

    # -- checking one request --

    def check(
        self,
        path: str,
        method: str,
        path_args: Mapping[str, Any],
        query: Any,
        body: Any = None,
        has_body: bool = False,
    ) -> dict[str, Any]:
        """Check one request; return its query parameters parsed to Python values.

        ``query`` is a MultiDict (``request.args``); ``body`` the parsed JSON body (``has_body``
        False when the request had none). Raise BadRequest naming the first problem."""
        op = self.operations.get((path, method.lower()))
        if op is None:
            return {}
        parsed: dict[str, Any] = {}
        for param in op.parameters:
            if param.location == "path":
                if param.name not in path_args:
                    continue
                value = path_args[param.name]
                self._validate(param.validator, value, f"path parameter {param.name!r}")
                continue
            values = query.getlist(param.name)
            if not values:
                if param.required:
                    raise BadRequest(f"query parameter {param.name!r} is required")
                continue
            if len(values) > 1:
                raise BadRequest(
                    f"query parameter {param.name!r} is given more than once",
                    {param.name: [v[:50] for v in values[:5]]},
                )
            value = _parse(param, values[0])
            self._validate(
                param.validator,
                value if param.kind != "date-time" else values[0],
                f"query parameter {param.name!r}",
            )
            parsed[param.name] = value
        if op.body is not None or op.body_required:
            if not has_body:
                if op.body_required:
                    raise BadRequest("this request needs a JSON body")
            elif op.body is not None:
                self._validate(op.body, body, "body")
        return parsed

    @staticmethod
    def _validate(validator: Draft202012Validator, value: Any, what: str) -> None:
        error = _first_error(validator.iter_errors(value))
        if error is not None:
            where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            raise BadRequest(f"{what}{where}: {_short(error.message)}", {"field": f"{what}{where}"})


def _first_error(errors: Iterator[ValidationError]) -> ValidationError | None:
    best = None
    for err in errors:
        if best is None or len(err.absolute_path) > len(best.absolute_path):
            best = err
    return best


def _short(message: str) -> str:
    return message if len(message) <= 200 else message[:197] + "..."


_INT = re.compile(r"-?[0-9]{1,19}")
_NUMBER = re.compile(r"-?[0-9]{1,20}(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,3})?")


def _parse(param: Parameter, raw: str) -> Any:
    """One query value as OpenAPI's ``form`` style serialises it, parsed for its schema type."""
    what = f"query parameter {param.name!r}"
    if param.kind == "integer":
        if not _INT.fullmatch(raw):
            raise BadRequest(f"{what} must be an integer", {param.name: raw[:50]})
        return int(raw)
    if param.kind == "number":
        if not _NUMBER.fullmatch(raw):
            raise BadRequest(f"{what} must be a number", {param.name: raw[:50]})
        return float(raw)
    if param.kind == "boolean":
        if raw not in ("true", "false"):
            raise BadRequest(f"{what} must be true or false", {param.name: raw[:50]})
        return raw == "true"
    if param.kind == "date-time":
        return parse_datetime(param.name, raw)
    return raw


_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def parse_datetime(name: str, raw: str) -> datetime:
    """An RFC 3339 date-time with a zone, in UTC."""
    if not _RFC3339.fullmatch(raw):
        raise BadRequest(
            f"{name} must be an RFC 3339 date-time with a zone (e.g. 2026-01-01T00:00:00Z)", {name: raw[:100]}
        )
    text = raw.replace("z", "Z").replace("Z", "+00:00").replace("t", "T")
    frac = re.search(r"\.([0-9]+)", text)
    if frac and len(frac.group(1)) > 6:  # Python keeps microseconds
        text = text.replace(frac.group(0), "." + frac.group(1)[:6])
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # 2026-02-30, or before year 1 in UTC
        raise BadRequest(f"{name} is not a valid date-time", {name: raw[:100]}) from exc


@functools.cache
def contract() -> Contract:
    return Contract(bundled_document())
