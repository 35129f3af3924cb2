"""Every HTML form posts over HTTPS, as deployed, in Chromium.

Our first field test had 946 green tests and yet, over HTTPS, no form could be
posted: Flask-WTF checks the Referer of secure requests, and the pages told the
browser to send none (`Referrer-Policy: no-referrer`). These tests run the app over
TLS (a certificate made for the test) and post the forms the way a browser does, so
a header policy that breaks CSRF's same-origin check fails here.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from registration.models import CheckIn, CheckInSource
from tests import factories
from tests.factories import PASSWORD
from tests.local_servers import LiveServer

pytestmark = pytest.mark.browser

GUEST = {
    "firstName": "Wilhelmine",
    "lastName": "Zweig",
    "streetAddress": "Am Hang 3",
    "zipCode": "50672",
    "city": "Köln",
    "phone": "0221 123456",
}


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, made with openssl."""
    folder = tmp_path_factory.mktemp("tls")
    certificate, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        check=True,
        capture_output=True,
    )
    return certificate, key


@pytest.fixture
def https_server(make_live_server: Callable[..., Any], tls_files: tuple[Path, Path]) -> Any:
    """The app over HTTPS with secure cookies, as production runs behind its proxy."""
    server = make_live_server(tls=tls_files)
    server.stop()
    port = server.port
    return make_live_server(port=port, tls=tls_files, public_base_url=f"https://127.0.0.1:{port}")


@pytest.fixture
def https_context(chromium: Browser) -> Iterator[BrowserContext]:
    """A browser that accepts the test certificate (the origin stays a secure context)."""
    context = chromium.new_context(ignore_https_errors=True, locale="de-DE")
    context.set_default_timeout(20_000)
    try:
        yield context
    finally:
        context.close()


def _owner(server: LiveServer) -> str:
    with factories.committing(server.database) as session:
        business = factories.business(
            session, name="Café Sicher", contact_email="sicher@example.org"
        )
        factories.user(session, business=business, email="sicher@example.org")
    return "sicher@example.org"


def _log_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/konto/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    expect(page.locator("form[action$='/konto/logout'] button").first).to_be_visible()


@pytest.mark.engine_independent("TLS and the browser's secure context")
def test_page_is_a_secure_context(https_server: Any, https_context: BrowserContext) -> None:
    page = https_context.new_page()
    page.goto(https_server.url + "/")
    assert page.evaluate("window.isSecureContext") is True


@pytest.mark.engine_independent("CSRF's Referer check and cookie flags over TLS")
def test_log_in_and_out_over_https(https_server: Any, https_context: BrowserContext) -> None:
    email = _owner(https_server)
    page = https_context.new_page()
    _log_in(page, https_server.url, email)
    expect(page.get_by_text("Das Formular ist abgelaufen")).to_have_count(0)
    expect(page.get_by_role("heading", name="Café Sicher")).to_be_visible()
    cookies = {cookie["name"]: cookie for cookie in https_context.cookies()}
    assert cookies["gr_session"]["secure"] is True
    page.get_by_role("button", name="Abmelden").first.click()
    expect(page.get_by_text("Sie sind abgemeldet.")).to_be_visible()
    expect(page.get_by_text("Das Formular ist abgelaufen")).to_have_count(0)
    page.goto(https_server.url + "/portal/")
    expect(page).to_have_url(f"{https_server.url}/konto/login?next=%2Fportal%2F")


@pytest.mark.engine_independent("CSRF's Referer check over TLS")
def test_sign_up_form_over_https(https_server: Any, https_context: BrowserContext) -> None:
    page = https_context.new_page()
    page.goto(https_server.url + "/konto/signup")
    page.get_by_label("Name Ihres Betriebs").fill("Imbiss Neu")
    page.get_by_label("Ihr Name").fill("Nele")
    page.get_by_label("E-Mail-Adresse").fill("nele@example.org")
    page.get_by_label("Passwort", exact=True).fill(PASSWORD)
    page.get_by_label("Passwort wiederholen").fill(PASSWORD)
    page.get_by_label("Ich führe diesen Betrieb").check()
    page.get_by_role("button", name="Konto anlegen").click()
    expect(page.get_by_role("heading", name="Bitte sehen Sie in Ihr Postfach")).to_be_visible()


@pytest.mark.engine_independent("CSRF's Referer check over TLS; nothing is written")
def test_form_from_another_site_is_refused(
    https_server: Any, https_context: BrowserContext
) -> None:
    """The fix must not open the door: a form on a foreign page that posts to us is refused,
    even with a valid token taken from our page (the Referer names the other site)."""
    email = _owner(https_server)
    page = https_context.new_page()
    page.goto(https_server.url + "/konto/login")
    token = page.input_value("input[name=csrf_token]")
    page.route(
        "https://elsewhere.invalid/",
        lambda route: route.fulfill(
            content_type="text/html",
            body=(
                f'<form method="post" action="{https_server.url}/konto/login">'
                f'<input name="csrf_token" value="{token}">'
                f'<input name="email" value="{email}"><input name="password" value="{PASSWORD}">'
                '<button id="go">go</button></form>'
            ),
        ),
    )
    page.goto("https://elsewhere.invalid/")
    page.click("#go")
    expect(page.get_by_text("Das Formular ist abgelaufen")).to_be_visible()


