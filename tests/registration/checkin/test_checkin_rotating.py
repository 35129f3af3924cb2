"""Rotating entrance codes and admissions, the entrance screen, and the page that needs them."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.checkin import rotating
from registration.clock import FrozenClock
from registration.models import CheckIn, CheckInMode
from tests.factories import Venue

API = "/api/v1/checkins"
MOMENT = dt.datetime(2026, 11, 20, 11, 0, 10, tzinfo=dt.UTC)


def test_entrance_codes_live_for_one_to_two_steps() -> None:
    secret = b"s" * 32
    code = rotating.entrance_code(secret, "area", rotating.time_step(MOMENT))
    assert rotating.entrance_code_is_fresh(secret, "area", code, MOMENT)
    assert rotating.entrance_code_is_fresh(secret, "area", code, MOMENT + dt.timedelta(seconds=30))
    assert not rotating.entrance_code_is_fresh(
        secret, "area", code, MOMENT + dt.timedelta(seconds=60)
    )
    assert not rotating.entrance_code_is_fresh(secret, "other-area", code, MOMENT)
    assert not rotating.entrance_code_is_fresh(b"t" * 32, "area", code, MOMENT)


def test_entrance_codes_and_admissions_keep_their_text() -> None:
    """Pinned: codes on screens and admissions held by open pages outlive a deployment."""
    secret = b"s" * 32
    assert rotating.entrance_code(secret, "area", rotating.time_step(MOMENT)) == "Oc0RcGkPZC9-EDC_"
    assert (
        rotating.issue_admission(secret, "area", MOMENT)
        == "1795172410.YY4cwymNtcMYEbTyhXCJpG2oBkNjVA4cBB4u0lDp7ZM"
    )


MINUTE = dt.timedelta(minutes=1)


@pytest.mark.parametrize(
    ("arrival_after_issue", "received_after_issue", "use"),
    [
        # Within its lifetime by the server's clock: the phone was online throughout.
        (29 * MINUTE, 29 * MINUTE, rotating.AdmissionUse.FRESH),
        (-2 * MINUTE, 0 * MINUTE, rotating.AdmissionUse.FRESH),  # the phone's clock behind
        # Received later: only an arrival within its lifetime (the phone went offline).
        (5 * MINUTE, 60 * MINUTE, rotating.AdmissionUse.LATE),
        (30 * MINUTE, 3 * 24 * 60 * MINUTE, rotating.AdmissionUse.LATE),
        (31 * MINUTE, 31 * MINUTE, None),  # a new arrival with an old admission
        (120 * MINUTE, 120 * MINUTE, None),
        (-3 * MINUTE, 0 * MINUTE, None),  # an arrival before the admission existed
        (0 * MINUTE, -3 * MINUTE, None),  # an admission from the server's future
    ],
)
def test_an_admission_is_judged_by_the_servers_receipt_time(
    arrival_after_issue: dt.timedelta,
    received_after_issue: dt.timedelta,
    use: rotating.AdmissionUse | None,
) -> None:
    secret = b"s" * 32
    admission = rotating.issue_admission(secret, "area", MOMENT)
    arrival, now = MOMENT + arrival_after_issue, MOMENT + received_after_issue
    assert rotating.admission_use(secret, "area", admission, arrival, now) is use


@pytest.mark.parametrize(
    "admission",
    [
        rotating.issue_admission(b"s" * 32, "area", MOMENT).replace(".", ".x"),
        rotating.issue_admission(b"s" * 32, "other-area", MOMENT),
        rotating.issue_admission(b"t" * 32, "area", MOMENT),
        "abc",
        "9" * 11 + ".x",
    ],
)
def test_a_forged_admission_admits_nothing(admission: str) -> None:
    assert rotating.admission_use(b"s" * 32, "area", admission, MOMENT, MOMENT) is None


def _admission_from_screen(client: FlaskClient, venue: Venue, clock: FrozenClock) -> str:
    """What the guest page hands a phone that scanned the screen's current code."""
    code = rotating.entrance_code(
        venue.location.rotating_secret, venue.area.code, rotating.time_step(clock.now())
    )
    html = client.get(f"/c/{venue.area.code}?t={code}").get_data(as_text=True)
    found = re.search(r'name="admission" value="([^"]+)"', html)
    assert found is not None
    return found[1]


