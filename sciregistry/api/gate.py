"""The access gate every HTTP request passes: who is calling, and may they do this?

:class:`Gate` is what the HTTP layer asks; two implementations:

- :class:`OpenGate` when authentication is disabled (``auth_enabled = false``): everything is allowed;
- :class:`sciregistry.api.auth_gate.AuthGate` otherwise: credentials, roles, reviewer tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Gate(Protocol):
    def authorize(
        self,
        repository: str | None,
        action: str,
        *,
        hide: bool = False,
        doi: str | None = None,
        digest: str | None = None,
    ) -> None:
        """Raise Unauthorized (401) or Denied (403) unless the caller may do ``action``
        (pull, push, delete, login, catalog) on ``repository``. With ``hide``, a repository the
        caller may not read is reported as not found (private looks like missing)."""

    def can_read(self, repository: str) -> bool:
        """Whether the caller may read ``repository``."""

    def can_read_pinned(self, repository: str, digest: str) -> bool:
        """Whether the caller may see ``repository@digest`` listed in a DOI's closure or landing page."""

    def can_read_doi(self, repository: str, doi: str) -> bool:
        """Whether the caller may read the DOI ``doi`` of a result in ``repository``."""

    def require_admin(self) -> None:
        """Raise unless the caller is an administrator."""

    def principal_name(self) -> str | None:
        """The caller's user name (None: anonymous or unresolved)."""

    def visible_names(self) -> list[str] | None:
        """Names of the repositories the caller may read (None: all)."""

    def visible_filter(self) -> Callable[[str], bool] | None:
        """A predicate over repository names the caller may see (None: all)."""

    def read_check(self) -> Callable[[str], bool] | None:
        """A predicate telling whether the caller may read a repository (None: all)."""

    def challenge(self) -> str:
        """The WWW-Authenticate value sent with a 401."""


class OpenGate:
    """Everything is allowed (``auth_enabled = false``)."""

    def authorize(
        self,
        repository: str | None,
        action: str,
        *,
        hide: bool = False,
        doi: str | None = None,
        digest: str | None = None,
    ) -> None:
        return

    def can_read(self, repository: str) -> bool:
        return True

    def can_read_pinned(self, repository: str, digest: str) -> bool:
        return True

    def can_read_doi(self, repository: str, doi: str) -> bool:
        return True

    def require_admin(self) -> None:
        return None

    def principal_name(self) -> str | None:
        return None

    def visible_names(self) -> list[str] | None:
        return None

    def visible_filter(self) -> Callable[[str], bool] | None:
        return None

    def read_check(self) -> Callable[[str], bool] | None:
        return None

    def challenge(self) -> str:
        return 'Basic realm="sciregistry"'
