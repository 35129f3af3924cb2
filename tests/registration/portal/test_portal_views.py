"""The owner's and staff's everyday work in the portal, through its pages."""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

import pypdf
import pytest
import zxingcpp
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import crypto
from registration import audit, offices
from registration.audit import all_events, verify_chain
from registration.clock import FrozenClock
from registration.models import (
    Area,
    AuditEvent,
    CheckIn,
    CheckInSource,
    HealthOffice,
    Location,
    Role,
    StaffInvitation,
    TraceRequest,
    TraceRequestState,
    User,
)
from registration.tracing.notices import notify_owners_of_request
from registration.tracing.release import release_trace_request
from tests import factories
from tests.factories import PASSWORD
from tests.forms import csrf_token, log_in
from tests.registration.portal.portal_helpers import OFFICE_ZIP, Tenant

LOCATION_FORM = {
    "name": "Biergarten",
    "street": "Seestraße",
    "house_number": "3",
    "zip_code": OFFICE_ZIP,
    "city": "Berlin",
    "default_stay_minutes": "120",
    "capacity": "80",
    "checkin_mode": "static",
    "areas": "Tisch 1\u201320, Terrasse",
}


def _new_location(client: FlaskClient, **changes: str):  # type: ignore[no-untyped-def]
    page = client.get("/portal/locations/new")
    token = re.search(r'name="creation_token" type="hidden" value="([^"]+)"', page.text)
    assert token
    data = {**LOCATION_FORM, **changes, "creation_token": token.group(1)}
    data["csrf_token"] = csrf_token(page.text)
    return client.post("/portal/locations/new", data=data), data


def test_create_location_with_bulk_areas_and_a_double_click(
    owner_client: tuple[FlaskClient, Tenant], db_session: Session, office: HealthOffice
) -> None:
    client, tenant = owner_client
    first, data = _new_location(client)
    assert first.status_code == 303
    again = client.post("/portal/locations/new", data=data)  # the double click
    assert again.status_code == 303 and again.location == first.location
    locations = db_session.scalars(
        select(Location).where(
            Location.business_id == tenant.business.id, Location.name == "Biergarten"
        )
    ).all()
    assert len(locations) == 1
    location = locations[0]
    assert location.health_office_id == office.id
    assert [area.name for area in location.areas] == [f"Tisch {n}" for n in range(1, 21)] + [
        "Terrasse"
    ]
    assert len({area.code for area in location.areas}) == 21

    page = client.get(urlsplit(first.location).path)
    assert "Tisch 20" in page.text and office.name in page.text
    token = csrf_token(page.text)
    for _click in range(2):
        response = client.post(
            f"/portal/locations/{location.id}/areas",
            data={"csrf_token": token, "areas": "Tisch 19-22\nBar"},
        )
        assert response.status_code == 303
    db_session.expire_all()
    names = [area.name for area in location.areas]
    assert names.count("Tisch 21") == 1 and names.count("Bar") == 1 and len(names) == 24


def test_a_new_location_without_areas_gets_one_and_unknown_postal_code_is_said_clearly(
    owner_client: tuple[FlaskClient, Tenant], db_session: Session
) -> None:
    client, _tenant = owner_client
    response, _data = _new_location(client, areas="", zip_code="01067")
    assert response.status_code == 303
    location_id = int(urlsplit(response.location).path.rsplit("/", 1)[1])
    location = db_session.get(Location, location_id)
    assert location is not None and location.health_office_id is None
    assert [area.name for area in location.areas] == ["Hauptbereich"]
    page = client.get(f"/portal/locations/{location_id}")
    assert "Für die Postleitzahl 01067 ist noch kein Gesundheitsamt eingetragen" in page.text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("zip_code", "1234", "fünf Ziffern"),
        ("default_stay_minutes", "5", "Zwischen 15 und 1440 Minuten"),
        ("capacity", "0", "Zwischen 1 und 100000"),
        ("name", "", "Bitte geben Sie einen Namen"),
        ("areas", "Tisch 9-3", "muss der Bereich aufwärts zählen"),
    ],
)
def test_location_form_validation(
    owner_client: tuple[FlaskClient, Tenant], field: str, value: str, message: str
) -> None:
    client, _tenant = owner_client
    response, _data = _new_location(client, **{field: value})
    assert response.status_code == 422
    assert message in response.text


