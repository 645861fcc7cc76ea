"""Minters: LocalMinter offline; DataCiteMinter against a local fake DataCite REST API."""

from __future__ import annotations

import base64
import datetime as dt
import socket
from dataclasses import replace

import pytest

from sciregistry.doi import (
    JSONAPI_MEDIA_TYPE,
    DataCiteMinter,
    DoiMetadata,
    LocalMinter,
    Minter,
    is_crockford_suffix,
    split_doi,
    to_datacite_json,
)
from sciregistry.errors import BadRequest, Conflict, MetadataInvalid, UpstreamError

from .conftest import DOI, REG, result_metadata
from .fake_datacite import FakeDataCite

TAKEN_422 = {"errors": [{"source": "doi", "title": "This DOI has already been taken", "uid": DOI}]}


def _minter(fake: FakeDataCite, **kw: object) -> DataCiteMinter:
    args: dict[str, object] = {"timeout": 2}
    args.update(kw)
    return DataCiteMinter(fake.url, fake.repository_id, fake.password, "10.5072", **args)  # type: ignore[arg-type]


# --- LocalMinter ---------------------------------------------------------------------------------


def test_local_minter_generates_lower_case_crockford_dois() -> None:
    m = LocalMinter()
    assert m.prefix == "10.5072"
    dois = {m.reserve(result_metadata(doi=None)) for _ in range(100)}
    assert len(dois) == 100
    for doi in dois:
        prefix, suffix = split_doi(doi)
        assert prefix == "10.5072" and is_crockford_suffix(suffix) and doi == doi.lower()


def test_local_minter_is_deterministic_with_injected_bits() -> None:
    m = LocalMinter("10.12345", randbits=lambda bits: 0x1234567890)
    assert m.new_doi() == "10.12345/28t5-cy4g"


def test_local_minter_keeps_a_given_doi_and_validates(meta: DoiMetadata) -> None:
    m = LocalMinter()
    assert m.reserve(replace(meta, doi="10.5072/A1B2-C3D4")) == DOI
    m.publish(DOI.upper(), meta)
    m.update(DOI, meta)
    with pytest.raises(MetadataInvalid, match=r"\$\.titles\[0\]\.title: must not be blank"):
        m.publish(DOI, replace(meta, title=" "))
    with pytest.raises(MetadataInvalid, match="not under this minter's prefix 10.5072"):
        m.reserve(replace(meta, doi="10.9999/a1b2-c3d4"))
    with pytest.raises(MetadataInvalid, match="metadata is for DOI 10.5072/a1b2-c3d4, not 10.5072/zzzz-zzzz"):
        m.publish("10.5072/zzzz-zzzz", meta)


def test_local_minter_tombstone_needs_a_reason() -> None:
    m = LocalMinter()
    m.tombstone(DOI, "retracted")
    with pytest.raises(BadRequest, match="needs a reason"):
        m.tombstone(DOI, "  ")
    with pytest.raises(BadRequest, match="not under this minter's prefix"):
        m.tombstone("10.1234/x", "retracted")


def test_bad_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="not a DOI prefix"):
        LocalMinter("10.50")
    with pytest.raises(ValueError, match="not a DOI prefix"):
        DataCiteMinter("http://127.0.0.1:1", "R", "p", "doi:10.5072")


def test_both_minters_satisfy_the_protocol() -> None:
    assert isinstance(LocalMinter(), Minter)
    assert isinstance(DataCiteMinter("http://127.0.0.1:1", "R", "p", "10.5072"), Minter)


# --- DataCiteMinter: the wire contract --------------------------------------------------------


def test_reserve_sends_a_draft_jsonapi_body(fake_datacite: FakeDataCite, meta: DoiMetadata) -> None:
    assert _minter(fake_datacite).reserve(meta) == DOI
    [req] = fake_datacite.requests
    assert (req.method, req.path) == ("POST", "/dois")
    assert req.headers["content-type"] == JSONAPI_MEDIA_TYPE == "application/vnd.api+json"
    assert req.headers["accept"] == "application/vnd.api+json"
    assert req.headers["authorization"] == "Basic " + base64.b64encode(b"TEST.SCIREG:s3cret").decode()
    assert req.json == {"data": {"type": "dois", "attributes": to_datacite_json(meta)}}
    assert "event" not in req.json["data"]["attributes"]
    assert fake_datacite.state(DOI) == "draft"


