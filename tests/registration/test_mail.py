"""Mail goes through a real SMTP server (aiosmtpd on loopback), or to the console."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from registration.clock import FrozenClock
from registration.config import Settings
from registration.mail import MailError, public_url, render_mail, send_mail
from registration.models import TraceRequest
from registration.models import TraceRequestState as State
from registration.tracing import notices
from tests import factories
from tests.local_servers import SmtpInbox, free_port


def test_mail_reaches_a_real_smtp_server(settings: Settings, smtp: tuple[SmtpInbox, int]) -> None:
    inbox, port = smtp
    mail_settings = Settings.from_mapping(
        {"mail_server": "127.0.0.1", "mail_port": port, "mail_to_console": False}, base=settings
    )
    send_mail(mail_settings, "inhaber@example.org", "Neue Anfrage", "Bitte prüfen Sie die Anfrage.")
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["To"] == "inhaber@example.org"
    assert message["Subject"] == "Neue Anfrage"
    assert "prüfen" in message.get_payload(decode=True).decode()


def test_unreachable_server_raises_mail_error(settings: Settings) -> None:
    mail_settings = Settings.from_mapping(
        {"mail_server": "127.0.0.1", "mail_port": free_port(), "mail_to_console": False},
        base=settings,
    )
    with pytest.raises(MailError):
        send_mail(mail_settings, "a@example.org", "x", "y")


def test_header_injection_is_refused(settings: Settings) -> None:
    with pytest.raises(MailError):
        send_mail(settings, "a@example.org\nBcc: all@example.org", "x", "y")


def test_console_mail_in_demo(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    demo = Settings.from_mapping({"mail_to_console": True}, base=settings)
    send_mail(demo, "a@example.org", "Bestätigen", "Link: http://127.0.0.1/konto/verify/abc")
    assert "Bestätigen" in capsys.readouterr().out


def test_console_mail_is_decoded_so_the_link_can_be_copied(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """Quoted-printable would break this link at 76 characters and write "=" as "=3D"."""
    demo = Settings.from_mapping({"mail_to_console": True}, base=settings)
    link = "http://127.0.0.1:5000/konto/verify/" + "Ab-_9" * 20 + "?weiter=%2Fportal%2F&x=1"
    body = f"Grüße aus Demostadt!\n\nBitte bestätigen Sie Ihre Adresse:\n{link}\n"
    send_mail(demo, "lotte@example.org", "Gastregister: Bitte bestätigen \u2013 jetzt", body)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert link in lines
    assert "Subject: Gastregister: Bitte bestätigen \u2013 jetzt" in lines
    assert "To: lotte@example.org" in lines
    assert "Grüße aus Demostadt!" in lines
    assert "=3D" not in out and "quoted-printable" not in out


def test_production_never_prints_a_mail_even_when_the_server_fails(
    settings: Settings, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    production = Settings.from_mapping(
        {
            "environment": "production",
            "secret_key": "s" * 48,
            "mail_server": "127.0.0.1",
            "mail_port": free_port(),
        },
        base=settings,
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MailError):
        send_mail(production, "a@example.org", "Zugang", "Link: http://x.invalid/r/geheim123")
    captured = capsys.readouterr()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for leaked in (captured.out, captured.err, logged):
        assert "geheim123" not in leaked and "Zugang" not in leaked


# --- mails from templates, in the recipient's language ------------------------------------


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    mails: list[tuple[str, str, str]] = []
    monkeypatch.setattr(
        notices, "send_mail", lambda _settings, to, subject, body: mails.append((to, subject, body))
    )
    return mails


@pytest.fixture
def released_request(db_session: Session, clock: FrozenClock) -> TraceRequest:
    office = factories.health_office(db_session, name="Amt & Co", email="amt@example.invalid")
    business = factories.business(db_session, name="Bar", contact_email="bar@example.org")
    for language, email in (("de", "de@example.org"), ("en", "en@example.org")):
        factories.user(db_session, business=business, email=email, language=language)
    place = factories.location(db_session, business, office=office, name="Bar <Ost>")
    trace_request = factories.trace_request(db_session, office, place, now=clock.now())
    db_session.commit()
    return trace_request


def test_render_mail_outside_a_request_in_each_language(app: Flask) -> None:
    with app.app_context():
        german = render_mail("accounts/mail/verify_email.txt", "de", {"link": "LINK"})
        english = render_mail("accounts/mail/verify_email.txt", "en", {"link": "LINK"})
    assert german[0] == "Gastregister: Bitte bestätigen Sie Ihre E-Mail-Adresse"
    assert english[0] == "Gastregister: please confirm your e-mail address"
    assert "\n\nLINK\n\n" in german[1] and "\n\nLINK\n\n" in english[1]


def test_public_url_uses_the_public_address_and_its_path(app: Flask, settings: Settings) -> None:
    public = Settings.from_mapping({"public_base_url": "https://gast.example.de/r"}, base=settings)
    with app.app_context():
        link = public_url(public, "accounts.verify", token="abc")
    assert link == "https://gast.example.de/r/konto/verify/abc"


def test_request_notices_reach_each_owner_in_their_language(
    app: Flask, released_request: TraceRequest, sent: list[tuple[str, str, str]]
) -> None:
    """Once one bilingual mail for everybody ("Anfrage / Request"); now one language each."""
    with app.app_context():
        settings = app.extensions["gastregister.settings"]
        session = Session.object_session(released_request)
        assert session is not None
        notices.notify_request_change(session, settings, released_request, State.CLOSED)
    mails = {to: (subject, body) for to, subject, body in sent}
    assert set(mails) == {
        "amt@example.invalid",
        "bar@example.org",
        "de@example.org",
        "en@example.org",
    }
    number = released_request.id
    assert mails["en@example.org"][0] == f"Gastregister: Request closed (#{number})"
    assert mails["de@example.org"][0] == f"Gastregister: Anfrage abgeschlossen (#{number})"
    assert "Health office: Amt & Co" in mails["en@example.org"][1]
    assert "Standort: Bar <Ost>" in mails["bar@example.org"][1]
    assert f"http://127.0.0.1:5000/amt/requests/{number}" in mails["amt@example.invalid"][1]
    assert "http://127.0.0.1:5000/portal/" in mails["en@example.org"][1]
    assert all(" / " not in subject for subject, _body in mails.values())


def test_release_notice_to_the_office_is_german(
    app: Flask, released_request: TraceRequest, sent: list[tuple[str, str, str]]
) -> None:
    with app.test_request_context("/?lang=en"):
        settings = app.extensions["gastregister.settings"]
        notices.notify_office_of_release(settings, released_request, automatic=True)
    [(to, subject, body)] = sent
    assert to == "amt@example.invalid"
    assert subject == "Gastregister: Anfrage AZ 2026-0042 wurde freigegeben"
    assert "nach Ablauf der Frist automatisch freigegeben" in body
    assert body.rstrip().endswith("http://127.0.0.1:5000/amt/")
