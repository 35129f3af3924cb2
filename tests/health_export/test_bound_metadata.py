"""Format v2 end to end: what the server's writer seals, its package, and tampered rows.

The no-JavaScript form seals the arrival it stores, its idempotency key and its
source into the record; a package built from such rows opens without a complaint;
a row changed in the database afterwards (re-dated, persons or source changed,
envelopes swapped, one request's record pasted into another's package) is refused
by the CLI reader with the kind of the first failed check.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

import crypto
from health_export.decryption import open_package
from health_export.packages import parse_package
from registration.clock import FrozenClock
from registration.config import Settings
from registration.models import CheckIn, CheckInSource
from registration.tracing.packages import build_export_package, frame, iso_utc
from tests import factories
from tests.health_export.office_support import released_request
from tests.registration.checkin.checkin_support import TYPED, create_venue, hidden_fields

H = dt.timedelta(hours=1)


def test_the_no_javascript_form_seals_format_v2_with_what_it_stores(
    client: FlaskClient, db_session: Session, clock: FrozenClock
) -> None:
    venue = create_venue(db_session, clock.now())
    clock.advance(dt.timedelta(microseconds=123_456))
    hidden = hidden_fields(client, venue)
    response = client.post(f"/c/{venue.area.code}", data={**hidden, **TYPED})
    assert response.status_code == 303
    db_session.expire_all()
    (checkin,) = db_session.scalars(select(CheckIn))
    assert checkin.envelope[0] == 2 == crypto.inspect_envelope(checkin.envelope).version
    record = venue.open(checkin.envelope)
    assert record["v"] == 2
    assert record["arrival"] == iso_utc(checkin.arrival)
    assert checkin.arrival.microsecond == 0
    assert record["idempotencyKey"] == hidden["idempotencyKey"]
    assert record["source"] == CheckInSource.GUEST_FORM.value == checkin.source.value


@pytest.fixture
def released(
    db_session: Session, clock: Any, settings: Settings, make_office: Any, make_location: Any
) -> dict[str, Any]:
    office = make_office()
    place = make_location(office.office)
    now = clock.now()
    visits = [
        factories.build_checkin(
            place.areas[index % 2],
            office.key,
            arrival=now - (5 - index * 0.25) * H,
            record=factories.contact_record(f"Gast{index}", "Muster"),
        )
        for index in range(6)
    ]
    earlier = factories.build_checkin(place.areas[0], office.key, arrival=now - 30 * H)
    db_session.add_all([*visits, earlier])
    db_session.commit()
    trace_request = released_request(
        db_session,
        clock,
        settings,
        office,
        place,
        window=(now - 6 * H, now - 2 * H),
        case_reference="AZ-1",
        reason="Ausbruch",
    )
    return {"office": office, "request": trace_request, "visits": visits, "earlier": earlier}


def _outcomes(data: bytes, key: Any) -> tuple[list[tuple[int, str]], list[int]]:
    result = open_package(parse_package(data), [key])
    outcomes = [(visit.number, "ok") for visit in result.visits]
    outcomes += [(failure.number, failure.kind) for failure in result.failures]
    return sorted(outcomes), result.unbound


@pytest.mark.usefixtures("request_context")
def test_rows_changed_in_the_database_are_refused_by_kind(
    db_session: Session, clock: Any, settings: Settings, released: dict[str, Any]
) -> None:
    office, trace_request, visits = released["office"], released["request"], released["visits"]
    package = build_export_package(db_session, clock, settings, trace_request)
    assert _outcomes(package.content, office.private_key) == ([(n, "ok") for n in range(1, 7)], [])

    visits[0].arrival += dt.timedelta(minutes=10)  # re-dated, still inside the window
    visits[1].persons += 1
    visits[2].source = CheckInSource.STAFF_ENTRY
    visits[3].envelope, visits[5].envelope = visits[5].envelope, visits[3].envelope
    db_session.commit()
    package = build_export_package(db_session, clock, settings, trace_request)
    assert _outcomes(package.content, office.private_key) == (
        [
            (1, "arrival_mismatch"),
            (2, "persons_mismatch"),
            (3, "source_mismatch"),
            (4, "arrival_mismatch"),
            (5, "ok"),
            (6, "arrival_mismatch"),
        ],
        [],
    )


@pytest.mark.usefixtures("request_context")
def test_a_record_pasted_from_another_request_or_twice_is_refused(
    db_session: Session, clock: Any, settings: Settings, released: dict[str, Any]
) -> None:
    office, trace_request = released["office"], released["request"]
    data = build_export_package(db_session, clock, settings, trace_request).content
    body = json.loads(data.split(b"\n", 1)[1])
    earlier = released["earlier"]
    pasted = {
        **body["records"][0],
        "arrival": iso_utc(earlier.arrival),
        "departure": None,
        "autoDeparture": iso_utc(earlier.auto_departure),
        "envelope": crypto.encode_envelope(earlier.envelope),
    }
    body["records"] += [pasted, body["records"][1]]
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    outcomes, _ = _outcomes(frame(content)[0], office.private_key)
    assert outcomes[-2:] == [(7, "outside_window"), (8, "duplicate")]
