"""Client commands of ``sciregistry``: login/logout, datasets, pull, image layouts, runs, lineage, impact.

References are full: ``host[:port]/repo[:tag][@sha256:...]``; the host picks the registry (plain
HTTP for 127.0.0.1/localhost, HTTPS otherwise unless ``--insecure``). Every command takes
``--json`` (machine-readable output on stdout; errors as ``{"errors":[{code,message,detail}]}``)
and ``--insecure``; every command that talks to a registry takes ``--token`` (an API or reviewer
token; else ``SCIREGISTRY_TOKEN``, else the credentials of ``sciregistry login``). Errors print
one line on stderr and exit 1.

    sciregistry login 127.0.0.1:5000 --username alice --password-stdin < pw.txt
    sciregistry dataset push 127.0.0.1:5000/lab-x/reads:v1 reads/
    sciregistry push-layout build/oci 127.0.0.1:5000/lab-x/gc-content:1.0.0
    sciregistry run record --image 127.0.0.1:5000/lab-x/gc-content@sha256:... \\
        --input reads=127.0.0.1:5000/lab-x/reads@sha256:... --param k=3 --param min_length=10 \\
        --command 'gc-content.sh --k {k} --min-length {min_length} /in/reads /out' \\
        --output out/gc.tsv --output out/kmers.tsv --to 127.0.0.1:5000/lab-x/gc-results:run1
    sciregistry lineage 127.0.0.1:5000/lab-x/gc-results:run1
    sciregistry impact 127.0.0.1:5000/lab-x/gc-content@sha256:...
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from sciregistry.cli.common import echo, emit, host_of, main, open_registry, target
from sciregistry.cli.options import client_command, registry_option, token_option
from sciregistry.errors import NotFound
from sciregistry.oci import routes

if TYPE_CHECKING:  # the client is imported inside the commands, so `sciregistry --help` stays fast
    from sciregistry.client import Lineage, Run

#: ``--registry`` of the commands that take a reference (REF may then leave its host out).
REF_REGISTRY_HELP = "Registry URL or host, for a reference without one (repo:tag, repo@sha256:...)."


class _IsoDateTime(click.ParamType):  # generic only in newer click
    name = "ISO-8601"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date-time", param, ctx)
        if moment.tzinfo is None:
            self.fail(f"{value!r} needs a time zone (e.g. 2026-01-31T12:00:00Z)", param, ctx)
        return moment


ISO = _IsoDateTime()


# --- login / logout ------------------------------------------------------------------------------------


@main.command()
@click.argument("host")
@click.option(
    "-u", "--username", default=None, help="User name (default $SCIREGISTRY_USERNAME, else prompt)."
)
@click.option("--password-stdin", is_flag=True, help="Read the password (or API token) from standard input.")
@client_command
def login(host: str, username: str | None, password_stdin: bool, as_json: bool, insecure: bool) -> None:
    """Check credentials for HOST and store them (mode 0600) for later commands.

    The password may be an API token. SCIREGISTRY_USERNAME / SCIREGISTRY_PASSWORD are used
    when set. The file is $SCIREGISTRY_CONFIG_HOME/credentials.json (default ~/.config/sciregistry).
    """
    from sciregistry.client import CredentialStore, Registry

    username = username or os.environ.get("SCIREGISTRY_USERNAME")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif os.environ.get("SCIREGISTRY_PASSWORD") is not None:
        password = os.environ["SCIREGISTRY_PASSWORD"]
    else:
        password = click.prompt("Password", hide_input=True)
    if not username:
        username = click.prompt("Username")
    if not password:
        raise ValueError("empty password")
    reg = Registry(
        host, username=username, password=password, insecure=insecure, use_stored_credentials=False
    )
    resp = reg.transport.request("GET", routes.BASE.url())
    resp.close()
    store = CredentialStore()
    store.set(reg.host, username, password)
    emit(
        as_json,
        {"host": reg.host, "username": username, "credentials": str(store.path)},
        f"Login succeeded for {username} at {reg.host} (saved in {store.path})",
    )


@main.command()
@click.argument("host")
@client_command
def logout(host: str, as_json: bool, insecure: bool) -> None:
    """Forget the stored credentials for HOST."""
    from sciregistry.client import CredentialStore
    from sciregistry.client.transport import normalize_url

    key = normalize_url(host, insecure=True).split("://", 1)[1]
    removed = CredentialStore().delete(key)
    emit(
        as_json,
        {"host": key, "removed": removed},
        f"Removed credentials for {key}" if removed else f"No credentials stored for {key}",
    )


# --- datasets, pull, layouts -----------------------------------------------------------------------------


@main.group()
def dataset() -> None:
    """Datasets: files pushed as OCI artifacts (one layer per file)."""


def _annotations(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"annotation {pair!r} must be KEY=VALUE")
        out[key] = value
    return out


@dataset.command("push")
@click.argument("ref")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--annotation",
    "-a",
    "annotations",
    multiple=True,
    metavar="KEY=VALUE",
    help="Manifest annotation (repeatable), e.g. org.opencontainers.image.licenses=CC-BY-4.0.",
)
@click.option("--title", default=None, help="Dataset title (org.opencontainers.image.title).")
@click.option(
    "--untagged",
    is_flag=True,
    help="Push without a tag (gc --delete-untagged may then remove it, unless a DOI pins it).",
)
@registry_option(REF_REGISTRY_HELP)
@token_option
@client_command
def dataset_push(
    ref: str,
    paths: tuple[str, ...],
    annotations: tuple[str, ...],
    title: str | None,
    untagged: bool,
    registry: str | None,
    token: str | None,
    as_json: bool,
    insecure: bool,
) -> None:
    """Push FILEs and DIRs as a dataset at REF (host/repo:tag); print its digest.

    Files under a directory keep their path relative to it; files given directly keep their name.
    """
    host, ref = target(ref, registry)
    reg = open_registry(host, insecure, token)
    ann = _annotations(annotations)
    if title:
        ann["org.opencontainers.image.title"] = title
    r = reg.parse(ref)
    if not r.tag and not untagged:
        raise click.UsageError(
            f"{ref} has no tag: an untagged dataset is reachable only by its digest, and 'sciregistry gc "
            f"--delete-untagged' removes it unless a DOI pins it. Give a tag ({ref}:v1), or --untagged "
            "to push it so anyway"
        )
    digest = reg.push_dataset(ref, paths, ann)
    emit(
        as_json,
        {"reference": str(r), "digest": digest, "pinned": f"{r.registry}/{r.repository}@{digest}"},
        digest,
    )


@main.command()
@click.argument("ref")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--with-crate", is_flag=True, help="Also restore the run crate that describes a result.")
@registry_option(REF_REGISTRY_HELP)
@token_option
@client_command
def pull(
    ref: str,
    directory: str,
    with_crate: bool,
    registry: str | None,
    token: str | None,
    as_json: bool,
    insecure: bool,
) -> None:
    """Restore the files of the dataset or result REF under DIRECTORY (digests verified)."""
    host, ref = target(ref, registry)
    reg = open_registry(host, insecure, token)
    got = reg.pull(ref, directory, with_crate=with_crate)
    rel = [p.relative_to(got.directory).as_posix() for p in got.files]
    emit(
        as_json,
        {
            "reference": got.reference,
            "digest": got.digest,
            "artifact_type": got.artifact_type,
            "directory": str(got.directory),
            "files": rel,
            "crate_digest": got.crate_digest,
        },
        "\n".join([f"{got.digest} -> {got.directory}"] + [f"  {p}" for p in rel]),
    )


@main.command("push-layout")
@click.argument("layout_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("ref")
@click.option(
    "--source-tag", default=None, help="Entry of index.json to push (default: REF's tag, or the only one)."
)
@registry_option(REF_REGISTRY_HELP)
@token_option
@client_command
def push_layout(
    layout_dir: str,
    ref: str,
    source_tag: str | None,
    registry: str | None,
    token: str | None,
    as_json: bool,
    insecure: bool,
) -> None:
    """Push the image in the OCI image layout LAYOUT_DIR to REF (host/repo:tag); print its digest."""
    host, ref = target(ref, registry)
    reg = open_registry(host, insecure, token)
    digest = reg.push_layout(layout_dir, ref, source_tag=source_tag)
    r = reg.parse(ref)
    emit(
        as_json,
        {"reference": str(r), "digest": digest, "pinned": f"{r.registry}/{r.repository}@{digest}"},
        digest,
    )


# --- runs ----------------------------------------------------------------------------------------------


@main.group()
def run() -> None:
    """Record runs (result + run crate) and query them."""


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ValueError(f"{what} {item!r} must be NAME=VALUE")
        if name in out:
            raise ValueError(f"{what} {name!r} given twice")
        out[name] = value
    return out


@run.command("record")
@click.option("--image", required=True, metavar="REF@DIGEST", help="The image that ran, pinned by digest.")
@click.option(
    "--input", "inputs", multiple=True, metavar="NAME=REF@DIGEST", help="Input dataset (repeatable)."
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Parameter (repeatable); VALUE becomes an int, float, true/false or string. "
    "NAME:string=VALUE forces a type.",
)
@click.option(
    "--command", "command", required=True, metavar="TEMPLATE", help="Command template with {name}s."
)
@click.option(
    "--output",
    "outputs",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Output file (repeatable).",
)
@click.option(
    "--workflow",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Workflow file the command executed.",
)
@click.option("--agent", default=None, help="Name of the person who ran it.")
@click.option("--orcid", default=None, help="Their ORCID (https://orcid.org/...).")
@click.option(
    "--started", type=ISO, default=None, help='Start time (ISO 8601 with zone; omitted: "not recorded").'
)
@click.option(
    "--ended", type=ISO, default=None, help='End time (ISO 8601 with zone; omitted: "not recorded").'
)
@click.option("--name", default=None, help="Short name of the run.")
@click.option("--description", default="", help="Description of the run.")
@click.option("--license", "license_", default=None, help="Licence of the result (SPDX id or URL).")
@click.option(
    "--to", "to_ref", required=True, metavar="REF", help="Where to push the result (host/repo:tag)."
)
@token_option
@client_command
def run_record(
    image: str,
    inputs: tuple[str, ...],
    params: tuple[str, ...],
    command: str,
    outputs: tuple[str, ...],
    workflow: str | None,
    agent: str | None,
    orcid: str | None,
    started: datetime | None,
    ended: datetime | None,
    name: str | None,
    description: str,
    license_: str | None,
    to_ref: str,
    token: str | None,
    as_json: bool,
    insecure: bool,
) -> None:
    """Push OUTPUTs as a result at --to and a run crate describing the run; print both digests."""
    from sciregistry.client.artifacts import parse_parameter

    host = host_of(to_ref)
    for ref in [image, *_pairs(inputs, "input").values()]:
        if host_of(ref) != host:
            raise ValueError(f"{ref} is not on {host}: image, inputs and --to must be on one registry")
    typed: dict[str, Any] = {}
    for p in params:
        key, value = parse_parameter(p)
        if key in typed:
            raise ValueError(f"parameter {key!r} given twice")
        typed[key] = value
    reg = open_registry(host, insecure, token)
    recorded = reg.record_run(
        image,
        _pairs(inputs, "input"),
        typed,
        command,
        list(outputs),
        to_ref,
        workflow=workflow,
        agent=agent,
        orcid=orcid,
        started=started,
        ended=ended,
        name=name,
        description=description,
        license=license_,
    )
    r = reg.parse(to_ref)
    base = f"{r.registry}/{r.repository}"
    emit(
        as_json,
        {
            "result": {"reference": f"{base}@{recorded.result_digest}", "digest": recorded.result_digest},
            "crate": {"reference": f"{base}@{recorded.crate_digest}", "digest": recorded.crate_digest},
            "parameters": typed,
        },
        f"result {recorded.result_digest}\ncrate  {recorded.crate_digest}",
    )


@run.command("import")
@click.argument("crate_dir", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--to", "to_ref", required=True, metavar="REF", help="Where to push the result (host/repo:tag)."
)
@click.option("--name", default=None, help="Name of the run (the crate's root name).")
@click.option("--description", default=None, help="Description of the run.")
@click.option("--license", "license_", default=None, help="Licence of the result (SPDX id or URL).")
@click.option("--agent", default=None, help="Name of the person who ran it.")
@click.option("--orcid", default=None, help="Their ORCID (https://orcid.org/...).")
@click.option(
    "--image",
    "images",
    multiple=True,
    metavar="[STEP=]REF",
    help="Image of a step whose crate names none (repeatable; without STEP= for every such step).",
)
@token_option
@client_command
def run_import(
    crate_dir: str,
    to_ref: str,
    name: str | None,
    description: str | None,
    license_: str | None,
    agent: str | None,
    orcid: str | None,
    images: tuple[str, ...],
    token: str | None,
    as_json: bool,
    insecure: bool,
) -> None:
    """Import a workflow engine's Workflow Run Crate (cwltool+runcrate, Nextflow nf-prov, Snakemake) from
    CRATE_DIR: push its output files as a result at --to and the completed crate as its referrer."""
    given: dict[str, str] = {}
    for item in images:
        step, sep, ref = item.rpartition("=")
        given[step if sep else ""] = ref
    host = host_of(to_ref)
    reg = open_registry(host, insecure, token)
    imported = reg.import_run(
        crate_dir,
        to_ref,
        name=name,
        description=description,
        license=license_,
        agent=agent,
        orcid=orcid,
        images=given,
    )
    for warning in imported.warnings:
        echo(f"warning: {warning}", err=True)
    r = reg.parse(to_ref)
    base = f"{r.registry}/{r.repository}"
    run_ = imported.run
    emit(
        as_json,
        {
            "result": {"reference": f"{base}@{imported.result_digest}", "digest": imported.result_digest},
            "crate": {"reference": f"{base}@{imported.crate_digest}", "digest": imported.crate_digest},
            "workflow": {"language": run_.language, "path": run_.workflow.path if run_.workflow else None},
            "steps": [{"name": s.name, "image": s.image.reference} for s in run_.steps],
            "warnings": imported.warnings,
        },
        f"result {imported.result_digest}\ncrate  {imported.crate_digest}\n"
        + "\n".join(f"step   {s.name}  {s.image.reference}" for s in run_.steps),
    )


def _shown_command(r: Run) -> str:
    """The command as run (the one renderer reproduce and the landing page use: every value
    shell-quoted), or the template with a note when it names a parameter the run does not record."""
    from sciregistry.provenance.command import render_command

    command = r.command or ""
    if r.workflow:  # an engine's invocation, not a template
        return command
    try:
        return render_command(command, r.parameters)
    except ValueError as exc:
        return f"{command}  ({exc})"


def _describe_run(r: Run, host: str) -> str:
    lines = [
        f"run {r.id}: {r.name or ''}".rstrip(),
        f"  result   {host}/{r.repository}@{r.result_digest}",
        f"  crate    {host}/{r.repository}@{r.crate_digest}",
        f"  image    {_full(host, r.image.reference)}" + (f" (tag {r.image.tag})" if r.image.tag else ""),
    ]
    if r.command:
        lines.append(f"  command  {_shown_command(r)}")
    lines += [f"  param    {k} = {v!r}" for k, v in r.parameters.items()]
    lines += [f"  input    {i.name}: {host}/{i.repository}@{i.digest}" for i in r.inputs]
    lines += [f"  output   {o.path}  sha256:{o.sha256}  {o.size} bytes" for o in r.outputs]
    if r.workflow:
        lines.append(
            f"  workflow {r.workflow.get('language') or ''} {r.workflow.get('path')}  "
            f"sha256:{r.workflow.get('sha256')}"
        )
        for n, step in enumerate(r.steps, 1):
            params = " ".join(f"{p.name}={p.value!r}" for p in step.parameters)
            lines.append(
                f"  step {n}   {step.name}: {step.image.name}@{step.image.digest}  {step.command}"
                + (f"  {params}" if params else "")
            )
    if r.agent:
        lines.append(
            f"  agent    {r.agent.get('name')}" + (f" <{r.agent['orcid']}>" if r.agent.get("orcid") else "")
        )
    lines.append(f"  time     {_run_time(r)}")
    return "\n".join(lines)


def _full(host: str, ref: str) -> str:
    """``ref`` with the registry host in front when it has none (the form every command accepts)."""
    from sciregistry.oci import parse_reference

    try:
        return ref if parse_reference(ref, require_registry=False).registry else f"{host}/{ref}"
    except ValueError:
        return ref


def _run_time(r: Run) -> str:
    started, ended = r.raw.get("started"), r.raw.get("ended")
    if not started and not ended:
        return "not recorded"
    return f"{started or 'not recorded'} .. {ended or 'not recorded'}"


@run.command("show")
@click.argument("ref")
@registry_option(REF_REGISTRY_HELP)
@token_option
@client_command
def run_show(ref: str, registry: str | None, token: str | None, as_json: bool, insecure: bool) -> None:
    """Show the run whose result is REF (host/repo:tag or @sha256:...; repo@... with --registry)."""
    host, ref = target(ref, registry)
    reg = open_registry(host, insecure, token)
    found = reg.run_for(ref)
    if found is None:
        raise NotFound(f"no run is recorded for {ref}")
    emit(as_json, found.raw, lambda: _describe_run(found, reg.host))


@run.command("list")
@registry_option("Registry host (or give --repository as host/repo).")
@click.option("--repository", default=None, help="Only runs whose result is in this repository.")
@click.option(
    "--image", default=None, metavar="DIGEST", help="Only runs of this image (manifest or index digest)."
)
@click.option("--dataset", default=None, metavar="DIGEST", help="Only runs that read this dataset.")
@click.option("--parameter", default=None, help="Only runs with this parameter ...")
@click.option("--value", default=None, help="... set to this value (JSON form for numbers: 20, 0.25, true).")
@click.option("--agent", default=None, help="Only runs by this agent (name or ORCID).")
@click.option("--started-after", type=ISO, default=None)
@click.option("--started-before", type=ISO, default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=None)
@click.option("--cursor", default=None, help="Cursor of the next page (printed by a previous call).")
@token_option
@client_command
def run_list(
    registry: str | None,
    repository: str | None,
    image: str | None,
    dataset: str | None,
    parameter: str | None,
    value: str | None,
    agent: str | None,
    started_after: datetime | None,
    started_before: datetime | None,
    limit: int | None,
    cursor: str | None,
    token: str | None,
    as_json: bool,
    insecure: bool,
) -> None:
    """List recorded runs, newest first."""
    host = registry
    if host is None and repository and "/" in repository:
        try:
            host = host_of(repository)
        except ValueError:
            host = None
    if host is None:
        raise click.UsageError("give --registry HOST (or --repository host/repo)")
    reg = open_registry(host, insecure, token)
    page = reg.runs(
        repository=repository,
        image=image,
        dataset=dataset,
        parameter=parameter,
        value=value,
        agent=agent,
        started_after=started_after,
        started_before=started_before,
        limit=limit,
        cursor=cursor,
    )

    def text() -> str:
        lines = [
            f"{r.id}\t{reg.host}/{r.repository}@{r.result_digest}\t{reg.host}/{r.image.repository}@{r.image.digest}\t"
            + " ".join(f"{k}={v}" for k, v in r.parameters.items())
            for r in page
        ]
        if page.next_cursor:
            lines.append(f"more: --cursor {page.next_cursor}")
        return "\n".join(lines) if lines else "no runs"

    emit(as_json, {"items": [r.raw for r in page], "next_cursor": page.next_cursor}, text)


# --- lineage and impact ----------------------------------------------------------------------------------


def _lineage_text(node: Lineage, host: str, depth: int = 0) -> list[str]:
    pad = "  " * depth
    lines = [
        f"{pad}{host}/{node.subject.repository}@{node.subject.digest}"
        + (f"  ({node.subject.artifact_type})" if node.subject.artifact_type else "")
    ]
    run_ = node.produced_by
    if node.redacted:
        lines.append(f"{pad}  (not readable with your credentials: digest only)")
        return lines
    if run_ is None:
        lines.append(f"{pad}  source (no recorded run)")
        return lines
    workflow = run_.workflow
    if workflow:
        lines.append(
            f"{pad}  <- run {run_.id}: {workflow.get('language') or 'workflow'} "
            f"workflow {workflow.get('path')}"
        )
    else:
        lines.append(f"{pad}  <- run {run_.id}: image {host}/{run_.image.repository}@{run_.image.digest}")
    if run_.command:
        lines.append(f"{pad}     command {_shown_command(run_)}")
    lines += [f"{pad}     param {k} = {v!r}" for k, v in run_.parameters.items()]
    if workflow:
        for n, step in enumerate(run_.steps, 1):
            lines.append(
                f"{pad}     step {n} {step.name}: image {step.image.name}@{step.image.digest}"
                + (f"  ({step.command})" if step.command else "")
            )
            lines += [f"{pad}       param {p.name} = {p.value!r}" for p in step.parameters]
    for child, inp in zip(node.inputs, run_.inputs, strict=False):
        lines.append(f"{pad}     input {inp.name}:")
        lines += _lineage_text(child, host, depth + 3)
    if node.truncated:
        lines.append(f"{pad}     (truncated)")
    return lines


@main.command()
@click.argument("ref")
@registry_option(REF_REGISTRY_HELP)
@token_option
@client_command
def lineage(ref: str, registry: str | None, token: str | None, as_json: bool, insecure: bool) -> None:
    """What produced REF: the run, its image, input datasets and parameters, recursively."""
    host, ref = target(ref, registry)
    reg = open_registry(host, insecure, token)
    node = reg.lineage(ref)
    emit(as_json, node.raw, lambda: "\n".join(_lineage_text(node, reg.host)))


@main.command()
@click.argument("ref", metavar="DIGEST|REF")
@registry_option("Registry host when DIGEST is a bare digest.")
@token_option
@client_command
def impact(ref: str, registry: str | None, token: str | None, as_json: bool, insecure: bool) -> None:
    """Which runs, results and DOIs used DIGEST (an image or a dataset), directly or downstream."""
    from sciregistry.oci import is_digest

    if is_digest(ref):
        if not registry:
            raise click.UsageError("a bare digest needs --registry HOST (or give host/repo@digest)")
        reg = open_registry(registry, insecure, token)
    else:
        reg = open_registry(host_of(ref), insecure, token)
    found = reg.impact(ref)

    def text() -> str:
        lines = [f"{found.digest}: used by {len(found.runs)} run(s)"]
        lines += [f"  run {r.id}: {reg.host}/{r.repository}@{r.result_digest}" for r in found.runs]
        of_runs = {(r.repository, r.result_digest) for r in found.runs}  # each result once
        lines += [
            f"  result {reg.host}/{a.repository}@{a.digest}"
            for a in found.results
            if (a.repository, a.digest) not in of_runs
        ]
        lines += [f"  doi {d.get('doi')}" for d in found.dois]
        return "\n".join(lines)

    emit(as_json, found.raw, text)
