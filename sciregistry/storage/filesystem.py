"""Filesystem BlobStore (the embedded default).

On-disk layout under ``root`` (the paths of :mod:`sciregistry.storage.paths`, plus ``tmp``)::

    root/
      blobs/
        sha256/
          44/
            44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a   <- blob bytes
        sha512/...
      uploads/
        3f0c9a1e-...-uuid                                                      <- upload in progress
      tmp/                                                                     <- put() staging

A blob appears only by ``os.rename`` of a complete, flushed file (same filesystem), so a reader or
a crash never sees a partial blob. Uploads are plain files appended to; their size is the offset.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import os
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

from sciregistry.storage import paths
from sciregistry.storage.base import BlobInfo, BlobNotFound, UploadNotFound, UploadOffsetMismatch

SYNC_EVERY = 8 << 20  # with fsync on, start writeback of an upload every 8 MiB while it still streams in
_SYNC_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sciregistry-fsync")


class FilesystemStore:
    def __init__(self, root: str, *, fsync: bool = True, uncache_committed: bool = False) -> None:
        self.root = os.path.abspath(root)
        self.fsync = fsync
        # Opt-in: drop written-back pages of uploads and committed blobs from the page cache. Freed
        # pages are reused by the next upload at once instead of the kernel taking fresh ones
        # (costly on VMs whose memory the host backs lazily: pushes 2-5x faster), but the first
        # pull of a new blob then reads from disk (docs/performance.md).
        self.uncache_committed = uncache_committed and hasattr(os, "posix_fadvise")
        self._blobs = os.path.join(self.root, paths.BLOBS)
        self._uploads = os.path.join(self.root, paths.UPLOADS)
        self._tmp = os.path.join(self.root, "tmp")
        for d in (self._blobs, self._uploads, self._tmp):
            os.makedirs(d, exist_ok=True)

    def __repr__(self) -> str:
        return f"FilesystemStore({self.root!r})"

    # --- paths (the layout of sciregistry.storage.paths, under the root) ---
    def _blob_path(self, digest: str) -> str:
        return os.path.join(self.root, paths.blob_path(digest))

    def _upload_path(self, upload_id: str) -> str:
        return os.path.join(self.root, paths.upload_path(upload_id))

    # --- committed blobs ---
    def stat(self, digest: str) -> BlobInfo | None:
        try:
            st = os.stat(self._blob_path(digest))
        except (FileNotFoundError, BlobNotFound):
            return None
        return BlobInfo(digest, st.st_size, st.st_mtime)

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self._blob_path(digest), "rb")
        except FileNotFoundError as exc:
            raise BlobNotFound(digest) from exc

    def local_path(self, digest: str) -> str | None:
        return self._blob_path(digest)

    def redirect_url(self, digest: str, expires: int = 600) -> str | None:
        return None

    def put(self, digest: str, data: bytes) -> None:
        path = self._blob_path(digest)
        if os.path.exists(path):
            return
        tmp = os.path.join(self._tmp, uuid.uuid4().hex)
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                self._flush(f)
            self._install(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def delete(self, digest: str) -> bool:
        try:
            os.unlink(self._blob_path(digest))
        except (FileNotFoundError, BlobNotFound):
            return False
        return True

    def blobs(self) -> Iterator[BlobInfo]:
        for alg in sorted(os.listdir(self._blobs)):
            base = os.path.join(self._blobs, alg)
            for prefix in sorted(os.listdir(base)):
                for name in sorted(os.listdir(os.path.join(base, prefix))):
                    digest = paths.digest_at(alg, prefix, name)
                    if digest:
                        info = self.stat(digest)
                        if info:
                            yield info

    # --- uploads ---
    def start_upload(self, upload_id: str) -> None:
        with open(self._upload_path(upload_id), "xb"):
            pass

    def upload_size(self, upload_id: str) -> int:
        try:
            return os.stat(self._upload_path(upload_id)).st_size
        except FileNotFoundError as exc:
            raise UploadNotFound(upload_id) from exc

    def append_upload(self, upload_id: str, offset: int, chunks: Iterable[bytes]) -> int:
        """Append ``chunks`` at ``offset``. All or nothing: if writing fails (disk full) or the chunks
        stop with an error (the client went away), the upload is cut back to ``offset``, so a failed
        request leaves neither a partial append nor the disk space it took."""
        path = self._upload_path(upload_id)
        try:
            f = open(path, "r+b", buffering=0)  # noqa: SIM115 - unbuffered: nothing pending on failure
        except FileNotFoundError as exc:
            raise UploadNotFound(upload_id) from exc
        with f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # two workers appending at once: one wins, one gets 416
            size = f.seek(0, os.SEEK_END)
            if size != offset:
                raise UploadOffsetMismatch(size, offset)
            try:
                return self._append_at(f, path, offset, chunks)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.ftruncate(f.fileno(), offset)
                raise

    def _append_at(self, f: Any, path: str, offset: int, chunks: Iterable[bytes]) -> int:
        fd = f.fileno()
        pos = offset
        if not self.fsync:
            for chunk in chunks:
                _write_all(fd, chunk)
                pos += len(chunk)
            return pos
        # Start writeback while the body streams in, so the fsync at commit only waits for the
        # tail (a large blob's commit would otherwise wait for all of it). With uncache_committed,
        # the windows written back earlier leave the page cache as we go, so the next window
        # reuses their memory (pages still under writeback are simply kept; the commit drops the
        # whole file after its fdatasync).
        synced = offset // SYNC_EVERY * SYNC_EVERY  # by file position: chunked PATCHes count too
        dropped = 0
        for chunk in chunks:
            _write_all(fd, chunk)
            pos += len(chunk)
            if pos - synced >= SYNC_EVERY:
                _start_writeback(fd, path, synced, pos - synced)
                if self.uncache_committed and synced - SYNC_EVERY > dropped:
                    os.posix_fadvise(fd, dropped, synced - SYNC_EVERY - dropped, os.POSIX_FADV_DONTNEED)
                    dropped = synced - SYNC_EVERY
                synced = pos
        return pos

    def open_upload(self, upload_id: str) -> BinaryIO:
        try:
            return open(self._upload_path(upload_id), "rb")
        except FileNotFoundError as exc:
            raise UploadNotFound(upload_id) from exc

    def commit_upload(self, upload_id: str, digest: str) -> None:
        src = self._upload_path(upload_id)
        if not os.path.exists(src):
            raise UploadNotFound(upload_id)
        if self.fsync:
            _fdatasync_path(src, drop=self.uncache_committed)
        try:
            self._install(src, self._blob_path(digest))
        except FileNotFoundError as exc:  # committed or aborted by a concurrent request meanwhile
            raise UploadNotFound(upload_id) from exc

    def abort_upload(self, upload_id: str) -> bool:
        try:
            os.unlink(self._upload_path(upload_id))
        except (FileNotFoundError, UploadNotFound):
            return False
        return True

    def uploads(self) -> Iterator[tuple[str, float]]:
        for name in os.listdir(self._uploads):
            try:
                yield name, os.stat(os.path.join(self._uploads, name)).st_mtime
            except FileNotFoundError:
                continue

    # --- helpers ---
    def _flush(self, f: BinaryIO) -> None:
        f.flush()
        if self.fsync:
            os.fsync(f.fileno())

    def _install(self, src: str, dst: str) -> None:
        """Atomically move a complete file into place (replacing an identical blob is harmless)."""
        parent = os.path.dirname(dst)
        created = not os.path.isdir(parent)
        os.makedirs(parent, exist_ok=True)
        os.replace(src, dst)
        if self.fsync:
            for d in (parent, os.path.dirname(parent)) if created else (parent,):
                _fsync_dir(d)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_sync_file_range() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    fn.restype = ctypes.c_int
    return fn


_SYNC_FILE_RANGE = _load_sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2


def _start_writeback(fd: int, path: str, offset: int, length: int) -> None:
    """Start writing ``length`` bytes at ``offset`` to disk without waiting (Linux
    ``sync_file_range(SYNC_FILE_RANGE_WRITE)``, no device cache flush); elsewhere an
    ``fdatasync`` in a helper thread. Either way the commit's ``fdatasync`` waits only for the tail."""
    if _SYNC_FILE_RANGE is not None and _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE) == 0:
        return
    _SYNC_POOL.submit(_fdatasync_path, path)


def _fdatasync_path(path: str, drop: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return  # committed or aborted meanwhile: the commit did its own fsync
    try:
        os.fdatasync(fd)
        if drop:  # the pages are clean now: they can be freed at once
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
