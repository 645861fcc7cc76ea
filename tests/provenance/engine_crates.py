"""Engines' Workflow Run Crates in their writers' own shapes, written into a directory with their files.

- :func:`nf_prov_crate`: Nextflow's nf-prov 1.x WrrocRenderer (task CreateActions gathered by
  ControlActions, instrument = the module, no containerImage, files without checksums, one
  "publish" CreateAction per published file, RO-Crate 1.1 context only);
- :func:`snakemake_crate`: Snakemake's crate in the Workflow Run Crate examples (one CreateAction
  for the whole run, no steps, times without a zone, the terms' namespace as a second context).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def nf_prov_crate(tmp: Path) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "main.nf").write_text("process RNG { container 'lab/rng:1.0' }\n")
    (tmp / "out").mkdir()
    (tmp / "out" / "r1.txt").write_text("1\n")
    (tmp / "out" / "r2.txt").write_text("2\n")
    graph: list[dict[str, Any]] = [
        {
            "@id": "ro-crate-metadata.json",
            "@type": "CreativeWork",
            "about": {"@id": "./"},
            "conformsTo": [
                {"@id": "https://w3id.org/ro/crate/1.1"},
                {"@id": "https://w3id.org/workflowhub/workflow-ro-crate/1.0"},
            ],
        },
        {
            "@id": "./",
            "@type": "Dataset",
            "datePublished": "2026-12-01",
            "conformsTo": [
                {"@id": "https://w3id.org/ro/wfrun/process/0.1"},
                {"@id": "https://w3id.org/ro/wfrun/workflow/0.1"},
                {"@id": "https://w3id.org/ro/wfrun/provenance/0.1"},
            ],
            "name": "Workflow run of nf-test",
            "hasPart": [{"@id": "main.nf"}, {"@id": "out/r1.txt"}, {"@id": "out/r2.txt"}],
            "mainEntity": {"@id": "main.nf"},
            "mentions": [{"@id": "#run"}],
            "license": "Apache-2.0",
        },
        {
            "@id": "main.nf",
            "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"],
            "name": "nf-test",
            "programmingLanguage": {"@id": "https://w3id.org/workflowhub/workflow-ro-crate#nextflow"},
            "encodingFormat": "application/nextflow",
            "step": [{"@id": "main.nf#RNG"}],
        },
        {
            "@id": "https://w3id.org/workflowhub/workflow-ro-crate#nextflow",
            "@type": "ComputerLanguage",
            "name": "Nextflow",
        },
        {"@id": "main.nf#software-application", "@type": "SoftwareApplication", "name": "Nextflow 24.10.0"},
        {"@id": "modules/rng.nf", "@type": "SoftwareApplication", "name": "RNG"},
        {"@id": "main.nf#RNG", "@type": "HowToStep", "workExample": {"@id": "modules/rng.nf"}, "position": 1},
        {
            "@id": "main.nf#RNG#control",
            "@type": "ControlAction",
            "instrument": {"@id": "main.nf#RNG"},
            "name": "Orchestrate process RNG",
            "object": [{"@id": "#task/aa"}, {"@id": "#task/bb"}],
        },
        {
            "@id": "main.nf#organize",
            "@type": "OrganizeAction",
            "instrument": {"@id": "main.nf#software-application"},
            "object": [{"@id": "main.nf#RNG#control"}],
            "result": {"@id": "#run"},
            "startTime": "2026-12-01T10:00:00Z",
            "endTime": "2026-12-01T10:05:00Z",
        },
        {
            "@id": "#run",
            "@type": "CreateAction",
            "name": "Nextflow workflow run 1234",
            "startTime": "2026-12-01T10:00:00Z",
            "endTime": "2026-12-01T10:05:00Z",
            "instrument": {"@id": "main.nf"},
            "object": [{"@id": "#param/prefix/value"}],
            "result": [{"@id": "out/r1.txt"}, {"@id": "out/r2.txt"}],
        },
        {
            "@id": "#param/prefix/value",
            "@type": "PropertyValue",
            "name": "prefix",
            "value": "r",
            "exampleOfWork": {"@id": "#param/prefix"},
        },
        {
            "@id": "#task/aa",
            "@type": "CreateAction",
            "name": "RNG (1)",
            "instrument": {"@id": "modules/rng.nf"},
            "object": [],
            "result": [{"@id": "#task/aa/r1.txt"}],
            "actionStatus": "http://schema.org/CompletedActionStatus",
        },
        {
            "@id": "#task/bb",
            "@type": "CreateAction",
            "name": "RNG (2)",
            "instrument": {"@id": "modules/rng.nf"},
            "object": [],
            "result": [{"@id": "#task/bb/r2.txt"}],
            "actionStatus": "http://schema.org/CompletedActionStatus",
        },
        {"@id": "#task/aa/r1.txt", "@type": "CreativeWork", "name": "r1.txt"},
        {"@id": "#task/bb/r2.txt", "@type": "CreativeWork", "name": "r2.txt"},
        {
            "@id": "#publish/aa/r1.txt",
            "@type": "CreateAction",
            "name": "publish",
            "instrument": {"@id": "main.nf#software-application"},
            "object": {"@id": "#task/aa/r1.txt"},
            "result": {"@id": "out/r1.txt"},
            "actionStatus": "http://schema.org/CompletedActionStatus",
        },
        {"@id": "out/r1.txt", "@type": "File", "name": "r1.txt", "encodingFormat": "text/plain"},
        {"@id": "out/r2.txt", "@type": "File", "name": "r2.txt", "encodingFormat": "text/plain"},
    ]
    (tmp / "ro-crate-metadata.json").write_text(
        json.dumps({"@context": "https://w3id.org/ro/crate/1.1/context", "@graph": graph})
    )
    return tmp


def snakemake_crate(tmp: Path) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "workflow").mkdir()
    (tmp / "workflow" / "Snakefile").write_text("rule all:\n    input: 'out.txt'\n")
    (tmp / "in.txt").write_text("input\n")
    (tmp / "out.txt").write_text("output\n")
    graph = [
        {
            "@id": "ro-crate-metadata.json",
            "@type": "CreativeWork",
            "about": {"@id": "./"},
            "conformsTo": {"@id": "https://w3id.org/ro/crate/1.1"},
        },
        {
            "@id": "./",
            "@type": "Dataset",
            "datePublished": "2023-11-16T09:47:59+00:00",
            "conformsTo": [
                {"@id": "https://w3id.org/ro/wfrun/process/0.3"},
                {"@id": "https://w3id.org/ro/wfrun/workflow/0.3"},
            ],
            "license": "https://creativecommons.org/licenses/by/4.0/",
            "mainEntity": {"@id": "workflow/Snakefile"},
            "hasPart": [{"@id": "workflow/Snakefile"}, {"@id": "in.txt"}, {"@id": "out.txt"}],
        },
        {
            "@id": "workflow/Snakefile",
            "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow"],
            "name": "img-convert",
            "programmingLanguage": {"@id": "#snakemake"},
        },
        {"@id": "#snakemake", "@type": "ComputerLanguage", "name": "Snakemake"},
        {
            "@id": "#run",
            "@type": "CreateAction",
            "name": "execution of img-convert workflow",
            "description": "snakemake --snakefile workflow/Snakefile --use-singularity --cores",
            "endTime": "2023-10-27T16:10:38",
            "instrument": {"@id": "workflow/Snakefile"},
            "object": [{"@id": "in.txt"}],
            "result": [{"@id": "out.txt"}],
        },
        {"@id": "in.txt", "@type": "File"},
        {"@id": "out.txt", "@type": "File"},
    ]
    (tmp / "ro-crate-metadata.json").write_text(
        json.dumps(
            {
                "@context": [
                    "https://w3id.org/ro/crate/1.1/context",
                    "https://w3id.org/ro/terms/workflow-run",
                ],
                "@graph": graph,
            }
        )
    )
    return tmp
