"""The office's key page in Chromium: a proposed passphrase by default, weak ones refused.

The page proposes six words from the German list (drawn in the browser) and refuses a
passphrase of the admin's own that zxcvbn finds guessable, with the verdict of
crypto/passphrase.py. The key file it saves opens in Python with the proposal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

import crypto
from crypto.passphrase import german_words
from registration.models import Role
from tests import factories
from tests.browser.test_checkin_browser import run_axe
from tests.factories import PASSWORD
from tests.local_servers import LiveServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.engine_independent(
        "the key pair, passphrase check and key file are made in the browser; the server only serves the page"
    ),
]
expect.set_options(timeout=60_000)  # creating a key file runs PBKDF2 (600,000 iterations)


@pytest.fixture
def admin(live_server: LiveServer) -> dict[str, Any]:
    secret = pyotp.random_base32()
    with factories.committing(live_server.database) as session:
        office = factories.health_office(session, name="Gesundheitsamt Schlüsselstadt")
        user = factories.user(
            session,
            role=Role.HEALTH_OFFICE_ADMIN,
            office=office,
            totp_secret=secret,
            now=live_server.clock.now(),
        )
    return {"email": user.email, "secret": secret}


def _log_in(page: Page, base: str, admin: dict[str, Any]) -> None:
    page.goto(f"{base}/konto/login")
    page.fill("#email", admin["email"])
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url("**/konto/2fa")
    page.fill("#code", pyotp.TOTP(admin["secret"]).now())
    page.press("#code", "Enter")
    expect(page.locator("form[action$='/konto/logout'] button").first).to_be_visible()


def test_axe_finds_nothing_on_the_key_page(
    chromium: Browser, live_server: LiveServer, admin: dict[str, Any]
) -> None:
    # axe is injected as an inline script, which our CSP (rightly) forbids to page content.
    context = chromium.new_context(locale="de-DE", bypass_csp=True)
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        _log_in(page, live_server.url, admin)
        page.goto(f"{live_server.url}/amt/keys/new")
        expect(page.locator("#proposed-passphrase")).not_to_have_text("")
        assert run_axe(page) == []
        page.fill("#new-passphrase", "Passwort1234")
        page.fill("#new-passphrase-repeat", "Passwort1234")
        page.click("#generate-key")
        expect(page.locator("#key-status")).to_contain_text("zu leicht zu erraten")
        assert run_axe(page) == []
    finally:
        context.close()


def test_the_key_page_proposes_a_passphrase_and_refuses_a_weak_one(
    chromium: Browser, live_server: LiveServer, admin: dict[str, Any], tmp_path: Path
) -> None:
    base = live_server.url
    context = chromium.new_context(locale="en-GB", accept_downloads=True)
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        _log_in(page, base, admin)
        page.goto(f"{base}/amt/keys/new?lang=en")

        proposal = page.locator("#proposed-passphrase")
        expect(proposal).not_to_have_text("")
        first = proposal.inner_text()
        words = first.split("-")
        assert len(words) == 6 and set(words) <= set(german_words())
        page.click("#new-proposal")
        expect(proposal).not_to_have_text(first)

        for weak, message in (
            ("Passwort1234", "too easy to guess"),
            ("aaaaaaaaaaaa", "too easy to guess"),
            ("kurz", "at least 12 characters"),
        ):
            page.fill("#new-passphrase", weak)
            page.fill("#new-passphrase-repeat", weak)
            page.click("#generate-key")
            expect(page.locator("#key-status")).to_contain_text(message)
            expect(page.locator("#register-key-form")).to_be_hidden()

        page.click("#new-proposal")
        passphrase = proposal.inner_text()
        assert page.input_value("#new-passphrase") == passphrase
        page.fill("#new-passphrase-repeat", passphrase)
        with page.expect_download() as download:
            page.click("#generate-key")
        saved = tmp_path / "new.key.json"
        download.value.save_as(saved)
        opened = crypto.read_key_file(saved.read_bytes(), passphrase)
        expect(page.locator("#key-fingerprint")).to_have_text(
            crypto.format_fingerprint(opened.key_id)
        )
        expect(proposal).to_have_text("")
        assert page.input_value("#new-passphrase") == ""
    finally:
        context.close()
