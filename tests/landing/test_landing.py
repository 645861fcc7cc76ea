"""The DOI landing page: HTML, content negotiation, Signposting, errors (one published closure)."""

from __future__ import annotations

import json
import re

import bibtexparser
import pytest

from sciregistry.api.landing.negotiation import parse_links
from sciregistry.doi import validate_metadata

from .conftest import BASE_URL, HOST, Published

DATACITE = "application/vnd.datacite.datacite+json"
CSL = "application/vnd.citationstyles.csl+json"
BIBTEX = "application/x-bibtex"
BIBLIO = "text/x-bibliography"
LDJSON = "application/ld+json"


def _get(p: Published, accept: str | None = None, path: str | None = None, **kw: object):  # type: ignore[no-untyped-def]
    headers = {"Accept": accept} if accept is not None else {}
    return p.client.get(path or f"/doi/{p.doi}", headers=headers, **kw)


def _mime(resp) -> str:  # type: ignore[no-untyped-def]
    return str(resp.headers["Content-Type"]).split(";", 1)[0]


# --- HTML -----------------------------------------------------------------------------------------


def test_html_page_shows_the_whole_closure(published: Published) -> None:
    p, c = published, published.closure
    resp = _get(p, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
    assert resp.status_code == 200
    assert _mime(resp) == "text/html"
    html = resp.get_data(as_text=True)
    # title (escaped), authors with ORCID, citation, BibTeX
    assert "<h1>Read counts of &lt;sample&gt; A &amp; B</h1>" in html
    assert '<a class="orcid" href="https://orcid.org/0000-0002-1825-0097"' in html
    assert (
        f"<em>Read counts of &lt;sample&gt; A &amp; B</em> (Version 1) [Computational result]. sciregistry. "
        f"{BASE_URL}/doi/{p.doi}</p>" in html
    )
    assert f'<pre class="copy">@misc{{{p.doi.replace("/", "_")},' in html
    assert "Reads per gene, counted with the example pipeline." in html
    # image by digest, tag informative
    assert f"{HOST}/lab/pipeline@{c.image.digest}" in html
    assert f"<code>{c.image_tag}</code>" in html
    # every parameter: name, value, type in one table row
    for name, value, kind in (
        ("min_quality", "20", "integer"),
        ("mode", "fast", "string"),
        ("ratio", "0.25", "number"),
        ("paired", "true", "boolean"),
    ):
        assert f"<tr><td><code>{name}</code></td><td><code>{value}</code></td><td>{kind}</td></tr>" in html
    # command template and the command as run
    assert (
        "count --min-q {min_quality} --mode {mode} --ratio {ratio} --paired {paired} /in/reads/ -o /out/"
        in html
    )
    assert "count --min-q 20 --mode fast --ratio 0.25 --paired true /in/reads/ -o /out/" in html
    assert "2025-03-01T09:00:00+00:00" in html and "2025-03-01T09:07:03+00:00" in html
    # inputs: the dataset by digest with each file's size and sha256
    assert f"{HOST}/lab/reads@{c.dataset.digest}" in html
    for f in c.dataset_files:
        assert (
            f'<td><a href="{BASE_URL}/v2/lab/reads/blobs/{f.digest}">{f.path}</a></td>'
            f'<td class="num">{f.size}</td><td class="digest">{f.sha256}</td>'
        ) in html
    # outputs: path, size, sha256, download link
    for f in c.outputs:
        assert (
            f'<td><a href="{BASE_URL}/v2/lab/results/blobs/{f.digest}" type="{f.media_type}">{f.path}</a>'
            f'</td><td class="num">{f.size}</td><td class="digest">{f.sha256}</td>'
        ) in html
    # reproduce, reproductions, pins, licence
    assert f'<pre class="copy">sciregistry reproduce {p.doi} --registry {BASE_URL}</pre>' in html
    assert "<dt>Reproduced</dt><dd>0 times</dd>" in html
    for digest in (c.result.digest, c.crate.digest, c.image.digest, c.dataset.digest):
        assert f'<td class="digest">{digest}</td>' in html
    # the "Pinned content" table says what each pin is (issue 16: it read "blob blob")
    pinned = html[html.index('<h2 id="closure">') :]
    assert "<td>blob</td><td>blob</td>" not in pinned
    assert (
        f'<td>lab/results</td><td>manifest</td><td>result</td><td class="digest">{c.result.digest}</td>'
        in pinned
    )
    for f in c.outputs:
        assert (
            f'<td>file (blob)</td><td>file {f.path} of the result</td><td class="digest">{f.digest}</td>'
            in pinned
        )
    assert "config of the pipeline image</td>" in pinned
    assert '<a href="https://spdx.org/licenses/CC-BY-4.0">' in html
    # no JavaScript: the only script element is the schema.org JSON-LD data block
    assert re.findall(r"<script[^>]*>", html) == ['<script type="application/ld+json">']
    ld = json.loads(
        re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.DOTALL).group(1)
    )
    assert ld["@id"] == f"{BASE_URL}/doi/{p.doi}"
    assert ld["name"] == "Read counts of <sample> A & B"


