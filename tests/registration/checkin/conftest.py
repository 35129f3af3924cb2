"""Fixtures of the check-in tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from gastregister import create_app
from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import Database
from tests.factories import Venue
from tests.registration.checkin.checkin_support import count_limiter_hits, create_venue


@pytest.fixture
def venue(db_session: Session, clock: FrozenClock) -> Venue:
    return create_venue(db_session, clock.now())


@pytest.fixture
def statements(bound_database: Database) -> Iterator[list[str]]:
    """The SQL statements the app sends from now on (savepoints of the test set-up aside)."""
    sent: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")):
            sent.append(statement)

    event.listen(bound_database.engine, "before_cursor_execute", seen)
    yield sent
    event.remove(bound_database.engine, "before_cursor_execute", seen)


@pytest.fixture
def proxy_counts_areas_app(
    settings: Settings, clock: FrozenClock, bound_database: Database, db_session: Session
) -> Flask:
    """As deploy/ ships it: the proxy counts per client, and per area the API check-ins
    that name their area in X-Gastregister-Area; the app counts every other one. An area
    takes 2 a minute. Created after the `app` fixture: Flask-Limiter is one object per
    process, and the app created last decides whether it is enabled."""
    app = create_app(
        Settings.from_mapping(
            {
                "ratelimit_enabled": True,
                "client_limits_by_proxy": True,
                "area_limits_by_proxy": True,
            },
            base=settings,
        ),
        clock=clock,
        database=bound_database,
    )
    app.config.update(CHECKIN_LIMIT_PER_AREA="2 per minute")
    return app


@pytest.fixture
def counted_keys(proxy_counts_areas_app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The limiter counters proxy_counts_areas_app's requests increment, in order."""
    return count_limiter_hits(monkeypatch)
