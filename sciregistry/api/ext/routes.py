"""/api/v1 routes. Errors are ``{"errors":[{"code","message","detail"}]}`` with sciregistry's codes."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, request

from sciregistry.errors import BadRequest, NotFound, RegistryError
from sciregistry.oci import is_digest, validate_name

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")


def services() -> Any:
    return current_app.extensions["sciregistry"]


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(doc), status=status, mimetype="application/json", headers=headers)


def split_ref(ref: str) -> tuple[str, str]:
    """``repo@sha256:...`` (optionally prefixed with a registry host) -> (repo, digest)."""
    if "@" not in ref:
        raise BadRequest("reference must be <repository>@<digest>", {"reference": ref[:300]})
    repo, digest = ref.rsplit("@", 1)
    first, _, rest = repo.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        repo = rest
    try:
        validate_name(repo)
    except RegistryError as exc:
        raise BadRequest("invalid repository name", {"repository": repo[:300]}) from exc
    if not is_digest(digest):
        raise BadRequest("invalid digest", {"digest": digest[:200]})
    return repo, digest


def _datetime_arg(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if value.tzinfo is None:
            raise BadRequest(f"{name} needs a timezone (e.g. 2026-01-01T00:00:00Z)")
        return value.astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # OverflowError: 0001-01-01T00:00+14:00 is before year 1 in UTC
        raise BadRequest(f"{name} must be an ISO 8601 date-time", {name: raw[:100]}) from exc


INT64_MAX = 2**63 - 1


def _int_arg(name: str, default: int | None = None, *, lo: int = 0, hi: int = INT64_MAX) -> int | None:
    """A non-negative integer query parameter in [lo, hi] (a database integer never overflows)."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"[0-9]{1,19}", raw) or not lo <= int(raw) <= hi:
        raise BadRequest(f"{name} must be an integer from {lo} to {hi}", {name: raw[:50]})
    return int(raw)


def _limit_arg(default: int) -> int:
    return _int_arg("limit", default, lo=1, hi=1000) or default


