"""DOIs for results: DataCite 4.5 metadata, offline validation, minters, citations.

Pure domain code plus the DataCite REST client; imports nothing of sciregistry but
``sciregistry.errors`` (DESIGN section 2). Typical use by the registry layer::

    meta = build_result_metadata(
        title=..., creators=[Creator.person("Jane", "Doe", orcid=...)],
        publisher="Example Lab Registry", year=2025,
        url=f"https://reg.example/doi/{doi}", image_ref="reg.example/lab/pipe@sha256:...",
        image_url=..., result_ref=..., dataset_refs=[(ref, url)], crate_url=..., doi=doi)
    minter.reserve(meta)          # draft
    minter.publish(doi, meta)     # findable, after the run crate validated
    to_bibtex(meta), to_apa(meta), to_csl_json(meta), to_schema_org(meta)
"""

from sciregistry.doi.citation import bibtex_key, to_apa, to_bibtex, to_csl_json, to_schema_org
from sciregistry.doi.identifiers import (
    CROCKFORD_ALPHABET,
    DOI_RESOLVER,
    doi_url,
    generate_suffix,
    is_crockford_suffix,
    is_valid_doi,
    normalize_doi,
    normalize_orcid,
    split_doi,
)
from sciregistry.doi.metadata import (
    ALT_ID_IMAGE,
    ALT_ID_RESULT,
    DATACITE_SCHEMA_VERSION,
    Creator,
    DateEntry,
    DoiMetadata,
    RelatedIdentifier,
    Rights,
    build_result_metadata,
    from_datacite_json,
    to_datacite_json,
    withdrawn_metadata,
)
from sciregistry.doi.minters import JSONAPI_MEDIA_TYPE, DataCiteMinter, LocalMinter, Minter
from sciregistry.doi.validation import SCHEMA_PATH, check_metadata, datacite_schema, validate_metadata

__all__ = [
    "ALT_ID_IMAGE",
    "ALT_ID_RESULT",
    "CROCKFORD_ALPHABET",
    "DATACITE_SCHEMA_VERSION",
    "DOI_RESOLVER",
    "JSONAPI_MEDIA_TYPE",
    "SCHEMA_PATH",
    "Creator",
    "DataCiteMinter",
    "DateEntry",
    "DoiMetadata",
    "LocalMinter",
    "Minter",
    "RelatedIdentifier",
    "Rights",
    "bibtex_key",
    "build_result_metadata",
    "check_metadata",
    "datacite_schema",
    "doi_url",
    "from_datacite_json",
    "generate_suffix",
    "is_crockford_suffix",
    "is_valid_doi",
    "normalize_doi",
    "normalize_orcid",
    "split_doi",
    "to_apa",
    "to_bibtex",
    "to_csl_json",
    "to_datacite_json",
    "to_schema_org",
    "validate_metadata",
    "withdrawn_metadata",
]
