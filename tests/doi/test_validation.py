"""Offline DataCite 4.5 validation: every missing or wrong field is reported with its JSON path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sciregistry.doi import DoiMetadata, check_metadata, to_datacite_json, validate_metadata
from sciregistry.errors import MetadataInvalid


@pytest.fixture
def attrs(meta: DoiMetadata) -> dict[str, Any]:
    return copy.deepcopy(to_datacite_json(meta))


@pytest.mark.parametrize("key", ["doi", "creators", "titles", "publisher", "publicationYear", "types", "url"])
def test_each_required_property_missing_is_reported_precisely(attrs: dict[str, Any], key: str) -> None:
    del attrs[key]
    assert validate_metadata(attrs) == [f"$.{key}: required property is missing"]


def test_resource_type_general_is_required(attrs: dict[str, Any]) -> None:
    del attrs["types"]["resourceTypeGeneral"]
    assert validate_metadata(attrs) == ["$.types.resourceTypeGeneral: required property is missing"]


def test_several_problems_are_all_reported_sorted(attrs: dict[str, Any]) -> None:
    del attrs["titles"]
    del attrs["url"]
    attrs["creators"][1]["name"] = ""
    del attrs["creators"][0]["name"]
    assert validate_metadata(attrs) == [
        "$.creators[0].name: required property is missing",
        "$.creators[1].name: must not be blank",
        "$.titles: required property is missing",
        "$.url: required property is missing",
    ]


def test_publisher_must_be_an_object_in_45(attrs: dict[str, Any]) -> None:
    attrs["publisher"] = "Example Lab Registry"
    assert validate_metadata(attrs) == [
        "$.publisher: 'Example Lab Registry' is not of type 'object'",
        '$.publisher: must be an object {"name": ...} in DataCite 4.5, not a string',
    ]


def test_publication_year_and_enums(attrs: dict[str, Any]) -> None:
    attrs["publicationYear"] = "25"
    attrs["types"]["resourceTypeGeneral"] = "ComputationalResult"
    attrs["relatedIdentifiers"][0]["relationType"] = "IsBuiltBy"
    problems = validate_metadata(attrs)
    assert problems == [
        "$.publicationYear: '25' does not match '^[0-9]{4}$'",
        f"$.relatedIdentifiers[0].relationType: 'IsBuiltBy' is not one of {_enum('relationType')}",
        f"$.types.resourceTypeGeneral: 'ComputationalResult' is not one of {_enum('resourceTypeGeneral')}",
    ]


def _enum(name: str) -> list[str]:
    from sciregistry.doi import datacite_schema

    return datacite_schema()["definitions"][name]["enum"]


def test_empty_lists_and_blank_values(attrs: dict[str, Any]) -> None:
    attrs["creators"] = []
    attrs["titles"] = [{"title": "  "}]
    attrs["publisher"] = {"name": ""}
    assert validate_metadata(attrs) == [
        "$.creators: [] should be non-empty",
        "$.creators: at least one creator is required",
        "$.publisher.name: must not be blank",
        "$.titles[0].title: must not be blank",
    ]


def test_doi_and_url_shape(attrs: dict[str, Any]) -> None:
    attrs["doi"] = "10.5072/A1B2-C3D4"
    attrs["url"] = "reg.example/doi/x"
    assert validate_metadata(attrs) == [
        (
            "$.doi: '10.5072/A1B2-C3D4' must be lower-case (DOIs are case-insensitive; "
            "sciregistry stores them lower-case)"
        ),
        "$.url: 'reg.example/doi/x' is not a 'uri'",
    ]
    attrs["url"] = "ftp://reg.example/doi/x"
    assert validate_metadata(attrs)[1] == "$.url: 'ftp://reg.example/doi/x' is not an absolute http(s) URL"
    attrs["doi"] = "10.5072/has space"
    assert validate_metadata(attrs)[0].startswith("$.doi: '10.5072/has space' does not match")


def test_missing_doi_allowed_before_assignment(attrs: dict[str, Any]) -> None:
    del attrs["doi"]
    assert validate_metadata(attrs, require_doi=False) == []


def test_orcid_check_digit(attrs: dict[str, Any]) -> None:
    attrs["creators"][0]["nameIdentifiers"][0]["nameIdentifier"] = "https://orcid.org/0000-0002-1825-0098"
    assert validate_metadata(attrs) == [
        (
            "$.creators[0].nameIdentifiers[0].nameIdentifier: "
            "ORCID iD 'https://orcid.org/0000-0002-1825-0098' has a wrong check digit (expected 7)"
        ),
    ]


def test_unknown_properties_are_rejected(attrs: dict[str, Any]) -> None:
    attrs["creators"][0]["orcid"] = "0000-0002-1825-0097"
    attrs["license"] = "CC-BY-4.0"
    problems = validate_metadata(attrs)
    assert problems == [
        "$: Additional properties are not allowed ('license' was unexpected)",
        "$.creators[0]: unknown property 'orcid'",
    ]


def test_metadata_scheme_only_with_has_metadata(attrs: dict[str, Any]) -> None:
    attrs["relatedIdentifiers"][0]["relatedMetadataScheme"] = "RO-Crate"
    problems = validate_metadata(attrs)
    assert problems == [
        (
            "$.relatedIdentifiers[0].relatedMetadataScheme: allowed only with relationType "
            "HasMetadata or IsMetadataFor"
        )
    ]


def test_related_identifier_values(attrs: dict[str, Any]) -> None:
    attrs["relatedIdentifiers"][1]["relatedIdentifier"] = "not a url"
    attrs["relatedIdentifiers"].append(
        {
            "relatedIdentifier": "https://doi.org/10.5072/x",
            "relatedIdentifierType": "DOI",
            "relationType": "IsNewVersionOf",
        }
    )
    assert validate_metadata(attrs) == [
        "$.relatedIdentifiers[1].relatedIdentifier: 'not a url' is not an absolute http(s) URL",
        (
            "$.relatedIdentifiers[4].relatedIdentifier: 'https://doi.org/10.5072/x' "
            "is not a bare DOI (10.xxxx/...)"
        ),
    ]


@pytest.mark.parametrize(
    "date,ok",
    [
        ("2025", True),
        ("2025-06", True),
        ("2025-06-01", True),
        ("2025-06-01T12:30:00Z", True),
        ("2024-01-01/2025-06-01", True),
        ("2024/", True),
        ("2025-13", False),
        ("2025-02-30", False),
        ("yesterday", False),
        ("/", False),
    ],
)
def test_date_formats(attrs: dict[str, Any], date: str, ok: bool) -> None:
    attrs["dates"] = [{"date": date, "dateType": "Issued"}]
    problems = validate_metadata(attrs)
    if ok:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].startswith(
            f"$.dates[0].date: '{date}' is not valid under any"
        )


def test_uri_format_is_checked(attrs: dict[str, Any]) -> None:
    attrs["rightsList"][0]["rightsUri"] = "not a uri"
    assert validate_metadata(attrs) == ["$.rightsList[0].rightsUri: 'not a uri' is not a 'uri'"]


def test_jsonapi_document_is_accepted(attrs: dict[str, Any]) -> None:
    doc = {"data": {"type": "dois", "attributes": {**attrs, "event": "publish"}}}
    assert validate_metadata(doc) == []


def test_check_metadata_raises_with_all_problems(attrs: dict[str, Any]) -> None:
    del attrs["titles"]
    del attrs["url"]
    with pytest.raises(MetadataInvalid) as info:
        check_metadata(attrs)
    assert (
        info.value.text
        == "DataCite 4.5 metadata invalid: $.titles: required property is missing (and 1 more)"
    )
    assert info.value.detail == {
        "problems": ["$.titles: required property is missing", "$.url: required property is missing"]
    }
    assert info.value.http_status == 422


def test_check_metadata_returns_the_attributes(meta: DoiMetadata) -> None:
    assert check_metadata(meta) == to_datacite_json(meta)


def test_non_object() -> None:
    assert validate_metadata([]) == ["$: metadata must be a JSON object"]  # type: ignore[arg-type]
