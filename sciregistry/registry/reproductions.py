"""Counting reproductions: the "Reproduced N times" line of a DOI's landing page.

A reproduction report (``sciregistry reproduce DOI --attach``) is an artifact::

    artifactType  application/vnd.sciregistry.reproduction.v1
    subject       the result manifest the DOI names
    layers        report.json  (application/vnd.sciregistry.reproduction-report.v1+json,
                                schemas/reproduction-report.schema.json)

``ReproductionCounter`` is a registry hook. When such a manifest is first stored (the hook runs
once per new manifest, inside the push transaction) it reads the report layer from the store,
checks it against the schema and against the manifest (the report's ``result.digest`` must be the
subject), and, when the verdict is REPRODUCED, adds one to ``reproductions`` of every DOI whose
result is that subject in this repository — in the same session, so a refused or rolled-back
push counts nothing. Deleting such a report (by digest) takes its count back. A report that is
not valid JSON or does not satisfy the schema is refused with MANIFEST_INVALID, so the count
only ever reflects well-formed reports; pushing one needs push access to the result's
repository, like any referrer.

Why count at push time instead of on the fly from ``GET /v2/<repo>/referrers/<result>``: a
landing page view then costs one column read instead of a referrers query plus one blob read
per report, and the count survives a report blob being garbage-collected later.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sciregistry.db.models import Doi, Manifest
from sciregistry.errors import ManifestInvalid
from sciregistry.oci import artifacts, parse_manifest
from sciregistry.registry.hooks import NoHooks
from sciregistry.registry.types import ManifestPush
from sciregistry.storage import BlobNotFound, BlobStore

__all__ = ["MAX_REPORT_SIZE", "REPORT_SCHEMA", "ReproductionCounter"]

MAX_REPORT_SIZE = 1024 * 1024
REPORT_SCHEMA = "reproduction-report.schema.json"


class ReproductionCounter(NoHooks):
    """Registry hook: REPRODUCED reports pushed as referrers of a result count on its DOIs."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store

    def on_manifest_push(self, session: Session, push: ManifestPush) -> None:
        if push.parsed.artifact_type_field != artifacts.REPORT:
            return
        report = self._report(push.parsed, push.digest)
        if report.get("verdict") == "REPRODUCED":
            self._add(session, push.repository_id, report["result"]["digest"], 1)

    def check_manifest_delete(
        self, session: Session, repository_id: int, manifest_id: int, digest: str
    ) -> None:
        row = session.get(Manifest, manifest_id)
        if row is None or row.artifact_type != artifacts.REPORT:
            return
        try:
            parsed = parse_manifest(row.content, row.media_type)
            report = self._report(parsed, digest)
        except (ManifestInvalid, ValueError):
            return  # never counted
        if report.get("verdict") == "REPRODUCED":
            self._add(session, repository_id, report["result"]["digest"], -1)

    # --- helpers ---
    def _report(self, parsed: Any, digest: str) -> dict[str, Any]:
        """The report layer of a report manifest, parsed and checked; ManifestInvalid otherwise."""
        if parsed.subject is None:
            raise ManifestInvalid(
                "reproduction report has no subject: it must refer to a result", {"digest": digest}
            )
        layers = [ly for ly in parsed.layers if ly.media_type == artifacts.REPORT_MEDIA_TYPE]
        if len(layers) != 1:
            raise ManifestInvalid(
                f"reproduction report needs exactly one {artifacts.REPORT_MEDIA_TYPE} layer",
                {"digest": digest, "found": len(layers)},
            )
        layer = layers[0]
        if layer.size > MAX_REPORT_SIZE:
            raise ManifestInvalid(
                "reproduction report layer is larger than 1 MiB", {"digest": layer.digest, "size": layer.size}
            )
        try:
            with self.store.open(layer.digest) as f:
                data = f.read(MAX_REPORT_SIZE + 1)
        except BlobNotFound as exc:
            raise ManifestInvalid(
                "reproduction report layer missing from storage", {"digest": layer.digest}
            ) from exc
        try:
            report = json.loads(data)
        except ValueError as exc:
            raise ManifestInvalid(
                f"reproduction report is not JSON: {exc}", {"digest": layer.digest}
            ) from exc
        from sciregistry.provenance import validate

        problems = validate(REPORT_SCHEMA, report)
        if problems:
            raise ManifestInvalid(
                f"reproduction report does not satisfy {REPORT_SCHEMA}: {problems[0]}",
                {"problems": problems[:20]},
            )
        if report["result"]["digest"] != parsed.subject.digest:
            raise ManifestInvalid(
                "reproduction report is about another result than its subject",
                {"report": report["result"]["digest"], "subject": parsed.subject.digest},
            )
        return dict(report)

    @staticmethod
    def _add(session: Session, repository_id: int, result_digest: str, delta: int) -> None:
        ids = list(
            session.execute(
                select(Doi.doi).where(Doi.repository_id == repository_id, Doi.result_digest == result_digest)
            ).scalars()
        )
        if not ids:
            return
        session.execute(
            update(Doi)
            .where(Doi.doi.in_(ids))
            .values(reproductions=Doi.reproductions + delta)
            .execution_options(synchronize_session=False)
        )
        if delta < 0:  # never below zero (e.g. reports pushed before the DOI was minted)
            session.execute(
                update(Doi)
                .where(Doi.doi.in_(ids), Doi.reproductions < 0)
                .values(reproductions=0)
                .execution_options(synchronize_session=False)
            )
