"""Import a Workflow Run Crate written by a workflow engine: complete it, check it, push it.

``sciregistry run import CRATE_DIR --to HOST/REPO:TAG`` takes the directory an engine wrote
(``runcrate convert`` after ``cwltool --provenance``, Nextflow's nf-prov, Snakemake) and:

1. completes what the importer knows, in a copy of ``ro-crate-metadata.json`` (the directory
   is never modified): ``sha256`` and ``contentSize`` of every file in the directory; the root's
   ``name``, ``description``, ``license``, ``datePublished`` and author from the flags; the
   RO-Crate 1.1 context and descriptor (roc-validator's Workflow Run Crate 0.5 profile rejects
   1.3, which ro-crate-py writes by default) and the workflow-run terms' context (nf-prov uses
   ``containerImage``/``sha256`` without it); the Process/Workflow/Provenance Run Crate 0.5
   profiles; step images named by tag (or only by name) resolved to the digest the registry
   holds now, with a warning; images given with ``--image [STEP=]REF`` for steps that name none;
2. reads it as the registry will (:func:`sciregistry.provenance.read_workflow_crate`) and stops
   before pushing anything when the registry could not admit it;
3. pushes the workflow's output files as the result artifact (layer titles = their paths in
   the crate) and the crate — its metadata, the workflow definition, the input files and every
   other file of the directory the crate describes — as the result's referrer. Pulling the
   result and its crate into one directory gives back the complete crate.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sciregistry.client.oci import OciClient, file_digest
from sciregistry.errors import CrateInvalid

__all__ = ["ImportPlan", "complete_crate", "import_crate"]

RO_CRATE_11 = "https://w3id.org/ro/crate/1.1"
RO_CRATE_11_CONTEXT = "https://w3id.org/ro/crate/1.1/context"
WORKFLOW_RUN_CONTEXT = "https://w3id.org/ro/terms/workflow-run/context"
WORKFLOW_RO_CRATE = "https://w3id.org/workflowhub/workflow-ro-crate/1.0"
WFRUN = "https://w3id.org/ro/wfrun/"
PROFILES = {
    "process": "Process Run Crate",
    "workflow": "Workflow Run Crate",
    "provenance": "Provenance Run Crate",
}
PROFILE_VERSION = "0.5"
DOCKER_IMAGE = "https://w3id.org/ro/terms/workflow-run#DockerImage"
METADATA = "ro-crate-metadata.json"


@dataclass
class ImportPlan:
    """A completed crate ready to push: its metadata bytes, the files of the result and of the crate."""

    metadata: bytes
    outputs: list[tuple[Path, str]]  # (file, title in the result)
    crate_files: list[tuple[Path, str]]  # (file, title in the crate artifact)
    warnings: list[str] = field(default_factory=list)
    run: Any = None  # sciregistry.provenance.RunRecord


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _id(value: Any) -> str | None:
    return value.get("@id") if isinstance(value, dict) and isinstance(value.get("@id"), str) else None


def _types(entity: Mapping[str, Any]) -> set[str]:
    return {t for t in _as_list(entity.get("@type")) if isinstance(t, str)}


def _local(crate_dir: Path, ident: str) -> Path | None:
    """The file an entity id names inside the crate directory, or None (URLs, #ids, outside paths)."""
    if not ident or "://" in ident or ident.startswith(("#", "/", "file:")):
        return None
    rel = unquote(ident)
    rel = rel.removeprefix("./")
    if not rel or ".." in rel.split("/"):
        return None
    path = crate_dir / rel
    return path if path.is_file() else None


def complete_crate(
    crate_dir: str | os.PathLike[str],
    *,
    name: str | None = None,
    description: str | None = None,
    license: str | None = None,
    agent: str | None = None,
    orcid: str | None = None,
    images: Mapping[str, str] | None = None,
    resolve: Callable[[str, str, str], str] | None = None,
) -> ImportPlan:
    """Complete the crate in ``crate_dir`` (see the module doc) and check it; CrateInvalid lists what
    blocks it.

    ``images`` maps a step name (or ``""`` for every step naming none) to ``HOST/REPO@sha256:...``
    or ``HOST/REPO:TAG``; ``resolve(registry, repository, tag)`` returns the digest a tag points to.
    """
    from sciregistry.client.artifacts import guess_media_type
    from sciregistry.provenance import container_image_ref, read_workflow_crate
    from sciregistry.provenance.workflow import WorkflowCrate

    root_dir = Path(crate_dir)
    meta_path = root_dir / METADATA
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"{meta_path} not found: CRATE_DIR must hold an engine's ro-crate-metadata.json"
        )
    try:
        doc = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CrateInvalid(f"{meta_path} is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("@graph"), list):
        raise CrateInvalid(f"{meta_path} has no @graph: not an RO-Crate")
    warnings: list[str] = []

    # Context and descriptor: RO-Crate 1.1 (what the Workflow Run Crate 0.5 profile is built on).
    contexts = _as_list(doc.get("@context"))
    fixed = []
    for c in contexts:
        if isinstance(c, str) and c.startswith("https://w3id.org/ro/crate/") and c != RO_CRATE_11_CONTEXT:
            warnings.append(
                f"@context {c} replaced by {RO_CRATE_11_CONTEXT} (Workflow Run Crate 0.5 is RO-Crate 1.1)"
            )
            c = RO_CRATE_11_CONTEXT
        if c not in fixed:
            fixed.append(c)
    if RO_CRATE_11_CONTEXT not in fixed:
        fixed.insert(0, RO_CRATE_11_CONTEXT)
    if not {WORKFLOW_RUN_CONTEXT, WORKFLOW_RUN_CONTEXT.removesuffix("/context")} & {
        c for c in fixed if isinstance(c, str)
    }:
        fixed.append(WORKFLOW_RUN_CONTEXT)  # defines containerImage, sha256, registry ... (nf-prov omits it)
    doc["@context"] = fixed
    graph: list[dict[str, Any]] = [e for e in doc["@graph"] if isinstance(e, dict)]
    doc["@graph"] = graph
    entities = {e.get("@id"): e for e in graph}

    def add(entity: dict[str, Any]) -> None:
        if entity["@id"] not in entities:
            graph.append(entity)
            entities[entity["@id"]] = entity

    descriptor = entities.get(METADATA)
    if descriptor is None:
        raise CrateInvalid(f"{METADATA} has no metadata descriptor entity")
    descriptor["conformsTo"] = [{"@id": RO_CRATE_11}, {"@id": WORKFLOW_RO_CRATE}]
    crate = WorkflowCrate(doc)
    root = crate.root

    # Checksums of every file in the directory the crate describes.
    for entity in graph:
        path = _local(root_dir, str(entity.get("@id", "")))
        if path is None or "File" not in _types(entity):
            continue
        digest, size = file_digest(path)
        entity["sha256"] = digest.split(":", 1)[1]
        entity["contentSize"] = size
        if not isinstance(entity.get("encodingFormat"), str):
            entity["encodingFormat"] = guess_media_type(path.name)

    # Root entity: name, description, licence, date, author.
    main = crate.main
    if name:
        root["name"] = name
    elif not root.get("name"):
        root["name"] = f"Run of {main.get('name') or main['@id']}"
        warnings.append(f"root name was missing: set to {root['name']!r} (use --name)")
    if description:
        root["description"] = description
    elif not root.get("description"):
        root["description"] = str(root["name"])
        warnings.append("root description was missing: set to the name (use --description)")
    if license:
        root["license"] = license if "://" not in license else {"@id": license}
        if "://" in license:
            add({"@id": license, "@type": "CreativeWork", "name": license})
    elif not root.get("license"):
        root["license"] = "NOASSERTION"
        warnings.append("no licence given: recorded as NOASSERTION (use --license)")
    action = crate.workflow_action()
    if not root.get("datePublished"):
        root["datePublished"] = str(action.get("endTime") or datetime.now(UTC).isoformat())
    if agent:
        person_id = orcid or f"#agent-{agent.replace(' ', '-')}"
        add({"@id": person_id, "@type": "Person", "name": agent})
        root["author"] = {"@id": person_id}
        if not action.get("agent"):
            action["agent"] = {"@id": person_id}
    elif orcid:
        raise ValueError("an ORCID needs an agent name (--agent)")

    # Profiles: Process/Workflow(/Provenance) Run Crate 0.5 and Workflow RO-Crate 1.0.
    steps = crate.step_actions()
    kinds = ["process", "workflow"] + (["provenance"] if steps else [])
    conforms = [c for c in _as_list(root.get("conformsTo")) if not str(_id(c) or "").startswith(WFRUN)]
    for kind in kinds:
        pid = f"{WFRUN}{kind}/{PROFILE_VERSION}"
        conforms.append({"@id": pid})
        add({"@id": pid, "@type": "CreativeWork", "name": PROFILES[kind], "version": PROFILE_VERSION})
    if WORKFLOW_RO_CRATE not in {_id(c) for c in conforms}:
        conforms.append({"@id": WORKFLOW_RO_CRATE})
        add(
            {"@id": WORKFLOW_RO_CRATE, "@type": "CreativeWork", "name": "Workflow RO-Crate", "version": "1.0"}
        )
    root["conformsTo"] = conforms

    # Container images: name them where missing (--image), pin tags to digests.
    targets = [(n, a) for n, _, a in steps] or [(str(action.get("name") or main["@id"]), action)]
    given = dict(images or {})
    for n, (step_name, step_action) in enumerate(targets):
        values = _as_list(step_action.get("containerImage"))
        if not values:
            ref = given.get(step_name, given.get(""))
            if ref is None:
                continue  # read_workflow_crate names the step
            values = [ref]
            warnings.append(f"step {step_name!r}: container image {ref} given on the command line")
        new_values = []
        for m, value in enumerate(values):
            named = crate.get(value) if isinstance(value, dict) else None
            registry, repo, tag, image_digest = container_image_ref(
                named if named is not None else str(value)
            )
            if image_digest is None and resolve is not None and repo:
                image_digest = resolve(registry, repo, tag or "latest")
                warnings.append(
                    f"step {step_name!r}: image {registry}/{repo}:{tag or 'latest'} named by tag; "
                    f"recorded as {image_digest}, the digest the registry holds now"
                )
            image_id = named["@id"] if named is not None else f"#image-{n}-{m}"
            image: dict[str, Any] = named if named is not None else {"@id": image_id}
            image.update(
                {
                    "@type": "ContainerImage",
                    "additionalType": {"@id": DOCKER_IMAGE},
                    "registry": registry,
                    "name": repo,
                }
            )
            if tag:
                image["tag"] = tag
            if image_digest:
                image["sha256"] = image_digest.split(":", 1)[1]
            add(image)
            new_values.append({"@id": image_id})
        step_action["containerImage"] = new_values[0] if len(new_values) == 1 else new_values

    metadata = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    run, problems, notes = read_workflow_crate(json.loads(metadata))
    warnings += notes
    if problems:
        raise CrateInvalid(
            f"the registry cannot admit this crate: {problems[0]}", detail={"problems": problems}
        )
    assert run is not None

    outputs = {o.path for o in run.outputs}
    result_files = [(root_dir / o.path, o.path) for o in run.outputs]
    crate_files: list[tuple[Path, str]] = []
    for entity in graph:
        ident = str(entity.get("@id", ""))
        path = _local(root_dir, ident)
        if path is None or ident == METADATA:
            continue
        title = unquote(ident)
        title = title.removeprefix("./")
        if title not in outputs and title not in {t for _, t in crate_files}:
            crate_files.append((path, title))
    return ImportPlan(metadata, result_files, sorted(crate_files, key=lambda f: f[1]), warnings, run)


def import_crate(
    oci: OciClient,
    crate_dir: str | os.PathLike[str],
    to_ref: Any,
    *,
    name: str | None = None,
    description: str | None = None,
    license: str | None = None,
    agent: str | None = None,
    orcid: str | None = None,
    images: Mapping[str, str] | None = None,
    progress: Any = None,
) -> tuple[str, str, ImportPlan]:
    """Complete, check and push a workflow crate; return ``(result digest, crate digest, plan)``."""
    from sciregistry.client.artifacts import (
        LocalFile,
        _push_files_artifact,
        _reference,
        _rfc3339,
        guess_media_type,
    )
    from sciregistry.oci import OCI_MANIFEST, Descriptor, ImageReference
    from sciregistry.oci import artifacts as types

    target = _reference(oci, to_ref)

    def resolve(registry: str, repository: str, tag: str) -> str:
        if registry != target.registry:
            raise CrateInvalid(
                f"image {registry}/{repository}:{tag} is on {registry}, not on {target.registry}: "
                "push it to this registry and name it by digest"
            )
        return oci.resolve(repository, tag)

    plan = complete_crate(
        crate_dir,
        name=name,
        description=description,
        license=license,
        agent=agent,
        orcid=orcid,
        images=images,
        resolve=resolve,
    )
    created = {types.CREATED: _rfc3339(plan.run.ended)}
    result_files = [LocalFile(p, t, guess_media_type(p.name)) for p, t in plan.outputs]
    hashed = {f.path: file_digest(f.path)[0] for f in result_files}
    result_digest, data, _ = _push_files_artifact(
        oci, target, result_files, types.RESULT, created, progress=progress, digests=hashed
    )
    subject = Descriptor(OCI_MANIFEST, result_digest, len(data))
    crate_files = [LocalFile(p, t, guess_media_type(p.name)) for p, t in plan.crate_files]
    crate_digest, _, _ = _push_files_artifact(
        oci,
        ImageReference(target.registry, target.repository),
        crate_files,
        types.ROCRATE,
        created,
        subject=subject,
        blobs=[(plan.metadata, types.CRATE_METADATA_MEDIA_TYPE, types.CRATE_METADATA_NAME)],
        progress=progress,
    )
    return result_digest, crate_digest, plan
