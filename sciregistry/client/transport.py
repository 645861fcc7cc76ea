"""HTTP transport for the client: one ``requests.Session`` per registry, with the Docker token flow.

Authentication (distribution ``docs/spec/auth/token.md``, RFC 7235, RFC 7617, RFC 6750)::

    client                                   registry                    token service (realm)
    GET /v2/lab/x/manifests/v1        ->     401 WWW-Authenticate: Bearer realm="https://reg/token",
                                                 service="reg",scope="repository:lab/x:pull"
    GET https://reg/token?service=reg&scope=repository:lab/x:pull    (Authorization: Basic user:pw)
                                                                   ->  {"token": "...", "expires_in": 300}
    GET /v2/lab/x/manifests/v1               (Authorization: Bearer ...)  -> 200

- Tokens are cached per repository and set of actions and reused until 10 s before they expire;
  a token with ``pull,push`` on a repository also serves a ``pull`` request there.
- A ``Basic`` challenge is answered with the Basic credentials, which are then sent pre-emptively.
- An API token (``sr_...``) is sent as the password of the Basic credentials (like a personal access
  token with ``docker login``); a string that looks like a JWT (three dot-separated parts) is sent
  as the Bearer token directly.
- Credentials are never sent over plain HTTP to a host other than 127.0.0.1/localhost/::1 unless
  ``insecure`` is set, and never to another origin than the registry's or its token realm's.

Errors: a non-2xx answer carrying ``{"errors":[{"code","message","detail"}]}`` is raised as the
same :mod:`sciregistry.errors` class the server raised (:func:`sciregistry.errors.from_code`);
bodies without it are mapped by status. Connection problems raise :class:`TransportError` (an
``OSError``).

Retries are bounded and only for requests that are safe to repeat: GET and HEAD are retried
twice (0.25 s, 0.5 s) on connection errors, timeouts and 502/503/504. Nothing is retried on 4xx or
on other methods, not even after a connection error (oras-py retries any failure for about two
minutes; this transport never does). urllib3 does the retrying: :mod:`sciregistry.client.retry`,
a ``urllib3.util.Retry`` mounted on the session's ``HTTPAdapter``.
"""

from __future__ import annotations

import base64
import collections
import ipaddress
import re
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from sciregistry.client.retry import SAFE_METHODS, retry_policy
from sciregistry.errors import (
    BlobUnknown,
    Denied,
    ManifestUnknown,
    NameInvalid,
    NotFound,
    RegistryError,
    TooManyRequests,
    Unauthorized,
    Unsupported,
    UpstreamError,
    from_code,
)
from sciregistry.oci import routes
from sciregistry.oci.challenge import Challenge, parse_challenges

__all__ = [
    "Challenge",
    "Transport",
    "TransportError",
    "error_from_response",
    "normalize_url",
    "parse_challenges",
    "short_reason",
]

USER_AGENT = "sciregistry-client/0.1"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
TOKEN_MARGIN = 10.0  # seconds before expiry at which a cached token is refreshed
DEFAULT_TOKEN_LIFETIME = 60  # distribution token spec: expires_in defaults to 60 s
#: the scope actions a token needs for a route's action (a push needs pull too: blob HEADs, mounts)
_SCOPE_ACTIONS = {"pull": ("pull",), "push": ("pull", "push"), "delete": ("delete",)}
TOKEN_PREFIX = "sr_"  # API and reviewer tokens (sciregistry.auth.secrets)
TOKEN_REFUSED = "the token was refused (invalid, expired or revoked)"
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


class TransportError(OSError):
    """The registry could not be reached, or answered with something that is not HTTP we understand."""


def normalize_url(url: str, insecure: bool = False) -> str:
    """``host:port`` or ``scheme://host:port`` -> ``scheme://host:port``.

    Without a scheme, plain HTTP is chosen for loopback hosts or with ``insecure``, else HTTPS.
    Plain HTTP to any other host needs ``insecure`` (``--insecure``): raises ValueError.
    """
    raw = url.strip().rstrip("/")
    if "://" not in raw:
        host = urlsplit("//" + raw).hostname or ""
        raw = ("http://" if insecure or _is_loopback(host) else "https://") + raw
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"registry URL {url!r} must be http(s)://host[:port]")
    if parts.path or parts.query or parts.fragment:
        raise ValueError(f"registry URL {url!r} must not have a path: the OCI API lives at /v2/ on the host")
    if parts.scheme == "http" and not insecure and not _is_loopback(parts.hostname or ""):
        raise ValueError(f"plain HTTP to {parts.netloc} is refused: use https, or insecure=True (--insecure)")
    return raw


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_STATUS_ERRORS: dict[int, type[RegistryError]] = {
    401: Unauthorized,
    403: Denied,
    404: NotFound,
    405: Unsupported,
    429: TooManyRequests,
    502: UpstreamError,
    503: UpstreamError,
    504: UpstreamError,
}


