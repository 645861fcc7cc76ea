"""DOI metadata: the DataCite Metadata Schema 4.5 subset sciregistry writes.

Spec: DataCite Metadata Schema 4.5 (https://schema.datacite.org/meta/kernel-4.5/), in the
JSON form of the DataCite REST API (https://support.datacite.org/docs/api-create-dois):
the ``data.attributes`` object of ``POST /dois`` / ``PUT /dois/<doi>``. Mandatory
properties (DESIGN section 6): identifier (``doi``), creators, titles, publisher (an
object ``{"name": ...}`` since 4.5), publicationYear, types.resourceTypeGeneral, url.

Example of what :func:`to_datacite_json` returns for a result (abridged)::

    {
      "doi": "10.5072/a1b2-c3d4",
      "creators": [{"name": "Doe, Jane", "nameType": "Personal", "givenName": "Jane",
                    "familyName": "Doe", "nameIdentifiers": [{"nameIdentifier":
                    "https://orcid.org/0000-0002-1825-0097", "nameIdentifierScheme": "ORCID",
                    "schemeUri": "https://orcid.org"}], "affiliation": [{"name": "Lab"}]}],
      "titles": [{"title": "Variant calls for sample NA12878"}],
      "publisher": {"name": "sciregistry at Example Lab"},
      "publicationYear": "2025",
      "types": {"resourceTypeGeneral": "Dataset", "resourceType": "Computational result"},
      "relatedIdentifiers": [
        {"relatedIdentifier": "https://reg.example/v2/lab/pipe/manifests/sha256:...",
         "relatedIdentifierType": "URL", "relationType": "IsCompiledBy",
         "resourceTypeGeneral": "Software"},
        {"relatedIdentifier": "https://reg.example/...", "relatedIdentifierType": "URL",
         "relationType": "IsDerivedFrom", "resourceTypeGeneral": "Dataset"},
        {"relatedIdentifier": "https://reg.example/.../ro-crate-metadata.json",
         "relatedIdentifierType": "URL", "relationType": "HasMetadata",
         "relatedMetadataScheme": "RO-Crate", "schemeUri": "https://w3id.org/ro/crate/1.1",
         "schemeType": "JSON-LD"}],
      "alternateIdentifiers": [{"alternateIdentifier": "reg.example/lab/pipe@sha256:...",
                                "alternateIdentifierType": "OCI image reference"}, ...],
      "url": "https://reg.example/doi/10.5072/a1b2-c3d4",
      "schemaVersion": "http://datacite.org/schema/kernel-4"
    }
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sciregistry.doi.identifiers import DOI_RESOLVER, normalize_doi, normalize_orcid
from sciregistry.errors import BadRequest, MetadataInvalid

__all__ = [
    "ALT_ID_IMAGE",
    "ALT_ID_RESULT",
    "DATACITE_SCHEMA_VERSION",
    "Creator",
    "DateEntry",
    "DoiMetadata",
    "RelatedIdentifier",
    "Rights",
    "build_result_metadata",
    "from_datacite_json",
    "to_datacite_json",
    "withdrawn_metadata",
]

DATACITE_SCHEMA_VERSION = "http://datacite.org/schema/kernel-4"
#: ``alternateIdentifierType`` of the digest-pinned reference of the pipeline image (DESIGN 6).
ALT_ID_IMAGE = "OCI image reference"
#: ``alternateIdentifierType`` of the digest-pinned reference of the result artifact itself.
ALT_ID_RESULT = "OCI artifact reference"
RO_CRATE_SCHEME_URI = "https://w3id.org/ro/crate/1.1"

_PINNED_REF_RE = re.compile(r"^[^\s@]+@(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")


@dataclass(frozen=True)
class Creator:
    """A DataCite creator (property 2).

    ``name`` is the display name; DataCite's convention for persons is ``"Family, Given"``
    (use :meth:`person`). ``name_type`` is derived when not given: ``Personal`` when a given
    or family name or an ORCID is present, otherwise left out (DataCite makes it optional).
    """

    name: str
    given_name: str | None = None
    family_name: str | None = None
    orcid: str | None = None
    affiliation: str | None = None
    name_type: str | None = None

    def __post_init__(self) -> None:
        # store a valid ORCID iD in its canonical URI form; an invalid one stays as given so
        # validate_metadata can report it
        if self.orcid:
            with contextlib.suppress(ValueError):
                object.__setattr__(self, "orcid", normalize_orcid(self.orcid))

    @classmethod
    def person(
        cls, given_name: str, family_name: str, *, orcid: str | None = None, affiliation: str | None = None
    ) -> Creator:
        return cls(
            name=f"{family_name}, {given_name}",
            given_name=given_name,
            family_name=family_name,
            orcid=orcid,
            affiliation=affiliation,
            name_type="Personal",
        )

    @classmethod
    def organization(cls, name: str, *, affiliation: str | None = None) -> Creator:
        return cls(name=name, affiliation=affiliation, name_type="Organizational")

    @property
    def effective_name_type(self) -> str | None:
        if self.name_type:
            return self.name_type
        if self.given_name or self.family_name or self.orcid:
            return "Personal"
        return None


@dataclass(frozen=True)
class RelatedIdentifier:
    """A DataCite relatedIdentifier (property 12).

    ``related_metadata_scheme``, ``scheme_uri`` and ``scheme_type`` may only be used with
    ``HasMetadata`` / ``IsMetadataFor`` (4.5 schema, ``relatedObjectElse``).
    """

    identifier: str
    identifier_type: str
    relation_type: str
    resource_type_general: str | None = None
    related_metadata_scheme: str | None = None
    scheme_uri: str | None = None
    scheme_type: str | None = None


@dataclass(frozen=True)
class Rights:
    """A rightsList entry (property 16), e.g. ``Rights("Creative Commons Attribution 4.0 International",
    "https://creativecommons.org/licenses/by/4.0/legalcode", "cc-by-4.0")``."""

    rights: str
    rights_uri: str | None = None
    rights_identifier: str | None = None
    rights_identifier_scheme: str | None = "SPDX"


@dataclass(frozen=True)
class DateEntry:
    """A dates entry (property 8): ``date`` in RKMS-ISO8601, ``date_type`` e.g. Issued, Withdrawn."""

    date: str
    date_type: str
    information: str | None = None


@dataclass(frozen=True)
class DoiMetadata:
    """Everything sciregistry says about one DOI; render with :func:`to_datacite_json`.

    ``alternate_identifiers`` holds ``(identifier, type)`` pairs. ``description`` becomes an
    ``Abstract`` description, ``technical_info`` a ``TechnicalInfo`` one.
    """

    doi: str | None
    title: str
    creators: Sequence[Creator]
    publisher: str
    publication_year: int
    url: str
    resource_type_general: str = "Dataset"
    resource_type: str = "Computational result"
    description: str = ""
    version: str | None = None
    subjects: Sequence[str] = field(default_factory=list)
    related: Sequence[RelatedIdentifier] = field(default_factory=list)
    alternate_identifiers: Sequence[tuple[str, str]] = field(default_factory=list)
    rights: Rights | None = None
    dates: Sequence[DateEntry] = field(default_factory=list)
    technical_info: str = ""
    #: False for a DOI the registry minted itself (local minter, test prefix ``10.5072``): doi.org
    #: never resolves it, so citations link :attr:`url` (the registry's landing page) instead.
    resolvable: bool = field(default=True, compare=False)

    @property
    def doi_url(self) -> str | None:
        """The link a citation carries: ``https://doi.org/<doi>`` for a registered DOI, the landing
        page :attr:`url` for one doi.org does not know (``resolvable`` False); None while no DOI is
        assigned."""
        if not self.doi:
            return None
        return DOI_RESOLVER + self.doi if self.resolvable else self.url

    def with_doi(self, doi: str) -> DoiMetadata:
        """A copy carrying ``doi`` (normalised to lower case)."""
        return replace(self, doi=normalize_doi(doi))


# --- builder -------------------------------------------------------------------------------


def _pinned(ref: str, what: str) -> str:
    if not isinstance(ref, str) or not _PINNED_REF_RE.match(ref):
        raise MetadataInvalid(f"{what} must be pinned by digest as <repository>@sha256:<64 hex>, got {ref!r}")
    return ref


def _doi_relation(doi: str, relation: str, resource_type_general: str) -> RelatedIdentifier:
    try:
        norm = normalize_doi(doi)
    except BadRequest as exc:
        raise MetadataInvalid(f"{relation}: {exc.text}") from exc
    return RelatedIdentifier(norm, "DOI", relation, resource_type_general)


def build_result_metadata(
    *,
    title: str,
    creators: Sequence[Creator],
    publisher: str,
    year: int,
    url: str,
    image_ref: str,
    image_url: str,
    result_ref: str,
    dataset_refs: Iterable[tuple[str, str]],
    crate_url: str,
    version: str | None = None,
    doi: str | None = None,
    description: str = "",
    subjects: Sequence[str] = (),
    rights: Rights | None = None,
    dates: Sequence[DateEntry] = (),
    resource_type: str = "Computational result",
    is_new_version_of: str | None = None,
    is_previous_version_of: str | None = None,
    is_version_of: str | None = None,
    has_versions: Sequence[str] = (),
    steps: Sequence[tuple[str, str, str]] = (),
) -> DoiMetadata:
    """DataCite metadata for a published result, linked as DESIGN section 6 prescribes.

    A workflow result also gives its ``steps`` as ``(step name, image ref, image url)``, in order:
    each further image is ``IsCompiledBy`` too, and every step is listed in ``TechnicalInfo``.

    - the pipeline image: ``relatedIdentifierType: URL``, ``relationType: IsCompiledBy``
      (``resourceTypeGeneral: Software``) to ``image_url``, plus the alternate identifier
      ``image_ref`` (``repo@sha256:...``, type :data:`ALT_ID_IMAGE`);
    - the result artifact itself: alternate identifier ``result_ref`` (:data:`ALT_ID_RESULT`);
    - each input dataset ``(ref, url)``: ``IsDerivedFrom`` the URL (``Dataset``); a dataset
      given with an empty URL and a DOI as ref is linked by DOI;
    - the run crate: ``HasMetadata`` (scheme RO-Crate 1.1, JSON-LD) to ``crate_url``;
    - versions (DOIs): ``is_new_version_of`` -> ``IsNewVersionOf``, ``is_previous_version_of``
      -> ``IsPreviousVersionOf``, a concept DOI ``is_version_of`` -> ``IsVersionOf``; for a
      concept DOI record, each of ``has_versions`` -> ``HasVersion``.

    The digest-pinned references are also listed in a ``TechnicalInfo`` description.
    Raises :class:`MetadataInvalid` when a reference is not pinned by digest or a version
    link is not a DOI; everything else is checked by :func:`validate_metadata`.
    """
    _pinned(image_ref, "image_ref")
    _pinned(result_ref, "result_ref")
    datasets = list(dataset_refs)
    related: list[RelatedIdentifier] = [
        RelatedIdentifier(image_url, "URL", "IsCompiledBy", "Software"),
    ]
    for _name, step_ref, step_url in steps:
        _pinned(step_ref, "step image_ref")
        if step_url not in {r.identifier for r in related}:
            related.append(RelatedIdentifier(step_url, "URL", "IsCompiledBy", "Software"))
    for ref, ds_url in datasets:
        if ds_url:
            related.append(RelatedIdentifier(ds_url, "URL", "IsDerivedFrom", "Dataset"))
        else:
            related.append(_doi_relation(ref, "IsDerivedFrom", "Dataset"))
    related.append(
        RelatedIdentifier(crate_url, "URL", "HasMetadata", None, "RO-Crate", RO_CRATE_SCHEME_URI, "JSON-LD")
    )
    rtg = "Dataset"
    if is_new_version_of:
        related.append(_doi_relation(is_new_version_of, "IsNewVersionOf", rtg))
    if is_previous_version_of:
        related.append(_doi_relation(is_previous_version_of, "IsPreviousVersionOf", rtg))
    if is_version_of:
        related.append(_doi_relation(is_version_of, "IsVersionOf", rtg))
    for v in has_versions:
        related.append(_doi_relation(v, "HasVersion", rtg))

    lines = [f"Computed by container image {image_ref}.", f"Result artifact: {result_ref}."]
    lines += [f"Step {n} {name}: container image {ref}." for n, (name, ref, _url) in enumerate(steps, 1)]
    lines += [f"Input dataset: {ref}." for ref, _ in datasets]
    lines.append("Run provenance: Workflow Run RO-Crate at " + crate_url + ".")
    return DoiMetadata(
        doi=normalize_doi(doi) if doi else None,
        title=title,
        creators=list(creators),
        publisher=publisher,
        publication_year=year,
        url=url,
        resource_type_general=rtg,
        resource_type=resource_type,
        description=description,
        version=version,
        subjects=list(subjects),
        related=related,
        alternate_identifiers=[(result_ref, ALT_ID_RESULT), (image_ref, ALT_ID_IMAGE)],
        rights=rights,
        dates=list(dates),
        technical_info="\n".join(lines),
    )


def withdrawn_metadata(meta: DoiMetadata, reason: str, date: str, *, url: str | None = None) -> DoiMetadata:
    """The tombstone form of ``meta``: a ``Withdrawn`` date carrying ``reason`` and, when
    given, ``url`` pointing at the tombstone page. Findable DOIs are never deleted."""
    if not reason.strip():
        raise MetadataInvalid("a tombstone needs a reason")
    dates = [d for d in meta.dates if d.date_type != "Withdrawn"]
    dates.append(DateEntry(date, "Withdrawn", reason.strip()))
    return replace(meta, dates=dates, url=url or meta.url)


# --- DataCite REST JSON ------------------------------------------------------------------


def _creator_json(c: Creator) -> dict[str, Any]:
    d: dict[str, Any] = {"name": c.name}
    if c.effective_name_type:
        d["nameType"] = c.effective_name_type
    if c.given_name:
        d["givenName"] = c.given_name
    if c.family_name:
        d["familyName"] = c.family_name
    ids: list[dict[str, str]] = []
    if c.orcid:
        try:
            orcid = normalize_orcid(c.orcid)
        except ValueError:
            orcid = c.orcid  # left as given: validate_metadata reports it
        ids.append(
            {"nameIdentifier": orcid, "nameIdentifierScheme": "ORCID", "schemeUri": "https://orcid.org"}
        )
    d["nameIdentifiers"] = ids
    d["affiliation"] = [{"name": c.affiliation}] if c.affiliation else []
    return d


def _related_json(r: RelatedIdentifier) -> dict[str, Any]:
    d: dict[str, Any] = {
        "relatedIdentifier": r.identifier,
        "relatedIdentifierType": r.identifier_type,
        "relationType": r.relation_type,
    }
    if r.resource_type_general:
        d["resourceTypeGeneral"] = r.resource_type_general
    if r.related_metadata_scheme:
        d["relatedMetadataScheme"] = r.related_metadata_scheme
    if r.scheme_uri:
        d["schemeUri"] = r.scheme_uri
    if r.scheme_type:
        d["schemeType"] = r.scheme_type
    return d


def to_datacite_json(meta: DoiMetadata) -> dict[str, Any]:
    """The DataCite REST API ``data.attributes`` object (Metadata Schema 4.5) for ``meta``.

    List properties are always present (an empty list clears them on ``PUT``, which
    DataCite treats as a partial update); ``doi`` and ``version`` only when set.
    """
    attrs: dict[str, Any] = {}
    if meta.doi:
        attrs["doi"] = meta.doi
    attrs["creators"] = [_creator_json(c) for c in meta.creators]
    attrs["titles"] = [{"title": meta.title}]
    attrs["publisher"] = {"name": meta.publisher}
    attrs["publicationYear"] = str(meta.publication_year)
    attrs["types"] = {"resourceTypeGeneral": meta.resource_type_general, "resourceType": meta.resource_type}
    attrs["subjects"] = [{"subject": s} for s in meta.subjects]
    attrs["dates"] = [
        {
            "date": d.date,
            "dateType": d.date_type,
            **({"dateInformation": d.information} if d.information else {}),
        }
        for d in meta.dates
    ]
    attrs["alternateIdentifiers"] = [
        {"alternateIdentifier": ident, "alternateIdentifierType": kind}
        for ident, kind in meta.alternate_identifiers
    ]
    attrs["relatedIdentifiers"] = [_related_json(r) for r in meta.related]
    if meta.version:
        attrs["version"] = meta.version
    rights: list[dict[str, str]] = []
    if meta.rights:
        r: dict[str, str] = {"rights": meta.rights.rights}
        if meta.rights.rights_uri:
            r["rightsUri"] = meta.rights.rights_uri
        if meta.rights.rights_identifier:
            r["rightsIdentifier"] = meta.rights.rights_identifier
            if meta.rights.rights_identifier_scheme:
                r["rightsIdentifierScheme"] = meta.rights.rights_identifier_scheme
        rights.append(r)
    attrs["rightsList"] = rights
    descriptions = []
    if meta.description:
        descriptions.append({"description": meta.description, "descriptionType": "Abstract"})
    if meta.technical_info:
        descriptions.append({"description": meta.technical_info, "descriptionType": "TechnicalInfo"})
    attrs["descriptions"] = descriptions
    attrs["url"] = meta.url
    attrs["schemaVersion"] = DATACITE_SCHEMA_VERSION
    return attrs


def _attributes(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """Accept a bare attributes object or a JSON:API document ``{"data": {"attributes": ...}}``."""
    if not isinstance(doc, Mapping):
        return doc
    data = doc.get("data")
    if isinstance(data, Mapping):
        attributes = data.get("attributes")
        if isinstance(attributes, Mapping):
            return attributes
    return doc


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def from_datacite_json(doc: Mapping[str, Any]) -> DoiMetadata:
    """Read DataCite REST JSON back into :class:`DoiMetadata`.

    Accepts what :func:`to_datacite_json` writes and what ``GET /dois/<doi>`` returns (there
    ``publisher`` may be a plain string, ``publicationYear`` an integer and ``affiliation`` a
    list of strings). Only the first title and the first rights entry are kept.
    """
    a = _attributes(doc)
    creators = []
    for c in a.get("creators") or []:
        orcid = None
        for ni in c.get("nameIdentifiers") or []:
            if str(ni.get("nameIdentifierScheme", "")).upper() == "ORCID":
                orcid = ni.get("nameIdentifier")
                break
        aff = None
        for af in c.get("affiliation") or []:
            aff = af if isinstance(af, str) else af.get("name")
            break
        creators.append(
            Creator(
                name=c.get("name", ""),
                given_name=_str(c.get("givenName")),
                family_name=_str(c.get("familyName")),
                orcid=orcid,
                affiliation=aff,
                name_type=_str(c.get("nameType")),
            )
        )
    titles = a.get("titles") or []
    main = [t for t in titles if not t.get("titleType")] or titles
    publisher = a.get("publisher")
    if isinstance(publisher, Mapping):
        publisher = publisher.get("name", "")
    descriptions = a.get("descriptions") or []

    def _desc(kind: str) -> str:
        return "\n".join(d.get("description", "") for d in descriptions if d.get("descriptionType") == kind)

    rights = None
    for r in a.get("rightsList") or []:
        rights = Rights(
            r.get("rights", ""),
            _str(r.get("rightsUri")),
            _str(r.get("rightsIdentifier")),
            _str(r.get("rightsIdentifierScheme")),
        )
        break
    types = a.get("types") or {}
    year = a.get("publicationYear")
    doi = a.get("doi")
    return DoiMetadata(
        doi=normalize_doi(doi) if doi else None,
        title=main[0].get("title", "") if main else "",
        creators=creators,
        publisher=publisher or "",
        publication_year=int(str(year)) if str(year).isascii() and str(year).isdigit() else 0,
        url=a.get("url") or "",
        resource_type_general=types.get("resourceTypeGeneral", ""),
        resource_type=types.get("resourceType", ""),
        description=_desc("Abstract"),
        version=_str(a.get("version")),
        subjects=[s["subject"] for s in a.get("subjects") or [] if s.get("subject")],
        related=[
            RelatedIdentifier(
                r.get("relatedIdentifier", ""),
                r.get("relatedIdentifierType", ""),
                r.get("relationType", ""),
                _str(r.get("resourceTypeGeneral")),
                _str(r.get("relatedMetadataScheme")),
                _str(r.get("schemeUri")),
                _str(r.get("schemeType")),
            )
            for r in a.get("relatedIdentifiers") or []
        ],
        alternate_identifiers=[
            (x.get("alternateIdentifier", ""), x.get("alternateIdentifierType", ""))
            for x in a.get("alternateIdentifiers") or []
        ],
        rights=rights,
        dates=[
            DateEntry(d.get("date", ""), d.get("dateType", ""), _str(d.get("dateInformation")))
            for d in a.get("dates") or []
        ],
        technical_info=_desc("TechnicalInfo"),
    )
