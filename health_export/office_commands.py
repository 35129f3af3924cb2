"""`gastregister health-office …`: the operator creates offices, widens their
jurisdiction by postal code and adds their first users.

These commands need the app (its database and settings); the rules they apply live in
registration.offices and the account services, so the CLI refuses exactly what the
web pages refuse.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import click
from flask.cli import with_appcontext

from registration.models import HealthOffice
from registration.offices import POSTAL_CODE


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
    from registration.offices import OfficeRefusedError, create_health_office
    from registration.session import get_clock, get_session

    try:
        office = create_health_office(
            get_session(),
            get_clock(),
            name=name,
            email=email,
            phone=phone,
            address=address,
            actor_label="cli",
        )
    except OfficeRefusedError as refused:
        raise click.ClickException(str(refused)) from None
    click.echo(f"Created health office {office.name!r} (id {office.id}).")


def _office_by_name(name: str) -> HealthOffice:
    from registration.offices import office_named
    from registration.session import get_session

    office = office_named(get_session(), name)
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
    from registration import offices
    from registration.session import get_clock, get_session

    office = _office_by_name(name)
    wanted = [code.strip() for code in codes]
    if csv_file is not None:
        wanted += _codes_from_csv(csv_file)
    if not wanted:
        raise click.UsageError("name postal codes as arguments or with --csv FILE")
    try:
        change = offices.add_postal_codes(
            get_session(), get_clock(), office, wanted, actor_label="cli"
        )
    except offices.InvalidPostalCodesError as error:
        listed = ", ".join(error.invalid[:20])
        raise click.ClickException(f"not a five-digit postal code: {listed}") from None
    except offices.PostalCodesTakenError as error:
        listed = ", ".join(f"{code} ({holder})" for code, holder in error.taken[:20])
        raise click.ClickException(f"postal codes belong to another office: {listed}") from None
    click.echo(
        f"{change.added} postal code(s) added to {office.name!r} "
        f"({change.already_there} already there); "
        f"{change.locations_assigned} location(s) assigned."
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
    from registration.accounts import services as accounts
    from registration.accounts.errors import EmailTakenError
    from registration.accounts.first_password import read_first_login, tell_first_login
    from registration.models import Role
    from registration.names import NameRefusedError
    from registration.session import get_clock, get_session

    office = _office_by_name(name)
    login = read_first_login(email, ask_password=ask_password)
    try:
        accounts.add_office_user(
            get_session(),
            get_clock(),
            health_office_id=office.id,
            email=login.email,
            role=Role.HEALTH_OFFICE_ADMIN if role == "admin" else Role.HEALTH_OFFICE_STAFF,
            display_name=display_name,
            password=login.password,
        )
    except EmailTakenError:
        raise click.ClickException(f"an account for {login.email} exists already") from None
    except NameRefusedError as refused:
        raise click.UsageError(f"--display-name: {refused.message}") from None
    click.echo(f"Added {login.email} as {role} of {office.name!r}.")
    tell_first_login(login)


commands: list[click.Command] = [health_office]
