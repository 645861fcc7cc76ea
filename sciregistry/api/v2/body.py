"""Request bodies for blob uploads, read with as few copies as the server allows.

gunicorn's body reader buffers every read through a BytesIO (about three copies of each byte). For a
body of known length, ``DirectBody`` takes what gunicorn has already buffered and then reads the rest
with ``socket.recv_into`` straight into the caller's buffer: one copy. It is used only when the
server is gunicorn and the body has a Content-Length; anything else falls back to the WSGI stream
(``readinto`` where available, which werkzeug's LimitedStream provides).

``GuardedBody`` wraps either: a body that cannot be read to its end (bad chunked encoding, a client
that stops sending or disconnects, a read timeout) becomes the route's spec error instead of a
500, and the connection is marked to close, since its next bytes cannot be trusted to start a request.
"""

from __future__ import annotations

import socket
from typing import Any

from sciregistry.errors import RegistryError

BYTES_IN = "sciregistry.bytes_in"  # body bytes read, for the request's metrics and access line


class DirectBody:
    def __init__(self, body: Any, length: int) -> None:
        self._reader = body.reader
        self._unreader = body.reader.unreader
        self._sock = self._unreader.sock
        self.remaining = length

    @classmethod
    def wrap(cls, environ: dict[str, Any], length: int | None) -> DirectBody | None:
        body = environ.get("wsgi.input")
        reader = getattr(body, "reader", None)
        unreader = getattr(reader, "unreader", None)
        if (
            length is None
            or type(reader).__name__ != "LengthReader"
            or getattr(reader, "length", None) != length
            or not hasattr(unreader, "sock")
            or not hasattr(unreader, "take_buffered")
        ):
            return None
        return cls(body, length)

    def readinto(self, buf: memoryview | bytearray) -> int:
        """Fill ``buf`` (up to the end of the body); 0 at the end. Short only at the end or on EOF."""
        view = memoryview(buf)
        want = min(len(view), self.remaining)
        if want <= 0:
            return 0
        got = 0
        held = self._unreader.take_buffered()
        if held:
            use = held[:want]
            view[: len(use)] = use
            got = len(use)
            if len(held) > got:
                self._unreader.unread(held[got:])  # a pipelined next request: leave it for gunicorn
        while got < want:
            # MSG_WAITALL: one system call (and one GIL hand-off) per buffer instead of one per packet
            n = self._sock.recv_into(view[got:want], want - got, socket.MSG_WAITALL)
            if n == 0:
                break
            got += n
        self.remaining -= got
        self._reader.length -= got
        return got

    def read(self, size: int = -1) -> bytes:
        buf = bytearray(self.remaining if size < 0 else min(size, self.remaining))
        n = self.readinto(buf)
        return bytes(buf[:n])


class GuardedBody:
    """A request body whose read failures raise ``error`` (a :class:`RegistryError` class)."""

    def __init__(self, stream: Any, environ: dict[str, Any], error: type[RegistryError]) -> None:
        self._stream = stream
        self._environ = environ
        self._error = error
        if hasattr(stream, "readinto"):
            self.readinto = self._readinto

    def _failed(self, exc: Exception) -> RegistryError:
        close_connection(self._environ)
        text = str(exc) or type(exc).__name__
        return self._error(f"request body could not be read: {text}"[:300], {"error": type(exc).__name__})

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._stream.read(size)
        except RegistryError:
            raise
        except Exception as exc:  # gunicorn parse errors, werkzeug ClientDisconnected, OSError
            raise self._failed(exc) from exc
        self._environ[BYTES_IN] = self._environ.get(BYTES_IN, 0) + len(data)
        return data

    def _readinto(self, buf: Any) -> int:
        try:
            n: int = self._stream.readinto(buf)
        except RegistryError:
            raise
        except Exception as exc:
            raise self._failed(exc) from exc
        self._environ[BYTES_IN] = self._environ.get(BYTES_IN, 0) + (n or 0)
        return n


def close_connection(environ: dict[str, Any]) -> None:
    """Ask the server to close the connection after this response (gunicorn: through the request
    object its chunked reader holds; a body of known length that failed has a dead socket anyway)."""
    reader = getattr(environ.get("wsgi.input"), "reader", None)
    req = getattr(reader, "req", None)
    if req is not None and hasattr(req, "must_close"):
        req.must_close = True
