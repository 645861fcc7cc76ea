"""DOI minters: the :class:`Minter` protocol, an offline :class:`LocalMinter` and the
DataCite REST API client :class:`DataCiteMinter`.

Lifecycle (DESIGN section 6; DataCite DOI states https://support.datacite.org/docs/doi-states):
``reserve`` creates a *draft* (not resolvable, deletable); ``publish`` makes it *findable*
once the run crate has validated; ``update`` changes metadata keeping the state;
``tombstone`` withdraws: a findable DOI is never deleted, it keeps resolving (to a
tombstone page when ``url`` is given) and gets a ``Withdrawn`` date with the reason; only a
draft is deleted. Every method validates the metadata against DataCite 4.5 first and raises
:class:`MetadataInvalid` before anything is sent. DOIs are returned lower-case.

DataCite REST API (https://support.datacite.org/docs/api-create-dois,
https://support.datacite.org/reference/post_dois): JSON:API bodies
``{"data": {"type": "dois", "attributes": {...}}}``, ``Content-Type: application/vnd.api+json``,
HTTP Basic auth with the repository ID and password. Draft: ``POST /dois`` without
``event``; publish: ``PUT /dois/<doi>`` with ``"event": "publish"``. Errors come back as
``{"errors": [{"status", "title", "source"}]}``; they are mapped once, here:

==========================================  ==================================
DataCite answer                             raised
==========================================  ==================================
409, or 422 "This DOI has already been      :class:`Conflict` (``reserve`` retries
taken" (what DataCite actually sends)        with a fresh suffix when it chose it)
400, 422                                    :class:`MetadataInvalid`
401, 403, 404, 429, 5xx, other              :class:`UpstreamError`
connection refused, timeout                 :class:`UpstreamError`
==========================================  ==================================
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import requests

from sciregistry.doi.identifiers import generate_suffix, is_valid_prefix, normalize_doi, split_doi
from sciregistry.doi.metadata import DoiMetadata
from sciregistry.doi.validation import check_metadata
from sciregistry.errors import (
    BadRequest,
    Conflict,
    MetadataInvalid,
    RegistryError,
    UpstreamError,
)

__all__ = ["JSONAPI_MEDIA_TYPE", "DataCiteMinter", "LocalMinter", "Minter"]

JSONAPI_MEDIA_TYPE = "application/vnd.api+json"
_TAKEN = "has already been taken"


@runtime_checkable
class Minter(Protocol):
    """What the registry needs from a DOI registration agency."""

    prefix: str

    def new_doi(self) -> str:
        """A fresh, unused-looking DOI under :attr:`prefix` (not registered anywhere yet)."""
        ...

    def reserve(self, meta: DoiMetadata) -> str:
        """Register a draft DOI (``meta.doi``, or a new one when None); return it lower-case."""
        ...

    def publish(self, doi: str, meta: DoiMetadata) -> None:
        """Make ``doi`` findable with ``meta``."""
        ...

    def update(self, doi: str, meta: DoiMetadata) -> None:
        """Replace the metadata of ``doi``, keeping its state."""
        ...

    def tombstone(self, doi: str, reason: str, *, url: str | None = None) -> None:
        """Withdraw ``doi``: never deleted once findable; ``url`` points at a tombstone page."""
        ...


def _check_prefix(prefix: str) -> str:
    if not is_valid_prefix(prefix):
        raise ValueError(f"not a DOI prefix: {prefix!r} (expected 10.<4-9 digits>)")
    return prefix


def _assign(meta: DoiMetadata, doi: str, prefix: str) -> DoiMetadata:
    """``meta`` carrying ``doi``; refuses a DOI outside ``prefix`` or disagreeing with ``meta.doi``."""
    try:
        norm = normalize_doi(doi)
    except BadRequest as exc:
        raise MetadataInvalid(exc.text) from exc
    if split_doi(norm)[0] != prefix:
        raise MetadataInvalid(f"DOI {norm} is not under this minter's prefix {prefix}")
    if meta.doi and normalize_doi(meta.doi) != norm:
        raise MetadataInvalid(f"metadata is for DOI {normalize_doi(meta.doi)}, not {norm}")
    return meta.with_doi(norm)


def _check_reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise BadRequest("a tombstone needs a reason")
    return reason.strip()


class LocalMinter:
    """Offline minter for test prefixes (``10.5072`` is DataCite's test prefix) and private
    deployments: it generates and validates; DOI state lives with the caller (the registry's
    database). Suffixes are random Crockford base32 ``xxxx-xxxx``."""

    def __init__(self, prefix: str = "10.5072", *, randbits: Callable[[int], int] | None = None) -> None:
        self.prefix = _check_prefix(prefix)
        self._randbits = randbits

    def new_doi(self) -> str:
        suffix = generate_suffix(self._randbits) if self._randbits else generate_suffix()
        return f"{self.prefix}/{suffix}"

    def reserve(self, meta: DoiMetadata) -> str:
        attrs = check_metadata(_assign(meta, meta.doi or self.new_doi(), self.prefix))
        return str(attrs["doi"])

    def publish(self, doi: str, meta: DoiMetadata) -> None:
        check_metadata(_assign(meta, doi, self.prefix))

    def update(self, doi: str, meta: DoiMetadata) -> None:
        check_metadata(_assign(meta, doi, self.prefix))

    def tombstone(self, doi: str, reason: str, *, url: str | None = None) -> None:
        norm = normalize_doi(doi)
        if split_doi(norm)[0] != self.prefix:
            raise BadRequest(f"DOI {norm} is not under this minter's prefix {self.prefix}")
        _check_reason(reason)


class DataCiteMinter:
    """Registers DOIs with the DataCite REST API (production ``https://api.datacite.org``,
    test ``https://api.test.datacite.org``).

    ``reserve`` with ``meta.doi`` None picks a Crockford suffix itself (so the DOI is known
    before the request) and retries up to ``max_attempts`` times on "already taken". When the
    landing-page ``url`` must contain the DOI, call :meth:`new_doi` first and set ``meta.doi``.
    """

    def __init__(
        self,
        api_url: str,
        repository_id: str,
        password: str,
        prefix: str,
        timeout: float = 10,
        *,
        session: requests.Session | None = None,
        max_attempts: int = 3,
        user_agent: str = "sciregistry (DataCite REST client)",
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.repository_id = repository_id
        self.prefix = _check_prefix(prefix)
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self._auth = (repository_id, password)
        self._session = session or requests.Session()
        self._headers = {
            "Content-Type": JSONAPI_MEDIA_TYPE,
            "Accept": JSONAPI_MEDIA_TYPE,
            "User-Agent": user_agent,
        }

    # -- protocol ---------------------------------------------------------------------------

    def new_doi(self) -> str:
        return f"{self.prefix}/{generate_suffix()}"

    def reserve(self, meta: DoiMetadata) -> str:
        chosen_by_us = not meta.doi
        attempts = self.max_attempts if chosen_by_us else 1
        for attempt in range(1, attempts + 1):
            attrs = check_metadata(_assign(meta, meta.doi or self.new_doi(), self.prefix))
            try:
                answer = self._request("POST", "/dois", {"data": {"type": "dois", "attributes": attrs}})
            except Conflict:
                if attempt == attempts:
                    raise
                continue
            return self._doi_of(answer, attrs["doi"])
        raise AssertionError("unreachable")  # pragma: no cover

    def publish(self, doi: str, meta: DoiMetadata) -> None:
        attrs = check_metadata(_assign(meta, doi, self.prefix))
        norm = attrs["doi"]
        self._request(
            "PUT",
            self._path(norm),
            {"data": {"id": norm, "type": "dois", "attributes": {**attrs, "event": "publish"}}},
        )

    def update(self, doi: str, meta: DoiMetadata) -> None:
        attrs = check_metadata(_assign(meta, doi, self.prefix))
        norm = attrs["doi"]
        self._request("PUT", self._path(norm), {"data": {"id": norm, "type": "dois", "attributes": attrs}})

    def tombstone(self, doi: str, reason: str, *, url: str | None = None) -> None:
        """Delete a draft; otherwise add a ``Withdrawn`` date (``dateInformation`` = reason) and
        point ``url`` at the tombstone page when given. The DOI keeps its state and resolves."""
        norm = normalize_doi(doi)
        why = _check_reason(reason)
        record = self._request("GET", self._path(norm), None) or {}
        attrs = _attrs_of(record)
        if attrs.get("state") == "draft":
            self._request("DELETE", self._path(norm), None)
            return
        dates = [d for d in attrs.get("dates") or [] if d.get("dateType") != "Withdrawn"]
        dates.append({"date": _dt.date.today().isoformat(), "dateType": "Withdrawn", "dateInformation": why})
        change: dict[str, Any] = {"dates": dates}
        if url:
            change["url"] = url
        self._request("PUT", self._path(norm), {"data": {"id": norm, "type": "dois", "attributes": change}})

    # -- HTTP -------------------------------------------------------------------------------

    def get(self, doi: str) -> dict[str, Any]:
        """The ``data.attributes`` DataCite holds for ``doi``."""
        norm = normalize_doi(doi)
        return _attrs_of(self._request("GET", self._path(norm), None) or {})

    @staticmethod
    def _path(doi: str) -> str:
        return "/dois/" + quote(doi, safe="/")

    @staticmethod
    def _doi_of(answer: Mapping[str, Any] | None, sent: str) -> str:
        data = (answer or {}).get("data") or {}
        got = (data.get("attributes") or {}).get("doi") or data.get("id") or sent
        return normalize_doi(got)

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None) -> dict[str, Any] | None:
        url = self.api_url + path
        try:
            resp = self._session.request(
                method,
                url,
                data=None if body is None else json.dumps(body).encode("utf-8"),
                headers=self._headers
                if body is not None
                else {"Accept": JSONAPI_MEDIA_TYPE, "User-Agent": self._headers["User-Agent"]},
                auth=self._auth,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise UpstreamError(
                f"DataCite did not answer {method} {path} within {self.timeout} s",
                detail={"upstream": "datacite", "url": url},
            ) from exc
        except requests.ConnectionError as exc:
            raise UpstreamError(
                f"cannot reach DataCite at {self.api_url} ({method} {path}): {exc}",
                detail={"upstream": "datacite", "url": url},
            ) from exc
        except requests.RequestException as exc:
            raise UpstreamError(
                f"DataCite request {method} {path} failed: {exc}", detail={"upstream": "datacite", "url": url}
            ) from exc
        if resp.status_code >= 400:
            raise _map_error(method, path, resp)
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            parsed = resp.json()
        except ValueError as exc:
            raise UpstreamError(
                f"DataCite answered {method} {path} with {resp.status_code} and a body that is not JSON",
                detail={"upstream": "datacite", "url": url},
            ) from exc
        return parsed if isinstance(parsed, dict) else None


def _attrs_of(doc: Mapping[str, Any]) -> dict[str, Any]:
    data = doc.get("data")
    if isinstance(data, Mapping) and isinstance(data.get("attributes"), Mapping):
        return dict(data["attributes"])
    return {}


def _error_titles(resp: requests.Response) -> tuple[list[dict[str, Any]], list[str]]:
    try:
        body = resp.json()
    except ValueError:
        text = resp.text.strip()[:300]
        return [], [text] if text else []
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return [], [json.dumps(body)[:300]]
    titles = []
    for e in errors:
        if not isinstance(e, dict):
            continue
        title = str(e.get("title") or e.get("detail") or "error")
        source = e.get("source")
        if isinstance(source, dict):  # JSON:API allows {"pointer": ...}
            source = source.get("pointer") or source.get("parameter")
        titles.append(f"{source}: {title}" if source else title)
    return [e for e in errors if isinstance(e, dict)], titles


def _map_error(method: str, path: str, resp: requests.Response) -> RegistryError:
    status = resp.status_code
    errors, titles = _error_titles(resp)
    said = "; ".join(titles) if titles else resp.reason or "no error body"
    detail = {"upstream": "datacite", "status": status, "errors": errors or titles}
    text = f"DataCite answered {method} {path} with {status}: {said}"
    if status == 409 or (status == 422 and any(_TAKEN in t for t in titles)):
        return Conflict(text, detail)
    if status in (400, 422):
        return MetadataInvalid(text, detail)
    if status in (401, 403):
        return UpstreamError(
            f"DataCite refused the repository credentials ({method} {path}, {status}): {said}", detail
        )
    return UpstreamError(text, detail)
