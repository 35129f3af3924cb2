"""Posters: German first, and below each line a second language the owner picks.

Read back as a printer would give it to a guest: the text from the PDF (pypdf),
the QR code decoded (zxing-cpp). Arabic needs shaping (joined letters, right to
left) and Cyrillic glyphs; both come from the DejaVu fonts shipped in the package.
"""

from __future__ import annotations

import io
import unicodedata

import pypdf
import pytest
import zxingcpp
from flask.testing import FlaskClient

from tests.registration.portal.portal_helpers import Tenant

HEADLINES = {
    "en": "Please check in here",
    "tr": "Lütfen burada giriş kaydı yapın",
    "uk": "Будь ласка, зареєструйтеся тут",
    "ru": "Пожалуйста, зарегистрируйтесь здесь",
    "pl": "Prosimy o rejestrację tutaj",
}


def _pages(data: bytes) -> list[pypdf.PageObject]:
    return list(pypdf.PdfReader(io.BytesIO(data)).pages)


def _qr_texts(data: bytes) -> list[str]:
    return [
        result.text
        for page in _pages(data)
        for image in page.images
        for result in zxingcpp.read_barcodes(image.image)
    ]


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("language", sorted(HEADLINES))
@pytest.mark.parametrize("poster_format", ["a4", "a6"])
def test_the_second_language_line_is_printed_below_the_german(
    owner_client: tuple[FlaskClient, Tenant], language: str, poster_format: str
) -> None:
    client, tenant = owner_client
    response = client.get(
        f"/portal/areas/{tenant.area.id}/poster.pdf?format={poster_format}&second={language}"
    )
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    [page] = _pages(response.data)
    text = _words(page.extract_text())
    assert "Bitte hier registrieren" in text
    assert HEADLINES[language] in text
    assert text.index("Bitte hier registrieren") < text.index(HEADLINES[language])
    others = {code: line for code, line in HEADLINES.items() if code != language}
    assert not any(line in text for line in others.values())
    assert _qr_texts(response.data) == [f"http://127.0.0.1:5000/c/{tenant.area.code}"]


def test_arabic_is_shaped_and_readable(owner_client: tuple[FlaskClient, Tenant]) -> None:
    """Shaped Arabic keeps its letters: the text read back holds the headline's words."""
    client, tenant = owner_client
    response = client.get(f"/portal/locations/{tenant.location.id}/posters.pdf?second=ar")
    assert response.status_code == 200
    [page] = _pages(response.data)
    text = unicodedata.normalize("NFKC", page.extract_text())
    arabic = [c for c in text if "ARABIC" in unicodedata.name(c, "")]
    assert len(arabic) > 40  # every line below the German
    for word in ("يرجى", "الحضور", "هنا"):
        assert word in text or word[::-1] in text, word
    assert _qr_texts(response.data) == [f"http://127.0.0.1:5000/c/{tenant.area.code}"]


def test_an_unknown_second_language_falls_back_to_english(
    owner_client: tuple[FlaskClient, Tenant],
) -> None:
    client, tenant = owner_client
    for asked in ("de", "xx", "../../etc"):
        response = client.get(f"/portal/areas/{tenant.area.id}/poster.pdf?second={asked}")
        assert response.status_code == 200
        text = _words(_pages(response.data)[0].extract_text())
        assert "Please check in here" in text


def test_the_poster_form_offers_the_guest_languages(
    owner_client: tuple[FlaskClient, Tenant],
) -> None:
    client, tenant = owner_client
    html = client.get(f"/portal/locations/{tenant.location.id}").text
    assert 'name="second"' in html
    for code, name in (("en", "English"), ("ar", "العربية"), ("uk", "Українська")):
        assert f'value="{code}" lang="{code}"' in html and name in html
    assert 'value="de"' not in html
