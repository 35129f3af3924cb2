"""The guest page without JavaScript: validated and sealed on the server, stored once."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

import crypto
from registration.checkin import contact_form
from registration.checkin.occupancy import FULL_NOTICE_STALENESS
from registration.clock import FrozenClock
from registration.config import Settings
from registration.models import CheckIn, CheckInSource
from tests.factories import Venue
from tests.forms import csrf_token
from tests.registration.checkin.checkin_support import TYPED, hidden_fields


def post(
    client: FlaskClient, venue: Venue, values: dict[str, str], hidden: dict[str, str] | None = None
) -> Any:
    data = {**(hidden if hidden is not None else hidden_fields(client, venue)), **values}
    return client.post(f"/c/{venue.area.code}", data=data)


def stored(session: Session) -> list[CheckIn]:
    session.expire_all()
    return list(session.scalars(select(CheckIn)))


def test_page_shows_where_and_why_and_asks_with_the_right_autocomplete(
    client: FlaskClient, venue: Venue
) -> None:
    response = client.get(f"/c/{venue.area.code}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for text in (
        "Café am Dom",
        "Terrasse",
        "Café Testfall",
        "Domkloster 4",
        "50667 Köln",
        venue.office.name,
        "28",
    ):
        assert text in html
    for name, token in [
        ("firstName", "given-name"),
        ("lastName", "family-name"),
        ("streetAddress", "street-address"),
        ("zipCode", "postal-code"),
        ("city", "address-level2"),
        ("phone", "tel"),
        ("email", "email"),
    ]:
        assert re.search(rf'<input id="{name}" name="{name}"[^>]*autocomplete="{token}"', html), (
            name
        )
    assert "<script>" not in html and "onclick" not in html and 'style="' not in html
    config = json.loads(
        re.search(
            r'<script type="application/json" id="checkin-config">(.*?)</script>', html, re.S
        )[1]
    )
    assert config["key"]["keyId"] == venue.key.key_id
    assert config["locationCode"] == venue.location.code
    assert config["rules"]["contactRequired"] == "phone_or_email"


def test_page_shows_the_short_fingerprint_of_the_key_it_seals_to(
    client: FlaskClient, venue: Venue
) -> None:
    """A guest or owner can compare it with what the health office publishes."""
    short = crypto.format_short_fingerprint(bytes.fromhex(venue.key.key_id))
    for lang, label in (("de", "Schlüssel des Gesundheitsamts"), ("en", "Health office key")):
        html = client.get(f"/c/{venue.area.code}?lang={lang}").get_data(as_text=True)
        details = re.search(r"<details[^>]*>(.*?)</details>", html, re.S)
        assert details is not None
        assert label in details[1]
        assert f'<code class="fingerprint">{short}</code>' in details[1]


def test_english_page(client: FlaskClient, venue: Venue) -> None:
    english = client.get(f"/c/{venue.area.code}?lang=en").get_data(as_text=True)
    german = client.get(f"/c/{venue.area.code}").get_data(as_text=True)
    assert "Street and house number" in english and '<html lang="en">' in english
    assert "Straße und Hausnummer" in german and '<html lang="de">' in german


def test_operator_privacy_texts_replace_the_defaults(
    app: Flask, venue: Venue, settings: Settings, clock: FrozenClock, bound_database: Any
) -> None:
    from gastregister import create_app

    configured = Settings.from_mapping(
        {
            "privacy_controller": "Stadt Musterstadt, Amt 12",
            "privacy_notice": "Absatz eins.\n\nAbsatz zwei.",
        },
        base=settings,
    )
    html = (
        create_app(configured, clock=clock, database=bound_database)
        .test_client()
        .get(f"/c/{venue.area.code}")
        .get_data(as_text=True)
    )
    assert "Stadt Musterstadt, Amt 12" in html
    assert "<p>Absatz eins.</p>" in html and "<p>Absatz zwei.</p>" in html


def test_a_valid_form_is_sealed_on_the_server_and_opens_for_the_office(
    client: FlaskClient, venue: Venue, db_session: Session, clock: FrozenClock
) -> None:
    response = post(client, venue, TYPED)
    assert response.status_code == 303
    [checkin] = stored(db_session)
    assert checkin.source == CheckInSource.GUEST_FORM
    assert checkin.persons == 1
    assert checkin.arrival == clock.now()
    opened = venue.open(checkin.envelope)
    assert opened.pop("idempotencyKey")  # format v2: the page's idempotency key, sealed
    assert opened == {
        "v": 2,
        "arrival": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": "guest_form",
        "firstName": "Jörg",
        "lastName": "Überländer",
        "street": "Lindenallee",
        "houseNumber": "12a",
        "zipCode": "50968",
        "city": "Köln",
        "phone": "+49 221 987654",
        "email": "",
        "additionalPersons": [],
        "note": "",
    }
    assert response.headers["Location"] == f"/c/{venue.area.code}/checkin/{checkin.id}"
    cookie = response.headers["Set-Cookie"]
    assert (
        "HttpOnly" in cookie and f"Path=/c/{venue.area.code}" in cookie and "SameSite=Lax" in cookie
    )
    assert "Jörg" not in cookie and "Lindenallee" not in response.headers["Location"]


def test_confirmation_and_checkout_need_this_phones_cookie(
    app: Flask, client: FlaskClient, venue: Venue, db_session: Session, clock: FrozenClock
) -> None:
    location = post(client, venue, TYPED).headers["Location"]
    page = client.get(location)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert (
        "Terrasse" in html and "14:00" in html
    )  # automatic check-out: 11:00 UTC + 2 h, Berlin time
    assert app.test_client().get(location).status_code == 404  # a shared link shows nothing
    clock.advance(dt.timedelta(minutes=45))
    csrf = csrf_token(html)
    done = client.post(location + "/checkout", data={"csrf_token": csrf})
    assert done.status_code == 303
    [checkin] = stored(db_session)
    assert checkin.departure == clock.now()
    assert "Sie sind ausgecheckt" in client.get(location).get_data(as_text=True)
    # again: idempotent
    assert client.post(location + "/checkout", data={"csrf_token": csrf}).status_code == 303
    assert stored(db_session)[0].departure == checkin.departure


def test_the_page_remembers_an_open_checkin_through_the_cookie(
    client: FlaskClient, venue: Venue
) -> None:
    post(client, venue, TYPED)
    html = client.get(f"/c/{venue.area.code}").get_data(as_text=True)
    assert "Sie sind hier eingecheckt" in html


def test_a_form_sent_twice_is_stored_once(
    client: FlaskClient, venue: Venue, db_session: Session, clock: FrozenClock
) -> None:
    hidden = hidden_fields(client, venue)
    first = post(client, venue, TYPED, hidden)
    clock.advance(dt.timedelta(seconds=3))
    second = post(client, venue, TYPED, hidden)
    assert first.headers["Location"] == second.headers["Location"]
    assert len(stored(db_session)) == 1


def test_errors_are_announced_linked_and_nothing_is_stored(
    client: FlaskClient, venue: Venue, db_session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    response = post(
        client, venue, {**TYPED, "zipCode": "!", "phone": "", "email": "", "lastName": ""}
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'role="alert"' in html
    summary = html[
        html.index('id="error-summary"') : html.index("</ul>", html.index('id="error-summary"'))
    ]
    assert summary.count("<li>") == 3
    assert (
        'href="#lastName"' in summary
        and 'href="#zipCode"' in summary
        and 'href="#phone"' in summary
    )
    assert re.search(
        r'id="zipCode"[^>]*aria-invalid="true"[^>]*aria-describedby="zipCode-error"', html
    )
    assert "Bitte geben Sie eine gültige Postleitzahl ein" in html
    assert 'value="Jörg"' in html  # the guest's own input comes back to the guest
    assert stored(db_session) == []
    for value in ("Jörg", "Lindenallee", "987654"):
        assert value not in caplog.text
    assert "Jörg" not in response.headers.get("Set-Cookie", "")


@pytest.mark.parametrize(
    ("required", "phone", "email", "error_field"),
    [
        ("phone_or_email", "", "", "phone"),
        ("phone_or_email", "", "a@b.de", None),
        ("phone", "", "a@b.de", "phone"),
        ("email", "0221 12345", "", "email"),
        ("both", "0221 12345", "", "email"),
        ("both", "0221 12345", "a@b.de", None),
    ],
)
def test_which_contact_is_required_is_configurable(
    required: str, phone: str, email: str, error_field: str | None
) -> None:
    form = contact_form.read_contact_form({**TYPED, "phone": phone, "email": email}, required)
    assert [error.field_id for error in form.errors] == ([error_field] if error_field else [])


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("firstName", "", "required"),
        ("firstName", "x" * 101, "too_long"),
        ("lastName", "Tab\tTab", "invalid_text"),
        ("streetAddress", "", "required"),
        ("streetAddress", "S" * 151, "too_long"),
        ("zipCode", "1", "invalid_zip"),
        ("city", "", "required"),
        ("phone", "12", "invalid_phone"),
        ("phone", "call me", "invalid_phone"),
        ("email", "erika@", "invalid_email"),
    ],
)
def test_each_field_is_validated(field: str, value: str, reason: str) -> None:
    form = contact_form.read_contact_form({**TYPED, field: value}, "phone_or_email")
    assert [(e.field_id, e.reason) for e in form.errors] == [(field, reason)]


@pytest.mark.parametrize(
    ("text", "street", "number"),
    [
        ("Hauptstraße 5", "Hauptstraße", "5"),
        ("Hauptstraße 5a", "Hauptstraße", "5a"),
        ("Am Ring 12-14", "Am Ring", "12-14"),
        ("Hof Müller", "Hof Müller", ""),
        ("Straße des 17. Juni 135", "Straße des 17. Juni", "135"),
    ],
)
def test_street_and_house_number_are_split(text: str, street: str, number: str) -> None:
    assert contact_form.split_street_address(text) == {"street": street, "houseNumber": number}


def test_additional_persons_without_javascript(
    client: FlaskClient, venue: Venue, db_session: Session
) -> None:
    hidden = hidden_fields(client, venue)
    added = post(client, venue, {**TYPED, "action": "add_person"}, hidden).get_data(as_text=True)
    assert 'id="p0-firstName"' in added and 'value="Jörg"' in added
    two = post(
        client,
        venue,
        {
            **TYPED,
            "action": "add_person",
            "p0-firstName": "",
            "p0-lastName": "",
            "p0-sameAddress": "on",
        },
        hidden,
    )
    assert 'id="p1-firstName"' in two.get_data(as_text=True)
    companions = {
        "p0-firstName": "Mia",
        "p0-lastName": "Überländer",
        "p0-sameAddress": "on",
        "p1-firstName": "Ole",
        "p1-lastName": "Nachbar",
        "p1-streetAddress": "Gartenweg 3",
        "p1-zipCode": "50969",
        "p1-city": "Köln",
        "p1-phone": "",
        "p1-email": "ole@example.de",
    }
    invalid = post(client, venue, {**TYPED, **companions, "p1-email": ""}, hidden)
    assert invalid.status_code == 422 and 'href="#p1-phone"' in invalid.get_data(as_text=True)
    removed = post(
        client, venue, {**TYPED, **companions, "action": "remove_person:0"}, hidden
    ).get_data(as_text=True)
    assert 'value="Ole"' in removed and 'value="Mia"' not in removed
    assert post(client, venue, {**TYPED, **companions}, hidden).status_code == 303
    [checkin] = stored(db_session)
    assert checkin.persons == 3
    record = venue.open(checkin.envelope)
    assert record["additionalPersons"] == [
        {"firstName": "Mia", "lastName": "Überländer", "sameAddress": True},
        {
            "firstName": "Ole",
            "lastName": "Nachbar",
            "sameAddress": False,
            "street": "Gartenweg",
            "houseNumber": "3",
            "zipCode": "50969",
            "city": "Köln",
            "phone": "",
            "email": "ole@example.de",
        },
    ]


def test_the_form_needs_its_csrf_token(
    client: FlaskClient, venue: Venue, db_session: Session
) -> None:
    response = post(client, venue, TYPED, hidden={"idempotencyKey": "k" * 24})
    assert response.status_code == 400
    assert stored(db_session) == []


def test_full_location_is_announced(
    client: FlaskClient, venue: Venue, db_session: Session, clock: FrozenClock
) -> None:
    venue.location.capacity = 1
    db_session.commit()
    assert "voll" not in client.get(f"/c/{venue.area.code}").get_data(as_text=True)
    post(client, venue, TYPED)
    clock.advance(FULL_NOTICE_STALENESS)  # the notice's count may be this old
    assert "Dieser Standort ist gerade voll (1 von 1 Personen)" in client.get(
        f"/c/{venue.area.code}"
    ).get_data(as_text=True)


def test_unknown_code_is_a_404_page(client: FlaskClient) -> None:
    response = client.get("/c/unknown-code")
    assert response.status_code == 404
    assert "Dieser Check-in-Code ist unbekannt" in response.get_data(as_text=True)
