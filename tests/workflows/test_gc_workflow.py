"""The two-step CWL example (workflows/gc-workflow) end to end against a live registry.

cwltool runs it with podman, pulling both step images by digest from the registry; runcrate turns
the CWLProv bundle into a Provenance Run Crate; ``sciregistry run import`` admits it; lineage and
impact name both step images; a DOI pins both; the stored crate passes roc-validator's
workflow-run-crate profile offline; a crate naming an image digest the registry lacks is refused
naming that digest. Skips with the reason when podman, skopeo, cwltool or runcrate cannot run here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sciregistry.cli import main

ROOT = Path(__file__).resolve().parents[2]
WF_DIR = ROOT / "workflows" / "gc-workflow"
DATA = ROOT / "workflows" / "gc-content" / "data"
BUSYBOX = Path("/bin/busybox")

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("isolated_client")]
TIMINGS: dict[str, float] = {}


@pytest.fixture
def isolated_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """CLI commands read SCIREGISTRY_* and the credentials file: isolate them (runcrate's location stays)."""
    for key in list(os.environ):
        if key.startswith("SCIREGISTRY_") and key != "SCIREGISTRY_RUNCRATE":
            monkeypatch.delenv(key)
    monkeypatch.setenv("SCIREGISTRY_CONFIG_HOME", str(tmp_path / "client-config"))


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def _prepare() -> Any:
    sys.path.insert(0, str(WF_DIR))
    try:
        import prepare  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(WF_DIR))
    return prepare


