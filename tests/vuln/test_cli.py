"""The vulndb / scan / advisory administrator commands and the vuln client commands."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sciregistry.cli import main
from tests.cli_commands import check_invocation, extract_invocations
from tests.vuln.conftest import DATA, World

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def admin(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Any:
    for key in [k for k in __import__("os").environ if k.startswith("SCIREGISTRY_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SCIREGISTRY_DATABASE_URL", database_url)
    monkeypatch.setenv("SCIREGISTRY_CONFIG_HOME", str(tmp_path / "client-config"))
    data_dir = str(tmp_path / "data")

    def run(*args: str) -> Any:
        result = CliRunner().invoke(main, [*args, "--data-dir", data_dir], catch_exceptions=False)
        return result

    return run


@pytest.fixture
def server(world: World) -> Iterator[str]:
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, world.app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(10)


def test_admin_commands(world: World, admin: Any, tmp_path: Path) -> None:
    r = admin("vulndb", "import", str(DATA / "pypa"), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["imported"] == 3
    mixed = tmp_path / "mixed"  # bad records are skipped and named; the good ones are imported
    mixed.mkdir()
    (mixed / "bad.json").write_text('{"id": "X-1"}')
    (mixed / "worse.json").write_text("{")
    (mixed / "deb.json").write_bytes((DATA / "distro" / "DSA-0000-openssl.json").read_bytes())
    r = admin("vulndb", "import", str(mixed))
    assert r.exit_code == 0, r.output
    assert "imported 1 record(s), 0 unchanged, 2 skipped" in r.output
    assert "X-1: missing 'modified'" in r.output and "worse.json: not JSON" in r.output
    r = admin("scan")
    assert r.exit_code == 0 and "ran 2 scan(s)" in r.output
    r = admin("advisory", "publish", str(DATA / "advisory-samtools.json"), "--json")
    assert r.exit_code == 0, r.output
    assert [d["doi"] for d in json.loads(r.output)["dois"]] == [world.debian_doi]
    r = admin("advisory", "affected", "SCIREG-2026-0001")
    assert r.exit_code == 0 and world.debian_doi in r.output and "Lovelace, Ada" in r.output
    r = admin("audit", "--action", "advisory.publish")
    assert "SCIREG-2026-0001" in r.output
    r = admin("vulndb", "status", "--json")
    assert json.loads(r.output)["jobs"] == {"done": 2}


def test_advisory_without_kind_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in __import__("os").environ if k.startswith("SCIREGISTRY_")]:
        monkeypatch.delenv(key)
    doc = json.loads((DATA / "advisory-samtools.json").read_text())
    del doc["database_specific"]
    f = tmp_path / "a.json"
    f.write_text(json.dumps(doc))
    r = CliRunner().invoke(main, ["advisory", "publish", str(f), "--data-dir", str(tmp_path / "data")])
    assert r.exit_code == 1 and "database_specific.kind" in r.output


def test_client_commands(world: World, admin: Any, server: str) -> None:
    admin("vulndb", "import", str(DATA / "pypa"))
    admin("scan")
    img = world.debian.image
    r = CliRunner().invoke(main, ["vuln", "show", f"{server}/{img.repository}@{img.digest}"])
    assert r.exit_code == 0, r.output
    assert "PYSEC-2021-66" in r.output and "Jinja2 2.10" in r.output and "fixed in 2.11.3" in r.output
    assert "HIGH" in r.output and "PYSEC-2023-192" in r.output  # urllib3 1.26.5, CVSS 8.1
    r = CliRunner().invoke(main, ["vuln", "affected", "PYSEC-2023-192", "--registry", server, "--json"])
    assert r.exit_code == 0, r.output
    assert [d["doi"] for d in json.loads(r.output)["dois"]] == [world.debian_doi]
    r = CliRunner().invoke(main, ["vuln", "affected", "NOPE-1", "--registry", server])
    assert r.exit_code == 1 and "NOPE-1" in r.output


def test_guide_commands_exist() -> None:
    import re

    text = (ROOT / "docs" / "vulnerabilities.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```(?:sh|cron)\n(.*?)^```\s*$", text, re.DOTALL | re.MULTILINE)
    found = [inv for b in blocks for inv in extract_invocations(b)]
    assert len(found) >= 6
    for inv in found:
        assert check_invocation(inv.argv) == [], inv.line
