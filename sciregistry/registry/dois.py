"""DOIs: minting for a result, the closure a DOI pins, versions, tombstones, and the pin guard.

A DOI's closure is everything a reviewer needs to reproduce the result:

    result manifest ── its blobs (output files)
      └─ run crate manifest (referrer) ── its blobs
    image manifest or index (+ child manifests) ── config and layer blobs
    every input dataset manifest ── its blobs
    every referrer of any of those manifests (SBOMs, signatures, reports) ── their blobs

Each object becomes a ``DoiPin`` row. ``DoiPins`` is a registry hook that refuses (DENIED, naming
the DOI) to delete a pinned manifest or blob or to move a tag away from pinned content; garbage
collection marks every pinned object as live.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sciregistry import doi as doilib
from sciregistry.db.base import utcnow
from sciregistry.db.models import Doi, DoiPin, Manifest, ManifestRef, Repository, Run
from sciregistry.doi.identifiers import TEST_DOI_PREFIX
from sciregistry.errors import Conflict, Denied, NotFound
from sciregistry.oci import routes
from sciregistry.registry.base import ReadCheck
from sciregistry.registry.hooks import NoHooks

log = logging.getLogger(__name__)

PINNED = "pinned by DOI"


class DoiPins(NoHooks):
    """Registry hook: pinned content cannot be deleted or have its tags moved."""

    def _pin(self, s: Session, repository_id: int, digest: str, kind: str) -> str | None:
        return s.execute(
            select(DoiPin.doi)
            .where(DoiPin.repository_id == repository_id, DoiPin.digest == digest, DoiPin.kind == kind)
            .limit(1)
        ).scalar()

    def check_manifest_delete(
        self, session: Session, repository_id: int, manifest_id: int, digest: str
    ) -> None:
        doi = self._pin(session, repository_id, digest, "manifest")
        if doi:
            raise Denied(f"manifest {digest} is {PINNED} {doi}: it cannot be deleted", {"doi": doi})

    def check_tag_change(self, session: Session, repository_id: int, tag: str, old_manifest_id: int) -> None:
        digest = session.execute(select(Manifest.digest).where(Manifest.id == old_manifest_id)).scalar()
        doi = self._pin(session, repository_id, digest, "manifest") if digest else None
        if doi:
            raise Denied(
                f"tag {tag!r} points at content {PINNED} {doi}: it cannot be moved or deleted",
                {"doi": doi, "tag": tag, "digest": digest},
            )

    def check_blob_delete(self, session: Session, repository_id: int, digest: str) -> None:
        doi = self._pin(session, repository_id, digest, "blob")
        if doi:
            raise Denied(f"blob {digest} is {PINNED} {doi}: it cannot be deleted", {"doi": doi})


@dataclass
class Closure:
    """(repository id, digest, kind, role) of every pinned object."""

    items: dict[tuple[int, str, str], str] = field(default_factory=dict)

    def add(self, rid: int, digest: str, kind: str, role: str) -> bool:
        key = (rid, digest, kind)
        if key in self.items:
            return False
        self.items[key] = role
        return True


def compute_closure(
    s: Session, repository_id: int, result_digest: str, run: Run | None, can_read: ReadCheck | None = None
) -> Closure:
    """Every object the DOI of ``result_digest`` pins. ``can_read``: whether the minter may read a
    repository (None: authentication is off). The closure is computed only from what the minter can
    read: a root (image, input) in a repository hidden from them is refused with the very words a
    missing one gets, so a DOI never pins, nor a reviewer token reaches, someone else's content."""
    closure = Closure()
    names = dict(s.execute(select(Repository.name, Repository.id)).all()) if run else {}

    def root_repository(name: str, digest: str, role: str) -> int:
        rid = names.get(name)
        if rid is None or (can_read is not None and not can_read(name)):
            raise NotFound(f"{role} {name}@{digest} is missing from the registry: cannot pin it")
        return rid

    def manifest(rid: int, digest: str, role: str) -> None:
        if not closure.add(rid, digest, "manifest", role):
            return
        row = s.execute(
            select(Manifest.id).where(Manifest.repository_id == rid, Manifest.digest == digest)
        ).first()
        if row is None:
            raise NotFound(f"{role} {digest} is missing from the registry: cannot pin it")
        for ref_digest, kind in s.execute(
            select(ManifestRef.digest, ManifestRef.kind).where(ManifestRef.manifest_id == row[0])
        ):
            if kind == "blob":
                closure.add(rid, ref_digest, "blob", "blob")
            else:
                manifest(rid, ref_digest, "index-child")
        for (ref,) in s.execute(
            select(Manifest.digest).where(Manifest.repository_id == rid, Manifest.subject_digest == digest)
        ):
            manifest(rid, ref, "referrer")

    manifest(repository_id, result_digest, "result")
    if run is not None:
        manifest(root_repository(run.image_repository, run.image_digest, "image"), run.image_digest, "image")
        from sciregistry.db.models import RunInput, RunStep

        # a workflow run: every step's image (the workflow definition and input files are layers of
        # the crate, a referrer of the result, pinned above)
        for step_repo, step_digest in s.execute(
            select(RunStep.image_repository, RunStep.image_digest)
            .where(RunStep.run_id == run.id)
            .order_by(RunStep.position)
        ):
            manifest(root_repository(step_repo, step_digest, "image"), step_digest, "image")

        for name, digest in s.execute(
            select(RunInput.repository, RunInput.digest).where(RunInput.run_id == run.id)
        ):
            manifest(root_repository(name, digest, "dataset"), digest, "dataset")
    return closure


