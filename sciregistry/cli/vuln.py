"""Vulnerability scanning and advisories on the command line.

Administrator commands (open the registry's database directly, ``--data-dir``/``--config`` as
``serve``; each change is recorded in the audit log):

    sciregistry vulndb import osv/PyPI/all.zip      # an OSV per-ecosystem zip, a directory or one .json
    sciregistry vulndb status
    sciregistry vulndb policy lab-x --block-critical --block-correctness   # refuse such DOIs
    sciregistry scan --watch                         # work the scan queue (the server does it too)
    sciregistry scan --once                          # run what is queued, then stop
    sciregistry advisory publish erratum.json        # OSV with database_specific.kind correctness|security
    sciregistry advisory affected SCIREG-2026-0001   # the DOIs it reaches and their authors, to tell them

Client commands (HTTP, like ``lineage``: stored login, ``--token``, ``--json``):

    sciregistry vuln show 127.0.0.1:5000/lab/tool@sha256:...     # findings of one image
    sciregistry vuln affected PYSEC-2021-66 --registry 127.0.0.1:5000
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from sciregistry.cli.admin import record_audit
from sciregistry.cli.common import echo, echo_json, emit, friendly_errors, host_of, load, main, open_registry
from sciregistry.cli.options import client_command, json_option, registry_option, server_options, token_option


@contextmanager
def _services(config_path: str | None, data_dir: str | None) -> Iterator[Any]:
    from sciregistry.app import build_services

    services = build_services(load(config_path, data_dir))
    try:
        yield services
    finally:
        services.engine.dispose()


# --- vulndb --------------------------------------------------------------------------------------------


@main.group("vulndb")
def vulndb_group() -> None:
    """The offline vulnerability database (OSV records)."""


@vulndb_group.command("import")
@click.argument("path", type=click.Path(exists=True))
@json_option()
@server_options
@friendly_errors
def vulndb_import(path: str, as_json: bool, data_dir: str | None, config_path: str | None) -> None:
    """Import OSV records from PATH (a directory of .json, an OSV per-ecosystem zip, or one file) and
    queue every scanned image for a rescan. Invalid records are skipped and listed."""
    from sciregistry.registry.vulns import iter_osv

    with _services(config_path, data_dir) as svc:
        report = svc.vulns.import_records(iter_osv(path))
        record_audit(
            svc.accounts,
            "vulndb.import",
            path,
            imported=report.imported,
            skipped=len(report.skipped),
            generation=report.generation,
        )
    if as_json:
        echo_json(report.to_dict(), sort_keys=False)
        return
    echo(
        f"imported {report.imported} record(s), {report.unchanged} unchanged, {len(report.skipped)} skipped; "
        f"database generation {report.generation}; {report.requeued} image(s) queued for a rescan"
    )
    for s in report.skipped[:50]:
        echo(f"  skipped {s}", err=True)


@vulndb_group.command("status")
@json_option()
@server_options
@friendly_errors
def vulndb_status(as_json: bool, data_dir: str | None, config_path: str | None) -> None:
    """Records in the database, its generation, and the scan queue."""
    with _services(config_path, data_dir) as svc:
        st = svc.vulns.status()
    emit(
        as_json,
        st,
        lambda: (
            f"{st['records']} record(s), generation {st['generation']}; scans: "
            + ", ".join(f"{k} {v}" for k, v in sorted(st["jobs"].items()))
            or "none"
        ),
    )


@vulndb_group.command("policy")
@click.argument("namespace")
@click.option(
    "--block-critical/--allow-critical",
    default=None,
    help="Refuse DOIs for results whose images have a CRITICAL vulnerability.",
)
@click.option(
    "--block-correctness/--allow-correctness",
    default=None,
    help="Refuse DOIs for results whose images match a correctness advisory.",
)
@json_option()
@server_options
@friendly_errors
def vulndb_policy(
    namespace: str,
    block_critical: bool | None,
    block_correctness: bool | None,
    as_json: bool,
    data_dir: str | None,
    config_path: str | None,
) -> None:
    """Show or set NAMESPACE's DOI policy. An administrator may still mint a refused DOI with
    ``override_policy: <reason>`` in the mint request (recorded in the audit log)."""
    with _services(config_path, data_dir) as svc:
        current = svc.vulns.policy(namespace) or {
            "namespace": namespace,
            "block_critical": False,
            "block_correctness": False,
        }
        if block_critical is not None or block_correctness is not None:
            current = svc.vulns.set_policy(
                namespace,
                block_critical=current["block_critical"] if block_critical is None else block_critical,
                block_correctness=current["block_correctness"]
                if block_correctness is None
                else block_correctness,
            )
            record_audit(
                svc.accounts,
                "vulndb.policy",
                namespace,
                **{k: v for k, v in current.items() if k != "namespace"},
            )
    emit(
        as_json,
        current,
        lambda: (
            f"{namespace}: critical vulnerabilities "
            f"{'block' if current['block_critical'] else 'allowed'}, correctness advisories "
            f"{'block' if current['block_correctness'] else 'allowed'} DOIs"
        ),
    )


# --- scan ----------------------------------------------------------------------------------------------


@main.command("scan")
@click.option("--watch", is_flag=True, help="Keep working the queue until interrupted (SIGINT/SIGTERM).")
@click.option(
    "--poll",
    type=click.IntRange(1, 3600),
    default=2,
    show_default=True,
    help="Seconds between looks at an empty queue (--watch).",
)
@server_options
@friendly_errors
def scan(watch: bool, poll: int, data_dir: str | None, config_path: str | None) -> None:
    """Work the vulnerability scan queue: run every queued scan (and, with --watch, those queued later).
    Any number of these (and of servers) may run at once: each scan is claimed by one of them."""
    with _services(config_path, data_dir) as svc:
        if not watch:
            n = svc.vulns.drain()
            echo(f"ran {n} scan(s)")
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        echo(f"scanning (worker {svc.vulns.worker_id}); Ctrl-C to stop", err=True)
        svc.vulns.watch(stop, poll)


# --- advisories ------------------------------------------------------------------------------------------


@main.group("advisory")
def advisory_group() -> None:
    """Scientific (correctness) and security advisories about tool versions."""


@advisory_group.command("publish")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@json_option()
@server_options
@friendly_errors
def advisory_publish(file: str, as_json: bool, data_dir: str | None, config_path: str | None) -> None:
    """Publish the OSV advisory in FILE; every image is matched again and each DOI whose run used an
    affected version shows a notice (landing page, DataCite metadata, API)."""
    from sciregistry.registry.vulns import read_advisory_file

    label, data = read_advisory_file(file)
    with _services(config_path, data_dir) as svc:
        record, report = svc.vulns.publish_advisory(label, data)
        record_audit(
            svc.accounts, "advisory.publish", record["id"], kind=record["kind"], generation=report.generation
        )
        svc.vulns.drain()  # re-match now (inventories are stored: no layer is read again)
        affected = svc.vulns.affected(record["id"])
    doc = {"advisory": record, "dois": affected["dois"]}
    emit(
        as_json,
        doc,
        lambda: (
            f"published {record['kind']} advisory {record['id']}; it reaches "
            f"{len(affected['images'])} image(s), {len(affected['runs'])} run(s), "
            f"{len(affected['dois'])} DOI(s)"
        ),
    )


@advisory_group.command("affected")
@click.argument("advisory_id")
@json_option()
@server_options
@friendly_errors
def advisory_affected(advisory_id: str, as_json: bool, data_dir: str | None, config_path: str | None) -> None:
    """The DOIs ADVISORY_ID reaches and their authors (creators with ORCID, the run's agent)."""
    with _services(config_path, data_dir) as svc:
        authors = svc.vulns.authors(advisory_id)

    def text() -> str:
        lines = []
        for a in authors:
            who = "; ".join(
                f"{c['name']}" + (f" <{c['orcid']}>" if c.get("orcid") else "") for c in a["creators"]
            )
            lines.append(f"{a['doi']}  {a['title']!r}  {who}")
        return "\n".join(lines) or f"no DOI is affected by {advisory_id}"

    emit(as_json, authors, text)


# --- client commands -----------------------------------------------------------------------------------


@main.group("vuln")
def vuln_group() -> None:
    """Vulnerability findings of images, and what a vulnerability reaches (client commands)."""


@vuln_group.command("show")
@click.argument("ref")
@token_option
@client_command
def vuln_show(ref: str, token: str | None, as_json: bool, insecure: bool) -> None:
    """Scan state and findings of REF (host/repo:tag or host/repo@sha256:...)."""
    reg = open_registry(host_of(ref), insecure, token)
    doc = reg.vulnerabilities(ref)

    def text() -> str:
        lines = []
        for img in doc["images"] or [{"digest": doc["digest"], "state": "not scanned", "findings": []}]:
            lines.append(
                f"{doc['repository']}@{img['digest']}: {img['state']}"
                + (f" ({img['error']})" if img.get("error") else "")
                + (
                    f", {img.get('packages', 0)} packages, {len(img['findings'])} finding(s)"
                    if img["state"] == "done"
                    else ""
                )
            )
            for f in img["findings"]:
                sev = f["severity"] or ("CORRECTNESS" if f["kind"] == "correctness" else "UNKNOWN")
                fixed = f"fixed in {', '.join(f['fixed'])}" if f["fixed"] else "no fix"
                lines.append(
                    f"  {sev:<11} {f['id']:<22} {f['package']} {f['version']} ({fixed})  {f['path']}"
                )
        return "\n".join(lines)

    emit(as_json, doc, text)


@vuln_group.command("affected")
@click.argument("record_id", metavar="ID")
@registry_option("Registry host[:port].", required=True)
@token_option
@client_command
def vuln_affected(record_id: str, registry: str, token: str | None, as_json: bool, insecure: bool) -> None:
    """Images with a package ID affects, and the runs, results and DOIs that used them (what you may read)."""
    reg = open_registry(registry, insecure, token)
    doc = reg.affected(record_id)

    def text() -> str:
        severity = f", {doc['severity']}" if doc.get("severity") else ""
        lines = [f"{doc['id']} ({doc['kind']}{severity}): {doc['summary']}"]
        for i in doc["images"]:
            pk = ", ".join(f"{p['package']} {p['version']}" for p in i["packages"])
            lines.append(f"  image  {i['repository']}@{i['digest']}  ({pk})")
        lines += [f"  run    {r['id']}: {r['repository']}@{r['result_digest']}" for r in doc["runs"]]
        lines += [f"  doi    {d['doi']} ({d['state']})" for d in doc["dois"]]
        return "\n".join(lines)

    emit(as_json, doc, text)
