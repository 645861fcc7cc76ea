"""First start of a server with authentication on: the signing key and the first administrator.

Called by ``sciregistry serve`` (:func:`sciregistry.cli.serve.prepare`) once, before the workers start.
"""

from __future__ import annotations

import os
import secrets as pysecrets
import sys
from pathlib import Path
from typing import Any

from sciregistry.auth import KeyStore
from sciregistry.registry.accounts import Accounts

ADMIN_PASSWORD_FILE = "admin-password"


def first_start(
    accounts: Accounts, keys: KeyStore, data_dir: str, admin_password: str = "", out: Any = None
) -> str | None:
    """Create the signing key and, on an empty user table, the user ``admin``.

    With ``admin_password`` (``SCIREGISTRY_ADMIN_PASSWORD``) that password is used and nothing is
    printed or written; otherwise a random one is printed once (to ``out``, default stderr) and
    written to ``<data_dir>/admin-password`` (mode 0600). Returns the generated password, if any.
    """
    keys.load()
    if accounts.user_count() > 0:
        return None
    password = admin_password or pysecrets.token_urlsafe(18)
    if not accounts.ensure_admin(password):
        return None
    accounts.record_audit(
        principal="system",
        address="local",
        action="user.create",
        target="admin",
        detail={"admin": True, "first_start": True},
    )
    if admin_password:
        return None
    path = Path(data_dir) / ADMIN_PASSWORD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    stream = out or sys.stderr
    print(
        f"sciregistry: created user 'admin' with password {password}\n"
        f"sciregistry: (shown once; also in {path}, mode 0600; change it with "
        f"'sciregistry user passwd admin --password-stdin')",
        file=stream,
        flush=True,
    )
    return password
