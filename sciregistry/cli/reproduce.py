"""``sciregistry reproduce DOI``: resolve a DOI, re-run its recorded command, compare the outputs.

    sciregistry reproduce 10.5072/abcd-1234 --registry http://127.0.0.1:5000
    sciregistry reproduce 10.5072/abcd-1234 --registry http://127.0.0.1:5000 --runtime none   # fetch only
    sciregistry reproduce 10.5072/abcd-1234 --registry http://127.0.0.1:5000 --attach --json
    sciregistry reproduce https://doi.org/10.1234/xyz          # a DataCite DOI: found through doi.org
    sciregistry reproduce http://127.0.0.1:5000/doi/10.5072/abcd-1234   # the landing page names the registry

The registry is ``--registry`` (else ``SCIREGISTRY_REGISTRY``); without either, the DOI is looked
up at https://doi.org/ and its landing page (``<base>/doi/<doi>``) names the registry. Credentials:
``--token``/``--username``/``--password``, else ``SCIREGISTRY_*``, else ``sciregistry login``.
A test DOI (``10.5072/...``) is never registered at doi.org: it needs ``--registry``.

Exit status: 0 only when the verdict is REPRODUCED; 3 for any other verdict (PARTIAL,
NOT_REPRODUCED, RUN_FAILED, NOT_RUN, INPUT_UNAVAILABLE, DIGEST_MISMATCH; the report is written);
1 when no report could be made (DOI unknown, registry unreachable, output directory not empty);
2 for usage errors. The procedure is described in :mod:`sciregistry.client.reproduce`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from sciregistry.cli.common import doi_argument, echo, echo_json, error_text, locate_registry, main
from sciregistry.cli.options import (
    credential_options,
    insecure_option,
    json_option,
    quiet_option,
    registry_option,
    token_option,
)
from sciregistry.doi.identifiers import DOI_RESOLVER, is_public_resolver, is_test_doi
from sciregistry.errors import RegistryError

EXIT_NOT_REPRODUCED = 3


def _fail(as_json: bool, code: str, message: str, detail: object = None, line: str | None = None) -> None:
    if as_json:
        err: dict[str, object] = {"code": code, "message": message}
        if detail is not None:
            err["detail"] = detail
        echo(json.dumps({"errors": [err]}, default=str))
    echo(
        "error: " + (line or f"{code}: {message}" + (f" ({detail})" if detail and not as_json else "")),
        err=True,
    )
    sys.exit(1)


@main.command("reproduce")
@click.argument("doi")
@registry_option(
    "Registry URL, e.g. http://127.0.0.1:5000 (or SCIREGISTRY_REGISTRY; "
    "default: find it through https://doi.org/)."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="New or empty output directory (default ./reproduce-<suffix>).",
)
@click.option(
    "--runtime",
    type=click.Choice(["auto", "podman", "docker", "none"]),
    default="auto",
    show_default=True,
    help="Container runtime; auto tries podman, then docker; none only fetches.",
)
@click.option("--attach", is_flag=True, help="Push the report as a referrer of the result.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=3600.0,
    show_default=True,
    help="Seconds the command may run.",
)
@token_option
@credential_options
@insecure_option()
@json_option("Print the report as JSON.")
@quiet_option("No progress bars (shown on a terminal for downloads over a few MiB).")
def reproduce(
    doi: str,
    registry: str | None,
    out_dir: Path | None,
    runtime: str,
    attach: bool,
    timeout: float,
    token: str | None,
    username: str | None,
    password: str | None,
    insecure: bool,
    as_json: bool,
    quiet: bool = False,
) -> None:
    """Reproduce the result a DOI names: verify its run crate, fetch image and inputs by digest,
    run the recorded command, compare the outputs; write report.json and report.md."""
    from sciregistry.client import Registry
    from sciregistry.client import reproduce as _reproduce
    from sciregistry.client.transport import TransportError

    norm, registry = doi_argument(doi, registry)
    try:
        if not registry:
            if not as_json and not (is_test_doi(norm) and is_public_resolver(DOI_RESOLVER)):
                echo(f"no --registry: looking {norm} up at {DOI_RESOLVER}", err=True)
            registry = locate_registry(norm)
        try:
            reg = Registry(
                registry,
                token=token,
                username=username,
                password=password,
                insecure=insecure,
                progress=False if quiet else None,
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        with reg:
            resolution = reg.resolve(norm)
            report = resolution.reproduce(
                out_dir if out_dir is not None else _reproduce.default_out_dir(norm),
                runtime,  # type: ignore[arg-type]
                attach,
                timeout=timeout,
            )
    except RegistryError as exc:
        _fail(as_json, exc.code, exc.text, exc.detail, line=None if as_json else error_text(exc))
        return
    except (TransportError, BrokenPipeError, FileExistsError, ValueError) as exc:
        _fail(as_json, "CLIENT_ERROR", str(exc))
        return
    if as_json:
        doc = report.to_dict()
        doc["report_path"] = str(report.out_dir / "report.json") if report.out_dir else None
        doc["attached"] = report.attached
        echo_json(doc, sort_keys=False, ensure_ascii=False)
    else:
        echo(report.summary())
    sys.exit(0 if report.ok else EXIT_NOT_REPRODUCED)
