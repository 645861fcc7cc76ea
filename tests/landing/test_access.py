"""The landing page asks the gate before showing a DOI of a repository (private repositories)."""

from __future__ import annotations

from typing import Any

import pytest

from sciregistry.api.gate import OpenGate
from sciregistry.errors import NotFound, Unauthorized

from .conftest import Published


class RecordingGate(OpenGate):
    """Allows only callers holding ``allowed_doi``; answers others with ``refusal``."""

    def __init__(self, allowed_doi: str | None, refusal: Exception) -> None:
        self.allowed_doi = allowed_doi
        self.refusal = refusal
        self.calls: list[tuple[str | None, str, bool, str | None]] = []

    def authorize(
        self, repository: str | None, action: str, *, hide: bool = False, doi: str | None = None
    ) -> None:
        self.calls.append((repository, action, hide, doi))
        if doi != self.allowed_doi:
            raise self.refusal

    def challenge(self) -> str:
        return 'Bearer realm="http://registry.test/token",service="sciregistry"'


@pytest.fixture
def gate(published: Published, monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(allowed: str | None, refusal: Exception) -> RecordingGate:
        g = RecordingGate(allowed, refusal)
        monkeypatch.setattr(published.app.extensions["sciregistry"], "gate", g)
        return g

    return install


def test_gate_is_asked_with_the_doi(published: Published, gate: Any) -> None:
    g = gate(published.doi, NotFound("hidden"))
    resp = published.client.get(f"/doi/{published.doi}")
    assert resp.status_code == 200
    assert g.calls[0] == ("lab/results", "pull", True, published.doi)


def test_hidden_repository_looks_missing(published: Published, gate: Any) -> None:
    gate(None, NotFound(f"DOI {published.doi} is not registered here"))
    resp = published.client.get(f"/doi/{published.doi}", headers={"Accept": "text/html"})
    assert resp.status_code == 404
    assert "<h1>DOI not found</h1>" in resp.get_data(as_text=True)
    assert "Link" not in resp.headers  # nothing about the DOI leaks
    resp = published.client.get(f"/doi/{published.doi}", headers={"Accept": "application/x-bibtex"})
    assert resp.status_code == 404
    assert resp.get_json(force=True)["errors"][0]["code"] == "NOT_FOUND"


def test_anonymous_caller_gets_a_challenge(published: Published, gate: Any) -> None:
    gate(None, Unauthorized("authentication required"))
    resp = published.client.get(f"/doi/{published.doi}", headers={"Accept": "application/ld+json"})
    assert resp.status_code == 401
    assert (
        resp.headers["WWW-Authenticate"] == 'Bearer realm="http://registry.test/token",service="sciregistry"'
    )
    assert resp.get_json(force=True)["errors"][0]["code"] == "UNAUTHORIZED"
    resp = published.client.get(f"/doi/{published.doi}")
    assert resp.status_code == 401
    assert "<h1>Sign-in required</h1>" in resp.get_data(as_text=True)
    # a browser can only prompt for Basic credentials (a reviewer token goes in as the password)
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="sciregistry",charset="UTF-8"'
    assert "reviewer token" in resp.get_data(as_text=True)
