"""API token strings and their hashes."""

from __future__ import annotations

import re
import zlib

import pytest

from sciregistry.auth.secrets import (
    TOKEN_PREFIX,
    constant_time_equals,
    hash_secret,
    looks_like_token,
    new_token,
    parse_token,
    verify_secret,
)

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62(n: int, width: int) -> str:
    s = ""
    for _ in range(width):
        n, r = divmod(n, 62)
        s = BASE62[r] + s
    return s


def test_new_token_format() -> None:
    token_id, secret = new_token()
    assert re.fullmatch(r"sr_[0-9a-f]{16}_[0-9A-Za-z]{46}", secret), secret
    assert len(secret) == 66
    assert secret.startswith(TOKEN_PREFIX + token_id + "_")
    body = secret[:-6]
    assert secret[-6:] == base62(zlib.crc32(body.encode()), 6)  # GitHub-style CRC-32 checksum


def test_new_tokens_are_unique() -> None:
    tokens = [new_token() for _ in range(200)]
    assert len({t.secret for t in tokens}) == 200
    assert len({t.token_id for t in tokens}) == 200


def test_parse_roundtrip() -> None:
    t = new_token()
    parsed = parse_token(t.secret)
    assert parsed == (t.token_id, t.secret)
    assert parse_token(f"  {t.secret}\n") == (t.token_id, t.secret)
    assert looks_like_token(t.secret)


def test_parse_rejects_every_single_character_change() -> None:
    t = new_token().secret
    for i in range(len("sr_"), len(t)):
        for repl in ("0", "z"):
            if t[i] == repl:
                continue
            changed = t[:i] + repl + t[i + 1 :]
            # Changes in the id part may still be well-formed hex, but the checksum then fails.
            assert parse_token(changed) is None, (i, changed)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "sr_",
        "password123",
        42,
        "gh_0123456789abcdef_" + "a" * 46,
        "sr_0123456789ABCDEF_" + "a" * 46,  # upper-case id
        "sr_0123456789abcde_" + "a" * 46,  # short id
        "sr_0123456789abcdef_" + "a" * 45,  # short random
        "sr_0123456789abcdef_" + "a" * 47,
        "sr_0123456789abcdef-" + "a" * 46,
    ],
)
def test_parse_rejects_garbage(value: object) -> None:
    assert parse_token(value) is None  # type: ignore[arg-type]
    assert looks_like_token(value) is False  # type: ignore[arg-type]


def test_hash_secret_known_values() -> None:
    assert hash_secret("abc") == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    # RFC 4231-style check with the well-known example key/message pair
    assert hash_secret("The quick brown fox jumps over the lazy dog", pepper=b"key") == (
        "hmac-sha256:f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    )


def test_hash_does_not_contain_secret() -> None:
    t = new_token()
    h = hash_secret(t.secret)
    assert t.secret not in h and t.secret[20:] not in h


def test_verify_secret() -> None:
    t = new_token()
    stored = hash_secret(t.secret)
    assert verify_secret(t.secret, stored) is True
    assert verify_secret(new_token().secret, stored) is False
    peppered = hash_secret(t.secret, pepper=b"server-pepper")
    assert verify_secret(t.secret, peppered, pepper=b"server-pepper") is True
    assert verify_secret(t.secret, peppered, pepper=b"other-pepper") is False
    # An unpeppered stored hash keeps working after a pepper is configured (migration).
    assert verify_secret(t.secret, stored, pepper=b"server-pepper") is True


def test_verify_secret_errors() -> None:
    with pytest.raises(ValueError, match="no pepper"):
        verify_secret("x", hash_secret("x", pepper=b"p"))
    with pytest.raises(ValueError, match="unknown format"):
        verify_secret("x", "md5:abc")
    with pytest.raises(ValueError, match="pepper must not be empty"):
        hash_secret("x", pepper=b"")


def test_constant_time_equals() -> None:
    assert constant_time_equals("abc", "abc")
    assert not constant_time_equals("abc", "abd")
    assert not constant_time_equals("abc", "abcd")
    assert constant_time_equals("pässwörd", "pässwörd")  # non-ASCII str works (compare_digest alone refuses)
    assert constant_time_equals(b"\x00\xff", b"\x00\xff")
