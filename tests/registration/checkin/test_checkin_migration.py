"""Migration 0005 hashes the idempotency keys stored before it, on both databases:
a phone that retries across the upgrade still finds its check-in."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from registration.checkin.storage import existing_checkin, idempotency_key_digest
from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import Database
from registration.migrate import downgrade, upgrade
from registration.models import CheckIn
from tests.conftest import TEST_START

_types = CheckIn.__table__.c


@pytest.fixture
def fresh_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of its own: the migrations run on it from the start."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    name = f"gr_migration_{secrets.token_hex(4)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _insert_before_0005(connection: sa.Connection, keys: list[str]) -> None:
    """A business, location and area, and one check-in per key, as 0004 stored them."""
    now = TEST_START
    connection.execute(
        sa.text(
            "INSERT INTO businesses (id, name, contact_email, created_at, is_demo) "
            "VALUES (1, 'Betrieb', '', :now, false)"
        ),
        {"now": now},
    )
    connection.execute(
        sa.text(
            "INSERT INTO locations (id, business_id, code, name, street, house_number, "
            "zip_code, city, default_stay_minutes, checkin_mode, display_secret, "
            "rotating_secret, created_at) VALUES (1, 1, 'loc', 'Ort', 'Weg', '1', '10115', "
            "'Berlin', 120, 'static', 'display', :secret, :now)"
        ),
        {"now": now, "secret": b"s" * 32},
    )
    connection.execute(
        sa.text(
            "INSERT INTO areas (id, location_id, code, name, sort_key, created_at) "
            "VALUES (1, 1, 'area', 'Terrasse', 1, :now)"
        ),
        {"now": now},
    )
    before = sa.table(
        "checkins",
        *(
            sa.column(name, _types[name].type)
            for name in (
                "id",
                "arrival",
                "location_id",
                "area_id",
                "auto_departure",
                "persons",
                "source",
                "key_id",
                "envelope",
                "checkout_token_hash",
                "received_at",
            )
        ),
        sa.column("idempotency_key", sa.String(64)),
    )
    connection.execute(
        sa.insert(before),
        [
            {
                "id": uuid.uuid4(),
                "arrival": now - dt.timedelta(minutes=index),
                "location_id": 1,
                "area_id": 1,
                "auto_departure": now + dt.timedelta(hours=2),
                "persons": 1,
                "source": "guest_page",
                "key_id": "ab" * 32,
                "envelope": b"sealed",
                "checkout_token_hash": b"h" * 32,
                "received_at": now,
                "idempotency_key": key,
            }
            for index, key in enumerate(keys)
        ],
    )


def test_0005_hashes_the_keys_stored_before_it(fresh_url: str, settings: Settings) -> None:
    database = Database(fresh_url)
    keys = [f"key-{index:04d}-{uuid.uuid4().hex}" for index in range(5)]
    try:
        with database.engine.begin() as connection:
            upgrade(connection, "0004")
            _insert_before_0005(connection, keys)
            upgrade(connection, "head", settings=settings)
        with Session(database.engine) as session:
            stored = session.execute(
                sa.select(CheckIn.idempotency_key_hash, CheckIn.submission_digest)
            ).all()
            assert sorted(digest for digest, _ in stored) == sorted(
                idempotency_key_digest(settings, key) for key in keys
            )
            assert all(digest is None for _, digest in stored)
            found = existing_checkin(session, FrozenClock(TEST_START), settings, keys[2])
            assert found is not None and found.arrival == TEST_START - dt.timedelta(minutes=2)
        with database.engine.begin() as connection:
            downgrade(connection, "0004")
            upgrade(connection, "head", settings=settings)
    finally:
        database.dispose()
