"""A local fake of the part of the DataCite REST API that sciregistry uses.

Runs ``http.server`` on 127.0.0.1, port 0, in a thread. Contract implemented (after
https://support.datacite.org/docs/api-create-dois and lupo ``app/models/doi.rb``):

- every request: HTTP Basic auth with the repository ID/password, else
  401 ``{"errors": [{"status": "401", "title": "Bad credentials."}]}``;
  ``POST``/``PUT`` bodies must be ``application/vnd.api+json`` (else 415);
- ``POST /dois``: JSON:API ``{"data": {"type": "dois", "attributes": {...}}}``; 201 with the
  stored record; 422 ``{"errors": [{"source": "doi", "title": "Can't be blank"}]}`` without a
  DOI; 422 (DataCite's real status; 409 with ``duplicate_status=409``)
  ``"This DOI has already been taken"`` on a duplicate; 403 for a prefix the repository
  does not own; ``event`` ``publish``/``register`` needs url, creators, titles, publisher,
  publicationYear, types.resourceTypeGeneral (422 per missing field) and, when ``domains``
  is set, a URL on one of them (422 "URL is not allowed by repository domain settings.");
- ``PUT /dois/<doi>``: partial update plus optional ``event`` (publish, register, hide);
  404 for an unknown DOI;
- ``GET /dois/<doi>``: 200 with the record, 404 unknown;
- ``DELETE /dois/<doi>``: 204 for a draft, 405 otherwise (only drafts can be deleted).

``inject(status, body)`` makes the next request fail; ``stall(seconds)`` delays the next
answer; ``requests`` records every request (method, path, headers, raw body, parsed JSON).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import unquote, urlsplit

JSONAPI = "application/vnd.api+json"
REQUIRED_FOR_FINDABLE = ("url", "creators", "titles", "publisher", "publicationYear")


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None


@dataclass
class FakeDataCite:
    repository_id: str = "TEST.SCIREG"
    password: str = "s3cret"
    prefixes: tuple[str, ...] = ("10.5072",)
    duplicate_status: int = 422
    domains: tuple[str, ...] | None = None
    requests: list[Recorded] = field(default_factory=list)
    dois: dict[str, dict[str, Any]] = field(default_factory=dict)
    _injected: list[tuple[int, Any]] = field(default_factory=list)
    _stall: float = 0.0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        fake: FakeDataCite = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-datacite",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    # -- test controls ------------------------------------------------------------------------

    def inject(self, status: int, body: Any) -> None:
        """The next request is answered with ``status`` and ``body`` (JSON, or raw str)."""
        self._injected.append((status, body))

    def stall(self, seconds: float) -> None:
        self._stall = seconds

    def state(self, doi: str) -> str:
        return str(self.dois[doi.lower()]["state"])

    # -- behaviour ----------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        with self._lock:
            self.requests.append(Recorded(method, path, headers, body, parsed))
            if self._stall:
                delay, self._stall = self._stall, 0.0
            else:
                delay = 0.0
            injected = self._injected.pop(0) if self._injected else None
        if delay:
            time.sleep(delay)
        if injected:
            return injected
        if not self._authorised(headers.get("authorization", "")):
            return 401, _errors({"status": "401", "title": "Bad credentials."})
        if method in ("POST", "PUT") and headers.get("content-type", "").split(";")[0].strip() != JSONAPI:
            return 415, _errors({"status": "415", "title": "The content type is not recognized."})
        route = urlsplit(path).path
        with self._lock:
            if route == "/dois" and method == "POST":
                return self._create(parsed)
            if route.startswith("/dois/"):
                doi = unquote(route[len("/dois/") :]).lower()
                if method == "GET":
                    return self._show(doi)
                if method == "PUT":
                    return self._update(doi, parsed)
                if method == "DELETE":
                    return self._delete(doi)
        return 404, _errors({"status": "404", "title": "The resource you are looking for doesn't exist."})

    def _authorised(self, header: str) -> bool:
        if not header.startswith("Basic "):
            return False
        try:
            user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.repository_id and pw == self.password

    def _record(self, doi: str) -> dict[str, Any]:
        return {"data": {"id": doi, "type": "dois", "attributes": self.dois[doi]}}

    def _create(self, doc: Any) -> tuple[int, Any]:
        data = (doc or {}).get("data") if isinstance(doc, dict) else None
        if not isinstance(data, dict) or data.get("type") != "dois":
            return 400, _errors(
                {"status": "400", "title": "You need to provide a payload following the JSONAPI spec"}
            )
        attrs = dict(data.get("attributes") or {})
        event = attrs.pop("event", None)
        doi = str(attrs.get("doi") or "").lower()
        if not doi:
            return 422, _errors({"source": "doi", "title": "Can't be blank"})
        if doi.split("/")[0] not in self.prefixes:
            return 403, _errors({"status": "403", "title": "You are not authorized to access this resource."})
        if doi in self.dois:
            if self.duplicate_status == 409:
                return 409, _errors({"status": "409", "title": "This DOI has already been taken"})
            return 422, _errors({"source": "doi", "title": "This DOI has already been taken", "uid": doi})
        attrs["doi"] = doi
        attrs["state"] = "draft"
        problems = self._apply_event(attrs, event)
        if problems:
            return 422, _errors(*problems)
        self.dois[doi] = attrs
        return 201, self._record(doi)

    def _update(self, doi: str, doc: Any) -> tuple[int, Any]:
        if doi not in self.dois:
            return 404, _errors({"status": "404", "title": "The resource you are looking for doesn't exist."})
        data = (doc or {}).get("data") if isinstance(doc, dict) else None
        if not isinstance(data, dict):
            return 400, _errors(
                {"status": "400", "title": "You need to provide a payload following the JSONAPI spec"}
            )
        attrs = {**self.dois[doi], **(data.get("attributes") or {})}
        event = attrs.pop("event", None)
        attrs["doi"] = doi
        problems = self._apply_event(attrs, event)
        if problems:
            return 422, _errors(*problems)
        self.dois[doi] = attrs
        return 200, self._record(doi)

    def _apply_event(self, attrs: dict[str, Any], event: str | None) -> list[dict[str, str]]:
        if event is None:
            return []
        if event == "hide":
            if attrs["state"] == "findable":
                attrs["state"] = "registered"
            return []
        if event not in ("publish", "register"):
            return [{"source": "event", "title": f"Event {event!r} is not supported"}]
        problems = [
            {"source": k, "title": "Can't be blank", "uid": attrs["doi"]}
            for k in REQUIRED_FOR_FINDABLE
            if not attrs.get(k)
        ]
        if not (attrs.get("types") or {}).get("resourceTypeGeneral"):
            problems.append(
                {"source": "types", "title": "Resource type general can't be blank", "uid": attrs["doi"]}
            )
        host = urlsplit(str(attrs.get("url") or "")).hostname or ""
        if self.domains is not None and attrs.get("url") and host not in self.domains:
            problems.append(
                {
                    "source": "url",
                    "title": "URL is not allowed by repository domain settings.",
                    "uid": attrs["doi"],
                }
            )
        if problems:
            return problems
        attrs["state"] = "findable" if event == "publish" else "registered"
        return []

    def _show(self, doi: str) -> tuple[int, Any]:
        if doi not in self.dois:
            return 404, _errors({"status": "404", "title": "The resource you are looking for doesn't exist."})
        return 200, self._record(doi)

    def _delete(self, doi: str) -> tuple[int, Any]:
        if doi not in self.dois:
            return 404, _errors({"status": "404", "title": "The resource you are looking for doesn't exist."})
        if self.dois[doi]["state"] != "draft":
            return 405, _errors({"status": "405", "title": "Method not allowed"})
        del self.dois[doi]
        return 204, None


def _errors(*errs: dict[str, str]) -> dict[str, Any]:
    return {"errors": list(errs)}


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeDataCite

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload = self.server_fake.handle(self.command, self.path, headers, body)
        if payload is None:
            raw = b""
        elif isinstance(payload, (bytes, str)):
            raw = payload.encode() if isinstance(payload, str) else payload
        else:
            raw = json.dumps(payload).encode()
        self.send_response(status)
        if raw:
            ctype = JSONAPI if not isinstance(payload, (bytes, str)) else "text/html"
            self.send_header("Content-Type", f"{ctype}; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if raw:
            self.wfile.write(raw)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass
