"""The S3 driver against moto's S3 server (real HTTP on 127.0.0.1): the BlobStore contract plus
what is particular to S3 (object layout, multipart strategy, presigned URLs, bucket errors).

moto runs as ``ThreadedMotoServer(ip_address="127.0.0.1", port=0)`` in a child process, so its
in-memory objects are not counted by the contract's memory check and the timings are realistic.
Skipped, with the reason shown, when boto3 or moto[server] is not installed.
"""

from __future__ import annotations

import hashlib
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("boto3", reason="boto3 is not installed (pip install boto3)")
pytest.importorskip("moto.server", reason="moto[server] is not installed (pip install 'moto[s3,server]')")

import boto3
from botocore.config import Config

from sciregistry.storage import (
    BlobNotFound,
    BlobStore,
    StorageError,
    UploadNotFound,
    UploadOffsetMismatch,
    open_store,
)
from sciregistry.storage.s3 import MIN_PART_SIZE, S3Store

from .contract import (
    BlobStoreContract,
    digest_of,
    hash_stream,
    pattern_chunk,
    pattern_chunks,
    read_all,
)

MiB = 1 << 20

_SERVER = """
import logging
import sys
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log on the test output
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # serve until the test process closes our stdin (or dies)
server.stop()
"""

_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never ask an instance metadata service
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """URL of a moto S3 server on 127.0.0.1 (a child process), with dummy credentials in env."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE"):
            mp.delenv(name, raising=False)
        for name, value in _ENV.items():
            mp.setenv(name, value)
        proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            line = proc.stdout.readline() if ready else ""  # type: ignore[union-attr]
            if not line.strip().isdigit():
                pytest.fail(f"moto server did not start (exit code {proc.poll()}, said {line!r})")
            yield f"http://127.0.0.1:{int(line)}"
        finally:
            proc.stdin.close()  # type: ignore[union-attr]
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            proc.stdout.close()  # type: ignore[union-attr]


@pytest.fixture
def s3(moto_endpoint: str) -> Any:
    """A plain boto3 client on the moto server, to look behind the driver's back."""
    return boto3.client("s3", endpoint_url=moto_endpoint, config=Config(s3={"addressing_style": "path"}))


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


def keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    resp = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for o in resp.get("Contents", [])]


class CallLog:
    """Records the S3 operations a store sends (name, selected parameters)."""

    def __init__(self, store: S3Store) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        store._client.meta.events.register("before-parameter-build.s3", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        body = params.get("Body")
        info = {k: params[k] for k in ("Key", "Range", "CopySourceRange", "PartNumber") if k in params}
        if isinstance(body, (bytes, bytearray)):
            info["len"] = len(body)
        elif hasattr(body, "getbuffer"):  # botocore wraps bytes in BytesIO before this hook
            info["len"] = body.getbuffer().nbytes
        self.calls.append((model.name, info))

    def names(self) -> list[str]:
        return [n for n, _ in self.calls]

    def clear(self) -> None:
        self.calls.clear()


class TestS3Contract(BlobStoreContract):
    gives_local_path = False
    gives_redirect_url = True
    max_append_peak = 24 * MiB  # part_size 5 MiB: one part buffered + one being sent + HTTP buffers

    @pytest.fixture
    def store(self, moto_endpoint: str, bucket: str) -> BlobStore:
        return S3Store(bucket, endpoint_url=moto_endpoint, presign=True, part_size=MIN_PART_SIZE)

    @pytest.fixture
    def peer(self, moto_endpoint: str, bucket: str) -> BlobStore:
        return S3Store(bucket, endpoint_url=moto_endpoint, presign=True, part_size=MIN_PART_SIZE)


# ---------------------------------------------------------------------- construction


def test_open_store_builds_an_s3_store(moto_endpoint: str, bucket: str) -> None:
    store = open_store(
        "s3",
        bucket=bucket,
        endpoint_url=moto_endpoint,
        prefix="reg",
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
    )
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix, store.presign, store.part_size) == (bucket, "reg/", False, 8 * MiB)
    d = digest_of(b"x")
    store.put(d, b"x")
    assert read_all(store.open(d)) == b"x"


@pytest.mark.parametrize("part_size", [MIN_PART_SIZE - 1, 0, 5 * 1024 * MiB + 1])
def test_part_size_outside_s3_limits_is_refused(part_size: int) -> None:
    with pytest.raises(ValueError, match="part_size must be between 5242880 and 5368709120"):
        S3Store("bucket", endpoint_url="http://127.0.0.1:9", part_size=part_size)


