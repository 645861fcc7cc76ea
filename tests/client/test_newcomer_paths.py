"""Issue 16: what a newcomer tripped over, each path run as they run it: the ``sciregistry``
command through its entry point (the virtualenv's ``bin/sciregistry``, in a subprocess, with the
credentials of the environment or of ``sciregistry login``).

The registry has authentication on and is served by a werkzeug thread on 127.0.0.1:<free port>;
alice records a run of a tiny image and mints a (local, test) DOI for it. Other items are covered
where their code is tested: notebooks in ``tests/notebooks``, the demo in ``tests/docs/test_demo.py``,
the reproduce command line in ``tests/reproduce``, the CI templates in ``tests/workflows``, the
landing page's pins in ``tests/landing/test_landing.py``.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import socket
import stat
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from cli_commands import extract_invocations, root_conftest

from sciregistry.client import Registry

from .conftest import push_tiny_image, write_tree

EXE = str(Path(sys.executable).with_name("sciregistry"))
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "alice-paths-pass"


@dataclass
class Site:
    url: str
    host: str
    data_dir: Path
    app: Any
    doi: str
    result_digest: str
    tmp: Path

    def env(self, **extra: str) -> dict[str, str]:
        """A user's shell: alice's credentials in the environment, config home of its own."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCIREGISTRY_")}
        env.update(
            SCIREGISTRY_CONFIG_HOME=str(self.tmp / "cfg"),
            SCIREGISTRY_USERNAME="alice",
            SCIREGISTRY_PASSWORD=PASSWORD,
            SCIREGISTRY_STORAGE_FSYNC="false",
            **extra,
        )
        return env

    def anonymous_env(self) -> dict[str, str]:
        env = self.env()
        del env["SCIREGISTRY_USERNAME"], env["SCIREGISTRY_PASSWORD"]
        env["SCIREGISTRY_CONFIG_HOME"] = str(self.tmp / "cfg-anonymous")
        return env


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from werkzeug.serving import make_server

    from sciregistry.app import create_app

    tmp = tmp_path_factory.mktemp("paths")
    data_dir = tmp / "data"
    app = create_app(
        {"data_dir": str(data_dir), "auth_enabled": True, "storage_fsync": False, "testing": True}
    )
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, name="paths-registry", daemon=True)
    thread.start()
    url, host = f"http://127.0.0.1:{srv.server_port}", f"127.0.0.1:{srv.server_port}"
    try:
        accounts = app.extensions["sciregistry"].accounts
        accounts.create_user("alice", PASSWORD)
        accounts.create_user("bob", "bob-paths-pass")
        with Registry(
            url, username="alice", password=PASSWORD, use_stored_credentials=False, progress=False
        ) as reg:
            image = push_tiny_image(reg, "alice/pipeline", "1.0", marker="paths")
            write_tree(tmp / "in", {"reads.fa": b">r\nGCGC\n"})
            data = reg.push_dataset(f"{host}/alice/reads:v1", [tmp / "in"])
            write_tree(tmp / "out", {"gc.tsv": b"r\t1.0\n"})
            rec = reg.record_run(
                f"{host}/alice/pipeline@{image}",
                {"reads": f"{host}/alice/reads@{data}"},
                {"k": 3},
                "gc.sh --k {k} /in/reads /out",
                [tmp / "out" / "gc.tsv"],
                f"{host}/alice/results:r1",
                agent="Alice Example",
            )
            doi = reg.transport.request(
                "POST",
                "/api/v1/dois",
                json={
                    "reference": f"alice/results@{rec.result_digest}",
                    "title": "Counts",
                    "creators": [{"given_name": "Alice", "family_name": "Example"}],
                },
            ).json()["doi"]
        accounts.set_namespace_visibility("alice", True)  # a reader needs nothing but the DOI
        yield Site(url, host, data_dir, app, doi, rec.result_digest, tmp)
    finally:
        srv.shutdown()
        thread.join(timeout=10)
        app.extensions["sciregistry"].engine.dispose()


