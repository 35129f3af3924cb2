"""Database faults made for real: a stalled PostgreSQL (a frozen TCP relay), a SQLite
write lock held elsewhere, a full disk and a read-only database.

Every fault must get a clear answer within its budget, never a hang and never a 500,
and nothing acknowledged may be lost: the guest's phone retries with the same
idempotency key and the check-in is stored exactly once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import psycopg
import psycopg.errors
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, make_url, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from gastregister import create_app
from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import (
    CLIENT_DEADLINE_GRACE_SECONDS,
    Database,
    DatabaseDeadlineError,
)
from registration.migrate import upgrade
from tests import factories
from tests.factories import Venue
from tests.registration.fault_support import (
    FreezableRelay,
    checkins_with_key,
    fill_up,
    remount,
    small_tmpfs,
)

API = "/api/v1/checkins"
DB_TIMEOUT_SECONDS = 2
# What a request may take at most when the database hangs: the statement timeout plus
# the client deadline's grace. MARGIN absorbs a loaded two-core test machine.
REQUEST_BUDGET = DB_TIMEOUT_SECONDS + CLIENT_DEADLINE_GRACE_SECONDS
MARGIN = 2.0
HEALTH_REQUIREMENT = 2.0  # /healthz answers within 2 s, whatever the database does
GERMAN_503 = "Der Dienst ist kurz nicht erreichbar"


def fault_app(database_url: str, instance: Path, **overrides: Any) -> Flask:
    """The service with its own engine, as production builds it from settings."""
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "instance_path": instance,
        "ratelimit_enabled": False,
        "mail_to_console": False,
        "scheduler": "off",
        "db_timeout_seconds": DB_TIMEOUT_SECONDS,
        "disk_free_min_mb": 0,
    }
    values.update(overrides)
    return create_app(Settings.from_mapping(values), clock=FrozenClock())


@contextlib.contextmanager
def database_use(app: Flask) -> Iterator[list[str]]:
    """What the app asks of its database meanwhile: connections from its pool (taken or
    opened; counted before a stalled database could hold them up) and statements."""
    engine = app.extensions["gastregister.db"].engine
    used: list[str] = []

    def statement(*args: Any) -> None:
        used.append(str(args[2]))

    take = engine.pool.connect

    def connection() -> Any:
        used.append("connection")
        return take()

    with mock.patch.object(engine.pool, "connect", side_effect=connection):
        event.listen(engine, "before_cursor_execute", statement)
        try:
            yield used
        finally:
            event.remove(engine, "before_cursor_execute", statement)


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def wait_for_health(client: FlaskClient, guard_seconds: float = 60.0) -> None:
    """After a fault ends, the stuck probe finishes and the pool reconnects."""
    give_up = time.monotonic() + guard_seconds
    while client.get("/healthz").status_code != 200:
        assert time.monotonic() < give_up, client.get("/healthz").get_json()
        time.sleep(0.2)


def assert_api_503(response: Any) -> None:
    assert response.status_code == 503
    assert response.is_json
    assert response.get_json()["error"]["code"] == "unavailable"
    assert int(response.headers["Retry-After"]) > 0


def assert_page_503(response: Any) -> None:
    assert response.status_code == 503
    assert response.content_type.startswith("text/html")
    assert GERMAN_503 in response.text
    assert "Traceback" not in response.text


def browser_get(client: FlaskClient, path: str) -> Any:
    return client.get(path, headers={"Accept": "text/html", "Accept-Language": "de-DE,de"})


def stored_once_after_retry(
    client: FlaskClient, engine: Any, body: dict[str, Any], retry_statuses: set[int]
) -> None:
    retried = client.post(API, json=body)
    assert retried.status_code in retry_statuses, retried.get_json()
    assert checkins_with_key(engine, body["idempotencyKey"]) == 1
    again = client.post(API, json=body)
    assert again.status_code == 200
    assert again.get_json()["id"] == retried.get_json()["id"]


# --- PostgreSQL stops answering ---------------------------------------------------------


@pytest.fixture
def relay(database_url: str) -> Iterator[FreezableRelay]:
    upstream = make_url(database_url)
    relay = FreezableRelay(upstream.host or "127.0.0.1", upstream.port or 5432).start()
    yield relay
    relay.close()


@pytest.mark.postgres
def test_a_stalled_postgres_gets_fast_503s_and_loses_nothing(
    database_url: str,
    relay: FreezableRelay,
    instance_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    direct = Database(database_url)
    venue = factories.add_venue(direct.engine, now=FrozenClock().now())
    app = fault_app(relay.url_for(database_url), instance_path)
    client = app.test_client()
    body = venue.checkin_body(FrozenClock().now())
    try:
        assert client.get("/healthz").status_code == 200  # the pool holds a live connection
        relay.freeze()

        health, health_seconds = timed(lambda: client.get("/healthz"))
        stalled, stalled_seconds = timed(lambda: client.get("/healthz"))
        api, api_seconds = timed(lambda: client.post(API, json=body))
        page, page_seconds = timed(lambda: browser_get(client, f"/c/{venue.area.code}"))

        assert health.status_code == 503 and health_seconds < HEALTH_REQUIREMENT
        assert health.get_json()["reasons"] == ["database_timeout"]
        assert stalled.status_code == 503 and stalled_seconds < HEALTH_REQUIREMENT
        assert_api_503(api)
        assert api_seconds < REQUEST_BUDGET + MARGIN
        assert_page_503(page)
        assert page_seconds < REQUEST_BUDGET + MARGIN
        assert "database unavailable: timed out" in caplog.text
        assert "health: database timed out" in caplog.text

        relay.thaw()
        wait_for_health(client)
        # Stored by the retry (201), or behind the 503 if the INSERT reached the server
        # before the stall (autocommit) and the retry is answered with it (200).
        stored_once_after_retry(client, direct.engine, body, {200, 201})
    finally:
        relay.thaw()
        app.extensions["gastregister.db"].dispose()
        factories.wipe(direct.engine)
        direct.dispose()


GUEST_BUDGET_MS = 800


@pytest.mark.postgres
def test_during_a_stall_guests_get_503s_at_once_and_healthz_is_never_queued(
    database_url: str, relay: FreezableRelay, instance_path: Path
) -> None:
    """A stall must not eat the gunicorn threads: the first guest request gives up
    after the guest budget (well before the 2 s statement timeout), the next ones and
    /healthz are answered at once without a database call, and once the database is
    back the first request through finds it and everyone is served again."""
    direct = Database(database_url)
    venue = factories.add_venue(direct.engine, now=FrozenClock().now())
    app = fault_app(relay.url_for(database_url), instance_path, db_guest_timeout_ms=GUEST_BUDGET_MS)
    client = app.test_client()
    body = venue.checkin_body(FrozenClock().now())
    try:
        assert client.post(API, json=venue.checkin_body(FrozenClock().now())).status_code == 201
        relay.freeze()
        first, first_seconds = timed(lambda: client.post(API, json=body))
        with database_use(app) as used:
            second, second_seconds = timed(lambda: client.post(API, json=body))
            page, page_seconds = timed(lambda: browser_get(client, f"/c/{venue.area.code}"))
            health, health_seconds = timed(lambda: client.get("/healthz"))
        assert_api_503(first)
        assert first_seconds < DB_TIMEOUT_SECONDS  # the guest budget, not the statement timeout
        assert_api_503(second)
        assert_page_503(page)
        assert health.status_code == 503
        # At once: not one connection asked of the stalled database, so none waited for
        # the guest budget (the times only show that, with room for a busy machine).
        assert used == []
        assert max(second_seconds, page_seconds, health_seconds) < GUEST_BUDGET_MS / 1000
        assert health.get_json()["reasons"] == ["database_timeout"]
        # The first check-in's INSERT runs in autocommit (one round trip, issue 15): if
        # it reached the server before the stall, it is stored behind its 503, once.
        assert checkins_with_key(direct.engine, body["idempotencyKey"]) <= 1

        relay.thaw()
        time.sleep(app.extensions["gastregister.db"].breaker.cooldown_seconds + 0.1)
        wait_for_health(client)
        # The phone's retry: stored now (201), or answered with the check-in stored
        # behind the 503 (200); stored exactly once either way.
        stored_once_after_retry(client, direct.engine, body, {200, 201})
    finally:
        relay.thaw()
        app.extensions["gastregister.db"].dispose()
        factories.wipe(direct.engine)
        direct.dispose()


@contextlib.contextmanager
def new_sessions_read_only(database_url: str) -> Iterator[None]:
    """Sessions opened meanwhile are read-only, as after a failover to a standby
    (connections opened before keep their setting); undone on leaving."""
    admin = Database(database_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = make_url(database_url).database
    try:
        with admin.engine.connect() as connection:
            connection.execute(
                text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
            )
        yield
    finally:
        with admin.engine.connect() as connection:
            connection.execute(text("SET default_transaction_read_only = off"))
            connection.execute(text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
        admin.dispose()


@pytest.mark.postgres
def test_a_read_only_postgres_answers_503_and_says_read_only(
    database_url: str, instance_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    direct = Database(database_url)
    venue = factories.add_venue(direct.engine, now=FrozenClock().now())
    app = fault_app(database_url, instance_path)
    client = app.test_client()
    body = venue.checkin_body(FrozenClock().now())
    try:
        # The app has no connection yet: its first one is read-only.
        with new_sessions_read_only(database_url):
            with caplog.at_level(logging.WARNING):
                api = client.post(API, json=body)
                health = client.get("/healthz")

            assert_api_503(api)
            assert "database unavailable: read-only" in caplog.text
            assert health.status_code == 503
            assert health.get_json()["reasons"] == ["database_read_only"]
            assert health.get_json()["checks"]["database"] == "read_only"
            assert "health: database read-only" in caplog.text
            assert checkins_with_key(direct.engine, body["idempotencyKey"]) == 0
        wait_for_health(client)
        stored_once_after_retry(client, direct.engine, body, {201})
    finally:
        app.extensions["gastregister.db"].dispose()
        factories.wipe(direct.engine)
        direct.dispose()


@pytest.mark.postgres
def test_a_read_only_postgres_on_the_hot_path_answers_503_and_replaces_the_connection(
    database_url: str, instance_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The hot path borrows the pool's driver connection without an SQLAlchemy
    Connection (Database.single_statement_returned_row): a driver error still goes
    through the engine's error listeners (read-only taken as a disconnect), is answered
    like any other, and the connection it left useless is not given back to the pool."""
    direct = Database(database_url)
    venue = factories.add_venue(direct.engine, now=FrozenClock().now())
    app = fault_app(database_url, instance_path)
    client = app.test_client()
    engine = app.extensions["gastregister.db"].engine
    body = venue.checkin_body(FrozenClock().now())
    try:
        # The full path stores the first check-in and remembers the area: the next one
        # takes the hot path.
        assert client.post(API, json=venue.checkin_body(FrozenClock().now())).status_code == 201
        with new_sessions_read_only(database_url):
            engine.pool.dispose()  # the pool's next connection is read-only
            statements: list[tuple[str, Any]] = []
            execute = psycopg.Cursor.execute

            def executed(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
                verb = str(query).lstrip().split(None, 1)[0].upper()
                statements.append((verb, cursor.connection))
                return execute(cursor, query, *args, **kwargs)

            with (
                caplog.at_level(logging.WARNING),
                mock.patch.object(psycopg.Cursor, "execute", executed),
            ):
                api = client.post(API, json=body)

            first, connection_used = statements[0]
            assert first == "INSERT"  # the hot path's one statement
            assert_api_503(api)
            assert "database unavailable: read-only" in caplog.text
            assert connection_used.closed  # invalidated, not pooled again
            assert checkins_with_key(direct.engine, body["idempotencyKey"]) == 0
        engine.pool.dispose()
        wait_for_health(client)
        stored_once_after_retry(client, direct.engine, body, {201})
    finally:
        app.extensions["gastregister.db"].dispose()
        factories.wipe(direct.engine)
        direct.dispose()


# --- SQLite: locked, full, read-only ----------------------------------------------------


@pytest.fixture
def own_sqlite(tmp_path: Path) -> Callable[[Path], tuple[str, Venue]]:
    """A migrated SQLite database of its own in `folder`, with a venue."""

    def make(folder: Path) -> tuple[str, Venue]:
        url = f"sqlite:///{folder / 'gastregister.db'}"
        database = Database(url)
        with database.engine.begin() as connection:
            upgrade(connection)
        venue = factories.add_venue(database.engine, now=FrozenClock().now())
        database.dispose()
        return url, venue

    return make


@pytest.mark.sqlite_only
def test_a_sqlite_write_lock_held_elsewhere_gets_503s_within_the_budget(
    own_sqlite: Callable[[Path], tuple[str, Venue]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, venue = own_sqlite(tmp_path)
    app = fault_app(url, tmp_path)
    client = app.test_client()
    body = venue.checkin_body(FrozenClock().now())
    assert client.get("/healthz").status_code == 200
    blocker = sqlite3.connect(tmp_path / "gastregister.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        health, health_seconds = timed(lambda: client.get("/healthz"))
        api, api_seconds = timed(lambda: client.post(API, json=body))
        page, page_seconds = timed(lambda: browser_get(client, f"/c/{venue.area.code}"))
    finally:
        blocker.rollback()
        blocker.close()

    assert health.status_code == 503 and health_seconds < HEALTH_REQUIREMENT
    assert health.get_json()["reasons"] in (["database_timeout"], ["health_check_stalled"])
    assert_api_503(api)
    assert api_seconds < REQUEST_BUDGET + MARGIN
    assert_page_503(page)
    assert page_seconds < REQUEST_BUDGET + MARGIN
    assert "database unavailable: timed out" in caplog.text

    wait_for_health(client)
    engine = app.extensions["gastregister.db"].engine
    stored_once_after_retry(client, engine, body, {201})
    app.extensions["gastregister.db"].dispose()


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the test machines run as root)")
    with small_tmpfs(tmp_path / "disk", "4m") as disk:
        yield disk


@pytest.mark.sqlite_only
def test_a_full_disk_answers_503_says_disk_full_and_loses_nothing(
    own_sqlite: Callable[[Path], tuple[str, Venue]],
    tmpfs: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, venue = own_sqlite(tmpfs)
    instance = tmpfs / "instance"
    instance.mkdir()
    app = fault_app(url, instance, disk_free_min_mb=1)
    client = app.test_client()
    body = venue.checkin_body(FrozenClock().now())
    database: Database = app.extensions["gastregister.db"]
    assert client.get("/healthz").status_code == 200
    # An empty WAL, so that the next write must grow a file on the full disk.
    raw = database.engine.raw_connection()
    raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()

    filler = fill_up(tmpfs)
    with caplog.at_level(logging.WARNING):
        health, health_seconds = timed(lambda: client.get("/healthz"))
        api = client.post(API, json=body)
    filler.unlink()

    assert health.status_code == 503 and health_seconds < HEALTH_REQUIREMENT
    assert health.get_json()["reasons"] == ["disk_full"]
    assert health.get_json()["checks"] == {"database": "disk_full", "disk": "low"}
    assert "health: disk full" in caplog.text
    assert_api_503(api)
    assert "database unavailable: disk full" in caplog.text
    assert checkins_with_key(database.engine, body["idempotencyKey"]) == 0

    wait_for_health(client)
    stored_once_after_retry(client, database.engine, body, {201})
    database.dispose()


@pytest.mark.sqlite_only
def test_low_free_space_alone_makes_healthz_503(
    own_sqlite: Callable[[Path], tuple[str, Venue]],
    tmpfs: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Below the floor the database still works, but not for long: say so early."""
    url, _ = own_sqlite(tmpfs)
    app = fault_app(url, tmpfs, disk_free_min_mb=100)  # a 4 MB file system is always below
    with caplog.at_level(logging.WARNING):
        health = app.test_client().get("/healthz")
    app.extensions["gastregister.db"].dispose()

    assert health.status_code == 503
    assert health.get_json()["reasons"] == ["disk_full"]
    assert health.get_json()["checks"] == {"database": "ok", "disk": "low"}
    assert "below the 100 MB floor" in caplog.text


@pytest.mark.sqlite_only
def test_a_read_only_file_system_answers_503_and_says_read_only(
    own_sqlite: Callable[[Path], tuple[str, Venue]],
    tmpfs: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, venue = own_sqlite(tmpfs)
    app = fault_app(url, tmp_path)
    client = app.test_client()
    body = venue.checkin_body(FrozenClock().now())
    database: Database = app.extensions["gastregister.db"]
    assert client.get("/healthz").status_code == 200
    database.dispose()  # a file system with files open for writing cannot turn read-only
    remount(tmpfs, "ro")
    try:
        with caplog.at_level(logging.WARNING):
            health, health_seconds = timed(lambda: client.get("/healthz"))
            api = client.post(API, json=body)
            page = browser_get(client, f"/c/{venue.area.code}")
        database.dispose()
    finally:
        remount(tmpfs, "rw")

    assert health.status_code == 503 and health_seconds < HEALTH_REQUIREMENT
    assert health.get_json()["reasons"] == ["database_read_only"]
    assert "health: database read-only" in caplog.text
    assert_api_503(api)
    assert_page_503(page)
    assert "database unavailable: read-only" in caplog.text

    wait_for_health(client)
    stored_once_after_retry(client, database.engine, body, {201})
    database.dispose()


@pytest.mark.sqlite_only
def test_a_database_opened_read_only_answers_503_and_says_read_only(
    own_sqlite: Callable[[Path], tuple[str, Venue]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SQLite's own "attempt to write a readonly database" (a file the service user
    may not write), made with a read-only open since we run as root."""
    _url, venue = own_sqlite(tmp_path)
    read_only_url = f"sqlite:///file:{tmp_path / 'gastregister.db'}?mode=ro&uri=true"
    app = fault_app(read_only_url, tmp_path)
    client = app.test_client()
    with caplog.at_level(logging.WARNING):
        health = client.get("/healthz")
        api = client.post(API, json=venue.checkin_body(FrozenClock().now()))
    app.extensions["gastregister.db"].dispose()

    assert health.status_code == 503
    assert health.get_json()["reasons"] == ["database_read_only"]
    assert_api_503(api)
    assert "database unavailable: read-only" in caplog.text


def test_health_answers_at_once_while_an_earlier_probe_is_stuck(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Single flight: a stuck probe is not joined by a second stuck thread."""
    import registration.health as health

    release = __import__("threading").Event()
    real = health.run_checks
    started: list[float] = []

    def stuck(app: Flask) -> health.HealthReport:
        started.append(time.monotonic())
        release.wait(60)
        return real(app)

    monkeypatch.setattr(health, "run_checks", stuck)
    client = app.test_client()
    try:
        first, first_seconds = timed(lambda: client.get("/healthz"))
        second, second_seconds = timed(lambda: client.get("/healthz"))
    finally:
        release.set()

    assert first.status_code == 503 and first_seconds < HEALTH_REQUIREMENT
    assert first.get_json()["reasons"] == ["database_timeout"]
    assert second.status_code == 503 and second_seconds < HEALTH_REQUIREMENT
    assert second.get_json()["reasons"] == ["health_check_stalled"]
    assert len(started) == 1
    monkeypatch.setattr(health, "run_checks", real)
    wait_for_health(client)


# --- one classification for every outage ------------------------------------------------

GUEST_NAME = "Erika Mustermann"


def _sqlite_error(code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(f"failed for {GUEST_NAME}")
    error.sqlite_errorcode = code  # type: ignore[attr-defined]  # sqlite3 sets it in C
    return error


OUTAGES: list[tuple[str, Callable[[], BaseException], str]] = [
    ("pg-disk-full", lambda: psycopg.errors.DiskFull(GUEST_NAME), "disk full"),
    ("pg-read-only", lambda: psycopg.errors.ReadOnlySqlTransaction(GUEST_NAME), "read-only"),
    ("pg-statement-timeout", lambda: psycopg.errors.QueryCanceled(GUEST_NAME), "timed out"),
    ("pg-lock-timeout", lambda: psycopg.errors.LockNotAvailable(GUEST_NAME), "timed out"),
    ("pg-no-answer", lambda: DatabaseDeadlineError(GUEST_NAME), "timed out"),
    ("pg-connect-timeout", lambda: psycopg.errors.ConnectionTimeout(GUEST_NAME), "timed out"),
    ("pg-refused", lambda: psycopg.OperationalError(GUEST_NAME), "unreachable"),
    ("pg-shutdown", lambda: psycopg.errors.AdminShutdown(GUEST_NAME), "unreachable"),
    ("sqlite-full", lambda: _sqlite_error(13), "disk full"),
    ("sqlite-readonly", lambda: _sqlite_error(8 | (1 << 8)), "read-only"),
    ("sqlite-busy", lambda: _sqlite_error(5), "timed out"),
    ("sqlite-interrupted", lambda: _sqlite_error(9), "timed out"),
    ("sqlite-cantopen", lambda: _sqlite_error(14), "unreachable"),
]


def _wrapped(original: BaseException) -> Exception:
    """As SQLAlchemy raises it, with the statement and its parameters attached."""
    kind = (
        sa_exc.InternalError
        if isinstance(original, psycopg.InternalError)
        else sa_exc.OperationalError
    )
    return kind("INSERT INTO checkins ...", {"name": GUEST_NAME}, original)


@pytest.fixture
def failing_app(app: Flask) -> Flask:
    raised: dict[str, Exception] = {}

    @app.get("/api/v1/probe-outage")
    def api_outage() -> str:
        raise raised["error"]

    @app.get("/probe-outage")
    def page_outage() -> str:
        raise raised["error"]

    app.extensions["test.raise"] = raised
    return app


@pytest.mark.parametrize(
    ("make", "words"), [(make, words) for _, make, words in OUTAGES], ids=[o[0] for o in OUTAGES]
)
def test_every_database_outage_is_a_503_naming_which_without_guest_data(
    failing_app: Flask,
    make: Callable[[], BaseException],
    words: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing_app.extensions["test.raise"]["error"] = _wrapped(make())
    client = failing_app.test_client()
    with caplog.at_level(logging.WARNING):
        api = client.get("/api/v1/probe-outage")
        page = browser_get(client, "/probe-outage")

    assert_api_503(api)
    assert_page_503(page)
    lines = [r.getMessage() for r in caplog.records if r.name == "gastregister.errors"]
    assert lines == [f"database unavailable: {words} ({_wrapped(make()).__class__.__name__})"] * 2
    assert GUEST_NAME not in caplog.text
    assert GUEST_NAME not in api.text + page.text


def test_pool_exhaustion_is_a_503_and_other_database_errors_stay_500(
    failing_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    client = failing_app.test_client()
    failing_app.extensions["test.raise"]["error"] = sa_exc.TimeoutError("QueuePool limit")
    assert_api_503(client.get("/api/v1/probe-outage"))
    assert "database unavailable: timed out (TimeoutError)" in caplog.text

    failing_app.extensions["test.raise"]["error"] = sa_exc.IntegrityError(
        "INSERT", {}, psycopg.errors.UniqueViolation(GUEST_NAME)
    )
    bug = client.get("/api/v1/probe-outage")
    assert bug.status_code == 500
    assert GUEST_NAME not in caplog.text
