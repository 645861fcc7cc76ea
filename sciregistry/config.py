"""Configuration: defaults < TOML file < ``SCIREGISTRY_*`` environment variables.

Every setting is a field of ``Config`` with its type, default and help text; ``docs/operator-guide.md``
has the generated reference (``sciregistry config-reference``). In TOML, a setting is either a
top-level key (``database_url = "..."``) or a key of the table named by its prefix
(``[storage] driver = "s3"`` is ``storage_driver``). In the environment it is the upper-cased name
with the ``SCIREGISTRY_`` prefix (``SCIREGISTRY_STORAGE_DRIVER=s3``). Values are validated at start-up:
an unknown key or a value of the wrong type stops the server with a message naming it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

ENV_PREFIX = "SCIREGISTRY_"


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


def _f(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass
class Config:
    data_dir: str = _f("./var", "Directory for the SQLite database, blobs, keys and the admin password.")
    database_url: str = _f(
        "",
        "SQLAlchemy URL; default sqlite:///<data_dir>/registry.db. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db",
    )
    host: str = _f("127.0.0.1", "Address `serve` binds to.")
    port: int = _f(5000, "Port `serve` binds to.")
    workers: int = _f(2, "gunicorn worker processes.")
    threads: int = _f(8, "Threads per worker (gthread).")
    base_url: str = _f(
        "",
        "External URL of the registry (e.g. https://registry.example.org); "
        "default http://<host>:<port>. Used in token realms, landing pages and DOIs.",
    )
    registry_host: str = _f("", "Host[:port] clients use in image references; default from base_url.")
    storage_driver: str = _f("filesystem", "Blob store: filesystem or s3.")
    storage_root: str = _f("", "Filesystem store root; default <data_dir>/storage.")
    storage_fsync: bool = _f(
        True,
        "fsync blobs before they are recorded (durability against power loss; a "
        "process crash never exposes a partial blob either way).",
    )
    storage_uncache_committed: bool = _f(
        False,
        "With fsync on, drop blob pages from the page cache once written back "
        "(write-once data stops crowding out hot data and its memory is "
        "reused at once: pushes 2-5x faster on VMs with lazily backed "
        "memory), at the price of the first pull of a new blob reading from "
        "disk. See docs/performance.md.",
    )
    blob_sendfile: bool = _f(
        False,
        "Serve whole blobs with sendfile (less server CPU; on loopback, clients measured "
        "faster with plain 1 MiB writes, see docs/performance.md).",
    )
    s3_bucket: str = _f("", "S3 bucket (storage_driver = s3).")
    s3_endpoint_url: str = _f("", "S3 endpoint for MinIO, Ceph RGW...; empty for AWS.")
    s3_region: str = _f("", "S3 region.")
    s3_access_key: str = _f("", "S3 access key (else the boto3 default chain).")
    s3_secret_key: str = _f("", "S3 secret key.")
    s3_prefix: str = _f("", "Key prefix inside the bucket.")
    s3_presign: bool = _f(False, "Redirect blob GETs to presigned S3 URLs.")
    auth_enabled: bool = _f(
        True, "Require authentication (anonymous clients may still pull public repositories)."
    )
    service_name: str = _f("sciregistry", "The `service` of the Docker token flow (JWT audience).")
    token_ttl: int = _f(900, "Lifetime of issued bearer tokens, seconds.")
    admin_password: str = _f("", "Password of the `admin` user created on first start (else random).")
    login_max_failures: int = _f(5, "Failed logins per address or user before back-off starts.")
    login_window: int = _f(300, "Seconds over which failed logins are counted.")
    trusted_proxies: str = _f(
        "",
        "Comma-separated addresses of reverse proxies (e.g. 127.0.0.1 for a same-host nginx) "
        "(addresses or networks) whose X-Forwarded-For and X-Forwarded-Proto are believed; from "
        "any other peer they are ignored. Empty: trust no proxy. See the security model.",
    )
    header_timeout: int = _f(
        10,
        "Seconds a client has to send a request's complete headers (after its first "
        "byte); slower connections are dropped without holding a server thread.",
    )
    body_timeout: int = _f(30, "Seconds a request body may go without a byte before the request fails.")
    body_min_rate: int = _f(
        1024,
        "Bytes per second a request body must average once body_timeout seconds of "
        "grace are used up (0: no minimum).",
    )
    max_crate_size: int = _f(
        1048576,
        "Largest run crate layer (ro-crate-metadata.json, sciregistry-run.json) "
        "admitted, bytes; larger crates are refused with MANIFEST_INVALID.",
    )
    max_open_uploads: int = _f(
        100,
        "Upload sessions one principal (user, robot, token; anonymous: per address) "
        "may have open at once; one more is refused with TOOMANYREQUESTS (0: no cap).",
    )
    upload_idle_timeout: int = _f(
        3600,
        "Upload sessions that received no data for this many seconds are removed by "
        "the running server (checked every minute, or every half of this when shorter).",
    )
    gc_grace_seconds: int = _f(
        86400,
        "Unreferenced blobs and untagged manifests pushed (or re-pushed, mounted, "
        "HEADed by digest) less than this many seconds ago are never collected.",
    )
    upload_max_age: int = _f(86400, "Uploads idle longer than this are removed by gc.")
    gc_interval: int = _f(
        0,
        "Seconds between online gc passes run by `serve` (one pass at a time across "
        "all workers and nodes); 0 turns the online gc off.",
    )
    gc_delete_untagged: bool = _f(
        False,
        "Online gc also deletes untagged manifests older than gc_grace_seconds "
        "that no tag, DOI, index or subject keeps.",
    )
    doi_minter: str = _f("local", "DOI minter: local or datacite.")
    doi_prefix: str = _f("10.5072", "DOI prefix (10.5072 is the test prefix).")
    doi_publisher: str = _f("sciregistry", "Publisher named in DOI metadata.")
    datacite_url: str = _f("https://api.test.datacite.org", "DataCite REST API base URL.")
    datacite_repository: str = _f("", "DataCite repository id (e.g. ABC.XYZ).")
    datacite_password: str = _f("", "DataCite repository password.")
    scan_in_server: bool = _f(
        True,
        "Each server process works the vulnerability scan queue in a background "
        "thread (else run `sciregistry scan --watch`).",
    )
    scan_poll_seconds: int = _f(2, "How often an idle scanner looks for queued scans, seconds.")
    log_level: str = _f("INFO", "Logging level.")
    log_format: str = _f(
        "plain", "Log line format: plain, or json (one object per line, with the request id)."
    )
    access_log: bool = _f(
        True,
        "One log line per request (logger sciregistry.access): method, route, status, bytes, "
        "duration, principal, request id.",
    )
    metrics_public: bool = _f(
        False, "Serve GET /metrics to anyone (default: administrators only, when auth is on)."
    )
    metrics_bind: str = _f(
        "",
        "host:port on which `serve` exposes the Prometheus metrics, unauthenticated, instead "
        "of /metrics on the main port (e.g. 127.0.0.1:9102: reachable only from the host).",
    )
    testing: bool = _f(False, "Test mode (cheaper password hashing).")

    # --- derived values ---
    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{os.path.abspath(self.data_dir)}/registry.db"

    @property
    def resolved_storage_root(self) -> str:
        return self.storage_root or os.path.join(os.path.abspath(self.data_dir), "storage")

    @property
    def resolved_base_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def resolved_registry_host(self) -> str:
        if self.registry_host:
            return self.registry_host
        return self.resolved_base_url.split("://", 1)[-1].split("/", 1)[0]

    def storage_options(self) -> dict[str, Any]:
        if self.storage_driver == "filesystem":
            return {
                "root": self.resolved_storage_root,
                "fsync": self.storage_fsync,
                "uncache_committed": self.storage_uncache_committed,
            }
        if self.storage_driver == "s3":
            opts: dict[str, Any] = {
                "bucket": self.s3_bucket,
                "prefix": self.s3_prefix,
                "presign": self.s3_presign,
            }
            for key in ("endpoint_url", "region", "access_key", "secret_key"):
                value = getattr(self, f"s3_{key}")
                if value:
                    opts[key] = value
            return opts
        raise ConfigError(f"storage_driver must be 'filesystem' or 's3', not {self.storage_driver!r}")

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


FIELDS = {f.name: f for f in fields(Config)}


def _coerce(name: str, value: Any, source: str) -> Any:
    kind = FIELDS[name].type
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
                return True
            if isinstance(value, str) and value.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if not isinstance(value, str | int | float):
            raise ValueError(value)
        return str(value)
    except ValueError:
        raise ConfigError(f"{source}: {name} must be of type {kind}, got {value!r}") from None


def _flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}".replace("-", "_")
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "_"))
        else:
            out[name] = value
    return out


def load_config(
    path: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the configuration: defaults, then the TOML file at ``path``, then the environment, then
    explicit ``overrides`` (command-line options)."""
    values: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
        for name, value in _flatten(doc).items():
            if name not in FIELDS:
                raise ConfigError(f"{path}: unknown setting {name!r}")
            values[name] = _coerce(name, value, path)
    env = os.environ if environ is None else environ
    for key, value in env.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :].lower()
            if name in FIELDS:
                values[name] = _coerce(name, value, key)
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        if name not in FIELDS:
            raise ConfigError(f"unknown setting {name!r}")
        values[name] = _coerce(name, value, "option")
    cfg = Config(**values)
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    cfg.storage_options()
    if cfg.storage_driver == "s3" and not cfg.s3_bucket:
        raise ConfigError("storage_driver = s3 needs s3_bucket")
    if not 0 < cfg.port < 65536 and cfg.port != 0:
        raise ConfigError(f"port out of range: {cfg.port}")
    if cfg.doi_minter not in ("local", "datacite"):
        raise ConfigError(f"doi_minter must be 'local' or 'datacite', not {cfg.doi_minter!r}")
    if cfg.doi_minter == "datacite" and not (cfg.datacite_repository and cfg.datacite_password):
        raise ConfigError("doi_minter = datacite needs datacite_repository and datacite_password")
    for item in (p.strip() for p in cfg.trusted_proxies.split(",")):
        if item:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ConfigError(f"trusted_proxies: {item!r} is not an IP address or network") from None
    for name in ("header_timeout", "body_timeout", "max_crate_size", "upload_idle_timeout"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be at least 1")
    if cfg.body_min_rate < 0 or cfg.max_open_uploads < 0:
        raise ConfigError("body_min_rate and max_open_uploads must not be negative")
    if cfg.log_format not in ("plain", "json"):
        raise ConfigError(f"log_format must be 'plain' or 'json', not {cfg.log_format!r}")
    if cfg.metrics_bind:
        host, sep, port = cfg.metrics_bind.rpartition(":")
        if not sep or not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
            raise ConfigError(f"metrics_bind must be host:port, not {cfg.metrics_bind!r}")
    if cfg.workers < 1 or cfg.threads < 1:
        raise ConfigError("workers and threads must be at least 1")


def reference() -> str:
    """The configuration reference as a Markdown table (for the operator guide)."""
    lines = ["| setting | environment variable | type | default | meaning |", "|---|---|---|---|---|"]
    for f in fields(Config):
        default = f.default if f.default != "" else "(empty)"
        lines.append(
            f"| `{f.name}` | `{ENV_PREFIX}{f.name.upper()}` | {f.type} | `{default}` | {f.metadata['help']} |"
        )
    return "\n".join(lines) + "\n"
