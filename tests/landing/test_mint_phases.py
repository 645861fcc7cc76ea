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


def test_failed_new_version_leaves_the_first_version_untouched(
    app: Any, client: Any, flaky: FlakyMinter
) -> None:
    flaky.fail = False
    first = build_closure(client, tag="v1", seed="one")
    v1 = mint(client, first)
    second = build_closure(client, tag="v2", seed="two")
    flaky.fail = True
    resp = client.post(
        "/api/v1/dois", json={"reference": f"{second.host}/{second.result_ref}", "supersedes": v1["doi"]}
    )
    assert resp.status_code == 502
    again = client.get(f"/api/v1/dois/{v1['doi']}").get_json()
    assert again["concept_doi"] is None and again["metadata"] == v1["metadata"]
    assert [d["doi"] for d in client.get("/api/v1/dois").get_json()["items"]] == [v1["doi"]]


class Crash(BaseException):
    """The process dying between the phases of a mint (not an Exception: nothing is undone)."""


class RecordingMinter(FlakyMinter):
    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.fail = False
        self.crash = False
        self.published: list[str] = []
        self.updated: list[str] = []

    def publish(self, doi: str, meta: Any) -> None:
        if self.crash:
            raise Crash()
        super().publish(doi, meta)
        self.published.append(doi)

    def update(self, doi: str, meta: Any) -> None:
        super().update(doi, meta)
        self.updated.append(doi)


def _age_drafts(app: Any, seconds: int = 3600) -> None:
    import datetime as dt

    from sqlalchemy import update

    from sciregistry.db.models import Doi

    with app.extensions["sciregistry"].sessions() as s, s.begin():
        s.execute(
            update(Doi)
            .where(Doi.state == "draft")
            .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds))
        )


def test_gc_completes_a_mint_a_crash_interrupted(app: Any, client: Any) -> None:
    dois = app.extensions["sciregistry"].dois
    minter = dois.minter = RecordingMinter(dois.minter)
    first = build_closure(client, tag="v1", seed="one")
    v1 = mint(client, first)
    second = build_closure(client, tag="v2", seed="two")
    minter.crash = True
    with pytest.raises(Crash):
        client.post(
            "/api/v1/dois", json={"reference": f"{second.host}/{second.result_ref}", "supersedes": v1["doi"]}
        )
    minter.crash = False
    drafts = [d for d in client.get("/api/v1/dois").get_json()["items"] if d["state"] == "draft"]
    assert drafts  # the new version (and its concept DOI) were recorded, never published
    # a fresh draft may be a mint still in progress: gc leaves it alone
    assert client.post("/api/v1/gc").get_json()["dois_completed"] == []
    _age_drafts(app)
    report = client.post("/api/v1/gc?dry_run=true").get_json()
    assert sorted(report["dois_completed"]) == sorted(d["doi"] for d in drafts)
    assert all(
        d["state"] == "draft"
        for d in client.get("/api/v1/dois").get_json()["items"]
        if d["doi"] in report["dois_completed"]
    )
    report = client.post("/api/v1/gc").get_json()
    assert sorted(report["dois_completed"]) == sorted(d["doi"] for d in drafts)
    states = {d["doi"]: d["state"] for d in client.get("/api/v1/dois").get_json()["items"]}
    assert set(states.values()) == {"findable"}
    assert {d["doi"] for d in drafts} <= set(minter.published)
    assert v1["doi"] in minter.updated  # the first version now points at its successor at the minter too
    v2 = next(d for d in drafts if d.get("result_digest") == second.result.digest)
    assert client.get(f"/doi/{v2['doi']}", headers={"Accept": "text/html"}).status_code == 200
    # the pins held throughout: the new version's result cannot be deleted
    r = client.delete(f"/v2/{second.result.repository}/manifests/{second.result.digest}")
    assert r.status_code == 403


def test_a_test_doi_is_minted_under_the_test_prefix_whatever_the_minter(app: Any, client: Any) -> None:
    """``"test": true`` (``sciregistry demo``): a 10.5072 DOI, never sent to the configured minter
    (here one with a registered-looking prefix, standing in for DataCite); its landing page says so."""
    from sciregistry.doi import LocalMinter

    dois = app.extensions["sciregistry"].dois
    dois.minter = RecordingMinter(LocalMinter("10.1234"))
    dois.minter.prefix = "10.1234"
    real = mint(client, build_closure(client, tag="real", seed="real"))
    test = mint(client, build_closure(client, tag="test", seed="test"), test=True)
    assert real["doi"].startswith("10.1234/") and test["doi"].startswith("10.5072/")
    assert dois.minter.published == [real["doi"]]  # the test DOI never reached the configured minter
    page = client.get(f"/doi/{test['doi']}", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "test DOI" in page and f'/doi/{test["doi"]}">{test["doi"]}</a>' in page
    bad = client.post("/api/v1/dois", json={"reference": "x/y@sha256:" + "0" * 64, "test": "yes"})
    assert bad.status_code == 400
