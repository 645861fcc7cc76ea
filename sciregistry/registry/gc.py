"""Online garbage collection: never deletes what an accepted push relies on (docs/architecture.md, GC).

Live (kept) in a repository:
  - manifests: tagged ones, ones a DOI pins, and (only when ``delete_untagged`` is off) every manifest;
    with it on, also every manifest pushed or HEADed by digest less than ``grace`` seconds ago; then
    the children of live indexes and the referrers (manifests whose subject is live) of live manifests;
  - blob links: blobs named by any manifest left in the repository, blobs a DOI pins, and links
    uploaded, mounted or HEADed less than ``grace`` seconds ago (a push uploads blobs before its manifest);
  - blob rows and bytes: blobs linked into any repository, or uploaded less than ``grace`` seconds ago.

Order of one pass, and why a push that succeeded never loses anything:
  1. Per repository, in ONE transaction holding the repository's lock (the lock every manifest PUT and
     DELETE takes before it checks what it references): mark from that repository's tags, pins, fresh
     manifests, index children and subjects; delete the dead manifests, then the stale links no
     remaining manifest names. A PUT that committed before is seen; one that comes after finds the
     links and children deleted and is refused (MANIFEST_BLOB_UNKNOWN), never accepted then broken.
     Freshness written without that lock (a HEAD) is re-read by the DELETE's own WHERE clause: a
     manifest touched meanwhile makes the repository's sweep roll back, a touched link survives.
  2. Per unlinked stale blob, in one transaction: lock the blob row (the lock an upload or mount takes
     with its INSERT ... ON CONFLICT DO UPDATE before it looks at the store), re-check that no
     repository links it, delete the row, delete the file, commit. An upload either committed first
     (its link is seen: kept) or waits and then finds no row and no file (it writes its own copy).
  3. Per store file without a row, older than ``grace``: insert a placeholder row (which waits for,
     or conflicts with, an upload that inserted its row but has not committed yet); only when that
     insert won is the file deleted, and the placeholder with it.
  4. Uploads idle longer than ``upload_max_age``.

Only what was really deleted by this pass is counted (a manifest deleted by a client meanwhile is not).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.orm import Session

from sciregistry.db import insert_ignore
from sciregistry.db.base import rowcount, utcnow
from sciregistry.db.models import Blob, DoiPin, Manifest, ManifestRef, RepositoryBlob, Tag, Upload
from sciregistry.registry.base import RegistryBase

#: ``pushed_at`` of the placeholder row that claims an orphan file while it is deleted.
_LONG_AGO = utcnow().replace(year=2000)


@dataclass
class GcReport:
    """What one pass did (or, with ``dry_run``, would do). Counts only this pass's own deletions."""

    dry_run: bool
    manifests_deleted: list[str] = field(default_factory=list)
    links_deleted: int = 0
    blobs_deleted: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    orphan_files_deleted: list[str] = field(default_factory=list)
    uploads_deleted: list[str] = field(default_factory=list)
    pinned_kept: int = 0
    dois_completed: list[str] = field(default_factory=list)
    repositories_swept: int = 0
    # candidates a concurrent push made live again between the scan and the locked re-check
    kept_on_recheck: int = 0
    duration_seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def counts(self) -> dict[str, float]:
        """Numbers for metrics: ``gc_<key>`` counters/gauges."""
        return {
            "manifests_deleted": len(self.manifests_deleted),
            "links_deleted": self.links_deleted,
            "blobs_deleted": len(self.blobs_deleted),
            "bytes_freed": self.bytes_freed,
            "orphan_files_deleted": len(self.orphan_files_deleted),
            "uploads_deleted": len(self.uploads_deleted),
            "kept_on_recheck": self.kept_on_recheck,
            "duration_seconds": self.duration_seconds,
        }


def collect_exclusive(reg: RegistryBase, **kwargs: Any) -> GcReport | None:
    """:func:`collect` while holding the ``gc`` task lock (one pass at a time across workers and
    nodes); None when another pass is running. A dry run needs no lock."""
    from sciregistry.registry.tasks import TaskLock

    if kwargs.get("dry_run"):
        return collect(reg, **kwargs)
    with TaskLock(reg.engine, reg.sessions, "gc").held() as mine:
        return collect(reg, **kwargs) if mine else None


class _Changed(Exception):
    """A candidate was made fresh by a concurrent request: roll the repository's sweep back."""


def _stale(column: Any, cutoff: Any) -> Any:
    return or_(column.is_(None), column < cutoff)


