"""Repository names, tags and references (distribution-spec v1.1.1 "Pulling manifests").

    name  ::= [a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*
    tag   ::= [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
    reference ::= tag | digest

Full references as docker writes them: ``host[:port]/repo/path[:tag][@digest]``.
Pure code: no IO.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sciregistry.errors import ManifestInvalid, NameInvalid
from sciregistry.oci.digest import is_digest

NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$")
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
MAX_NAME_LENGTH = 255


def validate_name(name: str) -> str:
    if not name or len(name) > MAX_NAME_LENGTH or not NAME_RE.fullmatch(name):
        raise NameInvalid("invalid repository name", {"name": name[:300]})
    return name


def is_tag(value: str) -> bool:
    return bool(TAG_RE.fullmatch(value))


def validate_reference(ref: str) -> str:
    """A manifest reference (a tag or a digest); anything else raises ManifestInvalid."""
    if is_tag(ref) or is_digest(ref):
        return ref
    raise ManifestInvalid("invalid reference: neither a tag nor a digest", {"reference": ref[:300]})


@dataclass(frozen=True)
class ImageReference:
    """``registry/repository[:tag][@digest]``; ``registry`` is empty for a bare repository."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        s = f"{self.registry}/{self.repository}" if self.registry else self.repository
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest if pinned, else the tag (default ``latest``)."""
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> ImageReference:
        return ImageReference(self.registry, self.repository, self.tag, digest)


def parse_reference(value: str, *, require_registry: bool = True) -> ImageReference:
    """Parse ``host[:port]/name[:tag][@digest]``.

    The first path component is a registry host when it contains ``.`` or ``:`` or is ``localhost``
    (docker's rule).
    """
    rest, digest = value, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not is_digest(digest):
            raise ValueError(f"invalid digest in reference {value!r}")
    registry = ""
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, rest = first, remainder
    elif require_registry:
        raise ValueError(f"reference {value!r} has no registry host (write it as host:port/repo:tag)")
    tag = None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not is_tag(tag):
            raise ValueError(f"invalid tag {tag!r} in reference {value!r}")
    if not NAME_RE.fullmatch(rest or ""):
        raise ValueError(f"invalid repository name {rest!r} in reference {value!r}")
    return ImageReference(registry, rest, tag, digest)
