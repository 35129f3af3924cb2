"""The operator's overview: accounts from the CLI with TOTP required, counts only,
and no other role gets in."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

import crypto
from gastregister.cli import main
from registration.accounts.passwords import verify_password
from registration.clock import FrozenClock
from registration.models import AuditEvent, HealthOffice, Role, TraceRequestState, User
from tests import factories
from tests.factories import PASSWORD
from tests.forms import csrf_token, log_in, post_form
from tests.health_export.office_support import sign_in

SECRET_BUSINESS = "Geheimcafé Zentral"
SECRET_LOCATION = "Hinterzimmer Nord"


@pytest.fixture
def office(db_session: Session, clock: FrozenClock) -> HealthOffice:
    office = factories.health_office(
        db_session,
        name="Gesundheitsamt Süd",
        email="sued@example.invalid",
        postal_codes=["80331", "80333"],
    )
    factories.office_key(db_session, office, activated_at=clock.now() - dt.timedelta(days=3))
    db_session.commit()
    return office


@pytest.fixture
def operator(db_session: Session, clock: FrozenClock) -> User:
    user = factories.user(
        db_session,
        role=Role.OPERATOR,
        email="betrieb@stadt.example",
        totp_secret=pyotp.random_base32(),
        now=clock.now(),
    )
    db_session.commit()
    return user


@pytest.fixture
def busy_town(db_session: Session, clock: FrozenClock, office: HealthOffice) -> None:
    """One business with check-ins today and yesterday and two requests."""
    business = factories.business(db_session, name=SECRET_BUSINESS, created_at=clock.now())
    place = factories.location(
        db_session,
        business,
        office=office,
        areas=["Tisch 1"],
        name=SECRET_LOCATION,
        zip_code="80331",
    )
    key = office.keys[0]
    for hours in (1, 2, 26):
        factories.checkin(
            db_session,
            place.areas[0],
            key,
            arrival=clock.now() - dt.timedelta(hours=hours),
            record=factories.contact_record(firstName="Erika", lastName="Mustermann"),
        )
    factories.trace_request(db_session, office, place, now=clock.now())
    factories.trace_request(
        db_session, office, place, now=clock.now(), state=TraceRequestState.CLOSED
    )
    db_session.commit()


def test_cli_creates_an_operator_who_must_set_up_totp(
    runner: FlaskCliRunner, db_session: Session, client: FlaskClient
) -> None:
    result = runner.invoke(main, ["operator", "add", "IT@Stadt.example", "--display-name", "IT"])
    assert result.exit_code == 0, result.output
    password = result.output.split("hand it over in person): ")[1].split()[0]
    user = db_session.scalar(select(User).where(User.email == "it@stadt.example"))
    assert user is not None and user.role is Role.OPERATOR
    assert user.business_id is None and user.health_office_id is None
    assert verify_password(user.password_hash, password) and user.totp_enabled_at is None
    assert db_session.scalar(select(AuditEvent).where(AuditEvent.action == "operator.added"))
    assert runner.invoke(main, ["operator", "add", "it@stadt.example"]).exit_code != 0
    assert runner.invoke(main, ["operator", "add", "keine-adresse"]).exit_code != 0

    response = post_form(
        client, "/konto/login", {"email": "it@stadt.example", "password": password}
    )
    assert urlsplit(response.location).path == "/konto/2fa/setup"
    assert client.get("/betreiber/").status_code in (302, 303)  # not logged in until TOTP


def test_operator_login_with_totp_lands_on_the_overview_and_is_audited(
    client: FlaskClient, clock: FrozenClock, operator: User, db_session: Session
) -> None:
    post_form(client, "/konto/login", {"email": operator.email, "password": PASSWORD})
    assert operator.totp_secret is not None
    done = post_form(
        client, "/konto/2fa", {"code": pyotp.TOTP(operator.totp_secret).at(clock.now())}
    )
    assert urlsplit(done.location).path == "/betreiber/"
    assert client.get("/betreiber/").status_code == 200
    events = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "operator.login")
    ).all()
    assert [event.actor_user_id for event in events] == [operator.id]
    security = client.get("/konto/")
    assert "/konto/2fa/disable" not in security.text


def test_operator_without_a_second_factor_is_refused(
    client: FlaskClient, clock: FrozenClock, operator: User, db_session: Session
) -> None:
    operator.totp_enabled_at = None
    db_session.commit()
    sign_in(client, operator, clock)
    assert client.get("/betreiber/").status_code == 403


def test_overview_shows_counts_charts_requests_and_purge_status(
    client: FlaskClient, clock: FrozenClock, operator: User, busy_town: None
) -> None:
    sign_in(client, operator, clock)
    page = client.get("/betreiber/")
    assert page.status_code == 200
    text = page.text
    assert text.count("<svg") == 3 and text.count('role="img"') == 3
    assert "Gesundheitsamt Süd" in text
    totals = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", text))
    assert totals["Betriebe"] == "1" and totals["Gespeicherte Check-ins"] == "3"
    row = re.search(
        r'<th scope="row">Gesundheitsamt Süd</th>((?:<td class="number">\d+</td>)+)', text
    )
    assert row is not None
    assert re.findall(r"\d+", row.group(1)) == ["1", "0", "0", "1", "0", "0", "2"]
    assert 'id="purge-state"' in text and "Noch kein Lauf" in text
    days = re.findall(
        r'<td class="number">(\d+)</td>', text.split('id="checkins-chart-caption"')[1]
    )
    assert sum(int(d) for d in days[:28]) == 3


def test_overview_holds_no_business_occupancy_and_no_guest_data(
    client: FlaskClient, clock: FrozenClock, operator: User, busy_town: None
) -> None:
    sign_in(client, operator, clock)
    for url in ("/betreiber/", "/betreiber/gesundheitsaemter"):
        text = client.get(url).text
        for secret in (SECRET_BUSINESS, SECRET_LOCATION, "Tisch 1", "Erika", "Mustermann"):
            assert secret not in text, (url, secret)


def test_offices_page_lists_postal_codes_and_key_fingerprints(
    client: FlaskClient, clock: FrozenClock, operator: User, office: HealthOffice
) -> None:
    sign_in(client, operator, clock)
    page = client.get("/betreiber/gesundheitsaemter")
    assert page.status_code == 200
    assert "80331, 80333" in page.text
    fingerprint = crypto.format_fingerprint(bytes.fromhex(office.keys[0].key_id))
    assert fingerprint in page.text
    assert "<form" not in page.text.split("<main", 1)[1]  # read-only


def test_business_and_office_users_cannot_open_the_operator_pages(
    app: Flask, client: FlaskClient, clock: FrozenClock, db_session: Session, office: HealthOffice
) -> None:
    assert urlsplit(client.get("/betreiber/").location).path == "/konto/login"
    business = factories.business(db_session)
    owner = factories.user(db_session, business=business)
    office_user = factories.user(
        db_session, role=Role.HEALTH_OFFICE_ADMIN, office=office, totp_secret=pyotp.random_base32()
    )
    db_session.commit()
    log_in(client, owner.email)
    assert client.get("/betreiber/").status_code == 403
    assert client.get("/betreiber/gesundheitsaemter").status_code == 403
    office_client = app.test_client()
    sign_in(office_client, office_user, clock)
    assert office_client.get("/betreiber/").status_code == 403
    assert office_client.get("/betreiber/gesundheitsaemter").status_code == 403


def test_operator_cannot_open_business_or_office_pages(
    client: FlaskClient, clock: FrozenClock, operator: User
) -> None:
    sign_in(client, operator, clock)
    assert client.get("/portal/").status_code == 403
    assert client.get("/amt/").status_code in (302, 303, 403)
    assert csrf_token(client.get("/betreiber/").text)
