"""Run crate admission and the provenance index (lineage, impact, search).

When a manifest with artifactType ``application/vnd.sciregistry.rocrate.v1`` is pushed, ``RunIndex``
(a registry hook) reads its two layers (at most ``max_crate_size`` bytes each) and validates the crate
(our schema + the Workflow Run Crate profile, offline) before the push takes the repository lock;
then, inside the push transaction, it checks that every digest it names is held by the registry and
agrees with the result it describes, and indexes it. Any problem rejects the push
with MANIFEST_INVALID whose detail lists every problem; nothing of a refused push is stored.

A crate may name only what its pusher can read (:func:`unreadable_references`, a step of its own):
a reference the pusher may not read is refused with exactly the words used for a reference that
does not exist, so admission tells nobody whether someone else's private content exists.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Select,
    Text,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from sciregistry import provenance
from sciregistry.db.models import (
    Manifest,
    ManifestRef,
    Repository,
    Run,
    RunAncestor,
    RunAncestorCount,
    RunInput,
    RunOutput,
    RunParameter,
    RunStep,
    RunWorkflow,
)
from sciregistry.errors import BadRequest, ManifestInvalid, NotFound, TooManyRequests
from sciregistry.oci import INDEX_TYPES, artifacts
from sciregistry.provenance import command as run_command
from sciregistry.registry.base import ReadCheck
from sciregistry.registry.hooks import NoHooks
from sciregistry.registry.types import ManifestPush
from sciregistry.storage import BlobNotFound, BlobStore

MAX_CRATE_LAYER = 1024 * 1024  # default of the max_crate_size setting
MAX_DEPTH = 20
RUN_ID_MAX = 2**31 - 1  # runs.id is a 32-bit INTEGER: a larger id is no run (PostgreSQL refuses to bind it)


def _layer_bytes(store: BlobStore, digest: str, size: int, limit: int = MAX_CRATE_LAYER) -> bytes:
    if size > limit:
        raise ManifestInvalid(
            f"run crate layer of {size} bytes exceeds the registry's limit of {limit} bytes (max_crate_size)",
            {"digest": digest, "size": size, "max_crate_size": limit},
        )
    try:
        with store.open(digest) as f:
            data = f.read(limit + 1)
    except BlobNotFound as exc:
        raise ManifestInvalid("crate layer missing from storage", {"digest": digest}) from exc
    if len(data) > limit:
        raise ManifestInvalid(
            f"run crate layer exceeds the registry's limit of {limit} bytes (max_crate_size)",
            {"digest": digest, "max_crate_size": limit},
        )
    return data


# --- access: a crate may name only what its pusher can read ---------------------------------------


@dataclass(frozen=True)
class CrateReference:
    """One manifest a run crate names. ``role`` says what it is to the run (``image``, ``input``,
    ``result``, ``step image``), ``name`` its name there (an input's or step's name, else None)."""

    role: str
    repository: str
    digest: str
    name: str | None = None

    def absent(self) -> str:
        """The refusal, the same words whether the manifest is missing or hidden from the pusher."""
        if self.role == "step":
            return (
                f"step {self.name!r}: image {self.repository}@{self.digest} "
                "is not in this registry (push it first)"
            )
        label = f"{self.role} {self.name!r}:" if self.name is not None else self.role
        return f"{label} {self.repository}@{self.digest} is not in this registry"


def unreadable_references(
    references: Iterable[CrateReference], can_read: ReadCheck | None
) -> list[CrateReference]:
    """The references whose repository the pushing principal may not read (``can_read`` None:
    authentication is off, everything is readable). Report each with :meth:`CrateReference.absent`,
    never with anything that depends on whether it exists. Repositories are asked once each."""
    if can_read is None:
        return []
    verdict: dict[str, bool] = {}
    out = []
    for ref in references:
        if ref.repository not in verdict:
            verdict[ref.repository] = bool(can_read(ref.repository))
        if not verdict[ref.repository]:
            out.append(ref)
    return out


class RunIndex(NoHooks):
    #: crate validations running or waiting at once in one process (a server worker has 8 threads)
    MAX_CONCURRENT_VALIDATIONS = 4

    def __init__(
        self, store: BlobStore, *, validate_profile: bool = True, max_crate_size: int = MAX_CRATE_LAYER
    ) -> None:
        self.store = store
        self.validate_profile = validate_profile
        self.max_crate_size = max_crate_size
        self._validation_slots = threading.BoundedSemaphore(self.MAX_CONCURRENT_VALIDATIONS)

    # --- admission, part 1: before the push's transaction and lock (no database) ----------------
    def prepare_manifest_push(self, repository: str, digest: str, parsed: Any) -> dict[str, Any]:
        """Read the crate's layers (bounded by ``max_crate_size``) and validate the crate. This is
        the slow part (roc-validator: about a second), so it runs before the repository lock."""
        if parsed.artifact_type_field != artifacts.ROCRATE:
            return {}
        metadata = run_json = None
        for layer in parsed.layers:
            title = (layer.annotations or {}).get(artifacts.TITLE)
            if title == artifacts.CRATE_METADATA_NAME or (
                title is None and layer.media_type == artifacts.CRATE_METADATA_MEDIA_TYPE
            ):
                metadata = _layer_bytes(self.store, layer.digest, layer.size, self.max_crate_size)
            elif (
                title == artifacts.RUN_DESCRIPTION_NAME
                or layer.media_type == artifacts.RUN_DESCRIPTION_MEDIA_TYPE
            ):
                run_json = _layer_bytes(self.store, layer.digest, layer.size, self.max_crate_size)
        if metadata is None:
            raise ManifestInvalid(
                "run crate has no ro-crate-metadata.json layer",
                {"problems": ["missing layer ro-crate-metadata.json (application/ld+json)"]},
            )
        # Validation is CPU-bound and serialised in a process (roc-validator): pushes waiting for it
        # hold server threads, so only a few may wait; more are told to retry (never every thread).
        if not self._validation_slots.acquire(blocking=False):
            raise TooManyRequests(
                "the registry is validating other run crates; retry shortly",
                {"concurrent_validations": self.MAX_CONCURRENT_VALIDATIONS},
                headers={"Retry-After": "5"},
            )
        try:
            if self.validate_profile:
                problems = provenance.validate_run_crate(metadata, run_json)
                run = None if problems else provenance.read_run_crate(metadata, run_json)
            else:
                run, problems = provenance.crate_problems(metadata, run_json)
        except RecursionError as exc:  # any walker the nesting check did not stop
            raise ManifestInvalid(
                "run crate rejected", {"problems": ["run crate JSON is nested too deeply"]}
            ) from exc
        finally:
            self._validation_slots.release()
        return {"run_crate": (run, list(problems))}

    # --- admission, part 2: the hook, inside the transaction ------------------------------------
    def on_manifest_push(self, session: Session, push: ManifestPush) -> None:
        if push.parsed.artifact_type_field != artifacts.ROCRATE:
            return
        parsed = push.parsed
        prepared = push.extra.get("run_crate")
        if prepared is None:  # called without the prepare step
            prepared = self.prepare_manifest_push(push.repository, push.digest, parsed)["run_crate"]
        run, crate_problems = prepared
        problems: list[str] = []

        # 1. the subject must be a result in this repository
        result = None
        if parsed.subject is None:
            problems.append("the run crate has no subject: it must refer to a result manifest")
        else:
            subject_ref = CrateReference("result", push.repository, parsed.subject.digest)
            if not unreadable_references([subject_ref], push.can_read):
                result = session.execute(
                    select(Manifest).where(
                        Manifest.repository_id == push.repository_id, Manifest.digest == parsed.subject.digest
                    )
                ).scalar()
            if result is None:
                problems.append(f"subject {parsed.subject.digest} is not a manifest in {push.repository}")
            elif result.artifact_type != artifacts.RESULT:
                problems.append(
                    f"subject {parsed.subject.digest} is not a result "
                    f"(artifactType {result.artifact_type!r}, expected {artifacts.RESULT!r})"
                )

        # 2. the crate itself: JSON-LD, our schema, the profile (validated in prepare_manifest_push)
        problems += crate_problems
        if problems and self.validate_profile:
            run = None
        if run is None:
            raise ManifestInvalid("run crate rejected", {"problems": problems})

        # 3. the pusher must be able to read every manifest it names (refused as if absent)
        image_ref = CrateReference("image", run.image.name, run.image.digest)
        step_refs = [CrateReference("step", st.image.name, st.image.digest, st.name) for st in run.steps]
        input_refs = [CrateReference("input", i.repository, i.digest, i.name) for i in run.inputs]
        hidden = set(unreadable_references([image_ref, *step_refs, *input_refs], push.can_read))

        # 4. every digest it names must be held and agree; the command must render
        if run.is_workflow:  # every step image, the first included
            step_indexes = self._check_steps(session, push, run, problems, hidden)
            image_index = step_indexes.get(run.image.digest)
        else:
            step_indexes = {}
            image_index = None
            if image_ref in hidden:
                problems.append(image_ref.absent())
            else:
                image_index = self._check_image(session, run, problems)
        for inp, ref in zip(run.inputs, input_refs, strict=True):
            if ref in hidden or not self._manifest_exists(session, inp.repository, inp.digest):
                problems.append(ref.absent())
            elif inp.files:
                problems += self._check_dataset_files(session, inp)
        if result is not None:
            problems += self._check_outputs(result, run)
        # a single-image run's command is a template rendered for people and reproduce; a workflow
        # run's is the engine's invocation
        unknown = (
            None
            if run.is_workflow
            else run_command.unknown_parameters_message(run.command, [p.name for p in run.parameters])
        )
        if unknown is not None:
            problems.append(unknown)
        if problems:
            raise ManifestInvalid("run crate rejected", {"problems": problems})

        # 5. index it
        row = Run(
            repository_id=push.repository_id,
            crate_manifest_id=push.manifest_id,
            crate_digest=push.digest,
            result_digest=parsed.subject.digest,
            name=run.name,
            command=run.command,
            image_registry=run.image.registry,
            image_repository=run.image.name,
            image_tag=run.image.tag,
            image_digest=run.image.digest,
            image_index_digest=image_index,
            agent_name=run.agent.name if run.agent else None,
            agent_orcid=run.agent.orcid if run.agent else None,
            started=run.started,
            ended=run.ended,
        )
        session.add(row)
        session.flush()
        for p in run.parameters:
            number = float(p.value) if p.type in ("integer", "number") else None
            session.add(
                RunParameter(
                    run_id=row.id,
                    name=p.name,
                    type=p.type or "string",
                    value=_canonical(p.value),
                    number=number,
                )
            )
        for inp in run.inputs:
            session.add(RunInput(run_id=row.id, name=inp.name, repository=inp.repository, digest=inp.digest))
        for out in run.outputs:
            session.add(RunOutput(run_id=row.id, path=out.path, sha256=out.sha256, size=out.size))
        if run.is_workflow:
            self._index_workflow(session, row.id, run)
        ancestors = self._ancestors(session, run, image_index)
        for step_digest, step_index in step_indexes.items():
            ancestors |= self._image_ancestors(session, step_digest, step_index)
        for digest in ancestors:
            session.add(RunAncestor(digest=digest, run_id=row.id))

    # --- workflow runs (steps) -------------------------------------------------------------------
    def _check_steps(
        self, session: Session, push: ManifestPush, run: Any, problems: list[str], hidden: set[CrateReference]
    ) -> dict[str, str | None]:
        """Every step image must be held by digest and readable by the pusher (``hidden``: those it may
        not read, refused in the words a missing one gets); the workflow definition and its input files
        must be layers of the crate artifact. Returns {step image digest: index digest or None}."""
        found: dict[str, str | None] = {}
        refused: set[tuple[str, str]] = set()
        for step in run.steps:
            ref = CrateReference("step", step.image.name, step.image.digest, step.name)
            if step.image.digest in found or (ref.repository, ref.digest) in refused:
                continue
            row = (
                None
                if ref in hidden
                else session.execute(
                    select(Manifest.media_type)
                    .join(Repository, Repository.id == Manifest.repository_id)
                    .where(Repository.name == step.image.name, Manifest.digest == step.image.digest)
                ).first()
            )
            if row is None:
                problems.append(ref.absent())
                refused.add((ref.repository, ref.digest))
                continue
            found[step.image.digest] = step.image.digest if row.media_type in INDEX_TYPES else None
        layers = {(ly.annotations or {}).get(artifacts.TITLE): ly for ly in push.parsed.layers}
        needed = ([("workflow definition", run.workflow)] if run.workflow is not None else []) + [
            ("input file", f) for f in run.input_files
        ]
        for what, f in needed:
            layer = layers.get(f.path)
            if layer is None:
                problems.append(
                    f"{what} {f.path!r} is not a layer of the crate artifact: the crate must carry it"
                )
            elif layer.digest != f"sha256:{f.sha256}" or layer.size != f.size:
                problems.append(
                    f"{what} {f.path!r}: the crate says sha256 {f.sha256} ({f.size} bytes), its layer is "
                    f"{layer.digest} ({layer.size} bytes)"
                )
        return found

    def _image_ancestors(self, session: Session, digest: str, index: str | None) -> set[str]:
        out = {digest}
        if index:
            out |= set(session.execute(_children_of(index)).scalars())
        else:
            out |= set(session.execute(_parents_of_many([digest])).scalars())
        return out

    def _index_workflow(self, session: Session, run_id: int, run: Any) -> None:
        views = []
        for n, step in enumerate(run.steps):
            row = RunStep(
                run_id=run_id,
                position=n,
                name=step.name,
                image_registry=step.image.registry,
                image_repository=step.image.name,
                image_tag=step.image.tag,
                image_digest=step.image.digest,
                command=step.command,
                parameters=json.dumps(
                    [{"name": p.name, "value": p.value, "type": p.type} for p in step.parameters]
                ),
                inputs=json.dumps([_file_view(f) for f in step.inputs]),
                outputs=json.dumps([_file_view(f) for f in step.outputs]),
                started=step.started,
                ended=step.ended,
            )
            session.add(row)
            views.append(_step_view(row))
        wf = run.workflow
        session.add(
            RunWorkflow(
                run_id=run_id,
                language=run.language,
                path=wf.path,
                sha256=wf.sha256,
                size=wf.size,
                input_files=json.dumps([_file_view(f) for f in run.input_files]),
                steps=json.dumps(views),
            )
        )

    def _ancestors(self, session: Session, run: Any, image_index: str | None) -> set[str]:
        """Everything this run depends on, transitively (see RunAncestor)."""
        out = {run.image.digest}
        if image_index:
            out |= set(session.execute(_children_of(image_index)).scalars())
        else:
            out |= set(session.execute(_parents_of_many([run.image.digest])).scalars())
        inputs = [i.digest for i in run.inputs]
        out |= set(inputs)
        if inputs:
            out |= set(
                session.execute(
                    select(RunAncestor.digest).where(
                        RunAncestor.run_id.in_(select(Run.id).where(Run.result_digest.in_(inputs)))
                    )
                ).scalars()
            )
        return out

    def _manifest_exists(self, session: Session, repository: str, digest: str) -> bool:
        return (
            session.execute(
                select(Manifest.id)
                .join(Repository, Repository.id == Manifest.repository_id)
                .where(Repository.name == repository, Manifest.digest == digest)
            ).first()
            is not None
        )

    def _check_image(self, session: Session, run: Any, problems: list[str]) -> str | None:
        row = session.execute(
            select(Manifest.id, Manifest.media_type)
            .join(Repository, Repository.id == Manifest.repository_id)
            .where(Repository.name == run.image.name, Manifest.digest == run.image.digest)
        ).first()
        if row is None:
            problems.append(CrateReference("image", run.image.name, run.image.digest).absent())
            return None
        return run.image.digest if row.media_type in INDEX_TYPES else None

    def _check_dataset_files(self, session: Session, inp: Any) -> list[str]:
        m = session.execute(
            select(Manifest.content)
            .join(Repository, Repository.id == Manifest.repository_id)
            .where(Repository.name == inp.repository, Manifest.digest == inp.digest)
        ).scalar()
        layers = (
            {(ly.get("annotations") or {}).get(artifacts.TITLE): ly for ly in json.loads(m).get("layers", [])}
            if m
            else {}
        )
        out = []
        for f in inp.files:
            layer = layers.get(f.path)
            if layer is None or layer.get("digest") != f"sha256:{f.sha256}":
                out.append(
                    f"input {inp.name!r}: file {f.path!r} with sha256 {f.sha256} is not a layer of "
                    f"{inp.repository}@{inp.digest}"
                )
        return out

    def _check_outputs(self, result: Manifest, run: Any) -> list[str]:
        layers = {}
        for ly in json.loads(result.content).get("layers", []):
            title = (ly.get("annotations") or {}).get(artifacts.TITLE)
            layers[title] = ly
        out = []
        for f in run.outputs:
            layer = layers.get(f.path)
            if layer is None:
                out.append(f"output {f.path!r} is not a file of result {result.digest}")
            elif layer.get("digest") != f"sha256:{f.sha256}":
                out.append(
                    f"output {f.path!r}: sha256 {f.sha256} does not match the result's layer "
                    f"{layer.get('digest')}"
                )
            elif layer.get("size") != f.size:
                out.append(
                    f"output {f.path!r}: size {f.size} does not match the result's layer size "
                    f"{layer.get('size')}"
                )
        return out


def _file_view(f: Any) -> dict[str, Any]:
    return {"path": f.path, "sha256": f.sha256, "size": f.size}


def _canonical(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _decode(type_: str, value: str) -> Any:
    if type_ == "string":
        return value
    return json.loads(value)


def _one_step(r: Run, params: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """A single-image run seen as its one step (same keys as a workflow step)."""
    return {
        "position": 0,
        "name": r.name,
        "command": r.command,
        "image": {
            "registry": r.image_registry,
            "repository": r.image_repository,
            "digest": r.image_digest,
            "tag": r.image_tag,
        },
        "parameters": params,
        "inputs": [],
        "outputs": outputs,
        "started": r.started.isoformat() if r.started else None,
        "ended": r.ended.isoformat() if r.ended else None,
    }


#: a run as one plain row (cheaper to load than a Run object), with its repository's name and its
#: workflow (NULLs for a single-image run) joined in: the view of a page of runs needs no further
#: statement for either
RUN_COLUMNS = (
    *Run.__table__.c,
    Repository.name.label("repository_name"),
    RunWorkflow.language.label("workflow_language"),
    RunWorkflow.path.label("workflow_path"),
    RunWorkflow.sha256.label("workflow_sha256"),
    RunWorkflow.size.label("workflow_size"),
    RunWorkflow.input_files.label("workflow_input_files"),
    RunWorkflow.steps.label("workflow_steps"),
)


def _run_rows() -> Select[Any]:
    """SELECT of :data:`RUN_COLUMNS` (filter, order and limit it)."""
    return (
        select(*RUN_COLUMNS)
        .select_from(Run)
        .outerjoin(Repository, Repository.id == Run.repository_id)
        .outerjoin(RunWorkflow, RunWorkflow.run_id == Run.id)
    )


class RunQueries:
    """Read side of the provenance index. Each method opens its own session."""

    def __init__(self, sessions: Any) -> None:
        self.sessions = sessions

    # --- views ---
    def _views(
        self,
        s: Session,
        runs: Sequence[Any],
        artifacts: dict[tuple[str, str], tuple[bool, str | None]] | None = None,
    ) -> list[dict[str, Any]]:
        """The API view of ``runs`` (rows of :func:`_run_rows`): one more statement for their
        parameters, inputs and outputs together. ``artifacts``, when given, is filled with whether
        the registry holds each input and its artifact type: {(repository, digest): (held, type)}."""
        if not runs:
            return []
        ids = [r.id for r in runs]
        params: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        inputs: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        outputs: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        # plain rows, not ORM objects: a page of 100 runs has about 700 child rows (3-4x faster)
        row: Any
        for row in s.execute(_children(ids, artifacts is not None)):
            kind, run_id, a, b, c, size, held, artifact_type = row
            if kind == 0:
                params[run_id].append({"name": a, "value": _decode(b, c), "type": b})
            elif kind == 1:
                inputs[run_id].append({"name": a, "repository": b, "digest": c})
                if artifacts is not None:
                    artifacts[b, c] = (held is not None, artifact_type)
            else:
                outputs[run_id].append({"path": a, "sha256": b, "size": size})
        # a workflow run's steps, rendered at admission (one document); from its run_steps rows for a
        # run written without them (none once migration 0015 has run)
        steps = {r.id: json.loads(r.workflow_steps) for r in runs if r.workflow_steps is not None}
        unrendered = [r.id for r in runs if r.workflow_path is not None and r.workflow_steps is None]
        if unrendered:
            steps |= _steps_of(s, unrendered)
        return [
            {
                "id": r.id,
                "repository": r.repository_name or "",
                "result_digest": r.result_digest,
                "crate_digest": r.crate_digest,
                "name": r.name,
                "command": r.command,
                "image": {
                    "registry": r.image_registry,
                    "repository": r.image_repository,
                    "digest": r.image_digest,
                    "index_digest": r.image_index_digest,
                    "tag": r.image_tag,
                },
                "parameters": params[r.id],
                "inputs": inputs[r.id],
                "outputs": outputs[r.id],
                "workflow": (
                    {
                        "language": r.workflow_language,
                        "path": r.workflow_path,
                        "sha256": r.workflow_sha256,
                        "size": r.workflow_size,
                        "input_files": json.loads(r.workflow_input_files),
                    }
                    if r.workflow_path is not None
                    else None
                ),
                "steps": steps.get(r.id) or [_one_step(r, params[r.id], outputs[r.id])],
                "agent": {"name": r.agent_name, "orcid": r.agent_orcid} if r.agent_name else None,
                "started": r.started.isoformat() if r.started else None,
                "ended": r.ended.isoformat() if r.ended else None,
                "created_at": r.created_at.isoformat(),
            }
            for r in runs
        ]

    def get(self, run_id: int) -> dict[str, Any]:
        with self.sessions() as s:
            r = s.execute(_run_rows().where(Run.id == run_id)).first() if 0 <= run_id <= RUN_ID_MAX else None
            if r is None:
                raise NotFound(f"run {run_id} not found")
            return self._views(s, [r])[0]

    def for_result(self, repository: str, digest: str) -> dict[str, Any] | None:
        with self.sessions() as s:
            r = s.execute(
                _run_rows()
                .where(Repository.name == repository, Run.result_digest == digest)
                .order_by(Run.id.desc())
                .limit(1)
            ).first()
            return self._views(s, [r])[0] if r else None

    def search(
        self,
        *,
        repository: str | None = None,
        image: str | None = None,
        dataset: str | None = None,
        parameter: str | None = None,
        value: str | None = None,
        agent: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        limit: int = 50,
        after: int | None = None,
        visible: Iterable[str] | None = None,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Runs matching every given filter, newest first; returns (page, cursor of the next page)."""
        if not 1 <= limit <= 1000:
            raise BadRequest("limit must be between 1 and 1000")
        # the ids of the page first (index-only where the filters allow), then their rows; runs that took
        # a dataset are walked from the dataset's index range, newest first, until the page is full
        key = RunInput.run_id if dataset else Run.id
        q = select(key.label("id"))
        if dataset:
            q = q.join(Run, Run.id == RunInput.run_id).where(RunInput.digest == dataset).distinct()
        if repository:
            q = q.join(Repository, Repository.id == Run.repository_id).where(Repository.name == repository)
        if image:
            q = q.where(
                or_(
                    Run.image_digest == image,
                    Run.image_index_digest == image,
                    Run.image_digest.in_(_children_of(image)),
                    Run.image_index_digest.in_(_parents_of(image)),
                )
            )
        if parameter:
            cond = RunParameter.name == parameter
            if value is not None:
                cond = and_(cond, RunParameter.value == value)
            q = q.where(Run.id.in_(select(RunParameter.run_id).where(cond)))
        elif value is not None:  # any parameter with this value (no index serves this: rare, and paged)
            q = q.where(Run.id.in_(select(RunParameter.run_id).where(RunParameter.value == value)))
        if agent:
            q = q.where(or_(Run.agent_name == agent, Run.agent_orcid == agent))
        if started_after:
            q = q.where(Run.started >= started_after)
        if started_before:
            q = q.where(Run.started < started_before)
        if after is not None and after <= RUN_ID_MAX:  # a larger cursor is before every run
            q = q.where(Run.id < after)
        if visible is not None:
            q = q.where(
                Run.repository_id.in_(select(Repository.id).where(Repository.name.in_(list(visible))))
            )
        page = q.order_by(key.desc()).limit(limit + 1).subquery()
        with self.sessions() as s:
            rows = s.execute(_run_rows().join(page, page.c.id == Run.id).order_by(Run.id.desc())).all()
            more = len(rows) > limit
            rows = rows[:limit]
            return self._views(s, rows), (rows[-1].id if more else None)

    # --- lineage and impact ---
    def lineage(self, repository: str, digest: str, *, can_read: ReadCheck | None = None) -> dict[str, Any]:
        """What produced ``repository@digest``, recursively through inputs that are results.

        ``can_read`` (whether the caller may read a repository; None: everything) authorizes every
        node: an upstream artifact or run the caller may not read is a redacted node (its digest,
        no command, parameters, agent or further upstream). The caller must already have been
        allowed to read ``repository``.

        The tree is read a level at a time (:class:`_LineageReader`: a few statements per level,
        whatever the number of nodes in it), then assembled depth-first as it is returned."""
        with self.sessions() as s:
            reader = _LineageReader(self, s)
            reader.prefetch(repository, digest)
            node = reader.node(repository, digest, 0, set(), can_read)
            # the first 100 runs (by id) that used it, read with the first level
            views = [reader.views[r.id] for r in reader.downstream]
            node["downstream"] = (
                views if can_read is None else [v for v in views if can_read(v["repository"])]
            )
            return node

    def impact(
        self, digest: str, limit: int = 100, after: int | None = None, visible: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """Runs and results depending on ``digest``, a page at a time (ordered by run id), with totals.

        ``visible`` (the repositories the caller may read; None: all) applies before anything is
        counted: totals, pages and results cover only runs the caller may read, so the answer for
        a private artifact is the answer for one nobody used."""
        names = list(visible) if visible is not None else None
        with self.sessions() as s:
            if names is None:  # kept by triggers on run_ancestors (migration 0013): one key lookup
                total = (
                    s.execute(select(RunAncestorCount.runs).where(RunAncestorCount.digest == digest)).scalar()
                    or 0
                )
                ancestors = select(RunAncestor.run_id).where(RunAncestor.digest == digest)
            else:  # only what the caller may read counts (impact is no existence oracle)
                ancestors = select(RunAncestor.run_id).where(
                    RunAncestor.digest == digest, RunAncestor.run_id.in_(_runs_in(names))
                )
                total = s.execute(select(func.count()).select_from(ancestors.subquery())).scalar_one()
            total_results = (
                s.execute(
                    select(func.count(func.distinct(Run.result_digest))).where(Run.id.in_(ancestors))
                ).scalar_one()
                if total <= 10_000
                else None
            )
            page = _dependent_runs(digest)
            if names is not None:
                page = page.where(
                    Run.repository_id.in_(select(Repository.id).where(Repository.name.in_(names)))
                )
            if after is not None:
                page = page.where(RunAncestor.run_id > min(after, RUN_ID_MAX))
            runs = s.execute(page.order_by(RunAncestor.run_id).limit(limit + 1)).all()
            more = len(runs) > limit
            runs = runs[:limit]
            views = self._views(s, runs)
            results = sorted({(v["repository"], v["result_digest"]) for v in views})
            return {
                "subject": {"digest": digest},
                "total_runs": total,
                "total_results": total_results,
                "runs": views,
                "results": results,
                "next": runs[-1].id if more else None,
            }


class _LineageReader:
    """The rows of one lineage tree, read a level at a time (breadth first), two statements a level
    however many nodes it has: the runs behind the level's digests (the newest producing run, else
    the run a crate describes; with the root, also its first dependent runs), then their parameters,
    inputs and outputs with whether the registry holds each input and its artifact type (the next
    level's subjects). Only the root's artifact type is a statement of its own. :meth:`node` then
    assembles the tree depth-first from what was read, exactly as a node-by-node walk would (the
    same ``seen``, depth and access rules), reading a node itself should the prefetch have missed it."""

    def __init__(self, queries: RunQueries, session: Session) -> None:
        self.queries = queries
        self.s = session
        self.artifacts: dict[tuple[str, str], str | None] = {}  # (repository, digest): artifact type
        self.held: set[tuple[str, str]] = set()  # (repository, digest) the registry holds
        self.runs: dict[str, Any] = {}  # digest: the row of the run behind it, or None
        self.views: dict[int, dict[str, Any]] = {}  # run id: view
        self.downstream: list[Any] = []  # rows of the runs that used the root (the first 100 by id)
        #: whether the registry holds each input of the runs read so far, and its artifact type
        self.inputs: dict[tuple[str, str], tuple[bool, str | None]] = {}

    def prefetch(self, repository: str, digest: str, downstream: int = 100) -> None:
        level = [(repository, digest)]
        for depth in range(MAX_DEPTH + 1):
            self.read(level, downstream_of=digest if depth == 0 else None, downstream=downstream)
            if depth == MAX_DEPTH:
                break
            nxt: list[tuple[str, str]] = []
            for _, d in level:
                run = self.runs.get(d)
                if run is None:
                    continue
                for i in self.views[run.id]["inputs"]:
                    key = (i["repository"], i["digest"])
                    if key not in self.artifacts and key not in nxt:
                        nxt.append(key)
            if not nxt:
                break
            level = nxt

    def read(
        self, keys: list[tuple[str, str]], downstream_of: str | None = None, downstream: int = 0
    ) -> None:
        """Artifact types, runs and views of the subjects ``keys`` (those not read yet); with
        ``downstream_of``, in the same statements the first ``downstream`` runs that used it."""
        keys = [k for k in keys if k not in self.artifacts]
        if not keys:
            return
        unknown = []
        for k in keys:
            held, self.artifacts[k] = self.inputs.get(k, (False, None))
            if held:
                self.held.add(k)
            elif k not in self.inputs:
                unknown.append(k)
        if unknown:  # the root (an input's were read with its run's view)
            for name, d, artifact_type in self.s.execute(
                select(Repository.name, Manifest.digest, Manifest.artifact_type)
                .join(Repository, Repository.id == Manifest.repository_id)
                .where(
                    Manifest.digest.in_(sorted({d for _, d in unknown})),
                    Repository.name.in_(sorted({r for r, _ in unknown})),
                )
            ):
                if (name, d) in unknown:
                    self.artifacts[name, d] = artifact_type
                    self.held.add((name, d))
        digests = sorted({d for _, d in keys})
        todo = [d for d in digests if d not in self.runs]
        if not todo and downstream_of is None:
            return
        # the newest run that produced each digest, else the newest run its crate describes: the two
        # index lookups (and the dependent runs) as one statement
        arms = [
            _run_rows().add_columns(literal(0).label("match")).where(Run.result_digest.in_(todo)),
            _run_rows().add_columns(literal(1).label("match")).where(Run.crate_digest.in_(todo)),
        ]
        if downstream_of is not None:
            first = (
                _dependent_runs(downstream_of)
                .add_columns(literal(2).label("match"))
                .order_by(RunAncestor.run_id)
                .limit(downstream)
                .subquery()
            )
            arms.append(select(*first.c))
        produced: dict[str, Any] = {}
        described: dict[str, Any] = {}
        for r in self.s.execute(union_all(*arms)):
            if r.match == 2:
                self.downstream.append(r)
                continue
            rows, d = (produced, r.result_digest) if r.match == 0 else (described, r.crate_digest)
            if d not in rows or r.id > rows[d].id:
                rows[d] = r
        self.downstream.sort(key=lambda r: r.id)
        found = []
        for d in todo:
            run = produced.get(d) or described.get(d)
            self.runs[d] = run
            if run is not None and run.id not in self.views:
                found.append(run)
                self.views[run.id] = {}  # placeholder, filled below
        for run in self.downstream:
            if run.id not in self.views:
                found.append(run)
                self.views[run.id] = {}
        for r, view in zip(found, self.queries._views(self.s, found, self.inputs), strict=True):
            self.views[r.id] = view

    def node(
        self, repository: str, digest: str, depth: int, seen: set[str], can_read: ReadCheck | None
    ) -> dict[str, Any]:
        if (repository, digest) not in self.artifacts:
            self.read([(repository, digest)])
        hidden = depth > 0 and can_read is not None and not can_read(repository)
        held = not hidden and (repository, digest) in self.held
        if not held and depth == 0:
            raise NotFound(f"{repository}@{digest} is not in this registry")
        subject = {
            "repository": repository,
            "digest": digest,
            "artifact_type": self.artifacts[repository, digest] if held else None,
        }
        run = self.runs[digest]
        if run is not None and not hidden and can_read is not None:
            hidden = run.repository_name is None or not can_read(run.repository_name)
        if hidden:
            redacted = {"redacted": True, "result_digest": run.result_digest} if run is not None else None
            return {"subject": subject, "produced_by": redacted, "inputs": [], "redacted": True}
        if run is None:
            return {"subject": subject, "produced_by": None, "inputs": []}
        view = self.views[run.id]
        if depth >= MAX_DEPTH or digest in seen:
            return {"subject": subject, "produced_by": view, "inputs": [], "truncated": True}
        seen.add(digest)
        inputs = [self.node(i["repository"], i["digest"], depth + 1, seen, can_read) for i in view["inputs"]]
        return {"subject": subject, "produced_by": view, "inputs": inputs}


def _step_view(st: Any) -> dict[str, Any]:
    """The API view of a workflow step (a ``run_steps`` row, or the RunStep being admitted)."""
    return {
        "position": st.position,
        "name": st.name,
        "command": st.command,
        "image": {
            "registry": st.image_registry,
            "repository": st.image_repository,
            "digest": st.image_digest,
            "tag": st.image_tag,
        },
        "parameters": json.loads(st.parameters),
        "inputs": json.loads(st.inputs),
        "outputs": json.loads(st.outputs),
        "started": _utc_iso(st.started),
        "ended": _utc_iso(st.ended),
    }


def _utc_iso(t: datetime | None) -> str | None:
    """As the column gives it back: in UTC (a UTCDateTime stores UTC and returns it tz-aware)."""
    return t.astimezone(UTC).isoformat() if t is not None else None


def _steps_of(s: Session | Connection, run_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The step views of the workflow runs ``run_ids``, from their ``run_steps`` rows."""
    steps: dict[int, list[dict[str, Any]]] = {i: [] for i in run_ids}
    for st in s.execute(
        select(*RunStep.__table__.c)  # plain rows
        .where(RunStep.run_id.in_(run_ids))
        .order_by(RunStep.run_id, RunStep.position)
    ):
        steps[st.run_id].append(_step_view(st))
    return steps


def render_step_views(conn: Connection, batch: int = 200) -> int:
    """Fill ``run_workflows.steps`` of the workflow runs that lack it from their ``run_steps`` rows
    (migration 0015, and bulk-built benchmark indexes). Returns how many runs were rendered."""
    table = RunWorkflow.__table__
    done = 0
    while True:
        ids: list[int] = list(
            conn.execute(
                select(table.c.run_id).where(table.c.steps.is_(None)).order_by(table.c.run_id).limit(batch)
            ).scalars()
        )
        if not ids:
            return done
        conn.execute(
            update(RunWorkflow)
            .where(table.c.run_id == bindparam("b_run_id"))
            .values(steps=bindparam("b_steps")),
            [{"b_run_id": i, "b_steps": json.dumps(v)} for i, v in _steps_of(conn, ids).items()],
        )
        done += len(ids)


def _dependent_runs(digest: str) -> Select[Any]:
    """Runs (rows of :func:`_run_rows`) that used ``digest`` (as image, image index, step image or
    input), transitively: one range of the ancestry table written at admission, joined to the runs."""
    return _run_rows().join(RunAncestor, and_(RunAncestor.run_id == Run.id, RunAncestor.digest == digest))


def _children(ids: list[int], artifacts: bool = False) -> Any:
    """Parameters (kind 0), inputs (1) and outputs (2) of the runs ``ids`` in one statement, each kind
    in run order and then by name (path): (kind, run_id, name or path, two more columns, size, held,
    artifact_type). With ``artifacts``, an input's ``held`` (the manifest's id, None if this registry
    has no such manifest) and artifact type, from the same statement (lineage's next level)."""
    none_text, none_int = literal(None, Text), literal(None, BigInteger)
    inputs = select(
        literal(1), RunInput.run_id, RunInput.name, RunInput.repository, RunInput.digest, none_int
    ).where(RunInput.run_id.in_(ids))
    if artifacts:
        inputs = (
            inputs.add_columns(Manifest.id, Manifest.artifact_type)
            .outerjoin(Repository, Repository.name == RunInput.repository)
            .outerjoin(
                Manifest, and_(Manifest.repository_id == Repository.id, Manifest.digest == RunInput.digest)
            )
        )
    else:
        inputs = inputs.add_columns(none_int, none_text)
    return union_all(
        select(
            literal(0).label("kind"),
            RunParameter.run_id,
            RunParameter.name.label("a"),
            RunParameter.type.label("b"),
            RunParameter.value.label("c"),
            none_int.label("size"),
            none_int.label("held"),
            none_text.label("artifact_type"),
        ).where(RunParameter.run_id.in_(ids)),
        inputs,
        select(
            literal(2),
            RunOutput.run_id,
            RunOutput.path,
            RunOutput.sha256,
            none_text,
            RunOutput.size,
            none_int,
            none_text,
        ).where(RunOutput.run_id.in_(ids)),
    ).order_by(text("kind"), text("run_id"), text("a"))


def _runs_in(repositories: Iterable[str]) -> Any:
    """Ids of the runs whose result is in one of ``repositories``."""
    return select(Run.id).where(
        Run.repository_id.in_(select(Repository.id).where(Repository.name.in_(list(repositories))))
    )


def _children_of(digest: str) -> Any:
    """Manifests listed by the index ``digest``."""
    return (
        select(ManifestRef.digest)
        .join(Manifest, Manifest.id == ManifestRef.manifest_id)
        .where(Manifest.digest == digest, ManifestRef.kind == "manifest")
    )


def _parents_of(digest: str) -> Any:
    """Indexes that list the manifest ``digest``."""
    return _parents_of_many([digest])


def _parents_of_many(digests: list[str]) -> Any:
    return (
        select(Manifest.digest)
        .join(ManifestRef, ManifestRef.manifest_id == Manifest.id)
        .where(ManifestRef.digest.in_(digests), ManifestRef.kind == "manifest")
    )
