"""The /v2 route table (``sciregistry.oci.routes``): every route matched and built, names with
slashes, ``_catalog``, ``referrers``, invalid names refused (distribution-spec v1.1.1 "Endpoints")."""

from __future__ import annotations

import pytest

from sciregistry.errors import NameInvalid
from sciregistry.oci import routes
from sciregistry.oci.routes import (
    BASE,
    BLOB,
    BLOB_UPLOAD,
    BLOB_UPLOAD_CHUNK,
    CATALOG,
    MANIFEST,
    REFERRERS,
    ROUTES,
    TAGS,
    match,
)

DIGEST = "sha256:" + "a" * 64

# (route, parameters, path): each route once, with a name holding slashes where it takes one
CASES = [
    (BASE, {}, "/v2/"),
    (CATALOG, {}, "/v2/_catalog"),
    (MANIFEST, {"name": "lab/gc/results", "ref": "v1"}, "/v2/lab/gc/results/manifests/v1"),
    (MANIFEST, {"name": "lab/x", "ref": DIGEST}, f"/v2/lab/x/manifests/{DIGEST}"),
    (BLOB_UPLOAD, {"name": "lab/x"}, "/v2/lab/x/blobs/uploads/"),
    (BLOB_UPLOAD_CHUNK, {"name": "a/b/c", "upload_id": "u-1"}, "/v2/a/b/c/blobs/uploads/u-1"),
    (BLOB, {"name": "lab/x", "digest": DIGEST}, f"/v2/lab/x/blobs/{DIGEST}"),
    (TAGS, {"name": "lab/x", "digest": None}, "/v2/lab/x/tags/list"),
    (REFERRERS, {"name": "lab/x", "digest": DIGEST}, f"/v2/lab/x/referrers/{DIGEST}"),
]


@pytest.mark.parametrize(("route", "params", "path"), CASES, ids=[f"{c[0].name}-{c[2]}" for c in CASES])
def test_every_route_is_matched_and_built(route: routes.Route, params: dict[str, str], path: str) -> None:
    params = {k: v for k, v in params.items() if v is not None}
    assert match(path) == (route, params)
    assert route.url(**params) == path


def test_the_table_names_each_route_once() -> None:
    names = [r.name for r in ROUTES]
    assert len(names) == len(set(names)) == 8
    assert routes.BY_NAME["manifest"] is MANIFEST
    assert {c[0] for c in CASES} == set(ROUTES)


def test_methods_and_actions() -> None:
    assert MANIFEST.methods == {"GET", "HEAD", "PUT", "DELETE"}
    assert dict(MANIFEST.actions) == {"GET": "pull", "HEAD": "pull", "PUT": "push", "DELETE": "delete"}
    assert BLOB_UPLOAD.actions == {"POST": "push"}
    assert set(BLOB_UPLOAD_CHUNK.actions.values()) == {"push"}  # status and cancel need push too
    assert dict(BLOB.actions) == {"GET": "pull", "HEAD": "pull", "DELETE": "delete"}
    assert TAGS.methods == REFERRERS.methods == {"GET"}
    assert CATALOG.actions == {"GET": "catalog", "HEAD": "catalog"}
    assert BASE.actions == {"GET": "login", "HEAD": "login"}


def test_templates_are_the_metrics_labels() -> None:
    assert [r.template for r in ROUTES] == [
        "/v2/",
        "/v2/_catalog",
        "/v2/<name>/manifests/<ref>",
        "/v2/<name>/blobs/uploads/",
        "/v2/<name>/blobs/uploads/<upload_id>",
        "/v2/<name>/blobs/<digest>",
        "/v2/<name>/tags/list",
        "/v2/<name>/referrers/<digest>",
    ]


def test_base_without_slash_and_upload_without_slash() -> None:
    assert match("/v2") == (BASE, {})
    assert match("/v2/lab/x/blobs/uploads") == (BLOB_UPLOAD, {"name": "lab/x"})


def test_names_containing_route_words() -> None:
    # a repository may be called blobs, manifests, uploads, tags or referrers
    assert match("/v2/blobs/manifests/manifests/v1") == (MANIFEST, {"name": "blobs/manifests", "ref": "v1"})
    assert match(f"/v2/a/blobs/uploads/blobs/{DIGEST}") == (
        BLOB,
        {"name": "a/blobs/uploads", "digest": DIGEST},
    )
    assert match("/v2/a/blobs/uploads/blobs/uploads/") == (BLOB_UPLOAD, {"name": "a/blobs/uploads"})
    assert match("/v2/tags/tags/list") == (TAGS, {"name": "tags"})
    assert match(f"/v2/referrers/referrers/{DIGEST}") == (REFERRERS, {"name": "referrers", "digest": DIGEST})
    assert match("/v2/x/_catalog") is None  # _catalog is only the registry's


@pytest.mark.parametrize(
    "path",
    [
        "/v2/Lab/x/manifests/v1",  # upper case
        "/v2/lab//x/manifests/v1",  # empty component
        "/v2/-lab/blobs/uploads/",  # leading separator
        "/v2/lab_/tags/list",  # trailing separator
        "/v2/lab.../x/blobs/" + DIGEST,
        "/v2/" + "a" * 256 + "/tags/list",  # longer than 255 characters
        "/v2/_catalog/manifests/v1",
    ],
)
def test_invalid_names_are_name_invalid(path: str) -> None:
    with pytest.raises(NameInvalid):
        match(path)


@pytest.mark.parametrize(
    "path",
    [
        "/v2/lab/x",
        "/v2/lab/x/manifests/",
        "/v2/lab/x/manifests/a/b",
        "/v2/lab/x/blobs/",
        "/v2/lab/x/tags",
        "/v2/lab/x/referrers",
        "/v2/_catalog/",
        "/v1/lab/x/tags/list",
        "/v2/a?b/tags/list",  # "?" can only come from %3F: not a name, not a route
    ],
)
def test_unknown_paths_match_nothing(path: str) -> None:
    assert match(path) is None


def test_longest_valid_name_matches() -> None:
    name = "a" * 255
    assert match(f"/v2/{name}/tags/list") == (TAGS, {"name": name})


def test_url_needs_exactly_the_template_parameters() -> None:
    with pytest.raises(TypeError, match="name, ref"):
        MANIFEST.url(name="lab/x")
    with pytest.raises(TypeError, match="no parameters"):
        CATALOG.url(name="lab/x")
