"""Stored registry credentials (``sciregistry login``).

File: ``$SCIREGISTRY_CONFIG_HOME/credentials.json``, default ``~/.config/sciregistry/credentials.json``,
mode 0600 in a 0700 directory, replaced atomically on every change::

    {"auths": {"127.0.0.1:5000": {"username": "alice", "password": "sr_3f9a..."}}}

Look-up order for a host (:func:`resolve_credentials`): explicit arguments, then the environment
(``SCIREGISTRY_TOKEN``, or ``SCIREGISTRY_USERNAME`` + ``SCIREGISTRY_PASSWORD``), then the file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CredentialStore", "Credentials", "config_home", "resolve_credentials"]

FILE_NAME = "credentials.json"


@dataclass(frozen=True)
class Credentials:
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    @property
    def empty(self) -> bool:
        return self.password is None and self.token is None


def config_home(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    custom = env.get("SCIREGISTRY_CONFIG_HOME")
    if custom:
        return Path(custom)
    return Path.home() / ".config" / "sciregistry"


class CredentialStore:
    """Credentials per registry host (``host[:port]``) in one JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_home() / FILE_NAME

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise ValueError(f"{self.path} is not valid JSON: {exc}") from exc
        auths = doc.get("auths") if isinstance(doc, dict) else None
        return {k: v for k, v in (auths or {}).items() if isinstance(v, dict)}

    def _save(self, auths: dict[str, dict[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".credentials.", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"auths": auths}, f, indent=2, sort_keys=True)
                f.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, host: str) -> Credentials | None:
        entry = self._load().get(host)
        if entry is None:
            return None
        return Credentials(entry.get("username"), entry.get("password"), entry.get("token"))

    def set(self, host: str, username: str, password: str) -> None:
        auths = self._load()
        auths[host] = {"username": username, "password": password}
        self._save(auths)

    def delete(self, host: str) -> bool:
        auths = self._load()
        if host not in auths:
            return False
        del auths[host]
        self._save(auths)
        return True

    def hosts(self) -> list[str]:
        return sorted(self._load())


def resolve_credentials(
    host: str,
    *,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
    environ: Mapping[str, str] | None = None,
    store: CredentialStore | None = None,
) -> Credentials:
    """Credentials for ``host``: arguments, then environment, then the credentials file."""
    if token or password is not None:
        return Credentials(username, password, token)
    env = os.environ if environ is None else environ
    if env.get("SCIREGISTRY_TOKEN"):
        return Credentials(username or env.get("SCIREGISTRY_USERNAME"), None, env["SCIREGISTRY_TOKEN"])
    if env.get("SCIREGISTRY_PASSWORD") is not None and (username or env.get("SCIREGISTRY_USERNAME")):
        return Credentials(username or env.get("SCIREGISTRY_USERNAME"), env["SCIREGISTRY_PASSWORD"])
    stored = (store or CredentialStore(config_home(env) / FILE_NAME)).get(host)
    if stored is not None:
        return stored
    return Credentials(username)
