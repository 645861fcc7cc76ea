"""Request bodies for blob uploads, read with as few copies as the server allows.

gunicorn's body reader buffers every read through a BytesIO (about three copies of each byte). For a
body of known length, ``DirectBody`` takes what gunicorn has already buffered and then reads the rest
with ``socket.recv_into`` straight into the caller's buffer: one copy. It is used only when the
server is gunicorn and the body has a Content-Length; anything else falls back to the WSGI stream
(``readinto`` where available, which werkzeug's LimitedStream provides).
"""

from __future__ import annotations

import socket
from typing import Any


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
        if (length is None or type(reader).__name__ != "LengthReader" or getattr(reader, "length", None) != length
                or not hasattr(unreader, "sock") or not hasattr(unreader, "take_buffered")):
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
            view[:len(use)] = use
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
