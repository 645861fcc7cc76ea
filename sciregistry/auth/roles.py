"""Namespace roles and the registry actions each one grants (DESIGN.md section 5).

Roles are ordered ``owner > maintainer > writer > reader``; each role grants everything the
roles below it grant:

    role        pull  push  delete  manage (members, visibility, namespace settings)
    reader       x
    writer       x     x
    maintainer   x     x     x
    owner        x     x     x       x

``pull``, ``push`` and ``delete`` are the Docker token actions (distribution ``docs/spec/auth/scope.md``).
``manage`` is sciregistry's own administrative action; it is never implied by the Docker ``*``
wildcard (see :func:`sciregistry.auth.scopes.expand_actions`), so a Docker client asking for
``repository:x:*`` receives at most ``pull,push,delete``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = [
    "DELETE",
    "MANAGE",
    "PULL",
    "PUSH",
    "REPOSITORY_ACTIONS",
    "Role",
    "actions_for_role",
    "highest_role",
    "min_role_for",
    "role_at_least",
]

PULL = "pull"
PUSH = "push"
DELETE = "delete"
MANAGE = "manage"

#: The repository actions of the Docker token scope grammar; what ``*`` expands to.
REPOSITORY_ACTIONS: frozenset[str] = frozenset({PULL, PUSH, DELETE})


class Role(enum.Enum):
    """A member's role in a namespace. Compare with ``<``/``>=``: ``Role.OWNER > Role.READER``."""

    READER = "reader"
    WRITER = "writer"
    MAINTAINER = "maintainer"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        """0 for reader .. 3 for owner."""
        return _RANK[self]

    @property
    def actions(self) -> frozenset[str]:
        return _ACTIONS[self]

    @property
    def can_manage_members(self) -> bool:
        return MANAGE in _ACTIONS[self]

    @classmethod
    def parse(cls, value: str | Role) -> Role:
        """``Role.parse("Maintainer")`` -> ``Role.MAINTAINER``; ``ValueError`` naming the valid roles."""
        if isinstance(value, Role):
            return value
        if isinstance(value, str):
            try:
                return cls(value.strip().lower())
            except ValueError:
                pass
        valid = ", ".join(r.value for r in sorted(cls, reverse=True))
        raise ValueError(f"unknown role {value!r}: expected one of {valid}")

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Role):
            return NotImplemented
        return _RANK[self] < _RANK[other]

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Role):
            return NotImplemented
        return _RANK[self] <= _RANK[other]

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Role):
            return NotImplemented
        return _RANK[self] > _RANK[other]

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Role):
            return NotImplemented
        return _RANK[self] >= _RANK[other]


_RANK: dict[Role, int] = {Role.READER: 0, Role.WRITER: 1, Role.MAINTAINER: 2, Role.OWNER: 3}
_ACTIONS: dict[Role, frozenset[str]] = {
    Role.READER: frozenset({PULL}),
    Role.WRITER: frozenset({PULL, PUSH}),
    Role.MAINTAINER: frozenset({PULL, PUSH, DELETE}),
    Role.OWNER: frozenset({PULL, PUSH, DELETE, MANAGE}),
}


def actions_for_role(role: Role | str | None) -> frozenset[str]:
    """The actions ``role`` grants on every repository of its namespace; ``None`` (no role) grants none."""
    if role is None:
        return frozenset()
    return _ACTIONS[Role.parse(role)]


def role_at_least(role: Role | str | None, minimum: Role | str) -> bool:
    """True when ``role`` is ``minimum`` or above; ``None`` (not a member) is below every role."""
    if role is None:
        return False
    return Role.parse(role) >= Role.parse(minimum)


def highest_role(roles: Iterable[Role | str | None]) -> Role | None:
    """The highest of ``roles`` (e.g. a user's direct role and the roles of their groups), or ``None``."""
    best: Role | None = None
    for r in roles:
        if r is None:
            continue
        role = Role.parse(r)
        if best is None or role > best:
            best = role
    return best


def min_role_for(action: str) -> Role | None:
    """The lowest role granting ``action`` (``"push"`` -> writer), ``None`` when no role grants it."""
    for role in sorted(Role):
        if action in _ACTIONS[role]:
            return role
    return None
