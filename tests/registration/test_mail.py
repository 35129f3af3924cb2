"""Mail goes through a real SMTP server (aiosmtpd on loopback), or to the console."""

from __future__ import annotations

import pytest

from registration.config import Settings
from registration.mail import MailError, send_mail
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
