"""`gastregister operator add`: the town's IT creates the operator accounts that open
the overview (/betreiber). There is no sign-up for this role on the web."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.group("operator")
def operator() -> None:
    """Operator accounts: counts over the whole service, no guest data."""


@operator.command("add")
@click.argument("email")
@click.option("--display-name", default="", help="Name shown in the portal and the audit log.")
@click.option(
    "--ask-password",
    is_flag=True,
    help="Ask for the first password (no echo) instead of printing a one-time password.",
)
@with_appcontext
def add_operator(email: str, display_name: str, ask_password: bool) -> None:
    """Add an operator account for EMAIL; TOTP is set up at the first log-in."""
    from registration.accounts import services as accounts
    from registration.accounts.errors import EmailTakenError
    from registration.accounts.first_password import read_first_login, tell_first_login
    from registration.session import get_clock, get_session

    login = read_first_login(email, ask_password=ask_password)
    try:
        accounts.add_operator(
            get_session(),
            get_clock(),
            email=login.email,
            display_name=display_name,
            password=login.password,
        )
    except EmailTakenError:
        raise click.ClickException(f"an account for {login.email} exists already") from None
    click.echo(f"Added operator {login.email}.")
    tell_first_login(login)


commands: list[click.Command] = [operator]
