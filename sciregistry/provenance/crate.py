"""Build and read Workflow Run Crates for sciregistry runs (the only importer of ``rocrate``).

Specs implemented:

- RO-Crate 1.1 (https://w3id.org/ro/crate/1.1): built with ``ROCrate(version="1.1")``
  (ro-crate-py defaults to 1.3, which the Workflow Run Crate 0.5 profile rejects);
- Workflow Run Crate 0.5 (https://w3id.org/ro/wfrun/workflow/0.5), which extends Process Run
  Crate 0.5 (https://w3id.org/ro/wfrun/process/0.5) and Workflow RO-Crate 1.0
  (https://w3id.org/workflowhub/workflow-ro-crate/1.0);
- the workflow-run terms (https://w3id.org/ro/terms/workflow-run/context: ``ContainerImage``,
  ``containerImage``, ``registry``, ``tag``, ``sha256`` ...).

A run crate artifact has two layers: ``ro-crate-metadata.json`` (``application/ld+json``) and
``sciregistry-run.json`` (``application/vnd.sciregistry.run.v1+json``, see
``schemas/run.schema.json``). Output files are data entities with paths relative to the
result artifact, so pulling the result and its crate into one directory gives a complete,
attached RO-Crate. The graph (abridged; ``<ref>`` is ``host/repo@sha256:<hex>``)::

    ro-crate-metadata.json  CreativeWork  conformsTo RO-Crate 1.1, Workflow RO-Crate 1.0
    ./                      Dataset  conformsTo [process 0.5, workflow 0.5, WROC 1.0]
                            mainEntity -> sciregistry-run.json, mentions -> #run, license,
                            datePublished = run.ended, hasPart -> run description, datasets, outputs
    sciregistry-run.json    [File, SoftwareSourceCode, ComputationalWorkflow]  text = command template
                            programmingLanguage -> #sciregistry-run-language
                            input -> #param/<name>, #input/<name>   output -> #output/<path>
    #param/<name>           FormalParameter additionalType Text|Integer|Float|Boolean,
                            workExample -> #pv/<name>
    #pv/<name>              PropertyValue name, value, exampleOfWork -> #param/<name>
    #<ref>                  Dataset (input) identifier <ref>, hasPart -> #<ref>/<path> Files with sha256
    <path>                  File (output) sha256, contentSize, encodingFormat, exampleOfWork -> #output/<path>
    #<image ref>            ContainerImage additionalType wfrun:DockerImage, registry, name, tag,
                            sha256 (bare hex)
    #run                    CreateAction instrument -> sciregistry-run.json, containerImage -> #<image ref>,
                            object -> datasets + PropertyValues, result -> outputs (+ #<result ref>),
                            startTime, endTime, actionStatus http://schema.org/CompletedActionStatus,
                            agent -> Person (@id = ORCID URL when known; also the root's author)

The run description itself is described with its ``sha256`` and ``contentSize``, which binds
the two layers together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

from sciregistry.errors import CrateInvalid
from sciregistry.provenance import schemas
from sciregistry.provenance.model import (
    Agent,
    FileRef,
    ImageRef,
    InputRef,
    Parameter,
    ParameterType,
    RunRecord,
)
from sciregistry.provenance.workflow import is_workflow_crate, read_workflow_crate

__all__ = [
    "COMPLETED_ACTION_STATUS",
    "CRATE_METADATA_NAME",
    "DOCKER_IMAGE",
    "PROCESS_RUN_CRATE",
    "RO_CRATE_CONTEXT",
    "RUN_DESCRIPTION_MEDIA_TYPE",
    "RUN_DESCRIPTION_NAME",
    "WORKFLOW_RO_CRATE",
    "WORKFLOW_RUN_CONTEXT",
    "WORKFLOW_RUN_CRATE",
    "CrateFiles",
    "build_run_crate",
    "crate_problems",
    "parse_metadata",
    "read_run_crate",
    "run_description_dict",
    "validate_run_crate",
]

CRATE_METADATA_NAME = "ro-crate-metadata.json"
RUN_DESCRIPTION_NAME = "sciregistry-run.json"
RUN_DESCRIPTION_MEDIA_TYPE = "application/vnd.sciregistry.run.v1+json"
RUN_DESCRIPTION_VERSION = "1"
RUN_SCHEMA = "run.schema.json"

RO_CRATE_VERSION = "1.1"
RO_CRATE_PROFILE = "https://w3id.org/ro/crate/1.1"
RO_CRATE_CONTEXT = "https://w3id.org/ro/crate/1.1/context"
WORKFLOW_RUN_CONTEXT = "https://w3id.org/ro/terms/workflow-run/context"
PROCESS_RUN_CRATE = "https://w3id.org/ro/wfrun/process/0.5"
WORKFLOW_RUN_CRATE = "https://w3id.org/ro/wfrun/workflow/0.5"
WORKFLOW_RO_CRATE = "https://w3id.org/workflowhub/workflow-ro-crate/1.0"
PROFILES: tuple[tuple[str, str, str], ...] = (
    (PROCESS_RUN_CRATE, "Process Run Crate", "0.5"),
    (WORKFLOW_RUN_CRATE, "Workflow Run Crate", "0.5"),
    (WORKFLOW_RO_CRATE, "Workflow RO-Crate", "1.0"),
)
BIOSCHEMAS_WORKFLOW = "https://bioschemas.org/profiles/ComputationalWorkflow/1.0-RELEASE"
BIOSCHEMAS_PARAMETER = "https://bioschemas.org/profiles/FormalParameter/1.0-RELEASE"
DOCKER_IMAGE = "https://w3id.org/ro/terms/workflow-run#DockerImage"
COMPLETED_ACTION_STATUS = "http://schema.org/CompletedActionStatus"
RUN_SCHEMA_ID = schemas.SCHEMA_BASE_URI + RUN_SCHEMA
NO_LICENSE = "NOASSERTION"  # SPDX: no licence information asserted
SPDX_LICENSES = "https://spdx.org/licenses/"

ACTION_ID = "#run"
LANGUAGE_ID = "#sciregistry-run-language"
_ADDITIONAL_TYPE: dict[str, str] = {
    "string": "Text",
    "integer": "Integer",
    "number": "Float",
    "boolean": "Boolean",
}
_PARAMETER_TYPE: dict[str, ParameterType] = {v: k for k, v in _ADDITIONAL_TYPE.items()}  # type: ignore[misc]


@dataclass(frozen=True)
class CrateFiles:
    """The two layers of a run crate artifact, as bytes ready to push."""

    metadata: bytes
    run_description: bytes


# --------------------------------------------------------------------------- building


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _file_dict(f: FileRef) -> dict[str, Any]:
    return {"path": f.path, "sha256": f.sha256, "size": f.size, "mediaType": f.media_type}


def run_description_dict(run: RunRecord) -> dict[str, Any]:
    """The ``sciregistry-run.json`` document for ``run`` (see ``schemas/run.schema.json``)."""
    image: dict[str, Any] = {
        "registry": run.image.registry,
        "name": run.image.name,
        "digest": run.image.digest,
    }
    if run.image.tag is not None:
        image["tag"] = run.image.tag
    doc: dict[str, Any] = {
        "version": RUN_DESCRIPTION_VERSION,
        "name": run.name,
        "command": run.command,
        "parameters": [{"name": p.name, "value": p.value, "type": p.type} for p in run.parameters],
        "inputs": [
            {
                "name": i.name,
                "reference": i.reference,
                "digest": i.digest,
                "repository": i.repository,
                "mount": i.mount,
                "files": [_file_dict(f) for f in i.files],
            }
            for i in run.inputs
        ],
        "outputs": [_file_dict(o) for o in run.outputs],
        "image": image,
        "runtime": {"kind": "oci"},
    }
    for key, moment in (("started", run.started), ("ended", run.ended)):
        if moment is not None:  # not recorded: absent, never invented
            doc[key] = _iso(moment)
    if run.description:
        doc["description"] = run.description
    if run.agent is not None:
        doc["agent"] = {"name": run.agent.name} | ({"orcid": run.agent.orcid} if run.agent.orcid else {})
    if run.workflow is not None:
        doc["workflow"] = _file_dict(run.workflow)
    if run.result_reference is not None:
        doc["result"] = run.result_reference
    if run.license is not None:
        doc["license"] = run.license
    return doc


def _dumps(doc: Any) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _ref(entity_id: str) -> dict[str, str]:
    return {"@id": entity_id}


def _local_id(text: str) -> str:
    """A crate-local ``#`` identifier (RFC 3986 fragment characters kept as they are)."""
    return "#" + quote(text, safe="/:@!$&'()*+,;=-._~")


