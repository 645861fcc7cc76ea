"""The public surface of sciregistry.auth and its import boundaries (DESIGN.md section 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sciregistry import auth

EXPECTED = {
    "BasicCredentials",
    "BearerCredentials",
    "Challenge",
    "basic_challenge",
    "bearer_challenge",
    "parse_authorization",
    "parse_challenge",
    "Claims",
    "IssuedToken",
    "KeyStore",
    "TokenAlgorithmRejected",
    "TokenBadSignature",
    "TokenExpired",
    "TokenInvalid",
    "TokenMalformed",
    "TokenNotYetValid",
    "TokenUnknownKey",
    "TokenWrongAudience",
    "TokenWrongIssuer",
    "jwk_thumbprint",
    "SERVER_PARAMS",
    "TEST_PARAMS",
    "PasswordParams",
    "check_password",
    "dummy_verify",
    "hash_password",
    "needs_rehash",
    "validate_new_password",
    "verify_password",
    "ANONYMOUS",
    "Principal",
    "Visibility",
    "held_actions",
    "namespace_of",
    "parse_duration",
    "valid_account_name",
    "LoginThrottle",
    "Throttle",
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
    "Scope",
    "ScopePattern",
    "expand_actions",
    "format_scope",
    "intersect_actions",
    "merge_scopes",
    "parse_scope",
    "parse_scope_pattern",
    "parse_scope_patterns",
    "patterns_allow",
    "NewToken",
    "ParsedToken",
    "constant_time_equals",
    "hash_secret",
    "looks_like_token",
    "new_token",
    "parse_token",
    "verify_secret",
}


def test_all_is_exact_and_importable() -> None:
    assert set(auth.__all__) == EXPECTED
    assert len(auth.__all__) == len(EXPECTED)
    for name in auth.__all__:
        assert getattr(auth, name) is not None, name


def test_no_flask_or_sqlalchemy() -> None:
    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys, sciregistry.auth; "
        "bad = [m for m in ('flask', 'sqlalchemy', 'werkzeug') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
