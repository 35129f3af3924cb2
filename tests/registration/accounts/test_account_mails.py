"""Account mails: rendered from templates in the recipient's language, with links at
the configured public address."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from gastregister import create_app
from registration.accounts import services
from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import Database
from registration.models import User
from tests.forms import csrf_token, post_form
from tests.registration.accounts.account_helpers import Outbox


@pytest.mark.parametrize(
    ("language", "subject", "sentence"),
    [
        ("de", "Gastregister: Passwort zurücksetzen", "Öffnen Sie innerhalb einer Stunde"),
        ("en", "Gastregister: reset your password", "Open this link within one hour"),
    ],
)
def test_reset_mail_is_in_the_language_the_user_chose(
    client: FlaskClient,
    outbox: Outbox,
    make_user: Callable[..., User],
    db_session: Session,
    language: str,
    subject: str,
    sentence: str,
) -> None:
    user = make_user()
    user.language = language
    db_session.commit()
    client.set_cookie("lang", "en" if language == "de" else "de")  # the page's language differs
    post_form(client, "/konto/reset", {"email": user.email})
    [mail] = outbox.mails
    assert mail.subject == subject
    assert sentence in mail.body


def test_links_name_the_public_address_never_the_request_host(
    settings: Settings,
    clock: FrozenClock,
    bound_database: Database,
    outbox: Outbox,
    make_user: Callable[..., User],
) -> None:
    public = Settings.from_mapping(
        {"public_base_url": "http://gast.example.de/register"}, base=settings
    )
    client = create_app(public, clock=clock, database=bound_database).test_client()
    user = make_user()
    host = {"Host": "attacker.example"}
    page = client.get("/konto/reset", headers=host)
    client.post(
        "/konto/reset",
        data={"csrf_token": csrf_token(page.text), "email": user.email},
        headers=host,
    )
    link = outbox.last_link("/konto/reset/")
    assert link.startswith("http://gast.example.de/register/konto/reset/")


def test_invitation_keeps_the_business_name_as_typed(
    app: Flask,
    app_context: None,
    clock: FrozenClock,
    outbox: Outbox,
    make_user: Callable[..., User],
    db_session: Session,
) -> None:
    """Plain text: no HTML escaping of "&" or "<" in a mail."""
    owner = make_user()
    assert owner.business is not None
    owner.business.name = "Müller & Söhne <Bar>"
    db_session.commit()
    services.invite_staff(
        db_session,
        clock,
        app.extensions["gastregister.settings"],
        business=owner.business,
        invited_by=owner,
        email="kellner@example.org",
    )
    [mail] = outbox.mails
    assert mail.subject == "Gastregister: Einladung von Müller & Söhne <Bar>"
    assert mail.body.startswith("Müller & Söhne <Bar> lädt Sie ein")
    assert outbox.last_link("/konto/invitation/").startswith("http://127.0.0.1:5000/konto/")
