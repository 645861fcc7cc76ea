"""Password hashing with Argon2id (RFC 9106) through ``argon2-cffi``.

Stored form: the PHC string argon2-cffi produces, e.g.
``$argon2id$v=19$m=19456,t=2,p=1$<salt b64>$<hash b64>``; the parameters travel with the hash,
so verification never depends on the current settings and :func:`needs_rehash` tells the login
code when to re-hash with newer ones.

Server parameters (:data:`SERVER_PARAMS`): Argon2id, memory 19 MiB (19456 KiB), 2 passes,
parallelism 1, 16-byte salt, 32-byte tag. That is the first configuration of the OWASP Password
Storage Cheat Sheet (all its listed configurations give equal defence). Measured on the project's
2-core machine: about 19 ms per verify, 19 MiB per concurrent verify (16 gunicorn threads: at
most ~300 MiB). RFC 9106's "second recommended option" (64 MiB, t=3, p=4, argon2-cffi's default
profile, :data:`RFC9106_LOW_MEMORY`) costs about 104 ms here: too slow for the Docker token flow,
where every ``docker pull`` with stored credentials verifies the password again. CI should use API
tokens (fast hash, see :mod:`sciregistry.auth.secrets`), not passwords.

Passwords are NFKC-normalised before hashing (NIST SP 800-63B section 5.1.1.2), so the same
password typed on different keyboards or platforms matches.

Unknown users: run :func:`dummy_verify` (or :func:`check_password` with ``None``) so that a
login for a missing account costs the same Argon2 work as a wrong password, and response timing
does not reveal which user names exist.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "RFC9106_LOW_MEMORY",
    "SERVER_PARAMS",
    "TEST_PARAMS",
    "PasswordParams",
    "check_password",
    "dummy_verify",
    "hash_password",
    "needs_rehash",
    "validate_new_password",
    "verify_password",
]

#: Longest password accepted (characters). Argon2 pre-hashes any length, this only bounds request work.
MAX_PASSWORD_LENGTH = 1024
#: Shortest new password (NIST SP 800-63B: at least 8).
MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True, slots=True)
class PasswordParams:
    """Argon2id cost parameters. ``memory_cost`` is in KiB."""

    time_cost: int
    memory_cost: int
    parallelism: int
    hash_len: int = 32
    salt_len: int = 16


#: Default for the server (OWASP: m=19 MiB, t=2, p=1). See the module docstring.
SERVER_PARAMS = PasswordParams(time_cost=2, memory_cost=19456, parallelism=1)
#: RFC 9106 section 4, second recommended option (64 MiB, t=3, p=4).
RFC9106_LOW_MEMORY = PasswordParams(time_cost=3, memory_cost=65536, parallelism=4)
#: Cheapest legal parameters (8 KiB, t=1): for tests only, never for stored passwords.
TEST_PARAMS = PasswordParams(time_cost=1, memory_cost=8, parallelism=1)


@functools.lru_cache(maxsize=8)
def _hasher(params: PasswordParams) -> PasswordHasher:
    return PasswordHasher(
        time_cost=params.time_cost,
        memory_cost=params.memory_cost,
        parallelism=params.parallelism,
        hash_len=params.hash_len,
        salt_len=params.salt_len,
        type=Type.ID,
    )


@functools.lru_cache(maxsize=8)
def _dummy_hash(params: PasswordParams) -> str:
    # A real hash with the same cost, of a value no user can type (it contains NUL).
    return _hasher(params).hash("\x00sciregistry-dummy-password\x00")


def _normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def validate_new_password(password: str, *, min_length: int = MIN_PASSWORD_LENGTH) -> None:
    """Reject a new password that is too short, too long or contains control characters (``ValueError``)."""
    if not isinstance(password, str):
        raise ValueError("password must be a string")
    pw = _normalize(password)
    if len(pw) < min_length:
        raise ValueError(f"password must be at least {min_length} characters long")
    if len(pw) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"password must be at most {MAX_PASSWORD_LENGTH} characters long")
    if any(unicodedata.category(c) == "Cc" for c in pw):
        raise ValueError("password must not contain control characters")


def hash_password(password: str, params: PasswordParams = SERVER_PARAMS) -> str:
    """Argon2id PHC string for ``password`` with a fresh random salt. ``ValueError`` if empty or too long."""
    if not isinstance(password, str) or password == "":
        raise ValueError("password must be a non-empty string")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"password must be at most {MAX_PASSWORD_LENGTH} characters long")
    return _hasher(params).hash(_normalize(password))


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches ``stored_hash``; False otherwise (also for empty/too long input,
    after the same Argon2 work as a real check).

    The cost parameters are read from ``stored_hash``. Raises ``ValueError`` when ``stored_hash``
    is not an Argon2 hash at all: a corrupt database row is an operator problem, not a wrong password.
    """
    if not isinstance(password, str) or password == "" or len(password) > MAX_PASSWORD_LENGTH:
        # Same work as a real check, so empty/oversized input does not tell known from unknown users.
        return dummy_verify(password[:MAX_PASSWORD_LENGTH] if isinstance(password, str) else "")
    try:
        return _hasher(SERVER_PARAMS).verify(stored_hash, _normalize(password))
    except VerifyMismatchError:
        return False
    except InvalidHashError as exc:
        raise ValueError("stored password hash is not a valid Argon2 hash") from exc
    except VerificationError as exc:
        # libargon2 reports a hash it cannot decode as a verification error: tell it apart.
        try:
            extract_parameters(stored_hash)
        except InvalidHashError:
            raise ValueError("stored password hash is not a valid Argon2 hash") from exc
        return False


def needs_rehash(stored_hash: str, params: PasswordParams = SERVER_PARAMS) -> bool:
    """True when ``stored_hash`` was made with other parameters (or Argon2 variant) than ``params``."""
    try:
        return _hasher(params).check_needs_rehash(stored_hash)
    except InvalidHashError as exc:
        raise ValueError("stored password hash is not a valid Argon2 hash") from exc


def dummy_verify(password: str, params: PasswordParams = SERVER_PARAMS) -> bool:
    """Spend the Argon2 work of a real verification, then return False (unknown user, no password)."""
    try:
        _hasher(params).verify(_dummy_hash(params), _normalize(password) if isinstance(password, str) else "")
    except VerificationError:
        pass
    return False


def check_password(stored_hash: str | None, password: str, params: PasswordParams = SERVER_PARAMS) -> bool:
    """The login check: :func:`verify_password`, or :func:`dummy_verify` when there is no stored hash.

    Use it for every login so unknown accounts and accounts without a password (robots) take
    as long as a wrong password.
    """
    if stored_hash is None:
        return dummy_verify(password, params)
    return verify_password(stored_hash, password)
