"""Changing the password in /konto/: the current one first, the service's password
rules for the new one; other sessions end, this one stays; audited; a mail tells
the owner."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.models import AuditEvent, User
from tests.factories import PASSWORD
from tests.forms import post_form
from tests.registration.accounts.account_helpers import Outbox

NEW = "a brand new secret phrase"


def _login(client: FlaskClient, email: str, password: str = PASSWORD) -> int:
    return post_form(
        client, "/konto/login", {"email": email, "password": password}, action="/konto/login"
    ).status_code


def _change(client: FlaskClient, current: str, new: str, confirm: str | None = None):  # type: ignore[no-untyped-def]
    return post_form(
        client,
        "/konto/password",
        {"current_password": current, "password": new, "password_confirm": confirm or new},
    )


def test_the_account_page_links_to_an_accessible_password_form(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    client.set_cookie("lang", "en")
    user = make_user()
    assert _login(client, user.email) == 303
    assert 'href="/konto/password"' in client.get("/konto/").text
    page = client.get("/konto/password")
    assert page.status_code == 200
    assert '<label for="current_password">Current password</label>' in page.text
    assert 'autocomplete="current-password"' in page.text
    assert page.text.count('autocomplete="new-password"') == 2
    client.set_cookie("lang", "de")
    assert "Aktuelles Passwort" in client.get("/konto/password").text


def test_changing_the_password_ends_other_sessions_keeps_this_one_audits_and_mails(
    client: FlaskClient,
    app: Flask,
    outbox: Outbox,
    make_user: Callable[..., User],
    db_session: Session,
) -> None:
    user = make_user()
    other = app.test_client()
    assert _login(client, user.email) == 303
    assert _login(other, user.email) == 303

    done = _change(client, PASSWORD, NEW)
    assert done.status_code == 303
    assert client.get("/portal/").status_code == 200
    assert other.get("/portal/").status_code == 303
    events = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "account.password_changed")
    ).all()
    assert [event.actor_user_id for event in events] == [user.id]
    [mail] = outbox.mails
    assert mail.to == user.email and "Passwort" in mail.subject
    assert "/konto/reset" in mail.body and not mail.during_request
    fresh = app.test_client()
    assert _login(fresh, user.email) == 422
    assert _login(fresh, user.email, NEW) == 303


@pytest.mark.parametrize(
    ("current", "new", "confirm", "message"),
    [
        ("wrong password!!", NEW, NEW, "Das aktuelle Passwort ist falsch."),
        (PASSWORD, "short", "short", "mindestens 10 Zeichen"),
        (PASSWORD, NEW, NEW + "x", "Die beiden Passwörter unterscheiden sich."),
        (PASSWORD, "owner@example.org", "owner@example.org", "nicht Ihre E-Mail-Adresse"),
    ],
)
def test_a_refused_change_says_why_in_german_and_changes_nothing(
    client: FlaskClient,
    app: Flask,
    outbox: Outbox,
    make_user: Callable[..., User],
    db_session: Session,
    current: str,
    new: str,
    confirm: str,
    message: str,
) -> None:
    user = make_user("owner@example.org")
    other = app.test_client()
    assert _login(client, user.email) == 303
    assert _login(other, user.email) == 303
    before = user.password_hash
    refused = _change(client, current, new, confirm)
    assert refused.status_code == 422
    assert message in refused.text
    assert 'role="alert"' in refused.text and 'aria-invalid="true"' in refused.text
    db_session.refresh(user)
    assert user.password_hash == before
    assert other.get("/portal/").status_code == 200
    assert outbox.mails == []


def test_the_password_page_needs_a_log_in(client: FlaskClient) -> None:
    response = client.get("/konto/password")
    assert response.status_code == 303
    assert "/konto/login" in response.location
