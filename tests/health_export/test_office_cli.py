"""`gastregister health-office …`, `audit verify` and the offline `decrypt`."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskCliRunner
from openpyxl import load_workbook
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

import crypto
from gastregister.cli import main
from health_export.decryption import open_package, sormas_rows, visit_rows
from health_export.exports import rows_to_csv, rows_to_sormas
from health_export.offline_commands import decrypt
from health_export.packages import parse_package
from registration.accounts.passwords import verify_password
from registration.config import Settings
from registration.models import AuditEvent, HealthOffice, HealthOfficePostalCode, Role, User
from registration.tracing.packages import download_package, frame
from tests import factories
from tests.health_export.office_support import released_request

PASSPHRASE = "Amt-Passphrase 2026!"
H = dt.timedelta(hours=1)


# --- operator commands ------------------------------------------------------------------


def test_create_office_add_postal_codes_from_arguments_and_csv(
    runner: FlaskCliRunner, db_session: Session, tmp_path: Path, make_location: Any
) -> None:
    result = runner.invoke(
        main, ["health-office", "create", "Gesundheitsamt Jena", "--email", "amt@jena.test"]
    )
    assert result.exit_code == 0, result.output
    orphan = make_location(None, zip_code="07743")
    codes = tmp_path / "plz.csv"
    codes.write_text("PLZ;Ort\n07745;Jena\n07747;Jena\n", encoding="utf-8")
    result = runner.invoke(
        main,
        ["health-office", "add-postal-codes", "Gesundheitsamt Jena", "07743", "--csv", str(codes)],
    )
    assert result.exit_code == 0, result.output
    assert "3 postal code(s) added" in result.output and "1 location(s) assigned" in result.output
    office = db_session.scalar(
        select(HealthOffice).where(HealthOffice.name == "Gesundheitsamt Jena")
    )
    assert office is not None
    assert sorted(db_session.scalars(select(HealthOfficePostalCode.postal_code))) == [
        "07743",
        "07745",
        "07747",
    ]
    db_session.refresh(orphan.location)
    assert orphan.location.health_office_id == office.id
    again = runner.invoke(
        main, ["health-office", "add-postal-codes", "Gesundheitsamt Jena", "07743"]
    )
    assert again.exit_code == 0 and "0 postal code(s) added" in again.output


def test_postal_codes_of_another_office_and_bad_codes_are_refused(
    runner: FlaskCliRunner, make_office: Any
) -> None:
    make_office("Amt Eins", "10115")
    runner.invoke(main, ["health-office", "create", "Amt Zwei", "--email", "zwei@amt.test"])
    taken = runner.invoke(main, ["health-office", "add-postal-codes", "Amt Zwei", "10115"])
    assert taken.exit_code != 0 and "10115 (Amt Eins)" in taken.output
    bad = runner.invoke(main, ["health-office", "add-postal-codes", "Amt Zwei", "1011"])
    assert bad.exit_code != 0 and "five-digit" in bad.output
    missing = runner.invoke(main, ["health-office", "add-postal-codes", "Amt Drei", "10117"])
    assert missing.exit_code != 0 and "no health office" in missing.output


def test_add_user_prints_a_one_time_password_or_asks_for_one(
    runner: FlaskCliRunner, db_session: Session
) -> None:
    runner.invoke(main, ["health-office", "create", "Amt", "--email", "amt@amt.test"])
    result = runner.invoke(
        main, ["health-office", "add-user", "Amt", "Chefin@Amt.test", "--role", "admin"]
    )
    assert result.exit_code == 0, result.output
    password = result.output.split("One-time password (shown once, hand it over in person): ")[
        1
    ].split()[0]
    user = db_session.scalar(select(User).where(User.email == "chefin@amt.test"))
    assert user is not None and user.role is Role.HEALTH_OFFICE_ADMIN
    assert verify_password(user.password_hash, password)
    assert user.totp_enabled_at is None  # set up at the first log-in
    asked = runner.invoke(
        main,
        [
            "health-office",
            "add-user",
            "Amt",
            "mitarbeiter@amt.test",
            "--role",
            "staff",
            "--ask-password",
        ],
        input="ein-gutes-passwort\nein-gutes-passwort\n",
    )
    assert asked.exit_code == 0, asked.output
    assert "ein-gutes-passwort" not in asked.output
    staff = db_session.scalar(select(User).where(User.email == "mitarbeiter@amt.test"))
    assert staff is not None and verify_password(staff.password_hash, "ein-gutes-passwort")
    duplicate = runner.invoke(
        main, ["health-office", "add-user", "Amt", "chefin@amt.test", "--role", "staff"]
    )
    assert duplicate.exit_code != 0


def test_add_user_applies_the_account_rules_of_the_service(
    runner: FlaskCliRunner, db_session: Session
) -> None:
    """The CLI once asked for 12 characters and took any text with an "@"."""
    runner.invoke(main, ["health-office", "create", "Amt", "--email", "amt@amt.test"])
    add = ["health-office", "add-user", "Amt"]
    eleven = "elf-zeichen"
    accepted = runner.invoke(
        main,
        [*add, "kurz@amt.test", "--role", "staff", "--ask-password"],
        input=f"{eleven}\n{eleven}\n",
    )
    assert accepted.exit_code == 0, accepted.output
    user = db_session.scalar(select(User).where(User.email == "kurz@amt.test"))
    assert user is not None and verify_password(user.password_hash, eleven)
    too_short = runner.invoke(
        main,
        [*add, "kürzer@amt.test", "--role", "staff", "--ask-password"],
        input="neun-zchn\nneun-zchn\n",
    )
    assert too_short.exit_code != 0 and "mindestens 10 Zeichen" in too_short.output
    no_domain = runner.invoke(main, [*add, "chefin@amt", "--role", "admin"])
    assert no_domain.exit_code != 0 and "gültige E-Mail-Adresse" in no_domain.output
    assert db_session.scalar(select(User).where(User.email == "chefin@amt")) is None


@pytest.mark.parametrize(
    ("name", "email", "reason"),
    [
        ("Amt Nord", "amt@localhost", "gültige E-Mail-Adresse"),
        ("Amt Nord", "amt nord@amt.test", "gültige E-Mail-Adresse"),
        ("  ", "amt@amt.test", "Namen"),
        ("Amt Süd", "sued@amt.test", "gibt es schon"),
    ],
)
def test_create_office_applies_the_office_rules(
    runner: FlaskCliRunner, db_session: Session, name: str, email: str, reason: str
) -> None:
    runner.invoke(main, ["health-office", "create", "Amt Süd", "--email", "amt@sued.test"])
    result = runner.invoke(main, ["health-office", "create", name, "--email", email])
    assert result.exit_code != 0 and reason in result.output, result.output
    assert db_session.scalar(select(func.count()).select_from(HealthOffice)) == 1


def test_audit_verify_finds_a_changed_entry(runner: FlaskCliRunner, db_session: Session) -> None:
    for name in ("Amt A", "Amt B", "Amt C"):
        runner.invoke(main, ["health-office", "create", name, "--email", "a@amt.test"])
    result = runner.invoke(main, ["audit", "verify"])
    assert result.exit_code == 0 and "intact" in result.output
    middle = db_session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()[-2]
    db_session.execute(
        update(AuditEvent).where(AuditEvent.id == middle.id).values(details={"name": "forged"})
    )
    db_session.commit()
    broken = runner.invoke(main, ["audit", "verify"])
    assert broken.exit_code == 1
    assert f"BROKEN at entry {middle.id}" in broken.output


# --- decrypt ----------------------------------------------------------------------------


@pytest.fixture
def package_files(
    tmp_path: Path,
    db_session: Session,
    clock: Any,
    settings: Settings,
    make_office: Any,
    make_location: Any,
    app: Any,
) -> dict[str, Any]:
    office = make_office()
    place = make_location(office.office)
    now = clock.now()
    db_session.add_all(
        [
            factories.build_checkin(
                place.areas[0],
                office.key,
                arrival=now - 5 * H,
                departure=now - 4 * H,
                record=factories.contact_record('=HYPERLINK("x")', "Müller-Lüdenscheidt"),
            ),
            factories.build_checkin(
                place.areas[1],
                office.key,
                arrival=now - 4 * H,
                record=factories.contact_record(
                    "Zoë", "O'Brien", note='Tisch 4; "am Fenster"\nzweite Zeile'
                ),
            ),
        ]
    )
    db_session.commit()
    with app.test_request_context("/amt/"):
        trace_request = released_request(
            db_session,
            clock,
            settings,
            office,
            place,
            window=(now - 6 * H, now - 2 * H),
            case_reference="AZ-7",
            reason="r",
        )
        package = download_package(db_session, clock, settings, trace_request, user=office.staff)
    package_path = tmp_path / "anfrage.grexport"
    package_path.write_bytes(package.content)
    key_path = tmp_path / "amt.key.json"
    key_path.write_bytes(
        crypto.write_key_file(
            office.private_key, PASSPHRASE, created=now, iterations=crypto.MIN_ITERATIONS
        )
    )
    passphrase_path = tmp_path / "passphrase.txt"
    passphrase_path.write_text(PASSPHRASE + "\n\nDEMO warning below\n", encoding="utf-8")
    return {
        "package": package_path,
        "key": key_path,
        "passphrase": passphrase_path,
        "office": office,
        "place": place,
        "content": package.content,
    }


def _decrypt(files: dict[str, Any], tmp_path: Path, *extra: str, input: str | None = None) -> Any:
    args = [str(files["package"]), "--key", str(files["key"]), "-o", str(tmp_path / "out"), *extra]
    if input is None:
        args += ["--passphrase-file", str(files["passphrase"])]
    return CliRunner().invoke(decrypt, args, input=input)


def test_decrypt_writes_the_same_rows_as_the_library(
    package_files: dict[str, Any], tmp_path: Path
) -> None:
    result = _decrypt(package_files, tmp_path, "--format", "csv", "--separator", ";")
    assert result.exit_code == 0, result.output
    expected = open_package(
        parse_package(package_files["content"]), [package_files["office"].private_key]
    )
    output = (tmp_path / "out").read_bytes()
    assert output == rows_to_csv(visit_rows(expected.visits), separator=";")
    assert "'=HYPERLINK" in output.decode() and "Müller-Lüdenscheidt" in output.decode()
    assert (tmp_path / "out").stat().st_mode & 0o077 == 0
    assert "2 of 2 visit(s) opened" in result.output


def test_decrypt_asks_for_the_passphrase_without_echo(
    package_files: dict[str, Any], tmp_path: Path
) -> None:
    result = _decrypt(package_files, tmp_path, "--format", "sormas", input=PASSPHRASE + "\n")
    assert result.exit_code == 0, result.output
    assert PASSPHRASE not in result.output
    expected = open_package(
        parse_package(package_files["content"]), [package_files["office"].private_key]
    )
    assert (tmp_path / "out").read_bytes() == rows_to_sormas(
        sormas_rows(expected.visits, "Café Test")
    )


def test_decrypt_xlsx_and_json(package_files: dict[str, Any], tmp_path: Path) -> None:
    assert _decrypt(package_files, tmp_path, "--format", "xlsx").exit_code == 0
    sheet = load_workbook(io.BytesIO((tmp_path / "out").read_bytes())).active
    assert [cell.value for cell in next(sheet.iter_rows(min_row=2, max_row=2))][
        8
    ] == '=HYPERLINK("x")'
    assert sheet["I2"].data_type == "s"
    assert _decrypt(package_files, tmp_path, "--format", "json").exit_code == 0
    text = (tmp_path / "out").read_text(encoding="utf-8")
    assert '"lastName": "O\'Brien"' in text and '"failed": []' in text
    assert '"formatVersion": 2' in text and '"unbound": []' in text


def test_decrypt_explains_each_bad_input(
    package_files: dict[str, Any], tmp_path: Path, make_office: Any
) -> None:
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase at all\n", encoding="utf-8")
    result = CliRunner().invoke(
        decrypt,
        [
            str(package_files["package"]),
            "--key",
            str(package_files["key"]),
            "-o",
            str(tmp_path / "out"),
            "--passphrase-file",
            str(wrong),
        ],
    )
    assert result.exit_code == 1 and "Wrong passphrase" in result.output

    stranger = make_office("Fremdes Amt", "30159")
    foreign_key = tmp_path / "foreign.key.json"
    foreign_key.write_bytes(
        crypto.write_key_file(
            stranger.private_key,
            PASSPHRASE,
            created=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            iterations=crypto.MIN_ITERATIONS,
        )
    )
    result = _decrypt({**package_files, "key": foreign_key}, tmp_path)
    assert result.exit_code == 1 and "does not belong to this package" in result.output

    truncated = tmp_path / "truncated.grexport"
    truncated.write_bytes(package_files["content"][:-100])
    result = _decrypt({**package_files, "package": truncated}, tmp_path)
    assert result.exit_code == 1 and "truncated" in result.output
    assert not (tmp_path / "out").exists()


def test_decrypt_opens_the_rest_and_lists_damaged_records(
    package_files: dict[str, Any], tmp_path: Path
) -> None:
    import json

    _header, body = package_files["content"].split(b"\n", 1)
    content = json.loads(body)
    envelope = bytearray(crypto.decode_envelope(content["records"][0]["envelope"]))
    envelope[200] ^= 0xFF
    content["records"][0]["envelope"] = crypto.encode_envelope(bytes(envelope))
    damaged = tmp_path / "damaged.grexport"
    damaged.write_bytes(frame(json.dumps(content).encode())[0])
    result = _decrypt({**package_files, "package": damaged}, tmp_path)
    assert result.exit_code == 3
    assert "visit 1 (Terrasse," in result.output and "decryption_failed" in result.output
    assert "1 visit(s) could NOT be opened" in result.output
    assert "O'Brien" in (tmp_path / "out").read_text(encoding="utf-8-sig")


OLD_PASSPHRASE = "Schluessel vom letzten Jahr 2025"


@pytest.fixture
def old_key_file(tmp_path: Path) -> Path:
    """A key file from before a rotation, under its own (different) passphrase."""
    path = tmp_path / "alt.key.json"
    path.write_bytes(
        crypto.write_key_file(
            crypto.generate_private_key(),
            OLD_PASSPHRASE,
            created=dt.datetime(2025, 11, 1, tzinfo=dt.UTC),
            iterations=crypto.MIN_ITERATIONS,
        )
    )
    return path


def test_decrypt_asks_for_an_older_key_files_own_passphrase(
    package_files: dict[str, Any], tmp_path: Path, old_key_file: Path
) -> None:
    """A rotation gives a new key file and a new passphrase; the old one need not match."""
    result = _decrypt(
        package_files,
        tmp_path,
        "--key",
        str(old_key_file),
        input=f"{PASSPHRASE}\n{OLD_PASSPHRASE}\n",
    )
    assert result.exit_code == 0, result.output
    assert "alt.key.json" in result.output
    assert PASSPHRASE not in result.output and OLD_PASSPHRASE not in result.output
    assert "2 of 2 visit(s) opened" in result.output


def test_decrypt_takes_one_passphrase_file_per_key_file(
    package_files: dict[str, Any], tmp_path: Path, old_key_file: Path
) -> None:
    old_passphrase = tmp_path / "alt-passphrase.txt"
    old_passphrase.write_text(OLD_PASSPHRASE + "\n", encoding="utf-8")
    result = _decrypt(
        package_files,
        tmp_path,
        "--key",
        str(old_key_file),
        "--passphrase-file",
        str(old_passphrase),
    )
    assert result.exit_code == 0, result.output
    assert "2 of 2 visit(s) opened" in result.output

    result = _decrypt(package_files, tmp_path, "--key", str(old_key_file))
    assert result.exit_code == 1
    assert "alt.key.json" in result.output and "Wrong passphrase" in result.output


def test_decrypt_separates_csv_with_semicolons_unless_told_otherwise(
    package_files: dict[str, Any], tmp_path: Path
) -> None:
    # Excel with German settings splits CSV on ";" only; SORMAS's importer expects ",".
    expected = open_package(
        parse_package(package_files["content"]), [package_files["office"].private_key]
    )
    assert _decrypt(package_files, tmp_path, "--format", "csv").exit_code == 0
    output = (tmp_path / "out").read_bytes()
    assert output == rows_to_csv(visit_rows(expected.visits), separator=";")
    assert output.startswith("\ufeffBesuch;Person;Bereich".encode())
    assert _decrypt(package_files, tmp_path, "--format", "csv", "--separator", ",").exit_code == 0
    assert (tmp_path / "out").read_bytes().startswith("\ufeffBesuch,Person".encode())
    assert _decrypt(package_files, tmp_path, "--format", "sormas").exit_code == 0
    assert (tmp_path / "out").read_bytes().startswith(b"EventParticipant,EventParticipant")


def test_office_and_user_names_follow_the_one_name_rule(
    runner: FlaskCliRunner, db_session: Session
) -> None:
    """A right-to-left override in an office name would reverse the text after it."""
    created = runner.invoke(
        main, ["health-office", "create", "  Amt\u202e  Süd ", "--email", "sued@amt.test"]
    )
    assert created.exit_code == 0, created.output
    office = db_session.scalar(select(HealthOffice).where(HealthOffice.email == "sued@amt.test"))
    assert office is not None and office.name == "Amt Süd"
    ADD_USER = ["health-office", "add-user", "Amt Süd"]  # noqa: N806 - a constant here
    added = runner.invoke(
        main,
        [*ADD_USER, "a@amt.test", "--role", "staff", "--display-name", "Ana\u2066 Lima"],
    )
    assert added.exit_code == 0, added.output
    user = db_session.scalar(select(User).where(User.email == "a@amt.test"))
    assert user is not None and user.display_name == "Ana Lima"
    refused = runner.invoke(
        main,
        [*ADD_USER, "b@amt.test", "--role", "staff", "--display-name", "Bo\x07b"],
    )
    assert refused.exit_code != 0 and "Steuerzeichen" in refused.output
    assert "Traceback" not in refused.output
