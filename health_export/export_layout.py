"""The fixed texts of the export files: column titles, source labels, the SORMAS header.

Defined once, here. `gastregister decrypt` writes them (decryption.py, exports.py), and
the decryption page hands them to the browser as page data (`client_layout`), so the
browser's CSV, SORMAS CSV and XLSX carry the very same texts without a copy of their
own. They are fixed German: the CLI runs offline in no particular language, and both
must write the same bytes (docs/FORMAT.md §11.4).
"""

from __future__ import annotations

from typing import Any

COLUMNS = (
    "Besuch",
    "Person",
    "Bereich",
    "Ankunft",
    "Abreise",
    "Abreise automatisch",
    "Personen",
    "Quelle",
    "Vorname",
    "Nachname",
    "Straße",
    "Hausnummer",
    "PLZ",
    "Ort",
    "Telefon",
    "E-Mail",
    "Notiz",
    # Last, so the columns before it keep the places offices' spreadsheets expect.
    "Verspätet übermittelt",
)
# The columns that name a person: the decryption page always shows them and keeps them
# in sight when its wide table is scrolled sideways.
NAME_COLUMNS = ("Vorname", "Nachname")
# The "Quelle" column: guest page, no-JavaScript form, staff entry (CheckInSource).
SOURCE_LABELS = {"guest_page": "Gastseite", "guest_form": "Formular", "staff_entry": "Personal"}
# The "Abreise automatisch" and "Verspätet übermittelt" columns.
YES = "ja"
NO = "nein"
XLSX_SHEET = "Kontakte"
# The separators the files get unless the user chooses another (`--separator`, or the
# page's choice, which the browser remembers per user). CSV: ";", because a spreadsheet
# program set up for German (decimal comma) splits CSV on ";" only, and these files are
# opened in German health offices whatever language the page is shown in. SORMAS: ",",
# the default of the SORMAS CSV importer (`csv.separator`).
CSV_SEPARATOR = ";"
SORMAS_SEPARATOR = ","
SORMAS_ENTITY = "EventParticipant"
SORMAS_FIELDS = (
    "person.firstName",
    "person.lastName",
    "person.sex",
    "person.address.street",
    "person.address.houseNumber",
    "person.address.postalCode",
    "person.address.city",
    "person.phone",
    "person.emailAddress",
    "involvementDescription",
)


def client_layout() -> dict[str, Any]:
    """The texts above for decrypt-rows.js, decrypt-export.js and decrypt.js (export-layout.js reads them)."""
    return {
        "columns": list(COLUMNS),
        "nameColumns": [COLUMNS.index(title) for title in NAME_COLUMNS],
        "sourceLabels": dict(SOURCE_LABELS),
        "yes": YES,
        "no": NO,
        "xlsxSheet": XLSX_SHEET,
        "sormasEntity": SORMAS_ENTITY,
        "sormasFields": list(SORMAS_FIELDS),
        "separators": {"csv": CSV_SEPARATOR, "sormas": SORMAS_SEPARATOR},
    }
