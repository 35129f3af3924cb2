"""Rows to files a health office opens: CSV, XLSX, SORMAS CSV, JSON.

Guest text is hostile until proven otherwise (the Luca `=HYPERLINK` lesson), yet it
must stay readable — O'Brien, Müller-Lüdenscheidt, 李 and emoji come out as typed:

- CSV: a cell that starts with `=`, `+`, `-`, `@`, TAB or CR gets a leading
  apostrophe (OWASP "CSV injection"); every cell is quoted per RFC 4180 when it holds
  the separator, a quote, CR or LF. CSV starts with a UTF-8 BOM so that spreadsheet
  programs read umlauts right. Lines end with CRLF.
- SORMAS CSV is read by SORMAS's importer, which keeps an apostrophe as part of the
  value, so it carries values as SORMAS should store them (`sormas_text`): a phone
  number as typed ("+49 170 1234567"), any other value that starts with a formula
  trigger still with the apostrophe, so the file stays safe when opened by hand. No
  BOM (its importer reads the first row as entity names).
- XLSX: every text cell is a string cell (never a formula, whatever it starts with),
  so no apostrophe is needed and none is added; characters XML 1.0 cannot carry
  (control characters other than TAB, LF, CR) become U+FFFD, and CR becomes LF (XML
  readers normalise line ends anyway).

static/js/decrypt-export.js writes the same bytes for CSV and SORMAS; the texts of all
three come from export_layout.py.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from crypto import format_utc as iso_utc
from health_export.decryption import (
    DecryptionResult,
    OpenedVisit,
    Row,
    berlin_text,
    persons_of,
    sormas_rows,
    visit_rows,
)
from health_export.export_layout import (
    COLUMNS,
    CSV_SEPARATOR,
    SORMAS_ENTITY,
    SORMAS_FIELDS,
    SORMAS_SEPARATOR,
    XLSX_SHEET,
)
from health_export.packages import ParsedPackage

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# A phone number as the contact form accepts it (contact_form.PHONE_PATTERN): digits and
# the signs people put between them. A spreadsheet may compute such a cell ("+49-170"),
# but with no letters it can name no function and no other cell, so it runs nothing.
SORMAS_PHONE = re.compile(r"\+?[0-9 ()/.-]+")
# Characters that end or break a line in SORMAS's reader, and that its String.trim drops.
_SORMAS_BREAKS = re.compile("[\x00-\x1f\x7f]")
SEPARATORS = (",", ";", "\t")
BOM = "\ufeff"
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def neutralise(text: str) -> str:
    """Prefix an apostrophe so a spreadsheet shows the text instead of running it."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def csv_cell(value: str | int, separator: str) -> str:
    if isinstance(value, int):
        return str(value)
    # neutralise(), inline: this runs for every cell of every row of a 50,000-visit export.
    text = "'" + value if value.startswith(FORMULA_TRIGGERS) else value
    if separator in text or '"' in text or "\r" in text or "\n" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def sormas_text(text: str) -> str:
    """A value for SORMAS's CSV importer: as SORMAS should store it, inert in a spreadsheet.

    SORMAS (DataImporter, opencsv) trims each value and reads any physical line that
    starts with "##" as a comment, so line breaks, tabs and other control characters
    become spaces (its fields hold one line anyway) and the ends are trimmed here, where
    the result can be checked. A phone number then stays as typed; any other value that
    starts with a formula trigger keeps the apostrophe, which SORMAS would store, rather
    than silently losing a character that might belong to it.
    """
    text = _SORMAS_BREAKS.sub(" ", text).strip(" ")
    if SORMAS_PHONE.fullmatch(text):
        return text
    return neutralise(text)


def sormas_cell(value: str | int, separator: str) -> str:
    """A SORMAS CSV cell; one starting with "#" is quoted so no line can begin with "##"."""
    text = sormas_text(str(value))
    if separator in text or '"' in text or text.startswith("#"):
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv_lines(
    rows: Sequence[Sequence[str | int]],
    separator: str,
    cell: Callable[[str | int, str], str] = csv_cell,
) -> str:
    if separator not in SEPARATORS:
        raise ValueError("separator must be one of , ; or TAB")
    if cell is csv_cell:
        return "".join(_plain_csv_line(row, separator) + "\r\n" for row in rows)
    return "".join(
        separator.join([cell(value, separator) for value in row]) + "\r\n" for row in rows
    )


