"""Settings, read from the environment in one place.

Production must fail loudly when a secret is missing or still the demo value, so a
misconfigured start never serves guests with a guessable session key. Demo and test
modes get safe local defaults so `make run` and `make test` need no setup.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEMO_SECRET_KEY = "demo-only-not-secret-0000000000000000000000"  # noqa: S105 - refused in production
ENVIRONMENTS = ("production", "demo", "test")
# Who runs maintenance on a timer: the separate `gastregister worker` process, every
# web worker (gunicorn's post_worker_init), or nobody (cron runs `gastregister purge`).
SCHEDULER_MODES = ("worker", "web", "off")
DEFAULT_SCHEDULER = {"production": "worker", "demo": "web", "test": "off"}


# Reads one variable: (environment, variable name, the field's default) -> value.
_Parser = Callable[[Mapping[str, str], str, Any], Any]


class ConfigurationError(RuntimeError):
    """Raised at start-up when the configuration cannot run the service safely."""


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from exc
    if not minimum <= value <= maximum:
        raise ConfigurationError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


def _list(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list; set but empty means an empty list, not the default."""
    raw = env.get(name)
    if raw is None:
        return default
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _scheduler(env: Mapping[str, str], environment: str) -> str:
    raw = env.get("GASTREGISTER_SCHEDULER", "").strip().lower()
    if not raw:
        return DEFAULT_SCHEDULER[environment]
    if raw not in SCHEDULER_MODES:
        hint = ""
        if raw in {"1", "true", "yes", "on", "0", "false", "no"}:
            hint = " (true was every web worker: web; false was cron only: off)"
        raise ConfigurationError(
            f"GASTREGISTER_SCHEDULER must be worker, web or off, got {raw!r}{hint}"
        )
    return raw