def cli(
    *args: str, env: dict[str, str], cwd: Path | None = None, input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *args],
        env=env,
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def on_a_terminal(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run ``sciregistry ARGS`` with standard error on a pseudo-terminal (as in a user's shell);
    (exit status, what the terminal showed)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal has a size
    proc = subprocess.Popen(
        [EXE, *args],
        env={**env, "COLUMNS": "100"},
        stdout=subprocess.DEVNULL,
        stderr=slave,
        stdin=subprocess.DEVNULL,
    )
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            shown += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=30), shown.decode(errors="replace")


# --- 1. progress bars on a terminal, --quiet ---------------------------------------------------------------


def test_push_and_pull_show_progress_on_a_terminal_and_quiet_silences_them(site: Site) -> None:
    big = site.tmp / "big"
    big.mkdir(exist_ok=True)
    (big / "reads.bin").write_bytes(os.urandom(6 * 1024 * 1024))
    status, shown = on_a_terminal(["dataset", "push", f"{site.host}/alice/big:v1", str(big)], site.env())
    assert status == 0, shown
    assert re.search(r"push alice/big.*100%.*6\.00M", shown), shown
    status, shown = on_a_terminal(
        ["pull", f"{site.host}/alice/big:v1", str(site.tmp / "big-pulled")], site.env()
    )
    assert status == 0, shown
    assert re.search(r"pull alice/big.*100%", shown), shown
    status, shown = on_a_terminal(
        ["pull", f"{site.host}/alice/big:v1", str(site.tmp / "big-quiet"), "--quiet"], site.env()
    )
    assert status == 0 and "%" not in shown, shown
    # a small transfer shows no bar
    status, shown = on_a_terminal(
        ["pull", f"{site.host}/alice/reads:v1", str(site.tmp / "small")], site.env()
    )
    assert status == 0 and "%" not in shown, shown


# --- 2. every reference the registry prints works in the next command ----------------------------------


def test_doi_show_prints_references_that_run_show_takes(site: Site) -> None:
    shown = cli("doi", "show", site.doi, "--registry", site.url, env=site.env())
    assert shown.returncode == 0, shown.stderr
    result = re.search(r"^Result:\s+(\S+)$", shown.stdout, re.MULTILINE)
    assert result and result.group(1) == f"{site.host}/alice/results@{site.result_digest}"
    run = cli("run", "show", result.group(1), env=site.env())
    assert run.returncode == 0, run.stderr
    assert f"  result   {site.host}/alice/results@{site.result_digest}" in run.stdout
    # every reference run show prints is full, and works again
    image = re.search(r"^  image    (\S+)", run.stdout, re.MULTILINE)
    assert image and image.group(1).startswith(f"{site.host}/alice/pipeline@sha256:")
    assert cli("lineage", image.group(1), env=site.env()).returncode == 0
    # a registry-relative reference, with --registry
    relative = cli(
        "run", "show", f"alice/results@{site.result_digest}", "--registry", site.url, env=site.env()
    )
    assert relative.returncode == 0 and relative.stdout == run.stdout, relative.stderr
    bare = cli("run", "show", f"alice/results@{site.result_digest}", env=site.env())
    assert bare.returncode == 1 and "or add --registry URL" in bare.stderr


def test_a_run_recorded_without_times_says_not_recorded(site: Site) -> None:
    """No --started/--ended: the registry records no times (never the time of recording in their place)."""
    ref = f"{site.host}/alice/results@{site.result_digest}"
    shown = cli("run", "show", ref, env=site.env())
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"^  time\s+not recorded$", shown.stdout, re.MULTILINE), shown.stdout
    as_json = cli("run", "show", ref, "--json", env=site.env())
    doc = json.loads(as_json.stdout)
    assert doc["started"] is None and doc["ended"] is None
    with Registry(
        site.url, username="alice", password=PASSWORD, use_stored_credentials=False, progress=False
    ) as reg:
        reg.pull(f"{site.host}/alice/results@{doc['crate_digest']}", site.tmp / "crate")
    crate = json.loads((site.tmp / "crate" / "ro-crate-metadata.json").read_text())
    action = next(e for e in crate["@graph"] if e.get("@type") == "CreateAction")
    assert "startTime" not in action and "endTime" not in action
    root = next(e for e in crate["@graph"] if e.get("@id") == "./")
    assert root["datePublished"]  # when it was recorded
    landing = requests.get(f"{site.url}/doi/{site.doi}", headers={"Accept": "text/html"}, timeout=10).text
    assert "<dt>Started</dt><dd>not recorded</dd>" in landing


def test_the_landing_page_url_works_wherever_a_doi_does(site: Site) -> None:
    landing = f"{site.url}/doi/{site.doi}"
    shown = cli("doi", "show", landing, env=site.anonymous_env())  # no --registry: the URL names it
    assert shown.returncode == 0, shown.stderr
    assert f"DOI:          {site.doi} (findable)" in shown.stdout
    cited = cli("cite", landing, env=site.anonymous_env())
    assert cited.returncode == 0 and f"doi = {{{site.doi}}}" in cited.stdout, cited.stderr
    out = site.tmp / "reproduce-landing"
    rep = cli("reproduce", landing, "--runtime", "none", "--out", str(out), env=site.anonymous_env())
    assert rep.returncode == 3 and rep.stdout.startswith("NOT_RUN"), rep.stdout + rep.stderr
    assert json.loads((out / "report.json").read_text())["doi"] == site.doi
    bad = cli("reproduce", f"{site.url}/doi/not-a-doi", env=site.anonymous_env())
    assert bad.returncode == 2 and "landing page URL" in bad.stderr


