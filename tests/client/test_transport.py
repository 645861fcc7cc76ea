"""Transport: error round-trip, Docker token flow, Basic auth, plain-HTTP rules, bounded retries."""

from __future__ import annotations

import base64
import hashlib

import pytest

from sciregistry import errors
from sciregistry.client import Registry
from sciregistry.client.transport import Transport, TransportError, normalize_url, parse_challenges

from .conftest import push_tiny_image
from .fake_registry import fake_registry

ALL_ERRORS = [
    *errors.OCI_ERRORS,
    errors.BadRequest,
    errors.NotFound,
    errors.Conflict,
    errors.CrateInvalid,
    errors.MetadataInvalid,
    errors.Pinned,
    errors.UpstreamError,
]


# --- error round trip ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.code)
def test_server_error_json_round_trips_to_the_same_class(cls: type[errors.RegistryError]) -> None:
    sent = cls(f"precise message for {cls.code}", {"problems": ["one", "two"], "n": 3})
    with fake_registry(mode="basic") as fake:
        fake.fail["/v2/lab/x/tags/list"] = [(cls.status, {"errors": [sent.to_dict()]})]
        t = Transport(fake.url, username="alice", password="s3cret", retries=0)
        with pytest.raises(errors.RegistryError) as info:
            t.request("GET", "/v2/lab/x/tags/list")
    got = info.value
    assert type(got) is cls
    assert got.code == cls.code
    assert got.text == f"precise message for {cls.code}"
    assert got.detail == {"problems": ["one", "two"], "n": 3}
    assert got.http_status == cls.status
    assert got.to_dict() == sent.to_dict()


def test_error_without_json_body_is_mapped_by_status() -> None:
    with fake_registry(mode="basic") as fake:
        fake.fail["/v2/lab/x/manifests/v1"] = [(404, b"not here")]
        fake.fail["/v2/lab/x/blobs/sha256:" + "a" * 64] = [(404, b"")]
        t = Transport(fake.url, username="alice", password="s3cret")
        with pytest.raises(errors.ManifestUnknown) as info:
            t.request("GET", "/v2/lab/x/manifests/v1")
        assert "not here" in info.value.text
        with pytest.raises(errors.BlobUnknown):
            t.request("GET", "/v2/lab/x/blobs/sha256:" + "a" * 64)


def test_errors_from_the_live_server_keep_their_class(registry: Registry) -> None:
    with pytest.raises(errors.NameUnknown) as unknown:
        registry.get_manifest("lab-x/nothing:v9")
    assert unknown.value.code == "NAME_UNKNOWN" and unknown.value.http_status == 404
    push_tiny_image(registry, "lab-x/known", "v1")
    with pytest.raises(errors.ManifestUnknown) as info:
        registry.get_manifest("lab-x/known:v9")
    assert info.value.code == "MANIFEST_UNKNOWN" and info.value.http_status == 404
    with pytest.raises(errors.ManifestInvalid) as inv:
        registry.put_manifest(
            "lab-x/broken", "v1", b'{"schemaVersion": 1}', "application/vnd.oci.image.manifest.v1+json"
        )
    assert inv.value.text == "schemaVersion must be 2"
    assert inv.value.detail == {"schemaVersion": 1}
    with pytest.raises(errors.NotFound) as nf:
        registry.run(987654)
    assert nf.value.text == "run 987654 not found"
    with pytest.raises(errors.BadRequest) as br:
        registry.runs(limit=5000)
    assert br.value.text == "query parameter 'limit': 5000 is greater than the maximum of 1000"


# --- token flow ------------------------------------------------------------------------------------------


