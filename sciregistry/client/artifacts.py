"""sciregistry artifacts on the wire: datasets, results and run crates (OCI image-spec v1.1 artifacts).

A dataset as pushed by :func:`push_dataset` (one layer per file, config = the empty descriptor)::

    {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
     "artifactType":"application/vnd.sciregistry.dataset.v1",
     "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa3...","size":2},
     "layers":[{"mediaType":"text/x-fasta","digest":"sha256:...","size":5120,
                "annotations":{"org.opencontainers.image.title":"reads/sample1.fa"}}],
     "annotations":{"org.opencontainers.image.title":"reads"}}

The manifest is serialised once (compact JSON) and those bytes are PUT, so the digest the
client returns is the digest of what the registry stores. A result (:func:`push_result`) has the
same shape with artifactType ``application/vnd.sciregistry.result.v1`` and titles = output file
names. A run crate (:func:`push_run_crate`) has artifactType
``application/vnd.sciregistry.rocrate.v1``, ``subject`` = the result manifest's descriptor and the
layers ``ro-crate-metadata.json`` (``application/ld+json``) and ``sciregistry-run.json``
(``application/vnd.sciregistry.run.v1+json``), plus the workflow file when there is one; the
registry validates and indexes it on push (``registry/runs.py``), and refuses it with
MANIFEST_INVALID listing every problem in ``detail.problems``.

:func:`record_run` composes the three: push the result, describe the run (:class:`RunRecord`:
image, inputs read from their manifests, typed parameters, outputs with sha256 and size), build
the crate with :func:`sciregistry.provenance.build_run_crate`, push it.
"""

from __future__ import annotations

import json
import mimetypes
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from sciregistry.client.oci import OciClient, Progress, file_digest
from sciregistry.errors import ManifestInvalid, MetadataInvalid
from sciregistry.oci import (
    EMPTY_JSON,
    EMPTY_JSON_DIGEST,
    OCI_EMPTY,
    OCI_MANIFEST,
    Descriptor,
    ImageReference,
    compute,
    parse_manifest,
    parse_reference,
)
from sciregistry.oci import artifacts as types

if TYPE_CHECKING:
    from sciregistry.provenance import Agent, CrateFiles, FileRef, RunRecord

__all__ = [
    "LocalFile",
    "collect_files",
    "guess_media_type",
    "parse_parameter",
    "pull_artifact",
    "push_dataset",
    "push_result",
    "push_run_crate",
    "record_run",
    "safe_title",
    "typed_value",
]

