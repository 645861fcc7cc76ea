"""Citations and landing-page metadata from :class:`DoiMetadata`, one function per media
type the DOI landing page negotiates (DESIGN section 6; DOI content negotiation,
https://citation.crosscite.org/docs.html):

=============================================  =====================
media type                                     function
=============================================  =====================
``application/vnd.datacite.datacite+json``     :func:`sciregistry.doi.to_datacite_json`
``application/x-bibtex``                       :func:`to_bibtex`
``application/vnd.citationstyles.csl+json``    :func:`to_csl_json`
``text/x-bibliography`` (APA 7)                :func:`to_apa`
``application/ld+json`` (schema.org)           :func:`to_schema_org`
=============================================  =====================

Example (two persons, version 1.0)::

    Doe, J. M., & Roe, R. (2025). *Variant calls for NA12878* (Version 1.0) [Computational result].
    Example Lab Registry. https://doi.org/10.5072/a1b2-c3d4
"""

from __future__ import annotations

import re
from typing import Any

from sciregistry.doi.identifiers import DOI_RESOLVER, normalize_orcid
from sciregistry.doi.metadata import Creator, DoiMetadata

__all__ = ["bibtex_key", "to_apa", "to_bibtex", "to_csl_json", "to_schema_org"]


# --- names -------------------------------------------------------------------------------------


def _is_person(c: Creator) -> bool:
    return c.effective_name_type == "Personal"


def _family_given(c: Creator) -> tuple[str, str]:
    """(family, given) of a person; falls back to splitting ``"Family, Given"`` in ``name``."""
    family, given = c.family_name or "", c.given_name or ""
    if not family and not given:
        if "," in c.name:
            family, _, given = c.name.partition(",")
        else:
            *first, last = c.name.split() or [""]
            family, given = last, " ".join(first)
    return family.strip(), given.strip()


def _initials(given: str) -> str:
    """APA initials: ``"Jane Mary"`` -> ``"J. M."``, ``"Jean-Paul"`` -> ``"J.-P."``."""
    out = []
    for word in given.split():
        parts = [p for p in word.split("-") if p]
        out.append("-".join(p[0].upper() + "." for p in parts))
    return " ".join(out)


def _orcid_uri(c: Creator) -> str | None:
    if not c.orcid:
        return None
    try:
        return normalize_orcid(c.orcid)
    except ValueError:
        return None


# --- BibTeX ------------------------------------------------------------------------------------

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _tex(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def bibtex_key(meta: DoiMetadata) -> str:
    """Citation key: the DOI with every character outside ``[A-Za-z0-9_.:-]`` as ``_``
    (``10.5072/a1b2-c3d4`` -> ``10.5072_a1b2-c3d4``); without a DOI, first family name + year."""
    if meta.doi:
        base = meta.doi
    else:
        family = _family_given(meta.creators[0])[0] if meta.creators else "anonymous"
        base = f"{family}{meta.publication_year}"
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", base)


def _bib_author(c: Creator) -> str:
    if _is_person(c):
        family, given = _family_given(c)
        return _tex(f"{family}, {given}" if given else family)
    return "{" + _tex(c.name) + "}"  # braces: BibTeX must not split an organisation's name


def to_bibtex(meta: DoiMetadata, *, entry_type: str = "misc") -> str:
    """A BibTeX entry (``@misc`` by default, as DataCite's own; ``entry_type="dataset"`` for
    biblatex) with ``author`` ("Family, Given and ..."), ``title``, ``year``, ``publisher``,
    ``version``, ``doi``, ``url`` and ``note`` (the resource type). LaTeX specials are escaped
    in text fields; ``doi`` and ``url`` are left verbatim."""
    fields: list[tuple[str, str]] = []
    if meta.creators:
        fields.append(("author", " and ".join(_bib_author(c) for c in meta.creators)))
    fields.append(("title", _tex(meta.title)))
    fields.append(("year", str(meta.publication_year)))
    fields.append(("publisher", _tex(meta.publisher)))
    if meta.version:
        fields.append(("version", _tex(meta.version)))
    if meta.doi:
        fields.append(("doi", meta.doi))
    url = meta.doi_url or meta.url
    if url:
        fields.append(("url", url))
    if meta.resource_type:
        fields.append(("note", _tex(meta.resource_type)))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@{entry_type}{{{bibtex_key(meta)},\n{body}\n}}\n"


# --- CSL JSON ----------------------------------------------------------------------------------


def _csl_name(c: Creator) -> dict[str, str]:
    if _is_person(c):
        family, given = _family_given(c)
        name = {"family": family}
        if given:
            name["given"] = given
        return name
    return {"literal": c.name}


def to_csl_json(meta: DoiMetadata) -> dict[str, Any]:
    """A CSL-JSON item (https://citeproc-js.readthedocs.io/en/latest/csl-json/markup.html),
    ``type: "dataset"``; organisations are ``{"literal": name}``."""
    item: dict[str, Any] = {
        "type": "dataset",
        "id": meta.doi or meta.url,
    }
    if meta.doi:
        item["DOI"] = meta.doi
    item["URL"] = meta.doi_url or meta.url
    item["title"] = meta.title
    item["author"] = [_csl_name(c) for c in meta.creators]
    item["issued"] = {"date-parts": [[meta.publication_year]]}
    item["publisher"] = meta.publisher
    if meta.version:
        item["version"] = meta.version
    if meta.resource_type:
        item["genre"] = meta.resource_type
    if meta.description:
        item["abstract"] = meta.description
    if meta.subjects:
        item["keyword"] = ", ".join(meta.subjects)
    return item


# --- APA 7 -------------------------------------------------------------------------------------


def _apa_name(c: Creator) -> str:
    if _is_person(c):
        family, given = _family_given(c)
        initials = _initials(given)
        return f"{family}, {initials}" if initials else family
    return c.name


def _apa_authors(creators: list[Creator]) -> str:
    """APA 7 (Publication Manual 9.8): up to 20 names, "&" before the last; from 21 on, the
    first 19, an ellipsis, and the last."""
    names = [_apa_name(c) for c in creators]
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]}, & {names[1]}"
    if len(names) <= 20:
        return ", ".join(names[:-1]) + ", & " + names[-1]
    return ", ".join(names[:19]) + ", . . . " + names[-1]


