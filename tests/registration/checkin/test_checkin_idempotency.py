"""Idempotency keys: the database keeps only a keyed hash, and a key replayed with
other content is a conflict on every path (issue "Hardening").

A reader of the database saw every key in plain text and could post one with the
no-JavaScript form: the page then redirected to that guest's check-in and set its
check-out cookie.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

import crypto
from registration.checkin.errors import IdempotencyConflictError
from registration.checkin.lookup import AreaTarget
from registration.checkin.storage import idempotency_key_digest, store_checkin
from registration.clock import FrozenClock
from registration.config import Settings
from registration.models import CheckIn, CheckInSource
from tests.factories import Venue
from tests.registration.checkin.checkin_support import TYPED, hidden_fields

API = "/api/v1/checkins"


def stored_values(session: Session) -> list[Any]:
    session.expire_all()
    rows = session.execute(select(CheckIn.__table__)).all()
    return [value for row in rows for value in row]


def holds(values: list[Any], text: str) -> bool:
    return any(
        text in value
        if isinstance(value, str)
        else isinstance(value, bytes) and text.encode() in value
        for value in values
    )


def form_post(client: FlaskClient, venue: Venue, key: str, **typed: str) -> Any:
    hidden = {**hidden_fields(client, venue), "idempotencyKey": key}
    return client.post(f"/c/{venue.area.code}", data={**hidden, **TYPED, **typed})


def test_no_path_stores_the_idempotency_key(
    client: FlaskClient, venue: Venue, clock: FrozenClock, settings: Settings, db_session: Session
) -> None:
    api_key = "api-" + uuid.uuid4().hex
    assert (
        client.post(API, json=venue.checkin_body(clock.now(), idempotencyKey=api_key)).status_code
        == 201
    )
    form_key = "form-" + uuid.uuid4().hex
    assert form_post(client, venue, form_key).status_code == 303
    staff_key = "staff-" + uuid.uuid4().hex
    store_checkin(
        db_session,
        clock,
        settings,
        target=AreaTarget.of(venue.area),
        envelope=venue.seal(),
        persons=1,
        source=CheckInSource.STAFF_ENTRY,
        arrival=clock.now() - dt.timedelta(days=2),
        idempotency_key=staff_key,
    )
    values = stored_values(db_session)
    assert len(values) > 3 * 10
    for key in (api_key, form_key, staff_key):
        assert not holds(values, key), key


@pytest.mark.parametrize("victim_path", ["api", "form"])
def test_another_guests_key_on_the_form_is_a_conflict_without_their_cookie(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session, victim_path: str
) -> None:
    key = uuid.uuid4().hex
    if victim_path == "api":
        victim = client.post(API, json=venue.checkin_body(clock.now(), idempotencyKey=key))
        assert victim.status_code == 201
    else:
        assert form_post(client, venue, key).status_code == 303
    clock.advance(dt.timedelta(seconds=20))
    attacker = client.application.test_client()
    answer = form_post(attacker, venue, key, firstName="Mallory", lastName="Angreifer")
    assert answer.status_code == 409
    assert "gr_checkin" not in answer.headers.get("Set-Cookie", "")
    assert "bereits mit anderem Inhalt gesendet" in answer.get_data(as_text=True)
    assert len(db_session.scalars(select(CheckIn)).all()) == 1


def test_the_same_form_sent_twice_is_one_checkin_with_one_cookie(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    key = uuid.uuid4().hex
    first = form_post(client, venue, key)
    clock.advance(dt.timedelta(seconds=3))
    second = form_post(client.application.test_client(), venue, key)
    assert (first.status_code, second.status_code) == (303, 303)
    assert first.headers["Location"] == second.headers["Location"]
    assert first.headers["Set-Cookie"].split(";")[0] == second.headers["Set-Cookie"].split(";")[0]
    assert len(db_session.scalars(select(CheckIn)).all()) == 1


def test_a_staff_entry_replayed_with_other_content_is_a_conflict(
    venue: Venue, clock: FrozenClock, settings: Settings, db_session: Session
) -> None:
    """Staff entries reach back over the retention period; so does their replay check."""
    key = uuid.uuid4().hex
    envelope = venue.seal()
    arrival = clock.now() - dt.timedelta(days=3)

    def store(**changes: Any) -> Any:
        values: dict[str, Any] = {
            "target": AreaTarget.of(venue.area),
            "envelope": envelope,
            "persons": 1,
            "source": CheckInSource.STAFF_ENTRY,
            "arrival": arrival,
            "idempotency_key": key,
            **changes,
        }
        return store_checkin(db_session, clock, settings, **values)

    first = store()
    again = store()
    assert (first.created, again.created, again.id, again.token) == (
        True,
        False,
        first.id,
        first.token,
    )
    for changes in (
        {"envelope": venue.seal()},
        {"persons": 2},
        {"arrival": arrival + dt.timedelta(hours=1)},
        {"arrival": arrival - dt.timedelta(days=1)},
    ):
        with pytest.raises(IdempotencyConflictError):
            store(**changes)
    assert len(db_session.scalars(select(CheckIn)).all()) == 1


def test_an_api_key_replayed_through_the_staff_entry_is_a_conflict(
    client: FlaskClient, venue: Venue, clock: FrozenClock, settings: Settings, db_session: Session
) -> None:
    body = venue.checkin_body(clock.now())
    assert client.post(API, json=body).status_code == 201
    with pytest.raises(IdempotencyConflictError):
        store_checkin(
            db_session,
            clock,
            settings,
            target=AreaTarget.of(venue.area),
            envelope=crypto.decode_envelope(body["envelope"]),
            persons=1,
            source=CheckInSource.STAFF_ENTRY,
            arrival=clock.now(),
            idempotency_key=body["idempotencyKey"],
        )


def test_the_stored_key_is_led_by_the_arrival_day(
    client: FlaskClient, venue: Venue, clock: FrozenClock, settings: Settings, db_session: Session
) -> None:
    """The unique index is ordered by the stored form: led by the day, a day's keys sit
    side by side and the purge deletes them together (storage.idempotency_key_hash)."""
    body = venue.checkin_body(clock.now())
    assert client.post(API, json=body).status_code == 201
    stored = db_session.scalars(select(CheckIn.idempotency_key_hash)).one()
    digest = idempotency_key_digest(settings, body["idempotencyKey"])
    assert stored == clock.now().astimezone(dt.UTC).strftime("%Y%m%d") + digest[:56]
    assert len(stored) == 64


@pytest.mark.parametrize("path", ["api", "staff"])
def test_a_check_in_stored_with_a_bare_digest_is_still_found_by_its_retry(
    client: FlaskClient,
    venue: Venue,
    clock: FrozenClock,
    settings: Settings,
    db_session: Session,
    path: str,
) -> None:
    """Check-ins stored before the day led the key carry the bare digest: a phone's
    retry across the upgrade must find them, or the visit would be stored twice."""
    arrival = clock.now()
    body = venue.checkin_body(arrival)

    def send() -> tuple[bool, uuid.UUID]:
        if path == "api":
            response = client.post(API, json=body)
            return response.status_code == 201, uuid.UUID(response.get_json()["id"])
        receipt = store_checkin(
            db_session,
            clock,
            settings,
            target=AreaTarget.of(venue.area),
            envelope=crypto.decode_envelope(body["envelope"]),
            persons=1,
            source=CheckInSource.STAFF_ENTRY,
            arrival=arrival,
            idempotency_key=body["idempotencyKey"],
        )
        return receipt.created, receipt.id

    created, first = send()
    assert created
    db_session.execute(
        update(CheckIn).values(
            idempotency_key_hash=idempotency_key_digest(settings, body["idempotencyKey"])
        )
    )
    db_session.commit()
    clock.advance(dt.timedelta(seconds=5))
    created, again = send()
    assert (created, again) == (False, first)
    assert len(db_session.scalars(select(CheckIn)).all()) == 1


def test_a_retry_after_midnight_finds_the_check_in_of_the_day_before(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    clock.set(dt.datetime(2026, 11, 26, 23, 59, 50, tzinfo=dt.UTC))
    body = venue.checkin_body(clock.now())
    first = client.post(API, json=body)
    clock.advance(dt.timedelta(seconds=30))  # now the next day in UTC
    again = client.post(API, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    conflict = client.post(API, json={**body, "persons": 2})
    assert conflict.status_code == 409
    assert len(db_session.scalars(select(CheckIn)).all()) == 1
