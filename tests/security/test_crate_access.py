"""#10 cross-tenant provenance, against a live gunicorn: a run crate may name only what its pusher
can read; the refusal is the same whether the content exists or not; a DOI pins only what its
minter can read; lineage redacts upstream runs the caller may not read.

Each test fails on the code before #10: bob's crate naming alice's private image and dataset was
admitted (201), a DOI minted on it pinned alice's content (her tags could no longer move), and
bob's lineage showed alice's command, parameters and agent.
"""

from __future__ import annotations

import re

from sciregistry.provenance import Parameter

from .support import SETTLE, Input, World, dataset, error, image, publish, push_crate, result, wait_for

ZERO = "sha256:" + "0" * 64


def test_crate_naming_someone_elses_private_image_and_dataset_is_refused(world: World) -> None:
    alice, bob = world.as_("alice"), world.as_("bob")
    img = image(alice, "alice/pipeline", "v1", "private image")
    ds, ds_files = dataset(alice, "alice/reads", "v1", "private reads")
    res, outs = result(bob, "bob/results", "r1", "bob's result")
    r = push_crate(
        bob,
        world.host,
        "bob/results",
        res,
        outs,
        image_repo="alice/pipeline",
        image_digest=img.digest,
        inputs=[Input("reads", "alice/reads", ds.digest, ds_files)],
    )
    assert r.status_code == 400, r
    assert error(r)["code"] == "MANIFEST_INVALID"
    problems = error(r)["detail"]["problems"]
    assert f"image alice/pipeline@{img.digest} is not in this registry" in problems
    assert f"input 'reads': alice/reads@{ds.digest} is not in this registry" in problems
    # nothing was indexed: bob's result has no run, and alice's dataset no downstream run for alice
    assert bob.get(f"/api/v1/lineage/bob/results@{res.digest}").get_json()["produced_by"] is None
    assert alice.get(f"/api/v1/impact/alice/reads@{ds.digest}").get_json()["total_runs"] == 0
    # the owner herself may name her content
    own, own_outs = result(alice, "alice/results", "r1", "alice's result")
    r = push_crate(
        alice,
        world.host,
        "alice/results",
        own,
        own_outs,
        image_repo="alice/pipeline",
        image_digest=img.digest,
        inputs=[Input("reads", "alice/reads", ds.digest, ds_files)],
    )
    assert r.status_code == 201, r


def _shape(resp: object, *digests: str) -> tuple[int, str, str, list[str]]:
    err = error(resp)  # type: ignore[arg-type]
    problems = list(err.get("detail", {}).get("problems", []))
    text = "\n".join(problems)
    for d in digests:
        text = text.replace(d, "<digest>")
    return resp.status_code, err.get("code"), err.get("message"), text.split("\n")  # type: ignore[attr-defined]


def test_refusal_is_no_existence_oracle(world: World) -> None:
    """ "Exists but not yours" and "does not exist" get the same status, code, message and problems."""
    alice, bob = world.as_("alice"), world.as_("bob")
    img = image(alice, "alice/oracle-tools", "v1", "oracle image")
    ds, ds_files = dataset(alice, "alice/oracle-reads", "v1", "oracle reads")
    res, outs = result(bob, "bob/oracle", "r1", "bob's oracle result")
    existing = push_crate(
        bob,
        world.host,
        "bob/oracle",
        res,
        outs,
        image_repo="alice/oracle-tools",
        image_digest=img.digest,
        inputs=[Input("reads", "alice/oracle-reads", ds.digest)],
    )
    missing = push_crate(
        bob,
        world.host,
        "bob/oracle",
        res,
        outs,
        image_repo="alice/oracle-tools",
        image_digest=ZERO,
        inputs=[Input("reads", "alice/oracle-reads", ZERO)],
    )
    assert existing.status_code == 400, existing
    assert _shape(existing, img.digest, ds.digest) == _shape(missing, ZERO)
    # a repository that does not exist at all answers the same again
    nowhere = push_crate(
        bob,
        world.host,
        "bob/oracle",
        res,
        outs,
        image_repo="ghost/oracle-tools",
        image_digest=ZERO,
        inputs=[Input("reads", "ghost/oracle-reads", ZERO)],
    )
    assert _shape(nowhere, ZERO)[:3] == _shape(missing, ZERO)[:3]  # the words differ only by the names
    assert [p.replace("ghost/", "alice/") for p in _shape(nowhere, ZERO)[3]] == _shape(missing, ZERO)[3]
    # the dataset's files are checked only for content the pusher can read
    with_files = push_crate(
        bob,
        world.host,
        "bob/oracle",
        res,
        outs,
        image_repo="alice/oracle-tools",
        image_digest=img.digest,
        inputs=[Input("reads", "alice/oracle-reads", ds.digest, ds_files)],
    )
    assert _shape(with_files, img.digest, ds.digest) == _shape(existing, img.digest, ds.digest)


