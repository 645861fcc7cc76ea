"""``GET /doi/<prefix>/<suffix>``: the landing page of a DOI and its other representations.

Representations (``Accept`` with q-values, or ``?format=`` which wins):

    format       media type                                  body
    html         text/html (default)                          the landing page
    datacite     application/vnd.datacite.datacite+json       DataCite 4.5 attributes, with ``doi``
    ro-crate     application/ld+json                          ro-crate-metadata.json, bytes as pushed
    schema.org   application/ld+json (only via ?format=)      schema.org Dataset JSON-LD
    csl          application/vnd.citationstyles.csl+json      CSL-JSON item
    bibtex       application/x-bibtex                         BibTeX @misc entry
    citation     text/x-bibliography                          APA 7 reference, plain text

- A concept DOI answers HTML with ``302`` to its latest findable version's page and every
  metadata format for itself (its RO-Crate is its latest version's).
- A withdrawn (tombstoned) DOI keeps resolving: ``200`` with a "withdrawn" banner and the reason,
  no download links, no ``item`` links (DataCite: findable DOIs are never deleted). Its citation
  and DataCite/schema.org metadata stay available; its RO-Crate (parameters, files, agent: the
  content) answers ``410 Gone`` (only that representation is gone, the DOI is not).
- An unknown DOI is ``404``: an HTML page or a JSON error, by the negotiated format.
- An ``Accept`` nothing matches gets the HTML page (RFC 9110 section 12.5.1 lets a server
  disregard Accept rather than answer 406); an unknown ``?format=`` is ``400``.
- Every answer about a DOI carries ``Vary: Accept`` and Signposting ``Link`` headers: ``cite-as``,
  ``describedby`` (DataCite, RO-Crate, CSL, BibTeX), ``item`` per output file, ``author`` (ORCID),
  ``type``, ``license``, and RFC 5829 version links.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from flask import Response, current_app, g, render_template, request
from markupsafe import Markup, escape
from werkzeug.wsgi import wrap_file

from sciregistry import doi as doilib
from sciregistry.api.landing import bp
from sciregistry.api.landing.negotiation import BY_NAME, Format, Link, format_links, negotiate
from sciregistry.api.proxies import external_base_url
from sciregistry.errors import BadRequest, NotFound, RegistryError
from sciregistry.oci import Descriptor, routes
from sciregistry.provenance import command as provenance_command
from sciregistry.registry import landing as content

SCHEMA_ORG = "https://schema.org/"
_SCHEMA_TYPES = {
    "Dataset": "Dataset",
    "Software": "SoftwareSourceCode",
    "Collection": "Collection",
    "Image": "ImageObject",
    "Text": "ScholarlyArticle",
    "JournalArticle": "ScholarlyArticle",
}
_TEXT_TYPES = ("application/x-bibtex", "text/x-bibliography")


def services() -> Any:
    return current_app.extensions["sciregistry"]


# --- values shown on the page ----------------------------------------------------------------


@dataclass(frozen=True)
class FileView:
    """One file of a result or dataset: path, size, sha256 (bare hex), media type, download URL."""

    path: str
    size: int
    sha256: str
    media_type: str
    url: str


@dataclass(frozen=True)
class InputView:
    name: str
    repository: str
    digest: str
    reference: str
    files: list[FileView] = field(default_factory=list)
    problem: str | None = None


@dataclass(frozen=True)
class VersionLinks:
    concept: str | None
    previous: str | None
    next: str | None
    latest: str | None
    versions: list[str]


@dataclass
class Subject:
    """The DOI asked for and the version DOI whose content describes it (itself, or a concept's
    latest version)."""

    record: Any
    target: Any | None
    meta: doilib.DoiMetadata
    base_url: str
    registry_host: str
    _result_layers: list[Descriptor] | None = None
    _crate_root: dict[str, Any] | None = None

    @property
    def doi(self) -> str:
        return str(self.record.doi)

    @property
    def withdrawn(self) -> bool:
        return bool(self.record.state == "tombstone")

    @property
    def content_withdrawn(self) -> bool:
        """The DOI, or the version whose content it shows, is withdrawn: no content is offered."""
        return self.withdrawn or (self.target is not None and self.target.state == "tombstone")

    def url(self, doi: str | None = None, fmt: str | None = None) -> str:
        out = f"{self.base_url}/doi/{doi or self.doi}"
        return out + (f"?format={fmt}" if fmt else "")

    def blob_url(self, repository: str, digest: str) -> str:
        return self.base_url + routes.BLOB.url(name=repository, digest=digest)

    # lazily read registry content
    def result_layers(self) -> list[Descriptor]:
        if self._result_layers is None:
            self._result_layers = []
            t = self.target
            if t is not None and t.repository and t.result_digest:
                self._result_layers = (
                    content.manifest_layers(services().registry, t.repository, t.result_digest) or []
                )
        return self._result_layers

    def crate_root(self) -> dict[str, Any]:
        """The root data entity of the run crate (``{}`` when unreadable)."""
        if self._crate_root is None:
            t = self.target
            self._crate_root = (
                content.crate_root(services().registry, t.repository, t.crate_digest)
                if t is not None and t.repository and t.crate_digest
                else {}
            )
        return self._crate_root

    def license_url(self) -> str | None:
        if self.meta.rights and self.meta.rights.rights_uri:
            return self.meta.rights.rights_uri
        lic = self.crate_root().get("license")
        if isinstance(lic, dict):
            lic = lic.get("@id")
        if isinstance(lic, str) and lic.startswith(("http://", "https://")):
            return lic
        return None

    def outputs(self) -> list[FileView]:
        t = self.target
        if t is None or not t.repository:
            return []
        out = []
        for ly in self.result_layers():
            path = content.title(ly)
            if not path or not ly.digest.startswith("sha256:"):
                continue
            out.append(
                FileView(
                    path,
                    ly.size,
                    ly.digest.split(":", 1)[1],
                    ly.media_type or "application/octet-stream",
                    self.blob_url(t.repository, ly.digest),
                )
            )
        return out


#: How the "Pinned content" table names a manifest's role.
_PIN_ROLES = {
    "result": "result",
    "crate": "run crate",
    "image": "pipeline image",
    "index": "image index",
    "dataset": "input dataset",
    "referrer": "referrer (signature, SBOM, report...)",
}


def _readable_pins(pins: list[dict[str, str]]) -> list[dict[str, str]]:
    """The DOI's pins for people: a manifest's kind and role as words, and each blob named by what
    it is to a pinned manifest (``file gc.tsv of the result``, ``config of the pipeline image``)
    instead of ``blob``/``blob``."""
    out = [dict(p) for p in pins]
    parts: dict[str, str] = {}
    for pin in out:
        if pin["kind"] != "manifest":
            continue
        role = _PIN_ROLES.get(pin["role"], pin["role"])
        pin["kind"], pin["role"] = "manifest", role
        for part in content.blob_parts(services().registry, pin["repository"], pin["digest"]):
            if part.part == "config":
                words = f"config of the {role}"
            else:
                words = f"file {part.title} of the {role}" if part.title else f"layer of the {role}"
            parts.setdefault(part.digest, words)
    for pin in out:
        if pin["kind"] == "blob":
            pin["kind"] = "file (blob)"
            pin["role"] = parts.get(pin["digest"], "content of a pinned manifest")
    return out


def _crate_layer(target: Any | None) -> Descriptor | None:
    """The ``ro-crate-metadata.json`` layer descriptor of the target's run crate manifest."""
    if target is None or not target.repository or not target.crate_digest:
        return None
    return content.crate_layer(services().registry, target.repository, target.crate_digest)


