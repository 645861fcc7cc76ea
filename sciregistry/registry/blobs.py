"""Blob use cases: stat/open/delete, uploads (monolithic, chunked, streamed) and cross-repo mount.

An upload's bytes and offset live in the BlobStore; its existence and repository live in the
database, so any worker can serve any request of an upload. Each worker keeps the running hash of
uploads it has seen, keyed by (upload id, offset): when another worker appended in between, the
offset no longer matches and the hash is rebuilt from the stored bytes.
"""

from __future__ import annotations

import contextlib
import hmac
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

from sqlalchemy import bindparam, delete, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from sciregistry.db import insert_or_touch
from sciregistry.db.base import UTCDateTime, rowcount, utcnow
from sciregistry.db.models import Blob, Repository, RepositoryBlob, Upload
from sciregistry.errors import (
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    SizeInvalid,
    TooManyRequests,
)
from sciregistry.oci import EMPTY_JSON, EMPTY_JSON_DIGEST, new_hasher, parse_digest
from sciregistry.registry.base import ReadCheck, RegistryBase
from sciregistry.registry.types import BlobRecord, UploadStatus
from sciregistry.storage import UploadNotFound, UploadOffsetMismatch

READ_SIZE = 1 << 20
_UPLOAD_ID = re.compile(r"[A-Za-z0-9-]{8,64}")

_LINKED_BLOB = (
    select(Blob.size, RepositoryBlob.repository_id, RepositoryBlob.pushed_at)
    .join(RepositoryBlob, RepositoryBlob.digest == Blob.digest)
    .join(Repository, Repository.id == RepositoryBlob.repository_id)
    .where(Repository.name == bindparam("name"), Blob.digest == bindparam("digest"))
)
_UPLOAD = (
    select(Upload.repository_id, Repository.name)
    .join(Repository, Repository.id == Upload.repository_id)
    .where(Upload.id == bindparam("id"))
)


def _capped_insert(upload_id: str, repository_id: int, owner: str, max_open: int):
    """INSERT the session row only while ``owner`` has fewer than ``max_open`` (no row returned: over;
    RETURNING, because rowcount is not reliable for INSERT ... SELECT on every driver)."""
    open_now = select(func.count()).select_from(Upload).where(Upload.owner == owner).scalar_subquery()
    row = select(
        literal(upload_id), literal(repository_id), literal(utcnow(), UTCDateTime()), literal(owner)
    ).where(open_now < max_open)
    return (
        insert(Upload).from_select(["id", "repository_id", "created_at", "owner"], row).returning(Upload.id)
    )


class _Hashers:
    """Per-worker cache of running hashes: upload id -> (offset, hasher). Bounded LRU."""

    def __init__(self, capacity: int = 256) -> None:
        self._items: OrderedDict[str, tuple[int, object]] = OrderedDict()
        self._lock = threading.Lock()
        self._capacity = capacity

    def take(self, upload_id: str, offset: int):
        with self._lock:
            item = self._items.pop(upload_id, None)
        if item and item[0] == offset:
            return item[1]
        return None

    def put(self, upload_id: str, offset: int, hasher: object) -> None:
        with self._lock:
            self._items[upload_id] = (offset, hasher)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)

    def drop(self, upload_id: str) -> None:
        with self._lock:
            self._items.pop(upload_id, None)


_HASH_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sciregistry-hash")


def read_stream(stream: BinaryIO, hasher, limit: int | None = None) -> Iterator[bytes]:
    """Yield a request body in 1 MiB reads, hashing as it goes.

    Hashing runs in a worker thread (hashlib releases the GIL on large buffers) while the caller
    writes the chunk and the next one is received, so receive, hash and write overlap. Updates stay
    in order: a chunk's hash must finish before the next chunk's starts.
    """
    readinto = getattr(stream, "readinto", None)
    # Two buffers, used in turn: chunk k's buffer is refilled at k+2, after its hash finished (waited
    # for before hashing k+1) and after the store consumed it (BlobStore.append_upload contract).
    buffers = (bytearray(READ_SIZE), bytearray(READ_SIZE)) if readinto is not None else ()
    turn = 0
    remaining = limit
    pending = None
    try:
        while True:
            n = READ_SIZE if remaining is None else min(READ_SIZE, remaining)
            if n == 0:
                return
            if readinto is not None:
                buf = memoryview(buffers[turn])[:n]
                turn ^= 1
                got = readinto(buf)
                if not got:
                    return
                b: bytes | memoryview = buf[:got]
            else:
                b = stream.read(n)
                if not b:
                    return
            if pending is not None:
                pending.result()
            pending = _HASH_POOL.submit(hasher.update, b)
            if remaining is not None:
                remaining -= len(b)
            yield b
    finally:
        if pending is not None:
            pending.result()


