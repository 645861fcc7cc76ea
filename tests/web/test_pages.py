"""Pages and search obey the same authorization as /v2 and /api/v1: a private repository looks
like a missing one to whoever cannot read it, in pages, search results, counts and graphs."""

from __future__ import annotations

import re

from .conftest import csrf
from .world import PASSWORDS, World


def text(resp) -> str:  # type: ignore[no-untyped-def]
    return resp.get_data(as_text=True)


def test_anonymous_sees_only_public_repositories(world: World) -> None:
    anon = world.client()
    home = text(anon.get("/"))
    # counts: pub/results, pub/tools, pub/data, pub/out (4 repositories) in 1 namespace; 2 runs, 1 DOI
    assert re.findall(r'<span class="n">(\d+)</span>', home) == ["1", "4", "1", "2", "1"], home
    assert "Hidden counts" not in home and "Open window counts" in home
    assert 'href="/repositories/lab"' not in text(anon.get("/repositories"))
    assert 'href="/repositories/lab"' in text(world.client("alice").get("/repositories"))
    # a private repository, its manifests, files and runs answer exactly as missing ones do
    missing = anon.get("/r/lab/nothing-here")
    hidden = anon.get("/r/lab/pipeline")
    assert missing.status_code == hidden.status_code == 404
    assert text(missing).replace("lab/nothing-here", "X") == text(hidden).replace("lab/pipeline", "X")
    d = world.private.dataset.digest
    assert anon.get(f"/r/lab/reads/-/manifest/{d}").status_code == 404
    assert anon.get(f"/r/lab/reads/-/file/{d}/0").status_code == 404
    assert anon.get(f"/runs/{world.run_id(world.private)}").status_code == 404
    assert anon.get("/runs/999999").status_code == 404
    assert anon.get("/repositories/lab").status_code == 404
    runs = text(anon.get("/runs"))
    assert "count reads v1" not in runs and "count reads v3" in runs
    assert "Hidden counts" not in text(anon.get("/doi/"))


def test_search_hides_private_content(world: World) -> None:
    anon, alice, bob, root = world.client(), world.client("alice"), world.client("bob"), world.client("root")
    for q in (
        "secret_threshold",
        "lab",
        "Hidden counts",
        world.private.dataset.digest[:20],
        world.private.image.digest[7:19],
    ):
        for client in (anon, bob):
            page = text(client.get("/search", query_string={"q": q}))
            hits = page[page.index("</form>", page.index("<main")) :]
            assert 'href="/r/lab/' not in hits and world.private_doi not in hits, (q, hits)
            assert "Nothing found" in hits, (q, hits)
            api = client.get("/api/v1/search", query_string={"q": q}).get_json()
            assert all((h["repository"] or "").split("/")[0] != "lab" for h in api["items"]), (q, api)
        for client in (alice, root):
            api = client.get("/api/v1/search", query_string={"q": q}).get_json()
            assert any((h["repository"] or "").startswith("lab/") for h in api["items"]), (q, api)


def test_search_ranks_and_finds_every_kind(world: World) -> None:
    alice = world.client("alice")

    def kinds(q: str, **extra: str) -> list[tuple[str, str]]:
        body = alice.get("/api/v1/search", query_string={"q": q, **extra}).get_json()
        return [(h["kind"], h["title"]) for h in body["items"]]

    assert ("run", "count reads v3") in kinds("window_size")  # a parameter name
    assert kinds("window_size 17", kind="run") == [("run", "count reads v3")]  # name and value
    assert ("run", "count reads v3") in kinds("Lovelace")  # the agent
    assert kinds("Open window", kind="doi") == [("doi", "Open window counts")]  # a DOI title
    assert ("doi", "Open window counts") in kinds("lovelace", kind="doi")  # its creators
    assert ("repository", "pub/tools") in kinds("tools")
    assert ("tag", "pub/data:reads-v3") in kinds("reads-v3")  # a tag, typed with its hyphen
    assert any(k == "dataset" for k, _ in kinds("r1.fq"))  # a dataset's file name
    hexprefix = world.public.image.digest[7:15]
    hits = alice.get("/api/v1/search", query_string={"q": hexprefix}).get_json()["items"]
    assert hits[0]["kind"] == "manifest" and hits[0]["digest"] == world.public.image.digest
    # ranking: the repository named "tools" ranks above entries that only mention it in their body
    order = kinds("tools")
    assert order[0] == ("repository", "pub/tools"), order
    # pagination
    first = alice.get("/api/v1/search", query_string={"q": "count", "per_page": 2}).get_json()
    second = alice.get("/api/v1/search", query_string={"q": "count", "per_page": 2, "page": 2}).get_json()
    assert first["has_next"] and len(first["items"]) == 2
    assert not {(h["kind"], h["ref"]) for h in first["items"]} & {
        (h["kind"], h["ref"]) for h in second["items"]
    }
    # bad input: a JSON error, never a 500
    for qs in (
        {"q": "x" * 300},
        {"q": "a", "kind": "nope"},
        {"q": "a", "page": "0"},
        {"q": "a", "per_page": "500"},
    ):
        resp = alice.get("/api/v1/search", query_string=qs)
        assert resp.status_code == 400 and resp.get_json()["errors"][0]["message"], qs
    assert (
        alice.get("/api/v1/search", query_string={"q": '"*) OR (:'}).status_code == 200
    )  # FTS syntax is inert


