"""The gunicorn worker ``sciregistry serve`` runs: gthread, with OCI error bodies for requests that
gunicorn itself rejects before the application sees them (a garbage Content-Length, an invalid
request line, oversized headers). gunicorn answers those with an HTML page; a registry client
expects ``{"errors":[{"code","message"}]}`` with a distribution-spec code.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util
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
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Docker-Distribution-API-Version: registry/2.0\r\nContent-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin1") + body)


class OciThreadWorker(ThreadWorker):  # type: ignore[misc]
    def init_process(self) -> None:
        # gunicorn writes its own error pages through util.write_error; in this worker process only,
        # they become OCI error bodies (same status, same reason).
        util.write_error = write_oci_error
        super().init_process()