def test_missing_bucket_is_a_storage_error(moto_endpoint: str) -> None:
    store = S3Store("no-such-bucket-here", endpoint_url=moto_endpoint)
    with pytest.raises(StorageError, match="NoSuchBucket"):
        store.put(digest_of(b"x"), b"x")
    with pytest.raises(StorageError, match="NoSuchBucket"):
        list(store.blobs())
    with pytest.raises(StorageError, match="NoSuchBucket"):
        store.start_upload("upload-0001")


def test_unreachable_endpoint_is_a_storage_error(moto_endpoint: str) -> None:
    store = S3Store("bucket", endpoint_url="http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(StorageError, match="S3 HeadObject failed: Could not connect"):
        store.stat(digest_of(b"x"))


@pytest.mark.parametrize("bad", ["sha256:" + "a" * 128, "sha512:" + "a" * 64])
def test_digest_length_must_match_its_algorithm(moto_endpoint: str, bucket: str, bad: str) -> None:
    store = S3Store(bucket, endpoint_url=moto_endpoint)
    assert store.stat(bad) is None
    with pytest.raises(BlobNotFound):
        store.put(bad, b"x")


# ---------------------------------------------------------------------- layout


def test_object_layout(s3: Any, moto_endpoint: str, bucket: str) -> None:
    store = S3Store(bucket, endpoint_url=moto_endpoint, prefix="reg/")
    data = b"layout"
    d = digest_of(data)
    hexd = d.split(":")[1]
    store.put(d, data)
    store.start_upload("upload-0001")
    store.append_upload("upload-0001", 0, [b"abc"])
    store.append_upload("upload-0001", 3, [b"defg"])
    assert keys(s3, bucket) == [
        f"reg/blobs/sha256/{hexd[:2]}/{hexd}",
        "reg/uploads/upload-0001/00000000000000000000",
        "reg/uploads/upload-0001/00000000000000000003",
        "reg/uploads/upload-0001/started",
    ]
    store.commit_upload("upload-0001", digest_of(b"abcdefg"))
    h2 = digest_of(b"abcdefg").split(":")[1]
    assert keys(s3, bucket) == sorted(
        [f"reg/blobs/sha256/{h2[:2]}/{h2}", f"reg/blobs/sha256/{hexd[:2]}/{hexd}"]
    )
    assert s3.get_object(Bucket=bucket, Key=f"reg/blobs/sha256/{h2[:2]}/{h2}")["Body"].read() == b"abcdefg"


def test_prefixes_isolate_stores(moto_endpoint: str, bucket: str) -> None:
    a = S3Store(bucket, endpoint_url=moto_endpoint, prefix="a/")
    b = S3Store(bucket, endpoint_url=moto_endpoint, prefix="b")
    d = digest_of(b"only in a")
    a.put(d, b"only in a")
    a.start_upload("upload-0001")
    assert b.stat(d) is None
    assert list(b.blobs()) == [] and list(b.uploads()) == []
    with pytest.raises(UploadNotFound):
        b.upload_size("upload-0001")
    assert [x.digest for x in a.blobs()] == [d]


# ---------------------------------------------------------------------- appends


def test_small_append_is_one_put(moto_endpoint: str, bucket: str) -> None:
    store = S3Store(bucket, endpoint_url=moto_endpoint, part_size=MIN_PART_SIZE)
    store.start_upload("upload-0001")
    log = CallLog(store)
    assert store.append_upload("upload-0001", 0, [b"a" * 1000, b"b" * 1000]) == 2000
    assert log.names() == ["ListObjectsV2", "PutObject"]
    assert log.calls[1][1] == {"Key": "uploads/upload-0001/00000000000000000000", "len": 2000}


def test_large_append_is_a_multipart_upload_of_bounded_parts(moto_endpoint: str, bucket: str) -> None:
    store = S3Store(bucket, endpoint_url=moto_endpoint, part_size=MIN_PART_SIZE)
    store.start_upload("upload-0001")
    log = CallLog(store)
    h = hashlib.sha256()
    size = store.append_upload("upload-0001", 0, pattern_chunks(16, MiB, h))
    assert size == 16 * MiB
    assert log.names() == [
        "ListObjectsV2",
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPart",
        "UploadPart",
        "UploadPart",
        "CompleteMultipartUpload",
    ]
    assert [c[1].get("len") for c in log.calls if c[0] == "UploadPart"] == [5 * MiB] * 3 + [MiB]
    assert hash_stream(store.open_upload("upload-0001")) == (f"sha256:{h.hexdigest()}", 16 * MiB)


def test_failed_append_leaves_the_upload_unchanged(s3: Any, moto_endpoint: str, bucket: str) -> None:
    store = S3Store(bucket, endpoint_url=moto_endpoint, part_size=MIN_PART_SIZE)
    store.start_upload("upload-0001")
    store.append_upload("upload-0001", 0, [b"kept"])

    def broken() -> Iterator[bytes]:
        yield from pattern_chunks(7, MiB)  # more than one part: a multipart upload is under way
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.append_upload("upload-0001", 4, broken())
    assert store.upload_size("upload-0001") == 4
    assert read_all(store.open_upload("upload-0001")) == b"kept"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_racing_large_appends_lose_cleanly(s3: Any, moto_endpoint: str, bucket: str) -> None:
    """The race of the contract with multipart appends: the stale CompleteMultipartUpload is refused
    and its parts are aborted. (moto checks If-None-Match and creates the object without a lock, so
    the test staggers the two writes; S3 itself makes the check atomic.)"""
    stores = [S3Store(bucket, endpoint_url=moto_endpoint, part_size=MIN_PART_SIZE) for _ in range(2)]
    stores[0].start_upload("upload-0001")
    both_checked = threading.Barrier(2)
    first_done = threading.Event()
    outcome: dict[int, object] = {}

    def append(i: int) -> None:
        def body() -> Iterator[bytes]:
            both_checked.wait(10)
            if i == 1:
                first_done.wait(30)
            yield from pattern_chunks(6 + i, MiB)

        try:
            outcome[i] = stores[i].append_upload("upload-0001", 0, body())
        except BaseException as exc:
            outcome[i] = exc
        finally:
            if i == 0:
                first_done.set()

    threads = [threading.Thread(target=append, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcome[0] == 6 * MiB
    stale = outcome[1]
    assert isinstance(stale, UploadOffsetMismatch) and (stale.expected, stale.got) == (6 * MiB, 0)
    assert hash_stream(stores[1].open_upload("upload-0001")) == (
        digest_of(b"".join(pattern_chunks(6, MiB))),
        6 * MiB,
    )
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_without_conditional_writes(s3: Any, moto_endpoint: str, bucket: str) -> None:
    store = S3Store(bucket, endpoint_url=moto_endpoint, conditional_writes=False)
    log = CallLog(store)
    store.start_upload("upload-0001")
    assert store.append_upload("upload-0001", 0, [b"abc"]) == 3
    store.commit_upload("upload-0001", digest_of(b"abc"))
    assert read_all(store.open(digest_of(b"abc"))) == b"abc"
    assert log.calls[1] == ("PutObject", {"Key": "uploads/upload-0001/started", "len": 0})


# ---------------------------------------------------------------------- commits


def _upload(store: S3Store, upload_id: str, sizes: list[int]) -> tuple[str, int]:
    h = hashlib.sha256()
    store.start_upload(upload_id)
    offset = 0
    for i, n in enumerate(sizes):
        chunk = bytes([i % 251]) * n
        h.update(chunk)
        offset = store.append_upload(upload_id, offset, [chunk])
    return f"sha256:{h.hexdigest()}", offset


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        # one part: a server-side CopyObject
        ([6 * MiB], ["CopyObject"]),
        ([1000], ["CopyObject"]),
        # big parts copied, the small tail streamed through the worker as the last part
        (
            [6 * MiB, 6 * MiB, 1024],
            [
                "CreateMultipartUpload",
                "UploadPartCopy",
                "UploadPartCopy",
                "GetObject",
                "UploadPart",
                "CompleteMultipartUpload",
            ],
        ),
        # a small head is topped up to 5 MiB from the next part, whose rest is copied
        (
            [1024, 12 * MiB],
            [
                "GetObject",
                "GetObject",
                "CreateMultipartUpload",
                "UploadPart",
                "UploadPartCopy",
                "CompleteMultipartUpload",
            ],
        ),
        # small pieces only: merged in memory into one PutObject
        ([100_000] * 20, ["GetObject"] * 20 + ["PutObject"]),
        # small pieces over 5 MiB in total: merged into 5 MiB parts
        (
            [1 * MiB] * 7,
            ["GetObject"] * 5
            + ["CreateMultipartUpload", "UploadPart"]
            + ["GetObject"] * 2
            + ["UploadPart", "CompleteMultipartUpload"],
        ),
    ],
)
def test_commit_strategy(moto_endpoint: str, bucket: str, sizes: list[int], expected: list[str]) -> None:
    store = S3Store(bucket, endpoint_url=moto_endpoint, part_size=MIN_PART_SIZE)
    d, size = _upload(store, "upload-0001", sizes)
    log = CallLog(store)
    store.commit_upload("upload-0001", d)
    ops = log.names()
    # listing + HeadObject (is the blob there already?) first, marker and parts deleted last
    assert ops[:2] == ["ListObjectsV2", "HeadObject"]
    assert ops[-2:] == ["DeleteObject", "DeleteObjects"]
    assert ops[2:-2] == expected
    for name, info in log.calls:
        if name == "UploadPart":
            assert info["len"] <= MIN_PART_SIZE
    assert store.stat(d).size == size  # type: ignore[union-attr]
    assert hash_stream(store.open(d)) == (d, size)


def test_commit_copies_the_rest_of_a_part_after_topping_up(moto_endpoint: str, bucket: str) -> None:
    store = S3Store(bucket, endpoint_url=moto_endpoint, part_size=MIN_PART_SIZE)
    d, _ = _upload(store, "upload-0001", [1024, 12 * MiB])
    log = CallLog(store)
    store.commit_upload("upload-0001", d)
    second = "uploads/upload-0001/00000000000000001024"
    need = MIN_PART_SIZE - 1024
    blob = f"blobs/sha256/{d[7:9]}/{d[7:]}"
    assert [c for c in log.calls if c[0] in ("GetObject", "UploadPart", "UploadPartCopy")] == [
        ("GetObject", {"Key": "uploads/upload-0001/00000000000000000000", "Range": "bytes=0-1023"}),
        ("GetObject", {"Key": second, "Range": f"bytes=0-{need - 1}"}),
        ("UploadPart", {"Key": blob, "PartNumber": 1, "len": MIN_PART_SIZE}),
        ("UploadPartCopy", {"Key": blob, "PartNumber": 2, "CopySourceRange": f"bytes={need}-{12 * MiB - 1}"}),
    ]


def test_commit_of_a_known_blob_copies_nothing(moto_endpoint: str, bucket: str) -> None:
    store = S3Store(bucket, endpoint_url=moto_endpoint)
    d, _ = _upload(store, "upload-0001", [10, 20])
    store.put(d, bytes([0]) * 10 + bytes([1]) * 20)
    log = CallLog(store)
    store.commit_upload("upload-0001", d)
    assert log.names() == ["ListObjectsV2", "HeadObject", "DeleteObject", "DeleteObjects"]


# ---------------------------------------------------------------------- damaged uploads


def test_a_gap_in_the_parts_is_an_error(s3: Any, moto_endpoint: str, bucket: str) -> None:
    store = S3Store(bucket, endpoint_url=moto_endpoint)
    store.start_upload("upload-0001")
    s3.put_object(Bucket=bucket, Key="uploads/upload-0001/00000000000000000010", Body=b"x")
    with pytest.raises(
        StorageError,
        match="upload upload-0001 is inconsistent: a part starts at 10, the parts before it end at 0",
    ):
        store.upload_size("upload-0001")


def test_orphaned_parts_are_listed_and_aborted(s3: Any, moto_endpoint: str, bucket: str) -> None:
    """What a crash between deleting the marker and the parts leaves: not an upload, but cleanable."""
    store = S3Store(bucket, endpoint_url=moto_endpoint)
    s3.put_object(Bucket=bucket, Key="uploads/upload-0001/00000000000000000000", Body=b"orphan")
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="uploads/upload-0001/00000000000000000006")
    with pytest.raises(UploadNotFound):
        store.upload_size("upload-0001")
    assert [u for u, _ in store.uploads()] == ["upload-0001"]
    assert store.abort_upload("upload-0001") is True
    assert keys(s3, bucket) == []
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert mpu["UploadId"]


