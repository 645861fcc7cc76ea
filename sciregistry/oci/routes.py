"""The /v2 routes of distribution-spec v1.1.1 ("Endpoints"), each named once.

    name               methods           path                                        action per method
    base               GET HEAD          /v2/                                        login
    catalog            GET HEAD          /v2/_catalog                                catalog
    manifest           GET HEAD PUT DEL  /v2/<name>/manifests/<ref>                  pull pull push delete
    blob-upload        POST              /v2/<name>/blobs/uploads/                   push
    blob-upload-chunk  GET PATCH PUT DEL /v2/<name>/blobs/uploads/<upload_id>        push (all four)
    blob               GET HEAD DEL      /v2/<name>/blobs/<digest>                   pull pull delete
    tags               GET               /v2/<name>/tags/list                        pull
    referrers          GET               /v2/<name>/referrers/<digest>               pull

``<name>`` is a repository name (the grammar of :mod:`sciregistry.oci.reference`, at most 255
characters, slashes allowed); every other parameter is one path segment. The server's dispatcher
(``api/v2/routes.py``), the reviewer check and the write audit of the access gate, and the client
(paths it builds, token scopes it predicts) all read this table, as distribution's ``routes.go`` and
``urls.go`` serve its server and client. The action of each method is the token scope action it
needs (distribution ``docs/spec/auth/scope.md``): ``pull``, ``push``, ``delete``; ``login`` and
``catalog`` are the registry-wide checks of the base and catalog routes.

Pure code: no IO, no Flask.

>>> route, params = match("/v2/lab/gc/blobs/uploads/")
>>> route.name, params
('blob-upload', {'name': 'lab/gc'})
>>> MANIFEST.url(name="lab/gc", ref="v1")
'/v2/lab/gc/manifests/v1'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sciregistry.oci.reference import validate_name

__all__ = [
    "BASE",
    "BLOB",
    "BLOB_UPLOAD",
    "BLOB_UPLOAD_CHUNK",
    "CATALOG",
    "MANIFEST",
    "REFERRERS",
    "ROUTES",
    "TAGS",
    "Route",
    "match",
]

#: one repository name: the component grammar of distribution-spec, components joined by "/"
NAME_PATTERN = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*"
_SEGMENT = r"[^/]+"
_PARAM = re.compile(r"<(\w+)>")


@dataclass(frozen=True, eq=False)  # each route exists once: compared (and hashed) by identity
class Route:
    """One /v2 route: its name, the methods it answers (each with the action it needs) and its path."""

    name: str
    template: str  # "/v2/<name>/manifests/<ref>": the path and the label of metrics and access lines
    actions: Mapping[str, str]  # method -> pull, push, delete (or login, catalog)
    pattern: re.Pattern[str] = field(init=False, repr=False)
    shape: re.Pattern[str] = field(init=False, repr=False)  # any <name>: tells NAME_INVALID from unknown

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", MappingProxyType(dict(self.actions)))
        object.__setattr__(self, "pattern", re.compile(self._regex(NAME_PATTERN)))
        object.__setattr__(self, "shape", re.compile(self._regex(r"[^?#]+?")))

    def _regex(self, name: str) -> str:
        parts = _PARAM.split(self.template)  # literal, param, literal, param, ...
        out = []
        for i, part in enumerate(parts):
            if i % 2 == 0:
                out.append(re.escape(part))
            else:
                out.append(f"(?P<{part}>{name if part == 'name' else _SEGMENT})")
        regex = "".join(out)
        if self.template.endswith("/uploads/"):
            regex += "?"  # POST /v2/<name>/blobs/uploads (no slash) is the same route
        return regex

    @property
    def methods(self) -> frozenset[str]:
        return frozenset(self.actions)

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(_PARAM.findall(self.template))

    def url(self, **params: str) -> str:
        """The path of this route for ``params`` (every parameter of the template, nothing else)."""
        if set(params) != set(self.params):
            raise TypeError(f"route {self.name} takes {', '.join(self.params) or 'no parameters'}")
        return _PARAM.sub(lambda m: params[m.group(1)], self.template)


BASE = Route("base", "/v2/", {"GET": "login", "HEAD": "login"})
CATALOG = Route("catalog", "/v2/_catalog", {"GET": "catalog", "HEAD": "catalog"})
MANIFEST = Route(
    "manifest",
    "/v2/<name>/manifests/<ref>",
    {"GET": "pull", "HEAD": "pull", "PUT": "push", "DELETE": "delete"},
)
BLOB_UPLOAD = Route("blob-upload", "/v2/<name>/blobs/uploads/", {"POST": "push"})
BLOB_UPLOAD_CHUNK = Route(
    "blob-upload-chunk",
    "/v2/<name>/blobs/uploads/<upload_id>",
    {"GET": "push", "PATCH": "push", "PUT": "push", "DELETE": "push"},
)
BLOB = Route("blob", "/v2/<name>/blobs/<digest>", {"GET": "pull", "HEAD": "pull", "DELETE": "delete"})
TAGS = Route("tags", "/v2/<name>/tags/list", {"GET": "pull"})
REFERRERS = Route("referrers", "/v2/<name>/referrers/<digest>", {"GET": "pull"})

#: in matching order: the first route whose pattern matches wins (``/v2/x/blobs/uploads`` is an
#: upload, not the blob ``uploads``)
ROUTES: tuple[Route, ...] = (BASE, CATALOG, MANIFEST, BLOB_UPLOAD, BLOB_UPLOAD_CHUNK, BLOB, TAGS, REFERRERS)
BY_NAME: Mapping[str, Route] = MappingProxyType({r.name: r for r in ROUTES})


def match(path: str) -> tuple[Route, dict[str, str]] | None:
    """The route ``path`` names and its parameters; None when no route has this path.

    A path shaped like a repository route whose name breaks the grammar (or is longer than 255
    characters) raises :class:`~sciregistry.errors.NameInvalid`, so the server answers NAME_INVALID
    rather than "unknown endpoint".
    """
    if path == "/v2":
        return BASE, {}
    for route in ROUTES:
        m = route.pattern.fullmatch(path)
        if m is not None:
            params = m.groupdict()
            if "name" in params:
                validate_name(params["name"])  # the length limit
            return route, params
    for route in ROUTES:
        if "name" in route.params:
            m = route.shape.fullmatch(path)
            if m is not None:
                validate_name(m.group("name"))  # raises: the strict pattern did not match
    return None
