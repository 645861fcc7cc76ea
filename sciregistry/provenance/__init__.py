"""Provenance: Workflow Run Crates for sciregistry runs, and sciregistry's JSON Schemas.

- :func:`build_run_crate` turns a :class:`RunRecord` into the two layers of a run crate
  artifact (``ro-crate-metadata.json`` and ``sciregistry-run.json``);
- :func:`read_run_crate` reads them back, and reads the Workflow Run Crates that engines write
  (cwltool + runcrate, Nextflow's nf-prov, Snakemake) into a run with steps
  (:func:`read_workflow_crate` also returns what it admits but reports);
- :func:`validate_run_crate` lists every problem, including the roc-validator
  ``workflow-run-crate`` profile at REQUIRED severity, fully offline;
- :func:`load_schema` / :func:`validate` give access to the JSON Schemas in ``schemas/``.

This package is the only importer of ``rocrate`` (and ``rocrate_validator``).
"""

# The media type of the ``ro-crate-metadata.json`` layer and the artifactType of a run crate manifest
# (its subject is the result manifest), under the names provenance's callers use; defined once, with
# every other artifact type of sciregistry, in sciregistry.oci.artifacts.
from sciregistry.oci.artifacts import CRATE_METADATA_MEDIA_TYPE as CRATE_MEDIA_TYPE
from sciregistry.oci.artifacts import ROCRATE as ROCRATE_ARTIFACT_TYPE
from sciregistry.provenance.crate import (
    COMPLETED_ACTION_STATUS,
    CRATE_METADATA_NAME,
    DOCKER_IMAGE,
    PROCESS_RUN_CRATE,
    RUN_DESCRIPTION_MEDIA_TYPE,
    RUN_DESCRIPTION_NAME,
    WORKFLOW_RO_CRATE,
    WORKFLOW_RUN_CONTEXT,
    WORKFLOW_RUN_CRATE,
    CrateFiles,
    build_run_crate,
    crate_problems,
    read_run_crate,
    run_description_dict,
)
from sciregistry.provenance.model import Agent, FileRef, ImageRef, InputRef, Parameter, RunRecord, Step
from sciregistry.provenance.schemas import load_schema, schema_names, validate
from sciregistry.provenance.validation import validate_run_crate
from sciregistry.provenance.workflow import container_image_ref, is_workflow_crate, read_workflow_crate

__all__ = [
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
