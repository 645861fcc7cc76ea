"""The web pages. Every view reads through registry use cases and the caller's Reader (access.py);
a repository the caller cannot read answers exactly like a missing one (404 "not found")."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Response, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wsgi import wrap_file

from sciregistry.api.landing.routes import render_command
from sciregistry.api.web import bp
from sciregistry.api.web.access import (
    auth_enabled,
    check_csrf,
    csrf_token,
    reader,
    services,
    signed_in_user,
)
from sciregistry.api.web.graph import Graph, Node
from sciregistry.errors import BadRequest, Denied, NotFound, RegistryError, TooManyRequests, Unauthorized
from sciregistry.oci import is_digest
from sciregistry.oci.reference import NAME_RE
from sciregistry.registry.browse import BrowseQueries, kind_of

PER_PAGE = 50


def browse() -> BrowseQueries:
    b: BrowseQueries = services().browse
    return b


def registry_host() -> str:
    cfg = services().config
    if cfg.registry_host:
        return str(cfg.registry_host)
    if cfg.base_url:
        return urlsplit(cfg.base_url).netloc
    return request.host


def _page_arg(name: str = "page", hi: int = 100_000) -> int:
    raw = request.args.get(name, "1")
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses (a 500)
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not 1 <= int(raw) <= hi:
        raise BadRequest(f"{name} must be a number between 1 and {hi}")
    return int(raw)


def require_readable(repository: str) -> None:
    """404 for a repository the caller may not read, exactly as for one that does not exist."""
    if len(repository) > 255 or not NAME_RE.fullmatch(repository) or not reader().can_read(repository):
        raise NotFound(f"repository {repository[:255]} not found")


def _digest(value: str) -> str:
    if not is_digest(value):
        raise NotFound(f"{value[:100]} is not a digest")
    return value


@bp.app_template_filter("size")
def human_size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


@bp.app_template_filter("when")
def when(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@bp.app_template_filter("short")
def short_digest(d: str | None, n: int = 12) -> str:
    if not d:
        return ""
    alg, _, hexpart = d.partition(":")
    return f"{alg}:{hexpart[:n]}" if hexpart else d[:n]


@bp.app_context_processor
def _context() -> dict[str, Any]:
    return {
        "csrf_token": csrf_token,
        "signed_in": signed_in_user,
        "auth_enabled": auth_enabled,
        "is_admin": _is_admin,
        "repo_url": repo_url,
        "manifest_url": manifest_url,
        "can_read": lambda repository: reader().can_read(repository),
    }


def _is_admin() -> bool:
    user = signed_in_user()
    if not user:
        return False
    try:
        return bool(services().accounts.is_admin(user))
    except RegistryError:
        return False


def repo_url(repository: str) -> str:
    return url_for("web.repository", repository=repository)


def manifest_url(repository: str, digest: str) -> str:
    return url_for("web.manifest", repository=repository, digest=digest)


# --- home and search ------------------------------------------------------------------------------


@bp.get("/")
def home() -> str:
    view = browse().home(reader())
    mine: dict[str, str] = {}
    user = signed_in_user()
    if user:
        try:
            mine = services().accounts.get_user(user).namespaces
        except RegistryError:
            mine = {}
        mine = {user: "owner", **mine}
    return render_template("web/home.html", view=view, mine=mine)


@bp.get("/search")
def search() -> str:
    q = request.args.get("q", "")
    kind = request.args.get("kind") or None
    result = services().search.search(q, reader=reader(), kind=kind, page=_page_arg(hi=1000), per_page=20)
    return render_template(
        "web/search.html",
        result=result,
        q=q,
        kind=kind,
        kinds=[
            ("repository", "repositories"),
            ("tag", "tags"),
            ("dataset", "datasets"),
            ("result", "results"),
            ("run", "runs"),
            ("doi", "DOIs"),
            ("manifest", "digests"),
        ],
    )


def hit_url(hit: Any) -> str:
    if hit.kind == "repository":
        return repo_url(hit.repository)
    if hit.kind == "run":
        return url_for("web.run", run_id=int(hit.ref))
    if hit.kind == "doi":
        return f"/doi/{hit.ref}"
    if hit.digest:
        return manifest_url(hit.repository, hit.digest)
    return repo_url(hit.repository)


bp.add_app_template_global(hit_url, "hit_url")


# --- repositories ----------------------------------------------------------------------------------


@bp.get("/repositories")
def namespaces() -> str:
    return render_template("web/namespaces.html", namespaces=browse().namespaces(reader()))


@bp.get("/repositories/<namespace>")
def namespace(namespace: str) -> str:
    page = _page_arg()
    rows, more = browse().repositories(reader(), namespace, page=page)
    if not rows and page == 1:
        raise NotFound(f"namespace {namespace[:100]} not found")
    return render_template("web/namespace.html", namespace=namespace, rows=rows, page=page, more=more)


@bp.get("/r/<path:repository>")
def repository(repository: str) -> str:
    require_readable(repository)
    sort = request.args.get("sort", "date")
    try:
        tags = browse().tags(repository, page=_page_arg(), per_page=PER_PAGE, sort=sort)
    except RegistryError as exc:
        if exc.http_status == 404:
            raise NotFound(f"repository {repository} not found") from exc
        raise
    return render_template(
        "web/repository.html", repository=repository, tags=tags, host=registry_host(), kind_of=kind_of
    )


@bp.get("/r/<path:repository>/-/manifest/<digest>")
def manifest(repository: str, digest: str) -> str:
    require_readable(repository)
    view = browse().manifest(repository, _digest(digest))
    svc = services()
    run = None
    if view.kind == "result":
        run = svc.runs.for_result(repository, view.digest)
    elif view.kind == "crate":
        run = _run_for_crate(view)
    used_by = None
    if view.kind in ("image", "index", "dataset", "result"):
        used_by = _impact(view.digest)
    dois = list(svc.dois.for_results([(repository, view.digest)])) if view.kind == "result" else []
    host = registry_host()
    ref = f"{host}/{repository}@{view.digest}"
    pulls = (
        [("docker", f"docker pull {ref}"), ("podman", f"podman pull {ref}")]
        if view.kind in ("image", "index")
        else []
    )
    pulls.append(("oras", f"oras pull {ref}"))
    return render_template(
        "web/manifest.html", m=view, run=run, used_by=used_by, dois=dois, pulls=pulls, ref=ref
    )


def _run_for_crate(view: Any) -> dict[str, Any] | None:
    if not view.subject:
        return None
    run = services().runs.for_result(view.repository, view.subject)
    return run if run and run["crate_digest"] == view.digest else None  # an older crate of the result


def _impact(digest: str, limit: int = 20) -> dict[str, Any]:
    """Runs, results and DOIs downstream of ``digest`` that the caller may see."""
    r = reader()
    found = services().runs.impact(digest, limit=limit)
    runs = [x for x in found["runs"] if r.can_read(x["repository"])]
    results = [(repo, d) for repo, d in found["results"] if r.can_read(repo)]
    dois = services().dois.for_results(results) if results else []
    return {"runs": runs, "results": results, "dois": dois, "more": found["next"] is not None}


@bp.get("/r/<path:repository>/-/file/<digest>/<int(max=100000):index>")
def download(repository: str, digest: str, index: int) -> Response:
    """A dataset or result file under its own name, streamed from the blob store."""
    require_readable(repository)
    layer = browse().layer(repository, _digest(digest), index)
    name = (layer.title or layer.digest.replace(":", "-")).rsplit("/", 1)[-1]
    f = services().registry.open_blob(layer.digest)
    resp = Response(
        wrap_file(request.environ, f, 1 << 20), mimetype="application/octet-stream", direct_passthrough=True
    )
    resp.headers["Content-Length"] = str(layer.size)
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "file"
    from urllib.parse import quote

    resp.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    )
    resp.headers["Docker-Content-Digest"] = layer.digest
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


# --- datasets, DOIs ------------------------------------------------------------------------------


@bp.get("/datasets")
def datasets() -> str:
    page = _page_arg()
    rows, more = browse().entries(reader(), "dataset", page=page, per_page=PER_PAGE)
    return render_template("web/datasets.html", rows=rows, page=page, more=more)


@bp.get("/doi/")
def dois() -> str:
    page = _page_arg()
    rows, more = browse().entries(reader(), "doi", page=page, per_page=PER_PAGE)
    return render_template("web/dois.html", rows=rows, page=page, more=more)


# --- runs ---------------------------------------------------------------------------------------


def _ref_digest(raw: str | None, what: str) -> str | None:
    """A digest from ``digest``, ``repo@digest`` or ``repo:tag`` (resolved) typed into a filter."""
    raw = (raw or "").strip()
    if not raw:
        return None
    if is_digest(raw):
        return raw
    if "@" in raw:
        repo, _, d = raw.rpartition("@")
        if is_digest(d):
            return d
    repo, sep, tag = raw.rpartition(":")
    if sep and "/" not in tag and NAME_RE.fullmatch(repo) and reader().can_read(repo):
        try:
            return str(services().registry.get_manifest(repo, tag).digest)
        except RegistryError:
            pass
    raise BadRequest(f"{what}: give a digest, repository@digest or repository:tag (got {raw[:100]!r})")


def _date_arg(name: str) -> datetime | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be a date (YYYY-MM-DD)") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@bp.get("/runs")
def runs() -> str:
    args = request.args
    r = reader()
    visible = None
    if not r.everything:
        visible = [n for n in services().accounts.repository_names() if r.can_read(n)]
    after = args.get("after", "")
    items, cursor = services().runs.search(
        image=_ref_digest(args.get("image"), "image"),
        dataset=_ref_digest(args.get("dataset"), "dataset"),
        parameter=args.get("parameter") or None,
        value=(args.get("value") or None) if args.get("parameter") else None,
        agent=args.get("agent") or None,
        started_after=_date_arg("from"),
        started_before=_date_arg("to"),
        limit=PER_PAGE,
        after=int(after) if after.isdigit() and len(after) < 19 else None,
        visible=visible,
    )
    nxt = None
    if cursor is not None:
        nxt = request.path + "?" + urlencode({**args.to_dict(), "after": str(cursor)})
    return render_template("web/runs.html", items=items, next_url=nxt, args=args)


@bp.get("/runs/<int(max=9223372036854775807):run_id>")
def run(run_id: int) -> str:
    svc = services()
    try:
        view = svc.runs.get(run_id)
    except RegistryError as exc:
        raise NotFound(f"run {run_id} not found") from exc
    require_readable(view["repository"])
    dois = svc.dois.for_results([(view["repository"], view["result_digest"])])
    graph = provenance_graph(view, dois)
    return render_template(
        "web/run.html",
        run=view,
        dois=dois,
        graph=graph.svg(f"Provenance of run {run_id}"),
        command=render_command(view["command"], view["parameters"]),
        host=registry_host(),
        inputs_view=_inputs(view),
    )


def _inputs(view: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for i in view["inputs"]:
        readable = reader().can_read(i["repository"])
        out.append({**i, "readable": readable})
    return out


def provenance_graph(view: dict[str, Any], dois: list[dict[str, Any]], depth: int = 2) -> Graph:
    """image (and index) -> run -> result -> DOIs; datasets -> run; upstream runs that made the
    inputs, recursively; runs that used the result. Whatever the caller cannot read is one grey
    "not visible to you" node, with no name, no link and nothing behind it."""
    r = reader()
    g = Graph()
    svc = services()

    def artifact(repo: str, digest: str, kind: str) -> str:
        nid = f"{repo}@{digest}"
        if not r.can_read(repo):
            nid = f"hidden:{digest}"
            g.add(Node(nid, "hidden", "hidden"))
            return nid
        g.add(Node(nid, kind, repo.rsplit("/", 1)[-1], manifest_url(repo, digest), f"{repo}@{digest[:19]}"))
        return nid

    def add_run(v: dict[str, Any], level: int, current: bool = False) -> str:
        rid = f"run:{v['id']}"
        if rid in g.nodes:
            return rid
        g.add(
            Node(
                rid,
                "run",
                v["name"] or f"run {v['id']}",
                url_for("web.run", run_id=v["id"]),
                f"run {v['id']}",
                current=current,
            )
        )
        res = artifact(v["repository"], v["result_digest"], "result")
        steps = v.get("steps") or []
        if (
            len(steps) > 1
        ):  # a workflow run: run -> step 1 -> ... -> step n -> result, each step's image into it
            prev = rid
            for st in steps:
                sid = f"{rid}:step:{st['position']}"
                g.add(
                    Node(
                        sid,
                        "step",
                        st.get("name") or f"step {st['position'] + 1}",
                        url_for("web.run", run_id=v["id"]) + f"#step-{st['position']}",
                    )
                )
                g.link(prev, sid)
                simg = st.get("image") or {}
                if simg.get("repository") and simg.get("digest"):
                    g.link(artifact(simg["repository"], simg["digest"], "image"), sid)
                prev = sid
            g.link(prev, res)
        else:
            img = v["image"]
            img_id = artifact(img["repository"], img["digest"], "image")
            if img.get("index_digest"):
                idx = artifact(img["repository"], img["index_digest"], "index")
                g.link(idx, img_id)
            g.link(img_id, rid)
            g.link(rid, res)
        for inp in v["inputs"]:
            nid = f"{inp['repository']}@{inp['digest']}"
            if not r.can_read(inp["repository"]):
                g.link(artifact(inp["repository"], inp["digest"], "dataset"), rid)
                continue
            upstream = svc.runs.for_result(inp["repository"], inp["digest"]) if level < depth else None
            if upstream and r.can_read(upstream["repository"]):
                add_run(upstream, level + 1)
                nid = f"{inp['repository']}@{inp['digest']}"
                g.link(nid, rid)
            else:
                g.link(artifact(inp["repository"], inp["digest"], "dataset"), rid)
        return rid

    current = add_run(view, 0, current=True)
    res = f"{view['repository']}@{view['result_digest']}"
    for d in dois:
        did = f"doi:{d['doi']}"
        g.add(Node(did, "doi", d["doi"], f"/doi/{d['doi']}", d.get("state", "")))
        g.link(res, did)
    down, _ = svc.runs.search(dataset=view["result_digest"], limit=6)  # runs that took the result as input
    for v in down:
        if v["id"] != view["id"] and r.can_read(v["repository"]):
            rid = f"run:{v['id']}"
            g.add(
                Node(
                    rid,
                    "run",
                    v["name"] or f"run {v['id']}",
                    url_for("web.run", run_id=v["id"]),
                    f"run {v['id']}",
                )
            )
            g.link(res, rid)
    del current
    return g


# --- signing in and out -------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("web.home")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if not auth_enabled():
        return render_template(
            "web/login.html",
            error="Authentication is switched off on this registry: "
            "every page is open, there is nothing to sign in to.",
            disabled=True,
        ), 200
    error = None
    status = 200
    if request.method == "POST":
        check_csrf()
        username = request.form.get("username", "").strip()[:64]
        password = request.form.get("password", "")
        gate = services().gate
        try:
            principal = gate.authenticate_password(username, password)
            created = services().accounts.create_token(
                user=principal.name,
                expires_in=12 * 3600,
                description="web session",
                created_by=principal.name,
            )
        except TooManyRequests as exc:
            error, status = exc.text, 429
        except (Unauthorized, RegistryError):
            error, status = "Wrong user name or password.", 401
        else:
            session.clear()
            session.permanent = True
            session["user"] = principal.name
            session["token"] = created.secret
            session["token_id"] = created.info.id
            csrf_token()
            gate.record(action="web.login", target=f"user:{principal.name}", principal=principal.name)
            return redirect(_safe_next(request.form.get("next")), 303)
    return render_template(
        "web/login.html", error=error, next=request.args.get("next", ""), disabled=False
    ), status


@bp.post("/logout")
def logout() -> Any:
    check_csrf()
    tid = session.get("token_id")
    if tid:
        try:
            services().accounts.revoke_token(tid)
        except RegistryError:
            pass
    session.clear()
    return redirect(url_for("web.home"), 303)


@bp.post("/reviewer")
def reviewer() -> Any:
    """A reviewer token typed into a private DOI's form: kept in the session for that DOI's page."""
    check_csrf()
    doi = request.form.get("doi", "").strip().lower()[:255]
    token = request.form.get("token", "").strip()[:200]
    ok = False
    if auth_enabled() and doi and token:
        try:
            p = services().gate.authenticate_token(token)
            ok = p.kind == "reviewer" and p.doi == doi
        except RegistryError:
            ok = False
    if not ok:
        return render_template(
            "web/reviewer.html",
            doi=doi,
            error="That token does not open this DOI "
            "(check it for typing errors, or ask the authors for a new one).",
        ), 403
    rev = dict(session.get("reviewer") or {})
    rev[doi] = token
    session["reviewer"] = rev
    return redirect(f"/doi/{doi}", 303)


# --- tokens -----------------------------------------------------------------------------------


def _require_user() -> str:
    user = signed_in_user()
    if not user:
        raise Unauthorized("sign in first")
    return user


@bp.get("/account")
def account() -> Any:
    user = _require_user()
    accounts = services().accounts
    tokens = list(accounts.list_tokens(user=user))
    my_dois = [
        d
        for d in services().dois.list_records(limit=500)
        if d.repository
        and d.repository.split("/", 1)[0] in accounts.get_user(user).namespaces | {user: "owner"}
    ]
    reviewer_tokens = [
        t for t in accounts.list_tokens() if t.kind == "reviewer" and t.doi in {d.doi for d in my_dois}
    ]
    return render_template(
        "web/account.html",
        user=user,
        tokens=tokens,
        dois=my_dois,
        reviewer_tokens=reviewer_tokens,
        created=session.pop("created", None),
        current=session.get("token_id"),
    )


@bp.post("/account/tokens")
def create_token() -> Any:
    check_csrf()
    user = _require_user()
    days = request.form.get("days", "90").strip()
    if not days.isdigit() or not 1 <= int(days) <= 3650:
        raise BadRequest("expiry must be between 1 and 3650 days")
    scope = request.form.get("scope", "").strip()
    created = services().accounts.create_token(
        user=user,
        expires_in=int(days) * 86400,
        description=request.form.get("description", "").strip()[:255],
        scopes=scope.split() if scope else None,
        created_by=user,
    )
    services().gate.record(action="token.create", target=f"token:{created.info.id}", principal=user)
    session["created"] = {"kind": "API token", "secret": created.secret, "id": created.info.id}
    return redirect(url_for("web.account"), 303)


@bp.post("/account/reviewer-tokens")
def create_reviewer_token() -> Any:
    check_csrf()
    user = _require_user()
    doi = request.form.get("doi", "").strip().lower()
    record = services().dois.get(doi)
    if not record.repository or not services().gate.held(services().gate.principal(), record.repository) & {
        "push"
    }:
        raise Denied("you may create reviewer tokens only for DOIs of repositories you can push to")
    days = request.form.get("days", "30").strip()
    if not days.isdigit() or not 1 <= int(days) <= 365:
        raise BadRequest("expiry must be between 1 and 365 days")
    created = services().accounts.create_token(
        reviewer_doi=doi,
        expires_in=int(days) * 86400,
        description=request.form.get("description", "").strip()[:255],
        created_by=user,
    )
    services().gate.record(
        action="token.create", target=f"token:{created.info.id}", principal=user, detail={"reviewer_doi": doi}
    )
    session["created"] = {
        "kind": f"reviewer token for {doi}",
        "secret": created.secret,
        "id": created.info.id,
    }
    return redirect(url_for("web.account"), 303)


@bp.post("/account/tokens/<token_id>/revoke")
def revoke_token(token_id: str) -> Any:
    check_csrf()
    user = _require_user()
    accounts = services().accounts
    mine = {t.id for t in accounts.list_tokens(user=user)}
    if token_id not in mine:
        reviewer = {t.id: t.doi for t in accounts.list_tokens() if t.kind == "reviewer"}
        doi = reviewer.get(token_id)
        rec = services().dois.get(doi) if doi else None
        if (
            rec is None
            or not rec.repository
            or not services().gate.held(services().gate.principal(), rec.repository) & {"push"}
        ):
            raise NotFound("no such token")
    accounts.revoke_token(token_id)
    services().gate.record(action="token.revoke", target=f"token:{token_id}", principal=user)
    if token_id == session.get("token_id"):
        session.clear()
        return redirect(url_for("web.home"), 303)
    return redirect(url_for("web.account"), 303)


# --- administration -------------------------------------------------------------------------------


def _require_admin() -> str:
    user = _require_user()
    services().gate.require_admin()
    return user


@bp.get("/admin")
def admin() -> str:
    _require_admin()
    accounts = services().accounts
    return render_template(
        "web/admin.html",
        users=accounts.list_users(),
        namespaces=accounts.list_namespaces(),
        robots=accounts.list_robots(),
        created=session.pop("created", None),
        roles=["reader", "writer", "maintainer", "owner"],
    )


_ADMIN_ACTIONS = (
    "create_user",
    "disable_user",
    "enable_user",
    "create_namespace",
    "grant",
    "revoke",
    "visibility",
    "create_robot",
    "robot_token",
)


@bp.post("/admin")
def admin_action() -> Any:
    check_csrf()
    user = _require_admin()
    accounts = services().accounts
    f = request.form
    action = f.get("action", "")
    if action not in _ADMIN_ACTIONS:
        raise BadRequest(f"unknown action {action[:40]!r}")
    if action == "create_user":
        accounts.create_user(
            f.get("name", "").strip(), f.get("password") or None, admin=f.get("admin") == "on"
        )
        target = f"user:{f.get('name')}"
    elif action in ("disable_user", "enable_user"):
        accounts.set_disabled(f.get("name", ""), action == "disable_user")
        target = f"user:{f.get('name')}"
    elif action == "create_namespace":
        accounts.create_namespace(
            f.get("name", "").strip(), f.get("owner") or None, public=f.get("public") == "on"
        )
        target = f"namespace:{f.get('name')}"
    elif action == "grant":
        accounts.grant(f.get("namespace", ""), f.get("user", "").strip(), f.get("role", "reader"))
        target = f"namespace:{f.get('namespace')}"
    elif action == "revoke":
        accounts.revoke(f.get("namespace", ""), f.get("user", ""))
        target = f"namespace:{f.get('namespace')}"
    elif action == "visibility":
        accounts.set_namespace_visibility(f.get("namespace", ""), f.get("public") == "on")
        target = f"namespace:{f.get('namespace')}"
    elif action == "create_robot":
        accounts.create_robot(f.get("namespace", ""), f.get("name", "").strip(), f.get("role", "writer"))
        target = f"robot:{f.get('namespace')}+{f.get('name')}"
    else:
        created = accounts.create_token(
            robot=f.get("robot", ""),
            expires_in=90 * 86400,
            description="created on the admin page",
            created_by=user,
        )
        session["created"] = {
            "kind": f"token for robot {f.get('robot')}",
            "secret": created.secret,
            "id": created.info.id,
        }
        target = f"token:{created.info.id}"
    services().gate.record(action=f"admin.{action}", target=target[:300], principal=user)
    return redirect(url_for("web.admin"), 303)


# --- small things ----------------------------------------------------------------------------------


@bp.get("/favicon.ico")
def favicon() -> Response:
    return redirect(url_for("web.static", filename="favicon.svg"), 301)  # type: ignore[return-value]


@bp.errorhandler(RegistryError)
def _error(err: RegistryError) -> Response:
    status = err.http_status
    if status == 404 or err.code in ("NAME_UNKNOWN", "MANIFEST_UNKNOWN", "BLOB_UNKNOWN"):
        status = 404
    resp = Response(
        render_template("web/error.html", status=status, message=err.text, login=status == 401),
        status=status,
        mimetype="text/html",
    )
    if status == 429:
        resp.headers.update(err.headers)
    return resp


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return Response(
        render_template(
            "web/error.html", status=exc.code or 500, message=exc.description or exc.name, login=False
        ),
        status=exc.code or 500,
        mimetype="text/html",
    )


@bp.app_template_filter("merge_page")
def merge_page(args: Any, page: int) -> str:
    """The query string of ``args`` with ``page`` replaced (for the pagination links)."""
    items = [(k, v) for k, v in args.items(multi=True) if k != "page"] if hasattr(args, "items") else []
    return urlencode([*items, ("page", str(page))])


def page_json(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False)


bp.add_app_template_filter(page_json, "pretty")
