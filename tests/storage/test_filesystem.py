"""The filesystem driver: the BlobStore contract plus what only a filesystem can show (crashes, paths)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sciregistry.storage import BlobStore, open_store
from sciregistry.storage.filesystem import FilesystemStore

from .contract import BAD_DIGESTS, BAD_UPLOAD_IDS, BlobStoreContract, digest_of, read_all


class TestFilesystemContract(BlobStoreContract):
    gives_local_path = True
    gives_redirect_url = False
    max_append_peak = 4 << 20

    @pytest.fixture
    def store(self, tmp_path: Path) -> BlobStore:
        return FilesystemStore(str(tmp_path / "root"))

    @pytest.fixture
    def peer(self, store: FilesystemStore) -> BlobStore:
        return FilesystemStore(store.root)


class TestFilesystemContractUncached(TestFilesystemContract):
    """The production configuration: fsync on, committed blobs dropped from the page cache."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> BlobStore:
        return FilesystemStore(str(tmp_path / "root"), fsync=True, uncache_committed=True)

    @pytest.fixture
    def peer(self, store: FilesystemStore) -> BlobStore:
        return FilesystemStore(store.root, fsync=True, uncache_committed=True)


def test_committed_blob_leaves_the_page_cache_and_reads_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sciregistry.storage.filesystem as fs

    advised: list[tuple[int, int, int]] = []
    real = os.posix_fadvise
    monkeypatch.setattr(
        fs.os,
        "posix_fadvise",
        lambda fd, off, n, advice: (advised.append((off, n, advice)), real(fd, off, n, advice))[1],
    )
    store = FilesystemStore(str(tmp_path), fsync=True, uncache_committed=True)
    data = os.urandom(20 << 20)  # more than one writeback window (8 MiB)
    d = digest_of(data)
    store.start_upload("upload-0001")
    assert store.append_upload(
        "upload-0001", 0, [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)]
    ) == len(data)
    assert advised == []  # nothing is dropped before the commit's fdatasync
    store.commit_upload("upload-0001", d)
    assert advised == [(0, 0, os.POSIX_FADV_DONTNEED)]
    assert read_all(store.open(d)) == data
    advised.clear()
    FilesystemStore(str(tmp_path / "plain"), fsync=True).start_upload("upload-0002")
    plain = FilesystemStore(str(tmp_path / "plain"), fsync=True)
    plain.append_upload("upload-0002", 0, [data])
    plain.commit_upload("upload-0002", d)
    assert advised == []


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def test_open_store_builds_a_filesystem_store(tmp_path: Path) -> None:
    store = open_store("filesystem", root=str(tmp_path), fsync=False)
    assert isinstance(store, FilesystemStore)
    assert store.root == str(tmp_path)
    with pytest.raises(ValueError, match="unknown storage driver 'nfs'"):
        open_store("nfs", root=str(tmp_path))


def test_layout_on_disk(tmp_path: Path) -> None:
    store = FilesystemStore(str(tmp_path))
    data = b"layout"
    d = digest_of(data)
    hexd = d.split(":")[1]
    store.put(d, data)
    store.start_upload("upload-0001")
    assert files_under(tmp_path) == [f"blobs/sha256/{hexd[:2]}/{hexd}", "uploads/upload-0001"]
    assert store.local_path(d) == str(tmp_path / "blobs" / "sha256" / hexd[:2] / hexd)


def test_crash_between_append_and_commit(tmp_path: Path) -> None:
    """A worker dies after appending: a new process on the same root sees no blob, and the upload
    is still there, complete, and can be committed."""
    root = str(tmp_path / "root")
    data = b"written before the crash " * 4000
    d = digest_of(data)
    first = FilesystemStore(root)
    first.start_upload("upload-crash")
    first.append_upload("upload-crash", 0, [data[:50_000]])
    first.append_upload("upload-crash", 50_000, [data[50_000:]])
    del first  # "crash": nothing of the first store object survives

    restarted = FilesystemStore(root)
    assert restarted.stat(d) is None
    assert list(restarted.blobs()) == []
    assert [u for u, _ in restarted.uploads()] == ["upload-crash"]
    assert restarted.upload_size("upload-crash") == len(data)
    assert read_all(restarted.open_upload("upload-crash")) == data
    restarted.commit_upload("upload-crash", d)
    assert read_all(restarted.open(d)) == data


def test_crash_during_put_leaves_no_blob(tmp_path: Path) -> None:
    """A put() interrupted while writing its staging file leaves nothing visible."""
    root = tmp_path / "root"
    store = FilesystemStore(str(root))
    (root / "tmp" / "deadbeef").write_bytes(b"half a bl")  # what a crash mid-put leaves behind
    restarted = FilesystemStore(str(root))
    assert list(restarted.blobs()) == []
    assert list(restarted.uploads()) == []
    assert store.stat(digest_of(b"half a blob")) is None


def test_hostile_names_write_nothing_outside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = FilesystemStore(str(root))
    before = files_under(tmp_path)
    for bad in BAD_UPLOAD_IDS:
        with pytest.raises(Exception):  # noqa: B017 - the contract checks the exact class
            store.start_upload(bad)
    for bad in BAD_DIGESTS:
        with pytest.raises(Exception):  # noqa: B017
            store.put(bad, b"evil")
    assert files_under(tmp_path) == before == []
    assert sorted(os.listdir(root)) == ["blobs", "tmp", "uploads"]


@pytest.mark.parametrize("fsync", [True, False])
def test_a_failed_append_leaves_the_upload_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsync: bool
) -> None:
    """Disk full in the middle of a PATCH, or a client that goes away: the upload is cut back to
    where the request started (no partial append, no disk space held by it)."""
    import errno

    import sciregistry.storage.filesystem as fs

    store = FilesystemStore(str(tmp_path), fsync=fsync)
    store.start_upload("upload-0001")
    assert store.append_upload("upload-0001", 0, [b"a" * 1000]) == 1000
    real, calls = fs._write_all, []

    def fill_disk(fd: int, data: bytes) -> None:
        calls.append(len(data))
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(fs, "_write_all", fill_disk)
    with pytest.raises(OSError, match="No space"):
        store.append_upload("upload-0001", 1000, [b"b" * (1 << 20)] * 5)
    assert store.upload_size("upload-0001") == 1000
    monkeypatch.undo()

    def client_goes_away() -> Iterator[bytes]:
        yield b"c" * 5000
        raise ConnectionResetError("peer reset")

    with pytest.raises(ConnectionResetError):
        store.append_upload("upload-0001", 1000, client_goes_away())
    assert store.upload_size("upload-0001") == 1000
    assert store.append_upload("upload-0001", 1000, [b"d"]) == 1001
