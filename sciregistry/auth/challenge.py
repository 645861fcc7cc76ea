"""``WWW-Authenticate`` challenges and ``Authorization`` header parsing.

Challenges are written here and parsed by :mod:`sciregistry.oci.challenge` (re-exported: one
parser and one :class:`Challenge` for server and client).

Challenges (RFC 7235 section 4.1; distribution ``docs/spec/auth/token.md``)::

    Bearer realm="https://reg.example/token",service="reg.example",scope="repository:lab/x:pull,push"
    Bearer realm="https://reg.example/token",service="reg.example",scope="repository:lab/x:push",error="insufficient_scope"
    Basic realm="sciregistry",charset="UTF-8"

``scope`` is omitted when there is none (``GET /v2/``); several scopes share one space-separated
value. ``error`` is one of RFC 6750 section 3.1's ``invalid_request``, ``invalid_token``,
``insufficient_scope``.

Credentials (RFC 7617 Basic, RFC 6750 Bearer)::

    Authorization: Basic YWxpY2U6czNjcjN0          -> BasicCredentials("alice", "s3cr3t")
    Authorization: Bearer eyJhbGciOi...             -> BearerCredentials("eyJhbGciOi...")

The user id ends at the first ``:``; the password may contain ``:``. Credentials are UTF-8.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sciregistry.auth.scopes import Scope, format_scope
from sciregistry.oci.challenge import Challenge, parse_challenge  # one parser, shared with the client

__all__ = [
    "BasicCredentials",
    "BearerCredentials",
    "Challenge",
    "basic_challenge",
    "bearer_challenge",
    "parse_authorization",
    "parse_challenge",
]

#: Longest ``Authorization`` header accepted (a JWT with a long ``access`` list fits easily).
MAX_AUTHORIZATION_LENGTH = 16 * 1024
_ERRORS = frozenset({"invalid_request", "invalid_token", "insufficient_scope"})
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_CTL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class BearerCredentials:
    token: str = field(repr=False)


def _quote(value: str) -> str:
    """RFC 9110 quoted-string; ``ValueError`` for control characters (they cannot be quoted)."""
    if _CTL.search(value):
        raise ValueError(f"header parameter value contains a control character: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _scope_value(scope: str | Scope | Iterable[Scope] | None) -> str | None:
    if scope is None:
        return None
    if isinstance(scope, str):
        return scope or None
    if isinstance(scope, Scope):
        return format_scope(scope)
    text = " ".join(format_scope(s) for s in scope)
    return text or None


def bearer_challenge(
    realm: str,
    service: str,
    scope: str | Scope | Iterable[Scope] | None = None,
    *,
    error: str | None = None,
    error_description: str | None = None,
) -> str:
    """The ``WWW-Authenticate`` value sending a Docker client to the token endpoint ``realm``.

    ``error="insufficient_scope"`` with the scope needed answers a token that lacks an action.
    """
    if error is not None and error not in _ERRORS:
        raise ValueError(f"unknown bearer error {error!r}: expected one of {', '.join(sorted(_ERRORS))}")
    parts = [f"realm={_quote(realm)}", f"service={_quote(service)}"]
    scope_text = _scope_value(scope)
    if scope_text is not None:
        parts.append(f"scope={_quote(scope_text)}")
    if error is not None:
        parts.append(f"error={_quote(error)}")
    if error_description is not None:
        parts.append(f"error_description={_quote(error_description)}")
    return "Bearer " + ",".join(parts)


def basic_challenge(realm: str, charset: str | None = "UTF-8") -> str:
    """``Basic realm="..."`` (with RFC 7617's ``charset="UTF-8"`` unless ``charset`` is None)."""
    value = f"Basic realm={_quote(realm)}"
    if charset is not None:
        value += f",charset={_quote(charset)}"
    return value


def parse_authorization(header: str | None) -> BasicCredentials | BearerCredentials | None:
    """Credentials from an ``Authorization`` header.

    Returns None when the header is absent or blank, or uses another scheme (e.g. ``Digest``).
    Raises ``ValueError`` with a precise message when a Basic or Bearer credential is malformed
    (bad base64, no ``:``, not UTF-8, control characters, bad token68), or when the header is not a
    string or longer than :data:`MAX_AUTHORIZATION_LENGTH`. Nothing else is ever raised.
    """
    if header is None:
        return None
    if not isinstance(header, str):
        raise ValueError("Authorization header must be a string")
    if len(header) > MAX_AUTHORIZATION_LENGTH:
        raise ValueError(f"Authorization header longer than {MAX_AUTHORIZATION_LENGTH} characters")
    text = header.strip(" \t")
    if not text:
        return None
    scheme, *tail = re.split(r"[ \t]+", text, maxsplit=1)
    scheme = scheme.lower()
    rest = tail[0] if tail else ""
    if scheme == "basic":
        return _parse_basic(rest)
    if scheme == "bearer":
        if not rest:
            raise ValueError("Bearer credentials are empty")
        if not _TOKEN68.fullmatch(rest):
            raise ValueError("Bearer token contains characters outside the token68 syntax")
        return BearerCredentials(rest)
    return None


def _parse_basic(value: str) -> BasicCredentials:
    if not value:
        raise ValueError("Basic credentials are empty")
    if not _TOKEN68.fullmatch(value):
        raise ValueError("Basic credentials are not base64")
    if len(value) % 4:
        # Some clients drop the padding; restore it (a length of 1 mod 4 is never valid base64).
        if len(value) % 4 == 1:
            raise ValueError("Basic credentials are not valid base64 (bad length)")
        value += "=" * (-len(value) % 4)
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("Basic credentials are not valid base64") from exc
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError("Basic credentials are not UTF-8") from exc
    username, sep, password = decoded.partition(":")
    if not sep:
        raise ValueError("Basic credentials contain no ':' between user name and password")
    if _CTL.search(decoded):
        raise ValueError("Basic credentials contain control characters")
    return BasicCredentials(username, password)
