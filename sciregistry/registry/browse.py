"""Read models for the web pages: what a namespace, repository, tag list and manifest look like.

Every function takes the caller's :class:`~sciregistry.registry.search.Reader` or is called only
after the caller was authorized for the repository (the pages do that), and answers from
indexed queries: ``search_entries`` (kind, namespace/repository), ``tags`` (repository_id),
``manifests`` (repository_id, digest) and (repository_id, subject_digest).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sciregistry.db.models import Manifest, ManifestRef, Repository, SearchEntry, Tag
from sciregistry.errors import BadRequest, ManifestUnknown, NameUnknown
from sciregistry.oci import INDEX_TYPES, OCI_CONFIG, artifacts
from sciregistry.registry.search import Reader, counts
from sciregistry.storage import BlobNotFound, BlobStore

MAX_CONFIG = 1 << 20
MAX_REFERRER_NODES = 200


@dataclass(frozen=True)
class EntryRow:
    """One newest run or DOI on the home page (from the search index)."""

    kind: str
    repository: str
    title: str
    ref: str
    digest: str | None
    created_at: datetime


@dataclass(frozen=True)
class HomeView:
    counts: dict[str, int]
    newest_runs: list[EntryRow]
    newest_dois: list[EntryRow]


@dataclass(frozen=True)
class NamespaceRow:
    name: str
    repositories: int


@dataclass(frozen=True)
class RepositoryRow:
    name: str
    created_at: datetime


@dataclass(frozen=True)
class TagRow:
    name: str
    digest: str
    media_type: str
    artifact_type: str | None
    size: int
    updated_at: datetime


@dataclass(frozen=True)
class TagPage:
    repository: str
    items: list[TagRow]
    page: int
    per_page: int
    total: int
    sort: str

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.total


@dataclass(frozen=True)
class Layer:
    index: int
    digest: str
    size: int
    media_type: str
    title: str | None

    @property
    def sha256(self) -> str:
        return self.digest.split(":", 1)[1] if self.digest.startswith("sha256:") else ""


@dataclass(frozen=True)
class Platform:
    digest: str
    media_type: str
    size: int
    platform: str
    present: bool


@dataclass(frozen=True)
class ConfigSummary:
    os: str | None = None
    architecture: str | None = None
    created: str | None = None
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    working_dir: str | None = None
    user: str | None = None
    env: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    history: int = 0


@dataclass(frozen=True)
class Referrer:
    digest: str
    artifact_type: str | None
    media_type: str
    size: int
    created_at: datetime
    annotations: dict[str, str]
    children: list[Referrer] = field(default_factory=list)


@dataclass(frozen=True)
class ManifestView:
    repository: str
    digest: str
    media_type: str
    artifact_type: str | None
    size: int
    created_at: datetime
    kind: str  # image | index | dataset | result | crate | report | artifact
    annotations: dict[str, str]
    tags: list[str]
    subject: str | None
    config_digest: str | None
    config_media_type: str | None
    config: ConfigSummary | None
    layers: list[Layer]
    platforms: list[Platform]
    parents: list[str]  # indexes in this repository that list this manifest
    referrers: list[Referrer]

    @property
    def total_size(self) -> int:
        return self.size + sum(ly.size for ly in self.layers)


IMAGE_CONFIG_TYPES = frozenset({OCI_CONFIG, "application/vnd.docker.container.image.v1+json"})


def kind_of(media_type: str, artifact_type: str | None) -> str:
    """image, index, dataset, result, crate, report or artifact (``artifact_type`` as stored: the
    manifest's artifactType, else its config media type)."""
    if media_type in INDEX_TYPES:
        return "index"
    if artifact_type in IMAGE_CONFIG_TYPES:
        return "image"
    return {
        artifacts.DATASET: "dataset",
        artifacts.RESULT: "result",
        artifacts.ROCRATE: "crate",
        artifacts.REPORT: "report",
    }.get(artifact_type or "", "artifact" if artifact_type else "image")


def _platform(p: Any) -> str:
    if not isinstance(p, dict):
        return "unknown"
    parts = [str(p.get("os", "?")), str(p.get("architecture", "?"))]
    if p.get("variant"):
        parts.append(str(p["variant"]))
    return "/".join(parts)


def _str_list(v: Any) -> list[str] | None:
    return [str(x) for x in v] if isinstance(v, list) else None


class BrowseQueries:
    def __init__(self, sessions: Any, store: BlobStore) -> None:
        self.sessions = sessions
        self.store = store

    # --- home and listings ----------------------------------------------------------------------
    def home(self, reader: Reader, newest: int = 6) -> HomeView:
        with self.sessions() as s:
            return HomeView(
                counts(s, reader),
                self._newest(s, reader, "run", newest),
                self._newest(s, reader, "doi", newest),
            )

    def _newest(self, s: Session, reader: Reader, kind: str, n: int) -> list[EntryRow]:
        e = SearchEntry
        q = select(e.kind, e.repository, e.title, e.ref, e.digest, e.created_at).where(e.kind == kind)
        cond = reader.clause(e.namespace, e.repository)
        if cond is not None:
            q = q.where(cond)
        return [EntryRow(*row) for row in s.execute(q.order_by(e.id.desc()).limit(n)).all()]

    def entries(
        self, reader: Reader, kind: str, *, page: int = 1, per_page: int = 50
    ) -> tuple[list[EntryRow], bool]:
        """Index entries of one kind (datasets, DOIs, runs), newest first, a page at a time."""
        if not 1 <= page <= 100_000:
            raise BadRequest("page out of range")
        e = SearchEntry
        q = select(e.kind, e.repository, e.title, e.ref, e.digest, e.created_at).where(e.kind == kind)
        cond = reader.clause(e.namespace, e.repository)
        if cond is not None:
            q = q.where(cond)
        rows = s_all(self.sessions, q.order_by(e.id.desc()).offset((page - 1) * per_page).limit(per_page + 1))
        return [EntryRow(*r) for r in rows[:per_page]], len(rows) > per_page

    def namespaces(self, reader: Reader) -> list[NamespaceRow]:
        e = SearchEntry
        q = select(e.namespace, func.count()).where(e.kind == "repository")
        cond = reader.clause(e.namespace, e.repository)
        if cond is not None:
            q = q.where(cond)
        return [
            NamespaceRow(n, c) for n, c in s_all(self.sessions, q.group_by(e.namespace).order_by(e.namespace))
        ]

    def repositories(
        self, reader: Reader, namespace: str, *, page: int = 1, per_page: int = 100
    ) -> tuple[list[RepositoryRow], bool]:
        if page < 1 or page > 10_000:
            raise BadRequest("page out of range")
        e = SearchEntry
        q = select(e.repository, e.created_at).where(e.kind == "repository", e.namespace == namespace)
        cond = reader.clause(e.namespace, e.repository)
        if cond is not None:
            q = q.where(cond)
        rows = s_all(
            self.sessions, q.order_by(e.repository).offset((page - 1) * per_page).limit(per_page + 1)
        )
        return [RepositoryRow(n, c) for n, c in rows[:per_page]], len(rows) > per_page

    # --- one repository ---------------------------------------------------------------------------
    def tags(self, repository: str, *, page: int = 1, per_page: int = 50, sort: str = "date") -> TagPage:
        if sort not in ("date", "name"):
            raise BadRequest("sort must be 'date' or 'name'")
        if not 1 <= page <= 100_000:
            raise BadRequest("page out of range")
        with self.sessions() as s:
            rid = s.execute(select(Repository.id).where(Repository.name == repository)).scalar()
            if rid is None:
                raise NameUnknown(detail={"name": repository})
            total = s.execute(
                select(func.count()).select_from(Tag).where(Tag.repository_id == rid)
            ).scalar_one()
            order = [Tag.updated_at.desc(), Tag.name] if sort == "date" else [Tag.name]
            rows = s.execute(
                select(
                    Tag.name,
                    Manifest.digest,
                    Manifest.media_type,
                    Manifest.artifact_type,
                    Manifest.size,
                    Tag.updated_at,
                )
                .join(Manifest, Manifest.id == Tag.manifest_id)
                .where(Tag.repository_id == rid)
                .order_by(*order)
                .offset((page - 1) * per_page)
                .limit(per_page)
            ).all()
        return TagPage(repository, [TagRow(*r) for r in rows], page, per_page, int(total), sort)

    def manifest(self, repository: str, digest: str) -> ManifestView:
        with self.sessions() as s:
            row = s.execute(
                select(Manifest)
                .join(Repository, Repository.id == Manifest.repository_id)
                .where(Repository.name == repository, Manifest.digest == digest)
            ).scalar()
            if row is None:
                raise ManifestUnknown(detail={"reference": digest[:200]})
            try:
                doc = json.loads(row.content)
            except ValueError:
                doc = {}
            tags = list(
                s.execute(select(Tag.name).where(Tag.manifest_id == row.id).order_by(Tag.name)).scalars()
            )
            parents = list(
                s.execute(
                    select(Manifest.digest)
                    .join(ManifestRef, ManifestRef.manifest_id == Manifest.id)
                    .where(
                        Manifest.repository_id == row.repository_id,
                        ManifestRef.digest == digest,
                        ManifestRef.kind == "manifest",
                    )
                ).scalars()
            )
            kind = kind_of(row.media_type, row.artifact_type)
            layers = [
                Layer(
                    i,
                    str(ly.get("digest", "")),
                    int(ly.get("size", 0) or 0),
                    str(ly.get("mediaType", "")),
                    (ly.get("annotations") or {}).get(artifacts.TITLE),
                )
                for i, ly in enumerate(doc.get("layers", []) or [])
                if isinstance(ly, dict)
            ]
            platforms: list[Platform] = []
            if kind == "index":
                children = [m for m in doc.get("manifests", []) or [] if isinstance(m, dict)]
                present = set(
                    s.execute(
                        select(Manifest.digest).where(
                            Manifest.repository_id == row.repository_id,
                            Manifest.digest.in_([str(m.get("digest")) for m in children]),
                        )
                    ).scalars()
                )
                platforms = [
                    Platform(
                        str(m.get("digest")),
                        str(m.get("mediaType", "")),
                        int(m.get("size", 0) or 0),
                        _platform(m.get("platform")),
                        str(m.get("digest")) in present,
                    )
                    for m in children
                ]
            referrers = self._referrers(s, row.repository_id, digest)
            config = doc.get("config") if isinstance(doc.get("config"), dict) else None
            annotations = json.loads(row.annotations) if row.annotations else {}
        summary = self._config(config) if kind == "image" and config else None
        return ManifestView(
            repository,
            row.digest,
            row.media_type,
            row.artifact_type,
            row.size,
            row.created_at,
            kind,
            {str(k): str(v) for k, v in annotations.items()},
            tags,
            row.subject_digest,
            str(config.get("digest")) if config else None,
            str(config.get("mediaType")) if config else None,
            summary,
            layers,
            platforms,
            parents,
            referrers,
        )

    def _referrers(self, s: Session, repository_id: int, digest: str) -> list[Referrer]:
        """The referrers of ``digest`` and theirs, breadth-first, at most MAX_REFERRER_NODES."""
        budget = [MAX_REFERRER_NODES]

        def level(subjects: list[str], depth: int) -> dict[str, list[Referrer]]:
            if not subjects or depth > 6 or budget[0] <= 0:
                return {}
            rows = s.execute(
                select(
                    Manifest.digest,
                    Manifest.artifact_type,
                    Manifest.media_type,
                    Manifest.size,
                    Manifest.created_at,
                    Manifest.annotations,
                    Manifest.subject_digest,
                )
                .where(Manifest.repository_id == repository_id, Manifest.subject_digest.in_(subjects))
                .order_by(Manifest.id)
                .limit(budget[0])
            ).all()
            budget[0] -= len(rows)
            below = level([r.digest for r in rows], depth + 1)
            out: dict[str, list[Referrer]] = {}
            for r in rows:
                ann = json.loads(r.annotations) if r.annotations else {}
                out.setdefault(r.subject_digest, []).append(
                    Referrer(
                        r.digest,
                        r.artifact_type,
                        r.media_type,
                        r.size,
                        r.created_at,
                        {str(k): str(v) for k, v in ann.items()},
                        below.get(r.digest, []),
                    )
                )
            return out

        return level([digest], 0).get(digest, [])

    def _config(self, config: dict[str, Any]) -> ConfigSummary | None:
        digest, size = str(config.get("digest", "")), int(config.get("size", 0) or 0)
        if size > MAX_CONFIG:
            return None
        try:
            with self.store.open(digest) as f:
                doc = json.loads(f.read(MAX_CONFIG + 1))
        except (BlobNotFound, ValueError, OSError):
            return None
        if not isinstance(doc, dict):
            return None
        raw_config = doc.get("config")
        c: dict[str, Any] = raw_config if isinstance(raw_config, dict) else {}
        raw_labels = c.get("Labels")
        labels: dict[str, Any] = raw_labels if isinstance(raw_labels, dict) else {}
        return ConfigSummary(
            doc.get("os"),
            doc.get("architecture"),
            doc.get("created"),
            _str_list(c.get("Entrypoint")),
            _str_list(c.get("Cmd")),
            c.get("WorkingDir") or None,
            c.get("User") or None,
            _str_list(c.get("Env")) or [],
            {str(k): str(v) for k, v in labels.items()},
            len(doc.get("history", [])) if isinstance(doc.get("history"), list) else 0,
        )

    def layer(self, repository: str, digest: str, index: int) -> Layer:
        """Layer ``index`` of manifest ``repository@digest`` (a dataset file: its title is its name)."""
        view_layers = self.manifest_layers(repository, digest)
        if not 0 <= index < len(view_layers):
            raise ManifestUnknown(
                "no such file in this manifest", {"reference": digest[:200], "index": index}
            )
        return view_layers[index]

    def manifest_layers(self, repository: str, digest: str) -> list[Layer]:
        with self.sessions() as s:
            content = s.execute(
                select(Manifest.content)
                .join(Repository, Repository.id == Manifest.repository_id)
                .where(Repository.name == repository, Manifest.digest == digest)
            ).scalar()
        if content is None:
            raise ManifestUnknown(detail={"reference": digest[:200]})
        try:
            doc = json.loads(content)
        except ValueError:
            return []
        return [
            Layer(
                i,
                str(ly.get("digest", "")),
                int(ly.get("size", 0) or 0),
                str(ly.get("mediaType", "")),
                (ly.get("annotations") or {}).get(artifacts.TITLE),
            )
            for i, ly in enumerate(doc.get("layers", []) or [])
            if isinstance(ly, dict)
        ]


def s_all(sessions: Any, q: Any) -> list[Any]:
    with sessions() as s:
        return list(s.execute(q).all())
