"""What a newcomer meets on the command line: a closed pipe (``| head -n 1``), ``--token`` on every
client command, and error messages that say what to do next.

The registry here has authentication on (the default) and is served by a werkzeug thread on
127.0.0.1:<free port>: alice records a run and mints a DOI in her private namespace; a reviewer
token for that DOI is made with ``sciregistry token create --reviewer``. Nothing here talks to
any other host: doi.org is replaced by a closed local port or a monkeypatched ``requests``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import click
import pytest
import requests
from click.testing import CliRunner, Result

from sciregistry.cli import main
from sciregistry.cli.options import TOKEN_HELP
from sciregistry.client import Registry

from .conftest import push_tiny_image, write_tree

PASSWORD = "alice-newcomer-pass"
BOGUS_TOKEN = "sr_0123456789abcdef_" + "b" * 40 + "c" * 6
REFUSED = "the token was refused (invalid, expired or revoked)"


@dataclass
class Setup:
    url: str
    host: str
    data_dir: Path
    app: Any
    doi: str
    result_ref: str  # host/alice/results:r1
    reviewer_token: str
    token_create_stderr: str
    tmp: Path


def clean_env(config_home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIREGISTRY_")}
    env.update(SCIREGISTRY_CONFIG_HOME=str(config_home), SCIREGISTRY_STORAGE_FSYNC="false", **extra)
    return env


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    from werkzeug.serving import make_server

    from sciregistry.app import create_app

    tmp = tmp_path_factory.mktemp("newcomer")
    data_dir = tmp / "data"
    app = create_app(
        {"data_dir": str(data_dir), "auth_enabled": True, "storage_fsync": False, "testing": True}
    )
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, name="newcomer-registry", daemon=True)
    thread.start()
    url, host = f"http://127.0.0.1:{srv.server_port}", f"127.0.0.1:{srv.server_port}"
    try:
        app.extensions["sciregistry"].accounts.create_user("alice", PASSWORD)
        with Registry(
            url, username="alice", password=PASSWORD, use_stored_credentials=False, progress=False
        ) as reg:
            image = push_tiny_image(reg, "alice/pipeline", "1.0", marker="newcomer")
            write_tree(tmp / "in", {"reads.fa": b">r\nGCGC\n"})
            data = reg.push_dataset(f"{host}/alice/reads:v1", [tmp / "in"])
            write_tree(tmp / "out", {"gc.tsv": b"r\t1.0\n"})
            reg.record_run(
                f"{host}/alice/pipeline@{image}",
                {"reads": f"{host}/alice/reads@{data}"},
                {"k": 3},
                "gc.sh --k {k} /in/reads /out",
                [tmp / "out" / "gc.tsv"],
                f"{host}/alice/results:r1",
                agent="Alice Example",
            )
        minted = invoke(
            "doi",
            "mint",
            f"{host}/alice/results:r1",
            "--title",
            "Counts",
            "--username",
            "alice",
            "--password",
            PASSWORD,
            env={"SCIREGISTRY_CONFIG_HOME": str(tmp / "cfg")},
        )
        assert minted.exit_code == 0, minted.output
        doi = minted.stdout.splitlines()[0]
        created = invoke(
            "token",
            "create",
            "--reviewer",
            doi,
            "--expires",
            "14d",
            "--data-dir",
            str(data_dir),
            env={"SCIREGISTRY_STORAGE_FSYNC": "false"},
        )
        assert created.exit_code == 0, created.output
        yield Setup(
            url,
            host,
            data_dir,
            app,
            doi,
            f"{host}/alice/results:r1",
            created.stdout.strip(),
            created.stderr,
            tmp,
        )
    finally:
        srv.shutdown()
        thread.join(timeout=10)
        app.extensions["sciregistry"].engine.dispose()


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def closed_pipe_run(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run ``sciregistry ARGS`` with a standard output nobody reads (the read end is closed before
    the command writes anything, as when ``head -n 1`` has exited): (exit status, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sciregistry", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    try:
        err = proc.stderr.read().decode(errors="replace")
        return proc.wait(timeout=timeout), err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- 1. a closed pipe is not an error -------------------------------------------------------------


def test_closed_stdout_ends_quietly_with_the_normal_status(tmp_path: Path) -> None:
    status, err = closed_pipe_run(["logout", "127.0.0.1:9"], clean_env(tmp_path / "cfg"))
    assert err == ""  # not "error: [Errno 32] Broken pipe", not "Exception ignored ..."
    assert status == 0


def test_doi_mint_into_head_n_1(setup: Setup) -> None:
    with Registry(
        setup.url, username="alice", password=PASSWORD, use_stored_credentials=False, progress=False
    ) as reg:
        # outputs of its own, so the result (and its digest) is not one an earlier test minted
        out = write_tree(setup.tmp / "out-pipe", {"gc.tsv": b"piped\t4\n"})
        reg.record_run(
            f"{setup.host}/alice/pipeline@{reg.resolve_digest('alice/pipeline:1.0')}",
            {},
            {"k": 4},
            "gc.sh --k {k} /out",
            [setup.tmp / "out-pipe" / name for name in out],
            f"{setup.host}/alice/results:pipe",
            agent="Alice Example",
        )
    env = clean_env(setup.tmp / "cfg-pipe", SCIREGISTRY_USERNAME="alice", SCIREGISTRY_PASSWORD=PASSWORD)
    status, err = closed_pipe_run(
        ["doi", "mint", f"{setup.host}/alice/results:pipe", "--title", "Piped"], env
    )
    assert status == 0, err
    assert "error" not in err and "Broken pipe" not in err, err
    # and it was minted: minting it again is a conflict
    again = invoke(
        "doi", "mint", f"{setup.host}/alice/results:pipe", "--username", "alice", "--password", PASSWORD
    )
    assert again.exit_code == 1 and "CONFLICT" in again.stderr


def test_reproduce_into_a_closed_pipe_keeps_its_verdict_status(setup: Setup) -> None:
    env = clean_env(setup.tmp / "cfg-rep", SCIREGISTRY_TOKEN=setup.reviewer_token)
    status, err = closed_pipe_run(
        [
            "reproduce",
            setup.doi,
            "--registry",
            setup.url,
            "--runtime",
            "none",
            "--out",
            str(setup.tmp / "rep-closed"),
        ],
        env,
    )
    assert status == 3, err  # NOT_RUN, as with an open pipe
    assert "error" not in err, err


def test_cli_modules_print_through_the_pipe_safe_echo() -> None:
    cli_dir = Path(__file__).resolve().parents[2] / "sciregistry" / "cli"
    offenders = [
        f"{p.name}:{n}"
        for p in sorted(cli_dir.glob("*.py"))
        if p.name != "common.py"
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"\bclick\.echo\(|sys\.stdout\.write\(", line)
    ]
    assert offenders == []


# --- 2. --token everywhere ----------------------------------------------------------------------


def _commands(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name), cmd


def test_every_command_that_talks_to_a_registry_takes_the_same_token_option() -> None:
    talks = {
        path: cmd
        for path, cmd in _commands(main)
        if any(isinstance(p, click.Option) and "--insecure" in p.opts for p in cmd.params)
    }
    expected = {
        ("pull",),
        ("dataset", "push"),
        ("push-layout",),
        ("run", "record"),
        ("run", "show"),
        ("run", "list"),
        ("lineage",),
        ("impact",),
        ("doi", "mint"),
        ("doi", "show"),
        ("doi", "withdraw"),
        ("cite",),
        ("reproduce",),
        ("demo",),
    }
    assert expected <= set(talks)
    missing = []
    for path, cmd in talks.items():
        if path in {
            ("login",),
            ("logout",),
        }:  # login checks a password (or token) given to it; logout is local
            continue
        opt = next((p for p in cmd.params if isinstance(p, click.Option) and "--token" in p.opts), None)
        if opt is None or opt.name != "token" or opt.help != TOKEN_HELP:
            missing.append(" ".join(path))
    assert missing == []


def test_shared_options_are_the_same_everywhere() -> None:
    """--registry, --json and --insecure: one flag, one parameter name, one environment variable
    (sciregistry/cli/options.py), on every command that has them."""
    seen: dict[str, list[str]] = {"--registry": [], "--json": [], "--insecure": []}
    wrong = []
    for path, cmd in _commands(main):
        for p in cmd.params:
            if not isinstance(p, click.Option):
                continue
            if "--registry" in p.opts:
                seen["--registry"].append(" ".join(path))
                if p.name != "registry" or p.envvar != "SCIREGISTRY_REGISTRY" or p.opts != ["--registry"]:
                    wrong.append(f"{' '.join(path)}: --registry as {p.name} ({p.envvar})")
            if "--json" in p.opts:
                seen["--json"].append(" ".join(path))
                if p.name != "as_json" or not p.is_flag:
                    wrong.append(f"{' '.join(path)}: --json as {p.name}")
            if "--insecure" in p.opts:
                seen["--insecure"].append(" ".join(path))
                if p.name != "insecure" or not p.is_flag:
                    wrong.append(f"{' '.join(path)}: --insecure as {p.name}")
    assert wrong == []
    assert {"pull", "run list", "impact", "doi show", "demo", "reproduce", "vuln affected"} <= set(
        seen["--registry"]
    )
    assert {"audit", "gc", "user list", "pull", "doi mint", "reproduce", "vulndb status"} <= set(
        seen["--json"]
    )


@pytest.mark.parametrize("command", ["pull", "run show", "lineage", "doi show", "cite", "reproduce"])
def test_reviewer_commands_take_the_reviewer_token(setup: Setup, command: str) -> None:
    args = {
        "pull": ["pull", setup.result_ref, str(setup.tmp / f"pulled-{os.getpid()}-{id(command)}")],
        "run show": ["run", "show", setup.result_ref],
        "lineage": ["lineage", setup.result_ref],
        "doi show": ["doi", "show", setup.doi, "--registry", setup.url],
        "cite": ["cite", setup.doi, "--registry", setup.url],
        "reproduce": ["reproduce", setup.doi, "--registry", setup.url, "--runtime", "none"],
    }[command]
    env = {"SCIREGISTRY_CONFIG_HOME": str(setup.tmp / "nobody")}

    def out_dir(tag: str) -> list[str]:
        return ["--out", str(setup.tmp / f"reproduce-{tag}")] if command == "reproduce" else []

    ok_status = 3 if command == "reproduce" else 0  # reproduce --runtime none: NOT_RUN
    anonymous = invoke(*args, *out_dir("anonymous"), env=env)
    assert anonymous.exit_code == 1
    assert f"log in first: sciregistry login {setup.host}" in anonymous.stderr
    assert "--token or SCIREGISTRY_TOKEN" in anonymous.stderr  # 3a: the way in for a reviewer
    with_option = invoke(*args, *out_dir("option"), "--token", setup.reviewer_token, env=env)
    assert with_option.exit_code == ok_status, with_option.output
    if command == "pull":
        args[-1] += "-env"
    with_env = invoke(*args, *out_dir("env"), env={**env, "SCIREGISTRY_TOKEN": setup.reviewer_token})
    assert with_env.exit_code == ok_status, with_env.output
    if command in ("pull", "doi show"):  # (/v2 and /api/v1; more failures would trip the login throttle)
        bogus = invoke(*args, *out_dir("bogus"), "--token", BOGUS_TOKEN, env=env)
        assert bogus.exit_code == 1
        assert REFUSED in bogus.stderr  # 3b
        assert "invalid username or password" not in bogus.stderr and "user 'token'" not in bogus.stderr


def test_pull_with_token_restores_the_files(setup: Setup) -> None:
    dest = setup.tmp / "pulled-files"
    res = invoke(
        "pull",
        setup.result_ref,
        str(dest),
        "--token",
        setup.reviewer_token,
        "--json",
        env={"SCIREGISTRY_CONFIG_HOME": str(setup.tmp / "nobody")},
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["files"] == ["gc.tsv"]
    assert (dest / "gc.tsv").read_bytes() == b"r\t1.0\n"


# --- 3. messages that say what to do next ------------------------------------------------------------


def test_unknown_doi_says_to_check_the_registry(setup: Setup) -> None:
    env = {"SCIREGISTRY_CONFIG_HOME": str(setup.tmp / "nobody")}
    for args in (
        ["doi", "show", "10.5072/zzzz-zzzz", "--registry", setup.url],
        ["cite", "10.5072/zzzz-zzzz", "--registry", setup.url],
        ["reproduce", "10.5072/zzzz-zzzz", "--registry", setup.url, "--out", str(setup.tmp / "unknown")],
    ):
        res = invoke(*args, env=env)
        assert res.exit_code == 1
        assert res.stderr.startswith(
            "error: NOT_FOUND: DOI 10.5072/zzzz-zzzz is not registered here (check "
            "--registry: it must be the URL of the registry that minted the DOI)"
        ), res.stderr


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any request to doi.org fails the test; the list records attempts to other URLs."""
    asked: list[str] = []

    def refuse(url: str) -> None:
        asked.append(url)
        if "doi.org" in url:
            raise AssertionError(f"the test tried to contact {url}")

    real_session_get = requests.Session.get
    real_get = requests.get
    monkeypatch.setattr(
        requests.Session,
        "get",
        lambda self, url, *a, **kw: refuse(url) or real_session_get(self, url, *a, **kw),
    )
    monkeypatch.setattr(requests, "get", lambda url, *a, **kw: refuse(url) or real_get(url, *a, **kw))
    return asked