def test_bearer_token_flow_fetches_once_per_scope_and_reuses_wider_tokens() -> None:
    with fake_registry() as fake:
        reg = Registry(fake.url, username="alice", password="s3cret", use_stored_credentials=False)
        assert reg.tags("lab/x") == ["a", "b"]
        assert reg.tags("lab/x") == ["a", "b"]
        assert len(fake.token_requests) == 1
        first = fake.token_requests[0]
        assert first["scope"] == ["repository:lab/x:pull"]
        assert first["service"] == ["fake"]
        assert first["user"] == "alice"
        # one 401 then two authorised GETs
        statuses = [(m, p, (a or "").split(" ")[0]) for m, p, a in fake.requests if p != "/token"]
        assert statuses == [
            ("GET", "/v2/lab/x/tags/list", ""),
            ("GET", "/v2/lab/x/tags/list", "Bearer"),
            ("GET", "/v2/lab/x/tags/list", "Bearer"),
        ]
        # a push needs pull,push: a second token ...
        reg.transport.request("PUT", "/v2/lab/x/manifests/v2", data=b"{}")
        assert len(fake.token_requests) == 2
        assert fake.token_requests[1]["scope"] == ["repository:lab/x:pull,push"]
        # ... which then also serves pulls; another repository needs its own token
        reg.tags("lab/x")
        assert len(fake.token_requests) == 2
        reg.tags("lab/y")
        assert len(fake.token_requests) == 3
        assert fake.token_requests[2]["scope"] == ["repository:lab/y:pull"]


def test_refused_token_is_refreshed_on_401() -> None:
    with fake_registry() as fake:
        reg = Registry(fake.url, username="alice", password="s3cret", use_stored_credentials=False)
        reg.tags("lab/x")
        fake.revoke_all()  # e.g. the registry rotated its key: the cached token is now refused
        assert reg.tags("lab/x") == ["a", "b"]
        assert len(fake.token_requests) == 2


def test_short_lived_tokens_are_not_reused_after_expiry() -> None:
    with fake_registry(ttl=5) as fake:  # 5 s is inside the 10 s refresh margin: never reused
        reg = Registry(fake.url, username="alice", password="s3cret", use_stored_credentials=False)
        reg.tags("lab/x")
        reg.tags("lab/x")
        assert len(fake.token_requests) == 2


def test_wrong_password_raises_unauthorized_with_the_reason() -> None:
    with fake_registry() as fake:
        reg = Registry(fake.url, username="alice", password="wrong", use_stored_credentials=False)
        with pytest.raises(errors.Unauthorized) as info:
            reg.tags("lab/x")
    assert "refused user 'alice'" in info.value.text
    assert "invalid username or password" in info.value.text


@pytest.mark.parametrize(
    "kwargs",
    [
        {"token": "sr_0123456789abcdef_" + "x" * 46},
        {"username": "bob", "password": "sr_0123456789abcdef_" + "x" * 46},
    ],
)
def test_refused_api_token_says_so_not_invalid_password(kwargs: dict[str, str]) -> None:
    with fake_registry() as fake:
        reg = Registry(fake.url, use_stored_credentials=False, **kwargs)
        with pytest.raises(errors.Unauthorized) as info:
            reg.tags("lab/x")
    assert info.value.text.startswith("the token was refused (invalid, expired or revoked)")
    assert "invalid username or password" not in info.value.text and "'token'" not in info.value.text


def test_missing_credentials_hint_names_login_and_token() -> None:
    with fake_registry() as fake:
        reg = Registry(fake.url, use_stored_credentials=False)
        with pytest.raises(errors.Unauthorized) as info:
            reg.tags("lab/x")
    assert f"log in first: sciregistry login {fake.host}" in info.value.text
    assert "--token or SCIREGISTRY_TOKEN" in info.value.text


def test_anonymous_pull_token_without_credentials() -> None:
    with fake_registry(anonymous_pull=True) as fake:
        reg = Registry(fake.url, use_stored_credentials=False)
        assert reg.tags("lab/pub") == ["a", "b"]
        assert fake.token_requests[0]["authorization"] is None
        with pytest.raises(errors.Unauthorized) as info:
            reg.transport.request("PUT", "/v2/lab/pub/manifests/v1", data=b"{}")
        assert f"sciregistry login {fake.host}" in info.value.text