@dataclass(frozen=True)
class DoiRecord:
    doi: str
    state: str
    repository: str | None
    result_digest: str | None
    crate_digest: str | None
    run_id: int | None
    is_concept: bool
    concept_doi: str | None
    previous_doi: str | None
    version: int
    metadata: dict[str, Any]
    created_at: str
    published_at: str | None
    tombstone_reason: str | None
    reproductions: int
    versions: list[str] = field(default_factory=list)
    latest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["prefix"], _, d["suffix"] = self.doi.partition("/")  # for clients building /dois/{prefix}/{suffix}
        return d


class DoiService:
    def __init__(
        self, sessions: Any, minter: Any, *, publisher: str, base_url: str, registry_host: str
    ) -> None:
        self.sessions = sessions
        self.minter = minter
        #: Mints ``test`` DOIs (``sciregistry demo``): DataCite's test prefix, never registered anywhere.
        self.test_minter = doilib.LocalMinter(TEST_DOI_PREFIX)
        self.publisher = publisher
        self.base_url = base_url.rstrip("/")
        self.registry_host = registry_host
        # Called as f(session, doi) inside the transaction that makes a DOI findable or withdraws
        # it (the search index subscribes here; composed in sciregistry.app).
        self.on_change: list[Callable[[Session, str], None]] = []

    def minter_for(self, doi: str) -> Any:
        """The minter that made ``doi``: the test minter for a test DOI when the configured minter
        mints under another prefix (DataCite), else the configured one."""
        if (
            doi.lower().startswith(TEST_DOI_PREFIX + "/")
            and getattr(self.minter, "prefix", TEST_DOI_PREFIX) != TEST_DOI_PREFIX
        ):
            return self.test_minter
        return self.minter

    # --- reading ---
    def _record(self, s: Session, row: Doi) -> DoiRecord:
        repo = (
            s.execute(select(Repository.name).where(Repository.id == row.repository_id)).scalar()
            if row.repository_id
            else None
        )
        concept = row.doi if row.is_concept else row.concept_doi
        versions: list[str] = []
        latest = None
        if concept:
            rows = s.execute(
                select(Doi.doi, Doi.state)
                .where(Doi.concept_doi == concept, Doi.is_concept.is_(False))
                .order_by(Doi.version)
            ).all()
            versions = [d for d, _ in rows]
            live = [d for d, state in rows if state == "findable"]
            latest = live[-1] if live else None
        return DoiRecord(
            row.doi,
            row.state,
            repo,
            row.result_digest,
            row.crate_digest,
            row.run_id,
            row.is_concept,
            row.concept_doi,
            row.previous_doi,
            row.version,
            json.loads(row.metadata_json),
            row.created_at.isoformat(),
            row.published_at.isoformat() if row.published_at else None,
            row.tombstone_reason,
            row.reproductions,
            versions,
            latest,
        )

    def get(self, doi: str) -> DoiRecord:
        norm = doilib.normalize_doi(doi)
        with self.sessions() as s:
            row = s.get(Doi, norm)
            if row is None:
                raise NotFound(f"DOI {norm} is not registered here")
            return self._record(s, row)

    def restrict_versions(self, record: DoiRecord, visible: list[str]) -> DoiRecord:
        """``record`` (a concept DOI) showing only the versions in ``visible``: its version list,
        its latest version and the ``HasVersion`` links of its metadata name no other."""
        from dataclasses import replace

        keep = set(visible)
        with self.sessions() as s:
            states = dict(s.execute(select(Doi.doi, Doi.state).where(Doi.doi.in_(keep))).all())
        versions = [v for v in record.versions if v in keep]
        live = [v for v in versions if states.get(v) == "findable"]
        metadata = dict(record.metadata)
        related = metadata.get("relatedIdentifiers")
        if isinstance(related, list):
            metadata["relatedIdentifiers"] = [
                r
                for r in related
                if not (
                    isinstance(r, dict)
                    and r.get("relationType") == "HasVersion"
                    and str(r.get("relatedIdentifier", "")).lower() not in keep
                )
            ]
        return replace(record, versions=versions, latest=live[-1] if live else None, metadata=metadata)

    def pins(self, doi: str) -> list[dict[str, str]]:
        norm = doilib.normalize_doi(doi)
        with self.sessions() as s:
            rows = s.execute(
                select(Repository.name, DoiPin.digest, DoiPin.kind, DoiPin.role)
                .join(Repository, Repository.id == DoiPin.repository_id)
                .where(DoiPin.doi == norm)
                .order_by(Repository.name, DoiPin.kind, DoiPin.digest)
            ).all()
        return [{"repository": r, "digest": d, "kind": k, "role": role} for r, d, k, role in rows]

    def for_results(self, results: list[tuple[str, str]]) -> list[dict[str, Any]]:
        if not results:
            return []
        with self.sessions() as s:
            out = []
            for repo, digest in results:
                for d, state in s.execute(
                    select(Doi.doi, Doi.state)
                    .join(Repository, Repository.id == Doi.repository_id)
                    .where(Repository.name == repo, Doi.result_digest == digest)
                ):
                    out.append({"doi": d, "repository": repo, "result_digest": digest, "state": state})
            return out

    def list_records(self, repository: str | None = None, limit: int = 100) -> list[DoiRecord]:
        with self.sessions() as s:
            q = select(Doi).order_by(Doi.created_at.desc()).limit(limit)
            if repository:
                q = q.join(Repository, Repository.id == Doi.repository_id).where(
                    Repository.name == repository
                )
            return [self._record(s, r) for r in s.execute(q).scalars()]

    # --- minting ---
    def _metadata(
        self,
        s: Session,
        repo: str,
        run: Run,
        result_digest: str,
        doi: str,
        *,
        title: str | None,
        creators: list[dict[str, Any]] | None,
        description: str,
        version: int,
        previous: str | None,
        concept: str | None,
    ) -> Any:
        from sciregistry.db.models import RunInput, RunStep

        if creators:
            people = [
                doilib.Creator.person(c["given_name"], c["family_name"], orcid=c.get("orcid"))
                if c.get("family_name")
                else doilib.Creator(c["name"], orcid=c.get("orcid"))
                for c in creators
            ]
        elif run.agent_name:
            parts = run.agent_name.rsplit(" ", 1)
            people = [
                doilib.Creator.person(parts[0], parts[1], orcid=run.agent_orcid)
                if len(parts) == 2
                else doilib.Creator(run.agent_name, orcid=run.agent_orcid)
            ]
        else:
            raise Conflict("the run names no agent: give creators")
        host = self.registry_host
        inputs = s.execute(
            select(RunInput.repository, RunInput.digest).where(RunInput.run_id == run.id)
        ).all()
        steps = [
            (name, f"{host}/{r}@{d}", self.base_url + routes.MANIFEST.url(name=r, ref=d))
            for name, r, d in s.execute(
                select(RunStep.name, RunStep.image_repository, RunStep.image_digest)
                .where(RunStep.run_id == run.id)
                .order_by(RunStep.position)
            )
        ]
        return doilib.build_result_metadata(
            title=title or run.name,
            creators=people,
            publisher=self.publisher,
            year=utcnow().year,
            url=f"{self.base_url}/doi/{doi}",
            image_ref=f"{host}/{run.image_repository}@{run.image_digest}",
            image_url=self.base_url + routes.MANIFEST.url(name=run.image_repository, ref=run.image_digest),
            result_ref=f"{host}/{repo}@{result_digest}",
            dataset_refs=[
                (f"{host}/{r}@{d}", self.base_url + routes.MANIFEST.url(name=r, ref=d)) for r, d in inputs
            ],
            crate_url=f"{self.base_url}/doi/{doi}?format=ro-crate",
            version=str(version),
            doi=doi,
            description=description,
            is_new_version_of=previous,
            is_version_of=concept,
            steps=steps,
        )

    def mint(
        self,
        repository: str,
        result_digest: str,
        *,
        title: str | None = None,
        creators: list[dict[str, Any]] | None = None,
        description: str = "",
        supersedes: str | None = None,
        created_by: str | None = None,
        can_read: ReadCheck | None = None,
        test: bool = False,
    ) -> DoiRecord:
        """Mint a DOI for a result whose run crate the registry admitted.

        ``can_read`` (whether the minter may read a repository; None when authentication is off)
        limits the closure to what the minter can read (see :func:`compute_closure`).
        ``test``: a test DOI under DataCite's test prefix ``10.5072`` (never registered at doi.org,
        whatever minter the registry is configured with), for demonstrations.

        Two phases, so the registry never holds a DOI the minter does not know and the minter never
        publishes a DOI the registry did not record: (1) one transaction records the DOI (and a new
        concept DOI) as drafts with their pins, and prepares the metadata updates of earlier
        versions; a unique index makes a concurrent mint of the same result fail here. (2) The
        minter reserves and publishes, then the drafts become findable. If the minter fails, phase 1
        is undone and the minter's error is raised.
        """
        if test and supersedes:
            raise Conflict("a test DOI cannot be a new version of another DOI (drop supersedes or test)")
        minter = self.minter_for(TEST_DOI_PREFIX + "/") if test else self.minter
        plan = _MintPlan()
        try:
            with self.sessions() as s, s.begin():
                doi = self._prepare(
                    s,
                    plan,
                    repository,
                    result_digest,
                    title=title,
                    creators=creators,
                    description=description,
                    supersedes=supersedes,
                    created_by=created_by,
                    can_read=can_read,
                    minter=minter,
                )
        except IntegrityError as exc:
            raise Conflict(f"{repository}@{result_digest} already has a DOI (minted concurrently)") from exc
        try:
            for new_doi, meta in plan.register:
                minter.reserve(meta)
                minter.publish(new_doi, meta)
            for old_doi, meta in plan.update:
                minter.update(old_doi, meta)
        except Exception:
            self._undo(plan)
            raise
        with self.sessions() as s, s.begin():
            for new_doi, _ in plan.register:
                row = s.get(Doi, new_doi)
                row.state = "findable"
                row.published_at = utcnow()
            s.flush()
            for new_doi, _ in plan.register:
                for f in self.on_change:
                    f(s, new_doi)
            return self._record(s, s.get(Doi, doi))

    def _prepare(
        self,
        s: Session,
        plan: _MintPlan,
        repository: str,
        result_digest: str,
        *,
        title: str | None,
        creators: list[dict[str, Any]] | None,
        description: str,
        supersedes: str | None,
        created_by: str | None,
        can_read: ReadCheck | None = None,
        minter: Any = None,
    ) -> str:
        minter = minter or self.minter
        rid = s.execute(select(Repository.id).where(Repository.name == repository)).scalar()
        if rid is None:
            raise NotFound(f"repository {repository} not found")
        run = s.execute(
            select(Run)
            .where(Run.repository_id == rid, Run.result_digest == result_digest)
            .order_by(Run.id.desc())
            .limit(1)
        ).scalar()
        if run is None:
            raise Conflict(
                f"{repository}@{result_digest} has no admitted run crate: record the run first "
                "(sciregistry run record) so the DOI can pin image, inputs and parameters"
            )
        existing = s.execute(
            select(Doi.doi).where(
                Doi.repository_id == rid, Doi.result_digest == result_digest, Doi.state != "tombstone"
            )
        ).scalar()
        if existing:
            raise Conflict(f"{repository}@{result_digest} already has DOI {existing}", {"doi": existing})
        closure = compute_closure(s, rid, result_digest, run, can_read)

        previous = concept = None
        version = 1
        if supersedes:
            prev = s.get(Doi, doilib.normalize_doi(supersedes))
            if prev is None or prev.is_concept:
                raise NotFound(f"supersedes: {supersedes} is not a version DOI registered here")
            if prev.repository_id != rid:
                raise Conflict("a new version must be in the same repository as the one it supersedes")
            previous = prev.doi
            concept = prev.concept_doi
            latest = (
                s.execute(select(func.max(Doi.version)).where(Doi.concept_doi == concept)).scalar()
                if concept
                else None
            )
            version = (latest or prev.version) + 1
        doi = minter.new_doi()
        if supersedes and concept is None:
            # first new version: create the concept DOI that will always resolve to the latest version
            concept = minter.new_doi()
            prev_row = s.get_one(Doi, previous)
            plan.snapshot(prev_row)
            cmeta = doilib.build_result_metadata(
                **_concept_args(json.loads(prev_row.metadata_json), self, concept, [prev_row.doi, doi])
            )
            self._register(s, plan, concept, cmeta, None, None, None, None, True, None, None, 0, created_by)
            prev_row.concept_doi = concept
        meta = self._metadata(
            s,
            repository,
            run,
            result_digest,
            doi,
            title=title,
            creators=creators,
            description=description,
            version=version,
            previous=previous,
            concept=concept,
        )
        self._register(
            s,
            plan,
            doi,
            meta,
            rid,
            result_digest,
            run.crate_digest,
            run.id,
            False,
            concept,
            previous,
            version,
            created_by,
        )
        for (prid, digest, kind), role in closure.items.items():
            s.add(DoiPin(doi=doi, repository_id=prid, digest=digest, kind=kind, role=role))
        if previous:
            self._relink_previous(s, plan, previous, doi)
        if concept and supersedes and not any(d == concept for d, _ in plan.register):
            self._refresh_concept(s, plan, concept)
        s.flush()
        _hold_pinned(s, closure.items)
        return doi

    def _register(
        self,
        s: Session,
        plan: _MintPlan,
        doi: str,
        meta: Any,
        rid: int | None,
        result: str | None,
        crate: str | None,
        run_id: int | None,
        is_concept: bool,
        concept: str | None,
        previous: str | None,
        version: int,
        created_by: str | None,
    ) -> None:
        doilib.check_metadata(meta)  # never send (or record) metadata that fails DataCite 4.5
        s.add(
            Doi(
                doi=doi,
                repository_id=rid,
                result_digest=result,
                crate_digest=crate,
                run_id=run_id,
                state="draft",
                is_concept=is_concept,
                concept_doi=concept,
                previous_doi=previous,
                version=version,
                metadata_json=json.dumps(doilib.to_datacite_json(meta)),
                created_by=created_by,
            )
        )
        s.flush()
        plan.register.append((doi, meta))

    def _undo(self, plan: _MintPlan) -> None:
        """Remove the drafts of a mint the minter refused, and restore what phase 1 changed."""
        with self.sessions() as s, s.begin():
            new = [d for d, _ in plan.register]
            s.execute(delete(DoiPin).where(DoiPin.doi.in_(new)))
            for d, (concept, metadata_json) in plan.saved.items():
                row = s.get(Doi, d)
                if row is not None:
                    row.concept_doi, row.metadata_json = concept, metadata_json
            s.execute(delete(Doi).where(Doi.doi.in_(new)))

    def _relink_previous(self, s: Session, plan: _MintPlan, previous: str, new: str) -> None:
        row = s.get_one(Doi, previous)
        plan.snapshot(row)
        meta = doilib.from_datacite_json(json.loads(row.metadata_json))
        related = [r for r in meta.related if r.relation_type != "IsPreviousVersionOf"]
        related.append(doilib.RelatedIdentifier(new, "DOI", "IsPreviousVersionOf", "Dataset"))
        if row.concept_doi and not any(r.relation_type == "IsVersionOf" for r in related):
            related.append(doilib.RelatedIdentifier(row.concept_doi, "DOI", "IsVersionOf", "Dataset"))
        from dataclasses import replace

        meta = replace(meta, related=related)
        plan.update.append((previous, meta))
        row.metadata_json = json.dumps(doilib.to_datacite_json(meta))

    def _refresh_concept(self, s: Session, plan: _MintPlan, concept: str) -> None:
        row = s.get_one(Doi, concept)
        plan.snapshot(row)
        versions = list(
            s.execute(
                select(Doi.doi)
                .where(Doi.concept_doi == concept, Doi.is_concept.is_(False))
                .order_by(Doi.version)
            ).scalars()
        )
        meta = doilib.from_datacite_json(json.loads(row.metadata_json))
        related = [r for r in meta.related if r.relation_type != "HasVersion"]
        related += [doilib.RelatedIdentifier(v, "DOI", "HasVersion", "Dataset") for v in versions]
        from dataclasses import replace

        meta = replace(meta, related=related)
        plan.update.append((concept, meta))
        row.metadata_json = json.dumps(doilib.to_datacite_json(meta))

    def finish_interrupted(self, older_than: int = 600, *, dry_run: bool = False) -> list[str]:
        """Complete mints a crash interrupted between phase 1 and phase 3 (see :meth:`mint`).

        A draft older than ``older_than`` seconds is such a mint: its row, metadata and pins were
        committed, and the minter may or may not have published it. Publishing is idempotent (DataCite
        creates or updates on PUT), so the mint is driven forward, never undone: the DOI is published
        from its recorded metadata, the versions it links to are updated, and it becomes findable. A
        draft the minter still refuses stays a draft for the next run. Returns the DOIs completed."""
        cutoff = utcnow() - dt.timedelta(seconds=older_than)
        with self.sessions() as s:
            stale = list(
                s.execute(
                    select(Doi.doi)
                    .where(Doi.state == "draft", Doi.created_at < cutoff)
                    .order_by(Doi.is_concept.desc(), Doi.created_at)
                ).scalars()
            )
        if dry_run:
            return stale
        done: list[str] = []
        for doi in stale:
            with self.sessions() as s:
                row = s.get(Doi, doi)
                if row is None or row.state != "draft":
                    continue
                linked = [d for d in (row.previous_doi, row.concept_doi) if d]
                meta = doilib.from_datacite_json(json.loads(row.metadata_json))
                related = [
                    (d, doilib.from_datacite_json(json.loads(r.metadata_json)))
                    for d in linked
                    if (r := s.get(Doi, d)) is not None and r.state != "draft"
                ]
            try:
                self.minter_for(doi).publish(doi, meta)
                for other, other_meta in related:
                    self.minter_for(other).update(other, other_meta)
            except Exception as exc:
                log.warning("interrupted mint of %s could not be completed yet: %s", doi, exc)
                continue
            with self.sessions() as s, s.begin():
                row = s.get(Doi, doi)
                if row is not None and row.state == "draft":
                    row.state = "findable"
                    row.published_at = utcnow()
                    done.append(doi)
        return done

    # --- tombstones and reproductions ---
    def tombstone(self, doi: str, reason: str) -> DoiRecord:
        """Withdraw a DOI (admin only): it keeps resolving, to a tombstone page. Its pins are kept:
        the bytes stay until an operator decides otherwise; the DOI is never deleted."""
        norm = doilib.normalize_doi(doi)
        with self.sessions() as s, s.begin():
            row = s.get(Doi, norm)
            if row is None:
                raise NotFound(f"DOI {norm} is not registered here")
            if row.state == "tombstone":
                raise Conflict(f"DOI {norm} is already withdrawn")
            meta = doilib.from_datacite_json(json.loads(row.metadata_json))
            meta = doilib.withdrawn_metadata(
                meta, reason, dt.datetime.now(dt.UTC).date().isoformat(), url=f"{self.base_url}/doi/{norm}"
            )
            self.minter_for(norm).tombstone(norm, reason, url=f"{self.base_url}/doi/{norm}")
            row.state = "tombstone"
            row.tombstone_reason = reason
            row.metadata_json = json.dumps(doilib.to_datacite_json(meta))
            s.flush()
            for f in self.on_change:
                f(s, norm)
            return self._record(s, row)

    def count_reproduction(self, repository: str, result_digest: str) -> None:
        with self.sessions() as s, s.begin():
            for row in s.execute(
                select(Doi)
                .join(Repository, Repository.id == Doi.repository_id)
                .where(Repository.name == repository, Doi.result_digest == result_digest)
            ).scalars():
                row.reproductions += 1


