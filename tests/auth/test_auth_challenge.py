"""WWW-Authenticate challenges and Authorization parsing."""

from __future__ import annotations

import base64
import random

import pytest

from sciregistry.auth.challenge import (
    MAX_AUTHORIZATION_LENGTH,
    BasicCredentials,
    BearerCredentials,
    Challenge,
    basic_challenge,
    bearer_challenge,
    parse_authorization,
    parse_challenge,
)
from sciregistry.auth.scopes import Scope, parse_scope

REALM = "https://reg.example.org/token"


def basic(raw: bytes | str) -> str:
    data = raw.encode() if isinstance(raw, str) else raw
    return "Basic " + base64.b64encode(data).decode()


# --- challenges -------------------------------------------------------------------------------


def test_bearer_without_scope() -> None:
    assert bearer_challenge(REALM, "reg.example.org") == (
        'Bearer realm="https://reg.example.org/token",service="reg.example.org"'
    )


def test_bearer_with_scope_object_and_string() -> None:
    expected = (
        'Bearer realm="https://reg.example.org/token",service="reg.example.org",'
        'scope="repository:lab/x:pull,push"'
    )
    scope = Scope("repository", "lab/x", frozenset({"push", "pull"}))
    assert bearer_challenge(REALM, "reg.example.org", scope) == expected
    assert bearer_challenge(REALM, "reg.example.org", [scope]) == expected
    assert bearer_challenge(REALM, "reg.example.org", "repository:lab/x:pull,push") == expected


def test_bearer_empty_scope_is_omitted() -> None:
    assert "scope" not in bearer_challenge(REALM, "svc", [])
    assert "scope" not in bearer_challenge(REALM, "svc", "")


def test_bearer_several_scopes_space_separated() -> None:
    value = bearer_challenge(REALM, "svc", parse_scope("repository:a:pull repository:b:pull,push"))
    assert value.endswith('scope="repository:a:pull repository:b:pull,push"')


def test_bearer_insufficient_scope() -> None:
    assert bearer_challenge(REALM, "svc", "repository:lab/x:push", error="insufficient_scope") == (
        'Bearer realm="https://reg.example.org/token",service="svc",scope="repository:lab/x:push",'
        'error="insufficient_scope"'
    )


def test_bearer_invalid_token_with_description() -> None:
    assert bearer_challenge(REALM, "svc", error="invalid_token", error_description='token "x" expired') == (
        'Bearer realm="https://reg.example.org/token",service="svc",error="invalid_token",'
        'error_description="token \\"x\\" expired"'
    )


def test_bearer_rejects_unknown_error_and_control_characters() -> None:
    with pytest.raises(ValueError, match="unknown bearer error 'bogus'"):
        bearer_challenge(REALM, "svc", error="bogus")
    with pytest.raises(ValueError, match="control character"):
        bearer_challenge(REALM + "\r\nSet-Cookie: x=1", "svc")


def test_basic_challenge() -> None:
    assert basic_challenge("sciregistry") == 'Basic realm="sciregistry",charset="UTF-8"'
    assert basic_challenge('my "lab"', charset=None) == 'Basic realm="my \\"lab\\""'


def test_parse_challenge_roundtrip() -> None:
    header = bearer_challenge(
        REALM,
        "svc",
        "repository:a:pull repository:b:push",
        error="insufficient_scope",
        error_description='quote " and backslash \\',
    )
    assert parse_challenge(header) == Challenge(
        "bearer",
        {
            "realm": REALM,
            "service": "svc",
            "scope": "repository:a:pull repository:b:push",
            "error": "insufficient_scope",
            "error_description": 'quote " and backslash \\',
        },
    )
    assert parse_challenge('Basic realm="x", charset=UTF-8') == Challenge(
        "basic", {"realm": "x", "charset": "UTF-8"}
    )


@pytest.mark.parametrize(
    "bad", ['Bearer realm="unterminated', "Bearer realm", "Bearer =x", '"Bearer" realm="x"']
)
def test_parse_challenge_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_challenge(bad)


# --- Authorization ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, expected",
    [
        (basic("alice:s3cret"), BasicCredentials("alice", "s3cret")),
        (basic("alice:pa:ss:word"), BasicCredentials("alice", "pa:ss:word")),  # ':' allowed in the password
        (basic("alice:"), BasicCredentials("alice", "")),
        (basic(":pw"), BasicCredentials("", "pw")),
        (basic("jürgen:pässwörd✓"), BasicCredentials("jürgen", "pässwörd✓")),
        ("basic " + base64.b64encode(b"a:b").decode(), BasicCredentials("a", "b")),
        ("BASIC   " + base64.b64encode(b"a:b").decode() + "  ", BasicCredentials("a", "b")),
        (
            "Basic " + base64.b64encode(b"alice:x").decode().rstrip("="),
            BasicCredentials("alice", "x"),
        ),  # no padding
        (
            "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln",
            BearerCredentials("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"),
        ),
        ("bearer abc-._~+/==", BearerCredentials("abc-._~+/==")),
        (None, None),
        ("", None),
        ("   ", None),
        ('Digest username="a", realm="b"', None),
        ("Negotiate YIIG", None),
        ("Basicx YWJj", None),
    ],
)
def test_parse_authorization(header: str | None, expected: object) -> None:
    assert parse_authorization(header) == expected


@pytest.mark.parametrize(
    "header, match",
    [
        ("Basic", "Basic credentials are empty"),
        ("Basic    ", "Basic credentials are empty"),
        ("Basic !!!!", "not base64"),
        ("Basic YWJj ZGVm", "not base64"),
        ("Basic Y", "bad length"),
        ("Basic YW-j", "not valid base64"),
        ("Basic YWJ~", "not valid base64"),
        (basic("no-colon-here"), "no ':'"),
        (basic(b"alice:\xff\xfe"), "not UTF-8"),
        (basic("alice:pass\nword"), "control characters"),
        (basic("al\x00ice:pw"), "control characters"),
        ("Bearer", "Bearer credentials are empty"),
        ("Bearer a b", "token68"),
        ('Bearer a"b', "token68"),
        ("Bearer " + "a" * MAX_AUTHORIZATION_LENGTH, "longer than"),
    ],
)
def test_parse_authorization_malformed(header: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_authorization(header)


def test_parse_authorization_non_string() -> None:
    with pytest.raises(ValueError, match="must be a string"):
        parse_authorization(b"Basic YTpi")  # type: ignore[arg-type]


def test_password_not_in_repr() -> None:
    creds = parse_authorization(basic("alice:hunter2"))
    assert "hunter2" not in repr(creds)
    assert "hunter2" not in repr(parse_authorization("Bearer hunter2"))


def test_parse_authorization_fuzz() -> None:
    """Garbage in: only None, credentials or ValueError come out."""
    rng = random.Random(1234)
    prefixes = ["", "Basic ", "Bearer ", "basic", "BEARER  ", "Digest ", " "]
    alphabet = [chr(c) for c in range(0x250)] + list("+/=:. \t")
    for _ in range(3000):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        if rng.random() < 0.3:
            body = base64.b64encode(bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 30)))).decode()
        header = rng.choice(prefixes) + body
        try:
            result = parse_authorization(header)
        except ValueError:
            continue
        assert result is None or isinstance(result, BasicCredentials | BearerCredentials)
