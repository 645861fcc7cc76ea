"""``sciregistry reproduce DOI`` on a live registry: every verdict, the report files, exit codes.

REPRODUCED / NOT_REPRODUCED / PARTIAL need a container runtime: where podman cannot run
containers the first test expects NOT_RUN with the exact command, and the others skip with the
probe's reason.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sciregistry.cli import main
from sciregistry.cli import reproduce as _reproduce_cli  # noqa: F401  (registers the command)
from sciregistry.client.reproduce import Resolution
from sciregistry.provenance import validate

from .conftest import RENDERED, Published, Recorded, record

EXIT_VERDICT = 3


def run_cli(published: Published, doi: str, out: Path | None, *extra: str) -> Result:
    args = ["reproduce", doi, "--registry", published.server.url, *extra]
    if out is not None:
        args += ["--out", str(out)]
    return CliRunner().invoke(main, args, catch_exceptions=False)


def report_of(out: Path) -> dict[str, Any]:
    doc = json.loads((out / "report.json").read_bytes())
    assert validate("reproduction-report.schema.json", doc) == []
    assert (out / "report.md").read_text().startswith(f"# Reproduction of {doc['doi']}: {doc['verdict']}")
    return doc


def step_status(doc: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["status"] for s in doc["steps"]}


@pytest.fixture(scope="module")
def altered(published: Published, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Recorded]:
    """Two more recorded runs of the same image, inputs and parameters whose results hold outputs
    the pipeline does not produce: both files changed (NOT_REPRODUCED) and only gc.tsv (PARTIAL)."""
    base = tmp_path_factory.mktemp("altered")
    out: dict[str, Recorded] = {}
    host = published.server.host
    with published.registry() as reg:
        for label, changed in (("none", ("gc.tsv", "kmers.tsv")), ("partial", ("gc.tsv",))):
            d = base / label
            d.mkdir()
            for name, data in published.host_outputs.items():
                (d / name).write_bytes(data + b"# altered\n" if name in changed else data)
            out[label] = record(
                reg,
                f"{host}/lab/gc-content@{published.image_digest}",
                f"{host}/lab/reads@{published.dataset}",
                sorted(d.iterdir()),
                f"{host}/lab/gc-results:altered-{label}",
                f"altered {label}",
            )
    return out


# --- REPRODUCED (or NOT_RUN where podman cannot run) ---------------------------------------------------


def test_reproduce_in_a_clean_directory(
    published: Published, podman_reason: str | None, tmp_path: Path, isolated_env: Path
) -> None:
    out = tmp_path / "clean"
    result = run_cli(published, published.main.doi, out)
    doc = report_of(out)
    assert doc["doi"] == published.main.doi
    assert doc["result"]["digest"] == published.main.result
    assert doc["crate"] == {"digest": published.main.crate, "verified": True, "problems": []}
    assert doc["image"]["digest"] == published.image_digest
    assert doc["image"]["verified"] is True
    assert doc["command"]["rendered"] == RENDERED
    assert [i["status"] for i in doc["inputs"]] == ["verified"]
    assert sorted(p.name for p in (out / "inputs" / "reads").iterdir()) == sorted(
        p.name for p in published.data_dir.iterdir()
    )
    assert (out / "image" / "oci-layout").is_file()
    if podman_reason is None:
        assert result.exit_code == 0, (result.output, doc["runtime"])
        assert doc["verdict"] == "REPRODUCED"
        assert doc["runtime"]["name"] == "podman"
        assert doc["runtime"]["exit_code"] == 0
        assert [(o["path"], o["status"]) for o in doc["outputs"]] == [
            ("gc.tsv", "identical"),
            ("kmers.tsv", "identical"),
        ]
        for name, data in published.host_outputs.items():
            assert (out / "outputs" / name).read_bytes() == data
        assert doc["extra_outputs"] == []
        assert set(step_status(doc).values()) == {"ok"}
        assert "REPRODUCED: all 2 recorded output(s) are byte-identical" in result.stdout
        assert doc["command"]["argv"][-3:] == ["/bin/sh", "-c", RENDERED]
    else:
        assert result.exit_code == EXIT_VERDICT, result.output
        assert doc["verdict"] == "NOT_RUN"
        assert RENDERED in doc["command"]["suggested"]
        assert RENDERED in result.stdout


def test_runtime_none_gives_not_run_with_the_exact_command(
    published: Published, tmp_path: Path, isolated_env: Path
) -> None:
    out = tmp_path / "fetch-only"
    result = run_cli(published, published.main.doi, out, "--runtime", "none")
    assert result.exit_code == EXIT_VERDICT, result.output
    doc = report_of(out)
    assert doc["verdict"] == "NOT_RUN"
    assert doc["runtime"] == {
        "requested": "none",
        "name": None,
        "version": None,
        "probes": [],
        "exit_code": None,
        "seconds": None,
        "stdout_tail": "",
        "stderr_tail": "",
    }
    # the flags reproduce runs podman with on this kind of host, all of them (issue 16, item 7)
    expected = (
        f"podman --storage-driver vfs --cgroup-manager cgroupfs --events-backend file --runtime runc run "
        f"--rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "
        f"-v {out}/inputs/reads:/in/reads:ro -v {out}/outputs:/out "
        f"oci:{out}/image:reproduce /bin/sh -c '{RENDERED}'"
    )
    assert doc["command"]["suggested"] == expected
    assert doc["command"]["suggested"] == shlex.join(doc["command"]["argv"])
    assert f"run it yourself (the same flags, the image from its layout):\n    {expected}" in result.stdout
    assert doc["command"]["argv"][-4:] == [f"oci:{out}/image:reproduce", "/bin/sh", "-c", RENDERED]
    assert [o["status"] for o in doc["outputs"]] == ["not_compared", "not_compared"]
    assert step_status(doc) == {
        "resolve": "ok",
        "crate": "ok",
        "image": "ok",
        "inputs": "ok",
        "render": "ok",
        "runtime": "ok",
        "run": "skipped",
        "compare": "skipped",
    }
    assert expected in result.stdout
    assert expected in (out / "report.md").read_text()
    assert list((out / "outputs").iterdir()) == []


def test_json_output_and_default_out_dir(
    published: Published, tmp_path: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli(published, f"doi:{published.main.doi}", None, "--runtime", "none", "--json")
    assert result.exit_code == EXIT_VERDICT, result.output
    doc = json.loads(result.stdout)
    suffix = published.main.doi.split("/", 1)[1]
    assert doc["report_path"] == str(tmp_path / f"reproduce-{suffix}" / "report.json")
    assert doc["verdict"] == "NOT_RUN"
    assert doc["attached"] is None
    on_disk = json.loads((tmp_path / f"reproduce-{suffix}" / "report.json").read_bytes())
    assert {k: v for k, v in doc.items() if k not in ("report_path", "attached")} == on_disk


def test_refuses_a_directory_that_is_not_empty(
    published: Published, tmp_path: Path, isolated_env: Path
) -> None:
    out = tmp_path / "used"
    out.mkdir()
    (out / "old.txt").write_text("x")
    result = run_cli(published, published.main.doi, out, "--runtime", "none")
    assert result.exit_code == 1
    assert "is not an empty directory" in result.stderr
    assert sorted(os.listdir(out)) == ["old.txt"]


def test_unknown_doi_exits_1(published: Published, tmp_path: Path, isolated_env: Path) -> None:
    result = run_cli(published, "10.5072/none-0000", tmp_path / "x", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["errors"][0]["code"] == "NOT_FOUND"
    assert not (tmp_path / "x").exists()


def test_invalid_doi_is_a_usage_error(published: Published, tmp_path: Path, isolated_env: Path) -> None:
    result = run_cli(published, "abcd", tmp_path / "x")
    assert result.exit_code == 2
    assert "not a DOI" in result.output


# --- altered records ---------------------------------------------------------------------------------


def test_altered_output_hashes_give_not_reproduced(
    published: Published,
    altered: dict[str, Recorded],
    podman_reason: str | None,
    tmp_path: Path,
    isolated_env: Path,
) -> None:
    if podman_reason is not None:
        pytest.skip(f"podman cannot run here: {podman_reason}")
    out = tmp_path / "none"
    result = run_cli(published, altered["none"].doi, out, "--runtime", "podman")
    assert result.exit_code == EXIT_VERDICT, result.output
    doc = report_of(out)
    assert doc["verdict"] == "NOT_REPRODUCED"
    assert doc["crate"]["verified"] is True  # the record is consistent; the recorded bytes are not what runs
    assert [(o["path"], o["status"]) for o in doc["outputs"]] == [
        ("gc.tsv", "different"),
        ("kmers.tsv", "different"),
    ]
    for o in doc["outputs"]:
        assert (
            o["actual_sha256"] == __import__("hashlib").sha256(published.host_outputs[o["path"]]).hexdigest()
        )
        assert o["expected_sha256"] != o["actual_sha256"]
    assert "NOT_REPRODUCED: none of the 2 recorded output(s) is byte-identical" in result.stdout


def test_one_altered_output_gives_partial(
    published: Published, altered: dict[str, Recorded], podman_reason: str | None, tmp_path: Path
) -> None:
    if podman_reason is not None:
        pytest.skip(f"podman cannot run here: {podman_reason}")
    with published.registry() as reg:
        report = reg.reproduce(altered["partial"].doi, tmp_path / "partial", runtime="podman")
    assert report.verdict == "PARTIAL", (report.reason, report.runtime)
    assert not report.ok
    assert [(o.path, o.status) for o in report.outputs] == [
        ("gc.tsv", "different"),
        ("kmers.tsv", "identical"),
    ]
    assert report.reason == "1 of 2 recorded outputs are byte-identical; gc.tsv differ(s)"


# --- what cannot be fetched or does not match --------------------------------------------------------


def test_missing_dataset_blob_gives_input_unavailable(
    published: Published, tmp_path: Path, isolated_env: Path
) -> None:
    host = published.server.host
    lost = tmp_path / "lost"
    lost.mkdir()
    (lost / "only_here.fa").write_bytes(b">lost1 a sequence nobody else has\n" + b"ACGTTGCA" * 20 + b"\n")
    with published.registry() as reg:
        dataset = reg.push_dataset(f"{host}/lab/reads-lost:v1", [lost / "only_here.fa"])
        rec = record(
            reg,
            f"{host}/lab/gc-content@{published.image_digest}",
            f"{host}/lab/reads-lost@{dataset}",
            sorted((published.data_dir.parent / "host-out").iterdir()),
            f"{host}/lab/gc-results:lost-input",
            "lost input",
        )
    blob = "sha256:" + __import__("hashlib").sha256((lost / "only_here.fa").read_bytes()).hexdigest()
    published.server.blob_file(blob).unlink()  # gone from the store behind the registry's back

    out = tmp_path / "out"
    result = run_cli(published, rec.doi, out, "--runtime", "none")
    assert result.exit_code == EXIT_VERDICT, result.output
    doc = report_of(out)
    assert doc["verdict"] == "INPUT_UNAVAILABLE"
    assert doc["reason"].startswith(
        f"input 'reads' ({host}/lab/reads-lost@{dataset}) cannot be fetched (BLOB_UNKNOWN"
    )
    assert doc["inputs"][0]["status"] == "unavailable"
    assert step_status(doc)["inputs"] == "failed"
    assert step_status(doc)["render"] == "skipped"
    assert doc["image"]["verified"] is True


def test_corrupted_image_blob_gives_digest_mismatch(
    published: Published, tmp_path: Path, isolated_env: Path
) -> None:
    """A stored image layer whose bytes changed: the export verifies every blob."""
    from sciregistry.oci import OCI_CONFIG, OCI_MANIFEST

    host = published.server.host
    layer = b"a layer that will be damaged on disk\n"
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": []},
        }
    ).encode()
    with published.registry() as reg:
        c = reg.upload_blob("lab/damaged", config, media_type=OCI_CONFIG)
        ly = reg.upload_blob("lab/damaged", layer, media_type="application/vnd.oci.image.layer.v1.tar")
        manifest = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": c.to_dict(), "layers": [ly.to_dict()]}
        ).encode()
        image = reg.put_manifest("lab/damaged", "v1", manifest, OCI_MANIFEST)
        rec = record(
            reg,
            f"{host}/lab/damaged@{image}",
            f"{host}/lab/reads@{published.dataset}",
            sorted((published.data_dir.parent / "host-out").iterdir()),
            f"{host}/lab/gc-results:damaged",
            "damaged image",
        )
    published.server.blob_file(ly.digest).write_bytes(b"A layer that will be damaged on disk\n")

    out = tmp_path / "out"
    result = run_cli(published, rec.doi, out, "--runtime", "none")
    assert result.exit_code == EXIT_VERDICT, result.output
    doc = report_of(out)
    assert doc["verdict"] == "DIGEST_MISMATCH"
    assert doc["reason"].startswith(f"image {host}/lab/damaged@{image}: the bytes received do not match")
    assert step_status(doc)["image"] == "failed"
    assert doc["image"]["verified"] is False


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (
            ("parameters", 0, "value"),
            4,
            "parameter 'k': the crate records ('integer', 3), the DOI's run ('integer', 4)",
        ),
        (("outputs", 0, "sha256"), "0" * 64, "output 'gc.tsv': the crate records"),
        (("image", "digest"), "sha256:" + "1" * 64, "image: the crate records sha256:f1c9"),
        (("command",), "gc-content.sh --k {k} /in/reads /out", "command: the crate records"),
    ],
)
def test_crate_disagreeing_with_the_record_gives_digest_mismatch(
    published: Published, tmp_path: Path, path: tuple[Any, ...], value: Any, problem: str
) -> None:
    """The registry's answer (closure) says one thing, the signed-by-digest crate another."""
    with published.registry() as reg:
        closure = reg.transport.request("GET", f"/api/v1/dois/{published.main.doi}/closure").json()
        node = closure["run"]
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        res = Resolution.from_closure(reg, closure)
        report = res.reproduce(tmp_path / "out", runtime="none")
    assert report.verdict == "DIGEST_MISMATCH"
    assert report.crate["verified"] is False
    assert any(p.startswith(problem) for p in report.crate["problems"]), report.crate["problems"]
    assert report.reason.startswith("the run crate disagrees with the DOI's record: ")
    assert [s.status for s in report.steps if s.name in ("crate", "image")] == ["failed", "skipped"]
    assert not (tmp_path / "out" / "image").exists()
