"""Validate run crates, fully offline: our own checks plus roc-validator's ``workflow-run-crate`` profile.

roc-validator (``rocrate_validator`` 0.13) resolves JSON-LD ``@context`` URLs through a
process-wide ``HttpRequester`` backed by a ``requests_cache`` SQLite cache; with
``ValidationSettings(offline=True, cache_path=...)`` it serves *only* from that cache (a miss is
a 504, raised as ``OfflineCacheMissError``), and it patches rdflib's JSON-LD loader to go
through the same cache. We therefore seed a private cache, once per process, with the contexts
shipped in ``sciregistry/data/contexts/``::

    https://w3id.org/ro/crate/1.1/context            -> ro-crate-1.1-context.jsonld
    https://w3id.org/ro/terms/workflow-run/context   -> workflow-run-context.jsonld
    https://w3id.org/ro/terms/workflow-run           -> workflow-run-context.jsonld (runcrate's form)

and validate in offline mode at REQUIRED severity with ``metadata_only=True`` (the crate
artifact carries only the metadata and the run description; its outputs live in the result
artifact). A check that roc-validator skips because of an offline cache miss is reported as
a problem, never silently passed.

Cost: one ``Validator`` is kept per process, so profiles and SHACL shapes are prepared once
(the first validation takes about 1-2 s), and rdflib's parsing of SPARQL query strings is
memoised; a warm validation then takes about 0.3-1 s. roc-validator keeps process-wide state
(its HTTP client, rdflib patches), so validations are serialised by a lock.

The verdict is a function of the two layers' bytes alone (offline, the shipped contexts, one pinned
validator), so it is remembered per process by their digests (:data:`VERDICTS`, the last
:data:`VERDICT_CACHE_SIZE`): the same crate pushed again (a CI retry, a copy to another repository,
``oras copy``) is not validated again and never waits for the lock. A validation that failed
inside roc-validator, or skipped a check the offline cache could not serve, is not remembered (that
is the environment, not the crate).
"""

from __future__ import annotations

import atexit
import hashlib
import io
import logging
import shutil
import tempfile
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import requests
from cachetools import LRUCache
from urllib3 import HTTPResponse

from sciregistry.errors import CrateInvalid
from sciregistry.provenance._resources import data_dir
from sciregistry.provenance.crate import (
    CRATE_METADATA_NAME,
    RO_CRATE_CONTEXT,
    WORKFLOW_RUN_CONTEXT,
    crate_problems,
    parse_metadata,
)

__all__ = [
    "CONTEXT_FILES",
    "ROC_PROFILE",
    "VERDICTS",
    "context_document",
    "profile_problems",
    "validate_run_crate",
]

ROC_PROFILE = "workflow-run-crate"
CONTEXT_FILES: dict[str, str] = {
    RO_CRATE_CONTEXT: "ro-crate-1.1-context.jsonld",
    WORKFLOW_RUN_CONTEXT: "workflow-run-context.jsonld",
    # runcrate and Snakemake name the terms' namespace as the context; it serves the same document
    WORKFLOW_RUN_CONTEXT.removesuffix("/context"): "workflow-run-context.jsonld",
}

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_cache_path: Path | None = None
_cached_validator: Any = None

VERDICT_CACHE_SIZE = 512
# (sha256 of the metadata, sha256 of the run description or b"") -> the problems found (a tuple)
VERDICTS: LRUCache[tuple[bytes, bytes], tuple[str, ...]] = LRUCache(maxsize=VERDICT_CACHE_SIZE)
_verdicts_lock = threading.Lock()  # cachetools caches are not thread-safe


def context_document(url: str) -> bytes:
    """The JSON-LD context document shipped for ``url`` (``KeyError`` for contexts we do not ship)."""
    return data_dir("contexts", CONTEXT_FILES[url]).read_bytes()