def test_html_is_the_default_and_dois_are_case_insensitive(published: Published) -> None:
    prefix, suffix = published.doi.split("/")
    for path in (f"/doi/{published.doi}", f"/doi/{prefix}/{suffix.upper()}"):
        resp = published.client.get(path)
        assert resp.status_code == 200
        assert _mime(resp) == "text/html"
        html = resp.get_data(as_text=True)
        # a DOI this registry minted (test prefix): doi.org never resolves it, so the link is this page,
        # and the page says it is a test DOI
        assert f'<dt>DOI</dt><dd><a href="{BASE_URL}/doi/{published.doi}">{published.doi}</a>' in html
        assert "test DOI" in html and "not registered\n    at doi.org" in html
        assert "https://doi.org/" not in html


def test_head_answers_headers_without_a_body(published: Published) -> None:
    resp = published.client.head(f"/doi/{published.doi}", headers={"Accept": BIBTEX})
    assert resp.status_code == 200
    assert _mime(resp) == BIBTEX
    assert resp.get_data() == b""
    assert any(link.rel == "cite-as" for link in parse_links(resp.headers["Link"]))


# --- negotiated formats --------------------------------------------------------------------------------


def test_datacite_json_is_valid_and_names_the_doi(published: Published) -> None:
    for resp in (_get(published, DATACITE), _get(published, path=f"/doi/{published.doi}?format=datacite")):
        assert resp.status_code == 200
        assert _mime(resp) == DATACITE
        doc = resp.get_json(force=True)
        assert doc["doi"] == published.doi
        assert validate_metadata(doc) == []
        assert doc["titles"] == [{"title": "Read counts of <sample> A & B"}]
        assert doc == {"doi": published.doi, **published.record["metadata"]}


def test_bibtex_parses_and_carries_the_doi(published: Published) -> None:
    resp = _get(published, BIBTEX)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/x-bibtex; charset=utf-8"
    lib = bibtexparser.parse_string(resp.get_data(as_text=True))
    assert lib.failed_blocks == []
    assert len(lib.entries) == 1
    entry = lib.entries[0]
    assert entry.entry_type == "misc"
    assert entry.key == published.doi.replace("/", "_")
    assert entry["doi"] == published.doi
    assert entry["url"] == f"{BASE_URL}/doi/{published.doi}"
    assert entry["author"] == "Lovelace, Ada"
    assert entry["title"] == r"Read counts of <sample> A \& B"


def test_csl_json(published: Published) -> None:
    resp = _get(published, CSL)
    assert resp.status_code == 200
    assert _mime(resp) == CSL
    item = resp.get_json(force=True)
    assert item["type"] == "dataset"
    assert item["DOI"] == published.doi
    assert item["title"] == "Read counts of <sample> A & B"
    assert item["author"] == [{"family": "Lovelace", "given": "Ada"}]


def test_bibliography_text_is_plain_apa_with_the_doi_url(published: Published) -> None:
    resp = _get(published, f"{BIBLIO}; style=apa")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/x-bibliography; charset=utf-8"
    year = published.record["metadata"]["publicationYear"]
    assert resp.get_data(as_text=True) == (
        f"Lovelace, A. ({year}). Read counts of <sample> A & B (Version 1) [Computational result]. "
        f"sciregistry. {BASE_URL}/doi/{published.doi}\n"
    )


def test_ld_json_is_the_pushed_crate_byte_for_byte(published: Published) -> None:
    for resp in (_get(published, LDJSON), _get(published, path=f"/doi/{published.doi}?format=ro-crate")):
        assert resp.status_code == 200
        assert _mime(resp) == LDJSON
        assert resp.get_data() == published.closure.crate_bytes
        assert resp.headers["Content-Length"] == str(len(published.closure.crate_bytes))
        assert (
            resp.headers["ETag"]
            == f'"sha256:{__import__("hashlib").sha256(published.closure.crate_bytes).hexdigest()}"'
        )


