"""Python client for sciregistry: notebooks, scripts and the ``sciregistry`` command.

    from sciregistry.client import Registry

    # or https://..., token=..., username=/password=
    reg = Registry("http://127.0.0.1:5000")
    data = reg.push_dataset("127.0.0.1:5000/lab-x/reads:v1", ["reads/"])
    result, crate = reg.record_run(
        "127.0.0.1:5000/lab-x/gc-content@sha256:...",
        inputs={"reads": f"127.0.0.1:5000/lab-x/reads@{data}"},
        params={"k": 3, "min_length": 10, "normalise": True},
        command="gc-content.sh --k {k} --min-length {min_length} /in/reads /out",
        outputs=["out/gc.tsv", "out/kmers.tsv"],
        to_ref="127.0.0.1:5000/lab-x/gc-results:run1")
    reg.lineage(f"lab-x/gc-results@{result}")                      # image, datasets, parameters
    reg.impact(data)                                              # runs and results that used the dataset

Layers: this package talks HTTP only (``requests``; oras-py for blob uploads) and never imports
Flask, SQLAlchemy or the server-side packages. Server errors come back as the
:mod:`sciregistry.errors` classes the server raised; connection failures as
:class:`TransportError`.

DOIs: :meth:`Registry.resolve` (DOI -> result, image, parameters, inputs, outputs) and
:meth:`Registry.reproduce` (re-run and compare; verdict and report) live in
:mod:`sciregistry.client.reproduce`::

    res = reg.resolve("10.5072/abcd-1234")
    res.image.digest, res.parameters, res.outputs[0].download("here/")
    res.reproduce("reproduce-abcd-1234").verdict                   # "REPRODUCED", "NOT_RUN", ...
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from sciregistry.client import artifacts as _artifacts
from sciregistry.client.credentials import Credentials, CredentialStore, resolve_credentials
from sciregistry.client.models import (
    Artifact,
    ImageInfo,
    Impact,
    ImportedRun,
    Lineage,
    PulledArtifact,
    RecordedRun,
    Run,
    RunFile,
    RunInput,
    RunList,
)
from sciregistry.client.oci import DEFAULT_CHUNK_SIZE, ManifestBytes, OciClient, Progress
from sciregistry.client.transport import Transport, TransportError, normalize_url
from sciregistry.oci import Descriptor, ImageReference, is_digest, parse_reference

if TYPE_CHECKING:
    from sciregistry.client.reproduce import Report, Resolution

__all__ = [
    "Artifact",
    "CredentialStore",
    "Credentials",
    "ImageInfo",
    "Impact",
    "ImportedRun",
    "Lineage",
    "ManifestBytes",
    "PulledArtifact",
    "RecordedRun",
    "Registry",
    "Run",
    "RunFile",
    "RunInput",
    "RunList",
    "TransportError",
]


#: Transfers smaller than this show no progress bar (bytes).
PROGRESS_THRESHOLD = 4 * 1024 * 1024


def in_kernel() -> bool:
    """True inside a Jupyter (IPython kernel) session, where standard error is not a terminal
    but the user still watches the cell's output."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except AttributeError:
        return False
    return shell is not None and hasattr(shell, "kernel")


def interactive() -> bool:
    """Whether someone watches the transfers: standard error is a terminal, or a Jupyter kernel
    runs this code. ``SCIREGISTRY_PROGRESS=0``/``1`` overrides both."""
    forced = os.environ.get("SCIREGISTRY_PROGRESS", "").strip().lower()
    if forced in ("0", "false", "no", "off"):
        return False
    if forced in ("1", "true", "yes", "on"):
        return True
    if in_kernel():
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _tqdm_class() -> Any:
    """tqdm's notebook bar (a widget) in a kernel with ipywidgets, else the text bar (which a
    kernel shows in the cell's standard error)."""
    if in_kernel():
        try:
            import ipywidgets  # type: ignore[import-not-found]  # noqa: F401
            from tqdm.notebook import tqdm as notebook_tqdm  # type: ignore[import-untyped]

            return notebook_tqdm
        except ImportError:
            pass
    from tqdm import tqdm  # type: ignore[import-untyped]

    return tqdm