def test_index_follows_tag_moves_and_deletes(world: World) -> None:
    alice = world.client("alice")
    found = lambda q: [
        h["title"] for h in alice.get("/api/v1/search", query_string={"q": q}).get_json()["items"]
    ]
    assert "pub/tools:img-v3" in found("img-v3")
    # move the tag onto another manifest that already exists (no new manifest: on_tag_set alone)
    manifest = world.mixed.result.content
    resp = alice.put(
        "/v2/pub/results/manifests/renamed-tag",
        data=manifest,
        headers={"Content-Type": world.mixed.result.media_type},
    )
    assert resp.status_code == 201
    assert "pub/results:renamed-tag" in found("renamed-tag")
    assert alice.delete("/v2/pub/results/manifests/renamed-tag").status_code == 202
    assert "pub/results:renamed-tag" not in found("renamed-tag")
    assert "pub/tools:img-v3" in found("img-v3")
    # deleting a dataset by digest removes its entry (and its tags')
    digest = world.mixed.dataset.digest
    kinds = lambda: {
        (h["kind"], h["digest"])
        for h in alice.get("/api/v1/search", query_string={"q": "lab reads", "per_page": 100}).get_json()[
            "items"
        ]
    }
    assert ("dataset", digest) in kinds() and ("tag", digest) in kinds()
    assert alice.delete(f"/v2/lab/reads/manifests/{digest}").status_code == 202
    assert ("dataset", digest) not in kinds() and ("tag", digest) not in kinds()


def test_provenance_graph_redacts_what_the_reader_cannot_see(world: World) -> None:
    run_id = world.run_id(world.mixed)  # public result made from a private image and dataset
    anon = text(world.client().get(f"/runs/{run_id}"))
    graph = anon[anon.index("<svg") : anon.index("</svg>")]
    assert "not visible to you" in graph
    assert (
        "lab/" not in anon and world.mixed.image.digest not in anon and world.mixed.dataset.digest not in anon
    )
    assert "lab/" not in text(world.client().get("/runs"))
    assert "lab/" not in graph and "pipeline" not in graph and world.mixed.image.digest not in graph
    assert 'href="/r/pub/results/-/manifest/' in graph
    own = text(world.client("alice").get(f"/runs/{run_id}"))
    graph = own[own.index("<svg") : own.index("</svg>")]
    assert "not visible to you" not in graph
    assert f'href="/r/lab/pipeline/-/manifest/{world.mixed.image.digest}"' in graph
    assert f'href="/r/lab/reads/-/manifest/{world.mixed.dataset.digest}"' in graph


def test_public_run_page_graph_links_every_node(world: World) -> None:
    run_id = world.run_id(world.public)
    page = text(world.client().get(f"/runs/{run_id}"))
    graph = page[page.index("<svg") : page.index("</svg>")]
    hrefs = re.findall(r'<a class="node" href="([^"]+)"', graph)
    assert f"/r/pub/tools/-/manifest/{world.public.image.digest}" in hrefs
    assert f"/r/pub/data/-/manifest/{world.public.dataset.digest}" in hrefs
    assert f"/r/pub/out/-/manifest/{world.public.result.digest}" in hrefs
    assert f"/doi/{world.public_doi}" in hrefs
    assert f"/runs/{run_id}" in hrefs
    assert graph.count('class="node"') == len(hrefs)  # no node without a link
    assert "window_size" in page