def collect(
    reg: RegistryBase,
    *,
    grace: int = 86400,
    upload_max_age: int = 86400,
    dry_run: bool = False,
    delete_untagged: bool = False,
    dois: Any = None,
) -> GcReport:
    """One garbage collection. With ``dois`` (the DoiService), DOI mints a crash interrupted are
    completed first (:meth:`DoiService.finish_interrupted`); their pins are kept either way.

    Safe beside live traffic and beside another pass (each deletion is decided under the locks named
    in the module docstring); :func:`sciregistry.registry.tasks.TaskLock` keeps passes from overlapping."""
    started = time.monotonic()
    report = GcReport(dry_run)
    if dois is not None:
        report.dois_completed = dois.finish_interrupted(dry_run=dry_run)
    cutoff = utcnow() - timedelta(seconds=grace)
    with reg.sessions() as s:
        report.pinned_kept = s.execute(select(func.count()).select_from(DoiPin)).scalar() or 0
        candidates = _candidate_repositories(s, cutoff, delete_untagged)
    would_unlink: set[tuple[int, str]] = set()  # dry run: the links the repository sweeps would delete
    for rid in sorted(candidates):
        _sweep_repository(reg, rid, cutoff, delete_untagged, dry_run, report, would_unlink)
    _sweep_blobs(reg, cutoff, dry_run, report, would_unlink)
    _sweep_orphan_files(reg, grace, dry_run, report)
    _sweep_uploads(reg, upload_max_age, dry_run, report)
    report.duration_seconds = round(time.monotonic() - started, 3)
    return report


def _candidate_repositories(s: Session, cutoff: Any, delete_untagged: bool) -> set[int]:
    """Repositories that may hold something to collect (a cheap unlocked scan; decided under lock)."""
    referenced = exists().where(
        ManifestRef.digest == RepositoryBlob.digest,
        ManifestRef.kind == "blob",
        ManifestRef.manifest_id.in_(
            select(Manifest.id).where(Manifest.repository_id == RepositoryBlob.repository_id)
        ),
    )
    out = set(
        s.execute(
            select(RepositoryBlob.repository_id)
            .distinct()
            .where(_stale(RepositoryBlob.pushed_at, cutoff), ~referenced)
        ).scalars()
    )
    if delete_untagged:
        out |= set(
            s.execute(
                select(Manifest.repository_id)
                .distinct()
                .where(_stale(Manifest.pushed_at, cutoff), ~exists().where(Tag.manifest_id == Manifest.id))
            ).scalars()
        )
    return out


def _sweep_repository(
    reg: RegistryBase,
    rid: int,
    cutoff: Any,
    delete_untagged: bool,
    dry_run: bool,
    report: GcReport,
    would_unlink: set[tuple[int, str]],
) -> None:
    try:
        with reg.transaction() as s:
            reg.lock_repository(s, rid)  # every manifest PUT/DELETE of the repository waits from here
            manifests = {
                mid: (d, subj, pushed)
                for mid, d, subj, pushed in s.execute(
                    select(Manifest.id, Manifest.digest, Manifest.subject_digest, Manifest.pushed_at).where(
                        Manifest.repository_id == rid
                    )
                )
            }
            refs: dict[int, list[tuple[str, str]]] = {}
            for mid, d, kind in s.execute(
                select(ManifestRef.manifest_id, ManifestRef.digest, ManifestRef.kind)
                .join(Manifest, Manifest.id == ManifestRef.manifest_id)
                .where(Manifest.repository_id == rid)
            ):
                refs.setdefault(mid, []).append((d, kind))
            pins = s.execute(select(DoiPin.digest, DoiPin.kind).where(DoiPin.repository_id == rid)).all()
            pinned_manifests = {d for d, k in pins if k == "manifest"}
            pinned_blobs = {d for d, k in pins if k == "blob"}

            dead: list[int] = []
            if delete_untagged:
                by_digest = {d: mid for mid, (d, _, _) in manifests.items()}
                referrers: dict[str, list[int]] = {}
                for mid, (_, subj, _) in manifests.items():
                    if subj:
                        referrers.setdefault(subj, []).append(mid)
                roots = set(s.execute(select(Tag.manifest_id).where(Tag.repository_id == rid)).scalars())
                roots |= {
                    mid
                    for mid, (d, _, pushed) in manifests.items()
                    if d in pinned_manifests or (pushed is not None and pushed >= cutoff)
                }
                live: set[int] = set()
                stack = [m for m in roots if m in manifests]
                while stack:
                    mid = stack.pop()
                    if mid in live:
                        continue
                    live.add(mid)
                    stack += [
                        by_digest[d] for d, kind in refs.get(mid, ()) if kind == "manifest" and d in by_digest
                    ]
                    stack += referrers.get(manifests[mid][0], [])
                dead = [mid for mid in manifests if mid not in live]

            dead_set = set(dead)
            named = {
                d for mid, items in refs.items() if mid not in dead_set for d, kind in items if kind == "blob"
            }
            stale_links = set(
                s.execute(
                    select(RepositoryBlob.digest).where(
                        RepositoryBlob.repository_id == rid, _stale(RepositoryBlob.pushed_at, cutoff)
                    )
                ).scalars()
            )
            dead_links = sorted(stale_links - named - pinned_blobs)
            if not dead and not dead_links:
                return
            if dry_run:
                report.manifests_deleted += [manifests[m][0] for m in dead]
                report.links_deleted += len(dead_links)
                report.repositories_swept += 1
                would_unlink.update((rid, d) for d in dead_links)
                return
            if dead:
                s.execute(delete(ManifestRef).where(ManifestRef.manifest_id.in_(dead)))
                gone = rowcount(
                    s.execute(
                        delete(Manifest).where(Manifest.id.in_(dead), _stale(Manifest.pushed_at, cutoff))
                    )
                )
                if gone != len(dead):  # a HEAD made one of them fresh after the read above
                    raise _Changed
            links = 0
            if dead_links:
                links = rowcount(
                    s.execute(
                        delete(RepositoryBlob).where(
                            RepositoryBlob.repository_id == rid,
                            RepositoryBlob.digest.in_(dead_links),
                            _stale(RepositoryBlob.pushed_at, cutoff),
                        )
                    )
                )
                report.kept_on_recheck += len(dead_links) - links
        report.manifests_deleted += [manifests[m][0] for m in dead]
        report.links_deleted += links
        report.repositories_swept += 1
    except _Changed:
        report.kept_on_recheck += 1


