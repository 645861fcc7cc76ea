"""The storage layout (sciregistry.storage.paths), shared by the filesystem and S3 drivers."""

from __future__ import annotations

import pytest

from sciregistry.storage import BlobNotFound, UploadNotFound, paths

SHA256 = "sha256:" + "ab" * 32
SHA512 = "sha512:" + "cd" * 64


def test_blob_path_splits_on_the_first_two_hex_digits() -> None:
    assert paths.blob_path(SHA256) == f"blobs/sha256/ab/{'ab' * 32}"
    assert paths.blob_path(SHA512) == f"blobs/sha512/cd/{'cd' * 64}"


def test_upload_path() -> None:
    assert paths.upload_path("3f0c9a1e-0000-4000-8000-000000000000") == (
        "uploads/3f0c9a1e-0000-4000-8000-000000000000"
    )


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "sha256:" + "AB" * 32,  # upper-case hex
        "sha256:" + "ab" * 31,  # too short
        "sha512:" + "ab" * 32,  # the length of another algorithm
        "md5:" + "ab" * 16,
        "sha256:../../" + "ab" * 29,
        "sha256:" + "ab" * 32 + "/x",
    ],
)
def test_invalid_digests_are_unknown_blobs(bad: str) -> None:
    assert not paths.is_digest(bad)
    with pytest.raises(BlobNotFound):
        paths.blob_path(bad)


@pytest.mark.parametrize("bad", ["", "short", "../../etc/passwd", "a/b-c-d-e-f", "x" * 65, "upload 0001"])
def test_invalid_upload_ids_are_unknown_uploads(bad: str) -> None:
    assert not paths.is_upload_id(bad)
    with pytest.raises(UploadNotFound):
        paths.upload_path(bad)


def test_digest_at_reads_a_listing_back() -> None:
    alg, two, hexd = paths.blob_path(SHA256).split("/")[1:]
    assert paths.digest_at(alg, two, hexd) == SHA256
    assert paths.digest_at(alg, "00", hexd) is None  # under the wrong two-digit directory
    assert paths.digest_at(alg, two, hexd + "0") is None
    assert paths.digest_at("tmp", two, hexd) is None
