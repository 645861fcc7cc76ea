"""Read Workflow Run Crates written by workflow engines into a :class:`RunRecord` with steps.

Engines describe a run with the Workflow Run RO-Crate profiles (https://w3id.org/ro/wfrun/):

- *Process Run Crate*: one ``CreateAction`` whose ``instrument`` is the software that ran;
- *Workflow Run Crate*: the root's ``mainEntity`` is a ``ComputationalWorkflow`` (``packed.cwl``,
  ``main.nf``, ``Snakefile``) and one ``CreateAction`` has it as ``instrument``;
- *Provenance Run Crate*: also one ``CreateAction`` per step execution, each gathered by a
  ``ControlAction`` whose ``instrument`` is a ``HowToStep`` of the workflow (``position``), each
  with its own ``containerImage``.

Shapes met in the wild, all read here (abridged)::

    runcrate (cwltool --provenance, then runcrate convert):
      #<uuid> CreateAction  instrument packed.cwl#gc.cwl  containerImage -> #<uuid> ContainerImage
              {registry, name, sha256 | tag}   object/result -> <sha1> File {sha1, alternateName,
              contentSize "123"} and #pv-<step>/<param> PropertyValue  startTime/endTime (no zone)
    nf-prov (Nextflow):  task CreateActions (instrument the module SoftwareApplication), no
              containerImage, files without checksums, a "publish" CreateAction per published file
    Snakemake (process/workflow profile): one CreateAction for the whole run, no steps

The registry needs, to keep its promise (every result linked to the exact image digest and
parameters of every step), exactly this: one workflow ``CreateAction``; for every step (or,
without steps, for the workflow action itself) one container image pinned by a sha256 manifest
digest; outputs and input files with their sha256. Whatever else is missing is not refused
here: :func:`read_workflow_crate` returns it as notes. ``sciregistry run import`` completes what
it can from the crate directory (checksums, root name and licence, images named by tag) before
pushing; see :mod:`sciregistry.client.workflows`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from sciregistry.errors import CrateInvalid
from sciregistry.provenance.model import Agent, FileRef, ImageRef, InputRef, Parameter, RunRecord, Step

__all__ = [
    "FAILED_ACTION_STATUS",
    "MAX_STEPS",
    "WorkflowCrate",
    "container_image_ref",
    "file_path",
    "is_workflow_crate",
    "read_workflow_crate",
]

FAILED_ACTION_STATUS = "http://schema.org/FailedActionStatus"
MAX_STEPS = 10_000
"""Step executions one crate may describe (an nf-core pipeline runs hundreds to a few thousand tasks);
admission and indexing stay bounded by it, with the 16 MiB bound on the metadata layer."""
_LANGUAGES = ("cwl", "nextflow", "snakemake", "galaxy", "wdl", "compss", "knime", "autosubmit")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_HEX = re.compile(r"^[a-f0-9]{64}$")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _id_of(value: Any) -> str | None:
    if isinstance(value, Mapping):
        ident = value.get("@id")
        return ident if isinstance(ident, str) else None
    return None


def _types(entity: Mapping[str, Any]) -> set[str]:
    return {t for t in _as_list(entity.get("@type")) if isinstance(t, str)}


def _status(entity: Mapping[str, Any]) -> str | None:
    value = entity.get("actionStatus")
    return _id_of(value) or (value if isinstance(value, str) else None)


def file_path(entity: Mapping[str, Any]) -> str:
    """The path of a data entity inside the crate (its ``@id``, percent-decoded, without ``./``)."""
    ident = unquote(str(entity["@id"]))
    return ident.removeprefix("./")


def container_image_ref(entity: Mapping[str, Any] | str) -> tuple[str, str, str | None, str | None]:
    """``(registry, name, tag, digest)`` of a ``containerImage`` (a ContainerImage entity or a string).

    Repairs runcrate's reading of ``host:port/repo`` (it calls every two-part name a Docker Hub
    repository) and WfExS's ``docker://`` ids; ``digest`` is ``sha256:<hex>`` or ``None``.
    """
    if isinstance(entity, str):
        text = entity.split("://", 1)[1] if "://" in entity else entity
        path, at, ref_digest = text.partition("@")
        tag: str | None = None
        last = path.rsplit("/", 1)[-1]
        if ":" in last:
            path, tag = path.rsplit(":", 1)
        first, slash, rest = path.partition("/")
        if slash and ("." in first or ":" in first or first == "localhost"):
            registry, name = first, rest
        else:
            registry, name = "docker.io", path
        return registry, name, tag, (ref_digest if at else None)
    registry = str(entity.get("registry") or "docker.io")
    name = str(entity.get("name") or "")
    first, slash, rest = name.partition("/")
    if registry == "docker.io" and slash and ("." in first or ":" in first or first == "localhost"):
        registry, name = first, rest
    tag = entity.get("tag") if isinstance(entity.get("tag"), str) else None
    sha = entity.get("sha256")
    digest = f"sha256:{sha}" if isinstance(sha, str) and sha else None
    if digest is None:
        version = entity.get("softwareVersion")  # WfExS: "repo@sha256:..."
        if isinstance(version, str) and "@sha256:" in version:
            digest = "sha256:" + version.rsplit("@sha256:", 1)[1]
    return registry, name, tag, digest


class WorkflowCrate:
    """The JSON-LD graph of an engine's crate, with the few walks the reader needs."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        graph = doc.get("@graph")
        if not isinstance(graph, list):
            raise CrateInvalid("ro-crate-metadata.json has no @graph array")
        self.entities: dict[str, dict[str, Any]] = {}
        for e in graph:
            if isinstance(e, dict) and isinstance(e.get("@id"), str):
                self.entities[e["@id"]] = e
        descriptor = self.entities.get("ro-crate-metadata.json")
        root_id = _id_of(descriptor.get("about")) if descriptor else None
        root = self.entities.get(root_id or "./")
        if root is None:
            raise CrateInvalid("the crate has no root data entity './'")
        self.root = root
        main_id = _id_of(root.get("mainEntity"))
        if main_id is None or main_id not in self.entities:
            raise CrateInvalid(
                "the root data entity has no mainEntity: a workflow crate names its workflow there"
            )
        self.main = self.entities[main_id]

    def get(self, value: Any) -> dict[str, Any] | None:
        ident = _id_of(value) or (value if isinstance(value, str) else None)
        return self.entities.get(ident) if ident else None

    def all(self, entity: Mapping[str, Any], prop: str) -> list[dict[str, Any]]:
        return [e for e in (self.get(v) for v in _as_list(entity.get(prop))) if e is not None]

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.entities.values() if type_ in _types(e)]

    def workflow_action(self) -> dict[str, Any]:
        actions = [
            a
            for a in self.of_type("CreateAction")
            if self.main["@id"] in {_id_of(v) for v in _as_list(a.get("instrument"))}
        ]
        if not actions:
            raise CrateInvalid(f"no CreateAction has the workflow {self.main['@id']!r} as instrument")
        if len(actions) > 1:
            raise CrateInvalid(
                f"{len(actions)} CreateActions have the workflow {self.main['@id']!r} as instrument; "
                "a result comes from exactly one workflow run"
            )
        return actions[0]

    def step_actions(self) -> list[tuple[str, int, dict[str, Any]]]:
        """``(step name, position, CreateAction)`` for every step execution, in run order."""
        found: list[tuple[str, int, str, int, dict[str, Any]]] = []
        seen: set[str] = set()
        for order, control in enumerate(self.of_type("ControlAction")):
            how = self.get(control.get("instrument")) or {}
            step_id = str(how.get("@id") or control.get("name") or f"step {order}")
            base = unquote(step_id.rsplit("#", 1)[-1]) if "#" in step_id else unquote(step_id)
            try:
                position = int(how.get("position", order))
            except (TypeError, ValueError):
                position = order
            actions = [a for a in self.all(control, "object") if "CreateAction" in _types(a)]
            for a in actions:
                if a["@id"] in seen:
                    continue
                seen.add(a["@id"])
                name = base if len(actions) == 1 else str(a.get("name") or f"{base} {a['@id']}")
                found.append((name, position, str(a.get("startTime") or ""), len(found), a))
        found.sort(key=lambda f: (f[1], f[2], f[3]))
        return [(name, position, action) for name, position, _, _, action in found]