def test_public_content_may_be_named_by_anyone(world: World) -> None:
    alice, bob = world.as_("alice"), world.as_("bob")
    img = image(alice, "alice/open-tools", "v1", "open image")
    world.accounts.set_repository_visibility("alice/open-tools", True)
    res, outs = result(bob, "bob/uses-open", "r1", "uses open image")
    assert wait_for(
        lambda: bob.head(f"/v2/alice/open-tools/manifests/{img.digest}").status_code == 200, SETTLE
    )
    r = push_crate(
        bob,
        world.host,
        "bob/uses-open",
        res,
        outs,
        image_repo="alice/open-tools",
        image_digest=img.digest,
        inputs=[],
    )
    assert r.status_code == 201, r


def test_doi_pins_only_what_the_minter_can_read(world: World) -> None:
    """Bob's crate was admitted while alice's image and dataset were public; she then made them
    private. Minting on bob's result must not pin them (nor hand them to his reviewers): refused,
    in the words a missing reference gets, and alice's tags stay hers to move."""
    alice, bob = world.as_("alice"), world.as_("bob")
    img = image(alice, "alice/shared-tools", "v1", "shared image")
    ds, ds_files = dataset(alice, "alice/shared-reads", "v1", "shared reads")
    for repo in ("alice/shared-tools", "alice/shared-reads"):
        world.accounts.set_repository_visibility(repo, True)
    assert wait_for(
        lambda: bob.head(f"/v2/alice/shared-reads/manifests/{ds.digest}").status_code == 200, SETTLE
    )
    res, outs = result(bob, "bob/shared-use", "r1", "derived from alice's shared data")
    r = push_crate(
        bob,
        world.host,
        "bob/shared-use",
        res,
        outs,
        image_repo="alice/shared-tools",
        image_digest=img.digest,
        inputs=[Input("reads", "alice/shared-reads", ds.digest, ds_files)],
    )
    assert r.status_code == 201, r
    for repo in ("alice/shared-tools", "alice/shared-reads"):
        world.accounts.set_repository_visibility(repo, False)
    assert wait_for(
        lambda: bob.head(f"/v2/alice/shared-reads/manifests/{ds.digest}").status_code == 404, SETTLE
    )

    r = bob.post(
        "/api/v1/dois",
        json={"reference": f"bob/shared-use@{res.digest}", "creators": [{"name": "Bob Builder"}]},
    )
    assert r.status_code == 404, r
    assert error(r)["code"] == "NOT_FOUND"
    assert re.fullmatch(
        r"image alice/shared-tools@sha256:[0-9a-f]{64} is missing from the registry: "
        r"cannot pin it",
        error(r)["message"],
    )
    assert bob.get("/api/v1/dois?repository=bob/shared-use").get_json()["items"] == []
    # alice may still move and delete her tags: nothing of hers is pinned by bob
    moved = image(alice, "alice/shared-tools", "v1", "shared image, rebuilt")
    assert moved.digest != img.digest
    assert alice.delete("/v2/alice/shared-reads/manifests/v1").status_code == 202


