"""#10 cross-tenant provenance, continued, against a live gunicorn: concept DOIs of private results,
impact totals, bearer JWTs after a role or visibility change, reviewer tokens of a withdrawn DOI.

Each test fails on the code before #10: an anonymous caller read a private concept DOI (200, with
titles, creators and references) and saw it listed; impact counted private runs for anyone;
a JWT kept its access for token_ttl (15 minutes) after the role or the visibility behind it was
gone; a reviewer token kept reading after its DOI was withdrawn.
"""

from __future__ import annotations

import jwt
import requests

from .support import SETTLE, Http, World, error, publish, wait_for


def _mint(client: Http, reference: str, **body: object) -> dict[str, object]:
    r = client.post(
        "/api/v1/dois", json={"reference": reference, "creators": [{"name": "Alice Author"}], **body}
    )
    assert r.status_code == 201, r
    return r.get_json()  # type: ignore[no-any-return]


def test_concept_doi_of_private_results_is_private(world: World) -> None:
    alice, bob, anon = world.as_("alice"), world.as_("bob"), world.as_(None)
    v1_pub = publish(alice, world.host, "alice/paper", "first version", agent="Alice Author")
    v1 = _mint(alice, f"alice/paper-results@{v1_pub.result.digest}", title="Secret study v1")
    from .support import push_crate, result

    res2, outs2 = result(alice, "alice/paper-results", "v2", "second version")
    r = push_crate(
        alice,
        world.host,
        "alice/paper-results",
        res2,
        outs2,
        image_repo="alice/paper-tools",
        image_digest=v1_pub.image.digest,
        inputs=[],
        agent="Alice Author",
    )
    assert r.status_code == 201, r
    v2 = _mint(alice, f"alice/paper-results@{res2.digest}", title="Secret study v2", supersedes=v1["doi"])
    concept = v2["concept_doi"]
    assert concept

    # the owner sees the concept DOI and both versions
    r = alice.get(f"/api/v1/dois/{concept}")
    assert r.status_code == 200, r
    assert r.get_json()["versions"] == [v1["doi"], v2["doi"]]
    assert concept in {d["doi"] for d in alice.get("/api/v1/dois").get_json()["items"]}

    # anonymous: like any private DOI (sign in), and not listed
    r = anon.get(f"/api/v1/dois/{concept}")
    assert r.status_code == 401, r
    assert "Secret study" not in r.get_data(as_text=True)
    listed = {d["doi"] for d in anon.get("/api/v1/dois").get_json()["items"]}
    assert listed.isdisjoint({concept, v1["doi"], v2["doi"]})
    # another user: not found, not listed
    r = bob.get(f"/api/v1/dois/{concept}")
    assert (r.status_code, error(r)["code"]) == (404, "NOT_FOUND")
    assert "alice/paper" not in r.get_data(as_text=True)
    assert all(d["doi"] != concept for d in bob.get("/api/v1/dois").get_json()["items"])

    # a reviewer of v1 sees the concept with v1 only
    reviewer = Http(world.url, world.accounts.create_token(reviewer_doi=v1["doi"], expires_in=3600).secret)
    r = reviewer.get(f"/api/v1/dois/{concept}")
    assert r.status_code == 200, r
    doc = r.get_json()
    assert doc["versions"] == [v1["doi"]] and doc["latest"] == v1["doi"]
    related = doc["metadata"].get("relatedIdentifiers", [])
    assert v2["doi"] not in {
        str(x.get("relatedIdentifier")).lower() for x in related if x.get("relationType") == "HasVersion"
    }


def test_impact_counts_only_what_the_caller_may_read(world: World) -> None:
    alice, anon, bob = world.as_("alice"), world.as_(None), world.as_("bob")
    pub = publish(alice, world.host, "alice/impact", "impact", agent="Alice Author")
    for who in (anon, bob):
        r = who.get(f"/api/v1/impact/{pub.dataset.digest}")
        assert r.status_code == 200, r
        doc = r.get_json()
        assert (doc["total_runs"], doc["total_results"], doc["runs"], doc["results"]) == (0, 0, [], []), doc
        assert doc == who.get(f"/api/v1/impact/{'sha256:' + '1' * 64}").get_json() | {
            "subject": doc["subject"]
        }
    doc = alice.get(f"/api/v1/impact/{pub.dataset.digest}").get_json()
    assert (doc["total_runs"], doc["total_results"], len(doc["runs"])) == (1, 1, 1)