def test_publish_sends_event_publish(fake_datacite: FakeDataCite, meta: DoiMetadata) -> None:
    minter = _minter(fake_datacite)
    minter.reserve(meta)
    minter.publish("https://doi.org/10.5072/A1B2-C3D4", meta)
    req = fake_datacite.requests[-1]
    assert (req.method, req.path) == ("PUT", "/dois/10.5072/a1b2-c3d4")
    assert req.headers["content-type"] == "application/vnd.api+json"
    assert req.json == {
        "data": {"id": DOI, "type": "dois", "attributes": {**to_datacite_json(meta), "event": "publish"}}
    }
    assert fake_datacite.state(DOI) == "findable"


def test_update_keeps_state_and_sends_no_event(fake_datacite: FakeDataCite, meta: DoiMetadata) -> None:
    minter = _minter(fake_datacite)
    minter.reserve(meta)
    minter.publish(DOI, meta)
    changed = replace(meta, title="Variant calls for NA12878 (corrected)")
    minter.update(DOI, changed)
    req = fake_datacite.requests[-1]
    assert req.method == "PUT"
    assert req.json == {"data": {"id": DOI, "type": "dois", "attributes": to_datacite_json(changed)}}
    assert fake_datacite.state(DOI) == "findable"
    assert minter.get(DOI)["titles"] == [{"title": "Variant calls for NA12878 (corrected)"}]


def test_tombstone_of_a_findable_doi_never_deletes_it(fake_datacite: FakeDataCite, meta: DoiMetadata) -> None:
    minter = _minter(fake_datacite)
    minter.reserve(meta)
    minter.publish(DOI, meta)
    n = len(fake_datacite.requests)
    minter.tombstone(DOI, "retracted: wrong reference genome", url=f"{REG}/doi/{DOI}/tombstone")
    get, put = fake_datacite.requests[n:]
    assert (get.method, get.path, put.method, put.path) == ("GET", f"/dois/{DOI}", "PUT", f"/dois/{DOI}")
    assert put.json == {
        "data": {
            "id": DOI,
            "type": "dois",
            "attributes": {
                "dates": [
                    {
                        "date": dt.date.today().isoformat(),
                        "dateType": "Withdrawn",
                        "dateInformation": "retracted: wrong reference genome",
                    }
                ],
                "url": f"{REG}/doi/{DOI}/tombstone",
            },
        }
    }
    assert all(r.method != "DELETE" for r in fake_datacite.requests)
    assert fake_datacite.state(DOI) == "findable"
    assert fake_datacite.dois[DOI]["url"] == f"{REG}/doi/{DOI}/tombstone"


def test_tombstone_of_a_draft_deletes_it(fake_datacite: FakeDataCite, meta: DoiMetadata) -> None:
    minter = _minter(fake_datacite)
    minter.reserve(meta)
    minter.tombstone(DOI, "crate failed validation")
    assert [r.method for r in fake_datacite.requests] == ["POST", "GET", "DELETE"]
    assert DOI not in fake_datacite.dois


def test_reserve_without_doi_picks_one_and_retries_when_taken(fake_datacite: FakeDataCite) -> None:
    fake_datacite.inject(422, TAKEN_422)
    doi = _minter(fake_datacite).reserve(result_metadata(doi=None))
    first, second = fake_datacite.requests
    sent = [r.json["data"]["attributes"]["doi"] for r in (first, second)]
    assert sent[0] != sent[1] and sent[1] == doi
    assert split_doi(doi)[0] == "10.5072" and is_crockford_suffix(split_doi(doi)[1])
    assert fake_datacite.state(doi) == "draft"


@pytest.mark.parametrize("duplicate_status", [422, 409])
def test_duplicate_doi_is_a_conflict(meta: DoiMetadata, duplicate_status: int) -> None:
    with FakeDataCite(duplicate_status=duplicate_status) as fake:
        minter = _minter(fake)
        minter.reserve(meta)
        with pytest.raises(Conflict) as info:
            minter.reserve(meta)
        assert len(fake.requests) == 2  # a DOI the caller chose is not retried
    assert f"DataCite answered POST /dois with {duplicate_status}" in info.value.text
    assert "This DOI has already been taken" in info.value.text
    assert info.value.detail["status"] == duplicate_status


# --- DataCiteMinter: error mapping -----------------------------------------------------------


