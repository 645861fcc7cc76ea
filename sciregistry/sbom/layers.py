"""Read image layers as a container runtime would see the final filesystem, in flat memory.

An image is an ordered list of layer tars (image-spec ``layer.md``), each optionally gzip or zstd
compressed. Applying them in order gives the root filesystem; a layer deletes a lower file with a
*whiteout* ``dir/.wh.name`` and hides a lower directory's whole content with an *opaque whiteout*
``dir/.wh..wh..opq``. Whiteouts apply to lower layers only, whatever their position in their own tar.

Catalogers need only a handful of small files (package databases), so :func:`collect` streams each
layer once and keeps only the files a ``want(path)`` predicate selects, each in a spooled temporary
file (memory until 1 MiB, then disk): memory stays flat whatever the image size.

The tar reader is our own (POSIX ustar, GNU long names, pax headers) rather than ``tarfile``: it
bounds every header it reads before reading it (``tarfile`` reads a pax header of any declared size
into memory) and refuses what no honest image needs, each as :class:`LayerError` naming the layer:

- a name or link longer than ``MAX_PATH`` bytes or deeper than ``MAX_DEPTH`` components,
- a pax or GNU long-name header larger than ``MAX_HEADER``,
- sparse files (GNU type ``S`` or pax ``GNU.sparse.*``),
- an entry or a hard link whose path leaves the root (``../``); symbolic links are recorded as
  links and never followed, so where they point does not matter,
- a corrupt or truncated stream (gzip/zstd errors, short reads, bad header checksums),
- more than ``MAX_ENTRIES`` entries or ``MAX_EXPANDED`` bytes in one image.
"""

from __future__ import annotations

import gzip
import io
import posixpath
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO

BLOCK = 512
MAX_PATH = 4096
MAX_DEPTH = 256
MAX_HEADER = 1 << 20  # pax / GNU long-name headers
MAX_ENTRIES = 5_000_000
MAX_EXPANDED = 64 << 30  # uncompressed bytes in one image
MAX_CAPTURED = 256 << 20  # one captured file (an rpmdb.sqlite can be tens of MiB)
SPOOL = 1 << 20
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class LayerError(Exception):
    """A layer that cannot be read safely; the message says which layer and why."""


@dataclass
class Captured:
    """One selected file of the final filesystem: its path (no leading ``/``) and its content."""

    path: str
    size: int
    data: IO[bytes]
    layer: int

    def read(self, limit: int = MAX_CAPTURED) -> bytes:
        self.data.seek(0)
        return self.data.read(limit)


@dataclass
class Filesystem:
    """The selected files of an image after every layer was applied (see :func:`collect`)."""

    files: dict[str, Captured] = field(default_factory=dict)
    layers: int = 0
    entries: int = 0
    expanded: int = 0

    def close(self) -> None:
        for c in self.files.values():
            c.data.close()
        self.files.clear()

    def __enter__(self) -> Filesystem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- decompression ---------------------------------------------------------------------------------


class _Counting(io.RawIOBase):
    """Counts the uncompressed bytes read and turns codec errors into LayerError."""

    def __init__(self, inner: IO[bytes], where: str) -> None:
        self.inner = inner
        self.where = where
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            chunk = self.inner.read(len(b))
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            raise LayerError(
                f"{self.where}: corrupt compressed stream ({type(exc).__name__}: {exc})"
            ) from exc
        except Exception as exc:  # zstandard.ZstdError is not an OSError
            if type(exc).__name__ == "ZstdError":
                raise LayerError(f"{self.where}: corrupt zstd stream ({exc})") from exc
            raise
        n = len(chunk)
        b[:n] = chunk
        self.count += n
        return n


def open_layer(raw: BinaryIO, where: str) -> _Counting:
    """The uncompressed tar stream of a layer blob (gzip, zstd or plain, by magic number)."""
    buffered: Any = io.BufferedReader(raw, 1 << 16) if not hasattr(raw, "peek") else raw
    head = buffered.peek(4)[:4]
    inner: Any
    if head[:2] == GZIP_MAGIC:
        inner = gzip.GzipFile(fileobj=buffered, mode="rb")
    elif head == ZSTD_MAGIC:
        try:
            import zstandard
        except ImportError as exc:
            raise LayerError(
                f"{where}: zstd-compressed layer and the zstandard module is not installed"
            ) from exc
        inner = zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True)
    else:
        inner = buffered
    return _Counting(inner, where)


# --- tar headers -------------------------------------------------------------------------------------


@dataclass
class Entry:
    path: str  # normalised, no leading '/', '' for the root
    type: str  # 'file' | 'dir' | 'symlink' | 'hardlink' | 'other'
    size: int
    link: str = ""


