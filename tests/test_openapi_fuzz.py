"""schemathesis against a live registry populated by ``sciregistry demo``: every check, every phase
(examples, coverage, fuzzing and stateful through the document's links), on SQLite and PostgreSQL,
with administrator credentials. Zero failures is the contract of docs/openapi.yaml.

The seed is printed; replay a failure with ``SCIREGISTRY_SCHEMATHESIS_SEED=<seed> make test
PYTEST_ARGS='-k openapi_fuzz'`` (``SCIREGISTRY_SCHEMATHESIS_EXAMPLES`` sets examples per operation)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cli_commands import clean_env, root_conftest, sciregistry_cli

ADMIN, PASSWORD = "curator", "fuzz-admin-pass-1"
ST = Path(sys.executable).with_name("st")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def demo_registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    if not ST.is_file():
        pytest.skip("schemathesis is not installed (pip install -e '.[test]')")
    if not Path("/bin/busybox").is_file():
        pytest.skip(
            "/bin/busybox not installed (apt-get install busybox-static): the demo builds its image with it"
        )
    conftest = root_conftest()
    tmp = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    env: dict[str, str] = {"SCIREGISTRY_AUTH_ENABLED": "true"}
    if request.param == "postgresql":
        reason = conftest.postgres_unavailable()
        if reason:
            pytest.skip(reason)
        conftest.reset_postgres()
        env["SCIREGISTRY_DATABASE_URL"] = conftest.POSTGRES_URL
    data = tmp / "data"
    server = conftest.start_server(data, env=env)
    try:
        sciregistry_cli(
            "user",
            "add",
            ADMIN,
            "--admin",
            "--password-stdin",
            data_dir=data,
            input=PASSWORD + "\n",
            env=clean_env(**env),
        )
        cli_env = clean_env(SCIREGISTRY_CONFIG_HOME=str(tmp / "config"))
        sciregistry_cli(
            "login", server.host, "--username", ADMIN, "--password-stdin", input=PASSWORD + "\n", env=cli_env
        )
        sciregistry_cli("demo", "--registry", server.url, env=cli_env, cwd=tmp)
        yield {"server": server, "tmp": tmp}
    finally:
        server.stop()


def _real_values(url: str) -> dict[str, list[str]]:
    """Identifiers that exist in the demo registry, offered to schemathesis beside generated ones."""
    auth = (ADMIN, PASSWORD)
    dois = requests.get(f"{url}/api/v1/dois", auth=auth, timeout=30).json()["items"]
    assert dois, "the demo minted no DOI"
    doi = dois[0]
    closure = requests.get(f"{url}/api/v1/dois/{doi['doi']}/closure", auth=auth, timeout=30).json()
    run = closure["run"]
    refs = [f"{doi['repository']}@{doi['result_digest']}"] + [
        f"{i['repository']}@{i['digest']}" for i in run["inputs"]
    ]
    digests = [run["image"]["digest"]] + [i["digest"] for i in run["inputs"]]
    return {
        "prefixes": [doi["prefix"]],
        "suffixes": [doi["suffix"]],
        "refs": refs,
        "digests": digests,
        "repos": [doi["repository"]],
    }


def _config(values: dict[str, list[str]]) -> str:
    lines = ["[dictionaries]"]
    lines += [
        f"{name} = {{ values = [{', '.join(repr(v) for v in vals)}] }}".replace("'", '"')
        for name, vals in values.items()
    ]
    bindings = {
        "path.prefix": "prefixes",
        "path.suffix": "suffixes",
        "path.ref": "refs",
        "query.image": "digests",
        "query.dataset": "digests",
        "query.repository": "repos",
    }
    lines += ["", "[parameters]"]
    lines += [f'"{key}" = {{ dictionary = "{name}", probability = 0.5 }}' for key, name in bindings.items()]
    # A request whose query breaks a maxLength can be longer than any request line gunicorn reads
    # (8190 bytes): it is refused with 414 (documented) before it reaches the application. That is a
    # rejection too; schemathesis's default list of rejection statuses only lacks it.
    lines += [
        "",
        "[checks.negative_data_rejection]",
        'expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "414", "415", "422", "428", '
        '"429", "5XX"]',
    ]
    return "\n".join(lines) + "\n"


def test_schemathesis_finds_no_failure(demo_registry: dict[str, Any]) -> None:
    url = demo_registry["server"].url
    config = demo_registry["tmp"] / "schemathesis.toml"
    config.write_text(_config(_real_values(url)))
    seed = int(os.environ.get("SCIREGISTRY_SCHEMATHESIS_SEED") or random.randrange(1, 2**31))
    examples = os.environ.get("SCIREGISTRY_SCHEMATHESIS_EXAMPLES", "40")
    print(f"schemathesis seed: {seed} (replay: SCIREGISTRY_SCHEMATHESIS_SEED={seed})")
    argv = [
        str(ST),
        "--config-file",
        str(config),
        "run",
        f"{url}/api/v1/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        examples,
        "--seed",
        str(seed),
        "--workers",
        "1",
        "--auth",
        f"{ADMIN}:{PASSWORD}",
        "--no-color",
        # No example database: the printed seed is how a failure is replayed, and a database in this
        # throwaway directory would never be read again. Keeping one costs about 15 % of the run
        # (hypothesis maintains a Pareto front of every example to save).
        "--generation-database",
        "none",
    ]
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=demo_registry["tmp"],
        env=clean_env(HOME=str(demo_registry["tmp"])),
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"schemathesis seed {seed} failed:\n{report[-20000:]}"
    assert " passed" in report and "failures" not in report.splitlines()[-1], report[-3000:]
