"""Docker token scope grammar and API-token scope patterns."""

from __future__ import annotations

import time

import pytest

from sciregistry.auth.scopes import (
    MAX_SCOPES,
    Scope,
    ScopePattern,
    expand_actions,
    format_actions,
    format_scope,
    intersect_actions,
    merge_scopes,
    parse_scope,
    parse_scope_pattern,
    parse_scope_patterns,
    patterns_allow,
)

F = frozenset
ALL = F({"pull", "push", "delete"})


@pytest.mark.parametrize(
    "text, expected",
    [
        ("repository:lab/x:pull", Scope("repository", "lab/x", F({"pull"}))),
        (
            "repository:lab-x/images/fastqc:pull,push",
            Scope("repository", "lab-x/images/fastqc", F({"pull", "push"})),
        ),
        ("repository:samalba/my-app:pull,push,delete", Scope("repository", "samalba/my-app", ALL)),
        # a host:port component: the last ':' separates the actions
        ("repository:host:5000/x/y:pull", Scope("repository", "host:5000/x/y", F({"pull"}))),
        (
            "repository:localhost:5000/lab/a:push,pull",
            Scope("repository", "localhost:5000/lab/a", F({"pull", "push"})),
        ),
        ("repository:reg.example.org/lab/a:pull", Scope("repository", "reg.example.org/lab/a", F({"pull"}))),
        ("repository:Reg.Example.org:443/a:pull", Scope("repository", "Reg.Example.org:443/a", F({"pull"}))),
        ("registry:catalog:*", Scope("registry", "catalog", F({"*"}))),
        ("repository:a:*", Scope("repository", "a", F({"*"}))),
        ("repository(plugin):lab/plug:pull", Scope("repository", "lab/plug", F({"pull"}), "plugin")),
        # empty action list: grammatical, requests nothing
        ("repository:lab/x:", Scope("repository", "lab/x", F())),
        # unknown resource type: parsed, the token server grants nothing for it
        ("foo:bar:baz", Scope("foo", "bar", F({"baz"}))),
        # separators of the name grammar
        ("repository:a.b_c__d---e/f:pull", Scope("repository", "a.b_c__d---e/f", F({"pull"}))),
        # duplicate actions collapse
        ("repository:a:pull,pull", Scope("repository", "a", F({"pull"}))),
    ],
)
def test_parse_scope_valid(text: str, expected: Scope) -> None:
    assert parse_scope(text) == [expected]


