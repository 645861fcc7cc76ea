"""The OpenAPI document describes exactly the /api/v1 routes that exist, with the same methods."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _flask_routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    out = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            out.add((path, method.lower()))
    return out


def test_openapi_matches_routes(tmp_path: Path) -> None:
    from sciregistry.app import create_app

    app = create_app({"data_dir": str(tmp_path), "auth_enabled": False})
    doc = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert documented == _flask_routes(app)
    assert doc["openapi"].startswith("3.1")


def test_openapi_schema_refs_exist() -> None:
    text = (ROOT / "docs" / "openapi.yaml").read_text()
    for ref in re.findall(r'\$ref: "\.\./([^"]+)"', text):
        assert (ROOT / ref).is_file(), ref
