"""Fixtures of the check-in tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from registration.clock import FrozenClock
from registration.database import Database
from tests.factories import Venue
from tests.registration.checkin.checkin_support import create_venue


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
