"""The gunicorn worker ``sciregistry serve`` runs: gthread, with OCI error bodies for requests that
gunicorn itself rejects before the application sees them (a garbage Content-Length, an invalid
request line, oversized headers). gunicorn answers those with an HTML page; a registry client
expects ``{"errors":[{"code","message"}]}`` with a distribution-spec code.

Slow clients. Stock gthread hands a connection to a thread as soon as it has sent one byte and the
thread then blocks until the headers are complete, so 50 clients that never finish their headers
hold every thread and nobody else is answered. This worker:

- reads request headers without blocking, on whatever thread the poller woke, and parks the
  connection back in the poller while they are incomplete; a request whose headers are not complete
  ``header_timeout`` seconds after its first byte is dropped (no thread is ever held by a header);
- runs a request whose body still has to arrive from the network in a separate pool
  (``threads`` threads), so requests without a body (``GET /v2/``, pulls, logins) are never queued
  behind trickling uploads;
- bounds body reads: no byte for ``body_timeout`` seconds, or an average rate below
  ``body_min_rate`` bytes/s once ``body_timeout`` seconds of grace are used up, ends the request
  (the route answers its spec error and the connection closes);
- closes connections off the event loop (gunicorn's graceful close lingers up to 2 s reading).

HTTPS first. skopeo, podman and docker try ``https://`` before ``http://`` for a registry they are
told is insecure. A plain-HTTP gunicorn reads their TLS ClientHello as the start of a request line
that never ends, and the client sits out its TLS handshake timeout (10 s in containers/image) before
it falls back: ten seconds on every command. A connection whose first bytes are a TLS handshake
record is closed at once, so the fallback is immediate (Go's own HTTP server does the converse: it
answers plain HTTP sent to a TLS port with a 400 at once).
"""

from __future__ import annotations

import errno
import json
import socket
import struct
import time
from concurrent import futures
from dataclasses import dataclass
from typing import Any

from gunicorn import util
from gunicorn.workers import gthread
from gunicorn.workers.gthread import ThreadWorker

from sciregistry.errors import OCI_ERROR_CODES


def oci_error_code(status: int, message: str) -> str:
    """The spec code for a request gunicorn refused (``message`` is gunicorn's description)."""
    text = message.lower()
    if "content-length" in text or "chunk" in text:
        return "SIZE_INVALID"
    return "UNSUPPORTED"


