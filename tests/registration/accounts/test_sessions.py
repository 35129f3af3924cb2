"""Sessions end for real: a cookie copied before log-out, a password change, a 2FA
change or a staff removal opens nothing afterwards."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from urllib.parse import urlsplit

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.clock import FrozenClock
from registration.config import Settings
from registration.models import LoginSession, Role, User
from tests import factories
from tests.factories import PASSWORD
from tests.forms import csrf_token, post_form
from tests.registration.accounts.account_helpers import Outbox


def _login(client: FlaskClient, email: str, password: str = PASSWORD) -> None:
    response = post_form(
        client, "/konto/login", {"email": email, "password": password}, action="/konto/login"
    )
    assert response.status_code == 303, response.text


def _copy_of(client: FlaskClient, app: Flask) -> FlaskClient:
    """Another browser holding a copy of `client`'s session cookie (a stolen cookie)."""
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie(name, cookie.value)
    return thief


def _signed_in(client: FlaskClient, path: str = "/portal/") -> bool:
    response = client.get(path)
    if response.status_code == 303:
        assert urlsplit(response.location).path == "/konto/login"
        return False
    assert response.status_code == 200, response.status_code
    return True


def _post_on(client: FlaskClient, page: str, action: str, **data: str) -> int:
    token = csrf_token(client.get(page).text)
    return client.post(action, data={"csrf_token": token, **data}).status_code


def test_a_cookie_copied_before_log_out_opens_nothing_afterwards(
    client: FlaskClient, app: Flask, make_user: Callable[..., User]
) -> None:
    user = make_user()
    _login(client, user.email)
    thief = _copy_of(client, app)
    assert _signed_in(thief)
    assert _post_on(client, "/portal/", "/konto/logout") == 303
    assert not _signed_in(client)
    assert not _signed_in(thief)


def test_an_office_cookie_copied_before_log_out_no_longer_opens_the_office_portal(
    client: FlaskClient, app: Flask, clock: FrozenClock, db_session: Session
) -> None:
    office = factories.health_office(db_session, name="Gesundheitsamt Test")
    secret = pyotp.random_base32()
    user = factories.user(
        db_session, role=Role.HEALTH_OFFICE_STAFF, office=office, totp_secret=secret
    )
    db_session.commit()
    password_step = post_form(client, "/konto/login", {"email": user.email, "password": PASSWORD})
    assert urlsplit(password_step.location).path == "/konto/2fa"
    done = post_form(client, "/konto/2fa", {"code": pyotp.TOTP(secret).at(clock.now())})
    assert urlsplit(done.location).path == "/amt/"
    thief = _copy_of(client, app)
    assert _signed_in(thief, "/amt/")
    assert _post_on(client, "/amt/", "/konto/logout") == 303
    assert not _signed_in(thief, "/amt/")


def test_log_out_ends_this_session_only_and_log_out_everywhere_ends_all(
    client: FlaskClient, app: Flask, make_user: Callable[..., User], db_session: Session
) -> None:
    user = make_user()
    phone, laptop = app.test_client(), app.test_client()
    for device in (client, phone, laptop):
        _login(device, user.email)
    assert _post_on(client, "/portal/", "/konto/logout") == 303
    assert not _signed_in(client)
    assert _signed_in(phone) and _signed_in(laptop)

    assert _post_on(phone, "/konto/", "/konto/logout/everywhere") == 303
    assert not _signed_in(phone)
    assert not _signed_in(laptop)
    assert (
        db_session.scalars(select(LoginSession).where(LoginSession.user_id == user.id)).all() == []
    )