# --- request handling ----------------------------------------------------------------------------


def _base_url() -> str:
    cfg = services().config
    return external_base_url(cfg.base_url)


def _choose_format() -> Format:
    name = request.args.get("format")
    if name is not None:
        fmt = BY_NAME.get(name.strip().lower())
        if fmt is None:
            raise BadRequest(
                f"unknown format {name[:50]!r}; use one of: {', '.join(sorted(BY_NAME))}",
                {"formats": sorted(BY_NAME)},
            )
        return fmt
    return negotiate(request.headers.get("Accept")) or BY_NAME["html"]


def _authorize(repository: str | None, doi: str) -> None:
    if repository:
        services().gate.authorize(repository, "pull", hide=True, doi=doi)


def _latest_version(record: Any) -> Any | None:
    """The newest findable version of a concept DOI (the newest withdrawn one when all are)."""
    dois = services().dois
    newest = None
    for v in reversed(record.versions):
        try:
            rec = dois.get(v)
        except NotFound:
            continue
        if rec.state == "findable":
            return rec
        newest = newest or rec
    return newest


def _load(prefix: str, suffix: str) -> Subject:
    try:
        doi = doilib.normalize_doi(f"{prefix}/{suffix}")
    except BadRequest as exc:
        raise NotFound(f"{prefix}/{suffix} is not a DOI", {"doi": f"{prefix}/{suffix}"[:200]}) from exc
    svc = services()
    record = svc.dois.get(doi)
    target = record
    if record.is_concept:
        target = _latest_version(record)
        _authorize(target.repository if target is not None else None, record.doi)
    else:
        _authorize(record.repository, record.doi)
    meta = doilib.from_datacite_json(record.metadata)
    if is_local_doi(record.doi, svc.config.doi_minter):  # doi.org never resolves it: cite the landing page
        meta = replace(meta, resolvable=False, url=f"{_base_url()}/doi/{record.doi}")
    return Subject(record, target, meta, _base_url(), svc.config.resolved_registry_host)


