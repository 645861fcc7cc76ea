"""Content digests (OCI image-spec v1.1.1, descriptor.md "Digests").

    digest      ::= algorithm ":" encoded
    algorithm   ::= algorithm-component (algorithm-separator algorithm-component)*
    algorithm-component ::= [a-z0-9]+
    algorithm-separator ::= [+._-]
    encoded     ::= [a-zA-Z0-9=_-]+

Registered algorithms: ``sha256`` (64 lower-case hex, REQUIRED) and ``sha512`` (128 hex).
Pure code: no IO.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sciregistry.errors import DigestInvalid

_GRAMMAR = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_ENCODED = {"sha256": re.compile(r"^[a-f0-9]{64}$"), "sha512": re.compile(r"^[a-f0-9]{128}$")}
SUPPORTED_ALGORITHMS = frozenset(_ENCODED)


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    encoded: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"


def parse_digest(value: str) -> Digest:
    """Parse and validate a digest string; raise DigestInvalid for anything else.

    >>> parse_digest("sha256:" + "a" * 64).algorithm
    'sha256'
    """
    if not isinstance(value, str) or len(value) > 256 or not _GRAMMAR.fullmatch(value):
        raise DigestInvalid("invalid digest", {"digest": str(value)[:256]})
    alg, _, enc = value.partition(":")
    pattern = _ENCODED.get(alg)
    if pattern is None:
        raise DigestInvalid(f"unsupported digest algorithm {alg!r}", {"digest": value})
    if not pattern.fullmatch(enc):
        raise DigestInvalid(f"invalid {alg} digest encoding", {"digest": value})
    return Digest(alg, enc)


def is_digest(value: str) -> bool:
    try:
        parse_digest(value)
    except DigestInvalid:
        return False
    return True


def new_hasher(algorithm: str = "sha256") -> hashlib._Hash:
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise DigestInvalid(f"unsupported digest algorithm {algorithm!r}")
    return hashlib.new(algorithm)


def compute(data: bytes, algorithm: str = "sha256") -> str:
    """Digest string of ``data``."""
    h = new_hasher(algorithm)
    h.update(data)
    return f"{algorithm}:{h.hexdigest()}"


def fallback_tag(digest: str) -> str:
    """The referrers tag schema fallback tag for a subject digest: ``<alg>-<ref>`` (truncated to 128)."""
    d = parse_digest(digest)
    return f"{d.algorithm}-{d.encoded}"[:128]
