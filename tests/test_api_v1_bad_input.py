"""Malformed /api/v1 requests: each is a 4xx with a JSON error, never a 500 (found by an outside probe).

In-process (Flask test client, SQLite and PostgreSQL); malformed /v2 (OCI) requests against a live
gunicorn server are in ``tests/registry/test_v2_bad_input.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

ZERO = "sha256:" + "0" * 64
BIG = str(2**63)

CASES = [
    ("runs-cursor-past-int64", "GET", f"/api/v1/runs?cursor={BIG}", 400),
    ("runs-limit-huge", "GET", "/api/v1/runs?limit=" + "9" * 24, 400),
    ("runs-limit-zero", "GET", "/api/v1/runs?limit=0", 400),
    ("runs-limit-superscript", "GET", "/api/v1/runs?limit=%C2%B2", 400),
    ("run-id-past-int64", "GET", f"/api/v1/runs/{BIG}", 404),
    ("impact-limit-negative", "GET", f"/api/v1/impact/{ZERO}?limit=-1", 400),
    ("impact-limit-huge", "GET", f"/api/v1/impact/{ZERO}?limit={BIG}", 400),
    ("impact-cursor-huge", "GET", f"/api/v1/impact/{ZERO}?cursor=" + "1" * 24, 400),
    ("dois-limit-huge", "GET", "/api/v1/dois?limit=" + "9" * 24, 400),
    (
        "runs-started-after-before-year-1",
        "GET",
        "/api/v1/runs?started_after=0001-01-01T00:00:00%2B14:00",
        400,
    ),
    ("runs-started-after-garbage", "GET", "/api/v1/runs?started_after=yesterday", 400),
]


@pytest.mark.parametrize("method,path,status", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_query(client: Any, method: str, path: str, status: int) -> None:
    r = client.open(path, method=method)
    assert r.status_code == status, r.data[:300]
    assert r.is_json and isinstance(r.get_json()["errors"][0]["message"], str)


@pytest.mark.parametrize("path", ["/api/v1/dois", "/api/v1/dois/10.5072/abcd-1234/tombstone"])
def test_deeply_nested_json_is_400(client: Any, path: str) -> None:
    body = '{"reference": ' + "[" * 50_000 + "]" * 50_000 + "}"
    r = client.post(path, data=body, content_type="application/json")
    assert r.status_code == 400, r.data[:300]
    assert r.get_json()["errors"][0]["code"] == "BAD_REQUEST"


def test_valid_bounds_still_work(client: Any) -> None:
    assert client.get("/api/v1/runs?limit=1000").status_code == 200
    assert client.get(f"/api/v1/impact/{ZERO}?limit=1&cursor=0").status_code == 200
    assert client.get("/api/v1/runs?started_after=2026-01-01T00:00:00Z").status_code == 200
