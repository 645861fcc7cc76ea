"""The CI templates in ``workflows/ci/`` (issue: "A test checks the templates parse (YAML) and that
every ``sciregistry`` command they call exists with those options").

Three levels:

1. both files parse as YAML and have the expected shape (GitHub: runs on published releases,
   the token comes from ``secrets.SCIREGISTRY_TOKEN``; GitLab: runs on tags);
2. every ``sciregistry`` command in a ``run:``/``script:`` line exists in the click command tree
   with the options it is given (``tests/cli_commands.py``), and together they cover login, image
   push, dataset push, run record and DOI mint;
3. the steps are executed for real, as the CI would, in a fresh copy of ``workflows/`` against a
   live registry with authentication on and a robot token made with ``sciregistry robot create``
   and ``token create`` (the install steps are skipped: the virtualenv's ``sciregistry`` is on
   ``PATH``); the minted DOI must resolve to the recorded result, with the parameters and the
   image digest the template used.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from cli_commands import check_invocation, clean_env, extract_invocations, root_conftest, sciregistry_cli

from sciregistry.client import Run

ROOT = Path(__file__).resolve().parents[2]
CI_DIR = ROOT / "workflows" / "ci"
GITHUB = CI_DIR / "github-actions.yml"
GITLAB = CI_DIR / "gitlab-ci.yml"
BIN = Path(sys.executable).parent
DOI_PATTERN = re.compile(r"^10\.5072/[0-9a-z]{4}-[0-9a-z]{4}$")
REQUIRED_COMMANDS = {("login",), ("push-layout",), ("dataset", "push"), ("run", "record"), ("doi", "mint")}
WORKFLOW_COMMANDS = {("login",), ("push-layout",), ("run", "import"), ("doi", "mint")}
JOBS = {"publish": (REQUIRED_COMMANDS, 5), "publish-workflow": (WORKFLOW_COMMANDS, 5)}


def _load(path: Path) -> dict[Any, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), f"{path.name} is not a YAML mapping"
    return doc


def github_steps(job: str = "publish") -> list[dict[str, Any]]:
    return list(_load(GITHUB)["jobs"][job]["steps"])


def gitlab_job(job: str = "publish") -> dict[str, Any]:
    return dict(_load(GITLAB)[job])


def shell_texts(job: str = "publish") -> dict[str, list[str]]:
    """The shell text of every ``run:`` step (GitHub) and every ``before_script``/``script`` line (GitLab)."""
    gitlab = gitlab_job(job)
    return {
        "github-actions.yml": [s["run"] for s in github_steps(job) if "run" in s],
        "gitlab-ci.yml": [*gitlab["before_script"], *gitlab["script"]],
    }


# --- 1. shape -------------------------------------------------------------------------------------


def test_github_template_shape() -> None:
    doc = _load(GITHUB)
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert on["release"] == {"types": ["published"]}
    assert doc["permissions"] == {"contents": "read"}
    steps = github_steps()
    assert steps[0] == {"uses": "actions/checkout@v4"}
    install = next(s for s in steps if s.get("name") == "Install sciregistry")
    assert 'python -m pip install "${SCIREGISTRY_INSTALL:-.}"' in install["run"]
    login = next(s for s in steps if s.get("name") == "Log in with the robot token")
    assert login["env"] == {"SCIREGISTRY_TOKEN": "${{ secrets.SCIREGISTRY_TOKEN }}"}
    assert "--password-stdin" in login["run"] and "$SCIREGISTRY_TOKEN" in login["run"]
    # the token is never put anywhere else than the login steps of the two jobs
    assert GITHUB.read_text().count("secrets.") == 2
    wf_login = next(s for s in github_steps("publish-workflow") if s.get("name", "").startswith("Log in"))
    assert wf_login["env"] == {"SCIREGISTRY_TOKEN": "${{ secrets.SCIREGISTRY_TOKEN }}"}
    assert wf_login["run"].count("--password-stdin") == 2  # sciregistry, and podman (pulls the step images)
    assert doc["jobs"]["publish-workflow"]["outputs"] == {"doi": "${{ steps.mint-workflow.outputs.doi }}"}
    mint = next(s for s in steps if s.get("id") == "mint")
    assert doc["jobs"]["publish"]["outputs"] == {"doi": "${{ steps.mint.outputs.doi }}"}
    assert "GITHUB_OUTPUT" in mint["run"]


def test_gitlab_template_shape() -> None:
    doc = _load(GITLAB)
    assert doc["stages"] == ["publish"]
    job = gitlab_job()
    assert job["rules"] == [{"if": "$CI_COMMIT_TAG"}]
    assert 'python -m pip install "${SCIREGISTRY_INSTALL:-.}"' in job["before_script"]
    assert job["artifacts"]["reports"] == {"dotenv": "doi.env"}
    assert all(isinstance(line, str) for line in job["script"])
    assert sum("$SCIREGISTRY_TOKEN" in line for line in job["script"]) == 1
    wf = gitlab_job("publish-workflow")
    assert wf["rules"] == [{"if": "$CI_COMMIT_TAG"}] and wf["stage"] == "publish"
    assert sum("$SCIREGISTRY_TOKEN" in line for line in wf["script"]) == 2  # sciregistry and podman login
    assert wf["artifacts"]["reports"] == {"dotenv": "workflow-doi.env"}


# --- 2. every sciregistry command exists with those options ---------------------------------------


@pytest.mark.parametrize("job", sorted(JOBS))
@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_every_sciregistry_command_exists_with_its_options(name: str, job: str) -> None:
    required, count = JOBS[job]
    invocations = [inv for text in shell_texts(job)[name] for inv in extract_invocations(text)]
    problems = [f"{inv.line}\n    -> {p}" for inv in invocations for p in check_invocation(inv.argv)]
    assert problems == []
    paths = {
        tuple(w for w in inv.argv[:2] if not w.startswith("-") and w in _COMMAND_WORDS) for inv in invocations
    }
    assert paths >= required, f"missing: {required - paths}"
    assert len(invocations) == count


_COMMAND_WORDS = {"login", "push-layout", "dataset", "push", "run", "record", "import", "doi", "mint"}


def test_the_checker_catches_a_wrong_option() -> None:
    """The helper must be able to fail: a renamed option or a missing required one is reported."""
    [inv] = extract_invocations('sciregistry run record --image "$IMAGE" --inputs "reads=$READS"')
    [problem] = check_invocation(inv.argv)
    assert problem.startswith("sciregistry run record: No such option '--inputs'.")
    [inv] = extract_invocations("X=$(sciregistry doi mint --title T)")
    assert check_invocation(inv.argv) == ["sciregistry doi mint: missing argument REF"]


# --- 3. executed against a live registry ------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A registry with auth on, user ``lab`` and robot ``lab+ci`` with a token."""
    if not Path("/bin/busybox").is_file():
        pytest.skip("/bin/busybox not installed (apt-get install busybox-static)")
    data_dir = tmp_path_factory.mktemp("ci-registry") / "data"
    server = root_conftest().start_server(data_dir, env={"SCIREGISTRY_AUTH_ENABLED": "true"})
    try:
        sciregistry_cli(
            "user", "add", "lab", "--password-stdin", data_dir=data_dir, input="lab-password-123\n"
        )
        sciregistry_cli("robot", "create", "lab", "ci", data_dir=data_dir)
        token = json.loads(
            sciregistry_cli(
                "token", "create", "--robot", "lab+ci", "--expires", "1d", "--json", data_dir=data_dir
            )
        )["secret"]
        yield {"server": server, "token": token, "host": server.host}
    finally:
        server.stop()