def test_api_token_is_sent_as_basic_password_to_the_realm() -> None:
    api_token = "sr_3f9a0c6e1b2d4a57_" + "X" * 46
    with fake_registry(users={"token": api_token}) as fake:
        reg = Registry(fake.url, token=api_token, use_stored_credentials=False)
        reg.tags("lab/x")
        sent = fake.token_requests[0]["authorization"]
        assert base64.b64decode(sent.split()[1]).decode() == f"token:{api_token}"


def test_jwt_token_is_sent_as_bearer_directly() -> None:
    with fake_registry() as fake:
        fake.tokens["aaa.bbb.ccc"] = {"repository:lab/x:pull"}
        reg = Registry(fake.url, token="aaa.bbb.ccc", use_stored_credentials=False)
        assert reg.tags("lab/x") == ["a", "b"]
        assert fake.token_requests == []
        assert fake.requests[0][2] == "Bearer aaa.bbb.ccc"


def test_basic_challenge_is_answered_then_credentials_sent_up_front() -> None:
    with fake_registry(mode="basic") as fake:
        reg = Registry(fake.url, username="alice", password="s3cret", use_stored_credentials=False)
        reg.tags("lab/x")
        reg.tags("lab/y")
        auths = [a for _, _, a in fake.requests]
        expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
        assert auths == [None, expected, expected]


def test_stored_credentials_are_used(isolated_config) -> None:  # type: ignore[no-untyped-def]
    from sciregistry.client import CredentialStore

    with fake_registry() as fake:
        CredentialStore().set(fake.host, "alice", "s3cret")
        assert (isolated_config / "credentials.json").stat().st_mode & 0o777 == 0o600
        reg = Registry(fake.url)
        assert reg.tags("lab/x") == ["a", "b"]
        assert fake.token_requests[0]["user"] == "alice"


# --- plain HTTP, TLS and retries -------------------------------------------------------------------------


