"""The one rule for names people type (registration/names.py)."""

from __future__ import annotations

import unicodedata

import pytest
from sqlalchemy import String

from registration import names
from registration.models import Area, Business, HealthOffice, Location, User
from registration.names import NameRefusedError, clean_name, grapheme_count

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 👨‍👩‍👧‍👦
PERSIAN = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # می‌خواهم: ZWNJ inside
BIDI_CONTROLS = [
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
]


@pytest.mark.parametrize("control", BIDI_CONTROLS)
def test_bidi_controls_are_removed(control: str) -> None:
    assert clean_name(f"Caf{control}é Mond", max_length=120) == "Café Mond"


@pytest.mark.parametrize(
    "kept",
    [
        FAMILY,
        PERSIAN,
        "\u2615\ufe0f Kaffee",  # variation selector: emoji presentation
        "\U0001f44d\U0001f3fd",  # thumbs up, medium skin tone
        "\U0001f1e9\U0001f1ea",  # flag DE
        "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland
        '=HYPERLINK("http://evil.example","x")',  # exports guard it, not the input
    ],
)
def test_joiners_selectors_and_sequences_are_kept(kept: str) -> None:
    assert clean_name(kept, max_length=120) == kept


def test_nfc_spaces_and_invisible_format_characters() -> None:
    assert clean_name("  Cafe\u0301\t am\u00a0\u00a0Markt\u200b \n", max_length=120) == (
        "Café am Markt"
    )
    assert unicodedata.is_normalized("NFC", clean_name("Cafe\u0301", max_length=120))
    assert clean_name("\u202e\u200b  ", max_length=120) == ""


@pytest.mark.parametrize("control", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\ud800"])
def test_control_characters_and_nul_are_refused_with_a_clear_message(control: str) -> None:
    with pytest.raises(NameRefusedError) as refused:
        clean_name(f"Bar{control}Ost", max_length=120)
    assert "control characters" in str(refused.value.message)


def test_length_counts_what_a_person_sees_and_what_the_column_holds() -> None:
    assert grapheme_count(FAMILY * 3) == 3
    assert grapheme_count("e\u0301" * 4) == 4
    assert clean_name("a" * 120, max_length=120) == "a" * 120
    with pytest.raises(NameRefusedError, match="120"):
        clean_name("a" * 121, max_length=120)
    # 17 families are 119 code points: they fit the column; 18 would not.
    assert clean_name(FAMILY * 17, max_length=120) == FAMILY * 17
    with pytest.raises(NameRefusedError, match="too long to store"):
        clean_name(FAMILY * 18, max_length=120)


@pytest.mark.parametrize(
    ("column", "length"),
    [
        (Business.name, names.BUSINESS_NAME_LENGTH),
        (Location.name, names.LOCATION_NAME_LENGTH),
        (Area.name, names.AREA_NAME_LENGTH),
        (HealthOffice.name, names.OFFICE_NAME_LENGTH),
        (User.display_name, names.DISPLAY_NAME_LENGTH),
    ],
)
def test_the_bounds_are_the_columns(column: object, length: int) -> None:
    column_type = column.property.columns[0].type  # type: ignore[attr-defined]
    assert isinstance(column_type, String) and column_type.length == length
