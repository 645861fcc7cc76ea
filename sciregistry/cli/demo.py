"""``sciregistry demo``: the whole researcher flow, as the CI templates run it.

``demo`` does, against a running registry, what ``workflows/ci/github-actions.yml`` does on a
release (DESIGN.md section 7, "workflows/ holds a real example genomics pipeline and CI
templates that push image, data and crate and mint a DOI"):

1. build the gc-content pipeline image as an OCI layout (``workflows/gc-content/build_image.py``,
   byte-reproducible, no container engine);
2. push it (``<prefix>/gc-content:1.0.0``);
3. push the input dataset (``<prefix>/reads:v1``, the three FASTA files of ``data/``);
4. run the pipeline on the host (``sh gc-content.sh --k 3 --min-length 100 IN OUT``), the same
   command the image runs as ``/bin/sh -c 'gc-content.sh --k {k} --min-length {min_length}
   /in/reads /out'``;
5. record the run: the outputs as a result at ``<prefix>/gc-results:demo-<UTC time>`` and its Workflow Run
   Crate (image and dataset pinned by digest; parameters ``k``, ``min_length`` and ``label``);
6. mint a *test* DOI for the result (``POST /api/v1/dois`` with ``"test": true``: DataCite's test
   prefix ``10.5072``, never registered at doi.org, whatever minter the registry has);

and prints the DOI, its landing page and the ``sciregistry reproduce`` command for it::

    sciregistry demo --registry http://127.0.0.1:5000            # after 'sciregistry login'
    make demo                                                   # the same, from a checkout

It says first what it will create. Everything goes to the namespace ``demo`` (``--repo-prefix``
for another), never the user's own: the demo's results are not the user's work, and a user's
namespace may be public. With ``--data-dir`` (as ``make demo`` runs it, on the registry's own data
directory) it creates the ``demo`` namespace, owned by the user, when there is none yet, and, when
nobody is logged in, works as the administrator whose password the first start wrote to
``<data dir>/admin-password``.

The workflows directory is found from ``--workflows``, else ``$SCIREGISTRY_WORKFLOWS``, else the
``workflows/`` directory of the source checkout this package runs from, else ``./workflows``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from sciregistry.cli.common import echo, echo_json, friendly_errors, main
from sciregistry.cli.doi import parse_creator, private_note
from sciregistry.cli.options import insecure_option, json_option, registry_option, token_option

#: The command template recorded for every run of the gc-content image (workflows/gc-content/README.md).
COMMAND_TEMPLATE = "gc-content.sh --k {k} --min-length {min_length} /in/reads /out"
#: The FASTA files of workflows/gc-content/data that make up the demo dataset.
DATASET_FILES = ("sample_a.fa", "sample_b.fasta", "sample_c.fna")
#: The outputs of the pipeline, in the order they are recorded.
OUTPUT_FILES = ("gc.tsv", "kmers.tsv")
IMAGE_TAG = "1.0.0"


@dataclass(frozen=True)
class DemoResult:
    """What ``sciregistry demo`` made: every reference pinned by digest, the DOI and its landing page."""

    registry: str
    image: str
    dataset: str
    result: str
    crate_digest: str
    parameters: dict[str, Any]
    doi: str
    landing_url: str
    reproduce_command: str


def find_workflows(explicit: str | None = None) -> Path:
    """The ``workflows`` directory holding ``gc-content/build_image.py``; raise click.UsageError
    naming every place looked at when there is none."""
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    elif os.environ.get("SCIREGISTRY_WORKFLOWS"):
        candidates.append(Path(os.environ["SCIREGISTRY_WORKFLOWS"]))
    else:
        candidates.append(Path(__file__).resolve().parents[2] / "workflows")  # source checkout
        candidates.append(Path.cwd() / "workflows")
    for cand in candidates:
        if (cand / "gc-content" / "build_image.py").is_file():
            return cand.resolve()
    looked = ", ".join(str(c) for c in candidates)
    raise click.UsageError(
        f"cannot find workflows/gc-content/build_image.py (looked in {looked}); run from a sciregistry "
        "checkout, or give --workflows DIR (or set SCIREGISTRY_WORKFLOWS)"
    )


def load_builder(workflows: Path) -> ModuleType:
    """``workflows/gc-content/build_image.py`` imported by path (it is a script, not a package);
    its ``build_image(out_dir, tag, busybox) -> digest`` builds the reproducible image layout."""
    path = workflows / "gc-content" / "build_image.py"
    spec = importlib.util.spec_from_file_location("sciregistry_demo_build_image", path)
    if spec is None or spec.loader is None:  # pragma: no cover - only for non-file paths
        raise click.UsageError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses in the module look themselves up here
    spec.loader.exec_module(module)
    return module


def run_pipeline(workflows: Path, reads: Path, out: Path, params: dict[str, Any]) -> list[Path]:
    """Run ``gc-content.sh`` on the host with ``sh``, as the image would; return the output files."""
    script = workflows / "gc-content" / "pipeline" / "gc-content.sh"
    out.mkdir(parents=True, exist_ok=True)
    cmd = [
        "sh",
        str(script),
        "--k",
        str(params["k"]),
        "--min-length",
        str(params["min_length"]),
        str(reads),
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"}, check=False)
    if proc.returncode != 0:
        raise click.ClickException(f"the pipeline failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return [out / name for name in OUTPUT_FILES]


#: How long a running registry may keep answering from roles it read before (auth_gate cache_ttl).
ROLE_CACHE_SECONDS = 6.0

#: The namespace the demo writes to unless told otherwise.
DEMO_NAMESPACE = "demo"


def _credentials(registry_url: str, insecure: bool, token: str | None, data_dir: Path | None) -> Any:
    """The credentials the demo pushes with: ``--token``, else the environment or ``sciregistry
    login``, else (``--data-dir``) the administrator of that data directory; a clear error when
    there are none (pushing and minting need an account)."""
    from urllib.parse import urlsplit

    from sciregistry.client.credentials import Credentials, resolve_credentials
    from sciregistry.client.transport import normalize_url

    host = urlsplit(normalize_url(registry_url, insecure)).netloc
    creds = resolve_credentials(host, token=token)
    if not creds.empty:
        return creds
    secret = data_dir / "admin-password" if data_dir is not None else None
    if secret is not None and secret.is_file():
        return Credentials("admin", secret.read_text(encoding="utf-8").strip(), None)
    raise click.ClickException(
        f"the demo pushes an image, data and a run and mints a DOI, so it needs an account on {host}: "
        f"log in first (sciregistry login {host} --username NAME), or pass --token; on the registry's own "
        "machine, --data-dir DIR works as the administrator of DIR"
    )


def _ensure_namespace(data_dir: Path, namespace: str, owner: str | None, say: Any) -> bool:
    """Create ``namespace`` (private, owned by ``owner``) on the registry of ``data_dir`` when it
    does not exist yet (True); an existing one is left as it is (False)."""
    from sciregistry.cli.admin import open_accounts, record_audit
    from sciregistry.errors import NotFound

    with open_accounts(None, str(data_dir)) as accounts:
        try:
            accounts.get_namespace(namespace)
            return False
        except NotFound:
            pass
        owner = owner if owner and owner != "admin" and "+" not in owner else None
        accounts.create_namespace(namespace, owner)
        record_audit(
            accounts, "namespace.create", namespace, owner=owner, public=False, by="sciregistry demo"
        )
    say(f"created the private namespace {namespace}" + (f", owned by {owner}" if owner else ""))
    return True


def _wait_for_push(
    registry_url: str, repository: str, creds: Any, insecure: bool, timeout: float = 15.0
) -> None:
    """Wait until the running registry grants push on ``repository`` (a namespace made by another
    process is seen after its caches expire, a few seconds)."""
    import base64
    import time

    import requests

    from sciregistry.client.transport import normalize_url

    if not creds.username or creds.password is None:
        return
    url = normalize_url(registry_url, insecure) + "/token"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            resp = requests.get(
                url,
                params={"scope": f"repository:{repository}:pull,push"},
                timeout=10,
                auth=(creds.username, creds.password),
                verify=not insecure,
            )
            token = resp.json().get("token", "") if resp.ok else ""
            payload = token.split(".")[1] if token.count(".") == 2 else ""
            claims = (
                json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) if payload else {}
            )
            if any("push" in (a.get("actions") or []) for a in claims.get("access") or []):
                return
        except (requests.RequestException, ValueError):
            return  # the push itself will report what is wrong
        time.sleep(0.5)


def _denied_advice(exc: Exception, prefix: str, user: str | None) -> Exception:
    from sciregistry.errors import Denied

    if not isinstance(exc, Denied):
        return exc
    who = user or "you"
    return click.ClickException(
        f"{who} may not push to the namespace {prefix!r}. An administrator can create it for the demo: "
        f"sciregistry namespace create {prefix} --owner {user or 'NAME'} --data-dir DIR (or run the demo "
        f"with --data-dir DIR on the registry's machine), or give --repo-prefix NAMESPACE you may push to"
    )


def run_demo(
    registry_url: str,
    *,
    insecure: bool = False,
    repo_prefix: str | None = None,
    workdir: Path | None = None,
    workflows: Path | None = None,
    label: str = "demo",
    agent: str = "Demo Researcher",
    echo: Any = None,
    token: str | None = None,
    data_dir: Path | None = None,
) -> DemoResult:
    """Do the whole flow (module docstring) and return what was made. ``echo(text)`` gets one
    progress line per step."""
    from sciregistry.client import Registry
    from sciregistry.errors import Denied

    say = echo or (lambda text: None)
    wf = workflows or find_workflows()
    prefix = (repo_prefix or DEMO_NAMESPACE).strip("/")
    creds = _credentials(registry_url, insecure, token, data_dir)
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not Path(busybox).is_file():
        raise click.ClickException(
            "building the image needs a static busybox (Debian: apt-get install busybox-static)"
        )
    say(
        f"The demo will create, on {registry_url}, in the namespace {prefix} (private unless an "
        f"administrator makes it public):\n"
        f"  {prefix}/gc-content:{IMAGE_TAG} (the pipeline image), {prefix}/reads:v1 (its input data),\n"
        f"  {prefix}/gc-results:{label}-<UTC time> (a result and its run record), and a TEST DOI\n"
        f"  (prefix 10.5072: never registered at doi.org; it pins what it cites, so those stay)"
    )
    if (
        creds.username == "admin"
        and creds.password is not None
        and not creds.token
        and data_dir is not None
        and token is None
    ):
        say(f"not logged in: working as the administrator of {data_dir} ({data_dir / 'admin-password'})")
    created_at = time.monotonic()
    if data_dir is not None and _ensure_namespace(data_dir, prefix, creds.username, say):
        _wait_for_push(registry_url, f"{prefix}/gc-content", creds, insecure)
        # /token answered from one worker; every worker re-reads roles within its cache TTL (5 s)
        time.sleep(max(0.0, created_at + ROLE_CACHE_SECONDS - time.monotonic()))
    own_tmp = workdir is None
    base = Path(tempfile.mkdtemp(prefix="sciregistry-demo-")) if workdir is None else Path(workdir)
    base.mkdir(parents=True, exist_ok=True)
    try:
        builder = load_builder(wf)
        layout = base / "gc-content-oci"
        if layout.exists():
            shutil.rmtree(layout)
        built = builder.build_image(layout, IMAGE_TAG, busybox)
        say(f"[1/6] built the gc-content image: {built}")
        with Registry(
            registry_url,
            token=creds.token,
            username=creds.username,
            password=creds.password,
            insecure=insecure,
        ) as reg:
            try:
                image_digest = reg.push_layout(layout, f"{prefix}/gc-content:{IMAGE_TAG}")
            except Denied as exc:
                raise _denied_advice(exc, prefix, creds.username) from exc
            image_ref = reg.reference(f"{prefix}/gc-content", digest=image_digest)
            say(f"[2/6] pushed the image: {image_ref}")
            data_dir = wf / "gc-content" / "data"
            files = [data_dir / name for name in DATASET_FILES]
            reads_digest = reg.push_dataset(
                reg.reference(f"{prefix}/reads", tag="v1"),
                files,
                {"org.opencontainers.image.title": "gc-content sample reads"},
            )
            reads_ref = reg.reference(f"{prefix}/reads", digest=reads_digest)
            say(f"[3/6] pushed the dataset: {reads_ref}")
            reads = base / "in" / "reads"
            if reads.exists():
                shutil.rmtree(reads)
            reads.mkdir(parents=True)
            for f in files:
                shutil.copyfile(f, reads / f.name)
            params: dict[str, Any] = {"k": 3, "min_length": 100, "label": label}
            started = datetime.now(UTC)
            outputs = run_pipeline(wf, reads, base / "out", params)
            ended = datetime.now(UTC)
            say(f"[4/6] ran {COMMAND_TEMPLATE.format(**params)}")
            # a fresh tag per demo: a tag on a result that a DOI pins can never move
            result_tag = f"{label}-{ended:%Y%m%dt%H%M%S%f}"
            recorded = reg.record_run(
                image_ref,
                {"reads": reads_ref},
                params,
                COMMAND_TEMPLATE,
                outputs,
                reg.reference(f"{prefix}/gc-results", tag=result_tag),
                agent=agent,
                name=f"GC content of the sample reads (k={params['k']})",
                description="Recorded by 'sciregistry demo'.",
                license="CC-BY-4.0",
                started=started,
                ended=ended,
            )
            result_ref = reg.reference(f"{prefix}/gc-results", digest=recorded.result_digest)
            say(f"[5/6] recorded the run: result {result_ref}, crate {recorded.crate_digest}")
            body = {
                "reference": f"{prefix}/gc-results@{recorded.result_digest}",
                "title": "[Test DOI] GC content and 3-mer counts of the gc-content sample reads",
                "description": "A demonstration result made by 'sciregistry demo', with a test DOI "
                "(prefix 10.5072, never registered at doi.org).",
                "creators": [parse_creator(agent)],
                "test": True,
            }
            record = reg.transport.request("POST", "/api/v1/dois", json=body).json()
            doi = str(record["doi"])
            landing = f"{reg.url}/doi/{doi}"
            say(f"[6/6] minted the test DOI {doi}")
            return DemoResult(
                reg.url,
                image_ref,
                reads_ref,
                result_ref,
                recorded.crate_digest,
                params,
                doi,
                landing,
                f"sciregistry reproduce {doi} --registry {reg.url}",
            )
    finally:
        if own_tmp:
            shutil.rmtree(base, ignore_errors=True)


@main.command("demo")
@registry_option(required=True)
@insecure_option()
@click.option(
    "--repo-prefix", default=None, metavar="NAME", help="Namespace of the repositories (default: demo)."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The registry's data directory (on its machine): create the demo namespace there when "
    "missing, and work as its administrator when nobody is logged in.",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Keep the image layout, inputs and outputs here (default: a temporary directory).",
)
@click.option(
    "--workflows",
    default=None,
    type=click.Path(file_okay=False),
    help="The workflows/ directory of a sciregistry checkout (default: found automatically, "
    "or SCIREGISTRY_WORKFLOWS).",
)
@click.option(
    "--label",
    default="demo",
    show_default=True,
    help="The run's label parameter; the result's tag is LABEL-<UTC time>.",
)
@click.option(
    "--agent",
    default="Demo Researcher",
    show_default=True,
    metavar="'Given Family'",
    help="Who ran the pipeline (the run's agent and the DOI's creator).",
)
@json_option()
@token_option
@friendly_errors
def demo(
    registry: str,
    insecure: bool,
    repo_prefix: str | None,
    data_dir: Path | None,
    workdir: str | None,
    workflows: str | None,
    label: str,
    agent: str,
    as_json: bool,
    token: str | None,
) -> None:
    """Build, push and run the example pipeline, record the run, mint a DOI; print the DOI, its
    landing page and the command that reproduces it."""
    wf = find_workflows(workflows)
    progress = (lambda text: echo(text, err=True)) if as_json else echo
    result = run_demo(
        registry,
        insecure=insecure,
        repo_prefix=repo_prefix,
        workdir=Path(workdir) if workdir else None,
        workflows=wf,
        label=label,
        agent=agent,
        echo=progress,
        token=token,
        data_dir=data_dir,
    )
    if as_json:
        echo_json(asdict(result))
    else:
        echo("")
        echo(f"DOI:          {result.doi}")
        echo(f"Landing page: {result.landing_url}")
        echo(f"Reproduce:    {result.reproduce_command}")
    repository = result.result.split("/", 1)[1].split("@", 1)[0]  # host/repo@digest -> repo
    note = private_note(result.registry, result.doi, repository, insecure)
    if note:
        echo(note, err=True)
