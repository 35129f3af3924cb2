"""Sign-up, log-in, second factor, resets and sessions, through the web pages (throttling:
test_login_throttling.py; ending sessions: test_sessions.py)."""

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
from registration.models import AuditEvent, Business, HealthOffice, Role, User
from tests import factories
from tests.factories import PASSWORD
from tests.forms import csrf_token, post_form
from tests.registration.accounts.account_helpers import Outbox

GENERIC_FAILURE = "E-mail address or password is wrong"


def _login(client: FlaskClient, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return post_form(
        client, "/konto/login", {"email": email, "password": password}, action="/konto/login"
    )


def _english(client: FlaskClient) -> None:
    client.set_cookie("lang", "en")


def test_sign_up_verify_and_log_in(
    client: FlaskClient, outbox: Outbox, db_session: Session
) -> None:
    _english(client)
    response = post_form(
        client,
        "/konto/signup",
        {
            "business_name": "Eiscafé Venezia",
            "display_name": "Gina",
            "email": "Gina@Example.org ",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "accept_terms": "y",
        },
    )
    assert response.status_code == 303
    assert urlsplit(response.location).path == "/konto/signup/mail"
    user = db_session.scalar(select(User).where(User.email == "gina@example.org"))
    assert user is not None and user.role == Role.BUSINESS_OWNER
    assert user.email_verified_at is None and user.password_hash.startswith("$argon2id$")
    assert user.business is not None and user.business.name == "Eiscafé Venezia"

    refused = _login(client, "gina@example.org")
    assert refused.status_code == 403
    assert "confirm your e-mail address" in refused.text

    link = outbox.last_link("/konto/verify/")
    assert link.startswith("http://127.0.0.1:5000/konto/verify/")
    verified = client.get(urlsplit(link).path)
    assert verified.status_code == 303
    response = _login(client, "gina@example.org")
    assert response.status_code == 303
    assert urlsplit(response.location).path == "/portal/"


def test_sign_up_with_a_known_address_looks_the_same_and_warns_the_owner(
    client: FlaskClient, outbox: Outbox, make_user: Callable[..., User], db_session: Session
) -> None:
    make_user("taken@example.org")
    response = post_form(
        client,
        "/konto/signup",
        {
            "business_name": "Imposter",
            "email": "taken@example.org",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "accept_terms": "y",
        },
    )
    assert response.status_code == 303
    assert urlsplit(response.location).path == "/konto/signup/mail"
    assert db_session.scalar(select(Business).where(Business.name == "Imposter")) is None
    assert [mail.to for mail in outbox.mails] == ["taken@example.org"]
    assert "/konto/verify/" not in outbox.mails[0].body


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-address", "Bitte geben Sie eine gültige E-Mail-Adresse ein."),
        ("password", "short", "mindestens 10 Zeichen"),
        (
            "password_confirm",
            "something else entirely",
            "Die beiden Passwörter unterscheiden sich.",
        ),
        ("business_name", "", "Bitte geben Sie den Namen Ihres Betriebs ein."),
        ("business_name", "Bad\x07Name", "unsichtbare Steuerzeichen"),
        ("accept_terms", "", "Bitte bestätigen Sie das"),
    ],
)
def test_sign_up_validation_messages_are_german_by_default(
    client: FlaskClient, outbox: Outbox, field: str, value: str, message: str
) -> None:
    data = {
        "business_name": "Café",
        "email": "new@example.org",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "accept_terms": "y",
    }
    data[field] = value
    response = post_form(client, "/konto/signup", data)
    assert response.status_code == 422
    assert message in response.text
    assert outbox.mails == []


