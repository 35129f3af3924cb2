"""Configuration: production refuses unsafe secrets, values are range-checked."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from registration.checkin.checkout import checkout_token
from registration.checkin.storage import idempotency_key_digest
from registration.config import DEMO_SECRET_KEY, ConfigurationError, Settings


def test_production_without_secret_key_refuses_to_start() -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY is not set"):
        Settings.from_env({"GASTREGISTER_ENV": "production"})


def test_production_with_demo_or_short_key_refuses_to_start() -> None:
    for key in (DEMO_SECRET_KEY, "short"):
        with pytest.raises(ConfigurationError, match="demo key or shorter"):
            Settings.from_env({"GASTREGISTER_ENV": "production", "SECRET_KEY": key})


def test_production_defaults() -> None:
    settings = Settings.from_env({"SECRET_KEY": "k" * 48, "GASTREGISTER_MAIL_SERVER": "mail.lan"})
    assert settings.is_production
    assert settings.retention_days == 28
    assert settings.ratelimit_storage_url == "memory://"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith("instance/gastregister.db")


def test_production_without_a_mail_server_refuses_to_start() -> None:
    """Without a server, mail would go to the console: sign-in links in the log."""
    with pytest.raises(ConfigurationError, match=r"^GASTREGISTER_MAIL_SERVER is not set") as caught:
        Settings.from_env({"SECRET_KEY": "k" * 48})
    assert "\n" not in str(caught.value)


def test_production_with_console_mail_refuses_to_start() -> None:
    env = {
        "SECRET_KEY": "k" * 48,
        "GASTREGISTER_MAIL_SERVER": "mail.lan",
        "GASTREGISTER_MAIL_TO_CONSOLE": "true",
    }
    with pytest.raises(ConfigurationError, match=r"^GASTREGISTER_MAIL_TO_CONSOLE=true") as caught:
        Settings.from_env(env)
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigurationError, match="GASTREGISTER_MAIL_TO_CONSOLE"):
        Settings.from_mapping(
            {
                "environment": "production",
                "secret_key": "k" * 48,
                "mail_server": "mail.lan",
                "mail_to_console": True,
            }
        )


def test_demo_keeps_console_mail_without_a_server() -> None:
    assert Settings.from_env({"GASTREGISTER_ENV": "demo"}).mail_to_console


def test_demo_gets_a_local_key_and_env_values_are_read() -> None:
    settings = Settings.from_env(
        {
            "GASTREGISTER_ENV": "demo",
            "DATABASE_URL": "postgresql://u@h/db",
            "GASTREGISTER_RETENTION_DAYS": "30",
            "GASTREGISTER_PUBLIC_BASE_URL": "https://gast.example.de/",
            "GASTREGISTER_RATELIMIT_STORAGE": "redis://127.0.0.1:6379/0",
        }
    )
    assert settings.secret_key == DEMO_SECRET_KEY
    assert settings.retention_days == 30
    assert settings.public_base_url == "https://gast.example.de"
    assert settings.https
    assert settings.ratelimit_storage_url.startswith("redis://")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GASTREGISTER_RETENTION_DAYS", "0"),
        ("GASTREGISTER_RETENTION_DAYS", "many"),
        ("GASTREGISTER_DEFAULT_STAY_MINUTES", "5"),
        ("GASTREGISTER_RATELIMIT_ENABLED", "maybe"),
        ("GASTREGISTER_ENV", "staging"),
        ("DATABASE_URL", "mysql://x"),
        ("GASTREGISTER_CONTACT_REQUIRED", "fax"),
        ("GASTREGISTER_METRICS_ALLOW", "prometheus.lan"),
        ("GASTREGISTER_METRICS_ALLOW", "10.0.0.0/33"),
        ("GASTREGISTER_METRICS_TOKEN", "too-short"),
        ("GASTREGISTER_SCHEDULER", "true"),
        ("GASTREGISTER_SCHEDULER", "cron"),
        ("GASTREGISTER_DB_TIMEOUT_SECONDS", "0"),
        ("GASTREGISTER_MAINTENANCE_DB_TIMEOUT_SECONDS", "5"),
        ("GASTREGISTER_DISK_FREE_MIN_MB", "-1"),
    ],
)
def test_bad_values_are_refused_with_the_variable_name(name: str, value: str) -> None:
    env = {"GASTREGISTER_ENV": "demo", name: value}
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env(env)


def test_metrics_access_settings() -> None:
    default = Settings.from_env({"GASTREGISTER_ENV": "demo"})
    assert default.metrics_allow == ("127.0.0.1", "::1")
    assert default.metrics_token == ""
    configured = Settings.from_env(
        {
            "GASTREGISTER_ENV": "demo",
            "GASTREGISTER_METRICS_ALLOW": " 10.0.0.0/24, 192.0.2.7 ,fd00::/8",
            "GASTREGISTER_METRICS_TOKEN": "m" * 40,
        }
    )
    assert configured.metrics_allow == ("10.0.0.0/24", "192.0.2.7", "fd00::/8")
    assert "m" * 40 not in repr(configured)
    nobody = Settings.from_env({"GASTREGISTER_ENV": "demo", "GASTREGISTER_METRICS_ALLOW": ""})
    assert nobody.metrics_allow == ()


MAIL = {"GASTREGISTER_MAIL_SERVER": "mail.example.org"}


def test_unknown_test_settings_are_an_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown settings"):
        Settings.from_mapping({"retention_dayz": 3})


@pytest.mark.parametrize(
    ("environment", "mode"), [("production", "worker"), ("demo", "web"), ("test", "off")]
)
def test_who_runs_maintenance_defaults_by_environment(environment: str, mode: str) -> None:
    """Production web workers run no timer: the separate `gastregister worker` does."""
    env = {"GASTREGISTER_ENV": environment, "SECRET_KEY": "k" * 48, **MAIL}
    settings = Settings.from_env(env)
    assert settings.scheduler == mode
    chosen = Settings.from_env({**env, "GASTREGISTER_SCHEDULER": "Web"})
    assert chosen.scheduler == "web"


def test_timeouts_and_disk_floor_defaults_and_values() -> None:
    defaults = Settings.from_env({"SECRET_KEY": "k" * 48, **MAIL})
    assert defaults.db_timeout_seconds == 5
    assert defaults.maintenance_db_timeout_seconds == 600
    assert defaults.disk_free_min_mb == 100
    chosen = Settings.from_env(
        {
            "GASTREGISTER_ENV": "demo",
            "GASTREGISTER_DB_TIMEOUT_SECONDS": "3",
            "GASTREGISTER_MAINTENANCE_DB_TIMEOUT_SECONDS": "1200",
            "GASTREGISTER_DISK_FREE_MIN_MB": "500",
        }
    )
    assert (chosen.db_timeout_seconds, chosen.maintenance_db_timeout_seconds) == (3, 1200)
    assert chosen.disk_free_min_mb == 500


def test_the_old_boolean_scheduler_setting_says_what_to_use_instead() -> None:
    with pytest.raises(ConfigurationError, match="true was every web worker: web"):
        Settings.from_env({"GASTREGISTER_ENV": "demo", "GASTREGISTER_SCHEDULER": "true"})


def test_each_purpose_gets_its_own_key_from_the_secret() -> None:
    one = Settings(environment="test", secret_key="a" * 40)
    other = Settings(environment="test", secret_key="b" * 40)
    purposes = ["checkout-token", "location-form", "token", "rate-limit-client"]
    keys = {one.derive_key(purpose) for purpose in purposes}
    assert len(keys) == len(purposes)
    assert all(len(key) == 32 for key in keys)
    assert one.derive_key("token") == one.derive_key("token")
    assert one.derive_key("token") != other.derive_key("token")
    assert b"a" * 40 not in b"".join(keys)


def test_keyed_hashes_are_hmac_sha256_under_each_purposes_key() -> None:
    one = Settings(environment="test", secret_key="a" * 40)
    other = Settings(environment="test", secret_key="b" * 40)
    for settings in (one, other, one):  # each secret its own keyed HMAC, also from the cache
        for purpose in ("checkout-token", "idempotency-key", "rate-limit-client"):
            for message in (b"", b"1f0e", "Straße".encode()):
                expected = hmac.new(settings.derive_key(purpose), message, hashlib.sha256)
                assert settings.keyed_hash(purpose, message) == expected.digest()
    assert one.keyed_hash("token", b"x") != other.keyed_hash("token", b"x")


def test_a_check_in_keys_no_new_hmac(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check-out token and the idempotency key's digest copy an HMAC keyed once per
    purpose: keyed afresh for every check-in, the two cost 14-20 µs (issue 15)."""
    settings = Settings(environment="test", secret_key="c" * 40)
    checkout_token(settings, "first")
    idempotency_key_digest(settings, "first")
    keyed = []
    made = hmac.new

    def counted(*args: Any, **kwargs: Any) -> hmac.HMAC:
        keyed.append(args)
        return made(*args, **kwargs)

    monkeypatch.setattr(hmac, "new", counted)
    tokens = {checkout_token(settings, key) for key in ("second", "third")}
    digests = {idempotency_key_digest(settings, key) for key in ("second", "third")}
    assert keyed == []
    assert len(tokens) == len(digests) == 2


def test_an_empty_environment_gives_each_fields_own_default() -> None:
    """from_env takes its defaults from the Settings fields, so a default is written once."""
    settings = Settings.from_env({"GASTREGISTER_ENV": "test"})
    worked_out = {  # depend on the environment or on each other, see from_env
        "environment",
        "secret_key",
        "database_url",
        "instance_path",
        "mail_to_console",
        "scheduler",
    }
    for field in fields(Settings):
        if field.name not in worked_out:
            assert getattr(settings, field.name) == field.default, field.name
    assert settings.instance_path == Path("instance").resolve()
    assert settings.mail_to_console
