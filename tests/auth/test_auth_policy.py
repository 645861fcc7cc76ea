"""The held-actions rule, visibility, principals and durations (sciregistry.auth.policy)."""

from __future__ import annotations

import pytest

from sciregistry.auth import (
    ANONYMOUS,
    Principal,
    Role,
    Visibility,
    held_actions,
    namespace_of,
    parse_duration,
    parse_scope_patterns,
    valid_account_name,
)

VIS = Visibility(frozenset({"pub"}), {"pub/secret": False, "lab/open": True})
ALL = frozenset({"pull", "push", "delete"})


def exists(name: str) -> bool:
    return name in {"pub/tools", "pub/secret", "lab/open", "lab/x"}


@pytest.mark.parametrize(
    ("principal", "repo", "expected"),
    [
        (Principal.user("alice", roles={"lab": Role.READER}), "lab/x", {"pull"}),
        (Principal.user("alice", roles={"lab": Role.WRITER}), "lab/x/deep", {"pull", "push"}),
        (Principal.user("alice", roles={"lab": Role.MAINTAINER}), "lab/x", ALL),
        (Principal.user("alice", roles={"lab": Role.OWNER}), "lab/x", ALL),
        (Principal.user("alice"), "alice/anything", ALL),  # the personal namespace
        (Principal.user("alice"), "lab/x", set()),
        (Principal.user("alice"), "pub/tools", {"pull"}),
        (Principal.user("alice"), "pub/missing", set()),  # public only when it exists
        (Principal.user("alice"), "pub/secret", set()),  # a private repository in a public namespace
        (Principal.user("alice"), "lab/open", {"pull"}),  # a public repository in a private namespace
        (Principal.user("root", is_admin=True), "anyone/x", ALL),
        (ANONYMOUS, "pub/tools", {"pull"}),
        (ANONYMOUS, "lab/x", set()),
        (ANONYMOUS, "pub/secret", set()),
        (
            Principal.user(
                "alice",
                roles={"lab": Role.OWNER},
                scopes=tuple(parse_scope_patterns("repository:lab/*:pull")),
            ),
            "lab/x",
            {"pull"},
        ),
        (
            Principal.user("alice", scopes=tuple(parse_scope_patterns("repository:lab/*:pull,push"))),
            "alice/x",
            set(),
        ),
        (
            Principal.user("root", is_admin=True, scopes=tuple(parse_scope_patterns("repository:a/*:*"))),
            "a/b",
            ALL,
        ),
        (
            Principal.user("root", is_admin=True, scopes=tuple(parse_scope_patterns("repository:a/*:*"))),
            "b/c",
            set(),
        ),
        (Principal("robot", "lab+ci", roles={"lab": Role.WRITER}), "lab/x", {"pull", "push"}),
        (Principal("robot", "lab+ci", roles={"lab": Role.WRITER}), "other/x", set()),
        (
            Principal("reviewer", "reviewer", pins=frozenset({("lab/x", "sha256:" + "a" * 64)})),
            "lab/x",
            {"pull"},
        ),
        (
            Principal("reviewer", "reviewer", pins=frozenset({("lab/x", "sha256:" + "a" * 64)})),
            "lab/open",
            set(),
        ),
    ],
)
def test_held_actions(principal: Principal, repo: str, expected: set[str]) -> None:
    assert held_actions(principal, repo, VIS, exists) == frozenset(expected)


def test_visibility_and_names() -> None:
    assert VIS.is_public("pub/a/b") and not VIS.is_public("pub/secret") and VIS.is_public("lab/open")
    assert not VIS.is_public("lab/x")
    assert namespace_of("lab-x/images/fastqc") == "lab-x" and namespace_of("busybox") == "busybox"
    assert valid_account_name("lab-x") and valid_account_name("a.b_c")
    assert not valid_account_name("Alice") and not valid_account_name("a/b") and not valid_account_name("a+b")
    assert not valid_account_name("") and not valid_account_name("x" * 65)


def test_principal_labels_and_admin() -> None:
    assert ANONYMOUS.label == "anonymous" and not ANONYMOUS.authenticated
    assert Principal.user("alice").label == "alice"
    assert Principal.user("alice", token_id="abc").label == "alice (token abc)"
    assert (
        Principal("reviewer", "reviewer", token_id="t1", doi="10.5072/x").label
        == "reviewer of 10.5072/x (token t1)"
    )
    assert Principal.user("root", is_admin=True).may_administer
    assert not Principal.user(
        "root", is_admin=True, scopes=tuple(parse_scope_patterns("repository:*:*"))
    ).may_administer
    assert Principal.user(
        "root", is_admin=True, scopes=tuple(parse_scope_patterns("registry:admin:*"))
    ).may_administer
    assert not Principal.user("alice").may_administer


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 2592000),
        ("12h", 43200),
        ("45m", 2700),
        ("2w", 1209600),
        ("3600s", 3600),
        ("1d12h", 129600),
        (" 7D ", 604800),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "1y", "0d", "-1d", "1d x", "12h30"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
