"""Committed data for the retention tests: maintenance reads only what was committed.

The rows themselves come from tests/factories.py; these add them on an engine of their
own and commit, and look them up again afterwards.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from registration.config import Settings
from registration.database import Database
from registration.models import CheckIn, JobRun
from tests import factories
from tests.factories import Venue


def add_checkin(engine: Engine, place: Venue, arrival: dt.datetime, **values: Any) -> CheckIn:
    """A visit at the place's first area, committed (factories.build_checkin's values)."""
    with factories.committing(engine) as session:
        return factories.checkin(session, place.area, place.key, arrival=arrival, **values)


def checkin_exists(engine: Engine, checkin: CheckIn) -> bool:
    with Session(engine) as session:
        return session.get(CheckIn, (checkin.id, checkin.arrival)) is not None


def job_runs(database: Database) -> list[JobRun]:
    """Every maintenance run recorded, in the order they started."""
    with Session(database.engine) as session:
        return list(session.scalars(select(JobRun).order_by(JobRun.id)).all())


def finished_runs(database: Database) -> int:
    """Runs that ended (a run's row is written when it starts)."""
    return sum(1 for run in job_runs(database) if run.finished_at is not None)


def count_checkins(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT count(*) FROM checkins")) or 0)


def with_retention(settings: Settings, days: int) -> Settings:
    return Settings.from_mapping({"retention_days": days}, base=settings)
