"""End to end in Chromium: request → release → download → decrypt in the browser → CLI.

Guests' visits are sealed in Python (as the guest page would) and stored at two
locations; the office logs in with password and TOTP, asks for one location and
window through its pages, the owner releases through the business portal, and the
office opens the package in the browser. The saved CSV must hold exactly the visits
inside the window at that location, and `gastregister decrypt` must write the same
bytes. Every request the page makes is recorded: neither the passphrase nor the key
file's private part may appear in any of them.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyotp
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect

import crypto
from health_export.offline_commands import decrypt
from registration.clock import BERLIN
from registration.models import Area, Role
from registration.tracing.packages import frame
from tests import factories
from tests.browser.test_checkin_browser import run_axe
from tests.factories import PASSWORD
from tests.local_servers import LiveServer

pytestmark = pytest.mark.browser
expect.set_options(timeout=60_000)  # opening a key file runs PBKDF2; CI machines are slow

PASSPHRASE = "Passphrase für den Test 2026"
H = dt.timedelta(hours=1)
TRICKY = [
    ('=HYPERLINK("http://evil.example","x")', "O'Brien"),
    ("Müller-Lüdenscheidt", "李"),
    ("😀 Emoji", "<img src=x onerror=alert(1)>"),
]


def _record(first: str, last: str, **extra: Any) -> dict[str, Any]:
    """A guest whose street holds the CSV separator and quotes."""
    address = {
        "street": 'Weg; "3"',
        "houseNumber": "3",
        "zipCode": "10115",
        "city": "Berlin",
        "phone": "+49 30 111",
        "email": "",
    }
    return factories.contact_record(first, last, **{**address, **extra})


@pytest.fixture
def scene(live_server: LiveServer, tmp_path: Path) -> dict[str, Any]:
    """Committed data for the live server: two offices, two locations, visits in and out."""
    now = live_server.clock.now().replace(second=0, microsecond=0)
    secret = pyotp.random_base32()
    with factories.committing(live_server.database) as session:
        office = factories.health_office(
            session,
            name="Gesundheitsamt Browserstadt",
            email="amt@browser.test",
            postal_codes=["10115"],
        )
        factories.health_office(
            session, name="Gesundheitsamt Nachbar", email="nachbar@browser.test"
        )
        key, private_key = factories.office_key(session, office, activated_at=now - 40 * 24 * H)
        staff = factories.user(
            session,
            role=Role.HEALTH_OFFICE_STAFF,
            office=office,
            email="staff@browser.test",
            totp_secret=secret,
            now=now,
        )
        business = factories.business(session, name="Wirtshaus", contact_email="wirt@browser.test")
        owner = factories.user(session, business=business, email="wirt@browser.test", now=now)
        wanted = factories.location(
            session,
            business,
            office=office,
            areas=["Terrasse", "Stube, hinten"],
            name="Wirtshaus am Markt",
            street="Markt",
        )
        other = factories.location(
            session,
            business,
            office=office,
            areas=["Halle"],
            name="Wirtshaus Bahnhof",
            street="Bahnhof",
            house_number="2",
        )
        terrace, back_room = wanted.areas

        def visit(area: Area, arrival: dt.datetime, record: dict[str, Any], **values: Any) -> None:
            factories.checkin(session, area, key, arrival=arrival, record=record, **values)

        # inside the window at the wanted location
        visit(terrace, now - 5 * H, _record(*TRICKY[0]), departure=now - 4 * H)
        visit(
            back_room,
            now - 4 * H,
            _record(
                *TRICKY[1],
                additionalPersons=[
                    {"firstName": "Kind", "lastName": "Müller", "sameAddress": True}
                ],
                note="Tisch 4\nam Fenster",
            ),
            delivered_late=True,  # sent from the phone's outbox days later
        )
        visit(terrace, now - 3 * H, _record(*TRICKY[2]))  # automatic departure
        # outside: too early, and another location
        visit(terrace, now - 12 * H, _record("Zu", "Früh"), departure=now - 10 * H)
        visit(other.areas[0], now - 4 * H, _record("Anderer", "Ort"), departure=now - 3 * H)
    key_file = tmp_path / "amt.key.json"
    key_file.write_bytes(
        crypto.write_key_file(
            private_key, PASSPHRASE, created=now, iterations=crypto.MIN_ITERATIONS
        )
    )
    passphrase_file = tmp_path / "passphrase.txt"
    passphrase_file.write_text(PASSPHRASE + "\n", encoding="utf-8")
    return {
        "now": now,
        "secret": secret,
        "staff": staff.email,
        "owner": owner.email,
        "key_file": key_file,
        "passphrase_file": passphrase_file,
        "location_name": wanted.name,
        "private_key": private_key,
        "key_file_text": key_file.read_text(encoding="utf-8"),
    }


def _log_in(page: Page, base: str, email: str, secret: str | None = None) -> None:
    page.goto(f"{base}/konto/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    if secret is not None:
        page.wait_for_url("**/konto/2fa")
        page.fill("#code", pyotp.TOTP(secret).now())
        page.press("#code", "Enter")
    expect(page.locator("form[action$='/konto/logout'] button").first).to_be_visible()


def _local(moment: dt.datetime) -> str:
    return moment.astimezone(BERLIN).strftime("%Y-%m-%dT%H:%M")


def _cli(args: list[str]) -> Any:
    return CliRunner().invoke(decrypt, args)


def test_request_release_decrypt_in_the_browser_equals_the_cli(
    chromium: Browser,
    live_server: Any,
    scene: dict[str, Any],
    tmp_path: Path,
    request_recorder: Callable[[Page], Any],
) -> None:
    base = live_server.url
    office_context = chromium.new_context(accept_downloads=True, locale="de-DE")
    owner_context = chromium.new_context(locale="de-DE")
    try:
        page = office_context.new_page()
        page.set_default_timeout(60_000)
        log = request_recorder(page)
        _log_in(page, base, scene["staff"], scene["secret"])
        assert page.url.rstrip("/").endswith("/amt")

        # Find the location and ask for a window.
        page.goto(f"{base}/amt/locations?q=Markt")
        page.click(f"#location-results a:has-text('{scene['location_name']}')")
        page.fill("#window_start", _local(scene["now"] - 6 * H))
        page.fill("#window_end", _local(scene["now"] - H))
        page.fill("#case_reference", "AZ 2026-0815")
        page.fill("#reason", "Indexfall war am Abend anwesend")
        page.click(
            "button[type=submit]:has-text('Anfrage senden'), button[type=submit]:has-text('Send request')"
        )
        expect(page.locator("#request-state")).to_have_attribute("data-state", "requested")
        request_url = page.url
        request_id = int(request_url.rstrip("/").split("/")[-1])

        # The owner releases in the business portal.
        owner = owner_context.new_page()
        _log_in(owner, base, scene["owner"])
        owner.goto(f"{base}/portal/requests/{request_id}")
        owner.check("#confirm")
        owner.click("form[action$='/release'] button[type=submit]")
        expect(owner.locator(".badge.state-released")).to_have_text("freigegeben")

        # The office opens the data in the browser.
        page.goto(request_url)
        expect(page.locator("#request-state")).to_have_attribute("data-state", "released")
        page.click("#open-decrypt")
        page.set_input_files("#key-file", str(scene["key_file"]))
        page.fill("#passphrase", PASSPHRASE)
        page.click("#open-records")
        expect(page.locator("#results")).to_be_visible()
        expect(page.locator("#failures")).to_be_hidden()
        rows = page.locator("#guest-table-body tr")
        expect(rows).to_have_count(4)  # three visits, one with an additional person
        assert page.locator("#guest-table-body img").count() == 0
        expect(page.locator("#guest-table-body")).to_contain_text("<img src=x onerror=alert(1)>")
        # The companion ticked "same address and contact details as me": reachable too.
        expect(rows.filter(has_text="Kind")).to_contain_text("+49 30 111")

        # CSV is split on ";" (Excel in German), SORMAS on "," (its importer), as in the CLI.
        expect(page.locator("#separator")).to_have_value(";")
        expect(page.locator("#sormas-separator")).to_have_value(",")
        with page.expect_download() as csv_download:
            page.click("#save-csv")
        browser_csv = Path(csv_download.value.path()).read_bytes()
        with page.expect_download() as sormas_download:
            page.click("#save-sormas")
        browser_sormas = Path(sormas_download.value.path()).read_bytes()
        with page.expect_download() as xlsx_download:
            page.click("#save-xlsx")
        browser_xlsx = Path(xlsx_download.value.path()).read_bytes()

        # Filter by area: only the back room's two rows stay.
        page.select_option("#filter-area", label="Stube, hinten")
        expect(rows).to_have_count(2)

        # The separators chosen are remembered for this user, in this browser.
        page.select_option("#separator", "tab")
        page.select_option("#sormas-separator", ";")
        page.reload()
        expect(page.locator("#separator")).to_have_value("tab")
        expect(page.locator("#sormas-separator")).to_have_value(";")

        # The same package through the CLI.
        package = office_context.request.get(f"{base}/amt/requests/{request_id}/package")
        assert package.ok
        package_file = tmp_path / "anfrage.grexport"
        package_file.write_bytes(package.body())
        outputs = {}
        for fmt in ("csv", "sormas", "xlsx"):
            out = tmp_path / f"cli.{fmt}"
            result = _cli(
                [
                    str(package_file),
                    "--key",
                    str(scene["key_file"]),
                    "--format",
                    fmt,
                    "--passphrase-file",
                    str(scene["passphrase_file"]),
                    "-o",
                    str(out),
                ]
            )
            assert result.exit_code == 0, result.output
            outputs[fmt] = out.read_bytes()
    finally:
        office_context.close()
        owner_context.close()

    assert browser_csv == outputs["csv"]
    assert browser_sormas == outputs["sormas"]
    cli_sheet = [
        [c.value for c in row]
        for row in load_workbook(io.BytesIO(outputs["xlsx"])).active.iter_rows()
    ]
    browser_sheet = [
        [c.value for c in row] for row in load_workbook(io.BytesIO(browser_xlsx)).active.iter_rows()
    ]
    assert browser_sheet == cli_sheet

    text = browser_csv.decode("utf-8-sig")
    lines = text.split("\r\n")
    names = [(first, last) for first, last in TRICKY]
    for first, last in names[1:]:
        assert first in text and last in text
    assert "'=HYPERLINK" in text  # neutralised, still readable
    assert "Zu;Früh" not in text and "Anderer" not in text and "Früh" not in text
    assert lines[0].startswith("Besuch;Person;Bereich;Ankunft")
    assert len([line for line in lines[1:] if line]) == 4
    companion = next(line for line in lines if ";Kind;Müller;" in line)
    assert ";'+49 30 111;" in companion  # the guest's phone, as in the table
    assert lines[0].endswith(";Verspätet übermittelt")
    late = [line for line in lines[1:] if line.endswith(";ja")]
    assert len(late) == 2 and companion in late  # every person of the late visit
    assert browser_sheet[1][8] == TRICKY[0][0]  # XLSX keeps the text, as a string cell

    # Nothing secret left the browser: not the passphrase, not the private key.
    key_file = json.loads(scene["key_file_text"])
    secrets_to_find = [
        PASSPHRASE,
        key_file["encryptedPrivateKey"],
        key_file["kdf"]["salt"],
        PASSPHRASE.encode("utf-8").hex(),
    ]
    for request in log.requests:
        haystack = request.url + json.dumps(request.headers) + (request.post_data or "")
        for secret in secrets_to_find:
            assert secret not in haystack, request.url
    assert not log.outside_origin(base)


@pytest.mark.engine_independent(
    "a package made by the test, opened in the browser; no stored visit is read"
)
def test_the_general_decrypt_page_explains_bad_packages_and_lists_damaged_records(
    chromium: Browser, live_server: Any, scene: dict[str, Any], tmp_path: Path
) -> None:
    base = live_server.url
    now = scene["now"]
    spki = crypto.public_key_spki(scene["private_key"])
    records = []
    for number, (first, last) in enumerate(TRICKY):
        arrival = now.replace(microsecond=0) - (3 - number) * H
        # Visit 1 is format v2 (its metadata bound), the others v1.
        visit = crypto.VisitBinding(arrival, "k" * 16, "guest_form") if number == 0 else None
        envelope = crypto.seal_contact_record(
            spki, _record(first, last), location_code="LOC", area_code="A1", visit=visit
        )
        if number == 1:
            damaged = bytearray(envelope)
            damaged[150] ^= 0xFF
            envelope = bytes(damaged)
        records.append(
            {
                "area": "A1",
                "arrival": f"{arrival:%Y-%m-%dT%H:%M:%SZ}",
                "departure": None,
                "autoDeparture": f"{now:%Y-%m-%dT%H:%M:%SZ}",
                "persons": 1,
                "source": "guest_form",
                "keyId": crypto.key_id(spki).hex(),
                "envelope": crypto.encode_envelope(envelope),
            }
        )
    records.append(dict(records[0]))  # visit 4: the same record again
    content = {
        "request": {
            "id": 99,
            "windowStart": f"{now - 4 * H:%Y-%m-%dT%H:%M:%SZ}",
            "windowEnd": f"{now:%Y-%m-%dT%H:%M:%SZ}",
            "areas": [],
        },
        "location": {"code": "LOC", "name": "Irgendwo"},
        "areas": [{"id": 1, "code": "A1", "name": "Saal"}],
        "records": records,
    }
    good = tmp_path / "package.grexport"
    good.write_bytes(frame(json.dumps(content).encode())[0])
    tampered = tmp_path / "tampered.grexport"
    tampered.write_bytes(good.read_bytes().replace(b"Irgendwo", b"Anderswo"))

    context = chromium.new_context(locale="en-GB")
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        _log_in(page, base, scene["staff"], scene["secret"])
        page.goto(f"{base}/amt/decrypt?lang=en")
        page.set_input_files("#key-file", str(scene["key_file"]))
        page.set_input_files("#package-file", str(tampered))
        page.fill("#passphrase", PASSPHRASE)
        page.click("#open-records")
        expect(page.locator("#decrypt-error")).to_contain_text("integrity check")

        page.fill("#passphrase", "wrong passphrase 123")
        page.set_input_files("#package-file", str(good))
        page.click("#open-records")
        expect(page.locator("#decrypt-error")).to_contain_text("Wrong passphrase")

        page.fill("#passphrase", PASSPHRASE)
        page.click("#open-records")
        expect(page.locator("#results")).to_be_visible()
        expect(page.locator("#guest-table-body tr")).to_have_count(2)
        # The count, visit 2 (not opened), visit 4 (refused), the v1 notice (visit 3).
        expect(page.locator("#failure-list li")).to_have_count(4)
        expect(page.locator("#failure-list")).to_contain_text("Visit 2 (Saal")
        expect(page.locator("#failure-list")).to_contain_text("decryption_failed")
        expect(page.locator("#failure-list")).to_contain_text("opened, but refused")
        expect(page.locator("#failure-list")).to_contain_text("(duplicate)")
        expect(page.locator("#unbound-visits")).to_contain_text("format v1")
        expect(page.locator("#unbound-visits")).to_contain_text("(visits 3)")
        # Index case: overlap minutes appear and the filter keeps only overlapping visits.
        page.locator("#guest-table-body button.mark-index").first.click()
        expect(page.locator("#index-case")).to_contain_text("visit 1")
        # After the 18 export columns (the last: "Verspätet übermittelt").
        first_overlap = page.locator("#guest-table-body tr").first.locator("td").nth(18)
        expect(first_overlap).to_have_text(str(3 * 60))
    finally:
        context.close()


@pytest.mark.engine_independent(
    "a package made by the test, opened in the browser; no stored visit is read"
)
def test_after_a_rotation_each_key_file_opens_with_its_own_passphrase(
    chromium: Browser, live_server: Any, scene: dict[str, Any], tmp_path: Path
) -> None:
    """Old and new key file need not share a passphrase: the page asks for the other one."""
    now = scene["now"]
    old_passphrase = "Alter Schluessel, eigene Passphrase"
    old_private = crypto.generate_private_key()
    old_key_file = tmp_path / "alt.key.json"
    old_key_file.write_bytes(
        crypto.write_key_file(
            old_private, old_passphrase, created=now - 60 * 24 * H, iterations=crypto.MIN_ITERATIONS
        )
    )
    records = []
    for number, private in enumerate((old_private, scene["private_key"])):
        spki = crypto.public_key_spki(private)
        arrival = now - (2 - number) * H
        envelope = crypto.seal_contact_record(
            spki,
            _record(*TRICKY[number]),
            location_code="LOC",
            area_code="A1",
            visit=crypto.VisitBinding(arrival, f"rotation-{number}".ljust(16, "x"), "guest_form"),
        )
        records.append(
            {
                "area": "A1",
                "arrival": f"{arrival:%Y-%m-%dT%H:%M:%SZ}",
                "departure": None,
                "autoDeparture": f"{now:%Y-%m-%dT%H:%M:%SZ}",
                "persons": 1,
                "source": "guest_form",
                "keyId": crypto.key_id(spki).hex(),
                "envelope": crypto.encode_envelope(envelope),
            }
        )
    content = {
        "request": {
            "id": 98,
            "windowStart": f"{now - 4 * H:%Y-%m-%dT%H:%M:%SZ}",
            "windowEnd": f"{now:%Y-%m-%dT%H:%M:%SZ}",
            "areas": [],
        },
        "location": {"code": "LOC", "name": "Irgendwo"},
        "areas": [{"id": 1, "code": "A1", "name": "Saal"}],
        "records": records,
    }
    package = tmp_path / "rotation.grexport"
    package.write_bytes(frame(json.dumps(content).encode())[0])

    context = chromium.new_context(locale="en-GB")
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        _log_in(page, live_server.url, scene["staff"], scene["secret"])
        page.goto(f"{live_server.url}/amt/decrypt?lang=en")
        page.set_input_files("#key-file", [str(scene["key_file"]), str(old_key_file)])
        page.set_input_files("#package-file", str(package))
        page.fill("#passphrase", PASSPHRASE)
        page.click("#open-records")
        expect(page.locator("#decrypt-error")).to_contain_text("alt.key.json")
        page.get_by_label("Passphrase of the key file alt.key.json").fill(old_passphrase)
        page.click("#open-records")
        expect(page.locator("#results")).to_be_visible()
        expect(page.locator("#guest-table-body tr")).to_have_count(2)
        expect(page.locator("#failure-list li")).to_have_count(0)
        assert page.locator(".key-passphrase").count() == 0
    finally:
        context.close()


# --- the table and the timeline on the decryption page ----------------------------------

M = dt.timedelta(minutes=1)
# (area, minutes after the window's start: arrival, departure); the window is 6 hours.
_TIMELINE_VISITS = [
    ("A1", 60, 180),  # visit 1: the index case
    ("A1", 120, 150),  # visit 2: 30 minutes with the index case
    ("A2", 170, 240),  # visit 3: 10 minutes with the index case
    ("A2", 240, 300),  # visit 4: none
]


def _timeline_package(scene: dict[str, Any], tmp_path: Path) -> Path:
    """Four bound visits in two areas of a general package (the /amt/decrypt page)."""
    start = scene["now"] - 6 * H
    spki = crypto.public_key_spki(scene["private_key"])
    records = []
    for number, (area, arrive, leave) in enumerate(_TIMELINE_VISITS, start=1):
        arrival = start + arrive * M
        visit = crypto.VisitBinding(arrival, f"timeline-visit-{number:04d}", "guest_form")
        envelope = crypto.seal_contact_record(
            spki,
            _record(f"Gast{number}", f"Familie{number}"),
            location_code="LOC",
            area_code=area,
            visit=visit,
        )
        records.append(
            {
                "area": area,
                "arrival": f"{arrival:%Y-%m-%dT%H:%M:%SZ}",
                "departure": f"{start + leave * M:%Y-%m-%dT%H:%M:%SZ}",
                "autoDeparture": f"{arrival + 4 * H:%Y-%m-%dT%H:%M:%SZ}",
                "persons": 1,
                "source": "guest_form",
                "keyId": crypto.key_id(spki).hex(),
                "envelope": crypto.encode_envelope(envelope),
            }
        )
    content = {
        "request": {
            "id": 77,
            "windowStart": f"{start:%Y-%m-%dT%H:%M:%SZ}",
            "windowEnd": f"{scene['now']:%Y-%m-%dT%H:%M:%SZ}",
            "areas": [],
        },
        "location": {"code": "LOC", "name": "Irgendwo"},
        "areas": [{"id": 1, "code": "A1", "name": "Saal"}, {"id": 2, "code": "A2", "name": "Bar"}],
        "records": records,
    }
    path = tmp_path / "timeline.grexport"
    path.write_bytes(frame(json.dumps(content).encode())[0])
    return path


def _open_general(page: Page, base: str, scene: dict[str, Any], package: Path) -> None:
    page.goto(f"{base}/amt/decrypt?lang=en")
    page.set_input_files("#key-file", str(scene["key_file"]))
    page.set_input_files("#package-file", str(package))
    page.fill("#passphrase", PASSPHRASE)
    page.click("#open-records")
    expect(page.locator("#guest-table-body tr")).to_have_count(len(_TIMELINE_VISITS))


@pytest.mark.engine_independent("layout of a package made by the test, opened in the browser")
def test_the_table_takes_the_full_width_keeps_the_names_in_sight_and_shows_chosen_columns(
    chromium: Browser, live_server: Any, scene: dict[str, Any], tmp_path: Path
) -> None:
    base = live_server.url
    package = _timeline_package(scene, tmp_path)
    context = chromium.new_context(locale="en-GB", viewport={"width": 1600, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        _log_in(page, base, scene["staff"], scene["secret"])
        _open_general(page, base, scene, package)
        # Wider than the 46rem column of the other pages.
        assert page.locator("#results").bounding_box()["width"] > 1400

        # Scrolled to the far right (to the index-case buttons), the names stay in sight.
        wrap = page.locator("#results .table-wrap")
        wrap.evaluate("element => { element.scrollLeft = element.scrollWidth; }")
        page.locator("#guest-table-body button.mark-index").nth(1).click()
        box = wrap.bounding_box()
        first_row = page.locator("#guest-table-body tr").first
        for name in ("Gast1", "Familie1"):
            cell = first_row.locator("td", has_text=name).bounding_box()
            assert box["x"] <= cell["x"] and cell["x"] + cell["width"] <= box["x"] + box["width"]

        # Columns can be hidden (not the names); the choice is remembered for this user.
        head = page.locator("#guest-table-head")
        expect(head).to_contain_text("Straße")
        choice = page.locator("#column-choice")
        choice.locator("summary").click()
        choice.get_by_label("Straße").uncheck()
        choice.get_by_label("E-Mail").uncheck()
        expect(head).not_to_contain_text("Straße")
        expect(head).not_to_contain_text("E-Mail")
        expect(first_row.locator("td")).to_have_count(20 - 2)
        assert choice.get_by_label("Vorname").count() == 0
        page.reload()
        expect(page.locator("#column-choice").get_by_label("Straße")).not_to_be_checked()
        expect(page.locator("#column-choice").get_by_label("Telefon")).to_be_checked()
    finally:
        context.close()


@pytest.mark.engine_independent("axe on a package made by the test, opened in the browser")
def test_axe_finds_nothing_on_the_opened_data(
    chromium: Browser, live_server: Any, scene: dict[str, Any], tmp_path: Path
) -> None:
    package = _timeline_package(scene, tmp_path)
    # axe is injected as an inline script, which our CSP (rightly) forbids to page content.
    context = chromium.new_context(locale="de-DE", bypass_csp=True)
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        _log_in(page, live_server.url, scene["staff"], scene["secret"])
        _open_general(page, live_server.url, scene, package)
        page.locator("#guest-table-body button.mark-index").first.click()
        page.locator("#column-choice summary").click()
        assert run_axe(page) == []
    finally:
        context.close()


@pytest.mark.engine_independent("the timeline drawn in the browser from a package made by the test")
def test_the_timeline_draws_the_visits_by_area_and_marks_the_index_case_and_close_contacts(
    chromium: Browser, live_server: Any, scene: dict[str, Any], tmp_path: Path
) -> None:
    package = _timeline_package(scene, tmp_path)
    context = chromium.new_context(locale="en-GB", viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        _log_in(page, live_server.url, scene["staff"], scene["secret"])
        _open_general(page, live_server.url, scene, package)
        svg = page.locator("svg#timeline")
        expect(svg.locator("title#timeline-title")).to_have_text(
            "Timeline of the visits shown, by area"
        )
        expect(svg.locator("desc#timeline-desc")).to_contain_text("Visits: 4, areas: 2")
        expect(svg.locator(".timeline-area")).to_have_count(2)
        expect(svg.locator(".timeline-visit")).to_have_count(4)
        expect(svg.locator(".timeline-area").first).to_contain_text("Saal")
        expect(svg.locator(".timeline-visit.index")).to_have_count(0)

        # Visit 1 as index case: visit 2 shares 30 minutes (marked), visit 3 only 10.
        page.locator("#guest-table-body button.mark-index").first.click()
        expect(svg.locator(".timeline-visit.index")).to_have_attribute("data-visit", "1")
        close = svg.locator(".timeline-visit.close")
        expect(close).to_have_count(1)
        expect(close).to_have_attribute("data-visit", "2")
        expect(close.locator(".timeline-overlap")).to_have_count(1)
        expect(close.locator("title")).to_contain_text("30 minutes together with the index case")
        expect(page.locator("#timeline-summary")).to_contain_text(
            "Visits there at the same time for at least 15 minutes: 1."
        )
        page.fill("#timeline-minimum", "5")
        expect(close).to_have_count(2)
        screens = os.environ.get("SCREENSHOT_DIR")  # a picture for the docs, when asked
        if screens:
            page.screenshot(path=str(Path(screens) / "timeline.png"), full_page=True)
        # The overlap filter still filters the table, and the timeline shows what it shows.
        page.fill("#filter-overlap", "20")
        expect(page.locator("#guest-table-body tr")).to_have_count(2)
        expect(svg.locator(".timeline-visit")).to_have_count(2)
        # Drawn as attributes and classes: nothing the CSP would refuse.
        assert svg.locator("[style]").count() == 0
    finally:
        context.close()
