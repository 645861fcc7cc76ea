"""Values describing one recorded computation (a "run"), independent of any serialisation.

A ``RunRecord`` is what :func:`sciregistry.provenance.crate.build_run_crate` turns into a
Workflow Run Crate (``ro-crate-metadata.json``) plus the machine-readable run description
(``sciregistry-run.json``), and what :func:`sciregistry.provenance.crate.read_run_crate`
gives back. These dataclasses cross layers (``registry`` indexes them, ``client`` renders
them); they carry no behaviour beyond light validation of their own fields.

Example::

    RunRecord(
        name="count reads",
        image=ImageRef("registry.example.org", "lab/pipeline", "1.2", "sha256:9f86d0..."),
        command="count --min-q {min_quality} /in/reads/ -o /out/counts.tsv",
        parameters=[Parameter("min_quality", 20)],          # type inferred: "integer"
        inputs=[InputRef("reads", "registry.example.org/lab/reads@sha256:5e88...",
                         "sha256:5e88...", "lab/reads")],
        outputs=[FileRef("counts.tsv", "2c26b4...", 1234)],
        started=datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc),
        ended=datetime(2024, 5, 1, 12, 5, tzinfo=timezone.utc),
    )
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = [
    "Agent",
    "FileRef",
    "ImageRef",
    "InputRef",
    "Parameter",
    "ParameterType",
    "ParameterValue",
    "RunRecord",
    "Step",
    "infer_parameter_type",
]

ParameterType = Literal["string", "integer", "number", "boolean"]
ParameterValue = str | int | float | bool

PARAMETER_TYPES: tuple[str, ...] = ("string", "integer", "number", "boolean")
_SHA256_HEX = re.compile(r"^[a-f0-9]{64}$")
_SHA256_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


def infer_parameter_type(value: object) -> ParameterType:
    """Map a Python value to its run-description parameter type (``bool`` before ``int``)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    raise TypeError(
        f"parameter value {value!r} has unsupported type {type(value).__name__}; use str, int, float or bool"
    )


@dataclass(frozen=True)
class ImageRef:
    """The container image that ran, pinned by its manifest (or index) digest.

    ``registry`` is the host (``registry.example.org`` or ``127.0.0.1:5000``), ``name`` the
    repository (``lab/pipeline``), ``tag`` the tag it was pulled by (informative only) and
    ``digest`` the ``sha256:<hex>`` digest of the image manifest or index.
    """

    registry: str
    name: str
    tag: str | None
    digest: str

    def __post_init__(self) -> None:
        if not _SHA256_DIGEST.match(self.digest):
            raise ValueError(f"image digest must be sha256:<64 lower-case hex>, got {self.digest!r}")

    @property
    def reference(self) -> str:
        """``registry/name@sha256:...``: the pull-by-digest reference."""
        return f"{self.registry}/{self.name}@{self.digest}"


@dataclass(frozen=True)
class FileRef:
    """One file by relative path, with its sha256 (bare lower-case hex) and size in bytes."""

    path: str
    sha256: str
    size: int
    media_type: str = "application/octet-stream"

    def __post_init__(self) -> None:
        if not _SHA256_HEX.match(self.sha256):
            raise ValueError(
                f"file {self.path!r}: sha256 must be 64 lower-case hex digits, got {self.sha256!r}"
            )
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise ValueError(f"file {self.path!r}: size must be a non-negative integer, got {self.size!r}")
        if not self.path or self.path.startswith("/") or ".." in self.path.split("/"):
            raise ValueError(f"file path must be relative and stay inside its artifact, got {self.path!r}")


@dataclass(frozen=True)
class Parameter:
    """A named scalar parameter substituted into the command template as ``{name}``.

    ``type`` is inferred from ``value`` when omitted; an explicit type must match the value.
    """

    name: str
    value: ParameterValue
    type: ParameterType | None = None

    def __post_init__(self) -> None:
        inferred = infer_parameter_type(self.value)
        if self.type is None:
            object.__setattr__(self, "type", inferred)
        elif self.type not in PARAMETER_TYPES:
            raise ValueError(f"parameter {self.name!r}: unknown type {self.type!r}")
        elif self.type != inferred and not (self.type == "number" and inferred == "integer"):
            raise ValueError(f"parameter {self.name!r}: value {self.value!r} is not of type {self.type!r}")
        elif self.type == "number" and inferred == "integer":
            object.__setattr__(self, "value", float(self.value))


@dataclass(frozen=True)
class InputRef:
    """An input dataset artifact (artifactType ``application/vnd.sciregistry.dataset.v1``).

    ``reference`` is ``host/repo@sha256:...``, ``digest`` its manifest digest, ``repository``
    the repository name without host; ``files`` the dataset's layers (optional).
    """

    name: str
    reference: str
    digest: str
    repository: str
    files: list[FileRef] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not _SHA256_DIGEST.match(self.digest):
            raise ValueError(f"input {self.name!r}: digest must be sha256:<64 hex>, got {self.digest!r}")
        if not self.reference.endswith("@" + self.digest):
            raise ValueError(
                f"input {self.name!r}: reference {self.reference!r} does not end with @{self.digest}"
            )
        path = self.reference[: -len(self.digest) - 1]
        if path != self.repository and not path.endswith("/" + self.repository):
            raise ValueError(
                f"input {self.name!r}: reference {self.reference!r} is not in repository {self.repository!r}"
            )

    @property
    def mount(self) -> str:
        """Where the dataset's files appear inside the container: ``/in/<name>/``."""
        return f"/in/{self.name}/"


