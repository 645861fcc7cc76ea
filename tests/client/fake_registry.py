"""A scripted stand-in for a registry with Docker token auth (or Basic auth), for transport tests.

It implements just enough of distribution ``docs/spec/auth/token.md`` to watch the client:

- ``GET /token?service=fake&scope=repository:<name>:<actions>`` with Basic credentials (or none,
  for anonymous pull when ``anonymous_pull``) returns ``{"token": "tok<n>", "expires_in": ttl}``
  granting the requested scopes;
- ``/v2/<name>/...`` needs ``Authorization: Bearer tok<n>`` covering ``pull`` (GET/HEAD) or
  ``pull,push`` (other methods); otherwise 401 with
  ``WWW-Authenticate: Bearer realm="<url>/token",service="fake",scope="repository:<name>:<actions>"``;
- in ``basic`` mode, ``/v2/...`` wants Basic credentials and challenges with ``Basic realm="fake"``;
- ``fail`` scripts answers: ``fake.fail["/v2/x/tags/list"] = [(503, body), ...]`` (popped in order).

Every request is recorded in ``requests`` as ``(method, path, Authorization header)``.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class FakeRegistry:
    def __init__(
        self,
        mode: str = "bearer",
        users: dict[str, str] | None = None,
        ttl: int = 300,
        anonymous_pull: bool = False,
    ) -> None:
        self.mode = mode
        self.users = users if users is not None else {"alice": "s3cret"}
        self.ttl = ttl
        self.anonymous_pull = anonymous_pull
        self.tokens: dict[str, set[str]] = {}
        self.token_requests: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, str | None]] = []
        self.fail: dict[str, list[tuple[int, Any]]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.host = f"127.0.0.1:{self._server.server_address[1]}"

    def revoke_all(self) -> None:
        with self._lock:
            self.tokens.clear()

    def _user(self, header: str | None) -> str | None:
        if not header or not header.startswith("Basic "):
            return None
        user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
        return user if self.users.get(user) == pw else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
                data = (
                    b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
                )
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                parts = urlsplit(self.path)
                auth = self.headers.get("Authorization")
                with fake._lock:
                    fake.requests.append((self.command, parts.path, auth))
                    scripted = fake.fail.get(parts.path)
                    answer = scripted.pop(0) if scripted else None
                if parts.path == "/token":
                    return self._token(parse_qs(parts.query), auth)
                if answer is not None:
                    return self._reply(answer[0], answer[1])
                if not parts.path.startswith("/v2/"):
                    return self._reply(
                        404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]}
                    )
                name = parts.path[4:].split("/tags/")[0].split("/manifests/")[0].split("/blobs/")[0]
                name = name.rstrip("/")
                actions = "pull" if self.command in ("GET", "HEAD") else "pull,push"
                if fake.mode == "basic":
                    if fake._user(auth) is None:
                        return self._reply(
                            401,
                            {"errors": [{"code": "UNAUTHORIZED", "message": "login"}]},
                            {"WWW-Authenticate": 'Basic realm="fake",charset="UTF-8"'},
                        )
                else:
                    granted = set()
                    if auth and auth.startswith("Bearer "):
                        with fake._lock:
                            granted = fake.tokens.get(auth[7:], set())
                    if not all(f"repository:{name}:{a}" in granted for a in actions.split(",")):
                        challenge = (
                            f'Bearer realm="{fake.url}/token",service="fake",'
                            f'scope="repository:{name}:{actions}"'
                        )
                        return self._reply(
                            401,
                            {"errors": [{"code": "UNAUTHORIZED", "message": "token needed"}]},
                            {"WWW-Authenticate": challenge},
                        )
                if parts.path.endswith("/tags/list"):
                    return self._reply(200, {"name": name, "tags": ["a", "b"]})
                if "/blobs/uploads/" in parts.path:  # uploads: accept anything, answer like a registry
                    location = {"Location": f"/v2/{name}/blobs/uploads/u1", "Range": "0-0"}
                    if self.command in ("POST", "PATCH"):
                        return self._reply(202, None, location)
                    digest = parse_qs(parts.query).get("digest", [""])[0]
                    return self._reply(
                        201, None, {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest}
                    )
                if "/blobs/" in parts.path and self.command == "HEAD":
                    return self._reply(404)
                return self._reply(201 if self.command in ("PUT", "POST") else 200, {})

            def _token(self, query: dict[str, list[str]], auth: str | None) -> None:
                user = fake._user(auth)
                with fake._lock:
                    fake.token_requests.append(
                        {
                            "scope": query.get("scope", []),
                            "service": query.get("service"),
                            "user": user,
                            "authorization": auth,
                        }
                    )
                if user is None and (auth is not None or not fake.anonymous_pull):
                    return self._reply(
                        401, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid username or password"}]}
                    )
                granted: set[str] = set()
                for scope in query.get("scope", []):
                    for s in scope.split():
                        kind, name, actions = s.split(":")
                        for a in actions.split(","):
                            if user is not None or a == "pull":
                                granted.add(f"{kind}:{name}:{a}")
                with fake._lock:
                    token = f"tok{len(fake.tokens) + len(fake.token_requests)}"
                    fake.tokens[token] = granted
                self._reply(200, {"token": token, "access_token": token, "expires_in": fake.ttl})

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        return Handler

    def start(self) -> FakeRegistry:
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def fake_registry(**kwargs: Any) -> Iterator[FakeRegistry]:
    fake = FakeRegistry(**kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()
