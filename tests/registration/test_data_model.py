"""The data model keeps the promise by construction: no column for contact data."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from registration.database import Base, Database
from registration.models import (
    CheckIn,
)
from registration.retention.partitions import include_in_autogenerate
from tests import factories

CHECKIN_COLUMNS = {
    "id",
    "arrival",
    "location_id",
    "area_id",
    "departure",
    "auto_departure",
    "persons",
    "source",
    "key_id",
    "envelope",
    "checkout_token_hash",
    "idempotency_key_hash",
    "delivered_late",
    "admission_digest",
    "submission_digest",
    "received_at",
}

# Contact fields of the sealed record (BRIEF.md), as the word sequences a column name might use.
CONTACT_WORDS = (
    ("first", "name"),
    ("firstname",),
    ("last", "name"),
    ("lastname",),
    ("surname",),
    ("street",),
    ("house", "number"),
    ("housenumber",),
    ("zip",),
    ("postal",),
    ("city",),
    ("phone",),
    ("email",),
    ("address",),
    ("note",),
    ("guest",),
    ("contact",),
    ("additional", "persons"),
)


def _mentions_contact_data(column_name: str) -> bool:
    words = column_name.lower().split("_")
    return any(
        tuple(words[i : i + len(pattern)]) == pattern
        for pattern in CONTACT_WORDS
        for i in range(len(words))
    )


# Organisation and account data, never a guest's: reviewed one by one.
ORGANISATION_COLUMNS = {
    ("users", "email"),
    ("users", "email_verified_at"),
    ("businesses", "contact_email"),
    ("staff_invitations", "email"),
    ("locations", "street"),
    ("locations", "house_number"),
    ("locations", "zip_code"),
    ("locations", "city"),
    ("health_offices", "email"),
    ("health_offices", "phone"),
    ("health_offices", "address"),
    ("health_office_postal_codes", "postal_code"),
}


def test_checkin_table_holds_only_the_allowed_columns(database: Database) -> None:
    columns = {c["name"] for c in inspect(database.engine).get_columns("checkins")}
    assert columns == CHECKIN_COLUMNS


def test_no_table_has_a_guest_contact_column() -> None:
    offenders = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if (
                _mentions_contact_data(column.name)
                and (table.name, column.name) not in ORGANISATION_COLUMNS
            ):
                offenders.append(f"{table.name}.{column.name}")
    assert offenders == []


def test_migrations_match_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": include_in_autogenerate}
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_timestamps_come_back_timezone_aware_utc(db_session: Session) -> None:
    venue = factories.venue(db_session)
    berlin_evening = dt.datetime(2026, 7, 1, 21, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    checkin = factories.checkin(db_session, venue.area, venue.key, arrival=berlin_evening)
    db_session.commit()
    db_session.expire_all()
    loaded = db_session.get(CheckIn, (checkin.id, checkin.arrival))
    assert loaded is not None
    assert loaded.arrival == berlin_evening
    assert loaded.arrival.utcoffset() == dt.timedelta(0)
    assert loaded.received_at.tzinfo is not None


def test_naive_datetimes_are_refused(db_session: Session) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        factories.business(db_session, name="Naiv", created_at=dt.datetime(2026, 1, 1))


def test_area_and_location_codes_are_unguessable_and_distinct(db_session: Session) -> None:
    location = factories.location(
        db_session,
        factories.business(db_session, name="Codes"),
        areas=[f"Tisch {n}" for n in range(20)],
    )
    codes = {area.code for area in location.areas} | {location.code, location.display_secret}
    assert len(codes) == 22
    assert all(len(code) >= 22 for code in codes)


@pytest.mark.sqlite_only
def test_sqlite_pragmas_keep_deleted_data_unreadable(database: Database) -> None:
    with database.engine.connect() as connection:
        assert connection.execute(text("PRAGMA secure_delete")).scalar() == 1
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
