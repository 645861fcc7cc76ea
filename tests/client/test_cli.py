"""The client commands through click's CliRunner, against a live registry, with --json outputs parsed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sciregistry.cli import main
from sciregistry.client import Registry

from .conftest import push_tiny_image, write_tree


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def ok_json(*args: str) -> dict:  # type: ignore[type-arg]
    res = invoke(*args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_dataset_push_pull_and_push_layout(registry: Registry, tmp_path: Path) -> None:
    h = registry.host
    files = write_tree(tmp_path / "data", {"a.txt": b"alpha\n", "nested/b.csv": b"x,y\n1,2\n"})
    pushed = ok_json(
        "dataset",
        "push",
        f"{h}/cli/data:v1",
        str(tmp_path / "data"),
        "--annotation",
        "org.opencontainers.image.licenses=CC0-1.0",
        "--title",
        "demo data",
    )
    assert pushed["reference"] == f"{h}/cli/data:v1"
    assert pushed["pinned"] == f"{h}/cli/data@{pushed['digest']}"
    ann = json.loads(registry.get_manifest(f"{h}/cli/data:v1").data)["annotations"]
    assert ann == {
        "org.opencontainers.image.licenses": "CC0-1.0",
        "org.opencontainers.image.title": "demo data",
    }

    plain = invoke(
        "dataset",
        "push",
        f"{h}/cli/data:v1",
        str(tmp_path / "data"),
        "--title",
        "demo data",
        "-a",
        "org.opencontainers.image.licenses=CC0-1.0",
    )
    assert plain.exit_code == 0 and plain.stdout.strip() == pushed["digest"]  # same files: same digest

    pulled = ok_json("pull", pushed["pinned"], str(tmp_path / "out"))
    assert pulled["digest"] == pushed["digest"]
    assert pulled["files"] == ["a.txt", "nested/b.csv"]
    assert {f: (tmp_path / "out" / f).read_bytes() for f in pulled["files"]} == files

    image = push_tiny_image(registry, "cli/image", "v1")
    registry.export_layout("cli/image", image, tmp_path / "layout", tag="v1")
    layout = ok_json("push-layout", str(tmp_path / "layout"), f"{h}/cli/image-copy:v1")
    assert layout == {
        "reference": f"{h}/cli/image-copy:v1",
        "digest": image,
        "pinned": f"{h}/cli/image-copy@{image}",
    }


def test_run_record_show_list_lineage_impact(registry: Registry, tmp_path: Path) -> None:
    h = registry.host
    image = push_tiny_image(registry, "cli/pipeline", "2.0", marker="cli")
    write_tree(tmp_path / "in", {"r.fa": b">r\nGC\n"})
    data = ok_json("dataset", "push", f"{h}/cli/reads:v1", str(tmp_path / "in"))["digest"]
    out = write_tree(tmp_path / "out", {"gc.tsv": b"r\t1.0\n", "log.txt": b"done\n"})
    workflow = tmp_path / "Snakefile"
    workflow.write_text("rule all:\n    shell: 'gc-content.sh'\n")

    rec = ok_json(
        "run",
        "record",
        "--image",
        f"{h}/cli/pipeline@{image}",
        "--input",
        f"reads={h}/cli/reads@{data}",
        "--param",
        "k=3",
        "--param",
        "ratio=0.5",
        "--param",
        "mode=fast",
        "--param",
        "paired=true",
        "--param",
        "sample:string=007",
        "--command",
        "gc-content.sh --k {k} /in/reads /out",
        "--output",
        str(tmp_path / "out" / "gc.tsv"),
        "--output",
        str(tmp_path / "out" / "log.txt"),
        "--workflow",
        str(workflow),
        "--agent",
        "Grace Hopper",
        "--started",
        "2026-02-01T10:00:00Z",
        "--ended",
        "2026-02-01T10:05:00+00:00",
        "--to",
        f"{h}/cli/results:r1",
    )
    result, crate = rec["result"]["digest"], rec["crate"]["digest"]
    assert rec["result"]["reference"] == f"{h}/cli/results@{result}"
    assert rec["parameters"] == {"k": 3, "ratio": 0.5, "mode": "fast", "paired": True, "sample": "007"}

    shown = ok_json("run", "show", f"{h}/cli/results:r1")
    assert (shown["result_digest"], shown["crate_digest"]) == (result, crate)
    assert shown["image"]["digest"] == image
    assert {p["name"]: (p["value"], p["type"]) for p in shown["parameters"]} == {
        "k": (3, "integer"),
        "ratio": (0.5, "number"),
        "mode": ("fast", "string"),
        "paired": (True, "boolean"),
        "sample": ("007", "string"),
    }
    assert {o["path"]: o["sha256"] for o in shown["outputs"]} == {
        name: hashlib.sha256(b).hexdigest() for name, b in out.items()
    }
    assert shown["started"].startswith("2026-02-01T10:00:00")
    text = invoke("run", "show", f"{h}/cli/results@{result}")
    assert (
        text.exit_code == 0 and "param    k = 3" in text.stdout and f"{h}/cli/pipeline@{image}" in text.stdout
    )

    listed = ok_json("run", "list", "--registry", h, "--image", image)
    assert [r["result_digest"] for r in listed["items"]] == [result] and listed["next_cursor"] is None
    assert (
        ok_json("run", "list", "--repository", f"{h}/cli/results", "--parameter", "mode", "--value", "fast")[
            "items"
        ][0]["crate_digest"]
        == crate
    )
    assert ok_json("run", "list", "--registry", h, "--parameter", "mode", "--value", "slow")["items"] == []

    lin = ok_json("lineage", f"{h}/cli/results:r1")
    assert lin["subject"]["digest"] == result
    assert lin["produced_by"]["image"]["digest"] == image
    assert [i["subject"]["digest"] for i in lin["inputs"]] == [data]
    tree = invoke("lineage", f"{h}/cli/results:r1").stdout
    assert "input reads:" in tree and f"cli/reads@{data}" in tree and "source (no recorded run)" in tree

    imp = ok_json("impact", image, "--registry", h)
    assert imp["results"] == [{"repository": "cli/results", "digest": result}]
    imp2 = ok_json("impact", f"{h}/cli/reads@{data}")
    assert [r["result_digest"] for r in imp2["runs"]] == [result]

    crate_files = ok_json("pull", f"{h}/cli/results:r1", str(tmp_path / "attached"), "--with-crate")
    assert sorted(crate_files["files"]) == [
        "Snakefile",
        "gc.tsv",
        "log.txt",
        "ro-crate-metadata.json",
        "sciregistry-run.json",
    ]


def test_errors_are_one_line_and_exit_1(registry: Registry, tmp_path: Path) -> None:
    h = registry.host
    push_tiny_image(registry, "cli/err", "v1")
    res = invoke("pull", f"{h}/cli/err:missing", str(tmp_path / "x"))
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines() == [
        "error: MANIFEST_UNKNOWN: " + res.stderr.strip().split("MANIFEST_UNKNOWN: ", 1)[1]
    ]
    res = invoke("pull", f"{h}/cli/err:missing", str(tmp_path / "x"), "--json")
    assert res.exit_code == 1
    assert json.loads(res.stdout)["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    res = invoke("run", "show", f"{h}/cli/err:v1")
    assert (
        res.exit_code == 1
        and res.stderr.strip() == f"error: NOT_FOUND: no run is recorded for {h}/cli/err:v1"
    )
    res = invoke("dataset", "push", "cli/no-host:v1", str(tmp_path))
    assert res.exit_code == 1 and res.stderr.strip() == (
        "error: 'cli/no-host:v1' names no registry: write it as HOST:PORT/cli/no-host:v1 "
        "(the form the registry prints), or add --registry URL"
    )
    # the advice is true: the same reference with --registry goes to that registry
    res = invoke("pull", "cli/err:missing", str(tmp_path / "y"), "--registry", registry.url)
    assert (
        res.exit_code == 1
        and f"{h}/cli/err" not in res.stderr
        and "MANIFEST_UNKNOWN: cli/err has no tag 'missing': its tags are v1" in res.stderr
    ), res.stderr
    res = invoke(
        "run",
        "record",
        "--image",
        f"{h}/cli/err:v1",
        "--param",
        "novalue",
        "--command",
        "x",
        "--output",
        __file__,
        "--to",
        f"{h}/cli/err-results:v1",
    )
    assert res.exit_code == 1 and res.stderr.strip() == "error: parameter 'novalue' must be NAME=VALUE"
    res = invoke(
        "run",
        "record",
        "--image",
        f"{h}/cli/err:v1",
        "--command",
        "x",
        "--output",
        __file__,
        "--to",
        f"{h}/cli/err-results:v1",
        "--started",
        "2026-01-01T00:00:00",
    )
    assert res.exit_code == 2 and "needs a time zone" in res.stderr


def test_login_stores_credentials_0600_and_logout_removes_them(
    registry: Registry, isolated_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = registry.host
    res = invoke("login", h, "--username", "alice", "--password-stdin", "--json", input="s3cret\n")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {
        "host": h,
        "username": "alice",
        "credentials": str(isolated_config / "credentials.json"),
    }
    path = isolated_config / "credentials.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text()) == {"auths": {h: {"username": "alice", "password": "s3cret"}}}
    monkeypatch.setenv("SCIREGISTRY_USERNAME", "bob")
    monkeypatch.setenv("SCIREGISTRY_PASSWORD", "from-env")
    assert invoke("login", h).exit_code == 0
    assert json.loads(path.read_text())["auths"][h] == {"username": "bob", "password": "from-env"}
    assert ok_json("logout", h) == {"host": h, "removed": True}
    assert json.loads(path.read_text()) == {"auths": {}}
    assert ok_json("logout", h) == {"host": h, "removed": False}
