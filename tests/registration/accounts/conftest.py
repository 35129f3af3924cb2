"""Helpers for account tests: a mail outbox instead of SMTP, users, CSRF tokens."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from registration.accounts.passwords import hash_password
from registration.models import Business, Role, User
from tests.registration.accounts.account_helpers import PASSWORD, Mail, Outbox


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    """Every send_mail call of the account and portal services lands here."""
    box = Outbox()

    def fake_send(settings: object, to: str, subject: str, body: str) -> None:
        box.mails.append(Mail(to, subject, body))

    import registration.accounts.services as account_services
    import registration.tracing.notices as release

    monkeypatch.setattr(account_services, "send_mail", fake_send)
    monkeypatch.setattr(release, "send_mail", fake_send)
    return box


@pytest.fixture
def make_user(db_session: Session) -> Callable[..., User]:
    def make(
        email: str = "owner@example.org",
        *,
        role: Role = Role.BUSINESS_OWNER,
        verified: bool = True,
        health_office_id: int | None = None,
        password: str = PASSWORD,
    ) -> User:
        business = None
        if role in (Role.BUSINESS_OWNER, Role.BUSINESS_STAFF):
            business = Business(name="Café Test")
        user = User(
            email=email,
            password_hash=hash_password(password),
            role=role,
            business=business,
            health_office_id=health_office_id,
            email_verified_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC) if verified else None,
        )
        db_session.add(user)
        db_session.commit()
        return user

    return make