# ---------------------------------------------------------------------- reading


def test_open_streams_with_one_get_and_seeks_with_ranges(moto_endpoint: str, bucket: str) -> None:
    store = S3Store(bucket, endpoint_url=moto_endpoint)
    data = b"".join(pattern_chunks(3, MiB)) + b"tail"
    d = digest_of(data)
    store.put(d, data)
    log = CallLog(store)
    with store.open(d) as f:
        got = b"".join(iter(lambda: f.read(256 * 1024), b""))
        assert got == data
        assert log.names() == ["GetObject"]
        f.seek(2 * MiB + 1)
        assert f.read(10) == data[2 * MiB + 1 : 2 * MiB + 11]
    assert log.calls[1] == (
        "GetObject",
        {"Key": log.calls[0][1]["Key"], "Range": f"bytes={2 * MiB + 1}-{len(data) - 1}"},
    )


def test_open_upload_reads_parts_in_order_with_seeks(moto_endpoint: str, bucket: str) -> None:
    store = S3Store(bucket, endpoint_url=moto_endpoint)
    store.start_upload("upload-0001")
    for off, piece in ((0, b"aaaa"), (4, b"bb"), (6, b"cccccc")):
        store.append_upload("upload-0001", off, [piece])
    with store.open_upload("upload-0001") as f:
        f.seek(5)
        assert f.read(3) == b"bcc"
        f.seek(-2, 2)
        assert f.read() == b"cc"
        f.seek(0)
        assert f.read() == b"aaaabbcccccc"


