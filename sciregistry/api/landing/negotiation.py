"""Content negotiation and Signposting for DOI landing pages (pure functions, no Flask).

Accept (RFC 9110 section 12.5.1): a list of media ranges with optional ``q`` weights::

    Accept: application/x-bibtex;q=0.5, application/vnd.citationstyles.csl+json;q=0.9, */*;q=0.1

Each offered type takes the weight of the *most specific* range that matches it (``type/subtype``
beats ``type/*`` beats ``*/*``; parameters other than ``q`` on a range make it more specific
still); ``q=0`` means "not acceptable". The offer with the highest weight wins; ties go to the
server's order of preference (HTML first, so a browser's ``*/*`` gets the page). This is the
DOI content negotiation of DataCite/Crossref (https://citation.crosscite.org/docs.html).
Not werkzeug's ``MIMEAccept.best_match``: it matches a range only when the range's parameters
equal the offer's, so ``text/x-bibliography; style=apa`` (crosscite's way to ask for a citation
style) would match no offer and the page would fall back to HTML.

Signposting (https://signposting.org/FAIR/): typed links in the HTTP ``Link`` header
(RFC 8288)::

    Link: <https://doi.org/10.5072/abcd-1234>; rel="cite-as",
          <https://reg.example/doi/10.5072/abcd-1234?format=datacite>; rel="describedby";
              type="application/vnd.datacite.datacite+json",
          <https://reg.example/v2/lab/results/blobs/sha256:...>; rel="item"; type="text/csv"
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "FORMATS",
    "Format",
    "Link",
    "MediaRange",
    "format_links",
    "negotiate",
    "parse_accept",
    "parse_links",
]


@dataclass(frozen=True)
class Format:
    """One representation of a DOI: the ``?format=`` name and the media type it is served as."""

    name: str
    media_type: str


#: Every representation, in the server's order of preference (ties in ``Accept`` go to the first).
FORMATS: tuple[Format, ...] = (
    Format("html", "text/html"),
    Format("datacite", "application/vnd.datacite.datacite+json"),
    Format("ro-crate", "application/ld+json"),
    Format("csl", "application/vnd.citationstyles.csl+json"),
    Format("bibtex", "application/x-bibtex"),
    Format("citation", "text/x-bibliography"),
    Format("schema.org", "application/ld+json"),
    Format("html", "application/xhtml+xml"),
    Format("datacite", "application/json"),
)
BY_NAME: dict[str, Format] = {}
for _f in FORMATS:
    BY_NAME.setdefault(_f.name, _f)


@dataclass(frozen=True)
class MediaRange:
    type: str
    subtype: str
    params: tuple[tuple[str, str], ...]
    q: float

    def match(self, media_type: str) -> int:
        """Specificity of this range for ``media_type`` (-1: no match; 0 ``*/*``; 1 ``t/*``; 2 exact;
        3 exact with parameters)."""
        t, _, s = media_type.lower().partition("/")
        if self.type == "*":
            return 0 if self.subtype == "*" else -1
        if self.type != t:
            return -1
        if self.subtype == "*":
            return 1
        if self.subtype != s:
            return -1
        return 3 if self.params else 2


def _split_params(text: str) -> list[str]:
    """Split on ``;`` outside double quotes."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


def parse_accept(header: str | None) -> list[MediaRange]:
    """The media ranges of an ``Accept`` value. Malformed entries are skipped; ``q`` is clamped
    to [0, 1] and an entry whose ``q`` is not a number is dropped. An empty or missing header
    means "anything" (``[*/*]``)."""
    if header is None or not header.strip():
        return [MediaRange("*", "*", (), 1.0)]
    ranges: list[MediaRange] = []
    for item in header.split(","):
        fields = [p.strip() for p in _split_params(item)]
        if not fields or "/" not in fields[0]:
            continue
        t, _, s = fields[0].lower().partition("/")
        if not t or not s or (t == "*" and s != "*"):
            continue
        q = 1.0
        params: list[tuple[str, str]] = []
        ok = True
        for p in fields[1:]:
            if not p:
                continue
            k, _, v = p.partition("=")
            k, v = k.strip().lower(), v.strip().strip('"')
            if k == "q":
                try:
                    q = min(max(float(v), 0.0), 1.0)
                except ValueError:
                    ok = False
                break  # parameters after q are accept-extensions
            params.append((k, v))
        if ok:
            ranges.append(MediaRange(t, s, tuple(params), q))
    return ranges


def negotiate(header: str | None, offers: Sequence[Format] = FORMATS) -> Format | None:
    """The best of ``offers`` for an ``Accept`` header, or None when none is acceptable."""
    ranges = parse_accept(header)
    best: Format | None = None
    best_q = 0.0
    for offer in offers:
        spec, q = -1, 0.0
        for r in ranges:
            m = r.match(offer.media_type)
            if m > spec:
                spec, q = m, r.q
        if spec >= 0 and q > best_q:
            best, best_q = offer, q
    return best


@dataclass(frozen=True)
class Link:
    """One typed link of a ``Link`` header."""

    target: str
    rel: str
    type: str | None = None

    def render(self) -> str:
        text = f'<{self.target}>; rel="{self.rel}"'
        if self.type:
            text += f'; type="{self.type}"'
        return text


def format_links(links: Iterable[Link]) -> str:
    """A ``Link`` header value; duplicates (same target, rel and type) are written once."""
    seen: set[Link] = set()
    out = []
    for link in links:
        if link not in seen:
            seen.add(link)
            out.append(link.render())
    return ", ".join(out)


def parse_links(header: str) -> list[Link]:
    """Parse a ``Link`` header (RFC 8288) into links; one ``Link`` per relation type when a
    ``rel`` lists several. Used by tests and by the client."""
    links: list[Link] = []
    i, n = 0, len(header)
    while i < n:
        start = header.find("<", i)
        if start < 0:
            break
        end = header.find(">", start)
        if end < 0:
            break
        target = header[start + 1 : end]
        j = end + 1
        params: dict[str, str] = {}
        while j < n:
            while j < n and header[j] in " \t":
                j += 1
            if j >= n or header[j] == ",":
                j += 1
                break
            if header[j] != ";":
                j += 1
                continue
            j += 1
            while j < n and header[j] in " \t":
                j += 1
            k_start = j
            while j < n and header[j] not in "=;,":
                j += 1
            key = header[k_start:j].strip().lower()
            value = ""
            if j < n and header[j] == "=":
                j += 1
                while j < n and header[j] in " \t":
                    j += 1
                if j < n and header[j] == '"':  # quoted-string with backslash escapes (RFC 9110 5.6.4)
                    j += 1
                    chars: list[str] = []
                    while j < n and header[j] != '"':
                        if header[j] == "\\" and j + 1 < n:
                            j += 1
                        chars.append(header[j])
                        j += 1
                    value = "".join(chars)
                    j += 1
                else:
                    v_start = j
                    while j < n and header[j] not in ";,":
                        j += 1
                    value = header[v_start:j].strip()
            params.setdefault(key, value)
        for rel in params.get("rel", "").split():
            links.append(Link(target, rel, params.get("type")))
        i = j
    return links
