"""The account pages a signed-in user works with — the overview with "log out on all
devices" and the password change, with its errors — pass axe (WCAG 2.1 AA)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests import factories
from tests.browser.test_checkin_browser import run_axe
from tests.factories import PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.engine_independent("axe on rendered pages and a refused form; nothing is written"),
]


@pytest.fixture
def desktop(chromium: Browser) -> Iterator[BrowserContext]:
    # axe is injected as an inline script, which our CSP (rightly) forbids to page content.
    context = chromium.new_context(locale="de-DE", bypass_csp=True)
    context.set_default_timeout(20_000)
    try:
        yield context
    finally:
        context.close()


def test_axe_finds_nothing_on_the_account_pages(live_server: Any, desktop: BrowserContext) -> None:
    with factories.committing(live_server.database) as session:
        business = factories.business(session, name="Café Konto")
        factories.user(session, business=business, email="konto@example.org")
    page = desktop.new_page()
    page.goto(live_server.url + "/konto/login")
    page.get_by_label("E-Mail-Adresse").fill("konto@example.org")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_label("Passwort").press("Enter")
    expect(page.get_by_role("heading", name="Café Konto")).to_be_visible()

    page.goto(live_server.url + "/konto/")
    expect(page.get_by_role("button", name="Auf allen Geräten abmelden")).to_be_visible()
    assert run_axe(page) == []
    page.get_by_role("link", name="Passwort ändern").click()
    assert run_axe(page) == []
    page.get_by_label("Aktuelles Passwort").fill("falsch")
    page.get_by_label("Neues Passwort").fill("kurz")
    page.get_by_label("Passwort wiederholen").fill("anders")
    page.get_by_role("button", name="Neues Passwort speichern").click()
    expect(page.get_by_role("alert")).to_contain_text("mindestens 10 Zeichen")
    expect(page.get_by_label("Neues Passwort")).to_have_attribute("aria-invalid", "true")
    assert run_axe(page) == []
