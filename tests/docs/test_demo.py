"""``sciregistry demo`` (``make demo``): on a running registry with authentication on, it does what
the CI templates do and ends by printing the DOI, the landing page URL and the
``sciregistry reproduce`` command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cli_commands import check_invocation, clean_env, root_conftest, sciregistry_cli

from sciregistry.client import Run

ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).with_name("sciregistry"))
PASSWORD = "demo-user-pass-1"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not Path("/bin/busybox").is_file():
        pytest.skip("/bin/busybox not installed (apt-get install busybox-static)")
    tmp = tmp_path_factory.mktemp("demo")
    server = root_conftest().start_server(tmp / "data", env={"SCIREGISTRY_AUTH_ENABLED": "true"})
    try:
        sciregistry_cli(
            "user", "add", "grace", "--password-stdin", data_dir=tmp / "data", input=PASSWORD + "\n"
        )
        env = clean_env(SCIREGISTRY_CONFIG_HOME=str(tmp / "config"))
        sciregistry_cli(
            "login", server.host, "--username", "grace", "--password-stdin", input=PASSWORD + "\n", env=env
        )
        yield {"server": server, "env": env, "tmp": tmp}
    finally:
        server.stop()


def demo(
    registry: dict[str, Any], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, "demo", "--registry", registry["server"].url, *args],
        capture_output=True,
        text=True,
        env=env or registry["env"],
        cwd=registry["tmp"],
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_demo_prints_doi_landing_page_and_reproduce_command(registry: dict[str, Any]) -> None:
    url = registry["server"].url
    proc = demo(registry, "--data-dir", str(registry["tmp"] / "data"))  # as make demo runs it
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # it says first what it will create, and where: its own namespace, and a test DOI
    assert (
        lines[0] == f"The demo will create, on {url}, in the namespace demo (private unless an administrator "
        "makes it public):"
    )
    assert "and a TEST DOI" in proc.stdout and "prefix 10.5072: never registered at doi.org" in proc.stdout
    assert "created the private namespace demo, owned by grace" in proc.stdout
    steps = [line for line in lines if re.match(r"^\[\d/6\] ", line)]
    assert [s[:5] for s in steps] == ["[1/6]", "[2/6]", "[3/6]", "[4/6]", "[5/6]", "[6/6]"]
    m = re.search(r"^DOI:\s+(10\.5072/[0-9a-z]{4}-[0-9a-z]{4})$", proc.stdout, re.MULTILINE)
    assert m, proc.stdout
    doi = m.group(1)
    assert lines[-2] == f"Landing page: {url}/doi/{doi}"
    assert lines[-1] == f"Reproduce:    sciregistry reproduce {doi} --registry {url}"
    # the printed command is a valid command line of this sciregistry (once `reproduce` is registered)
    from cli_commands import command_tree

    if ("reproduce",) in command_tree():
        assert check_invocation(("reproduce", doi, "--registry", url)) == []
    # the landing page exists, and the DOI pins a run with the demo's parameters and image
    auth = ("grace", PASSWORD)
    page = requests.get(f"{url}/doi/{doi}", auth=auth, headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200 and doi in page.text
    closure = requests.get(f"{url}/api/v1/dois/{doi}/closure", auth=auth, timeout=30).json()
    run = Run.from_json(closure["run"])
    assert run.parameters == {"k": 3, "min_length": 100, "label": "demo"}
    assert run.command == "gc-content.sh --k {k} --min-length {min_length} /in/reads /out"
    assert run.image.repository == "demo/gc-content"  # the demo's own namespace, not the user's
    built = re.search(
        r"^\[1/6\] built the gc-content image: (sha256:[0-9a-f]{64})$", proc.stdout, re.MULTILINE
    )
    assert built and run.image.digest == built.group(1)
    assert [i.repository for i in run.inputs] == ["demo/reads"]
    assert closure["doi"]["repository"] == "demo/gc-results"
    # a clearly marked test DOI: its title says so, and its landing page says it is not registered at doi.org
    record = requests.get(f"{url}/api/v1/dois/{doi}", auth=auth, timeout=30).json()
    assert record["metadata"]["titles"][0]["title"].startswith("[Test DOI] ")
    assert "test DOI" in page.text and "https://doi.org/" not in page.text


@pytest.mark.slow
def test_demo_twice_and_as_json(registry: dict[str, Any]) -> None:
    """A second demo on the same registry works (the first DOI pins its tags; the result tag is new)."""
    first = demo(registry, "--json", "--label", "again", "--repo-prefix", "grace")
    second = demo(registry, "--json", "--label", "again", "--repo-prefix", "grace")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a["doi"] != b["doi"]
    assert a["image"] == b["image"] and a["dataset"] == b["dataset"]  # reproducible image, same data
    assert a["parameters"] == {"k": 3, "label": "again", "min_length": 100}
    assert a["reproduce_command"] == f"sciregistry reproduce {a['doi']} --registry {registry['server'].url}"
    assert a["landing_url"] == f"{registry['server'].url}/doi/{a['doi']}"
    assert "[6/6] minted" in first.stderr  # progress goes to stderr with --json


@pytest.mark.slow
def test_demo_without_login_says_to_log_in(registry: dict[str, Any]) -> None:
    env = clean_env(SCIREGISTRY_CONFIG_HOME=str(registry["tmp"] / "nobody"))
    proc = demo(registry, env=env)
    assert proc.returncode == 1
    host = registry["server"].host
    assert (
        f"needs an account on {host}: log in first (sciregistry login {host} --username NAME), or pass "
        "--token" in proc.stderr
    ), proc.stderr
    assert "UNAUTHORIZED" not in proc.stderr


@pytest.mark.slow
def test_make_demo_after_logout_works_as_the_administrator(registry: dict[str, Any]) -> None:
    """``make demo`` passes --data-dir: after ``sciregistry logout`` it works as the administrator
    of the data directory (issue 16, item 5), in the demo namespace, with a test DOI."""
    env = clean_env(SCIREGISTRY_CONFIG_HOME=str(registry["tmp"] / "logged-out"))
    proc = demo(registry, "--data-dir", str(registry["tmp"] / "data"), "--label", "admin", env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"not logged in: working as the administrator of {registry['tmp'] / 'data'}" in proc.stdout
    assert re.search(r"^DOI:\s+10\.5072/", proc.stdout, re.MULTILINE)
    assert "[6/6] minted the test DOI 10.5072/" in proc.stdout


@pytest.mark.slow
def test_demo_denied_namespace_says_what_to_do(registry: dict[str, Any]) -> None:
    """Logged in, without --data-dir, to a namespace that does not exist: advice, not DENIED (...)."""
    proc = demo(registry, "--repo-prefix", "nobodys-lab")
    assert proc.returncode == 1
    assert (
        "grace may not push to the namespace 'nobodys-lab'. An administrator can create it for the demo: "
        "sciregistry namespace create nobodys-lab --owner grace" in proc.stderr
    ), proc.stderr


def test_demo_without_workflows_is_a_clear_error(tmp_path: Path) -> None:
    env = clean_env(SCIREGISTRY_WORKFLOWS=str(tmp_path / "nowhere"))
    proc = subprocess.run(
        [EXE, "demo", "--registry", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "cannot find workflows/gc-content/build_image.py" in proc.stderr
    assert str(tmp_path / "nowhere") in proc.stderr


def test_make_demo_runs_this_command() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "$(BIN)/sciregistry demo --registry http://$(HOST):$(PORT) --data-dir $(DATA)" in makefile
