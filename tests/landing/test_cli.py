"""``sciregistry doi mint|show|withdraw`` and ``sciregistry cite`` against a served registry."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import bibtexparser
import pytest
from click.testing import CliRunner

from sciregistry.cli import doi as doi_cli
from sciregistry.cli import main
from sciregistry.doi import validate_metadata

from .closure import Closure, build_closure

pytestmark = pytest.mark.usefixtures("no_sciregistry_env")


def run(*args: str, input: str | None = None) -> Any:
    result = CliRunner().invoke(main, list(args), input=input)
    return result


@pytest.fixture(scope="module")
def served(cli_registry: tuple[Any, Any]) -> tuple[Any, Any, Closure]:
    app, server = cli_registry
    closure = build_closure(app.test_client(), host=server.host, tag="cli", seed="cli")
    return app, server, closure


def test_parse_creator() -> None:
    assert doi_cli.parse_creator("Ada  King Lovelace, 0000-0002-1825-0097") == {
        "given_name": "Ada King",
        "family_name": "Lovelace",
        "orcid": "https://orcid.org/0000-0002-1825-0097",
    }
    assert doi_cli.parse_creator("Consortium") == {"name": "Consortium"}
    assert doi_cli.parse_creator("{Example Lab,  Inc.}") == {"name": "Example Lab, Inc."}
    with pytest.raises(Exception, match="expected"):
        doi_cli.parse_creator("{Example Lab} Inc.")
    with pytest.raises(Exception, match="empty creator name"):
        doi_cli.parse_creator(" ,0000-0002-1825-0097")
    with pytest.raises(Exception, match="wrong check digit"):
        doi_cli.parse_creator("Ada Lovelace,0000-0002-1825-0098")


def test_mint_show_cite_withdraw(served: tuple[Any, Any, Closure]) -> None:
    _app, server, c = served
    # mint by tag: the CLI resolves the tag to the digest first
    minted = run(
        "doi",
        "mint",
        f"{server.host}/lab/results:{c.result_tag}",
        "--title",
        "CLI counts",
        "--creator",
        "Grace Hopper,0000-0002-1694-233X",
        "--creator",
        "Ada Lovelace",
        "--description",
        "Minted from the command line",
        "--json",
    )
    assert minted.exit_code == 0, minted.output
    record = json.loads(minted.output)
    doi = record["doi"]
    assert record["result_digest"] == c.result.digest
    assert record["landing_url"] == f"{server.url}/doi/{doi}"
    creators = record["metadata"]["creators"]
    assert [(x["givenName"], x["familyName"]) for x in creators] == [("Grace", "Hopper"), ("Ada", "Lovelace")]
    assert creators[0]["nameIdentifiers"][0]["nameIdentifier"] == "https://orcid.org/0000-0002-1694-233X"

    # minting the same result again is a conflict, reported on one line
    again = run("doi", "mint", f"{server.host}/lab/results@{c.result.digest}")
    assert again.exit_code == 1
    assert again.output.startswith(f"error: CONFLICT: lab/results@{c.result.digest} already has DOI {doi}")

    shown = run("doi", "show", doi, "--registry", server.url)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == f"DOI:          {doi} (findable)"
    assert lines[1] == "Title:        CLI counts"
    assert lines[2] == f"Landing page: {server.url}/doi/{doi}"
    assert (
        lines[3] == f"Result:       {server.host}/lab/results@{c.result.digest}"
    )  # a reference every command takes
    assert (
        json.loads(run("doi", "show", doi.upper(), "--registry", server.url, "--json").output)["doi"] == doi
    )

    # cite: the landing page's content negotiation, over HTTP
    bib = run("cite", doi, "--registry", server.url)
    assert bib.exit_code == 0, bib.output
    entry = bibtexparser.parse_string(bib.output).entries[0]
    assert entry["doi"] == doi
    assert entry["author"] == "Hopper, Grace and Lovelace, Ada"
    apa = run("cite", doi, "--format", "apa", "--registry", server.url)
    year = record["metadata"]["publicationYear"]
    assert apa.output == (
        f"Hopper, G., & Lovelace, A. ({year}). CLI counts (Version 1) [Computational result]. "
        f"sciregistry. {server.url}/doi/{doi}\n"
    )  # a local test DOI: its landing page
    apa_json = json.loads(run("cite", doi, "--format", "apa", "--registry", server.url, "--json").output)
    assert apa_json == {"doi": doi, "format": "apa", "citation": apa.output.strip()}
    csl = json.loads(run("cite", doi, "--format", "csl", "--registry", server.url).output)
    assert csl["DOI"] == doi and csl["type"] == "dataset" and csl["title"] == "CLI counts"
    datacite = json.loads(run("cite", doi, "--format", "datacite", "--registry", server.url).output)
    assert datacite["doi"] == doi
    assert validate_metadata(datacite) == []

    # withdraw: asks first, then keeps the DOI resolving as a tombstone
    aborted = run("doi", "withdraw", doi, "--reason", "duplicate", "--registry", server.url, input="n\n")
    assert aborted.exit_code == 1
    assert (
        json.loads(run("doi", "show", doi, "--registry", server.url, "--json").output)["state"] == "findable"
    )
    withdrawn = run(
        "doi", "withdraw", doi, "--reason", "duplicate of another DOI", "--yes", "--registry", server.url
    )
    assert withdrawn.exit_code == 0, withdrawn.output
    assert withdrawn.output == f"{doi} withdrawn: duplicate of another DOI\n"
    shown = run("doi", "show", doi, "--registry", server.url)
    assert f"DOI:          {doi} (tombstone)" in shown.output
    assert "Withdrawn:    duplicate of another DOI" in shown.output
    assert run("cite", doi, "--format", "bibtex", "--registry", server.url).exit_code == 0


def test_unknown_doi_and_bad_arguments(served: tuple[Any, Any, Closure]) -> None:
    _, server, _ = served
    missing = run("cite", "10.5072/zzzz-zzzz", "--registry", server.url)
    assert missing.exit_code == 1
    assert missing.output.startswith("error: NOT_FOUND: DOI 10.5072/zzzz-zzzz is not registered here")
    shown = run("doi", "show", "10.5072/zzzz-zzzz", "--registry", server.url)
    assert shown.exit_code == 1 and "NOT_FOUND" in shown.output
    bad = run("cite", "not-a-doi", "--registry", server.url)
    assert bad.exit_code == 2 and "not a DOI" in bad.output
    no_registry = run("doi", "show", "10.5072/zzzz-zzzz")
    assert no_registry.exit_code == 2 and "--registry" in no_registry.output
    no_host = run("doi", "mint", "lab/results:v1")
    assert no_host.exit_code == 2 and "has no registry host" in no_host.output


def test_cite_without_registry_asks_doi_org(monkeypatch: pytest.MonkeyPatch) -> None:
    """A DOI minted elsewhere is cited through https://doi.org/ (faked here: no network in tests)."""
    calls: list[tuple[str, dict[str, str]]] = []

    class FakeResponse:
        status_code = 200
        headers: ClassVar[dict[str, str]] = {"Content-Type": "text/x-bibliography; charset=utf-8"}
        content = b"Doe, J. (2020). Elsewhere. Zenodo. https://doi.org/10.5281/zenodo.1\n"

    def fake_get(url: str, headers: dict[str, str], timeout: float, allow_redirects: bool) -> FakeResponse:
        calls.append((url, headers))
        assert allow_redirects is True
        return FakeResponse()

    monkeypatch.setattr(doi_cli.requests, "get", fake_get)
    out = run("cite", "https://doi.org/10.5281/ZENODO.1", "--format", "apa")
    assert out.exit_code == 0, out.output
    assert out.output == "Doe, J. (2020). Elsewhere. Zenodo. https://doi.org/10.5281/zenodo.1\n"
    assert calls == [("https://doi.org/10.5281/zenodo.1", {"Accept": "text/x-bibliography; style=apa"})]
