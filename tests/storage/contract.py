"""The BlobStore contract: one suite that every storage driver passes (``sciregistry/storage/base.py``).

Modelled on distribution's ``registry/storage/driver/testsuites``. A driver's test module subclasses
``BlobStoreContract`` as ``Test<Driver>Contract`` and provides two fixtures:

* ``store``: an empty store, private to the test;
* ``peer``: a *second* store object over the same backing storage (another worker process would
  build exactly this); the uploads are stateless for the web tier (DESIGN.md section 4), so anything
  one writes the other must see.

and sets the class attributes ``gives_local_path`` / ``gives_redirect_url`` to what the driver
promises for an existing blob. The class name does not start with ``Test``: pytest collects it only
through its subclasses.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import threading
import time
import tracemalloc
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import ClassVar

import pytest

from sciregistry.storage import (
    BlobInfo,
    BlobNotFound,
    BlobStore,
    UploadNotFound,
    UploadOffsetMismatch,
)

MiB = 1 << 20

BAD_DIGESTS = [
    "sha256:../../etc",
    "sha256:../../../../etc/passwd",
    "sha256:" + "../" * 20 + "x" * 4,
    "sha256:/etc/passwd",
    "sha256:" + "A" * 64,  # upper-case hex is not a canonical digest
    "sha256:" + "a" * 63,
    "sha256:" + "a" * 64 + "/../x",
    "md5:" + "a" * 32,
    "../" + "a" * 64,
    "",
]
BAD_UPLOAD_IDS = [
    "../x",
    "../../../../tmp/evil-upload",
    "..",
    "a/b/c/d/e/f/g",
    "uploads/../blobs",
    "",
    "short",
    "x" * 65,
    "abcdefgh\x00",
]


def digest_of(data: bytes, alg: str = "sha256") -> str:
    return f"{alg}:{hashlib.new(alg, data).hexdigest()}"


def read_all(f) -> bytes:  # type: ignore[no-untyped-def]
    with f:
        return f.read()


def pattern_chunk(i: int, size: int) -> bytes:
    """Chunk number ``i`` of a deterministic stream (every chunk differs, so misordering shows)."""
    seed = hashlib.sha256(i.to_bytes(8, "big")).digest()
    return (seed * (size // len(seed) + 1))[:size]


def pattern_chunks(count: int, size: int, hasher: hashlib._Hash | None = None) -> Iterator[bytes]:
    """``count`` distinct chunks of ``size`` bytes, made one at a time (never held together)."""
    for i in range(count):
        chunk = pattern_chunk(i, size)
        if hasher is not None:
            hasher.update(chunk)
        yield chunk


def hash_stream(f, alg: str = "sha256", block: int = MiB) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    h = hashlib.new(alg)
    n = 0
    with f:
        while data := f.read(block):
            h.update(data)
            n += len(data)
    return f"{alg}:{h.hexdigest()}", n


class BlobStoreContract:
    gives_local_path: ClassVar[bool] = False
    gives_redirect_url: ClassVar[bool] = False
    #: Peak Python memory allowed while appending 64 MiB in 1 MiB chunks.
    max_append_peak: ClassVar[int] = 24 * MiB

    @pytest.fixture
    def store(self) -> BlobStore:
        raise NotImplementedError("a driver's test class provides the store fixture")

    @pytest.fixture
    def peer(self, store: BlobStore) -> BlobStore:
        raise NotImplementedError("a driver's test class provides the peer fixture")

    # ------------------------------------------------------------------ committed blobs

    def test_implements_the_protocol(self, store: BlobStore) -> None:
        assert isinstance(store, BlobStore)

    def test_empty_store(self, store: BlobStore) -> None:
        assert list(store.blobs()) == []
        assert list(store.uploads()) == []

    def test_put_stat_open(self, store: BlobStore) -> None:
        data = b"hello, science\n" * 100
        d = digest_of(data)
        assert store.stat(d) is None
        before = time.time()
        store.put(d, data)
        info = store.stat(d)
        assert info is not None
        assert (info.digest, info.size) == (d, 1500)
        assert before - 5 <= info.modified <= time.time() + 5
        assert read_all(store.open(d)) == data

    def test_put_is_idempotent(self, store: BlobStore) -> None:
        data = b"same bytes"
        d = digest_of(data)
        store.put(d, data)
        store.put(d, data)
        assert read_all(store.open(d)) == data
        assert [b.digest for b in store.blobs()] == [d]

    def test_empty_blob(self, store: BlobStore) -> None:
        d = digest_of(b"")
        store.put(d, b"")
        assert store.stat(d) == BlobInfo(d, 0, store.stat(d).modified)  # type: ignore[union-attr]
        assert read_all(store.open(d)) == b""

    def test_sha512_blob(self, store: BlobStore) -> None:
        data = b"x" * 1000
        d = digest_of(data, "sha512")
        store.put(d, data)
        assert store.stat(d).size == 1000  # type: ignore[union-attr]
        assert read_all(store.open(d)) == data

    def test_missing_blob(self, store: BlobStore) -> None:
        d = digest_of(b"never stored")
        assert store.stat(d) is None
        with pytest.raises(BlobNotFound):
            store.open(d)
        assert store.delete(d) is False

    def test_delete(self, store: BlobStore) -> None:
        data = b"to be deleted"
        d = digest_of(data)
        store.put(d, data)
        assert store.delete(d) is True
        assert store.stat(d) is None
        with pytest.raises(BlobNotFound):
            store.open(d)
        assert store.delete(d) is False
        assert list(store.blobs()) == []

    def test_blobs_lists_every_blob(self, store: BlobStore) -> None:
        contents = [b"a", b"bb" * 10, b"ccc" * 1000, b""]
        expected = {}
        for data in contents:
            store.put(digest_of(data), data)
            expected[digest_of(data)] = len(data)
        big = b"z" * 77
        store.put(digest_of(big, "sha512"), big)
        expected[digest_of(big, "sha512")] = 77
        listed = list(store.blobs())
        assert all(isinstance(b, BlobInfo) for b in listed)
        assert {b.digest: b.size for b in listed} == expected
        assert len(listed) == len(expected)

    def test_open_is_seekable(self, store: BlobStore) -> None:
        data = bytes(range(256)) * 64  # 16 KiB
        d = digest_of(data)
        store.put(d, data)
        with store.open(d) as f:
            assert f.seekable()
            assert f.read(10) == data[:10]
            assert f.seek(1000) == 1000
            assert f.read(24) == data[1000:1024]
            assert f.tell() == 1024
            f.seek(-16, 2)
            assert f.read() == data[-16:]
            assert f.read(5) == b""
            f.seek(5)
            assert f.read() == data[5:]
            assert f.seek(0, 2) == len(data)

    # ------------------------------------------------------------------ uploads

    def test_start_upload_is_empty(self, store: BlobStore) -> None:
        store.start_upload("upload-0001")
        assert store.upload_size("upload-0001") == 0
        assert read_all(store.open_upload("upload-0001")) == b""
        assert [u for u, _ in store.uploads()] == ["upload-0001"]

    def test_start_upload_twice_is_refused(self, store: BlobStore) -> None:
        store.start_upload("upload-0001")
        store.append_upload("upload-0001", 0, [b"keep"])
        with pytest.raises(FileExistsError):
            store.start_upload("upload-0001")
        assert read_all(store.open_upload("upload-0001")) == b"keep"

    def test_append_at_offsets(self, store: BlobStore) -> None:
        store.start_upload("upload-0001")
        assert store.append_upload("upload-0001", 0, [b"abc", b"de"]) == 5
        assert store.upload_size("upload-0001") == 5
        assert store.append_upload("upload-0001", 5, iter([b"fgh"])) == 8
        assert store.append_upload("upload-0001", 8, (b"x" * n for n in (1, 2, 3))) == 14
        assert store.upload_size("upload-0001") == 14
        assert read_all(store.open_upload("upload-0001")) == b"abcdefghxxxxxx"

    def test_append_nothing_keeps_the_size(self, store: BlobStore) -> None:
        store.start_upload("upload-0001")
        assert store.append_upload("upload-0001", 0, []) == 0
        assert store.append_upload("upload-0001", 0, [b"", b""]) == 0
        assert store.append_upload("upload-0001", 0, [b"12"]) == 2
        assert store.append_upload("upload-0001", 2, [b""]) == 2
        assert store.append_upload("upload-0001", 2, [b"3"]) == 3
        assert read_all(store.open_upload("upload-0001")) == b"123"

    @pytest.mark.parametrize("wrong", [0, 3, 5, 100])
    def test_append_at_wrong_offset_writes_nothing(self, store: BlobStore, wrong: int) -> None:
        store.start_upload("upload-0001")
        store.append_upload("upload-0001", 0, [b"1234"])
        consumed = []

        def chunks() -> Iterator[bytes]:
            consumed.append(True)
            yield b"XXXX"

        with pytest.raises(UploadOffsetMismatch) as info:
            store.append_upload("upload-0001", wrong, chunks())
        assert (info.value.expected, info.value.got) == (4, wrong)
        assert store.upload_size("upload-0001") == 4
        assert read_all(store.open_upload("upload-0001")) == b"1234"
        assert store.append_upload("upload-0001", 4, [b"5"]) == 5

    def test_open_upload_returns_exactly_the_appended_bytes(self, store: BlobStore) -> None:
        store.start_upload("upload-0001")
        pieces = [bytes([i]) * (i * 37 + 1) for i in range(20)]
        offset = 0
        for p in pieces:
            offset = store.append_upload("upload-0001", offset, [p])
        expected = b"".join(pieces)
        assert offset == len(expected)
        assert read_all(store.open_upload("upload-0001")) == expected
        with store.open_upload("upload-0001") as f:  # and in small reads
            got = b"".join(iter(lambda: f.read(7), b""))
        assert got == expected

    def test_commit_makes_the_blob_visible_and_removes_the_upload(self, store: BlobStore) -> None:
        data = b"layer bytes " * 1000
        d = digest_of(data)
        store.start_upload("upload-0001")
        store.append_upload("upload-0001", 0, [data[:5000]])
        store.append_upload("upload-0001", 5000, [data[5000:]])
        assert store.stat(d) is None
        store.commit_upload("upload-0001", d)
        assert store.stat(d).size == len(data)  # type: ignore[union-attr]
        assert read_all(store.open(d)) == data
        assert [b.digest for b in store.blobs()] == [d]
        assert list(store.uploads()) == []
        with pytest.raises(UploadNotFound):
            store.upload_size("upload-0001")
        with pytest.raises(UploadNotFound):
            store.open_upload("upload-0001")
        with pytest.raises(UploadNotFound):
            store.commit_upload("upload-0001", d)
        assert store.abort_upload("upload-0001") is False

    def test_commit_empty_upload(self, store: BlobStore) -> None:
        d = digest_of(b"")
        store.start_upload("upload-0001")
        store.commit_upload("upload-0001", d)
        assert store.stat(d).size == 0  # type: ignore[union-attr]
        assert read_all(store.open(d)) == b""

    def test_commit_many_small_appends(self, store: BlobStore) -> None:
        h = hashlib.sha256()
        store.start_upload("upload-0001")
        offset = 0
        for chunk in pattern_chunks(60, 4099, h):
            assert store.append_upload("upload-0001", offset, [chunk]) == offset + 4099
            offset += 4099
        d = f"sha256:{h.hexdigest()}"
        store.commit_upload("upload-0001", d)
        assert hash_stream(store.open(d)) == (d, 60 * 4099)

    def test_commit_over_an_existing_blob(self, store: BlobStore) -> None:
        data = b"already there"
        d = digest_of(data)
        store.put(d, data)
        store.start_upload("upload-0001")
        store.append_upload("upload-0001", 0, [data])
        store.commit_upload("upload-0001", d)
        assert read_all(store.open(d)) == data
        assert list(store.uploads()) == []

    def test_abort(self, store: BlobStore) -> None:
        store.start_upload("upload-0001")
        store.append_upload("upload-0001", 0, [b"abandoned"])
        store.start_upload("upload-0002")
        assert store.abort_upload("upload-0001") is True
        assert [u for u, _ in store.uploads()] == ["upload-0002"]
        assert store.abort_upload("upload-0001") is False
        with pytest.raises(UploadNotFound):
            store.upload_size("upload-0001")
        with pytest.raises(UploadNotFound):
            store.append_upload("upload-0001", 9, [b"more"])
        with pytest.raises(UploadNotFound):
            store.open_upload("upload-0001")
        with pytest.raises(UploadNotFound):
            store.commit_upload("upload-0001", digest_of(b"abandoned"))
        assert store.stat(digest_of(b"abandoned")) is None
        assert list(store.blobs()) == []
        assert store.abort_upload("upload-0002") is True
        assert list(store.uploads()) == []

    def test_uploads_listing(self, store: BlobStore) -> None:
        before = time.time()
        ids = ["0f6b6a2e-1c8b-4d43-a1a5-6c2a2d6a9f01", "upload-0002", "UPLOAD-0003"]
        for i, u in enumerate(ids):
            store.start_upload(u)
            store.append_upload(u, 0, [b"x" * i])
        listed = dict(store.uploads())
        assert sorted(listed) == sorted(ids)
        for mtime in listed.values():
            assert before - 5 <= mtime <= time.time() + 5

    def test_unknown_upload(self, store: BlobStore) -> None:
        u = "no-such-upload"
        with pytest.raises(UploadNotFound):
            store.upload_size(u)
        with pytest.raises(UploadNotFound):
            store.append_upload(u, 0, [b"x"])
        with pytest.raises(UploadNotFound):
            store.open_upload(u)
        with pytest.raises(UploadNotFound):
            store.commit_upload(u, digest_of(b"x"))
        assert store.abort_upload(u) is False
        assert list(store.uploads()) == []
        assert list(store.blobs()) == []

    # ------------------------------------------------------------------ hostile names

    @pytest.mark.parametrize("bad", BAD_DIGESTS)
    def test_bad_digest_is_not_found(self, store: BlobStore, bad: str) -> None:
        assert store.stat(bad) is None
        with pytest.raises(BlobNotFound):
            store.open(bad)
        assert store.delete(bad) is False
        with pytest.raises(BlobNotFound):
            store.put(bad, b"evil")
        for where in (store.local_path, store.redirect_url):
            with contextlib.suppress(BlobNotFound):
                assert where(bad) is None
        store.start_upload("upload-0001")
        store.append_upload("upload-0001", 0, [b"evil"])
        with pytest.raises(BlobNotFound):
            store.commit_upload("upload-0001", bad)
        assert read_all(store.open_upload("upload-0001")) == b"evil"  # the upload is untouched
        assert list(store.blobs()) == []

    @pytest.mark.parametrize("bad", BAD_UPLOAD_IDS)
    def test_bad_upload_id_is_not_found(self, store: BlobStore, bad: str) -> None:
        with pytest.raises(UploadNotFound):
            store.start_upload(bad)
        with pytest.raises(UploadNotFound):
            store.upload_size(bad)
        with pytest.raises(UploadNotFound):
            store.append_upload(bad, 0, [b"evil"])
        with pytest.raises(UploadNotFound):
            store.open_upload(bad)
        with pytest.raises(UploadNotFound):
            store.commit_upload(bad, digest_of(b"evil"))
        assert store.abort_upload(bad) is False
        assert list(store.uploads()) == []
        assert list(store.blobs()) == []

    # ------------------------------------------------------------------ scale and concurrency

    def test_large_append_is_streamed(self, store: BlobStore) -> None:
        """64 MiB in 1 MiB chunks from a generator: memory stays bounded, bytes and digest exact."""
        h = hashlib.sha256()
        store.start_upload("upload-big")
        store.append_upload("upload-big", 0, [b"head"])
        h.update(b"head")
        gc.collect()
        tracemalloc.start()
        try:
            size = store.append_upload("upload-big", 4, pattern_chunks(64, MiB, h))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert size == 4 + 64 * MiB
        assert peak < self.max_append_peak, f"append held {peak / MiB:.1f} MiB in memory"
        d = f"sha256:{h.hexdigest()}"
        assert store.upload_size("upload-big") == size
        assert hash_stream(store.open_upload("upload-big")) == (d, size)
        store.commit_upload("upload-big", d)
        assert store.stat(d).size == size  # type: ignore[union-attr]
        assert hash_stream(store.open(d)) == (d, size)
        with store.open(d) as f:
            f.seek(4 + 10 * MiB + 3)
            assert f.read(5) == pattern_chunk(10, MiB)[3:8]

    def test_concurrent_commits_of_one_digest(self, store: BlobStore, peer: BlobStore) -> None:
        data = bytes(range(256)) * 400
        d = digest_of(data)
        for s, u in ((store, "upload-000a"), (peer, "upload-000b")):
            s.start_upload(u)
            s.append_upload(u, 0, [data[:1000]])
            s.append_upload(u, 1000, [data[1000:]])
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def commit(s: BlobStore, u: str) -> None:
            try:
                barrier.wait(5)
                s.commit_upload(u, d)
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=commit, args=(s, u))
            for s, u in ((store, "upload-000a"), (peer, "upload-000b"))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
        assert read_all(store.open(d)) == data
        assert [(b.digest, b.size) for b in store.blobs()] == [(d, len(data))]
        assert list(store.uploads()) == []

    def test_racing_appends_at_one_offset(self, store: BlobStore, peer: BlobStore) -> None:
        """Two workers append at the same offset: both pass the offset check before either writes,
        then one finishes writing before the other starts (a stale writer, e.g. a client retry on
        another worker). Exactly one wins; the other gets UploadOffsetMismatch and the upload holds
        exactly the winner's bytes (the registry answers the loser 416). A driver that locks the
        upload instead makes the second one wait and fail its offset check: same outcome."""
        store.start_upload("upload-0001")
        store.append_upload("upload-0001", 0, [b"head:"])
        both_checked = threading.Barrier(2)
        claim = threading.Lock()
        writers: list[bytes] = []
        one_done = threading.Event()
        outcome: dict[bytes, object] = {}

        def body(payload: bytes) -> Iterator[bytes]:
            try:
                both_checked.wait(2)  # both appends have passed their offset check by now ...
            except threading.BrokenBarrierError:
                pass  # ... unless the driver locks the upload: the other one waits for the lock
            with claim:
                second = bool(writers)
                writers.append(payload)
            if second:
                one_done.wait(10)  # write strictly after the first writer has finished
            yield payload

        def append(s: BlobStore, payload: bytes) -> None:
            try:
                outcome[payload] = s.append_upload("upload-0001", 5, body(payload))
            except BaseException as exc:
                outcome[payload] = exc
            finally:
                one_done.set()

        threads = [
            threading.Thread(target=append, args=(s, p)) for s, p in ((store, b"A" * 10), (peer, b"B" * 7))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        winners = [p for p, r in outcome.items() if isinstance(r, int)]
        losers = [r for r in outcome.values() if isinstance(r, UploadOffsetMismatch)]
        assert len(winners) == 1 and len(losers) == 1, f"both appends at offset 5 ended as {outcome}"
        winner = winners[0]
        assert outcome[winner] == 5 + len(winner)
        assert (losers[0].expected, losers[0].got) == (5 + len(winner), 5)
        assert store.upload_size("upload-0001") == 5 + len(winner)
        assert read_all(peer.open_upload("upload-0001")) == b"head:" + winner

    def test_a_peer_sees_the_same_uploads_and_blobs(self, store: BlobStore, peer: BlobStore) -> None:
        store.start_upload("upload-0001")
        assert peer.upload_size("upload-0001") == 0
        assert peer.append_upload("upload-0001", 0, [b"from peer "]) == 10
        with pytest.raises(UploadOffsetMismatch):
            store.append_upload("upload-0001", 0, [b"stale"])
        assert store.append_upload("upload-0001", 10, [b"from store"]) == 20
        assert read_all(peer.open_upload("upload-0001")) == b"from peer from store"
        assert [u for u, _ in peer.uploads()] == ["upload-0001"]
        d = digest_of(b"from peer from store")
        peer.commit_upload("upload-0001", d)
        assert read_all(store.open(d)) == b"from peer from store"
        with pytest.raises(UploadNotFound):
            store.upload_size("upload-0001")
        assert store.delete(d) is True
        assert peer.stat(d) is None

    # ------------------------------------------------------------------ serving shortcuts

    def test_local_path_and_redirect_url(self, store: BlobStore) -> None:
        data = b"served directly" * 10
        d = digest_of(data)
        store.put(d, data)
        path = store.local_path(d)
        url = store.redirect_url(d, expires=60)
        assert (path is not None) == self.gives_local_path
        assert (url is not None) == self.gives_redirect_url
        if path is not None:
            with open(path, "rb") as f:
                assert f.read() == data
        if url is not None:
            host = urllib.parse.urlsplit(url).hostname
            assert host in ("127.0.0.1", "localhost", "::1"), f"refusing to fetch {url} off this machine"
            with urllib.request.urlopen(url, timeout=10) as resp:
                assert resp.read() == data