def error_from_response(resp: requests.Response) -> RegistryError:
    """The :class:`RegistryError` a failed response stands for.

    ``{"errors":[{"code","message","detail"}, ...]}`` gives the class of the first error (the
    others are kept in ``detail["errors"]`` when there are several); otherwise the status decides
    (a 404 on ``/manifests/`` is MANIFEST_UNKNOWN, on ``/blobs/`` BLOB_UNKNOWN).
    """
    errors: list[Any] = []
    if resp.content and resp.request is not None and resp.request.method != "HEAD":
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, Mapping) and isinstance(body.get("errors"), list):
            errors = [e for e in body["errors"] if isinstance(e, Mapping) and isinstance(e.get("code"), str)]
    if errors:
        first = errors[0]
        detail = first.get("detail")
        if len(errors) > 1:
            detail = {"detail": detail, "errors": errors[1:]}
        err = from_code(first["code"], first.get("message") or None, detail, status=resp.status_code)
    else:
        path = urlsplit(resp.url or "").path
        cls: type[RegistryError] = _STATUS_ERRORS.get(resp.status_code, RegistryError)
        if resp.status_code == 404 and "/manifests/" in path:
            cls = ManifestUnknown
        elif resp.status_code == 404 and "/blobs/" in path:
            cls = BlobUnknown
        text = (resp.text or "").strip() if resp.request is None or resp.request.method != "HEAD" else ""
        message = (
            f"HTTP {resp.status_code} {resp.reason or ''}".strip()
            + f" from {resp.request.method if resp.request else ''} {path}"
        )
        if text:
            message += f": {text[:200]}"
        err = cls(message, status=resp.status_code)
    www = resp.headers.get("WWW-Authenticate")
    if www:
        err.headers["WWW-Authenticate"] = www
    return err


@dataclass
class _Token:
    value: str
    expires_at: float
    repository: str
    actions: frozenset[str]

    def fresh(self) -> bool:
        return time.monotonic() < self.expires_at - TOKEN_MARGIN


@dataclass
class _Needed:
    """What a request needs: repository scopes (``{name: actions}``) predicted from its path."""

    scopes: dict[str, set[str]] = field(default_factory=dict)

    def key(self) -> tuple[str, frozenset[str]]:
        if not self.scopes:
            return "", frozenset()
        name = next(iter(self.scopes))
        return name, frozenset(self.scopes[name])

    def strings(self) -> list[str]:
        return [f"repository:{n}:{','.join(sorted(a))}" for n, a in self.scopes.items()]


def _predict(method: str, url: str, params: Mapping[str, Any] | None) -> _Needed:
    """The repository scopes a request needs, from the route its path names (the action of its
    method on that route, as the server's table says) and a mount's ``from``."""
    parts = urlsplit(url)
    needed = _Needed()
    try:
        found = routes.match(parts.path)
    except NameInvalid:
        return needed
    if found is None or "name" not in found[1]:
        return needed
    route, path_params = found
    name = path_params["name"]
    action = route.actions.get(method)
    if action is None:
        return needed
    needed.scopes[name] = set(_SCOPE_ACTIONS.get(action, {action}))
    query: dict[str, Any] = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(params or {})
    source = query.get("from")
    if method == "POST" and isinstance(source, str) and source and source != name:
        needed.scopes[source] = {"pull"}
    return needed