def _json_body() -> Any:
    """The request's JSON body, or None when it is missing or not JSON (too deeply nested included)."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        return None


@bp.get("/runs")
def list_runs() -> Response:
    gate = services().gate
    repository = request.args.get("repository")
    if repository:
        gate.authorize(repository, "pull")
    limit = _limit_arg(50)
    items, cursor = services().runs.search(
        repository=repository, image=request.args.get("image"), dataset=request.args.get("dataset"),
        parameter=request.args.get("parameter"), value=request.args.get("value"),
        agent=request.args.get("agent"), started_after=_datetime_arg("started_after"),
        started_before=_datetime_arg("started_before"), limit=limit, after=_int_arg("cursor"),
        visible=gate.visible_names())
    nxt = None
    if cursor is not None:
        args = request.args.to_dict()
        args["cursor"] = str(cursor)
        from urllib.parse import urlencode

        nxt = f"{request.path}?{urlencode(args)}"
    return json_response({"items": items, "next": nxt})


@bp.get("/runs/<int(max=9223372036854775807):run_id>")
def get_run(run_id: int) -> Response:
    run = services().runs.get(run_id)
    services().gate.authorize(run["repository"], "pull", hide=True, digest=run["result_digest"])
    return json_response(run)


@bp.get("/lineage/<path:ref>")
def lineage(ref: str) -> Response:
    repo, digest = split_ref(ref)
    services().gate.authorize(repo, "pull", hide=True, digest=digest)
    node = services().runs.lineage(repo, digest)
    node["downstream"] = [r for r in node["downstream"] if services().gate.can_read(r["repository"])]
    return json_response(node)


@bp.get("/impact/<path:ref>")
def impact(ref: str) -> Response:
    if "@" in ref:
        repo, digest = split_ref(ref)
        services().gate.authorize(repo, "pull", hide=True, digest=digest)
    elif is_digest(ref):
        digest = ref
    else:
        raise BadRequest("give a digest or <repository>@<digest>")
    limit = _limit_arg(100)
    result = services().runs.impact(digest, limit=limit, after=_int_arg("cursor"))
    if result["next"] is not None:
        result["next"] = f"{request.path}?cursor={result['next']}&limit={limit}"
    gate = services().gate
    result["runs"] = [r for r in result["runs"] if gate.can_read(r["repository"])]
    result["results"] = [{"repository": repo, "digest": d} for repo, d in result["results"] if gate.can_read(repo)]
    dois = services().extra.get("dois")
    result["dois"] = dois.for_results([(r["repository"], r["digest"]) for r in result["results"]]) if dois else []
    return json_response(result)


@bp.errorhandler(RegistryError)
def _error(err: RegistryError) -> Response:
    resp = json_response({"errors": [err.to_dict()]}, err.http_status)
    resp.headers.update(err.headers)
    if err.http_status == 401:
        resp.headers.setdefault("WWW-Authenticate", services().gate.challenge())
    return resp


@bp.app_errorhandler(404)
def _not_found(exc: Exception) -> Response:
    if request.path.startswith("/v2"):
        from sciregistry.api.v2.errors import from_http_exception, render
        from sciregistry.errors import NameInvalid

        if "//" in request.path:
            return render(NameInvalid("invalid repository name (empty path component)"))
        return render(from_http_exception(exc))  # type: ignore[arg-type]
    return json_response({"errors": [NotFound(f"no such endpoint: {request.path}").to_dict()]}, 404)


# --- DOIs ----------------------------------------------------------------------------------------

def _doi_path(prefix: str, suffix: str) -> str:
    return f"{prefix}/{suffix}".lower()


@bp.post("/dois")
def mint_doi() -> Response:
    body = _json_body()
    if not isinstance(body, dict) or not isinstance(body.get("reference"), str):
        raise BadRequest('body must be JSON {"reference": "<repository>@<digest>", ...}')
    repo, digest = split_ref(body["reference"])
    gate = services().gate
    gate.authorize(repo, "push")
    creators = body.get("creators")
    if creators is not None and (not isinstance(creators, list) or not all(isinstance(c, dict) for c in creators)):
        raise BadRequest("creators must be a list of objects {name | given_name+family_name, orcid?}")
    for key in ("title", "description", "supersedes"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise BadRequest(f"{key} must be a string")
    record = services().dois.mint(repo, digest, title=body.get("title"), creators=creators,
                                  description=body.get("description") or "", supersedes=body.get("supersedes"),
                                  created_by=gate.principal_name())
    services().audit(action="doi.mint", target=record.doi, detail={"reference": f"{repo}@{digest}"})
    return json_response(record.to_dict(), 201, {"Location": f"/doi/{record.doi}"})


@bp.get("/dois")
def list_dois() -> Response:
    repository = request.args.get("repository")
    gate = services().gate
    records = [r.to_dict() for r in services().dois.list(repository, _limit_arg(100))
               if r.repository is None or gate.can_read(r.repository)]
    return json_response({"items": records})


@bp.get("/dois/<prefix>/<suffix>")
def get_doi(prefix: str, suffix: str) -> Response:
    record = services().dois.get(_doi_path(prefix, suffix))
    if record.repository:
        services().gate.authorize(record.repository, "pull", hide=True, doi=record.doi)
    return json_response(record.to_dict())


@bp.get("/dois/<prefix>/<suffix>/closure")
def doi_closure(prefix: str, suffix: str) -> Response:
    """Everything a reviewer needs: the DOI record, the run (image, parameters, inputs, outputs) and
    every pinned object."""
    svc = services()
    record = svc.dois.get(_doi_path(prefix, suffix))
    if record.is_concept:
        if not record.latest:
            raise NotFound(f"concept DOI {record.doi} has no versions")
        record = svc.dois.get(record.latest)
    svc.gate.authorize(record.repository, "pull", hide=True, doi=record.doi)
    run = svc.runs.get(record.run_id) if record.run_id else None
    return json_response({"doi": record.to_dict(), "run": run, "pins": svc.dois.pins(record.doi),
                          "registry": svc.config.resolved_registry_host})


@bp.post("/dois/<prefix>/<suffix>/tombstone")
def tombstone_doi(prefix: str, suffix: str) -> Response:
    services().gate.require_admin()
    body = _json_body() or {}
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str) or not reason.strip():
        raise BadRequest('body must be JSON {"reason": "..."}')
    record = services().dois.tombstone(_doi_path(prefix, suffix), reason)
    services().audit(action="doi.tombstone", target=record.doi, detail={"reason": reason})
    return json_response(record.to_dict())


@bp.post("/gc")
def run_gc() -> Response:
    services().gate.require_admin()
    from sciregistry.registry.gc import collect

    cfg = services().config
    report = collect(services().registry, grace=cfg.gc_grace_seconds, upload_max_age=cfg.upload_max_age,
                     dry_run=request.args.get("dry_run", "false").lower() in ("1", "true", "yes"),
                     delete_untagged=request.args.get("delete_untagged", "false").lower() in ("1", "true", "yes"),
                     dois=services().extra.get("dois"))
    return json_response(report.to_dict())
