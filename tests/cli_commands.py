"""Find ``sciregistry ...`` command lines in documents and check them against the real click tree.

Used by the CI-template test (``tests/workflows/test_ci_templates.py``) and the guide tests
(``tests/docs/test_guides.py``): every command a document tells a person (or a CI job) to type
must exist, with options the command accepts, the right number of arguments and every required
option given. Nothing is executed; the check walks :data:`sciregistry.cli.main` (a click group)
and runs click's own option parser on the arguments::

    for inv in extract_invocations(text):
        assert check_invocation(inv.argv) == [], inv.line

Shell handling: line continuations (``\\``) are joined, ``#`` comments dropped, and each line is
split with :mod:`shlex` (POSIX rules, ``;|&()<>`` as separators), so ``D=$(sciregistry push-layout
...)``, ``... | jq``, ``cmd && sciregistry ...`` and ``sciregistry ... <<< 'pw'`` are all found.
CI expressions (``${{ secrets.X }}`` in GitHub Actions) are replaced by a placeholder word first.
A command is any word whose last path component is ``sciregistry`` (``.venv/bin/sciregistry``
included) in command position, after optional ``NAME=value`` assignments.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

import click

__all__ = [
    "Invocation",
    "check_invocation",
    "clean_env",
    "command_tree",
    "extract_invocations",
    "load_by_path",
    "root_conftest",
    "sciregistry_cli",
    "shell_lines",
]

_SEPARATORS = {";", "|", "||", "&", "&&", "(", ")", "<", ">", "<<", "<<<", ">>", ">&", "<&", "&>", ";;", "|&"}
_REDIRECTS = {"<", ">", "<<", "<<<", ">>", ">&", "<&", "&>"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_CI_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


@dataclass(frozen=True)
class Invocation:
    """One ``sciregistry`` command found in a text: its arguments (after ``sciregistry``) and the
    logical line (continuations joined) it came from."""

    argv: tuple[str, ...]
    line: str


def shell_lines(text: str) -> list[str]:
    """Logical shell lines of ``text``: continuation backslashes joined, blank lines dropped."""
    out: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            out.append(current.strip())
        current = ""
    if current.strip():
        out.append(current.strip())
    return out


def _tokens(line: str) -> list[str]:
    lex = shlex.shlex(_CI_EXPRESSION.sub("CI_EXPRESSION", line), posix=True, punctuation_chars=";&|()<>")
    lex.whitespace_split = True
    lex.commenters = "#"
    return list(lex)


def _segments(tokens: list[str]) -> list[list[str]]:
    segments: list[list[str]] = [[]]
    skip_next = False
    for i, tok in enumerate(tokens):
        if skip_next:  # the target of a redirection is not an argument
            skip_next = False
            continue
        if tok in _SEPARATORS:
            if tok in _REDIRECTS:
                if (
                    segments[-1]
                    and segments[-1][-1].isdigit()
                    and i > 0
                    and tokens[i - 1] == segments[-1][-1]
                ):
                    segments[-1].pop()  # "2>" : the fd number is not an argument
                skip_next = True
                continue
            segments.append([])
            continue
        if tok.endswith("=$") and _ASSIGNMENT.match(tok):  # NAME=$(...): the command follows "("
            continue
        segments[-1].append(tok)
    return [s for s in segments if s]


def extract_invocations(text: str) -> list[Invocation]:
    """Every ``sciregistry`` command in the shell text ``text``, in order."""
    found: list[Invocation] = []
    for line in shell_lines(text):
        if "sciregistry" not in line:
            continue
        try:
            tokens = _tokens(line)
        except ValueError as exc:  # unbalanced quotes
            raise ValueError(f"cannot split shell line {line!r}: {exc}") from exc
        for seg in _segments(tokens):
            words = list(seg)
            while words and _ASSIGNMENT.match(words[0]):
                words.pop(0)
            if words and words[0].rsplit("/", 1)[-1] == "sciregistry":
                found.append(Invocation(tuple(words[1:]), line))
    return found


def command_tree(
    group: click.Group | None = None, prefix: tuple[str, ...] = ()
) -> dict[tuple[str, ...], click.Command]:
    """Every command path of the ``sciregistry`` CLI (``("run", "record")`` -> its click command)."""
    if group is None:
        from sciregistry.cli import main

        group = main
    out: dict[tuple[str, ...], click.Command] = {}
    for name, cmd in group.commands.items():
        out[(*prefix, name)] = cmd
        if isinstance(cmd, click.Group):
            out.update(command_tree(cmd, (*prefix, name)))
    return out


def _given(value: object) -> bool:
    """Whether click's parser saw a value (it marks absent parameters with a sentinel or None)."""
    return value is not None and "UNSET" not in repr(value) and value != ()


