"""Accept parsing, negotiation and Link headers (pure functions)."""

from __future__ import annotations

import pytest

from sciregistry.api.landing.negotiation import (
    BY_NAME,
    Link,
    MediaRange,
    format_links,
    negotiate,
    parse_accept,
    parse_links,
)


def test_parse_accept_weights_and_params() -> None:
    assert parse_accept('text/x-bibliography; style="apa;x"; q=0.4, application/*;q=0.75, */*') == [
        MediaRange("text", "x-bibliography", (("style", "apa;x"),), 0.4),
        MediaRange("application", "*", (), 0.75),
        MediaRange("*", "*", (), 1.0),
    ]


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_accept_means_anything(header: str | None) -> None:
    assert parse_accept(header) == [MediaRange("*", "*", (), 1.0)]
    assert negotiate(header) == BY_NAME["html"]


def test_malformed_entries_are_skipped_and_q_clamped() -> None:
    assert parse_accept("garbage, */html, text/html;q=abc, application/x-bibtex;q=7") == [
        MediaRange("application", "x-bibtex", (), 1.0)
    ]


def test_most_specific_range_decides() -> None:
    # text/x-bibliography is refused explicitly although text/* is welcome
    header = "text/*;q=0.9, text/x-bibliography;q=0, text/html;q=0.2"
    assert negotiate(header, [BY_NAME["citation"], BY_NAME["html"]]) == BY_NAME["html"]
    assert negotiate("text/x-bibliography;q=0", [BY_NAME["citation"]]) is None


def test_ties_go_to_server_preference() -> None:
    assert negotiate(f"{BY_NAME['bibtex'].media_type}, {BY_NAME['csl'].media_type}") == BY_NAME["csl"]
    assert negotiate("*/*") == BY_NAME["html"]


def test_links_round_trip() -> None:
    links = [
        Link("https://doi.org/10.5072/abcd-1234", "cite-as"),
        Link(
            "https://reg.example/doi/10.5072/abcd-1234?format=datacite",
            "describedby",
            "application/vnd.datacite.datacite+json",
        ),
        Link("https://reg.example/v2/lab/r/blobs/sha256:" + "a" * 64, "item", "text/csv"),
        Link("https://doi.org/10.5072/abcd-1234", "cite-as"),
    ]
    header = format_links(links)
    assert header.count("cite-as") == 1
    assert parse_links(header) == links[:3]


def test_parse_links_tolerates_commas_in_quotes_and_multiple_rels() -> None:
    header = (
        '<https://a.example/x>; rel="item describedby"; type="text/plain; charset=\\"a,b\\"", '
        "<https://b>; rel=author"
    )
    got = parse_links(header)
    assert got == [
        Link("https://a.example/x", "item", 'text/plain; charset="a,b"'),
        Link("https://a.example/x", "describedby", 'text/plain; charset="a,b"'),
        Link("https://b", "author"),
    ]