@dataclass(frozen=True)
class Agent:
    """The person who ran the computation; ``orcid`` is the full ``https://orcid.org/...`` URL."""

    name: str
    orcid: str | None = None


@dataclass(frozen=True)
class Step:
    """One step of a run: one process that ran in one container image, pinned by digest.

    A workflow run (CWL, Nextflow, Snakemake ...) has one ``Step`` per process execution, in the
    order the engine ran them (``position``); a single-image run recorded by ``sciregistry run
    record`` is the one-step case (see :attr:`RunRecord.all_steps`). ``command`` is the command
    template or the tool the step ran (for CWL the tool's id in the packed workflow, for example
    ``packed.cwl#gc.cwl``); ``inputs`` and ``outputs`` are the files the step read and wrote, by
    path in the run's crate or result, with their sha256.
    """

    name: str
    image: ImageRef
    command: str = ""
    parameters: list[Parameter] = field(default_factory=list)
    inputs: list[FileRef] = field(default_factory=list)
    outputs: list[FileRef] = field(default_factory=list)
    started: datetime | None = None
    ended: datetime | None = None
    position: int = 0

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a step needs a name")
        _unique(f"step {self.name!r} parameter name", [p.name for p in self.parameters])


@dataclass(frozen=True)
class RunRecord:
    """One execution of ``command`` in ``image`` over ``inputs``, producing ``outputs``.

    A workflow run also lists its ``steps`` (each with its own image, command or tool,
    parameters, inputs and outputs), the workflow ``language`` (``cwl``, ``nextflow``,
    ``snakemake``, ``galaxy`` ...) and the ``input_files`` the workflow read (carried in the crate
    artifact); ``workflow`` is then the workflow definition (``packed.cwl``, ``main.nf``,
    ``Snakefile``), ``command`` the engine command that ran it and ``image`` the first step's image
    (every step image is in ``steps``). A single-image run has no ``steps``: it is its own one
    step (:attr:`all_steps`).

    ``workflow`` optionally names a workflow file the command executes (for example a
    Snakefile shipped in the image); ``result_reference`` is the ``host/repo@sha256:...``
    reference of the result artifact the outputs were pushed as; ``license`` is the licence
    of the crate and result (an SPDX identifier or a URL; the crate records ``NOASSERTION``
    when it is unknown, Workflow RO-Crate requires one).
    """

    name: str
    image: ImageRef
    command: str
    parameters: list[Parameter]
    inputs: list[InputRef]
    outputs: list[FileRef]
    started: datetime | None
    ended: datetime | None
    agent: Agent | None = None
    workflow: FileRef | None = None
    description: str = ""
    result_reference: str | None = None
    license: str | None = None
    steps: list[Step] = field(default_factory=list)
    language: str | None = None
    input_files: list[FileRef] = field(default_factory=list)
    #: when the run was recorded: the crate's ``datePublished`` where the run's own times were not
    #: recorded (``started``/``ended`` None: the registry never invents them)
    recorded: datetime | None = field(default=None, compare=False)

    @property
    def is_workflow(self) -> bool:
        """True for a run read from a workflow engine's crate (it has its own steps)."""
        return bool(self.steps)

    @property
    def all_steps(self) -> list[Step]:
        """The steps in order; a single-image run is one step (its image, command, parameters, files)."""
        if self.steps:
            return list(self.steps)
        files = [f for i in self.inputs for f in i.files]
        return [
            Step(
                self.name,
                self.image,
                self.command,
                list(self.parameters),
                files,
                list(self.outputs),
                self.started,
                self.ended,
                0,
            )
        ]

    @property
    def images(self) -> list[ImageRef]:
        """Every distinct image the run used, in step order."""
        out: list[ImageRef] = []
        for step in self.all_steps:
            if step.image not in out:
                out.append(step.image)
        return out

    def __post_init__(self) -> None:
        for label, moment in (("started", self.started), ("ended", self.ended), ("recorded", self.recorded)):
            if moment is not None and (moment.tzinfo is None or moment.utcoffset() is None):
                raise ValueError(f"run {label} time must be timezone-aware, got {moment.isoformat()}")
        if self.ended is not None and self.started is not None and self.ended < self.started:
            raise ValueError(
                f"run ended ({self.ended.isoformat()}) before it started ({self.started.isoformat()})"
            )
        _unique("parameter name", [p.name for p in self.parameters])
        _unique("input name", [i.name for i in self.inputs])
        _unique("output path", [o.path for o in self.outputs])


def _unique(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)
