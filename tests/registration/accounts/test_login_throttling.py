"""Wrong passwords slow strangers down without locking the owner out: from the fifth
failure on, clients that are not one of the owner's devices wait, twice as long after
each further failure; the owner's device (a signed cookie from an earlier log-in)
gets in with the right password; the owner hears about it once, by mail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from gastregister import create_app
from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import Database
from registration.models import Role, User
from tests import factories
from tests.factories import PASSWORD
from tests.forms import csrf_token, post_form
from tests.registration.accounts.account_helpers import Outbox

WRONG = "wrong password!!"
DEVICE_COOKIE = "gr_device"


def _login(client: FlaskClient, email: str, password: str = PASSWORD) -> TestResponse:
    return post_form(
        client, "/konto/login", {"email": email, "password": password}, action="/konto/login"
    )


def _log_out(client: FlaskClient) -> None:
    token = csrf_token(client.get("/portal/").text)
    assert client.post("/konto/logout", data={"csrf_token": token}).status_code == 303


def test_a_stranger_cannot_lock_the_owner_out_of_their_own_device(
    client: FlaskClient, app: Flask, outbox: Outbox, make_user: Callable[..., User]
) -> None:
    user = make_user()
    owner_device = app.test_client()
    assert _login(owner_device, user.email).status_code == 303
    _log_out(owner_device)

    for _attempt in range(20):
        assert _login(client, user.email, WRONG).status_code == 422
    assert _login(client, user.email).status_code == 422  # the stranger waits
    assert _login(owner_device, user.email).status_code == 303  # the owner does not


def test_each_failure_after_the_fifth_doubles_the_wait_for_other_clients(
    client: FlaskClient,
    app: Flask,
    clock: FrozenClock,
    outbox: Outbox,
    make_user: Callable[..., User],
    db_session: Session,
) -> None:
    user = make_user()
    for _attempt in range(4):
        assert _login(client, user.email, WRONG).status_code == 422
    db_session.refresh(user)
    assert user.login_throttled_until is None
    waits = []
    for _round in range(3):
        assert _login(client, user.email, WRONG).status_code == 422
        db_session.refresh(user)
        assert user.login_throttled_until is not None
        waits.append(user.login_throttled_until - clock.now())
        # while waiting, even the right password from a new client is refused, and
        # refused attempts do not make the wait longer
        assert _login(app.test_client(), user.email).status_code == 422
        db_session.refresh(user)
        assert user.login_throttled_until - clock.now() == waits[-1]
        clock.advance(waits[-1] + dt.timedelta(seconds=1))
    assert waits == [dt.timedelta(minutes=1), dt.timedelta(minutes=2), dt.timedelta(minutes=4)]
    assert _login(app.test_client(), user.email).status_code == 303  # the wait is over
    db_session.refresh(user)
    assert user.failed_login_count == 0 and user.login_throttled_until is None


@pytest.mark.parametrize(
    ("language", "subject", "sentence"),
    [
        ("de", "Gastregister: fehlgeschlagene Anmeldungen bei Ihrem Konto", "auf denen Sie sich"),
        ("en", "Gastregister: failed log-ins to your account", "devices you have not logged in"),
    ],
)
def test_the_owner_gets_one_notice_when_throttling_starts(
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
    for _attempt in range(4):
        _login(client, user.email, WRONG)
    assert outbox.mails == []
    for _attempt in range(3):
        _login(client, user.email, WRONG)
    [notice] = outbox.mails
    assert notice.to == user.email and notice.subject == subject
    assert sentence in notice.body
    assert "/konto/reset" in notice.body
    assert not notice.during_request  # its time would tell the address has an account


def test_an_office_account_is_throttled_the_same_way(
    client: FlaskClient, app: Flask, outbox: Outbox, db_session: Session
) -> None:
    office = factories.health_office(db_session, name="Gesundheitsamt Test")
    user = factories.user(db_session, role=Role.HEALTH_OFFICE_STAFF, office=office)
    db_session.commit()
    for _attempt in range(6):
        assert _login(client, user.email, WRONG).status_code == 422
    assert _login(client, user.email).status_code == 422
    assert [mail.to for mail in outbox.mails] == [user.email]


def test_a_device_cookie_counts_only_for_its_own_account(
    client: FlaskClient, app: Flask, outbox: Outbox, make_user: Callable[..., User]
) -> None:
    owner = make_user("owner@example.org")
    other = make_user("other@example.org")
    device = app.test_client()
    assert _login(device, other.email).status_code == 303
    cookie = device.get_cookie(DEVICE_COOKIE, path="/konto/")
    assert cookie is not None
    _log_out(device)
    for _attempt in range(5):
        _login(client, owner.email, WRONG)
    assert _login(device, owner.email).status_code == 422  # a device of another account
    forged = app.test_client()
    forged.set_cookie(DEVICE_COOKIE, cookie.value[:-4] + "AAAA", path="/konto/")
    assert _login(forged, other.email).status_code == 303  # other is not throttled at all
    _log_out(forged)
    for _attempt in range(5):
        _login(client, other.email, WRONG)
    forged.set_cookie(DEVICE_COOKIE, cookie.value[:-4] + "AAAA", path="/konto/")
    assert _login(forged, other.email).status_code == 422


def test_a_password_reset_lets_the_owner_in_from_a_new_device(
    client: FlaskClient, app: Flask, outbox: Outbox, make_user: Callable[..., User]
) -> None:
    user = make_user()
    for _attempt in range(5):
        _login(client, user.email, WRONG)
    new_device = app.test_client()
    post_form(new_device, "/konto/reset", {"email": user.email})
    path = outbox.last_link("/konto/reset/").split("5000", 1)[1]
    new_password = "a brand new secret phrase"
    done = post_form(new_device, path, {"password": new_password, "password_confirm": new_password})
    assert done.status_code == 303
    assert _login(new_device, user.email, new_password).status_code == 303


def test_failed_log_ins_are_limited_per_client_with_a_growing_wait(
    settings: Settings, clock: FrozenClock, bound_database: Database, make_user: Callable[..., User]
) -> None:
    limited = create_app(
        Settings.from_mapping({"ratelimit_enabled": True}, base=settings),
        clock=clock,
        database=bound_database,
    )
    client = limited.test_client()
    statuses = [_login(client, "x@example.org", WRONG).status_code for _ in range(6)]
    assert statuses == [422] * 5 + [429]


def test_wrong_second_factor_codes_are_limited_per_client_too(
    settings: Settings, clock: FrozenClock, bound_database: Database, db_session: Session
) -> None:
    business = factories.business(db_session)
    user = factories.user(
        db_session, business=business, totp_secret="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    )
    db_session.commit()
    limited = create_app(
        Settings.from_mapping({"ratelimit_enabled": True}, base=settings),
        clock=clock,
        database=bound_database,
    )
    client = limited.test_client()
    assert _login(client, user.email).status_code == 303
    statuses = [post_form(client, "/konto/2fa", {"code": "000000"}).status_code for _ in range(6)]
    assert statuses == [422] * 5 + [429]
