"""The owner's workflows in Chromium (issue 14): decline and ask back with the office's
answer, archiving an area with its confirmation and undo, readable audit lists at
1280 px, the account pages with navigation and recovery codes to download and print,
the staff entry from the staff dashboard, no horizontal scrolling on a phone. Every
page a step opens passes axe (WCAG 2.1 AA) with zero violations."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from registration.models import Role
from tests import factories
from tests.browser.test_checkin_browser import run_axe
from tests.factories import PASSWORD
from tests.local_servers import LiveServer, wait_until

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def scene(live_server: LiveServer) -> dict[str, Any]:
    now = live_server.clock.now().replace(second=0, microsecond=0)
    secret = pyotp.random_base32()
    with factories.committing(live_server.database) as session:
        office = factories.health_office(
            session, name="Gesundheitsamt Workflow", email="amt@flow.test", postal_codes=["10115"]
        )
        factories.office_key(session, office, activated_at=now - dt.timedelta(days=40))
        admin = factories.user(
            session,
            role=Role.HEALTH_OFFICE_ADMIN,
            office=office,
            email="admin@flow.test",
            totp_secret=secret,
            now=now,
        )
        business = factories.business(session, name="Gasthof Flow", contact_email="wirt@flow.test")
        factories.user(session, business=business, email="wirt@flow.test", now=now)
        factories.user(
            session,
            role=Role.BUSINESS_STAFF,
            business=business,
            email="kellner@flow.test",
            now=now,
        )
        place = factories.location(
            session,
            business,
            office=office,
            areas=["Terrasse", "Gaststube hinten links am Fenster"],
            name="Gasthof Flow am Marktplatz der Gemeinde",
            street="Marktplatz",
        )
        asked = factories.trace_request(
            session, office, place, now=now, requested_by_id=admin.id, case_reference="AZ-1"
        )
        declined = factories.trace_request(
            session, office, place, now=now, requested_by_id=admin.id, case_reference="AZ-2"
        )
    return {
        "secret": secret,
        "location": place.id,
        "area": place.areas[0].id,
        "area_name": place.areas[0].name,
        "asked": asked.id,
        "declined": declined.id,
    }


@pytest.fixture
def desktop(chromium: Browser) -> Iterator[BrowserContext]:
    # axe is injected as an inline script, which our CSP (rightly) forbids to page content.
    context = chromium.new_context(
        locale="de-DE", bypass_csp=True, viewport=DESKTOP, accept_downloads=True
    )
    context.set_default_timeout(20_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def office_desktop(chromium: Browser) -> Iterator[BrowserContext]:
    context = chromium.new_context(locale="de-DE", bypass_csp=True, viewport=DESKTOP)
    context.set_default_timeout(20_000)
    try:
        yield context
    finally:
        context.close()


def _log_in(page: Page, base: str, email: str, secret: str | None = None) -> None:
    page.goto(f"{base}/konto/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    if secret is not None:
        page.wait_for_url("**/konto/2fa")
        page.fill("#code", pyotp.TOTP(secret).now())
        page.press("#code", "Enter")
    expect(page.locator("form[action$='/konto/logout'] button").first).to_be_visible()


def _no_axe_violations(page: Page) -> None:
    assert run_axe(page) == [], page.url


def _overflow(page: Page, selector: str = "html") -> list[int]:
    """[scrollWidth, clientWidth] of the first element matching selector."""
    return page.evaluate(
        "s => { const e = document.querySelector(s); return [e.scrollWidth, e.clientWidth]; }",
        selector,
    )


def test_owner_asks_back_office_answers_owner_declines_the_other_office_reads_why(
    live_server: LiveServer,
    desktop: BrowserContext,
    office_desktop: BrowserContext,
    scene: dict[str, Any],
) -> None:
    base = live_server.url
    owner = desktop.new_page()
    _log_in(owner, base, "wirt@flow.test")
    owner.goto(f"{base}/portal/requests/{scene['asked']}")
    _no_axe_violations(owner)
    owner.get_by_role("button", name="Rückfrage senden").click()
    expect(owner.locator("#query-title ~ .error-summary, .error-summary")).to_be_visible()
    _no_axe_violations(owner)
    owner.get_by_label("Ihre Rückfrage an das Gesundheitsamt").fill("Welcher Tisch? <b>genau</b>")
    owner.get_by_role("button", name="Rückfrage senden").click()
    expect(owner.locator("#waiting-for-answer")).to_be_visible()
    expect(owner.get_by_text("Welcher Tisch? <b>genau</b>")).to_be_visible()
    _no_axe_violations(owner)

    office = office_desktop.new_page()
    _log_in(office, base, "admin@flow.test", scene["secret"])
    office.goto(f"{base}/amt/requests/{scene['asked']}")
    expect(office.locator("#request-state")).to_have_attribute("data-state", "queried")
    expect(office.get_by_text("Welcher Tisch? <b>genau</b>")).to_be_visible()
    _no_axe_violations(office)
    office.get_by_label("Ihre Antwort an den Betrieb").fill("Tisch 4, am Fenster")
    office.get_by_role("button", name="Antwort senden").click()
    expect(office.locator("#request-state")).to_have_attribute("data-state", "requested")
    _no_axe_violations(office)

    owner.reload()
    expect(owner.get_by_text("Tisch 4, am Fenster")).to_be_visible()
    expect(owner.get_by_role("button", name="Gästedaten freigeben")).to_be_visible()

    owner.goto(f"{base}/portal/requests/{scene['declined']}")
    owner.get_by_label("Warum lehnen Sie ab? Das Gesundheitsamt liest diese Begründung.").fill(
        "An dem Tag war geschlossen."
    )
    owner.get_by_role("button", name="Anfrage ablehnen").click()
    expect(owner.get_by_text("von Ihnen abgelehnt").first).to_be_visible()
    _no_axe_violations(owner)
    owner.goto(f"{base}/portal/requests")
    _no_axe_violations(owner)

    office.goto(f"{base}/amt/requests/{scene['declined']}")
    expect(office.locator("#request-state")).to_have_attribute("data-state", "declined")
    expect(office.get_by_text("An dem Tag war geschlossen.")).to_be_visible()
    expect(office.locator("#refile")).to_be_visible()
    _no_axe_violations(office)
    office.goto(f"{base}/amt/")
    _no_axe_violations(office)

    # Both audit lists: sentences, no codes or JSON, every column inside 1280 px.
    for page, path in ((owner, "/portal/audit"), (office, "/amt/audit")):
        page.goto(base + path)
        table = page.locator("table.audit-list")
        expect(table).to_contain_text("Die Anfrage abgelehnt.")
        assert "request.declined" not in table.inner_text() and "{" not in table.inner_text()
        scroll_width, client_width = _overflow(page, ".table-wrap")
        assert scroll_width <= client_width, (path, scroll_width, client_width)
        _no_axe_violations(page)


@pytest.mark.engine_independent("axe on a rendered page")
def test_the_office_audit_page_without_links_passes_axe(
    live_server: LiveServer, office_desktop: BrowserContext, scene: dict[str, Any]
) -> None:
    """Only log-in entries: no link inside the scrolling table, which must be focusable."""
    page = office_desktop.new_page()
    _log_in(page, live_server.url, "admin@flow.test", scene["secret"])
    page.goto(live_server.url + "/amt/audit")
    expect(page.locator("table.audit-list")).to_contain_text("Angemeldet.")
    assert page.locator("table.audit-list a").count() == 0
    wrap = page.locator(".table-wrap")
    expect(wrap).to_have_attribute("tabindex", "0")
    expect(wrap).to_have_attribute("role", "region")
    _no_axe_violations(page)


def test_archiving_an_area_is_confirmed_and_undone(
    live_server: LiveServer, desktop: BrowserContext, scene: dict[str, Any]
) -> None:
    base = live_server.url
    guest = desktop.browser.new_context() if desktop.browser else None
    assert guest is not None
    try:
        page = desktop.new_page()
        _log_in(page, base, "wirt@flow.test")
        page.goto(f"{base}/portal/locations/{scene['location']}")
        with factories.committing(live_server.database) as session:
            from registration.models import Area

            code = session.get(Area, scene["area"]).code  # type: ignore[union-attr]
        poster = guest.new_page()

        def poster_status() -> int:
            return poster.goto(f"{base}/c/{code}").status  # type: ignore[union-attr]

        assert poster_status() == 200

        page.get_by_role("link", name=f"Archivieren {scene['area_name']}").click()
        expect(page.get_by_text("funktionieren nicht mehr")).to_be_visible()
        _no_axe_violations(page)
        page.get_by_role("link", name="Abbrechen").click()
        assert poster.goto(f"{base}/c/{code}").status == 200  # type: ignore[union-attr]

        page.get_by_role("link", name=f"Archivieren {scene['area_name']}").click()
        page.get_by_role("button", name="Bereich archivieren").click()
        expect(page.get_by_role("heading", name="Archivierte Bereiche")).to_be_visible()
        # Each app process keeps a guest page's area for GUEST_PAGE_STALENESS (check-ins
        # read it afresh): the poster stops working within that, not at once.
        wait_until(lambda: poster_status() != 200, guard_seconds=10)
        _no_axe_violations(page)

        page.get_by_role("button", name=f"Wiederherstellen {scene['area_name']}").click()
        expect(page.get_by_role("heading", name="Archivierte Bereiche")).to_have_count(0)
        wait_until(lambda: poster_status() == 200, guard_seconds=10)
    finally:
        guest.close()


def test_account_pages_have_the_portal_navigation_and_printable_downloadable_codes(
    live_server: LiveServer, desktop: BrowserContext, scene: dict[str, Any]
) -> None:
    base = live_server.url
    page = desktop.new_page()
    _log_in(page, base, "wirt@flow.test")
    page.goto(base + "/konto/")
    nav = page.get_by_role("navigation", name="Betriebsportal")
    expect(nav.get_by_role("link", name="Anfragen des Gesundheitsamts")).to_be_visible()
    expect(nav.get_by_role("button", name="Abmelden")).to_be_visible()
    _no_axe_violations(page)

    page.get_by_role("link", name="Zwei-Faktor-Anmeldung einrichten").click()
    secret = page.locator("code.totp-secret").inner_text().strip()
    page.fill("#code", pyotp.TOTP(secret).now())
    page.press("#code", "Enter")
    expect(page.get_by_role("heading", name="Ihre Wiederherstellungscodes")).to_be_visible()
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    expect(page.get_by_role("button", name="Codes drucken")).to_be_visible()
    _no_axe_violations(page)

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Als Textdatei herunterladen").click()
    download = download_info.value
    assert download.suggested_filename == "gastregister-recovery-codes.txt"
    text = download.path().read_text(encoding="utf-8")
    assert all(code in text for code in codes)

    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.get_by_role("button", name="Codes drucken")).to_be_hidden()
    expect(page.locator(".recovery-codes")).to_be_visible()
    expect(page.get_by_text("Gastregister-Konto: wirt@flow.test")).to_be_visible()
    page.emulate_media(media="screen")
    expect(page.get_by_text("Gastregister-Konto: wirt@flow.test")).to_be_hidden()


@pytest.mark.engine_independent("layout only")
@pytest.mark.parametrize("width", [390, 320])
def test_no_horizontal_scrolling_on_a_phone(
    chromium: Browser, live_server: LiveServer, scene: dict[str, Any], width: int
) -> None:
    context = chromium.new_context(
        locale="de-DE",
        bypass_csp=True,
        viewport={"width": width, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(20_000)
    try:
        page = context.new_page()
        _log_in(page, live_server.url, "wirt@flow.test")
        for path in ("/portal/", f"/portal/locations/{scene['location']}"):
            page.goto(live_server.url + path)
            scroll_width, client_width = _overflow(page)
            assert scroll_width <= client_width, (path, width, scroll_width)
    finally:
        context.close()


@pytest.mark.engine_independent("navigation and axe on rendered pages; nothing is written")
def test_staff_reach_the_staff_entry_from_their_dashboard(
    live_server: LiveServer, desktop: BrowserContext, scene: dict[str, Any]
) -> None:
    page = desktop.new_page()
    _log_in(page, live_server.url, "kellner@flow.test")
    _no_axe_violations(page)
    page.get_by_role("link", name="Eingabe durch Personal").first.click()
    expect(page).to_have_url(re.compile(r"/staff-entry$"))
    assert page.locator("form#staff-entry-form").get_attribute("autocomplete") == "off"
    assert page.locator("#firstName").get_attribute("autocomplete") == "off"
    assert page.locator("#streetAddress").get_attribute("autocomplete") == "off"
    expect(page.get_by_text("Abreise (optional)")).to_be_visible()
    _no_axe_violations(page)
