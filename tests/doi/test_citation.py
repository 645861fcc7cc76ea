"""Citations: BibTeX (parsed back with bibtexparser 2), CSL-JSON, APA 7, schema.org JSON-LD."""

from __future__ import annotations

from dataclasses import replace

import bibtexparser
import pytest
from bibtexparser.middlewares import LatexDecodingMiddleware, SeparateCoAuthors, SplitNameParts

from sciregistry.doi import Creator, DoiMetadata, bibtex_key, to_apa, to_bibtex, to_csl_json, to_schema_org

from .conftest import DOI, IMAGE_DIGEST, REG, result_metadata


def _parse(text: str) -> bibtexparser.Library:
    lib = bibtexparser.parse_string(text)
    assert lib.failed_blocks == []
    assert len(lib.entries) == 1
    return lib


def test_bibtex_parses_and_has_the_fields(meta: DoiMetadata) -> None:
    text = to_bibtex(meta)
    entry = _parse(text).entries[0]
    assert entry.entry_type == "misc"
    assert entry.key == "10.5072_a1b2-c3d4"
    assert {k: f.value for k, f in entry.fields_dict.items()} == {
        "author": "Doe, Jane Mary and Roe, Richard and {Example Genomics Core}",
        "title": "Variant calls for NA12878 with nf-core/sarek 3.4",
        "year": "2025",
        "publisher": "Example Lab Registry",
        "version": "1.0",
        "doi": DOI,
        "url": f"https://doi.org/{DOI}",
        "note": "Computational result",
    }
    names = bibtexparser.parse_string(text, append_middleware=[SeparateCoAuthors(), SplitNameParts()])
    authors = names.entries[0]["author"]
    assert [(a.last, a.first) for a in authors] == [
        (["Doe"], ["Jane", "Mary"]),
        (["Roe"], ["Richard"]),
        (["{Example Genomics Core}"], []),
    ]


def test_bibtex_escapes_latex_specials() -> None:
    m = replace(
        result_metadata(),
        title="R&D on 50% of reads_v2 {#1} ~$5^2",
        creators=[Creator.organization("Smith & Wesson Lab")],
        version=None,
    )
    text = to_bibtex(m)
    assert r"title = {R\&D on 50\% of reads\_v2 \{\#1\} \textasciitilde{}\$5\textasciicircum{}2}" in text
    assert "author = {{Smith \\& Wesson Lab}}" in text
    assert "version" not in text
    decoded = bibtexparser.parse_string(text, append_middleware=[LatexDecodingMiddleware()])
    assert decoded.failed_blocks == []
    # (pylatexenc decodes \textasciicircum to U+02C6, the modifier letter)
    assert decoded.entries[0]["title"] == "R&D on 50% of reads_v2 {#1} ~$5\u02c62"


def test_bibtex_dataset_entry_type_and_key_without_doi() -> None:
    m = result_metadata(doi=None)
    assert bibtex_key(m) == "Doe2025"
    entry = _parse(to_bibtex(m, entry_type="dataset")).entries[0]
    assert entry.entry_type == "dataset"
    assert entry.key == "Doe2025"
    assert entry["url"] == f"{REG}/doi/pending"
    assert "doi" not in entry.fields_dict


def test_csl_json_shape(meta: DoiMetadata) -> None:
    assert to_csl_json(meta) == {
        "type": "dataset",
        "id": DOI,
        "DOI": DOI,
        "URL": f"https://doi.org/{DOI}",
        "title": "Variant calls for NA12878 with nf-core/sarek 3.4",
        "author": [
            {"family": "Doe", "given": "Jane Mary"},
            {"family": "Roe", "given": "Richard"},
            {"literal": "Example Genomics Core"},
        ],
        "issued": {"date-parts": [[2025]]},
        "publisher": "Example Lab Registry",
        "version": "1.0",
        "genre": "Computational result",
        "abstract": "Germline short variants for NA12878 (GIAB) against GRCh38.",
        "keyword": "genomics, variant calling",
    }


def test_apa_three_authors_with_version(meta: DoiMetadata) -> None:
    assert to_apa(meta) == (
        "Doe, J. M., Roe, R., & Example Genomics Core. (2025). "
        "*Variant calls for NA12878 with nf-core/sarek 3.4* (Version 1.0) [Computational result]. "
        f"Example Lab Registry. https://doi.org/{DOI}"
    )


def test_apa_one_and_two_authors() -> None:
    one = result_metadata(creators=[Creator.person("Jean-Paul", "Sartre")], version=None)
    assert to_apa(one) == (
        "Sartre, J.-P. (2025). *Variant calls for NA12878 with nf-core/sarek 3.4* [Computational result]. "
        f"Example Lab Registry. https://doi.org/{DOI}"
    )
    two = result_metadata(
        creators=[Creator.person("Jane", "Doe"), Creator("Roe, Richard", name_type="Personal")]
    )
    assert to_apa(two).startswith("Doe, J., & Roe, R. (2025). *Variant")


def test_apa_organisation_author_that_is_the_publisher() -> None:
    m = result_metadata(creators=[Creator.organization("Example Lab Registry")], version="2")
    assert to_apa(m) == (
        "Example Lab Registry. (2025). *Variant calls for NA12878 with nf-core/sarek 3.4* (Version 2) "
        f"[Computational result]. https://doi.org/{DOI}"
    )


def test_apa_more_than_twenty_authors_uses_ellipsis() -> None:
    people = [Creator.person("Ann", f"Author{i:02d}") for i in range(1, 23)]
    text = to_apa(result_metadata(creators=people))
    authors = text.split(" (2025).")[0]
    assert authors.startswith("Author01, A., Author02, A.,")
    assert authors.endswith("Author19, A., . . . Author22, A.")
    assert "Author20" not in authors and "&" not in authors


def test_schema_org(meta: DoiMetadata) -> None:
    doc = to_schema_org(meta)
    assert doc["@context"] == "https://schema.org"
    assert doc["@type"] == "Dataset"
    assert doc["@id"] == doc["identifier"] == f"https://doi.org/{DOI}"
    assert doc["url"] == f"{REG}/doi/{DOI}"
    assert doc["name"] == meta.title
    assert doc["creator"][0] == {
        "@type": "Person",
        "name": "Jane Mary Doe",
        "givenName": "Jane Mary",
        "familyName": "Doe",
        "@id": "https://orcid.org/0000-0002-1825-0097",
        "affiliation": {"@type": "Organization", "name": "Example University"},
    }
    assert doc["creator"][2] == {"@type": "Organization", "name": "Example Genomics Core"}
    assert doc["publisher"] == {"@type": "Organization", "name": "Example Lab Registry"}
    assert doc["datePublished"] == "2025"
    assert doc["license"] == "https://creativecommons.org/licenses/by/4.0/legalcode"
    assert doc["isBasedOn"][0]["@id"] == f"{REG}/v2/lab/sarek/manifests/{IMAGE_DIGEST}"
    assert [x["@type"] for x in doc["isBasedOn"]] == ["SoftwareSourceCode", "Dataset", "Dataset"]
    assert doc["subjectOf"][0]["conformsTo"] == {"@id": "https://w3id.org/ro/crate/1.1"}
    assert "creativeWorkStatus" not in doc


@pytest.mark.parametrize("rtg,expected", [("Software", "SoftwareSourceCode"), ("Model", "CreativeWork")])
def test_schema_org_type_mapping(meta: DoiMetadata, rtg: str, expected: str) -> None:
    assert to_schema_org(replace(meta, resource_type_general=rtg))["@type"] == expected