@pytest.mark.engine_independent(
    "CSRF's Referer check over TLS; the no-JavaScript check-in is stored on both engines in test_checkin_browser"
)
def test_guest_form_without_javascript_over_https(https_server: Any, chromium: Browser) -> None:
    area_code = factories.add_venue(https_server.database).area.code
    context = chromium.new_context(
        ignore_https_errors=True, locale="de-DE", java_script_enabled=False
    )
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{https_server.url}/c/{area_code}")
        for name, value in GUEST.items():
            page.fill(f"#{name}", value)
        page.click("#submit-checkin")
        expect(page.locator("h1")).to_have_text("Sie sind eingecheckt")
    finally:
        context.close()
    with https_server.database.session() as session:
        [checkin] = session.scalars(select(CheckIn)).all()
    assert checkin.source == CheckInSource.GUEST_FORM


def _second_browser(chromium: Browser) -> BrowserContext:
    context = chromium.new_context(ignore_https_errors=True, locale="de-DE")
    context.set_default_timeout(20_000)
    return context


def test_a_session_cookie_copied_before_log_out_opens_nothing_over_https(
    https_server: Any, https_context: BrowserContext, chromium: Browser
) -> None:
    email = _owner(https_server)
    page = https_context.new_page()
    _log_in(page, https_server.url, email)
    device = next(c for c in https_context.cookies() if c["name"] == "gr_device")
    assert device["secure"] and device["httpOnly"] and device["path"] == "/konto/"
    stolen = [c for c in https_context.cookies() if c["name"] == "gr_session"]
    thief = _second_browser(chromium)
    try:
        thief.add_cookies(stolen)  # type: ignore[arg-type]
        thief_page = thief.new_page()
        thief_page.goto(https_server.url + "/portal/")
        expect(thief_page.get_by_role("heading", name="Café Sicher")).to_be_visible()
        page.get_by_role("button", name="Abmelden").first.click()
        expect(page.get_by_text("Sie sind abgemeldet.")).to_be_visible()
        thief_page.goto(https_server.url + "/portal/")
        expect(thief_page).to_have_url(f"{https_server.url}/konto/login?next=%2Fportal%2F")
    finally:
        thief.close()


def test_password_change_and_log_out_on_all_devices_over_https(
    https_server: Any, https_context: BrowserContext, chromium: Browser
) -> None:
    email = _owner(https_server)
    laptop = https_context.new_page()
    _log_in(laptop, https_server.url, email)
    phone_context = _second_browser(chromium)
    try:
        phone = phone_context.new_page()
        _log_in(phone, https_server.url, email)

        laptop.goto(https_server.url + "/konto/")
        laptop.get_by_role("link", name="Passwort ändern").click()
        laptop.get_by_label("Aktuelles Passwort").fill("falsches Passwort!")
        laptop.get_by_label("Neues Passwort").fill("ein ganz neuer Satz")
        laptop.get_by_label("Passwort wiederholen").fill("ein ganz neuer Satz")
        laptop.get_by_role("button", name="Neues Passwort speichern").click()
        expect(laptop.get_by_role("alert")).to_contain_text("Das aktuelle Passwort ist falsch.")
        laptop.get_by_label("Aktuelles Passwort").fill(PASSWORD)
        laptop.get_by_label("Neues Passwort").fill("ein ganz neuer Satz")
        laptop.get_by_label("Passwort wiederholen").fill("ein ganz neuer Satz")
        laptop.get_by_role("button", name="Neues Passwort speichern").click()
        expect(laptop.get_by_text("Ihr Passwort ist geändert.")).to_be_visible()
        phone.goto(https_server.url + "/portal/")
        expect(phone).to_have_url(f"{https_server.url}/konto/login?next=%2Fportal%2F")

        phone.fill("#email", email)
        phone.fill("#password", "ein ganz neuer Satz")
        phone.press("#password", "Enter")
        expect(phone.get_by_role("heading", name="Café Sicher")).to_be_visible()
        laptop.get_by_role("button", name="Auf allen Geräten abmelden").click()
        expect(laptop.get_by_text("Sie sind auf allen Geräten abgemeldet.")).to_be_visible()
        phone.goto(https_server.url + "/portal/")
        expect(phone).to_have_url(f"{https_server.url}/konto/login?next=%2Fportal%2F")
    finally:
        phone_context.close()