def test_edit_location_moves_it_to_the_office_of_the_new_postal_code(
    owner_client: tuple[FlaskClient, Tenant], db_session: Session
) -> None:
    client, tenant = owner_client
    page = client.get(f"/portal/locations/{tenant.location.id}/edit")
    data = {**LOCATION_FORM, "zip_code": "99999", "csrf_token": csrf_token(page.text)}
    del data["areas"]
    response = client.post(f"/portal/locations/{tenant.location.id}/edit", data=data)
    assert response.status_code == 303
    db_session.expire_all()
    assert tenant.location.zip_code == "99999" and tenant.location.health_office_id is None


def test_archive_and_restore_location(
    owner_client: tuple[FlaskClient, Tenant], db_session: Session
) -> None:
    client, tenant = owner_client
    token = csrf_token(client.get(f"/portal/locations/{tenant.location.id}").text)
    client.post(f"/portal/locations/{tenant.location.id}/archive", data={"csrf_token": token})
    db_session.expire_all()
    assert tenant.location.archived_at is not None
    assert "Biergarten" not in client.get("/portal/").text
    client.post(f"/portal/locations/{tenant.location.id}/restore", data={"csrf_token": token})
    db_session.expire_all()
    assert tenant.location.archived_at is None


def _qr_texts_in_pdf(data: bytes) -> list[list[str]]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return [
        [result.text for image in page.images for result in zxingcpp.read_barcodes(image.image)]
        for page in reader.pages
    ]


@pytest.mark.parametrize("poster_format", ["a4", "a6"])
def test_location_posters_hold_one_readable_qr_code_per_area(
    owner_client: tuple[FlaskClient, Tenant], db_session: Session, poster_format: str
) -> None:
    client, tenant = owner_client
    db_session.add(Area(location_id=tenant.location.id, name="Terrasse", sort_key=2))
    db_session.commit()
    response = client.get(
        f"/portal/locations/{tenant.location.id}/posters.pdf?format={poster_format}"
    )
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    db_session.expire_all()
    expected = [[f"http://127.0.0.1:5000/c/{area.code}"] for area in tenant.location.areas]
    assert _qr_texts_in_pdf(response.data) == expected
    text = pypdf.PdfReader(io.BytesIO(response.data)).pages[0].extract_text()
    assert "Tisch 1" in text and tenant.business.name in text
    office = tenant.location.health_office
    assert office is not None
    short = crypto.format_short_fingerprint(bytes.fromhex(office.keys[0].key_id))
    for page in pypdf.PdfReader(io.BytesIO(response.data)).pages:
        assert short in page.extract_text()


def test_qr_code_as_svg_and_png(owner_client: tuple[FlaskClient, Tenant]) -> None:
    client, tenant = owner_client
    svg = client.get(f"/portal/areas/{tenant.area.id}/qr.svg")
    assert svg.mimetype == "image/svg+xml" and svg.data.lstrip().startswith(b"<?xml")
    png = client.get(f"/portal/areas/{tenant.area.id}/qr.png")
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))
    assert [r.text for r in results] == [f"http://127.0.0.1:5000/c/{tenant.area.code}"]


def _check_in(db_session: Session, tenant: Tenant, clock: FrozenClock, persons: int) -> None:
    """A guest (with company) who arrived half an hour ago and is still there."""
    now = clock.now()
    office = tenant.location.health_office
    assert office is not None
    factories.checkin(
        db_session,
        tenant.area,
        office.keys[0],
        arrival=now - dt.timedelta(minutes=30),
        stay=dt.timedelta(hours=2, minutes=30),
        persons=persons,
    )
    db_session.commit()