# --- 3. a local DOI's links lead to the registry, not to doi.org ---------------------------------------


def test_local_doi_links_point_at_the_landing_page(site: Site) -> None:
    landing = f"{site.url}/doi/{site.doi}"
    bib = cli("cite", site.doi, "--registry", site.url, env=site.anonymous_env())
    assert f"url = {{{landing}}}" in bib.stdout and "doi.org" not in bib.stdout, bib.stdout
    head = requests.head(landing, timeout=30)
    assert f'<{landing}>; rel="cite-as"' in head.headers["Link"]
    out = site.tmp / "reproduce-md"
    cli(
        "reproduce",
        site.doi,
        "--registry",
        site.url,
        "--runtime",
        "none",
        "--out",
        str(out),
        env=site.anonymous_env(),
    )
    assert f"| DOI | [{site.doi}]({landing}) |" in (out / "report.md").read_text()


def test_datacite_dois_keep_their_doi_org_links() -> None:
    from sciregistry.api.landing.routes import is_local_doi
    from sciregistry.client.reproduce import Report
    from sciregistry.doi import DoiMetadata

    meta = DoiMetadata("10.1234/abcd-efgh", "T", [], "P", 2026, "https://r.example/doi/10.1234/abcd-efgh")
    assert meta.doi_url == "https://doi.org/10.1234/abcd-efgh"
    assert is_local_doi("10.1234/abcd-efgh", "datacite") is False
    assert is_local_doi("10.5072/abcd-efgh", "datacite") and is_local_doi("10.1234/abcd-efgh", "local")
    fields = dict.fromkeys(Report.__dataclass_fields__)
    report = Report(**{**fields, "doi": "10.1234/abcd-efgh", "registry": "https://r.example"})  # type: ignore[arg-type]
    assert report.doi_link == "https://doi.org/10.1234/abcd-efgh"


# --- 4. admin commands use the server's database, or refuse ---------------------------------------------


def test_admin_commands_refuse_a_database_the_server_does_not_use(tmp_path: Path) -> None:
    data = tmp_path / "var"
    other = tmp_path / "elsewhere.db"
    server_env = {"SCIREGISTRY_AUTH_ENABLED": "true", "SCIREGISTRY_DATABASE_URL": f"sqlite:///{other}"}
    server = root_conftest().start_server(data, env=server_env, workers=1)
    try:
        assert (data / "database-url").read_text().splitlines()[0] == f"sqlite:///{other}"
        assert any(
            f"database sqlite:///{other}; storage filesystem {data.resolve()}/storage" in line
            for line in server.log
        ), server.log[-20:]  # the server log says what it uses
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCIREGISTRY_")}
        forgot = cli(
            "user",
            "add",
            "carol",
            "--password-stdin",
            "--data-dir",
            str(data),
            env=env,
            input="carol-pass-123\n",
        )
        assert forgot.returncode == 1, forgot.stdout
        assert (
            f"keeps its data in sqlite:///{other}, but this command would use sqlite:///{data.resolve()}"
            f"/registry.db" in forgot.stderr
        )
        assert "created user" not in forgot.stdout and not (data / "registry.db").exists()
        same = cli(
            "user",
            "add",
            "carol",
            "--password-stdin",
            "--data-dir",
            str(data),
            input="carol-pass-123\n",
            env={**env, "SCIREGISTRY_DATABASE_URL": f"sqlite:///{other}"},
        )
        assert same.returncode == 0, same.stderr
        assert (
            same.stderr.strip().splitlines()[-1] == f"database: sqlite:///{other} (data dir {data.resolve()})"
        )
        login = cli(
            "login",
            server.host,
            "--username",
            "carol",
            "--password-stdin",
            input="carol-pass-123\n",
            env={**env, "SCIREGISTRY_CONFIG_HOME": str(tmp_path / "cfg")},
        )
        assert login.returncode == 0, login.stderr  # the user is where the server looks
    finally:
        server.stop()


def test_postgres_urls_are_accepted_as_aliases() -> None:
    from sciregistry.db.base import make_engine, normalize_database_url

    assert normalize_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    engine = make_engine("postgres://u@127.0.0.1:1/db")  # no connection is made here
    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()
    url = os.environ.get("SCIREGISTRY_TEST_POSTGRES_URL", "")
    if url.startswith("postgresql+psycopg://"):
        from sqlalchemy import text

        engine = make_engine("postgres://" + url.split("://", 1)[1])
        try:
            with engine.connect() as conn:
                assert conn.execute(text("select 1")).scalar() == 1
        finally:
            engine.dispose()


