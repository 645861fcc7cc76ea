"""API token secrets: generation, parsing and hashing.

Format (shown to the user once, at creation)::

    sr_<token id>_<random><checksum>
    sr_3f9a0c6e1b2d4a57_Xw4...(40 base62 chars)...k9Q2zA     (66 characters)

- ``sr_`` prefix: leaked tokens are greppable and can be registered with secret scanners.
- ``<token id>``: 16 lowercase hex characters (64 random bits), public; the database key under
  which the token's hash, owner, scopes and expiry are stored. Shown in token listings.
- ``<random>``: 40 characters of base62 from ``secrets`` (about 238 bits of entropy).
- ``<checksum>``: 6 base62 characters of CRC-32 over everything before it, so a scanner (or
  :func:`parse_token`) can discard typos and look-alike strings without a database lookup.
  CRC-32 is not a security feature; the random part is.

Storage: only :func:`hash_secret` of the whole token string is stored, as ``sha256:<hex>``, or
``hmac-sha256:<hex>`` when the server has a pepper (a key kept outside the database, so a stolen
database dump alone cannot even confirm a token guess).

Why a fast hash is right here: slow password hashes (Argon2, bcrypt) exist because human
passwords have little entropy and can be guessed offline. A token with 238 random bits cannot be
guessed whatever the hash speed (2^238 SHA-256 evaluations), so a slow hash would add tens of
milliseconds and megabytes to every API request for no security gain. Comparisons of hashes use
``hmac.compare_digest`` (constant time).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets as pysecrets
import zlib
from typing import NamedTuple

__all__ = [
    "TOKEN_PREFIX",
    "NewToken",
    "ParsedToken",
    "constant_time_equals",
    "hash_secret",
    "looks_like_token",
    "new_token",
    "parse_token",
    "verify_secret",
]

TOKEN_PREFIX = "sr_"
_ID_HEX = 16
_RANDOM_LEN = 40
_CHECKSUM_LEN = 6
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TOKEN_RE = re.compile(
    rf"sr_(?P<id>[0-9a-f]{{{_ID_HEX}}})_(?P<random>[0-9A-Za-z]{{{_RANDOM_LEN}}})(?P<crc>[0-9A-Za-z]{{{_CHECKSUM_LEN}}})"
)


class NewToken(NamedTuple):
    """``token_id`` is stored in clear; ``secret`` is the full token string, shown once then hashed."""

    token_id: str
    secret: str


class ParsedToken(NamedTuple):
    """``secret`` is the full (stripped) token string: the value :func:`hash_secret` expects."""

    token_id: str
    secret: str


def _base62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(_BASE62[r])
    return "".join(reversed(out))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), _CHECKSUM_LEN)


def new_token() -> NewToken:
    """A new ``(token_id, secret)``: store ``token_id`` and ``hash_secret(secret)``; show ``secret`` once."""
    token_id = pysecrets.token_hex(_ID_HEX // 2)
    random_part = "".join(pysecrets.choice(_BASE62) for _ in range(_RANDOM_LEN))
    body = f"{TOKEN_PREFIX}{token_id}_{random_part}"
    return NewToken(token_id, body + _checksum(body))


def parse_token(value: str | None) -> ParsedToken | None:
    """``(token_id, secret)`` when ``value`` is a well-formed token with a valid checksum, else None.

    Surrounding whitespace is ignored; nothing else is forgiven (case matters). Never raises.
    """
    if not isinstance(value, str):
        return None
    s = value.strip()
    m = _TOKEN_RE.fullmatch(s)
    if m is None:
        return None
    body = s[:-_CHECKSUM_LEN]
    if not hmac.compare_digest(_checksum(body), m.group("crc")):
        return None
    return ParsedToken(m.group("id"), s)


def looks_like_token(value: str | None) -> bool:
    """True for a well-formed token (used to tell API tokens from passwords in Basic credentials)."""
    return parse_token(value) is not None


def hash_secret(secret: str, pepper: bytes | None = None) -> str:
    """``sha256:<hex>`` of the token string, or ``hmac-sha256:<hex>`` keyed with ``pepper``."""
    data = secret.encode("utf-8")
    if pepper is not None:
        if not pepper:
            raise ValueError("pepper must not be empty")
        return "hmac-sha256:" + hmac.new(pepper, data, hashlib.sha256).hexdigest()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def verify_secret(secret: str, stored_hash: str, pepper: bytes | None = None) -> bool:
    """Constant-time check of a presented token string against its stored hash.

    The algorithm comes from the stored value's prefix, so peppering can be introduced later.
    ``ValueError`` when the stored hash is of an unknown kind or needs a pepper that is not given.
    """
    if stored_hash.startswith("hmac-sha256:"):
        if pepper is None:
            raise ValueError("stored token hash is an HMAC but no pepper is configured")
        expected = hash_secret(secret, pepper)
    elif stored_hash.startswith("sha256:"):
        expected = hash_secret(secret)
    else:
        raise ValueError("stored token hash has an unknown format (expected sha256: or hmac-sha256:)")
    return constant_time_equals(expected, stored_hash)


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    """``hmac.compare_digest`` for str or bytes; str is UTF-8 encoded (compare_digest refuses non-ASCII)."""
    ab = a.encode("utf-8") if isinstance(a, str) else a
    bb = b.encode("utf-8") if isinstance(b, str) else b
    return hmac.compare_digest(ab, bb)
