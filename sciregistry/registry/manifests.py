"""Manifest, tag, referrers and catalog use cases."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import bindparam, delete, select

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
from sciregistry.registry.base import retry_conflicts
from sciregistry.registry.blobs import BlobOps
from sciregistry.registry.types import ManifestPush, ManifestRecord, Page, PushedManifest

_COLS = (Manifest.digest, Manifest.media_type, Manifest.size, Manifest.content, Manifest.subject_digest,
         Manifest.artifact_type)
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


class ManifestOps(BlobOps):
    # --- reading ---
    def get_manifest(self, repository: str, reference: str) -> ManifestRecord:
        """A manifest by tag or digest: exact stored bytes and media type."""
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
        return ManifestRecord(repository, row[0], row[1], row[2], row[3], row[4], row[5])

    # --- writing ---
    def put_manifest(self, repository: str, reference: str, data: bytes,
                     content_type: str | None) -> PushedManifest:
        # A concurrent push of the same manifest or tag, or a delete of the manifest, can win the
        # race between the checks and the writes: the next attempt sees what it did.
        return retry_conflicts(lambda: self._put_manifest(repository, reference, data, content_type))

    def _put_manifest(self, repository: str, reference: str, data: bytes,
                      content_type: str | None) -> PushedManifest:
        digest_ref = is_digest(reference)
        if not digest_ref and not is_tag(reference):
            raise ManifestInvalid("invalid tag", {"reference": reference[:200]})
        if digest_ref:
            alg = parse_digest(reference).algorithm
            digest = compute(data, alg)
            if digest != reference:
                raise DigestInvalid("manifest digest does not match the reference",
                                    {"expected": reference, "actual": digest})
        else:
            digest = compute(data)
        parsed = parse_manifest(data, content_type)
        rid = self.ensure_repository(repository)

        with self.transaction() as s:
            self.lock_repository(s, rid)
            self._check_references(s, rid, parsed)
            mid = s.execute(select(Manifest.id).where(Manifest.repository_id == rid,
                                                      Manifest.digest == digest)).scalar()
            created = mid is None
            if created:
                row = Manifest(repository_id=rid, digest=digest, media_type=parsed.media_type,
                               artifact_type=parsed.artifact_type,
                               subject_digest=parsed.subject.digest if parsed.subject else None,
                               annotations=json.dumps(parsed.annotations) if parsed.annotations else None,
                               size=len(data), content=data)
                s.add(row)
                s.flush()
                mid = row.id
                refs = [ManifestRef(manifest_id=mid, digest=d, kind="blob") for d in parsed.blob_digests]
                refs += [ManifestRef(manifest_id=mid, digest=d, kind="manifest") for d in parsed.child_digests]
                s.add_all(refs)
            if not digest_ref:
                self._set_tag(s, rid, reference, mid)
            if created:
                s.flush()
                self.hooks.on_manifest_push(s, ManifestPush(repository, rid, mid, digest, data, parsed,
                                                            None if digest_ref else reference))
        return PushedManifest(digest, parsed.subject.digest if parsed.subject else None, created)

    def _check_references(self, s, rid: int, parsed) -> None:  # type: ignore[no-untyped-def]
        blobs = parsed.blob_digests
        if blobs:
            have = self.blobs_in(rid, blobs, session=s)
            missing = [d for d in blobs if d not in have]
            if EMPTY_JSON_DIGEST in missing:  # the empty config of artifacts: every registry has it
                self.store.put(EMPTY_JSON_DIGEST, EMPTY_JSON)
                self._link_in(s, rid, EMPTY_JSON_DIGEST, len(EMPTY_JSON))  # in this transaction (it holds the lock)
                missing.remove(EMPTY_JSON_DIGEST)
            if missing:
                raise ManifestBlobUnknown(detail={"missing": missing})
        children = parsed.child_digests
        if children:
            have_m = set(s.execute(select(Manifest.digest).where(Manifest.repository_id == rid,
                                                                 Manifest.digest.in_(children))).scalars())
            missing = [d for d in children if d not in have_m]
            if missing:
                raise ManifestBlobUnknown("index references manifests unknown to the repository",
                                          {"missing": missing})

    def _set_tag(self, s, rid: int, tag: str, mid: int) -> None:  # type: ignore[no-untyped-def]
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
                mid = s.execute(select(Manifest.id).where(Manifest.repository_id == rid,
                                                          Manifest.digest == reference)).scalar()
                if mid is None:
                    raise ManifestUnknown(detail={"reference": reference})
                self.hooks.check_manifest_delete(s, rid, mid, reference)
                for tag in s.execute(select(Tag.name).where(Tag.manifest_id == mid)).scalars().all():
                    self.hooks.check_tag_change(s, rid, tag, mid)
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

    def catalog(self, n: int | None = None, last: str | None = None, visible=None) -> Page:  # type: ignore[no-untyped-def]
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

    def referrers(self, repository: str, digest: str, artifact_type: str | None = None) -> list[dict[str, Any]]:
        """Descriptors of every manifest in ``repository`` whose subject is ``digest``, plus the
        entries of a ``<alg>-<hex>`` fallback tag index; filtered by artifactType when given."""
        parse_digest(digest)
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            rid = conn.execute(_REPO_EXISTS, {"name": repository}).scalar()
            if rid is None:
                return []
            rows = conn.execute(
                select(Manifest.digest, Manifest.media_type, Manifest.size, Manifest.artifact_type,
                       Manifest.annotations)
                .where(Manifest.repository_id == rid, Manifest.subject_digest == digest)
                .order_by(Manifest.id))
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
                .where(Tag.repository_id == rid, Tag.name == fallback_tag(digest))).first()
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