@pytest.mark.parametrize(
    "text, match",
    [
        ("repository", "type:name:actions"),
        ("repository:lab/x", "type:name:actions"),
        (":lab/x:pull", "resource type ''"),
        ("Repository:lab/x:pull", "resource type 'Repository'"),
        ("repo-sitory:lab/x:pull", "resource type"),
        ("repository(:x:pull", "resource type"),
        ("repository::pull", "resource name ''"),
        ("repository:lab/X:pull", "resource name"),
        ("repository:lab//x:pull", "resource name"),
        ("repository:lab/x/:pull", "resource name"),
        ("repository:/lab:pull", "resource name"),
        ("repository:-lab:pull", "resource name"),
        ("repository:lab_:pull", "resource name"),
        ("repository:host:port/x:pull", "resource name"),
        ("repository:a:PULL", "invalid action 'PULL'"),
        ("repository:a:pull,,push", "invalid action ''"),
        ("repository:a:pull,", "invalid action ''"),
        ("repository:a:pu-ll", "invalid action"),
        ("repository:a:**", "invalid action"),
    ],
)
def test_parse_scope_invalid(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_scope(text)


def test_parse_scope_several_values_and_spaces() -> None:
    scopes = parse_scope(["repository:a:pull", "  repository:b:push   registry:catalog:*  ", ""])
    assert [format_scope(s) for s in scopes] == [
        "repository:a:pull",
        "repository:b:push",
        "registry:catalog:*",
    ]
    assert parse_scope(None) == [] and parse_scope("") == [] and parse_scope(["", " "]) == []


def test_parse_scope_one_bad_among_many() -> None:
    with pytest.raises(ValueError, match="'push'"):
        parse_scope("repository:a:pull push")


def test_parse_scope_limits() -> None:
    assert len(parse_scope(["repository:a:pull"] * MAX_SCOPES)) == MAX_SCOPES
    with pytest.raises(ValueError, match="too many scopes"):
        parse_scope(["repository:a:pull"] * (MAX_SCOPES + 1))
    with pytest.raises(ValueError, match="longer than 1024"):
        parse_scope("repository:" + "a" * 1100 + ":pull")
    with pytest.raises(ValueError, match="must be a string"):
        parse_scope([b"repository:a:pull"])  # type: ignore[list-item]


def test_parse_scope_is_linear_on_hostile_names() -> None:
    hostile = [
        "repository:" + "a-" * 500 + "!:pull",
        "repository:" + "a." * 500 + ":pull",
        "repository:" + "a" * 1000 + "_:pull",
    ]
    start = time.perf_counter()
    for h in hostile:
        with pytest.raises(ValueError):
            parse_scope(h)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize(
    "scope, text",
    [
        (Scope("repository", "a/b", F({"push", "pull"})), "repository:a/b:pull,push"),
        (Scope("repository", "a/b", F({"delete", "push", "pull"})), "repository:a/b:pull,push,delete"),
        (Scope("repository", "a/b", F({"zzz", "*", "pull", "aaa"})), "repository:a/b:pull,*,aaa,zzz"),
        (Scope("repository", "a/b", F()), "repository:a/b:"),
        (Scope("repository", "h:5000/a", F({"pull"}), "plugin"), "repository(plugin):h:5000/a:pull"),
    ],
)
def test_format_scope_and_roundtrip(scope: Scope, text: str) -> None:
    assert format_scope(scope) == str(scope) == text
    assert parse_scope(text) == [scope]


def test_format_actions() -> None:
    assert format_actions(["delete", "pull", "push", "pull"]) == "pull,push,delete"


def test_merge_scopes() -> None:
    merged = merge_scopes(
        parse_scope("repository:a:pull repository:b:pull repository:a:push repository(plugin):a:delete")
    )
    assert merged == [
        Scope("repository", "a", F({"pull", "push"})),
        Scope("repository", "b", F({"pull"})),
        Scope("repository", "a", F({"delete"}), "plugin"),
    ]


def test_expand_and_intersect_actions() -> None:
    assert expand_actions("repository", {"*"}) == ALL
    assert expand_actions("repository", {"pull", "manage"}) == F({"pull", "manage"})
    assert expand_actions("registry", {"*"}) == F({"*"})
    assert intersect_actions("repository", {"pull", "push"}, {"pull"}) == F({"pull"})
    assert intersect_actions("repository", {"*"}, {"pull", "push"}) == F({"pull", "push"})
    assert intersect_actions("repository", {"delete"}, {"*"}) == F({"delete"})
    assert intersect_actions("repository", {"*"}, {"pull", "push", "delete", "manage"}) == ALL
    assert intersect_actions("registry", {"*"}, {"*"}) == F({"*"})
    assert intersect_actions("registry", {"*"}, {"pull"}) == F()


def test_scope_restrict() -> None:
    s = Scope("repository", "a", F({"pull", "push"}))
    assert s.restrict({"pull"}) == Scope("repository", "a", F({"pull"}))
    assert s.restrict(set()) == Scope("repository", "a", F())
    assert Scope("repository", "a", F({"*"})).expanded_actions == ALL


def test_access_entry_roundtrip() -> None:
    s = Scope("repository", "lab/x", F({"push", "pull"}))
    assert s.to_access() == {"type": "repository", "name": "lab/x", "actions": ["pull", "push"]}
    assert Scope.from_access(s.to_access()) == s
    c = Scope("repository", "lab/x", F({"pull"}), "plugin")
    assert c.to_access()["class"] == "plugin" and Scope.from_access(c.to_access()) == c


@pytest.mark.parametrize(
    "entry, match",
    [
        ("repository:a:pull", "must be an object"),
        ({"type": "repository", "name": "a"}, "'actions'"),
        ({"type": "repository", "name": "a", "actions": "pull"}, "'actions'"),
        ({"type": "repository", "name": "a", "actions": [1]}, "'actions'"),
        ({"type": "", "name": "a", "actions": []}, "'type' and 'name'"),
        ({"type": "repository", "name": 3, "actions": []}, "'type' and 'name'"),
        ({"type": "repository", "name": "a", "actions": [], "class": 1}, "'class'"),
    ],
)
def test_from_access_rejects(entry: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Scope.from_access(entry)  # type: ignore[arg-type]


# --- patterns ---------------------------------------------------------------------------------

PATTERN_TABLE = [
    # pattern, resource name, action, expected
    ("repository:*:pull", "a", "pull", True),
    ("repository:*:pull", "a/b/c", "pull", True),
    ("repository:*:pull", "a/b/c", "push", False),
    ("repository:lab-x/*:pull,push", "lab-x/a", "push", True),
    ("repository:lab-x/*:pull,push", "lab-x/a/b/c", "pull", True),
    ("repository:lab-x/*:pull,push", "lab-x/a", "delete", False),
    ("repository:lab-x/*:pull,push", "lab-x", "pull", False),  # not the namespace itself
    ("repository:lab-x/*:pull,push", "lab-xy/a", "pull", False),  # not a sibling with the same prefix
    ("repository:lab-x/*:pull,push", "lab/x", "pull", False),
    ("repository:lab-x/*:pull,push", "other/lab-x/a", "pull", False),
    ("repository:lab-x/*:pull,push", "lab-x/", "pull", False),
    ("repository:lab-x/team/*:pull", "lab-x/team/a", "pull", True),
    ("repository:lab-x/team/*:pull", "lab-x/a", "pull", False),
    ("repository:lab-x/fastqc:pull", "lab-x/fastqc", "pull", True),
    ("repository:lab-x/fastqc:pull", "lab-x/fastqc/sub", "pull", False),
    ("repository:lab-x/fastqc:pull", "lab-x/fastqc2", "pull", False),
    ("repository:lab-x/fastqc:pull", "lab-x/fastqc", "push", False),
    ("repository:lab-x/*:*", "lab-x/a", "delete", True),
    ("repository:lab-x/*:*", "lab-x/a", "manage", False),  # '*' is the Docker actions only
    ("repository:lab-x/*:pull,manage", "lab-x/a", "manage", True),
]


@pytest.mark.parametrize("pattern, name, action, expected", PATTERN_TABLE)
def test_pattern_table(pattern: str, name: str, action: str, expected: bool) -> None:
    assert parse_scope_pattern(pattern).allows(name, action) is expected


def test_registry_patterns() -> None:
    p = parse_scope_pattern("registry:catalog:*")
    assert p.allows("catalog", "*", "registry") is True
    assert p.allows("catalog", "list", "registry") is True
    assert p.allows("catalog", "*") is False  # a repository named catalog is another resource
    assert parse_scope_pattern("repository:*:*").allows("catalog", "*", "registry") is False


def test_pattern_permitted() -> None:
    p = parse_scope_pattern("repository:lab-x/*:*")
    assert p.permitted("lab-x/a") == ALL
    assert p.permitted("lab-y/a") == F()
    assert p == ScopePattern("repository", "lab-x/*", F({"*"}))
    assert str(p) == "repository:lab-x/*:*"


@pytest.mark.parametrize(
    "text, match",
    [
        ("repository:lab-*/x:pull", "invalid name"),
        ("repository:*/x:pull", "invalid name"),
        ("repository:lab/x*:pull", "invalid name"),
        ("repository:lab/**:pull", "invalid name"),
        ("repository:/*:pull", "invalid name"),
        ("repository:lab/x:", "names no action"),
        ("foo:*:pull", "unknown resource type 'foo'"),
        ("repository(plugin):x:pull", "resource classes"),
        ("repository:x", "type:name:actions"),
        ("repository:x:Pull", "invalid action"),
    ],
)
def test_pattern_invalid(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_scope_pattern(text)


def test_parse_scope_patterns_and_patterns_allow() -> None:
    patterns = parse_scope_patterns("repository:lab-x/*:pull,push  repository:shared/base:pull")
    assert len(patterns) == 2
    assert parse_scope_patterns(["repository:lab-x/*:pull,push", "repository:shared/base:pull"]) == patterns
    assert patterns_allow(patterns, "lab-x/a", "push")
    assert patterns_allow(patterns, "shared/base", "pull")
    assert not patterns_allow(patterns, "shared/base", "push")
    assert not patterns_allow([], "lab-x/a", "pull")
