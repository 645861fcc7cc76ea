"""Namespace roles."""

from __future__ import annotations

import itertools

import pytest

from sciregistry.auth.roles import (
    MANAGE,
    REPOSITORY_ACTIONS,
    Role,
    actions_for_role,
    highest_role,
    min_role_for,
    role_at_least,
)


@pytest.mark.parametrize(
    "role, actions",
    [
        (Role.READER, {"pull"}),
        (Role.WRITER, {"pull", "push"}),
        (Role.MAINTAINER, {"pull", "push", "delete"}),
        (Role.OWNER, {"pull", "push", "delete", "manage"}),
        ("owner", {"pull", "push", "delete", "manage"}),
        (None, set()),
    ],
)
def test_actions_for_role(role: Role | str | None, actions: set[str]) -> None:
    assert actions_for_role(role) == frozenset(actions)


def test_ordering() -> None:
    assert Role.READER < Role.WRITER < Role.MAINTAINER < Role.OWNER
    assert Role.OWNER > Role.READER and Role.OWNER >= Role.OWNER and Role.WRITER <= Role.WRITER
    assert sorted([Role.OWNER, Role.READER, Role.MAINTAINER, Role.WRITER]) == [
        Role.READER,
        Role.WRITER,
        Role.MAINTAINER,
        Role.OWNER,
    ]
    assert [r.rank for r in sorted(Role)] == [0, 1, 2, 3]
    with pytest.raises(TypeError):
        Role.OWNER < "reader"  # noqa: B015


def test_each_role_includes_the_ones_below() -> None:
    roles = sorted(Role)
    for lower, higher in itertools.pairwise(roles):
        assert lower.actions < higher.actions


def test_parse() -> None:
    assert Role.parse("Maintainer") == Role.MAINTAINER
    assert Role.parse(" owner ") == Role.OWNER
    assert Role.parse(Role.READER) is Role.READER
    with pytest.raises(
        ValueError, match="unknown role 'admin': expected one of owner, maintainer, writer, reader"
    ):
        Role.parse("admin")
    with pytest.raises(ValueError, match="unknown role"):
        Role.parse(3)  # type: ignore[arg-type]


def test_helpers() -> None:
    assert role_at_least("maintainer", Role.WRITER)
    assert role_at_least(Role.WRITER, "writer")
    assert not role_at_least(Role.READER, Role.WRITER)
    assert not role_at_least(None, Role.READER)
    assert highest_role([None, "reader", Role.MAINTAINER, "writer"]) == Role.MAINTAINER
    assert highest_role([]) is None and highest_role([None]) is None
    assert min_role_for("pull") == Role.READER
    assert min_role_for("push") == Role.WRITER
    assert min_role_for("delete") == Role.MAINTAINER
    assert min_role_for(MANAGE) == Role.OWNER
    assert min_role_for("*") is None
    assert Role.OWNER.can_manage_members and not Role.MAINTAINER.can_manage_members
    assert frozenset({"pull", "push", "delete"}) == REPOSITORY_ACTIONS