@pytest.mark.parametrize("command", ["reproduce", "cite"])
def test_test_prefix_doi_without_registry_is_one_clear_line(
    command: str, no_network: list[str], tmp_path: Path
) -> None:
    res = invoke(
        command,
        "10.5072/abcd-1234",
        *(["--out", str(tmp_path / "o")] if command == "reproduce" else []),
        env={"SCIREGISTRY_CONFIG_HOME": str(tmp_path / "cfg")},
    )
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "10.5072/abcd-1234 is a test DOI (prefix 10.5072)" in lines[0]
    assert lines[0].endswith("pass --registry URL of the registry that minted it")
    assert no_network == []  # doi.org was not even asked


def test_doi_show_without_registry_says_which_registry(tmp_path: Path) -> None:
    res = invoke("doi", "show", "10.5072/abcd-1234", env={"SCIREGISTRY_CONFIG_HOME": str(tmp_path / "cfg")})
    assert res.exit_code == 2
    assert "give --registry URL of the registry that minted the DOI" in res.output


@pytest.mark.parametrize("command", ["reproduce", "cite"])
def test_unreachable_resolver_is_one_clear_line(
    command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from sciregistry.cli import doi as doi_cli
    from sciregistry.cli import reproduce as reproduce_cli
    from sciregistry.client import reproduce as reproduce_mod

    resolver = f"http://127.0.0.1:{closed_port()}/"
    monkeypatch.setattr(reproduce_mod, "DOI_RESOLVER", resolver)
    monkeypatch.setattr(doi_cli, "DOI_RESOLVER", resolver)
    monkeypatch.setattr(reproduce_cli, "DOI_RESOLVER", resolver)
    res = invoke(
        command,
        "10.1234/abcd-1234",
        *(["--out", str(tmp_path / "o")] if command == "reproduce" else []),
        env={"SCIREGISTRY_CONFIG_HOME": str(tmp_path / "cfg")},
    )
    assert res.exit_code == 1
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and len(res.stderr.strip().splitlines()) <= 2, res.stderr  # + "looking ... up at"
    assert f"cannot reach {resolver} to look up 10.1234/abcd-1234" in errors[0]
    assert "pass --registry URL of the registry that minted it" in errors[0]
    assert "HTTPConnectionPool" not in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("command", ["reproduce", "cite"])
def test_name_resolution_failure_is_one_clear_line(
    command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    chain = (
        "HTTPSConnectionPool(host='doi.org', port=443): Max retries exceeded with url: /10.1234/abcd-1234 "
        '(Caused by NameResolutionError("<urllib3.connection.HTTPSConnection object at 0x7f00>: Failed to '
        "resolve 'doi.org' ([Errno -2] Name or service not known)\"))"
    )

    def fail(*args: Any, **kwargs: Any) -> None:
        raise requests.exceptions.ConnectionError(chain)

    monkeypatch.setattr(requests.Session, "get", fail)
    monkeypatch.setattr(requests, "get", fail)
    res = invoke(
        command,
        "10.1234/abcd-1234",
        *(["--out", str(tmp_path / "o")] if command == "reproduce" else []),
        env={"SCIREGISTRY_CONFIG_HOME": str(tmp_path / "cfg")},
    )
    assert res.exit_code == 1
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, res.stderr
    assert (
        "cannot reach https://doi.org/ to look up 10.1234/abcd-1234 (Name or service not known)" in errors[0]
    )
    assert "pass --registry URL of the registry that minted it" in errors[0]
    assert "NameResolutionError" not in res.stderr and "Max retries" not in res.stderr


# --- 5. minting a private result says how to open it up ---------------------------------------------------


def test_mint_of_a_private_result_notes_how_to_publish_or_share_it(setup: Setup) -> None:
    with Registry(
        setup.url, username="alice", password=PASSWORD, use_stored_credentials=False, progress=False
    ) as reg:
        image = reg.resolve_digest("alice/pipeline:1.0")
        for tag, k in (("private", 5), ("public", 6)):
            out = write_tree(setup.tmp / f"out-{tag}", {"gc.tsv": f"{tag}\t{k}\n".encode()})
            reg.record_run(
                f"{setup.host}/alice/pipeline@{image}",
                {},
                {"k": k},
                "gc.sh --k {k} /out",
                [setup.tmp / f"out-{tag}" / name for name in out],
                f"{setup.host}/alice/results:{tag}",
                agent="Alice Example",
            )
    creds = ["--username", "alice", "--password", PASSWORD]
    private = invoke("doi", "mint", f"{setup.host}/alice/results:private", *creds)
    assert private.exit_code == 0, private.output
    doi = private.stdout.splitlines()[0]
    assert re.fullmatch(r"10\.5072/[0-9a-z]{4}-[0-9a-z]{4}", doi)
    assert "note: alice/results is private" in private.stderr
    assert "sciregistry namespace set-visibility alice public" in private.stderr
    assert f"sciregistry token create --reviewer {doi} --expires 14d" in private.stderr
    assert "note:" not in private.stdout  # stdout stays the DOI and its two lines

    accounts = setup.app.extensions["sciregistry"].accounts
    accounts.set_namespace_visibility("alice", True)
    try:
        public = invoke("doi", "mint", f"{setup.host}/alice/results:public", *creds)
        assert public.exit_code == 0, public.output
        assert "note:" not in public.stderr
    finally:
        accounts.set_namespace_visibility("alice", False)


# --- 7. wording --------------------------------------------------------------------------------------------


def test_reviewer_token_create_reads_well(setup: Setup) -> None:
    assert re.match(
        rf"token [0-9a-f]{{16}} for the reviewer of {re.escape(setup.doi)} "
        r"\(read-only, limited to what that DOI pins\); expires \d{4}-",
        setup.token_create_stderr,
    )
    assert "scopes all of" not in setup.token_create_stderr
    assert setup.reviewer_token.startswith("sr_")


def test_user_token_create_reads_well(tmp_path: Path) -> None:
    env = {"SCIREGISTRY_STORAGE_FSYNC": "false"}
    data = ["--data-dir", str(tmp_path / "data")]
    res = CliRunner().invoke(
        main, ["user", "add", "carol", "--password-stdin", *data], input="carol-pass-123\n", env=env
    )
    assert res.exit_code == 0, res.output
    plain = invoke("token", "create", "--user", "carol", *data, env=env)
    assert re.match(r"token [0-9a-f]{16} for carol \(all of carol's rights\); never expires\n", plain.stderr)
    scoped = invoke(
        "token",
        "create",
        "--user",
        "carol",
        "--scope",
        "repository:carol/*:pull",
        "--expires",
        "1d",
        *data,
        env=env,
    )
    assert re.match(
        r"token [0-9a-f]{16} for carol \(limited to repository:carol/\*:pull\); expires ", scoped.stderr
    )


class _DoiRecords(BaseHTTPRequestHandler):
    records: ClassVar[dict[str, dict[str, Any]]] = {}

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        doi = self.path.removeprefix("/api/v1/dois/")
        body = json.dumps(self.records[doi]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize(("count", "shown"), [(0, "0 times"), (1, "1 time"), (2, "2 times")])
def test_doi_show_counts_reproductions_in_good_english(count: int, shown: str, tmp_path: Path) -> None:
    doi = f"10.5072/cnt{count}-0000"
    _DoiRecords.records[doi] = {
        "doi": doi,
        "state": "findable",
        "metadata": {"titles": [{"title": "T"}]},
        "repository": "lab/r",
        "result_digest": "sha256:" + "0" * 64,
        "crate_digest": "sha256:" + "1" * 64,
        "version": 1,
        "reproductions": count,
        "published_at": "2026-01-01T00:00:00Z",
    }
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _DoiRecords)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        res = invoke(
            "doi",
            "show",
            doi,
            "--registry",
            f"http://127.0.0.1:{srv.server_address[1]}",
            env={"SCIREGISTRY_CONFIG_HOME": str(tmp_path / "cfg")},
        )
    finally:
        srv.shutdown()
        srv.server_close()
    assert res.exit_code == 0, res.output
    assert re.search(rf"^Reproduced:\s+{shown}$", res.stdout, re.MULTILINE), res.stdout
