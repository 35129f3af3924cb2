"""Guests read the check-in pages in seven languages; staff pages stay German and English.

The language comes from the browser (Accept-Language) or the visible switch; Arabic
pages run right to left; English dates use the 24-hour clock; the page without
JavaScript does not claim to seal on the phone.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from registration.i18n import GUEST_LANGUAGES, LANGUAGE_NAMES
from registration.static_files import STATIC_FOLDER
from registration.templating import local_time
from tests.factories import Venue
from tests.registration.checkin.checkin_support import TYPED, hidden_fields

# The label of the street field, as each language's guest reads it.
STREET_LABEL = {
    "de": "Straße und Hausnummer",
    "en": "Street and house number",
    "tr": "Sokak ve kapı numarası",
    "ar": "الشارع ورقم المنزل",
    "uk": "Вулиця і номер будинку",
    "ru": "Улица и номер дома",
    "pl": "Ulica i numer domu",
}


def page_config(html: str) -> dict[str, Any]:
    found = re.search(
        r'<script type="application/json" id="checkin-config">(.*?)</script>', html, re.S
    )
    assert found is not None
    config: dict[str, Any] = json.loads(found[1])
    return config


@pytest.mark.parametrize("language", GUEST_LANGUAGES)
def test_the_browser_language_chooses_the_guest_page_language(
    client: FlaskClient, venue: Venue, language: str
) -> None:
    html = client.get(
        f"/c/{venue.area.code}", headers={"Accept-Language": f"{language};q=1, en;q=0.5"}
    ).text
    assert re.search(rf'<html lang="{language}"[ >]', html)
    assert STREET_LABEL[language] in html
    assert ('dir="rtl"' in html) == (language == "ar")
    config = page_config(html)
    assert config["language"] == language
    # The texts checkin.js shows come translated with the page.
    sent = {"de": "Ihr Check-in ist angekommen.", "en": "Your check-in has been received."}
    if language in sent:
        assert config["texts"]["sent"] == sent[language]
    else:
        assert config["texts"]["sent"] not in sent.values()
        assert config["rules"]["labels"]["streetAddress"] == STREET_LABEL[language]


def test_the_switch_offers_every_guest_language_named_in_itself(
    client: FlaskClient, venue: Venue
) -> None:
    html = client.get(f"/c/{venue.area.code}").text
    switch = re.search(r'<nav aria-label="Sprache" class="lang-switch">(.*?)</nav>', html, re.S)
    assert switch is not None
    for code in GUEST_LANGUAGES:
        assert f'lang="{code}"' in switch[1] and LANGUAGE_NAMES[code] in switch[1]
    client.get("/lang/uk")
    assert '<html lang="uk">' in client.get(f"/c/{venue.area.code}").text


def test_staff_pages_stay_german_or_english_whatever_the_guest_chose(
    client: FlaskClient, venue: Venue
) -> None:
    """A Turkish browser, or a Turkish choice on a guest page, leaves the login in German."""
    login = client.get("/login", headers={"Accept-Language": "tr, en;q=0.5"}).text
    assert '<html lang="en">' in login  # the best of what the portal offers
    client.get("/lang/tr")
    assert '<html lang="tr">' in client.get(f"/c/{venue.area.code}").text
    login = client.get("/login").text
    assert '<html lang="de">' in login
    switch = re.search(r'class="lang-switch">(.*?)</nav>', login, re.S)
    assert switch is not None and "Türkçe" not in switch[1]


def test_an_error_page_of_the_guest_pages_speaks_the_guest_language(
    client: FlaskClient,
) -> None:
    page = client.get("/c/unknown-code", headers={"Accept-Language": "ar"})
    assert page.status_code == 404
    assert '<html lang="ar" dir="rtl">' in page.text
    assert "رمز التسجيل هذا غير معروف" in page.text
    assert "رمز الخطأ" in page.text  # "Error code", from the shared layout's catalog


def test_the_api_refuses_in_the_guest_language(client: FlaskClient) -> None:
    answer = client.post(
        "/api/v1/checkins",
        data="[]",
        content_type="application/json",
        headers={"Accept-Language": "pl"},
    )
    assert answer.status_code == 400
    assert answer.get_json()["error"]["message"] == "Treść żądania musi być obiektem JSON."


def test_english_dates_use_the_24_hour_clock_day_first(app: Flask) -> None:
    afternoon = dt.datetime(2026, 11, 26, 13, 5, tzinfo=dt.UTC)  # 14:05 in Berlin
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        shown = local_time(afternoon)
    assert shown == "26/11/2026, 14:05"
    with app.test_request_context("/", headers={"Accept-Language": "de"}):
        assert local_time(afternoon) == "26.11.26, 14:05"


def test_the_no_js_confirmation_in_english_has_no_am_or_pm(
    client: FlaskClient, venue: Venue
) -> None:
    client.get("/lang/en")
    location = client.post(
        f"/c/{venue.area.code}", data={**hidden_fields(client, venue), **TYPED}
    ).headers["Location"]
    html = client.get(location).text
    assert "You are checked in" in html
    times = re.findall(r"<dd>(\d\d/\d\d/\d{4}, \d\d:\d\d)</dd>", html)
    assert len(times) == 2, html
    assert not re.search(r"\b[AP]M\b", html)


def test_the_page_claims_sealing_on_the_phone_only_where_javascript_runs(
    client: FlaskClient, venue: Venue
) -> None:
    """Without JavaScript the server seals: that text is the one shown (.no-js-only);
    the phone's claim is in .js-only, which app.css hides until checkin.js runs."""
    html = client.get(f"/c/{venue.area.code}?lang=en").text
    on_phone = re.findall(r'<span class="([\w-]+)">[^<]*on your phone[^<]*</span>', html)
    assert on_phone and set(on_phone) == {"js-only"}
    on_server = re.findall(
        r'<span class="([\w-]+)">[^<]*our server receives them[^<]*</span>', html
    )
    assert len(on_server) == 2 and set(on_server) == {"no-js-only"}
    assert (
        "html:not(.js) .js-only { display: none; }" in (STATIC_FOLDER / "css/app.css").read_text()
    )
