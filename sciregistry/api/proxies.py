"""Where a request really comes from, and the registry's own URL, without trusting the client.

Behind a reverse proxy every request arrives from the proxy's address: the login throttle, the audit
log and upload caps would all see one client. ``TrustedProxies`` applies werkzeug's ``ProxyFix``
(the last ``X-Forwarded-For`` entry becomes ``REMOTE_ADDR``, ``X-Forwarded-Proto`` the scheme) only
when the peer is one of the configured ``trusted_proxies``; from anyone else the headers are ignored.
``X-Forwarded-Host`` is never used: absolute URLs come from ``base_url``, else from the address the
server listens on (``SERVER_NAME``/``SERVER_PORT``), never from the Host header a client chose.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from flask import request
from werkzeug.middleware.proxy_fix import ProxyFix


def parse_proxies(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``"127.0.0.1, 10.0.0.0/8"`` -> networks (ValueError naming a bad entry)."""
    out = []
    for item in (p.strip() for p in text.split(",")):
        if item:
            try:
                out.append(ipaddress.ip_network(item, strict=False))
            except ValueError as exc:
                raise ValueError(f"trusted_proxies: {item!r} is not an address or network") from exc
    return out


class TrustedProxies:
    """WSGI middleware: ProxyFix for requests from trusted proxies, nothing for the rest."""

    def __init__(self, app: Any, proxies: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        self.app = app
        self.networks = list(proxies)
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=0, x_port=0, x_prefix=0)

    def trusted(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.networks and self.trusted(environ.get("REMOTE_ADDR")):
            return self.fixed(environ, start_response)
        for key in ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST"):
            environ.pop(key, None)  # nothing downstream may believe them
        return self.app(environ, start_response)


def external_base_url(configured: str) -> str:
    """The registry's URL for this request: ``base_url`` when configured, else the scheme and the
    address the server listens on. Never the Host header (``Host: evil.example`` must not move the
    token realm or a landing page's links)."""
    if configured:
        return configured.rstrip("/")
    env = request.environ
    scheme = env.get("wsgi.url_scheme", "http")
    host = env.get("SERVER_NAME") or "localhost"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = str(env.get("SERVER_PORT") or "")
    default = {"http": "80", "https": "443"}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")