def is_workflow_crate(doc: Mapping[str, Any], run_description_name: str) -> bool:
    """True when the crate's main entity is not sciregistry's own run description."""
    graph = doc.get("@graph")
    if not isinstance(graph, list):
        return False
    for e in graph:
        if isinstance(e, dict) and e.get("@id") == "./":
            return _id_of(e.get("mainEntity")) not in (None, run_description_name)
    return False


def _moment(value: Any, what: str, notes: list[str]) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CrateInvalid(f"{what} {value!r} is not an ISO 8601 date-time") from exc
    if moment.tzinfo is None:
        notes.append(f"{what} {value!r} has no time zone: read as UTC")
        moment = moment.replace(tzinfo=UTC)
    return moment


def _file(entity: Mapping[str, Any]) -> FileRef | None:
    sha = entity.get("sha256")
    size = entity.get("contentSize")
    if isinstance(size, str) and size.isdigit():
        size = int(size)
    if not isinstance(sha, str) or not _HEX.match(sha) or not isinstance(size, int) or isinstance(size, bool):
        return None
    media_type = entity.get("encodingFormat")
    try:
        return FileRef(
            file_path(entity),
            sha,
            size,
            media_type if isinstance(media_type, str) and "/" in media_type else "application/octet-stream",
        )
    except ValueError:
        return None