def test_reading_a_blob_deleted_meanwhile_is_blob_not_found(moto_endpoint: str, bucket: str) -> None:
    store = S3Store(bucket, endpoint_url=moto_endpoint)
    d = digest_of(b"short-lived")
    store.put(d, b"short-lived")
    f = store.open(d)
    f.seek(3)
    store.delete(d)
    with pytest.raises(BlobNotFound), f:
        f.read()


def test_redirect_url(moto_endpoint: str, bucket: str) -> None:
    d = digest_of(b"x")
    assert S3Store(bucket, endpoint_url=moto_endpoint).redirect_url(d) is None
    url = S3Store(bucket, endpoint_url=moto_endpoint, presign=True).redirect_url(d, expires=123)
    assert url is not None
    assert url.startswith(f"{moto_endpoint}/{bucket}/blobs/sha256/{d[7:9]}/{d[7:]}?")
    assert "X-Amz-Expires=123" in url and "X-Amz-Signature=" in url


# ---------------------------------------------------------------------- throughput (information)


@pytest.mark.slow
def test_throughput_256mib_commit(
    moto_endpoint: str, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Append 256 MiB (4 x 64 MiB in 1 MiB chunks), commit (server-side part copies), read back.
    Then the worst case: 64 MiB appended as 64 separate 1 MiB appends (streamed at commit)."""
    store = S3Store(bucket, endpoint_url=moto_endpoint)
    h = hashlib.sha256()
    store.start_upload("upload-big")
    t0 = time.perf_counter()
    offset = 0

    def chunks(first: int) -> Iterator[bytes]:
        for j in range(first, first + 64):
            chunk = pattern_chunk(j, MiB)
            h.update(chunk)
            yield chunk

    for i in range(4):
        offset = store.append_upload("upload-big", offset, chunks(64 * i))
    t1 = time.perf_counter()
    d = f"sha256:{h.hexdigest()}"
    store.commit_upload("upload-big", d)
    t2 = time.perf_counter()
    assert hash_stream(store.open(d)) == (d, 256 * MiB)
    t3 = time.perf_counter()

    h2 = hashlib.sha256()
    store.start_upload("upload-small")
    offset = 0
    for chunk in pattern_chunks(64, MiB, h2):
        offset = store.append_upload("upload-small", offset, [chunk + b"!"])
        h2.update(b"!")
    d2 = f"sha256:{h2.hexdigest()}"
    t4 = time.perf_counter()
    store.commit_upload("upload-small", d2)
    t5 = time.perf_counter()
    assert hash_stream(store.open(d2)) == (d2, 64 * (MiB + 1))
    with capsys.disabled():
        print(
            f"\n[s3/moto] append 256 MiB: {256 / (t1 - t0):.0f} MiB/s; "
            f"commit 256 MiB (4 parts, UploadPartCopy): {t2 - t1:.2f} s = {256 / (t2 - t1):.0f} MiB/s; "
            f"read 256 MiB: {256 / (t3 - t2):.0f} MiB/s; "
            f"commit 64 MiB of 64 small parts (streamed): {t5 - t4:.2f} s = {64 / (t5 - t4):.0f} MiB/s"
        )
