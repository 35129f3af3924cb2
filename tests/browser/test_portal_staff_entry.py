"""Staff entry in Chromium: a paper-list guest, sealed in the staff member's browser."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import Browser, expect
from sqlalchemy import select, text

import crypto
from registration.models import CheckIn, CheckInSource, Location
from tests import factories
from tests.factories import PASSWORD
from tests.local_servers import LiveServer

pytestmark = pytest.mark.browser

BERLIN = ZoneInfo("Europe/Berlin")


def _seed(server: LiveServer) -> tuple[ec.EllipticCurvePrivateKey, int]:
    """An office with a key we keep, and an owner with one location and area."""
    with factories.committing(server.database) as session:
        office = factories.health_office(
            session,
            name="Gesundheitsamt Mitte",
            email="amt@example.invalid",
            postal_codes=["10115"],
        )
        venue = factories.venue(
            session,
            office=office,
            business_name="Zur Linde",
            areas=["Stube"],
            name="Zur Linde",
            street="Linienstraße",
        )
        factories.user(session, business=venue.business, email="wirt@example.org")
    return venue.private_key, venue.location.id


def _local(moment: dt.datetime) -> str:
    return moment.astimezone(BERLIN).strftime("%Y-%m-%dT%H:%M")


def test_staff_entry_from_a_paper_list_is_sealed_in_the_browser(
    chromium: Browser, make_live_server: Callable[..., LiveServer]
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
        # Shown once the server has answered that the entry is stored.
        expect(page.locator("#form-message")).to_have_text(
            "Versiegelt für das Gesundheitsamt gespeichert. "
            "Sie können das nächste Formular eingeben."
        )
    finally:
        context.close()

    with server.database.session() as session:
        stored = session.scalars(select(CheckIn)).all()
        location = session.get(Location, location_id)
        assert location is not None
        codes = (location.code, location.areas[0].code)
        raw = " ".join(str(row) for row in session.execute(text("SELECT * FROM checkins")).all())

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
