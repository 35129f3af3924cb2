"""Writes tests/js/fixtures/: what the server hands the browser, and what Python makes of inputs.

The node --test tests beside this file check the browser modules against these files:
the contact form's rules (contact_form.client_rules) and the export layout
(export_layout.client_layout) exactly as the pages carry them, and cases whose expected
outcome Python computed — the contact form's errors and record, the export rows, CSV
and SORMAS CSV bytes, the UTC instant the server stores for a staff entry's local time. So the JavaScript is held to the Python rules without a copy of
them, and tests/js/test_fixtures.py fails when a file is no longer what this script
writes. After changing a rule, a text or the export code:

    .venv/bin/python -m tests.js.make_fixtures
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from crypto import normalise_contact_record, passphrase_strength
from crypto.passphrase import client_rules as passphrase_rules
from health_export.decryption import OpenedVisit, sormas_rows, visit_rows
from health_export.export_layout import client_layout
from health_export.exports import SEPARATORS, rows_to_csv, rows_to_sormas
from registration.checkin import contact_form
from registration.portal.staff_entry import parse_local_time

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CONTACT_REQUIRED = ("phone_or_email", "phone", "email", "both")

GUEST = {
    "firstName": "Wilhelmine",
    "lastName": "Quästorius",
    "streetAddress": "Hauptstraße 5a",
    "zipCode": "10115",
    "city": "Berlin",
    "phone": "0151 2345678",
    "email": "",
}
COMPANION = {
    "firstName": "Karl",
    "lastName": "Quästorius",
    "streetAddress": "",
    "zipCode": "",
    "city": "",
    "phone": "",
    "email": "",
}

# (name, contactRequired, main values, [(person values, sameAddress), ...]), as typed
# and trimmed. Each case runs through contact_form.read_contact_form here and through
# validateContactForm / contactRecord in the node tests.
_FORM_CASES: list[tuple[str, str, dict[str, str], list[tuple[dict[str, str], bool]]]] = [
    ("complete guest", "phone_or_email", GUEST, []),
    ("everything empty", "phone_or_email", dict.fromkeys(GUEST, ""), []),
    ("e-mail instead of phone", "phone_or_email", {**GUEST, "phone": "", "email": "a@b.de"}, []),
    ("phone required, e-mail given", "phone", {**GUEST, "phone": "", "email": "a@b.de"}, []),
    ("e-mail required, phone given", "email", GUEST, []),
    ("both required, both given", "both", {**GUEST, "email": "w.q@example.de"}, []),
    ("both required, none given", "both", {**GUEST, "phone": ""}, []),
    ("bad postal code", "phone_or_email", {**GUEST, "zipCode": "1"}, []),
    ("postal code with letters", "phone_or_email", {**GUEST, "zipCode": "SW1A 1AA"}, []),
    ("four-digit phone", "phone_or_email", {**GUEST, "phone": "1234"}, []),
    ("four digits among signs", "phone_or_email", {**GUEST, "phone": "(030) 1"}, []),
    ("phone with letters", "phone_or_email", {**GUEST, "phone": "0151 CALL ME"}, []),
    ("phone with five digits in signs", "phone_or_email", {**GUEST, "phone": "+(1) 2-3/4.5"}, []),
    ("bad e-mail", "phone_or_email", {**GUEST, "phone": "", "email": "nobody@localhost"}, []),
    ("control character", "phone_or_email", {**GUEST, "firstName": "Wil\u0007helmine"}, []),
    ("first name of 100 emoji", "phone_or_email", {**GUEST, "firstName": "😀" * 100}, []),
    ("first name of 101 characters", "phone_or_email", {**GUEST, "firstName": "a" * 101}, []),
    ("street without number", "phone_or_email", {**GUEST, "streetAddress": "Am Anger"}, []),
    ("number with letter", "phone_or_email", {**GUEST, "streetAddress": "Am Markt 12 b"}, []),
    ("number range", "phone_or_email", {**GUEST, "streetAddress": "Lange Reihe 3-5"}, []),
    ("comma before number", "phone_or_email", {**GUEST, "streetAddress": "Weg, 7"}, []),
    (
        "number in Arabic-Indic digits",
        "phone_or_email",
        {**GUEST, "streetAddress": "Weg \u0665"},
        [],
    ),
    ("street too long", "phone_or_email", {**GUEST, "streetAddress": "S" * 151 + " 1"}, []),
    ("companion, same address", "phone_or_email", GUEST, [(COMPANION, True)]),
    ("companion without name", "phone_or_email", GUEST, [({**COMPANION, "lastName": ""}, True)]),
    ("companion, own address missing", "phone_or_email", GUEST, [(COMPANION, False)]),
    (
        "companion, own address",
        "phone_or_email",
        GUEST,
        [
            (
                {
                    **COMPANION,
                    "streetAddress": "Nebenweg 2",
                    "zipCode": "20095",
                    "city": "Hamburg",
                    "email": "karl@example.de",
                },
                False,
            ),
            ({**COMPANION, "firstName": "Lotte"}, True),
        ],
    ),
]


def _form_case(
    name: str,
    contact_required: str,
    main: dict[str, str],
    persons: list[tuple[dict[str, str], bool]],
) -> dict[str, Any]:
    posted = dict(main)
    for index, (values, same_address) in enumerate(persons):
        prefix = contact_form.person_prefix(index)
        posted.update({prefix + field: value for field, value in values.items()})
        if same_address:
            posted[prefix + "sameAddress"] = "on"
    form = contact_form.read_contact_form(posted, contact_required)
    return {
        "name": name,
        "contactRequired": contact_required,
        "values": {
            "main": main,
            "persons": [
                {
                    "prefix": contact_form.person_prefix(index),
                    "values": values,
                    "sameAddress": same_address,
                }
                for index, (values, same_address) in enumerate(persons)
            ],
        },
        "errors": [{"fieldId": error.field_id, "reason": error.reason} for error in form.errors],
        "record": None if form.errors else normalise_contact_record(form.record()),
    }


def _record(first: str, last: str, **extra: Any) -> dict[str, Any]:
    return normalise_contact_record(
        {
            "firstName": first,
            "lastName": last,
            "street": "Markt",
            "houseNumber": "1",
            "zipCode": "10115",
            "city": "Berlin",
            "phone": "030 111",
            **extra,
        }
    )


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# Guest text that must come out as typed and never act in a spreadsheet.
_VISITS = [
    OpenedVisit(
        number=1,
        area_code="terrasse",
        area_name="Terrasse",
        arrival=_utc("2026-03-29T00:30:00Z"),  # 01:30 CET; departure after the switch to CEST
        departure=_utc("2026-03-29T01:30:00Z"),
        departure_is_automatic=False,
        persons=3,
        source="guest_page",
        key_id="ab" * 32,
        record=_record(
            '=HYPERLINK("http://evil.example","x")',
            "O'Brien",
            phone="+49 30 111",
            email="@home",
            note="-1+1",
            additionalPersons=[
                {"firstName": "Lotte", "lastName": "Müller-Lüdenscheidt", "sameAddress": True},
                {
                    "firstName": "\tTab",
                    "lastName": "\rReturn",
                    "sameAddress": False,
                    "city": "Köln; Porz",
                    "phone": "0221 5",
                },
            ],
        ),
    ),
    OpenedVisit(
        number=2,
        area_code="stube",
        area_name="Stube, hinten",
        arrival=_utc("2026-10-25T00:15:00Z"),  # 02:15 CEST, before the switch back to CET
        departure=_utc("2026-10-25T02:15:00Z"),
        departure_is_automatic=True,
        persons=1,
        source="guest_form",
        key_id="ab" * 32,
        record=_record('Anna "Nanni"', "李", street="Weg\r\nHof", note="😀 line\nbreak"),
    ),
    OpenedVisit(
        number=4,
        area_code="stube",
        area_name="Stube, hinten",
        arrival=_utc("2026-07-01T10:00:00Z"),
        departure=_utc("2026-07-01T12:00:00Z"),
        departure_is_automatic=False,
        persons=1,
        source="staff_entry",
        key_id="cd" * 32,
        record=_record("Paula", "Papier", phone="", email="p@example.de"),
    ),
    OpenedVisit(
        number=5,
        area_code="garten",
        area_name="Garten",
        arrival=_utc("2026-07-01T10:00:00Z"),
        departure=_utc("2026-07-01T12:00:00Z"),
        departure_is_automatic=True,
        persons=1,
        source="some_future_source",
        key_id="cd" * 32,
        record=_record("Zukunft", "Quelle"),
    ),
    # What the SORMAS file carries differently: a phone number as typed, one line per
    # value, no line that SORMAS's reader would take for a "##" comment.
    OpenedVisit(
        number=6,
        area_code="garten",
        area_name="Garten",
        arrival=_utc("2026-07-02T10:00:00Z"),
        departure=_utc("2026-07-02T12:00:00Z"),
        departure_is_automatic=False,
        persons=1,
        source="guest_page",
        key_id="cd" * 32,
        record=_record(
            "##Raute",
            " -Bindestrich ",
            street="Weg\n## Hof",
            phone="+49 170 1234567",
            email="\t@tab",
        ),
    ),
]
_LOCATION_NAME = 'Wirtshaus "Zum Markt"'


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _export_cases() -> dict[str, Any]:
    rows = visit_rows(_VISITS)
    participants = sormas_rows(_VISITS, _LOCATION_NAME)
    return {
        "locationName": _LOCATION_NAME,
        "visits": [
            {
                "number": visit.number,
                "areaCode": visit.area_code,
                "areaName": visit.area_name,
                "arrival": _iso(visit.arrival),
                "departure": _iso(visit.departure),
                "departureIsAutomatic": visit.departure_is_automatic,
                "persons": visit.persons,
                "source": visit.source,
                "keyId": visit.key_id,
                "record": visit.record,
            }
            for visit in _VISITS
        ],
        "rows": rows,
        "sormasRows": participants,
        "csv": {sep: rows_to_csv(rows, separator=sep).decode("utf-8") for sep in SEPARATORS},
        "sormas": {
            sep: rows_to_sormas(participants, separator=sep).decode("utf-8") for sep in SEPARATORS
        },
    }


def _contact_rules() -> dict[str, Any]:
    # Messages and labels are translated texts for the page; the rules are the rest.
    rules = contact_form.client_rules("phone_or_email")
    del rules["messages"], rules["labels"]
    return rules


# Local times a staff member may type; around the changes of offset in 2026 (29 March,
# 25 October, 01:00 UTC) zoneinfo's fold=0 rule decides, which the browser must match.
_BERLIN_TIMES = [
    "2026-11-20T19:30",
    "2026-07-01T12:00:59",
    "2026-01-01T00:00",
    "2026-12-31T23:59",
    "2026-03-29T01:59",
    "2026-03-29T02:00",
    "2026-03-29T02:30",
    "2026-03-29T02:59:59",
    "2026-03-29T03:00",
    "2026-10-25T01:59",
    "2026-10-25T02:00",
    "2026-10-25T02:30",
    "2026-10-25T02:59:59",
    "2026-10-25T03:00",
    "2024-02-29T08:15",
]


def _berlin_times() -> list[dict[str, str]]:
    cases = []
    for text in _BERLIN_TIMES:
        moment = parse_local_time(text)
        assert moment is not None
        cases.append({"local": text, "utc": moment.strftime("%Y-%m-%dT%H:%M:%SZ")})
    return cases


# Passphrases a person might choose, each judged here by crypto.passphrase (zxcvbn) and
# in passphrase.test.mjs by passphrase-strength.js: the verdicts must be the same.
_PASSPHRASES = [
    "aaaaaaaaaaaa",
    "Passwort1234",
    "passwort1234",
    "Passwort1234!",
    "Gesundheitsamt Jena 2026",
    "gesundheitsamt2024",
    "Gastregister2026!",
    "Sommer2026!Sommer2026!",
    "qwertzuiopü123456",
    "asdfghjklöä12",
    "1234567890123",
    "01.01.1990-31.12.2026",
    "abcabcabcabcabc",
    "p@ssw0rdp@ssw0rd",
    "Tr0ub4dor&3xyz",
    "iloveyou2026!!",
    "correct horse battery staple",
    "Korrekt Pferd Batterie Heftklammer",
    "Amt-Passphrase 2026!",
    "Passphrase für den Test 2026",
    "Alter Schluessel, eigene Passphrase",
    "Grüße aus Jena, Äpfel über Öl",
    "Zoë Müller ÄÖÜ straße 12",
    "abend-zyste-abgas",
    "abend-zyste-abgas-dachs",
    "abend-zyste-abgas-dachs-kanne",
    "abend-zyste-abgas-dachs-kanne-ufer",
    "Abend Zyste Abgas Dachs Kanne Ufer",
    "aalen-abart-abba-abbe-abbiegen-abbild",
    "abbiegen abbild abbitte abbruch",
    "Der Ball ist rund und das Spiel dauert 90 Minuten",
    "x" * 11,
    "Xq7#vR2!pL9",
    "Xq7#vR2!pL9w",
    "kurz",
    "",
    "äöüÄÖÜ",
    "äöüÄÖÜ",  # NFD: twelve code points, six in NFC
    "äbend-zyste-abgas-dachs-kanne-ufer",
    "abend-zyste-abgas-dachs-kanne-ufer" + "x" * 60,  # past 72: the beginning counts
    "a" * 72 + "abend-zyste-abgas-dachs-kanne-ufer",
    "😀😀😀😀😀😀😀😀😀😀😀😀",
    "Mein Hund 🐕 heißt Bello und ist 7 Jahre alt",
]


def _passphrase_cases() -> list[dict[str, Any]]:
    cases = []
    for passphrase in _PASSPHRASES:
        strength = passphrase_strength(passphrase)
        cases.append(
            {
                "passphrase": passphrase,
                "acceptable": strength.acceptable,
                "longEnough": strength.long_enough,
                "score": strength.score,
                "guessesLog10": round(strength.guesses_log10, 6),
            }
        )
    return cases


def fixtures() -> dict[str, Any]:
    """File name -> content, for every fixture file."""
    return {
        "contact-rules.json": _contact_rules(),
        "contact-form-cases.json": [_form_case(*case) for case in _FORM_CASES],
        "export-layout.json": client_layout(),
        "export-cases.json": _export_cases(),
        "berlin-times.json": _berlin_times(),
        "passphrase-rules.json": passphrase_rules(),
        "passphrase-cases.json": _passphrase_cases(),
    }


def render(content: Any) -> str:
    return json.dumps(content, ensure_ascii=False, indent=1) + "\n"


def main() -> None:
    FIXTURES.mkdir(exist_ok=True)
    for name, content in fixtures().items():
        (FIXTURES / name).write_text(render(content), encoding="utf-8", newline="\n")
        print(f"wrote tests/js/fixtures/{name}")


if __name__ == "__main__":
    main()