def test_plain_http_only_for_loopback_or_insecure() -> None:
    assert normalize_url("127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert normalize_url("localhost:5000/") == "http://localhost:5000"
    assert normalize_url("[::1]:5000") == "http://[::1]:5000"
    assert normalize_url("registry.example.org") == "https://registry.example.org"
    assert normalize_url("registry.example.org:5000", insecure=True) == "http://registry.example.org:5000"
    with pytest.raises(ValueError, match=r"plain HTTP to registry\.example\.org is refused"):
        normalize_url("http://registry.example.org")
    assert normalize_url("http://registry.example.org", insecure=True) == "http://registry.example.org"
    with pytest.raises(ValueError):
        normalize_url("ftp://registry.example.org")
    with pytest.raises(ValueError, match="must not have a path"):
        normalize_url("https://registry.example.org/prefix")


def test_credentials_never_go_to_a_plain_http_realm_elsewhere() -> None:
    t = Transport("https://registry.example.org", username="alice", password="s3cret")
    with pytest.raises(errors.Unauthorized, match="refusing to send credentials over plain HTTP"):
        t.fetch_token("http://auth.example.org/token", "svc", ["repository:a:pull"])
    assert t.request_counts["TOKEN"] == 0


def test_challenges_are_parsed() -> None:
    cs = parse_challenges(
        'Bearer realm="https://r.example/token",service="r.example",'
        'scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope", '
        'Basic realm="say \\"hi\\""'
    )
    assert [c.scheme for c in cs] == ["bearer", "basic"]
    assert cs[0].scopes == ["repository:a/b:pull,push", "repository:c:pull"]
    assert cs[0].params["error"] == "insufficient_scope"
    assert cs[1].params["realm"] == 'say "hi"'


def test_get_is_retried_twice_on_503_but_writes_and_4xx_never() -> None:
    unavailable = {"errors": [{"code": "UPSTREAM_ERROR", "message": "busy"}]}
    with fake_registry(mode="basic") as fake:
        t = Transport(fake.url, username="alice", password="s3cret", backoff=0.01)
        t.request("GET", "/v2/lab/x/tags/list")  # learn Basic
        fake.requests.clear()
        fake.fail["/v2/lab/x/tags/list"] = [(503, unavailable), (503, unavailable)]
        assert t.request("GET", "/v2/lab/x/tags/list").json()["tags"] == ["a", "b"]
        assert len(fake.requests) == 3
        fake.requests.clear()
        fake.fail["/v2/lab/x/tags/list"] = [(503, unavailable)] * 5
        with pytest.raises(errors.UpstreamError):
            t.request("GET", "/v2/lab/x/tags/list")
        assert len(fake.requests) == 3  # bounded: 1 + 2 retries
        fake.requests.clear()
        fake.fail["/v2/lab/x/manifests/v1"] = [(503, unavailable)]
        with pytest.raises(errors.UpstreamError):
            t.request("PUT", "/v2/lab/x/manifests/v1", data=b"{}")
        assert len(fake.requests) == 1
        fake.requests.clear()
        fake.fail["/v2/lab/x/manifests/v2"] = [
            (400, {"errors": [{"code": "MANIFEST_INVALID", "message": "no"}]})
        ]
        with pytest.raises(errors.ManifestInvalid):
            t.request("GET", "/v2/lab/x/manifests/v2")
        assert len(fake.requests) == 1


def test_retry_policy_repeats_only_safe_methods_with_doubling_waits() -> None:
    from urllib3.exceptions import MaxRetryError, NewConnectionError, ReadTimeoutError, SSLError

    from sciregistry.client.retry import retry_policy

    policy = retry_policy(retries=2, backoff=0.25)
    refused = NewConnectionError(None, "connection refused")  # type: ignore[arg-type]
    # GET and HEAD: twice, after 0.25 s and 0.5 s, on connection errors, read timeouts and 502/503/504
    first = policy.increment("GET", "/v2/", error=refused)
    assert first.get_backoff_time() == 0.25
    second = first.increment("HEAD", "/v2/", error=ReadTimeoutError(None, "/v2/", "timed out"))  # type: ignore[arg-type]
    assert second.get_backoff_time() == 0.5
    with pytest.raises(MaxRetryError):
        second.increment("GET", "/v2/", error=refused)
    assert all(policy.is_retry("GET", status) for status in (502, 503, 504))
    assert not any(policy.is_retry("GET", status) for status in (400, 401, 404, 429, 500))
    assert policy.raise_on_status is False  # the last answer is returned, the transport raises from it
    assert policy.respect_retry_after_header is False
    # writes are never repeated, not even when the connection failed (urllib3 would retry those)
    for method in ("POST", "PATCH", "PUT", "DELETE"):
        assert not policy.is_retry(method, 503)
        with pytest.raises(MaxRetryError) as caught:
            policy.increment(method, "/v2/lab/x/blobs/uploads/", error=refused)
        assert caught.value.reason is refused
    # TLS failures are final at once
    with pytest.raises(MaxRetryError):
        policy.increment("GET", "/v2/", error=SSLError("certificate verify failed"))


def test_write_to_an_unreachable_registry_is_not_retried() -> None:
    import socket
    import time

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t = Transport(f"127.0.0.1:{port}", retries=2, backoff=1.0)
    started = time.monotonic()
    with pytest.raises(TransportError, match=f"cannot reach 127.0.0.1:{port}"):
        t.request("POST", "/v2/lab/x/blobs/uploads/", data=iter([b"x"]))
    assert time.monotonic() - started < 1.0  # a GET would wait 1 s + 2 s before giving up


def test_unreachable_registry_is_one_clear_oserror() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    t = Transport(f"127.0.0.1:{port}", retries=0)
    with pytest.raises(TransportError, match=f"cannot reach 127.0.0.1:{port}"):
        t.request("GET", "/v2/")


@pytest.mark.parametrize(
    ("method", "path", "scopes"),
    [
        ("GET", "/v2/lab/blobs/x/manifests/v1", {"lab/blobs/x": {"pull"}}),
        ("HEAD", "/v2/lab/x/manifests/blobs", {"lab/x": {"pull"}}),
        ("PUT", "/v2/lab/x/manifests/sha256:" + "a" * 64, {"lab/x": {"pull", "push"}}),
        (
            "POST",
            "/v2/a/b/blobs/uploads/?mount=sha256:" + "a" * 64 + "&from=c%2Fd",
            {"a/b": {"pull", "push"}, "c/d": {"pull"}},
        ),
        ("PATCH", "/v2/a/blobs/uploads/0f3c", {"a": {"pull", "push"}}),
        ("DELETE", "/v2/a/manifests/v1", {"a": {"delete"}}),
        ("GET", "/v2/a/referrers/sha256:" + "a" * 64, {"a": {"pull"}}),
        ("GET", "/v2/", {}),
        ("GET", "/api/v1/runs", {}),
    ],
)
def test_scopes_are_predicted_from_the_route(method: str, path: str, scopes: dict[str, set[str]]) -> None:
    from sciregistry.client.transport import _predict

    assert _predict(method, "http://127.0.0.1:1" + path, None).scopes == scopes


def test_chunked_upload_through_oras_uses_the_cached_push_token(tmp_path) -> None:  # type: ignore[no-untyped-def]
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 2500)
    with fake_registry() as fake:
        reg = Registry(
            fake.url, username="alice", password="s3cret", use_stored_credentials=False, chunk_size=1000
        )
        reg.upload_blob("lab/x", big)
    assert [t["scope"] for t in fake.token_requests] == [
        ["repository:lab/x:pull"],
        ["repository:lab/x:pull,push"],
    ]
    sent = [(m, p, (a or "").split(" ")[0]) for m, p, a in fake.requests if p != "/token"]
    blob = "/v2/lab/x/blobs/sha256:" + hashlib.sha256(b"x" * 2500).hexdigest()
    assert sent == [
        ("HEAD", blob, ""),
        ("HEAD", blob, "Bearer"),
        ("POST", "/v2/lab/x/blobs/uploads/", ""),
        ("POST", "/v2/lab/x/blobs/uploads/", "Bearer"),
        ("PATCH", "/v2/lab/x/blobs/uploads/u1", "Bearer"),
        ("PATCH", "/v2/lab/x/blobs/uploads/u1", "Bearer"),
        ("PATCH", "/v2/lab/x/blobs/uploads/u1", "Bearer"),
        ("PUT", "/v2/lab/x/blobs/uploads/u1", "Bearer"),
    ]