def _sweep_blobs(
    reg: RegistryBase, cutoff: Any, dry_run: bool, report: GcReport, would_unlink: set[tuple[int, str]]
) -> None:
    linked = exists().where(RepositoryBlob.digest == Blob.digest)
    pinned = exists().where(DoiPin.digest == Blob.digest, DoiPin.kind == "blob")
    with reg.sessions() as s:
        if dry_run:  # the links this pass would have deleted do not count
            kept_linked = {
                d
                for rid, d in s.execute(select(RepositoryBlob.repository_id, RepositoryBlob.digest))
                if (rid, d) not in would_unlink
            }
            rows = [
                (d, size)
                for d, size in s.execute(
                    select(Blob.digest, Blob.size).where(_stale(Blob.pushed_at, cutoff), ~pinned)
                )
                if d not in kept_linked
            ]
        else:
            rows = s.execute(
                select(Blob.digest, Blob.size).where(_stale(Blob.pushed_at, cutoff), ~linked, ~pinned)
            ).all()
    for digest, size in rows:
        if dry_run:
            report.blobs_deleted.append(digest)
            report.bytes_freed += size
            continue
        with reg.transaction() as s:
            # The row's lock first: an upload or mount of this blob holds it until it commits its link.
            if not reg.lock_blob(s, digest):
                continue  # deleted meanwhile
            still = s.execute(
                select(
                    or_(
                        exists().where(RepositoryBlob.digest == digest),
                        exists().where(DoiPin.digest == digest, DoiPin.kind == "blob"),
                        exists().where(Blob.digest == digest, Blob.pushed_at >= cutoff),
                    )
                )
            ).scalar()
            if still:
                report.kept_on_recheck += 1
                continue
            s.execute(delete(Blob).where(Blob.digest == digest))
            s.flush()
            reg.store.delete(digest)  # under the lock: nobody can link the blob until this commits
        report.blobs_deleted.append(digest)
        report.bytes_freed += size


def _sweep_orphan_files(reg: RegistryBase, grace: int, dry_run: bool, report: GcReport) -> None:
    """Store files without a database row (a crash between writing the file and committing), older
    than ``grace``. A file whose row an upload is committing right now is never one of them: the
    placeholder insert below waits for that upload and then finds its row."""
    with reg.sessions() as s:
        known = set(s.execute(select(Blob.digest)).scalars())
    now = time.time()
    for info in list(reg.store.blobs()):
        if info.digest in known or now - info.modified <= grace:
            continue
        if dry_run:
            report.orphan_files_deleted.append(info.digest)
            report.bytes_freed += info.size
            continue
        with reg.transaction() as s:
            claimed = (
                s.execute(
                    insert_ignore(s, Blob, digest=info.digest, size=info.size, pushed_at=_LONG_AGO).returning(
                        Blob.__table__.c.digest
                    )
                ).first()
                is not None
            )
            if not claimed:  # a row exists now: the file is somebody's blob
                report.kept_on_recheck += 1
                continue
            s.flush()
            reg.store.delete(info.digest)
            s.execute(delete(Blob).where(Blob.digest == info.digest))  # the placeholder this transaction owns
        report.orphan_files_deleted.append(info.digest)
        report.bytes_freed += info.size


def _sweep_uploads(reg: RegistryBase, upload_max_age: int, dry_run: bool, report: GcReport) -> None:
    with reg.sessions() as s:
        upload_ids = set(s.execute(select(Upload.id)).scalars())
    now = time.time()
    for upload_id, modified in list(reg.store.uploads()):
        if now - modified > upload_max_age:
            report.uploads_deleted.append(upload_id)
            if not dry_run:
                reg.store.abort_upload(upload_id)
                if upload_id in upload_ids:
                    with reg.transaction() as s:
                        s.execute(delete(Upload).where(Upload.id == upload_id))