def _jwt(world: World, who: str, scope: str) -> str:
    r = requests.get(
        f"{world.url}/token",
        params={"service": "sciregistry", "scope": scope},
        auth=(who, world.tokens[who]) if who else None,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def test_bearer_jwt_loses_a_revoked_role_within_seconds(world: World) -> None:
    world.accounts.create_namespace("team", "alice")
    world.accounts.grant("team", "bob", "writer")
    tokens: list[str] = []

    def granted() -> bool:  # the server sees the new role within its cache time
        tokens.append(_jwt(world, "bob", "repository:team/data:pull,push"))
        claims = jwt.decode(tokens[-1], options={"verify_signature": False})
        return any("push" in a["actions"] for a in claims["access"])

    assert wait_for(granted, SETTLE)
    bob_jwt = Http(world.url, tokens[-1])
    data = b"bob's blob"
    import hashlib

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = bob_jwt.post(f"/v2/team/data/blobs/uploads/?digest={digest}", data=data)
    assert r.status_code == 201, r

    world.accounts.revoke("team", "bob")
    other = b"after the role was revoked"
    other_digest = "sha256:" + hashlib.sha256(other).hexdigest()
    assert wait_for(
        lambda: (
            bob_jwt.post(f"/v2/team/data/blobs/uploads/?digest={other_digest}", data=other).status_code
            in (401, 403)
        ),
        SETTLE,
    )
    # and every worker agrees (a few requests land on each)
    codes = {bob_jwt.head(f"/v2/team/data/blobs/{digest}").status_code for _ in range(8)}
    assert codes <= {401, 404}, codes


def test_anonymous_jwt_loses_a_repository_made_private_within_seconds(world: World) -> None:
    alice = world.as_("alice")
    pub = publish(alice, world.host, "alice/flip", "flip", agent="Alice Author")
    world.accounts.set_repository_visibility("alice/flip-results", True)
    path = f"/v2/alice/flip-results/manifests/{pub.result.digest}"
    clients: list[Http] = []

    def public_everywhere() -> bool:  # every worker sees it public, and issues a JWT granting pull
        clients.append(Http(world.url, _jwt(world, "", "repository:alice/flip-results:pull")))
        return all(clients[-1].head(path).status_code == 200 for _ in range(6))

    assert wait_for(public_everywhere, SETTLE)
    anon_jwt = clients[-1]

    world.accounts.set_repository_visibility("alice/flip-results", False)
    assert wait_for(lambda: all(anon_jwt.head(path).status_code in (401, 404) for _ in range(6)), SETTLE)


def test_reviewer_token_stops_when_its_doi_is_withdrawn(world: World) -> None:
    alice, admin = world.as_("alice"), world.as_("admin")
    pub = publish(alice, world.host, "alice/withdrawn", "to be withdrawn", agent="Alice Author")
    doi = _mint(alice, f"alice/withdrawn-results@{pub.result.digest}")["doi"]
    secret = world.accounts.create_token(reviewer_doi=doi, expires_in=3600).secret
    reviewer = Http(world.url, secret)
    blob = f"/v2/alice/withdrawn-reads/blobs/{pub.dataset_files[0].digest}"
    assert reviewer.get(blob).status_code == 200
    jwt_reviewer = Http(world.url, _jwt_with(world, secret, "repository:alice/withdrawn-reads:pull"))
    assert jwt_reviewer.get(blob).status_code == 200

    r = admin.post(f"/api/v1/dois/{doi}/tombstone", json={"reason": "data were withdrawn"})
    assert r.status_code == 200, r
    for client in (reviewer, jwt_reviewer):
        assert wait_for(lambda c=client: all(c.get(blob).status_code == 401 for _ in range(6)), SETTLE)
    r = reviewer.get(f"/api/v1/dois/{doi}/closure")
    assert r.status_code == 401 and "withdrawn" in error(r)["message"]


def _jwt_with(world: World, secret: str, scope: str) -> str:
    r = requests.get(
        f"{world.url}/token",
        params={"service": "sciregistry", "scope": scope},
        auth=("reviewer", secret),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["token"])