def test_live_view_counts_persons_and_check_out_everyone(
    owner_client: tuple[FlaskClient, Tenant], db_session: Session, clock: FrozenClock
) -> None:
    client, tenant = owner_client
    _check_in(db_session, tenant, clock, 3)
    _check_in(db_session, tenant, clock, 1)
    counts = client.get(f"/portal/locations/{tenant.location.id}/live.json").get_json()
    assert counts["present"] == 4 and counts["todayCheckins"] == 2 and counts["capacity"] == 40
    assert counts["areas"] == [{"id": tenant.area.id, "name": "Tisch 1", "present": 4}]
    assert set(counts) == {
        "present",
        "capacity",
        "percentOfCapacity",
        "todayCheckins",
        "todayPersons",
        "areas",
        "asOf",
    }
    page = client.get(f"/portal/locations/{tenant.location.id}/live")
    assert 'data-live="present">4<' in page.text
    assert "<script>" not in page.text and "style=" not in page.text

    unconfirmed = client.post(
        f"/portal/locations/{tenant.location.id}/checkout-all",
        data={"csrf_token": csrf_token(page.text)},
    )
    assert unconfirmed.status_code == 303
    assert (
        client.get(f"/portal/locations/{tenant.location.id}/live.json").get_json()["present"] == 4
    )
    for _click in range(2):
        client.post(
            f"/portal/locations/{tenant.location.id}/checkout-all",
            data={"csrf_token": csrf_token(page.text), "confirm": "y"},
        )
    counts = client.get(f"/portal/locations/{tenant.location.id}/live.json").get_json()
    assert counts["present"] == 0 and counts["todayCheckins"] == 2


