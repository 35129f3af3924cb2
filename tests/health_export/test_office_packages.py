"""Export packages: built from the matching visits, checked on reading, opened offline."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from psycopg import pq
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

import crypto
from health_export.decryption import open_package, visit_rows
from health_export.packages import PackageFormatError, parse_package
from registration.config import Settings
from registration.models import AuditEvent, TraceRequestState
from registration.tracing.errors import PackageUnavailableError
from registration.tracing.packages import (
    build_export_package,
    current_package,
    download_package,
    frame,
)
from registration.tracing.requests import create_trace_request
from tests import factories
from tests.health_export.office_support import released_request

H = dt.timedelta(hours=1)
pytestmark = pytest.mark.usefixtures("request_context")


@pytest.fixture
def released(
    db_session: Session, clock: Any, settings: Settings, make_office: Any, make_location: Any
) -> dict[str, Any]:
    office = make_office()
    place = make_location(office.office)
    now = clock.now()
    inside = [
        factories.build_checkin(
            place.areas[0],
            office.key,
            arrival=now - 5 * H,
            departure=now - 4 * H,
            record=factories.contact_record("Ada", "Lovelace"),
            delivered_late=True,  # kept in the phone's outbox for days
        ),
        factories.build_checkin(
            place.areas[1],
            office.key,
            arrival=now - 4 * H,
            record=factories.contact_record(
                "Seán",
                "O'Brien",
                additionalPersons=[{"firstName": "李", "lastName": "小龍", "sameAddress": True}],
            ),
        ),
    ]
    outside = factories.build_checkin(
        place.areas[0], office.key, arrival=now - 20 * H, departure=now - 19 * H
    )
    db_session.add_all([*inside, outside])
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
    return {"office": office, "place": place, "request": trace_request, "inside": inside}


def test_download_builds_the_package_audits_and_marks_the_request(
    db_session: Session, clock: Any, settings: Settings, released: dict[str, Any]
) -> None:
    office, trace_request = released["office"], released["request"]
    package = download_package(db_session, clock, settings, trace_request, user=office.staff)
    assert trace_request.state is TraceRequestState.DOWNLOADED
    assert package.record_count == 2
    assert package.expires_at == trace_request.released_at + dt.timedelta(
        days=settings.export_package_days
    )
    parsed = parse_package(package.content)
    assert (
        parsed.sha256
        == package.sha256
        == hashlib.sha256(package.content.split(b"\n", 1)[1]).hexdigest()
    )
    assert parsed.request["caseReference"] == "AZ-1"
    assert parsed.location["code"] == released["place"].location.code
    assert [record.envelope for record in parsed.records] == [
        crypto.encode_envelope(checkin.envelope) for checkin in released["inside"]
    ]
    again = download_package(db_session, clock, settings, trace_request, user=office.admin)
    assert again.id == package.id and again.download_count == 2
    downloads = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "office.package.downloaded")
    ).all()
    assert [event.actor_user_id for event in downloads] == [office.staff.id, office.admin.id]
    assert all("Lovelace" not in json.dumps(event.details) for event in downloads)


def test_the_package_expires(
    db_session: Session, clock: Any, settings: Settings, released: dict[str, Any]
) -> None:
    clock.advance(dt.timedelta(days=settings.export_package_days))
    with pytest.raises(PackageUnavailableError):
        download_package(
            db_session, clock, settings, released["request"], user=released["office"].staff
        )


def test_a_request_that_is_not_released_has_no_package(
    db_session: Session, clock: Any, settings: Settings, released: dict[str, Any]
) -> None:
    office, place = released["office"], released["place"]
    waiting = create_trace_request(
        db_session,
        clock,
        settings,
        office_id=office.office.id,
        requested_by=office.staff,
        location_id=place.location.id,
        window_start=clock.now() - 3 * H,
        window_end=clock.now(),
        case_reference="AZ-2",
        reason="r",
    )
    with pytest.raises(PackageUnavailableError):
        download_package(db_session, clock, settings, waiting, user=office.staff)


def test_opening_gives_one_row_per_person_with_names_unchanged(
    db_session: Session, clock: Any, settings: Settings, released: dict[str, Any]
) -> None:
    office = released["office"]
    package = download_package(db_session, clock, settings, released["request"], user=office.staff)
    result = open_package(parse_package(package.content), [office.private_key])
    assert result.failures == []
    rows = visit_rows(result.visits)
    names = [(row[0], row[1], row[8], row[9]) for row in rows]
    assert names == [(1, 1, "Ada", "Lovelace"), (2, 1, "Seán", "O'Brien"), (2, 2, "李", "小龍")]
    # 11:00 UTC on 20 November is 12:00 in Berlin (CET); times are Berlin time.
    assert rows[0][3] == "2026-11-20 07:00" and rows[0][5] == "nein"
    assert rows[1][5] == "ja"  # no check-out: automatic departure
    assert rows[2][10] == "Musterweg"  # sameAddress copies the guest's address


def test_a_visit_delivered_late_is_marked_in_the_package_and_the_rows(
    db_session: Session, clock: Any, settings: Settings, released: dict[str, Any]
) -> None:
    """The server's mark reaches the office; a timely record carries no member at all,
    so packages without late deliveries read as before in older readers."""
    office = released["office"]
    package = download_package(db_session, clock, settings, released["request"], user=office.staff)
    records = _body(package.content)["records"]
    assert records[0]["deliveredLate"] is True
    assert "deliveredLate" not in records[1]
    parsed = parse_package(package.content)
    assert [record.delivered_late for record in parsed.records] == [True, False]
    rows = visit_rows(open_package(parsed, [office.private_key]).visits)
    assert [(row[0], row[-1]) for row in rows] == [(1, "ja"), (2, "nein"), (2, "nein")]


def _body(data: bytes) -> dict[str, Any]:
    return json.loads(data.split(b"\n", 1)[1])  # type: ignore[no-any-return]


def test_truncated_and_altered_packages_are_refused_with_their_reason(
    db_session: Session, clock: Any, settings: Settings, released: dict[str, Any]
) -> None:
    data = download_package(
        db_session, clock, settings, released["request"], user=released["office"].staff
    ).content
    cases = {
        "truncated": data[: len(data) - 10],
        "integrity": data.replace(b'"AZ-1"', b'"AZ-9"'),
        "not_a_package": b"Name;Vorname\nMustermann;Erika\n",
        "unsupported_version": data.replace(b'"version":1', b'"version":2', 1),
    }
    for kind, damaged in cases.items():
        with pytest.raises(PackageFormatError) as caught:
            parse_package(damaged)
        assert caught.value.kind == kind
        assert str(caught.value)


def test_damaged_records_are_listed_and_the_rest_still_opens(
    db_session: Session, clock: Any, settings: Settings, released: dict[str, Any], make_office: Any
) -> None:
    office = released["office"]
    data = download_package(
        db_session, clock, settings, released["request"], user=office.staff
    ).content
    body = _body(data)
    good = body["records"][1]
    envelope = bytearray(crypto.decode_envelope(body["records"][0]["envelope"]))
    envelope[-1] ^= 1
    stranger = make_office("Fremdes Amt", "30159")
    foreign = factories.build_checkin(
        released["place"].areas[0],
        stranger.key,
        arrival=clock.now() - 3 * H,
    )
    body["records"] = [
        {**body["records"][0], "envelope": crypto.encode_envelope(bytes(envelope))},
        good,
        {**good, "envelope": crypto.encode_envelope(foreign.envelope)},
        {**good, "area": "another-area"},
        {**good, "arrival": "yesterday"},
        {"area": 1},
    ]
    content = json.dumps(body, ensure_ascii=False).encode()
    parsed = parse_package(frame(content)[0])
    result = open_package(parsed, [office.private_key])
    assert [visit.number for visit in result.visits] == [2]
    assert [(failure.number, failure.kind) for failure in result.failures] == [
        (1, "decryption_failed"),
        (3, "wrong_key"),
        (4, "decryption_failed"),
        (5, "malformed"),
        (6, "malformed"),
    ]
    assert "visit 1" in result.failures[0].describe(parsed)


def test_only_a_download_reads_the_package_content(
    db_session: Session,
    clock: Any,
    settings: Settings,
    released: dict[str, Any],
    executed: list[tuple[str, Any]],
) -> None:
    """The request's page and the maintenance run ask after the package's dates and
    counts: a busy location's package content (tens of megabytes) stays in the database."""
    office, trace_request = released["office"], released["request"]
    built = download_package(db_session, clock, settings, trace_request, user=office.staff)
    content = built.content
    db_session.expunge(built)
    executed.clear()
    package = current_package(db_session, trace_request)
    assert package is not None and package.id == built.id
    assert "content" not in inspect(package).dict
    assert not [s for s, _ in executed if "export_packages.content" in s]
    db_session.expunge(package)
    again = download_package(db_session, clock, settings, trace_request, user=office.staff)
    assert "content" in inspect(again).dict
    assert again.content == content


@pytest.mark.postgres
def test_envelopes_and_packages_cross_from_postgresql_in_binary(
    db_session: Session,
    clock: Any,
    settings: Settings,
    released: dict[str, Any],
    executed: list[tuple[str, Any]],
) -> None:
    """A busy location's envelopes and its package are tens of megabytes: read as bytes,
    not as twice as many hex digits."""
    office, trace_request = released["office"], released["request"]

    def formats(column: str) -> list[Any]:
        return [f for s, f in executed if s.lstrip().startswith("SELECT") and column in s]

    package = download_package(db_session, clock, settings, trace_request, user=office.staff)
    assert formats("export_packages.content") == [pq.Format.BINARY]
    executed.clear()
    built = build_export_package(db_session, clock, settings, trace_request)
    assert formats("checkins.envelope") == [pq.Format.BINARY]
    for data in (package.content, built.content):
        assert [record.envelope for record in parse_package(data).records] == [
            crypto.encode_envelope(checkin.envelope) for checkin in released["inside"]
        ]
