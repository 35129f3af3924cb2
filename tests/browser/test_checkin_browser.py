"""The guest check-in end to end in Chromium on a phone-sized screen, against the real app.

Scan URL → fill → confirm → check out; remembered details; additional persons; the
page without JavaScript; the outbox while the server is away; what the database
holds (no names, streets or phone numbers); page weight and origin; axe-core.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect
from sqlalchemy import text

from registration.checkin.views import module_graph
from registration.models import CheckIn, CheckInMode, CheckInSource
from tests import factories
from tests.browser.guest_page import BRAUHAUS, GUEST, PHONE, LiveVenue, fill, run_axe
from tests.browser.phone import (
    QUEUED_BACKGROUND,
    open_with_worker,
    phone_store,
    wait_for_empty_outbox,
    wait_for_sealing,
)

pytestmark = pytest.mark.browser
# Sealing on a busy two-core machine can take a few seconds; waiting longer costs nothing.
expect.set_options(timeout=20_000)

SECRET_VALUES = [
    "Wilhelmine",
    "Quästorius",
    "Zypressenweg",
    "Bergisch Gladbach",
    "98123456",
    "wilhelmine.q",
]
# Received on the first load, headers included (bench/guest_page_bench.py: slow 3G).
PAGE_BUDGET_BYTES = 45 * 1000


def confirmation_status(page: Page) -> str:
    return page.locator("#confirmation-status").inner_text()


def test_scan_fill_confirm_and_check_out(
    phone: BrowserContext, venue: LiveVenue, request_recorder: Callable[[Page], Any]
) -> None:
    page = phone.new_page()
    log = request_recorder(page)
    page.goto(venue.page_url)
    expect(page.locator("h1")).to_contain_text("Brauhaus am Ring")
    fill(page, GUEST)
    page.click("#submit-checkin")
    expect(page.locator("#confirmation")).to_be_visible()
    expect(page.locator("#confirmation-status")).to_have_text("Ihr Check-in ist angekommen.")
    expect(page.locator('[data-out="persons"]')).to_have_text("1")
    expect(page.locator("#checkout-button")).to_be_visible()
    [checkin] = venue.checkins()
    assert checkin.source == CheckInSource.GUEST_PAGE
    opened = venue.open(checkin)
    # Format v2: the arrival and idempotency key the page sent are sealed with the record.
    assert opened.pop("idempotencyKey")
    assert opened == {
        "v": 2,
        "arrival": checkin.arrival.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": "guest_page",
        "firstName": "Wilhelmine",
        "lastName": "Quästorius",
        "street": "Zypressenweg",
        "houseNumber": "42b",
        "zipCode": "50933",
        "city": "Bergisch Gladbach",
        "phone": "0176 98123456",
        "email": "wilhelmine.q@example.org",
        "additionalPersons": [],
        "note": "",
    }
    api_calls = [r for r in log.requests if "/api/" in r.url]
    assert len(api_calls) == 1
    sent = json.loads(api_calls[0].post_data or "{}")
    assert set(sent) == {"areaCode", "idempotencyKey", "envelope", "persons", "arrival"}
    # The area once more in a header, for the reverse proxy to count (deploy/nginx).
    assert api_calls[0].headers.get("x-gastregister-area") == sent["areaCode"] != ""
    assert not any(value in (api_calls[0].post_data or "") for value in SECRET_VALUES)
    assert log.outside_origin(venue.url) == []

    page.reload()  # survives a reload …
    expect(page.locator("#confirmation")).to_be_visible()
    page.close()
    again = phone.new_page()  # … and a closed tab
    again.goto(venue.page_url)
    expect(again.locator("#confirmation")).to_be_visible()
    again.click("#checkout-button")
    expect(again.locator("#confirmation-status")).to_have_text(
        "Sie sind ausgecheckt. Danke für Ihren Besuch!"
    )
    [checkin] = venue.checkins()
    assert checkin.departure is not None
    [visit] = phone_store(again)["visits"]
    assert len(visit["token"]) >= 40


@pytest.mark.engine_independent("what the phone remembers and forgets: localStorage only")
def test_remembered_details_fill_the_form_and_are_forgotten_with_one_tap(
    phone: BrowserContext, venue: LiveVenue
) -> None:
    page = phone.new_page()
    page.goto(venue.page_url)
    fill(page, GUEST)
    page.check("#remember")
    page.click("#submit-checkin")
    expect(page.locator("#confirmation")).to_be_visible()
    page.click("#checkout-button")
    expect(page.locator("#confirmation-status")).to_have_text(
        "Sie sind ausgecheckt. Danke für Ihren Besuch!"
    )
    page.reload()  # the next visit: the form is filled with the remembered details
    expect(page.locator("#remembered-note")).to_be_visible()
    expect(page.locator("#city")).to_have_value("Bergisch Gladbach")
    expect(page.locator("#streetAddress")).to_have_value("Zypressenweg 42b")
    page.click("#forget-details")
    expect(page.locator("#firstName")).to_have_value("")
    expect(page.locator("#remembered-note")).to_be_hidden()
    assert page.evaluate("localStorage.getItem('gastregister.contact.v1')") is None
    stored = page.evaluate("JSON.stringify(localStorage)")
    assert "Wilhelmine" not in stored


@pytest.mark.engine_independent(
    "the form's companion fieldsets; storing a check-in is tested on both engines above"
)
def test_additional_persons(phone: BrowserContext, venue: LiveVenue) -> None:
    page = phone.new_page()
    page.goto(venue.page_url)
    fill(page, GUEST)
    page.click("#add-person")
    page.click("#add-person")
    page.click("#add-person")
    fieldsets = page.locator("fieldset[data-person]")
    expect(fieldsets).to_have_count(3)
    fieldsets.nth(1).locator("[data-remove-person]").click()
    expect(fieldsets).to_have_count(2)
    expect(fieldsets.nth(1).locator("legend")).to_have_text("Person 3")
    first = fieldsets.nth(0)
    first.locator("input[id$='-firstName']").fill("Jonte")
    first.locator("input[id$='-lastName']").fill("Quästorius")
    second = fieldsets.nth(1)
    second.locator("input[id$='-firstName']").fill("Ida")
    second.locator("input[id$='-lastName']").fill("Nachbarin")
    expect(second.locator("[data-own-address]")).to_be_hidden()
    second.locator("[data-same-address]").uncheck()
    expect(second.locator("[data-own-address]")).to_be_visible()
    page.click("#submit-checkin")  # Ida's own address is missing
    expect(page.locator("#error-summary")).to_be_focused()
    second.locator("input[id$='-streetAddress']").fill("Gartenweg 3")
    second.locator("input[id$='-zipCode']").fill("50969")
    second.locator("input[id$='-city']").fill("Köln")
    second.locator("input[id$='-email']").fill("ida@example.org")
    page.click("#submit-checkin")
    expect(page.locator('[data-out="persons"]')).to_have_text("3")
    [checkin] = venue.checkins()
    assert checkin.persons == 3
    assert venue.open(checkin)["additionalPersons"] == [
        {"firstName": "Jonte", "lastName": "Quästorius", "sameAddress": True},
        {
            "firstName": "Ida",
            "lastName": "Nachbarin",
            "sameAddress": False,
            "street": "Gartenweg",
            "houseNumber": "3",
            "zipCode": "50969",
            "city": "Köln",
            "phone": "",
            "email": "ida@example.org",
        },
    ]


@pytest.mark.engine_independent("validation on the page; nothing is stored")
def test_errors_are_announced_and_linked_to_their_fields(
    phone: BrowserContext, venue: LiveVenue
) -> None:
    page = phone.new_page()
    page.goto(venue.page_url)
    fill(page, {**GUEST, "zipCode": "x", "phone": "", "email": ""})
    page.click("#submit-checkin")
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    assert summary.get_attribute("role") == "alert"
    expect(page.locator("#error-list li")).to_have_count(2)
    expect(page.locator("#zipCode")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#zipCode")).to_have_attribute("aria-describedby", "zipCode-error")
    expect(page.locator("#zipCode-error")).to_have_text(
        "Bitte geben Sie eine gültige Postleitzahl ein, z. B. 10115."
    )
    page.click("#error-list a[href='#phone']")
    expect(page.locator("#phone")).to_be_focused()
    assert venue.checkins() == []
    # keyboard only: fix the fields and submit with Enter
    page.locator("#zipCode").fill("50933")
    page.locator("#phone").fill("0176 98123456")
    page.keyboard.press("Enter")
    expect(page.locator("#confirmation")).to_be_visible()


@pytest.mark.engine_independent("translation of the page; nothing is stored")
def test_english_with_the_visible_switch(phone: BrowserContext, venue: LiveVenue) -> None:
    page = phone.new_page()
    page.goto(venue.page_url)
    page.click("nav.lang-switch >> text=English")
    expect(page.locator("label[for=streetAddress]")).to_contain_text("Street and house number")
    fill(page, {**GUEST, "zipCode": "x"})
    page.click("#submit-checkin")
    expect(page.locator("#zipCode-error")).to_have_text(
        "Please enter a valid postal code, e.g. 10115."
    )


def test_without_javascript(no_js: BrowserContext, venue: LiveVenue) -> None:
    page = no_js.new_page()
    page.goto(venue.page_url)
    expect(page.locator("#remember-row")).to_be_hidden()
    fill(page, {**GUEST, "email": "kaputt@"})
    page.click("#add-person")  # a server round trip adds the fields
    page.fill("#p0-firstName", "Jonte")
    page.fill("#p0-lastName", "Quästorius")
    page.click("#submit-checkin")
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#p0-firstName")).to_have_value("Jonte")
    assert venue.checkins() == []
    page.fill("#email", GUEST["email"])
    page.click("#submit-checkin")
    expect(page.locator("h1")).to_have_text("Sie sind eingecheckt")
    assert "/checkin/" in page.url and "Wilhelmine" not in page.url
    [checkin] = venue.checkins()
    assert checkin.source == CheckInSource.GUEST_FORM and checkin.persons == 2
    assert venue.open(checkin)["additionalPersons"][0]["firstName"] == "Jonte"
    assert venue.open(checkin)["firstName"] == "Wilhelmine"
    confirmation = page.url
    page.close()
    page = no_js.new_page()  # the closed tab comes back from history
    page.goto(confirmation)
    expect(page.locator("dd").nth(2)).to_have_text("2")
    page.click("button.big")
    expect(page.locator("h1")).to_have_text("Sie sind ausgecheckt")
    assert venue.checkins()[0].departure is not None
    cookie = next(c for c in no_js.cookies() if c["name"] == "gr_checkin")
    assert cookie["httpOnly"] and cookie["path"] == f"/c/{venue.area_code}"


def test_outbox_keeps_the_checkin_while_the_server_is_away(
    phone: BrowserContext, venue: LiveVenue
) -> None:
    page = open_with_worker(phone, venue.page_url)
    wait_for_sealing(page)
    fill(page, GUEST)
    venue.server.stop()
    page.click("#submit-checkin")
    expect(page.locator("#confirmation-status")).to_have_text(QUEUED_BACKGROUND)
    outbox = phone_store(page)["outbox"]
    assert len(outbox) == 1 and outbox[0]["kind"] == "checkin"
    assert not any(value in json.dumps(outbox) for value in SECRET_VALUES)
    arrival = outbox[0]["body"]["arrival"]
    venue.server.start()
    expect(page.locator("#confirmation-status")).to_have_text(
        "Ihr Check-in ist angekommen.", timeout=45_000
    )
    [checkin] = venue.checkins()
    assert checkin.arrival == dt.datetime.fromisoformat(arrival)
    wait_for_empty_outbox(page)


def test_a_lost_answer_and_a_503_are_retried_and_stored_once(
    phone: BrowserContext, venue: LiveVenue
) -> None:
    page = phone.new_page()
    seen: list[int] = []

    def flaky(route: Route) -> None:
        seen.append(1)
        if len(seen) == 1:
            route.fetch()  # the server stores it, but the answer never reaches the phone
            route.abort("connectionreset")
        elif len(seen) == 2:
            route.fulfill(status=503, json={"error": {"code": "unavailable", "message": "down"}})
        else:
            route.continue_()

    # The context, not the page: the service worker may send the retries.
    phone.route("**/api/v1/checkins", flaky)
    page.goto(venue.page_url)
    fill(page, GUEST)
    page.click("#submit-checkin")
    expect(page.locator("#confirmation-status")).to_have_text(
        "Ihr Check-in ist angekommen.", timeout=45_000
    )
    assert len(seen) >= 3
    assert len(venue.checkins()) == 1


def test_the_database_holds_no_names_streets_or_phone_numbers(
    phone: BrowserContext, no_js: BrowserContext, venue: LiveVenue
) -> None:
    for context in (phone, no_js):
        page = context.new_page()
        page.goto(venue.page_url)
        fill(page, GUEST)
        page.click("#submit-checkin")
        if context is phone:
            expect(page.locator("#confirmation-status")).to_have_text(
                "Ihr Check-in ist angekommen."
            )
        else:
            expect(page.locator("h1")).to_have_text("Sie sind eingecheckt")
    assert len(venue.checkins()) == 2
    database = venue.server.database
    if database.dialect == "sqlite":
        path = Path(database.url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        assert len(raw) > 0
    else:
        with database.engine.connect() as connection:
            columns = [c.name for c in CheckIn.__table__.columns]
            rows = connection.execute(
                text("SELECT " + ", ".join(f"{c}::text" for c in columns) + " FROM checkins")
            ).all()
        raw = "\n".join("|".join(str(v) for v in row) for row in rows).encode()
        assert len(rows) == 2
    for value in SECRET_VALUES:
        for encoding in ("utf-8", "utf-16-le"):
            assert value.encode(encoding) not in raw, value
    for checkin in venue.checkins():
        assert venue.open(checkin)["lastName"] == "Quästorius"


@pytest.mark.engine_independent("bytes and origins of the first load; nothing is stored")
def test_first_load_is_small_and_from_our_origin_only(
    chromium: Browser, venue: LiveVenue, request_recorder: Callable[[Page], Any]
) -> None:
    """What the phone receives (headers and compressed bodies, as DevTools counts it),
    the page compressed too, and every module of the page asked for in one round."""
    context = chromium.new_context(**PHONE, locale="de-DE")
    try:
        page = context.new_page()
        log = request_recorder(page)
        page.goto(venue.page_url, wait_until="networkidle")
        expect(page.locator("#checkin-form")).to_be_visible()
        total = 0
        for request in log.requests:
            response = request.response()
            assert response is not None, request.url
            sizes = request.sizes()
            total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        compressed = [
            r.url
            for r in log.requests
            if (r.response() and r.response().header_value("content-encoding"))
        ]
        assert venue.page_url in compressed
        assert any(url.endswith(".js") for url in compressed)
        assert log.outside_origin(venue.url) == []
        preloaded = page.eval_on_selector_all(
            "link[rel=modulepreload]", "links => links.map(link => link.href)"
        )
        static = re.sub(r"/c/.*", "", page.url) + page.evaluate(
            "new URL(document.querySelector('script[type=module]').src).pathname"
        ).removesuffix("js/checkin.js")
        assert preloaded == [static + module for module in module_graph("js/checkin.js")]
        sealing = [static + module for module in module_graph("js/envelope.js")]
        scripts = [url for url in log.urls if url.endswith(".js")]
        assert sorted(scripts) == sorted(preloaded + sealing)
        print(f"\nfirst load: {len(log.requests)} requests, {total} bytes received")
        assert total <= PAGE_BUDGET_BYTES, f"{total} bytes in {len(log.requests)} requests"
    finally:
        context.close()


@pytest.mark.engine_independent("layout only")
def test_readable_at_200_percent_zoom(chromium: Browser, venue: LiveVenue) -> None:
    """A 390 px phone at 200 % zoom lays out like a 195 px wide screen: nothing may scroll sideways."""
    context = chromium.new_context(
        viewport={"width": 195, "height": 422}, device_scale_factor=4, locale="de-DE"
    )
    try:
        page = context.new_page()
        page.goto(venue.page_url)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
    finally:
        context.close()


@pytest.mark.engine_independent(
    "axe on rendered pages; storing a check-in is tested on both engines above"
)
def test_axe_finds_nothing_on_the_guest_pages(
    axe_context: BrowserContext, no_js: BrowserContext, venue: LiveVenue
) -> None:
    page = axe_context.new_page()
    page.goto(venue.page_url)
    assert run_axe(page) == []
    page.click("#add-person")
    fill(page, {**GUEST, "zipCode": "x", "phone": "", "email": ""})
    page.click("#submit-checkin")
    expect(page.locator("#error-summary")).to_be_visible()
    assert run_axe(page) == []
    fill(page, GUEST)
    page.fill("input[id$='-firstName'] >> nth=0", "Jonte")
    page.fill("input[id$='-lastName'] >> nth=0", "Q")
    page.click("#submit-checkin")
    expect(page.locator("#confirmation-status")).to_have_text("Ihr Check-in ist angekommen.")
    assert run_axe(page) == []
    # the server-rendered (no-JS) confirmation page, looked at with axe
    plain = no_js.new_page()
    plain.goto(venue.page_url)
    fill(plain, GUEST)
    plain.click("#submit-checkin")
    expect(plain.locator("h1")).to_have_text("Sie sind eingecheckt")
    axe_context.add_cookies(no_js.cookies())
    page.goto(plain.url)
    expect(page.locator("h1")).to_have_text("Sie sind eingecheckt")
    assert run_axe(page) == []
    page.goto(f"{venue.url}/display/{venue.display_secret}")
    expect(page.locator("img.qr")).to_be_visible()
    assert run_axe(page) == []


@pytest.mark.engine_independent("the entrance screen's timer in the browser; nothing is stored")
def test_display_refreshes_its_code(
    chromium: Browser, make_live_server: Callable[..., Any]
) -> None:
    server = make_live_server()
    location = factories.add_venue(
        server.database, checkin_mode=CheckInMode.ROTATING, **BRAUHAUS
    ).location
    context = chromium.new_context(locale="de-DE")
    try:
        page = context.new_page()
        page.clock.install()
        page.goto(f"{server.url}/display/{location.display_secret}")
        image = page.locator("img.qr")
        before = image.get_attribute("src")
        page.clock.run_for(31_000)
        expect(image).not_to_have_attribute("src", before or "")
        assert re.search(r"[?&]s=\d+", image.get_attribute("src") or "")
    finally:
        context.close()
