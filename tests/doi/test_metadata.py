"""DataCite 4.5 metadata: the builder's links (DESIGN 6), the REST JSON form, round trips."""

from __future__ import annotations

import copy

import pytest
from jsonschema import Draft201909Validator

from sciregistry.doi import (
    ALT_ID_IMAGE,
    ALT_ID_RESULT,
    Creator,
    DateEntry,
    DoiMetadata,
    RelatedIdentifier,
    datacite_schema,
    from_datacite_json,
    to_datacite_json,
    validate_metadata,
    withdrawn_metadata,
)
from sciregistry.errors import MetadataInvalid

from .conftest import (
    CRATE_DIGEST,
    DATA1_DIGEST,
    DATA2_DIGEST,
    DOI,
    IMAGE_DIGEST,
    REG,
    RESULT_DIGEST,
    result_metadata,
)


def test_realistic_result_validates_against_datacite_45(meta: DoiMetadata) -> None:
    assert validate_metadata(meta) == []
    # and against the shipped schema alone, without our own checks
    attrs = to_datacite_json(meta)
    assert list(Draft201909Validator(datacite_schema()).iter_errors(attrs)) == []
    assert datacite_schema()["title"] == "DataCite v4.5"


def test_builder_links_image_datasets_and_crate_as_design_says(meta: DoiMetadata) -> None:
    attrs = to_datacite_json(meta)
    assert attrs["relatedIdentifiers"] == [
        {
            "relatedIdentifier": f"{REG}/v2/lab/sarek/manifests/{IMAGE_DIGEST}",
            "relatedIdentifierType": "URL",
            "relationType": "IsCompiledBy",
            "resourceTypeGeneral": "Software",
        },
        {
            "relatedIdentifier": f"{REG}/v2/data/na12878/manifests/{DATA1_DIGEST}",
            "relatedIdentifierType": "URL",
            "relationType": "IsDerivedFrom",
            "resourceTypeGeneral": "Dataset",
        },
        {
            "relatedIdentifier": f"{REG}/v2/data/grch38/manifests/{DATA2_DIGEST}",
            "relatedIdentifierType": "URL",
            "relationType": "IsDerivedFrom",
            "resourceTypeGeneral": "Dataset",
        },
        {
            "relatedIdentifier": f"{REG}/v2/lab/results/manifests/{CRATE_DIGEST}",
            "relatedIdentifierType": "URL",
            "relationType": "HasMetadata",
            "relatedMetadataScheme": "RO-Crate",
            "schemeUri": "https://w3id.org/ro/crate/1.1",
            "schemeType": "JSON-LD",
        },
    ]
    assert attrs["alternateIdentifiers"] == [
        {
            "alternateIdentifier": f"reg.example/lab/results@{RESULT_DIGEST}",
            "alternateIdentifierType": ALT_ID_RESULT,
        },
        {
            "alternateIdentifier": f"reg.example/lab/sarek@{IMAGE_DIGEST}",
            "alternateIdentifierType": ALT_ID_IMAGE,
        },
    ]
    tech = [d for d in attrs["descriptions"] if d["descriptionType"] == "TechnicalInfo"]
    assert (
        tech[0]["description"].splitlines()[0]
        == f"Computed by container image reg.example/lab/sarek@{IMAGE_DIGEST}."
    )


def test_required_properties_in_rest_form(meta: DoiMetadata) -> None:
    attrs = to_datacite_json(meta)
    assert attrs["doi"] == DOI
    assert attrs["titles"] == [{"title": "Variant calls for NA12878 with nf-core/sarek 3.4"}]
    assert attrs["publisher"] == {"name": "Example Lab Registry"}
    assert attrs["publicationYear"] == "2025"
    assert attrs["types"] == {"resourceTypeGeneral": "Dataset", "resourceType": "Computational result"}
    assert attrs["url"] == f"{REG}/doi/{DOI}"
    assert attrs["schemaVersion"] == "http://datacite.org/schema/kernel-4"
    assert attrs["version"] == "1.0"
    assert attrs["creators"][0] == {
        "name": "Doe, Jane Mary",
        "nameType": "Personal",
        "givenName": "Jane Mary",
        "familyName": "Doe",
        "nameIdentifiers": [
            {
                "nameIdentifier": "https://orcid.org/0000-0002-1825-0097",
                "nameIdentifierScheme": "ORCID",
                "schemeUri": "https://orcid.org",
            }
        ],
        "affiliation": [{"name": "Example University"}],
    }
    assert attrs["creators"][2] == {
        "name": "Example Genomics Core",
        "nameType": "Organizational",
        "nameIdentifiers": [],
        "affiliation": [],
    }
    assert "event" not in attrs