def _seeded_cache() -> Path:
    """A requests_cache SQLite cache holding the shipped contexts, shared by every process.

    Its directory is named after the contents it holds (contexts and roc-validator version), so every
    process of a server, and every later run, reuses one directory instead of leaving one per process
    in the temporary directory (gunicorn workers never run ``atexit``). It is seeded in a private
    directory first and renamed into place, so no process ever sees a half-seeded cache.
    """
    global _cache_path
    if _cache_path is not None:
        return _cache_path
    import hashlib
    import os
    from importlib.metadata import version

    from requests_cache import CachedSession  # roc-validator's own cache backend

    tag = hashlib.sha256(version("roc-validator").encode())
    for url in sorted(CONTEXT_FILES):
        tag.update(url.encode() + b"\0" + context_document(url))
    final = Path(tempfile.gettempdir()) / f"sciregistry-rocv-{os.getuid()}-{tag.hexdigest()[:16]}"
    if (final / "http_cache.sqlite").is_file():
        _cache_path = final / "http_cache"
        return _cache_path
    directory = Path(tempfile.mkdtemp(prefix="sciregistry-rocv-seed-"))
    session = CachedSession(
        cache_name=str(directory / "http_cache"),
        backend="sqlite",
        expire_after=-1,
        allowable_methods=("GET",),
        allowable_codes=(200,),
    )
    try:
        for url in CONTEXT_FILES:
            body = context_document(url)
            headers = {"Content-Type": "application/ld+json", "Content-Length": str(len(body))}
            response = requests.Response()
            response.status_code = 200
            response.reason = "OK"
            response.url = url
            response._content = body
            response.encoding = "utf-8"
            response.headers.update(headers)
            response.request = requests.Request("GET", url).prepare()
            response.raw = HTTPResponse(
                body=io.BytesIO(body),
                headers=headers,
                status=200,
                reason="OK",
                preload_content=False,
                request_url=url,
            )
            session.cache.save_response(response)
    finally:
        session.close()
    try:
        os.rename(directory, final)
    except OSError:
        if (
            final / "http_cache.sqlite"
        ).is_file():  # another process got there first: use its identical cache
            shutil.rmtree(directory, ignore_errors=True)
        else:  # cannot share it: keep a private copy for this process
            atexit.register(shutil.rmtree, directory, True)
            final = directory
    _cache_path = final / "http_cache"
    return _cache_path


def _drain_validator_log() -> None:
    """Move roc-validator's buffered log into ours.

    roc-validator logs into a module-level StringIO that grows for the life of the process and
    is printed as a "Log Report" at exit; in a long-running server that is a leak.
    """
    from rocrate_validator.utils import log as rv_log

    stream = getattr(rv_log, "__log_stream__", None)
    if isinstance(stream, io.StringIO) and not stream.closed:
        text = stream.getvalue()
        if text:
            logger.debug("roc-validator: %s", text.strip())
        stream.seek(0)
        stream.truncate(0)


_sparql_memo_installed = False


def _install_sparql_memo() -> None:
    """Memoise rdflib's SPARQL parse + algebra translation of query *strings*.

    pySHACL runs the same few dozen SPARQL targets and rules for every crate, and rdflib
    re-parses each string with pyparsing every time: about half of a validation. A translated
    ``Query`` is reusable by design (it is what ``rdflib.plugins.sparql.prepareQuery`` returns),
    so results are unchanged. Installed once, process-wide, under _lock.
    """
    global _sparql_memo_installed
    if _sparql_memo_installed:
        return
    from rdflib.plugins.sparql import processor
    from rdflib.plugins.sparql.algebra import translateQuery
    from rdflib.plugins.sparql.parser import parseQuery

    original = processor.SPARQLProcessor.query

    @lru_cache(maxsize=512)
    def prepared(text: str, base: str | None, namespaces: tuple[tuple[str, Any], ...]) -> Any:
        return translateQuery(parseQuery(text), base, dict(namespaces) or None)

    def query(
        self: Any,
        strOrQuery: Any,
        initBindings: Any = None,
        initNs: Any = None,
        base: str | None = None,
        DEBUG: bool = False,
    ) -> Any:
        if isinstance(strOrQuery, str):
            try:
                strOrQuery = prepared(strOrQuery, base, tuple(sorted((initNs or {}).items())))
            except TypeError:  # unhashable namespaces: no memo
                pass
        return original(self, strOrQuery, initBindings, initNs, base, DEBUG)

    processor.SPARQLProcessor.query = query  # type: ignore[method-assign]
    _sparql_memo_installed = True


def _validator() -> Any:
    """The process-wide roc-validator ``Validator``, configured for offline validation.

    One instance is reused so its prepared profiles and SHACL shapes (the bulk of the cost)
    are built once; each crate is passed per call as ``metadata_dict``. Called under _lock.
    """
    global _cached_validator
    from rocrate_validator.models import Severity, ValidationSettings, Validator
    from rocrate_validator.utils.document_loader import install_document_loader
    from rocrate_validator.utils.http import HttpRequester

    cache_path = _seeded_cache()
    if _cached_validator is None:
        settings = ValidationSettings(
            rocrate_uri=None,
            metadata_dict={},
            metadata_only=True,
            profile_identifier=ROC_PROFILE,
            requirement_severity=Severity.REQUIRED,
            offline=True,
            cache_path=cache_path,
        )
        _cached_validator = Validator(settings)
    requester = HttpRequester()
    if not requester.offline or requester.cache_path_prefix != str(cache_path):
        # someone reconfigured roc-validator's process-wide HTTP client: make it offline again
        HttpRequester.initialize_cache(cache_path=str(cache_path), offline=True)
    install_document_loader()
    _install_sparql_memo()
    return _cached_validator


