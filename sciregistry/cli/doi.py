"""``sciregistry doi mint|show|withdraw`` and ``sciregistry cite``.

The DOI commands and ``cite`` are clients: they talk HTTP to a registry (``/api/v1/dois`` and the
``/doi/<doi>`` landing page) through :class:`sciregistry.client.transport.Transport`, which answers
Basic and Bearer (Docker token flow) challenges. Credentials: ``--username``/``--password`` or
``--token``, else ``SCIREGISTRY_TOKEN`` / ``SCIREGISTRY_USERNAME`` + ``SCIREGISTRY_PASSWORD``,
else the file written by ``sciregistry login`` (:func:`sciregistry.client.credentials.resolve_credentials`).

    sciregistry doi mint 127.0.0.1:5000/lab/results:run1 --title "Counts" \\
        --creator "Ada Lovelace,0000-0002-1825-0097"
    sciregistry doi show 10.5072/abcd-1234 --registry http://127.0.0.1:5000
    sciregistry doi withdraw 10.5072/abcd-1234 --reason "wrong input data" --yes --registry ...
    sciregistry cite 10.5072/abcd-1234 --format bibtex --registry http://127.0.0.1:5000
    sciregistry cite 10.5438/0012 --format apa          # a DataCite DOI, through https://doi.org/
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click
import requests

from sciregistry.cli.common import (
    NO_REGISTRY_HINT,
    doi_argument,
    echo,
    echo_json,
    friendly_errors,
    main,
    open_transport,
)
from sciregistry.cli.options import (
    credential_options,
    insecure_option,
    json_option,
    registry_option,
    token_option,
)
from sciregistry.doi.identifiers import (
    DOI_RESOLVER,
    TEST_DOI_PREFIX,
    is_public_resolver,
    is_test_doi,
    normalize_doi,
)
from sciregistry.errors import BadRequest, NotFound, UpstreamError
from sciregistry.oci import routes

#: ``--format`` of ``cite`` -> the media type asked for (DOI content negotiation, citation.crosscite.org).
CITE_FORMATS: dict[str, str] = {
    "bibtex": "application/x-bibtex",
    "apa": "text/x-bibliography; style=apa",
    "csl": "application/vnd.citationstyles.csl+json",
    "datacite": "application/vnd.datacite.datacite+json",
}
_JSON_FORMATS = ("csl", "datacite")


def client_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--registry``, credentials, ``--insecure`` and ``--json``, identical on every DOI command."""
    f = json_option()(f)
    f = insecure_option()(f)
    f = token_option(f)
    f = credential_options(f)
    f = registry_option()(f)
    return f


def _need_registry(registry: str | None) -> str:
    if not registry:
        raise click.UsageError(
            "give --registry URL of the registry that minted the DOI (or set SCIREGISTRY_REGISTRY)"
        )
    return registry


def _times(n: int) -> str:
    return f"{n} time" if n == 1 else f"{n} times"


def private_note(base_url: str, doi: str, repository: str, insecure: bool) -> str | None:
    """A note for the author when the record of ``doi`` is not readable anonymously (the
    repository is private, so a reader holding only the DOI is refused: 401, or 404 where the
    registry hides it); None when it is public or when that cannot be told. One GET of
    ``/api/v1/dois/<doi>``, without credentials, to the registry that has just minted it."""
    try:
        resp = requests.get(
            f"{base_url}/api/v1/dois/{doi}",
            headers={"Accept": "application/json"},
            timeout=10,
            allow_redirects=False,
            verify=not insecure,
            stream=True,
        )
        resp.close()
    except requests.RequestException:
        return None
    if resp.status_code not in (401, 403, 404):
        return None
    namespace = repository.split("/", 1)[0]
    return "\n".join(
        [
            f"note: {repository} is private: a reader holding only the DOI is refused. An administrator can",
            f"  make it public:   sciregistry namespace set-visibility {namespace} public",
            "  or, for a private review, make a reviewer token to send with the DOI:",
            f"                    sciregistry token create --reviewer {doi} --expires 14d",
        ]
    )


def _doi(value: str) -> str:
    try:
        return normalize_doi(value)
    except BadRequest as exc:
        raise click.BadParameter(exc.text, param_hint="DOI") from exc


def _echo_json(doc: Any) -> None:
    """The DOI commands' JSON: the record's own key order, non-ASCII characters as they are."""
    echo_json(doc, sort_keys=False, ensure_ascii=False)


