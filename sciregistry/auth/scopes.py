"""Docker token scopes and sciregistry's API-token scope patterns.

Scopes (distribution ``docs/spec/auth/scope.md``, "Token Scope Documentation")
------------------------------------------------------------------------------
A client asks ``GET /token?service=...&scope=repository:lab/x:pull,push`` and may repeat ``scope``
or put several scopes, separated by spaces, in one value. The grammar, as implemented here::

    scope          := resourcescope [ ' ' resourcescope ]*
    resourcescope  := resourcetype ":" resourcename ":" action [ ',' action ]*
    resourcetype   := /[a-z0-9]+/ [ '(' /[a-z0-9]+/ ')' ]          e.g. repository, repository(plugin)
    resourcename   := [ hostname '/' ] component [ '/' component ]*
    hostname       := hostcomponent [ '.' hostcomponent ]* [ ':' port-number ]
    component      := /[a-z0-9]+/ [ separator /[a-z0-9]+/ ]*       separator := '.' | '_' | '__' | '-'+
    action         := /[a-z]+/ | '*'

Because a resource name may carry a ``host:port`` component (``repository:host:5000/x/y:pull``), the
*first* ``:`` ends the type and the *last* ``:`` starts the actions; everything between is the name.
An empty action list (``repository:x:``) is grammatical and requests nothing. Resource types other
than ``repository`` and ``registry`` parse fine (the token server grants nothing on them), as the
spec asks servers to ignore what they do not understand.

Examples::

    repository:lab-x/images/fastqc:pull,push
    repository:localhost:5000/lab-x/fastqc:pull
    registry:catalog:*

``*`` on a repository means every repository action (``pull``, ``push``, ``delete``;
go-containerregistry asks ``repository:x:*`` to delete). On other types it is kept literally.

Scope patterns (API tokens and robot accounts)
----------------------------------------------
An API token is limited by a list of patterns with the same shape, where the name may be:

    ``*``             every repository
    ``lab-x/*``       every repository under ``lab-x/``, at any depth (``lab-x/a``, ``lab-x/a/b``),
                      but not ``lab-x`` itself
    ``lab-x/fastqc``  exactly that repository

``*`` elsewhere in a name is rejected. ``repository:lab-x/*:pull,push`` lets a CI token push under
``lab-x``; ``registry:catalog:*`` lets it list the catalog.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sciregistry.auth.roles import DELETE, PULL, PUSH, REPOSITORY_ACTIONS

__all__ = [
    "MAX_SCOPES",
    "Scope",
    "ScopePattern",
    "expand_actions",
    "format_actions",
    "format_scope",
    "intersect_actions",
    "merge_scopes",
    "parse_scope",
    "parse_scope_pattern",
    "parse_scope_patterns",
    "patterns_allow",
]

REPOSITORY = "repository"
REGISTRY = "registry"
WILDCARD = "*"

#: Upper bound on scopes in one request (all ``scope`` parameters together): bounds the work a
#: single token request can cause. Real clients send one to three.
MAX_SCOPES = 64
_MAX_SCOPE_LEN = 1024

_TYPE = r"(?P<type>[a-z0-9]+)(?:\((?P<cls>[a-z0-9]+)\))?"
_HOSTCOMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOSTNAME = rf"{_HOSTCOMPONENT}(?:\.{_HOSTCOMPONENT})*(?::[0-9]+)?"
# The OCI distribution-spec name component (non-empty separators, so matching is linear).
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = rf"(?:{_HOSTNAME}/)?{_COMPONENT}(?:/{_COMPONENT})*"
_TYPE_RE = re.compile(_TYPE)
_NAME_RE = re.compile(_NAME)
_ACTION_RE = re.compile(r"[a-z]+|\*")

_ACTION_ORDER = {PULL: 0, PUSH: 1, DELETE: 2, WILDCARD: 3}


def _action_key(action: str) -> tuple[int, str]:
    return (_ACTION_ORDER.get(action, len(_ACTION_ORDER)), action)


def format_actions(actions: Iterable[str]) -> str:
    """Canonical action list: ``pull,push,delete,*`` first in that order, then others alphabetically."""
    return ",".join(sorted(set(actions), key=_action_key))


def expand_actions(resource_type: str, actions: Iterable[str]) -> frozenset[str]:
    """Replace ``*`` on a repository by every repository action; other types keep ``*`` literally."""
    acts = frozenset(actions)
    if resource_type == REPOSITORY and WILDCARD in acts:
        return (acts - {WILDCARD}) | REPOSITORY_ACTIONS
    return acts


def intersect_actions(resource_type: str, requested: Iterable[str], held: Iterable[str]) -> frozenset[str]:
    """What a token may carry: the requested actions the principal holds (``*`` expanded on both sides).

    ``intersect_actions("repository", {"pull", "push"}, {"pull"}) == {"pull"}``; the token
    endpoint grants this (possibly empty) set rather than failing (distribution token spec:
    the returned ``access`` is the intersection; the registry then answers 401/403 itself).
    """
    return expand_actions(resource_type, requested) & expand_actions(resource_type, held)


def _split(s: str, what: str) -> tuple[str, str | None, str, str]:
    """``type[(class)]:name:actions`` -> (type, class, name, actions) split at the first and last ``:``."""
    if len(s) > _MAX_SCOPE_LEN:
        raise ValueError(f"{what} is longer than {_MAX_SCOPE_LEN} characters")
    first = s.find(":")
    last = s.rfind(":")
    if first < 0 or first == last:
        raise ValueError(f"{what} {s!r} is not of the form type:name:actions")
    type_part, name, action_part = s[:first], s[first + 1 : last], s[last + 1 :]
    m = _TYPE_RE.fullmatch(type_part)
    if m is None:
        raise ValueError(f"{what} {s!r} has an invalid resource type {type_part!r}")
    return m.group("type"), m.group("cls"), name, action_part


def _parse_actions(action_part: str, s: str, what: str) -> frozenset[str]:
    if action_part == "":
        return frozenset()
    actions = action_part.split(",")
    for a in actions:
        if not _ACTION_RE.fullmatch(a):
            raise ValueError(f"{what} {s!r} has an invalid action {a!r} (lowercase letters or '*')")
    return frozenset(actions)


@dataclass(frozen=True, slots=True)
class Scope:
    """One resource scope: ``Scope("repository", "lab/x", frozenset({"pull"}))``.

    ``resource_class`` is the optional ``(class)`` suffix of the type (``repository(plugin)``).
    """

    type: str
    name: str
    actions: frozenset[str]
    resource_class: str | None = None

    def __str__(self) -> str:
        return format_scope(self)

    @property
    def expanded_actions(self) -> frozenset[str]:
        return expand_actions(self.type, self.actions)

    def restrict(self, held: Iterable[str]) -> Scope:
        """This scope limited to the ``held`` actions (what the token endpoint grants)."""
        return Scope(
            self.type, self.name, intersect_actions(self.type, self.actions, held), self.resource_class
        )

    def to_access(self) -> dict[str, Any]:
        """The JWT ``access`` entry ``{"type", "name", "actions": [...]}``, actions in canonical order."""
        entry: dict[str, Any] = {
            "type": self.type,
            "name": self.name,
            "actions": sorted(self.actions, key=_action_key),
        }
        if self.resource_class is not None:
            entry["class"] = self.resource_class
        return entry

    @classmethod
    def from_access(cls, entry: Mapping[str, Any]) -> Scope:
        """Inverse of :meth:`to_access`; ``ValueError`` when an entry is not ``{type, name, actions}``."""
        if not isinstance(entry, Mapping):
            raise ValueError(f"access entry must be an object, got {type(entry).__name__}")
        t, n, acts = entry.get("type"), entry.get("name"), entry.get("actions")
        c = entry.get("class")
        if not isinstance(t, str) or not t or not isinstance(n, str) or not n:
            raise ValueError("access entry needs non-empty string 'type' and 'name'")
        if not isinstance(acts, list | tuple | frozenset | set) or not all(isinstance(a, str) for a in acts):
            raise ValueError(f"access entry for {t}:{n} needs 'actions' as a list of strings")
        if c is not None and not isinstance(c, str):
            raise ValueError(f"access entry for {t}:{n} has a non-string 'class'")
        return cls(t, n, frozenset(acts), c)


def format_scope(scope: Scope) -> str:
    """``repository:lab/x:pull,push`` (canonical action order); inverse of :func:`parse_scope`."""
    t = scope.type if scope.resource_class is None else f"{scope.type}({scope.resource_class})"
    return f"{t}:{scope.name}:{format_actions(scope.actions)}"


def _parse_one(s: str) -> Scope:
    rtype, rclass, name, action_part = _split(s, "scope")
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"scope {s!r} has an invalid resource name {name!r}")
    return Scope(rtype, name, _parse_actions(action_part, s, "scope"), rclass)


def parse_scope(value: str | Iterable[str] | None) -> list[Scope]:
    """Parse one ``scope`` value or all of them (``request.args.getlist("scope")``), in order.

    Each value may hold several space-separated scopes; empty values are ignored, so
    ``parse_scope(None) == parse_scope("") == []``. Duplicates are kept (see :func:`merge_scopes`).
    Raises ``ValueError`` naming the offending scope, or when more than :data:`MAX_SCOPES` are given.
    """
    if value is None:
        return []
    values = [value] if isinstance(value, str) else list(value)
    out: list[Scope] = []
    for v in values:
        if not isinstance(v, str):
            raise ValueError(f"scope must be a string, got {type(v).__name__}")
        for part in v.split():
            if len(out) >= MAX_SCOPES:
                raise ValueError(f"too many scopes (more than {MAX_SCOPES})")
            out.append(_parse_one(part))
    return out


def merge_scopes(scopes: Iterable[Scope]) -> list[Scope]:
    """Union the actions of scopes naming the same resource; first-seen order is kept."""
    merged: dict[tuple[str, str | None, str], set[str]] = {}
    for s in scopes:
        merged.setdefault((s.type, s.resource_class, s.name), set()).update(s.actions)
    return [Scope(t, n, frozenset(a), c) for (t, c, n), a in merged.items()]


@dataclass(frozen=True, slots=True)
class ScopePattern:
    """A scope whose name may be ``*`` or end in ``/*``; limits what an API token may do.

    ``ScopePattern("repository", "lab-x/*", frozenset({"pull"})).allows("lab-x/a/b", "pull") is True``.
    """

    type: str
    name: str
    actions: frozenset[str]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{format_actions(self.actions)}"

    def matches(self, name: str, resource_type: str = REPOSITORY) -> bool:
        """Whether the pattern's type and name cover resource ``name`` (actions not considered)."""
        if resource_type != self.type:
            return False
        if self.name == WILDCARD:
            return True
        if self.name.endswith("/*"):
            prefix = self.name[:-1]  # keep the trailing '/'
            return len(name) > len(prefix) and name.startswith(prefix)
        return name == self.name

    def allows(self, name: str, action: str, resource_type: str = REPOSITORY) -> bool:
        """Whether ``action`` on ``name`` (a repository unless ``resource_type`` says so) is allowed."""
        if not self.matches(name, resource_type):
            return False
        if action in expand_actions(self.type, self.actions):
            return True
        # On non-repository types '*' is kept literally and still means "any action".
        return self.type != REPOSITORY and WILDCARD in self.actions

    def permitted(self, name: str, resource_type: str = REPOSITORY) -> frozenset[str]:
        """The actions permitted on ``name`` (``*`` expanded for repositories); empty if no match."""
        if not self.matches(name, resource_type):
            return frozenset()
        return expand_actions(self.type, self.actions)


def parse_scope_pattern(s: str) -> ScopePattern:
    """``repository:lab-x/*:pull,push`` -> :class:`ScopePattern`; ``ValueError`` on anything else.

    Only ``repository`` and ``registry`` patterns are accepted (a token limited to a type nobody
    checks is a configuration mistake worth reporting); a pattern must name at least one action.
    """
    s = s.strip()
    rtype, rclass, name, action_part = _split(s, "scope pattern")
    if rclass is not None:
        raise ValueError(f"scope pattern {s!r}: resource classes are not supported in patterns")
    if rtype not in (REPOSITORY, REGISTRY):
        raise ValueError(f"scope pattern {s!r}: unknown resource type {rtype!r} (repository or registry)")
    if name != WILDCARD:
        base = name.removesuffix("/*")
        if not _NAME_RE.fullmatch(base):
            raise ValueError(
                f"scope pattern {s!r}: invalid name {name!r} ('*', '<prefix>/*' or an exact repository name)"
            )
    actions = _parse_actions(action_part, s, "scope pattern")
    if not actions:
        raise ValueError(f"scope pattern {s!r} names no action")
    return ScopePattern(rtype, name, actions)


def parse_scope_patterns(value: str | Iterable[str]) -> list[ScopePattern]:
    """Several patterns, space-separated in one string or given as a list."""
    values = [value] if isinstance(value, str) else list(value)
    return [parse_scope_pattern(p) for v in values for p in v.split()]


def patterns_allow(
    patterns: Iterable[ScopePattern], name: str, action: str, resource_type: str = REPOSITORY
) -> bool:
    """True when any pattern allows ``action`` on ``name``."""
    return any(p.allows(name, action, resource_type) for p in patterns)
