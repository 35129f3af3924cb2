"""Rotating mode on the location page: the entrance screen's link, its renewal, the
setup hint, and the entrance sign that replaces the table posters."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pypdf
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.models import AuditEvent, CheckInMode
from tests.forms import csrf_token, log_in
from tests.registration.portal.portal_helpers import Tenant


def _rotating(db_session: Session, tenant: Tenant) -> None:
    tenant.location.checkin_mode = CheckInMode.ROTATING
    db_session.commit()


def test_location_page_links_the_entrance_screen_in_rotating_mode(
    owner_client: tuple[FlaskClient, Tenant], db_session: Session
) -> None:
    client, tenant = owner_client
    _rotating(db_session, tenant)
    page = client.get(f"/portal/locations/{tenant.location.id}").text
    link = f"http://127.0.0.1:5000/display/{tenant.location.display_secret}"
    assert f'href="{link}"' in page
    assert client.get(f"/display/{tenant.location.display_secret}").status_code == 200
    assert "Vollbild" in page and "wach" in page
    assert f"/portal/locations/{tenant.location.id}/entrance-sign.pdf" in page
    assert "posters.pdf" not in page and "/qr.png" not in page


def test_static_location_page_offers_posters_and_no_screen(
    owner_client: tuple[FlaskClient, Tenant],
) -> None:
    client, tenant = owner_client
    page = client.get(f"/portal/locations/{tenant.location.id}").text
    assert "posters.pdf" in page and "/display/" not in page


def test_renewing_the_screen_address_needs_confirmation_and_is_audited(
    owner_client: tuple[FlaskClient, Tenant], db_session: Session
) -> None:
    client, tenant = owner_client
    _rotating(db_session, tenant)
    old = tenant.location.display_secret
    url = f"/portal/locations/{tenant.location.id}"
    token = csrf_token(client.get(url).text)
    unconfirmed = client.post(f"{url}/display/renew", data={"csrf_token": token})
    assert unconfirmed.status_code == 303
    db_session.expire_all()
    assert tenant.location.display_secret == old

    client.post(f"{url}/display/renew", data={"csrf_token": token, "confirm": "y"})
    db_session.expire_all()
    new = tenant.location.display_secret
    assert new != old
    assert client.get(f"/display/{old}").status_code == 404
    assert client.get(f"/display/{new}").status_code == 200
    assert f"/display/{new}" in client.get(url).text
    actions = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.location_id == tenant.location.id)
    ).all()
    assert "location.display_renewed" in actions


def test_staff_see_the_screen_link_but_cannot_renew_it(
    make_tenant: Callable[..., Tenant], db_session: Session, app: Flask
) -> None:
    tenant = make_tenant("Beta", staff=True)
    _rotating(db_session, tenant)
    client = app.test_client()
    log_in(client, tenant.owner.email)
    page = client.get(f"/portal/locations/{tenant.location.id}").text
    assert f"/display/{tenant.location.display_secret}" in page and "display/renew" not in page
    response = client.post(
        f"/portal/locations/{tenant.location.id}/display/renew",
        data={"csrf_token": csrf_token(page), "confirm": "y"},
    )
    assert response.status_code == 403


def test_table_posters_of_a_rotating_location_answer_with_an_explanation(
    owner_client: tuple[FlaskClient, Tenant], db_session: Session
) -> None:
    client, tenant = owner_client
    _rotating(db_session, tenant)
    for url in (
        f"/portal/locations/{tenant.location.id}/posters.pdf?format=a4",
        f"/portal/areas/{tenant.area.id}/poster.pdf?format=a6",
        f"/portal/areas/{tenant.area.id}/qr.svg",
        f"/portal/areas/{tenant.area.id}/qr.png",
    ):
        response = client.get(url)
        assert response.status_code == 409, url
        assert response.mimetype == "text/html"
        assert "entrance-sign.pdf" in response.text and "Bildschirm" in response.text


def test_entrance_sign_explains_the_screen_and_has_no_qr_code(
    owner_client: tuple[FlaskClient, Tenant], db_session: Session
) -> None:
    client, tenant = owner_client
    _rotating(db_session, tenant)
    response = client.get(f"/portal/locations/{tenant.location.id}/entrance-sign.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(response.data))
    assert len(reader.pages) == 1
    page = reader.pages[0]
    assert [round(float(v)) for v in page.mediabox.upper_right] == [595, 842]
    assert not page.images
    text = re.sub(r"\s+", " ", page.extract_text())
    assert "Bildschirm" in text and "screen at the entrance" in text
    assert tenant.business.name in text
    assert tenant.area.code not in text and "/c/" not in text


def test_entrance_sign_of_another_business_is_not_found(
    owner_client: tuple[FlaskClient, Tenant], make_tenant: Callable[..., Tenant]
) -> None:
    client, _tenant = owner_client
    other = make_tenant("Gamma")
    assert client.get(f"/portal/locations/{other.location.id}/entrance-sign.pdf").status_code == 404
    assert client.post(f"/portal/locations/{other.location.id}/display/renew").status_code in (
        400,
        404,
    )
