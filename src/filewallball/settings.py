"""One Settings object, read from `FWB_*` environment variables and an optional `.env` file."""

from __future__ import annotations

from functools import cached_property
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal

from limits import parse_many
from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

MiB = 1024 * 1024
ANY_HOST = "*"

# Synchronous driver names people paste from other tools, mapped to the async drivers we run on.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "mysql": "mysql+asyncmy",
    "mysql+pymysql": "mysql+asyncmy",
    "mysql+mysqldb": "mysql+asyncmy",
    "mariadb": "mysql+asyncmy",
    "mariadb+pymysql": "mysql+asyncmy",
    "mariadb+asyncmy": "mysql+asyncmy",
}
_SUPPORTED_DRIVERS = {"sqlite+aiosqlite", "mysql+asyncmy"}


Network = IPv4Network | IPv6Network


def parse_networks(value: object) -> list[Network]:
    """Comma-separated CIDRs (a bare address is a /32 or /128), as from an environment variable."""
    if value is None or value == "":
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("expected comma-separated CIDRs")
    networks: list[Network] = []
    for item in items:
        text = str(item).strip()
        if text:
            try:
                networks.append(ip_network(text, strict=False))
            except ValueError:
                raise ValueError(f"{text!r} is not an IP network (CIDR)") from None
    return networks


