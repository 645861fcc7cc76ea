"""Authentication building blocks (DESIGN.md section 5), free of Flask and SQLAlchemy.

- :mod:`~sciregistry.auth.passwords`  Argon2id password hashing, dummy verification for unknown users
- :mod:`~sciregistry.auth.secrets`    API token strings ``sr_<id>_<random>`` and their SHA-256/HMAC hashes
- :mod:`~sciregistry.auth.scopes`     Docker token scope grammar; API-token scope patterns
- :mod:`~sciregistry.auth.roles`      namespace roles and the actions they grant
- :mod:`~sciregistry.auth.jwt`        registry bearer tokens: key store, issue, verify
- :mod:`~sciregistry.auth.ratelimit`  login brute-force throttle
- :mod:`~sciregistry.auth.challenge`  ``WWW-Authenticate`` values, ``Authorization`` parsing
- :mod:`~sciregistry.auth.policy`     principals, visibility, the held-actions rule, durations

The database models (users, tokens, namespaces, members) and the HTTP routes build on these.
"""

# The package exports exactly the public names of its modules: each module's ``__all__`` is the one
# list (tests/auth/test_auth_exports.py checks the union, in this order, with no name twice).
from sciregistry.auth import challenge, jwt, keyfiles, passwords, policy, ratelimit, roles, scopes, secrets
from sciregistry.auth.challenge import *  # noqa: F403
from sciregistry.auth.jwt import *  # noqa: F403
from sciregistry.auth.keyfiles import *  # noqa: F403
from sciregistry.auth.passwords import *  # noqa: F403
from sciregistry.auth.policy import *  # noqa: F403
from sciregistry.auth.ratelimit import *  # noqa: F403
from sciregistry.auth.roles import *  # noqa: F403
from sciregistry.auth.scopes import *  # noqa: F403
from sciregistry.auth.secrets import *  # noqa: F403

__all__: list[str] = []
__all__ += challenge.__all__
__all__ += jwt.__all__
__all__ += keyfiles.__all__
__all__ += passwords.__all__
__all__ += policy.__all__
__all__ += ratelimit.__all__
__all__ += roles.__all__
__all__ += scopes.__all__
__all__ += secrets.__all__
