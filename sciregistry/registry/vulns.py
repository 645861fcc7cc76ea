"""Vulnerability scanning: the offline database, the scan queue and its worker, findings and impact.

    push of an image manifest ──ScanQueue hook──> scan_jobs row 'queued' (same transaction; the push
                                                  never waits for the scan)
    worker (server thread or `sciregistry scan --watch`)
        claim one queued job (UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED) on PostgreSQL;
        SQLite serialises writers) ─> inventory: a CI SBOM referrer (syft, trivy) if there is one, else
        the layers catalogued (sciregistry.sbom) ─> match against the records about those names ─>
        image_findings, and two referrers of the image: the CycloneDX SBOM (when catalogued here) and
        the vulnerability report
    `sciregistry vulndb import` ─> vuln_records, generation + 1, every done job queued again: the
        stored inventories are re-matched (layers are not read again)

A job whose image cannot be read (a corrupt layer, a tar bomb, a malformed package database) ends
in state 'error' with the reason; it never stops the worker.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from sciregistry.db.base import utcnow
from sciregistry.db.models import (
    Doi,
    ImageFinding,
    ImagePackage,
    Manifest,
    Repository,
    Run,
    RunAncestor,
    ScanJob,
    VulnMeta,
    VulnPackage,
    VulnPolicy,
    VulnRecord,
)
from sciregistry.errors import BadRequest, NotFound, RegistryError
from sciregistry.oci import DOCKER_MANIFEST, EMPTY_JSON, EMPTY_JSON_DIGEST, OCI_CONFIG, OCI_MANIFEST, compute
from sciregistry.registry.hooks import NoHooks
from sciregistry.registry.types import ManifestPush
from sciregistry.sbom import ScanError, inventory
from sciregistry.sbom.catalogue import Inventory, Package
from sciregistry.sbom.document import GENERATOR_ANNOTATION, SBOM_TYPES, SbomError, cyclonedx, read_sbom
from sciregistry.sbom.osv import Advisory, Matcher, OsvError, normalize_name, parse_record
from sciregistry.storage import BlobNotFound

log = logging.getLogger(__name__)

REPORT_TYPE = "application/vnd.sciregistry.vulnerability-report.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
IMAGE_CONFIGS = (OCI_CONFIG, DOCKER_CONFIG)
STALE_CLAIM = timedelta(minutes=30)
GENERATION = "generation"


def is_image(push: ManifestPush) -> bool:
    p = push.parsed
    return (
        p.media_type in (OCI_MANIFEST, DOCKER_MANIFEST)
        and not p.artifact_type_field
        and p.config is not None
        and p.config.media_type in IMAGE_CONFIGS
    )


def _enqueue(session: Session, repository_id: int, digest: str, *, recatalogue: bool = False) -> None:
    job = session.execute(
        select(ScanJob).where(ScanJob.repository_id == repository_id, ScanJob.digest == digest)
    ).scalar()
    if job is None:
        session.add(
            ScanJob(
                repository_id=repository_id,
                digest=digest,
                state="queued",
                again=False,
                catalogued=False,
                generation=0,
                attempts=0,
                packages=0,
            )
        )
        return
    if recatalogue:
        job.catalogued = False
    if job.state == "running":
        job.again = True
    else:
        job.state = "queued"


class ScanQueue(NoHooks):
    """Registry hook: an image push (and a CI SBOM attached to one) queues a scan, in the push's
    own transaction; nothing is read or matched here."""

    def on_manifest_push(self, session: Session, push: ManifestPush) -> None:
        if is_image(push):
            _enqueue(session, push.repository_id, push.digest)
            return
        p = push.parsed
        if (
            p.artifact_type in SBOM_TYPES
            and p.subject is not None
            and (p.annotations or {}).get(GENERATOR_ANNOTATION) is None
        ):
            subject = session.execute(
                select(Manifest.id).where(
                    Manifest.repository_id == push.repository_id, Manifest.digest == p.subject.digest
                )
            ).scalar()
            if subject is not None:
                _enqueue(session, push.repository_id, p.subject.digest, recatalogue=True)


@dataclass
class ImportReport:
    imported: int = 0
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)  # "<file>: <why>"
    generation: int = 0
    requeued: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "generation": self.generation,
            "requeued": self.requeued,
        }


def iter_osv(path: str | Path) -> Iterator[tuple[str, bytes]]:
    """(label, bytes) of every .json record under ``path``: a directory (recursively), one .json
    file, or a zip as OSV publishes per ecosystem (``<Ecosystem>/all.zip``)."""
    p = Path(path)
    if p.is_dir():
        for f in sorted(p.rglob("*.json")):
            yield str(f.relative_to(p)), f.read_bytes()
    elif zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as z:
            for info in z.infolist():
                if info.filename.endswith(".json") and not info.is_dir():
                    if info.file_size > 4 << 20:
                        yield info.filename, b"{too large}"
                        continue
                    yield info.filename, z.read(info)
    elif p.is_file():
        yield p.name, p.read_bytes()
    else:
        raise NotFound(f"{path}: no such file or directory")


def _targets(a: Advisory) -> set[tuple[str, str]]:
    return {(aff.target.type, aff.target.name) for aff in a.affected}


class VulnService:
    def __init__(
        self, registry: Any, *, runs: Any = None, base_url: str = "", registry_host: str = ""
    ) -> None:
        from sciregistry.registry.runs import RunQueries

        self.registry = registry
        self.runs = runs if runs is not None else RunQueries(registry.sessions)
        self.sessions = registry.sessions
        self.store = registry.store
        self.base_url = base_url.rstrip("/")
        self.registry_host = registry_host
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"

    # --- the database -------------------------------------------------------------------------
    def generation(self, s: Session | None = None) -> int:
        if s is None:
            with self.sessions() as s2:
                return self.generation(s2)
        return s.execute(select(VulnMeta.value).where(VulnMeta.key == GENERATION)).scalar() or 0

    def _bump(self, s: Session) -> int:
        row = s.get(VulnMeta, GENERATION)
        if row is None:
            row = VulnMeta(key=GENERATION, value=0)
            s.add(row)
        row.value += 1
        s.flush()
        return row.value

    def _store_record(self, s: Session, a: Advisory, source: str) -> bool:
        """Insert or replace a record; False when the same version (``modified``) is already stored."""
        row = s.get(VulnRecord, a.id)
        if row is not None and row.modified == a.modified and row.source == source:
            return False
        if row is None:
            row = VulnRecord(id=a.id)
            s.add(row)
        row.kind, row.source, row.modified, row.published = a.kind, source, a.modified, a.published
        row.summary, row.score, row.severity = a.summary[:2000], a.score, a.severity
        row.record_json = json.dumps(a.raw)
        row.imported_at = utcnow()
        s.execute(delete(VulnPackage).where(VulnPackage.record_id == a.id))
        s.flush()
        for t, n in _targets(a):
            s.add(VulnPackage(record_id=a.id, type=t, name=n[:255]))
        return True

    def import_records(
        self, items: Iterable[tuple[str, bytes]], *, source: str = "osv", batch: int = 2000
    ) -> ImportReport:
        """Store OSV records (bad ones are skipped and listed); then bump the generation and queue
        every scanned image again."""
        report = ImportReport()
        pending: list[Advisory] = []

        def flush() -> None:
            with self.sessions() as s, s.begin():
                for a in pending:
                    if self._store_record(s, a, source):
                        report.imported += 1
                    else:
                        report.unchanged += 1
            pending.clear()

        for label, data in items:
            try:
                pending.append(parse_record(data, label))
            except OsvError as exc:
                report.skipped.append(str(exc))
                continue
            if len(pending) >= batch:
                flush()
        flush()
        if report.imported:
            report.generation, report.requeued = self.rescan_all()
        else:
            report.generation = self.generation()
        return report

    def rescan_all(self) -> tuple[int, int]:
        with self.sessions() as s, s.begin():
            gen = self._bump(s)
            n = s.execute(update(ScanJob).where(ScanJob.state.in_(("done",))).values(state="queued")).rowcount
            s.execute(update(ScanJob).where(ScanJob.state == "running").values(again=True))
        return gen, n or 0

    def record(self, record_id: str) -> dict[str, Any]:
        with self.sessions() as s:
            row = s.get(VulnRecord, record_id)
            if row is None:
                raise NotFound(f"no advisory or vulnerability {record_id} in the database")
            return self._record_view(row)

    def _record_view(self, row: VulnRecord) -> dict[str, Any]:
        raw = json.loads(row.record_json)
        return {
            "id": row.id,
            "kind": row.kind,
            "source": row.source,
            "summary": row.summary,
            "details": raw.get("details") if isinstance(raw.get("details"), str) else "",
            "severity": row.severity,
            "score": row.score,
            "published": row.published,
            "modified": row.modified,
            "aliases": [a for a in raw.get("aliases") or [] if isinstance(a, str)],
            "affected": _affected_text(raw),
            "fixed": _fixed_versions(raw),
            "references": [
                r["url"]
                for r in raw.get("references") or []
                if isinstance(r, dict) and isinstance(r.get("url"), str)
            ],
            "imported_at": row.imported_at.isoformat(),
        }

    def _matcher_for(self, s: Session, packages: list[Package]) -> Matcher:
        names = {normalize_name(p.type, p.name) for p in packages}
        names |= {normalize_name(p.type, p.source) for p in packages if p.source}
        types = {p.type for p in packages}
        ids: set[str] = set()
        name_list = sorted(names)
        for i in range(0, len(name_list), 500):
            chunk = name_list[i : i + 500]
            ids |= set(
                s.execute(
                    select(VulnPackage.record_id).where(
                        VulnPackage.name.in_(chunk), VulnPackage.type.in_(types)
                    )
                ).scalars()
            )
        m = Matcher()
        id_list = sorted(ids)
        for i in range(0, len(id_list), 500):
            for raw in s.execute(
                select(VulnRecord.record_json).where(VulnRecord.id.in_(id_list[i : i + 500]))
            ).scalars():
                try:
                    m.add(parse_record(raw))
                except OsvError:  # stored records were valid when imported
                    continue
        return m

    # --- the queue ------------------------------------------------------------------------------
    def enqueue(self, repository: str, digest: str) -> None:
        with self.sessions() as s, s.begin():
            rid = s.execute(select(Repository.id).where(Repository.name == repository)).scalar()
            mid = (
                s.execute(
                    select(Manifest.id).where(Manifest.repository_id == rid, Manifest.digest == digest)
                ).scalar()
                if rid is not None
                else None
            )
            if mid is None:
                raise NotFound(f"{repository}@{digest} is not in this registry")
            _enqueue(s, rid, digest)

    def claim(self) -> int | None:
        """Take the oldest queued job (or one whose worker vanished); None when there is none.
        Exactly one worker gets each job, on any number of nodes."""
        now = utcnow()
        with self.sessions() as s, s.begin():
            pg = s.get_bind().dialect.name == "postgresql"
            lock = " FOR UPDATE SKIP LOCKED" if pg else ""
            row = s.execute(
                text(
                    "UPDATE scan_jobs SET state = 'running', claimed_by = :me, claimed_at = :now, "
                    "attempts = attempts + 1, again = :false "
                    "WHERE id = (SELECT id FROM scan_jobs WHERE state = 'queued' OR "
                    "(state = 'running' AND claimed_at < :stale) ORDER BY id LIMIT 1" + lock + ") "
                    "AND (state = 'queued' OR claimed_at < :stale) RETURNING id"
                ),
                {"me": self.worker_id, "now": now, "stale": now - STALE_CLAIM, "false": False},
            ).first()
            return int(row[0]) if row else None

    def run_once(self) -> int | None:
        """Claim and run one job; its id (None when the queue was empty)."""
        job_id = self.claim()
        if job_id is None:
            return None
        try:
            self.scan(job_id)
        except Exception as exc:
            log.exception("scan job %s failed", job_id)
            self._finish(job_id, error=f"internal error: {type(exc).__name__}: {str(exc)[:300]}")
        return job_id

    def drain(self, limit: int | None = None) -> int:
        """Run queued jobs until none is left (or ``limit``); how many ran."""
        n = 0
        while limit is None or n < limit:
            if self.run_once() is None:
                break
            n += 1
        return n

    def watch(self, stop: threading.Event, poll: float = 2.0) -> None:
        """Work the queue until ``stop`` is set (the server's thread and ``scan --watch``)."""
        while not stop.is_set():
            try:
                ran = self.run_once()
            except Exception:
                log.exception("scan worker: claiming a job failed")
                ran = None
            if ran is None:
                stop.wait(poll)

    def _finish(self, job_id: int, *, error: str | None = None, **values: Any) -> None:
        with self.sessions() as s, s.begin():
            job = s.get(ScanJob, job_id)
            if job is None:
                return
            job.state = "error" if error else "done"
            job.error = error
            job.finished_at = utcnow()
            for k, v in values.items():
                setattr(job, k, v)
            if job.again:
                job.state, job.again = "queued", False

    # --- one scan -------------------------------------------------------------------------------
    def _image(self, s: Session, job: ScanJob) -> tuple[str, dict[str, Any]]:
        repo = s.execute(select(Repository.name).where(Repository.id == job.repository_id)).scalar_one()
        content = s.execute(
            select(Manifest.content).where(
                Manifest.repository_id == job.repository_id, Manifest.digest == job.digest
            )
        ).scalar()
        if content is None:
            raise ScanError("the image manifest was deleted")
        return repo, json.loads(content)

    def _ci_sbom(self, repo: str, digest: str) -> tuple[str, list[Package]] | None:
        """Packages of the newest SBOM referrer that CI pushed (not one sciregistry generated)."""
        found = [
            d
            for d in self.registry.referrers(repo, digest)
            if d.get("artifactType") in SBOM_TYPES
            and GENERATOR_ANNOTATION not in (d.get("annotations") or {})
        ]
        for desc in reversed(found):
            try:
                doc = json.loads(self.registry.get_manifest(repo, desc["digest"]).content)
                layer = (doc.get("layers") or [])[0]
                with self.store.open(layer["digest"]) as f:
                    data = f.read(64 << 20)
                return desc["digest"], read_sbom(data, f"SBOM referrer {desc['digest']}")
            except (
                RegistryError,
                BlobNotFound,
                SbomError,
                ValueError,
                IndexError,
                KeyError,
                TypeError,
            ) as exc:
                log.warning("CI SBOM %s of %s@%s unusable: %s", desc.get("digest"), repo, digest, exc)
        return None

    def _layers(self, manifest: dict[str, Any]) -> list[tuple[str, Callable[[], Any]]]:
        out: list[tuple[str, Callable[[], Any]]] = []
        for layer in manifest.get("layers") or []:
            digest = layer.get("digest")
            if not isinstance(digest, str):
                raise ScanError("a layer descriptor has no digest")
            mt = str(layer.get("mediaType") or "")
            if "tar" not in mt and mt:
                raise ScanError(f"layer {digest} is not a tar layer ({mt})")

            def opener(d: str = digest) -> Any:
                try:
                    return self.store.open(d)
                except BlobNotFound as exc:
                    raise ScanError(f"layer {d} is missing from storage") from exc

            out.append((digest, opener))
        return out

    def scan(self, job_id: int) -> None:
        with self.sessions() as s:
            job = s.get(ScanJob, job_id)
            if job is None:
                return
            catalogued = job.catalogued
            old_report = job.report_digest
            old_sbom = job.sbom_digest if job.sbom_source == "catalogue" else None  # never a CI SBOM
            try:
                repo, manifest = self._image(s, job)
            except ScanError as exc:
                self._finish(job_id, error=str(exc))
                return
            digest = job.digest
            generation = self.generation(s)
            packages = (
                [
                    Package.from_dict(json.loads(r))
                    for r in s.execute(
                        select(ImagePackage.package_json)
                        .where(ImagePackage.job_id == job_id)
                        .order_by(ImagePackage.idx)
                    ).scalars()
                ]
                if catalogued
                else None
            )
            source = job.sbom_source
            current_sbom = job.sbom_digest
        sbom_digest = current_sbom
        if packages is None:
            ci = self._ci_sbom(repo, digest)
            inv = Inventory()
            if ci is not None:
                source = f"referrer {ci[0]}"
                inv.packages = ci[1]
                sbom_digest = ci[0]
            else:
                try:
                    inv = inventory(self._layers(manifest))
                except ScanError as exc:
                    self._finish(job_id, error=str(exc), catalogued=False, packages=0)
                    return
                source = "catalogue"
                sbom_digest = self._push_referrer(
                    repo,
                    digest,
                    "application/vnd.cyclonedx+json",
                    cyclonedx(inv, repository=repo, digest=digest),
                    replaces=old_sbom,
                )
            packages = inv.packages
            with self.sessions() as s, s.begin():
                s.execute(delete(ImagePackage).where(ImagePackage.job_id == job_id))
                s.add_all(
                    [
                        ImagePackage(job_id=job_id, idx=i, package_json=json.dumps(p.to_dict()))
                        for i, p in enumerate(packages)
                    ]
                )
        with self.sessions() as s:
            findings = self._matcher_for(s, packages).match(packages)
        with self.sessions() as s, s.begin():
            s.execute(delete(ImageFinding).where(ImageFinding.job_id == job_id))
            s.add_all(
                [
                    ImageFinding(
                        job_id=job_id,
                        record_id=f.advisory,
                        kind=f.kind,
                        severity=f.severity,
                        finding_json=json.dumps(f.to_dict()),
                    )
                    for f in findings
                ]
            )
        report = {
            "image": {"repository": repo, "digest": digest},
            "scanned_at": utcnow().isoformat(),
            "database_generation": generation,
            "sbom": {"source": source, "digest": sbom_digest},
            "packages": len(packages),
            "findings": [f.to_dict() for f in findings],
        }
        report_digest = self._push_referrer(
            repo, digest, REPORT_TYPE, json.dumps(report).encode(), replaces=old_report
        )
        self._finish(
            job_id,
            catalogued=True,
            generation=generation,
            packages=len(packages),
            sbom_source=source,
            sbom_digest=sbom_digest,
            report_digest=report_digest,
        )
        if any(f.kind == "correctness" for f in findings):
            self.annotate_dois(digest)

    def _push_referrer(
        self, repo: str, subject: str, artifact_type: str, data: bytes, replaces: str | None = None
    ) -> str | None:
        """Attach ``data`` to the image as a referrer (OCI 1.1 artifact manifest); the one it
        replaces is deleted when nothing (a DOI) pins it."""
        try:
            size = len(self.registry.get_manifest(repo, subject).content)
            subj_type = self.registry.get_manifest(repo, subject).media_type
            layer_digest = compute(data)
            self.registry.put_small_blob(repo, data, layer_digest)
            self.registry.put_small_blob(repo, EMPTY_JSON, EMPTY_JSON_DIGEST)
            manifest = {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": artifact_type,
                "config": {
                    "mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": EMPTY_JSON_DIGEST,
                    "size": len(EMPTY_JSON),
                },
                "layers": [{"mediaType": artifact_type, "digest": layer_digest, "size": len(data)}],
                "subject": {"mediaType": subj_type, "digest": subject, "size": size},
                "annotations": {
                    GENERATOR_ANNOTATION: "sciregistry",
                    "org.opencontainers.image.created": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            }
            body = json.dumps(manifest, separators=(",", ":")).encode()
            digest = compute(body)
            self.registry.put_manifest(repo, digest, body, OCI_MANIFEST)
        except (RegistryError, OSError) as exc:
            log.warning("could not attach %s to %s@%s: %s", artifact_type, repo, subject, exc)
            return None
        if replaces and replaces != digest:
            try:
                self.registry.delete_manifest(repo, replaces)
            except RegistryError:
                pass  # pinned by a DOI, or already gone
        return digest

    # --- queries ---------------------------------------------------------------------------------
    def image(self, repository: str, digest: str) -> dict[str, Any]:
        """Scan state and findings of one image (children's when ``digest`` is an index)."""
        with self.sessions() as s:
            rid = s.execute(select(Repository.id).where(Repository.name == repository)).scalar()
            if rid is None:
                raise NotFound(f"repository {repository} not found")
            media = s.execute(
                select(Manifest.media_type).where(Manifest.repository_id == rid, Manifest.digest == digest)
            ).scalar()
            if media is None:
                raise NotFound(f"{repository}@{digest} not found")
            from sciregistry.registry.runs import _children_of

            digests = [digest, *list(s.execute(_children_of(digest)).scalars())]
            jobs = list(
                s.execute(
                    select(ScanJob)
                    .where(ScanJob.repository_id == rid, ScanJob.digest.in_(digests))
                    .order_by(ScanJob.id)
                ).scalars()
            )
            out = []
            for j in jobs:
                fs = [
                    json.loads(x)
                    for x in s.execute(
                        select(ImageFinding.finding_json)
                        .where(ImageFinding.job_id == j.id)
                        .order_by(ImageFinding.id)
                    ).scalars()
                ]
                out.append(
                    {
                        "digest": j.digest,
                        "state": j.state,
                        "error": j.error,
                        "packages": j.packages,
                        "sbom": {"source": j.sbom_source, "digest": j.sbom_digest},
                        "report_digest": j.report_digest,
                        "database_generation": j.generation,
                        "scanned_at": j.finished_at.isoformat() if j.finished_at else None,
                        "findings": sorted(fs, key=_finding_order),
                    }
                )
            return {
                "repository": repository,
                "digest": digest,
                "scanned": bool(jobs),
                "images": out,
                "current_generation": self.generation(s),
            }

    def affected(
        self, record_id: str, can_read: Callable[[str], bool] = lambda _: True, limit: int = 100
    ) -> dict[str, Any]:
        """Images with a finding of ``record_id`` -> runs that used them (every step, through the
        impact index) -> results -> DOIs; only what ``can_read`` allows is listed."""
        with self.sessions() as s:
            rec = s.get(VulnRecord, record_id)
            if rec is None:
                raise NotFound(f"no advisory or vulnerability {record_id} in the database")
            rows = s.execute(
                select(Repository.name, ScanJob.digest, ImageFinding.finding_json)
                .join(ScanJob, ScanJob.id == ImageFinding.job_id)
                .join(Repository, Repository.id == ScanJob.repository_id)
                .where(ImageFinding.record_id == record_id)
            ).all()
            images: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for repo, digest, fj in rows:
                if can_read(repo):
                    f = json.loads(fj)
                    images.setdefault((repo, digest), []).append(
                        {k: f.get(k) for k in ("package", "version", "purl", "path", "fixed")}
                    )
            digests = sorted({d for _, d in images})
            runs_by_id: dict[int, dict[str, Any]] = {}
            truncated = False
            for digest in digests:  # the impact use case: every run (every workflow step) that used it
                page = self.runs.impact(digest, limit=limit)
                truncated = truncated or page["next"] is not None
                for v in page["runs"]:
                    if can_read(v["repository"]):
                        img = v["image"]
                        runs_by_id[v["id"]] = {
                            "id": v["id"],
                            "repository": v["repository"],
                            "result_digest": v["result_digest"],
                            "image": f"{img['repository']}@{img['digest']}",
                        }
            runs = [runs_by_id[i] for i in sorted(runs_by_id)][:limit]
            truncated = truncated or len(runs_by_id) > limit
            results = sorted({(r["repository"], r["result_digest"]) for r in runs})
            dois = []
            if results:
                repo_ids = dict(
                    s.execute(
                        select(Repository.name, Repository.id).where(
                            Repository.name.in_({r for r, _ in results})
                        )
                    ).all()
                )
                wanted = {(repo_ids[r], d) for r, d in results if r in repo_ids}
                for doi, rid, rd, state in s.execute(
                    select(Doi.doi, Doi.repository_id, Doi.result_digest, Doi.state).where(
                        Doi.result_digest.in_({d for _, d in wanted})
                    )
                ):
                    if (rid, rd) in wanted:
                        name = next(n for n, i in repo_ids.items() if i == rid)
                        dois.append({"doi": doi, "repository": name, "result_digest": rd, "state": state})
            return {
                "id": record_id,
                "kind": rec.kind,
                "summary": rec.summary,
                "severity": rec.severity,
                "images": [
                    {"repository": r, "digest": d, "packages": p} for (r, d), p in sorted(images.items())
                ],
                "runs": runs,
                "results": [{"repository": r, "digest": d} for r, d in results],
                "dois": sorted(dois, key=lambda x: x["doi"]),
                "truncated": truncated,
            }

    def notices_for_run(
        self, run_id: int | None, kinds: tuple[str, ...] = ("correctness",)
    ) -> list[dict[str, Any]]:
        """Advisories (of ``kinds``) matching an image the run depended on: the notice of a DOI."""
        if run_id is None:
            return []
        with self.sessions() as s:
            digests = select(RunAncestor.digest).where(RunAncestor.run_id == run_id)
            rows = s.execute(
                select(ImageFinding.record_id, ImageFinding.finding_json)
                .join(ScanJob, ScanJob.id == ImageFinding.job_id)
                .where(ScanJob.digest.in_(digests), ImageFinding.kind.in_(kinds))
            ).all()
            by_id: dict[str, list[dict[str, Any]]] = {}
            for rid, fj in rows:
                f = json.loads(fj)
                pk = {k: f.get(k) for k in ("package", "version", "path")}
                if pk not in by_id.setdefault(rid, []):
                    by_id[rid].append(pk)
            out = []
            for rid in sorted(by_id):
                row = s.get(VulnRecord, rid)
                if row is not None:
                    out.append({**self._record_view(row), "found": by_id[rid]})
            return out

    def status(self) -> dict[str, Any]:
        with self.sessions() as s:
            counts = dict(s.execute(select(ScanJob.state, func.count()).group_by(ScanJob.state)).all())
            records = s.execute(select(func.count()).select_from(VulnRecord)).scalar_one()
            return {"generation": self.generation(s), "records": records, "jobs": counts}

    # --- mint policy -----------------------------------------------------------------------------
    def set_policy(self, namespace: str, *, block_critical: bool, block_correctness: bool) -> dict[str, Any]:
        with self.sessions() as s, s.begin():
            row = s.get(VulnPolicy, namespace)
            if row is None:
                row = VulnPolicy(namespace=namespace)
                s.add(row)
            row.block_critical, row.block_correctness, row.updated_at = (
                block_critical,
                block_correctness,
                utcnow(),
            )
        return {
            "namespace": namespace,
            "block_critical": block_critical,
            "block_correctness": block_correctness,
        }

    def policy(self, namespace: str) -> dict[str, Any] | None:
        with self.sessions() as s:
            row = s.get(VulnPolicy, namespace)
            return (
                None
                if row is None
                else {
                    "namespace": namespace,
                    "block_critical": row.block_critical,
                    "block_correctness": row.block_correctness,
                }
            )

    def policy_problems(self, repository: str, result_digest: str) -> list[str]:
        """Why the namespace's policy refuses a DOI for this result (empty: allowed). Only findings
        already known count: an image not scanned yet does not block."""
        pol = self.policy(repository.split("/", 1)[0])
        if pol is None or not (pol["block_critical"] or pol["block_correctness"]):
            return []
        with self.sessions() as s:
            run_id = s.execute(
                select(Run.id)
                .join(Repository, Repository.id == Run.repository_id)
                .where(Repository.name == repository, Run.result_digest == result_digest)
                .order_by(Run.id.desc())
                .limit(1)
            ).scalar()
            if run_id is None:
                return []
            digests = select(RunAncestor.digest).where(RunAncestor.run_id == run_id)
            rows = s.execute(
                select(
                    ScanJob.digest,
                    ImageFinding.record_id,
                    ImageFinding.kind,
                    ImageFinding.severity,
                    ImageFinding.finding_json,
                )
                .join(ScanJob, ScanJob.id == ImageFinding.job_id)
                .where(ScanJob.digest.in_(digests))
            ).all()
        out = []
        for digest, rid, kind, severity, fj in rows:
            f = json.loads(fj)
            what = f"{rid} in {f.get('package')} {f.get('version')} of image {digest}"
            if kind == "correctness" and pol["block_correctness"]:
                out.append(f"correctness advisory {what}")
            elif kind == "security" and severity == "CRITICAL" and pol["block_critical"]:
                out.append(f"critical vulnerability {what}")
        return sorted(set(out))

    # --- scientific advisories ------------------------------------------------------------------
    def annotate_dois(self, digest: str) -> list[str]:
        """Record the correctness advisories of image ``digest`` in the stored DataCite metadata of every
        DOI whose run used it (and send the update to the minter, when one is configured)."""
        changed: list[tuple[str, dict[str, Any]]] = []
        with self.sessions() as s, s.begin():
            runs = select(RunAncestor.run_id).where(RunAncestor.digest == digest)
            for row in s.execute(select(Doi).where(Doi.run_id.in_(runs), Doi.state != "tombstone")).scalars():
                notices = self.notices_for_run(row.run_id)
                if not notices:
                    continue
                attrs = json.loads(row.metadata_json)
                new = datacite_with_notices(attrs, notices, self.base_url)
                if new != attrs:
                    row.metadata_json = json.dumps(new)
                    changed.append((row.doi, new))
        minter = getattr(self, "minter", None)
        if minter is not None:
            from sciregistry import doi as doilib

            for doi, attrs in changed:
                try:
                    minter.update(doi, doilib.from_datacite_json(attrs))
                except Exception as exc:
                    log.warning("DataCite update of %s with an advisory failed: %s", doi, exc)
        return [d for d, _ in changed]

    def publish_advisory(self, label: str, data: bytes) -> tuple[dict[str, Any], ImportReport]:
        """Store a scientific or security advisory (OSV with ``database_specific.kind``) and rescan."""
        try:
            adv = parse_record(data, label)
        except OsvError as exc:
            raise BadRequest(str(exc)) from exc
        kind = (adv.raw.get("database_specific") or {}).get("kind")
        if kind not in ("security", "correctness"):
            raise BadRequest(f"{adv.id}: an advisory needs database_specific.kind: security or correctness")
        if not adv.affected:
            raise BadRequest(f"{adv.id}: names no package this registry can match (affected[].package)")
        report = self.import_records([(label, data)], source="advisory")
        return self.record(adv.id), report

    def authors(self, record_id: str) -> list[dict[str, Any]]:
        """Who to tell: the creators (and recorded agent) of every DOI an advisory affects."""
        found = self.affected(record_id, limit=100_000)
        out = []
        with self.sessions() as s:
            for d in found["dois"]:
                row = s.get(Doi, d["doi"])
                if row is None:
                    continue
                attrs = json.loads(row.metadata_json)
                creators = [
                    {
                        "name": c.get("name"),
                        "orcid": next(
                            (
                                i.get("nameIdentifier")
                                for i in c.get("nameIdentifiers") or []
                                if i.get("nameIdentifierScheme") == "ORCID"
                            ),
                            None,
                        ),
                    }
                    for c in attrs.get("creators") or []
                ]
                run = s.get(Run, row.run_id) if row.run_id else None
                out.append(
                    {
                        "doi": row.doi,
                        "state": row.state,
                        "title": (attrs.get("titles") or [{}])[0].get("title"),
                        "creators": creators,
                        "created_by": row.created_by,
                        "agent": {"name": run.agent_name, "orcid": run.agent_orcid}
                        if run and run.agent_name
                        else None,
                    }
                )
        return out


def _finding_order(f: dict[str, Any]) -> Any:
    rank = {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 3}
    return (
        0 if f.get("kind") == "correctness" else 1,
        rank.get(f.get("severity") or "", 4),
        f.get("id"),
        f.get("package"),
    )


def _affected_text(raw: dict[str, Any]) -> list[str]:
    """Human-readable affected versions: ``samtools (bioconda) >= 1.16, < 1.18``."""
    out = []
    for a in raw.get("affected") or []:
        if not isinstance(a, dict):
            continue
        pkg = a.get("package") or {}
        name = f"{pkg.get('name')} ({pkg.get('ecosystem')})"
        for r in a.get("ranges") or []:
            if not isinstance(r, dict) or r.get("type") == "GIT":
                continue
            parts = []
            for ev in r.get("events") or []:
                for k, v in ev.items():
                    if k == "introduced":
                        parts.append(f">= {v}" if v != "0" else "all versions")
                    elif k == "fixed":
                        parts.append(f"< {v}")
                    elif k == "last_affected":
                        parts.append(f"<= {v}")
            out.append(f"{name} {', '.join(parts)}")
        if a.get("versions") and not a.get("ranges"):
            out.append(f"{name} {', '.join(a['versions'][:20])}")
    return out


def _fixed_versions(raw: dict[str, Any]) -> list[str]:
    return sorted(
        {
            str(v)
            for a in raw.get("affected") or []
            if isinstance(a, dict)
            for r in a.get("ranges") or []
            if isinstance(r, dict) and r.get("type") != "GIT"
            for ev in r.get("events") or []
            if isinstance(ev, dict)
            for k, v in ev.items()
            if k == "fixed"
        }
    )


class ScanThread:
    """The server's background scanner: one daemon thread per process working the shared queue."""

    def __init__(self, service: VulnService, poll: float = 2.0) -> None:
        self.service = service
        self.poll = poll
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=service.watch, args=(self.stop, poll), name="sciregistry-scan", daemon=True
        )

    def start(self) -> ScanThread:
        self.thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        self.stop.set()
        self.thread.join(timeout)


def read_advisory_file(path: str | Path) -> tuple[str, bytes]:
    p = Path(path)
    if not p.is_file():
        raise BadRequest(f"{path}: no such file")
    return p.name, p.read_bytes()


# --- scientific advisories -----------------------------------------------------------------------------

ADVISORY_RELATION = "IsReviewedBy"  # DataCite 4.5: the advisory reviews (and qualifies) the result


def advisory_url(base_url: str, record_id: str) -> str:
    return f"{base_url.rstrip('/')}/api/v1/advisories/{record_id}"


def notice_text(n: dict[str, Any]) -> str:
    """One line of a DOI's TechnicalInfo description: what, which versions, since when, fixed in."""
    found = ", ".join(sorted({f"{f['package']} {f['version']}" for f in n.get("found", [])}))
    parts = [f"Advisory {n['id']} ({n['kind']}): {n['summary']}"]
    if found:
        parts.append(f"This result was produced with {found}.")
    if n.get("affected"):
        parts.append(f"Affected versions: {'; '.join(n['affected'])}.")
    if n.get("published"):
        parts.append(f"Published {n['published']}.")
    if n.get("fixed"):
        parts.append(f"Fixed in {', '.join(n['fixed'])}.")
    return " ".join(parts)


def datacite_with_notices(
    attrs: dict[str, Any], notices: list[dict[str, Any]], base_url: str
) -> dict[str, Any]:
    """DataCite attributes with each advisory as a ``TechnicalInfo`` description and an
    ``IsReviewedBy`` related identifier (its URL); idempotent."""
    out = dict(attrs)
    descriptions = list(out.get("descriptions") or [])
    related = list(out.get("relatedIdentifiers") or [])
    for n in notices:
        url = advisory_url(base_url, n["id"])
        if not any(
            d.get("descriptionType") == "TechnicalInfo" and f"Advisory {n['id']} " in d.get("description", "")
            for d in descriptions
        ):
            descriptions.append({"description": notice_text(n), "descriptionType": "TechnicalInfo"})
        if not any(r.get("relatedIdentifier") == url for r in related):
            related.append(
                {
                    "relatedIdentifier": url,
                    "relatedIdentifierType": "URL",
                    "relationType": ADVISORY_RELATION,
                    "resourceTypeGeneral": "Report",
                }
            )
    out["descriptions"] = descriptions
    out["relatedIdentifiers"] = related
    return out