def test_creator_name_type_is_derived() -> None:
    assert Creator("Doe, Jane", given_name="Jane").effective_name_type == "Personal"
    assert Creator("Jane Doe", orcid="0000-0002-1825-0097").effective_name_type == "Personal"
    assert Creator("Some Consortium").effective_name_type is None
    assert (
        "nameType"
        not in to_datacite_json(result_metadata(creators=[Creator("Some Consortium")]))["creators"][0]
    )


def test_version_relations() -> None:
    new = result_metadata(
        is_new_version_of="https://doi.org/10.5072/OLD0-0001", is_version_of="doi:10.5072/conc-ept0"
    )
    rels = [(r.identifier, r.identifier_type, r.relation_type) for r in new.related[4:]]
    assert rels == [
        ("10.5072/old0-0001", "DOI", "IsNewVersionOf"),
        ("10.5072/conc-ept0", "DOI", "IsVersionOf"),
    ]
    concept = result_metadata(
        has_versions=["10.5072/v100-0001", "10.5072/v200-0002"], is_previous_version_of="10.5072/next-0003"
    )
    pairs = [(r.identifier, r.relation_type) for r in concept.related[4:]]
    assert pairs == [
        ("10.5072/next-0003", "IsPreviousVersionOf"),
        ("10.5072/v100-0001", "HasVersion"),
        ("10.5072/v200-0002", "HasVersion"),
    ]
    assert validate_metadata(new) == [] and validate_metadata(concept) == []


def test_dataset_without_url_is_linked_by_doi() -> None:
    m = result_metadata(dataset_refs=[("doi:10.5281/ZENODO.123", "")])
    assert m.related[1] == RelatedIdentifier("10.5281/zenodo.123", "DOI", "IsDerivedFrom", "Dataset")
    assert validate_metadata(m) == []


@pytest.mark.parametrize(
    "field,value",
    [
        ("image_ref", "reg.example/lab/sarek:latest"),
        ("image_ref", "reg.example/lab/sarek@sha256:abc"),
        ("result_ref", "reg.example/lab/results@sha256:" + "A" * 64),
    ],
)
def test_builder_refuses_unpinned_references(field: str, value: str) -> None:
    with pytest.raises(MetadataInvalid, match=f"{field} must be pinned by digest"):
        result_metadata(**{field: value})


def test_builder_refuses_version_link_that_is_not_a_doi() -> None:
    with pytest.raises(MetadataInvalid, match="IsNewVersionOf: not a DOI"):
        result_metadata(is_new_version_of="previous")


def test_round_trip_through_datacite_json(meta: DoiMetadata) -> None:
    assert from_datacite_json(to_datacite_json(meta)) == meta
    doc = {"data": {"id": DOI, "type": "dois", "attributes": to_datacite_json(meta)}}
    assert from_datacite_json(doc) == meta


def test_reads_datacite_get_response_shapes(meta: DoiMetadata) -> None:
    attrs = copy.deepcopy(to_datacite_json(meta))
    attrs["publisher"] = "Example Lab Registry"  # REST default without ?publisher=true
    attrs["publicationYear"] = 2025  # an integer in responses
    attrs["creators"][0]["affiliation"] = ["Example University"]  # strings without ?affiliation=true
    attrs["doi"] = DOI.upper()
    back = from_datacite_json(attrs)
    assert back == meta


def test_withdrawn_metadata_keeps_the_record_and_adds_a_withdrawn_date(meta: DoiMetadata) -> None:
    t = withdrawn_metadata(
        meta, "  retracted: wrong reference genome ", "2025-06-01", url=f"{REG}/doi/{DOI}/tombstone"
    )
    assert t.doi == meta.doi and t.title == meta.title
    assert list(t.dates) == [DateEntry("2025-06-01", "Withdrawn", "retracted: wrong reference genome")]
    assert t.url == f"{REG}/doi/{DOI}/tombstone"
    assert to_datacite_json(t)["dates"] == [
        {
            "date": "2025-06-01",
            "dateType": "Withdrawn",
            "dateInformation": "retracted: wrong reference genome",
        }
    ]
    assert validate_metadata(t) == []
    with pytest.raises(MetadataInvalid, match="needs a reason"):
        withdrawn_metadata(meta, " ", "2025-06-01")
