"""Values the client returns: runs, lineage, impact, pulled artifacts (``/api/v1`` response bodies,
see ``schemas/api/*.json``).

Each is a frozen dataclass built from the JSON with ``from_json`` (unknown fields are ignored,
the document is kept in ``raw``), printed compactly by ``repr`` and rendered as a small HTML
table by ``_repr_html_`` in Jupyter.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "Artifact",
    "ImageInfo",
    "Impact",
    "Lineage",
    "PulledArtifact",
    "RecordedRun",
    "Run",
    "RunFile",
    "RunInput",
    "RunList",
]


def _short(digest: str | None) -> str:
    if not digest:
        return "-"
    alg, _, enc = digest.partition(":")
    return f"{alg}:{enc[:12]}"


def _table(title: str, rows: Sequence[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
        f"<td style='text-align:left'><code>{html.escape(str(v))}</code></td></tr>"
        for k, v in rows
    )
    return f"<table><caption style='text-align:left'><b>{html.escape(title)}</b></caption>{cells}</table>"


def _grid(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td style='text-align:left'><code>{html.escape(str(c))}</code></td>" for c in row)
        + "</tr>"
        for row in rows
    )
    return (
        f"<table><caption style='text-align:left'><b>{html.escape(title)}</b></caption>"
        f"<tr>{head}</tr>{body}</table>"
    )


@dataclass(frozen=True)
class Artifact:
    """A manifest in a repository."""

    repository: str
    digest: str
    artifact_type: str | None = None

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Artifact:
        return cls(doc["repository"], doc["digest"], doc.get("artifact_type"))

    def __str__(self) -> str:
        return f"{self.repository}@{self.digest}"

    def __repr__(self) -> str:
        return f"Artifact({self.repository}@{_short(self.digest)}, {self.artifact_type or '-'})"


@dataclass(frozen=True)
class ImageInfo:
    repository: str
    digest: str
    tag: str | None = None
    registry: str | None = None
    index_digest: str | None = None

    @property
    def reference(self) -> str:
        host = f"{self.registry}/" if self.registry else ""
        return f"{host}{self.repository}@{self.digest}"


@dataclass(frozen=True)
class RunInput:
    name: str
    repository: str
    digest: str


@dataclass(frozen=True)
class RunFile:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Run:
    """One indexed run (``GET /api/v1/runs/<id>``)."""

    id: int | str
    repository: str
    result_digest: str
    crate_digest: str
    image: ImageInfo
    parameters: dict[str, Any]
    inputs: list[RunInput]
    outputs: list[RunFile]
    started: str
    ended: str
    name: str | None = None
    command: str | None = None
    agent: dict[str, Any] | None = None
    created_at: str | None = None
    parameter_types: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Run:
        img = doc.get("image") or {}
        params = doc.get("parameters") or []
        return cls(
            id=doc["id"],
            repository=doc["repository"],
            result_digest=doc["result_digest"],
            crate_digest=doc["crate_digest"],
            image=ImageInfo(
                img.get("repository", ""),
                img.get("digest", ""),
                img.get("tag"),
                img.get("registry"),
                img.get("index_digest"),
            ),
            parameters={p["name"]: p["value"] for p in params},
            parameter_types={p["name"]: p.get("type", "") for p in params},
            inputs=[RunInput(i["name"], i["repository"], i["digest"]) for i in doc.get("inputs") or []],
            outputs=[RunFile(o["path"], o["sha256"], int(o["size"])) for o in doc.get("outputs") or []],
            started=doc.get("started") or "",
            ended=doc.get("ended") or "",
            name=doc.get("name"),
            command=doc.get("command"),
            agent=doc.get("agent"),
            created_at=doc.get("created_at"),
            raw=dict(doc),
        )

    @property
    def result(self) -> Artifact:
        return Artifact(self.repository, self.result_digest)

    @property
    def workflow(self) -> dict[str, Any] | None:
        """The workflow definition of a workflow run (``language``, ``path``, ``sha256``, ``input_files``)."""
        return self.raw.get("workflow")

    @property
    def steps(self) -> list[Any]:
        """The steps in order as :class:`sciregistry.provenance.Step` (image pinned by digest, command or
        tool, parameters, files); a single-image run is its own one step."""
        from datetime import datetime

        from sciregistry.provenance import FileRef, ImageRef, Parameter, Step

        def moment(text: Any) -> datetime | None:
            return datetime.fromisoformat(text) if isinstance(text, str) and text else None

        out = []
        for n, st in enumerate(self.raw.get("steps") or []):
            img = st["image"]
            out.append(
                Step(
                    name=st["name"],
                    image=ImageRef(
                        img.get("registry") or "", img["repository"], img.get("tag"), img["digest"]
                    ),
                    command=st.get("command") or "",
                    parameters=[
                        Parameter(p["name"], p["value"], p.get("type")) for p in st.get("parameters", [])
                    ],
                    inputs=[FileRef(f["path"], f["sha256"], int(f["size"])) for f in st.get("inputs", [])],
                    outputs=[FileRef(f["path"], f["sha256"], int(f["size"])) for f in st.get("outputs", [])],
                    started=moment(st.get("started")),
                    ended=moment(st.get("ended")),
                    position=st.get("position", n),
                )
            )
        return out

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.parameters.items())
        return (
            f"Run(id={self.id!r}, result={self.repository}@{_short(self.result_digest)}, "
            f"image={self.image.repository}@{_short(self.image.digest)}, "
            f"inputs=[{', '.join(f'{i.name}={_short(i.digest)}' for i in self.inputs)}], "
            f"parameters={{{params}}}, outputs={[o.path for o in self.outputs]})"
        )

    def _rows(self) -> list[tuple[str, Any]]:
        rows: list[tuple[str, Any]] = [
            ("run", self.id),
            ("result", f"{self.repository}@{self.result_digest}"),
            ("crate", self.crate_digest),
            ("image", self.image.reference),
        ]
        if self.command:
            rows.append(("command", self.command))
        rows += [(f"parameter {k}", repr(v)) for k, v in self.parameters.items()]
        rows += [(f"input {i.name}", f"{i.repository}@{i.digest}") for i in self.inputs]
        rows += [(f"output {o.path}", f"sha256:{o.sha256} ({o.size} bytes)") for o in self.outputs]
        if self.agent:
            rows.append(("agent", self.agent.get("name")))
        rows += [("started", self.started or "not recorded"), ("ended", self.ended or "not recorded")]
        return rows

    def _repr_html_(self) -> str:
        return _table(f"run {self.id}" + (f": {self.name}" if self.name else ""), self._rows())

    def to_json(self) -> dict[str, Any]:
        return dict(self.raw)


@dataclass(frozen=True)
class RunList(Sequence[Run]):
    """A page of runs (newest first) and the cursor of the next page (None on the last page)."""

    items: list[Run]
    next_cursor: str | None = None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: Any) -> Any:
        return self.items[i]

    def __iter__(self) -> Iterator[Run]:
        return iter(self.items)

    def __repr__(self) -> str:
        return f"RunList({len(self.items)} runs{', more' if self.next_cursor else ''})"

    def _repr_html_(self) -> str:
        rows = [
            (
                r.id,
                f"{r.repository}@{_short(r.result_digest)}",
                f"{r.image.repository}@{_short(r.image.digest)}",
                ", ".join(f"{k}={v}" for k, v in r.parameters.items()),
                r.started or "not recorded",
            )
            for r in self.items
        ]
        return _grid(f"{len(self.items)} runs", ("id", "result", "image", "parameters", "started"), rows)


@dataclass(frozen=True)
class Lineage:
    """What produced ``subject`` (``GET /api/v1/lineage/<repo>@<digest>``), recursively."""

    subject: Artifact
    produced_by: Run | None
    inputs: list[Lineage]
    truncated: bool = False
    downstream: list[Run] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    #: the caller may not read this node (digests only; ``produced_by`` None even if a run exists)
    redacted: bool = False

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Lineage:
        run = doc.get("produced_by")
        return cls(
            subject=Artifact.from_json(doc["subject"]),
            produced_by=Run.from_json(run) if run and not run.get("redacted") else None,
            inputs=[cls.from_json(i) for i in doc.get("inputs") or []],
            truncated=bool(doc.get("truncated", False)),
            downstream=[Run.from_json(r) for r in doc.get("downstream") or []],
            raw=dict(doc),
            redacted=bool(doc.get("redacted", False)),
        )

    @property
    def image(self) -> ImageInfo | None:
        return self.produced_by.image if self.produced_by else None

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.produced_by.parameters) if self.produced_by else {}

    def walk(self) -> Iterator[Lineage]:
        """This node, then its inputs' nodes depth-first."""
        yield self
        for node in self.inputs:
            yield from node.walk()

    def __repr__(self) -> str:
        if self.redacted:
            return f"Lineage({self.subject!s}: not readable)"
        if self.produced_by is None:
            return f"Lineage({self.subject!s}: source)"
        return (
            f"Lineage({self.subject.repository}@{_short(self.subject.digest)} <- run {self.produced_by.id}: "
            f"image {self.produced_by.image.repository}@{_short(self.produced_by.image.digest)}, "
            f"{len(self.inputs)} inputs)"
        )

    def _repr_html_(self) -> str:
        rows: list[tuple[str, Any]] = [
            ("subject", str(self.subject)),
            ("type", self.subject.artifact_type or "-"),
        ]
        if self.produced_by is None:
            rows.append(("produced by", "nothing recorded (source data or image)"))
        else:
            rows += self.produced_by._rows()
            for node in self.inputs:
                rows.append(
                    (
                        f"upstream of {node.subject.repository}",
                        f"run {node.produced_by.id}" if node.produced_by else "source",
                    )
                )
        return _table("lineage", rows)


