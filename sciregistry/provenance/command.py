"""The one command renderer: what a person copies is what runs.

A run records a command *template* and its parameters; ``{name}`` placeholders stand for the
recorded values. Landing pages, the web pages, the CLI and ``reproduce`` all show or run
:func:`render_command`'s output, so they never disagree. Every value goes through
:func:`shlex.quote`, so ``label = "a b; rm -rf x"`` renders as ``'a b; rm -rf x'``: copied into
a shell it is one argument, never a second command.

Pure (standard library only)::

    render_command("count --k {k} --label {label} /in /out", {"k": 3, "label": "a b; rm -rf x"})
    == "count --k 3 --label 'a b; rm -rf x' /in /out"
    unknown_parameters("gc.sh --min-length {min_length}", ["k"]) == ["min_length"]

``${NAME}`` is shell syntax and not a placeholder; ``{print $1}`` (awk) is not one either.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "format_value",
    "placeholders",
    "render_command",
    "unknown_parameters",
    "unknown_parameters_message",
]

_PLACEHOLDER = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(template: str) -> set[str]:
    """The parameter names ``template`` refers to as ``{name}``."""
    return {m.group(1) for m in _PLACEHOLDER.finditer(template)}


def unknown_parameters(template: str, recorded: Iterable[str]) -> list[str]:
    """Placeholders of ``template`` that name no recorded parameter, sorted (empty: renderable)."""
    return sorted(placeholders(template) - set(recorded))


def unknown_parameters_message(template: str, recorded: Iterable[str]) -> str | None:
    """A sentence naming the unknown placeholders of ``template``, or None when there are none."""
    names = sorted(set(recorded))
    unknown = unknown_parameters(template, names)
    if not unknown:
        return None
    return (
        "command template names unknown parameter(s) "
        + ", ".join("{" + u + "}" for u in unknown)
        + f" (recorded parameters: {', '.join(names) or 'none'})"
    )


def format_value(value: Any) -> str:
    """A parameter value as one shell word: strings as they are, other scalars as JSON (``3``,
    ``0.25``, ``true``), always through :func:`shlex.quote` (plain words stay unquoted)."""
    if isinstance(value, (dict, list)) or value is None:
        raise ValueError(f"parameter value {value!r} is not a scalar")
    text = value if isinstance(value, str) else json.dumps(value)
    return shlex.quote(text)


def render_command(template: str, params: Mapping[str, Any]) -> str:
    """Replace each ``{name}`` in ``template`` with the shell-quoted value of parameter ``name``.

    A placeholder naming no recorded parameter raises ValueError (the registry refuses such runs at
    admission, the client when recording)."""
    message = unknown_parameters_message(template, params)
    if message is not None:
        raise ValueError(message)
    return _PLACEHOLDER.sub(lambda m: format_value(params[m.group(1)]), template)