#: DataCite's test prefix: DOIs under it are never registered at doi.org.
TEST_DOI_PREFIX = "10.5072"


def is_local_doi(doi: str, minter: str) -> bool:
    """A DOI this registry minted itself (the local minter) or a test DOI: doi.org does not resolve
    it, so links point at the registry's own landing page."""
    return minter == "local" or doi.lower().startswith(TEST_DOI_PREFIX + "/")


@bp.get("/doi/<prefix>/<path:suffix>")
def landing(prefix: str, suffix: str) -> Response:
    """The DOI in the negotiated representation (see the module docstring)."""
    fmt = _choose_format()
    g.landing_format = fmt
    subject = _load(prefix, suffix)
    if fmt.name == "html" and subject.record.is_concept and subject.target is not None:
        resp = Response(status=302, headers={"Location": subject.url(subject.target.doi)})
    elif fmt.name == "html":
        resp = Response(render_template("landing/doi.html", **_page(subject)), mimetype="text/html")
    elif fmt.name == "ro-crate":
        resp = _crate_response(subject)
    else:
        resp = _metadata_response(subject, fmt)
    resp.headers["Vary"] = "Accept"
    resp.headers["Link"] = format_links(signposting(subject, html=fmt.name == "html"))
    return resp


def _metadata_response(subject: Subject, fmt: Format) -> Response:
    meta = subject.meta
    if fmt.name == "datacite":
        attrs = _with_advisories(subject, dict(subject.record.metadata))
        doc: Any = {"doi": subject.doi, **{k: v for k, v in attrs.items() if k != "doi"}}
        return _json(doc, BY_NAME["datacite"].media_type)
    if fmt.name == "csl":
        return _json(doilib.to_csl_json(meta), fmt.media_type)
    if fmt.name == "schema.org":
        return _json(doilib.to_schema_org(meta), fmt.media_type)
    if fmt.name == "bibtex":
        return Response(doilib.to_bibtex(meta), content_type=f"{fmt.media_type}; charset=utf-8")
    if fmt.name == "citation":
        return Response(apa_plain(meta) + "\n", content_type=f"{fmt.media_type}; charset=utf-8")
    raise BadRequest(f"format {fmt.name!r} cannot be served")  # pragma: no cover - FORMATS is closed


def _json(doc: Any, media_type: str) -> Response:
    return Response(
        json.dumps(doc, ensure_ascii=False, indent=2) + "\n", content_type=f"{media_type}; charset=utf-8"
    )


def _crate_response(subject: Subject) -> Response:
    """ro-crate-metadata.json of the run crate, streamed from the store exactly as pushed."""
    if subject.content_withdrawn:
        withdrawn: Any = subject.record if subject.withdrawn else subject.target
        raise NotFound(
            f"DOI {subject.doi} is withdrawn: its run crate is no longer offered "
            f"(reason: {withdrawn.tombstone_reason})",
            status=410,
        )
    layer = _crate_layer(subject.target)
    if layer is None:
        raise NotFound(f"DOI {subject.doi} has no run crate")
    f = services().registry.open_blob(layer.digest)
    resp = Response(
        wrap_file(request.environ, f, 1 << 16), mimetype="application/ld+json", direct_passthrough=True
    )
    resp.headers["Content-Length"] = str(layer.size)
    resp.headers["ETag"] = f'"{layer.digest}"'
    resp.headers["Content-Disposition"] = 'inline; filename="ro-crate-metadata.json"'
    return resp


# --- Signposting -----------------------------------------------------------------------------