# --- 9. advice, not protocol details ---------------------------------------------------------------------


def test_a_typo_in_a_repository_name_says_what_is_missing(site: Site) -> None:
    typo = cli("run", "show", f"{site.host}/alice/resultz:r1", env=site.env())
    assert typo.returncode == 1
    assert f"there is no repository alice/resultz on {site.host}: check its name" in typo.stderr, typo.stderr
    assert "HTTP 404" not in typo.stderr
    tag = cli("run", "show", f"{site.host}/alice/results:r2", env=site.env())
    assert "alice/results has no tag 'r2': its tags are r1" in tag.stderr, tag.stderr
    anonymous = cli("run", "show", f"{site.host}/bob/resultz:r1", env=site.anonymous_env())
    assert anonymous.returncode == 1
    assert (
        "is not readable without credentials: either it does not exist (check the repository name), "
        "or it is private (log in first" in anonymous.stderr
    ), anonymous.stderr


def test_denied_push_names_the_namespaces_one_may_push_to(site: Site) -> None:
    data = write_tree(site.tmp / "denied", {"x.txt": b"x\n"})
    assert data
    denied = cli(
        "dataset", "push", f"{site.host}/bob/gc-content:v1", str(site.tmp / "denied"), env=site.env()
    )
    assert denied.returncode == 1
    assert (
        "alice may not push to bob/gc-content: you may push to alice/. To push to bob/, ask an owner of "
        "namespace bob (or an administrator) for the writer role" in denied.stderr
    ), denied.stderr


# --- 10. smaller ones --------------------------------------------------------------------------------------


def test_untagged_dataset_push_is_refused_unless_asked_for(site: Site) -> None:
    files = write_tree(site.tmp / "untagged", {"a.txt": b"a\n"})
    assert files
    refused = cli(
        "dataset", "push", f"{site.host}/alice/untagged", str(site.tmp / "untagged"), env=site.env()
    )
    assert refused.returncode == 2
    assert "has no tag" in refused.stderr and "gc --delete-untagged" in refused.stderr
    pushed = cli(
        "dataset",
        "push",
        f"{site.host}/alice/untagged",
        str(site.tmp / "untagged"),
        "--untagged",
        env=site.env(),
    )
    assert pushed.returncode == 0 and pushed.stdout.startswith("sha256:"), pushed.stderr


def test_pulled_files_get_the_umask_mode(site: Site) -> None:
    dest = site.tmp / "pulled-mode"
    proc = subprocess.run(
        ["sh", "-c", 'umask 022 && exec "$0" "$@"', EXE, "pull", f"{site.host}/alice/reads:v1", str(dest)],
        env=site.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE((dest / "reads.fa").stat().st_mode) == 0o644


def test_impact_lists_each_result_once(site: Site) -> None:
    with Registry(
        site.url, username="alice", password=PASSWORD, use_stored_credentials=False, progress=False
    ) as reg:
        data = reg.resolve_digest("alice/reads:v1")
    out = cli("impact", f"{site.host}/alice/reads@{data}", env=site.env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(site.result_digest) == 1, out.stdout
    assert f"  run 1: {site.host}/alice/results@{site.result_digest}" in out.stdout


def test_serve_on_a_busy_port_fails_at_once_and_creates_nothing(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCIREGISTRY_")}
        t0 = time.monotonic()
        proc = cli(
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "var"),
            env=env,
            timeout=60,
        )
        took = time.monotonic() - t0
    assert proc.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in proc.stderr and f"--port {port + 1}" in proc.stderr
    # not gunicorn's five bind retries a second apart (which log these lines); no timing under load
    assert "Retrying in 1 second" not in proc.stderr and "Connection in use" not in proc.stderr, proc.stderr
    assert took < 30, took
    assert not (tmp_path / "var" / "admin-password").exists()
    assert "password" not in proc.stdout + proc.stderr


def test_the_readme_pushes_only_the_reads() -> None:
    from sciregistry.client.artifacts import collect_files

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    invocations = [inv for inv in extract_invocations(text) if inv.argv[:2] == ("dataset", "push")]
    assert len(invocations) == 1
    paths = [a for a in invocations[0].argv[3:] if not a.startswith("-")]
    import glob

    expanded = [Path(p) for pattern in paths for p in sorted(glob.glob(str(ROOT / pattern)))]
    names = sorted(f.path.name for f in collect_files(expanded))
    assert names == ["sample_a.fa", "sample_b.fasta", "sample_c.fna"]


def test_make_run_prints_the_url_to_open() -> None:
    proc = subprocess.run(
        ["make", "-n", "run", "HOST=127.0.0.1", "PORT=5000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "open http://127.0.0.1:5000/" in proc.stdout
