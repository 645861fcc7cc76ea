"""Search across repositories, tags, datasets, results, runs and DOIs, and who may see what.

The index (``search_entries``, see :mod:`sciregistry.db.models.search`) is written inside the
transactions that change what it describes, so it is never behind:

    what changes            what is (re)indexed                                    by
    manifest push           repository (first push), tag, dataset or result entry  on_manifest_push
    tag set or moved        tag entry                                              on_tag_set
    tag moved or deleted    tag entry removed (re-added by the push that moves it) check_tag_change
    manifest deleted        its dataset/result entry                               check_manifest_delete
    run crate admitted      run entry (parameters, command, agent, image, inputs)  on_manifest_push
    DOI recorded/changed    DOI entry (title, creators, state)                     index_doi

(the hooks of :class:`SearchIndex`). Full text: SQLite FTS5 (``bm25``, title weighted 10:1) or
PostgreSQL ``tsvector`` (``ts_rank``, title weight A), among the 2,000 newest matches. Every query
term is a prefix (``gc-cont`` finds ``gc-content``); all terms must match. A term that looks like a
digest or a hex prefix of one (``sha256:3fa9``, ``3fa9c1``, at least 4 hex digits) also finds
manifests by digest (an index range scan), ranked first.

Visibility is a :class:`Reader`: the same rule as ``sciregistry.auth.held_actions``, expressed
as SQL on the ``namespace``/``repository`` columns, so a private repository is missing from
results, counts and pages for whoever cannot read it.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, column, delete, false, func, literal_column, or_, select, table
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from sciregistry.db.models import Doi, Manifest, Repository, Run, RunInput, RunParameter, SearchEntry, Tag
from sciregistry.errors import BadRequest
from sciregistry.oci import artifacts
from sciregistry.registry.hooks import NoHooks
from sciregistry.registry.types import ManifestPush

KINDS = ("repository", "tag", "dataset", "result", "run", "doi", "manifest")
MAX_QUERY = 200
CANDIDATES = 2000  # matches ranked per query: the newest ones (see SearchQueries._fulltext)
_TERM = re.compile(r"[^\W_]+", re.UNICODE)
_FTS = table("search_fts", column("rowid"), column("search_fts"))  # SQLite only (migration 0010)
_HEX = re.compile(r"^(?:sha256:|sha512:)?([0-9a-f]{4,128})$")


def namespace_of(repository: str) -> str:
    return repository.split("/", 1)[0]


# --- who reads --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reader:
    """Which repositories a caller may read.

    ``everything``: all of them. Otherwise a repository is readable when its namespace is in
    ``namespaces`` and it is not in ``hidden``, or when it is in ``extra``.
    """

    everything: bool = False
    namespaces: frozenset[str] = frozenset()
    hidden: frozenset[str] = frozenset()
    extra: frozenset[str] = frozenset()

    def can_read(self, repository: str | None) -> bool:
        if repository is None or self.everything:
            return True
        if repository in self.extra:
            return True
        return namespace_of(repository) in self.namespaces and repository not in self.hidden

    def clause(self, namespace_col: Any, repository_col: Any) -> ColumnElement[bool] | None:
        """SQL for "readable" over two columns (None: no restriction)."""
        if self.everything:
            return None
        parts: list[ColumnElement[bool]] = []
        if self.namespaces:
            cond: ColumnElement[bool] = namespace_col.in_(sorted(self.namespaces))
            if self.hidden:
                cond = and_(cond, repository_col.not_in(sorted(self.hidden)))
            parts.append(cond)
        if self.extra:
            parts.append(repository_col.in_(sorted(self.extra)))
        return or_(*parts) if parts else false()

    def repository_clause(self, name_col: Any) -> ColumnElement[bool] | None:
        """SQL over a repository-name column alone (namespace ranges: ``name >= 'ns/' AND name < 'ns0'``,
        '0' being the character after '/', so an index on the name serves it)."""
        if self.everything:
            return None
        parts: list[ColumnElement[bool]] = []
        for ns in sorted(self.namespaces):
            parts.append(and_(name_col >= ns + "/", name_col < ns + "0"))
        cond = or_(*parts) if parts else false()
        if self.hidden:
            cond = and_(cond, name_col.not_in(sorted(self.hidden)))
        if self.extra:
            cond = or_(cond, name_col.in_(sorted(self.extra)))
        return cond


EVERYONE = Reader(everything=True)


# --- writing the index --------------------------------------------------------------------------


def _upsert(s: Session, key: str, **values: Any) -> None:
    row = s.execute(select(SearchEntry).where(SearchEntry.key == key)).scalar()
    if row is None:
        s.add(SearchEntry(key=key, **values))
    else:
        for k, v in values.items():
            setattr(row, k, v)
    s.flush()


def _drop(s: Session, *keys: str) -> None:
    if keys:
        s.execute(delete(SearchEntry).where(SearchEntry.key.in_(keys)))


def _words(*parts: Any) -> str:
    return " ".join(str(p) for p in parts if p not in (None, ""))


def _manifest_kind(artifact_type: str | None) -> str | None:
    return {artifacts.DATASET: "dataset", artifacts.RESULT: "result"}.get(artifact_type or "")


def _layer_titles(content: bytes) -> list[str]:
    try:
        doc = json.loads(content)
    except ValueError:
        return []
    out = []
    for ly in doc.get("layers", []) if isinstance(doc, dict) else []:
        title = (ly.get("annotations") or {}).get(artifacts.TITLE) if isinstance(ly, dict) else None
        if isinstance(title, str):
            out.append(title)
    return out


def _annotations_text(annotations: str | None) -> str:
    try:
        ann = json.loads(annotations) if annotations else {}
    except ValueError:
        return ""
    return " ".join(str(v) for k, v in ann.items() if isinstance(v, str) and k != artifacts.CREATED)


def index_repository(s: Session, repository: str) -> None:
    key = f"repository:{repository}"
    if s.execute(select(SearchEntry.id).where(SearchEntry.key == key)).first() is None:
        s.add(
            SearchEntry(
                key=key,
                kind="repository",
                namespace=namespace_of(repository),
                repository=repository,
                title=repository,
                body=repository.replace("/", " "),
                ref=repository,
                digest=None,
            )
        )
        s.flush()


def index_tag(s: Session, repository: str, tag: str, digest: str, artifact_type: str | None) -> None:
    _upsert(
        s,
        f"tag:{repository}:{tag}",
        kind="tag",
        namespace=namespace_of(repository),
        repository=repository,
        title=f"{repository}:{tag}",
        body=_words(repository.replace("/", " "), tag, _manifest_kind(artifact_type)),
        ref=tag,
        digest=digest,
    )


def index_manifest(
    s: Session,
    repository: str,
    digest: str,
    artifact_type: str | None,
    content: bytes,
    annotations: str | None,
) -> None:
    kind = _manifest_kind(artifact_type)
    if kind is None:
        return
    ann = _annotations_text(annotations)
    title = ann.split("  ")[0] if ann else ""
    with contextlib.suppress(ValueError):
        title = json.loads(annotations or "{}").get(artifacts.TITLE) or title
    _upsert(
        s,
        f"{kind}:{repository}@{digest}",
        kind=kind,
        namespace=namespace_of(repository),
        repository=repository,
        title=title or f"{repository}@{digest[:19]}",
        body=_words(repository.replace("/", " "), ann, " ".join(_layer_titles(content))),
        ref=digest,
        digest=digest,
    )


def index_run(s: Session, run: Run, repository: str) -> None:
    params = s.execute(
        select(RunParameter.name, RunParameter.value).where(RunParameter.run_id == run.id)
    ).all()
    inputs = s.execute(select(RunInput.name).where(RunInput.run_id == run.id)).scalars().all()
    # Only what the run's own repository says: the image and input repositories may be private
    # where the run is public, and an entry is shown by the visibility of its own repository.
    body = _words(
        " ".join(f"{n} {v}" for n, v in params),
        run.command,
        run.agent_name,
        run.agent_orcid,
        " ".join(inputs),
        repository,
    )
    _upsert(
        s,
        f"run:{run.id}",
        kind="run",
        namespace=namespace_of(repository),
        repository=repository,
        title=run.name or f"run {run.id}",
        body=body,
        ref=str(run.id),
        digest=run.result_digest,
    )


def index_doi(s: Session, doi: str) -> None:
    """(Re)index DOI ``doi`` from its row (title, creators, subjects, description, state)."""
    row = s.get(Doi, doi)
    if row is None:
        _drop(s, f"doi:{doi}")
        return
    repo = (
        s.execute(select(Repository.name).where(Repository.id == row.repository_id)).scalar()
        if row.repository_id
        else None
    )
    try:
        meta = json.loads(row.metadata_json)
    except ValueError:
        meta = {}
    titles = [t.get("title", "") for t in meta.get("titles", []) if isinstance(t, dict)]
    creators = [c.get("name", "") for c in meta.get("creators", []) if isinstance(c, dict)]
    subjects = [x.get("subject", "") for x in meta.get("subjects", []) if isinstance(x, dict)]
    descriptions = [d.get("description", "") for d in meta.get("descriptions", []) if isinstance(d, dict)]
    _upsert(
        s,
        f"doi:{doi}",
        kind="doi",
        namespace=namespace_of(repo or ""),
        repository=repo or "",
        title=titles[0] if titles else doi,
        body=_words(
            doi,
            " ".join(titles[1:]),
            " ".join(creators),
            " ".join(subjects),
            " ".join(descriptions),
            row.state,
        ),
        ref=doi,
        digest=row.result_digest,
    )


class SearchIndex(NoHooks):
    """The registry hook that keeps the index current (added last: it sees the run row RunIndex wrote)."""

    def on_manifest_push(self, session: Session, push: ManifestPush) -> None:
        index_repository(session, push.repository)
        m = session.get(Manifest, push.manifest_id)
        if m is not None:
            index_manifest(
                session, push.repository, push.digest, m.artifact_type, push.content, m.annotations
            )
            if push.tag:
                index_tag(session, push.repository, push.tag, push.digest, m.artifact_type)
        if push.parsed.artifact_type_field == artifacts.ROCRATE:
            run = session.execute(select(Run).where(Run.crate_manifest_id == push.manifest_id)).scalar()
            if run is not None:
                index_run(session, run, push.repository)

    def on_tag_set(self, session: Session, repository_id: int, tag: str, manifest_id: int) -> None:
        row = session.execute(
            select(Repository.name, Manifest.digest, Manifest.artifact_type)
            .join(Manifest, Manifest.repository_id == Repository.id)
            .where(Manifest.id == manifest_id)
        ).first()
        if row is not None:
            index_repository(session, row.name)
            index_tag(session, row.name, tag, row.digest, row.artifact_type)

    def check_tag_change(self, session: Session, repository_id: int, tag: str, old_manifest_id: int) -> None:
        name = session.execute(select(Repository.name).where(Repository.id == repository_id)).scalar()
        if name is not None:
            _drop(session, f"tag:{name}:{tag}")

    def check_manifest_delete(
        self, session: Session, repository_id: int, manifest_id: int, digest: str
    ) -> None:
        name = session.execute(select(Repository.name).where(Repository.id == repository_id)).scalar()
        if name is None:
            return
        _drop(session, f"dataset:{name}@{digest}", f"result:{name}@{digest}")
        run_ids = session.execute(select(Run.id).where(Run.crate_manifest_id == manifest_id)).scalars().all()
        _drop(session, *[f"run:{i}" for i in run_ids])


def rebuild(s: Session) -> int:
    """Index everything the database holds (after the upgrade to 0010, or after a bulk load);
    returns the number of entries. Replaces whatever the index held."""
    s.execute(delete(SearchEntry))
    names = dict(s.execute(select(Repository.id, Repository.name)).all())
    for name in names.values():
        index_repository(s, name)
    for rid, tag, digest, at in s.execute(
        select(Tag.repository_id, Tag.name, Manifest.digest, Manifest.artifact_type).join(
            Manifest, Manifest.id == Tag.manifest_id
        )
    ):
        index_tag(s, names[rid], tag, digest, at)
    for rid, digest, at, content, ann in s.execute(
        select(
            Manifest.repository_id,
            Manifest.digest,
            Manifest.artifact_type,
            Manifest.content,
            Manifest.annotations,
        ).where(Manifest.artifact_type.in_([artifacts.DATASET, artifacts.RESULT]))
    ):
        index_manifest(s, names[rid], digest, at, content, ann)
    for run in s.execute(select(Run)).scalars():
        index_run(s, run, names[run.repository_id])
    for doi in s.execute(select(Doi.doi)).scalars().all():
        index_doi(s, doi)
    s.flush()
    return int(s.execute(select(func.count()).select_from(SearchEntry)).scalar_one())


# --- reading the index ------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    kind: str
    repository: str
    title: str
    ref: str
    digest: str | None
    snippet: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "repository": self.repository or None,
            "title": self.title,
            "ref": self.ref,
            "digest": self.digest,
            "snippet": self.snippet,
        }


@dataclass(frozen=True)
class SearchPage:
    query: str
    kind: str | None
    page: int
    per_page: int
    hits: list[SearchHit] = field(default_factory=list)
    has_next: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "kind": self.kind,
            "page": self.page,
            "per_page": self.per_page,
            "items": [h.to_dict() for h in self.hits],
            "has_next": self.has_next,
        }


def terms(query: str) -> list[str]:
    return [t.lower() for t in _TERM.findall(query)][:16]


def _snippet(body: str, words: list[str], width: int = 140) -> str:
    low = body.lower()
    pos = min((i for i in (low.find(w) for w in words) if i >= 0), default=0)
    start = max(0, pos - 40)
    out = body[start : start + width]
    return ("..." if start else "") + out + ("..." if start + width < len(body) else "")


class SearchQueries:
    """Read side: ranked, paginated, filtered by the reader's visibility."""

    def __init__(self, sessions: Any) -> None:
        self.sessions = sessions

    def search(
        self,
        query: str,
        *,
        reader: Reader = EVERYONE,
        kind: str | None = None,
        page: int = 1,
        per_page: int = 20,
    ) -> SearchPage:
        query = (query or "").strip()
        if len(query) > MAX_QUERY:
            raise BadRequest(f"query longer than {MAX_QUERY} characters")
        if kind is not None and kind not in KINDS:
            raise BadRequest(f"unknown kind {kind[:40]!r}; use one of: {', '.join(KINDS)}")
        if not 1 <= per_page <= 100:
            raise BadRequest("per_page must be between 1 and 100")
        if not 1 <= page <= 1000:
            raise BadRequest("page must be between 1 and 1000")
        words = terms(query)
        if not words:
            return SearchPage(query, kind, page, per_page)
        offset, want = (page - 1) * per_page, per_page + 1
        with self.sessions() as s:
            digest_hits = self._digest_hits(s, query, reader, kind)
            fulltext: list[SearchHit] = []
            need = offset + want - len(digest_hits)
            if kind != "manifest" and need > 0:
                fulltext = self._fulltext(
                    s, words, reader, kind, max(0, offset - len(digest_hits)), min(need, want)
                )
        seen: set[tuple[str, str, str]] = set()
        merged: list[SearchHit] = []
        for h in digest_hits[offset:] + fulltext:
            key = (h.kind, h.repository, h.ref)
            if key not in seen:
                seen.add(key)
                merged.append(h)
        return SearchPage(query, kind, page, per_page, merged[:per_page], len(merged) > per_page)

    def _digest_hits(self, s: Session, query: str, reader: Reader, kind: str | None) -> list[SearchHit]:
        m = _HEX.match(query.strip().lower())
        if m is None or kind not in (None, "manifest"):
            return []
        prefix = query.strip().lower()
        if not prefix.startswith(("sha256:", "sha512:")):
            prefix = "sha256:" + m.group(1)
        q = (
            select(Repository.name, Manifest.digest, Manifest.artifact_type, Manifest.media_type)
            .join(Repository, Repository.id == Manifest.repository_id)
            .where(Manifest.digest >= prefix, Manifest.digest < prefix + "\x7f")
        )
        cond = reader.repository_clause(Repository.name)
        if cond is not None:
            q = q.where(cond)
        rows = s.execute(q.order_by(Manifest.digest, Repository.name).limit(50)).all()
        return [
            SearchHit(
                "manifest", name, f"{name}@{digest[:19]}", digest, digest, _manifest_kind(at) or at or mt
            )
            for name, digest, at, mt in rows
        ]

    def _fulltext(
        self, s: Session, words: list[str], reader: Reader, kind: str | None, offset: int, limit: int
    ) -> list[SearchHit]:
        """Three steps, so a common word costs the same at 10^5 entries as at 10^3: (1) the newest
        CANDIDATES visible entries that match (index order, no scoring), (2) their scores, (3) a page
        of them, best first."""
        t = SearchEntry.__table__
        e = t.c
        pg = s.bind.dialect.name == "postgresql"  # type: ignore[union-attr]
        if pg:
            tsq = func.to_tsquery(literal_column("'simple'"), bindparam("tsq"))
            tsv: ColumnElement[Any] = literal_column("search_entries.tsv")
            matching = select(e.id).where(tsv.op("@@")(tsq))
            params: dict[str, str] = {"tsq": " & ".join(f"{w}:*" for w in words)}
        else:
            matches = _FTS.c.search_fts.op("MATCH")(bindparam("match"))
            matching = select(e.id).select_from(t.join(_FTS, _FTS.c.rowid == e.id)).where(matches)
            params = {"match": " AND ".join(f'"{w}"*' for w in words)}
        if kind is not None:
            matching = matching.where(e.kind == kind)
        cond = reader.clause(e.namespace, e.repository)
        if cond is not None:
            matching = matching.where(cond)
        # newest first in the full-text index's own order (FTS5 walks its doclists backwards; ordering
        # by the entries' key instead would make SQLite probe the index once per entry)
        candidates = (
            matching.order_by((e.id if pg else _FTS.c.rowid).desc()).limit(CANDIDATES).scalar_subquery()
        )
        if pg:
            inner = t.alias("ranked_entries")
            itsv: ColumnElement[Any] = literal_column("ranked_entries.tsv")
            scored = (
                select(inner.c.id.label("id"), func.ts_rank(itsv, tsq, 1).label("score"))
                .where(inner.c.id.in_(candidates))
                .subquery()
            )  # 1: shorter entries rank higher
        else:
            # "+rowid": keep the IN list away from FTS5's planner, which would run the MATCH once per
            # candidate; filtered this way, bm25 is computed for the candidates only
            scored = (
                select(
                    _FTS.c.rowid.label("id"),
                    (-func.bm25(literal_column("search_fts"), 10.0, 1.0)).label("score"),
                )
                .where(matches, literal_column("+search_fts.rowid").in_(candidates))
                .subquery()
            )
        q = (
            select(e.kind, e.repository, e.title, e.ref, e.digest, e.body)
            .join(scored, scored.c.id == e.id)
            .order_by(scored.c.score.desc(), e.id.desc())
            .offset(offset)
            .limit(limit)
        )
        rows: list[Any] = list(s.execute(q, params).all())
        return [
            SearchHit(k, repo, title, ref, digest, _snippet(body or "", words))
            for k, repo, title, ref, digest, body in rows
        ]


def counts(s: Session, reader: Reader) -> dict[str, int]:
    """How many namespaces, repositories, datasets, runs and DOIs the reader can see."""
    e = SearchEntry.__table__.c
    cond = reader.clause(e.namespace, e.repository)
    out: dict[str, int] = {}
    q = select(e.kind, func.count()).where(e.kind.in_(["repository", "dataset", "run", "doi"]))
    if cond is not None:
        q = q.where(cond)
    counts: list[Any] = list(s.execute(q.group_by(e.kind)).all())
    out.update({k: int(n) for k, n in counts})
    nq = select(func.count(func.distinct(e.namespace))).where(e.kind == "repository")
    if cond is not None:
        nq = nq.where(cond)
    out["namespace"] = int(s.execute(nq).scalar_one())
    return {k: out.get(k, 0) for k in ("namespace", "repository", "dataset", "run", "doi")}


def visible_names(names: Iterable[str], check: Callable[[str], bool]) -> list[str]:
    return [n for n in names if check(n)]
