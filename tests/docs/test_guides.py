"""The guides in ``docs/`` say only true things about the command line.

* ``docs/getting-started.md`` is executed: its ```` ```sh ```` blocks run in order, in one bash
  session (``set -eo pipefail``), in a fresh copy of the repository's tracked ``workflows/`` with
  ``.venv`` linked to this virtualenv, against a live registry with authentication on (the
  default). Substitutions, and nothing else:

  1. the prerequisites block (``sudo apt-get install ...``) is not run; the test checks that the
     packages it needs are installed instead (busybox-static and skopeo; podman is optional);
  2. the ``make run`` block is replaced by what it runs, ``sciregistry serve --host 127.0.0.1
     --data-dir ./var`` in the copy, on port 0 instead of 5000 (``start_server``), and
     ``127.0.0.1:5000`` becomes ``127.0.0.1:<port>`` in every command;
  3. ``HOME`` is a temporary directory (so ``sciregistry login`` writes
     ``~/.config/sciregistry/credentials.json`` there) and ``REGISTRY_AUTH_FILE`` points skopeo's
     login at a temporary file.

  The last block (``sciregistry reproduce``) must print REPRODUCED (exit 0) or, without a
  container runtime, NOT_RUN (exit 3); every earlier block must succeed.
* In every guide, each ``sciregistry`` command line in a ```` ```sh ```` block exists in the click
  command tree with the options given (``tests/cli_commands.py``).
* ``docs/operator-guide.md`` holds exactly the table that ``sciregistry.config.reference()``
  renders (and ``sciregistry config-reference`` prints).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_commands import check_invocation, clean_env, command_tree, extract_invocations, root_conftest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GUIDES = ["getting-started.md", "reviewer-guide.md", "notebooks.md", "operator-guide.md", "architecture.md"]
FENCE = re.compile(r"^```sh\n(.*?)^```\s*$", re.DOTALL | re.MULTILINE)
PREREQUISITES = "sudo apt-get install -y python3-venv make busybox-static skopeo podman runc"
DOI_LINE = re.compile(r"^(10\.5072/[0-9a-z]{4}-[0-9a-z]{4})$", re.MULTILINE)


def sh_blocks(name: str) -> list[str]:
    return [m.group(1) for m in FENCE.finditer((DOCS / name).read_text(encoding="utf-8"))]


def fresh_copy(dest: Path) -> Path:
    """The tracked files of ``workflows/`` (what a clone has), and ``.venv`` -> this virtualenv."""
    dest.mkdir(parents=True)
    try:
        listed = (
            subprocess.run(
                ["git", "-C", str(ROOT), "ls-files", "-z", "workflows"], capture_output=True, check=True
            )
            .stdout.decode()
            .split("\0")
        )
        files = [f for f in listed if f and (ROOT / f).is_file()]
    except (OSError, subprocess.CalledProcessError):
        files = []
    if files:
        for rel in files:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    else:  # not a git checkout
        shutil.copytree(ROOT / "workflows", dest / "workflows", ignore=shutil.ignore_patterns("__pycache__"))
    (dest / ".venv").symlink_to(Path(sys.prefix))
    return dest


def _installed(pkg: str) -> bool:
    try:
        return subprocess.run(["dpkg", "-s", pkg], capture_output=True, check=False).returncode == 0
    except OSError:
        return shutil.which(pkg.split("-")[0]) is not None


def block_outputs(out: str) -> dict[int, str]:
    """Standard output of each block of the word-for-word script, by block index."""
    parts = re.split(r"^@@ block (\d+) @@\n", out, flags=re.MULTILINE)
    return {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


@pytest.mark.parametrize("name", GUIDES)
def test_every_command_in_the_guide_exists_with_its_options(name: str) -> None:
    invocations = [inv for block in sh_blocks(name) for inv in extract_invocations(block)]
    problems = [f"{inv.line}\n    -> {p}" for inv in invocations for p in check_invocation(inv.argv)]
    assert problems == []
    if name in ("getting-started.md", "reviewer-guide.md", "operator-guide.md"):
        assert invocations, f"{name} shows no sciregistry command"


def test_every_reviewer_command_takes_the_reviewer_token() -> None:
    """The reviewer guide says: every command below takes the token with --token."""
    text = (DOCS / "reviewer-guide.md").read_text(encoding="utf-8")
    assert "Every command below takes it with `--token sr_...`" in text
    below = text[text.index("Every command below takes it") :]
    invocations = [inv for m in FENCE.finditer(below) for inv in extract_invocations(m.group(1))]
    assert len(invocations) >= 6
    problems = [
        f"{inv.line}\n    -> {p}"
        for inv in invocations
        for p in check_invocation((*inv.argv, "--token", "sr_x"))
    ]
    assert problems == []


def test_the_getting_started_commands_cover_the_whole_flow() -> None:
    paths = set()
    tree = command_tree()
    for block in sh_blocks("getting-started.md"):
        for inv in extract_invocations(block):
            words = [w for w in inv.argv if not w.startswith("-")]
            for n in (2, 1):
                if tuple(words[:n]) in tree:
                    paths.add(tuple(words[:n]))
                    break
    assert {
        ("user", "add"),
        ("login",),
        ("push-layout",),
        ("dataset", "push"),
        ("run", "record"),
        ("run", "show"),
        ("namespace", "set-visibility"),
        ("doi", "mint"),
        ("doi", "show"),
        ("cite",),
        ("token", "create"),
        ("logout",),
        ("reproduce",),
    } <= paths


def test_operator_guide_config_table_is_generated_from_the_config_code() -> None:
    from sciregistry.config import reference

    text = (DOCS / "operator-guide.md").read_text(encoding="utf-8")
    start = text.index("<!-- config-reference:start -->") + len("<!-- config-reference:start -->")
    end = text.index("<!-- config-reference:end -->")
    assert text[start:end].strip() == reference().strip()
    from click.testing import CliRunner

    from sciregistry.cli import main

    out = CliRunner().invoke(main, ["config-reference"])
    assert out.exit_code == 0 and out.output.strip() == reference().strip()


@pytest.mark.slow
def test_getting_started_word_for_word(tmp_path: Path) -> None:
    for pkg in ("busybox-static", "skopeo"):
        if not _installed(pkg):
            pytest.skip(f"{pkg} is not installed (the guide's step 0: {PREREQUISITES})")
    if ("reproduce",) not in command_tree():
        pytest.fail(
            "the guide's last step needs 'sciregistry reproduce', which is not registered "
            "(sciregistry/cli/__init__.py _load_optional)"
        )
    blocks = sh_blocks("getting-started.md")
    assert blocks[0] == PREREQUISITES + "\n", "the prerequisites block changed: update PREREQUISITES here"
    assert blocks[1] == "make run\n", "the guide must start the registry with exactly 'make run'"
    work = fresh_copy(tmp_path / "sciregistry")
    home = tmp_path / "home"
    home.mkdir()
    server = root_conftest().start_server(work / "var", env={"SCIREGISTRY_AUTH_ENABLED": "true"})
    try:
        host = f"127.0.0.1:{server.port}"
        script = ["set -eo pipefail"]
        for i, block in enumerate(blocks[2:], start=2):
            script.append(f"printf '\\n@@ block {i} @@\\n'")  # on its own line even after 'cat image.digest'
            script.append(block.replace("127.0.0.1:5000", host))
        env = clean_env(HOME=str(home), REGISTRY_AUTH_FILE=str(tmp_path / "containers-auth.json"))
        env.pop("VIRTUAL_ENV", None)
        env.pop("XDG_RUNTIME_DIR", None)
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-c", "\n".join(script)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        server.stop()
    out = proc.stdout
    log = f"exit {proc.returncode}\n--- stdout\n{out}\n--- stderr\n{proc.stderr}"
    reached = re.findall(r"^@@ block (\d+) @@$", out, re.MULTILINE)
    assert reached and int(reached[-1]) == len(blocks) - 1, f"stopped before the last block:\n{log}"
    blocks_out = block_outputs(out)
    # step 2: the login was stored where the guide says (and step 8 logs out again)
    stored = home / ".config" / "sciregistry" / "credentials.json"
    assert f"Login succeeded for alice at {host} (saved in {stored})" in out, log
    assert f"Removed credentials for {host}" in out, log
    assert host not in json.loads(stored.read_text())["auths"]
    # step 3: build_image.py, skopeo (--digestfile) and push-layout all give the same digest
    image_digest = (work / "image.digest").read_text().strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_digest)
    build_block = next(i for i, b in enumerate(blocks) if "build_image.py" in b)
    layout_block = next(i for i, b in enumerate(blocks) if "sciregistry push-layout" in b)
    assert blocks_out[build_block].strip() == image_digest, log  # skopeo kept the digest of the build
    assert blocks_out[layout_block].strip() == image_digest, log  # and push-layout found it unchanged
    # step 7: a DOI was minted, and shows the result
    dois = DOI_LINE.findall(out)
    assert dois, log
    doi = dois[0]
    assert re.search(rf"^DOI:\s+{re.escape(doi)} \(findable\)", out, re.MULTILINE), log
    assert "@misc{" in out or "@dataset{" in out, log  # the BibTeX citation
    # step 7: the namespace was made public; the reviewer token was made for the DOI
    assert "namespace alice is public" in out, log
    assert re.search(
        rf"^token [0-9a-f]{{16}} for the reviewer of {re.escape(doi)} \(read-only", proc.stderr, re.MULTILINE
    ), log
    assert "error:" not in proc.stderr, log  # e.g. no "error: [Errno 32] Broken pipe" from '| head -n 1'
    # issue 16, as the guide runs it: doi show prints a full reference (the form every command takes);
    # a local test DOI is cited with its landing page, not a doi.org link that never resolves; the
    # administrator commands say which database they used (the server's); the reviewer's command
    # takes the landing page URL
    assert re.search(
        rf"^Result:\s+{re.escape(host)}/alice/gc-results@sha256:[0-9a-f]{{64}}$", out, re.MULTILINE
    ), log
    assert f"url = {{http://{host}/doi/{doi}}}" in out and "https://doi.org/" not in out, log
    assert (
        f"database: sqlite:///{(work / 'var').resolve()}/registry.db (data dir {(work / 'var').resolve()})"
        in proc.stderr
    ), log
    assert 'sciregistry reproduce "http://127.0.0.1:5000/doi/$DOI" --out reproduce-run1' in blocks[-1]
    # step 8: the verdict, reached after 'sciregistry logout': the public DOI needs no credentials
    report = json.loads((work / "reproduce-run1" / "report.json").read_text())
    assert report["doi"] == doi
    if proc.returncode == 0:
        assert report["verdict"] == "REPRODUCED", log
        assert "REPRODUCED: all 2 recorded output(s) are byte-identical" in out
    else:
        assert proc.returncode == 3 and report["verdict"] == "NOT_RUN", log
        assert re.search(r"^NOT_RUN", out, re.MULTILINE), log
    assert report["image"]["digest"] == image_digest
    assert os.path.isfile(work / "reproduce-run1" / "report.md")


def test_architecture_diagram_names_every_package() -> None:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    layers = text[text.index("## Layers") : text.index("## One request")]
    pkg = ROOT / "sciregistry"
    names = sorted(
        [f"{p.name}/" for p in pkg.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
        + [p.name for p in pkg.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    )
    missing = [n for n in names if not re.search(rf"^  {re.escape(n)}\s", layers, re.MULTILINE)]
    assert missing == []


def test_every_command_in_the_readme_exists_with_its_options() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    invocations = [inv for m in FENCE.finditer(text) for inv in extract_invocations(m.group(1))]
    assert len(invocations) >= 4
    problems = [f"{inv.line}\n    -> {p}" for inv in invocations for p in check_invocation(inv.argv)]
    assert problems == []
