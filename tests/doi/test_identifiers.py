"""DOI normalisation, ORCID check digits, Crockford base32 suffixes."""

from __future__ import annotations

import random

import pytest

from sciregistry.doi import (
    CROCKFORD_ALPHABET,
    doi_url,
    generate_suffix,
    is_crockford_suffix,
    is_valid_doi,
    normalize_doi,
    normalize_orcid,
    split_doi,
)
from sciregistry.errors import BadRequest


@pytest.mark.parametrize(
    "raw",
    [
        "10.5072/ABCD-1234",
        " 10.5072/abcd-1234 ",
        "doi:10.5072/abcd-1234",
        "DOI:10.5072/AbCd-1234",
        "https://doi.org/10.5072/abcd-1234",
        "http://dx.doi.org/10.5072/ABCD-1234",
        "https://doi.org/10.5072%2Fabcd-1234",
    ],
)
def test_normalize_doi(raw: str) -> None:
    assert normalize_doi(raw) == "10.5072/abcd-1234"


@pytest.mark.parametrize(
    "raw", ["", "abcd", "10.50/x", "11.5072/x", "10.5072/", "10.5072/a b", "https://example.org/10.5072/x"]
)
def test_normalize_doi_rejects(raw: str) -> None:
    with pytest.raises(BadRequest, match="not a DOI"):
        normalize_doi(raw)


def test_doi_helpers() -> None:
    assert split_doi("doi:10.5072/AB/CD") == ("10.5072", "ab/cd")
    assert doi_url("10.5072/AB") == "https://doi.org/10.5072/ab"
    assert (
        is_valid_doi("10.5072/ab") and not is_valid_doi("10.5072/AB") and not is_valid_doi("doi:10.5072/ab")
    )


def test_crockford_alphabet_excludes_i_l_o_u() -> None:
    assert len(CROCKFORD_ALPHABET) == len(set(CROCKFORD_ALPHABET)) == 32
    assert set(CROCKFORD_ALPHABET).isdisjoint("ilouILOU")
    assert CROCKFORD_ALPHABET == "0123456789abcdefghjkmnpqrstvwxyz"


def test_suffix_encoding_is_exact() -> None:
    assert generate_suffix(lambda bits: 0) == "0000-0000"
    assert generate_suffix(lambda bits: (1 << bits) - 1) == "zzzz-zzzz"
    # 40 bits, most significant symbol first: 1 -> ...01, 32 -> ...10
    assert generate_suffix(lambda bits: 1) == "0000-0001"
    assert generate_suffix(lambda bits: 32) == "0000-0010"
    assert generate_suffix(lambda bits: 0x1234567890) == "28t5-cy4g"


def test_random_suffixes_have_the_shape_and_are_unique() -> None:
    rng = random.Random(1234)
    suffixes = [generate_suffix(rng.getrandbits) for _ in range(20000)]
    assert len(set(suffixes)) == len(suffixes)
    assert all(is_crockford_suffix(s) for s in suffixes)
    used = set("".join(suffixes).replace("-", ""))
    assert used == set(CROCKFORD_ALPHABET)  # every symbol appears, nothing else
    assert all(is_crockford_suffix(generate_suffix()) for _ in range(200))  # secrets-backed default


@pytest.mark.parametrize(
    "bad", ["abcd-efgi", "abcd-efgl", "abcd-efgo", "abcd-efgu", "ABCD-1234", "abcd1234", "abc-12345"]
)
def test_suffix_check_rejects(bad: str) -> None:
    assert not is_crockford_suffix(bad)


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("0000-0002-1825-0097", "https://orcid.org/0000-0002-1825-0097"),
        ("https://orcid.org/0000-0002-1694-233x", "https://orcid.org/0000-0002-1694-233X"),
        ("0000000218250097", "https://orcid.org/0000-0002-1825-0097"),
        ("orcid:0000-0001-5109-3700", "https://orcid.org/0000-0001-5109-3700"),
    ],
)
def test_normalize_orcid(raw: str, expected: str) -> None:
    assert normalize_orcid(raw) == expected


def test_orcid_errors() -> None:
    with pytest.raises(ValueError, match=r"wrong check digit \(expected 7\)"):
        normalize_orcid("0000-0002-1825-0098")
    with pytest.raises(ValueError, match="not an ORCID iD"):
        normalize_orcid("0000-0002-1825")
