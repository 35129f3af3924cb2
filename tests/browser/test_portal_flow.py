"""From sign-up to a printed poster and a first guest, in Chromium, as a new owner would.

Sign up, read the verification mail from a real SMTP server on 127.0.0.1, log in,
create a location with areas, download the poster PDF, decode its QR code with a
real decoder, check in as a guest at that URL, see 1 person in the live view, check
everyone out, see 0.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import re
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pypdf
import pytest
import zxingcpp
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, expect

import crypto
from registration.models import HealthOffice, HealthOfficeKey, HealthOfficePostalCode, KeyState

pytestmark = pytest.mark.browser

POSTAL_CODE = "10115"
PASSWORD = "ein langes Passwort 2026"


class MailCatcher:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.arrived:
            self.messages.append(message)  # type: ignore[arg-type]
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, to: str, timeout: float = 30) -> email.message.EmailMessage:
        with self.arrived:
            found = self.arrived.wait_for(
                lambda: next((m for m in self.messages if m["To"] == to), None), timeout
            )
        assert found, f"no mail to {to}"
        return found  # type: ignore[return-value]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[MailCatcher, int]]:
    catcher = MailCatcher()
    port = _free_port()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield catcher, port
    finally:
        controller.stop()


@pytest.fixture
def portal_server(make_live_server: Callable[..., Any], smtp: tuple[MailCatcher, int]) -> Any:
    """The live app on a port chosen first, so public_base_url (QR codes, mail links) is right."""
    _catcher, smtp_port = smtp
    port = _free_port()
    server = make_live_server(
        mail_server="127.0.0.1",
        mail_port=smtp_port,
        mail_to_console=False,
        public_base_url=f"http://127.0.0.1:{port}",
    )
    server.stop()
    server.port = port
    server.start()
    session = server.database.new_session()
    office = HealthOffice(name="Gesundheitsamt Berlin-Mitte", email="amt@example.invalid")
    office.postal_codes = [HealthOfficePostalCode(postal_code=POSTAL_CODE)]
    spki = crypto.public_key_spki(crypto.generate_private_key())
    office.keys = [
        HealthOfficeKey(
            key_id=crypto.key_id(spki).hex(),
            public_spki=spki,
            state=KeyState.ACTIVE,
            activated_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
        )
    ]
    session.add(office)
    session.commit()
    session.close()
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
    chromium: Browser, portal_server: Any, smtp: tuple[MailCatcher, int]
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

        with owner.expect_download() as download_info:
            owner.get_by_role("link", name="Alle Plakate A4 (PDF)").click()
        pdf = download_info.value.path().read_bytes()
        urls = _qr_urls(pdf)
        assert len(urls) == 4 and all(url.startswith(base + "/c/") for url in urls)

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