@pytest.fixture(scope="module")
def example(live_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from sciregistry.client.cwl import CwlEnvironment, convert_provenance, cwltool_command, runcrate_command

    for tool, found in (
        ("podman", shutil.which("podman")),
        ("skopeo", shutil.which("skopeo")),
        ("cwltool", cwltool_command()),
        ("runcrate", runcrate_command()),
    ):
        if not found:
            pytest.skip(
                f"{tool} is not installed (cwltool: pip install 'sciregistry[cwl]'; runcrate: its own "
                "venv, see .ci/run, or SCIREGISTRY_RUNCRATE)"
            )
    if not BUSYBOX.is_file():
        pytest.skip("/bin/busybox not installed (apt-get install busybox-static)")
    tmp = tmp_path_factory.mktemp("gcwf")
    host = live_server.host
    builds = _prepare().build_images(tmp / "images", BUSYBOX)
    refs = {}
    for name, build in builds.items():
        subprocess.run(
            [
                "skopeo",
                "copy",
                "--quiet",
                "--preserve-digests",
                "--dest-tls-verify=false",
                f"oci:{tmp / 'images' / name}:{build.tag}",
                f"docker://{host}/lab/{name}:{build.tag}",
            ],
            check=True,
            timeout=120,
            capture_output=True,
        )
        refs[name] = f"{host}/lab/{name}@{build.manifest.digest}"
    workflow = _prepare().render(tmp / "wf", refs["gc-content"], refs["gc-summary"], DATA)
    env = CwlEnvironment([host])
    try:
        run = env.run(workflow, tmp / "wf" / "job.yml", tmp / "out", provenance=tmp / "prov")
    finally:
        env.close()
    if run.returncode != 0:
        if "keep-id" in run.log or ("cannot" in run.log.lower() and "podman" in run.log.lower()):
            pytest.skip(f"podman cannot run the steps here: {run.log[-1500:]}")
        raise AssertionError(f"cwltool failed ({run.returncode}):\n{run.log}")
    converted = convert_provenance(tmp / "prov", tmp / "crate")
    assert converted.returncode == 0, converted.stderr[-3000:]
    return {
        "host": host,
        "tmp": tmp,
        "refs": refs,
        "builds": builds,
        "out": tmp / "out",
        "crate": tmp / "crate",
    }


def test_cwltool_ran_both_steps_in_the_registry_images(example: dict[str, Any]) -> None:
    out = example["out"]
    assert sorted(p.name for p in out.iterdir()) == ["gc.tsv", "kmers.tsv", "summary.tsv"]
    assert (out / "summary.tsv").read_text().splitlines()[-1].startswith("total\t13\t2581\t")
    metadata = json.loads((example["crate"] / "ro-crate-metadata.json").read_text())
    images = sorted(e["sha256"] for e in metadata["@graph"] if e.get("@type") == "ContainerImage")
    assert images == sorted(r.split("@sha256:")[1] for r in example["refs"].values())


def test_import_lineage_impact_doi(example: dict[str, Any]) -> None:
    from sciregistry.client import Registry
    from sciregistry.provenance import validate_run_crate

    host = example["host"]
    started = time.monotonic()
    imported = _cli(
        "run",
        "import",
        str(example["crate"]),
        "--to",
        f"{host}/lab/gc-results:wf",
        "--name",
        "GC content and summary",
        "--description",
        "Two steps, two images",
        "--license",
        "CC-BY-4.0",
        "--agent",
        "Ada Lovelace",
        "--orcid",
        "https://orcid.org/0000-0002-1825-0097",
        "--insecure",
        "--json",
    )
    TIMINGS["import"] = time.monotonic() - started
    assert imported.exit_code == 0, imported.output
    doc = json.loads(imported.stdout)
    result = doc["result"]["digest"]
    assert doc["result"]["reference"] == f"{host}/lab/gc-results@{result}"
    assert [s["image"] for s in doc["steps"]] == [
        example["refs"]["gc-content"],
        example["refs"]["gc-summary"],
    ]
    assert doc["workflow"] == {"language": "cwl", "path": "packed.cwl"}

    reg = Registry(f"http://{host}")
    started = time.monotonic()
    lineage = reg.transport.request("GET", f"/api/v1/lineage/lab/gc-results@{result}").json()
    TIMINGS["lineage"] = time.monotonic() - started
    run = lineage["produced_by"]
    assert run["workflow"]["language"] == "cwl" and run["workflow"]["path"] == "packed.cwl"
    steps = run["steps"]
    assert [s["name"] for s in steps] == ["main/gc", "main/stats"]
    assert [f"{host}/{s['image']['repository']}@{s['image']['digest']}" for s in steps] == [
        example["refs"]["gc-content"],
        example["refs"]["gc-summary"],
    ]
    assert {p["name"]: p["value"] for p in steps[0]["parameters"]} == {"k": "3", "min_length": "0"}
    assert {p["name"]: p["value"] for p in steps[1]["parameters"]} == {"min_gc": "0.5"}
    assert steps[0]["outputs"] and steps[1]["inputs"] == [
        o for o in steps[0]["outputs"] if o["size"] == steps[1]["inputs"][0]["size"]
    ]
    assert {p["name"] for p in run["parameters"]} == {"k", "min_length", "min_gc"}
    assert len(run["workflow"]["input_files"]) == 4  # the reads directory's files, carried by the crate

    text = _cli("lineage", f"{host}/lab/gc-results@{result}", "--insecure")
    assert text.exit_code == 0, text.output
    assert "cwl workflow packed.cwl" in text.output
    for n, (step, name) in enumerate((("main/gc", "gc-content"), ("main/stats", "gc-summary")), 1):
        assert f"step {n} {step}: image lab/{name}@{example['refs'][name].split('@', 1)[1]}" in text.output
    shown = Registry(f"http://{host}").run_for(f"lab/gc-results@{result}")
    assert [s.image.digest for s in shown.steps] == [
        example["refs"][n].split("@", 1)[1] for n in ("gc-content", "gc-summary")
    ]

    for name in ("gc-content", "gc-summary"):
        digest = example["refs"][name].split("@", 1)[1]
        impact = reg.transport.request("GET", f"/api/v1/impact/{digest}").json()
        assert {"repository": "lab/gc-results", "digest": result} in impact["results"], impact

    # the stored crate passes the Workflow Run Crate profile (REQUIRED), offline
    crate_manifest = reg.oci.get_manifest("lab/gc-results", doc["crate"]["digest"]).data
    layer = next(
        ly
        for ly in json.loads(crate_manifest)["layers"]
        if ly["annotations"]["org.opencontainers.image.title"] == "ro-crate-metadata.json"
    )
    stored = reg.transport.request("GET", f"/v2/lab/gc-results/blobs/{layer['digest']}").content
    assert validate_run_crate(stored) == []

    # a DOI pins both step images: deleting either is refused
    minted = _cli("doi", "mint", f"{host}/lab/gc-results@{result}", "--title", "GC workflow", "--json")
    assert minted.exit_code == 0, minted.output
    for name in ("gc-content", "gc-summary"):
        digest = example["refs"][name].split("@", 1)[1]
        r = reg.transport.session.delete(f"http://{host}/v2/lab/{name}/manifests/{digest}")
        assert r.status_code == 403, r.text
        assert f"{digest} is pinned by DOI" in r.json()["errors"][0]["message"]
    example["doi"] = json.loads(minted.stdout)["doi"]
    example["result"] = result
    print(f"\ntimings: import {TIMINGS['import']:.2f}s lineage {TIMINGS['lineage'] * 1000:.0f}ms")


def test_crate_naming_an_image_the_registry_lacks_is_refused(example: dict[str, Any], tmp_path: Path) -> None:
    crate = tmp_path / "crate"
    shutil.copytree(example["crate"], crate)
    meta = json.loads((crate / "ro-crate-metadata.json").read_text())
    missing = "0" * 63 + "1"
    for e in meta["@graph"]:
        if e.get("@type") == "ContainerImage" and e.get("name") == "lab/gc-summary":
            e["sha256"] = missing
    (crate / "ro-crate-metadata.json").write_text(json.dumps(meta))
    refused = _cli("run", "import", str(crate), "--to", f"{example['host']}/lab/gc-results:bad", "--insecure")
    assert refused.exit_code != 0
    assert f"sha256:{missing}" in refused.output, refused.output
    assert "not in this registry" in refused.output


def test_reproduce_from_a_clean_directory(
    example: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if "doi" not in example:
        pytest.skip("needs the DOI minted by test_import_lineage_impact_doi")
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    done = _cli("reproduce", example["doi"], "--registry", f"http://{example['host']}", "--out", "again")
    TIMINGS["reproduce"] = time.monotonic() - started
    assert done.exit_code == 0, done.output
    report = json.loads((tmp_path / "again" / "report.json").read_text())
    assert report["verdict"] == "REPRODUCED", report
    assert [o["status"] for o in report["outputs"]] == ["identical"] * 3
    markdown = (tmp_path / "again" / "report.md").read_text()
    for name in ("gc-content", "gc-summary"):
        assert example["refs"][name].split("/", 1)[1] in markdown  # per-step detail names both images
    assert "main/gc" in markdown and "main/stats" in markdown
    print(f"\ntimings: reproduce {TIMINGS['reproduce']:.2f}s")