def test_schema_org_on_request(published: Published) -> None:
    resp = _get(published, path=f"/doi/{published.doi}?format=schema.org")
    assert resp.status_code == 200
    assert _mime(resp) == LDJSON
    doc = resp.get_json(force=True)
    assert doc["@context"] == "https://schema.org"
    assert doc["@type"] == "Dataset"
    assert doc["@id"] == f"{BASE_URL}/doi/{published.doi}"
    assert doc["creator"][0]["@id"] == "https://orcid.org/0000-0002-1825-0097"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (f"{BIBTEX};q=0.5, {CSL};q=0.9", CSL),
        (f"{BIBTEX};q=0.9, {CSL};q=0.5", BIBTEX),
        (f"text/html;q=0.1, {BIBTEX}", BIBTEX),
        (f"*/*;q=0.1, {DATACITE}", DATACITE),
        (f"{DATACITE};q=0, */*", "text/html"),
        ("application/*", DATACITE),
        (f"text/*;q=0.5, {BIBLIO}", BIBLIO),
        ("application/json", DATACITE),
        ("image/png", "text/html"),  # nothing acceptable: the page (RFC 9110 12.5.1)
        (f"{LDJSON};q=0.8, {CSL};q=0.7", LDJSON),
        ("", "text/html"),
    ],
)
def test_q_value_negotiation(published: Published, accept: str, expected: str) -> None:
    resp = _get(published, accept)
    assert resp.status_code == 200
    assert _mime(resp) == expected
    assert resp.headers["Vary"] == "Accept"


def test_format_parameter_overrides_accept(published: Published) -> None:
    resp = _get(published, "text/html", path=f"/doi/{published.doi}?format=bibtex")
    assert _mime(resp) == BIBTEX
    resp = _get(published, BIBTEX, path=f"/doi/{published.doi}?format=html")
    assert _mime(resp) == "text/html"


def test_unknown_format_parameter_is_400(published: Published) -> None:
    resp = _get(published, "application/json", path=f"/doi/{published.doi}?format=ris")
    assert resp.status_code == 400
    err = resp.get_json()["errors"][0]
    assert err["code"] == "BAD_REQUEST"
    assert "bibtex" in err["detail"]["formats"]


# --- Signposting -----------------------------------------------------------------------------------------


def test_signposting_links(published: Published) -> None:
    p, c = published, published.closure
    expected_items = {(f"{BASE_URL}/v2/lab/results/blobs/{f.digest}", f.media_type) for f in c.outputs}
    for accept in ("text/html", DATACITE, LDJSON, CSL, BIBTEX, BIBLIO):
        resp = _get(p, accept)
        assert resp.headers["Vary"] == "Accept"
        links = parse_links(resp.headers["Link"])
        by_rel: dict[str, list] = {}
        for link in links:
            by_rel.setdefault(link.rel, []).append(link)
        assert [x.target for x in by_rel["cite-as"]] == [f"{BASE_URL}/doi/{p.doi}"]
        described = {(x.target, x.type) for x in by_rel["describedby"]}
        assert (f"{BASE_URL}/doi/{p.doi}?format=datacite", DATACITE) in described
        assert (f"{BASE_URL}/doi/{p.doi}?format=ro-crate", LDJSON) in described
        assert {(x.target, x.type) for x in by_rel["item"]} == expected_items
        assert [x.target for x in by_rel["author"]] == ["https://orcid.org/0000-0002-1825-0097"]
        assert "https://schema.org/Dataset" in [x.target for x in by_rel["type"]]
        assert [x.target for x in by_rel["license"]] == ["https://spdx.org/licenses/CC-BY-4.0"]
        assert ("https://schema.org/AboutPage" in [x.target for x in by_rel["type"]]) == (
            accept == "text/html"
        )


def test_signposted_urls_resolve(published: Published) -> None:
    links = parse_links(_get(published).headers["Link"])
    for link in links:
        if link.rel in ("describedby", "item"):
            path = link.target.removeprefix(BASE_URL)
            resp = published.client.get(path)
            assert resp.status_code == 200, link
            if link.rel == "item":
                assert resp.get_data() in {f.data for f in published.closure.outputs}


# --- errors ---------------------------------------------------------------------------------------------


def test_unknown_doi_is_404_html_or_json(published: Published) -> None:
    resp = published.client.get("/doi/10.5072/zzzz-zzzz", headers={"Accept": "text/html"})
    assert resp.status_code == 404
    assert _mime(resp) == "text/html"
    assert "<h1>DOI not found</h1>" in resp.get_data(as_text=True)
    assert "Link" not in resp.headers
    resp = published.client.get("/doi/10.5072/zzzz-zzzz", headers={"Accept": DATACITE})
    assert resp.status_code == 404
    assert resp.get_json(force=True)["errors"][0]["code"] == "NOT_FOUND"
    assert "10.5072/zzzz-zzzz" in resp.get_json(force=True)["errors"][0]["message"]
    resp = published.client.get("/doi/not-a/doi", headers={"Accept": "application/json"})
    assert resp.status_code == 404
    assert resp.get_json(force=True)["errors"][0]["code"] == "NOT_FOUND"