def _plain_csv_line(row: Sequence[str | int], separator: str) -> str:
    """A row's line, csv_cell cell by cell, inline: the offline CLI writes 80,000 lines
    for 50,000 visits, and a call per cell was a tenth of its time per visit."""
    cells = []
    for value in row:
        if isinstance(value, int):
            cells.append(str(value))
            continue
        if value.startswith(FORMULA_TRIGGERS):
            value = "'" + value
        if separator in value or '"' in value or "\r" in value or "\n" in value:
            value = '"' + value.replace('"', '""') + '"'
        cells.append(value)
    return separator.join(cells)


def rows_to_csv(rows: Sequence[Row], *, separator: str = CSV_SEPARATOR) -> bytes:
    return csv_document([_csv_lines(rows, separator)], separator=separator)


def rows_to_sormas(rows: Sequence[Sequence[str]], *, separator: str = SORMAS_SEPARATOR) -> bytes:
    return sormas_document([_csv_lines(rows, separator, sormas_cell)], separator=separator)


# One visit at a time: the offline CLI writes each visit's lines in the worker process
# that opened it (decryption.open_rendered), and joins them. The lines of all visits
# joined are exactly the lines of all rows: rows_to_csv and rows_to_sormas are the same.


def csv_visit_lines(visit: OpenedVisit, separator: str = CSV_SEPARATOR) -> str:
    """The CSV lines (rows_to_csv) of one visit's rows."""
    return _csv_lines(visit_rows([visit]), separator)


def csv_document(visit_lines: Iterable[str], *, separator: str = CSV_SEPARATOR) -> bytes:
    """The CSV file (rows_to_csv) from each visit's csv_visit_lines."""
    return (BOM + _csv_lines([list(COLUMNS)], separator) + "".join(visit_lines)).encode("utf-8")


def sormas_visit_lines(
    visit: OpenedVisit, location_name: str, separator: str = SORMAS_SEPARATOR
) -> str:
    """The SORMAS CSV lines (rows_to_sormas) of one visit's event participants."""
    return _csv_lines(sormas_rows([visit], location_name), separator, sormas_cell)


def sormas_document(visit_lines: Iterable[str], *, separator: str = SORMAS_SEPARATOR) -> bytes:
    """The SORMAS CSV file (rows_to_sormas) from each visit's sormas_visit_lines."""
    header = [[SORMAS_ENTITY] * len(SORMAS_FIELDS), list(SORMAS_FIELDS)]
    return (_csv_lines(header, separator, sormas_cell) + "".join(visit_lines)).encode("utf-8")


def xlsx_text(text: str) -> str:
    """Text for an XML cell: XML readers turn CR into LF anyway, so do it visibly here."""
    return _XML_ILLEGAL.sub("\ufffd", text.replace("\r\n", "\n").replace("\r", "\n"))


def rows_to_xlsx(rows: Sequence[Row]) -> bytes:
    """One sheet, every text a string cell: nothing a guest typed can become a formula."""
    # Imported here: openpyxl takes longer to import than a CSV of 1,000 visits to write.
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(XLSX_SHEET)
    table: list[Sequence[str | int]] = [list(COLUMNS), *rows]
    for row in table:
        cells: list[Any] = []
        for value in row:
            if isinstance(value, int):
                cells.append(value)
                continue
            cell = WriteOnlyCell(sheet, value=xlsx_text(value))
            # openpyxl reads a value starting with "=" as a formula; the string type,
            # set after the value, makes it an inline string that is never evaluated.
            cell.data_type = "s"
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def result_to_json(package: ParsedPackage, result: DecryptionResult) -> bytes:
    """Everything opened, for further processing by program; failures listed too."""
    document = {
        "format": "gastregister-decrypted",
        "version": 1,
        "packageSha256": package.sha256,
        "request": package.request,
        "location": package.location,
        "visits": [
            {
                "visit": visit.number,
                "area": {"code": visit.area_code, "name": visit.area_name},
                "arrival": iso_utc(visit.arrival),
                "departure": iso_utc(visit.departure),
                "departureIsAutomatic": visit.departure_is_automatic,
                "arrivalLocal": berlin_text(visit.arrival),
                "departureLocal": berlin_text(visit.departure),
                "persons": visit.persons,
                "source": visit.source,
                "keyId": visit.key_id,
                "formatVersion": visit.format_version,  # 1: metadata not bound to the record
                "record": visit.record,
                # The guest and each companion as the other outputs list them: a
                # companion with `sameAddress` carries the guest's address and contact.
                "people": persons_of(visit),
            }
            for visit in result.visits
        ],
        "unbound": result.unbound,
        "failed": [
            {
                "visit": failure.number,
                "area": failure.area_code,
                "arrival": failure.arrival,
                "kind": failure.kind,
            }
            for failure in result.failures
        ],
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