def write_oci_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    code = oci_error_code(status_int, mesg)
    assert code in OCI_ERROR_CODES
    body = json.dumps({"errors": [{"code": code, "message": mesg or reason}]}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Docker-Distribution-API-Version: registry/2.0\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin1") + body)


@dataclass(frozen=True)
class SlowClientLimits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    body_min_rate: int = 1024


#: Set by ``sciregistry serve`` in the master before the workers fork (see ``configure``).
LIMITS = SlowClientLimits()

_MOVED = object()  # the request went on to the body pool: its own future finishes the connection
_ABORT = object()  # close at once, without lingering (the client is too slow)
_HEAD_END = (b"\r\n\r\n", b"\n\n")
#: A TLS record header: content type 22 (handshake), protocol major version 3 (SSL 3.0 to TLS 1.3).
#: No HTTP request line starts with byte 0x16.
TLS_HANDSHAKE = b"\x16\x03"
MAX_HEAD = 256 * 1024


def configure(header_timeout: float, body_timeout: float, body_min_rate: int) -> None:
    global LIMITS
    LIMITS = SlowClientLimits(float(header_timeout), float(body_timeout), int(body_min_rate))


def _head_end(head: bytes | bytearray) -> int:
    """Offset just past the header block, -1 while it is incomplete."""
    ends = [(i, len(m)) for m in _HEAD_END if (i := head.find(m)) >= 0]
    if not ends:
        return -1
    i, n = min(ends)
    return i + n


def body_pending(head: bytes | bytearray, end: int) -> bool:
    """Whether the request whose header block ends at ``end`` has body bytes not yet received."""
    length = 0
    for line in bytes(head[:end]).split(b"\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding":
            return True
        if name == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return False  # gunicorn refuses it without reading a body
    return length > len(head) - end


class PacedSocket:
    """The socket as gunicorn's request parser and the body readers see it: every receive is bounded
    by the idle timeout and by the time the bytes received so far have earned at ``body_min_rate``.
    The kernel enforces the bound (SO_RCVTIMEO), so a blocking receive of 1 MiB stays one system call.
    """

    def __init__(self, sock: socket.socket, limits: SlowClientLimits) -> None:
        self._sock = sock
        self._limits = limits
        self._start = time.monotonic()
        self._received = 0
        self._timeout = -1.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def restart(self) -> None:
        """A new request: its allowance starts now."""
        self._start = time.monotonic()
        self._received = 0

    def _arm(self) -> None:
        lim = self._limits
        left = lim.body_timeout
        if lim.body_min_rate > 0:
            earned = self._start + lim.body_timeout + self._received / lim.body_min_rate
            left = min(left, earned - time.monotonic())
        if left <= 0:
            raise TimeoutError(errno.ETIMEDOUT, f"request body slower than {lim.body_min_rate} bytes/s")
        if abs(left - self._timeout) > 0.25:
            sec = int(left)
            self._sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", sec, int((left - sec) * 1e6))
            )
            self._timeout = left

    def _timed_out(self) -> TimeoutError:
        return TimeoutError(
            errno.ETIMEDOUT,
            f"no request data for {self._limits.body_timeout:g} s "
            f"or slower than {self._limits.body_min_rate} bytes/s",
        )

    def recv(self, size: int, flags: int = 0) -> bytes:
        self._arm()
        try:
            data = self._sock.recv(size, flags)
        except BlockingIOError as exc:  # SO_RCVTIMEO expired
            raise self._timed_out() from exc
        self._received += len(data)
        return data

    def recv_into(self, buf: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._arm()
        try:
            n = self._sock.recv_into(buf, nbytes, flags)
        except BlockingIOError as exc:
            raise self._timed_out() from exc
        self._received += n
        return n


class OciThreadWorker(ThreadWorker):
    def init_process(self) -> None:
        # gunicorn writes its own error pages through util.write_error; in this worker process only,
        # they become OCI error bodies (same status, same reason).
        util.write_error = write_oci_error
        self.body_pool = futures.ThreadPoolExecutor(
            max_workers=self.cfg.threads, thread_name_prefix="sciregistry-body"
        )
        self.closer = futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="sciregistry-close")
        super().init_process()

    # --- reading headers without holding a thread -------------------------------------------------
    def handle(self, conn: Any) -> Any:
        if self.cfg.is_ssl or conn.is_http2:
            return super().handle(conn)
        try:
            return self._handle_head(conn)
        except OSError:
            return _ABORT

    def _handle_head(self, conn: Any) -> Any:
        now = time.monotonic()
        head: bytearray = getattr(conn, "sr_head", None) or bytearray()
        deadline = getattr(conn, "sr_deadline", None)
        if conn.initialized and conn.parser is not None:
            head += conn.parser.unreader.take_buffered()  # read ahead by the previous request
        eof = False
        end = _head_end(head)
        if end < 0:
            conn.sock.setblocking(False)
            try:
                while len(head) < MAX_HEAD:
                    chunk = conn.sock.recv(65536)
                    if not chunk:
                        eof = True
                        break
                    head += chunk
                    end = _head_end(head)
                    if end >= 0:
                        break
            except (BlockingIOError, InterruptedError):
                pass
        if head.startswith(TLS_HANDSHAKE):
            return _ABORT  # a client trying HTTPS on this plain-HTTP port: let it fall back now
        if end < 0 and not eof and len(head) < MAX_HEAD:
            if deadline is None:
                deadline = now + LIMITS.header_timeout
            if now >= deadline:
                return _ABORT
            conn.sr_head, conn.sr_deadline = head, deadline
            conn.data_ready = False
            return gthread._DEFER
        # a complete header block (or EOF, or an oversized one gunicorn will refuse): parse it
        conn.sr_head, conn.sr_deadline = bytearray(), None
        conn.sock.setblocking(True)
        conn.init()
        if conn.is_http2:
            return super().handle(conn)
        unreader = conn.parser.unreader
        if not isinstance(unreader.sock, PacedSocket):
            unreader.sock = PacedSocket(conn.sock, LIMITS)
        unreader.sock.restart()
        if head:
            unreader.unread(bytes(head))
        if end >= 0 and body_pending(head, end):
            fs = self.body_pool.submit(super().handle, conn)
            fs.add_done_callback(lambda fut: self.method_queue.defer(self.finish_request, conn, fut))
            return _MOVED
        return super().handle(conn)

    def finish_request(self, conn: Any, fs: Any) -> None:
        result = None if fs.cancelled() or fs.exception() is not None else fs.result()
        if result is _MOVED:
            return
        if result is gthread._DEFER and self.alive:
            super().finish_request(conn, fs)
            # wait in the poller no longer than the header deadline (not the keep-alive timeout)
            deadline = getattr(conn, "sr_deadline", None)
            if deadline is not None:
                conn.timeout = min(conn.timeout, deadline)
            return
        if result is _ABORT or (not result and result is not None):
            self.nr_conns -= 1
            if result is _ABORT:
                util.close(conn.sock)
            else:
                self.closer.submit(conn.close, True)  # may linger: never on the event loop
            return
        super().finish_request(conn, fs)

    def murder_pending(self) -> None:
        """Close parked connections past their deadline (the deque is not ordered by deadline: a
        header deadline can come before an earlier connection's keep-alive timeout)."""
        now = time.monotonic()
        expired = [c for c in self.pending_conns if c.timeout <= now]
        for conn in expired:
            self.pending_conns.remove(conn)
            try:
                self.poller.unregister(conn.sock)
            except (OSError, KeyError, ValueError):
                pass
            self.nr_conns -= 1
            util.close(conn.sock)

    def run(self) -> None:
        try:
            super().run()
        finally:
            self.body_pool.shutdown(wait=False)
            self.closer.shutdown(wait=False)
