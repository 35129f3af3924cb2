"""The guest's phone: a closed tab still delivers, refusals stay visible, no endless
spinner, one open visit at a time, "my visits", layout at 320 and 390 CSS px.

Chromium on a phone-sized screen against the real app (tests/local_servers.py). The
service worker (static/js/service-worker.js) delivers the outbox when the tab is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests import factories
from tests.browser.phone import QUEUED_BACKGROUND, QUEUED_REOPEN, open_with_worker, phone_store
from tests.browser.test_checkin_browser import BRAUHAUS, GUEST, PHONE, LiveVenue, fill
from tests.local_servers import LiveServer, wait_until

pytestmark = pytest.mark.browser
expect.set_options(timeout=20_000)


@pytest.fixture
def venue(make_live_server: Callable[..., LiveServer]) -> LiveVenue:
    server = make_live_server()
    return LiveVenue(server, factories.add_venue(server.database, **BRAUHAUS))


@pytest.fixture
def phone(chromium: Browser) -> Iterator[BrowserContext]:
    context = chromium.new_context(**PHONE, locale="de-DE")
    context.set_default_timeout(20_000)
    try:
        yield context
    finally:
        context.close()


def test_a_closed_tab_delivers_with_background_sync_exactly_once(
    phone: BrowserContext, venue: LiveVenue
) -> None:
    """Headless Chromium fires `sync` when the emulated network comes back: the
    worker, not a page, sends the check-in (no page of the service is open)."""
    page = open_with_worker(phone, venue.page_url)
    fill(page, GUEST)
    phone.set_offline(True)
    page.click("#submit-checkin")
    expect(page.locator("#confirmation-status")).to_have_text(QUEUED_BACKGROUND)
    assert len(phone_store(page)["outbox"]) == 1
    page.close()
    assert phone.pages == []
    phone.set_offline(False)
    wait_until(lambda: len(venue.checkins()) == 1)
    again = phone.new_page()  # the visit on the phone learnt its check-out token
    again.goto(venue.page_url)
    expect(again.locator("#confirmation-status")).to_have_text("Ihr Check-in ist angekommen.")
    stored = phone_store(again)
    assert stored["outbox"] == []
    assert len(stored["visits"][0]["token"]) >= 40
    again.click("#checkout-button")
    expect(again.locator("#confirmation-status")).to_have_text(
        "Sie sind ausgecheckt. Danke für Ihren Besuch!"
    )
    [checkin] = venue.checkins()
    assert checkin.departure is not None


def test_without_background_sync_the_next_visit_to_any_page_delivers(
    phone: BrowserContext, venue: LiveVenue
) -> None:
    """A browser without Background Sync (Firefox, Safari): the page says so, and the
    worker delivers when the guest opens any page of the service again."""
    phone.add_init_script("delete ServiceWorkerRegistration.prototype.sync;")
    page = open_with_worker(phone, venue.page_url)
    fill(page, GUEST)
    phone.set_offline(True)
    page.click("#submit-checkin")
    expect(page.locator("#confirmation-status")).to_have_text(QUEUED_REOPEN)
    page.close()
    phone.set_offline(False)
    assert venue.checkins() == []
    home = phone.new_page()
    home.goto(venue.url + "/")  # not a guest page: the worker wakes on the navigation
    wait_until(lambda: len(venue.checkins()) == 1)
    home.goto(venue.page_url)
    expect(home.locator("#confirmation-status")).to_have_text("Ihr Check-in ist angekommen.")
    assert len(venue.checkins()) == 1
