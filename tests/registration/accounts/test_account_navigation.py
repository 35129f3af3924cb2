"""The account pages carry the user's portal navigation with log-out; recovery codes
can be downloaded and printed; the "codes left" warning counts and speaks correctly."""

from __future__ import annotations

import re
from collections.abc import Callable

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from registration.clock import FrozenClock
from registration.models import HealthOffice, RecoveryCode, Role, User
from tests import factories
from tests.forms import csrf_token, post_form


@pytest.fixture
def health_office(db_session: Session) -> HealthOffice:
    office = factories.health_office(
        db_session, name="Gesundheitsamt Nav", email="nav@example.invalid"
    )
    db_session.commit()
    return office


def _login(client: FlaskClient, email: str):  # type: ignore[no-untyped-def]
    from tests.factories import PASSWORD

    return post_form(client, "/konto/login", {"email": email, "password": PASSWORD})


def _nav(page: str) -> str:
    match = re.search(r'<nav class="site-nav".*?</nav>', page, re.S)
    assert match, "no portal navigation"
    return match.group(0)


@pytest.mark.parametrize("path", ["/konto/", "/konto/password", "/konto/2fa/setup"])
def test_account_pages_show_the_business_portal_navigation_with_log_out(
    client: FlaskClient, make_user: Callable[..., User], path: str
) -> None:
    user = make_user()
    _login(client, user.email)
    nav = _nav(client.get(path).text)
    assert 'href="/portal/"' in nav and 'href="/portal/requests"' in nav
    assert 'action="/konto/logout"' in nav


def test_account_page_shows_the_office_navigation_to_office_members(
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
    _login(client, user.email)
    post_form(client, "/konto/2fa", {"code": pyotp.TOTP(user.totp_secret).at(clock.now())})
    nav = _nav(client.get("/konto/").text)
    assert 'action="/konto/logout"' in nav and "/portal/" not in nav
    if "office.dashboard" in app.view_functions:
        assert 'href="/amt/"' in nav and 'href="/amt/audit"' in nav


def test_the_account_page_title_is_text_only(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    user = make_user()
    _login(client, user.email)
    title = re.search(r"<title>(.*?)</title>", client.get("/konto/").text, re.S)
    assert title and "<" not in title.group(1) and "Ihr Konto" in title.group(1)


def _set_up_codes(client: FlaskClient, clock: FrozenClock) -> tuple[str, list[str]]:
    page = client.get("/konto/2fa/setup")
    secret = re.search(r'<code class="totp-secret">([A-Z2-7]{32})</code>', page.text)
    assert secret
    done = client.post(
        "/konto/2fa/setup",
        data={"csrf_token": csrf_token(page.text), "code": pyotp.TOTP(secret[1]).at(clock.now())},
    )
    assert done.status_code == 200
    return done.text, re.findall(r"<code>([A-Z2-9]{5}-[A-Z2-9]{5})</code>", done.text)


def test_recovery_codes_can_be_downloaded_as_a_file_and_printed(
    client: FlaskClient, clock: FrozenClock, make_user: Callable[..., User]
) -> None:
    user = make_user()
    _login(client, user.email)
    page, codes = _set_up_codes(client, clock)
    assert len(codes) == 10
    assert 'id="print-codes"' in page and "js/print-button.js" in page
    form = re.search(r'<form method="post" action="(/konto/[^"]*download)".*?</form>', page, re.S)
    assert form
    sent = re.findall(r'name="code" value="([^"]+)"', form.group(0))
    assert sent == codes
    download = client.post(form.group(1), data={"csrf_token": csrf_token(page), "code": codes})
    assert download.status_code == 200
    assert download.mimetype == "text/plain"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Cache-Control"] == "no-store"
    assert all(code in download.text for code in codes) and user.email in download.text

    for bad in (["<script>"], [], ["ABCDE-FGHJK"] * 11, ["abcde-fghjk"]):
        refused = client.post(form.group(1), data={"csrf_token": csrf_token(page), "code": bad})
        assert refused.status_code == 400
    assert client.post(form.group(1), data={"code": codes}).status_code == 400  # no CSRF


def test_the_download_needs_a_signed_in_user(client: FlaskClient) -> None:
    token = csrf_token(client.get("/konto/login").text)
    response = client.post(
        "/konto/2fa/recovery-codes/download", data={"csrf_token": token, "code": ["ABCDE-FGHJK"]}
    )
    assert response.status_code in (302, 303, 401) and "ABCDE-FGHJK" not in response.text


def _second_factor_login(client: FlaskClient, user: User, clock: FrozenClock) -> str:
    _login(client, user.email)
    assert user.totp_secret
    done = post_form(client, "/konto/2fa", {"code": pyotp.TOTP(user.totp_secret).at(clock.now())})
    assert done.status_code == 303
    return client.get(done.location).text


def test_no_codes_left_warning_for_a_user_who_never_had_codes(
    client: FlaskClient, clock: FrozenClock, make_user: Callable[..., User], db_session: Session
) -> None:
    user = make_user()
    user.totp_secret = pyotp.random_base32()
    user.totp_enabled_at = clock.now()
    db_session.commit()
    page = _second_factor_login(client, user, clock)
    assert "Wiederherstellungscode" not in page


@pytest.mark.parametrize(
    ("left", "expected"),
    [
        (1, "Es ist nur noch 1 Wiederherstellungscode übrig."),
        (3, "Es sind nur noch 3 Wiederherstellungscodes übrig."),
        (0, "Sie haben keine Wiederherstellungscodes mehr."),
    ],
)
def test_codes_left_warning_counts_in_words(
    client: FlaskClient,
    clock: FrozenClock,
    make_user: Callable[..., User],
    db_session: Session,
    left: int,
    expected: str,
) -> None:
    user = make_user()
    user.totp_secret = pyotp.random_base32()
    user.totp_enabled_at = clock.now()
    user.recovery_codes = [
        RecoveryCode(code_hash=f"{n:064x}", used_at=None if n < left else clock.now())
        for n in range(10)
    ]
    db_session.commit()
    page = _second_factor_login(client, user, clock)
    assert expected in page