def test_a_photo_of_the_screen_does_not_admit_two_hours_later(
    client: FlaskClient, db_session: Session, clock: FrozenClock, venue: Venue
) -> None:
    """Someone photographs the screen: two hours later the photo opens no page, and the
    admission a page opened with it at once earned admits no check-in arriving now
    (one dated back to the photo is a late delivery: once, see the next test)."""
    _rotating_venue(db_session, venue)
    taken = clock.now()
    admission = _admission_from_screen(client, venue, clock)
    used = client.post(API, json=venue.checkin_body(taken + MINUTE, admission=admission))
    assert used.status_code == 201
    clock.advance(dt.timedelta(hours=2))
    code = rotating.entrance_code(
        venue.location.rotating_secret, venue.area.code, rotating.time_step(taken)
    )
    assert client.get(f"/c/{venue.area.code}?t={code}").status_code == 403
    for admitted in ({"admission": admission}, {}):
        answer = client.post(API, json=venue.checkin_body(clock.now(), **admitted))
        assert answer.status_code == 403
        assert answer.get_json()["error"]["code"] == "entrance_code_required"
    assert _count(db_session) == 1


def test_an_admission_obtained_before_going_offline_admits_the_later_delivery_once(
    client: FlaskClient, db_session: Session, clock: FrozenClock, venue: Venue
) -> None:
    """The guest scans, fills the form, the phone has no signal for an hour: its outbox
    delivers the check-in (and retries it), but the admission admits nothing more."""
    _rotating_venue(db_session, venue)
    admission = _admission_from_screen(client, venue, clock)
    arrival = clock.now() + 3 * MINUTE
    body = venue.checkin_body(arrival, admission=admission)
    clock.advance(dt.timedelta(hours=1))
    delivered = client.post(API, json=body)
    assert delivered.status_code == 201
    retried = client.post(API, json=body)  # the phone did not hear the answer
    assert retried.status_code == 200
    assert retried.get_json()["id"] == delivered.get_json()["id"]
    another = client.post(API, json=venue.checkin_body(arrival, admission=admission))
    assert another.status_code == 403
    stored = db_session.scalars(select(CheckIn)).one()
    assert stored.admission_digest is not None
    assert stored.delivered_late is False  # an hour is within the late-arrival window


def test_one_admission_replayed_for_an_arrival_far_away_is_refused(
    client: FlaskClient, db_session: Session, clock: FrozenClock, venue: Venue
) -> None:
    _rotating_venue(db_session, venue)
    issued = clock.now()
    admission = _admission_from_screen(client, venue, clock)
    clock.advance(dt.timedelta(hours=3))
    for arrival in (issued + dt.timedelta(hours=2), issued - dt.timedelta(hours=1)):
        answer = client.post(API, json=venue.checkin_body(arrival, admission=admission))
        assert answer.status_code == 403, arrival
    assert _count(db_session) == 0


def _count(db_session: Session) -> int:
    db_session.expire_all()
    return len(db_session.scalars(select(CheckIn)).all())


def _rotating_venue(db_session: Session, venue: Venue) -> Venue:
    venue.location.checkin_mode = CheckInMode.ROTATING
    db_session.commit()
    return venue


def test_rotating_page_needs_the_screens_current_code(
    client: FlaskClient, db_session: Session, clock: FrozenClock, venue: Venue
) -> None:
    _rotating_venue(db_session, venue)
    page = f"/c/{venue.area.code}"
    refused = client.get(page)
    assert refused.status_code == 403
    assert "Bildschirm am Eingang" in refused.get_data(as_text=True)
    code = rotating.entrance_code(
        venue.location.rotating_secret, venue.area.code, rotating.time_step(clock.now())
    )
    opened = client.get(f"{page}?t={code}")
    assert opened.status_code == 200
    assert 'name="admission"' in opened.get_data(as_text=True)
    clock.advance(dt.timedelta(seconds=61))
    assert client.get(f"{page}?t={code}").status_code == 403


def test_display_shows_a_qr_code_per_area_that_changes(
    client: FlaskClient, db_session: Session, clock: FrozenClock, venue: Venue, app: Flask
) -> None:
    _rotating_venue(db_session, venue)
    secret = venue.location.display_secret
    page = client.get(f"/display/{secret}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Café am Dom" in html and "Terrasse" in html and "checkin-display.js" in html
    src = re.search(r'<img class="qr" data-qr src="([^"]+)"', html)[1]
    first = client.get(src)
    assert first.status_code == 200 and first.mimetype == "image/svg+xml"
    assert first.headers["Cache-Control"] == "no-store"
    assert b"<svg" in first.data
    clock.advance(dt.timedelta(seconds=30))
    assert client.get(src).data != first.data
    with app.test_request_context():
        from registration.checkin.display import entrance_url

        url = entrance_url(venue.location, venue.area)
    code = url.split("?t=")[1]
    assert rotating.entrance_code_is_fresh(
        venue.location.rotating_secret, venue.area.code, code, clock.now()
    )
    assert client.get("/display/not-the-secret").status_code == 404
