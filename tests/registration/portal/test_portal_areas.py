"""Archiving an area is confirmed first (its posters stop working) and can be undone."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.checkin.lookup import GUEST_PAGE_STALENESS
from registration.clock import FrozenClock
from registration.models import AuditEvent
from tests.forms import csrf_token, log_in
from tests.registration.portal.portal_helpers import Tenant


def _poster_works(app: Flask, code: str) -> bool:
    """What a guest scanning the printed poster sees: the check-in page or not, once
    the page's kept copy of its area is GUEST_PAGE_STALENESS old."""
    clock: FrozenClock = app.extensions["gastregister.clock"]
    clock.advance(GUEST_PAGE_STALENESS)
    return app.test_client().get(f"/c/{code}").status_code == 200


def test_archiving_an_area_asks_first_and_restoring_it_makes_its_posters_work_again(
    app: Flask, owner_client: tuple[FlaskClient, Tenant], db_session: Session
) -> None:
    client, tenant = owner_client
    area = tenant.area
    assert _poster_works(app, area.code)
    page = client.get(f"/portal/locations/{tenant.location.id}").text
    # No one-click archive form on the location page: a link to the confirmation.
    assert f"/portal/areas/{area.id}/archive" in page
    assert f'action="/portal/areas/{area.id}/archive"' not in page

    confirm = client.get(f"/portal/areas/{area.id}/archive")
    assert confirm.status_code == 200
    assert "Aushänge und Tischaufsteller dieses Bereichs funktionieren nicht mehr" in confirm.text
    token = csrf_token(confirm.text)
    assert (
        client.post(f"/portal/areas/{area.id}/archive", data={"csrf_token": token}).status_code
        == 303
    )
    db_session.expire_all()
    assert area.archived_at is not None
    assert not _poster_works(app, area.code)

    page = client.get(f"/portal/locations/{tenant.location.id}").text
    assert "Archivierte Bereiche" in page and f"/portal/areas/{area.id}/restore" in page
    assert client.get(f"/portal/areas/{area.id}/archive").status_code == 303

    restored = client.post(f"/portal/areas/{area.id}/restore", data={"csrf_token": token})
    assert restored.status_code == 303
    db_session.expire_all()
    assert area.archived_at is None
    assert _poster_works(app, area.code)
    actions = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.location_id == tenant.location.id)
    ).all()
    assert actions[-2:] == ["area.archived", "area.restored"]
    audit = client.get("/portal/audit").text
    assert "Einen Bereich wiederhergestellt; seine Aushänge funktionieren wieder." in audit


def test_an_area_does_not_come_back_beside_an_active_one_of_the_same_name(
    owner_client: tuple[FlaskClient, Tenant], db_session: Session
) -> None:
    client, tenant = owner_client
    area = tenant.area
    token = csrf_token(client.get(f"/portal/areas/{area.id}/archive").text)
    client.post(f"/portal/areas/{area.id}/archive", data={"csrf_token": token})
    client.post(
        f"/portal/locations/{tenant.location.id}/areas",
        data={"csrf_token": token, "areas": area.name},
    )
    refused = client.post(
        f"/portal/areas/{area.id}/restore", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Ein aktiver Bereich heißt bereits" in refused.text
    db_session.expire_all()
    assert area.archived_at is not None


def test_staff_and_other_businesses_cannot_archive_or_restore(
    app: Flask,
    owner_client: tuple[FlaskClient, Tenant],
    make_tenant: Callable[..., Tenant],
) -> None:
    client, tenant = owner_client
    other = make_tenant("Beta")
    assert client.get(f"/portal/areas/{other.area.id}/archive").status_code == 404
    token = csrf_token(client.get(f"/portal/areas/{tenant.area.id}/archive").text)
    assert (
        client.post(
            f"/portal/areas/{other.area.id}/restore", data={"csrf_token": token}
        ).status_code
        == 404
    )
    staff = make_tenant("Gamma", staff=True)
    staff_client = app.test_client()
    log_in(staff_client, staff.owner.email)
    assert staff_client.get(f"/portal/areas/{staff.area.id}/archive").status_code == 403
