"""Build a real DOI closure in a registry through its HTTP surface (Flask test client).

Reusable by any test that needs a published result: an image, an input dataset, a result
artifact and an admitted run crate whose subject is the result, all pushed over ``/v2``
exactly as a client would, then a DOI minted with ``POST /api/v1/dois``::

    from landing.closure import build_closure, mint

    c = build_closure(client, host="registry.test")
    record = mint(client, c, title="Counts")
    c.image.digest, c.result.digest, c.crate.digest, c.crate_bytes, c.outputs[0].sha256

Names are unique per ``tag`` so several closures (e.g. two versions) can live in one registry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sciregistry.oci import artifacts
from sciregistry.provenance import (
    Agent,
    FileRef,
    ImageRef,
    InputRef,
    Parameter,
    RunRecord,
    build_run_crate,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_JSON = b"{}"
ORCID = "https://orcid.org/0000-0002-1825-0097"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest_of(data: bytes) -> str:
    return "sha256:" + sha256(data)


@dataclass(frozen=True)
class Pushed:
    """A manifest pushed to ``repository``: its digest, exact bytes and descriptor."""

    repository: str
    digest: str
    content: bytes
    media_type: str = OCI_MANIFEST

    @property
    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.content)}

    @property
    def blob_digests(self) -> list[str]:
        doc = json.loads(self.content)
        return [doc["config"]["digest"]] + [ly["digest"] for ly in doc.get("layers", [])]


@dataclass(frozen=True)
class File:
    path: str
    data: bytes
    media_type: str

    @property
    def sha256(self) -> str:
        return sha256(self.data)

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha256

    @property
    def size(self) -> int:
        return len(self.data)

    def ref(self) -> FileRef:
        return FileRef(self.path, self.sha256, self.size, self.media_type)


@dataclass
class Closure:
    """Everything pushed for one published result (see module docstring)."""

    host: str
    image: Pushed
    image_tag: str
    dataset: Pushed
    dataset_tag: str
    dataset_files: list[File]
    result: Pushed
    result_tag: str
    outputs: list[File]
    crate: Pushed
    crate_bytes: bytes
    run_description: bytes
    run: RunRecord
    parameters: list[Parameter] = field(default_factory=list)

    @property
    def result_ref(self) -> str:
        return f"{self.result.repository}@{self.result.digest}"

    def all_manifests(self) -> list[Pushed]:
        return [self.image, self.dataset, self.result, self.crate]

    def all_blobs(self) -> list[tuple[str, str]]:
        """(repository, digest) of every blob the closure's manifests reference."""
        return sorted({(m.repository, d) for m in self.all_manifests() for d in m.blob_digests})


def push_blob(client: Any, repository: str, data: bytes) -> str:
    """Monolithic upload (``POST /v2/<name>/blobs/uploads/?digest=``); returns the digest."""
    digest = digest_of(data)
    resp = client.post(
        f"/v2/{repository}/blobs/uploads/?digest={digest}",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    if resp.status_code == 202:  # the registry asked for the two-step flow
        location = resp.headers["Location"]
        sep = "&" if "?" in location else "?"
        resp = client.put(
            f"{location}{sep}digest={digest}", data=data, headers={"Content-Type": "application/octet-stream"}
        )
    assert resp.status_code == 201, (resp.status_code, resp.get_data(as_text=True))
    return digest


def push_manifest(client: Any, repository: str, manifest: dict[str, Any], tag: str | None = None) -> Pushed:
    """PUT the manifest's exact bytes by tag (or by digest when no tag); returns what was stored."""
    data = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
    digest = digest_of(data)
    media_type = manifest.get("mediaType", OCI_MANIFEST)
    resp = client.put(
        f"/v2/{repository}/manifests/{tag or digest}", data=data, headers={"Content-Type": media_type}
    )
    assert resp.status_code == 201, (resp.status_code, resp.get_data(as_text=True))
    assert resp.headers["Docker-Content-Digest"] == digest
    return Pushed(repository, digest, data, media_type)


def _layer(client: Any, repository: str, f: File) -> dict[str, Any]:
    push_blob(client, repository, f.data)
    return {
        "mediaType": f.media_type,
        "digest": f.digest,
        "size": f.size,
        "annotations": {artifacts.TITLE: f.path},
    }


def _empty_config(client: Any, repository: str) -> dict[str, Any]:
    push_blob(client, repository, EMPTY_JSON)
    return {"mediaType": OCI_EMPTY, "digest": digest_of(EMPTY_JSON), "size": len(EMPTY_JSON)}


def push_image(client: Any, repository: str, tag: str, *, seed: str = "") -> Pushed:
    layer = f"pretend tar.gz layer of {repository}:{tag} {seed}".encode()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": ["/bin/count"]},
            "rootfs": {"type": "layers", "diff_ids": [digest_of(layer)]},
        }
    ).encode()
    push_blob(client, repository, layer)
    push_blob(client, repository, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": digest_of(layer), "size": len(layer)}],
    }
    return push_manifest(client, repository, manifest, tag)