def test_doi_and_run_pages_link_both_ways(world: World) -> None:
    c = world.client()
    run_id = world.run_id(world.public)
    landing = text(c.get(f"/doi/{world.public_doi}"))
    assert f'href="/runs/{run_id}"' in landing
    assert f'href="/r/pub/out/-/manifest/{world.public.result.digest}"' in landing
    assert f'href="/doi/{world.public_doi}"' in text(c.get(f"/runs/{run_id}"))
    assert f'href="/doi/{world.public_doi}"' in text(
        c.get(f"/r/pub/out/-/manifest/{world.public.result.digest}")
    )
    assert f'href="/doi/{world.public_doi}"' in text(c.get("/doi/"))


def test_sign_in_needs_csrf_and_the_right_password(world: World) -> None:
    c = world.client()
    token = csrf(c, "/login")
    assert c.post("/login", data={"username": "alice", "password": PASSWORDS["alice"]}).status_code == 403
    assert (
        c.post("/login", data={"username": "alice", "password": "wrong", "csrf_token": token}).status_code
        == 401
    )
    resp = c.post("/login", data={"username": "alice", "password": PASSWORDS["alice"], "csrf_token": token})
    assert resp.status_code == 303
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "lab/pipeline" in text(c.get("/repositories/lab"))
    # the session does not authorize the API (no CSRF defence there): only pages and landing pages
    assert c.get("/api/v1/search", query_string={"q": "secret_threshold"}).get_json()["items"] == []
    assert c.get("/v2/lab/pipeline/tags/list").status_code == 401
    # signing out revokes the session's token
    tid = re.search(
        r"<code>([0-9a-z]+)</code> <span class=\"badge\">this session", text(c.get("/account"))
    ).group(1)
    assert c.post("/logout", data={"csrf_token": csrf(c)}).status_code == 303
    tokens = {t.id: t for t in world.app.extensions["sciregistry"].accounts.list_tokens(include_revoked=True)}
    assert tokens[tid].revoked_at is not None
    assert c.get("/repositories/lab").status_code == 404