@dataclass(frozen=True)
class Impact:
    """What used a digest (``GET /api/v1/impact/<digest>``): runs, their results, DOIs."""

    digest: str
    runs: list[Run]
    results: list[Artifact]
    dois: list[dict[str, Any]]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Impact:
        subject = doc.get("subject") or {}
        return cls(
            digest=subject.get("digest", ""),
            runs=[Run.from_json(r) for r in doc.get("runs") or []],
            results=[
                Artifact(r["repository"], r.get("digest") or r.get("result_digest", ""))
                for r in doc.get("results") or []
            ],
            dois=list(doc.get("dois") or []),
            raw=dict(doc),
        )

    def __repr__(self) -> str:
        return (
            f"Impact({_short(self.digest)}: {len(self.runs)} runs, "
            f"results={[f'{r.repository}@{_short(r.digest)}' for r in self.results]}, dois={len(self.dois)})"
        )

    def _repr_html_(self) -> str:
        rows: list[tuple[str, Any]] = [("result", f"{r.repository}@{r.digest}") for r in self.results]
        rows += [("DOI", d.get("doi")) for d in self.dois]
        return _table(f"impact of {self.digest} ({len(self.runs)} runs)", rows or [("", "nothing used it")])


@dataclass(frozen=True)
class PulledArtifact:
    """Files restored from an artifact (and, when asked, its run crate) into ``directory``."""

    reference: str
    digest: str
    artifact_type: str | None
    directory: Path
    files: list[Path]
    crate_digest: str | None = None

    def __repr__(self) -> str:
        return (
            f"PulledArtifact({self.reference} -> {self.directory}, {len(self.files)} files"
            + (f", crate {_short(self.crate_digest)}" if self.crate_digest else "")
            + ")"
        )

    def _repr_html_(self) -> str:
        rows: list[tuple[str, Any]] = [
            ("digest", self.digest),
            ("type", self.artifact_type or "-"),
            ("directory", self.directory),
        ]
        rows += [("file", p.relative_to(self.directory)) for p in self.files]
        return _table(self.reference, rows)


class RecordedRun(NamedTuple):
    """What :meth:`Registry.record_run` pushed: ``result_digest, crate_digest = registry.record_run(...)``."""

    result_digest: str
    crate_digest: str


class ImportedRun(NamedTuple):
    """What :meth:`Registry.import_run` pushed, what it completed or found missing, and the run it read."""

    result_digest: str
    crate_digest: str
    warnings: list[str]
    run: Any