def to_apa(meta: DoiMetadata) -> str:
    """APA 7 reference (``text/x-bibliography``), title in ``*...*`` for italics:
    ``Family, G., & Family, G. (Year). *Title* (Version v) [Resource type]. Publisher. https://doi.org/...``.
    The publisher is left out when it is the (single) author, as APA asks."""
    version = f" (Version {meta.version})" if meta.version else ""
    kind = meta.resource_type or meta.resource_type_general
    bracket = f" [{kind}]" if kind else ""
    title = f"*{meta.title}*{version}{bracket}."
    year = f"({meta.publication_year})."
    creators = list(meta.creators)
    link = meta.doi_url or meta.url
    publisher = meta.publisher.strip()
    if len(creators) == 1 and not _is_person(creators[0]) and creators[0].name.strip() == publisher:
        publisher = ""
    tail = (f" {publisher}{'' if publisher.endswith('.') else '.'}" if publisher else "") + (
        f" {link}" if link else ""
    )
    if creators:
        authors = _apa_authors(creators)
        if not authors.endswith("."):
            authors += "."
        return f"{authors} {year} {title}{tail}"
    return f"{title} {year}{tail}"


# --- schema.org --------------------------------------------------------------------------------

_SCHEMA_ORG_TYPE = {
    "Dataset": "Dataset",
    "Software": "SoftwareSourceCode",
    "ComputationalNotebook": "SoftwareSourceCode",
    "Collection": "Collection",
    "Image": "ImageObject",
    "Text": "ScholarlyArticle",
    "JournalArticle": "ScholarlyArticle",
}


def _schema_person(c: Creator) -> dict[str, Any]:
    if _is_person(c):
        family, given = _family_given(c)
        d: dict[str, Any] = {"@type": "Person", "name": f"{given} {family}".strip()}
        if given:
            d["givenName"] = given
        if family:
            d["familyName"] = family
    else:
        d = {"@type": "Organization", "name": c.name}
    orcid = _orcid_uri(c)
    if orcid:
        d["@id"] = orcid
    if c.affiliation:
        d["affiliation"] = {"@type": "Organization", "name": c.affiliation}
    return d


def to_schema_org(meta: DoiMetadata) -> dict[str, Any]:
    """schema.org JSON-LD for the landing page (``<script type="application/ld+json">`` and
    ``application/ld+json``), following DataCite's and Google Dataset Search's mapping: the
    DOI URL is ``@id`` and ``identifier``; ``IsCompiledBy``/``IsDerivedFrom`` targets are
    ``isBasedOn``; the ``HasMetadata`` RO-Crate is ``subjectOf``."""
    doc: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": _SCHEMA_ORG_TYPE.get(meta.resource_type_general, "CreativeWork"),
    }
    if meta.doi_url:
        doc["@id"] = meta.doi_url
        doc["identifier"] = meta.doi_url
    doc["url"] = meta.url
    doc["name"] = meta.title
    if meta.resource_type:
        doc["additionalType"] = meta.resource_type
    description = meta.description or meta.technical_info
    if description:
        doc["description"] = description
    doc["creator"] = [_schema_person(c) for c in meta.creators]
    doc["publisher"] = {"@type": "Organization", "name": meta.publisher}
    doc["datePublished"] = str(meta.publication_year)
    if meta.version:
        doc["version"] = meta.version
    if meta.subjects:
        doc["keywords"] = list(meta.subjects)
    if meta.rights:
        doc["license"] = meta.rights.rights_uri or meta.rights.rights
    based_on = [r for r in meta.related if r.relation_type in ("IsCompiledBy", "IsDerivedFrom")]
    if based_on:
        doc["isBasedOn"] = [
            _schema_ref(r.identifier, r.identifier_type, r.resource_type_general) for r in based_on
        ]
    crates = [r for r in meta.related if r.relation_type == "HasMetadata"]
    if crates:
        doc["subjectOf"] = [
            {
                "@type": "CreativeWork",
                "@id": r.identifier,
                "url": r.identifier,
                "encodingFormat": "application/ld+json",
                **({"conformsTo": {"@id": r.scheme_uri}} if r.scheme_uri else {}),
            }
            for r in crates
        ]
    if any(d.date_type == "Withdrawn" for d in meta.dates):
        doc["creativeWorkStatus"] = "Withdrawn"
    return doc


def _schema_ref(identifier: str, kind: str, rtg: str | None) -> dict[str, Any]:
    target = (DOI_RESOLVER + identifier) if kind == "DOI" else identifier
    return {"@type": _SCHEMA_ORG_TYPE.get(rtg or "", "CreativeWork"), "@id": target, "url": target}