def _read_exact(stream: IO[bytes], n: int, where: str) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            raise LayerError(f"{where}: truncated tar stream")
        buf += chunk
    return bytes(buf)


def _skip(stream: IO[bytes], n: int, where: str) -> None:
    while n > 0:
        chunk = stream.read(min(n, 1 << 20))
        if not chunk:
            raise LayerError(f"{where}: truncated tar stream")
        n -= len(chunk)


def _padded(n: int) -> int:
    return (n + BLOCK - 1) // BLOCK * BLOCK


def _octal(field_: bytes, where: str) -> int:
    if field_ and field_[0] & 0x80:  # GNU base-256 for large sizes
        value = int.from_bytes(field_[1:], "big")
        if field_[0] & 0x40:
            raise LayerError(f"{where}: negative size in tar header")
        return value
    text = field_.replace(b"\0", b" ").strip()
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError as exc:
        raise LayerError(f"{where}: invalid number {text[:20]!r} in tar header") from exc


def _cstr(field_: bytes) -> str:
    return field_.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _check_path(raw: str, where: str, what: str = "entry") -> str:
    """Normalise an archive path; refuse one that is too long, too deep or leaves the root."""
    if len(raw.encode("utf-8", "surrogateescape")) > MAX_PATH:
        raise LayerError(f"{where}: {what} path longer than {MAX_PATH} bytes")
    if raw.count("/") > MAX_DEPTH:
        raise LayerError(f"{where}: {what} path deeper than {MAX_DEPTH} directories")
    norm = posixpath.normpath("/" + raw.lstrip("/")) if raw not in ("", ".", "./") else "/"
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    depth = 0
    for p in parts:
        depth = depth - 1 if p == ".." else depth + 1
        if depth < 0:
            raise LayerError(f"{where}: {what} {raw[:200]!r} leaves the image root")
    return norm.lstrip("/")