def _files(crate: WorkflowCrate, entity: dict[str, Any], depth: int = 0) -> list[dict[str, Any]]:
    """The File entities an object/result value stands for (directories and collections flattened)."""
    types = _types(entity)
    if "File" in types:
        return [entity]
    if depth > 8:
        return []
    if "Dataset" in types or "Collection" in types:
        out: list[dict[str, Any]] = []
        for part in crate.all(entity, "hasPart"):
            out += _files(crate, part, depth + 1)
        return out
    return []


def _parameter(entity: Mapping[str, Any], notes: list[str]) -> Parameter | None:
    name = entity.get("name")
    if not isinstance(name, str) or not name:
        name = unquote(str(entity["@id"])).lstrip("#").removeprefix("pv-")
    value = entity.get("value")
    if isinstance(value, (list, dict)):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False)
    if value is None:
        notes.append(f"parameter {name!r} has no value: not recorded")
        return None
    if not isinstance(value, (str, int, float, bool)):
        value = str(value)
    return Parameter(name, value)


def _language(main: Mapping[str, Any], crate: WorkflowCrate) -> str | None:
    lang = crate.get(main.get("programmingLanguage")) or {}
    text = " ".join(
        str(x) for x in (lang.get("@id"), lang.get("name"), lang.get("alternateName")) if x
    ).lower()
    for known in _LANGUAGES:
        if known in text or (known == "cwl" and "common workflow language" in text):
            return known
    return str(lang.get("name")).lower() if lang.get("name") else None