@dataclass
class _MintPlan:
    """What phase 1 of a mint recorded: DOIs to register, updates to send, rows to restore on failure."""

    register: list[tuple[str, Any]] = field(default_factory=list)
    update: list[tuple[str, Any]] = field(default_factory=list)
    saved: dict[str, tuple[str | None, str]] = field(default_factory=dict)

    def snapshot(self, row: Doi) -> None:
        self.saved.setdefault(row.doi, (row.concept_doi, row.metadata_json))


def _concept_args(
    prev_attrs: dict[str, Any], svc: DoiService, concept: str, versions: list[str]
) -> dict[str, Any]:
    meta = doilib.from_datacite_json(prev_attrs)
    alt = {t: i for i, t in meta.alternate_identifiers}
    image_ref = alt.get(doilib.ALT_ID_IMAGE)
    result_ref = alt.get(doilib.ALT_ID_RESULT)
    image_url = next((r.identifier for r in meta.related if r.relation_type == "IsCompiledBy"), svc.base_url)
    datasets = [("", r.identifier) for r in meta.related if r.relation_type == "IsDerivedFrom"]
    return {
        "title": meta.title,
        "creators": list(meta.creators),
        "publisher": meta.publisher,
        "year": meta.publication_year,
        "url": f"{svc.base_url}/doi/{concept}",
        "image_ref": image_ref,
        "image_url": image_url,
        "result_ref": result_ref,
        "dataset_refs": [(u, u) for _, u in datasets],
        "crate_url": f"{svc.base_url}/doi/{concept}?format=ro-crate",
        "doi": concept,
        "description": meta.description,
        "has_versions": versions,
    }


def _hold_pinned(s: Session, items: Any) -> None:
    """Lock every pinned repository (the lock gc sweeps a repository under) and check that each
    pinned object still exists: gc may have collected one between the closure's read and now; after
    this, gc's locked re-read sees the pins (docs/architecture.md, Garbage collection)."""
    from sciregistry.db.models import RepositoryBlob
    from sciregistry.registry.base import lock_repositories

    lock_repositories(s, {prid for prid, _, _ in items})
    for prid, digest, kind in items:
        q: Select[Any]
        if kind == "manifest":
            q = select(Manifest.id).where(Manifest.repository_id == prid, Manifest.digest == digest)
        else:
            q = select(RepositoryBlob.digest).where(
                RepositoryBlob.repository_id == prid, RepositoryBlob.digest == digest
            )
        if s.execute(q.limit(1)).first() is None:
            raise Conflict(
                f"{digest} was deleted while the DOI was minted; push it again, then retry",
                {"digest": digest},
            )
