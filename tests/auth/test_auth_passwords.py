"""Argon2id password hashing."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from argon2 import PasswordHasher

from sciregistry.auth import passwords
from sciregistry.auth.passwords import (
    MAX_PASSWORD_LENGTH,
    SERVER_PARAMS,
    TEST_PARAMS,
    PasswordParams,
    check_password,
    dummy_verify,
    hash_password,
    needs_rehash,
    validate_new_password,
    verify_password,
)

PW = "correct horse battery staple"


def test_server_params_are_owasp_argon2id() -> None:
    assert (
        PasswordParams(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16)
        == SERVER_PARAMS
    )


def test_hash_format_and_roundtrip() -> None:
    h = hash_password(PW, TEST_PARAMS)
    assert h.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert verify_password(h, PW) is True
    assert verify_password(h, PW + " ") is False
    assert verify_password(h, PW.upper()) is False


def test_hash_never_contains_the_password() -> None:
    for pw in (PW, "hunter2hunter2", "a-Longer-Passphrase with spaces"):
        h = hash_password(pw, TEST_PARAMS)
        assert pw not in h
        assert base64.b64encode(pw.encode()).decode().rstrip("=") not in h
        assert pw.encode().hex() not in h


def test_salted() -> None:
    assert hash_password(PW, TEST_PARAMS) != hash_password(PW, TEST_PARAMS)


def test_server_params_hash() -> None:
    h = hash_password(PW)
    assert h.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(h, PW)
    assert not needs_rehash(h)


def test_needs_rehash() -> None:
    h = hash_password(PW, TEST_PARAMS)
    assert needs_rehash(h, TEST_PARAMS) is False
    assert needs_rehash(h, SERVER_PARAMS) is True
    argon2i = PasswordHasher(
        time_cost=1, memory_cost=8, parallelism=1, type=__import__("argon2").Type.I
    ).hash(PW)
    assert verify_password(argon2i, PW) is True  # old variants still verify...
    assert needs_rehash(argon2i, TEST_PARAMS) is True  # ...and are upgraded


def test_unicode_normalisation() -> None:
    h = hash_password("caf\u00e9-pass", TEST_PARAMS)  # precomposed e-acute
    assert verify_password(h, "cafe\u0301-pass")  # e + combining acute accent
    hf = hash_password("ｐａｓｓｗｏｒｄ1", TEST_PARAMS)  # full-width forms
    assert verify_password(hf, "password1")


@pytest.mark.parametrize("bad", ["", "x" * (MAX_PASSWORD_LENGTH + 1)])
def test_hash_rejects_empty_and_huge(bad: str) -> None:
    with pytest.raises(ValueError, match="password must"):
        hash_password(bad, TEST_PARAMS)


def test_verify_empty_or_huge_is_false() -> None:
    h = hash_password(PW, TEST_PARAMS)
    assert verify_password(h, "") is False
    assert verify_password(h, "x" * (MAX_PASSWORD_LENGTH + 1)) is False
    assert verify_password(h, None) is False  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad_hash", ["", "plaintext", "$argon2id$v=19$garbage", "$2b$12$abcdefghijklmnopqrstuv"]
)
def test_invalid_stored_hash_is_an_error(bad_hash: str) -> None:
    with pytest.raises(ValueError, match="not a valid Argon2 hash"):
        verify_password(bad_hash, PW)
    with pytest.raises(ValueError, match="not a valid Argon2 hash"):
        needs_rehash(bad_hash)


class CountingVerify:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = PasswordHasher.verify

        def spy(hasher: PasswordHasher, h: Any, pw: Any) -> bool:
            self.calls += 1
            return real(hasher, h, pw)

        monkeypatch.setattr(PasswordHasher, "verify", spy)


def test_dummy_verify_does_the_argon2_work(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = CountingVerify(monkeypatch)
    assert dummy_verify(PW, TEST_PARAMS) is False
    assert spy.calls == 1
    assert (
        dummy_verify("\x00sciregistry-dummy-password\x00", TEST_PARAMS) is False
    )  # even the dummy's own value


def test_check_password_unknown_user_costs_a_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    h = hash_password(PW, TEST_PARAMS)
    spy = CountingVerify(monkeypatch)
    assert check_password(None, PW, TEST_PARAMS) is False
    assert check_password(h, PW, TEST_PARAMS) is True
    assert check_password(h, "wrong", TEST_PARAMS) is False
    assert spy.calls == 3


def test_empty_password_costs_a_verification_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """Otherwise an empty password would answer instantly for existing users only (timing oracle)."""
    h = hash_password(PW, TEST_PARAMS)
    spy = CountingVerify(monkeypatch)
    assert verify_password(h, "") is False
    assert spy.calls == 1


def test_dummy_hash_uses_the_same_params() -> None:
    assert passwords._dummy_hash(TEST_PARAMS).startswith("$argon2id$v=19$m=8,t=1,p=1$")


@pytest.mark.parametrize(
    "pw, match",
    [
        ("short", "at least 8"),
        ("x" * (MAX_PASSWORD_LENGTH + 1), "at most"),
        ("tab\there-123", "control characters"),
        ("nul\x00byte-123", "control characters"),
    ],
)
def test_validate_new_password_rejects(pw: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        validate_new_password(pw)


def test_validate_new_password_accepts() -> None:
    validate_new_password("eight ch")
    validate_new_password("pässwörd-ünïcode")
    validate_new_password("abc", min_length=3)
