"""``sciregistry serve`` (``make run``) prints where the web pages are, with the real port, and ``/``
answers a page there (it used to be a JSON 404)."""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

from cli_commands import root_conftest


def test_serve_prints_the_web_pages_url(tmp_path: Path) -> None:
    server = root_conftest().start_server(tmp_path / "data", workers=1)
    try:
        deadline = time.monotonic() + 10
        while not any("web pages at" in line for line in server.log) and time.monotonic() < deadline:
            time.sleep(0.1)
        lines = [line for line in server.log if "web pages at" in line]
        assert lines and re.search(rf"web pages at http://127\.0\.0\.1:{server.port}/$", lines[0]), (
            server.log[-20:]
        )
        with urllib.request.urlopen(server.url + "/", timeout=10) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/html")
            assert b"<h1>Research artifact registry</h1>" in resp.read()
    finally:
        server.stop()
