"""Engines' Workflow Run Crates in their own shapes (see ``engine_crates``): what the registry admits,
what run import completes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sciregistry.client.workflows import complete_crate
from sciregistry.errors import CrateInvalid
from sciregistry.provenance import read_workflow_crate, validate_run_crate

from .engine_crates import nf_prov_crate, snakemake_crate

DIGEST = "sha256:" + "ab" * 32


def test_nf_prov_crate_names_the_steps_without_images(tmp_path: Path) -> None:
    crate = nf_prov_crate(tmp_path)
    with pytest.raises(CrateInvalid) as refused:
        complete_crate(crate)
    problems = refused.value.detail["problems"]
    assert [p for p in problems if "names no containerImage" in p] == [
        f"step {name!r} names no containerImage: the registry links every step to the image digest it ran in "
        "(give it with run import --image)"
        for name in ("RNG (1)", "RNG (2)")
    ]


def test_nf_prov_crate_completed_with_images(tmp_path: Path) -> None:
    crate = nf_prov_crate(tmp_path)
    resolved = []

    def resolve(registry: str, repo: str, tag: str) -> str:
        resolved.append((registry, repo, tag))
        return DIGEST

    plan = complete_crate(crate, images={"": "127.0.0.1:5000/lab/rng:1.0"}, resolve=resolve, agent="Ada")
    assert resolved == [("127.0.0.1:5000", "lab/rng", "1.0"), ("127.0.0.1:5000", "lab/rng", "1.0")]
    run = plan.run
    assert run.language == "nextflow"
    assert [(s.name, s.image.reference) for s in run.steps] == [
        ("RNG (1)", f"127.0.0.1:5000/lab/rng@{DIGEST}"),
        ("RNG (2)", f"127.0.0.1:5000/lab/rng@{DIGEST}"),
    ]
    assert [o.path for o in run.outputs] == ["out/r1.txt", "out/r2.txt"]
    assert [(p.name, p.value) for p in run.parameters] == [("prefix", "r")]
    assert [t for _, t in plan.outputs] == ["out/r1.txt", "out/r2.txt"]
    assert [t for _, t in plan.crate_files] == ["main.nf"]
    assert any("named by tag" in w for w in plan.warnings)
    # the completed crate is what the registry reads: no problems left, and it passes the profile offline
    again, problems, _notes = read_workflow_crate(json.loads(plan.metadata))
    assert problems == [] and again is not None and len(again.steps) == 2
    assert "https://w3id.org/ro/terms/workflow-run/context" in json.loads(plan.metadata)["@context"]
    assert validate_run_crate(plan.metadata) == []


def test_snakemake_crate_is_one_step_completed_with_an_image(tmp_path: Path) -> None:
    crate = snakemake_crate(tmp_path)
    with pytest.raises(CrateInvalid, match="names no containerImage"):
        complete_crate(crate)
    plan = complete_crate(crate, images={"": f"127.0.0.1:5000/lab/snakemake@{DIGEST}"}, license="CC-BY-4.0")
    run = plan.run
    assert run.language == "snakemake"
    assert [(s.name, s.image.digest) for s in run.steps] == [("execution of img-convert workflow", DIGEST)]
    assert [f.path for f in run.input_files] == ["in.txt"]
    assert [o.path for o in run.outputs] == ["out.txt"]
    assert run.workflow is not None and run.workflow.path == "workflow/Snakefile"
    assert any("no time zone" in w for w in plan.warnings)
    assert sorted(t for _, t in plan.crate_files) == ["in.txt", "workflow/Snakefile"]
    assert validate_run_crate(plan.metadata) == []


def test_registry_refuses_an_image_without_digest_and_a_failed_step(tmp_path: Path) -> None:
    doc = json.loads(nf_prov_crate(tmp_path).joinpath("ro-crate-metadata.json").read_text())
    for e in doc["@graph"]:
        if e["@id"] == "#task/aa":
            e["containerImage"] = {"@id": "#img"}
            e["actionStatus"] = "http://schema.org/FailedActionStatus"
        if e["@id"] == "#task/bb":
            e["containerImage"] = "docker://127.0.0.1:5000/lab/rng:1.0"
    doc["@graph"].append(
        {
            "@id": "#img",
            "@type": "ContainerImage",
            "registry": "docker.io",
            "name": "127.0.0.1:5000/lab/rng",
            "sha256": DIGEST.split(":")[1],
        }
    )
    run, problems, _ = read_workflow_crate(doc)
    assert run is None
    assert (
        "step 'RNG (1)' failed (actionStatus http://schema.org/FailedActionStatus): "
        "a result needs every step to have completed" in problems
    )
    assert (
        "step 'RNG (2)': container image 127.0.0.1:5000/lab/rng:1.0 is not pinned by a sha256 digest "
        "(run import resolves tags to digests)" in problems
    )
    assert any(p.startswith("output file 'out/r1.txt' has no sha256") for p in problems)


def test_step_count_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sciregistry.provenance import workflow

    doc = json.loads(nf_prov_crate(tmp_path).joinpath("ro-crate-metadata.json").read_text())
    monkeypatch.setattr(workflow, "MAX_STEPS", 1)
    run, problems, _ = read_workflow_crate(doc)
    assert run is None
    assert problems == ["the crate describes 2 step executions; at most 1 are admitted"]
