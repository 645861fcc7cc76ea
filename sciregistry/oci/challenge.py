"""Parsing ``WWW-Authenticate`` challenges (RFC 7235 section 4.1), as registries send them to
clients in the token flow (distribution ``docs/spec/auth/token.md``)::

    Bearer realm="https://reg.example/token",service="reg.example",scope="repository:lab/x:pull,push"
    Bearer realm="...",service="...",scope="repository:lab/x:push",error="insufficient_scope"
    Basic realm="sciregistry",charset="UTF-8"

One :class:`Challenge` and one parameter grammar for the server (``sciregistry.auth.challenge``
writes challenges and re-exports these) and the client (``sciregistry.client.transport`` answers
them). It lives in ``oci/`` because both may import it and it is pure: the client must stay light
(``sciregistry.auth`` loads argon2, PyJWT and cryptography on import).

Pure code: no IO.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Challenge", "parse_challenge", "parse_challenges"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token
_PARAM = re.compile(
    r"\s*(?P<name>[!#$%&\'*+\-.^_`|~0-9A-Za-z]+)\s*=\s*"
    r'(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<token>[^\s,]*))\s*'
)
_SCHEME = re.compile(r"\s*,?\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)")


@dataclass(frozen=True, slots=True)
class Challenge:
    """A parsed challenge: scheme (lower-case) and its auth-params (names lower-case)."""

    scheme: str
    params: dict[str, str]

    @property
    def scopes(self) -> list[str]:
        """The space-separated ``scope`` parameter as a list."""
        return (self.params.get("scope") or "").split()


def _value(m: re.Match[str]) -> str:
    quoted = m.group("quoted")
    return re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else (m.group("token") or "")


def parse_challenge(header: str) -> Challenge:
    """Parse exactly one challenge (``Bearer realm="...",service="..."``); ``ValueError`` on
    anything else (a token value must be an RFC 9110 token here)."""
    if not isinstance(header, str):
        raise ValueError("challenge must be a string")
    text = header.strip()
    scheme, _, rest = text.partition(" ")
    if not _TOKEN.fullmatch(scheme):
        raise ValueError(f"invalid challenge scheme in {header!r}")
    params: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if (
            m is None
            or m.end() == pos
            or (m.group("token") is not None and not _TOKEN.fullmatch(m.group("token")))
        ):
            raise ValueError(f"cannot parse challenge parameters at {rest[pos:]!r}")
        end = m.end()
        if end < len(rest):
            if rest[end] != ",":
                raise ValueError(f"cannot parse challenge parameters at {rest[pos:]!r}")
            end += 1
        params[m.group("name").lower()] = _value(m)
        pos = end
    return Challenge(scheme.lower(), params)


def parse_challenges(header: str | None) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value into its challenges, leniently (what a client meets).

    >>> parse_challenges('Bearer realm="https://r/token",service="r",scope="repository:a:pull"')[0].scopes
    ['repository:a:pull']
    """
    out: list[Challenge] = []
    if not header:
        return out
    pos, n = 0, len(header)
    while pos < n:
        m = _SCHEME.match(header, pos)
        if not m:
            break
        scheme = m.group(1).lower()
        pos = m.end()
        params: dict[str, str] = {}
        while pos < n:
            # A bare token followed by a space starts the next challenge, not a parameter.
            pm = _PARAM.match(header, pos)
            if not pm:
                break
            params[pm.group("name").lower()] = _value(pm)
            pos = pm.end()
            if pos < n and header[pos] == ",":
                pos += 1
        out.append(Challenge(scheme, params))
    return out
