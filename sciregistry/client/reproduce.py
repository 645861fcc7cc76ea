"""From a DOI to a verdict: resolve a published result, re-run its recorded command, compare outputs.

Implements DESIGN.md section 6 ("Reproduce") and the ``Registry(url).resolve(doi)`` surface of
section 7::

    from sciregistry.client import Registry

    res = Registry("http://127.0.0.1:5000").resolve("10.5072/abcd-1234")   # or doi:..., https://doi.org/...
    res.image.reference        # '127.0.0.1:5000/lab/gc-content@sha256:f1c9...'
    res.parameters             # {'k': 3, 'min_length': 100}
    res.rendered_command       # 'gc-content.sh --k 3 --min-length 100 /in/reads /out'
    res.outputs[0].download("here/")                   # verified against the recorded sha256
    report = res.reproduce("reproduce-abcd-1234")       # runtime="auto" | "podman" | "docker" | "none"
    report.verdict             # 'REPRODUCED'

:meth:`Resolution.reproduce` takes these steps, each recorded in the report with its duration
(``steps``), and stops at the first one that decides the verdict:

=========  ===========================================================================  ==================
step       what                                                                          verdict on failure
=========  ===========================================================================  ==================
resolve    ``GET /api/v1/dois/<doi>/closure``: the DOI record and its run               (error, no report)
crate      the run crate manifest by the DOI's ``crate_digest`` (digest verified), its   DIGEST_MISMATCH /
           subject is the result, both layers verify, ``read_run_crate`` accepts them,   INPUT_UNAVAILABLE
           and image digest, command, parameters, inputs and outputs agree with the
           closure; the result manifest's layers agree with the recorded outputs
image      the image by digest, exported as an OCI image layout (every blob verified)   same
inputs     each input dataset by digest into ``inputs/<name>/`` (every file verified)  same
render     the command template with the recorded parameters (:func:`render_command`)   RUN_FAILED
runtime    ``auto``: podman, then docker; each loads the layout (podman also checks     NOT_RUN
           the loaded manifest digest) and must run ``/bin/sh -c 'echo ok'``
run        ``<runtime> run --rm --network none -v inputs/<name>:/in/<name>:ro            RUN_FAILED
           -v outputs:/out <image> /bin/sh -c '<rendered>'``
compare    sha256 and size of every recorded output under ``outputs/``                  REPRODUCED / PARTIAL
                                                                                         / NOT_REPRODUCED
=========  ===========================================================================  ==================

The output directory must be new or empty; afterwards it holds::

    <out>/image/            OCI image layout of the image (index.json names it "reproduce")
    <out>/inputs/<name>/    the files of each input dataset (mounted read-only at /in/<name>)
    <out>/outputs/          what the run wrote (mounted at /out)
    <out>/report.json       the report (schemas/reproduction-report.schema.json), validated before writing
    <out>/report.md         the same, for people

Podman always runs with a private ``--root``/``--runroot`` in a temporary directory (removed
afterwards), never the machine's image store, and with the flags a root, systemd-less Debian 12
host needs (``--storage-driver vfs --cgroup-manager cgroupfs --events-backend file --runtime runc``,
``--ulimit nofile=1024:1024 --ulimit nproc=1024:1024``). Without a working runtime the verdict is
NOT_RUN and ``command.suggested`` is a podman command line that runs the same container by hand.

With ``attach=True`` the report is pushed as a referrer of the result (artifactType
``application/vnd.sciregistry.reproduction.v1``, one layer ``report.json`` of media type
``application/vnd.sciregistry.reproduction-report.v1+json``, byte-identical to the file); the
registry counts REPRODUCED reports on the DOI's landing page.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, unquote, urljoin, urlsplit

import requests

from sciregistry.client.runtimes import (
    LAYOUT_TAG,
    ContainerRuntime,
    LoadedDigestMismatch,
    Mount,
    Probe,
    _tail,
    hand_argv,
    select_runtime,
    suggested_command,
)
from sciregistry.client.transport import TransportError, short_reason
from sciregistry.errors import DigestInvalid, NotFound, RegistryError
from sciregistry.oci import Descriptor
from sciregistry.oci import artifacts as types
from sciregistry.provenance.command import format_value, render_command

if TYPE_CHECKING:
    from sciregistry.client import Registry
    from sciregistry.provenance import RunRecord

__all__ = [
    "DIGEST_MISMATCH",
    "INPUT_UNAVAILABLE",
    "LAYOUT_TAG",
    "NOT_REPRODUCED",
    "NOT_RUN",
    "PARTIAL",
    "REPRODUCED",
    "RUNTIMES",
    "RUN_FAILED",
    "TEST_DOI_PREFIX",
    "VERDICTS",
    "CrateCheck",
    "ImagePin",
    "InputPin",
    "OutputFile",
    "OutputResult",
    "Probe",
    "Report",
    "Resolution",
    "Step",
    "format_value",
    "is_public_resolver",
    "is_test_doi",
    "locate_registry",
    "render_command",
    "resolve",
]

REPRODUCED = "REPRODUCED"
PARTIAL = "PARTIAL"
NOT_REPRODUCED = "NOT_REPRODUCED"
RUN_FAILED = "RUN_FAILED"
NOT_RUN = "NOT_RUN"
INPUT_UNAVAILABLE = "INPUT_UNAVAILABLE"
DIGEST_MISMATCH = "DIGEST_MISMATCH"
VERDICTS: tuple[str, ...] = (
    REPRODUCED,
    PARTIAL,
    NOT_REPRODUCED,
    RUN_FAILED,
    NOT_RUN,
    INPUT_UNAVAILABLE,
    DIGEST_MISMATCH,
)

Runtime = Literal["auto", "podman", "docker", "none"]
RUNTIMES: tuple[str, ...] = ("auto", "podman", "docker", "none")

REPORT_SCHEMA = "reproduction-report.schema.json"
REPORT_NAME = "report.json"
DOI_RESOLVER = "https://doi.org/"
#: DataCite's test prefix: DOIs under it are never registered with the DOI resolver.
TEST_DOI_PREFIX = "10.5072"

DEFAULT_TIMEOUT = 3600.0

# distribution reference grammar: path-component ("/" path-component)*


# --- command rendering: one renderer for landing pages, the CLI and reproduce ------------------------
# (sciregistry.provenance.command: every value shell-quoted; re-exported here for existing callers)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _sha256_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def _inside(base: Path, rel: str) -> Path:
    """``base/rel`` for a recorded relative path, refusing anything that leaves ``base``."""
    parts = PurePosixPath(rel).parts
    if not parts or rel.startswith("/") or ".." in parts:
        raise ValueError(f"recorded path {rel!r} is not a relative path inside its directory")
    return base.joinpath(*parts)


# --- values ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImagePin:
    """The image that ran, pinned by manifest (or index) digest on the registry it is pulled from."""

    registry: str
    repository: str
    digest: str
    index_digest: str | None = None
    tag: str | None = None

    @property
    def reference(self) -> str:
        return f"{self.registry}/{self.repository}@{self.digest}"

    def __str__(self) -> str:
        return self.reference


@dataclass(frozen=True)
class InputPin:
    """An input dataset by digest; mounted read-only at ``/in/<name>`` when the command runs."""

    name: str
    registry: str
    repository: str
    digest: str
    _resolution: Resolution | None = field(default=None, repr=False, compare=False)

    @property
    def reference(self) -> str:
        return f"{self.registry}/{self.repository}@{self.digest}"

    @property
    def mount(self) -> str:
        return f"/in/{self.name}"

    def download(self, directory: str | os.PathLike[str]) -> list[Path]:
        """The dataset's files under ``directory`` (verified, atomic)."""
        if self._resolution is None:
            raise ValueError("this input is not attached to a registry")
        pulled = self._resolution.registry.pull(f"{self.repository}@{self.digest}", directory)
        return list(pulled.files)