def _pax(data: bytes, where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data[pos : pos + 1] == b"\0":
            break
        sp = data.find(b" ", pos)
        if sp < 0:
            raise LayerError(f"{where}: malformed pax header")
        try:
            length = int(data[pos:sp])
        except ValueError as exc:
            raise LayerError(f"{where}: malformed pax header") from exc
        if length <= 0 or pos + length > len(data):
            raise LayerError(f"{where}: malformed pax header")
        record = data[sp + 1 : pos + length - 1]
        key, _, value = record.partition(b"=")
        out[key.decode("utf-8", "replace")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out


_TYPES = {b"0": "file", b"\0": "file", b"7": "file", b"5": "dir", b"2": "symlink", b"1": "hardlink"}


def entries(stream: IO[bytes], where: str) -> Iterator[tuple[Entry, IO[bytes]]]:
    """Each tar entry with ``stream`` positioned at its content. The consumer may read up to
    ``entry.size`` bytes; the rest is skipped before the next header is read."""
    long_name: str | None = None
    long_link: str | None = None
    pax: dict[str, str] = {}
    zero_blocks = 0
    while True:
        header = stream.read(BLOCK)
        if not header:
            return  # some tools omit the end-of-archive blocks; an empty layer has none at all
        if len(header) < BLOCK:
            header += _read_exact(stream, BLOCK - len(header), where)
        if header == b"\0" * BLOCK:
            zero_blocks += 1
            if zero_blocks >= 2:
                return
            continue
        zero_blocks = 0
        chksum = _octal(header[148:156], where)
        computed = sum(header[:148]) + 8 * 32 + sum(header[156:])
        if chksum != computed:
            raise LayerError(f"{where}: tar header checksum mismatch (not a tar, or corrupt)")
        typeflag = header[156:157]
        size = _octal(header[124:136], where)
        if typeflag in (b"x", b"g", b"L", b"K"):
            if size > MAX_HEADER:
                raise LayerError(f"{where}: extended tar header of {size} bytes (limit {MAX_HEADER})")
            data = _read_exact(stream, _padded(size), where)[:size]
            if typeflag == b"x":
                pax.update(_pax(data, where))
            elif typeflag == b"g":
                pass  # global headers carry nothing a cataloguer needs
            elif typeflag == b"L":
                long_name = data.rstrip(b"\0").decode("utf-8", "surrogateescape")
            else:
                long_link = data.rstrip(b"\0").decode("utf-8", "surrogateescape")
            continue
        if typeflag == b"S" or any(k.startswith("GNU.sparse") for k in pax):
            raise LayerError(f"{where}: sparse file in layer (not supported)")
        name = _cstr(header[0:100])
        if header[257:262] == b"ustar" and header[345:500].strip(b"\0"):
            name = _cstr(header[345:500]) + "/" + name
        name = pax.get("path", long_name if long_name is not None else name)
        link = pax.get("linkpath", long_link if long_link is not None else _cstr(header[157:257]))
        if "size" in pax:
            try:
                size = int(pax["size"])
            except ValueError as exc:
                raise LayerError(f"{where}: invalid pax size") from exc
        long_name = long_link = None
        pax = {}
        kind = _TYPES.get(typeflag, "other")
        path = _check_path(name, where)
        if typeflag in (b"1", b"2", b"3", b"4", b"5", b"6"):
            size = 0  # as tarfile: links, devices, directories and FIFOs carry no data
        if kind == "hardlink":
            link = _check_path(link, where, "hard link target")
        elif kind == "symlink" and len(link.encode("utf-8", "surrogateescape")) > MAX_PATH:
            raise LayerError(f"{where}: symbolic link target longer than {MAX_PATH} bytes")
        bounded = _Bounded(stream, size)
        yield Entry(path, kind, size, link), bounded  # type: ignore[misc]
        _skip(stream, size - bounded.consumed, where)
        _skip(stream, _padded(size) - size, where)


class _Bounded(io.RawIOBase):
    def __init__(self, inner: IO[bytes], size: int) -> None:
        self.inner = inner
        self.left = size
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > self.left:
            n = self.left
        data = self.inner.read(n) if n else b""
        self.left -= len(data)
        self.consumed += len(data)
        return data


# --- applying layers -------------------------------------------------------------------------------


def _under(path: str, directory: str) -> bool:
    return directory == "" or path == directory or path.startswith(directory + "/")


def collect(layers: Iterable[tuple[str, Callable[[], BinaryIO]]], want: Callable[[str], bool]) -> Filesystem:
    """Apply ``layers`` (``(name, open)`` pairs, bottom first) and keep the files ``want`` selects.

    Raises LayerError naming the layer for anything unsafe or unreadable (see the module docstring).
    """
    fs = Filesystem()
    added: dict[str, Captured | None] = {}
    try:
        for index, (name, opener) in enumerate(layers):
            where = f"layer {index} ({name})"
            removed: list[str] = []  # whiteouts: paths hidden in lower layers
            opaque: list[str] = []
            added = {}  # None: a non-file entry replacing lower content
            hardlinks: list[tuple[str, str]] = []
            with opener() as raw:
                stream = open_layer(raw, where)
                for entry, content in entries(stream, where):  # type: ignore[arg-type]
                    fs.entries += 1
                    if fs.entries > MAX_ENTRIES:
                        raise LayerError(f"{where}: more than {MAX_ENTRIES} entries in the image")
                    if stream.count > MAX_EXPANDED:
                        raise LayerError(f"{where}: image expands to more than {MAX_EXPANDED} bytes")
                    base = posixpath.basename(entry.path)
                    parent = posixpath.dirname(entry.path)
                    if base == OPAQUE:
                        opaque.append(parent)
                        continue
                    if base.startswith(WHITEOUT):
                        removed.append(posixpath.join(parent, base[len(WHITEOUT) :]))
                        continue
                    if entry.type == "hardlink":
                        if want(entry.path):
                            hardlinks.append((entry.path, entry.link))
                        continue
                    if entry.type == "file" and want(entry.path):
                        if entry.size > MAX_CAPTURED:
                            raise LayerError(
                                f"{where}: {entry.path} is {entry.size} bytes (limit {MAX_CAPTURED})"
                            )
                        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 - kept open in fs
                        while chunk := content.read(1 << 20):
                            spool.write(chunk)
                        old = added.pop(entry.path, None)
                        if old is not None:
                            old.data.close()
                        added[entry.path] = Captured(entry.path, entry.size, spool, index)
                    elif entry.type != "dir":
                        added[entry.path] = None  # a link or device hides a lower file of that name
                while stream.read(1 << 20):  # to the end: a gzip/zstd trailer (CRC, length) is checked there
                    if stream.count > MAX_EXPANDED:
                        raise LayerError(f"{where}: image expands to more than {MAX_EXPANDED} bytes")
                fs.expanded += stream.count
            for target, source in hardlinks:
                src = added.get(source) or fs.files.get(source)
                if src is not None:
                    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 - kept open in fs
                    spool.write(src.read())
                    added[target] = Captured(target, src.size, spool, index)
            # whiteouts hide lower-layer content only
            for d in opaque:
                for p in [p for p in fs.files if p != d and _under(p, d)]:
                    fs.files.pop(p).data.close()
            for w in removed:
                for p in [p for p in fs.files if _under(p, w)]:
                    fs.files.pop(p).data.close()
            for p, c in added.items():
                old = fs.files.pop(p, None)
                if old is not None:
                    old.data.close()
                if c is not None:
                    fs.files[p] = c
            fs.layers += 1
    except BaseException:
        for c in added.values():  # captured from a layer that failed before joining fs.files
            if c is not None:
                c.data.close()
        fs.close()
        raise
    return fs