def _param_id(name: str) -> str:
    return _local_id(f"param/{name}")


def _value_id(name: str) -> str:
    return _local_id(f"pv/{name}")


def _input_param_id(name: str) -> str:
    return _local_id(f"input/{name}")


def _output_param_id(path: str) -> str:
    return _local_id(f"output/{path}")


def _image_id(image: ImageRef) -> str:
    return _local_id(image.reference)


def _file_properties(f: FileRef, **extra: Any) -> dict[str, Any]:
    return {
        "@type": "File",
        "name": f.path,
        "sha256": f.sha256,
        "contentSize": f.size,
        "encodingFormat": f.media_type,
        **extra,
    }


def build_run_crate(run: RunRecord) -> CrateFiles:
    """Build the run crate layers for ``run``.

    Deterministic: the same ``RunRecord`` always gives the same bytes (``datePublished`` is
    ``run.ended``; no clock, no random identifiers). Raises :class:`CrateInvalid` when the
    run description does not satisfy ``run.schema.json`` (for example a parameter name
    that is not an identifier).
    """
    reserved = {CRATE_METADATA_NAME, RUN_DESCRIPTION_NAME}
    taken = [o.path for o in run.outputs] + ([run.workflow.path] if run.workflow is not None else [])
    clashes = sorted(p for p in set(taken) if p in reserved or taken.count(p) > 1)
    if clashes:
        raise CrateInvalid(
            f"file path {clashes[0]!r} is used twice or clashes with a run crate layer "
            f"({CRATE_METADATA_NAME}, {RUN_DESCRIPTION_NAME})",
            detail=clashes,
        )
    description_doc = run_description_dict(run)
    problems = schemas.validate(RUN_SCHEMA, description_doc)
    if problems:
        raise CrateInvalid(
            f"{RUN_DESCRIPTION_NAME} does not satisfy {RUN_SCHEMA}: {problems[0]}", detail=problems
        )
    run_description = _dumps(description_doc)

    # Imported here: rocrate (about 11 MiB) is needed only to build a crate, which registry
    # workers never do (they read and validate crates as JSON).
    from rocrate.model import ContextEntity
    from rocrate.rocrate import ROCrate

    crate = ROCrate(version=RO_CRATE_VERSION)
    crate.metadata.extra_contexts.append(WORKFLOW_RUN_CONTEXT)
    crate.metadata["conformsTo"] = [_ref(RO_CRATE_PROFILE), _ref(WORKFLOW_RO_CRATE)]
    root = crate.root_dataset

    def add(entity_id: str, properties: dict[str, Any]) -> Any:
        return crate.add(ContextEntity(crate, entity_id, properties=properties))

    # Main workflow: the run description, whose command template is what ran.
    workflow = crate.add_file(
        source=None,
        dest_path=RUN_DESCRIPTION_NAME,
        properties={
            "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow"],
            "name": run.name,
            "text": run.command,
            "encodingFormat": RUN_DESCRIPTION_MEDIA_TYPE,
            "sha256": hashlib.sha256(run_description).hexdigest(),
            "contentSize": len(run_description),
            "conformsTo": _ref(BIOSCHEMAS_WORKFLOW),
            "programmingLanguage": _ref(LANGUAGE_ID),
            "input": [_ref(_param_id(p.name)) for p in run.parameters]
            + [_ref(_input_param_id(i.name)) for i in run.inputs],
            "output": [_ref(_output_param_id(o.path)) for o in run.outputs],
        },
    )
    add(
        LANGUAGE_ID,
        {
            "@type": "ComputerLanguage",
            "name": "sciregistry run description",
            "alternateName": "sciregistry-run",
            "identifier": _ref(RUN_SCHEMA_ID),
            "url": _ref(RUN_SCHEMA_ID),
            "version": RUN_DESCRIPTION_VERSION,
        },
    )
    if run.workflow is not None:
        script = crate.add_file(
            source=None,
            dest_path=run.workflow.path,
            properties=_file_properties(run.workflow, **{"@type": ["File", "SoftwareSourceCode"]}),
        )
        workflow["hasPart"] = [_ref(script.id)]

    # Formal parameters and their values.
    values: list[dict[str, str]] = []
    for p in run.parameters:
        add(
            _param_id(p.name),
            {
                "@type": "FormalParameter",
                "name": p.name,
                "additionalType": _ADDITIONAL_TYPE[str(p.type)],
                "conformsTo": _ref(BIOSCHEMAS_PARAMETER),
                "valueRequired": True,
                "workExample": _ref(_value_id(p.name)),
            },
        )
        add(
            _value_id(p.name),
            {
                "@type": "PropertyValue",
                "name": p.name,
                "value": p.value,
                "exampleOfWork": _ref(_param_id(p.name)),
            },
        )
        values.append(_ref(_value_id(p.name)))

    # Input datasets, by reference, with their files.
    datasets: list[dict[str, str]] = []
    for i in run.inputs:
        dataset_id = _local_id(i.reference)
        add(
            _input_param_id(i.name),
            {
                "@type": "FormalParameter",
                "name": i.name,
                "additionalType": "Dataset",
                "conformsTo": _ref(BIOSCHEMAS_PARAMETER),
                "valueRequired": True,
                "workExample": _ref(dataset_id),
            },
        )
        parts = []
        for f in i.files:
            file_id = _local_id(f"{i.reference}/{f.path}")
            add(file_id, _file_properties(f))
            parts.append(_ref(file_id))
        dataset = add(
            dataset_id,
            {
                "@type": "Dataset",
                "name": i.name,
                "identifier": i.reference,
                "exampleOfWork": _ref(_input_param_id(i.name)),
                "hasPart": parts,
            },
        )
        root.append_to("hasPart", dataset)
        datasets.append(_ref(dataset_id))

    # Outputs: files relative to the result artifact.
    results: list[dict[str, str]] = []
    for o in run.outputs:
        out = crate.add_file(
            source=None,
            dest_path=o.path,
            properties=_file_properties(o, exampleOfWork=_ref(_output_param_id(o.path))),
        )
        add(
            _output_param_id(o.path),
            {
                "@type": "FormalParameter",
                "name": o.path,
                "additionalType": "File",
                "conformsTo": _ref(BIOSCHEMAS_PARAMETER),
                "workExample": _ref(out.id),
            },
        )
        results.append(_ref(out.id))
    if run.result_reference is not None:
        result_id = _local_id(run.result_reference)
        add(
            result_id,
            {
                "@type": "Dataset",
                "name": "result",
                "identifier": run.result_reference,
                "hasPart": list(results),
            },
        )
        results.append(_ref(result_id))

    image = run.image
    image_properties: dict[str, Any] = {
        "@type": "ContainerImage",
        "additionalType": _ref(DOCKER_IMAGE),
        "registry": image.registry,
        "name": image.name,
        "sha256": image.digest.split(":", 1)[1],
    }
    if image.tag is not None:
        image_properties["tag"] = image.tag
    add(_image_id(image), image_properties)

    action: dict[str, Any] = {
        "@type": "CreateAction",
        "name": run.name,
        "instrument": _ref(workflow.id),
        "containerImage": _ref(_image_id(image)),
        "object": datasets + values,
        "result": results,
        "actionStatus": COMPLETED_ACTION_STATUS,
    }
    for prop, moment in (("startTime", run.started), ("endTime", run.ended)):
        if moment is not None:  # not recorded: absent (both are optional in the profile)
            action[prop] = _iso(moment)
    if run.description:
        action["description"] = run.description
    if run.agent is not None:
        agent_id = run.agent.orcid or _local_id(f"agent/{run.agent.name}")
        add(agent_id, {"@type": "Person", "name": run.agent.name})
        action["agent"] = _ref(agent_id)
        root["author"] = _ref(agent_id)
    add(ACTION_ID, action)

    for profile_id, profile_name, version in PROFILES:
        add(profile_id, {"@type": "CreativeWork", "name": profile_name, "version": version})
    license_value = run.license or NO_LICENSE
    if license_value.startswith(("http://", "https://")):
        add(license_value, {"@type": "CreativeWork", "name": license_value})
        root["license"] = _ref(license_value)
    elif license_value == NO_LICENSE:
        root["license"] = license_value
    else:  # an SPDX identifier: link the SPDX licence page, keep the identifier
        license_id = SPDX_LICENSES + quote(license_value)
        add(license_id, {"@type": "CreativeWork", "name": license_value, "identifier": license_value})
        root["license"] = _ref(license_id)
    root["name"] = run.name
    root["description"] = run.description or f"Run of {image.reference}"
    published = run.ended or run.recorded or run.started
    if published is None:
        raise CrateInvalid("a run without an end time needs the time it was recorded (datePublished)")
    root["datePublished"] = _iso(published)
    root["mainEntity"] = _ref(workflow.id)
    root["mentions"] = _ref(ACTION_ID)
    root["conformsTo"] = [_ref(p[0]) for p in PROFILES]

    return CrateFiles(metadata=_dumps(crate.metadata.generate()), run_description=run_description)


