"""Where a blob store keeps things: the one layout every driver uses (like distribution's
``registry/storage/paths.go``). Pure: names in, relative POSIX paths out; no IO.

Under the filesystem store's root directory, or the S3 store's key prefix::

    blobs/
      sha256/
        44/
          44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a   <- blob bytes
      sha512/...
    uploads/
      3f0c9a1e-...-uuid          <- upload in progress (filesystem: one file; S3: a "directory" of
                                    part objects, see sciregistry/storage/s3.py)

Every path is built here from a validated digest or upload id only, so a hostile name
(``../../etc``, ``sha256:..%2f``) never reaches the filesystem or the bucket: an invalid digest is
:class:`BlobNotFound`, an invalid upload id :class:`UploadNotFound`.
"""

from __future__ import annotations

import re

from sciregistry.storage.base import BlobNotFound, UploadNotFound

__all__ = [
    "BLOBS",
    "UPLOADS",
    "blob_path",
    "digest_at",
    "is_digest",
    "is_upload_id",
    "upload_path",
]

#: The directory (key prefix) of committed blobs.
BLOBS = "blobs"
#: The directory (key prefix) of uploads in progress.
UPLOADS = "uploads"

#: The digests a store accepts: sha256 or sha512, lower-case hex of the algorithm's length.
_DIGEST = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
#: Upload ids as the registry makes them (uuid4 strings), and a little room for tests and tools.
_UPLOAD_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")


def is_digest(digest: str) -> bool:
    """True for a digest a store can hold (``sha256:<64 hex>`` or ``sha512:<128 hex>``)."""
    return _DIGEST.match(digest) is not None


def is_upload_id(upload_id: str) -> bool:
    """True for a valid upload id (8 to 64 letters, digits and dashes)."""
    return _UPLOAD_ID.match(upload_id) is not None


def blob_path(digest: str) -> str:
    """``blobs/<algorithm>/<first two hex digits>/<hex>``; BlobNotFound for anything that is not
    a valid digest."""
    if not is_digest(digest):
        raise BlobNotFound(digest)
    alg, hexd = digest.split(":")
    return f"{BLOBS}/{alg}/{hexd[:2]}/{hexd}"


def upload_path(upload_id: str) -> str:
    """``uploads/<upload id>``; UploadNotFound for anything that is not a valid upload id."""
    if not is_upload_id(upload_id):
        raise UploadNotFound(upload_id)
    return f"{UPLOADS}/{upload_id}"


def digest_at(alg: str, two: str, hexd: str) -> str | None:
    """The digest stored at ``blobs/<alg>/<two>/<hexd>``, or None when that is not a blob's place
    (an invalid digest, or a file under the wrong two-digit directory)."""
    digest = f"{alg}:{hexd}"
    return digest if is_digest(digest) and hexd[:2] == two else None