def push_artifact(
    client: Any,
    repository: str,
    tag: str | None,
    artifact_type: str,
    files: list[File],
    *,
    subject: Pushed | None = None,
    annotations: dict[str, str] | None = None,
) -> Pushed:
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": _empty_config(client, repository),
        "layers": [_layer(client, repository, f) for f in files],
    }
    if subject is not None:
        manifest["subject"] = subject.descriptor
    if annotations:
        manifest["annotations"] = annotations
    return push_manifest(client, repository, manifest, tag)


def build_closure(
    client: Any,
    *,
    host: str = "registry.test",
    tag: str = "v1",
    image_repo: str = "lab/pipeline",
    dataset_repo: str = "lab/reads",
    result_repo: str = "lab/results",
    parameters: list[Parameter] | None = None,
    seed: str = "",
) -> Closure:
    """Push image, dataset, result and run crate; returns what was pushed.

    ``seed`` changes the output bytes (so a second closure with another ``tag`` is a new result).
    """
    image_tag, dataset_tag, result_tag = f"img-{tag}", f"reads-{tag}", f"counts-{tag}"
    image = push_image(client, image_repo, image_tag, seed=seed)
    dataset_files = [
        File("r1.fq", f"@read1 {seed}\nACGTACGT\n+\nIIIIIIII\n".encode(), "text/plain"),
        File("sub/r2.fq", f"@read2 {seed}\nTTGGCCAA\n+\nIIIIIIII\n".encode(), "text/plain"),
    ]
    dataset = push_artifact(client, dataset_repo, dataset_tag, artifacts.DATASET, dataset_files)
    outputs = [
        File("counts.tsv", f"gene\tcount\nBRCA1\t42\n{seed}".encode(), "text/tab-separated-values"),
        File(
            "plots/hist.svg",
            f"<svg xmlns='http://www.w3.org/2000/svg'>{seed}</svg>".encode(),
            "image/svg+xml",
        ),
    ]
    result = push_artifact(client, result_repo, result_tag, artifacts.RESULT, outputs)
    params = (
        parameters
        if parameters is not None
        else [
            Parameter("min_quality", 20),
            Parameter("mode", "fast"),
            Parameter("ratio", 0.25),
            Parameter("paired", True),
        ]
    )
    started = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    run = RunRecord(
        name=f"count reads {tag}",
        image=ImageRef(host, image_repo, image_tag, image.digest),
        # a template names only recorded parameters (admission refuses others)
        command=(
            "count --min-q {min_quality} --mode {mode} --ratio {ratio} --paired {paired} /in/reads/ -o /out/"
            if parameters is None
            else "count "
            + " ".join(f"--{p.name.replace('_', '-')} {{{p.name}}}" for p in params)
            + " /in/reads/ -o /out/"
        ),
        parameters=params,
        inputs=[
            InputRef(
                "reads",
                f"{host}/{dataset_repo}@{dataset.digest}",
                dataset.digest,
                dataset_repo,
                [f.ref() for f in dataset_files],
            )
        ],
        outputs=[f.ref() for f in outputs],
        started=started,
        ended=started + timedelta(minutes=7, seconds=3),
        agent=Agent("Ada Lovelace", ORCID),
        description="Count reads per gene",
        result_reference=f"{host}/{result_repo}@{result.digest}",
        license="CC-BY-4.0",
    )
    crate_files = build_run_crate(run)
    crate_layers = [
        File(artifacts.CRATE_METADATA_NAME, crate_files.metadata, artifacts.CRATE_METADATA_MEDIA_TYPE),
        File(
            artifacts.RUN_DESCRIPTION_NAME, crate_files.run_description, artifacts.RUN_DESCRIPTION_MEDIA_TYPE
        ),
    ]
    crate = push_artifact(client, result_repo, None, artifacts.ROCRATE, crate_layers, subject=result)
    return Closure(
        host=host,
        image=image,
        image_tag=image_tag,
        dataset=dataset,
        dataset_tag=dataset_tag,
        dataset_files=dataset_files,
        result=result,
        result_tag=result_tag,
        outputs=outputs,
        crate=crate,
        crate_bytes=crate_files.metadata,
        run_description=crate_files.run_description,
        run=run,
        parameters=params,
    )


def mint(client: Any, closure: Closure, **body: Any) -> dict[str, Any]:
    """``POST /api/v1/dois`` for the closure's result; returns the DOI record (asserts 201)."""
    payload = {"reference": f"{closure.host}/{closure.result_ref}", **body}
    resp = client.post("/api/v1/dois", json=payload)
    assert resp.status_code == 201, (resp.status_code, resp.get_data(as_text=True))
    return resp.get_json()
