"""A workflow run (two steps, two images): an advisory about the second step's image reaches the
workflow's result and DOI, through the impact index that lists every step's image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.landing.conftest import make_app
from tests.landing.test_workflow_admission import _crate, _push, _push_crate
from tests.vuln.conftest import DATA, push_real_image, records
from tests.vuln.images import alpine_image, conda_meta, tar_layer


def test_advisory_on_a_step_image_reaches_the_workflow_doi(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path / "data", database_url)
    client = app.test_client()
    vulns: Any = app.extensions["sciregistry"].vulns
    samtools = [
        tar_layer([("opt/conda/conda-meta/samtools-1.17-h1234_0.json", conda_meta("samtools", "1.17"))])
    ]
    images = {
        "lab/gc-content": push_real_image(client, "lab/gc-content", "1.0.0", alpine_image()).digest,
        "lab/gc-summary": push_real_image(client, "lab/gc-summary", "1.0.0", samtools).digest,
    }
    result, layers = _push(client, _crate(tmp_path, images))
    resp, _ = _push_crate(client, result, layers)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    record = client.post(
        "/api/v1/dois",
        json={"reference": f"registry.test/lab/gc-results@{result.digest}", "title": "GC workflow"},
    )
    assert record.status_code == 201, record.get_data(as_text=True)
    doi = record.get_json()["doi"]
    vulns.import_records(records("distro/ALPINE-0000-busybox.json"))
    vulns.publish_advisory("advisory-samtools.json", (DATA / "advisory-samtools.json").read_bytes())
    vulns.drain()

    for record_id, image in (
        ("SCIREG-2026-0001", "lab/gc-summary"),
        ("TEST-ALPINE-2023-0001", "lab/gc-content"),
    ):
        doc = client.get(f"/api/v1/advisories/{record_id}/affected").get_json()
        assert [i["repository"] for i in doc["images"]] == [image]
        assert [r["digest"] for r in doc["results"]] == [result.digest]
        assert [d["doi"] for d in doc["dois"]] == [doi]
    page = client.get(f"/doi/{doi}").get_data(as_text=True)
    assert "Scientific advisory SCIREG-2026-0001" in page and "samtools 1.17" in page
    assert "TEST-ALPINE-2023-0001" not in page  # a security finding is not a notice on the DOI
    app.extensions["sciregistry"].engine.dispose()
