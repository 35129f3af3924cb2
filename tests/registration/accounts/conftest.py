"""Fixtures of the account tests: a mail outbox instead of SMTP, users."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, has_request_context
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from registration.models import Role, User
from tests import factories
from tests.factories import PASSWORD
from tests.registration.accounts.account_helpers import Mail, Outbox


class ClosingClient(FlaskClient):
    """A test client that closes each response after reading it, as a WSGI server does
    after sending it: mails queued for after the response (accounts.deferred_mail) leave
    then, as they do in production."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


@pytest.fixture(autouse=True)
def closing_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Flask, "test_client_class", ClosingClient)


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    """Every send_mail call of the account and portal services lands here."""
    box = Outbox()

    def fake_send(settings: object, to: str, subject: str, body: str) -> None:
        box.mails.append(Mail(to, subject, body, during_request=has_request_context()))

    import registration.accounts.deferred_mail as deferred_mail
    import registration.accounts.services as account_services
    import registration.tracing.notices as release

    monkeypatch.setattr(account_services, "send_mail", fake_send)
    monkeypatch.setattr(deferred_mail, "send_mail", fake_send)
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
            business = factories.business(db_session, name="Café Test")
        user = factories.user(
            db_session,
            role=role,
            business=business,
            email=email,
            password=password,
            verified=verified,
            health_office_id=health_office_id,
            now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        )
        db_session.commit()
        return user

    return make
