"""The provenance index: one row per admitted run crate, with its parameters, inputs and outputs.

Filled by ``sciregistry.registry.runs.RunIndex`` when a run crate artifact is pushed; it answers
lineage ("what produced this?") and impact ("what used this?") with indexed lookups.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sciregistry.db.base import Base, UTCDateTime, utcnow
from sciregistry.db.models.oci import DIGEST_LEN


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    crate_manifest_id: Mapped[int] = mapped_column(
        ForeignKey("manifests.id", ondelete="CASCADE"), unique=True
    )
    crate_digest: Mapped[str] = mapped_column(String(DIGEST_LEN))
    result_digest: Mapped[str] = mapped_column(String(DIGEST_LEN))
    name: Mapped[str] = mapped_column(Text)
    command: Mapped[str] = mapped_column(Text)
    image_registry: Mapped[str] = mapped_column(String(255))
    image_repository: Mapped[str] = mapped_column(String(255))
    image_tag: Mapped[str | None] = mapped_column(String(128))
    image_digest: Mapped[str] = mapped_column(String(DIGEST_LEN))
    image_index_digest: Mapped[str | None] = mapped_column(String(DIGEST_LEN))
    agent_name: Mapped[str | None] = mapped_column(String(255))
    agent_orcid: Mapped[str | None] = mapped_column(String(255))
    started: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # None: not recorded
    ended: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_runs_result", "result_digest"),
        Index("ix_runs_crate", "crate_digest"),
        Index("ix_runs_image", "image_digest"),
        Index("ix_runs_image_index", "image_index_digest"),
        Index("ix_runs_agent", "agent_name"),
        Index("ix_runs_started", "started"),
        Index("ix_runs_repository", "repository_id", "id"),
        Index("ix_runs_id_result", "id", "result_digest"),  # distinct results of an impact, index-only
    )


class RunParameter(Base):
    __tablename__ = "run_parameters"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(Text)  # canonical text form (JSON scalar)
    number: Mapped[float | None] = mapped_column(Float)  # for numeric comparisons

    __table_args__ = (Index("ix_run_parameters_name_value", "name", "value"),)


class RunInput(Base):
    __tablename__ = "run_inputs"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    repository: Mapped[str] = mapped_column(String(255))
    digest: Mapped[str] = mapped_column(String(DIGEST_LEN))

    __table_args__ = (Index("ix_run_inputs_digest", "digest", "run_id"),)


class RunOutput(Base):
    __tablename__ = "run_outputs"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_run_outputs_sha256", "sha256"),)


class RunAncestor(Base):
    """Transitive closure of what a run depends on: its image (manifest and index), its inputs, and
    everything the runs that produced those inputs depended on. Written once at admission, so
    impact ("what used X?") is one indexed lookup however deep the chains are."""

    __tablename__ = "run_ancestors"

    digest: Mapped[str] = mapped_column(String(DIGEST_LEN), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)

    __table_args__ = (Index("ix_run_ancestors_run", "run_id"),)


class RunStep(Base):
    """One step of a workflow run, in run order: the image it ran in (by digest), its command or tool,
    parameters and files (JSON). A single-image run has no rows here: it is its own one step (the
    ``runs`` row). Every step image is also a ``RunAncestor`` of the run, so impact stays one lookup."""

    __tablename__ = "run_steps"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    image_registry: Mapped[str] = mapped_column(String(255))
    image_repository: Mapped[str] = mapped_column(String(255))
    image_tag: Mapped[str | None] = mapped_column(String(128))
    image_digest: Mapped[str] = mapped_column(String(DIGEST_LEN))
    command: Mapped[str] = mapped_column(Text)
    parameters: Mapped[str] = mapped_column(Text)  # JSON [{"name", "value", "type"}]
    inputs: Mapped[str] = mapped_column(Text)  # JSON [{"path", "sha256", "size"}]
    outputs: Mapped[str] = mapped_column(Text)  # JSON [{"path", "sha256", "size"}]
    started: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_run_steps_image", "image_digest"),)


class RunWorkflow(Base):
    """The workflow definition of a workflow run (absent for single-image runs)."""

    __tablename__ = "run_workflows"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    language: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    input_files: Mapped[str] = mapped_column(Text)  # JSON [{"path", "sha256", "size"}]
    #: the API view of the run's steps (JSON list, in position order), rendered from its ``run_steps``
    #: rows in the transaction that writes them (migration 0015 filled it for earlier runs): a page of
    #: runs decodes one document per workflow run instead of three per step
    steps: Mapped[str | None] = mapped_column(Text)


class RunAncestorCount(Base):
    """How many runs depend on ``digest`` (rows of ``run_ancestors``): kept by database triggers on
    that table (migration 0013), never written by the application; the total of an impact query."""

    __tablename__ = "run_ancestor_counts"

    digest: Mapped[str] = mapped_column(String(DIGEST_LEN), primary_key=True)
    runs: Mapped[int] = mapped_column(BigInteger)