@dataclass(frozen=True)
class OutputFile:
    """A recorded output: relative path, sha256 (bare hex) and size."""

    path: str
    sha256: str
    size: int
    _resolution: Resolution | None = field(default=None, repr=False, compare=False)

    @property
    def digest(self) -> str:
        return f"sha256:{self.sha256}"

    def download(self, directory: str | os.PathLike[str]) -> Path:
        """Download this output from the result to ``directory/<path>``, verified against the
        recorded sha256 (a mismatch raises DigestInvalid and leaves nothing behind)."""
        if self._resolution is None:
            raise ValueError("this output is not attached to a registry")
        return self._resolution.download_output(self, directory)


@dataclass(frozen=True)
class CrateCheck:
    """The run crate as fetched and checked: ``verified`` when there are no ``problems``."""

    digest: str | None
    run: RunRecord | None
    problems: list[str]

    @property
    def verified(self) -> bool:
        return not self.problems and self.run is not None


@dataclass(frozen=True)
class Step:
    name: str
    status: Literal["ok", "failed", "skipped"]
    seconds: float
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class OutputResult:
    path: str
    expected_sha256: str
    expected_size: int
    actual_sha256: str | None
    actual_size: int | None
    status: Literal["identical", "different", "missing", "not_compared"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "expected_sha256": self.expected_sha256,
            "expected_size": self.expected_size,
            "actual_sha256": self.actual_sha256,
            "actual_size": self.actual_size,
            "status": self.status,
        }