def signposting(subject: Subject, *, html: bool = False) -> list[Link]:
    """The FAIR Signposting level-1 links of a DOI (https://signposting.org/FAIR/)."""
    meta = subject.meta
    links = [
        Link(meta.doi_url or subject.url(), "cite-as"),
        Link(subject.url(fmt="datacite"), "describedby", BY_NAME["datacite"].media_type),
    ]
    if not subject.content_withdrawn and _crate_layer(subject.target) is not None:
        links.append(Link(subject.url(fmt="ro-crate"), "describedby", BY_NAME["ro-crate"].media_type))
    links.append(Link(subject.url(fmt="csl"), "describedby", BY_NAME["csl"].media_type))
    links.append(Link(subject.url(fmt="bibtex"), "describedby", BY_NAME["bibtex"].media_type))
    if not subject.content_withdrawn:
        links += [Link(f.url, "item", f.media_type) for f in subject.outputs()]
    for c in meta.creators:
        if c.orcid:
            links.append(Link(c.orcid, "author"))
    links.append(Link(SCHEMA_ORG + _SCHEMA_TYPES.get(meta.resource_type_general, "CreativeWork"), "type"))
    if html:
        links.append(Link(SCHEMA_ORG + "AboutPage", "type"))
    lic = subject.license_url()
    if lic:
        links.append(Link(lic, "license"))
    v = version_links(subject)
    if v.previous:
        links.append(Link(subject.url(v.previous), "predecessor-version"))
    if v.next:
        links.append(Link(subject.url(v.next), "successor-version"))
    if v.latest and v.latest != subject.doi:
        links.append(Link(subject.url(v.latest), "latest-version"))
    return links


def version_links(subject: Subject) -> VersionLinks:
    rec = subject.record
    if rec.is_concept:
        return VersionLinks(
            None, None, None, subject.target.doi if subject.target else None, list(rec.versions)
        )
    versions = list(rec.versions)
    nxt = None
    if rec.doi in versions:
        i = versions.index(rec.doi)
        nxt = versions[i + 1] if i + 1 < len(versions) else None
    latest = None
    if rec.concept_doi:
        try:
            concept = services().dois.get(rec.concept_doi)
            found = _latest_version(concept)
            latest = found.doi if found is not None else None
        except NotFound:
            latest = None
    return VersionLinks(rec.concept_doi, rec.previous_doi, nxt, latest, versions)


# --- the HTML page ---------------------------------------------------------------------------


def apa_plain(meta: doilib.DoiMetadata) -> str:
    """APA 7 reference as plain text (``to_apa`` marks the title ``*...*`` for italics)."""
    return doilib.to_apa(meta).replace(f"*{meta.title}*", meta.title, 1)


def apa_html(meta: doilib.DoiMetadata) -> Markup:
    before, sep, after = doilib.to_apa(meta).partition(f"*{meta.title}*")
    if not sep:
        return escape(before)
    return escape(before) + Markup("<em>") + escape(meta.title) + Markup("</em>") + escape(after)