def test_unknown_email_and_wrong_password_get_the_same_answer(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    _english(client)
    make_user("real@example.org")
    unknown = _login(client, "nobody@example.org")
    wrong = _login(client, "real@example.org", "wrong password!!")
    assert unknown.status_code == wrong.status_code == 422
    assert GENERIC_FAILURE in unknown.text and GENERIC_FAILURE in wrong.text
    strip = lambda text: re.sub(r'value="[^"]*"', "", text)  # noqa: E731 - tokens and echoes differ
    assert strip(unknown.text).replace("nobody", "X") == strip(wrong.text).replace("real", "X")


def test_log_out_needs_post_with_csrf_and_ends_the_session(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    user = make_user()
    assert _login(client, user.email).status_code == 303
    assert client.get("/konto/logout").status_code == 405
    assert client.post("/konto/logout").status_code == 400  # no CSRF token
    assert client.get("/portal/").status_code == 200
    page = client.get("/portal/")
    assert (
        client.post("/konto/logout", data={"csrf_token": csrf_token(page.text)}).status_code == 303
    )
    response = client.get("/portal/")
    assert response.status_code == 303
    assert urlsplit(response.location).path == "/konto/login"


def test_session_expires_after_the_configured_lifetime(
    client: FlaskClient, clock: FrozenClock, settings: Settings, make_user: Callable[..., User]
) -> None:
    user = make_user()
    assert _login(client, user.email).status_code == 303
    clock.advance(dt.timedelta(minutes=settings.session_lifetime_minutes - 1))
    assert client.get("/portal/").status_code == 200
    clock.advance(dt.timedelta(minutes=2))
    assert client.get("/portal/").status_code == 303


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_next_parameter_is_never_an_open_redirect(
    client: FlaskClient, make_user: Callable[..., User], target: str
) -> None:
    user = make_user()
    client.get("/konto/login", query_string={"next": target})
    response = _login(client, user.email)
    assert response.status_code == 303
    assert urlsplit(response.location).path == "/portal/"
    assert "evil" not in response.location


def test_next_parameter_returns_to_the_page_asked_for(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    user = make_user()
    first = client.get("/portal/staff")
    assert first.status_code == 303
    client.get(first.location)
    response = _login(client, user.email)
    assert urlsplit(response.location).path == "/portal/staff"


def _secret_from_setup_page(text: str) -> str:
    match = re.search(r'<code class="totp-secret">([A-Z2-7]{32})</code>', text)
    assert match
    return match.group(1)


def test_totp_setup_login_replay_and_recovery_codes(
    client: FlaskClient, clock: FrozenClock, make_user: Callable[..., User], db_session: Session
) -> None:
    user = make_user()
    assert _login(client, user.email).status_code == 303
    page = client.get("/konto/2fa/setup")
    assert page.status_code == 200 and "<svg" in page.text
    secret = _secret_from_setup_page(page.text)
    totp = pyotp.TOTP(secret)
    wrong = client.post(
        "/konto/2fa/setup", data={"csrf_token": csrf_token(page.text), "code": "000000"}
    )
    assert wrong.status_code == 422
    done = client.post(
        "/konto/2fa/setup",
        data={"csrf_token": csrf_token(page.text), "code": totp.at(clock.now())},
    )
    assert done.status_code == 200
    codes = re.findall(r"<code>([A-Z2-9]{5}-[A-Z2-9]{5})</code>", done.text)
    assert len(codes) == 10
    db_session.refresh(user)
    assert user.totp_enabled_at is not None and len(user.recovery_codes) == 10
    assert all(codes[0] not in code.code_hash for code in user.recovery_codes)

    client.post("/konto/logout", data={"csrf_token": csrf_token(client.get("/portal/").text)})
    response = _login(client, user.email)
    assert urlsplit(response.location).path == "/konto/2fa"
    assert client.get("/portal/").status_code == 303  # half logged in is not logged in

    replay = post_form(client, "/konto/2fa", {"code": totp.at(clock.now())})
    assert replay.status_code == 422  # the step was used for the setup
    clock.advance(dt.timedelta(seconds=30))
    accepted = post_form(client, "/konto/2fa", {"code": totp.at(clock.now())})
    assert accepted.status_code == 303
    assert client.get("/portal/").status_code == 200

    client.post("/konto/logout", data={"csrf_token": csrf_token(client.get("/portal/").text)})
    _login(client, user.email)
    assert post_form(client, "/konto/2fa", {"code": codes[3].lower()}).status_code == 303
    client.post("/konto/logout", data={"csrf_token": csrf_token(client.get("/portal/").text)})
    _login(client, user.email)
    assert post_form(client, "/konto/2fa", {"code": codes[3]}).status_code == 422  # used once


def test_owner_can_switch_totp_off_with_the_password(
    client: FlaskClient, clock: FrozenClock, make_user: Callable[..., User], db_session: Session
) -> None:
    user = make_user()
    _login(client, user.email)
    page = client.get("/konto/2fa/setup")
    secret = _secret_from_setup_page(page.text)
    client.post(
        "/konto/2fa/setup",
        data={"csrf_token": csrf_token(page.text), "code": pyotp.TOTP(secret).at(clock.now())},
    )
    security = client.get("/konto/")
    token = csrf_token(security.text)
    client.post("/konto/2fa/disable", data={"csrf_token": token, "password": "wrong one!!"})
    db_session.refresh(user)
    assert user.totp_enabled_at is not None
    client.post("/konto/2fa/disable", data={"csrf_token": token, "password": PASSWORD})
    db_session.refresh(user)
    assert user.totp_enabled_at is None and user.recovery_codes == []


@pytest.fixture
def health_office(db_session: Session) -> HealthOffice:
    office = factories.health_office(
        db_session, name="Gesundheitsamt Test", email="amt@example.invalid"
    )
    db_session.commit()
    return office


def test_health_office_staff_must_set_up_totp_and_their_login_is_audited(
    client: FlaskClient,
    clock: FrozenClock,
    make_user: Callable[..., User],
    health_office: HealthOffice,
    db_session: Session,
) -> None:
    user = make_user(
        "amt@example.org", role=Role.HEALTH_OFFICE_STAFF, health_office_id=health_office.id
    )
    response = _login(client, user.email)
    assert urlsplit(response.location).path == "/konto/2fa/setup"
    assert client.get("/portal/").status_code == 303
    page = client.get("/konto/2fa/setup")
    assert "must use a second factor" in page.text or "zweiten Faktor" in page.text
    secret = _secret_from_setup_page(page.text)
    done = client.post(
        "/konto/2fa/setup",
        data={"csrf_token": csrf_token(page.text), "code": pyotp.TOTP(secret).at(clock.now())},
    )
    assert done.status_code == 200
    assert client.get("/portal/").status_code == 403  # logged in, but not a business
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "office.login")).all()
    assert [(event.actor_user_id, event.health_office_id) for event in events] == [
        (user.id, health_office.id)
    ]
    security = client.get("/konto/")
    assert "/konto/2fa/disable" not in security.text
    assert (
        client.post(
            "/konto/2fa/disable",
            data={"csrf_token": csrf_token(security.text), "password": PASSWORD},
        ).status_code
        == 403
    )


def test_health_office_login_with_totp_goes_to_the_office_portal(
    client: FlaskClient,
    clock: FrozenClock,
    make_user: Callable[..., User],
    health_office: HealthOffice,
    app: Flask,
    db_session: Session,
) -> None:
    user = make_user(
        "amt@example.org", role=Role.HEALTH_OFFICE_ADMIN, health_office_id=health_office.id
    )
    user.totp_secret = pyotp.random_base32()
    user.totp_enabled_at = clock.now()
    db_session.commit()
    response = _login(client, user.email)
    assert urlsplit(response.location).path == "/konto/2fa"
    done = post_form(client, "/konto/2fa", {"code": pyotp.TOTP(user.totp_secret).at(clock.now())})
    expected = "/amt/" if "office.dashboard" in app.view_functions else "/"
    assert urlsplit(done.location).path == expected


def test_password_reset_sets_a_new_password_once_and_ends_other_sessions(
    client: FlaskClient, app: Flask, outbox: Outbox, make_user: Callable[..., User]
) -> None:
    user = make_user()
    other_device = app.test_client()
    assert _login(other_device, user.email).status_code == 303

    answer = post_form(client, "/konto/reset", {"email": user.email})
    assert answer.status_code == 200
    silent = post_form(client, "/konto/reset", {"email": "nobody@example.org"})
    assert silent.status_code == 200
    assert re.sub(r'value="[^"]*"', "", silent.text) == re.sub(r'value="[^"]*"', "", answer.text)
    assert [mail.to for mail in outbox.mails] == [user.email]

    path = urlsplit(outbox.last_link("/konto/reset/")).path
    new_password = "a brand new secret phrase"
    done = post_form(client, path, {"password": new_password, "password_confirm": new_password})
    assert done.status_code == 303
    assert client.get(path).status_code == 400  # spent
    assert other_device.get("/portal/").status_code == 303  # logged out everywhere
    assert _login(client, user.email).status_code == 422
    assert _login(client, user.email, new_password).status_code == 303


def test_reset_link_expires_after_an_hour(
    client: FlaskClient, clock: FrozenClock, outbox: Outbox, make_user: Callable[..., User]
) -> None:
    user = make_user()
    post_form(client, "/konto/reset", {"email": user.email})
    path = urlsplit(outbox.last_link("/konto/reset/")).path
    clock.advance(dt.timedelta(minutes=59))
    assert client.get(path).status_code == 200
    clock.advance(dt.timedelta(minutes=2))
    assert client.get(path).status_code == 400
    assert client.get(path[:-3] + "abc").status_code == 400


def test_optional_fields_are_not_marked_required(client: FlaskClient) -> None:
    """WTForms leaves `flags.required` as None on an optional field; rendered as
    `required="None"`, browsers and screen readers took the field for a required one."""
    page = client.get("/konto/signup").get_data(as_text=True)
    assert 'required="None"' not in page
    [name_input] = re.findall(r'<input[^>]*id="display_name"[^>]*>', page)
    assert "required" not in name_input
    [email_input] = re.findall(r'<input[^>]*id="email"[^>]*>', page)
    assert re.search(r"\brequired\b", email_input)
