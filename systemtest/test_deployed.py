"""Gastregister as a town runs it, driven by its three kinds of users, then broken.

One stack for the whole module (conftest.py): nginx with TLS in front of two app
hosts in production mode, PostgreSQL, Redis, a real SMTP server and the maintenance
runner, all from the shipped deploy/ files and an installed wheel. The tests run in
order and build on each other, like the walk-through in docs/OPERATIONS.md:

1. the operator sets up a health office (CLI), the office makes its key offline;
2. the office's two admins log in with TOTP and activate the key with four eyes;
3. an owner signs up (mail through SMTP), sets up 2FA, creates a location, prints posters;
4. guests check in from the posters' QR codes, with and without JavaScript;
5. the office asks, the owner releases, the office decrypts in the browser and with the CLI;
6. faults under load: an app host killed, PostgreSQL stalled for 20 s, PostgreSQL
   restarted — every acknowledged check-in is in the database exactly once.
"""

from __future__ import annotations

import csv
import datetime as dt
import http.client
import io
import json
import mailbox
import re
import ssl
import time
import zoneinfo
from pathlib import Path
from typing import Any

import psycopg
import pyotp
import pypdf
import pytest
import redis
import zxingcpp
from playwright.sync_api import Browser, BrowserContext, Page, expect

from registration.checkin.storage import KEY_BODY_DIGITS, idempotency_key_digest
from registration.checkin.web import AREA_HEADER, area_identifier
from registration.config import Settings
from systemtest.conftest import FIGURES
from systemtest.phones import Phones
from systemtest.stack import PUBLIC_HOST, Stack, http_get, run

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
OFFICE = "Gesundheitsamt Systemstadt"
POSTAL_CODE = "10115"
PASSPHRASE = "Schlüssel des Amts für den Systemtest"
OWNER_EMAIL = "wirtin@system.test"
OWNER_PASSWORD = "ein langes Passwort für die Wirtin"
GUEST_JS = {
    "firstName": "Henriette",
    "lastName": "Systemgast",
    "streetAddress": "Lindenallee 12",
    "zipCode": "10115",
    "city": "Berlin",
    "phone": "030 1234567",
}
GUEST_NO_JS = {**GUEST_JS, "firstName": "Konrad", "lastName": "Ohnescript"}

expect.set_options(timeout=60_000)  # PBKDF2 of the key file in the browser; a busy machine


class Scene(dict[str, Any]):
    """What one step leaves for the next (the module's tests run in order)."""


@pytest.fixture(scope="module")
def scene() -> Scene:
    return Scene(totp_used={})


def _context(chromium: Browser, **options: Any) -> BrowserContext:
    context = chromium.new_context(
        ignore_https_errors=True, locale="de-DE", accept_downloads=True, **options
    )
    context.set_default_timeout(30_000)
    return context


def _totp(scene: Scene, secret: str) -> str:
    """A code not used before: the service refuses a replayed code."""
    totp = pyotp.TOTP(secret)
    while (code := totp.now()) == scene["totp_used"].get(secret):
        time.sleep(1)
    scene["totp_used"][secret] = code
    return code


