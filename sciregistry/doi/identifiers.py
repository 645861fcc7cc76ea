"""Identifier grammar: DOIs, ORCID iDs and the Crockford base32 suffixes we mint.

Pure functions, no IO.

DOI (ANSI/NISO Z39.84, DOI Handbook 2.2): ``10.<registrant>/<suffix>``; DOIs are
case-insensitive ("DOI names are case insensitive", Handbook 2.4), so sciregistry
stores and compares them lower-case. DataCite accepts on create
``\\A10\\.\\d{4,5}\\/[-._;()\\/:a-zA-Z0-9*~$=]+\\z`` (lupo ``app/models/doi.rb``).

    >>> normalize_doi("doi:10.5072/ABCD-1234")
    '10.5072/abcd-1234'
    >>> normalize_doi("https://doi.org/10.5072/abcd-1234")
    '10.5072/abcd-1234'

ORCID iD (https://support.orcid.org/hc/en-us/articles/360006897674): 16 symbols in
groups of four, the last one an ISO 7064 MOD 11-2 check symbol (``0-9`` or ``X``);
DataCite recommends the full ``https://orcid.org/`` URI form as ``nameIdentifier``.

Minted suffixes: 8 symbols from Douglas Crockford's base32 alphabet
(https://www.crockford.com/base32.html: digits and letters without I, L, O, U),
lower-case, as ``xxxx-xxxx`` (the shape of DataCite's own auto-generated suffixes).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from sciregistry.errors import BadRequest

__all__ = [
    "CROCKFORD_ALPHABET",
    "DOI_RESOLVER",
    "ORCID_RESOLVER",
    "TEST_DOI_PREFIX",
    "doi_url",
    "generate_suffix",
    "is_crockford_suffix",
    "is_public_resolver",
    "is_test_doi",
    "is_valid_doi",
    "is_valid_prefix",
    "normalize_doi",
    "normalize_orcid",
    "orcid_check_symbol",
    "split_doi",
]

DOI_RESOLVER = "https://doi.org/"
ORCID_RESOLVER = "https://orcid.org/"
#: DataCite's test prefix: DOIs under it are never registered with the DOI resolver.
TEST_DOI_PREFIX = "10.5072"

#: Crockford base32 symbols, lower-case: 0-9 and a-z without i, l, o, u.
CROCKFORD_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"

_DOI_RE = re.compile(r"^10\.[0-9]{4,9}/\S+$")
_PREFIX_RE = re.compile(r"^10\.[0-9]{4,9}$")
_SUFFIX_RE = re.compile(rf"^[{CROCKFORD_ALPHABET}]{{4}}-[{CROCKFORD_ALPHABET}]{{4}}$")
_ORCID_RE = re.compile(r"^([0-9]{4})-?([0-9]{4})-?([0-9]{4})-?([0-9]{3}[0-9X])$")

# Longest first, compared case-insensitively.
_DOI_PREFIXES = (
    "https://dx.doi.org/",
    "http://dx.doi.org/",
    "https://doi.org/",
    "http://doi.org/",
    "dx.doi.org/",
    "doi.org/",
    "doi:",
)


def normalize_doi(value: str) -> str:
    """Return the canonical, lower-case form ``10.xxxx/suffix`` of a DOI.

    Accepts a bare DOI, ``doi:10...`` and resolver URLs (``https://doi.org/10...``,
    percent-encoding undone). Raises :class:`BadRequest` when the result is not a DOI.
    """
    if not isinstance(value, str):
        raise BadRequest(f"not a DOI: {value!r} (expected a string)")
    text = value.strip()
    low = text.lower()
    for prefix in _DOI_PREFIXES:
        if low.startswith(prefix):
            text = text[len(prefix) :]
            if prefix != "doi:":
                text = unquote(text)
            break
    text = text.strip().lower()
    if not _DOI_RE.match(text):
        raise BadRequest(f"not a DOI: {value!r} (expected 10.<registrant>/<suffix>)")
    return text


def is_valid_doi(value: str) -> bool:
    """True when ``value`` is already a canonical DOI (lower-case, no prefix or URL)."""
    return isinstance(value, str) and bool(_DOI_RE.match(value)) and value == value.lower()


def is_valid_prefix(value: str) -> bool:
    """True for a DOI prefix ``10.<4-9 digits>``."""
    return isinstance(value, str) and bool(_PREFIX_RE.match(value))


def split_doi(doi: str) -> tuple[str, str]:
    """Split a DOI (any accepted form) into ``(prefix, suffix)``, both lower-case."""
    prefix, _, suffix = normalize_doi(doi).partition("/")
    return prefix, suffix


def doi_url(doi: str) -> str:
    """The resolver URL ``https://doi.org/<doi>`` (the DOI display form recommended by Crossref/DataCite)."""
    return DOI_RESOLVER + normalize_doi(doi)


def generate_suffix(randbits: Callable[[int], int] = secrets.randbits) -> str:
    """A random suffix ``xxxx-xxxx``: 40 random bits as 8 lower-case Crockford base32 symbols."""
    n = randbits(40)
    symbols = [CROCKFORD_ALPHABET[(n >> (5 * i)) & 0x1F] for i in reversed(range(8))]
    return "".join(symbols[:4]) + "-" + "".join(symbols[4:])


def is_crockford_suffix(suffix: str) -> bool:
    """True when ``suffix`` has the shape :func:`generate_suffix` produces (no i, l, o, u)."""
    return isinstance(suffix, str) and bool(_SUFFIX_RE.match(suffix))


def orcid_check_symbol(base_digits: str) -> str:
    """ISO 7064 MOD 11-2 check symbol over the first 15 digits of an ORCID iD."""
    total = 0
    for ch in base_digits:
        total = (total + int(ch)) * 2
    result = (12 - total % 11) % 11
    return "X" if result == 10 else str(result)


def normalize_orcid(value: str) -> str:
    """Return ``https://orcid.org/XXXX-XXXX-XXXX-XXXX`` for a bare or URI ORCID iD.

    Raises ``ValueError`` when the shape or the check symbol is wrong.
    """
    text = value.strip()
    for prefix in ("https://orcid.org/", "http://orcid.org/", "orcid.org/", "orcid:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
            break
    m = _ORCID_RE.match(text.upper())
    if not m:
        raise ValueError(f"not an ORCID iD: {value!r} (expected 0000-0000-0000-000X)")
    digits = "".join(m.groups())
    if orcid_check_symbol(digits[:15]) != digits[15]:
        raise ValueError(
            f"ORCID iD {value!r} has a wrong check digit (expected {orcid_check_symbol(digits[:15])})"
        )
    return ORCID_RESOLVER + "-".join(m.groups())


def is_test_doi(doi: str) -> bool:
    """True for a DOI under DataCite's test prefix (``10.5072/...``), which doi.org never knows."""
    return doi.strip().lower().startswith(TEST_DOI_PREFIX + "/")


def is_public_resolver(url: str) -> bool:
    """True for the public DOI resolver (``doi.org``, ``dx.doi.org``), where test DOIs are never
    registered; a resolver of one's own (a test double, a local handle server) may know them."""
    return (urlsplit(url if "://" in url else "https://" + url).hostname or "").lower() in (
        "doi.org",
        "dx.doi.org",
    )
