"""Staff entry in Chromium: a paper-list guest, sealed in the staff member's browser."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select, text

import crypto
from registration.accounts.passwords import hash_password
from registration.models import (
    Area,
    Business,
    CheckIn,
    CheckInSource,
    HealthOffice,
    HealthOfficeKey,
    HealthOfficePostalCode,
    KeyState,
    Location,
    Role,
    User,
)

pytestmark = pytest.mark.browser

BERLIN = ZoneInfo("Europe/Berlin")
PASSWORD = "ein langes Passwort 2026"


def _seed(server: Any) -> tuple[Any, int]:
    """An office with a key we keep, and an owner with one location and area."""
    private_key = crypto.generate_private_key()
    spki = crypto.public_key_spki(private_key)
    with server.database.new_session() as session:
        office = HealthOffice(name="Gesundheitsamt Mitte", email="amt@example.invalid")
        office.postal_codes = [HealthOfficePostalCode(postal_code="10115")]
        office.keys = [
            HealthOfficeKey(
                key_id=crypto.key_id(spki).hex(),
                public_spki=spki,
                state=KeyState.ACTIVE,
                activated_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=30),
            )
        ]
        business = Business(name="Zur Linde")
        session.add_all([office, business])
        session.flush()
        session.add(
            User(
                email="wirt@example.org",
                password_hash=hash_password(PASSWORD),
                role=Role.BUSINESS_OWNER,
                business_id=business.id,
                email_verified_at=dt.datetime.now(dt.UTC),
            )
        )
        location = Location(
            business_id=business.id,
            name="Zur Linde",
            street="Linienstraße",
            house_number="1",
            zip_code="10115",
            city="Berlin",
            health_office_id=office.id,
        )
        location.areas = [Area(name="Stube")]
        session.add(location)
        session.commit()
        return private_key, location.id


def _local(moment: dt.datetime) -> str:
    return moment.astimezone(BERLIN).strftime("%Y-%m-%dT%H:%M")


def test_staff_entry_from_a_paper_list_is_sealed_in_the_browser(
    chromium: Browser, make_live_server: Callable[..., Any]
) -> None:
    server = make_live_server()
    private_key, location_id = _seed(server)
    arrival = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).replace(second=0, microsecond=0)
    departure = arrival + dt.timedelta(hours=2)
    context = chromium.new_context(locale="de-DE", timezone_id="Europe/Berlin")
    sent: list[str] = []
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("request", lambda request: sent.append(request.post_data or ""))
        page.goto(server.url + "/konto/login")
        page.get_by_label("E-Mail-Adresse").fill("wirt@example.org")
        page.get_by_label("Passwort", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Anmelden").click()
        expect(page.get_by_role("heading", name="Zur Linde", level=1)).to_be_visible()

        page.goto(f"{server.url}/portal/locations/{location_id}/staff-entry")
        page.locator("#arrival").fill(_local(arrival))
        page.locator("#departure").fill(_local(departure))
        page.get_by_label("Vorname").fill("Jürgen")
        page.get_by_label("Nachname").fill("O'Neill-Šimić")
        page.get_by_label("Straße und Hausnummer").fill("Am Zwinger 12a")
        page.locator("#zipCode").fill("01067")
        page.locator("#city").fill("Dresden")
        page.locator("#phone").fill("+49 351 123456")
        page.locator("#add-person").click()
        page.locator("#p0-firstName").fill("Mia")
        page.locator("#p0-lastName").fill("O'Neill")
        page.locator("#save-entry").click()
        expect(page.locator("#form-message")).to_be_visible()
    finally:
        context.close()

    deadline = time.monotonic() + 10
    while True:
        with server.database.new_session() as session:
            stored = session.scalars(select(CheckIn)).all()
            location = session.get(Location, location_id)
            assert location is not None
            codes = (location.code, location.areas[0].code)
            raw = " ".join(
                str(row) for row in session.execute(text("SELECT * FROM checkins")).all()
            )
        if stored or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    assert len(stored) == 1
    checkin = stored[0]
    assert checkin.source is CheckInSource.STAFF_ENTRY
    assert checkin.arrival == arrival
    assert checkin.departure == departure
    assert checkin.persons == 2
    record = crypto.open_contact_record(
        private_key, checkin.envelope, location_code=codes[0], area_code=codes[1]
    )
    assert (record["firstName"], record["lastName"]) == ("Jürgen", "O'Neill-Šimić")
    assert (record["street"], record["houseNumber"]) == ("Am Zwinger", "12a")
    assert (record["zipCode"], record["city"], record["phone"]) == (
        "01067",
        "Dresden",
        "+49 351 123456",
    )
    assert [(p["firstName"], p["lastName"]) for p in record["additionalPersons"]] == [
        ("Mia", "O'Neill")
    ]
    for plain in ("Jürgen", "Neill", "Zwinger", "Dresden", "351 123456"):
        assert plain not in raw
        assert all(plain not in body for body in sent)
