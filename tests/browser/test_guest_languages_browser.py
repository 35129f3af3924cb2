"""The guest page in every guest language, in Chromium on a phone.

axe-core on each state of the page (form, form with errors, confirmation, My visits,
an error page) in all seven languages, Arabic right to left; no sideways scrolling
at 320 CSS px in Arabic and German; the language switch keeps what was typed;
English dates on the 24-hour clock; the no-JavaScript page says where it seals.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from registration.clock import to_berlin
from registration.i18n import GUEST_LANGUAGES
from tests.browser.guest_page import BRAUHAUS, GUEST, PHONE, LiveVenue, fill, run_axe

pytestmark = [
    pytest.mark.browser,
    pytest.mark.engine_independent(
        "translations, right-to-left layout, axe and the language switch of rendered pages; check-in storage is tested on both engines in test_checkin_browser and test_phone_browser"
    ),
]
expect.set_options(timeout=20_000)

SIDEWAYS = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
# A date and time as an English guest reads it: 26/11/2026, 14:05.
ENGLISH_DATE = re.compile(r"^\d{2}/\d{2}/\d{4}, \d{2}:\d{2}$")
AM_PM = re.compile(
    r"\b[AP]\.?M\b"
)  # as Intl writes it ("2:05 PM"); not the "am" of "Brauhaus am Ring"


def guest_context(chromium: Browser, language: str, **options: Any) -> BrowserContext:
    context = chromium.new_context(**{**PHONE, **options}, locale=language)  # type: ignore[arg-type]
    context.set_default_timeout(20_000)
    return context


def choose(page: Page, venue: LiveVenue, language: str) -> None:
    """The visible switch, as a guest uses it (the cookie it sets stays for the context)."""
    page.goto(venue.page_url)
    if page.locator("html").get_attribute("lang") != language:
        page.locator(f"nav.lang-switch a[lang={language}]").click()
    expect(page.locator("html")).to_have_attribute("lang", language)


def test_axe_finds_nothing_in_any_language_and_state(chromium: Browser, venue: LiveVenue) -> None:
    """One venue, one fresh context per language; every finding is collected, then shown."""
    found: dict[str, list[dict[str, Any]]] = {}

    def check(page: Page, state: str, language: str) -> None:
        violations = run_axe(page)
        if violations:
            found[f"{language}: {state}"] = violations

    for language in GUEST_LANGUAGES:
        context = guest_context(chromium, "de-DE", bypass_csp=True)
        try:
            page = context.new_page()
            if language != "de":
                choose(page, venue, language)
            else:
                page.goto(venue.page_url)
            direction = page.locator("html").get_attribute("dir") or "ltr"
            assert direction == ("rtl" if language == "ar" else "ltr"), language
            check(page, "form", language)
            fill(page, {**GUEST, "zipCode": "x"})
            page.click("#submit-checkin")
            expect(page.locator("#error-summary")).to_be_visible()
            check(page, "form with errors", language)
            page.fill("#zipCode", GUEST["zipCode"])
            page.click("#submit-checkin")
            expect(page.locator("#confirmation")).to_be_visible()
            expect(page.locator("#confirmation-status")).not_to_be_empty()
            check(page, "confirmation", language)
            page.reload()  # the list of visits as the phone keeps it
            expect(page.locator("#confirmation")).to_be_visible()
            page.click("#another-checkin")
            expect(page.locator("#my-visits")).to_be_visible()
            check(page, "my visits", language)
            page.goto(f"{venue.url}/c/no-such-code")
            expect(page.locator("#error-title")).to_be_visible()
            check(page, "error page", language)
            # The server-rendered confirmation (no JavaScript), read with axe in this context.
            plain = guest_context(chromium, "de-DE", java_script_enabled=False)
            try:
                form = plain.new_page()
                form.goto(f"{venue.page_url}?lang={language}")
                fill(form, GUEST)
                form.click("#submit-checkin")
                expect(form.locator("h1")).to_have_attribute("id", "confirmation-title")
                context.add_cookies(plain.cookies())
                page.goto(form.url)
            finally:
                plain.close()
            expect(page.locator("#confirmation-title")).to_be_visible()
            expect(page.locator("html")).to_have_attribute("lang", language)
            check(page, "confirmation without JavaScript", language)
        finally:
            context.close()
    assert found == {}
    assert len(venue.checkins()) == 2 * len(GUEST_LANGUAGES)


@pytest.mark.parametrize("language", ["ar", "de"])
def test_nothing_scrolls_sideways_at_320_px(
    chromium: Browser, venue: LiveVenue, language: str
) -> None:
    context = guest_context(
        chromium, language, viewport={"width": 320, "height": 568}, is_mobile=True
    )
    try:
        page = context.new_page()
        choose(page, venue, language)
        assert page.evaluate(SIDEWAYS) <= 0
        fill(page, GUEST)
        page.click("#add-person")
        page.fill("#p0-firstName", "Jonte")
        page.fill("#p0-lastName", "Quästorius")
        page.uncheck("#p0-sameAddress")
        assert page.evaluate(SIDEWAYS) <= 0
        page.click("#submit-checkin")
        expect(page.locator("#error-summary")).to_be_visible()  # the companion's address
        assert page.evaluate(SIDEWAYS) <= 0
        page.check("#p0-sameAddress")
        page.click("#submit-checkin")
        expect(page.locator("#confirmation")).to_be_visible()
        assert page.evaluate(SIDEWAYS) <= 0
        page.reload()
        page.click("#another-checkin")
        expect(page.locator("#my-visits")).to_be_visible()
        assert page.evaluate(SIDEWAYS) <= 0
    finally:
        context.close()


def test_the_arabic_page_mirrors(chromium: Browser, venue: LiveVenue) -> None:
    """Right to left: the first name's field sits right of the last name's, labels align right."""
    context = guest_context(chromium, "ar")
    try:
        page = context.new_page()
        page.goto(venue.page_url)
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        first = page.locator("#firstName").bounding_box()
        last = page.locator("#lastName").bounding_box()
        assert first and last and first["x"] > last["x"]
        label = page.locator("label[for=firstName]")
        assert label.evaluate("(el) => getComputedStyle(el).direction") == "rtl"
        expect(label).to_contain_text("الاسم الأول")
    finally:
        context.close()


def test_switching_the_language_keeps_what_was_typed(chromium: Browser, venue: LiveVenue) -> None:
    context = guest_context(chromium, "de-DE")
    try:
        page = context.new_page()
        page.goto(venue.page_url)
        fill(page, GUEST)
        page.click("#add-person")
        page.fill("#p0-firstName", "Jonte")
        page.fill("#p0-lastName", "Quästorius")
        page.uncheck("#p0-sameAddress")
        page.fill("#p0-city", "Bonn")
        page.check("#remember")
        page.locator("nav.lang-switch a[lang=tr]").click()
        expect(page.locator("label[for=streetAddress]")).to_contain_text("Sokak ve kapı numarası")
        for name, value in GUEST.items():
            expect(page.locator(f"#{name}")).to_have_value(value)
        companion = page.locator("fieldset.person")
        expect(companion).to_have_count(1)
        expect(companion.locator("input[id$=-firstName]")).to_have_value("Jonte")
        expect(companion.locator("input[id$=-city]")).to_have_value("Bonn")
        expect(companion.locator("input[id$=-sameAddress]")).not_to_be_checked()
        expect(companion.locator("legend")).to_have_text("Kişi 2")
        expect(page.locator("#remember")).to_be_checked()
        # Kept on the phone for the switch only: gone once filled in, never sent.
        assert page.evaluate("sessionStorage.length") == 0
        assert venue.checkins() == []
        page.reload()
        expect(page.locator("#firstName")).to_have_value("")
    finally:
        context.close()


def test_english_dates_are_on_the_24_hour_clock(chromium: Browser, venue: LiveVenue) -> None:
    """In the afternoon (server and phone agree on the time): 14:05, never 2:05 PM."""
    now = venue.server.clock.now()
    afternoon = now.replace(hour=13, minute=5, second=0, microsecond=0)
    venue.server.clock.advance(afternoon - now)
    arrival = to_berlin(afternoon)
    departure = arrival + dt.timedelta(minutes=BRAUHAUS["default_stay_minutes"])  # type: ignore[arg-type]
    context = guest_context(chromium, "en-US")
    try:
        page = context.new_page()
        page.clock.set_fixed_time(afternoon)
        page.goto(venue.page_url)
        expect(page.locator("html")).to_have_attribute("lang", "en")
        fill(page, GUEST)
        page.click("#submit-checkin")
        expect(page.locator("#confirmation")).to_be_visible()
        shown = page.locator('[data-out="arrival"]').inner_text()
        leaving = page.locator('[data-out="departure"]').inner_text()
        assert shown == arrival.strftime("%d/%m/%Y, %H:%M")
        assert leaving == departure.strftime("%d/%m/%Y, %H:%M")
        assert ENGLISH_DATE.match(shown) and arrival.hour >= 13
        page.reload()
        page.click("#another-checkin")
        visits = page.locator("#my-visits-list").inner_text()
        assert arrival.strftime("%H:%M") in visits and departure.strftime("%H:%M") in visits
        for text in (shown, leaving, visits):
            assert not AM_PM.search(text), text
    finally:
        context.close()


@pytest.fixture
def english_without_js(chromium: Browser) -> Iterator[BrowserContext]:
    context = guest_context(chromium, "en-GB", java_script_enabled=False)
    try:
        yield context
    finally:
        context.close()


def test_the_page_says_where_it_seals(
    english_without_js: BrowserContext, chromium: Browser, venue: LiveVenue
) -> None:
    """Without JavaScript the server seals: the page must not say "on your phone"."""
    page = english_without_js.new_page()
    page.goto(venue.page_url)
    privacy = page.locator("#privacy-facts")
    privacy.locator("summary").click()
    expect(privacy).to_contain_text("the moment our server receives them")
    assert "on your phone" not in privacy.inner_text()
    fill(page, GUEST)
    page.click("#submit-checkin")
    expect(page.locator("h1")).to_have_text("You are checked in")
    assert "on your phone" not in page.locator("main").inner_text()

    context = guest_context(chromium, "en-GB")
    try:
        page = context.new_page()
        page.goto(venue.page_url)
        privacy = page.locator("#privacy-facts")
        expect(privacy).to_contain_text("Sealed on your phone")
        assert "our server receives them" not in privacy.inner_text()
    finally:
        context.close()