class Transport:
    """Requests to one registry (base URL), authenticated on demand.

    :param url: ``http(s)://host[:port]`` (see :func:`normalize_url`).
    :param token: an API token (``sr_...``, sent as the Basic password) or a JWT (sent as Bearer).
    :param username: / :param password: Basic credentials.
    :param insecure: allow plain HTTP to non-loopback hosts and skip TLS verification.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        insecure: bool = False,
        timeout: float = 300.0,
        connect_timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.25,
    ) -> None:
        self.base_url = normalize_url(url, insecure)
        parts = urlsplit(self.base_url)
        self.scheme = parts.scheme
        self.host = parts.netloc
        self.insecure = insecure
        self.verify = not insecure
        self.timeout = (connect_timeout, timeout)
        self.retries = retries
        self.backoff = backoff
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry_policy(retries, backoff))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.trust_env = True
        self._bearer: str | None = None
        self._basic: tuple[str, str] | None = None
        if token and _JWT.match(token):
            self._bearer = token
        elif token:
            self._basic = (username or "token", token)
        elif username is not None or password is not None:
            self._basic = (username or "", password or "")
        #: an API or reviewer token (given as token, or as the password: ``sr_...``) rather than a password
        self.uses_token = bool(token) or (password or "").startswith(TOKEN_PREFIX)
        self._send_basic = False  # after a Basic challenge
        self._tokens: list[_Token] = []
        self._lock = threading.Lock()
        #: requests made, by method (tests use it to see chunked uploads happen; retries not counted)
        self.request_counts: collections.Counter[str] = collections.Counter()

    # --- public -----------------------------------------------------------------------------------
    @property
    def has_credentials(self) -> bool:
        return self._basic is not None or self._bearer is not None

    @property
    def basic_credentials(self) -> tuple[str, str] | None:
        """``(username, secret)`` this client authenticates with, for tools that pull by themselves
        (podman under cwltool in ``reproduce``); None without Basic credentials."""
        return self._basic

    def url(self, path_or_url: str) -> str:
        """Absolute URL for a path (``/v2/...``) or an absolute URL (returned unchanged)."""
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return urljoin(self.base_url + "/", path_or_url.lstrip("/"))

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        json: Any = None,
        stream: bool = False,
        ok: Collection[int] | None = None,
        raise_for_status: bool = True,
    ) -> requests.Response:
        """Send a request, answering auth challenges; raise the server's error unless the status is in
        ``ok`` (default: any 2xx/3xx) or ``raise_for_status`` is False.

        ``data`` may be bytes, a file object (rewound before a retry) or an iterator (never retried).
        """
        method = method.upper()
        url = self.url(path_or_url)
        same_origin = self._same_origin(url)
        needed = _predict(method, url, params) if same_origin else _Needed()
        hdrs = dict(headers or {})
        start_pos = data.tell() if hasattr(data, "seek") and hasattr(data, "tell") else None

        def send(auth: str | None) -> requests.Response:
            h = dict(hdrs)
            if auth:
                h["Authorization"] = auth
            return self._send(method, url, params=params, headers=h, data=data, json=json, stream=stream)

        def rewind() -> bool:
            if data is None or isinstance(data, (bytes, bytearray, str)):
                return True
            if start_pos is not None:
                data.seek(start_pos)
                return True
            return False

        auth = self._auth_header(needed) if same_origin else None
        resp = send(auth)
        attempts = 0
        while resp.status_code in (401, 403) and same_origin and attempts < 2:
            challenges = parse_challenges(resp.headers.get("WWW-Authenticate"))
            if resp.status_code == 403 and not any(
                c.params.get("error") == "insufficient_scope" for c in challenges
            ):
                break
            new_auth = self._answer(challenges, needed, used=auth)
            if new_auth is None or not rewind():
                break
            resp.close()
            auth = new_auth
            resp = send(auth)
            attempts += 1
        if raise_for_status and not self._is_ok(resp.status_code, ok):
            err = error_from_response(resp)
            resp.close()
            if isinstance(err, Unauthorized):
                if not self.has_credentials:
                    err.text += f" ({login_hint(self.host)})"
                elif self.uses_token:
                    err.text += f" ({TOKEN_REFUSED})"
            raise err
        return resp

    # --- sending (GET and HEAD with bounded retries: client/retry.py, mounted on the session) --------
    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.request_counts[method] += 1
        try:
            return self.session.request(
                method,
                url,
                timeout=self.timeout,
                verify=self.verify,
                allow_redirects=method in SAFE_METHODS,
                **kwargs,
            )
        except requests.exceptions.SSLError as exc:
            raise TransportError(
                f"TLS error talking to {urlsplit(url).netloc}: {exc} "
                "(use --insecure only for a registry you trust)"
            ) from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise TransportError(
                f"cannot reach {urlsplit(url).netloc} ({method} {urlsplit(url).path}): {_short(exc)}"
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise TransportError(f"{method} {url} failed: {_short(exc)}") from exc

    @staticmethod
    def _is_ok(status: int, ok: Collection[int] | None) -> bool:
        if ok is not None:
            return status in ok
        return 200 <= status < 400

    def _same_origin(self, url: str) -> bool:
        parts = urlsplit(url)
        return (parts.scheme, parts.netloc) == (self.scheme, self.host)

    # --- auth ----------------------------------------------------------------------------------------
    def _basic_header(self) -> str:
        assert self._basic is not None
        user, pw = self._basic
        return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode("ascii")

    def _auth_header(self, needed: _Needed) -> str | None:
        if self._bearer:
            return f"Bearer {self._bearer}"
        tok = self._find_token(needed)
        if tok is not None:
            return f"Bearer {tok.value}"
        if self._send_basic and self._basic is not None:
            return self._basic_header()
        return None

    def _find_token(self, needed: _Needed) -> _Token | None:
        name, actions = needed.key()
        with self._lock:
            self._tokens = [t for t in self._tokens if t.fresh()]
            if len(needed.scopes) > 1:  # a mount: only an exact match (token for both repositories)
                return next(
                    (t for t in reversed(self._tokens) if t.repository == "\n".join(needed.strings())), None
                )
            for t in reversed(self._tokens):
                if t.repository == name and actions <= t.actions:
                    return t
        return None

    def _answer(self, challenges: list[Challenge], needed: _Needed, used: str | None) -> str | None:
        """The Authorization value to retry with, or None when the challenge cannot be answered."""
        bearer = next((c for c in challenges if c.scheme == "bearer" and c.params.get("realm")), None)
        if bearer is not None:
            scopes = list(dict.fromkeys(needed.strings() + bearer.scopes))
            token = self.fetch_token(bearer.params["realm"], bearer.params.get("service"), scopes)
            name, actions = needed.key()
            if len(needed.scopes) > 1:
                name = "\n".join(needed.strings())
            # Requests whose scope cannot be predicted (/v2/, /api/v1) share the key "": the latest
            # such token is tried first, and a refusal fetches one for the challenged scope.
            value = token["token"]
            header = f"Bearer {value}"
            if header == used:
                return None  # the same token was refused: nothing more to try
            with self._lock:
                self._tokens.append(_Token(value, time.monotonic() + token["expires_in"], name, actions))
            return header
        if any(c.scheme == "basic" for c in challenges) and self._basic is not None:
            header = self._basic_header()
            if header == used:
                return None
            self._send_basic = True
            return header
        return None

    def fetch_token(self, realm: str, service: str | None, scopes: list[str]) -> dict[str, Any]:
        """GET the token ``realm`` (Basic credentials when we have them) and return
        ``{"token": str, "expires_in": int}``; raise Unauthorized when refused."""
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise Unauthorized(f"token realm {realm!r} is not an http(s) URL")
        if parts.scheme == "http" and not self.insecure and not _is_loopback(parts.hostname or ""):
            raise Unauthorized(
                f"refusing to send credentials over plain HTTP to {parts.netloc} "
                "(use --insecure for a registry you trust)"
            )
        params: list[tuple[str, str]] = []
        if service:
            params.append(("service", service))
        params += [("scope", s) for s in scopes]
        headers = {"Authorization": self._basic_header()} if self._basic is not None else {}
        self.request_counts["TOKEN"] += 1
        try:
            resp = self.session.get(
                realm,
                params=params,
                headers=headers,
                timeout=self.timeout,
                verify=self.verify,
                allow_redirects=False,
            )
        except requests.exceptions.RequestException as exc:
            raise TransportError(f"cannot reach token service {parts.netloc}: {_short(exc)}") from exc
        if resp.status_code != 200:
            err = error_from_response(resp)
            if resp.status_code == 401:
                if self.uses_token:
                    raise Unauthorized(f"{TOKEN_REFUSED} by the token service {parts.netloc}", err.detail)
                if self._basic is None:
                    raise Unauthorized(
                        f"token service {parts.netloc} refused anonymous access: {err.text} "
                        f"({login_hint(self.host)})",
                        err.detail,
                    )
                raise Unauthorized(
                    f"token service {parts.netloc} refused user {self._basic[0]!r}: {err.text}", err.detail
                )
            raise err
        try:
            body = resp.json()
        except ValueError as exc:
            raise TransportError(f"token service {parts.netloc} answered with non-JSON") from exc
        value = body.get("token") or body.get("access_token") if isinstance(body, Mapping) else None
        if not isinstance(value, str) or not value:
            raise TransportError(f"token service {parts.netloc} answered without a token")
        expires = body.get("expires_in")
        if not isinstance(expires, (int, float)) or isinstance(expires, bool) or expires <= 0:
            expires = DEFAULT_TOKEN_LIFETIME
        return {"token": value, "expires_in": float(expires)}

    def close(self) -> None:
        self.session.close()


def login_hint(host: str) -> str:
    """The next step after a 401 without credentials."""
    return (
        f"log in first: sciregistry login {host}; or, holding a reviewer or API token, pass it "
        "with --token or SCIREGISTRY_TOKEN"
    )


def short_reason(exc: BaseException) -> str:
    """One short phrase for a connection error (``Name or service not known``, ``connection
    refused``), not the exception chain requests and urllib3 build."""
    return _short(exc)


def _short(exc: BaseException) -> str:
    text = str(exc)
    m = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if m:
        return m.group(1).strip()
    if "Connection refused" in text:
        return "connection refused"
    return text[:200]
