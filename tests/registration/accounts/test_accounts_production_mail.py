"""In production a sign-in link goes to the mail server only, never to a log or the console."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import pytest

from gastregister import create_app
from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import Database
from tests.factories import PASSWORD
from tests.forms import post_form
from tests.local_servers import SmtpInbox


def test_verification_link_goes_to_smtp_and_nowhere_else(
    settings: Settings,
    clock: FrozenClock,
    bound_database: Database,
    smtp: tuple[SmtpInbox, int],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox, port = smtp
    production = Settings.from_mapping(
        {
            "environment": "production",
            "secret_key": "s" * 48,
            "public_base_url": "http://gast.example.de",
            "mail_server": "127.0.0.1",
            "mail_port": port,
        },
        base=settings,
    )
    app = create_app(production, clock=clock, database=bound_database)
    client = app.test_client()
    caplog.set_level(logging.DEBUG)
    # aiosmtpd, the test's stand-in for the town's mail server, logs what it receives.
    caplog.set_level(logging.WARNING, logger="mail.log")
    response = post_form(
        client,
        "/konto/signup",
        {
            "business_name": "Bäckerei Linkprobe",
            "display_name": "Lotte",
            "email": "lotte@example.org",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "accept_terms": "y",
        },
    )
    assert response.status_code == 303, response.text
    assert urlsplit(response.location).path == "/konto/signup/mail"

    assert len(inbox.messages) == 1
    body = inbox.messages[0].get_content()
    link = next(word for word in body.split() if "/konto/verify/" in word)
    token = link.rsplit("/", 1)[1]
    assert link.startswith("http://gast.example.de/konto/verify/") and len(token) > 20

    captured = capsys.readouterr()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for leaked in (captured.out, captured.err, logged):
        assert token not in leaked
        assert "/konto/verify/" not in leaked