@dataclass
class Report:
    """What a reproduction did and found (``report.json``; schema ``reproduction-report.schema.json``).

    ``ok`` is True only for REPRODUCED. ``attached`` is the digest of the report artifact when
    it was pushed as a referrer of the result.
    """

    verdict: str
    reason: str
    doi: str
    registry: str
    result: dict[str, str]
    crate: dict[str, Any]
    image: dict[str, Any]
    parameters: list[dict[str, Any]]
    inputs: list[dict[str, Any]]
    command: dict[str, Any]
    runtime: dict[str, Any]
    outputs: list[OutputResult]
    extra_outputs: list[str]
    steps: list[Step]
    started: str
    ended: str
    tool: dict[str, str]
    out_dir: Path | None = None
    attached: str | None = None

    @property
    def ok(self) -> bool:
        return self.verdict == REPRODUCED

    def to_dict(self) -> dict[str, Any]:
        return {
            "schemaVersion": 1,
            "tool": dict(self.tool),
            "verdict": self.verdict,
            "reason": self.reason,
            "doi": self.doi,
            "registry": self.registry,
            "result": dict(self.result),
            "crate": dict(self.crate),
            "image": dict(self.image),
            "parameters": [dict(p) for p in self.parameters],
            "inputs": [dict(i) for i in self.inputs],
            "command": dict(self.command),
            "runtime": dict(self.runtime),
            "outputs": [o.to_dict() for o in self.outputs],
            "extra_outputs": list(self.extra_outputs),
            "steps": [s.to_dict() for s in self.steps],
            "started": self.started,
            "ended": self.ended,
        }

    def to_json(self) -> bytes:
        """The exact bytes of ``report.json`` (and of the attached layer)."""
        return (json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    def validate(self) -> list[str]:
        """Problems with the document against ``reproduction-report.schema.json`` (empty when valid)."""
        from sciregistry.provenance import validate

        return validate(REPORT_SCHEMA, self.to_dict())

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Report:
        return cls(
            verdict=doc["verdict"],
            reason=doc["reason"],
            doi=doc["doi"],
            registry=doc["registry"],
            result=dict(doc["result"]),
            crate=dict(doc["crate"]),
            image=dict(doc["image"]),
            parameters=list(doc["parameters"]),
            inputs=list(doc["inputs"]),
            command=dict(doc["command"]),
            runtime=dict(doc["runtime"]),
            outputs=[
                OutputResult(
                    o["path"],
                    o["expected_sha256"],
                    o["expected_size"],
                    o["actual_sha256"],
                    o["actual_size"],
                    o["status"],
                )
                for o in doc["outputs"]
            ],
            extra_outputs=list(doc["extra_outputs"]),
            steps=[Step(s["name"], s["status"], s["seconds"], s["detail"]) for s in doc["steps"]],
            started=doc["started"],
            ended=doc["ended"],
            tool=dict(doc["tool"]),
        )

    # --- presentation ---
    def summary(self) -> str:
        """A few lines for a terminal."""
        lines = [
            f"{self.verdict}: {self.reason}",
            f"  DOI      {self.doi}",
            f"  result   {self.result['reference']}",
            f"  image    {self.image['reference']}",
        ]
        if self.command.get("rendered"):
            lines.append(f"  command  {self.command['rendered']}")
        if self.runtime.get("name"):
            lines.append(f"  runtime  {self.runtime['name']} (exit code {self.runtime.get('exit_code')})")
        for o in self.outputs:
            lines.append(f"  {o.status:<12} {o.path}")
        if self.verdict == RUN_FAILED and self.command.get("argv"):
            lines.append("  ran:")
            lines.append(f"    {shlex.join(self.command['argv'])}")
        if self.verdict in (NOT_RUN, RUN_FAILED) and self.command.get("suggested"):
            lines.append("  run it yourself (the same flags, the image from its layout):")
            lines.append(f"    {self.command['suggested']}")
        if self.out_dir is not None:
            lines.append(f"  report   {self.out_dir / REPORT_NAME}")
        if self.attached:
            lines.append(f"  attached {self.result['repository']}@{self.attached}")
        return "\n".join(lines)

    @property
    def doi_link(self) -> str:
        """Where the DOI resolves: ``https://doi.org/<doi>``, or for a test DOI (``10.5072``, which
        doi.org never knows) the landing page of the registry that minted it."""
        if is_test_doi(self.doi) and self.registry:
            return f"{self.registry.rstrip('/')}/doi/{self.doi}"
        return DOI_RESOLVER + self.doi

    def to_markdown(self) -> str:
        """``report.md``: the report for people."""

        def code(v: Any) -> str:
            return "`" + str(v).replace("`", "'") + "`"

        crate_digest = code(self.crate.get("digest"))
        crate_state = "verified" if self.crate.get("verified") else "not verified"
        runtime_name = self.runtime.get("name") or "none"
        exit_code = self.runtime.get("exit_code")
        exit_text = exit_code if exit_code is not None else "-"
        out = [
            f"# Reproduction of {self.doi}: {self.verdict}",
            "",
            self.reason,
            "",
            "| | |",
            "|---|---|",
            f"| DOI | [{self.doi}]({self.doi_link}) |",
            f"| Registry | {code(self.registry)} |",
            f"| Result | {code(self.result['reference'])} |",
            f"| Run crate | {crate_digest} ({crate_state}) |",
            f"| Image | {code(self.image['reference'])} |",
            f"| Runtime | {runtime_name} (requested: {self.runtime.get('requested')}) |",
            f"| Exit code | {exit_text} |",
            f"| Started / ended | {self.started} / {self.ended} |",
            f"| Tool | {self.tool.get('name')} {self.tool.get('version')} |",
        ]
        if self.attached:
            out.append(f"| Attached as | {code(self.result['repository'] + '@' + self.attached)} |")
        out += ["", "## Command", "", "Template:", "", "```", self.command.get("template") or "", "```", ""]
        if self.command.get("rendered") is not None:
            out += ["Rendered with the recorded parameters:", "", "```", self.command["rendered"], "```", ""]
        if self.command.get("suggested"):
            out += ["To run it by hand:", "", "```sh", self.command["suggested"], "```", ""]
        if self.parameters:
            out += ["## Parameters", "", "| name | value | type |", "|---|---|---|"]
            for p in self.parameters:
                value = json.dumps(p["value"]) if not isinstance(p["value"], str) else p["value"]
                out.append(f"| {p['name']} | {code(value)} | {p['type']} |")
            out.append("")
        if self.inputs:
            out += ["## Inputs", "", "| name | reference | mount | status |", "|---|---|---|---|"]
            out += [
                f"| {i['name']} | {code(i['reference'])} | {code(i['mount'])} | {i['status']} |"
                for i in self.inputs
            ]
            out.append("")
        out += [
            "## Outputs",
            "",
            "| path | status | recorded sha256 | reproduced sha256 |",
            "|---|---|---|---|",
        ]
        for o in self.outputs:
            actual = code(o.actual_sha256) if o.actual_sha256 else "-"
            out.append(f"| {o.path} | {o.status} | {code(o.expected_sha256)} | {actual} |")
        if self.extra_outputs:
            out += ["", "Files written but not recorded: " + ", ".join(code(p) for p in self.extra_outputs)]
        out += ["", "## Steps", "", "| step | status | seconds | detail |", "|---|---|---|---|"]
        out += [
            f"| {s.name} | {s.status} | {s.seconds:.3f} | {s.detail.replace('|', '/')} |" for s in self.steps
        ]
        if self.crate.get("problems"):
            out += ["", "## Crate problems", ""] + [f"- {p}" for p in self.crate["problems"]]
        if self.runtime.get("probes"):
            out += ["", "## Runtimes tried", ""]
            out += [
                f"- {p['name']}: {'ok' if p['ok'] else 'unusable'} {p['detail']}".rstrip()
                for p in self.runtime["probes"]
            ]
        if self.runtime.get("stderr_tail"):
            out += [
                "",
                "## Standard error (tail)",
                "",
                "```",
                self.runtime["stderr_tail"].rstrip("\n"),
                "```",
            ]
        return "\n".join(out) + "\n"

    def __repr__(self) -> str:
        return f"Report({self.verdict}, doi={self.doi!r}, outputs={len(self.outputs)})"

    def _repr_html_(self) -> str:
        colour = "green" if self.ok else ("#b58900" if self.verdict in (PARTIAL, NOT_RUN) else "#dc322f")
        rows = "".join(
            f"<tr><td><code>{html.escape(o.path)}</code></td><td>{html.escape(o.status)}</td></tr>"
            for o in self.outputs
        )
        return (
            f"<div><b style='color:{colour}'>{html.escape(self.verdict)}</b> "
            f"{html.escape(self.reason)}<br><code>{html.escape(self.doi)}</code>"
            f"<table><tr><th>output</th><th>status</th></tr>{rows}</table></div>"
        )


# --- resolution --------------------------------------------------------------------------------------


def resolve(registry: Registry, doi: str) -> Resolution:
    """``GET /api/v1/dois/<doi>/closure`` on ``registry`` -> :class:`Resolution`.

    ``doi`` may be bare, ``doi:10...`` or ``https://doi.org/10...``. A concept DOI resolves to its
    latest version. Raises NotFound when the DOI is not registered there or names no recorded run.
    """
    norm, _base = split_doi_argument(doi)  # a landing page URL of this registry works too
    t0 = time.monotonic()
    resp = registry.transport.request(
        "GET", f"/api/v1/dois/{quote(norm, safe='/')}/closure", headers={"Accept": "application/json"}
    )
    res = Resolution.from_closure(registry, resp.json())
    res.resolve_seconds = time.monotonic() - t0
    return res


def locate_registry(
    doi: str, *, resolver: str | None = None, timeout: float = 30.0, max_hops: int = 5
) -> str:
    """The base URL of the sciregistry a DataCite DOI lands on, found through the DOI resolver.

    Follows the resolver's redirects (``https://doi.org/<doi>`` -> the registered URL, normally
    ``<base>/doi/<doi>``) without fetching the landing page, and returns ``<base>``. ``resolver``
    defaults to :data:`DOI_RESOLVER` (``https://doi.org/``). Raises
    NotFound when the DOI is unknown to the resolver or does not land on a sciregistry page, or is
    a test DOI (:data:`TEST_DOI_PREFIX`, never registered there: nothing is asked then), and
    TransportError (one short line) when the resolver cannot be reached.
    """
    from sciregistry.doi.identifiers import normalize_doi

    norm = normalize_doi(doi)
    base = (resolver or DOI_RESOLVER).rstrip("/")
    if is_test_doi(norm) and is_public_resolver(base):
        raise NotFound(
            f"{norm} is a test DOI (prefix {TEST_DOI_PREFIX}): it is never registered at "
            f"{base}/, so it cannot be looked up there"
        )
    url = base + "/" + norm
    with requests.Session() as session:
        for _ in range(max_hops):
            try:
                resp = session.get(
                    url, allow_redirects=False, timeout=timeout, headers={"Accept": "text/html"}, stream=True
                )
            except requests.RequestException as exc:
                where = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}/"
                raise TransportError(
                    f"cannot reach {where} to look up {norm} ({short_reason(exc)})"
                ) from None
            resp.close()
            found = _landing_base(url, norm)
            if found is not None:
                return found
            if resp.status_code == 404:
                raise NotFound(f"the DOI resolver does not know {norm}")
            location = resp.headers.get("Location")
            if resp.status_code not in (301, 302, 303, 307, 308) or not location:
                break
            url = urljoin(url, location)
    raise NotFound(f"{norm} does not land on a sciregistry landing page (last URL {url})")