def test_scopes_are_predicted_from_the_route_table() -> None:
    from sciregistry.client.transport import _predict

    def scopes(method: str, path: str, params: dict[str, str] | None = None) -> list[str]:
        return _predict(method, "http://127.0.0.1:5000" + path, params).strings()

    digest = "sha256:" + "0" * 64
    assert scopes("GET", "/v2/lab/blobs/manifests/v1") == ["repository:lab/blobs:pull"]
    assert scopes("HEAD", f"/v2/lab/x/blobs/{digest}") == ["repository:lab/x:pull"]
    assert scopes("PUT", "/v2/lab/x/manifests/v1") == ["repository:lab/x:pull,push"]
    assert scopes("DELETE", f"/v2/lab/x/manifests/{digest}") == ["repository:lab/x:delete"]
    # an upload session's status and cancel need push, as the server's table says
    assert scopes("GET", "/v2/lab/x/blobs/uploads/u1") == ["repository:lab/x:pull,push"]
    assert scopes("DELETE", "/v2/lab/x/blobs/uploads/u1") == ["repository:lab/x:pull,push"]
    assert scopes("POST", "/v2/lab/x/blobs/uploads/", {"mount": digest, "from": "pub/y"}) == [
        "repository:lab/x:pull,push",
        "repository:pub/y:pull",
    ]
    assert scopes("GET", f"/v2/lab/x/referrers/{digest}") == ["repository:lab/x:pull"]
    for path in ("/v2/", "/v2/_catalog", "/v2/Lab/tags/list", "/api/v1/runs", "/v2/lab/x/nothing"):
        assert scopes("GET", path) == [], path
