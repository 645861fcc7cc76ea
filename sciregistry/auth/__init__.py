"""Authentication building blocks (DESIGN.md section 5), free of Flask and SQLAlchemy.

- :mod:`~sciregistry.auth.passwords`  Argon2id password hashing, dummy verification for unknown users
- :mod:`~sciregistry.auth.secrets`    API token strings ``sr_<id>_<random>`` and their SHA-256/HMAC hashes
- :mod:`~sciregistry.auth.scopes`     Docker token scope grammar; API-token scope patterns
- :mod:`~sciregistry.auth.roles`      namespace roles and the actions they grant
- :mod:`~sciregistry.auth.jwt`        registry bearer tokens: key store, issue, verify
- :mod:`~sciregistry.auth.keyfiles`   the JWT key files: creation (race-safe), reading, retired keys
- :mod:`~sciregistry.auth.ratelimit`  login brute-force throttle
- :mod:`~sciregistry.auth.challenge`  ``WWW-Authenticate`` values (parsed by ``oci.challenge``),
  ``Authorization`` parsing
- :mod:`~sciregistry.auth.policy`     principals, visibility, the held-actions rule, durations

The database models (users, tokens, namespaces, members) and the HTTP routes build on these.
"""

from sciregistry.auth.challenge import (
    BasicCredentials,
    BearerCredentials,
    Challenge,
    basic_challenge,
    bearer_challenge,
    parse_authorization,
    parse_challenge,
)
from sciregistry.auth.jwt import (
    Claims,
    IssuedToken,
    KeyStore,
    TokenAlgorithmRejected,
    TokenBadSignature,
    TokenExpired,
    TokenInvalid,
    TokenMalformed,
    TokenNotYetValid,
    TokenUnknownKey,
    TokenWrongAudience,
    TokenWrongIssuer,
    jwk_thumbprint,
)
from sciregistry.auth.passwords import (
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
from sciregistry.auth.policy import (
    ANONYMOUS,
    Principal,
    Visibility,
    held_actions,
    namespace_of,
    parse_duration,
    valid_account_name,
)
from sciregistry.auth.ratelimit import LoginThrottle, Throttle
from sciregistry.auth.roles import (
    DELETE,
    MANAGE,
    PULL,
    PUSH,
    REPOSITORY_ACTIONS,
    Role,
    actions_for_role,
    highest_role,
    min_role_for,
    role_at_least,
)
from sciregistry.auth.scopes import (
    Scope,
    ScopePattern,
    expand_actions,
    format_scope,
    intersect_actions,
    merge_scopes,
    parse_scope,
    parse_scope_pattern,
    parse_scope_patterns,
    patterns_allow,
)
from sciregistry.auth.secrets import (
    NewToken,
    ParsedToken,
    constant_time_equals,
    hash_secret,
    looks_like_token,
    new_token,
    parse_token,
    verify_secret,
)

__all__ = [  # noqa: RUF022  grouped by module, in the order the docstring lists them
    # challenge
    "BasicCredentials",
    "BearerCredentials",
    "Challenge",
    "basic_challenge",
    "bearer_challenge",
    "parse_authorization",
    "parse_challenge",
    # jwt
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
    # passwords
    "SERVER_PARAMS",
    "TEST_PARAMS",
    "PasswordParams",
    "check_password",
    "dummy_verify",
    "hash_password",
    "needs_rehash",
    "validate_new_password",
    "verify_password",
    # policy
    "ANONYMOUS",
    "Principal",
    "Visibility",
    "held_actions",
    "namespace_of",
    "parse_duration",
    "valid_account_name",
    # ratelimit
    "LoginThrottle",
    "Throttle",
    # roles
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
    # scopes
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
    # secrets
    "NewToken",
    "ParsedToken",
    "constant_time_equals",
    "hash_secret",
    "looks_like_token",
    "new_token",
    "parse_token",
    "verify_secret",
]
