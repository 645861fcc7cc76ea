"""Minting is two-phase: a minter failure leaves no DOI, no pin and no changed version behind."""

from __future__ import annotations

from typing import Any

import pytest

from sciregistry.errors import UpstreamError

from .closure import build_closure, mint


class FlakyMinter:
    """Wraps the real minter; fails ``publish`` while ``fail`` is set."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.fail, self.prefix = inner, True, inner.prefix

    def new_doi(self) -> str:
        return self.inner.new_doi()

    def reserve(self, meta: Any) -> str:
        return self.inner.reserve(meta)

    def publish(self, doi: str, meta: Any) -> None:
        if self.fail:
            raise UpstreamError("DataCite answered 503")
        self.inner.publish(doi, meta)

    def update(self, doi: str, meta: Any) -> None:
        self.inner.update(doi, meta)

    def tombstone(self, doi: str, reason: str, *, url: str | None = None) -> None:
        self.inner.tombstone(doi, reason, url=url)


@pytest.fixture
def flaky(app: Any) -> FlakyMinter:
    dois = app.extensions["sciregistry"].dois
    dois.minter = FlakyMinter(dois.minter)
    return dois.minter


def test_failed_publish_records_nothing_and_a_retry_works(app: Any, client: Any, flaky: FlakyMinter) -> None:
    closure = build_closure(client)
    resp = client.post("/api/v1/dois", json={"reference": f"{closure.host}/{closure.result_ref}"})
    assert resp.status_code == 502
    assert resp.get_json()["errors"][0]["code"] == "UPSTREAM_ERROR"
    assert client.get("/api/v1/dois").get_json()["items"] == []
    # nothing pinned: the result manifest can be deleted... but first, a retry succeeds
    flaky.fail = False
    record = mint(client, closure)
    assert record["state"] == "findable"
    assert len(client.get("/api/v1/dois").get_json()["items"]) == 1


def test_failed_new_version_leaves_the_first_version_untouched(app: Any, client: Any, flaky: FlakyMinter) -> None:
    flaky.fail = False
    first = build_closure(client, tag="v1", seed="one")
    v1 = mint(client, first)
    second = build_closure(client, tag="v2", seed="two")
    flaky.fail = True
    resp = client.post("/api/v1/dois", json={"reference": f"{second.host}/{second.result_ref}",
                                             "supersedes": v1["doi"]})
    assert resp.status_code == 502
    again = client.get(f"/api/v1/dois/{v1['doi']}").get_json()
    assert again["concept_doi"] is None and again["metadata"] == v1["metadata"]
    assert [d["doi"] for d in client.get("/api/v1/dois").get_json()["items"]] == [v1["doi"]]
