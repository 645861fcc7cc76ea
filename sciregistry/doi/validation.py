"""Offline validation of DataCite 4.5 metadata (REST attributes form).

Two layers, both offline:

1. The DataCite 4.5 JSON Schema shipped in ``sciregistry/data/datacite/datacite-v4.5.json``
   (copied unchanged from the ``datacite`` 1.4.1 package by inveniosoftware, BSD-3-Clause;
   see the README next to it). Its property names are those of the DataCite REST API
   ``data.attributes`` object (``doi``, ``types``, ``creators``, ``publisher`` object,
   ``alternateIdentifiers``, ``relatedIdentifiers``, ``schemaVersion``, ``url``...), so the
   body we send is validated as is, with no mapping. It is JSON Schema draft 2019-09
   (``unevaluatedProperties``, ``if``/``else``), checked with a format checker for ``uri``
   and the DataCite date formats (``year``, ``yearmonth``, ``date``, ``datetime`` and
   their ``-range`` forms).
2. sciregistry's own checks of what DESIGN section 6 requires and the schema leaves out:
   ``doi`` present, canonical and lower-case; ``url`` present and absolute http(s);
   non-blank ``creators[].name``, ``titles[].title`` and ``publisher.name``;
   ``publisher`` an object (4.5); ORCID check digits; DOI/URL related identifiers well formed.

Problems are strings ``"<JSON path>: <message>"``, e.g.
``"$.publisher: required property is missing"`` or
``"$.creators[0].nameIdentifiers[0].nameIdentifier: ORCID iD ... has a wrong check digit"``.

Not validated: the DataCite XML-level rules applied server-side after conversion (e.g.
controlled ``nameIdentifierScheme`` values), read-only attributes that ``GET /dois``
returns (``state``, ``created``, ``citationCount``, ``types.citeproc``...; strip them
before validating a fetched record) and whether URLs resolve.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from jsonschema import Draft201909Validator, FormatChecker, ValidationError

from sciregistry.doi.identifiers import normalize_orcid
from sciregistry.doi.metadata import DoiMetadata, _attributes, to_datacite_json
from sciregistry.errors import MetadataInvalid

__all__ = ["SCHEMA_PATH", "check_metadata", "datacite_schema", "validate_metadata"]

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "data" / "datacite" / "datacite-v4.5.json"

# lupo app/models/doi.rb validates_format_of :doi on create.
_DATACITE_DOI_RE = re.compile(r"^10\.\d{4,9}/[-._;()/:a-zA-Z0-9*~$=]+$")
_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_YEAR_RE = re.compile(r"^\d{4}$")
_YEARMONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


# --- format checker --------------------------------------------------------------------------


def _is_date(v: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
        return False
    try:
        _dt.date.fromisoformat(v)
    except ValueError:
        return False
    return True


def _is_datetime(v: str) -> bool:
    if "T" not in v:
        return False
    try:
        _dt.datetime.fromisoformat(v.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return True


def _range(single: Any) -> Any:
    def check(v: str) -> bool:
        parts = v.split("/")
        if len(parts) != 2 or parts == ["", ""]:
            return False
        return all(p == "" or single(p) for p in parts)

    return check


def _make_format_checker() -> FormatChecker:
    fc = FormatChecker(formats=())
    checks = {
        "uri": lambda v: bool(_URI_RE.match(v)),
        "year": lambda v: bool(_YEAR_RE.match(v)),
        "yearmonth": lambda v: bool(_YEARMONTH_RE.match(v)),
        "date": _is_date,
        "datetime": _is_datetime,
    }
    for name in ("year", "yearmonth", "date", "datetime"):
        checks[f"{name}-range"] = _range(checks[name])
    for name, fn in checks.items():
        fc.checks(name)(lambda v, _fn=fn: not isinstance(v, str) or _fn(v))
    return fc


@functools.cache
def datacite_schema() -> dict[str, Any]:
    """The shipped DataCite 4.5 JSON Schema (parsed once)."""
    with SCHEMA_PATH.open(encoding="utf-8") as f:
        schema: dict[str, Any] = json.load(f)
    return schema


@functools.cache
def _validator() -> Draft201909Validator:
    schema = datacite_schema()
    Draft201909Validator.check_schema(schema)
    return Draft201909Validator(schema, format_checker=_make_format_checker())


# --- problems --------------------------------------------------------------------------------


def _child(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"


def _schema_problems(attrs: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for err in _validator().iter_errors(attrs):
        out.extend(_describe(err, attrs))
    return out


def _declared(schema: Any, seen: frozenset[str] = frozenset()) -> set[str]:
    """Property names a subschema declares, following local ``$ref``s, ``allOf``/``anyOf``/
    ``oneOf`` and ``if``/``then``/``else`` (what ``unevaluatedProperties`` may see)."""
    if not isinstance(schema, Mapping):
        return set()
    names = set(schema.get("properties", {}))
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and ref not in seen:
        target: Any = datacite_schema()
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        names |= _declared(target, seen | {ref})
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, []):
            names |= _declared(sub, seen)
    for key in ("if", "then", "else"):
        names |= _declared(schema.get(key), seen)
    return names


_METADATA_ONLY = ("relatedMetadataScheme", "schemeUri", "schemeType")


def _describe(err: ValidationError, root: Any) -> list[str]:
    path = err.json_path
    if err.validator == "required" and isinstance(err.instance, Mapping):
        return [
            f"{_child(path, p)}: required property is missing"
            for p in cast("list[str]", err.validator_value)
            if p not in err.instance
        ]
    if err.validator == "unevaluatedProperties" and isinstance(err.instance, Mapping):
        # A failing allOf branch drops its annotations, so jsonschema then also calls every
        # property it declared "unevaluated"; report only the truly unknown ones.
        unknown = sorted(k for k in err.instance if k not in _declared(err.schema))
        if not unknown:
            return []
        return [
            f"{path}: unknown propert{'y' if len(unknown) == 1 else 'ies'} "
            + ", ".join(repr(k) for k in unknown)
        ]
    if err.validator is None and err.schema_path and err.schema_path[-1] == "properties":
        # A ``false`` property schema: in the 4.5 schema only relatedObjectElse has them, and
        # jsonschema reports them at the parent object; name the property.
        parent: Any = root
        for part in err.path:
            parent = parent[part]
        keys = [k for k in _METADATA_ONLY if isinstance(parent, Mapping) and parent.get(k) == err.instance]
        if keys:
            return [f"{_child(path, keys[0])}: allowed only with relationType HasMetadata or IsMetadataFor"]
    return [f"{path}: {err.message}"]


def _blank(v: Any) -> bool:
    return not isinstance(v, str) or not v.strip()


def _is_http_url(v: Any) -> bool:
    if not isinstance(v, str) or not v or any(c.isspace() for c in v):
        return False
    parts = urlsplit(v)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _own_problems(a: Mapping[str, Any], require_doi: bool) -> list[str]:
    out: list[str] = []
    doi = a.get("doi")
    if doi is None or doi == "":
        if require_doi:
            out.append("$.doi: required property is missing")
    elif not isinstance(doi, str) or not _DATACITE_DOI_RE.match(doi):
        out.append(
            f"$.doi: {doi!r} is not a DOI DataCite accepts (10.<4-9 digits>/<suffix of "
            "letters, digits and -._;()/:*~$=>)"
        )
    elif doi != doi.lower():
        out.append(
            f"$.doi: {doi!r} must be lower-case (DOIs are case-insensitive; "
            "sciregistry stores them lower-case)"
        )

    url = a.get("url")
    if url is None or url == "":
        out.append("$.url: required property is missing")
    elif not _is_http_url(url) and not (isinstance(url, str) and not _URI_RE.match(url)):
        # (a value that is not even a URI is reported by the schema's "uri" format)
        out.append(f"$.url: {url!r} is not an absolute http(s) URL")

    creators = a.get("creators")
    if isinstance(creators, list):
        if not creators:
            out.append("$.creators: at least one creator is required")
        for i, c in enumerate(creators):
            if not isinstance(c, Mapping):
                continue
            if "name" in c and _blank(c.get("name")):
                out.append(f"$.creators[{i}].name: must not be blank")
            for j, ni in enumerate(c.get("nameIdentifiers") or []):
                if (
                    isinstance(ni, Mapping)
                    and str(ni.get("nameIdentifierScheme", "")).upper() == "ORCID"
                    and isinstance(ni.get("nameIdentifier"), str)
                ):
                    try:
                        normalize_orcid(ni["nameIdentifier"])
                    except ValueError as exc:
                        out.append(f"$.creators[{i}].nameIdentifiers[{j}].nameIdentifier: {exc}")

    titles = a.get("titles")
    if isinstance(titles, list):
        if not titles:
            out.append("$.titles: at least one title is required")
        for i, t in enumerate(titles):
            if isinstance(t, Mapping) and "title" in t and _blank(t.get("title")):
                out.append(f"$.titles[{i}].title: must not be blank")

    if "publisher" in a:
        pub = a["publisher"]
        if isinstance(pub, str):
            out.append('$.publisher: must be an object {"name": ...} in DataCite 4.5, not a string')
        elif isinstance(pub, Mapping) and "name" in pub and _blank(pub.get("name")):
            out.append("$.publisher.name: must not be blank")

    for i, r in enumerate(a.get("relatedIdentifiers") or []):
        if not isinstance(r, Mapping):
            continue
        ident, kind = r.get("relatedIdentifier"), r.get("relatedIdentifierType")
        if kind == "URL" and not _is_http_url(ident):
            out.append(
                f"$.relatedIdentifiers[{i}].relatedIdentifier: {ident!r} is not an absolute http(s) URL"
            )
        elif kind == "DOI" and not (isinstance(ident, str) and _DATACITE_DOI_RE.match(ident)):
            out.append(
                f"$.relatedIdentifiers[{i}].relatedIdentifier: {ident!r} is not a bare DOI (10.xxxx/...)"
            )
    return out


def validate_metadata(meta: DoiMetadata | Mapping[str, Any], *, require_doi: bool = True) -> list[str]:
    """Problems of ``meta`` as DataCite 4.5 REST metadata, ``[]`` when it is valid.

    ``meta`` is a :class:`DoiMetadata`, a ``data.attributes`` mapping or a whole JSON:API
    document. ``require_doi=False`` accepts metadata whose DOI is not assigned yet.
    Each problem is ``"<JSON path>: <message>"``; duplicates are dropped, order is by path.
    """
    attrs = to_datacite_json(meta) if isinstance(meta, DoiMetadata) else _attributes(meta)
    if not isinstance(attrs, Mapping):
        return ["$: metadata must be a JSON object"]
    problems = _schema_problems(attrs) + _own_problems(attrs, require_doi)
    return sorted(dict.fromkeys(problems), key=lambda p: (p.split(": ", 1)[0], p))


def check_metadata(meta: DoiMetadata | Mapping[str, Any], *, require_doi: bool = True) -> dict[str, Any]:
    """Return the ``data.attributes`` to send, or raise :class:`MetadataInvalid` listing every problem
    (``detail={"problems": [...]}``)."""
    attrs = dict(to_datacite_json(meta) if isinstance(meta, DoiMetadata) else _attributes(meta))
    problems = validate_metadata(attrs, require_doi=require_doi)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise MetadataInvalid(
            f"DataCite 4.5 metadata invalid: {problems[0]}{more}", detail={"problems": problems}
        )
    return attrs