def check_invocation(argv: tuple[str, ...] | list[str]) -> list[str]:
    """Problems with ``sciregistry *argv``: unknown command, unknown option, option missing its
    value or given one it does not take, wrong number of arguments, missing required option.
    An empty list means click would accept the command line (values are not converted, so
    files need not exist)."""
    from sciregistry.cli import main

    cmd: click.Command = main
    path = ["sciregistry"]
    rest = list(argv)
    while isinstance(cmd, click.Group):
        if not rest:
            return [f"{' '.join(path)}: a subcommand is required"]
        word = rest.pop(0)
        if word in ("-h", "--help", "--version") and cmd is main:
            return []
        if word in ("-h", "--help"):
            return []
        sub = cmd.commands.get(word)
        if sub is None:
            return [f"{' '.join(path)}: no such command {word!r} (has: {', '.join(sorted(cmd.commands))})"]
        cmd = sub
        path.append(word)
    where = " ".join(path)
    if "-h" in rest or "--help" in rest:
        return []
    ctx = click.Context(cmd, info_name=path[-1])
    parser = cmd.make_parser(ctx)
    try:
        opts, args, _ = parser.parse_args(args=rest)
    except click.UsageError as exc:
        return [f"{where}: {exc.format_message()}"]
    problems: list[str] = []
    if args:
        problems.append(f"{where}: unexpected extra argument(s) {args}")
    for param in cmd.params:
        if isinstance(param, click.Argument) and param.required and not _given(opts.get(param.name)):
            problems.append(f"{where}: missing argument {param.human_readable_name}")
    for param in cmd.params:
        if (
            isinstance(param, click.Option)
            and param.required
            and not _given(opts.get(param.name))
            and not param.envvar
        ):
            problems.append(f"{where}: missing required option {param.opts[-1]}")
    return problems


# --- live servers for the documentation, CI-template and notebook tests ------------------------------


def root_conftest() -> Any:
    """``tests/conftest.py`` as a module (for ``start_server``). pytest imports it under the name
    ``conftest``, which another directory's ``conftest.py`` may replace, so it is found by path."""
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parent / "conftest.py"
    for mod in list(sys.modules.values()):
        file = getattr(mod, "__file__", None)
        if file and Path(file).resolve() == path and hasattr(mod, "start_server"):
            return mod
    return load_by_path("_sciregistry_root_conftest", path)


def load_by_path(name: str, path: Any) -> Any:
    """Import the file ``path`` as module ``name``, once (registered in ``sys.modules``, so that
    its dataclasses resolve their annotations).

    No bytecode is written beside it: ``workflows/gc-content/data/make_data.py`` lives in the reads
    directory the workflow examples push, and a ``data/__pycache__`` would become an input file."""
    import importlib.util
    import sys

    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    dont_write, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.dont_write_bytecode = dont_write
    return mod


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any ``SCIREGISTRY_*`` variable of the caller, plus ``extra``."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIREGISTRY_")}
    env.update(extra)
    return env


def sciregistry_cli(
    *args: str,
    data_dir: Any = None,
    input: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Any = None,
) -> str:
    """Run the installed ``sciregistry`` command (the virtualenv's) and return its stdout; fail the
    test with stderr when it exits non-zero. ``data_dir`` adds ``--data-dir``."""
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("sciregistry")
    argv = [str(exe), *args] + (["--data-dir", str(data_dir)] if data_dir is not None else [])
    proc = subprocess.run(
        argv,
        input=input,
        capture_output=True,
        text=True,
        env=env or clean_env(),
        cwd=cwd,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"sciregistry {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}"
        )
    return proc.stdout
