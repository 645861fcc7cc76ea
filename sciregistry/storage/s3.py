"""S3-compatible BlobStore (AWS S3, MinIO, Ceph RGW, ...), the scale-out driver.

The only module of sciregistry that imports boto3. Object layout in ``bucket`` (the paths of
:mod:`sciregistry.storage.paths` under ``prefix``, an upload being a "directory" of objects)::

    <prefix>blobs/
      sha256/
        44/
          44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a   <- blob bytes
      sha512/...
    <prefix>uploads/
      3f0c9a1e-...-uuid/
        started                  <- empty marker written by start_upload (the upload exists iff it does)
        00000000000000000000     <- bytes appended at offset 0 (one object per append_upload call)
        00000000000000524288     <- bytes appended at offset 524288
        ...

Everything is in the bucket; a worker keeps no state, so any number of ``S3Store`` instances (workers)
on one bucket see the same blobs and uploads (DESIGN.md section 4, "Uploads are stateless").

* ``upload_size`` is the sum of the part objects' sizes (one listing). The parts must tile
  ``[0, size)`` exactly; anything else is reported as a ``StorageError``, never silently used.
* ``append_upload`` streams ``chunks`` into a *new* object named after ``offset``: a single
  PutObject when the run is smaller than ``part_size``, otherwise a multipart upload of
  ``part_size`` parts, so a worker holds at most about two parts in memory whatever the run's size.
  A run becomes visible only when its object is complete (PutObject/CompleteMultipartUpload are
  atomic), so a crash in the middle of an append leaves the upload at its previous size.
* ``commit_upload`` builds the blob object with one multipart upload: pieces of at least 5 MiB
  (S3's minimum part size, except for the last part) are copied server-side with UploadPartCopy;
  smaller pieces are streamed through the worker and merged into parts of ``part_size``. Small
  uploads become a single PutObject, a single part a single CopyObject. The blob object appears
  atomically when the multipart upload completes; the upload's objects are deleted afterwards
  (marker first, so a crash in between leaves at worst orphaned parts that ``uploads()`` still lists
  for cleanup). A crash before completion leaves an incomplete multipart upload, invisible to
  readers; configure the bucket's ``AbortIncompleteMultipartUpload`` lifecycle rule to reclaim it.
* ``open``/``open_upload`` return seekable readers that stream with (ranged) GETs.
* ``redirect_url`` returns a presigned GET URL when ``presign=True``; ``local_path`` is None.

Two appends racing at one offset (two workers, or a client retrying) are told apart with conditional
writes (``If-None-Match: *`` on PutObject and CompleteMultipartUpload, supported by AWS S3 since 2024
and by MinIO): the part object of an offset can be created once, so the loser gets
``UploadOffsetMismatch`` and nothing of it is kept. Pass ``conditional_writes=False`` for a service
that rejects the header; the last writer then wins.
"""

from __future__ import annotations

import bisect
import contextlib
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sciregistry.storage import paths
from sciregistry.storage.base import (
    BlobInfo,
    BlobNotFound,
    StorageError,
    UploadNotFound,
    UploadOffsetMismatch,
)

MiB = 1 << 20
#: S3's minimum size of every part of a multipart upload but the last.
MIN_PART_SIZE = 5 * MiB
#: S3's maximum size of one part (and of one UploadPartCopy / CopyObject source range).
MAX_PART_SIZE = 5 * 1024 * MiB
#: S3's maximum number of parts of one multipart upload.
MAX_PARTS = 10_000
DEFAULT_PART_SIZE = 8 * MiB

