"""Rotating entrance codes and admissions, the entrance screen, and the page that needs them."""

from __future__ import annotations

import datetime as dt
import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from registration.checkin import rotating
from registration.clock import FrozenClock
from registration.models import CheckInMode
from tests.factories import Venue

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


def test_admission_bounds() -> None:
    secret = b"s" * 32
    admission = rotating.issue_admission(secret, "area", MOMENT)
    assert rotating.admission_is_valid(
        secret, "area", admission, MOMENT + dt.timedelta(minutes=29), MOMENT
    )
    assert not rotating.admission_is_valid(
        secret, "area", admission, MOMENT + dt.timedelta(minutes=31), MOMENT
    )
    assert not rotating.admission_is_valid(
        secret, "area", admission, MOMENT - dt.timedelta(minutes=3), MOMENT
    )
    assert not rotating.admission_is_valid(
        secret, "area", admission.replace(".", ".x"), MOMENT, MOMENT
    )
    assert not rotating.admission_is_valid(secret, "area", "abc", MOMENT, MOMENT)
    assert not rotating.admission_is_valid(secret, "area", "9" * 11 + ".x", MOMENT, MOMENT)


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