def split_doi_argument(value: str) -> tuple[str, str | None]:
    """``(doi, registry base URL or None)`` for every form a registry prints a DOI in: bare
    (``10.5072/abcd-1234``), ``doi:...``, a resolver URL (``https://doi.org/...``) and the
    registry's own landing page (``http://host:port/doi/10.5072/abcd-1234``, whose base names the
    registry). Raises BadRequest (``not a DOI``) for anything else."""
    from sciregistry.doi.identifiers import normalize_doi

    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme in ("http", "https") and parts.netloc and not is_public_resolver(text):
        path = unquote(parts.path)
        idx = path.lower().rfind("/doi/10.")
        if idx >= 0:
            doi = normalize_doi(path[idx + len("/doi/") :].strip("/"))
            return doi, f"{parts.scheme}://{parts.netloc}{parts.path[:idx]}".rstrip("/")
    return normalize_doi(text), None


def is_test_doi(doi: str) -> bool:
    """True for a DOI under DataCite's test prefix (``10.5072/...``), which doi.org never knows."""
    return doi.strip().lower().startswith(TEST_DOI_PREFIX + "/")


def is_public_resolver(url: str) -> bool:
    """True for the public DOI resolver (``doi.org``, ``dx.doi.org``), where test DOIs are never
    registered; a resolver of one's own (a test double, a local handle server) may know them."""
    return (urlsplit(url if "://" in url else "https://" + url).hostname or "").lower() in (
        "doi.org",
        "dx.doi.org",
    )


def _landing_base(url: str, doi: str) -> str | None:
    parts = urlsplit(url)
    path = unquote(parts.path).lower()
    marker = f"/doi/{doi}"
    idx = path.rfind(marker)
    if idx < 0 or path[idx + len(marker) :].strip("/"):
        return None
    return f"{parts.scheme}://{parts.netloc}{parts.path[:idx]}".rstrip("/")