def test_staff_invitation_accept_and_remove(
    owner_client: tuple[FlaskClient, Tenant],
    app: Flask,
    db_session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, tenant = owner_client
    mails: list[tuple[str, str]] = []
    import registration.accounts.services as account_services

    monkeypatch.setattr(
        account_services, "send_mail", lambda settings, to, subject, body: mails.append((to, body))
    )
    token = csrf_token(client.get("/portal/staff").text)
    for _click in range(2):
        response = client.post(
            "/portal/staff/invite", data={"csrf_token": token, "email": "Kellner@Example.org"}
        )
        assert response.status_code == 303
    invitations = db_session.scalars(
        select(StaffInvitation).where(StaffInvitation.business_id == tenant.business.id)
    ).all()
    assert len(invitations) == 1 and len(mails) == 2
    link = re.search(r"http://127\.0\.0\.1:5000(/konto/invitation/\S+)", mails[-1][1])
    assert link
    first_link = re.search(r"http://127\.0\.0\.1:5000(/konto/invitation/\S+)", mails[0][1])
    assert first_link and app.test_client().get(first_link.group(1)).status_code == 400

    staff_client = app.test_client()
    page = staff_client.get(link.group(1))
    assert page.status_code == 200
    accepted = staff_client.post(
        link.group(1),
        data={
            "csrf_token": csrf_token(page.text),
            "display_name": "Kai",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
    )
    assert accepted.status_code == 303
    member = db_session.scalar(select(User).where(User.email == "kellner@example.org"))
    assert member is not None and member.role == Role.BUSINESS_STAFF
    assert member.business_id == tenant.business.id
    assert staff_client.get("/portal/").status_code == 200
    assert staff_client.get("/portal/staff").status_code == 403
    assert staff_client.get(link.group(1)).status_code == 400  # used

    client.post(f"/portal/staff/{member.id}/remove", data={"csrf_token": token})
    assert staff_client.get("/portal/").status_code == 303
    assert (
        client.post(
            f"/portal/staff/{tenant.owner.id}/remove", data={"csrf_token": token}
        ).status_code
        == 403
    )


def test_request_inbox_release_with_confirmation_audit_and_mail(
    owner_client: tuple[FlaskClient, Tenant],
    make_trace_request: Callable[[Location], TraceRequest],
    db_session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, tenant = owner_client
    mails: list[tuple[str, str, str]] = []
    import registration.tracing.notices as release

    monkeypatch.setattr(
        release, "send_mail", lambda s, to, subject, body: mails.append((to, subject, body))
    )
    trace_request = make_trace_request(tenant.location)
    inbox = client.get("/portal/requests")
    assert "AZ 2026-0042" in inbox.text and "Gesundheitsamt Mitte" in inbox.text
    assert "wartet auf Ihre Freigabe" in inbox.text

    page = client.get(f"/portal/requests/{trace_request.id}")
    token = csrf_token(page.text)
    refused = client.post(
        f"/portal/requests/{trace_request.id}/release", data={"csrf_token": token}
    )
    assert refused.status_code == 422
    assert "Bitte bestätigen Sie die Freigabe ausdrücklich." in refused.text
    db_session.expire_all()
    assert trace_request.state == TraceRequestState.REQUESTED

    for _click in range(2):
        done = client.post(
            f"/portal/requests/{trace_request.id}/release",
            data={"csrf_token": token, "confirm": "y"},
        )
        assert done.status_code == 303
    db_session.expire_all()
    assert trace_request.state == TraceRequestState.RELEASED
    assert trace_request.released_by_id == tenant.owner.id
    events = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "request.released")
    ).all()
    assert len(events) == 1 and events[0].trace_request_id == trace_request.id
    assert events[0].location_id == tenant.location.id
    assert [mail[0] for mail in mails] == ["amt@example.invalid"]
    assert verify_chain(all_events(db_session)).intact

    audit = client.get("/portal/audit")
    assert "Die Gästedaten für das Gesundheitsamt freigegeben." in audit.text
    assert "request.released" not in audit.text and tenant.owner.email in audit.text


def test_release_service_for_automatic_release_and_owner_notice(
    app_context: None,
    make_tenant: Callable[..., Tenant],
    make_trace_request: Callable[[Location], TraceRequest],
    db_session: Session,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from registration.session import get_settings

    mails: list[tuple[str, str, str]] = []
    import registration.tracing.notices as release

    monkeypatch.setattr(
        release, "send_mail", lambda s, to, subject, body: mails.append((to, subject, body))
    )
    tenant = make_tenant("Notice")
    trace_request = make_trace_request(tenant.location)
    assert notify_owners_of_request(db_session, get_settings(), trace_request) == 1
    assert mails[0][0] == tenant.owner.email
    assert f"/portal/requests/{trace_request.id}" in mails[0][2]
    assert "AZ 2026-0042" in mails[0][2]

    release_trace_request(
        db_session, clock, get_settings(), trace_request, released_by=None, automatic=True
    )
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "request.released"))
    assert (
        event is not None and event.actor_user_id is None and event.details == {"automatic": True}
    )
    assert trace_request.released_at == clock.now()
    from registration.tracing.errors import ReleaseNotPossibleError

    with pytest.raises(ReleaseNotPossibleError):
        release_trace_request(db_session, clock, get_settings(), trace_request, released_by=None)


def _local(moment: dt.datetime) -> str:
    from registration.clock import to_berlin

    return to_berlin(moment).strftime("%Y-%m-%dT%H:%M")


