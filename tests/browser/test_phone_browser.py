"""The guest's phone: a closed tab still delivers, refusals stay visible, no endless
spinner, one open visit at a time, "my visits", layout at 320 and 390 CSS px.

Chromium on a phone-sized screen against the real app (tests/local_servers.py). The
service worker (static/js/service-worker.js) delivers the outbox when the tab is gone.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, BrowserContext, Route, expect

from tests import factories
from tests.browser.guest_page import BRAUHAUS, GUEST, LiveVenue, fill, run_axe
from tests.browser.phone import (
    QUEUED_BACKGROUND,
    QUEUED_REOPEN,
    go_offline,
    open_with_worker,
    phone_store,
    wait_for_empty_outbox,
    wait_for_sealing,
)
from tests.local_servers import LiveServer, wait_until

pytestmark = pytest.mark.browser
expect.set_options(timeout=20_000)

REASON = "Die Ankunftszeit liegt außerhalb des erlaubten Bereichs."


def test_a_closed_tab_delivers_with_background_sync_exactly_once(
    phone: BrowserContext, venue: LiveVenue
) -> None:
    """Headless Chromium fires `sync` when the emulated network comes back: the
    worker, not a page, sends the check-in (no page of the service is open)."""
    page = open_with_worker(phone, venue.page_url)
    fill(page, GUEST)
    go_offline(phone, page)
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
    wait_for_empty_outbox(again)
    assert len(phone_store(again)["visits"][0]["token"]) >= 40
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
    wait_for_sealing(page)
    fill(page, GUEST)
    # A dead zone: the server cannot be reached at all. Neither offline emulation (applied
    # asynchronously) nor a route in the browser (one request in a CI run got past a
    # context's route) could promise that no request reaches the server.
    venue.server.stop()
    page.click("#submit-checkin")
    expect(page.locator("#confirmation-status")).to_have_text(QUEUED_REOPEN)
    page.close()
    assert venue.checkins() == []
    venue.server.start()
    home = phone.new_page()
    home.goto(venue.url + "/")  # not a guest page: the worker wakes on the navigation
    wait_until(lambda: len(venue.checkins()) == 1)
    home.goto(venue.page_url)
    expect(home.locator("#confirmation-status")).to_have_text("Ihr Check-in ist angekommen.")
    assert len(venue.checkins()) == 1


@pytest.mark.engine_independent(
    "the refusals come from a route in the browser; the server stores nothing"
)
def test_a_refused_checkin_is_listed_with_its_reason_until_dismissed(
    phone: BrowserContext, venue: LiveVenue
) -> None:
    """The server refuses a waiting check-in for good: the page never drops it silently."""
    answers: list[int] = []

    def busy_then_refused(route: Route) -> None:
        if not answers:
            answers.append(503)
            route.fulfill(status=503, json={"error": {"code": "unavailable", "message": "-"}})
        else:
            answers.append(422)
            route.fulfill(status=422, json={"error": {"code": "invalid", "message": REASON}})

    page = open_with_worker(phone, venue.page_url)
    phone.route("**/api/v1/checkins", busy_then_refused)
    fill(page, GUEST)
    page.click("#submit-checkin")
    undelivered = page.locator("#undelivered")
    expect(undelivered).to_contain_text(REASON)
    expect(undelivered).to_contain_text("Check-in nicht übermittelt: Brauhaus am Ring, Biergarten")
    expect(page.locator("#confirmation-status")).to_have_text(f"Nicht übermittelt: {REASON}")
    wait_for_empty_outbox(page)
    page.reload()  # still there on the next visit
    expect(undelivered).to_contain_text(REASON)
    undelivered.get_by_role("button", name="Ausblenden").click()
    expect(undelivered).to_be_hidden()
    page.reload()
    expect(page.locator("#checkin-form")).to_be_visible()
    expect(undelivered).to_be_hidden()
    assert phone_store(page)["visits"] == []
    assert venue.checkins() == []


@pytest.mark.engine_independent(
    "the stall is a route in the browser and the deadline the page's own; exactly-once storage is tested on both engines in the delivery tests"
)
def test_a_stalled_server_leaves_no_endless_spinner(
    phone: BrowserContext, venue: LiveVenue
) -> None:
    """The server takes the connection and never answers: after the page's deadline the
    check-in waits on the phone and the page says so; it arrives once the server answers."""
    stalled: list[Route] = []

    def never_answer(route: Route) -> None:
        stalled.append(route)

    phone.route("**/api/v1/checkins", never_answer)
    page = phone.new_page()
    page.goto(venue.page_url)
    fill(page, GUEST)
    page.click("#submit-checkin")
    expect(page.locator("#confirmation-status")).to_have_text(
        re.compile("^Auf Ihrem Handy gespeichert")
    )
    expect(page.locator("#submit-checkin")).not_to_have_attribute("aria-busy", "true")
    assert stalled and venue.checkins() == []
    phone.unroute("**/api/v1/checkins")
    page.reload()
    expect(page.locator("#confirmation-status")).to_have_text("Ihr Check-in ist angekommen.")
    assert len(venue.checkins()) == 1


def _queue_offline(phone: BrowserContext, venue: LiveVenue) -> None:
    """The guest checks in without signal and closes the tab: the outbox holds it."""
    page = open_with_worker(phone, venue.page_url)
    fill(page, GUEST)
    go_offline(phone, page)
    page.click("#submit-checkin")
    expect(page.locator("#confirmation-status")).to_have_text(QUEUED_BACKGROUND)
    assert len(phone_store(page)["outbox"]) == 1
    page.close()


def test_a_checkin_queued_offline_and_delivered_three_days_later_is_stored_marked_late(
    phone: BrowserContext, venue: LiveVenue
) -> None:
    """The phone finds signal again three days on (the server's clock moves; the arrival
    was sealed when the guest checked in): the visit is kept, marked for the office."""
    _queue_offline(phone, venue)
    venue.server.clock.advance(dt.timedelta(days=3))
    phone.set_offline(False)
    wait_until(lambda: len(venue.checkins()) == 1)
    [checkin] = venue.checkins()
    assert checkin.delivered_late is True
    assert checkin.received_at - checkin.arrival > dt.timedelta(days=3) - dt.timedelta(minutes=5)
    assert venue.open(checkin)["firstName"] == GUEST["firstName"]
    again = phone.new_page()
    again.goto(venue.page_url)
    expect(again.locator("#confirmation-status")).to_have_text("Ihr Check-in ist angekommen.")
    wait_for_empty_outbox(again)


EXPIRED = (
    "Dieser Check-in lag länger als die Speicherfrist auf Ihrem Handy und kann nicht mehr"
    " übermittelt werden. Es wurde nichts gespeichert."
)
# The phone's own clock 29 days on as well, for the page: it forgets visits older than
# the retention period, and must not forget a refusal the guest has not yet read.
PHONE_29_DAYS_LATER = """(() => {
  const realNow = Date.now;
  Date.now = () => realNow.call(Date) + 29 * 24 * 3600 * 1000;
})();"""


def test_a_checkin_kept_on_the_phone_beyond_the_retention_period_is_refused_visibly(
    phone: BrowserContext, venue: LiveVenue
) -> None:
    """29 days without delivery: the server refuses it for good (it would have to be
    deleted already), and the page says so until the guest dismisses it."""
    _queue_offline(phone, venue)
    venue.server.clock.advance(dt.timedelta(days=29))
    phone.add_init_script(PHONE_29_DAYS_LATER)
    phone.set_offline(False)
    page = phone.new_page()
    page.goto(venue.page_url)
    undelivered = page.locator("#undelivered")
    expect(undelivered).to_contain_text("Check-in nicht übermittelt: Brauhaus am Ring, Biergarten")
    expect(undelivered).to_contain_text(EXPIRED)
    page.reload()  # still there on the next visit, though older than the retention period
    expect(undelivered).to_contain_text(EXPIRED)
    wait_for_empty_outbox(page)
    assert venue.checkins() == []
    undelivered.get_by_role("button", name=re.compile("^Ausblenden")).click()
    expect(undelivered).to_be_hidden()
    assert phone_store(page)["visits"] == []


@pytest.fixture
def two_tables(make_live_server: Callable[..., LiveServer]) -> LiveVenue:
    server = make_live_server()
    tables = {**BRAUHAUS, "areas": ["Biergarten", "Terrasse"]}
    return LiveVenue(server, factories.add_venue(server.database, **tables))


def test_checking_in_at_another_table_checks_the_first_visit_out(
    phone: BrowserContext, two_tables: LiveVenue
) -> None:
    garden, terrace = (area.code for area in two_tables.venue.areas)
    page = phone.new_page()
    page.goto(f"{two_tables.url}/c/{garden}")
    fill(page, GUEST)
    page.click("#submit-checkin")
    expect(page.locator("#confirmation-status")).to_have_text("Ihr Check-in ist angekommen.")
    page.goto(f"{two_tables.url}/c/{terrace}")
    fill(page, GUEST)
    page.click("#submit-checkin")
    expect(page.locator("#confirmation-status")).to_have_text("Ihr Check-in ist angekommen.")
    wait_until(lambda: two_tables.checkins()[0].departure is not None)
    first, second = two_tables.checkins()
    assert first.departure == second.arrival
    assert second.departure is None
    page.goto(f"{two_tables.url}/c/{garden}")  # no open visit there any more
    expect(page.locator("#checkin-form")).to_be_visible()


def test_back_at_a_table_whose_check_out_still_waits_the_form_is_offered(
    phone: BrowserContext, two_tables: LiveVenue
) -> None:
    """The guest moved on while the first table's check-out could not be sent. That
    visit is over for them: back at the first table they get the form with their
    remembered details (not the old visit, whose "another person" form starts empty),
    and the waiting check-out is still delivered."""
    garden, terrace = (area.code for area in two_tables.venue.areas)
    page = phone.new_page()
    page.goto(f"{two_tables.url}/c/{garden}")
    fill(page, GUEST)
    page.check("#remember")
    page.click("#submit-checkin")
    expect(page.locator("#confirmation-status")).to_have_text("Ihr Check-in ist angekommen.")
    checkouts = "**/api/v1/checkins/*/checkout"
    phone.route(checkouts, lambda route: route.fulfill(status=503, json={"error": {}}))
    page.goto(f"{two_tables.url}/c/{terrace}")
    expect(page.locator("#remembered-note")).to_be_visible()
    page.click("#submit-checkin")
    expect(page.locator("#confirmation-status")).to_have_text("Ihr Check-in ist angekommen.")
    statuses = {v["areaName"]: v["status"] for v in phone_store(page)["visits"]}
    assert statuses == {"Biergarten": "checkoutQueued", "Terrasse": "sent"}

    page.goto(f"{two_tables.url}/c/{garden}")  # the check-out still cannot be sent
    garden_visit = page.locator("#my-visits li").filter(has_text="Biergarten")
    expect(garden_visit).to_contain_text("wartet auf Versand")  # the page has settled
    expect(page.locator("#confirmation")).to_be_hidden()
    expect(page.locator("#checkin-form")).to_be_visible()
    expect(page.locator("#remembered-note")).to_be_visible()
    phone.unroute(checkouts)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(garden_visit).to_contain_text("beendet")
    first, second = two_tables.checkins()
    assert first.departure == second.arrival
    expect(page.locator("#checkin-form")).to_be_visible()


@pytest.mark.engine_independent(
    "what the phone remembers and offers; storage is tested on both engines in the delivery tests"
)
def test_another_person_starts_empty_and_companions_are_offered_not_added(
    phone: BrowserContext, venue: LiveVenue
) -> None:
    page = phone.new_page()
    page.goto(venue.page_url)
    fill(page, GUEST)
    page.click("#add-person")
    page.fill("#p0-firstName", "Jonte")
    page.fill("#p0-lastName", "Quästorius")
    page.check("#remember")
    page.click("#submit-checkin")
    expect(page.locator('[data-out="persons"]')).to_have_text("2")
    page.click("#another-checkin")
    for name in GUEST:
        expect(page.locator(f"#{name}")).to_have_value("")
    expect(page.locator("fieldset[data-person]")).to_have_count(0)
    expect(page.locator("#remembered-note")).to_be_hidden()
    expect(page.locator("#companion-offers")).to_be_hidden()
    fill(page, {**GUEST, "firstName": "Ida", "lastName": "Nachbarin"})
    page.click("#submit-checkin")  # someone else, not remembered: Wilhelmine's details stay
    expect(page.locator('[data-out="persons"]')).to_have_text("1")
    assert "Wilhelmine" in page.evaluate("localStorage.getItem('gastregister.contact.v1')")

    checked_out = "Sie sind ausgecheckt. Danke für Ihren Besuch!"
    page.click("#checkout-button")  # Ida leaves …
    expect(page.locator("#confirmation-status")).to_have_text(checked_out)
    page.reload()  # … Wilhelmine's visit is still open here
    expect(page.locator('[data-out="persons"]')).to_have_text("2")
    page.click("#checkout-button")
    expect(page.locator("#confirmation-status")).to_have_text(checked_out)

    page.reload()  # Wilhelmine's next visit: her details, Jonte only offered
    expect(page.locator("#firstName")).to_have_value("Wilhelmine")
    expect(page.locator("fieldset[data-person]")).to_have_count(0)
    page.get_by_role("button", name="Jonte Quästorius hinzufügen").click()
    expect(page.locator("fieldset[data-person]")).to_have_count(1)
    expect(page.locator("fieldset[data-person] input[id$='-firstName']")).to_have_value("Jonte")
    expect(page.locator("#companion-offers")).to_be_hidden()
    assert [checkin.persons for checkin in venue.checkins()] == [2, 1]


@pytest.mark.engine_independent(
    "the phone's list of visits; check-out storage is tested on both engines"
)
def test_my_visits_lists_checks_out_clears_and_forgets_old_ones(
    phone: BrowserContext, two_tables: LiveVenue
) -> None:
    garden, terrace = (area.code for area in two_tables.venue.areas)
    page = phone.new_page()
    page.goto(f"{two_tables.url}/c/{garden}")
    expect(page.locator("#checkin-form")).to_be_visible()
    expect(page.locator("#my-visits")).to_be_hidden()  # nothing on this phone yet
    fill(page, GUEST)
    page.click("#submit-checkin")
    expect(page.locator("#confirmation-status")).to_have_text("Ihr Check-in ist angekommen.")
    page.evaluate(PUT_OLD_VISIT)  # a visit from before the retention period
    page.goto(f"{two_tables.url}/c/{terrace}")  # another table, not checked in there
    visits = page.locator("#my-visits li")
    expect(visits).to_have_count(1)
    expect(visits.first).to_contain_text("Brauhaus am Ring · Biergarten")
    expect(visits.first).to_contain_text("(automatisch) · eingecheckt")
    assert "old-visit" not in [v["idempotencyKey"] for v in phone_store(page)["visits"]]
    visits.first.get_by_role("button", name="Auschecken: Brauhaus am Ring, Biergarten").click()
    expect(visits.first).to_contain_text("beendet")
    wait_until(lambda: two_tables.checkins()[0].departure is not None)
    page.click("#clear-visits")
    expect(page.locator("#my-visits")).to_be_hidden()
    assert phone_store(page)["visits"] == []


PUT_OLD_VISIT = """async () => {
  const db = await new Promise((resolve) => {
    const request = indexedDB.open("gastregister");
    request.onsuccess = () => resolve(request.result);
  });
  const arrival = new Date(Date.now() - 29 * 24 * 3600 * 1000);
  await new Promise((resolve) => {
    const transaction = db.transaction("visits", "readwrite");
    transaction.objectStore("visits").put({
      idempotencyKey: "old-visit", locationName: "Alt", areaName: "Alt", status: "checkedOut",
      arrival: arrival.toISOString(), autoDeparture: arrival.toISOString(),
      departure: arrival.toISOString(), persons: 1,
    });
    transaction.oncomplete = resolve;
  });
  db.close();
}"""


# Each value of the confirmation in as many lines as it has words, at most.
LINES_PER_VALUE = """() => [...document.querySelectorAll("#confirmation dd")].map((dd) => {
  const range = document.createRange();
  range.selectNodeContents(dd);
  const lines = new Set([...range.getClientRects()].map((rect) => Math.round(rect.bottom))).size;
  return [dd.textContent, lines, dd.textContent.trim().split(/\\s+/).length];
})"""
SIDEWAYS = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def screen(chromium: Browser, width: int) -> BrowserContext:
    context = chromium.new_context(
        viewport={"width": width, "height": 844 if width == 390 else 568},
        is_mobile=True,
        has_touch=True,
        locale="de-DE",
    )
    context.set_default_timeout(20_000)
    return context


@pytest.mark.engine_independent("layout of the remembered-details page")
def test_a_returning_guest_finds_the_button_and_the_privacy_facts_on_the_first_screen(
    phone: BrowserContext, venue: LiveVenue
) -> None:
    page = phone.new_page()
    page.goto(venue.page_url)
    fill(page, GUEST)
    page.check("#remember")
    page.click("#submit-checkin")
    page.click("#checkout-button")
    expect(page.locator("#confirmation-status")).to_have_text(
        "Sie sind ausgecheckt. Danke für Ihren Besuch!"
    )
    expect(page.locator("#confirmation")).to_be_focused()  # the result, not <body>
    page.reload()
    expect(page.locator("#remembered-summary")).to_contain_text("Wilhelmine Quästorius")
    button = page.locator("#submit-checkin").bounding_box()
    facts = page.locator("#privacy-facts").bounding_box()
    assert button and facts
    assert facts["y"] < button["y"]  # Art. 13 before submitting
    assert button["y"] + button["height"] <= 844, button
    expect(page.locator("#privacy-facts details")).to_contain_text(
        "Vollständige Datenschutzhinweise"  # the full text one tap away
    )
    page.click("#submit-checkin")
    expect(page.locator("#confirmation-status")).to_have_text("Ihr Check-in ist angekommen.")
    assert len(venue.checkins()) == 2


@pytest.mark.engine_independent("layout only")
@pytest.mark.parametrize("width", [320, 390])
def test_the_confirmation_reads_well_and_nothing_scrolls_sideways(
    chromium: Browser, two_tables: LiveVenue, width: int
) -> None:
    terrace = two_tables.venue.areas[1].code
    context = screen(chromium, width)
    try:
        page = context.new_page()
        page.goto(f"{two_tables.url}/c/{terrace}")
        assert page.evaluate(SIDEWAYS) <= 0
        fill(page, GUEST)
        page.click("#add-person")
        assert page.evaluate(SIDEWAYS) <= 0
        page.fill("#p0-firstName", "Jonte")
        page.fill("#p0-lastName", "Quästorius")
        page.click("#submit-checkin")
        expect(page.locator("#confirmation-status")).to_have_text("Ihr Check-in ist angekommen.")
        expect(page.locator('[data-out="area"]')).to_have_text("Terrasse")
        for text, lines, words in page.evaluate(LINES_PER_VALUE):
            assert lines <= words, (text, lines)
        assert page.evaluate(SIDEWAYS) <= 0
        expect(page.locator("#checkout-button")).to_be_visible()
        expect(page.locator('[data-out-label="departure"]')).to_have_text("Automatischer Check-out")
    finally:
        context.close()


@pytest.mark.engine_independent("axe on rendered pages")
def test_axe_finds_nothing_on_the_returning_guests_page(
    axe_context: BrowserContext, venue: LiveVenue
) -> None:
    """The summary of remembered details, the offered companions, "my visits" and a
    refused check-in listed as not delivered, looked at with axe-core."""
    page = axe_context.new_page()
    page.goto(venue.page_url)
    fill(page, GUEST)
    page.click("#add-person")
    page.fill("#p0-firstName", "Jonte")
    page.fill("#p0-lastName", "Quästorius")
    page.check("#remember")
    page.click("#submit-checkin")
    expect(page.locator("#confirmation-status")).to_have_text("Ihr Check-in ist angekommen.")
    axe_context.route(
        "**/api/v1/checkins/*/checkout",
        lambda route: route.fulfill(
            status=422, json={"error": {"code": "invalid", "message": REASON}}
        ),
    )
    page.click("#checkout-button")
    expect(page.locator("#undelivered")).to_contain_text(REASON)
    assert run_axe(page) == []
    page.reload()
    expect(page.locator("#confirmation")).to_be_visible()
    page.click("#another-checkin")
    expect(page.locator("#my-visits")).to_be_visible()
    assert run_axe(page) == []
    axe_context.unroute("**/api/v1/checkins/*/checkout")
    page.reload()
    page.click("#checkout-button")
    expect(page.locator("#confirmation-status")).to_have_text(
        "Sie sind ausgecheckt. Danke für Ihren Besuch!"
    )
    page.reload()
    expect(page.locator("#remembered-summary")).to_be_visible()
    expect(page.locator("#companion-offers")).to_be_visible()
    assert run_axe(page) == []