_PART_NAME = re.compile(r"^[0-9]{20}$")
_MARKER = "started"
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
#: A conditional write lost: the object exists (412), or another conditional write to it is in flight (409).
_CONFLICT_CODES = frozenset({"412", "PreconditionFailed", "409", "ConditionalRequestConflict"})
_READ_SIZE = 1 * MiB


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def _translate(what: str) -> Iterator[None]:
    """Turn boto errors into StorageError once, here (a missing key is handled by the callers)."""
    try:
        yield
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise StorageError(f"S3 {what} failed: {err.get('Code', '?')}: {err.get('Message', exc)}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"S3 {what} failed: {exc}") from exc


class _WriteConflict(Exception):
    """A conditional write found the object already there (or being written)."""


@dataclass(frozen=True, slots=True)
class _Segment:
    """``size`` bytes of object ``key`` that sit at ``start`` in a logical byte stream."""

    key: str
    start: int
    size: int


@dataclass(frozen=True, slots=True)
class _UploadState:
    parts: list[_Segment]  # sorted by start, tiling [0, size)
    size: int


class _S3Reader(io.RawIOBase):
    """A seekable raw reader over segments of S3 objects, streamed with (ranged) GETs.

    One GET is open at a time and read sequentially; a seek only moves the position, the next read
    reopens a GET at the new position (``Range: bytes=<n>-``) if the open one is elsewhere.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        segments: list[_Segment],
        not_found: Callable[[], Exception],
        body: Any = None,
    ) -> None:
        super().__init__()
        self._client, self._bucket = client, bucket
        self._segments = [s for s in segments if s.size > 0]
        self._starts = [s.start for s in self._segments]
        self._size = sum(s.size for s in self._segments)
        self._not_found = not_found
        self._pos = 0
        self._body: Any = body  # StreamingBody positioned at self._body_pos, or None
        self._body_pos = 0
        self._body_end = self._segments[0].size if (body is not None and self._segments) else 0

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self.closed:
            raise ValueError("seek on closed file")
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise OSError(22, f"negative seek position {pos}")
        self._pos = pos
        return pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.closed:
            raise ValueError("read from closed file")
        if not len(view) or self._pos >= self._size:
            return 0
        if self._body is None or self._body_pos != self._pos:
            self._open_at(self._pos)
        want = min(len(view), self._body_end - self._pos)
        with _translate("GetObject (read)"):
            data = self._body.read(want)
        if not data:
            raise StorageError(f"S3 object ended early at offset {self._pos} of {self._size}")
        n = len(data)
        view[:n] = data
        self._pos += n
        self._body_pos = self._pos
        if self._pos >= self._body_end:
            self._close_body()
        return n

    def close(self) -> None:
        if not self.closed:
            self._close_body()
        super().close()

    def _open_at(self, pos: int) -> None:
        self._close_body()
        i = bisect.bisect_right(self._starts, pos) - 1
        seg = self._segments[i]
        rel = pos - seg.start
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Key": seg.key}
        if rel:
            kwargs["Range"] = f"bytes={rel}-{seg.size - 1}"
        with _translate("GetObject"):
            try:
                resp = self._client.get_object(**kwargs)
            except ClientError as exc:
                if _error_code(exc) in _NOT_FOUND_CODES:
                    raise self._not_found() from exc
                raise
        self._body = resp["Body"]
        self._body_pos = pos
        self._body_end = seg.start + seg.size

    def _close_body(self) -> None:
        if self._body is not None:
            with contextlib.suppress(Exception):
                self._body.close()
            self._body = None


class S3Store:
    """BlobStore on an S3-compatible bucket (see the module docstring for the layout).

    ``endpoint_url`` selects a non-AWS service (MinIO, Ceph RGW, ...); path-style addressing is then
    used unless ``addressing_style`` says otherwise. ``access_key``/``secret_key`` default to boto3's
    usual credential chain. ``prefix`` places every key under ``<prefix>`` (e.g. ``"registry/"``).
    ``part_size`` (>= 5 MiB) is the size of the parts written by appends and by commits of small
    pieces, and so bounds the memory one request uses (about twice ``part_size``).
    ``conditional_writes`` makes racing appends at one offset fail cleanly (see the module docstring).
    The bucket must exist; it is never created here.
    """

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        prefix: str = "",
        presign: bool = False,
        part_size: int = DEFAULT_PART_SIZE,
        *,
        addressing_style: str | None = None,
        conditional_writes: bool = True,
        max_pool_connections: int = 32,
    ) -> None:
        if not bucket:
            raise ValueError("S3Store needs a bucket name")
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError(
                f"part_size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes "
                f"(S3 multipart limits), got {part_size}"
            )
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.bucket = bucket
        self.prefix = prefix
        self.presign = presign
        self.part_size = part_size
        self.endpoint_url = endpoint_url
        style = addressing_style or ("path" if endpoint_url else "auto")
        options: dict[str, Any] = {
            "signature_version": "s3v4",
            "s3": {"addressing_style": style},
            "retries": {"max_attempts": 5, "mode": "standard"},
            "max_pool_connections": max_pool_connections,
            "connect_timeout": 10,
            "read_timeout": 120,
        }
        try:
            # botocore >= 1.36 sends CRC trailers on every PUT by default, which several
            # S3-compatible services (older Ceph RGW, MinIO) reject: only send checksums S3 requires.
            config = Config(
                **options,
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
        except TypeError:  # older botocore: it never sent them
            config = Config(**options)
        session = boto3.session.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        # Any: boto3 clients are generated at run time (typed only through optional stub packages)
        self._client: Any = session.client("s3", endpoint_url=endpoint_url, config=config)
        self.conditional_writes = conditional_writes
        if conditional_writes:
            model = self._client.meta.service_model
            for op in ("PutObject", "CompleteMultipartUpload"):
                if "IfNoneMatch" not in model.operation_model(op).input_shape.members:
                    raise ValueError(
                        f"conditional_writes needs a botocore whose {op} has IfNoneMatch "
                        "(boto3 >= 1.36); upgrade it or pass conditional_writes=False"
                    )

    def __repr__(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"S3Store({self.bucket!r}, prefix={self.prefix!r}{where})"

    # --- keys (the layout of sciregistry.storage.paths, under the prefix) ---
    def _blob_key(self, digest: str) -> str:
        return self.prefix + paths.blob_path(digest)

    def _upload_prefix(self, upload_id: str) -> str:
        return f"{self.prefix}{paths.upload_path(upload_id)}/"

    # --- committed blobs ---
    def stat(self, digest: str) -> BlobInfo | None:
        try:
            key = self._blob_key(digest)
        except BlobNotFound:
            return None
        head = self._head(key)
        if head is None:
            return None
        return BlobInfo(digest, int(head["ContentLength"]), head["LastModified"].timestamp())

    def open(self, digest: str) -> BinaryIO:
        key = self._blob_key(digest)
        with _translate("GetObject"):
            try:
                resp = self._client.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _error_code(exc) in _NOT_FOUND_CODES:
                    raise BlobNotFound(digest) from exc
                raise
        size = int(resp["ContentLength"])
        raw = _S3Reader(
            self._client,
            self.bucket,
            [_Segment(key, 0, size)],
            lambda: BlobNotFound(digest),
            body=resp["Body"],
        )
        return io.BufferedReader(raw, buffer_size=_READ_SIZE)

    def local_path(self, digest: str) -> str | None:
        self._blob_key(digest)  # refuse what is not a digest, like the filesystem store
        return None

    def redirect_url(self, digest: str, expires: int = 600) -> str | None:
        key = self._blob_key(digest)
        if not self.presign:
            return None
        with _translate("presign GetObject"):
            url: str = self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires
            )
        return url

    def put(self, digest: str, data: bytes) -> None:
        key = self._blob_key(digest)
        if self._head(key) is not None:
            return
        with _translate("PutObject"):
            self._client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType="application/octet-stream"
            )

    def delete(self, digest: str) -> bool:
        try:
            key = self._blob_key(digest)
        except BlobNotFound:
            return False
        if self._head(key) is None:
            return False
        with _translate("DeleteObject"):
            self._client.delete_object(Bucket=self.bucket, Key=key)
        return True

    def blobs(self) -> Iterator[BlobInfo]:
        base = f"{self.prefix}{paths.BLOBS}/"
        for obj in self._list(base):
            parts = obj["Key"][len(base) :].split("/")
            if len(parts) != 3:
                continue
            digest = paths.digest_at(*parts)
            if digest:
                yield BlobInfo(digest, int(obj["Size"]), obj["LastModified"].timestamp())

    # --- uploads ---
    def start_upload(self, upload_id: str) -> None:
        base = self._upload_prefix(upload_id)
        if any(True for _ in self._list(base, max_keys=1)):
            raise FileExistsError(f"upload {upload_id} already exists")
        try:
            self._put_new(base + _MARKER, b"")
        except _WriteConflict as exc:
            raise FileExistsError(f"upload {upload_id} already exists") from exc

    def upload_size(self, upload_id: str) -> int:
        return self._upload_state(upload_id).size

    def append_upload(self, upload_id: str, offset: int, chunks: Iterable[bytes]) -> int:
        base = self._upload_prefix(upload_id)
        size = self._upload_state(upload_id).size
        if size != offset:
            raise UploadOffsetMismatch(size, offset)
        try:
            written = self._write_object(f"{base}{offset:020d}", chunks)
        except _WriteConflict as exc:  # another append at this offset won the race
            raise UploadOffsetMismatch(self._upload_state(upload_id).size, offset) from exc
        return offset + written

    def open_upload(self, upload_id: str) -> BinaryIO:
        state = self._upload_state(upload_id)
        raw = _S3Reader(self._client, self.bucket, state.parts, lambda: UploadNotFound(upload_id))
        return io.BufferedReader(raw, buffer_size=_READ_SIZE)

    def commit_upload(self, upload_id: str, digest: str) -> None:
        base = self._upload_prefix(upload_id)
        state = self._upload_state(upload_id)
        key = self._blob_key(digest)
        if self._head(key) is None:  # content-addressed: an existing blob already has these bytes
            self._assemble(key, state)
        self._delete_upload_objects(base, [p.key for p in state.parts])

    def abort_upload(self, upload_id: str) -> bool:
        try:
            base = self._upload_prefix(upload_id)
        except UploadNotFound:
            return False
        keys = [obj["Key"] for obj in self._list(base)]
        self._abort_multipart_uploads(base)
        if not keys:
            return False
        self._delete_upload_objects(base, [k for k in keys if k != base + _MARKER])
        return True

    def uploads(self) -> Iterator[tuple[str, float]]:
        base = f"{self.prefix}{paths.UPLOADS}/"
        current: str | None = None
        newest = 0.0
        for obj in self._list(base):
            upload_id = obj["Key"][len(base) :].split("/", 1)[0]
            if upload_id != current:
                if current is not None and paths.is_upload_id(current):
                    yield current, newest
                current, newest = upload_id, 0.0
            newest = max(newest, obj["LastModified"].timestamp())
        if current is not None and paths.is_upload_id(current):
            yield current, newest

    # --- helpers ---
    def _head(self, key: str) -> dict[str, Any] | None:
        with _translate("HeadObject"):
            try:
                head: dict[str, Any] = self._client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _error_code(exc) in _NOT_FOUND_CODES:
                    return None
                raise
        return head

    def _list(self, prefix: str, max_keys: int | None = None) -> Iterator[dict[str, Any]]:
        """Objects under ``prefix`` in key order, page by page."""
        paginate: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if max_keys is not None:
            paginate["PaginationConfig"] = {"MaxItems": max_keys, "PageSize": max_keys}
        with _translate("ListObjectsV2"):
            for page in self._client.get_paginator("list_objects_v2").paginate(**paginate):
                yield from page.get("Contents", [])

    def _upload_state(self, upload_id: str) -> _UploadState:
        base = self._upload_prefix(upload_id)
        started = False
        parts: list[tuple[int, int, str]] = []
        for obj in self._list(base):
            name = obj["Key"][len(base) :]
            if name == _MARKER:
                started = True
            elif _PART_NAME.match(name):
                parts.append((int(name), int(obj["Size"]), obj["Key"]))
        if not started:
            raise UploadNotFound(upload_id)
        parts.sort()
        segments: list[_Segment] = []
        size = 0
        for start, length, key in parts:
            if start != size:
                raise StorageError(
                    f"upload {upload_id} is inconsistent: a part starts at {start}, "
                    f"the parts before it end at {size}"
                )
            segments.append(_Segment(key, start, length))
            size += length
        return _UploadState(segments, size)

    def _put_new(self, key: str, body: bytes) -> None:
        """PutObject that creates ``key`` only if it does not exist (with conditional_writes)."""
        extra = {"IfNoneMatch": "*"} if self.conditional_writes else {}
        with _translate("PutObject"):
            try:
                self._client.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)
            except ClientError as exc:
                if _error_code(exc) in _CONFLICT_CODES:
                    raise _WriteConflict(key) from exc
                raise

    def _write_object(self, key: str, chunks: Iterable[bytes]) -> int:
        """Stream ``chunks`` into a new object ``key``; return its size (0: nothing is written).
        Raises _WriteConflict when ``key`` exists already (with conditional_writes)."""
        part_size = self.part_size
        buf = bytearray()
        total = 0
        mpu: _Multipart | None = None
        try:
            for chunk in chunks:
                if not chunk:
                    continue
                buf += chunk
                total += len(chunk)
                while len(buf) >= part_size:
                    if mpu is None:
                        mpu = _Multipart(self._client, self.bucket, key)
                    mpu.upload(bytes(memoryview(buf)[:part_size]))
                    del buf[:part_size]
            if mpu is None:
                if total:
                    self._put_new(key, bytes(buf))
                return total
            if buf:
                mpu.upload(bytes(buf))
            mpu.complete(if_none_match=self.conditional_writes)
            return total
        except BaseException:
            if mpu is not None:
                mpu.abort()
            raise

    def _assemble(self, key: str, state: _UploadState) -> None:
        """Write the upload's parts, in order, as object ``key`` (atomically visible when complete)."""
        parts = state.parts
        if not parts:
            with _translate("PutObject (commit)"):
                self._client.put_object(
                    Bucket=self.bucket, Key=key, Body=b"", ContentType="application/octet-stream"
                )
            return
        if len(parts) == 1 and parts[0].size <= MAX_PART_SIZE:
            with _translate("CopyObject (commit)"):
                self._client.copy_object(
                    Bucket=self.bucket,
                    Key=key,
                    CopySource={"Bucket": self.bucket, "Key": parts[0].key},
                    ContentType="application/octet-stream",
                    MetadataDirective="REPLACE",
                )
            return
        mpu: _Multipart | None = None
        buf = bytearray()  # small pieces streamed through this worker, not yet sent

        def mpu_() -> _Multipart:
            nonlocal mpu
            if mpu is None:
                mpu = _Multipart(self._client, self.bucket, key)
            return mpu

        def stream(seg: _Segment, start: int, end: int) -> None:
            """Append bytes [start, end) of ``seg`` to ``buf``, sending full parts as they fill up."""
            if start >= end:
                return
            with _translate("GetObject (commit)"):
                resp = self._client.get_object(
                    Bucket=self.bucket, Key=seg.key, Range=f"bytes={start}-{end - 1}"
                )
                body = resp["Body"]
                try:
                    while data := body.read(_READ_SIZE):
                        buf.extend(data)
                        while len(buf) >= self.part_size:
                            mpu_().upload(bytes(memoryview(buf)[: self.part_size]))
                            del buf[: self.part_size]
                finally:
                    body.close()

        try:
            for seg in parts:
                pos = 0
                if buf:
                    # Top the pending bytes up to S3's minimum part size from this segment when the
                    # rest of it can still be copied server-side; otherwise stream all of it.
                    need = max(0, MIN_PART_SIZE - len(buf))
                    if seg.size - need < MIN_PART_SIZE:
                        stream(seg, 0, seg.size)
                        continue
                    stream(seg, 0, need)
                    pos = need
                    if buf:  # (stream() already sent it when part_size == MIN_PART_SIZE)
                        mpu_().upload(bytes(buf))
                        buf.clear()
                if seg.size - pos < MIN_PART_SIZE:
                    stream(seg, pos, seg.size)
                    continue
                for start, end in _split_range(pos, seg.size):
                    mpu_().copy(seg.key, start, end)
            if mpu is None:  # everything fit in memory below part_size
                with _translate("PutObject (commit)"):
                    self._client.put_object(
                        Bucket=self.bucket, Key=key, Body=bytes(buf), ContentType="application/octet-stream"
                    )
                return
            if buf:
                mpu.upload(bytes(buf))
            mpu.complete()
        except BaseException:
            if mpu is not None:
                mpu.abort()
            raise

    def _delete_upload_objects(self, base: str, part_keys: list[str]) -> None:
        """Delete an upload: its marker first (the upload is gone at once), then its parts."""
        with _translate("DeleteObject (upload marker)"):
            self._client.delete_object(Bucket=self.bucket, Key=base + _MARKER)
        for i in range(0, len(part_keys), 1000):
            batch = [{"Key": k} for k in part_keys[i : i + 1000]]
            with _translate("DeleteObjects (upload parts)"):
                resp = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            errors = resp.get("Errors") or []
            if errors:
                first = errors[0]
                raise StorageError(
                    f"S3 DeleteObjects failed for {len(errors)} upload parts, "
                    f"first {first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                )

    def _abort_multipart_uploads(self, prefix: str) -> None:
        """Abort multipart uploads of appends that were interrupted (crashed worker) under ``prefix``."""
        with _translate("ListMultipartUploads"):
            pages = self._client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for up in page.get("Uploads", []):
                    with contextlib.suppress(ClientError):
                        self._client.abort_multipart_upload(
                            Bucket=self.bucket, Key=up["Key"], UploadId=up["UploadId"]
                        )


def _split_range(start: int, end: int) -> list[tuple[int, int]]:
    """Split [start, end) (at least MIN_PART_SIZE long) into copyable ranges of equal-ish size,
    each between MIN_PART_SIZE and MAX_PART_SIZE."""
    length = end - start
    n = -(-length // MAX_PART_SIZE)
    step = -(-length // n)
    return [(s, min(s + step, end)) for s in range(start, end, step)]


class _Multipart:
    """One multipart upload being written (parts numbered 1..10000 in call order)."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        self._parts: list[dict[str, Any]] = []
        with _translate("CreateMultipartUpload"):
            resp = client.create_multipart_upload(
                Bucket=bucket, Key=key, ContentType="application/octet-stream"
            )
        self._id: str = resp["UploadId"]

    def _next_number(self) -> int:
        n = len(self._parts) + 1
        if n > MAX_PARTS:
            raise StorageError(f"S3 object {self._key} would need more than {MAX_PARTS} parts")
        return n

    def upload(self, data: bytes) -> None:
        n = self._next_number()
        with _translate("UploadPart"):
            resp = self._client.upload_part(
                Bucket=self._bucket, Key=self._key, UploadId=self._id, PartNumber=n, Body=data
            )
        self._parts.append({"PartNumber": n, "ETag": resp["ETag"]})

    def copy(self, source_key: str, start: int, end: int) -> None:
        n = self._next_number()
        with _translate("UploadPartCopy"):
            resp = self._client.upload_part_copy(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._id,
                PartNumber=n,
                CopySource={"Bucket": self._bucket, "Key": source_key},
                CopySourceRange=f"bytes={start}-{end - 1}",
            )
        self._parts.append({"PartNumber": n, "ETag": resp["CopyPartResult"]["ETag"]})

    def complete(self, if_none_match: bool = False) -> None:
        """Make the object visible; with ``if_none_match`` only if it does not exist yet
        (else _WriteConflict, and the caller aborts)."""
        extra = {"IfNoneMatch": "*"} if if_none_match else {}
        with _translate("CompleteMultipartUpload"):
            try:
                self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._key,
                    UploadId=self._id,
                    MultipartUpload={"Parts": self._parts},
                    **extra,
                )
            except ClientError as exc:
                if if_none_match and _error_code(exc) in _CONFLICT_CODES:
                    raise _WriteConflict(self._key) from exc
                raise

    def abort(self) -> None:
        with contextlib.suppress(ClientError, BotoCoreError):
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._id)