def fresh_checkout(dest: Path) -> Path:
    """The part of a clone the templates use: ``workflows/`` (without caches)."""
    shutil.copytree(
        ROOT / "workflows", dest / "workflows", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    return dest


def ci_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = clean_env(
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        SCIREGISTRY_CONFIG_HOME=str(tmp / "home-config"),
        HOME=str(tmp),
    )
    env.update(extra)
    return env


def expected_image_digest(work: Path) -> str:
    index = json.loads((work / "build" / "oci" / "index.json").read_text())
    return str(index["manifests"][0]["digest"])


def check_published(lab: dict[str, Any], doi: str, version: str, image_digest: str) -> None:
    """The DOI resolves to a run of the image ``image_digest`` with k=3, min_length=100, label=version."""
    assert DOI_PATTERN.match(doi), doi
    auth = ("ci", lab["token"])
    url = lab["server"].url
    record = requests.get(f"{url}/api/v1/dois/{doi}/closure", auth=auth, timeout=30).json()
    assert record["doi"]["doi"] == doi
    assert record["doi"]["repository"] == "lab/gc-results"
    run = Run.from_json(record["run"])
    assert run.parameters == {"k": 3, "min_length": 100, "label": version}
    assert run.image.digest == image_digest
    assert run.image.repository == "lab/gc-content"
    assert [i.name for i in run.inputs] == ["reads"]
    assert [i.repository for i in run.inputs] == ["lab/reads"]
    assert sorted(o.path for o in run.outputs) == ["gc.tsv", "kmers.tsv"]
    assert run.command == "gc-content.sh --k {k} --min-length {min_length} /in/reads /out"
    tags = requests.get(f"{url}/v2/lab/gc-results/tags/list", auth=auth, timeout=30)
    assert version in tags.json()["tags"]


_GITHUB_EXPRESSIONS = {
    "vars.SCIREGISTRY_HOST": "host",
    "vars.SCIREGISTRY_NAMESPACE": "lab",
    "vars.SCIREGISTRY_CREATOR": "Ada Lovelace,0000-0002-1825-0097",
    "vars.SCIREGISTRY_INSTALL": "",  # unset: the checkout (the install step is skipped here)
    "github.event.release.tag_name || github.ref_name": "v1.0.0",
    "secrets.SCIREGISTRY_TOKEN": "token",
    "steps.mint.outputs.doi": "",
    "steps.mint-workflow.outputs.doi": "",
}


def run_github_job(
    job: str,
    lab: dict[str, Any],
    tmp_path: Path,
    work: Path,
    extra_env: dict[str, str] | None = None,
    timeout: float = 300,
) -> tuple[list[str], dict[str, Path]]:
    """Run the ``run:`` steps of ``job`` as GitHub would (the install steps skipped: the virtualenv's
    ``sciregistry`` is on ``PATH``), with ``$GITHUB_ENV``/``$GITHUB_OUTPUT``/``$GITHUB_STEP_SUMMARY``
    emulated. Returns the names of the steps run and those files."""
    values = {
        k: (lab["host"] if v == "host" else lab["token"] if v == "token" else v)
        for k, v in _GITHUB_EXPRESSIONS.items()
    }
    doc = _load(GITHUB)
    files = {name: tmp_path / name for name in ("GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")}
    for f in files.values():
        f.touch()
    env = ci_env(tmp_path, GITHUB_ACTOR="ada-lovelace", **{k: str(v) for k, v in files.items()})
    env.update({k: _expand(str(v), values) for k, v in doc["env"].items()})
    env.update({k: _expand(str(v), values) for k, v in (doc["jobs"][job].get("env") or {}).items()})
    env.update(extra_env or {})
    ran = []
    for step in github_steps(job):
        if "uses" in step or step.get("name", "").startswith("Install"):
            continue
        step_env = {
            **env,
            **_read_kv(files["GITHUB_ENV"]),
            **{k: _expand(str(v), values) for k, v in (step.get("env") or {}).items()},
        }
        # GitHub runs `run:` with `bash -e {0}` (shell: bash adds --noprofile --norc -eo pipefail)
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=work,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert proc.returncode == 0, f"step {step.get('name')!r} failed:\n{proc.stderr}\n{proc.stdout}"
        ran.append(step.get("name"))
    return ran, files


def _expand(value: str, values: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        key = m.group(1).strip()
        assert key in values, f"unexpected expression ${{{{ {key} }}}} in the template"
        return values[key]

    return re.sub(r"\$\{\{(.*?)\}\}", sub, value)


def _read_kv(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


@pytest.mark.slow
def test_github_actions_template_publishes_a_doi(lab: dict[str, Any], tmp_path: Path) -> None:
    work = fresh_checkout(tmp_path / "checkout")
    ran, files = run_github_job("publish", lab, tmp_path, work)
    assert ran == [
        "Log in with the robot token",
        "Build the image",
        "Push the image",
        "Push the input dataset",
        "Run the pipeline",
        "Record the run",
        "Mint the DOI",
    ]
    outputs = _read_kv(files["GITHUB_OUTPUT"])
    doi = outputs["doi"]
    assert f"Minted [{doi}]({lab['server'].url}/doi/{doi})" in files["GITHUB_STEP_SUMMARY"].read_text()
    image_digest = expected_image_digest(work)
    assert _read_kv(files["GITHUB_ENV"])["IMAGE"] == f"{lab['host']}/lab/gc-content@{image_digest}"
    check_published(lab, doi, "v1.0.0", image_digest)


@pytest.mark.slow
def test_gitlab_template_publishes_a_doi(lab: dict[str, Any], tmp_path: Path) -> None:
    work = fresh_checkout(tmp_path / "checkout")
    proc = run_gitlab_job("publish", lab, tmp_path, work, "v2.0.0")
    doi = _read_kv(work / "doi.env")["DOI"]
    minted = json.loads((work / "doi.json").read_text())
    assert minted["doi"] == doi
    assert f"DOI {doi}, landing page {lab['server'].url}/doi/{doi}" in proc.stdout
    assert minted["metadata"]["creators"][0]["nameIdentifiers"][0]["nameIdentifier"].endswith(
        "0000-0002-1825-0097"
    )
    check_published(lab, doi, "v2.0.0", expected_image_digest(work))


def run_gitlab_job(
    job: str,
    lab: dict[str, Any],
    tmp_path: Path,
    work: Path,
    tag: str,
    extra_env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run the ``script:`` of ``job`` as a GitLab runner would (one shell, the lines in order; the
    ``before_script`` install skipped: the virtualenv's ``sciregistry`` is on ``PATH``)."""
    spec = gitlab_job(job)
    env = ci_env(
        tmp_path,
        SCIREGISTRY_TOKEN=lab["token"],
        SCIREGISTRY_HOST=lab["host"],
        SCIREGISTRY_NAMESPACE="lab",
        SCIREGISTRY_CREATOR="Ada Lovelace,0000-0002-1825-0097",
        CI_COMMIT_TAG=tag,
        GITLAB_USER_NAME="Ada Lovelace",
        **{k: str(v) for k, v in spec["variables"].items()},
    )
    env.update(extra_env or {})
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", "\n".join(spec["script"])],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"the script failed:\n{proc.stderr}\n{proc.stdout}"
    return proc


# --- 4. the workflow job: cwltool and runcrate, then run import -------------------------------------


@pytest.fixture
def cwl_env(lab: dict[str, Any]) -> Iterator[dict[str, str]]:
    """What the workflow job needs that a CI runner has and this host may not: podman usable by
    cwltool (the rootful-host wrapper, ulimits, the loopback registry marked insecure), cwltool and
    runcrate (``$RUNCRATE``: the runner's install step makes ``.venv-runcrate``)."""
    from sciregistry.client.cwl import CwlEnvironment, cwltool_command, runcrate_command

    runcrate = runcrate_command()
    for tool, found in (
        ("podman", shutil.which("podman")),
        ("cwltool", cwltool_command()),
        ("runcrate", runcrate),
    ):
        if not found:
            pytest.skip(
                f"{tool} is not installed (cwltool: pip install 'sciregistry[cwl]'; runcrate: see .ci/run)"
            )
    env = CwlEnvironment([lab["host"]])
    try:
        wanted = ("CONTAINERS_CONF", "CONTAINERS_REGISTRIES_CONF", "REGISTRY_AUTH_FILE")
        # the podman wrapper first, then the virtualenv's sciregistry and cwltool
        path = os.pathsep.join([str(env.dir / "bin"), str(BIN), os.environ.get("PATH", "")])
        yield {
            **{k: v for k, v in env.env().items() if k in wanted},
            "PATH": path,
            "RUNCRATE": str(runcrate),  # after the job's env: where this host has runcrate
        }
    finally:
        env.close()


def check_workflow_published(lab: dict[str, Any], doi: str, work: Path) -> None:
    """The DOI resolves to the workflow run: two steps, each pinned to the digest of the image built."""
    digests = {
        line.split("\t")[0]: line.split("\t")[2]
        for line in subprocess.run(
            [sys.executable, "workflows/gc-workflow/prepare.py", "images", "--out", "rebuilt"],
            cwd=work,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    }
    assert DOI_PATTERN.match(doi), doi
    url, auth = lab["server"].url, ("ci", lab["token"])
    record = requests.get(f"{url}/api/v1/dois/{doi}/closure", auth=auth, timeout=30).json()
    assert record["doi"]["repository"] == "lab/gc-workflow-results"
    steps = record["run"]["steps"]
    assert [(st["image"]["repository"], st["image"]["digest"]) for st in steps] == [
        ("lab/gc-content", digests["gc-content"]),
        ("lab/gc-summary", digests["gc-summary"]),
    ]
    pinned = {p["digest"] for p in record["pins"]}
    assert {digests["gc-content"], digests["gc-summary"]} <= pinned  # the DOI pins every step image


@pytest.mark.slow
def test_github_actions_workflow_job_imports_a_cwl_run_and_mints_a_doi(
    lab: dict[str, Any], cwl_env: dict[str, str], tmp_path: Path
) -> None:
    work = fresh_checkout(tmp_path / "checkout")
    ran, files = run_github_job("publish-workflow", lab, tmp_path, work, cwl_env, timeout=600)
    assert ran == [
        "Log in with the robot token (sciregistry and podman)",
        "Build and push the step images",
        "Run the workflow with cwltool",
        "Import the workflow run",
        "Mint the DOI",
    ]
    doi = _read_kv(files["GITHUB_OUTPUT"])["doi"]
    assert "for the workflow run" in files["GITHUB_STEP_SUMMARY"].read_text()
    check_workflow_published(lab, doi, work)


@pytest.mark.slow
def test_gitlab_workflow_job_imports_a_cwl_run_and_mints_a_doi(
    lab: dict[str, Any], cwl_env: dict[str, str], tmp_path: Path
) -> None:
    work = fresh_checkout(tmp_path / "checkout")
    proc = run_gitlab_job("publish-workflow", lab, tmp_path, work, "v3.0.0", cwl_env, timeout=900)
    doi = _read_kv(work / "workflow-doi.env")["WORKFLOW_DOI"]
    assert f"DOI {doi}, landing page {lab['server'].url}/doi/{doi}" in proc.stdout
    check_workflow_published(lab, doi, work)


# --- issue 16, item 8: the install step installs something that exists ------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_the_install_step_installs_the_projects_source(name: str, tmp_path: Path) -> None:
    """``pip install sciregistry`` names a distribution that is not published; the templates install
    ``$SCIREGISTRY_INSTALL`` (a pinned git URL or a wheel), else the checkout. The line runs here as
    the CI runs it, with pip in dry-run mode (offline: no dependencies, no build isolation)."""
    lines = [ln for text in shell_texts()[name] for ln in text.splitlines() if "pip install" in ln]
    assert lines and not [ln for ln in lines if re.search(r"pip install\s+sciregistry\b", ln)], lines
    (install,) = [ln.strip().lstrip("- ") for ln in lines if "SCIREGISTRY_INSTALL" in ln]
    dry = install.replace(
        "python -m pip install",
        f"{shlex.quote(sys.executable)} -m pip install --dry-run --no-deps --quiet --report -",
    )
    env = {k: v for k, v in os.environ.items() if k != "SCIREGISTRY_INSTALL"}
    proc = subprocess.run(
        ["bash", "-c", dry], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [i["metadata"]["name"] for i in report["install"]] == ["sciregistry"]
    text = (ROOT / "workflows" / "ci" / name).read_text()
    assert "sciregistry==<version>" in text  # and says what to change once it is published