def test_the_account_page_offers_log_out_everywhere(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    client.set_cookie("lang", "en")
    user = make_user()
    _login(client, user.email)
    page = client.get("/konto/")
    assert 'action="/konto/logout/everywhere"' in page.text
    assert "Log out on all devices" in page.text
    client.set_cookie("lang", "de")
    assert "Auf allen Geräten abmelden" in client.get("/konto/").text


def _set_up_totp(client: FlaskClient, clock: FrozenClock) -> str:
    page = client.get("/konto/2fa/setup")
    match = re.search(r'<code class="totp-secret">([A-Z2-7]{32})</code>', page.text)
    assert match
    secret = match.group(1)
    done = client.post(
        "/konto/2fa/setup",
        data={"csrf_token": csrf_token(page.text), "code": pyotp.TOTP(secret).at(clock.now())},
    )
    assert done.status_code == 200
    return secret


@pytest.mark.parametrize("change", ["enable", "disable", "recovery-codes"])
def test_two_factor_changes_end_the_other_sessions_and_keep_this_one(
    client: FlaskClient,
    app: Flask,
    clock: FrozenClock,
    make_user: Callable[..., User],
    db_session: Session,
    change: str,
) -> None:
    user = make_user()
    _login(client, user.email)
    if change != "enable":
        _set_up_totp(client, clock)
    other = app.test_client()
    _login(other, user.email)
    if change != "enable":
        clock.advance(dt.timedelta(seconds=30))
        code = post_form(other, "/konto/2fa", {"code": _current_code(db_session, user, clock)})
        assert code.status_code == 303
    assert _signed_in(other)

    if change == "enable":
        _set_up_totp(client, clock)
    elif change == "disable":
        assert _post_on(client, "/konto/", "/konto/2fa/disable", password=PASSWORD) == 303
    else:
        assert _post_on(client, "/konto/", "/konto/2fa/recovery-codes") == 200
    assert _signed_in(client)
    assert not _signed_in(other)


def _current_code(db_session: Session, user: User, clock: FrozenClock) -> str:
    db_session.refresh(user)
    assert user.totp_secret is not None
    return pyotp.TOTP(user.totp_secret).at(clock.now())


def test_removing_a_staff_member_ends_their_sessions(
    client: FlaskClient,
    app: Flask,
    outbox: Outbox,
    make_user: Callable[..., User],
    db_session: Session,
) -> None:
    owner = make_user("owner@example.org")
    staff = factories.user(
        db_session, role=Role.BUSINESS_STAFF, business=owner.business, email="staff@example.org"
    )
    db_session.commit()
    staff_browser = app.test_client()
    _login(staff_browser, staff.email)
    assert _signed_in(staff_browser)
    _login(client, owner.email)
    assert _post_on(client, "/portal/staff", f"/portal/staff/{staff.id}/remove") == 303
    assert not _signed_in(staff_browser)
    assert (
        db_session.scalars(select(LoginSession).where(LoginSession.user_id == staff.id)).all() == []
    )


def _cookie_contents(client: FlaskClient, app: Flask) -> str:
    """The session cookie as anyone holding it can read it (signed, not encrypted)."""
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    return repr(serializer.loads(cookie.value))


def test_the_totp_setup_secret_never_travels_in_the_cookie(
    client: FlaskClient, app: Flask, clock: FrozenClock, make_user: Callable[..., User]
) -> None:
    user = make_user()
    _login(client, user.email)
    page = client.get("/konto/2fa/setup")
    match = re.search(r'<code class="totp-secret">([A-Z2-7]{32})</code>', page.text)
    assert match
    secret = match.group(1)
    assert secret not in _cookie_contents(client, app)
    again = client.get("/konto/2fa/setup")
    assert secret in again.text  # the app scanned a minute ago keeps working
    done = client.post(
        "/konto/2fa/setup",
        data={"csrf_token": csrf_token(page.text), "code": pyotp.TOTP(secret).at(clock.now())},
    )
    assert done.status_code == 200
    assert secret not in _cookie_contents(client, app)


def test_a_health_office_setup_during_log_in_keeps_the_secret_out_of_the_cookie(
    client: FlaskClient, app: Flask, db_session: Session
) -> None:
    office = factories.health_office(db_session, name="Gesundheitsamt Test")
    user = factories.user(db_session, role=Role.HEALTH_OFFICE_STAFF, office=office)
    db_session.commit()
    password_step = post_form(client, "/konto/login", {"email": user.email, "password": PASSWORD})
    assert urlsplit(password_step.location).path == "/konto/2fa/setup"
    page = client.get("/konto/2fa/setup")
    match = re.search(r'<code class="totp-secret">([A-Z2-7]{32})</code>', page.text)
    assert match
    assert match.group(1) not in _cookie_contents(client, app)


def test_an_unfinished_totp_setup_expires(
    client: FlaskClient, clock: FrozenClock, make_user: Callable[..., User], db_session: Session
) -> None:
    user = make_user()
    _login(client, user.email)
    first = re.findall(
        r'<code class="totp-secret">([A-Z2-7]{32})</code>', client.get("/konto/2fa/setup").text
    )
    clock.advance(dt.timedelta(minutes=31))
    second = re.findall(
        r'<code class="totp-secret">([A-Z2-7]{32})</code>', client.get("/konto/2fa/setup").text
    )
    assert first and second and first != second
    db_session.refresh(user)
    assert user.pending_totp_secret == second[0] and user.totp_secret is None


def test_a_new_log_in_in_the_same_browser_ends_the_session_it_replaces(
    client: FlaskClient, app: Flask, make_user: Callable[..., User], db_session: Session
) -> None:
    first = make_user("first@example.org")
    second = make_user("second@example.org")
    _login(client, first.email)
    thief = _copy_of(client, app)
    second_login = client.post(  # a log-in on top of the first, without logging out
        "/konto/login",
        data={
            "csrf_token": csrf_token(client.get("/konto/").text),
            "email": second.email,
            "password": PASSWORD,
        },
    )
    assert second_login.status_code == 303
    assert not _signed_in(thief)
    rows = db_session.scalars(select(LoginSession.user_id)).all()
    assert rows == [second.id]


def test_sessions_past_their_lifetime_leave_the_table_at_the_next_log_in(
    client: FlaskClient,
    app: Flask,
    clock: FrozenClock,
    settings: Settings,
    make_user: Callable[..., User],
    db_session: Session,
) -> None:
    gone = make_user("gone@example.org")
    later = make_user("later@example.org")
    _login(client, gone.email)
    clock.advance(dt.timedelta(minutes=settings.session_lifetime_minutes + 1))
    _login(app.test_client(), later.email)
    assert db_session.scalars(select(LoginSession.user_id)).all() == [later.id]
