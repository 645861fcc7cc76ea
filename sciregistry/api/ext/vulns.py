"""/api/v1 routes of vulnerability scanning and advisories (registered on the /api/v1 blueprint).

    GET  /api/v1/images/<repo>@<digest>/vulnerabilities   scan state and findings of one image
    POST /api/v1/images/<repo>@<digest>/scan              queue a scan now (push permission)
    GET  /api/v1/vulnerabilities/<id>                     one record of the vulnerability database
    GET  /api/v1/vulnerabilities/<id>/affected            images -> runs -> results -> DOIs
    GET  /api/v1/advisories/<id>                          the same, for scientific advisories
    GET  /api/v1/advisories/<id>/affected
    GET  /api/v1/vulndb                                   generation, record count, queue state

Everything is filtered by what the caller may read: a private image's findings, runs and DOIs are
invisible (as if absent) to whoever cannot pull that repository.
"""

from __future__ import annotations

from flask import Response

from sciregistry.api.ext.routes import bp, json_response, query, services, split_ref


def _record_id(record_id: str) -> str:
    return record_id  # its pattern is checked against docs/openapi.yaml before the view runs


@bp.get("/images/<path:ref>/vulnerabilities")
def image_vulnerabilities(ref: str) -> Response:
    repo, digest = split_ref(ref)
    services().gate.authorize(repo, "pull", hide=True, digest=digest)
    return json_response(services().vulns.image(repo, digest))


@bp.post("/images/<path:ref>/scan")
def scan_image(ref: str) -> Response:
    repo, digest = split_ref(ref)
    services().gate.authorize(repo, "push")
    services().vulns.enqueue(repo, digest)
    services().audit(action="image.scan", target=f"{repo}@{digest}")
    return json_response({"repository": repo, "digest": digest, "state": "queued"}, 202)


def _affected(record_id: str) -> Response:
    gate = services().gate
    doc = services().vulns.affected(_record_id(record_id), gate.can_read, limit=query("limit", 100))
    return json_response(doc)


@bp.get("/vulnerabilities/<record_id>")
def vulnerability(record_id: str) -> Response:
    return json_response(services().vulns.record(_record_id(record_id)))


@bp.get("/vulnerabilities/<record_id>/affected")
def vulnerability_affected(record_id: str) -> Response:
    return _affected(record_id)


@bp.get("/advisories/<record_id>")
def advisory(record_id: str) -> Response:
    return json_response(services().vulns.record(_record_id(record_id)))


@bp.get("/advisories/<record_id>/affected")
def advisory_affected(record_id: str) -> Response:
    return _affected(record_id)


@bp.get("/vulndb")
def vulndb_status() -> Response:
    return json_response(services().vulns.status())