def parse_creator(text: str) -> dict[str, str]:
    """``'Given Family[,ORCID]'`` -> ``{"given_name", "family_name"[, "orcid"]}`` (the family name
    is the last word); a single word, or a name in braces as in BibTeX (``'{Example Lab, Inc.}'``,
    an organisation) -> ``{"name"}``."""
    text = text.strip()
    creator: dict[str, str]
    if text.startswith("{"):
        end = text.find("}")
        rest = text[end + 1 :].strip() if end > 0 else ""
        if end < 0 or (rest and not rest.startswith(",")):
            raise click.BadParameter(f"expected '{{Name}}[,ORCID]', got {text!r}", param_hint="--creator")
        name, orcid = " ".join(text[1:end].split()), rest[1:].strip()
        creator = {"name": name}
    else:
        raw, _, orcid = text.partition(",")
        name, orcid = " ".join(raw.split()), orcid.strip()
        given, _, family = name.rpartition(" ")
        creator = {"given_name": given, "family_name": family} if given else {"name": name}
    if not name:
        raise click.BadParameter(f"empty creator name in {text!r}", param_hint="--creator")
    if orcid:
        from sciregistry.doi.identifiers import normalize_orcid

        try:
            creator["orcid"] = normalize_orcid(orcid)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--creator") from exc
    return creator


# --- doi -------------------------------------------------------------------------------------------


@main.group("doi")
def doi_group() -> None:
    """Mint, show and withdraw DOIs for results."""


@doi_group.command("mint")
@click.argument("ref")
@click.option("--title", default=None, help="Title (default: the run's name).")
@click.option(
    "--creator",
    "creators",
    multiple=True,
    metavar="'Given Family[,ORCID]'",
    help="A creator; repeat for several (default: the run's agent).",
)
@click.option("--description", default=None, help="Abstract.")
@click.option("--supersedes", default=None, metavar="DOI", help="Make this a new version of DOI.")
@client_options
@friendly_errors
def mint(
    ref: str,
    title: str | None,
    creators: tuple[str, ...],
    description: str | None,
    supersedes: str | None,
    registry: str | None,
    username: str | None,
    password: str | None,
    token: str | None,
    insecure: bool,
    as_json: bool,
) -> None:
    """Mint a DOI for the result REF (host:port/repo@sha256:... or host:port/repo:tag)."""
    from sciregistry.oci import MANIFEST_MEDIA_TYPES, is_digest
    from sciregistry.oci.reference import parse_reference

    try:
        parsed = parse_reference(ref, require_registry=registry is None)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="REF") from exc
    t = open_transport(
        registry or parsed.registry, username=username, password=password, token=token, insecure=insecure
    )
    try:
        digest = parsed.digest
        if digest is None:
            tag = parsed.tag or "latest"
            resp = t.request(
                "HEAD",
                routes.MANIFEST.url(name=parsed.repository, ref=tag),
                headers={"Accept": ", ".join(sorted(MANIFEST_MEDIA_TYPES))},
            )
            resp.close()
            digest = resp.headers.get("Docker-Content-Digest", "")
            if not is_digest(digest):
                raise BadRequest(f"{parsed.repository}:{tag}: the registry sent no Docker-Content-Digest")
        body: dict[str, Any] = {"reference": f"{parsed.repository}@{digest}"}
        if title:
            body["title"] = title
        if creators:
            body["creators"] = [parse_creator(c) for c in creators]
        if description:
            body["description"] = description
        if supersedes:
            body["supersedes"] = _doi(supersedes)
        record = t.request("POST", "/api/v1/dois", json=body).json()
        landing = f"{t.base_url}/doi/{record['doi']}"
        if as_json:
            _echo_json({**record, "landing_url": landing})
        else:
            echo(record["doi"])
            echo(f"landing page: {landing}")
            echo(f"pinned: {parsed.repository}@{digest}")
        note = private_note(t.base_url, record["doi"], parsed.repository, insecure)
        if note:
            echo(note, err=True)
    finally:
        t.close()


@doi_group.command("show")
@click.argument("doi")
@client_options
@friendly_errors
def show(
    doi: str,
    registry: str | None,
    username: str | None,
    password: str | None,
    token: str | None,
    insecure: bool,
    as_json: bool,
) -> None:
    """Show the record of DOI: state, title, result, versions, reproductions. DOI may also be its
    https://doi.org/ URL or its landing page URL (which names the registry)."""
    norm, registry = doi_argument(doi, registry)
    t = open_transport(
        _need_registry(registry), username=username, password=password, token=token, insecure=insecure
    )
    try:
        record = t.request("GET", f"/api/v1/dois/{norm}").json()
        landing = f"{t.base_url}/doi/{record['doi']}"
        if as_json:
            _echo_json({**record, "landing_url": landing})
            return
        titles = (record.get("metadata") or {}).get("titles") or [{}]
        rows = [
            ("DOI", f"{record['doi']} ({record['state']})"),
            ("Title", titles[0].get("title", "")),
            ("Landing page", landing),
        ]
        if record.get("is_concept"):
            rows.append(("Versions", ", ".join(record.get("versions") or []) or "none"))
            rows.append(("Latest", record.get("latest") or "none"))
        else:
            where = f"{t.host}/{record.get('repository')}"  # full references: every command takes them
            rows.append(("Result", f"{where}@{record.get('result_digest')}"))
            rows.append(("Run crate", f"{where}@{record.get('crate_digest')}"))
            rows.append(("Version", str(record.get("version"))))
            if record.get("concept_doi"):
                rows.append(("Concept DOI", record["concept_doi"]))
            if record.get("previous_doi"):
                rows.append(("Previous", record["previous_doi"]))
            rows.append(("Reproduced", _times(int(record.get("reproductions") or 0))))
        rows.append(("Published", str(record.get("published_at"))))
        if record.get("state") == "tombstone":
            rows.append(("Withdrawn", record.get("tombstone_reason") or ""))
        width = max(len(k) for k, _ in rows)
        for key, value in rows:
            echo(f"{key + ':':<{width + 1}} {value}")
    finally:
        t.close()


