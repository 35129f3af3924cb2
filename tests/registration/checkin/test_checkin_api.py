"""The JSON API: check in with an envelope, retries stored once, check out with the token."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import crypto
from registration.checkin import rotating
from registration.clock import FrozenClock
from registration.models import CheckIn, CheckInMode, CheckInSource, KeyState
from tests import factories
from tests.factories import Venue
from tests.registration.checkin.checkin_support import create_venue

API = "/api/v1/checkins"


def count(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(CheckIn)) or 0)


def error_of(response: Any) -> dict[str, Any]:
    assert response.is_json, response.data[:200]
    error: dict[str, Any] = response.get_json()["error"]
    return error


def test_checkin_stores_the_envelope_and_only_a_hash_of_the_token(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    request = venue.checkin_body(clock.now(), persons=3)
    response = client.post(API, json=request)
    assert response.status_code == 201
    answer = response.get_json()
    stored = db_session.scalar(select(CheckIn))
    assert stored is not None
    assert str(stored.id) == answer["id"]
    assert stored.envelope == crypto.decode_envelope(request["envelope"])
    assert venue.open(stored.envelope)["lastName"] == "Mustermann"
    assert stored.checkout_token_hash == hashlib.sha256(answer["checkoutToken"].encode()).digest()
    assert answer["checkoutToken"].encode() not in stored.checkout_token_hash
    assert stored.persons == 3
    assert stored.source == CheckInSource.GUEST_PAGE
    assert stored.key_id == venue.key.key_id
    assert stored.arrival == clock.now()
    assert stored.auto_departure == clock.now() + dt.timedelta(minutes=120)
    assert answer["autoDeparture"] == "2026-11-20T13:00:00.000Z"
    assert answer["location"] == {"code": venue.location.code, "name": "Café am Dom"}
    assert answer["area"]["name"] == "Terrasse"


def test_a_retry_returns_the_same_id_and_token_and_stores_once(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    request = venue.checkin_body(clock.now())
    first = client.post(API, json=request)
    clock.advance(dt.timedelta(minutes=5))  # the phone retries later with its original arrival
    again = client.post(API, json=request)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["checkoutToken"] == first.get_json()["checkoutToken"]
    assert count(db_session) == 1


def test_a_retry_after_checking_out_answers_with_the_stored_check_in(
    client: FlaskClient, venue: Venue, clock: FrozenClock
) -> None:
    request = venue.checkin_body(clock.now(), persons=2)
    first = client.post(API, json=request).get_json()
    clock.advance(dt.timedelta(minutes=30))
    checkout = f"{API}/{first['id']}/checkout"
    assert client.post(checkout, json={"checkoutToken": first["checkoutToken"]}).status_code == 200
    again = client.post(API, json=request)
    assert again.status_code == 200
    assert again.get_json() == {**first, "departure": "2026-11-20T11:30:00.000Z"}


@pytest.mark.parametrize("change", ["envelope", "area", "persons", "arrival"])
def test_the_same_idempotency_key_with_other_content_is_a_conflict(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session, change: str
) -> None:
    request = venue.checkin_body(clock.now())
    assert client.post(API, json=request).status_code == 201
    other = dict(request)
    if change == "envelope":
        other["envelope"] = crypto.encode_envelope(venue.seal())
    elif change == "area":
        second = create_venue(db_session, clock.now())
        other["areaCode"] = second.area.code
        other["envelope"] = crypto.encode_envelope(second.seal())
    elif change == "persons":
        other["persons"] = 2
    else:
        other["arrival"] = factories.iso(clock.now() - dt.timedelta(seconds=1))
    response = client.post(API, json=other)
    assert response.status_code == 409
    assert error_of(response)["code"] == "idempotency_conflict"
    assert count(db_session) == 1


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (dt.timedelta(minutes=-24 * 60), True),
        (dt.timedelta(days=-3), True),  # from a phone's outbox: stored, marked late
        (dt.timedelta(days=-28), True),
        (dt.timedelta(days=-28, seconds=-1), False),
        (dt.timedelta(minutes=2), True),
        (dt.timedelta(minutes=2, seconds=1), False),
    ],
)
def test_late_arrivals_are_accepted_within_the_window_and_never_from_the_future(
    client: FlaskClient,
    venue: Venue,
    clock: FrozenClock,
    db_session: Session,
    offset: dt.timedelta,
    accepted: bool,
) -> None:
    response = client.post(
        API, json=venue.checkin_body(clock.now(), arrival=factories.iso(clock.now() + offset))
    )
    if accepted:
        assert response.status_code == 201
    else:
        assert response.status_code == 422
        expected = "arrival_expired" if offset < dt.timedelta(0) else "arrival_out_of_range"
        assert error_of(response)["code"] == expected
        assert count(db_session) == 0


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"not json", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
        (b"{}", 422, "invalid"),
    ],
)
def test_malformed_requests_get_a_stable_error_code(
    client: FlaskClient, venue: Venue, payload: bytes, status: int, code: str
) -> None:
    response = client.post(API, data=payload, content_type="application/json")
    assert response.status_code == status
    assert error_of(response)["code"] == code


def test_missing_and_invalid_fields_are_listed(
    client: FlaskClient, venue: Venue, clock: FrozenClock
) -> None:
    response = client.post(
        API,
        json=venue.checkin_body(clock.now(), persons=22, idempotencyKey=None, arrival="gestern"),
    )
    assert response.status_code == 422
    fields = {problem["field"] for problem in error_of(response)["fields"]}
    assert fields == {"persons", "idempotencyKey"}
    response = client.post(API, json=venue.checkin_body(clock.now(), arrival="gestern"))
    assert error_of(response)["fields"] == [{"field": "arrival", "reason": "invalid_time"}]
    response = client.post(API, json=venue.checkin_body(clock.now(), arrival="2026-11-20T11:00:00"))
    assert error_of(response)["fields"] == [{"field": "arrival", "reason": "invalid_time"}]
    response = client.post(API, json=venue.checkin_body(clock.now(), idempotencyKey="short"))
    assert error_of(response)["fields"] == [{"field": "idempotencyKey", "reason": "invalid"}]


def _mutated(envelope: bytes, offset: int, value: int) -> str:
    changed = bytearray(envelope)
    changed[offset] = value
    return crypto.encode_envelope(bytes(changed))


@pytest.mark.parametrize(
    ("mutate", "code", "kind"),
    [
        (lambda e: crypto.encode_envelope(e) + "=", "invalid_envelope", "malformed"),
        (lambda e: _mutated(e, 0, 3), "unsupported_envelope_version", "unknown_version"),
        (lambda e: _mutated(e, 2, 0x11), "unsupported_suite", "wrong_suite"),
        (lambda e: crypto.encode_envelope(e[:-1]), "invalid_envelope", "bad_length"),
        (lambda e: crypto.encode_envelope(e[:50]), "invalid_envelope", "malformed"),
    ],
)
def test_envelopes_no_office_could_open_are_refused(
    client: FlaskClient,
    venue: Venue,
    clock: FrozenClock,
    db_session: Session,
    mutate: Any,
    code: str,
    kind: str,
) -> None:
    response = client.post(API, json=venue.checkin_body(clock.now(), envelope=mutate(venue.seal())))
    assert response.status_code == 422
    assert error_of(response)["code"] == code
    assert error_of(response)["kind"] == kind
    assert count(db_session) == 0


def test_too_large_is_413(client: FlaskClient, venue: Venue, clock: FrozenClock) -> None:
    response = client.post(
        API,
        json=venue.checkin_body(clock.now(), envelope="A" * (crypto.MAX_ENVELOPE_TEXT_LENGTH + 4)),
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "too_large"
    response = client.post(API, json=venue.checkin_body(clock.now(), padding="x" * 70_000))
    assert response.status_code == 413
    assert error_of(response)["code"] == "too_large"


def test_an_old_key_gets_409_with_the_current_key_to_seal_again(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    new_key, _ = factories.office_key(
        db_session, venue.office, activated_at=clock.now() - dt.timedelta(minutes=5)
    )
    venue.key.state = KeyState.RETIRED
    venue.key.retired_at = clock.now() - dt.timedelta(minutes=5)
    db_session.commit()
    response = client.post(API, json=venue.checkin_body(clock.now()))
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "stale_key"
    assert error["currentKey"] == {
        "keyId": new_key.key_id,
        "publicKey": crypto.b64url_encode(new_key.public_spki),
    }
    assert (
        crypto.key_id(crypto.b64url_decode(error["currentKey"]["publicKey"])).hex()
        == new_key.key_id
    )
    resealed = venue.checkin_body(
        clock.now(), envelope=crypto.encode_envelope(venue.seal(key=new_key))
    )
    assert client.post(API, json=resealed).status_code == 201


def test_a_record_that_waited_on_the_phone_across_a_key_change_is_accepted(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    """Sealed while the old key was active, sent after the change: still openable by the office."""
    arrival = clock.now() - dt.timedelta(hours=2)
    factories.office_key(db_session, venue.office, activated_at=clock.now() - dt.timedelta(hours=1))
    venue.key.state = KeyState.RETIRED
    venue.key.retired_at = clock.now() - dt.timedelta(hours=1)
    db_session.commit()
    assert (
        client.post(
            API, json=venue.checkin_body(clock.now(), arrival=factories.iso(arrival))
        ).status_code
        == 201
    )


def test_a_key_of_another_office_is_stale(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    other = create_venue(db_session, clock.now())
    response = client.post(
        API, json=venue.checkin_body(clock.now(), envelope=crypto.encode_envelope(other.seal()))
    )
    assert response.status_code == 409
    assert error_of(response)["currentKey"]["keyId"] == venue.key.key_id


def test_unknown_and_archived_areas_are_404(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    response = client.post(API, json=venue.checkin_body(clock.now(), areaCode="no-such-area"))
    assert response.status_code == 404
    assert error_of(response)["code"] == "unknown_area"
    venue.area.archived_at = clock.now()
    db_session.commit()
    assert client.post(API, json=venue.checkin_body(clock.now())).status_code == 404
    assert client.get(f"/api/v1/areas/{venue.area.code}").status_code == 404


def test_archiving_a_location_closes_its_areas_at_once(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    assert client.post(API, json=venue.checkin_body(clock.now())).status_code == 201
    venue.location.archived_at = clock.now()
    db_session.commit()
    response = client.post(API, json=venue.checkin_body(clock.now()))
    assert response.status_code == 404
    assert error_of(response)["code"] == "unknown_area"
    assert count(db_session) == 1


def test_without_an_active_key_checkin_is_unavailable(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    venue.key.state = KeyState.RETIRED
    venue.key.retired_at = clock.now()
    db_session.commit()
    response = client.post(API, json=venue.checkin_body(clock.now()))
    assert response.status_code == 503
    assert error_of(response)["code"] == "checkin_unavailable"
    assert count(db_session) == 0


def test_error_messages_follow_the_language(client: FlaskClient, venue: Venue) -> None:
    german = client.post(API, data=b"x", content_type="application/json")
    english = client.post(
        API, data=b"x", content_type="application/json", headers={"Accept-Language": "en"}
    )
    assert error_of(english)["message"] == "The request body must be a JSON object."
    assert error_of(german)["message"] != error_of(english)["message"]
    assert error_of(german)["code"] == error_of(english)["code"] == "invalid_json"


def _checked_in(client: FlaskClient, venue: Venue, clock: FrozenClock) -> dict[str, Any]:
    response = client.post(API, json=venue.checkin_body(clock.now()))
    assert response.status_code == 201
    answer: dict[str, Any] = response.get_json()
    return answer


def test_checkout_with_the_token_is_idempotent(
    client: FlaskClient, venue: Venue, clock: FrozenClock
) -> None:
    checkin = _checked_in(client, venue, clock)
    clock.advance(dt.timedelta(minutes=30))
    url = f"{API}/{checkin['id']}/checkout"
    first = client.post(url, json={"checkoutToken": checkin["checkoutToken"]})
    assert first.status_code == 200
    assert first.get_json() == {
        "id": checkin["id"],
        "departure": "2026-11-20T11:30:00.000Z",
        "alreadyCheckedOut": False,
    }
    clock.advance(dt.timedelta(minutes=5))
    again = client.post(url, json={"checkoutToken": checkin["checkoutToken"]})
    assert again.get_json()["departure"] == "2026-11-20T11:30:00.000Z"
    assert again.get_json()["alreadyCheckedOut"] is True


def test_a_wrong_token_and_an_unknown_id_look_the_same(
    client: FlaskClient, venue: Venue, clock: FrozenClock
) -> None:
    checkin = _checked_in(client, venue, clock)
    token = checkin["checkoutToken"]
    # Another first character, always: "x" + token[1:] was the token itself 1 time in 64.
    wrong = client.post(
        f"{API}/{checkin['id']}/checkout",
        json={"checkoutToken": ("y" if token[0] == "x" else "x") + token[1:]},
    )
    unknown = client.post(
        f"{API}/{uuid.uuid4()}/checkout", json={"checkoutToken": checkin["checkoutToken"]}
    )
    not_uuid = client.post(f"{API}/123/checkout", json={"checkoutToken": checkin["checkoutToken"]})
    assert wrong.status_code == unknown.status_code == not_uuid.status_code == 404
    assert wrong.get_json() == unknown.get_json() == not_uuid.get_json()


def test_checkout_after_the_automatic_departure_keeps_the_automatic_time(
    client: FlaskClient, venue: Venue, clock: FrozenClock
) -> None:
    checkin = _checked_in(client, venue, clock)
    clock.advance(dt.timedelta(hours=5))
    answer = client.post(
        f"{API}/{checkin['id']}/checkout", json={"checkoutToken": checkin["checkoutToken"]}
    ).get_json()
    assert answer["departure"] == checkin["autoDeparture"]
    assert answer["alreadyCheckedOut"] is True


def test_a_delayed_checkout_keeps_the_moment_the_button_was_pressed(
    client: FlaskClient, venue: Venue, clock: FrozenClock
) -> None:
    checkin = _checked_in(client, venue, clock)
    pressed = clock.now() + dt.timedelta(minutes=20)
    clock.advance(dt.timedelta(minutes=50))
    url = f"{API}/{checkin['id']}/checkout"
    future = client.post(
        url,
        json={
            "checkoutToken": checkin["checkoutToken"],
            "departure": factories.iso(clock.now() + dt.timedelta(minutes=3)),
        },
    )
    assert future.status_code == 422
    answer = client.post(
        url, json={"checkoutToken": checkin["checkoutToken"], "departure": factories.iso(pressed)}
    ).get_json()
    assert answer["departure"] == "2026-11-20T11:20:00.000Z"


def test_area_endpoint_gives_what_the_page_seals_with(client: FlaskClient, venue: Venue) -> None:
    answer = client.get(f"/api/v1/areas/{venue.area.code}").get_json()
    assert answer["key"] == {
        "keyId": venue.key.key_id,
        "publicKey": crypto.b64url_encode(venue.key.public_spki),
    }
    assert answer["location"]["code"] == venue.location.code
    assert answer["location"]["mode"] == "static"
    assert answer["full"] is False


def test_rotating_mode_needs_a_fresh_admission(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    venue.location.checkin_mode = CheckInMode.ROTATING
    db_session.commit()
    secret = venue.location.rotating_secret
    response = client.post(API, json=venue.checkin_body(clock.now()))
    assert response.status_code == 403
    assert error_of(response)["code"] == "entrance_code_required"
    old = rotating.issue_admission(secret, venue.area.code, clock.now() - dt.timedelta(minutes=31))
    assert client.post(API, json=venue.checkin_body(clock.now(), admission=old)).status_code == 403
    forged = rotating.issue_admission(b"x" * 32, venue.area.code, clock.now())
    assert (
        client.post(API, json=venue.checkin_body(clock.now(), admission=forged)).status_code == 403
    )
    fresh = rotating.issue_admission(
        secret, venue.area.code, clock.now() - dt.timedelta(minutes=10)
    )
    assert (
        client.post(API, json=venue.checkin_body(clock.now(), admission=fresh)).status_code == 201
    )
    assert count(db_session) == 1


def test_the_api_is_exempt_from_csrf_but_json_only(
    client: FlaskClient, venue: Venue, clock: FrozenClock
) -> None:
    response = client.post(API, data={"areaCode": venue.area.code})
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_guest_data_never_appears_in_logs(
    client: FlaskClient, venue: Venue, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    _checked_in(client, venue, clock)
    text = caplog.text
    for value in factories.contact_record().values():
        if isinstance(value, str):
            assert value not in text


def test_unknown_members_and_malformed_tokens_are_refused_as_documented(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    """openapi.json says additionalProperties false and gives the token's form."""
    response = client.post(API, json=venue.checkin_body(clock.now(), note="x"))
    assert response.status_code == 422
    assert error_of(response)["fields"] == [{"field": "note", "reason": "unknown"}]
    response = client.post(API, json=venue.checkin_body(clock.now(), admission="1.x"))
    assert error_of(response)["fields"] == [{"field": "admission", "reason": "invalid"}]
    assert count(db_session) == 0
    stored = client.post(API, json=venue.checkin_body(clock.now())).get_json()
    checkout = f"{API}/{stored['id']}/checkout"
    for body in (
        {"checkoutToken": stored["checkoutToken"] + "x"},
        {"checkoutToken": stored["checkoutToken"], "reason": "done"},
    ):
        response = client.post(checkout, json=body)
        assert response.status_code == 422, body
    assert client.post(checkout, json={"checkoutToken": stored["checkoutToken"]}).status_code == 200
