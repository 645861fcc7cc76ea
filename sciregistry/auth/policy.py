"""Who may do what on which repository: principals, visibility and the held-actions rule.

Pure (no Flask, no database): :mod:`sciregistry.registry.accounts` loads the values, the access
gate (``sciregistry.api.auth_gate``) and the token endpoint apply :func:`held_actions`.

The rule (DESIGN.md section 5), for a repository ``ns/rest`` (its namespace is the first path
component):

1. a *reviewer* token holds ``pull`` on the repositories of its DOI's closure and nothing else
   (which digests it may fetch is checked by the gate against the closure's pins);
2. an admin holds ``pull, push, delete`` everywhere;
3. otherwise the principal's role in ``ns`` grants its actions (reader: pull; writer: + push;
   maintainer, owner: + delete); a user is owner of the namespace named after them;
4. anyone holds ``pull`` on an existing *public* repository; a repository is public when its own
   setting says so, else when its namespace is public. Requiring existence here means a caller
   without a role gets the same answer for a missing repository as for a private one, whatever
   the endpoint (the gate answers both; the handlers, which differ per endpoint, see neither);
5. an API token narrows all of the above to its scope patterns.

Example::

    alice = Principal.user("alice", roles={"lab-x": Role.WRITER})
    held_actions(alice, "lab-x/fastqc", vis)       == {"pull", "push"}
    held_actions(alice, "alice/scratch", vis)      == {"pull", "push", "delete"}
    held_actions(ANONYMOUS, "lab-x/fastqc", vis)   == set()  (unless public and existing)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sciregistry.auth.roles import PULL, REPOSITORY_ACTIONS, Role
from sciregistry.auth.scopes import REGISTRY, ScopePattern, patterns_allow

__all__ = [
    "ANONYMOUS",
    "Principal",
    "Visibility",
    "held_actions",
    "namespace_of",
    "parse_duration",
    "valid_account_name",
]

_NO_ROLES: Mapping[str, Role] = MappingProxyType({})
#: User and namespace names: one repository-name path component (so a user's namespace is valid).
_ACCOUNT_NAME = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DURATION = re.compile(r"(\d{1,9})\s*([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def namespace_of(repository: str) -> str:
    """The first path component: ``namespace_of("lab-x/images/fastqc") == "lab-x"``."""
    return repository.split("/", 1)[0]


def valid_account_name(name: str, max_length: int = 64) -> bool:
    """Whether ``name`` can name a user or namespace: a lower-case repository path component."""
    return isinstance(name, str) and 0 < len(name) <= max_length and _ACCOUNT_NAME.fullmatch(name) is not None


def parse_duration(text: str) -> int:
    """``"30d"`` -> 2592000 seconds; units s, m, h, d, w; several may be combined (``"1d12h"``).

    ``ValueError`` on anything else, or on zero.
    """
    s = text.strip().lower() if isinstance(text, str) else ""
    pos, total = 0, 0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise ValueError(f"invalid duration {text!r}: use e.g. 30d, 12h, 45m, 2w or 3600s")
    if total <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    return total


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. ``kind``: anonymous, user, robot or reviewer.

    ``roles`` maps namespace -> role; ``scopes`` (API tokens) narrows everything, None = no limit;
    ``token_id`` names the API token used, if any; ``expires_at`` (Unix seconds) is the token's
    expiry; a reviewer has ``doi`` and the ``pins`` (repository, digest) of its closure.
    """

    kind: str
    name: str = ""
    is_admin: bool = False
    roles: Mapping[str, Role] = field(default_factory=lambda: _NO_ROLES)
    scopes: tuple[ScopePattern, ...] | None = None
    token_id: str | None = None
    expires_at: float | None = None
    doi: str | None = None
    pins: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def user(
        cls,
        name: str,
        *,
        is_admin: bool = False,
        roles: Mapping[str, Role] | None = None,
        scopes: tuple[ScopePattern, ...] | None = None,
        token_id: str | None = None,
        expires_at: float | None = None,
    ) -> Principal:
        """A user; their own namespace is always theirs (owner)."""
        all_roles = dict(roles or {})
        all_roles[name] = Role.OWNER
        return cls("user", name, is_admin, MappingProxyType(all_roles), scopes, token_id, expires_at)

    @property
    def authenticated(self) -> bool:
        return self.kind != "anonymous"

    @property
    def reviewer_repositories(self) -> frozenset[str]:
        return frozenset(r for r, _ in self.pins)

    @property
    def label(self) -> str:
        """How the audit log names the principal: ``alice``, ``alice (token 3f9a...)``, ``anonymous``."""
        if self.kind == "anonymous":
            return "anonymous"
        if self.kind == "reviewer":
            return f"reviewer of {self.doi} (token {self.token_id})"
        if self.token_id:
            return f"{self.name} (token {self.token_id})"
        return self.name

    def allows_scope(self, name: str, action: str, resource_type: str = "repository") -> bool:
        """The API-token narrowing alone (True when the principal is not a token)."""
        return self.scopes is None or patterns_allow(self.scopes, name, action, resource_type)

    @property
    def may_administer(self) -> bool:
        """Admin rights: an admin signed in with a password, or through a token scoped
        ``registry:admin:*``."""
        return self.is_admin and self.kind == "user" and self.allows_scope("admin", "*", REGISTRY)


ANONYMOUS = Principal("anonymous")


@dataclass(frozen=True, slots=True)
class Visibility:
    """Which namespaces are public and which repositories override their namespace."""

    public_namespaces: frozenset[str] = frozenset()
    repositories: Mapping[str, bool] = field(default_factory=dict)

    def is_public(self, repository: str) -> bool:
        own = self.repositories.get(repository)
        if own is not None:
            return own
        return namespace_of(repository) in self.public_namespaces


def held_actions(
    principal: Principal, repository: str, visibility: Visibility, exists: Callable[[str], bool] | None = None
) -> frozenset[str]:
    """The repository actions (subset of pull, push, delete) ``principal`` holds on ``repository``.

    ``exists(repository)`` is consulted only for reads granted by public visibility (rule 4);
    without it such a repository counts as existing.
    """
    if principal.kind == "reviewer":
        acts: frozenset[str] = (
            frozenset({PULL}) if repository in principal.reviewer_repositories else frozenset()
        )
    elif principal.is_admin:
        acts = REPOSITORY_ACTIONS
    else:
        role = principal.roles.get(namespace_of(repository))
        acts = (role.actions & REPOSITORY_ACTIONS) if role is not None else frozenset()
        if PULL not in acts and visibility.is_public(repository) and (exists is None or exists(repository)):
            acts = acts | {PULL}
    if principal.scopes is not None and acts:
        acts = frozenset(a for a in acts if patterns_allow(principal.scopes, repository, a))
    return acts