class _LazyBar:
    """A :data:`Progress` callback that opens its tqdm bar only for a transfer over
    :data:`PROGRESS_THRESHOLD` bytes."""

    def __init__(self, desc: str, total: int | None) -> None:
        self.desc, self.total, self.done = desc, total, 0
        self.bar: Any = None

    def __call__(self, n: int) -> None:
        self.done += n
        if self.bar is None:
            if max(self.total or 0, self.done) < PROGRESS_THRESHOLD:
                return
            self.bar = _tqdm_class()(
                total=self.total,
                desc=self.desc,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                leave=True,
                initial=self.done - n,
            )
        self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Registry:
    """One sciregistry server.

    :param url: ``https://host[:port]``, ``http://127.0.0.1:5000`` or a bare ``host:port`` (plain
        HTTP only for loopback hosts, unless ``insecure``).
    :param token: an API token (``sr_...``) or a bearer JWT.
    :param username: / :param password: Basic credentials (used with the token service).
    :param insecure: allow plain HTTP to any host and skip TLS verification.
    :param progress: show tqdm progress bars for transfers over a few MiB; default: when stderr is a
        terminal or in a Jupyter kernel (a notebook widget there), see :func:`interactive`.
    :param use_stored_credentials: without explicit credentials, use ``SCIREGISTRY_*`` environment
        variables or those saved by ``sciregistry login``.

    Repository arguments (``repo``) accept a bare name (``lab-x/reads``) or a reference on this
    registry (``127.0.0.1:5000/lab-x/reads:v1``); references to another host are refused.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        insecure: bool = False,
        *,
        progress: bool | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        use_stored_credentials: bool = True,
        timeout: float = 300.0,
    ) -> None:
        creds = Credentials(username, password, token)
        if use_stored_credentials and creds.empty:
            creds = resolve_credentials(urlsplit(normalize_url(url, insecure)).netloc, username=username)
        self.transport = Transport(
            url,
            token=creds.token,
            username=creds.username,
            password=creds.password,
            insecure=insecure,
            timeout=timeout,
        )
        self.oci = OciClient(self.transport, chunk_size=chunk_size)
        self.url = self.transport.base_url
        self.host = self.transport.host
        #: The user name of the credentials in use (``sciregistry login``, ``SCIREGISTRY_USERNAME``
        #: or ``username=``); None for a token or anonymous access. Their own namespace.
        self.username = creds.username if creds.username and not creds.token else None
        self.progress = progress

    def __repr__(self) -> str:
        return f"Registry({self.url!r})"

    def _repr_html_(self) -> str:
        return f"<b>sciregistry</b> <code>{self.url}</code>"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    # --- helpers -----------------------------------------------------------------------------------
    def parse(self, ref: str) -> ImageReference:
        """``[host/]repo[:tag][@digest]`` on this registry, with the host filled in."""
        r = parse_reference(ref, require_registry=False)
        if r.registry and r.registry != self.host:
            raise ValueError(f"reference {ref!r} is on {r.registry}, but this client talks to {self.host}")
        return ImageReference(self.host, r.repository, r.tag, r.digest)

    def _repo(self, repo: str) -> str:
        return self.parse(repo).repository

    def reference(self, repo: str, *, tag: str | None = None, digest: str | None = None) -> str:
        """The full reference string ``host/repo[:tag][@digest]``."""
        return str(ImageReference(self.host, self._repo(repo), tag, digest))

    def resolve_digest(self, ref: str) -> str:
        """The digest ``ref`` points to (``ref`` itself when pinned)."""
        r = self.parse(ref)
        return r.digest or self.oci.resolve(r.repository, r.tag or "latest")

    def _show_progress(self) -> bool:
        if self.progress is not None:
            return self.progress
        return interactive()

    @contextlib.contextmanager
    def _bar(self, desc: str, total: int | None = None) -> Iterator[Progress | None]:
        """A progress callback for one transfer, or None when bars are off. The bar appears only
        once the transfer is over :data:`PROGRESS_THRESHOLD` bytes (``total`` when known, else the
        bytes moved so far): small pushes and pulls stay quiet."""
        if not self._show_progress():
            yield None
            return
        lazy = _LazyBar(desc, total)
        try:
            yield lazy
        finally:
            lazy.close()

    # --- OCI ---------------------------------------------------------------------------------------
    def blob_exists(self, repo: str, digest: str) -> bool:
        return self.oci.blob_exists(self._repo(repo), digest)

    def upload_blob(
        self,
        repo: str,
        source: str | os.PathLike[str] | bytes,
        *,
        media_type: str = "application/octet-stream",
        progress: Progress | None = None,
    ) -> Descriptor:
        """Upload a file (streamed; chunked above ``chunk_size``) or bytes, unless already present."""
        if progress is None and not isinstance(source, (bytes, bytearray)):
            with self._bar(f"push {Path(source).name}", Path(source).stat().st_size) as bar:
                return self.oci.upload_blob(self._repo(repo), source, media_type=media_type, progress=bar)
        return self.oci.upload_blob(self._repo(repo), source, media_type=media_type, progress=progress)

    def download_blob(
        self, repo: str, digest: str, dest: str | os.PathLike[str], verify: bool = True
    ) -> Path:
        """Stream a blob to ``dest``, verified and written atomically."""
        with self._bar(f"pull {digest[:19]}") as bar:
            return self.oci.download_blob(self._repo(repo), digest, dest, verify=verify, progress=bar)

    def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> str:
        return self.oci.put_manifest(self._repo(repo), ref, data, media_type)

    def get_manifest(self, ref: str, reference: str | None = None) -> ManifestBytes:
        """``get_manifest("host/repo:tag")`` or ``get_manifest("repo", "tag-or-digest")``."""
        r = self.parse(ref)
        return self.oci.get_manifest(r.repository, reference or r.reference)

    def referrers(
        self, repo: str, digest: str | None = None, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """Referrers of ``digest`` in ``repo`` (or of the digest ``repo`` is pinned to)."""
        r = self.parse(repo)
        return self.oci.referrers(r.repository, digest or self.resolve_digest(repo), artifact_type)

    def tags(self, repo: str) -> list[str]:
        return self.oci.tags(self._repo(repo))

    def export_layout(
        self, repo: str, digest: str | None, directory: str | os.PathLike[str], *, tag: str | None = None
    ) -> Path:
        """Export an image (by digest) with all its blobs as an OCI image layout directory."""
        r = self.parse(repo)
        with self._bar(f"export {r.repository}") as bar:
            return self.oci.export_layout(
                r.repository, digest or self.resolve_digest(repo), directory, tag=tag, progress=bar
            )

    def push_layout(
        self,
        layout_dir: str | os.PathLike[str],
        repo: str,
        tag: str | None = None,
        *,
        source_tag: str | None = None,
    ) -> str:
        """Push an image from an OCI layout (manifest bytes exactly as stored there); return its digest.
        ``repo`` may carry the tag (``host/repo:tag``)."""
        r = self.parse(repo)
        with self._bar(f"push {r.repository}") as bar:
            return self.oci.push_layout(
                layout_dir, r.repository, tag or r.tag, source_tag=source_tag, progress=bar
            )

    # --- artifacts ---------------------------------------------------------------------------------
    def push_dataset(
        self, ref: str, paths: Iterable[str | os.PathLike[str]], annotations: Mapping[str, str] | None = None
    ) -> str:
        """Push files/directories as a dataset at ``ref`` (``host/repo:tag``); return its digest."""
        given = [Path(p) for p in paths]
        total = sum(f.path.stat().st_size for f in _artifacts.collect_files(given))
        with self._bar(f"push {self.parse(ref).repository}", total) as bar:
            return _artifacts.push_dataset(self.oci, self.parse(ref), given, annotations, progress=bar)

    def pull(self, ref: str, dest_dir: str | os.PathLike[str], *, with_crate: bool = False) -> PulledArtifact:
        """Restore an artifact's files at their titles under ``dest_dir`` (verified, atomic)."""
        r = self.parse(ref)
        with self._bar(f"pull {r.repository}") as bar:
            digest, art_type, files, crate = _artifacts.pull_artifact(
                self.oci, r, dest_dir, with_crate=with_crate, progress=bar
            )
        return PulledArtifact(str(r), digest, art_type, Path(dest_dir), files, crate)

    pull_artifact = pull

    def record_run(
        self,
        image: str,
        inputs: Mapping[str, str],
        params: Mapping[str, Any],
        command: str,
        outputs: Sequence[str | os.PathLike[str]],
        to_ref: str,
        workflow: str | os.PathLike[str] | None = None,
        agent: Any = None,
        started: datetime | None = None,
        ended: datetime | None = None,
        *,
        orcid: str | None = None,
        name: str | None = None,
        description: str = "",
        license: str | None = None,
    ) -> RecordedRun:
        """Push ``outputs`` as a result at ``to_ref`` and the run crate describing how they were made
        (``image`` by digest, ``inputs`` by digest, ``params``, ``command``); return both digests.
        The registry validates the crate on push and raises ManifestInvalid (``detail["problems"]``)
        when it refuses it."""
        with self._bar(f"push {self.parse(to_ref).repository}") as bar:
            result, crate, _ = _artifacts.record_run(
                self.oci,
                self.parse(image),
                {k: self.parse(v) for k, v in inputs.items()},
                params,
                command,
                outputs,
                self.parse(to_ref),
                workflow=workflow,
                agent=agent,
                orcid=orcid,
                started=started,
                ended=ended,
                name=name,
                description=description,
                license=license,
                progress=bar,
            )
        return RecordedRun(result, crate)

    def import_run(
        self,
        crate_dir: str | os.PathLike[str],
        to_ref: str,
        *,
        name: str | None = None,
        description: str | None = None,
        license: str | None = None,
        agent: str | None = None,
        orcid: str | None = None,
        images: Mapping[str, str] | None = None,
    ) -> ImportedRun:
        """Import a workflow engine's Workflow Run Crate from ``crate_dir``: push its output files as a
        result at ``to_ref`` and the completed crate as its referrer (see
        :mod:`sciregistry.client.workflows`); ``warnings`` lists what was completed or is missing."""
        from sciregistry.client.workflows import import_crate

        with self._bar(f"push {self.parse(to_ref).repository}") as bar:
            result, crate, plan = import_crate(
                self.oci,
                crate_dir,
                self.parse(to_ref),
                name=name,
                description=description,
                license=license,
                agent=agent,
                orcid=orcid,
                images=images,
                progress=bar,
            )
        return ImportedRun(result, crate, plan.warnings, plan.run)

    # --- provenance (/api/v1) ------------------------------------------------------------------------
    def _api(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        resp = self.transport.request(
            "GET", f"/api/v1/{path}", params=params, headers={"Accept": "application/json"}
        )
        return resp.json()

    def runs(
        self,
        *,
        repository: str | None = None,
        image: str | None = None,
        dataset: str | None = None,
        parameter: str | None = None,
        value: Any = None,
        agent: str | None = None,
        started_after: datetime | str | None = None,
        started_before: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> RunList:
        """Runs matching every filter, newest first (one page; ``.next_cursor`` for the next).

        ``image``/``dataset`` are digests; ``value`` (with ``parameter``) matches the stored value
        (numbers and booleans as JSON: ``20``, ``0.25``, ``true``)."""
        params: dict[str, Any] = {}
        if repository:
            params["repository"] = self._repo(repository)
        for key, val in (
            ("image", image),
            ("dataset", dataset),
            ("parameter", parameter),
            ("agent", agent),
            ("limit", limit),
            ("cursor", cursor),
        ):
            if val is not None:
                params[key] = val
        if value is not None:
            params["value"] = value if isinstance(value, str) else json.dumps(value)
        for key, moment in (("started_after", started_after), ("started_before", started_before)):
            if moment is not None:
                params[key] = moment.isoformat() if isinstance(moment, datetime) else moment
        body = self._api("runs", params)
        nxt = body.get("next")
        cursor_value = None
        if nxt:
            from urllib.parse import parse_qs, urlsplit

            cursor_value = (parse_qs(urlsplit(nxt).query).get("cursor") or [None])[0]
        return RunList([Run.from_json(r) for r in body.get("items") or []], cursor_value)

    def run(self, run_id: int | str) -> Run:
        """One run by its id."""
        return Run.from_json(self._api(f"runs/{run_id}"))

    def _pinned(self, ref: str) -> tuple[str, str]:
        r = self.parse(ref)
        return r.repository, r.digest or self.oci.resolve(r.repository, r.tag or "latest")

    def lineage(self, ref: str) -> Lineage:
        """What produced ``ref`` (``[host/]repo:tag`` or ``@sha256:...``), recursively through its inputs."""
        repo, digest = self._pinned(ref)
        return Lineage.from_json(self._api(f"lineage/{repo}@{digest}"))

    def run_for(self, ref: str) -> Run | None:
        """The run whose result (or run crate) is ``ref``; None when nothing recorded produced it."""
        return self.lineage(ref).produced_by

    def impact(self, digest_or_ref: str) -> Impact:
        """Runs, results and DOIs that used a digest (image manifest or index, or dataset),
        directly or through results derived from it."""
        if is_digest(digest_or_ref):
            return Impact.from_json(self._api(f"impact/{digest_or_ref}"))
        repo, digest = self._pinned(digest_or_ref)
        return Impact.from_json(self._api(f"impact/{repo}@{digest}"))

    def vulnerabilities(self, ref: str) -> dict[str, Any]:
        """Scan state and vulnerability/advisory findings of an image (``repo:tag`` or ``@sha256:...``)."""
        repo, digest = self._pinned(ref)
        return dict(self._api(f"images/{repo}@{digest}/vulnerabilities"))

    def affected(self, record_id: str) -> dict[str, Any]:
        """Images a vulnerability or advisory affects, and the runs, results and DOIs that used them."""
        from urllib.parse import quote

        return dict(self._api(f"vulnerabilities/{quote(record_id, safe='')}/affected"))

    # --- DOIs: resolve and reproduce (sciregistry.client.reproduce) -------------------------------------
    def resolve(self, doi: str) -> Resolution:
        """Resolve a DOI minted by this registry to its result and recorded run (DESIGN.md section 7).

        ``doi`` may be bare (``10.5072/abcd-1234``), ``doi:...`` or ``https://doi.org/...``; a
        concept DOI resolves to its latest version. The :class:`~sciregistry.client.reproduce.Resolution`
        has ``.image``, ``.parameters``, ``.inputs``, ``.outputs``, ``.command``, ``.crate``,
        ``.download(dir)`` and ``.reproduce(out_dir)``. NotFound when the DOI is not registered here
        or names no recorded run."""
        from sciregistry.client.reproduce import resolve as _resolve

        return _resolve(self, doi)

    def reproduce(
        self,
        doi: str,
        out_dir: str | os.PathLike[str] | None = None,
        *,
        runtime: str = "auto",
        attach: bool = False,
        timeout: float = 3600.0,
    ) -> Report:
        """Resolve ``doi`` and re-run its recorded command (DESIGN.md section 6, "Reproduce"):
        ``self.resolve(doi).reproduce(out_dir, runtime, attach)``. Returns the
        :class:`~sciregistry.client.reproduce.Report` (``.verdict``; ``report.json`` in ``out_dir``)."""
        return self.resolve(doi).reproduce(out_dir, runtime, attach, timeout=timeout)  # type: ignore[arg-type]
