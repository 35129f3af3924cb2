"""The pages of issue 14 in Chromium, each checked with axe (WCAG 2.1 AA): a rotating
location with its entrance screen and a renewed screen address, the visits over time,
the table-poster explanation, and the operator's overview after a TOTP log-in (with a
screenshot for the docs when SCREENSHOT_DIR is set)."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from registration.models import CheckInMode, RecoveryCode, Role, TraceRequestState
from tests import factories
from tests.browser.test_checkin_browser import run_axe
from tests.factories import PASSWORD
from tests.local_servers import LiveServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.engine_independent(
        "axe on rendered pages; the data behind them (history counts, display address) is tested on both engines in tests/registration/portal"
    ),
]


@pytest.fixture
def desktop(chromium: Browser) -> Iterator[BrowserContext]:
    # axe is injected as an inline script, which our CSP (rightly) forbids to page content.
    context = chromium.new_context(
        locale="de-DE", bypass_csp=True, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(20_000)
    try:
        yield context
    finally:
        context.close()


def _town(server: LiveServer) -> dict[str, object]:
    """An office with a key, a rotating location with visits, requests, an operator."""
    now = server.clock.now()
    with factories.committing(server.database) as session:
        office = factories.health_office(
            session, name="Gesundheitsamt Musterkreis", postal_codes=["10115", "10117"]
        )
        key, _private = factories.office_key(session, office, activated_at=now)
        business = factories.business(session, name="Café Drehtür")
        owner = factories.user(session, business=business, email="drehtuer@example.org")
        place = factories.location(
            session,
            business,
            office=office,
            areas=["Saal", "Terrasse"],
            name="Café Drehtür am Platz",
            zip_code="10115",
            checkin_mode=CheckInMode.ROTATING,
        )
        for days, hours in ((0, 1), (0, 2), (1, 3), (3, 5), (6, 4), (6, 2)):
            factories.checkin(
                session, place.areas[0], key, arrival=now - dt.timedelta(days=days, hours=hours)
            )
        factories.trace_request(session, office, place, now=now)
        factories.trace_request(session, office, place, now=now, state=TraceRequestState.RELEASED)
        secret = pyotp.random_base32()
        operator = factories.user(
            session, role=Role.OPERATOR, email="it@stadt.example", totp_secret=secret
        )
        # As after the TOTP set-up: ten unused recovery codes (else the page warns).
        operator.recovery_codes = [
            RecoveryCode(code_hash=f"unused-{number}") for number in range(10)
        ]
        return {
            "owner": owner.email,
            "location_id": place.id,
            "display_secret": place.display_secret,
            "area_id": place.areas[0].id,
            "operator": operator.email,
            "totp": secret,
        }


def test_rotating_location_history_and_poster_explanation_pass_axe(
    live_server: LiveServer, desktop: BrowserContext
) -> None:
    town = _town(live_server)
    base = live_server.url
    page = desktop.new_page()
    page.goto(base + "/konto/login")
    page.get_by_label("E-Mail-Adresse").fill(str(town["owner"]))
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_label("Passwort").press("Enter")
    expect(page.get_by_role("heading", name="Café Drehtür", exact=True)).to_be_visible()

    page.goto(f"{base}/portal/locations/{town['location_id']}")
    expect(page.get_by_role("heading", name="Bildschirm am Eingang")).to_be_visible()
    old_link = page.locator("#display-link").get_attribute("href")
    assert old_link and old_link.endswith(f"/display/{town['display_secret']}")
    expect(page.get_by_role("link", name="Eingangsschild A4 (PDF)").first).to_be_visible()
    assert run_axe(page) == []

    page.get_by_role("button", name="Bildschirm eine neue Adresse geben").click()
    expect(page.get_by_role("alert")).to_contain_text("Bitte bestätigen")
    page.get_by_label("Ja, ich bin sicher.").check()
    page.get_by_role("button", name="Bildschirm eine neue Adresse geben").click()
    expect(page.get_by_role("status")).to_contain_text("neue Adresse")
    new_link = page.locator("#display-link").get_attribute("href")
    assert new_link and new_link != old_link
    assert run_axe(page) == []
    screen = desktop.new_page()
    # The link carries the public base URL; the test server listens on its own port.
    assert screen.goto(base + urlsplit(new_link).path) is not None
    expect(screen.locator("img[data-qr]").first).to_be_visible()
    old = screen.goto(base + urlsplit(old_link).path)
    assert old is not None and old.status == 404

    page.get_by_role("link", name="Besuche im Zeitverlauf").click()
    expect(page.get_by_role("heading", name=re.compile("^Besuche im Zeitverlauf"))).to_be_visible()
    expect(page.locator("svg.chart")).to_have_count(2)
    assert run_axe(page) == []
    page.get_by_text("Zahlen als Tabelle zeigen").first.click()
    assert run_axe(page) == []
    page.goto(f"{base}/portal/locations/{town['location_id']}/history?day=kaputt")
    expect(page.locator("#day-error")).to_be_visible()
    assert run_axe(page) == []

    response = page.goto(f"{base}/portal/areas/{town['area_id']}/poster.pdf?format=a4")
    assert response is not None and response.status == 409
    expect(
        page.get_by_role("heading", name=re.compile("Keine gedruckten QR-Codes"))
    ).to_be_visible()
    assert run_axe(page) == []


def test_operator_logs_in_with_totp_and_the_overview_passes_axe(
    live_server: LiveServer, desktop: BrowserContext
) -> None:
    town = _town(live_server)
    base = live_server.url
    page = desktop.new_page()
    page.goto(base + "/konto/login")
    page.get_by_label("E-Mail-Adresse").fill(str(town["operator"]))
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_label("Passwort").press("Enter")
    code = pyotp.TOTP(str(town["totp"])).at(live_server.clock.now())
    page.locator("#code").fill(code)
    page.locator("#code").press("Enter")
    expect(page.get_by_role("heading", name="Betreiber-Übersicht")).to_be_visible()
    expect(page.locator("svg.chart")).to_have_count(3)
    assert "Café Drehtür" not in page.content()
    assert run_axe(page) == []
    screens = os.environ.get("SCREENSHOT_DIR")
    if screens:
        page.screenshot(path=str(Path(screens) / "operator.png"), full_page=True)

    page.get_by_role("link", name="Gesundheitsämter").click()
    expect(page.get_by_role("heading", name="Gesundheitsamt Musterkreis")).to_be_visible()
    expect(page.get_by_text("10115, 10117")).to_be_visible()
    assert run_axe(page) == []
