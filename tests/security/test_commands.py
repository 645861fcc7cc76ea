"""#10 "commands shown to people must be the commands that run", against a live gunicorn.

The landing page rendered parameter values unquoted (``label = a b; rm -rf x`` showed ``... a b; rm
-rf x``: copied into a shell, that runs ``rm``) while ``reproduce`` quoted them; and a command
template naming a parameter the run does not record was accepted by the client and the server,
to fail only for the reviewer once the DOI was permanent. Each test fails on that code.
"""

from __future__ import annotations

import html
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from sciregistry.provenance import Parameter

from .support import World, error, image, publish, push_crate, result

HOSTILE = "a b; rm -rf x"
TEMPLATE = "count --k {k} --label {label} /in/reads /out"
AS_RUN = "count --k 10 --label 'a b; rm -rf x' /in/reads /out"


@pytest.fixture(scope="module")
def hostile_doi(world: World) -> tuple[str, str]:
    """A DOI on bob's result whose run has the parameter ``label = "a b; rm -rf x"``."""
    bob = world.as_("bob")
    pub = publish(
        bob,
        world.host,
        "bob/cmd",
        "hostile label",
        command=TEMPLATE,
        parameters=[Parameter("k", 10), Parameter("label", HOSTILE)],
    )
    r = bob.post("/api/v1/dois", json={"reference": f"bob/cmd-results@{pub.result.digest}"})
    assert r.status_code == 201, r
    return str(r.get_json()["doi"]), pub.result.digest


def test_landing_page_shows_the_quoted_command_reproduce_runs(
    world: World, hostile_doi: tuple[str, str]
) -> None:
    doi, _ = hostile_doi
    page = world.as_("bob").get(f"/doi/{doi}", headers={"Accept": "text/html"})
    assert page.status_code == 200, page
    m = re.search(
        r"<h3>Command as run</h3>\s*<pre class=\"copy\">(.*?)</pre>", page.get_data(as_text=True), re.DOTALL
    )
    assert m is not None, "the landing page shows the command as run"
    shown = html.unescape(m.group(1))
    assert shown == AS_RUN
    assert shlex.split(shown) == ["count", "--k", "10", "--label", HOSTILE, "/in/reads", "/out"]

    # reproduce renders the very same string (one renderer)
    from sciregistry.client import Registry

    res = Registry(
        world.url, token=world.tokens["bob"], use_stored_credentials=False, progress=False
    ).resolve(doi)
    assert res.rendered_command == shown


def test_cli_shows_the_command_as_run(world: World, hostile_doi: tuple[str, str], tmp_path: Path) -> None:
    from sciregistry.cli import main

    _, digest = hostile_doi
    out = CliRunner().invoke(
        main,
        ["run", "show", f"{world.host}/bob/cmd-results@{digest}", "--token", world.tokens["bob"]],
        env={"SCIREGISTRY_CONFIG_HOME": str(tmp_path)},
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.output
    command_line = next(line for line in out.output.splitlines() if line.strip().startswith("command"))
    assert command_line.split(None, 1)[1] == AS_RUN


def test_admission_refuses_a_template_naming_an_unrecorded_parameter(world: World) -> None:
    bob = world.as_("bob")
    img = image(bob, "bob/tpl-tools", "v1", "template tools")
    res, outs = result(bob, "bob/tpl-results", "r1", "template result")
    r = push_crate(
        bob,
        world.host,
        "bob/tpl-results",
        res,
        outs,
        image_repo="bob/tpl-tools",
        image_digest=img.digest,
        inputs=[],
        command="gc-content.sh --k {k} --min-length {min_length} /in/reads /out",
        parameters=[Parameter("k", 3)],
    )
    assert r.status_code == 400, r
    assert error(r)["code"] == "MANIFEST_INVALID"
    assert (
        "command template names unknown parameter(s) {min_length} (recorded parameters: k)"
        in error(r)["detail"]["problems"]
    )
    assert bob.get(f"/api/v1/lineage/bob/tpl-results@{res.digest}").get_json()["produced_by"] is None


def test_client_refuses_to_record_such_a_run_before_pushing(world: World, tmp_path: Path) -> None:
    from sciregistry.cli import main
    from sciregistry.client import Registry

    bob = world.as_("bob")
    img = image(bob, "bob/rec-tools", "v1", "record tools")
    out = tmp_path / "counts.tsv"
    out.write_text("gene\tcount\n")
    reg = Registry(world.url, token=world.tokens["bob"], use_stored_credentials=False, progress=False)
    with pytest.raises(ValueError, match=r"\{min_length\}"):
        reg.record_run(
            f"{world.host}/bob/rec-tools@{img.digest}",
            {},
            {"k": 3},
            "gc-content.sh --k {k} --min-length {min_length} /in/reads /out",
            [out],
            f"{world.host}/bob/rec-results:r1",
        )
    cli = CliRunner().invoke(
        main,
        [
            "run",
            "record",
            "--image",
            f"{world.host}/bob/rec-tools@{img.digest}",
            "--param",
            "k=3",
            "--command",
            "gc.sh --min-length {min_length}",
            "--output",
            str(out),
            "--to",
            f"{world.host}/bob/rec-results:r1",
            "--token",
            world.tokens["bob"],
        ],
        env={"SCIREGISTRY_CONFIG_HOME": str(tmp_path)},
    )
    assert cli.exit_code != 0
    assert "{min_length}" in cli.output
    # nothing was pushed: no result, no crate
    assert bob.get("/v2/bob/rec-results/tags/list").status_code == 404
