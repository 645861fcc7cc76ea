"""/api/v1 routes. Errors are ``{"errors":[{"code","message","detail"}]}`` with sciregistry's codes."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, Response, current_app, g, request

from sciregistry import metrics
from sciregistry.api.ext.contract import bundled_document, contract
from sciregistry.errors import BadRequest, Denied, NotFound, RegistryError
from sciregistry.oci import is_digest, validate_name

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")


@bp.record_once
def _load_contract(state: Any) -> None:
    contract()  # a broken document stops the app at start, not a request


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


_PATH_ARG = re.compile(r"<(?:[^:<>]+:)?([a-z_]+)>")
MAX_BODY = 1 << 20  # JSON bodies of /api/v1 are small: a mint request, a reason


@bp.before_request
def _check_contract() -> None:
    """Every request is checked against docs/openapi.yaml before its view runs (api/ext/contract.py);
    the views read their query parameters, parsed, from ``query()``."""
    rule = request.url_rule
    g.api_query = {}
    if rule is None:
        return
    has_body = (
        bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    )
    body = None
    if has_body and request.method in ("POST", "PUT", "PATCH"):
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise BadRequest(f"the body exceeds {MAX_BODY} bytes", status=413)
        if not request.is_json:
            raise BadRequest("the body must be JSON (Content-Type: application/json)", status=415)
        body = _json_body()
        if body is None:
            raise BadRequest("the body is not valid JSON")
        try:  # JSON allows \\ud800 alone; no database stores an unpaired surrogate
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadRequest(
                "the body holds an unpaired UTF-16 surrogate (\\ud800-\\udfff), which is not text"
            ) from exc
    g.api_query = contract().check(
        _PATH_ARG.sub(r"{\1}", rule.rule),
        request.method,
        request.view_args or {},
        request.args,
        body,
        has_body,
    )


def query(name: str, default: Any = None) -> Any:
    """A query parameter of this request, parsed and checked against the document."""
    return g.api_query.get(name, default)


def _json_body() -> Any:
    """The request's JSON body, or None when it is missing or not JSON (too deeply nested included)."""
    try:
        return request.get_json(silent=True, cache=True)
    except RecursionError:
        return None


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """This API's OpenAPI 3.1 document, self-contained (for viewers and client generators)."""
    doc = dict(bundled_document())
    doc["servers"] = [{"url": "/", "description": "this registry"}]  # relative: never a Host header's name
    return json_response(doc, headers={"Cache-Control": "no-cache"})


@bp.get("/runs")
def list_runs() -> Response:
    gate = services().gate
    repository = query("repository")
    if repository:
        gate.authorize(repository, "pull", hide=True)
    items, cursor = services().runs.search(
        repository=repository,
        image=query("image"),
        dataset=query("dataset"),
        parameter=query("parameter"),
        value=query("value"),
        agent=query("agent"),
        started_after=query("started_after"),
        started_before=query("started_before"),
        limit=query("limit", 50),
        after=query("cursor"),
        visible=gate.visible_names(),
    )
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
    gate = services().gate
    gate.authorize(repo, "pull", hide=True, digest=digest)
    node = services().runs.lineage(repo, digest, can_read=_lineage_reader())
    node["downstream"] = [r for r in node["downstream"] if gate.can_read(r["repository"])]
    return json_response(node)


def _lineage_reader() -> Any:
    """Who may see each lineage node: the caller's read access; a reviewer token also reads the
    nodes its DOI pins (the root was authorized by the route)."""
    gate = services().gate
    check = gate.read_check()
    if check is None:
        return None
    principal = gate.principal()
    if principal.kind == "reviewer":
        pins = principal.pins
        return lambda name: any(r == name for r, _ in pins)
    return check


@bp.get("/impact/<path:ref>")
def impact(ref: str) -> Response:
    if "@" in ref:
        repo, digest = split_ref(ref)
        services().gate.authorize(repo, "pull", hide=True, digest=digest)
    else:  # the document's pattern admits only a digest or <repository>@<digest>
        digest = ref
    limit = query("limit", 100)
    gate = services().gate
    # count only what the caller may read: totals of private runs would be an existence oracle
    result = services().runs.impact(digest, limit=limit, after=query("cursor"), visible=gate.visible_names())
    if result["next"] is not None:
        result["next"] = f"{request.path}?cursor={result['next']}&limit={limit}"
    result["results"] = [{"repository": repo, "digest": d} for repo, d in result["results"]]
    dois = services().dois
    result["dois"] = (
        dois.for_results([(r["repository"], r["digest"]) for r in result["results"]]) if dois else []
    )
    return json_response(result)


@bp.errorhandler(RegistryError)
def _error(err: RegistryError) -> Response:
    resp = json_response({"errors": [err.to_dict()]}, err.http_status)
    resp.headers.update(err.headers)
    if err.http_status == 401:
        resp.headers.setdefault("WWW-Authenticate", services().gate.challenge())
    return resp


