"""The /amt portal: who may open what, forms, keys (four eyes), downloads, audit page."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

import crypto
from health_export.export_layout import client_layout
from registration.models import (
    AuditEvent,
    HealthOfficeKey,
    KeyState,
    TraceRequest,
    TraceRequestState,
)
from tests import factories
from tests.factories import PASSWORD
from tests.health_export.office_support import released_request, sign_in

H = dt.timedelta(hours=1)


@pytest.fixture
def client(office_app: Flask) -> FlaskClient:
    return office_app.test_client()


@pytest.fixture
def world(
    db_session: Session, clock: Any, settings: Any, app: Flask, make_office: Any, make_location: Any
) -> dict[str, Any]:
    """Office A with a released request and a pending key; office B next door."""
    a = make_office("Amt A", "10115")
    b = make_office("Amt B", "20095")
    place = make_location(a.office, name="Café A")
    factories.checkin(db_session, place.areas[0], a.key, arrival=clock.now() - 3 * H)
    key, _private_key = factories.office_key(
        db_session,
        a.office,
        state=KeyState.PENDING,
        activated_at=None,
        registered_by_id=a.admin.id,
    )
    db_session.commit()
    with app.test_request_context("/amt/"):
        trace_request = released_request(
            db_session,
            clock,
            settings,
            a,
            place,
            window=(clock.now() - 4 * H, clock.now() - H),
            case_reference="GEHEIM-A-4711",
            reason="Ausbruch A",
        )
    return {"a": a, "b": b, "place": place, "request": trace_request, "pending_key": key}


# Every /amt rule, with how a second office must see it. A new route fails this test
# until it is listed here, so nobody forgets to think about access.
OBJECT_ROUTES = {
    "office.request_detail": "GET",
    "office.abort_request": "POST",
    "office.close_request": "POST",
    "office.answer_request": "POST",
    "office.download": "GET",
    "office.decrypt_request": "GET",
    "office.confirm_key": "POST",
    "office.discard_key": "POST",
}
PLAIN_ROUTES = {
    "office.dashboard",
    "office.locations",
    "office.decrypt_any",
    "office.keys",
    "office.new_key",
    "office.audit_log",
    "office.new_request",
    "office.create_request",
    "office.register_key",
}


def _object_url(endpoint: str, world: dict[str, Any]) -> str:
    from flask import url_for

    if "key" in endpoint:
        return url_for(endpoint, key_pk=world["pending_key"].id)
    return url_for(endpoint, request_id=world["request"].id)


def test_a_second_office_gets_404_for_every_object_of_the_first(
    client: FlaskClient, office_app: Flask, world: dict[str, Any], clock: Any, db_session: Session
) -> None:
    rules = {
        rule.endpoint for rule in office_app.url_map.iter_rules() if rule.rule.startswith("/amt")
    }
    assert rules == set(OBJECT_ROUTES) | PLAIN_ROUTES, "classify new /amt routes here"
    sign_in(client, world["b"].admin, clock)
    with office_app.test_request_context():
        urls = {endpoint: _object_url(endpoint, world) for endpoint in OBJECT_ROUTES}
    for endpoint, method in OBJECT_ROUTES.items():
        response = client.open(urls[endpoint], method=method)
        assert response.status_code == 404, endpoint
    place = world["place"].location
    assert client.get(f"/amt/requests/new?location={place.id}").status_code == 404
    assert (
        client.post(
            "/amt/requests",
            data={
                "location_id": place.id,
                "window_start": "2026-11-20T08:00",
                "window_end": "2026-11-20T09:00",
                "case_reference": "X",
                "reason": "Y",
            },
        ).status_code
        == 404
    )
    for path in ("/amt/", "/amt/keys", "/amt/audit", "/amt/locations?q=Caf"):
        page = client.get(path)
        assert page.status_code == 200, path
        body = page.get_data(as_text=True)
        assert "GEHEIM-A-4711" not in body and "Café A" not in body, path
    db_session.expire_all()
    assert world["request"].state is TraceRequestState.RELEASED
    assert world["pending_key"].state is KeyState.PENDING
    refused = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "office.request.refused")
    ).all()
    assert {event.health_office_id for event in refused} == {world["b"].office.id}
    assert len(refused) == 2


def test_anonymous_and_business_users_cannot_enter(
    client: FlaskClient, world: dict[str, Any], clock: Any, db_session: Session
) -> None:
    anonymous = client.get("/amt/")
    assert anonymous.status_code in (302, 303, 401) and "/konto/login" in anonymous.headers.get(
        "Location", "/konto/login"
    )
    assert client.get(f"/amt/requests/{world['request'].id}/package").status_code in (302, 303, 401)
    sign_in(client, world["place"].owner, clock)
    assert client.get("/amt/").status_code == 403
    staff = world["a"].staff
    staff.totp_enabled_at = None
    db_session.commit()
    other = client.application.test_client()
    sign_in(other, staff, clock)
    assert other.get("/amt/").status_code == 403


def test_log_in_with_password_and_totp_then_the_portal_opens(
    client: FlaskClient, world: dict[str, Any], clock: Any
) -> None:
    office = world["a"]
    response = client.post("/konto/login", data={"email": office.staff.email, "password": PASSWORD})
    assert response.status_code == 303 and "/konto/2fa" in response.headers["Location"]
    assert client.get("/amt/").status_code in (302, 303)  # password alone is not enough
    code = pyotp.TOTP(office.totp_secret).at(clock.now())
    response = client.post("/konto/2fa", data={"code": code})
    assert response.status_code == 303
    page = client.get("/amt/")
    assert page.status_code == 200 and "GEHEIM-A-4711" in page.get_data(as_text=True)


def test_request_form_creates_a_request_and_explains_errors(
    client: FlaskClient, world: dict[str, Any], clock: Any, db_session: Session
) -> None:
    sign_in(client, world["a"].staff, clock)
    place = world["place"].location
    found = client.get("/amt/locations?q=Café Teststadt")
    assert f"/amt/requests/new?location={place.id}" in found.get_data(as_text=True)
    form = client.get(f"/amt/requests/new?location={place.id}")
    assert form.status_code == 200 and 'name="case_reference"' in form.get_data(as_text=True)
    # 20 Nov, 12:00 Berlin = 11:00 UTC = now: a window until 13:00 lies in the future.
    bad = client.post(
        "/amt/requests",
        data={
            "location_id": place.id,
            "window_start": "2026-11-20T10:00",
            "window_end": "2026-11-20T13:00",
            "case_reference": "",
            "reason": "Grund",
        },
        headers={"Accept-Language": "en"},
    )
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "case reference" in text.lower()
    good = client.post(
        "/amt/requests",
        data={
            "location_id": place.id,
            "window_start": "2026-11-20T08:00",
            "window_end": "2026-11-20T11:30",
            "case_reference": "AZ 9",
            "reason": "Grund",
            "areas": [str(world["place"].areas[0].id)],
        },
    )
    assert good.status_code == 303
    created = db_session.scalar(select(TraceRequest).where(TraceRequest.case_reference == "AZ 9"))
    assert created is not None
    assert created.window_start == dt.datetime(2026, 11, 20, 7, 0, tzinfo=dt.UTC)
    assert [area.id for area in created.areas] == [world["place"].areas[0].id]
    detail = client.get(good.headers["Location"])
    assert detail.status_code == 200 and 'data-state="requested"' in detail.get_data(as_text=True)


def test_download_is_an_attachment_for_the_requesting_office(
    client: FlaskClient, world: dict[str, Any], clock: Any, db_session: Session
) -> None:
    sign_in(client, world["a"].staff, clock)
    response = client.get(f"/amt/requests/{world['request'].id}/package")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.data.startswith(b'{"format":"gastregister-export"')
    db_session.expire_all()
    assert world["request"].state is TraceRequestState.DOWNLOADED
    closed = client.post(f"/amt/requests/{world['request'].id}/close")
    assert closed.status_code == 303
    again = client.get(
        f"/amt/requests/{world['request'].id}/package", headers={"Accept": "application/json"}
    )
    assert again.status_code == 409 and again.json["error"]["code"] == "package_unavailable"


@pytest.mark.parametrize("path", ["/amt/decrypt", "/amt/requests/{id}/decrypt"])
def test_decryption_page_carries_the_export_layout_as_page_data(
    client: FlaskClient, world: dict[str, Any], clock: Any, path: str
) -> None:
    sign_in(client, world["a"].staff, clock)
    page = client.get(path.format(id=world["request"].id)).get_data(as_text=True)
    block = re.search(
        r'<script type="application/json" id="export-layout">(.*?)</script>', page, re.S
    )
    assert block is not None
    assert json.loads(block.group(1)) == client_layout()


def _key_form() -> tuple[dict[str, str], bytes]:
    spki = crypto.public_key_spki(crypto.generate_private_key())
    return {
        "public_key": crypto.b64url_encode(spki),
        "key_id": crypto.key_id(spki).hex(),
        "label": "Tresor",
    }, spki


def test_key_registration_checks_the_public_key(
    client: FlaskClient, world: dict[str, Any], clock: Any, db_session: Session
) -> None:
    a, b = world["a"], world["b"]
    form, _ = _key_form()
    sign_in(client, a.staff, clock)
    assert client.post("/amt/keys", data=form).status_code == 403  # admins register keys
    sign_in(client, a.admin, clock)
    headers = {"Accept-Language": "en"}
    mismatch = client.post("/amt/keys", data={**form, "key_id": "0" * 64}, headers=headers)
    assert mismatch.status_code == 422 and "does not match" in mismatch.get_data(as_text=True)
    not_p256 = client.post(
        "/amt/keys",
        data={**form, "public_key": crypto.b64url_encode(b"\x30\x03abc")},
        headers=headers,
    )
    assert not_p256.status_code == 422 and "P-256" in not_p256.get_data(as_text=True)
    foreign = {"public_key": crypto.b64url_encode(b.spki), "key_id": b.key_id}
    taken = client.post("/amt/keys", data=foreign, headers=headers)
    assert taken.status_code == 422 and "another health office" in taken.get_data(as_text=True)
    assert client.post("/amt/keys", data=form).status_code == 303
    key = db_session.scalar(select(HealthOfficeKey).where(HealthOfficeKey.key_id == form["key_id"]))
    assert key is not None and key.state is KeyState.PENDING and key.registered_by_id == a.admin.id


def test_four_eyes_then_rotation_retires_the_old_key(
    client: FlaskClient, world: dict[str, Any], clock: Any, db_session: Session
) -> None:
    a = world["a"]
    key = world["pending_key"]
    sign_in(client, a.admin, clock)  # the admin registered it
    own = client.post(f"/amt/keys/{key.id}/confirm", data={"fingerprint_checked": "yes"})
    assert own.status_code == 403
    sign_in(client, a.staff, clock)
    assert client.post(f"/amt/keys/{key.id}/confirm", data={}).status_code == 303  # box not ticked
    db_session.expire_all()
    assert key.state is KeyState.PENDING
    assert (
        client.post(f"/amt/keys/{key.id}/confirm", data={"fingerprint_checked": "yes"}).status_code
        == 303
    )
    db_session.expire_all()
    assert key.state is KeyState.ACTIVE and key.confirmed_by_id == a.staff.id
    assert a.key.state is KeyState.RETIRED and a.key.retired_at == clock.now()
    from registration.offices import active_key

    assert active_key(db_session, a.office.id).id == key.id  # type: ignore[union-attr]
    listing = client.get("/amt/keys").get_data(as_text=True)
    assert crypto.format_fingerprint(bytes.fromhex(a.key.key_id)) in listing  # still listed
    clock.advance(dt.timedelta(days=29))
    later = client.application.test_client()
    sign_in(later, a.staff, clock)
    assert crypto.format_fingerprint(bytes.fromhex(a.key.key_id)) not in later.get(
        "/amt/keys"
    ).get_data(as_text=True)
    actions = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("office.key.%"))
    ).all()
    assert actions == ["office.key.retired", "office.key.confirmed"]


def test_the_audit_page_is_for_admins_and_shows_only_the_own_office(
    client: FlaskClient, world: dict[str, Any], clock: Any
) -> None:
    sign_in(client, world["a"].staff, clock)
    assert client.get("/amt/audit").status_code == 403
    sign_in(client, world["a"].admin, clock)
    page = client.get("/amt/audit", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "The health office asked for guest data." in page
    assert "Released the guest data to the health office." in page
    assert "office.request.created" not in page and "{&#34;" not in page and '{"' not in page
    # The entries name the request by id; its case reference is kept only in the
    # request row, which retention blanks (registration.tracing.requests._audit_created).
    assert f'/amt/requests/{world["request"].id}">#{world["request"].id}<' in page
    assert "GEHEIM-A-4711" not in page