def test_staff_entry_stores_a_sealed_record_with_times(
    app: Flask,
    make_tenant: Callable[..., Tenant],
    office: HealthOffice,
    db_session: Session,
    clock: FrozenClock,
) -> None:
    tenant = make_tenant("Paper", staff=True)
    client = app.test_client()
    log_in(client, tenant.owner.email)
    page = client.get(f"/portal/locations/{tenant.location.id}/staff-entry")
    assert page.status_code == 200
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert token
    key = office.keys[0]
    envelope = crypto.seal_contact_record(
        key.public_spki,
        {
            "v": 1,
            "firstName": "Erika",
            "lastName": "Mustermann",
            "street": "Hauptstr.",
            "houseNumber": "5",
            "zipCode": "10115",
            "city": "Berlin",
            "phone": "0301234567",
            "email": "",
            "additionalPersons": [],
            "note": "",
        },
        location_code=tenant.location.code,
        area_code=tenant.area.code,
    )
    arrival = clock.now() - dt.timedelta(hours=3)
    body = {
        "areaId": tenant.area.id,
        "envelope": crypto.encode_envelope(envelope),
        "persons": 1,
        "arrival": _local(arrival),
        "departure": _local(arrival + dt.timedelta(hours=2)),
        "idempotencyKey": uuid.uuid4().hex,
    }
    headers = {"X-CSRFToken": token.group(1), "Accept": "application/json"}
    url = f"/portal/locations/{tenant.location.id}/staff-entry"
    assert client.post(url, json=body).status_code == 400  # no CSRF token
    first = client.post(url, json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = client.post(url, json=body, headers=headers)
    assert again.status_code == 200
    stored = db_session.scalars(
        select(CheckIn).where(CheckIn.location_id == tenant.location.id)
    ).all()
    assert len(stored) == 1
    assert stored[0].source == CheckInSource.STAFF_ENTRY
    assert stored[0].arrival == arrival.replace(second=0, microsecond=0)
    assert stored[0].departure == stored[0].arrival + dt.timedelta(hours=2)
    assert b"Mustermann" not in stored[0].envelope


def test_a_staff_entry_is_stored_only_together_with_its_audit_event(
    app: Flask,
    make_tenant: Callable[..., Tenant],
    office: HealthOffice,
    db_session: Session,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant = make_tenant("Paper", staff=True)
    client = app.test_client()
    log_in(client, tenant.owner.email)
    page = client.get(f"/portal/locations/{tenant.location.id}/staff-entry")
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert token
    envelope = crypto.seal_contact_record(
        office.keys[0].public_spki,
        factories.contact_record(),
        location_code=tenant.location.code,
        area_code=tenant.area.code,
    )
    arrival = clock.now() - dt.timedelta(hours=3)

    def audit_log_fails(*args: object, **kwargs: object) -> str:
        raise RuntimeError("the audit log cannot be written")

    monkeypatch.setattr(audit, "_entry_hash", audit_log_fails)
    response = client.post(
        f"/portal/locations/{tenant.location.id}/staff-entry",
        json={
            "areaId": tenant.area.id,
            "envelope": crypto.encode_envelope(envelope),
            "persons": 1,
            "arrival": _local(arrival),
            "departure": _local(arrival + dt.timedelta(hours=2)),
            "idempotencyKey": uuid.uuid4().hex,
        },
        headers={"X-CSRFToken": token.group(1), "Accept": "application/json"},
    )
    assert response.status_code == 500
    db_session.expire_all()
    stored = db_session.scalar(
        select(func.count(CheckIn.id)).where(CheckIn.location_id == tenant.location.id)
    )
    assert stored == 0


@pytest.mark.parametrize(
    ("arrival_offset", "departure_offset", "field"),
    [
        (dt.timedelta(hours=1), None, "arrival"),
        (-dt.timedelta(days=29), None, "arrival"),
        (-dt.timedelta(hours=2), -dt.timedelta(hours=3), "departure"),
        (-dt.timedelta(hours=2), -dt.timedelta(hours=2), "departure"),
    ],
)
def test_staff_entry_refuses_implausible_times(
    owner_client: tuple[FlaskClient, Tenant],
    clock: FrozenClock,
    arrival_offset: dt.timedelta,
    departure_offset: dt.timedelta | None,
    field: str,
) -> None:
    client, tenant = owner_client
    page = client.get(f"/portal/locations/{tenant.location.id}/staff-entry")
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert token
    response = client.post(
        f"/portal/locations/{tenant.location.id}/staff-entry",
        json={
            "areaId": tenant.area.id,
            "envelope": "AAAA",
            "persons": 1,
            "arrival": _local(clock.now() + arrival_offset),
            "departure": _local(clock.now() + departure_offset) if departure_offset else None,
            "idempotencyKey": uuid.uuid4().hex,
        },
        headers={"X-CSRFToken": token.group(1), "Accept": "application/json"},
    )
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {field}


def test_dashboard_shows_waiting_requests_only_to_owners(
    owner_client: tuple[FlaskClient, Tenant],
    make_trace_request: Callable[[Location], TraceRequest],
) -> None:
    client, tenant = owner_client
    make_trace_request(tenant.location)
    assert (
        "Anfragen des Gesundheitsamts, die auf Ihre Freigabe warten: 1"
        in client.get("/portal/").text
    )


def test_database_holds_no_duplicate_location_codes(db_session: Session) -> None:
    duplicates = db_session.scalar(
        select(func.count()).select_from(
            select(Location.code).group_by(Location.code).having(func.count() > 1).subquery()
        )
    )
    assert duplicates == 0


def test_a_postal_code_change_is_audited_and_shown_on_the_location_page(
    owner_client: tuple[FlaskClient, Tenant], db_session: Session, office: HealthOffice
) -> None:
    """Only visits from the change on are sealed for the new office; the owner is told so."""
    client, tenant = owner_client
    factories.health_office(db_session, name="Gesundheitsamt Nord", postal_codes=["20095"])
    db_session.commit()
    page = client.get(f"/portal/locations/{tenant.location.id}/edit")
    data = {**LOCATION_FORM, "zip_code": "20095", "csrf_token": csrf_token(page.text)}
    del data["areas"]
    response = client.post(f"/portal/locations/{tenant.location.id}/edit", data=data)
    assert response.status_code == 303
    event = db_session.scalar(
        select(AuditEvent).where(AuditEvent.action == "location.office_changed")
    )
    assert event is not None and event.location_id == tenant.location.id
    assert event.details["from_office"] == "Gesundheitsamt Mitte"
    assert event.details["to_office"] == "Gesundheitsamt Nord"
    assert (event.details["from_zip"], event.details["to_zip"]) == (OFFICE_ZIP, "20095")
    shown = client.get(response.headers["Location"], headers={"Accept-Language": "de"}).text
    assert "Gesundheitsamt Mitte" in shown and "Gesundheitsamt Nord" in shown
    assert "frühere Check-ins bleiben bei Gesundheitsamt Mitte" in shown


@pytest.mark.parametrize(
    "typed", ["\uff11\uff10\uff11\uff11\uff15", " 10115 ", "\u0661\u0660\u0661\u0661\u0665"]
)
def test_postal_codes_are_read_in_one_form_or_refused(
    owner_client: tuple[FlaskClient, Tenant], db_session: Session, office: HealthOffice, typed: str
) -> None:
    """Fullwidth digits passed the form's \\d and matched no office: the location was
    silently detached from its health office. NFKC makes them ASCII; other scripts'
    digits are refused."""
    client, _tenant = owner_client
    response, _data = _new_location(client, zip_code=typed, name="Neu " + str(len(typed)))
    if typed.strip().isascii() or typed[0] == "\uff11":
        assert response.status_code == 303, response.text
        created = db_session.scalar(
            select(Location).where(Location.name == "Neu " + str(len(typed)))
        )
        assert created is not None
        assert (created.zip_code, created.health_office_id) == ("10115", office.id)
    else:
        assert response.status_code == 422
        assert "fünf Ziffern" in response.text


def test_operators_postal_codes_are_read_in_the_same_form(
    db_session: Session, clock: FrozenClock
) -> None:
    office = factories.health_office(db_session, name="Gesundheitsamt Süd", postal_codes=[])
    db_session.commit()
    added = offices.add_postal_codes(
        db_session, clock, office, ["\uff18\uff10\uff13\uff13\uff11", " 80332"], actor_label="test"
    )
    assert (added.added, added.already_there) == (2, 0)
    assert offices.office_for_postal_code(db_session, "\uff18\uff10\uff13\uff13\uff11") == office
    with pytest.raises(offices.InvalidPostalCodesError):
        offices.add_postal_codes(
            db_session, clock, office, ["\u0668\u0660\u0663\u0663\u0663"], actor_label="test"
        )