def test_401_bad_credentials(fake_datacite: FakeDataCite, meta: DoiMetadata) -> None:
    minter = DataCiteMinter(fake_datacite.url, "TEST.SCIREG", "wrong", "10.5072", timeout=2)
    with pytest.raises(UpstreamError) as info:
        minter.reserve(meta)
    assert (
        info.value.text == "DataCite refused the repository credentials (POST /dois, 401): Bad credentials."
    )
    assert info.value.http_status == 502
    assert info.value.detail == {
        "upstream": "datacite",
        "status": 401,
        "errors": [{"status": "401", "title": "Bad credentials."}],
    }


def test_404_unknown_doi(fake_datacite: FakeDataCite, meta: DoiMetadata) -> None:
    with pytest.raises(UpstreamError) as info:
        _minter(fake_datacite).publish(DOI, meta)
    assert info.value.text == (
        "DataCite answered PUT /dois/10.5072/a1b2-c3d4 with 404: "
        "The resource you are looking for doesn't exist."
    )
    assert info.value.detail["status"] == 404


def test_422_rejected_metadata(meta: DoiMetadata) -> None:
    with FakeDataCite(domains=("data.example.org",)) as fake:
        minter = _minter(fake)
        minter.reserve(meta)
        with pytest.raises(MetadataInvalid) as info:
            minter.publish(DOI, meta)
        assert fake.state(DOI) == "draft"
    assert info.value.text == (
        "DataCite answered PUT /dois/10.5072/a1b2-c3d4 with 422: "
        "url: URL is not allowed by repository domain settings."
    )
    assert info.value.http_status == 422


def test_500_with_html_body(fake_datacite: FakeDataCite, meta: DoiMetadata) -> None:
    fake_datacite.inject(500, "<html><body>Internal Server Error</body></html>")
    with pytest.raises(UpstreamError) as info:
        _minter(fake_datacite).reserve(meta)
    assert (
        info.value.text
        == "DataCite answered POST /dois with 500: <html><body>Internal Server Error</body></html>"
    )
    assert info.value.detail["status"] == 500


def test_503_with_jsonapi_errors(fake_datacite: FakeDataCite, meta: DoiMetadata) -> None:
    fake_datacite.inject(503, {"errors": [{"status": "503", "title": "The service is unavailable."}]})
    with pytest.raises(UpstreamError, match="with 503: The service is unavailable."):
        _minter(fake_datacite).reserve(meta)


def test_connection_refused(meta: DoiMetadata) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    minter = DataCiteMinter(f"http://127.0.0.1:{port}", "R", "p", "10.5072", timeout=2)
    with pytest.raises(UpstreamError) as info:
        minter.reserve(meta)
    assert info.value.text.startswith(f"cannot reach DataCite at http://127.0.0.1:{port} (POST /dois): ")
    assert isinstance(info.value.__cause__, Exception)


def test_timeout(fake_datacite: FakeDataCite, meta: DoiMetadata) -> None:
    fake_datacite.stall(1.5)
    with pytest.raises(UpstreamError, match=r"DataCite did not answer POST /dois within 0.2 s"):
        _minter(fake_datacite, timeout=0.2).reserve(meta)


# --- never send invalid metadata ----------------------------------------------------------------


@pytest.mark.parametrize("operation", ["reserve", "publish", "update"])
def test_invalid_metadata_is_never_sent(
    fake_datacite: FakeDataCite, meta: DoiMetadata, operation: str
) -> None:
    bad = replace(meta, title="", url="not a url", publication_year=25)
    minter = _minter(fake_datacite)
    with pytest.raises(MetadataInvalid) as info:
        if operation == "reserve":
            minter.reserve(bad)
        else:
            getattr(minter, operation)(DOI, bad)
    assert fake_datacite.requests == []
    assert info.value.detail == {
        "problems": [
            "$.publicationYear: '25' does not match '^[0-9]{4}$'",
            "$.titles[0].title: must not be blank",
            "$.url: 'not a url' is not a 'uri'",
        ]
    }


def test_foreign_prefix_or_mismatched_doi_is_never_sent(
    fake_datacite: FakeDataCite, meta: DoiMetadata
) -> None:
    minter = _minter(fake_datacite)
    with pytest.raises(MetadataInvalid, match="not under this minter's prefix"):
        minter.reserve(replace(meta, doi="10.9999/a1b2-c3d4"))
    with pytest.raises(MetadataInvalid, match="metadata is for DOI"):
        minter.publish("10.5072/other-doi", meta)
    assert fake_datacite.requests == []