def _step(
    crate: WorkflowCrate,
    name: str,
    position: int,
    action: dict[str, Any],
    problems: list[str],
    notes: list[str],
) -> Step | None:
    if _status(action) == FAILED_ACTION_STATUS:
        problems.append(
            f"step {name!r} failed (actionStatus {FAILED_ACTION_STATUS}): a result needs every step "
            "to have completed"
        )
    images: list[tuple[str, str, str | None, str | None]] = []
    for value in _as_list(action.get("containerImage")):
        entity = crate.get(value)
        if entity is not None:
            images.append(container_image_ref(entity))
        elif isinstance(value, str):
            images.append(container_image_ref(value))
    images = list(dict.fromkeys(images))
    if not images:
        problems.append(
            f"step {name!r} names no containerImage: the registry links every step to the image "
            "digest it ran in (give it with run import --image)"
        )
        return None
    if len(images) > 1:
        problems.append(f"step {name!r} names {len(images)} container images; a step runs in exactly one")
        return None
    registry, repo, tag, digest = images[0]
    if digest is None or not _DIGEST.match(digest):
        where = f"{registry}/{repo}" + (f":{tag}" if tag else "")
        problems.append(
            f"step {name!r}: container image {where} is not pinned by a sha256 digest "
            "(run import resolves tags to digests)"
        )
        return None
    parameters: list[Parameter] = []
    inputs: list[FileRef] = []
    for obj in crate.all(action, "object"):
        if "PropertyValue" in _types(obj):
            p = _parameter(obj, notes)
            if p is not None and p.name not in {q.name for q in parameters}:
                parameters.append(p)
        for f in _files(crate, obj):
            ref = _file(f)
            if ref is not None and ref not in inputs:
                inputs.append(ref)
    outputs: list[FileRef] = []
    for res in crate.all(action, "result"):
        for f in _files(crate, res):
            ref = _file(f)
            if ref is not None and ref not in outputs:
                outputs.append(ref)
    instrument = _id_of(action.get("instrument")) or ""
    try:
        return Step(
            name=name,
            image=ImageRef(registry, repo, tag, digest),
            command=unquote(instrument),
            parameters=parameters,
            inputs=inputs,
            outputs=outputs,
            started=_moment(action.get("startTime"), f"step {name!r} startTime", notes),
            ended=_moment(action.get("endTime"), f"step {name!r} endTime", notes),
            position=position,
        )
    except ValueError as exc:
        problems.append(f"step {name!r}: {exc}")
        return None


