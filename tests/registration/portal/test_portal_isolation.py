"""No business can see or change another business's objects, through any portal route."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from registration.models import Role, StaffInvitation, TraceRequest, User
from tests import factories
from tests.forms import log_in
from tests.registration.portal.portal_helpers import Tenant


def _portal_rules(app: Flask) -> list[tuple[str, str, frozenset[str]]]:
    rules = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/portal/") and rule.arguments:
            methods = frozenset(rule.methods or ()) - {"HEAD", "OPTIONS"}
            rules.append((rule.endpoint, rule.rule, methods))
    return sorted(rules)


def test_every_portal_route_with_an_id_refuses_another_business(
    app: Flask,
    make_tenant: Callable[..., Tenant],
    make_trace_request: Callable[..., TraceRequest],
    db_session: Session,
    clock,  # type: ignore[no-untyped-def]
) -> None:
    victim = make_tenant("Victim")
    staff_member = factories.user(
        db_session,
        role=Role.BUSINESS_STAFF,
        business=victim.business,
        email="staff-of-victim@example.org",
        verified=False,
    )
    invitation = StaffInvitation(
        business_id=victim.business.id,
        email="invited@example.org",
        token_hash=b"\x01" * 32,
        expires_at=clock.now() + dt.timedelta(days=3),
    )
    db_session.add(invitation)
    db_session.commit()
    trace_request = make_trace_request(victim.location)
    ids = {
        "location_id": victim.location.id,
        "area_id": victim.area.id,
        "request_id": trace_request.id,
        "user_id": staff_member.id,
        "invitation_id": invitation.id,
    }
    attacker = make_tenant("Attacker")
    client = app.test_client()
    log_in(client, attacker.owner.email)
    token = (
        client.get("/portal/staff")
        .text.split('name="csrf_token" type="hidden" value="')[1]
        .split('"')[0]
    )

    rules = _portal_rules(app)
    assert len(rules) >= 15
    checked = 0
    for endpoint, rule, methods in rules:
        path = rule
        for name in ("location_id", "area_id", "request_id", "user_id", "invitation_id"):
            path = path.replace(f"<int:{name}>", str(ids[name]))
        assert "<" not in path, f"{endpoint}: unknown argument in {rule}"
        for method in sorted(methods):
            response = client.open(
                path,
                method=method,
                data={"csrf_token": token, "confirm": "y", "areas": "Hacked 1-3", "name": "x"},
                headers={"Accept": "text/html"},
            )
            assert response.status_code in (403, 404), (method, path, response.status_code)
            checked += 1
        for method in sorted(methods & {"GET"}):
            as_json = client.open(path, method=method, headers={"Accept": "application/json"})
            assert as_json.status_code in (403, 404)
    assert checked >= 20

    db_session.expire_all()
    assert victim.location.archived_at is None
    assert [area.name for area in victim.location.areas] == ["Tisch 1"]
    assert db_session.get(User, staff_member.id) is not None
    assert db_session.get(StaffInvitation, invitation.id) is not None
    assert db_session.get(TraceRequest, trace_request.id).state.value == "requested"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "path",
    [
        "/portal/locations/new",
        "/portal/staff",
        "/portal/requests",
        "/portal/audit",
        "/portal/locations/{location}/edit",
    ],
)
def test_staff_cannot_open_owner_pages(
    app: Flask, make_tenant: Callable[..., Tenant], path: str
) -> None:
    tenant = make_tenant("Staffed", staff=True)
    client = app.test_client()
    log_in(client, tenant.owner.email)
    assert client.get(path.format(location=tenant.location.id)).status_code == 403
    assert client.get(f"/portal/locations/{tenant.location.id}/live").status_code == 200


def test_anonymous_callers_go_to_the_login_page_or_get_401_json(
    client,
    make_tenant: Callable[..., Tenant],  # type: ignore[no-untyped-def]
) -> None:
    tenant = make_tenant()
    page = client.get(f"/portal/locations/{tenant.location.id}/live")
    assert page.status_code == 303 and "/konto/login" in page.location
    api = client.get(
        f"/portal/locations/{tenant.location.id}/live.json", headers={"Accept": "application/json"}
    )
    assert api.status_code == 401
    assert api.get_json()["error"]["code"] == "unauthorized"