def test_lineage_redacts_upstream_runs_the_caller_cannot_read(world: World) -> None:
    alice, bob = world.as_("alice"), world.as_("bob")
    up = publish(
        alice,
        world.host,
        "alice/up",
        "alice's upstream",
        command="secret-tool --k {k} --token {tok}",
        parameters=[Parameter("k", 7), Parameter("tok", "hunter2")],
        agent="Alice Upstream",
    )
    for suffix in ("tools", "reads", "results"):
        world.accounts.set_repository_visibility(f"alice/up-{suffix}", True)
    assert wait_for(
        lambda: bob.head(f"/v2/alice/up-results/manifests/{up.result.digest}").status_code == 200, SETTLE
    )
    down = publish(
        bob,
        world.host,
        "bob/down",
        "bob's downstream",
        inputs=[Input("counts", "alice/up-results", up.result.digest, up.outputs)],
    )
    node = bob.get(f"/api/v1/lineage/bob/down-results@{down.result.digest}").get_json()
    assert node["inputs"][0]["produced_by"]["command"] == "secret-tool --k {k} --token {tok}"  # public: shown

    world.accounts.set_repository_visibility("alice/up-results", False)
    assert wait_for(
        lambda: bob.head(f"/v2/alice/up-results/manifests/{up.result.digest}").status_code == 404, SETTLE
    )
    r = bob.get(f"/api/v1/lineage/bob/down-results@{down.result.digest}")
    assert r.status_code == 200, r
    node = r.get_json()
    assert node["produced_by"]["command"] == "count --k {k} /in/reads /out"  # bob's own run: in full
    upstream = node["inputs"][0]
    assert upstream["redacted"] is True
    assert upstream["subject"]["digest"] == up.result.digest
    assert upstream["produced_by"] == {"redacted": True, "result_digest": up.result.digest}
    assert upstream["inputs"] == []
    text = r.get_data(as_text=True)
    for secret in ("secret-tool", "hunter2", "Alice Upstream", up.image.digest, up.dataset.digest):
        assert secret not in text
    from sciregistry.provenance import validate

    assert validate("api/lineage.json", node) == []  # the published schema allows the redacted node
    # and bob's private result stays hidden from alice
    assert alice.get(f"/api/v1/lineage/bob/down-results@{down.result.digest}").status_code == 404


def test_landing_page_and_closure_list_only_what_the_caller_may_read(world: World) -> None:
    """Bob's public DOI was minted while alice's dataset was public; she then made it private. Its
    landing page and closure no longer list her files, sizes and digests to those who cannot read
    them; bob's reviewer still reaches what the DOI pins, and alice still sees her own."""
    alice, bob, anon = world.as_("alice"), world.as_("bob"), world.as_(None)
    img = image(alice, "alice/pub-tools", "v1", "published image")
    ds, ds_files = dataset(alice, "alice/pub-reads", "v1", "published reads")
    for repo in ("alice/pub-tools", "alice/pub-reads"):
        world.accounts.set_repository_visibility(repo, True)
    assert wait_for(lambda: bob.head(f"/v2/alice/pub-reads/manifests/{ds.digest}").status_code == 200, SETTLE)
    res, outs = result(bob, "bob/pub-results", "r1", "bob's published result")
    r = push_crate(
        bob,
        world.host,
        "bob/pub-results",
        res,
        outs,
        image_repo="alice/pub-tools",
        image_digest=img.digest,
        inputs=[Input("reads", "alice/pub-reads", ds.digest, ds_files)],
    )
    assert r.status_code == 201, r
    r = bob.post("/api/v1/dois", json={"reference": f"bob/pub-results@{res.digest}"})
    assert r.status_code == 201, r
    doi = r.get_json()["doi"]
    world.accounts.set_repository_visibility("bob/pub-results", True)
    world.accounts.set_repository_visibility("alice/pub-reads", False)
    assert wait_for(
        lambda: (
            anon.get(f"/doi/{doi}").status_code == 200
            and bob.head(f"/v2/alice/pub-reads/manifests/{ds.digest}").status_code == 404
        ),
        SETTLE,
    )

    hidden = {ds.digest, ds_files[0].digest}
    for who in (anon, bob):
        page = who.get(f"/doi/{doi}", headers={"Accept": "text/html"}).get_data(as_text=True)
        assert "reads.fq" not in page and ds_files[0].sha256 not in page
        assert "not readable with your credentials" in page
        pins = who.get(f"/api/v1/dois/{doi}/closure").get_json()["pins"]
        assert pins and not any(p["repository"] == "alice/pub-reads" for p in pins)
        assert {p["digest"] for p in pins}.isdisjoint(hidden)
    # the owner and the DOI's reviewer see everything it pins
    from .support import Http

    reviewer = Http(world.url, world.accounts.create_token(reviewer_doi=doi, expires_in=3600).secret)
    for who in (alice, reviewer):
        pins = who.get(f"/api/v1/dois/{doi}/closure").get_json()["pins"]
        assert hidden <= {p["digest"] for p in pins if p["repository"] == "alice/pub-reads"}
        assert "reads.fq" in who.get(f"/doi/{doi}", headers={"Accept": "text/html"}).get_data(as_text=True)