# --------------------------------------------------------------------------- reading

MAX_JSON_DEPTH = 64  # a run crate is about 5 levels deep; every JSON-LD walker after us recurses


def _nesting_exceeds(doc: Any, limit: int) -> bool:
    """Whether arrays and objects in ``doc`` nest deeper than ``limit`` (iterative: no recursion)."""
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _check_nesting(doc: Any, name: str) -> None:
    if _nesting_exceeds(doc, MAX_JSON_DEPTH):
        raise CrateInvalid(f"{name} nests arrays and objects deeper than {MAX_JSON_DEPTH} levels")


def parse_metadata(metadata: bytes) -> dict[str, Any]:
    """Parse ``ro-crate-metadata.json`` bytes into a dict; :class:`CrateInvalid` when it is not JSON."""
    try:
        doc = json.loads(metadata.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CrateInvalid(f"{CRATE_METADATA_NAME} is not UTF-8: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise CrateInvalid(
            f"{CRATE_METADATA_NAME} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise CrateInvalid(f"{CRATE_METADATA_NAME} nests arrays and objects too deeply") from exc
    _check_nesting(doc, CRATE_METADATA_NAME)
    if not isinstance(doc, dict):
        raise CrateInvalid(f"{CRATE_METADATA_NAME} must be a JSON object, got {type(doc).__name__}")
    return doc


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _types(entity: Mapping[str, Any]) -> set[str]:
    return {str(t) for t in _as_list(entity.get("@type"))}


def _id_of(value: Any) -> str | None:
    if isinstance(value, Mapping) and isinstance(value.get("@id"), str):
        return str(value["@id"])
    return None


class _Graph:
    """Index of a flattened JSON-LD ``@graph`` with precise lookups (RO-Crate 1.1 section "Metadata")."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        if "@context" not in doc:
            raise CrateInvalid(f"{CRATE_METADATA_NAME} has no @context")
        graph = doc.get("@graph")
        if not isinstance(graph, list):
            raise CrateInvalid(f"{CRATE_METADATA_NAME} has no @graph array")
        self.entities: dict[str, dict[str, Any]] = {}
        for n, entity in enumerate(graph):
            entity_id = entity.get("@id") if isinstance(entity, dict) else None
            if not isinstance(entity_id, str):
                raise CrateInvalid(f"@graph[{n}] has no string @id")
            if entity_id in self.entities:
                raise CrateInvalid(f"@graph lists entity {entity_id!r} more than once")
            self.entities[entity_id] = entity

    def get(self, entity_id: str, what: str, *, type_: str | None = None) -> dict[str, Any]:
        entity = self.entities.get(entity_id)
        if entity is None:
            raise CrateInvalid(f"{what} {entity_id!r} is referenced but not in @graph")
        if type_ is not None and type_ not in _types(entity):
            raise CrateInvalid(f"{what} {entity_id!r} is not a {type_} (@type {sorted(_types(entity))})")
        return entity

    def follow(
        self,
        entity: Mapping[str, Any],
        prop: str,
        what: str,
        *,
        type_: str | None = None,
        required: bool = True,
    ) -> dict[str, Any] | None:
        values = _as_list(entity.get(prop))
        if not values:
            if required:
                raise CrateInvalid(f"{what}: entity {entity.get('@id')!r} has no {prop}")
            return None
        if len(values) > 1:
            raise CrateInvalid(
                f"{what}: entity {entity.get('@id')!r} has {len(values)} values for {prop}, expected 1"
            )
        target = _id_of(values[0])
        if target is None:
            raise CrateInvalid(f"{what}: {prop} of {entity.get('@id')!r} is not a reference {{'@id': ...}}")
        return self.get(target, what, type_=type_)

    def follow_all(self, entity: Mapping[str, Any], prop: str, what: str) -> list[dict[str, Any]]:
        out = []
        for value in _as_list(entity.get(prop)):
            target = _id_of(value)
            if target is None:
                raise CrateInvalid(f"{what}: {prop} of {entity.get('@id')!r} holds a non-reference {value!r}")
            out.append(self.get(target, what))
        return out

    def root(self) -> dict[str, Any]:
        descriptor = self.entities.get(CRATE_METADATA_NAME)
        if descriptor is None:
            raise CrateInvalid(f"metadata descriptor {CRATE_METADATA_NAME!r} is not in @graph")
        root_id = _id_of(descriptor.get("about"))
        if root_id is None:
            raise CrateInvalid(
                f"metadata descriptor {CRATE_METADATA_NAME!r} has no about -> root data entity"
            )
        root = self.entities.get(root_id)
        if root is None:
            raise CrateInvalid(f"root data entity {root_id!r} is not in @graph")
        if "Dataset" not in _types(root):
            raise CrateInvalid(f"root data entity {root_id!r} is not a Dataset")
        return root

    def action(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The CreateAction whose instrument is the root's mainEntity (Workflow Run Crate 0.5), and
        that entity."""
        root = self.root()
        main = self.follow(root, "mainEntity", "main workflow", type_="ComputationalWorkflow")
        assert main is not None
        actions = [
            e
            for e in self.entities.values()
            if "CreateAction" in _types(e)
            and main["@id"] in {_id_of(v) for v in _as_list(e.get("instrument"))}
        ]
        if not actions:
            raise CrateInvalid(f"no CreateAction has the main workflow {main['@id']!r} as instrument")
        if len(actions) > 1:
            raise CrateInvalid(
                f"{len(actions)} CreateActions have the main workflow {main['@id']!r} as instrument, "
                "expected exactly 1"
            )
        return actions[0], main


def _string(entity: Mapping[str, Any], prop: str, what: str) -> str:
    value = entity.get(prop)
    if not isinstance(value, str) or not value:
        raise CrateInvalid(f"{what} {entity.get('@id')!r}: {prop} must be a non-empty string, got {value!r}")
    return value


def _datetime(entity: Mapping[str, Any], prop: str) -> datetime:
    value = _string(entity, prop, "CreateAction")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CrateInvalid(f"CreateAction {prop} {value!r} is not an ISO 8601 date-time") from exc
    if moment.tzinfo is None:
        raise CrateInvalid(f"CreateAction {prop} {value!r} has no time-zone offset")
    return moment


def _published(root: Mapping[str, Any]) -> datetime | None:
    value = root.get("datePublished")
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def _file_ref(entity: Mapping[str, Any], path: str, what: str) -> FileRef:
    sha = entity.get("sha256")
    size = entity.get("contentSize")
    if isinstance(size, str) and size.isdigit():
        size = int(size)
    media_type = entity.get("encodingFormat", "application/octet-stream")
    try:
        return FileRef(
            path=path,
            sha256=sha,  # type: ignore[arg-type]  # FileRef checks both and raises ValueError
            size=size,  # type: ignore[arg-type]
            media_type=media_type if isinstance(media_type, str) else "application/octet-stream",
        )
    except ValueError as exc:
        raise CrateInvalid(f"{what} {entity.get('@id')!r}: {exc}") from exc


def _split_reference(reference: str, what: str) -> tuple[str, str]:
    """``host/repo@sha256:...`` -> (repository, digest); the host is dropped (docker reference rules)."""
    path, sep, digest = reference.rpartition("@")
    if not sep or not path:
        raise CrateInvalid(f"{what} identifier {reference!r} is not a repo@sha256:... reference")
    first, slash, rest = path.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        path = rest
    return path, digest


def _record_from_graph(graph: _Graph) -> RunRecord:
    root = graph.root()
    action, main = graph.action()
    if _string(action, "actionStatus", "CreateAction") != COMPLETED_ACTION_STATUS:
        raise CrateInvalid(
            f"CreateAction actionStatus is {action.get('actionStatus')!r}, "
            f"expected {COMPLETED_ACTION_STATUS!r}"
        )

    image_entity = graph.follow(action, "containerImage", "container image", type_="ContainerImage")
    assert image_entity is not None
    sha = image_entity.get("sha256")
    tag = image_entity.get("tag")
    try:
        image = ImageRef(
            registry=_string(image_entity, "registry", "ContainerImage"),
            name=_string(image_entity, "name", "ContainerImage"),
            tag=tag if isinstance(tag, str) else None,
            digest=f"sha256:{sha}",
        )
    except ValueError as exc:
        raise CrateInvalid(
            f"ContainerImage {image_entity['@id']!r}: sha256 must be the bare 64-hex manifest "
            f"digest, got {sha!r}"
        ) from exc

    parameters: list[Parameter] = []
    inputs: list[InputRef] = []
    for obj in graph.follow_all(action, "object", "CreateAction object"):
        types = _types(obj)
        if "PropertyValue" in types:
            formal = graph.follow(obj, "exampleOfWork", "parameter", type_="FormalParameter")
            assert formal is not None
            additional = formal.get("additionalType")
            ptype = _PARAMETER_TYPE.get(str(additional))
            if ptype is None:
                raise CrateInvalid(
                    f"FormalParameter {formal['@id']!r}: additionalType {additional!r} is not one of "
                    f"{sorted(_PARAMETER_TYPE)}"
                )
            value = obj.get("value")
            if not isinstance(value, (str, int, float, bool)):
                raise CrateInvalid(
                    f"PropertyValue {obj['@id']!r}: value must be a string, number or boolean, got {value!r}"
                )
            try:
                parameters.append(Parameter(_string(obj, "name", "PropertyValue"), value, ptype))
            except (TypeError, ValueError) as exc:
                raise CrateInvalid(f"PropertyValue {obj['@id']!r}: {exc}") from exc
        elif "Dataset" in types:
            reference = _string(obj, "identifier", "input Dataset")
            repository, digest = _split_reference(reference, "input Dataset")
            files = [
                _file_ref(f, unquote(str(f.get("name") or f["@id"])), "input file")
                for f in graph.follow_all(obj, "hasPart", "input Dataset hasPart")
            ]
            try:
                inputs.append(
                    InputRef(_string(obj, "name", "input Dataset"), reference, digest, repository, files)
                )
            except ValueError as exc:
                raise CrateInvalid(f"input Dataset {obj['@id']!r}: {exc}") from exc
        else:
            raise CrateInvalid(f"CreateAction object {obj['@id']!r} is neither a PropertyValue nor a Dataset")

    outputs: list[FileRef] = []
    result_reference: str | None = None
    for res in graph.follow_all(action, "result", "CreateAction result"):
        types = _types(res)
        if "File" in types:
            outputs.append(_file_ref(res, unquote(res["@id"]), "output File"))
        elif "Dataset" in types and result_reference is None:
            result_reference = _string(res, "identifier", "result Dataset")
        else:
            raise CrateInvalid(f"CreateAction result {res['@id']!r} is neither a File nor the result Dataset")

    agent: Agent | None = None
    person = graph.follow(action, "agent", "agent", type_="Person", required=False)
    if person is not None:
        orcid = person["@id"] if person["@id"].startswith("https://orcid.org/") else None
        agent = Agent(_string(person, "name", "Person"), orcid)

    workflow: FileRef | None = None
    parts = graph.follow_all(main, "hasPart", "main workflow hasPart")
    if parts:
        workflow = _file_ref(parts[0], unquote(parts[0]["@id"]), "workflow file")

    license_value = root.get("license")
    license_id = _id_of(license_value)
    license_text = license_value
    if license_id is not None:
        license_entity = graph.entities.get(license_id, {})
        identifier = license_entity.get("identifier")
        license_text = identifier if isinstance(identifier, str) else license_id
    description = action.get("description", "")

    try:
        return RunRecord(
            name=_string(action, "name", "CreateAction"),
            image=image,
            command=_string(main, "text", "main workflow"),
            parameters=parameters,
            inputs=inputs,
            outputs=outputs,
            started=_datetime(action, "startTime") if "startTime" in action else None,
            ended=_datetime(action, "endTime") if "endTime" in action else None,
            recorded=_published(root),
            agent=agent,
            workflow=workflow,
            description=description if isinstance(description, str) else "",
            result_reference=result_reference,
            license=None if license_text in (None, NO_LICENSE) else str(license_text),
        )
    except ValueError as exc:
        raise CrateInvalid(f"run crate describes an impossible run: {exc}") from exc


def _parse_run_description(run_description: bytes) -> Any:
    try:
        doc = json.loads(run_description.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CrateInvalid(f"{RUN_DESCRIPTION_NAME} is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise CrateInvalid(f"{RUN_DESCRIPTION_NAME} nests arrays and objects too deeply") from exc
    _check_nesting(doc, RUN_DESCRIPTION_NAME)
    return doc


def _consistency(
    run: RunRecord, description: Mapping[str, Any], run_description: bytes, graph: _Graph
) -> list[str]:
    """Differences between the crate (as ``run``) and ``sciregistry-run.json``."""
    problems: list[str] = []
    expected = run_description_dict(run)

    def compare(key: str, label: str) -> None:
        if description.get(key) != expected.get(key):
            problems.append(
                f"{label} differ between {CRATE_METADATA_NAME} ({expected.get(key)!r}) and "
                f"{RUN_DESCRIPTION_NAME} ({description.get(key)!r})"
            )

    if description.get("image", {}).get("digest") != run.image.digest:
        problems.append(
            f"image digest differs: {CRATE_METADATA_NAME} has {run.image.digest} (sha256 of "
            f"ContainerImage), {RUN_DESCRIPTION_NAME} has {description.get('image', {}).get('digest')!r}"
        )
    else:
        compare("image", "image")
    crate_params = {p["name"]: p for p in expected["parameters"]}
    file_params = {p.get("name"): p for p in description.get("parameters", []) if isinstance(p, Mapping)}
    for name in sorted(set(crate_params) | set(file_params), key=str):
        if crate_params.get(name) != file_params.get(name):
            crate_p, file_p = crate_params.get(name), file_params.get(name)
            crate_text = (
                "no such parameter"
                if crate_p is None
                else repr(crate_p["value"]) + " (" + crate_p["type"] + ")"
            )
            file_text = (
                "no such parameter"
                if file_p is None
                else repr(file_p.get("value")) + " (" + str(file_p.get("type")) + ")"
            )
            problems.append(
                f"parameter {name!r} differs: {CRATE_METADATA_NAME} has {crate_text}, "
                f"{RUN_DESCRIPTION_NAME} has {file_text}"
            )
    crate_out = {o["path"]: o for o in expected["outputs"]}
    file_out = {o.get("path"): o for o in description.get("outputs", []) if isinstance(o, Mapping)}
    for path in sorted(set(crate_out) | set(file_out), key=str):
        a, b = crate_out.get(path), file_out.get(path)
        if a is None or b is None or (a["sha256"], a["size"]) != (b.get("sha256"), b.get("size")):
            problems.append(
                f"output {path!r} differs: {CRATE_METADATA_NAME} has "
                f"{'nothing' if a is None else a['sha256'] + ' / ' + str(a['size']) + ' bytes'}, "
                f"{RUN_DESCRIPTION_NAME} has "
                f"{'nothing' if b is None else str(b.get('sha256')) + ' / ' + str(b.get('size')) + ' bytes'}"
            )
    compare("command", "command")
    for key, label, moment in (("started", "start time", run.started), ("ended", "end time", run.ended)):
        recorded = description.get(key)
        try:
            same = (
                recorded is None
                if moment is None
                else recorded is not None and datetime.fromisoformat(str(recorded)) == moment
            )
        except ValueError:
            same = False
        if not same:
            problems.append(
                f"{label} differs: {CRATE_METADATA_NAME} has "
                f"{'none' if moment is None else _iso(moment)}, {RUN_DESCRIPTION_NAME} has {recorded!r}"
            )
    crate_inputs = [(i["name"], i["reference"], i["digest"]) for i in expected["inputs"]]
    file_inputs = [
        (i.get("name"), i.get("reference"), i.get("digest"))
        for i in description.get("inputs", [])
        if isinstance(i, Mapping)
    ]
    if crate_inputs != file_inputs:
        problems.append(
            f"inputs differ: {CRATE_METADATA_NAME} has {crate_inputs}, {RUN_DESCRIPTION_NAME} has "
            f"{file_inputs}"
        )
    for i in description.get("inputs", []):
        if isinstance(i, Mapping) and i.get("mount") != f"/in/{i.get('name')}/":
            problems.append(f"input {i.get('name')!r}: mount {i.get('mount')!r} must be /in/{i.get('name')}/")

    entity = graph.entities.get(RUN_DESCRIPTION_NAME)
    if entity is None:
        problems.append(f"{RUN_DESCRIPTION_NAME} is not described in {CRATE_METADATA_NAME}")
    else:
        digest = hashlib.sha256(run_description).hexdigest()
        if entity.get("sha256") not in (None, digest):
            problems.append(
                f"{RUN_DESCRIPTION_NAME}: sha256 in {CRATE_METADATA_NAME} is {entity.get('sha256')!r}, "
                f"the file's is {digest}"
            )
    return problems


def crate_problems(
    metadata: bytes, run_description: bytes | None = None
) -> tuple[RunRecord | None, list[str]]:
    """Structural checks shared by :func:`read_run_crate` and ``validate_run_crate``.

    Returns the run read from the crate (``None`` when it cannot be read) and every problem
    found: unreadable crate, an engine's workflow crate that the registry cannot admit
    (:func:`sciregistry.provenance.workflow.read_workflow_crate`), ``sciregistry-run.json`` against
    ``run.schema.json``, and disagreement between the two layers.
    """
    problems: list[str] = []
    run: RunRecord | None = None
    graph: _Graph | None = None
    try:
        doc = parse_metadata(metadata)
        graph = _Graph(doc)
        if is_workflow_crate(doc, RUN_DESCRIPTION_NAME):  # an engine's crate: steps, no run description
            run, workflow_problems, _notes = read_workflow_crate(doc)
            problems += workflow_problems
            if run_description is not None:
                problems.append(
                    f"a workflow crate has no {RUN_DESCRIPTION_NAME} layer (its main entity is the "
                    "workflow definition)"
                )
            return run, problems
        run = _record_from_graph(graph)
    except CrateInvalid as exc:
        problems.append(exc.text)
    if run_description is not None:
        try:
            description = _parse_run_description(run_description)
        except CrateInvalid as exc:
            problems.append(exc.text)
            return run, problems
        schema_problems = schemas.validate(RUN_SCHEMA, description)
        problems.extend(f"{RUN_DESCRIPTION_NAME}: {p}" for p in schema_problems)
        if run is not None and graph is not None and isinstance(description, Mapping):
            problems.extend(_consistency(run, description, run_description, graph))
    return run, problems


def read_run_crate(metadata: bytes, run_description: bytes | None = None) -> RunRecord:
    """Read a run crate back into a :class:`RunRecord` (a walk of the JSON-LD ``@graph``).

    When ``run_description`` is given it must satisfy ``run.schema.json`` and agree with the
    crate (image digest, parameters, inputs, outputs, command, times). Raises
    :class:`CrateInvalid` naming the first problem (all of them in ``detail``).
    """
    run, problems = crate_problems(metadata, run_description)
    if problems:
        raise CrateInvalid(problems[0], detail=problems)
    assert run is not None
    return run


def validate_run_crate(metadata: bytes, run_description: bytes | None = None) -> list[str]:
    """Every problem with a run crate, empty when valid (see :mod:`sciregistry.provenance.validation`)."""
    from sciregistry.provenance.validation import validate_run_crate as _validate

    return _validate(metadata, run_description)
