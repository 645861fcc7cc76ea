"""Signing and verifying Docker registry bearer tokens (JWT, RFC 7519; JWS compact form, RFC 7515).

Token claims follow distribution ``docs/spec/auth/jwt.md``::

    header  {"alg": "RS256", "kid": "<RFC 7638 JWK thumbprint>", "typ": "JWT"}
    payload {"iss": "sciregistry", "sub": "alice", "aud": "registry.example.org",
             "exp": 1700000300, "nbf": 1700000000, "iat": 1700000000, "jti": "<random>",
             "access": [{"type": "repository", "name": "lab/x", "actions": ["pull", "push"]}]}

Keys: :class:`KeyStore` keeps one signing key in ``<data_dir>/keys/jwt-signing.pem`` (PKCS#8 PEM,
mode 0600, directory 0700), created on first use; the files (atomic, race-safe creation) are
:mod:`sciregistry.auth.keyfiles`, this module signs and verifies with them. Keys moved to
``keys/jwt-retired-<anything>.pem`` still verify (rotation: move the old key there, restart; the
next start creates a new signing key). Key ids (``kid``) are RFC 7638 JWK thumbprints.

Algorithm: new keys are RSA-2048 (RS256) because verification, which happens on every registry
request, is about 3.5 times cheaper than ECDSA P-256 (measured with ``cryptography`` on the
project's machine: RSA verify 19 us, P-256 verify 68 us; signing, once per token, costs 330 us
vs 55 us). ``key_type="ec"`` creates a P-256 (ES256) key instead; an existing file decides.

Verification (:meth:`KeyStore.verify`) accepts exactly the algorithm of the key named by ``kid``;
``alg: none``, HMAC algorithms (the "public key as HMAC secret" confusion attack), embedded
``jwk``/``jku``/``x5u`` headers and ``crit`` extensions are rejected or ignored before any
signature check: the header's ``kid`` picks the key, then PyJWT's ``jwt.decode`` checks the
signature with that key and its one algorithm; the claims (types, times with ``leeway``, audience,
issuer) are checked here. A bounded cache of already-verified token strings (the full string, so any
altered byte misses) makes a repeated token cost only the expiry and audience checks.
Every failure is a :class:`TokenInvalid` (an ``Unauthorized``, HTTP 401, bearer error
``invalid_token``) subclass naming the reason.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import secrets as pysecrets
import stat
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sciregistry.auth.keyfiles import (
    SIGNING_KEY_FILE,
    PrivateKey,
    PublicKey,
    read_signing_key,
    retired_public_keys,
)
from sciregistry.auth.scopes import WILDCARD, Scope, expand_actions
from sciregistry.errors import Unauthorized

__all__ = [
    "Claims",
    "IssuedToken",
    "KeyStore",
    "TokenAlgorithmRejected",
    "TokenBadSignature",
    "TokenExpired",
    "TokenInvalid",
    "TokenMalformed",
    "TokenNotYetValid",
    "TokenUnknownKey",
    "TokenWrongAudience",
    "TokenWrongIssuer",
    "jwk_thumbprint",
]

log = logging.getLogger(__name__)

REGISTERED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"})
_MAX_TOKEN_LENGTH = 16 * 1024
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
# The signature and the payload's JSON are PyJWT's; the claims (types, times with leeway, audience,
# issuer) are checked here, so that every failure is a TokenInvalid naming the claim.
_DECODE_OPTIONS: Any = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
    "require": [],
}


# --- errors -------------------------------------------------------------------------------------


class TokenInvalid(Unauthorized):
    """A bearer token was rejected. HTTP 401; ``bearer_error`` goes into the ``WWW-Authenticate`` error."""

    message = "invalid token"
    bearer_error: ClassVar[str] = "invalid_token"


class TokenMalformed(TokenInvalid):
    message = "token is not a well-formed JWT"


class TokenAlgorithmRejected(TokenInvalid):
    message = "token signing algorithm is not accepted"


class TokenUnknownKey(TokenInvalid):
    message = "token was signed with an unknown key"


class TokenBadSignature(TokenInvalid):
    message = "token signature is invalid"


class TokenExpired(TokenInvalid):
    message = "token has expired"


class TokenNotYetValid(TokenInvalid):
    message = "token is not yet valid"


class TokenWrongAudience(TokenInvalid):
    message = "token was issued for another audience"


class TokenWrongIssuer(TokenInvalid):
    message = "token was issued by another issuer"


# --- values -------------------------------------------------------------------------------------


class IssuedToken(NamedTuple):
    """What the token endpoint returns: ``{"token", "access_token", "expires_in", "issued_at"}``.

    ``issued_at`` is RFC 3339 UTC (``2024-05-01T12:00:00Z``), as the distribution token spec shows.
    """

    token: str
    expires_in: int
    issued_at: str


@dataclass(frozen=True, slots=True)
class Claims:
    """A verified token's claims. ``access`` is the Docker ``access`` claim as scopes."""

    iss: str
    sub: str
    aud: tuple[str, ...]
    exp: int
    nbf: int
    iat: int
    jti: str
    access: tuple[Scope, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)
    _index: dict[tuple[str, str], frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[tuple[str, str], set[str]] = {}
        for s in self.access:
            index.setdefault((s.type, s.name), set()).update(expand_actions(s.type, s.actions))
        object.__setattr__(self, "_index", {k: frozenset(v) for k, v in index.items()})

    def allows(self, repo: str, action: str, resource_type: str = "repository") -> bool:
        """Whether the token grants ``action`` on ``repo`` (``*`` on a repository = pull, push, delete)."""
        acts = self._index.get((resource_type, repo))
        if acts is None:
            return False
        return action in acts or (resource_type != "repository" and WILDCARD in acts)

    def actions(self, repo: str, resource_type: str = "repository") -> frozenset[str]:
        """All actions granted on ``repo`` (expanded)."""
        return self._index.get((resource_type, repo), frozenset())


# --- key helpers --------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_bytes(n: int, length: int | None = None) -> bytes:
    return n.to_bytes(length if length is not None else max(1, (n.bit_length() + 7) // 8), "big")


def _public_jwk_members(key: PublicKey) -> dict[str, str]:
    """The RFC 7638 required members of the public JWK (RFC 7518 section 6)."""
    if isinstance(key, rsa.RSAPublicKey):
        nums = key.public_numbers()
        return {"e": _b64url(_int_bytes(nums.e)), "kty": "RSA", "n": _b64url(_int_bytes(nums.n))}
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"unsupported EC curve {key.curve.name} (only P-256)")
        pn = key.public_numbers()
        return {
            "crv": "P-256",
            "kty": "EC",
            "x": _b64url(_int_bytes(pn.x, 32)),
            "y": _b64url(_int_bytes(pn.y, 32)),
        }
    raise ValueError(f"unsupported key type {type(key).__name__}")


def jwk_thumbprint(jwk: Mapping[str, str] | PublicKey) -> str:
    """RFC 7638 JWK SHA-256 thumbprint, base64url without padding.

    Accepts a public key or a JWK dict (only the required members are used: ``e, kty, n`` for
    RSA, ``crv, kty, x, y`` for EC), serialised with sorted keys and no whitespace.
    """
    if isinstance(jwk, Mapping):
        kty = jwk.get("kty")
        names = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}.get(str(kty))
        if names is None:
            raise ValueError(f"unsupported JWK kty {kty!r}")
        members = {k: jwk[k] for k in names}
    else:
        members = _public_jwk_members(jwk)
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def _algorithm_for(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ValueError(f"RSA key of {key.key_size} bits is too small (at least 2048)")
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"unsupported EC curve {key.curve.name} (only P-256)")
        return "ES256"
    raise ValueError(f"unsupported key type {type(key).__name__} (RSA or EC P-256)")


@dataclass(frozen=True, slots=True)
class _VerifyKey:
    kid: str
    algorithm: str
    public_key: PublicKey
    verifier: Any  # a PyJWT Algorithm object


def _make_verify_key(public_key: PublicKey) -> _VerifyKey:
    alg = _algorithm_for(public_key)
    return _VerifyKey(jwk_thumbprint(public_key), alg, public_key, pyjwt.get_algorithm_by_name(alg))


def _decode_problem(exc: Exception) -> TokenInvalid:
    """Our error for PyJWT's decoding errors (``Invalid header padding``, ``Invalid payload string``).

    A signature segment of the right alphabet that does not decode canonically (a truncated or
    altered signature: PyJWT checks that it re-encodes to the same text) cannot verify: a bad
    signature, not a malformed token."""
    text = str(exc)
    lower = text.lower()
    if "crypto" in lower:
        return TokenBadSignature()
    if "critical" in lower:
        return TokenMalformed("token header has unsupported critical extensions ('crit')")
    for part in ("header", "payload"):
        if part in lower:
            if "json object" in lower:
                return TokenMalformed(f"token {part} is not a JSON object")
            if "padding" in lower:
                return TokenMalformed(f"token {part} is not base64url")
            return TokenMalformed(f"token {part} is not base64url-encoded JSON")
    return TokenMalformed(f"token is malformed: {text}")


# --- the key store ------------------------------------------------------------------------------


class KeyStore:
    """Signs and verifies registry tokens with the key in ``<data_dir>/keys/jwt-signing.pem``.

    ``issuer`` goes into ``iss`` and is required on verification; ``leeway`` (seconds) tolerates
    clock skew between workers on ``exp``/``nbf``/``iat``; ``clock`` returns Unix seconds
    (injectable for tests); ``cache_size`` bounds the verified-token cache (0 disables it).
    Thread-safe. The key is loaded (or created) on first use, not in the constructor.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        issuer: str = "sciregistry",
        key_type: Literal["rsa", "ec"] = "rsa",
        leeway: float = 30.0,
        clock: Callable[[], float] = time.time,
        cache_size: int = 4096,
    ) -> None:
        if key_type not in ("rsa", "ec"):
            raise ValueError(f"unknown key_type {key_type!r} (rsa or ec)")
        if not issuer:
            raise ValueError("issuer must not be empty")
        self.data_dir = Path(data_dir)
        self.key_path = self.data_dir / "keys" / SIGNING_KEY_FILE
        self.issuer = issuer
        self.key_type = key_type
        self.leeway = float(leeway)
        self.cache_size = cache_size
        self._clock = clock
        self._lock = threading.Lock()
        self._signing_key: PrivateKey | None = None
        self._signing: _VerifyKey | None = None
        self._keys: dict[str, _VerifyKey] = {}
        self._cache: dict[str, Claims] = {}

    # --- keys ---

    def _ensure(self) -> _VerifyKey:
        signing = self._signing
        if signing is not None:
            return signing
        with self._lock:
            if self._signing is None:
                self._load()
            assert self._signing is not None
            return self._signing

    def _load(self) -> None:
        key = read_signing_key(self.key_path, self.key_type)
        mode = stat.S_IMODE(self.key_path.stat().st_mode)
        if mode & 0o077:
            log.warning(
                "JWT signing key %s is accessible by group/others (mode %o); chmod 600 it",
                self.key_path,
                mode,
            )
        signing = _make_verify_key(key.public_key())
        keys = {signing.kid: signing}
        for pub in retired_public_keys(self.key_path.parent):
            vk = _make_verify_key(pub)
            keys.setdefault(vk.kid, vk)
        self._signing_key = key
        self._keys = keys
        self._signing = signing

    def load(self) -> None:
        """Load (or create) the keys now, e.g. at application start to fail early on a bad key file."""
        self._ensure()

    @property
    def kid(self) -> str:
        """RFC 7638 thumbprint of the signing key (the JWT header ``kid``)."""
        return self._ensure().kid

    @property
    def algorithm(self) -> str:
        """``RS256`` or ``ES256``."""
        return self._ensure().algorithm

    @property
    def public_key(self) -> PublicKey:
        return self._ensure().public_key

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public keys (signing first, then retired) as a JWK Set (RFC 7517 section 5)."""
        signing = self._ensure()
        ordered = [signing] + [k for k in self._keys.values() if k.kid != signing.kid]
        return {
            "keys": [
                {**_public_jwk_members(k.public_key), "kid": k.kid, "alg": k.algorithm, "use": "sig"}
                for k in ordered
            ]
        }

    # --- issuing ---

    def issue(
        self,
        subject: str,
        access: Iterable[Scope | Mapping[str, Any]],
        service: str,
        audience: str | None = None,
        ttl: int = 300,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> IssuedToken:
        """Sign a token for ``subject`` carrying ``access`` (``[{"type", "name", "actions"}]`` or scopes).

        ``service`` is the token request's ``service`` parameter and the default audience.
        ``ttl`` seconds (the distribution spec asks at least 60 for old clients). ``extra_claims``
        may not override registered ones (``ValueError``).
        """
        signing = self._ensure()
        if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0:
            raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
        if not isinstance(subject, str):
            raise ValueError("subject must be a string ('' for anonymous)")
        aud = audience if audience is not None else service
        if not aud:
            raise ValueError("audience (or service) must not be empty")
        extra = dict(extra_claims or {})
        clash = REGISTERED_CLAIMS & extra.keys()
        if clash:
            raise ValueError(f"extra_claims may not set registered claims: {', '.join(sorted(clash))}")
        entries = [(a if isinstance(a, Scope) else Scope.from_access(a)).to_access() for a in access]
        now = int(self._clock())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": aud,
            "exp": now + ttl,
            "nbf": now,
            "iat": now,
            "jti": pysecrets.token_urlsafe(16),
            "access": entries,
            **extra,
        }
        assert self._signing_key is not None
        token = pyjwt.encode(
            payload,
            self._signing_key,
            algorithm=signing.algorithm,
            headers={"kid": signing.kid, "typ": "JWT"},
        )
        issued_at = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return IssuedToken(token, ttl, issued_at)

    # --- verifying ---

    def verify(self, token: str, audience: str) -> Claims:
        """Verified claims of ``token`` for ``audience``; a :class:`TokenInvalid` subclass otherwise."""
        self._ensure()
        now = self._clock()
        claims = self._cache.get(token) if isinstance(token, str) else None
        if claims is None:
            claims = self._verify_signature_and_parse(token)
            self._check_times_and_audience(claims, audience, now)
            self._remember(token, claims)
        else:
            try:
                self._check_times_and_audience(claims, audience, now)
            except TokenExpired:
                self._cache.pop(token, None)
                raise
        return claims

    def _remember(self, token: str, claims: Claims) -> None:
        if self.cache_size <= 0:
            return
        with self._lock:
            while len(self._cache) >= self.cache_size:
                self._cache.pop(next(iter(self._cache)), None)  # oldest inserted first
            self._cache[token] = claims

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def _verify_signature_and_parse(self, token: str) -> Claims:
        """PyJWT's ``jwt.decode`` with the key the header's ``kid`` names, after strict syntax and
        header checks (PyJWT's base64 decoding skips characters outside the alphabet)."""
        if not isinstance(token, str):
            raise TokenMalformed("token must be a string")
        if len(token) > _MAX_TOKEN_LENGTH:
            raise TokenMalformed(f"token is longer than {_MAX_TOKEN_LENGTH} characters")
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenMalformed("token must have three dot-separated parts (JWS compact serialization)")
        header_b64, payload_b64, sig_b64 = parts
        for part, what in ((payload_b64, "payload"), (header_b64, "header")):
            if not _SEGMENT.fullmatch(part) or len(part) % 4 == 1:
                raise TokenMalformed(f"token {what} is not base64url")
        try:  # the header alone: its checks come before anything is done with the signature
            header = pyjwt.get_unverified_header(f"{header_b64}.{payload_b64}.")
        except pyjwt.InvalidTokenError as exc:
            raise _decode_problem(exc) from exc
        key = self._key_for(header)
        if not _SEGMENT.fullmatch(sig_b64) or len(sig_b64) % 4 == 1:
            raise TokenMalformed("token signature is not base64url")
        try:
            payload = pyjwt.decode(token, key.public_key, algorithms=[key.algorithm], options=_DECODE_OPTIONS)
        except pyjwt.InvalidSignatureError as exc:
            raise TokenBadSignature() from exc
        except pyjwt.InvalidAlgorithmError as exc:
            raise TokenAlgorithmRejected(str(exc)) from exc
        except pyjwt.InvalidTokenError as exc:  # DecodeError and the rest: the token is malformed
            raise _decode_problem(exc) from exc
        return self._parse_claims(payload)

    def _key_for(self, header: dict[str, Any]) -> _VerifyKey:
        """The key a JOSE header names (``kid``), after the checks."""
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise TokenMalformed("token header has no 'alg'")
        if "crit" in header:
            raise TokenMalformed("token header has unsupported critical extensions ('crit')")
        if alg.lower() == "none" or alg not in ("RS256", "ES256"):
            raise TokenAlgorithmRejected(f"token algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise TokenUnknownKey("token header has no 'kid'")
        key = self._keys.get(kid)
        if key is None:
            raise TokenUnknownKey(f"token was signed with unknown key id {kid!r}")
        if alg != key.algorithm:
            raise TokenAlgorithmRejected(
                f"token algorithm {alg!r} does not match key {kid!r} ({key.algorithm})"
            )
        return key

    def _parse_claims(self, payload: Any) -> Claims:
        if not isinstance(payload, dict):
            raise TokenMalformed("token payload is not a JSON object")
        iss = payload.get("iss")
        if iss != self.issuer:
            raise TokenWrongIssuer(f"token issuer {iss!r} is not {self.issuer!r}")
        sub, jti = payload.get("sub"), payload.get("jti")
        if not isinstance(sub, str):
            raise TokenMalformed("token claim 'sub' must be a string")
        if not isinstance(jti, str):
            raise TokenMalformed("token claim 'jti' must be a string")
        aud_claim = payload.get("aud")
        if isinstance(aud_claim, str):
            aud: tuple[str, ...] = (aud_claim,)
        elif isinstance(aud_claim, list) and all(isinstance(a, str) for a in aud_claim):
            aud = tuple(aud_claim)
        else:
            raise TokenMalformed("token claim 'aud' must be a string or a list of strings")
        times: dict[str, int] = {}
        for name in ("exp", "nbf", "iat"):
            v = payload.get(name)
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise TokenMalformed(f"token claim {name!r} must be a number")
            times[name] = int(v)
        access_claim = payload.get("access", [])
        if not isinstance(access_claim, list):
            raise TokenMalformed("token claim 'access' must be a list")
        try:
            access = tuple(Scope.from_access(e) for e in access_claim)
        except ValueError as exc:
            raise TokenMalformed(f"token claim 'access' is invalid: {exc}") from exc
        extra = {k: v for k, v in payload.items() if k not in REGISTERED_CLAIMS}
        return Claims(iss, sub, aud, times["exp"], times["nbf"], times["iat"], jti, access, extra)

    def _check_times_and_audience(self, claims: Claims, audience: str, now: float) -> None:
        if now >= claims.exp + self.leeway:
            raise TokenExpired()
        if now + self.leeway < claims.nbf:
            raise TokenNotYetValid()
        if now + self.leeway < claims.iat:
            raise TokenNotYetValid("token was issued in the future")
        if audience not in claims.aud:
            raise TokenWrongAudience(f"token audience {list(claims.aud)} does not include {audience!r}")
