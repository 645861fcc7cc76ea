"""The public surface of sciregistry.provenance, and the rule that it alone imports rocrate."""

from __future__ import annotations

import re
from pathlib import Path

from sciregistry import provenance

PACKAGE = Path(provenance.__file__).resolve().parent.parent


def test_exported_members() -> None:
    assert sorted(provenance.__all__) == sorted(
        [
            "COMPLETED_ACTION_STATUS",
            "CRATE_MEDIA_TYPE",
            "CRATE_METADATA_NAME",
            "DOCKER_IMAGE",
            "PROCESS_RUN_CRATE",
            "ROCRATE_ARTIFACT_TYPE",
            "RUN_DESCRIPTION_MEDIA_TYPE",
            "RUN_DESCRIPTION_NAME",
            "WORKFLOW_RO_CRATE",
            "WORKFLOW_RUN_CONTEXT",
            "WORKFLOW_RUN_CRATE",
            "Agent",
            "CrateFiles",
            "FileRef",
            "ImageRef",
            "InputRef",
            "Parameter",
            "RunRecord",
            "Step",
            "build_run_crate",
            "container_image_ref",
            "crate_problems",
            "is_workflow_crate",
            "load_schema",
            "read_run_crate",
            "read_workflow_crate",
            "run_description_dict",
            "schema_names",
            "validate",
            "validate_run_crate",
        ]
    )
    for name in provenance.__all__:
        assert getattr(provenance, name) is not None
    assert provenance.RUN_DESCRIPTION_MEDIA_TYPE == "application/vnd.sciregistry.run.v1+json"
    assert provenance.ROCRATE_ARTIFACT_TYPE == "application/vnd.sciregistry.rocrate.v1"


def test_only_provenance_imports_rocrate() -> None:
    pattern = re.compile(r"^\s*(import|from)\s+(rocrate|rocrate_validator)\b", re.MULTILINE)
    offenders = [
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob("*.py")
        if "provenance" not in path.relative_to(PACKAGE).parts
        and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_shipped_contexts() -> None:
    import json

    from sciregistry.provenance.validation import CONTEXT_FILES, context_document

    assert sorted(CONTEXT_FILES) == [
        "https://w3id.org/ro/crate/1.1/context",
        "https://w3id.org/ro/terms/workflow-run",  # runcrate names the namespace
        "https://w3id.org/ro/terms/workflow-run/context",
    ]
    workflow_run = json.loads(context_document("https://w3id.org/ro/terms/workflow-run/context"))["@context"]
    assert len(workflow_run) == 16
    assert workflow_run["containerImage"] == "https://w3id.org/ro/terms/workflow-run#containerImage"
    assert all(iri == f"https://w3id.org/ro/terms/workflow-run#{term}" for term, iri in workflow_run.items())
    ro_crate = json.loads(context_document("https://w3id.org/ro/crate/1.1/context"))
    assert ro_crate["@id"] == "https://w3id.org/ro/crate/1.1/context"
    assert ro_crate["@context"]["ComputationalWorkflow"] == "https://bioschemas.org/ComputationalWorkflow"