EXTRA_MEDIA_TYPES: dict[str, str] = {
    ".fa": "text/x-fasta",
    ".fasta": "text/x-fasta",
    ".fna": "text/x-fasta",
    ".faa": "text/x-fasta",
    ".fq": "text/x-fastq",
    ".fastq": "text/x-fastq",
    ".tsv": "text/tab-separated-values",
    ".csv": "text/csv",
    ".json": "application/json",
    ".jsonld": "application/ld+json",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".md": "text/markdown",
    ".parquet": "application/vnd.apache.parquet",
    ".h5": "application/x-hdf5",
    ".hdf5": "application/x-hdf5",
    ".nc": "application/x-netcdf",
    ".vcf": "text/x-vcf",
    ".bam": "application/x-bam",
}
_INT = re.compile(r"^[+-]?(?:0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[+-]?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_TYPED_NAME = re.compile(r"^(?P<name>[^:=]+):(?P<type>string|str|integer|int|number|float|boolean|bool)$")


def guess_media_type(path: str) -> str:
    """The media type of a file from its name; compressed files are ``application/gzip`` etc.,
    anything unknown ``application/octet-stream``."""
    name = path.lower()
    mt, encoding = mimetypes.guess_type(name, strict=False)
    if encoding == "gzip":
        return "application/gzip"
    if encoding == "bzip2":
        return "application/x-bzip2"
    if encoding == "xz":
        return "application/x-xz"
    if encoding is not None:
        return "application/octet-stream"
    return EXTRA_MEDIA_TYPES.get(PurePosixPath(name).suffix) or mt or "application/octet-stream"


def safe_title(title: str) -> PurePosixPath:
    """A layer title as a relative path that stays inside its directory; ValueError otherwise.

    Refused: empty titles, absolute paths, ``..`` or ``.`` components, backslashes, NUL bytes.
    """
    if not title or "\x00" in title or "\\" in title:
        raise ValueError(f"unsafe file title {title!r}")
    p = PurePosixPath(title)
    if p.is_absolute() or any(part in ("..", ".", "") for part in title.split("/")):
        raise ValueError(f"unsafe file title {title!r}: it must be a relative path without '..'")
    return p


@dataclass(frozen=True)
class LocalFile:
    """A file to push: where it is, and the title (relative path) it gets in the artifact."""

    path: Path
    title: str
    media_type: str


def collect_files(paths: Iterable[str | os.PathLike[str]]) -> list[LocalFile]:
    """Files given directly (title = base name) or found under directories (title = path relative to
    that directory, ``/``-separated, sorted). Duplicate titles raise ValueError."""
    out: list[LocalFile] = []
    for given in paths:
        p = Path(given)
        if p.is_dir():
            found = []
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames.sort()
                for fn in filenames:
                    full = Path(dirpath) / fn
                    if full.is_file():
                        found.append((full.relative_to(p).as_posix(), full))
            for title, full in sorted(found):
                out.append(LocalFile(full, title, guess_media_type(title)))
        elif p.is_file():
            out.append(LocalFile(p, p.name, guess_media_type(p.name)))
        else:
            raise FileNotFoundError(f"no such file or directory: {p}")
    seen: dict[str, Path] = {}
    for f in out:
        safe_title(f.title)
        if f.title in seen:
            raise ValueError(f"two files would both be stored as {f.title!r}: {seen[f.title]} and {f.path}")
        seen[f.title] = f.path
    return out


def _reference(oci: OciClient, ref: str | ImageReference) -> ImageReference:
    r = ref if isinstance(ref, ImageReference) else parse_reference(ref, require_registry=False)
    host = oci.transport.host
    if r.registry and r.registry != host:
        raise ValueError(f"reference {r} is on {r.registry}, but this client talks to {host}")
    return ImageReference(host, r.repository, r.tag, r.digest)


def _manifest_bytes(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _push_files_artifact(
    oci: OciClient,
    ref: ImageReference,
    files: Sequence[LocalFile],
    artifact_type: str,
    annotations: Mapping[str, str],
    *,
    subject: Descriptor | None = None,
    blobs: Sequence[tuple[bytes, str, str]] = (),
    progress: Progress | None = None,
    digests: Mapping[Path, str] | None = None,
) -> tuple[str, bytes, list[Descriptor]]:
    """Upload config, in-memory ``blobs`` ``(data, media_type, title)`` and ``files``; PUT the manifest
    under the reference's tag (or by digest); return ``(digest, manifest bytes, layer descriptors)``."""
    repo = ref.repository
    if ref.digest:
        raise ValueError(
            f"cannot push to {ref}: push to a tag (or to a repository) — the digest is the result"
        )
    oci.upload_blob(repo, EMPTY_JSON, media_type=OCI_EMPTY)
    layers: list[Descriptor] = []
    for data, media_type, title in blobs:
        d = oci.upload_blob(repo, data, media_type=media_type)
        layers.append(Descriptor(media_type, d.digest, d.size, annotations={types.TITLE: title}))
    for f in files:
        d = oci.upload_blob(
            repo, f.path, media_type=f.media_type, progress=progress, digest=(digests or {}).get(f.path)
        )
        layers.append(Descriptor(f.media_type, d.digest, d.size, annotations={types.TITLE: f.title}))
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": len(EMPTY_JSON)},
        "layers": [d.to_dict() for d in layers],
    }
    if subject is not None:
        doc["subject"] = {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size}
    if annotations:
        doc["annotations"] = dict(annotations)
    data = _manifest_bytes(doc)
    digest = oci.put_manifest(repo, ref.tag or compute(data), data, OCI_MANIFEST)
    return digest, data, layers


def _validate_annotations(schema: str, annotations: Mapping[str, str]) -> None:
    from sciregistry.provenance import validate

    problems = validate(schema, dict(annotations))
    if problems:
        raise MetadataInvalid(f"annotations do not satisfy {schema}: {problems[0]}", {"problems": problems})


def push_dataset(
    oci: OciClient,
    ref: str | ImageReference,
    paths: Iterable[str | os.PathLike[str]],
    annotations: Mapping[str, str] | None = None,
    *,
    progress: Progress | None = None,
) -> str:
    """Push files and directories as a dataset artifact at ``ref`` (``host/repo:tag``); return its digest.

    Titles are paths relative to each given directory (base names for files). The dataset's
    ``org.opencontainers.image.title`` defaults to the directory's (or repository's) name;
    ``annotations`` are checked against ``dataset-annotations.schema.json``.
    """
    r = _reference(oci, ref)
    given = list(paths)
    files = collect_files(given)
    if not files:
        raise ValueError("a dataset needs at least one file")
    ann = dict(annotations or {})
    if types.TITLE not in ann:
        only_dir = len(given) == 1 and Path(given[0]).is_dir()
        ann[types.TITLE] = Path(given[0]).resolve().name if only_dir else r.repository.rsplit("/", 1)[-1]
    _validate_annotations("dataset-annotations.schema.json", ann)
    digest, _, _ = _push_files_artifact(oci, r, files, types.DATASET, ann, progress=progress)
    return digest


def push_result(
    oci: OciClient,
    ref: str | ImageReference,
    outputs: Iterable[str | os.PathLike[str]],
    annotations: Mapping[str, str] | None = None,
    *,
    progress: Progress | None = None,
) -> tuple[Descriptor, list[FileRef]]:
    """Push output files (titles = base names) as a result artifact; return the result manifest's
    descriptor and the outputs as :class:`FileRef` (sha256 hex, size, media type)."""
    from sciregistry.provenance import FileRef

    r = _reference(oci, ref)
    files = []
    for o in outputs:
        p = Path(o)
        if not p.is_file():
            raise FileNotFoundError(f"output is not a file: {p}")
        files.append(LocalFile(p, p.name, guess_media_type(p.name)))
    if not files:
        raise ValueError("a result needs at least one output file")
    titles = [f.title for f in files]
    for t in titles:
        if titles.count(t) > 1:
            raise ValueError(f"two outputs have the same file name {t!r}")
    ann = dict(annotations or {})
    _validate_annotations("result-annotations.schema.json", ann)
    hashed = {f.path: file_digest(f.path) for f in files}
    digest, data, _layers = _push_files_artifact(
        oci, r, files, types.RESULT, ann, progress=progress, digests={p: d for p, (d, _) in hashed.items()}
    )
    refs = [
        FileRef(f.title, hashed[f.path][0].split(":", 1)[1], hashed[f.path][1], f.media_type) for f in files
    ]
    return Descriptor(OCI_MANIFEST, digest, len(data)), refs


def push_run_crate(
    oci: OciClient,
    repo: str,
    crate: CrateFiles,
    subject: Descriptor,
    *,
    workflow: Path | None = None,
    annotations: Mapping[str, str] | None = None,
) -> str:
    """Push a run crate (the two layers of ``crate``, plus the workflow file) as a referrer of the
    result ``subject`` in ``repo``, by digest; return the crate manifest digest. The registry
    validates it on push: a refusal is raised as ManifestInvalid with ``detail["problems"]``."""
    ref = _reference(oci, repo)
    blobs = [
        (crate.metadata, types.CRATE_METADATA_MEDIA_TYPE, types.CRATE_METADATA_NAME),
        (crate.run_description, types.RUN_DESCRIPTION_MEDIA_TYPE, types.RUN_DESCRIPTION_NAME),
    ]
    files = [LocalFile(workflow, workflow.name, guess_media_type(workflow.name))] if workflow else []
    digest, _, _ = _push_files_artifact(
        oci,
        ImageReference(ref.registry, ref.repository),
        files,
        types.ROCRATE,
        dict(annotations or {}),
        subject=subject,
        blobs=blobs,
    )
    return digest


def pull_artifact(
    oci: OciClient,
    ref: str | ImageReference,
    dest_dir: str | os.PathLike[str],
    *,
    with_crate: bool = False,
    progress: Progress | None = None,
) -> tuple[str, str | None, list[Path], str | None]:
    """Restore an artifact's files at their titles under ``dest_dir``; return
    ``(digest, artifactType, files, crate digest)``.

    Every title is checked before anything is written: absolute paths, ``..`` and duplicates are
    refused (ValueError). Each file is verified against its layer digest and written atomically.
    With ``with_crate``, the newest run crate referring to the artifact is restored next to its
    files (``ro-crate-metadata.json``, ``sciregistry-run.json``), giving an attached RO-Crate.
    """
    r = _reference(oci, ref)
    got = oci.get_manifest(r.repository, r.reference)
    parsed = parse_manifest(got.data, got.media_type)
    if parsed.is_index:
        raise ManifestInvalid(f"{r} is an image index, not an artifact with files: use export_layout")
    dest = Path(dest_dir)
    plan = _plan_files(parsed.layers, dest, str(r))
    crate_digest = None
    if with_crate:
        crates = oci.referrers(r.repository, got.digest, types.ROCRATE)
        if crates:
            newest = max(crates, key=lambda d: ((d.annotations or {}).get(types.CREATED, ""),))
            crate_digest = newest.digest
            crate = parse_manifest(oci.get_manifest(r.repository, crate_digest).data, None)
            plan += _plan_files(
                crate.layers, dest, f"{r.repository}@{crate_digest}", taken={str(p) for p, _ in plan}
            )
    dest.mkdir(parents=True, exist_ok=True)
    if progress is not None and getattr(progress, "total", 0) is None:
        progress.total = sum(layer.size for _, layer in plan)  # type: ignore[attr-defined]  # a lazy bar
    real_dest = os.path.realpath(dest)
    files = []
    for target, layer in plan:
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.commonpath([os.path.realpath(target.parent), real_dest]) != real_dest:
            raise ValueError(f"refusing to write {target}: it resolves outside {dest}")
        oci.download_blob(r.repository, layer.digest, target, progress=progress)
        files.append(target)
    return got.digest, parsed.artifact_type, files, crate_digest


def _plan_files(
    layers: Sequence[Descriptor], dest: Path, where: str, taken: set[str] | None = None
) -> list[tuple[Path, Descriptor]]:
    plan = []
    seen = set(taken or ())
    for i, layer in enumerate(layers):
        title = (layer.annotations or {}).get(types.TITLE)
        if title is None:
            raise ManifestInvalid(
                f"{where}: layer {i} ({layer.digest}) has no {types.TITLE} annotation; "
                "images are exported with export_layout"
            )
        rel = safe_title(title)
        target = dest.joinpath(*rel.parts)
        if str(target) in seen:
            raise ValueError(f"{where}: two layers have the title {title!r}")
        seen.add(str(target))
        plan.append((target, layer))
    return plan


# --- run records ---------------------------------------------------------------------------------------


def parse_parameter(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` -> ``(name, typed value)``: an integer, a float, ``true``/``false``, else the
    string. ``NAME:string=VALUE`` (or ``:integer``, ``:number``, ``:boolean``) forces the type."""
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise ValueError(f"parameter {text!r} must be NAME=VALUE")
    forced = _TYPED_NAME.match(name)
    if forced:
        name, kind = forced.group("name"), forced.group("type")
        if kind in ("string", "str"):
            return name, raw
        if kind in ("integer", "int"):
            if not _INT.match(raw.strip()):
                raise ValueError(f"parameter {name!r}: {raw!r} is not an integer")
            return name, int(raw)
        if kind in ("number", "float"):
            if not _FLOAT.match(raw.strip()):
                raise ValueError(f"parameter {name!r}: {raw!r} is not a number")
            return name, float(raw)
        if raw.lower() not in ("true", "false"):
            raise ValueError(f"parameter {name!r}: {raw!r} is not true or false")
        return name, raw.lower() == "true"
    return name, typed_value(raw)


def typed_value(raw: str) -> Any:
    """``"20"`` -> 20, ``"0.25"`` -> 0.25, ``"true"`` -> True, anything else unchanged.
    Numbers with leading zeros (``"007"``) stay strings, so identifiers are not mangled."""
    if _INT.match(raw):
        return int(raw)
    if _FLOAT.match(raw):
        return float(raw)
    if raw in ("true", "false"):
        return raw == "true"
    return raw


def _pin(oci: OciClient, ref: str | ImageReference) -> ImageReference:
    r = _reference(oci, ref)
    if r.digest:
        return r
    return r.with_digest(oci.resolve(r.repository, r.tag or "latest"))


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def record_run(
    oci: OciClient,
    image: str | ImageReference,
    inputs: Mapping[str, str | ImageReference],
    params: Mapping[str, Any],
    command: str,
    outputs: Sequence[str | os.PathLike[str]],
    to_ref: str | ImageReference,
    *,
    workflow: str | os.PathLike[str] | None = None,
    agent: str | Agent | None = None,
    orcid: str | None = None,
    started: datetime | None = None,
    ended: datetime | None = None,
    name: str | None = None,
    description: str = "",
    license: str | None = None,
    progress: Progress | None = None,
) -> tuple[str, str, RunRecord]:
    """Record one run: push its outputs as a result at ``to_ref`` and its run crate as a referrer of
    that result. Returns ``(result digest, crate digest, the RunRecord)``.

    ``image`` and ``inputs`` should be pinned (``host/repo@sha256:...``); a tag is resolved to the
    digest it points to now. Input files are read from the input manifests. Parameter values
    are used as given (see :func:`parse_parameter` for strings from a command line). Times
    default to now; naive datetimes are refused.
    """
    from sciregistry.provenance import (
        Agent,
        FileRef,
        ImageRef,
        InputRef,
        Parameter,
        RunRecord,
        build_run_crate,
    )
    from sciregistry.provenance.command import unknown_parameters_message

    # before anything is pushed: a template naming an unrecorded parameter cannot be reproduced
    unknown = unknown_parameters_message(command, params)
    if unknown is not None:
        raise ValueError(f"{unknown}: record it with --param NAME=VALUE or fix the --command template")
    recorded = _now()  # started/ended stay None when not given: "not recorded", never invented
    img = _pin(oci, image)
    assert img.digest is not None
    if not oci.manifest_exists(img.repository, img.digest):
        raise ManifestInvalid(f"image {img.repository}@{img.digest} is not in this registry: push it first")
    input_refs = []
    for input_name, input_ref in inputs.items():
        pinned = _pin(oci, input_ref)
        assert pinned.digest is not None
        parsed = parse_manifest(oci.get_manifest(pinned.repository, pinned.digest).data, None)
        files = []
        for layer in parsed.layers:
            title = (layer.annotations or {}).get(types.TITLE)
            if title is None or not layer.digest.startswith("sha256:"):
                continue
            files.append(FileRef(title, layer.digest.split(":", 1)[1], layer.size, layer.media_type))
        input_refs.append(
            InputRef(
                input_name,
                f"{pinned.registry}/{pinned.repository}@{pinned.digest}",
                pinned.digest,
                pinned.repository,
                files,
            )
        )
    parameters = [Parameter(k, v) for k, v in params.items()]
    if agent is None and orcid:
        raise ValueError("an ORCID needs an agent name")
    who = agent if isinstance(agent, Agent) or agent is None else Agent(agent, orcid)
    workflow_path = Path(workflow) if workflow is not None else None
    workflow_ref = None
    if workflow_path is not None:
        if not workflow_path.is_file():
            raise FileNotFoundError(f"workflow file not found: {workflow_path}")
        wd, ws = file_digest(workflow_path)
        workflow_ref = FileRef(
            workflow_path.name, wd.split(":", 1)[1], ws, guess_media_type(workflow_path.name)
        )

    result_ref = _reference(oci, to_ref)
    created = {types.CREATED: _rfc3339(ended or recorded)}
    result_desc, output_refs = push_result(oci, result_ref, outputs, created, progress=progress)
    run = RunRecord(
        name=name or f"{img.repository.rsplit('/', 1)[-1]} run",
        image=ImageRef(img.registry, img.repository, img.tag, img.digest),
        command=command,
        parameters=parameters,
        inputs=input_refs,
        outputs=output_refs,
        started=started,
        ended=ended,
        recorded=recorded,
        agent=who,
        workflow=workflow_ref,
        description=description,
        result_reference=f"{result_ref.registry}/{result_ref.repository}@{result_desc.digest}",
        license=license,
    )
    crate = build_run_crate(run)
    crate_digest = push_run_crate(
        oci, result_ref.repository, crate, result_desc, workflow=workflow_path, annotations=created
    )
    return result_desc.digest, crate_digest, run