@doi_group.command("withdraw")
@click.argument("doi")
@click.option("--reason", required=True, help="Why the DOI is withdrawn (shown on its tombstone page).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@client_options
@friendly_errors
def withdraw(
    doi: str,
    reason: str,
    yes: bool,
    registry: str | None,
    username: str | None,
    password: str | None,
    token: str | None,
    insecure: bool,
    as_json: bool,
) -> None:
    """Withdraw DOI (admin): it keeps resolving, to a tombstone page with REASON. Irreversible."""
    norm, registry = doi_argument(doi, registry)
    if not reason.strip():
        raise click.BadParameter("the reason must not be empty", param_hint="--reason")
    if not yes:
        click.confirm(f"Withdraw {norm}? This cannot be undone", abort=True)
    t = open_transport(
        _need_registry(registry), username=username, password=password, token=token, insecure=insecure
    )
    try:
        record = t.request("POST", f"/api/v1/dois/{norm}/tombstone", json={"reason": reason}).json()
        if as_json:
            _echo_json(record)
        else:
            echo(f"{record['doi']} withdrawn: {record.get('tombstone_reason')}")
    finally:
        t.close()


# --- cite ------------------------------------------------------------------------------------------


def fetch_citation(
    doi: str,
    fmt: str,
    *,
    registry: str | None,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
    insecure: bool = False,
    resolver: str | None = None,
    timeout: float = 30.0,
) -> str:
    """The citation of ``doi`` in ``fmt`` (a key of :data:`CITE_FORMATS`), by content negotiation
    against the registry's landing page, or against ``https://doi.org/`` when no registry is given
    (DataCite and Crossref DOIs; a test DOI, ``10.5072/...``, is never asked there)."""
    from sciregistry.client.transport import short_reason

    accept = CITE_FORMATS[fmt]
    resolver = resolver or DOI_RESOLVER
    if not registry and is_test_doi(doi) and is_public_resolver(resolver):
        raise NotFound(
            f"{doi} is a test DOI (prefix {TEST_DOI_PREFIX}): it is never registered at {resolver}, "
            f"so it cannot be cited through it; {NO_REGISTRY_HINT}"
        )
    wanted = accept.split(";", 1)[0]
    if registry:
        t = open_transport(registry, username=username, password=password, token=token, insecure=insecure)
        try:
            resp = t.request("GET", f"/doi/{doi}", headers={"Accept": accept})
            content_type, text = resp.headers.get("Content-Type", ""), resp.content.decode("utf-8")
        finally:
            t.close()
    else:
        try:
            r = requests.get(
                resolver + doi, headers={"Accept": accept}, timeout=timeout, allow_redirects=True
            )
        except requests.exceptions.RequestException as exc:
            raise OSError(
                f"cannot reach {resolver} to look up {doi} ({short_reason(exc)}); "
                f"if a sciregistry minted it, {NO_REGISTRY_HINT}"
            ) from None
        if r.status_code == 404:
            raise NotFound(
                f"DOI {doi} is not known to {resolver}; if a sciregistry minted it, {NO_REGISTRY_HINT}"
            )
        if r.status_code >= 400:
            raise UpstreamError(f"{resolver} answered HTTP {r.status_code} for {doi}")
        content_type, text = r.headers.get("Content-Type", ""), r.content.decode("utf-8")
    got = content_type.split(";", 1)[0].strip().lower()
    if got != wanted:
        raise UpstreamError(
            f"the server does not offer {fmt} ({wanted}) for {doi}: it answered {got or 'nothing'}"
        )
    return str(text)


@main.command("cite")
@click.argument("doi")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(CITE_FORMATS)),
    default="bibtex",
    show_default=True,
    help="Citation format.",
)
@client_options
@friendly_errors
def cite(
    doi: str,
    fmt: str,
    registry: str | None,
    username: str | None,
    password: str | None,
    token: str | None,
    insecure: bool,
    as_json: bool,
) -> None:
    """Print the citation of DOI (from --registry or its landing page URL, else through https://doi.org/)."""
    norm, registry = doi_argument(doi, registry)
    text = fetch_citation(
        norm, fmt, registry=registry, username=username, password=password, token=token, insecure=insecure
    )
    if fmt in _JSON_FORMATS:
        _echo_json(json.loads(text))
    elif as_json:
        _echo_json({"doi": norm, "format": fmt, "citation": text.strip()})
    else:
        echo(text.rstrip("\n"))
