"""The printable paper guest list: A4, the guest form's fields, the Art. 13 facts."""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Callable

import pypdf
from flask.testing import FlaskClient

from registration.config import Settings
from registration.portal import paper_list
from tests.registration.portal.portal_helpers import Tenant


def _text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def test_paper_list_is_an_a4_pdf_with_the_form_fields_and_privacy_facts(
    owner_client: tuple[FlaskClient, Tenant],
) -> None:
    client, tenant = owner_client
    page = client.get(f"/portal/locations/{tenant.location.id}").text
    url = f"/portal/locations/{tenant.location.id}/paper-list.pdf"
    assert f'href="{url}"' in page
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(response.data))
    assert len(reader.pages) == 1  # rows and privacy facts fit on one sheet
    for sheet in reader.pages:
        width, height = sorted(round(float(v)) for v in sheet.mediabox.upper_right)
        assert (width, height) == (595, 842)  # A4, here in landscape
    text = _text(response.data)
    for label in (
        "Vorname",
        "First name",
        "Nachname",
        "Last name",
        "Straße und Hausnummer",
        "Postleitzahl",
        "Ort",
        "City",
        "Telefon",
        "E-Mail",
        "Kommen",
        "Gehen",
        "Datum",
        "Bereich/Tisch",
    ):
        assert label in text, label
    assert tenant.location.name in text and tenant.area.name in text
    assert "Art. 13" in text and "§ 28a" in text
    assert "28 Tage" in text and "28 days" in text
    assert "Gesundheitsamt Mitte" in text  # the recipient, as on the guest page
    assert tenant.business.name in text  # the controller, by default the business
    assert "Telefon oder E-Mail" in text


def test_paper_list_prints_the_configured_controller_and_notice(
    settings: Settings, owner_client: tuple[FlaskClient, Tenant]
) -> None:
    _client, tenant = owner_client
    configured = dataclasses.replace(
        settings,
        privacy_controller="Stadt Musterstadt",
        privacy_notice="Hinweise der Stadt.\n\nZweiter Absatz zum Datenschutz.",
    )
    text = _text(
        paper_list.paper_list_pdf(configured, tenant.location, [tenant.area], office_name="")
    )
    assert "Stadt Musterstadt" in text
    assert "Hinweise der Stadt." in text and "Zweiter Absatz zum Datenschutz." in text


def test_paper_list_of_another_business_is_not_found(
    owner_client: tuple[FlaskClient, Tenant], make_tenant: Callable[..., Tenant]
) -> None:
    client, _tenant = owner_client
    other = make_tenant("Delta")
    assert client.get(f"/portal/locations/{other.location.id}/paper-list.pdf").status_code == 404