@dataclass(frozen=True)
class Settings:
    """Everything the service can be configured with; see docs/OPERATIONS.md."""

    environment: str = "production"
    secret_key: str = ""
    database_url: str = ""
    instance_path: Path = Path("instance")
    public_base_url: str = "http://127.0.0.1:5000"
    retention_days: int = 28
    audit_retention_days: int = 3 * 365
    default_stay_minutes: int = 180
    max_request_bytes: int = 256 * 1024
    max_late_arrival_minutes: int = 24 * 60
    ratelimit_storage_url: str = "memory://"
    ratelimit_enabled: bool = True
    # The reverse proxy (deploy/nginx) counts check-ins per client address and sends a
    # refused one on with X-Gastregister-Limited; the app then counts only per area.
    client_limits_by_proxy: bool = False
    # It counts API check-ins per area too, by the area the guest page names in
    # X-Gastregister-Area (registration.checkin.web.area_counted_by_proxy).
    area_limits_by_proxy: bool = False
    mail_server: str = ""
    mail_port: int = 25
    mail_use_tls: bool = False
    mail_username: str = ""
    mail_password: str = field(default="", repr=False)
    mail_sender: str = "Gastregister <noreply@localhost>"
    mail_to_console: bool = False
    contact_required: str = "phone_or_email"
    privacy_controller: str = ""
    privacy_notice: str = ""
    trace_window_max_days: int = 14
    release_deadline_hours: int = 24
    auto_release_after_deadline: bool = False
    export_package_days: int = 7
    scheduler: str = "worker"
    purge_interval_minutes: int = 10
    db_timeout_seconds: int = 5
    db_guest_timeout_ms: int = 1500
    maintenance_db_timeout_seconds: int = 600
    disk_free_min_mb: int = 100
    session_lifetime_minutes: int = 8 * 60
    log_level: str = "INFO"
    metrics_allow: tuple[str, ...] = ("127.0.0.1", "::1")
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1", "::1")
    metrics_token: str = field(default="", repr=False)

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def https(self) -> bool:
        return self.public_base_url.startswith("https://")

    def derive_key(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose, derived from SECRET_KEY.

        Every keyed hash or signature the server makes (check-out tokens, mail-link
        tokens, the new-location form, rate-limit keys) takes its key from here, so
        no two purposes share a key and SECRET_KEY itself never keys anything. The
        derivation SHA-256("gastregister/<purpose>/" || SECRET_KEY) is the one the
        mail-link tokens and the location form always used, so their keys did not
        change when they moved here.
        """
        return _derived_key(self.secret_key, purpose)

    def keyed_hash(self, purpose: str, message: bytes) -> bytes:
        """HMAC-SHA-256 of `message` under derive_key(`purpose`).

        The keyed HMAC is made once per secret and purpose, and copied for each
        message. Keyed afresh (the key derived, an OpenSSL context set up), the two a
        check-in makes (its check-out token and its idempotency key's digest) took
        18-26 µs inside a request, whose other work leaves the caches cold; as copies
        14 (issue 15).
        """
        mac = _keyed_hmac(self.secret_key, purpose).copy()
        mac.update(message)
        return mac.digest()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (`DATABASE_URL`, `SECRET_KEY`, `GASTREGISTER_*`).

        The plain variables come from `_FROM_ENV` with their defaults taken from the
        fields above, so a default is written once; the few that depend on the
        environment or on each other are worked out here.
        """
        env = os.environ if env is None else env
        environment = env.get("GASTREGISTER_ENV", cls.environment).strip().lower()
        if environment not in ENVIRONMENTS:
            raise ConfigurationError(
                f"GASTREGISTER_ENV must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}"
            )
        instance_path = Path(env.get("GASTREGISTER_INSTANCE_PATH", str(cls.instance_path)))
        instance_path = instance_path.resolve()
        default_db = f"sqlite:///{instance_path / 'gastregister.db'}"
        secret_key = env.get("SECRET_KEY", cls.secret_key)
        if not secret_key and environment != "production":
            secret_key = DEMO_SECRET_KEY
        defaults = {f.name: f.default for f in fields(cls)}
        values = {name: parse(env, var, defaults[name]) for name, var, parse in _FROM_ENV}
        settings = cls(
            **values,
            environment=environment,
            secret_key=secret_key,
            database_url=env.get("DATABASE_URL", "") or default_db,
            instance_path=instance_path,
            mail_to_console=_bool(env, "GASTREGISTER_MAIL_TO_CONSOLE", not values["mail_server"]),
            scheduler=_scheduler(env, environment),
        )
        settings.validate()
        return settings

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], base: Settings | None = None) -> Settings:
        """Tests pass a mapping of field names; unknown names are an error, not ignored."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigurationError(f"unknown settings: {', '.join(sorted(unknown))}")
        base = base or cls(environment="test", secret_key=DEMO_SECRET_KEY)
        merged = {f.name: getattr(base, f.name) for f in fields(cls)}
        merged.update(values)
        settings = cls(**merged)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse to start production with secrets that are missing, publicly known or logged."""
        if self.is_production:
            if not self.secret_key:
                raise ConfigurationError(
                    "SECRET_KEY is not set. Production needs a long random secret, e.g. "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`."
                )
            if self.secret_key == DEMO_SECRET_KEY or len(self.secret_key) < 32:
                raise ConfigurationError(
                    "SECRET_KEY is the demo key or shorter than 32 characters; set a long "
                    "random secret for production."
                )
            # Console mail would print verification, reset and invitation links (each a
            # credential) to stdout, i.e. into the service's log.
            if not self.mail_server:
                raise ConfigurationError(
                    "GASTREGISTER_MAIL_SERVER is not set: production mails verification, reset and "
                    "invitation links, never prints them; set it (and _PORT, _USERNAME, _PASSWORD, "
                    "_USE_TLS) to your mail server."
                )
            if self.mail_to_console:
                raise ConfigurationError(
                    "GASTREGISTER_MAIL_TO_CONSOLE=true would print verification, reset and "
                    "invitation links to the log; production must not set it (demo only)."
                )
        if self.contact_required not in {"phone_or_email", "phone", "email", "both"}:
            raise ConfigurationError(
                "GASTREGISTER_CONTACT_REQUIRED must be phone_or_email, phone, email or both"
            )
        if self.scheduler not in SCHEDULER_MODES:
            raise ConfigurationError("GASTREGISTER_SCHEDULER must be worker, web or off")
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise ConfigurationError("DATABASE_URL must be a sqlite:// or postgresql:// URL")
        _check_networks("GASTREGISTER_METRICS_ALLOW", self.metrics_allow)
        _check_networks("GASTREGISTER_FORWARDED_ALLOW_IPS", self.forwarded_allow_ips)
        if self.metrics_token and len(self.metrics_token) < 32:
            raise ConfigurationError(
                "GASTREGISTER_METRICS_TOKEN is shorter than 32 characters; use a long random token."
            )


def _check_networks(name: str, entries: tuple[str, ...]) -> None:
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigurationError(
                f"{name} must list IP addresses or networks "
                f"(e.g. 127.0.0.1,::1,10.0.0.0/24), got {entry!r}"
            ) from None


def _text(env: Mapping[str, str], name: str, default: Any) -> Any:
    """Set but empty is kept as empty: only a missing variable takes the default."""
    return env.get(name, default)


def _whole(minimum: int, maximum: int) -> _Parser:
    """An integer parser with its bounds, for the table below."""

    def parse(env: Mapping[str, str], name: str, default: Any) -> Any:
        return _int(env, name, default, minimum=minimum, maximum=maximum)

    return parse


def _url_base(env: Mapping[str, str], name: str, default: Any) -> Any:
    return env.get(name, default).rstrip("/")


def _upper(env: Mapping[str, str], name: str, default: Any) -> Any:
    return env.get(name, default).upper()


# (field, environment variable, parser); the default is the field's own in `Settings`.
_FROM_ENV: tuple[tuple[str, str, _Parser], ...] = (
    ("public_base_url", "GASTREGISTER_PUBLIC_BASE_URL", _url_base),
    ("retention_days", "GASTREGISTER_RETENTION_DAYS", _whole(1, 366)),
    ("audit_retention_days", "GASTREGISTER_AUDIT_RETENTION_DAYS", _whole(30, 3650)),
    ("default_stay_minutes", "GASTREGISTER_DEFAULT_STAY_MINUTES", _whole(15, 24 * 60)),
    ("max_request_bytes", "GASTREGISTER_MAX_REQUEST_BYTES", _whole(64 * 1024, 2**24)),
    (
        "max_late_arrival_minutes",
        "GASTREGISTER_MAX_LATE_ARRIVAL_MINUTES",
        _whole(5, 7 * 24 * 60),
    ),
    ("ratelimit_storage_url", "GASTREGISTER_RATELIMIT_STORAGE", _text),
    ("ratelimit_enabled", "GASTREGISTER_RATELIMIT_ENABLED", _bool),
    ("client_limits_by_proxy", "GASTREGISTER_CLIENT_LIMITS_BY_PROXY", _bool),
    ("area_limits_by_proxy", "GASTREGISTER_AREA_LIMITS_BY_PROXY", _bool),
    ("mail_server", "GASTREGISTER_MAIL_SERVER", _text),
    ("mail_port", "GASTREGISTER_MAIL_PORT", _whole(1, 65535)),
    ("mail_use_tls", "GASTREGISTER_MAIL_USE_TLS", _bool),
    ("mail_username", "GASTREGISTER_MAIL_USERNAME", _text),
    ("mail_password", "GASTREGISTER_MAIL_PASSWORD", _text),
    ("mail_sender", "GASTREGISTER_MAIL_SENDER", _text),
    ("contact_required", "GASTREGISTER_CONTACT_REQUIRED", _text),
    ("privacy_controller", "GASTREGISTER_PRIVACY_CONTROLLER", _text),
    ("privacy_notice", "GASTREGISTER_PRIVACY_NOTICE", _text),
    ("trace_window_max_days", "GASTREGISTER_TRACE_WINDOW_MAX_DAYS", _whole(1, 28)),
    ("release_deadline_hours", "GASTREGISTER_RELEASE_DEADLINE_HOURS", _whole(1, 24 * 14)),
    ("auto_release_after_deadline", "GASTREGISTER_AUTO_RELEASE", _bool),
    ("export_package_days", "GASTREGISTER_EXPORT_PACKAGE_DAYS", _whole(1, 28)),
    ("purge_interval_minutes", "GASTREGISTER_PURGE_INTERVAL_MINUTES", _whole(1, 15)),
    ("db_timeout_seconds", "GASTREGISTER_DB_TIMEOUT_SECONDS", _whole(1, 60)),
    ("db_guest_timeout_ms", "GASTREGISTER_DB_GUEST_TIMEOUT_MS", _whole(200, 60_000)),
    (
        "maintenance_db_timeout_seconds",
        "GASTREGISTER_MAINTENANCE_DB_TIMEOUT_SECONDS",
        _whole(10, 6 * 3600),
    ),
    ("disk_free_min_mb", "GASTREGISTER_DISK_FREE_MIN_MB", _whole(0, 10**7)),
    ("session_lifetime_minutes", "GASTREGISTER_SESSION_MINUTES", _whole(5, 7 * 24 * 60)),
    ("log_level", "GASTREGISTER_LOG_LEVEL", _upper),
    ("metrics_allow", "GASTREGISTER_METRICS_ALLOW", _list),
    ("forwarded_allow_ips", "GASTREGISTER_FORWARDED_ALLOW_IPS", _list),
    ("metrics_token", "GASTREGISTER_METRICS_TOKEN", _text),
)


def _derived_key(secret_key: str, purpose: str) -> bytes:
    return hashlib.sha256(f"gastregister/{purpose}/".encode() + secret_key.encode()).digest()


@functools.lru_cache(maxsize=64)
def _keyed_hmac(secret_key: str, purpose: str) -> hmac.HMAC:
    """The HMAC keyed for one purpose (Settings.keyed_hash), never updated itself: only
    its copies are. Few purposes and, per process, one secret: the cache stays small."""
    return hmac.new(_derived_key(secret_key, purpose), digestmod=hashlib.sha256)
