"""Online garbage collection: mark from tags, DOI pins and referrers; sweep what is unreferenced.

Mark (live manifests, per repository):
  - every tagged manifest, every manifest pinned by a DOI (and, unless ``delete_untagged`` is off,
    nothing else as a root: untagged manifests are kept by default, as distribution does);
  - children of live indexes; referrers (manifests whose subject is live) of live manifests.
Live blobs: blobs referenced by any remaining manifest, blobs pinned by a DOI, and blobs committed
less than ``grace`` seconds ago (an in-flight push uploads blobs before its manifest).
Sweep: untagged unpinned manifests (only with ``delete_untagged``), repository links of dead blobs,
blob rows and bytes no repository links any more, store files with no database row older than
``grace``, and uploads idle longer than ``upload_max_age``.

It runs beside live traffic: each deletion re-checks its condition inside its own transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, exists, select

from sciregistry.db.base import utcnow
from sciregistry.db.models import Blob, DoiPin, Manifest, ManifestRef, RepositoryBlob, Tag, Upload
from sciregistry.registry.base import RegistryBase


@dataclass
class GcReport:
    dry_run: bool
    manifests_deleted: list[str] = field(default_factory=list)
    links_deleted: int = 0
    blobs_deleted: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    orphan_files_deleted: list[str] = field(default_factory=list)
    uploads_deleted: list[str] = field(default_factory=list)
    pinned_kept: int = 0
    dois_completed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def collect(reg: RegistryBase, *, grace: int = 86400, upload_max_age: int = 86400, dry_run: bool = False,
            delete_untagged: bool = False, dois: Any = None) -> GcReport:
    """One garbage collection. With ``dois`` (the DoiService), DOI mints a crash interrupted are
    completed first (:meth:`DoiService.finish_interrupted`); their pins are kept either way."""
    report = GcReport(dry_run)
    if dois is not None:
        report.dois_completed = dois.finish_interrupted(dry_run=dry_run)
    cutoff = utcnow() - timedelta(seconds=grace)
    with reg.sessions() as s:
        manifests = {mid: (rid, d, subj) for mid, rid, d, subj in
                     s.execute(select(Manifest.id, Manifest.repository_id, Manifest.digest, Manifest.subject_digest))}
        by_key = {(rid, d): mid for mid, (rid, d, _) in manifests.items()}
        pinned_manifests = {(rid, d) for rid, d in s.execute(
            select(DoiPin.repository_id, DoiPin.digest).where(DoiPin.kind == "manifest"))}
        pinned_blobs = {(rid, d) for rid, d in s.execute(
            select(DoiPin.repository_id, DoiPin.digest).where(DoiPin.kind == "blob"))}
        report.pinned_kept = len(pinned_manifests) + len(pinned_blobs)
        children: dict[int, list[str]] = {}
        for mid, d in s.execute(select(ManifestRef.manifest_id, ManifestRef.digest).where(ManifestRef.kind == "manifest")):
            children.setdefault(mid, []).append(d)
        referrers: dict[tuple[int, str], list[int]] = {}
        for mid, (rid, _d, subj) in manifests.items():
            if subj:
                referrers.setdefault((rid, subj), []).append(mid)

        roots = set(s.execute(select(Tag.manifest_id)).scalars())
        roots |= {by_key[k] for k in pinned_manifests if k in by_key}
        if not delete_untagged:
            roots = set(manifests)
        live: set[int] = set()
        stack = list(roots)
        while stack:
            mid = stack.pop()
            if mid in live:
                continue
            live.add(mid)
            rid, d, _ = manifests[mid]
            stack += [by_key[(rid, c)] for c in children.get(mid, []) if (rid, c) in by_key]
            stack += referrers.get((rid, d), [])
        dead_manifests = [mid for mid in manifests if mid not in live]

    for mid in dead_manifests:
        rid, d, _ = manifests[mid]
        report.manifests_deleted.append(d)
        if not dry_run:
            with reg.transaction() as s:
                if s.execute(select(exists().where(Tag.manifest_id == mid))).scalar():
                    continue  # tagged meanwhile
                if s.execute(select(exists().where(DoiPin.repository_id == rid, DoiPin.digest == d))).scalar():
                    continue
                s.execute(delete(ManifestRef).where(ManifestRef.manifest_id == mid))
                s.execute(delete(Manifest).where(Manifest.id == mid))

    # blobs: links not referenced by any manifest of their repository, older than the grace period
    dead_set = set(dead_manifests) if dry_run else set()
    with reg.sessions() as s:
        referenced = {(rid, d) for rid, d, mid in s.execute(
            select(Manifest.repository_id, ManifestRef.digest, Manifest.id)
            .join(ManifestRef, ManifestRef.manifest_id == Manifest.id).where(ManifestRef.kind == "blob"))
            if mid not in dead_set}
        links = s.execute(select(RepositoryBlob.repository_id, RepositoryBlob.digest, RepositoryBlob.created_at)).all()
    for rid, d, created in links:
        if (rid, d) in referenced or (rid, d) in pinned_blobs or created > cutoff:
            continue
        report.links_deleted += 1
        if not dry_run:
            with reg.transaction() as s:
                still = s.execute(select(exists().where(
                    ManifestRef.digest == d, ManifestRef.kind == "blob",
                    ManifestRef.manifest_id.in_(select(Manifest.id).where(Manifest.repository_id == rid))))).scalar()
                if not still:
                    s.execute(delete(RepositoryBlob).where(RepositoryBlob.repository_id == rid,
                                                           RepositoryBlob.digest == d))

    with reg.sessions() as s:
        remaining_links = {d for (d,) in s.execute(select(RepositoryBlob.digest).distinct())}
        if dry_run:
            remaining_links = {d for rid, d, created in links
                               if (rid, d) in referenced or (rid, d) in pinned_blobs or created > cutoff}
        blobs = s.execute(select(Blob.digest, Blob.size, Blob.created_at)).all()
    pinned_digests = {d for _, d in pinned_blobs}
    for d, size, created in blobs:
        if d in remaining_links or d in pinned_digests or created > cutoff:
            continue
        report.blobs_deleted.append(d)
        report.bytes_freed += size
        if not dry_run:
            with reg.transaction() as s:
                if s.execute(select(exists().where(RepositoryBlob.digest == d))).scalar():
                    continue
                s.execute(delete(Blob).where(Blob.digest == d))
            reg.store.delete(d)

    # store files without a database row (a crash between commit and insert), older than grace
    with reg.sessions() as s:
        known = set(s.execute(select(Blob.digest)).scalars())
    now = time.time()
    for info in reg.store.blobs():
        if info.digest not in known and now - info.modified > grace:
            report.orphan_files_deleted.append(info.digest)
            report.bytes_freed += info.size
            if not dry_run:
                reg.store.delete(info.digest)

    # idle uploads
    with reg.sessions() as s:
        upload_ids = set(s.execute(select(Upload.id)).scalars())
    for upload_id, modified in list(reg.store.uploads()):
        if now - modified > upload_max_age:
            report.uploads_deleted.append(upload_id)
            if not dry_run:
                reg.store.abort_upload(upload_id)
                if upload_id in upload_ids:
                    with reg.transaction() as s:
                        s.execute(delete(Upload).where(Upload.id == upload_id))
    return report
