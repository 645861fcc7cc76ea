"""Engines' Workflow Run Crates in their own shapes: what the registry admits, what run import completes.

Shapes follow the engines' writers: Nextflow's nf-prov 1.x WrrocRenderer (task CreateActions
gathered by ControlActions, instrument = the module, no containerImage, files without checksums,
one "publish" CreateAction per published file, RO-Crate 1.1 context only) and Snakemake's crate
in the Workflow Run Crate examples (one CreateAction for the whole run, no steps, times without
a zone, the terms' namespace as a second context).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sciregistry.client.workflows import complete_crate
from sciregistry.errors import CrateInvalid
from sciregistry.provenance import read_workflow_crate

DIGEST = "sha256:" + "ab" * 32


def _nf_prov(tmp: Path) -> Path:
    (tmp / "main.nf").write_text("process RNG { container 'lab/rng:1.0' }\n")
    (tmp / "out").mkdir()
    (tmp / "out" / "r1.txt").write_text("1\n")
    (tmp / "out" / "r2.txt").write_text("2\n")
    graph: list[dict[str, Any]] = [
        {"@id": "ro-crate-metadata.json", "@type": "CreativeWork", "about": {"@id": "./"},
         "conformsTo": [{"@id": "https://w3id.org/ro/crate/1.1"},
                        {"@id": "https://w3id.org/workflowhub/workflow-ro-crate/1.0"}]},
        {"@id": "./", "@type": "Dataset", "datePublished": "2026-12-01",
         "conformsTo": [{"@id": "https://w3id.org/ro/wfrun/process/0.1"}, {"@id": "https://w3id.org/ro/wfrun/workflow/0.1"},
                        {"@id": "https://w3id.org/ro/wfrun/provenance/0.1"}],
         "name": "Workflow run of nf-test", "hasPart": [{"@id": "main.nf"}, {"@id": "out/r1.txt"}, {"@id": "out/r2.txt"}],
         "mainEntity": {"@id": "main.nf"}, "mentions": [{"@id": "#run"}], "license": "Apache-2.0"},
        {"@id": "main.nf", "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"],
         "name": "nf-test", "programmingLanguage": {"@id": "https://w3id.org/workflowhub/workflow-ro-crate#nextflow"},
         "encodingFormat": "application/nextflow", "step": [{"@id": "main.nf#RNG"}]},
        {"@id": "https://w3id.org/workflowhub/workflow-ro-crate#nextflow", "@type": "ComputerLanguage",
         "name": "Nextflow"},
        {"@id": "main.nf#software-application", "@type": "SoftwareApplication", "name": "Nextflow 24.10.0"},
        {"@id": "modules/rng.nf", "@type": "SoftwareApplication", "name": "RNG"},
        {"@id": "main.nf#RNG", "@type": "HowToStep", "workExample": {"@id": "modules/rng.nf"}, "position": 1},
        {"@id": "main.nf#RNG#control", "@type": "ControlAction", "instrument": {"@id": "main.nf#RNG"},
         "name": "Orchestrate process RNG", "object": [{"@id": "#task/aa"}, {"@id": "#task/bb"}]},
        {"@id": "main.nf#organize", "@type": "OrganizeAction", "instrument": {"@id": "main.nf#software-application"},
         "object": [{"@id": "main.nf#RNG#control"}], "result": {"@id": "#run"},
         "startTime": "2026-12-01T10:00:00Z", "endTime": "2026-12-01T10:05:00Z"},
        {"@id": "#run", "@type": "CreateAction", "name": "Nextflow workflow run 1234",
         "startTime": "2026-12-01T10:00:00Z", "endTime": "2026-12-01T10:05:00Z", "instrument": {"@id": "main.nf"},
         "object": [{"@id": "#param/prefix/value"}], "result": [{"@id": "out/r1.txt"}, {"@id": "out/r2.txt"}]},
        {"@id": "#param/prefix/value", "@type": "PropertyValue", "name": "prefix", "value": "r",
         "exampleOfWork": {"@id": "#param/prefix"}},
        {"@id": "#task/aa", "@type": "CreateAction", "name": "RNG (1)", "instrument": {"@id": "modules/rng.nf"},
         "object": [], "result": [{"@id": "#task/aa/r1.txt"}], "actionStatus": "http://schema.org/CompletedActionStatus"},
        {"@id": "#task/bb", "@type": "CreateAction", "name": "RNG (2)", "instrument": {"@id": "modules/rng.nf"},
         "object": [], "result": [{"@id": "#task/bb/r2.txt"}], "actionStatus": "http://schema.org/CompletedActionStatus"},
        {"@id": "#task/aa/r1.txt", "@type": "CreativeWork", "name": "r1.txt"},
        {"@id": "#task/bb/r2.txt", "@type": "CreativeWork", "name": "r2.txt"},
        {"@id": "#publish/aa/r1.txt", "@type": "CreateAction", "name": "publish",
         "instrument": {"@id": "main.nf#software-application"}, "object": {"@id": "#task/aa/r1.txt"},
         "result": {"@id": "out/r1.txt"}, "actionStatus": "http://schema.org/CompletedActionStatus"},
        {"@id": "out/r1.txt", "@type": "File", "name": "r1.txt", "encodingFormat": "text/plain"},
        {"@id": "out/r2.txt", "@type": "File", "name": "r2.txt", "encodingFormat": "text/plain"},
    ]
    (tmp / "ro-crate-metadata.json").write_text(json.dumps(
        {"@context": "https://w3id.org/ro/crate/1.1/context", "@graph": graph}))
    return tmp


def _snakemake(tmp: Path) -> Path:
    (tmp / "workflow").mkdir()
    (tmp / "workflow" / "Snakefile").write_text("rule all:\n    input: 'out.txt'\n")
    (tmp / "in.txt").write_text("input\n")
    (tmp / "out.txt").write_text("output\n")
    graph = [
        {"@id": "ro-crate-metadata.json", "@type": "CreativeWork", "about": {"@id": "./"},
         "conformsTo": {"@id": "https://w3id.org/ro/crate/1.1"}},
        {"@id": "./", "@type": "Dataset", "datePublished": "2023-11-16T09:47:59+00:00",
         "conformsTo": [{"@id": "https://w3id.org/ro/wfrun/process/0.3"}, {"@id": "https://w3id.org/ro/wfrun/workflow/0.3"}],
         "license": "https://creativecommons.org/licenses/by/4.0/", "mainEntity": {"@id": "workflow/Snakefile"},
         "hasPart": [{"@id": "workflow/Snakefile"}, {"@id": "in.txt"}, {"@id": "out.txt"}]},
        {"@id": "workflow/Snakefile", "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow"],
         "name": "img-convert", "programmingLanguage": {"@id": "#snakemake"}},
        {"@id": "#snakemake", "@type": "ComputerLanguage", "name": "Snakemake"},
        {"@id": "#run", "@type": "CreateAction", "name": "execution of img-convert workflow",
         "description": "snakemake --snakefile workflow/Snakefile --use-singularity --cores",
         "endTime": "2023-10-27T16:10:38", "instrument": {"@id": "workflow/Snakefile"},
         "object": [{"@id": "in.txt"}], "result": [{"@id": "out.txt"}]},
        {"@id": "in.txt", "@type": "File"},
        {"@id": "out.txt", "@type": "File"},
    ]
    (tmp / "ro-crate-metadata.json").write_text(json.dumps(
        {"@context": ["https://w3id.org/ro/crate/1.1/context", "https://w3id.org/ro/terms/workflow-run"],
         "@graph": graph}))
    return tmp


def test_nf_prov_crate_names_the_steps_without_images(tmp_path: Path) -> None:
    crate = _nf_prov(tmp_path)
    with pytest.raises(CrateInvalid) as refused:
        complete_crate(crate)
    problems = refused.value.detail["problems"]
    assert [p for p in problems if "names no containerImage" in p] == [
        f"step {name!r} names no containerImage: the registry links every step to the image digest it ran in "
        "(give it with run import --image)" for name in ("RNG (1)", "RNG (2)")]


def test_nf_prov_crate_completed_with_images(tmp_path: Path) -> None:
    crate = _nf_prov(tmp_path)
    resolved = []

    def resolve(registry: str, repo: str, tag: str) -> str:
        resolved.append((registry, repo, tag))
        return DIGEST

    plan = complete_crate(crate, images={"": "127.0.0.1:5000/lab/rng:1.0"}, resolve=resolve, agent="Ada")
    assert resolved == [("127.0.0.1:5000", "lab/rng", "1.0"), ("127.0.0.1:5000", "lab/rng", "1.0")]
    run = plan.run
    assert run.language == "nextflow"
    assert [(s.name, s.image.reference) for s in run.steps] == [
        ("RNG (1)", f"127.0.0.1:5000/lab/rng@{DIGEST}"), ("RNG (2)", f"127.0.0.1:5000/lab/rng@{DIGEST}")]
    assert [o.path for o in run.outputs] == ["out/r1.txt", "out/r2.txt"]
    assert [(p.name, p.value) for p in run.parameters] == [("prefix", "r")]
    assert [t for _, t in plan.outputs] == ["out/r1.txt", "out/r2.txt"]
    assert [t for _, t in plan.crate_files] == ["main.nf"]
    assert any("named by tag" in w for w in plan.warnings)
    # the completed crate is what the registry reads: no problems left
    again, problems, _notes = read_workflow_crate(json.loads(plan.metadata))
    assert problems == [] and again is not None and len(again.steps) == 2


def test_snakemake_crate_is_one_step_completed_with_an_image(tmp_path: Path) -> None:
    crate = _snakemake(tmp_path)
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


def test_registry_refuses_an_image_without_digest_and_a_failed_step(tmp_path: Path) -> None:
    doc = json.loads(_nf_prov(tmp_path).joinpath("ro-crate-metadata.json").read_text())
    for e in doc["@graph"]:
        if e["@id"] == "#task/aa":
            e["containerImage"] = {"@id": "#img"}
            e["actionStatus"] = "http://schema.org/FailedActionStatus"
        if e["@id"] == "#task/bb":
            e["containerImage"] = "docker://127.0.0.1:5000/lab/rng:1.0"
    doc["@graph"].append({"@id": "#img", "@type": "ContainerImage", "registry": "docker.io",
                          "name": "127.0.0.1:5000/lab/rng", "sha256": DIGEST.split(":")[1]})
    run, problems, _ = read_workflow_crate(doc)
    assert run is None
    assert "step 'RNG (1)' failed (actionStatus http://schema.org/FailedActionStatus): a result needs every step " \
           "to have completed" in problems
    assert "step 'RNG (2)': container image 127.0.0.1:5000/lab/rng:1.0 is not pinned by a sha256 digest " \
           "(run import resolves tags to digests)" in problems
    assert any(p.startswith("output file 'out/r1.txt' has no sha256") for p in problems)