def test_secure_cookie_behind_tls(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sciregistry.app import create_app

    app = create_app(
        {
            "data_dir": str(tmp_path / "d"),
            "auth_enabled": True,
            "testing": True,
            "base_url": "https://registry.example.org",
        }
    )
    try:
        app.extensions["sciregistry"].accounts.create_user("alice", PASSWORDS["alice"])
        c = app.test_client()
        page = c.get("/login", base_url="https://registry.example.org").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        resp = c.post(
            "/login",
            data={"username": "alice", "password": PASSWORDS["alice"], "csrf_token": token},
            base_url="https://registry.example.org",
        )
        assert resp.status_code == 303 and "Secure" in resp.headers["Set-Cookie"]
    finally:
        app.extensions["sciregistry"].engine.dispose()


def test_tokens_page_creates_and_revokes(world: World) -> None:
    c = world.client()
    c.post(
        "/login", data={"username": "alice", "password": PASSWORDS["alice"], "csrf_token": csrf(c, "/login")}
    )
    resp = c.post(
        "/account/tokens", data={"description": "laptop", "days": "7", "csrf_token": csrf(c, "/account")}
    )
    assert resp.status_code == 303
    page = text(c.get("/account"))
    secret = re.search(r'id="new-secret" class="digest">(sr_[^<]+)<', page).group(1)
    assert text(c.get("/account")).count(secret) == 0  # shown once
    api = world.app.test_client()
    assert (
        api.get("/v2/lab/pipeline/tags/list", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 200
    )
    tid = secret.split("_")[1]
    assert c.post(f"/account/tokens/{tid}/revoke", data={}).status_code == 403  # no CSRF token
    assert (
        c.post(f"/account/tokens/{tid}/revoke", data={"csrf_token": csrf(c, "/account")}).status_code == 303
    )
    assert (
        api.get("/v2/lab/pipeline/tags/list", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 401
    )
    # bob cannot revoke alice's tokens
    b = world.client()
    b.post("/login", data={"username": "bob", "password": PASSWORDS["bob"], "csrf_token": csrf(b, "/login")})
    other = world.app.extensions["sciregistry"].accounts.create_token(user="alice", expires_in=600)
    assert (
        b.post(
            f"/account/tokens/{other.info.id}/revoke", data={"csrf_token": csrf(b, "/account")}
        ).status_code
        == 404
    )


def test_private_doi_reviewer_form(world: World) -> None:
    anon = world.client()
    resp = anon.get(f"/doi/{world.private_doi}")
    assert resp.status_code == 401
    challenges = resp.headers.getlist("WWW-Authenticate")
    assert challenges[0].startswith("Basic ") and any(c.startswith("Bearer ") for c in challenges)
    assert 'name="token"' in text(resp)
    reviewer = world.app.extensions["sciregistry"].accounts.create_token(
        reviewer_doi=world.private_doi, expires_in=3600
    )
    token = csrf(anon, "/login")
    bad = anon.post(
        "/reviewer", data={"doi": world.private_doi, "token": "sr_nope_nope", "csrf_token": token}
    )
    assert bad.status_code == 403
    ok = anon.post(
        "/reviewer", data={"doi": world.private_doi, "token": reviewer.secret, "csrf_token": token}
    )
    assert ok.status_code == 303 and ok.headers["Location"].endswith(f"/doi/{world.private_doi}")
    page = anon.get(f"/doi/{world.private_doi}")
    assert page.status_code == 200 and "Hidden counts of the private lab" in text(page)
    # the reviewer token opens that DOI's page only, not the private repository's pages
    assert anon.get("/r/lab/pipeline").status_code == 404


def test_admin_pages_need_an_administrator(world: World) -> None:
    b = world.client()
    b.post("/login", data={"username": "bob", "password": PASSWORDS["bob"], "csrf_token": csrf(b, "/login")})
    assert b.get("/admin").status_code == 403
    assert (
        b.post("/admin", data={"action": "create_user", "name": "eve", "csrf_token": csrf(b)}).status_code
        == 403
    )
    r = world.client()
    r.post(
        "/login", data={"username": "root", "password": PASSWORDS["root"], "csrf_token": csrf(r, "/login")}
    )
    assert r.get("/admin").status_code == 200
    token = csrf(r, "/admin")
    assert (
        r.post(
            "/admin",
            data={"action": "create_user", "name": "eve", "password": "eve-password-1", "csrf_token": token},
        ).status_code
        == 303
    )
    assert (
        r.post(
            "/admin",
            data={
                "action": "grant",
                "namespace": "lab",
                "user": "eve",
                "role": "reader",
                "csrf_token": token,
            },
        ).status_code
        == 303
    )
    e = world.client("eve", "eve-password-1")
    assert e.get("/r/lab/pipeline").status_code == 200
    assert r.post("/admin", data={"action": "nonsense", "csrf_token": token}).status_code == 400
    assert "eve" in text(r.get("/admin"))


def test_dataset_file_downloads_under_its_name(world: World) -> None:
    d = world.public.dataset
    resp = world.client().get(f"/r/pub/data/-/file/{d.digest}/1")
    assert resp.status_code == 200
    assert resp.headers["Content-Disposition"] == "attachment; filename=\"r2.fq\"; filename*=UTF-8''r2.fq"
    assert resp.get_data() == world.public.dataset_files[1].data
    assert world.client().get(f"/r/pub/data/-/file/{d.digest}/9").status_code == 404
    assert world.client().get("/r/pub/data/-/file/sha256:nothex/0").status_code == 404


def test_bad_input_gets_an_html_error_not_a_500(world: World) -> None:
    c = world.client()
    for url in (
        "/r/pub/tools?page=abc",
        "/r/pub/tools?sort=size",
        "/runs?image=nonsense",
        "/runs?from=yesterday",
        "/search?q=" + "y" * 400,
        "/r/UPPER/case",
        "/repositories/pub?page=0",
        "/datasets?page=-1",
        "/datasets?page=%C2%B2",  # "²": str.isdigit() says yes, int() says no
        "/datasets?page=" + "9" * 40,
    ):
        resp = c.get(url)
        assert resp.status_code in (400, 404), (url, resp.status_code)
        assert resp.mimetype == "text/html"


def test_rebuild_writes_what_the_hooks_wrote(world: World) -> None:
    """The migration's backfill (rebuild) and the push/delete hooks agree, entry for entry."""
    from sqlalchemy import select

    from sciregistry.db.models import SearchEntry
    from sciregistry.registry.search import rebuild

    sessions = world.app.extensions["sciregistry"].sessions
    cols = (
        SearchEntry.kind,
        SearchEntry.key,
        SearchEntry.namespace,
        SearchEntry.repository,
        SearchEntry.title,
        SearchEntry.body,
        SearchEntry.ref,
        SearchEntry.digest,
    )
    with sessions() as s:
        before = sorted(s.execute(select(*cols)).all())
    with sessions() as s, s.begin():
        rebuild(s)
    with sessions() as s:
        after = sorted(s.execute(select(*cols)).all())
    assert before == after and len(after) > 20
    assert world.client("alice").get("/api/v1/search", query_string={"q": "window_size"}).get_json()["items"]