def not_found(exc: Exception) -> Response:
    """A path no route serves, outside /v2 (``app.py`` registers it for 404)."""
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
    if creators is not None and (
        not isinstance(creators, list) or not all(isinstance(c, dict) for c in creators)
    ):
        raise BadRequest("creators must be a list of objects {name | given_name+family_name, orcid?}")
    for key in ("title", "description", "supersedes"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise BadRequest(f"{key} must be a string")
    _mint_policy(repo, digest, body.get("override_policy"))
    if not isinstance(body.get("test", False), bool):
        raise BadRequest("test must be true or false")
    record = services().dois.mint(
        repo,
        digest,
        title=body.get("title"),
        creators=creators,
        description=body.get("description") or "",
        supersedes=body.get("supersedes"),
        created_by=gate.principal_name(),
        can_read=gate.read_check(),
        test=bool(body.get("test", False)),
    )
    services().audit(action="doi.mint", target=record.doi, detail={"reference": f"{repo}@{digest}"})
    return json_response(record.to_dict(), 201, {"Location": f"/doi/{record.doi}"})


def _visible_concept(record: Any) -> Any | None:
    """A concept DOI as the caller may see it: only the versions they may read (None when that is
    none of them: a concept DOI of private results is as hidden as they are)."""
    dois, gate = services().dois, services().gate
    visible = []
    for v in record.versions:
        version = dois.get(v)
        if version.repository and gate.can_read_doi(version.repository, version.doi):
            visible.append(version)
    if not visible:
        return None
    return dois.restrict_versions(record, [v.doi for v in visible])


def _mint_policy(repo: str, digest: str, override: Any) -> None:
    """The namespace's vulnerability policy (``sciregistry vulndb policy``): refuse, unless an
    administrator overrides it with a reason (recorded in the audit log)."""
    vulns = services().vulns
    problems = vulns.policy_problems(repo, digest) if vulns is not None else []
    if not problems:
        return
    if not isinstance(override, str) or not override.strip():
        raise Denied(
            f"the policy of namespace {repo.split('/', 1)[0]} refuses a DOI for this result: "
            f"{'; '.join(problems[:5])}",
            {"problems": problems, "override": "an administrator may send override_policy: <reason>"},
        )
    services().gate.require_admin()
    services().audit(
        action="doi.policy_override",
        target=f"{repo}@{digest}",
        detail={"reason": override, "problems": problems},
    )


@bp.get("/dois")
def list_dois() -> Response:
    repository = query("repository")
    gate = services().gate
    records = []
    for r in services().dois.list_records(repository, query("limit", 100)):
        if r.is_concept:
            r = _visible_concept(r)
        elif not (r.repository and gate.can_read_doi(r.repository, r.doi)):
            r = None
        if r is not None:
            records.append(r.to_dict())
    return json_response({"items": records})


@bp.get("/dois/<prefix>/<suffix>")
def get_doi(prefix: str, suffix: str) -> Response:
    record = services().dois.get(_doi_path(prefix, suffix))
    if record.is_concept:
        visible = _visible_concept(record)
        if visible is None:
            services().gate.authorize(None, "login")  # anonymous: 401 (sign in); else as if missing
            raise NotFound(f"DOI {record.doi} is not registered here")
        record = visible
    elif record.repository:
        services().gate.authorize(record.repository, "pull", hide=True, doi=record.doi)
    doc = record.to_dict()
    vulns = services().vulns
    if vulns is not None:  # scientific advisories about a tool version the run used
        doc["advisories"] = vulns.notices_for_run(record.run_id)
    return json_response(doc)


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
    pins = [p for p in svc.dois.pins(record.doi) if svc.gate.can_read_pinned(p["repository"], p["digest"])]
    return json_response(
        {"doi": record.to_dict(), "run": run, "pins": pins, "registry": svc.config.resolved_registry_host}
    )


@bp.post("/dois/<prefix>/<suffix>/tombstone")
def tombstone_doi(prefix: str, suffix: str) -> Response:
    services().gate.require_admin()
    body = _json_body() or {}
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str) or not reason.strip():
        raise BadRequest('body must be JSON {"reason": "..."}')
    record = services().dois.tombstone(_doi_path(prefix, suffix), reason)
    accounts = services().accounts
    if accounts is not None:
        accounts.credentials_changed()  # its reviewer tokens stop now in this process (others: cache_ttl)
    services().audit(action="doi.tombstone", target=record.doi, detail={"reason": reason})
    return json_response(record.to_dict())


@bp.post("/gc")
def run_gc() -> Response:
    services().gate.require_admin()
    from sciregistry.errors import Conflict
    from sciregistry.registry.gc import collect_exclusive

    cfg = services().config
    with metrics.gc_pass() as gc_pass:
        report = gc_pass.report = collect_exclusive(
            services().registry,
            grace=cfg.gc_grace_seconds,
            upload_max_age=cfg.upload_max_age,
            dry_run=query("dry_run", False),
            delete_untagged=query("delete_untagged", False),
            dois=services().dois,
        )
    if report is None:
        raise Conflict("another gc pass is running (online gc, the CLI or another node); retry later")
    return json_response(report.to_dict())


@bp.get("/search")
def search() -> Response:
    """Full-text search over what the caller may read (the same index and ranking as /search)."""
    from sciregistry.api.web.access import reader

    q = query("q", "")
    kind = query("kind")
    page = query("page", 1)
    per_page = query("per_page", 20)
    result = services().search.search(q, reader=reader(), kind=kind, page=page, per_page=per_page)
    return json_response(result.to_dict())