def _json_script(doc: Any) -> Markup:
    """JSON for a ``<script type="application/ld+json">`` element (no ``</script>`` breakout)."""
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _display(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def render_command(template: str, parameters: list[dict[str, Any]]) -> str | None:
    """The command as run: :func:`sciregistry.provenance.command.render_command` (every value
    shell-quoted, exactly what ``reproduce`` runs); None when the template names a parameter the
    run does not record (runs admitted before the registry refused those)."""
    try:
        return provenance_command.render_command(template, {p["name"]: p["value"] for p in parameters})
    except ValueError:
        return None


def _inputs(subject: Subject, run: dict[str, Any]) -> list[InputView]:
    out = []
    gate = services().gate
    for inp in run.get("inputs", []):
        repo, digest = inp["repository"], inp["digest"]
        if not gate.can_read_pinned(repo, digest):  # another tenant's content: the digest only
            out.append(InputView(inp["name"], "", digest, digest, [], "not readable with your credentials"))
            continue
        ref = f"{subject.registry_host}/{repo}@{digest}"
        layers = content.manifest_layers(services().registry, repo, digest)
        if layers is None:
            out.append(InputView(inp["name"], repo, digest, ref, [], "manifest not available"))
            continue
        files = [
            FileView(
                content.title(ly) or ly.digest,
                ly.size,
                ly.digest.split(":", 1)[-1],
                ly.media_type,
                subject.blob_url(repo, ly.digest),
            )
            for ly in layers
        ]
        out.append(InputView(inp["name"], repo, digest, ref, files))
    return out


def _withdrawn_date(meta: doilib.DoiMetadata) -> str | None:
    return next((d.date for d in meta.dates if d.date_type == "Withdrawn"), None)


def _page(subject: Subject) -> dict[str, Any]:
    """Everything the template shows."""
    svc = services()
    rec, target, meta = subject.record, subject.target, subject.meta
    run = svc.runs.get(target.run_id) if target is not None and target.run_id else None
    image = None
    if run:
        img = run["image"]
        image = {
            **img,
            "reference": f"{subject.registry_host}/{img['repository']}@{img['digest']}",
            "index_reference": (
                f"{subject.registry_host}/{img['repository']}@{img['index_digest']}"
                if img.get("index_digest")
                else None
            ),
        }
    parameters = [{**p, "display": _display(p["value"])} for p in (run or {}).get("parameters", [])]
    steps = (
        [
            {
                **st,
                "reference": f"{subject.registry_host}/{st['image']['repository']}@{st['image']['digest']}",
                "parameters": [{**p, "display": _display(p["value"])} for p in st["parameters"]],
            }
            for st in (run or {}).get("steps", [])
        ]
        if run and run.get("workflow")
        else []
    )
    return {
        "doi": subject.doi,
        "doi_url": meta.doi_url or subject.url(),
        "test_doi": not meta.resolvable,
        "meta": meta,
        "record": rec,
        "withdrawn": subject.withdrawn,
        "withdrawn_date": _withdrawn_date(meta),
        "reason": rec.tombstone_reason,
        "apa": apa_html(meta),
        "bibtex": doilib.to_bibtex(meta),
        "schema_org": _json_script(doilib.to_schema_org(meta)),
        "result_ref": (
            f"{subject.registry_host}/{target.repository}@{target.result_digest}"
            if target is not None and target.result_digest
            else None
        ),
        "image": image,
        "run": run,
        "parameters": parameters,
        "steps": steps,
        "workflow": (run or {}).get("workflow"),
        "rendered_command": render_command(run["command"], run["parameters"]) if run else None,
        "inputs": _inputs(subject, run) if run and not subject.withdrawn else [],
        "outputs": subject.outputs() if not subject.withdrawn else [],
        "pins": _readable_pins(
            [p for p in svc.dois.pins(target.doi) if svc.gate.can_read_pinned(p["repository"], p["digest"])]
        )
        if target is not None and not subject.withdrawn
        else [],
        "versions": version_links(subject),
        "reproductions": rec.reproductions if not rec.is_concept else None,
        "advisories": _advisories(subject),
        "license": subject.license_url(),
        "base_url": subject.base_url,
        "landing": subject.url,
        "formats": [
            (name, BY_NAME[name].media_type)
            for name in ("datacite", "ro-crate", "schema.org", "csl", "bibtex", "citation")
        ],
        "reproduce_command": f"sciregistry reproduce {subject.doi} --registry {subject.base_url}",
        "cite_command": f"sciregistry cite {subject.doi} --format bibtex --registry {subject.base_url}",
    }


def _advisories(subject: Subject) -> list[dict[str, Any]]:
    """Scientific advisories about a tool version the DOI's run used (see registry/vulns.py)."""
    vulns = services().vulns
    target = subject.target
    if vulns is None or target is None or not target.run_id:
        return []
    return list(vulns.notices_for_run(target.run_id))


def _with_advisories(subject: Subject, attrs: dict[str, Any]) -> dict[str, Any]:
    """DataCite attributes with the advisories that apply (already there when the scan recorded them)."""
    notices = _advisories(subject)
    if not notices:
        return attrs
    from sciregistry.registry.vulns import datacite_with_notices

    return datacite_with_notices(attrs, notices, services().config.resolved_base_url)


# --- errors ------------------------------------------------------------------------------------


@bp.errorhandler(RegistryError)
def _error(err: RegistryError) -> Response:
    fmt = g.get("landing_format")
    if fmt is None:  # failed before negotiation (e.g. a bad ?format=): go by Accept alone
        fmt = negotiate(request.headers.get("Accept")) or BY_NAME["html"]
    if fmt.name == "html":
        resp = Response(
            render_template("landing/error.html", error=err, status=err.http_status),
            status=err.http_status,
            mimetype="text/html",
        )
    else:
        resp = Response(
            json.dumps({"errors": [err.to_dict()]}), status=err.http_status, mimetype="application/json"
        )
    resp.headers.update(err.headers)
    if err.http_status == 401:
        # A browser prompts only for Basic credentials (a reviewer signs in with the token as the
        # password), so the HTML page offers Basic first and the registry's Bearer challenge beside
        # it; API clients get the Bearer challenge.
        bearer = resp.headers.get("WWW-Authenticate") or services().gate.challenge()
        if fmt.name == "html":
            del resp.headers["WWW-Authenticate"]
            resp.headers.add("WWW-Authenticate", 'Basic realm="sciregistry",charset="UTF-8"')
            if bearer.startswith("Bearer"):
                resp.headers.add("WWW-Authenticate", bearer)
        else:
            resp.headers.setdefault("WWW-Authenticate", bearer)
    resp.headers["Vary"] = "Accept"
    return resp