def _log_in(page: Page, stack: Stack, email: str, password: str) -> None:
    page.goto(f"{stack.base_url}/konto/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.press("#password", "Enter")
    page.wait_for_load_state()
    expect(page.get_by_text("Das Formular ist abgelaufen")).to_have_count(0)


def _second_factor(page: Page, scene: Scene, secret: str) -> None:
    page.wait_for_url("**/konto/2fa")
    page.fill("#code", _totp(scene, secret))
    page.press("#code", "Enter")
    page.wait_for_load_state()


def _set_up_second_factor(page: Page, scene: Scene) -> str:
    """On /konto/2fa/setup: read the key as a user types it into an app, switch on."""
    secret = page.locator(".totp-secret").inner_text().strip()
    page.fill("#code", _totp(scene, secret))
    page.press("#code", "Enter")
    expect(page.get_by_role("heading", name="Ihre Wiederherstellungscodes")).to_be_visible()
    page.locator("a.button").click()
    page.wait_for_load_state()
    return secret


def _mail_to(stack: Stack, address: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.maildir.exists():
            for message in mailbox.Maildir(stack.maildir, create=False):
                if message["To"] == address:
                    payload = message.get_payload(decode=True)
                    return payload.decode("utf-8") if isinstance(payload, bytes) else str(payload)
        time.sleep(0.2)
    raise AssertionError(f"no mail to {address}")


def _local_minute(moment: dt.datetime) -> str:
    return moment.astimezone(BERLIN).strftime("%Y-%m-%dT%H:%M")


def _database(stack: Stack) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host="127.0.0.1", port=stack.postgres.port, user="postgres", dbname="gastregister"
    )


# --- 1. operator and office, on the command line ------------------------------------------


def test_operator_sets_up_the_health_office(stack: Stack, scene: Scene) -> None:
    stack.gastregister("health-office", "create", OFFICE, "--email", "amt@system.test")
    stack.gastregister("health-office", "add-postal-codes", OFFICE, POSTAL_CODE)
    for email in ("leitung@system.test", "vertretung@system.test"):
        output = stack.gastregister("health-office", "add-user", OFFICE, email, "--role", "admin")
        [password] = re.findall(r"One-time password \(shown once.*\): (\S+)", output)
        scene.setdefault("office_users", []).append((email, password))

    # The office makes its key pair on its own machine: no configuration, no server.
    key_file = stack.root / "amt-schluessel.json"
    keygen = run(
        # A passphrase of the office's own choosing (strong enough for the check); the
        # proposed six words are covered by tests/health_export.
        [
            str(stack.venv / "bin" / "gastregister"),
            "keygen",
            "--choose-passphrase",
            "--out",
            str(key_file),
        ],
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        input=f"{PASSPHRASE}\n{PASSPHRASE}\n",
        start_new_session=True,  # no terminal: the passphrase is read from stdin
    )
    [fingerprint] = re.findall(r"Fingerprint: (.+)", keygen.stdout)
    passphrase_file = stack.root / "amt-passphrase.txt"
    passphrase_file.write_text(PASSPHRASE + "\n", encoding="utf-8")
    scene.update(
        key_file=key_file, fingerprint=fingerprint.strip(), passphrase_file=passphrase_file
    )


# --- 2. the office activates its key with four eyes ------------------------------------------


def test_office_admins_activate_the_key_with_four_eyes(
    stack: Stack, scene: Scene, chromium: Browser
) -> None:
    (first, first_password), (second, second_password) = scene["office_users"]
    context = _context(chromium)
    try:
        page = context.new_page()
        _log_in(page, stack, first, first_password)
        page.wait_for_url("**/konto/2fa/setup")  # office accounts cannot work without it
        scene["office_secret"] = _set_up_second_factor(page, scene)
        page.goto(f"{stack.base_url}/amt/keys/new")
        page.set_input_files("#key-file", str(scene["key_file"]))
        expect(page.locator("#key-fingerprint")).to_have_text(scene["fingerprint"])
        page.check("#fingerprint-ok")
        page.click("#register-key")
        expect(page.locator("#key-list")).to_contain_text(scene["fingerprint"])
    finally:
        context.close()
    context = _context(chromium)
    try:
        page = context.new_page()
        _log_in(page, stack, second, second_password)
        page.wait_for_url("**/konto/2fa/setup")
        _set_up_second_factor(page, scene)
        page.goto(f"{stack.base_url}/amt/keys")
        page.check("input[name=fingerprint_checked]")
        page.click("form[action$='/confirm'] button[type=submit]")
        expect(page.locator(".flash-success")).to_be_visible()
    finally:
        context.close()
    with _database(stack) as connection:
        state = connection.execute("SELECT state FROM health_office_keys").fetchone()
    assert state == ("active",)


# --- 3. the owner: sign-up, 2FA, location, posters ---------------------------------------------


def _qr_urls(pdf: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return [
        result.text
        for page in reader.pages
        for image in page.images
        for result in zxingcpp.read_barcodes(image.image)
    ]


def test_owner_signs_up_sets_up_2fa_and_prints_posters(
    stack: Stack, scene: Scene, chromium: Browser
) -> None:
    context = _context(chromium)
    try:
        page = context.new_page()
        page.goto(stack.base_url + "/")
        page.get_by_role("link", name="Für Betriebe").click()
        page.get_by_role("link", name="Betrieb registrieren").click()
        page.get_by_label("Name Ihres Betriebs").fill("Gasthaus Systemtest")
        page.get_by_label("Ihr Name").fill("Wirtin")
        page.get_by_label("E-Mail-Adresse").fill(OWNER_EMAIL)
        page.get_by_label("Passwort", exact=True).fill(OWNER_PASSWORD)
        page.get_by_label("Passwort wiederholen").fill(OWNER_PASSWORD)
        page.get_by_label("Ich führe diesen Betrieb").check()
        page.get_by_role("button", name="Konto anlegen").click()
        expect(page.get_by_role("heading", name="Bitte sehen Sie in Ihr Postfach")).to_be_visible()

        body = _mail_to(stack, OWNER_EMAIL)
        link = re.search(r"(https://\S+/konto/verify/\S+)", body)
        assert link and link.group(1).startswith(stack.base_url + "/"), body
        page.goto(link.group(1))
        expect(page.get_by_text("Ihre E-Mail-Adresse ist bestätigt")).to_be_visible()

        _log_in(page, stack, OWNER_EMAIL, OWNER_PASSWORD)
        expect(page.get_by_role("heading", name="Gasthaus Systemtest")).to_be_visible()
        page.goto(f"{stack.base_url}/konto/2fa/setup")
        scene["owner_secret"] = _set_up_second_factor(page, scene)

        page.goto(f"{stack.base_url}/portal/")
        page.get_by_role("link", name="Standort anlegen").click()
        page.get_by_label("Name des Standorts").fill("Gasthaus am Systemplatz")
        page.get_by_label("Straße", exact=True).fill("Invalidenstraße")
        page.get_by_label("Hausnummer", exact=True).fill("7")
        page.get_by_label("Postleitzahl", exact=True).fill(POSTAL_CODE)
        page.get_by_label("Ort", exact=True).fill("Berlin")
        page.get_by_label("Bereiche oder Tische (optional)").fill("Tisch 1\u20138")
        page.get_by_role("button", name="Standort anlegen").click()
        expect(page.get_by_text(OFFICE)).to_be_visible()

        with page.expect_download() as download:
            page.get_by_role("button", name="Alle Plakate A4 (PDF)").click()
        urls = _qr_urls(Path(download.value.path()).read_bytes())
    finally:
        context.close()
    assert len(urls) == 8
    assert all(url.startswith(f"{stack.base_url}/c/") for url in urls)
    scene["poster_urls"] = urls


# --- 4. guests ----------------------------------------------------------------------------------


def _fill_guest(page: Page, guest: dict[str, str]) -> None:
    for name, value in guest.items():
        page.fill(f"#{name}", value)


def test_guests_check_in_with_and_without_javascript(
    stack: Stack, scene: Scene, chromium: Browser
) -> None:
    phone = _context(chromium, viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = phone.new_page()
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(scene["poster_urls"][0])
        _fill_guest(page, GUEST_JS)
        page.click("#submit-checkin")
        expect(page.locator("#confirmation-status")).to_have_text("Ihr Check-in ist angekommen.")
        assert all(url.startswith(stack.base_url + "/") for url in requests), requests
    finally:
        phone.close()
    no_js = _context(chromium, java_script_enabled=False)
    try:
        page = no_js.new_page()
        page.goto(scene["poster_urls"][1])
        _fill_guest(page, GUEST_NO_JS)
        page.click("#submit-checkin")
        expect(page.locator("h1")).to_have_text("Sie sind eingecheckt")
    finally:
        no_js.close()
    with _database(stack) as connection:
        sources = connection.execute("SELECT source FROM checkins ORDER BY arrival").fetchall()
        raw = connection.execute("SELECT string_agg(encode(envelope, 'escape'), '') FROM checkins")
        stored = raw.fetchone()
    assert sources == [("guest_page",), ("guest_form",)]
    assert stored and "Henriette" not in stored[0] and "Konrad" not in stored[0]
    scene["guests_done_at"] = dt.datetime.now(dt.UTC)


# deploy/nginx: limit_req zone=gastregister_checkins_minute, rate=30r/m (burst=30).
CLIENT_CHECKIN_SECONDS = 2.0


def _post_checkin(
    stack: Stack, source: str, area: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], str]:
    """An incomplete check-in for `area` from the address `source`, in English, on a new
    TLS connection through nginx: its status, JSON body and Retry-After."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection(
        PUBLIC_HOST, stack.https_port, timeout=10, context=context, source_address=(source, 0)
    )
    try:
        connection.request(
            "POST",
            "/api/v1/checkins",
            body=json.dumps({"areaCode": area}).encode(),
            headers={
                "Content-Type": "application/json",
                "Accept-Language": "en",
                **(headers or {}),
            },
        )
        response = connection.getresponse()
        return (
            response.status,
            json.loads(response.read()),
            response.getheader("Retry-After") or "",
        )
    finally:
        connection.close()


def test_nginx_counts_checkins_per_client_and_the_app_answers_its_refusal(stack: Stack) -> None:
    """deploy/: nginx's limit_req counts check-ins per address (30 at once, then one per
    two seconds); the app counts only per area and answers nginx's refusal in the
    guest's language. Incomplete bodies: each passes the limits and is refused (422)
    without storing anything."""

    def post(source: str) -> tuple[int, dict[str, Any], str]:
        return _post_checkin(stack, source, "grenze-test")

    answers: list[tuple[int, dict[str, Any], str]] = []
    answered_after: list[float] = []
    started = time.monotonic()
    for _ in range(36):
        answers.append(post("127.0.3.7"))
        answered_after.append(time.monotonic() - started)
    statuses = [status for status, _, _ in answers]
    assert statuses[:30] == [422] * 30, statuses
    refused = [answer for answer in answers if answer[0] == 429]
    assert refused, statuses
    # nginx admits the burst and the request in hand at once (31), and one more for
    # every CLIENT_CHECKIN_SECONDS that passed: a new TLS connection per request takes
    # that long for a few requests on a busy machine.
    first = statuses.index(429)
    assert first <= 31 + int(answered_after[first] / CLIENT_CHECKIN_SECONDS), (
        statuses,
        answered_after[first],
    )
    after_refusal = answered_after[-1] - answered_after[first]
    admitted_later = statuses[first:].count(422)
    assert admitted_later <= int(after_refusal / CLIENT_CHECKIN_SECONDS) + 1, statuses
    _, body, retry_after = refused[0]
    assert body["error"]["code"] == "too_many_requests"
    assert body["error"]["message"].startswith("Too many requests")
    assert retry_after == "60"
    # Another address is not affected, and a guest page is never counted.
    assert post("127.0.3.8")[0] == 422
    assert http_get(f"{stack.base_url}/healthz")[0] == 200
    # The app kept no per-client counter (nginx did); the per-area one is in Redis.
    keys = redis.Redis(port=stack.redis_port).keys("*")
    names = [key.decode() for key in keys]
    assert any("checkin-area" in name for name in names), names
    assert not any("create_checkin" in name or "api.checkin" in name for name in names), names


def test_nginx_counts_the_guest_pages_checkins_per_area_and_the_app_the_others(
    stack: Stack,
) -> None:
    """deploy/: a check-in that names its area in X-Gastregister-Area, as the guest page's
    do, is counted per area by nginx (240 at once, then four a second) and not by the
    app; one whose header names another area is counted by the app, in Redis.
    Incomplete bodies from twenty addresses, fewer than each address's limit: 422 until
    the area's limit, then nginx's 429, answered by the app."""

    def post(source: str, area: str, header: str) -> tuple[int, dict[str, Any], str]:
        return _post_checkin(stack, source, area, {AREA_HEADER: header})

    area = "bereich-grenze"
    # nginx refuses once the requests beyond four a second add up to 240: at the pace of
    # one TLS connection after another that takes 270 to 400 requests. Twenty addresses
    # keep each below its own limit (30) all the same.
    answers: list[tuple[int, dict[str, Any], str]] = []
    started = time.monotonic()
    first_refusal_after = 0.0
    refused_at: int | None = None
    while len(answers) < 600 and (refused_at is None or len(answers) < refused_at + 5):
        answers.append(post(f"127.0.4.{1 + len(answers) % 20}", area, area))
        if answers[-1][0] == 429 and refused_at is None:
            refused_at = len(answers)
            first_refusal_after = time.monotonic() - started
    statuses = [status for status, _, _ in answers]
    assert statuses[:240] == [422] * 240, statuses
    assert set(statuses) == {422, 429}, statuses
    # The burst of 240, and four a second after it: not one more got through.
    accepted = statuses[: statuses.index(429)].count(422)
    assert accepted <= 240 + 4 * first_refusal_after + 1, (first_refusal_after, statuses)
    _, body, retry_after = next(answer for answer in answers if answer[0] == 429)
    assert body["error"]["code"] == "too_many_requests"
    assert retry_after == "60"
    # Named in the header and the body: nginx counted, the app kept no counter.
    counters = [key.decode() for key in redis.Redis(port=stack.redis_port).keys("*area*")]
    assert not any(area_identifier(area) in name for name in counters), counters
    # Named in the body, another area in the header: the app counts it per area.
    other = "bereich-anders"
    assert post("127.0.4.20", other, "bereich-nicht-dieser")[0] == 422
    counters = [key.decode() for key in redis.Redis(port=stack.redis_port).keys("*area*")]
    assert any(area_identifier(other) in name for name in counters), counters


# --- 5. request, release, decryption ---------------------------------------------------------------


def test_office_asks_owner_releases_office_decrypts_in_browser_and_cli(
    stack: Stack, scene: Scene, chromium: Browser
) -> None:
    # The window must end no later than now, at a whole minute after the guests came.
    while dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) < scene["guests_done_at"]:
        time.sleep(1)
    window_end = dt.datetime.now(dt.UTC)
    office = _context(chromium)
    owner = _context(chromium)
    try:
        page = office.new_page()
        email, password = scene["office_users"][0]
        _log_in(page, stack, email, password)
        _second_factor(page, scene, scene["office_secret"])
        page.goto(f"{stack.base_url}/amt/locations?q=Systemplatz")
        page.click("#location-results a:has-text('Gasthaus am Systemplatz')")
        page.fill("#window_start", _local_minute(window_end - dt.timedelta(hours=2)))
        page.fill("#window_end", _local_minute(window_end))
        page.fill("#case_reference", "AZ SYS-2026-1")
        page.fill("#reason", "Indexfall war beim Systemtest anwesend")
        page.click("button[type=submit]:has-text('Anfrage senden')")
        expect(page.locator("#request-state")).to_have_attribute("data-state", "requested")
        request_url = page.url
        request_id = int(request_url.rstrip("/").split("/")[-1])

        owner_page = owner.new_page()
        _log_in(owner_page, stack, OWNER_EMAIL, OWNER_PASSWORD)
        _second_factor(owner_page, scene, scene["owner_secret"])
        owner_page.goto(f"{stack.base_url}/portal/requests/{request_id}")
        owner_page.check("#confirm")
        owner_page.click("form[action$='/release'] button[type=submit]")
        owner_page.wait_for_load_state()

        page.goto(request_url)
        expect(page.locator("#request-state")).to_have_attribute("data-state", "released")
        page.click("#open-decrypt")
        page.set_input_files("#key-file", str(scene["key_file"]))
        page.fill("#passphrase", PASSPHRASE)
        page.click("#open-records")
        table = page.locator("#guest-table-body")
        expect(table.locator("tr")).to_have_count(2)
        expect(table).to_contain_text("Henriette")
        expect(table).to_contain_text("Ohnescript")

        package = office.request.get(f"{stack.base_url}/amt/requests/{request_id}/package")
        assert package.ok
        package_file = stack.root / "anfrage.grexport"
        package_file.write_bytes(package.body())
    finally:
        office.close()
        owner.close()

    # Offline, on the office's own machine: no configuration, no network.
    output = stack.root / "anfrage.csv"
    run(
        [
            str(stack.venv / "bin" / "gastregister"),
            "decrypt",
            str(package_file),
            "--key",
            str(scene["key_file"]),
            "--passphrase-file",
            str(scene["passphrase_file"]),
            "--format",
            "csv",
            "-o",
            str(output),
        ],
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    # CSV for German offices: ";" separates (the CLI's default, as on the decryption page).
    rows = list(csv.reader(io.StringIO(output.read_text(encoding="utf-8-sig")), delimiter=";"))
    names = {cell for row in rows for cell in row}
    assert {"Henriette", "Systemgast", "Konrad", "Ohnescript"} <= names
    assert len(rows) == 3  # header and two guests


# --- 6. faults under load --------------------------------------------------------------------------


def _area_codes(stack: Stack) -> tuple[str, list[str], bytes]:
    with _database(stack) as connection:
        location_code = connection.execute("SELECT code FROM locations").fetchone()
        areas = connection.execute("SELECT code FROM areas ORDER BY id").fetchall()
        key = connection.execute(
            "SELECT public_spki FROM health_office_keys WHERE state = 'active'"
        ).fetchone()
    assert location_code and key
    return location_code[0], [code for (code,) in areas], bytes(key[0])


def _phones(stack: Stack) -> Phones:
    location_code, areas, public_key = _area_codes(stack)
    return Phones(PUBLIC_HOST, stack.https_port, location_code, areas, public_key)


def _count(stack: Stack, phones: Phones) -> dict[str, int]:
    """Acknowledged / present / lost / duplicated, counted in the database."""
    keys = list(phones.acknowledged)
    # The database keeps only keyed hashes of the keys, led by the arrival's day
    # (checkin.storage.idempotency_key_hash): a key's rows share the digest after the day.
    settings = Settings(environment="test", secret_key=stack.secret_key)
    hashes = {idempotency_key_digest(settings, key)[:KEY_BODY_DIGITS]: key for key in keys}
    with _database(stack) as connection:
        rows = connection.execute(
            "SELECT substr(idempotency_key_hash, 9), count(*), min(id::text) FROM checkins "
            "WHERE substr(idempotency_key_hash, 9) = ANY(%s) "
            "GROUP BY substr(idempotency_key_hash, 9)",
            (list(hashes),),
        ).fetchall()
    found = {hashes[digest]: (count, checkin_id) for digest, count, checkin_id in rows}
    present = sum(1 for key in keys if key in found)
    duplicated = sum(1 for count, _ in found.values() if count > 1)
    mismatched = sum(
        1
        for key, checkin_id in phones.acknowledged.items()
        if found.get(key, (0, ""))[1] != checkin_id
    )
    return {
        "created": phones.created,
        "acknowledged": len(keys),
        "present": present,
        "lost": len(keys) - present,
        "duplicated": duplicated,
        "acknowledged_id_differs": mismatched,
    }


def _assert_exactly_once(figures: dict[str, Any]) -> None:
    assert figures["lost"] == 0, figures
    assert figures["duplicated"] == 0, figures
    assert figures["acknowledged_id_differs"] == 0, figures
    assert figures["acknowledged"] == figures["created"], figures


def test_an_app_host_killed_under_load(stack: Stack) -> None:
    phones = _phones(stack)
    phones.start(per_second=15)
    time.sleep(5)
    killed_at = time.monotonic()
    stack.services["app1"].kill()
    time.sleep(10)
    still_pending = phones.drain(timeout=150)
    last_failure = phones.last_failure_after(killed_at)
    figures = {
        **_count(stack, phones),
        "still_pending": still_pending,
        "answers_after_kill": dict(phones.outcomes(since=killed_at)),
        "last_failed_answer_after_kill_s": round(last_failure - killed_at, 2)
        if last_failure
        else 0.0,
        "served_by_the_other_host": phones.outcomes(since=killed_at + 2)["201"],
    }
    FIGURES["app host killed"] = figures
    _assert_exactly_once(figures)
    assert figures["served_by_the_other_host"] > 0
    # systemd (Restart=on-failure) brings the host back; so does the test.
    stack.start_app_host("app1")


def test_postgresql_stalled_for_20_seconds(stack: Stack) -> None:
    phones = _phones(stack)
    phones.start(per_second=10)
    time.sleep(3)
    stalled_at = time.monotonic()
    stack.postgres.stall()
    health: list[tuple[int, float]] = []
    try:
        while time.monotonic() - stalled_at < 20:
            started = time.monotonic()
            status, _ = http_get(f"{stack.base_url}/healthz", timeout=10)
            health.append((status, time.monotonic() - started))
            time.sleep(1)
    finally:
        stack.postgres.resume()
    resumed_at = time.monotonic()
    time.sleep(5)
    still_pending = phones.drain(timeout=150)
    back = phones.first_success_after(resumed_at)
    figures = {
        **_count(stack, phones),
        "still_pending": still_pending,
        "answers_during_stall": dict(phones.outcomes(since=stalled_at, until=resumed_at)),
        "slowest_answer_during_stall_s": round(phones.slowest(stalled_at, resumed_at), 2),
        "healthz_during_stall": sorted({status for status, _ in health}),
        "healthz_slowest_s": round(max(seconds for _, seconds in health), 2),
        "first_checkin_stored_after_resume_s": round((back or resumed_at) - resumed_at, 2),
        "all_delivered_after_resume_s": round(phones.last_acknowledged - resumed_at, 2),
    }
    FIGURES["PostgreSQL stalled 20 s"] = figures
    _assert_exactly_once(figures)
    assert figures["healthz_during_stall"] == [503]
    assert figures["healthz_slowest_s"] < 2.0


def test_postgresql_restarted(stack: Stack) -> None:
    phones = _phones(stack)
    phones.start(per_second=10)
    time.sleep(3)
    restarted_at = time.monotonic()
    stack.postgres.restart()
    back_at = time.monotonic()
    time.sleep(5)
    still_pending = phones.drain(timeout=150)
    last_failure = phones.last_failure_after(restarted_at)
    figures = {
        **_count(stack, phones),
        "still_pending": still_pending,
        "restart_took_s": round(back_at - restarted_at, 2),
        "answers_after_restart": dict(phones.outcomes(since=restarted_at)),
        "last_failed_answer_after_restart_s": round(
            max(0.0, (last_failure or back_at) - back_at), 2
        ),
        "all_delivered_after_restart_s": round(phones.last_acknowledged - back_at, 2),
    }
    FIGURES["PostgreSQL restarted"] = figures
    _assert_exactly_once(figures)
    status, _ = http_get(f"{stack.base_url}/healthz")
    assert status == 200


# --- 7. what the stack left behind --------------------------------------------------------------


def test_no_contact_data_no_secrets_and_no_addresses_in_any_log(stack: Stack, scene: Scene) -> None:
    logs = [*stack.root.glob("logs/*.log"), stack.root / "postgresql" / "postgresql.log"]
    secrets_to_find = ["Henriette", "Systemgast", "Konrad", "Ohnescript", "Lindenallee", PASSPHRASE]
    for log in logs:
        text = log.read_text(encoding="utf-8", errors="replace")
        for secret in secrets_to_find:
            assert secret not in text, f"{secret!r} in {log.name}"
        # The phones' own addresses (127.0.1.x) must appear nowhere; the browser's
        # (127.0.0.1) not in any request line of an access log.
        assert not re.search(r"\b127\.0\.1\.\d+\b", text), f"a phone's address in {log.name}"
        request_lines = [line for line in text.splitlines() if '"GET ' in line or '"POST ' in line]
        assert not any("127.0.0.1" in line for line in request_lines), log.name
    everything = "".join(log.read_text(encoding="utf-8", errors="replace") for log in logs)
    # Secrets and codes in paths: logs name the route instead (registration/access_log.py).
    verify_token = re.compile(r"/konto/verify/(?!<token>)\S")
    assert not verify_token.search(everything)
    for url in scene["poster_urls"]:
        assert url.rsplit("/", 1)[1] not in everything, "an area code in a log"
    nginx_log = (stack.root / "logs" / "gastregister-access.log").read_text(encoding="utf-8")
    assert '"GET /konto/verify/<token>" 303 ' in nginx_log
    assert '"POST /api/v1/checkins" 201 ' in nginx_log