def profile_problems(metadata_dict: dict[str, Any]) -> list[str]:
    """Run roc-validator's ``workflow-run-crate`` profile (REQUIRED severity) offline on a crate dict."""
    return _profile_findings(metadata_dict)[0]


def _profile_findings(metadata_dict: dict[str, Any]) -> tuple[list[str], bool]:
    """:func:`profile_problems`, and whether the verdict holds for the crate alone: False when a
    check was skipped because the offline cache could not serve it (the environment, not the crate)."""
    from rocrate_validator.models import Severity

    with _lock:
        try:
            result = _validator().validate(metadata_dict=metadata_dict)
        finally:
            _drain_validator_log()
    problems: list[str] = []
    for issue in result.get_issues(min_severity=Severity.REQUIRED):
        check = issue.check
        where = f" [{issue.violatingEntity}]" if issue.violatingEntity else ""
        problems.append(
            f"{ROC_PROFILE}: {check.requirement.profile.identifier} "
            f'"{check.name}"{where}: {issue.message or check.description}'
        )
    conclusive = True
    for skipped in result.skipped_check_details:
        text = str(getattr(skipped, "message", "") or "")
        if "offline" in text.lower() or "cache" in text.lower():
            problems.append(f'{ROC_PROFILE}: check "{skipped.check.name}" skipped: {text}')
            conclusive = False
    return problems, conclusive


def validate_run_crate(metadata: bytes, run_description: bytes | None = None) -> list[str]:
    """Every problem with a run crate; an empty list when it is valid.

    Remembered by the layers' digests (see the module's docstring). Checks, in order: JSON-LD
    sanity (valid JSON, ``@context``, ``@graph``, the metadata descriptor and the root data entity
    ``./``), that the crate can be read as a run
    (CreateAction, ContainerImage with a 64-hex ``sha256``, parameters, outputs,
    ``actionStatus``), ``sciregistry-run.json`` against ``run.schema.json`` and its agreement
    with the crate, then the Workflow Run Crate 0.5 profile with roc-validator, offline.
    """
    key = (
        hashlib.sha256(metadata).digest(),
        b"" if run_description is None else hashlib.sha256(run_description).digest(),
    )
    with _verdicts_lock:
        known = VERDICTS.get(key)
    if known is not None:
        return list(known)
    problems, conclusive = _validate(metadata, run_description)
    if conclusive:
        with _verdicts_lock:
            VERDICTS[key] = tuple(problems)
    return problems


def _validate(metadata: bytes, run_description: bytes | None) -> tuple[list[str], bool]:
    """The problems :func:`validate_run_crate` reports, and whether they may be remembered."""
    problems: list[str] = []
    try:
        doc = parse_metadata(metadata)
    except CrateInvalid as exc:
        return [exc.text], True
    context = doc.get("@context")
    if context is None:
        problems.append(f"{CRATE_METADATA_NAME} has no @context")
    else:
        contexts = context if isinstance(context, list) else [context]
        if RO_CRATE_CONTEXT not in contexts:
            problems.append(f"@context does not include {RO_CRATE_CONTEXT}")
        unknown = [c for c in contexts if isinstance(c, str) and c not in CONTEXT_FILES]
        if unknown:
            problems.append(f"@context refers to contexts that cannot be resolved offline: {unknown}")
    graph = doc.get("@graph")
    if not isinstance(graph, list):
        problems.append(f"{CRATE_METADATA_NAME} has no @graph array")
        return problems, True
    ids = {e["@id"]: e for e in graph if isinstance(e, dict) and isinstance(e.get("@id"), str)}
    descriptor = ids.get(CRATE_METADATA_NAME)
    about = descriptor.get("about") if descriptor is not None else None
    if descriptor is None:
        problems.append(f"metadata descriptor {CRATE_METADATA_NAME!r} is not in @graph")
    elif not isinstance(about, dict) or about.get("@id") != "./":
        problems.append(
            f"metadata descriptor {CRATE_METADATA_NAME!r} must be about the root data entity './'"
        )
    if "./" not in ids:
        problems.append("root data entity './' is not in @graph")

    _, structural = crate_problems(metadata, run_description)
    problems.extend(p for p in structural if p not in problems)
    try:
        profile, conclusive = _profile_findings(doc)
    except Exception as exc:  # roc-validator failing on a malformed crate is itself a finding
        logger.debug("roc-validator raised on a crate", exc_info=True)
        profile, conclusive = [f"{ROC_PROFILE}: validator failed: {type(exc).__name__}: {exc}"], False
    problems.extend(p for p in profile if p not in problems)
    return problems, conclusive
