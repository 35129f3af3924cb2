"""Operator and health-office commands: offices, postal codes, users, decrypt.

`decrypt` runs offline: it builds no app and needs no configuration, so a health
office can use it on a machine that never talks to the server. The passphrase is
asked without echo unless a file is named; it never appears on the command line.
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from registration.models import HealthOffice

POSTAL_CODE = re.compile(r"\d{5}")
EXIT_PARTIAL = 3


# --- health offices ----------------------------------------------------------------------


@click.group("health-office")
def health_office() -> None:
    """Health offices, their postal codes and their staff (operator)."""


@health_office.command("create")
@click.argument("name")
@click.option("--email", required=True, help="The office's address for notices.")
@click.option("--phone", default="", help="Phone number shown to businesses.")
@click.option("--address", default="", help="Postal address shown to businesses.")
@with_appcontext
def create_office(name: str, email: str, phone: str, address: str) -> None:
    """Create a health office NAME."""
    from sqlalchemy import select

    from registration.audit import record_event
    from registration.session import get_clock, get_session

    session = get_session()
    name = name.strip()
    if not name or "@" not in email:
        raise click.UsageError("a name and a valid --email are required")
    if session.scalar(select(HealthOffice).where(HealthOffice.name == name)) is not None:
        raise click.ClickException(f"a health office named {name!r} exists already")
    office = HealthOffice(
        name=name, email=email.strip(), phone=phone.strip(), address=address.strip()
    )
    session.add(office)
    session.flush()
    record_event(
        session,
        get_clock(),
        action="office.created",
        actor_label="cli",
        health_office_id=office.id,
        details={"name": name},
    )
    session.commit()
    click.echo(f"Created health office {name!r} (id {office.id}).")


def _office_by_name(name: str) -> HealthOffice:
    from sqlalchemy import select

    from registration.session import get_session

    office = get_session().scalar(select(HealthOffice).where(HealthOffice.name == name.strip()))
    if office is None:
        raise click.ClickException(f"no health office named {name!r}")
    return office


def _codes_from_csv(path: Path) -> list[str]:
    """Postal codes from a CSV: the column `postal_code`/`plz`, else the first column."""
    text = path.read_text(encoding="utf-8-sig")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:2048], delimiters=",;\t"
        )
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    if not rows:
        return []
    names = [cell.strip().lower() for cell in rows[0]]
    column = next(
        (
            names.index(name)
            for name in ("postal_code", "postal code", "plz", "postleitzahl")
            if name in names
        ),
        None,
    )
    body = rows[1:] if column is not None or not POSTAL_CODE.fullmatch(rows[0][0].strip()) else rows
    index = column or 0
    return [row[index].strip() for row in body if len(row) > index and row[index].strip()]


@health_office.command("add-postal-codes")
@click.argument("name")
@click.argument("codes", nargs=-1)
@click.option("--csv", "csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def add_postal_codes(name: str, codes: tuple[str, ...], csv_file: Path | None) -> None:
    """Add postal CODES (or those in a CSV file) to the jurisdiction of office NAME.

    A code already held by another office is refused (nothing is changed); locations
    with those codes and no office yet are assigned to this one.
    """
    from sqlalchemy import select

    from registration.audit import record_event
    from registration.models import HealthOfficePostalCode, Location
    from registration.session import get_clock, get_session

    office = _office_by_name(name)
    wanted = [code.strip() for code in codes]
    if csv_file is not None:
        wanted += _codes_from_csv(csv_file)
    if not wanted:
        raise click.UsageError("name postal codes as arguments or with --csv FILE")
    invalid = sorted({code for code in wanted if not POSTAL_CODE.fullmatch(code)})
    if invalid:
        raise click.ClickException(f"not a five-digit postal code: {', '.join(invalid[:20])}")
    session = get_session()
    unique = sorted(set(wanted))
    taken = session.execute(
        select(HealthOfficePostalCode.postal_code, HealthOffice.name)
        .join(HealthOffice)
        .where(
            HealthOfficePostalCode.postal_code.in_(unique),
            HealthOfficePostalCode.health_office_id != office.id,
        )
    ).all()
    if taken:
        listed = ", ".join(f"{code} ({holder})" for code, holder in taken[:20])
        raise click.ClickException(f"postal codes belong to another office: {listed}")
    known = set(
        session.scalars(
            select(HealthOfficePostalCode.postal_code).where(
                HealthOfficePostalCode.health_office_id == office.id
            )
        )
    )
    added = [code for code in unique if code not in known]
    session.add_all(
        HealthOfficePostalCode(postal_code=code, health_office_id=office.id) for code in added
    )
    assigned = 0
    for location in session.scalars(
        select(Location).where(Location.zip_code.in_(unique), Location.health_office_id.is_(None))
    ):
        location.health_office_id = office.id
        assigned += 1
    record_event(
        session,
        get_clock(),
        action="office.postal_codes.added",
        actor_label="cli",
        health_office_id=office.id,
        details={"added": len(added), "locations_assigned": assigned},
    )
    session.commit()
    click.echo(
        f"{len(added)} postal code(s) added to {office.name!r} "
        f"({len(unique) - len(added)} already there); {assigned} location(s) assigned."
    )


@health_office.command("add-user")
@click.argument("name")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "staff"]), required=True)
@click.option("--display-name", default="", help="Name shown in the portal and the audit log.")
@click.option(
    "--ask-password",
    is_flag=True,
    help="Ask for the first password (no echo) instead of printing a one-time password.",
)
@with_appcontext
def add_user(name: str, email: str, role: str, display_name: str, ask_password: bool) -> None:
    """Add a user with EMAIL to office NAME; TOTP is set up at the first log-in."""
    from sqlalchemy import func, select

    from registration.accounts.passwords import hash_password
    from registration.audit import record_event
    from registration.models import Role, User
    from registration.session import get_clock, get_session

    office = _office_by_name(name)
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise click.UsageError("EMAIL is not an e-mail address")
    session = get_session()
    if session.scalar(select(User).where(func.lower(User.email) == email)) is not None:
        raise click.ClickException(f"an account for {email} exists already")
    if ask_password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        if len(password) < 12:
            raise click.ClickException("the password needs at least 12 characters")
    else:
        password = secrets.token_urlsafe(15)
    clock = get_clock()
    user = User(
        email=email,
        password_hash=hash_password(password),
        display_name=display_name.strip() or email.split("@")[0],
        role=Role.HEALTH_OFFICE_ADMIN if role == "admin" else Role.HEALTH_OFFICE_STAFF,
        health_office_id=office.id,
        email_verified_at=clock.now(),
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    record_event(
        session,
        clock,
        action="office.user.added",
        actor_label="cli",
        health_office_id=office.id,
        details={"user_id": user.id, "role": user.role.value},
    )
    session.commit()
    click.echo(f"Added {email} as {role} of {office.name!r}.")
    if not ask_password:
        click.echo(f"One-time password (shown once, hand it over in person): {password}")
    click.echo("Two-factor log-in (TOTP) is set up at the first log-in.")


# --- decrypt (offline) ---------------------------------------------------------------------


def _passphrase(passphrase_file: Path | None) -> str:
    if passphrase_file is None:
        return str(click.prompt("Passphrase of the key file", hide_input=True))
    from health_export.packages import passphrase_from_file

    return passphrase_from_file(passphrase_file.read_bytes())


@click.command("decrypt")
@click.argument(
    "package_file", metavar="PACKAGE", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--key",
    "key_files",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Key file; repeat for older keys after a rotation (same passphrase).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["csv", "xlsx", "sormas", "json"]),
    default="csv",
    show_default=True,
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output file ('-' for standard output).",
)
@click.option(
    "--separator",
    type=click.Choice([",", ";", "tab"]),
    default=",",
    show_default=True,
    help="CSV / SORMAS separator.",
)
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the passphrase from the first line of this file.",
)
@click.option(
    "--jobs", type=click.IntRange(1, 32), default=None, help="Worker processes (default: up to 4)."
)
def decrypt(
    package_file: Path,
    key_files: tuple[Path, ...],
    output_format: str,
    output: Path,
    separator: str,
    passphrase_file: Path | None,
    jobs: int | None,
) -> None:
    """Open an export PACKAGE with the office's key file, offline.

    Writes the same rows as the decryption page in the browser. Records that cannot
    be opened are listed on stderr and the exit code is 3; nothing is dropped silently.
    """
    import crypto
    from health_export.decryption import default_jobs, open_package, sormas_rows, visit_rows
    from health_export.errors import PackageFormatError
    from health_export.exports import result_to_json, rows_to_csv, rows_to_sormas, rows_to_xlsx
    from health_export.packages import parse_package

    try:
        package = parse_package(package_file.read_bytes())
    except PackageFormatError as error:
        raise click.ClickException(str(error)) from None
    passphrase = _passphrase(passphrase_file)
    keys = []
    for key_file in key_files:
        try:
            keys.append(crypto.read_key_file(key_file.read_bytes(), passphrase).private_key)
        except crypto.KeyFileError as error:
            raise click.ClickException(f"{key_file.name}: {error}") from None
    del passphrase
    key_ids = {crypto.key_id(crypto.public_key_spki(key)).hex() for key in keys}
    if package.records and not key_ids & {record.key_id for record in package.records}:
        raise click.ClickException(
            "This key file does not belong to this package: its records are sealed to "
            "another key (another health office's, or an older key of yours — add it with "
            "another --key)."
        )
    result = open_package(package, keys, jobs=jobs or default_jobs())
    sep = "\t" if separator == "tab" else separator
    if output_format == "csv":
        data = rows_to_csv(visit_rows(result.visits), separator=sep)
    elif output_format == "sormas":
        data = rows_to_sormas(
            sormas_rows(result.visits, str(package.location.get("name", ""))), separator=sep
        )
    elif output_format == "xlsx":
        data = rows_to_xlsx(visit_rows(result.visits))
    else:
        data = result_to_json(package, result)
    _write_private(output, data)
    opened = len(result.visits)
    total = opened + len(result.failures)
    click.echo(f"{opened} of {total} visit(s) opened.", err=True)
    if (unbound := result.describe_unbound()) is not None:
        click.echo(unbound, err=True)
    if result.failures:
        for failure in result.failures:
            click.echo("  " + failure.describe(package), err=True)
        click.echo(f"{len(result.failures)} visit(s) could NOT be opened (listed above).", err=True)
        sys.exit(EXIT_PARTIAL)


def _write_private(output: Path, data: bytes) -> None:
    """Contact data in plain text: readable by the user only (mode 0600)."""
    if str(output) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(data)


commands: list[click.Command] = [health_office, decrypt]
