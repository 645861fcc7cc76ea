"""The OCI distribution-spec v1.1.1 conformance suite (all four workflows) against a live server with
authentication on, as a non-admin user owning the namespace, through the Docker token flow (the
suite's client sends no credentials until a 401 names the token realm).

Needs the suite's compiled test binary: ``OCI_CONFORMANCE_BIN`` or ``/tmp/conformance/conformance.test``
(built from opencontainers/distribution-spec v1.1.1 ``conformance/``); skipped without it.
"""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

BIN = Path(os.environ.get("OCI_CONFORMANCE_BIN", "/tmp/conformance/conformance.test"))
PASSWORD = "conformance-owner-pw"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not BIN.is_file() or not os.access(BIN, os.X_OK),
        reason=f"conformance test binary not found at {BIN} (set OCI_CONFORMANCE_BIN)",
    ),
]


def test_conformance_with_token_auth(tmp_path: Path) -> None:
    from registry._support import root_conftest

    data = tmp_path / "data"
    from sciregistry.app import build_services
    from sciregistry.config import load_config

    svc = build_services(load_config(overrides={"data_dir": str(data)}, environ={}))
    svc.accounts.create_user("owner", PASSWORD)
    svc.accounts.create_namespace("myorg", "owner")
    svc.engine.dispose()
    server = root_conftest().start_server(
        data, env={"SCIREGISTRY_AUTH_ENABLED": "true", "SCIREGISTRY_ADMIN_PASSWORD": "conformance-admin-pw"}
    )
    try:
        report = tmp_path / "report"
        report.mkdir()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OCI_")},
            "OCI_ROOT_URL": server.url,
            "OCI_NAMESPACE": "myorg/myrepo",
            "OCI_CROSSMOUNT_NAMESPACE": "myorg/other",
            "OCI_USERNAME": "owner",
            "OCI_PASSWORD": PASSWORD,
            "OCI_TEST_PULL": "1",
            "OCI_TEST_PUSH": "1",
            "OCI_TEST_CONTENT_DISCOVERY": "1",
            "OCI_TEST_CONTENT_MANAGEMENT": "1",
            "OCI_DEBUG": "0",
            "OCI_HIDE_SKIPPED_WORKFLOWS": "0",
            "OCI_REPORT_DIR": str(report),
        }
        proc = subprocess.run(
            [str(BIN), "-ginkgo.no-color"],
            cwd=report,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        junit = report / "junit.xml"
        assert junit.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
        passed, failed, skipped = 0, [], 0
        for tc in ET.parse(junit).getroot().iter("testcase"):
            name = tc.get("name", "")
            if not name.startswith("OCI Distribution Conformance Tests "):
                continue
            if tc.find("failure") is not None or tc.find("error") is not None:
                failed.append(name)
            elif tc.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
        assert failed == []
        assert passed >= 74
    finally:
        server.stop()