@dataclass
class Resolution:
    """A DOI resolved to its result and recorded run (``Registry.resolve(doi)``).

    ``image``, ``parameters`` (name -> value), ``inputs``, ``outputs`` and ``command`` (the
    template) come from the registry's index of the run crate; :attr:`crate` fetches and checks
    the crate itself. :meth:`download` fetches the outputs, :meth:`reproduce` re-runs the command.
    """

    doi: str
    record: dict[str, Any]
    registry: Registry = field(repr=False, compare=False)
    repository: str
    result_digest: str
    crate_digest: str | None
    image: ImagePin
    parameters: dict[str, Any]
    parameter_types: dict[str, str]
    inputs: list[InputPin]
    outputs: list[OutputFile]
    command: str
    run: dict[str, Any] = field(repr=False)
    closure: dict[str, Any] = field(repr=False)
    resolve_seconds: float = field(default=0.0, repr=False, compare=False)

    @classmethod
    def from_closure(cls, registry: Registry, closure: Mapping[str, Any]) -> Resolution:
        record = dict(closure["doi"])
        run = closure.get("run")
        if not run:
            raise NotFound(f"DOI {record.get('doi')} names no recorded run: there is nothing to reproduce")
        host = registry.host
        img = run["image"]
        res = cls(
            doi=record["doi"],
            record=record,
            registry=registry,
            repository=record.get("repository") or run["repository"],
            result_digest=record.get("result_digest") or run["result_digest"],
            crate_digest=record.get("crate_digest"),
            image=ImagePin(host, img["repository"], img["digest"], img.get("index_digest"), img.get("tag")),
            parameters={p["name"]: p["value"] for p in run.get("parameters", [])},
            parameter_types={p["name"]: p.get("type") or "string" for p in run.get("parameters", [])},
            inputs=[],
            outputs=[],
            command=run["command"],
            run=dict(run),
            closure=dict(closure),
        )
        res.inputs = [
            InputPin(i["name"], host, i["repository"], i["digest"], res) for i in run.get("inputs", [])
        ]
        res.outputs = [
            OutputFile(o["path"], o["sha256"], int(o["size"]), res) for o in run.get("outputs", [])
        ]
        return res

    # --- views ---
    @property
    def result_reference(self) -> str:
        return f"{self.registry.host}/{self.repository}@{self.result_digest}"

    @property
    def title(self) -> str | None:
        titles = (self.record.get("metadata") or {}).get("titles") or []
        return titles[0].get("title") if titles and isinstance(titles[0], dict) else None

    @property
    def rendered_command(self) -> str:
        """The command with the recorded parameters (ValueError for an unknown placeholder)."""
        return render_command(self.command, self.parameters)

    def __repr__(self) -> str:
        return (
            f"Resolution({self.doi!r}, result={self.repository}@{self.result_digest[:19]}, "
            f"image={self.image.repository}@{self.image.digest[:19]}, outputs={len(self.outputs)})"
        )

    def _repr_html_(self) -> str:
        def row(k: str, v: Any) -> str:
            return (
                f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                f"<td><code>{html.escape(str(v))}</code></td></tr>"
            )

        try:
            cmd = self.rendered_command
        except ValueError as exc:
            cmd = f"{self.command}  ({exc})"
        rows = [
            row("DOI", self.doi),
            row("title", self.title or "-"),
            row("result", self.result_reference),
            row("image", self.image.reference),
            row("command", cmd),
        ]
        rows += [
            row(f"parameter {k}", json.dumps(v) if not isinstance(v, str) else v)
            for k, v in self.parameters.items()
        ]
        rows += [row(f"input {i.name}", i.reference) for i in self.inputs]
        rows += [row(f"output {o.path}", f"sha256:{o.sha256[:16]}… ({o.size} B)") for o in self.outputs]
        return (
            f"<table><caption style='text-align:left'><b>sciregistry DOI</b></caption>{''.join(rows)}</table>"
        )

    # --- fetching ---
    @cached_property
    def _result(self) -> tuple[dict[str, Any], Descriptor]:
        got = self.registry.oci.get_manifest(self.repository, self.result_digest)  # verifies the digest
        doc: dict[str, Any] = json.loads(got.data)
        media_type = got.media_type or str(
            doc.get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
        )
        return doc, Descriptor(media_type, got.digest, len(got.data))

    @property
    def result_manifest(self) -> dict[str, Any]:
        """The result manifest (fetched once, by digest, verified)."""
        return self._result[0]

    @property
    def result_descriptor(self) -> Descriptor:
        """The result manifest's descriptor: the subject of crates and reports."""
        return self._result[1]

    def _result_layers(self) -> dict[str, dict[str, Any]]:
        layers = self.result_manifest.get("layers", [])
        return {str((ly.get("annotations") or {}).get(types.TITLE)): ly for ly in layers}

    def download_output(self, output: OutputFile, directory: str | os.PathLike[str]) -> Path:
        layer = self._result_layers().get(output.path)
        if layer is None:
            raise NotFound(
                f"output {output.path!r} is not a file of result {self.repository}@{self.result_digest}"
            )
        if layer.get("digest") != output.digest:
            raise DigestInvalid(
                f"output {output.path!r}: the result's layer is {layer.get('digest')}, "
                f"the record says {output.digest}",
                {"path": output.path},
            )
        target = _inside(Path(directory), output.path)
        return self.registry.download_blob(self.repository, output.digest, target)

    def download(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Every recorded output under ``directory`` (each verified against its recorded sha256)."""
        return [self.download_output(o, directory) for o in self.outputs]

    @cached_property
    def crate(self) -> CrateCheck:
        """The run crate, fetched by the DOI's crate digest and checked against this resolution."""
        return self.fetch_crate()

    def fetch_crate(self) -> CrateCheck:
        """Fetch the run crate and compare it with the DOI's record (see the module docstring).

        Disagreements are returned as ``problems``; bytes that do not match their digest raise
        DigestInvalid, and missing content the registry's error (ManifestUnknown, BlobUnknown).
        """
        from sciregistry.errors import CrateInvalid
        from sciregistry.provenance import read_run_crate

        problems: list[str] = []
        run_crate = self.run.get("crate_digest")
        digest = self.crate_digest or run_crate
        if digest is None:
            return CrateCheck(None, None, [f"DOI {self.doi} names no run crate"])
        if self.crate_digest and run_crate and run_crate != self.crate_digest:
            problems.append(
                f"the DOI records crate {self.crate_digest} but its run was indexed from {run_crate}"
            )
        got = self.registry.oci.get_manifest(self.repository, digest)  # verifies the digest
        doc = json.loads(got.data)
        if doc.get("artifactType") != types.ROCRATE:
            problems.append(
                f"crate {digest} has artifactType {doc.get('artifactType')!r}, expected {types.ROCRATE}"
            )
        subject = (doc.get("subject") or {}).get("digest")
        if subject != self.result_digest:
            problems.append(f"crate {digest} refers to {subject}, not to the result {self.result_digest}")
        metadata = run_description = None
        for layer in doc.get("layers", []):
            title = (layer.get("annotations") or {}).get(types.TITLE)
            if title == types.CRATE_METADATA_NAME:
                metadata = self.registry.oci.blob_bytes(self.repository, layer["digest"])
                if len(metadata) != layer.get("size"):
                    problems.append(
                        f"crate layer {title}: {len(metadata)} bytes, descriptor says {layer.get('size')}"
                    )
            elif title == types.RUN_DESCRIPTION_NAME:
                run_description = self.registry.oci.blob_bytes(self.repository, layer["digest"])
                if len(run_description) != layer.get("size"):
                    problems.append(
                        f"crate layer {title}: {len(run_description)} bytes, "
                        f"descriptor says {layer.get('size')}"
                    )
        if metadata is None:
            return CrateCheck(
                digest, None, [*problems, f"crate {digest} has no {types.CRATE_METADATA_NAME} layer"]
            )
        try:
            run = read_run_crate(metadata, run_description)
        except CrateInvalid as exc:
            return CrateCheck(
                digest, None, [*problems, f"crate {digest} is not a valid run crate: {exc.text}"]
            )
        problems += self._disagreements(run)
        return CrateCheck(digest, run, problems)

    def _disagreements(self, run: RunRecord) -> list[str]:
        out: list[str] = []
        if run.image.digest != self.image.digest:
            out.append(f"image: the crate records {run.image.digest}, the DOI's run {self.image.digest}")
        if run.image.name != self.image.repository:
            out.append(
                f"image repository: the crate records {run.image.name}, the DOI's run {self.image.repository}"
            )
        if run.command != self.command:
            out.append(f"command: the crate records {run.command!r}, the DOI's run {self.command!r}")
        out += _disagreements(
            "parameter",
            {p.name: (p.type, p.value) for p in run.parameters},
            {k: (self.parameter_types.get(k), v) for k, v in self.parameters.items()},
        )
        out += _disagreements(
            "input",
            {i.name: (i.repository, i.digest) for i in run.inputs},
            {i.name: (i.repository, i.digest) for i in self.inputs},
        )
        out += _disagreements(
            "output",
            {o.path: (o.sha256, o.size) for o in run.outputs},
            {o.path: (o.sha256, o.size) for o in self.outputs},
        )
        layers = self._result_layers()
        for o in self.outputs:
            layer = layers.get(o.path)
            if layer is None:
                out.append(f"output {o.path!r} is not a file of the result {self.result_digest}")
            elif layer.get("digest") != o.digest or layer.get("size") != o.size:
                out.append(
                    f"output {o.path!r}: the result's layer is {layer.get('digest')} "
                    f"({layer.get('size')} bytes), the record says {o.digest} ({o.size} bytes)"
                )
        return out

    # --- reproducing ---
    def reproduce(
        self,
        out_dir: str | os.PathLike[str] | None = None,
        runtime: Runtime = "auto",
        attach: bool = False,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Report:
        """Re-run the recorded command and compare outputs; write ``report.json`` and ``report.md``
        in ``out_dir`` (default ``./reproduce-<suffix>``, which must be new or empty); with
        ``attach``, push the report as a referrer of the result. Returns the :class:`Report`."""
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
        target = Path(out_dir) if out_dir is not None else default_out_dir(self.doi)
        return _Reproduction(self, target, runtime, timeout).run(attach=attach)


def _disagreements(what: str, crate: Mapping[str, Any], mine: Mapping[str, Any]) -> list[str]:
    """One line per key whose value differs between the crate and the DOI's run record."""
    return [
        f"{what} {key!r}: the crate records {crate.get(key)}, the DOI's run {mine.get(key)}"
        for key in sorted(set(crate) | set(mine))
        if crate.get(key) != mine.get(key)
    ]


def default_out_dir(doi: str) -> Path:
    """``./reproduce-<suffix>`` with anything but ``[a-z0-9._-]`` replaced by ``-``."""
    suffix = doi.split("/", 1)[-1].lower()
    return Path(f"reproduce-{re.sub(r'[^a-z0-9._-]+', '-', suffix).strip('-') or 'doi'}")


# --- the procedure -----------------------------------------------------------------------------------


class _Stop(Exception):
    def __init__(self, verdict: str, reason: str) -> None:
        super().__init__(reason)
        self.verdict = verdict
        self.reason = reason


def _fetch_failure(exc: BaseException, what: str) -> _Stop:
    if isinstance(exc, DigestInvalid):
        return _Stop(DIGEST_MISMATCH, f"{what}: the bytes received do not match their digest ({exc.text})")
    text = exc.text if isinstance(exc, RegistryError) else str(exc)
    code = f"{exc.code}: " if isinstance(exc, RegistryError) else ""
    return _Stop(INPUT_UNAVAILABLE, f"{what} cannot be fetched ({code}{text})")


def _tool_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sciregistry")
    except PackageNotFoundError:
        return "unknown"


class _Reproduction:
    """One run of the procedure in the module docstring; builds the :class:`Report`."""

    def __init__(self, res: Resolution, out_dir: Path, runtime: str, timeout: float) -> None:
        self.res = res
        self.out = self._prepare(out_dir)
        self.requested = runtime
        self.timeout = timeout
        self.started = _now()
        self.steps: list[Step] = []
        self.crate: dict[str, Any] = {"digest": res.crate_digest, "verified": False, "problems": []}
        self.image: dict[str, Any] = {
            "repository": res.image.repository,
            "digest": res.image.digest,
            "reference": res.image.reference,
            "index_digest": res.image.index_digest,
            "layout": None,
            "verified": False,
        }
        self.inputs: list[dict[str, Any]] = [
            {
                "name": i.name,
                "repository": i.repository,
                "digest": i.digest,
                "reference": i.reference,
                "mount": i.mount,
                "path": None,
                "status": "not_fetched",
                "files": [],
            }
            for i in res.inputs
        ]
        self.command: dict[str, Any] = {
            "template": res.command,
            "rendered": None,
            "argv": None,
            "suggested": None,
        }
        self.runtime: dict[str, Any] = {
            "requested": runtime,
            "name": None,
            "version": None,
            "probes": [],
            "exit_code": None,
            "seconds": None,
            "stdout_tail": "",
            "stderr_tail": "",
        }
        self.outputs = [
            OutputResult(o.path, o.sha256, o.size, None, None, "not_compared") for o in res.outputs
        ]
        self.extra: list[str] = []
        self.crate_run: RunRecord | None = None

    @staticmethod
    def _prepare(out_dir: Path) -> Path:
        out = Path(os.path.abspath(out_dir))
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise FileExistsError(f"{out} is not an empty directory: reproduce into a new or empty directory")
        Mount(out, "/out", False).arg()  # refuse unmountable paths before doing any work
        out.mkdir(parents=True, exist_ok=True)
        return out

    @contextmanager
    def _step(self, name: str) -> Iterator[list[str]]:
        """Time a step; the body appends its detail to the yielded list. A _Stop marks it failed."""
        detail: list[str] = []
        t0 = time.monotonic()
        try:
            yield detail
        except _Stop as stop:
            self.steps.append(Step(name, "failed", time.monotonic() - t0, stop.reason))
            raise
        self.steps.append(Step(name, "ok", time.monotonic() - t0, "; ".join(detail)))

    def run(self, *, attach: bool) -> Report:
        self.steps.append(
            Step("resolve", "ok", self.res.resolve_seconds, f"{self.res.doi} -> {self.res.result_reference}")
        )
        try:
            verdict, reason = self._procedure()
        except _Stop as stop:
            verdict, reason = stop.verdict, stop.reason
        done = {s.name for s in self.steps}
        for name in ("crate", "image", "inputs", "render", "runtime", "run", "compare"):
            if name not in done:
                self.steps.append(Step(name, "skipped", 0.0, ""))
        report = Report(
            verdict=verdict,
            reason=reason,
            doi=self.res.doi,
            registry=self.res.registry.url,
            result={
                "repository": self.res.repository,
                "digest": self.res.result_digest,
                "reference": self.res.result_reference,
            },
            crate=self.crate,
            image=self.image,
            parameters=[
                {"name": k, "value": v, "type": self.res.parameter_types.get(k, "string")}
                for k, v in self.res.parameters.items()
            ],
            inputs=self.inputs,
            command=self.command,
            runtime=self.runtime,
            outputs=self.outputs,
            extra_outputs=self.extra,
            steps=self.steps,
            started=self.started,
            ended=_now(),
            tool={"name": "sciregistry", "version": _tool_version()},
            out_dir=self.out,
        )
        problems = report.validate()
        if problems:  # a bug in this module, not in the data: say so loudly
            raise AssertionError(f"reproduction report does not satisfy {REPORT_SCHEMA}: {problems}")
        data = report.to_json()
        (self.out / REPORT_NAME).write_bytes(data)
        (self.out / "report.md").write_text(report.to_markdown(), encoding="utf-8")
        if attach:  # a refused push (e.g. a read-only reviewer token) raises; both files are written
            report.attached = attach_report(self.res, data)
            (self.out / "report.md").write_text(report.to_markdown(), encoding="utf-8")
        return report

    def _procedure(self) -> tuple[str, str]:
        self._check_crate()
        if self.crate_run is not None and self.crate_run.is_workflow:
            return self._workflow_procedure(self.crate_run)
        layout = self._export_image()
        self._fetch_inputs()
        rendered = self._render()
        mounts = [Mount(self.out / "inputs" / i.name, i.mount, True) for i in self.res.inputs]
        mounts.append(Mount(self.out / "outputs", "/out", False))
        (self.out / "outputs").mkdir(exist_ok=True)
        self.command["suggested"] = suggested_command(layout, mounts, rendered)
        rt, image = self._select(layout)
        if rt is None or image is None:
            self.command["argv"] = hand_argv(layout, mounts, rendered)  # what would run: the printed command
            tried = (
                "; ".join(f"{p['name']}: {p['detail']}" for p in self.runtime["probes"])
                or "runtime none requested"
            )
            return (
                NOT_RUN,
                f"no container runtime could run the image ({tried}); run the suggested command by hand",
            )
        try:
            self._run_container(rt, image, mounts, rendered)
        finally:
            rt.close()
        return self._compare()

    # --- workflow runs (CWL with cwltool; other engines NOT_RUN with the commands to run by hand) ---
    def _workflow_procedure(self, run: RunRecord) -> tuple[str, str]:
        res = self.res
        host = res.registry.host
        crate_dir = self.out / "crate"
        step_lines = [
            f"{st.name}: {host}/{st.image.name}@{st.image.digest} {st.command} "
            + " ".join(f"{p.name}={format_value(p.value)}" for p in st.parameters)
            for st in run.steps
        ]
        with self._step("inputs") as detail:
            try:
                res.registry.pull(f"{res.repository}@{self.crate['digest']}", crate_dir)
            except (RegistryError, TransportError) as exc:
                raise _fetch_failure(exc, f"crate {self.crate['digest']}") from exc
            detail.append(
                f"crate {self.crate['digest']}: workflow {run.workflow.path if run.workflow else '?'} and "
                f"{len(run.input_files)} input file(s) verified by digest"
            )
        workflow = crate_dir / (run.workflow.path if run.workflow else "")
        commands = [f"sciregistry pull {host}/{res.repository}@{self.crate['digest']} crate/"]
        commands += [f"podman pull {host}/{st.image.name}@{st.image.digest}" for st in run.steps]
        with self._step("render") as detail:
            if run.language == "cwl":
                job = self._cwl_job(crate_dir)
                rendered = (
                    f"cwltool --podman --outdir outputs {workflow.relative_to(self.out)} "
                    f"{job.relative_to(self.out)}"
                )
            elif run.language == "nextflow":
                rendered = (
                    f"nextflow run crate/{run.workflow.path if run.workflow else 'main.nf'} -with-docker"
                )
            elif run.language == "snakemake":
                rendered = (
                    f"snakemake --snakefile crate/{run.workflow.path if run.workflow else 'Snakefile'} "
                    "--use-singularity --cores 1"
                )
            else:
                rendered = f"run crate/{run.workflow.path if run.workflow else ''} with its engine"
            self.command["rendered"] = rendered
            detail.append(
                f"{run.language or 'unknown'} workflow, {len(run.steps)} step(s): " + "; ".join(step_lines)
            )
        self.command["suggested"] = " && ".join([*commands, rendered])
        from sciregistry.client.cwl import CwlEnvironment, cwltool_command

        if run.language != "cwl":
            return NOT_RUN, (
                f"{run.language or 'this'} workflows are not re-run here; run by hand: "
                + " && ".join([*commands, rendered])
            )
        with self._step("runtime") as detail:
            if cwltool_command() is None or shutil.which("podman") is None or self.requested == "none":
                detail.append("cwltool and podman needed (pip install 'sciregistry[cwl]')")
                return NOT_RUN, "cwltool or podman is not available here; run by hand: " + " && ".join(
                    [*commands, rendered]
                )
            self.runtime["name"] = "podman"
            self.runtime["version"] = "cwltool"
            detail.append("cwltool --podman")
        (self.out / "outputs").mkdir(exist_ok=True)
        creds = res.registry.transport.basic_credentials
        env = CwlEnvironment([host], auth={host: creds} if creds else None)
        try:
            with self._step("run") as detail:
                t0 = time.monotonic()
                done = env.run(workflow, self.out / "job.json", self.out / "outputs", timeout=self.timeout)
                self.command["argv"] = done.argv
                self.runtime["seconds"] = round(time.monotonic() - t0, 3)
                self.runtime["exit_code"] = done.returncode
                self.runtime["stderr_tail"] = _tail(done.log)
                if done.returncode != 0:
                    raise _Stop(RUN_FAILED, f"cwltool exited with code {done.returncode}")
                detail.append(
                    f"{len(run.steps)} step(s) pulled by digest and run in {self.runtime['seconds']} s: "
                    + "; ".join(step_lines)
                )
        finally:
            env.close()
        return self._compare_workflow(crate_dir)

    def _cwl_job(self, crate_dir: Path) -> Path:
        """primary-job.json with every File/Directory input pointed at its copy under inputs/ (real names)."""
        doc = json.loads((crate_dir / types.CRATE_METADATA_NAME).read_text(encoding="utf-8"))
        entities = {e.get("@id"): e for e in doc.get("@graph", []) if isinstance(e, dict)}
        job = (
            json.loads((crate_dir / "primary-job.json").read_text(encoding="utf-8"))
            if (crate_dir / "primary-job.json").is_file()
            else {}
        )
        inputs_dir = self.out / "inputs"
        for e in entities.values():
            example = e.get("exampleOfWork")
            works = {
                w.get("@id")
                for w in (example if isinstance(example, list) else [example])
                if isinstance(w, dict)
            }
            names = [w.split("#main/", 1)[1] for w in works if w and "#main/" in w]
            type_ = e.get("@type")
            types_: list[Any] = type_ if isinstance(type_, list) else [type_]
            if not names or names[0] not in job or not ({"File", "Dataset"} & set(types_)):
                continue
            alt = str(e.get("alternateName") or names[0])
            target = _inside(inputs_dir, alt)
            if "Dataset" in types_:
                for part in e.get("hasPart", []):
                    f = entities.get(part.get("@id"), {})
                    rel = str(f.get("alternateName") or f.get("@id"))
                    dest = _inside(inputs_dir, rel)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(_inside(crate_dir, str(f.get("@id"))), dest)
                target.mkdir(parents=True, exist_ok=True)
                job[names[0]] = {"class": "Directory", "location": target.as_uri()}
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(_inside(crate_dir, str(e["@id"])), target)
                job[names[0]] = {"class": "File", "location": target.as_uri()}
        path = self.out / "job.json"
        path.write_text(json.dumps(job, indent=2) + "\n", encoding="utf-8")
        return path

    def _compare_workflow(self, crate_dir: Path) -> tuple[str, str]:
        """Compare each recorded output with the file of the same name the re-run wrote."""
        doc = json.loads((crate_dir / types.CRATE_METADATA_NAME).read_text(encoding="utf-8"))
        names = {e.get("@id"): e.get("alternateName") for e in doc.get("@graph", []) if isinstance(e, dict)}
        outdir = self.out / "outputs"
        with self._step("compare") as detail:
            results = []
            for o in self.res.outputs:
                local = names.get(o.path) or o.path
                path = _inside(outdir, str(local))
                if not path.is_file():
                    results.append(OutputResult(o.path, o.sha256, o.size, None, None, "missing"))
                    continue
                sha, size = _sha256_file(path)
                results.append(
                    OutputResult(
                        o.path,
                        o.sha256,
                        o.size,
                        sha,
                        size,
                        "identical" if (sha, size) == (o.sha256, o.size) else "different",
                    )
                )
            self.outputs = results
            same = sum(r.status == "identical" for r in results)
            detail.append(
                f"{same} of {len(results)} output(s) identical: "
                + ", ".join(f"{names.get(r.path) or r.path} {r.status}" for r in results)
            )
        total = len(results)
        if total and same == total:
            return REPRODUCED, f"all {total} recorded output(s) of the workflow are byte-identical"
        if same:
            return PARTIAL, f"{same} of {total} recorded outputs are byte-identical"
        return NOT_REPRODUCED, f"none of the {total} recorded output(s) is byte-identical"

    # --- steps ---
    def _check_crate(self) -> None:
        with self._step("crate") as detail:
            try:
                check = self.res.fetch_crate()
            except (RegistryError, TransportError) as exc:
                raise _fetch_failure(exc, f"run crate {self.res.crate_digest}") from exc
            self.crate["digest"] = check.digest
            self.crate["problems"] = list(check.problems)
            if not check.verified:
                raise _Stop(
                    DIGEST_MISMATCH, "the run crate disagrees with the DOI's record: " + check.problems[0]
                )
            self.crate["verified"] = True
            self.crate_run = check.run
            detail.append(
                f"crate {check.digest} verified: image, command, {len(self.res.parameters)} parameter(s), "
                f"{len(self.res.inputs)} input(s), {len(self.res.outputs)} output(s) agree"
            )

    def _export_image(self) -> Path:
        layout = self.out / "image"
        with self._step("image") as detail:
            try:
                self.res.registry.export_layout(
                    self.res.image.repository, self.res.image.digest, layout, tag=LAYOUT_TAG
                )
            except (RegistryError, TransportError) as exc:
                raise _fetch_failure(exc, f"image {self.res.image.reference}") from exc
            self.image["layout"] = "image"
            self.image["verified"] = True
            detail.append(f"exported {self.res.image.digest} to image/ (every blob verified)")
        return layout

    def _fetch_inputs(self) -> None:
        with self._step("inputs") as detail:
            recorded = {i.name: i for i in (self.crate_run.inputs if self.crate_run else [])}
            for entry, pin in zip(self.inputs, self.res.inputs, strict=True):
                dest = self.out / "inputs" / pin.name
                try:
                    pulled = self.res.registry.pull(f"{pin.repository}@{pin.digest}", dest)
                except (RegistryError, TransportError) as exc:
                    entry["status"] = "mismatch" if isinstance(exc, DigestInvalid) else "unavailable"
                    raise _fetch_failure(exc, f"input {pin.name!r} ({pin.reference})") from exc
                entry["path"] = f"inputs/{pin.name}"
                files = []
                for path in pulled.files:
                    sha, size = _sha256_file(path)
                    files.append({"path": path.relative_to(dest).as_posix(), "sha256": sha, "size": size})
                entry["files"] = files
                want = recorded.get(pin.name)
                if want is not None and want.files:
                    have = {(f["path"], f["sha256"], f["size"]) for f in files}
                    missing = [f.path for f in want.files if (f.path, f.sha256, f.size) not in have]
                    if missing:
                        entry["status"] = "mismatch"
                        raise _Stop(
                            DIGEST_MISMATCH,
                            f"input {pin.name!r}: the crate records file(s) "
                            f"{', '.join(missing)} that the dataset does not hold",
                        )
                entry["status"] = "verified"
                detail.append(f"{pin.name}: {len(files)} file(s)")

    def _render(self) -> str:
        with self._step("render") as detail:
            try:
                rendered = render_command(self.res.command, self.res.parameters)
            except ValueError as exc:
                raise _Stop(RUN_FAILED, f"the command template cannot be rendered: {exc}") from exc
            self.command["rendered"] = rendered
            detail.append(rendered)
        return rendered

    def _select(self, layout: Path) -> tuple[ContainerRuntime | None, str | None]:
        with self._step("runtime") as detail:
            try:
                rt, image, probes = select_runtime(self.requested, layout, LAYOUT_TAG, self.res.image.digest)
            except LoadedDigestMismatch as exc:
                raise _Stop(DIGEST_MISMATCH, str(exc)) from exc
            self.runtime["probes"] = [p.to_dict() for p in probes]
            if rt is None:
                detail.append("none usable" if probes else "runtime none requested")
                return None, None
            self.runtime["name"] = rt.name
            self.runtime["version"] = rt.version
            detail.append(f"{rt.name} {rt.version or ''}".strip())
        return rt, image

    def _run_container(self, rt: ContainerRuntime, image: str, mounts: list[Mount], rendered: str) -> None:
        name = f"sciregistry-reproduce-{uuid.uuid4().hex[:12]}"
        argv = rt.run_argv(image, mounts, rendered, name=name)
        self.command["argv"] = argv
        with self._step("run") as detail:
            t0 = time.monotonic()
            try:
                proc = subprocess.run(
                    argv, capture_output=True, timeout=self.timeout, check=False, stdin=subprocess.DEVNULL
                )
            except subprocess.TimeoutExpired as exc:
                rt.remove(name)
                self.runtime["seconds"] = round(time.monotonic() - t0, 3)
                self.runtime["stdout_tail"] = _tail(exc.stdout)
                self.runtime["stderr_tail"] = _tail(exc.stderr)
                raise _Stop(RUN_FAILED, f"the command did not finish within {self.timeout:g} s") from exc
            except OSError as exc:
                raise _Stop(RUN_FAILED, f"{rt.name} could not be started: {exc}") from exc
            self.runtime["seconds"] = round(time.monotonic() - t0, 3)
            self.runtime["exit_code"] = proc.returncode
            self.runtime["stdout_tail"] = _tail(proc.stdout)
            self.runtime["stderr_tail"] = _tail(proc.stderr)
            if proc.returncode != 0:
                last = _tail(proc.stderr, 300).strip().splitlines()
                raise _Stop(
                    RUN_FAILED,
                    f"the command exited with code {proc.returncode}" + (f": {last[-1]}" if last else ""),
                )
            detail.append(f"exit code 0 after {self.runtime['seconds']} s")

    def _compare(self) -> tuple[str, str]:
        outdir = self.out / "outputs"
        with self._step("compare") as detail:
            results = []
            for o in self.res.outputs:
                path = _inside(outdir, o.path)
                if not path.is_file():
                    results.append(OutputResult(o.path, o.sha256, o.size, None, None, "missing"))
                    continue
                sha, size = _sha256_file(path)
                status: Literal["identical", "different"] = (
                    "identical" if sha == o.sha256 and size == o.size else "different"
                )
                results.append(OutputResult(o.path, o.sha256, o.size, sha, size, status))
            self.outputs = results
            recorded = {o.path for o in self.res.outputs}
            self.extra = sorted(
                p.relative_to(outdir).as_posix()
                for p in outdir.rglob("*")
                if p.is_file() and p.relative_to(outdir).as_posix() not in recorded
            )
            same = sum(r.status == "identical" for r in results)
            detail.append(f"{same} of {len(results)} output(s) identical")
        total = len(results)
        if total and same == total:
            return REPRODUCED, f"all {total} recorded output(s) are byte-identical"
        if same:
            differ = ", ".join(r.path for r in results if r.status != "identical")
            return PARTIAL, f"{same} of {total} recorded outputs are byte-identical; {differ} differ(s)"
        if not total:
            return NOT_REPRODUCED, "the run records no outputs to compare"
        return NOT_REPRODUCED, f"none of the {total} recorded output(s) is byte-identical"


def attach_report(res: Resolution, report_json: bytes) -> str:
    """Push ``report_json`` as a referrer of the result (artifactType reproduction.v1); return its digest."""
    from sciregistry.client import artifacts as _artifacts
    from sciregistry.oci import ImageReference

    # The report's own end time, not the clock: attaching the same report twice pushes the same
    # manifest (and counts once), whatever second it happens in.
    try:
        created = json.loads(report_json).get("ended") or _now()
    except (ValueError, AttributeError):
        created = _now()
    digest, _, _ = _artifacts._push_files_artifact(
        res.registry.oci,
        ImageReference(res.registry.host, res.repository),
        [],
        types.REPORT,
        {types.CREATED: str(created)},
        subject=res.result_descriptor,
        blobs=[(report_json, types.REPORT_MEDIA_TYPE, REPORT_NAME)],
    )
    return digest
