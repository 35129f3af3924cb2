"""Names owners type, through the portal: stored by the one rule, shown and printed whole."""

from __future__ import annotations

import io
import re
from urllib.parse import urlsplit

import pypdf
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.models import Area, Location
from tests.forms import csrf_token
from tests.registration.portal.portal_helpers import OFFICE_ZIP, Tenant

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 👨‍👩‍👧‍👦
RLO = "\u202e"


def _new_location(client: FlaskClient, name: str, areas: str) -> int:
    page = client.get("/portal/locations/new")
    token = re.search(r'name="creation_token" type="hidden" value="([^"]+)"', page.text)
    assert token
    response = client.post(
        "/portal/locations/new",
        data={
            "name": name,
            "street": "Seestraße",
            "house_number": "3",
            "zip_code": OFFICE_ZIP,
            "city": "Berlin",
            "default_stay_minutes": "120",
            "capacity": "80",
            "checkin_mode": "static",
            "areas": areas,
            "creation_token": token.group(1),
            "csrf_token": csrf_token(page.text),
        },
    )
    assert response.status_code == 303, response.text
    return int(urlsplit(response.location).path.rsplit("/", 1)[1])


def _pdf_text(data: bytes) -> str:
    pages = pypdf.PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join(page.extract_text().split()) for page in pages)


def test_a_right_to_left_override_never_reaches_the_database_or_the_page(
    owner_client: tuple[FlaskClient, Tenant], db_session: Session
) -> None:
    client, _tenant = owner_client
    location_id = _new_location(client, f"Bier{RLO}garten  Nord", f"Tisch{RLO} 1")
    location = db_session.get(Location, location_id)
    assert location is not None
    assert location.name == "Biergarten Nord"
    assert [area.name for area in location.areas] == ["Tisch 1"]
    page = client.get(f"/portal/locations/{location_id}").text
    assert RLO not in page and "Biergarten Nord" in page


def test_a_family_emoji_stays_whole_in_the_database_and_on_the_page(
    owner_client: tuple[FlaskClient, Tenant], db_session: Session
) -> None:
    client, _tenant = owner_client
    location_id = _new_location(client, f"Familienecke {FAMILY}", f"Spielecke {FAMILY}, {FAMILY}")
    db_session.expire_all()
    areas = db_session.scalars(select(Area).where(Area.location_id == location_id)).all()
    assert sorted(area.name for area in areas) == sorted([f"Spielecke {FAMILY}", FAMILY])
    page = client.get(f"/portal/locations/{location_id}").text
    assert f"Spielecke {FAMILY}" in page and f"Familienecke {FAMILY}" in page


def test_an_emoji_only_area_name_prints_a_readable_name_on_the_poster(
    owner_client: tuple[FlaskClient, Tenant], db_session: Session
) -> None:
    client, _tenant = owner_client
    location_id = _new_location(client, "Garten", f"{FAMILY}, \U0001f33b, \ue000")
    db_session.expire_all()
    areas = sorted(
        db_session.scalars(select(Area).where(Area.location_id == location_id)),
        key=lambda area: area.sort_key,
    )
    texts = []
    for area in areas:
        response = client.get(f"/portal/areas/{area.id}/poster.pdf")
        assert response.status_code == 200, response.text
        texts.append(_pdf_text(response.data))
    assert "(Man Woman Girl Boy)" in texts[0]
    assert "(Sunflower)" in texts[1]
    # Nothing of U+E000 (private use) can be printed: the area's number stands in.
    assert f"Bereich {areas[2].sort_key} · Area {areas[2].sort_key}" in texts[2]


def test_too_long_and_control_character_area_names_are_refused_clearly(
    owner_client: tuple[FlaskClient, Tenant],
) -> None:
    client, tenant = owner_client
    page = client.get(f"/portal/locations/{tenant.location.id}")
    for spec, message in ((FAMILY * 18, "zu lang"), ("Tisch\x07 2", "Steuerzeichen")):
        response = client.post(
            f"/portal/locations/{tenant.location.id}/areas",
            data={"areas": spec, "csrf_token": csrf_token(page.text)},
            follow_redirects=True,
        )
        assert response.status_code == 200
        assert message in response.text, spec
    assert [area.name for area in tenant.location.areas] == ["Tisch 1"]


def test_names_in_running_text_are_isolated_for_right_to_left_scripts(
    owner_client: tuple[FlaskClient, Tenant], db_session: Session
) -> None:
    client, tenant = owner_client
    tenant.location.name = "مقهى <b>"  # an Arabic name (and markup that must stay text)
    db_session.commit()
    live = client.get(f"/portal/locations/{tenant.location.id}/live").text
    assert "<bdi>مقهى &lt;b&gt;</bdi></h1>" in live
    guest = client.get(f"/c/{tenant.area.code}").text
    assert "<bdi>مقهى &lt;b&gt;</bdi></h1>" in guest
    assert f"<strong><bdi>{tenant.area.name}</bdi></strong>" in guest