def _comma_separated(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


Networks = Annotated[list[Network], NoDecode, BeforeValidator(parse_networks)]
CommaList = Annotated[list[str], NoDecode, BeforeValidator(_comma_separated)]


def _rate_limit(value: str) -> str:
    """What the `limits` library parses, one limit or several (`10/second;100/minute`)."""
    try:
        items = parse_many(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a rate limit: write 60/minute, or several as 10/second;100/minute"
        ) from None
    if any(item.amount < 1 for item in items):
        raise ValueError(f"{value!r} would refuse every request; allow at least 1")
    return value


RateLimit = Annotated[str, AfterValidator(_rate_limit)]


class SettingsError(Exception):
    """A setting has a value we refuse to start with; the message names it."""


class Settings(BaseSettings):
    """Every knob of the service. The README lists each with its default."""

    model_config = SettingsConfigDict(
        env_prefix="FWB_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Storage and metadata
    database_url: str = "sqlite+aiosqlite:///./data/filewallball.db"
    # Where blobs live: files below storage_dir, objects in an S3-compatible bucket, or (tests,
    # trials) this process's memory
    storage: Literal["local", "s3", "memory"] = "local"
    storage_dir: Path = Path("./data/files")
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None  # None: AWS itself
    s3_region: str | None = None
    s3_prefix: str = ""  # keys below this folder of the bucket
    s3_part_size: Annotated[int, Field(ge=5 * 1024**2, le=5 * 1024**3)] = 8 * 1024**2
    auto_migrate: bool = True

    # Cache: in-process unless a Redis URL is given
    redis_url: str | None = None
    cache_ttl: Annotated[int, Field(ge=1, le=86_400)] = 300
    # Without Redis: false reads metadata from the database every time, so that several worker
    # processes never serve a file another one deleted. `serve --workers 2+` sets it false.
    memory_cache: bool = True

    # Limits
    max_file_size: Annotated[int, Field(ge=1)] = 100 * MiB
    preview_max_bytes: Annotated[int, Field(ge=1, le=64 * MiB)] = MiB
    # Files of up to 64 KiB are kept in each process's memory once downloaded, within this
    # many bytes (0: none), and sent from there
    small_file_cache_bytes: Annotated[int, Field(ge=0, le=1024 * MiB)] = 8 * MiB

    # Public URLs in responses are built from this when set, else from the request's Host,
    # which must then be one of these (`*` any, `*.example.org` its subdomains)
    base_url: AnyHttpUrl | None = None
    allowed_hosts: CommaList = [ANY_HOST]

    # Access: who may do what, from where
    anonymous_role: Literal["uploader", "viewer", "none"] = "uploader"
    trusted_proxies: Networks = []
    # The one header the trusted proxies write; the other is the client's and never read.
    forwarded_header: Literal["x-forwarded-for", "forwarded"] = "x-forwarded-for"
    ip_allow: Networks = []
    ip_deny: Networks = []
    admin_ip_allow: Networks = []
    policy_refresh_seconds: Annotated[float, Field(gt=0, le=300)] = 5.0

    # Abuse protection
    rate_limit_enabled: bool = True
    rate_limit_uploads: RateLimit = "30/minute"
    rate_limit_reads: RateLimit = "600/minute"
    rate_limit_admin: RateLimit = "120/minute"
    rate_limit_resumable: RateLimit = "600/minute"  # requests on an upload begun at /uploads
    rate_limit_fail_closed: bool = False  # refuse writes while the limiter's Redis is down
    max_uploads_per_client: Annotated[int, Field(ge=1)] = 4
    max_inflight_upload_bytes: Annotated[int, Field(ge=1)] = 2 * 1024 * MiB
    upload_idle_timeout: Annotated[float, Field(gt=0)] = 30.0
    # Expiring links: the longest `expires_in` an upload may ask for (seconds)
    max_expires_in: Annotated[int, Field(ge=60)] = 30 * 86_400
    # `filewallball cleanup`: soft-deleted files are purged this many days after deletion, and
    # view and download logs older than this many days are pruned (the roll-ups stay)
    purge_after_days: Annotated[float, Field(ge=0)] = 30.0
    log_retention_days: Annotated[float, Field(ge=1)] = 365.0

    # Resumable uploads: an unfinished one is thrown away this long after its last chunk, and
    # one client may have this many unfinished at once
    resumable_expire_seconds: Annotated[float, Field(gt=0)] = 86_400.0
    resumable_max_per_client: Annotated[int, Field(ge=1)] = 20

    # Response headers
    hsts: bool = False
    cors_origins: CommaList = []

    # Malware scanning: host:port or a unix socket path of a clamd
    clamav_address: str | None = None
    clamav_fail_open: bool = False
    clamav_timeout: Annotated[float, Field(gt=0)] = 30.0

    # Background jobs and thumbnails
    job_concurrency: Annotated[int, Field(ge=0, le=32)] = 2  # 0: this replica runs no jobs
    job_lease_seconds: Annotated[float, Field(gt=0)] = 60.0
    job_poll_seconds: Annotated[float, Field(gt=0)] = 5.0
    thumbnail_timeout: Annotated[float, Field(gt=0)] = 30.0
    # What a crash left behind is removed once older than this (an upload may take as long).
    stale_upload_seconds: Annotated[float, Field(gt=0)] = 3600.0
    sweep_interval_seconds: Annotated[float, Field(gt=0)] = 3600.0
    thumbnail_max_memory: Annotated[int, Field(ge=64 * MiB)] = 1024 * MiB
    thumbnail_max_pixels: Annotated[int, Field(ge=1)] = 64_000_000

    # Statistics
    public_stats: bool = False
    # Views and downloads are written in batches: every this many seconds, or as soon as a
    # batch is full; at most activity_max_pending wait in each process (more are dropped).
    activity_flush_seconds: Annotated[float, Field(gt=0, le=60)] = 0.2
    activity_batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500
    activity_max_pending: Annotated[int, Field(ge=1)] = (
        100_000  # a summary at GET /stats/summary for everyone
    )

    # Serving: on SIGTERM, how long requests in flight may take to finish (uploads included)
    # before they are cut off; keep it below the orchestrator's grace period
    drain_seconds: Annotated[int, Field(ge=1, le=3600)] = 25

    # Logging
    log_level: str = "info"
    log_json: bool | None = None  # None: JSON when the stream is not a terminal
    # The service logs to stdout, the container way; operator commands (backup, fsck…) to
    # stderr, keeping their stdout for their answer
    log_stream: Literal["stdout", "stderr"] = "stdout"
    # Also to this file, as JSON lines, rotated at log_file_max_bytes, keeping this many old ones
    log_file: Path | None = None
    log_file_max_bytes: Annotated[int, Field(ge=1024)] = 50 * MiB
    log_file_backups: Annotated[int, Field(ge=0, le=1000)] = 5

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> Settings:
        if self.storage == "s3" and not self.s3_bucket:
            raise ValueError("FWB_S3_BUCKET: required with FWB_STORAGE=s3")
        return self

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        try:
            url = make_url(value)
        except Exception as exc:
            raise ValueError("not a database URL (sqlite:///path or mysql://user@host/db)") from exc
        driver = _ASYNC_DRIVERS.get(url.drivername, url.drivername)
        if driver not in _SUPPORTED_DRIVERS:
            raise ValueError(
                f"unsupported database {url.drivername!r}: use sqlite or mysql/mariadb"
            )
        return url.set(drivername=driver).render_as_string(hide_password=False)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _host_patterns(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one host, or * for any")
        for pattern in value:
            name = pattern.removeprefix("*.")
            # Ports are not part of the match: `files.example.org` allows it on any port.
            has_port = ":" in name and not name.startswith("[")
            if pattern != ANY_HOST and ("*" in name or "/" in name or has_port):
                raise ValueError(f"{pattern!r} is not a host name (without port), *.domain or *")
        return [pattern.lower() for pattern in value]

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        value = value.lower()
        if value not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return value

    @cached_property
    def database(self) -> URL:
        return make_url(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.database.get_backend_name() == "sqlite"


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a validation error into one line that names the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if not first["loc"]:  # a rule between settings names them itself
            raise SettingsError(message) from None
        raise SettingsError(f"FWB_{str(first['loc'][0]).upper()}: {message}") from None
