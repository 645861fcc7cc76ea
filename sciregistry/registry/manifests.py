"""Manifest, tag, referrers and catalog use cases."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import bindparam, delete, insert, or_, select, update

from sciregistry.db.base import utcnow
from sciregistry.db.models import Manifest, ManifestRef, Repository, Tag
from sciregistry.errors import (
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameUnknown,
)
from sciregistry.oci import (
    EMPTY_JSON,
    EMPTY_JSON_DIGEST,
    INDEX_TYPES,
    compute,
    fallback_tag,
    is_digest,
    is_tag,
    parse_digest,
    parse_manifest,
)
from sciregistry.registry.base import ReadCheck, retry_conflicts
from sciregistry.registry.blobs import BlobOps
from sciregistry.registry.types import ManifestPush, ManifestRecord, Page, PushedManifest

_COLS = (
    Manifest.digest,
    Manifest.media_type,
    Manifest.size,
    Manifest.content,
    Manifest.subject_digest,
    Manifest.artifact_type,
    Manifest.id,
    Manifest.pushed_at,
)
_BY_TAG = (
    select(*_COLS)
    .join(Tag, Tag.manifest_id == Manifest.id)
    .join(Repository, Repository.id == Tag.repository_id)
    .where(Repository.name == bindparam("name"), Tag.name == bindparam("ref"))
)
_BY_DIGEST = (
    select(*_COLS)
    .join(Repository, Repository.id == Manifest.repository_id)
    .where(Repository.name == bindparam("name"), Manifest.digest == bindparam("ref"))
)
_REPO_EXISTS = select(Repository.id).where(Repository.name == bindparam("name"))
MAX_LISTED = 100  # digests named in an error's detail (a 4 MiB manifest can name 38,000)
BATCH = 500  # digests per IN (...) query (SQLite allows 32,766 variables; PostgreSQL plans large lists badly)


def _missing(digests: list[str]) -> dict[str, Any]:
    """An error detail naming missing digests: at most MAX_LISTED of them, and how many in all."""
    if len(digests) <= MAX_LISTED:
        return {"missing": digests}
    return {"missing": digests[:MAX_LISTED], "missing_count": len(digests)}


def _batches(items: list[str]) -> list[list[str]]:
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


class ManifestOps(BlobOps):
    # --- reading ---
    def get_manifest(self, repository: str, reference: str, *, touch: bool = False) -> ManifestRecord:
        """A manifest by tag or digest: exact stored bytes and media type. With ``touch`` (a HEAD, as a
        push asks before it skips a child manifest it then names in an index), a stale manifest's
        freshness is refreshed when the reference is a digest: gc keeps it for the coming index."""
        if is_digest(reference):
            stmt = _BY_DIGEST
        elif is_tag(reference):
            stmt = _BY_TAG
        elif ":" in reference:
            raise DigestInvalid("invalid digest", {"digest": reference[:200]})
        else:
            raise ManifestUnknown("invalid reference", {"reference": reference[:200]})
        with self.engine.connect() as conn:
            row = conn.execute(stmt, {"name": repository, "ref": reference}).first()
            if row is None:
                if conn.execute(_REPO_EXISTS, {"name": repository}).first() is None:
                    raise NameUnknown(detail={"name": repository})
                raise ManifestUnknown(detail={"reference": reference})
            if touch and stmt is _BY_DIGEST:
                now, stale_before = self.freshness()
                if row[7] is None or row[7] < stale_before:
                    touched = conn.execute(
                        update(Manifest)
                        .where(
                            Manifest.id == row[6],
                            or_(Manifest.pushed_at.is_(None), Manifest.pushed_at < stale_before),
                        )
                        .values(pushed_at=now)
                    )
                    conn.commit()
                    if (
                        touched.rowcount == 0
                        and conn.execute(select(Manifest.id).where(Manifest.id == row[6])).first() is None
                    ):
                        # gc deleted it after our read: answering 200 would make the client skip
                        # the push of a manifest its index then names
                        raise ManifestUnknown(detail={"reference": reference})
        return ManifestRecord(repository, row[0], row[1], row[2], row[3], row[4], row[5])

    # --- writing ---
    def put_manifest(
        self,
        repository: str,
        reference: str,
        data: bytes,
        content_type: str | None,
        *,
        can_read: ReadCheck | None = None,
    ) -> PushedManifest:
        """``can_read``: whether the pusher may read a repository (for the push hooks: a run crate
        may name only what its pusher can read); None when authentication is off."""
        digest_ref = is_digest(reference)
        if not digest_ref and not is_tag(reference):
            raise ManifestInvalid("invalid tag", {"reference": reference[:200]})
        if digest_ref:
            alg = parse_digest(reference).algorithm
            digest = compute(data, alg)
            if digest != reference:
                raise DigestInvalid(
                    "manifest digest does not match the reference", {"expected": reference, "actual": digest}
                )
        else:
            digest = compute(data)
        parsed = parse_manifest(data, content_type)
        # Everything that needs no database happens before the lock (a run crate is read and
        # validated here): other pushes to the repository, and on SQLite every write, wait on it.
        prepared = self.hooks.prepare_manifest_push(repository, digest, parsed)
        # A concurrent push of the same manifest or tag, or a delete of the manifest, can win the
        # race between the checks and the writes: the next attempt sees what it did (and does not
        # parse or validate again).
        return retry_conflicts(
            lambda: self._store_manifest(
                repository, reference, digest_ref, digest, data, parsed, prepared, can_read
            )
        )

    def _store_manifest(
        self,
        repository: str,
        reference: str,
        digest_ref: bool,
        digest: str,
        data: bytes,
        parsed: Any,
        prepared: dict[str, Any],
        can_read: ReadCheck | None = None,
    ) -> PushedManifest:
        rid = self.ensure_repository(repository)
        with self.transaction() as s:
            self.lock_repository(s, rid)
            self._check_references(s, rid, parsed)
            now, stale_before = self.freshness()
            existing = s.execute(
                select(Manifest.id, Manifest.pushed_at).where(
                    Manifest.repository_id == rid, Manifest.digest == digest
                )
            ).first()
            created = existing is None
            if existing is not None:
                mid: int = existing[0]
                if existing[1] is None or existing[1] < stale_before:  # pushed again: fresh again
                    s.execute(update(Manifest).where(Manifest.id == mid).values(pushed_at=now))
            else:
                row = Manifest(
                    repository_id=rid,
                    digest=digest,
                    media_type=parsed.media_type,
                    artifact_type=parsed.artifact_type,
                    subject_digest=parsed.subject.digest if parsed.subject else None,
                    annotations=json.dumps(parsed.annotations) if parsed.annotations else None,
                    size=len(data),
                    content=data,
                    pushed_at=now,
                )
                s.add(row)
                s.flush()
                mid = row.id
                refs = [{"manifest_id": mid, "digest": d, "kind": "blob"} for d in parsed.blob_digests]
                refs += [{"manifest_id": mid, "digest": d, "kind": "manifest"} for d in parsed.child_digests]
                if refs:
                    s.execute(insert(ManifestRef), refs)  # one executemany, not an ORM object per layer
            if not digest_ref:
                self._set_tag(s, rid, reference, mid)
            if created:
                s.flush()
                self.hooks.on_manifest_push(
                    s,
                    ManifestPush(
                        repository,
                        rid,
                        mid,
                        digest,
                        data,
                        parsed,
                        None if digest_ref else reference,
                        prepared,
                        can_read=can_read,
                    ),
                )
        return PushedManifest(digest, parsed.subject.digest if parsed.subject else None, created)

    def _check_references(self, s, rid: int, parsed) -> None:
        blobs = parsed.blob_digests
        if blobs:
            have = self.blobs_in(rid, blobs, session=s)
            missing = [d for d in blobs if d not in have]
            if EMPTY_JSON_DIGEST in missing:  # the empty config of artifacts: every registry has it
                # in this transaction (it holds the lock); the row (and its lock) before the file
                self._link_in(s, rid, EMPTY_JSON_DIGEST, len(EMPTY_JSON))
                self.store.put(EMPTY_JSON_DIGEST, EMPTY_JSON)
                missing.remove(EMPTY_JSON_DIGEST)
            if missing:
                raise ManifestBlobUnknown(detail=_missing(missing))
        children = parsed.child_digests
        if children:
            have_m: set[str] = set()
            for batch in _batches(children):
                have_m.update(
                    s.execute(
                        select(Manifest.digest).where(
                            Manifest.repository_id == rid, Manifest.digest.in_(batch)
                        )
                    ).scalars()
                )
            missing = [d for d in children if d not in have_m]
            if missing:
                raise ManifestBlobUnknown(
                    "index references manifests unknown to the repository", _missing(missing)
                )

    def _set_tag(self, s, rid: int, tag: str, mid: int) -> None:
        existing = s.get(Tag, (rid, tag))
        if existing is None:
            s.add(Tag(repository_id=rid, name=tag, manifest_id=mid))
            s.flush()
            self.hooks.on_tag_set(s, rid, tag, mid)
        elif existing.manifest_id != mid:
            self.hooks.check_tag_change(s, rid, tag, existing.manifest_id)
            existing.manifest_id = mid
            existing.updated_at = utcnow()
            self.hooks.on_tag_set(s, rid, tag, mid)

    def delete_manifest(self, repository: str, reference: str) -> None:
        """By digest: delete the manifest and every tag on it. By tag: delete only the tag."""
        retry_conflicts(lambda: self._delete_manifest(repository, reference))

    def _delete_manifest(self, repository: str, reference: str) -> None:
        with self.transaction() as s:
            rid = self.require_repository(s, repository)
            self.lock_repository(s, rid)
            if is_digest(reference):
                mid = s.execute(
                    select(Manifest.id).where(Manifest.repository_id == rid, Manifest.digest == reference)
                ).scalar()
                if mid is None:
                    raise ManifestUnknown(detail={"reference": reference})
                self.hooks.check_manifest_delete(s, rid, mid, reference)
                for tag_name in s.execute(select(Tag.name).where(Tag.manifest_id == mid)).scalars().all():
                    self.hooks.check_tag_change(s, rid, tag_name, mid)
                s.execute(delete(Tag).where(Tag.manifest_id == mid))
                s.execute(delete(ManifestRef).where(ManifestRef.manifest_id == mid))
                s.execute(delete(Manifest).where(Manifest.id == mid))
            elif is_tag(reference):
                tag = s.get(Tag, (rid, reference))
                if tag is None:
                    raise ManifestUnknown(detail={"reference": reference})
                self.hooks.check_tag_change(s, rid, reference, tag.manifest_id)
                s.delete(tag)
            else:
                raise ManifestUnknown("invalid reference", {"reference": reference[:200]})

    # --- listings ---
    def list_tags(self, repository: str, n: int | None = None, last: str | None = None) -> Page:
        with self.engine.connect() as conn:
            rid = conn.execute(_REPO_EXISTS, {"name": repository}).scalar()
            if rid is None:
                raise NameUnknown(detail={"name": repository})
            q = select(Tag.name).where(Tag.repository_id == rid).order_by(Tag.name)
            if last:
                q = q.where(Tag.name > last)
            if n is not None:
                q = q.limit(n + 1)
            names = list(conn.execute(q).scalars())
        if n is not None and len(names) > n:
            names = names[:n]
            return Page(names, names[-1] if names else None)
        return Page(names)

    def catalog(self, n: int | None = None, last: str | None = None, visible=None) -> Page:
        """Repository names in lexical order; ``visible(name)`` filters what the caller may see."""
        out: list[str] = []
        cursor = last
        with self.engine.connect() as conn:
            while True:
                q = select(Repository.name).order_by(Repository.name).limit(500)
                if cursor:
                    q = q.where(Repository.name > cursor)
                batch = list(conn.execute(q).scalars())
                if not batch:
                    return Page(out)
                for name in batch:
                    if visible is None or visible(name):
                        out.append(name)
                        if n is not None and len(out) > n:
                            out = out[:n]
                            return Page(out, out[-1] if out else None)
                cursor = batch[-1]

    def referrers(
        self, repository: str, digest: str, artifact_type: str | None = None
    ) -> list[dict[str, Any]]:
        """Descriptors of every manifest in ``repository`` whose subject is ``digest``, plus the
        entries of a ``<alg>-<hex>`` fallback tag index; filtered by artifactType when given."""
        parse_digest(digest)
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            rid = conn.execute(_REPO_EXISTS, {"name": repository}).scalar()
            if rid is None:
                return []
            rows = conn.execute(
                select(
                    Manifest.digest,
                    Manifest.media_type,
                    Manifest.size,
                    Manifest.artifact_type,
                    Manifest.annotations,
                )
                .where(Manifest.repository_id == rid, Manifest.subject_digest == digest)
                .order_by(Manifest.id)
            )
            for d, mt, size, at, ann in rows:
                desc: dict[str, Any] = {"mediaType": mt, "digest": d, "size": size}
                if at:
                    desc["artifactType"] = at
                if ann:
                    desc["annotations"] = json.loads(ann)
                out[d] = desc
            fb = conn.execute(
                select(Manifest.media_type, Manifest.content)
                .join(Tag, Tag.manifest_id == Manifest.id)
                .where(Tag.repository_id == rid, Tag.name == fallback_tag(digest))
            ).first()
        if fb is not None and fb[0] in INDEX_TYPES:
            try:
                items = json.loads(fb[1]).get("manifests", [])
            except ValueError:
                items = []
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("digest"), str):
                    out.setdefault(item["digest"], item)
        result = list(out.values())
        if artifact_type is not None:
            result = [d for d in result if d.get("artifactType") == artifact_type]
        return result
