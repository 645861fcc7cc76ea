"""``--attach``: the report becomes a referrer of the result, and REPRODUCED reports are counted on
the DOI (``ReproductionCounter``) and shown on the landing page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from sciregistry.cli import main
from sciregistry.cli import reproduce as _reproduce_cli  # noqa: F401  (registers the command)
from sciregistry.client import Registry
from sciregistry.client.reproduce import Report, attach_report
from sciregistry.errors import ManifestInvalid
from sciregistry.oci import artifacts

from .conftest import Published, Recorded, record

REFERRERS = "application/vnd.sciregistry.reproduction.v1"


def reproductions(reg: Registry, doi: str) -> int:
    return int(reg.transport.request("GET", f"/api/v1/dois/{doi}").json()["reproductions"])


def landing_count(reg: Registry, doi: str) -> str | None:
    page = reg.transport.request("GET", f"/doi/{doi}", headers={"Accept": "text/html"}).text
    m = re.search(r"<dt>Reproduced</dt><dd>([^<]*)</dd>", page)
    return m.group(1) if m else None


@pytest.fixture
def fresh(published: Published, request: pytest.FixtureRequest) -> Recorded:
    """A run recorded (and a DOI minted) for this test only, so counts start at 0."""
    host = published.server.host
    tag = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:60].strip("-")
    with published.registry() as reg:
        return record(
            reg,
            f"{host}/lab/gc-content@{published.image_digest}",
            f"{host}/lab/reads@{published.dataset}",
            sorted((published.data_dir.parent / "host-out").iterdir()),
            f"{host}/lab/counted:{tag}",
            f"counted {tag}",
        )


def test_attach_pushes_the_report_as_a_referrer(
    published: Published, fresh: Recorded, podman_reason: str | None, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["reproduce", fresh.doi, "--registry", published.server.url, "--out", str(out), "--attach", "--json"],
        catch_exceptions=False,
    )
    doc = json.loads(result.stdout)
    expected = "REPRODUCED" if podman_reason is None else "NOT_RUN"
    assert doc["verdict"] == expected, doc["reason"]
    assert result.exit_code == (0 if expected == "REPRODUCED" else 3)
    attached = doc["attached"]
    assert attached and attached.startswith("sha256:")
    with published.registry() as reg:
        refs = reg.referrers("lab/counted", fresh.result, artifact_type=REFERRERS)
        assert [r.digest for r in refs] == [attached]
        manifest = json.loads(reg.get_manifest("lab/counted", attached).data)
        assert manifest["artifactType"] == REFERRERS
        assert manifest["subject"]["digest"] == fresh.result
        assert [(ly["mediaType"], ly["annotations"][artifacts.TITLE]) for ly in manifest["layers"]] == [
            (artifacts.REPORT_MEDIA_TYPE, "report.json")
        ]
        pushed = reg.oci.blob_bytes("lab/counted", manifest["layers"][0]["digest"])
        assert pushed == (out / "report.json").read_bytes()
        assert f"lab/counted@{attached}" in (out / "report.md").read_text()
        count = 1 if expected == "REPRODUCED" else 0
        assert reproductions(reg, fresh.doi) == count
        assert landing_count(reg, fresh.doi) == f"{count} time" + ("" if count == 1 else "s")


def _report(reg: Registry, doi: str, tmp_path: Path) -> tuple[Report, object]:
    res = reg.resolve(doi)
    return res.reproduce(tmp_path / "base", runtime="none"), res


def test_counter_counts_reproduced_reports_only(
    published: Published, fresh: Recorded, tmp_path: Path
) -> None:
    with published.registry() as reg:
        report, res = _report(reg, fresh.doi, tmp_path)
        assert reproductions(reg, fresh.doi) == 0

        attach_report(res, report.to_json())  # NOT_RUN: not counted
        assert reproductions(reg, fresh.doi) == 0

        report.verdict, report.reason = "REPRODUCED", "all 2 recorded output(s) are byte-identical"
        first = attach_report(res, report.to_json())
        assert reproductions(reg, fresh.doi) == 1
        assert attach_report(res, report.to_json()) == first  # the same manifest again: counted once
        assert reproductions(reg, fresh.doi) == 1

        report.ended = "2099-01-01T00:00:00Z"  # another REPRODUCED report
        second = attach_report(res, report.to_json())
        assert second != first
        assert reproductions(reg, fresh.doi) == 2
        assert landing_count(reg, fresh.doi) == "2 times"

        resp = reg.transport.request("DELETE", f"/v2/lab/counted/manifests/{second}", ok={202})
        resp.close()
        assert reproductions(reg, fresh.doi) == 1
        assert landing_count(reg, fresh.doi) == "1 time"
        assert published.main.doi != fresh.doi


def test_counter_refuses_malformed_reports(published: Published, fresh: Recorded, tmp_path: Path) -> None:
    with published.registry() as reg:
        report, res = _report(reg, fresh.doi, tmp_path)
        with pytest.raises(ManifestInvalid, match="not JSON"):
            attach_report(res, b"REPRODUCED, honestly")
        with pytest.raises(ManifestInvalid, match="does not satisfy reproduction-report.schema.json"):
            attach_report(res, json.dumps({"verdict": "REPRODUCED"}).encode())
        doc = report.to_dict()
        doc["verdict"] = "REPRODUCED"
        doc["result"]["digest"] = published.main.result  # a report about another result
        with pytest.raises(ManifestInvalid, match="about another result"):
            attach_report(res, json.dumps(doc).encode())
        assert reproductions(reg, fresh.doi) == 0
        assert reg.referrers("lab/counted", fresh.result, artifact_type=REFERRERS) == []


def test_report_round_trips(published: Published, fresh: Recorded, tmp_path: Path) -> None:
    with published.registry() as reg:
        report, _ = _report(reg, fresh.doi, tmp_path)
    again = Report.from_dict(json.loads((tmp_path / "base" / "report.json").read_bytes()))
    assert again.to_json() == report.to_json()
    assert again.validate() == []
