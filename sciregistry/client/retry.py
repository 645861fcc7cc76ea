"""The client's retry policy: which requests are repeated, on what, and how long it waits.

Only requests that are safe to repeat: GET and HEAD are retried (twice by default) on connection
errors, timeouts and :data:`RETRY_STATUSES`, waiting ``backoff`` seconds, then twice that
(0.25 s, 0.5 s); when the retries run out the last answer is returned (the transport raises the
server's error from it). Nothing else is ever repeated: a POST, PATCH or PUT of an upload may
carry a stream that cannot be sent twice, and a write the server may have done must not be done
again. urllib3 does the work (``urllib3.util.Retry`` on a ``requests`` ``HTTPAdapter``)::

    session.mount("https://", HTTPAdapter(max_retries=retry_policy(retries=2, backoff=0.25)))
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Self

from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

if TYPE_CHECKING:
    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

__all__ = ["RETRY_STATUSES", "SAFE_METHODS", "SafeRetry", "retry_policy"]

#: Methods that are repeated (and whose redirects are followed).
SAFE_METHODS = frozenset({"GET", "HEAD"})
#: Answers that are retried: a proxy or the registry is briefly unavailable.
RETRY_STATUSES = frozenset({502, 503, 504})


class SafeRetry(Retry):
    """``urllib3.util.Retry`` for requests that are safe to repeat, and only those.

    urllib3 retries a failed *connection* whatever the method; here a method outside
    ``allowed_methods`` (a POST, PATCH or PUT of an upload) is never retried at all: its first
    failure is final. The waits are ``backoff_factor`` doubled each time from the first retry on
    (0.25 s, 0.5 s), where urllib3 would not wait before the first; ``Retry-After`` is not obeyed.
    """

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if method is not None and self.allowed_methods and method.upper() not in self.allowed_methods:
            raise MaxRetryError(_pool, url or "", error) from error  # type: ignore[arg-type]
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def get_backoff_time(self) -> float:
        retried = len(self.history)
        return 0.0 if retried == 0 else float(min(self.backoff_max, self.backoff_factor * 2 ** (retried - 1)))


def retry_policy(retries: int, backoff: float) -> SafeRetry:
    """At most ``retries`` retries of a GET or HEAD, on connection errors, timeouts and
    :data:`RETRY_STATUSES` (the last answer is returned when they run out)."""
    return SafeRetry(
        total=retries,
        other=0,  # TLS and other errors that are not about connecting or reading: never repeated
        allowed_methods=SAFE_METHODS,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff,
        raise_on_status=False,
        raise_on_redirect=False,
        respect_retry_after_header=False,
    )
