"""Datasets, results and run crates against a live registry (admission runs the real validator)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sciregistry import errors
from sciregistry.client import Artifact, Registry
from sciregistry.client.artifacts import parse_parameter, push_result, push_run_crate, safe_title, typed_value
from sciregistry.oci import EMPTY_JSON, EMPTY_JSON_DIGEST, OCI_EMPTY, OCI_MANIFEST, Descriptor, parse_manifest
from sciregistry.oci import artifacts as types
from sciregistry.provenance import FileRef, ImageRef, InputRef, Parameter, RunRecord, build_run_crate

from .conftest import push_tiny_image, write_tree

STARTED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ENDED = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


# --- datasets ----------------------------------------------------------------------------------------------


def test_dataset_push_pull_round_trip_with_nested_dirs(registry: Registry, tmp_path: Path) -> None:
    files = write_tree(
        tmp_path / "reads",
        {
            "sample1.fa": b">s1\nACGTACGT\n",
            "lane 2/sample2.fq": b"@r\nACGT\n+\nIIII\n",
            "lane 2/deep/er/empty.bin": b"",
            "meta.json": b'{"organism": "E. coli"}',
        },
    )
    extra = tmp_path / "README.md"
    extra.write_bytes(b"# reads\n")
    ref = f"{registry.host}/lab-x/reads:v1"
    digest = registry.push_dataset(
        ref, [tmp_path / "reads", extra], {"org.opencontainers.image.licenses": "CC-BY-4.0"}
    )

    m = registry.get_manifest(ref)
    assert m.digest == digest
    doc = json.loads(m.data)
    assert m.data == json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()  # compact, as pushed
    assert doc["artifactType"] == types.DATASET
    assert doc["config"] == {"mediaType": OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2}
    assert doc["annotations"] == {
        "org.opencontainers.image.licenses": "CC-BY-4.0",
        "org.opencontainers.image.title": "reads",
    }
    layers = [
        (ly["annotations"][types.TITLE], ly["mediaType"], ly["digest"], ly["size"]) for ly in doc["layers"]
    ]
    expected = [*sorted(files.items()), ("README.md", b"# reads\n")]
    assert [(t, d, s) for t, _, d, s in layers] == [
        (t, "sha256:" + hashlib.sha256(b).hexdigest(), len(b)) for t, b in expected
    ]
    assert {t: mt for t, mt, _, _ in layers} == {
        "lane 2/deep/er/empty.bin": "application/octet-stream",
        "lane 2/sample2.fq": "text/x-fastq",
        "meta.json": "application/json",
        "sample1.fa": "text/x-fasta",
        "README.md": "text/markdown",
    }

    pulled = registry.pull(f"{registry.host}/lab-x/reads@{digest}", tmp_path / "out")
    assert pulled.digest == digest and pulled.artifact_type == types.DATASET
    restored = {p.relative_to(tmp_path / "out").as_posix(): p.read_bytes() for p in pulled.files}
    assert restored == dict(expected)
    assert not list((tmp_path / "out").rglob("*.partial"))


def test_dataset_with_clashing_titles_is_refused_before_any_upload(
    registry: Registry, tmp_path: Path
) -> None:
    write_tree(tmp_path / "a", {"x.txt": b"1"})
    write_tree(tmp_path / "b", {"x.txt": b"2"})
    with pytest.raises(ValueError, match=r"would both be stored as 'x\.txt'"):
        registry.push_dataset(f"{registry.host}/lab-x/clash:v1", [tmp_path / "a", tmp_path / "b"])


@pytest.mark.parametrize("title", ["../evil.txt", "/etc/evil", "a/../../evil", "a/./b", "a\\..\\b", ""])
def test_pull_refuses_path_traversal_in_titles(registry: Registry, tmp_path: Path, title: str) -> None:
    blob = registry.upload_blob("lab-x/evil", b"payload")
    registry.upload_blob("lab-x/evil", EMPTY_JSON, media_type=OCI_EMPTY)
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": types.DATASET,
        "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2},
        "layers": [
            {
                "mediaType": "text/plain",
                "digest": "sha256:" + hashlib.sha256(b"ok").hexdigest(),
                "size": 2,
                "annotations": {types.TITLE: "fine.txt"},
            },
            {**blob.to_dict(), "annotations": {types.TITLE: title}},
        ],
    }
    registry.upload_blob("lab-x/evil", b"ok")
    registry.put_manifest("lab-x/evil", "v1", json.dumps(doc).encode(), OCI_MANIFEST)
    dest = tmp_path / "dest"
    with pytest.raises(ValueError, match="unsafe file title"):
        registry.pull(f"{registry.host}/lab-x/evil:v1", dest)
    assert not dest.exists()  # nothing written, not even the safe file
    assert not (tmp_path / "evil.txt").exists()


def test_safe_title_and_parameter_typing() -> None:
    assert str(safe_title("a/b c/d.txt")) == "a/b c/d.txt"
    assert [
        typed_value(v) for v in ("20", "-3", "0.25", "1e3", "true", "false", "007", "abc", "True", "")
    ] == [20, -3, 0.25, 1000.0, True, False, "007", "abc", "True", ""]
    assert parse_parameter("k=3") == ("k", 3)
    assert parse_parameter("label:string=20") == ("label", "20")
    assert parse_parameter("ratio:number=1") == ("ratio", 1.0)
    assert parse_parameter("expr=a=b") == ("expr", "a=b")
    with pytest.raises(ValueError):
        parse_parameter("novalue")
    with pytest.raises(ValueError):
        parse_parameter("n:integer=1.5")


# --- runs --------------------------------------------------------------------------------------------------


@pytest.fixture
def inputs(registry: Registry, tmp_path: Path) -> dict[str, str]:
    """An image and two datasets: {"image": digest, "reads": digest, "reference": digest}."""
    image = push_tiny_image(registry, "lab-x/pipeline", "1.0", marker="pipeline")
    write_tree(tmp_path / "reads", {"r1.fa": b">r1\nGGCC\n", "sub/r2.fa": b">r2\nATAT\n"})
    write_tree(tmp_path / "ref", {"genome.fa": b">chr\nACGTACGTAC\n"})
    reads = registry.push_dataset(f"{registry.host}/lab-x/reads:run-in", [tmp_path / "reads"])
    reference = registry.push_dataset(f"{registry.host}/lab-x/genome:v1", [tmp_path / "ref"])
    return {"image": image, "reads": reads, "reference": reference}


def _outputs(tmp_path: Path) -> list[Path]:
    out = write_tree(tmp_path / "out", {"gc.tsv": b"r1\t1.0\nr2\t0.0\n", "kmers.tsv": b"AT\t2\nGC\t2\n"})
    return [tmp_path / "out" / name for name in out]


def test_record_run_end_to_end(registry: Registry, inputs: dict[str, str], tmp_path: Path) -> None:
    h = registry.host
    result, crate = registry.record_run(
        f"{h}/lab-x/pipeline@{inputs['image']}",
        {
            "reads": f"{h}/lab-x/reads@{inputs['reads']}",
            "reference": f"{h}/lab-x/genome@{inputs['reference']}",
        },
        {"k": 3, "min_gc": 0.25, "normalise": True},
        "gc-content.sh --k {k} --min-gc {min_gc} --normalise {normalise} /in/reads /out",
        _outputs(tmp_path),
        f"{h}/lab-x/gc-results:run1",
        agent="Ada Lovelace",
        orcid="https://orcid.org/0000-0002-1825-0097",
        started=STARTED,
        ended=ENDED,
    )

    assert registry.resolve_digest("lab-x/gc-results:run1") == result
    crates = registry.referrers("lab-x/gc-results", result, types.ROCRATE)
    assert [c.digest for c in crates] == [crate]
    crate_manifest = parse_manifest(registry.get_manifest(f"lab-x/gc-results@{crate}").data, None)
    assert crate_manifest.subject is not None and crate_manifest.subject.digest == result
    assert [(ly.media_type, (ly.annotations or {})[types.TITLE]) for ly in crate_manifest.layers] == [
        ("application/ld+json", "ro-crate-metadata.json"),
        ("application/vnd.sciregistry.run.v1+json", "sciregistry-run.json"),
    ]

    lineage = registry.lineage(f"{h}/lab-x/gc-results:run1")
    run = lineage.produced_by
    assert run is not None
    assert lineage.subject == Artifact("lab-x/gc-results", result, types.RESULT)
    assert (run.image.repository, run.image.digest) == ("lab-x/pipeline", inputs["image"])
    assert [(i.name, i.repository, i.digest) for i in run.inputs] == [
        ("reads", "lab-x/reads", inputs["reads"]),
        ("reference", "lab-x/genome", inputs["reference"]),
    ]
    assert run.parameters == {"k": 3, "min_gc": 0.25, "normalise": True}
    assert run.parameter_types == {"k": "integer", "min_gc": "number", "normalise": "boolean"}
    assert {o.path: o.sha256 for o in run.outputs} == {
        "gc.tsv": hashlib.sha256(b"r1\t1.0\nr2\t0.0\n").hexdigest(),
        "kmers.tsv": hashlib.sha256(b"AT\t2\nGC\t2\n").hexdigest(),
    }
    assert run.agent == {"name": "Ada Lovelace", "orcid": "https://orcid.org/0000-0002-1825-0097"}
    assert [(n.subject.digest, n.produced_by) for n in lineage.inputs] == [
        (inputs["reads"], None),
        (inputs["reference"], None),
    ]
    assert "gc-results" in repr(lineage) and "<table>" in lineage._repr_html_()

    impact = registry.impact(inputs["image"])
    assert impact.results == [Artifact("lab-x/gc-results", result)]
    assert [r.crate_digest for r in impact.runs] == [crate]
    assert registry.impact(f"{h}/lab-x/reads@{inputs['reads']}").results == [
        Artifact("lab-x/gc-results", result)
    ]
    assert registry.run_for(f"lab-x/gc-results@{result}") == run
    assert registry.run(run.id) == run
    listed = registry.runs(repository="lab-x/gc-results", parameter="k", value=3)
    assert [r.result_digest for r in listed] == [result]
    assert registry.runs(repository="lab-x/gc-results", parameter="k", value=4).items == []

    pulled = registry.pull(f"{h}/lab-x/gc-results:run1", tmp_path / "attached", with_crate=True)
    assert pulled.crate_digest == crate
    assert sorted(p.name for p in pulled.files) == [
        "gc.tsv",
        "kmers.tsv",
        "ro-crate-metadata.json",
        "sciregistry-run.json",
    ]


def _run_for(
    registry: Registry, image: str, datasets: dict[str, str], outputs: list[FileRef], result_ref: str
) -> RunRecord:
    h = registry.host
    return RunRecord(
        name="gc run",
        image=ImageRef(h, "lab-x/pipeline", "1.0", image),
        command="gc-content.sh --k {k} /in/reads /out",
        parameters=[Parameter("k", 3)],
        inputs=[
            InputRef(name, f"{h}/{repo}@{digest}", digest, repo) for name, (repo, digest) in datasets.items()
        ],
        outputs=outputs,
        started=STARTED,
        ended=ENDED,
        result_reference=result_ref,
    )


def _problems(exc: errors.RegistryError) -> list[str]:
    assert isinstance(exc.detail, dict), exc.detail
    return list(exc.detail["problems"])


def test_admission_rejects_an_altered_output_sha256(
    registry: Registry, inputs: dict[str, str], tmp_path: Path
) -> None:
    desc, outs = push_result(registry.oci, f"{registry.host}/lab-x/gc-results:bad-sha", _outputs(tmp_path))
    bad = [dataclasses.replace(outs[0], sha256="0" * 64), outs[1]]
    run = _run_for(
        registry,
        inputs["image"],
        {"reads": ("lab-x/reads", inputs["reads"])},
        bad,
        f"{registry.host}/lab-x/gc-results@{desc.digest}",
    )
    with pytest.raises(errors.ManifestInvalid) as info:
        push_run_crate(registry.oci, "lab-x/gc-results", build_run_crate(run), desc)
    assert info.value.text == "run crate rejected"
    assert _problems(info.value) == [
        f"output 'gc.tsv': sha256 {'0' * 64} does not match the result's layer sha256:{outs[0].sha256}"
    ]
    assert registry.referrers("lab-x/gc-results", desc.digest) == []


def test_admission_rejects_an_image_the_registry_lacks(
    registry: Registry, inputs: dict[str, str], tmp_path: Path
) -> None:
    desc, outs = push_result(registry.oci, f"{registry.host}/lab-x/gc-results:no-image", _outputs(tmp_path))
    missing = "sha256:" + "ab" * 32
    run = _run_for(
        registry,
        missing,
        {"reads": ("lab-x/reads", inputs["reads"])},
        outs,
        f"{registry.host}/lab-x/gc-results@{desc.digest}",
    )
    with pytest.raises(errors.ManifestInvalid) as info:
        push_run_crate(registry.oci, "lab-x/gc-results", build_run_crate(run), desc)
    assert _problems(info.value) == [f"image lab-x/pipeline@{missing} is not in this registry"]


def test_admission_rejects_a_dataset_as_subject(
    registry: Registry, inputs: dict[str, str], tmp_path: Path
) -> None:
    outputs = _outputs(tmp_path)
    # the "result" is pushed as a dataset (same files), in the repository of the crate
    digest = registry.push_dataset(f"{registry.host}/lab-x/gc-results:not-a-result", outputs)
    size = len(registry.get_manifest(f"lab-x/gc-results@{digest}").data)
    outs = [FileRef(p.name, hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_size) for p in outputs]
    run = _run_for(
        registry,
        inputs["image"],
        {"reads": ("lab-x/reads", inputs["reads"])},
        outs,
        f"{registry.host}/lab-x/gc-results@{digest}",
    )
    with pytest.raises(errors.ManifestInvalid) as info:
        push_run_crate(
            registry.oci, "lab-x/gc-results", build_run_crate(run), Descriptor(OCI_MANIFEST, digest, size)
        )
    assert _problems(info.value) == [
        f"subject {digest} is not a result (artifactType {types.DATASET!r}, expected {types.RESULT!r})"
    ]


def test_record_run_refuses_an_unknown_image_before_pushing(
    registry: Registry, inputs: dict[str, str], tmp_path: Path
) -> None:
    h = registry.host
    with pytest.raises(errors.ManifestInvalid, match="is not in this registry: push it first"):
        registry.record_run(
            f"{h}/lab-x/pipeline@sha256:{'cd' * 32}",
            {},
            {},
            "true",
            _outputs(tmp_path),
            f"{h}/lab-x/gc-results:never",
        )
    with pytest.raises(errors.ManifestUnknown):
        registry.get_manifest("lab-x/gc-results:never")


def test_pull_refuses_to_write_through_a_symlink_out_of_the_destination(
    registry: Registry, tmp_path: Path
) -> None:
    write_tree(tmp_path / "src", {"sub/x.txt": b"x"})
    registry.push_dataset(f"{registry.host}/lab-x/linky:v1", [tmp_path / "src"])
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "sub").symlink_to(outside)
    with pytest.raises(ValueError, match="resolves outside"):
        registry.pull(f"{registry.host}/lab-x/linky:v1", dest)
    assert list(outside.iterdir()) == []
