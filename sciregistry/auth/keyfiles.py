"""The JWT key files in ``<data_dir>/keys/``: creating, reading and listing them (no signing here).

    keys/jwt-signing.pem          the signing key: PKCS#8 PEM, mode 0600, directory 0700
    keys/jwt-retired-<any>.pem    earlier keys (private or public): they still verify

Creation is atomic and race-safe: the key is written to a private temporary file and published with
``link(2)``, which fails if the name exists, so when several workers start at once exactly one key
wins and the others read it. Signing and verifying with these keys is :mod:`sciregistry.auth.jwt`.
"""

from __future__ import annotations

import errno
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = ["RETIRED_KEY_GLOB", "SIGNING_KEY_FILE", "load_pem_key", "read_signing_key", "retired_public_keys"]

SIGNING_KEY_FILE = "jwt-signing.pem"
RETIRED_KEY_GLOB = "jwt-retired-*.pem"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def load_pem_key(path: Path) -> PrivateKey | PublicKey:
    data = path.read_bytes()
    if b"PRIVATE KEY" in data:
        key: Any = serialization.load_pem_private_key(data, password=None)
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(
        key, rsa.RSAPrivateKey | rsa.RSAPublicKey | ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey
    ):
        raise ValueError(f"{path}: unsupported key type {type(key).__name__} (RSA or EC P-256)")
    return key


def _generate_pem(key_type: str) -> bytes:
    key: PrivateKey
    if key_type == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif key_type == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"unknown key_type {key_type!r} (rsa or ec)")
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_NO_LINK_ERRNOS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV, errno.ENOSYS}


def _create_key_file(path: Path, key_type: str) -> None:
    """Create ``path`` with a new private key unless it exists; never overwrite or expose a partial file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = _generate_pem(key_type)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".jwt-signing.", suffix=".tmp")  # mode 0600
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # atomic; EEXIST if another process won the race
        except FileExistsError:
            return
        except OSError as exc:
            if exc.errno not in _NO_LINK_ERRNOS:
                raise
            _create_exclusive(path, pem)  # filesystem without hard links
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _create_exclusive(path: Path, pem: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())


def read_signing_key(path: Path, key_type: str) -> PrivateKey:
    """The private key in ``path``, created first when missing. Raises ValueError for a public key."""
    if not path.exists():
        _create_key_file(path, key_type)
    # Only the no-hard-link fallback can expose a file still being written: retry briefly.
    deadline = time.monotonic() + 2.0
    while True:
        try:
            key = load_pem_key(path)
            break
        except ValueError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} holds a public key; a private key is needed for signing")
    return key


def retired_public_keys(keys_dir: Path) -> list[PublicKey]:
    """The public keys of ``keys/jwt-retired-*.pem``, in name order."""
    out: list[PublicKey] = []
    for retired in sorted(keys_dir.glob(RETIRED_KEY_GLOB)):
        key = load_pem_key(retired)
        out.append(
            key.public_key() if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) else key
        )
    return out