class _Collected(Exception):
    """Rolls back a mount whose bytes gc deleted between the look-up and the link."""


class BlobOps(RegistryBase):
    _hashers = _Hashers()

    # --- reading ---
    def stat_blob(self, repository: str, digest: str, *, touch: bool = False) -> BlobRecord:
        """The blob linked into ``repository``. With ``touch`` (a HEAD: a push asking whether it may
        skip the upload), a stale link's freshness is refreshed, so that gc keeps the blob for the
        manifest that is about to name it: one UPDATE at most every ``touch_after`` seconds."""
        parse_digest(digest)
        with self.engine.connect() as conn:
            row = conn.execute(_LINKED_BLOB, {"name": repository, "digest": digest}).first()
            if row is None:
                raise BlobUnknown(detail={"digest": digest})
            size, rid, pushed_at = row
            if touch:
                now, stale_before = self.freshness()
                if pushed_at is None or pushed_at < stale_before:
                    link = (RepositoryBlob.repository_id == rid, RepositoryBlob.digest == digest)
                    touched = conn.execute(
                        update(RepositoryBlob)
                        .where(
                            *link,
                            or_(RepositoryBlob.pushed_at.is_(None), RepositoryBlob.pushed_at < stale_before),
                        )
                        .values(pushed_at=now)
                    )
                    conn.commit()
                    if (
                        touched.rowcount == 0
                        and conn.execute(select(RepositoryBlob.digest).where(*link)).first() is None
                    ):
                        raise BlobUnknown(detail={"digest": digest})  # gc unlinked it after our read
        return BlobRecord(digest, size)

    def open_blob(self, digest: str) -> BinaryIO:
        from sciregistry.storage import BlobNotFound

        try:
            return self.store.open(digest)
        except BlobNotFound as exc:
            if digest == EMPTY_JSON_DIGEST:
                self.store.put(digest, EMPTY_JSON)
                return self.store.open(digest)
            raise BlobUnknown(detail={"digest": digest}) from exc

    # --- deleting ---
    def delete_blob(self, repository: str, digest: str) -> None:
        """Unlink a blob from a repository; its bytes go at the next garbage collection."""
        parse_digest(digest)
        with self.transaction() as s:
            rid = self.require_repository(s, repository)
            self.hooks.check_blob_delete(s, rid, digest)
            res = s.execute(
                delete(RepositoryBlob).where(
                    RepositoryBlob.repository_id == rid, RepositoryBlob.digest == digest
                )
            )
            if rowcount(res) == 0:
                raise BlobUnknown(detail={"digest": digest})

    # --- linking ---
    def _link_in(self, s: Session, repository_id: int, digest: str, size: int) -> None:
        """Record the blob and link it into the repository (idempotent, race-safe), refreshing the
        freshness of both when stale. The blob row is written first: from here to the end of the
        transaction its lock keeps gc from deleting the blob's file (gc takes the same lock, then
        re-checks that no link exists, registry/gc.py), so a caller that looks at the store *after*
        this call and before commit sees a file that stays, or no file (and must write it)."""
        now, stale_before = self.freshness()
        s.execute(insert_or_touch(s, Blob, {"digest": digest, "size": size}, now, stale_before))
        s.execute(
            insert_or_touch(
                s, RepositoryBlob, {"repository_id": repository_id, "digest": digest}, now, stale_before
            )
        )

    def mount_blob(
        self, repository: str, digest: str, source: str | None, can_read: ReadCheck | None = None
    ) -> BlobRecord | None:
        """Cross-repository mount. Returns the blob when mounted, None when the caller must upload.

        With ``source``, the blob must be linked there and the caller must be able to read it;
        without, any readable repository holding it will do (automatic content discovery).
        """
        parse_digest(digest)
        with self.engine.connect() as conn:
            q = (
                select(Repository.name, Blob.size)
                .join(RepositoryBlob, RepositoryBlob.repository_id == Repository.id)
                .join(Blob, Blob.digest == RepositoryBlob.digest)
                .where(Blob.digest == digest)
            )
            if source is not None:
                q = q.where(Repository.name == source)
            rows = conn.execute(q.limit(50)).all()
        for name, size in rows:
            if can_read is None or can_read(name):
                rid = self.ensure_repository(repository)
                try:
                    with self.transaction() as s:
                        self._link_in(s, rid, digest, size)
                        if self.store.stat(digest) is None:
                            raise _Collected
                except _Collected:  # gc deleted the bytes meanwhile: the client uploads the blob
                    return None
                return BlobRecord(digest, size)
        return None

    # --- uploads ---
    def start_upload(self, repository: str, owner: str | None = None, max_open: int = 0) -> UploadStatus:
        """Open an upload session. With ``owner`` and ``max_open``, refuse (TOOMANYREQUESTS) when
        ``owner`` already has ``max_open`` sessions open: one conditional INSERT, no extra query."""
        rid = self.ensure_repository(repository)
        upload_id = str(uuid.uuid4())
        self.store.start_upload(upload_id)
        try:
            with self.transaction() as s:
                if owner is None or max_open <= 0:
                    s.add(Upload(id=upload_id, repository_id=rid, owner=owner))
                    refused = False
                else:
                    refused = s.execute(_capped_insert(upload_id, rid, owner, max_open)).first() is None
        except BaseException:
            self.store.abort_upload(upload_id)
            raise
        if refused:
            self.store.abort_upload(upload_id)
            raise TooManyRequests(
                f"too many open upload sessions: at most {max_open} per user; finish or "
                f"cancel (DELETE) some, or wait until idle ones expire",
                {"max_open_uploads": max_open},
                headers={"Retry-After": "60"},
            )
        return UploadStatus(upload_id, repository, 0)

    def expire_idle_uploads(self, max_idle: float, now: float | None = None) -> list[str]:
        """Remove upload sessions (bytes and row) that received nothing for ``max_idle`` seconds;
        returns their ids. Safe to run while serving and from several workers at once: a session
        is idle by its bytes' modification time, which every append refreshes."""
        now = time.time() if now is None else now
        expired = [
            upload_id for upload_id, modified in list(self.store.uploads()) if now - modified > max_idle
        ]
        for upload_id in expired:
            self._discard_upload(upload_id)
        return expired

    def _check_upload(self, repository: str, upload_id: str) -> int:
        """The repository id of upload ``upload_id``, which must belong to ``repository``."""
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise BlobUploadUnknown(detail={"upload": upload_id[:64]})
        with self.engine.connect() as conn:
            row = conn.execute(_UPLOAD, {"id": upload_id}).first()
        if row is None or not hmac.compare_digest(row[1], repository):
            raise BlobUploadUnknown(detail={"upload": upload_id[:64]})
        return int(row[0])

    def upload_status(self, repository: str, upload_id: str) -> UploadStatus:
        self._check_upload(repository, upload_id)
        with _live_upload(upload_id):
            return UploadStatus(upload_id, repository, self.store.upload_size(upload_id))

    def _hasher_at(self, upload_id: str, offset: int, algorithm: str = "sha256"):
        h = self._hashers.take(upload_id, offset) if algorithm == "sha256" else None
        if h is None:
            h = new_hasher(algorithm)
            with _live_upload(upload_id), self.store.open_upload(upload_id) as f:
                remaining = offset
                while remaining > 0 and (b := f.read(min(READ_SIZE, remaining))):
                    h.update(b)
                    remaining -= len(b)
        return h

    def append_upload(
        self,
        repository: str,
        upload_id: str,
        stream: BinaryIO,
        start: int | None = None,
        length: int | None = None,
    ) -> UploadStatus:
        """Append a request body. ``start`` comes from Content-Range (must equal the current size,
        else 416); ``length`` from Content-Length (the body must have exactly that many bytes)."""
        self._check_upload(repository, upload_id)
        return self._append(repository, upload_id, stream, start, length)

    def _append(
        self, repository: str, upload_id: str, stream: BinaryIO, start: int | None, length: int | None
    ) -> UploadStatus:
        with _live_upload(upload_id):
            offset = self.store.upload_size(upload_id)
        if start is not None and start != offset:
            raise BlobUploadInvalid(
                "chunk out of order",
                {"expected_start": offset, "start": start},
                status=416,
            )
        hasher = self._hasher_at(upload_id, offset)
        self._hashers.drop(upload_id)
        # A body that cannot be read arrives as the API's spec error; an OSError from the store
        # (disk full, read-only) is the server's fault and is never turned into a client error here.
        try:
            with _live_upload(upload_id):
                new_size = self.store.append_upload(upload_id, offset, read_stream(stream, hasher, length))
        except UploadOffsetMismatch as exc:
            raise BlobUploadInvalid(
                "chunk out of order (concurrent write)",
                {"expected_start": exc.expected},
                status=416,
            ) from exc
        if length is not None and new_size - offset != length:
            raise SizeInvalid(
                "body shorter than Content-Length", {"expected": length, "received": new_size - offset}
            )
        self._hashers.put(upload_id, new_size, hasher)
        return UploadStatus(upload_id, repository, new_size)

    def finish_upload(
        self,
        repository: str,
        upload_id: str,
        digest: str,
        stream: BinaryIO | None = None,
        length: int | None = None,
        start: int | None = None,
    ) -> BlobRecord:
        """Complete an upload with an optional final chunk; verify ``digest``; commit the blob."""
        d = parse_digest(digest)
        rid = self._check_upload(repository, upload_id)
        if stream is not None and (length is None or length > 0):
            status = self._append(repository, upload_id, stream, start, length)
            size = status.size
        else:
            with _live_upload(upload_id):
                size = self.store.upload_size(upload_id)
        hasher = self._hasher_at(upload_id, size, d.algorithm)
        self._hashers.drop(upload_id)
        actual = f"{d.algorithm}:{hasher.hexdigest()}"
        if not hmac.compare_digest(actual, digest):
            self._discard_upload(upload_id)
            raise DigestInvalid(detail={"expected": digest, "actual": actual})
        # Rows first, then the file, in one transaction: when the database is unreachable nothing has
        # moved yet and the client can retry the same PUT; when the file cannot be committed (disk
        # full) the rows roll back and the upload is still there.
        # Deleting the session row first also decides a race between two final PUTs (or a PUT and
        # a cancel) of one session: the loser finds no row and gets BLOB_UPLOAD_UNKNOWN.
        # Whether the store has the bytes already is asked only once the blob row is locked
        # (_link_in): gc cannot be deleting them then, so dropping this upload's copy is safe.
        with self.transaction() as s:
            if rowcount(s.execute(delete(Upload).where(Upload.id == upload_id))) == 0:
                raise BlobUploadUnknown(detail={"upload": upload_id})
            self._link_in(s, rid, digest, size)
            s.flush()
            info = self.store.stat(digest)
            known = info is not None and info.size == size
            if not known:
                with _live_upload(upload_id):
                    self.store.commit_upload(upload_id, digest)
        if known:
            self.store.abort_upload(upload_id)
        return BlobRecord(digest, size)

    def upload_blob(self, repository: str, digest: str, stream: BinaryIO, length: int | None) -> BlobRecord:
        """A one-shot upload (POST ?digest=). The client never learns the session, so it cannot
        resume or cancel it: on any failure the session and its bytes are discarded at once."""
        parse_digest(digest)
        status = self.start_upload(repository)
        try:
            return self.finish_upload(repository, status.upload_id, digest, stream, length)
        except BaseException:
            with contextlib.suppress(Exception):  # the database may be what failed: the bytes go first
                self._discard_upload(status.upload_id)
            raise

    def cancel_upload(self, repository: str, upload_id: str) -> None:
        self._check_upload(repository, upload_id)
        self._discard_upload(upload_id)

    def _discard_upload(self, upload_id: str) -> None:
        self._hashers.drop(upload_id)
        self.store.abort_upload(upload_id)
        with self.transaction() as s:
            s.execute(delete(Upload).where(Upload.id == upload_id))

    def put_small_blob(self, repository: str, data: bytes, digest: str) -> BlobRecord:
        """Store bytes already in memory (used by tests and server-side artifacts such as reports)."""
        d = parse_digest(digest)
        h = new_hasher(d.algorithm)
        h.update(data)
        if f"{d.algorithm}:{h.hexdigest()}" != digest:
            raise DigestInvalid(detail={"expected": digest})
        rid = self.ensure_repository(repository)
        with self.transaction() as s:
            self._link_in(s, rid, digest, len(data))  # the row lock first: gc is not deleting the file now
            s.flush()
            self.store.put(digest, data)
        return BlobRecord(digest, len(data))

    def blobs_in(
        self, repository_id: int, digests: Iterable[str], session: Session | None = None
    ) -> set[str]:
        """Which of ``digests`` are linked into the repository (read in ``session`` when given)."""
        wanted = list(dict.fromkeys(digests))
        if not wanted:
            return set()
        out: set[str] = set()
        with contextlib.ExitStack() as stack:
            run = session if session is not None else stack.enter_context(self.engine.connect())
            for i in range(0, len(wanted), 500):  # bounded IN lists (SQLite caps bound variables)
                out.update(
                    run.execute(
                        select(RepositoryBlob.digest).where(
                            RepositoryBlob.repository_id == repository_id,
                            RepositoryBlob.digest.in_(wanted[i : i + 500]),
                        )
                    ).scalars()
                )
        return out


@contextlib.contextmanager
def _live_upload(upload_id: str) -> Iterator[None]:
    """The store's UploadNotFound inside is the client's BLOB_UPLOAD_UNKNOWN: the session ended
    (finished or cancelled by a concurrent request, or collected)."""
    try:
        yield
    except UploadNotFound as exc:
        raise BlobUploadUnknown(detail={"upload": upload_id}) from exc
