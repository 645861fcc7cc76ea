"""Extension points of the registry use cases.

Later layers (provenance admission, DOI pinning) plug in here instead of being imported by the core:
a hook runs inside the use case's transaction, so raising rejects the operation and nothing of it
is stored. Work that needs no database (reading and validating a run crate) belongs in
``prepare_manifest_push``, which runs before the repository's write lock is taken: the lock is
held only for the indexed checks and the writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.orm import Session

from sciregistry.registry.types import ManifestPush


class RegistryHooks(Protocol):
    def prepare_manifest_push(self, repository: str, digest: str, parsed: Any) -> dict[str, Any]:
        """Called before the push's transaction and lock, with the parsed manifest. Raise to reject
        the push; what it returns reaches ``on_manifest_push`` as ``push.extra``."""

    def on_manifest_push(self, session: Session, push: ManifestPush) -> None:
        """Called after a manifest row is written, before commit. Raise to reject the push."""

    def check_manifest_delete(
        self, session: Session, repository_id: int, manifest_id: int, digest: str
    ) -> None:
        """Raise (e.g. Denied naming the DOI) to refuse deleting a manifest."""

    def on_tag_set(self, session: Session, repository_id: int, tag: str, manifest_id: int) -> None:
        """Called when a tag is created or moved to ``manifest_id``, before commit."""

    def check_tag_change(self, session: Session, repository_id: int, tag: str, old_manifest_id: int) -> None:
        """Raise to refuse moving or deleting a tag that currently points at ``old_manifest_id``."""

    def check_blob_delete(self, session: Session, repository_id: int, digest: str) -> None:
        """Raise to refuse unlinking a blob from a repository."""


class NoHooks:
    """The default: every operation is allowed."""

    def prepare_manifest_push(self, repository: str, digest: str, parsed: Any) -> dict[str, Any]:
        return {}

    def on_manifest_push(self, session: Session, push: ManifestPush) -> None:
        return None

    def check_manifest_delete(
        self, session: Session, repository_id: int, manifest_id: int, digest: str
    ) -> None:
        return None

    def on_tag_set(self, session: Session, repository_id: int, tag: str, manifest_id: int) -> None:
        return None

    def check_tag_change(self, session: Session, repository_id: int, tag: str, old_manifest_id: int) -> None:
        return None

    def check_blob_delete(self, session: Session, repository_id: int, digest: str) -> None:
        return None


class HookChain(NoHooks):
    """Runs several hook objects in order."""

    def __init__(self, hooks: list[RegistryHooks] | None = None) -> None:
        self.hooks: list[RegistryHooks] = list(hooks or [])

    def add(self, hook: RegistryHooks) -> None:
        self.hooks.append(hook)

    def prepare_manifest_push(self, repository: str, digest: str, parsed: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for h in self.hooks:
            out.update(h.prepare_manifest_push(repository, digest, parsed))
        return out

    def on_manifest_push(self, session: Session, push: ManifestPush) -> None:
        for h in self.hooks:
            h.on_manifest_push(session, push)

    def on_tag_set(self, session: Session, repository_id: int, tag: str, manifest_id: int) -> None:
        for h in self.hooks:
            if hasattr(h, "on_tag_set"):  # hooks written before on_tag_set existed may lack it
                h.on_tag_set(session, repository_id, tag, manifest_id)

    def check_manifest_delete(
        self, session: Session, repository_id: int, manifest_id: int, digest: str
    ) -> None:
        for h in self.hooks:
            h.check_manifest_delete(session, repository_id, manifest_id, digest)

    def check_tag_change(self, session: Session, repository_id: int, tag: str, old_manifest_id: int) -> None:
        for h in self.hooks:
            h.check_tag_change(session, repository_id, tag, old_manifest_id)

    def check_blob_delete(self, session: Session, repository_id: int, digest: str) -> None:
        for h in self.hooks:
            h.check_blob_delete(session, repository_id, digest)


class OnRefusal:
    """``hook`` as is, calling ``counter()`` each time its ``on_manifest_push`` refuses a push with one
    of ``errors`` (the admission metric, without the hook knowing about metrics)."""

    def __init__(
        self, hook: RegistryHooks, counter: Callable[[], Any], errors: tuple[type[Exception], ...]
    ) -> None:
        self.hook, self.counter, self.errors = hook, counter, errors

    def prepare_manifest_push(self, repository: str, digest: str, parsed: Any) -> dict[str, Any]:
        try:
            return self.hook.prepare_manifest_push(repository, digest, parsed)
        except self.errors:
            self.counter()
            raise

    def on_manifest_push(self, session: Session, push: ManifestPush) -> None:
        try:
            self.hook.on_manifest_push(session, push)
        except self.errors:
            self.counter()
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.hook, name)
