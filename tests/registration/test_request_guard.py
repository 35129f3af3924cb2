"""Hostile input at the edge of every route: a stable 4xx, never a 500.

Found by fuzzing the public API and the portals (issue "Hardening"): JSON nested
deeper than Python's recursion limit, NUL bytes and lone surrogates that PostgreSQL
refuses to store or compare, integer ids beyond 64 bits that neither database can
bind, and a log-in redirect target carrying CR/LF. Each is refused where the request
is parsed (registration/security.py), so no view has to remember it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import replace
from urllib.parse import quote

import pyotp
import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from gastregister import create_app
from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import Database
from registration.models import CheckIn, Role, TraceRequest
from registration.request_guard import HostileJSONError
from registration.security import safe_redirect_target
from tests import factories
from tests.conftest import TEST_START
from tests.forms import csrf_token, log_in
from tests.health_export.office_support import sign_in

HUGE = 10**23


@pytest.fixture
def venue(db_session: Session) -> factories.Venue:
    venue = factories.venue(db_session)
    db_session.commit()
    return venue


def _json_error(response: object, status: int) -> dict[str, str]:
    assert response.status_code == status, response.get_data(as_text=True)  # type: ignore[attr-defined]
    body = response.get_json()  # type: ignore[attr-defined]
    assert isinstance(body, dict) and body["error"]["code"], body
    error: dict[str, str] = body["error"]
    return error


@pytest.mark.parametrize(
    "body",
    [
        "[" * 1000 + "]" * 1000,  # 2 KB, deeper than the recursion limit
        "[" * 20_000,  # under the API's size limit
        '{"a":' * 5000 + "1" + "}" * 5000,
    ],
    ids=["nested-1000", "open-20000", "objects-5000"],
)
def test_deeply_nested_json_is_a_400(client: FlaskClient, body: str) -> None:
    response = client.post("/api/v1/checkins", data=body, content_type="application/json")
    assert _json_error(response, 400)["code"] == "invalid_json"


@pytest.mark.parametrize("text", ["\ud800", "a\x00b", "\udfff\ud800"])
def test_nul_and_lone_surrogates_in_json_strings_are_a_400(
    client: FlaskClient, db_session: Session, venue: factories.Venue, text: str
) -> None:
    body = {
        "areaCode": text,
        "idempotencyKey": "k" * 32,
        "envelope": "AAAA",
        "persons": 1,
        "arrival": "2026-01-01T12:00:00+01:00",
    }
    raw = json.dumps(body)  # escapes the surrogate as \ud800, as a client would
    response = client.post("/api/v1/checkins", data=raw, content_type="application/json")
    assert _json_error(response, 400)["code"] == "invalid_json"
    assert db_session.query(CheckIn).count() == 0


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


HOSTILE_VALUES = [
    {"areaCode": "\ud800"},
    {"areaCode": "a\x00b"},
    {"a": {"b": ["\udfff"]}},
    nested(33),  # one deeper than MAX_JSON_DEPTH
]


def spellings(value: object) -> list[str | bytes]:
    """The ways a client can send `value`: escaped, raw UTF-8 (surrogates too), UTF-16."""
    raw = json.dumps(value, ensure_ascii=False)
    return [
        json.dumps(value),
        json.dumps(value).encode(),
        raw,
        raw.encode("utf-8", "surrogatepass"),
        raw.encode("utf-16", "surrogatepass"),
    ]


@pytest.mark.parametrize(
    "text",
    [text for value in HOSTILE_VALUES for text in spellings(value)],
)
def test_hostile_json_is_refused_however_it_is_spelled(app: Flask, text: str | bytes) -> None:
    """The guard skips walking a parsed value only when its text cannot hold what the
    walk refuses (request_guard._plainly_harmless): no spelling gets through (a raw NUL
    byte is not even JSON)."""
    with pytest.raises((HostileJSONError, json.JSONDecodeError)):
        app.json.loads(text)


@pytest.mark.parametrize(
    "path",
    [
        "/c/%00",
        "/c/a%00b",
        "/api/v1/areas/%00",
        "/display/%00",
        "/display/%00/qr/x.svg",
        "/c/%ED%A0%80",  # the UTF-8 form of a lone surrogate
        "/konto/verify/%00",
    ],
)
def test_nul_bytes_in_paths_are_not_found(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code in (400, 404), response.status_code
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("query", ["lang=%00", "next=/a%0d%0aX", "x%0a=1"])
def test_control_characters_in_query_strings_are_a_translated_400(
    client: FlaskClient, query: str
) -> None:
    page = client.get(f"/konto/login?{query}")
    assert page.status_code == 400
    assert '<html lang="de">' in page.text
    api = client.get(f"/api/v1/areas/x?{query}", headers={"Accept": "application/json"})
    assert _json_error(api, 400)["code"]


def test_ids_beyond_the_id_columns_in_portal_urls_are_not_found(
    app: Flask, db_session: Session, venue: factories.Venue
) -> None:
    client = app.test_client()
    owner = factories.user(db_session, role=Role.BUSINESS_OWNER, business=venue.business)
    db_session.commit()
    log_in(client, owner.email)
    for path in (
        f"/portal/locations/{HUGE}",
        f"/portal/locations/{HUGE}/posters.pdf",
        f"/portal/areas/{HUGE}/qr.svg",
        f"/portal/locations/{2**63}",
        f"/portal/locations/{2**31}",
    ):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/portal/locations/{2**31 - 1}").status_code == 404


def test_login_with_a_line_break_in_its_target_is_refused_then_works_without(
    app: Flask, db_session: Session, venue: factories.Venue
) -> None:
    """Werkzeug refuses CR/LF in a `Location` header: this was a 500 after log-in."""
    owner = factories.user(db_session, role=Role.BUSINESS_OWNER, business=venue.business)
    db_session.commit()
    client = app.test_client()
    assert client.get("/konto/login?next=/portal/%0d%0aX").status_code == 400
    log_in(client, owner.email)
    assert client.get("/portal/").status_code == 200


def test_nul_bytes_in_a_posted_form_are_a_400_and_store_nothing(
    app: Flask, db_session: Session, venue: factories.Venue
) -> None:
    """An area name with a NUL byte was a 500 on PostgreSQL (it cannot store one)."""
    owner = factories.user(db_session, role=Role.BUSINESS_OWNER, business=venue.business)
    db_session.commit()
    client = app.test_client()
    log_in(client, owner.email)
    place = f"/portal/locations/{venue.location.id}"
    page = client.get(place)
    response = client.post(
        f"{place}/areas", data={"csrf_token": csrf_token(page.text), "areas": "Tisch\x00 9"}
    )
    assert response.status_code == 400
    assert '<html lang="de">' in response.text
    db_session.expire_all()
    assert [area.name for area in venue.location.areas] == ["Terrasse"]


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/portal/", True),
        ("/c/abc?lang=en", True),
        ("/portal/\r\nX", False),
        ("/portal/\x00", False),
        ("//evil.example/", False),
        ("/\\evil.example", False),
        ("https://evil.example/", False),
        ("portal", False),
        ("", False),
        (None, False),
    ],
)
def test_one_rule_for_redirect_targets(target: str | None, kept: bool) -> None:
    """Log-in and the language switch both use it (they had a copy each)."""
    assert safe_redirect_target(target) == (target if kept else None)


def _seen_by_the_app(app: Flask, remote: str, headers: dict[str, str]) -> tuple[str, bool]:
    """The client address and scheme a view sees, for a request from `remote`."""
    if "who" not in app.view_functions:

        @app.get("/probe/who", endpoint="who")
        def who() -> dict[str, object]:
            return {"address": request.remote_addr, "secure": request.is_secure}

    client = app.test_client()
    body = client.get("/probe/who", headers=headers, environ_base={"REMOTE_ADDR": remote})
    return body.get_json()["address"], body.get_json()["secure"]


FORWARDED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


def test_forwarded_headers_count_from_the_configured_proxy(app: Flask) -> None:
    assert _seen_by_the_app(app, "127.0.0.1", FORWARDED) == ("203.0.113.9", True)


def test_forwarded_headers_from_anyone_else_are_ignored(app: Flask) -> None:
    """A client that reaches gunicorn directly cannot pick its address (and so its
    rate-limit bucket) or pretend to have come over HTTPS."""
    assert _seen_by_the_app(app, "198.51.100.7", FORWARDED) == ("198.51.100.7", False)


def test_the_trusted_proxies_are_a_setting(
    settings: Settings, clock: FrozenClock, bound_database: Database
) -> None:
    app = create_app(
        replace(settings, forwarded_allow_ips=("10.0.0.0/24",)),
        clock=clock,
        database=bound_database,
    )
    for _ in range(2):  # the verdict per address is remembered: the same each time
        assert _seen_by_the_app(app, "10.0.0.3", FORWARDED) == ("203.0.113.9", True)
        assert _seen_by_the_app(app, "127.0.0.1", FORWARDED) == ("127.0.0.1", False)


# --- times beyond datetime's range, huge integers, content types, area codes ----------

# Both parse as aware datetimes, but their UTC form lies outside year 1..9999.
OVERFLOWING_TIMES = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"]
# Local (Europe/Berlin) times whose UTC form lies outside the range.
OVERFLOWING_LOCAL_TIMES = ["0001-01-01T00:00", "0001-01-01T00:30"]


@pytest.mark.parametrize("moment", OVERFLOWING_TIMES)
def test_api_times_beyond_the_calendar_are_a_field_error(
    client: FlaskClient,
    db_session: Session,
    clock: FrozenClock,
    venue: factories.Venue,
    moment: str,
) -> None:
    response = client.post("/api/v1/checkins", json=venue.checkin_body(clock.now(), arrival=moment))
    assert _json_error(response, 422)["fields"] == [  # type: ignore[comparison-overlap]
        {"field": "arrival", "reason": "invalid_time"}
    ]
    stored = client.post("/api/v1/checkins", json=venue.checkin_body(clock.now())).get_json()
    response = client.post(
        f"/api/v1/checkins/{stored['id']}/checkout",
        json={"checkoutToken": stored["checkoutToken"], "departure": moment},
    )
    assert _json_error(response, 422)["fields"] == [  # type: ignore[comparison-overlap]
        {"field": "departure", "reason": "invalid_time"}
    ]
    db_session.expire_all()
    assert db_session.query(CheckIn).one().departure is None


@pytest.mark.parametrize("moment", OVERFLOWING_LOCAL_TIMES)
def test_staff_entry_times_beyond_the_calendar_are_a_field_error(
    app: Flask, db_session: Session, venue: factories.Venue, moment: str
) -> None:
    owner = factories.user(db_session, role=Role.BUSINESS_OWNER, business=venue.business)
    db_session.commit()
    client = app.test_client()
    log_in(client, owner.email)
    url = f"/portal/locations/{venue.location.id}/staff-entry"
    page = client.get(url)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert token
    for field in ("arrival", "departure"):
        body = {
            "areaId": venue.area.id,
            "envelope": "AAAA",
            "persons": 1,
            "arrival": "2026-11-20T10:00",
            "idempotencyKey": "k" * 32,
            field: moment,
        }
        response = client.post(
            url,
            json=body,
            headers={
                "X-CSRFToken": token.group(1),
                "Accept": "application/json",
                "Accept-Language": "de",
            },
        )
        error = _json_error(response, 422)
        assert list(error["fields"]) == [field], error
        assert "Datum" in error["fields"][field], error  # type: ignore[index]
    assert db_session.query(CheckIn).count() == 0


def _office_admin_client(app: Flask, db_session: Session, venue: factories.Venue) -> FlaskClient:
    admin = factories.user(
        db_session,
        role=Role.HEALTH_OFFICE_ADMIN,
        office=venue.office,
        totp_secret=pyotp.random_base32(),
        now=TEST_START - dt.timedelta(days=1),
    )
    db_session.commit()
    client = app.test_client()
    sign_in(client, admin, FrozenClock(TEST_START))
    return client


@pytest.mark.parametrize("moment", OVERFLOWING_LOCAL_TIMES)
def test_request_windows_beyond_the_calendar_are_a_field_error(
    app: Flask, db_session: Session, venue: factories.Venue, moment: str
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    client = _office_admin_client(app, db_session, venue)
    for field in ("window_start", "window_end"):
        data = {
            "location_id": str(venue.location.id),
            "window_start": "2026-11-20T08:00",
            "window_end": "2026-11-20T11:00",
            "case_reference": "AZ 1",
            "reason": "Grund",
            field: moment,
        }
        response = client.post("/amt/requests", data=data, headers={"Accept-Language": "de"})
        assert response.status_code == 422, (field, response.status_code)
        assert "Datum und Uhrzeit" in response.text
    assert db_session.query(TraceRequest).count() == 0


def test_integers_beyond_the_id_columns_in_office_query_strings_are_refused(
    app: Flask, db_session: Session, venue: factories.Venue
) -> None:
    """`?before=10**30` was a 500 (OverflowError on SQLite, a range error on PostgreSQL)."""
    app.config["WTF_CSRF_ENABLED"] = False
    client = _office_admin_client(app, db_session, venue)
    assert client.get("/amt/audit").status_code == 200
    for value in (str(10**30), f"-{10**30}", str(HUGE), str(2**31), "\u00b2", "1_0"):
        for path in (f"/amt/audit?before={value}", f"/amt/requests/new?location={value}"):
            response = client.get(path)
            assert response.status_code in (200, 303, 400, 404), (path, response.status_code)
        response = client.post(
            "/amt/requests",
            data={"location_id": value, "areas": value, "window_start": "2026-11-20T08:00"},
        )
        assert response.status_code in (400, 404), (value, response.status_code)
    place = venue.location.id
    response = client.post(
        "/amt/requests",
        data={
            "location_id": str(place),
            "areas": ["\u00b2", str(10**30)],
            "window_start": "2026-11-20T08:00",
            "window_end": "2026-11-20T11:00",
            "case_reference": "AZ 1",
            "reason": "Grund",
        },
    )
    assert response.status_code == 422, response.status_code
    assert db_session.query(TraceRequest).count() == 0


def test_removing_a_person_with_a_non_ascii_digit_changes_nothing(
    client: FlaskClient, venue: factories.Venue
) -> None:
    """`remove_person:²` passed str.isdigit and then int() raised: a 500 without JavaScript."""
    page = client.get(f"/c/{venue.area.code}")
    response = client.post(
        f"/c/{venue.area.code}",
        data={"csrf_token": csrf_token(page.text), "action": "remove_person:\u00b2"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", None],
)
def test_the_api_takes_only_json(
    client: FlaskClient,
    db_session: Session,
    clock: FrozenClock,
    venue: factories.Venue,
    content_type: str | None,
) -> None:
    body = json.dumps(venue.checkin_body(clock.now()))
    headers = {"Accept-Language": "de"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = client.post("/api/v1/checkins", data=body, headers=headers)
    error = _json_error(response, 415)
    assert error["code"] == "unsupported_media_type"
    assert "application/json" in error["message"]
    assert db_session.query(CheckIn).count() == 0
    response = client.post(
        "/api/v1/checkins",
        data=body,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201


def test_area_codes_outside_the_code_alphabet_are_unknown_without_a_query(
    client: FlaskClient, bound_database: Database, clock: FrozenClock, venue: factories.Venue
) -> None:
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(bound_database.engine, "before_cursor_execute", seen)
    try:
        for code in ("a b", "Café", "x" * 65, "a/b", "a.b", "\u00e4" * 10):
            statements.clear()
            response = client.post(
                "/api/v1/checkins", json=venue.checkin_body(clock.now(), areaCode=code)
            )
            assert _json_error(response, 404)["code"] == "unknown_area", code
            assert not [s for s in statements if "areas" in s], (code, statements)
            statements.clear()
            assert client.get(f"/api/v1/areas/{quote(code)}").status_code == 404, code
            assert client.get(f"/c/{quote(code)}").status_code == 404, code
            assert not [s for s in statements if "areas" in s], (code, statements)
    finally:
        event.remove(bound_database.engine, "before_cursor_execute", seen)