def read_workflow_crate(doc: Mapping[str, Any]) -> tuple[RunRecord | None, list[str], list[str]]:
    """Read an engine's crate: ``(run or None, problems, notes)``.

    ``problems`` are what the registry cannot admit (the run is ``None`` when there is any);
    ``notes`` are gaps it admits and reports (times without zone, files without checksum ...).
    """
    problems: list[str] = []
    notes: list[str] = []
    try:
        crate = WorkflowCrate(doc)
        action = crate.workflow_action()
    except CrateInvalid as exc:
        return None, [exc.text], notes
    main, root = crate.main, crate.root
    if _status(action) == FAILED_ACTION_STATUS:
        problems.append(f"the workflow run {action['@id']!r} failed (actionStatus {FAILED_ACTION_STATUS})")

    steps: list[Step] = []
    step_actions = crate.step_actions()
    if len(step_actions) > MAX_STEPS:
        return (
            None,
            [f"the crate describes {len(step_actions)} step executions; at most {MAX_STEPS} are admitted"],
            notes,
        )
    if not step_actions:  # process or workflow profile: the whole run is its one step
        step_actions = [(str(action.get("name") or main.get("name") or main["@id"]), 0, action)]
    for name, position, step_action in step_actions:
        step = _step(crate, name, position, step_action, problems, notes)
        if step is not None:
            steps.append(step)

    parameters: list[Parameter] = []
    inputs: list[InputRef] = []
    input_files: list[FileRef] = []
    for obj in crate.all(action, "object"):
        types = _types(obj)
        if "PropertyValue" in types:
            p = _parameter(obj, notes)
            if p is not None and p.name not in {q.name for q in parameters}:
                parameters.append(p)
            continue
        identifier = obj.get("identifier")
        if "Dataset" in types and isinstance(identifier, str) and "@sha256:" in identifier:
            path, _, digest = identifier.rpartition("@")
            first, slash, rest = path.partition("/")
            repository = rest if slash and ("." in first or ":" in first or first == "localhost") else path
            try:
                inputs.append(
                    InputRef(
                        str(obj.get("name") or repository.rsplit("/", 1)[-1]),
                        identifier,
                        digest,
                        repository,
                        [f for f in (_file(x) for x in _files(crate, obj)) if f],
                    )
                )
            except ValueError as exc:
                problems.append(f"input dataset {obj['@id']!r}: {exc}")
            continue
        files = _files(crate, obj)
        if not files:
            notes.append(
                f"input {obj['@id']!r} ({'/'.join(sorted(types)) or 'untyped'}) is neither a file in the "
                "crate nor a registry dataset: not pinned"
            )
        for f in files:
            ref = _file(f)
            if ref is None:
                problems.append(
                    f"input file {file_path(f)!r} has no sha256 and contentSize: the registry pins "
                    "every input by checksum (run import adds them)"
                )
            elif ref not in input_files:
                input_files.append(ref)

    outputs: list[FileRef] = []
    for res in crate.all(action, "result"):
        files = _files(crate, res)
        if not files and "PropertyValue" not in _types(res):
            notes.append(f"result {res['@id']!r} is not a file: not part of the result artifact")
        for f in files:
            ref = _file(f)
            if ref is None:
                problems.append(
                    f"output file {file_path(f)!r} has no sha256 and contentSize (run import adds them)"
                )
            elif ref.path not in {o.path for o in outputs}:
                outputs.append(ref)
    if not outputs and not problems:
        problems.append("the workflow run has no output file: a result needs at least one")

    workflow = _file(main) if "File" in _types(main) else None
    if workflow is None:
        problems.append(
            f"workflow {main['@id']!r} has no sha256 and contentSize: the registry pins the workflow "
            "definition (run import adds them)"
        )

    ended = _moment(action.get("endTime"), "workflow endTime", notes)
    started = _moment(action.get("startTime"), "workflow startTime", notes)
    if ended is None:
        ended = max((s.ended for s in steps if s.ended), default=None)
    if started is None:
        started = min((s.started for s in steps if s.started), default=ended)
    if ended is None or started is None:
        problems.append(f"the workflow run {action['@id']!r} has no endTime")

    agent = None
    people = [p for p in crate.all(action, "agent") if "Person" in _types(p)] or [
        p for p in crate.all(root, "author") if "Person" in _types(p)
    ]
    if people and isinstance(people[0].get("name"), str) and people[0]["name"]:
        orcid = people[0]["@id"] if str(people[0]["@id"]).startswith("https://orcid.org/") else None
        agent = Agent(people[0]["name"], orcid)

    license_value = root.get("license")
    license_text: Any = _id_of(license_value) or license_value
    if isinstance(license_text, list):
        license_text = _id_of(license_text[0]) or license_text[0] if license_text else None
    language = _language(main, crate)
    if problems or not steps or started is None or ended is None:
        return None, problems, notes
    root_description, root_name = root.get("description"), root.get("name")
    description = root_description if isinstance(root_description, str) else ""
    name = (
        root_name
        if isinstance(root_name, str) and root_name
        else str(action.get("name") or main.get("name") or main["@id"])
    )
    try:
        run = RunRecord(
            name=name,
            image=steps[0].image,
            command=f"{language or 'workflow'} {file_path(main)}",
            parameters=parameters,
            inputs=inputs,
            outputs=outputs,
            started=started,
            ended=max(ended, started),
            agent=agent,
            workflow=workflow,
            description=description,
            license=str(license_text) if isinstance(license_text, str) else None,
            steps=steps,
            language=language,
            input_files=input_files,
        )
    except ValueError as exc:
        return None, [f"the crate describes an impossible run: {exc}"], notes
    return run, [], notes
