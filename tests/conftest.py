"""Fixtures shared by every test package.

One database per test run: a temporary SQLite file by default, or a fresh database on
the PostgreSQL server of TEST_DATABASE_URL (a database created for the run). Migrations run to head once; each test then
works inside a transaction that is rolled back, so tests cannot see each other.

With GASTREGISTER_REQUIRE_SERVICES=1 (CI) a skipped test fails instead, unless it
was skipped because it belongs to the other database. Tests marked `engine_independent`
are deselected on PostgreSQL (see pytest_collection_modifyitems).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import argon2.profiles
import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import event, make_url, text
from sqlalchemy.orm import Session

import registration.models  # noqa: F401  - every table is known to wipe()
from gastregister import create_app
from registration.accounts import passwords
from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import Database
from registration.migrate import upgrade
from tests.factories import wipe
from tests.local_servers import LiveServer, OffsetClock, SmtpInbox, smtp_server

REQUIRE_SERVICES = os.environ.get("GASTREGISTER_REQUIRE_SERVICES") == "1"
OTHER_DATABASE = "other database"
TEST_START = dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI every service is present, so a skip means a test silently did not run."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if not (REQUIRE_SERVICES and report.skipped) or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)
    if OTHER_DATABASE not in reason:
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every service must be present: {reason}"


def _postgres_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`postgres` tests run only on PostgreSQL, `sqlite_only` tests only on SQLite.

    `engine_independent` tests run in the SQLite run only: their outcome cannot depend on
    the database engine (a page's rendering, the browser's crypto, a process with a
    database of its own), so running them again on PostgreSQL would only cost CI time.
    There they are deselected rather than skipped, so that they are not counted as
    tests that did not run. Each such mark says why, or collection fails."""
    on_postgres = _postgres_url() is not None
    engine_independent: list[pytest.Item] = []
    for item in items:
        if item.get_closest_marker("postgres") and not on_postgres:
            item.add_marker(pytest.mark.skip(reason=f"{OTHER_DATABASE}: needs TEST_DATABASE_URL"))
        if item.get_closest_marker("sqlite_only") and on_postgres:
            item.add_marker(pytest.mark.skip(reason=f"{OTHER_DATABASE}: SQLite only"))
        marker = item.get_closest_marker("engine_independent")
        if marker is not None:
            if not (marker.args and isinstance(marker.args[0], str) and marker.args[0].strip()):
                raise pytest.UsageError(f"{item.nodeid}: engine_independent needs a reason")
            engine_independent.append(item)
    if on_postgres and engine_independent:
        config.hook.pytest_deselected(items=engine_independent)
        deselected = set(engine_independent)
        items[:] = [item for item in items if item not in deselected]


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Argon2id at its lowest cost (argon2-cffi's CHEAPEST profile, made for tests) in
    this process: for test clients, CLI runs and live servers in threads.

    The service hashes with the RFC 9106 low-memory profile (64 MiB, three passes): up to
    half a second of both cores per log-in on the CI machine, and the suite logs in
    hundreds of times. Who may log in, throttling and sessions do not depend on that
    cost; the hashes stay Argon2id, and services started as processes of their own
    (gunicorn, `make systemtest`) keep the real profile."""
    cheapest = PasswordHasher.from_parameters(argon2.profiles.CHEAPEST)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", cheapest)
        patch.setattr(passwords, "_DUMMY_HASH", cheapest.hash("not-a-real-password-7c1d0f"))
        yield


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, migrated database for this run; dropped afterwards on PostgreSQL."""
    base = _postgres_url()
    if base is None:
        path = tmp_path_factory.mktemp("db") / "gastregister-test.db"
        url = f"sqlite:///{path}"
        database = Database(url)
        with database.engine.begin() as connection:
            upgrade(connection)
        database.dispose()
        yield url
        return
    # A database of its own, not just a schema: other sessions on the server (another
    # test run, a benchmark) then cannot hold this run's xmin horizon back, which would
    # make VACUUM keep deleted rows that the retention tests look for.
    name = f"gr_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = Database(base, isolation_level="AUTOCOMMIT")
    with admin.engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    database = Database(url)
    with database.engine.begin() as connection:
        upgrade(connection)
    database.dispose()
    try:
        yield url
    finally:
        with admin.engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(TEST_START)


@pytest.fixture
def instance_path(tmp_path: Path) -> Path:
    path = tmp_path / "instance"
    path.mkdir()
    return path


@pytest.fixture
def settings(database_url: str, instance_path: Path) -> Settings:
    return Settings.from_mapping(
        {
            "environment": "test",
            "database_url": database_url,
            "instance_path": instance_path,
            "public_base_url": "http://127.0.0.1:5000",
            "ratelimit_enabled": False,
            "scheduler": "off",
            "mail_to_console": False,
        }
    )


@pytest.fixture
def bound_database(database: Database) -> Iterator[Database]:
    """The shared database with every session joined to one outer transaction."""
    connection = database.engine.connect()
    outer = connection.begin()
    database.sessionmaker.configure(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield database
    finally:
        database.sessionmaker.configure(
            bind=database.engine, join_transaction_mode="conditional_savepoint"
        )
        outer.rollback()
        connection.close()


@pytest.fixture
def executed(bound_database: Database) -> Iterator[list[tuple[str, Any]]]:
    """Each statement the database runs during the test, with the format its results
    came in (psycopg's cursor.format; None on SQLite)."""
    seen: list[tuple[str, Any]] = []

    def ran(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        seen.append((statement, getattr(cursor, "format", None)))

    event.listen(bound_database.engine, "after_cursor_execute", ran)
    try:
        yield seen
    finally:
        event.remove(bound_database.engine, "after_cursor_execute", ran)


@pytest.fixture
def app(settings: Settings, clock: FrozenClock, bound_database: Database) -> Flask:
    """The service. No app context is held open: each request gets its own, as in production."""
    return create_app(settings, clock=clock, database=bound_database)


@pytest.fixture
def app_context(app: Flask) -> Iterator[None]:
    """For tests that call services directly, outside a request."""
    with app.app_context():
        yield


@pytest.fixture
def db_session(app: Flask, bound_database: Database) -> Iterator[Session]:
    session = bound_database.new_session()
    yield session
    session.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def committed(database: Database) -> Iterator[Database]:
    """The shared test database, written for real; emptied before and after the test.

    For tests whose code opens its own connections and commits (maintenance, other
    processes), so that nothing can be rolled back for them."""
    # A test that used bound_database before may leave the sessionmaker joined to its
    # connection; maintenance needs sessions of its own.
    database.sessionmaker.configure(
        bind=database.engine, join_transaction_mode="conditional_savepoint"
    )
    wipe(database)
    yield database
    wipe(database)


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpInbox, int]]:
    """A mail server on 127.0.0.1: its inbox and its port."""
    with smtp_server() as server:
        yield server


@pytest.fixture
def make_live_server(database_url: str, instance_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start the app for a browser on `port` (0: any free one), over HTTPS with `tls`
    (certificate and key file); keyword arguments override settings, e.g.
    public_base_url for a server whose port was chosen beforehand."""
    started: list[LiveServer] = []

    def start(port: int = 0, tls: tuple[Path, Path] | None = None, **overrides: Any) -> LiveServer:
        values: dict[str, Any] = {
            "environment": "test",
            "database_url": database_url,
            "instance_path": instance_path,
            "ratelimit_enabled": False,
            "scheduler": "off",
            "mail_to_console": False,
        }
        values.update(overrides)
        settings = Settings.from_mapping(values)
        database = Database(database_url)
        clock = OffsetClock()
        app = create_app(settings, clock=clock, database=database)
        server = LiveServer(app, database, clock, tls)
        server.port = port
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    if started:
        wipe(started[0].database)
    for server in started:
        server.database.dispose()


@pytest.fixture
def live_server(make_live_server: Callable[..., LiveServer]) -> LiveServer:
    return make_live_server()
