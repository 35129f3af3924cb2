"""From sign-up to a printed poster and a first guest, in Chromium, as a new owner would.

Sign up, read the verification mail from a real SMTP server on 127.0.0.1, log in,
create a location with areas, download the poster PDF, decode its QR code with a
real decoder, check in as a guest at that URL, see 1 person in the live view, check
everyone out, see 0.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pypdf
import pytest
import zxingcpp
from playwright.sync_api import Browser, expect

from tests import factories
from tests.factories import PASSWORD
from tests.local_servers import LiveServer, SmtpInbox, free_port

pytestmark = pytest.mark.browser

POSTAL_CODE = "10115"


@pytest.fixture
def portal_server(
    make_live_server: Callable[..., LiveServer], smtp: tuple[SmtpInbox, int]
) -> LiveServer:
    """The live app on a port chosen first, so public_base_url (QR codes, mail links) is right."""
    _inbox, smtp_port = smtp
    port = free_port()
    server = make_live_server(
        mail_server="127.0.0.1",
        mail_port=smtp_port,
        mail_to_console=False,
        public_base_url=f"http://127.0.0.1:{port}",
    )
    server.stop()
    server.port = port
    server.start()
    with factories.committing(server.database) as session:
        office = factories.health_office(
            session,
            name="Gesundheitsamt Berlin-Mitte",
            email="amt@example.invalid",
            postal_codes=[POSTAL_CODE],
        )
        factories.office_key(session, office)
    return server


def _qr_urls(pdf: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return [
        result.text
        for page in reader.pages
        for image in page.images
        for result in zxingcpp.read_barcodes(image.image)
    ]


def test_sign_up_to_poster_to_first_guest(
    chromium: Browser, portal_server: LiveServer, smtp: tuple[SmtpInbox, int]
) -> None:
    catcher, _port = smtp
    base = portal_server.url
    owner_context = chromium.new_context(accept_downloads=True, locale="de-DE")
    guest_context = chromium.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, locale="de-DE"
    )
    try:
        owner = owner_context.new_page()
        owner.set_default_timeout(20_000)
        errors: list[str] = []
        owner.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        owner.goto(base + "/")
        owner.get_by_role("link", name="Für Betriebe").click()
        owner.get_by_role("link", name="Betrieb registrieren").click()
        owner.get_by_label("Name Ihres Betriebs").fill("Trattoria Sole")
        owner.get_by_label("Ihr Name").fill("Sofia")
        owner.get_by_label("E-Mail-Adresse").fill("sofia@example.org")
        owner.get_by_label("Passwort", exact=True).fill(PASSWORD)
        owner.get_by_label("Passwort wiederholen").fill(PASSWORD)
        owner.get_by_label("Ich führe diesen Betrieb").check()
        owner.get_by_role("button", name="Konto anlegen").click()
        expect(owner.get_by_role("heading", name="Bitte sehen Sie in Ihr Postfach")).to_be_visible()

        mail = catcher.wait_for("sofia@example.org")
        body = mail.get_content()
        link = re.search(r"(http://127\.0\.0\.1:\d+/konto/verify/\S+)", body)
        assert link and link.group(1).startswith(base)
        owner.goto(link.group(1))
        expect(owner.get_by_text("Ihre E-Mail-Adresse ist bestätigt")).to_be_visible()

        owner.get_by_label("E-Mail-Adresse").fill("sofia@example.org")
        owner.get_by_label("Passwort", exact=True).fill(PASSWORD)
        owner.get_by_role("button", name="Anmelden").click()
        expect(owner.get_by_role("heading", name="Trattoria Sole")).to_be_visible()

        owner.get_by_role("link", name="Standort anlegen").click()
        owner.get_by_label("Name des Standorts").fill("Trattoria Sole am Platz")
        owner.get_by_label("Straße", exact=True).fill("Invalidenstraße")
        owner.get_by_label("Hausnummer", exact=True).fill("7")
        owner.get_by_label("Postleitzahl", exact=True).fill(POSTAL_CODE)
        owner.get_by_label("Ort", exact=True).fill("Berlin")
        owner.get_by_label("Kapazität (Personen, optional)").fill("30")
        owner.get_by_label("Bereiche oder Tische (optional)").fill("Tisch 1\u20133, Terrasse")
        owner.get_by_role("button", name="Standort anlegen").click()
        expect(owner.get_by_text("Gesundheitsamt Berlin-Mitte")).to_be_visible()
        expect(owner.get_by_role("rowheader", name=re.compile("^Terrasse"))).to_be_visible()

        owner.get_by_label("Zweite Sprache auf den Plakaten (unter dem Deutschen)").select_option(
            label="Polski"
        )
        with owner.expect_download() as download_info:
            owner.get_by_role("button", name="Alle Plakate A4 (PDF)").click()
        pdf = download_info.value.path().read_bytes()
        urls = _qr_urls(pdf)
        assert len(urls) == 4 and all(url.startswith(base + "/c/") for url in urls)
        first_page = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
        assert "Bitte hier registrieren" in first_page
        assert "Prosimy o rejestrację tutaj" in first_page

        guest = guest_context.new_page()
        guest.set_default_timeout(20_000)
        guest.goto(urls[0])
        guest.get_by_label("Vorname").fill("Erika")
        guest.get_by_label("Nachname").fill("Mustermann")
        guest.get_by_label("Straße und Hausnummer").fill("Hauptstraße 5")
        guest.locator("#zipCode").fill("10115")
        guest.locator("#city").fill("Berlin")
        guest.locator("#phone").fill("0151 2345678")
        guest.locator("#submit-checkin").click()
        expect(guest.locator("#confirmation")).to_be_visible()

        owner.get_by_role("link", name="Live-Ansicht").first.click()
        expect(owner.locator('[data-live="present"]')).to_have_text("1")
        expect(owner.locator("#capacity-meter")).to_have_attribute("value", "1")
        owner.get_by_label("Ja, ich bin sicher.").check()
        owner.get_by_role("button", name="Alle abmelden").click()
        expect(owner.get_by_text("Abgemeldet: 1 Besuche.")).to_be_visible()
        expect(owner.locator('[data-live="present"]')).to_have_text("0")
        assert "Erika" not in owner.content() and "Mustermann" not in owner.content()
        assert errors == []
    finally:
        owner_context.close()
        guest_context.close()
