"""The outage breaker: after a database timeout, requests fail at once for a moment,
then one request at a time finds out whether the database is back."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from registration.database import Database, OutageBreaker


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


def test_closed_admits_everyone(ticks: Ticks) -> None:
    breaker = OutageBreaker(clock=ticks)
    assert all(breaker.admit() for _ in range(5))
    assert not breaker.resting


def test_after_an_outage_everyone_rests_then_one_probe_goes_through(ticks: Ticks) -> None:
    breaker = OutageBreaker(cooldown_seconds=1.0, probe_seconds=10.0, clock=ticks)
    breaker.failed()
    assert breaker.resting
    assert not breaker.admit()
    ticks.now += 1.01
    assert not breaker.resting
    assert breaker.admit()  # the probe
    assert not breaker.admit() and not breaker.admit()  # the others wait for its answer
    breaker.succeeded()
    assert breaker.admit() and breaker.admit()


def test_a_failed_probe_rests_again(ticks: Ticks) -> None:
    breaker = OutageBreaker(cooldown_seconds=1.0, clock=ticks)
    breaker.failed()
    ticks.now += 1.5
    assert breaker.admit()
    breaker.failed()
    assert breaker.resting and not breaker.admit()
    ticks.now += 1.5
    assert breaker.admit()


def test_a_probe_that_never_reports_gives_way(ticks: Ticks) -> None:
    breaker = OutageBreaker(cooldown_seconds=1.0, probe_seconds=5.0, clock=ticks)
    breaker.failed()
    ticks.now += 1.5
    assert breaker.admit()
    ticks.now += 4.0
    assert not breaker.admit()
    ticks.now += 1.5
    assert breaker.admit()


def test_connect_parameters_are_not_piled_up_and_follow_the_guest_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SQLAlchemy hands every connect the same parameter dict: ours must not grow in it
    (one more copy of the options per reconnect), and a guest's request connects within
    its own budget (psycopg allows no less than 2 s)."""
    from registration import database
    from registration.database import postgres

    seen: list[dict[str, object]] = []

    def fake_connect(*_args: object, **params: object) -> object:
        seen.append(params)
        return type("Fake", (), {})()

    monkeypatch.setattr(database.DeadlineConnection, "connect", staticmethod(fake_connect))
    shared = {"host": "db", "options": "-c search_path=town"}
    timeouts = database.DatabaseTimeouts(statement_seconds=5, lock_seconds=5)
    for _ in range(3):
        postgres._connect(timeouts, None, None, [], shared)  # type: ignore[arg-type]
    token = database.limit_database_budget(1.0)
    try:
        postgres._connect(timeouts, None, None, [], shared)  # type: ignore[arg-type]
    finally:
        database.reset_database_budget(token)
    assert shared == {"host": "db", "options": "-c search_path=town"}
    assert all(str(p["options"]).count("statement_timeout") == 1 for p in seen)
    # Times come back in UTC (datetime.UTC, cheap to convert); the operator's own
    # options, last, still win.
    assert all("-c TimeZone=UTC -c search_path=town" in str(p["options"]) for p in seen)
    assert str(seen[0]["options"]).endswith("-c search_path=town")
    assert [p["connect_timeout"] for p in seen] == [5, 5, 5, 2]


@pytest.mark.postgres
def test_postgres_sessions_hand_back_times_in_utc(database_url: str) -> None:
    """The session's TimeZone is UTC whatever the server's default: the driver then
    returns datetime.UTC times (cheap to convert), and an export package's times are
    the same on every server."""
    database = Database(database_url)
    try:
        with database.engine.connect() as connection:
            assert connection.execute(text("SHOW TimeZone")).scalar() == "UTC"
            moment = connection.execute(text("SELECT now()")).scalar()
            assert moment.tzinfo is dt.UTC
    finally:
        database.dispose()
