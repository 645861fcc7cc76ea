"""Everything a DOI pins can be neither deleted nor collected (pin guard + ``sciregistry gc``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select

from sciregistry.cli import main
from sciregistry.db.models import Tag
from sciregistry.oci import artifacts

from .closure import File, build_closure, mint, push_artifact
from .conftest import HOST


def _denied(resp: Any, doi: str) -> None:
    assert resp.status_code == 403, resp.get_data(as_text=True)
    err = resp.get_json()["errors"][0]
    assert err["code"] == "DENIED"
    assert doi in err["message"]
    assert err["detail"]["doi"] == doi


def _gc_config(tmp_path: Path, app: Any) -> list[str]:
    """CLI options pointing ``sciregistry gc`` at the app's database and store."""
    cfg = app.extensions["sciregistry"].config
    path = tmp_path / "gc.toml"
    path.write_text(
        f'data_dir = "{cfg.data_dir}"\ndatabase_url = "{cfg.resolved_database_url}"\nstorage_fsync = false\n'
    )
    return ["--config", str(path)]


def test_pinned_content_cannot_be_deleted(fresh_app: Any) -> None:
    client = fresh_app.test_client()
    c = build_closure(client, host=HOST)
    doi = mint(client, c)["doi"]
    layer = json.loads(c.image.content)["layers"][0]["digest"]
    _denied(client.delete(f"/v2/lab/results/manifests/{c.result.digest}"), doi)
    _denied(client.delete(f"/v2/lab/results/manifests/{c.result_tag}"), doi)
    _denied(client.delete(f"/v2/lab/pipeline/blobs/{layer}"), doi)
    _denied(client.delete(f"/v2/lab/pipeline/manifests/{c.image.digest}"), doi)
    _denied(client.delete(f"/v2/lab/reads/manifests/{c.dataset.digest}"), doi)
    _denied(client.delete(f"/v2/lab/results/manifests/{c.crate.digest}"), doi)
    _denied(client.delete(f"/v2/lab/results/blobs/{c.outputs[0].digest}"), doi)
    # nothing moved
    assert (
        client.get(f"/v2/lab/results/manifests/{c.result_tag}").headers["Docker-Content-Digest"]
        == c.result.digest
    )
    assert client.get(f"/v2/lab/pipeline/blobs/{layer}").status_code == 200


def test_gc_keeps_every_pinned_object_after_all_tags_are_gone(
    fresh_app: Any, tmp_path: Path, no_sciregistry_env: None
) -> None:
    client = fresh_app.test_client()
    services = fresh_app.extensions["sciregistry"]
    c = build_closure(client, host=HOST)
    doi = mint(client, c)["doi"]
    # an unpinned artifact that gc must collect, so the run is known to delete something
    scratch_file = File("scratch.txt", b"temporary, never published\n", "text/plain")
    scratch = push_artifact(client, "lab/results", "scratch", artifacts.RESULT, [scratch_file])

    pins_before = client.get(f"/api/v1/dois/{doi}/closure").get_json()["pins"]
    pinned_manifests = {(p["repository"], p["digest"]) for p in pins_before if p["kind"] == "manifest"}
    pinned_blobs = {(p["repository"], p["digest"]) for p in pins_before if p["kind"] == "blob"}
    assert {(m.repository, m.digest) for m in c.all_manifests()} == pinned_manifests
    assert set(c.all_blobs()) == pinned_blobs

    # delete every tag: the API refuses pinned ones, so the rest go behind its back
    for repo, tag in (
        ("lab/pipeline", c.image_tag),
        ("lab/reads", c.dataset_tag),
        ("lab/results", c.result_tag),
    ):
        assert client.delete(f"/v2/{repo}/manifests/{tag}").status_code == 403
    assert client.delete("/v2/lab/results/manifests/scratch").status_code == 202
    with services.sessions() as s, s.begin():
        s.execute(delete(Tag))
    with services.sessions() as s:
        assert s.execute(select(Tag)).first() is None

    runner = CliRunner()
    dry = runner.invoke(
        main, ["gc", "--dry-run", "--delete-untagged", "--grace", "0", *_gc_config(tmp_path, fresh_app)]
    )
    assert dry.exit_code == 0, dry.output
    assert dry.output.startswith("gc (dry run): would delete 1 manifests, 1 blobs, 1 repository links, ")
    assert f"  manifest {scratch.digest}\n" in dry.output
    assert services.store.stat(scratch_file.digest) is not None  # a dry run deletes nothing

    result = runner.invoke(
        main, ["gc", "--delete-untagged", "--grace", "0", "--json", *_gc_config(tmp_path, fresh_app)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["dry_run"] is False
    assert report["manifests_deleted"] == [scratch.digest]
    assert report["blobs_deleted"] == [scratch_file.digest]
    assert report["bytes_freed"] == scratch_file.size
    assert report["pinned_kept"] == len(pins_before)

    # every pinned object is still there: pins, manifests, blob links and blob files
    assert client.get(f"/api/v1/dois/{doi}/closure").get_json()["pins"] == pins_before
    for repo, digest in pinned_manifests:
        resp = client.get(f"/v2/{repo}/manifests/{digest}")
        assert resp.status_code == 200, (repo, digest)
    for repo, digest in pinned_blobs:
        assert client.head(f"/v2/{repo}/blobs/{digest}").status_code == 200, (repo, digest)
        info = services.store.stat(digest)
        assert info is not None, digest
        local = services.store.local_path(digest)
        assert local is not None and Path(local).is_file()
    # and the unpinned artifact is gone
    assert client.get(f"/v2/lab/results/manifests/{scratch.digest}").status_code == 404
    assert services.store.stat(scratch_file.digest) is None
    # the landing page still shows everything
    html = client.get(f"/doi/{doi}").get_data(as_text=True)
    for f in c.outputs:
        assert f.sha256 in html


@pytest.mark.parametrize("flag", ["--grace", "--upload-max-age"])
def test_gc_rejects_negative_durations(flag: str, tmp_path: Path, no_sciregistry_env: None) -> None:
    result = CliRunner().invoke(main, ["gc", flag, "-1", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "-1 is not in the range x>=0" in result.output
